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
