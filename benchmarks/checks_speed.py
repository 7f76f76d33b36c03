"""Seconds to run each MNIST part's hidden checks on one submission, in-process, at the grading
profile's example count (the reference stands in for a correct submission, and a one-bug
mutant for a failing one, whose shrinking costs extra), measured side by side in one run:

- ``search``: every check straight to the Hypothesis search (the grader before the fast path);
- ``fast``: the fast path (:func:`autograder.stages.run_checks.fast_passes`) with the examples
  already drawn — what every submission after the first of a class costs;
- ``draw``: drawing those examples, once per process (per class and job).

Goal: ≤ 0.5 s for the three parts together (``fast``, correct submission).

    python benchmarks/checks_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import (
    checks,  # noqa: E402
    registry,  # noqa: E402
)
from autograder.checks import profiles as settings  # noqa: E402
from autograder.stages import run_checks  # noqa: E402
from autograder.stages.run_checks import run_assignment  # noqa: E402
from autograder.submission import InProcess  # noqa: E402

MNIST_ASSIGNMENTS = list(registry.MNIST)  # the MNIST parts
GOAL = 0.5


def bias_sign_perceptron(module):
    def update(params, x, t, lr):
        e = t - module.forward(params, x)
        return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}

    return {"update": update}


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def draw_all(assignment) -> None:
    for check in assignment.checks:
        if check.strategy is not None:
            run_checks.drawn_examples(check, assignment, "grading")


def main() -> int:
    torch.set_num_threads(1)  # as the grader does: tiny tensors, threads only add synchronisation
    print(f"# hidden checks, profile 'grading' ({settings.GRADING_EXAMPLES} examples a check), "
          f"{torch.get_num_threads()} torch threads; search and fast measured side by side in this run")
    print(f"{'assignment':<16} {'checks':>6} {'search s':>9} {'fast s':>7} {'draw s':>7} "
          f"{'bug search s':>13} {'bug fast s':>11}")
    totals = {"search": 0.0, "fast": 0.0, "draw": 0.0}
    for name in MNIST_ASSIGNMENTS:
        assignment = checks.load(name)
        module = registry.get(name).reference()
        overrides = bias_sign_perceptron(module) if module.PART == "perceptron" else {
            "forward": lambda *a, _f=module.forward, **k: _f(*a, **k) * 1.01}
        correct, buggy = InProcess(module), InProcess({**vars(module), **overrides})
        run_checks.FAST_PATH = False
        run_assignment(assignment, correct, "dev")  # warm-up: imports, first-call costs
        search = timed(run_assignment, assignment, correct, "grading")
        bug_search = timed(run_assignment, assignment, buggy, "grading")
        run_checks.FAST_PATH = True
        draw = timed(draw_all, assignment)
        fast = timed(run_assignment, assignment, correct, "grading")
        bug_fast = timed(run_assignment, assignment, buggy, "grading")
        for k, v in (("search", search), ("fast", fast), ("draw", draw)):
            totals[k] += v
        print(f"{name:<16} {len(assignment.checks):>6} {search:>9.2f} {fast:>7.2f} {draw:>7.2f} "
              f"{bug_search:>13.2f} {bug_fast:>11.2f}")
    print(f"total for a correct submission: search {totals['search']:.2f} s, fast {totals['fast']:.2f} s "
          f"({totals['search'] / totals['fast']:.1f}x; goal <= {GOAL} s: {'met' if totals['fast'] <= GOAL else 'NOT met'}); "
          f"drawing once per process: {totals['draw']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
