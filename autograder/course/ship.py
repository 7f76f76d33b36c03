"""What a released assignment folder needs besides its notebook, written by nbgrader itself.

:class:`ShipReleaseFiles` is an nbgrader preprocessor that the course's ``nbgrader_config.py``
adds to ``GenerateAssignment.preprocessors`` (:func:`register`). For each assignment of the
course registry it puts two files into the notebook's resources (``resources["outputs"]``),
which nbconvert's ``FilesWriter`` writes beside the released notebook, in
``release/<assignment>/``:

- ``examples.npz``, the example bank the visible checks replay, computed from the reference by
  :func:`autograder.course.banks.build` (written by :func:`tpcheck.bank.write`, deterministic);
- ``tpcheck-<version>-py3-none-any.whl``, the students' package
  (:func:`autograder.course.release.build_wheel`), so that a folder a student receives alone,
  through nbgrader's exchange (``release_assignment`` / ``fetch_assignment``), is enough:
  ``pip install tpcheck-0.1.0-py3-none-any.whl`` from inside it.

So plain ``nbgrader generate_assignment NAME`` and ``python -m autograder release`` (which runs
that very command on a copy of the course, then copies the folder) ship the same files: one
code path, and nothing generated is committed in ``source/`` (the bank's one source of truth is
the reference, the wheel's ``tpcheck/``). Both are built once per process and assignment. An
assignment the registry does not know gets nothing. A failure to build them fails nbgrader's
conversion of that assignment (nbgrader reports it and exits non-zero), never silently.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor

BANK_FILE = "examples.npz"  # tpcheck.student.BANK_FILE, the name the visible checks read


@functools.cache
def bank_bytes(name: str) -> bytes:
    """The bytes of ``name``'s example bank (torch on one thread, as `autograder release` always ran it)."""
    import torch

    from autograder import checks
    from autograder.course import banks
    from tpcheck import bank

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="tp-bank-") as tmp:
            path = bank.write(Path(tmp) / BANK_FILE, name, banks.build(checks.load(name)))
            return path.read_bytes()
    finally:
        torch.set_num_threads(threads)


@functools.cache
def wheel_bytes() -> tuple[str, bytes]:
    """(file name, bytes) of the students' wheel."""
    from autograder.course import release

    with tempfile.TemporaryDirectory(prefix="tp-wheel-out-") as tmp:
        path = release.build_wheel(Path(tmp))
        return path.name, path.read_bytes()


def release_files(name: str) -> dict[str, bytes]:
    """File name → bytes of what ships beside ``name``'s released notebook (empty for an
    assignment the course registry does not know)."""
    from autograder import registry

    if name not in registry.NAMES:
        return {}
    wheel, data = wheel_bytes()
    return {BANK_FILE: bank_bytes(name), wheel: data}


class ShipReleaseFiles(NbGraderPreprocessor):
    """Adds the assignment's example bank and the tpcheck wheel to the files nbgrader's
    ``generate_assignment`` writes into ``release/<assignment>/``."""

    def preprocess(self, nb, resources: dict[str, Any]):
        name = resources["nbgrader"]["assignment"]
        files = release_files(name)
        if files:
            outputs = resources.setdefault("outputs", {})
            outputs.update(files)
            self.log.info("Shipping %s with %s", name, ", ".join(sorted(files)))
        return nb, resources


def register(c) -> None:
    """Add :class:`ShipReleaseFiles` to ``GenerateAssignment.preprocessors`` of the nbgrader
    config ``c`` (after nbgrader's own, which stay as they are); twice is once."""
    from nbgrader.converters import GenerateAssignment

    current = list(c.GenerateAssignment.preprocessors) if "preprocessors" in c.GenerateAssignment \
        else list(GenerateAssignment.class_traits()["preprocessors"].default())
    if ShipReleaseFiles not in current:
        current.append(ShipReleaseFiles)
    c.GenerateAssignment.preprocessors = current
