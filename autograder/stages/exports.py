"""Gradebook exports for a learning-management system: ``OUT/lms.csv`` and ``OUT/moodle.csv``.

Both are built from the stored results (:class:`autograder.results.Graded`) and the class list
(:mod:`autograder.stages.roster`): one row per student of the roster, plus any student who was
graded but is not on it; sorted by student id, without timings, so the same inputs give the same
bytes. Scores are after the late penalty (``Graded.score``). A student with no result for an
assignment gets 0 for it. Text cells are neutralised against spreadsheet formulas by
:func:`autograder.stages.gradebook._text`, numbers written by its ``_num``.

``lms.csv`` (any LMS or spreadsheet): ``id, first_name, last_name, email``, then per assignment
``<a>`` (score after penalty), ``<a> late penalty`` (points taken off) and ``<a> status``
(empty when graded on time; ``late``; ``no submission``: no result at all, 0; ``not graded``: the
submission could not be graded, see the class report), then ``total`` and ``max total`` (the sum
of the assignments' maximum scores).

``moodle.csv`` is Moodle's grade import format (Grades → Import → CSV file; docs.moodle.org,
"Grade import"): a header line, one row per student, comma separated, UTF-8. Columns:
``Email address``, ``ID number``, then one column per assignment, named by the assignment and
holding the score after penalty. In Moodle's import dialog the instructor maps

- *Identify user*: "Map from" ``Email address`` → "Map to" ``Email address`` (useremail), when
  the roster has e-mail addresses (Moodle compares them case-sensitively); otherwise "Map from"
  ``ID number`` → "Map to" ``ID number`` (useridnumber): the roster's ``lms_user_id``, else the
  nbgrader student id, which must then be the students' ID number in Moodle;
- *Grade item mappings*: each assignment's column → its grade item (or "New grade item"), and
  the other identifying column → "Ignore".

Moodle reports a "user mapping error" for a row whose user it cannot find. Rows are never
dropped here: a student without an e-mail address keeps an empty cell, which shows who needs one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.results import NO_NOTEBOOK, NO_SUBMISSION, Graded
from autograder.stages.gradebook import _num, _text
from autograder.stages.roster import Student
from autograder.stages.store import atomic_write

LMS_FILE = "lms.csv"
MOODLE_FILE = "moodle.csv"

ON_TIME, LATE, NOT_GRADED = "", "late", "not graded"


def _class(graded: list[Graded], roster: list[Student]) -> list[Student]:
    """Every roster student and every graded student not on it, sorted by id."""
    students = {s.id: s for s in roster}
    for g in graded:
        students.setdefault(g.student, Student(g.student))
    return [students[sid] for sid in sorted(students)]


def _max_scores(graded: list[Graded], assignments: list[str]) -> dict[str, float]:
    """Each assignment's maximum score: from its results, else from its checks (no one submitted)."""
    best: dict[str, float] = {}
    for g in graded:
        best[g.assignment] = max(best.get(g.assignment, 0.0), g.max_score)
    for a in assignments:
        if a not in best:
            try:
                from autograder import checks

                best[a] = checks.load(a).max_points
            except Exception:  # noqa: BLE001 - not one of the course's assignments: nothing known
                best[a] = 0.0
    return best


def _status(g: Graded | None) -> str:
    if g is None or g.error in (NO_SUBMISSION, NO_NOTEBOOK):
        return NO_SUBMISSION
    if g.error:
        return NOT_GRADED
    return LATE if g.late else ON_TIME


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def lms_csv(graded: list[Graded], roster: list[Student], assignments: list[str]) -> str:
    """The generic LMS gradebook (see the module's docstring for its columns)."""
    by = {(g.student, g.assignment): g for g in graded}
    maxima = _max_scores(graded, assignments)
    header = ["id", "first_name", "last_name", "email"]
    for a in assignments:
        header += [a, f"{a} late penalty", f"{a} status"]
    rows = [[_text(c) for c in [*header, "total", "max total"]]]
    for s in _class(graded, roster):
        row, total = [_text(s.id), _text(s.first_name), _text(s.last_name), _text(s.email)], 0.0
        for a in assignments:
            g = by.get((s.id, a))
            score = g.score if g is not None else 0.0
            total += score
            row += [_num(score), _num(g.penalty if g is not None else 0.0), _text(_status(g))]
        rows.append(row + [_num(total), _num(sum(maxima[a] for a in assignments))])
    return _csv(rows)


def moodle_csv(graded: list[Graded], roster: list[Student], assignments: list[str]) -> str:
    """Moodle's grade import CSV (see the module's docstring for the mapping in Moodle's dialog)."""
    by = {(g.student, g.assignment): g for g in graded}
    rows = [[_text(c) for c in ["Email address", "ID number", *assignments]]]
    for s in _class(graded, roster):
        scores = [_num(by[(s.id, a)].score if (s.id, a) in by else 0.0) for a in assignments]
        rows.append([_text(s.email), _text(s.lms_user_id or s.id), *scores])
    return _csv(rows)


def write_exports(out: Path, graded: list[Graded], roster: list[Student], assignments: list[str]) -> list[Path]:
    """``OUT/lms.csv`` and ``OUT/moodle.csv``, each written atomically; returns their paths."""
    paths = [Path(out) / LMS_FILE, Path(out) / MOODLE_FILE]
    for path, text in zip(paths, (lms_csv(graded, roster, assignments), moodle_csv(graded, roster, assignments)),
                          strict=True):
        atomic_write(path, text)
    return paths
