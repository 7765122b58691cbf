"""`hyperinterp report SWEEP_DIR`: an HTML report from a sweep's saved artefacts only.

Reads table.json, sweep.json, networks/*.npz (and the checkpoints' meta.json for what each run was
trained on); writes report/index.html, its PNG figures, summary.json, and report/cells/*.html, one
page per final (mode, seed, beta) cell with every network in it.

Per-seed truth comes first: a seed × beta grid of majority labels with counts (each cell linked to
its page), sentences generated from stated rules (`stats.RULES`), per-seed phase portraits;
pooled fractions appear only with the number of seeds and a 95% interval. Examples are chosen by a
stated rule. The pieces: `stats` (what is said), `figures` (the figures and their captions),
`pages` (HTML, examples, cell pages), `families` (the families section).
"""

from __future__ import annotations

import html
import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ..errors import UserError
from ..experiments.sweep import beta_name, load_spec, with_every_label
from ..generate import netfile
from ..read.classify import LABELS
from . import families as report_families
from .figures import (
    STYLE,
    fig_baselines,
    fig_composition,
    fig_concentration,
    fig_fractions,
    fig_frontier,
    fig_generalization,
    fig_phase_portraits,
    ordered_modes,
)
from .pages import cell_page, example_html, figure, page, seed_grid_html, table
from .stats import (
    RULES,
    Cell,
    aggregate,
    cell_files,
    choose_examples,
    composition,
    load_cell,
    order_of,
    run_facts,
    seed_grid,
    seed_sentences,
)

__all__ = ["aggregate", "write_report"]  # aggregate: also used by scripts/results_table.py


def _pooled_rows(agg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pooled table for display: each fraction with its interval, "0.50 [0.05, 0.95]"."""
    out = []
    for a in agg:
        row = {k: a[k] for k in ("mode", "beta", "seeds", "count")}
        for lab in LABELS:
            row[lab] = "" if a[f"frac_{lab}"] is None else \
                f"{a[f'frac_{lab}']:.2f} [{a[f'frac_{lab}_lo']:.2f}, {a[f'frac_{lab}_hi']:.2f}]"
        row["mechanisms"] = a["mechanisms"]
        row.update({k: a[k] for k in ("rel_mse_median", "rel_mse_mean_weights_median", "bits_median",
                                      "active_median", "effective_median", "carrying_median", "loss_median")})
        out.append(row)
    return out


def _read_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    table_file = sweep_dir / "table.json"
    if not table_file.is_file():
        raise UserError(f"{sweep_dir} has no table.json: run the sweep first")
    rows = json.loads(table_file.read_text())
    if not rows:
        raise UserError(f"{table_file} holds no finished cells")
    return with_every_label(rows)


def _page_job(path: Path, out: Path, betas: tuple[float, ...], fams: list[str],
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Classify one saved cell (or reuse its saved read-out) and write its page (run in a worker process
    when there are many)."""
    with plt.rc_context(STYLE):
        cell = load_cell(path, betas)
        return cell.results, cell_page(cell, out, fams)


# Below this many networks the cells are done in this process: starting workers costs more than it saves.
PARALLEL_MIN_DRAWS = 256


def cells_and_pages(sweep_dir: Path, out: Path, betas: tuple[float, ...], count: int, workers: int | None,
                    fams: dict[str, list[str]] | None = None) -> tuple[list[Cell], list[dict[str, Any]]]:
    """Every saved final cell, classified, with its page written: classifying ~1,000 networks and drawing
    them is most of the report's time, so it is spread over `workers` processes (None: the cores, up to 4).
    `fams`: each file's networks' family ids, shown on its page."""
    paths = cell_files(sweep_dir)
    fam_lists = [(fams or {}).get(str(p), []) for p in paths]
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if len(paths) * count >= PARALLEL_MIN_DRAWS else 1
    if workers > 1 and len(paths) > 1:
        with ProcessPoolExecutor(min(workers, len(paths)), mp_context=mp.get_context("spawn")) as pool:
            done = list(pool.map(_page_job, paths, repeat(out), repeat(betas), fam_lists))
    else:
        done = [_page_job(p, out, betas, f) for p, f in zip(paths, fam_lists, strict=True)]
    cells = [load_cell(p, betas, results) for p, (results, _) in zip(paths, done, strict=True)]
    modes = ordered_modes(c.mode for c in cells)
    order = sorted(range(len(cells)), key=lambda i: (modes.index(cells[i].mode), cells[i].seed, cells[i].beta))
    return [cells[i] for i in order], [done[i][1] for i in order]


def write_report(sweep_dir: str | Path, out_dir: str | Path | None = None, workers: int | None = None) -> Path:
    """Write the report of a finished (or partly finished) sweep; returns the path of index.html.
    `workers`: processes for the cells (None: automatic)."""
    sweep_dir = Path(sweep_dir)
    spec, base = load_spec(sweep_dir)
    rows = _read_rows(sweep_dir)
    out = Path(out_dir) if out_dir else sweep_dir / "report"
    if not out.parent.is_dir():
        raise UserError(f"parent folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    with plt.rc_context(STYLE):
        return _write(sweep_dir, out, spec, base, rows, workers)


def _write(sweep_dir: Path, out: Path, spec, base, rows: list[dict[str, Any]], workers: int | None) -> Path:
    sweep_rows = [r for r in rows if r["kind"] == "sweep"]
    # the pooled label fractions and the sentences read the cells of tasks with named labels (L1's rules); every other
    # figure, the grid, the families and the tables show every task (its majority mechanism where it has no labels)
    named_sweep = [r for r in sweep_rows if r.get("majority") is not None]
    gen_rows = [r for r in rows if r["kind"] == "generalization"]
    agg_all = aggregate(sweep_rows, ("mode", "beta"))  # every task; a (mode, beta) holds one task's cells
    agg_sweep = [a for a in agg_all if a["majority"] is not None]
    fam_summary = report_families.summarise(cell_files(sweep_dir))
    cells, cell_records = cells_and_pages(sweep_dir, out / "cells", spec.betas, spec.count, workers,
                                          fam_summary["by_file"])
    fam_html, fam_record = report_families.section(cells, fam_summary, out)
    facts = run_facts(sweep_dir, cells)
    grid, named_grid = seed_grid(sweep_rows), seed_grid(named_sweep)
    comp = composition(cells)
    figs = {"phase": fig_phase_portraits(rows, out), "fractions": fig_fractions(agg_sweep, named_sweep, out),
            "composition": fig_composition(comp, out), "frontier": fig_frontier(sweep_rows, out),
            "concentration": fig_concentration(sweep_rows, out),
            "generalization": fig_generalization(gen_rows, facts, out),
            "baselines": fig_baselines(sweep_rows, facts, out)}
    pages = {(c.mode, c.seed, c.beta): c.page for c in cells}
    examples = [example_html(c, lab, k, out, c.page) for c, lab, k in choose_examples(cells)]
    sentences = {mode: seed_sentences(mode, named_grid[mode]) for mode in ordered_modes(named_grid) if mode != "adam"}
    orders = {mode: {seed: order_of(cells_) for seed, cells_ in named_grid[mode].items()} for mode in sentences}

    summary = {"rules": RULES, "sentences": sentences, "order": orders,
               "examples": [rec for _, rec in examples], "cells": cell_records, "by_mode_beta": agg_sweep,
               "generalization": gen_rows, "composition": comp, "runs": facts, "families": fam_record,
               "figures": {key: {"file": f.file, "caption": f.caption} for key, f in figs.items() if f}}
    netfile.atomic_write(out / "summary.json", lambda fh: fh.write(json.dumps(summary, indent=1).encode()))
    netfile.atomic_write(out / "index.html", lambda fh: fh.write(
        page(f"hyperinterp report: {sweep_dir.name}", _index(spec, base, figs, grid, pages, sentences, examples,
                                                              agg_all, gen_rows, comp, facts, fam_html))))
    return out / "index.html"


def _index(spec, base, figs, grid, pages, sentences, examples, agg_all, gen_rows, comp, facts, fam_html) -> str:
    cfg = base.to_dict()
    pooled_rows = _pooled_rows(agg_all)
    rules = "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>" for k, v in RULES.items())
    said = "".join(f"<li>{html.escape(s)}</li>" for mode in sentences for s in sentences[mode])
    runs = "; ".join(f"{mode}: seeds {', '.join(map(str, f['seeds']))}, "
                     + "/".join(f"{s:,}" for s in f["steps"]) + " steps"
                     + (f", continued from {', '.join(f['continued_from'])}" if f["continued_from"] else "")
                     for mode, f in facts.items())
    ex_html = "".join(body for body, _ in examples) or "<p>No network received one of the four algorithm labels.</p>"
    gen_cols = ["mode", "seed", "beta", "n", "m", "count", "task", "mechanism", "frac_mechanism", "majority",
                *[f"frac_{lab}" for lab in LABELS], "rel_mse_median", "carrying_median"]
    return f"""
<h1>Hypernetwork sweep: {html.escape(base.task.name)} (n={base.task.n}, m={base.task.m}, {base.task.activation})</h1>
<p>Prior <b>{cfg['budget']['prior']}</b>, beta grid {', '.join(beta_name(b) for b in spec.betas)}, {len(spec.seeds)}
seed(s), K = {spec.count} draws per cell, modes {', '.join(spec.modes)}. Runs: {html.escape(runs)}.
Statistics count <i>draws</i> of the generated distribution (what the objective scores); the MSE of the mean
networks is in the tables.</p>
<p>Sections: <a href="#rules">rules</a> · <a href="#grid">per seed</a> · <a href="#phases">phases</a> ·
<a href="#pooled">pooled</a> · <a href="#composition">inputs</a> · <a href="#frontier">frontier</a> ·
<a href="#concentration">neurons</a> · <a href="#examples">examples</a> · <a href="#families">families</a> ·
<a href="#generalization">generalization</a> · <a href="#baselines">baselines</a> ·
<a href="#tables">tables</a></p>
<h2 id="rules">How this page summarises</h2><ul class="rules">{rules}</ul>
<h2 id="grid">Per seed: the label of every (seed, beta) cell</h2>
<p>Majority label and its count out of K per seed and beta (rule <b>seed</b>); for a task without named labels, the
majority mechanism by direction (e.g. <code>all:abs</code>: double-sided along Σx) and its count; click a cell for its
networks.</p>
{seed_grid_html(grid, pages)}
<p>What the grid says, sentence by sentence (rules <b>span</b>, <b>agree</b>, <b>order</b>):</p><ul>{said}</ul>
<h2 id="phases">Phases over training, per seed</h2>
{figure(figs['phase'], 'phase portraits', 'phase diagram (range mode)')}
<h2 id="pooled">Pooled over seeds</h2>{figure(figs['fractions'], 'pooled label fractions')}
<h2 id="composition">How each input is served</h2>
<p>Labels are strict: a network serving most inputs with a ± pair and a few with one side plus a linear term is a
hybrid (<code>other</code>). The share of inputs served by each mechanism shows them, per seed:</p>
{figure(figs['composition'], 'input composition')}
<h2 id="frontier">Bits-accuracy frontier</h2>{figure(figs['frontier'], 'frontier')}
<h2 id="concentration">Concentration: how many neurons carry the computation</h2>
{figure(figs['concentration'], 'concentration')}
<h2 id="examples">Examples, chosen by rule</h2><p>{html.escape(RULES['example'])}</p>{ex_html}
<h2 id="families">Families found without labels (any task)</h2>{fam_html}
<h2 id="generalization">Systematic generalization</h2>{figure(figs['generalization'], 'generalization')}
{table(gen_rows, gen_cols)}
<h2 id="baselines">Baselines: direct training</h2>{figure(figs['baselines'], 'baselines')}
<h2 id="tables">Tables</h2><p>Pooled over seeds (rule <b>pooled</b>): each label's share with its 95% interval,
medians over seeds of each cell's median; for a task without named labels, its seeds' majority mechanisms.</p>
{table(pooled_rows, list(pooled_rows[0]) if pooled_rows else [])}
<p>Input composition per cell:</p>
{table(comp, ['mode', 'seed', 'beta', 'networks', 'pair_share', 'pos_only_share', 'neg_only_share', 'none_share'])}
<p>Every cell: <a href="../table.csv">table.csv</a>, <a href="../table.json">table.json</a>;
this page's numbers and rules: <a href="summary.json">summary.json</a>.</p>"""
