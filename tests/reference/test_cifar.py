"""Part 4 on CIFAR-10: the residual block, ResNet-18, the fast net, the pieces of the GPU training
path (run on the CPU), the CLI and the benchmark, on CIFAR-10 files the tests write themselves."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from realformats import write_cifar10

from autograder.checks.profiles import profile
from reference import cli
from reference.cifar import cnn, engine, fast, resnet
from reference.training import torch_threads
from tpcheck import data

REPO = Path(__file__).resolve().parents[2]
PARTS = {"cnn": cnn, "resnet": resnet, "resnet-fast": fast}
PROFILE = settings(profile("dev"), max_examples=10)

# Narrow versions of each CIFAR-10 recipe, so that a few epochs on the CPU take seconds.
SMALL = {
    "cnn": dict(channels=(8, 16, 32), hidden=32),
    "resnet": dict(widths=(8, 16, 16, 32)),
    "resnet-fast": dict(widths=(16, 32, 32)),
}


def small_hyper(part: str, **changes):
    """The part's CIFAR-10 recipe with narrow layers, batches of 50 and 4 epochs."""
    changes = {**SMALL[part], "batch_size": 50, "epochs": 4, **changes}
    return dataclasses.replace(PARTS[part].hyper_for("cifar10"), **changes)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    """300 training and 60 test images in the real cifar-10-batches-py pickles, with learnable labels."""
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root, per_batch=60, signal=True)
    return root


@pytest.fixture(scope="module")
def cifar(cifar_root) -> data.Dataset:
    """The files of ``cifar_root`` loaded by the product's loader, uint8 as the CLI loads them."""
    return data.load("cifar10", cifar_root, raw=True, download=False)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """10 training and 2 test images in the real layout: the cheapest end-to-end run."""
    root = tmp_path_factory.mktemp("cifar_tiny")
    write_cifar10(root, per_batch=2)
    return root


@pytest.fixture(scope="module")
def benchmark():
    """benchmarks/cifar10.py as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location("cifar10_benchmark", REPO / "benchmarks" / "cifar10.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, data.ENV_OFFLINE: "1"}, timeout=300)


# --- the residual block -------------------------------------------------------------------------


@PROFILE
@given(n=st.integers(1, 5), c_in=st.integers(1, 8), c_out=st.integers(1, 8), stride=st.sampled_from([1, 2]),
       side=st.integers(3, 9))
def test_block_output_shape(n, c_in, c_out, stride, side):
    """Does a block map (N, c_in, S, S) to (N, c_out, ⌈S/s⌉, ⌈S/s⌉) for any batch size, with a
    projection shortcut exactly when the stride or the channel count changes?"""
    block = resnet.BasicBlock(c_in, c_out, stride)
    out = block(torch.rand(n, c_in, side, side))
    side_out = -(-side // stride)
    assert out.shape == (n, c_out, side_out, side_out)
    assert (out >= 0).all()
    projects = stride != 1 or c_in != c_out
    assert isinstance(block.shortcut, torch.nn.Identity) is not projects
    if projects:
        conv, bn = block.shortcut
        assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
        assert (conv.in_channels, conv.out_channels, bn.num_features) == (c_in, c_out, c_out)


@pytest.mark.parametrize("c_in, c_out, stride", [(4, 4, 1), (4, 8, 1), (4, 4, 2), (4, 8, 2)])
def test_block_with_zeroed_convolutions_is_its_shortcut(c_in, c_out, stride):
    """With both 3×3 convolutions zeroed and BN in eval mode with its default statistics, is the
    block ReLU(shortcut(x)): ReLU(x) for the identity, ReLU of the projection otherwise?"""
    block = resnet.BasicBlock(c_in, c_out, stride).eval()
    with torch.no_grad():
        block.conv1.weight.zero_()
        block.conv2.weight.zero_()
    x = torch.randn(3, c_in, 8, 8)
    expected = F.relu(block.shortcut(x))
    torch.testing.assert_close(block(x), expected)
    if stride == 1 and c_in == c_out:
        torch.testing.assert_close(block(x), F.relu(x))


def test_gradients_reach_every_parameter():
    """After one backward pass, has every parameter of a block with a projection, and of a whole
    small ResNet, a finite non-zero gradient?"""
    block = resnet.BasicBlock(3, 6, stride=2)
    net = resnet.ResNet(3, 10, widths=(4, 8), blocks=(2, 1))
    for model, x in ((block, torch.randn(4, 3, 8, 8)), (net, torch.randn(4, 3, 16, 16))):
        out = model(x)
        loss = F.cross_entropy(out, torch.arange(4)) if out.ndim == 2 else (out * torch.randn_like(out)).sum()
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_resnet18_layout():
    """Is resnet18 the CIFAR variant: a 3×3 stem, 4 stages of 2 blocks, 11.17 M parameters,
    (N, 10) logits for 32×32 images, and 1×1 projections only where a stage begins (2, 3, 4)?"""
    model = resnet.resnet18()
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert [len(stage) for stage in model.stages] == [2, 2, 2, 2]
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    projections = [(i, j) for i, stage in enumerate(model.stages) for j, block in enumerate(stage)
                   if not isinstance(block.shortcut, torch.nn.Identity)]
    assert projections == [(1, 0), (2, 0), (3, 0)]
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


# --- the fast net -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_fast_net_shapes(shape):
    """Does the fast net give (N, 10) logits on CIFAR and MNIST shapes, with frozen whitening
    filters and BatchNorm scales, so that neither reaches the optimiser?"""
    model = fast.FastNet(shape[0], 10, widths=(8, 16, 16))
    assert model(torch.randn(5, *shape)).shape == (5, 10)
    assert model.whiten.weight.shape == (2 * shape[0] * 4, shape[0], 2, 2)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert "whiten.weight" in frozen and "groups.0.norm1.weight" in frozen
    optimised = {id(p) for g in engine.make_optimizer(model, fast.hyper_for("cifar10")).param_groups for p in g["params"]}
    assert optimised == {id(p) for p in model.parameters() if p.requires_grad}


def test_dirac_convolution_starts_as_identity():
    """Does a Dirac-initialised 3×3 convolution copy its c_in input channels to its first c_in outputs?"""
    conv = fast.dirac_conv(4, 6)
    x = torch.randn(2, 4, 7, 7)
    torch.testing.assert_close(conv(x)[:, :4], x)


def test_whitening_decorrelates_patches():
    """After init_whitening (eps = 0) on correlated images, do the first D whitening outputs
    (before the GELU) have the identity as second-moment matrix, and the next D their negatives?"""
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.8, 0.3], [0.0, 0.6, 0.5], [0.0, 0.0, 0.4]])
    base = torch.randn(200, 3, 12, 12, generator=g)
    images = torch.einsum("dc,nchw->ndhw", mix, F.avg_pool2d(base, 3, 1, 1))  # correlated channels and pixels
    model = fast.FastNet(3, 10, widths=(8, 8, 8))
    model.init_whitening(images, eps=0.0)
    with torch.no_grad():
        out = F.conv2d(images, model.whiten.weight)  # (N, 2D, 11, 11), bias aside
    d = out.shape[1] // 2
    flat = out[:, :d].permute(0, 2, 3, 1).reshape(-1, d)
    torch.testing.assert_close(flat.T @ flat / len(flat), torch.eye(d), atol=2e-3, rtol=0)
    torch.testing.assert_close(out[:, d:], -out[:, :d])


# --- pieces of the training loop ----------------------------------------------------------------


def test_standardize_uint8():
    """Does Standardize.fit make each channel of the (uint8) training images mean 0, std 1, and
    does a plain Standardize only scale uint8 to [0, 1]?"""
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(50, 3, 8, 8, generator=g) * torch.tensor([50.0, 150, 250])[:, None, None]).to(torch.uint8)
    x = engine.Standardize.fit(images, chunk=7)(images)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(engine.Standardize()(images), images.float() / 255)


def test_random_shift_reflect_is_a_crop_of_the_mirror_padding():
    """With reflect padding, is each shifted image a 8×8 crop of its reflect-padded self?"""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 8, 8, generator=g)
    out = engine.random_shift(x, 2, g, mode="reflect")
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for n in range(len(x)):
        assert any(torch.equal(out[n], padded[n, :, dy : dy + 8, dx : dx + 8]) for dy in range(5) for dx in range(5)), n


def test_cutout_zeroes_one_square_per_image():
    """Does cutout zero exactly one size×size square per image, inside it, leaving the rest?"""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 3, 10, 10, generator=g) + 0.1
    out = engine.cutout(x, 4, g)
    for n in range(len(x)):
        zero = (out[n] == 0).all(0)  # (H, W)
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert zero.sum() == 16 and len(rows) == 4 and len(cols) == 4
        assert rows[-1] - rows[0] == 3 and cols[-1] - cols[0] == 3
        assert torch.equal(out[n][:, ~zero], x[n][:, ~zero])


def test_alternating_flips():
    """With flip="alternate", is a fixed random half of the images mirrored in odd epochs and
    exactly the other half in even ones; and is "random" about half of them each time?"""
    g = torch.Generator().manual_seed(0)
    flips = engine.Flips("alternate", 1000, g, torch.device("cpu"))
    idx = torch.randperm(1000, generator=g)[:500]
    odd, even = flips.mask(idx, 1), flips.mask(idx, 2)
    assert torch.equal(odd, flips.mask(idx, 3)) and torch.equal(even, ~odd)
    assert 200 < odd.sum() < 300
    assert 400 < engine.Flips("random", 1000, g, torch.device("cpu")).mask(torch.arange(1000), 1).sum() < 600
    assert engine.Flips("none", 1000, g, torch.device("cpu")).mask(idx, 1) is None


def test_tta_levels():
    """Is level 1 the mean of a view and its mirror image, and does level 2 average six views
    with weights summing to 1 (a model constant over inputs gives its constant back)?"""
    x = torch.rand(4, 3, 8, 8)
    model = lambda v: v.flatten(1)  # noqa: E731
    torch.testing.assert_close(engine.tta_logits(model, x, 0), x.flatten(1))
    torch.testing.assert_close(engine.tta_logits(model, x, 1), 0.5 * (x + x.flip(-1)).flatten(1))
    constant = lambda v: torch.ones(len(v), 10)  # noqa: E731
    torch.testing.assert_close(engine.tta_logits(constant, x, 2), torch.ones(4, 10))


def test_norm_parameters_get_their_own_learning_rate():
    """Do BatchNorm parameters get lr × norm_lr_scale and weight_decay ÷ norm_lr_scale (the same
    decay per step), all other parameters lr and weight_decay?"""
    model = resnet.ResNet(3, 10, widths=(4,), blocks=(1,))
    hp = dataclasses.replace(resnet.hyper_for("cifar10"), lr=0.1, weight_decay=1e-3, norm_lr_scale=8.0)
    plain, norm = engine.make_optimizer(model, hp).param_groups
    bn = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert {id(p) for p in norm["params"]} == bn and not bn & {id(p) for p in plain["params"]}
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(plain["lr"] * plain["weight_decay"])
    assert norm["lr"] == pytest.approx(8 * plain["lr"])


def test_lookahead_update():
    """Does a lookahead update with decay d set both the average and the model to
    d·average + (1 - d)·model, integer buffers aside?"""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    lookahead = engine.Lookahead(model)
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    lookahead.update(0.75)
    torch.testing.assert_close(model[0].weight.detach(), before + 0.25)
    torch.testing.assert_close(lookahead.average["0.weight"], before + 0.25)
    assert "1.num_batches_tracked" not in lookahead.average


def test_bad_recipe_is_refused(cifar):
    """Is a misspelt choice in a recipe refused before training, naming the field?"""
    with pytest.raises(ValueError, match="flip='mirror'"):
        cnn.train(cifar, dataclasses.replace(small_hyper("cnn"), flip="mirror"), max_batches=1)


# --- training on CIFAR-10 files -----------------------------------------------------------------


@pytest.mark.parametrize("part", PARTS)
def test_training_lowers_the_loss(part, cifar):
    """Do four epochs of each part's CIFAR-10 recipe (narrow layers) on 300 images read from the
    real pickles lower the training loss, and beat chance on the test images?"""
    with torch_threads(1):
        model, history = PARTS[part].train(cifar, small_hyper(part))
    assert history.epochs == [1.0, 2.0, 3.0, 4.0]
    assert history.train_loss[-1] < 0.8 * history.train_loss[0], history.train_loss
    assert history.final_accuracy > 0.3, history.test_accuracy
    assert history.warmup_seconds == 0.0 and history.peak_memory == 0  # CPU: neither


def test_warm_up_changes_nothing(cifar):
    """Does the warm-up (the CUDA default, forced here on the CPU) leave the run after it exactly
    as it would have been without, whitening and lookahead included?"""
    hp = small_hyper("resnet-fast", epochs=2, ema_start=0, ema_every=2)
    runs = []
    with torch_threads(1):
        for warmup in (False, True):
            torch.manual_seed(0)
            model = fast.FastNet(3, 10, hp.widths)
            runs.append(engine.fit(model, cifar, hp, max_batches=8, prepare=model.init_whitening, warmup=warmup))
    without, with_warmup = runs
    assert without.train_loss == with_warmup.train_loss and without.test_accuracy == with_warmup.test_accuracy
    assert without.warmup_seconds == 0 < with_warmup.warmup_seconds


def test_checkpoint_holds_the_trained_model(cifar, tmp_path):
    """Does --checkpoint's file hold state_dicts from which a fresh model predicts exactly as the
    trained one, with the hyper-parameters and the last epoch?"""
    hp = small_hyper("cnn", epochs=2, tta=0)
    path = tmp_path / "run" / "cnn.pt"
    with torch_threads(1):
        model, history = cnn.train(cifar, hp, checkpoint=path)
    fresh = cnn.CNN(3, 32, 10, hp.channels, hp.hidden, hp.kernel_size, hp.batch_norm)
    record = engine.load_checkpoint(path, fresh)
    assert record["epoch"] == 2 and record["hyper"]["channels"] == hp.channels
    assert record["test_accuracy"] == history.final_accuracy and "state" in record["optimizer"]
    inputs = engine.Standardize.fit(cifar.train.images)
    assert engine.evaluate(fresh, cifar.test.images, cifar.test.labels, inputs=inputs) == history.final_accuracy
    assert not list(path.parent.glob("*.tmp"))


def test_tensorboard_is_optional(cifar, tmp_path, monkeypatch, capsys):
    """Without tensorboard, is --log-dir a warning and the run unchanged; with it (a stand-in
    SummaryWriter here), are the loss, accuracy and learning rate logged once per epoch?"""
    hp = small_hyper("cnn", epochs=2, tta=0)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails, as without the package
    with torch_threads(1):
        cnn.train(cifar, hp, max_batches=2, log_dir=tmp_path)
    assert "tensorboard is not installed" in capsys.readouterr().err

    logged = []

    class Writer:
        def __init__(self, log_dir):
            assert log_dir == str(tmp_path)

        def add_scalar(self, tag, value, step):
            logged.append((tag, step))

        def close(self):
            logged.append(("closed", None))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    with torch_threads(1):
        cnn.train(cifar, hp, log_dir=tmp_path)
    per_epoch = [(tag, e) for e in (1, 2) for tag in ("train/loss", "test/accuracy", "train/lr")]
    assert logged == per_epoch + [("closed", None)]


def test_hyper_for_every_dataset():
    """Does every convolutional part give a frozen Hyper with the CLI's fields, a valid recipe,
    and no flips or mirror TTA on digits?"""
    for module in PARTS.values():
        for name in data.DATASETS:
            hp = module.hyper_for(name)
            engine.check_recipe(hp)
            assert {"epochs", "batch_size", "lr", "seed", "compile"} <= {f.name for f in dataclasses.fields(hp)}
            with pytest.raises(dataclasses.FrozenInstanceError):
                hp.epochs = 1  # type: ignore[misc]
            if name != "cifar10":
                assert hp.flip == "none" and hp.tta == 0


# --- the CLI and the benchmark ------------------------------------------------------------------


def test_cli_dry_run_resnet_from_real_layout(tiny_root):
    """Does `python -m reference train resnet --dataset cifar10 --dry-run --device cpu --data-root
    DIR` train ResNet-18 one batch on files in the real layout and print test_accuracy last?"""
    out = run_cli("-m", "reference", "train", "resnet", "--dataset", "cifar10", "--dry-run", "--device", "cpu",
                  "--data-root", str(tiny_root))
    assert out.returncode == 0, out.stderr
    assert "10 train / 2 test" in out.stderr and "widths=(64, 128, 256, 512)" in out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("test_accuracy=")


@pytest.mark.parametrize("part", ["cnn", "resnet-fast"])
def test_cli_dry_run_with_checkpoint_and_logs(part, tiny_root, tmp_path, capsys):
    """Do the other parts' dry runs on CIFAR-10 files work with --checkpoint, --log-dir and --no-compile?"""
    path = tmp_path / "model.pt"
    argv = ["train", part, "--dataset", "cifar10", "--data-root", str(tiny_root), "--dry-run", "--device", "cpu",
            "--checkpoint", str(path), "--log-dir", str(tmp_path / "tb"), "--no-compile"]
    with torch_threads(1):
        assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "compile=False" in captured.err and path.is_file()
    assert captured.out.strip().splitlines()[-1].startswith("test_accuracy=")


def test_cli_refuses_options_a_part_does_not_take(capsys):
    """Is --checkpoint or --compile on a part without them one clear error line (exit 2)?"""
    assert cli.main(["train", "perceptron", "--checkpoint", "x.pt", "--dry-run"]) == 2
    assert cli.main(["train", "deep", "--compile", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: --checkpoint: part 'perceptron'") and err[1].startswith("error: --compile")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_benchmark_without_gpu_says_so(benchmark, capsys):
    """Without CUDA, does the benchmark say that it needs a GPU, train nothing and exit 0?"""
    assert benchmark.main([]) == 0
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_benchmark_cpu_smoke(benchmark, tiny_root, capsys):
    """Does `benchmarks/cifar10.py --device cpu --max-batches 1` print one row per model?"""
    with torch_threads(1):
        assert benchmark.main(["--device", "cpu", "--max-batches", "1", "--data-root", str(tiny_root)]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line and not line.startswith(("#", "model"))]
    assert rows == ["cnn", "resnet", "resnet-fast"] and out.count("(smoke run)") == 3


def test_tp4_threshold_benchmark_smoke(tiny_root, capsys):
    """Does `benchmarks/tp4_threshold.py --smoke` train the solution notebook in a sandbox worker
    and print the run's accuracy next to the minimum (and say it needs CUDA without --smoke)?"""
    spec = importlib.util.spec_from_file_location("tp4_threshold", REPO / "benchmarks" / "tp4_threshold.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--smoke", "--data-root", str(tiny_root)]) == 0
    out = capsys.readouterr().out
    assert "epoch  1  test accuracy" in out and "(minimum 0.80: " in out and "smoke run" in out
    if not torch.cuda.is_available():
        assert module.main([]) == 0 and "needs a CUDA GPU" in capsys.readouterr().out


# --- on a GPU -----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("part", PARTS)
def test_gpu_fast_path(part, cifar):
    """On CUDA (uint8 data on the device, bf16 autocast, channels_last, torch.compile and the
    warm-up), does each part lower the loss, and report its warm-up and peak memory?"""
    _, history = PARTS[part].train(cifar, small_hyper(part, compile=True), device="cuda")
    assert history.train_loss[-1] < 0.8 * history.train_loss[0], history.train_loss
    assert history.warmup_seconds > 0 and 0 < history.peak_memory < 20 * 2**30
