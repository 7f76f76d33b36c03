"""The integrity flags: code that reaches past the assignment's API, listed for the instructor.

Some uses of a forbidden API cannot be proven absent from inside the sandbox (autograd run
under ``torch._C.DisableTorchFunction()`` with names built from strings hides from any
recorder). So beside the static and runtime detection of forbidden APIs, the grader flags the
code that has no business in a course notebook and every way around a scan: reaching into
``torch._C``, names of attributes or modules built at run time (``getattr``/``setattr``/
``__import__``/``importlib`` with a non-literal name), ``exec``/``eval``/``compile``,
``ctypes``, ``gc``, ``sys.modules``, frames and code objects, ``/proc``, and the grader's own
modules (``tpworker``, the internals of ``tpcheck``). Each flag names the cell and the line
as the student wrote them.

A flag is never a penalty: it is listed in report.html for the instructor to read the lines.
Only the code that runs in the sandbox (what :mod:`autograder.stages.extract` keeps) is scanned.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass

# module roots whose import is flagged (tpcheck and tpcheck.data are the notebooks' own imports)
MODULES = {"ctypes": "loads C code (ctypes)", "gc": "walks the interpreter's objects (gc)",
           "tpworker": "imports the sandbox's own modules (tpworker)", "importlib": "imports modules by name (importlib)",
           "cffi": "loads C code (cffi)", "_ctypes": "loads C code (_ctypes)"}
ALLOWED_TPCHECK = {"tpcheck", "tpcheck.data"}
CALLS = {"exec": "runs code built at run time (exec)", "eval": "runs code built at run time (eval)",
         "compile": "compiles code at run time (compile)", "__import__": "imports a module by a computed name (__import__)"}
BY_NAME = {"getattr": 1, "setattr": 1, "delattr": 1, "hasattr": 1}  # the position of the name argument
ATTRIBUTES = {"modules": ("sys", "reaches into sys.modules"), "_getframe": ("sys", "reads the call stack (sys._getframe)"),
              "_C": ("torch", "reaches into torch._C")}
DUNDERS = {"__subclasses__", "__globals__", "__code__", "__closure__", "__builtins__", "__dict__", "f_back",
           "f_globals", "f_locals", "gi_frame", "tb_frame", "__reduce__", "__reduce_ex__"}
MAX_FLAGS = 50  # a submission's flags stored and shown, the rest counted


@dataclass(frozen=True)
class Flag:
    cell: int  # the code cell's number in the notebook (1-based, counting every cell)
    cell_id: str
    line: int  # the line in that cell, as the student wrote it
    what: str
    code: str  # that line, stripped and capped

    def to_json(self) -> dict:
        return asdict(self)


def scan(node: ast.AST, cell: int, cell_id: str, source_lines: list[str]) -> list[Flag]:
    """The flags of one top-level statement of a cell (``source_lines`` are that cell's lines)."""
    found: dict[tuple[int, str], Flag] = {}

    def flag(at: ast.AST, what: str) -> None:
        line = getattr(at, "lineno", 0) or 0
        code = source_lines[line - 1].strip()[:200] if 0 < line <= len(source_lines) else ""
        found.setdefault((line, what), Flag(cell, cell_id, line, what, code))

    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            for alias in n.names:
                _module(flag, n, alias.name)
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            _module(flag, n, n.module)
            if n.module in ("torch", "sys") and any(a.name in ("_C", "modules", "_getframe") for a in n.names):
                flag(n, f"imports {n.module}'s internals ({', '.join(a.name for a in n.names)})")
        elif isinstance(n, ast.Call):
            name = n.func.id if isinstance(n.func, ast.Name) else n.func.attr if isinstance(n.func, ast.Attribute) else ""
            if isinstance(n.func, ast.Name) and name in CALLS:
                flag(n, CALLS[name])
            position = BY_NAME.get(name) if isinstance(n.func, ast.Name) else None
            if position is not None and len(n.args) > position and not _literal(n.args[position]):
                flag(n, f"reads or writes an attribute whose name is computed ({name} with a non-literal name)")
            if name == "import_module":
                flag(n, "imports a module by name (importlib.import_module)")
        elif isinstance(n, ast.Attribute):
            owner = ATTRIBUTES.get(n.attr)
            if owner and isinstance(n.value, ast.Name) and n.value.id == owner[0]:
                flag(n, owner[1])
            elif n.attr == "_C":
                flag(n, "reaches into a _C extension module")
            elif n.attr in DUNDERS:
                flag(n, f"reaches into the interpreter's objects ({n.attr})")
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and "/proc" in n.value:
            flag(n, "names a /proc path")
    return sorted(found.values(), key=lambda f: (f.cell, f.line, f.what))


def _module(flag, node: ast.AST, name: str) -> None:
    root = name.split(".")[0]
    if root in MODULES:
        flag(node, MODULES[root])
    elif root == "tpcheck" and name not in ALLOWED_TPCHECK:
        flag(node, f"imports the checks' internals ({name})")


def _literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
