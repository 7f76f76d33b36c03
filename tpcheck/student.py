"""The students' visible checks: one call per function from the notebook, no reference needed.

    check("forward")            # in the notebook, after the cell that defines forward
    report("forward", ns)       # the same as data (a Report), for tests and tools

What is checked, for the function named:

- the bank of fixed examples written next to the notebook at release time (``examples.npz``):
  the outputs the reference gave for them, compared with tolerance, shapes and dtypes first (for
  a training step, the parameters it leaves and the loss it returns);
- that the function leaves its arguments unchanged (those a training step must update apart);
- reference-free properties: the perceptron update moves outputs toward their targets; the
  shallow network's ``backward`` agrees with centred finite differences of its own
  ``forward`` and ``loss`` in float64; the deep network's ``init_params`` gives random, trainable
  weights for any depth, and its ``train_step`` lowers the loss and zeroes stale gradients; the
  CNN part's classes give the right shapes, a gradient to every parameter and, for the residual
  block, relu(x) with its layers zeroed; its ``train_step`` learns and zeroes stale gradients.

A stub that still raises ``NotImplementedError`` reports "not implemented yet". This module
imports neither the reference nor the hidden checks: it ships to students, together with the
modules it imports relatively (bank, compare, gradcheck, submission, forbidden), which use
only torch and numpy.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import os
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import bank as banks
from .compare import Mismatch, compare_outputs, describe, flatten
from .forbidden import NO_AUTOGRAD_NO_NN, scan_source
from .gradcheck import REL_TOLERANCE, numerical_gradients, relative_errors
from .boundary import OPTIMIZERS, Optimizer, Trainable, realize, realize_args

BANK_FILE = "examples.npz"


@dataclass
class Line:
    ok: bool
    what: str
    detail: str = ""
    example: Any = None


@dataclass
class Report:
    function: str
    lines: list[Line] = field(default_factory=list)
    not_implemented: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.not_implemented and bool(self.lines) and all(l.ok for l in self.lines)

    def __str__(self) -> str:
        if self.not_implemented:
            return f"{self.function}: not implemented yet"
        out = []
        for line in self.lines:
            out.append(f"{'✓' if line.ok else '✗'} {self.function}: {line.what}" + (f" — {line.detail}" if line.detail else ""))
            if line.example is not None:
                out.append(f"    input: {line.example}")
        out += [f"· {note}" for note in self.notes]
        if self.lines:
            out.append(f"{self.function}: {'passed' if self.passed else 'FAILED'}")
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        color = "#1a7f37" if self.passed else ("#9a6700" if self.not_implemented else "#cf222e")
        return f"<pre style='border-left:4px solid {color};padding-left:8px'>{html.escape(str(self))}</pre>"


class CheckFailed(AssertionError):
    """Raised by :func:`check` when a check fails."""


class NotImplementedYet(NotImplementedError):
    """Raised by :func:`check` while the function is still the template's stub: the cell fails
    (nbgrader gives it no points, ``nbgrader validate --invert`` sees it fail) with one line."""


def _short_tracebacks() -> None:
    """In IPython, show these two exceptions as their message alone, without a traceback."""
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined inside IPython
    except NameError:
        return

    def show(shell, etype, value, tb, tb_offset=None):
        print(str(value).strip())
        return None

    ip.set_custom_exc((CheckFailed, NotImplementedYet), show)


def report(name: str, namespace: dict[str, Any], *, bank: str | Path | None = None) -> Report:
    """The visible checks of function ``name`` defined in ``namespace``, as data."""
    return _run(name, namespace, bank)


def check(name: str, namespace: dict[str, Any] | None = None, *, bank: str | Path | None = None) -> None:
    """The notebook's one-line check: prints the report of ``name`` (default namespace: the
    caller's globals). Raises :class:`CheckFailed` when a check fails and
    :class:`NotImplementedYet` while the function is a stub, so that the cell fails as nbgrader
    expects; in Jupyter either shows as its message alone. Returns nothing: under ``nbgrader
    autograde`` (``$NBGRADER_EXECUTION``) it only prints, and the hidden line that follows it
    in the cell gives the cell its points (:mod:`autograder.course.hidden`). ``"*"`` checks the whole
    notebook's functions for APIs the part forbids; ``"train"``, whether the functions the graded
    training run uses are ready.
    """
    if namespace is None:
        namespace = inspect.currentframe().f_back.f_globals  # type: ignore[union-attr]
    _short_tracebacks()
    # what the function warns or writes to stderr becomes a note on stdout: nbgrader gives a
    # test cell 0 points for any stderr output, a torch warning included
    stderr = io.StringIO()
    with warnings.catch_warnings(record=True) as warned, contextlib.redirect_stderr(stderr):
        warnings.simplefilter("always")
        if name == "*":
            result = _api(namespace, bank)
        elif name == TRAINING:
            result = _training(namespace, bank)
        else:
            result = _run(name, namespace, bank)
    for w in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in warned):
        result.notes.append(f"warning: {w}")
    if stderr.getvalue().strip():
        result.notes.append(f"written to stderr: {stderr.getvalue().strip()[:300]}")
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        print(result)  # the hidden line after it gives the cell its points (partial credit)
        return
    if result.not_implemented:
        raise NotImplementedYet(str(result))
    if any(not line.ok for line in result.lines):
        raise CheckFailed("\n" + str(result))
    print(result)


def _run(name: str, namespace: dict[str, Any], bank: str | Path | None) -> Report:
    report = Report(name)
    fn = namespace.get(name)
    if not callable(fn):
        report.lines.append(Line(False, f"no function called {name} is defined: run the cell that defines it"))
        return report
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, cases = banks.read(path) if path.is_file() else ("", {})
    try:
        for i, case in enumerate(cases.get(name, []), start=1):
            report.lines.append(_bank_case(fn, namespace, case, i, len(cases[name])))
        for prop in PROPERTIES.get((assignment, name), ()):
            try:
                report.lines.append(prop(namespace))
            except NotImplementedError:
                raise
            except Exception as e:  # noqa: BLE001 - shown to the student, not raised
                report.lines.append(Line(False, prop.__doc__ or prop.__name__, f"raised {type(e).__name__}: {e}"))
    except NotImplementedError:
        report.not_implemented = True
    if not report.lines and not report.not_implemented:
        report.notes.append(f"no visible check for {name} here ({BANK_FILE} is not next to the notebook): "
                            f"only the hidden tests will judge it")
    return report


def _bank_case(fn, namespace, case, i, n) -> Line:
    args = realize_args(case["args"], namespace.get)
    kwargs = {k: realize(v, namespace.get) for k, v in case.get("kwargs", {}).items()}
    after = case.get("after", {})  # {position: what that argument holds after the call} (a training step)
    before = [None if j in after else realize(a, namespace.get) for j, a in enumerate(args)]
    shown = _brief(case["args"], kwargs)
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - shown to the student, not raised
        return Line(False, f"fixed example {i}/{n}", f"raised {type(e).__name__}: {e}", shown)
    try:
        for j, expected in after.items():
            compare_outputs(args[j], expected, {path: f"{path or 'the argument'} after the call"
                                                for path in flatten(expected)})
        if isinstance(case["expected"], float):
            _compare_number(got, case["expected"])
        else:
            compare_outputs(got, case["expected"], case["outputs"])
        for a, b in zip(args, before):
            if b is None:
                continue
            fa, fb = flatten(a), flatten(b)
            for path, value in fb.items():
                if isinstance(value, torch.Tensor) and not torch.equal(fa[path], value):
                    raise Mismatch(f"the function modified its input in place ({path or 'an argument'}); "
                                   f"return new tensors instead")
    except Mismatch as m:
        return Line(False, f"fixed example {i}/{n}", m.message, shown)
    return Line(True, f"fixed example {i}/{n}")


def _compare_number(got, expected: float) -> None:
    """A Python number returned (a loss, as ``value.item()`` gives it), within the tolerance of the
    hidden checks."""
    if isinstance(got, bool) or not isinstance(got, float):
        raise Mismatch(f"the result should be a Python float ({expected:.6g}; use .item() on a one-element "
                       f"tensor); got {describe(got)}")
    if not math.isfinite(got) or abs(got - expected) > 1e-4 * max(1.0, abs(expected)):
        raise Mismatch(f"the result differs from the expected value: expected {expected:.6g}, got {got:.6g}")


def _brief(args, kwargs=None) -> str:
    def one(a):
        if isinstance(a, torch.Tensor):
            return f"tensor{tuple(a.shape)}" if a.numel() > 12 else str([round(v, 4) for v in a.flatten().tolist()])
        if isinstance(a, Trainable):
            return one(a.value)
        if isinstance(a, Optimizer):
            return f"torch.optim.{OPTIMIZERS[a.name].__name__}(lr={a.lr:g})"
        if isinstance(a, dict) and len(a) > 4:  # a deep network's parameters: their shapes
            return "{" + ", ".join(f"{k}: {shape(v)}" for k, v in a.items()) + "}"
        if isinstance(a, dict):
            return "{" + ", ".join(f"{k}: {one(v)}" for k, v in a.items()) + "}"
        return repr(a) if not hasattr(a, "fields") else f"{a.type_name}(…)"

    def shape(a):
        a = a.value if isinstance(a, Trainable) else a
        return f"tensor{tuple(a.shape)}" if isinstance(a, torch.Tensor) else one(a)

    return ", ".join([one(a) for a in args] + [f"{k}={one(v)}" for k, v in (kwargs or {}).items()])


# --- reference-free properties, per (assignment, function) ----------------------------------------


def _perceptron_moves_toward_target(ns) -> Line:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 5, generator=g)
    params = {"W": (torch.rand(5, 3, generator=g) - 0.5) * 0.2, "b": torch.zeros(3)}
    t = torch.tensor([[0.0, 1.0, 0.0]])
    y0 = ns["forward"](params, x)
    new = ns["update"](params, x, t, 0.05)
    y1 = ns["forward"](new, x)
    ok = bool(((t - y1).abs() <= (t - y0).abs() + 1e-6).all())
    return Line(ok, "one update moves every output toward its target",
                "" if ok else f"|t − y| went from {(t - y0).abs().tolist()} to {(t - y1).abs().tolist()}: check the sign")


def _shallow_gradcheck(ns) -> Line:
    g = torch.Generator().manual_seed(0)
    D, H, C, N = 4, 3, 2, 5
    params = {"W1": torch.randn(D, H, generator=g, dtype=torch.float64) * 0.5,
              "b1": torch.randn(H, generator=g, dtype=torch.float64) * 0.1,
              "W2": torch.randn(H, C, generator=g, dtype=torch.float64) * 0.5,
              "b2": torch.randn(C, generator=g, dtype=torch.float64) * 0.1}
    x = torch.rand(N, D, generator=g, dtype=torch.float64)
    t = torch.nn.functional.one_hot(torch.randint(0, C, (N,), generator=g), C).double()
    forward, loss, backward = ns["forward"], ns["loss"], ns["backward"]

    def total(p):
        return loss(forward(p, x)[0], t)

    y, cache = forward(params, x)
    analytic = backward(params, cache, t)
    numeric = numerical_gradients(total, params)
    errors = relative_errors(analytic, numeric)
    bad = {k: e for k, e in errors.items() if not (e < REL_TOLERANCE)}
    if bad:
        worst = max(bad, key=lambda k: bad[k] if math.isfinite(bad[k]) else math.inf)
        return Line(False, "backward agrees with finite differences of forward and loss (float64)",
                    f"relative error {', '.join(f'{k}: {e:.2g}' for k, e in bad.items())} "
                    f"(should be < {REL_TOLERANCE:g}); start with the gradient for {worst}")
    return Line(True, "backward agrees with finite differences of forward and loss (float64)",
                f"largest relative error {max(errors.values()):.1e}")


def _deep_init(ns) -> Line:
    for sizes in ([4, 3], [5, 4, 3], [6, 5, 4, 2], [3, 7, 6, 5, 4]):
        params = ns["init_params"](sizes)
        L = len(sizes) - 1
        keys = [f"{p}{l}" for l in range(1, L + 1) for p in ("W", "b")]
        if not isinstance(params, dict) or sorted(params) != sorted(keys):
            got = sorted(params) if isinstance(params, dict) else describe(params)
            return Line(False, "one W and one b per layer",
                        f"for sizes {sizes} expected a dict with the keys {', '.join(keys)}; got {got}")
        for l in range(1, L + 1):
            for key, shape in ((f"W{l}", (sizes[l - 1], sizes[l])), (f"b{l}", (sizes[l],))):
                t = params[key]
                if type(t) is not torch.Tensor:
                    return Line(False, "plain tensors", f"{key} should be a plain torch.Tensor with "
                                                        f"requires_grad=True, got {describe(t)}")
                if tuple(t.shape) != shape:
                    return Line(False, "shapes",
                                f"{key} has shape {tuple(t.shape)}, expected {shape} for sizes {sizes}")
                if not (t.requires_grad and t.is_leaf):
                    return Line(False, "trainable leaves",
                                f"{key} should be a leaf tensor with requires_grad=True (set it after "
                                f"computing the values, e.g. with .requires_grad_()), so that loss.backward() "
                                f"fills {key}.grad")
                if not torch.isfinite(t).all():
                    return Line(False, "finite values", f"{key} contains NaN or inf")
            W = params[f"W{l}"]
            if len(set(map(tuple, W.detach().T.tolist()))) < W.shape[1]:
                return Line(False, "random weights",
                            f"two units of layer {l} start with identical weights (two equal columns of W{l}, "
                            f"sizes {sizes}): they would stay identical forever")
    return Line(True, "shapes for depths 1 to 4, random trainable leaves")


def _perceptron_predict(ns) -> Line:
    g = torch.Generator().manual_seed(1)
    params = {"W": torch.randn(6, 4, generator=g), "b": torch.randn(4, generator=g)}
    x = torch.rand(7, 6, generator=g)
    got, expected = ns["predict"](params, x), ns["forward"](params, x).argmax(1)
    if not isinstance(got, torch.Tensor) or got.dtype != torch.int64 or got.shape != expected.shape:
        return Line(False, "predict returns one int64 class index per example",
                    f"expected an int64 tensor of shape {tuple(expected.shape)}")
    ok = torch.equal(got, expected)
    return Line(ok, "predict returns the class of the largest output of forward",
                "" if ok else f"got {got.tolist()}, the largest outputs are at {expected.tolist()}")


def _number(value) -> float:
    """A loss as a float, whatever was returned (the fixed examples judge the return type)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _deep_train_step(ns) -> Line:
    g = torch.Generator().manual_seed(2)
    sizes, x, labels = [6, 5, 3], torch.rand(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
    start = {"W1": torch.randn(6, 5, generator=g) * 0.5, "b1": torch.zeros(5),
             "W2": torch.randn(5, 3, generator=g) * 0.5, "b2": torch.zeros(3)}

    def fresh(stale: bool):
        p = {k: v.clone().requires_grad_(True) for k, v in start.items()}
        if stale:
            for v in p.values():
                v.grad = torch.ones_like(v)
        return p, torch.optim.SGD(list(p.values()), lr=0.1)

    p, opt = fresh(False)
    losses = [_number(ns["train_step"](p, opt, x, labels, activation="relu", loss="cross_entropy")) for _ in range(20)]
    if not losses[-1] < losses[0]:
        return Line(False, "20 steps on one batch lower its loss", f"losses went from {losses[0]:.4f} to {losses[-1]:.4f}")
    clean, opt = fresh(False)
    ns["train_step"](clean, opt, x, labels, activation="relu", loss="cross_entropy")
    stale, opt = fresh(True)
    ns["train_step"](stale, opt, x, labels, activation="relu", loss="cross_entropy")
    if not all(torch.allclose(clean[k], stale[k]) for k in start):
        return Line(False, "a step ignores gradients left over from the previous step",
                    "call optimizer.zero_grad() before loss.backward()")
    return Line(True, "train_step lowers the loss and zeroes the gradients", f"loss {losses[0]:.3f} → {losses[-1]:.3f}")


# --- tp4_cnn: the classes are built here and probed, with no reference (shapes, the zeroed block's
# identity, gradients reaching every parameter, a training step that learns and zeroes gradients)


def _tp4_module(ns, name, args, x, *, zero=False, mode="train"):
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


def _tp4_shapes_and_gradients(ns, name, cases) -> Line:
    """cases: (constructor args, input shape, expected output shape)."""
    for args, shape, expected in cases:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        model, out = _tp4_module(ns, name, args, x)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else describe(out)
            return Line(False, "output shapes", f"{name}{tuple(args)} on an input {shape}: expected {expected}, got {got}")
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
        if missing:
            return Line(False, "gradients reach every parameter",
                        f"{name}{tuple(args)}: {', '.join(missing[:5])} got no gradient from loss.backward() "
                        f"(a layer not used in forward, requires_grad=False, or a layer kept in a plain list?)")
    return Line(True, "output shapes and gradients reaching every parameter",
                ", ".join(f"{shape} → {expected}" for _, shape, expected in cases))


def _tp4_cnn(ns) -> Line:
    return _tp4_shapes_and_gradients(ns, "CNN", [((1, 28, 10, (8, 16), 32), (4, 1, 28, 28), (4, 10)),
                                                 ((3, 32, 5, (8, 8), 16), (3, 3, 32, 32), (3, 5))])


def _tp4_block_shapes(ns) -> Line:
    return _tp4_shapes_and_gradients(ns, "BasicBlock", [((4, 4, 1), (2, 4, 8, 8), (2, 4, 8, 8)),
                                                        ((4, 6, 1), (2, 4, 8, 8), (2, 6, 8, 8)),
                                                        ((4, 4, 2), (2, 4, 8, 8), (2, 4, 4, 4)),
                                                        ((3, 8, 2), (2, 3, 7, 7), (2, 8, 4, 4))])


def _tp4_block_identity(ns) -> Line:
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    _, out = _tp4_module(ns, "BasicBlock", (4, 4, 1), x, zero=True, mode="eval")
    what = "with every parameter zeroed (eval mode), BasicBlock(4, 4, 1) computes relu(x)"
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return Line(False, what, f"expected shape {tuple(x.shape)}, got {describe(out)}")
    with torch.no_grad():
        if torch.allclose(out, torch.relu(x), atol=1e-5):
            return Line(True, what)
        if torch.allclose(out, x, atol=1e-5):
            return Line(False, what, "it returned x: apply the ReLU after adding the shortcut")
        return Line(False, what, "add the shortcut x to F(x), then apply the ReLU")


def _tp4_block_parameters(ns) -> Line:
    for c_in, c_out, stride in ((4, 4, 1), (4, 6, 1), (4, 4, 2)):
        torch.manual_seed(0)
        got = sum(p.numel() for p in ns["BasicBlock"](c_in, c_out, stride).parameters())
        low = 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out
        biases = 2 * c_out
        if stride != 1 or c_in != c_out:
            low, biases = low + c_in * c_out + 2 * c_out, biases + c_out
        if not low <= got <= low + biases:
            return Line(False, "parameter count", f"BasicBlock({c_in}, {c_out}, {stride}) has {got} parameters, expected "
                        f"{low} (two 3×3 convolutions without bias, two BatchNorms"
                        + (", a 1×1 projection and its BatchNorm)" if stride != 1 or c_in != c_out else
                           ", an identity shortcut)"))
    return Line(True, "parameter count (projection only when the stride or the channels change)")


def _tp4_resnet(ns) -> Line:
    return _tp4_shapes_and_gradients(ns, "ResNet", [((3, 10, (4, 8), (1, 1)), (2, 3, 32, 32), (2, 10)),
                                                    ((1, 7, (4, 4, 8), (2, 1, 1)), (3, 1, 28, 28), (3, 7))])


def _tp4_train_step(ns) -> Line:
    g = torch.Generator().manual_seed(2)
    x, labels = torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)

    def fresh(stale: bool):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                    torch.nn.Linear(4 * 36, 3))
        if stale:
            for p in model.parameters():
                p.grad = torch.ones_like(p)
        return model, torch.optim.SGD(model.parameters(), lr=0.05)

    model, opt = fresh(False)
    losses = [_number(ns["train_step"](model, opt, x, labels)) for _ in range(20)]
    if not losses[-1] < losses[0]:
        return Line(False, "20 steps on one batch lower its loss", f"losses went from {losses[0]:.4f} to {losses[-1]:.4f}")
    clean, opt = fresh(False)
    ns["train_step"](clean, opt, x, labels)
    stale, opt = fresh(True)
    ns["train_step"](stale, opt, x, labels)
    if not all(torch.allclose(a, b) for a, b in zip(clean.parameters(), stale.parameters())):
        return Line(False, "a step ignores gradients left over from the previous step",
                    "call optimizer.zero_grad() before loss.backward()")
    return Line(True, "train_step lowers the loss and zeroes the gradients", f"loss {losses[0]:.3f} → {losses[-1]:.3f}")


POLICIES = {"tp1_perceptron": NO_AUTOGRAD_NO_NN, "tp2_shallow": NO_AUTOGRAD_NO_NN}

# check("train"): the functions the graded training run uses (the hidden Threshold's ``uses``;
# tests/test_threshold.py keeps the two equal). The run itself, on a fixed budget against an
# accuracy goal, happens at grading time.
TRAINING = "train"
TRAINING_USES = {
    "tp1_perceptron": ("forward", "update", "predict"),
    "tp2_shallow": ("forward", "loss", "backward", "update"),
    "tp3_deep": ("forward", "train_step"),
    "tp4_cnn": ("BasicBlock", "ResNet", "train_step"),
}


def _training(namespace: dict[str, Any], bank: str | Path | None) -> Report:
    """Are the functions the graded training run uses ready (their visible checks pass)?"""
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, _ = banks.read(path) if path.is_file() else ("", {})
    result = Report("training")
    for name in TRAINING_USES.get(assignment, ()):
        sub = _run(name, namespace, bank)
        if sub.not_implemented:
            result.not_implemented = True
            result.lines = []
            return result
        result.lines.append(Line(sub.passed, f"{name} passes its visible checks",
                                 "" if sub.passed else f'run check("{name}") to see why'))
    if result.lines:
        result.notes.append("at grading time your functions train the model on a fixed budget; the test "
                            "accuracy must reach the goal (the Experiments section shows what they reach)")
    else:
        result.notes.append("nothing to check here")
    return result


def _api(namespace: dict[str, Any], bank: str | Path | None) -> Report:
    """The functions the bank names, scanned for forbidden APIs (their source, as Jupyter keeps it)."""
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, cases = banks.read(path) if path.is_file() else ("", {})
    result = Report("your functions")
    policy = POLICIES.get(assignment)
    names = [n for n in cases if callable(namespace.get(n))]
    if policy is None or not names:
        result.notes.append("nothing to check here")
        return result
    for name in names:
        try:
            source = textwrap.dedent(inspect.getsource(namespace[name]))
        except (OSError, TypeError):
            continue
        if "raise NotImplementedError" in source:
            result.not_implemented = True
            continue
        found = scan_source(source, policy)
        result.lines.append(Line(not found, f"{name} uses only allowed APIs",
                                 "; ".join(v.describe() for v in found) + (f" — {policy.reason}" if found else "")))
    if result.lines:
        result.not_implemented = False
    return result


PROPERTIES: dict[tuple[str, str], tuple[Callable[[dict], Line], ...]] = {
    ("tp1_perceptron", "update"): (_perceptron_moves_toward_target,),
    ("tp1_perceptron", "predict"): (_perceptron_predict,),
    ("tp2_shallow", "backward"): (_shallow_gradcheck,),
    ("tp3_deep", "init_params"): (_deep_init,),
    ("tp3_deep", "train_step"): (_deep_train_step,),
    ("tp4_cnn", "CNN"): (_tp4_cnn,),
    ("tp4_cnn", "BasicBlock"): (_tp4_block_shapes, _tp4_block_parameters, _tp4_block_identity),
    ("tp4_cnn", "ResNet"): (_tp4_resnet,),
    ("tp4_cnn", "train_step"): (_tp4_train_step,),
}
