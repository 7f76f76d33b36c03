"""tp4_cnn without the reference: the classes built here and probed (shapes, the zeroed block's
identity, gradients reaching every parameter, the parameter count of a block) and a training step
that learns and zeroes gradients. ``CNN(in_channels, image_size, num_classes, channels, hidden)``,
``BasicBlock(in_channels, out_channels, stride)``, ``ResNet(in_channels, num_classes, widths,
blocks)``, ``train_step(model, optimizer, x, labels) -> float``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..compare import Mismatch, describe
from ..optim import make_optimizer
from . import Visible, Wording, failure

POLICY = None  # torch.nn is the subject of this part
TRAINING_USES = ("BasicBlock", "ResNet", "train_step")

# block_identity's messages, by what the zeroed block returned instead of relu(x)
GRADER_WORDING = {
    "shape": "expected shape {expected}, got {got}",
    "x": "with its convolutions and BatchNorms zeroed, the block returned x itself: apply the ReLU "
         "after adding the shortcut, relu(F(x) + x)",
    "zero": "with its convolutions and BatchNorms zeroed, the block returned 0 instead of relu(x): "
            "add the shortcut x to the residual branch F(x) (identity when stride 1 and same channels)",
    "other": "with its convolutions and BatchNorms zeroed, the block should return relu(x) "
             "(identity shortcut, stride 1, same channels); it returned something else",
}


def block_identity(zeroed_block: Callable[[torch.Tensor], Any], x: torch.Tensor, *,
                   wording: Wording = GRADER_WORDING) -> None:
    """With every parameter zeroed (BatchNorm in eval mode), the residual branch gives 0, so a
    block with an identity shortcut computes relu(0 + x) = relu(x). ``zeroed_block(x)`` is the
    output of such a block (stride 1, as many channels out as in)."""
    got, expected = zeroed_block(x), torch.relu(x)
    if type(got) is not torch.Tensor or got.shape != x.shape:
        raise failure(wording, "shape", expected=tuple(x.shape), got=describe(got))
    with torch.no_grad():
        if torch.allclose(got, expected, atol=1e-5):
            return
        if torch.allclose(got, x, atol=1e-5):
            raise failure(wording, "x")
        if torch.allclose(got, torch.zeros_like(got), atol=1e-5):
            raise failure(wording, "zero")
        raise failure(wording, "other", {"max_difference": float((got - expected).abs().max())})


# --- the visible checks: the student's classes built here -----------------------------------------


def _module(ns, name, args, x, *, zero=False, mode="train"):
    torch.manual_seed(0)
    model = ns[name](*args)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name}(...) should build an nn.Module, got {describe(model)}")
    if zero:
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
    model.train(mode == "train")
    return model, model(x)


def _shapes_and_gradients(ns, name, cases) -> str:
    """cases: (constructor args, input shape, expected output shape)."""
    for args, shape, expected in cases:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        model, out = _module(ns, name, args, x)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else describe(out)
            raise Mismatch(f"{name}{tuple(args)} on an input {shape}: expected {expected}, got {got}", what="output shapes")
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
        if missing:
            raise Mismatch(f"{name}{tuple(args)}: {', '.join(missing[:5])} got no gradient from loss.backward() "
                           f"(a layer not used in forward, requires_grad=False, or a layer kept in a plain list?)",
                           what="gradients reach every parameter")
    return ", ".join(f"{shape} → {expected}" for _, shape, expected in cases)


def _cnn(ns) -> str:
    return _shapes_and_gradients(ns, "CNN", [((1, 28, 10, (8, 16), 32), (4, 1, 28, 28), (4, 10)),
                                             ((3, 32, 5, (8, 8), 16), (3, 3, 32, 32), (3, 5))])


def _block_shapes(ns) -> str:
    return _shapes_and_gradients(ns, "BasicBlock", [((4, 4, 1), (2, 4, 8, 8), (2, 4, 8, 8)),
                                                    ((4, 6, 1), (2, 4, 8, 8), (2, 6, 8, 8)),
                                                    ((4, 4, 2), (2, 4, 8, 8), (2, 4, 4, 4)),
                                                    ((3, 8, 2), (2, 3, 7, 7), (2, 8, 4, 4))])


STUDENT_WORDING = {"shape": GRADER_WORDING["shape"], "x": "it returned x: apply the ReLU after adding the shortcut",
                   "zero": "add the shortcut x to F(x), then apply the ReLU",
                   "other": "add the shortcut x to F(x), then apply the ReLU"}


def _block_identity(ns) -> str:
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    block_identity(lambda x: _module(ns, "BasicBlock", (4, 4, 1), x, zero=True, mode="eval")[1], x,
                   wording=STUDENT_WORDING)
    return ""


def _block_parameters(ns) -> str:
    for c_in, c_out, stride in ((4, 4, 1), (4, 6, 1), (4, 4, 2)):
        torch.manual_seed(0)
        got = sum(p.numel() for p in ns["BasicBlock"](c_in, c_out, stride).parameters())
        low = 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out
        biases = 2 * c_out
        if stride != 1 or c_in != c_out:
            low, biases = low + c_in * c_out + 2 * c_out, biases + c_out
        if not low <= got <= low + biases:
            raise Mismatch(f"BasicBlock({c_in}, {c_out}, {stride}) has {got} parameters, expected "
                           f"{low} (two 3×3 convolutions without bias, two BatchNorms"
                           + (", a 1×1 projection and its BatchNorm)" if stride != 1 or c_in != c_out else
                              ", an identity shortcut)"), what="parameter count")
    return ""


def _resnet(ns) -> str:
    return _shapes_and_gradients(ns, "ResNet", [((3, 10, (4, 8), (1, 1)), (2, 3, 32, 32), (2, 10)),
                                                ((1, 7, (4, 4, 8), (2, 1, 1)), (3, 1, 28, 28), (3, 7))])


def _number(value) -> float:
    """A loss as a float, whatever was returned (the fixed examples judge the return type)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _train_step(ns) -> str:
    g = torch.Generator().manual_seed(2)
    x, labels = torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)

    def fresh(stale: bool):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                    torch.nn.Linear(4 * 36, 3))
        if stale:
            for p in model.parameters():
                p.grad = torch.ones_like(p)
        return model, make_optimizer(model.parameters(), "sgd", 0.05)

    model, opt = fresh(False)
    losses = [_number(ns["train_step"](model, opt, x, labels)) for _ in range(20)]
    if not losses[-1] < losses[0]:
        raise Mismatch(f"losses went from {losses[0]:.4f} to {losses[-1]:.4f}", what="20 steps on one batch lower its loss")
    clean, opt = fresh(False)
    ns["train_step"](clean, opt, x, labels)
    stale, opt = fresh(True)
    ns["train_step"](stale, opt, x, labels)
    if not all(torch.allclose(a, b) for a, b in zip(clean.parameters(), stale.parameters())):
        raise Mismatch("call optimizer.zero_grad() before loss.backward()",
                       what="a step ignores gradients left over from the previous step")
    return f"loss {losses[0]:.3f} → {losses[-1]:.3f}"


VISIBLE = {
    "CNN": (Visible("output shapes and gradients reaching every parameter", _cnn),),
    "BasicBlock": (Visible("output shapes and gradients reaching every parameter", _block_shapes),
                   Visible("parameter count (projection only when the stride or the channels change)", _block_parameters),
                   Visible("with every parameter zeroed (eval mode), BasicBlock(4, 4, 1) computes relu(x)", _block_identity)),
    "ResNet": (Visible("output shapes and gradients reaching every parameter", _resnet),),
    "train_step": (Visible("train_step lowers the loss and zeroes the gradients", _train_step),),
}
