"""The course's parts, one module each, named like the assignment (``tp2_shallow.py`` for
``tp2_shallow``, as in every zone; the course registry lists them).

A part's module holds what needs no reference solution, written once:

- its reference-free properties: plain functions that take the callables they judge (the
  student's ``update``, ``backward``…), the callables that judge them (the student's own
  ``forward`` in the visible check, the reference's in the hidden one) and one example, and
  raise :class:`~tpcheck.compare.Mismatch` with the student's message when the property does
  not hold. The visible checks run them on fixed examples; the hidden checks import them and
  run them on the examples Hypothesis draws, calling the student's code through the sandbox;
- ``POLICY``: the forbidden-API policy of the visible ``check("*")`` (``None``: none);
- ``TRAINING_USES``: the functions the graded training run uses (``check("train")``; the hidden
  threshold's ``uses`` reads it);
- a property's messages, when the two sides word them differently: a :data:`Wording` argument,
  the grader's by default, the visible check's passed by the visible line;
- ``VISIBLE``: for each graded function, the :class:`Visible` lines its ``check(name)`` adds
  after the bank's fixed examples.

Like the rest of :mod:`tpcheck`, these modules use only torch and the package's own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..compare import Mismatch
from ..messages import say


@dataclass(frozen=True)
class Visible:
    """One line of a visible check. ``run(namespace)`` returns the detail shown when it passes
    ("" for none) or raises :class:`~tpcheck.compare.Mismatch`, whose message is the detail of
    the failed line (a ``what`` in its details replaces the line's ``what``)."""

    what: str
    run: Callable[[dict[str, Any]], str]


# A property's messages, by what failed: a message id of :mod:`tpcheck.messages` (or a format
# string), or (what, message id) where the visible line that fails should say ``what`` (the
# visible checks' wording; the grader's has none). A Visible's ``what`` is a message id too.
Wording = dict[str, "str | tuple[str, str]"]


def failure(wording: Wording, kind: str, details: dict[str, Any] | None = None, **fields: Any) -> Mismatch:
    """The :class:`~tpcheck.compare.Mismatch` of failure ``kind`` in ``wording``, its message
    formatted with ``fields``."""
    entry = wording[kind]
    what, text = entry if isinstance(entry, tuple) else (None, entry)
    return Mismatch(say(text, **fields), **(details or {}), **({"what": say(what)} if what else {}))
