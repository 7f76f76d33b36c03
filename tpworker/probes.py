"""Probes: a submission's ``nn.Module`` classes and training step, seen as plain data.

A module cannot cross the sandbox boundary, so the grader sends plain arguments and the probe
builds the student's class on the student's side, runs it, and answers with tensors, numbers,
strings and lists (:mod:`tpworker.wire`); the grader judges everything
(:mod:`autograder.checks.tp4_cnn`). Runs inside the sandbox worker (mounted with it; torch and
:mod:`tpcheck` only, no import of the grader) and in-process for trusted code.

Each probe: ``probe(ns, data) -> dict`` with ``ns`` the submission's namespace.

- ``module``: build ``ns[name](*args, **kwargs)`` under a fixed seed, optionally zero some of its
  parameters, run it on each input (train or eval mode, no autograd), and optionally a backward
  of a fixed random projection of its output on the first input; answers the parameter names
  and shapes, which require grad, the outputs, and the parameters left without a gradient.
- ``train_step``: build the fixed :func:`tiny_model` from a state the grader sends, optionally
  put stale gradients in every ``.grad`` (as a previous step leaves them), build the torch
  optimizer named (:func:`tpcheck.optim.make_optimizer`), call
  ``ns["train_step"](model, optimizer, x, labels)`` ``steps`` times; answers what each call
  returned and the state after the first and the last call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tpcheck.optim import make_optimizer

Namespace = dict[str, Any]


def tiny_model(in_channels: int, size: int, classes: int) -> nn.Module:
    """The fixed model a training step is judged on (the grader builds the same one)."""
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * (size // 2) ** 2, classes))


def _output(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} returned {type(value).__name__}, expected a tensor")
    return value


def module(ns: Namespace, data: dict) -> dict:
    cls = ns[data["name"]]
    torch.manual_seed(int(data.get("seed", 0)))
    model = cls(*data.get("args", []), **dict(data.get("kwargs", {})))
    if not isinstance(model, nn.Module):
        raise TypeError(f"{data['name']}(...) built a {type(model).__name__}, expected an nn.Module")
    named = dict(model.named_parameters())
    zero = data.get("zero", "none")
    with torch.no_grad():
        for name, p in named.items():
            if zero == "all" or (zero == "bias" and name.endswith("bias")):
                p.zero_()
    model.train(data.get("mode", "train") == "train")
    outputs = []
    with torch.no_grad():
        for x in data.get("inputs", []):
            outputs.append(_output(model(x), f"{data['name']}.forward").detach().clone())
    no_grad: list[str] = []
    if data.get("backward"):
        x = data["inputs"][0]
        out = _output(model(x), f"{data['name']}.forward")
        g = torch.Generator().manual_seed(1)
        weights = torch.randn(out.shape, generator=g, dtype=out.dtype)
        (out * weights).sum().backward()
        no_grad = [n for n, p in named.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    return {"type": type(model).__name__, "parameters": {n: list(p.shape) for n, p in named.items()},
            "trainable": [n for n, p in named.items() if p.requires_grad], "outputs": outputs, "no_grad": no_grad}


def train_step(ns: Namespace, data: dict) -> dict:
    model = tiny_model(int(data["in_channels"]), int(data["size"]), int(data["classes"]))
    model.load_state_dict(data["state"])
    if data.get("stale"):
        for p in model.parameters():
            p.grad = torch.ones_like(p)
    optimizer = make_optimizer(model.parameters(), data["optimizer"], float(data["lr"]))
    returned, first = [], None
    for _ in range(int(data.get("steps", 1))):
        value = ns["train_step"](model, optimizer, data["x"].clone(), data["labels"].clone())
        returned.append(value.detach().clone() if isinstance(value, torch.Tensor) else value)
        if first is None:
            first = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"returned": returned, "first": first,
            "last": {k: v.detach().clone() for k, v in model.state_dict().items()}}


PROBES: dict[str, Callable[[Namespace, dict], dict]] = {"module": module, "train_step": train_step}
