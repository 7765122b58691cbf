"""Batched multi-seed training: S hypernetworks of one configuration, differing only in their seed, trained in
one process as one stacked computation.

Every seed keeps all that `train.train` keeps (a `train.Run`: its own run folder, model, Adam, torch.Generator,
checkpoints, metrics and divergence guard) and draws its random numbers exactly as a solo run does. Per step
the seeds' parameters are stacked along a leading seed axis and one `torch.vmap` of the hypernetwork forward
and the loss (`torch.func.functional_call`) runs every seed at once; the backward of the summed losses gives
each seed its own gradient (no term couples two seeds), and each seed then clips and steps its own Adam. So a
seed's trajectory is its solo run up to floating-point rounding (the stacked matmuls sum in another order;
tests/test_batched.py bounds the difference), and a seed folder is an ordinary run folder (`sample`, `--resume`
of `train` and of `train-batch` accept it).

Seeds at different steps (one restored by the divergence guard, or a batch resumed after a kill between two
seeds' checkpoints) or drawing different sizes (task.train_sizes) are stacked in groups of equal (n, m).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call
from tqdm import tqdm

from .config import Config, from_dict
from .errors import UserError
from .hypernet import HyperNetwork, NetDistribution
from .target import Nets
from .tasks import Task
from .train import Draws, Run, StepResult, TrainingDiverged, anneal_factor, draw_step, step_loss

BATCH_FILE = "batch.json"


def seed_config(cfg: Config, seed: int) -> Config:
    return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, seed=seed))


def stacked_objective(models: Sequence[HyperNetwork], cfgs: Sequence[Config], task: Task, steps: Sequence[int],
                      gens: Sequence[torch.Generator]) -> list[StepResult]:
    """`train.objective` of every model at its own step with its own generator, computed as one vmap over the
    models per group of equal size (n, m). The configurations must differ only in their seed."""
    device = next(models[0].parameters()).device
    draws = [draw_step(mod, cfg, task, step, gen, device) for mod, cfg, step, gen in zip(models, cfgs, steps, gens,
                                                                                          strict=True)]
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, d in enumerate(draws):
        groups[(d.n, d.m)].append(i)
    results: list[StepResult | None] = [None] * len(models)
    cfg, base = cfgs[0], models[0]
    for (n, m), members in groups.items():
        # stacking the live parameters (not copies) sends each seed's gradient to its own model
        named = [dict(models[i].named_parameters()) for i in members]
        params = {name: torch.stack([p[name] for p in named]) for name in named[0]}
        stack = [draws[i] for i in members]
        z, x = torch.stack([d.z for d in stack]), torch.stack([d.x for d in stack])
        log_beta = torch.stack([d.log_beta for d in stack]).to(device)
        eps = Nets(*(torch.stack(ts) for ts in zip(*(d.eps for d in stack), strict=True)))
        anneal = torch.tensor([anneal_factor(cfg, steps[i]) for i in members], device=device)

        def one(params: dict[str, torch.Tensor], z: torch.Tensor, log_beta: torch.Tensor, eps: Nets,
                x: torch.Tensor, anneal: torch.Tensor, n: int = n, m: int = m) -> tuple:
            dist = functional_call(base, params, (z, log_beta))
            return *step_loss(dist, Draws(n, m, log_beta, z, eps, x), cfg, task, anneal), dist

        loss, mse, bits, y, dist = torch.vmap(one)(params, z, log_beta, eps, x, anneal)
        for j, i in enumerate(members):
            seed_dist = NetDistribution(*(Nets(*(t[j] for t in part)) for part in dist))
            results[i] = StepResult(loss[j], mse[j], bits[j], y[j].var(), draws[i].log_beta, seed_dist, draws[i].x,
                                    y[j])
    return results  # type: ignore[return-value]


def _check_batch(cfgs: Sequence[Config], seeds: Sequence[int]) -> None:
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds lists a seed twice: {' '.join(map(str, seeds))}")
    first = seed_config(cfgs[0], 0).to_dict()
    for cfg in cfgs[1:]:
        if seed_config(cfg, 0).to_dict() != first:
            raise UserError(f"seed {cfg.optim.seed}'s recorded configuration differs from seed "
                            f"{cfgs[0].optim.seed}'s in more than the seed: train them separately")
    if cfgs[0].optim.compile:
        raise UserError("train-batch does not compile (optim.compile = true): vmap runs the eager blocks")


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
        cfg, seeds = from_dict(saved["config"]), saved["seeds"]
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
    runs = [Run(seed_config(cfg, s), out / f"seed_{s}", resume, command) for s in seeds]
    _check_batch([r.cfg for r in runs], list(seeds))
    task = runs[0].task
    total = sum(r.cfg.optim.steps for r in runs)
    bar = tqdm(total=total, initial=sum(r.step for r in runs), disable=not progress, smoothing=0.05,
               desc=f"train-batch {len(runs)} seeds")
    t0 = time.perf_counter()
    while active := [r for r in runs if not r.finished]:
        for r in active:
            r.set_lr()
            r.opt.zero_grad(set_to_none=True)
        results = stacked_objective([r.model for r in active], [r.cfg for r in active], task,
                                    [r.step for r in active], [r.gen for r in active])
        torch.stack([res.loss for res in results]).sum().backward()
        for r, res in zip(active, results, strict=True):
            if not r.update(res.loss):
                before = r.step
                try:
                    r.recover()
                except TrainingDiverged as e:
                    raise TrainingDiverged(f"seed {r.cfg.optim.seed}: {e}") from None
                bar.update(r.step - before)
                continue
            r.advance(res)
            bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - t0
    # every seed ran the whole wall time: its steps/s is its share of the batch
    summaries = {f"seed_{r.cfg.optim.seed}": r.close(elapsed) for r in runs}
    done = sum(r.done for r in runs)
    summary = {"seeds": list(seeds), "seconds": elapsed, "trained_steps": done,
               "seed_steps_per_second": done / elapsed if elapsed else float("nan"), "runs": summaries}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
