"""Steady training rate of a `train-batch` folder, read from its checkpoints' times (after the first one past
step 0, so start-up and compilation are left out).

    python scripts/batch_rate.py BATCH_FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hyperinterp.generate import checkpoint


def main() -> None:
    batch = Path(sys.argv[1])
    total = json.loads((batch / "batch.json").read_text())["config"]["optim"]["steps"]
    first = sorted(batch.glob("seed_*"))[0]
    times = [(checkpoint.step_of(c), (c / "meta.json").stat().st_mtime) for c in checkpoint.list_steps(first)]
    times = [t for t in times if t[0] > 0]
    if len(times) < 2:
        print(f"{batch}: fewer than two checkpoints past step 0, no steady rate")
        return
    (s0, t0), (s1, t1) = times[0], times[-1]
    rate = (s1 - s0) / (t1 - t0)
    print(f"{batch}: steps {s0}..{s1} at {rate:.1f} batched steps/s (checkpoint times): the full {total} steps "
          f"{total / rate / 60:.1f} min")


if __name__ == "__main__":
    main()
