"""Hypothesis settings profiles, registered in one place.

- ``grading``: what the grader uses. Derandomized with no example database, so grading the same
  submission twice draws the same examples, finds the same minimal counterexample and gives the
  same grade. No deadline (a sandboxed call has its own wall-clock limit) and no health check
  that could fail a submission for being slow.
- ``dev``: fewer examples, for quick local runs and the students' visible checks.
- ``ci``: Hypothesis's own built-in CI profile (derandomized, no database; picked automatically
  by Hypothesis when ``CI`` is set) — used by the project's tests.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

GRADING_EXAMPLES = 30  # 3.3 s for the three MNIST parts on one core (benchmarks/checks_speed.py)

_common = dict(
    database=None,
    deadline=None,
    derandomize=True,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
)

settings.register_profile("grading", max_examples=GRADING_EXAMPLES, **_common)
settings.register_profile("dev", max_examples=15, **_common)


def profile(name: str = "grading") -> settings:
    """The settings of a registered profile (``grading``, ``dev``, or Hypothesis's ``ci``)."""
    return settings.get_profile(name)


def _no_local_constants() -> None:
    """Hypothesis sometimes draws constants found in the *local* modules loaded in the process
    (any non-library file: the tests, a notebook's helpers). Which of those are loaded differs
    between the grader's CLI, pytest and a kernel, so examples — and grades, and the example
    bank — would depend on it. Pin that set to empty (Hypothesis's global constants remain)."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without local constants
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty


_no_local_constants()
