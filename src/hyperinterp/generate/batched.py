"""Batched multi-seed training: S hypernetworks of one configuration, differing only in their seed, trained in
one process as one stacked computation.

Every seed keeps all that `train.train` keeps (a `train.Run`: its own run folder, generator, checkpoints,
metrics and divergence guard) and draws its random numbers exactly as a solo run does. The arithmetic lives in a
`SeedStack`: the seeds' parameters are the rows of one (S, N) tensor, one `torch.vmap` of the hypernetwork
forward and the loss (`torch.func.functional_call`, optionally torch.compile'd as a whole) runs every seed at
once, the backward of the summed losses gives each row its own gradient (no term couples two seeds), and
clipping and Adam run on the whole tensor with per-seed learning rates and step counts. So a seed's trajectory
is its solo run up to floating-point rounding (the stacked matmuls sum in another order; tests/test_batched.py
bounds the difference), the cost of a step hardly grows with S, and a seed folder is an ordinary run folder
(`sample`, `--resume` of `train` and of `train-batch` accept it). While a step computes, a second thread draws
and stages the next one.

Seeds at different steps (one restored by the divergence guard, or a batch resumed after a kill between two
seeds' checkpoints) or drawing different sizes (task.train_sizes) are stacked in groups of equal (n, m).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call
from tqdm import tqdm

from ..errors import UserError
from . import curriculum
from .config import Config, from_dict, resolve_device
from .hypernet import HyperNetwork, NetDistribution
from .target import Nets
from .tasks import Task
from .train import Draws, Run, StepResult, TrainingDiverged, draw_step, step_loss

BATCH_FILE = "batch.json"


def seed_config(cfg: Config, seed: int) -> Config:
    return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, seed=seed))


@dataclasses.dataclass
class _Lazy:
    """Seed j's slice of a group's stacked outputs, sliced only when its metrics are logged."""

    j: int
    loss: torch.Tensor
    mse: torch.Tensor
    bits: torch.Tensor
    y: torch.Tensor
    dist: NetDistribution
    log_beta: torch.Tensor
    x: torch.Tensor

    def result(self) -> StepResult:
        j = self.j
        d = self.dist
        dist = NetDistribution(*(Nets(*(t[j] for t in part)) for part in d[:2]), None if d.gate is None else d.gate[j])
        return StepResult(self.loss[j], self.mse[j], self.bits[j], self.y[j].var(), self.log_beta[j].cpu(), dist,
                          self.x[j], self.y[j])


@dataclasses.dataclass
class Staged:
    """One step's draws: per seed on the CPU (None: not training), and per group of equal (n, m) its members and
    their stacked z, log beta, eps, x and y on the device."""

    draws: list[Draws | None]
    groups: list[tuple]


class SeedStack:
    """S models of one configuration as one flat (S, N) leaf tensor, with the Adam moments and step counts of
    every seed stacked beside it, so a training step costs the same number of operations for 1 seed or 33.

    The seeds' parameters are views of the rows; one vmap of the objective (optionally torch.compile'd)
    computes every seed's loss, one backward gives each row its own gradient (no term couples two seeds), and
    clipping, the finiteness checks and Adam run on the whole (S, N) tensor with per-seed learning rates and
    step counts: the arithmetic of `torch.optim.Adam` and `clip_grad_norm_` per seed, to rounding. The models
    and optimisers it was built from are written back (`export`) only when a checkpoint is due."""

    def __init__(self, models: Sequence[HyperNetwork], opts: Sequence[torch.optim.Adam], cfg: Config, task: Task,
                 compile: bool = False):
        self.base, self.cfg, self.task = models[0], cfg, task
        self.names = [name for name, _ in models[0].named_parameters()]
        self.shapes = [p.shape for _, p in models[0].named_parameters()]
        self.sizes = [p.numel() for _, p in models[0].named_parameters()]
        device = next(models[0].parameters()).device
        s, size = len(models), sum(self.sizes)
        self.flat = torch.zeros(s, size, device=device, requires_grad=True)
        self.exp_avg = torch.zeros(s, size, device=device)
        self.exp_avg_sq = torch.zeros(s, size, device=device)
        self.adam_steps = torch.zeros(s, 1, dtype=torch.float64, device=device)
        self.betas, self.eps = opts[0].defaults["betas"], opts[0].defaults["eps"]
        for i, (model, opt) in enumerate(zip(models, opts, strict=True)):
            self.load(i, model, opt)
        gated, cut = (0 if on else None for on in (cfg.hyper.neuron_gate, cfg.hyper.nested))
        vmapped = torch.vmap(self._one, in_dims=(0, 0, 0, 0, 0, 0, gated, cut, 0, 0, None, None))
        self.losses = torch.compile(vmapped, dynamic=False) if compile else vmapped

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named parameters as views of the rows of `flat` (..., N)."""
        parts = flat.split(self.sizes, -1)
        return {name: part.unflatten(-1, shape) if shape else part.squeeze(-1)
                for name, part, shape in zip(self.names, parts, self.shapes, strict=True)}

    def _one(self, flat: torch.Tensor, z: torch.Tensor, log_beta: torch.Tensor, eps: Nets, x: torch.Tensor,
             y: torch.Tensor, gate: torch.Tensor | None, keep: torch.Tensor | None, anneal: torch.Tensor,
             skip: torch.Tensor, n: int, m: int) -> tuple:
        dist = functional_call(self.base, self.views(flat), (z, log_beta), {"skip_scale": skip})
        # vmap returns tensors only: an ungated distribution travels without its None
        return *step_loss(dist, Draws(n, m, log_beta, z, eps, x, y, gate, keep), self.cfg, anneal), tuple(
            t for t in dist if t is not None)

    @torch.no_grad()
    def load(self, i: int, model: HyperNetwork, opt: torch.optim.Adam) -> None:
        """Seed i's row from its model and optimiser (at the start, and after the divergence guard restored it)."""
        params = list(model.parameters())
        self.flat[i] = torch.cat([p.reshape(-1) for p in params])
        states = [opt.state.get(p, {}) for p in params]
        for key, target in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
            target[i] = torch.cat([s[key].reshape(-1) if key in s else torch.zeros_like(p).reshape(-1)
                                   for s, p in zip(states, params, strict=True)])
        self.adam_steps[i] = float(states[0]["step"]) if "step" in states[0] else 0.0

    @torch.no_grad()
    def export(self, i: int, model: HyperNetwork, opt: torch.optim.Adam) -> None:
        """Seed i's row into its model and optimiser, in the layout a solo run's Adam keeps (for its checkpoint)."""
        params = list(model.parameters())
        step = float(self.adam_steps[i])
        moments = (self.views(self.exp_avg[i]), self.views(self.exp_avg_sq[i]))
        for name, p, value in zip(self.names, params, self.views(self.flat[i]).values(), strict=True):
            p.copy_(value)
            if step:
                opt.state[p] = {"step": torch.tensor(step), "exp_avg": moments[0][name].clone(),
                                "exp_avg_sq": moments[1][name].clone()}

    def stage(self, draws: Sequence[Draws | None]) -> Staged:
        """The draws stacked per group of equal size (n, m) and sent to the device: from pinned memory without
        waiting on a GPU, so the thread that draws ahead stages the next step while this one computes."""
        device = self.flat.device
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, d in enumerate(draws):
            if d is not None:
                groups[(d.n, d.m)].append(i)

        def put(ts: Sequence[torch.Tensor]) -> torch.Tensor:
            if device.type == "cpu" or ts[0].device.type != "cpu":
                return torch.stack(ts).to(device)
            pinned = torch.stack(ts, out=torch.empty((len(ts), *ts[0].shape), dtype=ts[0].dtype, pin_memory=True))
            return pinned.to(device, non_blocking=True)

        staged = []
        for (n, m), members in groups.items():
            stack = [draws[i] for i in members]
            eps = Nets(*(put(ts) for ts in zip(*(d.eps for d in stack), strict=True)))
            gate, keep = (None if getattr(stack[0], f) is None else put([getattr(d, f) for d in stack])
                          for f in ("gate", "keep"))
            staged.append((n, m, members, put([d.z for d in stack]), put([d.log_beta for d in stack]), eps,
                           put([d.x for d in stack]), put([d.y for d in stack]), gate, keep))
        return Staged(list(draws), staged)

    def step(self, staged: Staged, anneal: Sequence[float], lrs: Sequence[float],
             skips: Sequence[float] | None = None) -> tuple[list[bool], dict[int, _Lazy]]:
        """One training step of every seed with draws (None: a seed not training now), with each seed's beta
        annealing factor, learning rate and noise skip share (None: 1). Returns per seed whether
        it stepped (its loss, gradient and new weights finite), and the step's outputs of the seeds that drew."""
        device, flat, count = self.flat.device, self.flat, len(staged.draws)
        total, results = 0.0, {}
        losses = torch.full((count,), float("nan"), device=device)
        for n, m, members, z, log_beta, eps, x, y, gate, keep in staged.groups:
            rows = flat if members == list(range(count)) else flat[members]
            a = torch.tensor([anneal[i] for i in members], device=device)
            skip = torch.tensor([skips[i] if skips else 1.0 for i in members], device=device)
            loss, mse, bits, y, dist = self.losses(rows, z, log_beta, eps, x, y, gate, keep, a, skip, n, m)
            dist = NetDistribution(*dist)
            total = total + loss.sum()
            losses[members] = loss.detach()
            for j, i in enumerate(members):
                results[i] = _Lazy(j, loss, mse, bits, y, dist, log_beta, x)
        (grad,) = torch.autograd.grad(total, flat)
        active = torch.tensor([d is not None for d in staged.draws], device=device)
        lrs_t = torch.tensor(lrs, dtype=torch.float64, device=device)
        flags = self._adam(grad, losses, active, lrs_t).tolist()  # the one synchronisation of a step
        return flags, results

    @torch.no_grad()
    def _adam(self, grad: torch.Tensor, losses: torch.Tensor, active: torch.Tensor, lrs: torch.Tensor) -> torch.Tensor:
        """clip_grad_norm_ and torch.optim.Adam for every row at once; rows whose loss or gradient is not finite
        (or that are not active) do not step. Returns which rows stepped and have finite weights."""
        norm = grad.norm(dim=1)
        grad = grad * (self.cfg.optim.grad_clip / (norm + 1e-6)).clamp(max=1.0)[:, None]
        live = (active & torch.isfinite(losses) & torch.isfinite(norm))[:, None]
        b1, b2 = self.betas
        steps = self.adam_steps + live
        exp_avg = torch.where(live, self.exp_avg.lerp(grad, 1 - b1), self.exp_avg)
        exp_avg_sq = torch.where(live, self.exp_avg_sq * b2 + (1 - b2) * grad * grad, self.exp_avg_sq)
        step_size = (lrs[:, None] / (1 - b1 ** steps.clamp(min=1))).float()
        bias2_sqrt = (1 - b2 ** steps.clamp(min=1)).sqrt().float()
        update = exp_avg / (exp_avg_sq.sqrt() / bias2_sqrt + self.eps) * step_size
        self.flat.sub_(torch.where(live, update, 0.0))
        self.exp_avg.copy_(exp_avg)
        self.exp_avg_sq.copy_(exp_avg_sq)
        self.adam_steps.copy_(steps)
        # non-finite weights must never reach a checkpoint: such a row is restored by the divergence guard
        return live[:, 0] & torch.isfinite(self.flat).all(1)


def draw_all(runs: Sequence[Run], pool: ThreadPoolExecutor | None = None,
             steps: Sequence[int] | None = None) -> dict[int, Draws]:
    """Every run's draws of a step (default: its next) from its own generator, on the generator's device, in the
    order a solo run draws them; keyed by id(run). In `pool`'s threads when given (torch's random number
    generation releases the GIL, so seeds draw in parallel on a GPU machine's cores)."""
    def one(r: Run, step: int) -> Draws:
        return draw_step(r.model, r.cfg, r.task, step, r.gen, r.gen.device)
    steps = [r.step for r in runs] if steps is None else steps
    return dict(zip(map(id, runs), (pool.map if pool else map)(one, runs, steps), strict=True))


def _check_batch(cfgs: Sequence[Config], seeds: Sequence[int]) -> None:
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds lists a seed twice: {' '.join(map(str, seeds))}")
    def shared(cfg: Config) -> dict[str, Any]:  # a continuation starts each seed from its own run (init_from)
        return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, seed=0, init_from="")).to_dict()

    first = shared(cfgs[0])
    for cfg in cfgs[1:]:
        if shared(cfg) != first:
            raise UserError(f"seed {cfg.optim.seed}'s recorded configuration differs from seed "
                            f"{cfgs[0].optim.seed}'s in more than the seed (and init_from): train them separately")


def train_batch(cfg: Config | None, out: str | Path, seeds: Sequence[int] | None = None, resume: bool = False,
                progress: bool = True, command: str = "hyperinterp train-batch") -> dict[str, Any]:
    """Train (or resume) one hypernetwork per seed in OUT/seed_S; returns the batch summary.

    OUT/batch.json records the configuration and seeds, so `resume` needs neither (it continues every seed
    from its newest undamaged checkpoint; a seed with none starts from scratch)."""
    out = Path(out)
    record = out / BATCH_FILE
    if resume:
        if not record.is_file():
            raise UserError(f"nothing to resume: {out} holds no {BATCH_FILE}")
        saved = json.loads(record.read_text())
        if seeds and list(seeds) != saved["seeds"]:
            raise UserError(f"{out} trains seeds {' '.join(map(str, saved['seeds']))}: resume them all, without "
                            f"--seeds")
        cfg, seeds = from_dict(saved["config"], stored=True), saved["seeds"]
    else:
        if cfg is None or not seeds:
            raise UserError("train-batch needs a configuration and at least one seed")
        if not out.parent.is_dir():
            raise UserError(f"parent folder {out.parent} does not exist")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f"{out} exists and is not an empty folder: pass --resume, or choose a new folder")
    _check_batch([seed_config(cfg, s) for s in seeds], list(seeds))
    out.mkdir(exist_ok=True)
    if not resume:
        record.write_text(json.dumps({"config": cfg.to_dict(), "seeds": list(seeds), "command": command}, indent=1))
    if resolve_device(cfg.optim.device).type == "cuda":
        # the CPU only draws: one intra-op thread per drawing thread, so that 16 of them do not oversubscribe
        # (before the runs, which record the thread count in their checkpoints; optim.threads still wins)
        torch.set_num_threads(1)
    # optim.compile compiles the stacked objective as a whole (SeedStack), not each seed's blocks
    runs = [Run(seed_config(cfg, s), out / f"seed_{s}", resume, command, compile_each_block=False)
            for s in seeds]
    summary = train_runs(runs, progress, f"train-batch {len(runs)} seeds")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def train_runs(runs: Sequence[Run], progress: bool = True, desc: str = "train-batch") -> dict[str, Any]:
    """Train runs of one configuration but the seed (made with compile_each_block=False; a run may be
    resumed, or finished already) as one stacked computation, to their last step; closes them and returns the
    batch summary (also what `sweep --pack` trains with)."""
    seeds = [r.cfg.optim.seed for r in runs]
    _check_batch([r.cfg for r in runs], seeds)
    task = runs[0].task
    total = sum(r.cfg.optim.steps for r in runs)
    bar = tqdm(total=total, initial=sum(r.step for r in runs), disable=not progress, smoothing=0.05, desc=desc)
    stack = SeedStack([r.model for r in runs], [r.opt for r in runs], runs[0].cfg, task, runs[0].cfg.optim.compile)
    on_gpu = runs[0].device.type == "cuda"
    pool = None
    if on_gpu and runs[0].gen.device.type == "cpu":
        # on a slow CPU 33 seeds' draws take 15 ms in 16 threads (H100 host, measured): optim.rng = "device"
        pool = ThreadPoolExecutor(min(len(runs), os.cpu_count() or 1))

    def prepare(going_on: Sequence[Run], steps: Sequence[int]) -> Staged:
        drawn = draw_all(going_on, pool, steps)
        return stack.stage([drawn.get(id(r)) for r in runs])

    # the next step is drawn and staged in this thread while the current step computes
    ahead, upcoming = ThreadPoolExecutor(1), None
    t0 = time.perf_counter()
    while active := [r for r in runs if not r.finished]:
        staged = upcoming.result() if isinstance(upcoming, Future) else upcoming
        if staged is None or [d is not None for d in staged.draws] != [not r.finished for r in runs]:
            # the first step, one after a checkpoint, or after the divergence guard: draw what is missing
            have = staged.draws if staged else [None] * len(runs)
            drawn = draw_all([r for r, d in zip(runs, have, strict=True) if d is None and not r.finished], pool)
            staged = stack.stage([None if r.finished else d or drawn[id(r)] for r, d in zip(runs, have, strict=True)])
        # not while a checkpoint is due: it saves each generator's state after this step's draws
        going_on = [r for r in active if r.step + 1 < r.cfg.optim.steps]
        due = any(r.checkpoint_due(r.step + 1) for r in active)
        upcoming = None if due else ahead.submit(prepare, going_on, [r.step + 1 for r in going_on])
        stages = [curriculum.at(r.cfg, r.step) for r in runs]
        flags, results = stack.step(staged, [s.anneal for s in stages], [s.lr * r.lr_scale for s, r in
                                                                          zip(stages, runs, strict=True)],
                                    [s.skip for s in stages])
        for i, r in enumerate(runs):
            if staged.draws[i] is None:
                continue
            if not flags[i]:
                if isinstance(upcoming, Future):  # never restore a generator while it draws
                    upcoming = upcoming.result()
                if upcoming:
                    upcoming.draws[i] = None  # drawn from the state the guard discards
                before = r.step
                try:
                    r.recover()
                except TrainingDiverged as e:
                    raise TrainingDiverged(f"seed {r.cfg.optim.seed}: {e}") from None
                stack.load(i, r.model, r.opt)
                bar.update(r.step - before)
                continue
            if r.checkpoint_due(r.step + 1):
                stack.export(i, r.model, r.opt)
            r.advance(results[i].result() if r.log_due(r.step + 1) else None)
            bar.update(1)
    ahead.shutdown()
    bar.close()
    elapsed = time.perf_counter() - t0
    # every seed ran the whole wall time: its steps/s is its share of the batch
    summaries = {f"seed_{r.cfg.optim.seed}": r.close(elapsed) for r in runs}
    done = sum(r.done for r in runs)
    return {"seeds": seeds, "seconds": elapsed, "trained_steps": done,
            "seed_steps_per_second": done / elapsed if elapsed else float("nan"), "runs": summaries}
