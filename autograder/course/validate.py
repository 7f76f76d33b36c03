"""``python -m autograder validate``: the checks checked.

1. Every check of every assignment passes on the reference (the checks are satisfiable, and the
   reference is right by its own standard).
2. On the unfilled stubs (every graded function raising ``NotImplementedError``, as in the
   released template) every check that calls code reports "not implemented", none passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder import checks, registry
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment
from autograder.results import NOT_IMPLEMENTED, CheckResult
from autograder.stages.run_checks import run_assignment
from autograder.submission import InProcess


@dataclass(frozen=True)
class Problem:
    assignment: str
    check_id: str
    what: str


def stub_namespace(assignment: Assignment) -> dict:
    def stub(name):
        def f(*args, **kwargs):
            raise NotImplementedError(f"{name} is not implemented yet")

        f.__name__ = name
        return f

    return {name: stub(name) for name in assignment.functions}


def validate(names: list[str] | None = None, profile: str = "grading") -> tuple[list[CheckResult], list[Problem]]:
    results, problems = [], []
    for name in names or list(registry.NAMES):
        assignment = checks.load(name)
        reference = InProcess(registry.get(name).reference())
        for r in run_assignment(assignment, reference, profile):
            results.append(r)
            if not r.passed:
                problems.append(Problem(name, r.check_id, f"reference fails: {r.status}: {r.message}"))
        stubs = InProcess(stub_namespace(assignment), source="")
        for check, r in zip(assignment.checks, run_assignment(assignment, stubs, profile)):
            if check.function == WHOLE_SUBMISSION:
                continue
            if r.status != NOT_IMPLEMENTED:
                problems.append(Problem(name, r.check_id, f"stub gives {r.status!r}, expected 'not implemented': {r.message}"))
    return results, problems


def main(*, assignments: list[str] | None, profile: str) -> int:
    results, problems = validate(assignments, profile)
    by_assignment: dict[str, list[CheckResult]] = {}
    for r in results:
        by_assignment.setdefault(r.check_id.split(".")[0], []).append(r)
    for name, rs in by_assignment.items():
        earned = sum(r.points for r in rs)
        possible = sum(r.max_points for r in rs)
        print(f"{name:<16} reference {earned:g}/{possible:g} points, {sum(r.passed for r in rs)}/{len(rs)} checks")
    for p in problems:
        print(f"PROBLEM {p.check_id}: {p.what}")
    print("validate: ok" if not problems else f"validate: {len(problems)} problem(s)")
    return 0 if not problems else 1
