"""Where a generator's error at low beta comes from: its output layer, or its input weights (notebook E28).

    python scripts/accuracy_probe.py RUN_OR_CHECKPOINT [RUN ...] [--beta 1e-6] [--count 8] [--n 16] [--m 48]

For `count` draws at (n, m) on L1 it prints the median relative MSE (MSE / Var y on 20,000 normal inputs) of:
the draws; their mean networks; the mean networks with the output bias c refitted; with a and c refitted by least
squares (the best read-out of the generated hidden layer); with every neuron cut to its largest input weight
(what the soft slot assignment leaks onto other inputs removed) and a, c refitted. The gap between the first two
and the refits is what the generator's output layer loses. It reads only the saved checkpoint.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from hyperinterp.generate import sample
from hyperinterp.generate.target import Nets, forward


def _refit(nets: Nets, x: torch.Tensor, y: torch.Tensor) -> Nets:
    """a and c by least squares on the network's own hidden layer (float64: spare neurons make it ill-posed)."""
    hidden = F.silu(torch.einsum("bn,kmn->kbm", x, nets.W) + nets.b[:, None]).double()
    design = torch.cat([hidden, torch.ones_like(hidden[..., :1])], -1)
    target = y.double().expand(design.shape[0], -1)[..., None]
    sol = torch.linalg.lstsq(design, target, driver="gelsd").solution[..., 0].float()
    return Nets(nets.W, nets.b, sol[:, :-1], sol[:, -1])


def probe(run: str, beta: float, count: int, n: int, m: int) -> dict[str, float]:
    model, _, _ = sample.load_model(run)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, n, generator=gen)
    y = x.abs().sum(1)

    def rel(nets: Nets) -> float:
        return float(((forward(nets, x) - y) ** 2).mean(1).median() / y.var())

    with torch.no_grad():
        dist = model.generate(torch.full((count,), math.log(beta)), n, m, generator=gen)
        mu = dist.mu
        c_fit = mu.c + (y - forward(mu, x)).mean(1)
        top = mu.W.abs().argmax(2, keepdim=True)
        one_input = Nets(torch.zeros_like(mu.W).scatter(2, top, mu.W.gather(2, top)), mu.b, mu.a, mu.c)
        return {"draws": rel(dist.draw(gen)), "mean": rel(mu), "c refit": rel(Nets(*mu[:3], c_fit)),
                "a, c refit": rel(_refit(mu, x, y)), "one input, a, c refit": rel(_refit(one_input, x, y))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--beta", type=float, default=1e-6)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--m", type=int, default=48)
    args = parser.parse_args()
    rows = {run: probe(run, args.beta, args.count, args.n, args.m) for run in args.runs}
    names = list(next(iter(rows.values())))
    print(f"median rel MSE at beta {args.beta:g}, n = {args.n}, m = {args.m}, {args.count} draws")
    print("run | " + " | ".join(names))
    for run, row in rows.items():
        print(f"{run} | " + " | ".join(f"{row[k]:.4f}" for k in names))


if __name__ == "__main__":
    main()
