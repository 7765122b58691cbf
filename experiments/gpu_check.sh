#!/usr/bin/env bash
# The GPU path (issue 14) as one short script for a lent GPU machine, where nothing can be installed: it
# uses the machine's own python3 (PyTorch, NumPy, SciPy, scikit-learn, safetensors are there) with
# PYTHONPATH=src. Through the device tool: run `experiments/gpu_check.sh "$OUT"` with timeout_s 600.
#   1. the GPU's name; 2. `hyperinterp bench --quick --device cuda`; 3. the CUDA-equals-CPU tests;
#   4. the 33-seed study of the default configuration: all 33 seeds trained as one batch (`train-batch`) for
#      STUDY_SECONDS (default 240), then each seed sampled at the default beta grid (16 draws per cell) and
#      classified; prints the steps reached, steps/s and the projected time of the full 24,000 steps.
# DEVICE=cpu STUDY_SECONDS=20 SEEDS=2 EXTRA="--set hyper.layers=1" runs the same script on a CPU (its test).
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
seeds=${SEEDS:-33}
hi() { "$py" -m hyperinterp.cli "$@"; }

echo "== 1. machine"
"$py" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== 2. bench"
timeout 150 "$py" -m hyperinterp.cli bench --quick --no-parallel --device "$device" --out "$out/bench.json" > /dev/null \
  && "$py" -c "import json; d = json.load(open('$out/bench.json')); print({k: d[k] for k in sorted(d) if not isinstance(d[k], (dict, list))})"

echo "== 3. CUDA gives the CPU's results"
[ "$device" = cuda ] && timeout 150 "$py" -m pytest -q -p no:cacheprovider tests/test_performance.py -k cuda 2>&1 | tail -3

echo "== 4. ${seeds}-seed study of the default configuration (${STUDY_SECONDS:-240} s of training)"
start=$(date +%s.%N)
# shellcheck disable=SC2086
timeout "${STUDY_SECONDS:-240}" "$py" -m hyperinterp.cli train-batch "$out/study" --seeds $(seq 0 $((seeds - 1))) \
  --set optim.device="\"$device\"" --set optim.checkpoint_every=500 ${EXTRA:-} --quiet
trained=$(date +%s.%N)
"$py" - "$out/study" "$start" "$trained" "$device" <<'PY'
import json, statistics, sys, time
from collections import Counter
from pathlib import Path

import torch

from hyperinterp import checkpoint, classify, sample
from hyperinterp.sweep import DEFAULT_BETAS

study, start, trained, device = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
runs = sorted(study.glob("seed_*"))
steps = [json.loads((checkpoint.list_steps(r)[-1] / "meta.json").read_text())["step"] for r in runs if checkpoint.list_steps(r)]
total = json.loads((study / "batch.json").read_text())["config"]["optim"]["steps"]
rate = min(steps) / (trained - start) if steps else 0.0
print(f"trained {len(runs)} seeds to steps {min(steps, default=0)}..{max(steps, default=0)} in {trained - start:.0f} s "
      f"(incl. start-up): {rate:.1f} batched steps/s; the full {total} steps: {total / rate / 60 if rate else float('nan'):.1f} min")
t = time.time()
labels = Counter()
for run in runs:
    model, cfg, _ = sample.load_model(run)
    model.to(device)
    for beta in DEFAULT_BETAS:
        arrays, meta = sample.sample(model, cfg, beta, cfg.task.n, cfg.task.m, 16, 0)
        labels.update(r["label"] for r in classify.classify_arrays(arrays, meta))
print(f"sampled and classified {len(runs)} seeds x {len(DEFAULT_BETAS)} beta x 16 draws in {time.time() - t:.0f} s "
      f"(classification on the CPU): {dict(labels)}")
PY
