"""Decoding verified by re-encoding (DESIGN §6); convexity, which has nothing to re-encode, is
summarised by a fitted formula instead, and says so.

From the classifier's evidence, the parameters of the algorithm are extracted, the *ideal* network
of that algorithm is built from them (a network of the same family, so it runs through the same
code), and the two functions are compared on fresh data:

    rel_error = mean((f_gen - f_ideal)²) / Var(f_gen)

the fraction of the generated network's variance that the decoding does not reproduce (when
f_gen is constant, Var(y) of the target is the denominator instead). ``rel_error_target`` divides
by Var(y) instead. ``target_error`` is the formula's own error on the task, mean((f_ideal - y)²)/Var(y),
beside ``network_error``, the generated network's: a decode can be faithful and still say how good
the algorithm it names is. ``check`` is ``"re-encoded"`` (the two ideals below) or ``"fitted"``.

Two ideals are built:

* the **formula** (``formula``, ``ideal``, ``rel_error``): one shared set of numbers per mechanism,
  exactly as printed (4 significant digits), e.g. ``y ≈ Σ_i 2·silu(3.1·x_i)/3.1 − 1·Σ_i x_i + 0.02``;
  every served side of an input gets one neuron ``A·φ(s·k·x_i + β)`` with the mechanism's median
  slope ``S = A·k``, sharpness ``k`` and bias ``β``; a linear term ``g·Σ_i x_i`` with the mean
  coefficient; the constant from ``c``, the dense part's intercept and the inactive neurons' means.
* **per input** (``per_input``): each (input, sign) side merged into one neuron with its own slope
  ``S = Σ a_j k_j``, sharpness ``k = Σ a_j k_j² / S`` and kink position (slope-weighted mean of the
  neurons'), off-axis weights dropped; the dense part replaced by its per-input linear fit
  ``g·x + d`` when it is linear (R² ≥ DENSE_LINEAR_R2) or negligible, kept as it is otherwise.

Labels:

* ``double_sided``: ``Σ_i S·[φ(k·x_i + β) + φ(−k·x_i + β)]/k + c``;
* ``pudding_pos`` / ``pudding_neg``: ``Σ_i S·φ(±k·x_i + β)/k + g·Σ_i x_i + c``;
* ``convexity``: dense ridges have no per-input mechanism to re-encode, and re-encoding the network
  as itself would verify nothing. The formula is the best radial fit ``y ≈ α·‖x‖₂ + γ`` (least
  squares on the network's output), reported with its error against the network (``rel_error``: the
  share of the network's variance the formula leaves out) and against the target
  (``target_error``), and ``check = "fitted"`` (a summary, not a verification); ``ridges`` describes
  what the network is made of: the number of active ridges, their effective number (participation
  ratio of the slopes ``a_j·‖w_j‖``), their norms, and how spread their directions are (mean
  ``|cos|`` between pairs, against the same for random directions); ``ideal`` and ``per_input``
  are None;
* ``other``: the per-mechanism formula over whatever the network has (± pairs, one-sided inputs,
  the dense part linearised if linear, else written as a separable quadratic ``q·Σ_i x_i² + g·Σ_i x_i``
  when that fits it as well (R² ≥ DENSE_LINEAR_R2; SiLU only), else kept as its neurons), prefixed by
  why it is ``other``. This is how a family of another task gets its formula: `sum_squares`'s
  neurons in SiLU's small-weight regime read as ``≈ 1·Σ_i x_i²``.

A linear term is re-encoded as one neuron in φ's linear regime: ``‖g‖·φ(g·x/‖g‖ + 30) − 30‖g‖``
(SiLU(z) − z < 1e-11 there; exact for ReLU). A square ``q·x_i²`` as one neuron in SiLU's small-weight
regime, ``(4q/k²)·silu(k·x_i)`` with k = QUADRATIC_K, its linear part ``(2q/k)·x_i`` taken off the linear
term (silu(z) = z/2 + z²/4 − z⁴/48 + …: the rest is ``−q·k²·x_i⁴/12``, 3e-4 of the square at |x_i| = 3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .classify import DENSE_LINEAR_R2, classify, sample_inputs
from .netmath import forward, participation_ratio, phi

LINEAR_BIAS = 30.0
QUADRATIC_K = 0.02
MECHANISMS = (("pair", (1, -1)), ("pos", (1,)), ("neg", (-1,)))


def _r(v: float) -> float:
    """The number as printed: 4 significant digits."""
    return float(f"{v:.4g}")


def _num(v: float) -> str:
    return f"{_r(v):g}"


def _signed(v: float) -> str:
    v = _r(v)
    return f"+ {v:g}" if v >= 0 else f"− {-v:g}"


def _rel(f_gen: np.ndarray, f_ideal: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    err = float(np.mean((f_gen - f_ideal) ** 2))
    var = float(f_gen.var())
    den = var if var > 1e-12 * max(float(y.var()), 1e-300) else float(y.var())
    return err / den, err / float(y.var())


class _Builder:
    """Collects neurons (rows of W, b, a) and a constant into a network of the target family."""

    def __init__(self, n: int):
        self.n = n
        self.W: list[np.ndarray] = []
        self.b: list[float] = []
        self.a: list[float] = []
        self.c = 0.0

    def kink(self, i: int, s: int, k: float, beta: float, amp: float) -> None:
        w = np.zeros(self.n)
        w[i] = s * k
        self.W.append(w)
        self.b.append(beta)
        self.a.append(amp)

    def linear(self, g: np.ndarray) -> None:
        norm = float(np.linalg.norm(g))
        if norm == 0:
            return
        self.W.append(np.asarray(g, float) / norm)
        self.b.append(LINEAR_BIAS)
        self.a.append(norm)
        self.c -= norm * LINEAR_BIAS

    def square(self, v: np.ndarray, coef: float) -> np.ndarray:
        """coef·(v·x)² for a unit vector v, one neuron in SiLU's small-weight regime (see the module docstring);
        returns the linear part it adds, (2·coef/k)·v, for the caller's linear term to take off."""
        self.neuron(QUADRATIC_K * np.asarray(v, float), 0.0, 4 * coef / QUADRATIC_K**2)
        return 2 * coef / QUADRATIC_K * np.asarray(v, float)

    def squares(self, q: np.ndarray, g: np.ndarray) -> None:
        """Σ_i q_i·x_i² + g_i·x_i."""
        lin = np.asarray(g, float).copy()
        for i in np.flatnonzero(q):
            lin -= self.square(np.eye(self.n)[i], float(q[i]))
        self.linear(lin)

    def neuron(self, w: np.ndarray, b: float, a: float) -> None:
        self.W.append(np.asarray(w, float))
        self.b.append(float(b))
        self.a.append(float(a))

    def net(self) -> dict[str, np.ndarray]:
        W = np.array(self.W).reshape(-1, self.n)
        return {"W": W, "b": np.array(self.b, float), "a": np.array(self.a, float), "c": np.array(self.c)}


def _merge(W: np.ndarray, b: np.ndarray, a: np.ndarray, side: dict) -> dict[str, float]:
    """One (input, sign) side -> one neuron: slope S, sharpness k, bias beta, amplitude A = S/k."""
    i, s, js = side["input"], side["sign"], side["neurons"]
    k_j = np.abs(W[js, i])
    slope_j = a[js] * k_j
    S = float(slope_j.sum())
    k = float((slope_j * k_j).sum() / S)
    beta = float(k * (slope_j * b[js] / k_j).sum() / S)  # slope-weighted kink position, times k
    return {"input": i, "sign": s, "slope": S, "k": k, "bias": beta, "amp": S / k}


def _least_squares(X: np.ndarray, R: np.ndarray) -> tuple[float, np.ndarray]:
    """R ≈ X·sol + d on the data (an intercept column appended): (R², sol with d last)."""
    X1 = np.hstack([X, np.ones((len(X), 1))])
    sol, *_ = np.linalg.lstsq(X1, R, rcond=None)
    ss_tot = float(np.sum((R - R.mean()) ** 2))
    return (1.0 - float(np.sum((R - X1 @ sol) ** 2)) / ss_tot if ss_tot > 0 else 0.0), sol


def _separable_quadratic(R: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Least-squares R ≈ Σ_i q_i·x_i² + g_i·x_i + d on the data: (R², q, g, d)."""
    r2, sol = _least_squares(np.hstack([x, x**2]), R)
    n = x.shape[1]
    return r2, sol[n:2 * n], sol[:n], float(sol[-1])


def _sum_over(inputs: list[int], n: int) -> str:
    if len(inputs) == n:
        return "Σ_i"
    if len(inputs) <= 8:
        return "Σ_{i∈{" + ",".join(str(i) for i in inputs) + "}}"
    return f"Σ_(i: {len(inputs)} of {n} inputs)"


def _kink_text(s: int, k: float, beta: float, act: str) -> str:
    inner = f"{'−' if s < 0 else ''}{_num(k)}·x_i"
    if _r(beta) != 0:
        inner += f" {_signed(beta)}"
    return f"{act}({inner})"


def _target_error(f: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((f - y) ** 2) / y.var())


def _sphere_abs_cos(n: int) -> float:
    """E|cos| between two independent uniform random directions in R^n: Γ(n/2) / (√π Γ((n+1)/2))."""
    return math.exp(math.lgamma(n / 2) - math.lgamma((n + 1) / 2)) / math.sqrt(math.pi)


def ridge_summary(W: np.ndarray, a: np.ndarray, neurons: np.ndarray) -> dict[str, Any]:
    """What a convexity network is made of: its ridges a_j·φ(w_j·x + b_j), how many count (the
    participation ratio of their slopes a_j‖w_j‖), their norms, and how spread their directions are."""
    norms = np.linalg.norm(W[neurons], axis=1)
    slopes = np.abs(a[neurons]) * norms
    unit = W[neurons] / np.where(norms > 0, norms, 1.0)[:, None]
    cos = np.abs(unit @ unit.T)[np.triu_indices(len(neurons), 1)]
    n = W.shape[1]
    return {"ridges": len(neurons),
            "effective": float(slopes.sum() ** 2 / (slopes ** 2).sum()) if slopes.any() else 0.0,
            "norm_median": float(np.median(norms)) if len(norms) else 0.0,
            "norm_cv": float(norms.std() / norms.mean()) if len(norms) and norms.mean() > 0 else 0.0,
            "pr_median": float(np.median(participation_ratio(W[neurons]))) if len(neurons) else 0.0,
            "mean_abs_cos": float(cos.mean()) if cos.size else float("nan"),
            "random_abs_cos": _sphere_abs_cos(n)}


def _ridge_text(r: dict[str, Any], n: int, act: str) -> str:
    text = (f"{r['ridges']} ridges a_j·{act}(w_j·x + b_j), all a_j > 0, effective number {r['effective']:.3g}; "
            f"‖w_j‖ median {r['norm_median']:.3g} (CV {r['norm_cv']:.2f}), participation ratio {r['pr_median']:.3g} "
            f"of {n} inputs")
    if np.isfinite(r["mean_abs_cos"]):
        text += (f"; mean |cos| between directions {r['mean_abs_cos']:.2f} "
                 f"(random directions: {r['random_abs_cos']:.2f})")
    return text


def _decode_convexity(W, a, f_gen, x, y, result, act: str) -> dict[str, Any]:
    """The best radial fit y ≈ α‖x‖₂ + γ of the network, and what its ridges are (see the module doc)."""
    X1 = np.stack([np.linalg.norm(x, axis=1), np.ones(len(x))], 1)
    (alpha, gamma), *_ = np.linalg.lstsq(X1, f_gen, rcond=None)
    alpha, gamma = _r(alpha), _r(gamma)
    f_fit = X1 @ np.array([alpha, gamma])
    rel, rel_t = _rel(f_gen, f_fit, y)
    ridges = ridge_summary(W, a, np.asarray(result["dense_part"]["neurons"], int))
    return {"label": "convexity", "formula": f"y ≈ {_num(alpha)}·‖x‖₂ {_signed(gamma)}", "check": "fitted",
            "rel_error": rel, "rel_error_target": rel_t, "target_error": _target_error(f_fit, y),
            "network_error": _target_error(f_gen, y), "ideal": None, "per_input": None,
            "description": _ridge_text(ridges, W.shape[1], act),
            "params": {"label": "convexity", "activation": act, "alpha": alpha, "gamma": gamma, "ridges": ridges}}


def decode(W, b, a, c, activation: str = "silu", result: dict[str, Any] | None = None, n_samples: int = 8192,
           seed: int = 12345) -> dict[str, Any]:
    """Decode one network (W (m,n), b (m,), a (m,), c) using `result` from `classify.classify`
    (computed here when not given). Returns ``formula`` (str), ``check`` ("re-encoded" or, for
    convexity, "fitted"), ``rel_error`` (float), ``target_error`` and ``network_error``, ``ideal``
    (arrays W (m',n), b, a, c of the formula's network; None for convexity), ``per_input`` (its own
    ideal and error; None for convexity), ``params`` (the extracted numbers, JSON-serialisable) and,
    for convexity, ``description`` (its ridges)."""
    W = np.asarray(W, float)
    b = np.asarray(b, float).reshape(-1)
    a = np.asarray(a, float).reshape(-1)
    c = float(np.asarray(c, float).reshape(()))
    m, n = W.shape
    if result is None:
        result = classify(W, b, a, c, activation)
    label = result["label"]
    act = activation
    x, y = sample_inputs(n, n_samples, seed, result.get("task", "l1"), result.get("input_dist", "normal"))
    gen = {"W": W, "b": b, "a": a, "c": np.array(c)}
    f_gen = forward(gen, x, activation)
    if label == "convexity":
        return {**_decode_convexity(W, a, f_gen, x, y, result, act), "n_samples": n_samples, "seed": seed}

    inactive = np.asarray(result["inactive"], int)
    c_eff = c + (float((phi(x @ W[inactive].T + b[inactive], activation) * a[inactive]).mean(0).sum())
                 if inactive.size else 0.0)
    sides = [_merge(W, b, a, sd) for sd in result["sides"] if sd["served"]]
    per_input = result["composition"]["per_input"]
    dp = result["dense_part"]
    rest = np.asarray(dp["neurons"], int)
    g = np.asarray(dp["coef"], float)
    d = float(dp["intercept"])
    linearise = label in ("pudding_pos", "pudding_neg") or dp["negligible"] or dp["r2"] >= DENSE_LINEAR_R2
    square = None  # (q, g, d) of a dense part that is a separable quadratic (SiLU: it can be re-encoded)
    if not linearise and activation == "silu" and rest.size:
        r2_q, q, g_q, d_q = _separable_quadratic((phi(x @ W[rest].T + b[rest], activation) * a[rest]).sum(1), x)
        if r2_q >= DENSE_LINEAR_R2:
            square = q, g_q, d_q

    # --- per-input ideal: every side merged, the dense part linearised (or kept) -----------------
    bp = _Builder(n)
    for sd in sides:
        bp.kink(sd["input"], sd["sign"], sd["k"], sd["bias"], sd["amp"])
    if linearise:
        bp.linear(g)
        bp.c += c_eff + d
    elif square:
        bp.squares(square[0], square[1])
        bp.c += c_eff + square[2]
    else:
        for j in rest:
            bp.neuron(W[j], b[j], a[j])
        bp.c += c_eff
    ideal_pi = bp.net()
    rel_pi, rel_pi_t = _rel(f_gen, forward(ideal_pi, x, activation), y)

    # --- the formula: shared numbers per mechanism, as printed ------------------------------------
    bf = _Builder(n)
    terms: list[str] = []
    params: dict[str, Any] = {"label": label, "mechanisms": {}, "activation": activation}
    for mech, signs in MECHANISMS:
        inputs = [i for i in range(n) if per_input[i] == mech]
        if not inputs:
            continue
        group = [sd for sd in sides if sd["input"] in inputs]
        S, k, beta = (_r(float(np.median([sd[key] for sd in group]))) for key in ("slope", "k", "bias"))
        for i in inputs:
            for s in signs:
                bf.kink(i, s, k, beta, S / k)
        params["mechanisms"][mech] = {"inputs": inputs, "slope": S, "k": k, "bias": beta,
                                      "slope_spread": float(np.std([sd["slope"] for sd in group])),
                                      "k_spread": float(np.std([sd["k"] for sd in group]))}
        if mech == "pair":
            body = f"[{_kink_text(1, k, beta, act)} + {_kink_text(-1, k, beta, act)}]"
        else:
            body = _kink_text(signs[0], k, beta, act)
        terms.append(f"+ {_sum_over(inputs, n)} {_num(S)}·{body}/{_num(k)}")
    const = c_eff + d if linearise else c_eff + square[2] if square else c_eff
    if label in ("pudding_pos", "pudding_neg") or (linearise and not dp["negligible"]):
        gm = _r(float(g.mean()))
        bf.linear(np.full(n, gm))
        terms.append(f"{_signed(gm)}·Σ_i x_i")
        params["linear_coef"] = gm
        params["linear_coef_cv"] = dp["coef_cv"]
    elif square:
        qm, gm = _r(float(square[0].mean())), _r(float(square[1].mean()))
        bf.squares(np.full(n, qm), np.full(n, gm))
        terms.append(f"{_signed(qm)}·Σ_i x_i² {_signed(gm)}·Σ_i x_i")
        params.update(square_coef=qm, linear_coef=gm, dense_quadratic_r2=r2_q)
    elif not linearise:
        for j in rest:
            bf.neuron(W[j], b[j], a[j])
        terms.append(f"+ D(x) [{len(rest)} dense-part neurons kept as they are; {dp['r2']:.0%} linear]")
    bf.c += _r(const)
    ideal = bf.net()
    f_ideal = forward(ideal, x, activation)
    rel, rel_t = _rel(f_gen, f_ideal, y)

    body = " ".join(terms).strip()
    if body.startswith("+ "):
        body = body[2:]
    elif body.startswith("− "):
        body = "−" + body[2:]
    formula = f"y ≈ {body} {_signed(const)}" if body else f"y ≈ {_num(const)}"
    uncovered = [i for i in range(n) if per_input[i] == "none"]
    if label in ("constant", "other"):
        formula = f"[{label}: {result['reason']}] " + formula
    if uncovered and not square:  # a separable quadratic serves every input
        formula += f"  (uncovered inputs: {_sum_over(uncovered, n)[2:] if len(uncovered) < n else 'all'})"
    params.update(constant=_r(const), served_sides=[{k: v for k, v in sd.items()} for sd in sides])

    return {
        "label": label, "formula": formula, "check": "re-encoded", "rel_error": rel, "rel_error_target": rel_t,
        "kept_neurons": 0 if linearise or square else int(rest.size),  # a dense part left as it is: no reading
        "target_error": _target_error(f_ideal, y), "network_error": _target_error(f_gen, y), "ideal": ideal,
        "per_input": {"ideal": ideal_pi, "rel_error": rel_pi, "rel_error_target": rel_pi_t},
        "params": params, "n_samples": n_samples, "seed": seed,
    }


def quadratic_form(W, b, a, c, activation: str = "silu", task: str = "l1", input_dist: str = "normal",
                   n_samples: int = 8192, seed: int = 12345) -> dict[str, Any] | None:
    """The network read as a quadratic form, y ≈ q·Σ_i x_i² + r·Σ_{i<j} x_i·x_j + g·Σ_i x_i + d: what SiLU
    neurons compute in their small-weight regime, where a neuron's off-axis weights matter as much as its main one
    (each neuron is a polynomial of w·x, not a kink of one input), so the per-mechanism reading above, which drops
    them, does not hold. Least squares on data over every x_i, x_i² and x_i·x_j; the formula's shared numbers
    (means over inputs and pairs) re-encoded: (q − r/2)·Σ_i x_i² one neuron per input and (r·n/2)·(u·x)², u = 1/√n,
    one more ((Σx)² = Σx² + 2Σ_{i<j} x_i x_j), each in SiLU's small-weight regime, the linear term in one neuron.
    None for ReLU, which has no such regime. The same keys as `decode` (label "quadratic form")."""
    if activation != "silu":
        return None
    W = np.asarray(W, float)
    b, a = np.asarray(b, float).reshape(-1), np.asarray(a, float).reshape(-1)
    c = float(np.asarray(c, float).reshape(()))
    n = W.shape[1]
    x, y = sample_inputs(n, n_samples, seed, task, input_dist)
    f_gen = forward({"W": W, "b": b, "a": a, "c": np.array(c)}, x, activation)
    iu = np.triu_indices(n, 1)
    r2, sol = _least_squares(np.hstack([x, x**2, x[:, iu[0]] * x[:, iu[1]]]), f_gen)
    g, q, r = sol[:n], sol[n:2 * n], sol[2 * n:-1]
    gm, qm, rm, d = _r(float(g.mean())), _r(float(q.mean())), _r(float(r.mean())) if n > 1 else 0.0, _r(float(sol[-1]))
    bf = _Builder(n)
    pair_linear = bf.square(np.full(n, n ** -0.5), rm * n / 2) if rm else 0.0
    bf.squares(np.full(n, qm - rm / 2), np.full(n, gm) - pair_linear)
    bf.c += d
    ideal = bf.net()
    f_ideal = forward(ideal, x, activation)
    rel, rel_t = _rel(f_gen, f_ideal, y)
    formula = f"y ≈ {_num(qm)}·Σ_i x_i² {_signed(rm)}·Σ_(i<j) x_i·x_j {_signed(gm)}·Σ_i x_i {_signed(d)}"
    params = {"label": "quadratic form", "activation": activation, "square_coef": qm, "pair_coef": rm,
              "linear_coef": gm, "constant": d, "fit_r2": r2, "square_spread": float(q.std()),
              "pair_spread": float(r.std()) if n > 1 else 0.0, "linear_spread": float(g.std())}
    return {"label": "quadratic form", "formula": formula, "check": "re-encoded", "rel_error": rel, "kept_neurons": 0,
            "rel_error_target": rel_t, "target_error": _target_error(f_ideal, y),
            "network_error": _target_error(f_gen, y), "ideal": ideal, "per_input": None, "params": params,
            "n_samples": n_samples, "seed": seed}


def decode_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any],
                  results: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Decode every network of a loaded networks file (classifying them when `results` is None)."""
    from .classify import classify_arrays

    results = classify_arrays(arrays, meta) if results is None else results
    act = meta.get("activation", "silu")
    return [decode(arrays["W"][k], arrays["b"][k], arrays["a"][k], arrays["c"][k], act, results[k])
            for k in range(arrays["W"].shape[0])]
