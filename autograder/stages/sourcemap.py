"""Where a line of the extracted code came from: the student's cell and line, as they wrote it.

:mod:`autograder.stages.extract` rebuilds one module from the notebook's cells (``ast.unparse``
of the kept statements: comments gone, lines renumbered), and the sandbox reports line numbers
of that module (a load error, the innermost frame of a crash, a forbidden API found in a
function's source). A student reads none of those: "line 71" of a 20-line cell. The
:class:`SourceMap` is computed by the grader from the notebook at extraction time (never by
the student's process, whose reports are only reconstructed line numbers) and turns such a
line into ``cell 7 (grade_id), line 3: <the line as written, comment included>``.

A cell's number is its position among all the notebook's cells (1-based, markdown included),
as one counts them scrolling Jupyter (execution counts are not reliable); its nbgrader
``grade_id`` is named when it has one. A line the sandbox reports that is not an int, or lies
outside the extracted code, or on a line the grader wrote itself, reads "line unknown".

How the map is made: the extracted code is parsed again and walked node by node beside the
statements it was unparsed from (the same shapes, in the same order); each reconstructed line
takes the original line of the first node that starts on it, and lines where no node starts
(``else:``, a decorator's wrapper) that of the line before.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

UNKNOWN = "line unknown"
MAX_TEXT = 200  # characters of a quoted line


def _unknown() -> str:
    """:data:`UNKNOWN` in the current language."""
    from autograder.messages import say

    return say("where.unknown")


@dataclass(frozen=True)
class Origin:
    cell: int  # the cell's position in the notebook, 1-based, counting every cell
    grade_id: str  # its nbgrader grade_id, "" when it has none
    line: int  # the line in that cell, 1-based, as the student wrote it
    text: str  # that line, as written (comments included), stripped and capped

    def __str__(self) -> str:
        from autograder.messages import say

        cell = say("where.cell", cell=self.cell) + (f" ({self.grade_id})" if self.grade_id else "")
        return say("where.line", cell=cell, line=self.line, text=self.text)


@dataclass(frozen=True)
class CellSource:
    """What the map needs of one cell: its position, grade_id and lines as written."""

    cell: int
    grade_id: str
    lines: tuple[str, ...]


class SourceMap:
    """Reconstructed line (1-based) → :class:`Origin`, for the lines of the extracted code."""

    def __init__(self, origins: list[Origin | None]):
        self.origins = list(origins)

    def origin(self, line: object) -> Origin | None:
        """The student's line behind reconstructed line ``line``; None for anything else (a
        value that is not an int, out of range, a line of the grader's own)."""
        if type(line) is not int or not 0 < line <= len(self.origins):
            return None
        return self.origins[line - 1]

    def where(self, line: object) -> str:
        """``cell N (grade_id), line L: <text>``, or "line unknown"."""
        origin = self.origin(line)
        return str(origin) if origin is not None else _unknown()

    def in_function(self, code: str, name: str, line: int) -> str:
        """:meth:`where` for line ``line`` of the source of the last top-level ``def name`` in
        ``code`` (what :func:`autograder.submission.function_source` gives a scan)."""
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return _unknown()
        start = None
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                start = node.lineno
        return self.where(start + line - 1) if start is not None and type(line) is int and line > 0 else _unknown()


def build(code: str, statements: list[ast.stmt], originals: list[tuple[ast.AST, CellSource] | None]) -> SourceMap:
    """The map of ``code`` (``ast.unparse`` of a module whose body is ``statements``);
    ``originals[i]`` is the node statement ``i`` was made from (itself, or the import a
    ``try`` wraps) and its cell, or None for a statement the grader wrote."""
    count = len(code.splitlines())
    origins: list[Origin | None] = [None] * count
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return SourceMap(origins)
    if len(tree.body) != len(statements):
        return SourceMap(origins)
    for generated, original in zip(tree.body, originals):
        if original is None:
            continue
        node, cell = original
        first = min([generated.lineno, *(d.lineno for d in getattr(generated, "decorator_list", ()))])
        last = getattr(generated, "end_lineno", None) or generated.lineno
        inner = generated
        if isinstance(generated, ast.Try) and not isinstance(node, ast.Try) and generated.body:
            inner = generated.body[0]  # the tolerant import's ``try``: its lines are the import's
        lines: dict[int, int] = {}
        for new, old in _pairs(inner, node):
            at, was = getattr(new, "lineno", None), getattr(old, "lineno", None)
            if isinstance(at, int) and isinstance(was, int) and at not in lines:
                lines[at] = was
        previous = getattr(node, "lineno", 1)
        for number in range(first, min(last, count) + 1):
            previous = lines.get(number, previous)
            origins[number - 1] = _origin(cell, previous)
    return SourceMap(origins)


def _pairs(new: ast.AST, old: ast.AST):
    """The nodes of two trees of the same shape, side by side, breadth first; stops where the
    shapes part (``ast.unparse`` of an odd constant, say)."""
    queue = [(new, old)]
    while queue:
        a, b = queue.pop(0)
        if type(a) is not type(b):
            continue
        yield a, b
        children_a, children_b = list(ast.iter_child_nodes(a)), list(ast.iter_child_nodes(b))
        if len(children_a) == len(children_b):
            queue.extend(zip(children_a, children_b))


def _origin(cell: CellSource, line: int) -> Origin | None:
    if not 0 < line <= len(cell.lines):
        return None
    return Origin(cell.cell, cell.grade_id, line, cell.lines[line - 1].strip()[:MAX_TEXT])
