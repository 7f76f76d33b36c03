"""Properties that several assignments share."""

from __future__ import annotations

from typing import Any

import torch

from autograder.checks.spec import WHOLE_SUBMISSION, Check, Context
from autograder.messages import say
from tpcheck.compare import Mismatch, flatten
from tpcheck.forbidden import scan_source


def no_forbidden_api(ctx: Context, _example: Any) -> None:
    """The whole submission's source, scanned once: every violation, with its line."""
    source = ctx.submission.source(None)
    if not source or not ctx.policy.modules:
        return
    violations = scan_source(source, ctx.policy)
    if violations:
        listed = "; ".join(v.describe() for v in violations[:5])
        raise Mismatch(say("common.forbidden", reason=ctx.policy.why, listed=listed),
                       violations=[v.describe() for v in violations])


def forbidden_api_check(points: float = 1.0) -> Check:
    return Check("no_forbidden_api", WHOLE_SUBMISSION, "uses only the APIs this part allows", no_forbidden_api,
                 points=points, hidden=False, fr="n'utilise que les API que cette partie autorise")


def does_not_mutate(argnames: tuple[str, ...]):
    """The property "calling the function leaves its arguments unchanged"."""

    def prop(ctx: Context, example: dict[str, Any]) -> None:
        args = tuple(example[a] for a in argnames)
        call = ctx.call_tracking(ctx.function, *args)
        for name, before, after in zip(argnames, args, call.inputs_after):
            b, a = flatten(before), flatten(after)
            for path, value in b.items():
                if isinstance(value, torch.Tensor) and isinstance(a.get(path), torch.Tensor):
                    if a[path].shape != value.shape or not torch.equal(a[path], value):
                        where = f"{name}[{path!r}]" if path else name
                        raise Mismatch(say("common.mutated", function=ctx.function, where=where), mutated=where)

    prop.argnames = argnames  # type: ignore[attr-defined]
    prop.relative = False  # type: ignore[attr-defined]  # blame: a wrong function it calls cannot be told apart
    return prop
