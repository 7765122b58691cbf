"""The exported-networks file: one `.npz` that numpy alone can read (a public interface).

Arrays, for K networks of width m on n inputs:
  W (K,m,n), b (K,m), a (K,m), c (K,)   the weights: f(x) = sum_j a_j phi(W_j . x + b_j) + c
  beta (K,), bits (K,), mse (K,)        budget, description length, MSE on fresh data
  rel_mse (K,)                          mse / Var(y) on the same data
  meta ()                               a JSON object as a unicode string: task, input_dist,
                                        activation, n, m, seed, checkpoint, weights, source, ...
Read it with: f = np.load(path); meta = json.loads(str(f["meta"])).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

WEIGHT_KEYS = ("W", "b", "a", "c")
PER_NET_KEYS = ("beta", "bits", "mse", "rel_mse")
FORMAT_VERSION = 1


def check_out_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.parent.is_dir():
        raise UserError(f"output folder {p.parent} does not exist")
    if p.is_dir():
        raise UserError(f"output path {p} is a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"output file {p} is read-only")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise UserError(f"output folder {p.parent} is not writable")
    return p


def _new_file_mode(path: Path) -> int:
    """The mode a plain `open(path, "w")` would give: the existing file's, or 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file."""
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp makes a private (0600) file
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    p = check_out_path(path)
    meta = {"format": "hyperinterp-networks", "format_version": FORMAT_VERSION, **meta}
    data = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    validate(data, str(p))
    data["meta"] = np.array(json.dumps(meta))
    try:
        atomic_write(p, lambda fh: np.savez(fh, **data))
    except PermissionError:
        raise UserError(f"cannot write {p}: permission denied") from None
    return p


def validate(data: dict[str, np.ndarray], where: str) -> None:
    for key in WEIGHT_KEYS:
        if key not in data:
            raise UserError(f"{where}: missing array {key!r}")
    W = data["W"]
    if W.ndim != 3:
        raise UserError(f"{where}: W must have shape (K,m,n), got {W.shape}")
    k, m, n = W.shape
    if min(k, m, n) < 1:
        raise UserError(f"{where}: W has shape {W.shape}: no networks, neurons or inputs")
    expected = {"b": (k, m), "a": (k, m), "c": (k,), **{key: (k,) for key in PER_NET_KEYS}}
    for key, shape in expected.items():
        if key in data and data[key].shape != shape:
            raise UserError(f"{where}: {key} must have shape {shape}, got {data[key].shape}")
    for key in PER_NET_KEYS:
        if key in data and not (np.issubdtype(data[key].dtype, np.floating)
                                or np.issubdtype(data[key].dtype, np.integer)):
            raise UserError(f"{where}: {key} must be numeric, got {data[key].dtype}")
    for key in WEIGHT_KEYS:
        if not np.issubdtype(data[key].dtype, np.floating):
            raise UserError(f"{where}: {key} must be floating point, got {data[key].dtype}")
        if not np.all(np.isfinite(data[key])):
            raise UserError(f"{where}: {key} contains NaN or Inf")


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and check a networks file; any problem is a one-line UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"networks file {p} not found")
    try:
        with np.load(p, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, TypeError, AttributeError) as e:
        # TypeError/AttributeError: a plain .npy (one array, not an archive) under an .npz name
        raise UserError(f"{p} is not a readable .npz networks file ({type(e).__name__})") from None
    meta: dict[str, Any] = {}
    if "meta" in data:
        try:
            meta = json.loads(str(data.pop("meta")))
        except json.JSONDecodeError:
            raise UserError(f"{p}: meta is not a JSON string") from None
        if not isinstance(meta, dict):
            raise UserError(f"{p}: meta must be a JSON object")
    validate(data, str(p))
    _, m, n = data["W"].shape
    for key, actual in (("n", n), ("m", m)):
        if key in meta and meta[key] != actual:
            raise UserError(f"{p}: meta says {key} = {meta[key]!r} but W has {key} = {actual}")
    meta.setdefault("activation", "silu")
    return data, meta
