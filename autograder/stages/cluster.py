"""Grading a class on a Slurm cluster, through submitit (``autograder grade --executor slurm``).

The scheduler is Slurm's, never ours (../shared/DESIGN.md, "Scale"): :class:`Slurm` splits what
is to be graded into chunks of ``chunk`` submissions and submits them as one Slurm job array
(``array_parallelism`` tasks at a time) through submitit; two arrays when some parts train on a
GPU (tp4_cnn with ``--device cuda``: ``--gpus-per-node``, ``gpus_per_job`` GPUs a task), the
others on CPUs. Each task runs :func:`grade_chunk` on its node: the very ``grade_batch`` of a local
run, submission by submission (``jobs`` at a time in a pool of its own when ``jobs`` > 1), in the
same bubblewrap sandbox; ``--device cuda`` is checked there, on the node.

**Results come back to the submitting process.** A task returns its :class:`Graded` objects
(submitit pickles them into its folder on the shared file system; the pickled data is the
grader's own result, produced by the grader's code on the node: student code only ever ran in
the sandbox, whose answers never cross as pickle) and the submitting process hands each to
``grade_class``'s ``store``, which applies this run's lateness and writes the result files
atomically, exactly as a local run does. So there is one writer of ``OUT``, one place where
due dates, extensions and the late policy are read, and the staleness rules of a second run are
those of a local one; ``grades.csv``, the report and the nbgrader database are written once at
the end by the submitting process, from the result files: the same bytes as a local run. The
price: a chunk's results arrive when the whole chunk is done (a smaller ``chunk`` loses less to
a Ctrl-C).

What the submitting process watches (``squeue``, every ``poll_seconds``; accounting, ``sacct``,
is not needed): a progress bar of tasks done / running / pending / failed. A task that leaves
the queue without a result (failed, cancelled with ``scancel``, pre-empted, timed out, node
failure) is submitted again once; when that fails too, each of its submissions is recorded as
"grading failed on the cluster: <reason>" and the class goes on. Ctrl-C stores what finished,
cancels the arrays (``scancel``) and lets the KeyboardInterrupt through. A cluster that cannot
be reached, or no Slurm at all, is :class:`ClusterError`: one line, before anything is graded.

Submitit's folder is ``OUT/.slurm/<run>/`` (the jobs' scripts, logs and pickles: ``OUT`` must be
on a file system the nodes share, and so must the virtualenv, whose Python runs the tasks);
it is removed at the end of a run in which no task failed.
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder import checks
from autograder.stages import sandbox as sandboxes

REASON = "grading failed on the cluster"
ATTEMPTS = 2  # a task that fails is submitted once more
PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
           "RESV_DEL_HOLD", "SIGNALING", "STAGE_OUT"}
RUNNING = {"RUNNING", "COMPLETING"}


class ClusterError(ValueError):
    """The cluster cannot be used as asked (its one line says why): no Slurm, an unreachable
    controller, a partition or GPU request the cluster refuses."""


def needs_gpu(assignment: str, device: str) -> bool:
    """Whether this assignment's training run needs a GPU node (tp4_cnn with ``--device cuda``)."""
    spec = checks.load(assignment).threshold
    return device == "cuda" and spec is not None and spec.device == "cuda"


def grade_chunk(fn: Callable, items: list[tuple], kwargs: dict, jobs: int = 1) -> list:
    """On the node: ``fn(items, **kwargs)`` (``grade_batch``, as locally: a student's notebooks
    share a sandbox), the results in a list; with ``jobs``, a student a pool worker. A GPU part on a node without a
    visible GPU raises: that task fails (then is submitted again, then recorded)."""
    if any(item[1] is not None and needs_gpu(item[2], kwargs.get("device", "cpu")) for item in items):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"--device cuda: no CUDA GPU is visible on node {socket.gethostname()}")
    import torch

    torch.set_num_threads(1)  # as the CLI does: the checks' tensors are tiny
    results: list = []
    from autograder.grade import failed, grade_in_pool, per_student

    if jobs <= 1:
        return list(fn(items, **kwargs))
    grade_in_pool(fn, per_student(items), jobs, kwargs, results.append,
                  lambda item, e: results.append(failed(
                      item[0], item[2], f"grading failed: the grading process died ({type(e).__name__})",
                      dataset=kwargs.get("dataset", "mnist-sample"), device=kwargs.get("device", "cpu"), notes=item[4])),
                  batches=True)
    return results


@dataclass
class _Task:
    """One chunk of submissions, its GPU need, its current job (submitit's) and its attempts."""

    items: list[tuple]
    gpu: bool
    job: object = None
    attempts: int = 0
    missing_since: float | None = None


@dataclass
class Slurm:
    """``autograder grade --executor slurm``'s options; :meth:`grade` is what ``grade_class``
    calls in place of its local pool."""

    folder: Path
    partition: str | None = None
    gpus_per_job: int = 1
    array_parallelism: int | None = None
    chunk: int = 8
    setup: list[str] = field(default_factory=list)
    jobs: int = 1  # submissions graded in parallel inside one task (its --cpus-per-task)
    poll_seconds: float = 5.0
    result_grace_seconds: float = 15.0  # a task gone from the queue gets this long for its result file to show
    python: str | None = None  # the nodes' Python (default: this one, on the shared file system)
    # what the last run did, for the summary and the tests
    resubmitted: int = 0
    failed_tasks: int = 0
    job_ids: list[str] = field(default_factory=list)

    # the executor -----------------------------------------------------------------------------
    def _executor(self, gpu: bool, items_seconds: float):
        try:
            import submitit
        except ImportError:
            raise ClusterError("--executor slurm needs submitit (scripts/setup.sh installs it)") from None
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise ClusterError("--executor slurm: sbatch/squeue are not on PATH: run this on a Slurm login node")
        try:
            executor = submitit.SlurmExecutor(folder=self.run_folder / "%j", python=self.python)
        except RuntimeError as e:  # "Could not detect srun"
            raise ClusterError(f"--executor slurm: {e}") from None
        params = dict(job_name="tp-grade-gpu" if gpu else "tp-grade", cpus_per_task=max(1, self.jobs),
                      time=max(5, math.ceil(items_seconds * 1.5 / 60) + 5), setup=list(self.setup))
        if self.partition:
            params["partition"] = self.partition
        if self.array_parallelism:
            params["array_parallelism"] = self.array_parallelism
        if gpu and self.gpus_per_job:
            params["gpus_per_node"] = self.gpus_per_job
        executor.update_parameters(**params)
        return executor

    def _seconds(self, items: list[tuple], kwargs: dict) -> float:
        """An upper bound of one chunk's wall time: each submission's own limit (startup, checks,
        training budget), one after another (``jobs`` at a time)."""
        limits = kwargs.get("limits") or sandboxes.Limits()
        total = 0.0
        for item in items:
            spec = checks.load(item[2]).threshold
            total += limits.startup_seconds + limits.submission_seconds + (spec.seconds if spec else 0.0)
        return total / max(1, self.jobs)

    def _submit(self, tasks: list[_Task], fn: Callable, kwargs: dict) -> None:
        """One job array per kind (CPU, GPU) for ``tasks``; ClusterError: sbatch's one line."""
        for gpu in (False, True):
            group = [t for t in tasks if t.gpu == gpu]
            if not group:
                continue
            executor = self._executor(gpu, max(self._seconds(t.items, kwargs) for t in group))
            try:  # sbatch's complaint reaches the user once, in the ClusterError's line
                with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                    futures = [executor.submit(grade_chunk, fn, t.items, kwargs, self.jobs) for t in group]
            except Exception as e:  # noqa: BLE001 - submitit's FailedJobError / CalledProcessError: sbatch said why
                raise ClusterError(f"--executor slurm: cannot submit the jobs: {_one_line(e)}") from None
            for task, job in zip(group, futures):
                task.job, task.attempts, task.missing_since = job, task.attempts + 1, None
                self.job_ids.append(str(job.job_id))

    # the run ----------------------------------------------------------------------------------
    def grade(self, fn: Callable, todo: list[tuple], kwargs: dict, done: Callable, record_failed: Callable,
              bar=None) -> None:
        """Grade ``todo`` (``grade_class``'s items) on the cluster, ``done(graded)`` for each
        result as its task ends, ``record_failed(item, reason)`` for each submission of a task
        that failed twice."""
        if not todo:
            return
        self.run_folder = Path(self.folder) / time.strftime("%Y%m%d-%H%M%S")
        device = kwargs.get("device", "cpu")
        tasks: list[_Task] = []
        from autograder.grade import per_student

        todo = [item for batch in per_student(todo) for item in batch]  # a student's notebooks share a task's sandbox
        for gpu in (False, True):
            items = [item for item in todo if (item[1] is not None and needs_gpu(item[2], device)) == gpu]
            tasks += [_Task(items[i:i + self.chunk], gpu) for i in range(0, len(items), max(1, self.chunk))]
        self.resubmitted = self.failed_tasks = 0
        self.job_ids = []
        live = list(tasks)
        try:
            self._submit(tasks, fn, kwargs)
            while live:
                states = self._states([t.job.job_id for t in live])
                counts = {"done": len(tasks) - len(live), "running": 0, "pending": 0, "failed": self.failed_tasks}
                again = []
                for task in list(live):
                    outcome = self._outcome(task, states.get(str(task.job.job_id)))
                    if outcome is None:
                        counts["running" if states.get(str(task.job.job_id), "") in RUNNING else "pending"] += 1
                        continue
                    ok, value = outcome
                    if ok:
                        live.remove(task)
                        counts["done"] += 1
                        for graded in value:
                            done(graded)
                    elif task.attempts < ATTEMPTS:
                        again.append(task)
                        self.resubmitted += 1
                        counts["pending"] += 1
                    else:
                        live.remove(task)
                        self.failed_tasks += 1
                        counts["failed"] += 1
                        for item in task.items:
                            record_failed(item, f"{REASON}: {value}")
                if again:
                    self._submit(again, fn, kwargs)
                if bar is not None:
                    bar.set_postfix_str(f"tasks {counts['done']} done, {counts['running']} running, "
                                        f"{counts['pending']} pending, {counts['failed']} failed", refresh=True)
                if live:
                    time.sleep(self.poll_seconds)
        except ClusterError:
            self.cancel()  # nothing is left running behind the one line
            raise
        except KeyboardInterrupt:
            self.cancel()
            for task in live:  # what finished before Ctrl-C is kept
                if task.job is None:
                    continue
                outcome = self._outcome(task, "CANCELLED", grace=0.0)
                if outcome is not None and outcome[0]:
                    for graded in outcome[1]:
                        done(graded)
            raise
        if not self.failed_tasks:
            shutil.rmtree(self.run_folder, ignore_errors=True)

    def cancel(self) -> None:
        """``scancel`` every job this run submitted."""
        if self.job_ids:
            arrays = sorted({job_id.split("_")[0] for job_id in self.job_ids})
            subprocess.run(["scancel", *arrays], capture_output=True, timeout=60)

    def _states(self, job_ids: list) -> dict[str, str]:
        """``squeue``'s state of each task (``123_4``) still known to the controller, finished
        ones included while it keeps them; ClusterError when the controller does not answer."""
        arrays = sorted({str(j).split("_")[0] for j in job_ids})
        try:
            out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(arrays)],
                                 capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return {}
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:  # every one of them finished and was forgotten
                return {}
            raise ClusterError(f"--executor slurm: squeue failed: {_one_line(out.stderr)}")
        return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)

    def _outcome(self, task: _Task, state: str | None, grace: float | None = None):
        """None while the task is queued or running; (True, results) when it returned them;
        (False, reason) when it failed or left the queue without a result (after ``grace``
        seconds without its result file: a shared file system may show it late)."""
        from submitit.core.utils import pickle_load

        job = task.job
        if state in PENDING or state in RUNNING:
            return None
        result = job.paths.result_pickle
        if result.exists():
            try:
                outcome, value = pickle_load(result)
            except Exception as e:  # noqa: BLE001 - a truncated file: the task failed
                return False, f"its result could not be read ({type(e).__name__})"
            if outcome == "success":
                return True, value
            return False, _last_line(str(value))
        now = time.monotonic()
        if task.missing_since is None:
            task.missing_since = now
        if now - task.missing_since < (self.result_grace_seconds if grace is None else grace):
            return None
        why = f"job {job.job_id} ended {state}" if state else f"job {job.job_id} left the queue"
        log = _last_line(job.stderr() or "") if job.paths.stderr.exists() else ""
        return False, why + (f" ({log})" if log else "") + " without a result"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _one_line(error) -> str:
    """sbatch's error line out of submitit's exception text (or the exception's last line)."""
    text = str(error)
    for line in text.splitlines():
        if "error:" in line:
            return line.strip()[:300]
    return _last_line(text) if text.strip() else type(error).__name__
