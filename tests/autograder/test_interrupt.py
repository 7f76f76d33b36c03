"""When the grader is stopped (Ctrl-C, kill -9), does it stop at once, keep what it finished, and
leave no process behind?"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.stages.sandbox import bwrap_available

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "submitted"
pytestmark = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc: parent ids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(EXAMPLES), "--out", str(out),
                             "--jobs", "2", "--timeout", "10", "--force"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def sandboxes_running(pid: int) -> bool:
    return any(b"tpworker" in Path(f"/proc/{p}/cmdline").read_bytes() for p in descendants(pid)
               if Path(f"/proc/{p}/cmdline").exists())


def test_kill_9_of_the_grader_leaves_no_worker(tmp_path):
    """kill -9 of the grader with --jobs 2: its pool workers and their sandboxes die with it."""
    grader = start(tmp_path / "out")
    try:
        assert wait_for(lambda: sandboxes_running(grader.pid), 180), "no sandbox started"
        below = descendants(grader.pid)
        assert len(below) >= 3  # two pool workers and at least one sandbox
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait(10)
        # a worker still starting dies once it has imported the grader (die_with_parent): seconds on a busy box
        assert wait_for(lambda: not any(alive(p) for p in below), 60), [p for p in below if alive(p)]
    finally:
        if grader.poll() is None:
            grader.kill()


def test_a_pool_worker_whose_grader_died_while_it_started_dies_too(tmp_path):
    """The race behind a pool worker that outlived ``kill -9``: the grader dies while the worker
    still imports, before it asks for PR_SET_PDEATHSIG; no signal will ever come, so the worker
    must see that its parent is gone and die rather than grade the work already in its pipe."""
    go = tmp_path / "go"
    worker = (f"import os, pathlib, sys, time\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n"
              f"from autograder.grade import die_with_parent\n"
              f"parent = int(sys.argv[1])\n"
              f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.05)\n"
              f"die_with_parent(parent)\n"
              f"time.sleep(60)\n")
    grader = (f"import os, subprocess, sys\n"
              f"quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
              f"print(subprocess.Popen([sys.executable, '-c', {worker!r}, str(os.getpid())], **quiet).pid)\n")
    pid = int(subprocess.run([sys.executable, "-c", grader], capture_output=True, text=True,
                             check=True).stdout)  # the "grader" has exited: the worker is an orphan
    try:
        assert alive(pid)
        go.touch()
        assert wait_for(lambda: not alive(pid), 20), "the orphaned worker is still running"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_keeps_finished_results_and_says_so(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) with --jobs 2: the grader stops without
    grading the rest, every finished result stays readable, one line says what was kept."""
    out = tmp_path / "out"
    grader = start(out)
    try:
        assert wait_for(lambda: any(out.glob("*/*/grading.json")), 240), "nothing was graded"
        below = descendants(grader.pid)
        os.killpg(grader.pid, signal.SIGINT)
        _, err = grader.communicate(timeout=60)
    finally:
        if grader.poll() is None:
            os.killpg(grader.pid, signal.SIGKILL)
    assert grader.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: "), err[-2000:]
    done = list(out.glob("*/*/grading.json"))
    assert 1 <= len(done) < 15  # the class has 15 submissions: it stopped before the end
    assert all(json.loads(p.read_text())["student"] for p in done)
    assert not (out / "grades.csv").exists()
    # a worker still starting dies once it has imported the grader (die_with_parent): seconds on a busy box
    assert wait_for(lambda: not any(alive(p) for p in below), 60), [p for p in below if alive(p)]
