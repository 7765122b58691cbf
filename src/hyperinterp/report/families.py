"""The report's families section, for any task: every saved network clustered by its fingerprint
(`families.summarise`, reading the sweep's saved read-outs), shown per seed first — a (mode, seed) × beta
grid of each cell's majority family with its count, linked to the cell's page — then each family named
by its fingerprint, with its representative's weights, its share along beta, bits and accuracy, and
(on L1) how the families match the rule-based labels."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ..experiments.sweep import beta_name
from ..read import families
from .figures import Figure, _save, ordered_modes
from .pages import figure, table
from .stats import Cell

BASELINE_MODES = ("direct", "adam")


def family_colour(fid: str) -> str:
    r, g, b, _ = plt.get_cmap("tab10")((int(fid[1:]) - 1) % 10)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}55"


def summarise(paths: list[Path]) -> dict[str, Any]:
    """The families of these files, plus `by_file`: each file's networks' family ids in file order."""
    summary = families.summarise(paths)
    by_file: dict[str, list[str]] = defaultdict(list)
    for net in summary["networks"]:
        by_file[net["file"]].append(net["family"])
    return {**summary, "by_file": dict(by_file)}


def grid_html(cells: list[Cell], summary: dict[str, Any]) -> str:
    betas = sorted({c.beta for c in cells})
    head = "<th>mode</th><th>seed</th>" + "".join(f"<th>{'no beta' if b == 0 else beta_name(b)}</th>" for b in betas)
    rows: dict[tuple[str, int], dict[float, Cell]] = defaultdict(dict)
    for c in cells:
        rows[(c.mode, c.seed)][c.beta] = c
    modes = ordered_modes(m for m, _ in rows)
    body = []
    for mode, seed in sorted(rows, key=lambda k: (modes.index(k[0]), k[1])):
        tds = []
        for beta in betas:
            c = rows[(mode, seed)].get(beta)
            if c is None:
                tds.append("<td></td>")
                continue
            (fid, count), *_ = Counter(summary["by_file"][str(c.path)]).most_common(1)
            tds.append(f"<td style='background:{family_colour(fid)}'><a href='cells/{c.page}'>{fid} "
                       f"{count}/{len(c.results)}</a></td>")
        body.append(f"<tr><td>{mode}</td><td>{seed}</td>{''.join(tds)}</tr>")
    return (f"<div class='scroll'><table class='grid'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _where(net: dict[str, Any], cells: dict[str, Cell]) -> str:
    c = cells[net["file"]]
    return f"{c.mode} seed {c.seed}, beta {beta_name(c.beta)}, draw #{net['index']}"


def section(cells: list[Cell], summary: dict[str, Any], out: Path) -> tuple[str, dict[str, Any]]:
    """The section's HTML and its record for summary.json."""
    by_path = {str(c.path): c for c in cells}
    fams = summary["families"]
    reps = {f["id"]: next(n for n in summary["networks"] if n["file"] == f["representative"]["file"]
                          and n["index"] == f["representative"]["index"]) for f in fams}
    on_l1 = all(c.meta.get("task", "l1") == "l1" for c in cells)
    # the rule label of every network, in the summary's order (files as clustered, networks in file order)
    labels = [by_path[net["file"]].results[net["index"]]["label"] for net in summary["networks"]]
    agree = families.agreement(summary, labels) if on_l1 else None
    rows = []
    for f in fams:
        row = {"family": f["id"], "name": f["name"], "networks": f"{f['size']} ({f['fraction']:.0%})",
               "representative (in words)": f["words"], "bits (median)": f["bits_median"],
               "MSE/Var(y) (median)": f["rel_mse_median"], "representative": _where(reps[f["id"]], by_path),
               "what it computes (the representative decoded)": f["decoded"]["formula"],
               "formula vs representative (share of its variance missed)": f["decoded"]["reencoding_error"],
               "… with each input's own numbers": f["decoded"].get("per_input_error"),
               "formula's MSE/Var(y)": f["decoded"]["formula_error"]}
        if agree:
            row["rule labels of its members"] = ", ".join(f"{k} {v}" for k, v in agree["table"][f["id"]].items())
        rows.append(row)

    figs = {}
    hyper = [n for n in summary["networks"] if by_path[n["file"]].mode not in BASELINE_MODES]
    main_mode = next((m for m in ordered_modes(by_path[n["file"]].mode for n in hyper)), None)
    if main_mode is not None:  # shares along beta in one mode: pooling modes would mix different generators
        nets = [n for n in hyper if by_path[n["file"]].mode == main_mode]
        mode_cells = [c for c in cells if c.mode == main_mode]
        shown = {**summary, "families": [{**f, "by_beta": families.shares(nets, f["id"], "beta")} for f in fams]}
        figs["fractions"] = Figure(
            _save(families.figure_fractions(shown), out / "families_fractions.png"),
            f"Each family's share of the {main_mode} networks at each beta: {len(nets)} networks, "
            f"{len({c.seed for c in mode_cells})} seed(s) pooled, {len(mode_cells[0].results)} draws per seed and "
            f"beta; the grid above shows each seed on its own.",
            {f["id"]: list(f["by_beta"].values()) for f in shown["families"] if f["by_beta"]})
    fig = families.figure_representatives(summary)
    figs["representatives"] = Figure(
        _save(fig, out / "families_representatives.png"),
        f"The input weights W of each family's representative (the member nearest the others), up to 8 families, "
        f"rows ordered one-input neurons by (input, sign), then dense, then inactive; red positive, blue negative, "
        f"each panel on its own scale. Family sizes in brackets; {len(summary['networks'])} networks in all.", {})
    fig = families.figure_directions(summary)
    figs["directions"] = Figure(
        _save(fig, out / "families_directions.png"),
        f"The shared directions of each family's representative (docs/directions.md), up to 8 families: a row per "
        f"direction, the unit vector its neurons read (sign-aligned, averaged), red positive, blue negative; "
        f"labelled with its neurons, the 1-D function along it and its words (e.g. '2 × abs: Σx'), the 12 carrying "
        f"the most variance. Each family's name says its mechanism; {len(summary['networks'])} networks in all.",
        {f["id"]: [g["neurons"] for g in reps[f["id"]]["directions"]["directions"]] for f in fams})
    plt.close("all")
    ari = (f"<p>On L1 the families against the rule-based labels, over these {len(summary['networks'])} networks: "
           f"adjusted Rand index <b>{agree['ari']:.2f}</b> (1 = the same partition) and homogeneity "
           f"<b>{agree['homogeneity']:.2f}</b> (1 = every family holds a single label: the families refine the labels, "
           f"as they should where `other` lumps different mechanisms); the table's last column shows which labels each "
           f"family's members carry.</p>" if agree else "")
    body = f"""
<p>Every saved network (all modes, seeds and beta) described by its fingerprint — what its neurons do on data:
one-input neurons by input and sign, dense neurons by regime, output signs, coverage of inputs — and clustered
without hand-written rules (average linkage, distance threshold {summary['distance']:g}: the data choose the number
of families; hybrids stay apart). {len(fams)} families among {len(summary['networks'])} networks. Per seed first:
each cell's majority family and its count; click a cell for its networks (their family is in the cell's table).</p>
{grid_html(cells, summary)}
{table(rows, list(rows[0]) if rows else [])}
{ari}
{figure(figs.get('fractions'), 'family shares along beta')}
{figure(figs['representatives'], 'family representatives')}
{figure(figs['directions'], 'family directions')}"""
    record = {"distance": summary["distance"], "families": fams, "agreement_with_rules": agree,
              "figures": {k: {"file": f.file, "caption": f.caption} for k, f in figs.items()}}
    return body, record
