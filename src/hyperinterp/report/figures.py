"""The report's figures, each returned with its caption and the data series it plotted.

Conventions (for every figure): a label always has the same colour (`COLORS`), a mode always has
the same colour where colour means mode (`MODE_COLORS`); legends sit outside the axes; no font is
under 9 pt; NaN values are left out before plotting, and the series that were drawn are returned
(`Figure.series`) so the page can carry them and a test can check none is empty or NaN.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..experiments.sweep import beta_name  # noqa: E402
from ..generate import netfile  # noqa: E402
from ..read.classify import LABELS  # noqa: E402
from .stats import verdict, verdict_count, verdict_share  # noqa: E402

COLORS = {"double_sided": "#1b9e77", "pudding_pos": "#d95f02", "pudding_neg": "#e7298a",
          "convexity": "#7570b3", "constant": "#e0d6b8",
          "other": "#bbbbbb"}
# multi_n and wide: once sweep modes, now the trainings of configs/studies/multi_n.toml (and plain.toml); their
# colours, words and markers stay, for those and for sweep folders saved before
MODE_COLORS = {"range": "#1f77b4", "per_beta": "#8c564b", "multi_n": "#17becf", "wide": "#d62728",
               "direct": "#ff7f0e", "adam": "#555555"}
MODE_NAMES = {"range": "hypernetwork, one model over the beta range", "per_beta": "hypernetwork, one model per beta",
              "multi_n": "hypernetwork trained over several n", "wide": "the multi-n hypernetwork continued wider",
              "direct": "direct: log MSE + beta*bits on the weights", "adam": "direct: plain Adam, no budget"}
EXTRA_COLORS = ("#9467bd", "#e377c2", "#bcbd22", "#2ca02c", "#7f7f7f", "#aec7e8")  # named trainings of a study
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "legend.fontsize": 9, "figure.titlesize": 11}
CLIP = 100.0  # generalization errors above this are drawn at the top edge as a triangle
BETA_STYLES = ("-", "--", ":", "-.")


def ordered_modes(modes: Iterable[str]) -> list[str]:
    """The built-in modes in their usual order, then a study's named trainings in the order given."""
    seen = list(dict.fromkeys(modes))
    return [m for m in MODE_NAMES if m in seen] + [m for m in seen if m not in MODE_NAMES]


def mode_color(mode: str) -> str:
    """A mode's colour; a named training gets a fixed one from its name (the same in every figure)."""
    return MODE_COLORS.get(mode) or EXTRA_COLORS[zlib.crc32(mode.encode()) % len(EXTRA_COLORS)]


@dataclass
class Figure:
    file: str
    caption: str
    series: dict[str, list[float]] = field(default_factory=dict)


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    netfile.atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    return path.name


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and np.isfinite(v)]


def _beta_ticks(ax, betas: list[float], axis: str = "x") -> None:
    labels = [beta_name(b) for b in betas]
    if axis == "x":
        ax.set_xticks(range(len(betas)), labels, rotation=45, ha="right")
    else:
        ax.set_yticks(range(len(betas)), labels)


def _label_legend(fig, labels: Iterable[str] = LABELS, extra: list | None = None, below: bool = True,
                  colours: dict[str, str] = COLORS, ncol: int = 4):
    """The label colours (and `extra` entries) outside the axes: below the panels, or to the right."""
    handles = [Patch(color=colours[lab], label=lab) for lab in labels] + (extra or [])
    if below:
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False)
    else:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def _grid(k: int, cols: int, w: float, h: float):
    cols = max(1, min(cols, k))
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[k:]:
        ax.set_axis_off()
    return fig, list(axes.flat[:k])


def _cell_colour(label: str, frac: float, colours: dict[str, str] = COLORS) -> np.ndarray:
    """The label's colour, paler when the majority is smaller (a bare majority is 25% opaque)."""
    return 1 - (1 - np.array(to_rgb(colours[label]))) * (0.25 + 0.75 * frac)


# A task without named labels (any task but L1) is read by direction: its cells' majority mechanism (e.g. `all:abs`)
# takes the place of the label, with colours of its own given in the order the mechanisms sort.
MECHANISM_COLORS = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#1f78b4",
                    "#b2df8a", "#fb9a99")


def verdict_colours(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """A colour for every verdict among `rows`: a label keeps its own; mechanisms share the palette in sorted order."""
    names = {verdict(r) for r in rows}
    mechanisms = sorted(names - set(COLORS))
    return {**{k: COLORS[k] for k in names & set(COLORS)},
            **{m: MECHANISM_COLORS[i % len(MECHANISM_COLORS)] for i, m in enumerate(mechanisms)}}


def verdict_order(colours: dict[str, str]) -> list[str]:
    """The verdicts of `verdict_colours` for a legend: labels in their usual order, then mechanisms."""
    return [*(lab for lab in COLORS if lab in colours), *sorted(set(colours) - set(COLORS))]


def _count_text(ax, x: float, y: float, count: int, rgb: np.ndarray) -> None:
    dark = float(np.dot(rgb, [0.299, 0.587, 0.114])) < 0.5
    ax.text(x, y, str(count), ha="center", va="center", fontsize=9, color="white" if dark else "black")


# ---------------------------------------------------------------- per-seed phase portraits

def fig_phase_portraits(rows: list[dict[str, Any]], out: Path) -> Figure | None:
    """Per (mode, seed) with checkpoints along training: range mode, and a study's trainings with phases."""
    modes = ordered_modes(r["mode"] for r in rows if r["kind"] == "phase")
    # a run kept with its final checkpoint only (a shipped seed beside the ones with a history) has no portrait
    along = {(r["mode"], r["seed"]) for r in rows if r["kind"] == "phase"}
    phase = [r for r in rows if (r["mode"], r["seed"]) in along and r["kind"] in ("phase", "sweep")]
    if not phase:
        return None
    panels = sorted({(r["mode"], r["seed"]) for r in phase}, key=lambda p: (modes.index(p[0]), p[1]))
    colours = verdict_colours(phase)
    fig, axes = _grid(len(panels), 2, 5.3, 3.9)
    series = {}
    for ax, (mode, seed) in zip(axes, panels, strict=True):
        rs = [r for r in phase if (r["mode"], r["seed"]) == (mode, seed)]
        betas, steps = sorted({r["beta"] for r in rs}), sorted({r["step"] for r in rs})
        img = np.ones((len(steps), len(betas), 3))
        counts = []
        for r in rs:
            x, y = betas.index(r["beta"]), steps.index(r["step"])
            img[y, x] = _cell_colour(verdict(r), verdict_share(r), colours)
            counts.append(verdict_count(r))
            _count_text(ax, x, y, counts[-1], img[y, x])
        ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest")
        _beta_ticks(ax, betas)
        ax.set_yticks(range(len(steps)), [f"{s:,}" for s in steps])
        ax.set_xlabel("beta (price per bit)")
        ax.set_ylabel("training step")
        ax.set_title(f"{mode}, seed {seed}")
        series[f"{mode} seed {seed}: majority count"] = counts
    _label_legend(fig, verdict_order(colours), colours=colours)
    K = phase[0]["count"]
    caption = (f"Phases over training, per seed: {', '.join(modes)} only (the runs evaluated at checkpoints along "
               f"training; one beta-conditioned hypernetwork per seed, n = {phase[0]['n']}, m = {phase[0]['m']}; "
               f"{len(panels)} run(s), K = {K} draws per cell). Each cell: the run's majority label (for a task "
               f"without named labels, its majority mechanism by direction) at that checkpoint and beta (colour; "
               f"paler when the majority is smaller) and how many of the {K} draws carry it. Seeds are not pooled: a "
               f"cell that differs between panels is a difference between seeds, not a phase change.")
    return Figure(_save(fig, out / "phase_portraits.png"), caption, series)


# ---------------------------------------------------------------- pooled fractions with intervals

def fig_fractions(agg_sweep: list[dict[str, Any]], sweep_rows: list[dict[str, Any]], out: Path) -> Figure | None:
    modes = [m for m in ordered_modes(a["mode"] for a in agg_sweep) if m != "adam"]
    if not modes:
        return None
    fig, axes = _grid(len(modes), 2, 5.3, 3.2)
    series = {}
    for ax, mode in zip(axes, modes, strict=True):
        rows = [a for a in agg_sweep if a["mode"] == mode]
        betas = [a["beta"] for a in rows]
        present = [lab for lab in LABELS if any(a[f"frac_{lab}"] > 0 for a in rows)]
        width = 0.8 / max(len(present), 1)
        for i, lab in enumerate(present):
            xs = np.arange(len(rows)) + (i - (len(present) - 1) / 2) * width
            shown = [j for j, a in enumerate(rows) if a[f"frac_{lab}"] > 0]  # absent labels: not drawn there
            p = np.array([rows[j][f"frac_{lab}"] for j in shown])
            lo = np.array([rows[j][f"frac_{lab}_lo"] for j in shown])
            hi = np.array([rows[j][f"frac_{lab}_hi"] for j in shown])
            ax.errorbar(xs[shown], p, yerr=[p - lo, hi - p], fmt="o", color=COLORS[lab], ms=5, capsize=2, lw=1)
            series[f"{mode} {lab}: pooled fraction"] = [float(v) for v in p]
            for r in sweep_rows:  # every seed's own fraction, hollow, where the label occurs in the pool
                j = betas.index(r["beta"]) if r["mode"] == mode else -1
                if j in shown:
                    ax.plot(xs[j], r[f"frac_{lab}"], "o", mfc="none", color=COLORS[lab], ms=7, mew=0.8, alpha=0.7)
        _beta_ticks(ax, betas)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("share of draws")
        ax.set_title(f"{mode}: {rows[0]['seeds']} seed(s) × {rows[0]['count']} draws")
    extra = [Line2D([], [], marker="o", ls="", color="k", label="pooled over seeds, 95% interval"),
             Line2D([], [], marker="o", ls="", mfc="none", color="k", label="one seed")]
    _label_legend(fig, extra=extra)
    caption = ("Share of draws with each label per beta, pooled over seeds (filled dot: the mean of the seeds' "
               "shares; bar: its 95% interval, widened by disagreement between seeds) beside each seed's own share "
               "(hollow circles). Final cells of every mode except plain Adam (no beta); the number of seeds and "
               "draws per cell is in each panel's title. A label is drawn only at the betas where some draw has it "
               "(with none in N draws, its 95% Wilson upper bound is 3.84/(N + 3.84): 0.19 for N = 16).")
    return Figure(_save(fig, out / "fractions.png"), caption, series)


# ---------------------------------------------------------------- how inputs are served, per seed

COMPOSITION = (("pair_share", COLORS["double_sided"], "± pair (double-sided mechanism)"),
               ("pos_only_share", COLORS["pudding_pos"], "positive side only (pudding+)"),
               ("neg_only_share", COLORS["pudding_neg"], "negative side only (pudding−)"),
               ("none_share", COLORS["other"], "no sparse mechanism"))


def fig_composition(comp: list[dict[str, Any]], out: Path) -> Figure | None:
    panels = list(dict.fromkeys((c["mode"], c["seed"]) for c in comp if c["mode"] != "adam"))
    if not panels:
        return None
    fig, axes = _grid(len(panels), 3, 3.6, 3.0)
    series = {}
    for ax, (mode, seed) in zip(axes, panels, strict=True):
        rows = [c for c in comp if (c["mode"], c["seed"]) == (mode, seed)]
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for key, color, _ in COMPOSITION:
            v = np.array([r[key] for r in rows])
            ax.bar(x, v, bottom=bottom, color=color, width=0.85)
            bottom += v
        series[f"{mode} seed {seed}: pair share"] = [r["pair_share"] for r in rows]
        _beta_ticks(ax, [r["beta"] for r in rows])
        ax.set_ylim(0, 1)
        ax.set_title(f"{mode}, seed {seed}")
        ax.set_ylabel("share of inputs")
    fig.legend(handles=[Patch(color=c, label=name) for _, c, name in COMPOSITION], loc="upper center",
               bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    caption = (f"How each input is served, per mode and seed (final cells; {rows[0]['networks']} draws per cell, "
               "every input of every draw counted once): by a ± pair of one-input kinks, by one side only, or by no "
               "sparse neuron. A pure label needs one mechanism on (nearly) every input; mixtures are hybrids, "
               "labelled `other`. Plain Adam is left out (no beta).")
    return Figure(_save(fig, out / "composition.png"), caption, series)


# ---------------------------------------------------------------- frontier

MARKERS = {"range": "o", "per_beta": "s", "multi_n": "D", "wide": "P", "direct": "^"}


def fig_frontier(sweep_rows: list[dict[str, Any]], out: Path) -> Figure | None:
    pts = [r for r in sweep_rows if r["mode"] != "adam" and len(_finite([r["bits_median"], r["rel_mse_median"]])) == 2]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    series = {}
    colours = verdict_colours(pts)
    markers = {m: MARKERS.get(m, "X") for m in ordered_modes(r["mode"] for r in pts)}  # X: a named training
    for mode, mk in markers.items():
        rs = [r for r in pts if r["mode"] == mode]
        if rs:
            ax.scatter([r["bits_median"] for r in rs], [r["rel_mse_median"] for r in rs], marker=mk, s=36, alpha=0.85,
                       c=[colours[verdict(r)] for r in rs], edgecolors="k", linewidths=0.4)
            series[f"{mode}: median relative MSE"] = [r["rel_mse_median"] for r in rs]
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("log")
    ax.set_xlabel("median bits of the cell's draws")
    ax.set_ylabel("median MSE / Var(y) of the draws")
    extra = [Line2D([], [], marker=mk, ls="", color="k", mfc="w", label=m) for m, mk in markers.items()]
    _label_legend(fig, verdict_order(colours), extra, below=False, colours=colours)
    caption = ("Bits against accuracy: one point per final (mode, seed, beta) cell (median over its draws), colour: "
               "the cell's majority label (for a task without named labels, its majority mechanism by direction), "
               "marker: the mode. Lower left is better. Plain Adam has no bits (deterministic weights) and is left "
               "out.")
    return Figure(_save(fig, out / "frontier.png"), caption, series)


# ---------------------------------------------------------------- concentration, any task

def fig_concentration(sweep_rows: list[dict[str, Any]], out: Path) -> Figure | None:
    """Per mode: how many neurons carry each seed's cells along beta, beside their error; any task."""
    pts = [r for r in sweep_rows if r["mode"] != "adam"
           and len(_finite([r.get("effective_median"), r.get("carrying_median"), r["rel_mse_median"]])) == 3]
    if not pts:
        return None
    modes = ordered_modes(r["mode"] for r in pts)
    colours = verdict_colours(pts)
    fig, axes = _grid(2 * len(modes), 2, 4.6, 3.2)
    series = {}
    for mode, ax, err in zip(modes, axes[0::2], axes[1::2], strict=True):
        rs = [r for r in pts if r["mode"] == mode]
        for seed in sorted({r["seed"] for r in rs}):
            line = sorted((r for r in rs if r["seed"] == seed), key=lambda r: r["beta"])
            betas = [r["beta"] for r in line]
            for key, style in (("effective_median", "-"), ("carrying_median", "--")):
                ax.plot(betas, [r[key] for r in line], style, color="0.55", lw=1, zorder=1)
                series[f"{mode} seed {seed}: {key}"] = [float(r[key]) for r in line]
            err.plot(betas, [r["rel_mse_median"] for r in line], "-", color="0.55", lw=1, zorder=1)
            series[f"{mode} seed {seed}: median relative MSE"] = [float(r["rel_mse_median"]) for r in line]
            for target, key in ((ax, "effective_median"), (ax, "carrying_median"), (err, "rel_mse_median")):
                target.scatter(betas, [r[key] for r in line], c=[colours[verdict(r)] for r in line], s=22,
                               edgecolors="k", linewidths=0.3, zorder=2)
        for a in (ax, err):
            a.set_xscale("log")
            a.set_xlabel("beta (price per bit)")
            a.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("neurons (median of draws)")
        ax.set_title(f"{mode}: neurons, {len({r['seed'] for r in rs})} seed(s)")
        err.set_yscale("log")
        err.set_ylabel("median MSE / Var(y)")
        err.set_title(f"{mode}: error")
    lines = [Line2D([], [], color="0.55", ls="-", label="effective neurons"),
             Line2D([], [], color="0.55", ls="--", label="carrying neurons (95% of the output's variation)")]
    _label_legend(fig, verdict_order(colours), lines, colours=colours, ncol=3)
    caption = ("Concentration along beta, any task: per mode (left) the median over a cell's draws of its effective "
               "neurons (solid; participation ratio of the neurons' output variation) and of its carrying neurons "
               "(dashed; the fewest neurons that carry 95% of that variation), one line per seed, and (right) the "
               "cell's median relative error. Colour: the cell's majority label, or for a task without named labels "
               "its majority mechanism by direction. Seeds are not pooled. Plain Adam is left out.")
    return Figure(_save(fig, out / "concentration.png"), caption, series)


# ---------------------------------------------------------------- generalization

def fig_generalization(gen_rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]], out: Path) -> Figure | None:
    if not gen_rows:
        return None
    sizes = sorted({r["n"] for r in gen_rows})
    betas = sorted({r["beta"] for r in gen_rows})
    lines = sorted({(r["mode"], r["seed"], r["beta"]) for r in gen_rows},
                   key=lambda k: (ordered_modes(r["mode"] for r in gen_rows).index(k[0]), k[1], k[2]))
    fig, (ax, strip) = plt.subplots(2, 1, figsize=(7.5, 4.6 + 0.32 * len(lines)), layout="constrained",
                                    gridspec_kw={"height_ratios": [4.2, 0.32 * len(lines) + 0.3]})
    series = {}
    colours = verdict_colours(gen_rows)
    img = np.ones((len(lines), len(sizes), 3))
    for row, (mode, seed, beta) in enumerate(lines):
        pts = sorted((r for r in gen_rows if (r["mode"], r["seed"], r["beta"]) == (mode, seed, beta)),
                     key=lambda r: r["n"])
        pts = [r for r in pts if np.isfinite(r["rel_mse_median"])]
        x = [sizes.index(r["n"]) for r in pts]
        y = [min(r["rel_mse_median"], CLIP) for r in pts]
        colour = mode_color(mode)
        ax.plot(x, y, BETA_STYLES[betas.index(beta) % 4], color=colour, lw=1.3)
        trained = set(facts.get(mode, {}).get("train_sizes", []))
        for xi, yi, r in zip(x, y, pts, strict=True):
            ax.plot(xi, yi, "^" if r["rel_mse_median"] > CLIP else "o", color=colour, ms=6,
                    mfc=colour if r["n"] in trained else "white")
        series[f"{mode} seed {seed} beta {beta_name(beta)}: median relative MSE"] = y
        for r in pts:
            col = sizes.index(r["n"])
            img[row, col] = _cell_colour(verdict(r), verdict_share(r), colours)
            _count_text(strip, col, row, verdict_count(r), img[row, col])
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylabel("median MSE / Var(y)")
    ax.grid(alpha=0.3)
    strip.imshow(img, aspect="auto", interpolation="nearest")
    strip.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    strip.set_yticks(range(len(lines)), [f"{m} s{s} β {beta_name(b)}" for m, s, b in lines])
    strip.set_xlabel("input size n")
    strip.set_title("majority label (or mechanism) and its count at each n", fontsize=10)
    modes = list(dict.fromkeys(m for m, _, _ in lines))
    handles = [Line2D([], [], color=mode_color(m), lw=2, label=f"{m} (m = {_width(facts, m)})")
               for m in modes]
    handles += [Line2D([], [], color="k", ls=BETA_STYLES[i % 4], label=f"beta {beta_name(b)}")
                for i, b in enumerate(betas)]
    handles += [Line2D([], [], marker="o", ls="", color="k", label="trained size of that mode"),
                Line2D([], [], marker="o", ls="", color="k", mfc="white", label="size it never trained on"),
                Line2D([], [], marker="^", ls="", color="k", mfc="white", label=f"error above {CLIP:g}")]
    handles += [Patch(color=colours[k], label=k) for k in verdict_order(colours)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    trained_text = "; ".join(f"{m}: n = {_sizes_text(facts.get(m, {}).get('train_sizes', []))}" for m in modes)
    K = gen_rows[0]["count"]
    caption = (f"Systematic generalization: networks generated at input sizes n by the final checkpoint of each "
               f"hypernetwork run, {K} draws per point, one line per (mode, seed, beta) — seeds are not pooled. "
               f"Top: median relative error; filled markers are sizes the mode was trained on ({trained_text}), "
               f"hollow ones sizes it never saw. Bottom: the majority label at each n (for a task without named "
               f"labels, the majority mechanism by direction) and how many of the {K} draws carry it.")
    return Figure(_save(fig, out / "generalization.png"), caption, series)


def _width(facts: dict[str, dict[str, Any]], mode: str) -> str:
    ratios = facts.get(mode, {}).get("m_per_n", [])
    return ", ".join(f"{r:g}n" for r in ratios) or "?"


def _sizes_text(sizes: list[int]) -> str:
    if len(sizes) > 2 and all(b - a == sizes[1] - sizes[0] for a, b in zip(sizes, sizes[1:], strict=False)):
        return f"{sizes[0]}, {sizes[1]}, …, {sizes[-1]}"
    return ", ".join(str(n) for n in sizes) or "?"


# ---------------------------------------------------------------- baselines

def fig_baselines(sweep_rows: list[dict[str, Any]], facts: dict[str, dict[str, Any]], out: Path) -> Figure | None:
    if not any(r["mode"] == "direct" for r in sweep_rows):
        return None
    fig, (ax_obj, ax_err) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
    series = {}
    handles = []
    for mode in ("range", "per_beta", "direct"):
        seeds = sorted({r["seed"] for r in sweep_rows if r["mode"] == mode})
        for seed in seeds:
            rs = sorted((r for r in sweep_rows if (r["mode"], r["seed"]) == (mode, seed)), key=lambda r: r["beta"])
            for ax, key in ((ax_obj, "loss_median"), (ax_err, "rel_mse_median")):
                pts = [r for r in rs if r[key] is not None and np.isfinite(r[key])]
                ax.plot([r["beta"] for r in pts], [r[key] for r in pts], "o-", color=MODE_COLORS[mode], ms=4, lw=1.2,
                        alpha=0.9 if len(seeds) == 1 else 0.6)
                series[f"{mode} seed {seed}: {key}"] = [r[key] for r in pts]
        if seeds:
            handles.append(Line2D([], [], color=MODE_COLORS[mode], marker="o",
                                  label=f"{mode}: {_steps_text(facts, mode)}, {len(seeds)} seed(s)"))
    adam = [r for r in sweep_rows if r["mode"] == "adam"]
    for r in adam:  # no beta: a horizontal line at its log MSE (objective panel) and its relative MSE
        for ax, value, key in ((ax_obj, np.log(r["mse_median"]), "log_mse"), (ax_err, r["rel_mse_median"], "rel_mse")):
            ax.axhline(value, color=MODE_COLORS["adam"], ls=":", lw=1.2)
            series[f"adam seed {r['seed']}: {key}"] = [float(value)]
    if adam:
        handles.append(Line2D([], [], color=MODE_COLORS["adam"], ls=":",
                              label=f"plain Adam, no beta: log MSE / relative MSE; {_steps_text(facts, 'adam')}, "
                                    f"{len(adam)} seed(s)"))
    for ax in (ax_obj, ax_err):
        ax.set_xscale("log")
        ax.set_xlabel("beta")
        ax.grid(alpha=0.3)
    ax_err.set_yscale("log")
    ax_obj.set_ylabel("median objective log MSE + beta·bits")
    ax_err.set_ylabel("median MSE / Var(y) of the draws")
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    caption = ("The hypernetwork against direct training of the target weights, per beta and seed (median over each "
               "cell's draws). Steps: " + "; ".join(f"{m} {_steps_text(facts, m)}" for m in
                                                   ("range", "per_beta", "direct", "adam") if m in facts)
               + ". Equal-steps rule: each direct run gets as many optimisation steps per beta as a per-beta "
               "hypernetwork; the range model's steps are shared by the whole beta range. Plain Adam has no "
               "bits term, so its line is its log MSE.")
    return Figure(_save(fig, out / "baselines.png"), caption, series)


def _steps_text(facts: dict[str, dict[str, Any]], mode: str) -> str:
    steps = facts.get(mode, {}).get("steps", [])
    text = "/".join(f"{s:,}" for s in steps) + " steps" if steps else "steps unknown"
    if mode == "range":
        text += " for all beta at once"
    elif mode in ("per_beta", "direct"):
        text += " per beta"
    return text
