"""Hidden checks of ``tp1_perceptron``: the perceptron (delta) rule, without autograd or nn.

Notebook API (the reference's, :mod:`reference.tp1_perceptron`):
``forward(params, x) -> y``, ``update(params, x, t, lr) -> new params``,
``predict(params, x) -> labels``, with params ``{"W": (D, C), "b": (C,)}``.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import strategies as S
from autograder.checks.common import does_not_mutate, forbidden_api_check
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context, Threshold, matches
from reference import tp1_perceptron as ref
from tpcheck import training
from tpcheck.parts import tp1_perceptron as part


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
    """An update moves each output toward its target, as the reference's forward judges
    (:func:`tpcheck.parts.tp1_perceptron.moves_toward_target`)."""
    part.moves_toward_target(lambda *a: ctx.call("update", *a), ctx.reference(ref.forward), ex)


def predicts_argmax(ctx: Context, ex) -> None:
    """predict returns the class of the reference's largest output
    (:func:`tpcheck.parts.tp1_perceptron.predicts_argmax`)."""
    part.predicts_argmax(lambda *a: ctx.call("predict", *a), ctx.reference(ref.forward), ex)


moves_toward_target.relative = predicts_argmax.relative = True  # type: ignore[attr-defined]  # blame: judged by ctx.reference
UPDATE = ("params", "x", "t", "lr")
ASSIGNMENT = Assignment(
    name=__name__.rpartition(".")[2],  # the assignment's name is its module's (autograder.registry)
    policy=part.POLICY,
    signatures={"forward": "forward(params, x)", "update": "update(params, x, t, lr)",
                "predict": "predict(params, x)"},
    checks=(
        Check("matches_reference", "forward", "forward computes y = x W + b",
              matches(ref.forward, ("params", "x")), cases(), points=2, fr="forward calcule y = x W + b"),
        Check("single_example", "update", "update applies Δw_ij = η x_j (t_i − y_i) to one example",
              matches(ref.update, UPDATE), cases(batch=(1, 1)), points=2,
              fr="update applique Δw_ij = η x_j (t_i − y_i) à un exemple"),
        Check("matches_reference", "update", "update on a mini-batch averages the per-example changes",
              matches(ref.update, UPDATE), cases(), points=2,
              fr="update sur un mini-lot moyenne les changements de chaque exemple"),
        Check("moves_toward_target", "update", "an update moves each output toward its target",
              # η (|x|² + 1) < 2 for x in [0, 1]^D, D ≤ 32: one step cannot overshoot
              moves_toward_target, cases(batch=(1, 1)).map(lambda ex: {**ex, "lr": 0.01}),
              points=1, hidden=False, fr="une mise à jour rapproche chaque sortie de sa cible"),
        Check("no_mutation", "update", "update leaves its arguments unchanged",
              does_not_mutate(UPDATE), cases(), points=1, fr="update laisse ses arguments inchangés"),
        Check("argmax", "predict", "predict returns the class of the largest output",
              predicts_argmax, cases(), points=1, fr="predict renvoie la classe de la plus grande sortie"),
        forbidden_api_check(points=1),
    ),
    # the budgets, and what the reference reaches with them: tpcheck/training.py
    threshold=Threshold(
        recipe="perceptron", english="trained with your update, the perceptron reaches the accuracy goal",
        uses=(*part.TRAINING_USES, WHOLE_SUBMISSION),
        budgets=training.budgets("tp1_perceptron"),  # shared with the notebook's experiment cell
        minimum={"mnist-sample": 0.80, "mnist": 0.80},
        init=lambda D, C, b: ref.init_params(D, C, scale=0.01, generator=torch.Generator().manual_seed(b["seed"])),
        points=2, seconds=60, fr="entraîné avec votre update, le perceptron atteint la précision visée"),
)
