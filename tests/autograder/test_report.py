"""The feedback page and the class report: content, escaping of untrusted text, figures, files."""

from __future__ import annotations

import base64
import math
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from autograder.report import (
    check_stats,
    class_report_html,
    clean_output,
    confusion_png,
    feedback_html,
    learning_curve_png,
    message_kind,
    write_class_report,
    write_feedback,
)
from autograder.results import DEFERRED, FAILED, NOT_IMPLEMENTED, PASSED, CheckResult, Graded

A = "tp1_perceptron"
EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>"><b x="'


def result(name: str, status: str = PASSED, points: float | None = None, max_points: float = 2, *,
           function: str = "update", hidden: bool = True, message: str = "", counterexample=None, details=None,
           title: str | None = None) -> CheckResult:
    earned = (max_points if status == PASSED else 0.0) if points is None else points
    return CheckResult(f"{A}.{function}.{name}", title or f"check {name}", function, status, earned, max_points,
                       hidden, message, counterexample, details or {})


def graded(student: str = "alice", results: list[CheckResult] | None = None, **kw) -> Graded:
    results = results if results is not None else [result("a"), result("b")]
    return Graded(student, kw.pop("assignment", A), results, sum(r.max_points for r in results), **kw)


COUNTEREXAMPLE = {
    "params": {"W": {"shape": [1, 2], "dtype": "float32", "values": [[0.25, -1.5]]},
               "b": {"shape": [2], "dtype": "float32", "values": [0.0, 0.75]}},
    "x": {"shape": [2, 1], "dtype": "float32", "values": [[0.125], [3.0]]},
    "big": {"shape": [100, 10], "dtype": "float64", "summary": {"min": -0.5, "max": 0.4375, "mean": 0.0123}},
    "lr": 0.1,
}
MISMATCH = {"where": [0], "expected": 0.1, "got": 0.2, "max_abs_diff": 0.1, "max_rel_diff": 1.0}


def threshold_details(**changes) -> dict:
    confusion = [[90 if i == j else 1 for j in range(10)] for i in range(10)]
    confusion[4][9] = 23
    details = {"dataset": "mnist-sample", "accuracy": 0.91, "threshold": 0.85, "epochs": [1, 2, 3],
               "test_accuracy": [0.8, 0.88, 0.91], "train_loss": [0.5, 0.3, 0.2], "confusion": confusion,
               "classes": [str(i) for i in range(10)], "seconds": 3.2,
               "budget": {"epochs": 3, "batch_size": 64, "lr": 0.1, "seed": 0}}
    details.update(changes)
    return {k: v for k, v in details.items() if v is not None}


def threshold_result(**changes) -> CheckResult:
    return result("threshold", PASSED, max_points=3, function="train", title="training reaches 85%",
                  details=threshold_details(**changes))


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def images(html: str) -> list[bytes]:
    out = []
    for attrs in Tags(html).named("img"):
        src = attrs["src"] or ""
        assert src.startswith("data:image/png;base64,"), src[:60]
        out.append(base64.b64decode(src.split(",", 1)[1]))
    return out


def text(html: str) -> str:
    """The page's text, tags removed and entities decoded, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- the feedback page ----------------------------------------------------------------------------


def test_correct_submission_shows_full_score_and_every_check():
    g = graded(results=[result("a", title="forward computes y = x W + b", function="forward"),
                        result("b", title="update averages the changes", max_points=3)])
    page = feedback_html(g)
    words = text(page)
    assert "5 / 5" in words
    assert "forward computes y = x W + b" in words and "update averages the changes" in words
    assert "2 réussis" in words and "échoué" not in words
    assert "Plus petite entrée" not in words  # no counterexample section for passed checks
    assert "tp1_perceptron.forward.a" in words and "alice" in words


def test_failed_check_shows_the_counterexample_and_what_differs():
    message = "b differs from the expected value: at index [0] expected 0.1, got 0.2"
    g = graded(results=[result("a"), result("mini_batch", FAILED, message=message, counterexample=COUNTEREXAMPLE,
                                            details=MISMATCH)])
    page = feedback_html(g)
    words = text(page)
    assert "2 / 4" in words and "1 échoué" in words
    assert message in words
    for value in ("0.25", "-1.5", "0.75", "0.125", "3"):  # every value of the minimal example, in a table cell
        assert f"<td>{value}</td>" in page
    assert "forme (1, 2) · float32" in words and "forme (2,) · float32" in words
    assert "min -0.5 · max 0.4375 · moyenne 0.0123" in words  # large tensors are summarised
    assert '<td class="exp">0.1</td>' in page and '<td class="got">0.2</td>' in page
    assert "plus grand écart absolu 0.1" in words and "plus grand écart relatif 1" in words


def test_shape_mismatch_details_side_by_side():
    g = graded(results=[result("shape", FAILED, message="the result has shape (3, 4), expected (3, 5)",
                               details={"got_shape": [3, 4], "expected_shape": [3, 5]})])
    page = feedback_html(g)
    assert re.search(r"<th>forme</th><td class=\"exp\">\(3, 5\)</td><td class=\"got\">\(3, 4\)</td>", page)


def test_hidden_and_visible_checks_are_labelled():
    g = graded(results=[result("secret", FAILED, hidden=True, message="wrong"), result("open", hidden=False)])
    words = text(feedback_html(g))
    assert "tp1_perceptron.update.secret · test caché" in words
    assert "tp1_perceptron.update.open · test visible" in words
    assert "wrong" in words


def test_ungradable_submission_shows_the_reason_once():
    reason = "your notebook's code raised SyntaxError: invalid syntax (line 3 of the extracted code)"
    g = graded(results=[result(n, FAILED, message=reason) for n in "abc"], error=reason)
    page = feedback_html(g)
    assert "Votre rendu n’a pas pu être corrigé" in text(page)
    assert text(page).count(unescape(reason)) == 1  # not repeated on every check
    assert "0 / 6" in text(page)


def test_deferred_check_shows_its_message_and_a_warning():
    g = graded(results=[result("a"), result("gpu", DEFERRED, message="needs GPU", function="train")])
    words = text(feedback_html(g))
    assert "différé" in words and "needs GPU" in words
    assert "la note peut encore changer" in words
    assert "2 / 4" in words


def test_not_implemented_is_not_a_failure():
    g = graded(results=[result("a", NOT_IMPLEMENTED, message="update is not implemented yet")])
    words = text(feedback_html(g))
    assert "1 non implémenté" in words and "échoué" not in words


def test_notes_and_output_are_shown():
    g = graded(notes=["update timed out after 20 s"], output="epoch 1: 0.5\nepoch 2: 0.7\n")
    page = feedback_html(g)
    assert "update timed out after 20 s" in text(page)
    m = re.search(r"<details[^>]*>(.*?)</details>", page, re.S)
    assert m and "epoch 2: 0.7" in m.group(1)


def test_long_output_is_cut_and_cleaned():
    noisy = "\x1b[32mloading 10%\r loading 100%\x1b[0m\n" + "line\n" * 10_000 + "THE END\n"
    shown, cut = clean_output(noisy, limit=2_000)
    assert cut > 0 and len(shown) < 2_200
    assert shown.startswith(" loading 100%\n")  # colours gone, progress bar at its last state
    assert "THE END" in shown and "caractères omis" in shown
    page = feedback_html(graded(output=noisy))
    assert "THE END" in page and "\x1b" not in page and "caractères omis" in page


def test_threshold_run_shows_accuracy_curves_and_confusion():
    g = graded(results=[result("a"), threshold_result()])
    page = feedback_html(g)
    words = text(page)
    assert "Précision de test 91.0 % — seuil 85.0 % atteint" in words
    assert "taille de lot 64" in words and "mnist-sample" in words
    assert "4 pris pour 9 (23 fois)" in words  # the most frequent confusion
    pngs = images(page)
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)


def test_threshold_not_reached():
    g = graded(results=[threshold_result(accuracy=0.5)])
    assert "50.0 % — seuil 85.0 % pas atteint" in text(feedback_html(g))


@pytest.mark.parametrize("changes", [
    {"train_loss": [0.5, math.nan, 0.2]},
    {"test_accuracy": [math.nan, math.nan, math.nan], "train_loss": [math.nan] * 3},
    {"test_accuracy": None},
    {"train_loss": None, "epochs": None},
    {"epochs": [1], "train_loss": [0.4, 0.3, 0.2, 0.1]},  # lengths disagree
    {"test_accuracy": ["bad", None, 0.9]},
    {"confusion": [[1, 2], [3]]},  # ragged
    {"confusion": None, "classes": None},
    {"accuracy": math.nan},
])
def test_threshold_section_survives_missing_or_nan(changes):
    page = feedback_html(graded(results=[threshold_result(**changes)]))
    assert "Entraînement complet avec votre code" in page
    images(page)  # whatever images there are, they are PNG data URIs


def test_plots_skip_what_cannot_be_drawn():
    assert learning_curve_png(threshold_details(train_loss=[0.5, math.nan, 0.2])) is not None
    assert learning_curve_png(threshold_details(test_accuracy=None, train_loss=[math.nan] * 3)) is None
    assert confusion_png(threshold_details(confusion=[[1, 2], [3]])) is None
    assert confusion_png(threshold_details()) is not None


def test_figures_are_not_left_open():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    feedback_html(graded(results=[threshold_result()]))
    class_report_html([graded()])
    assert plt.get_fignums() == before


def test_rendering_is_deterministic():
    g = graded(results=[threshold_result(), result("x", FAILED, counterexample=COUNTEREXAMPLE, details=MISMATCH)])
    assert feedback_html(g) == feedback_html(g)


# --- untrusted text -------------------------------------------------------------------------------


def evil_graded() -> Graded:
    counterexample = {EVIL: {"shape": [1], "dtype": EVIL, "values": [EVIL]}, "s": EVIL, "t": {"type": EVIL, "fields": [EVIL]}}
    results = [result("a", FAILED, message=EVIL, counterexample=counterexample,
                      details={"expected": EVIL, "got": EVIL, EVIL: [EVIL], "violations": [EVIL]}),
               threshold_result(dataset=EVIL, classes=[EVIL] * 10, budget={EVIL: EVIL}),
               result("b", FAILED, message=EVIL)]
    return Graded(EVIL, A, results, 10.0, error="", notes=[EVIL], output=f"{EVIL}\n{EVIL}", seconds=1.0)


def assert_inert(page: str) -> None:
    tags = Tags(page)
    assert not tags.named("script") and "<script" not in page.lower()
    assert not any("x" in attrs for _, attrs in tags.tags)  # no student-made <b x="…">
    for tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert tag != "img" or (attrs.get("src") or "").startswith("data:image/png;base64,")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


def test_feedback_escapes_everything_from_the_submission():
    page = feedback_html(evil_graded())
    assert_inert(page)
    assert text(page).count("<script>alert(1)</script>") >= 8  # name, message, notes, output, values…


def test_feedback_escapes_the_reason_of_an_ungradable_submission():
    g = Graded(EVIL, A, [result("a", FAILED, message=EVIL)], 2.0, error=EVIL)
    assert_inert(feedback_html(g))


def test_class_report_escapes_everything_from_the_submissions():
    bad = evil_graded()
    ungradable = Graded(EVIL + "2", A, [result("a", FAILED, message=EVIL)], 2.0, error=EVIL, notes=[EVIL])
    page = class_report_html([bad, ungradable, graded()])
    assert_inert(page)
    hrefs = [a["href"] for a in Tags(page).named("a") if a["href"] and not a["href"].startswith("#")]
    # a student's folder name is a path segment of the link, never more
    assert all(re.fullmatch(r"[A-Za-z0-9%._~-]+/tp1_perceptron/feedback\.html", h) for h in hrefs), hrefs
    assert "%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in hrefs[0]


def test_pages_are_self_contained():
    for page in (feedback_html(graded(results=[threshold_result()])), class_report_html([graded()])):
        tags = Tags(page)
        assert not tags.named("link") and not tags.named("script") and not tags.named("iframe")
        for _, attrs in tags.tags:
            for name in ("src", "href"):
                value = attrs.get(name) or ""
                assert not re.match(r"[a-z]+:", value) or value.startswith("data:image/png"), value
        assert "default-src 'none'" in page  # a browser would refuse anything external anyway


# --- the class report -----------------------------------------------------------------------------


def a_class() -> list[Graded]:
    """Four gradable submissions and one that could not be graded.

    often fails 3 of 4, sometimes 1 of 4, never 0 of 4 (and 1 not implemented), gpu is deferred."""
    def sub(student, often, sometimes, never, seconds):
        return graded(student, [
            result("never", never, function="forward"),
            result("sometimes", sometimes, message=f"b differs: at index [{len(student)}] expected 0.{len(student)}"),
            result("often", often, message=("wrong sign: expected 1.5, got -1.5" if student != "dan"
                                            else "update raised ValueError: boom")),
            result("gpu", DEFERRED, message="needs GPU", function="train"),
        ], seconds=seconds)

    return [sub("alice", FAILED, PASSED, PASSED, 2.0), sub("bob", FAILED, FAILED, PASSED, 4.0),
            sub("carol", PASSED, PASSED, NOT_IMPLEMENTED, 3.0), sub("dan", FAILED, PASSED, PASSED, 10.0),
            graded("eve", [result(n, FAILED, message="no notebook submitted") for n in ("never", "sometimes", "often")],
                   error="no notebook submitted", seconds=0.5)]


def test_failure_rates_are_right_and_sorted():
    stats = check_stats(a_class())
    assert [(s.check_id.rsplit(".", 1)[1], s.failed, s.graded) for s in stats] == [
        ("often", 3, 4), ("sometimes", 1, 4), ("never", 0, 4), ("gpu", 0, 4)]
    assert [s.failure_rate for s in stats] == [0.75, 0.25, 0.0, 0.0]
    assert stats[2].not_implemented == 1 and stats[3].deferred == 4
    assert stats[0].message == "wrong sign: expected 1.5, got -1.5" and stats[0].message_count == 2

    page = class_report_html(a_class())
    rows = re.findall(r'data-check="tp1_perceptron\.\w+\.(\w+)".*?class="failrate">(\d+)%', page, re.S)
    assert rows == [("often", "75"), ("sometimes", "25"), ("never", "0"), ("gpu", "0")]
    assert "wrong sign: expected 1.5, got -1.5 (2 of 3)" in text(page)


def test_most_common_message_ignores_numbers():
    assert message_kind("at index [3] expected 0.1, got -2e-05") == message_kind("at index [0] expected 7, got 1.5")
    sometimes = [graded(s, [result("x", FAILED, message=f"b differs at index [{i}]")]) for i, s in enumerate("abc")]
    other = graded("d", [result("x", FAILED, message="shape (2,) expected (3,)")])
    (stats,) = check_stats([*sometimes, other])
    assert stats.message == "b differs at index [0]" and stats.message_count == 3


def test_ungradable_submissions_are_listed_and_left_out_of_the_rates():
    page = class_report_html(a_class())
    section = page.split("<h3>Could not be graded</h3>", 1)[1].split("<h3>", 1)[0]
    assert "<td>eve</td><td>no notebook submitted</td>" in section
    assert "alice" not in section
    assert "Over the 4 submission(s) that could be graded" in text(page)


def test_runtimes_and_slowest_students():
    words = text(class_report_html(a_class()))
    # seconds: 2, 4, 3, 10, 0.5 → median 3, max 10, total 19.5
    assert "3.0 s median 10.0 s max 19.5 s total" in words
    assert "Slowest: dan (10.0 s), bob (4.0 s), carol (3.0 s), alice (2.0 s), eve (0.5 s)" in words


def test_histogram_and_summary():
    page = class_report_html(a_class())
    (png,) = images(page)
    assert png.startswith(b"\x89PNG")
    words = text(page)
    assert "5 submissions" in words and "1 could not be graded" in words
    # scores out of 8 (the deferred check earns nothing yet): alice 4, bob 2, carol 4, dan 4, eve 0
    assert "2.8 / 8 mean score" in words and "4 median score" in words


def test_class_report_has_one_section_per_assignment():
    other = graded("alice", [result("z")], assignment="tp2_shallow")
    page = class_report_html([*a_class(), other])
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", page)] == ["tp1_perceptron", "tp2_shallow"]
    assert len(images(page)) == 2


def test_empty_class():
    assert "No graded submissions" in class_report_html([])


# --- files ----------------------------------------------------------------------------------------


def test_write_feedback_and_report(tmp_path):
    g = graded("bob", [result("a"), threshold_result()])
    path = write_feedback(tmp_path, g)
    assert path == tmp_path / "bob" / A / "feedback.html"
    assert path.read_text(encoding="utf-8") == feedback_html(g)
    report = write_class_report(tmp_path, [g])
    assert report == tmp_path / "report.html" and "Class report" in report.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["feedback.html", "report.html"]


def test_long_details_are_cut():
    g = graded(results=[result("a", FAILED, details={"violations": ["torch.nn.functional.linear " * 100]})])
    words = text(feedback_html(g))
    assert "torch.nn.functional.linear" in words and words.count("torch.nn.functional.linear") < 20


def test_threshold_run_that_did_not_run():
    """As autograder/stages/threshold.py reports a deferred or gated run: no accuracy, no curves."""
    deferred = result("threshold", DEFERRED, max_points=3, function="train", message="needs GPU: graded on a GPU machine",
                      details={"dataset": "cifar10", "threshold": 0.7})
    gated = result("threshold", FAILED, max_points=3, function="train", message="not run: fix update first",
                   details={"dataset": "mnist-sample", "threshold": 0.85, "not_run": ["update", "*"]})
    for r, shown, threshold in ((deferred, "différé", "70.0 %"), (gated, "update, règle des API interdites", "85.0 %")):
        page = feedback_html(graded(results=[r]))
        words = text(page)
        assert f"Seuil de précision de test à atteindre : {threshold}" in words
        assert shown in words and r.message in words
        assert "Précision de test —" not in words and not images(page)
    report = text(class_report_html([graded(results=[deferred]), graded("bob", [threshold_result()])]))
    assert "1 / 1 reached the accuracy threshold" in report  # the deferred run is not a run
