#!/usr/bin/env bash
# E12: train over small sizes (n = 4..16, m = 3n) from scratch, evaluate at n = 16, m = 48
# (issue "double-sided at n = 16, m = 48"). The multi-n generator (n = 6..26) is double-sided at
# n <= 8 (E2, E4): does a size range ending at 16 carry that sign policy up to n = 16?
# Usage: experiments/small_sizes.sh OUT SEED [SEED ...]   (one thread per seed, run in turn)
set -euo pipefail
out=$1; shift
for seed in "$@"; do
  .venv/bin/hyperinterp train "$out/seed_$seed" --quiet \
    --set 'task.train_sizes=[4,6,8,10,12,14,16]' \
    --set optim.seed="$seed" --set optim.threads=1 > "$out/seed_$seed.log" 2>&1
done
