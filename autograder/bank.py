"""The example bank: fixed inputs and the outputs the reference gave for them, computed at release
time, so that students can check their functions without the reference.

One ``.npz`` file per assignment, readable with ``numpy.load(allow_pickle=False)``: every tensor is
an array of its own, and the structure (which function, which argument, nesting, NamedTuples) is
a JSON document stored as the UTF-8 bytes of the array ``__meta__``. Nothing is pickled.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .submission import Struct

FORMAT = 1


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = value.detach().cpu().numpy()
        return {"tensor": key}
    if isinstance(value, Struct):
        return {"struct": value.type_name, "fields": [_encode(v, arrays) for v in value.fields]}
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
    if "dict" in node:
        return {k: _decode(v, arrays) for k, v in node["dict"].items()}
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    return node["value"]


def write(path: str | Path, assignment: str, cases: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ``cases``: function name → list of {"args": [...], "expected": output, "outputs":
    {path: name} or None}."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "assignment": assignment,
            "functions": {f: [{"args": _encode(list(c["args"]), arrays), "expected": _encode(c["expected"], arrays),
                               "outputs": c.get("outputs")} for c in cs] for f, cs in cases.items()}}
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


def read(path: str | Path) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """(assignment, cases) from a bank file; never unpickles."""
    with np.load(path, allow_pickle=False) as arrays:
        meta = json.loads(bytes(arrays["__meta__"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: example bank format {meta.get('format')}, expected {FORMAT}")
        cases = {f: [{"args": tuple(_decode(c["args"], arrays)), "expected": _decode(c["expected"], arrays),
                      "outputs": c["outputs"]} for c in cs] for f, cs in meta["functions"].items()}
    return meta["assignment"], cases


def build(assignment, per_function: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Draw fixed examples for every check that compares with the reference, and record what the
    reference returns. Deterministic: Hypothesis derandomized, the same examples every release."""
    from hypothesis import Phase, given, settings

    from . import settings as _profiles  # noqa: F401 - pins Hypothesis's local constants
    from .submission import realize

    cases: dict[str, list[dict[str, Any]]] = {}
    for check in assignment.checks:
        prop = check.prop
        if getattr(prop, "reference", None) is None or check.strategy is None or check.function in cases:
            continue
        drawn: list[Any] = []

        @settings(max_examples=25, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(__import__("hypothesis").HealthCheck))
        @given(check.strategy)
        def collect(example):
            drawn.append(example)

        collect()
        step = max(1, len(drawn) // per_function)
        picked = drawn[::step][:per_function]
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


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
