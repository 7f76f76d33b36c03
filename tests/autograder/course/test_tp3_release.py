"""The tp3_deep assignment: its students' checks (example bank of training steps, init_params
properties), the typical bugs they catch, the notebook's points, and the notebook's code as the
grader's sandbox sees it (no tpcheck there)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from autograder import checks
from autograder.course import banks as bank_builder
from reference import tp3_deep as p3
from tpcheck import bank, student
from tpcheck.boundary import Optimizer, Trainable

ROOT = Path(__file__).resolve().parents[3]
A = "tp3_deep"
SOURCE = ROOT / "assignments" / "source" / A / f"{A}.ipynb"


@pytest.fixture(scope="module")
def tp3_bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "examples.npz"
    return bank.write(path, A, bank_builder.build(checks.load(A)))


def test_bank_holds_training_steps_as_plain_arrays(tp3_bank):
    """Do the train_step cases round-trip (stale gradients, optimizer, keywords, parameters after the
    step) without pickle, and cover depths 1-4, every activation, optimizer and loss?"""
    with np.load(tp3_bank, allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)
    name, cases = bank.read(tp3_bank)
    assert name == A and set(cases) == {"forward", "train_step"}
    steps = cases["train_step"]
    for case in steps:
        params, opt = case["args"][0], case["args"][1]
        assert all(isinstance(v, Trainable) and v.stale_grad is not None for v in params.values())
        assert isinstance(opt, Optimizer) and isinstance(case["expected"], float)
        assert set(case["kwargs"]) == {"activation", "loss"} and set(case["after"][0]) == set(params)
    assert {len(c["args"][0]) // 2 for c in steps} == {1, 2, 3, 4}
    assert {c["kwargs"]["activation"] for c in steps} == set(p3.ACTIVATIONS)
    assert {c["args"][1].name for c in steps} == set(p3.OPTIMIZERS)
    assert {c["kwargs"]["loss"] for c in steps} == set(p3.LOSSES)
    assert {len(c["args"][0]) // 2 for c in cases["forward"]} == {1, 2, 3, 4}


@pytest.mark.parametrize("function", ["init_params", "forward", "train_step"])
def test_reference_passes_the_visible_checks(function, tp3_bank):
    report = student.report(function, vars(p3), bank=tp3_bank)
    assert report.passed, str(report)


# --- typical bugs, as the visible checks show them ----------------------------------------------


def activation_after_last(params, x, activation="relu"):
    return p3.activation_fn(activation)(p3.forward(params, x, activation))


def first_layer_only(params, x, activation="relu"):
    return x @ params["W1"] + params["b1"]


def no_zero_grad(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.loss_fn(loss)(p3.forward(params, x, activation), labels)
    value.backward()
    optimizer.step()
    return value.item()


def always_cross_entropy(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.cross_entropy(p3.forward(params, x, activation), labels)
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    return value.item()


def returns_the_tensor(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.loss_fn(loss)(p3.forward(params, x, activation), labels)
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    return value


def biases_without_grad(sizes, **kw):
    return {k: v.detach() if k.startswith("b") else v for k, v in p3.init_params(sizes, **kw).items()}


def weights_not_leaves(sizes, **kw):
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = torch.randn(i, o, requires_grad=True) * (2 / i) ** 0.5
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def constant_weights(sizes, **kw):
    return {k: torch.full_like(v.detach(), 0.01).requires_grad_() for k, v in p3.init_params(sizes).items()}


def nn_parameters(sizes, **kw):
    return {k: torch.nn.Parameter(v.detach()) for k, v in p3.init_params(sizes).items()}


def two_layers_at_most(sizes, **kw):
    return {k: v for k, v in p3.init_params(sizes).items() if k[1:] in ("1", "2")}


BUGS = [
    ("forward", activation_after_last, "result differs from the expected value"),
    ("forward", first_layer_only, "the result has shape"),
    ("train_step", no_zero_grad, "call optimizer.zero_grad() before loss.backward()"),
    ("train_step", always_cross_entropy, "W1 after the call differs from the expected value"),
    ("train_step", returns_the_tensor, "should be a Python float"),
    ("init_params", biases_without_grad, "b1 should be a leaf tensor with requires_grad=True"),
    ("init_params", weights_not_leaves, "W1 should be a leaf tensor with requires_grad=True"),
    ("init_params", constant_weights, "start with identical weights"),
    ("init_params", nn_parameters, "should be a plain torch.Tensor"),
    ("init_params", two_layers_at_most, "expected a dict with the keys W1, b1, W2, b2, W3, b3"),
]


@pytest.mark.parametrize("function,bug,message", BUGS, ids=[b[1].__name__ for b in BUGS])
def test_visible_check_names_the_bug(function, bug, message, tp3_bank):
    """Does the student's one-line check fail, say what is wrong, and show the input (bank cases)?"""
    report = student.report(function, {**vars(p3), function: bug}, bank=tp3_bank)
    text = str(report)
    assert not report.passed and message in text, text
    if function in ("forward", "train_step"):  # the input, one argument a line, each tensor's shape
        assert "input:\n      params:\n        W1: shape (" in text
    if function == "train_step":
        assert "torch.optim." in text and "activation" in text


# --- the notebook ------------------------------------------------------------------------------


def test_test_cells_carry_the_grader_points():
    """Does plain nbgrader give the same total as `autograder grade`: each test cell's points are
    those of the checks of its function (test_train: the accuracy threshold)?"""
    spec = checks.load(A)
    nb = nbformat.read(str(SOURCE), as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"][len("test_"):]: c.metadata["nbgrader"]["points"]
             for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    expected = {f: sum(c.points for c in spec.checks if c.function == f) for f in spec.functions}
    threshold = getattr(spec, "threshold", None)
    if threshold is not None:
        expected["train"] = threshold.points
    assert cells == expected
    for name in cells:
        source = next(c.source for c in nb.cells if c.get("id") == f"test-{name.replace('_', '-')}")
        assert f'grade("{A}", "{name}", globals())' in source and source.endswith('### END HIDDEN TESTS')
        assert f'\ncheck("{name}")\n' in source


SANDBOX_LIKE = textwrap.dedent("""
    import json, sys
    import nbformat, torch
    from autograder import checks
    from autograder.stages.run_checks import run_assignment
    from autograder.stages.extract import extract, read_notebook
    from autograder.submission import InProcess
    from reference import tp3_deep as deep
    sys.modules["tpcheck.data"] = None  # the graded code must not need the students' data loader

    spec = checks.load("tp3_deep")
    ex = extract(read_notebook(sys.argv[1]), spec.functions)
    namespace = {"__name__": "__submission__"}
    exec(compile(ex.code, "<submission>", "exec"), namespace)
    logits, labels = torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])
    same_mse = torch.allclose(namespace["mse"](logits, labels), deep.mse(logits, labels))
    results = run_assignment(spec, InProcess(namespace, source=ex.code), "dev")
    print(json.dumps({"missing": ex.missing, "same_mse": same_mse,
                      "failed": [(r.check_id, r.message) for r in results if not r.passed]}))
""")


def test_solution_notebook_gets_full_marks_without_tpcheck():
    """The code the grader extracts from the solution notebook, run where tpcheck cannot be
    imported (the sandbox): every check passes, the loss "mse" included (it must not need
    tpcheck.data)."""
    done = subprocess.run([sys.executable, "-c", SANDBOX_LIKE, str(SOURCE)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"missing": [], "same_mse": True, "failed": []}
