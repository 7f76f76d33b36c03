"""The find stage: the submissions of a class, in nbgrader's ``submitted/<student>/<assignment>/`` layout.

Only the student's own files inside the submitted tree are submissions: nothing is followed
through a link, and nothing here reads a file (``os.lstat`` only). What cannot be graded is
named, never skipped in silence:

- a student folder, assignment folder or notebook that is a symbolic link (or resolves outside
  the submitted tree), or a notebook that is not a regular file (a FIFO, a device) or is larger
  than :data:`MAX_NOTEBOOK_BYTES`: the submission is *refused* — graded 0 with the reason, like a
  missing notebook (:attr:`Submission.refused`);
- a student folder whose name cannot be an output folder (``grades.csv``, ``report.html``, a
  name starting with ``.``, holding a control character, or not valid UTF-8): nothing is written for it; it is
  listed with its reason in the class report (:attr:`Found.refused`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 << 20  # 20 MiB: a course notebook with its outputs is well under 5
# the files and folders the grader writes at the top of OUT: no student folder may take their name
RESERVED_NAMES = frozenset({"grades.csv", "report.html"})


@dataclass(frozen=True)
class Submission:
    student: str
    notebook: Path | None  # None: no notebook (or refused)
    refused: str = ""  # why this submission is not read at all ("" when it is)
    notes: tuple[str, ...] = ()  # e.g. the other notebooks of the folder, not graded


@dataclass
class Found:
    submissions: list[Submission] = field(default_factory=list)
    # (student folder as shown, reason): folders that get no results at all
    refused: list[tuple[str, str]] = field(default_factory=list)


def class_root(submitted: Path) -> Path:
    """``submitted`` itself, or its ``submitted/`` when it is a course root holding one."""
    return submitted / "submitted" if (submitted / "submitted").is_dir() else submitted


def folder_name_problem(name: str) -> str:
    """Why a student folder's name cannot be an output folder ("" when it can)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the student folder's name is not valid UTF-8, so no result file can be named after it; rename it"
    if name in RESERVED_NAMES:
        return f"the student folder is named {name!r}, a name reserved for the grader's own files; rename it"
    if name.startswith("."):
        return "the student folder's name starts with '.', reserved for hidden and temporary files; rename it"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "the student folder's name holds a control character (a tab, a line break…); rename it"
    return ""


def shown(name: str) -> str:
    """A folder name as the report can show it: a name that is not UTF-8, or holds a control
    character, as its bytes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(os.fsencode(name))
    return ascii(os.fsencode(name)) if any(ord(c) < 32 or ord(c) == 127 for c in name) else name


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _link(path: Path, rel: str) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return f"the submission is a symbolic link: {rel} -> {shown(target)}; submit the file itself"


def _inside(path: Path, root: Path) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)
    except ValueError:
        return False


def notebook_problem(path: Path, rel: str, st: os.stat_result | None = None) -> str:
    """Why the notebook at ``path`` is not read ("" when it may be): a link, not a regular
    file, or over the size cap. Only ``lstat``: nothing is opened."""
    st = st or _lstat(path)
    if st is None:
        return f"{rel} cannot be read"
    if stat.S_ISLNK(st.st_mode):
        return _link(path, rel)
    if not stat.S_ISREG(st.st_mode):
        return f"{rel} is not a regular file (a FIFO, device or folder); submit the notebook file itself"
    if st.st_size > MAX_NOTEBOOK_BYTES:
        return (f"{rel} is {st.st_size / (1 << 20):.1f} MB, more than the {MAX_NOTEBOOK_BYTES >> 20} MB "
                f"a notebook may be; clear its outputs and submit it again")
    return ""


def scan(submitted: Path, assignment: str) -> Found:
    """Every student folder of ``submitted`` for ``assignment``: the submissions to grade (those
    refused carry their reason) and the folders that get no results (see the module's doc)."""
    root = class_root(submitted)
    found = Found()
    for name in sorted(os.listdir(root)):
        student_dir = root / name
        st = _lstat(student_dir)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            if not os.path.isdir(student_dir):  # a link to a file: not a student folder
                continue
            problem = folder_name_problem(name)
            if problem:
                found.refused.append((shown(name), problem))
            else:
                found.submissions.append(Submission(name, None, _link(student_dir, name)))
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        folder = student_dir / assignment
        fst = _lstat(folder)
        if fst is None or not (stat.S_ISDIR(fst.st_mode) or stat.S_ISLNK(fst.st_mode)):
            continue
        problem = folder_name_problem(name)
        if problem:
            found.refused.append((shown(name), problem))
            continue
        rel = f"{name}/{assignment}"
        if stat.S_ISLNK(fst.st_mode):
            if os.path.isdir(folder):
                found.submissions.append(Submission(name, None, _link(folder, rel)))
            continue
        found.submissions.append(_pick(root, name, folder, assignment))
    return found


def _pick(root: Path, student: str, folder: Path, assignment: str) -> Submission:
    """The notebook of one assignment folder: the one named after the assignment, else the first."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".ipynb") and not n.startswith("."))
    except OSError as e:
        return Submission(student, None, f"{student}/{assignment} cannot be listed ({e.strerror})")
    preferred = [n for n in names if n == f"{assignment}.ipynb"]
    if not names:
        return Submission(student, None)
    chosen = (preferred or names)[0]
    notes = ()
    if len(names) > 1:
        others = ", ".join(shown(n) for n in names if n != chosen)
        notes = (f"graded {shown(chosen)}; the folder's other notebooks are not graded: {others}",)
    path = folder / chosen
    rel = f"{student}/{assignment}/{shown(chosen)}"
    problem = notebook_problem(path, rel)
    if not problem and not _inside(path, root):
        problem = f"{rel} resolves outside the submitted folder"
    return Submission(student, None if problem else path, problem, notes)


def find_submissions(submitted: Path, assignment: str) -> list[Submission]:
    """The submissions of ``scan`` (``submitted`` may also be a course root holding
    ``submitted/``). A student folder without a notebook gives ``notebook=None`` (graded as
    "no notebook submitted")."""
    return scan(submitted, assignment).submissions
