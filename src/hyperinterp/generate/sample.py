"""Sampling: load a checkpoint, generate K networks at one beta and size, measure them."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from . import checkpoint, curriculum
from .config import Config, check_positive, from_dict, resolve_device
from .hypernet import HyperNetwork, NetDistribution
from .target import Nets, forward
from .tasks import make_task
from .train import build_model, mean_network, network_bits

WEIGHT_MODES = ("draw", "mean")


def load_model(path: str | Path, device: str = "cpu") -> tuple[HyperNetwork, Config, dict[str, Any]]:
    """The hypernetwork of a checkpoint (read on the CPU whatever device trained it), moved to `device`
    (cpu | cuda | auto)."""
    p = Path(path)
    if (p / "meta.json").is_file() or p.name.startswith(checkpoint.STEP_PREFIX) or not checkpoint.list_steps(p):
        ckpt = checkpoint.resolve(p)  # a checkpoint folder is used as named: never another step in its place
        weights, _, meta = checkpoint.load(ckpt)
    else:  # a run folder: its newest undamaged checkpoint, and one warning line if newer ones were damaged
        latest, skipped = checkpoint.newest_undamaged(p)
        if latest is None:
            raise UserError(f"{p}: every checkpoint is damaged (newest: {skipped[0]})")
        ckpt, weights, _, meta = latest
        if skipped:
            print(f"hyperinterp: warning: using {ckpt.name}, the newest undamaged checkpoint of {p}; skipped "
                  f"{len(skipped)} damaged: {skipped[0]}", file=sys.stderr)
    try:
        cfg = from_dict(meta["config"], stored=True)
    except UserError as e:
        raise UserError(f"checkpoint {ckpt} has an invalid configuration: {e}") from None
    model = build_model(cfg)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise UserError(f"checkpoint {ckpt} does not match its recorded configuration") from None
    model.stage = curriculum.at(cfg, meta["step"])  # a checkpoint generates what its step trained
    model.to(resolve_device(device)).eval()
    return model, cfg, {**meta, "path": str(ckpt)}


@torch.no_grad()
def evaluate(nets: Nets, cfg: Config, n: int, seed: int, inputs: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """MSE and MSE/Var(y) of each network on fresh inputs from the task (seeded)."""
    task = make_task(cfg.task.name, cfg.task.input_dist)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    x = task.sample_x(inputs, n, gen).to(nets.W.device)
    y = task.target(x)
    # float64: the figures must not depend on the summation order the BLAS picks (reproducible tables)
    nets64 = Nets(*(t.detach().double().cpu() for t in nets))
    x, y = x.double().cpu(), y.double().cpu()
    mse = ((forward(nets64, x, cfg.task.activation) - y) ** 2).mean(1)
    return mse.float(), (mse / y.var()).float()


def memory_limit() -> int:
    """Bytes one sampling call may take: half of this machine's memory (or of its cgroup's limit)."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(text)) if text.isdigit() else total
    except OSError:
        pass
    return total // 2


def memory_needed(model: HyperNetwork, count: int, n: int, m: int) -> int:
    """A generous estimate of the bytes `sample` holds at once: per weight entry the noise channels, mean, log
    sigma, the drawn weight, its float64 copy for evaluation and the saved copy; plus one network's layer
    activations (the generator works through the networks in groups)."""
    h = model.cfg
    per_entry = 4 * (h.noise_channels + h.neuron_noise_channels) + 4 * 4 + 8
    return count * m * n * per_entry + 8 * m * n * h.width * 4


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB"


def extrapolation(cfg: Config, beta: float, n: int, m: int) -> list[str]:
    """What of (beta, n, m) lies outside what the run was trained on, in words (empty: inside)."""
    t, b, notes = cfg.task, cfg.budget, []
    lo, hi = (b.beta, b.beta) if b.beta_mode == "fixed" else (b.beta_min, b.beta_max)
    if not lo * (1 - 1e-6) <= beta <= hi * (1 + 1e-6):
        notes.append(f"beta={beta:g} is outside the trained range {lo:g}..{hi:g}")
    trained_n = t.train_sizes or (t.n,)
    if not min(trained_n) <= n <= max(trained_n):
        sizes = f"{min(trained_n)}..{max(trained_n)}" if t.train_sizes else str(t.n)
        notes.append(f"n={n} is outside the trained sizes {sizes}")
    ratios = [t.m_per_n] if t.train_sizes else [t.m / t.n]
    ratios += [r for _, r in t.width_schedule]
    if not math.floor(min(ratios) * n) <= m <= math.ceil(max(ratios) * n):
        notes.append(f"m={m} at n={n} is outside the trained widths m/n {min(ratios):g}..{max(ratios):g}")
    return notes


@torch.no_grad()
def generated(model: HyperNetwork, beta: float, n: int, m: int, count: int, seed: int
              ) -> tuple[NetDistribution, torch.Generator]:
    """The K weight distributions `sample` draws its networks from, and the seeded generator, which draws next."""
    gen = torch.Generator().manual_seed(seed)
    return model.generate(torch.full((count,), math.log(beta)), n, m, gen), gen


@torch.no_grad()
def sample(model: HyperNetwork, cfg: Config, beta: float, n: int, m: int, count: int, seed: int,
           weights: str = "draw", mean_error: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """K networks at budget beta: their weights (a draw, or the mean), bits and fresh-data MSE.

    `mean_error` adds `rel_mse_mean`, the error of the same distributions' mean networks (DESIGN §4:
    the report gives both), from the one `generate` call."""
    check_positive("beta", beta)
    for name, value in (("n", n), ("m", m), ("count", count)):
        if value < 1:
            raise UserError(f"{name} must be >= 1, got {value}")
    if not 0 <= seed < 2**62:
        raise UserError(f"seed must be in [0, 2**62), got {seed}")
    if weights not in WEIGHT_MODES:
        raise UserError(f"--weights must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    need, limit = memory_needed(model, count, n, m), memory_limit()
    if need > limit:
        raise UserError(f"{count} networks of n={n}, m={m} need about {_gib(need)} of memory, more than the "
                        f"{_gib(limit)} allowed here (half this machine's memory): sample fewer (--count) into "
                        f"several files (--seed)")
    dist, gen = generated(model, beta, n, m, count, seed)
    nets = dist.draw(gen, cfg.hyper.gate_decided) if weights == "draw" else mean_network(dist, cfg.budget.prior)
    mse, rel = evaluate(nets, cfg, n, seed)
    bits = network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale, cfg.hyper.gate_decided)
    arrays = {**{k: v.cpu().numpy() for k, v in nets._asdict().items()}, "beta": np.full(count, beta),
              "bits": bits.cpu().numpy(), "mse": mse.cpu().numpy(), "rel_mse": rel.cpu().numpy()}
    if mean_error:
        arrays["rel_mse_mean"] = evaluate(mean_network(dist, cfg.budget.prior), cfg, n, seed)[1].cpu().numpy()
    meta = {"source": "hypernetwork", "task": cfg.task.name, "input_dist": cfg.task.input_dist,
            "activation": cfg.task.activation, "n": n, "m": m, "seed": seed, "weights": weights,
            "prior": cfg.budget.prior}
    notes = extrapolation(cfg, beta, n, m)
    meta.update(extrapolated=bool(notes), extrapolation=notes)
    return arrays, meta


def sample_checkpoint(path: str | Path, device: str = "cpu",
                      **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    model, cfg, meta = load_model(path, device)
    arrays, out_meta = sample(model, cfg, **kwargs)
    return arrays, {**out_meta, "checkpoint": meta["path"], "checkpoint_step": meta["step"]}
