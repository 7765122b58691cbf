"""Quick survey of one training: labels, ± pair coverage, error and bits of draws at a few β.

    python scripts/survey.py RUN_OR_CHECKPOINT [--betas 1e-6 1e-4 1e-3 3e-3] [--count 16] [--n N --m M]

The lab notebook's tables (docs/experiments/) come from this. It reads only the saved checkpoint.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

from hyperinterp.experiments.sweep import beta_name
from hyperinterp.generate import sample
from hyperinterp.read import classify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--betas", type=float, nargs="+", default=[1e-6, 1e-4, 1e-3, 3e-3])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--n", type=int)
    parser.add_argument("--m", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, cfg, meta = sample.load_model(args.run)
    n = args.n or cfg.task.n
    m = args.m or (cfg.task.width(n) if cfg.task.train_sizes else cfg.task.m)
    print(f"{meta['path']} (step {meta['step']}), n={n}, m={m}, {args.count} draws per beta")
    print(f"{'beta':>8}  {'labels':<44} {'pairs/n':>7} {'rel':>8} {'bits':>7}")
    for beta in args.betas:
        arrays, out_meta = sample.sample(model, cfg, beta, n, m, args.count, args.seed)
        results = classify.classify_arrays(arrays, out_meta)
        labels = ", ".join(f"{k} {v}" for k, v in Counter(r["label"] for r in results).most_common())
        pairs = statistics.mean(r["composition"]["pair"] for r in results) / n
        rel = statistics.median(float(x) for x in arrays["rel_mse"])
        bits = statistics.median(float(x) for x in arrays["bits"])
        print(f"{beta_name(beta):>8}  {labels:<44} {pairs:7.2f} {rel:8.4f} {bits:7.0f}")


if __name__ == "__main__":
    main()
