"""The curriculum: one stage per step holds every schedule's value (learning rate, β's anneal, noise skip, share of +
neurons, width), the same as each schedule written out; the trainer and a checkpoint's model use it."""

from __future__ import annotations

import math

import numpy as np
import torch

from hyperinterp.generate import config, curriculum


def test_a_stage_holds_every_schedule_at_its_step():
    cfg = config.load("configs/e59.toml", [  # E59's generator: its neurons' signs follow a curriculum
        "optim.steps=100", "optim.lr=0.01", "optim.lr_decay_frac=0.5", "budget.anneal_steps=20", "hyper.skip_until=40",
        "task.width_schedule=[[0, 2.0], [0.5, 3.0]]", "hyper.sign_share_by_beta=[[1e-3, [[0, 0.9], [0.5, 0.5]]]]"])
    for step in (0, 10, 25, 50, 75, 100):
        s = curriculum.at(cfg, step)
        assert s.progress == step / 100
        assert s.anneal == min(1.0, step / 20) and s.skip == max(0.0, 1 - step / 40)
        want_lr = 0.01 if step < 50 else 0.01 * 0.5 * (1 + math.cos(math.pi * (step - 50) / 50))
        assert math.isclose(s.lr, want_lr)
        share = float(s.share(torch.tensor([math.log(1e-5)]))[0])
        assert math.isclose(share, float(np.interp(step / 100, [0, 0.5], [0.9, 0.5])))
        assert curriculum.width_at(cfg.task, 16, s.progress) == round(16 * float(np.interp(step / 100, [0, 0.5],
                                                                                            [2.0, 3.0])))


def test_a_fresh_model_generates_at_the_end_of_the_schedules_with_the_whole_skip():
    from hyperinterp.generate.hypernet import HyperNetwork

    model = HyperNetwork(config.E59_HYPER)  # a sign curriculum per beta (E59): a fresh model samples its end
    assert model.stage.skip == 1.0 and model.stage.progress == 1.0
    assert model.stage.share() == config.E59_HYPER.sign_plus_share
