"""Line numbers the student reads are their own cell's and line's, with the line as written."""

from __future__ import annotations

import inspect

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.grade import grade_one
from autograder.stages.extract import extract
from autograder.stages.sandbox import Limits, Sandbox, bwrap_available
from autograder.stages.sourcemap import UNKNOWN
from autograder.submission import StudentRaised
from reference import tp1_perceptron as p1

SOURCES = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in ("forward", "update", "predict")}
A = "tp1_perceptron"

CRASHING_FORWARD = '''def forward(params, x):
    """The perceptron's outputs."""
    # a comment the student wrote
    scores = x @ params["W"]
    return scores[:, 99999]  # out of range
'''


def cell(source: str, grade_id: str = ""):
    c = new_code_cell(source)
    if grade_id:
        c.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
    return c


def crashing_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# TP1"), cell("import torch  # tensors\n%matplotlib inline"), new_markdown_cell("## forward"),
        cell(CRASHING_FORWARD, "solution_forward"), cell(SOURCES["update"], "solution_update"),
        cell(SOURCES["predict"], "solution_predict")])


def test_every_line_of_the_extracted_code_maps_to_the_cell_and_line_written():
    nb = crashing_notebook()
    extracted = extract(nb, ("forward", "update", "predict"))
    lines = extracted.code.splitlines()
    at = next(i for i, line in enumerate(lines, 1) if "99999" in line)
    assert "#" not in lines[at - 1]  # the reconstructed line lost its comment
    origin = extracted.source_map.origin(at)
    assert (origin.cell, origin.grade_id, origin.line) == (4, "solution_forward", 5)
    assert origin.text == 'return scores[:, 99999]  # out of range'
    assert extracted.source_map.where(at) == "cell 4 (solution_forward), line 5: return scores[:, 99999]  # out of range"
    imported = next(i for i, line in enumerate(lines, 1) if line.strip() == "import torch")
    assert extracted.source_map.where(imported) == "cell 2, line 1: import torch  # tensors"
    update_at = [i for i, line in enumerate(lines, 1) if "torch.addmm" in line]
    assert [extracted.source_map.origin(i).grade_id for i in update_at] == ["solution_update"]


def test_a_forged_or_out_of_range_line_reads_line_unknown():
    source_map = extract(crashing_notebook(), ("forward",)).source_map
    for forged in (0, -3, 10**9, "5", 5.0, True, None, [5]):
        assert source_map.where(forged) == UNKNOWN
    assert source_map.where(1) == UNKNOWN  # the grader's own ``from __future__`` line


sandboxed = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")


@sandboxed
def test_a_crash_names_the_cell_and_line_not_the_extracted_code(tmp_path):
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(crashing_notebook(), str(path))
    graded = grade_one("s", path, A, profile="dev", limits=Limits(call_seconds=10))
    crashed = [r for r in graded.results if r.function == "forward" and "IndexError" in r.message]
    assert crashed, [r.message for r in graded.results]
    assert "at cell 4 (solution_forward), line 5: return scores[:, 99999]  # out of range" in crashed[0].message


@sandboxed
def test_a_load_error_names_the_cell_and_line(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# TP1"), cell("import torch"),
                             cell("class Config:\n    # settings\n    size = 1 / 0  # oops", "config"),
                             *(cell(s) for s in SOURCES.values())])
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(nb, str(path))
    graded = grade_one("s", path, A, profile="dev", limits=Limits(call_seconds=10))
    assert "ZeroDivisionError" in graded.error
    assert "at cell 3 (config), line 3: size = 1 / 0  # oops" in graded.error
    assert "extracted code" not in graded.error


@sandboxed
def test_the_sandbox_bounds_the_line_its_worker_reports():
    code = "def f(x):\n    raise ValueError('no')\n"
    nb = new_notebook(cells=[cell(code, "f")])
    extracted = extract(nb, ("f",))
    with Sandbox(extracted.code, limits=Limits(call_seconds=10), source_map=extracted.source_map) as sandbox:
        with pytest.raises(StudentRaised) as raised:
            sandbox.invoke("f", (1,))
        assert raised.value.where == "cell 1 (f), line 2: raise ValueError('no')"
        assert sandbox.where(10**6) == UNKNOWN and sandbox.where("3") == UNKNOWN and sandbox.where(None) == ""


def test_a_forbidden_api_names_the_cell_and_line():
    from autograder import checks
    from autograder.stages.run_checks import run_check
    from autograder.submission import Unfilled

    assignment = checks.load("tp2_shallow")
    nb = new_notebook(cells=[new_markdown_cell("# TP2"), cell("import torch"),
                             cell("def update(params, grads, lr):\n    # one step\n    x = 1\n"
                                  "    return {k: torch.nn.functional.relu(p) for k, p in params.items()}  # relu", "u")])
    extracted = extract(nb, assignment.functions)
    submission = Unfilled(extracted.code, extracted.defined, extracted.source_map)
    check = next(c for c in assignment.checks if c.function == "update")
    result = run_check(check, submission, assignment, "dev")
    assert "cell 3 (u), line 4: return {k: torch.nn.functional.relu(p)" in result.message, result.message
    assert "(uses torch.nn" in result.message
