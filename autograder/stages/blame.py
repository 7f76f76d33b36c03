"""The blame rule: a check of function F judges F, never the graded functions F uses.

After every check ran (:func:`autograder.stages.run_checks.run_assignment`), the functions are
visited in the order of their dependencies (F uses G when F's source names G, or when a check of
F ``needs`` G, transitively). A check of F that failed while some G it uses fails a check of its
own is run again on a :class:`Relative` submission, where

- ``ctx.needed(G, true_G)`` gives G's true value (the reference's) instead of the student's G;
- ``ctx.reference(fn)`` gives the reference's ``fn`` rebuilt on the student's G (what F should
  return given the G it calls inside the sandbox);
- forbidden calls that G's own check reported are not charged to F again.

If the re-run passes (or cannot tell F apart from G: G raised, or the rebuilt reference could
not run on G's output), F's check is :data:`~autograder.results.NOT_JUDGED` with a message that
names G and the line of F that calls it; it keeps its points unless the assignment's
``blame_once`` is False. If it fails again, the failure is F's own and stays. A property marked
``relative = False`` (mutation of the arguments, a step through autograd: nothing to rebuild)
is not judged at once while a G it uses is wrong; one marked ``relative = "needs"`` (finite
differences: it takes the true values of what it needs, but judges F's output directly) is
re-run only when no wrong function is called by F itself.

The messages live in :data:`MESSAGES` (one place, for a later catalog).
"""

from __future__ import annotations

import ast
import dataclasses
import types
from collections.abc import Callable
from typing import Any

from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check
from autograder.messages import say
from autograder.results import ERROR, FAILED, NOT_JUDGED, PASSED, CheckResult
from autograder.submission import Call, Submission
from tpcheck.boundary import realize
from tpcheck.forbidden import ANYTHING, Policy, scan_source
from tpworker.driver import SILENCED

ALL: Any = frozenset({"*"})
# failures of the student's process as a whole (it tampered with the boundary, died, or stopped
# answering): never excused by another function's failure, which the same process caused too
PROCESS_FAILURES = frozenset({"Tampering", "WorkerDied", "TimeoutError"})  # Relative.excused: every forbidden call

MESSAGES = {  # ids in the message catalog (autograder.messages)
    "not_judged": "blame.not_judged",
    "where": "blame.where",
    "gate": "blame.gate",
    "gate_blocked": "blame.gate_blocked",
}


def used_functions(source: str | None, graded: tuple[str, ...], function: str) -> dict[str, int]:
    """The graded functions ``source`` (one function's) names, each with the first line (1 =
    the ``def`` line) where it does."""
    if not source:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in graded and node.id != function:
            found[node.id] = min(found.get(node.id, node.lineno), node.lineno)
    return found


def dependencies(assignment: Assignment, submission: Submission) -> dict[str, dict[str, int]]:
    """Each graded function → the graded functions it calls, with the line."""
    graded = assignment.functions
    return {f: used_functions(submission.source(f), graded, f) for f in graded}


def closure(deps: dict[str, dict[str, int]], start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo.extend(deps.get(f, {}))
    return seen


def order(functions: tuple[str, ...], deps: dict[str, dict[str, int]]) -> list[str]:
    """Functions with the ones they use first (notebook order otherwise; a cycle keeps it)."""
    done: list[str] = []

    def visit(f: str, path: tuple[str, ...]) -> None:
        if f in done or f in path:
            return
        for g in deps.get(f, {}):
            visit(g, (*path, f))
        done.append(f)

    for f in functions:
        visit(f, ())
    return done


class Relative:
    """A submission as a check re-run by the blame rule sees it: ``wrong`` are the functions
    known wrong; the reference's functions are rebuilt on the student's ones of them."""

    def __init__(self, inner: Submission, wrong: set[str], policy: Policy = ANYTHING,
                 excused: set[str] | None = None):
        self.inner, self.wrong, self.policy = inner, frozenset(wrong), policy
        self.excused = excused if excused is ALL else set(excused or ())
        self._rebuilt: dict[int, Callable[..., Any]] = {}

    def has(self, name: str) -> bool:
        return self.inner.has(name)

    def source(self, name: str | None = None) -> str | None:
        # a wrong function's own violations are its checks' business, not the re-run's
        return None if name in self.wrong else self.inner.source(name)

    def _excuse(self, call: Call) -> Call:
        if self.excused is ALL:
            return dataclasses.replace(call, forbidden_calls=[])
        return dataclasses.replace(call, forbidden_calls=[c for c in call.forbidden_calls if c not in self.excused])

    def invoke(self, name, args, policy=ANYTHING, kwargs=None) -> Call:
        return self._excuse(self.inner.invoke(name, args, policy, kwargs))

    def invoke_many(self, name, calls, policy=ANYTHING) -> list[Call]:
        return [self._excuse(c) for c in self.inner.invoke_many(name, calls, policy)]

    def train(self, *a, **k):
        return self.inner.train(*a, **k)

    def probe(self, *a, **k):
        return self.inner.probe(*a, **k)

    def rebuilt(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """The reference's ``fn`` with its module's functions rebuilt so that each wrong one is
        the student's (called through the submission)."""
        if not isinstance(fn, types.FunctionType):
            return fn
        if id(fn) not in self._rebuilt:
            old = fn.__globals__
            new = dict(old)
            for name, value in old.items():
                if isinstance(value, types.FunctionType) and value.__module__ == fn.__module__:
                    new[name] = _rebind(value, new)
            for name in self.wrong:
                new[name] = self._student(name, old.get)
            same = new.get(fn.__name__)
            if fn.__name__ in self.wrong or (isinstance(same, types.FunctionType) and same.__code__ is fn.__code__):
                self._rebuilt[id(fn)] = same
            else:
                self._rebuilt[id(fn)] = _rebind(fn, new)
        return self._rebuilt[id(fn)]

    def _student(self, name: str, lookup: Callable[[str], Any]) -> Callable[..., Any]:
        def call(*args, **kwargs):
            return realize(self.invoke(name, args, self.policy, kwargs).output, lookup)

        call.__name__ = name
        return call


def _rebind(fn: types.FunctionType, globals_: dict) -> types.FunctionType:
    new = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def _violations(source: str | None, policy: Policy) -> list:
    if not source or not policy.modules:
        return []
    try:
        return scan_source(source, policy)
    except SyntaxError:
        return []


def _relative(check: Check) -> bool:
    prop = check.prop
    return getattr(prop, "relative", hasattr(prop, "reference"))


def apply(assignment: Assignment, submission: Submission, results: list[CheckResult],
          rerun: Callable[[Check, Submission], CheckResult]) -> list[CheckResult]:
    """``results`` (one per check of ``assignment``, in order) with the blame rule applied;
    ``rerun(check, submission)`` runs one check again."""
    deps = dependencies(assignment, submission)
    results = list(results)
    by_function: dict[str, list[int]] = {}
    for i, c in enumerate(assignment.checks):
        by_function.setdefault(c.function, []).append(i)
    wrong: dict[str, list[int]] = {}  # function → its own failed checks
    for f in order(assignment.functions, deps):
        for i in by_function.get(f, []):
            check, r = assignment.checks[i], results[i]
            if r.status != FAILED or r.details.get("missing"):  # a function not in the notebook is nobody else's fault
                continue
            if r.details.get("exception") in PROCESS_FAILURES or SILENCED in (r.details.get("forbidden") or ()):
                continue  # the process as a whole (tampered, died, hung, its recorder silenced), not a function G
            uses = closure(deps, {*deps.get(f, {}), *check.needs}) - {f}
            culprits = sorted(g for g in uses if g in wrong)
            if culprits:
                # every function on the way to a wrong one is replaced too (a forward that calls a wrong sigmoid)
                tainted = {g for g in uses if closure(deps, {g}) & set(culprits)}
                inside = bool(closure(deps, set(deps.get(f, {}))) & set(culprits))  # called by F itself
                results[i] = _rejudge(assignment, submission, check, r, culprits, tainted, inside, deps.get(f, {}),
                                      wrong, results, rerun)
        own = [i for i in by_function.get(f, []) if results[i].status in (FAILED, ERROR)]
        if own:
            wrong[f] = own
    return results


def _rejudge(assignment, submission, check, result, culprits, tainted, inside, lines, wrong, results, rerun) -> CheckResult:
    excused = {name for g in culprits for i in wrong[g] for name in (results[i].details.get("forbidden") or ())}
    found = [v.what for g in culprits for v in _violations(submission.source(g), assignment.policy)]
    if excused or found:
        # a wrong function that uses a forbidden API (its checks already failed for it) makes calls
        # under other names (nn.Linear calls torch.nn.functional.linear): none is charged to F,
        # whose own source the re-run still scans
        excused = ALL
    relative = _relative(check)
    if relative is True or (relative == "needs" and not inside):
        again = rerun(check, Relative(submission, tainted, assignment.policy, excused))
        own_fault = again.status != PASSED and again.status != ERROR and not any(
            again.message.startswith(f"{g} raised") for g in culprits)
        if own_fault:
            return dataclasses.replace(again, details={**again.details, "judged_with": culprits})
    checks = ", ".join(results[i].check_id for g in culprits for i in wrong[g])
    named = ", ".join(culprits)
    where = next((say(MESSAGES["where"], function=check.function, name=g, line=lines[g]) for g in culprits
                  if g in lines), "")
    message = say(MESSAGES["not_judged"], function=check.function, wrong=named, checks=checks, where=where,
                  verb=say("blame.are" if len(culprits) > 1 else "blame.is"))
    points = result.max_points if assignment.blame_once else 0.0
    return dataclasses.replace(result, status=NOT_JUDGED, points=points, message=message, counterexample=None,
                               details={"blamed": culprits, "first_failure": result.message})


def gate_message(uses: tuple[str, ...], gate: list[CheckResult]) -> tuple[str, list[str]]:
    """The training gate's message and the functions to fix first: the ones that are wrong
    themselves, not those only not judged because of them."""
    blocked = sorted({g for r in gate if r.status == NOT_JUDGED for g in r.details.get("blamed", ())}
                     | {r.function for r in gate if r.status != NOT_JUDGED}, key=lambda f: (f == WHOLE_SUBMISSION, f))

    def shown(fs):
        return ", ".join(say("blame.forbidden_rule") if f == WHOLE_SUBMISSION else f for f in fs)

    needed = sorted({r.function for r in gate}, key=lambda f: (f == WHOLE_SUBMISSION, f))
    message = say(MESSAGES["gate"], named=shown(needed))
    if blocked != needed:
        checks = ", ".join(r.check_id for r in gate if r.status != NOT_JUDGED)
        message += say(MESSAGES["gate_blocked"], named=shown(blocked), checks=checks,
                       verb=say("blame.are" if len(blocked) > 1 else "blame.is"))
    return message, blocked
