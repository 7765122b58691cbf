"""The task symmetry detector: it finds the symmetries of the built-in tasks, and none that a task lacks."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from hyperinterp.generate import symmetry

BUILT_IN = {
    "l1": {"flip_each", "flip_all", "permutation", "separable"},
    "sum_squares": {"flip_each", "flip_all", "permutation", "separable"},
    "linf": {"flip_each", "flip_all", "permutation"},
    "count_positive": {"permutation", "separable"},
    "abs_sum": {"flip_all", "permutation"},
    "relu_sum": {"permutation", "separable"},
}

MODULE = '''
import torch

def first_plus_abs(x):      # separable only
    return x[:, 0] + x[:, 1].abs()

def relu_of_sum(x):         # permutation only
    return torch.relu(x.sum(-1))

def plain_sum(x):           # odd, permutation, separable
    return x.sum(-1)

def product_of_two(x):      # even under the global flip only
    return x[:, 0] * x[:, 1]

def nearly_even(x):         # |x| with a 1% odd part: not even
    return x.abs().sum(-1) + 0.01 * x[:, 0]

def constant(x):
    return torch.full(x.shape[:-1], 3.0)
'''

USER = {
    "first_plus_abs": {"separable"},
    "relu_of_sum": {"permutation"},
    "plain_sum": {"odd_all", "permutation", "separable"},
    "product_of_two": {"flip_all"},
    "nearly_even": {"separable"},
    "constant": {"flip_each", "flip_all", "permutation", "separable"},
}


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    name = f"symmetry_user_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize("input_dist", ["normal", "uniform"])
@pytest.mark.parametrize("task", sorted(BUILT_IN))
def test_the_built_in_tasks_symmetries(task, input_dist):
    for n in (5, 16):
        assert set(symmetry.detect(task, input_dist, n)["symmetries"]) == BUILT_IN[task], (task, n)


@pytest.mark.parametrize("fn", sorted(USER))
def test_a_task_has_only_the_symmetries_it_has(user_module, fn):
    result = symmetry.detect(f"{user_module}:{fn}", n=6)
    assert set(result["symmetries"]) == USER[fn], result["gaps"]


def test_a_near_miss_shows_its_gap(user_module):
    gaps = symmetry.detect(f"{user_module}:nearly_even", n=6)["gaps"]
    assert 1e-3 < gaps["flip_each"] < 0.5 and gaps["separable"] < symmetry.TOLERANCE


def test_command_line():
    res = run_cli("symmetries", "linf", "--n", "4", "--json")
    assert res.returncode == 0 and set(json.loads(res.stdout)["symmetries"]) == BUILT_IN["linf"]
    bad = run_cli("symmetries", "l1", "--input-dist", "cauchy")
    assert bad.returncode == 2 and "unknown input distribution" in bad.stderr
