"""Release: student_template/ is exactly what `autograder release` makes of assignments/source/,
leaks nothing, and each released notebook runs in a kernel without the reference."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import registry
from autograder.course import release, sync as sources

ROOT = Path(__file__).resolve().parents[3]
RELEASED = sorted(p.parent.name for p in (ROOT / "student_template").glob("*/*.ipynb"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("template")
    release.release(RELEASED, out=out)
    return out


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_template_is_what_release_produces(fresh):
    """Is the committed student_template/ byte for byte what the release command writes?"""
    committed = ROOT / "student_template"
    assert _files(fresh) == _files(committed)
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, _files(fresh), shallow=False)
    assert mismatch == [] and errors == [], "run `python -m autograder release` and commit student_template/"


def test_solution_cells_are_the_reference():
    """One source of truth: does every solution and given cell equal its reference function?"""
    assert RELEASED, "no released assignment"
    assert sources.problems(registry.COURSE) == []


def test_released_files_leak_nothing():
    """No solution body, no solution or hidden-test markers, no import of reference or autograder."""
    template = ROOT / "student_template"
    for path in template.rglob("*"):
        if path.suffix not in (".ipynb", ".py"):
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "from autograder", "import autograder",
                       "from reference", "import reference"):
            assert marker not in text, f"{path}: {marker}"
    for name in RELEASED:
        source_nb = nbformat.read(str(ROOT / "assignments" / "source" / name / f"{name}.ipynb"), as_version=4)
        released = (template / name / f"{name}.ipynb").read_text(encoding="utf-8")
        for cell in source_nb.cells:
            if "### BEGIN SOLUTION" in cell.source:
                body = cell.source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
                for line in body.strip().splitlines():
                    if len(line.strip()) > 12:
                        assert nbformat.reads(released, as_version=4) and line.strip() not in released, line


def _nbgrader(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=ROOT / "assignments", env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", RELEASED)
def test_nbgrader_validate(name):
    """Do the sources pass their own tests, and do the released stubs fail every test?"""
    ok = _nbgrader("validate", f"source/{name}/{name}.ipynb")
    assert "Success! Your notebook passes all the tests." in ok.stdout, ok.stdout + ok.stderr
    inverted = _nbgrader("validate", "--invert", str(ROOT / "student_template" / name / f"{name}.ipynb"))
    assert "Success! The notebook does not pass any tests." in inverted.stdout, inverted.stdout + inverted.stderr


BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("reference", "autograder"):
            raise ModuleNotFoundError(f"{name} is not available to students")
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.parametrize("name", RELEASED)
def test_released_notebook_runs_without_the_reference(name, tmp_path, monkeypatch):
    """Top to bottom on CPU, in a kernel that cannot import reference or autograder: do the
    check cells say "not implemented yet", with no other error anywhere?"""
    import nbclient

    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    folder = ROOT / "student_template" / name
    nb = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}}).execute()
    checks_seen = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.source[:80], [e.ename + ": " + e.evalue for e in errors])
        if cell.source.strip().splitlines()[-1].startswith("check("):
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "not implemented yet" in text, (cell.source, text)
            checks_seen += 1
    assert checks_seen >= 3
