"""``python -m autograder grade``: a whole class, each submission in its own sandbox.

The chain for one submission: find the notebook → extract (:mod:`autograder.stages.extract`) → start a
sandbox worker (:mod:`autograder.stages.sandbox`) → run the assignment's checks through it
(:mod:`autograder.check`) → write its results atomically. A stage that fails records why, and
the class goes on. Finished submissions are skipped on the next run unless ``force``; the
gradebook (``grades.csv``) is written from every result file at the end, sorted, so the same
inputs give a byte-identical file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder import registry
from autograder import checks, report
from autograder.stages import threshold
from autograder.stages.run_checks import run_assignment
from autograder.stages.extract import ExtractError, extract, read_notebook
from autograder.results import ERROR, FAILED, CheckResult
from autograder.submission import StudentRaised, function_source

RESULT_FILE = "grading.json"  # ours, complete; results.json is Gradescope's format


@dataclass
class Graded:
    student: str
    assignment: str
    results: list[CheckResult]
    max_score: float
    error: str = ""  # why the submission could not be graded at all (then every check failed)
    notes: list[str] = field(default_factory=list)  # skipped cells, missing functions, timeouts
    output: str = ""  # what the student's code printed (capped), never parsed
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results)


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


def grade_one(student: str, notebook: Path | None, assignment_name: str, *, profile: str = "grading",
              limits=None, unsafe: bool = False, dataset: str = threshold.DEFAULT_DATASET,
              data_root: str | None = None, device: str = "cpu") -> Graded:
    """Grade one submission: its checks, then its training run against the accuracy threshold
    on ``dataset``; never raises for anything the submission did."""
    from autograder.stages.sandbox import Limits, Sandbox

    start = time.perf_counter()
    assignment = checks.load(assignment_name)
    graded = Graded(student, assignment_name, [], assignment.max_points)

    def all_failed(reason: str) -> Graded:
        graded.error = reason
        graded.results = [CheckResult(assignment.check_id(c), c.title, c.function, FAILED, 0.0, c.points,
                                      c.hidden, reason) for c in assignment.checks]
        if assignment.threshold is not None:
            graded.results.append(threshold.run_threshold(assignment_name, assignment.threshold, None,
                                                          graded.results, dataset=dataset, device=device))
        graded.seconds = time.perf_counter() - start
        return graded

    if notebook is None:
        return all_failed("no notebook submitted")
    others = {name: checks.load(name).functions for name in registry.NAMES if name != assignment_name}
    try:
        extracted = extract(read_notebook(notebook), assignment.functions, other_assignments=others)
    except ExtractError as e:
        return all_failed(str(e))
    graded.notes += [f"skipped {c}" for c in extracted.skipped_cells]
    if extracted.missing:
        graded.notes.append(f"not defined in the notebook: {', '.join(extracted.missing)}")

    def run_checks(submission) -> Graded | None:
        """The checks, then the training run; None when they ran (a grader fault ends it all)."""
        try:
            graded.results = run_assignment(assignment, submission, profile)
            if assignment.threshold is not None:
                graded.results.append(threshold.run_threshold(
                    assignment_name, assignment.threshold, submission, graded.results,
                    dataset=dataset, data_root=data_root, device=device))
        except Exception as e:  # noqa: BLE001
            return all_failed(f"grading stopped: {type(e).__name__}: {e}")
        return None

    if extracted.stubs and set(assignment.functions) <= set(extracted.stubs) | set(extracted.missing):
        # an untouched template: every graded function can only raise NotImplementedError, so
        # the checks run against stubs that do just that, and no worker is started
        stopped = run_checks(Unfilled(extracted.code, extracted.defined))
        graded.seconds = time.perf_counter() - start
        return stopped or graded
    try:
        sandbox = Sandbox(extracted.code, limits=training_limits(limits or Limits(), assignment.threshold, device),
                          unsafe=unsafe)
    except Exception as e:  # noqa: BLE001 - the grader's fault, not the student's: say so
        return all_failed(f"the sandbox could not start ({type(e).__name__}: {e}); ask your instructor")
    with sandbox:
        if sandbox.load_error:
            err = sandbox.load_error
            line = f" (line {err['line']} of the extracted code)" if err.get("line") else ""
            graded.output = bytes(sandbox.stdout).decode(errors="replace")
            return all_failed(f"your notebook's code raised {err.get('exc_type')}: {err.get('message')}{line} "
                              f"when loaded, so no function could be called")
        if stopped := run_checks(sandbox):
            return stopped
        graded.notes += sandbox.events
        graded.output = (bytes(sandbox.stdout) + bytes(sandbox.stderr)).decode(errors="replace")
    graded.seconds = time.perf_counter() - start
    return graded


def training_limits(limits, spec: threshold.Threshold | None, device: str):
    """The worker's limits for an assignment with a training run ``spec``: the run has its own
    wall-clock budget, so the CPU-time limit must leave room for it, and only a GPU run
    (tp4_cnn with ``--device cuda``) gets to see the GPU."""
    if spec is None:
        return limits
    cpu = max(limits.cpu_seconds, math.ceil(limits.submission_seconds + spec.seconds))
    return dataclasses.replace(limits, gpu=device == "cuda" and spec.device == "cuda", cpu_seconds=cpu)


class Unfilled:
    """The :class:`~autograder.submission.Submission` of a notebook whose graded functions are
    all the template's stubs (:attr:`~autograder.stages.extract.Extracted.stubs`): every call raises
    NotImplementedError, as the stub itself would, without running anything."""

    def __init__(self, code: str, defined: list[str]):
        self.code, self.defined = code, set(defined)

    def has(self, name: str) -> bool:
        return name in self.defined

    def source(self, name: str | None = None) -> str | None:
        return self.code if name is None else function_source(self.code, name)

    def invoke(self, name: str, args: tuple[Any, ...], policy=None, kwargs=None) -> Any:
        raise StudentRaised(name, "NotImplementedError", "")

    def invoke_many(self, name: str, calls: list, policy=None) -> list:
        if calls:
            raise StudentRaised(name, "NotImplementedError", "")
        return []

    def train(self, recipe: str, data: dict[str, Any], budget: dict[str, Any], seconds: float) -> Any:
        raise StudentRaised("train", "NotImplementedError", "")

    def probe(self, name: str, data: dict[str, Any], seconds: float) -> Any:
        raise StudentRaised(str(data.get("name") or name), "NotImplementedError", "")


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


def write_results(out: Path, graded: Graded) -> Path:
    folder = out / graded.student / graded.assignment
    data = {**asdict(graded), "results": [r.to_json() for r in graded.results], "score": graded.score}
    atomic_write(folder / "results.json", json.dumps(gradescope(graded), indent=1, ensure_ascii=False))
    report.write_feedback(out, graded)
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


def gradebook_csv(graded: list[Graded]) -> str:
    """One row per student and assignment: student, assignment, score, max_score, one column
    per check (its points). Sorted, no timings: the same results give the same bytes."""
    check_ids = sorted({r.check_id for g in graded for r in g.results})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "assignment", "score", "max_score", *check_ids])
    for g in sorted(graded, key=lambda g: (g.student, g.assignment)):
        points = {r.check_id: r.points for r in g.results}
        writer.writerow([g.student, g.assignment, _num(g.score), _num(g.max_score),
                         *(_num(points[c]) if c in points else "" for c in check_ids)])
    return buffer.getvalue()


def _num(x: float) -> str:
    return f"{x:g}"


# --- the class ------------------------------------------------------------------------------------


def grade_class(submitted: Path, assignments: list[str], out: Path, *, jobs: int = 1, force: bool = False,
                profile: str = "grading", limits=None, unsafe: bool = False, progress: bool = True,
                dataset: str = threshold.DEFAULT_DATASET, data_root: str | None = None,
                device: str = "cpu") -> list[Graded]:
    """Grade every submission of every assignment, ``jobs`` at a time, resuming where a
    previous run stopped; then write ``grades.csv`` from all result files.

    The dataset of the threshold runs is loaded first, once: when it cannot be (files missing,
    offline), :class:`tpcheck.data.DataError` is raised before any submission is graded."""
    from tqdm.auto import tqdm

    for name in assignments:
        spec = checks.load(name).threshold
        deferred = spec is not None and spec.device == "cuda" and device != "cuda"  # never trains here
        if spec is not None and dataset not in spec.budgets and not deferred:
            raise ValueError(f"{name} has no training budget for the dataset {dataset!r}; "
                             f"choose one of {', '.join(sorted(spec.budgets))}")
    if any(checks.load(name).threshold is not None for name in assignments):
        threshold.load(dataset, data_root)

    todo = []
    for assignment in assignments:
        for student, notebook in find_submissions(submitted, assignment):
            if force or not (out / student / assignment / RESULT_FILE).is_file():
                todo.append((student, notebook, assignment))
    kwargs = dict(profile=profile, limits=limits, unsafe=unsafe, dataset=dataset, data_root=data_root, device=device)
    bar = tqdm(total=len(todo), desc="grading", unit="submission", disable=not progress or not todo)
    if jobs <= 1:
        for student, notebook, assignment in todo:
            write_results(out, grade_one(student, notebook, assignment, **kwargs))
            bar.update()
    else:
        # spawn, not fork: forking a process that already runs threads (torch's, the output
        # drains) can deadlock the child
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(grade_one, s, n, a, **kwargs) for s, n, a in todo]
            for future in as_completed(futures):
                write_results(out, future.result())
                bar.update()
    bar.close()
    everything = [g for a in assignments for g in load_results(out, a)]
    atomic_write(out / "grades.csv", gradebook_csv(everything))
    report.write_class_report(out, everything)
    return everything
