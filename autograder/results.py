"""Results of checks, as data. Only the export step (feedback, gradebook) turns them into text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, NOT_IMPLEMENTED, ERROR, DEFERRED = "passed", "failed", "not implemented", "error", "deferred"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for one submission.

    ``counterexample`` is the minimal failing input Hypothesis found (after shrinking), already
    made readable: argument name → shape, dtype and rounded values. ``details`` holds what was
    compared: expected vs got, largest differences and where, or the offending source line.
    """

    check_id: str  # "<assignment>.<function>.<check>", stable across releases
    title: str
    function: str
    status: str  # one of PASSED, FAILED, NOT_IMPLEMENTED, ERROR, DEFERRED
    points: float
    max_points: float
    hidden: bool
    message: str = ""
    counterexample: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def total(results: list[CheckResult]) -> tuple[float, float]:
    """(points earned, points possible) over results."""
    return sum(r.points for r in results), sum(r.max_points for r in results)


@dataclass
class Graded:
    student: str
    assignment: str
    results: list[CheckResult]
    max_score: float
    error: str = ""  # why the submission could not be graded at all (then every check failed)
    notes: list[str] = field(default_factory=list)  # skipped cells, missing functions, timeouts
    output: str = ""  # what the student's code printed (capped), never parsed
    seconds: float = 0.0
    # integrity flags (autograder.stages.integrity): code that reaches past the API, for the
    # instructor's report; never a penalty
    flags: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results)
