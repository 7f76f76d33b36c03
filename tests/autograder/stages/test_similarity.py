"""Similar code across a class: normalised by AST, compared by token stream, never a penalty."""

from __future__ import annotations

from autograder.stages.similarity import MIN_TOKENS, THRESHOLD, Pair, normalise, similar_pairs

ALICE = '''
import torch

def update(params, x, t, lr):
    """One step of the delta rule."""
    y = x @ params["W"] + params["b"]
    err = t - y  # the error
    n = x.shape[0]
    W = params["W"] + lr * (x.T @ err) / n
    b = params["b"] + lr * err.sum(dim=0) / n
    return {"W": W, "b": b}
'''

# ALICE's function with every local renamed, annotations and another docstring, comments moved,
# other quotes, blank lines and spacing
BOB = """
import torch
def update(p: dict, inputs: torch.Tensor, targets, eta: float) -> dict:
    '''Delta rule, my version'''

    # forward pass first
    out = inputs@p['W']+p['b']
    delta = targets - out


    size = inputs.shape[0]
    new_w = p['W'] + eta*(inputs.T @ delta)/size   # weights
    new_b = p['b'] + eta*delta.sum(dim = 0)/size
    return {'W': new_w, 'b': new_b}
"""

# the same rule written another way: mean over the batch, an explicit outer product in a loop
CAROL = '''
def update(params, x, t, lr):
    W, b = params["W"].clone(), params["b"].clone()
    for i in range(x.shape[0]):
        e = t[i] - (x[i] @ params["W"] + params["b"])
        W += lr * torch.outer(x[i], e) / x.shape[0]
        b += lr * e / x.shape[0]
    return {"W": W, "b": b}
'''

STUB = '''
def update(params, x, t, lr):
    """One step of the delta rule on a mini-batch."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''


def test_renamed_variables_comments_and_layout_are_identical():
    """Are two definitions that differ only in names, docstring, annotations, comments, quotes and
    whitespace found identical?"""
    assert similar_pairs({"alice": ALICE, "bob": BOB}, ["update"]) == [Pair("update", "alice", "bob", 1.0, True)]


def test_a_near_copy_is_similar_but_not_identical():
    """Does one changed operator leave a pair reported above the threshold, not identical?"""
    dave = ALICE.replace("err.sum(dim=0) / n", "err.sum(dim=0) * n")
    (pair,) = similar_pairs({"alice": ALICE, "dave": dave}, ["update"])
    assert not pair.identical and THRESHOLD <= pair.similarity < 1.0


def test_a_different_implementation_is_not_flagged():
    """Is a genuinely different implementation of the same rule left alone?"""
    assert similar_pairs({"alice": ALICE, "carol": CAROL}, ["update"]) == []
    # the evidence line of THRESHOLD: an independent write-up scores well below it
    import difflib

    a, c = normalise_update(ALICE), normalise_update(CAROL)
    assert difflib.SequenceMatcher(None, a.tokens, c.tokens, autojunk=False).ratio() < 0.75


def normalise_update(code: str):
    import ast

    return normalise(next(n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)))


def test_stubs_template_code_and_one_liners_are_not_compared():
    """Are untouched stubs, code identical to what the template gives, and definitions too short to
    mean anything skipped?"""
    assert similar_pairs({"e1": STUB, "e2": STUB, "e3": STUB.replace("()", "('todo')")}, ["update"]) == []
    assert similar_pairs({"alice": ALICE, "bob": BOB}, ["update"], template=ALICE) == []
    short = "def forward(params, x):\n    return x @ params['W'] + params['b']\n"
    assert normalise_update(short.replace("forward", "update")).size < MIN_TOKENS <= normalise_update(ALICE).size
    assert similar_pairs({"a": short, "b": short}, ["forward"]) == []


def test_pairs_are_sorted_and_each_function_judged_apart():
    """With three students, two functions and a missing or broken definition: one pair per similar
    couple, by function then similarity, the students in order."""
    predict = "\ndef predict(params, x):\n    scores = x @ params['W'] + params['b']\n    best = torch.argmax(scores, dim=1)\n" \
              "    return best.to(torch.int64)\n"
    subs = {"zoe": BOB + predict, "alice": ALICE + predict, "carol": CAROL, "broken": "def update(:\n"}
    pairs = similar_pairs(subs, ["update", "predict"])
    assert [(p.function, p.student_a, p.student_b, p.identical) for p in pairs] == [
        ("update", "alice", "zoe", True), ("predict", "alice", "zoe", True)]


# --- in the class report ----------------------------------------------------------------------------


def report_page(similarity):
    from autograder.report import class_report_html
    from autograder.results import PASSED, CheckResult, Graded

    def graded(student):
        return Graded(student, "tp1_perceptron", [CheckResult("tp1_perceptron.update.a", "a", "update", PASSED, 2, 2, True)], 2)

    return class_report_html([graded("alice"), graded("bob"), graded(EVIL)], similarity=similarity)


EVIL = '<script>alert(1)</script>"><b x="'


class Page:
    """The start tags and the inline scripts of a page, as a browser's tokenizer would see them."""

    def __init__(self, html: str):
        from html.parser import HTMLParser

        page = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                page.tags.append((tag, dict(attrs)))
                self.in_script = tag == "script"

            def handle_data(self, data):
                if getattr(self, "in_script", False):
                    page.scripts.append(data)

            def handle_endtag(self, tag):
                self.in_script = False

        self.tags, self.scripts = [], []
        Parser(convert_charrefs=True).feed(html)

    def named(self, tag):
        return [attrs for t, attrs in self.tags if t == tag]


def test_the_report_shows_a_sortable_table_of_similar_pairs():
    """Does each assignment get a table of its pairs, most similar first, with sortable headers (a
    button in each, the numeric column marked), and one script allowed by its hash alone?"""
    import base64
    import hashlib
    import re

    pairs = similar_pairs({"alice": ALICE, "bob": BOB, EVIL: ALICE.replace("err.sum(dim=0) / n", "err.sum(dim=0) * n")},
                          ["update"])
    page = report_page({"tp1_perceptron": pairs})
    assert "Similar code (to read, never a penalty)" in page and "never a penalty" in page
    table = re.search(r'<table class="data sortable similarity">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr><td>.*?</tr>", table, re.S)
    assert len(rows) == 3 and "identical" in rows[0] and "alice" in rows[0] and "bob" in rows[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table  # a student's name is text, never markup
    parsed = Page(table)
    assert len(parsed.named("th")) == 4 and len(parsed.named("button")) == 4
    assert [th.get("data-type") for th in parsed.named("th")] == [None, None, None, "number"]
    assert [th.get("aria-sort") for th in parsed.named("th")] == [None, None, None, "descending"]
    sort_keys = [float(td["data-sort"]) for td in parsed.named("td") if "data-sort" in td]
    assert sort_keys == sorted(sort_keys, reverse=True) and sort_keys[0] == 1.0
    whole = Page(page)
    (script,) = whole.scripts  # ours, and only ours: the student's <script> is text
    assert "table.sortable" in script and len(whole.named("script")) == 1
    (csp,) = [m["content"] for m in whole.named("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1]


def test_the_report_without_similarity_has_no_script_and_says_when_nothing_is_similar():
    """Do existing callers (no similarity) get the page as before, scriptless, and an assignment with
    no similar pair a line saying so?"""
    plain = report_page(None)
    assert "<script" not in plain.replace("&lt;script", "") and "Similar code" not in plain and "script-src" not in plain
    empty = report_page({"tp1_perceptron": []})
    assert "No pair of submissions is that similar." in empty


def test_class_similarity_reads_the_example_class_without_running_it():
    """On the example class (one set of answers typed for each student, with its bugs): is the
    buggy update found near-identical to the correct one, and the untouched template never?"""
    from pathlib import Path

    from autograder.stages.similarity import class_similarity

    root = Path(__file__).resolve().parents[3]
    pairs = class_similarity(root / "examples" / "submitted", ["tp1_perceptron"])["tp1_perceptron"]
    by = {(p.function, p.student_a, p.student_b): p for p in pairs}
    near = by[("update", "buggy", "correct")]
    assert not near.identical and THRESHOLD <= near.similarity < 1
    assert all("empty" not in (p.student_a, p.student_b) for p in pairs)
