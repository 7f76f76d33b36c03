"""``autograder grade --nbgrader-db URL``: our scores in nbgrader's gradebook database.

The course's gradebook (``assignments/gradebook.db`` once nbgrader's ``generate_assignment``
has run there) knows each assignment's notebooks and grade cells. For every graded submission
this writes, per test cell ``test_<function>`` (``test_api`` for the whole-submission checks,
``test_train`` for the threshold run), the points ``autograder grade`` gave that function's
checks as the cell's automatic score, the same points plain ``nbgrader autograde`` would give
(see :mod:`autograder.course.hidden`). Manually graded cells (the written answers) are left for
formgrader; students are created when missing. ``nbgrader export`` and formgrader then see the
scores.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from autograder.checks.spec import WHOLE_SUBMISSION
from autograder.results import Graded


class GradebookError(RuntimeError):
    """The gradebook lacks what a score needs (run nbgrader's generate_assignment first)."""


def cell_points(graded: Graded) -> dict[str, float]:
    """Points per nbgrader test cell: ``test_<function>`` ← the checks of that function."""
    cells: dict[str, float] = defaultdict(float)
    for r in graded.results:
        cells["test_api" if r.function == WHOLE_SUBMISSION else f"test_{r.function}"] += r.points
    return dict(cells)


def write_scores(db_url: str, graded: list[Graded]) -> int:
    """Write every submission's cell scores into the gradebook at ``db_url``; returns how many
    submissions were written. Raises :class:`GradebookError` when an assignment or a cell is
    unknown there."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    from autograder.results import NO_SUBMISSION

    written = 0
    with Gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's own add_submission makes SQLAlchemy warn ("Object of type <SubmittedAssignment>
        # not in session"), harmlessly, three times a submission
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted")
        for g in graded:
            if g.error == NO_SUBMISSION:  # on the roster, nothing submitted: no submission row (as nbgrader)
                continue
            try:
                assignment = gb.find_assignment(g.assignment)
            except MissingEntry:
                raise GradebookError(f"{db_url} has no assignment {g.assignment!r}: run "
                                     f"`nbgrader generate_assignment {g.assignment}` in the course first") from None
            notebook = g.assignment if any(nb.name == g.assignment for nb in assignment.notebooks) \
                else assignment.notebooks[0].name
            gb.update_or_create_student(g.student)
            try:
                gb.find_submission(g.assignment, g.student)
            except MissingEntry:
                gb.add_submission(g.assignment, g.student)
            for cell, points in cell_points(g).items():
                try:
                    grade = gb.find_grade(cell, notebook, g.assignment, g.student)
                except MissingEntry:
                    raise GradebookError(f"{g.assignment}/{notebook} has no grade cell {cell!r} in {db_url}") from None
                grade.auto_score = points
                grade.needs_manual_grade = False
            # (the submission's timestamp is nbgrader_files's: exact to the microsecond, as formgrader
            # compares it with timestamp.txt's to tell an autograded submission)
            gb.find_submission_notebook(notebook, g.assignment, g.student).late_submission_penalty = \
                g.penalty if g.late else None
            gb.db.commit()
            written += 1
    return written


LATENESS_COLUMNS = ("raw_score", "late_penalty", "seconds_late", "submitted_at", "due")


def gradebook_csv(graded: list[Graded]) -> str:
    """One row per student and assignment: student, assignment, score (after the late penalty),
    max_score, the lateness (:data:`LATENESS_COLUMNS`: points before the penalty, the penalty,
    seconds late, nbgrader's timestamp and the due date, both UTC, empty when there is none),
    then one column per check (its points). Sorted, no timings: the same results give the same bytes."""
    check_ids = sorted({r.check_id for g in graded for r in g.results})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_text(c) for c in ["student", "assignment", "score", "max_score", *LATENESS_COLUMNS, *check_ids]])
    for g in sorted(graded, key=lambda g: (g.student, g.assignment)):
        points = {r.check_id: r.points for r in g.results}
        writer.writerow([_text(g.student), _text(g.assignment), _num(g.score), _num(g.max_score),
                         _num(g.raw_score), _num(g.penalty), _num(round(g.seconds_late)), g.submitted_at, g.due,
                         *(_num(points[c]) if c in points else "" for c in check_ids)])
    return buffer.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(cell: str) -> str:
    """A text cell a spreadsheet will not run: one that starts like a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR: a student folder named ``=HYPERLINK(…)``) gets a leading ``'``, as
    OWASP recommends. A CR, which the csv module leaves unquoted, is written as ``\\r``: it
    would start a row in some spreadsheets. Numbers are written by :func:`_num`, never here."""
    cell = "'" + cell if cell.startswith(FORMULA_START) else cell
    return cell.replace("\r", "\\r")


def _num(x: float) -> str:
    return f"{x:g}"
