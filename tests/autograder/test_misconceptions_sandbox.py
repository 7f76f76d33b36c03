"""A misconception named through a real sandbox: a tp2 notebook whose δ1 forgets σ′ (the course's
solution notebook with that one line changed) is graded by :func:`autograder.grade.grade_one`;
its feedback page says so in French in hidden_delta's card."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from autograder.grade import grade_one
from autograder.misconceptions import catalog
from autograder.report.feedback import feedback_html
from autograder.results import FAILED
from autograder.stages.sandbox import Limits, bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

SOLUTION = Path(__file__).parents[2] / "assignments" / "source" / "tp2_shallow" / "tp2_shallow.ipynb"
RIGHT = "return sigmoid_derivative(h) * (delta2 @ W2.T)"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    nb = nbformat.read(str(SOLUTION), as_version=4)
    cells = [c for c in nb.cells if RIGHT in c.source]
    assert len(cells) == 1
    cells[0].source = cells[0].source.replace(RIGHT, "return delta2 @ W2.T")
    path = tmp_path_factory.mktemp("submitted") / "tp2_shallow.ipynb"
    nbformat.write(nb, str(path))
    return grade_one("alice", path, "tp2_shallow", profile="dev", limits=Limits(call_seconds=20))


def test_the_misconception_is_named_on_the_check_of_hidden_delta(graded):
    assert not graded.error, graded.error
    named = {r.check_id: r.details["misconception"]["id"] for r in graded.results if "misconception" in r.details}
    assert named == {"tp2_shallow.hidden_delta.matches_reference": "missing_sigmoid_derivative"}
    r = next(r for r in graded.results if r.check_id == "tp2_shallow.hidden_delta.matches_reference")
    assert r.status == FAILED


def test_the_feedback_page_shows_the_french_sentence(graded):
    entry = next(e for e in catalog("tp2_shallow").entries if e.id == "missing_sigmoid_derivative")
    page = feedback_html(graded)
    assert "Erreur classique reconnue" in page
    assert "votre δ1 est celui qu’on obtient en oubliant σ′(a)".lower() in page.lower()
    assert entry.en not in page  # the English sentence is the instructor's
    if out := os.environ.get("MISCON_PAGE"):  # to look at it: MISCON_PAGE=/tmp/miscon.html
        Path(out).write_text(page, encoding="utf-8")
