"""Training recipes respect the graded functions' contracts (the docstrings of the notebook)."""

from __future__ import annotations

from pathlib import Path

import torch

from reference import tp2_shallow as shallow
from tpworker.recipes import RECIPES


def _tiny_data(D=6, C=3, N=40, M=10):
    g = torch.Generator().manual_seed(0)
    return {"x_train": torch.randint(0, 256, (N, D), generator=g, dtype=torch.uint8),
            "y_train": torch.randint(0, C, (N,), generator=g), "x_test": torch.randint(0, 256, (M, D), generator=g,
                                                                                       dtype=torch.uint8),
            "params": shallow.init_params(D, 4, C, generator=torch.Generator().manual_seed(0))}


def test_shallow_recipe_calls_update_with_whole_dicts():
    """An update that iterates over grads (params and grads keyed alike, as its docstring says)
    trains: the recipe never hands it a partial params dict."""
    seen = []

    def update(params, grads, lr):
        seen.append((set(params), set(grads)))
        return {k: params[k] - lr * g for k, g in grads.items()}

    ns = {**vars(shallow), "update": update}
    out = RECIPES["shallow"](ns, _tiny_data(), dict(epochs=2, batch_size=16, lr=0.1, hidden_lr_scale=10.0, seed=0,
                                                   classes=3))
    assert out["predictions"].shape == (2, 10)
    assert seen and all(p == g == {"W1", "b1", "W2", "b2"} for p, g in seen)


BUDGET = dict(epochs=2, batch_size=16, lr=0.1, hidden_lr_scale=10.0, seed=0, classes=3)


def test_shallow_recipe_gives_each_function_copies_as_the_wire_would():
    """Part 2's parameters stay where the student's functions run (ShallowTrainer), yet each call
    gets copies of its arguments, as over the wire: a forward that scribbles on its params in
    place trains exactly as the reference does."""

    def scribbling_forward(params, x):
        out = shallow.forward(params, x)
        for v in params.values():
            v.mul_(0)
        return out

    data = _tiny_data()
    expected = RECIPES["shallow"](dict(vars(shallow)), dict(data), dict(BUDGET))
    got = RECIPES["shallow"]({**vars(shallow), "forward": scribbling_forward}, dict(data), dict(BUDGET))
    assert torch.equal(got["predictions"], expected["predictions"]) and torch.equal(got["before"], expected["before"])


def test_shallow_recipe_in_the_sandbox_trains_as_in_process():
    """The run through the sandbox (the parameters kept in the student's process, one exchange a
    mini-batch) predicts what the same run in-process predicts."""
    import pytest

    from autograder import checks
    from autograder.stages.extract import extract, read_notebook
    from autograder.stages.sandbox import Limits, Sandbox, bwrap_available

    if not bwrap_available():
        pytest.skip("bubblewrap cannot create namespaces here")
    notebook = Path(__file__).resolve().parents[2] / "examples/submitted/correct/tp2_shallow/tp2_shallow.ipynb"
    code = extract(read_notebook(notebook), checks.load("tp2_shallow").functions).code
    data = _tiny_data()
    expected = RECIPES["shallow"](dict(vars(shallow)), dict(data), dict(BUDGET))
    with Sandbox(code, limits=Limits(call_seconds=10, submission_seconds=120)) as sb:
        assert sb.load_error is None, sb.load_error
        got = sb.train("shallow", data, dict(BUDGET), 60)
    assert torch.equal(got["predictions"], expected["predictions"]) and torch.equal(got["before"], expected["before"])
    assert torch.allclose(torch.tensor(got["train_loss"]), torch.tensor(expected["train_loss"]), rtol=1e-5)
