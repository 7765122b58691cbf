#!/usr/bin/env bash
# E13: Sinkhorn-balanced (input, sign) slots (issue "double-sided at n = 16, m = 48"). The default
# configuration (n = 16, m = 48, from scratch) with hyper.slot_sinkhorn = 5; the default generator's own
# seeds are the range seeds of the default sweep (E2) and configs/studies/slot_sinkhorn.toml runs both.
# Usage: experiments/slot_sinkhorn.sh OUT SEED [SEED ...]   (one thread per seed, run in turn)
set -euo pipefail
out=$1; shift
mkdir -p "$out"
for seed in "$@"; do
  .venv/bin/hyperinterp train "$out/seed_$seed" --quiet --set hyper.slot_sinkhorn=5 \
    --set optim.seed="$seed" --set optim.threads=1 > "$out/seed_$seed.log" 2>&1
done
