"""Pictures of networks: a force-directed drawing and a weight heatmap per network (PNG and SVG).

* Graph (``netNNN_graph.png/.svg``): inputs x_i (left column colour), the classifier's *active*
  hidden neurons, and the output y as nodes; weights as edges, red for positive and blue for
  negative, width by magnitude (input weights scaled by the largest |W|, output weights by the
  largest |a|). Inactive neurons (see `classify`) are left out, and so are input edges below 2% of
  the largest |W| (both counts are in the title). Layout: networkx ``spring_layout`` with |weight|
  as the spring strength, seeded, so the same file gives the same picture.
* Heatmap (``netNNN_heatmap.png/.svg``): W (neurons × inputs) beside the b and a columns, each with
  its own symmetric colour scale (RdBu: red positive, blue negative); inactive neurons are kept and
  marked with ``·`` on the neuron axis.

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

from . import netfile  # noqa: E402
from .classify import classify_arrays  # noqa: E402
from .errors import UserError  # noqa: E402

EDGE_MIN = 0.02  # input edges below 2% of the largest |W| are not drawn
POS, NEG = "#c0392b", "#2471a3"


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
    nx.draw_networkx_labels(G, pos, labels=labels, font_size=7, ax=ax)
    comp = res["composition"]
    ax.set_title(f"{_title(index, res)}\n{len(active)} of {m} neurons active (inactive left out); "
                 f"{dropped} input edges under {EDGE_MIN:.0%} of max |W| left out\n"
                 f"inputs: {comp['pair']} ± pair, {comp['pos_only']} pos-only, {comp['neg_only']} neg-only, "
                 f"{comp['none']} none   (red +, blue −, width ∝ |weight|)", fontsize=9)
    ax.set_axis_off()
    return fig


def draw_heatmap(W: np.ndarray, b: np.ndarray, a: np.ndarray, res: dict[str, Any], index: int = 0):
    """W beside the b and a columns, each with its own symmetric colour scale."""
    m, n = W.shape
    inactive = set(res["inactive"])
    fig, axes = plt.subplots(1, 3, figsize=(min(4 + 0.25 * n, 18), min(2.5 + 0.18 * m, 16)),
                             gridspec_kw={"width_ratios": [max(n, 2), 1, 1]}, squeeze=True)
    for ax, data, name in zip(axes, (W, b[:, None], a[:, None]), ("W", "b", "a"), strict=True):
        lim = float(np.abs(data).max()) or 1.0
        im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(data.shape[1]) if name == "W" and n <= 32 else [])
        ax.tick_params(labelsize=6)
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.04).ax.tick_params(labelsize=6)
    rows = range(m) if m <= 64 else range(0, m, max(1, m // 32))
    axes[0].set_yticks(list(rows))
    axes[0].set_yticklabels([f"{'·' if j in inactive else ''}{j}" for j in rows])
    axes[0].set_ylabel("hidden neuron (· = inactive)", fontsize=8)
    axes[0].set_xlabel("input", fontsize=8)
    for ax in axes[1:]:
        ax.set_yticks([])
    fig.suptitle(_title(index, res), fontsize=10)
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
