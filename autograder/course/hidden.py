"""The hidden part of the notebooks' test cells, for plain ``nbgrader autograde``.

    check("forward")                      # visible: the students' checks
    ### BEGIN HIDDEN TESTS
    from autograder.course.hidden import grade; grade("tp1_perceptron", "forward", globals())
    ### END HIDDEN TESTS

Runs the assignment's hidden checks of one function against the functions the notebook
defined, in the kernel nbgrader started (nbgrader's own model: no sandbox, the student's code
in the same process; the project's ``autograder grade`` is the sandboxed path), prints each
failed check, and **returns the points earned** as the cell's value, which nbgrader reads as
partial credit: each test cell gets exactly what ``autograder grade`` gives the checks of that
function. (Under ``nbgrader autograde`` the visible ``check`` above reports without raising,
see :func:`tpcheck.student.check`, so that it is this value that counts.) Never shipped to
students.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any

from autograder import checks
from autograder.results import DEFERRED, CheckResult
from autograder.stages import threshold
from autograder.stages.run_checks import run_check
from autograder.submission import InProcess


def grade(assignment: str, function: str, namespace: dict[str, Any], source: str | None = None) -> float | None:
    """The points the checks of ``function`` give (``"*"``: the whole-submission checks;
    ``"train"``: the accuracy threshold on mnist-sample, after the checks of the functions it
    uses; a run that needs a GPU, on its own dataset, deferred without one: no value under
    ``nbgrader validate``, 0 points otherwise); each check is printed, with its message when it failed.

    Warnings and whatever goes to stderr meanwhile (torch's warnings, a progress bar, the
    student's own prints to stderr) are swallowed: nbgrader gives a test cell 0 points for any
    stderr output, which must not cost honest work its points."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        results = _grade(assignment, function, namespace, source)
    for r in results:
        mark = "⏸" if r.status == DEFERRED else ("✓" if r.passed else "✗")
        print(f"{mark} {r.title} ({r.points:g}/{r.max_points:g})" + ("" if r.passed else f": {r.message}"))
    if results and all(r.status == DEFERRED for r in results) and os.environ.get("NBGRADER_EXECUTION") == "validate":
        # `nbgrader validate` on a machine without GPU: a run that needs one cannot be judged
        # here, and is no fault of the notebook (no value: validate counts the cell as passing).
        # Under `nbgrader autograde` it earns nothing, as with `autograder grade` on a CPU.
        return None
    return sum(r.points for r in results)


def _grade(assignment: str, function: str, namespace: dict[str, Any], source: str | None) -> list[CheckResult]:
    spec = checks.load(assignment)
    submission = InProcess(namespace, source=source if source is not None else _notebook_source(namespace, spec))
    if function == threshold.FUNCTION and spec.threshold is not None:
        gate = [run_check(c, submission, spec) for c in spec.checks if c.function in spec.threshold.uses]
        device, dataset = "cpu", threshold.DEFAULT_DATASET
        if spec.threshold.device == "cuda":  # a GPU-only run (tp4_cnn: CIFAR-10), deferred without one
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            if dataset not in spec.threshold.budgets:
                dataset = next(iter(spec.threshold.budgets))
        return [threshold.run_threshold(assignment, spec.threshold, submission, gate, dataset=dataset, device=device)]
    return _with_blame(spec, submission, function)


def _with_blame(spec, submission, function: str) -> list[CheckResult]:
    """The checks of ``function`` with the blame rule applied, as ``autograder grade`` applies it
    (:mod:`autograder.stages.blame`): the checks of the functions it uses (and those its checks
    need), transitively, run too, so that a failure caused by one of them is "not judged" here as
    well; the other functions' checks count as passed (they cannot be blamed for anything)."""
    from autograder.results import PASSED
    from autograder.stages import blame

    deps = blame.dependencies(spec, submission)
    needed = {g for c in spec.checks if c.function == function for g in c.needs}
    involved = blame.closure(deps, {function, *needed})
    results = [run_check(c, submission, spec) if c.function in involved else
               CheckResult(spec.check_id(c), c.title, c.function, PASSED, c.points, c.points, c.hidden)
               for c in spec.checks]
    results = blame.apply(spec, submission, results, lambda c, s: run_check(c, s, spec))
    return [r for c, r in zip(spec.checks, results) if c.function == function]


def _notebook_source(namespace: dict[str, Any], spec) -> str:
    """The source of the graded functions as the kernel knows them (IPython keeps cell sources)."""
    import inspect

    parts = []
    for name in spec.functions:
        fn = namespace.get(name)
        try:
            parts.append(inspect.getsource(fn))
        except (OSError, TypeError):
            pass
    return "\n\n".join(parts)
