"""What a check sees of a submission: named functions it can call, and their source.

Checks never assume the student's code runs in their process. They go through
:class:`Submission`; :class:`InProcess` is the implementation for trusted code (the reference,
the test suite's mutants); the grading pipeline supplies one that calls into a sandbox worker.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from tpcheck.boundary import realize, realize_args
from tpcheck.forbidden import ANYTHING, CallRecorder, Policy


@dataclass
class Call:
    """One call into the student's code."""

    output: Any
    inputs_after: tuple[Any, ...]  # the arguments as the function left them (to spot mutation)
    forbidden_calls: list[str] = field(default_factory=list)


class StudentRaised(Exception):
    """The student's function raised; ``not_implemented`` when it is still the stub. ``where``:
    the student's cell and line where it raised (:mod:`autograder.stages.sourcemap`), "" when
    not known; :attr:`at` is it as the tail of a message."""

    def __init__(self, function: str, exc_type: str, message: str, where: str = ""):
        self.function, self.exc_type, self.text, self.where = function, exc_type, message, where
        self.not_implemented = exc_type == "NotImplementedError"
        super().__init__(f"{function} raised {exc_type}: {message}{self.at}")

    @property
    def at(self) -> str:
        from autograder.messages import say

        return say("where.at", where=self.where) if self.where else ""


def describe_violation(submission: object, name: str, violation) -> str:
    """A forbidden API found in the source of ``name`` (:class:`tpcheck.forbidden.Violation`,
    its line counted in that source) at the student's cell and line when the submission has a
    source map (:mod:`autograder.stages.sourcemap`), else as the scan describes it."""
    source_map = getattr(submission, "source_map", None)
    code = submission.source(None) if source_map is not None else None  # type: ignore[attr-defined]
    if source_map is None or code is None:
        return violation.describe()
    return f"{source_map.in_function(code, name, violation.line)}  (uses {violation.what})"


class Submission(Protocol):
    def has(self, name: str) -> bool: ...

    def invoke(self, name: str, args: tuple[Any, ...], policy: Policy = ANYTHING,
               kwargs: dict[str, Any] | None = None) -> Call: ...

    def invoke_many(self, name: str, calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                    policy: Policy = ANYTHING) -> list[Call]:
        """``name`` called on each (args, kwargs) in turn, as that many :meth:`invoke` would
        (the first that raises ends it), in one exchange where the submission is remote."""
        ...

    def source(self, name: str | None = None) -> str | None:
        """The source of function ``name``, or of the whole submission when None."""
        ...

    def train(self, recipe: str, data: dict[str, Any], budget: dict[str, Any], seconds: float) -> Any:
        """Run a training recipe (:mod:`tpworker.recipes`) with the submission's functions."""
        ...

    def probe(self, name: str, data: dict[str, Any], seconds: float) -> Any:
        """Run a probe (:mod:`tpworker.probes`) on the submission's classes; plain data back."""
        ...


class InProcess:
    """A submission given as a module (or a dict of names) in this very process: for trusted
    code only. Arguments are copies; tensors in outputs are returned as they are."""

    def __init__(self, namespace: Any, source: str | None = None):
        self.namespace: Mapping[str, Any] = namespace if isinstance(namespace, Mapping) else vars(namespace)
        if source is None and inspect.ismodule(namespace):
            try:
                source = inspect.getsource(namespace)
            except (OSError, TypeError):
                source = None
        self._source = source

    def has(self, name: str) -> bool:
        return callable(self.namespace.get(name))

    def invoke(self, name: str, args: tuple[Any, ...], policy: Policy = ANYTHING,
               kwargs: dict[str, Any] | None = None) -> Call:
        fn = self.namespace[name]
        real_args = realize_args(args, self.namespace.get)
        recorder = CallRecorder(policy)
        torch.default_generator.manual_seed(0)  # CPU only: torch.manual_seed also formats a stack for each lazy device (slow)
        try:
            with recorder:
                out = fn(*real_args, **realize(dict(kwargs or {}), self.namespace.get))
        except Exception as e:  # noqa: BLE001 - any exception of the student's is a result
            raise StudentRaised(name, type(e).__name__, str(e)) from None
        return Call(out, real_args, recorder.calls)

    def invoke_many(self, name: str, calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                    policy: Policy = ANYTHING) -> list[Call]:
        return [self.invoke(name, args, policy, kwargs) for args, kwargs in calls]

    def train(self, recipe: str, data: dict[str, Any], budget: dict[str, Any], seconds: float) -> Any:
        """A training run of :mod:`tpworker.recipes` with these functions (no time limit)."""
        from tpworker.recipes import RECIPES

        return self._routine("train", lambda ns, d: RECIPES[recipe](ns, d, dict(budget)), data)

    def probe(self, name: str, data: dict[str, Any], seconds: float) -> Any:
        """A probe of :mod:`tpworker.probes` on these classes (no time limit); the function the
        probe raised in is named after the class it built (or the probe), as in the sandbox."""
        from tpworker.probes import PROBES

        return self._routine(str(data.get("name") or name), PROBES[name], data)

    def _routine(self, function: str, routine: Callable[[dict, Any], Any], data: dict[str, Any]) -> Any:
        torch.default_generator.manual_seed(0)
        try:
            return routine(dict(self.namespace), realize(data, self.namespace.get))
        except Exception as e:  # noqa: BLE001
            raise StudentRaised(function, type(e).__name__, str(e)) from None

    def source(self, name: str | None = None) -> str | None:
        if name is None:
            return self._source
        if self._source is not None:
            return function_source(self._source, name)
        fn = self.namespace.get(name)
        try:
            return textwrap.dedent(inspect.getsource(fn)) if fn is not None else None
        except (OSError, TypeError):
            return None


def function_source(source: str, name: str) -> str | None:
    """The source of the last top-level ``def name`` in ``source`` (the one Python would keep)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            found = ast.get_source_segment(source, node)
    return found


class Unfilled:
    """The :class:`~autograder.submission.Submission` of a notebook whose graded functions are
    all the template's stubs (:attr:`~autograder.stages.extract.Extracted.stubs`): every call raises
    NotImplementedError, as the stub itself would, without running anything."""

    def __init__(self, code: str, defined: list[str], source_map=None):
        self.code, self.defined, self.source_map = code, set(defined), source_map

    def has(self, name: str) -> bool:
        return name in self.defined

    def source(self, name: str | None = None) -> str | None:
        return self.code if name is None else function_source(self.code, name)

    def invoke(self, name: str, args: tuple[Any, ...], policy=None, kwargs=None) -> Any:
        raise StudentRaised(name, "NotImplementedError", "")

    def invoke_many(self, name: str, calls: list, policy=None) -> list:
        if calls:
            raise StudentRaised(name, "NotImplementedError", "")
        return []

    def train(self, recipe: str, data: dict[str, Any], budget: dict[str, Any], seconds: float) -> Any:
        raise StudentRaised("train", "NotImplementedError", "")

    def probe(self, name: str, data: dict[str, Any], seconds: float) -> Any:
        raise StudentRaised(str(data.get("name") or name), "NotImplementedError", "")
