"""Network math in numpy: one home for what the references, the classifier, the decoder and the
fingerprints compute on a single network ``W (m,n), b (m,), a (m,), c ()``."""

from __future__ import annotations

import numpy as np
import scipy.optimize

from ..errors import UserError

ACTIVATIONS = ("silu", "relu")

Net = dict[str, np.ndarray]


def phi(z: np.ndarray, activation: str = "silu", reference: bool = False) -> np.ndarray:
    """The activation on a numpy array, in float64. SiLU is z / (1 + e^-z) in place: four passes over one new array,
    3.5x faster than z·(1 + tanh(z/2))/2 (the read-out's largest cost), the same to 2e-15; e^-z overflows to inf for
    z below -709, where z / inf = -0 is SiLU's value to the last digit. `reference`: the tanh form, the formulation
    before 2026-12-07, which the benchmark times the read-out against."""
    if activation == "silu" and reference:
        return z * 0.5 * (1.0 + np.tanh(0.5 * z))
    if activation == "silu":
        t = np.negative(np.asarray(z, float))
        with np.errstate(over="ignore"):
            np.exp(t, out=t)
        t += 1.0
        return np.divide(z, t, out=t)
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise UserError(f"unknown activation {activation!r} (known: {', '.join(ACTIVATIONS)})")


def forward(net: Net, x: np.ndarray, activation: str = "silu") -> np.ndarray:
    """Outputs (B,) of one network on inputs x (B,n)."""
    h = phi(x @ np.asarray(net["W"], float).T + np.asarray(net["b"], float), activation)
    return h @ np.asarray(net["a"], float) + float(np.asarray(net["c"]))


def participation_ratio(w: np.ndarray) -> np.ndarray:
    """(Σ w²)² / Σ w⁴ along the last axis: 1 for a one-input row, n for a uniform row (0 for a zero row)."""
    w2 = np.asarray(w, float) ** 2
    num = w2.sum(-1) ** 2
    den = (w2 * w2).sum(-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def nnls(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """min ‖A x - y‖² subject to x ≥ 0. For a tall A the residual is ‖Lᵀx - L⁻¹Aᵀy‖² plus a constant,
    with L L ᵀ = AᵀA (a 1e-12 ridge keeps duplicated columns solvable), so SciPy's active-set solver runs
    on a small square system instead of the tall one: 10-50x faster, the same minimiser."""
    A, y = np.asarray(A, float), np.asarray(y, float)
    if A.shape[0] > 2 * A.shape[1]:
        G = A.T @ A
        L = np.linalg.cholesky(G + 1e-12 * max(np.trace(G), 1e-300) * np.eye(len(G)))
        A, y = L.T, np.linalg.solve(L, A.T @ y)
    return scipy.optimize.nnls(A, y, maxiter=50 * A.shape[1])[0]


class Design:
    """The columns X (B,p) of a least-squares fit, centred once: every network of a file is fitted on the same
    data, so what depends on X alone (its mean, centred copy and Gram matrix) is computed once, not per fit."""

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, float)
        self.mean = X.mean(0)
        self.centred = X - self.mean
        self.gram = self.centred.T @ self.centred

    def fit(self, R: np.ndarray) -> tuple[float, np.ndarray, float]:
        """R², coefficients g and intercept d of the least-squares fit R ≈ X·g + d (normal equations on centred
        columns: the design is a few dozen columns of well-scaled data, and an SVD per network costs 50 times
        more)."""
        R = np.asarray(R, float)
        Rc = R - R.mean()
        ss_tot = float(Rc @ Rc)
        if ss_tot <= 0:
            return 0.0, np.zeros(len(self.mean)), float(R.mean())
        g = np.linalg.lstsq(self.gram, self.centred.T @ Rc, rcond=None)[0]
        resid = Rc - self.centred @ g
        return max(1.0 - float(resid @ resid) / ss_tot, 0.0), g, float(R.mean() - self.mean @ g)


def linear_fit(R: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray, float]:
    """R², coefficients g and intercept d of the least-squares fit R ≈ X·g + d (one fit: `Design` for many)."""
    return Design(X).fit(R)


def dense_min_pr(n: int) -> float:
    """Smallest participation ratio of a "clearly dense" direction: 1.8 at n = 2 (within 10° of a
    diagonal), 2 up to n = 8, n/4 above (a random direction has PR ≈ n/3)."""
    return max(min(2.0, 0.9 * n), n / 4.0) if n > 1 else 1.0


def random_dense_directions(rng: np.random.Generator, j: int, n: int) -> np.ndarray:
    """j isotropic random unit vectors in R^n, redrawn until clearly dense (`dense_min_pr`)."""
    out = np.zeros((0, n))
    while len(out) < j:
        u = rng.standard_normal((4 * j + 4, n))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        out = np.vstack([out, u[participation_ratio(u) >= dense_min_pr(n)]])
    return out[:j]
