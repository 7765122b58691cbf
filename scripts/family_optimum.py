"""What each L1 algorithm costs at its best on the objective, without a generator: every family's reference
construction trained directly on log(MSE) + β·bits (a mean and a log standard deviation per weight, the `direct`
baseline started from the construction instead of at random) at each β, then classified again.

    python scripts/family_optimum.py [--betas ...] [--count 8] [--steps 4000] [--from FAMILY=RUN ...] [--json F]
                                     [--set KEY=VALUE ...]

`scripts/family_costs.py` scores the families the generators made; where no generator makes a family at some β
it has no figure there, and a generator that is poor in a band (E34) makes a family look dearer than it is. Here
every family is optimised at every β from its own construction, so the table says where the objective itself puts
each family first (issue 13, goal 3). A family keeps its name only in the draws still classified as it after
training ("kept"); its objective is the median over those draws (log MSE + β·bits, the test MSE of one draw).
A construction is not the family's best start (pudding's linear neuron, a large bias or a large output weight, costs
bits no step gives back, E36): `--from pudding_pos=RUN` also starts from the generated network of that family with
the lowest objective among RUN's 16 draws at that β (seeded 0, as `hyperinterp sample` draws them: its means and
standard deviations), and the table gives the lower of the two.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from hyperinterp.experiments import baselines
from hyperinterp.experiments.sweep import beta_name
from hyperinterp.generate import config, sample
from hyperinterp.generate.target import Nets
from hyperinterp.read import classify, references
from hyperinterp.report.stats import SHORT

FAMILIES = ("double_sided", "pudding_pos", "convexity")  # pudding_neg is pudding_pos mirrored: the same costs


def objectives(arrays: dict, beta: float) -> list[float]:
    return [math.log(float(mse)) + beta * float(bits) for mse, bits in zip(arrays["mse"], arrays["bits"], strict=True)]


def generated_start(run: str, family: str, beta: float, n: int, m: int) -> tuple[Nets, Nets] | None:
    """The distribution (means, log standard deviations) of the run's draw of `family` with the lowest objective
    among its 16 at this β, or None if it makes none."""
    model, cfg, _ = sample.load_model(run)
    arrays, meta = sample.sample(model, cfg, beta, n, m, 16, 0)
    dist, _ = sample.generated(model, beta, n, m, 16, 0)
    labels = [r["label"] for r in classify.classify_arrays(arrays, meta)]
    scores = objectives(arrays, beta)
    mine = [i for i, label in enumerate(labels) if label == family]
    if not mine:
        return None
    best = min(mine, key=lambda i: scores[i])
    return Nets(*(t[best] for t in dist.mu)), Nets(*(t[best] for t in dist.log_sigma))


def optimum(cfg: config.Config, family: str, beta: float, count: int, steps: int, seed: int,
            start: str = "construction", init: tuple[Nets, Nets] | None = None) -> dict:
    n, m = cfg.task.n, cfg.task.m
    if init is None:
        net = references.make_reference(family, n, m, activation=cfg.task.activation)
        init = Nets(net["W"], net["b"], net["a"], net["c"]), None
    arrays, meta = baselines.train_direct(cfg, beta, count, seed, steps=steps, init=init[0], init_log_sigma=init[1])
    labels = [r["label"] for r in classify.classify_arrays(arrays, meta)]
    kept = [i for i, label in enumerate(labels) if label == family]
    scores = objectives(arrays, beta)
    objective = [scores[i] for i in kept]
    return {"family": family, "beta": beta, "start": start, "kept": len(kept), "count": count,
            "objective_all": statistics.median(scores),
            "objective": statistics.median(objective) if kept else None,
            "rel": statistics.median(float(arrays["rel_mse"][i]) for i in kept) if kept else None,
            "bits": statistics.median(float(arrays["bits"][i]) for i in kept) if kept else None,
            "labels": {label: labels.count(label) for label in sorted(set(labels))}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--betas", type=float, nargs="+", default=[3e-4, 1e-3, 1.2e-3, 1.5e-3, 2e-3, 3e-3])
    p.add_argument("--count", type=int, default=8, help="networks per (family, β), each a draw of its own training")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="configuration overrides (task.n, task.m, ...)")
    p.add_argument("--from", dest="starts", action="append", default=[], metavar="FAMILY=RUN",
                   help="also start FAMILY from RUN's best draw of it at each β (repeatable)")
    p.add_argument("--json", help="write the records here")
    args = p.parse_args()
    torch.set_num_threads(1)  # many small networks: one thread each is faster, and the same on every machine
    cfg = config.load(None, args.set)
    if cfg.task.name != "l1":
        raise SystemExit("hyperinterp: error: family_optimum.py knows the L1 families only (task.name = 'l1')")
    starts = [tuple(text.split("=", 1)) for text in args.starts]
    if any(len(s) != 2 or s[0] not in FAMILIES for s in starts):
        raise SystemExit(f"hyperinterp: error: --from takes FAMILY=RUN with FAMILY one of {', '.join(FAMILIES)}")
    records = []
    for beta in args.betas:
        for family in FAMILIES:
            records.append(optimum(cfg, family, beta, args.count, args.steps, args.seed))
            for name, run in starts:
                init = generated_start(run, family, beta, cfg.task.n, cfg.task.m) if name == family else None
                if init is not None:
                    records.append(optimum(cfg, family, beta, args.count, args.steps, args.seed, run, init))
    print(f"n = {cfg.task.n}, m = {cfg.task.m}; {args.count} networks a cell, {args.steps} steps from the construction")
    print("| β | " + " | ".join(SHORT.get(f, f) for f in FAMILIES) + " | lowest |")
    print("|---|" + "---|" * (len(FAMILIES) + 1))
    for beta in args.betas:
        cells = [min((r for r in records if r["beta"] == beta and r["family"] == family),
                     key=lambda r: (r["objective"] is None, r["objective"] or 0.0)) for family in FAMILIES]
        text = [f"{r['objective']:.2f} (rel {r['rel']:.3g}, {r['bits']:,.0f} bits; kept {r['kept']}/{r['count']}; "
                f"from {r['start']})" if r["kept"] else
                f"— (kept 0/{r['count']}: {r['labels']}; all draws {r['objective_all']:.2f})" for r in cells]
        scored = [r for r in cells if r["kept"]]
        lowest = SHORT.get(min(scored, key=lambda r: r["objective"])["family"], "") if scored else "—"
        print(f"| {beta_name(beta)} | " + " | ".join(text) + f" | {lowest} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": cfg.task.n, "m": cfg.task.m, "count": args.count, "steps": args.steps, "records": records},
                      f, indent=1)


if __name__ == "__main__":
    main()
