"""Studies are data: one TOML file names the base configuration, the sweep's grid and modes, and any
number of named trainings (a generator variant, a continuation, an ablation), run by `hyperinterp study`.

    description = "what the study asks"
    tag = "residue-e64"                   # only for a study of retired code: it runs at that git tag, not here
    config = "../default.toml"            # optional base config, relative to this file
    set = ["optim.steps=16000"]           # optional overrides of the base config

    [sweep]                               # SweepSpec fields (sweep.py); every key optional
    modes = []                            # built-in modes: range, per_beta, direct, adam
                                          # (all of them when [sweep] says nothing; NONE without a [sweep]
                                          # table: a study of trainings only runs just its trainings)
    betas = [1e-6, 1e-4, 1e-3, 3e-3]
    seeds = [0, 1]                        # seeds of the built-in modes
    count = 16

    [[training]]                          # as many as wanted; each trained per seed, evaluated like range
    name = "sign_split"
    seeds = [0, 1, 2, 3]
    set = { "hyper.sign_split" = true }   # its own overrides, on top of the base
    config = "../e24.toml"                # optional: this training's own base instead of the study's (read
                                          # here into overrides of every key where the two differ)
    init_from = ""                        # a training defined above (or range): continue its run of the
                                          # same seed, with its overrides and then these
    phases = false                        # also evaluate along training (phase diagram)
    generalization = false                # also evaluate at the sweep's generalization sizes

Training over several input sizes (set task.train_sizes) and continuing that run wider (init_from it, set
task.m_per_n) were the sweep modes multi_n and wide: they are the study configs/studies/multi_n.toml.

A study folder is a sweep folder: rerunning skips finished jobs; `hyperinterp report` reads it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..generate import config
from .sweep import RETIRED_SPEC_KEYS, SweepSpec, training_overrides

TRAINING_KEYS = {"name": str, "seeds": list, "set": dict, "init_from": str, "phases": bool, "generalization": bool,
                 "config": str}
TOP_KEYS = ("description", "config", "set", "sweep", "training", "tag")


def _own_base(t: dict[str, Any], base: config.Config, study_file: Path) -> dict[str, Any]:
    """A training that names its own base config: that file's keys where they differ from the study's base become
    overrides of the training (its own `set` still wins), so the sweep records explicit values, never a path."""
    if "config" not in t:
        return t
    own = config.load(study_file.parent / t.pop("config")).to_dict()
    ref = base.to_dict()
    diff = {f"{sec}.{key}": _plain(value) for sec, values in own.items() for key, value in values.items()
            if value != ref[sec][key]}
    return {**t, "set": {**diff, **t["set"]}}


def _plain(value: Any) -> Any:
    """Tuples as lists, as a TOML file would give them (the spec is saved as JSON)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _training(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: every [[training]] must be a table")
    unknown = set(raw) - set(TRAINING_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown training key {sorted(unknown)[0]!r} (known: {', '.join(TRAINING_KEYS)})")
    if "name" not in raw or "seeds" not in raw:
        raise UserError(f"{where}: a training needs a name and seeds")
    t = {"set": {}, "init_from": "", "phases": False, "generalization": False, **raw}
    for key, kind in TRAINING_KEYS.items():
        if key not in t:  # config: optional, no default
            continue
        if not isinstance(t[key], kind):
            raise UserError(f"{where}: training {t['name']!r}: {key} must be a {kind.__name__}")
    if not t["seeds"] or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in t["seeds"]):
        raise UserError(f"{where}: training {t['name']!r}: seeds must be a non-empty list of integers >= 0")
    for key in t["set"]:
        if "." not in key:
            raise UserError(f"{where}: training {t['name']!r}: override {key!r} must look like section.key")
    return t


def load(path: str | Path) -> tuple[SweepSpec, config.Config, str]:
    """(spec, base config, description) of a study file; every problem is a one-line UserError."""
    p = Path(path)
    data = config.read_toml(p, "study file")
    unknown = set(data) - set(TOP_KEYS)
    if unknown:
        raise UserError(f"{p}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(TOP_KEYS)})")
    if data.get("tag"):  # a study of retired code: reproducible at its git tag only
        raise UserError(f"{p} runs at git tag {data['tag']} (it uses keys retired since): git checkout {data['tag']}")
    base_path = (p.parent / data["config"]) if data.get("config") else None
    overrides = data.get("set", [])
    if not (isinstance(overrides, list) and all(isinstance(o, str) for o in overrides)):
        raise UserError(f"{p}: set must be a list of 'section.key=value' strings")
    base = config.load(base_path, overrides)

    sweep_keys = {f.name: f for f in dataclasses.fields(SweepSpec) if f.name != "trainings"}
    raw = data.get("sweep", {})
    if not isinstance(raw, dict):
        raise UserError(f"{p}: [sweep] must be a table")
    if "sweep" not in data and not data.get("training"):
        raise UserError(f"{p}: nothing to run: add a [sweep] table or a [[training]]")
    # Without a [sweep] table a study runs only its named trainings, never the whole default sweep beside them.
    kwargs: dict[str, Any] = {} if "sweep" in data else {"modes": ()}
    for key, value in raw.items():
        if key in RETIRED_SPEC_KEYS:  # a setting of the modes multi_n and wide, a study of their own now
            raise UserError(f"{p}: sweep key {key!r} set the retired modes multi_n and wide: see configs/studies/"
                            f"multi_n.toml")
        if key not in sweep_keys:
            raise UserError(f"{p}: unknown sweep key {key!r} (known: {', '.join(sweep_keys)})")
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    trainings = tuple(_own_base(_training(t, str(p)), base, p) for t in data.get("training", []))
    try:
        spec = SweepSpec(**kwargs, trainings=trainings)
    except TypeError as e:
        raise UserError(f"{p}: {e}") from None
    try:
        spec.validate()
    except TypeError:
        raise UserError(f"{p}: a [sweep] value has the wrong type (betas numbers, seeds integers, ...)") from None
    for t in trainings:  # each training's overrides (a continuation's include its source's) must be valid
        d = base.to_dict()
        for key, value in training_overrides(spec, t).items():
            section, name = key.split(".", 1)
            d.setdefault(section, {})[name] = value
        try:
            config.from_dict(d)
        except UserError as e:
            raise UserError(f"{p}: training {t['name']!r}: {e}") from None
    return spec, base, str(data.get("description", ""))
