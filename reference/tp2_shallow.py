"""Part 2: one sigmoid hidden layer, linear outputs, squared error, backpropagation by hand.

The network and its loss, for a mini-batch of N examples with one-hot targets t::

    h = σ(x W1 + b1)                     x: (N, D)  W1: (D, H)  b1: (H,)  h: (N, H)
    y = h W2 + b2                        W2: (H, C)  b2: (C,)  y: (N, C)
    L = 1/N Σ_n ½ Σ_c (t_nc − y_nc)²

The course's deltas (σ' written with the activation: σ'(a) = h (1 − h))::

    δ2 = t − y                           (N, C)   output layer
    δ1 = h (1 − h) ⊙ (δ2 W2ᵀ)            (N, H)   hidden layer, the error sent back through W2

and its rule Δw = η δ y_prev, averaged over the batch, is gradient descent on L::

    ∂L/∂W2 = −hᵀ δ2 / N    ∂L/∂b2 = −mean_n δ2    ∂L/∂W1 = −xᵀ δ1 / N    ∂L/∂b1 = −mean_n δ1

:func:`backward` returns those gradients keyed like the parameters and :func:`update` takes
the step params − η · grads. Nothing here uses ``torch.autograd`` or ``torch.nn``; every
function is pure (inputs are never modified, new dicts are returned).

**One η per layer.** :func:`train` is plain mini-batch SGD, but with a larger η for the hidden
layer than for the output layer (:func:`update_layers`, ``Hyper.hidden_lr_scale``). The output
layer's η must stay small, or the linear outputs diverge: its step moves y by about η |h|², and
|h|² ≈ H/4 while the sigmoid units sit near ½. The hidden layer's gradients are ~100× smaller
(δ1 = h (1 − h) ⊙ δ2 W2ᵀ, with h (1 − h) ≤ ¼ and W2 ~ 1/√H), so with the output layer's η it
barely learns. A single η reaches about 0.95 on MNIST; one η per layer reaches 0.975 (see the
evidence above :class:`Hyper`). The schedule warms η up from 0, then decays it to 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from reference.training import History, accuracy, batches
from tpcheck import data as datasets
from tpcheck import optim

PART = "shallow"  # its name for `python -m reference train`

Params = dict[str, Tensor]  # {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
Grads = dict[str, Tensor]  # same keys and shapes as Params

SCHEDULES = ("constant", "linear", "cosine")  # those of tpcheck.optim.SCHEDULES this part takes


class ShallowCache(NamedTuple):
    """What :func:`forward` keeps for :func:`backward`."""

    x: Tensor  # (N, D) inputs
    h: Tensor  # (N, H) hidden activations, after the sigmoid
    y: Tensor  # (N, C) linear outputs


def sigmoid(a: Tensor) -> Tensor:
    """σ(a) = 1 / (1 + exp(−a)), elementwise, any shape."""
    return torch.sigmoid(a)


def sigmoid_derivative(h: Tensor) -> Tensor:
    """σ'(a) written with the activation h = σ(a): h (1 − h), elementwise, any shape."""
    return h * (1 - h)


def init_params(
    D: int = 784,
    H: int = 512,
    C: int = 10,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Random weights uniform in ±1/√fan_in (so no two hidden units start alike), zero biases.

    Inputs:
    - D: inputs per example
    - H: hidden units
    - C: outputs (classes)
    - generator: the random source (None: torch's global one)
    - dtype: floating-point type of the parameters

    Returns params: {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
    """

    def uniform(fan_in: int, *shape: int) -> Tensor:
        return (torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1) / math.sqrt(fan_in)

    return {
        "W1": uniform(D, D, H),
        "b1": torch.zeros(H, dtype=dtype),
        "W2": uniform(H, H, C),
        "b2": torch.zeros(C, dtype=dtype),
    }


def forward(params: Params, x: Tensor) -> tuple[Tensor, ShallowCache]:
    """Outputs of the network and what backward needs.

    Inputs:
    - params: {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
    - x: inputs, of shape (N, D)

    Returns (y, cache):
    - y: linear outputs, of shape (N, C)
    - cache: ShallowCache(x (N, D), h (N, H), y (N, C))
    """
    h = sigmoid(torch.addmm(params["b1"], x, params["W1"]))  # (N, H)
    y = torch.addmm(params["b2"], h, params["W2"])  # (N, C)
    return y, ShallowCache(x, h, y)


def loss(y: Tensor, t: Tensor) -> Tensor:
    """Squared error averaged over the batch: L = 1/N Σ_n ½ Σ_c (t_nc − y_nc)².

    Inputs:
    - y: outputs, of shape (N, C)
    - t: one-hot targets, of shape (N, C)

    Returns a scalar tensor.
    """
    return 0.5 * (t - y).pow(2).sum() / y.shape[0]


def output_delta(y: Tensor, t: Tensor) -> Tensor:
    """δ2 = t − y, of shape (N, C), from outputs y (N, C) and targets t (N, C)."""
    return t - y


def hidden_delta(delta2: Tensor, W2: Tensor, h: Tensor) -> Tensor:
    """δ1 = h (1 − h) ⊙ (δ2 W2ᵀ): the output error sent back through W2 and the sigmoid.

    Inputs:
    - delta2: output deltas, of shape (N, C)
    - W2: hidden-to-output weights, of shape (H, C)
    - h: hidden activations, of shape (N, H)

    Returns delta1, of shape (N, H).
    """
    return sigmoid_derivative(h) * (delta2 @ W2.T)  # (N, H)


def backward(params: Params, cache: ShallowCache, t: Tensor) -> Grads:
    """Gradients of :func:`loss` with respect to every parameter.

    Inputs:
    - params: {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
    - cache: ShallowCache from forward(params, x)
    - t: one-hot targets, of shape (N, C)

    Returns grads keyed like params: {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}.
    """
    x, h, y = cache
    n = x.shape[0]
    delta2 = output_delta(y, t)  # (N, C)
    delta1 = hidden_delta(delta2, params["W2"], h)  # (N, H)
    return {
        "W1": x.T @ delta1 / -n,  # (D, H)
        "b1": -delta1.mean(0),  # (H,)
        "W2": h.T @ delta2 / -n,  # (H, C)
        "b2": -delta2.mean(0),  # (C,)
    }


def update(params: Params, grads: Grads, lr: float) -> Params:
    """One step of gradient descent: a new dict {k: params[k] − lr · grads[k]}.

    Inputs:
    - params: parameters, left unchanged
    - grads: gradients keyed like params, same shapes
    - lr: learning rate η

    Returns new params, same keys and shapes. (With grads from :func:`backward` this is the
    course's Δw = η δ y_prev averaged over the batch.)
    """
    return {k: torch.add(p, grads[k], alpha=-lr) for k, p in params.items()}


def predict(params: Params, x: Tensor) -> Tensor:
    """Predicted classes (N,) int64: the index of the largest output for inputs x (N, D)."""
    return forward(params, x)[0].argmax(1)


def learning_rate(hp: Hyper, step: int, total_steps: int) -> float:
    """η of the output layer for mini-batch ``step`` (0-based) of ``total_steps``.

    η rises linearly from 0 over the first ``hp.warmup`` fraction of the steps, and decays
    from ``hp.lr`` towards 0 over the whole run following ``hp.schedule`` (``constant``,
    ``linear`` or ``cosine``); the smaller of the two applies. The hidden layer's η is this
    times ``hp.hidden_lr_scale``. (The course's one schedule, :func:`tpcheck.optim.learning_rate`.)
    """
    return optim.learning_rate(step, total_steps, hp.lr, hp.schedule, warmup=hp.warmup)


# Evidence, measured on 2 CPU cores shared with another job (torch 2.14 CPU, float32):
# - mnist (60,000 / 10,000), defaults: test accuracy 0.9776 (seed 0), 0.9766 (seed 1), in
#   11.8–13.3 s of training with 2 threads (22–24 s with 1 thread while the other core was busy).
# - mnist-sample (4,000 / 1,000): 0.957 (seed 0), 0.953, 0.946 (seeds 1, 2) in 1.3–1.8 s.
# - One η for both layers (hidden_lr_scale=1): 0.907 (lr 0.1) and 0.934 (lr 0.3) with these
#   settings; 0.950 at best over a dozen others (sparser init, bigger W2, higher η). Adam's
#   effective per-layer steps on this net (W1 ~5, W2 ~0.1) pointed to the ratio used here.
@dataclass(frozen=True)
class Hyper:
    epochs: int = 12
    batch_size: int = 64  # examples per update
    lr: float = 0.2  # peak η of the output layer (W2, b2)
    seed: int = 0
    hidden: int = 512  # H, hidden units
    hidden_lr_scale: float = 200.0  # η of the hidden layer (W1, b1) = lr × this
    schedule: str = "cosine"  # decay of η from lr towards 0 over the run (see learning_rate)
    warmup: float = 0.2  # fraction of the steps over which η first rises linearly from 0


_TUNED = {
    "mnist": Hyper(),
    "mnist-sample": Hyper(epochs=30, batch_size=32, lr=0.1, hidden=256),
}


def hyper_for(dataset: str) -> Hyper:
    """The tuned hyper-parameters for ``dataset`` (those of mnist for datasets not tuned)."""
    return _TUNED.get(dataset, _TUNED["mnist"])


HIDDEN_LAYER = ("W1", "b1")
OUTPUT_LAYER = ("W2", "b2")


def update_layers(params: Params, grads: Grads, lr_hidden: float, lr_output: float) -> Params:
    """:func:`update` with one η per layer: lr_hidden for W1, b1 and lr_output for W2, b2.

    Returns new params, same keys and shapes; params and grads are left unchanged.
    """
    hidden = update({k: params[k] for k in HIDDEN_LAYER}, grads, lr_hidden)
    output = update({k: params[k] for k in OUTPUT_LAYER}, grads, lr_output)
    return {**hidden, **output}


def train(
    data: datasets.Dataset,
    hp: Hyper,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    max_batches: int | None = None,
) -> tuple[Params, History]:
    """Train the network on ``data.train`` by mini-batch SGD (one η per layer, see
    :func:`update_layers`); evaluate on ``data.test``.

    Inputs:
    - data: a dataset; its images are flattened to (N, D)
    - hp: hyper-parameters
    - device: where the tensors live during training
    - progress: show a progress bar over epochs (on stderr)
    - max_batches: stop after that many mini-batches in all (None: run every epoch)

    Returns (params, history): the trained params and one History entry per epoch (train
    loss = mean :func:`loss` of the epoch's mini-batches, each before its update; test
    accuracy). History.seconds counts the updates only, not the test evaluations.
    """
    if hp.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {hp.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    device = torch.device(device)
    x_train = data.train.flat().to(device)  # (N, D)
    t_train = datasets.one_hot(data.train.labels, data.num_classes).to(device)  # (N, C)
    x_test, y_test = data.test.flat().to(device), data.test.labels.to(device)

    generator = torch.Generator().manual_seed(hp.seed)
    params = init_params(x_train.shape[1], hp.hidden, data.num_classes, generator=generator)
    params = {k: v.to(device) for k, v in params.items()}

    steps_per_epoch = math.ceil(len(x_train) / hp.batch_size)
    total_steps = hp.epochs * steps_per_epoch
    if max_batches is not None:
        total_steps = min(total_steps, max_batches)
    history = History(part="shallow", dataset=data.name)
    step, seconds = 0, 0.0
    for _ in tqdm(range(hp.epochs), desc="shallow", unit="epoch", disable=not progress):
        start = time.perf_counter()
        total_loss, seen = torch.zeros((), device=device), 0
        for idx in batches(len(x_train), hp.batch_size, generator):
            if step >= total_steps:
                break
            idx = idx.to(device)
            t = t_train[idx]
            y, cache = forward(params, x_train[idx])
            total_loss += loss(y, t) * len(idx)
            seen += len(idx)
            lr = learning_rate(hp, step, total_steps)
            params = update_layers(params, backward(params, cache, t), lr * hp.hidden_lr_scale, lr)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - start
        train_loss = float(total_loss) / max(seen, 1)  # mean loss of the epoch's mini-batches
        history.record(step / steps_per_epoch, train_loss, accuracy(predict(params, x_test), y_test))
        if step >= total_steps:
            break
    history.seconds = seconds
    return params, history
