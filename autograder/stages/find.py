"""The find stage: the submissions of a class, in nbgrader's ``submitted/<student>/<assignment>/`` layout."""

from __future__ import annotations

from pathlib import Path


def find_submissions(submitted: Path, assignment: str) -> list[tuple[str, Path | None]]:
    """(student, notebook) pairs from nbgrader's ``submitted/<student>/<assignment>/`` layout;
    ``submitted`` may also be a course root holding ``submitted/``. A student folder without a
    notebook gives ``None`` (graded as "no notebook submitted")."""
    if (submitted / "submitted").is_dir():
        submitted = submitted / "submitted"
    pairs = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        folder = student_dir / assignment
        if not folder.is_dir():
            continue
        notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
        preferred = [p for p in notebooks if p.stem == assignment]
        pairs.append((student_dir.name, (preferred or notebooks or [None])[0]))
    return pairs
