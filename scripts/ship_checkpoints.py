"""Copy the demo's trainings out of a finished sweep folder into shipped/, with recorded figures.

    .venv/bin/python scripts/ship_checkpoints.py runs/main

Replaces shipped/train with, from SWEEP/train, every hypernetwork the demo's sweep trains (sweep.plan(DEMO_SPEC):
today range seeds 0..15, seeds 0 and 1 with the checkpoints the phase portraits read, its named trainings, and
per_beta seed 0; final checkpoints). Each checkpoint's meta.json keeps the command and seed that made it.
shipped/figures.json records, per final checkpoint, the median relative error and bits of 16 draws at each beta of
the demo grid (its entries for shipped/experiments are kept); tests/test_shipped.py reproduces them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from hyperinterp.experiments import sweep
from hyperinterp.experiments.demo import DEMO_SPEC, SHIPPED
from hyperinterp.generate import checkpoint
from hyperinterp.generate.sample import load_model, sample


def recorded_figures(run: Path) -> dict:
    model, cfg, meta = load_model(run)
    betas = DEMO_SPEC.betas if cfg.budget.beta_mode == "range" else (cfg.budget.beta,)
    out = {"checkpoint_step": meta["step"], "command": meta.get("command"), "seed": meta["seed"], "cells": []}
    for beta in betas:
        arrays, _ = sample(model, cfg, beta, cfg.task.n, cfg.task.width(cfg.task.n), 16, 0)
        out["cells"].append({"beta": beta, "rel_mse_median": float(np.median(arrays["rel_mse"])),
                             "bits_median": float(np.median(arrays["bits"]))})
    return out


def demo_runs(sweep_dir: Path) -> list[Path]:
    """The run folders of the demo's hypernetwork trainings (the baselines train none), per_beta last: the order
    figures.json has always had."""
    runs = [sweep.run_folder(sweep_dir, job) for job in sweep.plan(DEMO_SPEC) if job.mode not in ("direct", "adam")]
    return [r for r in runs if r.parent.name != "per_beta"] + sorted(r for r in runs if r.parent.name == "per_beta")


PHASE_SEEDS = (0, 1)  # the range seeds shipped with their history (the others' checkpoints would be 8x the size)


def main(sweep_dir: str) -> None:
    src = Path(sweep_dir) / "train"
    runs = demo_runs(src.parent)
    missing = [str(r) for r in runs if not checkpoint.list_steps(r)]
    if missing:
        sys.exit(f"ship_checkpoints: no checkpoints in {missing[0]}")
    shutil.rmtree(SHIPPED / "train", ignore_errors=True)  # only the demo's runs: shipped/experiments stays
    record = SHIPPED / "figures.json"
    figures = {k: v for k, v in json.loads(record.read_text()).items() if not k.startswith("train/")} \
        if record.exists() else {}
    for run in runs:
        steps = [p for p in checkpoint.list_steps(run)]
        along = run.parent.name == "range" and int(run.name.rsplit("_", 1)[1]) in PHASE_SEEDS
        keep = set(sweep._phase_steps(run, DEMO_SPEC.phase_points)) if along else set()
        keep.add(checkpoint.step_of(steps[-1]))
        dest = SHIPPED / run.relative_to(src.parent)
        for p in steps:
            if checkpoint.step_of(p) in keep:
                shutil.copytree(p, dest / "checkpoints" / p.name)
        for f in ("config.json", "metrics.jsonl", "summary.json"):
            if (run / f).exists():
                shutil.copy(run / f, dest / f)
        figures[str(run.relative_to(src.parent))] = recorded_figures(dest)
    record.write_text(json.dumps(figures, indent=1))
    print(f"shipped {len(runs)} runs to {SHIPPED / 'train'}")


if __name__ == "__main__":
    main(sys.argv[1])
