"""Benchmark: training and generation speed at the default configuration, printed as one JSON object.

    hyperinterp bench [--device cpu|cuda|auto] [--quick] [--compile] [--out FILE.json] [--demo-seconds S]
    python benchmarks/bench.py ...            (the same, without the CLI)

What it measures, all in the same run on the same machine (docs/performance.md explains each figure):

* training steps per second (the step `hyperinterp train` runs: objective, backward, clipping, Adam), with
  torch's default threads and with one thread, and the same step in the straightforward formulation
  (`reference` layers, per-tensor Adam: the code before optimisation) for a before/after figure;
* generated networks per second (hypernetwork forward and one draw, no gradient);
* batched / per-network-Python-loop ratios for the training step, for generation and for evaluating the
  target networks (the loop does the same mathematics one network at a time);
* the FLOP/s of one training step (FLOPs counted with torch.utils.flop_counter.FlopCounterMode) divided
  by the FLOP/s of a large square matmul, with the step's memory traffic and the roofline bound it implies;
* the peak tensor memory of one training step;
* the read-out's cells per second (a cell: 16 draws of a shipped generator, labels and fingerprints, one thread
  as in a sweep worker): batched (`readout.read`, one measurement of a file) against the per-network
  formulation of before (each network measured alone, once for its label and once for its fingerprint, SiLU in its
  tanh form, every draw of the convexity yardstick: `reference=True`; the same labels);
* the projected wall time of the paper-scale sweep (9 betas x 33 seeds) on this machine;
* 8 seeds' training steps as one stacked computation (`batched.SeedStack`, what `train-batch` runs)
  against the same 8 steps one after another, side by side at one thread, and the study's 33 range trainings
  projected with the faster.

Every timing runs for a fixed time budget (not a fixed count), so the whole benchmark stays near a minute
(`--quick`: about ten seconds) even on a loaded machine; the figures then reflect the load, which the
JSON records (load average, CPU share of the process).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_limits
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from .. import __version__, threads
from ..errors import UserError
from ..generate import curriculum
from ..generate.config import Config, resolve_device
from ..generate.config import load as load_config
from ..generate.hypernet import HyperNetwork
from ..generate.target import Nets, forward, forward_loop
from ..generate.tasks import Task, make_task
from ..generate.train import build_model, draw_step, keep_freed_memory, network_bits, step_loss

PAPER_BETAS, PAPER_SEEDS = 9, 33
BATCHED_SEEDS = 8
RATIO_GOAL, FLOP_RATIO_GOAL = 20.0, 0.3


# ----------------------------------------------------------------------------------------------- timing

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn: Callable[[], Any], seconds: float, device: torch.device, blocks: int = 3) -> float:
    """Calls of `fn` per second after one warm-up call: the median rate of up to `blocks` timed blocks of
    about seconds/blocks each. Time-bounded: a slow `fn` gets fewer blocks (at least one call)."""
    fn()
    _sync(device)
    rates, start = [], time.perf_counter()
    while len(rates) < blocks and (not rates or time.perf_counter() - start < seconds):
        count, t0 = 0, time.perf_counter()
        while True:
            fn()
            count += 1
            _sync(device)
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds / blocks:
                break
        rates.append(count / elapsed)
    return statistics.median(rates)


class _Threads:
    """Run a block with a given number of intra-op threads, then restore torch's setting."""

    def __init__(self, n: int):
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self) -> None:
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.old)


# ---------------------------------------------------------------------------------------- the workload

class Workload:
    """One training step of the default configuration: the same arithmetic as `train.objective` followed
    by backward, gradient clipping and Adam, in three formulations.

    * `batched` (what `hyperinterp train` runs): K networks generated and evaluated at once, optimised
      layers, foreach Adam;
    * `reference`: batched, but the straightforward layers (`HyperNetwork.forward(..., reference=True)`)
      and per-tensor Adam and clipping: the training step before optimisation;
    * `loop`: the same mathematics as `batched`, one network at a time in a Python loop (hypernetwork
      forward, draw, `target.forward_loop`, loss), one backward for the summed loss.
    """

    def __init__(self, cfg: Config, device: torch.device, formulation: str = "batched"):
        if formulation not in ("batched", "reference", "loop"):
            raise ValueError(formulation)
        self.cfg, self.device, self.formulation = cfg, device, formulation
        self.model: HyperNetwork = build_model(cfg).to(device)
        self.task: Task = make_task(cfg.task.name, cfg.task.input_dist)
        fast = formulation != "reference"
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.optim.lr, foreach=fast)
        self.gen = torch.Generator().manual_seed(cfg.optim.seed)
        self.step_count = 0

    def loss(self) -> torch.Tensor:
        """The loss of `train.objective` from the same draws (`train.draw_step`), in this formulation."""
        cfg, model, device, step = self.cfg, self.model, self.device, self.step_count
        d = draw_step(model, cfg, self.task, step, self.gen, device)
        lb = d.log_beta.to(device)
        if self.formulation == "loop":
            y = self.task.target(d.x)
            beta = curriculum.anneal(cfg, step) * torch.exp(lb)
            losses = []
            for j in range(len(lb)):
                dist = model(d.z[j:j + 1], lb[j:j + 1], skip_scale=curriculum.skip_share(cfg.hyper, step))
                out = forward_loop(dist.shift(Nets(*(e[j:j + 1] for e in d.eps))), d.x, cfg.task.activation)
                mse = ((out - y) ** 2).mean(1)
                losses.append(torch.log(mse) + beta[j:j + 1] * network_bits(dist, cfg.budget.prior,
                                                                            cfg.budget.prior_scale))
            return torch.cat(losses).mean()
        stage = curriculum.at(cfg, step)
        dist = model(d.z, lb, reference=self.formulation == "reference", skip_scale=stage.skip)
        return step_loss(dist, d, cfg, stage.anneal)[0]

    def step(self) -> None:
        loss = self.loss()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip,
                                       foreach=self.formulation != "reference")
        self.opt.step()
        self.step_count += 1


# ------------------------------------------------------------------------------------- batched seeds

def stacked_steps(cfg: Config, device: torch.device, seeds: int, compiled: bool) -> Callable[[], None]:
    """One call: one training step of `seeds` seeds as one stacked computation (`batched.SeedStack.step`, what
    `train-batch` runs; `compiled`: the whole stacked objective compiled, its `optim.compile`)."""
    from ..generate.batched import SeedStack, seed_config
    from ..generate.train import draw_step

    together = [Workload(seed_config(cfg, s), device) for s in range(seeds)]
    stack = SeedStack([w.model for w in together], [w.opt for w in together], cfg, together[0].task, compiled)
    cpu = torch.device("cpu")

    def run() -> None:
        draws = [draw_step(w.model, w.cfg, w.task, w.step_count, w.gen, cpu) for w in together]
        stack.step(stack.stage(draws), [1.0] * seeds, [cfg.optim.lr] * seeds)
        for w in together:
            w.step_count += 1
    return run


def batched_seeds_rates(cfg: Config, device: torch.device, seeds: int, rounds: int,
                        compile: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """Seed-steps/s of `seeds` training steps one after another (`Workload.step` each) and as one stacked step
    (`batched.SeedStack.step`, what `train-batch` runs), timed side by side: `rounds` alternating calls of each
    after one warm-up call, median time per call; and each method's median minor page faults per call. `compile` adds
    both compiled: each seed's blocks (`optim.compile` of `train`) and the whole stacked objective (`optim.compile`
    of `train-batch`)."""
    from ..generate.batched import seed_config
    from ..generate.train import compile_blocks

    cfgs = [seed_config(cfg, s) for s in range(seeds)]

    def sequential(compiled: bool):
        alone = [Workload(c, device) for c in cfgs]
        for w in alone if compiled else ():
            compile_blocks(w.model)

        def run() -> None:
            for w in alone:
                w.step()
        return run

    fns = {"sequential": sequential(False), "batched": stacked_steps(cfg, device, seeds, False)}
    if compile:
        fns.update(sequential_compiled=sequential(True), batched_compiled=stacked_steps(cfg, device, seeds, True))
    times: dict[str, list[float]] = {name: [] for name in fns}
    faults: dict[str, list[int]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up (and compilation)
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync(device)
            f0, t0 = _minor_faults(), time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
            faults[name].append(_minor_faults() - f0)
    rates = {name: seeds / statistics.median(t) for name, t in times.items()}
    # the median, as for the times: the first calls after the warm-up may still grow the heap (first touch)
    return rates, {name: statistics.median(f) for name, f in faults.items()}


def _minor_faults() -> int:
    """This process's minor page faults so far (0 where they are not counted: no `resource` module)."""
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def study_projection(steps: int, rates: dict[str, float | None]) -> dict[str, Any]:
    """Training hours of the study's 33 beta-conditioned (range) trainings of `steps` steps each, per method
    (rates in seed-steps/s); `best` among those measured in this run (names without 'estimated')."""
    hours = {name: PAPER_SEEDS * steps / r / 3600 for name, r in rates.items() if r}
    measured = [name for name in hours if "estimated" not in name]
    best = min(measured, key=hours.get) if measured else None
    return {"trainings": PAPER_SEEDS, "steps_per_training": steps, "rates_seed_steps_per_second": rates,
            "hours": hours, "best": best, "best_hours": hours.get(best) if best else None,
            "assumption": "training time only; 'parallel_*' run one one-thread process per core at once, "
                          "'parallel_batched_estimated' scales the parallel rate by batched_seeds_speedup"}


# ------------------------------------------------------------------------------- counting FLOPs and bytes

_VIEWLIKE_SKIP = ("detach", "lift_fresh")


class TrafficMode(TorchDispatchMode):
    """Bytes read and written by every op that is not a view: a no-cache model of a step's memory traffic
    (each op reads its tensor inputs and writes its outputs once; a broadcast input counts once)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        returns = func._schema.returns
        is_view = any(r.alias_info is not None and not r.alias_info.is_write for r in returns)
        if not is_view and not any(s in func.__name__ for s in _VIEWLIKE_SKIP):
            for t in tree_leaves((args, kwargs, out)):
                if isinstance(t, torch.Tensor):
                    self.bytes += min(t.numel() * t.element_size(), t.untyped_storage().nbytes())
        return out


def step_flops_and_bytes(work: Workload) -> tuple[int, int]:
    """FLOPs (FlopCounterMode: matmuls and convolutions) and no-cache bytes moved by one training step."""
    counter = FlopCounterMode(display=False)
    with counter:
        work.step()
    traffic = TrafficMode()
    with traffic:
        work.step()
    return int(counter.get_total_flops()), int(traffic.bytes)


def peak_step_memory(work: Workload) -> int:
    """Peak bytes of tensor memory allocated during one training step, above what was live before it."""
    device = work.device
    if device.type == "cuda":
        _sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        work.step()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work.step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return int(peak)


def matmul_flops_per_second(size: int, seconds: float, device: torch.device) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    out = torch.empty(size, size, device=device)
    calls = rate(lambda: torch.mm(a, b, out=out), seconds, device)
    return calls * 2 * size ** 3


def copy_bytes_per_second(numel: int, seconds: float, device: torch.device) -> float:
    """Read + write bandwidth of a plain copy of `numel` float32 values."""
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src)
    return rate(lambda: dst.copy_(src), seconds, device) * 2 * 4 * numel


# ---------------------------------------------------------------------------------------- parallel runs

def _parallel_worker(cfg_dict: dict[str, Any], seconds: float, barrier: Any, queue: Any,
                     compiled: bool = False, batch: int = 0) -> None:
    from ..generate.config import from_dict
    from ..generate.train import compile_blocks, keep_freed_memory

    threads.limit(1)  # one thread in every pool, as a sweep's workers run
    keep_freed_memory()  # as train and train-batch do
    cfg = from_dict(cfg_dict)
    if batch:  # `batch` seeds a call, stacked (train-batch)
        step, per_call = stacked_steps(cfg, torch.device("cpu"), batch, compiled), batch
    else:
        work = Workload(cfg, torch.device("cpu"))
        if compiled:
            compile_blocks(work.model)
        step, per_call = work.step, 1
    for _ in range(2):  # warm-up (and compilation, side by side as a sweep's workers compile)
        step()
    barrier.wait()
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        count += per_call
    queue.put(count / (time.perf_counter() - t0))


def parallel_steps_per_second(cfg: Config, processes: int, seconds: float, compiled: bool = False,
                              batch: int = 0) -> float | None:
    """Aggregate (seed-)steps/s of `processes` one-thread training processes running at once, each with its blocks
    compiled if `compiled` (what `hyperinterp study --workers N` runs with `optim.compile`), or, with `batch`,
    each stepping that many seeds as one stacked computation (`train-batch`); None on failure."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_parallel_worker, args=(cfg.to_dict(), seconds, barrier, queue, compiled, batch),
                         daemon=True) for _ in range(processes)]
    with threads.children_limited(1):
        for p in procs:
            p.start()
    try:
        rates = [queue.get(timeout=seconds + (300 if compiled else 120)) for _ in procs]
    except Exception:  # noqa: BLE001 - a benchmark extra: report None rather than fail
        rates = None
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    return sum(rates) if rates else None


# ----------------------------------------------------------------------------------------------- driver

def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def projection(steps: int, rates: dict[str, float | None], cores: int, device: torch.device,
               compile_seconds: float | None = None) -> dict[str, Any]:
    """Projected wall time of the paper-scale sweep from measured training rates (steps/s)."""
    trainings = {"range_mode": PAPER_SEEDS, "per_beta_mode": PAPER_BETAS * PAPER_SEEDS}
    out: dict[str, Any] = {
        "betas": PAPER_BETAS, "seeds": PAPER_SEEDS, "steps_per_training": steps, "cores": cores,
        "trainings": trainings,
        "assumption": ("training time only (sampling and classification excluded); 'parallel' runs one "
                       "one-thread training process per core at once: 'measured' when the aggregate rate "
                       "of such processes was measured in this run, else the one-thread rate times the "
                       "cores (an upper bound); 'parallel_compiled_measured' is the same with each process's "
                       "blocks compiled, 'parallel_compiled_estimated' (when that was not measured) scales the "
                       "compiled rate by the eager parallel speed-up; 'one_process' runs the trainings one "
                       "after another with the thread count used; 'compiled' adds compile_seconds to each training"
                       + ("; on CUDA, one process at a time on the GPU" if device.type == "cuda" else "")),
        "rates_steps_per_second": rates,
    }
    compiled_alone = next((r for name, r in rates.items() if "compiled" in name and "parallel" not in name), None)
    for mode, count in trainings.items():
        hours = {}
        for name, r in rates.items():
            if r:
                hours[name] = count * steps / r / 3600
                if "compiled" in name and compile_seconds:
                    # each training compiles once; parallel processes compile side by side
                    speedup = r / compiled_alone if compiled_alone else 1.0
                    hours[name] += count * compile_seconds / speedup / 3600
        best = min(hours, key=hours.get) if hours else None
        out[mode] = {"hours": hours, "best": best, "best_hours": hours.get(best) if best else None}
    return out


def run(quick: bool = False, device: str = "cpu", demo_seconds: float | None = None,
        compile: bool = False, parallel: bool | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run the benchmark; returns the JSON-ready dict. `quick` shortens every timing (about 10 s in all);
    `compile` also measures torch.compile'd blocks (adds the compile time, 10-40 s on a CPU);
    `parallel` measures concurrent one-thread processes (default: on a CPU when not quick); `overrides`
    (`section.key=value`) change the default configuration it measures."""
    t_start = time.perf_counter()
    cpu0 = time.process_time()
    keep_freed_memory()  # as train and train-batch do: measure what they run
    dev = resolve_device(device)
    cfg = load_config(None, list(overrides))
    o = cfg.optim
    cores = os.cpu_count() or 1
    default_threads = torch.get_num_threads()
    budget = 0.4 if quick else 3.0
    if parallel is None:
        parallel = not quick and dev.type == "cpu" and cores > 1
    result: dict[str, Any] = {
        "schema": 1, "version": __version__, "torch": torch.__version__, "device": dev.type,
        "device_name": _device_name(dev), "cpu_count": cores, "default_threads": default_threads, "quick": quick,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "overrides": list(overrides), "config": {"n": cfg.task.n, "m": cfg.task.m, "nets_per_step": o.nets_per_step,
                   "inputs_per_step": o.inputs_per_step, "layers": cfg.hyper.layers, "width": cfg.hyper.width,
                   "pools": list(cfg.hyper.pools), "steps": o.steps},
    }

    # --- training step: thread settings first; the faster one is used for everything after
    work = Workload(cfg, dev)
    by_threads: dict[int, float] = {}
    for t in ([1, default_threads] if dev.type == "cpu" and default_threads > 1 else [default_threads]):
        _log(f"training step, optimised, {t} thread(s)")
        with _Threads(t):
            by_threads[t] = rate(work.step, budget, dev)
    threads = max(by_threads, key=by_threads.get)
    torch.set_num_threads(threads)
    try:
        _log(f"training step, optimised, {threads} thread(s), again")
        sps = rate(work.step, budget, dev)
        _log("training step, reference formulation (before optimisation)")
        sps_ref = rate(Workload(cfg, dev, "reference").step, budget, dev)
        _log("training step, per-network Python loop")
        sps_loop = rate(Workload(cfg, dev, "loop").step, budget, dev)
        result.update(threads=threads, train_steps_per_second_by_threads={str(k): v for k, v in by_threads.items()},
                      train_steps_per_second=sps, train_steps_per_second_1thread=by_threads.get(1),
                      train_steps_per_second_reference=sps_ref, train_speedup_vs_reference=sps / sps_ref,
                      train_steps_per_second_loop=sps_loop)

        compile_seconds = sps_compiled = None
        if compile:
            _log("training step, torch.compile'd blocks (compiling...)")
            from ..generate.train import compile_blocks

            comp = Workload(cfg, dev)
            t0 = time.perf_counter()
            compile_blocks(comp.model)
            comp.step()
            compile_seconds = time.perf_counter() - t0
            sps_compiled = rate(comp.step, budget, dev)
        result.update(train_steps_per_second_compiled=sps_compiled, compile_seconds=compile_seconds)

        _generation_and_evaluation(result, work.model, cfg, dev, budget, quick, sps, sps_loop)
        _readout(result, work.model, cfg, budget)
        _flops_and_memory(result, work, dev, budget, quick, sps, sps_compiled)
    finally:
        torch.set_num_threads(default_threads)

    # --- paper-scale projection
    par = par_compiled = None
    if parallel:
        _log(f"{cores} one-thread training processes at once")
        par = parallel_steps_per_second(cfg, cores, 4.0)
        if compile:
            _log(f"{cores} one-thread training processes at once, blocks compiled (compiling...)")
            par_compiled = parallel_steps_per_second(cfg, cores, 4.0, compiled=True)
    rates_: dict[str, float | None] = {f"one_process_{threads}_threads": sps}
    if dev.type == "cpu":
        rates_["parallel_measured" if par else "parallel_estimated"] = par or by_threads.get(1, sps) * cores
    if sps_compiled:
        rates_[f"one_process_{threads}_threads_compiled"] = sps_compiled
        if par_compiled:
            rates_["parallel_compiled_measured"] = par_compiled
        elif dev.type == "cpu" and by_threads.get(1):
            # one-thread compiled processes, one per core, scaled like the eager ones
            scaling = (par / by_threads[1]) if par else cores
            rates_["parallel_compiled_estimated"] = sps_compiled * scaling
    result["paper_sweep_projection"] = projection(o.steps, rates_, cores, dev, compile_seconds)

    # --- seeds batched into one stacked computation (train-batch) against one after another, one thread
    _log(f"{BATCHED_SEEDS} seeds' steps: one stacked computation vs one after another, 1 thread")
    with _Threads(1):
        seeds_rates, seeds_faults = batched_seeds_rates(cfg, dev, BATCHED_SEEDS, 5 if quick else 12, compile)
    speedup = seeds_rates["batched"] / seeds_rates["sequential"]
    study_rates: dict[str, float | None] = {"one_process_sequential": seeds_rates["sequential"],
                                            "one_process_batched": seeds_rates["batched"]}
    if compile:
        result["batched_seeds_speedup_compiled"] = seeds_rates["batched_compiled"] / seeds_rates["sequential_compiled"]
        study_rates["one_process_batched_compiled"] = seeds_rates["batched_compiled"]
    if sps_compiled:
        study_rates["one_process_compiled"] = sps_compiled
    if par:
        study_rates["parallel_measured"] = par
        study_rates["parallel_batched_estimated"] = par * speedup
    if par_compiled:
        study_rates["parallel_compiled_measured"] = par_compiled
    if parallel and compile:  # each process a compiled batch of seeds: train-batch on every core
        _log(f"{cores} one-thread processes at once, each {BATCHED_SEEDS} seeds stacked and compiled (compiling...)")
        study_rates["parallel_batched_compiled_measured"] = parallel_steps_per_second(
            cfg, cores, 4.0, compiled=True, batch=BATCHED_SEEDS)
    study = study_projection(o.steps, study_rates)
    # batched_seeds_page_faults_per_call: a stacked step whose multi-MB blocks are faulted in again each step
    # loses ~40% (train.keep_freed_memory)
    result.update(batched_seeds=BATCHED_SEEDS, batched_seeds_rates_1thread=seeds_rates,
                  batched_seeds_page_faults_per_call=seeds_faults,
                  batched_seeds_speedup=speedup, study_projection_33_seeds=study,
                  study_hours_33_seeds=study["best_hours"])
    _log(f"batched seeds: {speedup:.2f}x ({seeds_rates['batched']:.1f} against {seeds_rates['sequential']:.1f} "
         f"seed-steps/s); study, 33 range trainings: {study['best_hours']:.1f} h ({study['best']})")

    result["demo_wall_time_s"] = demo_seconds
    if demo_seconds is None:
        result["demo_note"] = ("not measured here: time `make demo` (or `hyperinterp demo`) and pass "
                               "--demo-seconds to record it")
    wall = time.perf_counter() - t_start
    result["bench_wall_time_s"] = wall
    result["process_cpu_share"] = (time.process_time() - cpu0) / wall
    result["note"] = ("figures from this run on this machine; on a shared or loaded machine (see "
                      "load_average_1min, process_cpu_share: CPU-seconds per second) they are lower bounds "
                      "of what it can do alone")
    return result


def _generation_and_evaluation(result: dict[str, Any], model: HyperNetwork, cfg: Config, dev: torch.device,
                               budget: float, quick: bool, sps: float, sps_loop: float) -> None:
    o, n, m = cfg.optim, cfg.task.n, cfg.task.m
    count = 128 if quick else 1024
    loop_count = 8 if quick else 64
    gen = torch.Generator().manual_seed(1)
    log_beta = torch.full((count,), math.log(1e-3))

    def generate_batched() -> Any:
        return model.generate(log_beta, n, m, gen).draw(gen)

    def generate_loop() -> None:
        for j in range(loop_count):
            model.generate(log_beta[j:j + 1], n, m, gen).draw(gen)

    x = make_task(cfg.task.name, cfg.task.input_dist).sample_x(o.inputs_per_step, n, gen).to(dev)
    act = cfg.task.activation
    with torch.no_grad():
        _log(f"generation: {count} networks batched, {loop_count} in a loop")
        gen_batched = rate(generate_batched, budget, dev) * count
        gen_loop = rate(generate_loop, budget, dev) * loop_count
        nets = generate_batched()
        small = type(nets)(*(t[:o.nets_per_step] for t in nets))
        _log("target networks: batched vs loop")
        ratios = {}
        for name, ns in (("target_forward", small), ("target_forward_many", nets)):
            batched = rate(lambda ns=ns: forward(ns, x, act), budget / 2, dev)
            ratios[name] = batched / rate(lambda ns=ns: forward_loop(ns, x, act), budget / 2, dev)
    result.update(
        generated_networks_per_second=gen_batched, generated_networks_per_second_loop=gen_loop,
        batched_vs_loop={
            "goal": RATIO_GOAL, "train_step": sps / sps_loop, "generation": gen_batched / gen_loop, **ratios,
            "shapes": {"train_step": f"K={o.nets_per_step} networks, B={o.inputs_per_step} inputs, n={n}, m={m}",
                       "generation": f"K={count} networks, n={n}, m={m} (loop timed on {loop_count})",
                       "target_forward": f"K={o.nets_per_step} networks, B={o.inputs_per_step} inputs",
                       "target_forward_many": f"K={count} networks, B={o.inputs_per_step} inputs"},
        })


def readout_cells(model: HyperNetwork, cfg: Config, cells: int = 4) -> list[tuple[dict, dict]]:
    """`cells` networks files of 16 draws each, at betas across the default grid: of the demo's shipped range
    generator when the checkout has it (the read-out's real mix: double-sided, pudding, convexity, constant),
    else of `model`."""
    from ..generate.sample import load_model, sample
    from .sweep import DEFAULT_BETAS

    shipped = Path(__file__).resolve().parents[3] / "shipped" / "train" / "range" / "seed_0"
    if shipped.is_dir():
        model, cfg, _ = load_model(shipped)
    betas = [DEFAULT_BETAS[round(i * (len(DEFAULT_BETAS) - 1) / max(cells - 1, 1))] for i in range(cells)]
    return [sample(model, cfg, beta, cfg.task.n, cfg.task.width(cfg.task.n), 16, 0) for beta in betas]


def _readout(result: dict[str, Any], model: HyperNetwork, cfg: Config, budget: float) -> None:
    """Read-out cells per second at one thread, batched and per network, side by side."""
    from ..read import classify, fingerprint, readout

    _log("read-out: batched and per network")
    files = readout_cells(model, cfg)

    def batched() -> None:
        for arrays, meta in files:
            readout.read(arrays, meta, with_directions=False)

    def per_network() -> None:  # before: every network measured alone, for its label and again for its fingerprint,
        # in the formulation of before (SiLU's tanh form, all 8 draws of the convexity yardstick)
        for arrays, meta in files:
            opts = classify.file_options(meta)
            for k in range(len(arrays["W"])):
                net = [arrays[key][k:k + 1] for key in "Wbac"]
                classify.classify_many(*net, **opts, block=1, reference=True)
                fingerprint.fingerprint_many(*net, **opts, block=1, reference=True)

    with _Threads(1), threadpool_limits(1):
        fast = rate(batched, budget, torch.device("cpu"), blocks=1) * len(files)
        slow = rate(per_network, budget, torch.device("cpu"), blocks=1) * len(files)
    result.update(readout_cells_per_second=fast, readout_cells_per_second_per_network=slow,
                  readout_speedup=fast / slow)


def _flops_and_memory(result: dict[str, Any], work: Workload, dev: torch.device, budget: float, quick: bool,
                      sps: float, sps_compiled: float | None) -> None:
    cfg = work.cfg
    o = cfg.optim
    _log("FLOPs, memory traffic and peak memory of one step")
    flops, traffic = step_flops_and_bytes(work)
    peak = peak_step_memory(work)
    mm_size = 1024 if quick else 2048
    _log(f"{mm_size}x{mm_size} matmul and copy bandwidth")
    mm_flops = matmul_flops_per_second(mm_size, budget, dev)
    bandwidth = copy_bytes_per_second(1 << 24, budget / 2, dev)           # 64 MiB: memory, not cache
    h_numel = o.nets_per_step * cfg.task.m * cfg.task.n * cfg.hyper.width  # one hypernetwork activation
    bandwidth_step = copy_bytes_per_second(h_numel, budget / 2, dev)       # at the step's tensor size
    intensity = flops / traffic if traffic else float("nan")
    result.update(
        flops_per_step=flops, step_flops_per_second=flops * sps, matmul_size=mm_size,
        matmul_flops_per_second=mm_flops, flop_ratio=flops * sps / mm_flops, flop_ratio_goal=FLOP_RATIO_GOAL,
        flop_ratio_compiled=(flops * sps_compiled / mm_flops) if sps_compiled else None,
        bytes_moved_per_step=traffic, arithmetic_intensity_flop_per_byte=intensity,
        copy_bandwidth_bytes_per_second=bandwidth, copy_bandwidth_bytes_per_second_step_tensors=bandwidth_step,
        flop_ratio_roofline_bound=min(1.0, intensity * bandwidth_step / mm_flops),
        peak_memory_bytes_train_step=peak,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hyperinterp bench", description=(
        "Measure training and generation speed at the default configuration and print one JSON object "
        "(see docs/performance.md)."))
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="where to run (auto: CUDA when available); default cpu")
    p.add_argument("--quick", action="store_true", help="short timings (about 10 s in all)")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile'd blocks (adds 10-40 s of compilation on a CPU)")
    p.add_argument("--no-parallel", action="store_true", help="skip the concurrent one-thread processes")
    p.add_argument("--demo-seconds", type=float, help="wall time of `make demo`, measured by the caller")
    p.add_argument("--out", help="also write the JSON to this file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="measure the default configuration with this key changed (repeatable)")
    args = p.parse_args(argv)
    try:
        if args.out and not Path(args.out).resolve().parent.is_dir():
            raise UserError(f"output folder {Path(args.out).parent} does not exist")
        result = run(quick=args.quick, device=args.device, demo_seconds=args.demo_seconds, compile=args.compile,
                     parallel=False if args.no_parallel else None, overrides=args.set)
    except UserError as e:
        print(f"hyperinterp: error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
