"""What each algorithm costs at one β: the training objective log(MSE) + β·bits of every family, from saved runs.

    python scripts/family_costs.py RUN [RUN ...] [--betas ...] [--count 16] [--json F] [--plot F.png]

Each run (a trained β-conditioned hypernetwork, shipped or not) is sampled at every β (draws seeded 0, as
`hyperinterp sample` draws them) and its draws classified. For each β and each label the table gives the best run
whose majority at that β is that label (median over its draws of that label: objective, relative error, bits),
and the family with the lowest objective. The objective is the one every generator was trained on, so where the
lowest belongs to a family no single generator makes at that β, the generators, not the ranking, are what
keep three families from one β axis (issue 13, goal 3).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter
from pathlib import Path

from hyperinterp.experiments.sweep import beta_name
from hyperinterp.generate import sample
from hyperinterp.read import classify
from hyperinterp.report.stats import SHORT

FAMILIES = ("double_sided", "pudding_pos", "pudding_neg", "convexity")


def cells(run: str, betas: list[float], count: int) -> list[dict]:
    """One record per β: the run's majority label and, over the draws with that label, median objective terms."""
    model, cfg, _ = sample.load_model(run)
    out = []
    for beta in betas:
        arrays, meta = sample.sample(model, cfg, beta, cfg.task.n, cfg.task.m, count, 0)
        labels = [r["label"] for r in classify.classify_arrays(arrays, meta)]
        label, votes = Counter(labels).most_common(1)[0]
        mine = [i for i, lab in enumerate(labels) if lab == label]
        objective = [math.log(float(arrays["mse"][i])) + beta * float(arrays["bits"][i]) for i in mine]
        out.append({"run": run, "beta": beta, "label": label, "votes": votes, "count": count,
                    "objective": statistics.median(objective),
                    "rel": statistics.median(float(arrays["rel_mse"][i]) for i in mine),
                    "bits": statistics.median(float(arrays["bits"][i]) for i in mine)})
    return out


def best_per_family(records: list[dict], betas: list[float]) -> dict[float, dict[str, dict]]:
    """For each β, the lowest-objective record of each family among the runs whose majority it is there."""
    best: dict[float, dict[str, dict]] = {beta: {} for beta in betas}
    for r in records:
        if r["label"] in FAMILIES and r["votes"] * 2 > r["count"]:
            held = best[r["beta"]].get(r["label"])
            if held is None or r["objective"] < held["objective"]:
                best[r["beta"]][r["label"]] = r
    return best


def plot(best: dict[float, dict[str, dict]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for family in FAMILIES:
        points = [(beta, cell[family]["objective"]) for beta, cell in best.items() if family in cell]
        if points:
            ax.plot(*zip(*points, strict=True), "o-", label=SHORT[family])
    ax.set_xscale("log")
    ax.set_xlabel("β (the budget the generator is asked for)")
    ax.set_ylabel("log MSE + β·bits (median draw; lower wins)")
    ax.set_title("The objective of each family's best generator at each β")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--betas", type=float, nargs="+", default=[1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--json", help="also write every run's cells here")
    parser.add_argument("--plot", help="draw each family's best objective along β into this PNG")
    args = parser.parse_args()
    records = [r for run in args.runs for r in cells(run, args.betas, args.count)]
    best = best_per_family(records, args.betas)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    if args.plot:
        plot(best, args.plot)
    print("| β | " + " | ".join(SHORT[f] for f in FAMILIES) + " | lowest |")
    print("|---" * (len(FAMILIES) + 2) + "|")
    for beta in args.betas:
        row = best[beta]
        text = [f"{row[f]['objective']:.2f} (rel {row[f]['rel']:.3g}, {row[f]['bits']:,.0f} bits; "
                f"{Path(row[f]['run']).parent.name}/{Path(row[f]['run']).name})" if f in row else "—"
                for f in FAMILIES]
        winner = SHORT[min(row, key=lambda f: row[f]["objective"])] if row else "—"
        print(f"| {beta_name(beta)} | " + " | ".join(text) + f" | {winner} |")


if __name__ == "__main__":
    main()
