#!/usr/bin/env bash
# Issue 16: algorithm families beyond L1. For each task, train CONFIG (default configs/plain.toml: the plain
# generator, as notebook E16 measured; the default generator gives every input a neuron of each sign by
# construction, an L1 prior, not a neutral one) (n = 16, m = 48,
# beta-conditioned over 1e-6..3e-2, 24,000 steps) for SEEDS seeds, sample 16 networks at each beta of the
# default sweep's grid, and cluster all of them (every seed, beta and draw of the task) into families:
#   OUT/<task>/seed_<s>/                 the trainings (resumable: a finished one is skipped)
#   OUT/<task>/nets/seed_<s>_beta_<b>.npz the draws
#   OUT/<task>/families.txt, .json       `hyperinterp families` over all of them
#   OUT/<task>/families_beta.png, families_representatives.png
# Usage: experiments/task_families.sh OUT [--set SECTION.KEY=VALUE ...]   (extra --set go to every training)
# Environment: TASKS (default "sum_squares linf count_positive"; a user's module:function works too),
#   SEEDS (3), JOBS (trainings at once, one thread each: 2), CONFIG (configs/plain.toml), BETAS (the sweep's 10).
# Smoke test, about a minute: experiments/task_families.sh /tmp/tf --set optim.steps=200 --set hyper.layers=1
# At the defaults: 9 trainings of about 40 min each on one thread, 2 at a time: about 3 hours on 2 cores.
set -euo pipefail
out=$1; shift
tasks=${TASKS:-"sum_squares linf count_positive"}
seeds=${SEEDS:-3}
jobs=${JOBS:-2}
config=${CONFIG:-configs/plain.toml}
betas=${BETAS:-"1e-6 1e-5 3e-5 1e-4 3e-4 1e-3 2e-3 3e-3 5e-3 1e-2"}
hi=.venv/bin/hyperinterp
mkdir -p "$out"

train_one() {  # task seed extra-args...
  local task=$1 seed=$2; shift 2
  local run="$out/$task/seed_$seed"
  if [ -d "$run/checkpoints" ]; then
    "$hi" train "$run" --resume --quiet >> "$run.log" 2>&1  # a finished run stops at once
  else
    mkdir -p "$out/$task"
    "$hi" train "$run" --quiet --config "$config" --set task.name="\"$task\"" --set optim.seed="$seed" --set optim.threads=1 "$@" \
      > "$run.log" 2>&1
  fi
}
export -f train_one
export out hi config

for task in $tasks; do
  for seed in $(seq 0 $((seeds - 1))); do
    printf '%s\0%s\0' "$task" "$seed"
  done
done | xargs -0 -n 2 -P "$jobs" bash -c 'train_one "$@" '"$(printf '%q ' "$@")" _

for task in $tasks; do
  mkdir -p "$out/$task/nets"
  files=()
  for seed in $(seq 0 $((seeds - 1))); do
    for beta in $betas; do
      f="$out/$task/nets/seed_${seed}_beta_${beta}.npz"
      [ -f "$f" ] || "$hi" sample "$out/$task/seed_$seed" --beta "$beta" --count 16 --seed "$seed" --out "$f" > /dev/null
      files+=("$f")
    done
  done
  "$hi" families "${files[@]}" > "$out/$task/families.txt"
  "$hi" families "${files[@]}" --json > "$out/$task/families.json"
  .venv/bin/python - "$out/$task" <<'EOF'
import json, sys
from hyperinterp.read import families
folder = sys.argv[1]
summary = json.load(open(f"{folder}/families.json"))
families.figure_fractions(summary).savefig(f"{folder}/families_beta.png", dpi=110, bbox_inches="tight")
families.figure_representatives(summary).savefig(f"{folder}/families_representatives.png", dpi=110,
                                                 bbox_inches="tight")
EOF
  echo "$task: $(grep -c '' "$out/$task/families.txt") lines -> $out/$task/families.txt"
  tail -n +"$(( $(grep -n ' families among ' "$out/$task/families.txt" | cut -d: -f1) ))" "$out/$task/families.txt"
done
