"""Training recipes respect the graded functions' contracts (the docstrings of the notebook)."""

from __future__ import annotations

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
