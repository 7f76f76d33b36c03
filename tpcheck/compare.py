"""Compare a student's outputs with expected ones: structure, then type, shape, dtype, values.

Outputs are flattened to ``{path: tensor}`` first: a tensor is ``""``, tuples (NamedTuples
included, so a student's plain tuple and the reference's NamedTuple agree) are indexed ``"0"``,
``"1.2"``…, dicts keyed by their keys. Only exact ``torch.Tensor`` instances count: a subclass,
or any object with a lying ``__eq__``, is refused before a value is looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .messages import say

# Float32 results of the same formula, summed in another order, differ by ~1e-6 relative;
# these leave a margin of 100x while catching every real bug of the mutation suite.
RTOL = 1e-4
ATOL = 1e-5  # scaled by max(1, max|expected|) so large outputs get a proportionate margin


class Mismatch(AssertionError):
    """A check failed; ``message`` is for the student, ``details`` holds what was compared."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{path: leaf}`` for nested tuples/lists/dicts; leaves are whatever is not a container."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, (tuple, list)):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value}


def type_name(value: Any) -> str:
    """The type of ``value`` as the student's code made it (an Opaque stands for a value the
    sandbox could not send as plain data, and carries its type's name)."""
    return value.type_name if type(value).__name__ == "Opaque" else type(value).__name__


def describe(value: Any) -> str:
    if type(value) is torch.Tensor:
        return say("compare.tensor", shape=tuple(value.shape), dtype=str(value.dtype).replace("torch.", ""))
    return say("compare.object", type=type_name(value))


def assert_plain_tensor(value: Any, name: str) -> torch.Tensor:
    if type(value) is not torch.Tensor:
        raise Mismatch(say("compare.not_tensor", name=name, described=describe(value)), got_type=type_name(value))
    return value


def assert_close(got: Any, expected: torch.Tensor, name: str, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Type, shape, dtype, finiteness, then values within ``rtol``/``atol`` (in float64)."""
    got = assert_plain_tensor(got, name)
    if got.shape != expected.shape:
        raise Mismatch(say("compare.shape", name=name, got=tuple(got.shape), expected=tuple(expected.shape)),
                       got_shape=list(got.shape), expected_shape=list(expected.shape))
    if got.dtype != expected.dtype:
        raise Mismatch(say("compare.dtype", name=name, got=got.dtype, expected=expected.dtype),
                       got_dtype=str(got.dtype), expected_dtype=str(expected.dtype))
    g, e = got.detach().double(), expected.detach().double()
    if not torch.isfinite(g).all():
        bad = _index(int((~torch.isfinite(g)).flatten().nonzero()[0]), g.shape)
        raise Mismatch(say("compare.not_finite", name=name, where=bad), where=bad)
    scale = max(1.0, float(e.abs().max())) if e.numel() else 1.0
    diff = (g - e).abs()
    allowed = atol * scale + rtol * e.abs()
    if e.numel() and bool((diff > allowed).any()):
        flat = int((diff - allowed).flatten().argmax())
        where = _index(flat, e.shape)
        nonzero = e.abs() > 1e-6
        rel = float((diff[nonzero] / e.abs()[nonzero]).max()) if nonzero.any() else None
        rel_text = say("compare.rel", rel=f"{rel:.3g}") if rel is not None else ""
        at = say("compare.at", where=where) if where else ""
        raise Mismatch(
            say("compare.differs", name=name, at=at, expected=f"{float(e.flatten()[flat]):.6g}",
                got=f"{float(g.flatten()[flat]):.6g}", max_abs=f"{float(diff.max()):.3g}", rel=rel_text),
            where=where, expected=round(float(e.flatten()[flat]), 6), got=round(float(g.flatten()[flat]), 6),
            max_abs_diff=float(diff.max()), max_rel_diff=rel,
        )


def compare_outputs(got: Any, expected: Any, names: Mapping[str, str] | None = None, **tol: float) -> None:
    """Compare flattened outputs; ``names`` maps the paths to compare to readable names
    (default: every path of ``expected``). Every wrong output is named, not only the first
    (a bias bug in b1 and b2 names both): the message of several lists each one's
    (:func:`assert_close`'s: a shape, a dtype or the values), and ``details["wrong"]`` their names."""
    got_flat, exp_flat = flatten(got), flatten(expected)
    names = names or {path: (path or say("compare.the_result")) for path in exp_flat}
    wrong: dict[str, Mismatch] = {}
    for path, name in names.items():
        if path not in got_flat:
            shape = say("compare.a_tuple" if path and path[0].isdigit() else ("compare.a_dict" if path else "compare.a_tensor"))
            raise Mismatch(say("compare.missing", name=name, shape=shape, described=describe(got)), missing=path)
        try:
            assert_close(got_flat[path], exp_flat[path], name, **tol)
        except Mismatch as m:
            wrong[name] = m
    if len(wrong) == 1:
        raise next(iter(wrong.values()))
    if wrong:
        listed = list(wrong)
        first = wrong[listed[0]]
        raise Mismatch(say("compare.several", listed=and_list(listed), each="; ".join(m.message for m in wrong.values())),
                       **{**first.details, "wrong": listed, "mismatches": {k: m.message for k, m in wrong.items()}})


def and_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (``et`` in French)."""
    return items[0] if len(items) == 1 else say("compare.and", first=", ".join(items[:-1]), last=items[-1])


def _index(flat: int, shape: torch.Size) -> list[int]:
    idx = []
    for size in reversed(shape):
        idx.append(flat % size)
        flat //= size
    return list(reversed(idx))
