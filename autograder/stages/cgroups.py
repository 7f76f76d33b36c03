"""Cgroups bounding one sandbox as a whole: its memory (every process, and the files of its
private tmpfs mounts, which are charged to it) and its number of processes and threads.

Created as children of the grader's own group (so whatever bounds the grader bounds them too),
named ``tp-sandbox-<hex>``, joined by the sandbox's first process between fork and exec, and
removed after the sandbox's processes were killed:

- cgroup v1 (one hierarchy per controller under /sys/fs/cgroup/<controller>): a group in
  ``memory`` (``memory.limit_in_bytes``, and ``memory.memsw.limit_in_bytes`` where swap is
  accounted, so that nothing is swapped out past the limit) and one in ``pids`` (``pids.max``);
- cgroup v2 (one unified hierarchy): one group with ``memory.max``, ``memory.swap.max`` = 0 and
  ``pids.max``, inside a delegated subtree: the grader's group must have (or be allowed to
  enable) the memory and pids controllers for its children;
- neither (no cgroup file system, not root and nothing delegated): :func:`create` returns None
  and the sandbox relies on its per-process rlimits (see :mod:`autograder.stages.sandbox`).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "tp-sandbox-"


@dataclass(frozen=True)
class Group:
    """The cgroups of one sandbox: ``paths`` are joined together (v1: one per controller)."""

    version: str  # "v1" or "v2"
    paths: tuple[Path, ...]
    controllers: tuple[str, ...]  # those bounded: "memory", "pids"

    def join(self, pid: int | None = None) -> None:
        """Move ``pid`` (this process) into every group; raises OSError when one refuses."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(pid or os.getpid()))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def kill(self) -> None:
        """SIGKILL every process left in the groups (v2's ``cgroup.kill`` where it exists)."""
        for path in self.paths:
            if (path / "cgroup.kill").exists():
                try:
                    (path / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for _ in range(20):  # a fork between reading the list and the kill: read it again
            left = self.pids()
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    def remove(self, seconds: float = 5.0) -> bool:
        """Kill what is left, then remove every group (retried while the kernel reaps the
        processes); True when all are gone."""
        deadline = time.monotonic() + seconds
        left = list(self.paths)
        while left:
            self.kill()
            for path in list(left):
                try:
                    path.rmdir()
                    left.remove(path)
                except FileNotFoundError:
                    left.remove(path)
                except OSError:
                    pass
            if left and time.monotonic() > deadline:
                return False
            if left:
                time.sleep(0.05)
        return True


def create(memory_bytes: int | None, processes: int, *, root: Path = ROOT,
           self_cgroup: str | None = None, name: str | None = None) -> Group | None:
    """New groups bounding memory (``memory_bytes``; None: not bounded) and processes, or None
    where this machine offers neither."""
    if self_cgroup is None:
        try:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    name = name or PREFIX + uuid.uuid4().hex[:12]
    v1 = {c: root / c for c in ("memory", "pids") if (root / c / "cgroup.procs").exists()}
    if v1:
        return _create_v1(v1, name, memory_bytes, processes, _own_paths(self_cgroup))
    if (root / "cgroup.controllers").exists():
        return _create_v2(root, name, memory_bytes, processes, _own_paths(self_cgroup).get("", "/"))
    return None


def _own_paths(self_cgroup: str) -> dict[str, str]:
    """The grader's own group per controller ("" for v2's unified hierarchy), from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _child(parents: list[Path], name: str) -> Path | None:
    for parent in parents:
        try:
            (parent / name).mkdir()
            return parent / name
        except OSError:
            continue
    return None


def _create_v1(mounts: dict[str, Path], name: str, memory_bytes: int | None, processes: int,
               own: dict[str, str]) -> Group | None:
    paths, bounded = [], []
    for controller, mount in mounts.items():
        if controller == "memory" and memory_bytes is None:
            continue
        below = mount / own.get(controller, "/").lstrip("/")
        path = _child([below, mount] if below != mount else [mount], name)
        if path is None:
            continue
        try:
            if controller == "memory":
                (path / "memory.limit_in_bytes").write_text(str(memory_bytes))
                if (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            else:
                (path / "pids.max").write_text(str(processes))
        except OSError:
            _rmdir(path)
            continue
        paths.append(path)
        bounded.append(controller)
    return Group("v1", tuple(paths), tuple(bounded)) if paths else None


def _create_v2(root: Path, name: str, memory_bytes: int | None, processes: int, own: str) -> Group | None:
    parent = root / own.lstrip("/")
    wanted = ["pids"] + (["memory"] if memory_bytes is not None else [])
    control = parent / "cgroup.subtree_control"
    try:
        enabled = control.read_text().split()
        missing = [c for c in wanted if c not in enabled]
        if missing:  # allowed only where the grader's group has no process of its own (delegation)
            control.write_text(" ".join(f"+{c}" for c in missing))
    except OSError:
        pass
    path = _child([parent], name)
    if path is None:
        return None
    bounded = []
    try:
        available = (path / "cgroup.controllers").read_text().split()
    except OSError:
        available = []
    try:
        if "memory" in wanted and "memory" in available:
            (path / "memory.max").write_text(str(memory_bytes))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
            bounded.append("memory")
        if "pids" in available:
            (path / "pids.max").write_text(str(processes))
            bounded.append("pids")
    except OSError:
        bounded = []
    if not bounded:
        _rmdir(path)
        return None
    return Group("v2", (path,), tuple(bounded))


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
