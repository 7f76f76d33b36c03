"""Forbidden APIs: found statically in the source (AST) and dynamically while the code runs.

Parts 1–2 of the course write their gradients by hand: no ``torch.autograd``, ``.backward``,
``requires_grad``, ``torch.func`` or ``torch.nn``. The policy belongs to the assignment's
configuration (some cohorts allow ``torch.nn`` in Part 2), so it is data: :class:`Policy`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode

from .messages import pick, say


@dataclass(frozen=True)
class Policy:
    """Dotted module prefixes and attribute names that may not be used.

    ``modules``: e.g. ``torch.nn`` forbids ``torch.nn.Linear``, ``from torch import nn``,
    ``import torch.nn.functional as F``… ``allow`` re-opens sub-prefixes (``torch.nn.init``).
    ``attributes``: method or attribute names forbidden on any object (``backward``).
    ``keywords``: call keywords forbidden with a true value (``requires_grad=True``).
    """

    modules: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    reason: str = ""  # in English; ``reason_fr`` in French; ``why``, the current language's
    reason_fr: str = ""

    @property
    def why(self) -> str:
        return pick(fr=self.reason_fr, en=self.reason)

    def forbids_module(self, dotted: str) -> str | None:
        for prefix in self.modules:
            if dotted == prefix or dotted.startswith(prefix + "."):
                if any(dotted == a or dotted.startswith(a + ".") for a in self.allow):
                    return None
                return prefix
        return None


NO_AUTOGRAD_NO_NN = Policy(
    modules=("torch.autograd", "torch.func", "functorch", "torch.nn"),
    allow=("torch.nn.init",),
    attributes=("backward", "requires_grad", "requires_grad_", "grad_fn", "retain_grad"),
    keywords=("requires_grad",),
    reason="this part writes its gradients by hand: no torch.autograd, .backward, requires_grad, torch.func or torch.nn",
    reason_fr="cette partie écrit ses gradients à la main : ni torch.autograd, ni .backward, ni requires_grad, "
              "ni torch.func, ni torch.nn",
)
NO_AUTOGRAD = Policy(
    modules=("torch.autograd", "torch.func", "functorch"),
    attributes=NO_AUTOGRAD_NO_NN.attributes,
    keywords=("requires_grad",),
    reason="this part writes its gradients by hand: no torch.autograd, .backward, requires_grad or torch.func",
    reason_fr="cette partie écrit ses gradients à la main : ni torch.autograd, ni .backward, ni requires_grad, "
              "ni torch.func",
)
ANYTHING = Policy()


@dataclass(frozen=True)
class Violation:
    line: int  # 1-based, in the scanned source
    code: str  # the offending line, stripped
    what: str  # e.g. "torch.nn.Linear"

    def describe(self) -> str:
        return say("forbidden.violation", line=self.line, code=self.code, what=self.what)


def scan_source(source: str, policy: Policy) -> list[Violation]:
    """Static scan: imports, attribute chains through aliases, forbidden methods and keywords,
    and ``getattr``/``__import__``/``importlib`` with a forbidden name as a constant string."""
    if not (policy.modules or policy.attributes or policy.keywords):
        return []
    tree = ast.parse(source)
    lines = source.splitlines()
    aliases: dict[str, str] = {}  # local name -> dotted module path
    found: list[Violation] = []

    def flag(node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        found.append(Violation(line, code, what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
                if policy.forbids_module(a.name):
                    flag(node, a.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                dotted = f"{node.module}.{a.name}"
                aliases[a.asname or a.name] = dotted
                if policy.forbids_module(node.module) or policy.forbids_module(dotted):
                    flag(node, dotted)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node, aliases)
            if dotted and policy.forbids_module(dotted) and not _is_prefix_of_parent(node, tree):
                flag(node, dotted)
            elif node.attr in policy.attributes:
                flag(node, f".{node.attr}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases:
            dotted = aliases[node.id]
            if policy.forbids_module(dotted) and not _is_attribute_base(node, tree):
                flag(node, dotted)
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in policy.keywords and not (isinstance(kw.value, ast.Constant) and not kw.value.value):
                    flag(node, f"{kw.arg}=")
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("getattr", "__import__", "import_module", "setattr"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        text = arg.value
                        if policy.forbids_module(text) or text in policy.attributes or any(
                            text == m.split(".")[-1] for m in policy.modules
                        ):
                            flag(node, f"{name}({text!r})")
    unique = {(v.line, v.what): v for v in found}
    return sorted(unique.values(), key=lambda v: (v.line, v.what))


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id, node.id)
    return ".".join([base] + list(reversed(parts)))


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    cache = getattr(tree, "_parents", None)
    if cache is None:
        cache = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        tree._parents = cache  # type: ignore[attr-defined]
    return cache


def _is_prefix_of_parent(node: ast.Attribute, tree: ast.AST) -> bool:
    """``torch.nn`` inside ``torch.nn.Linear``: report only the longest chain."""
    return isinstance(_parents(tree).get(id(node)), ast.Attribute)


def _is_attribute_base(node: ast.Name, tree: ast.AST) -> bool:
    return isinstance(_parents(tree).get(id(node)), ast.Attribute)


_VERDICTS: dict[tuple, tuple[str, bool]] = {}  # (policy, module, name) → (dotted name, forbidden by the module rule)


class CallRecorder(TorchFunctionMode):
    """Records torch calls that break a policy while active (dynamic detection).

    Catches what the source does not show (a helper defined elsewhere, ``getattr`` tricks):
    ``Tensor.backward``, ``torch.autograd.grad``, ``torch.nn.functional.*`` and ``nn`` modules,
    ``requires_grad_`` and ``requires_grad=True`` keywords.
    """

    def __init__(self, policy: Policy):
        super().__init__()
        self.policy = policy
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        module = getattr(func, "__module__", None) or ""
        key = (self.policy, module, name)
        verdict = _VERDICTS.get(key)
        if verdict is None:  # the module test, once a function and policy (a call costs a dict lookup)
            module = {"torch._C._nn": "torch.nn.functional", "torch._tensor": "torch.Tensor"}.get(module, module)
            dotted = f"{module}.{name}" if module else name
            verdict = _VERDICTS[key] = (dotted, bool(self.policy.forbids_module(dotted) or self.policy.forbids_module(module)))
        dotted, forbidden = verdict
        if forbidden:
            self.calls.append(dotted)
        elif name in self.policy.attributes:
            self.calls.append(f"Tensor.{name}")
        elif any(kwargs.get(k) for k in self.policy.keywords):
            self.calls.append(f"{dotted}({', '.join(k + '=True' for k in self.policy.keywords if kwargs.get(k))})")
        return func(*args, **kwargs)


def canary(policy: Policy, *, run: bool = True) -> str | None:
    """A call that ``policy`` forbids, made by the grader's own code under the recorder before the
    student's function: the record must start with the name returned (the sandbox's driver checks
    it, :mod:`tpworker.driver`). A record without it was silenced inside the student's process:
    the runtime record is evidence when it finds something, never proof that nothing was used.
    ``run=False``: the name only."""
    if "requires_grad_" in policy.attributes:
        if run:
            torch.zeros(1).requires_grad_(False)
        return "Tensor.requires_grad_"
    if policy.forbids_module("torch.nn.functional.relu"):
        if run:
            torch.nn.functional.relu(torch.zeros(1))
        return "torch.nn.functional.relu"
    return None


def graph_leaks(outputs: dict[str, object]) -> list[str]:
    """Paths of output tensors that carry an autograd graph (requires_grad or grad_fn)."""
    return [p for p, t in outputs.items() if isinstance(t, torch.Tensor) and (t.requires_grad or t.grad_fn is not None)]
