"""HTML pieces of the report: figures with captions, scrolling tables, the seed × beta grid, the
examples, and one page per final cell with every network in it (labels, evidence, drawings,
decoded formulas), all written from the sweep's saved artefacts.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.sweep import beta_name
from ..generate import netfile
from ..read import readout
from ..read.decode import decode
from ..read.draw import draw_graph, draw_heatmap, draw_heatmaps
from .figures import COLORS, MODE_NAMES, Figure, _save, ordered_modes
from .stats import SHORT, Cell, is_tie, majority_count, nearest_median

CSS = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
.scroll{overflow-x:auto;max-width:100%;margin:1em 0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
figure{margin:1.2em 0;overflow-x:auto}figure img{max-width:none;border:1px solid #eee}
figcaption{font-size:14px;color:#444;max-width:1000px;margin-top:.4em}
code{background:#f4f4f4;padding:1px 4px;word-break:break-word}
.grid td{text-align:center;white-space:nowrap}.grid a{color:inherit;text-decoration:none;display:block}
.rules li{margin:.3em 0}"""


def page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{CSS}</style></head><body>{body}</body></html>').encode()


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return html.escape(str(v))


def table(rows: list[dict[str, Any]], cols: list[str], cls: str = "", raw: tuple[str, ...] = ()) -> str:
    """A table that scrolls sideways instead of being cut (`.scroll`); columns in `raw` hold HTML."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{r.get(c, '') if c in raw else fmt(r.get(c))}</td>"
                                    for c in cols) + "</tr>" for r in rows)
    return f"<div class='scroll'><table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def figure(fig: Figure | None, alt: str, what: str | None = None) -> str:
    """An image with its caption; `data-series` carries what was plotted (checked by the browser test)."""
    if fig is None:
        return f"<p><i>No data for: {html.escape(what or alt)}.</i></p>"
    # a non-finite value becomes null: the page still renders, and the browser test flags the series
    finite = {name: [v if math.isfinite(v) else None for v in values] for name, values in fig.series.items()}
    series = html.escape(json.dumps(finite), quote=True)
    return (f"<figure data-series=\"{series}\"><img src=\"{html.escape(fig.file)}\" alt=\"{html.escape(alt)}\">"
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")


def _tint(label: str) -> str:
    return COLORS[label] + "55"  # the label's colour at a third of its strength: text stays readable


def seed_grid_html(grid: dict[str, dict[int, dict[float, dict[str, Any]]]], pages: dict[tuple, str]) -> str:
    """Rows (mode, seed), columns beta; each cell the seed's majority label and count, linked to its page."""
    betas = sorted({b for seeds in grid.values() for cells in seeds.values() for b in cells})
    head = "<th>mode</th><th>seed</th>" + "".join(f"<th>{'no beta' if b == 0 else beta_name(b)}</th>" for b in betas)
    body = []
    for mode in ordered_modes(grid):
        for seed, cells in sorted(grid[mode].items()):
            tds = []
            for beta in betas:
                r = cells.get(beta)
                if r is None:
                    tds.append("<td></td>")
                    continue
                named = r.get("majority") is not None  # else a task without labels: its mechanism
                text = (f"{SHORT[r['majority']]} {majority_count(r)}/{r['count']}" + (" tie" if is_tie(r) else "")
                        if named else f"{html.escape(r['mechanism'])} {round(r['frac_mechanism'] * r['count'])}/"
                                      f"{r['count']}")
                link = pages.get((mode, seed, beta))
                inner = f"<a href='cells/{link}'>{text}</a>" if link else text
                tds.append(f"<td style='background:{_tint(r['majority'])}'>{inner}</td>" if named else
                           f"<td>{inner}</td>")
            body.append(f"<tr><td>{mode}</td><td>{seed}</td>{''.join(tds)}</tr>")
    return (f"<div class='scroll'><table class='grid'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def decode_text(dec: dict[str, Any]) -> str:
    """What the decoded formula is worth, in words: a verification only when it was re-encoded."""
    own = (f"its error on the target {dec['target_error']:.3g} (the network's on the same {dec['n_samples']:,} "
           f"inputs: {dec['network_error']:.3g})")
    if dec["check"] == "fitted":
        return (f"A fitted summary, not a verification: it leaves {dec['rel_error']:.2g} of the network's variance "
                f"unexplained; {own}. The network: {dec['description']}.")
    per_input = (f" (with each input's own numbers instead of the shared ones: {dec['per_input']['rel_error']:.2g})"
                 if dec.get("per_input") else "")
    return (f"Re-encoded: the ideal network of this formula differs from the generated one by {dec['rel_error']:.2g} "
            f"of its variance{per_input}; {own}.")


def _decode(cell: Cell, k: int) -> dict[str, Any]:
    a = cell.arrays
    return decode(a["W"][k], a["b"][k], a["a"][k], a["c"][k], cell.meta.get("activation", "silu"), cell.results[k])


def _where(cell: Cell) -> str:
    beta = "no beta" if cell.mode == "adam" else f"beta {beta_name(cell.beta)}"
    return f"{cell.mode} (seed {cell.seed}, {beta})"


def _drawings(cell: Cell, k: int, out: Path, stem: str, note: str, heatmap: bool = True) -> str:
    """Graph (and heat map) of draw k, each a captioned figure."""
    a, res = cell.arrays, cell.results[k]
    W, b, aa = (np.asarray(a[x][k], float) for x in ("W", "b", "a"))
    m, n = W.shape
    graph = _save(draw_graph(W, aa, res, k), out / f"{stem}_graph.png")
    src = f"{cell.job}/{cell.path.name} #{k}"
    g = Figure(graph, f"Draw #{k} of {_where(cell)}, {src}{note}: force-directed drawing of its active neurons "
                      f"(n = {n} inputs, m = {m} hidden neurons; inactive neurons and input edges under 2% of the "
                      f"largest |W| left out; red positive, blue negative weights).", {})
    if not heatmap:
        return figure(g, f"graph of draw {k}")
    h = Figure(_save(draw_heatmap(W, b, aa, res, k), out / f"{stem}_heatmap.png"),
               "The same draw's weights: W (rows: one-input neurons by input and sign, so a ± pair is two adjacent "
               "rows; then dense, then inactive neurons), b and a, each on its own symmetric colour scale.", {})
    return figure(g, f"graph of draw {k}") + figure(h, f"weights of draw {k}")


def example_html(cell: Cell, label: str, k: int, out: Path, link: str) -> tuple[str, dict[str, Any]]:
    """One example (chosen by RULES['example']): its drawings, evidence and decoded formula."""
    res, dec = cell.results[k], _decode(cell, k)
    count = sum(r["label"] == label for r in cell.results)
    K = len(cell.results)
    share = f"{count} of {K} draws in this cell are {label}" + (" (the majority)" if 2 * count > K else
                                                               " (not the majority)")
    note = f" ({share})"
    body = (f"<h3 id='example-{cell.mode}-{label}'>{label}: {html.escape(MODE_NAMES.get(cell.mode, cell.mode))}</h3>"
            f"<p>{html.escape(_where(cell))}, draw #{k} — {share}; <a href='cells/{link}'>every draw of this "
            f"cell</a>. {cell.arrays['bits'][k]:.0f} bits, MSE/Var(y) {cell.arrays['rel_mse'][k]:.3g}. "
            f"Evidence: {html.escape(res['reason'])}.</p>"
            f"<p>Decoded: <code>{html.escape(dec['formula'])}</code>. {html.escape(decode_text(dec))}</p>"
            + _drawings(cell, k, out, f"example_{cell.mode}_{label}", note))
    record = {"mode": cell.mode, "seed": cell.seed, "beta": cell.beta, "label": label, "index": k,
              "file": f"networks/{cell.job}/{cell.path.name}", "count_in_cell": count, "draws_in_cell": K,
              "bits": float(cell.arrays["bits"][k]), "rel_mse": float(cell.arrays["rel_mse"][k]),
              "formula": dec["formula"], "check": dec["check"], "decode_rel_error": dec["rel_error"],
              "target_error": dec["target_error"], "page": f"cells/{link}"}
    return body, record


def cell_page(cell: Cell, out: Path, fams: list[str] | None = None) -> dict[str, Any]:
    """cells/<page>.html: every draw of one final cell (label, evidence, decoded formula), their weights
    side by side, and the drawing of one typical draw per label. Returns the cell's record."""
    out.mkdir(exist_ok=True)
    stem = cell.page[:-len(".html")]
    rows = []
    readings = readout.directions_of(cell.path, cell.arrays, cell.meta)  # saved by the sweep beside the file
    for k, res in enumerate(cell.results):
        dec = _decode(cell, k)
        comp = res["composition"]
        rows.append({"#": k, "label": res["label"], "family": fams[k] if fams else "",
                     "mechanism (by direction)": readings[k]["words"],
                     "rel MSE": float(cell.arrays["rel_mse"][k]),
                     "bits": float(cell.arrays["bits"][k]), "active": res["n_active"],
                     "inputs: pair / pos / neg / none": f"{comp['pair']} / {comp['pos_only']} / {comp['neg_only']} / "
                                                        f"{comp['none']}",
                     "evidence": res["reason"], "decoded formula": f"<code>{html.escape(dec['formula'])}</code>",
                     "what the formula is worth": decode_text(dec)})
    labels = [r["label"] for r in cell.results]
    counts = {lab: labels.count(lab) for lab in dict.fromkeys(labels)}
    heat = draw_heatmaps(cell.arrays, cell.results)
    K, m, n = cell.arrays["W"].shape
    heat_fig = Figure(_save(heat, out / f"{stem}_weights.png"),
                      f"The input weights W of all {K} draws of {_where(cell)} (n = {n}, m = {m}), one panel each, "
                      f"one colour scale (red positive, blue negative); rows ordered by what the classifier found: "
                      f"one-input neurons by (input, sign), then dense, then inactive neurons.", {})
    typical = ""
    for lab in counts:  # one drawing per label: the draw nearest that label's median error
        k = nearest_median(cell, lab)
        note = (f" (of the {counts[lab]} {lab} draws, the one nearest their median relative error; its weights "
                f"are panel #{k} above)")
        typical += f"<h3>A typical {lab} draw</h3>" + _drawings(cell, k, out, f"{stem}_{lab}", note, heatmap=False)
    meta = cell.meta
    source = (f"checkpoint {meta['checkpoint']} at step {meta['checkpoint_step']:,}" if "checkpoint" in meta
              else f"{meta.get('steps', '?')} steps of direct optimisation ({meta.get('source', cell.mode)})")
    body = (f"<p><a href='../index.html'>← report</a></p><h1>{html.escape(_where(cell))}</h1>"
            f"<p>{html.escape(MODE_NAMES.get(cell.mode, cell.mode))}; {K} draws from "
            f"<code>networks/{cell.job}/{cell.path.name}</code> ({html.escape(source)}). Labels: "
            + ", ".join(f"{lab} {c}/{K}" for lab, c in counts.items())
            + f"; median MSE/Var(y) {np.median(cell.arrays['rel_mse']):.3g}.</p>"
            + table(rows, list(rows[0]), raw=("decoded formula",)) + figure(heat_fig, "weights of every draw")
            + typical)
    netfile.atomic_write(out / cell.page, lambda fh: fh.write(page(f"hyperinterp cell: {_where(cell)}", body)))
    plt.close("all")
    return {"mode": cell.mode, "seed": cell.seed, "beta": cell.beta, "page": f"cells/{cell.page}", "counts": counts}
