"""A trial batch (``Sandbox.invoke_many(trial=True)``, the checks' fast path) that hangs poisons
nothing, records no event and costs nothing of the submission's time: the search then meets the
same calls one at a time, as it did before the fast path."""

from __future__ import annotations

import inspect

import pytest
import torch

from autograder.stages.sandbox import Limits, Sandbox, bwrap_available
from autograder.submission import StudentRaised

CODE = inspect.cleandoc("""
    def hangs_on_big(x):
        while x.numel() > 3:
            pass
        return x + 1
""")


def test_a_hanging_trial_batch_poisons_nothing():
    if not bwrap_available():
        pytest.skip("bubblewrap cannot create namespaces here")
    with Sandbox(CODE, limits=Limits(call_seconds=2, submission_seconds=60)) as sb:
        assert sb.load_error is None, sb.load_error
        calls = [((torch.ones(2),), {}), ((torch.ones(5),), {})]
        with pytest.raises(StudentRaised):
            sb.invoke_many("hangs_on_big", calls, trial=True)
        assert sb._poisoned == {} and sb.events == [] and sb._spent < 1.0
        assert torch.equal(sb.invoke("hangs_on_big", (torch.ones(2),)).output, torch.full((2,), 2.0))
        assert sb.events == []  # the restart after a trial is no event of the submission's
        with pytest.raises(StudentRaised, match="longer than"):
            sb.invoke("hangs_on_big", (torch.ones(5),))
        assert "hangs_on_big" in sb._poisoned  # one at a time, as ever
