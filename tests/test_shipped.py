"""The checkpoints shipped for the demo reload and reproduce the figures recorded when they were shipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperinterp.experiments import study, sweep
from hyperinterp.experiments.demo import DEMO_BASE, DEMO_SPEC, SHIPPED
from hyperinterp.generate.sample import load_model, sample

FIGURES = SHIPPED / "figures.json"
pytestmark = pytest.mark.skipif(not FIGURES.exists(), reason="no shipped checkpoints in this checkout")


def _records():
    return json.loads(FIGURES.read_text()).items() if FIGURES.exists() else []


@pytest.mark.parametrize(("run", "record"), list(_records()))
def test_shipped_checkpoint_reproduces_its_figures(run, record):
    model, cfg, meta = load_model(SHIPPED / run)
    assert meta["step"] == record["checkpoint_step"] == cfg.optim.steps  # a finished training
    assert meta["command"].startswith("hyperinterp ") and meta["seed"] == record["seed"]
    for cell in record["cells"]:
        arrays, _ = sample(model, cfg, cell["beta"], cfg.task.n, cfg.task.width(cfg.task.n), 16, 0)
        assert np.median(arrays["rel_mse"]) == pytest.approx(cell["rel_mse_median"], rel=1e-4)
        assert np.median(arrays["bits"]) == pytest.approx(cell["bits_median"], rel=1e-4)


def test_demo_spec_matches_shipped_runs():
    runs = {r for r, _ in _records()}
    assert {f"train/range/seed_{s}" for s in DEMO_SPEC.seeds} | {"train/multi_n_e24/seed_0"} <= runs
    assert len(DEMO_SPEC.seeds) == 16  # the default generator's 16 seeds (issue 37: the demo uses them)
    assert {f"train/per_beta/beta_{b:.0e}_seed_0" for b in DEMO_SPEC.betas} <= runs
    assert {"experiments/plain/range/seed_0", "experiments/plain/wide/seed_0"} <= runs  # the plain generator


@pytest.mark.parametrize("run", sorted(r for r, _ in _records() if r.startswith("train/")))
def test_the_demos_runs_are_the_default_configurations(run):
    """The demo finds each shipped run finished only if it is the run its sweep would train today."""
    _, mode, name = run.split("/")
    seed = int(name.rsplit("_", 1)[1])
    beta = float(name.split("_")[1]) if mode == "per_beta" else None
    extra = next((t for t in DEMO_SPEC.trainings if t["name"] == mode), {})  # a named training: its overrides
    _, cfg, _ = load_model(SHIPPED / run)
    assert cfg == sweep.job_config(DEMO_BASE, DEMO_SPEC, sweep.Job(mode, seed, beta, extra))


@pytest.mark.parametrize("run", ["range/seed_0", "range/seed_1", "multi_n/seed_0", "wide/seed_0"])
def test_the_plain_generators_runs_load_as_what_the_plain_study_trains(run):
    """Saved before the default changed, naming no slot key: they load as the plain generator they were trained
    as, the configuration configs/studies/plain.toml gives the same jobs today."""
    mode, name = run.split("/")
    _, cfg, _ = load_model(SHIPPED / "experiments/plain" / run)
    spec, base, _ = study.load(SHIPPED.parent / "configs/studies/plain.toml")
    extra = next((t for t in spec.trainings if t["name"] == mode), {})  # multi_n, wide: named trainings now
    assert cfg.hyper.slot_sinkhorn == 0 and not cfg.hyper.sign_split
    assert cfg == sweep.job_config(base, spec, sweep.Job(mode, int(name.split("_")[1]), extra=extra))
