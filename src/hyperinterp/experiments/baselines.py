"""Baselines without a hypernetwork: the target weights trained directly, K networks at once.

* `adam`:   plain Adam on log(MSE), deterministic weights, no budget. What a practitioner
            would get by training the target network itself.
* `direct`: the hypernetwork's own objective, log(MSE) + beta * bits, optimised on a mean
            and a log standard deviation per weight (DESIGN §4, "the reference"): at each
            beta the hypernetwork's samples should reach at least this loss.

Both return the same arrays and meta as `sample.sample`, so they go through the classifier,
the drawings and the sweep table like generated networks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..generate.config import Config
from ..generate.curriculum import cosine_lr
from ..generate.hypernet import NetDistribution
from ..generate.sample import evaluate
from ..generate.target import Nets, forward
from ..generate.tasks import make_task
from ..generate.train import mean_network, network_bits


def _init(k: int, n: int, m: int, c0: float, gen: torch.Generator) -> Nets:
    return Nets(torch.randn(k, m, n, generator=gen) / math.sqrt(n), 0.1 * torch.randn(k, m, generator=gen),
                torch.randn(k, m, generator=gen) / math.sqrt(m), torch.full((k,), c0))


def train_direct(cfg: Config, beta: float | None, count: int, seed: int, steps: int = 4000, lr: float = 1e-2,
                 init: Nets | None = None, init_log_sigma: Nets | None = None,
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train `count` target networks directly; beta=None is the plain Adam baseline. `init`: one network (W (m, n),
    b, a (m,), c ()) every one of them starts from (a reference construction, or a generated network's mean: what
    that algorithm costs once optimised on the objective, scripts/family_optimum.py), instead of a random start;
    `init_log_sigma`: its log standard deviations (None: e^-3 everywhere)."""
    n, m, act = cfg.task.n, cfg.task.m, cfg.task.activation
    task = make_task(cfg.task.name, cfg.task.input_dist)
    gen = torch.Generator().manual_seed(seed)
    c0 = float(task.target(task.sample_x(4096, n, gen)).mean())
    start = _init(count, n, m, c0, gen) if init is None else Nets(
        *(torch.as_tensor(p, dtype=torch.float32).expand(count, *torch.as_tensor(p).shape).clone() for p in init))
    mu = [p.requires_grad_() for p in start]
    if beta is None:
        log_sigma = []
    elif init_log_sigma is None:
        log_sigma = [torch.full_like(p, -3.0, requires_grad=True) for p in mu]
    else:
        log_sigma = [torch.as_tensor(q, dtype=torch.float32).expand_as(p).clone().requires_grad_()
                     for p, q in zip(mu, init_log_sigma, strict=True)]
    opt = torch.optim.Adam(mu + log_sigma, lr=lr)
    for step in range(steps):
        for group in opt.param_groups:  # cosine decay over the last 30%, as in hypernetwork training
            group["lr"] = cosine_lr(lr, step, steps, 0.3)
        x = task.sample_x(cfg.optim.inputs_per_step, n, gen)
        y = task.target(x)
        if beta is None:
            nets, bits = Nets(*mu), torch.zeros(count)
        else:
            dist = NetDistribution(Nets(*mu), Nets(*log_sigma))
            nets, bits = dist.draw(gen), network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale)
        mse = ((forward(nets, x, act) - y) ** 2).mean(1)
        loss = (torch.log(mse) + (beta or 0.0) * bits).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with torch.no_grad():
        if beta is None:
            nets, bits = Nets(*(p.detach() for p in mu)), torch.full((count,), float("nan"))
            mean_nets = nets
        else:
            dist = NetDistribution(Nets(*(p.detach() for p in mu)), Nets(*(p.detach() for p in log_sigma)))
            nets = dist.draw(torch.Generator().manual_seed(seed + 1))
            mean_nets = mean_network(dist, cfg.budget.prior)
            bits = network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale)
        mse, rel = evaluate(nets, cfg, n, seed)
        _, rel_mean = evaluate(mean_nets, cfg, n, seed)
    arrays = {**{k: v.numpy() for k, v in nets._asdict().items()}, "beta": np.full(count, beta or 0.0),
              "bits": bits.numpy(), "mse": mse.numpy(), "rel_mse": rel.numpy(), "rel_mse_mean": rel_mean.numpy()}
    meta = {"source": "adam" if beta is None else "direct", "task": cfg.task.name, "input_dist": cfg.task.input_dist,
            "activation": act, "n": n, "m": m, "seed": seed, "weights": "weights" if beta is None else "draw",
            "prior": cfg.budget.prior, "steps": steps, "lr": lr, "init": "random" if init is None else "given"}
    return arrays, meta
