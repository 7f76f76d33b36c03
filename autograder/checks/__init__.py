"""The hidden checks of every assignment, one module each; they compare with :mod:`reference`.

Never shipped to students and never mounted into the sandbox: the grader runs them in its own
process and calls the student's functions through a :class:`~autograder.submission.Submission`.
"""

from __future__ import annotations

import importlib

from autograder.check import Assignment

MODULES = {
    "tp1_perceptron": "autograder.checks.tp1_perceptron",
    "tp2_shallow": "autograder.checks.tp2_shallow",
    "tp3_deep": "autograder.checks.tp3_deep",
}


def load(name: str) -> Assignment:
    if name not in MODULES:
        raise KeyError(f"unknown assignment {name!r}: choose one of {', '.join(MODULES)}")
    return importlib.import_module(MODULES[name]).ASSIGNMENT
