"""The message format across the sandbox boundary (tpworker/wire.py): plain data round-trips,
anything else arrives as an Opaque type name, and malformed bytes are refused with ValueError."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
import torch

from tpcheck.boundary import Optimizer, Struct, Trainable
from tpworker import wire


def roundtrip(data):
    return wire.loads(wire.dumps({"ok": True, "data": data}))["data"]


def test_nested_values_and_every_plain_dtype_roundtrip():
    tensors = {str(d): (torch.arange(6) % 2).to(d).reshape(2, 3) for d in wire.PLAIN_DTYPES}
    data = {"tensors": tensors, "list": [1, 2.5, "s", None, True], "empty": torch.zeros(0, 4),
            "scalar": torch.tensor(3.0, dtype=torch.float64),
            "struct": Struct("Cache", (torch.ones(2), 7)),
            "trainable": Trainable(torch.ones(3), None), "optimizer": Optimizer("SGD", 0.1, 2)}
    back = roundtrip(data)
    for name, t in tensors.items():
        assert back["tensors"][name].dtype == t.dtype and torch.equal(back["tensors"][name], t)
    assert back["list"] == (1, 2.5, "s", None, True)  # lists arrive as tuples
    assert back["empty"].shape == (0, 4) and back["scalar"].dtype == torch.float64
    assert back["struct"].type_name == "Cache" and back["struct"].fields[1] == 7
    assert torch.equal(back["trainable"].value, torch.ones(3)) and back["trainable"].stale_grad is None
    assert back["optimizer"] == Optimizer("SGD", 0.1, 2)


def test_the_same_tensor_twice_and_views_are_sent_as_copies():
    base = torch.arange(10.0)
    back = roundtrip([base, base, base[2:5], base.reshape(2, 5).T])
    assert torch.equal(back[0], base) and torch.equal(back[1], base)
    assert torch.equal(back[2], torch.tensor([2.0, 3.0, 4.0]))
    assert torch.equal(back[3], base.reshape(2, 5).T)
    back[0][0] = 99.0
    assert back[1][0] == 0.0  # separate tensors on arrival


def test_autograd_flags_cross_as_flags():
    leaf = torch.ones(2, requires_grad=True)
    back = roundtrip([leaf, leaf * 2, torch.ones(2)])
    assert back[0].requires_grad and back[1].requires_grad and not back[2].requires_grad


def test_a_non_leaf_arrives_as_a_non_leaf():
    """``torch.randn(..., requires_grad=True) * std`` is not a leaf: it must not be rebuilt as one
    (TP3's leaf check fires through the sandbox as it does in-process)."""
    non_leaf = torch.randn(3, requires_grad=True) * 0.1
    leaf = torch.randn(3).requires_grad_(True)
    back = roundtrip([non_leaf, leaf, torch.ones(2)])
    assert back[0].requires_grad and not back[0].is_leaf and back[0].grad_fn is not None
    assert back[1].requires_grad and back[1].is_leaf and back[1].grad_fn is None
    assert back[2].is_leaf and not back[2].requires_grad
    assert torch.equal(back[0].detach(), non_leaf.detach())
    again = roundtrip(list(back))  # relayed twice (the driver re-encodes what the student sent)
    assert [(t.is_leaf, t.requires_grad) for t in again] == [(t.is_leaf, t.requires_grad) for t in back]


def test_tensors_travel_packed_one_entry_a_dtype():
    """A map's hundreds of small tensors cost safetensors a few entries, not hundreds; each
    arrives as a tensor of its own (not a view of the packed array)."""
    data = [torch.full((2, 3), float(i)) for i in range(300)] + [torch.arange(4), torch.zeros(0, 2)]
    payload = wire.dumps({"ok": True, "data": data})
    header = wire._header(payload)
    assert sorted(k for k in header if k != "__metadata__") == ["float32", "int64"]
    back = wire.loads(payload)["data"]
    assert all(torch.equal(b, d) and b.shape == d.shape and b._base is None for b, d in zip(back, data))
    assert len({b.untyped_storage().data_ptr() for b in back[:300]}) == 300


def _packed(table, arrays: dict[str, torch.Tensor], data) -> bytes:
    from safetensors.torch import save

    return save(arrays, metadata={"meta": json.dumps({"ok": True, "data": data, "tensors": table})})


@pytest.mark.parametrize("table, data", [
    ([["float32", 2, [3]]], {"tensor": 0}),  # beyond its array (4 elements)
    ([["float32", -1, [2]]], {"tensor": 0}),  # a negative offset
    ([["float32", 0, [-2, -2]]], {"tensor": 0}),  # negative sizes (whose product is 4)
    ([["float32", 0, [1 << 40, 1 << 40]]], {"tensor": 0}),  # a product far beyond the array
    ([["float32", 0, [1] * 33]], {"tensor": 0}),  # too many dimensions
    ([["int64", 0, [1]]], {"tensor": 0}),  # no array of that dtype
    ([["float32", 0, [1]]], {"tensor": 1}),  # no such entry
    ([["float32", 0.5, [1]]], {"tensor": 0}),  # not an integer offset
    ([["float32", 0, 4]], {"tensor": 0}),  # a shape that is not a list
    ("table", {"tensor": 0}),  # a table that is not a list
], ids=["beyond", "negative-offset", "negative-sizes", "huge", "dims", "dtype", "index", "float-offset",
        "shape-not-list", "table-not-list"])
def test_a_forged_table_is_refused(table, data):
    payload = _packed(table, {"float32": torch.arange(4.0)}, data)
    with pytest.raises(ValueError, match="malformed"):
        wire.loads(payload)


def test_relayed_opaque_and_shared_markers_keep_their_meaning():
    back = roundtrip([wire.Opaque("Liar"), wire.Shared(3)])
    assert back[0] == wire.Opaque("Liar") and back[1] == wire.Shared(3)


class Sub(torch.Tensor):
    pass


class AlwaysEqual:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value, name", [
    (torch.zeros(2).as_subclass(Sub), "Sub"),
    (AlwaysEqual(), "AlwaysEqual"),
    (torch.zeros(2, dtype=torch.complex64), "tensor of torch.complex64"),
    (torch.zeros(2).to_sparse(), "tensor of torch.float32"),
])
def test_what_is_not_plain_data_arrives_opaque(value, name):
    back = roundtrip({"output": value})["output"]
    assert isinstance(back, wire.Opaque) and back.type_name == name


def _safetensors(header: dict, body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


@pytest.mark.parametrize("payload", [
    b"",
    b"\x00" * 7,
    b"\xff" * 64,  # a header length far beyond the payload
    b"not a message at all, just some bytes",
    pickle.dumps({"ok": True, "data": {"value": 1}}),  # a pickle is never read as one
    _safetensors({"__metadata__": {"meta": "[1, 2]"}}),  # meta is not an object
    _safetensors({"__metadata__": {"meta": json.dumps({"data": {"tensor": "a0"}})}}),  # no such tensor
    _safetensors({"__metadata__": {"meta": json.dumps({"data": {"value": [1]}})}}),  # not a plain value
    _safetensors({"__metadata__": {"meta": json.dumps({"data": {"tensor": "a0"}})},
                  "a0": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}, b"\x00" * 8),  # short body
    _safetensors({"__metadata__": {"meta": "{}"}, **{f"a{i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
                                                     for i in range(wire.MAX_ARRAYS + 1)}}),
], ids=["empty", "short", "huge-header", "text", "pickle", "meta-not-object", "missing-tensor", "not-plain-value",
        "short-body", "too-many-arrays"])
def test_malformed_payloads_are_refused(payload):
    with pytest.raises(ValueError, match="malformed|too many arrays"):
        wire.loads(payload)


def test_an_npz_with_an_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array([Boom(str(marker))], dtype=object))
    with pytest.raises(ValueError):
        wire.loads(buffer.getvalue())
    assert not marker.exists()


class Boom:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- what a hostile message may cost its reader, bounded before parsing ---------------------------

def _bounded(payload: bytes, match: str, seconds: float = 3.0, megabytes: float = 48.0) -> None:
    """``wire.loads(payload)`` raises ValueError matching ``match`` within ``seconds``, having
    allocated at most ``megabytes`` on top of the payload (traced by tracemalloc)."""
    import time
    import tracemalloc

    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ValueError, match=match):
            wire.loads(payload)
        took = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert took < seconds, took
    assert peak < megabytes * 2**20, peak / 2**20


def test_an_oversized_header_is_refused_before_it_is_parsed():
    payload = _safetensors({"__metadata__": {"meta": "{}"}, "pad": "{}" * (wire.MAX_HEADER_BYTES // 2)})
    _bounded(payload, "header of")
    # the forged 150 MB answer of empty objects, as the structure itself
    forged = _safetensors({"__metadata__": {"meta": "[" + "{}," * (50 << 20) + "{}]"}})
    _bounded(forged, "header of", megabytes=16)


def test_too_many_nodes_are_refused_before_they_are_built():
    payload = _safetensors({"__metadata__": {"meta": json.dumps({"data": {"list": [{}] * (wire.MAX_NODES + 1)}})}})
    assert len(payload) < wire.MAX_HEADER_BYTES
    _bounded(payload, "JSON values")
    # in the safetensors header itself (outside the structure's string)
    header = {"__metadata__": {"meta": "{}"}, "x": [[]] * wire.MAX_NODES}
    _bounded(_safetensors(header), "JSON values")


@pytest.mark.parametrize("where", ["meta", "header"])
def test_too_deep_nesting_is_refused(where):
    deep = "[" * (wire.MAX_DEPTH + 1) + "]" * (wire.MAX_DEPTH + 1)
    if where == "meta":
        payload = _safetensors({"__metadata__": {"meta": '{"data": ' + deep + "}"}})
    else:
        raw = ('{"__metadata__": {"meta": "{}"}, "x": ' + deep + "}").encode()
        payload = len(raw).to_bytes(8, "little") + raw
    _bounded(payload, "deeper than")
    # deep but within the bound, through the structure's own nodes: still decoded
    nested = 1
    for _ in range(wire.MAX_DEPTH // 3):
        nested = [nested]
    assert roundtrip(nested) is not None


def test_strings_do_not_count_as_nodes_and_unterminated_ones_scan_in_linear_time():
    text = "[[{,:" * 100_000  # brackets inside a string are no structure
    assert roundtrip({"s": text})["s"] == text
    _bounded(_safetensors({"__metadata__": {"meta": '{"s": "' + '\\"' * (1 << 20)}}), "Unterminated|malformed")


def test_the_grader_reads_at_most_its_cap_of_an_answer():
    """framing refuses a frame longer than the reader's cap from its 8-byte length alone."""
    from tpworker import framing

    sent = framing.HEADER.pack(150 << 20) + b"{}" * 1000
    read_sizes = []

    def read(n):
        read_sizes.append(n)
        return sent[:n]

    with pytest.raises(ValueError, match="more than the"):
        framing.read_message(read, max_bytes=framing.ANSWER_BYTES)
    assert read_sizes == [framing.HEADER.size]
    assert framing.ANSWER_BYTES <= 64 << 20 < framing.MAX_BYTES
