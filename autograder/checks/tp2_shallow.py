"""Hidden checks of ``tp2_shallow``: one sigmoid hidden layer, linear output, squared error,
hand-written backprop (no autograd, no nn).

Notebook API (the reference's, :mod:`reference.tp2_shallow`): ``sigmoid(a)``,
``sigmoid_derivative(h)`` (= h(1 − h) given h = σ(a)), ``forward(params, x) -> (y, cache)``,
``loss(y, t)``, ``output_delta(y, t)``, ``hidden_delta(delta2, W2, h)``,
``backward(params, cache, t) -> grads`` keyed like params, ``update(params, grads, lr)``;
params ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``, cache ``ShallowCache(x, h, y)``.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import strategies as S
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context, matches
from autograder.checks.common import does_not_mutate, forbidden_api_check
from tpcheck.compare import Mismatch, assert_plain_tensor
from tpcheck.forbidden import NO_AUTOGRAD_NO_NN
from tpcheck.gradcheck import REL_TOLERANCE, numerical_gradients_batch, relative_errors
from autograder.submission import Struct
from autograder.checks.spec import Threshold
from reference import tp2_shallow as ref

TYPES = {"ShallowCache": ref.ShallowCache}
KEYS = ("W1", "b1", "W2", "b2")
GRAD_NAMES = {k: f"the gradient for {k}" for k in KEYS}


@st.composite
def cases(draw, *, batch=S.BATCH, dtype=torch.float32):
    """params like an initialisation, x in [0, 1], one-hot t, a learning rate."""
    n, d, h, c = draw(S.dims(batch=batch))
    params = {"W1": draw(S.weights(d, h, dtype)), "b1": draw(S.biases(d, h, dtype)),
              "W2": draw(S.weights(h, c, dtype)), "b2": draw(S.biases(h, c, dtype))}
    x, t = draw(S.inputs(n, d, dtype)), draw(S.one_hot_targets(n, c, dtype))
    return {"params": params, "x": x, "t": t, "lr": draw(S.learning_rates())}


def _with_forward(ex):
    """Adds the true forward pass, as arguments for the later stages: the cache, y, h, δ2."""
    y, cache = ref.forward(ex["params"], ex["x"])
    return {**ex, "cache": Struct("ShallowCache", tuple(cache)), "y": y, "h": cache.h,
            "delta2": ref.output_delta(y, ex["t"]), "W2": ex["params"]["W2"]}


def _with_grads(ex):
    y, cache = ref.forward(ex["params"], ex["x"])
    return {**ex, "grads": ref.backward(ex["params"], cache, ex["t"])}


def staged():
    return cases().map(_with_forward)


def with_grads():
    return cases().map(_with_grads)


def step_lowers_loss(ctx: Context, ex) -> None:
    """A small step along −(your gradient) lowers the loss, to first order: the gradient points
    uphill. Compares the directional derivative with the true one's sign."""
    params, cache, t = ex["params"], ex["cache"], ex["t"]
    grads = ctx.call("backward", params, cache, t)
    if not isinstance(grads, dict) or set(grads) != set(KEYS):
        raise Mismatch(f"backward should return a dict with the keys {', '.join(KEYS)}")
    true = ref.backward(params, ref.ShallowCache(*cache.fields), t)
    along = sum(float((assert_plain_tensor(grads[k], GRAD_NAMES[k]).double() * true[k].double()).sum()) for k in KEYS)
    norm = sum(float(true[k].double().pow(2).sum()) for k in KEYS)
    if norm > 1e-10 and along <= 0:
        raise Mismatch("a small step along minus your gradient does not lower the loss: your gradients "
                       "point downhill (check the signs of δ and of the update)", inner_product=along)


def sigmoid_in_range(ctx: Context, ex) -> None:
    """σ(a) stays in [0, 1] and is finite even for large |a| (no overflow)."""
    got = assert_plain_tensor(ctx.call("sigmoid", ex["a"]), "sigmoid's result")
    if not torch.isfinite(got).all() or (got < 0).any() or (got > 1).any():
        raise Mismatch("sigmoid returned values outside [0, 1] or NaN/inf for large inputs")


def small_float64():
    """Tiny float64 problems (every dimension ≤ 4) for finite differences."""
    return S.dims(batch=(1, 4), inputs=(1, 4), hidden=(1, 4), classes=(2, 4)).flatmap(
        lambda d: st.fixed_dictionaries({
            "params": st.fixed_dictionaries({
                "W1": S.weights(d.D, d.H, torch.float64), "b1": S.biases(d.D, d.H, torch.float64),
                "W2": S.weights(d.H, d.C, torch.float64), "b2": S.biases(d.H, d.C, torch.float64)}),
            "x": S.inputs(d.N, d.D, torch.float64), "t": S.one_hot_targets(d.N, d.C, torch.float64)}))


def finite_differences(ctx: Context, ex) -> None:
    """Your backward agrees with centred finite differences of your own forward and loss, in
    float64 (relative error < 1e-6 per parameter): forward, loss and backward are consistent."""
    params, x, t = ex["params"], ex["x"], ex["t"]

    def totals(points):  # the loss at every perturbed point: two exchanges with the sandbox
        outs = ctx.call_many("forward", [(p, x) for p in points])
        if not all(isinstance(out, tuple) and len(out) == 2 for out in outs):
            raise Mismatch("forward should return (y, cache)")
        values = [assert_plain_tensor(v, "loss's result") for v in ctx.call_many("loss", [(y, t) for y, _ in outs])]
        if any(v.numel() != 1 for v in values):
            raise Mismatch("loss should return a single number (a tensor with one element)")
        return values

    out = ctx.call("forward", params, x)
    if not isinstance(out, tuple) or len(out) != 2:
        raise Mismatch("forward should return (y, cache)")
    cache = out[1]
    fields = tuple(cache) if isinstance(cache, tuple) else None
    if fields is None or len(fields) != 3:
        raise Mismatch("forward's cache should hold (x, h, y)")
    grads = ctx.call("backward", params, Struct("ShallowCache", fields), t)
    if not isinstance(grads, dict):
        raise Mismatch(f"backward should return a dict with the keys {', '.join(KEYS)}")
    errors = relative_errors(grads, numerical_gradients_batch(totals, params))
    bad = {k: e for k, e in errors.items() if not e < REL_TOLERANCE}
    if bad:
        listed = ", ".join(f"{k}: {e:.2g}" for k, e in bad.items())
        raise Mismatch(f"backward disagrees with finite differences of your forward and loss "
                       f"(relative error {listed}; should be < {REL_TOLERANCE:g} in float64)", relative_errors=errors)


BACKWARD = ("params", "cache", "t")
ASSIGNMENT = Assignment(
    name="tp2_shallow",
    policy=NO_AUTOGRAD_NO_NN,
    signatures={"sigmoid": "sigmoid(a)", "sigmoid_derivative": "sigmoid_derivative(h)",
                "forward": "forward(params, x)", "loss": "loss(y, t)", "output_delta": "output_delta(y, t)",
                "hidden_delta": "hidden_delta(delta2, W2, h)", "backward": "backward(params, cache, t)",
                "update": "update(params, grads, lr)"},
    checks=(
        Check("matches_reference", "sigmoid", "sigmoid computes 1 / (1 + exp(−a))",
              matches(ref.sigmoid, ("a",)), S.dims().flatmap(lambda d: S.pre_activations((d.N, d.H))).map(
                  lambda a: {"a": a}), points=1),
        Check("saturates", "sigmoid", "sigmoid stays in [0, 1] for large inputs", sigmoid_in_range,
              st.just({"a": torch.tensor([[-500.0, -50.0, 0.0, 50.0, 500.0]])}), points=0.5),
        Check("matches_reference", "sigmoid_derivative", "sigmoid_derivative(h) = h (1 − h), from the activation",
              matches(ref.sigmoid_derivative, ("h",)), staged(), points=1),
        Check("matches_reference", "forward", "forward returns y and the cache (x, h, y)",
              matches(ref.forward, ("params", "x"), outputs={"0": "y", "1.1": "the cached h"}),
              cases(), points=2),
        Check("matches_reference", "loss", "loss = 1/N Σ ½ Σ (t − y)²",
              matches(ref.loss, ("y", "t")), staged(), points=1),
        Check("matches_reference", "output_delta", "δ2 = t − y2", matches(ref.output_delta, ("y", "t")),
              staged(), points=1),
        Check("matches_reference", "hidden_delta", "δ1 = y1 (1 − y1) · (δ2 W2ᵀ)",
              matches(ref.hidden_delta, ("delta2", "W2", "h")), staged(), points=1),
        Check("matches_reference", "backward", "backward returns the gradient of the loss for every parameter",
              matches(ref.backward, BACKWARD, outputs=GRAD_NAMES, reference_types=TYPES), staged(), points=3),
        Check("descent_direction", "backward", "a small step along −gradient lowers the loss",
              step_lowers_loss, staged(), points=1, hidden=False),
        Check("finite_differences", "backward", "backward agrees with finite differences of forward and loss (float64)",
              finite_differences, small_float64(), points=1, needs=("forward", "loss"), max_examples=10),
        Check("no_mutation", "backward", "backward leaves its arguments unchanged",
              does_not_mutate(BACKWARD), staged(), points=0.5),
        Check("matches_reference", "update", "update returns params − η · grads",
              matches(ref.update, ("params", "grads", "lr")), with_grads(), points=1),
        Check("no_mutation", "update", "update leaves its arguments unchanged",
              does_not_mutate(("params", "grads", "lr")), with_grads(), points=0.5),
        forbidden_api_check(points=1),
    ),
    # Reference with these budgets (tests/test_threshold.py): 0.941 on mnist-sample, 0.964 on mnist.
    threshold=Threshold(
        recipe="shallow", title="trained with your forward, backward and update, the network reaches the accuracy goal",
        uses=("forward", "loss", "backward", "update", WHOLE_SUBMISSION),
        budgets={"mnist-sample": dict(epochs=10, batch_size=32, lr=0.1, hidden=128, hidden_lr_scale=200.0,
                                      schedule="cosine", warmup=0.2, seed=0),
                 "mnist": dict(epochs=3, batch_size=64, lr=0.2, hidden=256, hidden_lr_scale=200.0,
                               schedule="cosine", warmup=0.2, seed=0)},
        minimum={"mnist-sample": 0.90, "mnist": 0.92},
        init=lambda D, C, b: ref.init_params(D, b["hidden"], C, generator=torch.Generator().manual_seed(b["seed"])),
        points=2, seconds=120),
)
