"""The sweep on a real Ray cluster, started and stopped here: a head node and a worker node on 127.0.0.1.

A Ray worker process is killed (SIGKILL) while it runs a job, mid-training where it can be caught there:
Ray retries the job, which resumes from its last checkpoint, and the sweep still ends with every cell
exactly once and a table byte-identical to the same sweep run in local processes.

Ray is the optional extra `distributed`; the `test` extra installs it, so CI runs this module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_sweep import SPEC, TINY

from hyperinterp.experiments import executor, sweep
from hyperinterp.generate import config

pytest.importorskip("ray", reason="Ray is not installed: the optional extra 'distributed' (or the 'test' extra)")
if not Path("/proc/self/stat").exists():
    pytest.skip("finding the Ray worker processes to kill reads /proc (Linux)", allow_module_level=True)


# ---------------------------------------------------------------- processes, from /proc

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of a live process, or None (gone, or a zombie nobody reaps)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return None if fields[0] in "ZX" else (int(fields[1]), int(fields[2]))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


@dataclass
class Cluster:
    address: str
    temp_dir: Path
    groups: list[int]  # process groups of the two `ray start` commands: every daemon they left

    def raylets(self) -> list[int]:
        return [pid for pid in _pids() if (cmd := _cmdline(pid)).split(" ")[0].endswith("/raylet")
                and str(self.temp_dir) in cmd]

    def workers(self, raylets: list[int] | None = None) -> list[int]:
        """The Ray worker processes of this cluster: every live descendant of its raylets.

        Found from each process's parent in /proc/PID/stat, not from /proc/PID/task/TID/children, which the
        kernel documents as unreliable while the process forks (and lacks without CONFIG_PROC_CHILDREN)."""
        parents: dict[int, list[int]] = {}
        for pid in _pids():
            if st := _stat(pid):
                parents.setdefault(st[0], []).append(pid)
        found, todo = [], list(self.raylets() if raylets is None else raylets)
        while todo:
            children = parents.get(todo.pop(), [])
            found += children
            todo += children
        return found

    def processes(self) -> list[int]:
        return [pid for pid in _pids() if (st := _stat(pid)) and st[1] in self.groups] + self.workers()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(args: list[str], groups: list[int]) -> None:
    ray_cli = Path(sys.executable).with_name("ray")  # this environment's: its workers import hyperinterp
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(ray_cli if ray_cli.exists() else "ray"), "start", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    groups.append(proc.pid)  # a new session: the daemons it starts keep this process group
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, f"ray start {' '.join(args)} failed:\n{output[-3000:]}"


def _stop(cluster: Cluster) -> None:
    """Stop only what this module started: the daemons of its two process groups and their workers."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        pids = cluster.processes()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and cluster.processes():
            time.sleep(0.1)
        if not cluster.processes():
            return


@pytest.fixture(scope="module")
def cluster():
    temp_dir = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))  # short: Ray's socket paths are length-limited
    port = _free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp_dir}",
              "--object-store-memory=80000000"]
    c = Cluster(address=f"127.0.0.1:{port}", temp_dir=temp_dir, groups=[])
    try:
        _ray_start(["--head", f"--port={port}", "--include-dashboard=false",
                    f"--ray-client-server-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
                    f"--metrics-export-port={_free_port()}", *common], c.groups)
        _ray_start([f"--address={c.address}", f"--dashboard-agent-listen-port={_free_port()}",
                    f"--metrics-export-port={_free_port()}", *common], c.groups)
        yield c
    finally:
        _stop(c)
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---------------------------------------------------------------- the sweep

def _holds_open(pid: int, folder: Path) -> bool:
    """Whether a process has a file under `folder` open (a training holds its TensorBoard log open)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(str(folder) + os.sep):
                return True
        except OSError:
            pass
    return False


class Killer(threading.Thread):
    """Kills (SIGKILL) one Ray worker while it runs a job: one mid-training if it sees one in time,
    else, `patience` seconds after the first running job, any running job."""

    def __init__(self, cluster: Cluster, out: Path, patience: float = 4.0):
        super().__init__(daemon=True)
        self.cluster, self.out, self.patience = cluster, out, patience
        self.stop = threading.Event()
        self.killed: tuple[int, str, bool] | None = None  # pid, what it ran, whether it was training
        self.seen: set[str] = set()  # what the cluster's workers were seen doing: said if none ran a job

    def run(self) -> None:
        first_seen, raylets = None, self.cluster.raylets()
        self.seen.add(f"{len(raylets)} raylets")
        while not self.stop.is_set() and self.killed is None:
            workers = self.cluster.workers(raylets)
            self.seen.update(_cmdline(pid)[:60] for pid in workers)
            training = [pid for pid in workers if _holds_open(pid, self.out / "train")]
            running = [pid for pid in workers if _cmdline(pid).startswith("ray::run_job")] + training
            if running and first_seen is None:
                first_seen = time.monotonic()
            if training or (running and time.monotonic() - first_seen > self.patience):
                pid = (training or running)[0]
                what = _cmdline(pid)
                if what.startswith("ray::") and not what.startswith("ray::IDLE"):  # not idle, not gone
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (pid, what, bool(training))
                    return
            time.sleep(0.02)


def _cell_files(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "cells").iterdir() if not p.name.startswith("."))


def test_sweep_on_ray_survives_a_killed_worker(cluster: Cluster, tmp_path: Path, monkeypatch):
    base = config.load(None, TINY)
    jobs = sweep.plan(SPEC)
    t0 = time.monotonic()

    # a relative folder, as typed on a command line: the workers run in their node's working directory
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "ray"
    sweep.prepare(Path("ray"), SPEC, base)
    killer = Killer(cluster, out)
    killer.start()
    failures = {}
    try:  # wave by wave, as run_sweep runs them: the wide training continues the multi_n run of its seed
        for wave in sweep.waves(jobs):
            failures |= executor.run_ray(Path("ray"), SPEC, base, wave, cluster.address, retries=2, progress=False)
    finally:
        killer.stop.set()
        killer.join()
    t_ray = time.monotonic() - t0
    assert failures == {}
    assert killer.killed is not None, f"no Ray worker was seen running a job; seen: {sorted(killer.seen)}"
    pid, _, _ = killer.killed
    assert pid not in cluster.workers()  # it is dead, and Ray ran its job again elsewhere
    sweep.collect(out, SPEC)
    assert _cell_files(out) == sorted(f"{j.name}.json" for j in jobs)  # every cell exactly once

    local = tmp_path / "local"
    sweep.prepare(local, SPEC, base)
    for wave in sweep.waves(jobs):
        assert executor.run_local(local, SPEC, base, wave, workers=2, retries=0, progress=False) == {}
    sweep.collect(local, SPEC)
    assert (out / "table.csv").read_bytes() == (local / "table.csv").read_bytes()
    assert (out / "table.json").read_bytes() == (local / "table.json").read_bytes()

    # rerunning on Ray skips every finished cell: nothing is rewritten
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert executor.run_ray(out, SPEC, base, jobs, cluster.address, retries=2, progress=False) == {}
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == before
    print(f"ray sweep {t_ray:.1f}s, killed {killer.killed}")


def test_failed_job_on_ray_is_retried_then_reported(cluster: Cluster, tmp_path: Path):
    base = config.load(None, TINY)
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=("range", "adam"), steps=10, direct_steps=10)
    out = tmp_path / "f"
    sweep.prepare(out, spec, base)
    (out / "train" / "range").mkdir(parents=True)
    (out / "train" / "range" / "seed_0").write_text("not a folder")  # the job cannot train here
    failures = executor.run_ray(out, spec, base, sweep.plan(spec), cluster.address, retries=1, progress=False)
    assert list(failures) == ["range_seed0"]
    assert failures["range_seed0"].startswith("UserError: run folder"), failures  # its own error, not Ray's
    assert _cell_files(out) == ["adam_seed0.json"]  # the other job still finished
