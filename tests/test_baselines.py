"""The direct baseline started from a given network (scripts/family_optimum.py): what each L1 family costs at its best
on the objective, without a generator."""

from __future__ import annotations

import numpy as np
import torch

from hyperinterp.experiments import baselines
from hyperinterp.generate import config
from hyperinterp.generate.target import Nets
from hyperinterp.read import classify, references


def _cfg(n: int = 6, m: int = 18) -> config.Config:
    return config.load(None, [f"task.n={n}", f"task.m={m}"])


def test_direct_from_a_construction_starts_at_it():
    cfg = _cfg()
    net = references.make_reference("pudding_pos", 6, 18)
    arrays, meta = baselines.train_direct(cfg, 1e-3, 3, seed=0, steps=0,
                                          init=Nets(net["W"], net["b"], net["a"], net["c"]))
    # no step taken: every draw is the construction plus noise of sigma e^-3, and the draws differ from each other
    for key in ("W", "b", "a"):
        assert np.abs(arrays[key] - net[key]).max() < 0.3
    assert not np.allclose(arrays["W"][0], arrays["W"][1])
    assert meta["init"] == "given" and meta["source"] == "direct"
    assert [r["label"] for r in classify.classify_arrays(arrays, meta)] == ["pudding_pos"] * 3


def test_direct_from_a_construction_keeps_its_family_and_lowers_the_objective():
    cfg = _cfg()
    torch.manual_seed(0)
    net = references.make_reference("double_sided", 6, 18)
    init = Nets(net["W"], net["b"], net["a"], net["c"])
    objective = []
    for steps in (0, 300):
        arrays, meta = baselines.train_direct(cfg, 1e-3, 4, seed=0, steps=steps, init=init)
        objective.append(np.median(np.log(arrays["mse"]) + 1e-3 * arrays["bits"]))
    assert [r["label"] for r in classify.classify_arrays(arrays, meta)] == ["double_sided"] * 4
    assert objective[1] < objective[0] - 1.0  # the construction's e^-3 widths cost bits the training gives back


def test_direct_from_a_distribution_starts_at_its_widths():
    cfg = _cfg()
    net = references.make_reference("double_sided", 6, 18)
    init = Nets(net["W"], net["b"], net["a"], net["c"])
    narrow = Nets(*(np.full(np.shape(p), -12.0) for p in init))  # sigma e^-12: every draw is the mean
    arrays, _ = baselines.train_direct(cfg, 1e-3, 2, seed=0, steps=0, init=init, init_log_sigma=narrow)
    assert np.abs(arrays["W"] - net["W"]).max() < 1e-4
    wide, _ = baselines.train_direct(cfg, 1e-3, 2, seed=0, steps=0, init=init)  # e^-3: the default widths
    assert (arrays["bits"] > wide["bits"]).all()  # narrower widths cost more bits under the same prior
