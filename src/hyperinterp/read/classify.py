"""Name the algorithm a one-hidden-layer L1 network uses, with the evidence (DESIGN §3, §6).

Labels: ``double_sided``, ``pudding_pos``, ``pudding_neg``, ``convexity`` (the algorithms), ``constant`` (a
network that barely computes the target: no algorithm to report, DESIGN §6) and ``other`` (anything else, with the
reason: hybrids, dense networks that are not convexity, one mechanism on too few inputs).

Everything is judged on data (x drawn from the task's input distribution, the target y = Σ|x_i|):
each neuron's contribution ``h_j = a_j φ(w_j·x + b_j)``, never raw weight sizes alone, so the
result does not depend on the scale k of a construction, on the order of inputs or neurons, or on
neurons that do nothing. See docs/classifier.md for the rules in words. The steps:

1. Activity: neuron j is active if std(h_j) is at least ACTIVE_FRACTION of std(|x_i|).
2. Sparsity: participation ratio PR_j = (Σ w²)² / Σ w⁴ (1: one input, n: all inputs equally).
   An active neuron with PR < SPARSE_PR reads one input (its largest weight, with that weight's sign).
   A sparse neuron is a *kink* if it uses φ's bend on the data (a linear fit of h_j on its input
   explains less than LINEAR_NEURON_R2 of its variance), and a *convex* kink if also a_j > 0.
3. Sides: convex kinks are pooled by (input, sign), so a neuron split into several counts once.
   A side is served if the pooled output's std is at least SIDE_FRACTION of std(relu(x_i)).
   Per input: served by a ± pair, positive side only, negative side only, or none.
4. Dense part: every active neuron not in a served side (dense neurons, linear-regime or weak or
   concave one-input neurons). Judged by what it computes together: a least-squares linear fit of
   its summed output on x (R², the coefficients, their mean and coefficient of variation).
5. Rules, in order:
   - relative error Var(f - y)/Var(y) ≥ CONSTANT_REL (the MSE once the best constant is added, so an
     offset in c alone does not count): ``constant`` (near-constant; no algorithm to report);
   - no input served, the dense neurons carry most of the output, output weights of one sign
     (positive), the dense part not linear, and directions no better than random ones (the error
     is at least RANDOM_RIDGE_RATIO of the best that as many neurons reach along random dense
     directions with refitted positive output weights): ``convexity``;
   - more than one mechanism among the served inputs: ``other`` (hybrid, with its composition);
   - one mechanism serving at least MAJORITY of the inputs:
     ± pairs and a negligible dense part: ``double_sided``;
     positive (negative) sides only and a non-negligible dense part that is linear, uniform and of
     the opposite (same) sign, i.e. ∓Σx: ``pudding_pos`` (``pudding_neg``);
   - anything else: ``other`` with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..generate import netfile
from . import measure
from .measure import sample_inputs  # noqa: F401 - where decode, families and the tests read it
from .netmath import Design, nnls, phi, random_dense_directions
from .references import ALGORITHMS

LABELS = (*ALGORITHMS, "constant", "other")

# --- thresholds (each with the reason it is where it is; none were tuned on test outcomes) ---------
# A neuron below 2% of one input's share of the target (std |x_i|) changes the output by less than
# the error of the best networks seen (relative error ~1e-2 of Var(y) spread over all inputs): it
# is not part of the mechanism. Still low enough that a side split over ~10 neurons stays visible.
ACTIVE_FRACTION = 0.02
# PR = 1.5 is the midpoint between one input (PR 1) and two equal inputs (PR 2): below it one input
# carries most of the neuron's pre-activation variance.
SPARSE_PR = 1.5
# A relu bent at 2 standard deviations of its input is 99.4% linear on the data; a SiLU kink
# φ(kt) is 70-91% linear for any k ≥ 0.5. Above 99% the neuron is a linear carrier, not a kink.
LINEAR_NEURON_R2 = 0.99
# The smallest legitimate side is double-sided's unit-slope relu(x_i); a pooled side with under a
# quarter of that output cannot be what reproduces |x_i| on that side.
SIDE_FRACTION = 0.25
# A component is negligible when its std is below 10% of std(y), i.e. under 1% of Var(y): the same
# order as the residual error of a good network.
NEGLIGIBLE = 0.1
# The dense part "is a linear term" when a linear fit explains at least 90% of its variance. The
# measured pudding dense parts were 96-97% linear, the pudding/convexity hybrids 74-89% (DESIGN §4).
DENSE_LINEAR_R2 = 0.9
# Coefficient of variation of the linear term's coefficients: a term that reads a fraction p of the
# inputs equally (and the rest not at all) has CV = sqrt((1-p)/p); CV < 0.5 <=> more than 80% of
# the inputs with near-equal weight, i.e. "Σ_i x_i", not a term on a few inputs.
UNIFORM_CV = 0.5
# Output weights "of one sign": the negative-a active neurons carry under 1% of the contribution
# energy (the same 1% as NEGLIGIBLE).
ONE_SIGN_SHARE = 0.01
# Convexity is dense: the dense neurons carry most (more than half) of the contribution energy.
DENSE_SHARE = 0.5
# Convexity's directions carry no information ("weights near random", DESIGN §3-4): the network
# is compared with as many neurons as it has (its width m, norms and biases drawn from its active
# neurons) along random dense directions (`netmath.random_dense_directions`, the directions
# of the convexity reference), output weights refitted ≥ 0, best of 8 draws. A network with less
# than half the best draw's error has learned its directions: a dense fitted approximator (e.g.
# plain Adam training, whose directions drift toward sign vectors ±1/√n), not the cheap convexity
# algorithm.
RANDOM_RIDGE_RATIO = 0.5
# Var(f - y) ≥ 0.8·Var(y): the network explains under 20% of the target's variance; a near-constant.
# (The MSE after the best constant: a constant offset in c is one number and does not change which
# algorithm the network computes; rel_error, MSE/Var(y) with the offset, is reported beside it.)
CONSTANT_REL = 0.8
# A pure label needs its mechanism on at least half of the inputs; uncovered inputs (no mechanism)
# add error but not a second algorithm, and are reported in the composition.
MAJORITY = 0.5

THRESHOLDS = {
    "active_fraction": ACTIVE_FRACTION, "sparse_pr": SPARSE_PR, "linear_neuron_r2": LINEAR_NEURON_R2,
    "side_fraction": SIDE_FRACTION, "negligible": NEGLIGIBLE, "dense_linear_r2": DENSE_LINEAR_R2,
    "uniform_cv": UNIFORM_CV, "one_sign_share": ONE_SIGN_SHARE, "dense_share": DENSE_SHARE,
    "random_ridge_ratio": RANDOM_RIDGE_RATIO,
    "constant_rel": CONSTANT_REL, "majority": MAJORITY,
}


def _linear_fit(R: np.ndarray, x: np.ndarray | Design) -> dict[str, Any]:
    """Least-squares R ≈ g·x + d on the data (x, or its `Design`), with R², the mean coefficient and its CV."""
    r2, g, d = (x if isinstance(x, Design) else Design(x)).fit(R)
    mean = float(g.mean())
    cv = float(g.std() / abs(mean)) if mean != 0 else None  # None: no linear term to be uniform
    return {"r2": r2, "coef": [float(v) for v in g], "intercept": d, "coef_mean": mean,
            "coef_cv": cv, "sign": int(np.sign(mean))}


def as_network(W, b, a, c) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One network's weights as float64 arrays W (m,n), b (m,), a (m,) and c as a float."""
    return (np.asarray(W, float), np.asarray(b, float).reshape(-1), np.asarray(a, float).reshape(-1),
            float(np.asarray(c, float).reshape(())))


def classify(W, b, a, c, activation: str = "silu", n_samples: int = 4096, seed: int = 0, task: str = "l1",
             input_dist: str = "normal") -> dict[str, Any]:
    """Label ONE network f(x) = Σ_j a_j φ(w_j·x + b_j) + c (W (m,n), b (m,), a (m,), c scalar).

    Returns a JSON-serialisable dict: ``label``, ``reason`` and the evidence (see the module docstring).
    """
    W, b, a, c = as_network(W, b, a, c)
    return classify_many(W[None], b[None], a[None], np.array([c]), activation, n_samples, seed, task, input_dist)[0]


def classify_many(W, b, a, c, activation: str = "silu", n_samples: int = 4096, seed: int = 0, task: str = "l1",
                  input_dist: str = "normal", block: int = measure.BLOCK_NEURONS,
                  reference: bool = False) -> list[dict[str, Any]]:
    """`classify` for K networks (W (K,m,n), b (K,m), a (K,m), c (K,)), measured together (measure.py).
    `reference`: the formulation before 2026-12-07 that the benchmark times against (SiLU in its tanh form, every
    draw of the convexity yardstick): the same labels, slower."""
    d = measure.data(np.shape(W)[2], n_samples, seed, task, input_dist)
    return [of_measured(M, activation, task, input_dist, n_samples, seed, reference)
            for M in measure.measure(W, b, a, c, activation, d, block, reference)]


def of_measured(M: measure.Measured, activation: str, task: str, input_dist: str, n_samples: int,
                seed: int, reference: bool = False) -> dict[str, Any]:
    """The label and evidence of one measured network."""
    W, b, a, H, f = M.W, M.b, M.a, M.H, M.f
    m, n = W.shape
    y = M.data.y
    var_y = float(y.var())
    sd_y = var_y ** 0.5
    rel = float(np.mean((f - y) ** 2) / var_y)
    rel_centered = float(np.var(f - y) / var_y)  # the same after the best constant: judges shape, not c
    unit = M.data.abs_unit  # one input's share of the target
    relu_unit = M.data.relu_unit

    s, pr, main, sign, r2_neuron = M.s, M.pr, M.main, M.sign, M.r2_main  # per neuron (measure.py)
    active = s >= ACTIVE_FRACTION * unit
    wmain = W[np.arange(m), main]
    sparse = active & (pr < SPARSE_PR)
    linear_sparse = sparse & (r2_neuron >= LINEAR_NEURON_R2)
    kink = sparse & ~linear_sparse
    convex_kink = kink & (a > 0)
    dense = active & ~sparse

    # sides: convex kinks pooled by (input, sign)
    groups: dict[tuple[int, int], list[int]] = {}
    for j in np.flatnonzero(convex_kink):
        groups.setdefault((int(main[j]), int(sign[j])), []).append(int(j))
    sides = []
    served = {}
    in_side = np.zeros(m, bool)
    ordered = sorted(groups.items())
    group_std = measure.group_sums(H, [js for _, js in ordered]).std(0)
    for ((i, sg), js), gstd in zip(ordered, map(float, group_std), strict=True):
        ok = gstd >= SIDE_FRACTION * relu_unit
        sides.append({"input": i, "sign": sg, "neurons": js, "std_rel": gstd / relu_unit, "served": bool(ok)})
        if ok:
            served.setdefault(i, set()).add(sg)
            in_side[js] = True
    per_input = []
    for i in range(n):
        sg = served.get(i, set())
        per_input.append("pair" if len(sg) == 2 else "pos" if sg == {1} else "neg" if sg == {-1} else "none")
    counts = Counter(per_input)
    comp = {"pair": counts["pair"], "pos_only": counts["pos"], "neg_only": counts["neg"], "none": counts["none"],
            "per_input": per_input}

    rest = active & ~in_side
    R = H @ rest.astype(float)
    rest_std = float(R.std())
    fit = _linear_fit(R, M.data.linear) if rest_std > 0 else {
        "r2": 0.0, "coef": [0.0] * n, "intercept": float(R.mean()), "coef_mean": 0.0, "coef_cv": None, "sign": 0}
    kink_slope = [float(sum(a[j] * abs(wmain[j]) for j in g["neurons"])) for g in sides if g["served"]]
    dense_part = {"neurons": [int(j) for j in np.flatnonzero(rest)], "n_dense": int(dense.sum()),
                  "n_linear_sparse": int(linear_sparse.sum()), "n_concave_kinks": int((kink & (a < 0)).sum()),
                  "n_weak_kinks": int((convex_kink & ~in_side).sum()), "std_rel": rest_std / sd_y,
                  "negligible": bool(rest_std < NEGLIGIBLE * sd_y), **fit}
    if kink_slope and fit["coef_mean"] != 0:
        dense_part["slope_ratio"] = float(-fit["coef_mean"] / np.median(kink_slope) * np.sign(
            np.median([g["sign"] for g in sides if g["served"]])))  # 0.5 for an exact pudding

    energy = s ** 2
    e_act = float(energy[active].sum())
    neg_share = float(energy[active & (a < 0)].sum() / e_act) if e_act > 0 else 0.0
    dense_share = float(energy[dense].sum() / e_act) if e_act > 0 else 0.0

    neurons = []
    for j in np.flatnonzero(active):
        kind = "dense" if dense[j] else "linear" if linear_sparse[j] else "kink"
        item = {"neuron": int(j), "contribution": float(s[j] / unit), "pr": float(pr[j]), "kind": kind,
                "role": "side" if in_side[j] else "dense_part", "a": float(a[j]), "bias": float(b[j])}
        if sparse[j]:
            item.update(input=int(main[j]), sign=int(sign[j]), k=float(abs(wmain[j])),
                        linear_r2=float(r2_neuron[j]))
        neurons.append(item)

    random_rel: list[tuple[float, int]] = []  # computed only when the convexity rule gets that far

    def yardstick() -> float:
        random_rel.append(_random_ridge_error(W[active], b[active], m, M.data.x_one, y, activation, seed,
                                              decided_at=None if reference else rel_centered,
                                              reference=reference))
        return random_rel[-1][0]

    label, reason = _decide(rel_centered, n, comp, dense_part, neg_share, dense_share, yardstick)
    return {
        "label": label, "reason": reason, "activation": activation, "task": task, "input_dist": input_dist,
        "n": n, "m": m, "rel_error": rel, "rel_error_centered": rel_centered, "mse": float(np.mean((f - y) ** 2)),
        "n_active": int(active.sum()), **dict(zip(("n_effective", "n_carrying"), measure.counts_of(M, active),
                                                  strict=True)),
        "n_sparse": int(sparse.sum()), "n_kinks": int(kink.sum()),
        "n_dense": int(dense.sum()), "inactive": [int(j) for j in np.flatnonzero(~active)],
        "pr_median_sparse": float(np.median(pr[sparse])) if sparse.any() else None,
        "pr_median_dense": float(np.median(pr[dense])) if dense.any() else None,
        "composition": comp, "sides": sides, "dense_part": dense_part,
        "negative_output_share": neg_share, "dense_share": dense_share,
        "random_ridge_rel_error": random_rel[0][0] if random_rel else None,
        "random_ridge_draws": random_rel[0][1] if random_rel else None,
        "neurons": neurons, "thresholds": dict(THRESHOLDS),
        "n_samples": n_samples, "seed": seed,
    }


def _random_ridge_error(W: np.ndarray, b: np.ndarray, width: int, x_one: np.ndarray, y: np.ndarray,
                        activation: str, seed: int, draws: int = 8, decided_at: float | None = None,
                        reference: bool = False) -> tuple[float, int]:
    """What positive random ridges reach with this network's width on the data (x_one = [x, 1]): `width` neurons
    along random dense directions, norms and biases drawn from the active neurons' (W, b), output weights refitted
    ≥ 0 with the best constant; the smallest Var(f' - y)/Var(y) of `draws` draws (with few neurons in few dimensions
    single draws differ by a factor 4, so the best draw is the fair yardstick), and how many draws it took.

    With `decided_at` (the network's own error) the draws stop at the first that already decides the convexity rule
    (the network's error is not under RANDOM_RIDGE_RATIO of it, so neither is it under that share of the best draw):
    the label is the one all draws give, at an eighth of the cost for a convexity network; the error returned is then
    the best of the draws made. A network that beats every draw (a fitted approximator) is scored on all of them."""
    rng = np.random.default_rng([int(seed), 7919])
    norms = np.linalg.norm(W, axis=1)
    yc = y - y.mean()
    errs: list[float] = []
    for _ in range(draws):
        pick = rng.integers(0, len(W), width)
        directions = norms[pick, None] * random_dense_directions(rng, width, W.shape[1])
        # neurons as rows (width, B): one draw's arrays stay in cache through the activation, the centring and
        # nnls's Gram matrix
        Ht = phi(np.hstack([directions, b[pick][:, None]]) @ x_one.T, activation, reference)
        Ht -= Ht.mean(1, keepdims=True)
        a = nnls(Ht.T, yc)
        errs.append(float(np.mean((Ht.T @ a - yc) ** 2) / y.var()))
        if decided_at is not None and not decided_at < RANDOM_RIDGE_RATIO * errs[-1]:  # the rule's own test
            break
    return float(np.min(errs)), len(errs)


def _decide(rel: float, n: int, comp: dict, dp: dict, neg_share: float, dense_share: float,
            yardstick: Callable[[], float] | None = None) -> tuple[str, str]:
    if rel >= CONSTANT_REL:
        return "constant", f"near-constant: Var(f - y)/Var(y) = {rel:.3g} ≥ {CONSTANT_REL}"
    served = comp["pair"] + comp["pos_only"] + comp["neg_only"]
    mix = f"{comp['pair']} pair, {comp['pos_only']} pos-only, {comp['neg_only']} neg-only, {comp['none']} none"
    if served == 0:
        if neg_share >= ONE_SIGN_SHARE:
            return "other", f"dense, output weights of both signs (negative share {neg_share:.2f})"
        if dense_share <= DENSE_SHARE:
            return "other", f"no input served, but dense neurons carry only {dense_share:.0%} of the output"
        if dp["r2"] >= DENSE_LINEAR_R2:
            return "other", f"dense part is linear (R² {dp['r2']:.2f}) with nothing to make it convex"
        random_rel = yardstick() if yardstick is not None else None
        if random_rel is not None and rel < RANDOM_RIDGE_RATIO * random_rel:
            return "other", (f"dense fitted approximator: error {rel:.3g} under half that of random "
                             f"directions ({random_rel:.3g}); positive output weights")
        return "convexity", f"dense, all output weights positive, dense part nonlinear (R² {dp['r2']:.2f})"
    kinds = [k for k in ("pair", "pos_only", "neg_only") if comp[k] > 0]
    if len(kinds) > 1:
        return "other", f"hybrid: {mix}"
    if served < MAJORITY * n:
        return "other", f"mechanism serves only {served} of {n} inputs ({mix})"
    kind = kinds[0]
    if kind == "pair":
        if dp["negligible"]:
            return "double_sided", f"± pairs on {served} of {n} inputs, dense part negligible"
        return "other", (f"hybrid: ± pairs on {served} of {n} inputs plus a dense part "
                         f"({dp['std_rel']:.2f} of std y, linear R² {dp['r2']:.2f})")
    want = -1 if kind == "pos_only" else 1
    name = "pudding_pos" if kind == "pos_only" else "pudding_neg"
    side = "positive" if kind == "pos_only" else "negative"
    problems = []
    if dp["negligible"]:
        problems.append("no linear term")
    else:
        if dp["r2"] < DENSE_LINEAR_R2:
            problems.append(f"dense part only {dp['r2']:.0%} linear")
        if dp["coef_cv"] is None or dp["coef_cv"] >= UNIFORM_CV:
            problems.append(f"linear coefficients not uniform (CV {dp['coef_cv']:.2f})")
        if dp["sign"] != want:
            problems.append("linear term of the wrong sign")
    if problems:
        return "other", f"{side} sides only on {served} of {n} inputs, but " + "; ".join(problems)
    return name, (f"{side} sides on {served} of {n} inputs, dense part {dp['r2']:.0%} linear, "
                  f"{'-' if want < 0 else '+'}{abs(dp['coef_mean']):.3g}·Σx (CV {dp['coef_cv']:.2f})")


def file_options(meta: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """How a networks file's networks are evaluated (activation, task, input distribution), from its meta."""
    return {"activation": meta.get("activation", "silu"), "task": meta.get("task", "l1"),
            "input_dist": meta.get("input_dist", "normal"), **kwargs}


def classify_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Classify every network of a loaded networks file (arrays with a leading K axis)."""
    opts = file_options(meta, **kwargs)
    return annotated(classify_many(arrays["W"], arrays["b"], arrays["a"], arrays["c"], **opts), arrays)


def annotated(results: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each network's result with its index in the file and its beta and bits where the file records them."""
    for k, res in enumerate(results):
        res["index"] = k
        for key in ("beta", "bits"):
            if key in arrays:
                res[key] = float(arrays[key][k])
    return results


def classify_file(path: str | Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Load a networks `.npz` (UserError on a bad file) and classify every network in it."""
    arrays, meta = netfile.load(path)
    return classify_arrays(arrays, meta, **kwargs)


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["label"] for r in results)
    return {label: counts.get(label, 0) for label in LABELS}


def format_table(results: list[dict[str, Any]]) -> str:
    """A readable table, one row per network, then the count of each label."""
    head = (f"{'net':>4} {'label':<13} {'rel_err':>8} {'active':>6} {'sparse':>6} {'dense':>5} "
            f"{'pair':>4} {'pos':>4} {'neg':>4} {'none':>4} {'dense_R2':>8} {'coef_CV':>7}  reason")
    lines = [head, "-" * len(head)]
    for i, r in enumerate(results):
        comp, dp = r["composition"], r["dense_part"]
        cv = float("nan") if dp["coef_cv"] is None else dp["coef_cv"]
        lines.append(
            f"{r.get('index', i):>4} {r['label']:<13} {r['rel_error']:>8.4f} {r['n_active']:>6} {r['n_sparse']:>6} "
            f"{r['n_dense']:>5} {comp['pair']:>4} {comp['pos_only']:>4} {comp['neg_only']:>4} {comp['none']:>4} "
            f"{dp['r2']:>8.3f} {cv:>7.2f}  {r['reason']}")
    counts = summary(results)
    total = max(len(results), 1)
    lines.append("")
    lines.append("counts: " + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items()))
    return "\n".join(lines)
