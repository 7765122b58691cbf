"""Issue 37's goal 4 over the seeds of a study folder: at the lowest generalization beta, per (training, seed), the
median relative error and the majority (L1's label, or the majority mechanism for a task without labels) at every
size, and whether each size the training never saw meets the criterion: rel <= max(2 x rel at the reference size,
0.01) and the same majority as at the reference size. Per size, how many seeds meet it, with a 95% Clopper-Pearson
interval, and how many of the seeds whose majority at the reference size is a named algorithm do (a seed on `other`
at both sizes meets the criterion without showing that the algorithm is kept).

    python scripts/generalization_table.py runs/e78 [--reference 16] [--beta 1e-6]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from hyperinterp.report.stats import clopper_pearson, fraction_text, verdict, verdict_count

UNNAMED = {"other", "constant"}


def majority(row: dict) -> str:
    return f"{verdict(row)} {verdict_count(row)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", help="a study folder with generalization cells (table.json)")
    ap.add_argument("--reference", type=int, default=16, help="the trained size the others are held against")
    ap.add_argument("--beta", type=float, default=None, help="the beta (default: the lowest generalization beta)")
    args = ap.parse_args()
    folder = Path(args.study)
    rows = [r for r in json.loads((folder / "table.json").read_text()) if r["kind"] == "generalization"]
    if not rows:
        raise SystemExit(f"{folder}: no generalization cells in table.json")
    beta = args.beta if args.beta is not None else min(r["beta"] for r in rows)
    rows = [r for r in rows if abs(r["beta"] - beta) <= 1e-12 * max(beta, 1e-30)]
    trained = {}
    for mode in {r["mode"] for r in rows}:
        seed = min(r["seed"] for r in rows if r["mode"] == mode)
        cfg = json.loads((folder / "train" / mode / f"seed_{seed}" / "config.json").read_text())
        trained[mode] = set(cfg["task"]["train_sizes"] or [cfg["task"]["n"]])
    cells: dict[tuple[str, int], dict[int, dict]] = defaultdict(dict)
    for r in rows:
        cells[(r["mode"], r["seed"])][r["n"]] = r
    met: dict[tuple[str, int], list[bool]] = defaultdict(list)
    met_named: dict[tuple[str, int], list[bool]] = defaultdict(list)
    print(f"beta {beta:g}; reference n = {args.reference}; criterion: rel <= max(2 x rel at n = {args.reference}, "
          "0.01) and the same majority")
    for (mode, seed), by_n in sorted(cells.items()):
        ref = by_n.get(args.reference)
        if ref is None:
            raise SystemExit(f"{mode} seed {seed}: no cell at the reference n = {args.reference}")
        bound = max(2 * ref["rel_mse_median"], 0.01)
        parts = []
        for n in sorted(by_n):
            r = by_n[n]
            seen = n in trained[mode]
            ok = r["rel_mse_median"] <= bound and verdict(r) == verdict(ref)
            if not seen and n != args.reference:  # the reference itself meets it trivially
                met[(mode, n)].append(ok)
                if verdict(ref) not in UNNAMED:
                    met_named[(mode, n)].append(ok)
            verdict_word = "" if seen or n == args.reference else (" ok" if ok else " no")
            parts.append(f"n={n}{'' if seen else '*'} {r['rel_mse_median']:.3g} {majority(r)}{verdict_word}")
        print(f"{mode} seed {seed}: " + " | ".join(parts))
    print("(* a size the training never saw)")
    for (mode, n), oks in sorted(met.items()):
        lo, hi = clopper_pearson(sum(oks), len(oks))
        named = met_named.get((mode, n), [])
        of_named = fraction_text(sum(named), len(named)) if named else "none"
        print(f"{mode} n = {n}: {sum(oks)}/{len(oks)} seeds meet it [{lo:.2f}, {hi:.2f}]; of the seeds on a named "
              f"algorithm at n = {args.reference}: {of_named}")


if __name__ == "__main__":
    main()
