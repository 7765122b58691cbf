"""Run sweep jobs: in local processes (default) or as Ray tasks on an existing cluster.

Every job is idempotent (a finished job has its cell file, an unfinished training resumes
from its last checkpoint), so a retry after a crash never duplicates a cell. A job that
still fails after `retries` extra attempts is reported, not dropped.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from .. import threads
from ..errors import UserError
from ..generate.config import Config
from .sweep import Job, Pack, SweepSpec, collect, done, packs, plan, prepare, run_task, waves


class SweepFailed(UserError):
    pass


def _pending(out: Path, spec: SweepSpec, base: Config, jobs: list[Job | Pack]) -> list[Job | Pack]:
    return [j for j in jobs if not done(out, spec, base, j)]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def per_mode(jobs: list[Job] | list[Pack]) -> str:
    """"range x2, per_beta x10": how many jobs of each mode, in the plan's order."""
    modes: dict[str, int] = {}
    for job in jobs:
        modes[job.mode] = modes.get(job.mode, 0) + 1
    return ", ".join(f"{m} x{c}" for m, c in modes.items())


def _label(jobs: list[Job | Pack], where: str) -> str:
    """What a progress bar counts: "sweep jobs (range x2, per_beta x10) in 2 processes"."""
    what = "trainings packed" if isinstance(jobs[0], Pack) else "sweep jobs"
    return f"{what} ({per_mode(jobs)}) {where}"


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[cf.ProcessPoolExecutor]:
    """`workers` spawned processes, each with one thread in every pool (torch, BLAS, OpenMP: threads.py): started
    with the pools' variables at 1 and limited again once running."""
    with threads.children_limited(1), cf.ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=mp.get_context("spawn"), initializer=threads.limit,
            initargs=(1,)) as pool:
        yield pool


def run_local(out: Path, spec: SweepSpec, base: Config, jobs: list[Job | Pack], workers: int, retries: int,
              progress: bool = True) -> dict[str, str]:
    """Jobs (or packs) in a pool of `workers` processes (one thread in every pool each). Returns {job: error} of
    failures."""
    todo = _pending(out, spec, base, jobs)
    failures: dict[str, str] = {}
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=_label(jobs, f"in {workers} processes"),
               disable=not progress)
    attempts = dict.fromkeys((j.name for j in todo), 0)
    while todo:
        retry: list[Job] = []
        with worker_pool(workers) as pool:
            futures = {pool.submit(run_task, out, spec, base, job): job for job in todo}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    fut.result()
                    bar.set_postfix_str(f"done: {job.name}", refresh=False)
                    bar.update(1)
                except Exception as exc:  # includes a worker killed from outside (BrokenProcessPool)
                    attempts[job.name] += 1
                    if attempts[job.name] > retries:
                        failures[job.name] = _describe(exc)
                        bar.update(1)
                    else:
                        retry.append(job)
                    if os.environ.get("HYPERINTERP_DEBUG"):
                        traceback.print_exception(exc)
        todo = retry
    bar.close()
    return failures


def _ray_error(exc: BaseException) -> str:
    """One line for a failed Ray task: the job's own exception where there is one, not Ray's wrapper."""
    cause = getattr(exc, "cause", None)  # RayTaskError keeps the exception the job raised
    return _describe(cause if isinstance(cause, BaseException) else exc)


def run_sweep(out_dir: str | Path, spec: SweepSpec, base: Config, workers: int | None = None, retries: int = 2,
              ray_address: str | None = None, progress: bool = True, pack: int = 1) -> list[dict]:
    """Prepare the sweep folder, run every unfinished job, write the table; SweepFailed if a job failed.

    pack > 1: before a wave's jobs, their hypernetworks are trained `pack` seeds at a time as one batched
    computation per worker (the same networks up to rounding: tests/test_batched.py); a pack that fails leaves
    its seeds to their own jobs, which resume them."""
    out = prepare(out_dir, spec, base)
    jobs = plan(spec)
    if progress:  # before anything starts: a newcomer sees what the command will cost
        finished = sum(done(out, spec, base, j) for j in jobs)
        print(f"{out}: {len(jobs)} jobs ({per_mode(jobs)}), {finished} finished already", file=sys.stderr)
    failures: dict[str, str] = {}

    def execute(tasks: list) -> dict[str, str]:
        if ray_address:
            return run_ray(out, spec, base, tasks, ray_address, retries, progress)
        return run_local(out, spec, base, tasks, workers or os.cpu_count() or 1, retries, progress)

    for wave in waves(jobs):
        if pack > 1 and (grouped := packs(out, spec, base, wave, pack)):
            for name, err in execute(grouped).items():
                print(f"warning: packed training {name} failed ({err}); its seeds train in their own jobs",
                      file=sys.stderr)
        failures |= execute(wave)
    rows = collect(out, spec)
    if failures:
        name, err = next(iter(failures.items()))
        raise SweepFailed(f"{len(failures)} of {len(jobs)} jobs failed after {retries} retries "
                          f"(first: {name}: {err}); rerun the same command to retry them")
    return rows


def run_ray(out: Path, spec: SweepSpec, base: Config, jobs: list[Job | Pack], address: str, retries: int,
            progress: bool = True) -> dict[str, str]:
    """Jobs as Ray tasks (one CPU each) on the cluster at `address` ("auto": the local one).

    The workers import hyperinterp and torch from their own environment (install the package on every
    node) and read and write the sweep folder at the same path as here (one machine, or a shared file
    system). A worker or node that dies mid-job is retried by Ray (`max_retries`), as is a job that raised
    (`retry_exceptions`); the retry skips a finished job and resumes an unfinished training from its last
    checkpoint, so no cell is ever written twice. Returns {job: error} of the jobs still failing after that.
    """
    try:
        import ray
    except ImportError:
        raise UserError("--ray-address needs Ray: pip install 'hyperinterp[distributed]'") from None
    out = Path(out).resolve()  # a worker's working directory is its node's, not ours
    owned = not ray.is_initialized()
    try:
        # Ray gives a task of one CPU OMP_NUM_THREADS=1; run_task limits every other pool (threads.py).
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types for an unreachable cluster
        raise UserError(f"cannot connect to the Ray cluster at {address}: {_describe(exc)}") from None
    try:
        # max_retries covers a dead worker or node; retry_exceptions also retries a raised error.
        task = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=True)(run_task)
        todo = _pending(out, spec, base, jobs)
        refs = {task.remote(str(out), spec, base, job): job for job in todo}
        failures: dict[str, str] = {}
        with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=_label(jobs, "on Ray"),
                  disable=not progress) as bar:
            remaining = list(refs)
            while remaining:
                finished, remaining = ray.wait(remaining, num_returns=1)
                try:
                    ray.get(finished[0])
                except Exception as exc:  # noqa: BLE001 - a job's error, or Ray's for a dead worker
                    failures[refs[finished[0]].name] = _ray_error(exc)
                    if os.environ.get("HYPERINTERP_DEBUG"):
                        traceback.print_exception(exc)
                bar.set_postfix_str(f"done: {refs[finished[0]].name}", refresh=False)
                bar.update(1)
        return failures
    finally:
        if owned:
            ray.shutdown()
