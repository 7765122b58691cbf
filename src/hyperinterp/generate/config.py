"""Run configuration: nested dataclasses, loaded from TOML plus `section.key=value` overrides.

Every key is checked: an unknown section or key, or a value of the wrong type, is an error.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .complexity import PRIORS
from .hypernet import HyperConfig
from .target import ACTIVATIONS
from .tasks import INPUT_DISTRIBUTIONS, check_task

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TaskConfig:
    name: str = "l1"
    input_dist: str = "normal"
    activation: str = "silu"
    n: int = 16
    m: int = 48
    # Train over several input sizes (m = round(m_per_n * n) each): the route to any-n generation.
    train_sizes: tuple[int, ...] = ()
    m_per_n: float = 3.0
    # Width curriculum: [[fraction of the steps, m / n], ...], linear in between, the last ratio held to
    # the end. Empty: the width never changes. End it at the width you sample at (m / n, or m_per_n).
    width_schedule: tuple[tuple[float, float], ...] = ()

    def width(self, n: int) -> int:
        """Hidden width m for input size n: `m` at the one trained n, else round(m_per_n * n)."""
        if n == self.n and not self.train_sizes:
            return self.m
        return max(1, round(self.m_per_n * n))



@dataclass(frozen=True)
class BudgetConfig:
    prior: str = "gaussian"
    prior_scale: float = 1.0
    beta_mode: str = "range"         # "range": one model conditioned on log beta; "fixed": one beta
    beta: float = 1e-3               # used when beta_mode = "fixed"
    beta_min: float = 1e-6
    beta_max: float = 3e-2
    anneal_steps: int = 0            # beta grows linearly from 0 to its value over these steps


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 24000
    nets_per_step: int = 8           # E41: the same networks as 16 (E30) at half the cost of a step
    inputs_per_step: int = 256
    lr: float = 2e-3
    lr_decay_frac: float = 0.3       # cosine decay to 0 over the last fraction of the steps
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 100
    threads: int = 0                 # 0: leave torch's default
    device: str = "auto"             # auto: CUDA when available, else the CPU | cpu | cuda
    compile: bool = False            # torch.compile the exchangeable blocks (faster steps, ~10-40 s start-up)
    rng: str = "cpu"                 # cpu: draws on the CPU, the same numbers on any device | device: on the
                                     # training device (a GPU run then draws no CPU time, and equals only GPU runs)
    init_from: str = ""              # a run or checkpoint whose hypernetwork weights start this run


# The default: a generator with no L1 answer built in (issue 37, docs/experiments/E75.md, E76.md, E77.md). The plain
# equivariant head (no slots, no floor, no sign curriculum), each neuron told its place in a random order (E69), and a
# quarter of the training networks cut to their first k places, k uniform in 1..m (nested dropout, E71, E74): the first
# places must carry the function alone, so a computation a few neurons can do is done by a few. The Gaussian prior
# N(0, 1), the design's own: under it convexity has its edge in bits at high beta (E76: pudding then convexity along
# beta in 12 of 16 seeds; the log-uniform prior of E75 gave no convexity) and the cut still concentrates (E77). 12,000
# steps at 16 networks a step (E59's compute: 24,000 at 8). Every bias is one a researcher would choose for any task;
# the L1-shaped devices are ablations (configs/e59.toml, the ladder's top rung).
DEFAULT_HYPER = HyperConfig(neuron_rank=True, nested=0.25)
DEFAULT_BUDGET = BudgetConfig(prior="gaussian")
DEFAULT_OPTIM = OptimConfig(steps=12000, nets_per_step=16)

# E59's generator, the default from 2026-12-05 to 2026-12-07 (docs/experiments/E59.md; configs/e59.toml): E30's
# (neurons hold a sign of their own and compete for the inputs, each sign Sinkhorn-balanced with a floor of one whole
# neuron per input and an idle slot for the spare neurons, the noise skip decayed to 0 over the first half of the
# training, a read-out that reads the slots each neuron serves: E24, E28-E30), E50's free dense weights for the idle
# neurons, a magnitude per (input, sign) (E45), and a curriculum over the signs per beta picked by the L1 mix it gives
# (E59's edge_mid). The field defaults stay the plain head: every key was introduced against it, so a stored
# configuration that lacks a key meant its field default.
SIGN_SHARE_BY_BETA = ((1e-5, ((0, 0.98), (0.5, 0.98), (0.5, 0.5))), (3e-4, ((0, 0.98), (0.4, 0.98), (0.7, 0.5))))
E59_HYPER = HyperConfig(sign_split=True, sign_share_by_beta=SIGN_SHARE_BY_BETA, slot_sinkhorn=5,
                        slot_temperature=0.25, slot_magnitude="input_sign", slot_signs="split",
                        slot_balance="floor", skip_until=12000, out_per_norm=True, c_per_neuron=True,
                        slot_idle=True, slot_readout=True, idle_plain=True)


@dataclass(frozen=True)
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    hyper: HyperConfig = field(default_factory=lambda: DEFAULT_HYPER)
    budget: BudgetConfig = field(default_factory=lambda: DEFAULT_BUDGET)
    optim: OptimConfig = field(default_factory=lambda: DEFAULT_OPTIM)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(section: str, f: dataclasses.Field, value: Any) -> Any:
    name = f"{section}.{f.name}"
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:  # tuples, nested ones too (a schedule's points), so a loaded configuration equals one built in Python
        ok = isinstance(value, (list, tuple))
        value = _tuples(value) if ok else value
    if not ok:
        kind = {"bool": "a boolean", "int": "an integer", "float": "a number", "str": "a string"}.get(
            type(default).__name__, "a list")
        raise UserError(f"config key {name} must be {kind}, got {value!r}")
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# Generator keys retired after E64 (dead ends, each recorded in the notebook): the key, the value that left it inert
# and the entries it served. A stored run or sweep that names one at that value loads as before; one that used it, or
# a configuration that sets it, is a one-line error naming the git tag where the code still runs it.
RETIRED_TAG = "residue-e64"
RETIRED = {
    "hyper.attention_every": (0, "E6"), "hyper.attention_heads": (None, "E6"), "hyper.slot_plain": (False, "E20, E22"),
    "hyper.floor_gate": (False, "E43"), "hyper.sign_share_schedule": ((), "E55-E56"),
    "hyper.marked_neurons": (0, "E62"), "hyper.linear_pair": (False, "E63-E64"),
}


def _retired_message(key: str, value: Any, entries: str) -> str:
    return (f"{key} = {value!r} was retired after E64 (a dead end of {entries}, docs/experiments/README.md): it runs "
            f"at git tag {RETIRED_TAG} (git checkout {RETIRED_TAG})")


def _retired(key: str, value: Any, stored: bool) -> None:
    """A retired key is dropped where it changes nothing (a stored record at its inert value); else an error."""
    inert, entries = RETIRED[key]
    if stored and (inert is None or _tuples(value) == inert):  # None: inert whatever its value
        return
    raise UserError(_retired_message(key, value, entries))


def from_dict(data: dict[str, Any], stored: bool = False) -> Config:
    """A configuration from nested dicts; what they leave out is the default. `stored`: a configuration saved
    with a run or sweep, which names every key of its day, so a key it lacks was added later and meant its field
    default (the plain generator's value), not today's default."""
    sections = {f.name: f for f in dataclasses.fields(Config)}
    start = Config(TaskConfig(), HyperConfig(), BudgetConfig(), OptimConfig()) if stored else Config()
    built = {}
    for sec, values in data.items():
        if sec not in sections:
            raise UserError(f"unknown config section {sec!r} (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise UserError(f"config section {sec!r} must be a table")
        fields = {f.name: f for f in dataclasses.fields(getattr(start, sec))}
        kwargs = {}
        for key, value in values.items():
            if f"{sec}.{key}" in RETIRED:
                _retired(f"{sec}.{key}", value, stored)
                continue
            if key not in fields:
                raise UserError(f"unknown config key {sec}.{key} (known: {', '.join(fields)})")
            kwargs[key] = _coerce(sec, fields[key], value)
        built[sec] = dataclasses.replace(getattr(start, sec), **kwargs)
    return validate(dataclasses.replace(start, **built))


def validate(cfg: Config) -> Config:
    t, b, o, h = cfg.task, cfg.budget, cfg.optim, cfg.hyper
    for sec in dataclasses.fields(cfg):
        for f in dataclasses.fields(getattr(cfg, sec.name)):
            value = getattr(getattr(cfg, sec.name), f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"config key {sec.name}.{f.name} must be finite, got {value}")
    check_task(t.name)  # a built-in name, or a user's module:function that imports and has the right shape
    if t.input_dist not in INPUT_DISTRIBUTIONS:
        raise UserError(f"unknown input distribution {t.input_dist!r}")
    if t.activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {t.activation!r} (known: {', '.join(ACTIVATIONS)})")
    for size in (t.n, *t.train_sizes):
        if not isinstance(size, int) or size < 1:
            raise UserError(f"input size n must be an integer >= 1, got {size!r}")
    if t.m < 1:
        raise UserError(f"hidden width m must be >= 1, got {t.m}")
    check_positive("task.m_per_n", t.m_per_n)
    _check_schedule("task.width_schedule", t.width_schedule, "m/n", lambda r: r > 0, "ratios > 0")
    if not 0 <= o.seed < 2**62:
        raise UserError(f"optim.seed must be in [0, 2**62), got {o.seed}")
    if b.prior not in PRIORS:
        raise UserError(f"unknown prior {b.prior!r} (known: {', '.join(PRIORS)})")
    if b.beta_mode not in ("range", "fixed"):
        raise UserError(f"budget.beta_mode must be 'range' or 'fixed', got {b.beta_mode!r}")
    for name in ("beta", "beta_min", "beta_max", "prior_scale"):
        check_positive(f"budget.{name}", getattr(b, name))
    if b.beta_min > b.beta_max:
        raise UserError(f"budget.beta_min {b.beta_min} exceeds budget.beta_max {b.beta_max}")
    if o.steps < 1 or o.nets_per_step < 1 or o.inputs_per_step < 2:
        raise UserError("optim.steps and optim.nets_per_step must be >= 1, optim.inputs_per_step >= 2")
    if o.checkpoint_every < 1 or o.log_every < 1:
        raise UserError("optim.checkpoint_every and optim.log_every must be >= 1")
    check_positive("optim.lr", o.lr)
    if o.rng not in ("cpu", "device"):
        raise UserError(f"optim.rng must be 'cpu' or 'device', got {o.rng!r}")
    if o.device not in DEVICES:
        raise UserError(f"optim.device must be one of {', '.join(DEVICES)}, got {o.device!r}")
    if h.layers < 0 or h.width < 1 or h.noise_channels < 1:
        raise UserError("hyper.layers must be >= 0, hyper.width and hyper.noise_channels >= 1")
    if not all(isinstance(p, str) for p in h.pools) or not set(h.pools) <= {"mean", "max"} or not h.pools:
        raise UserError(f"hyper.pools must be a non-empty list of 'mean' and 'max', got {list(h.pools)}")
    if not h.slot_temperature > 0:
        raise UserError(f"hyper.slot_temperature must be > 0, got {h.slot_temperature}")
    if h.slot_magnitude == "sign_balance":
        raise UserError(_retired_message("hyper.slot_magnitude", "sign_balance", "E46"))
    if h.slot_magnitude not in ("entry", "input", "input_sign"):
        raise UserError(f"hyper.slot_magnitude must be 'entry', 'input' or 'input_sign', got {h.slot_magnitude!r}")
    if h.slot_magnitude == "input_sign" and h.slot_signs != "split":
        raise UserError(f"hyper.slot_magnitude = {h.slot_magnitude!r} needs hyper.slot_signs = 'split' (a neuron's "
                        f"sign of its own)")
    if h.slot_signs not in ("free", "split") or (h.slot_signs == "split" and not (h.sign_split and h.slot_sinkhorn)):
        raise UserError(f"hyper.slot_signs must be 'free' or 'split' (split needs hyper.sign_split = true and "
                        f"hyper.slot_sinkhorn > 0), got {h.slot_signs!r}")
    if not 0 < h.sign_plus_share < 1:
        raise UserError(f"hyper.sign_plus_share (the share of + neurons) must be in (0, 1), got {h.sign_plus_share}")
    _check_share_by_beta(h.sign_share_by_beta)
    if h.sign_share_by_beta and not h.sign_split:
        raise UserError("hyper.sign_share_by_beta sets the share of + neurons: it needs hyper.sign_split = true (a "
                        "neuron's sign of its own; configs/e59.toml)")
    if h.slot_balance not in ("equal", "floor"):
        raise UserError(f"hyper.slot_balance must be 'equal' or 'floor', got {h.slot_balance!r}")
    if h.slot_idle and not (h.slot_signs == "split" and h.slot_balance == "floor"):
        raise UserError("hyper.slot_idle (an idle slot beside the inputs) needs hyper.slot_signs = 'split' and "
                        "hyper.slot_balance = 'floor'")
    if h.idle_plain and not h.slot_idle:
        raise UserError("hyper.idle_plain gives idle neurons free weights: it needs hyper.slot_idle (split signs, a "
                        "floor and an idle slot)")
    if h.slot_readout and not h.slot_sinkhorn:
        raise UserError("hyper.slot_readout reads the features of the slots a neuron serves: it needs "
                        "hyper.slot_sinkhorn > 0")
    if h.gate_decided and not h.neuron_gate:
        raise UserError("hyper.gate_decided decides each neuron's presence: it needs hyper.neuron_gate = true")
    if not 0 <= h.nested <= 1:
        raise UserError(f"hyper.nested (the share of training networks cut to their first neurons) must be in [0, 1], "
                        f"got {h.nested}")
    if h.nested and not h.neuron_rank:
        raise UserError("hyper.nested cuts networks to the first neurons of their order: it needs hyper.neuron_rank = "
                        "true")
    if h.skip_until < 0:
        raise UserError(f"hyper.skip_until (steps for the noise skip to decay to 0) must be >= 0, got {h.skip_until}")
    if h.slot_sinkhorn < 0:
        raise UserError(f"hyper.slot_sinkhorn (Sinkhorn iterations) must be >= 0, got {h.slot_sinkhorn}")
    return cfg


def _finite(v: Any) -> bool:
    """A finite int or float, not a bool (TOML reads true as a bool, Python counts it an int)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_schedule(key: str, points: tuple, value: str, value_ok: Callable[[float], bool], rule: str) -> None:
    """A schedule [[fraction of the steps, value], ...]: finite pairs, fractions rising in [0, 1], values value_ok."""
    ok = all(isinstance(p, (list, tuple)) and len(p) == 2 and all(_finite(v) for v in p) for p in points)
    if ok and points:
        fracs = [p[0] for p in points]
        ok = all(0 <= f <= 1 for f in fracs) and fracs == sorted(fracs) and all(value_ok(p[1]) for p in points)
    if not ok:
        raise UserError(f"{key} must be [[fraction, {value}], ...] with fractions rising in [0, 1] and {rule}, got "
                        f"{[list(p) if isinstance(p, (list, tuple)) else p for p in points]}")


def _check_share_by_beta(points: tuple) -> None:
    """hyper.sign_share_by_beta: [[beta, schedule], ...], betas > 0 rising, each a schedule [[fraction, share of +
    neurons], ...] (its last share is the one a finished run samples that beta with)."""
    key = "hyper.sign_share_by_beta"
    for p in points:
        beta = p[0] if isinstance(p, (list, tuple)) and len(p) == 2 else None
        if not (_finite(beta) and beta > 0 and isinstance(p[1], (list, tuple)) and p[1]):
            raise UserError(f"{key} must be [[beta, [[fraction, share], ...]], ...] with betas > 0, got {p!r}")
        _check_schedule(f"{key} at beta {beta:g}", tuple(p[1]), "share of + neurons", lambda s: 0 < s < 1,
                        "shares in (0, 1)")
    betas = [p[0] for p in points]
    if any(b >= c for b, c in itertools.pairwise(betas)):
        raise UserError(f"{key}: the betas must rise, got {betas}")


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; asking for CUDA without it is an error."""
    if name not in DEVICES:
        raise UserError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for, but CUDA is not available here (use 'auto' or 'cpu')")
    return torch.device(name)


def check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UserError(f"{name} must be a finite number > 0, got {value!r}")


def parse_override(text: str) -> tuple[str, str, Any]:
    """`section.key=value`, the value read as TOML (so 6, 1e-3, "gaussian", [8, 16]) or else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise UserError(f"override {text!r} must look like section.key=value")
    path, raw = text.split("=", 1)
    sec, key = path.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return sec, key, value


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file as a dict; missing, unreadable or invalid is a one-line UserError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {p} not found")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {p} is not valid TOML: {e}") from None


def read_config(path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A configuration file's sections; `base = "other.toml"` (relative to the file) starts from that file's, so an
    ablation states only what it changes from the generator it ablates."""
    p = Path(path).resolve()
    if p in seen:
        raise UserError(f"config file {path}: its bases form a loop")
    data = read_toml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise UserError(f"config file {path}: base must be a file name, got {base!r}")
    merged = read_config(p.parent / base, (*seen, p))
    for sec, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(sec), dict):
            merged[sec] = {**merged[sec], **values}
        else:
            merged[sec] = values
    return merged


def load(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    data: dict[str, dict[str, Any]] = read_config(path) if path is not None else {}
    for text in overrides:
        sec, key, value = parse_override(text)
        data.setdefault(sec, {})
        if not isinstance(data[sec], dict):
            raise UserError(f"config section {sec!r} must be a table")
        data[sec][key] = value
    return from_dict(data)
