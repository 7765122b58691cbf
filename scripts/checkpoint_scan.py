"""The labels of 16 draws at each β for saved checkpoints along a training: what a generator made at each step.

    python scripts/checkpoint_scan.py runs/e51/train/then_both_signs/seed_{0..7} --steps 1000 2000 4000 \
        --betas 1e-6 1e-3 1.2e-3 1.5e-3 [--workers 2] [--json F]

One line per (run, step): the majority label (more than half the draws) and its count at each β, or the two most
common labels when none holds a majority; a run whose labels follow the complexity ranking with three families
(double-sided, then pudding, then convexity as β rises) is marked. Reads only the saved checkpoints (draws seeded 0,
as `hyperinterp sample` draws them).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hyperinterp.generate import sample
from hyperinterp.read import classify
from hyperinterp.report.stats import EXPECTED_ORDER, SHORT
from hyperinterp.report.stats import family as label_family


def scan(run: str, step: int, betas: list[float], count: int) -> dict:
    model, cfg, _ = sample.load_model(str(Path(run) / "checkpoints" / f"step_{step:08d}"))
    cells = []
    for beta in betas:
        arrays, meta = sample.sample(model, cfg, beta, cfg.task.n, cfg.task.m, count, 0)
        labels = Counter(r["label"] for r in classify.classify_arrays(arrays, meta))
        rel = sorted(float(x) for x in arrays["rel_mse"])[count // 2]  # the upper median (docs/results/e5[13]_*)
        cells.append({"beta": beta, "labels": dict(labels.most_common()), "rel": rel})
    return {"run": run, "step": step, "cells": cells}


def family(cell: dict) -> str | None:
    """The cell's majority family (both pudding forms are pudding), or None."""
    label, votes = Counter(cell["labels"]).most_common(1)[0]
    if votes * 2 <= sum(cell["labels"].values()):
        return None
    return label_family(label)


def three_families(cells: list[dict]) -> bool:
    """Double-sided, then pudding, then convexity along β: the cells' majority families, `other` and no majority
    left out and repeats merged, are exactly those three in that order."""
    seen = [f for f in (family(c) for c in cells) if f in EXPECTED_ORDER]
    return [f for i, f in enumerate(seen) if i == 0 or seen[i - 1] != f] == list(EXPECTED_ORDER)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--betas", type=float, nargs="+", required=True)
    p.add_argument("--count", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    jobs = [(run, step) for run in args.runs for step in args.steps]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(scan, [r for r, _ in jobs], [s for _, s in jobs], [args.betas] * len(jobs),
                             [args.count] * len(jobs)))
    print("| run | step | " + " | ".join(f"β = {b:g}" for b in args.betas) + " | three families |")
    print("|---|---|" + "---|" * len(args.betas) + "---|")
    for row in rows:
        cells = []
        for c in row["cells"]:
            top = Counter(c["labels"]).most_common(2)
            text = ", ".join(f"{SHORT.get(k, k)} {v}" for k, v in top)
            cells.append((f"**{text}**" if family(c) else text) + f"; {c['rel']:.3f}")
        mark = "yes" if three_families(row["cells"]) else ""
        print(f"| {row['run']} | {row['step']} | " + " | ".join(cells) + f" | {mark} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
