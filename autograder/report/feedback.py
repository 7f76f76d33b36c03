"""The feedback page of one student for one assignment, in French like the notebooks:
``OUT/<student>/<assignment>/feedback.html`` (template ``templates/feedback.html.j2``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.report.figures import Png, confusion_png, learning_curve_png, top_confusions
from autograder.report.render import render
from autograder.report.text import clean_output, compact, num, pct, to_float
from autograder.results import DEFERRED, ERROR, FAILED, NO_SUBMISSION, NOT_IMPLEMENTED, NOT_JUDGED, PASSED, CheckResult, Graded
from autograder.stages.store import atomic_write

FEEDBACK_FILE = "feedback.html"

STATUS_FR = {PASSED: "réussi", FAILED: "échoué", NOT_IMPLEMENTED: "non implémenté",
             ERROR: "erreur du correcteur", DEFERRED: "différé", NOT_JUDGED: "non jugé"}
STATUS_FR_PLURAL = {PASSED: "réussis", FAILED: "échoués", NOT_IMPLEMENTED: "non implémentés",
                    ERROR: "erreurs du correcteur", DEFERRED: "différés", NOT_JUDGED: "non jugés"}
STATUS_CLASS = {PASSED: "passed", FAILED: "failed", NOT_IMPLEMENTED: "todo", ERROR: "error", DEFERRED: "deferred",
                NOT_JUDGED: "notjudged"}


def is_threshold(result: CheckResult) -> bool:
    """A training run judged against an accuracy threshold (autograder/stages/threshold.py): its details
    hold the threshold and the accuracy, or, when it did not run (deferred, gated, crashed),
    the dataset it was for."""
    d = result.details
    return isinstance(d, dict) and "threshold" in d and ("accuracy" in d or "dataset" in d)


@dataclass
class _Threshold:
    ran: bool  # an accuracy was measured
    accuracy: str
    threshold: str
    reached: bool | None
    fill: float  # accuracy, 0-100, for the bar
    mark: float  # threshold, 0-100
    curve: Png | None
    confusion: Png | None
    confusions: list[tuple[str, str, int]]
    facts: list[tuple[str, str]]


def _threshold_view(details: dict[str, Any]) -> _Threshold:
    accuracy, threshold = to_float(details.get("accuracy")), to_float(details.get("threshold"))
    reached = None if math.isnan(accuracy) or math.isnan(threshold) else accuracy >= threshold
    facts = []
    if isinstance(details.get("not_run"), list) and details["not_run"]:
        facts.append(("à corriger d’abord", ", ".join("règle des API interdites" if f == "*" else str(f)
                                                       for f in details["not_run"])))
    if details.get("dataset") is not None:
        facts.append(("jeu de données", str(details["dataset"])))
    budget = details.get("budget")
    if isinstance(budget, dict):
        names = {"epochs": "époques", "batch_size": "taille de lot", "lr": "taux d’apprentissage", "seed": "graine",
                 "schedule": "évolution du taux", "momentum": "moment", "weight_decay": "pénalité L2",
                 "optimizer": "optimiseur", "hidden": "neurones cachés"}
        facts += [(names.get(str(k), str(k)), compact(v)) for k, v in budget.items()]
    seconds = to_float(details.get("seconds"))
    if math.isfinite(seconds):
        facts.append(("durée", f"{seconds:.1f} s"))

    def clamp(x: float) -> float:
        return 0.0 if math.isnan(x) else max(0.0, min(100.0, 100 * x))

    curve = confusion = None
    try:
        curve = learning_curve_png(details)
    except Exception:  # noqa: BLE001 - a figure never costs the page
        curve = None
    try:
        confusion = confusion_png(details)
    except Exception:  # noqa: BLE001
        confusion = None
    return _Threshold("accuracy" in details, pct(accuracy), pct(threshold), reached, clamp(accuracy), clamp(threshold),
                      curve, confusion,
                      top_confusions(details), facts)


def _groups(results: list[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.function, []).append(r)
    return list(groups.items())


def feedback_html(graded: Graded) -> str:
    """The feedback page of one student for one assignment (French, self-contained)."""
    counts = Counter(r.status for r in graded.results)
    order = [PASSED, FAILED, NOT_JUDGED, NOT_IMPLEMENTED, DEFERRED, ERROR]
    chips = [(s, f"{counts[s]} {(STATUS_FR_PLURAL if counts[s] > 1 else STATUS_FR).get(s, s)}")
             for s in [*order, *sorted(set(counts) - set(order))] if counts[s]]
    if graded.error == NO_SUBMISSION:
        chips = []  # nothing ran: no "8 failed" on the page of a student who submitted nothing
    thresholds = {r.check_id: _threshold_view(r.details) for r in graded.results if is_threshold(r)}
    output, cut = clean_output(graded.output)
    output = output.strip("\n")
    score, max_score = graded.score, graded.max_score
    percent = 0.0 if not max_score else max(0.0, min(100.0, 100 * score / max_score))
    return render(
        "feedback.html.j2",
        g=graded, score=num(score), max_score=num(max_score), percent=f"{percent:.1f}", chips=chips,
        labels=STATUS_FR, classes=STATUS_CLASS, deferred=counts[DEFERRED], groups=_groups(graded.results),
        thresholds=thresholds, output=output, cut=cut, lines=output.count("\n") + 1,
        late=late_fr(graded), raw_score=num(graded.raw_score), penalty=num(graded.penalty),
        absent=graded.error == NO_SUBMISSION,
    )


def late_fr(graded: Graded) -> str:
    """How late the submission was, in French ("" when on time)."""
    from autograder.stages.late import duration

    return duration(graded.seconds_late, "j") if graded.late else ""


def write_feedback(out: Path, graded: Graded) -> Path:
    """``OUT/<student>/<assignment>/feedback.html``, written atomically."""
    path = out / graded.student / graded.assignment / FEEDBACK_FILE
    atomic_write(path, feedback_html(graded))
    return path
