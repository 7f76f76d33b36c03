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
