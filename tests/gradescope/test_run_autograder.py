"""Gradescope's pair, for real: the zip `make gradescope` builds, unpacked in a fake /autograder
tree (AUTOGRADER_ROOT), its run_autograder run on example notebooks, its results.json read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "submitted"
A = "tp1_perceptron"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zip") / f"{A}.zip"
    subprocess.run([sys.executable, str(ROOT / "gradescope" / "build.py"), "--assignment", A, "--out", str(out)],
                   check=True, capture_output=True)
    return out


def gradescope_tree(tmp_path: Path, autograder_zip: Path, files: dict[str, Path]) -> Path:
    """/autograder as Gradescope builds it: the zip in source/ (setup.sh's virtualenv there: this
    one's), run_autograder copied to the root, the student's files in submission/, results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as z:
        z.extractall(root / "source")
    (root / "source" / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    for name, path in files.items():
        shutil.copyfile(path, root / "submission" / name)
    (root / "results").mkdir()
    return root


def run_autograder(root: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), **env})


def results(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def test_the_zip_has_gradescopes_pair_at_its_root_and_no_class(autograder_zip):
    """Are setup.sh and run_autograder at the zip's root, executable, with the assignment named,
    and are the tests, the example class and the virtualenv left out?"""
    with zipfile.ZipFile(autograder_zip) as z:
        names = z.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        assert z.read("gradescope/assignment.txt").decode().strip() == A
    assert {"setup.sh", "run_autograder", "autograder/grade.py", "tpworker/worker.py", f"reference/{A}.py"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not [n for n in names if n.startswith(("tests/", "examples/", ".venv/", "out/")) or "__pycache__" in n]
    assert names == sorted(names)


def test_a_correct_notebook_gets_every_point(tmp_path, autograder_zip):
    """Does the correct example, submitted under any name, get full marks in results.json?"""
    root = gradescope_tree(tmp_path, autograder_zip, {"my_work.ipynb": EXAMPLES / "correct" / A / f"{A}.ipynb"})
    run = run_autograder(root)
    assert run.returncode == 0, run.stdout + run.stderr
    data = results(root)
    assert data["tests"] and all(t["status"] == "passed" for t in data["tests"]), data
    assert data["score"] == pytest.approx(sum(t["max_score"] for t in data["tests"]))
    assert all(t["number"].startswith(f"{A}.") for t in data["tests"])


def test_a_buggy_notebook_gets_its_failures(tmp_path, autograder_zip):
    """Does the buggy example (the bias-sign bug) lose points, with the failing checks named?"""
    root = gradescope_tree(tmp_path, autograder_zip, {f"{A}.ipynb": EXAMPLES / "buggy" / A / f"{A}.ipynb"})
    run = run_autograder(root)
    assert run.returncode == 0, run.stdout + run.stderr
    data = results(root)
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and 0 <= data["score"] < sum(t["max_score"] for t in data["tests"])
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    assert all(t["output"] for t in failed)


def test_no_notebook_tells_the_student_what_to_upload(tmp_path, autograder_zip):
    root = gradescope_tree(tmp_path, autograder_zip, {"notes.txt": ROOT / "README.md"})
    run = run_autograder(root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert results(root) == {"score": 0.0, "output": f"No notebook (.ipynb) in your submission: upload your {A}.ipynb.",
                             "tests": [], "visibility": "visible"}


def test_without_bubblewrap_it_fails_with_one_line_and_no_grade(tmp_path, autograder_zip):
    """Where the sandbox cannot run (no bwrap on PATH here; on Gradescope, namespaces refused), is
    there no results.json (not a false 0) and one clear line saying why?"""
    root = gradescope_tree(tmp_path, autograder_zip, {f"{A}.ipynb": EXAMPLES / "correct" / A / f"{A}.ipynb"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    run = run_autograder(root, PATH=str(bin_dir))
    assert run.returncode == 1
    assert not (root / "results" / "results.json").exists()
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("run_autograder: error:")]
    assert "bubblewrap" in line


def test_the_documented_unsafe_fallback_grades_without_bubblewrap(tmp_path, autograder_zip):
    """With gradescope/unsafe-no-sandbox in the zip (make gradescope UNSAFE=1), is the notebook
    graded all the same where bubblewrap is missing?"""
    root = gradescope_tree(tmp_path, autograder_zip, {f"{A}.ipynb": EXAMPLES / "correct" / A / f"{A}.ipynb"})
    (root / "source" / "gradescope" / "unsafe-no-sandbox").write_text("yes\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    run = run_autograder(root, PATH=str(bin_dir))
    assert run.returncode == 0, run.stdout + run.stderr
    data = results(root)
    assert data["tests"] and data["score"] == pytest.approx(sum(t["max_score"] for t in data["tests"]))
