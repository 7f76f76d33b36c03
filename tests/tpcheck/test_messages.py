"""The message catalog (tpcheck.messages): French by default, English by configuration, the same
fields in both; the visible checks speak it."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

import autograder.messages  # noqa: F401 - registers the grader's messages in the catalog
from autograder import checks
from reference import tp1_perceptron as r1
from tpcheck import messages
from tpcheck.messages import CATALOG, say, set_language
from tpcheck.student import CheckFailed, check, report

TEMPLATE = Path(__file__).resolve().parents[2] / "student_template"
BANK = TEMPLATE / "tp1_perceptron" / "examples.npz"


def _fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("message_id", sorted(CATALOG))
def test_every_message_has_french_and_english_with_the_same_fields(message_id):
    entry = CATALOG[message_id]
    assert set(entry) == set(messages.LANGUAGES), message_id
    assert entry["fr"].strip() and entry["en"].strip()
    assert _fields(entry["fr"]) == _fields(entry["en"]), message_id


def test_the_language_is_french_by_default_english_by_the_environment_or_the_call(monkeypatch):
    monkeypatch.delenv(messages.ENV, raising=False)
    assert messages.language() == "fr" and say("student.passed", function="f") == "f : réussi"
    monkeypatch.setenv(messages.ENV, "en")
    assert say("student.passed", function="f") == "f: passed"
    set_language("fr")
    assert say("student.passed", function="f") == "f : réussi"
    with pytest.raises(ValueError, match="unknown language"):
        set_language("de")
    monkeypatch.setenv(messages.ENV, "klingon")
    set_language(None)
    with pytest.raises(ValueError, match="TPCHECK_LANG"):
        messages.language()


@pytest.mark.parametrize("name", ["tp1_perceptron", "tp2_shallow", "tp2b_modules", "tp3_deep", "tp4_cnn"])
def test_every_check_has_a_french_title(name):
    assignment = checks.load(name)
    for c in [*assignment.checks, assignment.threshold]:
        assert c.fr, c
        set_language("fr")
        assert c.title == c.fr
        set_language("en")
        assert c.title == c.english


def _bias_sign(params, x, t, lr):
    new = r1.update(params, x, t, lr)
    return {**new, "b": params["b"] - (new["b"] - params["b"])}


def test_the_visible_check_speaks_french_by_default(monkeypatch):
    monkeypatch.delenv(messages.ENV, raising=False)
    ns = {**vars(r1), "update": _bias_sign}
    text = str(report("update", ns, bank=BANK))
    assert "exemple fixe 1/" in text and "diffère de la valeur attendue" in text and "update : ÉCHEC" in text
    assert "    entrée :" in text and "une mise à jour rapproche chaque sortie de sa cible" in text
    assert "  W : forme (" in text
    for english in ("fixed example", "differs from", "FAILED", "input:", "passed", "moves every output", "shape ("):
        assert english not in text, english
    with pytest.raises(CheckFailed, match="ÉCHEC"):
        check("update", ns, bank=BANK)
    stub = {**vars(r1), "update": lambda params, x, t, lr: (_ for _ in ()).throw(NotImplementedError)}
    assert str(report("update", stub, bank=BANK)) == "update : pas encore implémentée"


def test_the_visible_check_speaks_english_with_tpcheck_lang_en(monkeypatch):
    monkeypatch.setenv(messages.ENV, "en")
    text = str(report("update", {**vars(r1), "update": _bias_sign}, bank=BANK))
    assert "fixed example 1/" in text and "differs from the expected value" in text and "update: FAILED" in text
