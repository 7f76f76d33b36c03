"""Which stored results still hold: a result is reused only when what it was computed from is unchanged.

Each ``grading.json`` carries its :func:`inputs`:

- ``notebook`` — the SHA-256 of the graded notebook's bytes (or why there was none: no
  submission, no notebook, a refusal), and which file of the folder was graded;
- ``grader`` — the SHA-256 of every Python source of the packages that decide a grade
  (``autograder``, ``tpcheck``, ``tpworker``, ``reference``) and of torch's version: a changed
  check, reference solution, budget or threshold regrades the class;
- ``options`` — the options that change a grade: dataset, checks profile, device, sandbox or
  not, and every limit of the sandbox (``--timeout`` is the per-call one).

A run grades again exactly the submissions whose inputs differ (:func:`why_stale` says which
item), reuses the others, and says how many of each. Lateness is not an input: it is applied to
every result of each run (:mod:`autograder.stages.late`), so a due date set after grading
reaches every result without regrading.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

from autograder import registry

# the packages whose sources decide a grade
GRADING_PACKAGES = ("autograder", "tpcheck", "tpworker", "reference")
CHUNK = 1 << 20


@functools.lru_cache(maxsize=1)
def grader_digest(root: Path = registry.ROOT) -> str:
    """SHA-256 over every ``*.py`` of :data:`GRADING_PACKAGES` (path and bytes) and torch's version."""
    import torch

    h = hashlib.sha256(f"torch {torch.__version__}\n".encode())
    for package in GRADING_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def notebook_digest(notebook: Path | None, refused: str = "") -> str:
    """The graded notebook's identity: its name and the SHA-256 of its bytes (read in chunks,
    never following a link: find already refused those), or why there is none."""
    if refused:
        return "refused: " + hashlib.sha256(refused.encode(errors="backslashreplace")).hexdigest()
    if notebook is None:
        return "none"
    h = hashlib.sha256()
    try:
        with open(notebook, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
    except OSError as e:  # unreadable now: grading will say so; never equal to a stored digest
        return f"unreadable: {e.strerror}"
    return f"{notebook.name}:{h.hexdigest()}"


def options_digest(*, dataset: str, profile: str, device: str, unsafe: bool, limits) -> str:
    """The options that change a grade, as one canonical string."""
    lim = asdict(limits) if is_dataclass(limits) else {}
    return json.dumps({"dataset": dataset, "profile": profile, "device": device, "unsafe": unsafe, "limits": lim},
                      sort_keys=True)


def inputs(notebook: Path | None, refused: str, options: str) -> dict[str, str]:
    return {"notebook": notebook_digest(notebook, refused), "grader": grader_digest(), "options": options}


ITEMS = {"notebook": "notebook changed", "grader": "grader changed", "options": "options changed"}


def why_stale(stored: dict[str, str] | None, now: dict[str, str]) -> str:
    """Why a stored result must be graded again ("" when it can be reused)."""
    if stored is None:
        return "new"
    if not stored:
        return "no inputs recorded"  # written by an older grader, or a failure to store it
    for key, reason in ITEMS.items():
        if stored.get(key) != now[key]:
            return reason
    return ""
