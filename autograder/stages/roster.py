"""The class list: who must get a grade, whether or not they submitted.

A run's class is its roster when it has one (``--roster CSV``, or the students of the nbgrader
gradebook given with ``--nbgrader-db``), else the students who submitted. Every roster student
gets a row in ``grades.csv`` and the report ("no submission", 0 points); a student who submitted
but is not on the roster is graded all the same and named in the report. Results of other
students left in ``--out`` by an earlier class are never shown.

The CSV is nbgrader's own student import format (``nbgrader db student import``): a header with
``id`` and optionally ``first_name``, ``last_name``, ``email`` (and ``lms_user_id``); other
columns are ignored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


class RosterError(ValueError):
    """A roster that cannot be read (its one line says why)."""


@dataclass(frozen=True)
class Student:
    id: str  # the student folder's name in submitted/, nbgrader's student id
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


FIELDS = ("id", "first_name", "last_name", "email", "lms_user_id")


def read_csv(path: Path) -> list[Student]:
    """The students of a roster CSV (nbgrader's import format), in file order, without duplicates."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise RosterError(f"--roster {path}: cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows and "id" not in (text.splitlines() or [""])[0].split(","):
        raise RosterError(f"--roster {path}: expected a CSV with a header line naming an 'id' column")
    if rows and "id" not in rows[0]:
        raise RosterError(f"--roster {path}: no 'id' column (its columns: {', '.join(map(str, rows[0]))}); "
                          f"expected nbgrader's student CSV: id,first_name,last_name,email")
    students, seen = [], set()
    for line, row in enumerate(rows, start=2):
        sid = (row.get("id") or "").strip()
        if not sid:
            raise RosterError(f"--roster {path}: line {line} has no id")
        if sid in seen:
            continue
        seen.add(sid)
        students.append(Student(sid, *((row.get(f) or "").strip() for f in FIELDS[1:])))
    return students


def read_gradebook(db_url: str) -> list[Student]:
    """The students of an nbgrader gradebook, sorted by id."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return [Student(s.id, s.first_name or "", s.last_name or "", s.email or "", s.lms_user_id or "")
                for s in sorted(gb.students, key=lambda s: s.id)]
