"""Misconceptions of ``tp2_shallow`` (one hidden sigmoid layer, backprop by hand): variants of
:mod:`reference.tp2_shallow`, one per typical bug (see :mod:`autograder.misconceptions`)."""

from __future__ import annotations

import torch

from autograder.misconceptions import Misconception as M
from reference import tp2_shallow as ref

REFERENCE = ref


def one_over_exp(a):
    return 1 / torch.exp(-a)


def derivative_of_preactivation(h):
    s = torch.sigmoid(h)
    return s * (1 - s)


def missing_derivative(delta2, W2, h):
    return delta2 @ W2.T


def matmul_for_elementwise(delta2, W2, h):
    hh = h * (1 - h)
    return (delta2 @ W2.T) @ (hh.T @ hh) / len(h)


def transposed_weight_gradient(params, cache, t):
    g = ref.backward(params, cache, t)
    return {**g, "W1": g["W1"].T.reshape(g["W1"].shape)}


def wrong_layer_input(params, cache, t):
    g = ref.backward(params, cache, t)
    d2 = ref.output_delta(cache.y, t)
    d1 = ref.hidden_delta(d2, params["W2"], cache.h)
    return {**g, "W2": -(cache.x.sum(1, keepdim=True).expand(-1, cache.h.shape[1]).T @ d2) / len(t),
            "W1": -(cache.x.T @ d1) / len(t)}


def bias_sign(params, cache, t):
    g = ref.backward(params, cache, t)
    return {**g, "b2": -g["b2"]}


def bias_scalar_sum(params, cache, t):
    g = ref.backward(params, cache, t)
    return {**g, "b1": g["b1"].sum().expand_as(g["b1"]).clone()}


def gradient_of_the_sum(params, cache, t):
    return {k: v * len(t) for k, v in ref.backward(params, cache, t).items()}


def activation_on_output(params, x):
    h = torch.sigmoid(x @ params["W1"] + params["b1"])
    y = torch.sigmoid(h @ params["W2"] + params["b2"])
    return y, ref.ShallowCache(x, h, y)


def no_nonlinearity(params, x):
    h = x @ params["W1"] + params["b1"]
    y = h @ params["W2"] + params["b2"]
    return y, ref.ShallowCache(x, h, y)


def stacked_activation(params, x):
    h = torch.sigmoid(torch.sigmoid(x @ params["W1"] + params["b1"]))
    y = h @ params["W2"] + params["b2"]
    return y, ref.ShallowCache(x, h, y)


def lr_sign(params, grads, lr):
    return {k: params[k] + lr * grads[k] for k in params}


def update_in_place(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]
    return params


def loss_sum(y, t):
    return 0.5 * ((t - y) ** 2).sum()


def loss_without_half(y, t):
    return ((t - y) ** 2).sum() / len(y)


def loss_in_place(y, t):
    t.sub_(y)
    return 0.5 * t.pow(2).sum() / y.shape[0]


def output_delta_reversed(y, t):
    return y - t


def output_delta_in_place(y, t):
    return t.sub_(y)


CATALOG = (
    M("sigmoid_one_over_exp", "sigmoid", one_over_exp,
      "Votre sigmoïde est celle qu’on obtient en écrivant 1 / exp(−a) (c’est exp(a)) : il manque le « 1 + » au "
      "dénominateur. σ(a) = 1 / (1 + exp(−a)).",
      "sigmoid written 1/exp(−a) (the 1 + is missing)"),
    M("derivative_of_preactivation", "sigmoid_derivative", derivative_of_preactivation,
      "Votre dérivée applique σ une seconde fois : c’est σ(h)(1 − σ(h)), la formule pour la pré-activation a. "
      "sigmoid_derivative reçoit déjà l’activation h = σ(a) : σ′(a) = h (1 − h).",
      "σ′ computed on the pre-activation: σ(h)(1 − σ(h)) where h is already σ(a)"),
    M("missing_sigmoid_derivative", "hidden_delta", missing_derivative,
      "Votre δ1 est celui qu’on obtient en oubliant σ′(a) : δ1 = δ2 W2ᵀ. La rétropropagation à travers la "
      "sigmoïde multiplie, élément par élément, par sa dérivée : δ1 = h (1 − h) ⊙ (δ2 W2ᵀ).",
      "δ1 without the sigmoid derivative (δ2 W2ᵀ)"),
    M("matmul_for_elementwise", "hidden_delta", matmul_for_elementwise,
      "Votre δ1 multiplie par h (1 − h) avec un produit matriciel : la dérivée s’applique élément par élément "
      "(produit ⊙, en PyTorch *) : δ1 = h (1 − h) ⊙ (δ2 W2ᵀ).",
      "a matrix product where the element-wise product with σ′ belongs"),
    M("transposed_weight_gradient", "backward", transposed_weight_gradient,
      "Votre gradient de W1 est la transposée du bon, remise à la forme (D, H) : c’est (δ1ᵀ x) remodelé. Le gradient "
      "a la forme de W1 : ∂L/∂W1 = −(1/N) xᵀ δ1, de forme (D, H).",
      "the W1 gradient is the transposed one reshaped"),
    M("wrong_layer_input", "backward", wrong_layer_input,
      "Votre gradient de W2 utilise l’entrée du réseau x au lieu de la sortie cachée h : chaque couche prend "
      "l’entrée qu’elle reçoit, ∂L/∂W2 = −(1/N) hᵀ δ2 et ∂L/∂W1 = −(1/N) xᵀ δ1.",
      "the W2 gradient uses the network's input instead of the hidden layer's output"),
    M("bias_gradient_sign", "backward", bias_sign,
      "Votre gradient de b2 a le mauvais signe : c’est +(1/N) Σₙ δ2. Avec δ2 = t − y, ∂L/∂b2 = −(1/N) Σₙ δ2, "
      "comme pour W2 (le biais est un poids sur une entrée constante 1).",
      "the b2 gradient has the wrong sign"),
    M("bias_gradient_scalar_sum", "backward", bias_scalar_sum,
      "Votre gradient de b1 est le même nombre pour toutes les unités cachées : c’est ce qu’on obtient en sommant "
      "aussi sur les unités. On ne somme que sur les exemples : ∂L/∂b1 = −(1/N) Σₙ δ1 (un nombre par unité).",
      "the b1 gradient summed over every unit too (one scalar for all)"),
    M("gradient_of_the_sum", "backward", gradient_of_the_sum,
      "Vos gradients sont N fois trop grands : ce sont ceux de la perte sommée sur le lot, sans le 1/N de la "
      "moyenne. L = (1/N) Σₙ ½ ‖tₙ − yₙ‖², donc ∂L/∂W2 = −(1/N) hᵀ δ2, etc.",
      "gradients of the summed loss, not of the mean (×N)"),
    M("activation_on_output", "forward", activation_on_output,
      "Votre sortie y passe par une sigmoïde : c’est y = σ(h W2 + b2). Dans ce TP la couche de sortie est "
      "linéaire : h = σ(x W1 + b1), y = h W2 + b2.",
      "a sigmoid on the linear output layer"),
    M("no_nonlinearity", "forward", no_nonlinearity,
      "Votre couche cachée n’a pas de non-linéarité : c’est h = x W1 + b1. Sans σ, deux couches linéaires n’en font "
      "qu’une : h = σ(x W1 + b1), y = h W2 + b2.",
      "no sigmoid on the hidden layer"),
    M("stacked_activation", "forward", stacked_activation,
      "Votre couche cachée applique σ deux fois : c’est h = σ(σ(x W1 + b1)). Une seule activation par couche : "
      "h = σ(x W1 + b1).",
      "the sigmoid applied twice on the hidden layer"),
    M("lr_sign", "update", lr_sign,
      "Votre update monte la pente : c’est p + η·g. La descente de gradient soustrait : p ← p − η ∂L/∂p.",
      "the learning-rate sign is flipped (p + η g)"),
    M("update_in_place", "update", update_in_place,
      "Votre update modifie params sur place (params[k] -= …) : la règle p − η ∂L/∂p est juste, mais elle doit "
      "rendre un nouveau dictionnaire de nouveaux tenseurs sans toucher à celui qu’on lui passe.",
      "the update is right but done in place"),
    M("loss_sum_not_mean", "loss", loss_sum,
      "Votre perte est sommée sur le lot : c’est ½ Σₙ ‖tₙ − yₙ‖², sans diviser par N. "
      "L = (1/N) Σₙ ½ ‖tₙ − yₙ‖² (la moyenne, comme dans les gradients).",
      "the loss sums over the batch (no 1/N) while the gradients use the mean"),
    M("loss_without_half", "loss", loss_without_half,
      "Votre perte est deux fois trop grande : c’est (1/N) Σₙ ‖tₙ − yₙ‖², sans le ½. "
      "L = (1/N) Σₙ ½ ‖tₙ − yₙ‖² (le ½ simplifie la dérivée : ∂L/∂y = −(t − y)/N).",
      "the squared error without the ½"),
    M("loss_in_place", "loss", loss_in_place,
      "Votre loss modifie t sur place (t.sub_(y) ou t -= y) : la valeur ½ (t − y)² est juste, mais t est abîmé pour "
      "la suite. Écrivez (t − y), qui crée un nouveau tenseur.",
      "the loss subtracts in place from t"),
    M("output_delta_reversed", "output_delta", output_delta_reversed,
      "Votre δ2 est y − t : c’est le signe opposé. Dans le cours, δ2 = t − y (et ∂L/∂W2 = −(1/N) hᵀ δ2).",
      "δ2 written y − t"),
    M("output_delta_in_place", "output_delta", output_delta_in_place,
      "Votre output_delta modifie t sur place (t.sub_(y) ou t -= y) : δ2 = t − y est juste, mais il faut le calculer "
      "dans un nouveau tenseur sans toucher à t.",
      "δ2 computed in place in t"),
)
