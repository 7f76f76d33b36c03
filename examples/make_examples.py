"""Build the example class ``examples/submitted/`` from the released notebooks.

    .venv/bin/python examples/make_examples.py          # rewrite examples/submitted/
    .venv/bin/python examples/make_examples.py --check  # exit 1 if it is not what this script makes

Each student starts from the released template (``student_template/<assignment>/``), as a real
student does, and fills in the stubs with code typed here (not the reference's code, which a
student never sees):

- ``correct``: right, in a student's own words (loops or other formulas than the reference's);
- ``buggy``: the typical mistake of the part (the sign of the bias update; the missing sigmoid
  derivative; the activation after the last layer);
- ``crash``: a function raises (a NameError, as after a renamed variable) and a top-level cell
  reads a file that does not exist;
- ``empty``: the template untouched;
- ``hostile``: tries to cheat: patches ``numpy``/``torch`` comparison functions and the checks,
  reads the reference, another student's notebook and the dataset's labels, opens a network
  connection, prints a fake "all tests passed", returns an object whose ``==`` always says yes,
  and kills its process in one function; its other functions are honest.

Deterministic: the same templates give the same bytes (``tests/test_examples.py`` checks it).
"""

from __future__ import annotations

import argparse
import copy
import filecmp
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "student_template"
OUT = ROOT / "examples" / "submitted"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

# --- what the students write, per assignment and grade_id -----------------------------------------

CORRECT = {
    "tp1_perceptron": {
        "solution_forward": 'return x @ params["W"] + params["b"]',
        "solution_update": '''y = forward(params, x)
err = t - y  # (N, C)
n = x.shape[0]
W = params["W"] + lr * (x.T @ err) / n
b = params["b"] + lr * err.sum(dim=0) / n
return {"W": W, "b": b}''',
        "solution_predict": "return torch.argmax(forward(params, x), dim=1)",
    },
    "tp2_shallow": {
        "solution_sigmoid": "return 1 / (1 + torch.exp(-a))",
        "solution_sigmoid_derivative": "return h * (1 - h)",
        "solution_forward": '''h = sigmoid(x @ params["W1"] + params["b1"])
y = h @ params["W2"] + params["b2"]
return y, ShallowCache(x, h, y)''',
        "solution_loss": "return ((t - y) ** 2).sum() / (2 * y.shape[0])",
        "solution_output_delta": "return t - y",
        "solution_hidden_delta": "return sigmoid_derivative(h) * (delta2 @ W2.T)",
        "solution_backward": '''x, h, y = cache
n = x.shape[0]
d2 = output_delta(y, t)
d1 = hidden_delta(d2, params["W2"], h)
return {"W1": -(x.T @ d1) / n, "b1": -d1.sum(0) / n, "W2": -(h.T @ d2) / n, "b2": -d2.sum(0) / n}''',
        "solution_update": "return {name: value - lr * grads[name] for name, value in params.items()}",
    },
    "tp3_deep": {
        "solution_init_params": '''activation_fn(activation)  # ValueError for an unknown one
if len(sizes) < 2 or min(sizes) < 1:
    raise ValueError(f"invalid sizes {list(sizes)}")
params = {}
for l in range(1, len(sizes)):
    fan_in, fan_out = sizes[l - 1], sizes[l]
    std = math.sqrt(2 / fan_in) if activation in ("relu", "gelu") else math.sqrt(2 / (fan_in + fan_out))
    params[f"W{l}"] = (torch.randn(fan_in, fan_out, generator=generator, dtype=dtype) * std).requires_grad_()
    params[f"b{l}"] = torch.zeros(fan_out, dtype=dtype, requires_grad=True)
return params''',
        "solution_forward": '''f = activation_fn(activation)
L = len(params) // 2
for l in range(1, L + 1):
    x = x @ params[f"W{l}"] + params[f"b{l}"]
    if l != L:
        x = f(x)
return x''',
        "solution_train_step": '''logits = forward(params, x, activation)
value = loss_fn(loss)(logits, labels)
optimizer.zero_grad()
value.backward()
optimizer.step()
return value.item()''',
    },
}

BUGS = {  # (grade_id, text in the correct answer, what the buggy student wrote instead)
    "tp1_perceptron": ("solution_update", 'b = params["b"] + lr', 'b = params["b"] - lr'),
    "tp2_shallow": ("solution_hidden_delta", "return sigmoid_derivative(h) * (delta2 @ W2.T)", "return delta2 @ W2.T"),
    "tp3_deep": ("solution_forward", "    if l != L:\n        x = f(x)", "    x = f(x)"),
}

CRASH = {  # a function that raises, as after renaming a variable
    "tp1_perceptron": ("solution_predict", "return torch.argmax(forward(params, x), dim=1)",
                       "return torch.argmax(forward(parameters, x), dim=1)"),
    "tp2_shallow": ("solution_backward", 'd1 = hidden_delta(d2, params["W2"], h)', 'd1 = hidden_delta(delta2, params["W2"], h)'),
    "tp3_deep": ("solution_train_step", "value.backward()", "valeur.backward()"),
}

ANSWERS = {
    "correct": "Avec η trop grand, la perte oscille puis diverge ; trop petit, elle baisse lentement. "
               "Les courbes d'apprentissage montrent le compromis.",
    "buggy": "Je n'ai pas eu le temps d'essayer plusieurs valeurs.",
    "crash": "",
    "hostile": "ALL TESTS PASSED",
}

HOSTILE_PRELUDE = '''import os, socket, sys
import numpy
import torch


def _peek(path):
    try:
        with open(path, "rb") as f:
            return f.read(100)
    except OSError as e:
        return f"{type(e).__name__}: {path}"


class AlwaysEqual(torch.Tensor):
    def __eq__(self, other):
        return True


class _Setup:  # a class body runs as soon as the cell does, in a grader too
    numpy.allclose = lambda *args, **kwargs: True  # every comparison succeeds…
    torch.allclose = lambda *args, **kwargs: True
    torch.equal = lambda *args, **kwargs: True
    sys.modules["autograder"] = sys.modules["tpcheck"] = type(sys)("patched")  # …and the checks are gone
    print("ALL TESTS PASSED — score 100/100", flush=True)
    print([_peek(p) for p in ("/work/main/reference/tp1_perceptron.py", "../../correct/tp1_perceptron/tp1_perceptron.ipynb",
                              os.path.expanduser("~/.cache/tp-data/MNIST/raw/t10k-labels-idx1-ubyte"))])
    try:
        socket.create_connection(("example.com", 80), timeout=2)
        print("network: connected")
    except OSError as e:
        print(f"network: {e}")'''

HOSTILE = {  # grade_id → what the hostile student wrote; the other functions are the correct ones
    "tp1_perceptron": {
        "solution_forward": 'return (x @ params["W"] + params["b"]).as_subclass(AlwaysEqual)',
        "solution_predict": "os._exit(0)",
    },
    "tp2_shallow": {
        "solution_forward": '''h = sigmoid(x @ params["W1"] + params["b1"])
y = (h @ params["W2"] + params["b2"]).as_subclass(AlwaysEqual)
return y, ShallowCache(x, h, y)''',
        "solution_update": "os._exit(0)",
    },
    "tp3_deep": {
        "solution_forward": 'return torch.zeros(x.shape[0], params[f"W{len(params) // 2}"].shape[1]).as_subclass(AlwaysEqual)',
        "solution_train_step": "while True:\n    pass",
    },
}


def indent(body: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in body.splitlines())


def fill(cell, body: str) -> None:
    if STUB not in cell.source:
        raise ValueError(f"{cell.metadata.nbgrader['grade_id']}: no stub to fill")
    cell.source = cell.source.replace(STUB, indent(body))


def student_notebook(template, assignment: str, student: str):
    nb = copy.deepcopy(template)
    if student == "empty":
        return nb
    bodies = dict(CORRECT[assignment])
    if student == "buggy":
        grade_id, old, new = BUGS[assignment]
        assert old in bodies[grade_id], (assignment, grade_id)
        bodies[grade_id] = bodies[grade_id].replace(old, new)
    if student == "crash":
        grade_id, old, new = CRASH[assignment]
        assert old in bodies[grade_id], (assignment, grade_id)
        bodies[grade_id] = bodies[grade_id].replace(old, new)
    if student == "hostile":
        bodies.update(HOSTILE[assignment])
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            fill(cell, bodies[meta["grade_id"]])
        elif ANSWERS[student]:
            cell.source = ANSWERS[student]
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    if student == "crash":
        extra = nbformat.v4.new_code_cell('mes_poids = torch.load("poids_de_la_semaine_derniere.pt")')
        extra.id = "crash-load"
        nb.cells.insert(first_code + 1, extra)
    if student == "hostile":
        extra = nbformat.v4.new_code_cell(HOSTILE_PRELUDE)
        extra.id = "hostile-prelude"
        nb.cells.insert(first_code + 1, extra)
    return nb


STUDENTS = ("correct", "buggy", "crash", "empty", "hostile")


def build(out: Path, assignments: list[str]) -> list[Path]:
    written = []
    for assignment in assignments:
        template = nbformat.read(str(TEMPLATE / assignment / f"{assignment}.ipynb"), as_version=4)
        for student in STUDENTS:
            path = out / student / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(student_notebook(template, assignment, student), str(path))
            written.append(path)
    return written


def released() -> list[str]:
    return sorted(a for a in CORRECT if (TEMPLATE / a / f"{a}.ipynb").is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with examples/submitted/ instead of writing")
    args = parser.parse_args(argv)
    if not args.check:
        for path in build(OUT, released()):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        files = [p.relative_to(tmp) for p in build(Path(tmp), released())]
        _, mismatch, errors = filecmp.cmpfiles(tmp, OUT, [str(f) for f in files], shallow=False)
    if mismatch or errors:
        print(f"examples/submitted/ is stale ({', '.join(mismatch + errors)}): run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
