"""Hidden checks of ``tp4_cnn``: a course-style CNN, a residual block, a small ResNet, a training step.

Notebook API (the reference's, :mod:`reference.tp4_cnn`): ``CNN(in_channels, image_size, num_classes,
channels, hidden)``, ``BasicBlock(in_channels, out_channels, stride)``, ``ResNet(in_channels,
num_classes, widths, blocks)`` (``nn.Module`` classes, graded as "functions" by name) and
``train_step(model, optimizer, x, labels) -> float`` (the five steps, cross-entropy).

A module cannot cross the sandbox boundary: every check goes through a probe
(:mod:`tpworker.probes`), which builds the student's class from plain arguments on the
student's side and answers plain data (outputs, parameter names and shapes, the parameters a
backward left without gradient, the state a training step left). Everything is judged here,
against the reference built in this process.

Points (documented in the README): per class, shapes 1, parameter count 1, gradients reach
every parameter 1; the block also its identity shortcut (2) and the ReLU between its two
convolutions (1); train_step: one step as the reference's (2), stale gradients zeroed (1). The
training run on CIFAR-10 (3) needs a GPU: a CPU grader defers it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from autograder.checks.spec import Assignment, Check, Context, Threshold
from autograder.submission import StudentRaised
from reference import tp4_cnn as ref
from tpcheck.compare import Mismatch
from tpcheck.optim import make_optimizer
from tpcheck.parts import tp4_cnn as part
from tpworker.probes import tiny_model

PROBE_SECONDS = 20.0
SEEDS = st.integers(0, 2**16 - 1)


def _images(seed: int, n: int, c: int, s: int) -> torch.Tensor:
    return torch.randn(n, c, s, s, generator=torch.Generator().manual_seed(seed))


def _probe(ctx: Context, probe: str, data: dict[str, Any], function: str) -> dict:
    """The probe's answer, its outer structure checked; the student's exceptions name ``function``."""
    try:
        out = ctx.submission.probe(probe, data, PROBE_SECONDS)
    except StudentRaised as e:
        raise StudentRaised(function, e.exc_type, e.text, e.where) from None
    if not isinstance(out, dict):
        raise Mismatch(f"{function}: the probe answered {type(out).__name__}, not a dict")
    return out


def _built(ctx: Context, name: str, args: list, inputs: list[torch.Tensor], **options: Any) -> dict:
    out = _probe(ctx, "module", {"name": name, "args": args, "inputs": inputs, "seed": 0, **options}, name)
    outputs = out.get("outputs")
    if not isinstance(outputs, (list, tuple)) or len(outputs) != len(inputs) or \
            not all(type(o) is torch.Tensor for o in outputs):
        raise Mismatch(f"{name}.forward should return a tensor")
    if not isinstance(out.get("parameters"), dict):
        raise Mismatch(f"{name}(...) should be an nn.Module with parameters")
    return out


def _shape(name: str, args: list, got: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(got.shape) != expected:
        raise Mismatch(f"{name}({', '.join(map(repr, args))}) returned shape {tuple(got.shape)} for its input, "
                       f"expected {expected}", expected_shape=list(expected), shape=list(got.shape))
    if got.dtype != torch.float32:
        raise Mismatch(f"{name}.forward returned {got.dtype}, expected torch.float32 (like its input)")
    if not torch.isfinite(got).all():
        raise Mismatch(f"{name}.forward returned NaN or inf")


def _count(out: dict) -> int:
    return sum(math.prod(int(v) for v in shape) for shape in out["parameters"].values())


def _conv_biases(model: torch.nn.Module) -> int:
    """How many parameters the reference's convolutions would add with bias=True."""
    return sum(m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is None)


def _parameters(name: str, args: list, out: dict, reference: torch.nn.Module, what: str) -> None:
    low = sum(p.numel() for p in reference.parameters())
    high = low + _conv_biases(reference)
    got = _count(out)
    if not low <= got <= high:
        expected = f"{low}" if low == high else f"between {low} and {high} (convolutions with or without bias)"
        raise Mismatch(f"{name}({', '.join(map(repr, args))}) has {got} parameters, expected {expected}: {what}",
                       parameters=got, expected=[low, high])


def _gradients(name: str, out: dict) -> None:
    frozen = sorted(set(out["parameters"]) - set(out.get("trainable") or []))
    if frozen:
        raise Mismatch(f"{name}: {', '.join(frozen)} do not require grad: the optimizer would never change them")
    missing = out.get("no_grad") or []
    if missing:
        raise Mismatch(f"{name}: after loss.backward(), {', '.join(map(str, missing[:6]))} "
                       f"{'has' if len(missing) == 1 else 'have'} no gradient (a layer defined but not used "
                       f"in forward, or a computation that leaves autograd?)", no_grad=list(map(str, missing)))


# --- CNN ------------------------------------------------------------------------------------------


@st.composite
def cnns(draw, *, wide: bool = False):
    """Small CNNs; ``wide`` ones (4+ channels, 16+ hidden units, 4+ images) so that no ReLU layer
    is dead for the whole batch, which would leave a parameter honestly without gradient."""
    low = (4, 16, 4) if wide else (1, 1, 1)
    c, s = draw(st.sampled_from(((1, 28), (3, 32))))
    args = [c, s, draw(st.integers(2, 10)), [draw(st.integers(low[0], 8)), draw(st.integers(low[0], 8))],
            draw(st.integers(low[1], 32))]
    return {"args": args, "n": draw(st.integers(low[2], 8)), "seed": draw(SEEDS)}


def _cnn(ctx: Context, ex, **options) -> tuple[dict, torch.Tensor]:
    c, s = ex["args"][:2]
    x = _images(ex["seed"], ex["n"], c, s)
    return _built(ctx, "CNN", ex["args"], [x], **options), x


def cnn_shapes(ctx: Context, ex) -> None:
    """CNN(...)(x) gives (N, num_classes) float32 logits for 1×28×28 and 3×32×32 images."""
    out, x = _cnn(ctx, ex)
    _shape("CNN", ex["args"], out["outputs"][0], (len(x), ex["args"][2]))


def cnn_parameters(ctx: Context, ex) -> None:
    """Two 3×3 convolutions (padding 1, each followed by a 2×2 max-pool), two dense layers."""
    out, _ = _cnn(ctx, ex)
    c, s, classes, channels, hidden = ex["args"]
    _parameters("CNN", ex["args"], out, ref.CNN(c, s, classes, tuple(channels), hidden),
                "two 3×3 convolutions with padding 1, two 2×2 max-pools, then dense (hidden) and dense (classes)")


def cnn_gradients(ctx: Context, ex) -> None:
    out, _ = _cnn(ctx, ex, backward=True)
    _gradients("CNN", out)


# --- BasicBlock ------------------------------------------------------------------------------------


@st.composite
def blocks(draw, *, identity: bool | None = None):
    c_in = draw(st.integers(1, 8))
    if identity:
        c_out, stride = c_in, 1
    else:
        c_out, stride = draw(st.integers(1, 8)), draw(st.sampled_from((1, 2)))
    return {"args": [c_in, c_out, stride], "n": draw(st.integers(1, 8)), "size": draw(st.integers(4, 12)),
            "seed": draw(SEEDS)}


def _block_input(ex, seed_offset: int = 0) -> torch.Tensor:
    return _images(ex["seed"] + seed_offset, ex["n"], ex["args"][0], ex["size"])


def block_shapes(ctx: Context, ex) -> None:
    """(N, c_in, S, S) → (N, c_out, ⌈S/s⌉, ⌈S/s⌉)."""
    x = _block_input(ex)
    out = _built(ctx, "BasicBlock", ex["args"], [x])
    c_in, c_out, stride = ex["args"]
    side = -(-ex["size"] // stride)
    _shape("BasicBlock", ex["args"], out["outputs"][0], (ex["n"], c_out, side, side))


def block_parameters(ctx: Context, ex) -> None:
    """Two 3×3 convolutions with BatchNorm; a 1×1 convolution with BatchNorm on the shortcut
    exactly when the stride or the number of channels changes."""
    out = _built(ctx, "BasicBlock", ex["args"], [_block_input(ex)])
    c_in, c_out, stride = ex["args"]
    projection = stride != 1 or c_in != c_out
    _parameters("BasicBlock", ex["args"], out, ref.BasicBlock(c_in, c_out, stride),
                "two 3×3 convolutions each followed by BatchNorm"
                + (", and a shortcut projection (1×1 convolution with this stride, then BatchNorm), since "
                   + ("the stride is not 1" if stride != 1 else "the number of channels changes")
                   if projection else ", and an identity shortcut (no parameters): stride 1, same channels"))


def block_identity(ctx: Context, ex) -> None:
    """With every parameter zeroed (BatchNorm in eval mode), a block with an identity shortcut
    computes relu(x) (:func:`tpcheck.parts.tp4_cnn.block_identity`)."""
    def zeroed(x):
        got = _built(ctx, "BasicBlock", ex["args"], [x], zero="all", mode="eval")["outputs"][0]
        _shape("BasicBlock", ex["args"], got, tuple(x.shape))
        return got

    part.block_identity(zeroed, _block_input(ex))


def block_nonlinear(ctx: Context, ex) -> None:
    """A ReLU between the two convolutions: with biases zeroed and BatchNorm in eval mode, a
    block without it computes relu(M x) for a linear M, so that D(x) = out(x) − out(−x) = M x
    would be additive, D(a + b) = D(a) + D(b)."""
    a, b = _block_input(ex), _block_input(ex, 1)
    inputs = [a, b, a + b, -a, -b, -(a + b)]
    out = _built(ctx, "BasicBlock", ex["args"], inputs, zero="bias", mode="eval")
    o = out["outputs"]
    for t in o:
        if t.shape != o[0].shape:
            raise Mismatch("BasicBlock returned outputs of different shapes for inputs of the same shape")
    d_a, d_b, d_ab = o[0] - o[3], o[1] - o[4], o[2] - o[5]
    if float((d_ab - d_a - d_b).abs().max()) <= 1e-4 * max(1.0, float(d_ab.abs().max())):
        raise Mismatch("the residual branch F(x) behaves linearly: put a ReLU between the two convolutions, "
                       "conv → BN → ReLU → conv → BN, before adding the shortcut")


def block_gradients(ctx: Context, ex) -> None:
    out = _built(ctx, "BasicBlock", ex["args"], [_block_input(ex)], backward=True)
    _gradients("BasicBlock", out)


# --- ResNet ----------------------------------------------------------------------------------------


@st.composite
def resnets(draw):
    c, s = draw(st.sampled_from(((1, 28), (3, 32))))
    stages = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 8)) for _ in range(stages)]
    counts = [draw(st.integers(1, 2)) for _ in range(stages)]
    return {"args": [c, draw(st.integers(2, 10)), widths, counts], "n": draw(st.integers(1, 4)),
            "size": s, "seed": draw(SEEDS)}


def _resnet(ctx: Context, ex, **options) -> tuple[dict, torch.Tensor]:
    x = _images(ex["seed"], ex["n"], ex["args"][0], ex["size"])
    return _built(ctx, "ResNet", ex["args"], [x], **options), x


def resnet_shapes(ctx: Context, ex) -> None:
    out, x = _resnet(ctx, ex)
    _shape("ResNet", ex["args"], out["outputs"][0], (len(x), ex["args"][1]))


def resnet_parameters(ctx: Context, ex) -> None:
    out, _ = _resnet(ctx, ex)
    c, classes, widths, counts = ex["args"]
    _parameters("ResNet", ex["args"], out, ref.ResNet(c, classes, widths, counts),
                "a stem (3×3 convolution, BatchNorm, ReLU), blocks[i] BasicBlocks of widths[i] channels per "
                "stage (the first of each stage after the first with stride 2), then global average pooling "
                "and one dense layer")


def resnet_gradients(ctx: Context, ex) -> None:
    out, _ = _resnet(ctx, ex, backward=True)
    _gradients("ResNet", out)


# --- train_step ----------------------------------------------------------------------------------------


@st.composite
def steps(draw):
    c, classes, n = draw(st.sampled_from((1, 3))), draw(st.integers(2, 10)), draw(st.integers(1, 8))
    seed = draw(SEEDS)
    g = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = tiny_model(c, 8, classes)
    torch.set_rng_state(torch_state)
    return {"in_channels": c, "size": 8, "classes": classes,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "x": torch.randn(n, c, 8, 8, generator=g), "labels": torch.randint(0, classes, (n,), generator=g),
            "optimizer": draw(st.sampled_from(("sgd", "momentum", "adam"))), "lr": draw(st.sampled_from((0.1, 0.01)))}


def _expected_step(ex, *, stale: bool, zero_grad: bool = True) -> tuple[dict, float]:
    model = tiny_model(ex["in_channels"], ex["size"], ex["classes"])
    model.load_state_dict(ex["state"])
    if stale:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
    opt = make_optimizer(model.parameters(), ex["optimizer"], ex["lr"])
    if zero_grad:
        value = ref.train_step(model, opt, ex["x"].clone(), ex["labels"].clone())
    else:
        loss = F.cross_entropy(model(ex["x"]), ex["labels"])
        loss.backward()
        opt.step()
        value = loss.item()
    return {k: v.detach() for k, v in model.state_dict().items()}, value


def _step(ctx: Context, ex, stale: bool) -> dict:
    out = _probe(ctx, "train_step", {**ex, "stale": stale, "steps": 1}, "train_step")
    first = out.get("first")
    if not isinstance(first, dict) or set(first) != set(ex["state"]) or \
            not all(type(first[k]) is torch.Tensor and first[k].shape == v.shape for k, v in ex["state"].items()):
        raise Mismatch("train_step: the model's parameters after the step could not be read back")
    return out


def _close(after: dict, expected: dict) -> str | None:
    """The first parameter that differs, or None."""
    for k, v in expected.items():
        if not torch.allclose(after[k], v, rtol=1e-4, atol=1e-5):
            return k
    return None


def step_matches(ctx: Context, ex) -> None:
    """One train_step (cross-entropy) changes the parameters exactly as the reference step does
    (same model, batch and optimizer) and returns the loss before the step as a Python float."""
    out = _step(ctx, ex, stale=False)
    expected, value = _expected_step(ex, stale=False)
    if (bad := _close(out["first"], expected)) is not None:
        unchanged = all(torch.equal(out["first"][k], ex["state"][k]) for k in ex["state"])
        hint = ("the parameters did not change: call optimizer.step() after loss.backward()" if unchanged else
                "forward, cross-entropy loss, optimizer.zero_grad(), loss.backward(), optimizer.step(), in that order")
        raise Mismatch(f"train_step: the parameter {bad} after the step differs from the expected value: {hint}")
    got = out["returned"][0] if out.get("returned") else None
    if type(got) is not float or abs(got - value) > 1e-4 * max(1.0, abs(value)):
        shown = f"a {type(got).__name__}" if type(got) is not float else f"{got:.6g}"
        raise Mismatch(f"train_step should return the loss before the step as a Python float ({value:.6g}, "
                       f"with .item()); got {shown}", expected=value)


def step_zero_grad(ctx: Context, ex) -> None:
    """Starting from stale gradients (as the previous step leaves them in .grad), the step is the
    same as from clean ones: train_step calls optimizer.zero_grad() before loss.backward()."""
    out = _step(ctx, ex, stale=True)
    expected, _ = _expected_step(ex, stale=False)
    if _close(out["first"], expected) is None:
        return
    forgot, _ = _expected_step(ex, stale=True, zero_grad=False)
    if _close(out["first"], forgot) is None:
        raise Mismatch("the step used gradients left over from a previous step: call optimizer.zero_grad() "
                       "before loss.backward()", zero_grad=False)
    raise Mismatch("train_step: from stale gradients, the parameters after the step differ from the expected "
                   "ones (call optimizer.zero_grad() before loss.backward(), then optimizer.step())")


ASSIGNMENT = Assignment(
    name=__name__.rpartition(".")[2],  # the assignment's name is its module's (autograder.registry)
    signatures={"CNN": "CNN(in_channels, image_size, num_classes, channels, hidden)",
                "BasicBlock": "BasicBlock(in_channels, out_channels, stride)",
                "ResNet": "ResNet(in_channels, num_classes, widths, blocks)",
                "train_step": "train_step(model, optimizer, x, labels)"},
    checks=(
        Check("shapes", "CNN", "CNN gives (N, num_classes) logits for MNIST and CIFAR-10 images",
              cnn_shapes, cnns(), points=1, hidden=False, max_examples=20,
              fr="CNN donne des logits (N, num_classes) pour des images MNIST et CIFAR-10"),
        Check("parameters", "CNN", "CNN has the layers of the course's CNN (parameter count)",
              cnn_parameters, cnns(), points=1, max_examples=20, fr="CNN a les couches du CNN du cours (nombre de paramètres)"),
        Check("gradients", "CNN", "a backward through CNN reaches every parameter",
              cnn_gradients, cnns(wide=True), points=1, hidden=False, max_examples=10,
              fr="un backward à travers CNN atteint chaque paramètre"),
        Check("shapes", "BasicBlock", "BasicBlock maps (N, c_in, S, S) to (N, c_out, S/stride, S/stride)",
              block_shapes, blocks(), points=1, hidden=False, max_examples=30,
              fr="BasicBlock envoie (N, c_in, S, S) sur (N, c_out, S/stride, S/stride)"),
        Check("parameters", "BasicBlock", "BasicBlock: two 3×3 conv + BN, a 1×1 conv + BN projection only when needed",
              block_parameters, blocks(), points=1, max_examples=30,
              fr="BasicBlock : deux conv 3×3 + BN, une projection conv 1×1 + BN seulement si nécessaire"),
        Check("identity", "BasicBlock", "with its layers zeroed, the block computes relu(x): shortcut, then ReLU",
              block_identity, blocks(identity=True), points=2, hidden=False, max_examples=20,
              fr="couches mises à zéro, le bloc calcule relu(x) : raccourci, puis ReLU"),
        Check("nonlinear", "BasicBlock", "a ReLU between the two convolutions of the residual branch",
              block_nonlinear, blocks(), points=1, max_examples=20,
              fr="une ReLU entre les deux convolutions de la branche résiduelle"),
        Check("gradients", "BasicBlock", "a backward through BasicBlock reaches every parameter",
              block_gradients, blocks(), points=1, hidden=False, max_examples=20,
              fr="un backward à travers BasicBlock atteint chaque paramètre"),
        Check("shapes", "ResNet", "ResNet gives (N, num_classes) logits for any widths and blocks",
              resnet_shapes, resnets(), points=1, hidden=False, max_examples=10,
              fr="ResNet donne des logits (N, num_classes) pour toutes largeurs et tous blocs"),
        Check("parameters", "ResNet", "ResNet: stem, stages of BasicBlocks, pooling, one dense layer (parameter count)",
              resnet_parameters, resnets(), points=1, max_examples=10,
              fr="ResNet : tronc, étages de BasicBlocks, pooling, une couche dense (nombre de paramètres)"),
        Check("gradients", "ResNet", "a backward through ResNet reaches every parameter",
              resnet_gradients, resnets(), points=1, hidden=False, max_examples=5,
              fr="un backward à travers ResNet atteint chaque paramètre"),
        Check("matches_reference", "train_step", "train_step: forward, loss, zero_grad, backward, step; returns the loss",
              step_matches, steps(), points=2, max_examples=30,
              fr="train_step : forward, loss, zero_grad, backward, step ; renvoie la perte"),
        Check("zero_grad", "train_step", "train_step zeroes the gradients a previous step left",
              step_zero_grad, steps(), points=1, hidden=False, max_examples=20,
              fr="train_step remet à zéro les gradients laissés par un pas précédent"),
    ),
    # NOT MEASURED (no GPU in the session that wrote it): a small ResNet (32, 64, 128 channels,
    # one block per stage) with train_step, Nesterov SGD and a one-cycle η, flips and crops;
    # such a network reaches about 0.9 on CIFAR-10 in 10 epochs, the goal keeps a wide margin.
    threshold=Threshold(
        recipe="cnn", english="trained on CIFAR-10 with your ResNet and train_step, the network reaches the accuracy goal",
        uses=part.TRAINING_USES,
        budgets={"cifar10": dict(model="ResNet", kwargs=dict(in_channels=3, num_classes=10, widths=[32, 64, 128],
                                                             blocks=[1, 1, 1]),
                                 shape=[3, 32, 32], epochs=10, batch_size=256, lr=0.1, momentum=0.9,
                                 weight_decay=5e-4, augment=True, seed=0)},
        minimum={"cifar10": 0.80},
        init=lambda D, C, b: {},
        points=3, seconds=600, device="cuda",
        notes={"cifar10": "not measured yet: expected about 0.9 (small ResNet, 10 epochs)"},
        fr="entraîné sur CIFAR-10 avec vos ResNet et train_step, le réseau atteint la précision visée"),
)
