"""tp3_deep without the reference: init_params gives every layer random, trainable weights for any
depth, drawn from the generator it is given, at the documented scale (He for relu and gelu,
Xavier for sigmoid and tanh), and raises ValueError on an unknown activation or invalid sizes;
train_step lowers the loss and zeroes stale gradients.
``init_params(sizes, *, activation="relu", generator=None) -> params`` with
``{"W1", "b1", …, "WL", "bL"}``, W_l (sizes[l-1], sizes[l]);
``train_step(params, optimizer, x, labels, *, activation, loss) -> float``.

The generator and scale properties take ``init(sizes, activation, seed)``: the student's
init_params called with ``generator=`` a ``torch.Generator`` seeded with ``seed`` (the grader
sends a :class:`~tpcheck.boundary.Seeded`, built on the student's side). The sandbox seeds the
global random state the same way before every call, so an init that ignores its generator gives
the same weights whatever the seed; the visible check, in the student's own process, also sees
it consume the global state. The scale is judged on layers of at least 48 × 48 weights, where
the empirical standard deviation is within :data:`SCALE_TOLERANCE` of the formula with
overwhelming probability (its relative standard error is 1/sqrt(2n) < 1.5 %) while He and
Xavier differ by sqrt(1 + fan_out / fan_in) ≥ sqrt(1.5) there."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, describe, type_name
from ..messages import say
from ..optim import make_optimizer
from . import Visible, Wording, failure

POLICY = None  # autograd and torch.nn are the subject of this part
TRAINING_USES = ("forward", "train_step")
HE, XAVIER = ("relu", "gelu"), ("sigmoid", "tanh")  # the notebook's activations, by their scale
SCALE_TOLERANCE = 0.1  # relative, on the empirical standard deviation of one layer's weights
SCALE_SIZES = (48, 96)  # the layer sizes the scale is judged on

# init_params' messages, by what failed; "keys" is formatted with sizes, keys and got (what the
# dict holds, or the type's name) or described (the same, with a tensor's shape)
GRADER_WORDING = {k: f"tp3.{k}" for k in (  # message ids (tpcheck.messages)
    "keys", "tensor", "shape", "leaf", "computed", "finite", "identical",
    "constant", "same_seed", "other_seed", "global_state", "scale", "bias", "raises")}


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
        if t.grad_fn is not None or not t.is_leaf:
            raise failure(wording, "computed", {"is_leaf": False}, key=key)
        if not t.requires_grad:
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


def _same(a: dict, b: dict) -> str | None:
    """The first key whose tensors differ between two parameter dicts, None when all agree."""
    return next((k for k in a if not torch.equal(a[k].detach(), b[k].detach())), None)


def init_seeded(init: Callable, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING,
                global_state: bool = False) -> None:
    """Two calls with generators seeded alike give equal parameters, with another seed other
    weights: init_params draws from its generator (``ex``: sizes, activation, seed).
    ``global_state``: also require that the global random state is left untouched (only where
    the caller's process is the student's: the visible check)."""
    sizes, activation, seed = ex["sizes"], ex["activation"], ex["seed"]

    def params(s: int) -> dict:
        return init_shapes(lambda sz: init(sz, activation, s), ex, wording=wording)

    before = torch.get_rng_state() if global_state else None
    first = params(seed)
    if before is not None and not torch.equal(before, torch.get_rng_state()):
        raise failure(wording, "global_state", sizes=sizes, activation=activation)
    if (key := _same(first, params(seed))) is not None:
        raise failure(wording, "same_seed", {"key": key}, sizes=sizes, activation=activation, seed=seed, key=key)
    other = params(seed + 1)
    if all(torch.equal(first[k].detach(), other[k].detach()) for k in first if k.startswith("W")):
        raise failure(wording, "other_seed", sizes=sizes, activation=activation, seed=seed, other=seed + 1)


def init_scale(init: Callable, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING) -> None:
    """For every activation, each W_l's empirical standard deviation is within
    :data:`SCALE_TOLERANCE` of the documented one (He for relu and gelu, Xavier for sigmoid and
    tanh), and the biases start at zero. ``ex``: sizes (each in :data:`SCALE_SIZES`), seed."""
    sizes, seed = ex["sizes"], ex["seed"]
    for activation in (*HE, *XAVIER):
        params = init_shapes(lambda sz, a=activation: init(sz, a, seed), ex, wording=wording)
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            he = activation in HE
            expected = math.sqrt(2.0 / fan_in) if he else math.sqrt(2.0 / (fan_in + fan_out))
            W = params[f"W{l}"].detach().double()
            got = float(W.std()) if torch.isfinite(W).all() else math.inf
            if not abs(got / expected - 1) <= SCALE_TOLERANCE:
                raise failure(wording, "scale", {"got_std": got, "expected_std": expected}, l=l, got=got,
                              expected=expected, activation=activation, fan_in=fan_in, fan_out=fan_out, sizes=sizes,
                              formula=f"sqrt(2 / {fan_in})" if he else f"sqrt(2 / ({fan_in} + {fan_out}))")
            if params[f"b{l}"].detach().abs().max() != 0:
                raise failure(wording, "bias", l=l, activation=activation, sizes=sizes)


def init_raises(raised: Callable, ex: dict[str, Any], *, wording: Wording = GRADER_WORDING) -> None:
    """An unknown activation, fewer than two sizes, or a size below 1 raise ValueError.
    ``raised(sizes, activation)`` calls init_params and returns the name of the exception's type
    (None when it returned); ``ex``: sizes."""
    sizes = list(ex["sizes"])
    for case, activation, why in ((sizes, "swish", say("tp3.why.activation")),
                                  (sizes[:1], "relu", say("tp3.why.few_sizes")),
                                  ([sizes[0], 0, *sizes[1:]], "relu", say("tp3.why.size"))):
        got = raised(case, activation)
        if got != "ValueError":
            raise failure(wording, "raises", {"raised": got}, sizes=case, activation=activation, why=why,
                          got=say("tp3.returned") if got is None else say("tp3.raised", type=got))


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
        raise Mismatch(say("tp3.losses", first=losses[0], last=losses[-1]), what=say("tp3.what.lowers"))
    clean, opt = fresh(False)
    train_step(clean, opt, x, labels, **keywords)
    stale, opt = fresh(True)
    train_step(stale, opt, x, labels, **keywords)
    if not all(torch.allclose(clean[k], stale[k]) for k in start):
        raise Mismatch(say("tp3.zero_grad"), what=say("tp3.what.stale"))
    return say("tp3.loss_went", first=losses[0], last=losses[-1])


# --- the visible checks --------------------------------------------------------------------------

STUDENT_WORDING = {
    "keys": ("tp3.what.keys", "tp3.student.keys"),
    "tensor": ("tp3.what.plain", "tp3.student.tensor"),
    "shape": ("tp3.what.shapes", GRADER_WORDING["shape"]),
    "leaf": ("tp3.what.leaves", "tp3.student.leaf"),
    "computed": ("tp3.what.leaves", GRADER_WORDING["computed"]),
    "finite": ("tp3.what.finite", GRADER_WORDING["finite"]),
    "identical": ("tp3.what.random", "tp3.student.identical"),
    "constant": ("tp3.what.random", GRADER_WORDING["constant"]),
    **{k: ("tp3.what.generator", GRADER_WORDING[k]) for k in ("same_seed", "other_seed", "global_state")},
    "scale": ("tp3.what.scale", GRADER_WORDING["scale"]),
    "bias": ("tp3.what.scale", GRADER_WORDING["bias"]),
    "raises": ("tp3.what.raises", GRADER_WORDING["raises"]),
}


def _visible_init(ns) -> str:
    for sizes in ([4, 3], [5, 4, 3], [6, 5, 4, 2], [3, 7, 6, 5, 4]):
        init_random_leaves(ns["init_params"], {"sizes": sizes}, wording=STUDENT_WORDING)
    return ""


def _seeded(ns) -> Callable:
    return lambda sizes, activation, seed: ns["init_params"](sizes, activation=activation,
                                                          generator=torch.Generator().manual_seed(seed))


def _visible_generator(ns) -> str:
    for activation, seed in (("relu", 0), ("tanh", 7)):
        init_seeded(_seeded(ns), {"sizes": [5, 4, 3], "activation": activation, "seed": seed},
                    wording=STUDENT_WORDING, global_state=True)
    return ""


def _visible_scale(ns) -> str:
    init_scale(_seeded(ns), {"sizes": [64, 96, 48, 64], "seed": 0}, wording=STUDENT_WORDING)
    return ""


def _visible_raises(ns) -> str:
    def raised(sizes, activation):
        try:
            ns["init_params"](sizes, activation=activation)
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001 - the student's exception is what is judged
            return type(e).__name__
        return None

    init_raises(raised, {"sizes": [4, 3, 2]}, wording=STUDENT_WORDING)
    return ""


def _visible_train_step(ns) -> str:
    g = torch.Generator().manual_seed(2)
    x, labels = torch.rand(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
    start = {"W1": torch.randn(6, 5, generator=g) * 0.5, "b1": torch.zeros(5),
             "W2": torch.randn(5, 3, generator=g) * 0.5, "b2": torch.zeros(3)}
    return train_step_learns(ns["train_step"], {"start": start, "x": x, "labels": labels, "lr": 0.1,
                                                "activation": "relu", "loss": "cross_entropy"})


VISIBLE = {
    "init_params": (Visible("tp3.visible.init", _visible_init),
                    Visible("tp3.visible.generator", _visible_generator),
                    Visible("tp3.visible.scale", _visible_scale),
                    Visible("tp3.visible.raises", _visible_raises)),
    "train_step": (Visible("tp3.visible.train_step", _visible_train_step),),
}
