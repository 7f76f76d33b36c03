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
- ``layer`` (Part 2b, whose modules are plain classes with ``forward``/``backward``): build
  ``ns[name](*args, **kwargs)`` under a fixed seed, copy the grader's values into the tensors its
  ``params()`` returns (in place), put it in train or eval mode, then for each run: optionally
  new parameter values, ``forward(*inputs)``, optionally ``backward(delta)`` (``backward()`` for a
  loss module, ``"loss"``); answers the parameters as built, each run's output, δ_in and
  ``grads()``, and the forbidden calls recorded meanwhile under the part's policy.
- ``sequential`` (Part 2b): the student's ``Sequential`` over three tracer modules of ours
  (:class:`Tracer`, which log each call), so that it is judged alone, not through the student's
  other modules: forward, backward, the order of the calls, ``params()``/``grads()`` keys and
  whether they are the modules' own tensors, and ``train()``/``eval()`` reaching every module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tpcheck.forbidden import CallRecorder, Policy
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


# --- Part 2b: modules with their own forward and backward -------------------------------------------


def _policy(data: dict) -> Policy:
    return Policy(**{k: tuple(v) if isinstance(v, list) else v for k, v in dict(data.get("policy") or {}).items()})


def _own(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{what} returned {type(value).__name__}, expected a dict of tensors by name")
    return value


def _set(module: Any, values: dict, name: str) -> None:
    """The grader's values copied into the tensors ``module.params()`` returns (in place)."""
    own = _own(module.params(), f"{name}.params()")
    for key, value in values.items():
        if key not in own or not isinstance(own[key], torch.Tensor):
            raise KeyError(f"{name}.params() has no tensor {key!r} (it has {sorted(map(str, own))})")
        if own[key].shape != value.shape:
            raise ValueError(f"{name}.params()[{key!r}] has shape {tuple(own[key].shape)}, expected {tuple(value.shape)}")
        with torch.no_grad():
            own[key].copy_(value)


def _kept(value: Any) -> Any:
    return value.clone() if type(value) is torch.Tensor else value


def layer(ns: Namespace, data: dict) -> dict:
    name = data["name"]
    recorder = CallRecorder(_policy(data))
    torch.manual_seed(int(data.get("seed", 0)))
    with recorder:
        kwargs = dict(data.get("kwargs", {}))
        if data.get("dtype"):  # a torch.dtype is not plain data: its name crosses
            kwargs["dtype"] = getattr(torch, str(data["dtype"]))
        built = ns[name](*data.get("args", []), **kwargs)
        initial = {k: _kept(v) for k, v in _own(built.params(), f"{name}.params()").items()}
    if data.get("params"):
        _set(built, data["params"], name)
    with recorder:
        built.train(data.get("mode", "train") == "train")
    runs = []
    for run in data.get("runs", []):
        if run.get("params"):
            _set(built, run["params"], name)
        with recorder:
            entry = {"output": _kept(built.forward(*run["inputs"]))}
            delta = run.get("backward")
            if delta is not None:
                entry["delta"] = _kept(built.backward() if isinstance(delta, str) else built.backward(delta))
                entry["grads"] = {k: _kept(v) for k, v in _own(built.grads(), f"{name}.grads()").items()}
        runs.append(entry)
    return {"type": type(built).__name__, "initial": initial, "runs": runs, "forbidden": list(recorder.calls)}


class Tracer:
    """A module of ours for judging the student's Sequential alone: y = x ⊙ w + c (w, c of shape
    (M,)), δ_in = δ ⊙ w, grads {"w": Σ_n δ ⊙ x}, or no parameter at all (``w`` None: y = x + c,
    δ_in = δ); every call is logged as (method, index)."""

    def __init__(self, index: int, w: torch.Tensor | None, c: torch.Tensor, log: list):
        self.index, self.w, self.c, self.log, self.training = index, w, c, log, True
        self.dw = None if w is None else torch.zeros_like(w)

    def params(self) -> dict:
        return {} if self.w is None else {"w": self.w}

    def grads(self) -> dict:
        return {} if self.w is None else {"w": self.dw}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(["forward", self.index])
        self.x = x
        return (x if self.w is None else x * self.w) + self.c

    def backward(self, delta: torch.Tensor) -> torch.Tensor:
        self.log.append(["backward", self.index])
        if self.w is None:
            return delta
        self.dw = (delta * self.x).sum(0)
        return delta * self.w

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args):
        return self.forward(*args)


def tracers(ws: list, cs: list, log: list) -> list[Tracer]:
    return [Tracer(i, w, c, log) for i, (w, c) in enumerate(zip(ws, cs))]


def sequential(ns: Namespace, data: dict) -> dict:
    log: list = []
    recorder = CallRecorder(_policy(data))
    ws = [None if w is None or (isinstance(w, torch.Tensor) and w.numel() == 0) else w for w in data["ws"]]
    modules = tracers(ws, data["cs"], log)
    with recorder:
        model = ns["Sequential"](modules)
        output = _kept(model.forward(data["x"]))
        delta = _kept(model.backward(data["delta"]))
        params, grads = _own(model.params(), "Sequential.params()"), _own(model.grads(), "Sequential.grads()")
        own = {str(k): any(v is m.w for m in modules if m.w is not None) for k, v in params.items()}
        grads = {str(k): _kept(v) for k, v in grads.items()}
        model.eval()
        after_eval = [m.training for m in modules]
        model.train()
        after_train = [m.training for m in modules]
    return {"output": output, "delta": delta, "log": log, "params": own, "grads": grads,
            "after_eval": after_eval, "after_train": after_train, "forbidden": list(recorder.calls)}


PROBES: dict[str, Callable[[Namespace, dict], dict]] = {"module": module, "train_step": train_step, "layer": layer,
                                                        "sequential": sequential}
