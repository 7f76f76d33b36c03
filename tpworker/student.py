"""The student's process: runs a submission's code and answers the sandbox's driver, nothing else.

Started by :mod:`tpworker.driver` (its parent, inside the same bubblewrap sandbox) as a fork of
the driver that calls :func:`main` (torch is imported once a sandbox; ``python -m tpworker.student``
where the driver runs threads), with two pipes of its own (``$TP_FDS``) and the shared argument
memory (``$TP_SHM``, :mod:`tpworker.shared`); it never holds the grader's pipes. It imports only
``tpcheck`` and ``tpworker`` (torch, safetensors). Everything here can be rewritten by the
submission it runs, which is why nothing it says is taken for more than it is:

- ``call``/``map``: the student's function on arguments built as views of the shared memory;
  the output is encoded (copied) here before the answer leaves, and the driver reads the
  arguments back from the memory itself. The forbidden-API record is made here (the only place
  it can be made): evidence when it finds something, never proof of absence.
- ``run``: one call for a training recipe that the driver runs (plain arguments, plain output);
  ``open``/``step``/``read``: the parameters, optimizer and schedule of Part 3's recipe kept here
  (they are the student's ``train_step``'s arguments), read back as plain tensors.
- ``probe`` and ``train`` (Part 4, whose ``nn.Module`` classes cannot leave this process): run
  here, so what they report is reported by the student's process.
"""

from __future__ import annotations

import copy
import os
import sys
import traceback
from typing import Any

import torch

from tpcheck.boundary import OPTIMIZERS, Optimizer, Seeded, Struct, Trainable, realize, realize_args
from tpcheck.forbidden import CallRecorder, Policy, canary

from .framing import cap, read_blocking, read_message, write_message
from .probes import PROBES
from .recipes import RECIPES, ShallowTrainer, Trainer
from .shared import Memory, keep_freed_memory
from .wire import Shared


def error(e: BaseException) -> dict:
    tb = traceback.extract_tb(e.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == "<submission>"), None)
    return {"ok": False, "exc_type": cap(type(e).__name__, 100), "message": cap(str(e), 2000), "line": line}


def read_request(fd: int) -> dict | None:
    try:
        return read_message(read_blocking(fd))
    except EOFError:
        return None


def main(fds: tuple[int, int] | None = None) -> int:
    """Answer the driver on the pipes ``fds`` (requests, answers), by default those of ``$TP_FDS``."""
    requests, answers = fds or tuple(int(fd) for fd in os.environ.get("TP_FDS", "3,4").split(","))
    torch.set_num_threads(int(os.environ.get("TP_THREADS", "1")))
    keep_freed_memory()
    memory = Memory(int(os.environ["TP_SHM"])) if os.environ.get("TP_SHM") else None
    load = read_request(requests)
    if load is None or load.get("op") != "load":
        return 2
    namespace: dict = {"__name__": "__submission__"}
    before = set(namespace)
    try:
        torch.manual_seed(0)
        exec(compile(load["source"], "<submission>", "exec"), namespace)  # noqa: S102 - the sandbox's purpose
        functions = sorted(k for k, v in namespace.items() if k not in before and callable(v))
        write_message(answers, {"ok": True, "functions": functions})
    except BaseException as e:  # noqa: BLE001 - SystemExit at import included
        write_message(answers, error(e))
        return 0
    trainers: dict[int, Trainer] = {}
    while True:
        request = read_request(requests)
        if request is None or request.get("op") == "exit":
            return 0
        try:
            answer = _answer(namespace, memory, trainers, request)
        except BaseException as e:  # noqa: BLE001 - SystemExit inside a function included
            answer = error(e)
        try:
            write_message(answers, answer)
        except Exception as e:  # noqa: BLE001 - an output that cannot be encoded
            write_message(answers, {"ok": False, "exc_type": "UnsendableResult", "message": str(e)[:500]})


TRAINERS = {"deep": Trainer, "shallow": ShallowTrainer}  # the kinds of training state of ``open``


def _answer(namespace: dict, memory: Memory | None, trainers: dict, request: dict) -> dict:
    op = request.get("op")
    if op in ("call", "map"):
        views = _views(memory, request)
        if op == "call":
            return _call(namespace, request, views)
        answers = []
        for data in request["data"]["calls"]:
            answer = _call(namespace, {**request, "data": data}, views)
            if not answer["ok"]:
                return answer
            answers.append({**answer["data"], "forbidden": answer["forbidden"]})
        return {"ok": True, "data": {"calls": answers}}
    if op == "seed":
        torch.manual_seed(int(request.get("seed", 0)))
        return {"ok": True}
    if op == "run":  # a call of a recipe the driver runs
        data = request["data"]
        output = namespace[request["name"]](*realize_args(tuple(data["args"]), namespace.get),
                                            **realize(dict(data["kwargs"]), namespace.get))
        return {"ok": True, "data": {"output": _structs(output)}}
    if op == "open":
        kind = TRAINERS[str(request.get("kind", "deep"))]
        trainers[len(trainers)] = kind(request["data"]["params"], dict(request["budget"]))
        return {"ok": True, "data": {"handle": len(trainers) - 1}}
    if op == "step":
        data = request["data"]
        trainer = trainers[int(request["handle"])]
        functions = namespace[request["name"]] if request.get("name") else namespace  # train_step, or all (shallow)
        loss = trainer.step(functions, data["x"], data["labels"], **dict(data["kwargs"]))
        return {"ok": True, "data": {"output": loss}}
    if op == "predict":
        output = trainers[int(request["handle"])].predict(namespace, request["data"]["x"])
        return {"ok": True, "data": {"output": _structs(output)}}
    if op == "read":
        return {"ok": True, "data": {"output": trainers[int(request["handle"])].values()}}
    if op in ("train", "probe"):  # Part 4: the student's classes cannot leave this process
        torch.manual_seed(0)
        if op == "train":
            output = RECIPES[request["name"]](namespace, request["data"], dict(request.get("budget", {})))
        else:
            output = PROBES[request["name"]](namespace, request["data"])
        return {"ok": True, "data": {"output": output}}
    raise ValueError(f"unknown request {op!r}")


def _views(memory: Memory | None, request: dict) -> list[torch.Tensor]:
    _INDEX[:] = [None, {}]  # nothing of the last request is kept alive
    layout = request.get("layout") or []
    if not layout:
        return []
    if memory is None:
        raise RuntimeError("no shared memory")
    memory.attach(int(request.get("shm_size", 0)))
    return [memory.view(entry) for entry in layout]


def _call(namespace: dict, request: dict, views: list[torch.Tensor]) -> dict:
    """One call of a student's function on arguments that are views of the shared memory."""
    policy = Policy(**{k: tuple(v) if isinstance(v, list) else v for k, v in request.get("policy", {}).items()})
    recorder = CallRecorder(policy)
    try:
        fn = namespace[request["name"]]
        data = request["data"]
        args = _realize_args(tuple(data["args"]), views, namespace.get)
        torch.default_generator.manual_seed(0)  # CPU only, cheap (see autograder/submission.py)
        with recorder:
            canary(policy)  # the driver checks that the record starts with it
            output = fn(*args, **_realize(dict(data.get("kwargs", {})), views, namespace.get))
        # the arguments as the function left them, each tensor still the one it was given named by
        # its place in the memory (the driver reads those itself); a slot it rebound, as it is.
        # "canary": a plain tensor and a non-leaf, whose flags the driver checks on arrival
        index = _index_of(views)
        return {"ok": True, "forbidden": recorder.calls,
                "data": {"output": output, "inputs_after": [_marked(a, views, index) for a in args],
                         "canary": [torch.zeros(1), torch.zeros(1, requires_grad=True) * 1]}}
    except BaseException as e:  # noqa: BLE001 - SystemExit inside a function included
        return error(e)


def _realize_args(args: tuple[Any, ...], views: list[torch.Tensor], lookup) -> tuple[Any, ...]:
    """:func:`tpcheck.boundary.realize_args` with each :class:`Shared` argument as its view."""
    real = [None if isinstance(a, Optimizer) else _realize(a, views, lookup) for a in args]
    for i, a in enumerate(args):
        if isinstance(a, Optimizer):
            target = real[a.over]
            tensors = list(target.values()) if isinstance(target, dict) else list(target)
            real[i] = OPTIMIZERS[a.name](tensors, lr=a.lr)
    return tuple(real)


def _realize(value: Any, views: list[torch.Tensor], lookup) -> Any:
    if isinstance(value, Shared):
        return views[value.index]
    if isinstance(value, Trainable):
        leaf = (views[value.value.index] if isinstance(value.value, Shared)
                else value.value.detach().clone()).requires_grad_(True)
        if value.stale_grad is not None:
            leaf.grad = value.stale_grad.detach().clone()
        return leaf
    if isinstance(value, Seeded):
        return realize(value, lookup)
    if isinstance(value, Struct):
        fields = tuple(_realize(v, views, lookup) for v in value.fields)
        factory = lookup(value.type_name)
        return factory(*fields) if callable(factory) else fields
    if isinstance(value, dict):
        return {k: _realize(v, views, lookup) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_realize(v, views, lookup) for v in value)
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


_INDEX: list = [None, {}]  # the views of the request being answered and their index (a map's calls share both)


def _index_of(views: list[torch.Tensor]) -> dict[int, int]:
    """``{id(view): its place}`` for ``views``, made once a request (not once a call of a map)."""
    if _INDEX[0] is not views:
        _INDEX[:] = [views, {id(v): i for i, v in enumerate(views)}]
    return _INDEX[1]


def _marked(value: Any, views: list[torch.Tensor], index: dict[int, int] | None = None) -> Any:
    """``value`` with each tensor that is one of ``views`` (the very object) as its :class:`Shared`
    index. ``index``: ``{id(view): its place}``, made once a call (``views`` holds them alive)."""
    index = {id(v): i for i, v in enumerate(views)} if index is None else index
    if isinstance(value, torch.Tensor):
        i = index.get(id(value))
        return Shared(i) if i is not None and views[i] is value else value
    if type(value) is dict:
        return {k: _marked(v, views, index) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_marked(v, views, index) for v in value]
    return value


def _structs(value: Any) -> Any:
    """An output for the driver: each NamedTuple as a :class:`Struct` of its type's name, so that
    it comes back as that type when the recipe passes it on (Part 2's cache)."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return Struct(type(value).__name__, tuple(_structs(v) for v in value))
    if type(value) in (list, tuple):
        return type(value)(_structs(v) for v in value)
    if type(value) is dict:
        return {k: _structs(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main())
