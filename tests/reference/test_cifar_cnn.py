"""Part 4, the CNN: shapes on MNIST and CIFAR-10 inputs, gradients, the training loop, full MNIST."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from reference.cifar import cnn, engine
from tpcheck.data import Dataset, Split

SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def small_cnn(shape=(1, 28, 28), **kw) -> cnn.CNN:
    c, s, _ = shape
    return cnn.CNN(c, s, 10, **{"channels": (4, 8), "hidden": 16, **kw})


@pytest.mark.parametrize("n", [1, 2, 7, 32])
@pytest.mark.parametrize("dataset", SHAPES)
def test_output_shape(dataset, n):
    """Does the CNN map (N, C_in, S, S) images to finite (N, 10) logits on MNIST and CIFAR shapes?"""
    hp = cnn.hyper_for(dataset)
    c, s, _ = SHAPES[dataset]
    model = cnn.CNN(c, s, 10, hp.channels, hp.hidden, hp.kernel_size, hp.batch_norm)
    logits = model(torch.rand(n, *SHAPES[dataset]))
    assert logits.shape == (n, 10)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_feature_map_shapes(kernel_size):
    """Do the two conv-pool stages give (N, c1, S/2, S/2) then (N, c2, S/4, S/4)?"""
    model = cnn.CNN(3, 32, 10, channels=(6, 12), hidden=20, kernel_size=kernel_size)
    x = torch.rand(2, 3, 32, 32)
    assert model.features[:3](x).shape == (2, 6, 16, 16)
    assert model.features(x).shape == (2, 12, 8, 8)
    assert model.head.sizes == (12 * 8 * 8, 20, 10)


def test_batch_norm_stages():
    """With three stages and BatchNorm (CIFAR-10's layout), is each stage conv (no bias) → BN →
    ReLU → pool, giving (N, c3, S/8, S/8) features?"""
    model = cnn.CNN(3, 32, 10, channels=(4, 8, 16), hidden=20, batch_norm=True)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 3
    assert all(m.bias is None for m in model.features if isinstance(m, torch.nn.Conv2d))
    assert model.features(torch.rand(2, 3, 32, 32)).shape == (2, 16, 4, 4)
    assert model.head.sizes == (16 * 4 * 4, 20, 10)


def test_rejects_image_size_not_divisible_by_the_poolings():
    """Is an image side that the 2×2 poolings cannot halve at every stage refused with a clear message?"""
    with pytest.raises(ValueError, match="divisible by 4"):
        cnn.CNN(1, 30)
    with pytest.raises(ValueError, match="divisible by 8"):
        cnn.CNN(1, 28, channels=(4, 8, 16))


@pytest.mark.parametrize("dataset", SHAPES)
def test_gradient_reaches_every_parameter(dataset):
    """After backward, does every parameter (both convs, both dense layers) get a non-zero gradient?"""
    model = small_cnn(SHAPES[dataset])
    x, y = torch.rand(8, *SHAPES[dataset]), torch.arange(8)
    F.cross_entropy(model(x), y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_steps_lower_the_loss():
    """Do a few five-step updates on a fixed tiny batch lower its loss?"""
    model = small_cnn()
    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 10
    x = 0.2 * torch.rand(32, 1, 28, 28, generator=g)
    for n, c in enumerate(y.tolist()):  # class c: a bright band at rows 2c … 2c+3
        x[n, 0, 2 * c : 2 * c + 4] += 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_random_shift_translates_each_image(shift):
    """Is every shifted image its original moved by some (dy, dx) within ±shift, zeros filling in?"""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 8, 8, generator=g) + 0.1  # no zeros inside, so fills are recognisable
    out = engine.random_shift(x, shift, g)
    assert out.shape == x.shape
    padded = F.pad(x, (shift,) * 4)
    for n in range(len(x)):
        assert any(torch.equal(out[n], padded[n, :, dy : dy + 8, dx : dx + 8])
                   for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)), n


def test_evaluate_in_eval_mode():
    """Does evaluate return an accuracy in [0, 1], batch by batch, leaving the model in eval mode?"""
    model = small_cnn()
    acc = engine.evaluate(model, torch.rand(10, 1, 28, 28), torch.zeros(10, dtype=torch.long), batch_size=3)
    assert 0.0 <= acc <= 1.0
    assert not model.training


def test_hyper_for_every_dataset():
    """Does hyper_for give a frozen Hyper with the CLI's fields for every dataset name?"""
    for name in ("mnist", "fashion-mnist", "mnist-sample", "cifar10"):
        hp = cnn.hyper_for(name)
        assert {"epochs", "batch_size", "lr", "seed"} <= {f.name for f in dataclasses.fields(hp)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            hp.epochs = 1  # type: ignore[misc]


def test_dry_run_on_mnist_sample(mnist_sample):
    """Does max_batches=1 (the CLI's --dry-run) train one batch, then evaluate and record once?"""
    model, history = cnn.train(mnist_sample, cnn.hyper_for("mnist-sample"), max_batches=1)
    assert isinstance(model, cnn.CNN)
    assert len(history.test_accuracy) == 1 and 0.0 <= history.final_accuracy <= 1.0
    assert 0 < history.epochs[-1] < 1


def test_dry_run_on_cifar_shaped_data():
    """Does the same code train one batch on CIFAR-10-shaped data (3×32×32), as a CPU smoke test?"""
    g = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    fake = Dataset("cifar10", split(64), split(32), tuple("abcdefghij"))
    hp = dataclasses.replace(cnn.hyper_for("cifar10"), batch_size=16)
    model, history = cnn.train(fake, hp, max_batches=2)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert history.epochs == [0.5]


def test_mnist_sample_short_run(mnist_sample):
    """Do three epochs on the 4,000 sample digits already beat any MLP of Part 3 (≥ 0.90)?"""
    hp = dataclasses.replace(cnn.hyper_for("mnist-sample"), epochs=3)
    _, history = cnn.train(mnist_sample, hp)
    assert history.epochs == [1.0, 2.0, 3.0]
    assert history.final_accuracy >= 0.90


def test_is_seeded(mnist_sample):
    """Does the same seed give the same History?"""
    hp = dataclasses.replace(cnn.hyper_for("mnist-sample"), batch_size=64)
    a = cnn.train(mnist_sample, hp, max_batches=3)[1]
    b = cnn.train(mnist_sample, hp, max_batches=3)[1]
    assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy


@pytest.fixture(scope="module")
def full_mnist_run(mnist):
    """One training run with the full-MNIST defaults, shared by the tests below."""
    return cnn.train(mnist, cnn.hyper_for("mnist"))


@pytest.mark.real_data
@pytest.mark.slow
def test_full_mnist_accuracy(full_mnist_run):
    """Do the tuned defaults reach their documented accuracy on full MNIST (never timed here)?"""
    _, history = full_mnist_run
    assert history.final_accuracy >= 0.991
    assert len(history.test_accuracy) == cnn.hyper_for("mnist").epochs
