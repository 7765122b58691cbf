"""Families: networks of a whole sweep clustered by fingerprint, for any task (no hand-written labels).

Every network of the given files gets a `fingerprint`; their `vector`s (named features in [0, 1],
the union of the names over all networks, missing ones 0) are clustered by scikit-learn's
AgglomerativeClustering with average linkage and a distance threshold, so the data choose how many
families there are. DISTANCE = 1 means: two networks belong together unless they differ by about one
whole feature on average (a mechanism present in one and absent in the other, every input served
differently, a dense linear term of the other sign), so a hybrid stays apart from the pure networks
it mixes, while draws that differ in a few inputs' service or in how a linear term is spread stay together.

Family ids ``F1, F2, ...`` are ordered by size (largest first), ties by the first member in file
order: the same files in the same order give the same ids. Each family is described by its
representative (the medoid: the member closest on average to the others): its fingerprint in words,
the mean feature values, the fraction of the family at each β and seed, median bits and accuracy, and
what it computes: the representative decoded into a formula (`decode.py`, for any task: its mechanisms with
shared numbers, e.g. one neuron per input in SiLU's quadratic regime plus a linear term), verified by
re-encoding — the formula's own network against the representative (`reencoding_error`, the share of the
representative's variance the formula misses) — and scored on the task (`formula_error`: MSE/Var(y)).

Beside the fingerprint every network is read by direction (`directions.py`, docs/directions.md): its neurons grouped
by shared direction, the 1-D function along each, its effective neurons. Its features (`directions.vector`: the share
of each mechanism, e.g. "dir:all:abs" for |Σx|, a hybrid flag, the copies per direction on a log scale) are added to
the fingerprint's, which tells apart what the per-input fingerprint lumps (|Σx| by two neurons or by 46, Σ relu(x_i),
Σ|x_i + x_j|, random ridges), and a family is named by its representative's mechanism ("double-sided along Σx, 2
neurons"; the fingerprint's name stays as `fingerprint_name`). A network the rules would call near-constant because
it computes another function than the task's (its output still varies by ≥ 20% of Var y) is read like any other and
flagged `off_target` (named "off the target: ..."); one that barely varies stays the one near-constant point.
`read_networks` and `cluster_networks` do the same for networks in memory (hand-built references).

`summarise(files)` returns all of it as one JSON-serialisable dict (what `hyperinterp families --json`
prints and the report can call); `figure_fractions` and `figure_representatives` draw it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score, homogeneity_score, pairwise_distances

from ..generate import netfile
from . import directions, readout
from .classify import _linear_fit, classify, file_options, sample_inputs
from .decode import decode, quadratic_form
from .fingerprint import fingerprint, vector
from .netmath import phi
from .readout import fingerprint_arrays

DISTANCE = 1.0
# a reading reproduces a network when its re-encoding misses at most this share of the network's variance
MECHANISM_TOLERANCE = 0.05


def compact(fp: dict[str, Any]) -> dict[str, Any]:
    """A fingerprint without its per-neuron list (the part worth printing per network), with its features."""
    keep = ("words", "patterns", "per_input", "coverage", "neurons_per_slot", "neuron_types", "rest",
            "negative_output_share", "rel_error", "near_constant")
    return {**{k: fp[k] for k in keep}, "features": vector(fp)}


def features(fp: dict[str, Any], rd: dict[str, Any] | None = None) -> dict[str, float]:
    """A network's features: `fingerprint.vector`, and with its directions reading `rd` (`directions.read`) also
    `directions.vector` (what tells mechanisms along shared directions apart). A near-constant network stays one
    point whatever its directions."""
    if rd is None:
        return vector(fp)
    if not fp["near_constant"]:
        return {**vector(fp), **directions.vector(rd)}
    if not directions.moves(rd):
        return vector(fp)  # nothing computed: the one near-constant point
    # far from the target but not constant: another function (|Σx| read as L1), read like any network, and flagged
    return {**vector({**fp, "near_constant": False}), **directions.vector(rd), "off_target": 1.0}


def matrix(fps: list[dict[str, Any]], dirs: list[dict[str, Any] | None] | None = None) -> tuple[np.ndarray, list[str]]:
    """The feature matrix (N, F) over the union of feature names (sorted: a deterministic column order); `dirs`: the
    networks' directions readings, in the same order (None: the fingerprints' own "directions" where they have one)."""
    dirs = [fp.get("directions") for fp in fps] if dirs is None else dirs
    vecs = [features(fp, rd) for fp, rd in zip(fps, dirs, strict=True)]
    names = sorted({name for v in vecs for name in v})
    return np.array([[v.get(name, 0.0) for name in names] for v in vecs]).reshape(len(vecs), len(names)), names


def cluster(X: np.ndarray, distance: float = DISTANCE) -> np.ndarray:
    """Family ids 0, 1, ... (0 the largest; ties by first member) of the rows of X."""
    if len(X) < 2:
        return np.zeros(len(X), int)
    raw = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, linkage="average",
                                  metric="euclidean").fit_predict(X)
    first = {lab: i for i, lab in reversed(list(enumerate(raw)))}
    sizes = Counter(raw)
    order = sorted(sizes, key=lambda lab: (-sizes[lab], first[lab]))
    rank = {lab: r for r, lab in enumerate(order)}
    return np.array([rank[lab] for lab in raw])


def read_networks(nets: list[dict[str, np.ndarray]], **opts: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fingerprints and directions readings of single networks (dicts W, b, a, c), e.g. hand-built references;
    `opts`: activation, task, input_dist, n_samples, seed."""
    return ([fingerprint(**net, **opts) for net in nets],
            [directions.read(**net, **opts) for net in nets])


def cluster_networks(nets: list[dict[str, np.ndarray]], distance: float = DISTANCE, **opts: Any) -> np.ndarray:
    """Family ids (0 the largest) of single networks, from fingerprints and directions (what `summarise` does)."""
    fps, dirs = read_networks(nets, **opts)
    return cluster(matrix(fps, dirs)[0], distance)


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _name(mean: dict[str, float]) -> str:
    """A short name from the family's mean features: its main input patterns and its dense part."""
    if mean.get("near_constant", 0) > 1:
        return "near-constant"
    pats = sorted(((v, k[5:]) for k, v in mean.items() if k.startswith("frac:") and v >= 0.1), reverse=True)
    head = " / ".join(f"{p} {v:.0%}" for v, p in pats) or "none"
    if mean.get("rest:present", 0) < 0.5:
        dense = "no dense"
    elif mean.get("rest:sum-", 0) >= 0.5:
        dense = "dense −Σx"
    elif mean.get("rest:sum+", 0) >= 0.5:
        dense = "dense +Σx"
    elif mean.get("rest:linear_r2", 0) >= 0.9:
        dense = "dense linear"
    elif mean.get("rest:quadratic_r2", 0) >= 0.9:
        dense = "dense separable quadratic"
    else:
        dense = "dense nonlinear"
    neg = mean.get("out:negative", 0)
    sign = "a>0" if neg < 0.01 else "a<0" if neg > 0.99 else "a±"
    hybrid = "hybrid: " if mean.get("mixed", 0) >= 0.5 else ""
    return f"{hybrid}inputs {head} · {dense} · {sign}"


def _reproduces(dec: dict[str, Any]) -> bool:
    """The formula's network, or the per-input one (each side with its own numbers, `decode`), is the network's
    function within MECHANISM_TOLERANCE of its variance."""
    per_input = dec.get("per_input")
    return min(dec["rel_error"], per_input["rel_error"] if per_input else np.inf) <= MECHANISM_TOLERANCE


def slot_evidence(W, b, a, c, fp: dict[str, Any] | None = None, **opts: Any) -> dict[str, Any]:
    """`classify`'s evidence, but with the fingerprint's served slots as the one-input mechanisms: the rules judge
    a side against L1's scale, the fingerprint against the task's own (a soft threshold kink of `linf` serves its
    input there and not under the rules). What `decode.decode` needs to read the network by mechanism. `fp`: the
    network's fingerprint if already computed (computed here otherwise)."""
    fp = fp or fingerprint(W, b, a, c, **opts)
    W, b, a = np.asarray(W, float), np.asarray(b, float).reshape(-1), np.asarray(a, float).reshape(-1)
    sides: dict[tuple[int, int], list[int]] = {}
    for nrn in fp["neurons"]:
        if nrn["in_slot"]:
            sides.setdefault((nrn["input"], nrn["sign"]), []).append(nrn["neuron"])
    n = W.shape[1]
    signs = {i: {s for (j, s) in sides if j == i} for i in range(n)}
    per_input = ["pair" if len(signs[i]) == 2 else "pos" if 1 in signs[i] else "neg" if signs[i] else "none"
                 for i in range(n)]
    rest = [nrn["neuron"] for nrn in fp["neurons"] if not nrn["in_slot"]]
    x, _ = sample_inputs(n, 4096, 0, opts.get("task", "l1"), opts.get("input_dist", "normal"))
    R = (phi(x @ W[rest].T + b[rest], opts.get("activation", "silu")) * a[rest]).sum(1) if rest else np.zeros(len(x))
    dense = {**_linear_fit(R, x), "neurons": rest, "negligible": fp["rest"]["negligible"]}
    return {"label": "other", "reason": "read from the fingerprint's slots", "inactive": fp["inactive"],
            "sides": [{"input": i, "sign": s, "neurons": js, "served": True} for (i, s), js in sorted(sides.items())],
            "composition": {"per_input": per_input}, "dense_part": dense, **opts}


def decoded(file: str | Path, index: int, fp: dict[str, Any] | None = None) -> dict[str, Any]:
    """What network `index` of `file` computes: its formula, verified by re-encoding (see the module docstring).
    Readings, in order, until one reproduces the network (its re-encoding misses at most MECHANISM_TOLERANCE of
    the network's variance) without keeping any of its neurons as they are: by mechanism with the rules'
    evidence (one-input kinks and a dense part, `decode.decode`); by mechanism with the fingerprint's slots
    (`slot_evidence`: sides judged on the task's own scale); as a quadratic form (`decode.quadratic_form`: SiLU's
    small-weight regime, where off-axis weights matter). If none does, the first that reproduces it, else the
    rules' reading, with its error. `fp`: the network's fingerprint, if the caller has it."""
    arrays, meta = netfile.load(file)
    net = [arrays[key][index] for key in ("W", "b", "a", "c")]
    opts = file_options(meta)
    readings = (lambda: decode(*net, opts["activation"], classify(*net, **opts)),
                lambda: decode(*net, opts["activation"], slot_evidence(*net, fp, **opts)),
                lambda: quadratic_form(*net, **opts))
    found = []
    for read in readings:
        dec = read()
        if dec is None:
            continue
        found.append(dec)
        if _reproduces(dec) and not dec.get("kept_neurons"):
            break  # it reproduces the network and explains all of it
    else:  # none explains all: the one that reproduces it keeping the fewest neurons as they are (and reading at
        # least one mechanism: the network kept whole reproduces itself and says nothing), else the rules'
        partial = [d for d in found if _reproduces(d) and d["params"].get("served_sides")]
        dec = min(partial, key=lambda d: d["kept_neurons"], default=found[0])
    per_input = dec.get("per_input")
    return {"reading": "quadratic form" if dec["label"] == "quadratic form" else "mechanisms",
            "formula": dec["formula"], "check": dec["check"], "reencoding_error": float(dec["rel_error"]),
            "per_input_error": float(per_input["rel_error"]) if per_input else None,
            "formula_error": float(dec["target_error"]), "network_error": float(dec["network_error"])}


def summarise(files: list[str | Path], distance: float = DISTANCE, **kwargs: Any) -> dict[str, Any]:
    """Fingerprint every network of `files`, cluster them, describe each family.

    Returns {"networks": [{file, index, family, fingerprint, directions, beta?, bits?, rel_mse?, seed}, ...] (files in
    the order given, networks in file order), "families": [{id, name, fingerprint_name, size, fraction, words,
    representative, features, by_beta, by_seed, bits_median, rel_mse_median, decoded, directions}, ...],
    "features": [names], "distance": ...}; `directions` as in docs/directions.md.
    """
    nets: list[dict[str, Any]] = []
    fps: list[dict[str, Any]] = []
    dirs: list[dict[str, Any]] = []
    for path in files:
        arrays, meta = netfile.load(path)
        fps_file = fingerprint_arrays(arrays, meta, **kwargs) if kwargs else readout.fingerprints(path, arrays, meta)
        dirs += (directions.read_many(*(arrays[k] for k in "Wbac"), **file_options(meta, **kwargs)) if kwargs
                 else readout.directions_of(path, arrays, meta))
        for fp in fps_file:
            fps.append(fp)
            nets.append({"file": str(path), "index": fp["index"], "seed": meta.get("seed"),
                         "mode": meta.get("mode"), "task": fp["task"],
                         **{k: fp[k] for k in ("beta", "bits", "rel_mse") if k in fp}})
    X, names = matrix(fps, dirs)
    ids = cluster(X, distance)
    for net, fp, rd, fam in zip(nets, fps, dirs, ids, strict=True):
        net["family"] = f"F{fam + 1}"
        net["fingerprint"] = compact(fp)
        net["fingerprint"]["features"] = features(fp, rd)
        net["directions"] = rd
    families = []
    for fam in range(int(ids.max()) + 1 if len(ids) else 0):
        members = np.flatnonzero(ids == fam)
        rep = int(members[np.argmin(pairwise_distances(X[members]).mean(1))])  # the medoid
        mean = {name: float(X[members, c].mean()) for c, name in enumerate(names)}
        rd = dirs[rep]
        families.append({
            "id": f"F{fam + 1}", "name": rd["words"] if not fps[rep]["near_constant"] else
            f"off the target: {rd['words']}" if directions.moves(rd) else "near-constant",
            "fingerprint_name": _name(mean),
            "size": int(len(members)), "fraction": float(len(members) / len(nets)),
            "words": fps[rep]["words"], "representative": {"file": nets[rep]["file"], "index": nets[rep]["index"]},
            "features": {k: v for k, v in mean.items() if v != 0.0},
            "by_beta": _fractions(nets, ids, fam, "beta"), "by_seed": _fractions(nets, ids, fam, "seed"),
            "bits_median": _median([nets[i].get("bits") for i in members]),
            "rel_mse_median": _median([nets[i].get("rel_mse") for i in members]),
            "decoded": decoded(nets[rep]["file"], nets[rep]["index"], fps[rep]),
            "directions": {"words": rd["words"], **rd["decoded"],
                           "per_direction_error": rd["reencoding"]["network_error"],
                           "effective_neurons": rd["effective_neurons"], "carrying_neurons": rd["carrying_neurons"],
                           "active_neurons": rd["active_neurons"], "rank": rd["rank"]["rank"],
                           "effective_neurons_median": _median([dirs[i]["effective_neurons"] for i in members])},
        })
    return {"networks": nets, "families": families, "features": names, "distance": distance}


def shares(nets: list[dict[str, Any]], family: str, key: str) -> dict[str, float]:
    """The share of `family` among `nets` (a subset of a summary's networks) at each value of `key`."""
    ids = np.array([int(net["family"][1:]) - 1 for net in nets])
    return _fractions(nets, ids, int(family[1:]) - 1, key)


def _fractions(nets: list[dict[str, Any]], ids: np.ndarray, fam: int, key: str) -> dict[str, float]:
    """The fraction of the networks at each value of `key` (beta, seed) that belong to family `fam`."""
    total: dict[str, int] = defaultdict(int)
    hits: dict[str, int] = defaultdict(int)
    for net, f in zip(nets, ids, strict=True):
        if net.get(key) is None:
            continue
        v = f"{net[key]:g}" if isinstance(net[key], float) else str(net[key])
        total[v] += 1
        hits[v] += int(f == fam)
    order = sorted(total, key=lambda v: (0, float(v), "") if _is_number(v) else (1, 0.0, v))
    return {v: hits[v] / total[v] for v in order}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def agreement(summary: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """How the families agree with other labels of the same networks (e.g. `classify`'s on L1): the adjusted
    Rand index, the homogeneity and the table family -> {label: count}."""
    fams = [net["family"] for net in summary["networks"]]
    table: dict[str, Counter] = defaultdict(Counter)
    for f, lab in zip(fams, labels, strict=True):
        table[f][lab] += 1
    # ARI asks for the same partition; homogeneity (1: every family holds one label) asks whether the families
    # refine the labels, which is what they should do where a label (`other`) lumps different mechanisms
    return {"ari": float(adjusted_rand_score(labels, fams)), "homogeneity": float(homogeneity_score(labels, fams)),
            "table": {f: dict(table[f].most_common()) for f in sorted(table, key=lambda s: int(s[1:]))}}


def format_text(summary: dict[str, Any]) -> str:
    """One line per network (file, index, family, fingerprint), then one block per family."""
    lines = [f"{'file':<40} {'net':>4} {'family':<6} fingerprint"]
    for net in summary["networks"]:
        lines.append(f"{net['file'][-40:]:<40} {net['index']:>4} {net['family']:<6} {net['fingerprint']['words']}")
    lines.append("")
    total = len(summary["networks"])
    lines.append(f"{len(summary['families'])} families among {total} networks (distance threshold "
                 f"{summary['distance']:g}):")
    for fam in summary["families"]:
        lines.append(f"{fam['id']}: {fam['size']} networks ({fam['fraction']:.0%}): {fam['name']}")
        dd = fam["directions"]
        lines.append(f"    by direction: {dd['formula']}  (misses {_g(dd['reencoding_error'])} of the representative's "
                     f"variance, {_g(dd['per_direction_error'])} with each direction's own numbers; error on the task "
                     f"{dd['formula_error']:.3g}); effective neurons {dd['effective_neurons']} of "
                     f"{dd['active_neurons']} active, rank {dd['rank']}; fingerprint: {fam['fingerprint_name']}")
        lines.append(f"    representative ({fam['representative']['file']} #{fam['representative']['index']}): "
                     f"{fam['words']}")
        dec = fam["decoded"]
        own = (f", {dec['per_input_error']:.2g} with each input's own numbers"
               if dec.get("per_input_error") is not None and dec["per_input_error"] < dec["reencoding_error"] else "")
        lines.append(f"    computes {dec['formula']}  ({dec['check']}: the formula misses "
                     f"{dec['reencoding_error']:.2g} of the representative's variance{own}; its error on the task "
                     f"{dec['formula_error']:.3g}, the representative's {dec['network_error']:.3g})")
        extra = []
        if fam["rel_mse_median"] is not None:
            extra.append(f"median rel MSE {fam['rel_mse_median']:.3g}")
        if fam["bits_median"] is not None:
            extra.append(f"median bits {fam['bits_median']:.0f}")
        if len(fam["by_beta"]) > 1:
            extra.append("share per beta " + ", ".join(f"{b}: {v:.0%}" for b, v in fam["by_beta"].items()))
        if len(fam["by_seed"]) > 1:
            extra.append("per seed " + ", ".join(f"{s}: {v:.0%}" for s, v in fam["by_seed"].items()))
        if extra:
            lines.append("    " + "; ".join(extra))
    return "\n".join(lines)


def _g(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2g}"


# ---- pictures (for the report) ---------------------------------------------------------------------

def figure_fractions(summary: dict[str, Any]):
    """Each family's share of the networks at each β (all seeds pooled), one line per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for fam in summary["families"]:
        if not fam["by_beta"]:
            continue
        betas = [float(b) for b in fam["by_beta"]]
        ax.plot(betas, list(fam["by_beta"].values()), marker="o", label=f"{fam['id']}: {fam['name']}")
    ax.set_xscale("log")
    ax.set_xlabel("β (price per bit)", fontsize=10)
    ax.set_ylabel("share of the networks", fontsize=10)
    ax.set_ylim(-0.03, 1.03)
    ax.tick_params(labelsize=9)
    if ax.lines:
        ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("families along β" if ax.lines else "families along β (no β recorded in these files)", fontsize=11)
    return fig


def _family_panels(summary: dict[str, Any], max_families: int, width: float, height: float):
    """A figure with one panel per family (the first `max_families`), side by side: (figure, axes, families)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = summary["families"][:max_families]
    fig, axes = plt.subplots(1, max(len(fams), 1), figsize=(width * max(len(fams), 1), height), squeeze=False)
    for ax in axes[0][len(fams):]:
        ax.set_axis_off()
    return fig, axes[0], fams


def figure_representatives(summary: dict[str, Any], max_families: int = 8):
    """The weight heatmap (W, neurons by input and sign, then dense, then dead) of each family's
    representative, side by side, titled with the family id and name."""
    from .draw import neuron_order

    fig, axes, fams = _family_panels(summary, max_families, 3.4, 5)
    for ax, fam in zip(axes, fams, strict=False):
        rep = fam["representative"]
        arrays, meta = netfile.load(rep["file"])
        i = rep["index"]
        fp = fingerprint(arrays["W"][i], arrays["b"][i], arrays["a"][i], arrays["c"][i], **file_options(meta))
        order, _ = neuron_order(fp, arrays["W"].shape[1])
        W = arrays["W"][i][order]
        lim = float(np.abs(W).max()) or 1.0
        ax.imshow(W, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(f"{fam['id']} ({fam['size']})\n{_wrap(fam['name'], 28)}", fontsize=9)
        ax.set_xlabel("input", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def direction_rows(W: np.ndarray, reading: dict[str, Any], top: int = 12) -> tuple[np.ndarray, list[str]]:
    """The representative's shared directions as rows (unit vectors over the inputs, each group's rows sign-aligned
    and averaged), the `top` carrying the most variance, and a label per row: "2 × abs: Σx"."""
    rows, labels = [], []
    for g in reading["directions"][:top]:
        U = W[g["neuron_ids"]] / np.linalg.norm(W[g["neuron_ids"]], axis=1, keepdims=True)
        d = (U * np.sign(U @ U[0])[:, None]).mean(0)
        d /= np.linalg.norm(d) or 1.0
        if d[np.argmax(np.abs(d))] < 0:
            d = -d
        rows.append(d)
        labels.append(f"{g['neurons']} × {g['form']}: {_wrap(g['direction'], 24).splitlines()[0]}")
    return (np.array(rows) if rows else np.zeros((0, W.shape[1]))), labels


def figure_directions(summary: dict[str, Any], max_families: int = 8):
    """Each family representative's shared directions (docs/directions.md), side by side: a row per direction
    (its unit vector over the inputs, red positive, blue negative), labelled with its neurons, 1-D form and words."""
    fig, axes, fams = _family_panels(summary, max_families, 4.2, 5.5)
    for ax, fam in zip(axes, fams, strict=False):
        rep = fam["representative"]
        arrays, _ = netfile.load(rep["file"])
        net = next(n for n in summary["networks"] if n["file"] == rep["file"] and n["index"] == rep["index"])
        D, labels = direction_rows(arrays["W"][rep["index"]], net["directions"])
        if len(D):
            ax.imshow(D, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(labels)), labels, fontsize=9)
        ax.set_xticks([])
        ax.set_xlabel("input", fontsize=9)
        ax.set_title(f"{fam['id']} ({fam['size']})\n{_wrap(fam['name'], 34)}", fontsize=9)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
