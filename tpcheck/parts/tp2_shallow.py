"""tp2_shallow without the reference: backward agrees with finite differences of forward and
loss, the sigmoid saturates without overflow. ``forward(params, x) -> (y, cache)`` with the cache
``(x, h, y)``, ``loss(y, t)``, ``backward(params, cache, t) -> grads`` keyed like params
``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, and_list, assert_plain_tensor
from ..forbidden import NO_AUTOGRAD_NO_NN
from ..gradcheck import REL_TOLERANCE, numerical_gradients_batch, relative_errors
from ..messages import say
from . import Visible, Wording, failure

POLICY = NO_AUTOGRAD_NO_NN
TRAINING_USES = ("forward", "loss", "backward", "update")
KEYS = ("W1", "b1", "W2", "b2")

# finite_differences' message, formatted with listed (the parameters that disagree, with their
# error), tolerance and worst (the parameter to look at first)
GRADER_WORDING = {"disagrees": "tp2.disagrees",  # message ids (tpcheck.messages)
                  # a gradient missing, or of another shape than its parameter: no relative error then
                  "missing": "tp2.missing", "shapes": "tp2.shapes"}


def finite_differences(forward: Callable, loss: Callable, backward: Callable, ex: dict[str, Any], *,
                       forward_many: Callable[[list[tuple]], list] | None = None,
                       loss_many: Callable[[list[tuple]], list] | None = None,
                       wording: Wording = GRADER_WORDING) -> dict[str, float]:
    """backward agrees with centred finite differences of forward and loss, in float64 (relative
    error < 1e-6 per parameter): forward, loss and backward are consistent. Returns the relative
    error per parameter.

    ``forward_many`` and ``loss_many`` evaluate a list of argument tuples at once (default: one
    call each); ``backward`` receives the cache as forward returned it."""
    params, x, t = ex["params"], ex["x"], ex["t"]
    forward_many = forward_many or (lambda args: [forward(*a) for a in args])
    loss_many = loss_many or (lambda args: [loss(*a) for a in args])

    def totals(points):  # the loss at every perturbed point
        outs = forward_many([(p, x) for p in points])
        if not all(isinstance(out, tuple) and len(out) == 2 for out in outs):
            raise Mismatch(say("tp2.forward_pair"))
        values = [assert_plain_tensor(v, say("tp2.loss_result")) for v in loss_many([(y, t) for y, _ in outs])]
        if any(v.numel() != 1 for v in values):
            raise Mismatch(say("tp2.loss_number"))
        return values

    out = forward(params, x)
    if not isinstance(out, tuple) or len(out) != 2:
        raise Mismatch(say("tp2.forward_pair"))
    cache = out[1]
    if not isinstance(cache, tuple) or len(cache) != 3:
        raise Mismatch(say("tp2.cache"))
    grads = backward(params, cache, t)
    if not isinstance(grads, dict):
        raise Mismatch(say("tp2.backward_dict", keys=", ".join(KEYS)))
    if missing := [k for k in params if k not in grads]:
        raise failure(wording, "missing", {"missing": missing}, listed=and_list(missing), keys=", ".join(params))
    shapes = {k: assert_plain_tensor(grads[k], say("tp2.gradient_for", key=k)).shape for k in params}
    if wrong := [k for k in params if shapes[k] != params[k].shape]:
        listed = "; ".join(say("compare.shape", name=k, got=tuple(shapes[k]), expected=tuple(params[k].shape))
                           for k in wrong)
        raise failure(wording, "shapes", {"wrong": wrong}, listed=listed)
    errors = relative_errors(grads, numerical_gradients_batch(totals, params))
    bad = {k: e for k, e in errors.items() if not e < REL_TOLERANCE}
    if bad:
        listed = ", ".join(f"{k}: {e:.2g}" for k, e in bad.items())
        worst = max(bad, key=lambda k: bad[k] if math.isfinite(bad[k]) else math.inf)
        raise failure(wording, "disagrees", {"relative_errors": errors}, listed=listed, tolerance=REL_TOLERANCE, worst=worst)
    return errors


def sigmoid_in_range(sigmoid: Callable, ex: dict[str, Any]) -> None:
    """σ(a) stays in [0, 1] and is finite even for large |a| (no overflow)."""
    got = assert_plain_tensor(sigmoid(ex["a"]), say("tp2.sigmoid_result"))
    if not torch.isfinite(got).all() or (got < 0).any() or (got > 1).any():
        raise Mismatch(say("tp2.sigmoid_range"))


# --- the visible checks --------------------------------------------------------------------------


STUDENT_WORDING = {"disagrees": "tp2.student.disagrees",
                   "missing": GRADER_WORDING["missing"], "shapes": GRADER_WORDING["shapes"]}


def _visible_gradcheck(ns) -> str:
    g = torch.Generator().manual_seed(0)
    D, H, C, N = 4, 3, 2, 5
    params = {"W1": torch.randn(D, H, generator=g, dtype=torch.float64) * 0.5,
              "b1": torch.randn(H, generator=g, dtype=torch.float64) * 0.1,
              "W2": torch.randn(H, C, generator=g, dtype=torch.float64) * 0.5,
              "b2": torch.randn(C, generator=g, dtype=torch.float64) * 0.1}
    x = torch.rand(N, D, generator=g, dtype=torch.float64)
    t = torch.nn.functional.one_hot(torch.randint(0, C, (N,), generator=g), C).double()
    errors = finite_differences(ns["forward"], ns["loss"], ns["backward"], {"params": params, "x": x, "t": t},
                                wording=STUDENT_WORDING)
    return say("tp2.largest_error", error=max(errors.values()))


VISIBLE = {
    "backward": (Visible("tp2.visible.gradcheck", _visible_gradcheck),),
}
