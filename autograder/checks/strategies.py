"""Hypothesis strategies for the checks, built once here and reused by the grader and the tests.

Everything is bounded (no NaN, no inf, no ``.filter``): small shapes (batch N 1–16, dims D and H
1–32, classes C 2–10), inputs in [0, 1] like pixels, parameters drawn like a real initialisation
(uniform in ±1/√fan_in), one-hot targets, learning rates among a few sensible values.
Arrays shrink toward zeros and shapes toward their minimum, so a failure ends on an input small
enough to read.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BATCH = (1, 16)
DIMS = (1, 32)
CLASSES = (2, 10)
LEARNING_RATES = (0.1, 0.5, 0.01, 1.0)


class Dims(NamedTuple):
    N: int  # batch
    D: int  # inputs
    H: int  # hidden units
    C: int  # classes


@st.composite
def dims(draw, *, batch=BATCH, inputs=DIMS, hidden=DIMS, classes=CLASSES) -> Dims:
    return Dims(
        draw(st.integers(*batch)), draw(st.integers(*inputs)),
        draw(st.integers(*hidden)), draw(st.integers(*classes)),
    )


def tensors(shape: tuple[int, ...], *, low: float = -1.0, high: float = 1.0,
            dtype: torch.dtype = torch.float32) -> st.SearchStrategy[torch.Tensor]:
    """Float tensors of a fixed shape with every element in [low, high] (finite)."""
    np_dtype = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    width = 32 if dtype == torch.float32 else 64
    low, high = float(np_dtype(low)), float(np_dtype(high))  # exactly representable bounds
    elements = st.floats(low, high, width=width, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np_dtype, shape, elements=elements).map(lambda a: torch.from_numpy(a.copy()))


def inputs(n: int, d: int, dtype: torch.dtype = torch.float32):
    """Inputs x (N, D) in [0, 1], like pixel intensities."""
    return tensors((n, d), low=0.0, high=1.0, dtype=dtype)


def weights(fan_in: int, fan_out: int, dtype: torch.dtype = torch.float32):
    """A weight matrix (fan_in, fan_out) drawn like an initialisation: uniform ±1/√fan_in."""
    bound = 1.0 / math.sqrt(fan_in)
    return tensors((fan_in, fan_out), low=-bound, high=bound, dtype=dtype)


def biases(fan_in: int, fan_out: int, dtype: torch.dtype = torch.float32):
    bound = 1.0 / math.sqrt(fan_in)
    return tensors((fan_out,), low=-bound, high=bound, dtype=dtype)


@st.composite
def labels(draw, n: int, c: int) -> torch.Tensor:
    """int64 labels (N,) in [0, C)."""
    return torch.tensor(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=torch.int64)


@st.composite
def one_hot_targets(draw, n: int, c: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot targets t (N, C)."""
    return torch.nn.functional.one_hot(draw(labels(n, c)), c).to(dtype)


def learning_rates() -> st.SearchStrategy[float]:
    return st.sampled_from(LEARNING_RATES)


def pre_activations(shape: tuple[int, ...], dtype: torch.dtype = torch.float32):
    """Pre-activations a in [-10, 10], where the sigmoid saturates at both ends."""
    return tensors(shape, low=-10.0, high=10.0, dtype=dtype)


@st.composite
def layer_sizes(draw, *, depth=(1, 4), inputs=DIMS, hidden=DIMS, classes=CLASSES) -> list[int]:
    """sizes = [D, H1, …, C] of an MLP with 1–4 weight layers."""
    n_hidden = draw(st.integers(depth[0] - 1, depth[1] - 1))
    return [draw(st.integers(*inputs))] + [draw(st.integers(*hidden)) for _ in range(n_hidden)] + [
        draw(st.integers(*classes))
    ]
