#!/usr/bin/env bash
# E10: balanced sign split (hyper.sign_split): half the neurons of every generated network carry sign +1,
# half -1, fed to the layers and multiplied into mu_W. Default configuration otherwise (n = 16, m = 48,
# 24,000 steps from scratch: the compute of the default sweep's range seeds, which it is compared with).
# Usage: experiments/sign_split.sh OUT SEED [SEED ...]   (one thread per seed, run in turn)
set -euo pipefail
out=$1; shift
for seed in "$@"; do
  .venv/bin/hyperinterp train "$out/seed_$seed" --quiet --set hyper.sign_split=true \
    --set optim.seed="$seed" --set optim.threads=1 > "$out/seed_$seed.log" 2>&1
done
