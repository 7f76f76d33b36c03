"""The course's one learning-rate schedule and one optimizer-by-name factory (torch only).

Every training loop of the project takes its learning rate from :func:`learning_rate`: the
hand-written loops of Parts 1 and 2 (the reference's and the grader's recipes) call it for each
mini-batch, and the loops over a ``torch.optim`` optimizer let :class:`Scheduler` call it for
each of the optimizer's parameter groups. Every optimizer named by a string is built by
:func:`make_optimizer`, from one vocabulary (:data:`OPTIMIZERS`).

Schedules (``total`` mini-batches, ``step`` counted from 0, ``lr`` the peak):

- ``constant``, ``linear``, ``cosine``: lr × min(decay, warm), with progress = step / total,
  decay = 1, 1 − progress, or ½ (1 + cos π·progress), and warm = (step + 1) / (warmup · total)
  when ``warmup`` (a fraction of the steps) is positive, else 1;
- ``onecycle``: torch's ``OneCycleLR`` (two phases, the same floats): from lr / div_factor up
  to lr over the first ``pct_start`` of the steps, then down to lr / (div_factor ·
  final_div_factor), along half cosines (``anneal="cos"``) or straight lines (``"linear"``);
  its momentum (Adam's β1) moves the other way, between max_momentum and base_momentum
  (:func:`one_cycle_momentum`), unless ``cycle_momentum=False``.

Nothing else of the project is imported here: the grader, the sandbox worker, the reference and
the students' package all use this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

SCHEDULES = ("constant", "linear", "cosine", "onecycle")
ANNEALS = ("cos", "linear")


def _anneal(kind: str, start: float, end: float, pct: float) -> float:
    """From ``start`` (pct 0) to ``end`` (pct 1): torch's OneCycleLR formulas, operation for operation."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    if kind == "linear":
        return (end - start) * pct + start
    raise ValueError(f"unknown anneal {kind!r}: choose one of {', '.join(ANNEALS)}")


def _one_cycle(step: int, total: int, pct_start: float, anneal: str, start: float, peak: float, end: float) -> float:
    """``start`` → ``peak`` over the first pct_start of ``total`` steps, then ``peak`` → ``end``."""
    if total <= 0:
        raise ValueError(f"Expected positive integer total_steps, but got {total}")
    if step > total:
        raise ValueError(f"Tried to step {step} times. The specified number of total steps is {total}")
    up_end = float(pct_start * total) - 1  # the last step of the rise
    if step <= up_end:
        return _anneal(anneal, start, peak, (step - 0.0) / (up_end - 0.0))
    return _anneal(anneal, peak, end, (step - up_end) / ((total - 1) - up_end))


def learning_rate(
    step: int,
    total: int,
    lr: float,
    schedule: str = "constant",
    *,
    warmup: float = 0.0,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
) -> float:
    """η for mini-batch ``step`` (0-based) of ``total``, peak ``lr``, following ``schedule``.

    schedule: one of :data:`SCHEDULES` (see the module's docstring for each formula)
    warmup: constant/linear/cosine only: fraction of the steps over which η first rises from 0
    pct_start, div_factor, final_div_factor, anneal: onecycle only, as in torch's OneCycleLR
    A run of no steps (total ≤ 0) keeps ``lr`` (onecycle: ValueError, as OneCycleLR).
    """
    if schedule == "onecycle":
        initial = lr / div_factor
        return _one_cycle(step, total, pct_start, anneal, initial, lr, initial / final_div_factor)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if total <= 0:
        return lr
    progress = step / total
    if schedule == "linear":
        decay = 1.0 - progress
    elif schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        decay = 1.0
    warm = (step + 1) / (warmup * total) if warmup > 0 else 1.0
    return lr * min(decay, warm)


def one_cycle_momentum(
    step: int,
    total: int,
    *,
    pct_start: float = 0.3,
    anneal: str = "cos",
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> float:
    """The momentum (Adam's β1) of the one-cycle schedule at ``step``: from max_momentum down to
    base_momentum while η rises, then back up while η falls (torch's OneCycleLR, same floats)."""
    return _one_cycle(step, total, pct_start, anneal, max_momentum, base_momentum, max_momentum)


class Scheduler(LRScheduler):
    """:func:`learning_rate` driving a torch optimizer, stepped once per mini-batch after
    ``optimizer.step()`` (a ``torch.optim.lr_scheduler.LRScheduler``: ``step``, ``get_last_lr``).

    Each parameter group's peak is its ``lr`` when the scheduler is built. With ``onecycle`` and
    ``cycle_momentum``, each group's momentum (or β1) follows :func:`one_cycle_momentum`, and the
    groups carry OneCycleLR's bookkeeping keys (``initial_lr``, ``max_lr``, ``min_lr``,
    ``max_momentum``, ``base_momentum``), so that an optimizer's state_dict is the same as with it.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total: int,
        schedule: str = "onecycle",
        *,
        warmup: float = 0.0,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if anneal not in ANNEALS:
            raise ValueError(f"unknown anneal {anneal!r}: choose one of {', '.join(ANNEALS)}")
        one_cycle = schedule == "onecycle"
        if one_cycle and (not isinstance(total, int) or total <= 0):
            raise ValueError(f"Expected positive integer total_steps, but got {total}")
        if one_cycle and not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        self.total = total
        self.options = dict(schedule=schedule, warmup=warmup, pct_start=pct_start, div_factor=div_factor,
                            final_div_factor=final_div_factor, anneal=anneal)
        self.peaks = [group["lr"] for group in optimizer.param_groups]
        self.momentum: dict | None = None
        if one_cycle:
            for group, peak in zip(optimizer.param_groups, self.peaks):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        if one_cycle and cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            self.momentum = dict(pct_start=pct_start, anneal=anneal, base_momentum=base_momentum,
                                 max_momentum=max_momentum)
            self.beta1 = "betas" in optimizer.defaults
            for group in optimizer.param_groups:
                self._set_momentum(group, max_momentum)
                group["max_momentum"] = max_momentum
                group["base_momentum"] = base_momentum
        super().__init__(optimizer)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        lrs = [learning_rate(step, self.total, peak, **self.options) for peak in self.peaks]
        if self.momentum is not None:
            momentum = one_cycle_momentum(step, self.total, **self.momentum)
            for group in self.optimizer.param_groups:
                self._set_momentum(group, momentum)
        return lrs


# --- optimizers by name -------------------------------------------------------------------------

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,  # plain; keywords momentum, nesterov, weight_decay as torch's
    "momentum": torch.optim.SGD,  # heavy-ball momentum, 0.9 unless given
    "nesterov": torch.optim.SGD,  # Nesterov momentum, 0.9 unless given
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,  # decoupled weight decay
    "adagrad": torch.optim.Adagrad,
}
WITH_MOMENTUM = ("sgd", "momentum", "nesterov")  # the names that take a ``momentum`` keyword
PRESETS: dict[str, dict[str, Any]] = {  # the keywords a name implies (keywords given override them)
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
}


def make_optimizer(
    params: Mapping[str, torch.Tensor] | Iterable[torch.Tensor] | Iterable[dict],
    name: str,
    lr: float,
    **kw: Any,
) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (one of :data:`OPTIMIZERS`) over ``params``, learning rate ``lr``.

    params: a dict of tensors (its values), an iterable of tensors, or of parameter-group dicts
    kw: passed to the ``torch.optim`` class unchanged, over the name's :data:`PRESETS`
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    items = list(params.values()) if isinstance(params, Mapping) else list(params)
    return OPTIMIZERS[name](items, lr=lr, **{**PRESETS.get(name, {}), **kw})
