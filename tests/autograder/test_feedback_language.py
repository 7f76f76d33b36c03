"""The feedback page speaks the student's language: a buggy tp1 notebook graded in the grader's
process in French (the default) shows French titles and messages, and no English ones; English
by configuration. A details dict is a small table, never raw JSON."""

from __future__ import annotations

import pytest

from autograder import checks
from autograder.report import feedback_html
from autograder.results import Graded
from autograder.stages.run_checks import run_assignment
from autograder.submission import InProcess
from reference import tp1_perceptron as p1
from tpcheck import messages

ENGLISH = ("differs from the expected value", "largest absolute difference", "not judged", "update applies",
           "leaves its arguments unchanged", "at index", "uses only the APIs")


def _bias_sign(params, x, t, lr):
    new = p1.update(params, x, t, lr)
    return {**new, "b": params["b"] - (new["b"] - params["b"])}


def _page(lang: str) -> tuple[str, list]:
    messages.set_language(lang)
    assignment = checks.load("tp1_perceptron")
    results = run_assignment(assignment, InProcess({**vars(p1), "update": _bias_sign}), "dev")
    graded = Graded("alice", assignment.name, results, assignment.max_points)
    return feedback_html(graded), results


def test_a_buggy_tp1_notebook_gets_a_french_page():
    page, results = _page("fr")
    single = next(r for r in results if r.check_id == "tp1_perceptron.update.single_example")
    assert single.status == "failed" and single.title.startswith("update applique Δw_ij")
    assert "diffère de la valeur attendue" in single.message
    assert "update applique Δw_ij = η x_j (t_i − y_i) à un exemple" in page
    assert "diffère de la valeur attendue" in page and "plus grande différence absolue" in page
    for english in ENGLISH:
        assert english not in page, english


def _stub(params, x):
    raise NotImplementedError()


def _crash(params, x):
    raise RuntimeError("oops")


def test_the_grading_run_speaks_french_too():
    """What run_checks itself says (a stub, a crash, nothing working yet) is French as well."""
    messages.set_language("fr")
    assignment = checks.load("tp1_perceptron")
    stub = run_assignment(assignment, InProcess({**vars(p1), "forward": _stub, "update": _stub, "predict": _stub}), "dev")
    assert any(r.message == "forward n'est pas encore implémentée" for r in stub)
    assert any(r.message == "aucune fonction notée ne marche encore : rien à juger" for r in stub)
    crash = run_assignment(assignment, InProcess({**vars(p1), "forward": _crash}), "dev")
    assert any(r.message.startswith("forward a levé RuntimeError : oops") for r in crash)
    missing = run_assignment(assignment, InProcess({k: v for k, v in vars(p1).items() if k != "predict"}), "dev")
    assert any("introuvable dans votre notebook" in r.message for r in missing)


def test_english_by_configuration(monkeypatch):
    monkeypatch.setenv(messages.ENV, "en")
    messages.set_language(None)
    assignment = checks.load("tp1_perceptron")
    results = run_assignment(assignment, InProcess({**vars(p1), "update": _bias_sign}), "dev")
    single = next(r for r in results if r.check_id == "tp1_perceptron.update.single_example")
    assert single.title.startswith("update applies Δw_ij") and "differs from the expected value" in single.message


@pytest.mark.parametrize("details", [{"relative_errors": {"W1": 0.0, "b1": 0.25}},
                                     {"max_abs": {"W": {"row": 1.5}, "b": 2.0}}])
def test_a_details_dict_is_a_small_table_not_raw_json(details):
    from autograder.report.fragments import render_details

    html = str(render_details(details))
    assert "{" not in html and '"' not in html.replace('class="kv"', "").replace('class="kv map"', "")
    key = next(iter(details))
    for k, v in details[key].items():
        assert f"<th>{k}</th>" in html
        if not isinstance(v, dict):
            assert f"<td>{v:g}</td>" in html
    if key == "max_abs":
        assert html.count("<table") == 3  # the outer table, the max_abs table, W's nested table


def test_the_class_report_keeps_the_english_titles():
    from autograder.report.classreport import check_stats

    messages.set_language("fr")
    assignment = checks.load("tp1_perceptron")
    results = run_assignment(assignment, InProcess({**vars(p1), "update": _bias_sign}), "dev")
    stats = {s.check_id: s.title for s in check_stats([Graded("alice", assignment.name, results, assignment.max_points)])}
    assert stats["tp1_perceptron.update.single_example"] == "update applies Δw_ij = η x_j (t_i − y_i) to one example"
