"""Slots: the L1-shaped devices of the E10-E59 generators, kept as ablations (the ladder of what each buys).

Each is a HyperConfig key; the plain generator (configs/plain.toml) turns every one off:

* sign_split (E10): half the neurons of every network get sign +1, half -1 (a random balanced split, fed to the
  layers as one more neuron channel, last), and mu_W = sign * head: mixed signs become the easy output.
* sign_plus_share (E35): the share of + neurons in that split; sign_share_by_beta (E57): a share schedule per
  beta, [[beta, [[fraction, share], ...]], ...], interpolated in log beta (curriculum.py owns the schedule).
* slot_sinkhorn (E13): neurons compete for the 2n (input, sign) slots, mu_W[j, i] = exp(l[j, i]) * (P[j, i, +] -
  P[j, i, -]), P a soft assignment balanced by this many Sinkhorn iterations (each slot receives m / 2n): an
  input's + slot is filled as often as its - slot, the coordination double-sided needs. 0: off.
* slot_temperature (E15): the scores are divided by it before balancing (a sharper assignment under Adam).
* slot_magnitude (E17, E45): where exp(l) lives: "entry" (per neuron and input), "input" (shared by both signs:
  pudding pays for its idle sign), "input_sign" (per input and sign, split slots only).
* slot_signs (E18): "free" (a slot is an (input, sign) pair) or "split" (the sign is the neuron's own, the slots
  are the inputs, the neurons of each sign balanced over them on their own: nothing cancels).
* slot_balance (E21): "equal" (exactly m / 2n per slot) or "floor" (at least min(1, share): every slot can hold
  one whole neuron, the double-sided skeleton; the spare neurons go where they pay).
* slot_idle (E29): an idle column beside the inputs, so a spare neuron may serve no input.
* slot_readout (E30): the neuron head also reads the features of the entries its neuron serves.
* idle_plain (E50): the plain head times a neuron's idle mass is added to its slot weights (a dense part).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .hypernet import HyperConfig


def random_split(k: int, m: int, count: int | np.ndarray, generator: torch.Generator | None,
                  device: torch.device | str) -> torch.Tensor:
    """(K, m): +1 on `count` neurons of each network drawn at random (one count, or one per network), -1 on the rest."""
    rank = torch.rand((k, m), generator=generator, device=generator.device if generator else "cpu").argsort(1)
    count = torch.as_tensor(count, dtype=torch.long, device=rank.device).reshape(-1, 1)  # (1 or K, 1)
    return torch.where(rank.argsort(1) < count, 1.0, -1.0).to(device)



def sinkhorn(logits: torch.Tensor, iters: int, slot_log_mass: float, floor: bool = False) -> torch.Tensor:
    """Log of a soft assignment (K, rows, slots) whose rows sum to 1 and columns to exp(slot_log_mass), by
    alternating normalisations in the log domain (columns last: the balance between slots is exact). With
    `floor`, a column only rises to min(1, that mass) and is never lowered (alternating projections onto the
    rows' and the floor's constraints: a point of both, not the nearest one)."""
    if floor:
        slot_log_mass = min(slot_log_mass, 0.0)
    for _ in range(iters):
        logits = logits - logits.logsumexp(2, keepdim=True)
        excess = logits.logsumexp(1, keepdim=True) - slot_log_mass
        logits = logits - (excess.clamp(max=0) if floor else excess)
    return logits


def sinkhorn_split(logits: torch.Tensor, plus: torch.Tensor, iters: int, floor: bool = False,
                   idle: torch.Tensor | None = None) -> torch.Tensor:
    """Log of a soft assignment (K, m, n) of neurons to inputs whose rows sum to 1 and whose columns receive, from
    the neurons of each sign (`plus`: (K, m, 1)), that sign's share: (its neuron count) / n; with `floor`, at
    least min(1, share). `idle` (K, m, 1): the logits of one more column, no input, that takes no constraint (the
    rows then sum to 1 over the inputs and it; only its input columns are returned)."""
    n = logits.shape[2]
    if idle is not None:
        logits = torch.cat([logits, idle], 2)
    count_plus = plus.sum(1, keepdim=True)
    log_share = torch.where(plus, count_plus.log(), (plus.shape[1] - count_plus).log()) - math.log(n)
    if floor:
        log_share = log_share.clamp(max=0)
    for _ in range(iters):
        logits = logits - logits.logsumexp(2, keepdim=True)
        col_plus = logits.masked_fill(~plus, -math.inf).logsumexp(1, keepdim=True)
        col_minus = logits.masked_fill(plus, -math.inf).logsumexp(1, keepdim=True)
        excess = torch.where(plus, col_plus, col_minus) - log_share
        if idle is not None:  # the idle column is never rescaled
            excess = torch.cat([excess[..., :n], torch.zeros_like(excess[..., n:])], 2)
        logits = logits - (excess.clamp(max=0) if floor else excess)
    return logits[..., :n]


def sign_mean(values: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """(K, 1, n): the mean of `values` (K, m, n) over the neurons `members` (K, m, 1) of one sign."""
    return (values * members).sum(1, keepdim=True) / members.sum(1, keepdim=True)


def random_signs(k: int, m: int, share: float | np.ndarray, generator: torch.Generator | None,
                 device: torch.device | str) -> torch.Tensor:
    """(K, m): +1 on a `share` of each network's neurons (one share, or one per network), -1 on the rest, at least
    one of each."""
    # share * m rounded to 6 decimals first: a share interpolated from a float32 log beta lands a hair short
    plus = np.clip(np.floor(np.round(np.asarray(share, dtype=np.float64) * m, 6)), 1, m - 1)
    return random_split(k, m, plus, generator, device)


def assignment(cfg: HyperConfig, s: torch.Tensor, sign: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The balanced assignment P and the log magnitude l of the slot weights, from the slot head's output s
    (K, m, n, 3 or 4): P is (K, m, n, 2) over (input, sign) slots, or with slot_signs = "split" (K, m, n) over the
    inputs, each sign of neurons (`sign`: (K, m)) balanced on its own."""
    k, m, n, _ = s.shape
    log_magnitude = s[..., 2] if cfg.slot_magnitude == "entry" else s[..., 2].mean(1, keepdim=True)
    floor = cfg.slot_balance == "floor"
    if cfg.slot_signs == "split":
        plus = (sign > 0)[:, :, None]
        if cfg.slot_magnitude == "input_sign":
            log_magnitude = torch.where(plus, sign_mean(s[..., 2], plus), sign_mean(s[..., 2], ~plus))
        idle = s[..., 3].mean(2, keepdim=True) / cfg.slot_temperature if cfg.slot_idle else None
        return sinkhorn_split(s[..., 0] / cfg.slot_temperature, plus, cfg.slot_sinkhorn, floor,
                              idle).exp(), log_magnitude
    scores = s[..., :2].reshape(k, m, 2 * n) / cfg.slot_temperature
    log_p = sinkhorn(scores, cfg.slot_sinkhorn, math.log(m / (2 * n)), floor)
    return log_p.exp().view(k, m, n, 2), log_magnitude


def weights_from(p: torch.Tensor, log_magnitude: torch.Tensor) -> torch.Tensor:
    return log_magnitude.exp() * (p if p.dim() == 3 else p[..., 0] - p[..., 1])


def weights(cfg: HyperConfig, s: torch.Tensor, sign: torch.Tensor, plain: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(the mean input weights before the skip and the sign, the assignment P), from the slot head's output s, the
    neurons' signs and the plain weight head (`plain`, for idle_plain)."""
    p, log_magnitude = assignment(cfg, s, sign)
    head = weights_from(p, log_magnitude)
    if cfg.idle_plain:  # the mass of a (split) assignment's row left for the idle column
        head = head + (1 - p.sum(2, keepdim=True)).clamp_min(0) * plain
    return head, p
