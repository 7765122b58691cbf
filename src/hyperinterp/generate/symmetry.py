"""The symmetries of a task, detected from its target function alone (no knowledge of the answer).

A generator may be built to respect a symmetry of the task — a bias a researcher chooses before knowing the
algorithm — only if the task has it. So each candidate is tested on the task's own function, on inputs from its
own input distribution (both built-in distributions are symmetric under x_i -> -x_i and under permutations, so a
transformed input is as likely as the input itself):

  flip_each    f is even in every input: f(..., -x_i, ...) = f(x) for each i       (|x_i|-like)
  flip_all     f is even under the global flip: f(-x) = f(x)
  odd_all      f is odd under the global flip: f(-x) = -f(x)                      (linear-like)
  permutation  f is unchanged when the inputs are permuted                         (a symmetric function)
  separable    f is a sum of one-input functions: every mixed second difference is 0

Each test compares the transformed and original outputs on SAMPLES inputs: the symmetry holds when the largest
difference is below TOLERANCE times the output's standard deviation (a constant task has every symmetry but
`odd_all`, unless it is 0). A symmetry is reported with the worst relative gap measured, so a near miss is visible.
"""

from __future__ import annotations

from typing import Any

import torch

from .tasks import make_task

# float32 targets carry about 1e-7 relative rounding: summing n = 16 terms in another order moves the output by
# ~1e-6 of its std, so 1e-4 separates "equal up to rounding" from any real asymmetry (a 1% effect is 100x above).
TOLERANCE = 1e-4
SAMPLES = 2048
SYMMETRIES = ("flip_each", "flip_all", "odd_all", "permutation", "separable")


def _gap(a: torch.Tensor, b: torch.Tensor, scale: float) -> float:
    return float((a - b).abs().max()) / scale


def detect(task: str, input_dist: str = "normal", n: int = 8, samples: int = SAMPLES, seed: int = 0,
           tolerance: float = TOLERANCE) -> dict[str, Any]:
    """{"symmetries": [names that hold], "gaps": {name: worst relative gap}, ...} for the task at input size n."""
    t = make_task(task, input_dist)
    gen = torch.Generator().manual_seed(seed)
    x = t.sample_x(samples, n, generator=gen).double()
    f = t.target(x).double()
    scale = float(f.std()) or max(float(f.abs().max()), 1e-12)  # a constant task: its own size
    gaps: dict[str, float] = {}

    flips = []
    for i in range(n):
        xi = x.clone()
        xi[:, i] = -xi[:, i]
        flips.append(_gap(t.target(xi).double(), f, scale))
    gaps["flip_each"] = max(flips)
    f_neg = t.target(-x).double()
    gaps["flip_all"] = _gap(f_neg, f, scale)
    gaps["odd_all"] = _gap(f_neg, -f, scale)

    perms = [torch.randperm(n, generator=gen) for _ in range(4)] + [torch.roll(torch.arange(n), 1)]
    gaps["permutation"] = max(_gap(t.target(x[:, p]).double(), f, scale) for p in perms)

    # f(x + a e_i + b e_j) - f(x + a e_i) - f(x + b e_j) + f(x) is 0 for every pair i != j iff f is separable
    steps = t.sample_x(samples, 2, generator=gen).double()
    worst = 0.0
    for i, j in ([(0, 1)] + [(int(p[0]), int(p[1])) for p in perms[:3]] if n > 1 else []):
        if i == j:
            continue
        xa, xb, xab = x.clone(), x.clone(), x.clone()
        xa[:, i] += steps[:, 0]
        xb[:, j] += steps[:, 1]
        xab[:, i] += steps[:, 0]
        xab[:, j] += steps[:, 1]
        mixed = t.target(xab).double() - t.target(xa).double() - t.target(xb).double() + f
        worst = max(worst, float(mixed.abs().max()) / scale)
    gaps["separable"] = worst
    return {"task": task, "input_dist": input_dist, "n": n, "samples": samples, "tolerance": tolerance,
            "symmetries": [s for s in SYMMETRIES if gaps[s] <= tolerance], "gaps": gaps}


def words(result: dict[str, Any]) -> str:
    """One line: "l1 (n = 8): flip_each, flip_all, permutation, separable"."""
    found = ", ".join(result["symmetries"]) or "none"
    return f"{result['task']} (n = {result['n']}, {result['input_dist']} inputs): {found}"
