"""The hidden checks of every assignment, one module each (named like the assignment, see
:mod:`autograder.registry`); they compare with :mod:`reference`.

Never shipped to students and never mounted into the sandbox: the grader runs them in its own
process and calls the student's functions through a :class:`~autograder.submission.Submission`.
``spec`` holds what a check is, ``strategies`` what draws its examples, ``profiles`` the
Hypothesis settings; the runner is :mod:`autograder.stages.run_checks`.
"""

from __future__ import annotations

import dataclasses
import importlib

from autograder import registry
from autograder.checks.spec import Assignment
from tpcheck.forbidden import Policy


def load(name: str, policy: Policy | None = None) -> Assignment:
    """The checks of assignment ``name``; ``policy`` replaces its forbidden-API policy (a cohort
    that may use ``torch.nn`` in Part 2 gets ``forbidden.NO_AUTOGRAD``)."""
    assignment = importlib.import_module(registry.get(name).checks_module).ASSIGNMENT
    return assignment if policy is None else dataclasses.replace(assignment, policy=policy)
