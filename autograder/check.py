"""Checks as declarative data, and the runner that turns one into a :class:`CheckResult`.

A :class:`Check` names the graded function, the Hypothesis strategy that draws an example (a
dict of named arguments), and a property of the function on that example, which raises
:class:`~autograder.compare.Mismatch` when it does not hold. The runner searches for a failing
example under a settings profile, lets Hypothesis shrink it, and records the minimal one in a
form a student can read. Nothing is printed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from autograder import settings as profiles
from autograder.compare import Mismatch, compare_outputs, flatten
from autograder.forbidden import ANYTHING, Policy, graph_leaks, scan_source
from autograder.results import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, CheckResult
from autograder.threshold import Threshold
from autograder.submission import (OPTIMIZERS, Call, InProcess, Optimizer, StudentRaised, Struct, Submission,
                                   Trainable, realize)

Property = Callable[["Context", Any], None]
WHOLE_SUBMISSION = "*"  # the ``function`` of checks about the whole submission


@dataclass(frozen=True)
class Check:
    """One gradable property of one function of the notebook.

    ``strategy`` draws an example (usually a dict of named arguments); ``None`` means the
    property runs once with ``example=None`` (static checks). ``needs`` lists other notebook
    functions the property calls. ``points`` count when ``hidden`` is False too: visible checks
    are the ones a student can also run from the notebook.
    """

    name: str
    function: str
    title: str
    prop: Property
    strategy: st.SearchStrategy | None = None
    points: float = 1.0
    hidden: bool = True
    needs: tuple[str, ...] = ()
    max_examples: int | None = None  # fewer than the profile's, for costly properties


@dataclass(frozen=True)
class Assignment:
    name: str
    checks: tuple[Check, ...]
    policy: Policy = ANYTHING
    # the graded functions in notebook order, with the signatures the template prescribes
    signatures: dict[str, str] = field(default_factory=dict)
    threshold: Threshold | None = None  # the accuracy goal of a training run, if the part has one

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(self.signatures)

    def check_id(self, check: Check) -> str:
        return f"{self.name}.{check.function}.{check.name}"

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks) + (self.threshold.points if self.threshold else 0.0)


@dataclass
class Context:
    """What a property uses to call the student's code under the assignment's policy."""

    submission: Submission
    policy: Policy
    function: str  # the graded function of the check being run
    calls: list[Call] = field(default_factory=list)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the student's ``name`` on copies of ``args``; fail on forbidden APIs."""
        return self._accept(name, self.submission.invoke(name, args, self.policy, kwargs))

    def call_many(self, name: str, arg_tuples: list[tuple[Any, ...]]) -> list[Any]:
        """:meth:`call` on each argument tuple, in one exchange with the submission."""
        calls = self.submission.invoke_many(name, [(tuple(a), {}) for a in arg_tuples], self.policy)
        if len(calls) != len(arg_tuples):
            raise Mismatch(f"{name}: {len(calls)} answers for {len(arg_tuples)} calls")
        return [self._accept(name, c) for c in calls]

    def _accept(self, name: str, result: Call) -> Any:
        """The output of one call, once its forbidden APIs and autograd graphs are ruled out."""
        self.calls.append(result)
        if result.forbidden_calls:
            raise Mismatch(
                f"{name} called {', '.join(sorted(set(result.forbidden_calls)))}, which this part "
                f"does not allow ({self.policy.reason})", forbidden=sorted(set(result.forbidden_calls)))
        if self.policy.modules and (leaks := graph_leaks(flatten(result.output))):
            raise Mismatch(f"{name} returned tensors that carry an autograd graph ({', '.join(leaks)}): "
                           f"{self.policy.reason}", autograd_outputs=leaks)
        return result.output

    def call_tracking(self, name: str, *args: Any, **kwargs: Any) -> Call:
        self.call(name, *args, **kwargs)
        return self.calls[-1]


def matches(reference: Callable[..., Any], argnames: tuple[str, ...], *,
            outputs: dict[str, str] | None = None, reference_types: dict[str, Any] | None = None,
            **tolerance: float) -> Property:
    """The property "the student's function returns what ``reference`` returns on the same
    arguments" (``outputs`` picks and names the output paths to compare)."""
    lookup = (reference_types or {}).get

    def prop(ctx: Context, example: dict[str, Any]) -> None:
        args = tuple(example[a] for a in argnames)
        expected = reference(*(realize(a, lookup) for a in args))
        compare_outputs(ctx.call(ctx.function, *args), expected, outputs, **tolerance)

    # what a counterexample shows, and what the example bank needs to replay it without us
    prop.argnames, prop.reference, prop.outputs, prop.reference_types = argnames, reference, outputs, reference_types  # type: ignore[attr-defined]
    return prop


def run_check(check: Check, submission: Submission, assignment: Assignment,
              profile: str = "grading") -> CheckResult:
    """Run one check against a submission and return its result (never raises for the
    student's faults)."""
    base = dict(check_id=assignment.check_id(check), title=check.title, function=check.function,
                max_points=check.points, hidden=check.hidden)

    def result(status: str, message: str = "", counterexample=None, **details) -> CheckResult:
        return CheckResult(status=status, points=check.points if status == PASSED else 0.0,
                           message=message, counterexample=counterexample, details=details, **base)

    functions = [f for f in (check.function, *check.needs) if f != WHOLE_SUBMISSION]
    missing = [f for f in functions if not submission.has(f)]
    if missing:
        return result(FAILED, f"function {', '.join(missing)} not found in your notebook "
                              f"(keep the names and signatures of the template)", missing=missing)
    for name in functions:
        if assignment.policy.modules and (src := submission.source(name)):
            try:
                violations = scan_source(src, assignment.policy)
            except SyntaxError:
                violations = []
            if violations:
                return result(FAILED, f"{name} uses an API this part does not allow "
                                      f"({assignment.policy.reason}): {violations[0].describe()}",
                              violations=[v.describe() for v in violations])

    prop = check.prop
    if check.strategy is None:
        try:
            prop(Context(submission, assignment.policy, check.function), None)
        except Mismatch as m:
            return result(FAILED, m.message, **m.details)
        except StudentRaised as e:
            return _raised(result, e, None)
        return result(PASSED)

    captured: dict[str, Any] = {}
    shown = getattr(prop, "argnames", None)

    def shows(example):
        if shown and isinstance(example, dict):
            return readable({k: example[k] for k in shown if k in example})
        return readable(example)

    chosen = profiles.profile(profile)
    if check.max_examples is not None:
        chosen = hsettings(chosen, max_examples=min(check.max_examples, chosen.max_examples))

    @hsettings(chosen)
    @given(check.strategy)
    def search(example):
        try:
            prop(Context(submission, assignment.policy, check.function), example)
        except (Mismatch, StudentRaised) as failure:
            captured["example"], captured["failure"] = example, failure
            raise

    try:
        search()
    except Mismatch as m:
        return result(FAILED, m.message, shows(captured.get("example")), **m.details)
    except StudentRaised as e:
        return _raised(result, e, shows(captured.get("example")))
    except Flaky:
        failure = captured.get("failure")
        return result(FAILED, "your function gave different results for the same input "
                              f"(is it random, or does it keep state between calls?) "
                              f"{getattr(failure, 'message', failure) or ''}".strip(),
                      shows(captured.get("example")))
    except Exception as e:  # noqa: BLE001 - a fault of the check itself: say so, do not crash
        return result(ERROR, f"the check could not run: {type(e).__name__}: {e}")
    return result(PASSED)


def run_assignment(assignment: Assignment, submission: Submission, profile: str = "grading") -> list[CheckResult]:
    """Every check of the assignment. Checks about the whole submission (its API policy) earn
    their points only when some function check passed: an empty or broken notebook, which uses
    no forbidden API because it does nothing, earns nothing."""
    results = [run_check(c, submission, assignment, profile) for c in assignment.checks]
    functions = [r for c, r in zip(assignment.checks, results) if c.function != WHOLE_SUBMISSION]
    if not any(r.passed for r in functions):
        # an untouched template is "not implemented" here too, not a failure (the class report
        # ranks failures to find the week's misconception)
        status = NOT_IMPLEMENTED if all(r.status == NOT_IMPLEMENTED for r in functions) else FAILED
        results = [dataclasses.replace(r, status=status, points=0.0,
                                       message="no graded function works yet: nothing to judge")
                   if c.function == WHOLE_SUBMISSION and r.passed else r
                   for c, r in zip(assignment.checks, results)]
    return results


def _raised(result, e: StudentRaised, example) -> CheckResult:
    if e.not_implemented:
        return result(NOT_IMPLEMENTED, f"{e.function} is not implemented yet")
    return result(FAILED, f"{e.function} raised {e.exc_type}: {e.text}", example,
                  exception=e.exc_type)


# --- readable counterexamples ---------------------------------------------------------------------

MAX_VALUES = 64  # tensors with more elements are summarised, not listed


def readable(example: Any) -> Any:
    """A JSON-ready, rounded view of an example: tensors as shape, dtype and values."""
    if example is None:
        return None
    if isinstance(example, torch.Tensor):
        t = example.detach()
        view: dict[str, Any] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
        if t.numel() <= MAX_VALUES:
            view["values"] = _round(t.tolist())
        else:
            tf = t.double()
            view["summary"] = {"min": round(float(tf.min()), 4), "max": round(float(tf.max()), 4),
                               "mean": round(float(tf.mean()), 4)}
        return view
    if isinstance(example, Struct):
        return {"type": example.type_name, "fields": [readable(v) for v in example.fields]}
    if isinstance(example, Trainable):
        return readable(example.value)
    if isinstance(example, Optimizer):
        return f"torch.optim.{OPTIMIZERS[example.name].__name__}(lr={example.lr})"
    if isinstance(example, dict):
        return {str(k): readable(v) for k, v in example.items()}
    if isinstance(example, (list, tuple)):
        return [readable(v) for v in example]
    if isinstance(example, float):
        return round(example, 6)
    return example


def _round(value):
    if isinstance(value, list):
        return [_round(v) for v in value]
    return round(value, 4) if isinstance(value, float) else value


def in_process(module: Any) -> InProcess:
    """A trusted module (the reference, a test's mutant) as a submission."""
    return InProcess(module)
