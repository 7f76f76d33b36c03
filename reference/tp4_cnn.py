"""Part 4 as the students write it (the ``tp4_cnn`` notebook): a course-style CNN, the residual
block and a small ResNet built from it, and one step of the five-step PyTorch loop.

The block and the ResNet are :mod:`reference.cifar.resnet`'s (re-exported here, so that the notebook's
solution cells and :mod:`autograder.course.sync` see one module); the CNN is simpler than
:class:`reference.cifar.cnn.CNN` (two stages, no BatchNorm, no MLP helper):

    conv 3×3, c_1, padding 1 → ReLU → max-pool 2×2       (N, c_1, S/2, S/2)
    conv 3×3, c_2, padding 1 → ReLU → max-pool 2×2       (N, c_2, S/4, S/4)
    flatten → dense (hidden) → ReLU → dense (C)           (N, C) logits
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference.cifar.resnet import BasicBlock, ResNet  # noqa: F401 - the notebook's solutions

__all__ = ["CNN", "BasicBlock", "ResNet", "train_step"]


class CNN(nn.Module):
    """Two convolution stages (conv 3×3 → ReLU → max-pool 2×2), then dense → ReLU → dense.

    in_channels: C_in (1 for MNIST, 3 for CIFAR-10); image_size: S, divisible by 4
    channels: (c_1, c_2), output channels of the two convolutions; hidden: units of the first dense layer
    forward: x (N, C_in, S, S) -> logits (N, num_classes)
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        side = image_size // 4
        self.fc1 = nn.Linear(channels[1] * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, c_1, S/2, S/2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, c_2, S/4, S/4)
        x = F.relu(self.fc1(x.flatten(1)))  # (N, hidden)
        return self.fc2(x)  # (N, C)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, labels: Tensor) -> float:
    """One step of gradient descent on one mini-batch (cross-entropy); returns the loss before the step.

    x: (N, C_in, S, S) images; labels: (N,) int64 classes
    """
    logits = model(x)  # 1. forward (N, C)
    value = F.cross_entropy(logits, labels)  # 2. loss ()
    optimizer.zero_grad()  # 3. forget the previous gradients
    value.backward()  # 4. backward: .grad of every parameter
    optimizer.step()  # 5. update
    return value.item()
