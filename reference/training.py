"""Pieces every part's training loop shares: seeding, devices, mini-batches, history, plots."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator to pass explicitly where possible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | None) -> torch.device:
    """``cpu``, ``cuda`` (an error naming the problem when CUDA is absent) or None for the best."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is available on this machine")
    return dev


def batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Index tensors covering range(n) in mini-batches; shuffled (a new order each call) when a
    generator is given. The last batch may be smaller."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of predictions (N,) equal to labels (N,)."""
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} vs labels {tuple(labels.shape)}")
    return float((predictions == labels).float().mean()) if len(labels) else 0.0


@dataclass
class History:
    """What a training run measured, one entry per epoch (or per evaluation point)."""

    part: str
    dataset: str
    epochs: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0  # training wall time, evaluation excluded where the loop allows
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def record(self, epoch: float, loss: float, test_accuracy: float) -> None:
        self.epochs.append(epoch)
        self.train_loss.append(loss)
        self.test_accuracy.append(test_accuracy)

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")


def plot_history(history: History, path: str | Path) -> Path:
    """Learning curves (train loss, test accuracy against epochs) to a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(history.epochs, history.train_loss, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="train loss", title=f"{history.part} on {history.dataset}")
    ax_acc.plot(history.epochs, history.test_accuracy, marker="o", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title=f"final {history.final_accuracy:.4f}")
    ax_acc.grid(alpha=0.3)
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads, then restore the count. On a machine whose other
    cores are busy, two threads spinning against each other make small matrix products 3–100×
    slower than one (same results)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
