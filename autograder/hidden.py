"""The hidden part of the notebooks' test cells, for plain ``nbgrader autograde``.

    ### BEGIN HIDDEN TESTS
    from autograder.hidden import grade; grade("tp1_perceptron", "forward", globals())
    ### END HIDDEN TESTS

Runs the assignment's hidden checks of one function against the functions the notebook
defined, in the kernel nbgrader started (nbgrader's own model: no sandbox; the project's
``autograder grade`` is the sandboxed path), and raises ``AssertionError`` listing every failed
check, so that nbgrader gives the cell 0 points. Never shipped to students.
"""

from __future__ import annotations

from typing import Any

from autograder import checks
from autograder.check import WHOLE_SUBMISSION, run_check
from autograder.submission import InProcess


def grade(assignment: str, function: str, namespace: dict[str, Any], source: str | None = None) -> None:
    """Every check of ``function`` (``"*"``: the whole-submission checks) must pass."""
    spec = checks.load(assignment)
    submission = InProcess(namespace, source=source if source is not None else _notebook_source(namespace, spec))
    failures = []
    for check in spec.checks:
        if check.function != function:
            continue
        result = run_check(check, submission, spec)
        if not result.passed:
            failures.append(f"{result.title}: {result.message}")
    if failures:
        raise AssertionError("\n".join(failures))


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
