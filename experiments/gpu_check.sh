#!/usr/bin/env bash
# The GPU path (issue 14) as one short script for a lent GPU machine, where nothing can be installed: it
# uses the machine's own python3 (PyTorch, NumPy, SciPy, scikit-learn, safetensors are there) with
# PYTHONPATH=src. Through the device tool: run `experiments/gpu_check.sh "$OUT"` with timeout_s 600.
#   1. the GPU's name;
#   2. the CUDA-equals-CPU tests (solo training, train-batch eager and compiled);
#   3. the 33-seed study of the default configuration: all 33 seeds trained as one batch (`train-batch`,
#      optim.compile = true: the stacked objective compiled; optim.rng = "device": each seed's draws from its own
#      CUDA generator, since 33 seeds' CPU draws alone took 15 ms a step on the H100's host, 2026-11-27)
#      for at most STUDY_SECONDS (steady rate from the checkpoints' times: scripts/batch_rate.py), then every seed sampled
#      at the default beta grid (16 draws per cell) on the GPU; prints steps/s, the projected time of the full
#      optim.steps and the sampling time; the seeds' final checkpoints go to OUT/study.tar.gz (classified on
#      a CPU afterwards: experiments/gpu_study_readout.sh). If the compiled run fails at once, eager instead;
#   4. `hyperinterp bench --quick --device cuda` (OUT/bench.json);
#   5. with time left (SECOND_CONFIG, default slot_sinkhorn = 5), a second 33-seed study, OUT/second.tar.gz.
# DEVICE=cpu STUDY_SECONDS=20 SEEDS=2 EXTRA="--set hyper.layers=1" runs the same script on a CPU (its test).
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
seeds=${SEEDS:-33}
budget=${BUDGET:-560}       # seconds this script may take in all
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }

echo "== 1. machine"
"$py" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc

echo "== 2. CUDA gives the CPU's results"
[ "$device" = cuda ] && timeout 150 "$py" -m pytest -q -p no:cacheprovider tests/test_performance.py \
  tests/test_batched.py -k cuda 2>&1 | tail -4

# study NAME SECONDS [--set ...]: a seeds-seed train-batch for at most SECONDS, then timing of the sampling
study() {
  local name=$1 seconds=$2; shift 2
  local dir="$out/$name" start trained
  echo "== ${seeds}-seed study '$name' ($*), at most ${seconds} s of training"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  timeout "$seconds" "$py" -m hyperinterp.cli train-batch "$dir" --seeds $(seq 0 $((seeds - 1))) \
    --set optim.device="\"$device\"" --set optim.checkpoint_every=1000 ${EXTRA:-} "$@" --quiet
  status=$?
  echo "train-batch exit $status (124: stopped at the time limit)"
  trained=$(date +%s.%N)
  "$py" scripts/batch_rate.py "$dir"
  "$py" - "$dir" "$start" "$trained" "$device" <<'PY'
import json, sys, time
from pathlib import Path

import torch

from hyperinterp.generate import checkpoint, sample
from hyperinterp.experiments.sweep import DEFAULT_BETAS

study, start, trained, device = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
runs = sorted(study.glob("seed_*"))
steps = [json.loads((checkpoint.list_steps(r)[-1] / "meta.json").read_text())["step"] for r in runs
         if checkpoint.list_steps(r)]
total = json.loads((study / "batch.json").read_text())["config"]["optim"]["steps"]
log = runs[0] / "metrics.jsonl" if runs else None
metrics = [json.loads(line) for line in log.open()] if log and log.is_file() else []
rate = metrics[-1]["step"] / (trained - start) if metrics else 0.0
print(f"trained {len(runs)} seeds to checkpointed steps {min(steps, default=0)}..{max(steps, default=0)} "
      f"(logged {metrics[-1]['step'] if metrics else 0}) in {trained - start:.0f} s incl. start-up and compilation: "
      f"{rate:.1f} batched steps/s; the full {total} steps: {total / rate / 60 if rate else float('nan'):.1f} min")
if metrics:
    print("seed 0 metrics:", {k: metrics[-1][k] for k in ("step", "rel_mse_median", "rel_mse_low_beta", "bits_median")})
t = time.time()
for run in runs:
    model, cfg, _ = sample.load_model(run, device=device)
    for beta in DEFAULT_BETAS:
        sample.sample(model, cfg, beta, cfg.task.n, cfg.task.m, 16, 0)
if device == "cuda":
    torch.cuda.synchronize()
print(f"sampled {len(runs)} seeds x {len(DEFAULT_BETAS)} beta x 16 draws on {device} in {time.time() - t:.1f} s")
PY
  # the final checkpoint of every seed, with its records: a run folder `hyperinterp sample` takes
  (cd "$out" && find "$name" -maxdepth 1 -name '*.json' > files.txt
   for r in "$name"/seed_*; do
     ls "$r"/*.json "$r"/metrics.jsonl 2> /dev/null >> files.txt
     last=$(ls -d "$r"/checkpoints/step_* 2> /dev/null | tail -1)
     [ -n "$last" ] && echo "$last" >> files.txt
   done
   tar czf "$name.tar.gz" -T files.txt && rm files.txt && rm -rf "$name" && ls -l "$name.tar.gz")
}

first=$(( $(left) - 150 ))
first=$(( first > ${STUDY_SECONDS:-330} ? ${STUDY_SECONDS:-330} : first ))
s0=$(date +%s)
study study "$first" --set optim.compile=true --set optim.rng='"device"'
if [ $(( $(date +%s) - s0 )) -lt 150 ] && [ "$status" != 0 ] && [ "$status" != 124 ]; then
  echo "the compiled study failed at once: eager instead"
  rm -f "$out/study.tar.gz"
  study study "$(( $(left) - 120 ))" --set optim.compile=false --set optim.rng='"device"'
fi

echo "== 4. bench ($(left) s left)"
timeout "$(( $(left) > 100 ? 100 : $(left) ))" "$py" -m hyperinterp.cli bench --quick --no-parallel --device "$device" \
  --out "$out/bench.json" > /dev/null \
  && "$py" -c "import json; d = json.load(open('$out/bench.json')); print({k: d[k] for k in sorted(d) if not isinstance(d[k], (dict, list))})"

if [ "$(left)" -gt 150 ]; then
  # shellcheck disable=SC2086
  study second "$(( $(left) - 40 ))" --set optim.compile=true --set optim.rng='"device"' \
    ${SECOND_CONFIG:---set hyper.slot_sinkhorn=5}
fi
echo "== done, $(left) s of the budget left"
