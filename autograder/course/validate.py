"""``python -m autograder validate``: the checks checked, and the reference checked by evidence
that does not come from the reference itself.

1. Every check of every assignment passes on the reference (the checks are satisfiable). This
   alone proves nothing about the reference: its hidden checks compare it with itself.
2. On the unfilled stubs (every graded function raising ``NotImplementedError``, as in the
   released template) every check that calls code reports "not implemented", none passes.
3. Independent evidence: the visible checks (:func:`tpcheck.student.report`) of every graded
   function pass on the reference: the reference-free properties (finite differences of its own
   backward, a step that moves outputs toward their targets, a train_step that lowers the loss…)
   and the released example bank's expected outputs (student_template/<assignment>/examples.npz,
   the bytes students have).
4. Independent evidence: the reference's own training run reaches the assignment's accuracy goal
   on ``mnist-sample`` (CPU runs only; ``training=False`` / ``--no-training`` skips it).

A reference broken on purpose (an update with its sign flipped) fails 3 or 4, and ``validate``
exits non-zero with the reason (tests/autograder/course/test_validate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import checks, registry
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment
from autograder.results import NOT_IMPLEMENTED, CheckResult
from autograder.stages.run_checks import run_assignment
from autograder.submission import InProcess

RELEASE = Path(__file__).resolve().parents[2] / "student_template"  # the released banks


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


def validate(names: list[str] | None = None, profile: str = "grading", *, training: bool = True,
             references: dict[str, Any] | None = None, release: Path = RELEASE,
             dataset: str = "mnist-sample") -> tuple[list[CheckResult], list[Problem]]:
    """``references`` replaces an assignment's reference (a module or a namespace: a test's
    deliberately broken one)."""
    results, problems = [], []
    for name in names or list(registry.NAMES):
        assignment = checks.load(name)
        module = (references or {}).get(name) or registry.get(name).reference()
        namespace = dict(module) if isinstance(module, dict) else dict(vars(module))
        reference = InProcess(module)
        own = run_assignment(assignment, reference, profile)
        for r in own:
            results.append(r)
            if not r.passed:
                problems.append(Problem(name, r.check_id, f"reference fails: {r.status}: {r.message}"))
        problems += independent(name, assignment, namespace, own, training=training, release=release, dataset=dataset)
        stubs = InProcess(stub_namespace(assignment), source="")
        for check, r in zip(assignment.checks, run_assignment(assignment, stubs, profile)):
            if check.function == WHOLE_SUBMISSION:
                continue
            if r.status != NOT_IMPLEMENTED:
                problems.append(Problem(name, r.check_id, f"stub gives {r.status!r}, expected 'not implemented': {r.message}"))
    return results, problems


def independent(name: str, assignment: Assignment, namespace: dict, own: list[CheckResult], *, training: bool,
                release: Path, dataset: str) -> list[Problem]:
    """Evidence about the reference that does not come from it: its visible checks (properties
    and the released bank) and its training run against the accuracy goal."""
    from tpcheck import student

    problems = []
    bank = release / name / "examples.npz"
    for function in assignment.functions:
        report = student.report(function, namespace, bank=bank if bank.is_file() else None)
        if not report.passed:
            failed = "; ".join(f"{line.what}: {line.detail}" for line in report.lines if not line.ok)
            problems.append(Problem(name, f"{name}.{function}.visible",
                                    f"reference fails its visible check (properties, released bank): {failed}"))
    threshold = assignment.threshold
    if training and threshold is not None and threshold.device == "cpu" and dataset in threshold.budgets:
        from autograder.stages.threshold import run_threshold

        r = run_threshold(name, threshold, InProcess(namespace), own, dataset=dataset)
        if not r.passed:
            problems.append(Problem(name, r.check_id, f"reference's training run fails the goal: {r.message}"))
    return problems


def main(*, assignments: list[str] | None, profile: str, training: bool = True) -> int:
    results, problems = validate(assignments, profile, training=training)
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
