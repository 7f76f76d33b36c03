"""Centred finite differences in float64: the oracle for every hand-written backward.

Needs no reference, so it serves both the hidden checks and the students' visible checks.
CS231n's reading of the relative error applies (here per parameter, over its norm); in float64
with eps = 1e-6 a correct backward gives < 1e-8 and any real bug gives > 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

REL_TOLERANCE = 1e-6
SCALE_FLOOR = 1e-3


def numerical_gradients(loss: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                        params: Mapping[str, torch.Tensor], *, eps: float = 1e-6) -> dict[str, torch.Tensor]:
    """d loss / d params[k] for every key, by (L(θ + eps) − L(θ − eps)) / 2 eps, in float64.

    ``loss`` receives a fresh dict of float64 tensors each time and returns a scalar.
    """
    return numerical_gradients_batch(lambda batch: [loss(p) for p in batch], params, eps=eps)


def numerical_gradients_batch(losses: Callable[[list[dict[str, torch.Tensor]]], Sequence[Any]],
                              params: Mapping[str, torch.Tensor], *, eps: float = 1e-6) -> dict[str, torch.Tensor]:
    """As :func:`numerical_gradients`, with every perturbed point evaluated by one call of
    ``losses`` (a list of fresh float64 dicts in, one scalar each out): a sandboxed loss then
    costs one round trip instead of two per parameter entry."""
    base = {k: v.detach().double().clone() for k, v in params.items()}
    points = []
    for key, value in base.items():
        for i in range(value.numel()):
            for sign in (1.0, -1.0):
                point = {k: v.clone() for k, v in base.items()}
                point[key].view(-1)[i] += sign * eps
                points.append(point)
    values = list(losses(points)) if points else []
    if len(values) != len(points):
        raise ValueError(f"{len(values)} losses for {len(points)} points")
    grads, n = {}, 0
    for key, value in base.items():
        g = torch.zeros_like(value)
        for i in range(value.numel()):
            g.view(-1)[i] = (float(values[n]) - float(values[n + 1])) / (2 * eps)
            n += 2
        grads[key] = g
    return grads


def relative_error(analytic: torch.Tensor, numeric: torch.Tensor) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖) over the whole parameter, in float64.

    Taken over the parameter's norm rather than entry by entry: finite differences carry an
    absolute noise of ~1e-10, which would swamp entries whose true gradient is ~1e-9 (inputs
    near 0 produce them). The denominator has a floor of 1e-3, so a parameter whose gradient
    is tiny is judged on its absolute error (noise ~1e-7 there; a sign error still > 1e-3).
    """
    a, n = analytic.detach().double(), numeric.detach().double()
    if a.shape != n.shape:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    diff = float(torch.linalg.vector_norm(a - n))
    scale = float(torch.linalg.vector_norm(a) + torch.linalg.vector_norm(n))
    return diff / max(scale, SCALE_FLOOR)


def relative_errors(analytic: Mapping[str, torch.Tensor], numeric: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Relative error per parameter key (inf when a key is missing or its shape is wrong)."""
    return {k: (relative_error(analytic[k], numeric[k]) if k in analytic else float("inf")) for k in numeric}
