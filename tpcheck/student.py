"""The students' visible checks: one call per function from the notebook, no reference needed.

    check("forward")            # in the notebook, after the cell that defines forward
    report("forward", ns)       # the same as data (a Report), for tests and tools

What is checked, for the function named:

- the bank of fixed examples written next to the notebook at release time (``examples.npz``):
  the outputs the reference gave for them, compared with tolerance, shapes and dtypes first (for
  a training step, the parameters it leaves and the loss it returns);
- that the function leaves its arguments unchanged (those a training step must update apart);
- the part's reference-free properties on fixed examples (:mod:`tpcheck.parts`, one module per
  assignment, found by the name the bank carries; the hidden checks run the same properties on
  the examples Hypothesis draws): the perceptron update moves outputs toward their targets; the
  shallow network's ``backward`` agrees with centred finite differences of its own ``forward``
  and ``loss``; the deep network's ``init_params`` gives random, trainable weights for any depth;
  the CNN part's residual block computes relu(x) with its layers zeroed; …

A stub that still raises ``NotImplementedError`` reports "not implemented yet". Every line is
worded by :mod:`tpcheck.messages` (French unless ``TPCHECK_LANG=en``). This module
imports neither the reference nor the hidden checks: it ships to students, together with the
modules it imports relatively (bank, boundary, compare, forbidden, parts), which use only
torch and numpy.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import math
import os
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from . import bank as banks
from .boundary import OPTIMIZERS, Optimizer, Trainable, realize, realize_args
from .compare import Mismatch, compare_outputs, describe, flatten
from .forbidden import scan_source
from .messages import say
from .parts import Visible

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
            return say("student.not_implemented", function=self.function)
        out = []
        for line in self.lines:
            out.append(f"{'✓' if line.ok else '✗'} {self.function}: {line.what}" + (f" — {line.detail}" if line.detail else ""))
            if line.example is not None:
                out.append(say("student.input"))
                out += [f"      {row}" for row in str(line.example).splitlines()]
        out += [f"· {note}" for note in self.notes]
        if self.lines:
            out.append(say("student.passed" if self.passed else "student.failed", function=self.function))
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
        result.notes.append(say("student.warning", warning=w))
    if stderr.getvalue().strip():
        result.notes.append(say("student.stderr", text=stderr.getvalue().strip()[:300]))
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
        report.lines.append(Line(False, say("student.no_function", name=name)))
        return report
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, cases = banks.read(path) if path.is_file() else ("", {})
    try:
        for i, case in enumerate(cases.get(name, []), start=1):
            report.lines.append(_bank_case(fn, namespace, case, i, len(cases[name])))
        part = _part(assignment)
        for visible in (part.VISIBLE.get(name, ()) if part else ()):
            report.lines.append(_visible_line(visible, namespace))
    except NotImplementedError:
        report.not_implemented = True
    if not report.lines and not report.not_implemented:
        report.notes.append(say("student.no_visible", name=name, bank=BANK_FILE))
    return report


def _bank_case(fn, namespace, case, i, n) -> Line:
    args = realize_args(case["args"], namespace.get)
    kwargs = {k: realize(v, namespace.get) for k, v in case.get("kwargs", {}).items()}
    after = case.get("after", {})  # {position: what that argument holds after the call} (a training step)
    before = [None if j in after else realize(a, namespace.get) for j, a in enumerate(args)]
    shown = _brief(case["args"], kwargs, _names(fn), namespace.get)
    try:
        got = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - shown to the student, not raised
        return Line(False, say("student.fixed_example", i=i, n=n), say("student.raised", type=type(e).__name__, error=e), shown)
    try:
        for j, expected in after.items():
            compare_outputs(args[j], expected, {path: say("student.after_call", path=path or say("student.the_argument"))
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
                    raise Mismatch(say("student.mutated", path=path or say("student.an_argument")))
    except Mismatch as m:
        return Line(False, say("student.fixed_example", i=i, n=n), m.message, shown)
    return Line(True, say("student.fixed_example", i=i, n=n))


def _compare_number(got, expected: float) -> None:
    """A Python number returned (a loss, as ``value.item()`` gives it), within the tolerance of the
    hidden checks."""
    if isinstance(got, bool) or not isinstance(got, float):
        raise Mismatch(say("student.float", expected=f"{expected:.6g}", described=describe(got)))
    if not math.isfinite(got) or abs(got - expected) > 1e-4 * max(1.0, abs(expected)):
        raise Mismatch(say("student.number_differs", expected=f"{expected:.6g}", got=f"{got:.6g}"))


def _brief(args, kwargs=None, names: list[str] | None = None, lookup=None) -> str:
    """The arguments of a fixed example, one line each: name, then the value as readable as the
    feedback page's tables: a small tensor as its shape, dtype and an aligned grid of rounded
    values; a big one as shape, dtype, min/max and its first values; a dict of tensors, one
    line per key."""
    names = list(names or [])
    rows = []
    for i, a in enumerate(args):
        rows += _argument(names[i] if i < len(names) else f"argument {i + 1}", a, "", lookup)
    for k, v in (kwargs or {}).items():
        rows += _argument(k, v, "", lookup)
    return "\n".join(rows)


GRID_MAX = 36  # tensors of at most this many elements, 2 dimensions and GRID_COLUMNS columns are shown whole
GRID_COLUMNS = 12
FIRST = 6  # values shown of a bigger tensor


def _num(v: float) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v == 0:
        return "0"  # -0.0 too
    return f"{v:.4g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"


def _argument(name: str, a, indent: str = "", lookup=None) -> list[str]:
    if isinstance(a, Trainable):
        a = a.value
    if isinstance(a, torch.Tensor):
        return _tensor(name, a, indent)
    if isinstance(a, Optimizer):
        return [f"{indent}{name} = torch.optim.{OPTIMIZERS[a.name].__name__}(lr={a.lr:g})"]
    if isinstance(a, dict):
        rows = [f"{indent}{name} = {{{', '.join(map(str, a))}}}" if not a else f"{indent}{name}:"]
        for k, v in a.items():
            rows += _argument(str(k), v, indent + "  ", lookup)
        return rows
    if hasattr(a, "fields") and hasattr(a, "type_name"):  # a Struct: the NamedTuple's field names when defined
        factory = lookup(a.type_name) if lookup else None
        fields = list(getattr(factory, "_fields", ()))
        return [f"{indent}{name}: {a.type_name}"] + [
            r for i, f in enumerate(a.fields)
            for r in _argument(fields[i] if i < len(fields) else f"[{i}]", f, indent + "  ", lookup)]
    return [f"{indent}{name} = {_num(a) if isinstance(a, (int, float)) else repr(a)}"]


def _tensor(name: str, a: torch.Tensor, indent: str) -> list[str]:
    a = a.detach().cpu()
    dtype = str(a.dtype).replace("torch.", "")
    head = indent + say("student.tensor_head", name=name, shape=f"({', '.join(map(str, a.shape))}{',' if a.dim() == 1 else ''})",
                        dtype=dtype)
    values = a.flatten().tolist()
    if a.dim() == 0:
        return [indent + say("student.scalar", name=name, dtype=dtype, value=_num(values[0]))]
    if not values:
        return [head + say("student.empty")]
    if a.numel() <= GRID_MAX and a.dim() <= 2 and a.shape[-1] <= GRID_COLUMNS:
        grid = a.reshape(1, -1) if a.dim() == 1 else a
        cells = [[_num(v) for v in row] for row in grid.tolist()]
        width = max(len(c) for row in cells for c in row)
        return [head] + [f"{indent}    " + " ".join(c.rjust(width) for c in row) for row in cells]
    finite = [v for v in values if isinstance(v, bool) or v == v]
    low, high = (min(finite), max(finite)) if finite else (math.nan, math.nan)
    first = ", ".join(_num(v) for v in values[:FIRST])
    return [head + say("student.summary", low=_num(low), high=_num(high), first=first)]


def _names(fn) -> list[str]:
    """The names of ``fn``'s positional parameters, as the student wrote them."""
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


# check("train"): whether the functions the graded training run uses (the part's TRAINING_USES)
# pass their visible checks. The run itself, on a fixed budget against an accuracy goal, happens
# at grading time.
TRAINING = "train"


def _part(assignment: str) -> ModuleType | None:
    """The part module of ``assignment`` (:mod:`tpcheck.parts`), named like it; None for a bank
    of no known part."""
    if not assignment.isidentifier():
        return None
    try:
        return importlib.import_module(f".parts.{assignment}", __package__)
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.parts.{assignment}":
            return None
        raise


def _visible_line(visible: Visible, namespace: dict[str, Any]) -> Line:
    try:
        return Line(True, say(visible.what), visible.run(namespace))
    except NotImplementedError:
        raise
    except Mismatch as m:
        return Line(False, say(m.details.get("what", visible.what)), m.message)
    except Exception as e:  # noqa: BLE001 - shown to the student, not raised
        return Line(False, say(visible.what), say("student.raised", type=type(e).__name__, error=e))


def _training(namespace: dict[str, Any], bank: str | Path | None) -> Report:
    """Are the functions the graded training run uses ready (their visible checks pass)?"""
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, _ = banks.read(path) if path.is_file() else ("", {})
    result = Report(say("student.training"))
    part = _part(assignment)
    for name in (part.TRAINING_USES if part else ()):
        sub = _run(name, namespace, bank)
        if sub.not_implemented:
            result.not_implemented = True
            result.lines = []
            return result
        result.lines.append(Line(sub.passed, say("student.passes_visible", name=name),
                                 "" if sub.passed else say("student.run_check", name=name)))
    if result.lines:
        result.notes.append(say("student.training_note"))
    else:
        result.notes.append(say("student.nothing"))
    return result


def _api(namespace: dict[str, Any], bank: str | Path | None) -> Report:
    """The functions the bank names, scanned for forbidden APIs (their source, as Jupyter keeps it)."""
    path = Path(bank) if bank is not None else Path.cwd() / BANK_FILE
    assignment, cases = banks.read(path) if path.is_file() else ("", {})
    result = Report(say("student.your_functions"))
    part = _part(assignment)
    policy = part.POLICY if part else None
    names = [n for n in cases if callable(namespace.get(n))]
    if policy is None or not names:
        result.notes.append(say("student.nothing"))
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
        result.lines.append(Line(not found, say("student.allowed_apis", name=name),
                                 "; ".join(v.describe() for v in found) + (f" — {policy.why}" if found else "")))
    if result.lines:
        result.not_implemented = False
    return result
