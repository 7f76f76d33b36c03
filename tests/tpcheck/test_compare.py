"""Every wrong output named, and shape bugs reported as shapes (never a relative error of inf)."""

from __future__ import annotations

import pytest
import torch

from autograder import checks
from autograder.stages.run_checks import run_check
from autograder.submission import InProcess
from reference import tp2_shallow as p2
from tpcheck.compare import Mismatch, compare_outputs
from tpcheck.parts import tp2_shallow as part2

EXPECTED = {"dW1": torch.ones(3, 2), "db1": torch.ones(2), "dW2": torch.ones(2, 2), "db2": torch.ones(2)}


def test_every_wrong_key_is_named_not_only_the_first():
    got = {**EXPECTED, "db1": torch.zeros(2), "db2": torch.full((2,), 3.0)}
    with pytest.raises(Mismatch) as m:
        compare_outputs(got, EXPECTED)
    assert m.value.message.startswith("db1 and db2 are wrong: db1 differs"), m.value.message
    assert "; db2 differs" in m.value.message
    assert m.value.details["wrong"] == ["db1", "db2"]


def test_one_wrong_key_keeps_its_own_message():
    with pytest.raises(Mismatch) as m:
        compare_outputs({**EXPECTED, "dW2": torch.zeros(2, 2)}, EXPECTED)
    assert m.value.message.startswith("dW2 differs from the expected value") and "wrong" not in m.value.details


def test_a_shape_bug_and_a_value_bug_are_both_named():
    got = {**EXPECTED, "db1": torch.ones(1, 2), "dW1": torch.zeros(3, 2)}
    with pytest.raises(Mismatch) as m:
        compare_outputs(got, EXPECTED)
    assert "db1 has shape (1, 2), expected (2,)" in m.value.message and "dW1 differs" in m.value.message
    assert "inf" not in m.value.message


TRUE_GRADIENTS = p2.backward  # a name the API scan of the mutants' source does not flag


def _backward_keepdim(params, cache, t):
    grads = TRUE_GRADIENTS(params, cache, t)
    return {**grads, "b1": grads["b1"][None], "b2": grads["b2"][None]}  # sum(0, keepdim=True)


def _backward_bias_bug(params, cache, t):
    grads = TRUE_GRADIENTS(params, cache, t)
    return {**grads, "b1": grads["b1"] + 1, "b2": grads["b2"] + 1}


def _tp2(name: str, overrides: dict):
    assignment = checks.load("tp2_shallow")
    check = next(c for c in assignment.checks if f"{c.function}.{c.name}" == name)
    return run_check(check, InProcess({**vars(p2), "TRUE_GRADIENTS": TRUE_GRADIENTS, **overrides}), assignment, "dev")


def test_finite_differences_report_shapes_not_an_infinite_relative_error():
    r = _tp2("backward.finite_differences", {"backward": _backward_keepdim})
    assert "b1 has shape (1," in r.message and "b2 has shape (1," in r.message, r.message
    assert "inf" not in r.message


def test_backward_with_a_bias_bug_in_both_layers_names_both():
    r = _tp2("backward.matches_reference", {"backward": _backward_bias_bug})
    assert "the gradient for b1 and the gradient for b2 are wrong" in r.message, r.message


def test_the_visible_gradient_check_reports_shapes_too():
    with pytest.raises(Mismatch) as m:
        part2._visible_gradcheck({**vars(p2), "backward": _backward_keepdim})
    assert "shape" in m.value.message and "inf" not in m.value.message
