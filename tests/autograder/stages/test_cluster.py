"""Grading on a real single-node Slurm cluster (tests/slurmcluster.py: munged, slurmctld and
slurmd started for this module, stopped by their PIDs): the gradebook equals a local run's byte
for byte, a second run resumes, a task killed with ``scancel`` is submitted again, a task that
fails twice is recorded (``--device cuda`` checked on the node), Ctrl-C cancels the arrays and
keeps what finished, and an unreachable controller is one line."""

from __future__ import annotations

import _thread
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import slurmcluster

from autograder.grade import grade_class
from autograder.stages.sandbox import bwrap_available

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "submitted"
STUDENTS = ["correct", "buggy", "crash", "empty"]
A = "tp1_perceptron"

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


@pytest.fixture(scope="module")
def slurm():
    """A running local cluster, or a skip that says why there cannot be one here."""
    if why := slurmcluster.unavailable():
        pytest.skip(why)
    pytest.importorskip("submitit", reason="submitit is not installed (scripts/setup.sh installs it)")
    cluster = slurmcluster.LocalSlurm(start_timeout=60)
    try:
        cluster.start()
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        pytest.fail(f"the local Slurm cluster did not start: {e}")
    yield cluster
    cluster.stop()


def executor(out: Path, **options):
    from autograder.stages.cluster import Slurm

    return Slurm(out / ".slurm", poll_seconds=0.5, result_grace_seconds=3.0, **options)


@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> Path:
    submitted = tmp_path_factory.mktemp("class") / "submitted"
    for student in STUDENTS:
        shutil.copytree(EXAMPLES / student / A, submitted / student / A)
    return submitted


@pytest.fixture(scope="module")
def local_grades(small_class, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("local")
    grade_class(small_class, [A], out, jobs=1, progress=False)
    return (out / "grades.csv").read_bytes()


def queue() -> list[str]:
    """Our cluster's tasks still pending or running."""
    return subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60).stdout.split()


def test_slurm_class_equals_local_and_resumes(slurm, small_class, local_grades, tmp_path):
    out = tmp_path / "out"
    ex = executor(out, chunk=2)
    graded = grade_class(small_class, [A], out, progress=False, executor=ex)
    assert (out / "grades.csv").read_bytes() == local_grades
    assert len(ex.job_ids) == 2 and ex.resubmitted == 0 and ex.failed_tasks == 0
    assert graded.regraded == {"new": len(STUDENTS)}
    assert not any((out / ".slurm").iterdir())  # the run's folder is gone when nothing failed
    again = executor(out, chunk=2)
    graded = grade_class(small_class, [A], out, progress=False, executor=again)
    assert graded.reused == len(STUDENTS) and not graded.regraded and again.job_ids == []
    assert (out / "grades.csv").read_bytes() == local_grades


def test_scancelled_task_is_submitted_again(slurm, small_class, local_grades, tmp_path):
    out, killed = tmp_path / "out", []

    def kill_first_running():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            running = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", "-o", "%i"], capture_output=True,
                                     text=True, timeout=60).stdout.split()
            if running:
                subprocess.run(["scancel", running[0]], check=True, timeout=60)
                killed.append(running[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_running, daemon=True)
    killer.start()
    ex = executor(out, chunk=2, array_parallelism=1)
    grade_class(small_class, [A], out, progress=False, executor=ex)
    killer.join(timeout=10)
    assert killed and ex.resubmitted >= 1 and ex.failed_tasks == 0
    assert (out / "grades.csv").read_bytes() == local_grades


def test_task_failing_twice_is_recorded_and_cuda_is_checked_on_the_node(slurm, tmp_path):
    """tp4_cnn with --device cuda goes to a GPU job; on this GPU-less node (no GPU requested,
    the cluster has none) the node says so, the task is submitted again, then recorded."""
    from realformats import write_cifar10

    submitted = tmp_path / "submitted"
    (submitted / "alice" / "tp4_cnn").mkdir(parents=True)
    shutil.copy(ROOT / "student_template" / "tp4_cnn" / "tp4_cnn.ipynb", submitted / "alice" / "tp4_cnn")
    write_cifar10(tmp_path / "data", per_batch=8)
    out = tmp_path / "out"
    ex = executor(out, gpus_per_job=0)
    graded = grade_class(submitted, ["tp4_cnn"], out, progress=False, executor=ex, dataset="cifar10",
                         data_root=str(tmp_path / "data"), device="cuda")
    assert ex.resubmitted == 1 and ex.failed_tasks == 1
    (g,) = graded
    assert g.score == 0 and g.error.startswith("grading failed on the cluster: RuntimeError: --device cuda: "
                                               "no CUDA GPU is visible on node"), g.error
    assert "grading failed on the cluster" in (out / "alice" / "tp4_cnn" / "results.json").read_text()


def test_gpu_job_requests_a_gpu(slurm, tmp_path):
    """With --gpus-per-job 1 the GPU array asks Slurm for a GPU, which this cluster does not
    have: sbatch refuses it, and that is one line, with nothing left queued."""
    from realformats import write_cifar10

    from autograder.stages.cluster import ClusterError

    submitted = tmp_path / "submitted"
    (submitted / "alice" / "tp4_cnn").mkdir(parents=True)
    shutil.copy(ROOT / "student_template" / "tp4_cnn" / "tp4_cnn.ipynb", submitted / "alice" / "tp4_cnn")
    write_cifar10(tmp_path / "data", per_batch=8)
    with pytest.raises(ClusterError, match="cannot submit the jobs: sbatch: error:") as e:
        grade_class(submitted, ["tp4_cnn"], tmp_path / "out", progress=False, executor=executor(tmp_path / "out"),
                    dataset="cifar10", data_root=str(tmp_path / "data"), device="cuda")
    assert "\n" not in str(e.value)
    assert queue() == []


def test_ctrl_c_cancels_the_array_and_keeps_finished_results(slurm, small_class, tmp_path):
    out = tmp_path / "out"

    def interrupt_after_first_result():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if list(out.glob(f"*/{A}/results.json")):
                _thread.interrupt_main()
                return
            time.sleep(0.1)

    threading.Thread(target=interrupt_after_first_result, daemon=True).start()
    ex = executor(out, chunk=1, array_parallelism=1)
    with pytest.raises(KeyboardInterrupt):
        grade_class(small_class, [A], out, progress=False, executor=ex)
    kept = list(out.glob(f"*/{A}/results.json"))
    assert 1 <= len(kept) < len(STUDENTS)
    deadline = time.monotonic() + 60
    while queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert queue() == []


def test_unreachable_controller_is_one_line(slurm, small_class, tmp_path, monkeypatch, capsys):
    from autograder.cli import main

    conf = Path(slurm.dir) / "slurm.conf"
    dead = tmp_path / "slurm.conf"
    port = slurmcluster._free_port()
    dead.write_text("".join(f"SlurmctldPort={port}\n" if line.startswith("SlurmctldPort=") else line + "\n"
                            for line in conf.read_text().splitlines()))
    monkeypatch.setenv("SLURM_CONF", str(dead))
    rc = main(["grade", str(small_class), "--assignment", A, "--out", str(tmp_path / "out"), "--executor", "slurm"])
    err = "\n".join(line for line in capsys.readouterr().err.replace("\r", "\n").splitlines()
                    if line.strip() and not line.startswith("grading:"))  # the progress bar
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: --executor slurm: cannot submit the jobs: sbatch: error:"), err
