"""``python -m reference train``: dry runs of every part, plots, and one-line errors for bad data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from realformats import write_mnist_like

from reference import cli
from tpcheck import data

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reference", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, data.ENV_OFFLINE: "1", **(env or {})}, timeout=300)


@pytest.mark.parametrize("part", sorted(cli.PARTS))
def test_dry_run_every_part(part, capsys):
    """Does --dry-run train one mini-batch end to end and print test_accuracy last?"""
    assert cli.main(["train", part, "--dry-run", "--device", "cpu"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("test_accuracy=") and 0.0 <= float(last.split("=")[1]) <= 1.0


def test_overrides_and_plot(tmp_path, capsys):
    """Do --epochs/--lr/--batch-size reach the run, and does --plot write learning curves?"""
    png = tmp_path / "curves.png"
    assert cli.main(["train", "perceptron", "--epochs", "2", "--lr", "0.005", "--batch-size", "16",
                     "--seed", "3", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert "epochs=2" in captured.err and "lr=0.005" in captured.err and "batch_size=16" in captured.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert float(captured.out.strip().splitlines()[-1].split("=")[1]) > 0.6


def test_missing_data_is_one_clear_line(tmp_path):
    """Offline with an empty data root: exit 2 and one line naming the folder, no traceback."""
    out = run_cli("train", "perceptron", "--dataset", "mnist", "--data-root", str(tmp_path), "--dry-run")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: mnist: dataset files not found in")
    assert str(tmp_path / "MNIST" / "raw") in lines[0] and "Traceback" not in out.stderr


def test_corrupted_data_is_one_clear_line(tmp_path):
    write_mnist_like(tmp_path)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x01garbage")
    out = run_cli("train", "shallow", "--dataset", "mnist", "--data-root", str(tmp_path), "--dry-run")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "truncated or corrupted" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_data_root_from_environment(tmp_path):
    """Is $TP_DATA_ROOT used when --data-root is not given (on files in the real IDX format)?"""
    write_mnist_like(tmp_path, n_train=64, n_test=32)
    out = run_cli("train", "perceptron", "--dataset", "mnist", "--dry-run", env={data.ENV_DATA_ROOT: str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "64 train / 32 test" in out.stderr and out.stdout.strip().splitlines()[-1].startswith("test_accuracy=")


def test_cuda_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = run_cli("train", "perceptron", "--device", "cuda", "--dry-run")
    assert out.returncode == 2 and "no CUDA GPU is available" in out.stderr and "Traceback" not in out.stderr
