"""What the report says, computed from a sweep's saved artefacts: per-seed labels first, pooled
fractions with their intervals, summary sentences from stated rules, and the examples' choice.

Every rule the report applies is written in `RULES` and printed on the page, so a reader can check
each sentence against the per-seed grid it comes from.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from ..experiments.sweep import beta_name
from ..generate import checkpoint, netfile
from ..read import readout
from ..read.classify import ALGORITHMS, LABELS

SHORT = {"double_sided": "ds", "pudding_pos": "pud+", "pudding_neg": "pud−", "convexity": "conv", "constant": "const",
         "other": "other"}
# Expected order along beta (DESIGN §3): the costliest algorithm where bits are cheapest.
EXPECTED_ORDER = ("double_sided", "pudding", "convexity")
Z95 = NormalDist().inv_cdf(0.975)

RULES = {
    "seed": "A seed's label at a β is the majority label of its K draws (ties go to the first of "
            + ", ".join(LABELS) + ", and are marked 'tie' in the grid), shown with its count out of K.",
    "span": "Per mode and seed, consecutive grid β with the same label are merged into one span, given "
            "with the smallest and largest count in it.",
    "agree": "A sentence about a whole mode is made only for the β where every seed of that mode has the "
             "same label; elsewhere the seeds are listed as disagreeing, each with its label.",
    "order": "A seed's order along β lists its algorithm families (pudding_pos and pudding_neg are one "
             "family, `constant` and `other` are left out) by the lowest β where each is the label; it matches the "
             "complexity ranking (DESIGN §3) when it follows double_sided < pudding < convexity.",
    "pooled": "Pooled over seeds, a label's fraction is the mean of the seeds' fractions, with a 95% Wilson "
              "interval computed on the effective number of draws N_eff = p(1−p)/Var(p̄), Var(p̄) being the "
              "between-seed variance of the fractions over the number of seeds (N_eff ≤ seeds × K): seeds "
              "that disagree widen it (two seeds at 0% and 100% give N_eff = 1). With one seed it is the "
              "binomial interval of its K draws, which says nothing about other seeds.",
    "example": "For each mode and each label other than `other` found among its final cells: the cell where that "
               "label has the most draws (ties: lowest β, then lowest seed), and in it the draw of that label "
               "whose relative error is nearest the median relative error of that label's draws in the cell "
               "(ties: lowest index).",
}


def family(label: str) -> str:
    return "pudding" if label.startswith("pudding") else label


# ---------------------------------------------------------------- pooling with honest intervals

def wilson(p: float, n: float) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion p observed over n (possibly effective) trials."""
    den = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / den
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n ** 2)) / den
    # the interval holds p; at p = 0 or 1 rounding can leave an end a hair inside it (1 - 1e-16 at p = 1)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95% interval of k successes in n trials (seeds meeting a criterion): scipy's binomtest."""
    from scipy.stats import binomtest  # only the scripts' tables need it

    ci = binomtest(k, n).proportion_ci(method="exact")
    return float(ci.low), float(ci.high)


def fraction_text(k: int, n: int) -> str:
    """'k/n [low, high]' with the Clopper-Pearson interval, as the notebook and the README print seed counts."""
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


def pooled(fracs: list[float], count: int) -> tuple[float, float, float, float]:
    """Mean of the seeds' fractions, its 95% interval and the effective number of draws (`RULES['pooled']`)."""
    f = np.asarray(fracs, float)
    p = float(f.mean())
    n_all = float(count * len(f))
    n_eff = n_all
    if len(f) > 1 and 0 < p < 1:
        var_mean = float(f.var(ddof=1)) / len(f)
        if var_mean > 0:
            n_eff = float(np.clip(p * (1 - p) / var_mean, 1.0, n_all))
    lo, hi = wilson(p, n_eff)
    return p, lo, hi, n_eff


def aggregate(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per group of `keys`: the number of seeds, each label's pooled fraction with its 95% interval
    (frac_<label>, frac_<label>_lo/_hi; None for a task without named labels), the pooled majority, how many seeds
    have each majority mechanism, and median figures over seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(v) if v is None else v for v in kv[0])):
        agg = dict(zip(keys, key, strict=True))
        agg["seeds"] = len(rs)
        agg["count"] = int(rs[0]["count"])
        named = all(r.get("majority") is not None for r in rs)  # a task without named labels: no label shares
        for lab in LABELS:
            p, lo, hi, _ = pooled([r[f"frac_{lab}"] for r in rs], agg["count"]) if named else (None,) * 4
            agg[f"frac_{lab}"], agg[f"frac_{lab}_lo"], agg[f"frac_{lab}_hi"] = p, lo, hi
        agg["majority"] = max(LABELS, key=lambda lab: agg[f"frac_{lab}"]) if named else None
        mechanisms = Counter(r.get("mechanism") for r in rs if r.get("mechanism"))
        agg["mechanisms"] = ", ".join(f"{m} ×{k}" for m, k in mechanisms.most_common())  # seeds per majority
        for f in ("rel_mse_median", "rel_mse_mean_weights_median", "bits_median", "active_median", "effective_median",
                  "carrying_median", "loss_median", "mse_median"):
            vals = [r[f] for r in rs if r.get(f) is not None and np.isfinite(r[f])]
            agg[f] = float(np.median(vals)) if vals else float("nan")
        out.append(agg)
    return out


# ---------------------------------------------------------------- per-seed truth and its sentences

def seed_grid(sweep_rows: list[dict[str, Any]]) -> dict[str, dict[int, dict[float, dict[str, Any]]]]:
    """mode -> seed -> beta -> the final cell's row."""
    grid: dict[str, dict[int, dict[float, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in sweep_rows:
        grid[r["mode"]][r["seed"]][r["beta"]] = r
    return {m: dict(s) for m, s in grid.items()}


def majority_count(row: dict[str, Any]) -> int:
    return round(row[f"frac_{row['majority']}"] * row["count"])


def verdict(row: dict[str, Any]) -> str:
    """A cell's majority: its named label where the task has them, else its majority mechanism by direction."""
    return row["majority"] if row.get("majority") is not None else (row.get("mechanism") or "other")


def verdict_share(row: dict[str, Any]) -> float:
    return row[f"frac_{row['majority']}"] if row.get("majority") is not None else (row.get("frac_mechanism") or 0.0)


def verdict_count(row: dict[str, Any]) -> int:
    """How many of the cell's draws carry its verdict (`majority_count` for a task with named labels)."""
    return round(verdict_share(row) * row["count"])


def is_tie(row: dict[str, Any]) -> bool:
    """Another label has as many draws as the majority (which the tie rule then picked)."""
    return sum(row[f"frac_{lab}"] == row[f"frac_{row['majority']}"] for lab in LABELS) > 1


def spans(cells: dict[float, dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive betas with the same majority label merged (`RULES['span']`)."""
    out: list[dict[str, Any]] = []
    for beta in sorted(cells):
        row = cells[beta]
        if out and out[-1]["label"] == row["majority"]:
            out[-1]["betas"].append(beta)
            out[-1]["counts"].append(majority_count(row))
        else:
            out.append({"label": row["majority"], "betas": [beta], "counts": [majority_count(row)],
                        "count": row["count"]})
    return out


def _beta_range(betas: list[float]) -> str:
    return beta_name(betas[0]) if len(betas) == 1 else f"{beta_name(betas[0])}–{beta_name(betas[-1])}"


def _span_text(s: dict[str, Any]) -> str:
    lo, hi = min(s["counts"]), max(s["counts"])
    counts = f"{lo}/{s['count']}" if lo == hi else f"{lo}–{hi}/{s['count']}"
    return f"{s['label']} at β {_beta_range(s['betas'])} ({counts})"


def order_of(cells: dict[float, dict[str, Any]]) -> dict[str, Any]:
    """The families of one seed by the lowest beta where each is the label (`RULES['order']`)."""
    first: dict[str, float] = {}
    for beta in sorted(cells):
        fam = family(cells[beta]["majority"])
        if cells[beta]["majority"] in ALGORITHMS:
            first.setdefault(fam, beta)
    order = sorted(first, key=first.__getitem__)
    expected = [f for f in EXPECTED_ORDER if f in first]
    return {"order": order, "matches_expected": order == expected}


def seed_sentences(mode: str, seeds: dict[int, dict[float, dict[str, Any]]]) -> list[str]:
    """One sentence per seed (its spans and order), then what the seeds agree on (`RULES`)."""
    out = []
    for seed in sorted(seeds):
        o = order_of(seeds[seed])
        text = f"{mode}, seed {seed}: " + "; ".join(_span_text(s) for s in spans(seeds[seed])) + "."
        if len(o["order"]) > 1:
            text += (f" Order along β: {' < '.join(o['order'])} ("
                     + ("matches" if o["matches_expected"] else "differs from") + " the complexity ranking).")
        out.append(text)
    if len(seeds) > 1:
        out.append(agreement_sentence(mode, seeds))
    return out


def agreement_sentence(mode: str, seeds: dict[int, dict[float, dict[str, Any]]]) -> str:
    """Where every seed of a mode has the same label, and where they disagree (`RULES['agree']`)."""
    betas = sorted(set.intersection(*(set(cells) for cells in seeds.values())))
    runs: list[tuple[tuple[str, ...], list[float]]] = []  # consecutive betas with the same labels per seed
    for beta in betas:
        labels = tuple(seeds[s][beta]["majority"] for s in sorted(seeds))
        if runs and runs[-1][0] == labels:
            runs[-1][1].append(beta)
        else:
            runs.append((labels, [beta]))
    agree = [f"{labels[0]} at β {_beta_range(bs)}" for labels, bs in runs if len(set(labels)) == 1]
    disagree = [f"β {_beta_range(bs)} (" + ", ".join(f"seed {s} {lab}" for s, lab in zip(sorted(seeds), labels,
                                                                                           strict=True)) + ")"
                for labels, bs in runs if len(set(labels)) > 1]
    text = f"{mode}, all {len(seeds)} seeds: "
    text += ("the same label: " + "; ".join(agree) if agree else "no β where every seed has the same label")
    if disagree:
        text += "; they disagree at " + "; ".join(disagree)
    return text + "."


# ---------------------------------------------------------------- per-network facts

def composition(cells) -> list[dict[str, Any]]:
    """Per (mode, seed, beta): the share of inputs served by a +/- pair (double-sided mechanism), by one
    side only (pudding mechanism) or by nothing, over the cell's draws. Hybrids show up here."""
    rows = []
    for cell in cells:
        comps = [res["composition"] for res in cell.results]
        total = sum(c["pair"] + c["pos_only"] + c["neg_only"] + c["none"] for c in comps)
        rows.append({"mode": cell.mode, "seed": cell.seed, "beta": cell.beta, "networks": len(comps),
                     **{f"{key}_share": sum(c[key] for c in comps) / total
                        for key in ("pair", "pos_only", "neg_only", "none")}})
    return rows


def nearest_median(cell, label: str) -> int:
    """The draw of `label` in `cell` whose relative error is nearest the median of that label's draws."""
    ks = [k for k, res in enumerate(cell.results) if res["label"] == label]
    errs = np.asarray(cell.arrays["rel_mse"], float)[ks]
    med = float(np.median(errs))
    return ks[int(np.argmin(np.abs(errs - med)))]  # argmin: the lowest index among ties


def choose_examples(cells) -> list[tuple[Any, str, int]]:
    """(cell, label, draw index) per (mode, label) found, by `RULES['example']`."""
    best: dict[tuple[str, str], tuple[tuple, Any]] = {}
    for cell in cells:
        labels = [res["label"] for res in cell.results]
        for lab in set(labels) & set(ALGORITHMS):
            key = (-labels.count(lab), cell.beta, cell.seed)  # most draws, then lowest beta, then seed
            if (cell.mode, lab) not in best or key < best[(cell.mode, lab)][0]:
                best[(cell.mode, lab)] = (key, cell)
    modes = list(dict.fromkeys(c.mode for c in cells))
    ordered = sorted(best, key=lambda ml: (modes.index(ml[0]), LABELS.index(ml[1])))
    return [(best[ml][1], ml[1], nearest_median(best[ml][1], ml[1])) for ml in ordered]


# ---------------------------------------------------------------- the saved networks

@dataclass
class Cell:
    """One final (mode, seed, beta) cell: its saved networks and their classifications."""

    mode: str
    seed: int
    beta: float
    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    results: list[dict[str, Any]]

    @property
    def job(self) -> str:
        return self.path.parent.name

    @property
    def page(self) -> str:
        """The cell page's file name (no '+': it is also a URL)."""
        return f"{self.job}_beta{beta_name(self.beta)}".replace("+", "") + ".html"


def cell_files(sweep_dir: Path) -> list[Path]:
    return sorted((sweep_dir / "networks").glob("*/beta_*.npz"))


def load_cell(path: Path, betas: tuple[float, ...], results: list[dict[str, Any]] | None = None) -> Cell:
    """One saved final cell, classified (unless `results` are given or saved beside it by the sweep). A
    file stores beta in float32: it is snapped to the sweep's grid value, so it matches the table's."""
    arrays, meta = netfile.load(path)
    mode = meta.get("mode", path.parent.name.split("_seed")[0])
    beta = float(arrays["beta"][0])
    beta = next((b for b in betas if np.isclose(b, beta, rtol=1e-6, atol=0)), beta)
    if results is None:  # the sweep's own labels when they are for this file and this classifier
        results = readout.labels(path, arrays, meta)
    return Cell(mode, int(meta["seed"]), beta, path, arrays, meta, results)


def run_facts(sweep_dir: Path, cells: list[Cell]) -> dict[str, dict[str, Any]]:
    """Per mode, what its networks came from, read from the saved artefacts: optimisation steps,
    the input sizes and width it was trained on, and the run it was continued from (if any)."""
    facts: dict[str, dict[str, Any]] = {}
    for cell in cells:
        f = facts.setdefault(cell.mode, {"steps": set(), "seeds": set(), "train_sizes": set(), "m_per_n": set(),
                                         "continued_from": set()})
        f["seeds"].add(cell.seed)
        if "checkpoint" not in cell.meta:  # a direct baseline: its own optimisation
            f["steps"].add(int(cell.meta.get("steps", 0)))
            continue
        step = int(cell.meta["checkpoint_step"])
        f["steps"].add(step)
        meta_file = checkpoint.step_path(sweep_dir / cell.meta["checkpoint"], step) / "meta.json"
        if meta_file.is_file():
            cfg = json.loads(meta_file.read_text())["config"]
            task = cfg["task"]
            f["train_sizes"].update(int(n) for n in (task["train_sizes"] or [task["n"]]))
            f["m_per_n"].add(task["m_per_n"] or task["m"] / task["n"])
            if cfg["optim"].get("init_from"):
                f["continued_from"].add(cfg["optim"]["init_from"])
    return {mode: {k: sorted(v) for k, v in f.items()} for mode, f in facts.items()}
