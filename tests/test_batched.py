"""The batched multi-seed trainer (`hyperinterp train-batch`): each seed follows its solo `train.train` run, its
folder is an ordinary run folder, and a resumed batch ends where an uninterrupted one ends."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file

from hyperinterp import cli
from hyperinterp.generate import batched, checkpoint, config, kernels, sample, train

# float32 rounding differs between a seed's stacked (bmm) and solo (mm) arithmetic; after 30 Adam steps the
# parameters agree to about 4e-7 of each tensor's largest entry (measured), asserted with margin
TOLERANCE = 1e-5


def _tiny(*extra: str) -> config.Config:
    return config.load(None, [*TINY, "optim.steps=30", "optim.checkpoint_every=10", "optim.log_every=10", *extra])


def _final(run) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    ckpt = checkpoint.list_steps(run)[-1]
    return load_file(ckpt / "model.safetensors"), load_file(ckpt / "state.safetensors")


def _max_relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    # the slot scores' bias shifts every score alike, which the Sinkhorn balance removes: its gradient is zero
    # but for rounding, which Adam's normalised step turns into steps of lr either way (3 steps: 2e-3 of the
    # tensor's largest entry, measured). The generated networks do not see it.
    a, b = ({k: v[1:] if k == "slot_head.bias" else v for k, v in d.items()} for d in (a, b))
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)) for k in a)


@pytest.mark.parametrize("extra", [(), ("task.train_sizes=[4,6]", "budget.anneal_steps=7", "hyper.sign_split=true"),
                                   ("hyper.slot_sinkhorn=3", "hyper.sign_split=true", "hyper.slot_signs=split",
                                    "hyper.skip_until=20", "hyper.out_per_norm=true", "hyper.c_per_neuron=true")],
                         ids=["default", "sizes_anneal_signs", "slots_skip_decay"])
def test_each_seed_follows_its_solo_run(tmp_path, extra):
    cfg = _tiny(*extra)
    batched.train_batch(cfg, tmp_path / "batch", [0, 1, 2], progress=False)
    for seed in (0, 1, 2):
        train.train(batched.seed_config(cfg, seed), tmp_path / f"solo_{seed}", progress=False)
        solo, together = _final(tmp_path / f"solo_{seed}"), _final(tmp_path / "batch" / f"seed_{seed}")
        assert _max_relative_difference(solo[0], together[0]) < TOLERANCE, seed
        # the same random numbers: every draw came from the seed's own generator, in the solo order
        assert torch.equal(solo[1]["rng"], together[1]["rng"])
        steps = [json.loads(line)["step"] for line in (tmp_path / f"solo_{seed}" / "metrics.jsonl").open()]
        assert steps == [json.loads(line)["step"]
                         for line in (tmp_path / "batch" / f"seed_{seed}" / "metrics.jsonl").open()]
        assert json.loads((tmp_path / "batch" / f"seed_{seed}" / "config.json").read_text())["optim"]["seed"] == seed


def test_a_diverging_seed_recovers_as_alone_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    """The divergence guard per seed: seed 1's weights turn NaN before its step 9; it goes back to its step-5
    checkpoint with half the step size, exactly as a solo run with a non-finite loss at step 9 does, while
    seeds 0 and 2 train on undisturbed (the draws made ahead for seed 1 are discarded)."""
    step, calls = batched.SeedStack.step, []

    def poisoned(self, staged, anneal, lrs, skips=None):
        calls.append(len(calls))
        if len(calls) == 10:
            with torch.no_grad():
                self.flat[1] = float("nan")
        return step(self, staged, anneal, lrs, skips)

    monkeypatch.setattr(batched.SeedStack, "step", poisoned)
    cfg = _tiny("optim.checkpoint_every=5")
    batched.train_batch(cfg, tmp_path / "batch", [0, 1, 2], progress=False)
    assert "restored step_00000005" in capsys.readouterr().out
    monkeypatch.undo()
    seen = []

    def nan_loss_at_9(s, model, res):
        seen.append(s)
        if s == 9 and seen.count(9) == 1:
            res.loss.data.fill_(float("nan"))

    for seed in (0, 1, 2):
        train.train(batched.seed_config(cfg, seed), tmp_path / f"solo_{seed}", progress=False,
                    fault_hook=nan_loss_at_9 if seed == 1 else None)
        solo, together = _final(tmp_path / f"solo_{seed}"), _final(tmp_path / "batch" / f"seed_{seed}")
        assert _max_relative_difference(solo[0], together[0]) < TOLERANCE, seed
        assert torch.equal(solo[1]["rng"], together[1]["rng"]), seed
        lr_scale = json.loads((checkpoint.list_steps(tmp_path / "batch" / f"seed_{seed}")[-1] / "meta.json")
                              .read_text())["lr_scale"]
        assert lr_scale == (0.5 if seed == 1 else 1.0)


def test_resumed_batch_ends_where_an_uninterrupted_batch_ends(tmp_path, capsys):
    sets = [a for item in [*TINY, "optim.steps=20", "optim.checkpoint_every=5"] for a in ("--set", item)]
    full = tmp_path / "full"
    assert cli.main(["train-batch", str(full), "--seeds", "0", "1", "2", "--quiet", *sets]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seeds"] == [0, 1, 2]
    # a batch killed after step 10, seed 1 before its step-10 checkpoint: the seeds resume at different steps
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    for seed, last in ((0, 10), (1, 5), (2, 10)):
        for ckpt in checkpoint.list_steps(cut / f"seed_{seed}"):
            if checkpoint.step_of(ckpt) > last:
                shutil.rmtree(ckpt)
    assert cli.main(["train-batch", str(cut), "--resume", "--quiet"]) == 0
    for seed in (0, 1, 2):
        a, b = _final(full / f"seed_{seed}"), _final(cut / f"seed_{seed}")
        # bitwise: weights, Adam moments and generator (seed 1 alone for steps 5..9 computes each seed's slice
        # of the stacked matmuls as the three together do)
        for part, part_b in zip(a, b, strict=True):
            assert part.keys() == part_b.keys() and all(torch.equal(part[k], part_b[k]) for k in part), seed
        assert (full / f"seed_{seed}" / "metrics.jsonl").read_text().count("\n") == \
            (cut / f"seed_{seed}" / "metrics.jsonl").read_text().count("\n")


def test_a_seed_folder_is_a_run_folder(tmp_path, capsys):
    cfg = config.load(None, [*TINY, "optim.steps=5"])
    batched.train_batch(cfg, tmp_path / "batch", [3, 4], progress=False)
    out = tmp_path / "nets.npz"
    assert cli.main(["sample", str(tmp_path / "batch" / "seed_4"), "--beta", "1e-3", "--count", "4",
                     "--out", str(out)]) == 0
    assert out.is_file() and "wrote 4 networks" in capsys.readouterr().out
    _, _, meta = checkpoint.load(checkpoint.resolve(tmp_path / "batch" / "seed_4"))
    assert meta["seed"] == 4 and meta["command"].startswith("hyperinterp train-batch")
    # and `train --resume` continues it alone
    assert train.train(cfg, tmp_path / "batch" / "seed_3", resume=True, progress=False)["steps"] == 5


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0", "0"], "a seed twice"),
    ([], "name the seeds"),
    (["--resume", "--set", "optim.steps=3"], "drop --config/--set"),
    (["--resume"], "nothing to resume"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    assert cli.main(["train-batch", str(tmp_path / "b"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hyperinterp: error:") and message in err, err


@pytest.mark.slow
def test_compiled_batch_follows_the_eager_batch(tmp_path):
    """optim.compile: the stacked objective compiled as a whole (one graph for every seed) trains as the eager one,
    to the float32 rounding of fused kernels."""
    cfg = _tiny("optim.steps=10", "optim.checkpoint_every=10")
    batched.train_batch(cfg, tmp_path / "eager", [0, 1], progress=False)
    compiled = config.load(None, [*TINY, "optim.steps=10", "optim.checkpoint_every=10", "optim.log_every=10",
                                  "optim.compile=true"])
    batched.train_batch(compiled, tmp_path / "compiled", [0, 1], progress=False)
    for seed in (0, 1):
        a, b = _final(tmp_path / "eager" / f"seed_{seed}"), _final(tmp_path / "compiled" / f"seed_{seed}")
        assert _max_relative_difference(a[0], b[0]) < TOLERANCE
        assert torch.equal(a[1]["rng"], b[1]["rng"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_cuda_batch_follows_the_cpu_batch(tmp_path, compile):
    """train-batch on a GPU (draws in threads, one stacked step, optionally compiled) trains as on the CPU, to the
    rounding of another device; its seed folders sample on the CPU."""
    sets = ("optim.steps=6", "optim.checkpoint_every=3", "optim.log_every=3")
    batched.train_batch(_tiny(*sets), tmp_path / "cpu", [0, 1, 2], progress=False)
    gpu = _tiny(*sets, 'optim.device="cuda"', f"optim.compile={str(compile).lower()}")
    batched.train_batch(gpu, tmp_path / "cuda", [0, 1, 2], progress=False)
    for seed in (0, 1, 2):
        a, b = _final(tmp_path / "cpu" / f"seed_{seed}"), _final(tmp_path / "cuda" / f"seed_{seed}")
        assert _max_relative_difference(a[0], b[0]) < 1e-3, seed
        assert torch.equal(a[1]["rng"], b[1]["rng"])
    model, cfg, _ = sample.load_model(tmp_path / "cuda" / "seed_0", device="cpu")
    arrays, _ = sample.sample(model, cfg, beta=1e-3, n=4, m=8, count=3, seed=0)
    assert arrays["W"].shape == (3, 8, 4)


def test_rng_option(tmp_path):
    """optim.rng = "device": the generator lives where the model trains (on a CPU, the CPU generator: the same run);
    anything else is an error."""
    sets = ("optim.steps=6", "optim.checkpoint_every=3", "optim.log_every=3")
    batched.train_batch(_tiny(*sets), tmp_path / "cpu", [0, 1], progress=False)
    batched.train_batch(_tiny(*sets, 'optim.rng="device"'), tmp_path / "device", [0, 1], progress=False)
    for seed in (0, 1):
        a, b = _final(tmp_path / "cpu" / f"seed_{seed}"), _final(tmp_path / "device" / f"seed_{seed}")
        assert all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and torch.equal(a[1]["rng"], b[1]["rng"])
    with pytest.raises(config.UserError, match="optim.rng"):
        config.load(None, ['optim.rng="gpu"'])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_batch_follows_its_solo_runs_and_resumes(tmp_path):
    """optim.rng = "device" on a GPU: each seed draws from its own CUDA generator, as a solo CUDA run with the same
    option does, and a resumed batch ends where an uninterrupted one ends."""
    cfg = _tiny("optim.steps=12", "optim.checkpoint_every=4", 'optim.device="cuda"', 'optim.rng="device"')
    batched.train_batch(cfg, tmp_path / "batch", [0, 1, 2], progress=False)
    for seed in (0, 2):
        train.train(batched.seed_config(cfg, seed), tmp_path / f"solo_{seed}", progress=False)
        solo, together = _final(tmp_path / f"solo_{seed}"), _final(tmp_path / "batch" / f"seed_{seed}")
        assert _max_relative_difference(solo[0], together[0]) < 1e-4, seed
        assert torch.equal(solo[1]["rng"], together[1]["rng"])
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "batch", cut)
    for seed in (0, 1, 2):
        for ckpt in checkpoint.list_steps(cut / f"seed_{seed}"):
            if checkpoint.step_of(ckpt) > 4:
                shutil.rmtree(ckpt)
    batched.train_batch(None, cut, resume=True, progress=False)
    for seed in (0, 1, 2):
        a, b = _final(tmp_path / "batch" / f"seed_{seed}"), _final(cut / f"seed_{seed}")
        assert _max_relative_difference(a[0], b[0]) < 1e-5 and torch.equal(a[1]["rng"], b[1]["rng"])


def test_a_used_folder_needs_resume(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    assert cli.main(["train-batch", str(tmp_path / "b"), "--seeds", "0"]) == 2
    assert "pass --resume" in capsys.readouterr().err


@pytest.mark.parametrize("dim, kinds", [(1, ("mean", "max")), (2, ("max",)), (2, ("mean",))])
def test_vmapped_pool_and_entry_map_equal_one_at_a_time(dim, kinds):
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 4, 6, 5, 8, generator=gen).requires_grad_()
    w = torch.randn(3, 8, 8, generator=gen).requires_grad_()

    def f(h, w):
        k, m, n, d = h.shape
        pooled = kernels.pool(h, dim, kinds)
        mapped = kernels._EntryMap.apply(h.reshape(-1, d), h.reshape(-1, d), w.t()).view(k, m, n, d)
        return pooled, mapped

    together = torch.vmap(f)(h, w)
    grads = torch.autograd.grad([t.square().sum() for t in together], (h, w))
    alone = [f(h[i], w[i]) for i in range(3)]
    grads_alone = torch.autograd.grad([t.square().sum() for pair in alone for t in pair], (h, w))
    for j in range(2):
        torch.testing.assert_close(together[j], torch.stack([a[j] for a in alone]))
    for g, g_alone in zip(grads, grads_alone, strict=True):
        torch.testing.assert_close(g, g_alone)
