"""The framing of the sandbox's pipes, written once for both ends: a message is an 8-byte
big-endian length, then that many bytes of :mod:`tpworker.wire` payload.

The worker reads its requests with :func:`read_blocking`; the grader reads answers through its
own deadline-aware reader (``read(n)`` giving exactly ``n`` bytes), both via :func:`read_message`,
which refuses a frame longer than ``max_bytes`` before reading it (the worker's side: 512 MB, for
the training sets the grader sends; the grader's side: :data:`ANSWER_BYTES` or its
``Limits.answer_bytes``, since an answer is predictions and small tensors), and then parses it
with :func:`tpworker.wire.loads`, which bounds the header and the structure before parsing them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

from .wire import dumps, loads

HEADER = struct.Struct(">Q")
MAX_BYTES = 512 << 20  # a request larger than this is refused before it is read (the worker's side)
ANSWER_BYTES = 64 << 20  # the grader's cap on one answer (honest ones: under a few MB)


TRUNCATED = "… (truncated)"


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a visible mark when it was longer: what the
    student's code raises (a 20 MB message, a 20 MB exception type name) crosses in bounded size."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def frame(message: dict[str, Any]) -> bytes:
    """A message as the bytes to write on a pipe."""
    payload = dumps(message)
    return HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_message(fd: int, message: dict[str, Any]) -> None:
    write_all(fd, frame(message))


def read_message(read: Callable[[int], bytes], max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """One message through ``read(n)`` (exactly ``n`` bytes, or EOFError/TimeoutError)."""
    (length,) = HEADER.unpack(read(HEADER.size))
    if length > max_bytes:
        raise ValueError(f"message of {length} bytes, more than the {max_bytes} allowed")
    return loads(read(length))


def read_blocking(fd: int) -> Callable[[int], bytes]:
    """``read(n)`` on a blocking file descriptor; EOFError when the other side closed it."""

    def read(n: int) -> bytes:
        chunks, remaining = [], n
        while remaining:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    return read
