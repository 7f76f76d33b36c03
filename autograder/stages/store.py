"""The store stage: one submission's results written atomically into ``OUT/<student>/<assignment>/``
(``grading.json``, ours and complete, written last so that it marks the submission done;
``results.json``, Gradescope's format; the feedback page), and read back for the gradebook.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from autograder.results import CheckResult, Graded

RESULT_FILE = "grading.json"  # ours, complete; results.json is Gradescope's format


# --- files ----------------------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def gradescope(graded: Graded) -> dict[str, Any]:
    """Gradescope's autograder results format."""
    tests = []
    for r in graded.results:
        output = r.message
        if r.counterexample is not None:
            output += "\nminimal failing input: " + json.dumps(r.counterexample)
        tests.append({"name": r.title, "number": r.check_id, "score": r.points, "max_score": r.max_points,
                      "status": "passed" if r.passed else "failed", "output": output,
                      "visibility": "after_published" if r.hidden else "visible"})
    return {"score": graded.score, "output": graded.error or "; ".join(graded.notes), "tests": tests,
            "visibility": "after_published"}


def write_results(out: Path, graded: Graded, pages: Callable[[Path, Graded], Any] | None = None) -> Path:
    """``results.json``, then the pages ``pages(out, graded)`` writes (the feedback page), then
    ``grading.json``, last: a submission with a ``grading.json`` has all its files."""
    folder = out / graded.student / graded.assignment
    data = {**asdict(graded), "results": [r.to_json() for r in graded.results], "score": graded.score}
    atomic_write(folder / "results.json", json.dumps(gradescope(graded), indent=1, ensure_ascii=False))
    if pages is not None:
        pages(out, graded)
    atomic_write(folder / RESULT_FILE, json.dumps(data, indent=1, ensure_ascii=False))  # last: marks it done
    return folder


def load_results(out: Path, assignment: str) -> list[Graded]:
    graded = []
    for path in sorted(out.glob(f"*/{assignment}/{RESULT_FILE}")):
        data = json.loads(path.read_text(encoding="utf-8"))
        results = [CheckResult(**r) for r in data.pop("results")]
        data.pop("score", None)
        graded.append(Graded(results=results, **data))
    return graded
