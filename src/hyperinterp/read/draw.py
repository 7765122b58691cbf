"""Pictures of networks: a force-directed drawing and a weight heatmap per network (PNG and SVG).

* Graph (``netNNN_graph.png/.svg``): inputs x_i (left column colour), the classifier's *active*
  hidden neurons, and the output y as nodes; weights as edges, red for positive and blue for
  negative, width by magnitude (input weights scaled by the largest |W|, output weights by the
  largest |a|). Inactive neurons (see `classify`) are left out, and so are input edges below 2% of
  the largest |W| (both counts are in the title). Layout: networkx ``spring_layout`` with |weight|
  as the spring strength, seeded, so the same file gives the same picture.
* Heatmap (``netNNN_heatmap.png/.svg``): W (neurons × inputs) beside the b and a columns, each with
  its own symmetric colour scale (RdBu: red positive, blue negative). Rows are ordered by what the
  classifier found (`neuron_order`): the one-input neurons by (input, sign), so the two sides of a
  ± pair are next to each other, then the dense neurons, then the inactive ones (marked ``·``).
* `draw_heatmaps`: the W of several networks side by side, rows in the same order (the cell pages
  of the report).

Every font is at least 9 pt.

Titles carry the classifier label and relative error. Files are written atomically.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import UserError  # noqa: E402
from ..generate import netfile  # noqa: E402
from .classify import classify_arrays  # noqa: E402

EDGE_MIN = 0.02  # input edges below 2% of the largest |W| are not drawn
POS, NEG = "#c0392b", "#2471a3"
SMALL = 9  # pt: the smallest font of any picture (tick labels, colour bars, node names)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix[1:], dpi=110, bbox_inches="tight")
    netfile.atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # the temporary file was private (0600); pictures are for sharing


def _title(index: int, res: dict[str, Any]) -> str:
    return f"net {index:03d}: {res['label']}  (rel. error {res['rel_error']:.3g})"


def draw_graph(W: np.ndarray, a: np.ndarray, res: dict[str, Any], index: int = 0, seed: int = 0):
    """The force-directed drawing of one network as a matplotlib figure (inactive neurons left out)."""
    m, n = W.shape
    active = [j for j in range(m) if j not in set(res["inactive"])]
    wmax = float(np.abs(W[active]).max()) if active else 0.0
    amax = float(np.abs(a[active]).max()) if active else 0.0
    G = nx.Graph()
    G.add_nodes_from([f"x{i}" for i in range(n)], kind="input")
    G.add_nodes_from([f"h{j}" for j in active], kind="hidden")
    G.add_node("y", kind="output")
    dropped = 0
    for j in active:
        for i in range(n):
            w = float(W[j, i])
            if wmax > 0 and abs(w) >= EDGE_MIN * wmax:
                G.add_edge(f"x{i}", f"h{j}", w=w, strength=abs(w) / wmax)
            elif w != 0:
                dropped += 1
        if amax > 0 and a[j] != 0:
            G.add_edge(f"h{j}", "y", w=float(a[j]), strength=abs(float(a[j])) / amax)
    pos = nx.spring_layout(G, weight="strength", seed=seed, k=1.5 / max(len(G) ** 0.5, 1.0))
    fig, ax = plt.subplots(figsize=(8, 7))
    edges = list(G.edges(data=True))
    nx.draw_networkx_edges(G, pos, ax=ax, edgelist=[(u, v) for u, v, _ in edges],
                           edge_color=[POS if d["w"] > 0 else NEG for *_, d in edges],
                           width=[0.3 + 3.0 * d["strength"] for *_, d in edges], alpha=0.7)
    kinds = {"input": ("#f5b041", 220), "hidden": ("#7f8c8d", 140), "output": ("#27ae60", 320)}
    for kind, (colour, size) in kinds.items():
        nodes = [v for v, d in G.nodes(data=True) if d["kind"] == kind]
        nx.draw_networkx_nodes(G, pos, nodelist=nodes, node_color=colour, node_size=size, ax=ax,
                               edgecolors="black", linewidths=0.5)
    labels = {v: v for v, d in G.nodes(data=True) if d["kind"] != "hidden" or len(active) <= 40}
    nx.draw_networkx_labels(G, pos, labels=labels, font_size=SMALL, ax=ax)
    comp = res["composition"]
    ax.set_title(f"{_title(index, res)}\n{len(active)} of {m} neurons active (inactive left out); "
                 f"{dropped} input edges under {EDGE_MIN:.0%} of max |W| left out\n"
                 f"inputs: {comp['pair']} ± pair, {comp['pos_only']} pos-only, {comp['neg_only']} neg-only, "
                 f"{comp['none']} none   (red +, blue −, width ∝ |weight|)", fontsize=10)
    ax.set_axis_off()
    return fig


def neuron_order(res: dict[str, Any], m: int) -> tuple[list[int], list[str]]:
    """Rows for a heatmap: the one-input (sparse) neurons by (input, sign: + before −), so a ± pair
    sits together; then the dense neurons; then the inactive ones. Returns the neuron indices and a
    row name each ("x3+ 17": neuron 17 reads input 3 with a positive weight; "d 5"; "· 9")."""
    keys: dict[int, tuple] = {j: (2, 0, 0, j) for j in range(m)}
    names = {j: f"· {j}" for j in range(m)}
    for item in res["neurons"]:
        j = item["neuron"]
        if "input" in item:
            keys[j] = (0, item["input"], item["sign"] < 0, j)
            names[j] = f"x{item['input']}{'+' if item['sign'] > 0 else '−'} {j}"
        else:
            keys[j] = (1, 0, 0, j)
            names[j] = f"d {j}"
    order = sorted(range(m), key=keys.__getitem__)
    return order, [names[j] for j in order]


def _row_ticks(ax, names: list[str]) -> None:
    m = len(names)
    rows = range(m) if m <= 64 else range(0, m, max(1, m // 32))
    ax.set_yticks(list(rows), [names[j] for j in rows], fontsize=SMALL)


def draw_heatmap(W: np.ndarray, b: np.ndarray, a: np.ndarray, res: dict[str, Any], index: int = 0):
    """W beside the b and a columns, each with its own symmetric colour scale, rows by `neuron_order`."""
    m, n = W.shape
    order, names = neuron_order(res, m)
    fig, axes = plt.subplots(1, 3, figsize=(min(5 + 0.3 * n, 18), min(2.5 + 0.2 * m, 24)),
                             gridspec_kw={"width_ratios": [max(n, 2), 1, 1]}, squeeze=True)
    for ax, data, name in zip(axes, (W[order], b[order, None], a[order, None]), ("W", "b", "a"), strict=True):
        lim = float(np.abs(data).max()) or 1.0
        im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=11)
        ax.set_xticks(range(data.shape[1]) if name == "W" and n <= 32 else [])
        ax.tick_params(labelsize=SMALL)
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.04).ax.tick_params(labelsize=SMALL)
    _row_ticks(axes[0], names)
    axes[0].set_ylabel("hidden neuron: x<input><sign> one-input, d dense, · inactive", fontsize=SMALL)
    axes[0].set_xlabel("input", fontsize=10)
    for ax in axes[1:]:
        ax.set_yticks([])
    fig.suptitle(_title(index, res), fontsize=11)
    return fig


def draw_heatmaps(arrays: dict[str, np.ndarray], results: list[dict[str, Any]], cols: int = 4):
    """The W of every network in `arrays` (leading K axis), one panel each, rows by `neuron_order`,
    one symmetric colour scale for all (so panels compare); panel titles: index and label."""
    K, m, n = arrays["W"].shape
    rows = -(-K // cols)
    lim = float(np.abs(arrays["W"]).max()) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, (1.2 + 0.035 * m) * rows + 0.6), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= K:
            ax.set_axis_off()
            continue
        order, _ = neuron_order(results[k], m)
        im = ax.imshow(arrays["W"][k][order], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                       interpolation="nearest")
        ax.set_title(f"#{k} {results[k]['label']}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01).ax.tick_params(labelsize=SMALL)
    return fig


def draw_file(path: str | Path, out_dir: str | Path, max_networks: int | None = None) -> list[Path]:
    """Draw every network of a networks file (the first `max_networks`) into `out_dir` (created if
    missing): ``netNNN_graph.png/.svg`` and ``netNNN_heatmap.png/.svg``. Returns the paths written."""
    arrays, meta = netfile.load(path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file, not a folder")
    if max_networks is not None and max_networks < 1:
        raise UserError(f"max_networks must be at least 1, got {max_networks}")
    K = arrays["W"].shape[0] if max_networks is None else min(max_networks, arrays["W"].shape[0])
    sub = {key: v[:K] for key, v in arrays.items()}
    results = classify_arrays(sub, meta)  # first: a file it cannot classify leaves no empty folder behind
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for k in range(K):
        W, b, a = (np.asarray(sub[key][k], float) for key in ("W", "b", "a"))
        for kind, fig in (("graph", draw_graph(W, a, results[k], k)),
                          ("heatmap", draw_heatmap(W, b, a, results[k], k))):
            try:
                for ext in ("png", "svg"):
                    p = out / f"net{k:03d}_{kind}.{ext}"
                    _save(fig, p)
                    written.append(p)
            finally:
                plt.close(fig)
    return written
