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

# Part 2b's graded names are classes: one body per method stub, in the order of the template
CORRECT["tp2b_modules"] = {
    "solution_Linear": [
        """super().__init__()
limit = 1.0 / math.sqrt(D)
self.W = torch.empty(D, M, dtype=dtype).uniform_(-limit, limit, generator=generator)
self.b = torch.zeros(M, dtype=dtype)
self.gW = torch.zeros(D, M, dtype=dtype)
self.gb = torch.zeros(M, dtype=dtype)""",
        'return {"W": self.W, "b": self.b}',
        'return {"W": self.gW, "b": self.gb}',
        "self.inp = x\nreturn x @ self.W + self.b",
        "self.gW = self.inp.t() @ delta\nself.gb = delta.sum(dim=0)\nreturn delta @ self.W.t()",
    ],
    "solution_Sigmoid": ["self.x = x\nself.out = 1 / (1 + torch.exp(-x))\nreturn self.out",
                         "return delta * self.out * (1 - self.out)"],
    "solution_Tanh": ["self.out = torch.tanh(x)\nreturn self.out", "return delta * (1 - self.out ** 2)"],
    "solution_ReLU": ["self.positive = x > 0\nreturn x * self.positive", "return delta * self.positive"],
    "solution_GELU": [
        "self.x = x\nreturn 0.5 * x * (1 + torch.tanh(GELU_C * (x + 0.044715 * x ** 3)))",
        """x = self.x
th = torch.tanh(GELU_C * (x + 0.044715 * x ** 3))
return delta * (0.5 * (1 + th) + 0.5 * x * (1 - th ** 2) * GELU_C * (1 + 0.134145 * x ** 2))""",
    ],
    "solution_Dropout": [
        """super().__init__()
self.p = p
self.generator = None if seed is None else torch.Generator().manual_seed(seed)""",
        """if not self.training or self.p == 0:
    self.mask = torch.ones_like(x)
else:
    self.mask = (torch.rand(x.shape, generator=self.generator) > self.p).to(x.dtype) / (1 - self.p)
return x * self.mask""",
        "return delta * self.mask",
    ],
    "solution_SoftmaxCrossEntropy": [
        """m = z.max(dim=1, keepdim=True).values
logsumexp = m.squeeze(1) + torch.log(torch.exp(z - m).sum(dim=1))
self.p = torch.exp(z - logsumexp[:, None])
self.labels = labels
return (logsumexp - z[torch.arange(len(z)), labels]).mean()""",
        """g = self.p.clone()
g[torch.arange(len(g)), self.labels] -= 1
return g / len(g)""",
    ],
    "solution_MSE": ["self.y, self.t = y, t\nreturn ((y - t) ** 2).sum() / (2 * len(y))",
                     "return (self.y - self.t) / len(self.y)"],
    "solution_Sequential": [
        "super().__init__()\nself.layers = list(modules)",
        "for layer in self.layers:\n    x = layer.forward(x)\nreturn x",
        "for layer in self.layers[::-1]:\n    delta = layer.backward(delta)\nreturn delta",
        'return {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params().items()}',
        'return {f"{i}.{name}": g for i, layer in enumerate(self.layers) for name, g in layer.grads().items()}',
        "self.training = mode\nfor layer in self.layers:\n    layer.train(mode)\nreturn self",
    ],
    "solution_sgd_step": "for name in params:\n    params[name] -= lr * grads[name]",
}

BUGS = {  # (grade_id, text in the correct answer, what the buggy student wrote instead)
    "tp1_perceptron": ("solution_update", 'b = params["b"] + lr', 'b = params["b"] - lr'),
    "tp2_shallow": ("solution_hidden_delta", "return sigmoid_derivative(h) * (delta2 @ W2.T)", "return delta2 @ W2.T"),
    "tp3_deep": ("solution_forward", "    if l != L:\n        x = f(x)", "    x = f(x)"),
    # the sigmoid's derivative taken on its input instead of its output
    "tp2b_modules": ("solution_Sigmoid", "return delta * self.out * (1 - self.out)", "return delta * self.x * (1 - self.x)"),
}
STUDENTS_OF = {"tp2b_modules": ("correct", "buggy", "empty")}  # the others: every student

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


def fill(cell, body: str | list[str]) -> None:
    """A function's stub filled with ``body``; a class's method stubs with the list's bodies, in order."""
    if isinstance(body, list):
        method_stub = indent(STUB)
        if cell.source.count(method_stub) != len(body):
            raise ValueError(f"{cell.metadata.nbgrader['grade_id']}: {len(body)} bodies for "
                             f"{cell.source.count(method_stub)} method stubs")
        for one in body:
            cell.source = cell.source.replace(method_stub, indent(indent(one)), 1)
        return
    if STUB not in cell.source:
        raise ValueError(f"{cell.metadata.nbgrader['grade_id']}: no stub to fill")
    cell.source = cell.source.replace(STUB, indent(body))


def _replaced(body: str | list[str], old: str, new: str) -> str | list[str]:
    if isinstance(body, list):
        assert any(old in b for b in body), old
        return [b.replace(old, new) for b in body]
    assert old in body, old
    return body.replace(old, new)


def student_notebook(template, assignment: str, student: str):
    nb = copy.deepcopy(template)
    if student == "empty":
        return nb
    bodies = dict(CORRECT[assignment])
    if student == "buggy":
        grade_id, old, new = BUGS[assignment]
        bodies[grade_id] = _replaced(bodies[grade_id], old, new)
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
        for student in STUDENTS_OF.get(assignment, STUDENTS):
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
