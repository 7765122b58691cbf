"""Issue 37's concentration criterion over the seeds of study folders: per (arm, task), how many seeds reach, at some
beta, a median draw with relative error <= 0.02 and at most the task's minimal neuron count + 2 neurons, counted two
ways (effective: the fewest neurons a refit needs for 95% of the output's variance; carrying: the fewest of the
network's own neurons that carry it; measure.counts_of), with 95% Clopper-Pearson intervals, and the per-seed cells.

    python scripts/concentration_table.py runs/e68 runs/e69 [--tolerance 0.02] [--slack 2]

A training named ARM_TASK (e.g. gate_abs_sum) is arm ARM on task TASK (a built-in of MINIMAL).
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from hyperinterp.report.stats import fraction_text

# the fewest hidden neurons known to compute each task at n = 16 (docs/experiments/E66.md); None: no small network
# known (the criterion does not apply; the seeds' cells are still listed)
MINIMAL: dict[str, int | None] = {"abs_sum": 2, "relu_sum": 16, "sum_squares": 16, "l1": 17, "linf": None,
                                  "count_positive": None}


def split(mode: str) -> tuple[str, str]:
    for task in sorted(MINIMAL, key=len, reverse=True):
        if mode.endswith("_" + task):
            return mode[: -len(task) - 1], task
    raise SystemExit(f"training {mode!r} does not end with a task of known minimal count ({', '.join(MINIMAL)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--slack", type=int, default=2)
    args = ap.parse_args()
    seeds: dict[tuple[str, str], dict[int, list[dict]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for folder in args.folders:
        files = sorted((folder / "cells").glob("*.json"))
        if not files:
            raise SystemExit(f"{folder}: no cells/*.json (not a finished study folder)")
        for f in files:
            for cell in json.loads(f.read_text()):
                if cell.get("kind") == "sweep":
                    seeds[split(cell["mode"])][cell["seed"]].append(cell)
    print("| arm | task (minimal) | seeds | effective <= min+2 | carrying <= min+2 | per seed: best beta, rel, "
          "effective / carrying / active |")
    print("|---|---|---|---|---|---|")
    for (arm, task), by_seed in sorted(seeds.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        limit = MINIMAL[task] + args.slack if MINIMAL[task] is not None else -1
        hits = {"effective": 0, "carrying": 0}
        words = []
        for seed, cells in sorted(by_seed.items()):
            ok = [c for c in cells if c["rel_mse_median"] <= args.tolerance]
            for kind in hits:
                hits[kind] += any(c[f"{kind}_median"] <= limit for c in ok)
            # the seed's most concentrated accurate cell (fewest carrying neurons), else its most accurate cell
            best = min(ok, key=lambda c: (c["carrying_median"], c["effective_median"])) if ok else \
                min(cells, key=lambda c: c["rel_mse_median"])
            words.append(f"s{seed}: {best['beta']:g}, {best['rel_mse_median']:.2g}, {best['effective_median']:g} / "
                         f"{best['carrying_median']:g} / {best['active_median']:g}"
                         + (f" {best['mechanism']}" if best.get("mechanism") else ""))
        n = len(by_seed)
        cols = [fraction_text(k, n) if MINIMAL[task] is not None else "n/a" for k in hits.values()]
        minimal = MINIMAL[task] or "none known"
        print(f"| {arm} | {task} ({minimal}) | {n} | {cols[0]} | {cols[1]} | {'; '.join(words)} |")


if __name__ == "__main__":
    main()
