"""Each part's experiment cell trains as the grading run does: the same budget, read from
tpcheck (one source), and, run with the reference, the same predictions as the grader's recipe."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import checks
from autograder.stages.threshold import DEFAULT_DATASET
from autograder.submission import InProcess
from tpcheck import training
from tpcheck.data import load

ROOT = Path(__file__).resolve().parents[3]
PARTS = ("tp1_perceptron", "tp2_shallow", "tp3_deep")
TRAIN = {"tp1_perceptron": "train", "tp2_shallow": "train", "tp3_deep": "run"}


def _cells(name: str) -> dict[str, str]:
    nb = json.loads((ROOT / "assignments" / "source" / name / f"{name}.ipynb").read_text())
    return {c.get("id", ""): "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"}


@pytest.mark.parametrize("name", PARTS)
def test_the_experiment_reads_the_graders_budget(name):
    assert checks.load(name).threshold.budgets == training.budgets(name)
    source = _cells(name)["experiment"]
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "budget"]
    assert [ast.literal_eval(c.args[0]) for c in calls] == [name], "the experiment reads budget(<its part>, DATASET)"
    assert 'DATASET = "mnist-sample"' in source and DEFAULT_DATASET == "mnist-sample"
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == TRAIN[name])
    parameters = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
    assert set(training.budget(name)) <= parameters, "every key of the budget is a parameter of the loop"


def _tiny(n_train: int = 256, n_test: int = 200):
    """mnist-sample cut small, as the notebook sees it and as the grader sends it."""
    ds = load("mnist-sample", seed=0)
    cut = lambda split, n: SimpleNamespace(images=split.images[:n], labels=split.labels[:n],  # noqa: E731
                                           flat=lambda: split.images[:n].reshape(n, -1))
    notebook = SimpleNamespace(train=cut(ds.train, n_train), test=cut(ds.test, n_test), num_classes=len(ds.classes))
    raw = load("mnist-sample", seed=0, raw=True)
    grader = {"x_train": raw.train.images[:n_train].reshape(n_train, -1), "y_train": raw.train.labels[:n_train],
              "x_test": raw.test.images[:n_test].reshape(n_test, -1)}
    return notebook, grader, ds.test.labels[:n_test]


@pytest.mark.parametrize("name", PARTS)
def test_the_experiment_trains_as_the_grading_run(name):
    """The notebook's loop and the grader's recipe, both with the reference's functions on a
    small cut of the data for two epochs: the same test accuracy after each epoch."""
    import importlib

    ref = importlib.import_module(f"reference.{name}")
    spec = checks.load(name).threshold
    budget = {**training.budget(name), "epochs": 2}
    notebook, payload, labels = _tiny()
    cells = _cells(name)
    namespace: dict = {}
    exec(compile(cells["setup"], "setup", "exec"), namespace)  # noqa: S102 - the course's own cells
    graded = {*checks.load(name).functions, "init_params", "make_optimizer", "predict"}
    namespace.update({k: v for k, v in vars(ref).items() if k in graded})  # the notebook solved
    experiment = ast.parse(cells["experiment"])
    defs = ast.Module(body=[n for n in experiment.body if isinstance(n, (ast.FunctionDef, ast.Assign))
                            and not (isinstance(n, ast.Assign) and "load" in ast.unparse(n))], type_ignores=[])
    exec(compile(defs, "experiment", "exec"), namespace)  # noqa: S102
    out = namespace[TRAIN[name]](notebook, **budget)
    ours = out["accuracy"] if isinstance(out, dict) else out[-1]

    grader_budget = {**budget, "classes": 10}
    params = spec.init(payload["x_train"].shape[1], 10, grader_budget)
    run = InProcess(ref).train(spec.recipe, {**payload, "params": params}, grader_budget, 60)
    theirs = [float((p == labels).double().mean()) for p in run["predictions"]]
    assert ours == pytest.approx(theirs, abs=1.5 / len(labels)), (ours, theirs)  # at most one image apart
    assert max(theirs) > 0.3  # it trained
