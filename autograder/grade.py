"""``python -m autograder grade``: a whole class, each submission in its own sandbox.

Grading is the ordered list of stages of ../shared/DESIGN.md, one module each in
:mod:`autograder.stages`, each taking and returning data:

1. ``find`` — the class's submissions in nbgrader's ``submitted/<student>/<assignment>/`` layout;
2. ``extract`` — the notebook read as JSON, the graded definitions kept (``ast``), nothing run;
3. ``sandbox`` — a bubblewrap worker loaded with that code (or none for an untouched template);
4. ``run_checks`` — the assignment's checks (:mod:`autograder.checks`) through the worker;
5. ``threshold`` — the training run with the student's functions, accuracy computed here;
6. ``store`` — the submission's result files, written atomically (a killed run resumes);
7. ``gradebook`` — ``grades.csv`` (and the nbgrader database) from every stored result;
8. report — the feedback pages and the class report (:mod:`autograder.report`).

Stages 2–5 are :func:`grade_one`, which never raises for anything a submission did: a stage that
fails records why, and the class goes on. :func:`grade_class` runs the whole list.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from autograder import checks, registry, report
from autograder.results import FAILED, CheckResult, Graded
from autograder.stages import threshold
from autograder.stages.extract import ExtractError, extract, read_notebook
from autograder.stages.find import find_submissions
from autograder.stages.gradebook import gradebook_csv
from autograder.stages.run_checks import run_assignment
from autograder.stages import sandbox as sandboxes
from autograder.stages.store import RESULT_FILE, atomic_write, load_results, write_results
from autograder.submission import Unfilled


def grade_one(student: str, notebook: Path | None, assignment_name: str, *, profile: str = "grading",
              limits=None, unsafe: bool = False, dataset: str = threshold.DEFAULT_DATASET,
              data_root: str | None = None, device: str = "cpu") -> Graded:
    """Grade one submission: its checks, then its training run against the accuracy threshold
    on ``dataset``; never raises for anything the submission did."""
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
    graded.flags = [f.to_json() for f in extracted.flags]
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
        sandbox = sandboxes.Sandbox(extracted.code, unsafe=unsafe,
                                    limits=sandboxes.training_limits(limits or sandboxes.Limits(), assignment.threshold, device))
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
            write_results(out, grade_one(student, notebook, assignment, **kwargs), report.write_feedback)
            bar.update()
    else:
        # spawn, not fork: forking a process that already runs threads (torch's, the output
        # drains) can deadlock the child
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(grade_one, s, n, a, **kwargs) for s, n, a in todo]
            for future in as_completed(futures):
                write_results(out, future.result(), report.write_feedback)
                bar.update()
    bar.close()
    everything = [g for a in assignments for g in load_results(out, a)]
    atomic_write(out / "grades.csv", gradebook_csv(everything))
    report.write_class_report(out, everything)
    return everything
