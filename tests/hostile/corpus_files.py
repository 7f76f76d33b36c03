"""Hostile submissions made of files and names, not code: created at run time in a class folder
(never committed: symbolic links, a FIFO, names that are not UTF-8).

Every attacker starts from one of the example notebooks (examples/submitted/correct or buggy,
tp1_perceptron) and breaks one thing. ``ATTACKS`` says, per student folder: how it is made, the
graded functions of the notebook it breaks (``None``: the submission is refused and earns 0), the
notebook it starts from, and a phrase its reason must contain.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.results import CheckResult, Graded

A = "tp1_perceptron"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "submitted"
CORRECT = EXAMPLES / "correct" / A / f"{A}.ipynb"
BUGGY = EXAMPLES / "buggy" / A / f"{A}.ipynb"
SOURCE = REPO / "assignments" / "source" / A / f"{A}.ipynb"
HONEST = {"alice": CORRECT, "bob": BUGGY}  # the honest students, the examples under other names
NON_UTF8 = b"bad\xff\xfename"


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _with_predict(source: Callable[[str], str], base: Path = CORRECT) -> dict:
    """The notebook at ``base`` with the cell that defines predict rewritten by ``source``."""
    nb = copy.deepcopy(_read(base))
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and text.startswith("def predict("):
            cell["source"] = source(text)
            return nb
    raise AssertionError("no predict cell")


def _write_nb(path: Path, nb: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, ensure_ascii=True, indent=1), encoding="ascii")  # a lone surrogate as \\ud800


def _folder(root: Path, student: str | bytes) -> Path:
    folder = os.path.join(os.fsencode(root), os.fsencode(student), A.encode())
    os.makedirs(folder)
    return Path(os.fsdecode(folder))


def _copy(base: Path) -> Callable[[Path, str], None]:
    def make(root: Path, student: str) -> None:
        shutil.copy(base, _folder(root, student) / f"{A}.ipynb")
    return make


def _notebook(nb: dict) -> Callable[[Path, str], None]:
    def make(root: Path, student: str) -> None:
        _write_nb(_folder(root, student) / f"{A}.ipynb", nb)
    return make


def _raising(message: str) -> dict:
    """predict raises RuntimeError(message) whatever it is called with."""
    def body(text: str) -> str:
        head = text.split('"""')[0]  # def predict(...) -> Tensor:\n
        return head + f"raise RuntimeError({message})\n"
    return _with_predict(body)


def fifo(root: Path, student: str) -> None:
    os.mkfifo(_folder(root, student) / f"{A}.ipynb")


def link_to(target: Callable[[Path], Path | str]) -> Callable[[Path, str], None]:
    def make(root: Path, student: str) -> None:
        os.symlink(target(root), _folder(root, student) / f"{A}.ipynb")
    return make


def link_student_folder(root: Path, student: str) -> None:
    os.symlink("alice", root / student)


def link_assignment_folder(root: Path, student: str) -> None:
    (root / student).mkdir()
    os.symlink(f"../alice/{A}", root / student / A)


def huge(root: Path, student: str) -> None:
    nb = copy.deepcopy(_read(CORRECT))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (21 << 20)})
    _write_nb(_folder(root, student) / f"{A}.ipynb", nb)


def two_notebooks(root: Path, student: str) -> None:
    """The buggy notebook under the assignment's name, the correct one beside it: the first is graded."""
    folder = _folder(root, student)
    shutil.copy(BUGGY, folder / f"{A}.ipynb")
    shutil.copy(CORRECT, folder / "aaa_best.ipynb")


def non_utf8(root: Path, student: str) -> None:
    _copy(CORRECT)(root, NON_UTF8)


@dataclass(frozen=True)
class Attack:
    make: Callable[[Path, str], None]
    breaks: frozenset[str] | None  # None: refused, 0 points
    reason: str  # a phrase its reason names
    base: Path = CORRECT
    folder_refused: bool = False  # no results at all: listed in report.html only


PREDICT = frozenset({"predict"})
ALL = frozenset({"forward", "update", "predict"})  # the code does not load: nothing can be called
DEEP = "1" + " + 1" * 20_000
ATTACKS: dict[str, Attack] = {
    "surrogate_in_code": Attack(_notebook(_with_predict(lambda t: t + "\nNAME = '\ud800-\udc80'\n")),
                                PREDICT, "lone surrogate"),
    "surrogate_in_message": Attack(_notebook(_raising("'bad \\ud800 text ' + chr(0xdc80)")), PREDICT, "RuntimeError"),
    "deep_nesting": Attack(_notebook(_with_predict(lambda t: t + f"\nX = {DEEP}\n")), PREDICT, "nests too deeply"),
    "huge_message_in_call": Attack(_notebook(_raising("'x' * 20_000_000")), PREDICT, "RuntimeError"),
    # raised while the code loads, by an exception class with a 20 MB name (the worker cuts the
    # message, not the type's name): the reason was once copied into every check's result
    "huge_message_at_load": Attack(_notebook(_with_predict(
        lambda t: t + "\n\nclass Boom:\n    raise type('E' * 20_000_000, (Exception,), {})('x' * 20_000_000)\n")),
        ALL, "truncated"),
    "fifo_notebook": Attack(fifo, None, "not a regular file"),
    "dev_zero": Attack(link_to(lambda root: "/dev/zero"), None, "symbolic link"),
    "huge_notebook": Attack(huge, None, "20 MB"),
    "link_to_classmate": Attack(link_to(lambda root: Path("..", "..", "alice", A, f"{A}.ipynb")), None, "symbolic link"),
    "link_to_source": Attack(link_to(lambda root: SOURCE), None, "symbolic link"),
    "link_student_folder": Attack(link_student_folder, None, "symbolic link"),
    "link_assignment_folder": Attack(link_assignment_folder, None, "symbolic link"),
    "two_notebooks": Attack(two_notebooks, frozenset(), "not graded: aaa_best.ipynb", base=BUGGY),
    "grades.csv": Attack(_copy(CORRECT), None, "reserved", folder_refused=True),
    "report.html": Attack(_copy(CORRECT), None, "reserved", folder_refused=True),
    ".hidden": Attack(_copy(CORRECT), None, "starts with '.'", folder_refused=True),
    "non_utf8": Attack(non_utf8, None, "not valid UTF-8", folder_refused=True),
    "row\ninjection": Attack(_copy(CORRECT), None, "control character", folder_refused=True),
    '=HYPERLINK("https:evil.example","y")': Attack(_copy(BUGGY), frozenset(), "", base=BUGGY),
    "+cmd|' -C calc'!A0": Attack(_copy(BUGGY), frozenset(), "", base=BUGGY),
    "@SUM(1+1)": Attack(_copy(BUGGY), frozenset(), "", base=BUGGY),
    "-2+3": Attack(_copy(BUGGY), frozenset(), "", base=BUGGY),
}


def write_class(root: Path, attackers: bool) -> Path:
    """``root/submitted`` with the honest students, and the attackers when asked."""
    submitted = root / "submitted"
    for student, notebook in HONEST.items():
        _copy(notebook)(submitted, student)
    if attackers:
        for student, attack in ATTACKS.items():
            attack.make(submitted, student)
    return submitted


# --- a grading function for the pool's unit test: it kills its worker for one student -------------------


def dies_for_one(student, notebook, assignment, *, refused="", notes=(), **kwargs) -> Graded:
    if student == "dies":
        os._exit(3)
    result = CheckResult(f"{assignment}.f.c", "c", "f", "passed", 1.0, 1.0, False)
    return Graded(student, assignment, [result], 1.0)


def batch_dies_for_one(items, **kwargs) -> list[Graded]:
    """:func:`dies_for_one` as :func:`autograder.grade.grade_batch` calls it: a student's items."""
    return [dies_for_one(student, notebook, assignment, refused=why, notes=notes, **kwargs)
            for student, notebook, assignment, why, notes in items]
