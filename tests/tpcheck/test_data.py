"""Data layer: real on-disk formats written by the tests, loaded through torchvision's code path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from realformats import write_cifar10, write_mnist_like

from tpcheck import data


def test_idx_files_load_through_torchvision(tmp_path):
    """Do IDX files in MNIST/raw come back as float images in [0, 1], NCHW, with int64 labels?"""
    train_x, train_y, test_x, test_y = write_mnist_like(tmp_path, n_train=30, n_test=12)
    ds = data.load("mnist", tmp_path, download=False)
    assert ds.train.images.shape == (30, 1, 28, 28) and ds.test.images.shape == (12, 1, 28, 28)
    assert ds.train.images.dtype == torch.float32 and ds.train.labels.dtype == torch.int64
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(train_x).float() / 255)
    assert torch.equal(ds.test.labels, torch.from_numpy(test_y).long())
    assert ds.num_classes == 10 and ds.image_shape == (1, 28, 28)
    assert ds.train.flat().shape == (30, 784)


def test_raw_keeps_uint8(tmp_path):
    """Does raw=True keep the pixels as uint8 in [0, 255] (the GPU fast path's input)?"""
    train_x, *_ = write_mnist_like(tmp_path)
    ds = data.load("mnist", tmp_path, raw=True, download=False)
    assert ds.train.images.dtype == torch.uint8
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(train_x))


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    """Is Fashion-MNIST read from FashionMNIST/raw, with its class names?"""
    write_mnist_like(tmp_path, folder="FashionMNIST", n_train=10, n_test=5)
    ds = data.load("fashion-mnist", tmp_path, download=False)
    assert len(ds.train) == 10 and ds.classes[0] == "T-shirt/top"
    with pytest.raises(data.DataError, match="MNIST/raw"):
        data.load("mnist", tmp_path, download=False)


def test_cifar10_pickles_load_without_md5(tmp_path):
    """Do cifar-10-batches-py pickles (not the official bytes) load in NCHW with their labels?"""
    train_x, train_y, test_x, test_y = write_cifar10(tmp_path, per_batch=6)
    ds = data.load("cifar10", tmp_path, download=False)
    assert ds.train.images.shape == (30, 3, 32, 32) and ds.test.images.shape == (6, 3, 32, 32)
    assert torch.equal(ds.train.images, torch.from_numpy(train_x).float() / 255)
    assert torch.equal(ds.train.labels, torch.from_numpy(train_y).long())
    assert ds.classes[1] == "automobile"


def test_missing_files_name_folder_and_files(tmp_path):
    """Offline with no files: does the error name the folder, the files and how to get them?"""
    with pytest.raises(data.DataError) as err:
        data.load("mnist", tmp_path / "empty", download=False)
    message = str(err.value)
    assert str(tmp_path / "empty" / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "--data-root" in message and data.ENV_DATA_ROOT in message
    with pytest.raises(data.DataError, match="data_batch_1.*test_batch"):
        data.load("cifar10", tmp_path / "empty", download=False)


def test_truncated_idx_is_a_clear_error(tmp_path):
    """Does a truncated IDX file give a one-paragraph DataError, not a traceback from torch?"""
    write_mnist_like(tmp_path)
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(data.DataError, match="truncated or corrupted"):
        data.load("mnist", tmp_path, download=False)


def test_corrupted_cifar_pickle_is_a_clear_error(tmp_path):
    """Does garbage in a CIFAR batch file give a DataError naming the folder?"""
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(data.DataError, match="cifar-10-batches-py"):
        data.load("cifar10", tmp_path, download=False)


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="choose one of mnist, fashion-mnist"):
        data.load("imagenet")


def test_root_resolution_order(tmp_path, monkeypatch):
    """Is the root the argument, else $TP_DATA_ROOT, else the cache folder?"""
    monkeypatch.setenv(data.ENV_DATA_ROOT, str(tmp_path / "env"))
    assert data.resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_root() == tmp_path / "env"
    monkeypatch.delenv(data.ENV_DATA_ROOT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.resolve_root() == tmp_path / "cache" / "tp-data"


def test_mnist_sample_is_shuffled_split_and_seeded(mnist_sample):
    """Is the shipped (label-sorted) sample shuffled with the seed before a 4,000/1,000 split?"""
    ds = mnist_sample
    assert len(ds.train) == 4000 and len(ds.test) == 1000
    assert ds.train.images.shape[1:] == (1, 28, 28)
    assert 0.0 <= float(ds.train.images.min()) and float(ds.train.images.max()) <= 1.0
    # every class on both sides: the sorted order was broken before the split
    assert (ds.test.labels.bincount(minlength=10) > 50).all()
    again = data.load("mnist-sample", seed=0)
    assert torch.equal(again.test.labels, ds.test.labels)
    other = data.load("mnist-sample", seed=1)
    assert not torch.equal(other.test.labels, ds.test.labels)
    whole = torch.cat([ds.train.labels, ds.test.labels]).bincount()
    assert torch.equal(whole, torch.cat([other.train.labels, other.test.labels]).bincount())


def test_one_hot():
    """Does one_hot put a single 1 per row at the label's column?"""
    t = data.one_hot(torch.tensor([2, 0, 9]), 10)
    assert t.shape == (3, 10) and t.dtype == torch.float32
    assert torch.equal(t.argmax(1), torch.tensor([2, 0, 9])) and float(t.sum()) == 3.0
    with pytest.raises(TypeError):
        data.one_hot(torch.tensor([0.5]), 10)


@pytest.mark.real_data
def test_real_mnist(mnist):
    """Are the official MNIST archives read with their published sizes and label counts?"""
    assert len(mnist.train) == 60000 and len(mnist.test) == 10000
    assert mnist.test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert int(mnist.train.labels.bincount()[1]) == 6742
    assert np.isclose(float(mnist.train.images.mean()), 0.1307, atol=1e-3)


def test_fashion_classes_are_torchvisions():
    """The written-out class names are torchvision's own."""
    from torchvision import datasets

    assert data.FASHION_CLASSES == tuple(datasets.FashionMNIST.classes)


def test_importing_the_loader_does_not_import_torchvision():
    """Does a notebook's `from tpcheck.data import load` stay cheap (torchvision, 1.2 s, waits
    for the first load)? Every sandbox worker whose notebook imports the loader pays it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, tpcheck.data; print('torchvision' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
