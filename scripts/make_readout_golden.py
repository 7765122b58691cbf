"""Freeze a sample of the demo's draws with the read-out the code gives them now: tests/data/readout_golden.npz
(the networks) and .json (their labels and fingerprints), which tests/test_readout_speed.py holds every later
formulation of the read-out to.

    hyperinterp demo --out runs/demo
    python scripts/make_readout_golden.py runs/demo

Made at commit f6b7989 (the per-network read-out, before the batched one of issue 35), from the demo's networks:
every fifth draw of each final cell (range seeds 0 and 1, per_beta, direct, adam, E24 over sizes), plus the E24
model's draws at n = 8 and 29 (sizes it never trained on, m = 3n).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from hyperinterp.generate import netfile
from hyperinterp.generate.sample import load_model, sample
from hyperinterp.read import classify, fingerprint, readout

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "readout_golden"


def main(demo: Path) -> None:
    groups: list[tuple[str, dict, dict]] = []
    for path in sorted(demo.glob("networks/*/beta_*.npz")):
        arrays, meta = netfile.load(path)
        pick = np.arange(0, len(arrays["W"]), 5)
        groups.append((str(path.relative_to(demo)), {k: arrays[k][pick] for k in ("W", "b", "a", "c")}, meta))
    model, cfg, _ = load_model(demo / "train" / "multi_n_e24" / "seed_0")
    for n in (8, 29):
        arrays, meta = sample(model, cfg, 1e-6, n, 3 * n, 4, 0)
        groups.append((f"multi_n_e24 n={n}", {k: arrays[k] for k in ("W", "b", "a", "c")}, meta))
    store, record = {}, []
    for g, (name, arrays, meta) in enumerate(groups):
        opts = classify.file_options(meta)
        labels = classify.classify_arrays(arrays, meta)
        fps = readout.fingerprint_arrays(arrays, meta)
        for k in ("W", "b", "a", "c"):
            store[f"{g}/{k}"] = arrays[k].astype(np.float32)
        record.append({"group": g, "source": name, **opts,
                       "labels": [{key: r[key] for key in ("label", "reason", "rel_error", "n_active", "composition",
                                                           "random_ridge_rel_error", "dense_part")} for r in labels],
                       "fingerprints": [{"words": f["words"], "vector": fingerprint.vector(f),
                                         "neuron_types": f["neuron_types"]} for f in fps]})
    np.savez_compressed(OUT.with_suffix(".npz"), **store)
    OUT.with_suffix(".json").write_text(json.dumps(record))
    print(f"{sum(len(r['labels']) for r in record)} networks in {len(record)} groups -> {OUT}.npz/.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
