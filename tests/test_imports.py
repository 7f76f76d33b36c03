"""Do the four zones import only what ../shared/DESIGN.md ("Layout") allows them, with no circle?

The rules, read from the code itself (every ``import`` and ``from … import`` of every module,
top-level or inside a function, since a lazy import crosses a boundary just the same):

- ``tpcheck`` (shipped to students) imports none of the other three packages;
- ``tpworker`` (mounted into the sandbox) imports only ``tpcheck``;
- ``reference`` (the instructor's solution) imports only ``tpcheck.data`` and ``tpcheck.optim``
  (the data loader and the one schedule and optimizer factory of the project);
- no module imports itself back through others (no circle), whatever the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZONES = ("tpcheck", "tpworker", "reference", "autograder")
ALLOWED = {
    "tpcheck": lambda target: target.split(".")[0] == "tpcheck",
    "tpworker": lambda target: target.split(".")[0] in ("tpworker", "tpcheck"),
    "reference": lambda target: target.split(".")[0] == "reference" or target in ("tpcheck.data", "tpcheck.optim"),
    "autograder": lambda target: True,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for zone in ZONES for p in sorted((ROOT / zone).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as ``pkg.mod`` when
    that is a module, else as ``pkg``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a package a.b
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] in ZONES:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path, set(modules())) for name, path in modules().items()}


@pytest.mark.parametrize("zone", ["tpcheck", "tpworker", "reference"])
def test_zone_imports_only_what_it_may(zone):
    """Does each module of the zone import only what its rule allows?"""
    breaches = sorted(f"{name} imports {target}" for name, targets in GRAPH.items()
                      if name.split(".")[0] == zone for target in targets if not ALLOWED[zone](target))
    assert breaches == []


def test_no_import_circle():
    """Is the import graph of the whole project free of circles?"""
    assert "tpcheck.boundary" in GRAPH["tpworker.wire"] and "autograder.stages.sandbox" in GRAPH["autograder.grade"]
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(GRAPH.get(node, ())):
            if target == node:
                continue
            if state.get(target) == "open":
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_rules_see_a_breach(tmp_path):
    """Would the reader notice a forbidden import (the test can fail)?"""
    bad = tmp_path / "tpcheck" / "leak.py"
    bad.parent.mkdir()
    bad.write_text("import os\nfrom autograder.checks import load\nfrom . import student\n")
    known = set(modules()) | {"tpcheck.leak"}
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = imports_of("tpcheck.leak", bad, known)
    finally:
        ROOT = saved
    assert found == {"autograder.checks", "tpcheck.student"}
    assert not ALLOWED["tpcheck"]("autograder.checks")
