"""Tasks: an input distribution and a target function of it.

A task is anything with `sample_x` and `target`; register it in TASKS to make it
available by name from configs and the command line. A user's own target needs no
change here: name it ``"module:function"`` (``task.name = "mytasks:parity"``), a
function mapping a (B, n) tensor to (B,), importable from the current folder or
PYTHONPATH. It is imported when the task is made and checked on a probe batch.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch

from ..errors import UserError

INPUT_DISTRIBUTIONS = ("normal", "uniform")


@dataclass(frozen=True)
class Task:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]  # (..., n) -> (...)
    input_dist: str = "normal"

    def sample_x(self, batch: int, n: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        if self.input_dist == "normal":
            return torch.randn(batch, n, generator=generator, device=device)
        # uniform on [-sqrt(3), sqrt(3)]: zero mean, unit variance like the normal
        u = torch.rand(batch, n, generator=generator, device=device)
        return (2 * u - 1) * math.sqrt(3.0)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


TASKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l1": lambda x: x.abs().sum(-1),
    "sum_squares": lambda x: (x * x).sum(-1),
    "linf": lambda x: x.abs().amax(-1),
    "count_positive": lambda x: (x > 0).to(x.dtype).sum(-1),
    # two tasks whose minimal algorithm is known and not per input (the concentration battery, notebook E66)
    "abs_sum": lambda x: x.sum(-1).abs(),           # |Σx|: two neurons ±k·(1, …, 1)
    "relu_sum": lambda x: torch.relu(x).sum(-1),    # Σ relu(x_i): one one-sided neuron per input
}


# The tasks whose algorithms have named labels (classify.py's rules: double-sided, pudding±, convexity, other,
# constant). Every other task is read by what any network is read by: its directions' mechanisms (directions.py).
LABELLED = ("l1",)


def has_labels(name: str) -> bool:
    """The task has named algorithms that classify.py's rules decide (only L1's, today)."""
    return name in LABELLED


def is_user_task(name: str) -> bool:
    """A ``module:function`` name (the built-in names hold no colon)."""
    return ":" in name


def check_task(name: str) -> None:
    """A built-in name, or a user's ``module:function`` that imports and maps (B, n) to (B,); else UserError."""
    if is_user_task(name):
        _load_user_fn(name)
    elif name not in TASKS:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(TASKS))}, or module:function)")


def make_task(name: str, input_dist: str = "normal") -> Task:
    check_task(name)
    if input_dist not in INPUT_DISTRIBUTIONS:
        raise UserError(f"unknown input distribution {input_dist!r} (known: {', '.join(INPUT_DISTRIBUTIONS)})")
    return Task(name, _load_user_fn(name) if is_user_task(name) else TASKS[name], input_dist)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


@cache
def _load_user_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Import ``module:function`` and wrap it so that every call is shape-checked (one-line UserErrors)."""
    module, _, attr = name.partition(":")
    if not module or not attr or ":" in attr:
        raise UserError(f"task {name!r}: a user task is named module:function, e.g. mytasks:parity")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # the console script's sys.path lacks the folder it is run from
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # the user's module may raise anything while importing
        raise UserError(f"task {name!r}: cannot import module {module!r} ({_first_line(e)})") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise UserError(f"task {name!r}: module {module!r} has no function {attr!r}")

    def target(x: torch.Tensor) -> torch.Tensor:
        try:
            y = fn(x)
            y = torch.as_tensor(y, device=x.device)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"task {name!r} failed on a batch of shape {tuple(x.shape)} ({_first_line(e)})") from None
        if y.shape != x.shape[:-1]:
            raise UserError(f"task {name!r} must map a (B, n) batch to (B,): got shape {tuple(y.shape)} "
                            f"for input {tuple(x.shape)}")
        y = y.to(x.dtype)
        if not torch.isfinite(y).all():
            raise UserError(f"task {name!r} returned NaN or Inf on a batch of shape {tuple(x.shape)}")
        return y

    # the probe: the same check before any training starts (n = 3, an odd size that no default uses)
    target(torch.randn(5, 3, generator=torch.Generator().manual_seed(0)))
    return target
