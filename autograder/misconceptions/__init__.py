"""Naming the misconception: the stage after the checks that says which typical bug a failure is.

Each assignment may have a catalog, ``autograder/misconceptions/<assignment>.py`` (grader side,
never shipped), whose ``CATALOG`` lists :class:`Misconception` entries: a graded function, a
*variant* of the reference's function written the way a student gets it wrong (trusted code,
run here), a French sentence for the student (the course's equation in plain Unicode) and an
English one for the instructor. Its ``REFERENCE`` is the reference module, ``CALLS`` maps the
``"<function>.<check>"`` of properties without ``argnames`` to the arguments they call the
function with (``example → (args, kwargs)``).

:func:`run` is :func:`~autograder.stages.run_checks.run_assignment` with each check's property
wrapped (:class:`Recorded`) so that the example it last failed on (Hypothesis replays the
shrunk counterexample last) is kept here, in the grader; then :func:`name`:

1. for each graded function F with a catalog, its failed checks in order (not the "not judged"
   ones), each with its recorded counterexample: the student's F is called again on it
   *through the submission* (the sandbox), giving its output and its arguments as it left them;
2. the reference's F and every variant of F run here on the same arguments (realized copies,
   torch's generator seeded 0 as the sandbox seeds it before each call);
3. the first variant whose output and arguments-after equal the student's (tensors within
   :mod:`tpcheck.compare`'s tolerance, same shape, dtype and ``requires_grad``) names the
   misconception, provided the student's call really differs from the reference's and the
   variant's does too, and it is the only one that does on every failed check of F where the
   student is wrong; while two agree, the check's fixed bank examples and the counterexample
   with new values (:func:`perturbed`) tell them apart. The finding goes in that check's ``details["misconception"]``
   (``{"id", "fr", "en"}``); one per function. No variant matching: nothing is said.

Nothing here can cost a submission anything: any fault (the student's or a variant's) just
means no misconception is named.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from autograder.checks.spec import Assignment, Check
from autograder.results import FAILED, CheckResult
from autograder.submission import StudentRaised, Submission
from tpcheck.boundary import Struct, Trainable, realize_args
from tpcheck.compare import ATOL, RTOL, flatten, type_name


@dataclass(frozen=True)
class Misconception:
    id: str  # stable, e.g. "missing_sigmoid_derivative"
    function: str  # the graded function it is a variant of
    variant: Callable[..., Any]  # the reference's function with the misconception in it
    fr: str  # for the student: what the code does and the course's equation
    en: str  # for the instructor's report


@dataclass(frozen=True)
class Catalog:
    reference: Any  # the reference module
    entries: tuple[Misconception, ...]
    calls: dict[str, Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]]


def catalog(assignment: str) -> Catalog | None:
    """The assignment's catalog, or None when it has none."""
    try:
        module = importlib.import_module(f"{__name__}.{assignment}")
    except ModuleNotFoundError:
        return None
    return Catalog(module.REFERENCE, tuple(module.CATALOG), dict(getattr(module, "CALLS", {})))


class Recorded:
    """A check's property that keeps, in ``slot[key]``, the example it last failed on."""

    def __init__(self, prop: Callable[..., Any], slot: dict[int, Any], key: int):
        self.prop, self.slot, self.key = prop, slot, key

    def __call__(self, ctx, example):
        try:
            return self.prop(ctx, example)
        except BaseException:
            self.slot[self.key] = example
            raise

    def __getattr__(self, name: str) -> Any:  # argnames, relative, reference, outputs…
        if name in ("prop", "slot", "key"):
            raise AttributeError(name)
        return getattr(self.prop, name)


def recording(assignment: Assignment, slot: dict[int, Any]) -> Assignment:
    checks = tuple(dataclasses.replace(c, prop=Recorded(c.prop, slot, i)) for i, c in enumerate(assignment.checks))
    return dataclasses.replace(assignment, checks=checks)


def run(assignment: Assignment, submission: Submission, profile: str = "grading") -> list[CheckResult]:
    """The assignment's checks (blame rule included), then the misconceptions named."""
    from autograder.stages.run_checks import run_assignment

    examples: dict[int, Any] = {}
    results = run_assignment(recording(assignment, examples), submission, profile)
    return name(assignment, submission, results, examples)


def name(assignment: Assignment, submission: Submission, results: list[CheckResult],
         examples: dict[int, Any]) -> list[CheckResult]:
    """``results`` with ``details["misconception"]`` set where a variant of the catalog
    reproduces what the student's function did on a failed check's counterexample."""
    found = catalog(assignment.name)
    if found is None:
        return results
    results = list(results)
    for function in assignment.functions:
        entries = [e for e in found.entries if e.function == function]
        failed = [i for i, (c, r) in enumerate(zip(assignment.checks, results))
                  if c.function == function and r.status == FAILED and i in examples]
        if not entries or not failed:
            continue
        try:
            hit = _identify(assignment, submission, found, failed, examples, entries)
        except Exception:  # noqa: BLE001 - naming is a bonus: any fault names nothing
            hit = None
        if hit is not None:
            i, entry = hit
            results[i] = dataclasses.replace(results[i], details={
                **results[i].details, "misconception": {"id": entry.id, "fr": entry.fr, "en": entry.en}})
    return results


def _identify(assignment, submission, found: Catalog, failed: list[int], examples, entries):
    """(the check to name it on, the entry) when exactly one misconception reproduces the student's
    function on every failed check's counterexample (and, while more than one does, on the
    check's fixed bank examples) where the student is wrong; else None."""
    candidates: set[str] | None = None
    first: int | None = None
    for i in failed:
        check = assignment.checks[i]
        inputs = [examples[i]]
        bank = getattr(check.prop, "bank_examples", None)
        for n, example in enumerate(inputs):
            ids = _matching(assignment, submission, found, check, example, entries)
            if ids is None:
                continue  # the student is right on this input, or it cannot be replayed
            candidates = ids if candidates is None else candidates & ids
            first = i if first is None else first
            if not candidates:
                return None  # no variant is what the student wrote
            if n == len(inputs) - 1 and len(candidates) > 1 and len(inputs) == 1:
                # told apart on the fixed bank examples, and on the counterexample with new values
                inputs.extend([*(bank() if bank is not None else ()), *(perturbed(examples[i], k) for k in (1, 2))])
    if candidates is None or len(candidates) != 1:
        return None
    (only,) = candidates
    return first, next(e for e in entries if e.id == only)


def perturbed(example: Any, seed: int) -> Any:
    """``example`` with every floating-point tensor's values drawn anew in [0, 1) (seeded), same
    shapes and dtypes: an input on which two variants that agreed on a shrunk counterexample
    (zeros, a single example) usually differ."""
    g = torch.Generator().manual_seed(seed)

    def walk(v):
        if isinstance(v, torch.Tensor):
            return torch.rand(v.shape, generator=g, dtype=v.dtype) if v.is_floating_point() else v
        if isinstance(v, Trainable):
            return dataclasses.replace(v, value=walk(v.value))
        if isinstance(v, Struct):
            return dataclasses.replace(v, fields=tuple(walk(f) for f in v.fields))
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
            return type(v)(walk(x) for x in v)
        return v

    return walk(example)


def _arguments(found: Catalog, check: Check, example: Any):
    builder = found.calls.get(f"{check.function}.{check.name}")
    if builder is not None:
        return builder(example)
    argnames = getattr(check.prop, "argnames", None)
    if not argnames or not isinstance(example, dict):
        return None
    return tuple(example[a] for a in argnames), {}


def _matching(assignment, submission, found: Catalog, check: Check, example: Any, entries) -> set[str] | None:
    """The ids of the entries that do what the student's function does on ``example``; None when
    the student's does what the reference does there (or the example cannot be replayed)."""
    call = _arguments(found, check, example)
    if call is None:
        return None
    args, kwargs = call
    try:
        student = submission.invoke(check.function, args, assignment.policy, kwargs)
    except StudentRaised:
        return None
    got = (student.output, tuple(student.inputs_after))
    paths = getattr(check.prop, "outputs", None)
    lookup = lambda n: getattr(found.reference, n, None)  # noqa: E731 - the reference's NamedTuples
    reference = _observe(getattr(found.reference, check.function), args, kwargs, lookup)
    if reference is None or same(got, reference, paths):
        return None
    ids = set()
    for entry in entries:
        seen = _observe(entry.variant, args, kwargs, lookup)
        if seen is not None and not same(seen, reference, paths) and same(got, seen, paths):
            ids.add(entry.id)
    return ids


def _observe(fn, args, kwargs, lookup):
    """What a trusted function does on realized copies of ``args``: its output, its arguments after."""
    try:
        real = realize_args(args, lookup)
        torch.default_generator.manual_seed(0)  # as the sandbox and InProcess seed before each call
        return fn(*real, **kwargs), tuple(real)
    except Exception:  # noqa: BLE001 - a variant that cannot run on this input matches nothing
        return None


def same(got, want, paths=None) -> bool:
    """Do two observations ``(output, arguments after)`` agree: the outputs on ``paths`` (all
    of ``want``'s by default), every tensor argument's values after the call?"""
    g_out, w_out = flatten(got[0]), flatten(want[0])
    for path in (paths or w_out):
        if path not in g_out or path not in w_out or not _leaf(g_out[path], w_out[path], grad=True):
            return False
    for g_arg, w_arg in zip(got[1], want[1]):
        g_flat, w_flat = flatten(g_arg), flatten(w_arg)
        for path, w in w_flat.items():
            if isinstance(w, torch.Tensor) and not _leaf(g_flat.get(path), w, grad=False):
                return False
    return True


def _leaf(g, w, *, grad: bool) -> bool:
    if isinstance(w, torch.Tensor):
        if type(g) is not torch.Tensor or g.shape != w.shape or g.dtype != w.dtype:
            return False
        if grad and g.requires_grad != w.requires_grad:
            return False
        gd, wd = g.detach().double(), w.detach().double()
        finite = wd[torch.isfinite(wd)]
        scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
        return bool(torch.isclose(gd, wd, rtol=RTOL, atol=ATOL * scale, equal_nan=True).all())
    if isinstance(w, bool) or not isinstance(w, (int, float)):
        return type_name(g) == type_name(w) if not isinstance(w, (str, bool)) else g == w
    if isinstance(g, bool) or not isinstance(g, (int, float)) or type(g) is not type(w):
        return False
    return math.isclose(g, w, rel_tol=RTOL, abs_tol=ATOL * max(1.0, abs(w))) or (math.isnan(g) and math.isnan(w))
