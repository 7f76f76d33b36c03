"""The checks' fast path (:func:`autograder.stages.run_checks.fast_passes`): the examples a passing
search draws, drawn once and tried in one batch, give the grades and the minimal counterexamples
the search alone gives, on the mutant suite, its correct variants and the references."""

from __future__ import annotations

import dataclasses

import pytest

from autograder import checks, registry
from autograder.stages import run_checks
from autograder.stages.run_checks import drawn_examples, fast_passes, run_assignment
from autograder.submission import InProcess
from tests.autograder.test_mutants import MUTANTS, VARIANTS, notebook, submission

MNIST = tuple(registry.MNIST)
# a mutant as a notebook holds it (its functions call each other: the blame rule's re-runs too)
CASES = ([(f"reference:{n}", n, {}, submission) for n in MNIST]
         + [(f"{m.assignment}:{m.name}", m.assignment, m.overrides, notebook) for m in MUTANTS if m.assignment in MNIST]
         + [(f"variant:{label}", n, o, submission) for label, n, o in VARIANTS if n in MNIST])


class Counting:
    """A submission that counts its exchanges (one ``invoke`` or one ``invoke_many`` each)."""

    def __init__(self, inner):
        self.inner, self.exchanges = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def invoke(self, *a, **k):
        self.exchanges += 1
        return self.inner.invoke(*a, **k)

    def invoke_many(self, *a, **k):
        self.exchanges += 1
        return self.inner.invoke_many(*a, **k)


def _graded(assignment, sub, fast: bool):
    run_checks.FAST_PATH = fast
    try:
        return [(r.check_id, r.status, r.points, r.message, r.counterexample) for r in run_assignment(assignment, sub, "dev")]
    finally:
        run_checks.FAST_PATH = True


@pytest.mark.parametrize("label,name,overrides,make", CASES, ids=[c[0] for c in CASES])
def test_fast_path_grades_as_the_search_does(label, name, overrides, make):
    """Same status, points, message and minimal counterexample for every check, with and without
    the fast path (the blame rule's re-runs included)."""
    assignment = checks.load(name)
    assert _graded(assignment, make(name, overrides), True) == _graded(assignment, make(name, overrides), False)


@pytest.mark.parametrize("name", MNIST)
def test_a_passing_check_costs_one_exchange_a_round(name):
    """The reference passes each check in a batch: no exchange per example (the search made one
    per example, 15 to 30 a check)."""
    assignment = checks.load(name)
    sub = Counting(InProcess(registry.get(name).reference()))
    searched = [c for c in assignment.checks if c.strategy is not None
                and not getattr(c.prop, "expects_raise", False)]  # (their calls raise: the search's)
    for check in searched:
        assert fast_passes(check, sub, assignment, "dev"), check.name
    assert sub.exchanges <= 3 * len(searched)


def test_the_examples_are_those_the_search_draws():
    """A passing search sees exactly the drawn examples, in order."""
    assignment = checks.load("tp1_perceptron")
    check = assignment.checks[0]
    seen = []
    prop = check.prop

    def spy(ctx, example):
        seen.append(example)
        prop(ctx, example)

    spied = dataclasses.replace(check, prop=spy)
    assert run_checks.run_check(spied, InProcess(registry.get("tp1_perceptron").reference()), assignment, "dev",
                                fast=False).passed
    drawn = drawn_examples(check, assignment, "dev")
    assert len(seen) == len(drawn) > 1
    for a, b in zip(seen, drawn):
        assert repr(run_checks.readable(a)) == repr(run_checks.readable(b))
