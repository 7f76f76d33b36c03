"""The tp4_cnn training run the grader enforces, measured: the solution notebook's ResNet and
train_step trained in a GPU-mode sandbox worker on CIFAR-10 with the assignment's budget, exactly
as ``autograder grade --device cuda --dataset cifar10`` runs it (checks left out).

    python benchmarks/tp4_threshold.py --data-root DIR               # on a GPU: the real budget
    python benchmarks/tp4_threshold.py --data-root DIR --smoke       # anywhere: 1 epoch, tiny widths

DIR holds ``cifar-10-batches-py/`` (or set $TP_DATA_ROOT). Prints the test accuracy after each
epoch, the seconds of the run (data transfer into the worker included) and the minimum of
``autograder/checks/tp4_cnn.py``, so that the minimum can be set below a measured figure with
a margin. Without CUDA and without ``--smoke`` it says so and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import checks  # noqa: E402
from autograder.stages import threshold
from autograder.stages.extract import extract, read_notebook  # noqa: E402
from autograder.stages.sandbox import (  # noqa: E402
    Limits,
    Sandbox,
    bwrap_available,
    training_limits,  # noqa: E402
)
from tpcheck.data import DataError  # noqa: E402

A = "tp4_cnn"
NOTEBOOK = ROOT / "assignments" / "source" / A / f"{A}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="folder with cifar-10-batches-py (default: $TP_DATA_ROOT)")
    parser.add_argument("--smoke", action="store_true", help="1 epoch of a tiny ResNet: checks the code, not the goal")
    args = parser.parse_args(argv)
    gpu = torch.cuda.is_available()
    if not gpu and not args.smoke:
        print("benchmarks/tp4_threshold.py needs a CUDA GPU, and this machine has none; "
              "for a smoke run that only checks the code: --smoke")
        return 0
    spec = checks.load(A).threshold
    if args.smoke:
        budget = {**spec.budgets["cifar10"], "epochs": 1,
                  "kwargs": dict(in_channels=3, num_classes=10, widths=[8, 16], blocks=[1, 1])}
        spec = dataclasses.replace(spec, budgets={"cifar10": budget})
    try:
        data = threshold.load("cifar10", args.data_root)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    where = torch.cuda.get_device_name() if gpu else platform.processor() or platform.machine()
    budget = spec.budgets["cifar10"]
    print(f"# {A} training run: cifar10 {len(data.y_train)} train / {len(data.y_test)} test; {where}; "
          f"torch {torch.__version__}; {budget['epochs']} epochs of {budget['model']}{budget['kwargs']['widths']}, "
          f"batch {budget['batch_size']}" + ("; smoke run" if args.smoke else ""))
    code = extract(read_notebook(NOTEBOOK), checks.load(A).functions).code
    limits = training_limits(Limits(), spec, "cuda" if gpu else "cpu")
    start = time.perf_counter()
    with Sandbox(code, limits=limits, unsafe=not bwrap_available()) as sandbox:
        started = time.perf_counter() - start
        result = threshold.run_threshold(A, spec, sandbox, [], dataset="cifar10", data_root=args.data_root,
                                         device="cuda")
    d = result.details
    if "test_accuracy" not in d:
        print(f"the run failed: {result.message}")
        return 1
    for epoch, (acc, loss) in enumerate(zip(d["test_accuracy"], d.get("train_loss", [None] * len(d["test_accuracy"]))),
                                        start=1):
        print(f"epoch {epoch:>2}  test accuracy {acc:.4f}  train loss {loss if loss is None else round(loss, 4)}")
    print(f"accuracy {d['accuracy']:.4f} (minimum {spec.minimum['cifar10']:.2f}: {result.status}); "
          f"run {d['seconds']:.1f} s (limit {spec.seconds:g} s), worker start {started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
