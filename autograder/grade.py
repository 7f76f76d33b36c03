"""``python -m autograder grade``: a whole class, each submission in its own sandbox.

Grading is the ordered list of stages of ../shared/DESIGN.md, one module each in
:mod:`autograder.stages`, each taking and returning data:

1. ``find`` — the class's submissions in nbgrader's ``submitted/<student>/<assignment>/`` layout;
2. ``extract`` — the notebook read as JSON, the graded definitions kept (``ast``), nothing run;
3. ``sandbox`` — a bubblewrap worker loaded with that code (or none for an untouched template);
4. ``run_checks`` — the assignment's checks (:mod:`autograder.checks`) through the worker, then
   the misconception each failure reproduces named (:mod:`autograder.misconceptions`);
5. ``threshold`` — the training run with the student's functions, accuracy computed here;
6. ``store`` — the submission's result files, written atomically (a killed run resumes);
7. ``gradebook`` — ``grades.csv`` (and the nbgrader database) from every stored result;
8. report — the feedback pages and the class report (:mod:`autograder.report`).

Stages 2–5 are :func:`grade_one`, which never raises for anything a submission did: a stage that
fails records why, and the class goes on. :func:`grade_class` runs the whole list.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from autograder import checks, misconceptions, registry, report
from autograder.results import FAILED, NO_NOTEBOOK, NO_SUBMISSION, CheckResult, Graded
from autograder.stages import freshness, late, threshold
from autograder.stages import sandbox as sandboxes
from autograder.stages.exports import write_exports
from autograder.stages.extract import ExtractError, extract, read_notebook
from autograder.stages.find import scan
from autograder.stages.gradebook import gradebook_csv
from autograder.stages.similarity import class_similarity
from autograder.stages.store import atomic_write, load_result, stored_inputs, write_results
from autograder.submission import Unfilled


def grade_one(student: str, notebook: Path | None, assignment_name: str, *, profile: str = "grading",
              limits=None, unsafe: bool = False, dataset: str = threshold.DEFAULT_DATASET,
              data_root: str | None = None, device: str = "cpu", refused: str = "",
              notes: tuple[str, ...] = (), hosts: sandboxes.Hosts | None = None) -> Graded:
    """Grade one submission: its checks, then its training run against the accuracy threshold
    on ``dataset``; never raises for anything the submission did. ``refused``: why the
    submission is not read at all (a link, not a regular file: :mod:`autograder.stages.find`),
    graded 0 with that reason; ``notes`` are kept with its results. ``hosts``: where the same
    student's sandbox may already run (:func:`grade_batch`); by default a sandbox of its own."""
    try:
        return _grade_one(student, notebook, assignment_name, profile=profile, limits=limits, unsafe=unsafe,
                          dataset=dataset, data_root=data_root, device=device, refused=refused, notes=notes,
                          hosts=hosts)
    except Exception as e:  # noqa: BLE001 - whatever it was, it costs this submission only
        return failed(student, assignment_name, f"grading failed: {type(e).__name__}: {e}", dataset=dataset,
                      device=device, notes=notes)


def failed(student: str, assignment_name: str, reason: str, *, dataset: str = threshold.DEFAULT_DATASET,
           device: str = "cpu", notes: tuple[str, ...] = ()) -> Graded:
    """Every check of the assignment failed for ``reason`` (the training run not run)."""
    assignment = checks.load(assignment_name)
    graded = Graded(student, assignment_name, [], assignment.max_points, error=reason, notes=list(notes))
    graded.results = [CheckResult(assignment.check_id(c), c.title, c.function, FAILED, 0.0, c.points,
                                  c.hidden, reason) for c in assignment.checks]
    if assignment.threshold is not None:
        try:
            graded.results.append(threshold.run_threshold(assignment_name, assignment.threshold, None,
                                                          graded.results, dataset=dataset, device=device))
        except Exception:  # noqa: BLE001 - an unknown dataset, say: the run is simply not there
            pass
    return graded


def grade_batch(items: list[tuple], **kwargs) -> list[Graded]:
    """:func:`grade_one` for each item (``(student, notebook, assignment, refused, notes)``), in
    order; consecutive submissions of one student are sessions of one sandbox (bubblewrap and
    ``import torch`` paid once a student, not once a notebook: :class:`autograder.stages.sandbox.Host`)."""
    hosts = sandboxes.Hosts()
    try:
        return [grade_one(student, notebook, assignment, refused=why, notes=notes, hosts=hosts, **kwargs)
                for student, notebook, assignment, why, notes in items]
    finally:
        hosts.close()


def per_student(todo: list[tuple]) -> list[list[tuple]]:
    """``todo``'s items as one batch a student (in the order students first appear), each in
    ``todo``'s order."""
    batches: dict[str, list[tuple]] = {}
    for item in todo:
        batches.setdefault(item[0], []).append(item)
    return list(batches.values())


def _grade_one(student: str, notebook: Path | None, assignment_name: str, *, profile: str, limits, unsafe: bool,
               dataset: str, data_root: str | None, device: str, refused: str, notes: tuple[str, ...],
               hosts: sandboxes.Hosts | None) -> Graded:
    start = time.perf_counter()
    assignment = checks.load(assignment_name)
    graded = Graded(student, assignment_name, [], assignment.max_points, notes=list(notes))

    def all_failed(reason: str) -> Graded:
        graded.error = reason
        graded.results = [CheckResult(assignment.check_id(c), c.title, c.function, FAILED, 0.0, c.points,
                                      c.hidden, reason) for c in assignment.checks]
        if assignment.threshold is not None:
            graded.results.append(threshold.run_threshold(assignment_name, assignment.threshold, None,
                                                          graded.results, dataset=dataset, device=device))
        graded.seconds = time.perf_counter() - start
        return graded

    if refused:
        return all_failed(refused)
    if notebook is None:
        return all_failed(NO_NOTEBOOK)
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
            graded.results = misconceptions.run(assignment, submission, profile)  # run_assignment, then the misconceptions named
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
        stopped = run_checks(Unfilled(extracted.code, extracted.defined, extracted.source_map))
        graded.seconds = time.perf_counter() - start
        return stopped or graded
    try:
        worker_limits = sandboxes.training_limits(limits or sandboxes.Limits(), assignment.threshold, device)
        sandbox = sandboxes.Sandbox(extracted.code, unsafe=unsafe, source_map=extracted.source_map, limits=worker_limits,
                                    host=hosts.get(student, worker_limits, unsafe) if hosts is not None else None)
    except Exception as e:  # noqa: BLE001 - the grader's fault, not the student's: say so
        return all_failed(f"the sandbox could not start ({type(e).__name__}: {e}); ask your instructor")
    with sandbox:
        if sandbox.load_error:
            err = sandbox.load_error
            line = f" at {sandbox.where(err['line'])}" if err.get("line") is not None else ""
            graded.output = bytes(sandbox.stdout).decode(errors="replace")
            return all_failed(f"your notebook's code raised {err.get('exc_type')}: {err.get('message')}{line} "
                              f"when loaded, so no function could be called")
        if stopped := run_checks(sandbox):
            return stopped
        graded.notes += sandbox.events
        graded.output = (bytes(sandbox.stdout) + bytes(sandbox.stderr)).decode(errors="replace")
    graded.seconds = time.perf_counter() - start
    return graded


class ClassError(ValueError):
    """What was asked of the class cannot be done (its one line says why): e.g. ``--student``
    naming nobody of the class."""


class ClassGrades(list):
    """The class's results (a list of :class:`Graded`, one per student and assignment), and what
    this run did: ``regraded`` (reason → how many: new, notebook changed, grader changed,
    options changed, forced, --student), ``reused`` (results kept as they were), ``stale``
    (results that differ from today's inputs but were kept because ``--student`` named others)
    ``not_on_roster`` (students graded who are not on the roster), ``absent`` (roster students
    with no submission) and ``fresh`` (the submissions graded in this run)."""

    def __init__(self, graded=(), *, regraded=None, reused: int = 0, stale: int = 0, not_on_roster=(), absent: int = 0,
                 fresh=()):
        super().__init__(graded)
        self.regraded: dict[str, int] = dict(regraded or {})
        self.reused, self.stale, self.not_on_roster = reused, stale, sorted(not_on_roster)
        self.absent = absent  # roster students with no submission (a row of 0 each; not counted as graded)
        self.fresh: set[tuple[str, str]] = set(fresh)  # (student, assignment) graded in this run

    def summary(self) -> str:
        """One line: how many results were graded (and why) and how many reused."""
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.regraded.items()))
        total = sum(self.regraded.values())
        line = f"graded {total} submission(s)" + (f" ({why})" if why else "") + f", reused {self.reused} result(s)"
        if self.absent:
            line += f", {self.absent} on the roster with no submission"
        if self.stale:
            line += f"; {self.stale} result(s) are stale but kept (--student named others): run without --student to regrade them"
        return line



def grade_class(submitted: Path, assignments: list[str], out: Path, *, jobs: int = 1, force: bool = False,
                profile: str = "grading", limits=None, unsafe: bool = False, progress: bool = True,
                dataset: str = threshold.DEFAULT_DATASET, data_root: str | None = None,
                device: str = "cpu", students: list[str] | None = None, roster=None,
                schedule: late.Schedule | None = None, policy: late.Policy | None = None,
                executor=None) -> ClassGrades:
    """Grade the class of ``submitted`` for ``assignments``, ``jobs`` submissions at a time, into
    ``out``; then write ``grades.csv`` and the report from exactly this class's results.

    - The class is ``roster`` (a list of :class:`autograder.stages.roster.Student`) when given:
      each of its students gets a result ("no submission" when they have none), and those who
      submitted without being on it are graded all the same (``not_on_roster``); without a
      roster, the students who submitted. Results in ``out`` of anyone else are left alone and
      never shown.
    - A stored result is reused when its inputs (:mod:`autograder.stages.freshness`) are those
      of today; otherwise the submission is graded again. ``force`` grades every one again;
      ``students`` grades those students again and only them.
    - Every result gets this run's lateness and penalty (:mod:`autograder.stages.late`:
      ``schedule``'s due dates, ``policy``, the course's by default).
    - ``executor``: where the submissions are graded when not here: a cluster
      (:class:`autograder.stages.cluster.Slurm`), whose results come back to be stored here.

    The dataset of the threshold runs is loaded first, once, when something is to be trained:
    when it cannot be (files missing, offline), :class:`tpcheck.data.DataError` is raised before
    any submission is graded."""
    from tqdm.auto import tqdm

    from autograder.stages.find import Submission, class_root

    for name in assignments:
        spec = checks.load(name).threshold
        deferred = spec is not None and spec.device == "cuda" and device != "cuda"  # never trains here
        if spec is not None and dataset not in spec.budgets and not deferred:
            raise ValueError(f"{name} has no training budget for the dataset {dataset!r}; "
                             f"choose one of {', '.join(sorted(spec.budgets))}")
    schedule = schedule or late.Schedule()
    policy = policy or late.Policy(late.course_root(Path(submitted)))
    root = class_root(Path(submitted))
    options = freshness.options_digest(dataset=dataset, profile=profile, device=device, unsafe=unsafe,
                                       limits=limits or sandboxes.Limits())
    roster_ids = [s.id for s in roster] if roster is not None else None

    keys, subs, todo, refused, regraded, reused, stale, outsiders = [], {}, [], [], {}, 0, 0, set()
    nothing, absent, fresh = [], 0, set()
    for assignment in assignments:
        found = scan(submitted, assignment)
        refused += [(assignment, name, reason) for name, reason in found.refused]
        by_student = {sub.student: sub for sub in found.submissions}
        members = list(by_student) if roster_ids is None else roster_ids + [s for s in by_student if s not in roster_ids]
        if roster_ids is not None:
            outsiders |= {s for s in by_student if s not in roster_ids}
        for student in members:
            sub = by_student.get(student) or Submission(student, None, NO_SUBMISSION)
            key = (student, assignment)
            keys.append(key)
            subs[key] = (sub, freshness.inputs(sub.notebook, sub.refused, options))
    unknown = sorted(set(students or ()) - {s for s, _ in keys})
    if unknown:
        raise ClassError(f"--student {', '.join(unknown)}: not in this class (no submission of "
                         f"{', '.join(assignments)} in {submitted}{' and not on the roster' if roster is not None else ''})")
    for key in keys:
        sub, now = subs[key]
        reason = "forced" if force else "--student" if students and key[0] in students else \
            freshness.why_stale(stored_inputs(out, *key), now)
        if students and key[0] not in students:
            stale += bool(reason)
            reason = ""
        if sub.refused == NO_SUBMISSION:  # nothing to grade: a row of 0 (written when it is not there yet)
            absent += 1
            if reason:
                nothing.append(key)
        elif reason:
            regraded[reason] = regraded.get(reason, 0) + 1
            todo.append((sub.student, sub.notebook, key[1], sub.refused, sub.notes))
        else:
            reused += 1
    if any(checks.load(item[2]).threshold is not None and item[1] is not None for item in todo):
        threshold.load(dataset, data_root)

    def lateness(graded: Graded) -> Graded:
        """``graded`` with its inputs and this run's lateness."""
        key = (graded.student, graded.assignment)
        sub, now = subs[key]
        submitted_at, note = late.read_timestamp(root / key[0] / key[1]) if sub.notebook is not None else (None, "")
        graded = late.apply(replace(graded, inputs=now), submitted_at, schedule.due_for(key[1], key[0]), policy)
        if note and note not in graded.notes:
            graded.notes = [*graded.notes, note]
        return graded

    kwargs = dict(profile=profile, limits=limits, unsafe=unsafe, dataset=dataset, data_root=data_root, device=device)
    bar = tqdm(total=len(todo), desc="grading", unit="submission", disable=not progress or not todo)

    def store(graded: Graded, count: bool = True) -> None:
        """The submission's files; when they cannot be written, a failure in their place, and
        when not even that, a line of the class report: never the end of the class."""
        try:
            graded = lateness(graded)
            write_results(out, graded, report.write_feedback)
            if count:
                fresh.add((graded.student, graded.assignment))
        except Exception as e:  # noqa: BLE001
            reason = f"grading failed: its results could not be written ({type(e).__name__}: {e})"
            try:
                write_results(out, replace(failed(graded.student, graded.assignment, reason, dataset=dataset,
                                                  device=device), inputs={}))
            except Exception:  # noqa: BLE001
                refused.append((graded.assignment, graded.student, reason))
        if count:
            bar.update()

    for student, assignment in nothing:
        store(failed(student, assignment, NO_SUBMISSION, dataset=dataset, device=device), count=False)
    try:
        if executor is not None:
            executor.grade(grade_batch, todo, kwargs, store, lambda item, reason: store(failed(
                item[0], item[2], reason, dataset=dataset, device=device, notes=item[4])), bar=bar)
        elif jobs <= 1:
            hosts = sandboxes.Hosts()
            try:
                for student, notebook, assignment, why, notes in [item for batch in per_student(todo) for item in batch]:
                    store(grade_one(student, notebook, assignment, refused=why, notes=notes, hosts=hosts, **kwargs))
            finally:
                hosts.close()
        else:
            grade_in_pool(grade_batch, per_student(todo), jobs, kwargs, store,
                          lambda item, e: store(failed(item[0], item[2], f"grading failed: the grading process died "
                                                       f"({type(e).__name__}: a worker of the pool ended abruptly, "
                                                       f"e.g. out of memory, while grading it)",
                                                       dataset=dataset, device=device, notes=item[4])),
                          batches=True)
    finally:
        bar.close()  # before anything else is printed (Ctrl-C's one line)
    everything = []
    for key in keys:
        graded = load_result(out, *key)
        if graded is None:
            continue
        now = lateness(graded)
        if (now.submitted_at, now.due, now.seconds_late, now.penalty, now.notes) != \
                (graded.submitted_at, graded.due, graded.seconds_late, graded.penalty, graded.notes):
            store(now, count=False)  # a new due date, extension or policy: the files say it
            graded = load_result(out, *key) or now
        if key[0] in outsiders:
            graded.notes = [*graded.notes, "not on the roster"]
        everything.append(graded)
    atomic_write(out / "grades.csv", gradebook_csv(everything))
    write_exports(out, everything, roster or [], assignments)
    try:
        similarity = class_similarity(submitted, assignments)
    except Exception:  # noqa: BLE001 - a report section is never worth the class's grades
        similarity = None
    report.write_class_report(out, everything, refused=refused, similarity=similarity)
    return ClassGrades(everything, regraded=regraded, reused=reused, stale=stale, not_on_roster=outsiders,
                       absent=absent, fresh=fresh)


def die_with_parent(parent: int) -> None:
    """Make this process get SIGKILL when its parent dies (Linux's PR_SET_PDEATHSIG): a pool
    worker outlives neither a grader killed with ``kill -9`` nor a Ctrl-C, and its sandbox dies
    with it (bubblewrap's --die-with-parent). ``parent`` is the pid the process was started by:
    a parent that died before the signal was asked for (a worker still importing when the grader
    is killed) sends none, so the process then kills itself rather than grade for nobody."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown is all there is
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def grade_in_pool(fn: Callable, todo: list, jobs: int, kwargs: dict, done: Callable[[Graded], None],
                  died: Callable[[tuple, BaseException], None], *, batches: bool = False) -> None:
    """``fn(student, notebook, assignment, refused=…, notes=…, **kwargs)`` for every item of
    ``todo``, ``jobs`` at a time in worker processes, ``done`` called with each result; with
    ``batches``, ``todo`` holds lists of items and ``fn(batch, **kwargs)`` returns their results
    (:func:`grade_batch`). A worker that dies (BrokenProcessPool) costs only its submission: the
    pool is replaced, the items in flight with it are graded again one at a time in a pool of
    their own, and ``died`` is called for the one that kills its pool again."""
    queue = list(todo)
    while queue:
        broken, queue = _pool_round(fn, queue, jobs, kwargs, done, batches)
        items = [(item, e) for unit, e in broken for item in (unit if batches else [unit])]
        if len(items) == 1:
            died(*items[0])
        else:
            for item, _ in items:  # which of them killed it: each alone
                again, _ = _pool_round(fn, [[item] if batches else item], 1, kwargs, done, batches)
                if again:
                    died(item, again[0][1])


def _pool_round(fn: Callable, queue: list, jobs: int, kwargs: dict, done: Callable[[Graded], None],
                batches: bool = False):
    """Grade ``queue`` in one pool, at most ``jobs`` in flight, until it is empty or the pool
    breaks; returns ([(unit, error)] of the units in flight when it broke, the units not started)."""
    queue, broken, running = deque(queue), [], {}
    # spawn, not fork: forking a process that already runs threads (torch's, the output
    # drains) can deadlock the child
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        try:
            return _drain_pool(fn, pool, queue, broken, running, jobs, kwargs, done, batches)
        except KeyboardInterrupt:
            # Ctrl-C: the submissions in flight are abandoned, not waited for (their sandboxes die
            # with their pool worker: bubblewrap's --die-with-parent); finished ones are stored
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _drain_pool(fn: Callable, pool: ProcessPoolExecutor, queue: deque, broken: list, running: dict, jobs: int,
                kwargs: dict, done: Callable[[Graded], None], batches: bool = False):
    """The body of :func:`_pool_round`, in ``pool``."""
    while queue or running:
        while queue and len(running) < jobs and not broken:
            unit = queue.popleft()
            try:
                if batches:
                    future = pool.submit(fn, unit, **kwargs)
                else:
                    student, notebook, assignment, why, notes = unit
                    future = pool.submit(fn, student, notebook, assignment, refused=why, notes=notes, **kwargs)
            except BrokenProcessPool as e:
                broken.append((unit, e))
                break
            running[future] = unit
        if not running:
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            unit = running.pop(future)
            try:
                graded = future.result()
            except BrokenProcessPool as e:
                broken.append((unit, e))
                continue
            except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled back
                graded = [failed(student, assignment, f"grading failed: {type(e).__name__}: {e}", notes=notes,
                                 dataset=kwargs.get("dataset", threshold.DEFAULT_DATASET),
                                 device=kwargs.get("device", "cpu"))
                          for student, _, assignment, _, notes in (unit if batches else [unit])]
                graded = graded if batches else graded[0]
            for one in (graded if batches else [graded]):
                done(one)
    return broken, list(queue)
