"""``autograder validate`` judges the reference by evidence that does not come from it: a
reference broken on purpose exits non-zero with the reason."""

from __future__ import annotations

import pytest
import torch

from autograder.course import validate
from reference import tp1_perceptron as p1
from reference import tp2_shallow as p2
from reference import tp3_deep as p3


def _update_sign_flipped(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] - lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def _forward_without_bias(params, x):
    return x @ params["W"]


def _loss_twice(y, t):
    return (t - y).pow(2).sum() / y.shape[0]


def _backward_b2_sign(params, cache, t):
    g = p2.backward(params, cache, t)
    return {**g, "b2": -g["b2"]}


def _no_zero_grad(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.loss_fn(loss)(p3.forward(params, x, activation), labels)
    value.backward()
    optimizer.step()
    return value.item()


BROKEN = [
    ("tp1_perceptron", p1, {"update": _update_sign_flipped}, "tp1_perceptron.update.visible"),
    ("tp1_perceptron", p1, {"forward": _forward_without_bias}, "tp1_perceptron.forward.visible"),
    ("tp2_shallow", p2, {"loss": _loss_twice}, "tp2_shallow.loss.visible"),
    ("tp2_shallow", p2, {"backward": _backward_b2_sign}, "tp2_shallow.backward.visible"),
    ("tp3_deep", p3, {"train_step": _no_zero_grad}, "tp3_deep.train_step.visible"),
]


@pytest.mark.parametrize("name,module,overrides,problem", BROKEN, ids=[f"{b[0]}:{next(iter(b[2]))}" for b in BROKEN])
def test_a_broken_reference_is_a_problem(name, module, overrides, problem, capsys, monkeypatch):
    """The hidden checks mostly compare the reference with itself; the visible checks (the
    reference-free properties and the released bank) judge it apart from itself."""
    broken = {**vars(module), **overrides}
    results, problems = validate.validate([name], "dev", training=False, references={name: broken})
    assert problem in {p.check_id for p in problems}, problems
    monkeypatch.setattr(validate, "validate", lambda *a, **k: (results, problems))
    assert validate.main(assignments=[name], profile="dev", training=False) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM {problem}: reference fails its visible check" in out and "validate: ok" not in out


def test_the_reference_passes_the_independent_evidence():
    torch.set_num_threads(1)
    _, problems = validate.validate(["tp1_perceptron", "tp2_shallow"], "dev", training=False)
    assert problems == []


def test_the_reference_training_run_is_part_of_the_evidence():
    """A reference whose update learns nothing passes its own hidden checks (it is compared with
    itself) and fails the accuracy goal of its training run."""
    def lazy(params, x, t, lr):
        return {k: v.clone() for k, v in params.items()}

    broken = {**vars(p1), "update": lazy}
    _, problems = validate.validate(["tp1_perceptron"], "dev", training=True, references={"tp1_perceptron": broken})
    assert any(p.check_id == "tp1_perceptron.train.threshold" and "training run" in p.what for p in problems), problems
