"""The sandbox: students' code runs in a bubblewrap worker and can only cost its own points."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from autograder import checks
from autograder.results import FAILED, PASSED
from autograder.stages.run_checks import run_assignment
from autograder.stages.sandbox import Limits, Sandbox, bwrap_available
from reference import tp1_perceptron as p1

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")

REPO = Path(__file__).resolve().parents[3]
HONEST = "import torch\n\n" + "\n\n".join(
    inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in ("forward", "update", "predict"))
FAST = Limits(call_seconds=10, startup_seconds=60, submission_seconds=120)


@pytest.fixture(scope="module")
def tp1():
    return checks.load("tp1_perceptron")


def grade(tp1, code: str, limits: Limits = FAST) -> dict[str, object]:
    with Sandbox(code, limits=limits) as sandbox:
        results = run_assignment(tp1, sandbox, "dev")
        return {"results": {r.check_id.split(".", 1)[1]: r for r in results}, "load_error": sandbox.load_error,
                "events": list(sandbox.events), "stdout": bytes(sandbox.stdout)}


def points(graded) -> float:
    return sum(r.points for r in graded["results"].values())


@pytest.fixture(scope="module")
def honest(tp1):
    return grade(tp1, HONEST)


def test_honest_code_gets_full_marks_through_the_sandbox(tp1, honest):
    assert honest["load_error"] is None
    assert points(honest) == sum(c.points for c in tp1.checks)  # run_assignment: the checks, no training run


def _with(forward_body: str) -> str:
    """The honest submission with forward replaced (update calls it too)."""
    honest = "    return torch.addmm(params[\"b\"], x, params[\"W\"])  # (N, C)"
    assert honest in HONEST
    return HONEST.replace(honest, forward_body)


def _predict(body: str) -> str:
    """The honest submission with predict replaced (no other function calls it)."""
    honest = "    return forward(params, x).argmax(1)"
    assert honest in HONEST
    return HONEST.replace(honest, body)


HOSTILE = {
    "infinite loop": "    while True:\n        pass",
    "sleeps forever": "    import time\n    time.sleep(10_000)",
    "memory bomb": "    blocks = []\n    while True:\n        blocks.append(bytearray(1 << 30))",
    "fork bomb": "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass",
    "os._exit inside": "    import os\n    os._exit(0)",
    "sys.exit inside": "    import sys\n    sys.exit('bye')",
    "floods stdout": "    while True:\n        print('x' * 10_000)",
    "reads the reference": f"    return torch.tensor(float(len(open({str(REPO / 'reference' / 'perceptron.py')!r}).read())))",
    "opens a socket": "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    return x",
    "tensor subclass": "    class T(torch.Tensor):\n        def __eq__(self, o):\n            return True\n"
                       "    return torch.addmm(params['b'], x, params['W']).as_subclass(T)",
    "lying __eq__": ("    class Liar:\n        shape = (1,)\n        def __eq__(self, o):\n            return True\n"
                     "    return Liar()"),
    "returns NaN": "    return torch.full((x.shape[0], params['W'].shape[1]), float('nan'))",
    "raises": "    raise ValueError('nope')",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_function_costs_only_its_own_points(tp1, honest, name):
    """Does a hostile predict lose predict's points, with a reason, while every other check keeps
    its points and the grader carries on?"""
    body = HOSTILE[name].replace("torch.addmm(params['b'], x, params['W'])", "forward(params, x)")
    graded = grade(tp1, _predict(body))
    predict = graded["results"]["predict.argmax"]
    assert predict.status == FAILED and predict.points == 0 and predict.message
    others = {k: r for k, r in graded["results"].items() if k not in ("predict.argmax", "*.no_forbidden_api")}
    assert all(r.status == PASSED for r in others.values()), {k: r.message for k, r in others.items() if not r.passed}
    assert len(graded["stdout"]) <= FAST.output_bytes


def test_timeouts_are_named(tp1):
    graded = grade(tp1, _predict(HOSTILE["infinite loop"]))
    assert "took longer than" in graded["results"]["predict.argmax"].message
    assert any("killed" in e for e in graded["events"])


def test_exit_at_import_is_a_load_error(tp1):
    graded = grade(tp1, "import sys\nsys.exit(3)\n" + HONEST)
    assert graded["load_error"]["exc_type"] == "SystemExit"
    assert points(graded) == 0


def test_monkeypatching_inside_the_sandbox_changes_nothing(tp1):
    """Patching torch.allclose, numpy or the checks inside the worker cannot help: the comparison
    happens in the grader."""
    patch = ("import numpy, torch\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
             "torch.equal = lambda *a, **k: True\nimport sys\nsys.modules['autograder'] = None\n")
    graded = grade(tp1, patch + _with("    return x @ params['W']"))
    assert graded["results"]["forward.matches_reference"].status == FAILED


def test_fake_success_output_is_ignored(tp1):
    graded = grade(tp1, _with("    print('All tests passed! 10/10')\n    return x @ params['W'] * 0"))
    assert graded["results"]["forward.matches_reference"].status == FAILED
    assert b"All tests passed" in graded["stdout"]


def test_sandbox_sees_neither_repository_nor_sample_labels():
    code = inspect.cleandoc(f"""
        import os
        import sys
        def probe():
            # the virtualenv is mounted at its own path (it may live in the repository, or in
            # /tmp): the folders leading to it are all that may be seen there
            here = __import__('pathlib').Path(sys.prefix)
            on_the_way = {{str(p) for p in [*here.parents, here]}}
            seen = []
            for path in [{str(REPO)!r}, {str(REPO / 'reference')!r}, '/root/.cache', '/tmp']:
                names = os.listdir(path) if os.path.isdir(path) else []
                visible = [f for f in names if os.path.join(path, f) not in on_the_way]
                seen.append(visible and path)
            import importlib.util
            spec = importlib.util.find_spec('mlxtend')
            if spec and spec.submodule_search_locations:
                seen.append(os.listdir(list(spec.submodule_search_locations)[0]) and 'mlxtend')
            try:
                import reference
                seen.append('reference importable')
            except ImportError:
                pass
            return [s for s in seen if s]
    """)
    with Sandbox(code, limits=FAST) as sandbox:
        assert sandbox.invoke("probe", ()).output in ((), [])


def test_many_calls_in_one_exchange_behave_as_separate_calls():
    """invoke_many (finite differences use it): each call gets fresh copies and its own
    forbidden-API record; the first that raises is the answer; a batch that hangs is killed
    within one call's limit and poisons the function, as a single call would."""
    from autograder.submission import StudentRaised
    from tpcheck.forbidden import NO_AUTOGRAD_NO_NN

    code = inspect.cleandoc("""
        import torch
        def double(x):
            x.mul_(2)  # mutates its argument: the next call must still get the original
            return x.clone()
        def picky(x):
            if float(x.sum()) > 5:
                raise ValueError("too big")
            return x
        def relu(x):
            return torch.nn.functional.relu(x) if float(x.sum()) > 0 else x
        def hangs(x):
            while float(x.sum()) > 0:
                pass
            return x
    """)
    limits = Limits(call_seconds=3, startup_seconds=60, submission_seconds=60)
    with Sandbox(code, limits=limits) as sandbox:
        x = torch.ones(2)
        calls = sandbox.invoke_many("double", [((x,), {})] * 3)
        assert [c.output.tolist() for c in calls] == [[2.0, 2.0]] * 3
        assert all(c.inputs_after[0].tolist() == [2.0, 2.0] for c in calls) and x.tolist() == [1.0, 1.0]
        with pytest.raises(StudentRaised, match="too big"):
            sandbox.invoke_many("picky", [((torch.ones(2),), {}), ((torch.full((2,), 3.0),), {})])
        calls = sandbox.invoke_many("relu", [((-x,), {}), ((x,), {})], NO_AUTOGRAD_NO_NN)
        assert calls[0].forbidden_calls == [] and calls[1].forbidden_calls
        assert sandbox.invoke_many("double", []) == []
        with pytest.raises(StudentRaised, match="took longer than 3 s"):
            sandbox.invoke_many("hangs", [((-x,), {}), ((x,), {})])
        with pytest.raises(StudentRaised, match="took longer than 3 s"):
            sandbox.invoke("hangs", (-x,))  # poisoned: fails at once
        assert sandbox.invoke("double", (x,)).output.tolist() == [2.0, 2.0]  # the worker restarted


GPU_PROBE = inspect.cleandoc("""
    import torch
    def cuda():
        return torch.cuda.is_available()
    def square_on_gpu(x):
        return (x.cuda() ** 2).cpu()
    def bomb():
        blocks = []
        while True:
            blocks.append(bytearray(1 << 30))
""")


def test_gpu_mode_still_bounds_memory():
    """With the GPU allowed (RLIMIT_DATA instead of RLIMIT_AS, so that CUDA can reserve its
    address space), a memory bomb is still stopped; the worker sees a GPU exactly when the
    machine has one."""
    from autograder.submission import StudentRaised

    with Sandbox(GPU_PROBE, limits=Limits(call_seconds=30, memory_bytes=4 << 30, gpu=True)) as sandbox:
        assert sandbox.load_error is None
        with pytest.raises(StudentRaised, match="MemoryError|WorkerDied"):
            sandbox.invoke("bomb", ())
        assert sandbox.invoke("cuda", ()).output is torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_only_gpu_mode_sees_the_gpu():
    with Sandbox(GPU_PROBE, limits=FAST) as sandbox:
        assert sandbox.invoke("cuda", ()).output is False
    with Sandbox(GPU_PROBE, limits=Limits(call_seconds=60, gpu=True)) as sandbox:
        assert sandbox.invoke("cuda", ()).output is True
        assert sandbox.invoke("square_on_gpu", (torch.arange(4.0),)).output.tolist() == [0.0, 1.0, 4.0, 9.0]


def test_only_driver_folders_of_the_library_path_are_bound(tmp_path, monkeypatch):
    """A GPU worker gets the folders of $LD_LIBRARY_PATH that hold libcuda (as containers set
    it), never another folder that path names (it could be the course directory)."""
    from autograder.stages.sandbox import driver_library_folders

    driver, course = tmp_path / "nvidia" / "lib64", tmp_path / "course"
    driver.mkdir(parents=True)
    course.mkdir()
    (driver / "libcuda.so.1").write_bytes(b"")
    (course / "solutions.py").write_text("")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{course}:{driver}:relative/lib:{driver}")
    assert driver_library_folders() == [str(driver)]
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert driver_library_folders() == []


# --- nothing of the grader inside; the sandbox bounded as a whole; nothing left behind ----------

SECRET = "tp-secret-" + "5f3c9e1d7a"
LEAKS = inspect.cleandoc("""
    import os
    def leaks():
        seen = {p: open(p).read() for p in ('/proc/1/environ', '/proc/self/environ')}
        seen['environ'] = repr(dict(os.environ))
        return seen
    def etc():
        return sorted(os.listdir('/etc')), os.path.exists('/etc/shadow'), open('/etc/passwd').read()
    def fill(folder):
        # 64 MB files (RLIMIT_FSIZE) until the tmpfs is full: the bytes written
        written, i = 0, 0
        block = b'x' * (1 << 20)
        try:
            while written < (8 << 30):
                with open(os.path.join(folder, f'f{i}'), 'wb') as f:
                    for _ in range(64):
                        f.write(block)
                        written += len(block)
                i += 1
        except OSError:
            pass
        return written
    def hold(children, size):
        # children each touching `size` bytes, then saying so: how many held it at once
        import select, time
        r, w = os.pipe()
        pids = []
        for _ in range(children):
            pid = os.fork()
            if pid == 0:
                b = bytearray(size)
                b[::4096] = b'\\x01' * len(range(0, size, 4096))
                os.write(w, b'h')
                time.sleep(60)
                os._exit(0)
            pids.append(pid)
        held, dead, deadline = 0, set(), time.monotonic() + 25
        while held + len(dead) < children and time.monotonic() < deadline:
            if select.select([r], [], [], 0.2)[0]:
                held += len(os.read(r, 64))
            dead |= {pid for pid in pids if pid not in dead and os.waitpid(pid, os.WNOHANG)[0]}
        for pid in pids:
            if pid not in dead:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        return held
    def escape():
        # a child that leaves the process group and the session, and ignores what it can
        import signal
        if os.fork() == 0:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            import time
            time.sleep(600)
            os._exit(0)
        return os.getpid()
""")


def test_nothing_of_the_grader_environment_or_etc_reaches_the_sandbox(monkeypatch):
    monkeypatch.setenv("TP_TEST_SECRET", SECRET)
    with Sandbox(LEAKS, limits=FAST) as sandbox:
        assert sandbox.load_error is None, sandbox.load_error
        seen = sandbox.invoke("leaks", ()).output
        assert seen["/proc/1/environ"].split("\0")[0].startswith("PATH=")
        for where, text in seen.items():
            assert SECRET not in text and "TP_TEST_SECRET" not in text, where
        names, shadow, passwd = sandbox.invoke("etc", ()).output
        assert not shadow and "shadow" not in names and "gshadow" not in names
        assert set(names) <= {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "passwd", "group"}
        assert passwd.count("\n") == 1 and passwd.startswith("student:")  # ours, not the host's


def test_gpu_mode_keeps_its_binds(monkeypatch, tmp_path):
    """The GPU worker still gets the NVIDIA device files, /sys and the driver's folders, bound
    before /dev is made read-only."""
    from autograder.stages import sandbox as module

    driver = tmp_path / "nvidia"
    driver.mkdir()
    (driver / "libcuda.so.1").write_bytes(b"")
    monkeypatch.setattr(module, "gpu_device_files", lambda: ["/dev/nvidia0", "/dev/nvidiactl"])
    monkeypatch.setenv("LD_LIBRARY_PATH", str(driver))
    box = module.Host(Limits(gpu=True))
    box.scratch = tmp_path
    argv = box.argv("3,4")
    joined = " ".join(argv)
    assert "--dev-bind /dev/nvidia0 /dev/nvidia0" in joined and "--dev-bind /dev/nvidiactl /dev/nvidiactl" in joined
    assert "--ro-bind-try /sys /sys" in joined and f"--ro-bind {driver} {driver}" in joined
    assert f"--setenv LD_LIBRARY_PATH {driver}" in joined
    assert argv.index("--dev-bind") < argv.index("--remount-ro")
    assert "/etc /etc" not in joined and "--clearenv" in argv


BOUNDED = Limits(call_seconds=40, startup_seconds=60, submission_seconds=300,
                 sandbox_memory_bytes=3 << 30, tmpfs_bytes=256 << 20)


def test_the_sandbox_as_a_whole_is_bounded():
    """Files in /tmp and the home stop at the tmpfs cap (and never reach the host's disk);
    children that together hold more than the memory cgroup are killed; the grader carries on."""
    with Sandbox(LEAKS, limits=BOUNDED) as sandbox:
        assert sandbox.load_error is None, sandbox.load_error
        for folder in ("/tmp", "/scratch", "/dev/shm"):
            written = sandbox.invoke("fill", (folder,)).output
            assert 0 < written <= BOUNDED.tmpfs_bytes, (folder, written)
        on_disk = sum(f.stat().st_size for f in sandbox._scratch.rglob("*") if f.is_file())
        assert on_disk < 4 << 20  # the packages and two one-line files
        if sandbox.bounds["cgroup"] is None or "memory" not in sandbox.bounds["controllers"]:
            pytest.skip("no memory cgroup on this machine: only the rlimits bound the sandbox")
        from autograder.submission import StudentRaised
        try:
            held = sandbox.invoke("hold", (5, 3 << 29)).output  # 5 × 1.5 GiB against 3 GiB
        except StudentRaised as e:  # the kernel may choose the worker itself
            assert e.exc_type == "WorkerDied"
        else:
            assert held <= 1  # two would be 3 GiB, beside the worker and the files of its tmpfs
        assert sandbox.invoke("fill", ("/tmp",)).output <= BOUNDED.tmpfs_bytes  # still answering


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for the host's init to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _leftovers(group, scratch) -> list[str]:
    left = [f"process {pid}" for pid in (group.pids() if group else ()) if _alive(pid)]
    left += [f"cgroup {p}" for p in (group.paths if group else ()) if p.exists()]
    return left + ([f"scratch {scratch}"] if scratch.exists() else [])


def test_close_leaves_no_process_scratch_folder_or_cgroup():
    with Sandbox(LEAKS, limits=FAST) as sandbox:
        sandbox.invoke("escape", ())
        group, scratch = sandbox._cgroup, sandbox._scratch
        pids = group.pids() if group else set()
        assert not group or len(pids) >= 4  # bwrap, its init, the worker, the escaped child
        bwrap = sandbox._proc.pid
    assert _leftovers(group, scratch) == []
    assert not [p for p in pids if _alive(p)]
    assert not _alive(bwrap)


def test_a_failed_start_leaves_nothing(monkeypatch, tmp_path):
    """An exception while the worker loads (the grader's own fault) or a source too large to
    send: the constructor raises or records a load error, and nothing of the sandbox survives."""
    from autograder.stages import cgroups
    from autograder.stages import sandbox as module

    made = []
    create = cgroups.create
    monkeypatch.setattr(cgroups, "create", lambda *a, **k: made.append(create(*a, **k)) or made[-1])
    monkeypatch.setattr(module.tempfile, "tempdir", str(tmp_path))

    def broken(self, timeout):
        made.append(set(self._cgroup.pids()) if self._cgroup else set())
        raise RuntimeError("the grader's own bug")

    with monkeypatch.context() as patched:
        patched.setattr(Sandbox, "_receive", broken)
        with pytest.raises(RuntimeError):
            Sandbox(HONEST, limits=FAST)
    group, pids = made[0], made[1]
    assert not list(tmp_path.glob("tp-sandbox-*"))
    assert not [p for p in pids if _alive(p)]
    assert not group or not any(p.exists() for p in group.paths)

    huge = HONEST + "\n# " + "x" * (100 << 20) + "\n"  # a 100 MB source cell
    with Sandbox(huge, limits=FAST) as sandbox:
        assert sandbox.load_error["exc_type"] == "SourceTooLarge" and sandbox._proc is None
    # past the grader's cap, 100 MB is more than safetensors writes (an exception in the start,
    # as before the cap), and 50 MB more than the worker reads: nothing of either stays
    made.clear()
    with pytest.raises(Exception, match="header too large"):
        Sandbox(huge, limits=Limits(startup_seconds=30, source_bytes=200 << 20))
    with Sandbox(HONEST + "\n# " + "x" * (50 << 20) + "\n", limits=Limits(startup_seconds=30, source_bytes=200 << 20)) as sandbox:
        assert sandbox.load_error["exc_type"] in ("WorkerDied", "TimeoutError"), sandbox.load_error
    assert not list(tmp_path.glob("tp-sandbox-*"))
    assert made and not [p for group in made if group for p in group.paths if p.exists()]


def test_cgroup_v2_is_created_inside_the_delegated_subtree(tmp_path):
    """cgroup v2 (a fake tree: the kernel would create the control files): the group is made
    below the grader's own, with memory.max, memory.swap.max and pids.max."""
    from autograder.stages import cgroups

    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    grader = tmp_path / "user.slice" / "grader"
    child = grader / "tp-sandbox-test"
    child.mkdir(parents=True)
    (grader / "cgroup.subtree_control").write_text("memory pids\n")
    (child / "cgroup.controllers").write_text("memory pids\n")
    (child / "memory.swap.max").write_text("max\n")
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(cgroups, "_child", lambda parents, name: parents[0] / name)
        group = cgroups.create(3 << 30, 64, root=tmp_path, self_cgroup="0::/user.slice/grader\n",
                               name="tp-sandbox-test")
    assert group.version == "v2" and group.paths == (child,) and set(group.controllers) == {"memory", "pids"}
    assert (child / "memory.max").read_text() == str(3 << 30)
    assert (child / "memory.swap.max").read_text() == "0" and (child / "pids.max").read_text() == "64"
    assert cgroups.create(1, 1, root=tmp_path / "nothing", self_cgroup="0::/\n") is None


FDS = inspect.cleandoc("""
    import os
    def fds():
        names = sorted(int(n) for n in os.listdir("/proc/self/fd"))
        kinds = {}
        for n in names:
            try:
                kinds[n] = os.readlink(f"/proc/self/fd/{n}")
            except OSError:
                kinds[n] = "?"
        return [kinds[n] for n in names], os.environ["TP_FDS"], os.environ["TP_SHM"], open("/proc/self/cmdline").read()
""")


@pytest.mark.parametrize("unsafe", [False, True], ids=["sandbox", "unsafe"])
def test_the_students_process_holds_only_its_own_descriptors(unsafe):
    """The student's process is a fork of the driver (torch imported once a sandbox): of the
    driver's descriptors it keeps its standard streams, its own two pipes and the argument memory,
    never the pipes to the grader (writing there would be answering for the driver)."""
    with Sandbox(FDS, limits=FAST, unsafe=unsafe) as sandbox:
        assert sandbox.load_error is None, sandbox.load_error
        links, tp_fds, shm, cmdline = sandbox.invoke("fds", ()).output
    mine = {*map(int, tp_fds.split(",")), int(shm)}
    assert "tpworker.worker" in cmdline  # forked from the driver, not a second interpreter
    pipes = [link for link in links if link.startswith("pipe:")]
    memory = [link for link in links if "tp-arguments" in link]
    # 0 /dev/null, 1 and 2 the grader's output drains, the two pipes of its own, the memory, and
    # the listing's own descriptor to /proc/self/fd
    assert len(memory) == 1 and len(mine) == 3
    assert len(links) == 7, links
    assert len(pipes) == 4, links  # stdout, stderr, its requests, its answers: not the grader's two


LEFTOVERS = inspect.cleandoc("""
    import os, time
    def leave():
        open("/tmp/left", "w").write("x")
        open("/dev/shm/left", "w").write("x")
        os.makedirs("/scratch/d/e")
        os.chmod("/scratch/d", 0o500)  # not writable: emptied all the same
        pid = os.fork()
        if pid == 0:
            os.setsid()  # out of the student's process group
            time.sleep(600)
            os._exit(0)
        return pid
    def look():
        names = os.listdir("/tmp") + os.listdir("/scratch") + os.listdir("/dev/shm")
        return sorted(names), sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    def die():
        os._exit(3)
""")


def test_a_students_next_notebook_starts_as_in_a_new_sandbox():
    """Two sessions of one host (one student's two notebooks): the second sees no process and
    no file the first left, in the same bubblewrap sandbox (no second start)."""
    from autograder.stages.sandbox import Host

    with Host(FAST) as host:
        with Sandbox(LEFTOVERS, limits=FAST, host=host) as first:
            daemon = first.invoke("leave", ()).output
            bwrap = host.proc.pid
        assert host.idle()
        with Sandbox(LEFTOVERS, limits=FAST, host=host) as second:
            names, pids = second.invoke("look", ()).output
        assert host.proc.pid == bwrap and host.idle()
    assert names == ()
    assert daemon not in pids and len(pids) == 4  # bubblewrap, the driver, this session, its student's process


def test_a_session_that_dies_costs_its_sandbox_not_the_next_session():
    from autograder.stages.sandbox import Host
    from autograder.submission import StudentRaised

    with Host(FAST) as host:
        with Sandbox(LEFTOVERS, limits=FAST, host=host) as first:
            bwrap = host.proc.pid
            with pytest.raises(StudentRaised) as died:
                first.invoke("die", ())
        assert died.value.exc_type == "WorkerDied" and "3" in died.value.text
        with Sandbox(LEFTOVERS, limits=FAST, host=host) as second:
            assert second.load_error is None and second.invoke("look", ()).output[0] == ()
            assert host.proc.pid != bwrap  # a new sandbox
    assert host.proc is None
