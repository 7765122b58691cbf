#!/usr/bin/env bash
# The plain generator's sweep shown in docs/history.md (the default until 2026-12-01; 2 CPU cores): 4 seeds of the
# range mode (24,000 steps),
# per-beta models for seed 0 (4,000 steps), one multi-n model and its wide continuation (m = 7n,
# 12,000 steps), direct and Adam baselines. About 80 min.
set -eu
.venv/bin/hyperinterp sweep runs/main --config configs/plain.toml --seeds 4 --per-beta-seeds 1 --per-beta-steps 4000 --workers 2
.venv/bin/hyperinterp report runs/main
