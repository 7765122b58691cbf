"""`hyperinterp demo`: the README's main job, from the shipped checkpoints to the report.

The repository ships the hypernetworks of the default sweep (made by `hyperinterp train` or
`hyperinterp sweep`, command and seed in each checkpoint's meta.json; `shipped/figures.json` records
what each reproduces, `scripts/ship_checkpoints.py` made them). The demo copies
them into a sweep folder, where the sweep finds their trainings finished, then samples,
classifies, runs the direct-training baselines, and writes the report. `--from-scratch`
trains every hypernetwork itself (the whole pipeline from nothing; 1 h 24 min on 2 cores, measured 2026-12-02).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import config, executor, sweep
from .errors import UserError
from .report import write_report

SHIPPED = Path(__file__).resolve().parents[2] / "shipped"

# Every mode but `wide`: the default generator makes double-sided at m = 3n, so the width continuation that found
# it under the plain generator (E8) is an ablation now (shipped/experiments/plain/wide, configs/studies/plain.toml).
DEMO_SPEC = sweep.SweepSpec(seeds=(0, 1), count=16, modes=tuple(m for m in sweep.MODES if m != "wide"),
                            per_beta_steps=4000, per_beta_seeds=1, multi_n_seeds=1, direct_seeds=1,
                            direct_steps=4000)


def install_shipped(out: Path, shipped: Path = SHIPPED) -> list[str]:
    """Copy the shipped training runs into the sweep folder (never over an existing run)."""
    copied = []
    if not shipped.is_dir():
        return copied
    for run in sorted(shipped.glob("train/*/*")):
        if not (run / "checkpoints").is_dir():
            continue
        target = out / run.relative_to(shipped)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(run, target)
            copied.append(str(run.relative_to(shipped)))
    return copied


def run(out_dir: str | Path, from_scratch: bool = False, workers: int | None = None) -> Path:
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise UserError(f"parent folder {out.parent} does not exist")
    base = config.Config()
    sweep.prepare(out, DEMO_SPEC, base)  # before copying: a folder of another sweep is refused untouched
    if not from_scratch:
        copied = install_shipped(out)
        if not copied and not (out / "train").is_dir():
            raise UserError(f"no shipped checkpoints in {SHIPPED}: run `hyperinterp demo --from-scratch`")
    executor.run_sweep(out, DEMO_SPEC, base, workers, retries=1)
    return write_report(out)
