"""`hyperinterp report SWEEP_DIR`: one HTML page from a sweep's saved artefacts only.

Reads table.json, sweep.json and networks/*.npz; writes report/index.html beside PNG figures:
the phase diagram (beta x training step), algorithm fractions against beta per mode, the
bits-accuracy frontier, an example of each algorithm found (drawing + decoded formula), the
generalization plot, the baselines beside the hypernetwork, and the tables.
"""

from __future__ import annotations

import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import netfile  # noqa: E402
from .classify import LABELS, classify_arrays  # noqa: E402
from .decode import decode  # noqa: E402
from .draw import draw_graph, draw_heatmap  # noqa: E402
from .errors import UserError  # noqa: E402
from .sweep import load_spec  # noqa: E402

COLORS = {"double_sided": "#1b9e77", "pudding_pos": "#d95f02", "pudding_neg": "#e7298a",
          "convexity": "#7570b3", "other": "#bbbbbb"}
MODE_NAMES = {"range": "hypernetwork, one model over the beta range", "per_beta": "hypernetwork, one model per beta",
              "multi_n": "hypernetwork trained over n = 6..26",
              "wide": "the multi-n hypernetwork continued at m = 7n",
              "direct": "direct: log MSE + beta*bits on the weights",
              "adam": "direct: plain Adam, no budget"}
# Expected order along beta (DESIGN §3): the costliest algorithm where bits are cheapest.
EXPECTED_ORDER = ("double_sided", "pudding", "convexity")


def _family(label: str) -> str:
    return "pudding" if label.startswith("pudding") else label


def aggregate(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Mean label fractions and median figures over seeds, grouped by `keys`."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(v) if v is None else v for v in kv[0])):
        agg = dict(zip(keys, key, strict=True))
        agg["seeds"] = len(rs)
        for lab in LABELS:
            agg[f"frac_{lab}"] = float(np.mean([r[f"frac_{lab}"] for r in rs]))
        agg["majority"] = max(LABELS, key=lambda lab: agg[f"frac_{lab}"])
        for f in ("rel_mse_median", "rel_mse_mean_weights_median", "bits_median", "active_median", "loss_median"):
            vals = [r[f] for r in rs if r[f] is not None and np.isfinite(r[f])]
            agg[f] = float(np.median(vals)) if vals else float("nan")
        out.append(agg)
    return out


def _png(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    netfile.atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    return path.name


def fig_phase(rows, out: Path) -> str | None:
    phase = [r for r in rows if r["mode"] == "range" and r["kind"] in ("phase", "sweep")]
    if not phase:
        return None
    agg = aggregate(phase, ("beta", "step"))
    betas = sorted({a["beta"] for a in agg})
    steps = sorted({a["step"] for a in agg})
    fig, ax = plt.subplots(figsize=(7, 4))
    for a in agg:
        x, y = betas.index(a["beta"]), steps.index(a["step"])
        frac = a[f"frac_{a['majority']}"]
        ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, color=COLORS[a["majority"]], alpha=0.25 + 0.75 * frac))
        ax.text(x, y, f"{frac:.0%}", ha="center", va="center", fontsize=7)
    ax.set_xlim(-0.5, len(betas) - 0.5)
    ax.set_ylim(-0.5, len(steps) - 0.5)
    ax.set_xticks(range(len(betas)), [f"{b:.0e}" for b in betas], rotation=45, fontsize=8)
    ax.set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=8)
    ax.set_xlabel("beta (bits price)")
    ax.set_ylabel("training step")
    ax.set_title("Phase diagram: majority algorithm (share of draws, all seeds)")
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()], labels=list(COLORS),
              fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig, out / "phase_diagram.png")


def fig_fractions(agg_sweep, out: Path) -> str | None:
    modes = [m for m in MODE_NAMES if m not in ("adam", "multi_n") and any(a["mode"] == m for a in agg_sweep)]
    if not modes:
        return None
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes), 3.6), squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes, strict=True):
        rows = [a for a in agg_sweep if a["mode"] == mode]
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for lab in LABELS:
            v = np.array([a[f"frac_{lab}"] for a in rows])
            ax.bar(x, v, bottom=bottom, color=COLORS[lab], label=lab)
            bottom += v
        ax.set_xticks(x, [f"{a['beta']:.0e}" for a in rows], rotation=45, fontsize=7)
        ax.set_title(MODE_NAMES[mode], fontsize=8)
        ax.set_xlabel("beta")
    axes[0][0].set_ylabel("share of networks")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig, out / "fractions.png")


def fig_frontier(rows, out: Path) -> str | None:
    pts = [r for r in rows if r["kind"] == "sweep" and r["mode"] != "adam" and r["bits_median"] is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    markers = {"range": "o", "per_beta": "s", "direct": "^", "multi_n": "D", "wide": "P"}
    for r in pts:
        ax.scatter(r["bits_median"], r["rel_mse_median"], color=COLORS[r["majority"]],
                   marker=markers.get(r["mode"], "x"), s=25, alpha=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("log")
    ax.set_xlabel("median bits of the cell")
    ax.set_ylabel("median MSE / Var(y) (draws)")
    ax.set_title("Bits-accuracy frontier (colour: majority algorithm; marker: mode)", fontsize=9)
    handles = [plt.Line2D([], [], marker=mk, ls="", color="k", label=m) for m, mk in markers.items()]
    handles += [plt.Line2D([], [], marker="o", ls="", color=c, label=lab) for lab, c in COLORS.items()]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig, out / "frontier.png")


CLIP = 100.0


def fig_generalization(rows, out: Path) -> str | None:
    gen = [r for r in rows if r["kind"] == "generalization"]
    if not gen:
        return None
    agg = aggregate(gen, ("mode", "beta", "n"))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (mode, beta), ls in zip(sorted({(a["mode"], a["beta"]) for a in agg}), ["-", "--", ":", "-."] * 4,
                                strict=False):
        pts = [a for a in agg if (a["mode"], a["beta"]) == (mode, beta)]
        ys = [min(a["rel_mse_median"], CLIP) for a in pts]  # blown-up errors are drawn at the top edge
        ax.plot([a["n"] for a in pts], ys, ls, color="k", lw=1, label=f"{mode}, beta {beta:.0e}")
        for a, y in zip(pts, ys, strict=True):
            ax.scatter(a["n"], y, color=COLORS[a["majority"]], s=40, zorder=3,
                       marker="^" if a["rel_mse_median"] > CLIP else "o")
    ax.axvspan(15.5, 16.5, color="#eee")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ratios = ", ".join(f"{mode} {float(np.median([r['m'] / r['n'] for r in gen if r['mode'] == mode])):.3g}n"
                       for mode in sorted({r["mode"] for r in gen}))
    ax.set_xlabel(f"input size n (m: {ratios}); grey: n = 16, the size range mode trains on", fontsize=8)
    ax.set_ylabel("median MSE / Var(y)")
    ax.set_title(f"Systematic generalization (dot colour: majority algorithm; ▲: error above {CLIP:g})",
                 fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig, out / "generalization.png")


def fig_baselines(agg_sweep, out: Path) -> str | None:
    if not any(a["mode"] == "direct" for a in agg_sweep):
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, mk in (("range", "o-"), ("per_beta", "s-"), ("direct", "^--")):
        pts = [a for a in agg_sweep if a["mode"] == mode]
        if pts:
            ax.plot([a["beta"] for a in pts], [a["loss_median"] for a in pts], mk, label=MODE_NAMES[mode])
    adam = [a for a in agg_sweep if a["mode"] == "adam"]
    if adam:
        ax.axhline(adam[0]["loss_median"], color="k", ls=":", label="plain Adam: log MSE (no bits)")
    ax.set_xscale("log")
    ax.set_xlabel("beta")
    ax.set_ylabel("median objective log MSE + beta*bits (nats)")
    ax.set_title("Hypernetwork against direct training, per beta", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig, out / "baselines.png")


def classified(sweep_dir: Path, modes: tuple[str, ...]):
    """(mode, path, arrays, meta, results) of every saved final cell, classified once."""
    for mode in modes:
        paths = (sweep_dir / "networks").glob(f"{mode}_seed*/beta_*.npz")
        for path in sorted(paths, key=lambda p: (float(p.stem[5:]), str(p))):  # lowest beta first
            arrays, meta = netfile.load(path)
            yield mode, path, arrays, meta, classify_arrays(arrays, meta)


def composition(cells) -> list[dict[str, Any]]:
    """Per (mode, beta): the share of inputs served by a +/- pair (double-sided mechanism), by one
    side only (pudding mechanism) or by nothing, over every draw and seed. Hybrids show up here."""
    acc: dict[tuple, list[dict[str, int]]] = defaultdict(list)
    for mode, _, arrays, _, results in cells:
        for k, res in enumerate(results):
            acc[(mode, float(arrays["beta"][k]))].append(res["composition"])
    rows = []
    for (mode, beta), comps in sorted(acc.items()):
        total = sum(c["pair"] + c["pos_only"] + c["neg_only"] + c["none"] for c in comps)
        rows.append({"mode": mode, "beta": beta, "networks": len(comps),
                     **{f"{key}_share": sum(c[key] for c in comps) / total
                        for key in ("pair", "pos_only", "neg_only", "none")}})
    return rows


def fig_composition(comp, out: Path) -> str | None:
    rows = [c for c in comp if c["mode"] == "range"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, color, name in (("pair_share", COLORS["double_sided"], "+/- pair (double-sided mechanism)"),
                             ("pos_only_share", COLORS["pudding_pos"], "positive side only (pudding+)"),
                             ("neg_only_share", COLORS["pudding_neg"], "negative side only (pudding-)"),
                             ("none_share", COLORS["other"], "no sparse mechanism")):
        v = np.array([r[key] for r in rows])
        ax.bar(x, v, bottom=bottom, color=color, label=name)
        bottom += v
    ax.set_xticks(x, [f"{r['beta']:.0e}" for r in rows], rotation=45, fontsize=7)
    ax.set_xlabel("beta")
    ax.set_ylabel("share of inputs")
    ax.set_title("How each input is served (range mode, all draws and seeds)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig, out / "composition.png")


def _example(mode, path, sweep_dir, arrays, meta, k, res, out: Path, title: str) -> dict[str, Any]:
    W, b, a = (np.asarray(arrays[x][k], float) for x in ("W", "b", "a"))
    stem = f"example_{mode}_{title}"
    graph = _png(draw_graph(W, a, res, k), out / f"{stem}_graph.png")
    heat = _png(draw_heatmap(W, b, a, res, k), out / f"{stem}_heatmap.png")
    dec = decode(W, b, a, arrays["c"][k], meta.get("activation", "silu"), res)
    return {"mode": mode, "label": res["label"], "title": title, "file": str(path.relative_to(sweep_dir)),
            "index": k, "beta": float(arrays["beta"][k]), "bits": float(arrays["bits"][k]),
            "rel_mse": float(arrays["rel_mse"][k]), "formula": dec["formula"],
            "decode_rel_error": float(dec["rel_error"]), "graph": graph, "heatmap": heat, "reason": res["reason"]}


def examples(cells, sweep_dir: Path, out: Path) -> list[dict[str, Any]]:
    """One example network per algorithm found (first found in mode order), and for the hypernetwork
    the most double-sided hybrid (most inputs served by +/- pairs) when it is not labelled double_sided."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    best_hybrid: tuple[int, Any] | None = None
    for mode, path, arrays, meta, results in cells:
        hyper = mode not in ("direct", "adam")
        for k, res in enumerate(results):
            pairs = res["composition"]["pair"]
            if hyper and res["label"] == "other" and pairs >= 2 and (best_hybrid is None or pairs > best_hybrid[0]):
                best_hybrid = (pairs, (mode, path, arrays, meta, k, res))
            key = ("hyper" if hyper else mode, res["label"])
            if res["label"] == "other" or key in seen:
                continue
            seen.add(key)
            found.append(_example(mode, path, sweep_dir, arrays, meta, k, res, out, res["label"]))
    if best_hybrid and ("hyper", "double_sided") not in seen:
        mode, path, arrays, meta, k, res = best_hybrid[1]
        found.append(_example(mode, path, sweep_dir, arrays, meta, k, res, out, "hybrid_most_pairs"))
    return found


def order_along_beta(agg_sweep, mode: str = "range") -> dict[str, Any]:
    """Where each family is the majority along beta (aggregated over seeds), and the order found."""
    rows = [a for a in agg_sweep if a["mode"] == mode]
    spans: dict[str, list[float]] = defaultdict(list)
    for a in rows:
        fam = _family(a["majority"])
        if fam != "other":
            spans[fam].append(a["beta"])
    order = sorted(spans, key=lambda f: np.exp(np.mean(np.log(spans[f]))))
    expected = [f for f in EXPECTED_ORDER if f in spans]
    return {"spans": {f: [min(v), max(v)] for f, v in spans.items()}, "order": order,
            "matches_expected": order == expected, "missing": [f for f in EXPECTED_ORDER if f not in spans]}


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return html.escape(str(v))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _order_text(o: dict[str, Any], mode: str = "range") -> str:
    if not o["order"]:
        return f"No algorithm family is the majority in any beta cell of the {mode} mode."
    spans = "; ".join(f"<b>{f}</b> from beta {lo:.0e} to {hi:.0e}" for f, (lo, hi) in o["spans"].items())
    text = (f"Majority along beta ({mode} mode, all seeds pooled): {spans}. Order by increasing beta: "
            f"{' &lt; '.join(o['order'])}. ")
    text += ("This is the order the complexity ranking predicts (DESIGN §3: bits double-sided &gt; pudding &gt; "
             "convexity, so as bits get dearer the cheaper algorithm takes over). " if o["matches_expected"] else
             "This differs from the order predicted by the complexity ranking (double-sided &lt; pudding &lt; "
             "convexity along beta). ")
    if o["missing"]:
        text += f"Not the majority anywhere: {', '.join(o['missing'])}."
    return text


CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}
img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:1px 4px}.ex{display:flex;gap:8px}
.ex img{max-width:49%}"""


def write_report(sweep_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    sweep_dir = Path(sweep_dir)
    spec, base = load_spec(sweep_dir)
    table = sweep_dir / "table.json"
    if not table.is_file():
        raise UserError(f"{sweep_dir} has no table.json: run the sweep first")
    rows = json.loads(table.read_text())
    if not rows:
        raise UserError(f"{table} holds no finished cells")
    out = Path(out_dir) if out_dir else sweep_dir / "report"
    if not out.parent.is_dir():
        raise UserError(f"parent folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)

    sweep_rows = [r for r in rows if r["kind"] == "sweep"]
    agg_sweep = aggregate(sweep_rows, ("mode", "beta"))
    figs = {"phase": fig_phase(rows, out), "fractions": fig_fractions(agg_sweep, out),
            "frontier": fig_frontier(rows, out), "generalization": fig_generalization(rows, out),
            "baselines": fig_baselines(agg_sweep, out)}
    cells = list(classified(sweep_dir, ("range", "per_beta", "multi_n", "wide", "direct", "adam")))
    found = examples(cells, sweep_dir, out)
    comp = composition(cells)
    figs["composition"] = fig_composition(comp, out)
    order = order_along_beta(agg_sweep)
    wide = any(a["mode"] == "wide" for a in agg_sweep)
    order_wide = order_along_beta(agg_sweep, "wide") if wide else None
    gen_agg = aggregate([r for r in rows if r["kind"] == "generalization"], ("mode", "beta", "n"))
    summary = {"order": order, "order_wide": order_wide,
               "examples": [{k: v for k, v in e.items() if k not in ("graph", "heatmap")}
                                            for e in found],
               "by_mode_beta": agg_sweep, "generalization": gen_agg, "composition": comp}
    netfile.atomic_write(out / "summary.json", lambda fh: fh.write(json.dumps(summary, indent=1).encode()))

    wide_text = f"<p>{_order_text(order_wide, 'wide')}</p>" if order_wide else ""

    def img(key: str, alt: str) -> str:
        return f'<img src="{figs[key]}" alt="{alt}">' if figs.get(key) else f"<p><i>No data for: {alt}.</i></p>"

    frac_cols = ["mode", "beta", "seeds", *[f"frac_{lab}" for lab in LABELS], "majority", "rel_mse_median",
                 "rel_mse_mean_weights_median", "bits_median", "active_median", "loss_median"]
    ex_html = "".join(
        f"<h3>{html.escape(e['title'])} ({html.escape(MODE_NAMES.get(e['mode'], e['mode']))}, beta {e['beta']:.0e})"
        f"</h3><p>{html.escape(e['file'])} #{e['index']}: {e['bits']:.0f} bits, MSE/Var(y) {e['rel_mse']:.3g}. "
        f"{html.escape(e['reason'])}</p><p>Decoded: <code>{html.escape(e['formula'])}</code> (the ideal network "
        f"of this formula matches it to relative error {e['decode_rel_error']:.2g})</p>"
        f"<div class='ex'><img src='{e['graph']}' alt='graph'><img src='{e['heatmap']}' alt='heatmap'></div>"
        for e in found) or "<p>No network received one of the four algorithm labels.</p>"
    cfg = base.to_dict()
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>hyperinterp report: {html.escape(sweep_dir.name)}</title><link rel="icon" href="data:,">
<style>{CSS}</style></head><body>
<h1>Hypernetwork sweep: {html.escape(base.task.name)} (n={base.task.n}, m={base.task.m}, {base.task.activation})</h1>
<p>Prior <b>{cfg['budget']['prior']}</b>, beta grid {', '.join(f'{b:.0e}' for b in spec.betas)}, seeds
{len(spec.seeds)}, {spec.count} draws per cell, modes {', '.join(spec.modes)}. Statistics count <i>draws</i>
of the generated distribution (what the objective scores); the MSE of the mean networks is in the tables.</p>
<h2>Algorithms along beta</h2><p>{_order_text(order)}</p>{wide_text}{img('fractions', 'fractions against beta')}
<p>Labels are strict: a network that serves most inputs with a +/- pair and a few with one side plus a
linear term is a hybrid (<code>other</code>). The share of inputs served by each mechanism shows them:</p>
{img('composition', 'input composition')}
{_table(comp, ['mode', 'beta', 'networks', 'pair_share', 'pos_only_share', 'neg_only_share', 'none_share'])}
<h2>Phase diagram over training</h2>{img('phase', 'phase diagram')}
<h2>Bits-accuracy frontier</h2>{img('frontier', 'frontier')}
<h2>Examples of each algorithm found</h2>{ex_html}
<h2>Systematic generalization</h2>{img('generalization', 'generalization')}
{_table(gen_agg, ['mode', 'beta', 'n', 'seeds', 'majority', 'rel_mse_median', 'frac_pudding_pos',
                  'frac_pudding_neg', 'frac_double_sided', 'frac_convexity'])}
<h2>Baselines: direct training</h2>{img('baselines', 'baselines')}
<h2>Tables (median over draws, mean fraction over seeds)</h2>{_table(agg_sweep, frac_cols)}
<p>Every cell: <a href="../table.csv">table.csv</a>, <a href="../table.json">table.json</a>;
this page's numbers: <a href="summary.json">summary.json</a>.</p>
</body></html>"""
    netfile.atomic_write(out / "index.html", lambda fh: fh.write(page.encode()))
    return out / "index.html"
