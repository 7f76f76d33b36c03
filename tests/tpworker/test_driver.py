"""The sandbox's driver (tpworker/driver.py) and the student's process it runs the code in: what is
read from outside the student's process stays true whatever the submission rewrites in its own."""

from __future__ import annotations

import inspect

import pytest
import torch

from autograder.stages.sandbox import Limits, Sandbox, bwrap_available
from autograder.submission import StudentRaised
from tpcheck.forbidden import NO_AUTOGRAD_NO_NN

LIMITS = Limits(call_seconds=10, startup_seconds=60, submission_seconds=120)

CODE = inspect.cleandoc("""
    import threading, time
    import torch

    def mutates(x):
        x.add_(1)
        return x * 0

    def rebinds(d):
        d["a"] = d["a"] * 3
        return 0

    def restores_later(x):
        saved = x.clone()
        x.add_(1)
        threading.Thread(target=lambda: (time.sleep(0.5), x.copy_(saved))).start()
        return x * 0

    def keeps_changing_output(x):
        out = x * 2
        def spoil():
            time.sleep(0.05)
            for _ in range(200):
                out.add_(1)
                time.sleep(0.001)
        threading.Thread(target=spoil).start()
        return out

    def clean(x):
        return x + 1

    def relu(x):
        return torch.nn.functional.relu(x)

    def init_non_leaf():
        return {"W": torch.randn(3, 2, requires_grad=True) * 0.1}

    def init_plain():
        return {"W": torch.randn(3, 2) * 0.1}
""")


@pytest.fixture(scope="module", params=["unsafe", "bwrap"])
def sandbox(request):
    if request.param == "bwrap" and not bwrap_available():
        pytest.skip("bubblewrap cannot create namespaces here")
    with Sandbox(CODE, limits=LIMITS, unsafe=request.param == "unsafe") as sb:
        assert sb.load_error is None, sb.load_error
        yield sb


def test_in_place_mutation_is_read_from_the_shared_memory(sandbox):
    x = torch.ones(3)
    call = sandbox.invoke("mutates", (x,))
    assert call.inputs_after[0].tolist() == [2.0, 2.0, 2.0] and x.tolist() == [1.0, 1.0, 1.0]
    call = sandbox.invoke("rebinds", ({"a": torch.ones(2)},))  # a rebound slot is confessed
    assert call.inputs_after[0]["a"].tolist() == [3.0, 3.0]
    assert sandbox.invoke("clean", (x,)).inputs_after[0].tolist() == [1.0, 1.0, 1.0]


def test_a_thread_that_restores_the_argument_later_is_seen_each_time(sandbox):
    """The student's process is stopped before the arguments are read: the mutation shows, on
    every run, and the restoring thread (which writes into a region no later call uses) changes
    nothing of the next calls."""
    for _ in range(3):
        call = sandbox.invoke("restores_later", (torch.ones(4),))
        assert call.inputs_after[0].tolist() == [2.0] * 4
        assert sandbox.invoke("clean", (torch.zeros(4),)).output.tolist() == [1.0] * 4


def test_an_output_is_copied_before_the_answer_leaves(sandbox):
    outputs = [sandbox.invoke("keeps_changing_output", (torch.ones(3),)).output.tolist() for _ in range(2)]
    assert outputs == [[2.0, 2.0, 2.0]] * 2


def test_a_non_leaf_crosses_as_a_non_leaf(sandbox):
    W = sandbox.invoke("init_non_leaf", ()).output["W"]
    assert W.requires_grad and not W.is_leaf and W.grad_fn is not None
    W = sandbox.invoke("init_plain", ()).output["W"]
    assert not W.requires_grad and W.is_leaf


def test_the_recorder_still_records(sandbox):
    call = sandbox.invoke("relu", (torch.ones(2),), NO_AUTOGRAD_NO_NN)
    assert call.forbidden_calls == ["torch.nn.functional.relu"]  # our canary's entry is not shown
    assert sandbox.invoke("clean", (torch.ones(2),), NO_AUTOGRAD_NO_NN).forbidden_calls == []


PATCHES = {
    "clean copies": inspect.cleandoc("""
        import copy, sys
        import tpworker.student as s
        original = s._call
        def _call(namespace, request, views):
            answer = original(namespace, request, views)
            if answer.get("ok"):
                answer["data"]["inputs_after"] = [v.clone() for v in views]  # "nothing changed"
            return answer
        s._call = _call
    """),
    "silenced recorder": inspect.cleandoc("""
        import tpcheck.forbidden as f
        f.CallRecorder.__torch_function__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))
    """),
    "encoder flags": inspect.cleandoc("""
        import torch
        import tpworker.wire as w
        original = w.encode
        def encode(value, arrays):
            node = original(value, arrays)
            if isinstance(node, dict) and "tensor" in node:
                node["requires_grad"] = True
                node.pop("grad_fn", None)
                node.pop("is_leaf", None)
            return node
        w.encode = encode
    """),
}


@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_rewriting_our_code_in_the_students_process_gains_nothing(patch):
    with Sandbox(PATCHES[patch] + "\n" + CODE, limits=LIMITS, unsafe=True) as sb:
        assert sb.load_error is None, sb.load_error
        if patch == "clean copies":
            assert sb.invoke("mutates", (torch.ones(3),)).inputs_after[0].tolist() == [2.0] * 3
        elif patch == "silenced recorder":
            forbidden = sb.invoke("relu", (torch.ones(2),), NO_AUTOGRAD_NO_NN).forbidden_calls
            assert forbidden and "recorder was silenced" in forbidden[0]
        else:
            with pytest.raises(StudentRaised, match="changed how its answers are encoded"):
                sb.invoke("init_plain", ())


def test_a_dying_student_process_kills_the_driver_alike():
    code = "import os\ndef bye():\n    os._exit(3)\ndef fine():\n    return 1\n"
    with Sandbox(code, limits=LIMITS, unsafe=True) as sb:
        with pytest.raises(StudentRaised, match="exited with code 3"):
            sb.invoke("bye", ())
        assert sb.invoke("fine", ()).output == 1  # restarted


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")
def test_the_student_process_cannot_read_the_driver():
    """The driver is not dumpable: its /proc/<pid>/mem, environ and fd/ are closed to the student's
    process (same uid, no capability); the student's process holds none of the grader's pipes."""
    code = inspect.cleandoc("""
        import os
        def peek():
            driver = os.getppid()
            seen = []
            for what in ("mem", "environ", "maps"):
                try:
                    seen.append((what, len(open(f"/proc/{driver}/{what}", "rb").read(16))))
                except OSError as e:
                    seen.append((what, type(e).__name__))
            try:  # the numbers may be listed; the pipes behind them cannot be opened
                numbers = os.listdir(f"/proc/{driver}/fd")
            except OSError:
                numbers = []
            for n in numbers:
                try:
                    os.close(os.open(f"/proc/{driver}/fd/{n}", os.O_RDONLY | os.O_NONBLOCK))
                    seen.append((f"fd {n}", "opened"))
                except OSError as e:
                    seen.append((f"fd {n}", type(e).__name__))
            pipes = []
            for f in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{f}").startswith("pipe:"):
                        pipes.append(int(f))
                except OSError:
                    pass
            return seen, sorted(pipes), os.environ.get("TP_FDS")
    """)
    with Sandbox(code, limits=LIMITS) as sb:
        seen, pipes, own = sb.invoke("peek", ()).output
        assert all(result == "PermissionError" for _, result in seen), seen
        # its own two pipes and stdout/stderr (drained by the grader): not the grader's request pipes
        assert set(pipes) <= {1, 2, *(int(f) for f in own.split(","))}, (pipes, own)
