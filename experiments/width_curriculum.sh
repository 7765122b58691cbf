#!/usr/bin/env bash
# E9: width curriculum inside one training from scratch (issue "double-sided at n = 16, m = 48").
# n = 16 only, the default configuration, with the hidden width following task.width_schedule:
# m = 3n for the first quarter (leave the plateau), widened to 7n (where double-sided appears),
# held, then narrowed back to 3n = 48 by 85% of the steps and held there to the end.
# Usage: experiments/width_curriculum.sh OUT SEED [SEED ...]   (one thread per seed, run in turn)
set -euo pipefail
out=$1; shift
for seed in "$@"; do
  .venv/bin/hyperinterp train "$out/seed_$seed" --quiet \
    --set 'task.width_schedule=[[0,3],[0.25,3],[0.35,7],[0.6,7],[0.85,3]]' \
    --set optim.seed="$seed" --set optim.threads=1 > "$out/seed_$seed.log" 2>&1
done
