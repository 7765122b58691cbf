"""The batched multi-seed trainer (`hyperinterp train-batch`): each seed follows its solo `train.train` run, its
folder is an ordinary run folder, and a resumed batch ends where an uninterrupted one ends."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file

from hyperinterp import batched, checkpoint, cli, config, hypernet, train

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
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)) for k in a)


@pytest.mark.parametrize("extra", [(), ("task.train_sizes=[4,6]", "budget.anneal_steps=7", "hyper.sign_split=true")],
                         ids=["default", "sizes_anneal_signs"])
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
    (["--seeds", "0", "--set", "optim.compile=true"], "does not compile"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    assert cli.main(["train-batch", str(tmp_path / "b"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hyperinterp: error:") and message in err, err


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
        pooled = hypernet.pool(h, dim, kinds)
        mapped = hypernet._EntryMap.apply(h.reshape(-1, d), h.reshape(-1, d), w.t()).view(k, m, n, d)
        return pooled, mapped

    together = torch.vmap(f)(h, w)
    grads = torch.autograd.grad([t.square().sum() for t in together], (h, w))
    alone = [f(h[i], w[i]) for i in range(3)]
    grads_alone = torch.autograd.grad([t.square().sum() for pair in alone for t in pair], (h, w))
    for j in range(2):
        torch.testing.assert_close(together[j], torch.stack([a[j] for a in alone]))
    for g, g_alone in zip(grads, grads_alone, strict=True):
        torch.testing.assert_close(g, g_alone)
