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
- ``VISIBLE``: for each graded function, the :class:`Visible` lines its ``check(name)`` adds
  after the bank's fixed examples.

Like the rest of :mod:`tpcheck`, these modules use only torch and the package's own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Visible:
    """One line of a visible check. ``run(namespace)`` returns the detail shown when it passes
    ("" for none) or raises :class:`~tpcheck.compare.Mismatch`, whose message is the detail of
    the failed line (a ``what`` in its details replaces the line's ``what``)."""

    what: str
    run: Callable[[dict[str, Any]], str]
