"""Plain data across a trust boundary: nested values with tensors, as safetensors bytes.

A message is one safetensors buffer: the tensors packed one entry a dtype (bool, integer and
float dtypes only; :class:`Packed`), and the structure is JSON stored in the buffer's string
metadata under ``meta``, with the table of where each tensor lies in its entry. safetensors is
a format of raw bytes behind a JSON header, read by a bounds-checked parser: nothing the other
side wrote is ever unpickled or executed. (It replaced ``.npz``, whose zip reading cost 0.3 ms
a message — most of a sandboxed call.) What cannot be sent as plain data (a tensor subclass, an
arbitrary object, a complex tensor) travels as an :class:`Opaque` naming its type, which no
check accepts as a tensor.

What a message may cost its reader is bounded before anything is parsed: the safetensors header
(which holds the structure) is refused beyond ``max_header_bytes``, and any JSON text (the header,
then the structure in it) beyond ``max_nodes`` values or ``max_depth`` levels of nesting, counted
on the text itself before ``json.loads`` builds a single object (a forged answer of 150 MB of
``{}`` would otherwise cost the reader gigabytes). The defaults bound a message's parse to a few
tens of MB; honest messages are far below them (the largest, a training run's answer, has a few
hundred nodes; its tensors travel in the body).

Imports only torch and safetensors (relative imports only): it is mounted into the sandbox.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as _load_tensors
from safetensors.torch import save as _save_tensors

from tpcheck.boundary import Optimizer, Seeded, Struct, Trainable

MAX_ARRAYS = 10_000
MAX_HEADER_BYTES = 8 << 20  # the safetensors header: tensor entries and the structure (JSON in JSON)
MAX_NODES = 200_000  # JSON values of one text (the header of MAX_ARRAYS entries needs ~100 000)
MAX_DEPTH = 64  # nesting of one JSON text
MAX_DIMS = 32  # dimensions of one tensor
TABLE = "tensors"  # the message's entry of :class:`Packed`'s table
# a string (its escaped quotes taken out) or an unterminated one up to the end: a pattern without
# a repeated group, so that the scan stays linear in time and constant in memory on any text
_JSON_STRING = re.compile(rb'"[^"]*"?')
_BRACKETS = re.compile(rb"[\[\]{}]")
PLAIN_DTYPES = frozenset({torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                          torch.float16, torch.bfloat16, torch.float32, torch.float64})


@dataclass(frozen=True)
class Opaque:
    """Something the other side returned that is not plain data (only its type name crosses)."""

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


@dataclass(frozen=True)
class Shared:
    """Tensor number ``index`` of a call's shared-memory layout (the sandbox's driver puts a call's
    tensor arguments there, :mod:`tpworker.driver`): in a request, the argument to build as a view
    of it; in an answer, "this argument is still that very tensor". No check accepts it as a tensor."""

    index: int

    def __repr__(self) -> str:
        return f"<shared tensor {self.index}>"


class Packed:
    """The tensors of one message, packed by dtype: one safetensors entry a dtype (the elements
    of every tensor of that dtype, one after another) and a table of ``[dtype, offset, shape]``
    in the structure, instead of one entry a tensor — a map of a hundred calls sends hundreds of
    small tensors, and safetensors' cost is per entry, on both sides."""

    def __init__(self):
        self.parts: dict[str, list[torch.Tensor]] = {}
        self.sizes: dict[str, int] = {}
        self.table: list[list[Any]] = []

    def add(self, tensor: torch.Tensor) -> int:
        flat = tensor.detach().to("cpu").reshape(-1)
        name = str(tensor.dtype).removeprefix("torch.")
        offset = self.sizes.get(name, 0)
        self.parts.setdefault(name, []).append(flat)
        self.sizes[name] = offset + flat.numel()
        self.table.append([name, offset, list(tensor.shape)])
        return len(self.table) - 1

    def arrays(self) -> dict[str, torch.Tensor]:
        return {name: torch.cat(parts) for name, parts in self.parts.items()}


class Unpacked:
    """The reading side of :class:`Packed`: each table entry checked against its dtype's array
    before a tensor is made of it (every number in the table came from the other side)."""

    def __init__(self, table: Any, arrays: dict[str, torch.Tensor]):
        if not isinstance(table, list):
            raise ValueError("malformed message")
        self.table, self.arrays = table, arrays

    def tensor(self, index: Any) -> Any:
        if type(index) is not int or not 0 <= index < len(self.table):
            raise ValueError("malformed message (no such tensor)")
        entry = self.table[index]
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str):
            raise ValueError("malformed message")
        name, offset, shape = entry
        flat = self.arrays.get(name)
        if flat is None or type(offset) is not int or offset < 0 or not isinstance(shape, list) or len(shape) > MAX_DIMS \
                or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError("malformed message")
        if type(flat) is not torch.Tensor or flat.dtype not in PLAIN_DTYPES or flat.dim() != 1:
            return Opaque(f"tensor of {getattr(flat, 'dtype', type(flat).__name__)}")
        numel = math.prod(shape)
        if offset + numel > flat.numel():
            raise ValueError("malformed message (a tensor beyond its array)")
        return flat[offset:offset + numel].view(shape).clone()  # a tensor of its own, as if sent alone


def encode(value: Any, arrays: Packed) -> Any:
    if type(value) is torch.Tensor:
        if value.dtype not in PLAIN_DTYPES or value.layout != torch.strided:
            return {"opaque": f"tensor of {value.dtype}"}
        # copied into its dtype's array (a tensor returned twice is sent twice; views as copies);
        # autograd metadata as plain flags (the data itself is detached): a leaf that requires
        # grad and a non-leaf (an op's result, grad_fn set) are rebuilt as what they were
        node: dict[str, Any] = {"tensor": arrays.add(value)}
        if value.requires_grad:
            node["requires_grad"] = True
        if value.grad_fn is not None:
            node["grad_fn"] = True
        if not value.is_leaf:
            node["is_leaf"] = False
        return node
    if isinstance(value, Opaque):  # relayed by the sandbox's driver: the type name stays
        return {"opaque": value.type_name}
    if isinstance(value, Shared):
        return {"shared": value.index}
    if isinstance(value, Struct):
        return {"struct": value.type_name, "fields": [encode(v, arrays) for v in value.fields]}
    if isinstance(value, Trainable):
        return {"trainable": encode(value.value, arrays),
                "stale_grad": None if value.stale_grad is None else encode(value.stale_grad, arrays)}
    if isinstance(value, Optimizer):
        return {"optimizer": value.name, "lr": value.lr, "over": value.over}
    if isinstance(value, Seeded):
        return {"generator": int(value.seed)}
    if type(value) is dict:
        return {"dict": {str(k): encode(v, arrays) for k, v in value.items()}}
    if type(value) in (list, tuple) or (isinstance(value, tuple) and hasattr(value, "_fields")):
        return {"list": [encode(v, arrays) for v in value]}
    if type(value) in (bool, int, float, str) or value is None:
        return {"value": value}
    return {"opaque": type(value).__name__[:100]}


def decode(node: Any, arrays: Unpacked, depth: int = 0) -> Any:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        raise ValueError("malformed message")
    if "tensor" in node:
        t = arrays.tensor(node["tensor"])
        if isinstance(t, Opaque):
            return t
        if node.get("requires_grad") or node.get("grad_fn") or node.get("is_leaf") is False:
            t = (t if t.is_floating_point() else t.float()).requires_grad_(True)
            if node.get("grad_fn") or node.get("is_leaf") is False:
                t = t.clone()  # a non-leaf, as it was on the other side (grad_fn set, is_leaf False)
        return t
    if "shared" in node:
        return Shared(int(node["shared"]))
    if "struct" in node:
        return Struct(str(node["struct"]), tuple(decode(v, arrays, depth + 1) for v in node["fields"]))
    if "trainable" in node:
        stale = node.get("stale_grad")
        stale = None if stale is None else decode(stale, arrays, depth + 1)
        return Trainable(decode(node["trainable"], arrays, depth + 1), stale)
    if "optimizer" in node:
        return Optimizer(str(node["optimizer"]), float(node["lr"]), int(node["over"]))
    if "generator" in node:
        return Seeded(int(node["generator"]))
    if "dict" in node:
        return {str(k): decode(v, arrays, depth + 1) for k, v in node["dict"].items()}
    if "list" in node:
        return tuple(decode(v, arrays, depth + 1) for v in node["list"])
    if "opaque" in node:
        return Opaque(str(node["opaque"]))
    value = node.get("value")
    if value is not None and type(value) not in (bool, int, float, str):
        raise ValueError("malformed value")
    return value


def dumps(message: dict[str, Any]) -> bytes:
    """A message (JSON-able dict whose ``"data"`` entry may hold tensors) as safetensors bytes."""
    arrays = Packed()
    meta = {k: (encode(v, arrays) if k == "data" else v) for k, v in message.items() if k != TABLE}
    if arrays.table:
        meta[TABLE] = arrays.table
    return _save_tensors(arrays.arrays(), metadata={"meta": json.dumps(meta)})


def loads(payload: bytes, *, max_header_bytes: int = MAX_HEADER_BYTES, max_nodes: int = MAX_NODES,
          max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The inverse of :func:`dumps`; raises ValueError on anything malformed, and on a header
    longer than ``max_header_bytes`` or JSON of more than ``max_nodes`` values or ``max_depth``
    levels, before parsing it."""
    try:
        header = _header(payload, max_header_bytes, max_nodes, max_depth)
        if len(header) > MAX_ARRAYS + 1:
            raise ValueError("too many arrays")
        text = header["__metadata__"]["meta"]
        if not isinstance(text, str):
            raise ValueError("malformed message")
        raw = text.encode()
        check_json_size(raw, max_nodes, max_depth)
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError("malformed message")
        table = meta.pop(TABLE, [])
        if "data" in meta:
            meta["data"] = decode(meta["data"], Unpacked(table, _load_tensors(payload)))
        return meta
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors errors, JSON errors, missing keys
        raise ValueError(f"malformed message ({type(e).__name__})") from None


def check_json_size(raw: bytes, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Refuse the JSON text ``raw`` (ValueError) when it holds more than ``max_nodes`` values or
    nests deeper than ``max_depth``, counted on the text with its strings taken out: every value
    but the first follows a comma, a colon or an opening bracket, so their count bounds the
    values; the brackets, at most 2 × ``max_nodes`` of them once that passed, give the depth.
    Linear in time, and no more memory than a few copies of the text."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escaped backslashes, then escaped quotes
    if unescaped.count(b'"') > 4 * max_nodes:  # a string is a key or a value, and a key has a value
        raise ValueError(f"message too large: more than {max_nodes} JSON values")
    skeleton = _JSON_STRING.sub(b"0", unescaped)
    nodes = 1 + skeleton.count(b",") + skeleton.count(b":") + skeleton.count(b"[") + skeleton.count(b"{")
    if nodes > max_nodes:
        raise ValueError(f"message too large: more than {max_nodes} JSON values")
    depth = deepest = 0
    for bracket in _BRACKETS.findall(skeleton):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                raise ValueError(f"message too large: JSON nested deeper than {max_depth} levels")


def _header(payload: bytes, max_header_bytes: int = MAX_HEADER_BYTES, max_nodes: int = MAX_NODES,
            max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON header of a safetensors buffer (8-byte little-endian length, then JSON), refused
    beyond ``max_header_bytes`` and the JSON bounds before it is parsed."""
    if len(payload) < 8:
        raise ValueError("malformed message (truncated)")
    length = int.from_bytes(payload[:8], "little")
    if length > len(payload) - 8:
        raise ValueError("malformed message (truncated)")
    if length > max_header_bytes:
        raise ValueError(f"message too large: a header of {length} bytes, more than the {max_header_bytes} allowed")
    raw = payload[8:8 + length]
    check_json_size(raw, max_nodes, max_depth)
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError("malformed message")
    return header
