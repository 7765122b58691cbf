"""Checkpoints: a folder `checkpoints/step_XXXXXXXX/` per save, written whole then renamed.

Inside: model.safetensors (hypernetwork), state.safetensors (Adam moments, RNG state) and
meta.json (config, step, seed, package version, sha256 of both tensor files). A folder only
gets its final name once every file is on disk, and its hashes are checked on load, so a
half-written or damaged checkpoint is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UserError

STEP_PREFIX = "step_"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(run_dir: Path, step: int, model: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
         meta: dict[str, Any]) -> Path:
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = step_path(run_dir, step)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a checkpoint is for sharing
    old = None
    try:
        save_file({k: v.contiguous() for k, v in model.items()}, tmp / "model.safetensors")
        save_file({k: v.contiguous() for k, v in state.items()}, tmp / "state.safetensors")
        meta = {**meta, "step": step,
                "sha256": {f: _sha256(tmp / f) for f in ("model.safetensors", "state.safetensors")}}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        # A directory cannot be replaced in one rename: the old one is moved aside first and deleted only once the new
        # one is in place, so a kill in between leaves it whole (under .tmp-, beside the other checkpoints), and an
        # error puts it back.
        old = final.rename(root / f".tmp-old-{final.name}-{os.getpid()}") if final.exists() else None
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not final.exists():
            os.rename(old, final)
        raise
    return final


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Load one checkpoint folder, checking it is complete and undamaged."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"checkpoint {path} not found")
    current = path / "meta.json"  # the file being read: named in the error when it is missing or damaged
    try:
        meta = json.loads(current.read_text())
        if not (isinstance(meta, dict) and isinstance(meta.get("sha256"), dict) and isinstance(meta.get("step"), int)
                and isinstance(meta.get("config"), dict)):
            raise UserError(f"checkpoint {path} is corrupt: meta.json lacks its config, step or hashes")
        for f in ("model.safetensors", "state.safetensors"):
            current = path / f
            if _sha256(current) != meta["sha256"].get(f):
                raise UserError(f"checkpoint {path} is corrupt: {f} does not match its recorded hash")
        current = path / "model.safetensors"
        model = load_file(current)
        current = path / "state.safetensors"
        return model, load_file(current), meta
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} is incomplete: {current.name} is missing") from None
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise UserError(f"checkpoint {path} is damaged: {current.name} is truncated or corrupt "
                        f"({type(e).__name__})") from None


def load_latest(run_dir: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest checkpoint of a run that is complete and undamaged (path, model, state, meta), or None.

    A damaged one (files missing, truncated or not matching their hashes) is skipped with a warning."""
    found, skipped = newest_undamaged(run_dir)
    for reason in skipped:
        print(f"hyperinterp: warning: skipping damaged checkpoint: {reason}", file=sys.stderr)
    return found


def newest_undamaged(run_dir: Path) -> tuple[tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor],
                                                   dict[str, Any]] | None, list[str]]:
    """As `load_latest`, silently: (the newest undamaged checkpoint or None, why each newer one was skipped)."""
    skipped = []
    for path in reversed(list_steps(run_dir)):
        try:
            return (path, *load(path)), skipped
        except UserError as e:
            skipped.append(str(e))
    return None, skipped


def step_of(path: Path) -> int:
    """The training step of a checkpoint folder (from its name)."""
    return int(Path(path).name[len(STEP_PREFIX):])


def step_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"{STEP_PREFIX}{step:08d}"


def list_steps(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX))


def resolve(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its latest checkpoint)."""
    p = Path(path)
    if (p / "meta.json").is_file() or p.name.startswith(STEP_PREFIX):
        return p
    steps = list_steps(p)
    if not steps:
        raise UserError(f"no checkpoint found at {p}")
    return steps[-1]
