"""``python -m autograder release [ASSIGNMENT…]``: the student notebooks, from the course's sources.

For each assignment: nbgrader's own ``generate_assignment`` (run on a temporary copy of the
course directory, so no gradebook database or ``release/`` folder is left in the repository)
writes the released notebook, whose solution regions become stubs and whose hidden tests are
removed; then the example bank the visible checks replay is computed from the reference and
written next to it (``examples.npz``). Once for all assignments, the students' check package
``tpcheck/`` is written beside the assignment folders: the visible checks and the data loader,
copied from :mod:`autograder` and :mod:`tpcheck.data` (no solution, no hidden check in them).

Everything written is deterministic: releasing twice gives identical files, which CI verifies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tpcheck import bank
from autograder import registry
from autograder import checks
from autograder.course import banks

ROOT, COURSE, TEMPLATE = registry.ROOT, registry.COURSE, registry.TEMPLATE

# The student-side modules (relative imports only; torch and numpy besides), and what they are
# called in tpcheck/.


def release(assignments: list[str] | None = None, *, course: Path = COURSE, out: Path = TEMPLATE) -> list[Path]:
    """Release ``assignments`` (default: every one with a source folder) into ``out``."""
    names = assignments or [a for a in registry.NAMES if (course / "source" / a).is_dir()]
    written = []
    with tempfile.TemporaryDirectory(prefix="tp-release-") as tmp:
        work = Path(tmp) / "course"
        shutil.copytree(course, work, ignore=shutil.ignore_patterns(
            "gradebook.db", "release", "__pycache__", ".hypothesis", ".ipynb_checkpoints"))
        for name in names:
            if not (work / "source" / name).is_dir():
                raise FileNotFoundError(f"no source folder {course / 'source' / name}")
            _generate(work, name, Path(tmp) / "gradebook.db")
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(work / "release" / name, target)
            for path in target.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
            if name in registry.NAMES:
                bank.write(target / "examples.npz", name, banks.build(checks.load(name)))
            written.append(target)
    written.append(write_tpcheck(out / "tpcheck"))
    return written


def write_tpcheck(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for source in sorted((ROOT / "tpcheck").rglob("*.py")):
        target = folder / source.relative_to(ROOT / "tpcheck")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return folder


def _generate(course: Path, name: str, db: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
           f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}"]
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (course / "release" / name).is_dir():
        raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def main(*, assignments: list[str] | None) -> int:
    for path in release(assignments):
        print(f"released {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
