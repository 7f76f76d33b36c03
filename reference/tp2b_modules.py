"""Part 2b: the network as an assembly of modules, each with its own forward and backward.

Between Part 2 (one hand-written hidden layer) and Part 3 (autograd), the course's "réseau :
assemblage de modules": every module k has ``forward(x) -> y`` and ``backward(δ_out) -> δ_in``,
which also fills the gradients of the module's own parameters; a network is their composition
(:class:`Sequential`: forward in order, backward in reverse order) and the loss is a module too::

    Linear      y = x W + b              δ_in = δ Wᵀ      grads: W = xᵀ δ, b = Σ_n δ
    Sigmoid     y = σ(x)                 δ_in = δ ⊙ y (1 − y)
    Tanh        y = tanh(x)              δ_in = δ ⊙ (1 − y²)
    ReLU        y = max(x, 0)            δ_in = δ ⊙ [x > 0]
    GELU        y = ½ x (1 + tanh(u)),   u = √(2/π) (x + 0.044715 x³)   (the tanh approximation)
    Dropout(p)  y = x ⊙ m / (1 − p),     m ~ Bernoulli(1 − p), kept for backward (train mode);
                y = x in eval mode       δ_in = δ ⊙ m / (1 − p)
    SoftmaxCrossEntropy  L = 1/N Σ_n (logsumexp(z_n) − z_n,label)     dL/dz = (softmax(z) − onehot) / N
    MSE                  L = 1/N Σ_n ½ Σ_c (y − t)²                   dL/dy = (y − t) / N

Shapes: x (N, D), W (D, M), b (M,), y (N, M). The loss modules' ``forward(z, target)`` returns a
scalar and their ``backward()`` (no argument: δ_out = dL/dL = 1) returns dL/dz. ``params()`` and
``grads()`` return the module's own tensors by name (``{"W": …, "b": …}``); a
:class:`Sequential`'s are keyed ``"<index>.<name>"`` (``"0.W"``, ``"2.b"``). :func:`sgd_step`
updates the parameters in place. Nothing here uses ``torch.autograd`` or ``torch.nn``.
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

PART = "modules"  # its name for `python -m reference train`

GELU_C = 0.7978845608028654  # √(2/π); a literal, as in the notebook's set-up cell (the grader keeps constants)


class Module:
    """A module of the network: forward(x) → y, backward(delta) → delta_in (dL/dx, from dL/dy),
    which also fills the gradients of the module's own parameters (``grads()``)."""

    def __init__(self):
        self.training = True  # train mode (Dropout draws a mask) or eval mode (identity)

    def params(self) -> dict[str, Tensor]:
        """The module's parameters by name: the tensors themselves, which sgd_step updates in place."""
        return {}

    def grads(self) -> dict[str, Tensor]:
        """dL/d(parameter) for each of params(), by the same names, as the last backward left them."""
        return {}

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def backward(self, delta: Tensor) -> Tensor:
        raise NotImplementedError

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args):
        return self.forward(*args)


class Linear(Module):
    """y = x W + b, for x (N, D), W (D, M), b (M,); weights uniform in ±1/√D, zero biases."""

    def __init__(self, D: int, M: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        bound = 1 / math.sqrt(D)
        self.W = (torch.rand(D, M, generator=generator, dtype=dtype) * 2 - 1) * bound
        self.b = torch.zeros(M, dtype=dtype)
        self.dW, self.db = torch.zeros_like(self.W), torch.zeros_like(self.b)

    def params(self) -> dict[str, Tensor]:
        return {"W": self.W, "b": self.b}

    def grads(self) -> dict[str, Tensor]:
        return {"W": self.dW, "b": self.db}

    def forward(self, x: Tensor) -> Tensor:
        self.x = x  # (N, D), for backward
        return torch.addmm(self.b, x, self.W)  # (N, M)

    def backward(self, delta: Tensor) -> Tensor:
        self.dW = self.x.T @ delta  # (D, M)
        self.db = delta.sum(0)  # (M,): every example of the batch adds its δ
        return delta @ self.W.T  # (N, D)


class Sigmoid(Module):
    """y = 1 / (1 + exp(−x)), elementwise; its derivative written with the output, y (1 − y)."""

    def forward(self, x: Tensor) -> Tensor:
        self.y = torch.sigmoid(x)
        return self.y

    def backward(self, delta: Tensor) -> Tensor:
        return delta * self.y * (1 - self.y)


class Tanh(Module):
    """y = tanh(x), elementwise; its derivative written with the output, 1 − y²."""

    def forward(self, x: Tensor) -> Tensor:
        self.y = torch.tanh(x)
        return self.y

    def backward(self, delta: Tensor) -> Tensor:
        return delta * (1 - self.y * self.y)


class ReLU(Module):
    """y = max(x, 0), elementwise; its derivative is 1 where x > 0, else 0."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return torch.clamp(x, min=0)

    def backward(self, delta: Tensor) -> Tensor:
        return delta * (self.x > 0).to(delta.dtype)


class GELU(Module):
    """y = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), the tanh approximation of x Φ(x)."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return 0.5 * x * (1 + torch.tanh(GELU_C * (x + 0.044715 * x.pow(3))))

    def backward(self, delta: Tensor) -> Tensor:
        x = self.x
        t = torch.tanh(GELU_C * (x + 0.044715 * x.pow(3)))
        derivative = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x)
        return delta * derivative


class Dropout(Module):
    """Inverted dropout: in train mode, each unit is kept with probability 1 − p and scaled by
    1 / (1 − p) (so that E[y] = x); the mask is drawn once per forward (from ``seed``'s generator
    when given) and kept for backward. In eval mode, the identity."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None):
        super().__init__()
        self.p = p
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            self.mask = None
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.p
        self.mask = keep.to(x.dtype) / (1 - self.p)  # (N, M), the same for backward
        return x * self.mask

    def backward(self, delta: Tensor) -> Tensor:
        return delta if self.mask is None else delta * self.mask


class SoftmaxCrossEntropy(Module):
    """L = 1/N Σ_n −log softmax(z_n)[label_n] for logits z (N, C) and int64 labels (N,), computed
    with a stable log-sum-exp (max subtracted first); backward: (softmax(z) − onehot) / N."""

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        shifted = z - z.max(1, keepdim=True).values  # the largest logit becomes 0: exp never overflows
        log_sum = shifted.exp().sum(1).log()  # (N,)
        self.probs = (shifted - log_sum[:, None]).exp()  # softmax(z), (N, C)
        self.labels = labels
        return (log_sum - shifted.gather(1, labels[:, None]).squeeze(1)).mean()

    def backward(self) -> Tensor:
        n = self.probs.shape[0]
        onehot = torch.zeros_like(self.probs)
        onehot[torch.arange(n), self.labels] = 1
        return (self.probs - onehot) / n


class MSE(Module):
    """L = 1/N Σ_n ½ Σ_c (y_nc − t_nc)², Part 2's squared error; backward: (y − t) / N."""

    def forward(self, y: Tensor, t: Tensor) -> Tensor:
        self.diff = y - t
        return 0.5 * self.diff.pow(2).sum() / y.shape[0]

    def backward(self) -> Tensor:
        return self.diff / self.diff.shape[0]


class Sequential(Module):
    """Modules applied in order; backward goes through them in reverse order. params() and
    grads() gather the modules' own, keyed "<index>.<name>" ("0.W", "0.b", "2.W" …)."""

    def __init__(self, modules: list[Module]):
        super().__init__()
        self.modules = list(modules)

    def forward(self, x: Tensor) -> Tensor:
        for module in self.modules:
            x = module.forward(x)
        return x

    def backward(self, delta: Tensor) -> Tensor:
        for module in reversed(self.modules):
            delta = module.backward(delta)
        return delta

    def params(self) -> dict[str, Tensor]:
        return {f"{i}.{k}": v for i, m in enumerate(self.modules) for k, v in m.params().items()}

    def grads(self) -> dict[str, Tensor]:
        return {f"{i}.{k}": v for i, m in enumerate(self.modules) for k, v in m.grads().items()}

    def train(self, mode: bool = True):
        self.training = mode
        for module in self.modules:
            module.train(mode)
        return self


def sgd_step(params: dict[str, Tensor], grads: dict[str, Tensor], lr: float) -> None:
    """One step of gradient descent, in place: params[k] ← params[k] − lr · grads[k] for every key."""
    for k, p in params.items():
        p.sub_(grads[k], alpha=lr)


def mlp(D: int, H: int, C: int, *, dropout: float = 0.0, generator: torch.Generator | None = None,
        seed: int = 0) -> Sequential:
    """Linear(D, H) → ReLU (→ Dropout) → Linear(H, C): the experiments' network (logits out)."""
    middle = [Dropout(dropout, seed=seed)] if dropout > 0 else []
    return Sequential([Linear(D, H, generator=generator), ReLU(), *middle, Linear(H, C, generator=generator)])


def predict(model: Module, x: Tensor, batch: int = 2000) -> Tensor:
    """Predicted classes (N,) int64 in eval mode (the model is put back in train mode after)."""
    model.eval()
    out = torch.cat([model.forward(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
    model.train()
    return out


# Evidence (README "Measured figures"), 2 CPU cores shared with other sessions, torch 2.14 CPU:
# see tests/reference/test_tp2b_modules.py for the full-MNIST run and its goal.
@dataclass(frozen=True)
class Hyper:
    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.5  # peak η of sgd_step
    seed: int = 0
    hidden: int = 512  # H
    dropout: float = 0.0  # p of a Dropout after the ReLU (0: none)
    schedule: str = "cosine"
    warmup: float = 0.05


_TUNED = {
    "mnist": Hyper(),
    "mnist-sample": Hyper(epochs=20, batch_size=32, lr=0.1, hidden=256),
}


def hyper_for(dataset: str) -> Hyper:
    """The tuned hyper-parameters for ``dataset`` (those of mnist for datasets not tuned)."""
    return _TUNED.get(dataset, _TUNED["mnist"])


def train(data: datasets.Dataset, hp: Hyper, *, device: torch.device | str = "cpu", progress: bool = False,
          max_batches: int | None = None) -> tuple[Sequential, History]:
    """Train Linear–ReLU–Linear with SoftmaxCrossEntropy by mini-batch SGD (η warmed up, then
    decayed by ``hp.schedule``); evaluate on ``data.test`` after every epoch. History.seconds
    counts the updates only."""
    device = torch.device(device)
    x_train, y_train = data.train.flat().to(device), data.train.labels.to(device)
    x_test, y_test = data.test.flat().to(device), data.test.labels.to(device)
    generator = torch.Generator().manual_seed(hp.seed)
    model = mlp(x_train.shape[1], hp.hidden, data.num_classes, dropout=hp.dropout, generator=generator, seed=hp.seed)
    for p in model.params().values():
        p.data = p.to(device)
    loss = SoftmaxCrossEntropy()
    per_epoch = math.ceil(len(x_train) / hp.batch_size)
    total = hp.epochs * per_epoch if max_batches is None else min(hp.epochs * per_epoch, max_batches)
    history = History(part=PART, dataset=data.name)
    step, seconds = 0, 0.0
    for _ in tqdm(range(hp.epochs), desc=PART, unit="epoch", disable=not progress):
        start = time.perf_counter()
        total_loss, seen = 0.0, 0
        for idx in batches(len(x_train), hp.batch_size, generator):
            if step >= total:
                break
            idx = idx.to(device)
            value = loss.forward(model.forward(x_train[idx]), y_train[idx])
            model.backward(loss.backward())
            sgd_step(model.params(), model.grads(), optim.learning_rate(step, total, hp.lr, hp.schedule, warmup=hp.warmup))
            total_loss += float(value) * len(idx)
            seen += len(idx)
            step += 1
        seconds += time.perf_counter() - start
        history.record(step / per_epoch, total_loss / max(seen, 1), accuracy(predict(model, x_test), y_test))
        if step >= total:
            break
    history.seconds = seconds
    return model, history
