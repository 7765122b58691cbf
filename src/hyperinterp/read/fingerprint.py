"""A fingerprint of one network, for any task: what its neurons do on data, in numbers and in words.

It is built to be invariant to permuting inputs or neurons and to the scale k of a construction,
and it knows nothing about the task beyond its input distribution and target (no L1 rules), so that
networks of a new task can be grouped into families (`families`) that nobody described beforehand.

On inputs x from the task's distribution, with each neuron's contribution ``h_j = a_j φ(z_j)``,
``z_j = w_j·x + b_j``, and ``unit = std(y)/√n`` (one input's share of the target, as if it were a sum):

1. Activity: neuron j is *dead* when std(h_j) < ACTIVE_FRACTION·unit.
2. Reach, from the participation ratio PR of w_j: *one*-input (PR < SPARSE_PR: its largest weight's
   input and sign), *few*-input (PR below `netmath.dense_min_pr`, e.g. 4 at n = 16), or *dense*.
3. Regime, from where the pre-activations z_j fall on φ: *tiny* (std z < TINY_Z near φ's bend, where
   SiLU is the polynomial z/2 + z²/4: the small-weight quadratic regime; SiLU only), *linear* (h_j is
   at least LINEAR_NEURON_R2 linear in z_j: a large bias, or ReLU always on), else *kink* (the data
   crosses the bend).
4. Slots: nonlinear (kink or tiny) one-input neurons pooled by (input, weight sign, output-weight
   sign, regime); a slot *serves* its input when the pooled output's std is at least SIDE_FRACTION·unit.
   Slot tokens: ``+``/``-`` the weight sign, then ``n`` for a negative output weight and ``q`` for the
   tiny regime (``+q``: a positive tiny-weight neuron with a positive output weight).
   Each input's *pattern* is the set of its served slots (``+,-``: a ± pair; ``none``: not served).
5. Rest: every active neuron not in a serving slot (dense, few-input, linear or weak one-input),
   judged by what it computes together: its share of std(y) and least-squares fits of its summed
   output on x (linear: R², mean coefficient and its CV) and on (x, x²) (separable quadratic R²).
6. Output signs: the share of the active neurons' contribution energy with a_j < 0.

`vector` turns a fingerprint into named numbers in [0, 1] (fractions, shares, R², presence flags),
the space in which `families` clusters.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .classify import (
    ACTIVE_FRACTION,
    CONSTANT_REL,
    DENSE_LINEAR_R2,
    LINEAR_NEURON_R2,
    NEGLIGIBLE,
    ONE_SIGN_SHARE,
    SIDE_FRACTION,
    SPARSE_PR,
    UNIFORM_CV,
    as_network,
)
from .measure import BLOCK_NEURONS, Measured, data, group_sums, measure
from .netmath import dense_min_pr

# Within std z < 0.5 (|z| < 1.5 for 99.7% of the data when centred) SiLU's quartic term is under 10%
# of its quadratic one: the neuron is the polynomial z/2 + z²/4, whatever its output weight.
TINY_Z = 0.5
# ... and its bend is only reached from where z is on average: a centre beyond ±2 is a linear or off neuron.
TINY_CENTRE = 2.0
NEURON_TYPES = ("dead", "one_kink", "one_tiny", "one_linear", "few_kink", "few_tiny", "few_linear",
                "dense_kink", "dense_tiny", "dense_linear")


def _regime(M: Measured, activation: str) -> np.ndarray:
    """'tiny', 'linear' or 'kink' per neuron, from its pre-activations' spread and centre and h_j's R² on z_j."""
    tiny = (M.z_std < TINY_Z) & (np.abs(M.z_mean) < TINY_CENTRE) & (activation == "silu")
    return np.where(tiny, "tiny", np.where(M.r2_z >= LINEAR_NEURON_R2, "linear", "kink"))


def slot_token(sign: int, a_sign: int, regime: str) -> str:
    return ("+" if sign > 0 else "-") + ("n" if a_sign < 0 else "") + ("q" if regime == "tiny" else "")


def fingerprint(W, b, a, c, activation: str = "silu", task: str = "l1", input_dist: str = "normal",
                n_samples: int = 4096, seed: int = 0) -> dict[str, Any]:
    """The fingerprint of ONE network (W (m,n), b (m,), a (m,), c): a JSON-serialisable dict.

    The data are `classify`'s (same size and seed), so "near-constant" means the same for both."""
    W, b, a, c = as_network(W, b, a, c)
    return fingerprint_many(W[None], b[None], a[None], np.array([c]), activation, task, input_dist, n_samples,
                            seed)[0]


def fingerprint_many(W, b, a, c, activation: str = "silu", task: str = "l1", input_dist: str = "normal",
                     n_samples: int = 4096, seed: int = 0, block: int = BLOCK_NEURONS,
                     reference: bool = False) -> list[dict[str, Any]]:
    """`fingerprint` for K networks (W (K,m,n), b (K,m), a (K,m), c (K,)), measured together (measure.py);
    `reference`: SiLU in its tanh form (the benchmark's formulation before 2026-12-07)."""
    d = data(np.shape(W)[2], n_samples, seed, task, input_dist)
    return [of_measured(M, activation, task) for M in measure(W, b, a, c, activation, d, block, reference)]


def of_measured(M: Measured, activation: str, task: str) -> dict[str, Any]:
    """The fingerprint of one measured network."""
    W, a, H, f = M.W, M.a, M.H, M.f
    m, n = W.shape
    y = M.data.y
    var_y = float(y.var()) or 1.0  # a constant target: errors in the target's own units
    sd_y = var_y ** 0.5
    unit = sd_y / n ** 0.5
    rel = float(np.mean((f - y) ** 2) / var_y)
    rel_centered = float(np.var(f - y) / var_y)

    s, pr, main, sign = M.s, M.pr, M.main, M.sign  # per neuron (measure.py)
    active = s >= ACTIVE_FRACTION * unit
    reach = np.where(pr < SPARSE_PR, "one", np.where(pr < dense_min_pr(n), "few", "dense"))
    regime = _regime(M, activation)
    kinds = np.where(active, np.char.add(np.char.add(reach, "_"), regime), "dead")

    # slots: nonlinear one-input neurons pooled by (input, weight sign, output sign, regime)
    groups: dict[tuple[int, str], list[int]] = {}
    for j in np.flatnonzero(active & (reach == "one") & (regime != "linear")):
        groups.setdefault((int(main[j]), slot_token(sign[j], int(np.sign(a[j])), regime[j])), []).append(int(j))
    served: dict[int, list[str]] = {}
    in_slot = np.zeros(m, bool)
    per_slot = []
    ordered = sorted(groups.items())
    group_std = group_sums(H, [js for _, js in ordered]).std(0)
    for ((i, token), js), gstd in zip(ordered, group_std, strict=True):
        if gstd >= SIDE_FRACTION * unit:
            served.setdefault(i, []).append(token)
            in_slot[js] = True
            per_slot.append(len(js))
    per_input = [",".join(sorted(served.get(i, []))) or "none" for i in range(n)]

    rest = active & ~in_slot
    R = H @ rest.astype(float)
    share = float(R.std() / sd_y)
    lin_r2, g, _ = M.data.linear.fit(R) if share > 0 else (0.0, np.zeros(n), 0.0)
    quad_r2 = M.data.quadratic.fit(R)[0] if share > 0 else 0.0
    g_mean = float(g.mean())
    cv = float(g.std() / abs(g_mean)) if g_mean != 0 else None
    energy = s ** 2
    e_act = float(energy[active].sum())
    e_rest = float(energy[rest].sum())

    fp = {
        "task": task, "n": n, "m": m, "activation": activation,
        "rel_error": rel, "rel_error_centered": rel_centered, "near_constant": rel_centered >= CONSTANT_REL,
        "neuron_types": {t: int(np.sum(kinds == t)) for t in NEURON_TYPES},
        "patterns": dict(sorted(Counter(per_input).items())), "per_input": per_input,
        "coverage": float(np.mean([p != "none" for p in per_input])),
        "neurons_per_slot": float(np.mean(per_slot)) if per_slot else 0.0,
        "rest": {"neurons": int(rest.sum()), "share": share, "negligible": share < NEGLIGIBLE,
                 "linear_r2": lin_r2, "quadratic_r2": quad_r2, "coef_mean": g_mean, "coef_cv": cv,
                 "kink_share": float(energy[rest & (regime == "kink")].sum() / e_rest) if e_rest > 0 else 0.0,
                 "few_share": float(energy[rest & (reach == "few")].sum() / e_rest) if e_rest > 0 else 0.0},
        "negative_output_share": float(energy[active & (a < 0)].sum() / e_act) if e_act > 0 else 0.0,
        "neurons": [_neuron(j, kinds[j], main[j], sign[j], s[j] / unit, in_slot[j]) for j in np.flatnonzero(active)],
        "inactive": [int(j) for j in np.flatnonzero(~active)],
    }
    fp["words"] = words(fp)
    return fp


def _neuron(j: int, kind: str, main: int, sign: int, contribution: float, in_slot: bool) -> dict[str, Any]:
    item = {"neuron": int(j), "kind": str(kind), "contribution": float(contribution), "in_slot": bool(in_slot)}
    if kind.startswith("one_"):
        item.update(input=int(main), sign=int(sign))  # the fields `draw.neuron_order` sorts by
    return item


# ---- words ---------------------------------------------------------------------------------------

def _token_words(token: str) -> str:
    text = ("+" if token[0] == "+" else "−") + (" tiny-weight (quadratic)" if "q" in token else " kink")
    return text + (" with a negative output weight" if "n" in token else "")


def pattern_words(pattern: str) -> str:
    """``+,-`` -> "a + kink and a − kink"; ``none`` -> "no one-input neuron"."""
    if pattern == "none":
        return "no one-input neuron"
    return " and ".join(f"a {_token_words(t)}" for t in pattern.split(","))


def rest_words(rest: dict[str, Any], n: int) -> str:
    if rest["negligible"]:
        return "no dense part"
    head = f"a dense part ({rest['neurons']} neuron{'s' if rest['neurons'] != 1 else ''}, {rest['share']:.2f} of std y)"
    if rest["linear_r2"] >= DENSE_LINEAR_R2:
        uniform = rest["coef_cv"] is not None and rest["coef_cv"] < UNIFORM_CV
        term = (f"{'+' if rest['coef_mean'] > 0 else '−'}{abs(rest['coef_mean']):.2g}·Σx" if uniform
                else "a non-uniform linear term")
        return f"{head} that is linear: {term} (R² {rest['linear_r2']:.2f})"
    if rest["quadratic_r2"] >= DENSE_LINEAR_R2:
        return f"{head} that is a separable quadratic Σ(g_i x_i + q_i x_i²) (R² {rest['quadratic_r2']:.2f})"
    return f"{head}, nonlinear (linear R² {rest['linear_r2']:.2f}, quadratic {rest['quadratic_r2']:.2f})"


def words(fp: dict[str, Any]) -> str:
    """The fingerprint in one sentence, e.g. "16 inputs each served by a + kink and a − kink; no dense part;
    output weights all positive"."""
    n = fp["n"]
    served = sorted(((c, p) for p, c in fp["patterns"].items() if p != "none"), key=lambda t: (-t[0], t[1]))
    parts = [f"{c} input{'s' if c > 1 else ''} {'each ' if c > 1 else ''}served by {pattern_words(p)}"
             for c, p in served] or ["no input served by one-input neurons"]
    if fp["patterns"].get("none") and served:
        parts.append(f"{fp['patterns']['none']} of {n} not served")
    parts.append(rest_words(fp["rest"], n))
    neg = fp["negative_output_share"]
    parts.append("output weights all positive" if neg < ONE_SIGN_SHARE else
                 "output weights all negative" if neg > 1 - ONE_SIGN_SHARE else
                 f"output weights of both signs (negative share {neg:.2f})")
    text = "; ".join(parts)
    if fp["near_constant"]:
        text = f"near-constant (explains {max(0.0, 1 - fp['rel_error_centered']):.0%} of Var y): " + text
    return text


# ---- the numbers that families cluster on ------------------------------------------------------

def vector(fp: dict[str, Any]) -> dict[str, float]:
    """Named features in [0, 1] (no standardisation needed, so a feature that barely varies is not blown
    up): the fraction of inputs with each pattern; a flag for more than one pattern among the served inputs
    (one input served otherwise is a second mechanism: a hybrid stays apart from a pure network); the rest's
    share of std y, presence, linearity, quadratic fit, the sign of a uniform linear term; the negative
    output share. A near-constant network is one point, far from all others."""
    if fp["near_constant"]:  # nothing computed: one family, whatever its neurons look like
        return {"near_constant": 2.0}  # worth two features, so it is far from every other network
    n, r = fp["n"], fp["rest"]
    v: dict[str, float] = {}
    for p, cnt in fp["patterns"].items():
        v[f"frac:{p}"] = cnt / n
    v["mixed"] = float(sum(p != "none" for p in fp["patterns"]) > 1)
    present = 0.0 if r["negligible"] else 1.0
    uniform = present * (r["linear_r2"] >= DENSE_LINEAR_R2) * (r["coef_cv"] is not None and r["coef_cv"] < UNIFORM_CV)
    v.update({"rest:share": min(r["share"], 1.0), "rest:present": present, "rest:linear_r2": present * r["linear_r2"],
              "rest:quadratic_r2": present * r["quadratic_r2"],
              "rest:sum+": float(uniform * (r["coef_mean"] > 0)), "rest:sum-": float(uniform * (r["coef_mean"] < 0)),
              "out:negative": fp["negative_output_share"]})
    return v
