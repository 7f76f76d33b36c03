"""The GPU training engine every convolutional model of the course reuses: :func:`fit`.

:func:`fit` trains the CNN of :mod:`reference.cifar.cnn` and the ResNets of
:mod:`reference.cifar.resnet` and :mod:`reference.cifar.fast`; :class:`Recipe` holds its
hyper-parameters, and each model's ``Hyper`` extends it with the model's own. In order:

- both splits stay on the device as one tensor each, uint8 images staying uint8 (150 MB for
  CIFAR-10's training set); each mini-batch becomes standardised float32 there (:class:`Standardize`);
- mini-batches are slices of a ``randperm`` drawn on the device: no DataLoader, no host sync;
- augmentation is batched tensor operations: random crops (pad, then crop back), horizontal
  flips (random, or alternating every epoch), cutout;
- the five steps (forward, loss, zero_grad, backward, step) with AdamW or Nesterov SGD, label
  smoothing, and a one-cycle learning rate; optionally a lookahead average of the weights;
- on CUDA: channels_last, bf16 autocast, cuDNN autotuning, optionally ``torch.compile``, and a
  warm-up (compilation, autotuning) timed apart and undone before the timed run;
- evaluation once per epoch in eval mode, optionally with test-time augmentation;
- optionally a checkpoint (state_dicts, after every epoch) and TensorBoard logs.

No model lives here, and nothing here is tuned: the tuned numbers are each model's ``Hyper``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from reference.training import History, accuracy
from tpcheck import data as datasets
from tpcheck import optim

# --- the recipe --------------------------------------------------------------------------------

OPTIMIZERS = tuple(optim.OPTIMIZERS)  # the course's names (tpcheck.optim)
FLIPS = ("none", "random", "alternate")
PAD_MODES = ("constant", "reflect")


@dataclass(frozen=True)
class Recipe:
    """How :func:`fit` trains. Each model's ``Hyper`` extends it (and may re-declare a field with
    its own default); ``lr`` and ``weight_decay`` apply to the mean loss over a mini-batch."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3  # peak learning rate of the one-cycle schedule
    seed: int = 0
    optimizer: str = "adamw"  # a name of tpcheck.optim: "adamw" (decoupled weight decay), "nesterov" (L2), …
    momentum: float = 0.9  # the SGD family only (tpcheck.optim.WITH_MOMENTUM)
    weight_decay: float = 0.0
    norm_lr_scale: float = 1.0  # BatchNorm parameters: lr × this, weight_decay ÷ this (same decay)
    pct_start: float = 0.3  # one-cycle: fraction of the steps spent rising to lr
    div_factor: float = 25.0  # one-cycle: first lr = lr / div_factor
    final_div_factor: float = 1e4  # one-cycle: last lr = first lr / final_div_factor
    anneal: str = "cos"  # one-cycle: "cos" or "linear" ramps
    cycle_momentum: bool = True  # one-cycle: momentum (AdamW: β1) moves opposite to the lr
    label_smoothing: float = 0.0
    normalize: bool = False  # standardise each channel with the training set's mean and std
    shift: int = 0  # random crops: pad by `shift` pixels, crop back (translations ≤ ±shift; 0: none)
    pad_mode: str = "constant"  # padding of the crops: "constant" (zeros) or "reflect"
    flip: str = "none"  # horizontal flips: "none", "random" (p = 1/2) or "alternate" (below)
    cutout: int = 0  # one random cutout×cutout square per image set to 0 (the mean) (0: none)
    drop_last: bool = False  # skip each epoch's smaller last batch (one shape for torch.compile)
    ema_every: int = 0  # lookahead: average the weights every this many steps (0: off)
    ema_decay: float = 0.95  # lookahead: decay per step, reached at the last step
    ema_power: float = 3.0  # lookahead: the decay ramps up as (step / total)^ema_power
    ema_start: int = 0  # lookahead: epochs of plain training before it starts
    tta: int = 0  # test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel translations
    bf16: bool = True  # CUDA only: bf16 autocast for the forward pass and the loss
    compile: bool = False  # CUDA only: torch.compile the model (warm-up timed apart)


def check_recipe(hp: Recipe) -> None:
    """Raise ValueError naming the first field of ``hp`` outside its allowed values."""
    for name, value, allowed in (("optimizer", hp.optimizer, OPTIMIZERS), ("flip", hp.flip, FLIPS),
                                 ("pad_mode", hp.pad_mode, PAD_MODES), ("anneal", hp.anneal, optim.ANNEALS),
                                 ("tta", hp.tta, (0, 1, 2))):
        if value not in allowed:
            raise ValueError(f"{name}={value!r}: choose one of {', '.join(map(str, allowed))}")


# --- inputs and augmentation (batched tensor operations) ----------------------------------------


class Standardize:
    """Turns a batch of images (N, C, H, W), uint8 in [0, 255] or float in [0, 1], into float32,
    standardised per channel, (x - mean_c) / std_c, when built by :meth:`fit` (else only scaled)."""

    def __init__(self, mean: Tensor | None = None, std: Tensor | None = None):
        self.mean = None if mean is None else mean.float().view(1, -1, 1, 1)  # (1, C, 1, 1)
        self.std = None if std is None else std.float().view(1, -1, 1, 1)  # (1, C, 1, 1)

    @classmethod
    def fit(cls, images: Tensor, chunk: int = 10_000) -> Standardize:
        """Mean and standard deviation of each channel of ``images`` (N, C, H, W), in chunks."""
        plain = cls()
        total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
        squares = torch.zeros_like(total)
        for part in images.split(chunk):
            x = plain(part)
            total += x.sum((0, 2, 3), dtype=torch.float64)
            squares += x.square().sum((0, 2, 3), dtype=torch.float64)
        count = images.numel() // images.shape[1]
        mean = total / count
        return cls(mean, (squares / count - mean.square()).clamp_min(1e-12).sqrt())

    def __call__(self, x: Tensor) -> Tensor:
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if self.mean is None:
            return x
        return (x - self.mean) / self.std


def random_shift(
    x: Tensor, max_shift: int, generator: torch.Generator | None = None, mode: str = "constant"
) -> Tensor:
    """Each image translated by its own random (dy, dx) in [-max_shift, max_shift]²: a random crop
    of the image padded by ``max_shift`` on each side, with zeros (``mode="constant"``) or its
    mirror image (``"reflect"``) filling in.

    x: (N, C, H, W), float; returns a new tensor of the same shape. One gather, no Python loop
    over images; the offsets are drawn on x's device (``generator`` must live there too).
    """
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s), mode=mode)  # (N, C, H+2s, W+2s)
    offsets = torch.randint(0, 2 * s + 1, (2, n), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device) + offsets[0, :, None]  # (N, H)
    cols = torch.arange(w, device=x.device) + offsets[1, :, None]  # (N, W)
    index = (rows[:, :, None] * (w + 2 * s) + cols[:, None, :]).flatten(1)  # (N, H·W) into padded
    flat = padded.flatten(2)  # (N, C, (H+2s)(W+2s))
    return flat.gather(2, index[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)


def flip_where(x: Tensor, mask: Tensor) -> Tensor:
    """x (N, C, H, W) with the images where ``mask`` (N,) is True mirrored left to right."""
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def cutout(x: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """x (N, C, H, W) with one size×size square per image, at a random place inside it, set to 0."""
    n, _, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n, 1), generator=generator, device=x.device)
    left = torch.randint(0, w - size + 1, (n, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top) & (rows < top + size)  # (N, H)
    in_cols = (cols >= left) & (cols < left + size)  # (N, W)
    return x.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0.0)


class Flips:
    """Which images of a batch to mirror, as :attr:`Recipe.flip` says.

    "random": each image with probability 1/2, afresh every time. "alternate" (airbench): a random
    half of the training set is mirrored in odd epochs and the other half in even ones, so every
    image is seen both ways within any two epochs.
    """

    def __init__(self, kind: str, n: int, generator: torch.Generator, device: torch.device):
        self.kind, self.generator, self.device = kind, generator, device
        self.odd = (torch.rand(n, generator=generator, device=device) < 0.5) if kind == "alternate" else None

    def mask(self, idx: Tensor, epoch: int) -> Tensor | None:
        """(len(idx),) bool for the training images ``idx`` in ``epoch`` (from 1); None: no flips."""
        if self.kind == "random":
            return torch.rand(len(idx), generator=self.generator, device=self.device) < 0.5
        if self.kind == "alternate":
            return self.odd[idx] if epoch % 2 else ~self.odd[idx]
        return None


def augment(x: Tensor, hp: Recipe, generator: torch.Generator, flips: Tensor | None) -> Tensor:
    """A standardised batch x (N, C, H, W) randomly cropped, mirrored where ``flips`` (N,) says,
    and cut out, as ``hp`` asks."""
    x = random_shift(x, hp.shift, generator, hp.pad_mode)
    if flips is not None:
        x = flip_where(x, flips)
    if hp.cutout > 0:
        x = cutout(x, hp.cutout, generator)
    return x


# --- evaluation ---------------------------------------------------------------------------------


def tta_logits(model: Callable[[Tensor], Tensor], x: Tensor, level: int = 0) -> Tensor:
    """Logits (N, C) for x (N, C_in, H, W), averaged over test-time views of each image.

    level 0: x itself. 1: x and its mirror image, ½ each. 2: ½ for level 1 on x, ¼ each for level 1
    on x translated by one pixel up-left and down-right (reflect padding): six views in all.
    Every view keeps x's memory format, so that a compiled model sees one input layout.
    """
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format

    def mirror(v: Tensor) -> Tensor:
        return 0.5 * model(v.contiguous(memory_format=fmt)) + 0.5 * model(v.flip(-1).contiguous(memory_format=fmt))

    if level == 0:
        return model(x)
    if level == 1:
        return mirror(x)
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (N, C_in, H+2, W+2)
    return 0.5 * mirror(x) + 0.25 * mirror(padded[..., :h, :w]) + 0.25 * mirror(padded[..., 2:, 2:])


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    batch_size: int = 1000,
    *,
    inputs: Standardize | None = None,
    tta: int = 0,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> float:
    """Accuracy of ``model`` on images (N, C, H, W) with labels (N,), in eval mode, in batches.

    inputs: turns a batch of images into the model's input (default: only scaled to float)
    tta: test-time augmentation level (see :func:`tta_logits`)
    """
    model.eval()
    inputs = inputs or Standardize()
    predictions = [tta_logits(model, inputs(images[i : i + batch_size]).contiguous(memory_format=memory_format),
                              tta).argmax(1)
                   for i in range(0, len(images), batch_size)]
    return accuracy(torch.cat(predictions), labels)


# --- optimiser, schedule, lookahead -------------------------------------------------------------

NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d)


def make_optimizer(model: nn.Module, hp: Recipe) -> torch.optim.Optimizer:
    """The optimizer ``hp.optimizer`` (:func:`tpcheck.optim.make_optimizer`; the SGD family with
    ``hp.momentum``) over the trainable parameters of ``model``, in up to two groups: BatchNorm
    parameters (lr × norm_lr_scale, weight_decay ÷ norm_lr_scale, so the weight decay per step,
    lr × weight_decay, is the same for both) and all the others."""
    norm = {id(p) for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    s = hp.norm_lr_scale
    groups = [dict(params=[p for p in trainable if id(p) not in norm], lr=hp.lr, weight_decay=hp.weight_decay),
              dict(params=[p for p in trainable if id(p) in norm], lr=hp.lr * s, weight_decay=hp.weight_decay / s)]
    groups = [g for g in groups if g["params"]]
    kw = {"momentum": hp.momentum} if hp.optimizer in optim.WITH_MOMENTUM else {}
    return optim.make_optimizer(groups, hp.optimizer, hp.lr, **kw)


def make_scheduler(optimizer: torch.optim.Optimizer, hp: Recipe, total_steps: int) -> optim.Scheduler:
    """The one-cycle schedule (:class:`tpcheck.optim.Scheduler`): each group's lr rises from
    lr/div_factor to its peak over pct_start of ``total_steps``, then falls to
    lr/(div_factor·final_div_factor)."""
    return optim.Scheduler(optimizer, total_steps, "onecycle", pct_start=hp.pct_start, anneal=hp.anneal,
                           cycle_momentum=hp.cycle_momentum, div_factor=hp.div_factor,
                           final_div_factor=hp.final_div_factor)


class Lookahead:
    """An average of the weights (and BatchNorm statistics) that follows the model and is copied
    back into it at each update (hlb-CIFAR10's and airbench's "lookahead"): with a decay that is
    small early and large at the end, training moves fast, then averages strongly."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, decay: float) -> None:
        """average ← decay·average + (1 - decay)·model, then model ← average."""
        state = self.model.state_dict()
        for key, avg in self.average.items():
            avg.lerp_(state[key], 1.0 - decay)
            state[key].copy_(avg)


# --- checkpoints and TensorBoard ----------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                    hp: Recipe, epoch: int, test_accuracy: float) -> Path:
    """Write the state_dicts of ``model`` and ``optimizer`` with the hyper-parameters, the epoch
    and the test accuracy to ``path`` (atomically: a killed run leaves the previous checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "hyper": dataclasses.asdict(hp), "epoch": epoch, "test_accuracy": test_accuracy}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module) -> dict:
    """Load the weights saved by :func:`save_checkpoint` into ``model``; return the whole record."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(record["model"])
    return record


def tensorboard_writer(log_dir: str | os.PathLike | None):
    """A TensorBoard ``SummaryWriter`` for ``log_dir``; None when no folder is asked for, or when
    tensorboard is not installed (it is no dependency of the project: a warning says so)."""
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("warning: tensorboard is not installed, so no logs are written to "
              f"{log_dir} (pip install tensorboard)", file=sys.stderr)
        return None
    return SummaryWriter(str(log_dir))


# --- the training loop --------------------------------------------------------------------------


@dataclass
class FitHistory(History):
    """History, plus what a run on a GPU measures besides training time."""

    warmup_seconds: float = 0.0  # compilation and cuDNN autotuning before the timed run
    peak_memory: int = 0  # bytes of device memory allocated at the peak (CUDA; 0 on CPU)


PREPARE_IMAGES = 5000  # training images passed to fit's `prepare` hook


def steps_per_epoch(n: int, batch_size: int, drop_last: bool) -> int:
    """Mini-batches in one pass over n examples; with drop_last, only full ones (at least one)."""
    return max(1, n // batch_size) if drop_last else math.ceil(n / batch_size)


def batch_sizes(n: int, batch_size: int, drop_last: bool) -> list[int]:
    """The distinct sizes of the mini-batches of one epoch over n examples."""
    full, last = min(n, batch_size), n % batch_size
    return [full] + ([last] if last and n > batch_size and not drop_last else [])


def fit(
    model: nn.Module,
    data: datasets.Dataset,
    hp: Recipe,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    max_batches: int | None = None,
    part: str = "cnn",
    channels_last: bool = True,
    prepare: Callable[[Tensor], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    warmup: bool | None = None,
) -> FitHistory:
    """Train ``model`` on ``data.train`` as ``hp`` says; evaluate it on ``data.test`` after every epoch.

    model: maps images (N, C, H, W) to logits (N, num_classes); moved to ``device`` here.
    data: images uint8 in [0, 255] or float in [0, 1] (N, C, H, W), labels int64 (N,).
    hp: a :class:`Recipe` (any model's ``Hyper``).
    max_batches: stop after that many mini-batches in total (the dry run uses 1), then evaluate
        on the first max_batches × batch_size test images and record.
    channels_last: keep activations in (N, H, W, C) memory order, which cuDNN's and oneDNN's
        convolutions prefer: twice as fast on CPU for the MNIST CNN (12 vs 23 ms per batch of 128).
    prepare: called once at the start of the timed run with the first :data:`PREPARE_IMAGES`
        training images, standardised, on the device (the fast net's whitening layer uses it).
    checkpoint: file to which :func:`save_checkpoint` writes after every epoch.
    log_dir: folder for TensorBoard logs (train loss, test accuracy, learning rate per epoch).
    warmup: run the code paths once before the timed run and undo their effect (default: on CUDA).
    returns: FitHistory with one entry per epoch; ``seconds`` counts training, evaluations,
        checkpoints and the warm-up excluded.
    """
    check_recipe(hp)
    device = torch.device(device)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    generator = torch.Generator(device=device).manual_seed(hp.seed)
    model.to(device=device, memory_format=fmt)
    x_train, y_train = data.train.images.to(device), data.train.labels.to(device)
    x_test, y_test = data.test.images.to(device), data.test.labels.to(device)
    if max_batches is not None:
        x_test, y_test = x_test[: max_batches * hp.batch_size], y_test[: max_batches * hp.batch_size]
    inputs = Standardize.fit(x_train) if hp.normalize else Standardize()
    n = len(y_train)
    per_epoch = steps_per_epoch(n, hp.batch_size, hp.drop_last)
    total = hp.epochs * per_epoch if max_batches is None else max(1, min(max_batches, hp.epochs * per_epoch))
    net = torch.compile(model) if cuda and hp.compile else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and hp.bf16)

    def run_eval(images: Tensor, labels: Tensor) -> float:
        with autocast:
            return evaluate(net, images, labels, inputs=inputs, tta=hp.tta, memory_format=fmt)

    history = FitHistory(part, data.name)
    with contextlib.ExitStack() as stack:
        if cuda:
            stack.enter_context(_cudnn_autotuning())
            torch.cuda.reset_peak_memory_stats(device)
        if warmup if warmup is not None else cuda:
            first = slice(0, hp.batch_size)
            history.warmup_seconds = _warm_up(net, model, hp, inputs(x_train[first]), y_train[first],
                                              batch_sizes(n, hp.batch_size, hp.drop_last),
                                              lambda: run_eval(x_test[:1000], y_test[:1000]), autocast, fmt)
        optimizer = make_optimizer(model, hp)
        scheduler = make_scheduler(optimizer, hp, total)
        flips = Flips(hp.flip, n, generator, device)
        lookahead: Lookahead | None = None
        writer = tensorboard_writer(log_dir)
        if writer is not None:
            stack.callback(writer.close)
        bar = stack.enter_context(tqdm(total=total, desc=f"{part} {data.name}", file=sys.stderr,
                                       disable=not progress, leave=False))
        step, seconds = 0, 0.0
        for epoch in range(1, hp.epochs + 1):
            t0 = time.perf_counter()
            if epoch == 1 and prepare is not None:
                prepare(inputs(x_train[:PREPARE_IMAGES]))
            model.train()
            order = torch.randperm(n, generator=generator, device=device)
            running, seen = torch.zeros((), device=device), 0
            for b in range(per_epoch):
                idx = order[b * hp.batch_size : (b + 1) * hp.batch_size]
                x = augment(inputs(x_train[idx]), hp, generator, flips.mask(idx, epoch))
                x, y = x.contiguous(memory_format=fmt), y_train[idx]
                with autocast:
                    logits = net(x)  #                                                1. forward
                    loss = F.cross_entropy(logits, y, label_smoothing=hp.label_smoothing)  # 2. loss
                optimizer.zero_grad(set_to_none=True)  #                              3. zero the gradients
                loss.backward()  #                                                    4. backward
                optimizer.step()  #                                                   5. update
                scheduler.step()
                running += loss.detach()
                seen += 1
                step += 1
                if hp.ema_every and epoch > hp.ema_start and step % hp.ema_every == 0:
                    if lookahead is None:
                        lookahead = Lookahead(model)
                    else:
                        lookahead.update(hp.ema_decay**hp.ema_every * (step / total) ** hp.ema_power)
                bar.update()
                if step >= total:
                    break
            if lookahead is not None:
                lookahead.update(1.0)  # the model leaves every epoch as the average
            if cuda:
                torch.cuda.synchronize(device)  # GPU work is asynchronous: wait before reading the clock
            seconds += time.perf_counter() - t0
            acc = run_eval(x_test, y_test)
            history.record(round(epoch - 1 + seen / per_epoch, 4), float(running) / seen, acc)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}", test_acc=f"{acc:.4f}")
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, hp, epoch, acc)
            if writer is not None:
                writer.add_scalar("train/loss", history.train_loss[-1], epoch)
                writer.add_scalar("test/accuracy", acc, epoch)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], epoch)
            if step >= total:
                break
    history.seconds = seconds
    if cuda:
        history.peak_memory = torch.cuda.max_memory_allocated(device)
    return history


@contextlib.contextmanager
def _cudnn_autotuning():
    """Let cuDNN time its convolution algorithms on the first batch of each shape, then restore."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _warm_up(net, model: nn.Module, hp: Recipe, x: Tensor, y: Tensor, sizes: Sequence[int],
             run_eval: Callable[[], float], autocast, fmt) -> float:
    """Take one training step for each batch shape of the timed run, and one evaluation, so that
    compilation and cuDNN autotuning happen here; then put the weights and BatchNorm statistics
    back. Returns the seconds it took.

    x: (B, C, H, W) one standardised batch, y: (B,) its labels; sizes: the batch sizes, each ≤ B
    """
    t0 = time.perf_counter()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(model, hp)
    x = x.contiguous(memory_format=fmt)
    for size in sizes:
        model.train()
        with autocast:
            loss = F.cross_entropy(net(x[:size]), y[:size], label_smoothing=hp.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    run_eval()
    model.load_state_dict(saved)
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - t0
