"""Stage 1 of grading: read a submitted notebook as data and extract the code to grade.

The notebook is parsed as JSON (nbformat) and its cells with ``ast``; nothing is executed here.
What is kept, in notebook order, is what a grader needs to call the student's functions and
nothing that trains or plots: imports, function and class definitions (the last definition of a
name wins, as when the cells run top to bottom), and top-level assignments that call nothing
(constants, aliases, dicts of functions). Cells that do not parse are skipped and named;
IPython magics and shell escapes are dropped. The code comes with its source map
(:mod:`autograder.stages.sourcemap`): each of its lines → the student's cell, line and text, so
that a load error, a crash or a forbidden API is shown where the student wrote it.
"""

from __future__ import annotations

import ast
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.stages import sourcemap
from autograder.stages.integrity import MAX_FLAGS, Flag, scan


class ExtractError(Exception):
    """The file cannot be graded at all; the message says why, for the student."""


@dataclass
class Extracted:
    code: str  # the kept statements, ready for the sandbox
    defined: list[str]  # functions and classes defined, in order
    skipped_cells: list[str] = field(default_factory=list)  # "cell 4 (id abc): SyntaxError …"
    missing: list[str] = field(default_factory=list)  # graded functions not defined anywhere
    # graded functions still the template's stub: a docstring at most, then
    # ``raise NotImplementedError(…)`` with constant arguments; no decorator, no call in defaults
    stubs: list[str] = field(default_factory=list)
    # code that reaches past the assignment's API (autograder.stages.integrity): never a penalty
    flags: list[Flag] = field(default_factory=list)
    # each line of ``code`` → the student's cell and line (autograder.stages.sourcemap): the
    # grader's own, never sent to the sandbox
    source_map: sourcemap.SourceMap = field(default_factory=lambda: sourcemap.SourceMap([]))


MAX_NOTEBOOK_BYTES = 20 << 20  # as autograder.stages.find: checked before anything is read
MAX_DEPTH = 100  # AST levels in a cell: honest code nests a few dozen; ast.unparse recurses on each

KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at ``path``, or an ExtractError naming what is wrong with the file."""
    path = Path(path)
    raw = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    if not raw.strip():
        raise ExtractError(f"{path.name} is empty")
    try:
        text = raw.decode("utf-8")
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        looks_like_python = raw.lstrip()[:6] in (b"import", b"from ", b"def ", b"#") or b"\ndef " in raw
        if looks_like_python:
            raise ExtractError(f"{path.name} is Python source, not a notebook: submit the .ipynb file "
                               f"saved from Jupyter") from None
        raise ExtractError(f"{path.name} is not a valid notebook (its JSON is malformed: {e})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # noqa: BLE001 - nbformat raises many kinds
        raise ExtractError(f"{path.name} is JSON but not a Jupyter notebook ({type(e).__name__})") from None
    if not isinstance(nb.get("cells"), list):
        raise ExtractError(f"{path.name} has no cells")
    return nb


def read_regular_file(path: Path, cap: int) -> bytes:
    """The bytes of ``path``, only if it is a regular file (never through a link: ``O_NOFOLLOW``;
    a FIFO never blocks: ``O_NONBLOCK``) of at most ``cap`` bytes, checked before reading and
    again while reading; else an ExtractError naming why."""
    name = _shown(path.name)
    try:
        st = os.lstat(path)
    except OSError as e:
        raise ExtractError(f"{name} cannot be read ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise ExtractError(f"the submission is a symbolic link: {name}; submit the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise ExtractError(f"{name} is not a regular file (a FIFO, device or folder); submit the notebook file itself")
    too_big = ExtractError(f"{name} is larger than the {cap >> 20} MB a notebook may be; clear its outputs and submit it again")
    if st.st_size > cap:
        raise too_big
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ExtractError(f"{name} cannot be read ({e.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between lstat and open
            raise ExtractError(f"{name} is not a regular file; submit the notebook file itself")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:  # grew after the lstat
            raise too_big
        return b"".join(chunks)
    except OSError as e:
        raise ExtractError(f"{name} cannot be read ({e.strerror})") from None
    finally:
        os.close(fd)


def _shown(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def extract(nb: nbformat.NotebookNode, functions: tuple[str, ...] = (), *,
            other_assignments: dict[str, tuple[str, ...]] | None = None) -> Extracted:
    """The code to grade from a notebook; ``functions`` are the graded names to look for."""
    kept: dict[str, ast.stmt] = {}  # name -> last definition (order: first appearance)
    order: list[str] = []
    imports: list[ast.stmt] = []
    skipped: list[str] = []
    flags: dict[int, list[Flag]] = {}  # id(node) -> its flags, kept for the nodes that are kept
    cells: dict[int, sourcemap.CellSource] = {}  # id(node) -> its cell, for the source map
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = _strip_magics(cell.get("source", ""))
        try:
            tree = ast.parse(source)
        except SyntaxError as e:
            skipped.append(f"cell {number}{_id(cell)}: {type(e).__name__} on its line {e.lineno}: {e.msg}")
            continue
        except (ValueError, RecursionError, MemoryError) as e:  # a lone surrogate; nesting too deep to parse
            what = "nests too deeply to be read" if isinstance(e, (RecursionError, MemoryError)) else \
                "holds a character that is not valid text (a lone surrogate)" if isinstance(e, UnicodeError) else str(e)
            skipped.append(f"cell {number}{_id(cell)}: {type(e).__name__}: the cell {what}")
            continue
        if _depth(tree) > MAX_DEPTH:
            skipped.append(f"cell {number}{_id(cell)}: the cell nests more than {MAX_DEPTH} levels deep; "
                           f"split its expressions")
            continue
        lines = source.splitlines()
        written = sourcemap.CellSource(number, _grade_id(cell), tuple(str(cell.get("source", "")).splitlines()))
        for node in tree.body:
            flags[id(node)] = scan(node, number, str(cell.get("id") or ""), lines)
            cells[id(node)] = written
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                _keep(kept, order, node.name, node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and _calls_nothing(node):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if len(names) == len(targets) and names:
                    _keep(kept, order, names[0], node)
    body = [ast.ImportFrom(module="__future__", names=[ast.alias("annotations")], level=0)]
    body += [_tolerant(i) for i in _unique(imports)] + [kept[name] for name in order]
    originals = [None] + [(n, cells[id(n)]) for n in [*_unique(imports), *(kept[name] for name in order)]]
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    code = ast.unparse(module)
    defined = [n for n in order if isinstance(kept[n], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    missing = [f for f in functions if f not in defined]
    if functions and len(missing) == len(functions) and other_assignments:
        for other, names in other_assignments.items():
            if names and sum(n in defined for n in names) >= max(1, len(names) // 2):
                ours = ", ".join(n for n in names if n in defined)
                raise ExtractError(f"this notebook looks like {other}'s (it defines {ours}), "
                                   f"not this assignment's: none of {', '.join(functions)} is defined")
    bound = set(order) | {(a.asname or a.name).split(".")[0] for node in imports for a in node.names}
    rebinds_it = bool(bound & {"NotImplementedError", "*"})  # a star import could bind anything
    stubs = [f for f in functions if f in defined and not rebinds_it and _is_stub(kept[f])]
    flagged = [f for node in [*_unique(imports), *(kept[name] for name in order)] for f in flags.get(id(node), ())]
    flagged = sorted(flagged, key=lambda f: (f.cell, f.line))[:MAX_FLAGS]
    return Extracted(code, defined, skipped, missing, stubs, flagged, sourcemap.build(code, body, originals))


def _depth(tree: ast.AST) -> int:
    """The deepest nesting of ``tree``, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:  # deeper is already too deep
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _keep(kept: dict, order: list, name: str, node: ast.stmt) -> None:
    if name in kept:
        order.remove(name)
    kept[name] = node
    order.append(name)


def _unique(imports: list[ast.stmt]) -> list[ast.stmt]:
    seen, out = set(), []
    for node in imports:
        key = ast.dump(node)
        if key not in seen and not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            seen.add(key)
            out.append(node)
    return out


def _tolerant(node: ast.stmt) -> ast.stmt:
    """``try: <import> except ImportError: pass``: a module missing in the sandbox (the
    notebook's check helpers, say) must not stop the rest from loading."""
    handler = ast.ExceptHandler(type=ast.Name("ImportError", ast.Load()), name=None, body=[ast.Pass()])
    return ast.Try(body=[node], handlers=[handler], orelse=[], finalbody=[])


def _calls_nothing(node: ast.stmt) -> bool:
    return not any(isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


def _strip_magics(source: str) -> str:
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _grade_id(cell) -> str:
    nbgrader = (cell.get("metadata") or {}).get("nbgrader") or {}
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id[:100] if isinstance(grade_id, str) else ""


def _id(cell) -> str:
    return f" (id {cell['id']})" if cell.get("id") else ""


def _is_stub(node: ast.stmt) -> bool:
    """Is this ``def`` one that can only raise NotImplementedError, whatever it is called with?
    (Annotations are never evaluated: the extracted code starts with ``from __future__ import
    annotations``.)"""
    if not isinstance(node, ast.FunctionDef) or node.decorator_list:
        return False
    defaults = (*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None))
    if not all(isinstance(n, (ast.Constant, ast.UnaryOp, ast.unaryop, ast.Name, ast.Attribute, ast.Load))
               for d in defaults for n in ast.walk(d)):  # 0.1, -1, None, torch.float32: nothing is called
        return False
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) else node.body
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].cause is not None:
        return False
    exc = body[0].exc
    if isinstance(exc, ast.Call) and not exc.keywords and all(isinstance(x, ast.Constant) for x in exc.args):
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
