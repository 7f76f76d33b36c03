"""Grading a class: nbgrader's submitted/ layout in, a deterministic gradebook and results out."""

from __future__ import annotations

import inspect
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import checks
from autograder.cli import main
from autograder.grade import grade_class
from autograder.stages.find import find_submissions
from autograder.stages.sandbox import Limits, bwrap_available
from autograder.stages.store import RESULT_FILE
from reference import tp1_perceptron as p1

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

A = "tp1_perceptron"
SOURCES = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in ("forward", "update", "predict")}
LIMITS = Limits(call_seconds=10)


def notebook(*codes: str):
    return new_notebook(cells=[new_markdown_cell("# TP1")] + [new_code_cell(c) for c in codes])


def stub(name: str) -> str:
    signature = SOURCES[name].split(":\n", 1)[0]
    return f"{signature}:\n    # YOUR CODE HERE\n    raise NotImplementedError()"


CLASS = {
    "correct": notebook("import torch", *SOURCES.values(), "params = {}\nfor epoch in range(10**9):\n    pass"),
    "buggy": notebook("import torch", SOURCES["forward"], SOURCES["update"].replace("lr * error.mean(0)", "-lr * error.mean(0)"),
                      SOURCES["predict"]),
    "crash": notebook("import torch\nraise RuntimeError('at import')", "def forward(params, x):\n    raise RuntimeError('oops')",
                      SOURCES["update"], SOURCES["predict"]),
    "crash_at_load": notebook("import torch", "class Config:\n    raise SystemExit('bye')", *SOURCES.values()),
    "empty": notebook("import torch", *(stub(f) for f in SOURCES)),
    "hostile": notebook("import torch, numpy\nnumpy.allclose = lambda *a, **k: True",
                        "def forward(params, x):\n    print('ALL TESTS PASSED 10/10', flush=True)\n"
                        "    return torch.zeros(x.shape[0], params['W'].shape[1])",
                        SOURCES["update"], "def predict(params, x):\n    import os\n    os._exit(0)"),
}


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("course") / "submitted"
    for student, nb in CLASS.items():
        (root / student / A).mkdir(parents=True)
        nbformat.write(nb, str(root / student / A / f"{A}.ipynb"))
    (root / "notebook_missing" / A).mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def graded(submitted, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    results = grade_class(submitted, [A], out, jobs=2, limits=LIMITS, progress=False)
    return out, {g.student: g for g in results}


def test_layout_is_nbgrader_submitted(submitted):
    assert [s.student for s in find_submissions(submitted, A)] == sorted([*CLASS, "notebook_missing"])
    assert find_submissions(submitted.parent, A) == find_submissions(submitted, A)


def test_scores(graded):
    """correct at full marks, empty and crash_at_load at 0, buggy in between, hostile no higher than
    honest work; crash's forward raises, so forward loses its points and the correct update and
    predict, which call it, are not judged and keep theirs (the blame rule)."""
    _, g = graded
    full = checks.load(A).max_points
    assert g["correct"].score == full
    for student in ("empty", "crash_at_load", "notebook_missing"):
        assert g[student].score == 0, student
    crash = g["crash"].results
    assert all(r.status == "failed" and r.points == 0 for r in crash if r.function == "forward")
    assert all(r.status in ("passed", "not judged") for r in crash if r.function in ("update", "predict"))
    assert any(r.status == "not judged" and "forward" in r.message for r in crash)
    assert 0 < g["crash"].score < full
    assert 0 < g["buggy"].score < full
    assert g["hostile"].score < full
    assert any("forward raised RuntimeError: oops" in r.message for r in g["crash"].results)
    assert "raised SystemExit: bye" in g["crash_at_load"].error
    assert all(r.message.endswith("is not implemented yet") for r in g["empty"].results if r.function not in ("*", "train"))
    assert g["empty"].results[-1].message.startswith("not run: the training needs forward, predict, update")
    api = next(r for r in g["empty"].results if r.function == "*")
    assert api.status == "not implemented" and api.points == 0  # not a "failure" in the class report
    assert g["notebook_missing"].error == "no notebook submitted"
    assert "ALL TESTS PASSED" in g["hostile"].output


def test_threshold_run_is_measured_by_the_grader(graded):
    """The correct notebook's functions train the perceptron in its sandbox; the grader scores
    the predictions against labels the sandbox never saw."""
    _, g = graded
    run = g["correct"].results[-1]
    assert run.check_id == f"{A}.train.threshold" and run.passed, run.message
    d = run.details
    assert d["dataset"] == "mnist-sample" and d["accuracy"] >= d["threshold"] == 0.80
    assert len(d["test_accuracy"]) == len(d["train_loss"]) == d["budget"]["epochs"]
    assert sum(map(sum, d["confusion"])) == 1000 and d["accuracy"] == d["test_accuracy"][-1]
    assert g["buggy"].results[-1].message.startswith("not run: the training needs update")


def test_results_are_gradescope_json_with_a_counterexample(graded):
    out, _ = graded
    results = json.loads((out / "buggy" / A / "results.json").read_text())
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all({"name", "score", "max_score", "status", "output", "visibility"} <= set(t) for t in results["tests"])
    assert any("minimal failing input" in t["output"] for t in failed)


def test_gradebook_is_deterministic_and_resumable(submitted, graded, tmp_path):
    """Does a second run skip finished work, and does regrading give a byte-identical grades.csv?"""
    out, _ = graded
    first = (out / "grades.csv").read_bytes()
    assert first.splitlines()[0].startswith(b"student,assignment,score,max_score,raw_score,late_penalty,seconds_late,"
                                            b"submitted_at,due,tp1_perceptron.")
    before = {p: p.stat().st_mtime_ns for p in out.glob(f"*/{A}/{RESULT_FILE}")}
    grade_class(submitted, [A], out, limits=LIMITS, progress=False)  # nothing to do
    assert {p: p.stat().st_mtime_ns for p in out.glob(f"*/{A}/{RESULT_FILE}")} == before
    (out / "buggy" / A / RESULT_FILE).unlink()  # as if killed while grading buggy
    grade_class(submitted, [A], out, limits=LIMITS, progress=False)
    assert (out / "grades.csv").read_bytes() == first
    assert not list(out.rglob("*.tmp"))


def test_cli_prints_a_summary(submitted, tmp_path, capsys):
    code = main(["grade", str(submitted), "--assignment", A, "--out", str(tmp_path), "--jobs", "2", "--timeout", "10"])
    assert code == 0
    text = capsys.readouterr().out
    assert "correct" in text and "grades.csv" in text


@pytest.mark.parametrize("assignment", ["tp1_perceptron", "tp2_shallow", "tp3_deep"])
def test_an_untouched_template_is_graded_without_a_worker_as_with_one(assignment, monkeypatch):
    """The released notebook left as it is: every graded function is still its stub, so no
    worker starts for it — and its results are exactly those of grading it in the sandbox."""
    import dataclasses
    from pathlib import Path

    from autograder import grade
    from autograder.stages import sandbox

    notebook = Path(__file__).resolve().parents[2] / "student_template" / assignment / f"{assignment}.ipynb"
    started = []

    class Counted(sandbox.Sandbox):
        def _start(self):
            started.append(self)
            super()._start()

    monkeypatch.setattr(sandbox, "Sandbox", Counted)
    without = grade.grade_one("s", notebook, assignment, limits=LIMITS)
    assert started == []
    real_extract = grade.extract
    monkeypatch.setattr(grade, "extract", lambda *a, **k: dataclasses.replace(real_extract(*a, **k), stubs=[]))
    within = grade.grade_one("s", notebook, assignment, limits=LIMITS)
    assert len(started) == 1
    assert [r.to_json() for r in without.results] == [r.to_json() for r in within.results]
    assert (without.score, without.error, without.notes) == (within.score, within.error, within.notes) == (0, "", [])
