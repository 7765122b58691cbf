"""The beta sweep: trainings and their evaluation cells, run as independent jobs.

Layout of a sweep folder (everything the report reads is here):

  sweep.json                    the spec and base config (a rerun must match it)
  train/<mode>/seed_<s>[...]    one training run per job (checkpoints, metrics)
  cells/<job>.json              the table rows of one finished job, written atomically
  networks/<job>/beta_<b>.npz   the K networks of each final (beta, seed) cell
  table.csv, table.json         every row of every finished job (tidy: one row per cell)

A job is one training (plus its evaluation) or one baseline. A finished job has its cell
file; rerunning the sweep skips it, and resumes an unfinished training from its last
checkpoint. Jobs run in local processes, or as Ray tasks (`executor.py`).

Modes:
  range     one beta-conditioned hypernetwork per seed, evaluated at every beta of the grid,
            at checkpoints along training (phases), and at other n (generalization)
  per_beta  one fixed-beta hypernetwork per (beta, seed)
  direct    log MSE + beta * bits optimised on the target weights directly, per (beta, seed)
  adam      plain Adam on the target weights, no budget, per seed

Beyond the modes, a sweep holds named `trainings` (from a study file, `study.py`): each is the base
configuration plus its own overrides, trained per seed (optionally continuing another training of the
same seed) and evaluated like `range`. A generator variant or an ablation is such a training, not code: training
over several input sizes and its wider continuation (once the modes multi_n and wide) are the study
configs/studies/multi_n.toml.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import threads
from ..errors import UserError
from ..generate import checkpoint, netfile, tasks
from ..generate.config import Config, from_dict
from ..read import directions, readout
from ..read.classify import LABELS, classify_arrays

DEFAULT_BETAS = (1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2)
GENERALIZATION_SIZES = (2, 4, 8, 12, 16, 20, 24, 32, 48, 64)
MODES = ("range", "per_beta", "direct", "adam")
# Modes retired into study files: a new sweep asking for one is told the file; a saved sweep's spec still reads
RETIRED_MODES = {"multi_n": "configs/studies/multi_n.toml", "wide": "configs/studies/multi_n.toml"}
RETIRED_SPEC_KEYS = ("multi_n_seeds", "wide_steps")  # their settings: in the study file now
PAPER_SEEDS = 33
# Every task's columns: its networks' majority mechanism by direction (directions.key) and its share (every cell of a
# task without named labels; a labelled task's final cells), error, bits, neurons; then the L1 rules' label columns,
# which only a task with named labels fills (tasks.has_labels)
COLUMNS = ("kind", "mode", "seed", "beta", "step", "n", "m", "count", "task", "mechanism", "frac_mechanism",
           *(f"frac_{lab}" for lab in LABELS), "majority", "rel_mse_median", "rel_mse_mean_weights_median",
           "mse_median", "bits_median",
           "active_median", "effective_median", "carrying_median", "loss_median")


@dataclass(frozen=True)
class SweepSpec:
    betas: tuple[float, ...] = DEFAULT_BETAS
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    count: int = 16                       # K sampled networks per (beta, seed) cell
    modes: tuple[str, ...] = MODES
    steps: int | None = None              # training steps of range (None: the config's)
    per_beta_steps: int | None = None     # per_beta runs are many: often shorter
    direct_steps: int = 4000
    phase_points: int = 8                 # checkpoints evaluated along training
    generalization_sizes: tuple[int, ...] = GENERALIZATION_SIZES
    generalization_betas: tuple[float, ...] = (1e-6, 1e-4)
    per_beta_seeds: int | None = None     # None: every seed
    direct_seeds: int | None = None       # the baselines (direct, adam) on the first seeds only (None: every seed)
    sample_seed: int = 0
    # named trainings: {"name", "seeds", "set": {"section.key": value}, "init_from": a training of this sweep
    # or range, continued per seed ("" for none), "phases": bool, "generalization": bool}; see study.py
    trainings: tuple[dict[str, Any], ...] = ()

    def validate(self) -> None:
        for b in (*self.betas, *self.generalization_betas):
            if not (math.isfinite(b) and b > 0):
                raise UserError(f"every beta must be a finite number > 0, got {b}")
        if len(self.betas) < 1 or len(self.seeds) < 1:
            raise UserError("a sweep needs at least one beta and one seed")
        unknown = [m for m in self.modes if m not in MODES]
        if unknown and unknown[0] in RETIRED_MODES:
            raise UserError(f"sweep mode {unknown[0]!r} is a study now: hyperinterp study "
                            f"{RETIRED_MODES[unknown[0]]} OUT_DIR")
        if unknown:
            raise UserError(f"unknown sweep mode {unknown[0]!r} (known: {', '.join(MODES)})")
        if self.count < 1 or self.phase_points < 1 or any(n < 1 for n in self.generalization_sizes):
            raise UserError("count, phase_points and every generalization size must be >= 1")
        names: list[str] = []
        for t in self.trainings:
            name = t["name"]
            if name in MODES or name in names or not name.replace("_", "").isalnum():
                raise UserError(f"training name {name!r} must be a new identifier (not a mode: {', '.join(MODES)})")
            if t["init_from"] and t["init_from"] not in (*names, "range"):
                raise UserError(f"training {name!r}: init_from {t['init_from']!r} is not a training defined before it "
                                f"(or range)")
            names.append(name)


def beta_name(beta: float) -> str:
    """β as it names folders, files and pages: 1e-03 (one digit, the names shipped data already has), or as many
    digits as tell it from its neighbours (1.2e-03): the shortest exponent form that reads back as the same float."""
    for digits in range(17):  # 17 significant digits read back as any float
        text = f"{beta:.{digits}e}"
        if float(text) == beta:
            return text
    return f"{beta:.0e}"  # nan, inf: no digits tell them apart anyway


@dataclass(frozen=True)
class Job:
    mode: str
    seed: int
    beta: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.mode}_seed{self.seed}" + (f"_beta{beta_name(self.beta)}" if self.beta is not None else "")


def plan(spec: SweepSpec) -> list[Job]:
    """Every job of the sweep, in a fixed order."""
    jobs: list[Job] = []
    per_beta_seeds = spec.seeds[: spec.per_beta_seeds] if spec.per_beta_seeds else spec.seeds
    baseline_seeds = spec.seeds[: spec.direct_seeds or len(spec.seeds)]
    for mode in spec.modes:
        if mode == "range":
            jobs += [Job(mode, s) for s in spec.seeds]
        elif mode in ("per_beta", "direct"):
            seeds = per_beta_seeds if mode == "per_beta" else baseline_seeds
            jobs += [Job(mode, s, b) for b in spec.betas for s in seeds]
        elif mode == "adam":
            jobs += [Job(mode, s) for s in baseline_seeds]
    for t in spec.trainings:
        jobs += [Job(t["name"], s, extra=t) for s in t["seeds"]]
    return jobs


def waves(jobs: list[Job]) -> list[list[Job]]:
    """Jobs in the order they may run: a continuation starts in the wave after the run it continues."""
    depth: dict[str, int] = {}
    for job in jobs:  # trainings come after the modes, each after its init_from (checked by validate)
        init = job.extra.get("init_from")
        depth.setdefault(job.mode, 1 + depth.get(init, 0) if init else 0)
    top = max((depth[j.mode] for j in jobs), default=0)
    return [w for w in ([j for j in jobs if depth[j.mode] == d] for d in range(top + 1)) if w]


def training_overrides(spec: SweepSpec, training: dict[str, Any]) -> dict[str, Any]:
    """A named training's overrides: those of the training it continues (a continuation keeps the
    generator's shape and settings), then its own."""
    named = {t["name"]: t for t in spec.trainings}
    source = named.get(training["init_from"])
    return {**(training_overrides(spec, source) if source else {}), **training["set"]}


def job_config(base: Config, spec: SweepSpec, job: Job) -> Config:
    """The training configuration of one job: the base, its seed, one thread (reproducible)."""
    optim = {"seed": job.seed, "threads": 1}
    budget: dict[str, Any] = {}
    if job.mode == "range" and spec.steps:
        optim["steps"] = spec.steps
    if job.mode == "per_beta":
        budget = {"beta_mode": "fixed", "beta": job.beta}
        if spec.per_beta_steps:
            optim["steps"] = spec.per_beta_steps
    # a named training: its overrides, then its seed; init_from names a run of this sweep
    overrides = training_overrides(spec, job.extra) if job.extra else {}
    steps = optim.get("steps", overrides.get("optim.steps", base.optim.steps))
    hyper: dict[str, Any] = {}
    if base.hyper.skip_until and steps != base.optim.steps and "hyper.skip_until" not in overrides:
        # a shorter (per_beta) or longer training, a mode's or a named one's, decays the skip over the same share of
        # its own steps (E32 set it by hand)
        hyper["skip_until"] = max(1, round(base.hyper.skip_until * steps / base.optim.steps))
    d = base.to_dict()
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        d.setdefault(section, {})[name] = value
    if job.extra and job.extra["init_from"]:  # relative to the sweep folder (see _train): the same record in any sweep
        optim["init_from"] = f"train/{job.extra['init_from']}/seed_{job.seed}"
    for section, values in (("optim", optim), ("budget", budget), ("hyper", hyper)):
        d[section] = {**d[section], **values}
    return from_dict(d)


# ---------------------------------------------------------------- evaluation of one cell

def cell_row(arrays: dict[str, np.ndarray], results: list[dict[str, Any]], readings: list[dict[str, Any]],
             **keys: Any) -> dict[str, Any]:
    """One table row from K networks, their classifications and their readings by direction."""
    task = results[0]["task"]
    mechanisms = [directions.key(rd) for rd in readings]
    mechanism = max(dict.fromkeys(mechanisms), key=mechanisms.count) if mechanisms else None  # ties: the first drawn
    labels = [r["label"] for r in results]
    named = {}
    if tasks.has_labels(task):
        named = {f"frac_{lab}": labels.count(lab) / len(labels) for lab in LABELS}
        named["majority"] = max(LABELS, key=lambda lab: (labels.count(lab), -LABELS.index(lab)))
    beta = float(arrays["beta"][0])
    with np.errstate(divide="ignore"):
        loss = np.log(arrays["mse"].astype(float)) + beta * arrays["bits"].astype(float)
    row = {**keys, "count": len(labels), "task": task, "mechanism": mechanism,
           "frac_mechanism": mechanisms.count(mechanism) / len(mechanisms) if mechanisms else None, **named,
           "rel_mse_median": float(np.median(arrays["rel_mse"])),
           "rel_mse_mean_weights_median": float(np.median(arrays["rel_mse_mean"])) if "rel_mse_mean" in arrays
           else float("nan"),
           "mse_median": float(np.median(arrays["mse"])), "bits_median": float(np.median(arrays["bits"])),
           "active_median": float(np.median([r["n_active"] for r in results])),
           # the fewest neurons that reproduce 95% of the output's variance (measure.counts_of): concentration
           "effective_median": float(np.median([r["n_effective"] for r in results])),
           # ... and the fewest of its own neurons, unchanged, that do (measure.counts_of): spread
           "carrying_median": float(np.median([r["n_carrying"] for r in results])),
           "loss_median": float(np.median(loss))}
    return {c: row.get(c) for c in COLUMNS}


def sample_cell(model, cfg: Config, beta: float, n: int, m: int, count: int, seed: int,
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """K draws at beta, plus the fresh-data error of their mean networks (DESIGN §4: both count)."""
    from ..generate.sample import sample

    return sample(model, cfg, beta, n, m, count, seed, weights="draw", mean_error=True)


def _phase_steps(run_dir: Path, points: int) -> list[int]:
    steps = [checkpoint.step_of(p) for p in checkpoint.list_steps(run_dir)]
    steps = [s for s in steps if s > 0]
    if len(steps) <= points:
        return steps
    if points <= 1:  # the final checkpoint alone (geomspace would give the first)
        return steps[-1:]
    idx = np.unique(np.round(np.geomspace(1, len(steps), points)).astype(int) - 1)
    return [steps[i] for i in idx]


def run_folder(out: Path, job: Job) -> Path:
    return out / "train" / job.mode / (f"seed_{job.seed}" if job.beta is None
                                       else f"beta_{beta_name(job.beta)}_seed_{job.seed}")


def _trained(cfg: Config, run_dir: Path) -> bool | None:
    """True if run_dir holds this configuration's run to its last step, False if part of it (to resume), None
    if nothing; a run of another configuration is an error. The newest undamaged checkpoint counts: a damaged
    one (a crash, a bad disk) is retrained, not fatal."""
    if not checkpoint.list_steps(run_dir):
        return None
    latest = checkpoint.load_latest(run_dir)
    if latest is None:
        return False
    if from_dict(latest[3]["config"], stored=True) != cfg:
        raise UserError(f"{run_dir} holds a run with another configuration: remove it or use another sweep folder")
    return latest[3]["step"] >= cfg.optim.steps


def _init_root(out: Path, job: Job) -> Path | None:
    """A named training's init_from names a run inside the sweep; a base config's is the user's path."""
    return out if job.extra.get("init_from") else None


@contextlib.contextmanager
def _training_lock(run_dir: Path):
    """One process at a time trains a run folder: a retried job beside an attempt still running on another worker, or
    two sweeps of one folder, may train the same run, and two writers replacing one checkpoint let a reader take the
    one before it as the latest. The lock dies with its process, so a killed worker frees it."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} is a file")
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _train(cfg: Config, run_dir: Path, init_root: Path | None = None) -> None:
    from ..generate.train import train

    if _trained(cfg, run_dir):
        return
    with _training_lock(run_dir):
        trained = _trained(cfg, run_dir)  # again: another worker may have trained it while we waited
        if not trained:
            train(cfg, run_dir, resume=trained is not None, progress=False, command="hyperinterp sweep",
                  init_root=init_root)


@dataclass(frozen=True)
class Pack:
    """Jobs of one training (and beta) whose hypernetworks train together as one stacked computation
    (`sweep --pack`, batched.py) before the jobs run: each job then finds its run finished and only samples."""

    jobs: tuple[Job, ...]

    @property
    def mode(self) -> str:
        return self.jobs[0].mode

    @property
    def name(self) -> str:
        first = self.jobs[0]
        return f"{first.mode}_seeds{'_'.join(str(j.seed) for j in self.jobs)}" + (
            f"_beta{beta_name(first.beta)}" if first.beta is not None else "")


def packs(out_dir: str | Path, spec: SweepSpec, base: Config, jobs: list[Job], size: int) -> list[Pack]:
    """The jobs' unfinished hypernetwork trainings, `size` at a time, grouped by mode (and beta): their
    configurations differ only in the seed. A group of one trains in its own job."""
    groups: dict[tuple[str, float | None], list[Job]] = {}
    for job in jobs:
        if size > 1 and job.mode not in ("direct", "adam") and not _trained(job_config(base, spec, job),
                                                                             run_folder(Path(out_dir), job)):
            groups.setdefault((job.mode, job.beta), []).append(job)
    chunks = [g[i:i + size] for g in groups.values() for i in range(0, len(g), size)]
    return [Pack(tuple(c)) for c in chunks if len(c) > 1]


def train_pack(out_dir: str | Path, spec: SweepSpec, base: Config, pack: Pack) -> None:
    """Train (or resume) a pack's hypernetworks as one batched computation; idempotent."""
    from ..generate.batched import train_runs
    from ..generate.train import Run

    out = Path(out_dir)
    threads.limit(1)  # a worker beside others: one thread in every pool (torch, BLAS, OpenMP)
    runs = []
    with contextlib.ExitStack() as locks:
        for job in pack.jobs:
            cfg, run_dir = job_config(base, spec, job), run_folder(out, job)
            locks.enter_context(_training_lock(run_dir))
            trained = _trained(cfg, run_dir)
            if not trained:
                runs.append(Run(cfg, run_dir, trained is not None, "hyperinterp sweep --pack", _init_root(out, job),
                                compile_each_block=False))
        if runs:
            train_runs(runs, progress=False, desc=pack.name)


def done(out: Path, spec: SweepSpec, base: Config, task: Job | Pack) -> bool:
    """A job is done when its cell file exists, a pack when every one of its runs is trained."""
    if isinstance(task, Pack):
        return all(_trained(job_config(base, spec, j), run_folder(out, j)) for j in task.jobs)
    return (out / "cells" / f"{task.name}.json").exists()


def run_task(out_dir: str | Path, spec: SweepSpec, base: Config, task: Job | Pack) -> None:
    """What an executor runs: a job, or a pack's batched training."""
    if isinstance(task, Pack):
        train_pack(out_dir, spec, base, task)
    else:
        run_job(out_dir, spec, base, task)


def run_job(out_dir: str | Path, spec: SweepSpec, base: Config, job: Job) -> list[dict[str, Any]]:
    """Run one job to the end and write its cell file; returns its rows. Idempotent."""
    from ..generate.sample import load_model
    from .baselines import train_direct

    out = Path(out_dir)
    cell_file = out / "cells" / f"{job.name}.json"
    if cell_file.exists():
        return json.loads(cell_file.read_text())
    pools = threads.limit(1)  # a worker beside others: one thread in every pool (torch, BLAS, OpenMP)
    cfg = job_config(base, spec, job)
    rows: list[dict[str, Any]] = []
    net_dir = out / "networks" / job.name
    net_dir.mkdir(parents=True, exist_ok=True)
    n, m = cfg.task.n, cfg.task.width(cfg.task.n)

    def record(arrays, meta, kind: str, beta: float, step: int, n: int, m: int, save: bool) -> None:
        if not save and tasks.has_labels(meta.get("task", "l1")):  # its labels only: directions cost ~15x more
            results, readings = classify_arrays(arrays, meta), []
        elif not save:
            results, _, readings = readout.read(arrays, meta)
        else:  # read out from the saved file, and kept beside it: the report reuses it instead of redoing it
            saved = netfile.save(net_dir / f"beta_{beta_name(beta)}.npz", arrays,
                                  {**meta, "mode": job.mode, "thread_pools": pools})
            results, fingerprints, readings = readout.read(*netfile.load(saved))
            readout.write(saved, labels=results, fingerprints=fingerprints, directions=readings)
        rows.append(cell_row(arrays, results, readings, kind=kind, mode=job.mode, seed=job.seed, beta=beta, step=step,
                             n=n, m=m))

    if job.mode in ("direct", "adam"):
        beta = job.beta if job.mode == "direct" else None
        arrays, meta = train_direct(cfg, beta, spec.count, seed=job.seed, steps=spec.direct_steps)
        record(arrays, meta, "sweep", beta or 0.0, spec.direct_steps, n, m, save=True)
    else:
        run_dir = run_folder(out, job)
        _train(cfg, run_dir, _init_root(out, job))
        latest = checkpoint.load_latest(run_dir)
        if latest is None:
            raise UserError(f"{run_dir}: no undamaged checkpoint after training")
        final, final_step = latest[0], latest[3]["step"]
        sseed = spec.sample_seed + job.seed
        betas = spec.betas if job.beta is None else (job.beta,)
        phases = job.mode == "range" or job.extra.get("phases", False)
        phase_steps = _phase_steps(run_dir, spec.phase_points) if phases else [final_step]
        for step in phase_steps:
            model, mcfg, _ = load_model(checkpoint.step_path(run_dir, step))
            for beta in betas:
                arrays, meta = sample_cell(model, mcfg, beta, n, m, spec.count, sseed)
                meta.update(checkpoint=str(run_dir.relative_to(out)), checkpoint_step=step)
                record(arrays, meta, "sweep" if step == final_step else "phase", beta, step, n, m,
                       save=step == final_step)
        if job.mode == "range" or job.extra.get("generalization", False):
            if phase_steps[-1] != final_step:  # the phase loop ended on another checkpoint
                model, mcfg, _ = load_model(final)
            for beta in spec.generalization_betas:
                for gn in spec.generalization_sizes:
                    gm = mcfg.task.width(gn)
                    arrays, meta = sample_cell(model, mcfg, beta, gn, gm, spec.count, sseed)
                    record(arrays, meta, "generalization", beta, final_step, gn, gm, save=False)
    netfile.atomic_write(cell_file, lambda fh: fh.write(json.dumps(rows, indent=0).encode()))
    return rows


# ---------------------------------------------------------------- the whole sweep

def _spec_dict(spec: SweepSpec) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(spec)))


def prepare(out_dir: str | Path, spec: SweepSpec, base: Config) -> Path:
    """Create the sweep folder, or check that an existing one was made by the same spec."""
    spec.validate()
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise UserError(f"parent folder {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a sweep folder: name a new or an existing sweep folder")
    record = {"spec": _spec_dict(spec), "config": base.to_dict()}
    saved = out / "sweep.json"
    if saved.exists():
        try:
            old = json.loads(saved.read_text())
        except json.JSONDecodeError:
            raise UserError(f"{saved} is corrupt") from None
        try:  # normalise through the current dataclasses: a new field with its default is no change
            old = {"spec": _spec_dict(_spec_from(old["spec"])),
                   "config": from_dict(old["config"], stored=True).to_dict()}
        except (KeyError, TypeError, UserError):
            raise UserError(f"{saved} is not a sweep record this version can read") from None
        if json.loads(json.dumps(old)) != json.loads(json.dumps(record)):
            raise UserError(f"{out} holds a sweep with other settings: use a new folder to change them")
    else:
        (out / "cells").mkdir(parents=True, exist_ok=True)
        netfile.atomic_write(saved, lambda fh: fh.write(json.dumps(record, indent=1).encode()))
    (out / "cells").mkdir(exist_ok=True)
    return out


def load_spec(out_dir: str | Path) -> tuple[SweepSpec, Config]:
    saved = Path(out_dir) / "sweep.json"
    if not saved.is_file():
        raise UserError(f"{out_dir} is not a sweep folder (no sweep.json)")
    record = json.loads(saved.read_text())
    return _spec_from(record["spec"]), from_dict(record["config"], stored=True)


def _spec_from(saved: dict[str, Any]) -> SweepSpec:
    """A saved spec, as read back: a sweep saved before the modes multi_n and wide became a study keeps their names in
    its modes (unvalidated: its rows still read; continuing it is refused as other settings) and drops their keys."""
    return SweepSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()
                        if k not in RETIRED_SPEC_KEYS})


def seed_grid(rows: list[dict[str, Any]]) -> str:
    """The per-seed truth as text: for every mode or training, one line per seed with the majority label and
    its count of draws at each beta of the final cells (no pooling over seeds)."""
    final = [r for r in rows if r["kind"] == "sweep"]
    lines = []
    for mode in dict.fromkeys(r["mode"] for r in final):
        cells = [r for r in final if r["mode"] == mode]
        betas = sorted({r["beta"] for r in cells})
        lines.append(f"{mode} (majority label and its draws of {cells[0]['count']}, per seed)")
        lines.append(f"  {'beta':<9} " + " ".join(f"{beta_name(b):>15}" for b in betas))
        for seed in sorted({r["seed"] for r in cells}):
            by_beta = {r["beta"]: r for r in cells if r["seed"] == seed}
            parts = [f"{'':>15}" if (r := by_beta.get(b)) is None else f"{_cell_words(r):>15}" for b in betas]
            lines.append(f"  seed {seed:<4} " + " ".join(parts))
    return "\n".join(lines)


def _cell_words(row: dict[str, Any]) -> str:
    """A cell in the seed grid: its majority label and count where the task has labels, else its mechanism's."""
    if row.get("majority") is not None:
        return f"{row['majority']:>12} {round(row['frac_' + row['majority']] * row['count']):>2}"
    return f"{row['mechanism'][:12]:>12} {round(row['frac_mechanism'] * row['count']):>2}"


def with_every_label(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows written before a label existed (`constant`, 2026-12-05: such networks were `other` then) get 0 for it, and
    before effective neurons or mechanisms were measured (2026-12-07) None for them (the L1 rules labelled every
    task's networks then, and the row did not name its task)."""
    return [{**({f"frac_{lab}": 0.0 for lab in LABELS} if r.get("majority") is not None else {}),
             "effective_median": None, "carrying_median": None, "task": None, "mechanism": None,
             "frac_mechanism": None, **r} for r in rows]


def collect(out_dir: str | Path, spec: SweepSpec) -> list[dict[str, Any]]:
    """Rows of every finished job, in plan order; writes table.csv and table.json."""
    out = Path(out_dir)
    rows: list[dict[str, Any]] = []
    for job in plan(spec):
        f = out / "cells" / f"{job.name}.json"
        if f.exists():
            rows += with_every_label(json.loads(f.read_text()))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    netfile.atomic_write(out / "table.csv", lambda fh: fh.write(buf.getvalue().encode()))
    netfile.atomic_write(out / "table.json", lambda fh: fh.write(json.dumps(rows, indent=0).encode()))
    return rows
