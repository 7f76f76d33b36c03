"""The graded training runs' budgets: one source for the grader and the notebooks' experiments.

The accuracy-threshold stage trains each part's model with the student's functions on a fixed
budget (:mod:`autograder.stages.threshold`, the recipes of :mod:`tpworker.recipes`); the
notebook's experiment cell trains with the same numbers, read here, so that what a student sees
there is what the grading run gives (a correct solution 0.94 in both, a known bug below in both)::

    from tpcheck.training import budget
    HP = budget("tp2_shallow", DATASET)   # epochs, batch size, η, its schedule, η per layer, seed

Each budget is a dict of plain numbers and strings: ``epochs``, ``batch_size``, ``lr`` (the peak
η), ``schedule`` with ``warmup`` (:func:`tpcheck.optim.learning_rate`), ``seed`` (the initial
parameters are drawn with ``torch.Generator().manual_seed(seed)``, the mini-batches with another
generator of the same seed), and per part: Part 2's ``hidden`` width and ``hidden_lr_scale`` (the
hidden layer's η is that many times the output layer's), Part 3's ``hidden`` widths,
``optimizer``, ``activation`` and ``loss``, its ``schedule`` (:data:`DEEP_SCHEDULE`, a
:class:`tpcheck.optim.Scheduler` stepped per mini-batch).
"""

from __future__ import annotations

import copy
from typing import Any

DEEP_SCHEDULE = "onecycle"  # Part 3's η schedule (tpcheck.optim.Scheduler), stepped per mini-batch

BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    # Reference with these budgets (tests/autograder/stages/test_threshold.py): 0.860 on mnist-sample, 0.863 on mnist
    "tp1_perceptron": {
        "mnist-sample": dict(epochs=10, batch_size=64, lr=0.03, schedule="linear", seed=0),
        "mnist": dict(epochs=2, batch_size=64, lr=0.03, schedule="linear", seed=0),
    },
    # 0.941 on mnist-sample, 0.964 on mnist
    "tp2_shallow": {
        "mnist-sample": dict(epochs=10, batch_size=32, lr=0.1, hidden=128, hidden_lr_scale=200.0,
                             schedule="cosine", warmup=0.2, seed=0),
        "mnist": dict(epochs=3, batch_size=64, lr=0.2, hidden=256, hidden_lr_scale=200.0,
                      schedule="cosine", warmup=0.2, seed=0),
    },
    # 0.943 on mnist-sample, 0.972 on mnist
    "tp3_deep": {
        "mnist-sample": dict(epochs=5, batch_size=64, lr=2e-3, hidden=[256, 256], optimizer="adam",
                             activation="relu", loss="cross_entropy", schedule=DEEP_SCHEDULE, seed=0),
        "mnist": dict(epochs=2, batch_size=256, lr=2e-3, hidden=[256, 256], optimizer="adam",
                      activation="relu", loss="cross_entropy", schedule=DEEP_SCHEDULE, seed=0),
    },
}


def budgets(assignment: str) -> dict[str, dict[str, Any]]:
    """Every dataset's budget of ``assignment`` (a copy)."""
    if assignment not in BUDGETS:
        raise KeyError(f"no graded training run for {assignment!r}: one of {', '.join(BUDGETS)}")
    return copy.deepcopy(BUDGETS[assignment])


def budget(assignment: str, dataset: str = "mnist-sample") -> dict[str, Any]:
    """The budget of the graded training run of ``assignment`` on ``dataset`` (a copy)."""
    every = budgets(assignment)
    if dataset not in every:
        raise KeyError(f"{assignment} has no graded training run on {dataset!r}: one of {', '.join(every)}")
    return every[dataset]
