#!/usr/bin/env bash
# An instructor's walk through the whole nbgrader round trip with `python -m autograder grade`
# in place of `nbgrader autograde`, on a throw-away copy of the course, for tp1_perceptron and
# the five students of examples/submitted/ (correct, buggy, crash, empty, hostile).
#
#   scripts/walkthrough.sh WORK        # WORK: an empty (or missing) folder; everything goes there
#   PYTHON=/path/to/venv/bin/python scripts/walkthrough.sh WORK   # another virtualenv than .venv/
#
# Each step prints the command it runs ("$ ...") and what it printed: tee it into a transcript.
#
# Lateness: the assignment's due date is set 36 hours in the past for everyone
# (`nbgrader db assignment add --duedate`); every student except LATE gets a 7-day extension
# through nbgrader's Gradebook API (Gradebook.grant_extension, what formgrader's "extension"
# box does: nbgrader has no command line for it). Nobody's timestamp.txt is edited: LATE is
# about 36 h late (two started days, 20 % off under the course's PerDayPenalty, 10 %/day).
set -euo pipefail

WORK=${1:?usage: scripts/walkthrough.sh EMPTY_WORK_FOLDER}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ -n "$(ls -A "$WORK")" ]; then
    echo "error: $WORK is not empty" >&2
    exit 2
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"          # nbgrader, alembic, jupyter
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # the copied config imports autograder.course.ship

NAME=tp1_perceptron
COURSE_ID=tp-reseaux-de-neurones   # assignments/nbgrader_config.py
STUDENTS=(correct buggy crash empty hostile)
LATE=correct
RESUBMITTER=buggy
COURSE=$WORK/course
EXCHANGE=$WORK/exchange
OUT=$WORK/out

run() { printf '\n$ %s\n' "$*"; "$@"; }
step() { printf '\n======== %s ========\n' "$*"; }
student_nbgrader() {  # student_nbgrader STUDENT ARGS...: nbgrader as that student, from their home
    local who=$1; shift
    (cd "$WORK/home/$who" && run env HOME="$WORK/home/$who" nbgrader "$@" \
        --Exchange.root="$EXCHANGE" --Exchange.cache="$WORK/cache/$who" \
        --course="$COURSE_ID" --student="$who")
}

step "0. a copy of the course, nbgrader's exchange in $EXCHANGE"
cp -r "$REPO/assignments" "$COURSE"
rm -rf "$COURSE"/{release,submitted,autograded,feedback,gradebook.db}
mkdir -p "$EXCHANGE"
cat >>"$COURSE/nbgrader_config.py" <<EOF

# walkthrough: this copy's own root and exchange
c.CourseDirectory.root = "$COURSE"
c.Exchange.root = "$EXCHANGE"
EOF
run tail -n 3 "$COURSE/nbgrader_config.py"
cd "$COURSE"

step "1. generate, due date, roster, release"
run nbgrader generate_assignment "$NAME" --force
run ls "$COURSE/release/$NAME"
DUE=$(date -u -d '36 hours ago' '+%Y-%m-%d %H:%M:%S UTC')
run nbgrader db assignment add "$NAME" --duedate="$DUE"
{
    echo "id,first_name,last_name,email"
    echo "correct,Camille,Correct,camille.correct@example.org"
    echo "buggy,Bastien,Buggy,bastien.buggy@example.org"
    echo "crash,Chloe,Crash,chloe.crash@example.org"
    echo "empty,Emile,Empty,emile.empty@example.org"
    echo "hostile,Hugo,Hostile,hugo.hostile@example.org"
    echo "absent,Alice,Absent,alice.absent@example.org"   # on the roster, never submits
} >"$WORK/roster.csv"
run nbgrader db student import "$WORK/roster.csv"
run nbgrader db student list
run nbgrader db assignment list
run nbgrader release_assignment "$NAME"

step "2. five students fetch and submit"
for who in "${STUDENTS[@]}"; do
    mkdir -p "$WORK/home/$who"
    student_nbgrader "$who" fetch_assignment "$NAME"
    cp "$REPO/examples/submitted/$who/$NAME/$NAME.ipynb" "$WORK/home/$who/$NAME/$NAME.ipynb"
    student_nbgrader "$who" submit "$NAME"
done

step "3. collect, extensions for all but $LATE, grade"
# everything here runs as one user: nbgrader's "owned by root; cheating attempt?" warning is off
run nbgrader collect "$NAME" --ExchangeCollect.check_owner=False
run cat "$COURSE/submitted/$LATE/$NAME/timestamp.txt"
printf '\n$ python (Gradebook.grant_extension: 7 days for everyone but %s)\n' "$LATE"
"$PY" - "$COURSE/gradebook.db" "$NAME" "$LATE" "${STUDENTS[@]}" <<'EOF'
import sys
from nbgrader.api import Gradebook, MissingEntry
db, name, late, *students = sys.argv[1:]
with Gradebook(f"sqlite:///{db}") as gb:
    for s in students:
        if s == late:
            continue
        try:
            gb.find_submission(name, s)
        except MissingEntry:
            gb.add_submission(name, s)  # collect writes no row; autograde (or our grade) would
        gb.grant_extension(name, s, days=7)
    for sub in gb.assignment_submissions(name):
        print(f"{sub.student_id:8} due {sub.duedate} extension {sub.extension}")
EOF
GRADE=("$PY" -m autograder grade "$COURSE" --assignment "$NAME" --out "$OUT"
       --nbgrader-db "$COURSE/gradebook.db" --jobs 2)
run "${GRADE[@]}"

step "4. $RESUBMITTER fixes update() and resubmits; collect --update; grade again"
"$PY" - "$WORK/home/$RESUBMITTER/$NAME/$NAME.ipynb" <<'EOF'
import json, sys
path = sys.argv[1]
nb = json.load(open(path, encoding="utf-8"))
fixed = 0
for cell in nb["cells"]:
    src = "".join(cell["source"])
    if 'b = params["b"] - lr' in src:
        cell["source"] = src.replace('b = params["b"] - lr', 'b = params["b"] + lr')
        fixed += 1
assert fixed == 1, fixed
json.dump(nb, open(path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print(f"{path}: update() fixed (b - lr -> b + lr)")
EOF
sleep 1  # a newer timestamp than the first submission's
student_nbgrader "$RESUBMITTER" submit "$NAME"
run nbgrader collect --update "$NAME" --ExchangeCollect.check_owner=False
run "${GRADE[@]}"

step "5. regrade only crash"
run "${GRADE[@]}" --student crash

step "6. written answers in formgrader: a manual grade and comment, formgrader's view"
printf '\n$ python (Gradebook: manual grade on q_learning_rate of correct; NbGraderAPI views)\n'
"$PY" - "$COURSE" "$NAME" <<'EOF'
import sys, json
from nbgrader.api import Gradebook
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
course, name = sys.argv[1:]
with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:  # formgrader's "grade" and "comment" boxes
    nb = gb.find_submission_notebook(name, name, "correct")
    print("grade cells:", sorted(g.name for g in nb.grades))
    print("manual ones:", sorted(g.name for g in nb.grades if g.needs_manual_grade))
    grade = gb.find_grade("q_learning_rate", name, name, "correct")
    grade.manual_score = 1.5
    comment = gb.find_comment("q_learning_rate", name, name, "correct")
    comment.manual_comment = "Bien vu pour le pas trop grand ; montrez une courbe."
    gb.db.commit()
api = NbGraderAPI(coursedir=CourseDirectory(root=course))
for s in api.get_submissions(name):
    print({k: s.get(k) for k in ("student", "autograded", "timestamp", "score", "max_score",
                                 "needs_manual_grade", "code_score", "written_score")})
print("notebook submission indices:", json.dumps(api.get_notebook_submission_indices(name, name)))
for s in api.get_notebook_submissions(name, name):
    print({k: s.get(k) for k in ("student", "id", "score", "max_score", "needs_manual_grade", "failed_tests")})
EOF
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=walkthrough
JUPYTER_RUNTIME_DIR=$WORK/runtime JUPYTER_DATA_DIR=$WORK/jupyter-data \
    "$PY" -m jupyter_server --allow-root --ServerApp.open_browser=False --ServerApp.root_dir="$COURSE" \
    --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" --IdentityProvider.token="$TOKEN" \
    >"$WORK/jupyter.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$PORT/api/status?token=$TOKEN" >/dev/null && break
    sleep 0.5
done
SUB_ID=$("$PY" -c "
from nbgrader.api import Gradebook
with Gradebook('sqlite:///$COURSE/gradebook.db') as gb:
    print(gb.find_submission_notebook('$NAME', '$NAME', 'correct').id)")
printf '\n$ curl formgrader/submissions/%s/ (correct)\n' "$SUB_ID"
curl -s -o "$WORK/formgrader_correct.html" -w 'HTTP %{http_code}, %{size_download} bytes\n' \
    "http://127.0.0.1:$PORT/formgrader/submissions/$SUB_ID/?token=$TOKEN" || true
grep -o 'q_learning_rate\|q_ceiling\|test_forward' "$WORK/formgrader_correct.html" | sort | uniq -c || true
printf '\n$ curl formgrader/api/grades?submission_id=%s\n' "$SUB_ID"
curl -s "http://127.0.0.1:$PORT/formgrader/api/grades?submission_id=$SUB_ID&token=$TOKEN" | "$PY" -c '
import json, sys
for g in json.load(sys.stdin):
    print(g["name"], "auto", g["auto_score"], "manual", g["manual_score"], "max", g["max_score"],
          "needs_manual_grade" if g["needs_manual_grade"] else "")' || true
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true

step "7. feedback: generate, release, fetch"
run nbgrader generate_feedback "$NAME" --force
run nbgrader release_feedback "$NAME"
student_nbgrader "$LATE" fetch_feedback "$NAME"
run find "$WORK/home/$LATE/$NAME/feedback" -type f
FEEDBACK=$(find "$WORK/home/$LATE/$NAME/feedback" -name "$NAME.html" | head -n 1)
printf '\n$ grep manual comment / late penalty in %s\n' "$FEEDBACK"
grep -o 'Bien vu pour le pas trop grand[^<]*' "$FEEDBACK" | head -n 1 || echo "(manual comment not found)"
grep -o 'late-penalty">[^<]*' "$FEEDBACK" | head -n 1 || echo "(no late penalty in the page)"

step "8. exports"
run nbgrader export --to "$WORK/nbgrader_grades.csv"
run cat "$WORK/nbgrader_grades.csv"
run head -n 8 "$OUT/grades.csv"
run head -n 8 "$OUT/lms.csv"
run head -n 8 "$OUT/moodle.csv"

step "9. a later grade run (nothing changed) after generate_feedback: feedback/ and the gradebook"
run "${GRADE[@]}"
for who in "${STUDENTS[@]}"; do
    if cmp -s "$COURSE/feedback/$who/$NAME/$NAME.html" "$OUT/$who/$NAME/feedback.html"; then
        echo "$who: feedback/ holds autograder's page again (nbgrader's generate_feedback page is gone)"
    else
        echo "$who: feedback/ still holds nbgrader's generate_feedback page"
    fi
done
printf '\n$ python (the gradebook after that run: correct'"'"'s manual grade and late penalty)\n'
"$PY" - "$COURSE/gradebook.db" "$NAME" <<'EOF'
import sys
from nbgrader.api import Gradebook
db, name = sys.argv[1:]
with Gradebook(f"sqlite:///{db}") as gb:
    g = gb.find_grade("q_learning_rate", name, name, "correct")
    nb = gb.find_submission_notebook(name, name, "correct")
    print(f"q_learning_rate manual {g.manual_score} needs_manual_grade {g.needs_manual_grade}; "
          f"notebook score {nb.score} late_submission_penalty {nb.late_submission_penalty}")
EOF
run grep '^correct,' "$OUT/lms.csv"

step "10. screenshots (headless chromium)"
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$BROWSER" ]; then
    echo "no chromium/google-chrome: screenshots skipped"
else
    mkdir -p "$WORK/screenshots"
    shoot() {  # shoot NAME PAGE [HEIGHT]
        local shot=$WORK/screenshots/$1.png height=${3:-1600}
        printf '\n$ %s --headless --window-size=1200,%s --screenshot=%s "file://%s"\n' "$(basename "$BROWSER")" "$height" "$shot" "$2"
        timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars \
            --user-data-dir="$WORK/chromium-profile" --window-size="1200,$height" \
            --screenshot="$shot" "file://$2" 2>/dev/null || echo "(chromium failed on $2)"
    }
    shoot "feedback_$LATE" "$OUT/$LATE/$NAME/feedback.html"
    shoot report "$OUT/report.html" 3600   # the whole page: similarity table, roster rows
    shoot "fetched_feedback_$LATE" "$FEEDBACK"
    shoot feedback_absent "$OUT/absent/$NAME/feedback.html"
fi
printf '\nwalkthrough done: %s\n' "$WORK"
