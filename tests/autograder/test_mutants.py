"""Mutation suite: bugs students really make, each killed by a named check with a specific message;
correct variants (loops, float64, other but equivalent formulas) pass every check.

A mutant is the reference module with some functions replaced. Checks see it through the same
``Submission`` interface as a real submission, so what kills a mutant here kills it in grading.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from autograder import checks, registry
from autograder.checks.spec import WHOLE_SUBMISSION
from autograder.results import FAILED, NOT_JUDGED, PASSED
from autograder.stages.blame import _rebind
from autograder.stages.run_checks import run_assignment, run_check
from autograder.submission import InProcess
from reference import tp1_perceptron as p1
from reference import tp2_shallow as p2
from reference import tp2b_modules as p2b
from reference import tp3_deep as p3
from reference import tp4_cnn as p4


@dataclass(frozen=True)
class Mutant:
    name: str
    assignment: str
    overrides: dict[str, Callable[..., Any]]
    killed_by: str  # "<function>.<check>" that must fail
    message: str  # a fragment of that check's message


def submission(assignment: str, overrides: dict[str, Callable[..., Any]]) -> InProcess:
    base = {"tp1_perceptron": p1, "tp2_shallow": p2, "tp2b_modules": p2b, "tp3_deep": p3, "tp4_cnn": p4}[assignment]
    return InProcess({**vars(base), **overrides})


def notebook(assignment: str, overrides: dict[str, Callable[..., Any]]) -> InProcess:
    """The reference as a notebook holds it: its graded functions call each other by name, so a
    mutant forward is what the reference's update and predict call (as in a student's notebook)."""
    base = {"tp1_perceptron": p1, "tp2_shallow": p2, "tp2b_modules": p2b, "tp3_deep": p3, "tp4_cnn": p4}[assignment]
    ns: dict[str, Any] = {**globals(), **vars(base)}  # a mutant's own names (p1, torch…) resolve too
    for name, value in vars(base).items():
        if inspect.isfunction(value) and value.__module__ == base.__name__:
            ns[name] = _rebind(value, ns)
    ns.update({name: _rebind(fn, ns) if inspect.isfunction(fn) else fn for name, fn in overrides.items()})
    return InProcess(ns)


# --- Part 1: the perceptron ---------------------------------------------------------------------


def p1_bias_sign(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def p1_bias_scalar_sum(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] + lr * e.mean(0).sum()}


def p1_lr_sign(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] - lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def p1_sum_not_mean(params, x, t, lr):
    e = t - p1.forward(params, x)
    return {"W": params["W"] + lr * x.T @ e, "b": params["b"] + lr * e.sum(0)}


def p1_transposed_error(params, x, t, lr):
    e = p1.forward(params, x) - t
    return {"W": params["W"] - lr / len(x) * x.T @ e, "b": params["b"] + lr * e.mean(0)}


def p1_in_place(params, x, t, lr):
    e = t - p1.forward(params, x)
    params["W"] += lr / len(x) * x.T @ e
    params["b"] += lr * e.mean(0)
    return params


def p1_lr_sign_by_name(params, x, t, lr):
    e = t - forward(params, x)  # noqa: F821 - the notebook's forward (see notebook())
    return {"W": params["W"] - lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def p1_missing_bias(params, x):
    return x @ params["W"]


def p1_activation_on_output(params, x):
    return torch.sigmoid(x @ params["W"] + params["b"])


def p1_integer_outputs(params, x):
    return (x @ params["W"] + params["b"]).long()


def p1_nn_linear(params, x):
    return torch.nn.functional.linear(x, params["W"].T, params["b"])


def p1_nn_linear_module(params, x):
    layer = torch.nn.Linear(params["W"].shape[0], params["W"].shape[1])
    with torch.no_grad():
        layer.weight.copy_(params["W"].T)
        layer.bias.copy_(params["b"])
        return layer(x)


def p1_autograd_update(params, x, t, lr):
    W = params["W"].clone().requires_grad_(True)
    b = params["b"].clone().requires_grad_(True)
    loss = 0.5 * ((t - (x @ W + b)) ** 2).sum() / len(x)
    loss.backward()
    return {"W": (W - lr * W.grad).detach(), "b": (b - lr * b.grad).detach()}


def p1_argmin(params, x):
    return p1.forward(params, x).argmin(1)


# --- Part 2: the shallow network ----------------------------------------------------------------

# Called by name, as a notebook calls its own backward: `x.backward()` is what the scan forbids.
reference_backward = p2.backward


def p2_one_over_exp(a):
    return 1 / torch.exp(-a)


def p2_derivative_of_preactivation(h):
    s = torch.sigmoid(h)
    return s * (1 - s)


def p2_missing_derivative(delta2, W2, h):
    return delta2 @ W2.T


def p2_matmul_for_elementwise(delta2, W2, h):
    hh = h * (1 - h)
    return (delta2 @ W2.T) @ (hh.T @ hh) / len(h)


def p2_transposed_weight_gradient(params, cache, t):
    g = reference_backward(params, cache, t)
    return {**g, "W1": g["W1"].T.reshape(g["W1"].shape)}


def p2_wrong_layer_input(params, cache, t):
    g = reference_backward(params, cache, t)
    d1 = p2.hidden_delta(p2.output_delta(cache.y, t), params["W2"], cache.h)
    return {**g, "W2": -(cache.x.sum(1, keepdim=True).expand(-1, cache.h.shape[1]).T @ p2.output_delta(cache.y, t)) / len(t),
            "W1": -(cache.x.T @ d1) / len(t)}


def p2_bias_sign(params, cache, t):
    g = reference_backward(params, cache, t)
    return {**g, "b2": -g["b2"]}


def p2_bias_scalar_sum(params, cache, t):
    g = reference_backward(params, cache, t)
    return {**g, "b1": g["b1"].sum().expand_as(g["b1"]).clone()}


def p2_activation_on_output(params, x):
    h = torch.sigmoid(x @ params["W1"] + params["b1"])
    y = torch.sigmoid(h @ params["W2"] + params["b2"])
    return y, p2.ShallowCache(x, h, y)


def p2_no_nonlinearity(params, x):
    h = x @ params["W1"] + params["b1"]
    y = h @ params["W2"] + params["b2"]
    return y, p2.ShallowCache(x, h, y)


def p2_stacked_activation(params, x):
    h = torch.sigmoid(torch.sigmoid(x @ params["W1"] + params["b1"]))
    y = h @ params["W2"] + params["b2"]
    return y, p2.ShallowCache(x, h, y)


def p2_lr_sign(params, grads, lr):
    return {k: params[k] + lr * grads[k] for k in params}


def p2_sum_in_loss_mean_in_grad(y, t):
    return 0.5 * ((t - y) ** 2).sum()


def p2_mse_without_half(y, t):
    return ((t - y) ** 2).sum() / len(y)


def p2_update_in_place(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]
    return params


def p2_autograd_backward(params, cache, t):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    y, _ = p2.forward(leaves, cache.x)
    p2.loss(y, t).backward()
    return {k: v.grad for k, v in leaves.items()}


def p2_backward_of_the_sum(params, cache, t):
    g = reference_backward(params, cache, t)
    return {k: v * len(t) for k, v in g.items()}  # forgot the 1/N of the batch mean


def p2_output_delta_reversed(y, t):
    return y - t


def p2_loss_in_place(y, t):
    t.sub_(y)
    return 0.5 * t.pow(2).sum() / y.shape[0]


def p2_output_delta_in_place(y, t):
    return t.sub_(y)


def p2_loss_twice(y, t):
    return (t - y).pow(2).sum() / y.shape[0]


# --- Part 3: the deep network -------------------------------------------------------------------


def p3_constant_init(sizes, **kw):
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = torch.full((i, o), 0.01, requires_grad=True)
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def p3_init_without_grad(sizes, **kw):
    return {k: v.detach() for k, v in p3.init_params(sizes, **kw).items()}


def _p3_init(sizes, std, *, generator=None, requires_grad_after=True):
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = (torch.randn(i, o, generator=generator) * std(i, o)).requires_grad_()
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def p3_init_ignores_generator(sizes, *, activation="relu", generator=None, dtype=torch.float32):
    p3.activation_fn(activation)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError("sizes")
    he = activation in ("relu", "gelu")
    return _p3_init(sizes, lambda i, o: (2 / i) ** 0.5 if he else (2 / (i + o)) ** 0.5)  # the global random state


def p3_init_he_for_every_activation(sizes, *, activation="relu", generator=None, dtype=torch.float32):
    p3.activation_fn(activation)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError("sizes")
    return _p3_init(sizes, lambda i, o: (2 / i) ** 0.5, generator=generator)


def p3_init_never_raises(sizes, *, activation="relu", generator=None, dtype=torch.float32):
    he = activation in ("relu", "gelu")  # any other name, even unknown, gets Xavier
    return _p3_init(sizes, lambda i, o: (2 / i) ** 0.5 if he else (2 / (i + o)) ** 0.5, generator=generator)


def p3_init_non_leaf(sizes, *, activation="relu", generator=None, dtype=torch.float32):
    p3.activation_fn(activation)
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = torch.randn(i, o, generator=generator, requires_grad=True) * (2 / i) ** 0.5  # not a leaf
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def p3_activation_after_last(params, x, activation="relu"):
    return p3.activation_fn(activation)(p3.forward(params, x, activation))


def p3_stacked_activations(params, x, activation="relu"):
    act, L = p3.activation_fn(activation), p3.num_layers(params)
    h = x
    for l in range(1, L + 1):
        h = h @ params[f"W{l}"] + params[f"b{l}"]
    for _ in range(L - 1):  # all the non-linearities piled on the output of one layer
        h = act(h)
    return h


def p3_no_zero_grad(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.loss_fn(loss)(p3.forward(params, x, activation), labels)
    value.backward()
    optimizer.step()
    return value.item()


def p3_step_before_backward(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = p3.loss_fn(loss)(p3.forward(params, x, activation), labels)
    optimizer.zero_grad()
    optimizer.step()
    value.backward()
    return value.item()


def p3_detached_layers(params, x, activation="relu"):
    act, L = p3.activation_fn(activation), p3.num_layers(params)
    h = x
    for l in range(1, L + 1):
        h = (h @ params[f"W{l}"] + params[f"b{l}"]).detach()
        if l < L:
            h = act(h)
    return h


MUTANTS = [
    Mutant("bias sign error in the update", "tp1_perceptron", {"update": p1_bias_sign},
           "update.single_example", "b differs"),
    Mutant("bias updated with a scalar sum over all units", "tp1_perceptron", {"update": p1_bias_scalar_sum},
           "update.single_example", "b differs"),
    Mutant("learning-rate sign flipped", "tp1_perceptron", {"update": p1_lr_sign},
           "update.moves_toward_target", "moved away from its target"),
    Mutant("batch sum instead of mean in the update", "tp1_perceptron", {"update": p1_sum_not_mean},
           "update.matches_reference", "differs from the expected value"),
    Mutant("error written y − t with the sign kept", "tp1_perceptron", {"update": p1_transposed_error},
           "update.single_example", "differs"),
    Mutant("in-place mutation of the parameters", "tp1_perceptron", {"update": p1_in_place},
           "update.no_mutation", "modified its input params["),
    Mutant("missing bias", "tp1_perceptron", {"forward": p1_missing_bias},
           "forward.matches_reference", "differs from the expected value"),
    Mutant("activation on the output layer", "tp1_perceptron", {"forward": p1_activation_on_output},
           "forward.matches_reference", "differs from the expected value"),
    Mutant("integer-dtype truncation of outputs", "tp1_perceptron", {"forward": p1_integer_outputs},
           "forward.matches_reference", "dtype torch.int64, expected torch.float32"),
    Mutant("torch.nn used in Part 1", "tp1_perceptron", {"forward": p1_nn_linear},
           "forward.matches_reference", "torch.nn.functional.linear"),
    Mutant("torch.nn.Linear used in Part 1", "tp1_perceptron", {"forward": p1_nn_linear_module},
           "forward.matches_reference", "torch.nn.Linear"),
    Mutant("autograd used in Part 1", "tp1_perceptron", {"update": p1_autograd_update},
           "update.single_example", "does not allow"),
    Mutant("argmin instead of argmax", "tp1_perceptron", {"predict": p1_argmin},
           "predict.argmax", "largest output"),
    Mutant("1/exp(−a) instead of the sigmoid", "tp2_shallow", {"sigmoid": p2_one_over_exp},
           "sigmoid.matches_reference", "differs"),
    Mutant("derivative applied to the pre-activation", "tp2_shallow",
           {"sigmoid_derivative": p2_derivative_of_preactivation},
           "sigmoid_derivative.matches_reference", "differs"),
    Mutant("missing sigmoid derivative", "tp2_shallow", {"hidden_delta": p2_missing_derivative},
           "hidden_delta.matches_reference", "differs"),
    Mutant("matrix product where an element-wise product belongs", "tp2_shallow",
           {"hidden_delta": p2_matmul_for_elementwise}, "hidden_delta.matches_reference", "differs"),
    Mutant("transposed weight gradient", "tp2_shallow", {"backward": p2_transposed_weight_gradient},
           "backward.matches_reference", "the gradient for W1"),
    Mutant("gradient of the wrong layer's input", "tp2_shallow", {"backward": p2_wrong_layer_input},
           "backward.matches_reference", "the gradient for W2"),
    Mutant("bias gradient sign error", "tp2_shallow", {"backward": p2_bias_sign},
           "backward.matches_reference", "the gradient for b2"),
    Mutant("bias gradient summed over all units", "tp2_shallow", {"backward": p2_bias_scalar_sum},
           "backward.matches_reference", "the gradient for b1"),
    Mutant("activation on the output layer", "tp2_shallow", {"forward": p2_activation_on_output},
           "forward.matches_reference", "y differs"),
    Mutant("missing non-linearity between layers", "tp2_shallow", {"forward": p2_no_nonlinearity},
           "forward.matches_reference", "differs"),
    Mutant("two activations stacked on one layer", "tp2_shallow", {"forward": p2_stacked_activation},
           "forward.matches_reference", "differs"),
    Mutant("learning-rate sign flipped", "tp2_shallow", {"update": p2_lr_sign},
           "update.matches_reference", "differs"),
    Mutant("batch sum in the loss, mean in the gradients", "tp2_shallow", {"loss": p2_sum_in_loss_mean_in_grad},
           "loss.matches_reference", "differs"),
    Mutant("squared error without the ½", "tp2_shallow", {"loss": p2_mse_without_half},
           "loss.matches_reference", "differs"),
    Mutant("in-place update of the parameters", "tp2_shallow", {"update": p2_update_in_place},
           "update.no_mutation", "in place"),
    Mutant("autograd used in Part 2", "tp2_shallow", {"backward": p2_autograd_backward},
           "backward.matches_reference", "does not allow"),
    Mutant("output delta y − t instead of t − y", "tp2_shallow", {"output_delta": p2_output_delta_reversed},
           "output_delta.matches_reference", "differs"),
    Mutant("gradients of the summed loss, not of the mean", "tp2_shallow", {"backward": p2_backward_of_the_sum},
           "backward.finite_differences", "disagrees with finite differences"),
    Mutant("loss subtracts in place from t", "tp2_shallow", {"loss": p2_loss_in_place},
           "loss.no_mutation", "modified its input t"),
    Mutant("output delta subtracts in place from t", "tp2_shallow", {"output_delta": p2_output_delta_in_place},
           "output_delta.no_mutation", "modified its input t"),
    Mutant("loss twice too large (no ½)", "tp2_shallow", {"loss": p2_loss_twice},
           "loss.matches_reference", "differs"),
    Mutant("forward detaches every layer", "tp3_deep", {"forward": p3_detached_layers},
           "forward.tracks_gradients", "does not track gradients"),
    Mutant("symmetric constant initialisation", "tp3_deep", {"init_params": p3_constant_init},
           "init_params.random_trainable", "identical weights"),
    Mutant("parameters created without requires_grad", "tp3_deep", {"init_params": p3_init_without_grad},
           "init_params.random_trainable", "requires_grad=True"),
    Mutant("initialisation ignores the generator argument", "tp3_deep", {"init_params": p3_init_ignores_generator},
           "init_params.generator", "generator=generator"),
    Mutant("He initialisation for every activation", "tp3_deep", {"init_params": p3_init_he_for_every_activation},
           "init_params.scale", "Xavier"),
    Mutant("initialisation never raises ValueError", "tp3_deep", {"init_params": p3_init_never_raises},
           "init_params.raises", "should raise ValueError"),
    Mutant("initial weights computed after requires_grad=True (not leaves)", "tp3_deep",
           {"init_params": p3_init_non_leaf}, "init_params.random_trainable", "computed from one"),
    Mutant("activation on the output layer", "tp3_deep", {"forward": p3_activation_after_last},
           "forward.matches_reference", "differs"),
    Mutant("stacked activations on one layer instead of between layers", "tp3_deep",
           {"forward": p3_stacked_activations}, "forward.matches_reference", "differs"),
    Mutant("missing zero_grad", "tp3_deep", {"train_step": p3_no_zero_grad},
           "train_step.matches_reference", "optimizer.zero_grad()"),
    Mutant("optimizer.step() before loss.backward()", "tp3_deep", {"train_step": p3_step_before_backward},
           "train_step.matches_reference", "after the step differs"),
]


# --- Part 2b: modules (each mutant a subclass of the reference's class) -------------------------------


class P2bSoftmaxNoShift(p2b.SoftmaxCrossEntropy):
    def forward(self, z, labels):
        e = z.exp()
        self.probs = e / e.sum(1, keepdim=True)
        self.labels = labels
        return (e.sum(1).log() - z.gather(1, labels[:, None]).squeeze(1)).mean()


class P2bGradientWithoutMean(p2b.SoftmaxCrossEntropy):
    def backward(self):
        return super().backward() * self.probs.shape[0]


class P2bDeltaW(p2b.Linear):
    def backward(self, delta):
        super().backward(delta)
        return delta @ self.W  # shapes agree only when D = M, and then it is the wrong matrix


class P2bBiasNotSummed(p2b.Linear):
    def backward(self, delta):
        out = super().backward(delta)
        self.db = delta[0]
        return out


class P2bSigmoidOnInput(p2b.Sigmoid):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, delta):
        return delta * self.x * (1 - self.x)


class P2bTanhOnInput(p2b.Tanh):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, delta):
        return delta * (1 - self.x * self.x)


class P2bGeluOnOutput(p2b.GELU):
    def forward(self, x):
        y = super().forward(x)
        self.x = y  # the derivative's formula evaluated at the output
        return y


class P2bDropoutUnscaled(p2b.Dropout):
    def forward(self, x):
        y = super().forward(x)
        if self.mask is not None:
            self.mask = self.mask * (1 - self.p)
            return x * self.mask
        return y


class P2bDropoutRedrawn(p2b.Dropout):
    def backward(self, delta):
        if self.mask is None:
            return delta
        keep = torch.rand(delta.shape, generator=self.generator, dtype=delta.dtype) >= self.p
        return delta * keep.to(delta.dtype) / (1 - self.p)


class P2bSequentialForwardOrderBackward(p2b.Sequential):
    def backward(self, delta):
        for module in self.modules:
            delta = module.backward(delta)
        return delta


def p2b_sgd_new_tensors(params, grads, lr):
    for k in list(params):
        params[k] = params[k] - lr * grads[k]  # a new tensor in the dict: the module keeps the old one


P2B_MUTANTS = [
    Mutant("softmax without the max shift (overflow)", "tp2b_modules", {"SoftmaxCrossEntropy": P2bSoftmaxNoShift},
           "SoftmaxCrossEntropy.stable", "subtract each row's max"),
    Mutant("cross-entropy gradient without the 1/N", "tp2b_modules", {"SoftmaxCrossEntropy": P2bGradientWithoutMean},
           "SoftmaxCrossEntropy.backward", "dL/dz) differs"),
    Mutant("δ W instead of δ Wᵀ", "tp2b_modules", {"Linear": P2bDeltaW}, "Linear.backward",
           "shapes cannot be multiplied"),  # δ (N, M) @ W (D, M)
    Mutant("bias gradient not summed over the batch", "tp2b_modules", {"Linear": P2bBiasNotSummed},
           "Linear.backward", "grads()['b']"),
    Mutant("sigmoid's derivative taken on the input", "tp2b_modules", {"Sigmoid": P2bSigmoidOnInput},
           "Sigmoid.finite_differences", "disagrees with finite differences"),
    Mutant("tanh's derivative taken on the input", "tp2b_modules", {"Tanh": P2bTanhOnInput},
           "Tanh.backward", "differs"),
    Mutant("GELU's derivative taken on the output", "tp2b_modules", {"GELU": P2bGeluOnOutput},
           "GELU.backward", "differs"),
    Mutant("dropout without the 1/(1 − p) scaling", "tp2b_modules", {"Dropout": P2bDropoutUnscaled},
           "Dropout.train_mode", "1/(1 − p)"),
    Mutant("dropout mask re-drawn in backward", "tp2b_modules", {"Dropout": P2bDropoutRedrawn},
           "Dropout.train_mode", "do not draw a new one"),
    Mutant("Sequential.backward in forward order", "tp2b_modules", {"Sequential": P2bSequentialForwardOrderBackward},
           "Sequential.backward", "reverse order"),
]
MUTANTS += P2B_MUTANTS


@pytest.fixture(scope="module")
def assignments():
    return {name: checks.load(name) for name in registry.NAMES}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.assignment}:{m.name}")
def test_mutant_is_killed(mutant, assignments):
    """Is this typical bug failed by its named check, with a message that says what is wrong?"""
    assignment = assignments[mutant.assignment]
    check = next(c for c in assignment.checks if f"{c.function}.{c.name}" == mutant.killed_by)
    killer = run_check(check, submission(mutant.assignment, mutant.overrides), assignment, "dev")
    assert killer.status != PASSED, f"{mutant.killed_by} passed: {killer}"
    assert mutant.message in killer.message, killer.message
    assert killer.points == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.assignment}:{m.name}")
def test_blame_falls_on_the_mutated_function(mutant, assignments):
    """The blame rule: in a notebook whose functions call each other, one bug fails only checks
    of the function that has it (and the whole-submission API rule); the checks of the functions
    that use it are "not judged" and keep their points, never failed."""
    assignment = assignments[mutant.assignment]
    results = run_assignment(assignment, notebook(mutant.assignment, mutant.overrides), "dev")
    by_id = {r.check_id.split(".", 1)[1]: r for r in results}
    assert by_id[mutant.killed_by].status == FAILED and mutant.message in by_id[mutant.killed_by].message
    blamed = {r.check_id: r.message for r in results
              if r.status == FAILED and r.function not in (*mutant.overrides, WHOLE_SUBMISSION)}
    assert not blamed
    for r in results:
        if r.status == NOT_JUDGED:
            assert r.points == r.max_points and set(r.details["blamed"]) <= set(mutant.overrides), r
            assert "fix " in r.message and "first" in r.message


@pytest.mark.parametrize("assignment,overrides,not_judged,uses", [
    ("tp1_perceptron", {"forward": p1_missing_bias}, ("update.single_example", "predict.argmax"), "forward"),
    ("tp1_perceptron", {"forward": p1_nn_linear}, ("update.matches_reference", "predict.argmax"), "forward"),
    ("tp2_shallow", {"loss": p2_loss_twice}, ("backward.finite_differences",), "loss"),
    ("tp2_shallow", {"output_delta": p2_output_delta_in_place}, ("backward.no_mutation",), "output_delta"),
    ("tp3_deep", {"forward": p3_activation_after_last}, ("train_step.matches_reference",), "forward"),
])
def test_checks_of_a_function_using_a_wrong_one_are_not_judged(assignment, overrides, not_judged, uses, assignments):
    """The cases of the issue: a correct function that calls (or is judged with) a wrong one is
    "not judged", keeps its points and names the wrong one; no message says it called an API
    that only the wrong one calls."""
    results = {r.check_id.split(".", 1)[1]: r for r in run_assignment(assignments[assignment],
                                                                       notebook(assignment, overrides), "dev")}
    for check_id in not_judged:
        r = results[check_id]
        assert r.status == NOT_JUDGED and r.points == r.max_points, (check_id, r.status, r.message)
        assert f"uses {uses}, which is wrong" in r.message and f"fix {uses} first" in r.message
    assert not any("update called" in r.message or "predict called" in r.message for r in results.values())


def test_a_function_wrong_on_its_own_still_fails_when_another_is_wrong(assignments):
    """Not judged is for checks that pass once the wrong function is taken out: an update wrong
    by itself fails even while forward is wrong too (no shelter behind another bug)."""
    results = {r.check_id.split(".", 1)[1]: r for r in run_assignment(
        assignments["tp1_perceptron"], notebook("tp1_perceptron", {"forward": p1_missing_bias, "update": p1_lr_sign_by_name}),
        "dev")}
    assert results["forward.matches_reference"].status == FAILED
    assert results["update.matches_reference"].status == FAILED
    assert results["update.matches_reference"].details.get("judged_with") == ["forward"]


def test_at_least_25_mutants():
    assert len(MUTANTS) >= 25


@pytest.mark.parametrize("name", list(registry.NAMES))
def test_reference_passes_every_check(name, assignments):
    """Does the reference itself get full marks (the checks are satisfiable)?"""
    results = run_assignment(assignments[name], submission(name, {}), "dev")
    failed = [(r.check_id, r.message) for r in results if not r.passed]
    assert not failed
    assert sum(r.points for r in results) == sum(c.points for c in assignments[name].checks)  # threshold: test_threshold.py


# --- correct variants ----------------------------------------------------------------------------


def p1_update_loop(params, x, t, lr):
    W, b = params["W"].clone(), params["b"].clone()
    dW, db = torch.zeros_like(W), torch.zeros_like(b)
    for n in range(x.shape[0]):
        y = x[n] @ params["W"] + params["b"]
        for i in range(W.shape[1]):
            db[i] += lr * (t[n, i] - y[i])
            for j in range(W.shape[0]):
                dW[j, i] += lr * x[n, j] * (t[n, i] - y[i])
    return {"W": W + dW / x.shape[0], "b": b + db / x.shape[0]}


def p1_forward_float64_inside(params, x):
    return (x.double() @ params["W"].double() + params["b"].double()).to(x.dtype)


def p2_sigmoid_via_exp(a):
    e = torch.exp(-a.abs())  # never overflows
    return torch.where(a >= 0, 1 / (1 + e), e / (1 + e))


def p2_derivative_via_exp(h):
    return h - h * h


def p2_backward_loop(params, cache, t):
    n = t.shape[0]
    grads = {k: torch.zeros_like(v) for k, v in params.items()}
    for i in range(n):
        d2 = t[i] - cache.y[i]
        d1 = cache.h[i] * (1 - cache.h[i]) * (params["W2"] @ d2)
        grads["W2"] -= torch.outer(cache.h[i], d2) / n
        grads["b2"] -= d2 / n
        grads["W1"] -= torch.outer(cache.x[i], d1) / n
        grads["b1"] -= d1 / n
    return grads


VARIANTS = [
    ("per-example loops in the update", "tp1_perceptron", {"update": p1_update_loop}),
    ("computed in float64, returned in the input's dtype", "tp1_perceptron", {"forward": p1_forward_float64_inside}),
    ("a sigmoid written with exp, stable on both sides", "tp2_shallow", {"sigmoid": p2_sigmoid_via_exp}),
    ("h − h² for the derivative", "tp2_shallow", {"sigmoid_derivative": p2_derivative_via_exp}),
    ("per-example loop in backward", "tp2_shallow", {"backward": p2_backward_loop}),
]


@pytest.mark.parametrize("label,name,overrides", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_correct_variant_passes(label, name, overrides, assignments):
    """Does a correct but differently written solution get full marks?"""
    results = run_assignment(assignments[name], submission(name, overrides), "dev")
    assert [(r.check_id, r.message) for r in results if not r.passed] == []


def test_the_training_gate_names_the_function_that_blocks_it(assignments):
    """The gate follows the blame rule: a wrong forward blocks the run; update and predict, only
    not judged because they call it, are not what the student must fix."""
    from autograder.stages import threshold

    spec = assignments["tp1_perceptron"]
    sub = notebook("tp1_perceptron", {"forward": p1_missing_bias})
    result = threshold.run_threshold("tp1_perceptron", spec.threshold, sub, run_assignment(spec, sub, "dev"))
    assert result.status == FAILED and result.details["not_run"] == ["forward"]
    assert "blocked by forward, which is wrong (tp1_perceptron.forward.matches_reference)" in result.message


def test_a_missing_function_is_never_excused_by_blame():
    """A function the notebook does not define loses its checks' points even while another one it
    would use is wrong: "not found" is nobody else's fault (no "not judged" for it)."""
    assignment = checks.load("tp1_perceptron")
    ns = {k: v for k, v in vars(p1).items() if k != "update"}
    ns["forward"] = lambda params, x: torch.zeros(x.shape[0], params["W"].shape[1])
    results = run_assignment(assignment, InProcess(ns), "dev")
    update = [r for r in results if r.function == "update"]
    assert update and all(r.status == "failed" and r.points == 0 for r in update)
