"""Tasks: an input distribution and a target function of it.

A task is anything with `sample_x` and `target`; register it in TASKS to make it
available by name from configs and the command line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import UserError

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
}


def make_task(name: str, input_dist: str = "normal") -> Task:
    if name not in TASKS:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(TASKS))})")
    if input_dist not in INPUT_DISTRIBUTIONS:
        raise UserError(f"unknown input distribution {input_dist!r} (known: {', '.join(INPUT_DISTRIBUTIONS)})")
    return Task(name, TASKS[name], input_dist)
