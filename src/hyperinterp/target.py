"""The target family f(x) = sum_j a_j phi(w_j . x + b_j) + c, evaluated for many networks at once."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .errors import UserError

ACTIVATIONS = {"silu": F.silu, "relu": F.relu}


class Nets(NamedTuple):
    """A batch of K one-hidden-layer networks: W (K,m,n), b (K,m), a (K,m), c (K,)."""

    W: torch.Tensor
    b: torch.Tensor
    a: torch.Tensor
    c: torch.Tensor


def activation(name: str):
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def hidden(nets: Nets, x: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """Hidden activations (K,B,m) for shared inputs x (B,n), in one batched matmul."""
    pre = torch.einsum("bn,kmn->kbm", x, nets.W) + nets.b[:, None, :]
    return activation(act)(pre)


def forward(nets: Nets, x: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """Outputs (K,B) of K networks on shared inputs x (B,n)."""
    h = hidden(nets, x, act)
    return torch.einsum("kbm,km->kb", h, nets.a) + nets.c[:, None]


def forward_loop(nets: Nets, x: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """The same mathematics one network at a time: the reference for tests and benchmarks."""
    phi = activation(act)
    out = [phi(x @ W.T + b) @ a + c for W, b, a, c in zip(*nets)]
    return torch.stack(out)
