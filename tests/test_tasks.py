"""Tasks: the built-in targets and a user's own `module:function` (issue 16)."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from hyperinterp.errors import UserError
from hyperinterp.generate import config
from hyperinterp.generate.tasks import TASKS, check_task, make_task

MODULE = '''import numpy as np
import torch

def prod_sign(x):
    return torch.sign(x).prod(-1)

def as_numpy(x):
    return np.tanh(x.numpy()).sum(-1)

def ints(x):
    return (x > 0).sum(-1)

def scalar(x):
    return x.sum()

def nan(x):
    return x.sum(-1) / 0 * 0

def needs_n4(x):
    return x[:, 3]

CONSTANT = 3
'''


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    name = f"tasks_user_{tmp_path.name.replace('-', '_')}"  # a fresh module (and cache entry) per test
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize("name", sorted(TASKS))
def test_builtin_targets(name):
    x = torch.tensor([[1.0, -2.0, 0.5], [-0.1, 0.0, 3.0]])
    want = {"l1": [3.5, 3.1], "sum_squares": [5.25, 9.01], "linf": [2.0, 3.0], "count_positive": [2.0, 1.0],
            "abs_sum": [0.5, 2.9], "relu_sum": [1.5, 3.0]}[name]
    assert np.allclose(make_task(name).target(x).numpy(), want)


def test_user_task_is_a_task(user_module):
    task = make_task(f"{user_module}:prod_sign", "uniform")
    x = task.sample_x(64, 5, torch.Generator().manual_seed(0))
    y = task.target(x)
    assert y.shape == (64,) and set(y.unique().tolist()) <= {-1.0, 1.0}
    assert task.target(x.double()).dtype == torch.float64
    # numpy or integer results are accepted and cast to the input's dtype
    assert make_task(f"{user_module}:as_numpy").target(x).dtype == torch.float32
    assert torch.equal(make_task(f"{user_module}:ints").target(x), (x > 0).sum(-1).float())
    cfg = config.load(None, [f'task.name="{user_module}:prod_sign"'])
    assert cfg.task.name == f"{user_module}:prod_sign"


@pytest.mark.parametrize("fn,message", [
    ("scalar", "must map a (B, n) batch to (B,): got shape ()"),
    ("nan", "returned NaN or Inf"),
    ("needs_n4", "failed on a batch of shape (5, 3) (IndexError"),
    ("CONSTANT", "has no function 'CONSTANT'"),
    ("", "a user task is named module:function"),
])
def test_bad_user_functions(user_module, fn, message):
    with pytest.raises(UserError) as e:
        check_task(f"{user_module}:{fn}")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_names():
    with pytest.raises(UserError, match=r"cannot import module 'no_such_pkg_q.sub' \(ModuleNotFoundError"):
        make_task("no_such_pkg_q.sub:f")
    with pytest.raises(UserError, match="unknown task 'l7'.*or module:function"):
        make_task("l7")


def test_module_in_the_current_folder_from_the_console(tmp_path):
    """What a user does: a file beside them, named in --set, through a fresh interpreter whose sys.path lacks the
    current folder (as the console script's does). It is found (the error is about its shape, not the import)."""
    (tmp_path / "mine.py").write_text(MODULE)
    code = "import sys; sys.path.pop(0); from hyperinterp.cli import main; sys.exit(main())"
    res = subprocess.run([sys.executable, "-c", code, "train", "run", "--set", 'task.name="mine:scalar"'],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("hyperinterp: error: task 'mine:scalar' must map")
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
