"""What a generated network would cost if its dense part were one exact linear pair instead of many neurons (E63).

    python scripts/concentrate_dense.py RUN --beta B [--at B2 ...] [--count K]

Generates K networks of a checkpoint at β = B (seeded 0), and for each whose dense part the rules fit as linear
(R² ≥ 0.95) replaces that part by c·[silu(v·x) − silu(−v·x)] = c·v·x (exact for SiLU), v·c the part's fitted
coefficients, its intercept moved into the output bias; every other neuron keeps its generated distribution. The
pair's weights all get one standard deviation, the one (on a grid) that minimises the objective at each `--at` β.
Prints, per β, the median objective `log MSE + β·bits` (MSE over 16 weight draws on 4,096 fresh inputs) of the
networks as generated and as concentrated, with their bits: an upper bound on what the same layout costs with a
dense part of two neurons, to compare with the family that wins there (E61: pudding's linear term spread over 28
neurons costs 2,500 bits).
"""

from __future__ import annotations

import argparse
import math
import statistics

import numpy as np
import torch

from hyperinterp.generate import complexity, sample
from hyperinterp.generate.target import Nets, forward
from hyperinterp.generate.tasks import make_task
from hyperinterp.read import classify

DRAWS, INPUTS = 16, 4096


def objective(mu: Nets, log_sigma: Nets, x: torch.Tensor, y: torch.Tensor, beta: float, prior: tuple,
              gen: torch.Generator) -> tuple[float, float]:
    """(objective, bits) of one network's distribution: the MSE of DRAWS weight draws on x."""
    draws = Nets(*(m + torch.exp(s) * torch.randn((DRAWS, *m.shape), generator=gen)
                   for m, s in zip(mu, log_sigma, strict=True)))
    mse = float(((forward(draws, x) - y) ** 2).mean())
    bits = float(sum(complexity.kl_nats(m, s, *prior).sum() for m, s in zip(mu, log_sigma, strict=True)) / math.log(2))
    return math.log(mse) + beta * bits, bits


def concentrated(mu: Nets, log_sigma: Nets, dense: list[int], coef: np.ndarray, intercept: float,
                 log_s: float, scale: float = 1.0) -> tuple[Nets, Nets]:
    keep = [j for j in range(mu.W.shape[0]) if j not in set(dense)]
    v = torch.as_tensor(coef, dtype=mu.W.dtype) / scale
    W = torch.cat([mu.W[keep], v[None], -v[None]])
    b = torch.cat([mu.b[keep], torch.zeros(2)])
    a = torch.cat([mu.a[keep], torch.tensor([scale, -scale])])
    c = mu.c + intercept
    pair = torch.full((2,), log_s)
    sigma = Nets(torch.cat([log_sigma.W[keep], torch.full((2, W.shape[1]), log_s)]),
                 torch.cat([log_sigma.b[keep], pair]), torch.cat([log_sigma.a[keep], pair]), log_sigma.c)
    return Nets(W, b, a, c), sigma


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--beta", type=float, required=True, help="the β the networks are generated at")
    p.add_argument("--at", type=float, nargs="+", help="the β to score them at (default: --beta)")
    p.add_argument("--count", type=int, default=8)
    args = p.parse_args()
    model, cfg, _ = sample.load_model(args.run)
    n, m = cfg.task.n, cfg.task.width(cfg.task.n)
    arrays, meta = sample.sample(model, cfg, args.beta, n, m, args.count, 0)
    dist, _ = sample.generated(model, args.beta, n, m, args.count, 0)
    task = make_task(cfg.task.name, cfg.task.input_dist)
    x = task.sample_x(INPUTS, n, torch.Generator().manual_seed(1))
    y = task.target(x)
    prior = (cfg.budget.prior, cfg.budget.prior_scale)
    results = classify.classify_arrays(arrays, meta)
    for at in args.at or [args.beta]:
        rows = []
        for k, res in enumerate(results):
            dp = res["dense_part"]
            if not dp["neurons"] or dp["r2"] < 0.95:
                continue
            mu, ls = Nets(*(t[k] for t in dist.mu)), Nets(*(t[k] for t in dist.log_sigma))
            before = objective(mu, ls, x, y, at, prior, torch.Generator().manual_seed(2))
            pairs = (concentrated(mu, ls, dp["neurons"], np.asarray(dp["coef"]), dp["intercept"], s)
                     for s in np.arange(-7, 0.01, 0.5))
            after = min((objective(*pair, x, y, at, prior, torch.Generator().manual_seed(2)) for pair in pairs),
                        key=lambda r: r[0])
            rows.append((res["label"], len(dp["neurons"]), *before, *after))
        if not rows:
            print(f"β {at:g}: no network with a linear dense part")
            continue
        med = [statistics.median(r[i] for r in rows) for i in range(2, 6)]
        labels = ", ".join(sorted({r[0] for r in rows}))
        sizes = f"{min(r[1] for r in rows)}–{max(r[1] for r in rows)}"
        print(f"β {at:g}: {len(rows)} of {len(results)} networks ({labels}; dense parts of {sizes} neurons): objective "
              f"{med[0]:.2f} ({med[1]:.0f} bits) as generated, {med[2]:.2f} ({med[3]:.0f} bits) with the dense part as "
              "one linear pair")


if __name__ == "__main__":
    main()
