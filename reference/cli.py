"""``python -m reference train PART …``: train the instructor's solution of one part.

Every part module (``reference.<part>``) follows one contract, which this CLI relies on:

- ``Hyper``: a frozen dataclass of hyper-parameters with fields ``epochs``, ``batch_size``,
  ``lr`` and ``seed`` (plus the part's own), its defaults the tuned ones;
- ``hyper_for(dataset: str) -> Hyper``: the tuned defaults for a dataset;
- ``train(data, hp, *, device, progress, max_batches=None) -> (model, History)``: trains on
  ``data.train`` and evaluates on ``data.test``; ``max_batches`` stops after that many
  mini-batches (the ``--dry-run`` smoke pass uses 1).

Optional, for the convolutional parts: ``RAW_IMAGES = True`` (``train`` takes uint8 images, which
the CLI then loads, to scale them on the device), the keywords ``checkpoint`` and ``log_dir`` of
``train`` (``--checkpoint``, ``--log-dir``), and a ``compile`` field in ``Hyper`` (``--compile``).

The last line printed is ``test_accuracy=0.XXXX``, for scripts to read.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import sys
import time
from pathlib import Path

from reference.training import plot_history, resolve_device
from tpcheck import data as datasets


def _declared_parts() -> dict[str, str]:
    """CLI part name → module, for every module of the reference (and of ``reference.cifar``)
    that declares ``PART = "…"`` (read statically: nothing is imported to list them)."""
    found = {}
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")) + sorted(here.glob("cifar/*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PART"]
                    and isinstance(node.value, ast.Constant)):
                found[node.value.value] = ".".join(("reference", *path.relative_to(here).with_suffix("").parts))
    return found


PARTS = _declared_parts()


def part_module(part: str):
    return importlib.import_module(PARTS[part])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one part's reference solution and report its test accuracy")
    train.add_argument("part", choices=sorted(PARTS), help="which part of the course")
    train.add_argument("--dataset", default="mnist-sample", choices=datasets.DATASETS,
                       help="dataset (default: mnist-sample, 5,000 real digits that work offline)")
    train.add_argument("--data-root", default=None,
                       help=f"folder holding the dataset files (default: ${datasets.ENV_DATA_ROOT}, "
                            f"else {datasets.default_root()})")
    train.add_argument("--epochs", type=int, default=None, help="epochs (default: the part's tuned value)")
    train.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: tuned)")
    train.add_argument("--lr", type=float, default=None, help="learning rate η (default: tuned)")
    train.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    train.add_argument("--device", default=None, choices=["cpu", "cuda"],
                       help="where to train (default: cuda when available, else cpu)")
    train.add_argument("--plot", default=None, metavar="FILE.png", help="write learning curves to this PNG")
    train.add_argument("--dry-run", action="store_true", help="one mini-batch end to end, as a smoke test")
    train.add_argument("--checkpoint", default=None, metavar="FILE",
                       help="save the model's and optimizer's state_dicts there after every epoch (cnn, resnet*)")
    train.add_argument("--log-dir", default=None, metavar="DIR",
                       help="write TensorBoard logs there, if tensorboard is installed (cnn, resnet*)")
    train.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the model on CUDA (default: the part's tuned choice; cnn, resnet*)")
    return parser


def extra_options(module, args: argparse.Namespace) -> tuple[dict, dict]:
    """(Hyper overrides, train keywords) for the options only some parts take; ValueError when the
    part does not take one that was given."""
    fields = {f.name for f in dataclasses.fields(module.Hyper)}
    keywords = inspect.signature(module.train).parameters
    overrides, kwargs = {}, {}
    if args.compile is not None:
        if "compile" not in fields:
            raise ValueError(f"--compile: part {args.part!r} has nothing to compile")
        overrides["compile"] = args.compile
    for option, name in (("--checkpoint", "checkpoint"), ("--log-dir", "log_dir")):
        value = getattr(args, name)
        if value is not None:
            if name not in keywords:
                raise ValueError(f"{option}: part {args.part!r} does not take it (only cnn, resnet, resnet-fast)")
            kwargs[name] = value
    return overrides, kwargs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = part_module(args.part)
    hp = module.hyper_for(args.dataset)
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                   "lr": args.lr, "seed": args.seed}.items() if v is not None}
    try:
        extra, kwargs = extra_options(module, args)
        hp = dataclasses.replace(hp, **overrides, **extra)
        device = resolve_device(args.device)
        t0 = time.perf_counter()
        data = datasets.load(args.dataset, args.data_root, seed=hp.seed, raw=getattr(module, "RAW_IMAGES", False))
        load_seconds = time.perf_counter() - t0
    except (datasets.DataError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.part} on {args.dataset} ({len(data.train)} train / {len(data.test)} test, "
          f"loaded in {load_seconds:.1f} s), device {device}, {hp}", file=sys.stderr)
    _, history = module.train(data, hp, device=device, progress=True,
                              max_batches=1 if args.dry_run else None, **kwargs)
    print(f"trained in {history.seconds:.2f} s over {history.epochs[-1] if history.epochs else 0:g} epochs")
    if getattr(history, "warmup_seconds", 0.0):
        print(f"warm-up (compilation, autotuning) {history.warmup_seconds:.2f} s, not counted above")
    if getattr(history, "peak_memory", 0):
        print(f"peak GPU memory {history.peak_memory / 2**30:.2f} GiB")
    if kwargs.get("checkpoint"):
        print(f"checkpoint: {kwargs['checkpoint']}")
    if args.plot:
        print(f"learning curves: {plot_history(history, args.plot)}")
    print(f"test_accuracy={history.final_accuracy:.4f}")
    return 0
