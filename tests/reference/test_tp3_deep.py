"""Part 3, the deep MLP: parameters, forward pass, losses, optimizers, the module twin, training."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reference import tp3_deep as deep

SIZES = {
    "one layer": [784, 10],
    "two layers": [784, 32, 10],
    "four layers": [784, 64, 32, 16, 10],
    "odd widths": [7, 5, 3, 11, 2],
}


def tiny_batch(n: int = 64, d: int = 20, c: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, learnable batch: x (n, d), labels (n,) from a random linear rule."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    labels = (x @ torch.randn(d, c, generator=g)).argmax(1)
    return x, labels


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_init_shapes(sizes):
    """Does init_params give W_l (sizes[l-1], sizes[l]) and b_l (sizes[l],) leaves for any depth?"""
    params = deep.init_params(sizes)
    L = len(sizes) - 1
    assert sorted(params) == sorted([f"W{l}" for l in range(1, L + 1)] + [f"b{l}" for l in range(1, L + 1)])
    for l in range(1, L + 1):
        assert params[f"W{l}"].shape == (sizes[l - 1], sizes[l])
        assert params[f"b{l}"].shape == (sizes[l],)
        assert params[f"W{l}"].is_leaf and params[f"W{l}"].requires_grad
        assert params[f"b{l}"].is_leaf and params[f"b{l}"].requires_grad


@pytest.mark.parametrize("activation", sorted(deep.ACTIVATIONS))
def test_init_breaks_symmetry(activation):
    """Are no two hidden units identical at initialisation (no column of any W repeated)?"""
    params = deep.init_params([50, 40, 30, 10], activation=activation, generator=torch.Generator().manual_seed(1))
    for l in (1, 2, 3):
        w = params[f"W{l}"].detach()  # (in, out): column j feeds unit j
        distances = torch.cdist(w.T, w.T) + torch.eye(w.shape[1]) * 1e9
        assert distances.min() > 1e-3


def test_init_scale_follows_activation():
    """Are relu weights He-scaled (var 2/fan_in) and tanh weights Xavier-scaled (var 2/(in+out))?"""
    g = torch.Generator().manual_seed(0)
    he = deep.init_params([1000, 500], activation="relu", generator=g)["W1"]
    xavier = deep.init_params([1000, 500], activation="tanh", generator=g)["W1"]
    assert he.var().item() == pytest.approx(2 / 1000, rel=0.05)
    assert xavier.var().item() == pytest.approx(2 / 1500, rel=0.05)


def test_init_is_seeded():
    """Does the same generator seed give the same parameters?"""
    a = deep.init_params([10, 8, 3], generator=torch.Generator().manual_seed(5))
    b = deep.init_params([10, 8, 3], generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("activation", sorted(deep.ACTIVATIONS))
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_forward_shapes(sizes, activation):
    """Does forward map (N, D) to finite (N, C) logits for every depth and activation?"""
    params = deep.init_params(sizes, activation=activation)
    for n in (1, 3, 17):
        logits = deep.forward(params, torch.rand(n, sizes[0]), activation)
        assert logits.shape == (n, sizes[-1])
        assert torch.isfinite(logits).all()


def test_forward_has_no_activation_after_last_layer():
    """Can the logits be negative with relu (so no relu was applied after the last layer)?"""
    params = deep.init_params([20, 16, 10], generator=torch.Generator().manual_seed(0))
    assert (deep.forward(params, torch.randn(64, 20)) < 0).any()


@pytest.mark.parametrize("activation", sorted(deep.ACTIVATIONS))
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_module_matches_dict_version(sizes, activation):
    """Do the dict version and MLP.from_params give identical outputs, and does to_params invert it?"""
    params = deep.init_params(sizes, activation=activation)
    x = torch.rand(9, sizes[0])
    model = deep.MLP.from_params(params, activation)
    with torch.no_grad():
        torch.testing.assert_close(model(x), deep.forward(params, x, activation))
    back = model.to_params()
    assert all(torch.equal(back[k], params[k].detach()) for k in params)


def test_module_flattens_images():
    """Does the MLP module accept (N, 1, 28, 28) images as well as (N, 784) rows?"""
    model = deep.MLP([784, 32, 10])
    x = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(model(x), model(x.flatten(1)))


@pytest.mark.parametrize("name", sorted(deep.LOSSES))
def test_losses(name):
    """Is each loss a non-negative scalar, zero-ish only for confident right answers?"""
    labels = torch.tensor([0, 2, 1])
    right = torch.nn.functional.one_hot(labels, 3).float() * (20.0 if name == "cross_entropy" else 1.0)
    wrong = right.roll(1, dims=1)
    f = deep.loss_fn(name)
    assert f(right, labels).shape == ()
    assert 0 <= f(right, labels).item() < 1e-6 < f(wrong, labels).item()


def test_unknown_names_are_rejected():
    """Do unknown activation, loss and optimizer names raise a ValueError naming the choices?"""
    with pytest.raises(ValueError, match="relu"):
        deep.init_params([3, 2], activation="swish")
    with pytest.raises(ValueError, match="cross_entropy"):
        deep.loss_fn("hinge")
    with pytest.raises(ValueError, match="adam"):
        deep.make_optimizer(deep.init_params([3, 2]), "lbfgs", 0.1)


@pytest.mark.parametrize("loss", sorted(deep.LOSSES))
@pytest.mark.parametrize("activation", sorted(deep.ACTIVATIONS))
def test_gradient_reaches_every_parameter(activation, loss):
    """After backward, does every W_l and b_l have a finite, non-zero gradient?"""
    params = deep.init_params([20, 16, 12, 4], activation=activation, generator=torch.Generator().manual_seed(0))
    x, labels = tiny_batch()
    deep.loss_fn(loss)(deep.forward(params, x, activation), labels).backward()
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("loss", sorted(deep.LOSSES))
def test_train_step_lowers_the_loss(loss):
    """Does one train_step (forward, loss, zero_grad, backward, step) lower the loss on a fixed batch?"""
    params = deep.init_params([20, 16, 4], generator=torch.Generator().manual_seed(0))
    x, labels = tiny_batch()
    optimizer = deep.make_optimizer(params, "sgd", 0.1)
    before = deep.train_step(params, optimizer, x, labels, activation="relu", loss=loss)
    with torch.no_grad():
        after = deep.loss_fn(loss)(deep.forward(params, x), labels).item()
    assert after < before


@pytest.mark.parametrize(("name", "lr", "kw"), [
    ("sgd", 0.1, {}),
    ("sgd", 0.05, {"momentum": 0.9}),
    ("adam", 1e-2, {}),
    ("adagrad", 0.1, {}),
])
def test_each_optimizer_learns(name, lr, kw):
    """Does each optimizer name drive the loss on a fixed tiny batch well down in 30 steps?"""
    params = deep.init_params([20, 32, 4], generator=torch.Generator().manual_seed(0))
    x, labels = tiny_batch()
    optimizer = deep.make_optimizer(params, name, lr, **kw)
    losses = [deep.train_step(params, optimizer, x, labels) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_hyper_contract():
    """Does every dataset get a frozen Hyper with the CLI's fields?"""
    for name in ("mnist", "fashion-mnist", "mnist-sample", "cifar10"):
        hp = deep.hyper_for(name)
        assert {"epochs", "batch_size", "lr", "seed"} <= {f.name for f in dataclasses.fields(hp)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            hp.lr = 1.0  # type: ignore[misc]


def test_dry_run(mnist_sample):
    """Does max_batches=1 train one mini-batch and still evaluate and record a History entry?"""
    model, history = deep.train(mnist_sample, deep.hyper_for("mnist-sample"), max_batches=1)
    assert isinstance(model, deep.MLP)
    assert len(history.test_accuracy) == 1 and 0.0 <= history.final_accuracy <= 1.0
    assert 0 < history.epochs[-1] < 1


@pytest.mark.parametrize("hyper", [
    {},
    {"hidden": (64, 64, 64), "activation": "tanh", "optimizer": "sgd", "lr": 0.1, "schedule": "cosine"},
    {"hidden": (128,), "loss": "mse", "optimizer": "sgd", "lr": 0.05, "schedule": "constant"},
    {"hidden": (128,), "activation": "sigmoid", "optimizer": "adagrad", "lr": 0.01, "schedule": "constant"},
], ids=["defaults", "tanh-sgd-cosine", "mse-sgd", "sigmoid-adagrad"])
def test_mnist_sample_short_run(mnist_sample, hyper):
    """Does a few-epoch run on the 4,000 sample digits reach a reasonable test accuracy?"""
    hp = dataclasses.replace(deep.hyper_for("mnist-sample"), **hyper)
    model, history = deep.train(mnist_sample, dataclasses.replace(hp, epochs=min(hp.epochs, 5)))
    assert len(history.test_accuracy) == min(hp.epochs, 5)
    assert history.final_accuracy >= 0.85
    with torch.no_grad():
        assert model(mnist_sample.test.flat()[:3]).shape == (3, 10)


@pytest.fixture(scope="module")
def full_mnist_run(mnist):
    """One training run with the full-MNIST defaults, shared by the tests below."""
    return deep.train(mnist, deep.hyper_for("mnist"))


@pytest.mark.real_data
@pytest.mark.slow
def test_full_mnist_accuracy(full_mnist_run):
    """Do the tuned defaults reach their documented accuracy on full MNIST (never timed here)?"""
    _, history = full_mnist_run
    assert history.final_accuracy >= 0.982
    assert len(history.test_accuracy) == deep.hyper_for("mnist").epochs
