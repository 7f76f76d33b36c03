"""The accuracy-threshold stage: budgets the reference meets, predictions judged by the grader."""

from __future__ import annotations

import importlib
import types

import pytest
import torch

from autograder import checks, registry
from autograder.results import DEFERRED, FAILED, NOT_IMPLEMENTED, PASSED
from autograder.stages import threshold
from autograder.stages.run_checks import run_check
from autograder.submission import InProcess
from reference import tp1_perceptron as perceptron
from reference import tp2_shallow as shallow
from reference import tp2b_modules as modules
from reference import tp3_deep as deep

REFERENCES = {"tp1_perceptron": perceptron, "tp2_shallow": shallow, "tp2b_modules": modules, "tp3_deep": deep}


def _gate(name: str, module) -> list:
    spec = checks.load(name)
    submission = InProcess(module)
    return [run_check(c, submission, spec) for c in spec.checks if c.function in spec.threshold.uses]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_meets_the_goal_on_mnist_sample(name):
    """Does the instructor's solution, trained by the grading recipe, reach the student goal?"""
    spec = checks.load(name)
    result = threshold.run_threshold(name, spec.threshold, InProcess(REFERENCES[name]), _gate(name, REFERENCES[name]))
    assert result.status == PASSED, result.message
    assert result.details["accuracy"] >= spec.threshold.minimum["mnist-sample"] + 0.03  # a documented margin
    assert result.details["initial_accuracy"] <= 0.2  # the given parameters start near chance (≤ 0.3 is required)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_meets_the_goal_on_full_mnist(name, mnist_root):
    spec = checks.load(name)
    result = threshold.run_threshold(name, spec.threshold, InProcess(REFERENCES[name]), [],
                                     dataset="mnist", data_root=str(mnist_root))
    assert result.status == PASSED, result.message
    assert result.details["accuracy"] >= spec.threshold.minimum["mnist"] + 0.01


def test_students_training_check_names_the_same_functions():
    """Does check("train") name the functions the hidden threshold uses? (The threshold reads the
    part's TRAINING_USES; this guards the wiring: every registered assignment has its part.)"""
    for name in registry.NAMES:
        uses = set(checks.load(name).threshold.uses) - {"*"}
        part = importlib.import_module(registry.get(name).visible_module)
        assert set(part.TRAINING_USES) == uses, name


def _perceptron_namespace(**overrides):
    ns = {f: getattr(perceptron, f) for f in ("forward", "update", "predict", "init_params")}
    ns.update(overrides)
    return ns


def test_a_function_that_degrades_over_time_fails_the_run():
    """Per-call checks pass an update that stops learning after a while; the training run does not."""
    calls = {"n": 0}

    def update(params, x, t, lr):
        calls["n"] += 1
        if calls["n"] > 20:
            return {k: torch.zeros_like(v) for k, v in params.items()}
        return perceptron.update(params, x, t, lr)

    spec = checks.load("tp1_perceptron")
    result = threshold.run_threshold("tp1_perceptron", spec.threshold, InProcess(_perceptron_namespace(update=update)), [])
    assert result.status == FAILED
    assert result.message.startswith("test accuracy 0.") and "needed 0.80" in result.message
    assert result.details["accuracy"] < 0.5


def test_training_is_not_run_while_its_functions_fail_their_checks():
    spec = checks.load("tp1_perceptron")
    bad = types.SimpleNamespace(**_perceptron_namespace(predict=lambda params, x: torch.zeros(len(x), dtype=torch.int64)))
    gate = [run_check(c, InProcess(vars(bad)), spec) for c in spec.checks if c.function in spec.threshold.uses]
    result = threshold.run_threshold("tp1_perceptron", spec.threshold, InProcess(vars(bad)), gate)
    assert result.status == FAILED and result.message == "not run: the training needs predict to pass every check first"
    assert result.details["not_run"] == ["predict"] and result.points == 0


def test_a_run_blocked_only_by_stubs_is_not_implemented_not_failed():
    """A part not started yet does not count as a failed training run in the class report."""
    spec = checks.load("tp1_perceptron")

    def stub(*args):
        raise NotImplementedError()

    for overrides, status in (({"predict": stub}, NOT_IMPLEMENTED), ({"predict": stub, "update": lambda *a: None}, FAILED)):
        namespace = _perceptron_namespace(**overrides)
        gate = [run_check(c, InProcess(namespace), spec, "dev") for c in spec.checks if c.function in spec.threshold.uses]
        result = threshold.run_threshold("tp1_perceptron", spec.threshold, InProcess(namespace), gate)
        assert result.status == status and result.message.startswith("not run:") and result.points == 0


class _Answers:
    """A submission that returns a fixed answer from its training run."""

    def __init__(self, answer):
        self.answer = answer

    def train(self, recipe, data, budget, seconds):
        return self.answer


@pytest.mark.parametrize("answer, why", [
    (None, "expected a dict with 'predictions', got NoneType"),
    ({"predictions": torch.zeros(10, 1000)}, "predictions should be an int64 tensor of shape (10, 1000)"),
    ({"predictions": torch.zeros(9, 1000, dtype=torch.int64)}, "shape (10, 1000), got Tensor (9, 1000)"),
    ({"predictions": torch.full((10, 1000), 10)}, "must lie in [0, 10), got values from 10 to 10"),
    ({"predictions": torch.nn.Parameter(torch.zeros(10, 1000), requires_grad=False)}, "got Parameter"),
])
def test_untrusted_predictions_are_checked(answer, why):
    spec = checks.load("tp1_perceptron")
    result = threshold.run_threshold("tp1_perceptron", spec.threshold, _Answers(answer), [])
    assert result.status == FAILED and why in result.message, result.message


def test_losses_that_are_not_numbers_are_shown_as_missing():
    data = threshold.load("mnist-sample")
    labels = data.y_test.repeat(10, 1)  # a perfect answer (as if the labels had leaked: they cannot)
    spec = checks.load("tp1_perceptron")
    result = threshold.run_threshold("tp1_perceptron", spec.threshold,
                                     _Answers({"predictions": labels, "before": torch.zeros(1000, dtype=torch.int64),
                                               "train_loss": ["x", float("nan")] + [1.0] * 8}), [])
    assert result.status == PASSED and result.details["accuracy"] == 1.0
    assert result.details["train_loss"] == [None, None] + [1.0] * 8
    assert result.details["confusion"][3][3] == int((data.y_test == 3).sum())


@pytest.mark.parametrize("before, after, why", [
    ("labels", "labels", "predictions before the first update were already 1.0000 accurate"),
    ("zeros", "zeros", "the accuracy never moved from"),
    (None, "labels", "expected a dict with 'predictions'"),
])
def test_a_run_that_did_not_train_the_given_parameters_fails(before, after, why):
    """A classifier of its own answering from the first call (a 1-nearest-neighbour forward)
    starts already accurate; predictions that never move did not train anything."""
    data = threshold.load("mnist-sample")
    made = {"labels": data.y_test, "zeros": torch.zeros(1000, dtype=torch.int64), None: None}
    answer = {"predictions": made[after].repeat(10, 1), "train_loss": [1.0] * 10}
    if before is not None:
        answer["before"] = made[before]
    spec = checks.load("tp1_perceptron")
    result = threshold.run_threshold("tp1_perceptron", spec.threshold, _Answers(answer), [])
    assert result.status == FAILED and result.points == 0 and why in result.message, result.message
    if before is not None:
        assert result.message.startswith("the training run did not start from the given parameters")


def test_a_run_that_needs_a_gpu_is_deferred_on_cpu():
    import dataclasses

    spec = dataclasses.replace(checks.load("tp1_perceptron").threshold, device="cuda")
    result = threshold.run_threshold("tp1_perceptron", spec, _Answers(None), [], device="cpu")
    assert result.status == DEFERRED and result.message.startswith("needs GPU") and result.points == 0


def test_unknown_dataset_is_the_graders_error():
    spec = checks.load("tp1_perceptron")
    with pytest.raises(ValueError, match="no training budget for 'cifar10'"):
        threshold.run_threshold("tp1_perceptron", spec.threshold, _Answers(None), [], dataset="cifar10")
