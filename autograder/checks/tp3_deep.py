"""Hidden checks of ``tp3_deep``: a deep MLP of any depth, trained with autograd.

Notebook API (the reference's, :mod:`reference.tp3_deep`):
``init_params(sizes, *, activation="relu", generator=None) -> params`` with
``{"W1", "b1", …, "WL", "bL"}``, W_l (sizes[l-1], sizes[l]), leaves with ``requires_grad``, drawn
from ``generator`` (sent as a :class:`~tpcheck.boundary.Seeded`) at the He scale for relu and gelu,
Xavier for sigmoid and tanh; ValueError on an unknown activation or invalid sizes;
``forward(params, x, activation) -> logits (N, C)``;
``train_step(params, optimizer, x, labels, *, activation, loss) -> float`` (the 5-step loop).
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import strategies as S
from autograder.checks.spec import Assignment, Check, Context, Threshold, matches
from autograder.submission import StudentRaised
from reference import tp3_deep as ref
from tpcheck import training
from tpcheck.boundary import Optimizer, Seeded, Trainable
from tpcheck.compare import Mismatch, compare_outputs, describe
from tpcheck.optim import make_optimizer
from tpcheck.parts import tp3_deep as part

ACTIVATIONS = tuple(ref.ACTIVATIONS)


@st.composite
def networks(draw, *, dtype=torch.float32):
    sizes = draw(S.layer_sizes())
    n = draw(st.integers(*S.BATCH))
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = draw(S.weights(fan_in, fan_out, dtype))
        params[f"b{l}"] = draw(S.biases(fan_in, fan_out, dtype))
    return {
        "sizes": sizes, "params": params, "x": draw(S.inputs(n, sizes[0], dtype)),
        "labels": draw(S.labels(n, sizes[-1])), "activation": draw(st.sampled_from(ACTIVATIONS)),
        "loss": draw(st.sampled_from(tuple(ref.LOSSES))), "optimizer": draw(st.sampled_from(ref.OPTIMIZERS)),
        "lr": draw(st.sampled_from((0.1, 0.01))),
    }


def init_shapes(ctx: Context, ex) -> None:
    """Every layer gets W_l (sizes[l-1], sizes[l]) and b_l (sizes[l],), for any depth
    (:func:`tpcheck.parts.tp3_deep.init_shapes`)."""
    part.init_shapes(lambda *a: ctx.call("init_params", *a), ex)


def init_random_leaves(ctx: Context, ex) -> None:
    """Weights are random, finite, trainable leaves (:func:`tpcheck.parts.tp3_deep.init_random_leaves`)."""
    part.init_random_leaves(lambda *a: ctx.call("init_params", *a), ex)


@st.composite
def seeded_networks(draw, *, scale=False):
    """sizes (each in :data:`tpcheck.parts.tp3_deep.SCALE_SIZES` when ``scale``), an activation, a seed."""
    bounds = part.SCALE_SIZES if scale else None
    sizes = draw(S.layer_sizes(depth=(1, 3), inputs=bounds, hidden=bounds, classes=bounds) if scale else S.layer_sizes())
    return {"sizes": sizes, "activation": draw(st.sampled_from(ACTIVATIONS)), "seed": draw(st.integers(0, 2**31 - 2))}


def _seeded(ctx: Context):
    return lambda sizes, activation, seed: ctx.call("init_params", sizes, activation=activation, generator=Seeded(seed))


def init_generator(ctx: Context, ex) -> None:
    """Generators seeded alike give equal parameters, other seeds other weights
    (:func:`tpcheck.parts.tp3_deep.init_seeded`; the sandbox reseeds the global random state
    before every call, so an init that ignores its generator gives one set of weights)."""
    part.init_seeded(_seeded(ctx), ex)


def init_scale(ctx: Context, ex) -> None:
    """He for relu and gelu, Xavier for sigmoid and tanh, on layers large enough to tell
    (:func:`tpcheck.parts.tp3_deep.init_scale`)."""
    part.init_scale(_seeded(ctx), ex)


def init_raises(ctx: Context, ex) -> None:
    """ValueError on an unknown activation or invalid sizes (:func:`tpcheck.parts.tp3_deep.init_raises`)."""
    def raised(sizes, activation):
        try:
            ctx.call("init_params", sizes, activation=activation)
        except StudentRaised as e:
            if e.not_implemented:
                raise
            return e.exc_type
        return None

    part.init_raises(raised, ex)


init_raises.expects_raise = True  # its calls must raise: the checks' fast path cannot batch them


def forward_tracks_gradients(ctx: Context, ex) -> None:
    """forward's logits, from trainable parameters, carry the autograd graph back to them (the
    wire carries requires_grad and grad_fn as plain flags): a forward that detaches its layers
    would leave loss.backward() nothing to fill."""
    params = {k: Trainable(v) for k, v in ex["params"].items()}
    out = ctx.call("forward", params, ex["x"], ex["activation"])
    if isinstance(out, torch.Tensor) and not (out.requires_grad and out.grad_fn is not None):
        raise Mismatch("forward's output does not track gradients back to the parameters: compute it with torch "
                       "operations on params, without .detach(), .data, .numpy() or torch.no_grad(), or "
                       "loss.backward() cannot reach the weights", tracks_gradients=False)


def _accumulated_step(ex, stale):
    params = {k: v.detach().clone().requires_grad_(True) for k, v in ex["params"].items()}
    for k in params:
        params[k].grad = stale[k].clone()
    opt = make_optimizer(params, ex["optimizer"], ex["lr"])
    value = ref.loss_fn(ex["loss"])(ref.forward(params, ex["x"], ex["activation"]), ex["labels"])
    value.backward()  # no zero_grad: the stale gradients add up
    opt.step()
    return {k: v.detach() for k, v in params.items()}


def one_step(ctx: Context, ex) -> None:
    """One train_step changes the parameters exactly as the reference step does (same batch,
    same optimizer), starting from stale gradients that the step must zero first."""
    stale = {k: torch.ones_like(v) for k, v in ex["params"].items()}
    args = ({k: Trainable(v, stale[k]) for k, v in ex["params"].items()},
            Optimizer(ex["optimizer"], ex["lr"]), ex["x"], ex["labels"])
    call = ctx.call_tracking("train_step", *args, activation=ex["activation"], loss=ex["loss"])
    after = call.inputs_after[0]
    expected = {k: v.detach().clone().requires_grad_(True) for k, v in ex["params"].items()}
    opt = make_optimizer(expected, ex["optimizer"], ex["lr"])
    value = ref.train_step(expected, opt, ex["x"], ex["labels"], activation=ex["activation"], loss=ex["loss"])
    forgot = _accumulated_step(ex, stale)
    if not isinstance(after, dict) or set(after) != set(expected):
        raise Mismatch(f"train_step should update the parameters in place; they are now {describe(after)}")
    try:
        compare_outputs({k: after[k].detach() for k in expected}, {k: v.detach() for k, v in expected.items()},
                        {k: f"{k} after the step" for k in expected})  # every wrong parameter named
    except Mismatch as m:
        if all(torch.allclose(after[k].detach(), forgot[k], rtol=1e-4, atol=1e-5) for k in forgot):
            raise Mismatch("the step used gradients left over from a previous step: call "
                           "optimizer.zero_grad() before loss.backward()", zero_grad=False) from None
        raise m
    if not isinstance(call.output, float) or abs(call.output - value) > 1e-4 * max(1.0, abs(value)):
        raise Mismatch(f"train_step should return the loss before the step as a Python float "
                       f"({value:.6g}); got {call.output!r}", expected=value)


def _step_case(ex) -> dict:
    """One example of :func:`one_step` for the students' example bank (:mod:`tpcheck.bank`): the
    same arguments (parameters with stale gradients, an optimizer to build over them), the loss
    the reference returns, and the parameters it leaves after the step."""
    stale = {k: torch.ones_like(v) for k, v in ex["params"].items()}
    expected = {k: v.detach().clone().requires_grad_(True) for k, v in ex["params"].items()}
    opt = make_optimizer(expected, ex["optimizer"], ex["lr"])
    value = ref.train_step(expected, opt, ex["x"], ex["labels"], activation=ex["activation"], loss=ex["loss"])
    return {"args": ({k: Trainable(v, stale[k]) for k, v in ex["params"].items()},
                     Optimizer(ex["optimizer"], ex["lr"]), ex["x"], ex["labels"]),
            "kwargs": {"activation": ex["activation"], "loss": ex["loss"]},
            "expected": value, "outputs": None, "after": {0: {k: v.detach() for k, v in expected.items()}}}


def bank_networks() -> list[dict]:
    """The fixed examples of the students' bank for forward and train_step: depths 4, 3, 2 and 1,
    every activation, optimizer and loss (a few draws of :func:`networks` are mostly one layer).
    Values drawn like :mod:`autograder.checks.strategies`' with a seeded generator: the same every release."""
    g = torch.Generator().manual_seed(0)

    def uniform(bound, *shape):
        return (torch.rand(*shape, generator=g) * 2 - 1) * bound

    examples = []
    for sizes, n, activation, loss, optimizer, lr in (
        ([5, 4, 4, 3, 3], 4, "gelu", "cross_entropy", "adagrad", 0.1),
        ([6, 5, 4, 3], 5, "relu", "cross_entropy", "sgd", 0.1),
        ([4, 6, 3], 3, "tanh", "mse", "adam", 0.01),
        ([3, 2], 2, "sigmoid", "mse", "sgd", 0.1),  # one layer: no activation at all
    ):
        params = {}
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            params[f"W{l}"] = uniform(fan_in ** -0.5, fan_in, fan_out)
            params[f"b{l}"] = uniform(fan_in ** -0.5, fan_out)
        x = torch.rand(n, sizes[0], generator=g)
        labels = torch.randint(0, sizes[-1], (n,), generator=g)
        examples.append({"sizes": sizes, "params": params, "x": x, "labels": labels, "activation": activation,
                         "loss": loss, "optimizer": optimizer, "lr": lr})
    return examples


one_step.bank_case = _step_case  # type: ignore[attr-defined]
one_step.relative = False  # type: ignore[attr-defined]  # blame: a step through autograd cannot use a remote forward
one_step.bank_examples = bank_networks  # type: ignore[attr-defined]
forward_matches = matches(ref.forward, ("params", "x", "activation"))
forward_matches.bank_examples = bank_networks  # type: ignore[attr-defined]


ASSIGNMENT = Assignment(
    name=__name__.rpartition(".")[2],  # the assignment's name is its module's (autograder.registry)
    signatures={"init_params": "init_params(sizes)", "forward": "forward(params, x, activation)",
                "train_step": "train_step(params, optimizer, x, labels, *, activation, loss)"},
    checks=(
        Check("shapes", "init_params", "init_params gives every layer its weights and biases, for any depth",
              init_shapes, networks(), points=1, hidden=False,
              fr="init_params donne à chaque couche ses poids et biais, pour toute profondeur"),
        Check("random_trainable", "init_params", "weights are random, trainable leaves; no two units identical",
              init_random_leaves, networks(), points=1,
              fr="les poids sont des feuilles aléatoires et entraînables ; aucune paire d'unités identique"),
        Check("generator", "init_params", "init_params draws its weights from the generator it is given",
              init_generator, seeded_networks(), points=1, max_examples=10,
              fr="init_params tire ses poids du générateur qu'on lui donne"),
        Check("scale", "init_params", "He initialisation for relu and gelu, Xavier for sigmoid and tanh; zero biases",
              init_scale, seeded_networks(scale=True), points=1, max_examples=5,
              fr="initialisation de He pour relu et gelu, de Xavier pour sigmoid et tanh ; biais nuls"),
        Check("raises", "init_params", "init_params raises ValueError on an unknown activation or invalid sizes",
              init_raises, seeded_networks(), points=1, max_examples=3,
              fr="init_params lève ValueError pour une activation inconnue ou des tailles invalides"),
        Check("matches_reference", "forward", "forward applies the activation between layers, not after the last",
              forward_matches, networks(), points=3, fr="forward applique l'activation entre les couches, pas après la dernière"),
        Check("tracks_gradients", "forward", "forward keeps the autograd graph from the parameters to the logits",
              forward_tracks_gradients, networks(), points=1, max_examples=5,
              fr="forward garde le graphe autograd des paramètres jusqu'aux logits"),
        Check("matches_reference", "train_step", "train_step: forward, loss, zero_grad, backward, step",
              one_step, networks(), points=3, fr="train_step : forward, loss, zero_grad, backward, step"),
    ),
    # the budgets, and what the reference reaches with them: tpcheck/training.py
    threshold=Threshold(
        recipe="deep", english="trained with your forward and train_step, the network reaches the accuracy goal",
        uses=part.TRAINING_USES,
        budgets=training.budgets("tp3_deep"),  # shared with the notebook's experiment cell
        minimum={"mnist-sample": 0.90, "mnist": 0.95},
        init=lambda D, C, b: {k: v.detach() for k, v in ref.init_params(
            [D, *b["hidden"], C], generator=torch.Generator().manual_seed(b["seed"])).items()},
        points=2, seconds=120, fr="entraîné avec vos forward et train_step, le réseau atteint la précision visée"),
)
