"""Similar code across a class: pairs of students whose graded functions are (nearly) the same.

For the instructor to read, **never a penalty**: two short, correct implementations of the same
formula are often alike by necessity, and nothing here knows who wrote what first.

For each graded function, each student's last definition of it (from the code
:func:`autograder.stages.extract.extract` kept, nothing run) is normalised through its AST:

- the docstrings and annotations dropped (comments and blank lines never reach the AST);
- the function's name, its arguments and its local names (assignment and loop targets,
  ``with … as``, ``except … as``, comprehension variables, nested definitions) renamed to
  ``_0``, ``_1``… in order of first appearance; globals, modules and attributes
  (``torch.sigmoid``, ``x.T``) keep their names;
- constants written as the AST holds them (``1e-3``, ``0.001`` and ``1.000e-03`` are one
  constant; quotes do not matter), then the whole re-written by ``ast.unparse`` (one layout).

Two definitions whose normalised ASTs are equal are *identical*. Otherwise their similarity is
``difflib.SequenceMatcher``'s ratio on the normalised token streams (``tokenize`` of the
re-written code): 1.0 for the same tokens, 0.0 for nothing in common. A pair is reported when it
is identical or its ratio is at least :data:`THRESHOLD`.

Not compared: a function still the released stub (only ``raise NotImplementedError``), one
identical to the template's code for it (``template``: the released notebook's extracted code,
when it gives some), and one whose normalised body has fewer than :data:`MIN_TOKENS` tokens (a
one-line ``return x @ params["W"] + params["b"]`` is everybody's answer).
"""

from __future__ import annotations

import ast
import difflib
import io
import itertools
import tokenize
from dataclasses import dataclass
from pathlib import Path

from autograder.stages.extract import _is_stub

# Evidence: not measured on a real class (no cohort's submissions in this repository), only on
# the cases of tests/autograder/stages/test_similarity.py: one changed operator in tp1's update
# (73 body tokens) scores 0.989, an independent write-up of the same rule 0.473.
THRESHOLD = 0.9
MIN_TOKENS = 20  # tokens of the normalised body (signature apart): shorter ones are not compared


@dataclass(frozen=True)
class Pair:
    function: str
    student_a: str  # student_a < student_b
    student_b: str
    similarity: float  # 1.0 when identical
    identical: bool  # the normalised ASTs are equal


@dataclass(frozen=True)
class Normalised:
    dump: str  # ast.dump of the normalised definition: equal dumps are identical code
    tokens: tuple[str, ...]

    @property
    def size(self) -> int:
        """Tokens of the body, its signature and the layout tokens (NEWLINE, INDENT, DEDENT) apart."""
        body = self.tokens[self.tokens.index("NEWLINE") + 1:] if "NEWLINE" in self.tokens else ()
        return sum(t not in ("NEWLINE", "INDENT", "DEDENT") for t in body)


def definitions(code: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The top-level functions of ``code`` by name (the last definition wins); {} when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


class _Canonical(ast.NodeTransformer):
    """Renames the names a definition binds to ``_0``, ``_1``… and drops docstrings and annotations."""

    def __init__(self, local: set[str]):
        self.local = local
        self.names: dict[str, str] = {}

    def canonical(self, name: str) -> str:
        if name not in self.local:
            return name
        return self.names.setdefault(name, f"_{len(self.names)}")

    def visit_FunctionDef(self, node):  # noqa: N802 - ast.NodeTransformer's naming
        node.name = self.canonical(node.name)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.returns = None
        node.args = self.visit(node.args)
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        node.body = [self.visit(s) for s in node.body]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node):  # noqa: N802
        node.name = self.canonical(node.name)
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            node.body = node.body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    def visit_arg(self, node):
        node.arg = self.canonical(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):  # noqa: N802
        node.id = self.canonical(node.id)
        return node

    def visit_AnnAssign(self, node):  # noqa: N802 - ``x: Tensor = v`` is ``x = v``
        if node.value is None:
            return None
        return self.visit(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno))

    def visit_ExceptHandler(self, node):  # noqa: N802
        if node.name:
            node.name = self.canonical(node.name)
        return self.generic_visit(node)

    def visit_Global(self, node):  # noqa: N802
        return node


def _bound(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The names ``fn`` binds: itself, its arguments, and what it assigns, unless declared global."""
    declared = {n for node in ast.walk(fn) if isinstance(node, (ast.Global, ast.Nonlocal)) for n in node.names}
    names = {fn.name}
    for node in ast.walk(fn):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names - declared


def normalise(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Normalised:
    """The definition with its names canonical, docstrings and annotations gone, one layout."""
    tree = _Canonical(_bound(fn)).visit(ast.parse(ast.unparse(fn)).body[0])  # a copy: fn is left as it was
    tree = ast.fix_missing_locations(tree)
    text = ast.unparse(tree)
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER}
    tokens = tuple(t.string if t.type not in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE) else tokenize.tok_name[t.type]
                   for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip)
    return Normalised(ast.dump(tree), tokens)


def similar_pairs(submissions: dict[str, str], functions: list[str], *, template: str = "",
                  threshold: float = THRESHOLD) -> list[Pair]:
    """Pairs of students whose definitions of a graded function are identical or at least
    ``threshold`` similar (see the module's docstring), sorted by function (in ``functions``'s
    order), then similarity descending, then students. ``submissions``: student → the
    extracted code (a string of definitions); ``template``: the released notebook's code."""
    given = definitions(template)
    pairs: list[Pair] = []
    for function in functions:
        skip = normalise(given[function]).dump if function in given else None
        kept: dict[str, Normalised] = {}
        for student in sorted(submissions):
            fn = definitions(submissions[student]).get(function)
            if fn is None or _is_stub(fn):
                continue
            norm = normalise(fn)
            if norm.dump != skip and norm.size >= MIN_TOKENS:
                kept[student] = norm
        found = []
        for (a, na), (b, nb) in itertools.combinations(kept.items(), 2):
            if na.dump == nb.dump:
                found.append(Pair(function, a, b, 1.0, True))
                continue
            matcher = difflib.SequenceMatcher(None, na.tokens, nb.tokens, autojunk=False)
            if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold \
                    and (ratio := matcher.ratio()) >= threshold:
                found.append(Pair(function, a, b, round(ratio, 3), False))
        pairs += sorted(found, key=lambda p: (-p.similarity, p.student_a, p.student_b))
    return pairs


def class_similarity(submitted: Path, assignments: list[str], *, template: Path | None = None) -> dict[str, list[Pair]]:
    """:func:`similar_pairs` for every assignment of a class in nbgrader's ``submitted/`` layout:
    each submission's notebook read and its graded definitions extracted (nothing run), compared
    with the released notebook's code (``template``: the release folder, default
    ``student_template/``; ``<template>/<a>/<a>.ipynb``) left out. A notebook that cannot be read
    or extracted is simply not compared. Returns assignment → its pairs."""
    from autograder import checks, registry
    from autograder.stages.extract import ExtractError, extract, read_notebook
    from autograder.stages.find import scan

    template = registry.TEMPLATE if template is None else Path(template)
    result = {}
    for assignment in assignments:
        functions = list(checks.load(assignment).functions)
        codes = {}
        for sub in scan(submitted, assignment).submissions:
            if sub.notebook is None or sub.refused:
                continue
            try:
                codes[sub.student] = extract(read_notebook(sub.notebook), tuple(functions)).code
            except ExtractError:
                continue
        given = template / assignment / f"{assignment}.ipynb"
        try:
            released = extract(read_notebook(given), tuple(functions)).code if given.is_file() else ""
        except ExtractError:
            released = ""
        result[assignment] = similar_pairs(codes, functions, template=released)
    return result
