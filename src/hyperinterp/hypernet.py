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

from . import curriculum
from .target import Nets


@dataclass(frozen=True)
class HyperConfig:
    layers: int = 6
    width: int = 16
    noise_channels: int = 4          # per entry (neuron i, input j)
    neuron_noise_channels: int = 2   # per neuron, shared along its row
    skip: float = 0.5
    pools: tuple[str, ...] = ("mean", "max")
    init_log_sigma: float = -3.0
    # Half the neurons of every network get sign +1, half -1 (a random balanced split, fed to the layers as
    # one more neuron channel), and mu_W = sign * head: mixed signs become the easy output of a shared
    # generator, one sign for every sparse neuron (pudding) the one it must learn (DESIGN §9, E10).
    sign_split: bool = False
    # The share of + neurons in that split (E35). 1/2 keeps the two signs mirror images, so a generator trained on
    # a target symmetric under x -> -x has no reason to treat them differently: double-sided and convexity are
    # symmetric, pudding (n sharp neurons of one sign and a dense linear part) breaks the symmetry. Another share
    # gives one sign more neurons than its floor needs, and a form of pudding a side to fall to (E35, E38: it did not).
    sign_plus_share: float = 0.5
    # A share schedule per beta (E57): [[beta, [[fraction, share], ...]], ...], betas rising; a network's share is
    # interpolated linearly in log beta between its neighbours (the nearest schedule outside them). The - neurons can
    # then arrive at once where double-sided should win (low beta: E55's jump) and one by one where pudding should
    # (the band: E55's ramp). A finished run samples each beta with its schedule's last share (the default's all end
    # at sign_plus_share; E61 holds the band at one sign).
    sign_share_by_beta: tuple[tuple[float, tuple[tuple[float, float], ...]], ...] = ()
    # Neurons compete for the 2n (input, sign) slots (E13): the mean input weights are
    # mu_W[j, i] = exp(l[j, i]) * (P[j, i, +] - P[j, i, -]) + skip * z, where P is a soft assignment of neurons
    # to slots balanced by this many Sinkhorn iterations (every neuron spreads mass 1, every slot receives
    # m / 2n): a + slot of an input is filled as often as its - slot, the coordination double-sided needs
    # and a coupon collector lacks. 0: off (the plain weight head).
    slot_sinkhorn: int = 0
    # The slot scores are divided by this before the balancing (E15): under Adam, whose steps have about the
    # same size whatever the gradient's scale, a temperature below 1 sharpens the assignment that many times
    # faster than the rest of the generator moves (a sharp, balanced assignment covers every slot).
    slot_temperature: float = 1.0
    # Where the slot weights' magnitude exp(l) lives (E17). "entry": one per (neuron, input), so a seed can
    # shrink every neuron of one sign to nothing and keep the slot mass balanced on paper (E15's pudding
    # seeds). "input": one per input, the mean of l over the neurons, shared by the neurons of both signs:
    # a neuron in an input's + slot weighs what one in its - slot does, and pudding must pay for the idle sign.
    # "input_sign" (split slots only, E45): one per (input, sign), the mean of l over that sign's neurons, so
    # an input's - neurons can fade while its + neurons stay (pudding's one-signed inputs, at no tax).
    slot_magnitude: str = "entry"
    # What a slot is (E18). "free": an (input, sign) pair, so a neuron holding equal mass on both signs of an
    # input has no weight on it and the balance can be kept on paper (E17's pudding seed). "split": the sign is
    # the neuron's own (sign_split), the slots are the inputs, and the + neurons and the - neurons are each
    # balanced over the inputs: every input receives as much + mass as - mass, and nothing cancels.
    slot_signs: str = "free"
    # How much mass a slot receives (E21). "equal": exactly its share, m / 2n, which at m = 48, n = 16 is 1.5:
    # a sharp assignment cannot meet it, so some neurons stay split between inputs and an input can be left
    # without a sharp neuron of one sign (E18's hybrids, one to three inputs short). "floor": at least
    # min(1, share), the rest free: every slot can hold one whole neuron and the spare neurons go where they pay.
    slot_balance: str = "equal"
    # The noise skip decays linearly from `skip` to 0 over the first this many training steps (E24); 0: it stays.
    # Slot weights are >= 0, so on the off-slot entries nothing cancels the skip's noise (E20: off-slot |mu_W|
    # 0.30, slot weights grown to 25-46 to drown it); the skip is still what moves the first steps off the
    # plateau, so it is kept there and removed later. A checkpoint's networks use the skip of its step.
    skip_until: int = 0
    # The output weight a generated per unit of its neuron's input-weight norm (E28): mu_a = head / |mu_W row|,
    # log sigma_a = head - log |mu_W row|. A neuron of slope k needs a ~ 1/k; the neuron head reads pooled
    # features and sets a only to within a few percent of its best value (E28's refit: the shipped E24 networks'
    # own W and b with least-squares a and c are 2-4x more accurate), so the head is given the ratio instead.
    out_per_norm: bool = False
    # The output bias c gets a sum of per-neuron offsets from the neuron head (E28): a neuron's activation has
    # a mean of its own (silu's x tanh(kx/2) falls short of |x| by an amount set by its slope), which one
    # global head reading pooled features hit only to rel ~1e-3. A sum over neurons could follow m and n, but
    # only if trained over sizes: E30, trained at n = 16, misses c at n = 8 and 32 (rel ~10 until c is refitted).
    c_per_neuron: bool = False
    # An idle slot beside the inputs (E29; needs slot_signs = "split" and slot_balance = "floor"): a neuron may put
    # its mass on no input. The floor fills every input with one neuron of each sign and the rows sum to 1, so the
    # m - 2n spare neurons had to read some input with that input's magnitude, and E28's error lives on the inputs
    # that hold them (one input with 8-15 neurons; the inputs with a clean pair are near exact). Idle, a spare
    # neuron's weights are ~0: a constant the output bias absorbs.
    slot_idle: bool = False
    # The neuron head also reads the features of the entries its neuron serves, sum_i P[j, i] h[j, i] (E30; needs
    # slot_sinkhorn): E29's hidden layers admit a read-out 10-30x more accurate than the generated one, which sees
    # only the mean and max over all n inputs, where the one entry that sets the neuron's slope is diluted.
    slot_readout: bool = False
    # The plain weight head times each neuron's idle mass added to its slot weights (E50; needs slot_idle): a spare
    # neuron the balance sends to no input gets free weights of either sign on every input, a dense part that the
    # slots cannot give (a slot weight has its neuron's sign, and its magnitude is the input's). Pudding's linear
    # term, and the mixed-sign one E45's one-sided hybrids lacked, are then representable; a neuron in a slot keeps
    # its clean weights (idle mass ~0), unlike E20's plain head on every neuron, whose free weights cancelled the
    # slots (E22).
    idle_plain: bool = False
    # Every neuron is present or absent (E68): the neuron head gives each a logit l_j, a network keeps neuron j with
    # probability q_j = sigmoid(l_j) (its output weight times a Bernoulli draw), and its description length is the
    # spike-and-slab one, sum_j [q_j * bits(neuron j) + KL(Bernoulli(q_j) || Bernoulli(1/2))] + bits(c): an absent
    # neuron's weights cost nothing and presence costs at most one bit. A bias any task could take (a switched-off
    # neuron is free, DESIGN §9), not one chosen for L1.
    neuron_gate: bool = False


# The temperature of the gates' relaxed draw, through which their gradient passes (the forward uses the hard draw)
GATE_TEMPERATURE = 0.5


class NetDistribution(NamedTuple):
    """Independent Gaussians over every weight: means and log standard deviations; with `gate` (K, m), the logits
    of each neuron's presence (hyper.neuron_gate)."""

    mu: Nets
    log_sigma: Nets
    gate: torch.Tensor | None = None

    def draw(self, generator: torch.Generator | None = None) -> Nets:
        eps = Nets(*(randn(m.shape, generator, m.device, m.dtype) for m in self.mu))
        if self.gate is None:
            return self.shift(eps)
        return self.shift(eps, gate_noise(self.gate.shape, generator, self.gate.device))

    def shift(self, eps: Nets, gate_eps: torch.Tensor | None = None) -> Nets:
        """mu + sigma * eps: the draw made from given standard normal noise; a gated distribution's output weights
        times the presence drawn from `gate_eps`, logistic noise (K, m): present where gate + gate_eps > 0, which
        has probability sigmoid(gate). The gradient passes through sigmoid((gate + gate_eps) / GATE_TEMPERATURE)
        (straight through), so the network trained is the one drawn."""
        nets = Nets(*(m + torch.exp(s) * e for m, s, e in zip(self.mu, self.log_sigma, eps, strict=True)))
        if self.gate is None:
            return nets
        soft = torch.sigmoid((self.gate + gate_eps) / GATE_TEMPERATURE)
        present = (self.gate + gate_eps > 0).to(soft.dtype) + soft - soft.detach()
        return nets._replace(a=nets.a * present)


def gate_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """Standard logistic noise, drawn like `randn` on the generator's device."""
    home = generator.device if generator is not None else torch.device(device)
    u = torch.rand(shape, generator=generator, device=home).clamp(1e-7, 1 - 1e-7)
    return (u.log() - (-u).log1p()).to(device)


def _random_split(k: int, m: int, count: int | np.ndarray, generator: torch.Generator | None,
                  device: torch.device | str) -> torch.Tensor:
    """(K, m): +1 on `count` neurons of each network drawn at random (one count, or one per network), -1 on the rest."""
    rank = torch.rand((k, m), generator=generator, device=generator.device if generator else "cpu").argsort(1)
    count = torch.as_tensor(count, dtype=torch.long, device=rank.device).reshape(-1, 1)  # (1 or K, 1)
    return torch.where(rank.argsort(1) < count, 1.0, -1.0).to(device)


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise drawn by `generator` on the generator's own device, then moved to `device`.

    A CPU generator therefore gives the same numbers whether the model runs on the CPU or on CUDA (CUDA
    results equal CPU results up to floating-point rounding), and its state alone makes a run resumable."""
    home = generator.device if generator is not None else torch.device(device)
    return torch.randn(shape, generator=generator, device=home, dtype=dtype).to(device)


def pool_reference(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the requested symmetric pools of h over `dim` along the feature axis."""
    parts = []
    for kind in kinds:
        parts.append(h.mean(dim) if kind == "mean" else h.amax(dim))
    return torch.cat(parts, -1)


def _fold_max(h: torch.Tensor, dim: int) -> torch.Tensor:
    """max over `dim` by pairwise halving. Exact (max does not round), and on the CPU several times faster
    than amax over a middle axis with a short contiguous inner axis (the d = 16 features)."""
    while h.shape[dim] > 1:
        size = h.shape[dim]
        half = size // 2
        folded = torch.maximum(h.narrow(dim, 0, half), h.narrow(dim, half, half))
        h = torch.cat([folded, h.narrow(dim, 2 * half, 1)], dim) if size % 2 else folded
    return h.squeeze(dim)


class _Pool(torch.autograd.Function):
    """Mean and/or max of h over `dim`, with one fused backward.

    The gradient is the one autograd gives `mean` and `amax` (a max's gradient shared equally between tied
    entries), built in place from a float mask written by `eq`, instead of autograd's bool mask, type
    conversion and separate full-size gradient tensors per pool."""

    @staticmethod
    def forward(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        # pairwise folding pays where the reduced axis has a short contiguous inner block (the rows: d values)
        fold = h.stride(dim) <= 64 and h.numel() >= 1 << 15
        return tuple(h.mean(dim) if kind == "mean" else _fold_max(h, dim) if fold else h.amax(dim) for kind in kinds)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: tuple[torch.Tensor, ...]) -> None:
        h, dim, kinds = inputs
        ctx.dim, ctx.kinds = dim, kinds
        ctx.save_for_backward(h, *(o for o, kind in zip(output, kinds, strict=True) if kind == "max"))

    @staticmethod
    def vmap(info, in_dims: tuple, h: torch.Tensor, dim: int, kinds: tuple[str, ...]):
        """Under torch.vmap (the batched multi-seed trainer): the mapped axis becomes a leading batch axis of
        the same pool, so the fused forward and backward run once on the stacked tensor."""
        h = h.movedim(in_dims[0], 0) if in_dims[0] is not None else h.unsqueeze(0).expand(info.batch_size, *h.shape)
        outs = _Pool.apply(h, dim % (h.dim() - 1) + 1, kinds)
        return outs, tuple(0 for _ in outs)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        h, *maxes = ctx.saved_tensors
        dim, size = ctx.dim, h.shape[ctx.dim]
        grad = None
        for g, kind in zip(grads, ctx.kinds, strict=True):
            if kind == "max":
                mask = torch.eq(h, maxes.pop(0).unsqueeze(dim), out=torch.empty_like(h))
                part = mask.mul_((g / mask.sum(dim)).unsqueeze(dim))
                grad = part if grad is None else grad.add_(part)
        for g, kind in zip(grads, ctx.kinds, strict=True):
            if kind == "mean":
                part = (g / size).unsqueeze(dim)
                grad = part.expand_as(h) if grad is None else grad.add_(part)
        return grad, None, None


def pool(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the requested symmetric pools of h over `dim` along the feature axis.

    Equal to `pool_reference` up to floating-point rounding of the backward pass (the forward is bitwise
    the same); `tests/test_performance.py` checks it."""
    return torch.cat(_Pool.apply(h, dim, tuple(kinds)), -1)


class _EntryMap(torch.autograd.Function):
    """addmm(base, h, w): the entry map accumulated into the pooled terms, with autograd's addmm gradients.

    A Function only for its vmap rule: under torch.vmap (the batched multi-seed trainer) vmap's own addmm rule
    runs bmm, two scalings and an add; this one is one baddbmm (batched seeds ~1.4x faster on a CPU)."""

    @staticmethod
    def forward(base: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.addmm(base, h, w)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[1], inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w = ctx.saved_tensors
        # autograd's addmm backward (mm_mat1_backward, mm_mat2_backward) for a row-major h: the same numbers
        column_major = w.stride(0) == 1 and w.stride(1) == w.shape[0]
        return grad, grad.mm(w.t()), grad.t().mm(h).t() if column_major else h.t().mm(grad)

    @staticmethod
    def vmap(info, in_dims: tuple, base: torch.Tensor, h: torch.Tensor, w: torch.Tensor):
        args = [t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
                for t, d in zip((base, h, w), in_dims, strict=True)]
        return _EntryBatched.apply(*args), 0


class _EntryBatched(torch.autograd.Function):
    """baddbmm(base, h, w) over a leading seed axis, with its gradients."""

    @staticmethod
    def forward(base: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(base, h, w)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[1], inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w = ctx.saved_tensors
        return grad, grad.bmm(w.transpose(1, 2)), h.transpose(1, 2).bmm(grad)


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

    def reference(self, h: torch.Tensor) -> torch.Tensor:
        """The straightforward formulation (tests check `forward` against it)."""
        d = h.shape[-1]
        row = pool_reference(h, 2, self.pools)             # (K,m,P*d) per neuron
        col = pool_reference(h, 1, self.pools)             # (K,n,P*d) per input
        # the global pool from the row pools: mean of means, max of maxes
        glob = torch.cat([row[..., i * d:(i + 1) * d].mean(1) if k == "mean" else row[..., i * d:(i + 1) * d].amax(1)
                          for i, k in enumerate(self.pools)], -1)  # (K,P*d)
        return (self.entry(h) + self.row(row)[:, :, None] + self.col(col)[:, None]
                + self.glob(glob)[:, None, None])

    def pooled_terms(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-neuron term (K,m,d) (row pool, global pool and the entry bias) and the per-input term
        (K,n,d) (column pool): everything but the entry map, projected before any broadcast."""
        d = h.shape[-1]
        row = pool(h, 2, self.pools)
        col = pool(h, 1, self.pools)
        glob = torch.cat([row[..., i * d:(i + 1) * d].mean(1) if k == "mean" else row[..., i * d:(i + 1) * d].amax(1)
                          for i, k in enumerate(self.pools)], -1)
        return self.row(row) + (self.glob(glob) + self.entry.bias)[:, None], self.col(col)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        k, m, n, d = h.shape
        row, col = self.pooled_terms(h)
        # one full-size sum of the two pooled terms, then the entry map accumulates into it (one GEMM)
        base = (row[:, :, None] + col[:, None]).reshape(-1, d)
        return _EntryMap.apply(base, h.reshape(-1, d), self.entry.weight.t()).view(k, m, n, d)


class Block(nn.Module):
    """Residual exchangeable layer with LayerNorm and FiLM from the conditions."""

    def __init__(self, d: int, pools: tuple[str, ...], cond_dim: int):
        super().__init__()
        self.layer = Exchangeable(d, pools)
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * d)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def reference(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The straightforward formulation (tests check `forward` against it)."""
        gamma, shift = self.film(cond)[:, None, None].chunk(2, -1)
        return h + nn.functional.silu(self.norm(self.layer.reference(h)) * (1 + gamma) + shift)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, shift = self.film(cond)[:, None, None].chunk(2, -1)
        return h + nn.functional.silu(self.norm(self.layer(h)) * (1 + gamma) + shift)


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
        self.embed = nn.Linear(cfg.noise_channels + cfg.neuron_noise_channels + cfg.sign_split, d)
        self.blocks = nn.ModuleList(Block(d, cfg.pools, cond_dim) for _ in range(cfg.layers))
        p = len(cfg.pools) * d
        self.w_head = nn.Linear(d, 2)                                        # mu_W, log sigma_W
        # score +, score -, log magnitude (, idle score: its mean over the inputs is the neuron's)
        self.slot_head = nn.Linear(d, 3 + cfg.slot_idle) if cfg.slot_sinkhorn else None
        self.neuron_head = nn.Sequential(nn.Linear(p + d * cfg.slot_readout, d), nn.SiLU(),
                                         nn.Linear(d, 4 + cfg.c_per_neuron + cfg.neuron_gate))  # b, a
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
        """(K,m,n,C) generator noise; `share`: the share of + neurons, one or one per network (None: `self.stage`'s)."""
        cfg = self.cfg
        share = self.stage.share() if share is None else share
        z = randn((k, m, n, cfg.noise_channels), generator, device)
        zn = randn((k, m, 1, cfg.neuron_noise_channels), generator, device)
        if cfg.sign_split:  # the last channel: +1 on a random share of the neurons, -1 on the rest
            # share * m rounded to 6 decimals first: a share interpolated from a float32 log beta lands a hair short
            plus = np.clip(np.floor(np.round(np.asarray(share, dtype=np.float64) * m, 6)), 1, m - 1)  # both signs
            zn = torch.cat([zn, _random_split(k, m, plus, generator, device)[..., None, None]], -1)
        return torch.cat([z, zn.expand(k, m, n, -1)], -1)

    def forward(self, z: torch.Tensor, log_beta: torch.Tensor, reference: bool = False,
                skip_scale: float | torch.Tensor | None = None) -> NetDistribution:
        """z: (K,m,n,C) noise from `noise`; log_beta: (K,). Returns the weight distribution.

        `reference=True` runs the straightforward formulation of every layer (equal up to rounding);
        `skip_scale`: the noise skip's share at this training step (None: `self.stage`'s)."""
        k, m, n, _ = z.shape
        pool_ = pool_reference if reference else pool
        cond = self.cond(self.conditions(log_beta, n, m))
        h = self.embed(z)
        for block in self.blocks:
            h = block.reference(h, cond) if reference else block(h, cond)
        w = self.w_head(h)
        neuron_features = pool_(h, 2, self.cfg.pools)
        if self.slot_head is None:
            head = w[..., 0]
        else:
            p, log_magnitude = self.slot_assignment(h, z[:, :, 0, -1])
            head = self.slot_weights_from(p, log_magnitude)
            if self.cfg.idle_plain:  # the mass of a (split) assignment's row left for the idle column
                head = head + (1 - p.sum(2, keepdim=True)).clamp_min(0) * w[..., 0]
            if self.cfg.slot_readout:  # the features of the entries each neuron serves
                served = p if p.dim() == 3 else p.sum(-1)
                neuron_features = torch.cat([neuron_features, torch.einsum("kmn,kmnd->kmd", served, h)], -1)
        scale = self.stage.skip if skip_scale is None else skip_scale
        mu_w = head + (self.cfg.skip * scale) * z[..., 0]
        if self.cfg.sign_split:
            mu_w = z[..., -1] * mu_w
        neuron = self.neuron_head(neuron_features)                            # (K,m,4 to 6)
        c = self.c_head(torch.cat([pool_(pool_(h, 2, ("mean",)), 1, self.cfg.pools), cond], -1))  # (K,2)
        mu_a, log_sigma_a = neuron[..., 1], neuron[..., 3]
        if self.cfg.out_per_norm:
            norm = torch.linalg.vector_norm(mu_w, dim=2).clamp_min(1e-3)
            mu_a, log_sigma_a = mu_a / norm, log_sigma_a - norm.log()
        mu_c = c[:, 0] + neuron[..., 4].sum(1) if self.cfg.c_per_neuron else c[:, 0]
        mu = Nets(mu_w, neuron[..., 0], mu_a, mu_c)
        log_sigma = Nets(w[..., 1], neuron[..., 2], log_sigma_a, c[:, 1])
        gate = neuron[..., -1] if self.cfg.neuron_gate else None
        return NetDistribution(mu, Nets(*(t.clamp(max=LOG_SIGMA_MAX) for t in log_sigma)), gate)

    def slot_assignment(self, h: torch.Tensor, sign: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The balanced assignment P and the log magnitude l of the slot weights: P is (K, m, n, 2) over
        (input, sign) slots, or with slot_signs = "split" (K, m, n) over the inputs, each sign of neurons
        (`sign`: (K, m)) balanced on its own."""
        k, m, n, _ = h.shape
        s = self.slot_head(h)
        log_magnitude = s[..., 2] if self.cfg.slot_magnitude == "entry" else s[..., 2].mean(1, keepdim=True)
        floor = self.cfg.slot_balance == "floor"
        if self.cfg.slot_signs == "split":
            plus = (sign > 0)[:, :, None]
            if self.cfg.slot_magnitude == "input_sign":
                log_magnitude = torch.where(plus, sign_mean(s[..., 2], plus), sign_mean(s[..., 2], ~plus))
            idle = s[..., 3].mean(2, keepdim=True) / self.cfg.slot_temperature if self.cfg.slot_idle else None
            return sinkhorn_split(s[..., 0] / self.cfg.slot_temperature, plus, self.cfg.slot_sinkhorn, floor,
                                  idle).exp(), log_magnitude
        scores = s[..., :2].reshape(k, m, 2 * n) / self.cfg.slot_temperature
        log_p = sinkhorn(scores, self.cfg.slot_sinkhorn, math.log(m / (2 * n)), floor)
        return log_p.exp().view(k, m, n, 2), log_magnitude

    def slot_weights(self, h: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """exp(l) * (P+ - P-), P the Sinkhorn-balanced assignment of neurons to (input, sign) slots; with
        slot_signs = "split", exp(l) * P, P balancing the neurons of each sign (`sign`: (K, m)) over the inputs
        (the caller multiplies by the sign)."""
        return self.slot_weights_from(*self.slot_assignment(h, sign))

    @staticmethod
    def slot_weights_from(p: torch.Tensor, log_magnitude: torch.Tensor) -> torch.Tensor:
        return log_magnitude.exp() * (p if p.dim() == 3 else p[..., 0] - p[..., 1])

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
