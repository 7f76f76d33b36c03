"""The autograder's command line: parses arguments and calls one ``main(...)`` per subcommand."""

from __future__ import annotations

import argparse

from autograder import checks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="The course's autograder.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="run every check against the reference (must pass) and the stubs (must say 'not implemented')")
    v.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                   help=f"assignments to validate (default: all: {', '.join(checks.MODULES)})")
    v.add_argument("--profile", default="grading", choices=["grading", "dev", "ci"],
                   help="Hypothesis settings profile (default: grading)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(1)  # checks use tiny tensors: threads only add synchronisation
    if args.command == "validate":
        from autograder import validate

        unknown = [a for a in args.assignments if a not in checks.MODULES]
        if unknown:
            build_parser().error(f"unknown assignment(s) {', '.join(unknown)}: choose from {', '.join(checks.MODULES)}")
        return validate.main(assignments=args.assignments or None, profile=args.profile)
    return 2
