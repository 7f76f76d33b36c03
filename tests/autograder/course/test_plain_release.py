"""Plain ``nbgrader generate_assignment`` ships a working folder: the notebook, the example bank
its visible checks replay and the students' wheel (autograder/course/ship.py, registered by the
course's nbgrader_config.py), the same folder ``autograder release`` writes; and ``autograder
release`` writes into an instructor's own course folder, from which nbgrader's exchange delivers
a folder that holds everything a student needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import release

ROOT = Path(__file__).resolve().parents[3]
NAME = "tp1_perceptron"
CORRECT = ROOT / "examples" / "submitted" / "correct" / NAME / f"{NAME}.ipynb"
COURSE_ID = "tp-reseaux-de-neurones"  # assignments/nbgrader_config.py
# the student's kernel: no reference, no autograder (see test_release.py)
BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("reference", "autograder"):
            raise ModuleNotFoundError(f"{name} is not available to students")
sys.meta_path.insert(0, _Block())
"""


def nbgrader(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def course_copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "assignments" / "source" / NAME, folder / "source" / NAME)
    return folder


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    """release/tp1_perceptron/ as plain `nbgrader generate_assignment` writes it."""
    course = course_copy(tmp_path_factory.mktemp("plain") / "course")
    done = nbgrader(course, "generate_assignment", NAME, "--force")
    assert "Shipping tp1_perceptron with examples.npz, tpcheck-0.1.0-py3-none-any.whl" in done.stderr + done.stdout
    return course / "release" / NAME


def run_checks(folder: Path, nb: nbformat.NotebookNode, tmp: Path, monkeypatch) -> dict[str, str]:
    """Run the setup, given, solution and check cells of ``nb`` in a student's kernel (tpcheck
    from the released folder's wheel, unpacked; reference and autograder unimportable) in
    ``folder``; what each check cell printed, by cell id."""
    import nbclient

    tmp.mkdir()
    (tmp / "sitecustomize.py").write_text(BLOCKER)
    with zipfile.ZipFile(folder / release.WHEEL) as wheel:
        wheel.extractall(tmp / "wheel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp), str(tmp / "wheel")]))
    nb = nbformat.from_dict(nb)
    run = ("setup", "given-", "solution-", "test-")
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and c.get("id", "").startswith(run)]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}}).execute()
    errors = [(c.get("id"), o.ename, o.evalue) for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    return {c.get("id"): "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.get("id", "").startswith("test-")}


def test_plain_generate_assignment_ships_the_bank_and_the_wheel(plain):
    assert sorted(p.name for p in plain.iterdir()) == sorted([f"{NAME}.ipynb", "examples.npz", release.WHEEL])
    assert release.bank_differences(plain / "examples.npz", ROOT / "student_template" / NAME / "examples.npz") == []
    assert release.differences(ROOT / "student_template" / NAME, plain) == []


def test_autograder_release_is_plain_nbgrader_plus_copying(plain, tmp_path):
    """The folder `autograder release` writes is the folder plain nbgrader wrote."""
    course = course_copy(tmp_path / "course")
    out = tmp_path / "out"
    release.release([NAME], course=course, out=out)
    assert release.differences(plain, out / NAME) == []
    assert (out / release.WHEEL).read_bytes() == (plain / release.WHEEL).read_bytes()


def test_released_checks_run_on_correct_work_and_say_not_implemented_on_the_stub(plain, tmp_path, monkeypatch):
    """The released notebook's visible checks really run from the released folder: with the
    correct student's solution cells, each check cell passes; as released, each says "not
    implemented yet" — never "no visible check" or an ImportError."""
    stub = nbformat.read(str(plain / f"{NAME}.ipynb"), as_version=4)
    solved = nbformat.from_dict(stub)
    theirs = {c.get("id"): c.source for c in nbformat.read(str(CORRECT), as_version=4).cells}
    for cell in solved.cells:
        if cell.get("id", "").startswith("solution-"):
            cell.source = theirs[cell.id]
    correct = run_checks(plain, solved, tmp_path / "a", monkeypatch)
    assert set(correct) == {"test-forward", "test-update", "test-predict", "test-api", "test-train"}
    for cell, text in correct.items():
        assert "passed" in text and "FAILED" not in text and "no visible check" not in text, (cell, text)
    assert "✓ forward:" in correct["test-forward"]
    empty = run_checks(plain, stub, tmp_path / "b", monkeypatch)
    for cell in ("test-forward", "test-update", "test-predict"):
        assert "not implemented yet" in empty[cell] and "no visible check" not in empty[cell], (cell, empty[cell])


def test_release_into_the_course_own_release_folder_then_the_exchange(tmp_path):
    """`autograder release --course C --out C/release`, then nbgrader's release_assignment and a
    student's fetch_assignment: the one folder the student gets holds the notebook, the bank and
    the wheel."""
    from autograder.cli import main

    course = course_copy(tmp_path / "course")
    exchange, student = tmp_path / "exchange", tmp_path / "student"
    exchange.mkdir()
    student.mkdir()
    assert main(["release", NAME, "--course", str(course), "--out", str(course / "release")]) == 0
    folder = course / "release" / NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{NAME}.ipynb", "examples.npz", release.WHEEL])
    assert {"README.md", "requirements.txt", release.WHEEL} <= {p.name for p in (course / "release").iterdir()}
    assert not (course / "gradebook.db").exists()  # the release ran on a copy
    nbgrader(course, "release_assignment", NAME, f"--Exchange.root={exchange}", f"--course={COURSE_ID}")
    nbgrader(student, "fetch_assignment", NAME, f"--Exchange.root={exchange}", f"--course={COURSE_ID}")
    fetched = student / NAME
    assert sorted(p.name for p in fetched.iterdir()) == sorted([f"{NAME}.ipynb", "examples.npz", release.WHEEL])
    assert release.differences(folder, fetched) == []
    readme = (course / "release" / "README.md").read_text(encoding="utf-8")
    assert f"dans ce dossier, `pip install {release.WHEEL}`" in readme
