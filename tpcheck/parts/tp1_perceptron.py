"""tp1_perceptron without the reference: the update moves outputs toward their targets, predict
is the argmax of forward. ``forward(params, x) -> y``, ``update(params, x, t, lr) -> new params``,
``predict(params, x) -> labels``, params ``{"W": (D, C), "b": (C,)}``."""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..compare import Mismatch, assert_plain_tensor
from ..forbidden import NO_AUTOGRAD_NO_NN
from . import Visible

POLICY = NO_AUTOGRAD_NO_NN
TRAINING_USES = ("forward", "update", "predict")

MOVED_AWAY = ("after one update with η = {lr}, output {i} moved away from its target "
              "(|t − y| went from {before_i:.4g} to {after_i:.4g}): check the sign of the update")


def moves_toward_target(update: Callable, forward: Callable, ex: dict[str, Any], *,
                        message: str = MOVED_AWAY) -> None:
    """One update with a small η on a single example brings every output closer to its target
    (|t_i − y_i| never grows, and shrinks where it was not already 0), as ``forward`` judges.

    ``message`` is formatted with ``lr``, ``i`` (the first output that moved away), ``before_i``,
    ``after_i`` and the whole ``before``, ``after`` (lists)."""
    params, x, t, lr = ex["params"], ex["x"], ex["t"], ex["lr"]
    before = (t - forward(params, x)).abs()
    new = update(params, x, t, lr)
    if not isinstance(new, dict) or set(new) != {"W", "b"}:
        raise Mismatch("update should return a dict with the keys 'W' and 'b'")
    after = (t - forward({k: assert_plain_tensor(new[k], f"params[{k!r}]") for k in ("W", "b")}, x)).abs()
    worse = after > before + 1e-6
    if worse.any():
        i = int(worse.flatten().nonzero()[0])
        raise Mismatch(message.format(lr=lr, i=i, before_i=float(before.flatten()[i]), after_i=float(after.flatten()[i]),
                                      before=before.tolist(), after=after.tolist()), output=i)


def predicts_argmax(predict: Callable, forward: Callable, ex: dict[str, Any]) -> None:
    """predict returns the index of the largest output of ``forward`` (rows with a near-tie are
    not judged), as one int64 class index per example."""
    params, x = ex["params"], ex["x"]
    y = forward(params, x)
    got = assert_plain_tensor(predict(params, x), "predict's result")
    expected = y.argmax(1)
    if got.shape != expected.shape:
        raise Mismatch(f"predict's result has shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if got.dtype != torch.int64:
        raise Mismatch(f"predict's result has dtype {got.dtype}, expected torch.int64 (class indices)")
    top2 = y.topk(min(2, y.shape[1]), dim=1).values
    clear = (top2[:, 0] - top2[:, -1]) > 1e-4
    wrong = clear & (got != expected)
    if wrong.any():
        i = int(wrong.nonzero()[0])
        raise Mismatch(f"predict said class {int(got[i])} for example {i}, but its largest output is "
                       f"class {int(expected[i])} (outputs {[round(v, 4) for v in y[i].tolist()]})", example_row=i)


# --- the visible checks: the properties on fixed examples, judged by the student's own forward


def _visible_update(ns) -> str:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 5, generator=g)
    params = {"W": (torch.rand(5, 3, generator=g) - 0.5) * 0.2, "b": torch.zeros(3)}
    ex = {"params": params, "x": x, "t": torch.tensor([[0.0, 1.0, 0.0]]), "lr": 0.05}
    moves_toward_target(ns["update"], ns["forward"], ex, message="|t − y| went from {before} to {after}: check the sign")
    return ""


def _visible_predict(ns) -> str:
    g = torch.Generator().manual_seed(1)
    params = {"W": torch.randn(6, 4, generator=g), "b": torch.randn(4, generator=g)}
    predicts_argmax(ns["predict"], ns["forward"], {"params": params, "x": torch.rand(7, 6, generator=g)})
    return ""


VISIBLE = {
    "update": (Visible("one update moves every output toward its target", _visible_update),),
    "predict": (Visible("predict returns the class of the largest output of forward", _visible_predict),),
}
