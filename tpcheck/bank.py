"""The example bank: fixed inputs and the outputs the reference gave for them, computed at release
time, so that students can check their functions without the reference.

One ``.npz`` file per assignment, readable with ``numpy.load(allow_pickle=False)``: every tensor is
an array of its own, and the structure (which function, which argument, nesting, NamedTuples) is
a JSON document stored as the UTF-8 bytes of the array ``__meta__``. Nothing is pickled.

A case is ``{"args", "expected", "outputs"}``, plus for a function that updates its arguments
in place (a training step) ``"kwargs"`` and ``"after"``: ``{position: value}``, what those
arguments must hold after the call. Arguments may be :class:`~.submission.Trainable` leaves
(with stale gradients) and :class:`~.submission.Optimizer` specs, rebuilt on the students' side.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .boundary import Optimizer, Struct, Trainable

FORMAT = 1


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = value.detach().cpu().numpy()
        return {"tensor": key}
    if isinstance(value, Struct):
        return {"struct": value.type_name, "fields": [_encode(v, arrays) for v in value.fields]}
    if isinstance(value, Trainable):
        return {"trainable": _encode(value.value, arrays),
                "stale_grad": None if value.stale_grad is None else _encode(value.stale_grad, arrays)}
    if isinstance(value, Optimizer):
        return {"optimizer": value.name, "lr": value.lr, "over": value.over}
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(v, arrays) for v in value]}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"value": value}
    raise TypeError(f"cannot store a {type(value).__name__} in the example bank")


def _decode(node: Any, arrays) -> Any:
    if "tensor" in node:
        return torch.from_numpy(np.array(arrays[node["tensor"]]))
    if "struct" in node:
        return Struct(node["struct"], tuple(_decode(v, arrays) for v in node["fields"]))
    if "trainable" in node:
        stale = node["stale_grad"]
        return Trainable(_decode(node["trainable"], arrays), None if stale is None else _decode(stale, arrays))
    if "optimizer" in node:
        return Optimizer(str(node["optimizer"]), float(node["lr"]), int(node["over"]))
    if "dict" in node:
        return {k: _decode(v, arrays) for k, v in node["dict"].items()}
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    return node["value"]


def write(path: str | Path, assignment: str, cases: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ``cases``: function name → list of {"args": [...], "expected": output, "outputs":
    {path: name} or None}, optionally with "kwargs": {name: value} and "after": {position:
    value of that argument after the call}."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "assignment": assignment,
            "functions": {f: [_encode_case(c, arrays) for c in cs] for f, cs in cases.items()}}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # np.savez stamps each member with the current time; a fixed date keeps releases byte-identical
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())
    return path


def _encode_case(case: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    node = {"args": _encode(list(case["args"]), arrays), "expected": _encode(case["expected"], arrays),
            "outputs": case.get("outputs")}
    if case.get("kwargs"):
        node["kwargs"] = {str(k): _encode(v, arrays) for k, v in case["kwargs"].items()}
    if case.get("after"):
        node["after"] = {str(k): _encode(v, arrays) for k, v in case["after"].items()}
    return node


def read(path: str | Path) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """(assignment, cases) from a bank file; never unpickles."""
    with np.load(path, allow_pickle=False) as arrays:
        meta = json.loads(bytes(arrays["__meta__"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: example bank format {meta.get('format')}, expected {FORMAT}")
        cases = {f: [{"args": tuple(_decode(c["args"], arrays)), "expected": _decode(c["expected"], arrays),
                      "outputs": c["outputs"],
                      "kwargs": {k: _decode(v, arrays) for k, v in c.get("kwargs", {}).items()},
                      "after": {int(k): _decode(v, arrays) for k, v in c.get("after", {}).items()}}
                     for c in cs] for f, cs in meta["functions"].items()}
    return meta["assignment"], cases


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
