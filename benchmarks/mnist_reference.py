"""Train every MNIST part's reference with its tuned defaults and print a table of figures.

    python benchmarks/mnist_reference.py --dataset mnist --data-root DIR   # the README's figures
    python benchmarks/mnist_reference.py --dataset mnist-sample             # offline (make demo)

Seconds are training wall time (data loading and the final evaluation apart), on this machine's
default torch thread count. Goals on full MNIST, 2 CPU cores: perceptron ≥ 0.855 in ≤ 2 s,
shallow ≥ 0.975 in ≤ 30 s, deep ≥ 0.983 in ≤ 60 s, cnn ≥ 0.992 in ≤ 120 s.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.cli import PARTS, part_module  # noqa: E402
from reference.training import resolve_device  # noqa: E402
from tpcheck import data as datasets  # noqa: E402

GOALS = {"perceptron": (0.855, 2), "shallow": (0.975, 30), "deep": (0.983, 60), "cnn": (0.992, 120)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist-sample", choices=["mnist", "fashion-mnist", "mnist-sample"])
    parser.add_argument("--data-root", default=None, help="folder with MNIST/raw (default: $TP_DATA_ROOT)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    try:
        ds = datasets.load(args.dataset, args.data_root)
    except datasets.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    print(f"# {args.dataset}: {len(ds.train)} train / {len(ds.test)} test; {device}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    header = f"{'part':<11} {'accuracy':>8} {'seconds':>8} {'epochs':>6}"
    if args.dataset == "mnist":
        header += f"  {'goal':>13}"
    print(header)
    met = True
    for part in args.parts:
        module = part_module(part)
        hp = module.hyper_for(args.dataset)
        t0 = time.perf_counter()
        _, history = module.train(ds, hp, device=device, progress=False)
        wall = time.perf_counter() - t0
        line = f"{part:<11} {history.final_accuracy:>8.4f} {history.seconds:>8.2f} {hp.epochs:>6}"
        if args.dataset == "mnist":
            acc_goal, s_goal = GOALS[part]
            ok = history.final_accuracy >= acc_goal and history.seconds <= s_goal
            met &= ok
            line += f"  {'≥%.3f ≤%ds' % (acc_goal, s_goal):>13} {'ok' if ok else 'MISSED'}"
        print(line + f"   (wall {wall:.1f} s incl. evaluation)", flush=True)
    if args.dataset == "mnist":
        print("all goals met" if met else "some goals missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
