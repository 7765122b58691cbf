"""Workers beside each other: every thread pool limited inside a real worker, packed training for a user's task, and
the sweep's and study's one-line errors and plans (issue 35)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import TINY, run_cli

from hyperinterp import threads
from hyperinterp.experiments import executor, study, sweep
from hyperinterp.generate import config, netfile

BRANCHY = '''
import torch

def branchy(x):
    # data-dependent control flow: torch.vmap cannot trace this, so packed training must compute targets outside it
    if bool((x[:, 0] > 0).any()):
        return x.abs().sum(-1)
    return x.sum(-1)
'''


def _limited(pools: dict) -> bool:
    return all(v == 1 for v in pools.values())


def test_a_worker_starts_with_every_pool_at_one_thread():
    """Inside a process of the sweep's pool, numpy's BLAS, any OpenMP library and torch's pools use one thread,
    whatever this process uses."""
    with executor.worker_pool(1) as pool:
        pools = pool.submit(threads.pools).result()
        blas = pool.submit(_blas_env).result()
    assert _limited(pools) and any(k.startswith("openblas") or k.startswith("mkl") for k in pools), pools
    assert blas == "1"


def _blas_env() -> str | None:
    import os

    return os.environ.get("OPENBLAS_NUM_THREADS")


def test_a_real_job_records_its_limited_pools(tmp_path: Path):
    """A sweep job run by the local executor writes the thread pools it ran with into its networks' meta: all one."""
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=("direct",), direct_steps=3)
    out = tmp_path / "s"
    executor.run_sweep(out, spec, config.load(None, TINY), workers=1, retries=0, progress=False)
    _, meta = netfile.load(out / "networks" / "direct_seed0_beta1e-03" / "beta_1e-03.npz")
    assert _limited(meta["thread_pools"]) and meta["thread_pools"]["torch"] == 1, meta["thread_pools"]


def test_limit_in_this_process_leaves_the_environment_of_children_only(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with threads.children_limited(1):
        import os

        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_a_user_task_with_branches_trains_packed(tmp_path: Path, monkeypatch):
    """--pack with a user task: its targets are computed outside torch.vmap, so even a target that branches on the
    data trains as one stacked computation (no fallback to one job per seed). That a pack equals its seeds' solo runs
    is test_sweep's packed test."""
    name = f"branchy_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(BRANCHY)
    monkeypatch.syspath_prepend(str(tmp_path))
    training = {"name": "mine", "seeds": (0, 1), "set": {"task.name": f"{name}:branchy"}, "init_from": "",
                "phases": False, "generalization": False}
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=(), trainings=(training,))
    packed = tmp_path / "packed"
    executor.run_sweep(packed, spec, config.load(None, TINY), workers=1, retries=0, progress=False, pack=2)
    for seed in (0, 1):
        run = packed / "train" / "mine" / f"seed_{seed}"
        meta = json.loads((sorted(run.glob("checkpoints/step_*"))[-1] / "meta.json").read_text())
        assert meta["command"] == "hyperinterp sweep --pack", seed
    rows = json.loads((packed / "table.json").read_text())
    assert len(rows) == 2 and np.isfinite([r["rel_mse_median"] for r in rows]).all()


def test_sweep_into_a_file_is_one_line_and_exit_2(tmp_path: Path):
    target = tmp_path / "a_file"
    target.write_text("mine")
    res = run_cli("sweep", str(target), "--seeds", "1", "--modes", "adam")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "is a file, not a sweep folder" in res.stderr and target.read_text() == "mine"


TRAININGS_ONLY = f"""
description = "one training, no [sweep] table"
set = {json.dumps(TINY)}

[[training]]
name = "only"
seeds = [0]
"""


def test_a_study_without_sweep_runs_only_its_trainings(tmp_path: Path):
    """The rule in study.py's format: no [sweep] table, no built-in modes; a study (a sweep alike: the same
    executor.run_sweep) prints its jobs per mode before it starts."""
    path = tmp_path / "only.toml"
    path.write_text(TRAININGS_ONLY)
    spec, _, _ = study.load(path)
    assert spec.modes == () and [j.name for j in sweep.plan(spec)] == ["only_seed0"]
    res = run_cli("study", str(path), str(tmp_path / "out"), "--workers", "1", timeout=300)
    assert res.returncode == 0, res.stderr
    assert "1 jobs (only x1), 0 finished already" in res.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "cells").iterdir()) == ["only_seed0.json"]


def test_a_study_with_nothing_to_run_is_one_line(tmp_path: Path):
    path = tmp_path / "empty.toml"
    path.write_text('description = "nothing"\n')
    res = run_cli("study", str(path), str(tmp_path / "out"))
    assert res.returncode == 2 and "nothing to run" in res.stderr and not (tmp_path / "out").exists()
