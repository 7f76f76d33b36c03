"""The grader's messages for the student (the blame rule's "not judged", the training run's gate
and verdicts, the shared properties), in :mod:`tpcheck.messages`'s catalog: one mechanism, one
language setting (``python -m autograder grade --lang``), one test of every template.

Importing this module registers them; the modules that word a message import it.
"""

from __future__ import annotations

from tpcheck.messages import register, say

__all__ = ["say"]


def _m(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en}


register({
    # autograder.stages.run_checks
    "checks.missing": _m("fonction {names} introuvable dans votre notebook (gardez les noms et les signatures du modèle)",
                         "function {names} not found in your notebook (keep the names and signatures of the template)"),
    "checks.forbidden_api": _m("{name} utilise une API que cette partie n'autorise pas ({reason}) : {what}",
                               "{name} uses an API this part does not allow ({reason}): {what}"),
    "checks.flaky": _m("votre fonction a donné des résultats différents pour la même entrée (est-elle aléatoire, "
                       "ou garde-t-elle un état d'un appel à l'autre ?) {detail}",
                       "your function gave different results for the same input (is it random, or does it keep "
                       "state between calls?) {detail}"),
    "checks.could_not_run": _m("la vérification n'a pas pu s'exécuter : {type} : {text}",
                               "the check could not run: {type}: {text}"),
    "checks.nothing_works": _m("aucune fonction notée ne marche encore : rien à juger",
                               "no graded function works yet: nothing to judge"),
    "checks.not_implemented": _m("{function} n'est pas encore implémentée", "{function} is not implemented yet"),
    "checks.raised": _m("{function} a levé {type} : {text}{at}", "{function} raised {type}: {text}{at}"),
    # autograder.stages.sandbox
    "sandbox.used_up": _m("la correction de ce rendu a épuisé ses {seconds} s", "the submission used up its {seconds} s"),
    "sandbox.no_answer": _m("{name} : pas de réponse en {seconds} s ; le processus a été arrêté",
                            "{name}: no answer within {seconds} s; the worker was killed"),
    "sandbox.too_long": _m("a pris plus de {seconds} s (boucle infinie ?)", "took longer than {seconds} s (infinite loop?)"),
    "sandbox.worker_event": _m("{name} : le processus {what}", "{name}: the worker {what}"),
    "sandbox.process_died": _m("le processus qui exécute votre code {what}", "the process running your code {what}"),
    "sandbox.code_too_big": _m("le code de votre notebook fait {size} Mo, plus que les {limit} Mo permis : il n'a pas été lancé",
                               "your notebook's code is {size} MB, more than the {limit} MB allowed: it was not run"),
    "sandbox.load_too_long": _m("l'exécution du code de votre notebook a pris plus de {seconds} s",
                                "running your notebook's code took longer than {seconds} s"),
    "sandbox.stopped_answering": _m("a cessé de répondre", "stopped answering"),
    "sandbox.killed_by": _m("a été tué par {signal}{hint}", "was killed by {signal}{hint}"),
    "sandbox.hint_cpu": _m(" (limite de temps CPU)", " (CPU time limit)"),
    "sandbox.hint_file": _m(" (limite de taille de fichier)", " (file size limit)"),
    "sandbox.hint_killed": _m(" (tué)", " (killed)"),
    "sandbox.exited": _m("s'est terminé avec le code {code} (sys.exit ou os._exit dans votre code, ou mémoire épuisée)",
                         "exited with code {code} (sys.exit or os._exit in your code, or out of memory)"),
    # autograder.stages.sourcemap / autograder.submission
    "where.at": _m(" — en {where}", " — at {where}"),
    "where.cell": _m("cellule {cell}", "cell {cell}"),
    "where.line": _m("{cell}, ligne {line} : {text}", "{cell}, line {line}: {text}"),
    "where.unknown": _m("ligne inconnue", "line unknown"),
    # autograder.stages.blame
    "blame.not_judged": _m("non jugé : {function} utilise {wrong}, qui {verb} faux ({checks}) ; corrigez d'abord "
                           "{wrong}{where}",
                           "not judged: {function} uses {wrong}, which {verb} wrong ({checks}); fix {wrong} "
                           "first{where}"),
    "blame.where": _m(" ({function} appelle {name} à la ligne {line} de sa définition)",
                      " ({function} calls {name} on line {line} of its definition)"),
    "blame.gate": _m("non lancé : l'entraînement a besoin que {named} réussisse d'abord chaque vérification",
                     "not run: the training needs {named} to pass every check first"),
    "blame.gate_blocked": _m(" ; il est bloqué par {named}, qui {verb} faux ({checks})",
                             "; it is blocked by {named}, which {verb} wrong ({checks})"),
    "blame.is": _m("est", "is"),
    "blame.are": _m("sont", "are"),
    "blame.forbidden_rule": _m("la règle des API interdites", "the forbidden-API rule"),
    # autograder.stages.threshold
    "threshold.needs_gpu": _m("GPU nécessaire : cet entraînement est noté sur une machine qui en a une "
                              "(autograder grade --device cuda)",
                              "needs GPU: this training run is graded on a machine with one "
                              "(autograder grade --device cuda)"),
    "threshold.stopped": _m("l'entraînement s'est arrêté : {who}{type} : {text}{at}",
                            "the training run stopped: {who}{type}: {text}{at}"),
    "threshold.who": _m("{function} a levé ", "{function} raised "),
    "threshold.unusable": _m("l'entraînement n'a renvoyé aucune prédiction utilisable : {error}",
                             "the training run returned no usable predictions: {error}"),
    "threshold.already": _m("ses prédictions avant la première mise à jour avaient déjà une précision de "
                            "{initial:.4f} (les paramètres donnés donnent environ {chance:.2f})",
                            "its predictions before the first update were already {initial:.4f} accurate "
                            "(the given parameters give about {chance:.2f})"),
    "threshold.never_moved": _m("la précision n'a jamais bougé de {initial:.4f}",
                                "the accuracy never moved from {initial:.4f}"),
    "threshold.not_trained": _m("l'entraînement n'est pas parti des paramètres donnés ou ne les a pas entraînés : "
                                "{why}",
                                "the training run did not start from the given parameters or did not train "
                                "them: {why}"),
    "threshold.verdict": _m("précision sur le test {final:.4f} sur {dataset} après {epochs} époque(s), "
                            "{minimum:.2f} requis",
                            "test accuracy {final:.4f} on {dataset} after {epochs} epoch(s), needed {minimum:.2f}"),
    # autograder.checks.spec: what a call through the submission shows
    "spec.answers": _m("{name} : {answers} réponses pour {calls} appels", "{name}: {answers} answers for {calls} calls"),
    "spec.forbidden_call": _m("{name} a appelé {called}, que cette partie n'autorise pas ({reason})",
                              "{name} called {called}, which this part does not allow ({reason})"),
    "spec.autograd_graph": _m("{name} a renvoyé des tenseurs qui portent un graphe autograd ({leaks}) : {reason}",
                              "{name} returned tensors that carry an autograd graph ({leaks}): {reason}"),
    # autograder.checks.common
    "common.forbidden": _m("{reason}. Trouvé : {listed}", "{reason}. Found: {listed}"),
    "common.mutated": _m("{function} a modifié son entrée {where} sur place ; elle doit renvoyer de nouveaux "
                         "tenseurs et laisser ses arguments inchangés",
                         "{function} modified its input {where} in place; it must return new tensors and "
                         "leave its arguments unchanged"),
})
