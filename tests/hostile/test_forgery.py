"""Forgeries of the grader's own code inside the sandbox (issue "Make the trust boundary real", §4).

Each fixture is the honest Part 1 notebook whose code rewrites something of ours that runs beside
it in the student's process (the call function, the forbidden-API recorder, the wire encoder, the
training recipe), or reaches for the driver's process. The class is graded once with two honest
students: the honest rows are those of a class without attackers; each attacker gets exactly the
points of the checks it does not break, with the reason named; a second grading of the attackers
whose threads race the driver gives the same grades.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest
from classes import rows, write_class
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import checks
from autograder.grade import grade_class
from autograder.stages.run_checks import run_check
from autograder.stages.sandbox import Limits, Sandbox, bwrap_available
from reference import tp1_perceptron as p1

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

A = "tp1_perceptron"
SPEC = checks.load(A)
FUNCTIONS = ("forward", "update", "predict")
HONEST = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in FUNCTIONS}
LIMITS = Limits(call_seconds=4, startup_seconds=60, submission_seconds=120)
HONEST_STUDENTS = ("honest", "honest_too")


def notebook(prelude: str = "", **bodies: str):
    """The honest notebook with a prelude (run at load, inside a class body: the extractor keeps
    definitions only) and some functions' bodies replaced."""
    cells = [new_markdown_cell("# TP 1"), new_code_cell("import torch")]
    if prelude:
        cells.append(new_code_cell("class Prelude:\n" + textwrap.indent(textwrap.dedent(prelude), "    ")))
    for f in FUNCTIONS:
        source = HONEST[f]
        if f in bodies:
            header = source[: source.index('"""', source.index('"""') + 3) + 3]
            source = header + "\n" + textwrap.indent(textwrap.dedent(bodies[f]), "    ")
        cells.append(new_code_cell(source))
    return new_notebook(cells=cells)


MUTATING_UPDATE = """
n = x.shape[0]
error = t - forward(params, x)
new = {"W": torch.addmm(params["W"], x.T, error, alpha=lr / n), "b": params["b"] + lr * error.mean(0)}
params["b"].add_(1.0)  # changes the caller's bias in place
return new
"""
RESTORING_UPDATE = """
import threading, time
n = x.shape[0]
error = t - forward(params, x)
new = {"W": torch.addmm(params["W"], x.T, error, alpha=lr / n), "b": params["b"] + lr * error.mean(0)}
saved, b = params["b"].clone(), params["b"]
b.add_(1.0)
threading.Thread(target=lambda: (time.sleep(0.5), b.copy_(saved))).start()  # "nothing happened"
return new
"""
SPOILED_FORWARD = """
import threading, time
out = torch.addmm(params["b"], x, params["W"])
def spoil():
    time.sleep(0.05)
    for _ in range(100):
        out.add_(1.0)
        time.sleep(0.001)
threading.Thread(target=spoil).start()
return out
"""
CLEAN_COPIES = """
import sys
for name in ("tpworker.worker", "tpworker.student"):
    module = sys.modules.get(name)
    if module is not None and hasattr(module, "_call"):
        def wrapped(namespace, request, *rest, _original=module._call):
            import copy
            clean = copy.deepcopy(request["data"]["args"])
            answer = _original(namespace, request, *rest)
            if answer.get("ok"):
                answer["data"]["inputs_after"] = list(clean)  # "the arguments are as they were"
            return answer
        module._call = wrapped
"""
SILENCE_RECORDER = """
import tpcheck.forbidden as forbidden
forbidden.CallRecorder.__torch_function__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))
"""
HIDDEN_LINEAR = """
F = getattr(__import__("torch"), "".join(["n", "n"])).functional
return F.linear(x, params["W"].T, params["b"])
"""
ENCODER_FLAGS = """
import tpworker.wire as wire
def encode(value, arrays, _original=wire.encode):
    node = _original(value, arrays)
    if isinstance(node, dict) and "tensor" in node:
        node.pop("requires_grad", None)  # "nothing of mine needs a gradient"
        node.pop("grad_fn", None)
        node.pop("is_leaf", None)
    return node
wire.encode = encode
"""
KNN_RECIPE = """
import sys, torch
def nearest(ns, data, budget):
    x, y, x_test = data["x_train"].float(), data["y_train"], data["x_test"].float()
    guess = y[torch.cdist(x_test, x).argmin(1)]
    return {"before": torch.zeros(len(x_test), dtype=torch.int64), "predictions": guess.repeat(int(budget["epochs"]), 1),
            "train_loss": [0.0] * int(budget["epochs"])}
for name in ("tpworker.recipes",):
    if name in sys.modules:
        sys.modules[name].RECIPES["perceptron"] = nearest
"""
NAN_ON_BIG_INPUTS = """
if len(x) > 500:  # the training run's inputs: the checks never send so many
    return torch.full((len(x), params["W"].shape[1]), float("nan"))
return torch.addmm(params["b"], x, params["W"])
"""
PATCH_DRIVER = """
import sys
try:
    import tpworker.driver as driver
    driver._after = lambda original, placed, reported, read: original  # in our process only
except Exception:
    pass
"""

# name → (notebook, the checks it loses (ids without the assignment) or "functions:" names, a phrase its results name)
FIXTURES = {
    "call_function_reports_clean_copies": (notebook(CLEAN_COPIES, update=MUTATING_UPDATE), {"update.no_mutation"},
                                           "modified its input"),
    "patches_the_driver_module": (notebook(PATCH_DRIVER, update=MUTATING_UPDATE), {"update.no_mutation"},
                                  "modified its input"),
    "thread_restores_the_argument": (notebook(update=RESTORING_UPDATE), {"update.no_mutation"}, "modified its input"),
    "thread_spoils_its_output": (notebook(forward=SPOILED_FORWARD), set(), ""),
    "silenced_recorder_hides_linear": (notebook(SILENCE_RECORDER, forward=HIDDEN_LINEAR), {"forward", "update", "predict"},
                                       "recorder was silenced"),
    "silenced_recorder_alone": (notebook(SILENCE_RECORDER), {"forward", "update", "predict"}, "recorder was silenced"),
    "encoder_rewritten": (notebook(ENCODER_FLAGS), {"forward", "update", "predict"}, "changed how its answers are encoded"),
    "recipe_replaced_by_nearest_neighbour": (notebook(KNN_RECIPE, forward=NAN_ON_BIG_INPUTS), {"train"},
                                             "did not start from the given parameters"),
    "reads_driver_memory": (notebook(predict="import os\nopen(f'/proc/{os.getppid()}/mem', 'rb').read(8)\n"
                                             "return forward(params, x).argmax(1)"), {"predict"}, "PermissionError"),
    "reads_driver_environ": (notebook(predict="import os\nopen(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
                                              "return forward(params, x).argmax(1)"), {"predict"}, "PermissionError"),
    "signals_the_driver": (notebook(predict="import os, signal\nfor s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):\n"
                                            "    os.kill(os.getppid(), s)\nreturn forward(params, x).argmax(1)"), set(), ""),
    "imports_our_modules_harmlessly": (notebook("import tpworker.student, tpworker.wire, tpcheck.forbidden"), set(), ""),
}
RACING = ("thread_restores_the_argument", "thread_spoils_its_output")


def expected_points(lost: set[str]) -> float:
    """Full marks minus the lost checks (a bare function name: all its checks) and, when one of
    them belongs to a function the training run uses (or is the run itself), the run's points;
    nothing at all when every function is lost (as for a notebook with nothing of its own)."""
    if lost >= set(FUNCTIONS):
        return 0.0
    gone = [c for c in SPEC.checks if c.function in lost or f"{c.function}.{c.name}" in lost]
    points = SPEC.max_points - sum(c.points for c in gone)
    if "train" in lost or {c.function for c in gone} & set(SPEC.threshold.uses):
        points -= SPEC.threshold.points
    return points




@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    alone, mixed, again = (tmp_path_factory.mktemp(n) for n in ("honest_only", "mixed", "again"))
    write_class(alone, {s: notebook() for s in HONEST_STUDENTS}, A)
    write_class(mixed, {**{s: notebook() for s in HONEST_STUDENTS}, **{k: v[0] for k, v in FIXTURES.items()}}, A)
    write_class(again, {k: FIXTURES[k][0] for k in RACING}, A)
    grade = lambda root: grade_class(root / "submitted", [A], root / "out", jobs=2, limits=LIMITS, progress=False)  # noqa: E731
    grade(alone)
    results = grade(mixed)
    grade(again)
    return rows(alone / "out"), rows(mixed / "out"), rows(again / "out"), {g.student: g for g in results}


def test_at_least_ten_forgeries():
    assert len(FIXTURES) >= 10


def test_honest_rows_do_not_change(graded):
    alone, mixed, _, _ = graded
    assert set(mixed) == set(FIXTURES) | set(HONEST_STUDENTS)
    for student in HONEST_STUDENTS:
        assert mixed[student] == alone[student]
        assert float(mixed[student]["score"]) == SPEC.max_points


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_forgery_earns_only_its_honest_points(graded, name):
    _, mixed, _, results = graded
    g = results[name]
    _, lost, reason = FIXTURES[name]
    failed = {r.check_id: r.message for r in g.results if not r.passed}
    assert g.score == expected_points(lost), failed
    everything = " ".join([g.error, *g.notes, *(r.message for r in g.results)])
    assert reason in everything, everything


@pytest.mark.parametrize("name", RACING)
def test_racing_threads_give_the_same_grade_twice(graded, name):
    _, mixed, again, _ = graded
    assert again[name]["score"] == mixed[name]["score"]


# --- Part 3's leaf check through the sandbox ------------------------------------------------------

TP3 = checks.load("tp3_deep")
INIT = """
import torch

def init_params(sizes, generator=None):
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = BODY
        params[f"b{l}"] = torch.zeros(fan_out, requires_grad=True)
    return params
"""


@pytest.mark.parametrize("weights, prelude, passes, why", [
    ("torch.randn(fan_in, fan_out, requires_grad=True)", "", True, ""),
    ("torch.randn(fan_in, fan_out, requires_grad=True) * fan_in ** -0.5", "", False, "should be a leaf tensor"),
    ("torch.randn(fan_in, fan_out) * fan_in ** -0.5", "", False, "should be a leaf tensor"),
    ("torch.randn(fan_in, fan_out) * fan_in ** -0.5", "class P:\n" + textwrap.indent(ENCODER_FLAGS.replace(
        'node.pop("requires_grad", None)  # "nothing of mine needs a gradient"', 'node["requires_grad"] = True'), "    "),
     False, "changed how its answers are encoded"),
])
def test_the_leaf_check_fires_through_the_sandbox(weights, prelude, passes, why):
    """A non-leaf initial weight (``randn(..., requires_grad=True) * std``) fails TP3's leaf check
    through the sandbox as it does in-process; flagging every tensor from a rewritten encoder is
    caught by the encoder's canary."""
    check = next(c for c in TP3.checks if c.name == "random_trainable")
    with Sandbox(prelude + INIT.replace("BODY", weights), limits=LIMITS) as sb:
        result = run_check(check, sb, TP3)
    assert result.passed is passes and why in result.message, result.message
