"""The memory a call's tensor arguments live in, shared by the sandbox's driver and the student's
process, so that the driver reads what a call left in its arguments itself (mutation is observed
from outside the student's process, :mod:`tpworker.driver`).

One anonymous memory file (``memfd_create``) made by the driver, sealed against shrinking (the
student's process cannot truncate it under the driver's mapping), inherited by the student's
process as one file descriptor and mapped by both. A call's layout lists, for each tensor, its
byte offset (64-byte aligned), dtype and shape: plain JSON in the request. torch only.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
from typing import Any

import torch

ALIGN = 64
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64)}
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MAX_BYTES = 4 << 30  # more than any honest call's arguments
RING = 16 << 20  # sparse: only the pages of the arguments in flight hold memory (RLIMIT_FSIZE bounds it)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2


def keep_freed_memory() -> None:
    """Keep freed memory in the heap (glibc's mallopt), so that the copies each message makes
    reuse pages instead of mapping fresh ones: a page fault costs microseconds in a VM, and a
    training run sends thousands of messages of a layer's weights."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


def create() -> int:
    """A new memory file (driver side), sealed so that nobody can shrink it."""
    fd = os.memfd_create("tp-arguments", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    return fd


class Memory:
    """One side's mapping of the memory file ``fd``."""

    def __init__(self, fd: int):
        self.fd = fd
        self.size = 0
        self.map: mmap.mmap | None = None
        self.cursor = 0  # where the next call's arguments go
        self.region = (0, 0)  # the bytes of the last call's arguments

    def grow(self, size: int) -> None:
        """Driver side: make the file at least ``size`` bytes and map all of it."""
        if size > self.size:
            size = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
            os.ftruncate(self.fd, size)
            self._map(size)

    def attach(self, size: int) -> None:
        """Student side: map at least ``size`` bytes (the driver has grown the file)."""
        if size > self.size:
            self._map(os.fstat(self.fd).st_size)

    def _map(self, size: int) -> None:
        # the previous mapping stays alive as long as tensors view it (it cannot be closed then)
        self.map = mmap.mmap(self.fd, size) if size else None
        self.size = size

    def view(self, entry: Any) -> torch.Tensor:
        """The tensor of one layout entry ``[offset, dtype, shape]``, as a view of the memory."""
        offset, dtype, shape = int(entry[0]), DTYPES[str(entry[1])], tuple(int(s) for s in entry[2])
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dtype.itemsize
        if offset < 0 or offset % ALIGN or offset + nbytes > self.size or min(shape, default=0) < 0:
            raise ValueError("argument outside the shared memory")
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype)
        raw = torch.frombuffer(self.map, dtype=torch.uint8, count=nbytes, offset=offset)
        return raw.view(dtype).view(shape)

    def place(self, tensors: list[torch.Tensor]) -> list[list[Any]]:
        """Driver side: copy ``tensors`` into the memory and return their layout. Each call gets
        a region the previous calls did not use (a ring of :data:`RING` bytes): a thread of the
        student's that kept a view of an earlier call's arguments changes nothing read later."""
        sizes = [-(-t.numel() * t.element_size() // ALIGN) * ALIGN for t in tensors]
        total = sum(sizes)
        if total > MAX_BYTES:
            raise ValueError(f"arguments of {total} bytes, more than the {MAX_BYTES} the sandbox shares")
        if self.cursor + total > max(RING, self.size):
            self.cursor = 0
        start = offset = self.cursor
        self.cursor += total
        layout = []
        for t, size in zip(tensors, sizes):
            layout.append([offset, str(t.dtype).removeprefix("torch."), list(t.shape)])
            offset += size
        self.grow(max(offset, RING))
        for t, entry in zip(tensors, layout):
            if t.numel():
                self.view(entry).copy_(t.detach())
        self.region = (start, offset)
        return layout

    def read(self, layout: list[list[Any]]) -> list[torch.Tensor]:
        """Driver side: copies of the tensors of ``layout`` as the memory holds them now; then the
        region's pages are given back (what a stale view writes there later is never read)."""
        values = [self.view(entry).clone() for entry in layout]
        start, end = self.region
        start, end = start // mmap.PAGESIZE * mmap.PAGESIZE, -(-end // mmap.PAGESIZE) * mmap.PAGESIZE
        if end > start:
            _punch_hole(self.fd, start, end - start)
        return values


def _punch_hole(fd: int, offset: int, length: int) -> None:
    try:
        ctypes.CDLL(None).fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                    ctypes.c_long(offset), ctypes.c_long(length))
    except (OSError, AttributeError):
        pass
