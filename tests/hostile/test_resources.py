"""Hostile submissions against the sandbox's resources and the grader's parsing, graded in ONE
class with two honest students (issue "Make the trust boundary real").

Each fixture is the honest Part 1 notebook whose ``predict`` (or a cell run at load) attacks:
it reads the grader's environment or the host's accounts, fills /tmp, the home or /dev/shm,
forks children that together hold more than the sandbox's memory, allocates 20 GiB, starts
thousands of threads, sends a 100 MB source cell, or writes forged answers straight onto the
answer pipe (its number is in $TP_FDS). For the class as a whole: it finishes with a complete
gradebook; the honest rows are those of a class without attackers; no value of the grader's
environment reaches any file it wrote; no worker process, scratch folder or cgroup is left; the
grader's own memory stays under 2 GiB. The sandbox's memory cgroup is kept at 3 GiB so that the
memory attacks cannot exhaust the machine (RLIMIT_AS stays at 6 GiB: ``import torch`` needs 4).
"""

from __future__ import annotations

import inspect
import os
import resource
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest
from classes import rows, write_class
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import checks
from autograder.grade import grade_class
from autograder.stages import cgroups
from autograder.stages import sandbox as sandboxes
from autograder.stages.sandbox import Limits, bwrap_available
from reference import tp1_perceptron as p1

pytestmark = [pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here"),
              pytest.mark.slow]

A = "tp1_perceptron"
SPEC = checks.load(A)
FUNCTIONS = ("forward", "update", "predict")
HONEST = {f: inspect.getsource(getattr(p1, f)).replace("Params", "dict") for f in FUNCTIONS}
PREDICT_BODY = "    return forward(params, x).argmax(1)"
SECRET_NAME, SECRET = "TP_TEST_SECRET", "tp-test-secret-9d2f71c4b08e"
LIMITS = Limits(call_seconds=8, startup_seconds=90, submission_seconds=150,
                sandbox_memory_bytes=3 << 30, tmpfs_bytes=256 << 20)


def notebook(predict: str | None = None, prelude: str = ""):
    cells = [new_markdown_cell("# TP 1"), new_code_cell("import torch")]
    if prelude:
        cells.append(new_code_cell(prelude))
    for f in FUNCTIONS:
        source = HONEST[f]
        if f == "predict" and predict is not None:
            source = source.replace(PREDICT_BODY, textwrap.indent(textwrap.dedent(predict).strip("\n"), "    "))
        cells.append(new_code_cell(source))
    return new_notebook(cells=cells)


HONEST_RETURN = "return forward(params, x).argmax(1)"
FILL = """
    import os
    written, i = 0, 0
    try:
        while written < ({gib} << 30):
            with open(os.path.join({folder}, f'f{{i}}'), 'wb') as f:
                for _ in range(64):
                    written += f.write(b'x' * (1 << 20))
            i += 1
    except OSError:
        pass
    """ + HONEST_RETURN


def forged(frame: str) -> str:
    """predict writing ``frame`` (an expression of bytes) straight onto the answer pipe."""
    return f"""
    import os
    answers = int(os.environ['TP_FDS'].split(',')[1])
    data = memoryview({frame})
    while data:
        data = data[os.write(answers, data):]
    import time
    time.sleep(60)
    """


def _safetensors_frame(meta: str) -> str:
    """The expression of a frame holding a safetensors buffer whose structure (the JSON text in
    its metadata) is the expression ``meta``."""
    return ("(lambda h: (8 + len(h)).to_bytes(8, 'big') + len(h).to_bytes(8, 'little') + h)"
            f"(__import__('json').dumps({{'__metadata__': {{'meta': {meta}}}}}).encode())")


FIXTURES = {
    "prints_the_environment": notebook("""
        import os
        seen = open('/proc/1/environ').read() + open('/proc/self/environ').read() + repr(dict(os.environ))
        print(seen, flush=True)
        raise ValueError(seen)
        """),
    # a class body runs when the notebook's code loads (top-level statements are not extracted);
    # harmless once nothing is there to read: it keeps its points
    "environment_at_load": notebook(prelude="class Leak:\n    import os, sys\n"
                                            "    print(open('/proc/1/environ').read(), dict(os.environ))\n"
                                            "    print(open('/proc/self/environ').read(), file=sys.stderr)"),
    "reads_shadow": notebook("raise ValueError(open('/etc/shadow').read())"),
    "reads_passwd": notebook("raise ValueError(open('/etc/passwd').read() + open('/etc/group').read())"),
    "fills_tmp_7gib": notebook(FILL.format(gib=7, folder="'/tmp'")),
    "fills_home_6gib": notebook(FILL.format(gib=6, folder="os.path.expanduser('~')")),
    "fills_dev_shm": notebook(FILL.format(gib=6, folder="'/dev/shm'")),
    "five_children_of_1_5_gib": notebook("""
        import os, time
        for _ in range(5):
            if os.fork() == 0:
                b = bytearray(3 << 29)
                b[::4096] = b'\\x01' * len(range(0, 3 << 29, 4096))
                time.sleep(60)
                os._exit(0)
        time.sleep(60)
        """),
    "fork_bomb": notebook("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """),
    "allocates_20_gib": notebook("""
        b = bytearray(20 << 30)
        """ + HONEST_RETURN),
    "touches_20_gib": notebook("""
        blocks = []
        while True:
            blocks.append(torch.ones(1 << 28))
        """),
    "many_threads": notebook("""
        import threading, time
        threads = []
        try:
            for _ in range(100_000):
                t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
                t.start()
                threads.append(t)
        except RuntimeError:
            pass
        """ + HONEST_RETURN),
    "source_cell_of_100_mb": notebook(prelude="class Padding:\n    DATA = '" + "x" * (100 << 20) + "'"),
    "forged_150_mb_answer": notebook(forged("(150 << 20).to_bytes(8, 'big') + b'{}' * (75 << 20)")),
    # 30 MB of empty objects as the structure: under the frame cap, over the header's
    "forged_huge_header": notebook(forged(_safetensors_frame("'[' + '{},' * (10 << 20) + '{}]'"))),
    # 4.5 MB: under the header's cap, 1.5 million values
    "forged_many_nodes": notebook(forged(_safetensors_frame(
        "'{\"ok\": true, \"data\": {\"list\": [' + '{},' * 1_500_000 + '{}]}}'"))),
    "forged_deep_nesting": notebook(forged(_safetensors_frame(
        "'{\"ok\": true, \"data\": ' + '[' * 100_000 + ']' * 100_000 + '}'"))),
}
HONEST_STUDENTS = ("honest", "honest_too")
# stopped by a bound (a full tmpfs, the pids cgroup) or finding nothing to read, then honest: they
# may keep their points, which is not what is judged here
BOUNDED_THEN_HONEST = {"environment_at_load", "fills_tmp_7gib", "fills_home_6gib", "fills_dev_shm", "many_threads"}




def _worker_processes() -> set[int]:
    found = subprocess.run(["pgrep", "-f", "tpworker"], capture_output=True, text=True).stdout.split()
    return {int(p) for p in found} - {os.getpid()}


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for the host's init to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descends_from(pid: int, marker: str) -> bool:
    """Whether ``pid`` or one of its ancestors has ``marker`` in its command line."""
    while pid > 1:
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
            pid = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("PPid:")))
        except (OSError, StopIteration, ValueError):
            return False
    return False


def _sandbox_cgroup(pid: int) -> str | None:
    """The tp-sandbox group a process is in (None: none)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    names = [part for line in text.splitlines() for part in line.split("/") if part.startswith(cgroups.PREFIX)]
    return names[0] if names else None


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    honest_only, mixed = tmp_path_factory.mktemp("honest_only"), tmp_path_factory.mktemp("mixed")
    scratch_root = tmp_path_factory.mktemp("scratch")
    write_class(honest_only, {s: notebook() for s in HONEST_STUDENTS}, A)
    write_class(mixed, {**{s: notebook() for s in HONEST_STUDENTS}, **FIXTURES}, A)
    made: list[cgroups.Group] = []
    started: list[int] = []
    create, start = cgroups.create, sandboxes.Sandbox._start

    def recording_create(*args, **kwargs):
        group = create(*args, **kwargs)
        if group is not None:
            made.append(group)
        return group

    def recording_start(self):
        try:
            start(self)
        finally:
            if self._proc is not None:
                started.append(self._proc.pid)

    before = _worker_processes()
    with pytest.MonkeyPatch.context() as patched:
        patched.setenv(SECRET_NAME, SECRET)
        patched.setattr(cgroups, "create", recording_create)
        patched.setattr(sandboxes.Sandbox, "_start", recording_start)
        patched.setattr(tempfile, "tempdir", str(scratch_root))
        grade_class(honest_only / "submitted", [A], honest_only / "out", jobs=1, limits=LIMITS, progress=False)
        results = grade_class(mixed / "submitted", [A], mixed / "out", jobs=1, limits=LIMITS, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # other sessions of this machine may run workers now: ours name our scratch folder (bwrap's
    # command line) or descend from one that does, or sit in one of our cgroups
    survivors = {pid: _sandbox_cgroup(pid) for pid in _worker_processes() - before}
    survivors = {pid: group for pid, group in survivors.items()
                 if group in {Path(p).name for g in made for p in g.paths} or _descends_from(pid, str(scratch_root))}
    return {"alone": rows(honest_only / "out"), "mixed": rows(mixed / "out"), "results": {g.student: g for g in results},
            "out": mixed / "out", "scratch_root": scratch_root, "groups": made, "started": started,
            "leaked_workers": survivors,
            "peak_rss": peak}


def test_at_least_twelve_fixtures():
    assert len(FIXTURES) >= 12


def test_the_class_finishes_with_a_complete_gradebook(graded):
    assert set(graded["mixed"]) == set(FIXTURES) | set(HONEST_STUDENTS)
    for name in set(FIXTURES) - BOUNDED_THEN_HONEST:
        assert float(graded["mixed"][name]["score"]) < SPEC.max_points, name


def test_honest_rows_are_those_of_a_class_without_attackers(graded):
    for student in HONEST_STUDENTS:
        assert graded["mixed"][student] == graded["alone"][student]
        assert float(graded["mixed"][student]["score"]) == SPEC.max_points


def test_no_grader_environment_value_reaches_any_file(graded):
    """The grader's secret appears in no file under OUT (feedback pages, results, outputs),
    though five submissions printed, returned or raised every environment they could read."""
    values = {SECRET}
    for path in graded["out"].rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [v for v in values if v.encode() in data]
            assert not leaked, (path, [v[:30] for v in leaked])
    notes = " ".join(" ".join([g.error, g.output, *g.notes]) for g in graded["results"].values())
    assert "getpwuid" not in notes


def test_nothing_of_the_sandboxes_is_left(graded):
    assert graded["groups"], "no cgroup was created: run as root on a machine with cgroups"
    assert not [p for g in graded["groups"] for p in g.paths if p.exists()]
    assert not list(graded["scratch_root"].glob("tp-sandbox-*"))
    assert not [pid for pid in graded["started"] if _alive(pid)]
    assert not graded["leaked_workers"], graded["leaked_workers"]


def test_the_grader_memory_stays_bounded(graded):
    assert graded["peak_rss"] < 2 << 30, graded["peak_rss"] / 2**30


@pytest.mark.parametrize("name", ["reads_shadow", "forged_150_mb_answer", "forged_huge_header", "forged_many_nodes",
                                  "forged_deep_nesting", "source_cell_of_100_mb"])
def test_the_attack_is_named(graded, name):
    g = graded["results"][name]
    everything = " ".join([g.error, *g.notes, *(r.message for r in g.results)])
    expected = {"reads_shadow": "FileNotFoundError", "source_cell_of_100_mb": "MB"}.get(name, "WorkerDied|stopped|killed|died")
    assert any(word in everything for word in expected.split("|")), everything
