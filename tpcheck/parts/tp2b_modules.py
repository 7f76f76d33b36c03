"""tp2b_modules without the reference: every module's backward agrees with centred finite
differences of its own forward (float64), and Dropout keeps the expected value in train mode,
is the identity in eval mode and sends δ back through the mask of its forward.

A module is judged through a *runner*: ``runner(runs) -> answers`` builds the module once (the
hidden checks: on the student's side of the sandbox, :func:`tpworker.probes.layer`; the visible
checks: here, from the notebook's class), then for each run sets the parameters given, calls
``forward(*inputs)`` and, when the run has a ``backward`` (a tensor δ, or ``"loss"`` for a loss
module's ``backward()``), calls it and reads ``grads()``. Answers: ``{"output", "delta",
"grads"}`` per run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, assert_plain_tensor
from ..forbidden import NO_AUTOGRAD_NO_NN
from ..gradcheck import REL_TOLERANCE, relative_errors
from . import Visible, Wording, failure

# Parts 1–2's policy but for the attribute ``backward``, which is this part's own method name on
# every module. Autograd stays out all the same: without ``requires_grad`` (attribute, method and
# keyword still forbidden) and without ``torch.nn`` (no Parameter), no tensor has a graph to go back.
POLICY = dataclasses.replace(
    NO_AUTOGRAD_NO_NN, attributes=tuple(a for a in NO_AUTOGRAD_NO_NN.attributes if a != "backward"),
    reason="this part writes its gradients by hand: no torch.autograd, requires_grad, torch.func or torch.nn "
           "(.backward is your modules' own method)")
TRAINING_USES = ("Linear", "ReLU", "SoftmaxCrossEntropy", "Sequential", "sgd_step")
LAYERS = ("Linear", "Sigmoid", "Tanh", "ReLU", "GELU")
LOSSES = ("SoftmaxCrossEntropy", "MSE")
EPS = 1e-6
Runner = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]

GRADER_WORDING = {"disagrees": "{name}.backward disagrees with finite differences of your {name}.forward "
                               "(relative error {listed}; should be < {tolerance:g} in float64)"}


def run_module(ns: dict[str, Any], name: str, args: tuple = (), kwargs: dict | None = None, *,
               params: dict[str, torch.Tensor] | None = None, mode: str = "train") -> Runner:
    """A runner over the notebook's class ``ns[name]`` built here (trusted side: the visible checks)."""
    module = ns[name](*args, **(kwargs or {}))
    if params:
        _set(module, params, name)
    module.train(mode == "train")

    def runner(runs):
        answers = []
        for run in runs:
            if run.get("params"):
                _set(module, run["params"], name)
            entry = {"output": module.forward(*run["inputs"])}
            delta = run.get("backward")
            if delta is not None:
                entry["delta"] = module.backward() if isinstance(delta, str) else module.backward(delta)
                entry["grads"] = dict(module.grads())
            answers.append(entry)
        return answers

    return runner


def _set(module, values, name):
    own = module.params()
    for key, value in values.items():
        if not isinstance(own, dict) or key not in own:
            raise Mismatch(f"{name}.params() should hold {key!r}")
        with torch.no_grad():
            own[key].copy_(value)


def finite_differences(name: str, runner: Runner, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING) -> dict[str, float]:
    """``name``'s backward agrees with centred finite differences of its forward in float64:
    for a layer, of Σ δ ⊙ forward(x) with a fixed δ, with respect to x (δ_in) and every
    parameter (grads()); for a loss module, of forward(z, target) with respect to z.

    ``ex``: ``inputs`` (x, or z and the target), ``params`` (their values, float64: set before
    each run) and, for a layer, ``delta``. Returns the relative error per gradient."""
    inputs, params = list(ex["inputs"]), dict(ex.get("params") or {})
    is_loss = name in LOSSES
    weight = None if is_loss else ex["delta"]
    first = runner([{"inputs": inputs, "params": params, "backward": "loss" if is_loss else weight}])[0]
    analytic = {"delta_in": assert_plain_tensor(first.get("delta"), f"{name}.backward's result")}
    grads = first.get("grads") if isinstance(first.get("grads"), dict) else {}
    for k in params:
        analytic[k] = assert_plain_tensor(grads.get(k), f"{name}.grads()[{k!r}]")
    points: list[tuple[str, int, float]] = []
    runs = []
    for key, base in [("delta_in", inputs[0]), *params.items()]:
        for i in range(base.numel()):
            for sign in (1.0, -1.0):
                x, p = inputs[0].clone(), {k: v.clone() for k, v in params.items()}
                (x if key == "delta_in" else p[key]).view(-1)[i] += sign * EPS
                runs.append({"inputs": [x, *inputs[1:]], "params": p})
                points.append((key, i, sign))
    outs = runner(runs)
    values = []
    for out in outs:
        y = assert_plain_tensor(out.get("output"), f"{name}.forward's result")
        values.append(float(y.double().sum()) if is_loss else float((y.double() * weight.double()).sum()))
    numeric = {"delta_in": torch.zeros_like(inputs[0], dtype=torch.float64),
               **{k: torch.zeros_like(v, dtype=torch.float64) for k, v in params.items()}}
    for (key, i, sign), value in zip(points, values):
        numeric[key].view(-1)[i] += sign * value / (2 * EPS)
    errors = relative_errors(analytic, numeric)
    bad = {k: e for k, e in errors.items() if not e < REL_TOLERANCE}
    if bad:
        shown = {k: ("δ_in" if k == "delta_in" else k) for k in bad}
        listed = ", ".join(f"{shown[k]}: {e:.2g}" for k, e in bad.items())
        worst = max(bad, key=lambda k: bad[k] if math.isfinite(bad[k]) else math.inf)
        raise failure(wording, "disagrees", {"relative_errors": errors}, name=name, listed=listed,
                      tolerance=REL_TOLERANCE, worst=shown[worst])
    return errors


def dropout_train(runner: Runner, x: torch.Tensor, delta: torch.Tensor, p: float) -> None:
    """In train mode, Dropout(p) keeps each value or zeroes it, scales the kept ones by 1/(1 − p)
    (E[y] = x: inverted dropout), drops about a fraction p, and its backward sends δ back
    through the same mask: δ_in = δ ⊙ y / x."""
    out = runner([{"inputs": [x], "backward": delta}])[0]
    y = assert_plain_tensor(out.get("output"), "Dropout.forward's result")
    d = assert_plain_tensor(out.get("delta"), "Dropout.backward's result")
    if y.shape != x.shape or d.shape != x.shape:
        raise Mismatch(f"Dropout should keep the shape {tuple(x.shape)}: forward gave {tuple(y.shape)}, "
                       f"backward {tuple(d.shape)}")
    kept = y != 0
    scale = 1 / (1 - p)
    if not torch.allclose(y[kept].double(), x[kept].double() * scale, rtol=1e-5, atol=1e-6):
        if torch.allclose(y[kept].double(), x[kept].double(), rtol=1e-5, atol=1e-6):
            raise Mismatch(f"Dropout({p:g}) keeps values unscaled: multiply the kept ones by 1/(1 − p) = {scale:.4g} "
                           f"(inverted dropout), so that the expected value stays x and eval mode needs nothing",
                           scale=False)
        raise Mismatch(f"Dropout({p:g}) in train mode should give x / (1 − p) or 0 for each value")
    dropped = 1 - float(kept.double().mean())
    spread = 5 * math.sqrt(p * (1 - p) / x.numel())
    if abs(dropped - p) > spread:
        raise Mismatch(f"Dropout({p:g}) zeroed a fraction {dropped:.3f} of the values, expected about {p:g}",
                       dropped=dropped)
    if abs(float(y.double().mean() / x.double().mean()) - 1) > spread * scale + 1e-6:
        raise Mismatch(f"Dropout({p:g}) does not keep the expected value: mean(y) / mean(x) = "
                       f"{float(y.double().mean() / x.double().mean()):.3f}, should be about 1")
    expected = delta.double() * (y.double() / x.double())
    if not torch.allclose(d.double(), expected, rtol=1e-5, atol=1e-6):
        same_zeros = bool(((d == 0) == ~kept).all())
        raise Mismatch("Dropout.backward should multiply δ by the mask of the last forward, scale included "
                       + ("(the zeros match; the scale does not)" if same_zeros else
                          "(keep the mask forward drew, do not draw a new one)"), same_mask=same_zeros)


def dropout_eval(runner: Runner, x: torch.Tensor, delta: torch.Tensor, p: float) -> None:
    """In eval mode, Dropout is the identity, forward and backward."""
    out = runner([{"inputs": [x], "backward": delta}])[0]
    y = assert_plain_tensor(out.get("output"), "Dropout.forward's result")
    d = assert_plain_tensor(out.get("delta"), "Dropout.backward's result")
    if y.shape != x.shape or not torch.equal(y, x):
        raise Mismatch(f"Dropout({p:g}) in eval mode (after .eval()) should return its input unchanged")
    if d.shape != delta.shape or not torch.equal(d, delta):
        raise Mismatch(f"Dropout({p:g}) in eval mode should send δ back unchanged")


# --- the visible checks --------------------------------------------------------------------------


STUDENT_WORDING = {"disagrees": "relative error {listed} (should be < {tolerance:g}); start with {worst}"}


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def visible_example(name: str) -> tuple[tuple, dict, dict[str, Any]]:
    """(constructor args, kwargs, finite-difference example) of the visible check of ``name``, float64."""
    g = _g()
    N, D, M, C = 3, 4, 3, 4
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    if name == "ReLU":
        x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x)  # away from the kink
    delta = torch.randn(N, M if name == "Linear" else D, generator=g, dtype=torch.float64)
    if name == "Linear":
        params = {"W": torch.randn(D, M, generator=g, dtype=torch.float64) * 0.5,
                  "b": torch.randn(M, generator=g, dtype=torch.float64) * 0.1}
        return (D, M), {"dtype": torch.float64}, {"inputs": [x], "params": params, "delta": delta}
    if name == "SoftmaxCrossEntropy":
        z = torch.randn(N, C, generator=g, dtype=torch.float64) * 2
        return (), {}, {"inputs": [z, torch.randint(0, C, (N,), generator=g)]}
    if name == "MSE":
        y = torch.randn(N, C, generator=g, dtype=torch.float64)
        return (), {}, {"inputs": [y, torch.nn.functional.one_hot(torch.randint(0, C, (N,), generator=g), C).double()]}
    return (), {}, {"inputs": [x], "delta": delta}


def _visible_gradcheck(name: str) -> Callable[[dict[str, Any]], str]:
    def run(ns) -> str:
        args, kwargs, ex = visible_example(name)
        errors = finite_differences(name, run_module(ns, name, args, kwargs), ex, wording=STUDENT_WORDING)
        return f"largest relative error {max(errors.values()):.1e}"

    return run


def _visible_dropout(ns) -> str:
    g = torch.Generator().manual_seed(1234)  # not the stream of Dropout's seed 0: x and the mask independent
    x = torch.rand(200, 50, generator=g) + 0.5
    delta = torch.randn(200, 50, generator=g)
    for p in (0.5, 0.2):
        dropout_train(run_module(ns, "Dropout", (p,), {"seed": 0}), x, delta, p)
        dropout_eval(run_module(ns, "Dropout", (p,), {"seed": 0}, mode="eval"), x, delta, p)
    return "p = 0.5 and 0.2"


def _visible_sequential(ns) -> str:
    """Sequential over the notebook's own Linear and ReLU: forward is their composition, and
    backward agrees with finite differences (float64)."""
    g = _g()
    make = ns["Sequential"]
    lin1, lin2 = ns["Linear"](3, 4, dtype=torch.float64), ns["Linear"](4, 2, dtype=torch.float64)
    model = make([lin1, ns["ReLU"](), lin2])
    keys = set(model.params()) if isinstance(model.params(), dict) else set()
    if keys != {"0.W", "0.b", "2.W", "2.b"}:
        raise Mismatch(f"Sequential([Linear, ReLU, Linear]).params() should have the keys 0.W, 0.b, 2.W, 2.b; "
                       f"got {sorted(map(str, keys))}", what="params() keyed <index>.<name>")
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    expected = lin2.forward(ns["ReLU"]().forward(lin1.forward(x)))
    got = model.forward(x)
    if not isinstance(got, torch.Tensor) or not torch.allclose(got, expected):
        raise Mismatch("Sequential.forward should apply the modules in order", what="forward composes the modules")
    delta = torch.randn(5, 2, generator=g, dtype=torch.float64)
    params = {k: v.detach().clone() for k, v in model.params().items()}

    def runner(runs):
        answers = []
        for run in runs:
            with torch.no_grad():
                for k, v in (run.get("params") or {}).items():
                    model.params()[k].copy_(v)
            entry = {"output": model.forward(*run["inputs"])}
            if run.get("backward") is not None:
                entry["delta"] = model.backward(run["backward"])
                entry["grads"] = dict(model.grads())
            answers.append(entry)
        return answers

    errors = finite_differences("Sequential", runner, {"inputs": [x], "params": params, "delta": delta},
                                wording=STUDENT_WORDING)
    return f"largest relative error {max(errors.values()):.1e}"


def _visible_sgd_step(ns) -> str:
    g = _g()
    params = {"0.W": torch.randn(3, 2, generator=g), "0.b": torch.randn(2, generator=g)}
    grads = {k: torch.randn(v.shape, generator=g) for k, v in params.items()}
    held, before = dict(params), {k: v.clone() for k, v in params.items()}
    ns["sgd_step"](params, grads, 0.1)
    for k, v in held.items():
        if not torch.allclose(v, before[k] - 0.1 * grads[k]):
            raise Mismatch(f"after sgd_step(params, grads, 0.1) the tensor params[{k!r}] held should be "
                           f"params − 0.1 · grads, changed in place (p -= lr * g)")
    return ""


_GRADCHECK = "backward agrees with finite differences of forward (float64)"
VISIBLE = {
    **{name: (Visible(_GRADCHECK, _visible_gradcheck(name)),) for name in (*LAYERS, *LOSSES)},
    "Dropout": (Visible("train mode: kept values scaled by 1/(1 − p), backward through the same mask; "
                        "eval mode: identity", _visible_dropout),),
    "sgd_step": (Visible("every parameter tensor updated in place by −lr · grad", _visible_sgd_step),),
    "Sequential": (Visible("Linear → ReLU → Linear: forward in order, backward agrees with finite differences",
                           _visible_sequential),),
}
