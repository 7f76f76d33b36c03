"""The sandbox worker: runs a student's code and answers calls, one process per submission.

Started by :mod:`autograder.stages.sandbox` inside bubblewrap as ``python -m tpworker.worker`` with this
file, ``wire.py``, ``submission.py``, ``forbidden.py``, ``recipes.py`` and ``probes.py`` mounted read-only as the package
``tpworker`` (torch and numpy are its only other imports). Requests arrive on one inherited pipe and
answers leave on another (their numbers in ``$TP_FDS``), each an 8-byte length then a :mod:`wire` message; the student's own prints go to
stdout/stderr, which the grader drains and caps. Nothing here is trusted by the grader: it
re-checks every answer.
"""

from __future__ import annotations

import os
import sys
import traceback

import torch

from tpcheck.boundary import realize_args
from tpcheck.forbidden import CallRecorder, Policy

from .probes import PROBES
from .recipes import RECIPES
from .framing import read_blocking, read_message, write_message

REQUESTS, ANSWERS = (int(fd) for fd in os.environ.get("TP_FDS", "3,4").split(","))


def read_request(fd: int) -> dict | None:
    try:
        return read_message(read_blocking(fd))
    except EOFError:
        return None


def _error(e: BaseException) -> dict:
    tb = traceback.extract_tb(e.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == "<submission>"), None)
    return {"ok": False, "exc_type": type(e).__name__, "message": str(e)[:2000], "line": line}


def main() -> int:
    torch.set_num_threads(int(os.environ.get("TP_THREADS", "1")))
    load = read_request(REQUESTS)
    if load is None or load.get("op") != "load":
        return 2
    namespace: dict = {"__name__": "__submission__"}
    before = set(namespace)
    try:
        torch.manual_seed(0)
        exec(compile(load["source"], "<submission>", "exec"), namespace)  # noqa: S102 - the sandbox's purpose
        functions = sorted(k for k, v in namespace.items() if k not in before and callable(v))
        write_message(ANSWERS, {"ok": True, "functions": functions})
    except BaseException as e:  # noqa: BLE001 - SystemExit at import included
        write_message(ANSWERS, _error(e))
        return 0
    while True:
        request = read_request(REQUESTS)
        if request is None or request.get("op") == "exit":
            return 0
        op = request.get("op")
        answer = (_routine(namespace, request) if op in ("train", "probe")
                  else _map(namespace, request) if op == "map" else _call(namespace, request))
        try:
            write_message(ANSWERS, answer)
        except Exception as e:  # noqa: BLE001 - an output that cannot be encoded
            write_message(ANSWERS, {"ok": False, "exc_type": "UnsendableResult", "message": str(e)[:500]})


def _map(namespace: dict, request: dict) -> dict:
    """Several calls of one function (``data["calls"]``), answered together; the first that
    raises is the answer, as it would have been for separate calls."""
    answers = []
    for data in request["data"]["calls"]:
        answer = _call(namespace, {**request, "data": data})
        if not answer["ok"]:
            return answer
        answers.append({**answer["data"], "forbidden": answer["forbidden"]})
    return {"ok": True, "data": {"calls": answers}}


def _call(namespace: dict, request: dict) -> dict:
    """One call of a student's function on realized copies of the arguments."""
    policy = Policy(**{k: tuple(v) if isinstance(v, list) else v for k, v in request.get("policy", {}).items()})
    recorder = CallRecorder(policy)
    try:
        fn = namespace[request["name"]]
        data = request["data"]
        args = realize_args(tuple(data["args"]), namespace.get)
        torch.default_generator.manual_seed(0)  # CPU only, cheap (see submission.py)
        with recorder:
            output = fn(*args, **dict(data.get("kwargs", {})))
        return {"ok": True, "forbidden": recorder.calls, "data": {"output": output, "inputs_after": list(args)}}
    except BaseException as e:  # noqa: BLE001 - SystemExit inside a function included
        return _error(e)


def _routine(namespace: dict, request: dict) -> dict:
    """A training recipe (:mod:`recipes`, with its budget) or a probe (:mod:`probes`): this
    package's own code run on the student's namespace, answered as plain data."""
    try:
        torch.manual_seed(0)
        if request.get("op") == "train":
            output = RECIPES[request["name"]](namespace, request["data"], dict(request.get("budget", {})))
        else:
            output = PROBES[request["name"]](namespace, request["data"])
        return {"ok": True, "data": {"output": output}}
    except BaseException as e:  # noqa: BLE001
        return _error(e)


if __name__ == "__main__":
    sys.exit(main())
