"""Seconds per student to grade the example class, next to plain ``nbgrader autograde``.

    python benchmarks/grading.py                      # threshold runs on mnist-sample
    python benchmarks/grading.py --data-root DIR      # … on full MNIST (DIR holds MNIST/raw)
    python benchmarks/grading.py --skip-nbgrader      # ours only
    python benchmarks/grading.py --executor slurm     # … and through Slurm, next to the local pool

Grades ``examples/submitted`` for the three MNIST assignments with ``autograder grade``
(sandbox, hidden checks, property checks, threshold runs; ``--jobs`` workers), then runs plain
nbgrader on the same notebooks in a copy of the course (``generate_assignment`` untimed, then
``nbgrader autograde`` timed: it executes every cell, the students' own experiments included,
one notebook after another). Goals (the speed issue): ≤ 3 s per student for the three assignments on
2 cores, and ≥ 10× faster than nbgrader autograde. ``--search-only`` adds, in the same run, the grader
with every check straight to the Hypothesis search (``TP_CHECKS_SEARCH_ONLY=1``: no fast path), the
A/B of :func:`autograder.stages.run_checks.fast_passes`. The peak memory printed is the largest
resident set of any process of the run (a pool worker, a sandbox's driver or student process).

``--class-size 25,50,100,200`` grades generated classes of that many students (the example
students' notebooks, correct, buggy, crashing and empty, in turn) and prints seconds per class and
per student: the cost must grow linearly with the class.

``--executor slurm`` also grades the same class through Slurm (submitit job arrays, ``--chunk``
submissions a task): on the cluster of ``$SLURM_CONF`` when it is set, else on a local
single-node cluster started for the run (tests/slurmcluster.py; root, Debian's slurm-wlm and
munge). It prints seconds per student next to the local pool's, whether the two gradebooks are
byte-identical, and the overhead per job: from submission to the task's start (Slurm's
``SubmitTime`` → ``StartTime``, read with ``scontrol`` while the controller still knows the job).

The ``hostile`` student is left out of both: its infinite loop costs us one call's timeout, and
nbgrader its cell timeout (10 minutes), which says nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import registry  # noqa: E402
from autograder.grade import grade_class  # noqa: E402
from autograder.stages.sandbox import Limits  # noqa: E402

ASSIGNMENTS = [a for a in registry.MNIST if a != "tp2b_modules"]  # the speed issue's three: tp1–tp3
STUDENTS = ["correct", "buggy", "crash", "empty"]


def copy_class(dest: Path) -> Path:
    for student in STUDENTS:
        for a in ASSIGNMENTS:
            folder = dest / "submitted" / student / a
            folder.mkdir(parents=True)
            shutil.copy(ROOT / "examples" / "submitted" / student / a / f"{a}.ipynb", folder)
            shutil.copy(ROOT / "student_template" / a / "examples.npz", folder)  # released with it
    return dest / "submitted"


def generated_class(dest: Path, size: int) -> Path:
    """``size`` students, the example students' notebooks in turn (correct, buggy, crash, empty)."""
    for i in range(size):
        model = STUDENTS[i % len(STUDENTS)]
        for a in ASSIGNMENTS:
            folder = dest / "submitted" / f"s{i:03d}-{model}" / a
            folder.mkdir(parents=True)
            shutil.copy(ROOT / "examples" / "submitted" / model / a / f"{a}.ipynb", folder)
            shutil.copy(ROOT / "student_template" / a / "examples.npz", folder)
    return dest / "submitted"


def peak_rss_gib() -> float:
    """The largest resident set of any finished child process (and what it waited for), in GiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1 << 20)


BOOKKEEPING: dict[int, float] = {}  # class size → seconds of a second run with nothing to grade


def ours(jobs: int, dataset: str, data_root: str | None, size: int | None = None, show: bool = True) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        submitted = copy_class(Path(tmp)) if size is None else generated_class(Path(tmp), size)
        start = time.perf_counter()
        graded = grade_class(submitted, ASSIGNMENTS, Path(tmp) / "out", jobs=jobs, limits=Limits(),
                             dataset=dataset, data_root=data_root, progress=False)
        seconds = time.perf_counter() - start
        if size is not None:  # the same class again: every result reused (the gradebook, the report…)
            again = time.perf_counter()
            grade_class(submitted, ASSIGNMENTS, Path(tmp) / "out", jobs=jobs, limits=Limits(),
                        dataset=dataset, data_root=data_root, progress=False)
            BOOKKEEPING[size] = time.perf_counter() - again
    for g in sorted(graded, key=lambda g: (g.assignment, g.student)) if show else ():
        print(f"  {g.assignment:<16} {g.student:<8} {g.score:>5g}/{g.max_score:<5g} {g.seconds:6.1f} s in its worker")
    return seconds


def on_slurm(jobs: int, dataset: str, data_root: str | None, chunk: int) -> tuple[float, bytes, list[float], int]:
    """The class through Slurm: (seconds, grades.csv, seconds from submission to start per task, tasks)."""
    from autograder.stages.cluster import Slurm

    with tempfile.TemporaryDirectory() as tmp:  # a real cluster: run it from the shared file system
        submitted = copy_class(Path(tmp))
        out = Path(tmp) / "out"
        executor = Slurm(out / ".slurm", chunk=chunk, jobs=jobs, poll_seconds=0.5)
        start = time.perf_counter()
        grade_class(submitted, ASSIGNMENTS, out, limits=Limits(), dataset=dataset, data_root=data_root,
                    progress=False, executor=executor)
        seconds = time.perf_counter() - start
        waits = []
        for job_id in executor.job_ids:
            info = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
            fields = dict(f.split("=", 1) for f in info.split() if "=" in f)
            if "SubmitTime" in fields and "StartTime" in fields:
                from datetime import datetime

                waits.append((datetime.fromisoformat(fields["StartTime"]) -
                              datetime.fromisoformat(fields["SubmitTime"])).total_seconds())
        return seconds, (out / "grades.csv").read_bytes(), waits, len(executor.job_ids)


def ours_bytes(jobs: int, dataset: str, data_root: str | None) -> tuple[float, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        submitted = copy_class(Path(tmp))
        start = time.perf_counter()
        grade_class(submitted, ASSIGNMENTS, Path(tmp) / "out", jobs=jobs, limits=Limits(),
                    dataset=dataset, data_root=data_root, progress=False)
        return time.perf_counter() - start, (Path(tmp) / "out" / "grades.csv").read_bytes()


def slurm_main(args, dataset: str) -> int:
    """``--executor slurm``: the local pool and Slurm on the same class, in the same run."""
    n = len(STUDENTS)
    cluster = None
    if not os.environ.get("SLURM_CONF"):
        sys.path.insert(0, str(ROOT / "tests"))
        import slurmcluster

        if why := slurmcluster.unavailable():
            print(f"no Slurm: {why}")
            return 0
        cluster = slurmcluster.LocalSlurm().start()
    try:
        local, local_csv = ours_bytes(args.jobs, dataset, args.data_root)
        print(f"local pool ({args.jobs} jobs)  {local:7.1f} s   {local / n:6.1f} s per student")
        seconds, csv, waits, tasks = on_slurm(1, dataset, args.data_root, args.chunk)
        print(f"slurm ({tasks} tasks of ≤ {args.chunk})  {seconds:7.1f} s   {seconds / n:6.1f} s per student"
              f"   gradebook {'byte-identical' if csv == local_csv else 'DIFFERENT'}")
        if waits:
            print(f"per job, submission → start: min {min(waits):.0f} s, mean {sum(waits) / len(waits):.1f} s, "
                  f"max {max(waits):.1f} s "
                  f"(Slurm's whole-second times; array tasks wait for a free CPU too)")
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


def nbgrader(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, check=True, capture_output=True)


def plain_nbgrader() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
        shutil.copytree(ROOT / "assignments" / "source", course / "source")
        copy_class(course)
        for a in ASSIGNMENTS:
            nbgrader("generate_assignment", a, "--force", cwd=course)
        start = time.perf_counter()
        for a in ASSIGNMENTS:
            nbgrader("autograde", a, "--force", cwd=course)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel workers (default: all cores)")
    parser.add_argument("--data-root", default=None, help="threshold runs on full MNIST from this data root")
    parser.add_argument("--skip-nbgrader", action="store_true")
    parser.add_argument("--search-only", action="store_true",
                        help="also grade with every check straight to the search (the fast path's A/B)")
    parser.add_argument("--class-size", default="", help="comma-separated sizes of generated classes to grade")
    parser.add_argument("--executor", default="local", choices=["local", "slurm"],
                        help="slurm: the local pool and Slurm side by side (no nbgrader)")
    parser.add_argument("--chunk", type=int, default=2, help="submissions a Slurm task (default: 2)")
    args = parser.parse_args()
    dataset = "mnist" if args.data_root else "mnist-sample"
    if args.executor == "slurm":
        return slurm_main(args, dataset)
    n = len(STUDENTS)
    print(f"# {n} students × {len(ASSIGNMENTS)} assignments, threshold runs on {dataset}, "
          f"{args.jobs} jobs, {os.cpu_count()} cores")
    seconds = ours(args.jobs, dataset, args.data_root)
    print(f"autograder grade   {seconds:7.1f} s   {seconds / n:6.1f} s per student (goal ≤ 3); "
          f"peak memory of a process {peak_rss_gib():.2f} GiB")
    if args.search_only:
        os.environ["TP_CHECKS_SEARCH_ONLY"] = "1"
        try:
            searched = ours(args.jobs, dataset, args.data_root, show=False)
        finally:
            del os.environ["TP_CHECKS_SEARCH_ONLY"]
        print(f"  search only      {searched:7.1f} s   {searched / n:6.1f} s per student "
              f"(no fast path: {searched / seconds:.1f}× slower)")
    if not args.skip_nbgrader:
        try:
            theirs = plain_nbgrader()
        except subprocess.CalledProcessError as e:  # say why, keep the figures above
            tail = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
            print(f"nbgrader autograde failed ({' '.join(e.cmd[2:])}): {' | '.join(tail)}")
            return 1
        print(f"nbgrader autograde {theirs:7.1f} s   {theirs / n:6.1f} s per student "
              f"(sequential, experiments included, thresholds on mnist-sample)")
        print(f"ratio              {theirs / seconds:7.1f}×  (goal ≥ 10)")
    for size in [int(v) for v in args.class_size.split(",") if v.strip()]:
        spent = ours(args.jobs, dataset, args.data_root, size=size, show=False)
        print(f"class of {size:>3}       {spent:7.1f} s   {spent / size:6.2f} s per student   "
              f"({spent / 60:.1f} min; goal for 200: ≤ 12 min); peak memory of a process {peak_rss_gib():.2f} GiB; "
              f"run again, nothing to grade: {BOOKKEEPING.get(size, 0):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
