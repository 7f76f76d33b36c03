"""The run-checks stage: each check of an assignment against a submission, as a CheckResult.

The runner searches for a failing example under a settings profile
(:mod:`autograder.checks.profiles`), lets Hypothesis shrink it, and records the minimal one in a
form a student can read. Nothing is printed.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any

import torch
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis.errors import Flaky

from autograder.checks import profiles
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context
from autograder.messages import say
from autograder.results import ERROR, FAILED, NOT_IMPLEMENTED, NOT_JUDGED, PASSED, CheckResult
from autograder.stages import blame
from autograder.submission import Call, InProcess, StudentRaised, Submission, describe_violation
from tpcheck.boundary import OPTIMIZERS, Optimizer, Struct, Trainable
from tpcheck.compare import Mismatch
from tpcheck.forbidden import scan_source


def run_check(check: Check, submission: Submission, assignment: Assignment,
              profile: str = "grading", *, fast: bool | None = None) -> CheckResult:
    """Run one check against a submission and return its result (never raises for the
    student's faults). ``fast``: try the examples Hypothesis would draw in one batch first
    (:func:`fast_passes`); Hypothesis searches and shrinks only when one of them fails."""
    base = dict(check_id=assignment.check_id(check), title=check.title, function=check.function,
                max_points=check.points, hidden=check.hidden)

    def result(status: str, message: str = "", counterexample=None, **details) -> CheckResult:
        return CheckResult(status=status, points=check.points if status == PASSED else 0.0,
                           message=message, counterexample=counterexample, details=details, **base)

    functions = [f for f in (check.function, *check.needs) if f != WHOLE_SUBMISSION]
    missing = [f for f in functions if not submission.has(f)]
    if missing:
        return result(FAILED, say("checks.missing", names=", ".join(missing)), missing=missing)
    for name in functions:
        if assignment.policy.modules and (src := submission.source(name)):
            try:
                violations = scan_source(src, assignment.policy)
            except SyntaxError:
                violations = []
            if violations:
                return result(FAILED, say("checks.forbidden_api", name=name, reason=assignment.policy.why,
                                          what=describe_violation(submission, name, violations[0])),
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
    if (FAST_PATH if fast is None else fast) and fast_passes(check, submission, assignment, profile):
        return result(PASSED)

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
        return result(FAILED, say("checks.flaky", detail=getattr(failure, "message", failure) or "").strip(),
                      shows(captured.get("example")))
    except Exception as e:  # noqa: BLE001 - a fault of the check itself: say so, do not crash
        return result(ERROR, say("checks.could_not_run", type=type(e).__name__, text=e))
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
                                       message=say("checks.nothing_works"))
                   if c.function == WHOLE_SUBMISSION and r.passed else r
                   for c, r in zip(assignment.checks, results)]
    return results


# --- the fast path: the examples of a passing run, drawn once, tried in one batch --------------------
#
# A derandomized search draws the same examples for every submission until one fails: which
# examples a passing run sees depends only on the check's strategy, the settings and the digest
# of ``search`` above, never on the student. They are drawn once per process (by ``search``
# itself, on a property that records and always passes) and kept; a submission is first tried on
# all of them, their calls batched round by round (one exchange per round, calls in the order the
# search would make them). All pass: the check passed, exactly as the search would say. Anything
# else (a mismatch, a raise, a timeout, a property that cannot be replayed): the search runs as
# it always did, from scratch, and its minimal counterexample is the grade's.

# False (or TP_CHECKS_SEARCH_ONLY=1 in the environment, which the grading pool's workers inherit):
# every check goes straight to the search — the benchmarks' A/B; the grades are the same
FAST_PATH = os.environ.get("TP_CHECKS_SEARCH_ONLY", "") != "1"
_DRAWN: dict[tuple, tuple[Any, list[Any]]] = {}  # (check id, strategy id, profile) → (strategy, examples)
MAX_ROUNDS = 64  # calls a property makes one after the other on one example; more: the search decides


def _clone(value: Any) -> Any:
    """A deep copy of an example or an answer, fast for what they are made of (plain tensors in
    dicts, lists and tuples); anything else through :func:`copy.deepcopy`."""
    if isinstance(value, torch.Tensor):
        if type(value) is torch.Tensor and not (value.is_leaf and value.requires_grad):
            return value.clone()  # a non-leaf keeps its graph: the clone tracks gradients as it does
        return copy.deepcopy(value)
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_clone(v) for v in value)
    if value is None or type(value) in (int, float, str, bool):
        return value
    if type(value) in (Call, Struct, Trainable, Optimizer):  # plain dataclasses of the above
        return dataclasses.replace(value, **{f.name: _clone(getattr(value, f.name)) for f in dataclasses.fields(value)})
    return copy.deepcopy(value)


class _Pending(BaseException):  # noqa: N818 - not an error: "this call is not answered yet" (no except Exception catches it)
    pass


class _NoDraw:
    """The submission of the recording run: every function exists, no source to scan."""

    def has(self, name: str) -> bool:
        return True

    def source(self, name: str | None = None) -> None:
        return None


def drawn_examples(check: Check, assignment: Assignment, profile: str = "grading") -> list[Any]:
    """The examples a passing run of ``check`` sees, in order, drawn by the search itself (cached
    per process: the cost of drawing is paid once per class, not per submission)."""
    key = (assignment.check_id(check), id(check.strategy), profile)
    if key not in _DRAWN:
        seen: list[Any] = []

        def record(_ctx, example):
            seen.append(copy.deepcopy(example))

        outcome = run_check(dataclasses.replace(check, prop=record, needs=()), _NoDraw(), assignment, profile, fast=False)
        _DRAWN[key] = (check.strategy, seen if outcome.passed else [])
    return _DRAWN[key][1]


class _Replay:
    """A submission that answers a property's calls from the answers of earlier rounds; the first
    call past them is recorded and ends the property (:class:`_Pending`)."""

    def __init__(self, inner: Submission, answers: list[Any]):
        self._inner, self.answers, self.request = inner, answers, None
        self._used = 0

    def __getattr__(self, name: str) -> Any:  # has, source, wrong, rebuilt… of the real submission
        return getattr(self._inner, name)

    def invoke(self, name, args, policy=None, kwargs=None):
        return self._next(("one", name, policy, [(tuple(args), dict(kwargs or {}))]))

    def invoke_many(self, name, calls, policy=None):
        return self._next(("many", name, policy, [(tuple(a), dict(k or {})) for a, k in calls]))

    def _next(self, request):
        if self._used < len(self.answers):
            kind, name, answer = self.answers[self._used]
            self._used += 1
            if (kind, name) != request[:2]:
                raise _Pending  # not the call of the last round: not replayable, never answered
            return _clone(answer)
        self.request = request
        raise _Pending


def fast_passes(check: Check, submission: Submission, assignment: Assignment, profile: str = "grading") -> bool:
    """Whether ``check`` passes on every example its search would draw for a passing run (then
    the search would pass too); False sends it to the search. Costs one exchange a round. A
    property whose calls are meant to raise (``prop.expects_raise``: a batch stops at the first
    raise) always goes to the search."""
    if getattr(check.prop, "expects_raise", False):
        return False
    examples = drawn_examples(check, assignment, profile)
    if not examples:
        return False
    answers: list[list[Any]] = [[] for _ in examples]
    pending = list(range(len(examples)))
    for _ in range(MAX_ROUNDS):
        asked: list[tuple[int, _Replay]] = []
        for i in pending:
            replay = _Replay(submission, answers[i])
            try:
                check.prop(Context(replay, assignment.policy, check.function), _clone(examples[i]))
            except _Pending:
                if replay.request is None:
                    return False
                asked.append((i, replay))
            except Exception:  # noqa: BLE001 - a mismatch, a raise, a fault of the check: the search decides
                return False
        if not asked:
            return True
        if not _answer_round(submission, asked, answers):
            return False
        pending = [i for i, _ in asked]
    return False


def _answer_round(submission: Submission, asked: list, answers: list[list[Any]]) -> bool:
    """The recorded calls of one round, one exchange per function (in example order)."""
    groups: dict[tuple, list[tuple[int, Any]]] = {}
    for i, replay in asked:
        kind, name, policy, calls = replay.request
        groups.setdefault((name, id(policy)), []).append((i, replay.request))
    for (name, _), requests in groups.items():
        policy = requests[0][1][2]
        flat = [c for _, request in requests for c in request[3]]
        try:
            trial = getattr(submission, "invoke_trial", None)
            done = trial(name, flat, policy) if trial else submission.invoke_many(name, flat, policy)
        except Exception:  # noqa: BLE001 - raised, timed out, died: the search will meet it one call at a time
            return False
        if len(done) != len(flat):
            return False
        at = 0
        for i, (kind, _, _, calls) in requests:
            got = done[at : at + len(calls)]
            at += len(calls)
            answers[i].append((kind, name, got[0] if kind == "one" else got))
    return True


def _raised(result, e: StudentRaised, example) -> CheckResult:
    if e.not_implemented:
        return result(NOT_IMPLEMENTED, say("checks.not_implemented", function=e.function))
    return result(FAILED, say("checks.raised", function=e.function, type=e.exc_type, text=e.text, at=e.at), example,
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
