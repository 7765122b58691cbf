"""Networks on data, a whole file at once: what the read-out (classify, fingerprint) measures of every neuron.

Every network of a file is read on the same inputs x (the task's input distribution, a fixed seed) and targets y.
The networks are evaluated in blocks: one batched product x·Wᵀ and one activation call for the whole block (each
network's (inputs, neurons) array contiguous), and each per-neuron statistic is a reduction over the inputs for the
whole block at once, or follows from the inputs' covariance (z_j is linear in x). numpy reduces over the inputs row by
row, so a neuron's statistic does not depend on the block it sits in: a network measured in a block of many reads as
it does alone (tested). What is left per network (grouping neurons, a few fits of summed outputs) is small.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..generate.tasks import make_task
from .netmath import Design, participation_ratio, phi

# Neurons evaluated at once: with 4,096 inputs one (inputs, neurons) float64 array of the block is 64 MiB.
BLOCK_NEURONS = 2048
# Effective neurons reproduce 95% of the output's variance (the 5% a re-encoding may miss and still reproduce a
# network, families.MECHANISM_TOLERANCE).
EFFECTIVE_SHARE = 0.95


@dataclass(frozen=True)
class Data:
    """The inputs x (B,n) and targets y (B,) every network of a file is read on (float64, read-only), the
    moments of x that every neuron's statistics need, and the designs of the fits on the data: linear in x, and
    separable quadratic in (x, x²)."""

    x: np.ndarray
    y: np.ndarray
    x_one: np.ndarray      # (B,n+1): x and a column of ones, so that x·wᵀ + b is one matrix product
    x_centred: np.ndarray  # x - mean x
    x_mean: np.ndarray     # (n,)
    x_cov: np.ndarray      # (n,n) covariance of the inputs (divided by B)
    abs_unit: float        # one input's share of an L1-like target: the mean std of |x_i|
    relu_unit: float       # the mean std of relu(x_i)
    linear: Design
    quadratic: Design


@lru_cache(maxsize=32)
def data(n: int, n_samples: int, seed: int, task: str = "l1", input_dist: str = "normal") -> Data:
    """The read-out's data for networks with n inputs (cached: every network of a file shares it)."""
    t = make_task(task, input_dist)
    x = t.sample_x(n_samples, n, generator=torch.Generator().manual_seed(int(seed))).double()
    x_np, y_np = x.numpy(), t.target(x).numpy()
    linear = Design(x_np)
    for arr in (x_np, y_np):
        arr.flags.writeable = False
    x_one = np.hstack([x_np, np.ones((len(x_np), 1))])
    return Data(x_np, y_np, x_one, linear.centred, linear.mean, linear.gram / len(x_np),
                float(np.abs(x_np).std(0).mean()), float(np.maximum(x_np, 0.0).std(0).mean()), linear,
                Design(np.hstack([x_np, x_np * x_np])))


def group_sums(H: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """(B, G): the summed contributions of each group of neurons (columns of H), as one matrix product."""
    onehot = np.zeros((H.shape[1], len(groups)))
    for g, js in enumerate(groups):
        onehot[js, g] = 1.0
    return H @ onehot


def sample_inputs(n: int, n_samples: int, seed: int, task: str = "l1",
                  input_dist: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B,n) and targets (B,) in float64, from the task's input distribution (read-only, cached)."""
    d = data(n, n_samples, seed, task, input_dist)
    return d.x, d.y


@dataclass
class Measured:
    """One network f(x) = Σ_j a_j φ(z_j) + c, z_j = w_j·x + b_j, on the data, with per-neuron statistics."""

    W: np.ndarray        # (m,n) float64
    b: np.ndarray        # (m,)
    a: np.ndarray        # (m,)
    c: float
    data: Data
    H: np.ndarray        # (B,m) contributions a_j φ(z_j)
    f: np.ndarray        # (B,) outputs
    gram: np.ndarray     # (m,m) Σ_b (h_bj − mean h_j)(h_bk − mean h_k): the contributions' covariance times B
    s: np.ndarray        # (m,) std of each contribution on the data
    var_h: np.ndarray    # (m,) its variance
    pr: np.ndarray       # (m,) participation ratio of each weight row
    main: np.ndarray     # (m,) the input of each row's largest |weight|
    sign: np.ndarray     # (m,) that weight's sign
    r2_main: np.ndarray  # (m,) R² of h_j on its main input (1 where h_j is constant)
    r2_z: np.ndarray     # (m,) R² of h_j on z_j (1 where h_j or z_j is constant)
    z_std: np.ndarray    # (m,)
    z_mean: np.ndarray   # (m,)


def measure(W: np.ndarray, b: np.ndarray, a: np.ndarray, c: np.ndarray, activation: str, data: Data,
            block: int = BLOCK_NEURONS, reference: bool = False) -> Iterator[Measured]:
    """Each of K networks (W (K,m,n), b (K,m), a (K,m), c (K,)) measured on `data`, in order; `block` neurons are
    evaluated at once (a network never splits: at least one network a block); `reference`: netmath.phi's."""
    W, b, a = (np.asarray(v, float) for v in (W, b, a))
    c = np.asarray(c, float).reshape(-1)
    K, m, n = W.shape
    per_block = max(1, block // max(m, 1))
    for start in range(0, K, per_block):
        ks = slice(start, min(K, start + per_block))
        k = ks.stop - ks.start
        Wb, bb = W[ks].reshape(k * m, n), b[ks].reshape(-1)
        # pre-activations x·wᵀ + b as (k, B, m): each network's block contiguous, for the rules' products on it
        Z = np.matmul(data.x_one, np.concatenate([W[ks], b[ks][..., None]], 2).transpose(0, 2, 1))
        H = phi(Z, activation, reference)
        H *= a[ks][:, None, :]
        Hc = np.subtract(H, H.mean(1, keepdims=True), out=Z)  # Z is not needed any more: its memory holds H centred
        # each network's covariance of contributions (m, m), times B: variances on its diagonal, and all that the
        # neuron counts need (f = Σ_j h_j + c, so Cov(f, h_j) and Var f are its row and total sums)
        gram = np.matmul(Hc.transpose(0, 2, 1), Hc)
        var_h = np.diagonal(gram, axis1=1, axis2=2).reshape(-1) / H.shape[1]
        s = np.sqrt(var_h)
        del Z, Hc
        # Covariances of every contribution with every input, one matrix product: z_j is linear in x, so its
        # moments and cov(h_j, z_j) = w_j·cov(h_j, x) follow without another pass over the data.
        cov_hx = np.matmul(H.transpose(0, 2, 1), data.x_centred).reshape(k * m, n) / H.shape[1]
        z_mean = data.x_mean @ Wb.T + bb
        z_std = np.sqrt(np.maximum(np.einsum("ji,ik,jk->j", Wb, data.x_cov, Wb), 0.0))
        cov_hz = np.einsum("ji,ji->j", cov_hx, Wb)
        main = np.abs(Wb).argmax(1)
        rows = np.arange(k * m)
        sign = np.sign(Wb[rows, main]).astype(int)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2_main = np.where(s > 0, cov_hx[rows, main] ** 2 / (var_h * np.diag(data.x_cov)[main]), 1.0)
            r2_z = np.where((z_std > 0) & (s > 0), cov_hz ** 2 / (z_std ** 2 * var_h), 1.0)
        pr = participation_ratio(Wb)
        f = H.sum(2) + c[ks][:, None]
        for i in range(k):
            cols = slice(i * m, (i + 1) * m)
            yield Measured(W[ks][i], b[ks][i], a[ks][i], float(c[ks][i]), data, H[i], f[i], gram[i],
                           s[cols], var_h[cols], pr[cols], main[cols], sign[cols], r2_main[cols], r2_z[cols],
                           z_std[cols], z_mean[cols])


def neuron_counts(H: np.ndarray, f: np.ndarray, share: float = EFFECTIVE_SHARE) -> tuple[int, int]:
    """(effective, carrying) neurons among the columns of H (B, m') for the output f (B,) (see `counts_from_gram`)."""
    fc, Hc = f - f.mean(), H - H.mean(0)
    return counts_from_gram(Hc.T @ Hc, Hc.T @ fc, float(fc @ fc), share)


def counts_of(M: Measured, active: np.ndarray, share: float = EFFECTIVE_SHARE) -> tuple[int, int]:
    """(effective, carrying) neurons among a measured network's `active` ones, from its covariance alone: f is the
    sum of every contribution plus c, so Cov(f, h_j) is a row sum of the covariance and Var f its total."""
    G = M.gram
    return counts_from_gram(G[np.ix_(active, active)], G[active].sum(1), float(G.sum()), share)


def counts_from_gram(G: np.ndarray, g: np.ndarray, total: float, share: float = EFFECTIVE_SHARE) -> tuple[int, int]:
    """(effective, carrying) neurons from the candidates' covariance G (m', m'), their covariance with the output g
    (m',) and the output's variance `total` (all times B):

    effective: greedy forward selection (orthogonal matching pursuit on the centred contributions): add the neuron
    that most reduces the residual of f after refitting all chosen output weights (and a constant) by least squares,
    until the residual's variance is ≤ (1 − share)·Var(f) — what the network needs;
    carrying: the fewest of its own neurons, largest contribution variance first, with their own output weights,
    whose sum reproduces f as well (Var(f − Σ h_j) ≤ (1 − share)·Var f) — what it spreads over.
    Both 0 for a constant f."""
    m = len(g)
    if total <= 0 or m == 0:
        return 0, 0
    # carrying: Var(f − S_k) = Var f − 2·Cov(f, S_k) + Var S_k, S_k the k largest neurons' sum: prefix sums of g and G
    order = np.argsort(-np.diag(G), kind="stable")
    left = total - 2 * np.cumsum(g[order]) + np.cumsum(np.cumsum(G[np.ix_(order, order)], 0), 1).diagonal()
    reached = left <= (1 - share) * total
    carrying = int(np.argmax(reached)) + 1 if reached.any() else m
    # effective: the pursuit on an m'×m' square root of G (as netmath.nnls does): Hc = U·S·Vᵀ, so every projection is
    # computed on S·Vᵀ and Uᵀf, the part of f outside span(H) a constant of every residual
    lam, V = np.linalg.eigh(G)
    keep = lam > 1e-12 * max(float(lam.max()), 1e-300)
    Rm = np.sqrt(lam[keep])[:, None] * V[:, keep].T
    e = (V[:, keep].T @ g) / np.sqrt(lam[keep])
    outside = total - float(e @ e)
    for step in range(1, m + 1):
        norms = (Rm * Rm).sum(0)
        gain = np.where(norms > 1e-12 * total, (Rm.T @ e) ** 2 / np.where(norms > 0, norms, 1.0), -1.0)
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            return step - 1, carrying
        q = Rm[:, j] / math.sqrt(norms[j])
        e -= q * (q @ e)
        Rm -= np.outer(q, q @ Rm)
        if float(e @ e) + outside <= (1 - share) * total:
            return step, carrying
    return m, carrying
