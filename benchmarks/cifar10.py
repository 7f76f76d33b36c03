"""Train the CIFAR-10 references with their defaults on a GPU and print a table of figures.

    python benchmarks/cifar10.py --data-root DIR                      # every model, one run each
    python benchmarks/cifar10.py --models resnet-fast --runs 10        # mean and spread over seeds
    python benchmarks/cifar10.py --device cpu --max-batches 2          # smoke run, no GPU needed

DIR holds ``cifar-10-batches-py/`` (or set $TP_DATA_ROOT). Per model: final test accuracy (with
the model's test-time augmentation), seconds of training (the warm-up, evaluations, data loading
apart), warm-up seconds (torch.compile, cuDNN autotuning), epochs and peak GPU memory. Goals on
one H100: cnn ≥ 0.85 in ≤ 15 s, resnet (ResNet-18) ≥ 0.94 in ≤ 30 s, resnet-fast ≥ 0.94 in
≤ 3 s, each at most 20 GB of GPU memory. Without CUDA it says so and exits 0, unless asked for
a CPU smoke run (``--device cpu --max-batches N``), which checks that the code runs, not the goals.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.cli import part_module  # noqa: E402
from tpcheck import data as datasets  # noqa: E402

MODELS = ("cnn", "resnet", "resnet-fast")
GOALS = {"cnn": (0.85, 15.0), "resnet": (0.94, 30.0), "resnet-fast": (0.94, 3.0)}  # (accuracy, seconds)
MEMORY_GOAL = 20e9  # bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--data-root", default=None, help="folder with cifar-10-batches-py (default: $TP_DATA_ROOT)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="default: cuda")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="stop each run after N mini-batches (a smoke run; required with --device cpu)")
    parser.add_argument("--runs", type=int, default=1, help="runs per model, seeds 0, 1, … (default: 1)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile (default: each model's own choice)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("benchmarks/cifar10.py needs a CUDA GPU, and this machine has none; for a CPU smoke run "
              "that only checks the code: --device cpu --max-batches N")
        return 0
    if args.device == "cpu" and args.max_batches is None:
        parser.error("--device cpu trains for hours: add --max-batches N for a smoke run")
    try:
        ds = datasets.load("cifar10", args.data_root, raw=True)
    except datasets.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# cifar10: {len(ds.train)} train / {len(ds.test)} test; {where}; torch {torch.__version__}"
          + (f"; smoke run, {args.max_batches} batch(es)" if args.max_batches else ""))
    print(f"{'model':<12} {'accuracy':>8} {'seconds':>8} {'warm-up':>8} {'epochs':>6} {'peak GB':>8}  goal")
    met = True
    for name in args.models:
        module = part_module(name)
        hp = module.hyper_for("cifar10")
        if args.compile is not None:
            hp = dataclasses.replace(hp, compile=args.compile)
        runs = []
        for seed in range(args.runs):
            _, history = module.train(ds, dataclasses.replace(hp, seed=seed), device=device,
                                      max_batches=args.max_batches)
            runs.append(history)
        accs = [h.final_accuracy for h in runs]
        seconds = statistics.median(h.seconds for h in runs)
        peak = max(h.peak_memory for h in runs)
        acc_goal, s_goal = GOALS[name]
        ok = statistics.mean(accs) >= acc_goal and seconds <= s_goal and peak <= MEMORY_GOAL
        met &= ok
        verdict = "(smoke run)" if args.max_batches else "ok" if ok else "MISSED"
        spread = f" (min {min(accs):.4f}, max {max(accs):.4f}, n={len(accs)})" if len(accs) > 1 else ""
        print(f"{name:<12} {statistics.mean(accs):>8.4f} {seconds:>8.2f} {runs[0].warmup_seconds:>8.1f} "
              f"{runs[0].epochs[-1]:>6g} {peak / 1e9:>8.2f}  ≥{acc_goal:.2f} ≤{s_goal:g}s "
              f"{verdict}{spread}", flush=True)
    if args.max_batches is None:
        print("all goals met" if met else "some goals missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
