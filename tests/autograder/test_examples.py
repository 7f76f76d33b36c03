"""The example class: current with the released notebooks, and graded as its names say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder import checks
from autograder.grade import grade_class
from autograder.stages.sandbox import Limits, bwrap_available

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "submitted"
ASSIGNMENTS = sorted(p.name for p in (EXAMPLES / "correct").iterdir())


def test_examples_are_what_the_script_builds_from_the_templates():
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "make_examples.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_mnist_assignment_has_the_five_students():
    """tp2b_modules (classes, filled method by method) has correct, buggy and empty only."""
    assert ASSIGNMENTS == ["tp1_perceptron", "tp2_shallow", "tp2b_modules", "tp3_deep"]
    for student in ("correct", "buggy", "crash", "empty", "hostile"):
        have = [a for a in ASSIGNMENTS if a != "tp2b_modules" or student in ("correct", "buggy", "empty")]
        assert all((EXAMPLES / student / a / f"{a}.ipynb").is_file() for a in have), student


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")
def test_grading_the_class_twice_gives_the_same_gradebook(tmp_path):
    """correct at full marks, empty at 0, hostile no higher than honest work, buggy shown a
    counterexample; a second grading gives a byte-identical grades.csv."""
    limits = Limits(call_seconds=5)
    graded = {(g.student, g.assignment): g for g in
              grade_class(EXAMPLES, ASSIGNMENTS, tmp_path / "a", jobs=2, limits=limits, progress=False)}
    for a in ASSIGNMENTS:
        full = checks.load(a).max_points
        assert graded["correct", a].score == full
        assert graded["empty", a].score == 0
        assert graded["buggy", a].score < full
        if ("hostile", a) in graded:
            assert graded["hostile", a].score < full
        assert any(r.counterexample for r in graded["buggy", a].results)
        page = (tmp_path / "a" / "buggy" / a / "feedback.html").read_text(encoding="utf-8")
        assert "Plus petite entrée" in page
    grade_class(EXAMPLES, ASSIGNMENTS, tmp_path / "b", jobs=2, limits=limits, progress=False)
    assert (tmp_path / "a" / "grades.csv").read_bytes() == (tmp_path / "b" / "grades.csv").read_bytes()
    assert (tmp_path / "a" / "report.html").is_file()
