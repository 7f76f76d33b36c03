"""The hidden checks of every assignment, one module each; they compare with :mod:`reference`.

Never shipped to students and never mounted into the sandbox: the grader runs them in its own
process and calls the student's functions through a :class:`~autograder.submission.Submission`.
"""

from __future__ import annotations

import dataclasses
import importlib

from autograder.check import Assignment
from autograder.forbidden import Policy

MODULES = {
    "tp1_perceptron": "autograder.checks.tp1_perceptron",
    "tp2_shallow": "autograder.checks.tp2_shallow",
    "tp3_deep": "autograder.checks.tp3_deep",
    "tp4_cnn": "autograder.checks.tp4_cnn",
}


def load(name: str, policy: Policy | None = None) -> Assignment:
    """The checks of assignment ``name``; ``policy`` replaces its forbidden-API policy (a cohort
    that may use ``torch.nn`` in Part 2 gets ``forbidden.NO_AUTOGRAD``)."""
    if name not in MODULES:
        raise KeyError(f"unknown assignment {name!r}: choose one of {', '.join(MODULES)}")
    assignment = importlib.import_module(MODULES[name]).ASSIGNMENT
    return assignment if policy is None else dataclasses.replace(assignment, policy=policy)
