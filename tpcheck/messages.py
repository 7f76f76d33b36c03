"""The message catalog: every sentence a student reads, in French (the course's language) and English.

    say("student.passed", function="forward")      # in the current language
    set_language("en")                              # or TPCHECK_LANG=en in the environment

A message is an id (dotted, ``zone.what``) mapped to ``{"fr": template, "en": template}``,
``str.format`` templates with named fields; both languages of an id take the same fields (a test
parses every template). The language is, in this order: the one :func:`set_language` chose, the
``TPCHECK_LANG`` environment variable, French. The grader chooses it with
``python -m autograder grade --lang fr|en``: messages are rendered in the grader's process (the
checks run there), never in a sandbox worker.

The students' package registers its own messages here; the grader adds its own with
:func:`register` (:mod:`autograder.messages`), so that one mechanism and one test cover both.
A text that is not an id renders as itself (a message built elsewhere, already in words).
"""

from __future__ import annotations

import os
from typing import Any

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
ENV = "TPCHECK_LANG"

_chosen: str | None = None


def set_language(lang: str | None) -> None:
    """Choose the language of every message from now on (``None``: back to the environment's)."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    _chosen = lang


def language() -> str:
    """The current language: :func:`set_language`'s, else ``$TPCHECK_LANG``'s, else French."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get(ENV, "").strip().lower()
    if env and env not in LANGUAGES:
        raise ValueError(f"{ENV}={env!r} is not a known language: choose one of {', '.join(LANGUAGES)}")
    return env or DEFAULT


def say(message_id: str, **fields: Any) -> str:
    """Message ``message_id`` in the current language, formatted with ``fields``; a text that is
    not a known id is formatted as it is."""
    entry = CATALOG.get(message_id)
    template = entry[language()] if entry else message_id
    return template.format(**fields) if fields else template


def pick(*, fr: str, en: str) -> str:
    """One of two texts, by the current language (a check's title); an empty French falls back
    to the English."""
    return fr if language() == "fr" and fr else en


def register(messages: dict[str, dict[str, str]]) -> None:
    """Add a zone's messages to the catalog (ids must be new)."""
    clash = set(messages) & set(CATALOG)
    if clash and any(CATALOG[k] != messages[k] for k in clash):
        raise ValueError(f"message ids registered twice: {', '.join(sorted(clash))}")
    CATALOG.update(messages)


def _m(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en}


CATALOG: dict[str, dict[str, str]] = {
    # --- tpcheck.compare
    "compare.tensor": _m("un tenseur de forme {shape} et de dtype {dtype}", "tensor of shape {shape} and dtype {dtype}"),
    "compare.object": _m("un objet de type {type}", "an object of type {type}"),
    "compare.not_tensor": _m("{name} devrait être un torch.Tensor ; obtenu : {described}",
                             "{name} should be a torch.Tensor, got {described}"),
    "compare.shape": _m("{name} a la forme {got}, attendu {expected}", "{name} has shape {got}, expected {expected}"),
    "compare.dtype": _m("{name} a le dtype {got}, attendu {expected}", "{name} has dtype {got}, expected {expected}"),
    "compare.not_finite": _m("{name} contient NaN ou inf (d'abord à l'indice {where})",
                             "{name} contains NaN or inf (first at index {where})"),
    "compare.differs": _m("{name} diffère de la valeur attendue{at} : attendu {expected}, obtenu {got} "
                          "(plus grande différence absolue {max_abs}{rel})",
                          "{name} differs from the expected value:{at} expected {expected}, got {got} "
                          "(largest absolute difference {max_abs}{rel})"),
    "compare.at": _m(" à l'indice {where}", " at index {where}"),
    "compare.rel": _m(", plus grande différence relative {rel}", ", largest relative difference {rel}"),
    "compare.missing": _m("{name} manque dans ce que votre fonction a renvoyé (attendu {shape} contenant {name} ; "
                          "obtenu : {described})",
                          "{name} is missing from what your function returned (expected {shape} with {name}; "
                          "got {described})"),
    "compare.a_tuple": _m("un tuple", "a tuple"),
    "compare.a_dict": _m("un dict", "a dict"),
    "compare.a_tensor": _m("un tenseur", "a tensor"),
    "compare.the_result": _m("le résultat", "the result"),
    "compare.several": _m("{listed} sont faux : {each}", "{listed} are wrong: {each}"),
    "compare.and": _m("{first} et {last}", "{first} and {last}"),
    # --- tpcheck.student: the visible checks' report
    "student.not_implemented": _m("{function} : pas encore implémentée", "{function}: not implemented yet"),
    "student.passed": _m("{function} : réussi", "{function}: passed"),
    "student.failed": _m("{function} : ÉCHEC", "{function}: FAILED"),
    "student.input": _m("    entrée :", "    input:"),
    "student.no_function": _m("aucune fonction nommée {name} n'est définie : exécutez la cellule qui la définit",
                              "no function called {name} is defined: run the cell that defines it"),
    "student.no_visible": _m("pas de vérification visible pour {name} ici ({bank} n'est pas à côté du notebook) : "
                             "seuls les tests cachés la jugeront",
                             "no visible check for {name} here ({bank} is not next to the notebook): "
                             "only the hidden tests will judge it"),
    "student.fixed_example": _m("exemple fixe {i}/{n}", "fixed example {i}/{n}"),
    "student.raised": _m("a levé {type} : {error}", "raised {type}: {error}"),
    "student.after_call": _m("{path} après l'appel", "{path} after the call"),
    "student.the_argument": _m("l'argument", "the argument"),
    "student.an_argument": _m("un argument", "an argument"),
    "student.mutated": _m("la fonction a modifié son entrée sur place ({path}) ; renvoyez plutôt de nouveaux tenseurs",
                          "the function modified its input in place ({path}); return new tensors instead"),
    "student.float": _m("le résultat devrait être un float Python ({expected} ; utilisez .item() sur un tenseur à un "
                        "élément) ; obtenu : {described}",
                        "the result should be a Python float ({expected}; use .item() on a one-element "
                        "tensor); got {described}"),
    "student.number_differs": _m("le résultat diffère de la valeur attendue : attendu {expected}, obtenu {got}",
                                 "the result differs from the expected value: expected {expected}, got {got}"),
    "student.warning": _m("avertissement : {warning}", "warning: {warning}"),
    "student.stderr": _m("écrit sur stderr : {text}", "written to stderr: {text}"),
    "student.training": _m("entraînement", "training"),
    "student.passes_visible": _m("{name} réussit ses vérifications visibles", "{name} passes its visible checks"),
    "student.run_check": _m('exécutez check("{name}") pour savoir pourquoi', 'run check("{name}") to see why'),
    "student.training_note": _m("à la correction, vos fonctions entraînent le modèle avec un budget fixe ; la précision "
                                "sur le test doit atteindre l'objectif (la section Expériences montre ce qu'elles "
                                "atteignent)",
                                "at grading time your functions train the model on a fixed budget; the test "
                                "accuracy must reach the goal (the Experiments section shows what they reach)"),
    "student.nothing": _m("rien à vérifier ici", "nothing to check here"),
    "student.your_functions": _m("vos fonctions", "your functions"),
    "student.allowed_apis": _m("{name} n'utilise que les API autorisées", "{name} uses only allowed APIs"),
}

CATALOG.update({
    # --- tpcheck.parts.tp1_perceptron
    "tp1.moved_away": _m("après une mise à jour avec η = {lr}, la sortie {i} s'est éloignée de sa cible "
                         "(|t − y| est passé de {before_i:.4g} à {after_i:.4g}) : vérifiez le signe de la mise à jour",
                         "after one update with η = {lr}, output {i} moved away from its target "
                         "(|t − y| went from {before_i:.4g} to {after_i:.4g}): check the sign of the update"),
    "tp1.tensor": _m("le résultat de predict devrait être un torch.Tensor ; obtenu : {described}",
                     "predict's result should be a torch.Tensor, got {described}"),
    "tp1.shape": _m("le résultat de predict a la forme {got}, attendu {expected}",
                    "predict's result has shape {got}, expected {expected}"),
    "tp1.dtype": _m("le résultat de predict a le dtype {got}, attendu torch.int64 (des indices de classe)",
                    "predict's result has dtype {got}, expected torch.int64 (class indices)"),
    "tp1.wrong": _m("predict a donné la classe {got_i} pour l'exemple {i}, mais sa plus grande sortie est la classe "
                    "{expected_i} (sorties {outputs_i})",
                    "predict said class {got_i} for example {i}, but its largest output is class {expected_i} "
                    "(outputs {outputs_i})"),
    "tp1.update_dict": _m("update devrait renvoyer un dict avec les clés 'W' et 'b'",
                          "update should return a dict with the keys 'W' and 'b'"),
    "tp1.one_index": _m("predict renvoie un indice de classe int64 par exemple",
                        "predict returns one int64 class index per example"),
    "tp1.student.moved_away": _m("|t − y| est passé de {before} à {after} : vérifiez le signe",
                                 "|t − y| went from {before} to {after}: check the sign"),
    "tp1.student.tensor": _m("attendu un tenseur int64 de forme {shape}", "expected an int64 tensor of shape {shape}"),
    "tp1.student.shape": _m("attendu un tenseur int64 de forme {expected}", "expected an int64 tensor of shape {expected}"),
    "tp1.student.wrong": _m("obtenu {got}, les plus grandes sorties sont en {expected}",
                            "got {got}, the largest outputs are at {expected}"),
    "tp1.visible.update": _m("une mise à jour rapproche chaque sortie de sa cible",
                             "one update moves every output toward its target"),
    "tp1.visible.predict": _m("predict renvoie la classe de la plus grande sortie de forward",
                              "predict returns the class of the largest output of forward"),
})

CATALOG.update({
    # --- tpcheck.forbidden
    "forbidden.violation": _m("ligne {line} : {code}  (utilise {what})", "line {line}: {code}  (uses {what})"),
})

CATALOG.update({
    # --- tpcheck.parts.tp2_shallow
    "tp2.disagrees": _m("backward ne concorde pas avec les différences finies de vos forward et loss (erreur relative "
                        "{listed} ; elle devrait être < {tolerance:g} en float64)",
                        "backward disagrees with finite differences of your forward and loss "
                        "(relative error {listed}; should be < {tolerance:g} in float64)"),
    "tp2.missing": _m("il manque {listed} au résultat de backward (il doit contenir un gradient par paramètre : {keys})",
                      "backward's result lacks {listed} (it should hold one gradient per parameter: {keys})"),
    "tp2.shapes": _m("les gradients de backward devraient avoir la forme de leur paramètre : {listed}",
                     "backward's gradients should have their parameters' shapes: {listed}"),
    "tp2.student.disagrees": _m("erreur relative {listed} (devrait être < {tolerance:g}) ; commencez par le gradient "
                                "de {worst}",
                                "relative error {listed} (should be < {tolerance:g}); start with the gradient for "
                                "{worst}"),
    "tp2.forward_pair": _m("forward devrait renvoyer (y, cache)", "forward should return (y, cache)"),
    "tp2.loss_number": _m("loss devrait renvoyer un seul nombre (un tenseur à un élément)",
                          "loss should return a single number (a tensor with one element)"),
    "tp2.cache": _m("le cache de forward devrait contenir (x, h, y)", "forward's cache should hold (x, h, y)"),
    "tp2.backward_dict": _m("backward devrait renvoyer un dict avec les clés {keys}",
                            "backward should return a dict with the keys {keys}"),
    "tp2.loss_result": _m("le résultat de loss", "loss's result"),
    "tp2.gradient_for": _m("le gradient de {key}", "the gradient for {key}"),
    "tp2.sigmoid_result": _m("le résultat de sigmoid", "sigmoid's result"),
    "tp2.sigmoid_range": _m("sigmoid a renvoyé des valeurs hors de [0, 1] ou NaN/inf pour de grandes entrées",
                            "sigmoid returned values outside [0, 1] or NaN/inf for large inputs"),
    "tp2.largest_error": _m("plus grande erreur relative {error:.1e}", "largest relative error {error:.1e}"),
    "tp2.visible.gradcheck": _m("backward concorde avec les différences finies de forward et loss (float64)",
                                "backward agrees with finite differences of forward and loss (float64)"),
})

CATALOG.update({
    # --- tpcheck.parts.tp3_deep: init_params, by what failed
    "tp3.keys": _m("init_params({sizes}) devrait renvoyer un dict avec les clés {keys} ; obtenu : {got}",
                   "init_params({sizes}) should return a dict with the keys {keys}; got {got}"),
    "tp3.tensor": _m("{key} devrait être un torch.Tensor ; obtenu : {got}", "{key} should be a torch.Tensor, got {got}"),
    "tp3.shape": _m("{key} a la forme {shape}, attendu {expected} pour les tailles {sizes}",
                    "{key} has shape {shape}, expected {expected} for sizes {sizes}"),
    "tp3.leaf": _m("{key} devrait être un tenseur feuille avec requires_grad=True, pour que loss.backward() remplisse "
                   "{key}.grad",
                   "{key} should be a leaf tensor with requires_grad=True, so that loss.backward() fills {key}.grad"),
    "tp3.computed": _m("{key} devrait être un tenseur feuille avec requires_grad=True, mais il a été calculé à partir "
                       "d'un tel tenseur (par ex. torch.randn(..., requires_grad=True) * std) : calculez d'abord la "
                       "valeur, puis appelez .requires_grad_(), pour que loss.backward() remplisse {key}.grad",
                       "{key} should be a leaf tensor with requires_grad=True, but it was computed from one (e.g. "
                       "torch.randn(..., requires_grad=True) * std): compute the value first, then call "
                       ".requires_grad_(), so that loss.backward() fills {key}.grad"),
    "tp3.finite": _m("{key} contient NaN ou inf", "{key} contains NaN or inf"),
    "tp3.identical": _m("les unités {i} et {j} de la couche {l} commencent avec des poids identiques "
                        "(W{l}[:, {i}] == W{l}[:, {j}]) : elles calculeraient toujours la même chose. Tirez les poids "
                        "au hasard.",
                        "units {i} and {j} of layer {l} start with identical weights (W{l}[:, {i}] == W{l}[:, {j}]): "
                        "they would compute the same thing forever. Draw the weights at random."),
    "tp3.constant": _m("W{l} est constant ({value:g} partout) : tirez les poids au hasard",
                       "W{l} is constant ({value:g} everywhere): draw the weights at random"),
    "tp3.same_seed": _m("deux appels de init_params({sizes}, activation={activation!r}) avec des générateurs de même "
                        "graine ({seed}) ont donné des {key} différents : tirez chaque poids du générateur passé en "
                        "argument (torch.randn(..., generator=generator)), pas de l'état aléatoire global",
                        "two calls of init_params({sizes}, activation={activation!r}) with generators seeded alike "
                        "({seed}) gave different {key}: draw every weight from the generator argument "
                        "(torch.randn(..., generator=generator)), not from the global random state"),
    "tp3.other_seed": _m("init_params({sizes}, activation={activation!r}) a donné les mêmes poids pour des générateurs "
                         "de graines {seed} et {other} : tirez-les du générateur passé en argument "
                         "(torch.randn(..., generator=generator))",
                         "init_params({sizes}, activation={activation!r}) gave the same weights for generators seeded "
                         "with {seed} and {other}: draw them from the generator argument "
                         "(torch.randn(..., generator=generator))"),
    "tp3.global_state": _m("init_params({sizes}, activation={activation!r}, generator=...) a consommé l'état aléatoire "
                           "global : tirez chaque poids du générateur passé en argument "
                           "(torch.randn(..., generator=generator))",
                           "init_params({sizes}, activation={activation!r}, generator=...) consumed the global random "
                           "state: draw every weight from the generator argument (torch.randn(..., generator=generator))"),
    "tp3.scale": _m("W{l} a un écart type de {got:.3g} pour activation={activation!r}, attendu {expected:.3g} = "
                    "{formula} avec fan_in={fan_in}, fan_out={fan_out} (tailles {sizes}) : He, sqrt(2 / fan_in), pour "
                    "relu et gelu ; Xavier, sqrt(2 / (fan_in + fan_out)), pour sigmoid et tanh",
                    "W{l} has standard deviation {got:.3g} for activation={activation!r}, expected {expected:.3g} = "
                    "{formula} with fan_in={fan_in}, fan_out={fan_out} (sizes {sizes}): He, sqrt(2 / fan_in), for "
                    "relu and gelu; Xavier, sqrt(2 / (fan_in + fan_out)), for sigmoid and tanh"),
    "tp3.bias": _m("b{l} devrait commencer à zéro (activation={activation!r}, tailles {sizes})",
                   "b{l} should start at zero (activation={activation!r}, sizes {sizes})"),
    "tp3.raises": _m("init_params({sizes}, activation={activation!r}) devrait lever ValueError ({why}) ; elle {got}",
                     "init_params({sizes}, activation={activation!r}) should raise ValueError ({why}); it {got}"),
    "tp3.why.activation": _m("une activation inconnue", "an unknown activation"),
    "tp3.why.few_sizes": _m("moins de deux tailles", "fewer than two sizes"),
    "tp3.why.size": _m("une taille inférieure à 1", "a size below 1"),
    "tp3.returned": _m("est revenue sans lever d'exception", "returned without raising"),
    "tp3.raised": _m("a levé {type}", "raised {type}"),
    "tp3.student.keys": _m("pour les tailles {sizes}, attendu un dict avec les clés {keys} ; obtenu : {described}",
                           "for sizes {sizes} expected a dict with the keys {keys}; got {described}"),
    "tp3.student.tensor": _m("{key} devrait être un simple torch.Tensor avec requires_grad=True ; obtenu : {got}",
                             "{key} should be a plain torch.Tensor with requires_grad=True, got {got}"),
    "tp3.student.leaf": _m("{key} devrait être un tenseur feuille avec requires_grad=True (à activer après avoir calculé "
                           "les valeurs, par ex. avec .requires_grad_()), pour que loss.backward() remplisse {key}.grad",
                           "{key} should be a leaf tensor with requires_grad=True (set it after computing the "
                           "values, e.g. with .requires_grad_()), so that loss.backward() fills {key}.grad"),
    "tp3.student.identical": _m("deux unités de la couche {l} commencent avec des poids identiques (deux colonnes égales "
                                "de W{l}, tailles {sizes}) : elles resteraient identiques pour toujours",
                                "two units of layer {l} start with identical weights (two equal columns of W{l}, "
                                "sizes {sizes}): they would stay identical forever"),
    "tp3.what.keys": _m("un W et un b par couche", "one W and one b per layer"),
    "tp3.what.plain": _m("de simples tenseurs", "plain tensors"),
    "tp3.what.shapes": _m("formes", "shapes"),
    "tp3.what.leaves": _m("feuilles entraînables", "trainable leaves"),
    "tp3.what.finite": _m("valeurs finies", "finite values"),
    "tp3.what.random": _m("poids aléatoires", "random weights"),
    "tp3.what.generator": _m("l'argument generator", "the generator argument"),
    "tp3.what.scale": _m("l'échelle documentée", "the documented scale"),
    "tp3.what.raises": _m("ValueError sur de mauvais arguments", "ValueError on bad arguments"),
    "tp3.what.lowers": _m("20 pas sur un même lot font baisser sa perte", "20 steps on one batch lower its loss"),
    "tp3.what.stale": _m("un pas ignore les gradients laissés par le pas précédent",
                         "a step ignores gradients left over from the previous step"),
    "tp3.losses": _m("les pertes sont passées de {first:.4f} à {last:.4f}", "losses went from {first:.4f} to {last:.4f}"),
    "tp3.zero_grad": _m("appelez optimizer.zero_grad() avant loss.backward()",
                        "call optimizer.zero_grad() before loss.backward()"),
    "tp3.loss_went": _m("perte {first:.3f} → {last:.3f}", "loss {first:.3f} → {last:.3f}"),
    "tp3.visible.init": _m("formes pour des profondeurs de 1 à 4, feuilles aléatoires et entraînables",
                           "shapes for depths 1 to 4, random trainable leaves"),
    "tp3.visible.generator": _m("tire ses poids de l'argument generator", "draws from the generator argument"),
    "tp3.visible.scale": _m("He pour relu et gelu, Xavier pour sigmoid et tanh ; biais nuls",
                            "He for relu and gelu, Xavier for sigmoid and tanh; zero biases"),
    "tp3.visible.raises": _m("ValueError pour une activation inconnue ou des tailles invalides",
                             "ValueError on an unknown activation or invalid sizes"),
    "tp3.visible.train_step": _m("train_step fait baisser la perte et remet les gradients à zéro",
                                 "train_step lowers the loss and zeroes the gradients"),
})

CATALOG.update({
    # --- tpcheck.student: a fixed example's arguments
    "student.tensor_head": _m("{name} : forme {shape} {dtype}", "{name}: shape {shape} {dtype}"),
    "student.scalar": _m("{name} : scalaire {dtype} = {value}", "{name}: {dtype} scalar = {value}"),
    "student.empty": _m(", vide", ", empty"),
    "student.summary": _m(", min {low}, max {high}, premières valeurs [{first}, …]",
                          ", min {low}, max {high}, first values [{first}, …]"),
})
