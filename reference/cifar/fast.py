"""Part 4 on a GPU: a small network that reaches 94% on CIFAR-10 in seconds (part ``resnet-fast``).

Written for this course from the techniques that airbench94 (Keller Jordan, 2024), hlb-CIFAR10
(Tysam&, 2023) and Page's ResNet-9 (Myrtle.ai, 2018) published, and trained by
:func:`reference.cifar.engine.fit`. The network (:class:`FastNet`), for images (C_in, S, S):

    whitening: conv 2×2, 2·4·C_in filters, frozen: ± the PCA whitening of 2×2 patches → GELU
                                                                        (N, 8·C_in, S-1, S-1)
    group i (widths 64, 256, 256): conv 3×3 → max-pool 2×2 → BN → GELU → conv 3×3 → BN → GELU
                                                                        (N, w_i, ⌊S_(i-1)/2⌋, …)
    global max-pool → dense (C), no bias → × 1/9                        (N, C) logits

It is a residual network without the additions: every 3×3 convolution starts as the identity
on its first channels (Dirac initialisation), so each group starts close to an identity map, as
a residual block does, and the 7-layer stack trains as fast as a ResNet. The rest of the
speed comes from the recipe (:class:`Hyper`): the whitening layer computed from the data
(:meth:`FastNet.init_whitening`), BatchNorm with fast-moving statistics and frozen scales whose
biases learn 64× faster, Nesterov SGD, label smoothing 0.2, alternating flips, a lookahead
average of the weights, and six-view test-time augmentation; on the GPU, bf16 channels_last
and torch.compile (see :func:`reference.cifar.engine.fit`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference.cifar.engine import FitHistory, Recipe, fit
from reference.training import seed_everything
from tpcheck import data as datasets

PART = "resnet-fast"  # its name for `python -m reference train`

# The CLI loads the images as uint8 for this module's train(): fit scales them on the device.
RAW_IMAGES = True


def dirac_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3×3 convolution, same padding, no bias, whose first min(c_in, c_out) filters start as
    the identity (filter j copies input channel j); the others keep PyTorch's random init."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:in_channels])
    return conv


def norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BatchNorm whose running statistics keep ``momentum`` of their value at each step (airbench:
    0.6, fast) and whose scale stays 1 (frozen): only its bias learns."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=1.0 - momentum)
    bn.weight.requires_grad_(False)
    return bn


class ConvGroup(nn.Module):
    """conv 3×3 → max-pool 2×2 → BN → GELU → conv 3×3 → BN → GELU.

    forward: x (N, c_in, S, S) -> (N, c_out, ⌊S/2⌋, ⌊S/2⌋)
    """

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.6):
        super().__init__()
        self.conv1 = dirac_conv(in_channels, out_channels)
        self.norm1 = norm(out_channels, bn_momentum)
        self.conv2 = dirac_conv(out_channels, out_channels)
        self.norm2 = norm(out_channels, bn_momentum)

    def forward(self, x: Tensor) -> Tensor:
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))  # (N, c_out, S/2, S/2)
        return F.gelu(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    """Whitening convolution, groups of :class:`ConvGroup`, global max-pool, scaled dense layer.

    in_channels: C_in; num_classes: C; widths: (w_1, …), channels of each group
    whiten_kernel: k, side of the whitening patches; scale: factor on the logits
    forward: x (N, C_in, S, S), standardised, -> logits (N, C); S ≥ k + 2^len(widths) - 1
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: Sequence[int] = (64, 256, 256),
        whiten_kernel: int = 2,
        bn_momentum: float = 0.6,
        scale: float = 1 / 9,
    ):
        super().__init__()
        patch = in_channels * whiten_kernel**2  # D, the size of one patch
        self.whiten = nn.Conv2d(in_channels, 2 * patch, whiten_kernel, bias=True)
        self.whiten.weight.requires_grad_(False)  # set from the data by init_whitening
        groups, c_in = [], 2 * patch
        for width in widths:
            groups.append(ConvGroup(c_in, width, bn_momentum))
            c_in = width
        self.groups = nn.Sequential(*groups)
        self.head = nn.Linear(c_in, num_classes, bias=False)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        x = F.gelu(self.whiten(x))  # (N, 2D, S-k+1, S-k+1)
        x = self.groups(x)  # (N, w_last, S', S')
        return self.head(F.adaptive_max_pool2d(x, 1).flatten(1)) * self.scale  # (N, C)

    @torch.no_grad()
    def init_whitening(self, images: Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from standardised images (N, C_in, S, S).

        With Σ the (D, D) second-moment matrix of the images' k×k patches (D = C_in·k²) and
        Σ = V diag(λ) Vᵀ, filter j (largest λ first) is v_j / sqrt(λ_j + eps): its outputs on these
        patches are uncorrelated with variance λ_j / (λ_j + eps) ≈ 1. The D filters after them
        are their negatives, so that the GELU that follows lets both signs through.
        """
        k = self.whiten.kernel_size[0]
        patches = F.unfold(images.float(), k)  # (N, D, L): every k×k patch, channel-major like a filter
        patches = patches.transpose(1, 2).reshape(-1, patches.shape[1])  # (N·L, D)
        second_moment = patches.T @ patches / len(patches)  # (D, D)
        eigenvalues, eigenvectors = torch.linalg.eigh(second_moment)  # ascending
        filters = (eigenvectors / torch.sqrt(eigenvalues + eps)).T.flip(0)  # (D, D): row j = filter j
        filters = filters.reshape(-1, *self.whiten.weight.shape[1:])  # (D, C_in, k, k)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))


# --- hyper-parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hyper(Recipe):
    """The fast net's hyper-parameters; the defaults are those chosen for CIFAR-10 (see below)."""

    widths: tuple[int, ...] = (64, 256, 256)
    whiten_kernel: int = 2
    bn_momentum: float = 0.6
    scale: float = 1 / 9
    # CIFAR-10: NOT TUNED HERE (no GPU in the session that wrote it). airbench94's published
    # hyper-parameters (94.01% mean over 700 runs; 3.83 s on an A100 uncompiled, 3.5 s compiled;
    # its ablations: cifar10-zoo, airbench/ablations/README.md), turned into PyTorch's units for
    # the mean loss: its lr 11.5 per 1024 examples with momentum 0.85 is 11.5 / (1 + 1/0.15)
    # = 1.5; its weight decay 0.0153 gives 0.0153 / 11.5 = 1.33e-3 (×lr: the same decay per
    # step); BatchNorm biases at 64× the lr; the lr goes 0.2× → 1× (at 23%) → 0.07×, linearly.
    # Left out: freezing the whitening bias after 3 epochs (speed only, per the ablations). 10
    # epochs instead of 9.9. Goal: ≥ 0.94 in ≤ 3 s on an H100 (benchmarks/cifar10.py). CPU check
    # that the recipe is stable, not of the goal: a quarter of the widths, 10,000 training images,
    # the 10 epochs: loss 2.26 → 1.44 (label smoothing 0.2), test accuracy 0.67.
    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1.5
    optimizer: str = "nesterov"
    momentum: float = 0.85
    weight_decay: float = 0.0153 / 11.5
    norm_lr_scale: float = 64.0
    pct_start: float = 0.23
    div_factor: float = 5.0
    final_div_factor: float = 0.2 / 0.07
    anneal: str = "linear"
    cycle_momentum: bool = False
    label_smoothing: float = 0.2
    normalize: bool = True
    shift: int = 2
    pad_mode: str = "reflect"
    flip: str = "alternate"
    drop_last: bool = True
    ema_every: int = 5
    ema_decay: float = 0.95
    ema_power: float = 3.0
    ema_start: int = 3
    tta: int = 2
    compile: bool = True


# Digits: NOT TUNED; an eighth of the widths, no flips or mirror TTA (a mirrored digit is another
# symbol), zero-padded shifts, smaller batches. It keeps the CLI's dry run on MNIST cheap.
DIGITS = Hyper(widths=(8, 32, 32), batch_size=256, pad_mode="constant", flip="none", tta=0)
TUNED: dict[str, Hyper] = {"cifar10": Hyper(), "mnist": DIGITS, "fashion-mnist": DIGITS, "mnist-sample": DIGITS}


def hyper_for(dataset: str) -> Hyper:
    """The defaults for ``dataset`` (CIFAR-10's for a dataset not listed)."""
    return TUNED.get(dataset, Hyper())


def train(
    data: datasets.Dataset,
    hp: Hyper,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    max_batches: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
) -> tuple[FastNet, FitHistory]:
    """Build a :class:`FastNet` for ``data``, whiten its first layer from the training images at
    the start of the timed run, and :func:`~reference.cifar.engine.fit` it; returns (model, FitHistory)."""
    seed_everything(hp.seed)
    model = FastNet(data.image_shape[0], data.num_classes, hp.widths, hp.whiten_kernel, hp.bn_momentum, hp.scale)
    history = fit(model, data, hp, device=device, progress=progress, max_batches=max_batches,
                  part="resnet-fast", prepare=model.init_whitening, checkpoint=checkpoint, log_dir=log_dir)
    return model, history
