"""Hand-built reference networks for the L1 task (DESIGN §3), for any n and any m large enough.

A single network is a dict of numpy arrays ``W (m,n), b (m,), a (m,), c ()`` (float64);
`stack` adds the leading K axis of the public `.npz` format (see `netfile`). Neurons that a
construction does not need are inactive: ``a = 0`` and a zero row of ``W`` (and ``b = 0``).

With SiLU, ``(φ(kt) + φ(-kt))/k = t·tanh(kt/2) -> |t|`` and ``2φ(kt)/k - t = t·tanh(kt/2)``:

* ``double_sided``: neurons ``+k e_i`` and ``-k e_i``, output weights ``1/k`` (2n neurons).
* ``pudding_pos`` / ``pudding_neg``: one sparse neuron per input, ``+k e_i`` (pos) or ``-k e_i``
  (neg), output weight ``2/k``, and one dense neuron carrying the linear term ``∓Σ_i x_i``
  (``|t| = 2relu(t) - t = 2relu(-t) + t``), in one of two linearisation forms:

  - ``form="bias"``: weights ``∓u·1`` and a large bias ``B``, so ``φ(∓u Σx + B) ≈ ∓u Σx + B``;
    output weight ``1/u``, the constant removed by ``c = -B/u`` (exact for ReLU);
  - ``form="small"``: weights ``∓ε·1`` and output weight ``2/ε`` (SiLU's slope at 0 is 1/2), so
    ``(2/ε)φ(∓εΣx) ≈ ∓Σx + εΣx²/2``; ``c`` removes the mean of the quadratic leak. SiLU only.

  n + 1 neurons.

  In both, ``c`` also holds ``n·kink_offset(k)``: ``t·tanh(kt/2)`` is below ``|t|`` on average
  (by 0.19 at k = 2 for N(0,1) inputs), and the constant removes that bias (0 for ReLU).
* ``convexity``: dense neurons ``w_j = k·u_j`` along random unit directions (each reading many
  inputs: participation ratio at least 1.8 for n = 2, 2 up to n = 8, n/4 above), ``b = 0``, output weights fitted by
  non-negative least squares (so all ``a_j ≥ 0``), ``c`` fitted: a rough convex approximation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..generate import netfile
from .netmath import (  # noqa: F401  (re-exported: the references' users call R.forward, R.phi)
    ACTIVATIONS,
    Net,
    dense_min_pr,
    forward,
    nnls,
    participation_ratio,
    phi,
    random_dense_directions,
)

ALGORITHMS = ("double_sided", "pudding_pos", "pudding_neg", "convexity")
FORMS = ("bias", "small")


def neurons_needed(name: str, n: int) -> int:
    """Hidden neurons the construction needs (convexity uses every neuron it is given, at least
    max(2n, 8): fewer random ridges do not approximate the target even roughly)."""
    _check_name(name)
    return {"double_sided": 2 * n, "pudding_pos": n + 1, "pudding_neg": n + 1, "convexity": max(2 * n, 8)}[name]


def _check_name(name: str) -> None:
    if name not in ALGORITHMS:
        raise UserError(f"unknown reference algorithm {name!r} (known: {', '.join(ALGORITHMS)})")


def kink_offset(k: float, activation: str = "silu") -> float:
    """E[|t| - (φ(kt) + φ(-kt))/k] for t ~ N(0,1): the mean by which one smoothed |t| falls short.

    ``t·tanh(kt/2) ≤ |t|``, so with SiLU every input adds a small negative bias (0.19 at k = 2, 0.05 at k = 5);
    the references put ``n·kink_offset(k)`` into ``c`` (0 for ReLU, which is exact).
    """
    if activation == "relu":
        return 0.0  # (relu(kt) + relu(-kt))/k = |t| exactly
    t = np.linspace(-12.0, 12.0, 48001)
    dens = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    gap = np.abs(t) - (phi(k * t, activation) + phi(-k * t, activation)) / k
    return float(np.sum(gap * dens) * (t[1] - t[0]))


def _empty(n: int, m: int) -> Net:
    return {"W": np.zeros((m, n)), "b": np.zeros(m), "a": np.zeros(m), "c": np.zeros(())}


def _check(name: str, n: int, m: int | None, k: float, activation: str) -> int:
    _check_name(name)
    if activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r} (known: {', '.join(ACTIVATIONS)})")
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    if not (k > 0 and math.isfinite(k)):
        raise UserError(f"scale k must be a positive number, got {k}")
    need = neurons_needed(name, n)
    m = need if m is None else m
    if m < need:
        raise UserError(f"{name} needs at least {need} hidden neurons for n={n}, got m={m}")
    return m


def double_sided(n: int, m: int | None = None, k: float = 5.0, activation: str = "silu") -> Net:
    m = _check("double_sided", n, m, k, activation)
    net = _empty(n, m)
    for i in range(n):
        net["W"][2 * i, i] = k
        net["W"][2 * i + 1, i] = -k
    net["a"][: 2 * n] = 1.0 / k
    net["c"] = np.array(n * kink_offset(k, activation))
    return net


def pudding(n: int, m: int | None = None, k: float = 5.0, sign: int = 1, form: str = "bias",
            activation: str = "silu", u: float = 1.0, eps: float | None = None) -> Net:
    """Positive (sign=+1) or negative (sign=-1) pudding; see the module docstring for the forms."""
    name = "pudding_pos" if sign > 0 else "pudding_neg"
    m = _check(name, n, m, k, activation)
    if form not in FORMS:
        raise UserError(f"unknown pudding form {form!r} (known: {', '.join(FORMS)})")
    if form == "small" and activation != "silu":
        raise UserError("the 'small' pudding form needs SiLU (relu is not linear near 0); use form='bias'")
    s = 1.0 if sign > 0 else -1.0
    net = _empty(n, m)
    for i in range(n):
        net["W"][i, i] = s * k
    net["a"][:n] = 2.0 / k
    if form == "bias":
        # u·Σx has std u·sqrt(n); B puts the pre-activation 8 standard deviations above 20,
        # where SiLU(z) - z = -z·sigmoid(-z) is below 1e-7.
        big = u * 8.0 * math.sqrt(n) + 20.0
        net["W"][n] = -s * u
        net["b"][n] = big
        net["a"][n] = 1.0 / u
        net["c"] = np.array(-big / u)
    else:
        # the quadratic leak (eps/2)(Σx)^2 has variance eps^2 n^2 / 2 against Var(y) ≈ 0.36 n:
        # eps = 1e-3/sqrt(n) keeps it below 1e-6 of Var(y).
        e = 1e-3 / math.sqrt(n) if eps is None else eps
        net["W"][n] = -s * e
        net["a"][n] = 2.0 / e
        net["c"] = np.array(-e * n / 2.0)
    net["c"] = net["c"] + n * kink_offset(k, activation)
    return net


def pudding_pos(n: int, m: int | None = None, k: float = 5.0, form: str = "bias", activation: str = "silu",
                **kw: Any) -> Net:
    return pudding(n, m, k, +1, form, activation, **kw)


def pudding_neg(n: int, m: int | None = None, k: float = 5.0, form: str = "bias", activation: str = "silu",
                **kw: Any) -> Net:
    return pudding(n, m, k, -1, form, activation, **kw)


# ---------------------------------------------------------------------------------------------
# Mechanisms that do not live on single inputs (issue 36, `directions`): the functions they compute differ
# (|Σx|, Σ relu(x_i), Σ|x_i + x_j|), which is the point: families must tell the mechanisms apart.

MECHANISMS = ("abs_sum", "abs_sum_spread", "relu_sum", "pair_abs", "convexity")


def _padded(W: list[np.ndarray], b: list[float], a: list[float], c: float, n: int, m: int | None) -> Net:
    need = len(W)
    m = need if m is None else m
    if m < need:
        raise UserError(f"this construction needs at least {need} hidden neurons for n={n}, got m={m}")
    net = _empty(n, m)
    net["W"][:need], net["b"][:need], net["a"][:need], net["c"] = np.array(W), b, a, np.array(c)
    return net


def abs_sum(n: int, m: int | None = None, k: float = 5.0, activation: str = "silu") -> Net:
    """|Σx| by two neurons ±k·(1,…,1), output weights 1/k (the kink sharpness along the unit direction is k√n)."""
    one = np.ones(n)
    c = math.sqrt(n) * kink_offset(k * math.sqrt(n), activation)
    return _padded([k * one, -k * one], [0.0, 0.0], [1 / k, 1 / k], c, n, m)


def abs_sum_spread(n: int, m: int | None = 46, k: float = 5.0, seed: int = 0, activation: str = "silu",
                   neurons: int | None = None) -> Net:
    """|Σx| spread over `neurons` (default: all m, at least 4) neurons, half along +(1,…,1) and half along −(1,…,1),
    each with its own scale k_j = k·e^U(−½,½) and output weight 1/(k_j·neurons/2): every side is the mean of
    relu-like neurons φ(k_j Σx)/k_j."""
    J = (m or 46) if neurons is None else neurons
    J -= J % 2
    if J < 4:
        raise UserError(f"abs_sum_spread needs at least 4 neurons, got {J}")
    ks = k * np.exp(np.random.default_rng(seed).uniform(-0.5, 0.5, J))
    one = np.ones(n)
    signs = np.r_[np.ones(J // 2), -np.ones(J // 2)]
    c = float(np.mean([math.sqrt(n) * kink_offset(kj * math.sqrt(n), activation) for kj in ks]))
    return _padded(list(signs[:, None] * ks[:, None] * one), [0.0] * J, list(2.0 / (J * ks)), c, n, m)


def relu_sum(n: int, m: int | None = None, k: float = 5.0, activation: str = "silu") -> Net:
    """Σ_i relu(x_i) by one-sided units: one neuron +k·e_i per input, output weight 1/k."""
    return _padded(list(k * np.eye(n)), [0.0] * n, [1 / k] * n, n * kink_offset(k, activation) / 2, n, m)


def pair_abs(n: int, m: int | None = None, k: float = 5.0, activation: str = "silu") -> Net:
    """Σ over the disjoint pairs (0,1), (2,3), … of |x_i + x_j|: neurons ±k·(e_i + e_j), output weights 1/k (an odd
    last input is left out)."""
    W = []
    for i in range(0, n - 1, 2):
        w = np.zeros(n)
        w[[i, i + 1]] = k
        W += [w, -w]
    pairs = len(W) // 2
    c = pairs * math.sqrt(2) * kink_offset(k * math.sqrt(2), activation)
    return _padded(W, [0.0] * len(W), [1 / k] * len(W), c, n, m)


def make_mechanism(name: str, n: int, m: int | None = None, k: float = 5.0, seed: int = 0,
                   activation: str = "silu") -> Net:
    """One network of `MECHANISMS` by name (convexity: `convexity` with scale k/5, so the default k gives k = 1)."""
    if name == "abs_sum":
        return abs_sum(n, m, k, activation)
    if name == "abs_sum_spread":
        return abs_sum_spread(n, m if m is not None else 46, k, seed, activation)
    if name == "relu_sum":
        return relu_sum(n, m, k, activation)
    if name == "pair_abs":
        return pair_abs(n, m, k, activation)
    if name == "convexity":
        return convexity(n, m, k / 5.0, seed, activation)
    raise UserError(f"unknown mechanism {name!r} (known: {', '.join(MECHANISMS)})")


def convexity(n: int, m: int | None = None, k: float = 1.0, seed: int = 0, activation: str = "silu",
              n_fit: int = 8192) -> Net:
    """Dense ridges along random directions, all output weights ≥ 0 (fitted), c fitted."""
    m = _check("convexity", n, m, k, activation)
    rng = np.random.default_rng(seed)
    net = _empty(n, m)
    net["W"] = k * random_dense_directions(rng, m, n)
    x = rng.standard_normal((n_fit, n))
    y = np.abs(x).sum(1)
    H = phi(x @ net["W"].T, activation)
    Hc = H - H.mean(0)
    a = nnls(Hc, y - y.mean())
    net["a"] = a
    net["c"] = np.array(y.mean() - H.mean(0) @ a)
    dead = a <= 0
    net["W"][dead] = 0.0
    net["a"][dead] = 0.0
    return net


def make_reference(name: str, n: int, m: int | None = None, k: float = 5.0, form: str = "bias", seed: int = 0,
                   activation: str = "silu") -> Net:
    """One reference network by name (`ALGORITHMS`); `form` applies to pudding, `seed` to convexity."""
    _check_name(name)
    if name == "double_sided":
        return double_sided(n, m, k, activation)
    if name == "pudding_pos":
        return pudding_pos(n, m, k, form, activation)
    if name == "pudding_neg":
        return pudding_neg(n, m, k, form, activation)
    return convexity(n, m, k, seed, activation)


def stack(nets: list[Net]) -> dict[str, np.ndarray]:
    """K single networks (same n and m) -> arrays with a leading K axis, as in the `.npz` format."""
    if not nets:
        raise UserError("no networks to stack")
    shapes = {np.shape(net["W"]) for net in nets}
    if len(shapes) > 1:
        raise UserError(f"networks to stack must share (m, n), got {sorted(shapes)}")
    return {key: np.stack([np.asarray(net[key], float) for net in nets]) for key in ("W", "b", "a", "c")}


def unstack(arrays: dict[str, np.ndarray], index: int) -> Net:
    return {key: np.asarray(arrays[key][index], float) for key in ("W", "b", "a", "c")}


def reference_meta(name: str | list[str], n: int, m: int, activation: str = "silu", **extra: Any) -> dict[str, Any]:
    meta = {"source": "reference", "algorithm": name, "activation": activation, "n": n, "m": m,
            "task": "l1", "input_dist": "normal"}
    meta.update(extra)
    return meta


def save_references(path: str | Path, nets: list[Net], algorithm: str | list[str], activation: str = "silu",
                    **extra_meta: Any) -> Path:
    """Write networks to the public `.npz` format with meta {"source": "reference", "algorithm": ...}."""
    arrays = stack(nets)
    _, m, n = arrays["W"].shape
    return netfile.save(path, arrays, reference_meta(algorithm, n, m, activation, **extra_meta))


def write_reference(path: str | Path, name: str, n: int, m: int | None = None, k: float = 5.0, form: str = "bias",
                    seed: int = 0, activation: str = "silu", count: int = 1) -> Path:
    """`count` networks of one construction (convexity with seeds seed, seed+1, ...) to one file."""
    nets = [make_reference(name, n, m, k, form, seed + i, activation) for i in range(count)]
    return save_references(path, nets, name, activation, k=k, form=form, seed=seed)


# ---------------------------------------------------------------------------------------------
# Perturbations used by the tests (and useful to probe any classifier).


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def permute(net: Net, input_perm: np.ndarray | None = None, neuron_perm: np.ndarray | None = None,
            seed: int | np.random.Generator | None = None) -> Net:
    """Permute inputs (columns of W) and neurons (rows); random permutations where not given."""
    rng = _rng(seed)
    m, n = net["W"].shape
    ip = rng.permutation(n) if input_perm is None else np.asarray(input_perm)
    hp = rng.permutation(m) if neuron_perm is None else np.asarray(neuron_perm)
    return {"W": net["W"][hp][:, ip].copy(), "b": net["b"][hp].copy(), "a": net["a"][hp].copy(),
            "c": np.array(net["c"], float)}


def add_dead_neurons(net: Net, extra: int, seed: int | np.random.Generator | None = None,
                     dead_kind: str = "zero") -> Net:
    """Append `extra` neurons that do nothing: ``dead_kind="zero"`` (W row, b, a all 0) or
    ``"silent"`` (random W row and bias, a = 0)."""
    rng = _rng(seed)
    m, n = net["W"].shape
    W = np.zeros((extra, n))
    b = np.zeros(extra)
    if dead_kind == "silent":
        W = rng.standard_normal((extra, n))
        b = rng.standard_normal(extra)
    return {"W": np.vstack([net["W"], W]), "b": np.concatenate([net["b"], b]),
            "a": np.concatenate([net["a"], np.zeros(extra)]), "c": np.array(net["c"], float)}


def add_noise(net: Net, rel: float = 0.01, seed: int | np.random.Generator | None = None) -> Net:
    """Gaussian noise of `rel` times the weight scale, judged per neuron so that every construction is
    perturbed at its own scale:

    * W row j: σ = rel·max|W_j| (rows that are all zero use the median of the nonzero rows' scale),
      on every entry, so the zeros that make a neuron sparse become small nonzero weights;
    * b_j: σ = rel·max(|b_j|, row scale); a_j: σ = rel·|a_j| (zero entries: rel·median nonzero |a|);
    * c: σ = rel·max(|c|, 1).
    """
    rng = _rng(seed)
    W, b, a = net["W"], net["b"], net["a"]
    m, n = W.shape
    row = np.abs(W).max(1) if n else np.zeros(m)
    nz = row[row > 0]
    row = np.where(row > 0, row, np.median(nz) if nz.size else 1.0)
    anz = np.abs(a[a != 0])
    ascale = np.where(a != 0, np.abs(a), np.median(anz) if anz.size else 1.0)
    c = float(net["c"])
    return {
        "W": W + rel * row[:, None] * rng.standard_normal((m, n)),
        "b": b + rel * np.maximum(np.abs(b), row) * rng.standard_normal(m),
        "a": a + rel * ascale * rng.standard_normal(m),
        "c": np.array(c + rel * max(abs(c), 1.0) * rng.standard_normal()),
    }
