"""optim.init_from: a run starts from another run's hypernetwork (e.g. to continue a fit under another prior)."""

from __future__ import annotations

import pytest
from conftest import TINY

from hyperinterp.errors import UserError
from hyperinterp.generate import checkpoint, config, train


def test_init_from_starts_at_the_given_weights(tiny_run, tmp_path):
    source, _ = tiny_run
    cfg = config.load(None, [*TINY, f'optim.init_from="{source}"', 'budget.prior="log_uniform"'])
    train.train(cfg, tmp_path / "ft", progress=False)
    start, _, _ = checkpoint.load(checkpoint.list_steps(tmp_path / "ft")[0])
    final, _, _ = checkpoint.load(checkpoint.list_steps(source)[-1])
    assert start.keys() == final.keys()
    assert all((start[k] == final[k]).all() for k in start)


def test_init_from_a_different_shape_is_a_user_error(tiny_run, tmp_path):
    source, _ = tiny_run
    cfg = config.load(None, [*TINY, f'optim.init_from="{source}"', "hyper.width=12"])
    with pytest.raises(UserError, match="init_from"):
        train.train(cfg, tmp_path / "bad", progress=False)
