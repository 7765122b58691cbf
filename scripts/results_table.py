"""Print the README's result tables (markdown) from a sweep's table.json.

    .venv/bin/python scripts/results_table.py runs/main
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hyperinterp.experiments.sweep import beta_name, with_every_label
from hyperinterp.report.build import aggregate
from hyperinterp.report.stats import SHORT


def main(sweep_dir: str) -> None:
    rows = with_every_label(json.loads((Path(sweep_dir) / "table.json").read_text()))
    final = aggregate([r for r in rows if r["kind"] == "sweep"], ("mode", "beta"))
    print("| mode | β | seeds | double-sided | pudding+ | pudding− | convexity | constant | other "
          "| rel MSE (draws) | rel MSE (means) | bits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for a in final:
        fr = " | ".join(f"{a[f'frac_{lab}']:.2f}" for lab in SHORT)
        print(f"| {a['mode']} | {beta_name(a['beta'])} | {a['seeds']} | {fr} | {a['rel_mse_median']:.3g} | "
              f"{a['rel_mse_mean_weights_median']:.3g} | {a['bits_median']:.0f} |")
    print()
    per_seed = [r for r in rows if r["kind"] == "sweep" and r["mode"] == "range"]
    seeds = sorted({r["seed"] for r in per_seed})
    betas = sorted({r["beta"] for r in per_seed})
    print("| seed | " + " | ".join(beta_name(b) for b in betas) + " |")
    print("|---" * (len(betas) + 1) + "|")
    for s in seeds:
        cells = {r["beta"]: r for r in per_seed if r["seed"] == s}
        print(f"| {s} | " + " | ".join(
            f"{SHORT[cells[b]['majority']]} {cells[b]['frac_' + cells[b]['majority']]:.0%}" for b in betas) + " |")
    print()
    gen = aggregate([r for r in rows if r["kind"] == "generalization"], ("mode", "beta", "n"))
    sizes = sorted({g["n"] for g in gen})
    print("| generalization | " + " | ".join(f"n={n}" for n in sizes) + " |")
    print("|---" * (len(sizes) + 1) + "|")
    for mode, beta in sorted({(g["mode"], g["beta"]) for g in gen}):
        cells = {g["n"]: g for g in gen if (g["mode"], g["beta"]) == (mode, beta)}
        print(f"| {mode}, β {beta_name(beta)} | " + " | ".join(
            f"{cells[n]['rel_mse_median']:.3g} {SHORT[cells[n]['majority']]}" for n in sizes) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
