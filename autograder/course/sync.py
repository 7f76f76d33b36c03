"""One source of truth for each solution: the notebooks' solution cells are the reference's code.

A solution cell whose nbgrader ``grade_id`` is ``solution_<name>`` holds exactly the reference
function ``<name>`` of the assignment's module (signature, docstring and body), its body wrapped
in nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers; a locked cell ``given_<name>``
holds the reference's code verbatim (provided to students). :func:`problems` proves the
agreement (same AST); :func:`sync` rewrites the cells from the reference after it changed
(``python -m autograder sync``). The reference stays the one place a solution is edited.
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


def problems(course: Path) -> list[str]:
    """Every solution cell that differs from its reference function (or names none)."""
    found = []
    for assignment, path in notebooks(course).items():
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
        if dirty:
            nbformat.write(nb, str(path))
            changed.append(path)
    return changed
