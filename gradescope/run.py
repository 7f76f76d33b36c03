"""Gradescope's side of the grader: one submission, graded as a class of one (``run_autograder`` runs this).

Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): the zip is unpacked in ``/autograder/source``, the student's files are in
``/autograder/submission``, and ``/autograder/results/results.json`` must hold the results;
everything printed goes to the instructor's log (``/autograder/results/stdout``), never to the
student.

1. The assignment: the first line of ``source/gradescope/assignment.txt`` (``make gradescope
   ASSIGNMENT=…`` writes it into the zip); without that file, the submitted notebook's name when
   it is one of the course's assignments (``tp1_perceptron.ipynb``).
2. The notebook: the one ``.ipynb`` of the submission (regular files only, never through a link;
   ``.ipynb_checkpoints`` and ``__MACOSX`` ignored), else among several the one named after the
   assignment. A submission without one gets a ``results.json`` of 0 points saying what to upload.
3. ``python -m autograder grade`` on ``<tmp>/submitted/student/<assignment>/<assignment>.ipynb``
   with ``--out <tmp>/out``: the sandbox, the checks, the threshold run on ``mnist-sample``.
4. ``<tmp>/out/student/<assignment>/results.json`` (Gradescope's format: :func:`autograder.stages.store.gradescope`)
   copied to ``results/results.json``.

When the grader itself cannot grade (no bubblewrap, or one that cannot create namespaces in this
container; a grader error), no ``results.json`` is written: the script prints one line starting
``run_autograder: error:`` and exits 1, so Gradescope shows the run as failed rather than as a 0.
``source/gradescope/unsafe-no-sandbox`` (a file, absent by default; ``make gradescope UNSAFE=1``)
makes the grader run without bubblewrap (``--unsafe-no-sandbox``); see README "Gradescope" for
what that gives up.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

STUDENT = "student"  # the one student of the class: Gradescope keeps who it is
IGNORED_DIRS = {".ipynb_checkpoints", "__MACOSX"}


def notebooks(submission: Path) -> list[Path]:
    """The regular ``.ipynb`` files under ``submission``, never through a link, sorted."""
    found = []
    for folder, dirs, files in os.walk(submission):  # os.walk follows no link to a folder
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".ipynb") and not name.startswith(".") and stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return found


def student_error(results: Path, message: str) -> int:
    write_json(results / "results.json", {"score": 0.0, "output": message, "tests": [], "visibility": "visible"})
    print(f"run_autograder: {message}")
    return 0


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def main(root: Path) -> int:
    source, submission, results = root / "source", root / "submission", root / "results"
    sys.path.insert(0, str(source))
    from autograder import registry

    config = source / "gradescope" / "assignment.txt"
    assignment = config.read_text(encoding="utf-8").strip().splitlines()[0].strip() if config.is_file() else ""
    found = notebooks(submission) if submission.is_dir() else []
    if not assignment:
        named = sorted({p.stem for p in found if p.stem in registry.NAMES})
        if len(named) != 1:
            print("run_autograder: error: no assignment: write its name in gradescope/assignment.txt "
                  "(make gradescope ASSIGNMENT=…) or have students submit <assignment>.ipynb")
            return 1
        assignment = named[0]
    if assignment not in registry.NAMES:
        print(f"run_autograder: error: gradescope/assignment.txt names {assignment!r}, not one of the course's "
              f"assignments ({', '.join(registry.NAMES)})")
        return 1
    if not found:
        return student_error(results, f"No notebook (.ipynb) in your submission: upload your {assignment}.ipynb.")
    if len(found) > 1:
        found = [p for p in found if p.name == f"{assignment}.ipynb"][:1]
        if not found:
            return student_error(results, f"Several notebooks in your submission and none named {assignment}.ipynb: "
                                          f"upload only your {assignment}.ipynb.")
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        folder = Path(tmp) / "submitted" / STUDENT / assignment
        folder.mkdir(parents=True)
        shutil.copyfile(found[0], folder / f"{assignment}.ipynb")  # a copy: the grader reads regular files only
        out = Path(tmp) / "out"
        out.mkdir()
        command = [sys.executable, "-m", "autograder", "grade", str(Path(tmp) / "submitted"), "--assignment", assignment,
                   "--out", str(out), "--force"]
        if (source / "gradescope" / "unsafe-no-sandbox").exists():
            command.append("--unsafe-no-sandbox")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), *filter(None, [os.environ.get("PYTHONPATH")])])}
        run = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        produced = out / STUDENT / assignment / "results.json"
        if run.returncode != 0 or not produced.is_file():
            lines = [line for line in run.stderr.splitlines() if line.strip()]
            why = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
            print(f"run_autograder: error: the grader could not grade (exit {run.returncode}): "
                  f"{why.removeprefix('error: ') or 'no results were written'}")
            return 1
        write_json(results / "results.json", json.loads(produced.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/autograder")))
