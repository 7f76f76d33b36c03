"""Plain data across a trust boundary: nested values with tensors, as npz bytes without pickle.

A message is one ``.npz`` archive: every tensor is an array of its own (numeric dtypes only),
and the structure is JSON stored as the UTF-8 bytes of the array ``__meta__``. Reading uses
``numpy.load(allow_pickle=False)``, so nothing the other side wrote is ever unpickled. What
cannot be sent as plain data (a tensor subclass, an arbitrary object) travels as an
:class:`Opaque` naming its type, which no check accepts as a tensor.

Imports only torch and numpy (relative imports only): it is mounted into the sandbox.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .submission import Optimizer, Struct, Trainable

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: no object, string or void arrays
MAX_ARRAYS = 10_000


@dataclass(frozen=True)
class Opaque:
    """Something the other side returned that is not plain data (only its type name crosses)."""

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if type(value) is torch.Tensor:
        key = f"a{len(arrays)}"
        arrays[key] = value.detach().cpu().contiguous().numpy()
        node: dict[str, Any] = {"tensor": key}
        if value.requires_grad:
            node["requires_grad"] = True
        if value.grad_fn is not None:
            node["grad_fn"] = True
        return node
    if isinstance(value, Struct):
        return {"struct": value.type_name, "fields": [encode(v, arrays) for v in value.fields]}
    if isinstance(value, Trainable):
        return {"trainable": encode(value.value, arrays),
                "stale_grad": None if value.stale_grad is None else encode(value.stale_grad, arrays)}
    if isinstance(value, Optimizer):
        return {"optimizer": value.name, "lr": value.lr, "over": value.over}
    if type(value) is dict:
        return {"dict": {str(k): encode(v, arrays) for k, v in value.items()}}
    if type(value) in (list, tuple) or (isinstance(value, tuple) and hasattr(value, "_fields")):
        return {"list": [encode(v, arrays) for v in value]}
    if type(value) in (bool, int, float, str) or value is None:
        return {"value": value}
    return {"opaque": type(value).__name__[:100]}


def decode(node: Any, arrays: Any) -> Any:
    if not isinstance(node, dict):
        raise ValueError("malformed message")
    if "tensor" in node:
        array = arrays[node["tensor"]]
        if array.dtype.kind not in NUMERIC_KINDS:
            return Opaque(f"array of {array.dtype}")
        t = torch.from_numpy(np.array(array))
        if node.get("requires_grad") or node.get("grad_fn"):
            t = t.float().requires_grad_(True) if not t.is_floating_point() else t.requires_grad_(True)
        return t
    if "struct" in node:
        return Struct(str(node["struct"]), tuple(decode(v, arrays) for v in node["fields"]))
    if "trainable" in node:
        stale = node.get("stale_grad")
        return Trainable(decode(node["trainable"], arrays), None if stale is None else decode(stale, arrays))
    if "optimizer" in node:
        return Optimizer(str(node["optimizer"]), float(node["lr"]), int(node["over"]))
    if "dict" in node:
        return {str(k): decode(v, arrays) for k, v in node["dict"].items()}
    if "list" in node:
        return tuple(decode(v, arrays) for v in node["list"])
    if "opaque" in node:
        return Opaque(str(node["opaque"]))
    value = node.get("value")
    if value is not None and type(value) not in (bool, int, float, str):
        raise ValueError("malformed value")
    return value


def dumps(message: dict[str, Any]) -> bytes:
    """A message (JSON-able dict whose ``"data"`` entry may hold tensors) as npz bytes."""
    arrays: dict[str, np.ndarray] = {}
    meta = {k: (encode(v, arrays) if k == "data" else v) for k, v in message.items()}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def loads(payload: bytes) -> dict[str, Any]:
    """The inverse of :func:`dumps`; raises ValueError on anything malformed."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            if len(arrays.files) > MAX_ARRAYS:
                raise ValueError("too many arrays")
            meta = json.loads(bytes(arrays["__meta__"]).decode())
            if not isinstance(meta, dict):
                raise ValueError("malformed message")
            if "data" in meta:
                meta["data"] = decode(meta["data"], arrays)
            return meta
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - zip errors, JSON errors, missing keys
        raise ValueError(f"malformed message ({type(e).__name__})") from None
