"""Sampling: load a checkpoint, generate K networks at one beta and size, measure them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint
from .config import Config, check_positive, from_dict, resolve_device
from .errors import UserError
from .hypernet import HyperNetwork
from .target import Nets, forward
from .tasks import make_task
from .train import build_model, mean_network, network_bits

WEIGHT_MODES = ("draw", "mean")


def load_model(path: str | Path, device: str = "cpu") -> tuple[HyperNetwork, Config, dict[str, Any]]:
    """The hypernetwork of a checkpoint (read on the CPU whatever device trained it), moved to `device`
    (cpu | cuda | auto)."""
    ckpt = checkpoint.resolve(path)
    weights, _, meta = checkpoint.load(ckpt)
    try:
        cfg = from_dict(meta["config"])
    except UserError as e:
        raise UserError(f"checkpoint {ckpt} has an invalid configuration: {e}") from None
    model = build_model(cfg)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise UserError(f"checkpoint {ckpt} does not match its recorded configuration") from None
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
    gen = torch.Generator().manual_seed(seed)
    log_beta = torch.full((count,), math.log(beta))
    dist = model.generate(log_beta, n, m, gen)
    nets = dist.draw(gen) if weights == "draw" else mean_network(dist, cfg.budget.prior)
    mse, rel = evaluate(nets, cfg, n, seed)
    bits = network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale)
    arrays = {**{k: v.cpu().numpy() for k, v in nets._asdict().items()}, "beta": np.full(count, beta),
              "bits": bits.cpu().numpy(), "mse": mse.cpu().numpy(), "rel_mse": rel.cpu().numpy()}
    if mean_error:
        arrays["rel_mse_mean"] = evaluate(mean_network(dist, cfg.budget.prior), cfg, n, seed)[1].cpu().numpy()
    meta = {"source": "hypernetwork", "task": cfg.task.name, "input_dist": cfg.task.input_dist,
            "activation": cfg.task.activation, "n": n, "m": m, "seed": seed, "weights": weights,
            "prior": cfg.budget.prior}
    return arrays, meta


def sample_checkpoint(path: str | Path, device: str = "cpu",
                      **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    model, cfg, meta = load_model(path, device)
    arrays, out_meta = sample(model, cfg, **kwargs)
    return arrays, {**out_meta, "checkpoint": meta["path"], "checkpoint_step": meta["step"]}
