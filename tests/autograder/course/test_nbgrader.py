"""Plain nbgrader on the course: release, collect, autograde, feedback, export.

An instructor who uses only nbgrader runs its own commands on ``assignments/``. This test does,
in a copy of the course, with the honest students of the example class (``correct``, ``buggy``)
plus a ``noisy`` one (correct, but its functions warn and write to stderr, as torch does) — and
compares every test cell's points with what ``autograder grade`` gives the same notebook.
"""

from __future__ import annotations

import ast
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import checks, registry
from autograder.grade import grade_one
from autograder.stages.gradebook import cell_points
from autograder.stages.sandbox import Limits, bwrap_available

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "submitted"
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments" / "source").iterdir()
                     if (EXAMPLES / "correct" / p.name).is_dir() and p.name in registry.NAMES)
STUDENTS = ("correct", "buggy", "noisy")
DUE = "2026-12-01 23:59:00 UTC"
LATE, LATE_TIMESTAMP = "buggy", "2026-12-03 01:00:00.000000 UTC"  # 1 d 1 h 1 min late: two started days
NOISE = ("import sys, warnings\n"
         "warnings.warn('a torch-like UserWarning')\n"
         "print('a progress bar on stderr', file=sys.stderr)\n")

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def noisy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The correct notebook whose every graded function first warns and writes to stderr."""
    nb = nbformat.from_dict(notebook)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            # the cell's first function, or a class's first method (tp2b_modules grades classes)
            function = next((n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.FunctionDef)), None)
            if function is None:
                continue
            first = function.body[1] if ast.get_docstring(function) else function.body[0]  # after the docstring
            lines = cell.source.splitlines()
            noise = [" " * first.col_offset + line for line in NOISE.strip().splitlines()]
            cell.source = "\n".join(lines[: first.lineno - 1] + noise + lines[first.lineno - 1 :])
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course where nbgrader released, collected, autograded and exported."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "assignments" / "source", course / "source")
    for name in ASSIGNMENTS:
        nbgrader(course, "generate_assignment", name, "--force")
        nbgrader(course, "db", "assignment", "add", name, f"--duedate={DUE}")
        for student in STUDENTS:
            folder = course / "submitted" / student / name
            folder.mkdir(parents=True)
            source = EXAMPLES / ("correct" if student == "noisy" else student) / name / f"{name}.ipynb"
            nb = nbformat.read(str(source), as_version=4)
            nbformat.write(noisy(nb) if student == "noisy" else nb, str(folder / f"{name}.ipynb"))
            shutil.copy(ROOT / "student_template" / name / "examples.npz", folder)  # released with it
            if student == LATE:
                (folder / "timestamp.txt").write_text(LATE_TIMESTAMP)
        nbgrader(course, "autograde", name, "--force")
        nbgrader(course, "generate_feedback", name, "--force")
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    return course


def cell_scores(course: Path, name: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(name, name, student)
        return {g.name: g.score for g in submission.grades if g.name.startswith("test_")}


def ours(name: str, student: str, course: Path) -> dict[str, float]:
    """Our grader's points for the same notebook, added up per nbgrader test cell."""
    return cell_points(grade_one(student, course / "submitted" / student / name / f"{name}.ipynb", name,
                                 limits=Limits(call_seconds=20)))


@pytest.mark.parametrize("name", ASSIGNMENTS)
@pytest.mark.parametrize("student", STUDENTS)
def test_nbgrader_autograde_gives_our_points(course, name, student):
    """Same points per test cell from plain ``nbgrader autograde`` and from ``autograder grade``:
    torch-like warnings and stderr output do not zero a cell."""
    theirs = cell_scores(course, name, student)
    assert theirs == pytest.approx(ours(name, student, course))
    if student != "buggy":
        assert sum(theirs.values()) == checks.load(name).max_points
    else:
        assert 0 < sum(theirs.values()) < checks.load(name).max_points


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_nbgrader_autograde_and_we_give_the_same_late_penalty(course, name):
    """The course's late policy (its nbgrader_config.py), nbgrader's timestamp.txt and the
    gradebook's due date give the same penalty through plain ``nbgrader autograde`` and through
    ``autograder grade``."""
    from nbgrader.api import Gradebook

    from autograder.stages import late

    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gb:
        theirs = {s: gb.find_submission_notebook(name, name, s).late_submission_penalty for s in STUDENTS}
    schedule, policy = late.schedule_from_gradebook(url), late.Policy(late.course_root(course / "submitted"))
    folder = course / "submitted" / LATE / name
    when, note = late.read_timestamp(folder)
    graded = late.apply(grade_one(LATE, folder / f"{name}.ipynb", name, limits=Limits(call_seconds=20)),
                        when, schedule.due_for(name, LATE), policy)
    assert not note and graded.seconds_late == 25 * 3600 + 60
    assert graded.penalty == pytest.approx(theirs[LATE]) and graded.penalty == pytest.approx(0.2 * graded.raw_score)
    assert theirs["correct"] is None and theirs["noisy"] is None  # no timestamp: never late (nbgrader's rule)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_generated_feedback_hides_hidden_tests(course, name):
    for student in STUDENTS:
        page = (course / "feedback" / student / name / f"{name}.html").read_text(encoding="utf-8")
        text = html.unescape(re.sub(r"<[^>]+>", "", page))  # the code as shown, highlighting spans removed
        assert "autograder.course.hidden" not in text and "BEGIN HIDDEN TESTS" not in text and "globals()" not in text
        assert 'check("' in text  # the visible part stays


def test_export_lists_every_student(course):
    import csv

    rows = list(csv.DictReader((course / "grades.csv").open()))
    assert {(r["assignment"], r["student_id"]) for r in rows} == {(a, s) for a in ASSIGNMENTS for s in STUDENTS}


def test_our_scores_go_into_the_nbgrader_gradebook(tmp_path):
    """`autograder grade --nbgrader-db` writes each test cell's points; `nbgrader export` shows them."""
    import csv

    from autograder.cli import main

    name = "tp1_perceptron"
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "assignments" / "source" / name, tmp_path / "source" / name)
    nbgrader(tmp_path, "generate_assignment", name, "--force")
    nbgrader(tmp_path, "db", "assignment", "add", name, f"--duedate={DUE}")
    for student in ("correct", "buggy"):
        (tmp_path / "submitted" / student / name).mkdir(parents=True)
        shutil.copy(EXAMPLES / student / name / f"{name}.ipynb", tmp_path / "submitted" / student / name)
    (tmp_path / "submitted" / "correct" / name / "timestamp.txt").write_text(LATE_TIMESTAMP)
    assert main(["grade", str(tmp_path), "--assignment", name, "--out", str(tmp_path / "out"),
                 "--nbgrader-db", str(tmp_path / "gradebook.db")]) == 0
    nbgrader(tmp_path, "export", "--to", str(tmp_path / "grades.csv"))
    exported = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    ours_ = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert {s: float(r["raw_score"]) for s, r in exported.items()} == {s: float(r["raw_score"]) for s, r in ours_.items()}
    assert float(exported["correct"]["raw_score"]) == checks.load(name).max_points
    # the late penalty (the course's policy, the gradebook's due date) reaches nbgrader's export
    assert float(exported["correct"]["late_submission_penalty"]) == float(ours_["correct"]["late_penalty"]) \
        == pytest.approx(0.2 * checks.load(name).max_points)
    assert float(exported["correct"]["score"]) == pytest.approx(float(ours_["correct"]["score"]))
