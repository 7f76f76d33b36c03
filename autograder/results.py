"""Results of checks, as data. Only the export step (feedback, gradebook) turns them into text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, NOT_IMPLEMENTED, ERROR, DEFERRED = "passed", "failed", "not implemented", "error", "deferred"
# a check of F that failed only because F uses another graded function G that is wrong
# (autograder.stages.blame): it keeps its points unless the assignment says otherwise
NOT_JUDGED = "not judged"
# the error of a roster student with no submission folder, and of a folder without a notebook
NO_SUBMISSION, NO_NOTEBOOK = "no submission", "no notebook submitted"


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
    status: str  # one of PASSED, FAILED, NOT_IMPLEMENTED, ERROR, DEFERRED, NOT_JUDGED
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
    # lateness (autograder.stages.late), as nbgrader counts it: when the submission was made
    # (its timestamp.txt, ISO 8601 UTC, "" when it has none), the due date it was held to
    # (extension included, "" when none), how late it was and the points the course's late
    # policy takes off (never more than the points earned)
    submitted_at: str = ""
    due: str = ""
    seconds_late: float = 0.0
    penalty: float = 0.0
    # what the results were computed from (autograder.stages.freshness): a run reuses them only
    # when every item is unchanged
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def raw_score(self) -> float:
        """The points of the checks, before any late penalty."""
        return sum(r.points for r in self.results)

    @property
    def score(self) -> float:
        """The grade: the checks' points less the late penalty (nbgrader's ``score``)."""
        return max(self.raw_score - self.penalty, 0.0)

    @property
    def late(self) -> bool:
        return self.seconds_late > 0
