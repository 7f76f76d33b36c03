"""A real single-node Slurm cluster on this machine, for the tests and the benchmark.

Debian's ``slurm-wlm`` and ``munge`` (``scripts/setup.sh`` installs them when run as root):
``munged``, ``slurmctld`` and ``slurmd`` started as root with everything — munge key and
socket, ``slurm.conf``, state, spool, logs — under one temporary folder, on free ports, and
stopped by their PIDs. The node is this machine as ``slurmd -C`` sees it (its real CPU count and
memory), one partition; ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``,
``SelectType=select/cons_tres``, no accounting (submitit warns that ``sacct`` is off).

:func:`unavailable` says why no cluster can be started here ("" when one can);
:class:`LocalSlurm` starts one (``with LocalSlurm() as cluster: …``) and sets ``$SLURM_CONF``
for this process while it runs, so that ``sbatch``, ``squeue`` and submitit find it (jobs inherit
the environment).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")


def unavailable() -> str:
    """Why a local Slurm cannot be started here, or ""."""
    if os.geteuid() != 0:
        return "the local Slurm cluster needs root (slurmd runs jobs as their user)"
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} missing): scripts/setup.sh installs slurm-wlm "
                f"and munge when run as root on Debian")
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def node_line() -> str:
    """The node's ``NodeName=… CPUs=… RealMemory=…`` line, from ``slurmd -C``."""
    out = subprocess.run([_exe("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("NodeName="))


class LocalSlurm:
    """One node, one partition (``PARTITION``), started by :meth:`start`, stopped by :meth:`stop`."""

    PARTITION = "grading"

    def __init__(self, start_timeout: float = 60.0):
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self.pids: dict[str, int] = {}
        self._processes: dict[str, subprocess.Popen] = {}
        self._env_before: str | None = None

    # the configuration ------------------------------------------------------------------------
    def write_config(self) -> Path:
        d = self.dir
        for sub in ("munge", "state", "spool", "log"):
            (d / sub).mkdir(mode=0o700)
        key = d / "munge" / "munge.key"
        subprocess.run([_exe("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True, timeout=30)
        key.chmod(0o400)
        node = node_line()
        self.node = node.split()[0].split("=", 1)[1]
        conf = d / "slurm.conf"
        conf.write_text(f"""\
ClusterName=tpgrader
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d / 'munge' / 'munge.socket'}
CredType=cred/munge
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'log' / 'slurmctld.log'}
SlurmdLogFile={d / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=30
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName={self.PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        (d / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")
        return conf

    # the daemons --------------------------------------------------------------------------------
    def start(self) -> LocalSlurm:
        self.dir = Path(tempfile.mkdtemp(prefix="tp-slurm-"))
        self.dir.chmod(0o700)
        conf = self.write_config()
        m = self.dir / "munge"
        log = self.dir / "log"
        self._env_before = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(conf)
        try:
            self._daemon("munged", [_exe("munged"), "--foreground", f"--key-file={m / 'munge.key'}",
                                    f"--socket={m / 'munge.socket'}", f"--pid-file={m / 'munged.pid'}",
                                    f"--log-file={log / 'munged.log'}", f"--seed-file={m / 'munged.seed'}",
                                    "--force"], wait_for=m / "munge.socket")
            self._daemon("slurmctld", [_exe("slurmctld"), "-D", "-i", "-f", str(conf)])
            self._daemon("slurmd", [_exe("slurmd"), "-D", "-f", str(conf), "-N", self.node])
            self.wait_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def _daemon(self, name: str, argv: list[str], wait_for: Path | None = None) -> None:
        out = open(self.dir / "log" / f"{name}.out", "wb")  # noqa: SIM115 - kept for the daemon's life
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "SLURM_CONF": str(self.dir / "slurm.conf")})
        out.close()
        self.pids[name] = process.pid
        self._processes[name] = process
        deadline = time.monotonic() + self.start_timeout
        while wait_for is not None and not wait_for.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {self.log(name)}")
            time.sleep(0.05)
        time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {self.log(name)}")

    def log(self, name: str, chars: int = 2000) -> str:
        """The end of a daemon's output and log file."""
        text = ""
        for path in (self.dir / "log" / f"{name}.out", self.dir / "log" / f"{name}.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return text[-chars:].strip() or "(no output)"

    def wait_idle(self) -> None:
        """Until ``sinfo`` shows the node idle; RuntimeError with the daemons' logs on timeout."""
        deadline, state = time.monotonic() + self.start_timeout, ""
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.log(name)}")
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
            state = (done.stdout.strip() or done.stderr.strip())
            if done.returncode == 0 and state.split()[:1] == ["idle"]:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node is not idle after {self.start_timeout:g} s (sinfo: {state!r}); "
                           f"slurmctld: {self.log('slurmctld', 800)}; slurmd: {self.log('slurmd', 800)}")

    def stop(self) -> None:
        """Every daemon stopped by its PID (SIGTERM, then SIGKILL), ``$SLURM_CONF`` restored, the folder removed."""
        if self._processes.get("slurmctld") is not None and self._processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", f"--partition={self.PARTITION}"], capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the jobs' steps end before slurmd does
                left = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30)
                if left.returncode != 0 or not left.stdout.strip():
                    break
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self._processes.get(name)
            if process is None or process.poll() is not None:
                continue
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        if self._env_before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._env_before
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
