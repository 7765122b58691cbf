"""The curriculum: every schedule of a training in one place, as the values at one step (a `Stage`).

A training changes five things along its steps: the learning rate (cosine decay over `optim.lr_decay_frac`), β's
weight (`budget.anneal_steps`), the noise skip's share (`hyper.skip_until`), the share of + neurons
(`hyper.sign_share_by_beta`, per β) and the target width (`task.width_schedule`). The trainer asks `at(cfg, step)` for
the stage and passes its values to the model; a checkpoint's model keeps the stage of its step
(`sample.load_model`), so a network generated from it is one of what that step trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # the configuration's types, for the annotations only (config imports the hypernetwork)
    from .config import Config, TaskConfig
    from .hypernet import HyperConfig


@dataclass(frozen=True)
class Stage:
    """Where a training is: the value of every schedule at one step."""

    hyper: HyperConfig
    progress: float = 1.0  # step / steps: sets the share of + neurons
    skip: float = 1.0      # the noise skip's share
    anneal: float = 1.0    # β's multiplier
    lr: float = 0.0        # the learning rate

    def share(self, log_beta: torch.Tensor | None = None) -> float | np.ndarray:
        """The share of + neurons: one per network of `log_beta` (K,) under a per-β schedule."""
        return plus_share(self.hyper, self.progress, log_beta)


def at(cfg: Config, step: int) -> Stage:
    """The stage of a training of `cfg` at `step`."""
    o = cfg.optim
    return Stage(cfg.hyper, step / o.steps, skip_share(cfg.hyper, step), anneal(cfg, step),
                 cosine_lr(o.lr, step, o.steps, o.lr_decay_frac))


def cosine_lr(lr: float, step: int, steps: int, decay_frac: float) -> float:
    """lr, then a cosine decay to 0 over the last `decay_frac` of the steps."""
    start = steps * (1 - decay_frac)
    if step < start or decay_frac <= 0:
        return lr
    return lr * 0.5 * (1 + math.cos(math.pi * (step - start) / (steps - start)))


def anneal(cfg: Config, step: int) -> float:
    """β's multiplier: 0 to 1 linearly over `budget.anneal_steps`, then 1."""
    return min(1.0, step / cfg.budget.anneal_steps) if cfg.budget.anneal_steps > 0 else 1.0


def skip_share(hyper: HyperConfig, step: int) -> float:
    """The share of the noise skip in effect at a training step: 1 to 0 over `hyper.skip_until` steps (0: stays 1)."""
    return max(0.0, 1.0 - step / hyper.skip_until) if hyper.skip_until > 0 else 1.0


def plus_share(hyper: HyperConfig, progress: float, log_beta: torch.Tensor | None = None) -> float | np.ndarray:
    """The share of + neurons in effect at a training progress (step / steps); with sign_share_by_beta, one per
    network of `log_beta` (K,). At a repeated fraction np.interp takes the later share (a jump)."""
    if hyper.sign_share_by_beta:
        schedules = [schedule for _, schedule in hyper.sign_share_by_beta]
        if log_beta is None:  # without betas only a share common to every beta is known: after the ends, if equal
            ends = {s[-1][1] for s in schedules}
            if progress < max(s[-1][0] for s in schedules) or len(ends) > 1:
                raise ValueError("hyper.sign_share_by_beta: the share depends on beta here")
            return ends.pop()
        shares = [np.interp(progress, *zip(*s, strict=True)) for s in schedules]
        log_betas = np.log([b for b, _ in hyper.sign_share_by_beta])
        return np.interp(log_beta.detach().cpu().double().numpy(), log_betas, shares)
    return hyper.sign_plus_share


def width_at(task: TaskConfig, n: int, progress: float) -> int:
    """The training width at `progress` under `task.width_schedule` (m / n points; none: `task.width(n)`)."""
    points = task.width_schedule
    if not points:
        return task.width(n)
    fracs, ratios = [p[0] for p in points], [p[1] for p in points]
    return max(1, round(n * float(np.interp(progress, fracs, ratios))))
