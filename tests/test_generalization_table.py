"""scripts/generalization_table.py, goal 4's criterion per seed and size, on a study folder written by hand: which
sizes count as unseen, the error bound, the same-majority rule, and the count among seeds on a named algorithm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hyperinterp.report.stats import clopper_pearson, fraction_text

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "generalization_table.py"


def _row(seed: int, n: int, rel: float, label: str) -> dict:
    labels = ("double_sided", "pudding_pos", "pudding_neg", "convexity", "constant", "other")
    return {"kind": "generalization", "mode": "grown", "seed": seed, "beta": 1e-6, "n": n, "count": 16,
            "rel_mse_median": rel, "majority": label, **{f"frac_{lab}": float(lab == label) for lab in labels}}


def test_the_criterion_per_seed_and_size(tmp_path: Path) -> None:
    rows = [  # seed 0 keeps pudding at 13 and 40 (within 2 x 0.02) but not at 64 (too far off)
        _row(0, 16, 0.02, "pudding_pos"), _row(0, 13, 0.03, "pudding_pos"), _row(0, 40, 0.04, "pudding_pos"),
        _row(0, 64, 0.05, "pudding_pos"),
        # seed 1 is on `other` at 16: it meets the criterion at 13, but only in the first count
        _row(1, 16, 0.02, "other"), _row(1, 13, 0.02, "other"), _row(1, 40, 0.02, "convexity"),
        _row(1, 64, 0.02, "other"),
    ]
    (tmp_path / "table.json").write_text(json.dumps(rows))
    for seed in (0, 1):  # trained over multiples of 3: 16 is unseen too, but it is the reference
        run = tmp_path / "train" / "grown" / f"seed_{seed}"
        run.mkdir(parents=True)
        run.joinpath("config.json").write_text(json.dumps({"task": {"n": 16, "train_sizes": [3, 6, 9, 12, 15]}}))
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert "grown seed 0: n=13* 0.03 pudding_pos 16 ok | n=16* 0.02 pudding_pos 16 | n=40* 0.04 pudding_pos 16 ok" \
           " | n=64* 0.05 pudding_pos 16 no" in lines
    summary = {line.split(":")[0]: line for line in lines if line.startswith("grown n = ")}
    assert set(summary) == {"grown n = 13", "grown n = 40", "grown n = 64"}  # not the reference
    assert "2/2 seeds meet it" in summary["grown n = 13"] and summary["grown n = 13"].endswith(": 1/1 [0.03, 1.00]")
    assert "1/2 seeds meet it" in summary["grown n = 40"] and summary["grown n = 40"].endswith(": 1/1 [0.03, 1.00]")
    assert "1/2 seeds meet it" in summary["grown n = 64"] and summary["grown n = 64"].endswith(": 0/1 [0.00, 0.97]")


def test_seed_counts_carry_the_exact_binomial_interval() -> None:
    """The scripts' shared 'k/n [low, high]': Clopper-Pearson, 0/4 -> upper 1 - 0.025^(1/4) = 0.60, symmetric."""
    assert fraction_text(0, 4) == "0/4 [0.00, 0.60]" and fraction_text(4, 4) == "4/4 [0.40, 1.00]"
    lo, hi = clopper_pearson(3, 8)
    assert abs(lo + clopper_pearson(5, 8)[1] - 1) < 1e-12 and abs(hi - 1 + clopper_pearson(5, 8)[0]) < 1e-12
    assert abs(clopper_pearson(0, 4)[1] - (1 - 0.025 ** 0.25)) < 1e-9
