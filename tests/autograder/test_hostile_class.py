"""Hostile and broken notebooks graded in one class with honest ones (issue: at least 15).

Every fixture is the honest Part 1 notebook with one thing made hostile or broken. For each: the
class finishes; the submission gets exactly the points of the checks its honest functions pass
(what it breaks costs that function's checks, and the training run that uses it); a reason is
named in its results; and the honest students' rows of the gradebook are the same as when the
class holds no hostile notebook at all.
"""

from __future__ import annotations

import inspect
import os
import textwrap

import pytest
from classes import rows, write_class
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import checks
from autograder.grade import grade_class
from autograder.stages.sandbox import Limits, bwrap_available
from reference import tp1_perceptron as p1
from tpcheck import data as datasets

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

A = "tp1_perceptron"
SPEC = checks.load(A)
FUNCTIONS = ("forward", "update", "predict")
HONEST = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in FUNCTIONS}
PREDICT_BODY = "    return forward(params, x).argmax(1)"
LIMITS = Limits(call_seconds=4, startup_seconds=60, submission_seconds=120)


def check_cell(name: str) -> str:
    return f'# Vérifie {name}\nfrom tpcheck import check\ncheck("{name}")'


def notebook(prelude: str = "", predict: str | None = None, *, drop_tests: bool = False,
             broken_cell: str | None = None):
    """The honest notebook (imports, the three functions each followed by its test cell), with
    a prelude cell, predict's body replaced, its test cells deleted, or a cell that does not parse."""
    cells = [new_markdown_cell("# TP 1"), new_code_cell("import torch")]
    if prelude:
        cells.append(new_code_cell(prelude))
    for f in FUNCTIONS:
        source = HONEST[f]
        if f == "predict" and predict is not None:
            source = source.replace(PREDICT_BODY, predict)
        if f == broken_cell:
            source += "\n    oops = ("  # a syntax error
        cells.append(new_code_cell(source))
        if not drop_tests:
            cells.append(new_code_cell(check_cell(f)))
    cells.append(new_code_cell("params = train(load('mnist'))  # an experiment cell: never run by the grader"))
    return new_notebook(cells=cells)


def body(code: str) -> str:
    return "\n".join("    " + line for line in textwrap.dedent(code).splitlines())


LABELS = os.path.join(datasets.default_root(), "MNIST", "raw", "t10k-labels-idx1-ubyte")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name → (notebook, the graded functions it breaks, a phrase its results must name)
FIXTURES = {
    "infinite_loop": (notebook(predict=body("while True:\n    pass")), {"predict"}, "took longer than"),
    "sleeps_forever": (notebook(predict=body("import time\ntime.sleep(10_000)")), {"predict"}, "took longer than"),
    "memory_bomb": (notebook(predict=body("return bytearray(1 << 40)")),
                    {"predict"}, "MemoryError"),
    "fork_bomb": (notebook(predict=body("import os\nwhile True:\n    os.fork()")), {"predict"}, "predict"),
    "floods_output": (notebook(predict=body("while True:\n    print('x' * 100_000)")), {"predict"}, "took longer than"),
    "exit_at_import": (notebook(prelude="class Config:\n    raise SystemExit('bye')"), set(FUNCTIONS), "SystemExit"),
    "os_exit_inside": (notebook(predict=body("import os\nos._exit(0)")), {"predict"}, "exited with code 0"),
    "sys_exit_inside": (notebook(predict=body("import sys\nsys.exit('bye')")), {"predict"}, "SystemExit"),
    "reads_reference": (notebook(predict=body(f"open({os.path.join(REPO, 'reference', 'perceptron.py')!r}).read()\n"
                                              "return forward(params, x).argmax(1)")), {"predict"}, "FileNotFoundError"),
    "reads_classmate": (notebook(predict=body(f"open('../../honest/{A}/{A}.ipynb').read()\n"
                                              "return forward(params, x).argmax(1)")), {"predict"}, "FileNotFoundError"),
    "reads_test_labels": (notebook(predict=body(f"open({LABELS!r}, 'rb').read()\n"
                                                "return forward(params, x).argmax(1)")), {"predict"}, "FileNotFoundError"),
    "opens_socket": (notebook(predict=body("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n"
                                           "return forward(params, x).argmax(1)")), {"predict"}, "predict raised"),
    "monkeypatches": (notebook(prelude="import numpy, sys\nclass Patch:\n    numpy.allclose = lambda *a, **k: True\n"
                                       "    torch.allclose = lambda *a, **k: True\n    torch.equal = lambda *a, **k: True\n"
                                       "    sys.modules['autograder'] = sys.modules['tpcheck'] = None",
                               predict=body("return torch.zeros(len(x), dtype=torch.int64)")), {"predict"}, "predict said class"),
    "tensor_subclass": (notebook(prelude="class Always(torch.Tensor):\n    def __eq__(self, other):\n        return True",
                                 predict=body("return forward(params, x).argmax(1).as_subclass(Always)")),
                        {"predict"}, "Always"),
    "lying_eq": (notebook(predict=body("class Liar:\n    shape = dtype = None\n    def __eq__(self, other):\n"
                                       "        return True\nreturn Liar()")), {"predict"}, "Liar"),
    "returns_nan": (notebook(predict=body("return torch.full((len(x),), float('nan'))")), {"predict"}, "predict"),
    "wrong_dtype": (notebook(predict=body("return forward(params, x).argmax(1).float()")), {"predict"}, "int64"),
    "wrong_shape": (notebook(predict=body("return forward(params, x).argmax(1)[:, None]")), {"predict"}, "shape"),
    "raises_everywhere": (new_notebook(cells=[new_code_cell("import torch")] + [
        new_code_cell(f"def {f}(*args):\n    raise RuntimeError('nope')") for f in FUNCTIONS]), set(FUNCTIONS), "RuntimeError"),
    "syntax_error_in_a_cell": (notebook(broken_cell="predict"), {"predict"}, "not found in your notebook"),
    "deleted_test_cells": (notebook(drop_tests=True), set(), ""),
    "fake_success_output": (notebook(prelude="class Banner:\n    print('ALL TESTS PASSED — 12/12', flush=True)",
                                     predict=body("print('predict: PASSED')\nreturn torch.zeros(len(x), dtype=torch.int64)")),
                            {"predict"}, "predict said class"),
}
HONEST_STUDENTS = ("honest", "honest_too")


def expected_points(broken: set[str]) -> float:
    """Full marks minus the checks of the broken functions and, when the training run uses one
    of them, its points; nothing at all when every function is broken."""
    if broken >= set(FUNCTIONS):
        return 0.0
    lost = sum(c.points for c in SPEC.checks if c.function in broken)
    if broken & set(SPEC.threshold.uses):
        lost += SPEC.threshold.points
    return SPEC.max_points - lost




@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    honest_only, mixed = tmp_path_factory.mktemp("honest_only"), tmp_path_factory.mktemp("mixed")
    write_class(honest_only, {s: notebook() for s in HONEST_STUDENTS}, A)
    write_class(mixed, {**{s: notebook() for s in HONEST_STUDENTS}, **{k: v[0] for k, v in FIXTURES.items()}}, A)
    grade_class(honest_only / "submitted", [A], honest_only / "out", jobs=2, limits=LIMITS, progress=False)
    results = grade_class(mixed / "submitted", [A], mixed / "out", jobs=2, limits=LIMITS, progress=False)
    return rows(honest_only / "out"), rows(mixed / "out"), {g.student: g for g in results}


def test_at_least_fifteen_fixtures():
    assert len(FIXTURES) >= 15


def test_class_finishes_and_honest_grades_do_not_change(graded):
    alone, mixed, _ = graded
    assert set(mixed) == set(FIXTURES) | set(HONEST_STUDENTS)
    for student in HONEST_STUDENTS:
        assert mixed[student] == alone[student]
        assert float(mixed[student]["score"]) == SPEC.max_points


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_submission_earns_exactly_its_honest_points(graded, name):
    _, _, results = graded
    g = results[name]
    _, broken, reason = FIXTURES[name]
    lost = {r.check_id: r.message for r in g.results if not r.passed}
    assert g.score == expected_points(broken), lost
    everything = " ".join([g.error, *g.notes, *(r.message for r in g.results)])
    assert reason in everything, everything
