export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
python3 -c "import torch; print(torch.cuda.get_device_name(0))"
python3 - <<'PY'
import time, torch
from concurrent.futures import ThreadPoolExecutor
from hyperinterp.generate.config import load
from hyperinterp.generate.train import build_model, draw_step
from hyperinterp.generate.tasks import make_task
torch.set_num_threads(1)
cfg = load(None, []); mdl = build_model(cfg); task = make_task("l1"); cpu = torch.device("cpu")
gens = [torch.Generator().manual_seed(i) for i in range(33)]
pool = ThreadPoolExecutor(16)
f = lambda g: draw_step(mdl, cfg, task, 0, g, cpu)
for p in (None, pool):
    for _ in range(3): list((p.map if p else map)(f, gens))
    t = time.perf_counter()
    for _ in range(20): list((p.map if p else map)(f, gens))
    print("33 seeds' draws,", "16 threads" if p else "1 thread", f"{(time.perf_counter() - t) / 20 * 1e3:.1f} ms")
PY
for c in false true; do
  t=$([ $c = true ] && echo 160 || echo 65)
  timeout $t python3 -m hyperinterp.cli train-batch $OUT/c_$c --seeds $(seq 0 32) --set 'optim.device="cuda"' \
    --set optim.compile=$c --set optim.checkpoint_every=500 --quiet 2>&1 | grep -v DEBUG | tail -1
  echo "compile=$c:"; python3 scripts/batch_rate.py $OUT/c_$c
done
rm -rf $OUT/c_*
