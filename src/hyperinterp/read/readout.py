"""The read-out of a saved networks file, kept beside it: labels (classify), fingerprints and directions (families).

The sweep computes both while its workers run in parallel and writes ``beta_X.readout.json`` next to
``beta_X.npz``; the report and `hyperinterp families` reuse them instead of recomputing (most of the
report's time). A saved read-out is used only for the same file bytes and the same code: each part
carries the hash of the source files that computed it, so any change to a rule recomputes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..generate import netfile
from . import classify, decode, directions, fingerprint, measure, netmath


def _source_id(*modules: Any) -> str:
    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in modules)).hexdigest()[:16]


CODE_ID = {"labels": _source_id(classify, measure, netmath),
           "fingerprints": _source_id(fingerprint, classify, measure, netmath),
           "directions": _source_id(directions, decode, fingerprint, classify, measure, netmath)}


def path(npz: str | Path) -> Path:
    return Path(npz).with_suffix(".readout.json")


def _sha(npz: Path) -> str:
    return hashlib.sha256(npz.read_bytes()).hexdigest()


def write(npz: str | Path, **parts: list[dict[str, Any]]) -> Path:
    """Save `labels=`, `fingerprints=` and/or `directions=` of the networks file `npz` beside it."""
    out = path(npz)
    record = {"npz_sha256": _sha(Path(npz)), **{k: {"code": CODE_ID[k], "items": v} for k, v in parts.items()}}
    netfile.atomic_write(out, lambda fh: fh.write(json.dumps(record).encode()))
    return out


def saved(npz: str | Path, part: str) -> list[dict[str, Any]] | None:
    """The saved `part` ("labels", "fingerprints" or "directions") of `npz` if it belongs to this file and this code."""
    try:
        record = json.loads(path(npz).read_text())
        entry = record[part]
        if entry["code"] == CODE_ID[part] and record["npz_sha256"] == _sha(Path(npz)):
            return entry["items"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def fingerprint_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """The fingerprint of every network of a loaded networks file, with its beta, bits and rel_mse if recorded."""
    opts = classify.file_options(meta, **kwargs)
    return _annotated(fingerprint.fingerprint_many(arrays["W"], arrays["b"], arrays["a"], arrays["c"], **opts), arrays)


def _annotated(fps: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    for k, fp in enumerate(fps):
        fp["index"] = k
        for key in ("beta", "bits", "rel_mse"):
            if key in arrays:  # NaN (plain-Adam networks have no bits) is None: valid JSON
                fp[key] = float(arrays[key][k]) if np.isfinite(arrays[key][k]) else None
    return fps


def read(arrays: dict[str, np.ndarray], meta: dict[str, Any], n_samples: int = 4096, seed: int = 0,
         with_directions: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(labels, fingerprints, directions) of every network of a loaded networks file, from ONE measurement of its
    networks: what `classify_arrays`, `fingerprint_arrays` and `directions.read_many` give apart (directions [] when
    not `with_directions`)."""
    opts = classify.file_options(meta)
    act, task = opts["activation"], opts["task"]
    d = measure.data(arrays["W"].shape[2], n_samples, seed, task, opts["input_dist"])
    labels, fps, dirs = [], [], []
    for M in measure.measure(arrays["W"], arrays["b"], arrays["a"], arrays["c"], act, d):
        labels.append(classify.of_measured(M, act, task, opts["input_dist"], n_samples, seed))
        fps.append(fingerprint.of_measured(M, act, task))
        if with_directions:
            dirs.append(directions.of_measured(M, act))
    return classify.annotated(labels, arrays), _annotated(fps, arrays), dirs


def labels(npz: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """`classify`'s result for every network of `npz` (loaded as arrays, meta): saved, or computed now."""
    return saved(npz, "labels") or classify.classify_arrays(arrays, meta)


def fingerprints(npz: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[dict[str, Any]]:
    return saved(npz, "fingerprints") or fingerprint_arrays(arrays, meta)


def directions_of(npz: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """`directions.read_many` of every network of `npz`: saved, or computed now."""
    return saved(npz, "directions") or directions.read_many(arrays["W"], arrays["b"], arrays["a"], arrays["c"],
                                                            **classify.file_options(meta))
