"""Directions: what a network computes along the directions its neurons share, for any task (docs/directions.md).

The fingerprint reads neurons input by input; many mechanisms do not live on single inputs (|Σx| from two neurons
±k·(1,…,1), Σ|x_i + x_j| from neurons reading two inputs, random ridges). Here every network is read by direction:

1. Active neurons (fingerprint's convention: std of the contribution ≥ ACTIVE_FRACTION·std(y)/√n).
2. Their weight rows, normalised, grouped by direction up to sign (complete-linkage clustering on 1 − |cos|:
   every pair of a group within DIRECTION_COS), and the numerical rank of the normalised rows (RANK_TOL).
3. Each group's direction d (unit norm, top singular vector of its rows) in words: the nearest vector with entries in
   {−1, 0, +1} on its support ("Σx: all inputs equal", "x_3", "x_1 + x_7", "x_2 − x_5"), or a dense direction.
   Words and counts depend on structure, never on input order (indices are listed, kinds are counted).
4. The 1-D read-out: along d the group computes g(t) = Σ_j a_j φ(k_j t + b_j), t = d·x, k_j = w_j·d. Candidate forms
   are fitted on the data's t: linear, c·|t − t0|, c·relu(±(t − t0)), a quadratic, a step, each kink smoothed at the
   group's own sharpness (so a SiLU pair is fitted exactly); else "other 1-D function" with a sampled curve. The form
   is re-encoded as an ideal network (|t| → two neurons ±k·d with output c/k, relu → one, linear → one neuron in φ's
   linear regime, t² → one small-weight SiLU neuron) and checked against the group, the network and the target.
5. Redundancy: per direction its neurons and copies (neurons / neurons its form needs); per network
   `effective_neurons` (greedy forward selection with refitted output weights: the fewest neurons reproducing 95% of
   the output's variance) and `carrying_neurons` (the fewest of its own neurons, largest first, unchanged, whose sum
   reproduces 95%).

`vector` turns a reading into features for `families.cluster`, beside `fingerprint.vector`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from .classify import ACTIVE_FRACTION, CONSTANT_REL, LINEAR_NEURON_R2, NEGLIGIBLE, as_network
from .decode import _Builder, _num, _r, _signed
from .fingerprint import TINY_Z
from .measure import BLOCK_NEURONS, EFFECTIVE_SHARE, Measured, counts_of, data, measure
from .netmath import Design, forward, participation_ratio, phi

# --- thresholds (each with its reason) -------------------------------------------------------------------------
# Two rows share a direction when |cos| ≥ 0.95 (18°). Weight noise of 5% of a row's largest weight on every entry
# lowers a one-input row's cos to 0.97 at n = 24; the nearest *different* structured directions of the mechanisms
# are much further: x_i vs x_i + x_j at 0.71, a sign vector with one input flipped at (n-2)/n = 0.92 for n = 24.
DIRECTION_COS = 0.95
# A direction "is" a signed sum of inputs when its cos with that ±1/0 vector is ≥ 0.95: the same tolerance.
STRUCTURE_COS = DIRECTION_COS
# ... but a lone neuron's direction is called a sum of several inputs only within cos 0.99 (8°): a random dense
# direction (the convexity reference's) is within 18° of some signed sum for a quarter of draws at n = 8, within 8°
# for 0.1% (measured on 20,000 draws). Shared directions and one-input ones keep STRUCTURE_COS (a direction with
# participation ratio ≥ 2 is never within cos 0.84 of one input).
LONE_STRUCTURE_COS = 0.99
# Numerical rank of the unit rows: singular values ≥ 0.1 of the largest. Noise ε per entry of m unit rows adds
# singular values about ε(√m + √n), under a tenth of a direction shared by m rows (√m) up to ε ≈ 5% at m, n ≤ 50.
RANK_TOL = 0.1
# A group is linear along d when a line explains ≥ 99% of g (the fingerprint's LINEAR_NEURON_R2: a relu bent 2σ out).
LINEAR_R2 = LINEAR_NEURON_R2
# A 1-D form names the function when it explains ≥ 95% of its variance (the re-encoding then misses ≤ 5%, the
# tolerance at which `families` says a reading reproduces a network); else "other 1-D function".
FORM_R2 = 0.95
# Forms within 0.002 of R² of the best are tied (fit noise on 4,096 points); ties go to the earlier of FORMS.
TIE_R2 = 0.002
# A mechanism (direction kind, form) is part of a network when it carries ≥ 20% of the nonlinear groups' variance:
# two such mechanisms make a hybrid. (Fit-noise shares of a pure network stay under a few percent.)
MECHANISM_SHARE = 0.2
# A factor of 4 more neurons for the same function is a different way of computing it (2 vs 8 neurons), a side split
# in two is not: the copies feature is log4(copies), in [0, 2], so 4 copies are one unit of distance from 1 copy.
COPIES_BASE = 4.0
SPREAD_COPIES = 4.0
# A network computes something (if not the task's target) when its output's variance is at least 20% of the target's:
# the share that the rules' CONSTANT_REL (0.8) asks a network to explain before it is more than near-constant.
MOVING_SHARE = 1.0 - CONSTANT_REL
# kink forms are tried when the group's pre-activations cross φ's bend (k·std t ≥ TINY_Z); below it SiLU is a
# quadratic on the data (fingerprint's tiny regime)
FORMS = ("relu+", "relu-", "abs", "step", "quadratic")
NEURONS_PER_FORM = {"linear": 1, "relu+": 1, "relu-": 1, "abs": 2, "quadratic": 1, "step": 2}
# Kink positions are searched on every k-th data point, at most 1,024 (a 1-D fit's R² moves by under 1e-3 from 4,096
# points to 1,024): 4 times less work, the chosen form's constants and R² then fitted on all the data.
SEARCH_POINTS = 1024
GRID = np.linspace(0.02, 0.98, 25)  # kink positions tried: these quantiles of t (plus the neurons' own kinks)
CURVE_POINTS = 33


# ---- directions ----------------------------------------------------------------------------------------------

def group_rows(U: np.ndarray) -> np.ndarray:
    """Group labels 0, 1, ... of unit rows U (m, n) by direction up to sign (complete linkage on 1 − |cos|)."""
    if len(U) < 2:
        return np.zeros(len(U), int)
    dist = np.clip(1.0 - np.abs(U @ U.T), 0.0, None)
    np.fill_diagonal(dist, 0.0)
    return AgglomerativeClustering(n_clusters=None, distance_threshold=1.0 - DIRECTION_COS, linkage="complete",
                                   metric="precomputed").fit_predict(dist)


def numerical_rank(U: np.ndarray) -> dict[str, Any]:
    sv = np.linalg.svd(U, compute_uv=False) if U.size else np.zeros(0)
    rank = int(np.sum(sv >= RANK_TOL * sv[0])) if sv.size and sv[0] > 0 else 0
    return {"rank": rank, "tolerance": RANK_TOL, "of": "unit weight rows of the active neurons",
            "singular_values": [float(v) for v in sv[:min(len(sv), 2 * rank + 2)]]}


def _canonical(d: np.ndarray) -> np.ndarray:
    """d or −d: the sum of its components positive; if that is ~0 (x_i − x_j), its largest component positive."""
    s = d.sum()
    if abs(s) > 1e-6 * np.abs(d).sum():
        return d if s > 0 else -d
    return d if d[np.argmax(np.abs(d))] > 0 else -d


def structure(d: np.ndarray, lone: bool = False) -> dict[str, Any]:
    """A unit direction as the nearest signed sum of inputs: kind, inputs, signs, words, and its cos with it.
    `lone`: the direction of a single neuron (a sum of several inputs then needs LONE_STRUCTURE_COS)."""
    n = len(d)
    order = np.argsort(-np.abs(d), kind="stable")
    cos = np.cumsum(np.abs(d[order])) / np.sqrt(np.arange(1, n + 1))
    size = int(np.argmax(cos)) + 1
    if cos[size - 1] < (LONE_STRUCTURE_COS if lone and size > 1 else STRUCTURE_COS):
        pr = float(participation_ratio(d))
        return {"kind": "dense", "inputs": [], "signs": [], "cos": float(cos[size - 1]), "u": "d·x",
                "generic": "d·x", "norm": 1.0,
                "words": f"a dense direction (participation ratio {pr:.1f} of {n} inputs, no signed sum of inputs)"}
    support = np.sort(order[:size])
    signs = np.sign(d[support]).astype(int)
    plus, minus = int((signs > 0).sum()), int((signs < 0).sum())
    if size == n and n > 2:
        kind = "all" if minus == 0 else "all_signed"
    else:
        kind = "one" if size == 1 else ("pair" if minus == 0 else "pair_diff") if size == 2 else "few"
    u = "".join(f"{(' − ' if s < 0 else ' + ') if k else ('−' if s < 0 else '')}x_{i}"
                for k, (i, s) in enumerate(zip(support, signs, strict=True)))
    generic = {"one": "x_i", "pair": "x_i + x_j", "pair_diff": "x_i − x_j", "all": "Σx",
               "all_signed": "s·x", "few": f"Σ of {size} inputs"}[kind]
    if kind == "all":
        u, words = "Σx", "Σx: all inputs equal"
    elif kind == "all_signed":
        u, words = "s·x", f"s·x: all inputs, {plus} with + and {minus} with −"
    elif kind == "few" and size > 6:
        words = f"{u[:40]}…: {size} inputs ({plus} +, {minus} −)"
    else:
        words = u
    return {"kind": kind, "inputs": [int(i) for i in support], "signs": [int(s) for s in signs],
            "cos": float(cos[size - 1]), "u": u, "generic": generic, "norm": float(math.sqrt(size)), "words": words}


# ---- the 1-D read-out -------------------------------------------------------------------------------------------

def _r2_columns(X: np.ndarray, g: np.ndarray) -> np.ndarray:
    """R² of g on each column of X (with an intercept)."""
    Xc = X - X.mean(0)
    gc = g - g.mean()
    den = (Xc * Xc).sum(0) * float(gc @ gc)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (Xc.T @ gc) ** 2 / den, 0.0)


def _lstsq(X: np.ndarray, g: np.ndarray) -> tuple[float, np.ndarray]:
    """g ≈ X·sol + γ: (R², sol with γ last), from the normal equations on centred columns (one to three columns of
    well-scaled data: an SVD per fit cost 10 times more)."""
    r2, sol, gamma = Design(X).fit(g)
    return r2, np.r_[sol, gamma]


def _basis(form: str, t: np.ndarray, t0: np.ndarray, k: float, act: str, s: float = 1.0) -> np.ndarray:
    """The form's one column per kink position t0 (B, len(t0)), kinks smoothed at sharpness k."""
    T = t[:, None] - np.atleast_1d(t0)[None, :]
    if form == "abs":
        return (phi(k * T, act) + phi(-k * T, act)) / k
    if form == "relu+":
        return phi(k * T, act) / k
    if form == "relu-":
        return phi(-k * T, act) / k
    return 0.5 * (1.0 + np.tanh(T / (2.0 * s)))  # step: sigmoid((t − t0)/s)


def _best_shift(form: str, t: np.ndarray, g: np.ndarray, grid: np.ndarray, k: float, act: str,
                s: float = 1.0) -> tuple[float, float]:
    """(R², t0) of the form's best kink position: the grid, then twice a finer grid between the best point's
    neighbours (each step 8 times finer; the kink is then placed to 1/64 of the grid's spacing)."""
    for _ in range(3):
        r2 = _r2_columns(_basis(form, t, grid, k, act, s), g)
        i = int(np.argmax(r2))
        best = float(r2[i]), float(grid[i])
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        if best[0] > 1 - 1e-12 or hi <= lo:
            break
        grid = np.linspace(lo, hi, 17)
    return best


def read_1d(t: np.ndarray, proj: np.ndarray, b: np.ndarray, a: np.ndarray, act: str) -> dict[str, Any]:
    """Recognise g(t) = Σ_j a_j φ(proj_j t + b_j) on the data's t: the form, its constants, every form's R²."""
    g = phi(np.outer(t, proj) + b, act) @ a
    k = float(np.sum(np.abs(a) * proj ** 2) / max(np.sum(np.abs(a * proj)), 1e-300))  # slope-weighted sharpness
    sd = float(t.std())
    out: dict[str, Any] = {"sharpness": k, "r2": {}}
    if g.std() <= 1e-12 * max(abs(float(g.mean())), 1.0):
        return {**out, "form": "constant", "g": g, "constants": {"gamma": float(g.mean())}}
    r2_lin, sol_lin = _lstsq(t[:, None], g)
    r2_q, sol_q = _lstsq(np.stack([t * t, t], 1), g)
    out["r2"] = {"linear": r2_lin, "quadratic": r2_q}
    fits = {"quadratic": (r2_q, None, None)}
    if act == "relu" or k * sd >= TINY_Z:  # the data crosses the bend: kinks are candidates
        with np.errstate(divide="ignore", invalid="ignore"):
            kinks = np.where(proj != 0, -b / proj, np.nan)
        w = np.abs(a * proj)
        ok = np.isfinite(kinks) & (w > 0)
        own = [float(np.average(kinks[ok], weights=w[ok]))] if ok.any() else []
        if len(proj) == 1 and own:  # one neuron is one kink, at its own place: no search (|t| and a step need two)
            form = "relu+" if proj[0] > 0 else "relu-"
            fits[form] = (float(_r2_columns(_basis(form, t, np.array(own), k, act), g)[0]), own[0], None)
        else:
            quantiles = np.quantile(t, GRID)
            lo, hi = quantiles[0], quantiles[-1]
            grid = np.unique(np.r_[quantiles, np.clip(own, lo, hi), 0.0 if lo < 0 < hi else lo])
            step = max(1, len(t) // SEARCH_POINTS)
            ts, gs = t[::step], g[::step]  # the kink searched on a subsample, its constants fitted on all the data
            for form in ("relu+", "relu-", "abs"):
                r2, t0 = _best_shift(form, ts, gs, grid, k, act)
                fits[form] = (r2, t0, None)
        if len(proj) > 1 and max(v[0] for v in fits.values()) < 0.99:  # a step: worth its search if nothing fits
            best = max(_best_shift("step", ts, gs, grid, k, act, s * sd) + (s * sd,) for s in (0.05, 0.15, 0.4))
            fits["step"] = best
    out["r2"].update({f: v[0] for f, v in fits.items()})
    if r2_lin >= LINEAR_R2:
        form = "linear"
    else:
        top = max(v[0] for v in fits.values())
        form = next(f for f in FORMS if f in fits and fits[f][0] >= top - TIE_R2)
        if top < FORM_R2:
            form = "other"
    out["form"] = form
    if form == "linear":
        out["constants"] = {"alpha": float(sol_lin[0]), "gamma": float(sol_lin[1])}
    elif form == "quadratic":
        out["constants"] = {"q": float(sol_q[0]), "alpha": float(sol_q[1]), "gamma": float(sol_q[2])}
    elif form in ("abs", "relu+", "relu-", "step"):
        _, t0, s = fits[form]
        col = _basis(form, t, np.array([t0]), k, act, s or 1.0)
        out["r2"][form], sol = _lstsq(col, g)
        out["constants"] = {"c": float(sol[0]), "t0": t0, "gamma": float(sol[1]), **({"s": s} if s else {})}
    else:
        grid_t = np.linspace(*np.quantile(t, [0.005, 0.995]), CURVE_POINTS)
        out["curve"] = {"t": [float(v) for v in grid_t],
                        "g": [float(v) for v in phi(np.outer(grid_t, proj) + b, act) @ a]}
        out["constants"] = {}
    out["g"] = g
    return out


def formula(form: str, const: dict[str, float], st: dict[str, Any], k: float, act: str) -> str:
    """The form in the direction's own units u = s·x (s the ±1/0 vector; t = u/‖s‖), as printed."""
    nrm, u = st["norm"], st["u"]
    if " " in u and u not in ("Σx", "s·x", "d·x"):
        u = f"({u})"
    if form == "constant":
        return "constant"
    if form == "linear":
        return f"{_num(const['alpha'] / nrm)}·{u}"
    if form == "quadratic":
        return f"{_num(const['q'] / nrm ** 2)}·{u}² {_signed(const['alpha'] / nrm)}·{u}"
    if form == "other":
        return f"g({u}) [other 1-D function: sampled curve]"
    c, t0 = const["c"] / nrm, const["t0"] * nrm
    shift = f"{u.strip('()') if u.startswith('(') else u} {_signed(-t0)}" if abs(_r(t0)) > 0 else u.strip("()")
    body = {"abs": f"|{shift}|", "relu+": f"relu({shift})", "relu-": f"relu(−({shift}))" if _r(t0) else
            f"relu(−{u})", "step": f"σ(({shift})/{_num(const.get('s', 1.0) * nrm)})"}[form]
    return f"{_num(c)}·{body}"


def ideal(form: str, const: dict[str, float], d: np.ndarray, k: float, act: str) -> dict[str, np.ndarray] | None:
    """The form as an ideal network on x (without its constant): None where it has none."""
    bld = _Builder(len(d))
    if form == "linear":
        bld.linear(const["alpha"] * d)
    elif form == "quadratic":
        if act != "silu":
            return None  # relu has no small-weight regime
        lin = bld.square(d, const["q"])
        bld.linear(const["alpha"] * d - lin)
    elif form in ("abs", "relu+", "relu-"):
        c, t0 = const["c"], const["t0"]
        for s in ((1, -1) if form == "abs" else (1,) if form == "relu+" else (-1,)):
            bld.neuron(s * k * d, -s * k * t0, c / k)
    elif form == "step":  # σ(z) ≈ [φ(z + 2) − φ(z − 2)]/4: the ramp of slope 1/4 through σ(0)
        s, c, t0 = const["s"], const["c"], const["t0"]
        bld.neuron(d / s, -t0 / s + 2.0, c / 4)
        bld.neuron(d / s, -t0 / s - 2.0, -c / 4)
    else:
        return None
    return bld.net()


# ---- redundancy ---------------------------------------------------------------------------------------------------

# ---- one network ----------------------------------------------------------------------------------------------------

def read(W, b, a, c, activation: str = "silu", task: str = "l1", input_dist: str = "normal", n_samples: int = 4096,
         seed: int = 0) -> dict[str, Any]:
    """The directions reading of ONE network (JSON-serialisable; see the module docstring and docs/directions.md)."""
    W, b, a, c = as_network(W, b, a, c)
    return read_many(W[None], b[None], a[None], np.array([c]), activation, task, input_dist, n_samples, seed)[0]


def read_many(W, b, a, c, activation: str = "silu", task: str = "l1", input_dist: str = "normal",
              n_samples: int = 4096, seed: int = 0, block: int = BLOCK_NEURONS) -> list[dict[str, Any]]:
    """`read` for K networks (W (K,m,n), b (K,m), a (K,m), c (K,)), measured together."""
    d = data(np.shape(W)[2], n_samples, seed, task, input_dist)
    return [of_measured(M, activation) for M in measure(W, b, a, c, activation, d, block)]


def _rel(err: float, var: float) -> float | None:
    return float(err / var) if var > 0 else None


def of_measured(M: Measured, activation: str) -> dict[str, Any]:
    W, b, a, H, f, x, y = M.W, M.b, M.a, M.H, M.f, M.data.x, M.data.y
    m, n = W.shape
    var_y = float(y.var()) or 1.0
    var_f = float(f.var())
    unit = var_y ** 0.5 / n ** 0.5
    norms = np.linalg.norm(W, axis=1)
    active = np.flatnonzero((M.s >= ACTIVE_FRACTION * unit) & (norms > 0))
    U = W[active] / norms[active, None]
    labels = group_rows(U)
    groups, f_ideal, kept = [], f.copy(), 0
    for lab in np.unique(labels):
        J = active[labels == lab]
        _, _, vt = np.linalg.svd(U[labels == lab], full_matrices=False)
        d = _canonical(vt[0])
        st = structure(d, lone=len(J) == 1)
        proj = W[J] @ d
        t = x @ d
        rd = read_1d(t, proj, b[J], a[J], activation)
        g = H[:, J].sum(1)
        net = ideal(rd["form"], rd["constants"], d, rd["sharpness"], activation)
        item: dict[str, Any] = {
            "direction": st["words"], "kind": st["kind"], "inputs": st["inputs"], "signs": st["signs"],
            "structure_cos": st["cos"], "generic": st["generic"],
            "neurons": int(len(J)), "neuron_ids": [int(j) for j in J],
            "weight_signs": {"+": int((proj > 0).sum()), "-": int((proj < 0).sum())},
            "scale_median": float(np.median(np.abs(proj))),
            "offsets": _offsets(proj, b[J]),
            "off_direction": float(np.median(np.linalg.norm(W[J] - np.outer(proj, d), axis=1) / norms[J])),
            "variance": float(g.var()), "form": rd["form"], "sharpness": rd["sharpness"], "r2": rd["r2"],
            "constants": rd["constants"], "formula": formula(rd["form"], rd["constants"], st, rd["sharpness"],
                                                               activation),
            "copies": (len(J) / NEURONS_PER_FORM[rd["form"]]) if rd["form"] in NEURONS_PER_FORM else None,
            "_d": d, "_u": st["u"], "_kept": {int(j): (W[j], b[j], a[j]) for j in J},
        }
        if "curve" in rd:
            item["curve"] = rd["curve"]
        if net is not None:
            gi = forward(net, x, activation)
            gi += g.mean() - gi.mean()  # the constant: one number, matched on the data
            err = float(np.mean((g - gi) ** 2))
            f_ideal += gi - g
            item["reencoding"] = {"group_error": _rel(err, float(g.var())), "network_error": _rel(err, var_f),
                                  "target_error": float(np.mean((f - g + gi - y) ** 2) / var_y),
                                  "neurons": int(len(net["a"]))}
        else:
            kept += len(J)
            item["reencoding"] = None
        groups.append(item)
    groups.sort(key=lambda g: (-g["variance"], g["kind"], g["form"], g["inputs"]))
    return _summary(groups, U, f, f_ideal, kept, counts_of(M, active), x, y, var_y, var_f, n, m, len(active),
                    activation)


def _offsets(proj: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Where the neurons bend along t: t_j = −b_j/(w_j·d), and b_j/‖w_j‖ (the same up to sign)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(proj != 0, -b / proj, np.nan)
    t = t[np.isfinite(t)]
    return {"kink_median": float(np.median(t)) if t.size else None,
            "kink_spread": float(t.std()) if t.size else None,
            "bias_over_norm_median": float(np.median(b / np.abs(proj))) if proj.size and (proj != 0).all() else None}


def _summary(groups, U, f, f_ideal, kept, counts, x, y, var_y, var_f, n, m, n_active, activation) -> dict[str, Any]:
    lin = [g for g in groups if g["form"] == "linear"]
    nonlin = [g for g in groups if g["form"] not in ("linear", "constant")]
    total = sum(g["variance"] for g in nonlin)
    mech: dict[str, float] = defaultdict(float)
    for g in nonlin:
        g["share"] = g["variance"] / total if total > 0 else 0.0
        mech[mechanism(g)] += g["share"]
    linear_part = None
    if lin:
        grad = sum(g["constants"]["alpha"] * g["_d"] for g in lin)
        norm = float(np.linalg.norm(grad))
        st = structure(_canonical(grad / norm)) if norm > 0 else None
        sign = float(np.sign(grad @ _canonical(grad))) if norm > 0 else 0.0
        linear_part = {"groups": len(lin), "neurons": sum(g["neurons"] for g in lin),
                       "direction": st["words"] if st else None, "kind": st["kind"] if st else None,
                       "formula": (f"{_num(sign * norm / st['norm'])}·{st['u']}" if st and st["kind"] != "dense"
                                   else f"g·x, ‖g‖ = {_num(norm)}") if st else "0"}
    shared = [g for g in groups if g["neurons"] > 1]
    words = _words(groups, nonlin, linear_part, dict(mech), var_f, var_y)
    err = float(np.mean((f - f_ideal) ** 2))
    decoded = _shared_formula(groups, f, y, var_f, var_y, x, activation)
    for g in groups:
        for key in ("_d", "_u", "_kept"):
            g.pop(key)
    return {
        "n": n, "m": m, "active_neurons": n_active, "rank": numerical_rank(U),
        "output_variance_share": float(var_f / var_y),
        **dict(zip(("effective_neurons", "carrying_neurons"), counts, strict=True)),
        "effective_share": EFFECTIVE_SHARE,
        "directions": groups, "shared_directions": len(shared),
        "mechanisms": dict(sorted(mech.items(), key=lambda kv: -kv[1])), "linear_part": linear_part,
        "words": words,
        "reencoding": {"network_error": _rel(err, var_f), "target_error": float(np.mean((f_ideal - y) ** 2) / var_y),
                       "network_target_error": float(np.mean((f - y) ** 2) / var_y), "kept_neurons": int(kept)},
        "decoded": decoded,
        "thresholds": {"direction_cos": DIRECTION_COS, "rank_tol": RANK_TOL, "form_r2": FORM_R2,
                       "linear_r2": LINEAR_R2, "effective_share": EFFECTIVE_SHARE},
    }


def _u_units(form: str, const: dict[str, float], nrm: float) -> dict[str, float]:
    """Constants of a form in t = u/‖s‖ converted to u (scale=1/nrm) or back (nrm → 1/nrm)."""
    out = dict(const)
    if form in ("abs", "relu+", "relu-", "step"):
        out.update(c=const["c"] / nrm, t0=const["t0"] * nrm)
        if "s" in const:
            out["s"] = const["s"] * nrm
    elif form == "quadratic":
        out.update(q=const["q"] / nrm ** 2, alpha=const["alpha"] / nrm)
    return out


def _shared_formula(groups, f, y, var_f, var_y, x, act) -> dict[str, Any]:
    """The network as one formula: the groups of one (form, kind of direction) share one set of numbers (medians in
    the direction's own units u = s·x), the linear groups one linear term (their summed gradient), the constant matched
    on the data; re-encoded as one ideal network and checked against the network and the target."""
    n = x.shape[1]
    bld = _Builder(n)
    terms, kept, smooth = [], 0, []
    buckets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for g in groups:
        if g["form"] != "constant":
            buckets[(g["form"], g["generic"] if g["kind"] != "dense" else "d·x")].append(g)
    grad = np.zeros(n)
    for (form, generic), mine in buckets.items():
        if form == "linear":
            grad += sum(g["constants"]["alpha"] * g["_d"] for g in mine)
            continue
        if form == "other":
            for g in mine:
                for j in g["neuron_ids"]:
                    kept += 1
                    bld.neuron(*g["_kept"][j])
            terms.append(f"{len(mine)} other 1-D function{'s' * (len(mine) > 1)} of {generic} (neurons kept)")
            continue
        nrms = [math.sqrt(len(g["inputs"])) if g["kind"] != "dense" else 1.0 for g in mine]
        uc = [_u_units(form, g["constants"], r) for g, r in zip(mine, nrms, strict=True)]
        shared = {key: _r(float(np.median([c[key] for c in uc]))) for key in uc[0]}
        k_u = _r(float(np.median([g["sharpness"] / r for g, r in zip(mine, nrms, strict=True)])))
        own = generic == "d·x"  # random ridges share no numbers: each keeps its own
        for g, r in zip(mine, nrms, strict=True):
            net = (ideal(form, g["constants"], g["_d"], g["sharpness"], act) if own
                   else ideal(form, _u_units(form, shared, 1.0 / r), g["_d"], k_u * r, act))
            if net is None:  # quadratic under relu: kept as it is
                kept += g["neurons"]
                for j in g["neuron_ids"]:
                    bld.neuron(*g["_kept"][j])
                continue
            for w, bb, aa in zip(net["W"], net["b"], net["a"], strict=True):
                bld.neuron(w, bb, aa)
            bld.c += float(net["c"])
        st = {"u": generic if len(mine) > 1 else mine[0]["_u"], "norm": 1.0}
        text = formula(form, shared, st, k_u, act)
        if act == "silu" and form in ("abs", "relu+", "relu-") and not own:
            smooth.append(_num(k_u))
        if own and len(mine) > 1:
            body = {"relu+": "relu(d_j·x − t_j)", "relu-": "relu(t_j − d_j·x)", "abs": "|d_j·x − t_j|"}.get(form, form)
            text = f"c_j·{body} (median c_j {text.split('·')[0]}; each ridge its own numbers)"
        terms.append(f"Σ_({len(mine)} × {generic}) {text}" if len(mine) > 1 else text)
    if grad.any():
        bld.linear(grad)
        norm = float(np.linalg.norm(grad))
        st = structure(_canonical(grad / norm))
        sign = float(np.sign(grad @ _canonical(grad / norm)))
        terms.append(f"{_num(sign * norm / st['norm'])}·{st['u']}" if st["kind"] != "dense"
                     else f"g·x (‖g‖ = {_num(norm)})")
    net = bld.net()
    fi = forward(net, x, act) if len(net["a"]) else np.zeros(len(x))
    const = _r(float(f.mean() - fi.mean()))
    fi = fi + const
    body = " + ".join(terms).replace("+ -", "− ").replace("+ −", "− ")
    err = float(np.mean((f - fi) ** 2))
    text = f"y ≈ {body} {_signed(const)}" if body else f"y ≈ {_num(const)}"
    if smooth:  # the ideal's kinks are SiLU's, as sharp as the network's (in u's units)
        text += f"  [kinks: silu at sharpness {', '.join(smooth)}]"
    return {"formula": text,
            "reencoding_error": _rel(err, var_f), "formula_error": float(np.mean((fi - y) ** 2) / var_y),
            "network_error": float(np.mean((f - y) ** 2) / var_y), "kept_neurons": kept,
            "check": "re-encoded" if not kept else "re-encoded, some neurons kept"}


def mechanism(g: dict[str, Any]) -> str:
    """A group's mechanism key: direction kind and form (relu of either side is one form)."""
    form = "relu" if g["form"].startswith("relu") else g["form"]
    return f"{g['kind']}:{form}"


KIND_WORDS = {"all": "along Σx", "all_signed": "along a ± sign vector of all inputs", "one": "per input",
              "pair": "per input pair (x_i + x_j)", "pair_diff": "per input pair (x_i − x_j)",
              "few": "per group of a few inputs", "dense": "along random ridges"}
FORM_WORDS = {"abs": "double-sided", "relu": "one-sided relu", "quadratic": "quadratic", "step": "step",
              "other": "other 1-D function", "linear": "linear"}


def mechanism_words(key: str, groups: list[dict[str, Any]]) -> str:
    """E.g. "double-sided along Σx, 2 neurons", "double-sided along Σx spread over 46 neurons", "one-sided relu per
    input (relu(x_i))", "no shared direction: random ridges (24 neurons)"."""
    kind, form = key.split(":")
    mine = [g for g in groups if mechanism(g) == key]
    neurons = sum(g["neurons"] for g in mine)
    copies = float(np.median([g["copies"] or 1.0 for g in mine])) if mine else 1.0
    if kind == "dense" and all(g["neurons"] == 1 for g in mine):
        return f"no shared direction: random ridges ({FORM_WORDS[form]}, {neurons} neuron{'s' * (neurons != 1)})"
    text = f"{FORM_WORDS[form]} {KIND_WORDS[kind]}"
    if form == "relu" and kind in ("one", "pair", "all"):
        sides = {g["form"] for g in mine}
        side = "" if sides == {"relu+"} else "−" if sides == {"relu-"} else "±"
        text += f" (relu({side}{mine[0]['generic']}))"
    if len(mine) == 1:
        text += (f" spread over {neurons} neurons" if copies >= SPREAD_COPIES
                 else f", {neurons} neuron{'s' * (neurons != 1)}")
    elif copies >= SPREAD_COPIES:
        text += f", each spread over {copies * NEURONS_PER_FORM.get(mine[0]['form'], 1):.0f} neurons"
    return text


def _words(groups, nonlin, linear_part, mech, var_f, var_y) -> str:
    parts = []
    main = [k for k, v in mech.items() if v >= MECHANISM_SHARE]
    if len(main) > 1:
        parts.append("hybrid: " + " + ".join(f"{mechanism_words(k, nonlin)} ({mech[k]:.0%})" for k in main))
    elif main:
        parts.append(mechanism_words(main[0], nonlin))
    if linear_part:
        parts.append(f"linear part {linear_part['formula']} ({linear_part['neurons']} neuron"
                     f"{'s' * (linear_part['neurons'] != 1)})")
    if not parts:
        parts.append("constant" if var_f < (NEGLIGIBLE ** 2) * var_y else "nothing read")
    return "; ".join(parts)


def key(rd: dict[str, Any]) -> str:
    """A network's mechanism in a few characters, for tables of any task: its main mechanisms (share of the nonlinear
    variance >= MECHANISM_SHARE, largest first) joined by '+', then '+linear' for a linear part; 'constant' when the
    output does not move. E.g. 'all:abs' (|Σx|), 'one:relu' (Σ relu(x_i)), 'one:abs+linear'."""
    if not moves(rd):
        return "constant"
    parts = [k for k, v in rd["mechanisms"].items() if v >= MECHANISM_SHARE]
    if rd["linear_part"]:
        parts.append("linear")
    return "+".join(parts) or "constant"


# ---- the numbers that families cluster on ------------------------------------------------------------------------

def moves(rd: dict[str, Any]) -> bool:
    """The network's output varies by at least MOVING_SHARE of the target's variance: it computes something, the task's
    target or not (a construction scaled down until it is near-constant for the rules, by at most 0.1 of its output,
    varies by at most 0.01)."""
    return rd["output_variance_share"] >= MOVING_SHARE


def vector(rd: dict[str, Any]) -> dict[str, float]:
    """Features beside `fingerprint.vector`, names prefixed "dir:": the share of the nonlinear groups' variance in each
    mechanism (direction kind : form, e.g. "dir:all:abs", "dir:one:relu", "dir:dense:relu"); "dir:hybrid" (1 when
    more than one mechanism carries ≥ MECHANISM_SHARE); "dir:copies", log4 of the variance-weighted copies per
    direction in [0, 2] (1 copy 0, 4 copies 1, ≥ 16 copies 2: a factor 4 in redundancy is a unit of distance)."""
    v = {f"dir:{k}": float(s) for k, s in rd["mechanisms"].items()}
    v["dir:hybrid"] = float(sum(s >= MECHANISM_SHARE for s in rd["mechanisms"].values()) > 1)
    nonlin = [g for g in rd["directions"] if "share" in g]
    if nonlin:
        copies = sum(g["share"] * math.log(max(g["copies"] or 1.0, 1.0), COPIES_BASE) for g in nonlin)
        v["dir:copies"] = float(min(max(copies, 0.0), 2.0))
    return v
