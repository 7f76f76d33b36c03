"""Training runs made of a submission's own functions: the accuracy-threshold stage.

A recipe trains one assignment's model with the functions the notebook defines, for a budget
the grader fixes (epochs, batch size, η, seed), from initial parameters the grader sends, and
returns the test-set **predictions** before the first update and after every epoch, and the
mean training loss of each epoch. It never sees the test labels: the grader computes accuracy,
the learning curve and the confusion matrix itself (:mod:`autograder.stages.threshold`).

Parts 1–3 run in the sandbox's driver (:mod:`tpworker.driver`), apart from the student's process:
``ns`` is then the driver's view of the student's functions, each call crossing the wire, and
the parameters stay in the student's process as handles (``ns.trainer``): Part 2's as a
:class:`ShallowTrainer`, Part 3's with their optimizer as a :class:`Trainer`; a mini-batch then costs one
exchange that carries no parameters.
Part 4 (``cnn``, whose model is the student's ``nn.Module`` class) and Part 2b (``modules``,
whose network is made of the student's module classes, objects that cannot leave that process)
run in the student's process.
In-process for trusted code (the reference, nbgrader's hidden cells), ``ns`` is the namespace
itself. Nothing a recipe returns is trusted: the grader re-checks types, shapes and ranges. The learning rates and
the optimizers are the course's (:mod:`tpcheck.optim`), those of the reference's own trainings.

Each recipe: ``recipe(ns, data, budget) -> {"before": (N_test,) int64, "predictions": (E, N_test)
int64, "train_loss": [E floats]}`` with ``ns`` the submission's functions, ``data`` = {x_train
(N, D) uint8, y_train (N,) int64, x_test (M, D) uint8, params {name: tensor}} and ``budget`` a dict
of plain numbers and strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from tpcheck.optim import Scheduler, learning_rate, make_optimizer
from tpcheck.training import DEEP_SCHEDULE

Namespace = dict[str, Any]


def _floats(data: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images from uint8 to float32 in [0, 1] (what the notebooks' loader gives)."""
    return data["x_train"].float().div_(255), data["y_train"].long(), data["x_test"].float().div_(255)


def _one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, classes).float()


def _labels(value: Any, n: int, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} returned {type(value).__name__}, expected a tensor of {n} labels")
    value = value.detach().reshape(-1)
    if value.numel() != n:
        raise ValueError(f"{what} returned {value.numel()} labels for {n} images")
    return value.to(torch.int64).clone()


def _params(value: Any, keys: set[str], what: str) -> dict:
    if not isinstance(value, dict) or set(value) != keys:
        raise TypeError(f"{what} returned {type(value).__name__}"
                        + (f" with keys {sorted(value)}" if isinstance(value, dict) else "")
                        + f", expected a dict with the keys {sorted(keys)}")
    return value


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _schedule(budget: dict, step: int, total: int) -> float:
    """η at mini-batch ``step`` of ``total``: budget["lr"] decayed ("linear" or "cosine", or
    "constant"), after a linear warm-up over the fraction budget["warmup"] of the steps."""
    return learning_rate(step, total, float(budget["lr"]), budget.get("schedule", "constant"),
                         warmup=float(budget.get("warmup", 0.0)))


def perceptron(ns: Namespace, data: dict, budget: dict) -> dict:
    """Part 1: mini-batches of the delta rule with the notebook's ``update``; predictions by its
    ``predict``; train loss ½‖t − y‖² averaged over the training set, by its ``forward``."""
    update, predict, forward = ns["update"], ns["predict"], ns["forward"]
    x, y, x_test = _floats(data)
    t = _one_hot(y, int(budget["classes"]))
    params = data["params"]
    generator = torch.Generator().manual_seed(int(budget["seed"]))
    per_epoch = math.ceil(len(x) / int(budget["batch_size"]))
    total, step = int(budget["epochs"]) * per_epoch, 0
    before = _labels(predict(params, x_test), len(x_test), "predict")
    predictions, losses = [], []
    for _ in range(int(budget["epochs"])):
        for idx in _batches(len(x), int(budget["batch_size"]), generator):
            params = _params(update(params, x[idx], t[idx], _schedule(budget, step, total)), {"W", "b"}, "update")
            step += 1
        out = forward(params, x)
        losses.append(float(0.5 * (t - out).pow(2).sum() / len(x)) if isinstance(out, torch.Tensor) else math.nan)
        predictions.append(_labels(predict(params, x_test), len(x_test), "predict"))
    return {"before": before, "predictions": torch.stack(predictions), "train_loss": losses}


def shallow(ns: Namespace, data: dict, budget: dict) -> dict:
    """Part 2: the notebook's ``forward``, ``loss``, ``backward`` and ``update``, with one η per
    layer (the hidden layer's is budget["hidden_lr_scale"] times the output layer's: two calls
    of ``update`` on the whole params and grads, as its docstring prescribes, each layer kept
    from the call with its η); predictions are the argmax of ``forward``'s outputs. The parameters
    stay where the student's functions run (a :class:`ShallowTrainer`): only the mini-batch and
    η go there each step, the loss comes back."""
    for name in ("forward", "loss", "backward", "update"):
        ns[name]  # all four, or KeyError  # noqa: B018
    x, y, x_test = _floats(data)
    t = _one_hot(y, int(budget["classes"]))
    trainer = ns.trainer(data["params"], budget, kind="shallow") if hasattr(ns, "trainer") \
        else ShallowTrainer(data["params"], budget)
    generator = torch.Generator().manual_seed(int(budget["seed"]))
    per_epoch = math.ceil(len(x) / int(budget["batch_size"]))
    total, step = int(budget["epochs"]) * per_epoch, 0

    def predictions_now() -> torch.Tensor:
        return _labels(trainer.predict(ns, x_test).argmax(1), len(x_test), "forward")

    before = predictions_now()
    predictions, losses = [], []
    for _ in range(int(budget["epochs"])):
        total_loss, seen = 0.0, 0
        for idx in _batches(len(x), int(budget["batch_size"]), generator):
            total_loss += float(trainer.step(ns, x[idx], t[idx], lr=_schedule(budget, step, total))) * len(idx)
            seen += len(idx)
            step += 1
        losses.append(total_loss / max(seen, 1))
        predictions.append(predictions_now())
    return {"before": before, "predictions": torch.stack(predictions), "train_loss": losses}


def _copy(value: Any) -> Any:
    """What the wire would give a function: copies of the tensors (in dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_copy(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


class ShallowTrainer:
    r"""Part 2's parameters where the student's functions run (the student's process under the
    driver, :mod:`tpworker.student`): a step is ``forward``, ``loss``, ``backward`` and the two
    whole ``update``\ s (one per layer's η, each layer kept from its own), each function given
    copies of its arguments as a call over the wire would; it returns the mini-batch's loss."""

    def __init__(self, params: dict, budget: dict):
        self.params = {k: v.detach().clone() for k, v in params.items()}
        self.scale = float(budget.get("hidden_lr_scale", 1.0))

    def step(self, ns: Namespace, x: torch.Tensor, t: torch.Tensor, *, lr: float) -> float:
        forward, loss, backward, update = ns["forward"], ns["loss"], ns["backward"], ns["update"]
        params = self.params
        y_out, cache = forward(_copy(params), _copy(x))
        value = float(loss(_copy(y_out), _copy(t)))
        grads = backward(_copy(params), _copy(cache), _copy(t))
        # update's contract: params and grads keyed alike (all four): two whole updates, one
        # per layer's η, keeping each layer from its own (never partial dicts)
        hidden = _params(update(_copy(params), _copy(grads), lr * self.scale), set(params), "update")
        output = _params(update(_copy(params), _copy(grads), lr), set(params), "update")
        self.params = {**{k: hidden[k] for k in ("W1", "b1")}, **{k: output[k] for k in ("W2", "b2")}}
        return value

    def predict(self, ns: Namespace, x: torch.Tensor) -> Any:
        """``forward``'s outputs (its first result) on the parameters now."""
        return ns["forward"](_copy(self.params), _copy(x))[0]

    def values(self) -> dict:
        return {k: v.detach().clone() for k, v in self.params.items()}


class Trainer:
    """Part 3's training state where the student's ``train_step`` runs: leaves with requires_grad
    made from the initial parameters, the torch optimizer over them and the one-cycle schedule
    stepped per mini-batch (in the student's process under the driver, :mod:`tpworker.student`)."""

    def __init__(self, params: dict, budget: dict):
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.optimizer = make_optimizer(self.params, budget["optimizer"], float(budget["lr"]))
        self.scheduler = Scheduler(self.optimizer, int(budget["total_steps"]),
                                   str(budget.get("schedule", DEEP_SCHEDULE)))

    def step(self, train_step: Callable, x: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> Any:
        loss = train_step(self.params, self.optimizer, x, labels, **kwargs)
        self.scheduler.step()
        return loss

    def values(self) -> dict:
        return {k: v.detach().clone() for k, v in self.params.items()}


def deep(ns: Namespace, data: dict, budget: dict) -> dict:
    """Part 3: the notebook's ``train_step`` (forward, loss, zero_grad, backward, step) with a
    torch optimizer and a one-cycle schedule stepped per mini-batch (a :class:`Trainer`, kept
    where the student's functions run); predictions are the argmax of its ``forward`` on the
    parameters' values, without autograd."""
    forward = ns["forward"]
    x, y, x_test = _floats(data)
    per_epoch = math.ceil(len(x) / int(budget["batch_size"]))
    budget = {**budget, "total_steps": int(budget["epochs"]) * per_epoch}
    trainer = ns.trainer(data["params"], budget) if hasattr(ns, "trainer") else Trainer(data["params"], budget)
    train_step = ns["train_step"]
    generator = torch.Generator().manual_seed(int(budget["seed"]))
    activation, loss = budget["activation"], budget["loss"]

    def predictions_now() -> torch.Tensor:
        params = trainer.values()
        with torch.no_grad():
            out = [forward(params, x_test[i : i + 2000], activation) for i in range(0, len(x_test), 2000)]
        if not all(isinstance(o, torch.Tensor) for o in out):
            raise TypeError(f"forward returned {type(out[0]).__name__}, expected a tensor of logits")
        return _labels(torch.cat(out).argmax(1), len(x_test), "forward")

    before = predictions_now()
    predictions, losses = [], []
    for _ in range(int(budget["epochs"])):
        epoch_losses = []
        for idx in _batches(len(x), int(budget["batch_size"]), generator):
            epoch_losses.append(float(trainer.step(train_step, x[idx], y[idx], activation=activation, loss=loss)))
        losses.append(sum(epoch_losses) / len(epoch_losses))
        predictions.append(predictions_now())
    return {"before": before, "predictions": torch.stack(predictions), "train_loss": losses}


def cnn(ns: Namespace, data: dict, budget: dict) -> dict:
    """Part 4: the notebook's class ``budget["model"]`` built with ``budget["kwargs"]`` (seeded),
    trained with its ``train_step`` (the five steps) on standardised images of shape
    ``budget["shape"]``, with Nesterov SGD, weight decay and a one-cycle η stepped per mini-batch,
    random flips and 4-pixel crops when ``budget["augment"]``; on the GPU when there is one.
    Predictions: the argmax of the model's logits in eval mode, without autograd."""
    train_step = ns["train_step"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shape = [int(v) for v in budget["shape"]]
    x = data["x_train"].reshape(-1, *shape).to(device)
    y = data["y_train"].long().to(device)
    x_test = data["x_test"].reshape(-1, *shape).to(device)
    mean = x.float().mean((0, 2, 3), keepdim=True) / 255
    std = x.float().std((0, 2, 3), keepdim=True) / 255

    def prepare(images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 255 - mean) / std

    torch.manual_seed(int(budget["seed"]))
    model = ns[budget["model"]](**dict(budget.get("kwargs", {}))).to(device)
    optimizer = make_optimizer(model.parameters(), "nesterov", float(budget["lr"]),
                               momentum=float(budget.get("momentum", 0.9)),
                               weight_decay=float(budget.get("weight_decay", 0.0)))
    generator = torch.Generator().manual_seed(int(budget["seed"]))
    batch_size = int(budget["batch_size"])
    per_epoch = math.ceil(len(x) / batch_size)
    scheduler = Scheduler(optimizer, int(budget["epochs"]) * per_epoch, "onecycle")

    def predictions_now() -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(prepare(x_test[i : i + 1000])).float() for i in range(0, len(x_test), 1000)])
        return _labels(out.argmax(1).cpu(), len(x_test), budget["model"])

    before = predictions_now()
    predictions, losses = [], []
    for _ in range(int(budget["epochs"])):
        model.train()
        epoch_losses = []
        for idx in _batches(len(x), batch_size, generator):
            xb = prepare(x[idx.to(device)])
            if budget.get("augment"):
                n, side = len(xb), xb.shape[-1]
                flip = (torch.rand(n, generator=generator) < 0.5).to(device)
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                padded = torch.nn.functional.pad(xb, (4, 4, 4, 4))
                dx, dy = (int(v) for v in torch.randint(0, 9, (2,), generator=generator))
                xb = padded[..., dy : dy + side, dx : dx + side]
            epoch_losses.append(float(train_step(model, optimizer, xb, y[idx.to(device)])))
            scheduler.step()
        losses.append(sum(epoch_losses) / len(epoch_losses))
        predictions.append(predictions_now())
    return {"before": before, "predictions": torch.stack(predictions), "train_loss": losses}


def modules(ns: Namespace, data: dict, budget: dict) -> dict:
    """Part 2b: the notebook's ``Sequential([Linear(D, H), ReLU(), Linear(H, C)])`` with its
    ``SoftmaxCrossEntropy``, its backward and its ``sgd_step`` (η warmed up then decayed per
    mini-batch, as the reference's trainings), from the grader's initial parameters ("0.W",
    "0.b", "2.W", "2.b", copied into the tensors ``params()`` returns); predictions are the argmax
    of the model's forward in eval mode. Runs in the student's process (the objects are theirs)."""
    x, y, x_test = _floats(data)
    hidden, classes = int(budget["hidden"]), int(budget["classes"])
    torch.manual_seed(int(budget["seed"]))
    model = ns["Sequential"]([ns["Linear"](x.shape[1], hidden), ns["ReLU"](), ns["Linear"](hidden, classes)])
    loss, sgd_step = ns["SoftmaxCrossEntropy"](), ns["sgd_step"]
    own = model.params()
    if not isinstance(own, dict) or set(own) != set(data["params"]):
        raise TypeError(f"Sequential.params() should have the keys {sorted(data['params'])}, "
                        f"got {sorted(map(str, own)) if isinstance(own, dict) else type(own).__name__}")
    with torch.no_grad():
        for key, value in data["params"].items():
            own[key].copy_(value)
    generator = torch.Generator().manual_seed(int(budget["seed"]))
    per_epoch = math.ceil(len(x) / int(budget["batch_size"]))
    total, step = int(budget["epochs"]) * per_epoch, 0

    def predictions_now() -> torch.Tensor:
        model.eval()
        out = [model.forward(x_test[i : i + 2000]) for i in range(0, len(x_test), 2000)]
        model.train()
        if not all(isinstance(o, torch.Tensor) for o in out):
            raise TypeError(f"Sequential.forward returned {type(out[0]).__name__}, expected a tensor of logits")
        return _labels(torch.cat(out).argmax(1), len(x_test), "Sequential.forward")

    before = predictions_now()
    predictions, losses = [], []
    for _ in range(int(budget["epochs"])):
        total_loss, seen = 0.0, 0
        for idx in _batches(len(x), int(budget["batch_size"]), generator):
            value = loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            sgd_step(model.params(), model.grads(), _schedule(budget, step, total))
            total_loss += float(value) * len(idx)
            seen += len(idx)
            step += 1
        losses.append(total_loss / max(seen, 1))
        predictions.append(predictions_now())
    return {"before": before, "predictions": torch.stack(predictions), "train_loss": losses}


RECIPES: dict[str, Callable[[Namespace, dict, dict], dict]] = {
    "modules": modules,
    "cnn": cnn,
    "perceptron": perceptron,
    "shallow": shallow,
    "deep": deep,
}
