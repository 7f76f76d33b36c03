"""The check framework itself: determinism, hostile outputs, forbidden APIs, readable counterexamples,
and the students' side (example bank, finite differences) without the reference."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from autograder import checks, registry
from autograder.course import banks as bank_builder
from autograder.course.validate import stub_namespace
from autograder.results import FAILED, NOT_IMPLEMENTED
from autograder.stages.run_checks import run_assignment, run_check
from autograder.submission import InProcess
from reference import tp1_perceptron as p1
from reference import tp2_shallow as p2
from tpcheck import bank, student
from tpcheck.forbidden import NO_AUTOGRAD, NO_AUTOGRAD_NO_NN, scan_source


def _check(assignment, key):
    return next(c for c in assignment.checks if f"{c.function}.{c.name}" == key)


@pytest.fixture(scope="module")
def tp1():
    return checks.load("tp1_perceptron")


def bias_sign(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def test_grading_twice_gives_identical_results(tp1):
    """Does the grading profile give the same results, messages and counterexamples every time?"""
    sub = InProcess({**vars(p1), "update": bias_sign})
    first = [r.to_json() for r in run_assignment(tp1, sub, "grading")]
    second = [r.to_json() for r in run_assignment(tp1, sub, "grading")]
    assert first == second
    assert any(r["status"] == FAILED for r in first)


def test_counterexample_is_minimal_and_readable(tp1):
    """Is a failure shrunk to the smallest input, shown as shapes and rounded values?"""
    r = run_check(_check(tp1, "update.single_example"), InProcess({**vars(p1), "update": bias_sign}), tp1)
    ce = r.counterexample
    assert ce["x"] == {"shape": [1, 1], "dtype": "float32", "values": [[0.0]]}
    assert ce["params"]["W"]["values"] == [[0.0, 0.0]] and ce["t"]["values"] in ([[1.0, 0.0]], [[0.0, 1.0]])
    assert "b differs from the expected value" in r.message and "expected 0.1, got -0.1" in r.message


class Sneaky(torch.Tensor):
    """A tensor subclass that claims equality with anything."""

    def __eq__(self, other):
        return True


class Liar:
    shape = (1, 2)
    dtype = torch.float32

    def __eq__(self, other):
        return True


@pytest.mark.parametrize("make", [lambda y: y.as_subclass(Sneaky), lambda y: Liar(), lambda y: y.numpy()])
def test_outputs_that_are_not_plain_tensors_get_nothing(tp1, make):
    """Does a tensor subclass, an object with a lying __eq__ or a numpy array earn no points?"""
    forward = lambda params, x: make(p1.forward(params, x))  # noqa: E731
    r = run_check(_check(tp1, "forward.matches_reference"), InProcess({**vars(p1), "forward": forward}), tp1, "dev")
    assert r.status == FAILED and r.points == 0 and "should be a torch.Tensor" in r.message


def test_nan_outputs_are_named(tp1):
    forward = lambda params, x: p1.forward(params, x) * float("nan")  # noqa: E731
    r = run_check(_check(tp1, "forward.matches_reference"), InProcess({**vars(p1), "forward": forward}), tp1, "dev")
    assert r.status == FAILED and "NaN or inf" in r.message


def test_missing_function_is_named(tp1):
    namespace = {k: v for k, v in vars(p1).items() if k != "update"}
    r = run_check(_check(tp1, "update.matches_reference"), InProcess(namespace), tp1, "dev")
    assert r.status == FAILED and "function update not found" in r.message


def test_stubs_report_not_implemented(tp1):
    results = run_assignment(tp1, InProcess(stub_namespace(tp1), source=""), "dev")
    assert {r.status for r in results if r.function != "*"} == {NOT_IMPLEMENTED}
    assert all(r.message.endswith("is not implemented yet") for r in results if r.function != "*")


def test_dynamic_detection_catches_a_helper(tp1):
    """Is torch.nn used through a helper (clean graded source) still caught while it runs?"""
    def helper(x, W, b):
        return torch.nn.functional.linear(x, W.T, b)

    forward = lambda params, x: helper(x, params["W"], params["b"])  # noqa: E731
    r = run_check(_check(tp1, "forward.matches_reference"), InProcess({**vars(p1), "forward": forward}), tp1, "dev")
    assert r.status == FAILED and "torch.nn.functional.linear" in r.message


@pytest.mark.parametrize("code,what", [
    ("import torch.nn as nn\nlayer = nn.Linear(3, 2)", "torch.nn"),
    ("from torch import nn\nnn.Linear(3, 2)", "torch.nn"),
    ("from torch import autograd\ng = autograd.grad(y, x)", "torch.autograd"),
    ("import torch\ng = torch.autograd.grad(y, [w])", "torch.autograd.grad"),
    ("import torch.nn.functional as F\ny = F.linear(x, w)", "torch.nn.functional"),
    ("loss.backward()", ".backward"),
    ("w = torch.zeros(3, requires_grad=True)", "requires_grad="),
    ("w.requires_grad_()", ".requires_grad_"),
    ("import torch\nmod = getattr(torch, 'autograd')", "getattr('autograd')"),
    ("from torch.func import grad", "torch.func.grad"),
])
def test_static_scan_finds_forbidden_apis(code, what):
    """Are imports, aliases, attribute chains, methods, keywords and getattr tricks all found?"""
    found = scan_source(code, NO_AUTOGRAD_NO_NN)
    assert found and any(what in v.what for v in found), found
    assert found[0].line >= 1 and found[0].code


@pytest.mark.parametrize("code", [
    "import torch\nW = torch.nn.init.uniform_(torch.empty(3, 2))",
    "import torch\ny = x @ W + b\nh = torch.sigmoid(y)",
    "grads = backward(params, cache, t)",  # the notebook's own backward, called by name
    "w = torch.zeros(3, requires_grad=False)",
])
def test_static_scan_allows_legitimate_code(code):
    assert scan_source(code, NO_AUTOGRAD_NO_NN) == []


def test_policy_can_allow_nn():
    """Can a cohort allow torch.nn in Part 2 while autograd stays forbidden?"""
    assert scan_source("import torch.nn as nn\nnn.Sigmoid()", NO_AUTOGRAD) == []
    assert scan_source("loss.backward()", NO_AUTOGRAD)


# --- the students' side -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("banks")
    return {name: bank.write(folder / f"{name}.npz", name, bank_builder.build(checks.load(name))) for name in registry.NAMES}


def test_bank_is_plain_arrays(banks):
    """Does the example bank load with allow_pickle=False, and round-trip its structure?"""
    for path in banks.values():
        with np.load(path, allow_pickle=False) as arrays:
            assert all(arrays[k].dtype != object for k in arrays.files)
    name, cases = bank.read(banks["tp2_shallow"])
    assert name == "tp2_shallow" and len(cases["backward"]) == 4
    args = cases["backward"][0]["args"]
    assert args[1].type_name == "ShallowCache" and set(args[0]) == {"W1", "b1", "W2", "b2"}


@pytest.mark.parametrize("name,module", [("tp1_perceptron", p1), ("tp2_shallow", p2)])
def test_reference_passes_student_checks(name, module, banks):
    for function in checks.load(name).functions:
        report = student.report(function, vars(module), bank=banks[name])
        assert report.passed, str(report)


def test_student_check_shows_a_counterexample(banks):
    namespace = {**vars(p2), "hidden_delta": lambda d2, W2, h: d2 @ W2.T}
    report = student.report("hidden_delta", namespace, bank=banks["tp2_shallow"])
    assert not report.passed and "differs from the expected value" in str(report) and "input:" in str(report)


def test_gradcheck_names_the_wrong_parameter(banks):
    def backward(params, cache, t):
        g = p2.backward(params, cache, t)
        return {**g, "b1": -g["b1"]}

    report = student.report("backward", {**vars(p2), "backward": backward}, bank=banks["tp2_shallow"])
    gradcheck = [l for l in report.lines if "finite differences" in l.what][0]
    assert not gradcheck.ok and "start with the gradient for b1" in gradcheck.detail


def test_student_checks_run_without_the_reference(banks, tmp_path):
    """Do the visible checks work in a process where `reference` cannot be imported?"""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["reference"] = None  # any import of the reference now fails
        from tpcheck import student
        def forward(params, x):
            raise NotImplementedError
        def update(params, x, t, lr):
            return {{"W": params["W"], "b": params["b"]}}
        print(student.report("forward", globals(), bank={str(banks['tp1_perceptron'])!r}))
        print(student.report("update", globals(), bank={str(banks['tp1_perceptron'])!r}))
        try:
            student.check("forward", bank={str(banks['tp1_perceptron'])!r})
        except student.NotImplementedYet as e:
            print("raised", e)
        assert not any(m == "reference" or m.startswith("reference.") or m.startswith("autograder.checks")
                       for m in sys.modules if sys.modules[m] is not None)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "forward: not implemented yet" in out.stdout
    assert "update: not implemented yet" in out.stdout  # calls the stub forward
    assert "raised forward: not implemented yet" in out.stdout


def test_validate_passes_on_the_reference_and_stubs():
    """Does `autograder validate` find the reference at full marks and every stub 'not implemented'?"""
    from autograder.course.validate import validate

    results, problems = validate(profile="dev", training=False)  # training: tests/autograder/course/test_validate.py
    assert problems == []
    assert {r.check_id.split(".")[0] for r in results} == set(registry.NAMES)


def test_a_cohort_may_allow_nn():
    """Does the policy come from the assignment's configuration, replaceable per cohort?"""
    from tpcheck.forbidden import NO_AUTOGRAD

    allowed = checks.load("tp2_shallow", policy=NO_AUTOGRAD)
    sigmoid = lambda a: torch.nn.functional.sigmoid(a)  # noqa: E731
    check = _check(allowed, "sigmoid.matches_reference")
    assert run_check(check, InProcess({**vars(p2), "sigmoid": sigmoid}), allowed, "dev").passed
    strict = checks.load("tp2_shallow")
    assert not run_check(check, InProcess({**vars(p2), "sigmoid": sigmoid}), strict, "dev").passed


def test_failed_student_check_raises_with_the_report(banks):
    """In a notebook, a failing visible check stops "Run all" with the report as its message."""
    namespace = {**vars(p2), "hidden_delta": lambda d2, W2, h: d2 @ W2.T}
    with pytest.raises(student.CheckFailed, match="hidden_delta: FAILED"):
        student.check("hidden_delta", namespace, bank=banks["tp2_shallow"])


def test_hidden_cell_helper_gives_nbgrader_the_points(capsys):
    """Does the hidden part of a test cell return the points the checks give (nbgrader's partial
    credit), naming each failed check, and swallow stderr (which nbgrader would count as a failure)?"""
    import sys
    import warnings

    from autograder.course.hidden import grade

    update_points = sum(c.points for c in checks.load("tp1_perceptron").checks if c.function == "update")
    assert grade("tp1_perceptron", "update", dict(vars(p1))) == update_points

    def noisy_bias_bug(params, x, t, lr):
        warnings.warn("a torch-like warning")
        print("a progress bar", file=sys.stderr)
        new = p1.update(params, x, t, lr)
        return {"W": new["W"], "b": 2 * params["b"] - new["b"]}  # the bias moves the wrong way

    capsys.readouterr()
    earned = grade("tp1_perceptron", "update", {**vars(p1), "update": noisy_bias_bug})
    out, err = capsys.readouterr()
    assert 0 < earned < update_points
    assert "✗ update applies Δw_ij" in out and "✓ update leaves its arguments unchanged" in out
    assert err == ""
