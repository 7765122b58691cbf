"""The equivariant hypernetwork: noise in, a distribution over target networks out.

The weight matrix is treated as a set of hidden neurons (m rows) x a set of inputs
(n columns). Every entry carries a feature vector; an exchangeable layer mixes each
entry with pools over its row, its column and the whole matrix, so permuting inputs or
neurons permutes the output the same way, and any (m, n) can be generated.

Random noise per entry (and per neuron) breaks the symmetry between neurons and makes
the model a generator of a *distribution* of networks. The conditions (log beta, log n,
log m) reach every layer by FiLM. A skip `W += skip * z` from one noise channel gives
diverse first networks (DESIGN section 4: without it the generator sat at the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .target import Nets


@dataclass(frozen=True)
class HyperConfig:
    layers: int = 3
    width: int = 16
    noise_channels: int = 4          # per entry (neuron i, input j)
    neuron_noise_channels: int = 2   # per neuron, shared along its row
    skip: float = 0.5
    pools: tuple[str, ...] = ("mean", "max")
    init_log_sigma: float = -3.0


class NetDistribution(NamedTuple):
    """Independent Gaussians over every weight: means and log standard deviations."""

    mu: Nets
    log_sigma: Nets

    def draw(self, generator: torch.Generator | None = None) -> Nets:
        return Nets(*(m + torch.exp(s) * torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
                      for m, s in zip(self.mu, self.log_sigma)))


def pool(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the requested symmetric pools of h over `dim` along the feature axis."""
    parts = []
    for kind in kinds:
        parts.append(h.mean(dim) if kind == "mean" else h.amax(dim))
    return torch.cat(parts, -1)


class Exchangeable(nn.Module):
    """out[k,i,j] = A h[k,i,j] + B pool_j h[k,i] + C pool_i h[k,:,j] + D pool_ij h[k] + bias.

    The pooled terms are projected *before* broadcasting, so no (K,m,n,P*d) tensor of
    pooled features is ever materialised.
    """

    def __init__(self, d: int, pools: tuple[str, ...]):
        super().__init__()
        p = len(pools) * d
        self.pools = pools
        self.entry = nn.Linear(d, d)
        self.row = nn.Linear(p, d, bias=False)
        self.col = nn.Linear(p, d, bias=False)
        self.glob = nn.Linear(p, d, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        d = h.shape[-1]
        row = pool(h, 2, self.pools)                       # (K,m,P*d) per neuron
        col = pool(h, 1, self.pools)                       # (K,n,P*d) per input
        # the global pool from the row pools: mean of means, max of maxes
        glob = torch.cat([row[..., i * d:(i + 1) * d].mean(1) if k == "mean" else row[..., i * d:(i + 1) * d].amax(1)
                          for i, k in enumerate(self.pools)], -1)  # (K,P*d)
        return (self.entry(h) + self.row(row)[:, :, None] + self.col(col)[:, None]
                + self.glob(glob)[:, None, None])


class Block(nn.Module):
    """Residual exchangeable layer with LayerNorm and FiLM from the conditions."""

    def __init__(self, d: int, pools: tuple[str, ...], cond_dim: int):
        super().__init__()
        self.layer = Exchangeable(d, pools)
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * d)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, shift = self.film(cond)[:, None, None].chunk(2, -1)
        return h + nn.functional.silu(self.norm(self.layer(h)) * (1 + gamma) + shift)


class HyperNetwork(nn.Module):
    def __init__(self, cfg: HyperConfig = HyperConfig(), c_init: float = 0.0):
        super().__init__()
        self.cfg = cfg
        d, cond_dim = cfg.width, 16
        self.cond = nn.Sequential(nn.Linear(3, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.embed = nn.Linear(cfg.noise_channels + cfg.neuron_noise_channels, d)
        self.blocks = nn.ModuleList(Block(d, cfg.pools, cond_dim) for _ in range(cfg.layers))
        p = len(cfg.pools) * d
        self.w_head = nn.Linear(d, 2)                                        # mu_W, log sigma_W
        self.neuron_head = nn.Sequential(nn.Linear(p, d), nn.SiLU(), nn.Linear(d, 4))  # b, a
        self.c_head = nn.Linear(p + cond_dim, 2)                             # mu_c, log sigma_c
        for head in (self.w_head, self.neuron_head[-1], self.c_head):
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.w_head.bias[1] = cfg.init_log_sigma
            self.neuron_head[-1].bias[2:] = cfg.init_log_sigma
            self.c_head.bias[0] = c_init
            self.c_head.bias[1] = cfg.init_log_sigma

    @staticmethod
    def conditions(log_beta: torch.Tensor, n: int, m: int) -> torch.Tensor:
        """(K,3): log beta scaled to about [-1, 1] over 1e-8..1, and the log sizes."""
        k = log_beta.shape[0]
        sizes = log_beta.new_tensor([math.log(n) / 3 - 1, math.log(m) / 4 - 1]).expand(k, 2)
        return torch.cat([(log_beta[:, None] + 9.2) / 9.2, sizes], -1)

    def noise(self, k: int, m: int, n: int, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
        cfg = self.cfg
        z = torch.randn(k, m, n, cfg.noise_channels, generator=generator, device=device)
        zn = torch.randn(k, m, 1, cfg.neuron_noise_channels, generator=generator, device=device)
        return torch.cat([z, zn.expand(k, m, n, -1)], -1)

    def forward(self, z: torch.Tensor, log_beta: torch.Tensor) -> NetDistribution:
        """z: (K,m,n,C) noise from `noise`; log_beta: (K,). Returns the weight distribution."""
        k, m, n, _ = z.shape
        cond = self.cond(self.conditions(log_beta, n, m))
        h = self.embed(z)
        for block in self.blocks:
            h = block(h, cond)
        w = self.w_head(h)
        mu_w = w[..., 0] + self.cfg.skip * z[..., 0]
        neuron = self.neuron_head(pool(h, 2, self.cfg.pools))               # (K,m,4)
        c = self.c_head(torch.cat([pool(pool(h, 2, ("mean",)), 1, self.cfg.pools), cond], -1))  # (K,2)
        mu = Nets(mu_w, neuron[..., 0], neuron[..., 1], c[:, 0])
        log_sigma = Nets(w[..., 1], neuron[..., 2], neuron[..., 3], c[:, 1])
        return NetDistribution(mu, log_sigma)

    def generate(self, log_beta: torch.Tensor, n: int, m: int,
                 generator: torch.Generator | None = None) -> NetDistribution:
        device = next(self.parameters()).device
        return self(self.noise(log_beta.shape[0], m, n, generator, device), log_beta.to(device))
