"""Misconceptions of ``tp3_deep`` (a deep MLP trained with autograd): variants of
:mod:`reference.tp3_deep`, one per typical bug (see :mod:`autograder.misconceptions`)."""

from __future__ import annotations

import torch

from autograder.misconceptions import Misconception as M
from reference import tp3_deep as ref
from tpcheck.boundary import Optimizer, Trainable


def _step_call(ex):
    """train_step's arguments as :func:`autograder.checks.tp3_deep.one_step` gives them."""
    stale = {k: torch.ones_like(v) for k, v in ex["params"].items()}
    return (({k: Trainable(v, stale[k]) for k, v in ex["params"].items()}, Optimizer(ex["optimizer"], ex["lr"]),
             ex["x"], ex["labels"]), {"activation": ex["activation"], "loss": ex["loss"]})


REFERENCE = ref
CALLS = {
    "init_params.random_trainable": lambda ex: ((ex["sizes"],), {}),
    "forward.tracks_gradients": lambda ex: (({k: Trainable(v) for k, v in ex["params"].items()}, ex["x"],
                                             ex["activation"]), {}),
    "train_step.matches_reference": _step_call,
}


def constant_init(sizes, **kw):
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = torch.full((i, o), 0.01, requires_grad=True)
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def zero_init(sizes, **kw):
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = torch.zeros(i, o, requires_grad=True)
        params[f"b{l}"] = torch.zeros(o, requires_grad=True)
    return params


def init_without_grad(sizes, **kw):
    return {k: v.detach() for k, v in ref.init_params(sizes, **kw).items()}


def activation_after_last(params, x, activation="relu"):
    return ref.activation_fn(activation)(ref.forward(params, x, activation))


def stacked_activations(params, x, activation="relu"):
    act, L = ref.activation_fn(activation), ref.num_layers(params)
    h = x
    for l in range(1, L + 1):
        h = h @ params[f"W{l}"] + params[f"b{l}"]
    for _ in range(L - 1):
        h = act(h)
    return h


def detached_layers(params, x, activation="relu"):
    act, L = ref.activation_fn(activation), ref.num_layers(params)
    h = x
    for l in range(1, L + 1):
        h = (h @ params[f"W{l}"] + params[f"b{l}"]).detach()
        if l < L:
            h = act(h)
    return h


def no_zero_grad(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = ref.loss_fn(loss)(ref.forward(params, x, activation), labels)
    value.backward()
    optimizer.step()
    return value.item()


def step_before_backward(params, optimizer, x, labels, *, activation="relu", loss="cross_entropy"):
    value = ref.loss_fn(loss)(ref.forward(params, x, activation), labels)
    optimizer.zero_grad()
    optimizer.step()
    value.backward()
    return value.item()


SYMMETRIC = ("Vos poids initiaux sont tous égaux : toutes les unités d’une couche calculent alors la même chose et "
             "reçoivent le même gradient, elles restent identiques pour toujours. Tirez-les au hasard, par exemple "
             "W_l ~ U(−1/√n_(l−1), 1/√n_(l−1)), avec requires_grad=True.")
CATALOG = (
    M("symmetric_init", "init_params", constant_init, SYMMETRIC, "symmetric (constant) initialisation"),
    M("symmetric_init", "init_params", zero_init, SYMMETRIC, "symmetric (all-zero) initialisation"),
    M("init_without_grad", "init_params", init_without_grad,
      "Vos paramètres sont bien tirés au hasard mais sans requires_grad (ou détachés) : loss.backward() ne leur "
      "calculera aucun gradient. Créez des feuilles entraînables : W_l = (…).requires_grad_(True).",
      "parameters created without requires_grad"),
    M("activation_on_output", "forward", activation_after_last,
      "Vos logits passent par l’activation : c’est ce qu’on obtient en l’appliquant aussi après la dernière couche. "
      "h_l = act(h_(l−1) W_l + b_l) pour l < L, mais les logits sont linéaires : z = h_(L−1) W_L + b_L.",
      "an activation after the last layer (the logits)"),
    M("stacked_activations", "forward", stacked_activations,
      "Votre forward enchaîne toutes les couches linéaires puis applique toutes les activations à la fin : c’est "
      "act(act(… (x W1 + b1) W2 …)). L’activation se place entre les couches : h_l = act(h_(l−1) W_l + b_l).",
      "all the activations stacked on the output of the last linear layer"),
    M("detached_layers", "forward", detached_layers,
      "Votre forward détache les couches (.detach(), .data ou torch.no_grad()) : les valeurs sont justes mais le "
      "graphe d’autograd est coupé, loss.backward() n’atteint pas les poids. Calculez h_l = act(h_(l−1) W_l + b_l) "
      "avec des opérations torch, sans rien détacher.",
      "every layer detached: right values, no autograd graph"),
    M("missing_zero_grad", "train_step", no_zero_grad,
      "Votre pas utilise les gradients restés du pas précédent : c’est ce qu’on obtient sans optimizer.zero_grad(). "
      "Les gradients s’additionnent dans .grad ; l’ordre : perte, zero_grad(), backward(), step().",
      "no optimizer.zero_grad(): stale gradients add up"),
    M("step_before_backward", "train_step", step_before_backward,
      "Votre pas appelle optimizer.step() avant loss.backward() : les poids bougent avec des gradients vides. "
      "L’ordre : perte, zero_grad(), backward(), step().",
      "optimizer.step() before loss.backward()"),
)
