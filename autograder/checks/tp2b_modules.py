"""Hidden checks of ``tp2b_modules``: the network as an assembly of modules, each with its own
forward and backward (no autograd, no nn).

Notebook API (the reference's, :mod:`reference.tp2b_modules`): classes ``Linear(D, M, *,
generator=None, dtype=torch.float32)``, ``Sigmoid()``, ``Tanh()``, ``ReLU()``, ``GELU()``,
``Dropout(p, *, seed=None)``, ``SoftmaxCrossEntropy()``, ``MSE()``, ``Sequential(modules)``, each
with ``forward``, ``backward``, ``params()``, ``grads()``, ``train()``/``eval()`` (the given base
class ``Module``), and the function ``sgd_step(params, grads, lr)`` (in place).

**The graded units are classes; their objects never leave the sandbox.** Every check of a class
goes through a probe (:mod:`tpworker.probes`): ``layer`` builds the student's class on the
student's side from plain arguments, copies the grader's parameter values into the tensors its
``params()`` returns, and runs ``forward``/``backward`` on the grader's inputs; ``sequential``
runs the student's ``Sequential`` over tracer modules of ours, so that it is judged apart from
the student's other modules (one bug costs its points once). Only tensors, numbers and strings
come back; the grader compares them with the reference built here. The probe runs the student's
calls under the part's forbidden-API recorder and reports what it recorded: evidence when it
finds something, never proof of absence, as everywhere (the static scan stays). ``sgd_step`` is a
plain function: called through the wire like Part 2's, its in-place update read from outside
the student's process.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from hypothesis import strategies as st

from autograder.checks import strategies as S
from autograder.checks.common import forbidden_api_check
from autograder.checks.spec import WHOLE_SUBMISSION, Assignment, Check, Context, Threshold
from autograder.submission import StudentRaised
from reference import tp2b_modules as ref
from tpcheck.compare import Mismatch, assert_close, describe, flatten
from tpcheck.forbidden import graph_leaks
from tpcheck.parts import tp2b_modules as part
from tpworker.probes import tracers

PROBE_SECONDS = 20.0
SEEDS = st.integers(0, 2**16 - 1)
ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU", "GELU")


# --- through the probe ---------------------------------------------------------------------------


def _probe(ctx: Context, probe: str, data: dict[str, Any], function: str) -> dict:
    data = {**data, "policy": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(ctx.policy).items()}}
    try:
        out = ctx.submission.probe(probe, data, PROBE_SECONDS)
    except StudentRaised as e:
        raise StudentRaised(function, e.exc_type, e.text) from None
    if not isinstance(out, dict):
        raise Mismatch(f"{function}: the probe answered {describe(out)}, not a dict")
    forbidden = [str(f) for f in out.get("forbidden") or []]
    if forbidden:
        raise Mismatch(f"{function} called {', '.join(sorted(set(forbidden)))}, which this part does not allow "
                       f"({ctx.policy.why})", forbidden=sorted(set(forbidden)))
    leaks = graph_leaks({k: v for k, v in flatten(out).items() if isinstance(v, torch.Tensor)})
    if ctx.policy.modules and leaks:
        raise Mismatch(f"{function} returned tensors that carry an autograd graph: {ctx.policy.why}",
                       autograd_outputs=leaks)
    return out


def _runner(ctx: Context, name: str, args=(), kwargs=None, *, params=None, mode="train", dtype=None):
    """A :data:`tpcheck.parts.tp2b_modules.Runner` over the student's class, through the probe
    (each call builds the module afresh, with the same seed)."""

    def run(runs: list[dict]) -> list[dict]:
        data = {"name": name, "args": list(args), "kwargs": dict(kwargs or {}), "seed": 0, "mode": mode, "runs": runs}
        if params:
            data["params"] = params
        if dtype is not None:
            data["dtype"] = str(dtype).replace("torch.", "")
        out = _probe(ctx, "layer", data, name)
        answers = out.get("runs")
        if not isinstance(answers, (list, tuple)) or len(answers) != len(runs) or not all(isinstance(a, dict) for a in answers):
            raise Mismatch(f"{name}: the probe's answers could not be read back")
        run.initial = out.get("initial")  # type: ignore[attr-defined]
        return list(answers)

    return run


def _reference(name: str, args=(), kwargs=None, params=None, mode="train"):
    module = getattr(ref, name)(*args, **(kwargs or {}))
    for k, v in (params or {}).items():
        module.params()[k].copy_(v)
    return module.train(mode == "train")


# --- strategies ------------------------------------------------------------------------------------


def _away_from_zero(x: torch.Tensor) -> torch.Tensor:
    """ReLU's inputs kept off its kink (where the derivative is a convention) and FD's reach."""
    return torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)


@st.composite
def layers(draw, name: str, *, dtype=torch.float32, small=False):
    bounds = (1, 4) if small else S.DIMS
    n = draw(st.integers(*((1, 4) if small else S.BATCH)))
    d = draw(st.integers(*bounds))
    m = draw(st.integers(*bounds)) if name == "Linear" else d
    if name == "Linear":
        x = draw(S.tensors((n, d), dtype=dtype))
        params = {"W": draw(S.weights(d, m, dtype)), "b": draw(S.biases(d, m, dtype))}
    else:
        x = draw(S.tensors((n, d), low=-5.0, high=5.0, dtype=dtype))
        params = {}
    if name == "ReLU":
        x = _away_from_zero(x)
    return {"args": (d, m) if name == "Linear" else (), "params": params, "x": x,
            "delta": draw(S.tensors((n, m), dtype=dtype))}


@st.composite
def losses(draw, name: str, *, dtype=torch.float32, small=False):
    n = draw(st.integers(*((1, 4) if small else S.BATCH)))
    c = draw(st.integers(*((2, 4) if small else S.CLASSES)))
    if name == "SoftmaxCrossEntropy":
        return {"z": draw(S.tensors((n, c), low=-10.0, high=10.0, dtype=dtype)), "target": draw(S.labels(n, c))}
    return {"z": draw(S.tensors((n, c), low=-2.0, high=2.0, dtype=dtype)), "target": draw(S.one_hot_targets(n, c, dtype))}


LARGE_LOGITS = {"z": torch.tensor([[1000.0, 0.0, -1000.0], [500.0, 500.0, 0.0], [-800.0, -900.0, -1000.0]]),
                "target": torch.tensor([0, 1, 2])}


# --- layers and losses -------------------------------------------------------------------------------


def _one(ctx: Context, name: str, ex: dict, *, backward: bool) -> tuple[dict, Any]:
    is_loss = name in part.LOSSES
    inputs = [ex["z"], ex["target"]] if is_loss else [ex["x"]]
    params = ex.get("params") or None
    run = {"inputs": inputs, **({"backward": "loss" if is_loss else ex["delta"]} if backward else {})}
    got = _runner(ctx, name, ex.get("args", ()), params=params)([run])[0]
    expected = _reference(name, ex.get("args", ()), params=params)
    out = expected.forward(*[v.clone() for v in inputs])
    want = {"output": out}
    if backward:
        want["delta"] = expected.backward() if is_loss else expected.backward(ex["delta"].clone())
        want["grads"] = dict(expected.grads())
    return got, want


def forward_matches(name: str):
    def prop(ctx: Context, ex) -> None:
        got, want = _one(ctx, name, ex, backward=False)
        assert_close(got.get("output"), want["output"], f"{name}.forward's result")

    prop.argnames = ("x", "params") if name not in part.LOSSES else ("z", "target")  # type: ignore[attr-defined]
    return prop


def backward_matches(name: str):
    def prop(ctx: Context, ex) -> None:
        got, want = _one(ctx, name, ex, backward=True)
        wrt = "z" if name in part.LOSSES else "x"
        assert_close(got.get("delta"), want["delta"], f"{name}.backward's result (dL/d{wrt})")
        grads = got.get("grads") if isinstance(got.get("grads"), dict) else {}
        for k, v in want["grads"].items():
            if k not in grads:
                raise Mismatch(f"{name}.grads() should hold {k!r} after backward", missing=k)
            assert_close(grads[k], v, f"{name}.grads()[{k!r}]")

    prop.argnames = ("x", "params", "delta") if name not in part.LOSSES else ("z", "target")  # type: ignore[attr-defined]
    return prop


def gradcheck(name: str):
    def prop(ctx: Context, ex) -> None:
        is_loss = name in part.LOSSES
        example = ({"inputs": [ex["z"], ex["target"]]} if is_loss else
                   {"inputs": [ex["x"]], "params": ex.get("params") or {}, "delta": ex["delta"]})
        dtype = torch.float64 if name == "Linear" else None  # the one class that makes tensors of its own
        part.finite_differences(name, _runner(ctx, name, ex.get("args", ()), dtype=dtype), example)

    return prop


def linear_params(ctx: Context, ex) -> None:
    """Linear(D, M) holds params() {"W": (D, M), "b": (M,)} in float32, W random."""
    d, m = ex["args"]
    run = _runner(ctx, "Linear", (d, m))
    run([{"inputs": [ex["x"]]}])
    initial = run.initial if isinstance(run.initial, dict) else {}
    if set(initial) != {"W", "b"}:
        raise Mismatch(f"Linear({d}, {m}).params() should be {{'W': …, 'b': …}}, got keys {sorted(map(str, initial))}")
    for key, shape in (("W", (d, m)), ("b", (m,))):
        value = initial[key]
        if type(value) is not torch.Tensor or tuple(value.shape) != shape or value.dtype != torch.float32:
            raise Mismatch(f"Linear({d}, {m}).params()[{key!r}] should be a float32 tensor of shape {shape}, "
                           f"got {describe(value)}")
    if d * m > 1 and bool((initial["W"] == initial["W"].flatten()[0]).all()):
        raise Mismatch(f"Linear({d}, {m}): every weight starts equal; draw them at random (±1/√D)")


def softmax_stable(ctx: Context, ex) -> None:
    """Logits of ±1000 give a finite loss and gradient: the max is subtracted before exp."""
    got, want = _one(ctx, "SoftmaxCrossEntropy", ex, backward=True)
    value = got.get("output")
    if type(value) is torch.Tensor and not bool(torch.isfinite(value).all()):
        raise Mismatch("SoftmaxCrossEntropy.forward overflows on large logits (exp(1000) = inf): subtract "
                       "each row's max before exp (log-sum-exp)", overflow=True)
    assert_close(value, want["output"], "SoftmaxCrossEntropy.forward's result on large logits")
    assert_close(got.get("delta"), want["delta"], "SoftmaxCrossEntropy.backward's result on large logits")


# --- Dropout ---------------------------------------------------------------------------------------


@st.composite
def dropouts(draw):
    seed = draw(SEEDS)
    g = torch.Generator().manual_seed(seed + 1)  # not the stream of Dropout(p, seed=seed): x and the mask independent
    return {"p": draw(st.sampled_from((0.5, 0.1, 0.25, 0.75))), "seed": seed,
            "x": torch.rand(200, 50, generator=g) + 0.5, "delta": torch.randn(200, 50, generator=g)}


def dropout_train(ctx: Context, ex) -> None:
    part.dropout_train(_runner(ctx, "Dropout", (ex["p"],), {"seed": ex["seed"]}), ex["x"], ex["delta"], ex["p"])


def dropout_eval(ctx: Context, ex) -> None:
    part.dropout_eval(_runner(ctx, "Dropout", (ex["p"],), {"seed": ex["seed"]}, mode="eval"), ex["x"], ex["delta"], ex["p"])


# --- Sequential ------------------------------------------------------------------------------------


@st.composite
def chains(draw):
    n, m = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    w = lambda: draw(S.tensors((m,), low=0.5, high=2.0))  # noqa: E731
    c = lambda: draw(S.tensors((m,)))  # noqa: E731
    return {"ws": [w(), None, w()], "cs": [c(), c(), c()], "x": draw(S.tensors((n, m))), "delta": draw(S.tensors((n, m)))}


def _chain(ctx: Context, ex) -> tuple[dict, dict]:
    out = _probe(ctx, "sequential", {k: ex[k] for k in ("ws", "cs", "x", "delta")}, "Sequential")
    log: list = []
    modules = tracers([None if w is None else w.clone() for w in ex["ws"]], [c.clone() for c in ex["cs"]], log)
    model = ref.Sequential(modules)
    want = {"output": model.forward(ex["x"].clone()), "delta": model.backward(ex["delta"].clone()),
            "grads": dict(model.grads()), "log": log}
    return out, want


def _log(out: dict) -> list:
    log = out.get("log")
    return [tuple(e) for e in log] if isinstance(log, (list, tuple)) else []


def sequential_forward(ctx: Context, ex) -> None:
    """forward applies the modules in the order given, each on the previous one's output."""
    out, want = _chain(ctx, ex)
    calls = [e for e in _log(out) if e[0] == "forward"]
    if calls != [("forward", 0), ("forward", 1), ("forward", 2)]:
        raise Mismatch(f"Sequential.forward should call each module's forward once, first to last; it called "
                       f"{', '.join(f'{m}[{i}]' for m, i in calls) or 'none'}")
    assert_close(out.get("output"), want["output"], "Sequential.forward's result")


def sequential_backward(ctx: Context, ex) -> None:
    """backward goes through the modules in reverse order, each δ to the module before it."""
    out, want = _chain(ctx, ex)
    calls = [e for e in _log(out) if e[0] == "backward"]
    if calls != [("backward", 2), ("backward", 1), ("backward", 0)]:
        raise Mismatch(f"Sequential.backward should call each module's backward once, in reverse order (last "
                       f"module first: backward[2], backward[1], backward[0]); it called "
                       f"{', '.join(f'{m}[{i}]' for m, i in calls) or 'none'}", order=[list(c) for c in calls])
    assert_close(out.get("delta"), want["delta"], "Sequential.backward's result")
    grads = out.get("grads") if isinstance(out.get("grads"), dict) else {}
    for k, v in want["grads"].items():
        if k not in grads:
            raise Mismatch(f"Sequential.grads() should hold {k!r} (module index, then the module's own name)")
        assert_close(grads[k], v, f"Sequential.grads()[{k!r}]")


def sequential_params(ctx: Context, ex) -> None:
    """params()/grads() gather the modules' own tensors, keyed "<index>.<name>"."""
    out, want = _chain(ctx, ex)
    own = out.get("params") if isinstance(out.get("params"), dict) else {}
    grads = out.get("grads") if isinstance(out.get("grads"), dict) else {}
    expected = sorted(want["grads"])
    if sorted(own) != expected or sorted(grads) != expected:
        raise Mismatch(f"for modules [with w, without parameters, with w], Sequential.params() and grads() should "
                       f"have the keys {expected}; got {sorted(map(str, own))} and {sorted(map(str, grads))}")
    if not all(own.values()):
        raise Mismatch("Sequential.params() should return the modules' own tensors (not copies): sgd_step "
                       "updates them in place")


def sequential_modes(ctx: Context, ex) -> None:
    """train()/eval() reach every module (Dropout needs it)."""
    out, _ = _chain(ctx, ex)
    flags = [list(v) if isinstance(v, (list, tuple)) else v for v in (out.get("after_eval"), out.get("after_train"))]
    if flags != [[False, False, False], [True, True, True]]:
        raise Mismatch("Sequential.eval() and .train() should put every module in that mode (Dropout depends on it)")


# --- sgd_step --------------------------------------------------------------------------------------


@st.composite
def steps(draw):
    params, grads = {}, {}
    for i in range(draw(st.integers(1, 3))):
        shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
        params[f"{2 * i}.W"], grads[f"{2 * i}.W"] = draw(S.tensors(shape)), draw(S.tensors(shape))
    return {"params": params, "grads": grads, "lr": draw(S.learning_rates())}


def sgd_in_place(ctx: Context, ex) -> None:
    """sgd_step(params, grads, lr) sets every params[k] to params[k] − lr · grads[k], in place."""
    call = ctx.call_tracking("sgd_step", ex["params"], ex["grads"], ex["lr"])
    after, grads_after = call.inputs_after[0], call.inputs_after[1]
    try:
        for k, v in ex["params"].items():
            assert_close(after[k], v - ex["lr"] * ex["grads"][k], f"params[{k!r}] after sgd_step")
    except Mismatch:
        if all(type(after.get(k)) is torch.Tensor and torch.equal(after[k], v) for k, v in ex["params"].items()):
            raise Mismatch("sgd_step left params unchanged: update the tensors in place (p -= lr * g), so that the "
                           "modules holding them see the step", in_place=False) from None
        raise
    for k in ex["params"]:
        if not torch.equal(grads_after[k], ex["grads"][k]):
            raise Mismatch(f"sgd_step changed grads[{k!r}]: only params should change")


# --- the assignment --------------------------------------------------------------------------------


def _named_in_bank(prop):
    """A property whose function the students' bank names with no case: a class cannot be replayed
    as a call, but ``check("*")`` scans the functions the bank names (:mod:`tpcheck.student`)."""
    prop.bank_case = lambda ex: ex  # type: ignore[attr-defined]
    prop.bank_examples = lambda: []  # type: ignore[attr-defined]
    return prop


def _class_checks(name: str, *, forward_points: float, backward_points: float) -> tuple[Check, ...]:
    draw = losses if name in part.LOSSES else layers
    return (
        Check("forward", name, f"{name}.forward matches the reference", _named_in_bank(forward_matches(name)),
              draw(name),
              points=forward_points, max_examples=30, fr=f"{name}.forward correspond à la référence"),
        Check("backward", name, f"{name}.backward matches the reference (δ_in and grads)", backward_matches(name),
              draw(name), points=backward_points, max_examples=30,
              fr=f"{name}.backward correspond à la référence (δ_in et grads)"),
        Check("finite_differences", name, f"{name}.backward agrees with finite differences of forward (float64)",
              gradcheck(name), draw(name, dtype=torch.float64, small=True), points=1, hidden=False, max_examples=8,
              fr=f"{name}.backward concorde avec les différences finies de forward (float64)"),
    )


CLASSES = ("Linear", *ACTIVATIONS, "Dropout", "SoftmaxCrossEntropy", "MSE", "Sequential")
ASSIGNMENT = Assignment(
    name=__name__.rpartition(".")[2],  # the assignment's name is its module's (autograder.registry)
    policy=part.POLICY,
    signatures={"Linear": "Linear(D, M, *, generator=None, dtype=torch.float32)", "Sigmoid": "Sigmoid()",
                "Tanh": "Tanh()", "ReLU": "ReLU()", "GELU": "GELU()", "Dropout": "Dropout(p, *, seed=None)",
                "SoftmaxCrossEntropy": "SoftmaxCrossEntropy()", "MSE": "MSE()", "Sequential": "Sequential(modules)",
                "sgd_step": "sgd_step(params, grads, lr)"},
    checks=(
        Check("params", "Linear", "Linear(D, M) holds W (D, M), random, and b (M,)", linear_params, layers("Linear"),
              points=0.5, max_examples=10, fr="Linear(D, M) contient W (D, M), aléatoire, et b (M,)"),
        *_class_checks("Linear", forward_points=1, backward_points=2),
        *(c for name in ACTIVATIONS for c in _class_checks(name, forward_points=0.5, backward_points=1)),
        Check("train_mode", "Dropout", "Dropout in train mode: kept values × 1/(1 − p), backward through the same mask",
              _named_in_bank(dropout_train), dropouts(), points=2, max_examples=10,
              fr="Dropout en mode train : valeurs gardées × 1/(1 − p), backward par le même masque"),
        Check("eval_mode", "Dropout", "Dropout in eval mode is the identity", dropout_eval, dropouts(), points=0.5,
              hidden=False, max_examples=5, fr="Dropout en mode eval est l'identité"),
        *_class_checks("SoftmaxCrossEntropy", forward_points=1, backward_points=1),
        Check("stable", "SoftmaxCrossEntropy", "SoftmaxCrossEntropy stays finite on logits of ±1000 (log-sum-exp)",
              softmax_stable, st.just(LARGE_LOGITS), points=1,
              fr="SoftmaxCrossEntropy reste finie sur des logits de ±1000 (log-sum-exp)"),
        *_class_checks("MSE", forward_points=0.5, backward_points=0.5),
        Check("forward", "Sequential", "Sequential.forward applies the modules in order",
              _named_in_bank(sequential_forward), chains(),
              points=1, max_examples=20, fr="Sequential.forward applique les modules dans l'ordre"),
        Check("backward", "Sequential", "Sequential.backward goes through the modules in reverse order",
              sequential_backward, chains(), points=2, max_examples=20,
              fr="Sequential.backward parcourt les modules en ordre inverse"),
        Check("params", "Sequential", "Sequential.params()/grads() are the modules' own, keyed <index>.<name>",
              sequential_params, chains(), points=1, hidden=False, max_examples=5,
              fr="Sequential.params()/grads() sont ceux des modules, de clés <indice>.<nom>"),
        Check("modes", "Sequential", "Sequential.train()/eval() reach every module", sequential_modes, chains(),
              points=0.5, max_examples=3, fr="Sequential.train()/eval() atteignent chaque module"),
        Check("in_place", "sgd_step", "sgd_step updates every parameter in place by −lr · grad",
              _named_in_bank(sgd_in_place), steps(),
              points=1, fr="sgd_step met à jour chaque paramètre sur place de −lr · grad"),
        forbidden_api_check(points=1),
    ),
    # Reference with these budgets (tests/reference/test_tp2b_modules.py): 0.939 on mnist-sample, 0.970 on mnist.
    threshold=Threshold(
        recipe="modules", english="trained with your Linear, ReLU, SoftmaxCrossEntropy, Sequential and sgd_step, "
                                "the network reaches the accuracy goal",
        uses=(*part.TRAINING_USES, WHOLE_SUBMISSION),
        budgets={"mnist-sample": dict(epochs=5, batch_size=32, lr=0.5, hidden=128, schedule="cosine", warmup=0.05, seed=0),
                 "mnist": dict(epochs=2, batch_size=64, lr=0.5, hidden=256, schedule="cosine", warmup=0.05, seed=0)},
        minimum={"mnist-sample": 0.90, "mnist": 0.95},
        init=lambda D, C, b: {f"{i}.{k}": v for i, m in enumerate(ref.mlp(
            D, b["hidden"], C, generator=torch.Generator().manual_seed(b["seed"])).modules)
            for k, v in m.params().items()},
        points=2, seconds=120,
        fr="entraîné avec vos Linear, ReLU, SoftmaxCrossEntropy, Sequential et sgd_step, le réseau atteint la précision visée"),
)
