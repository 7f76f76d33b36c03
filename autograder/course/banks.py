"""The example banks, built at release: fixed inputs drawn by the checks' strategies and what
the reference returned for them (written with :func:`tpcheck.bank.write`, replayed by the
students' visible checks without the reference)."""

from __future__ import annotations

from typing import Any

from tpcheck.bank import _plain


def build(assignment, per_function: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Draw fixed examples for every check that compares with the reference, and record what the
    reference returns. Deterministic: Hypothesis derandomized, the same examples every release.

    A property with a ``bank_case`` attribute (a training step, which updates its arguments)
    makes its own case from an example; any other needs ``reference`` and ``argnames`` (see
    :func:`autograder.check.matches`). A ``bank_examples`` attribute (a function returning
    examples) replaces the drawn ones where a few draws would not cover what matters (depths,
    activations, optimizers)."""
    from hypothesis import Phase, given, settings

    from autograder.checks import profiles as _profiles  # noqa: F401 - pins Hypothesis's local constants
    from tpcheck.boundary import realize

    cases: dict[str, list[dict[str, Any]]] = {}
    for check in assignment.checks:
        prop = check.prop
        make = getattr(prop, "bank_case", None)
        if (make is None and getattr(prop, "reference", None) is None) or check.strategy is None \
                or check.function in cases:
            continue
        drawn: list[Any] = []

        # Hypothesis derives the derandomized seed from this function's source: keep it unchanged,
        # or every bank's examples change
        @settings(max_examples=25, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(__import__("hypothesis").HealthCheck))
        @given(check.strategy)
        def collect(example):
            drawn.append(example)

        fixed = getattr(prop, "bank_examples", None)
        if fixed is not None:
            picked = list(fixed())
        else:
            collect()
            step = max(1, len(drawn) // per_function)
            picked = drawn[::step][:per_function]
        if make is not None:
            cases[check.function] = [make(ex) for ex in picked]
            continue
        lookup = (prop.reference_types or {}).get
        cases[check.function] = [
            {"args": tuple(ex[a] for a in prop.argnames),
             "expected": prop.reference(*(realize(ex[a], lookup) for a in prop.argnames)),
             "outputs": prop.outputs}
            for ex in picked
        ]
    for cs in cases.values():  # NamedTuples are stored as plain tuples of their fields
        for c in cs:
            c["expected"] = _plain(c["expected"])
    return cases
