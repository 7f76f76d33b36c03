"""The sandbox's driver: our process inside the sandbox, apart from the student's process.

Started by :mod:`autograder.stages.sandbox` (inside bubblewrap, or bare with
``--unsafe-no-sandbox``) as ``python -m tpworker.worker``; it answers the grader on the two
pipes of ``$TP_FDS``. It serves sessions, one a submission of the same student (:func:`main`):
each in a fork of the first process (:func:`serve`), which forks the student's process
(:mod:`tpworker.student`, its child, :func:`fork_student`) with two pipes of its own and the
shared argument memory (:mod:`tpworker.shared`), never with the grader's pipes. Before that it
makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), so that the student's process, same
uid but no capability, can neither ptrace it nor open its ``/proc/<pid>/mem``, ``environ`` or
``fd/`` (the student's process, a fork, is made dumpable again). It imports only ``tpcheck`` and
``tpworker``, and never runs a line of the student's code: whatever the submission rewrites, it rewrites in its own process.

- ``load``, ``probe``, and the ``train`` of a recipe that needs the student's classes (Part 4):
  relayed to the student's process and its answer relayed back (reported by that process).
- ``call``/``map``: the tensor arguments are copied into the shared memory and the student's
  process builds its arguments as views of it; once its answer has arrived the driver stops it
  (SIGSTOP, its whole process group: no thread of it runs), reads the arguments back from the
  memory itself and answers ``inputs_after`` from that, then resumes it (SIGCONT) before its
  next request. A slot of a container the function rebound is taken from its answer only when
  the memory shows the tensor unchanged (a rebinding can be confessed, an in-place change not hidden).
- ``train`` of Parts 1–3: the recipe (:mod:`tpworker.recipes`) runs here; each of the student's
  functions it calls is a request to the student's process, answered with plain data.

When the student's process dies, the driver dies the same way (same exit code or signal), so the
grader names the death as it always has and restarts the sandbox.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import torch

from tpcheck.boundary import OPTIMIZERS, Optimizer, Struct, Trainable
from tpcheck.forbidden import Policy, canary

from . import shared
from .framing import HEADER, MAX_BYTES, cap, read_blocking, read_message, write_all, write_message
from .recipes import RECIPES
from .wire import Opaque, Shared, loads

DRIVER_RECIPES = frozenset({"perceptron", "shallow", "deep"})  # the others need the student's classes
PR_SET_DUMPABLE = 4
PIPE_BYTES = 1 << 20  # /proc/sys/fs/pipe-max-size's default


def make_undumpable() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


class StudentDied(Exception):
    pass


class StudentError(Exception):
    """The student's process answered an error (raised through a recipe, answered as it was)."""

    def __init__(self, answer: dict):
        super().__init__(answer.get("message", ""))
        self.answer = answer


class Student:
    """The student's process, seen from the driver."""

    def __init__(self, threads: int):
        self.memory = shared.Memory(shared.create())
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        for fd in (req_w, ans_w):  # a recipe's call (a layer's weights) in one write, not 16 context switches
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        env = {**os.environ, "TP_FDS": f"{req_r},{ans_w}", "TP_SHM": str(self.memory.fd), "TP_THREADS": str(threads)}
        if _threads() == 1:  # the usual case: forked, torch already imported (one import a sandbox, not two)
            self.proc: subprocess.Popen | Forked = fork_student((req_r, ans_w), self.memory.fd, env)
        else:  # forking a process that runs threads can deadlock the child: a fresh interpreter
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tpworker.student"], stdin=subprocess.DEVNULL, env=env,
                pass_fds=(req_r, ans_w, self.memory.fd), close_fds=True, preexec_fn=_in_student)
        os.close(req_r)
        os.close(ans_w)
        self.requests, self.answers = req_w, ans_r
        self.stopped = False

    def send(self, message: dict) -> None:
        self.resume()
        try:
            write_message(self.requests, message)
        except (BrokenPipeError, OSError):
            raise StudentDied from None

    def receive_raw(self) -> bytes:
        """One answer's frame, unparsed (bounded before it is read)."""
        try:
            read = read_blocking(self.answers)
            header = read(HEADER.size)
            (length,) = HEADER.unpack(header)
            if length > MAX_BYTES:
                raise StudentDied
            return header + read(length)
        except EOFError:
            raise StudentDied from None

    def receive(self) -> dict:
        raw = self.receive_raw()
        try:
            return loads(raw[HEADER.size:])
        except ValueError:
            return {"ok": False, "exc_type": "MalformedAnswer", "message": "the process running your code "
                    "sent an answer that is not plain data"}

    def exchange(self, message: dict) -> dict:
        self.send(message)
        return self.receive()

    def stop(self) -> None:
        """SIGSTOP the student's process group: nothing of it runs until :meth:`resume`."""
        try:
            os.killpg(self.proc.pid, signal.SIGSTOP)
            self.stopped = True
            _wait_stopped(self.proc.pid)
        except ProcessLookupError:
            pass

    def resume(self) -> None:
        if self.stopped:
            self.stopped = False
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def die_alike(self) -> None:
        """End the driver as the student's process ended (it has closed its pipe)."""
        self.resume()
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        _die_as(code)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Reap the (killed) process and close its pipes and memory: a session served in the
        driver's own process (:func:`main`'s fallback) leaves nothing behind."""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.requests, self.answers, self.memory.fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _in_student() -> None:
    """In the student's process before exec: its own process group (stopped as one), killed
    when the driver dies (without bubblewrap's PID namespace too)."""
    os.setpgid(0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _threads() -> int:
    """How many threads this process runs (torch starts none at import when ``OMP_NUM_THREADS=1``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: not 1, so never forked


class Forked:
    """The student's process forked by :func:`fork_student`, as much of a ``Popen`` as the driver uses."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"student process {self.pid}", timeout)
            else:
                time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def fork_student(fds: tuple[int, int], memory_fd: int, env: dict[str, str]) -> Forked:
    """The student's process as a fork of this one, which has imported torch already (an import
    costs seconds of CPU; a fork, milliseconds). The child keeps only what an exec'd student's
    process had: standard streams, its two pipes and the memory file (every other descriptor —
    the grader's pipes above all — is closed before a line of the submission runs), the
    environment ``env``, its own process group, death with the driver, and a dumpable flag (the
    driver made itself non-dumpable; a fresh process would be dumpable again). The driver has read
    nothing but the submission's own code when it forks, so its memory copied holds nothing else."""
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return Forked(pid)
    code = 70
    try:
        _in_student()
        if os.getppid() != parent:  # the driver died before PR_SET_DEATHSIG took effect
            os._exit(code)
        keep = {0, 1, 2, *fds, memory_fd}
        for name in os.listdir("/proc/self/fd"):
            if int(name) not in keep:
                try:
                    os.close(int(name))
                except OSError:
                    pass  # the listing's own descriptor
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        os.environ.clear()
        os.environ.update(env)
        from . import student

        code = student.main(fds)
    except BaseException:  # noqa: BLE001 - the child never returns into the driver's code
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) else 70)


def _wait_stopped(pid: int) -> None:
    """Until the student's process has stopped, all its threads (SIGSTOP is delivered
    asynchronously): it is our child, so ``waitpid(WUNTRACED)`` says when."""
    try:  # WNOWAIT: a process that has exited stays for Popen.wait to reap (its exit code matters)
        os.waitid(os.P_PID, pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        pass


def error(e: BaseException) -> dict:
    if isinstance(e, StudentError):
        return e.answer
    tb = traceback.extract_tb(e.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == "<submission>"), None)
    return {"ok": False, "exc_type": cap(type(e).__name__, 100), "message": cap(str(e), 2000), "line": line}


# --- calls: arguments in shared memory, read back by the driver ---------------------------------


def _place(value: Any, tensors: list[torch.Tensor]) -> Any:
    """``value`` with each tensor argument replaced by its :class:`Shared` index in ``tensors``."""
    if type(value) is torch.Tensor:
        tensors.append(value)
        return Shared(len(tensors) - 1)
    if isinstance(value, Trainable):
        return Trainable(_place(value.value, tensors), value.stale_grad)
    if isinstance(value, Struct):
        return Struct(value.type_name, tuple(_place(v, tensors) for v in value.fields))
    if isinstance(value, dict):
        return {k: _place(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_place(v, tensors) for v in value)
    return value


def _after(original: Any, placed: Any, reported: Any, read: list[torch.Tensor]) -> Any:
    """An argument as the call left it: each tensor from the memory; a slot the student's process
    says it rebound, from its answer, but only where the memory shows the tensor unchanged."""
    if isinstance(placed, Shared):
        now = read[placed.index]
        if isinstance(reported, torch.Tensor) and now.shape == original.shape and torch.equal(now, original):
            return reported
        return now
    if isinstance(placed, Trainable):
        return _after(original.value, placed.value, reported, read).detach().requires_grad_(True)
    if isinstance(placed, dict):
        reported = reported if isinstance(reported, dict) else {}
        return {k: _after(original[k], v, reported.get(k), read) for k, v in placed.items()}
    if isinstance(placed, (list, tuple, Struct)):
        fields = placed.fields if isinstance(placed, Struct) else placed
        originals = original.fields if isinstance(original, Struct) else original
        reported = reported if isinstance(reported, tuple) and len(reported) == len(fields) else (None,) * len(fields)
        return tuple(_after(o, p, r, read) for o, p, r in zip(originals, fields, reported))
    if isinstance(placed, Optimizer):
        return Opaque(OPTIMIZERS[placed.name].__name__ if placed.name in OPTIMIZERS else "Optimizer")
    return original


SILENCED = "nothing at all: the forbidden-API recorder was silenced in your process"
TAMPERED_ENCODER = ("the process running your code changed how its answers are encoded (the grader's own "
                    "code in it was altered)")


def _canary_intact(value: Any) -> bool:
    """The plain tensor and the non-leaf the student's process sends with each answer, as they were."""
    if not isinstance(value, tuple) or len(value) != 2 or not all(type(t) is torch.Tensor for t in value):
        return False
    plain, non_leaf = value
    return (not plain.requires_grad and plain.is_leaf and non_leaf.requires_grad and not non_leaf.is_leaf
            and plain.shape == non_leaf.shape == (1,))


def call(student: Student, request: dict) -> dict:
    """A ``call`` or ``map`` request through the shared memory."""
    single = request["op"] == "call"
    calls = [request["data"]] if single else list(request["data"]["calls"])
    tensors: list[torch.Tensor] = []
    placed = [[_place(a, tensors) for a in data["args"]] for data in calls]
    layout = student.memory.place(tensors)
    sent = [{**data, "args": args} for data, args in zip(calls, placed)]
    message = {**request, "layout": layout, "shm_size": student.memory.size,
               "data": sent[0] if single else {"calls": sent}}
    student.send(message)
    answer = student.receive()
    student.stop()  # no thread of the student's process changes the memory while it is read
    read = student.memory.read(layout)
    if not answer.get("ok"):
        return {k: answer.get(k) for k in ("ok", "exc_type", "message", "line")}
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    answered = [data] if single else data.get("calls")
    if not isinstance(answered, tuple if not single else list) or len(answered) != len(calls) \
            or not all(isinstance(a, dict) for a in answered):
        return {"ok": False, "exc_type": "WorkerDied", "message": "the process running your code answered out of turn"}
    expected = canary(Policy(**{k: tuple(v) if isinstance(v, list) else v for k, v in request.get("policy", {}).items()}),
                      run=False)
    results = []
    for data_in, args, got in zip(calls, placed, answered):
        if not _canary_intact(got.get("canary")):
            return {"ok": False, "exc_type": "Tampering", "message": TAMPERED_ENCODER}
        reported = got.get("inputs_after")
        reported = reported if isinstance(reported, tuple) and len(reported) == len(args) else (None,) * len(args)
        after = [_after(o, p, r, read) for o, p, r in zip(data_in["args"], args, reported)]
        forbidden = got.get("forbidden", answer.get("forbidden") if single else ())
        forbidden = [str(f) for f in forbidden][:50] if isinstance(forbidden, (list, tuple)) else []
        if expected is not None:  # our own forbidden call comes first, or the record was silenced
            forbidden = forbidden[1:] if forbidden[:1] == [expected] else [SILENCED, *forbidden]
        results.append({"output": got.get("output"), "inputs_after": after, "forbidden": forbidden})
    if single:
        r = results[0]
        return {"ok": True, "forbidden": r["forbidden"], "data": {"output": r["output"], "inputs_after": r["inputs_after"]}}
    return {"ok": True, "data": {"calls": results}}


# --- training runs: the recipe here, the student's functions there --------------------------------


class Functions(Mapping):
    """The student's functions as a recipe sees them: each call a request to the student's process."""

    def __init__(self, student: Student, names: set[str]):
        self.student, self.names = student, names

    def __getitem__(self, name: str) -> Callable:
        if name not in self.names:
            raise KeyError(name)
        return lambda *args, **kwargs: self._run({"op": "run", "name": name,
                                                  "data": {"args": list(args), "kwargs": kwargs}})

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def _run(self, request: dict) -> Any:
        answer = self.student.exchange(request)
        if not answer.get("ok"):
            raise StudentError({k: answer.get(k) for k in ("ok", "exc_type", "message", "line")})
        data = answer.get("data")
        return data.get("output") if isinstance(data, dict) else None

    def trainer(self, params: dict, budget: dict, kind: str = "deep") -> RemoteTrainer:
        """The parameters of a training run (Part 3's with their optimizer, Part 2's alone: ``kind``,
        :data:`tpworker.student.TRAINERS`), kept in the student's process."""
        handle = self._run_open({"op": "open", "kind": kind, "budget": budget, "data": {"params": params}})
        return RemoteTrainer(self, handle, kind)

    def _run_open(self, request: dict) -> int:
        answer = self.student.exchange(request)
        if not answer.get("ok"):
            raise StudentError({k: answer.get(k) for k in ("ok", "exc_type", "message", "line")})
        return int(answer["data"]["handle"])


class RemoteTrainer:
    def __init__(self, functions: Functions, handle: int, kind: str = "deep"):
        self.functions, self.handle, self.kind = functions, handle, kind

    def step(self, train_step: Callable | Mapping, x: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> Any:
        """One mini-batch: the student's ``train_step`` (deep) or its four functions (shallow) there."""
        needed = ("train_step",) if self.kind == "deep" else ("forward", "loss", "backward", "update")
        for name in needed:
            if name not in self.functions.names:
                raise KeyError(name)
        return self.functions._run({"op": "step", "handle": self.handle, "name": needed[0] if self.kind == "deep" else "",
                                    "data": {"x": x, "labels": labels, "kwargs": kwargs}})

    def predict(self, functions: Mapping, x: torch.Tensor) -> Any:
        """``forward``'s first output on the parameters there (shallow)."""
        if "forward" not in self.functions.names:
            raise KeyError("forward")
        return self.functions._run({"op": "predict", "handle": self.handle, "name": "forward", "data": {"x": x}})

    def values(self) -> dict:
        values = self.functions._run({"op": "read", "handle": self.handle})
        if not isinstance(values, dict) or not all(type(v) is torch.Tensor for v in values.values()):
            raise TypeError("the parameters could not be read back as tensors")
        return {k: v.detach() for k, v in values.items()}


def train(student: Student, functions: set[str], request: dict) -> dict:
    recipe = RECIPES[request["name"]]
    torch.manual_seed(0)
    student.exchange({"op": "seed", "seed": 0})
    output = recipe(Functions(student, functions), request["data"], dict(request.get("budget", {})))
    return {"ok": True, "data": {"output": output}}


# --- the loop ------------------------------------------------------------------------------------


def main() -> int:
    """The sandbox's first process: imports torch once, then serves one session a ``load`` (a
    notebook of the same student: :func:`serve`, in a fork of this process pristine but for the
    code it was sent) until the grader closes the pipes. After a session, inside bubblewrap, every
    other process of the sandbox is killed and its writable folders are emptied, and only then is
    the grader told ``ready``: the next session starts as in a new sandbox, without paying for one.
    When that cannot be made sure, no ``ready``: the grader starts a new sandbox. A session whose
    student's process died ends this process the same way, so the grader names the death."""
    requests, answers = (int(fd) for fd in os.environ.get("TP_FDS", "3,4").split(","))
    threads = int(os.environ.get("TP_THREADS", "1"))
    torch.set_num_threads(threads)
    shared.keep_freed_memory()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)  # the student's process may signal us: it changes nothing
    make_undumpable()
    while True:
        load = _read(requests)
        if load is None:
            return 0
        if load.get("op") == "exit":  # the end of a session that had already ended (a load error)
            continue
        if load.get("op") != "load":
            return 2
        if _threads() == 1:
            status_r, status_w = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                os.close(status_r)
                code = 70
                try:
                    code = serve(requests, answers, load, threads, status_w)
                finally:
                    os._exit(code)
            os.close(status_w)
            ended = _read_status(status_r)
            _, status = os.waitpid(pid, 0)
            if not ended:  # its student's process died: so do we, the same way
                _die_as(os.waitstatus_to_exitcode(status))
        else:  # never fork a threaded process: the session here (its student's process exec'd)
            code = serve(requests, answers, load, threads)
            if code:
                return code
        if os.environ.get("TP_SANDBOX") == "bwrap" and not _fresh_sandbox():
            return 0  # something of the last session survived: no next session in this sandbox
        write_message(answers, {"ok": True, "ready": True})


def _read_status(fd: int) -> bool:
    """Whether a session ended as sessions end (its byte), not by the death of its process."""
    try:
        return os.read(fd, 1) == b"E"
    except OSError:
        return False
    finally:
        os.close(fd)


def _die_as(code: int) -> None:
    """End this process with exit status ``code`` (a negative one: by that signal)."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


WRITABLE = ("/tmp", "/dev/shm", "/scratch")  # the sandbox's tmpfs mounts (autograder.stages.sandbox)


def _fresh_sandbox() -> bool:
    """Inside bubblewrap only: no process left of the last session (bubblewrap is pid 1, this one
    is ours; a daemon the student's code left behind is neither) and its tmpfs folders emptied;
    False when some process could not be ended."""
    me = os.getpid()
    for attempt in range(51):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others:
            break
        if attempt == 50:
            return False
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.01)
    for folder in WRITABLE:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            for root, dirs, _files in os.walk(path):  # a folder made unwritable is made writable again
                for d in dirs:
                    try:
                        os.chmod(os.path.join(root, d), 0o700, follow_symlinks=False)
                    except OSError:
                        pass
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.chmod(path, 0o700)
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass
    return True


def serve(requests: int, answers: int, load: dict, threads: int, status: int | None = None) -> int:
    """One session: the student's process loaded with ``load``'s code, then the grader's requests
    until ``exit``. Ends by writing ``E`` on ``status`` (when given), unless the student's process
    died: then this process dies the same way (:meth:`Student.die_alike`)."""
    student = Student(threads)

    def ended(code: int = 0) -> int:
        student.kill()
        student.close()
        if status is not None:
            os.write(status, b"E")
        return code

    try:
        student.send(load)
        raw = student.receive_raw()
        write_all(answers, raw)  # relayed as it is: the grader parses it
        loaded = loads(raw[HEADER.size:])
        functions = set(loaded.get("functions") or ()) if loaded.get("ok") else set()
        if not loaded.get("ok"):
            return ended()  # the grader asks nothing more of this session
        while True:
            request = _read(requests)
            if request is None or request.get("op") == "exit":
                return ended()
            op = request.get("op")
            if op == "train" and request.get("name") in DRIVER_RECIPES:
                try:
                    answer = train(student, functions, request)
                except StudentDied:
                    raise
                except BaseException as e:  # noqa: BLE001 - a recipe's complaint about an output
                    answer = error(e)
            elif op in ("call", "map"):
                try:
                    answer = call(student, request)
                except (StudentDied, ValueError):
                    raise
                except Exception as e:  # noqa: BLE001 - e.g. arguments larger than the memory may grow
                    answer = {"ok": False, "exc_type": "SandboxError", "message": f"{type(e).__name__}: {e}"[:500]}
            else:  # probe, Part 4's train: where the student's classes are
                student.send(request)
                write_all(answers, student.receive_raw())
                continue
            try:
                write_message(answers, answer)
            except Exception as e:  # noqa: BLE001 - an output that cannot be encoded
                write_message(answers, {"ok": False, "exc_type": "UnsendableResult", "message": str(e)[:500]})
    except StudentDied:
        student.die_alike()
    except ValueError:  # malformed bytes from the student's process
        student.kill()
        return 70
    return 0


def _read(fd: int) -> dict | None:
    try:
        return read_message(read_blocking(fd))
    except EOFError:
        return None


if __name__ == "__main__":
    sys.exit(main())
