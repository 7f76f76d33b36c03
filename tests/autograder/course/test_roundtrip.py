"""The whole nbgrader round trip with `autograder grade --nbgrader-db` in place of `nbgrader autograde`.

Real nbgrader commands on a copy of the course (tp1_perceptron, two students of the example
class): generate_assignment → release_assignment → each student fetch_assignment, types their
work, submit → collect → ``python -m autograder grade COURSE --nbgrader-db`` → formgrader (a real
Jupyter server with nbgrader's formgrader extension: the submission's page, which answered 500
before autograded/ was written) → a manual grade on a written answer, through the gradebook →
release_feedback / fetch_feedback of our own feedback page → generate_feedback → release_feedback
/ fetch_feedback of nbgrader's page with the manual grade → export.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder import checks
from autograder.stages.sandbox import bwrap_available

ROOT = Path(__file__).resolve().parents[3]
NAME = "tp1_perceptron"
STUDENTS = ("correct", "buggy")
COURSE_ID = "tp-reseaux-de-neurones"  # assignments/nbgrader_config.py

pytestmark = [pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here"),
              pytest.mark.slow]


class Course:
    def __init__(self, root: Path):
        self.root, self.course, self.exchange = root, root / "course", root / "exchange"
        self.out = root / "out"
        self.printed: dict[str, str] = {}

    def nbgrader(self, cwd: Path, *args: str, student: str | None = None) -> str:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": path}
        extra = [f"--Exchange.root={self.exchange}", f"--course={COURSE_ID}"] if args[0] not in ("generate_assignment",
                                                                                                 "generate_feedback",
                                                                                                 "export") else []
        if student:
            extra += [f"--student={student}", f"--Exchange.cache={self.root / 'cache' / student}"]
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args, *extra], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        key = " ".join([args[0], *(student and [student] or [])])
        self.printed[key] = done.stdout + done.stderr
        return done.stdout + done.stderr

    def home(self, student: str) -> Path:
        return self.root / "home" / student

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(f"sqlite:///{self.course / 'gradebook.db'}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    c = Course(tmp_path_factory.mktemp("roundtrip"))
    c.course.mkdir()
    c.exchange.mkdir()
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", c.course)
    shutil.copytree(ROOT / "assignments" / "source" / NAME, c.course / "source" / NAME)
    c.nbgrader(c.course, "generate_assignment", NAME, "--force")
    c.nbgrader(c.course, "release_assignment", NAME)
    for student in STUDENTS:
        home = c.home(student)
        home.mkdir(parents=True)
        c.nbgrader(home, "fetch_assignment", NAME, student=student)
        shutil.copy(ROOT / "examples" / "submitted" / student / NAME / f"{NAME}.ipynb", home / NAME)
        c.nbgrader(home, "submit", NAME, student=student)
    c.nbgrader(c.course, "collect", NAME)
    from autograder.cli import main

    assert main(["grade", str(c.course), "--assignment", NAME, "--out", str(c.out),
                 "--nbgrader-db", str(c.course / "gradebook.db")]) == 0
    return c


def test_collected_submissions_have_nbgrader_files(course):
    for student in STUDENTS:
        assert {"timestamp.txt", "submission_secret.txt", f"{NAME}.ipynb"} <= \
            {p.name for p in (course.course / "submitted" / student / NAME).iterdir()}


def test_autograded_notebook_is_what_nbgrader_autograde_leaves(course):
    """Cell metadata restored from the source (checksums, points, locks), our points as each
    test cell's value, the written answers the student's; every gradebook row formgrader reads."""
    from nbgrader import utils

    source = nbformat.read(str(course.course / "source" / NAME / f"{NAME}.ipynb"), as_version=4)
    spec = checks.load(NAME)
    with course.gradebook() as gb:
        for student in STUDENTS:
            nb = nbformat.read(str(course.course / "autograded" / student / NAME / f"{NAME}.ipynb"), as_version=4)
            assert [c.get("id") for c in nb.cells] == [c.get("id") for c in source.cells]
            submission = gb.find_submission(NAME, student)
            assert submission.timestamp is not None
            stamp = (course.course / "submitted" / student / NAME / "timestamp.txt").read_text()
            assert submission.timestamp == utils.parse_utc(stamp).replace(tzinfo=None)
            notebook = gb.find_submission_notebook(NAME, NAME, student)
            grades = {g.name: g for g in notebook.grades}
            comments = {c.name for c in notebook.comments}
            assert set(grades) == {c.metadata.nbgrader["grade_id"] for c in source.cells
                                   if c.metadata.get("nbgrader", {}).get("grade")}
            assert {"q_learning_rate", "q_ceiling", "solution_forward"} <= comments
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader")
                if not meta or not meta.get("grade"):
                    continue
                grade = grades[meta["grade_id"]]
                if meta.get("solution"):  # a written answer, typed in by the student
                    assert cell.cell_type == "markdown" and grade.needs_manual_grade and grade.auto_score is None
                else:
                    assert utils.determine_grade(cell)[0] == grade.auto_score and not grade.needs_manual_grade
                    assert cell.outputs[-1].output_type == "execute_result"
            total = sum(g.auto_score or 0 for g in grades.values())
            assert (total == spec.max_points) == (student == "correct")


def test_formgrader_shows_the_submission(course):
    """nbgrader's formgrader, in a real Jupyter server: the submission is autograded, and its
    page renders (HTTP 200, not 500) with the written answers to grade."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    api = NbGraderAPI(coursedir=CourseDirectory(root=str(course.course)))
    for student in STUDENTS:
        seen = api.get_submission(NAME, student)
        assert seen["autograded"] and seen["timestamp"] and seen["needs_manual_grade"], seen
    with course.gradebook() as gb:
        ids = {s: gb.find_submission_notebook(NAME, NAME, s).id for s in STUDENTS}
    assert set(api.get_notebook_submission_indices(NAME, NAME)) == set(ids.values())

    port, token = free_port(), "roundtrip-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(course.root / "runtime"), "JUPYTER_DATA_DIR": str(course.root / "data"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    server = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--allow-root", "--ServerApp.open_browser=False",
                               f"--ServerApp.root_dir={course.course}", "--ServerApp.ip=127.0.0.1",
                               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                               f"--Exchange.root={course.exchange}"],
                              cwd=course.course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        for student in STUDENTS:
            with urllib.request.urlopen(f"{base}/formgrader/submissions/{ids[student]}/?token={token}", timeout=60) as r:
                page = r.read().decode()
                assert r.status == 200
            assert "q_learning_rate" in page and "test_forward" in page
            with urllib.request.urlopen(f"{base}/formgrader/api/grades?submission_id={ids[student]}&token={token}") as r:
                grades = {g["name"]: g for g in json.load(r)}
            assert grades["q_ceiling"]["needs_manual_grade"] and grades["test_forward"]["auto_score"] == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


def fetched_feedback(course: Course, student: str) -> str:
    course.nbgrader(course.home(student), "fetch_feedback", NAME, student=student)
    pages = list((course.home(student) / NAME / "feedback").glob(f"*/{NAME}.html"))
    assert len(pages) == 1, pages
    return pages[0].read_text(encoding="utf-8")


def test_feedback_round_trip(course):
    """Our feedback page is released as is; after a manual grade, nbgrader's own page replaces it
    and carries that grade; export adds it up."""
    for student in STUDENTS:
        ours = (course.out / student / NAME / "feedback.html").read_text(encoding="utf-8")
        assert (course.course / "feedback" / student / NAME / f"{NAME}.html").read_text(encoding="utf-8") == ours
    printed = course.nbgrader(course.course, "release_feedback", NAME)
    assert printed.count("Releasing feedback for student") == len(STUDENTS)
    for student in STUDENTS:
        assert fetched_feedback(course, student) == (course.out / student / NAME / "feedback.html").read_text(encoding="utf-8")

    with course.gradebook() as gb:  # formgrader's "grade" box does this
        grade = gb.find_grade("q_learning_rate", NAME, NAME, "correct")
        grade.manual_score = 1.5
        comment = gb.find_comment("q_learning_rate", NAME, NAME, "correct")
        comment.manual_comment = "Bien vu pour le pas trop grand."
        gb.db.commit()
    course.nbgrader(course.course, "generate_feedback", NAME, "--force")
    course.nbgrader(course.course, "release_feedback", NAME)
    page = fetched_feedback(course, "correct")
    assert "Bien vu pour le pas trop grand." in page and "1.5" in page
    assert "BEGIN HIDDEN TESTS" not in page and "✓" in page  # our check lines, not the hidden tests

    course.nbgrader(course.course, "export", "--to", str(course.root / "grades.csv"))
    rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader((course.root / "grades.csv").open())}
    assert rows["correct"] == checks.load(NAME).max_points + 1.5
    (course.root / "printed.json").write_text(json.dumps(course.printed, indent=1))  # what each nbgrader step said


def test_same_state_as_plain_nbgrader_autograde(course):
    """On a copy of the course, plain `nbgrader autograde` (which executes the notebook: trusted
    example code here) leaves the same cells (sources, types, nbgrader metadata) and the same
    grade and comment rows as `autograder grade --nbgrader-db` without executing anything."""
    from nbgrader.api import Gradebook

    copy = course.root / "plain-course"
    shutil.copytree(course.course, copy, ignore=shutil.ignore_patterns("autograded", "feedback"))
    course.nbgrader(copy, "autograde", NAME, "--force", "--student=correct")

    def state(root: Path):
        nb = nbformat.read(str(root / "autograded" / "correct" / NAME / f"{NAME}.ipynb"), as_version=4)
        cells = [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            notebook = gb.find_submission_notebook(NAME, NAME, "correct")
            grades = {g.name: (g.auto_score, g.needs_manual_grade) for g in notebook.grades}
            comments = {c.name: c.auto_comment for c in notebook.comments}
            stamp = gb.find_submission(NAME, "correct").timestamp
        return cells, grades, comments, stamp

    ours, theirs = state(course.course), state(copy)
    assert ours[0] == theirs[0]
    assert ours[2:] == theirs[2:]
    # the manual grade set by test_feedback_round_trip (if it ran first) makes nbgrader ask for review
    assert {k: v for k, v in ours[1].items() if k != "q_learning_rate"} == \
        {k: v for k, v in theirs[1].items() if k != "q_learning_rate"}


def test_a_second_run_keeps_what_formgrader_and_generate_feedback_did(course, capsys):
    """A later `autograder grade` with nothing changed reuses every result and leaves nbgrader's
    state alone: formgrader still sees each submission autograded (its timestamp exact), the
    manual grade keeps its flag, and a page of `generate_feedback` is not replaced by ours."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder.cli import main
    from autograder.stages.nbgrader_files import OUR_PAGE

    feedback = course.course / "feedback" / "correct" / NAME / f"{NAME}.html"
    with course.gradebook() as gb:
        before = {g.name: (g.manual_score, g.needs_manual_grade)
                  for g in gb.find_submission_notebook(NAME, NAME, "correct").grades}
    page = feedback.read_bytes() if feedback.is_file() else None
    assert main(["grade", str(course.course), "--assignment", NAME, "--out", str(course.out),
                 "--nbgrader-db", str(course.course / "gradebook.db")]) == 0
    assert f"graded 0 submission(s), reused {len(STUDENTS)} result(s)" in capsys.readouterr().out
    api = NbGraderAPI(coursedir=CourseDirectory(root=str(course.course)))
    assert all(api.get_submission(NAME, s)["autograded"] for s in STUDENTS)
    with course.gradebook() as gb:
        after = {g.name: (g.manual_score, g.needs_manual_grade)
                 for g in gb.find_submission_notebook(NAME, NAME, "correct").grades}
    assert after == before
    if page is not None and OUR_PAGE not in page:  # generate_feedback's page (test_feedback_round_trip)
        assert feedback.read_bytes() == page
