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
from autograder.checks.common import does_not_mutate, forbidden_api_check
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context, Threshold, matches
from reference import tp2_shallow as ref
from tpcheck import training
from tpcheck.boundary import Struct
from tpcheck.compare import Mismatch, assert_plain_tensor
from tpcheck.parts import tp2_shallow as part

TYPES = {"ShallowCache": ref.ShallowCache}
KEYS = part.KEYS
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
    true = ctx.reference(ref.backward)(params, ref.ShallowCache(*cache.fields), t)
    wrong = [f"{GRAD_NAMES[k]} has shape {tuple(grads[k].shape)}, expected {tuple(true[k].shape)}"
             for k in KEYS if tuple(assert_plain_tensor(grads[k], GRAD_NAMES[k]).shape) != tuple(true[k].shape)]
    if wrong:  # a shape bug is a shape bug, never a crash of the check
        raise Mismatch("; ".join(wrong), shapes={k: list(grads[k].shape) for k in KEYS})
    along = sum(float((grads[k].double() * true[k].double()).sum()) for k in KEYS)
    norm = sum(float(true[k].double().pow(2).sum()) for k in KEYS)
    if norm > 1e-10 and along <= 0:
        raise Mismatch("a small step along minus your gradient does not lower the loss: your gradients "
                       "point downhill (check the signs of δ and of the update)", inner_product=along)


def sigmoid_in_range(ctx: Context, ex) -> None:
    """σ(a) stays in [0, 1] for large |a| (:func:`tpcheck.parts.tp2_shallow.sigmoid_in_range`)."""
    part.sigmoid_in_range(lambda *a: ctx.call("sigmoid", *a), ex)


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
    float64 (:func:`tpcheck.parts.tp2_shallow.finite_differences`); every perturbed point costs
    one exchange with the sandbox per function."""
    part.finite_differences(ctx.needed("forward", ref.forward), ctx.needed("loss", ref.loss),
                            lambda p, cache, t: ctx.call("backward", p, Struct("ShallowCache", tuple(cache)), t), ex,
                            forward_many=ctx.needed_many("forward", ref.forward),
                            loss_many=ctx.needed_many("loss", ref.loss))


# blame (autograder.checks.spec): these judge through ctx.reference / ctx.needed
step_lowers_loss.relative = sigmoid_in_range.relative = True  # type: ignore[attr-defined]
finite_differences.relative = "needs"  # type: ignore[attr-defined]  # true forward and loss; backward's callees are its own


BACKWARD = ("params", "cache", "t")
ASSIGNMENT = Assignment(
    name=__name__.rpartition(".")[2],  # the assignment's name is its module's (autograder.registry)
    policy=part.POLICY,
    signatures={"sigmoid": "sigmoid(a)", "sigmoid_derivative": "sigmoid_derivative(h)",
                "forward": "forward(params, x)", "loss": "loss(y, t)", "output_delta": "output_delta(y, t)",
                "hidden_delta": "hidden_delta(delta2, W2, h)", "backward": "backward(params, cache, t)",
                "update": "update(params, grads, lr)"},
    checks=(
        Check("matches_reference", "sigmoid", "sigmoid computes 1 / (1 + exp(−a))",
              matches(ref.sigmoid, ("a",)), S.dims().flatmap(lambda d: S.pre_activations((d.N, d.H))).map(
                  lambda a: {"a": a}), points=1, fr="sigmoid calcule 1 / (1 + exp(−a))"),
        Check("saturates", "sigmoid", "sigmoid stays in [0, 1] for large inputs", sigmoid_in_range,
              st.just({"a": torch.tensor([[-500.0, -50.0, 0.0, 50.0, 500.0]])}), points=0.5,
              fr="sigmoid reste dans [0, 1] pour de grandes entrées"),
        Check("matches_reference", "sigmoid_derivative", "sigmoid_derivative(h) = h (1 − h), from the activation",
              matches(ref.sigmoid_derivative, ("h",)), staged(), points=1,
              fr="sigmoid_derivative(h) = h (1 − h), à partir de l'activation"),
        Check("matches_reference", "forward", "forward returns y and the cache (x, h, y)",
              matches(ref.forward, ("params", "x"), outputs={"0": "y", "1.1": "the cached h"}),
              cases(), points=2, fr="forward renvoie y et le cache (x, h, y)"),
        Check("matches_reference", "loss", "loss = 1/N Σ ½ Σ (t − y)²",
              matches(ref.loss, ("y", "t")), staged(), points=1, fr="loss calcule 1/N Σ ½ Σ (t − y)²"),
        Check("no_mutation", "loss", "loss leaves its arguments unchanged", does_not_mutate(("y", "t")),
              staged(), points=0.5, fr="loss laisse ses arguments inchangés"),
        Check("matches_reference", "output_delta", "δ2 = t − y2", matches(ref.output_delta, ("y", "t")),
              staged(), points=1, fr="output_delta calcule δ2 = t − y2"),
        Check("no_mutation", "output_delta", "output_delta leaves its arguments unchanged",
              does_not_mutate(("y", "t")), staged(), points=0.5, fr="output_delta laisse ses arguments inchangés"),
        Check("matches_reference", "hidden_delta", "δ1 = y1 (1 − y1) · (δ2 W2ᵀ)",
              matches(ref.hidden_delta, ("delta2", "W2", "h")), staged(), points=1,
              fr="hidden_delta calcule δ1 = y1 (1 − y1) · (δ2 W2ᵀ)"),
        Check("matches_reference", "backward", "backward returns the gradient of the loss for every parameter",
              matches(ref.backward, BACKWARD, outputs=GRAD_NAMES, reference_types=TYPES), staged(), points=3,
              fr="backward renvoie le gradient de la perte pour chaque paramètre"),
        Check("descent_direction", "backward", "a small step along −gradient lowers the loss",
              step_lowers_loss, staged(), points=1, hidden=False, fr="un petit pas selon −gradient fait baisser la perte"),
        Check("finite_differences", "backward", "backward agrees with finite differences of forward and loss (float64)",
              finite_differences, small_float64(), points=1, needs=("forward", "loss"), max_examples=10,
              fr="backward concorde avec les différences finies de forward et loss (float64)"),
        Check("no_mutation", "backward", "backward leaves its arguments unchanged",
              does_not_mutate(BACKWARD), staged(), points=0.5, fr="backward laisse ses arguments inchangés"),
        Check("matches_reference", "update", "update returns params − η · grads",
              matches(ref.update, ("params", "grads", "lr")), with_grads(), points=1, fr="update renvoie params − η · grads"),
        Check("no_mutation", "update", "update leaves its arguments unchanged",
              does_not_mutate(("params", "grads", "lr")), with_grads(), points=0.5, fr="update laisse ses arguments inchangés"),
        forbidden_api_check(points=1),
    ),
    # the budgets, and what the reference reaches with them: tpcheck/training.py
    threshold=Threshold(
        recipe="shallow", english="trained with your forward, backward and update, the network reaches the accuracy goal",
        uses=(*part.TRAINING_USES, WHOLE_SUBMISSION),
        budgets=training.budgets("tp2_shallow"),  # shared with the notebook's experiment cell
        minimum={"mnist-sample": 0.90, "mnist": 0.92},
        init=lambda D, C, b: ref.init_params(D, b["hidden"], C, generator=torch.Generator().manual_seed(b["seed"])),
        points=2, seconds=120, fr="entraîné avec vos forward, backward et update, le réseau atteint la précision visée"),
)
