"""The late stage: when each submission was made, how late it was, and the penalty, as nbgrader counts them.

- **When**: nbgrader's ``timestamp.txt`` in ``submitted/<student>/<assignment>/`` (written by
  ``nbgrader collect``/``submit``), parsed with nbgrader's own ``parse_utc``. It is read like
  the notebook: never through a link, at most :data:`MAX_TIMESTAMP_BYTES`. A missing one means
  "not late" (nbgrader's rule); an unreadable one is a note on the submission, and graded as on time.
- **Due**: the assignment's due date and the student's extension from the nbgrader gradebook
  (``--nbgrader-db``, where ``nbgrader db assignment add --duedate`` and formgrader put them),
  or ``--due ASSIGNMENT=WHEN`` for a course without a gradebook; no due date, never late.
- **Penalty**: the course's late policy, read from its ``nbgrader_config.py`` exactly as
  ``nbgrader autograde`` reads it: ``AssignLatePenalties.plugin_class`` (default nbgrader's
  ``LateSubmissionPlugin``, whose ``penalty_method`` is ``none`` or ``zero``), called with the
  submission's points and seconds late, and clamped to [0, points] as nbgrader clamps it.
  This course's policy is :class:`autograder.course.late.PerDayPenalty`.

The penalty is applied to every result at every run, reused ones too (it is not an input of
the grade, :mod:`autograder.stages.freshness`): a due date or an extension given after grading
reaches each student at the next run, without grading anything again.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from autograder import registry
from autograder.results import Graded

TIMESTAMP_FILE = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 1024  # "2026-11-30 23:59:00.000000 UTC" is 30


class LateError(ValueError):
    """A due date or a late policy that cannot be used (its one line says why)."""


def parse_when(text: str) -> dt.datetime:
    """A date as nbgrader parses one (naive UTC); ``LateError`` when it is not a date."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text.strip())
    except (ValueError, OverflowError, TypeError) as e:
        raise LateError(f"{text!r} is not a date ({e}); write e.g. '2026-12-01 23:59:00 Europe/Paris'") from None


def iso(when: dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when is not None else ""


def read_timestamp(folder: Path) -> tuple[dt.datetime | None, str]:
    """(when the submission in ``folder`` was made or None, a note when its timestamp.txt is unusable)."""
    path = folder / TIMESTAMP_FILE
    try:
        st = os.lstat(path)
    except OSError:
        return None, ""
    if not stat.S_ISREG(st.st_mode):
        return None, f"{TIMESTAMP_FILE} is not a regular file (a link?): the submission is taken as on time"
    if st.st_size > MAX_TIMESTAMP_BYTES:
        return None, f"{TIMESTAMP_FILE} is {st.st_size} bytes, not a timestamp: the submission is taken as on time"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            text = f.read(MAX_TIMESTAMP_BYTES).decode("utf-8", errors="replace").strip()
    except OSError as e:
        return None, f"{TIMESTAMP_FILE} cannot be read ({e.strerror}): the submission is taken as on time"
    if not text:
        return None, ""  # nbgrader: an empty timestamp file is a warning, no timestamp
    try:
        return parse_when(text), ""
    except LateError:
        shown = text[:60].encode("ascii", "backslashreplace").decode()
        return None, f"{TIMESTAMP_FILE} holds {shown!r}, not a date: the submission is taken as on time"


@dataclass
class Schedule:
    """Due dates (naive UTC) per assignment, extensions per (assignment, student)."""

    due: dict[str, dt.datetime] = field(default_factory=dict)
    extensions: dict[tuple[str, str], dt.timedelta] = field(default_factory=dict)

    def due_for(self, assignment: str, student: str) -> dt.datetime | None:
        due = self.due.get(assignment)
        return None if due is None else due + self.extensions.get((assignment, student), dt.timedelta())


def schedule_from_options(due: list[str] | None) -> Schedule:
    """``--due ASSIGNMENT=WHEN`` options (repeatable)."""
    schedule = Schedule()
    for item in due or []:
        name, sep, when = item.partition("=")
        if not sep or name not in registry.NAMES:
            raise LateError(f"--due {item!r}: expected ASSIGNMENT=WHEN with ASSIGNMENT one of {', '.join(registry.NAMES)}")
        schedule.due[name] = parse_when(when)
    return schedule


def schedule_from_gradebook(db_url: str) -> Schedule:
    """Due dates and extensions as the nbgrader gradebook holds them."""
    from nbgrader.api import Gradebook

    schedule = Schedule()
    with Gradebook(db_url) as gb:
        for a in gb.assignments:
            if a.duedate is not None:
                schedule.due[a.name] = a.duedate
            for s in a.submissions:
                if s.extension:
                    schedule.extensions[(a.name, s.student.id)] = s.extension
    return schedule


def course_root(submitted: Path) -> Path:
    """The nbgrader course of a class: the folder holding ``submitted/`` when it has an
    ``nbgrader_config.py``, else this project's course (``assignments/``)."""
    for candidate in (submitted, submitted.parent):
        if (candidate / "nbgrader_config.py").is_file() and (candidate / "submitted").is_dir():
            return candidate
    return registry.COURSE


class Policy:
    """The course's late policy: its nbgrader config's ``AssignLatePenalties.plugin_class``."""

    def __init__(self, course: Path):
        from nbgrader.plugins import BasePlugin
        from nbgrader.preprocessors import AssignLatePenalties
        from traitlets.config.loader import PyFileConfigLoader

        self.course = course
        config_file = course / "nbgrader_config.py"
        try:
            config = PyFileConfigLoader(config_file.name, path=str(course)).load_config() if config_file.is_file() else None
            self.plugin: BasePlugin = AssignLatePenalties(config=config).plugin_class(config=config)
        except Exception as e:  # noqa: BLE001 - the instructor's config: one line, before grading
            raise LateError(f"the late policy of {config_file} cannot be loaded: {type(e).__name__}: {e}") from None
        cls = type(self.plugin)
        method = getattr(self.plugin, "penalty_method", None)
        self.name = f"{cls.__module__}.{cls.__qualname__}" + (f" (penalty_method={method!r})" if method else "")
        if hasattr(self.plugin, "describe"):
            self.name = self.plugin.describe()

    def penalty(self, student: str, points: float, seconds_late: float) -> float:
        """nbgrader's AssignLatePenalties: the plugin's penalty, None as 0, clamped to [0, points]."""
        if seconds_late <= 0:
            return 0.0
        value = self.plugin.late_submission_penalty(student, points, seconds_late)
        return 0.0 if value is None else float(min(max(value, 0.0), points))


def apply(graded: Graded, submitted_at: dt.datetime | None, due: dt.datetime | None, policy: Policy) -> Graded:
    """``graded`` with its lateness and penalty for this run's schedule and policy."""
    late = max(0.0, (submitted_at - due).total_seconds()) if submitted_at is not None and due is not None else 0.0
    return replace(graded, submitted_at=iso(submitted_at), due=iso(due), seconds_late=late,
                   penalty=policy.penalty(graded.student, graded.raw_score, late))


def duration(seconds: float, day: str = "d") -> str:
    """'2 d 3 h 4 min' (rounded to the minute, at least 1 min); ``day``: the day's unit ('j' in French)."""
    minutes = max(1, round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} {day}" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p)


def lateness(seconds: float) -> str:
    """'2 d 3 h 4 min late', '' when on time."""
    return f"{duration(seconds)} late" if seconds > 0 else ""
