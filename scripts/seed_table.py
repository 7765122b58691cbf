"""One row per seed from trained run folders (shipped or not): the labels of 16 draws at each β, the ± pair
coverage (median over draws), the error, the effective and active neurons (medians), and the fractions over seeds with
95% Clopper–Pearson intervals.

    python scripts/seed_table.py shipped/experiments/sign_by_beta/seed_* [--betas ...] [--workers 2] [--json F]

The README's per-seed tables of issue 13 come from this (E19's plateau columns used the first single log at or
under each threshold; from E20 on, the median of five consecutive logs). It reads only the saved checkpoints
(draws seeded 0, as `hyperinterp sample` draws them). A label is a seed's majority at a β when it holds more
than half the draws.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hyperinterp.experiments.sweep import beta_name
from hyperinterp.generate import sample
from hyperinterp.read import classify
from hyperinterp.report.stats import SHORT, fraction_text

THRESHOLDS = (0.3, 0.03, 0.01)  # low-β relative errors whose first step is reported


def survey(run: str, betas: list[float], count: int) -> dict:
    model, cfg, meta = sample.load_model(run)
    n, m = cfg.task.n, cfg.task.m
    cells = []
    for beta in betas:
        arrays, out_meta = sample.sample(model, cfg, beta, n, m, count, 0)
        results = classify.classify_arrays(arrays, out_meta)
        cells.append({"beta": beta, "labels": dict(Counter(r["label"] for r in results).most_common()),
                      "pairs": statistics.median(r["composition"]["pair"] / n for r in results),
                      "rel": statistics.median(float(x) for x in arrays["rel_mse"]),
                      "effective": statistics.median(r["n_effective"] for r in results),
                      "carrying": statistics.median(r["n_carrying"] for r in results),
                      "active": statistics.median(r["n_active"] for r in results),
                      "bits": statistics.median(float(x) for x in arrays["bits"])})
    metrics = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]

    errors = [r["rel_mse_low_beta"] for r in metrics]

    def leaves(threshold: float) -> int | None:
        """The first logged step from which the median of five logged low-β errors (it and the next four) is at
        most threshold: one log is 4 networks on 256 inputs, too noisy to be crossed once by chance."""
        return next((r["step"] for i, r in enumerate(metrics)
                     if statistics.median(errors[i:i + 5]) <= threshold), None)

    return {"run": run, "seed": meta["seed"], "step": meta["step"], "count": count, "cells": cells,
            "plateau_exit": [leaves(t) for t in THRESHOLDS]}


def majority(cell: dict, label: str) -> bool:
    return cell["labels"].get(label, 0) * 2 > sum(cell["labels"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--betas", type=float, nargs="+", default=[1e-6, 1e-5, 1e-4, 3e-4, 1e-3])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(survey, args.runs, [args.betas] * len(args.runs), [args.count] * len(args.runs)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    exits = "first step at rel " + " / ".join(f"≤ {t}" for t in THRESHOLDS) + " (low β)"
    print("| seed | " + " | ".join(f"β = {beta_name(b)}" for b in args.betas) + f" | {exits} |")
    print("|---" * (len(args.betas) + 2) + "|")
    for r in rows:
        cells = []
        for c in r["cells"]:
            text = (", ".join(f"{SHORT.get(k, k)} {v}" for k, v in c["labels"].items())
                    + f"; {c['pairs']:.2f}; {c['rel']:.3f}; {c['effective']:g}/{c['carrying']:g}/{c['active']:g}")
            cells.append(f"**{text}**" if majority(c, "double_sided") else text)
        exits = " / ".join(f"{s:,}" if s is not None else "never" for s in r["plateau_exit"])
        print(f"| {r['seed']} | " + " | ".join(cells) + f" | {exits} |")
    total, low = len(rows), [r["cells"][0] for r in rows]
    ds_low = [r["seed"] for r, c in zip(rows, low, strict=True) if majority(c, "double_sided")]
    ds_low97 = [r["seed"] for r, c in zip(rows, low, strict=True) if majority(c, "double_sided") and c["pairs"] >= 0.97]
    ds_any = [r["seed"] for r in rows if any(majority(c, "double_sided") for c in r["cells"])]
    pudding = [r["seed"] for r in rows if any(majority(c, "pudding_pos") or majority(c, "pudding_neg")
                                              for c in r["cells"])]
    convexity = [r["seed"] for r in rows if any(majority(c, "convexity") for c in r["cells"])]
    print(f"\nover {total} seeds (cells: labels of {rows[0]['count']} draws; median ± pair coverage; median rel; "
          "median effective / carrying / active neurons):")
    print(f"- double-sided the majority at β = {beta_name(args.betas[0])}: {fraction_text(len(ds_low), total)}, "
          f"seeds {ds_low}; "
          f"with ± pairs on ≥ 0.97 of the inputs: {fraction_text(len(ds_low97), total)}, seeds {ds_low97}")
    print(f"- double-sided the majority at some β: {fraction_text(len(ds_any), total)}, seeds {ds_any}")
    print(f"- pudding (either form) the majority at some β: {fraction_text(len(pudding), total)}, seeds {pudding}")
    print(f"- convexity the majority at some β: {fraction_text(len(convexity), total)}")
    for i, threshold in enumerate(THRESHOLDS):
        steps = [r["plateau_exit"][i] for r in rows]
        reached = sorted(s for s in steps if s is not None)
        spread = f"median {statistics.median(reached):,.0f} ({reached[0]:,}–{reached[-1]:,})" if reached else "none"
        print(f"- steps to low-β rel ≤ {threshold}: {len(reached)}/{total} seeds reach it, {spread}")
    rel = sorted(c["rel"] for c in low)
    pairs = sorted(c["pairs"] for c in low)
    print(f"- at β = {beta_name(args.betas[0])}: rel median {statistics.median(rel):.4f} ({rel[0]:.4f}–{rel[-1]:.4f}); "
          f"± pair coverage median {statistics.median(pairs):.2f} ({pairs[0]:.2f}–{pairs[-1]:.2f})")


if __name__ == "__main__":
    main()
