"""``make gradescope``: the autograder zip Gradescope takes (``setup.sh`` and ``run_autograder`` at its root).

The zip holds Gradescope's pair at its root, then the project's tracked files that grading needs
(``autograder/``, ``tpcheck/``, ``tpworker/``, ``reference/``, ``scripts/``, ``gradescope/``,
``pyproject.toml``, ``README.md``: never ``.venv``, caches, ``out/``, the example class or the
tests), as they are in the working tree, and ``gradescope/assignment.txt`` when an assignment is
given. Deterministic: sorted names, fixed dates and modes, the same inputs give the same bytes.

    python gradescope/build.py [--assignment A] [--unsafe-no-sandbox] [--out FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDED = ("autograder/", "tpcheck/", "tpworker/", "reference/", "scripts/", "gradescope/", "pyproject.toml", "README.md")
EXECUTABLE = {"setup.sh", "run_autograder", "gradescope/setup.sh", "gradescope/run_autograder", "scripts/setup.sh"}
DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say


def tracked() -> list[str]:
    """The repository's tracked files that the zip holds (their working-tree contents)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    return [n for n in names if n.startswith(INCLUDED) and (ROOT / n).is_file() and "__pycache__" not in n]


def build(out: Path, assignment: str = "", unsafe: bool = False) -> Path:
    files: dict[str, bytes] = {n: (ROOT / n).read_bytes() for n in tracked()}
    files["setup.sh"] = (ROOT / "gradescope" / "setup.sh").read_bytes()
    files["run_autograder"] = (ROOT / "gradescope" / "run_autograder").read_bytes()
    if assignment:
        files["gradescope/assignment.txt"] = f"{assignment}\n".encode()
    if unsafe:
        files["gradescope/unsafe-no-sandbox"] = b"grade without bubblewrap: see README, Gradescope\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, DATE)
            info.create_system = 3  # unix: the modes below are read
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name], compresslevel=9)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="", help="the assignment this Gradescope autograder grades "
                                                        "(default: none: the submitted notebook's name says)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="grade without bubblewrap (see README)")
    parser.add_argument("--out", default=None, help="the zip to write (default: out/gradescope/<assignment>.zip)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from autograder import registry

    if args.assignment and args.assignment not in registry.NAMES:
        parser.error(f"unknown assignment {args.assignment!r}: choose from {', '.join(registry.NAMES)}")
    out = Path(args.out) if args.out else ROOT / "out" / "gradescope" / f"{args.assignment or 'autograder'}.zip"
    print(build(out, args.assignment, args.unsafe_no_sandbox))
    return 0


if __name__ == "__main__":
    sys.exit(main())
