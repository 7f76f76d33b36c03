"""Checks as declarative data: what is checked, on which examples, for how many points.

A :class:`Check` names the graded function, the Hypothesis strategy that draws an example (a
dict of named arguments), and a property of the function on that example, which raises
:class:`~tpcheck.compare.Mismatch` when it does not hold. An :class:`Assignment` is its checks,
its forbidden-API policy, its notebook's signatures and its :class:`Threshold` (the training
run's accuracy goal). The runner is :mod:`autograder.stages.run_checks`.

The blame rule (:mod:`autograder.stages.blame`): a check of function F judges F alone.

- Where F's property needs another graded function G (``Check.needs``, e.g. backward's finite
  differences need forward and loss), it asks ``ctx.needed(G, true_G)``: the student's G, or,
  once G is known wrong, G's true value (the reference's).
- Where F calls G inside the sandbox (F's source names G), the properties judge F through
  ``ctx.reference(fn)``: the reference's ``fn``, rebuilt on the student's G once G is wrong.
- A check of F that fails while a function it uses (transitively) fails a check of its own is run
  again that way. If it then passes, F is right and only G is wrong: the check is "not judged"
  (:data:`~autograder.results.NOT_JUDGED`, "uses G, which is wrong: fix G first") and keeps its
  points, so one bug costs its points once. If it fails again, the failure is F's own. A property
  that cannot be judged apart from G (one that has no reference to rebuild, marked
  ``relative = False``: mutation, a step through autograd) is "not judged" at once.
- ``Assignment.blame_once = False`` makes a not-judged check earn nothing instead.
- The training run's gate names the functions that are wrong, not those only blocked by them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st

from autograder.messages import say
from autograder.submission import Call, Submission
from tpcheck.boundary import realize
from tpcheck.compare import Mismatch, compare_outputs, flatten
from tpcheck.forbidden import ANYTHING, Policy, graph_leaks
from tpcheck.messages import pick

Property = Callable[["Context", Any], None]
WHOLE_SUBMISSION = "*"  # the ``function`` of checks about the whole submission


@dataclass(frozen=True)
class Check:
    """One gradable property of one function of the notebook.

    ``strategy`` draws an example (usually a dict of named arguments); ``None`` means the
    property runs once with ``example=None`` (static checks). ``needs`` lists other notebook
    functions the property calls. ``points`` count when ``hidden`` is False too: visible checks
    are the ones a student can also run from the notebook. The title is given in English
    (third argument) and in French (``fr=``); :attr:`title` is the current language's.
    """

    name: str
    function: str
    english: str  # the title in English (the third positional argument)
    prop: Property
    strategy: st.SearchStrategy | None = None
    points: float = 1.0
    hidden: bool = True
    needs: tuple[str, ...] = ()
    max_examples: int | None = None  # fewer than the profile's, for costly properties
    fr: str = ""  # the title in French, the course's language (none: the English one)

    @property
    def title(self) -> str:
        """The title in the current language (:mod:`tpcheck.messages`): what the results carry."""
        return pick(fr=self.fr, en=self.english)


@dataclass(frozen=True)
class Assignment:
    name: str
    checks: tuple[Check, ...]
    policy: Policy = ANYTHING
    # the graded functions in notebook order, with the signatures the template prescribes
    signatures: dict[str, str] = field(default_factory=dict)
    threshold: Threshold | None = None  # the accuracy goal of a training run, if the part has one
    blame_once: bool = True  # a check "not judged" because another function is wrong keeps its points

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(self.signatures)

    def check_id(self, check: Check) -> str:
        return f"{self.name}.{check.function}.{check.name}"

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.checks) + (self.threshold.points if self.threshold else 0.0)


@dataclass
class Context:
    """What a property uses to call the student's code under the assignment's policy."""

    submission: Submission
    policy: Policy
    function: str  # the graded function of the check being run
    calls: list[Call] = field(default_factory=list)

    def reference(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """The reference's ``fn`` as the property judges with it: itself, or, when this check is
        re-run by the blame rule, ``fn`` rebuilt on the student's functions that are wrong."""
        rebuild = getattr(self.submission, "rebuilt", None)
        return rebuild(fn) if rebuild else fn

    def needed(self, name: str, true: Callable[..., Any]) -> Callable[..., Any]:
        """The student's ``name`` (a function the property needs besides the one it judges), or its
        true value ``true`` once ``name`` is known wrong (the blame rule's re-run)."""
        if name in getattr(self.submission, "wrong", ()):
            return true
        return lambda *a, **k: self.call(name, *a, **k)

    def needed_many(self, name: str, true: Callable[..., Any]) -> Callable[[list[tuple[Any, ...]]], list[Any]]:
        """:meth:`needed` on a list of argument tuples, in one exchange with the submission."""
        if name in getattr(self.submission, "wrong", ()):
            return lambda arg_tuples: [true(*a) for a in arg_tuples]
        return lambda arg_tuples: self.call_many(name, arg_tuples)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the student's ``name`` on copies of ``args``; fail on forbidden APIs."""
        return self._accept(name, self.submission.invoke(name, args, self.policy, kwargs))

    def call_many(self, name: str, arg_tuples: list[tuple[Any, ...]]) -> list[Any]:
        """:meth:`call` on each argument tuple, in one exchange with the submission."""
        calls = self.submission.invoke_many(name, [(tuple(a), {}) for a in arg_tuples], self.policy)
        if len(calls) != len(arg_tuples):
            raise Mismatch(say("spec.answers", name=name, answers=len(calls), calls=len(arg_tuples)))
        return [self._accept(name, c) for c in calls]

    def _accept(self, name: str, result: Call) -> Any:
        """The output of one call, once its forbidden APIs and autograd graphs are ruled out."""
        self.calls.append(result)
        if result.forbidden_calls:
            raise Mismatch(say("spec.forbidden_call", name=name, called=", ".join(sorted(set(result.forbidden_calls))),
                               reason=self.policy.why), forbidden=sorted(set(result.forbidden_calls)))
        if self.policy.modules and (leaks := graph_leaks(flatten(result.output))):
            raise Mismatch(say("spec.autograd_graph", name=name, leaks=", ".join(leaks), reason=self.policy.why),
                           autograd_outputs=leaks)
        return result.output

    def call_tracking(self, name: str, *args: Any, **kwargs: Any) -> Call:
        self.call(name, *args, **kwargs)
        return self.calls[-1]


def matches(reference: Callable[..., Any], argnames: tuple[str, ...], *,
            outputs: dict[str, str] | None = None, reference_types: dict[str, Any] | None = None,
            **tolerance: float) -> Property:
    """The property "the student's function returns what ``reference`` returns on the same
    arguments" (``outputs`` picks and names the output paths to compare)."""
    lookup = (reference_types or {}).get

    def prop(ctx: Context, example: dict[str, Any]) -> None:
        args = tuple(example[a] for a in argnames)
        expected = ctx.reference(reference)(*(realize(a, lookup) for a in args))
        compare_outputs(ctx.call(ctx.function, *args), expected, outputs, **tolerance)

    # what a counterexample shows, and what the example bank needs to replay it without us
    prop.argnames, prop.reference, prop.outputs, prop.reference_types = argnames, reference, outputs, reference_types  # type: ignore[attr-defined]
    return prop


@dataclass(frozen=True)
class Threshold:
    """An assignment's accuracy goal: what trains, for how long, and how well it must do.

    ``budgets`` and ``minimum`` are keyed by dataset name; the budget is a dict of plain values
    the recipe reads (epochs, batch_size, lr, seed, …). ``init(D, C, budget)`` (trusted code,
    the reference's initialisation) gives the initial parameters. ``uses`` are the graded
    functions the run calls: all their checks must pass for the run to earn its points.
    ``device`` "cuda" means the run needs a GPU: without one it is deferred, not failed.
    """

    recipe: str
    english: str  # the title, in English; ``fr``, in French; ``title``, the current language's
    uses: tuple[str, ...]
    budgets: dict[str, dict[str, Any]]
    minimum: dict[str, float]
    init: Callable[[int, int, dict[str, Any]], dict[str, torch.Tensor]]
    points: float = 2.0
    seconds: float = 120.0  # wall clock of the run in the sandbox
    device: str = "cpu"
    hidden: bool = True
    notes: dict[str, str] = field(default_factory=dict)  # dataset → where the minimum comes from
    fr: str = ""

    @property
    def title(self) -> str:
        return pick(fr=self.fr, en=self.english)
