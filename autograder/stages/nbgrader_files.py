"""``autograder grade --nbgrader-db``: what nbgrader's later steps expect after its ``autograde``.

:func:`autograder.stages.gradebook.write_scores` puts our points into the gradebook; this writes
the rest of the state ``nbgrader autograde`` leaves, so that formgrader, ``generate_feedback``
and ``release_feedback`` work on submissions graded by us. For each graded submission of the
course (the parent of ``submitted/``):

- **the submission in the gradebook**: ``SubmittedAssignment`` with the submission's timestamp
  (its ``timestamp.txt``, as ``nbgrader autograde`` reads it), ``SubmittedNotebook``, and a
  ``Grade`` and a ``Comment`` row for every cell (nbgrader's ``update_or_create_submission``);
- **the autograded notebook** ``autograded/<student>/<assignment>/<notebook>.ipynb``: the
  student's notebook (read as JSON by :func:`autograder.stages.extract.read_notebook`: a regular
  file, never through a link, size-capped) put through nbgrader's own preprocessors, in the order
  of ``Autograde``: ``ClearOutput``, ``DeduplicateIds``, ``OverwriteKernelspec``,
  ``OverwriteCells`` (cell types, locks, points and checksums restored from the source; a locked
  cell's source replaced by the source's), ``CheckCellMetadata``, then, instead of ``Execute``,
  :class:`InsertScores`, then ``IgnorePattern``, ``ClearMetadataPreprocessor``, ``LimitOutput``,
  ``SaveAutoGrades``, ``AssignLatePenalties`` and ``CheckCellMetadata``. **No student code runs
  here**: nbgrader's ``Execute`` is the only step left out, and :class:`InsertScores` writes into
  each autograded test cell what our sandbox found: one line per check (✓/✗, points, message)
  as the cell's printed output and the cell's points as its value, which nbgrader reads as
  partial credit. So ``SaveAutoGrades`` records exactly our points, marks a written answer
  (a manually graded cell changed from the release) ``needs_manual_grade`` and an unchanged one
  "No response." with 0, as ``nbgrader autograde`` does; the course's late policy is nbgrader's;
  ``timestamp.txt`` and ``submission_secret.txt`` are copied beside the notebook;
- **the student's feedback page**: our ``OUT/<student>/<assignment>/feedback.html`` becomes
  ``feedback/<student>/<assignment>/<notebook>.html`` with ``timestamp.txt`` and
  ``submission_secret.txt``, where ``nbgrader release_feedback`` takes it (it names the released
  copy ``notebook_hash(secret, notebook)``, which the student's ``fetch_feedback`` looks for).
  ``nbgrader generate_feedback --force`` (after grading written answers in formgrader) replaces
  it with nbgrader's page of the autograded notebook: the manual scores and comments, and our
  check lines in the test cells. A submission without ``submission_secret.txt`` (copied into
  ``submitted/`` without ``nbgrader submit``/``collect``) gets no feedback folder: release_feedback
  would stop on it.

A submission we could not read (a link, too large, not a notebook) keeps its scores and gets no
autograded notebook; the reason is returned. The course's ``nbgrader_config.py`` configures the
preprocessors as it configures nbgrader's (late policy, output limits).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat

from autograder.checks.spec import WHOLE_SUBMISSION
from autograder.results import Graded
from autograder.stages.extract import ExtractError, read_notebook, read_regular_file
from autograder.stages.gradebook import cell_points

SMALL_FILE_BYTES = 4096  # timestamp.txt, submission_secret.txt
COPIED = ("timestamp.txt", "submission_secret.txt")
LINE_CHARACTERS = 300  # a check's message in a test cell's printed output


def course_config(course: Path):
    """The nbgrader configuration of ``course`` (its ``nbgrader_config.py``), as nbgrader loads it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        return Config()
    return PyFileConfigLoader(path.name, path=str(course)).load_config()


def _insert_scores_class():
    from nbgrader import utils
    from nbgrader.preprocessors import NbGraderPreprocessor

    class InsertScores(NbGraderPreprocessor):
        """Instead of nbgrader's ``Execute``: each autograded test cell gets our checks' lines
        as printed output and its points as its value (``resources["autograder"]["cells"]``:
        cell → (points, lines))."""

        def preprocess_cell(self, cell, resources, index):
            if utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code":
                points, lines = resources["autograder"]["cells"].get(cell.metadata.nbgrader["grade_id"], (0.0, []))
                outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"{line}\n" for line in lines))] \
                    if lines else []
                outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": f"{points:g}"},
                                                      execution_count=None))
                cell.outputs = outputs
            return cell, resources

    return InsertScores


def _lines(graded: Graded) -> dict[str, tuple[float, list[str]]]:
    points = cell_points(graded)
    lines: dict[str, list[str]] = {cell: [] for cell in points}
    for r in graded.results:
        cell = "test_api" if r.function == WHOLE_SUBMISSION else f"test_{r.function}"
        message = "" if r.passed or not r.message else " — " + r.message.replace("\n", " ")[:LINE_CHARACTERS]
        lines.setdefault(cell, []).append(f"{'✓' if r.passed else '✗'} {r.title}: {r.points:g}/{r.max_points:g}{message}")
    if graded.error:
        for cell in lines:
            lines[cell].insert(0, f"✗ {graded.error[:LINE_CHARACTERS]}")
    return {cell: (points.get(cell, 0.0), lines[cell]) for cell in lines}


def _small(path: Path) -> bytes | None:
    try:
        return read_regular_file(path, SMALL_FILE_BYTES)
    except ExtractError:
        return None


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically (a file left read-only by an earlier run is replaced, not opened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# what tells our feedback page from nbgrader's generated one
OUR_PAGE = b"<h1>Retour de correction</h1>"


def write_nbgrader_files(course: Path, db_url: str, graded: list[Graded], out: Path) -> list[str]:
    """Write the gradebook submissions, autograded notebooks and feedback folders (see the
    module's doc) of ``graded`` into the nbgrader course ``course``; returns one line for each
    submission that could not get them all."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader import utils
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    course, out = Path(course), Path(out)
    config = course_config(course)
    chain = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata, _insert_scores_class(),
             IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, CheckCellMetadata]
    # not AssignLatePenalties: nbgrader's would take the penalty off the notebook's score with the
    # written answers' manual points in it once formgrader has them; the penalty is ours, computed
    # on the automatic points as at autograde time, and written by gradebook.write_scores
    problems = []
    for g in graded:
        folder = course / "submitted" / g.student / g.assignment
        with Gradebook(db_url) as gb:
            notebooks = [nb.name for nb in gb.find_assignment(g.assignment).notebooks]
            stamp = _small(folder / "timestamp.txt")
            timestamp = None
            if stamp is not None:
                try:
                    timestamp = utils.parse_utc(stamp.decode("utf-8", "replace").strip())
                except Exception:  # noqa: BLE001 - nbgrader ignores a timestamp it cannot read too
                    timestamp = None
            if timestamp is not None:
                gb.update_or_create_submission(g.assignment, g.student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(g.assignment, g.student)
        notebook = g.assignment if g.assignment in notebooks else notebooks[0]
        try:
            nb = read_notebook(folder / f"{notebook}.ipynb")
        except ExtractError as e:
            problems.append(f"{g.student}/{g.assignment}: no autograded notebook ({e})")
            continue
        resources = {"unique_key": notebook, "output_files_dir": f"{notebook}_files",
                     "nbgrader": {"student": g.student, "assignment": g.assignment, "notebook": notebook,
                                  "db_url": db_url},
                     "autograder": {"cells": _lines(g)}}
        try:
            for step in chain:
                nb, resources = step(config=config)(nb, resources)
        except Exception as e:  # noqa: BLE001 - one submission never stops the class
            problems.append(f"{g.student}/{g.assignment}: no autograded notebook (nbgrader: {type(e).__name__}: {e})")
            continue
        copied = {name: data for name in COPIED if (data := _small(folder / name)) is not None}
        autograded = course / "autograded" / g.student / g.assignment
        _write(autograded / f"{notebook}.ipynb", nbformat.writes(nb).encode("utf-8"), 0o444)
        for name, data in copied.items():
            _write(autograded / name, data, 0o444)
        page = out / g.student / g.assignment / "feedback.html"
        if "submission_secret.txt" not in copied or "timestamp.txt" not in copied:
            problems.append(f"{g.student}/{g.assignment}: feedback not placed for `nbgrader release_feedback` "
                            f"(the submission has no timestamp.txt or submission_secret.txt: not collected by nbgrader)")
        elif page.is_file():
            feedback = course / "feedback" / g.student / g.assignment
            previous = _small(feedback / f"{notebook}.html")
            if previous is not None and OUR_PAGE not in previous:
                problems.append(f"{g.student}/{g.assignment}: regraded, so its feedback page from `nbgrader "
                                f"generate_feedback` was replaced by the new grading's; after formgrader, run "
                                f"`nbgrader generate_feedback {g.assignment} --force` again")
            _write(feedback / f"{notebook}.html", page.read_bytes())
            for name, data in copied.items():
                _write(feedback / name, data)
    return problems


def course_of(submitted: Path) -> Path | None:
    """The nbgrader course holding ``submitted`` (a course root, or its ``submitted/`` folder)."""
    submitted = Path(submitted).resolve()
    if (submitted / "submitted").is_dir():
        return submitted
    return submitted.parent if submitted.name == "submitted" else None

