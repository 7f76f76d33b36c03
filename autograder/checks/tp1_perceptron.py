"""Hidden checks of ``tp1_perceptron``: the perceptron (delta) rule, without autograd or nn.

Notebook API (the reference's, :mod:`reference.tp1_perceptron`):
``forward(params, x) -> y``, ``update(params, x, t, lr) -> new params``,
``predict(params, x) -> labels``, with params ``{"W": (D, C), "b": (C,)}``.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import strategies as S
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context, matches
from autograder.checks.common import does_not_mutate, forbidden_api_check
from tpcheck.compare import Mismatch, assert_plain_tensor
from tpcheck.forbidden import NO_AUTOGRAD_NO_NN
from autograder.checks.spec import Threshold
from reference import tp1_perceptron as ref


@st.composite
def cases(draw, *, batch=S.BATCH, dtype=torch.float32):
    """params drawn like an initialisation, inputs in [0, 1], one-hot targets, a learning rate."""
    n, d, _, c = draw(S.dims(batch=batch))
    return {
        "params": {"W": draw(S.weights(d, c, dtype)), "b": draw(S.biases(d, c, dtype))},
        "x": draw(S.inputs(n, d, dtype)),
        "t": draw(S.one_hot_targets(n, c, dtype)),
        "lr": draw(S.learning_rates()),
    }


def moves_toward_target(ctx: Context, ex) -> None:
    """One update with a small η on a single example brings every output closer to its target
    (|t_i − y_i| never grows, and shrinks where it was not already 0)."""
    params, x, t, lr = ex["params"], ex["x"], ex["t"], ex["lr"]
    before = (t - ref.forward(params, x)).abs()
    new = ctx.call("update", params, x, t, lr)
    if not isinstance(new, dict) or set(new) != {"W", "b"}:
        raise Mismatch("update should return a dict with the keys 'W' and 'b'")
    after = (t - ref.forward({k: assert_plain_tensor(new[k], f"params[{k!r}]") for k in ("W", "b")}, x)).abs()
    worse = after > before + 1e-6
    if worse.any():
        i = int(worse.flatten().nonzero()[0])
        raise Mismatch(f"after one update with η = {lr}, output {i} moved away from its target "
                       f"(|t − y| went from {float(before.flatten()[i]):.4g} to {float(after.flatten()[i]):.4g}): "
                       f"check the sign of the update", output=i)


def predicts_argmax(ctx: Context, ex) -> None:
    """predict returns the index of the largest output (rows with a near-tie are not judged)."""
    params, x = ex["params"], ex["x"]
    y = ref.forward(params, x)
    got = assert_plain_tensor(ctx.call("predict", params, x), "predict's result")
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


UPDATE = ("params", "x", "t", "lr")
ASSIGNMENT = Assignment(
    name="tp1_perceptron",
    policy=NO_AUTOGRAD_NO_NN,
    signatures={"forward": "forward(params, x)", "update": "update(params, x, t, lr)",
                "predict": "predict(params, x)"},
    checks=(
        Check("matches_reference", "forward", "forward computes y = x W + b",
              matches(ref.forward, ("params", "x")), cases(), points=2),
        Check("single_example", "update", "update applies Δw_ij = η x_j (t_i − y_i) to one example",
              matches(ref.update, UPDATE), cases(batch=(1, 1)), points=2),
        Check("matches_reference", "update", "update on a mini-batch averages the per-example changes",
              matches(ref.update, UPDATE), cases(), points=2),
        Check("moves_toward_target", "update", "an update moves each output toward its target",
              # η (|x|² + 1) < 2 for x in [0, 1]^D, D ≤ 32: one step cannot overshoot
              moves_toward_target, cases(batch=(1, 1)).map(lambda ex: {**ex, "lr": 0.01}),
              points=1, hidden=False),
        Check("no_mutation", "update", "update leaves its arguments unchanged",
              does_not_mutate(UPDATE), cases(), points=1),
        Check("argmax", "predict", "predict returns the class of the largest output",
              predicts_argmax, cases(), points=1),
        forbidden_api_check(points=1),
    ),
    # Reference with these budgets (tests/test_threshold.py): 0.860 on mnist-sample, 0.863 on mnist.
    threshold=Threshold(
        recipe="perceptron", title="trained with your update, the perceptron reaches the accuracy goal",
        uses=("forward", "update", "predict", WHOLE_SUBMISSION),
        budgets={"mnist-sample": dict(epochs=10, batch_size=64, lr=0.03, schedule="linear", seed=0),
                 "mnist": dict(epochs=2, batch_size=64, lr=0.03, schedule="linear", seed=0)},
        minimum={"mnist-sample": 0.80, "mnist": 0.80},
        init=lambda D, C, b: ref.init_params(D, C, scale=0.01, generator=torch.Generator().manual_seed(b["seed"])),
        points=2, seconds=60),
)
