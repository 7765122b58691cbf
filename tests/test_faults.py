"""Faults: a run killed at random moments resumes bitwise; damaged checkpoints are never loaded;
non-finite losses, gradients or weights are recovered from, or stop the run cleanly."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY, run_cli, thread_env, tiny_sets
from safetensors.torch import load_file

from hyperinterp.errors import UserError
from hyperinterp.generate import checkpoint, config, train

# ---------------------------------------------------------------------------------- kill and resume

KILL_STEPS, KILL_EVERY = 80, 4
KILL_SETS = tiny_sets(f"optim.steps={KILL_STEPS}", f"optim.checkpoint_every={KILL_EVERY}", "optim.log_every=2",
                      "optim.threads=1")


def _steps(run):
    return [p.name for p in checkpoint.list_steps(run)]


def _tensors(path):
    return load_file(path)


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), key  # bitwise (no NaN can be in there: checked elsewhere)


def _assert_same_run(ref, run) -> None:
    assert _steps(run) == _steps(ref) == [f"step_{s:08d}" for s in range(0, KILL_STEPS + 1, KILL_EVERY)]
    for step in _steps(ref):  # every checkpoint, the last included: weights, Adam moments and RNG state
        for name in ("model.safetensors", "state.safetensors"):
            _assert_same_tensors(_tensors(ref / "checkpoints" / step / name),
                                 _tensors(run / "checkpoints" / step / name))
    # the metrics log has each record once, identical to the uninterrupted run's
    assert (run / "metrics.jsonl").read_text() == (ref / "metrics.jsonl").read_text()


def _kill_after(args: list[str], run, checkpoints: int, delay: float, env=None) -> None:
    """Start `hyperinterp train ARGS`, SIGKILL it `delay` s after `checkpoints` checkpoints exist."""
    proc = subprocess.Popen([sys.executable, "-m", "hyperinterp.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    while len(_steps(run)) < checkpoints and proc.poll() is None:
        time.sleep(0.003)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"not killed mid-run (rc {proc.returncode}): {err.decode()}"


# whatever torch's default thread count on the machine: the run pins optim.threads, and resume restores it. The
# OMP_NUM_THREADS=1 and =2 cases are `slow` (15-25 s each): the kills are omp_unset's, and a resume bitwise under
# another default thread count is test_resume_under_another_default_thread_count_is_bitwise's.
@pytest.mark.parametrize("omp", [None, pytest.param("1", marks=pytest.mark.slow),
                                 pytest.param("2", marks=pytest.mark.slow)], ids=["omp_unset", "omp_1", "omp_2"])
def test_run_killed_at_five_random_moments_resumes_bitwise(tmp_path, omp):
    ref, run, env = tmp_path / "ref", tmp_path / "run", thread_env(omp)
    done = run_cli("train", str(ref), "--quiet", *KILL_SETS, env=env)
    assert done.returncode == 0, done.stderr

    rng = random.Random(20240611)
    total = KILL_STEPS // KILL_EVERY + 1
    # kill once at least `target` checkpoints exist, plus a random delay: mid-step, mid-save, mid-log ...
    targets = sorted(rng.sample(range(1, total - 4), 5))
    args = ["train", str(run), "--quiet", *KILL_SETS]
    for target in targets:
        _kill_after(args, run, target, rng.uniform(0, 0.04), env)
        args = ["train", str(run), "--resume", "--quiet"]
    final = run_cli(*args, env=env)
    assert final.returncode == 0, final.stderr
    _assert_same_run(ref, run)
    assert json.loads(final.stdout.strip().splitlines()[-1])["steps"] == KILL_STEPS


def test_resume_under_another_default_thread_count_is_bitwise(tmp_path):
    """optim.threads = 0 (torch's default): the count the run started with is recorded and restored, so a
    resume on a machine (or shell) with another default computes as the original did."""
    sets = [s.replace("optim.threads=1", "optim.threads=0") for s in KILL_SETS]
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert run_cli("train", str(ref), "--quiet", *sets, env=thread_env("2")).returncode == 0
    _kill_after(["train", str(run), "--quiet", *sets], run, 4, 0.0, thread_env("2"))
    resumed = run_cli("train", str(run), "--resume", "--quiet", env=thread_env("1"))
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(ref, run)
    meta = json.loads((checkpoint.list_steps(run)[-1] / "meta.json").read_text())
    assert meta["arithmetic"]["threads"] == 2 and meta["arithmetic"]["device"] == "cpu"


# ---------------------------------------------------------------------------- damaged checkpoints


def _damage_truncate(ckpt):
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])


def _damage_missing_state(ckpt):
    (ckpt / "state.safetensors").unlink()


def _damage_meta(ckpt):
    (ckpt / "meta.json").write_text('{"config": {"task": ')


def _damage_no_meta(ckpt):
    (ckpt / "meta.json").unlink()


def _damage_empty(ckpt):
    shutil.rmtree(ckpt)
    ckpt.mkdir()


def _damage_flipped_byte(ckpt):
    data = bytearray((ckpt / "state.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (ckpt / "state.safetensors").write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_missing_state, _damage_meta, _damage_no_meta,
                                    _damage_empty, _damage_flipped_byte])
def test_resume_skips_half_written_checkpoints(tiny_run, tmp_path, capsys, damage):
    original, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(original, run)
    ckpts = run / "checkpoints"
    shutil.rmtree(ckpts / "step_00000020")          # the run "stopped" while writing step 15:
    damage(ckpts / "step_00000015")                 # its folder is damaged
    tmp = ckpts / ".tmp-k1ll3d"                     # and a temporary folder was left behind
    shutil.copytree(ckpts / "step_00000010", tmp)
    (tmp / "model.safetensors").write_bytes(b"\0" * 100)

    summary = train.train(config.load(None, TINY), run, resume=True, progress=False)
    assert "skipping damaged checkpoint" in capsys.readouterr().err
    assert summary["trained_steps"] == 10             # from step 10: the last complete checkpoint
    final = ckpts / "step_00000020"
    _assert_same_tensors(_tensors(final / "model.safetensors"),
                         _tensors(original / "checkpoints" / "step_00000020" / "model.safetensors"))
    checkpoint.load(ckpts / "step_00000015")         # rewritten whole by the resumed run


def test_every_checkpoint_damaged_is_a_clean_error(tiny_run, tmp_path, capsys):
    original, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(original, run)
    for step in checkpoint.list_steps(run):
        _damage_meta(step)
    with pytest.raises(UserError, match="every checkpoint is damaged"):
        train.train(config.load(None, TINY), run, resume=True, progress=False)


# -------------------------------------------------------------------------------- divergence guard


def _nan_loss(res, model):
    res.loss.data.fill_(float("nan"))


def _nan_grad(res, model):
    next(model.parameters()).grad.view(-1)[0] = float("nan")


def _nan_weight(res, model):
    with torch.no_grad():  # the step itself looks fine: the weights go bad
        model.w_head.weight.view(-1)[0] = float("nan")


def _all_checkpoints_finite(run) -> list[str]:
    names = []
    for step in checkpoint.list_steps(run):
        model, state, _ = checkpoint.load(step)
        for key, value in {**model, **state}.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), f"{step.name}: {key}"
        names.append(step.name)
    return names


@pytest.mark.parametrize("fault", [_nan_loss, _nan_grad, _nan_weight])
def test_one_non_finite_step_is_recovered(tmp_path, capsys, fault):
    seen = []

    def hook(step, model, res):
        seen.append(step)
        if step == 9 and seen.count(9) == 1:  # the step whose update the step-10 checkpoint would save
            fault(res, model)

    run = tmp_path / "run"
    summary = train.train(config.load(None, TINY), run, progress=False, fault_hook=hook)
    assert "restored step_00000005" in capsys.readouterr().out
    assert seen[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 6]   # back to the checkpoint before the fault
    assert summary["steps"] == 20
    assert _all_checkpoints_finite(run) == [f"step_{s:08d}" for s in (0, 5, 10, 15, 20)]
    _, _, meta = checkpoint.load(checkpoint.resolve(run))
    assert meta["lr_scale"] == 0.5                          # and continued with a smaller step


@pytest.mark.parametrize("fault", [_nan_loss, _nan_weight])
def test_persistent_nan_stops_cleanly_and_never_saves_it(tmp_path, fault):
    def hook(step, model, res):
        if step >= 9:
            fault(res, model)

    run = tmp_path / "run"
    with pytest.raises(train.TrainingDiverged) as e:
        train.train(config.load(None, TINY), run, progress=False, fault_hook=hook)
    assert isinstance(e.value, UserError)
    assert "diverged" in str(e.value) and "\n" not in str(e.value)
    assert _all_checkpoints_finite(run) == ["step_00000000", "step_00000005"]


def test_divergence_from_the_command_line_is_one_line_exit_2(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", str(run), "--quiet", *tiny_sets("optim.lr=1e30"))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperinterp: error: training diverged"), proc.stderr
    assert _all_checkpoints_finite(run) == ["step_00000000"]


def test_saving_a_step_again_replaces_it_and_leaves_nothing_aside(tmp_path):
    weights = {"w": torch.arange(3.0)}
    first = checkpoint.save(tmp_path, 5, weights, {"s": torch.zeros(1)}, {"config": {}})
    again = checkpoint.save(tmp_path, 5, {"w": torch.ones(3)}, {"s": torch.zeros(1)}, {"config": {}})
    assert again == first
    model, _, meta = checkpoint.load(again)
    assert torch.equal(model["w"], torch.ones(3)) and meta["step"] == 5
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [first.name]  # no .tmp- left behind


def test_a_failed_save_of_a_step_again_keeps_the_old_one(tmp_path, monkeypatch):
    first = checkpoint.save(tmp_path, 5, {"w": torch.arange(3.0)}, {"s": torch.zeros(1)}, {"config": {}})
    rename = checkpoint.os.rename

    def failing(src, dst):
        if str(dst) == str(first) and ".tmp-old" not in str(src):  # the new folder taking the step's name
            raise OSError("disk full")
        return rename(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", failing)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path, 5, {"w": torch.ones(3)}, {"s": torch.zeros(1)}, {"config": {}})
    monkeypatch.setattr(checkpoint.os, "rename", rename)
    model, _, _ = checkpoint.load(first)
    assert torch.equal(model["w"], torch.arange(3.0))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [first.name]
