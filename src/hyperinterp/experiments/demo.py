"""`hyperinterp demo`: the README's main job, from the shipped checkpoints to the report.

The repository ships the hypernetworks of the default sweep (made by `hyperinterp train` or
`hyperinterp sweep`, command and seed in each checkpoint's meta.json; `shipped/figures.json` records
what each reproduces, `scripts/ship_checkpoints.py` made them). The demo copies
them into a sweep folder, where the sweep finds their trainings finished, then samples,
classifies, runs the direct-training baselines, and writes the report. `--from-scratch`
trains every hypernetwork itself (the whole pipeline from nothing; not timed as one run since E30 became the
default: its range seeds took 16 min each two at a time, E24's multi-n model 24 min uncompiled beside another
training, the per-beta models, baselines, sampling and report 36 min, beside a multi-n training).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import UserError
from ..report.build import write_report
from . import executor, study, sweep

# The package is installed editable from the repository (Makefile: pip install -e): its data (shipped/, configs/)
# lies beside src/, not inside the package.
REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "shipped"
DEMO_STUDY = REPO / "configs" / "studies" / "demo.toml"

# The study file is the demo's single statement: modes range, per_beta and the baselines with the default generator
# (E76; its 16 range seeds were trained compiled in stacks of 8, notebook E76); over sizes the E24 generator, as the
# named training `multi_n_e24` shipped in shipped/train (notebook E31, E33).
DEMO_SPEC, DEMO_BASE, _ = study.load(DEMO_STUDY)


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
    base = DEMO_BASE
    sweep.prepare(out, DEMO_SPEC, base)  # before copying: a folder of another sweep is refused untouched
    if not from_scratch:
        copied = install_shipped(out)
        if not copied and not (out / "train").is_dir():
            raise UserError(f"no shipped checkpoints in {SHIPPED}: run `hyperinterp demo --from-scratch`")
    executor.run_sweep(out, DEMO_SPEC, base, workers, retries=1)
    return write_report(out)
