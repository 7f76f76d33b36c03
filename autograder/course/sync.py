"""One source of truth for each solution: the notebooks' solution cells are the reference's code.

A solution cell whose nbgrader ``grade_id`` is ``solution_<name>`` holds exactly the reference
function ``<name>`` of the assignment's module (signature, docstring and body), its body wrapped
in nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers; a locked cell ``given_<name>``
holds the reference's code verbatim (provided to students). :func:`problems` proves the
agreement (same AST); :func:`sync` rewrites the cells from the reference after it changed
(``python -m autograder sync``). The reference stays the one place a solution is edited.

Likewise the points of each test cell (``test_<function>``; ``test_api`` for the whole-notebook
checks, ``test_train`` for the training run) are those of the assignment's checks
(:func:`cell_points`): a check added or re-weighted in ``autograder/checks/`` reaches plain
nbgrader's points through ``sync`` (and :func:`problems` names a cell that disagrees).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import nbformat

from autograder import registry

PREFIX = "solution_"  # a solution region: the body is the student's to write
GIVEN = "given_"  # provided code (locked), the reference's source verbatim
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution_source(obj) -> str:
    """The reference function's source with its body (after the docstring) inside the markers;
    for a class, the body of each of its methods (a class body that raised would stop the
    released notebook's cell: its stub must define the class, whose methods raise)."""
    source = textwrap.dedent(inspect.getsource(obj)).rstrip("\n")
    node = ast.parse(source).body[0]
    if isinstance(node, ast.ClassDef):
        lines = source.splitlines()
        for method in reversed([m for m in node.body if isinstance(m, ast.FunctionDef)]):
            first = _first_statement(method)
            start = (first.decorator_list[0].lineno if getattr(first, "decorator_list", None) else first.lineno) - 1
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            lines[method.end_lineno:method.end_lineno] = [indent + END]
            lines[start:start] = [indent + BEGIN]
        return "\n".join(lines)
    body = node.body
    first = body[1] if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str) and len(body) > 1) else body[0]
    lines = source.splitlines()
    decorators = getattr(first, "decorator_list", None)
    start = (decorators[0].lineno if decorators else first.lineno) - 1
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    return "\n".join(lines[:start] + [indent + BEGIN] + lines[start:] + [indent + END])


def _first_statement(node) -> ast.stmt:
    body = node.body
    docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
        isinstance(body[0].value.value, str) and len(body) > 1
    return body[1] if docstring else body[0]


def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def _solution_cells(nb):
    """(cell, reference name, whether its body is a solution region) for every tied cell."""
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        for prefix in (PREFIX, GIVEN):
            if cell.cell_type == "code" and grade_id.startswith(prefix):
                yield cell, grade_id[len(prefix):], prefix == PREFIX


def cell_source(obj, solution: bool) -> str:
    return solution_source(obj) if solution else textwrap.dedent(inspect.getsource(obj)).rstrip("\n")


def notebooks(course: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((course / "source").glob("*/*.ipynb"))}


def cell_points(assignment: str) -> dict[str, float]:
    """The points of each test cell of ``assignment``'s notebook, from its checks."""
    from autograder import checks
    from autograder.checks.spec import WHOLE_SUBMISSION

    spec = checks.load(assignment)
    points: dict[str, float] = {}
    for c in spec.checks:
        cell = "test_api" if c.function == WHOLE_SUBMISSION else f"test_{c.function}"
        points[cell] = points.get(cell, 0.0) + c.points
    if spec.threshold is not None:
        points["test_train"] = spec.threshold.points
    return points


def _test_cells(nb):
    """(cell, grade_id) of every autograded test cell."""
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and \
                meta.get("grade_id", "").startswith("test_"):
            yield cell, meta["grade_id"]


def problems(course: Path) -> list[str]:
    """Every solution cell that differs from its reference function (or names none), and every
    test cell whose points are not its checks'."""
    found = []
    for assignment, path in notebooks(course).items():
        points = cell_points(assignment)
        for cell, grade_id in _test_cells(nbformat.read(str(path), as_version=4)):
            if grade_id in points and float(cell.metadata["nbgrader"]["points"]) != points[grade_id]:
                found.append(f"{path.name}: the test cell {grade_id} gives {cell.metadata['nbgrader']['points']:g} "
                             f"points, its checks {points[grade_id]:g} (run `python -m autograder sync`)")
        module = registry.get(assignment).reference()
        for cell, name, _ in _solution_cells(nbformat.read(str(path), as_version=4)):
            obj = getattr(module, name, None)
            if obj is None:
                found.append(f"{path.name}: cell for {name} names no function of {module.__name__}")
                continue
            mine = ast.dump(ast.parse(strip_markers(cell.source)))
            theirs = ast.dump(ast.parse(textwrap.dedent(inspect.getsource(obj))))
            if mine != theirs:
                found.append(f"{path.name}: the cell of {name} differs from {module.__name__}.{name} "
                             f"(run `python -m autograder sync`)")
    return found


def sync(course: Path) -> list[Path]:
    """Rewrite every solution cell from the reference; returns the notebooks changed."""
    changed = []
    for assignment, path in notebooks(course).items():
        module = registry.get(assignment).reference()
        nb = nbformat.read(str(path), as_version=4)
        dirty = False
        for cell, name, solution in _solution_cells(nb):
            new = cell_source(getattr(module, name), solution)
            if cell.source != new:
                cell.source, dirty = new, True
        points = cell_points(assignment)
        for cell, grade_id in _test_cells(nb):
            if grade_id in points and float(cell.metadata["nbgrader"]["points"]) != points[grade_id]:
                cell.metadata["nbgrader"]["points"], dirty = points[grade_id], True
        if dirty:
            nbformat.write(nb, str(path))
            changed.append(path)
    return changed
