"""tp3_deep without the reference: init_params gives every layer random, trainable weights for any
depth; train_step lowers the loss and zeroes stale gradients. ``init_params(sizes) -> params``
with ``{"W1", "b1", …, "WL", "bL"}``, W_l (sizes[l-1], sizes[l]);
``train_step(params, optimizer, x, labels, *, activation, loss) -> float``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, describe, type_name
from ..optim import make_optimizer
from . import Visible, Wording, failure

POLICY = None  # autograd and torch.nn are the subject of this part
TRAINING_USES = ("forward", "train_step")

# init_params' messages, by what failed; "keys" is formatted with sizes, keys and got (what the
# dict holds, or the type's name) or described (the same, with a tensor's shape)
GRADER_WORDING = {
    "keys": "init_params({sizes}) should return a dict with the keys {keys}; got {got}",
    "tensor": "{key} should be a torch.Tensor, got {got}",
    "shape": "{key} has shape {shape}, expected {expected} for sizes {sizes}",
    "leaf": "{key} should be a leaf tensor with requires_grad=True, so that loss.backward() fills {key}.grad",
    "finite": "{key} contains NaN or inf",
    "identical": "units {i} and {j} of layer {l} start with identical weights (W{l}[:, {i}] == W{l}[:, {j}]): "
                 "they would compute the same thing forever. Draw the weights at random.",
    "constant": "W{l} is constant ({value:g} everywhere): draw the weights at random",
}


def init_shapes(init_params: Callable, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING) -> dict:
    """init_params(sizes) gives every layer W_l (sizes[l-1], sizes[l]) and b_l (sizes[l],), plain
    tensors, for any depth. Returns the parameters."""
    sizes = ex["sizes"]
    value = init_params(sizes)
    L = len(sizes) - 1
    keys = [f"{p}{l}" for l in range(1, L + 1) for p in ("W", "b")]
    if not isinstance(value, dict) or sorted(value) != sorted(keys):
        got, described = (sorted(value),) * 2 if isinstance(value, dict) else (type(value).__name__, describe(value))
        raise failure(wording, "keys", sizes=sizes, keys=", ".join(keys), got=got, described=described)
    for l in range(1, L + 1):
        for key, shape in ((f"W{l}", (sizes[l - 1], sizes[l])), (f"b{l}", (sizes[l],))):
            t = value[key]
            if type(t) is not torch.Tensor:
                raise failure(wording, "tensor", {"got_type": type_name(t)}, key=key, got=describe(t))
            if tuple(t.shape) != shape:
                raise failure(wording, "shape", key=key, shape=tuple(t.shape), expected=shape, sizes=sizes)
    return value


def init_random_leaves(init_params: Callable, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING) -> None:
    """Weights are random (no two hidden units start identical, or they stay identical), finite,
    and trainable leaves (requires_grad, no grad_fn)."""
    sizes = ex["sizes"]
    params = init_shapes(init_params, ex, wording=wording)
    for key, t in params.items():
        if not t.requires_grad or t.grad_fn is not None:
            raise failure(wording, "leaf", key=key)
        if not torch.isfinite(t).all():
            raise failure(wording, "finite", key=key)
    for l in range(1, len(sizes)):
        W = params[f"W{l}"].detach()
        if W.shape[1] >= 2:
            columns = W.T  # (H_l, H_(l-1)): one row per unit of layer l
            same = (columns[:, None, :] == columns[None, :, :]).all(-1)
            same.fill_diagonal_(False)
            if same.any():
                i, j = (int(v) for v in same.nonzero()[0])
                raise failure(wording, "identical", i=i, j=j, l=l, sizes=sizes)
        if W.numel() >= 2 and bool((W == W.flatten()[0]).all()):
            raise failure(wording, "constant", l=l, value=float(W.flatten()[0]), sizes=sizes)


def _number(value) -> float:
    """A loss as a float, whatever was returned (the fixed examples judge the return type)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def train_step_learns(train_step: Callable, ex: dict[str, Any]) -> str:
    """20 steps on one batch lower its loss, and a step from stale gradients (left in .grad by a
    previous step) is the same as from clean ones: train_step zeroes them. ``ex``: ``start``
    (parameters), ``x``, ``labels``, ``lr`` and the keywords ``activation`` and ``loss``.
    Returns how the loss went."""
    start, x, labels, keywords = ex["start"], ex["x"], ex["labels"], {k: ex[k] for k in ("activation", "loss")}

    def fresh(stale: bool):
        p = {k: v.clone().requires_grad_(True) for k, v in start.items()}
        if stale:
            for v in p.values():
                v.grad = torch.ones_like(v)
        return p, make_optimizer(p, "sgd", ex["lr"])

    p, opt = fresh(False)
    losses = [_number(train_step(p, opt, x, labels, **keywords)) for _ in range(20)]
    if not losses[-1] < losses[0]:
        raise Mismatch(f"losses went from {losses[0]:.4f} to {losses[-1]:.4f}", what="20 steps on one batch lower its loss")
    clean, opt = fresh(False)
    train_step(clean, opt, x, labels, **keywords)
    stale, opt = fresh(True)
    train_step(stale, opt, x, labels, **keywords)
    if not all(torch.allclose(clean[k], stale[k]) for k in start):
        raise Mismatch("call optimizer.zero_grad() before loss.backward()",
                       what="a step ignores gradients left over from the previous step")
    return f"loss {losses[0]:.3f} → {losses[-1]:.3f}"


# --- the visible checks --------------------------------------------------------------------------

STUDENT_WORDING = {
    "keys": ("one W and one b per layer", "for sizes {sizes} expected a dict with the keys {keys}; got {described}"),
    "tensor": ("plain tensors", "{key} should be a plain torch.Tensor with requires_grad=True, got {got}"),
    "shape": ("shapes", GRADER_WORDING["shape"]),
    "leaf": ("trainable leaves", "{key} should be a leaf tensor with requires_grad=True (set it after computing the "
                                 "values, e.g. with .requires_grad_()), so that loss.backward() fills {key}.grad"),
    "finite": ("finite values", GRADER_WORDING["finite"]),
    "identical": ("random weights", "two units of layer {l} start with identical weights (two equal columns of W{l}, "
                                    "sizes {sizes}): they would stay identical forever"),
    "constant": ("random weights", GRADER_WORDING["constant"]),
}


def _visible_init(ns) -> str:
    for sizes in ([4, 3], [5, 4, 3], [6, 5, 4, 2], [3, 7, 6, 5, 4]):
        init_random_leaves(ns["init_params"], {"sizes": sizes}, wording=STUDENT_WORDING)
    return ""


def _visible_train_step(ns) -> str:
    g = torch.Generator().manual_seed(2)
    x, labels = torch.rand(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
    start = {"W1": torch.randn(6, 5, generator=g) * 0.5, "b1": torch.zeros(5),
             "W2": torch.randn(5, 3, generator=g) * 0.5, "b2": torch.zeros(3)}
    return train_step_learns(ns["train_step"], {"start": start, "x": x, "labels": labels, "lr": 0.1,
                                                "activation": "relu", "loss": "cross_entropy"})


VISIBLE = {
    "init_params": (Visible("shapes for depths 1 to 4, random trainable leaves", _visible_init),),
    "train_step": (Visible("train_step lowers the loss and zeroes the gradients", _visible_train_step),),
}
