"""Training: Adam on log(MSE) + beta * bits of networks drawn from the hypernetwork.

One step: pick the size (n, m) and a log beta per network, generate K weight
distributions, draw one network from each, evaluate all K on one batch of inputs in a
batched matmul, and take a gradient step on the mean objective. Everything random comes
from one torch.Generator whose state is checkpointed, so `--resume` ends bitwise where an
uninterrupted run ends.
"""

from __future__ import annotations

import ctypes
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import __version__
from ..errors import UserError
from ..threads import limit as limit_threads
from . import checkpoint, complexity, curriculum
from .config import Config, from_dict, resolve_device
from .hypernet import HyperNetwork, NetDistribution, gate_noise, presence, randn
from .target import Nets, forward
from .tasks import Task, make_task

MAX_DIVERGENCE_RETRIES = 3
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


class TrainingDiverged(UserError):
    pass


def network_bits(dist: NetDistribution, prior: str, prior_scale: float, decided: bool = False) -> torch.Tensor:
    """(K,) total bits of each generated network; a gated one's (hyper.neuron_gate) the spike-and-slab description
    length: each neuron's bits weighted by its presence q, plus KL(Bernoulli(q) || Bernoulli(1/2)) = 1 - H(q) per
    neuron (one bit for a decided neuron, on or off: the m bits that name a subset; less for an undecided one);
    `decided` (hyper.gate_decided): presence is the logit's sign, each present neuron's bits in full, one bit each."""
    if dist.gate is None:
        return sum(complexity.bits(mu, ls, prior, prior_scale) if mu.dim() > 1
                   else complexity.kl_nats(mu, ls, prior, prior_scale) / complexity.LN2
                   for mu, ls in zip(dist.mu, dist.log_sigma, strict=True))
    kl = Nets(*(complexity.kl_nats(mu, ls, prior, prior_scale) / complexity.LN2
                for mu, ls in zip(dist.mu, dist.log_sigma, strict=True)))
    per_neuron = kl.W.sum(-1) + kl.b + kl.a                                   # (K, m)
    if decided:
        return (presence(dist.gate) * per_neuron).sum(-1) + dist.gate.shape[-1] + kl.c
    log_q, log_not_q = F.logsigmoid(dist.gate), F.logsigmoid(-dist.gate)
    decision = (log_q.exp() * log_q + log_not_q.exp() * log_not_q) / complexity.LN2 + 1.0   # 1 - H(q), in bits
    return (log_q.exp() * per_neuron + decision).sum(-1) + kl.c


def mean_network(dist: NetDistribution, prior: str) -> Nets:
    """The mean weights; under the log-uniform prior weights with log alpha > 3 are zeroed
    (the sparse variational dropout convention: they are noise); a gated network keeps the neurons with q > 1/2."""
    nets = dist.mu if prior != "log_uniform" else Nets(
        *(torch.where(complexity.log_alpha(mu, ls) > 3, torch.zeros_like(mu), mu)
          for mu, ls in zip(dist.mu, dist.log_sigma, strict=True)))
    return nets if dist.gate is None else nets._replace(a=torch.where(dist.gate > 0, nets.a, torch.zeros_like(nets.a)))


def sizes(cfg: Config, gen: torch.Generator, step: int = 0) -> tuple[int, int]:
    t = cfg.task
    progress = step / cfg.optim.steps
    if not t.train_sizes:
        return t.n, curriculum.width_at(t, t.n, progress)
    n = t.train_sizes[int(torch.randint(len(t.train_sizes), (1,), generator=gen, device=gen.device))]
    return n, curriculum.width_at(t, n, progress)


def log_betas(cfg: Config, k: int, gen: torch.Generator) -> torch.Tensor:
    b = cfg.budget
    if b.beta_mode == "fixed":
        return torch.full((k,), math.log(b.beta))
    lo, hi = math.log(b.beta_min), math.log(b.beta_max)
    return lo + (hi - lo) * torch.rand(k, generator=gen, device=gen.device)


@dataclass
class StepResult:
    loss: torch.Tensor
    mse: torch.Tensor      # (K,)
    bits: torch.Tensor     # (K,)
    var_y: torch.Tensor
    log_beta: torch.Tensor
    dist: NetDistribution
    x: torch.Tensor
    y: torch.Tensor


@dataclass
class Draws:
    """Every random number of one training step, drawn in the order `objective` draws them."""

    n: int
    m: int
    log_beta: torch.Tensor  # (K,), on the generator's device
    z: torch.Tensor         # (K,m,n,C) generator noise
    eps: Nets               # standard normal noise of the weight draw
    x: torch.Tensor         # (B,n) inputs
    y: torch.Tensor         # (B,) targets, computed where drawn: outside any vmap, so a user's target may branch
    gate: torch.Tensor | None = None  # (K,m) logistic noise of the neurons' presence (hyper.neuron_gate only)
    keep: torch.Tensor | None = None  # (K,m) 1 for the neurons a nested cut keeps, 0 for those dropped (hyper.nested)


def draw_step(model: HyperNetwork, cfg: Config, task: Task, step: int, gen: torch.Generator,
              device: torch.device) -> Draws:
    n, m = sizes(cfg, gen, step)
    k = cfg.optim.nets_per_step
    log_beta = log_betas(cfg, k, gen)
    z = model.noise(k, m, n, gen, device, curriculum.at(cfg, step).share(log_beta))
    eps = Nets(*(randn(shape, gen, device) for shape in ((k, m, n), (k, m), (k, m), (k,))))
    gate = None if not cfg.hyper.neuron_gate else torch.zeros(k, m, device=device) if cfg.hyper.gate_decided else \
        gate_noise((k, m), gen, device)
    x = task.sample_x(cfg.optim.inputs_per_step, n, gen, gen.device).to(device)
    keep = nested_keep(model.places(z), cfg.hyper.nested, gen) if cfg.hyper.nested else None
    return Draws(n, m, log_beta, z, eps, x, task.target(x), gate, keep)


def nested_keep(places: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """(K,m) which neurons a training network keeps: a `share` of the networks, drawn, keep their first k places (k
    uniform in 1..m), the others every neuron (hyper.nested)."""
    k, m = places.shape
    home = gen.device
    cut = torch.rand(k, generator=gen, device=home) < share
    first = torch.randint(1, m + 1, (k,), generator=gen, device=home)
    kept = torch.where(cut, first, torch.full_like(first, m)).to(places.device)
    return (places < kept[:, None]).to(torch.float32)


def step_loss(dist: NetDistribution, d: Draws, cfg: Config, anneal: float | torch.Tensor,
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, mse (K,), bits (K,), targets y (B,)) of generated distributions on a step's draws; pure tensor code, so
    the batched trainer runs it under torch.vmap."""
    nets = dist.shift(d.eps, d.gate)
    if d.keep is not None:
        nets = nets._replace(a=nets.a * d.keep)
    mse = ((forward(nets, d.x, cfg.task.activation) - d.y) ** 2).mean(1)
    bits = network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale, cfg.hyper.gate_decided)
    beta = anneal * torch.exp(d.log_beta.to(mse.device))
    return (torch.log(mse) + beta * bits).mean(), mse, bits, d.y


def objective(model: HyperNetwork, cfg: Config, task: Task, step: int, gen: torch.Generator) -> StepResult:
    """The training objective of one step, with every random number drawn from `gen`."""
    device = next(model.parameters()).device
    d = draw_step(model, cfg, task, step, gen, device)
    stage = curriculum.at(cfg, step)
    dist = model(d.z, d.log_beta.to(device), skip_scale=stage.skip)
    loss, mse, bits, y = step_loss(dist, d, cfg, stage.anneal)
    return StepResult(loss, mse, bits, y.var(), d.log_beta, dist, d.x, y)


def build_model(cfg: Config) -> HyperNetwork:
    """The hypernetwork, initialised from the seed; c starts at the target mean."""
    torch.manual_seed(cfg.optim.seed)
    task = make_task(cfg.task.name, cfg.task.input_dist)
    probe = torch.Generator().manual_seed(cfg.optim.seed + 7919)
    c_init = float(task.target(task.sample_x(4096, cfg.task.n, probe)).mean())
    return HyperNetwork(cfg.hyper, c_init=c_init)


def compile_blocks(model: HyperNetwork) -> None:
    """torch.compile each exchangeable block in place (parameter names unchanged; one compiled graph serves
    every block). Roughly halves a CPU training step after 10-40 s of compilation: `optim.compile`."""
    for block in model.blocks:
        block.compile()


def keep_freed_memory() -> None:
    """Keep the memory a step frees for the next step (glibc; elsewhere nothing). By default glibc hands freed
    blocks of a few MB back to the OS and page-faults them in again at the next step: 13,000 page faults and
    about 40% of a stacked 8-seed step on a 2-core AMD EPYC (docs/performance.md). Not the arithmetic: the
    numbers are the same, only the pages are kept."""
    if sys.platform != "linux":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's C library
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MiB (glibc's most) come from the heap, not mmap
    mallopt(M_TRIM_THRESHOLD, 1 << 30)  # and the heap keeps up to 1 GiB free at its top instead of trimming


def set_arithmetic(cfg: Config, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fix what changes the arithmetic of a step (threads, device, compile, dtype) and return it for the
    checkpoint. On resume the recorded values win, so a run resumed on a machine whose default thread count
    differs still ends bitwise where the uninterrupted run ends; a device that is not there is an error."""
    threads = cfg.optim.threads or torch.get_num_threads()  # 0: torch's default here, recorded as a number
    device = str(resolve_device(cfg.optim.device))
    if recorded:
        threads = int(recorded.get("threads", threads))
        device = str(recorded.get("device", device))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"this run trained on {device}, which is not available here: resuming elsewhere "
                            f"would not be bitwise (start a new run with optim.init_from instead)")
        if recorded.get("torch", torch.__version__) != torch.__version__:
            tqdm.write(f"hyperinterp: warning: this run trained with torch {recorded['torch']}, resuming with "
                       f"{torch.__version__}: the result may not be bitwise that of an uninterrupted run")
    pools = limit_threads(threads, environ=False)  # torch's pools and BLAS/OpenMP: the threads this run was given
    return {"threads": threads, "device": device, "compile": cfg.optim.compile, "dtype": "float32",
            "torch": torch.__version__, "thread_pools": pools}


def _state(opt: torch.optim.Adam, model: HyperNetwork, gen: torch.Generator) -> dict[str, torch.Tensor]:
    names = {id(p): name for name, p in model.named_parameters()}
    state = {"rng": gen.get_state()}
    for p, s in opt.state.items():
        for key, value in s.items():
            state[f"adam.{names[id(p)]}.{key}"] = value.detach().cpu()
    return state


def _restore(opt: torch.optim.Adam, model: HyperNetwork, gen: torch.Generator, state: dict[str, torch.Tensor]) -> None:
    gen.set_state(state["rng"])
    params = dict(model.named_parameters())
    opt.state.clear()
    for name, value in state.items():
        if name.startswith("adam."):
            pname, key = name[5:].rsplit(".", 1)
            # Adam keeps `step` on the CPU, its moments beside the parameter
            param = params[pname]
            opt.state[param][key] = value.clone() if key == "step" else value.to(param.device, copy=True)


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            pass  # a line half-written when the run was killed, or not a record: dropped
    path.write_text("".join(line + "\n" for line in keep))


class Run:
    """One run folder being trained: configuration, model, Adam, generator, checkpoints, metrics and the
    divergence guard. `train` drives one; `batched.train_batch` drives several in one stacked computation.

    A relative `optim.init_from` is read from `init_root` when given (a sweep folder: its recorded
    configuration then names no folder outside the sweep), else from the working directory."""

    def __init__(self, cfg: Config, run_dir: str | Path, resume: bool = False, command: str = "hyperinterp train",
                 init_root: Path | None = None, compile_each_block: bool = True):
        from torch.utils.tensorboard import SummaryWriter

        run_dir = Path(run_dir)
        existing = checkpoint.list_steps(run_dir)
        if existing and not resume:
            raise UserError(f"{run_dir} already holds checkpoints: pass --resume, or choose a new run folder")
        if not run_dir.parent.is_dir():
            raise UserError(f"parent folder {run_dir.parent} does not exist")
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError(f"run folder {run_dir} is a file")
        run_dir.mkdir(exist_ok=True)

        start, lr_scale, recorded = 0, 1.0, None
        if resume and existing:
            latest = checkpoint.load_latest(run_dir)  # the newest complete one: a damaged one is skipped
            if latest is None:
                raise UserError(f"{run_dir}: every checkpoint is damaged, nothing to resume from")
            _, weights, state, meta = latest
            cfg = from_dict(meta["config"], stored=True)
            start, lr_scale, recorded = meta["step"], meta.get("lr_scale", 1.0), meta.get("arithmetic")
        # after --resume has replaced the configuration: the resumed run computes as the original did
        self.arithmetic = set_arithmetic(cfg, recorded)
        keep_freed_memory()
        self.device = torch.device(self.arithmetic["device"])
        self.cfg, self.run_dir, self.command = cfg, run_dir, command
        self.model = model = build_model(cfg).to(self.device)
        self.task = make_task(cfg.task.name, cfg.task.input_dist)
        # foreach: the same arithmetic as the per-tensor loop (bitwise), in fewer kernel calls
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, foreach=True)
        # on the CPU whatever the device (see hypernet.randn), unless optim.rng = "device"
        self.gen = torch.Generator(self.device if cfg.optim.rng == "device" else "cpu").manual_seed(cfg.optim.seed)
        if start:
            model.load_state_dict(weights)
            _restore(self.opt, model, self.gen, state)
        elif cfg.optim.init_from:  # continue a fit under other settings (prior, beta range): fresh Adam state
            init, _, _ = checkpoint.load(checkpoint.resolve((init_root or Path()) / cfg.optim.init_from))
            try:
                model.load_state_dict(init)
            except RuntimeError:
                raise UserError(f"optim.init_from {cfg.optim.init_from}: its hypernetwork has another shape") from None
        if cfg.optim.compile and compile_each_block:
            compile_blocks(model)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))

        self.metrics_path = run_dir / "metrics.jsonl"
        _truncate_metrics(self.metrics_path, start)
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start if start else None)
        self.step, self.start, self.lr_scale, self.retries, self.done = start, start, lr_scale, 0, 0
        if start == 0:
            self.save()
        self.t0 = time.perf_counter()

    @property
    def finished(self) -> bool:
        return self.step >= self.cfg.optim.steps

    def save(self) -> Path:
        cfg = self.cfg
        meta = {"config": cfg.to_dict(), "seed": cfg.optim.seed, "version": __version__, "lr_scale": self.lr_scale,
                "command": self.command, "arithmetic": self.arithmetic}
        weights = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return checkpoint.save(self.run_dir, self.step, weights, _state(self.opt, self.model, self.gen), meta)

    def set_lr(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = curriculum.at(self.cfg, self.step).lr * self.lr_scale

    def update(self, loss: torch.Tensor) -> bool:
        """Clip the gradients and take the Adam step; False (and no step, or one to be undone) when the loss,
        the gradient or the new weights are not finite."""
        params = self.model.parameters()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip, foreach=True)
        if not bool(torch.isfinite(loss) and torch.isfinite(grad_norm)):
            return False
        self.opt.step()
        # non-finite weights must never reach a checkpoint
        return bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all())

    def recover(self) -> None:
        """The divergence guard: back to the last good checkpoint with a smaller step."""
        self.retries += 1
        if self.retries > MAX_DIVERGENCE_RETRIES:
            raise TrainingDiverged(f"training diverged (NaN/Inf) at step {self.step} after "
                                   f"{MAX_DIVERGENCE_RETRIES} restarts with smaller steps")
        latest = checkpoint.load_latest(self.run_dir)
        if latest is None:
            raise TrainingDiverged(f"training diverged at step {self.step} and no undamaged checkpoint is left in "
                                   f"{self.run_dir}")
        last, weights, state, meta = latest
        self.model.load_state_dict(weights)
        _restore(self.opt, self.model, self.gen, state)
        bad_step, self.step, self.lr_scale = self.step, meta["step"], self.lr_scale * 0.5
        tqdm.write(f"non-finite loss, gradient or weights at step {bad_step}: restored {last.name}, "
                   f"lr scale {self.lr_scale}")

    def log_due(self, step: int) -> bool:
        return step % self.cfg.optim.log_every == 0 or step == self.cfg.optim.steps

    def checkpoint_due(self, step: int) -> bool:
        return step % self.cfg.optim.checkpoint_every == 0 or step == self.cfg.optim.steps

    def advance(self, res: StepResult | None) -> dict[str, float] | None:
        """Count a good step; log its metrics (from `res`, needed only then) and checkpoint when due. Returns the
        metrics when logged."""
        self.step += 1
        self.done += 1
        cfg, step, rec = self.cfg, self.step, None
        if self.log_due(step):
            assert res is not None, "metrics are due: advance needs the step's results"
            rec = _metrics(step, res, cfg)
            with open(self.metrics_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            for key, value in rec.items():
                if key != "step":
                    self.writer.add_scalar(key, value, step)
        if self.checkpoint_due(step):
            self.save()
        return rec

    def close(self, elapsed: float | None = None) -> dict[str, Any]:
        """Write summary.json and return it; `elapsed` is the run's share of a shared wall time."""
        self.writer.close()
        elapsed = time.perf_counter() - self.t0 if elapsed is None else elapsed
        done, k, b = self.done, self.cfg.optim.nets_per_step, self.cfg.optim.inputs_per_step
        summary = {"steps": self.cfg.optim.steps, "trained_steps": done, "seconds": elapsed,
                   "steps_per_second": done / elapsed if elapsed else float("nan"),
                   "network_samples_per_second": done * k * b / elapsed if elapsed else float("nan"),
                   "checkpoint": str(checkpoint.list_steps(self.run_dir)[-1])}
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        return summary


def train(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          fault_hook: Any = None, command: str = "hyperinterp train", init_root: Path | None = None,
          ) -> dict[str, Any]:
    """Train (or resume) a hypernetwork in `run_dir`; returns a summary with throughput."""
    run = Run(cfg, run_dir, resume, command, init_root)
    cfg, steps = run.cfg, run.cfg.optim.steps
    bar = tqdm(range(run.start, steps), initial=run.start, total=steps, disable=not progress,
               desc=f"train seed {cfg.optim.seed}, " + (f"beta {cfg.budget.beta:g}" if cfg.budget.beta_mode == "fixed"
                                                         else f"beta {cfg.budget.beta_min:g}..{cfg.budget.beta_max:g}"),
               smoothing=0.05)
    while not run.finished:
        run.set_lr()
        res = objective(run.model, cfg, run.task, run.step, run.gen)
        run.opt.zero_grad(set_to_none=True)
        res.loss.backward()
        if fault_hook is not None:
            fault_hook(run.step, run.model, res)
        if not run.update(res.loss):
            run.recover()
            bar.reset(total=steps)
            bar.update(run.step)
            continue
        rec = run.advance(res)
        bar.update(1)
        if rec:
            bar.set_postfix(rel=f"{rec['rel_mse_median']:.3g}", bits=f"{rec['bits_median']:.0f}")
    bar.close()
    return run.close()


@torch.no_grad()
def _metrics(step: int, res: StepResult, cfg: Config) -> dict[str, float]:
    rel = (res.mse / res.var_y).detach()
    lowest = res.log_beta.argsort()[: max(1, len(rel) // 4)]
    mean_nets = mean_network(res.dist, cfg.budget.prior)
    mean_mse = ((forward(mean_nets, res.x, cfg.task.activation) - res.y) ** 2).mean(1)
    return {"step": step, "loss": float(res.loss), "rel_mse_median": float(rel.median()),
            "rel_mse_low_beta": float(rel[lowest].median()), "bits_median": float(res.bits.median()),
            "rel_mse_mean_weights": float((mean_mse / res.var_y).median()),
            "lr": float(curriculum.at(cfg, step).lr)}
