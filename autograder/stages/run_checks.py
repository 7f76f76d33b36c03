"""The run-checks stage: each check of an assignment against a submission, as a CheckResult.

The runner searches for a failing example under a settings profile
(:mod:`autograder.checks.profiles`), lets Hypothesis shrink it, and records the minimal one in a
form a student can read. Nothing is printed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis.errors import Flaky

from autograder.checks import profiles
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context
from autograder.results import ERROR, FAILED, NOT_IMPLEMENTED, NOT_JUDGED, PASSED, CheckResult
from autograder.stages import blame
from autograder.submission import InProcess, StudentRaised, Submission, describe_violation
from tpcheck.boundary import OPTIMIZERS, Optimizer, Struct, Trainable
from tpcheck.compare import Mismatch
from tpcheck.forbidden import scan_source


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
                                      f"({assignment.policy.reason}): {describe_violation(submission, name, violations[0])}",
                              violations=[describe_violation(submission, name, v) for v in violations])

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
    """Every check of the assignment, with the blame rule applied. Checks about the whole submission (its API policy) earn
    their points only when some function check passed: an empty or broken notebook, which uses
    no forbidden API because it does nothing, earns nothing."""
    results = [run_check(c, submission, assignment, profile) for c in assignment.checks]
    # the blame rule (autograder.stages.blame): a failure caused by another wrong function is not F's
    results = blame.apply(assignment, submission, results, lambda c, s: run_check(c, s, assignment, profile))
    functions = [r for c, r in zip(assignment.checks, results) if c.function != WHOLE_SUBMISSION]
    if not any(r.passed or r.status == NOT_JUDGED for r in functions):
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
    return result(FAILED, f"{e.function} raised {e.exc_type}: {e.text}{e.at}", example,
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
