"""The target family f(x) = sum_j a_j phi(w_j . x + b_j) + c, evaluated for many networks at once."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import UserError

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


# Networks are evaluated in groups whose hidden activations (networks x inputs x m) hold at most this many
# values (1 MiB in float32): a group stays in cache between its matmul, activation and read-out, where one
# (K,B,m) tensor for thousands of networks would stream through memory three times (several times slower).
CHUNK_VALUES = 1 << 18


def forward(nets: Nets, x: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """Outputs (K,B) of K networks on shared inputs x (B,n): two batched matmuls per group of networks
    (see CHUNK_VALUES); the same values as `forward_loop`, up to rounding."""
    k, m, _ = nets.W.shape
    group = max(1, CHUNK_VALUES // max(1, x.shape[0] * m))
    if group >= k:
        return _forward_group(nets, x, act)
    return torch.cat([_forward_group(Nets(*(t[i:i + group] for t in nets)), x, act) for i in range(0, k, group)])


def _forward_group(nets: Nets, x: torch.Tensor, act: str) -> torch.Tensor:
    k = nets.W.shape[0]
    pre = torch.baddbmm(nets.b[:, None, :], x.expand(k, -1, -1), nets.W.transpose(1, 2))     # (K,B,m)
    return torch.baddbmm(nets.c[:, None, None], activation(act)(pre), nets.a[:, :, None]).squeeze(-1)


def forward_loop(nets: Nets, x: torch.Tensor, act: str = "silu") -> torch.Tensor:
    """The same mathematics one network at a time: the reference for tests and benchmarks."""
    phi = activation(act)
    out = [phi(x @ W.T + b) @ a + c for W, b, a, c in zip(*nets, strict=True)]
    return torch.stack(out)
