"""Hostile input through the real command line: exit 2, one line `hyperinterp: error: ...` naming the problem,
no traceback, and nothing on disk changed (every case runs in a fresh folder that is compared byte for byte)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, tiny_sets
from safetensors.torch import load_file, save_file

from hyperinterp import cli
from hyperinterp.generate import netfile

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------------------------- helpers


def _good_arrays(k: int = 2, m: int = 6, n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"W": rng.standard_normal((k, m, n)).astype(np.float32), "b": rng.standard_normal((k, m)).astype(np.float32),
            "a": rng.standard_normal((k, m)).astype(np.float32), "c": np.zeros(k, np.float32),
            "beta": np.full(k, 1e-3, np.float32), "bits": np.full(k, 50.0, np.float32)}


def _npz(path: Path, meta: object = None, **changes) -> Path:
    """A networks file written with numpy directly (so it can be wrong in any way); None drops a key."""
    arrays = {**_good_arrays(), **changes}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    meta = {"task": "l1", "activation": "silu", "n": 4, "m": 6} if meta is None else meta
    np.savez(path, **arrays, meta=np.array(meta if isinstance(meta, str) else json.dumps(meta)))
    return path


def _existing(tmp: Path) -> Path:
    """A result already on disk, which no failing command may touch."""
    return netfile.save(tmp / "existing.npz", _good_arrays(), {"task": "l1", "activation": "silu"})


def _ckpt(tmp: Path, run: Path) -> Path:
    """A private copy of the tiny run's last checkpoint, to damage."""
    dst = tmp / "ckpt" / "step_00000020"
    shutil.copytree(run / "checkpoints" / "step_00000020", dst)
    return dst


def _edit_meta(ckpt: Path, edit) -> None:
    meta = json.loads((ckpt / "meta.json").read_text())
    edit(meta)
    (ckpt / "meta.json").write_text(json.dumps(meta))


def _sample(tmp: Path, source: Path | str, *extra: str) -> list[str]:
    return ["sample", str(source), "--beta", "1e-3", "--count", "2", "--out", str(_existing(tmp)), *extra]


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# -------------------------------------------------------------------------------------- the cases
# Each builds its files in a fresh folder and returns (argv, words the error must contain).


def _c_truncated_model(t, run):
    ck = _ckpt(t, run)
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[:100])
    return _sample(t, ck), "model.safetensors"


def _c_sha_mismatch(t, run):
    ck = _ckpt(t, run)
    tensors = load_file(ck / "model.safetensors")
    save_file({k: v + 1 for k, v in tensors.items()}, ck / "model.safetensors")  # valid file, other weights
    return _sample(t, ck), "hash"


def _c_config_mismatch(t, run):
    ck = _ckpt(t, run)
    _edit_meta(ck, lambda m: m["config"]["hyper"].__setitem__("width", 9))
    return _sample(t, ck), "does not match its recorded configuration"


def _c_meta_bad_config(t, run):
    ck = _ckpt(t, run)
    _edit_meta(ck, lambda m: m["config"]["task"].__setitem__("nn", 4))
    return _sample(t, ck), "task.nn"


def _c_meta_no_config(t, run):
    ck = _ckpt(t, run)
    _edit_meta(ck, lambda m: m.pop("config"))
    return _sample(t, ck), "meta.json"


def _c_meta_corrupt(t, run):
    ck = _ckpt(t, run)
    (ck / "meta.json").write_text("{not json")
    return _sample(t, ck), "corrupt"


def _c_meta_list(t, run):
    ck = _ckpt(t, run)
    (ck / "meta.json").write_text("[1, 2]")
    return _sample(t, ck), "meta.json"


def _c_missing_model_file(t, run):
    ck = _ckpt(t, run)
    (ck / "model.safetensors").unlink()
    return _sample(t, ck), "model.safetensors is missing"


def _c_run_every_checkpoint_damaged(t, run):
    dst = t / "run"
    shutil.copytree(run, dst)
    for ck in (dst / "checkpoints").iterdir():
        (ck / "state.safetensors").write_bytes(b"")
    return _sample(t, dst), "every checkpoint is damaged"


def _config_file(t, text):
    p = t / "c.toml"
    p.write_text(text)
    return ["train", str(t / "new_run"), "--config", str(p)]


CASES = {
    # --- names and numbers
    "unknown task": lambda t, run: (["train", str(t / "r"), *tiny_sets('task.name="l7"')], "unknown task 'l7'"),
    "unknown activation": lambda t, run: (["train", str(t / "r"), "--set", 'task.activation="gelu"'], "'gelu'"),
    "unknown input dist": lambda t, run: (["train", str(t / "r"), "--set", 'task.input_dist="cauchy"'], "cauchy"),
    "train n<1": lambda t, run: (["train", str(t / "r"), "--set", "task.n=0"], "input size n"),
    "train m<1": lambda t, run: (["train", str(t / "r"), "--set", "task.m=-2"], "hidden width m"),
    "train beta 0": lambda t, run: (["train", str(t / "r"), "--set", "budget.beta=0"], "budget.beta"),
    "train beta nan": lambda t, run: (["train", str(t / "r"), "--set", "budget.beta_max=nan"], "budget.beta_max"),
    "train seed too big": lambda t, run: (["train", str(t / "r"), "--set", "optim.seed=18446744073709551616"],
                                          "optim.seed"),
    "sample n<1": lambda t, run: (_sample(t, run, "--n", "0"), "--n"),
    "sample m<1": lambda t, run: (_sample(t, run, "--m", "-1"), "--m"),
    "sample beta 0": lambda t, run: (_sample(t, run)[:3] + ["0"] + _sample(t, run)[4:], "--beta"),
    "sample beta negative": lambda t, run: (["sample", str(run), "--beta=-1", "--out", str(_existing(t))], "--beta"),
    "sample beta nan": lambda t, run: (["sample", str(run), "--beta", "nan", "--out", str(_existing(t))], "--beta"),
    "sample beta inf": lambda t, run: (["sample", str(run), "--beta", "inf", "--out", str(_existing(t))], "--beta"),
    "sample beta text": lambda t, run: (["sample", str(run), "--beta", "small", "--out", str(_existing(t))],
                                        "not a number"),
    "sample count 0": lambda t, run: (_sample(t, run, "--count", "0"), "--count"),
    "sample seed huge": lambda t, run: (_sample(t, run, "--seed", str(2**64)), "seed"),
    "sample weights": lambda t, run: (_sample(t, run, "--weights", "median"), "--weights"),
    "unknown subcommand": lambda t, run: (["tarin", str(t / "r")], "tarin"),
    "no subcommand": lambda t, run: ([], "command"),
    # --- checkpoints
    "missing checkpoint": lambda t, run: (_sample(t, t / "nowhere"), "no checkpoint found"),
    "missing step folder": lambda t, run: (_sample(t, t / "step_00000100"), "not found"),
    "empty run folder": lambda t, run: ((t / "empty_run").mkdir() or _sample(t, t / "empty_run"), "no checkpoint"),
    "truncated model.safetensors": _c_truncated_model,
    "sha mismatch": _c_sha_mismatch,
    "config does not match weights": _c_config_mismatch,
    "checkpoint config unknown key": _c_meta_bad_config,
    "checkpoint meta without config": _c_meta_no_config,
    "corrupt meta.json": _c_meta_corrupt,
    "meta.json a list": _c_meta_list,
    "checkpoint without model.safetensors": _c_missing_model_file,
    "run whose every checkpoint is damaged": _c_run_every_checkpoint_damaged,
    "sample more than memory holds": lambda t, run: (_sample(t, run, "--count", "100000000"), "GiB of memory"),
    "sample n more than memory holds": lambda t, run: (_sample(t, run, "--n", "10000000", "--m", "10000"),
                                                       "GiB of memory"),
    # --- configuration files and overrides
    "config unknown key": lambda t, run: (_config_file(t, "[task]\nname = 'l1'\nsize = 4\n"), "task.size"),
    "config unknown section": lambda t, run: (_config_file(t, "[tasks]\nn = 4\n"), "'tasks'"),
    "config wrong type": lambda t, run: (_config_file(t, "[optim]\nsteps = 'many'\n"), "optim.steps"),
    "config not a table": lambda t, run: (_config_file(t, "task = 3\n"), "'task'"),
    "config invalid TOML": lambda t, run: (_config_file(t, "[task\nn = 4\n"), "not valid TOML"),
    "config binary": lambda t, run: (_config_file(t, "") and (t / "c.toml").write_bytes(b"\xff\xfe\x00")
                                     and ["train", str(t / "r"), "--config", str(t / "c.toml")], "not valid TOML"),
    "config missing": lambda t, run: (["train", str(t / "r"), "--config", str(t / "none.toml")], "not found"),
    "config is a folder": lambda t, run: (["train", str(t / "r"), "--config", str(t)], "not found"),
    "set without =": lambda t, run: (["train", str(t / "r"), "--set", "task.n"], "section.key=value"),
    "set without section": lambda t, run: (["train", str(t / "r"), "--set", "n=4"], "section.key=value"),
    "set pools unhashable": lambda t, run: (["train", str(t / "r"), "--set", "hyper.pools=[[1]]"], "hyper.pools"),
    # --- outputs
    "sample out in missing folder": lambda t, run: (["sample", str(run), "--beta", "1e-3", "--out",
                                                     str(t / "no" / "such" / "x.npz")], "does not exist"),
    "sample out is a folder": lambda t, run: ((t / "dir.npz").mkdir() or
                                              ["sample", str(run), "--beta", "1e-3", "--out", str(t / "dir.npz")],
                                              "is a folder"),
    "draw out in missing folder": lambda t, run: (["draw", str(_npz(t / "n.npz")), "--out", str(t / "a" / "b")],
                                                  "does not exist"),
    "draw out is a file": lambda t, run: (["draw", str(_npz(t / "n.npz")), "--out", str(_existing(t))],
                                          "is a file"),
    # --- networks files (classify and draw)
    "npz missing key": lambda t, run: (["classify", str(_npz(t / "n.npz", a=None))], "'a'"),
    "npz W not 3-d": lambda t, run: (["classify", str(_npz(t / "n.npz", W=np.zeros((6, 4), np.float32)))], "W"),
    "npz wrong shape": lambda t, run: (["classify", str(_npz(t / "n.npz", b=np.zeros((2, 5), np.float32)))],
                                       "b must have shape"),
    "npz string weights": lambda t, run: (["classify", str(_npz(t / "n.npz", c=np.array(["x", "y"])))],
                                          "c must be floating"),
    "npz string bits": lambda t, run: (["classify", str(_npz(t / "n.npz", bits=np.array(["x", "y"])))],
                                       "bits must be numeric"),
    "npz NaN": lambda t, run: (["classify", str(_npz(t / "n.npz", W=np.full((2, 6, 4), np.nan, np.float32)))],
                               "NaN"),
    "npz Inf": lambda t, run: (["draw", str(_npz(t / "n.npz", a=np.full((2, 6), np.inf, np.float32))),
                                "--out", str(t / "pics")], "Inf"),
    "npz no networks": lambda t, run: (["classify", str(_npz(t / "n.npz", W=np.zeros((0, 6, 4), np.float32),
                                                             b=np.zeros((0, 6), np.float32),
                                                             a=np.zeros((0, 6), np.float32),
                                                             c=np.zeros(0, np.float32), beta=None, bits=None))],
                                       "no networks"),
    "npz object array": lambda t, run: (np.savez(t / "n.npz", W=np.array([{}, 1], dtype=object)) or
                                        ["classify", str(t / "n.npz")], "not a readable"),
    "npz meta n contradicts W": lambda t, run: (["classify", str(_npz(t / "n.npz", meta={"n": 5, "m": 6}))],
                                                "meta says n = 5 but W has n = 4"),
    "npz meta m contradicts W": lambda t, run: (["draw", str(_npz(t / "n.npz", meta={"n": 4, "m": 7})),
                                                 "--out", str(t / "pics")], "meta says m = 7 but W has m = 6"),
    "npz meta not JSON": lambda t, run: (["classify", str(_npz(t / "n.npz", meta="{task: l1"))], "meta"),
    "npz meta a list": lambda t, run: (["classify", str(_npz(t / "n.npz", meta=[1]))], "meta"),
    "npz unknown activation": lambda t, run: (["classify", str(_npz(t / "n.npz", meta={"activation": "tanh"}))],
                                              "'tanh'"),
    "npz unknown task": lambda t, run: (["draw", str(_npz(t / "n.npz", meta={"task": "l9"})), "--out",
                                         str(t / "pics")], "'l9'"),
    "text file named .npz": lambda t, run: ((t / "n.npz").write_text("W = [[1, 2]]\n") and
                                            ["classify", str(t / "n.npz")], "not a readable"),
    "truncated .npz": lambda t, run: ((t / "n.npz").write_bytes(_npz(t / "full.npz").read_bytes()[:300]) and
                                      ["classify", str(t / "n.npz")], "not a readable"),
    "empty .npz": lambda t, run: ((t / "n.npz").touch() or ["draw", str(t / "n.npz"), "--out", str(t / "p")],
                                  "not a readable"),
    ".npy named .npz": lambda t, run: (np.save(t / "n.npy", np.zeros(3)) or os.replace(t / "n.npy", t / "n.npz") or
                                       ["classify", str(t / "n.npz")], "not a readable"),
    "zip without arrays": lambda t, run: (zipfile.ZipFile(t / "n.npz", "w").writestr("x.txt", "hi") or
                                          ["classify", str(t / "n.npz")], "'W'"),
    "missing .npz": lambda t, run: (["classify", str(t / "none.npz")], "not found"),
    "npz is a folder": lambda t, run: ((t / "d.npz").mkdir() or ["classify", str(t / "d.npz")], "not found"),
    # --- training folders
    "resume without checkpoints": lambda t, run: ((t / "r").mkdir() or ["train", str(t / "r"), "--resume"],
                                                  "nothing to resume"),
    "resume missing folder": lambda t, run: (["train", str(t / "r"), "--resume"], "nothing to resume"),
    "resume with --set": lambda t, run: (["train", str(t / "r"), "--resume", "--set", "task.n=3"], "drop"),
    "train into a run with checkpoints": lambda t, run: (shutil.copytree(run, t / "r") and
                                                         ["train", str(t / "r"), *tiny_sets()], "--resume"),
    "train into a file": lambda t, run: (["train", str(_existing(t)), *tiny_sets()], "is a file"),
    "train parent missing": lambda t, run: (["train", str(t / "a" / "b"), *tiny_sets()], "does not exist"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_damages_nothing(name, tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    ws = tmp_path / "ws"
    ws.mkdir()
    argv, expected = CASES[name](ws, run)
    before, run_before = _snapshot(ws), _snapshot(run)
    code, out, err = _run([str(a) for a in argv], capsys)
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hyperinterp: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert _snapshot(ws) == before     # no file changed, created (temporaries included) or removed
    assert _snapshot(run) == run_before


# ------------------------------------------------------------- works, with one warning line
# Each returns (argv, words the warning must contain, whether meta records extrapolated: true).


def _w_run_latest_damaged(t, run):
    dst = t / "damaged_run"
    shutil.copytree(run, dst)
    (dst / "checkpoints" / "step_00000020" / "state.safetensors").write_bytes(b"")
    return ["sample", str(dst), "--beta", "1e-3", "--count", "2", "--out", str(t / "new.npz")], "step_00000020", False


def _w_sample(t, *extra):
    return ["sample", str(t / "run"), "--count", "2", "--out", str(t / "new.npz"), *extra]


WARNING_CASES = {
    "beta above the trained range": lambda t, run: (_w_sample(t, "--beta", "1"), "outside the trained range", True),
    "beta below the trained range": lambda t, run: (_w_sample(t, "--beta", "1e-9"), "beta=1e-09", True),
    "n far outside the trained size": lambda t, run: (_w_sample(t, "--beta", "1e-3", "--n", "300"),
                                                      "n=300 is outside the trained sizes 4", True),
    "m far outside the trained width": lambda t, run: (_w_sample(t, "--beta", "1e-3", "--m", "200"),
                                                       "m=200", True),
    "run whose latest checkpoint is damaged": _w_run_latest_damaged,
}


@pytest.mark.parametrize("name", sorted(WARNING_CASES))
def test_questionable_input_works_with_one_warning_line(name, tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "run").symlink_to(run)
    argv, expected, extrapolated = WARNING_CASES[name](ws, run)
    before = _snapshot(run)
    code, out, err = _run([str(a) for a in argv], capsys)
    assert code == 0, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperinterp: warning: "), err
    assert expected in lines[0], lines[0]
    assert _snapshot(run) == before
    data, meta = netfile.load(ws / "new.npz")
    assert meta["extrapolated"] is extrapolated
    assert np.isfinite(data["W"]).all()


def test_inside_the_trained_range_no_warning_and_not_extrapolated(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    code, _, err = _run(["sample", str(run), "--beta", "1e-3", "--count", "2", "--out", str(tmp_path / "x.npz")],
                        capsys)
    assert code == 0 and err == ""
    assert netfile.load(tmp_path / "x.npz")[1]["extrapolated"] is False


def test_there_are_at_least_30_distinct_cases():
    assert len(CASES) >= 30


@pytest.mark.skipif(IS_ROOT, reason="running as root: read-only permissions are not enforced")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_output_is_refused(what, tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    out = _existing(tmp_path)
    before = out.read_bytes()
    target = out if what == "file" else tmp_path
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        code, _, err = _run(["sample", str(run), "--beta", "1e-3", "--count", "2", "--out", str(out)], capsys)
    finally:
        target.chmod(mode)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("hyperinterp: error: ")
    assert ("read-only" if what == "file" else "not writable") in err
    assert out.read_bytes() == before


@pytest.mark.parametrize("argv", [
    ["sample", "{run}", "--beta", "nan", "--out", "{tmp}/x.npz"],
    ["classify", "{bad}"],
])
def test_a_fresh_process_prints_one_line_and_no_warning(argv, tiny_run, tmp_path):
    """The in-process cases above cannot see what the interpreter itself prints (warnings at import...)."""
    run, _ = tiny_run
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    proc = run_cli(*[a.format(run=run, tmp=tmp_path, bad=bad) for a in argv])
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("hyperinterp: error: "), proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "x.npz").exists()


def test_atomic_write_respects_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = netfile.save(tmp_path / "a.npz", _good_arrays(), {})
        assert p.stat().st_mode & 0o777 == 0o640
        os.umask(0o022)
        q = netfile.save(tmp_path / "b.npz", _good_arrays(), {})
        assert q.stat().st_mode & 0o777 == 0o644
        # replacing a file keeps that file's permissions, as writing into it would
        q.chmod(0o600)
        netfile.save(q, _good_arrays(k=3), {})
        assert q.stat().st_mode & 0o777 == 0o600
        assert np.load(q)["W"].shape[0] == 3
    finally:
        os.umask(old)
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
