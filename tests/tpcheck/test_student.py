"""The notebook's visible checks show a failing fixed example as readable arguments."""

from __future__ import annotations

import re
from pathlib import Path

from reference import tp1_perceptron as r1
from reference import tp2_shallow as r2
from tpcheck.student import report

TEMPLATE = Path(__file__).resolve().parents[2] / "student_template"


def _input_blocks(text: str) -> list[list[str]]:
    blocks, current = [], None
    for line in text.splitlines():
        if line.strip() == "input:":
            current = []
            blocks.append(current)
        elif current is not None and line.startswith("      "):
            current.append(line[6:])
        else:
            current = None
    return blocks


def test_a_failing_example_shows_each_argument_by_name_shape_dtype_and_values():
    ns = dict(vars(r1))
    ns["update"] = lambda params, x, t, lr: {**r1.update(params, x, t, lr), "b": -r1.update(params, x, t, lr)["b"]}
    text = str(report("update", ns, bank=TEMPLATE / "tp1_perceptron" / "examples.npz"))
    blocks = _input_blocks(text)
    assert blocks, text
    first = blocks[0]
    assert first[0] == "params:"
    assert first[1].startswith("  W: shape (") and first[1].endswith(") float32")
    assert any(row.startswith("x: shape (") for row in first) and any(row.startswith("t: shape (") for row in first)
    assert any(re.fullmatch(r"lr = 0\.\d+", row) for row in first)
    assert "tensor(" not in text


def test_small_tensors_are_aligned_grids_big_ones_a_summary():
    ns = dict(vars(r2))
    ns["backward"] = lambda params, cache, t: {**r2.backward(params, cache, t), "W1": 2 * r2.backward(params, cache, t)["W1"]}
    text = str(report("backward", ns, bank=TEMPLATE / "tp2_shallow" / "examples.npz"))
    rows = [row for block in _input_blocks(text) for row in block]
    assert any(row.startswith("cache: ShallowCache") for row in rows)
    assert any(row.strip().startswith("x: shape (") for row in rows)  # the NamedTuple's own field names
    big = [row for row in rows if "min " in row]
    assert big and all("max " in row and "first values [" in row for row in big)
    t_at = next(i for i, row in enumerate(rows) if row.startswith("t: shape (") and "min" not in row)
    grid = []
    for row in rows[t_at + 1:]:
        if not row.startswith("    "):
            break
        grid.append(row)
    assert grid and len({len(row) for row in grid}) == 1  # aligned columns
    assert all(set(row.split()) <= {"0", "1"} for row in grid)  # one-hot targets, as numbers
