"""Part 1: the perceptron trained by the delta rule (Widrow–Hoff), written without autograd.

One layer of D inputs plus a bias feeding C *linear* outputs, trained towards one-hot targets t::

    y = x W + b                          x: (N, D)  W: (D, C)  b: (C,)  y: (N, C)
    Δw_ij = η x_j (t_i − y_i)            the course's per-sample rule
    Δb_i  = η (t_i − y_i)                the bias is a weight on a constant input of 1

This is gradient descent on the squared error ½ Σ_c (t_c − y_c)², so the rule converges to the
least-squares fit of the targets (on full MNIST that linear fit scores 0.860 on the test set).

**Mini-batches.** :func:`update` applies the rule to a batch of N examples at once and uses the
*mean* of the N per-sample changes (not their sum)::

    W ← W + η/N · xᵀ (t − y)            b ← b + η · mean_n (t − y)

For N = 1 this is exactly the per-sample rule above; for N > 1, every sample's change is
computed with the same weights (those before the step) and the N changes are averaged, so the
learning rate means the same thing whatever the batch size.

Nothing here uses ``torch.autograd`` or ``torch.nn``: the rule *is* the gradient, written out.
Every function is pure: it never modifies its inputs and returns new tensors and dicts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from reference.training import History, accuracy, batches
from tpcheck import data as datasets
from tpcheck import optim

PART = "perceptron"  # its name for `python -m reference train`

Params = dict[str, Tensor]  # {"W": (D, C), "b": (C,)}

SCHEDULES = ("constant", "linear", "cosine")  # those of tpcheck.optim.SCHEDULES this part takes


def init_params(
    D: int = 784,
    C: int = 10,
    *,
    scale: float = 0.01,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Small random weights of both signs, zero bias.

    Inputs:
    - D: inputs per example
    - C: outputs (classes)
    - scale: weights are drawn uniformly in (−scale, scale)
    - generator: the random source (None: torch's global one)
    - dtype: floating-point type of the parameters

    Returns params: {"W": (D, C), "b": (C,)}
    """
    W = (torch.rand(D, C, generator=generator, dtype=dtype) * 2 - 1) * scale
    b = torch.zeros(C, dtype=dtype)
    return {"W": W, "b": b}


def forward(params: Params, x: Tensor) -> Tensor:
    """Linear outputs y = x W + b.

    Inputs:
    - params: {"W": (D, C), "b": (C,)}
    - x: inputs, of shape (N, D)

    Returns y: outputs, of shape (N, C)
    """
    return torch.addmm(params["b"], x, params["W"])  # (N, C)


def loss(y: Tensor, t: Tensor) -> Tensor:
    """Squared error averaged over the batch: L = 1/N Σ_n ½ Σ_c (t_nc − y_nc)².

    Inputs:
    - y: outputs, of shape (N, C)
    - t: one-hot targets, of shape (N, C)

    Returns a scalar tensor.
    """
    return 0.5 * (t - y).pow(2).sum() / y.shape[0]


def update(params: Params, x: Tensor, t: Tensor, lr: float) -> Params:
    """One step of the delta rule on a mini-batch, averaging the per-sample changes.

    Inputs:
    - params: {"W": (D, C), "b": (C,)}, left unchanged
    - x: inputs, of shape (N, D)
    - t: one-hot targets, of shape (N, C)
    - lr: learning rate η

    Returns new params {"W": W + η/N · xᵀ(t − y), "b": b + η · mean_n(t − y)}, same shapes.
    """
    n = x.shape[0]
    error = t - forward(params, x)  # (N, C)
    return {
        "W": torch.addmm(params["W"], x.T, error, alpha=lr / n),  # (D, C)
        "b": params["b"] + lr * error.mean(0),  # (C,)
    }


def predict(params: Params, x: Tensor) -> Tensor:
    """Predicted classes: the index of the largest output.

    Inputs:
    - params: {"W": (D, C), "b": (C,)}
    - x: inputs, of shape (N, D)

    Returns labels of shape (N,), int64.
    """
    return forward(params, x).argmax(1)


def learning_rate(hp: Hyper, step: int, total_steps: int) -> float:
    """η for mini-batch ``step`` (0-based) of ``total_steps``, following ``hp.schedule``:
    ``constant`` keeps hp.lr; ``linear`` and ``cosine`` decay it from hp.lr towards 0
    (the course's one schedule, :func:`tpcheck.optim.learning_rate`)."""
    return optim.learning_rate(step, total_steps, hp.lr, hp.schedule)


# Evidence, measured on 2 CPU cores shared with another job (torch 2.14 CPU, float32):
# - mnist (60,000 / 10,000), defaults: test accuracy 0.8635 (seed 0), 0.8624, 0.8630 (seeds 1,
#   2) in 0.3–0.6 s of training; the least-squares fit of the same model scores 0.860. With
#   2 threads and the other core busy, timings jumped to several seconds: torch.set_num_threads(1)
#   is steadier for these small matrix products.
# - mnist-sample (4,000 / 1,000), epochs=10: 0.861 (seed 0), 0.855, 0.855 (seeds 1, 2) in 0.1 s.
@dataclass(frozen=True)
class Hyper:
    epochs: int = 2
    batch_size: int = 64  # examples per update
    lr: float = 0.03  # η at the first step; must stay < 2/39: 39 = top eigenvalue of E[x xᵀ] (bias in)
    seed: int = 0
    schedule: str = "linear"  # η from lr down to 0 over the whole run (see learning_rate)
    init_scale: float = 0.01  # initial weights uniform in (−init_scale, init_scale)


_TUNED = {
    "mnist": Hyper(),
    "mnist-sample": Hyper(epochs=10),
}


def hyper_for(dataset: str) -> Hyper:
    """The tuned hyper-parameters for ``dataset`` (those of mnist for datasets not tuned)."""
    return _TUNED.get(dataset, _TUNED["mnist"])


def train(
    data: datasets.Dataset,
    hp: Hyper,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    max_batches: int | None = None,
) -> tuple[Params, History]:
    """Train the perceptron on ``data.train`` with the delta rule; evaluate on ``data.test``.

    Inputs:
    - data: a dataset; its images are flattened to (N, D)
    - hp: hyper-parameters
    - device: where the tensors live during training
    - progress: show a progress bar over epochs (on stderr)
    - max_batches: stop after that many mini-batches in all (None: run every epoch)

    Returns (params, history): the trained {"W": (D, C), "b": (C,)} and one History entry per
    epoch (train loss = :func:`loss` over the whole train split, test accuracy).
    History.seconds counts the updates only, not the evaluations.
    """
    if hp.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {hp.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    device = torch.device(device)
    x_train = data.train.flat().to(device)  # (N, D)
    t_train = datasets.one_hot(data.train.labels, data.num_classes).to(device)  # (N, C)
    x_test, y_test = data.test.flat().to(device), data.test.labels.to(device)

    generator = torch.Generator().manual_seed(hp.seed)
    params = init_params(x_train.shape[1], data.num_classes, scale=hp.init_scale, generator=generator)
    params = {k: v.to(device) for k, v in params.items()}

    steps_per_epoch = math.ceil(len(x_train) / hp.batch_size)
    total_steps = hp.epochs * steps_per_epoch
    if max_batches is not None:
        total_steps = min(total_steps, max_batches)
    history = History(part="perceptron", dataset=data.name)
    step, seconds = 0, 0.0
    for epoch in tqdm(range(hp.epochs), desc="perceptron", unit="epoch", disable=not progress):
        start = time.perf_counter()
        for idx in batches(len(x_train), hp.batch_size, generator):
            if step >= total_steps:
                break
            idx = idx.to(device)
            params = update(params, x_train[idx], t_train[idx], learning_rate(hp, step, total_steps))
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - start
        train_loss = float(loss(forward(params, x_train), t_train))
        history.record(step / steps_per_epoch, train_loss, accuracy(predict(params, x_test), y_test))
        if step >= total_steps:
            break
    history.seconds = seconds
    return params, history
