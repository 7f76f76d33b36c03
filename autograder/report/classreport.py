"""The instructor's class report, in English: ``OUT/report.html`` (template
``templates/report.html.j2``). Per assignment: scores, the checks by failure rate with their most
common message, who could not be graded, similar code when asked for (a table sortable by a
small inline script, the only one, allowed by its hash; never a penalty), runtimes, and a row per
submission linking to its feedback page."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autograder.report.feedback import FEEDBACK_FILE, is_threshold
from autograder.report.figures import Png, histogram_png
from autograder.report.render import render
from autograder.report.text import num, pct, to_float
from autograder.results import DEFERRED, ERROR, FAILED, NO_SUBMISSION, NOT_IMPLEMENTED, PASSED, CheckResult, Graded
from autograder.stages.similarity import MIN_TOKENS, THRESHOLD, Pair
from autograder.stages.store import atomic_write

REPORT_FILE = "report.html"
SLOWEST = 5

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def message_kind(message: str) -> str:
    """A failure message with its numbers blanked: the same mistake on different inputs (other
    indices, other values) counts as one."""
    return _NUMBER.sub("#", message.strip())


@dataclass
class CheckStats:
    check_id: str
    title: str
    hidden: bool
    graded: int  # submissions that could be graded and have this check
    passed: int
    failed: int
    not_implemented: int
    errors: int  # the check itself could not run: the grader's problem
    deferred: int
    message: str  # an instance of the most common failure message ("" when none failed)
    message_count: int  # failures with that message (numbers ignored)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0

    @property
    def not_implemented_rate(self) -> float:
        return self.not_implemented / self.graded if self.graded else 0.0


def english_titles() -> dict[str, str]:
    """Every known check's English title by check id: the class report is the instructor's, in
    English, whatever language the students' results were graded in (``grade --lang``)."""
    from autograder import checks, registry

    titles = {}
    for name in registry.NAMES:
        assignment = checks.load(name)
        titles.update({assignment.check_id(c): c.english for c in assignment.checks})
        if assignment.threshold:
            titles[f"{name}.train.threshold"] = assignment.threshold.english
    return titles


def check_stats(graded: Iterable[Graded]) -> list[CheckStats]:
    """Per check, over the submissions that could be graded (an ungradable one fails every check
    for one reason, which says nothing about the checks): how many failed and with which message,
    sorted by failure rate (status "failed": a wrong answer, not a missing one) descending, then
    by not-implemented rate, then in the assignment's order."""
    by_check: dict[str, list[CheckResult]] = {}
    for g in graded:
        if g.error:
            continue
        for r in g.results:
            by_check.setdefault(r.check_id, []).append(r)
    stats = []
    english = english_titles() if by_check else {}
    for check_id, results in by_check.items():
        status = Counter(r.status for r in results)
        failures = [r.message for r in results if r.status == FAILED]
        kinds = Counter(message_kind(m) for m in failures)
        message, count = "", 0
        if kinds:
            kind, count = min(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            message = next(m for m in failures if message_kind(m) == kind)
        first = results[0]
        title = english.get(check_id, first.title)
        stats.append(CheckStats(check_id, title, first.hidden, len(results), status[PASSED], status[FAILED],
                                status[NOT_IMPLEMENTED], status[ERROR], status[DEFERRED], message, count))
    order = {s.check_id: i for i, s in enumerate(stats)}
    return sorted(stats, key=lambda s: (-s.failure_rate, -s.not_implemented_rate, order[s.check_id]))


@dataclass
class AssignmentReport:
    name: str
    submissions: int
    max_score: float
    mean: float
    median: float
    histogram: Png
    checks: list[CheckStats]
    ungradable: list[tuple[str, str]]  # (student, reason)
    flagged: list[tuple[str, list[dict]]]  # (student, integrity flags): for the instructor to read, never a penalty
    noted: list[tuple[str, list[str]]]  # (student, notes): timeouts, crashes, skipped cells
    runtime_median: float
    runtime_max: float
    runtime_total: float
    slowest: list[tuple[str, float]]
    threshold: dict[str, Any] | None  # reached, runs, median accuracy of the threshold checks
    rows: list[dict[str, Any]]  # one per submission, by student
    refused: list[tuple[str, str]] = ()  # (student folder, reason): folders refused, no results written
    # pairs of students with similar code (autograder.stages.similarity), most similar first:
    # for the instructor to read, never a penalty
    similar: list[Pair] = ()
    absent: list[str] = ()  # roster students with no submission (rows, but not in the statistics)
    # "the misconception of the week" (autograder.misconceptions): (id, function, English sentence,
    # how many students), most frequent first
    misconceptions: list[tuple[str, str, str, int]] = ()


def assignment_report(name: str, graded: list[Graded], refused: Iterable[tuple[str, str]] = ()) -> AssignmentReport:
    # roster students who submitted nothing: a row each, but no part of the statistics
    absent = sorted(g.student for g in graded if g.error == NO_SUBMISSION)
    everyone, graded = graded, [g for g in graded if g.error != NO_SUBMISSION]
    scores = [g.score for g in graded]
    max_score = max((g.max_score for g in graded), default=0.0)
    seconds = [g.seconds for g in graded]
    slowest = sorted(graded, key=lambda g: (-g.seconds, g.student))[:SLOWEST]
    runs = [r for g in graded if not g.error for r in g.results if is_threshold(r) and r.status != DEFERRED]
    threshold = None
    if runs:
        accuracies = [a for a in (to_float(r.details.get("accuracy")) for r in runs) if math.isfinite(a)]
        threshold = {"runs": len(runs), "reached": sum(r.passed for r in runs),
                     "median": pct(statistics.median(accuracies)) if accuracies else "—",
                     "threshold": pct(runs[0].details.get("threshold"))}
    rows = []
    for g in sorted(everyone, key=lambda g: g.student):
        status = Counter(r.status for r in g.results)
        rows.append({"student": g.student, "score": num(g.score), "max": num(g.max_score),
                     "failed": status[FAILED], "todo": status[NOT_IMPLEMENTED], "deferred": status[DEFERRED],
                     "seconds": f"{g.seconds:.1f}", "error": g.error, "absent": g.error == NO_SUBMISSION,
                     "late": lateness(g.seconds_late), "penalty": num(g.penalty) if g.late else "",
                     "href": f"{quote(g.student, safe='')}/{quote(g.assignment, safe='')}/{FEEDBACK_FILE}"})
    return AssignmentReport(
        name=name, submissions=len(graded), max_score=max_score,
        mean=statistics.fmean(scores) if scores else 0.0, median=statistics.median(scores) if scores else 0.0,
        histogram=histogram_png(scores, max_score), checks=check_stats(graded),
        ungradable=[(g.student, g.error) for g in sorted(graded, key=lambda g: g.student) if g.error],
        flagged=[(g.student, g.flags) for g in sorted(graded, key=lambda g: g.student) if g.flags],
        noted=[(g.student, g.notes) for g in sorted(graded, key=lambda g: g.student) if g.notes and not g.error],
        runtime_median=statistics.median(seconds) if seconds else 0.0, runtime_max=max(seconds, default=0.0),
        runtime_total=sum(seconds), slowest=[(g.student, g.seconds) for g in slowest], threshold=threshold, rows=rows,
        refused=sorted(refused), absent=absent, misconceptions=misconception_counts(graded))


def misconception_counts(graded: Iterable[Graded]) -> list[tuple[str, str, str, int]]:
    """(id, function, English sentence, how many students) of the misconceptions named on the
    submissions' checks (each student counted once per misconception), most frequent first."""
    students: dict[tuple[str, str], set[str]] = {}
    sentence: dict[tuple[str, str], str] = {}
    for g in graded:
        for r in g.results:
            if found := (r.details or {}).get("misconception"):
                key = (found["id"], r.function)
                students.setdefault(key, set()).add(g.student)
                sentence[key] = found.get("en", "")
    return sorted(((i, f, sentence[(i, f)], len(s)) for (i, f), s in students.items()),
                  key=lambda row: (-row[3], row[1], row[0]))


def lateness(seconds: float) -> str:
    from autograder.stages.late import duration

    return duration(seconds) if seconds > 0 else ""


def class_report_html(graded: list[Graded], refused: Iterable[tuple[str, str, str]] = (),
                      similarity: dict[str, list[Pair]] | None = None) -> str:
    """The instructor's report over every submission of every assignment in ``graded``;
    ``refused``: (assignment, student folder, reason) of the folders that got no results
    (:func:`autograder.stages.find.scan`), listed with those that could not be graded;
    ``similarity``: assignment → its pairs of similar code
    (:func:`autograder.stages.similarity.similar_pairs`), shown per assignment in a table sortable
    by each column (the page's one script; without it, the most similar first). None: no such
    section at all."""
    by_assignment: dict[str, list[Graded]] = {}
    for g in graded:
        by_assignment.setdefault(g.assignment, []).append(g)
    refusals: dict[str, list[tuple[str, str]]] = {}
    for assignment, student, reason in refused:
        by_assignment.setdefault(assignment, [])
        refusals.setdefault(assignment, []).append((student, reason))
    reports = [assignment_report(name, gs, refusals.get(name, ())) for name, gs in sorted(by_assignment.items())]
    for r in reports:
        r.similar = sorted((similarity or {}).get(r.name, ()),
                           key=lambda p: (-p.similarity, -p.identical, p.function, p.student_a, p.student_b))
    return render("report.html.j2", reports=reports, similarity_shown=similarity is not None,
                  similarity_threshold=THRESHOLD, similarity_min_tokens=MIN_TOKENS)


def write_class_report(out: Path, graded: list[Graded], refused: Iterable[tuple[str, str, str]] = (),
                       similarity: dict[str, list[Pair]] | None = None) -> Path:
    """``OUT/report.html``, written atomically (see :func:`class_report_html`)."""
    path = out / REPORT_FILE
    atomic_write(path, class_report_html(graded, refused, similarity))
    return path
