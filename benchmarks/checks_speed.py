"""Seconds to run each MNIST part's hidden checks on one submission, in-process, at the grading
profile's example count (the reference stands in for a correct submission, and a one-bug
mutant for a failing one, whose shrinking costs extra). Goal: ≤ 5 s for the three parts
together on 2 cores.

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
from autograder.checks import profiles as settings
from autograder.stages.run_checks import run_assignment  # noqa: E402
from autograder.submission import InProcess  # noqa: E402

MNIST_ASSIGNMENTS = list(registry.MNIST)  # the MNIST parts


def bias_sign_perceptron(module):
    def update(params, x, t, lr):
        e = t - module.forward(params, x)
        return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}

    return {"update": update}


def main() -> int:
    torch.set_num_threads(1)  # as the grader does: tiny tensors, threads only add synchronisation
    print(f"# hidden checks, profile 'grading' ({settings.GRADING_EXAMPLES} examples a check), "
          f"{torch.get_num_threads()} torch threads")
    print(f"{'assignment':<16} {'checks':>6} {'correct s':>10} {'one bug s':>10}")
    total = 0.0
    for name in MNIST_ASSIGNMENTS:
        assignment = checks.load(name)
        module = registry.get(name).reference()
        run_assignment(assignment, InProcess(module), "dev")  # warm-up: imports, first-call costs
        t0 = time.perf_counter()
        run_assignment(assignment, InProcess(module), "grading")
        correct = time.perf_counter() - t0
        overrides = bias_sign_perceptron(module) if module.PART == "perceptron" else {
            "forward": lambda *a, _f=module.forward, **k: _f(*a, **k) * 1.01}
        t0 = time.perf_counter()
        run_assignment(assignment, InProcess({**vars(module), **overrides}), "grading")
        buggy = time.perf_counter() - t0
        total += correct
        print(f"{name:<16} {len(assignment.checks):>6} {correct:>10.2f} {buggy:>10.2f}")
    print(f"total for a correct submission: {total:.2f} s (goal ≤ 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
