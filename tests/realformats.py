"""Write small datasets in the real on-disk formats, so tests load them through the same code
path as the real files: IDX (MNIST, Fashion-MNIST) and the cifar-10-batches-py pickles."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

IDX_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> Path:
    """One IDX file: magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, IDX_UBYTE, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())
    return path


def write_mnist_like(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20,
                     seed: int = 0) -> tuple[np.ndarray, ...]:
    """``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` with random 28×28
    digits; returns (train_images, train_labels, test_images, test_labels)."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    out = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out += [images, labels]
    return tuple(out)


CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def write_cifar10(root: Path, per_batch: int = 8, seed: int = 0, signal: bool = False) -> tuple[np.ndarray, ...]:
    """``root/cifar-10-batches-py/`` with five train batches, a test batch and batches.meta, each
    a latin-1 pickle of {"data": uint8 (n, 3072) in CHW order, "labels": list[int]} as in the
    official archive; returns (train_images NCHW, train_labels, test_images, test_labels).

    The images are noise; with ``signal``, the noise is halved (0-127) and an image of class c
    has rows 3c to 3c+2 of channel c mod 3 at 255, so that a network can learn the labels."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    images, labels = {}, {}
    for name in CIFAR_TRAIN + ["test_batch"]:
        x = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=per_batch).tolist()
        if signal:
            x = x.reshape(per_batch, 3, 32, 32) // 2
            for n, c in enumerate(y):
                x[n, c % 3, 3 * c : 3 * c + 3] = 255
            x = x.reshape(per_batch, -1)
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name.encode(), "data": x, "labels": y,
                         "filenames": [b"x.png"] * per_batch}, f, protocol=2)
        images[name], labels[name] = x.reshape(-1, 3, 32, 32), np.array(y)
    meta = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": meta, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    train_x = np.concatenate([images[n] for n in CIFAR_TRAIN])
    train_y = np.concatenate([labels[n] for n in CIFAR_TRAIN])
    return train_x, train_y, images["test_batch"], labels["test_batch"]
