"""The store stage: one submission's results written atomically into ``OUT/<student>/<assignment>/``
(``grading.json``, ours and complete, written last so that it marks the submission done;
``results.json``, Gradescope's format; the feedback page), and read back for the gradebook.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from autograder.results import NOT_JUDGED, CheckResult, Graded

RESULT_FILE = "grading.json"  # ours, complete; results.json is Gradescope's format

# every string a submission can put in its results is capped before it is stored or shown
MAX_MESSAGE = 4_000  # characters of a message, an error, a note, a string in a check's details
MAX_NOTES = 200  # notes kept per submission
MAX_OUTPUT = 140_000  # characters of printed output (the sandbox keeps 64 KiB of each stream)
MAX_ITEMS = 10_000  # items of a list or dict in a check's details (a learning curve has ~10)
TRUNCATED = "… (truncated)"


# --- files ----------------------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # any string survives: what UTF-8 cannot encode (a lone surrogate from a student's message)
    # is written as its escape; text that can be encoded is written as it always was
    tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
    os.replace(tmp, path)


def cap_text(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut at ``limit`` characters, with a visible mark when it was cut."""
    if not isinstance(text, str):
        text = str(text)
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def _cap_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return cap_text(value)
    if depth > 20:
        return TRUNCATED
    if isinstance(value, dict):
        items = list(value.items())
        capped = {cap_text(str(k), 200) if not isinstance(k, (int, float)) else k: _cap_value(v, depth + 1)
                  for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            capped[TRUNCATED] = f"{len(items) - MAX_ITEMS} more"
        return capped
    if isinstance(value, (list, tuple)):
        capped = [_cap_value(v, depth + 1) for v in value[:MAX_ITEMS]]
        return capped + [TRUNCATED] if len(value) > MAX_ITEMS else capped if isinstance(value, list) else type(value)(capped)
    return value


def capped(graded: Graded) -> Graded:
    """``graded`` with every string it carries from the submission capped (messages, error,
    notes, output, the strings of details and counterexamples); unchanged when nothing is over."""
    results = [replace(r, message=cap_text(r.message), details=_cap_value(r.details),
                       counterexample=_cap_value(r.counterexample)) for r in graded.results]
    notes = [cap_text(n) for n in graded.notes[:MAX_NOTES]]
    if len(graded.notes) > MAX_NOTES:
        notes.append(f"{len(graded.notes) - MAX_NOTES} more notes{TRUNCATED}")
    return replace(graded, results=results, error=cap_text(graded.error), notes=notes,
                   output=cap_text(graded.output, MAX_OUTPUT))


def gradescope_status(r: CheckResult) -> str:
    """Gradescope knows "passed" and "failed": a check not judged (the blame rule: it uses a
    wrong function) is "passed" when it kept its points, "failed" when it did not
    (``blame_once`` False); its output says why it was not judged."""
    if r.status == NOT_JUDGED:
        return "passed" if r.max_points > 0 and r.points >= r.max_points else "failed"
    return "passed" if r.passed else "failed"


def gradescope(graded: Graded) -> dict[str, Any]:
    """Gradescope's autograder results format (statuses by :func:`gradescope_status`)."""
    tests = []
    for r in graded.results:
        output = r.message
        if r.status == NOT_JUDGED and not output.startswith("not judged"):
            output = f"not judged: {output}"
        if r.counterexample is not None:
            output += "\nminimal failing input: " + json.dumps(r.counterexample)
        tests.append({"name": r.title, "number": r.check_id, "score": r.points, "max_score": r.max_points,
                      "status": gradescope_status(r), "output": output,
                      "visibility": "after_published" if r.hidden else "visible"})
    return {"score": graded.score, "output": graded.error or "; ".join(graded.notes), "tests": tests,
            "visibility": "after_published"}


def write_results(out: Path, graded: Graded, pages: Callable[[Path, Graded], Any] | None = None) -> Path:
    """``results.json``, then the pages ``pages(out, graded)`` writes (the feedback page), then
    ``grading.json``, last: a submission with a ``grading.json`` has all its files. Every
    string is capped first (:func:`capped`), for the pages too."""
    graded = capped(graded)
    folder = out / graded.student / graded.assignment
    data = {**asdict(graded), "results": [r.to_json() for r in graded.results], "raw_score": graded.raw_score,
            "score": graded.score}
    atomic_write(folder / "results.json", json.dumps(gradescope(graded), indent=1, ensure_ascii=False))
    if pages is not None:
        pages(out, graded)
    atomic_write(folder / RESULT_FILE, json.dumps(data, indent=1, ensure_ascii=False))  # last: marks it done
    return folder


def _read(path: Path) -> Graded:
    data = json.loads(path.read_text(encoding="utf-8"))
    results = [CheckResult(**r) for r in data.pop("results")]
    for derived in ("score", "raw_score"):
        data.pop(derived, None)
    return Graded(results=results, **data)


def load_result(out: Path, student: str, assignment: str) -> Graded | None:
    """The stored result of one submission, or None when there is none (or it cannot be read:
    a result that is not whole is graded again)."""
    try:
        return _read(out / student / assignment / RESULT_FILE)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def stored_inputs(out: Path, student: str, assignment: str) -> dict[str, str] | None:
    """What the stored result of a submission was computed from (None: no usable result)."""
    graded = load_result(out, student, assignment)
    return graded.inputs if graded is not None else None


def load_results(out: Path, assignment: str) -> list[Graded]:
    """Every result stored in ``out`` for ``assignment`` (whoever's: the class is the caller's)."""
    return [_read(path) for path in sorted(out.glob(f"*/{assignment}/{RESULT_FILE}"))]
