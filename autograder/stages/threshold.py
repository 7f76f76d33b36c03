"""The accuracy-threshold stage: train with the student's functions, measure in the grader.

For an assignment with a :class:`Threshold`, the grader loads the dataset, draws the initial
parameters with the reference's initialisation, and sends the training images and labels, the
test **images** (never their labels) and a fixed budget to the submission, which trains with
its own functions (:mod:`tpworker.recipes`) and returns test predictions after every epoch.
The grader checks their type, shape and range, computes the accuracy after each epoch, the
confusion matrix of the last one, and compares the final accuracy with the assignment's
minimum for that dataset. Nothing the student's code prints is read.

The recipe also returns its predictions before the first update: from the grader's initial
parameters they are near chance (at most :data:`START_AT_MOST`, or three times chance), and the
accuracy must move over the epochs; a run that starts already trained, or never changes, used
something else than the parameters it was given and fails with that reason. (Parts 1–3's
recipes run in the sandbox's driver, apart from the student's process, and call the student's
functions through the wire: replacing the recipe from the notebook is not possible; the check
catches a function that answers with a classifier of its own from the first call on.)

The run's points are earned only when every check of the functions it uses passed: a run that
reaches the threshold by other means (a model the part forbids, a hijacked training loop) earns
nothing (the message names the functions that block it: those that are wrong, not the
ones only "not judged" because they use them), and an honest submission whose functions pass
their checks reaches it by construction of the budgets, which ``tests/test_threshold.py`` verifies with the reference.

A student's function that raises in the middle of the run stops it with a message that names
that function (the one whose definition holds the line that raised,
:meth:`autograder.stages.sandbox.Sandbox.function_at`) and its cell and line
(:mod:`autograder.stages.sourcemap`).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from autograder.checks.spec import Threshold
from autograder.messages import say
from autograder.results import DEFERRED, FAILED, NOT_IMPLEMENTED, PASSED, CheckResult
from autograder.stages.blame import gate_message
from autograder.submission import StudentRaised

DEFAULT_DATASET = "mnist-sample"
START_AT_MOST = 0.3  # accuracy before the first update: the grader's initial parameters are near chance
FUNCTION = "train"  # the ``function`` of a threshold's CheckResult; its check id is <assignment>.train.threshold


@dataclass(frozen=True)
class Data:
    """A dataset as the threshold stage sends it: flat uint8 images, labels kept apart."""

    name: str
    x_train: torch.Tensor  # (N, D) uint8
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor  # (M, D) uint8
    y_test: torch.Tensor  # (M,) int64: stays in the grader
    classes: tuple[str, ...]


@functools.lru_cache(maxsize=2)
def load(dataset: str, root: str | None = None) -> Data:
    """The dataset once per grading process (tpcheck.data's loader: real files, offline)."""
    from tpcheck import data as datasets

    ds = datasets.load(dataset, root, seed=0, raw=True)  # uint8 images
    flat = lambda images: images.reshape(len(images), -1).contiguous()  # noqa: E731
    return Data(dataset, flat(ds.train.images), ds.train.labels, flat(ds.test.images), ds.test.labels, tuple(ds.classes))


def run_threshold(assignment_name: str, threshold: Threshold, submission: Any, results: list[CheckResult], *,
                  dataset: str = DEFAULT_DATASET, data_root: str | None = None,
                  device: str = "cpu") -> CheckResult:
    """Train through ``submission.train`` and judge the accuracy; never raises for the
    student's faults. ``results`` are the submission's check results so far (the gate)."""
    base = dict(check_id=f"{assignment_name}.{FUNCTION}.threshold", title=threshold.title, function=FUNCTION,
                max_points=threshold.points, hidden=threshold.hidden)

    def result(status: str, message: str, **details: Any) -> CheckResult:
        return CheckResult(status=status, points=threshold.points if status == PASSED else 0.0, message=message,
                           details=details, **base)

    if threshold.device == "cuda" and device != "cuda":  # deferred before the dataset matters:
        # a GPU-only run may have no budget for the CPU grader's dataset (tp4_cnn: cifar10 only)
        return result(DEFERRED, say("threshold.needs_gpu"), dataset=dataset,
                      threshold=threshold.minimum.get(dataset))
    if dataset not in threshold.budgets:
        raise ValueError(f"{assignment_name} has no training budget for {dataset!r} "
                         f"(it has: {', '.join(sorted(threshold.budgets))})")
    budget = dict(threshold.budgets[dataset])
    minimum = threshold.minimum[dataset]
    gate = [r for r in results if r.function in threshold.uses and not r.passed]
    if gate:
        # the blame rule: name the functions that are wrong, not those only not judged because of them
        message, failing = gate_message(threshold.uses, gate)
        # only stubs in the way (a part not started): "not implemented", not a failure of the run
        status = NOT_IMPLEMENTED if all(r.status == NOT_IMPLEMENTED for r in gate) else FAILED
        return result(status, message, dataset=dataset, threshold=minimum, not_run=failing)
    data = load(dataset, data_root)
    budget["classes"] = len(data.classes)
    params = threshold.init(data.x_train.shape[1], len(data.classes), budget)
    payload = {"x_train": data.x_train, "y_train": data.y_train, "x_test": data.x_test, "params": params}
    start = time.perf_counter()
    try:
        output = submission.train(threshold.recipe, payload, budget, threshold.seconds)
    except StudentRaised as e:
        who = say("threshold.who", function=e.function) if e.function != "train" else ""  # the function at the line
        return result(FAILED, say("threshold.stopped", who=who, type=e.exc_type, text=e.text, at=e.at), dataset=dataset,
                      threshold=minimum, budget=_shown(budget))
    seconds = time.perf_counter() - start
    try:
        predictions, losses = _checked(output, int(budget["epochs"]), len(data.y_test), len(data.classes))
        (before,), _ = _checked({"predictions": output["before"][None]} if isinstance(output.get("before"), torch.Tensor)
                                else {}, 1, len(data.y_test), len(data.classes))
    except ValueError as e:
        return result(FAILED, say("threshold.unusable", error=e), dataset=dataset,
                      threshold=minimum, budget=_shown(budget))
    accuracies = [round(float((p == data.y_test).double().mean()), 6) for p in predictions]
    initial = round(float((before == data.y_test).double().mean()), 6)
    final = accuracies[-1]
    chance = max(START_AT_MOST, 3.0 / len(data.classes))
    # never moving over two epochs or more is no honest run's (one epoch of a tiny smoke set may not move)
    never_moved = len(accuracies) >= 2 and all(a == initial for a in accuracies)
    if initial > chance or never_moved:
        why = (say("threshold.already", initial=initial, chance=1 / len(data.classes)) if initial > chance
               else say("threshold.never_moved", initial=initial))
        return result(FAILED, say("threshold.not_trained", why=why), dataset=dataset, accuracy=final, threshold=minimum,
                      initial_accuracy=initial, test_accuracy=accuracies, budget=_shown(budget))
    details = dict(dataset=dataset, accuracy=final, threshold=minimum,
                   epochs=list(range(1, len(accuracies) + 1)), test_accuracy=accuracies, train_loss=losses,
                   initial_accuracy=initial,
                   confusion=confusion(predictions[-1], data.y_test, len(data.classes)),
                   classes=list(data.classes), seconds=round(seconds, 2), budget=_shown(budget))
    verdict = say("threshold.verdict", final=final, dataset=dataset, epochs=len(accuracies), minimum=minimum)
    return result(PASSED if final >= minimum else FAILED, verdict, **details)


def _checked(output: Any, epochs: int, n_test: int, classes: int) -> tuple[list[torch.Tensor], list[float]]:
    """The predictions (one (M,) tensor per epoch) and losses of an untrusted answer."""
    if not isinstance(output, dict) or "predictions" not in output:
        raise ValueError(f"expected a dict with 'predictions', got {type(output).__name__}")
    p = output["predictions"]
    if type(p) is not torch.Tensor or p.dtype != torch.int64 or tuple(p.shape) != (epochs, n_test):
        shown = f"{type(p).__name__} {tuple(p.shape)} {p.dtype}" if isinstance(p, torch.Tensor) else type(p).__name__
        raise ValueError(f"predictions should be an int64 tensor of shape ({epochs}, {n_test}), got {shown}")
    if n_test and (int(p.min()) < 0 or int(p.max()) >= classes):
        raise ValueError(f"predicted classes must lie in [0, {classes}), got values from {int(p.min())} to {int(p.max())}")
    raw = output.get("train_loss")
    losses = [math.nan] * epochs
    if isinstance(raw, (list, tuple)) and len(raw) == epochs:
        losses = [float(v) if type(v) in (int, float) else math.nan for v in raw]
    return list(p), [v if math.isfinite(v) else None for v in losses]


def confusion(predictions: torch.Tensor, labels: torch.Tensor, classes: int) -> list[list[int]]:
    """Counts: rows are true classes, columns predicted ones."""
    counts = torch.bincount(labels * classes + predictions, minlength=classes * classes)
    return counts.reshape(classes, classes).tolist()


def _shown(budget: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in budget.items() if k != "classes"}
