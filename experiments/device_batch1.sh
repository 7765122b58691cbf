#!/usr/bin/env bash
# Batch 1 of exploratory trainings, run in parallel, one thread each (device machine, 16 CPU cores).
# Usage: experiments/device_batch1.sh OUT_DIR STEPS
set -u
out=$1; steps=$2
export PYTHONPATH=src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
run() {  # name, overrides...
  local name=$1; shift
  timeout 560 python3 -m hyperinterp.cli train "$out/$name" --quiet --set optim.steps=$steps \
    --set optim.checkpoint_every=2000 --set optim.threads=1 "$@" > "$out/$name.log" 2>&1 &
}
mkdir -p "$out"
for s in 0 1 2 3; do run g3_s$s --set optim.seed=$s; done
for s in 0 1 2; do run g6_s$s --set optim.seed=$s --set hyper.layers=6; done
for s in 0 1; do run lu6_s$s --set optim.seed=$s --set hyper.layers=6 --set budget.prior='"log_uniform"'; done
run lu3_s0 --set budget.prior='"log_uniform"'
for s in 0 1; do run g3multi_s$s --set optim.seed=$s --set 'task.train_sizes=[6,8,10,12,14,16,18,20,22,24,26]'; done
run g6anneal_s0 --set hyper.layers=6 --set budget.anneal_steps=8000
run g3fixed_s0 --set budget.beta_mode='"fixed"' --set budget.beta=1e-6
run g6fixed_s0 --set budget.beta_mode='"fixed"' --set budget.beta=1e-6 --set hyper.layers=6
run g3w32_s0 --set hyper.width=32
wait
