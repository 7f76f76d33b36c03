"""The course registry: the one list of the course's assignments, which everything else reads.

An assignment's name is its module's name in every zone (../shared/DESIGN.md, "Layout"), so one
name gives all its places:

==================  =============================================
reference solution  ``reference/<name>.py``
hidden checks       ``autograder/checks/<name>.py``
visible checks      ``tpcheck/parts/<name>.py`` (shipped)
nbgrader source     ``assignments/source/<name>/<name>.ipynb``
released notebook   ``student_template/<name>/<name>.ipynb``
==================  =============================================

and the reference's training CLI names the part by the ``PART`` its module declares
(``python -m reference train perceptron``). ``MNIST`` lists the assignments graded on MNIST
(the ones ``make demo`` and the benchmarks grade); tp4_cnn trains on CIFAR-10.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "assignments"
TEMPLATE = ROOT / "student_template"


@dataclass(frozen=True)
class Entry:
    """One assignment of the course and where each of its pieces lives."""

    name: str
    dataset: str  # what its training run learns ("mnist" or "cifar10")

    @property
    def reference_module(self) -> str:
        return f"reference.{self.name}"

    @property
    def checks_module(self) -> str:
        return f"autograder.checks.{self.name}"

    @property
    def visible_module(self) -> str:
        return f"tpcheck.parts.{self.name}"

    def notebook(self, course: Path = COURSE) -> Path:
        return course / "source" / self.name / f"{self.name}.ipynb"

    def reference(self):
        return importlib.import_module(self.reference_module)

    @property
    def cli_part(self) -> str:
        """The part's name for ``python -m reference train`` (its module's ``PART``)."""
        return self.reference().PART


COURSE_ASSIGNMENTS = (
    Entry("tp1_perceptron", "mnist"),
    Entry("tp2_shallow", "mnist"),
    Entry("tp2b_modules", "mnist"),
    Entry("tp3_deep", "mnist"),
    Entry("tp4_cnn", "cifar10"),
)
BY_NAME = {e.name: e for e in COURSE_ASSIGNMENTS}
NAMES = tuple(BY_NAME)
MNIST = tuple(e.name for e in COURSE_ASSIGNMENTS if e.dataset == "mnist")


def get(name: str) -> Entry:
    """The registry's entry for ``name``; KeyError naming the choices when there is none."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown assignment {name!r}: choose one of {', '.join(NAMES)}") from None
