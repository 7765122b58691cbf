"""Read-out cells per second on saved networks files, at one thread in every pool (as a sweep worker reads them).

    python scripts/readout_rate.py runs/demo/networks/*/beta_*.npz            # labels and fingerprints
    python scripts/readout_rate.py --labels-only FILES...                     # labels only (a range job's cells)

A range job reads out more than it saves: its phase and generalization cells are classified, not kept. They are
sampled again, as the sweep samples them, into OUT (the demo's range seed 0: 60 phase, 10 final, 20 generalization
cells) with

    python scripts/readout_rate.py --range-job runs/demo/train/range/seed_0 runs/rangejob

Another commit's read-out on the same files, for a before/after figure side by side (docs/performance.md):

    git worktree add /tmp/before f6b7989
    PYTHONPATH=/tmp/before/src python scripts/readout_rate.py FILES...
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ[_var] = "1"

import torch  # noqa: E402

from hyperinterp.generate import netfile  # noqa: E402
from hyperinterp.read import classify, readout  # noqa: E402


def range_job(run: str, out: str) -> None:
    """The cells a range job classifies: every beta at its phase checkpoints, and at the generalization sizes."""
    from pathlib import Path

    from hyperinterp.experiments import sweep
    from hyperinterp.generate import checkpoint
    from hyperinterp.generate.sample import load_model, sample

    spec, folder = sweep.SweepSpec(), Path(out)
    folder.mkdir(exist_ok=True)
    model = cfg = None
    for step in sweep._phase_steps(Path(run), spec.phase_points):
        model, cfg, _ = load_model(checkpoint.step_path(Path(run), step))
        for beta in spec.betas:
            netfile.save(folder / f"phase_{step}_{sweep.beta_name(beta)}.npz",
                         *sample(model, cfg, beta, cfg.task.n, cfg.task.width(cfg.task.n), spec.count, 0))
    for beta in spec.generalization_betas:
        for n in spec.generalization_sizes:
            netfile.save(folder / f"generalization_{n}_{sweep.beta_name(beta)}.npz",
                         *sample(model, cfg, beta, n, cfg.task.width(n), spec.count, 0))
    print(f"wrote {len(list(folder.glob('*.npz')))} cells to {folder}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--range-job", nargs=2, metavar=("RUN", "OUT"), help="sample a range job's cells into OUT")
    p.add_argument("--labels-only", action="store_true", help="classify only (what a phase or generalization cell "
                   "costs); default: labels and fingerprints (a saved final cell)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.range_job:
        return range_job(*args.range_job)
    cells = [netfile.load(f) for f in args.files]
    start = time.perf_counter()
    for arrays, meta in cells:
        if args.labels_only:
            classify.classify_arrays(arrays, meta)
        elif hasattr(readout, "read"):  # one measurement for both (since issue 35)
            readout.read(arrays, meta, with_directions=False)  # what the commit before measured
        else:
            classify.classify_arrays(arrays, meta)
            readout.fingerprint_arrays(arrays, meta)
    seconds = time.perf_counter() - start
    nets = sum(len(a["W"]) for a, _ in cells)
    print(f"{len(cells)} cells ({nets} networks) in {seconds:.2f} s: {len(cells) / seconds:.2f} cells/s "
          f"({'labels' if args.labels_only else 'labels and fingerprints'}, {readout.__file__})")


if __name__ == "__main__":
    main()
