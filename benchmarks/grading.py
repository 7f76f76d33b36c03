"""Seconds per student to grade the example class, next to plain ``nbgrader autograde``.

    python benchmarks/grading.py                      # threshold runs on mnist-sample
    python benchmarks/grading.py --data-root DIR      # … on full MNIST (DIR holds MNIST/raw)
    python benchmarks/grading.py --skip-nbgrader      # ours only

Grades ``examples/submitted`` for the three MNIST assignments with ``autograder grade``
(sandbox, hidden checks, property checks, threshold runs; ``--jobs`` workers), then runs plain
nbgrader on the same notebooks in a copy of the course (``generate_assignment`` untimed, then
``nbgrader autograde`` timed: it executes every cell, the students' own experiments included,
one notebook after another). Goals (issue 3): ≤ 20 s per student for the three assignments on
2 cores, and ≥ 3× faster than nbgrader autograde.

The ``hostile`` student is left out of both: its infinite loop costs us one call's timeout, and
nbgrader its cell timeout (10 minutes), which says nothing about speed.
"""

from __future__ import annotations

import argparse
import os
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

ASSIGNMENTS = list(registry.MNIST)  # the MNIST parts
STUDENTS = ["correct", "buggy", "crash", "empty"]


def copy_class(dest: Path) -> Path:
    for student in STUDENTS:
        for a in ASSIGNMENTS:
            folder = dest / "submitted" / student / a
            folder.mkdir(parents=True)
            shutil.copy(ROOT / "examples" / "submitted" / student / a / f"{a}.ipynb", folder)
            shutil.copy(ROOT / "student_template" / a / "examples.npz", folder)  # released with it
    return dest / "submitted"


def ours(jobs: int, dataset: str, data_root: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        submitted = copy_class(Path(tmp))
        start = time.perf_counter()
        graded = grade_class(submitted, ASSIGNMENTS, Path(tmp) / "out", jobs=jobs, limits=Limits(),
                             dataset=dataset, data_root=data_root, progress=False)
        seconds = time.perf_counter() - start
    for g in sorted(graded, key=lambda g: (g.assignment, g.student)):
        print(f"  {g.assignment:<16} {g.student:<8} {g.score:>5g}/{g.max_score:<5g} {g.seconds:6.1f} s in its worker")
    return seconds


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
    args = parser.parse_args()
    dataset = "mnist" if args.data_root else "mnist-sample"
    n = len(STUDENTS)
    print(f"# {n} students × {len(ASSIGNMENTS)} assignments, threshold runs on {dataset}, "
          f"{args.jobs} jobs, {os.cpu_count()} cores")
    seconds = ours(args.jobs, dataset, args.data_root)
    print(f"autograder grade   {seconds:7.1f} s   {seconds / n:6.1f} s per student (goal ≤ 20)")
    if not args.skip_nbgrader:
        theirs = plain_nbgrader()
        print(f"nbgrader autograde {theirs:7.1f} s   {theirs / n:6.1f} s per student "
              f"(sequential, experiments included, thresholds on mnist-sample)")
        print(f"ratio              {theirs / seconds:7.1f}×  (goal ≥ 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
