"""Where a generated network's bits go, by what each neuron does (the rules' evidence).

    python scripts/bits_by_role.py RUN --beta B [--count K] [--n N] [--m M] [--json]

Generates K networks of a checkpoint at β (seeded 0, the draws `hyperinterp sample` makes), classifies them, and splits
each network's description length (the KL of its weight distribution from the prior, in bits: what β prices) over its
neurons' roles: the one-input kinks that serve a side (their read weight, their other input weights, bias, output
weight), the dense part, and the rest (inactive neurons); plus c. Printed per network and as the median over the K.
A family's bits at one β (scripts/family_costs.py) say how much; this says where, e.g. whether a pudding's linear
term is carried by one neuron or by every spare one (E61).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from hyperinterp.generate import complexity, sample
from hyperinterp.read import classify


def roles(run: str, beta: float, count: int, n: int | None, m: int | None) -> list[dict]:
    model, cfg, _ = sample.load_model(run)
    n, m = n or cfg.task.n, m or cfg.task.width(n or cfg.task.n)
    arrays, meta = sample.sample(model, cfg, beta, n, m, count, 0)
    dist, _ = sample.generated(model, beta, n, m, count, 0)

    def bits(name: str) -> torch.Tensor:
        mu, ls = getattr(dist.mu, name), getattr(dist.log_sigma, name)
        return complexity.kl_nats(mu, ls, cfg.budget.prior, cfg.budget.prior_scale) / math.log(2)

    W, b, a, c = bits("W"), bits("b"), bits("a"), bits("c")
    out = []
    for k, res in enumerate(classify.classify_arrays(arrays, meta)):
        read = {j: sd["input"] for sd in res["sides"] for j in sd["neurons"]}
        dense = set(res["dense_part"]["neurons"]) - set(read)
        rest = [j for j in range(m) if j not in read and j not in dense]
        row = {"label": res["label"], "rel": float(arrays["rel_mse"][k]), "bits": float(arrays["bits"][k]),
               "side_neurons": len(read), "dense_neurons": len(dense), "rest_neurons": len(rest),
               "side_read_weight": sum(float(W[k, j, i]) for j, i in read.items()),
               "side_other_weights": sum(float(W[k, j].sum() - W[k, j, i]) for j, i in read.items()),
               "side_bias_and_output": sum(float(b[k, j] + a[k, j]) for j in read),
               "dense": sum(float(W[k, j].sum() + b[k, j] + a[k, j]) for j in dense),
               "rest": sum(float(W[k, j].sum() + b[k, j] + a[k, j]) for j in rest), "c": float(c[k])}
        out.append(row)
    return out


PARTS = ("side_read_weight", "side_other_weights", "side_bias_and_output", "dense", "rest", "c")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run directory or checkpoint")
    p.add_argument("--beta", type=float, required=True)
    p.add_argument("--count", type=int, default=16)
    p.add_argument("--n", type=int)
    p.add_argument("--m", type=int)
    p.add_argument("--json", action="store_true", help="one JSON list instead of text")
    args = p.parse_args()
    rows = roles(args.run, args.beta, args.count, args.n, args.m)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'label':<13} {'rel':>8} {'bits':>6} {'sides':>5} {'dense':>5} " + " ".join(f"{p:>10.10}" for p in PARTS))
    for r in rows:
        print(f"{r['label']:<13} {r['rel']:>8.3g} {r['bits']:>6.0f} {r['side_neurons']:>5} {r['dense_neurons']:>5} "
              + " ".join(f"{r[p]:>10.0f}" for p in PARTS))
    med = {p: statistics.median(r[p] for r in rows) for p in ("rel", "bits", *PARTS)}
    print(f"{'median':<13} {med['rel']:>8.3g} {med['bits']:>6.0f} {'':>5} {'':>5} "
          + " ".join(f"{med[p]:>10.0f}" for p in PARTS))


if __name__ == "__main__":
    main()
