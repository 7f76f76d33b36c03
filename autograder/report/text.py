"""Small text helpers for the pages: numbers, percentages, shapes and values as short text, and a
student's printed output made displayable. They return plain ``str``: escaping is Jinja's job (or
``Markup.format``'s, in :mod:`autograder.report.fragments`)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_OUTPUT = 20_000  # characters of captured output shown (head and tail)
MAX_DETAIL = 300  # characters of one detail value shown


def num(x: Any) -> str:
    """A number as short text: 2, 0.5, 1e-05; NaN and non-numbers as they are."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    return f"{x:g}" if isinstance(x, float) else str(x)


def to_float(x: Any) -> float:
    """A float, NaN for anything that is not a finite-or-infinite real number."""
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    return math.nan


def pct(x: Any) -> str:
    f = to_float(x)
    return "—" if math.isnan(f) else f"{100 * f:.1f} %"


def shape_text(shape: Any) -> str:
    if isinstance(shape, (list, tuple)):
        return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    return str(shape)


def compact(value: Any, limit: int = MAX_DETAIL) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = num(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # circular: not from JSON, but never crash a page on it
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


def clean_output(text: str, limit: int = MAX_OUTPUT) -> tuple[str, int]:
    """What a student's code printed, made displayable: ANSI colours removed, progress bars
    (carriage returns) collapsed to their last state, control characters dropped, and the middle
    cut when longer than ``limit``. Returns (text, characters cut). Escaping is the template's job."""
    text = _ANSI.sub("", text or "")
    text = "\n".join(line.rstrip("\r").split("\r")[-1] for line in text.split("\n"))
    text = _CONTROL.sub("", text)
    if len(text) <= limit:
        return text, 0
    head, tail = text[: limit * 3 // 4], text[-(limit // 4):]
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n\n[… {cut} caractères omis …]\n\n{tail}", cut
