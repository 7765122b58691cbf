"""The checkpoints shipped for the demo reload and reproduce the figures recorded when they were shipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperinterp.demo import DEMO_SPEC, SHIPPED
from hyperinterp.sample import load_model, sample

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
    assert {"train/range/seed_0", "train/range/seed_1", "train/multi_n/seed_0", "train/wide/seed_0"} <= runs
    assert {f"train/per_beta/beta_{b:.0e}_seed_0" for b in DEMO_SPEC.betas} <= runs
