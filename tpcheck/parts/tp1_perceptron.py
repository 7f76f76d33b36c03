"""tp1_perceptron without the reference: the update moves outputs toward their targets, predict
is the argmax of forward. ``forward(params, x) -> y``, ``update(params, x, t, lr) -> new params``,
``predict(params, x) -> labels``, params ``{"W": (D, C), "b": (C,)}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, assert_plain_tensor, describe, type_name
from ..forbidden import NO_AUTOGRAD_NO_NN
from ..messages import say
from . import Visible, Wording, failure

POLICY = NO_AUTOGRAD_NO_NN
TRAINING_USES = ("forward", "update", "predict")

GRADER_WORDING = {  # message ids (tpcheck.messages)
    # moves_toward_target: formatted with lr, i (the first output that moved away), before_i,
    # after_i, and the whole before and after (lists)
    "moved_away": "tp1.moved_away",
    # predicts_argmax: with got, expected (shapes, dtype, or every row's class), i, got_i, expected_i, outputs_i
    "tensor": "tp1.tensor", "shape": "tp1.shape", "dtype": "tp1.dtype", "wrong": "tp1.wrong",
}


def moves_toward_target(update: Callable, forward: Callable, ex: dict[str, Any], *,
                        wording: Wording = GRADER_WORDING) -> None:
    """One update with a small η on a single example brings every output closer to its target
    (|t_i − y_i| never grows, and shrinks where it was not already 0), as ``forward`` judges."""
    params, x, t, lr = ex["params"], ex["x"], ex["t"], ex["lr"]
    before = (t - forward(params, x)).abs()
    new = update(params, x, t, lr)
    if not isinstance(new, dict) or set(new) != {"W", "b"}:
        raise Mismatch(say("tp1.update_dict"))
    after = (t - forward({k: assert_plain_tensor(new[k], f"params[{k!r}]") for k in ("W", "b")}, x)).abs()
    worse = after > before + 1e-6
    if worse.any():
        i = int(worse.flatten().nonzero()[0])
        raise failure(wording, "moved_away", {"output": i}, lr=lr, i=i, before_i=float(before.flatten()[i]),
                      after_i=float(after.flatten()[i]), before=before.tolist(), after=after.tolist())


def predicts_argmax(predict: Callable, forward: Callable, ex: dict[str, Any], *,
                    wording: Wording = GRADER_WORDING) -> None:
    """predict returns the index of the largest output of ``forward`` (rows with a near-tie are
    not judged), as one int64 class index per example."""
    params, x = ex["params"], ex["x"]
    y = forward(params, x)
    expected = y.argmax(1)
    got = predict(params, x)
    if type(got) is not torch.Tensor:
        raise failure(wording, "tensor", {"got_type": type_name(got)}, described=describe(got), shape=tuple(expected.shape))
    if got.shape != expected.shape:
        raise failure(wording, "shape", got=tuple(got.shape), expected=tuple(expected.shape))
    if got.dtype != torch.int64:
        raise failure(wording, "dtype", got=got.dtype, expected=tuple(expected.shape))
    top2 = y.topk(min(2, y.shape[1]), dim=1).values
    clear = (top2[:, 0] - top2[:, -1]) > 1e-4
    wrong = clear & (got != expected)
    if wrong.any():
        i = int(wrong.nonzero()[0])
        raise failure(wording, "wrong", {"example_row": i}, i=i, got_i=int(got[i]), expected_i=int(expected[i]),
                      outputs_i=[round(v, 4) for v in y[i].tolist()], got=got.tolist(), expected=expected.tolist())


# --- the visible checks: the properties on fixed examples, judged by the student's own forward


ONE_INDEX = "tp1.one_index"
STUDENT_WORDING = {
    "moved_away": "tp1.student.moved_away",
    "tensor": (ONE_INDEX, "tp1.student.tensor"),
    "shape": (ONE_INDEX, "tp1.student.shape"),
    "dtype": (ONE_INDEX, "tp1.student.shape"),
    "wrong": "tp1.student.wrong",
}


def _visible_update(ns) -> str:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 5, generator=g)
    params = {"W": (torch.rand(5, 3, generator=g) - 0.5) * 0.2, "b": torch.zeros(3)}
    ex = {"params": params, "x": x, "t": torch.tensor([[0.0, 1.0, 0.0]]), "lr": 0.05}
    moves_toward_target(ns["update"], ns["forward"], ex, wording=STUDENT_WORDING)
    return ""


def _visible_predict(ns) -> str:
    g = torch.Generator().manual_seed(1)
    params = {"W": torch.randn(6, 4, generator=g), "b": torch.randn(4, generator=g)}
    predicts_argmax(ns["predict"], ns["forward"], {"params": params, "x": torch.rand(7, 6, generator=g)},
                    wording=STUDENT_WORDING)
    return ""


VISIBLE = {
    "update": (Visible("tp1.visible.update", _visible_update),),
    "predict": (Visible("tp1.visible.predict", _visible_predict),),
}
