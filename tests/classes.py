"""A class of notebooks in nbgrader's layout, and its gradebook read back: what the tests that
grade whole classes (tests/hostile/, tests/autograder/test_hostile_class.py) share."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import nbformat


def write_class(root: Path, students: dict, assignment: str) -> None:
    """``root/submitted/<student>/<assignment>/<assignment>.ipynb`` for each student's notebook."""
    for student, nb in students.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def rows(out: Path) -> dict[str, dict[str, str]]:
    """grades.csv under ``out``, one row per student."""
    return {r["student"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}
