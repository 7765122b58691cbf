"""Shared fixtures: one tiny training run for the whole session (a few seconds on one core)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A tiny but complete configuration: every code path of training, at a cost of well under a second.
TINY = ["optim.steps=20", "hyper.layers=1", "hyper.width=8", "optim.nets_per_step=4", "optim.inputs_per_step=32",
        "optim.checkpoint_every=5", "optim.log_every=5", "task.n=4", "task.m=8"]


def tiny_sets(*extra: str) -> list[str]:
    """`--set` arguments for the tiny configuration (later keys override earlier ones)."""
    args: list[str] = []
    for item in (*TINY, *extra):
        args += ["--set", item]
    return args


def thread_env(omp: str | None) -> dict[str, str]:
    """This process's environment with OMP_NUM_THREADS set to `omp`, or removed when None."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return env if omp is None else {**env, "OMP_NUM_THREADS": omp}


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command line in a fresh interpreter (what a user runs)."""
    return subprocess.run([sys.executable, "-m", "hyperinterp.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """A run folder trained through the CLI entry point (in-process) and the summary it printed."""
    from hyperinterp import cli

    run = tmp_path_factory.mktemp("tiny") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["train", str(run), "--quiet", *tiny_sets()])
    assert code == 0
    return run, json.loads(out.getvalue().strip().splitlines()[-1])
