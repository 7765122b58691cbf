"""Training: Adam on log(MSE) + beta * bits of networks drawn from the hypernetwork.

One step: pick the size (n, m) and a log beta per network, generate K weight
distributions, draw one network from each, evaluate all K on one batch of inputs in a
batched matmul, and take a gradient step on the mean objective. Everything random comes
from one torch.Generator whose state is checkpointed, so `--resume` ends bitwise where an
uninterrupted run ends.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from . import __version__, checkpoint, complexity
from .config import Config, from_dict, resolve_device
from .errors import UserError
from .hypernet import HyperNetwork, NetDistribution
from .target import Nets, forward
from .tasks import Task, make_task

MAX_DIVERGENCE_RETRIES = 3


class TrainingDiverged(UserError):
    pass


def network_bits(dist: NetDistribution, prior: str, prior_scale: float) -> torch.Tensor:
    """(K,) total bits of each generated network."""
    return sum(complexity.bits(mu, ls, prior, prior_scale) if mu.dim() > 1
               else complexity.kl_nats(mu, ls, prior, prior_scale) / complexity.LN2
               for mu, ls in zip(dist.mu, dist.log_sigma, strict=True))


def mean_network(dist: NetDistribution, prior: str) -> Nets:
    """The mean weights; under the log-uniform prior weights with log alpha > 3 are zeroed
    (the sparse variational dropout convention: they are noise)."""
    if prior != "log_uniform":
        return dist.mu
    return Nets(*(torch.where(complexity.log_alpha(mu, ls) > 3, torch.zeros_like(mu), mu)
                  for mu, ls in zip(dist.mu, dist.log_sigma, strict=True)))


def sizes(cfg: Config, gen: torch.Generator, step: int = 0) -> tuple[int, int]:
    t = cfg.task
    progress = step / cfg.optim.steps
    if not t.train_sizes:
        return t.n, t.width_at(t.n, progress)
    n = t.train_sizes[int(torch.randint(len(t.train_sizes), (1,), generator=gen))]
    return n, t.width_at(n, progress)


def log_betas(cfg: Config, k: int, gen: torch.Generator) -> torch.Tensor:
    b = cfg.budget
    if b.beta_mode == "fixed":
        return torch.full((k,), math.log(b.beta))
    lo, hi = math.log(b.beta_min), math.log(b.beta_max)
    return lo + (hi - lo) * torch.rand(k, generator=gen)


def cosine_lr(lr: float, step: int, steps: int, decay_frac: float) -> float:
    """lr, then a cosine decay to 0 over the last `decay_frac` of the steps."""
    start = steps * (1 - decay_frac)
    if step < start or decay_frac <= 0:
        return lr
    return lr * 0.5 * (1 + math.cos(math.pi * (step - start) / (steps - start)))


def learning_rate(cfg: Config, step: int) -> float:
    return cosine_lr(cfg.optim.lr, step, cfg.optim.steps, cfg.optim.lr_decay_frac)


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


def objective(model: HyperNetwork, cfg: Config, task: Task, step: int, gen: torch.Generator) -> StepResult:
    """The training objective of one step, with every random number drawn from `gen`."""
    n, m = sizes(cfg, gen, step)
    k, device = cfg.optim.nets_per_step, next(model.parameters()).device
    log_beta = log_betas(cfg, k, gen)
    dist = model.generate(log_beta, n, m, gen)
    nets = dist.draw(gen)
    x = task.sample_x(cfg.optim.inputs_per_step, n, gen).to(device)
    y = task.target(x)
    mse = ((forward(nets, x, cfg.task.activation) - y) ** 2).mean(1)
    bits = network_bits(dist, cfg.budget.prior, cfg.budget.prior_scale)
    anneal = min(1.0, step / cfg.budget.anneal_steps) if cfg.budget.anneal_steps > 0 else 1.0
    beta = anneal * torch.exp(log_beta.to(device))
    loss = (torch.log(mse) + beta * bits).mean()
    return StepResult(loss, mse, bits, y.var(), log_beta, dist, x, y)


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
    torch.set_num_threads(threads)
    return {"threads": threads, "device": device, "compile": cfg.optim.compile, "dtype": "float32",
            "torch": torch.__version__}


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


def train(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          fault_hook: Any = None, command: str = "hyperinterp train", init_root: Path | None = None,
          ) -> dict[str, Any]:
    """Train (or resume) a hypernetwork in `run_dir`; returns a summary with throughput.

    A relative `optim.init_from` is read from `init_root` when given (a sweep folder: its recorded
    configuration then names no folder outside the sweep), else from the working directory."""
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
        cfg = from_dict(meta["config"])
        start, lr_scale, recorded = meta["step"], meta.get("lr_scale", 1.0), meta.get("arithmetic")
    # after --resume has replaced the configuration: the resumed run computes as the original did
    arithmetic = set_arithmetic(cfg, recorded)
    device = torch.device(arithmetic["device"])
    model = build_model(cfg).to(device)
    task = make_task(cfg.task.name, cfg.task.input_dist)
    # foreach: the same arithmetic as the per-tensor loop (bitwise), in fewer kernel calls
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, foreach=True)
    gen = torch.Generator().manual_seed(cfg.optim.seed)  # on the CPU whatever the device: see hypernet.randn
    if start:
        model.load_state_dict(weights)
        _restore(opt, model, gen, state)
    elif cfg.optim.init_from:  # continue a fit under other settings (prior, beta range): fresh Adam state
        init, _, _ = checkpoint.load(checkpoint.resolve((init_root or Path()) / cfg.optim.init_from))
        try:
            model.load_state_dict(init)
        except RuntimeError:
            raise UserError(f"optim.init_from {cfg.optim.init_from}: its hypernetwork has another shape") from None
    if cfg.optim.compile:
        compile_blocks(model)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))

    metrics_path = run_dir / "metrics.jsonl"
    _truncate_metrics(metrics_path, start)
    writer = SummaryWriter(str(run_dir / "tb"), purge_step=start if start else None)

    def save(step: int) -> Path:
        meta = {"config": cfg.to_dict(), "seed": cfg.optim.seed, "version": __version__, "lr_scale": lr_scale,
                "command": command, "arithmetic": arithmetic}
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return checkpoint.save(run_dir, step, weights, _state(opt, model, gen), meta)

    if start == 0:
        save(0)
    steps, retries = cfg.optim.steps, 0
    t0, done = time.perf_counter(), 0
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress,
               desc=f"train seed {cfg.optim.seed}, " + (f"beta {cfg.budget.beta:g}" if cfg.budget.beta_mode == "fixed"
                                                         else f"beta {cfg.budget.beta_min:g}..{cfg.budget.beta_max:g}"),
               smoothing=0.05)
    step = start
    while step < steps:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step) * lr_scale
        res = objective(model, cfg, task, step, gen)
        opt.zero_grad(set_to_none=True)
        res.loss.backward()
        if fault_hook is not None:
            fault_hook(step, model, res)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip, foreach=True)
        finite = bool(torch.isfinite(res.loss) and torch.isfinite(grad_norm))
        if finite:
            opt.step()
            # non-finite weights must never reach a checkpoint
            finite = bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())
        if not finite:
            # divergence guard: back to the last good checkpoint with a smaller step
            retries += 1
            if retries > MAX_DIVERGENCE_RETRIES:
                raise TrainingDiverged(f"training diverged (NaN/Inf) at step {step} after "
                                       f"{MAX_DIVERGENCE_RETRIES} restarts with smaller steps")
            latest = checkpoint.load_latest(run_dir)
            if latest is None:
                raise TrainingDiverged(f"training diverged at step {step} and no undamaged checkpoint is left in "
                                       f"{run_dir}")
            last, weights, state, meta = latest
            model.load_state_dict(weights)
            _restore(opt, model, gen, state)
            bad_step, step, lr_scale = step, meta["step"], lr_scale * 0.5
            tqdm.write(f"non-finite loss, gradient or weights at step {bad_step}: restored {last.name}, "
                       f"lr scale {lr_scale}")
            bar.reset(total=steps)
            bar.update(step)
            continue
        step += 1
        done += 1
        bar.update(1)
        if step % cfg.optim.log_every == 0 or step == steps:
            rec = _metrics(step, res, cfg)
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            for key, value in rec.items():
                if key != "step":
                    writer.add_scalar(key, value, step)
            bar.set_postfix(rel=f"{rec['rel_mse_median']:.3g}", bits=f"{rec['bits_median']:.0f}")
        if step % cfg.optim.checkpoint_every == 0 or step == steps:
            save(step)
    bar.close()
    writer.close()
    elapsed = time.perf_counter() - t0
    k, b = cfg.optim.nets_per_step, cfg.optim.inputs_per_step
    summary = {"steps": steps, "trained_steps": done, "seconds": elapsed,
               "steps_per_second": done / elapsed if elapsed else float("nan"),
               "network_samples_per_second": done * k * b / elapsed if elapsed else float("nan"),
               "checkpoint": str(checkpoint.list_steps(run_dir)[-1])}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


@torch.no_grad()
def _metrics(step: int, res: StepResult, cfg: Config) -> dict[str, float]:
    rel = (res.mse / res.var_y).detach()
    lowest = res.log_beta.argsort()[: max(1, len(rel) // 4)]
    mean_nets = mean_network(res.dist, cfg.budget.prior)
    mean_mse = ((forward(mean_nets, res.x, cfg.task.activation) - res.y) ** 2).mean(1)
    return {"step": step, "loss": float(res.loss), "rel_mse_median": float(rel.median()),
            "rel_mse_low_beta": float(rel[lowest].median()), "bits_median": float(res.bits.median()),
            "rel_mse_mean_weights": float((mean_mse / res.var_y).median()),
            "lr": float(learning_rate(cfg, step))}
