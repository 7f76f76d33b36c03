"""The plain types that cross the trust boundary, and how the receiving side rebuilds them.

Arguments to a student's function travel as tensors, dicts, lists and numbers, plus three
descriptions of things to build on the student's side: a :class:`Struct` (a NamedTuple the
notebook defines), a :class:`Trainable` (a leaf tensor with ``requires_grad``, maybe a stale
``.grad``), an :class:`Optimizer` (``torch.optim`` over another argument, by
:mod:`tpcheck.optim`) and a :class:`Seeded` (a ``torch.Generator`` seeded with a number: Part
3's ``init_params(..., generator=...)``). The grader, the sandbox worker, the example bank and the visible checks
all use these; torch only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import optim


@dataclass(frozen=True)
class Struct:
    """An argument to rebuild on the student's side as ``TypeName(*fields)`` (e.g. the
    ``ShallowCache`` NamedTuple the notebook defines), or a plain tuple when it is not defined."""

    type_name: str
    fields: tuple[Any, ...]


@dataclass(frozen=True)
class Trainable:
    """A parameter to rebuild as a leaf tensor with ``requires_grad``; ``stale_grad``, when given,
    is put in ``.grad`` first (as a previous step would leave it: a step must zero it)."""

    value: torch.Tensor
    stale_grad: torch.Tensor | None = None


@dataclass(frozen=True)
class Optimizer:
    """A ``torch.optim`` optimizer to build over the (realized) dict argument number ``over``."""

    name: str  # a name of tpcheck.optim.OPTIMIZERS ("sgd", "adam", "adagrad" …)
    lr: float
    over: int = 0


@dataclass(frozen=True)
class Seeded:
    """A ``torch.Generator`` to build as ``torch.Generator().manual_seed(seed)`` (CPU)."""

    seed: int


OPTIMIZERS = optim.OPTIMIZERS  # name -> torch.optim class, the course's one vocabulary


def realize_args(args: tuple[Any, ...], lookup: Callable[[str], Any]) -> tuple[Any, ...]:
    """Realize every argument, then build each :class:`Optimizer` over its realized dict."""
    real = [None if isinstance(a, Optimizer) else realize(a, lookup) for a in args]
    for i, a in enumerate(args):
        if isinstance(a, Optimizer):
            target = real[a.over]
            tensors = list(target.values()) if isinstance(target, dict) else list(target)
            real[i] = optim.make_optimizer(tensors, a.name, a.lr)
    return tuple(real)


def realize(value: Any, lookup: Callable[[str], Any]) -> Any:
    """Deep-copy an argument, turning each :class:`Struct` into ``lookup(type_name)(*fields)``."""
    if isinstance(value, Trainable):
        leaf = value.value.detach().clone().requires_grad_(True)
        if value.stale_grad is not None:
            leaf.grad = value.stale_grad.detach().clone()
        return leaf
    if isinstance(value, Seeded):
        return torch.Generator().manual_seed(int(value.seed))
    if isinstance(value, Struct):
        fields = tuple(realize(v, lookup) for v in value.fields)
        factory = lookup(value.type_name)
        return factory(*fields) if callable(factory) else fields
    if isinstance(value, dict):
        return {k: realize(v, lookup) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(realize(v, lookup) for v in value)
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)
