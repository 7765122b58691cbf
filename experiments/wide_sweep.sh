#!/usr/bin/env bash
# E8: the multi-n generator of the default sweep (shipped/train/multi_n/seed_0: even n 6..26, m = 3n),
# continued with wider target networks (m = 7n) for 12,000 steps, two continuation seeds, then the
# usual β grid, phases over training and generalization to unseen n. ≈ 35 min on 2 cores.
set -euo pipefail
OUT=${1:-runs/wide}
hyperinterp sweep "$OUT" --seeds 2 --modes range --workers 2 \
  --set 'task.train_sizes=[6,8,10,12,14,16,18,20,22,24,26]' --set task.m_per_n=7.0 \
  --set optim.steps=12000 --set optim.lr=1e-3 --set 'optim.init_from="shipped/train/multi_n/seed_0"' \
  --generalization-sizes 4,5,7,8,11,12,16,20,23,24,28,30,32
hyperinterp report "$OUT"
