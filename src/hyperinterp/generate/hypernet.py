"""The equivariant hypernetwork: noise in, a distribution over target networks out.

The weight matrix is treated as a set of hidden neurons (m rows) x a set of inputs
(n columns). Every entry carries a feature vector; an exchangeable layer mixes each
entry with pools over its row, its column and the whole matrix, so permuting inputs or
neurons permutes the output the same way, and any (m, n) can be generated.

Random noise per entry (and per neuron) breaks the symmetry between neurons and makes
the model a generator of a *distribution* of networks. The conditions (log beta, log n,
log m) reach every layer by FiLM. A skip `W += skip * z` from one noise channel gives
diverse first networks (DESIGN §4: without it the generator sat at the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import curriculum, kernels, slots
from .target import Nets


@dataclass(frozen=True)
class HyperConfig:
    layers: int = 6
    width: int = 16
    noise_channels: int = 4          # per entry (neuron i, input j)
    neuron_noise_channels: int = 2   # per neuron, shared along its row
    skip: float = 0.5                # W += skip * z from noise channel 0 (DESIGN §4: without it, stuck at the mean)
    skip_until: int = 0              # the skip decays to 0 over this many steps (E24); 0: it stays
    pools: tuple[str, ...] = ("mean", "max")
    init_log_sigma: float = -3.0
    # Each neuron present with a generated probability q: an absent neuron's weights cost nothing (E68; the
    # spike-and-slab description length in train.network_bits); a bias any task could take, not one chosen for L1
    neuron_gate: bool = False
    # ... decided rather than drawn: present iff its logit > 0, a present neuron's weights paid in full, one bit a
    # neuron: no dropout, which E68 found rewards spreading (untried at scale: a 300-step smoke closed every gate)
    gate_decided: bool = False
    # Each network's neurons in a random order, each told its place (rank quantile in [-1, 1], one more neuron
    # channel): the distribution stays exchangeable, but one draw's neurons are distinct, so "the first few carry the
    # function, the rest are off" is a smooth output of the generator (E69); no task is assumed
    neuron_rank: bool = False
    # The share of training networks cut to the first k neurons of that order (k uniform in 1..m), the rest dropped:
    # nested dropout (Rippel et al. 2014). The first places must carry the function alone, so the order becomes one
    # of importance and the last places are free to switch off (E71). Training only; needs neuron_rank
    nested: float = 0.0
    # The output weight per unit of its neuron's input-weight norm (E28) / the output bias as a sum over neurons (E28)
    out_per_norm: bool = False
    c_per_neuron: bool = False
    # The L1-shaped devices of the E10-E59 generators, kept as ablations: what each does, and the entry that
    # measured it, is in slots.py. The plain generator (configs/plain.toml) turns all of them off.
    sign_split: bool = False
    sign_plus_share: float = 0.5
    sign_share_by_beta: tuple[tuple[float, tuple[tuple[float, float], ...]], ...] = ()
    slot_sinkhorn: int = 0
    slot_temperature: float = 1.0
    slot_magnitude: str = "entry"
    slot_signs: str = "free"
    slot_balance: str = "equal"
    slot_idle: bool = False
    slot_readout: bool = False
    idle_plain: bool = False


# The temperature of the gates' relaxed draw, through which their gradient passes (the forward uses the hard draw)
GATE_TEMPERATURE = 0.5


class NetDistribution(NamedTuple):
    """Independent Gaussians over every weight: means and log standard deviations; with `gate` (K, m), the logits
    of each neuron's presence (hyper.neuron_gate)."""

    mu: Nets
    log_sigma: Nets
    gate: torch.Tensor | None = None

    def draw(self, generator: torch.Generator | None = None, decided: bool = False) -> Nets:
        """A network drawn from the distribution; `decided`: a gated one's presence is its logit's sign, not drawn."""
        eps = Nets(*(randn(m.shape, generator, m.device, m.dtype) for m in self.mu))
        if self.gate is None:
            return self.shift(eps)
        if decided:
            return self.shift(eps, torch.zeros_like(self.gate))
        return self.shift(eps, gate_noise(self.gate.shape, generator, self.gate.device))

    def shift(self, eps: Nets, gate_eps: torch.Tensor | None = None) -> Nets:
        """mu + sigma * eps: the draw made from given standard normal noise; a gated distribution's output weights
        times the presence drawn from `gate_eps`, logistic noise (K, m): present where gate + gate_eps > 0, which
        has probability sigmoid(gate). The gradient passes through sigmoid((gate + gate_eps) / GATE_TEMPERATURE)
        (straight through), so the network trained is the one drawn."""
        nets = Nets(*(m + torch.exp(s) * e for m, s, e in zip(self.mu, self.log_sigma, eps, strict=True)))
        if self.gate is None:
            return nets
        return nets._replace(a=nets.a * presence(self.gate + gate_eps))


def presence(logit: torch.Tensor) -> torch.Tensor:
    """1 where logit > 0, else 0 (exactly, forward); the gradient of sigmoid(logit / GATE_TEMPERATURE) (straight
    through)."""
    soft = torch.sigmoid(logit / GATE_TEMPERATURE)
    return (logit > 0).to(soft.dtype) + (soft - soft.detach())


def _home(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    """Where random numbers are drawn: on the generator's own device (see `randn`), else on `device`."""
    return generator.device if generator is not None else torch.device(device)


def gate_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """Standard logistic noise, drawn like `randn` on the generator's device."""
    home = _home(generator, device)
    u = torch.rand(shape, generator=generator, device=home).clamp(1e-7, 1 - 1e-7)
    return (u.log() - (-u).log1p()).to(device)


def random_places(k: int, m: int, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """(K, m): each network's neurons in a random order, neuron j's place as a quantile (place + 1/2) / m in [-1, 1]."""
    home = _home(generator, device)
    place = torch.rand((k, m), generator=generator, device=home).argsort(1).argsort(1)
    return ((place.float() + 0.5) * (2.0 / m) - 1.0).to(device)


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise drawn by `generator` on the generator's own device, then moved to `device`.

    A CPU generator therefore gives the same numbers whether the model runs on the CPU or on CUDA (CUDA
    results equal CPU results up to floating-point rounding), and its state alone makes a run resumable."""
    home = _home(generator, device)
    return torch.randn(shape, generator=generator, device=home, dtype=dtype).to(device)


class Exchangeable(nn.Module):
    """out[k,i,j] = A h[k,i,j] + B pool_j h[k,i] + C pool_i h[k,:,j] + D pool_ij h[k] + bias.

    The pooled terms are projected *before* broadcasting, so no (K,m,n,P*d) tensor of pooled features is ever
    materialised; `reference` is the straightforward formulation (equal up to rounding)."""

    def __init__(self, d: int, pools: tuple[str, ...]):
        super().__init__()
        p = len(pools) * d
        self.pools = pools
        self.entry = nn.Linear(d, d)
        self.row = nn.Linear(p, d, bias=False)
        self.col = nn.Linear(p, d, bias=False)
        self.glob = nn.Linear(p, d, bias=False)

    def _global(self, row: torch.Tensor, d: int) -> torch.Tensor:
        """The global pool from the row pools: mean of means, max of maxes."""
        return torch.cat([row[..., i * d:(i + 1) * d].mean(1) if kind == "mean" else row[..., i * d:(i + 1) * d].amax(1)
                          for i, kind in enumerate(self.pools)], -1)

    def reference(self, h: torch.Tensor) -> torch.Tensor:
        row = kernels.pool_reference(h, 2, self.pools)             # (K,m,P*d) per neuron
        col = kernels.pool_reference(h, 1, self.pools)             # (K,n,P*d) per input
        glob = self._global(row, h.shape[-1])
        return (self.entry(h) + self.row(row)[:, :, None] + self.col(col)[:, None]
                + self.glob(glob)[:, None, None])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        k, m, n, d = h.shape
        row = kernels.pool(h, 2, self.pools)
        col = self.col(kernels.pool(h, 1, self.pools))
        row = self.row(row) + (self.glob(self._global(row, d)) + self.entry.bias)[:, None]
        # one full-size sum of the two pooled terms, then the entry map accumulates into it (one GEMM)
        base = (row[:, :, None] + col[:, None]).reshape(-1, d)
        return kernels.entry_map(base, h.reshape(-1, d), self.entry.weight.t()).view(k, m, n, d)


class Block(nn.Module):
    """Residual exchangeable layer with LayerNorm and FiLM from the conditions."""

    def __init__(self, d: int, pools: tuple[str, ...], cond_dim: int):
        super().__init__()
        self.layer = Exchangeable(d, pools)
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * d)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor, reference: bool = False) -> torch.Tensor:
        gamma, shift = self.film(cond)[:, None, None].chunk(2, -1)
        mixed = self.layer.reference(h) if reference else self.layer(h)
        return h + nn.functional.silu(self.norm(mixed) * (1 + gamma) + shift)


GENERATE_CHUNK_VALUES = 1 << 18
# The largest log sigma a weight may get (sigma = 4.9e8): far above any trained weight's, and sigma^2 still finite in
# float32. An input the generator never saw (E55, E57: half of the neurons turned - at once) sent one output weight's
# log sigma to 46.7, whose sigma^2 overflows: bits and MSE inf at any learning rate, the run lost.
LOG_SIGMA_MAX = 20.0


class HyperNetwork(nn.Module):
    def __init__(self, cfg: HyperConfig = HyperConfig(), c_init: float = 0.0):
        super().__init__()
        self.cfg = cfg
        # the stage of training it generates at when none is passed (curriculum.py): a checkpoint's model has its
        # step's (sample.load_model); a fresh one the whole skip and the last share of + neurons
        self.stage = curriculum.Stage(cfg)
        d, cond_dim = cfg.width, 16
        self.cond = nn.Sequential(nn.Linear(3, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.embed = nn.Linear(cfg.noise_channels + cfg.neuron_noise_channels + cfg.neuron_rank + cfg.sign_split, d)
        self.blocks = nn.ModuleList(Block(d, cfg.pools, cond_dim) for _ in range(cfg.layers))
        p = len(cfg.pools) * d
        self.w_head = nn.Linear(d, 2)                                        # mu_W, log sigma_W
        # score +, score -, log magnitude (, idle score: its mean over the inputs is the neuron's)
        self.slot_head = nn.Linear(d, 3 + cfg.slot_idle) if cfg.slot_sinkhorn else None
        # b, a, log sigma_b, log sigma_a (, c's share) (, presence logit)
        self.neuron_head = nn.Sequential(nn.Linear(p + d * cfg.slot_readout, d), nn.SiLU(),
                                         nn.Linear(d, 4 + cfg.c_per_neuron + cfg.neuron_gate))
        self.c_head = nn.Linear(p + cond_dim, 2)                             # mu_c, log sigma_c
        for head in (self.w_head, self.neuron_head[-1], self.c_head, *([self.slot_head] if self.slot_head else [])):
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.w_head.bias[1] = cfg.init_log_sigma
            self.neuron_head[-1].bias[2:4] = cfg.init_log_sigma
            if cfg.neuron_gate:  # every neuron present at first (q = 0.95): training starts as the ungated generator
                self.neuron_head[-1].bias[-1] = 3.0
            self.c_head.bias[0] = c_init
            self.c_head.bias[1] = cfg.init_log_sigma

    @staticmethod
    def conditions(log_beta: torch.Tensor, n: int, m: int) -> torch.Tensor:
        """(K,3): log beta scaled to about [-1, 1] over 1e-8..1, and the log sizes."""
        k = log_beta.shape[0]
        sizes = log_beta.new_tensor([math.log(n) / 3 - 1, math.log(m) / 4 - 1]).expand(k, 2)
        return torch.cat([(log_beta[:, None] + 9.2) / 9.2, sizes], -1)

    def noise(self, k: int, m: int, n: int, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu", share: float | np.ndarray | None = None) -> torch.Tensor:
        """(K,m,n,C) generator noise: per entry, then per neuron (with neuron_rank the neuron's place in a random
        order; with sign_split its sign, last); `share`: the share of + neurons, one or one per network (None:
        `self.stage`'s)."""
        cfg = self.cfg
        share = self.stage.share() if share is None else share
        z = randn((k, m, n, cfg.noise_channels), generator, device)
        zn = randn((k, m, 1, cfg.neuron_noise_channels), generator, device)
        if cfg.neuron_rank:
            zn = torch.cat([zn, random_places(k, m, generator, device)[..., None, None]], -1)
        if cfg.sign_split:
            zn = torch.cat([zn, slots.random_signs(k, m, share, generator, device)[..., None, None]], -1)
        return torch.cat([z, zn.expand(k, m, n, -1)], -1)

    def places(self, z: torch.Tensor) -> torch.Tensor:
        """(K,m) each neuron's place 0..m-1 in its network's random order, read back from `noise`'s rank channel."""
        m = z.shape[1]
        quantile = z[:, :, 0, self.cfg.noise_channels + self.cfg.neuron_noise_channels]
        return ((quantile + 1) * (m / 2) - 0.5).round().long()

    def forward(self, z: torch.Tensor, log_beta: torch.Tensor, reference: bool = False,
                skip_scale: float | torch.Tensor | None = None) -> NetDistribution:
        """z: (K,m,n,C) noise from `noise`; log_beta: (K,). Returns the weight distribution.

        `reference=True` runs the straightforward formulation of every layer (equal up to rounding);
        `skip_scale`: the noise skip's share at this training step (None: `self.stage`'s)."""
        k, m, n, _ = z.shape
        cfg, pool = self.cfg, kernels.pool_reference if reference else kernels.pool
        # features of every entry (neuron, input), mixed along rows, columns and the whole matrix
        cond = self.cond(self.conditions(log_beta, n, m))
        h = self.embed(z)
        for block in self.blocks:
            h = block(h, cond, reference)
        # input weights: a head per entry (or the slots' balanced assignment), plus the noise skip
        w = self.w_head(h)
        neuron_features = pool(h, 2, cfg.pools)
        head = w[..., 0]
        if self.slot_head is not None:
            head, p = slots.weights(cfg, self.slot_head(h), z[:, :, 0, -1], w[..., 0])
            if cfg.slot_readout:  # the features of the entries each neuron serves
                served = p if p.dim() == 3 else p.sum(-1)
                neuron_features = torch.cat([neuron_features, torch.einsum("kmn,kmnd->kmd", served, h)], -1)
        scale = self.stage.skip if skip_scale is None else skip_scale
        mu_w = head + (cfg.skip * scale) * z[..., 0]
        if cfg.sign_split:
            mu_w = z[..., -1] * mu_w
        # per neuron: bias, output weight (and its presence) from the pooled features of its row
        neuron = self.neuron_head(neuron_features)
        mu_a, log_sigma_a = neuron[..., 1], neuron[..., 3]
        if cfg.out_per_norm:
            norm = torch.linalg.vector_norm(mu_w, dim=2).clamp_min(1e-3)
            mu_a, log_sigma_a = mu_a / norm, log_sigma_a - norm.log()
        # the output bias from the whole matrix
        c = self.c_head(torch.cat([pool(pool(h, 2, ("mean",)), 1, cfg.pools), cond], -1))  # (K,2)
        mu_c = c[:, 0] + neuron[..., 4].sum(1) if cfg.c_per_neuron else c[:, 0]
        mu = Nets(mu_w, neuron[..., 0], mu_a, mu_c)
        log_sigma = Nets(w[..., 1], neuron[..., 2], log_sigma_a, c[:, 1])
        gate = neuron[..., -1] if cfg.neuron_gate else None
        return NetDistribution(mu, Nets(*(t.clamp(max=LOG_SIGMA_MAX) for t in log_sigma)), gate)

    def slot_assignment(self, h: torch.Tensor, sign: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The slots' balanced assignment P and log magnitude l for features h (see slots.assignment)."""
        return slots.assignment(self.cfg, self.slot_head(h), sign)

    def slot_weights(self, h: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """The slot weights exp(l) * P (split signs) or exp(l) * (P+ - P-), before the sign and the skip."""
        return slots.weights_from(*self.slot_assignment(h, sign))

    def generate(self, log_beta: torch.Tensor, n: int, m: int,
                 generator: torch.Generator | None = None) -> NetDistribution:
        """Weight distributions of K = len(log_beta) networks of size (m, n).

        Without gradients (sampling), the networks go through the layers in groups of about
        GENERATE_CHUNK_VALUES activations: the noise is drawn for all K first, so the networks are the
        same, but each group's activations stay in cache (on a CPU, about twice as fast for K in the
        thousands as one (K,m,n,d) pass)."""
        device = next(self.parameters()).device
        k = log_beta.shape[0]
        share = self.stage.share(log_beta)
        z, log_beta = self.noise(k, m, n, generator, device, share), log_beta.to(device)
        group = max(1, GENERATE_CHUNK_VALUES // (m * n * self.cfg.width))
        if torch.is_grad_enabled() or group >= k:
            return self(z, log_beta)
        parts = [self(z[i:i + group], log_beta[i:i + group]) for i in range(0, k, group)]
        mu, log_sigma = (Nets(*(torch.cat(ts) for ts in zip(*(getattr(p, f) for p in parts), strict=True)))
                         for f in ("mu", "log_sigma"))
        return NetDistribution(mu, log_sigma, None if parts[0].gate is None else torch.cat([p.gate for p in parts]))
