"""Misconceptions of ``tp1_perceptron`` (the perceptron's delta rule): variants of
:mod:`reference.tp1_perceptron`, one per typical bug (see :mod:`autograder.misconceptions`)."""

from __future__ import annotations

import torch

from autograder.misconceptions import Misconception as M
from reference import tp1_perceptron as ref

REFERENCE = ref
# predict's property calls it on (params, x) without listing them
CALLS = {"predict.argmax": lambda ex: ((ex["params"], ex["x"]), {})}


def bias_sign(params, x, t, lr):
    e = t - ref.forward(params, x)
    return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def bias_scalar_sum(params, x, t, lr):
    e = t - ref.forward(params, x)
    return {"W": params["W"] + lr / len(x) * x.T @ e, "b": params["b"] + lr * e.mean(0).sum()}


def lr_sign(params, x, t, lr):
    e = t - ref.forward(params, x)
    return {"W": params["W"] - lr / len(x) * x.T @ e, "b": params["b"] - lr * e.mean(0)}


def sum_not_mean(params, x, t, lr):
    e = t - ref.forward(params, x)
    return {"W": params["W"] + lr * x.T @ e, "b": params["b"] + lr * e.sum(0)}


def in_place(params, x, t, lr):
    e = t - ref.forward(params, x)
    params["W"] += lr / len(x) * x.T @ e
    params["b"] += lr * e.mean(0)
    return params


def missing_bias(params, x):
    return x @ params["W"]


def activation_on_output(params, x):
    return torch.sigmoid(x @ params["W"] + params["b"])


def integer_outputs(params, x):
    return (x @ params["W"] + params["b"]).long()


def argmin(params, x):
    return ref.forward(params, x).argmin(1)


CATALOG = (
    M("bias_sign", "update", bias_sign,
      "Votre mise à jour du biais va dans le mauvais sens : c’est ce qu’on obtient avec b ← b − η·moyenne(t − y). "
      "Le biais est un poids sur une entrée constante égale à 1, il suit la même règle que W : Δbᵢ = +η (tᵢ − yᵢ).",
      "the bias moves against the error (b − η·mean(t − y)): the bias rule is Δb = +η (t − y)"),
    M("bias_scalar_sum", "update", bias_scalar_sum,
      "Votre biais reçoit la même correction pour toutes les sorties : c’est ce qu’on obtient en sommant l’erreur "
      "sur toutes les sorties (un seul nombre). Chaque sortie i a son propre biais : Δbᵢ = η (tᵢ − yᵢ).",
      "the bias gets one scalar (the error summed over every output unit) instead of one value per unit"),
    M("lr_sign", "update", lr_sign,
      "Votre mise à jour s’éloigne de la cible : c’est ce qu’on obtient en soustrayant η·xᵀ(t − y) au lieu de l’ajouter. "
      "La règle delta est W ← W + η/N · xᵀ (t − y) et b ← b + η · moyenne(t − y).",
      "the learning-rate sign is flipped: the update moves away from the targets"),
    M("sum_not_mean", "update", sum_not_mean,
      "Votre mise à jour est N fois trop grande sur un mini-lot : c’est ce qu’on obtient en sommant les changements "
      "des N exemples au lieu d’en prendre la moyenne. La règle : W ← W + η/N · xᵀ (t − y), b ← b + η · moyenne(t − y).",
      "the batch changes are summed, not averaged (no 1/N)"),
    M("in_place", "update", in_place,
      "Votre update modifie le dictionnaire params qu’on lui passe (params[\"W\"] += …) : c’est la bonne règle, mais "
      "appliquée sur place. Elle doit rendre de nouveaux tenseurs : W_nouveau = W + η/N · xᵀ (t − y), sans toucher à W.",
      "the rule is right but applied in place (params modified with +=)"),
    M("missing_bias", "forward", missing_bias,
      "Votre sortie est celle qu’on obtient en oubliant le biais : y = x W. Le perceptron calcule y = x W + b.",
      "forward forgets the bias (y = x W)"),
    M("activation_on_output", "forward", activation_on_output,
      "Votre sortie est passée dans une sigmoïde : c’est ce qu’on obtient avec y = σ(x W + b). Le perceptron de ce TP "
      "a des sorties linéaires : y = x W + b.",
      "a sigmoid on the linear output layer"),
    M("integer_outputs", "forward", integer_outputs,
      "Votre sortie est tronquée en entiers (.long() ou .int()) : c’est y = x W + b converti en int64. "
      "y doit rester en virgule flottante, du même dtype que x.",
      "the outputs are truncated to integers (.long())"),
    M("argmin", "predict", argmin,
      "Votre prédiction est la classe de la plus petite sortie (argmin) : la classe prédite est celle de la plus "
      "grande, prédiction = argmaxᵢ yᵢ.",
      "predict takes argmin instead of argmax"),
)
