"""A term of grading: results that are never stale, resubmissions, regrades of one student, late work, the roster.

Each test grades a small class of real notebooks in nbgrader's layout through ``grade_class``
or the command line, changes what an instructor changes during a term (a resubmitted
notebook, an option, a due date, the class list) and checks what the next run does.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import shutil

import nbformat
import pytest
from classes import rows, write_class
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.cli import main
from autograder.grade import ClassError, grade_class
from autograder.stages import late
from autograder.stages.roster import RosterError, Student, read_csv, read_gradebook
from autograder.stages.sandbox import Limits, bwrap_available
from autograder.stages.store import RESULT_FILE
from reference import tp1_perceptron as p1

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

A = "tp1_perceptron"
SOURCES = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in ("forward", "update", "predict")}
LIMITS = Limits(call_seconds=10)


def notebook(*codes: str):
    return new_notebook(cells=[new_markdown_cell("# TP1")] + [new_code_cell(c) for c in codes])


def stub(name: str) -> str:
    return SOURCES[name].split(":\n", 1)[0] + ":\n    raise NotImplementedError()"


# no correct training run here: the buggy update keeps the threshold run from starting (fast)
BUGGY = notebook("import torch", SOURCES["forward"], SOURCES["update"].replace("lr * error.mean(0)", "-lr * error.mean(0)"),
                 SOURCES["predict"])
BUGGY_PREDICT_TOO = notebook("import torch", SOURCES["forward"],
                             SOURCES["update"].replace("lr * error.mean(0)", "-lr * error.mean(0)"),
                             "def predict(params, x):\n    return forward(params, x).argmin(1)")
STUB = notebook("import torch", *(stub(f) for f in SOURCES))


@pytest.fixture
def course(tmp_path):
    write_class(tmp_path, {"ana": BUGGY, "bob": STUB}, A)
    return tmp_path


def grade(course, **kwargs):
    return grade_class(course / "submitted", [A], course / "out", limits=kwargs.pop("limits", LIMITS), progress=False,
                       **kwargs)


def stamps(course):
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in (course / "out").glob(f"*/{A}/{RESULT_FILE}")}


def test_a_resubmitted_notebook_is_graded_again_and_nothing_else(course):
    first = grade(course)
    assert first.regraded == {"new": 2} and first.reused == 0
    before = stamps(course)
    again = grade(course)
    assert again.regraded == {} and again.reused == 2 and stamps(course) == before
    assert "graded 0 submission(s), reused 2 result(s)" in again.summary()
    # ana resubmits: predict is now wrong too
    nbformat.write(BUGGY_PREDICT_TOO, str(course / "submitted" / "ana" / A / f"{A}.ipynb"))
    third = grade(course)
    assert third.regraded == {"notebook changed": 1} and third.reused == 1
    assert stamps(course)["bob"] == before["bob"] and stamps(course)["ana"] != before["ana"]
    assert float(rows(course / "out")["ana"]["score"]) < {g.student: g.score for g in first}["ana"]


def test_an_option_that_changes_a_grade_regrades_and_never_poisons_later_runs(course):
    grade(course, limits=Limits(call_seconds=0.001))  # a run with a bad option
    assert grade(course).regraded == {"options changed": 2}  # the next, with today's options, regrades
    assert grade(course).reused == 2
    assert grade(course, profile="ci").regraded == {"options changed": 2}


def test_a_changed_grader_or_an_old_result_regrades(course):
    grade(course)
    path = course / "out" / "ana" / A / RESULT_FILE
    data = json.loads(path.read_text())
    data["inputs"]["grader"] = "0" * 64  # as if the checks or the reference changed since
    path.write_text(json.dumps(data))
    bob = course / "out" / "bob" / A / RESULT_FILE
    data = json.loads(bob.read_text())
    del data["inputs"]  # a result of a grader that recorded no inputs
    bob.write_text(json.dumps(data))
    assert grade(course).regraded == {"grader changed": 1, "no inputs recorded": 1}


def test_student_option_regrades_just_those(course):
    grade(course)
    before = stamps(course)
    nbformat.write(BUGGY_PREDICT_TOO, str(course / "submitted" / "ana" / A / f"{A}.ipynb"))
    run = grade(course, students=["bob"])
    assert run.regraded == {"--student": 1} and run.stale == 1  # ana changed, but was not named
    assert stamps(course)["ana"] == before["ana"] and stamps(course)["bob"] != before["bob"]
    assert "1 result(s) are stale but kept" in run.summary()
    with pytest.raises(ClassError, match="--student zoe: not in this class"):
        grade(course, students=["zoe"])


def test_cli_student_option_and_its_refusal(course, capsys):
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), "--assignment", A]) == 0
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), "--student", "bob"]) == 0
    out = capsys.readouterr().out
    assert "graded 1 submission(s) (1 --student), reused 1 result(s)" in out
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), "--student", "zoe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --student zoe: not in this class")


# --- the roster -----------------------------------------------------------------------------------


def test_roster_gives_every_student_a_row_and_only_this_class(course):
    grade(course)
    shutil.copytree(course / "out" / "ana", course / "out" / "old_student")  # left by last year's class
    roster = [Student("ana"), Student("carl", "Carl", "Nobody", "carl@example.org")]
    run = grade(course, roster=roster)
    table = rows(course / "out")
    assert set(table) == {"ana", "bob", "carl"}  # bob submitted without being on the roster: graded all the same
    assert table["carl"]["score"] == "0"
    assert run.not_on_roster == ["bob"]
    by = {g.student: g for g in run}
    assert by["carl"].error == "no submission" and "not on the roster" in by["bob"].notes
    assert run.regraded == {} and run.absent == 1 and "1 on the roster with no submission" in run.summary()
    report = (course / "out" / "report.html").read_text()
    assert "old_student" not in report and "carl" in report and "no submission" in report
    assert "Over the 2 submission(s) that could be graded" in report  # carl is a row, not a statistic
    page = (course / "out" / "carl" / A / "feedback.html").read_text()
    assert "Aucun rendu reçu" in page and "échoué" not in page and "no submission" not in page
    # carl submits later: graded, as new work
    write_class(course, {"carl": BUGGY}, A)
    assert grade(course, roster=roster).regraded == {"notebook changed": 1}


def test_without_roster_a_reused_out_shows_only_this_class(course):
    grade(course)
    shutil.copytree(course / "out" / "ana", course / "out" / "old_student")
    grade(course)
    assert set(rows(course / "out")) == {"ana", "bob"}
    assert "old_student" not in (course / "out" / "report.html").read_text()


def test_roster_csv_is_nbgraders_student_format(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffid,last_name,first_name,email,extra\nana,Lovelace,Ada,ada@example.org,x\nbob,,,,\nana,,,,\n")
    assert read_csv(path) == [Student("ana", "Ada", "Lovelace", "ada@example.org"), Student("bob")]
    path.write_text("name,email\nana,a@b\n")
    with pytest.raises(RosterError, match="no 'id' column"):
        read_csv(path)
    path.write_text("id,email\n,a@b\n")
    with pytest.raises(RosterError, match="line 2 has no id"):
        read_csv(path)
    with pytest.raises(RosterError, match="cannot be read"):
        read_csv(tmp_path / "missing.csv")


def test_cli_refuses_a_bad_roster_in_one_line(course, capsys):
    (course / "roster.csv").write_text("name\nana\n")
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), "--roster", str(course / "roster.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no 'id' column" in err[0]
    assert not (course / "out" / "grades.csv").exists()


# --- late work ------------------------------------------------------------------------------------

DUE = "2026-12-01 23:59:00 UTC"


def submit_at(course, student: str, when: str) -> None:
    (course / "submitted" / student / A / late.TIMESTAMP_FILE).write_text(when)


def test_a_late_submission_loses_the_courses_penalty(course, capsys):
    submit_at(course, "ana", "2026-12-03 00:30:00.000000 UTC")  # 1 d 31 min late: 2 started days
    submit_at(course, "bob", "2026-12-01 12:00:00.000000 UTC")  # on time
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), "--due", f"{A}={DUE}"]) == 0
    assert "1 d 31 min late, -" in capsys.readouterr().out
    table = rows(course / "out")
    ana = table["ana"]
    assert float(ana["seconds_late"]) == 24 * 3600 + 31 * 60
    assert float(ana["late_penalty"]) == pytest.approx(0.2 * float(ana["raw_score"])) and float(ana["late_penalty"]) > 0
    assert float(ana["score"]) == pytest.approx(float(ana["raw_score"]) - float(ana["late_penalty"]))
    assert ana["submitted_at"] == "2026-12-03 00:30:00 UTC" and ana["due"] == DUE
    assert table["bob"]["seconds_late"] == "0" and table["bob"]["late_penalty"] == "0"
    page = (course / "out" / "ana" / A / "feedback.html").read_text()
    assert "Rendu en retard" in page and "1 j 31 min" in page and "Pénalité de retard" in page
    assert "Rendu en retard" not in (course / "out" / "bob" / A / "feedback.html").read_text()
    results = json.loads((course / "out" / "ana" / A / "results.json").read_text())
    assert results["score"] == pytest.approx(float(ana["score"]))  # Gradescope's score is after the penalty
    assert "−" in (course / "out" / "report.html").read_text()


def test_a_due_date_set_after_grading_applies_without_regrading(course):
    submit_at(course, "ana", "2026-12-02 00:30:00 UTC")
    grade(course)
    assert rows(course / "out")["ana"]["late_penalty"] == "0"  # no due date yet
    run = grade(course, schedule=late.schedule_from_options([f"{A}={DUE}"]))
    assert run.regraded == {} and run.reused == 2
    assert float(rows(course / "out")["ana"]["late_penalty"]) > 0
    assert "Rendu en retard" in (course / "out" / "ana" / A / "feedback.html").read_text()


def test_nbgrader_timestamps_and_unusable_ones(tmp_path):
    for text, expected in [("2026-12-03 10:00:00.123456 UTC", dt.datetime(2026, 12, 3, 10, 0, 0, 123456)),
                           ("2026-12-03 11:00:00.5 Europe/Paris", dt.datetime(2026, 12, 3, 10, 0, 0, 500000))]:
        (tmp_path / late.TIMESTAMP_FILE).write_text(text + "\n")
        assert late.read_timestamp(tmp_path) == (expected, "")
    (tmp_path / late.TIMESTAMP_FILE).write_text("yesterday-ish")
    when, note = late.read_timestamp(tmp_path)
    assert when is None and "not a date" in note
    (tmp_path / late.TIMESTAMP_FILE).write_text("")
    assert late.read_timestamp(tmp_path) == (None, "")
    (tmp_path / late.TIMESTAMP_FILE).unlink()
    (tmp_path / "elsewhere").write_text("2020-01-01 00:00:00 UTC")
    os.symlink(tmp_path / "elsewhere", tmp_path / late.TIMESTAMP_FILE)
    when, note = late.read_timestamp(tmp_path)
    assert when is None and "not a regular file" in note
    (tmp_path / late.TIMESTAMP_FILE).unlink()
    (tmp_path / late.TIMESTAMP_FILE).write_text("2" * 5000)
    assert "not a timestamp" in late.read_timestamp(tmp_path)[1]
    assert late.read_timestamp(tmp_path / "nothing") == (None, "")


def test_the_late_policy_is_the_courses_nbgrader_config(tmp_path):
    policy = late.Policy(late.course_root(tmp_path))  # no course here: this project's, 10 % a started day
    assert policy.penalty("s", 10, 60) == 1 and policy.penalty("s", 10, 86401) == 2 and policy.penalty("s", 10, 0) == 0
    assert policy.penalty("s", 10, 30 * 86400) == 10
    (tmp_path / "submitted").mkdir()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    zero = late.Policy(late.course_root(tmp_path / "submitted"))
    assert zero.penalty("s", 7, 1) == 7 and zero.penalty("s", 7, 0) == 0
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.AssignLatePenalties.plugin_class = 'no.such.Plugin'\n")
    with pytest.raises(late.LateError, match="cannot be loaded"):
        late.Policy(late.course_root(tmp_path / "submitted"))


def test_due_dates_and_extensions_come_from_the_nbgrader_gradebook(tmp_path, monkeypatch):
    import sys

    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")  # nbgrader runs alembic

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment(A, duedate=late.parse_when(DUE))
        gb.add_student("ana", first_name="Ada", last_name="Lovelace", email="ada@example.org")
        gb.add_student("bob")
        gb.add_submission(A, "ana", extension=dt.timedelta(days=2))
    schedule = late.schedule_from_gradebook(url)
    assert schedule.due_for(A, "bob") == dt.datetime(2026, 12, 1, 23, 59)
    assert schedule.due_for(A, "ana") == dt.datetime(2026, 12, 3, 23, 59)
    assert schedule.due_for("tp2_shallow", "ana") is None
    assert [s.id for s in read_gradebook(url)] == ["ana", "bob"] and read_gradebook(url)[0].email == "ada@example.org"


@pytest.mark.parametrize("due, message", [(["tp1_perceptron"], "expected ASSIGNMENT=WHEN"),
                                          (["tp9=2026-12-01"], "expected ASSIGNMENT=WHEN"),
                                          ([f"{A}=soon"], "is not a date")])
def test_cli_refuses_a_bad_due_date_in_one_line(course, capsys, due, message):
    assert main(["grade", str(course / "submitted"), "--out", str(course / "out"), *(f"--due={d}" for d in due)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
