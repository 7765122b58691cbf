"""Foundations: configuration, determinism, any-n generation, equivariance, the batched target, the file format."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli

from hyperinterp import cli
from hyperinterp.errors import UserError
from hyperinterp.generate import config, sample
from hyperinterp.generate.hypernet import HyperConfig, HyperNetwork
from hyperinterp.generate.target import Nets, forward, forward_loop

# ---------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(("overrides", "named"), [
    (["nosuch.x=1"], "nosuch"),
    (["task.nosuch=1"], "task.nosuch"),
    (["hyper.widht=8"], "hyper.widht"),
    (['task.n="four"'], "task.n"),
    (["task.n=1.5"], "task.n"),
    (["task.n=true"], "task.n"),
    (['budget.beta_min="small"'], "budget.beta_min"),
    (["hyper.pools=3"], "hyper.pools"),
    (["task.n=0"], "n must be"),
    (["task.n=-3"], "n must be"),
    (["task.train_sizes=[4, 0]"], "n must be"),
    (["task.m=0"], "m must be"),
    (["task.m=-1"], "m must be"),
    (["budget.beta=0"], "budget.beta"),
    (["budget.beta=-1e-3"], "budget.beta"),
    (["budget.beta=nan"], "budget.beta"),
    (["budget.beta=inf"], "budget.beta"),
    (["budget.beta_min=0"], "budget.beta_min"),
    (["budget.beta_max=-inf"], "budget.beta_max"),
    (["budget.beta_min=0.1", "budget.beta_max=0.01"], "beta_min"),
    (["optim.lr=nan"], "optim.lr"),
    (["task.m_per_n=nan"], "task.m_per_n"),
    (['task.name="l2"'], "'l2'"),
    (['task.activation="tanh"'], "'tanh'"),
    (['budget.prior="laplace"'], "'laplace'"),
    (['hyper.pools=["mean", "median"]'], "hyper.pools"),
    (["hyper.attention_every=1"], "tag residue-e64"),
    (['hyper.slot_magnitude="sign_balance"'], "tag residue-e64"),
    (["hyper.sign_share_schedule=[[0, 0.9], [1, 0.5]]"], "tag residue-e64"),
    (["hyper.linear_pair=true"], "tag residue-e64"),
    (["optim.seed=-1"], "optim.seed"),
])
def test_config_rejects_bad_values_naming_them(overrides, named):
    with pytest.raises(UserError) as e:
        config.load(None, overrides)
    assert named in str(e.value)
    assert "\n" not in str(e.value)


def test_config_rejects_unknown_names_from_a_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[optim]\nsteps = 10\nlearning_rate = 0.1\n")
    with pytest.raises(UserError, match="optim.learning_rate"):
        config.load(path)
    path.write_text("[optimizer]\nsteps = 10\n")
    with pytest.raises(UserError, match="optimizer"):
        config.load(path)
    path.write_text('[task]\nn = "16"\n')
    with pytest.raises(UserError, match="task.n must be an integer"):
        config.load(path)


def test_overrides_apply_on_top_of_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[task]\nn = 5\nm = 11\n[optim]\nlr = 0.5\n")
    cfg = config.load(path, ["task.n=9", 'budget.prior="log_uniform"', 'hyper.pools=["mean"]', "optim.lr=1e-3",
                             "task.train_sizes=[4, 6]", "budget.beta=2"])
    assert (cfg.task.n, cfg.task.m) == (9, 11)           # the override wins, the file's other key stays
    assert cfg.budget.prior == "log_uniform"
    assert cfg.hyper.pools == ("mean",)
    assert cfg.optim.lr == 1e-3
    assert cfg.task.train_sizes == (4, 6)
    assert cfg.budget.beta == 2.0 and isinstance(cfg.budget.beta, float)  # an int is accepted for a float key
    default = config.Config()
    assert cfg.hyper.width == default.hyper.width and cfg.optim.steps == default.optim.steps


def test_training_records_the_overridden_configuration(tiny_run):
    run, _ = tiny_run
    saved = json.loads((run / "config.json").read_text())
    expected = config.load(None, TINY).to_dict()
    assert saved == json.loads(json.dumps(expected))
    assert saved["task"]["n"] == 4 and saved["hyper"]["layers"] == 1 and saved["optim"]["steps"] == 20
    steps = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert steps == [f"step_{s:08d}" for s in (0, 5, 10, 15, 20)]


def test_training_reports_throughput(tiny_run):
    run, summary = tiny_run
    assert summary["trained_steps"] == summary["steps"] == 20
    assert summary["network_samples_per_second"] > 0
    assert summary["network_samples_per_second"] == pytest.approx(20 * 4 * 32 / summary["seconds"], rel=1e-9)
    assert json.loads((run / "summary.json").read_text()) == summary
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    assert all(math.isfinite(r["loss"]) for r in records)


# ------------------------------------------------------------------------------------- sampling


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_same_command_and_seed_give_identical_networks(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    args = ["sample", str(run), "--beta", "1e-3", "--count", "5", "--seed", "3"]
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    proc = run_cli(*args, "--out", str(a))                   # a fresh interpreter ...
    assert proc.returncode == 0, proc.stderr
    assert cli.main([*args, "--out", str(b)]) == 0           # ... and this one
    fa, fb = _npz(a), _npz(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        assert fa[key].dtype == fb[key].dtype and fa[key].shape == fb[key].shape
        assert fa[key].tobytes() == fb[key].tobytes(), key
    # a different seed gives different networks (so the equality above is not vacuous)
    assert cli.main([*args[:-1], "4", "--out", str(c)]) == 0
    assert not np.array_equal(_npz(c)["W"], fa["W"])


@pytest.mark.parametrize("n", [8, 32])
def test_a_checkpoint_generates_other_input_sizes(tiny_run, n):
    run, _ = tiny_run
    m = 2 * n
    arrays, meta = sample.sample_checkpoint(run, beta=1e-3, n=n, m=m, count=3, seed=0)
    assert arrays["W"].shape == (3, m, n)
    assert arrays["b"].shape == arrays["a"].shape == (3, m)
    assert arrays["c"].shape == arrays["bits"].shape == arrays["mse"].shape == (3,)
    for key in ("W", "b", "a", "c", "bits", "mse", "rel_mse"):
        assert np.all(np.isfinite(arrays[key])), key
    assert (meta["n"], meta["m"]) == (n, m)


def test_sample_defaults_to_the_training_size(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    out = tmp_path / "nets.npz"
    assert cli.main(["sample", str(run), "--beta", "0.01", "--n", "8", "--count", "2", "--out", str(out)]) == 0
    assert _npz(out)["W"].shape == (2, 8, 8)  # m from the checkpoint's configuration (8), n from --n


def test_npz_is_readable_by_numpy_alone_with_documented_keys(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    out = tmp_path / "nets.npz"
    assert cli.main(["sample", str(run), "--beta", "2e-3", "--count", "6", "--seed", "11", "--out", str(out)]) == 0
    assert "wrote 6 networks" in capsys.readouterr().out
    f = _npz(out)
    K, m, n = 6, 8, 4
    shapes = {"W": (K, m, n), "b": (K, m), "a": (K, m), "c": (K,), "beta": (K,), "bits": (K,), "mse": (K,),
              "rel_mse": (K,), "meta": ()}
    assert {k: v.shape for k, v in f.items()} == shapes
    for key in shapes:
        if key != "meta":
            assert f[key].dtype == np.float32 and np.all(np.isfinite(f[key])), key
    assert np.all(f["beta"] == np.float32(2e-3))
    assert np.all(f["bits"] > 0) and np.all(f["mse"] >= 0)
    meta = json.loads(str(f["meta"]))
    assert meta["task"] == "l1" and meta["activation"] == "silu"
    assert (meta["n"], meta["m"], meta["seed"], meta["weights"]) == (4, 8, 11, "draw")
    assert meta["checkpoint"].endswith("step_00000020")
    # the recorded MSE is the networks' own error on fresh data, recomputed here with numpy alone
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, n))
    y = np.abs(x).sum(1)
    pre = np.einsum("bn,kmn->kbm", x, f["W"].astype(float)) + f["b"][:, None, :]
    out_ = (pre / (1 + np.exp(-pre))) @ f["a"][..., None].astype(float)
    mse = ((out_[..., 0] + f["c"][:, None] - y) ** 2).mean(1)
    np.testing.assert_allclose(mse, f["mse"], rtol=0.1)
    np.testing.assert_allclose(f["rel_mse"], f["mse"] / y.var(), rtol=0.1)


def test_weights_mode_is_recorded_and_mean_is_the_distributions_centre(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    files = {}
    for mode in ("draw", "mean"):
        files[mode] = tmp_path / f"{mode}.npz"
        assert cli.main(["sample", str(run), "--beta", "1e-3", "--count", "4", "--seed", "5", "--weights", mode,
                         "--out", str(files[mode])]) == 0
    draw, mean = _npz(files["draw"]), _npz(files["mean"])
    assert json.loads(str(draw["meta"]))["weights"] == "draw"
    assert json.loads(str(mean["meta"]))["weights"] == "mean"
    # same seed, same noise: the draw is the mean plus Gaussian noise of the generated sigma; the mean network is the
    # distribution's centre, with the weights that are noise (log alpha > 3) zeroed under the log-uniform prior
    from hyperinterp.generate.complexity import log_alpha

    model, cfg, _ = sample.load_model(run)
    dist = model.generate(torch.full((4,), math.log(1e-3)), 4, 8, torch.Generator().manual_seed(5))
    mu, log_sigma = dist.mu.W.detach(), dist.log_sigma.W.detach()
    noise = (log_alpha(mu, log_sigma) > 3).numpy() if cfg.budget.prior == "log_uniform" else np.zeros(mu.shape, bool)
    np.testing.assert_array_equal(mean["W"], np.where(noise, 0.0, mu.numpy()))
    z = (draw["W"] - mu.numpy()) / np.exp(log_sigma.numpy())
    assert not np.allclose(draw["W"], mean["W"])
    assert abs(z.mean()) < 0.5 and 0.6 < z.std() < 1.4
    np.testing.assert_array_equal(draw["bits"], mean["bits"])  # bits measure the distribution, not the draw


def test_bits_fall_as_beta_rises(tiny_run):
    """Even 20 steps teach the beta conditioning its direction (same seed, so the same noise at every beta)."""
    run, _ = tiny_run
    bits = [float(np.median(sample.sample_checkpoint(run, beta=beta, n=4, m=8, count=32, seed=0)[0]["bits"]))
            for beta in (1e-6, 1e-4, 1e-2)]
    assert bits[0] > bits[1] > bits[2], bits


def test_sample_rejects_bad_arguments(tiny_run):
    run, _ = tiny_run
    model, cfg, _ = sample.load_model(run)
    for kwargs, named in [({"beta": 0.0}, "beta"), ({"beta": float("nan")}, "beta"), ({"beta": math.inf}, "beta"),
                          ({"n": 0}, "n must"), ({"m": 0}, "m must"), ({"count": 0}, "count"),
                          ({"weights": "median"}, "--weights"), ({"seed": -1}, "seed")]:
        args = {"beta": 1e-3, "n": 4, "m": 8, "count": 2, "seed": 0, **kwargs}
        with pytest.raises(UserError, match=named):
            sample.sample(model, cfg, **args)


# ------------------------------------------------------------------------- model mathematics


def _random_model(seed: int, **kw) -> HyperNetwork:
    torch.manual_seed(seed)
    model = HyperNetwork(HyperConfig(layers=2, width=8, **kw))
    with torch.no_grad():  # the zero / tiny initialisations would make the outputs trivially symmetric
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


E24_GENERATOR = {f: getattr(config.E59_HYPER, f)  # the slot keys E24 set (E30 kept them)
                 for f in ("sign_split", "slot_sinkhorn", "slot_temperature", "slot_magnitude", "slot_signs",
                           "slot_balance")}
# E59's generator (the L1-shaped default before E75) at _random_model's small size
E59_GENERATOR = {k: v for k, v in dataclasses.asdict(config.E59_HYPER).items() if k not in ("layers", "width")}
# E41's generator (the default before E59): one magnitude per input, no free weights for the idle neurons, one share
E41_GENERATOR = {**E59_GENERATOR, "sign_share_by_beta": (), "slot_magnitude": "input", "idle_plain": False}
# today's default (E75, E76): the plain head with neuron places and the nested cut
DEFAULT_GENERATOR = {k: v for k, v in dataclasses.asdict(config.DEFAULT_HYPER).items() if k not in ("layers", "width")}


@pytest.mark.parametrize("kw", [{"pools": ("mean", "max")}, {"pools": ("mean",)}, {"sign_split": True},
                                E24_GENERATOR, {**E24_GENERATOR, "out_per_norm": True, "c_per_neuron": True},
                                {**E24_GENERATOR, "slot_idle": True, "slot_readout": True},
                                E41_GENERATOR,  # E30
                                {**E41_GENERATOR, "slot_magnitude": "input_sign"},  # E45
                                {**E41_GENERATOR, "idle_plain": True, "slot_magnitude": "input_sign"},  # E50
                                E59_GENERATOR,  # E59: E50's with a sign share per beta
                                DEFAULT_GENERATOR])  # today's default (E75)
def test_hypernetwork_is_equivariant_to_input_and_neuron_permutations(kw):
    model = _random_model(0, **kw)
    k, m, n = 3, 7, 5
    gen = torch.Generator().manual_seed(1)
    z = model.noise(k, m, n, gen)
    log_beta = torch.tensor([-9.0, -5.0, -2.0])
    rows, cols = torch.randperm(m, generator=gen), torch.randperm(n, generator=gen)
    with torch.no_grad():
        out = model(z, log_beta)
        out_p = model(z[:, rows][:, :, cols], log_beta)
    for dist, dist_p in ((out.mu, out_p.mu), (out.log_sigma, out_p.log_sigma)):
        torch.testing.assert_close(dist_p.W, dist.W[:, rows][:, :, cols], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist_p.b, dist.b[:, rows], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist_p.a, dist.a[:, rows], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dist_p.c, dist.c, rtol=1e-5, atol=1e-5)
    # not vacuous: neurons and inputs really get different weights, and the permutations move them
    assert out.mu.W.std(1).min() > 1e-3 and out.mu.W.std(2).min() > 1e-3
    assert not torch.allclose(out_p.mu.W, out.mu.W)


def test_output_weight_per_norm_and_per_neuron_offsets_equal_their_plain_formulation():
    """hyper.out_per_norm and hyper.c_per_neuron (E28): the same network as without them, except that mu_a is the
    head's value divided by the neuron's input-weight norm (log sigma_a minus its log) and mu_c gains the sum of
    one offset per neuron; for any n and m."""
    flagged = _random_model(5, **E24_GENERATOR, out_per_norm=True, c_per_neuron=True)
    plain = HyperNetwork(HyperConfig(layers=2, width=8, **E24_GENERATOR))
    weights = flagged.state_dict()
    offsets = weights["neuron_head.2.weight"][4], weights["neuron_head.2.bias"][4]
    plain.load_state_dict({**weights, "neuron_head.2.weight": weights["neuron_head.2.weight"][:4],
                           "neuron_head.2.bias": weights["neuron_head.2.bias"][:4]})
    seen: dict[str, torch.Tensor] = {}  # the neuron head's hidden layer, which the offsets read
    flagged.neuron_head[1].register_forward_hook(lambda mod, inp, out: seen.__setitem__("h", out))
    for k, m, n in ((2, 7, 5), (1, 48, 16)):
        z = flagged.noise(k, m, n, torch.Generator().manual_seed(m))
        with torch.no_grad():
            got, want = flagged(z, torch.full((k,), -6.0)), plain(z, torch.full((k,), -6.0))
        norm = torch.stack([torch.stack([row.pow(2).sum().sqrt() for row in net]) for net in want.mu.W])
        torch.testing.assert_close(got.mu.W, want.mu.W)
        torch.testing.assert_close(got.mu.a * norm, want.mu.a, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.log_sigma.a + norm.log(), want.log_sigma.a, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.mu.c, want.mu.c + (seen["h"] @ offsets[0] + offsets[1]).sum(1), rtol=1e-5,
                                   atol=1e-5)
        torch.testing.assert_close(got.mu.b, want.mu.b)


def test_the_split_floor_balance_equals_a_straightforward_sinkhorn():
    """sinkhorn_split with a floor equals the alternating projections written out per sign and per input column,
    each sign's floor min(1, share); the rows sum to at most 1 (the rest on the idle column) and every column reaches
    its floor. (E43's learnt factor on each floor, hyper.floor_gate, was retired after E64.)"""
    from hyperinterp.generate.slots import sinkhorn_split

    gen = torch.Generator().manual_seed(0)
    k, m, n = 2, 12, 4
    logits, idle = torch.randn(k, m, n, generator=gen) * 3, torch.randn(k, m, 1, generator=gen)
    plus = (torch.arange(m) < 6).expand(k, m)[..., None]
    got = sinkhorn_split(logits, plus, 40, True, idle).exp()
    full = torch.cat([logits, idle], 2).exp()
    for _ in range(40):
        full = full / full.sum(2, keepdim=True)
        for net in range(k):
            for rows in (plus[net, :, 0], ~plus[net, :, 0]):
                floor = min(1.0, rows.sum().item() / n)
                mass = full[net][rows][:, :n].sum(0)
                full[net, rows, :n] = full[net][rows][:, :n] * torch.clamp(floor / mass, min=1.0)
    torch.testing.assert_close(got, full[..., :n], rtol=1e-4, atol=1e-6)
    assert (got.sum(2) <= 1 + 1e-5).all()
    for net in range(k):
        for rows in (plus[net, :, 0], ~plus[net, :, 0]):
            assert (got[net][rows].sum(0) >= 1 - 1e-3).all()
    with pytest.raises(UserError, match="hyper.floor_gate = True was retired after E64"):
        config.load("configs/e24.toml", ["hyper.floor_gate=true"])


def test_hypernetwork_output_depends_on_beta():
    model = _random_model(2)
    z = model.noise(1, 4, 3, torch.Generator().manual_seed(0)).expand(2, -1, -1, -1)
    with torch.no_grad():
        out = model(z, torch.tensor([-12.0, -1.0]))
    assert not torch.allclose(out.mu.W[0], out.mu.W[1])


@pytest.mark.parametrize("act", ["silu", "relu"])
def test_batched_forward_equals_per_network_loop(act):
    gen = torch.Generator().manual_seed(0)
    k, m, n, b = 6, 9, 5, 33
    nets = Nets(torch.randn(k, m, n, generator=gen), torch.randn(k, m, generator=gen),
                torch.randn(k, m, generator=gen), torch.randn(k, generator=gen))
    x = torch.randn(b, n, generator=gen)
    batched, loop = forward(nets, x, act), forward_loop(nets, x, act)
    assert batched.shape == (k, b)
    torch.testing.assert_close(batched, loop, rtol=1e-5, atol=1e-5)
    # and the loop is the formula itself: f(x) = sum_j a_j phi(w_j . x + b_j) + c
    phi = torch.nn.functional.silu if act == "silu" else torch.relu
    one = (nets.a[2] * phi(x @ nets.W[2].T + nets.b[2])).sum(1) + nets.c[2]
    torch.testing.assert_close(loop[2], one, rtol=1e-5, atol=1e-5)


def test_hidden_width_follows_the_training_sizes():
    single = config.TaskConfig(n=16, m=40)
    assert single.width(16) == 40 and single.width(8) == 24       # other n: m_per_n * n
    multi = config.TaskConfig(train_sizes=(6, 8), m_per_n=5.0)
    assert multi.width(16) == 80 and multi.width(7) == 35
    from hyperinterp.experiments.sweep import Job, SweepSpec, job_config
    base = config.load(None, ["task.m_per_n=5.0"])
    sizes = {"name": "multi_n", "seeds": [1], "set": {"task.train_sizes": [6, 8, 10]}, "init_from": "", "phases": False,
             "generalization": True}  # a training over several sizes, as configs/studies/multi_n.toml has it
    cfg = job_config(base, SweepSpec(trainings=(sizes,)), Job("multi_n", 1, extra=sizes))
    assert cfg.task.m_per_n == 5.0 and len(cfg.task.train_sizes) > 1 and cfg.task.width(16) == 80


def test_width_schedule_sets_the_training_width_along_the_steps():
    """task.width_schedule: m/n piecewise linear in the step fraction, the last ratio held; off by default."""
    from hyperinterp.generate import train

    cfg = config.load(None, ["task.width_schedule=[[0, 3], [0.5, 7], [0.75, 3]]", "optim.steps=100"])
    gen = torch.Generator().manual_seed(0)
    widths = [train.sizes(cfg, gen, step)[1] for step in (0, 25, 50, 60, 75, 99)]
    assert widths == [48, 80, 112, 86, 48, 48]
    plain = config.load(None, ["optim.steps=100"])
    assert {train.sizes(plain, gen, step) for step in (0, 50, 99)} == {(16, 48)}
    multi = config.load(None, ["task.train_sizes=[6, 10]", "task.width_schedule=[[0, 5], [1, 5]]"])
    drawn = [train.sizes(multi, gen, s) for s in range(20)]
    assert {n for n, _ in drawn} == {6, 10} and all(m == 5 * n for n, m in drawn)


@pytest.mark.parametrize("schedule", ["[[0.5, 3], [0.2, 7]]", "[[0, 3, 1]]", "[[0, -1]]", "[[0, 3], [1.5, 3]]",
                                      "[3, 7]"])
def test_a_bad_width_schedule_is_a_one_line_error(schedule):
    with pytest.raises(UserError, match="task.width_schedule"):
        config.load(None, [f"task.width_schedule={schedule}"])


@pytest.mark.parametrize("share, m, plus", [(2 / 3, 48, 32), (2 / 3, 9, 6), (0.25, 8, 2), (0.01, 5, 1), (0.99, 5, 4)])
def test_sign_plus_share_sets_the_count_of_plus_neurons(share, m, plus):
    model = _random_model(3, sign_split=True, sign_plus_share=share)
    z = model.noise(4, m, 3, torch.Generator().manual_seed(0))
    assert ((z[..., -1] == 1).sum((1, 2)) == plus * 3).all()    # at least one neuron of each sign at any m
    half = _random_model(3, sign_split=True).noise(4, m, 3, torch.Generator().manual_seed(0))
    assert torch.equal(z[..., :-1], half[..., :-1])               # the same noise: only the split moves


def test_sign_plus_share_outside_0_1_is_one_line_error():
    with pytest.raises(UserError, match="hyper.sign_plus_share"):
        config.load(None, ["hyper.sign_plus_share=1.0"])


NO_BY_BETA = "hyper.sign_share_by_beta=[]"  # E59's per-beta schedule off, for one common to every beta
E59 = "configs/e59.toml"  # E59's generator: signs of their own, slots, a sign curriculum per beta


def test_a_sign_share_schedule_sets_the_plus_count_along_training_and_a_checkpoint_samples_with_its_steps(tmp_path):
    """hyper.sign_share_by_beta with one beta (every beta takes the nearest schedule): the share of + neurons
    piecewise linear in the step fraction (a repeated fraction a jump), held after its last point; a checkpoint
    generates with its step's share."""
    from hyperinterp.generate import train
    from hyperinterp.generate.curriculum import plus_share

    jump = config.load(E59, [*TINY, "task.m=48", "optim.steps=100",
                              "hyper.sign_share_by_beta=[[1e-3, [[0, 0.98], [0.5, 0.98], [0.5, 0.5]]]]"])
    gen, task = torch.Generator().manual_seed(0), train.make_task("l1", "normal")
    model = train.build_model(jump)
    counts = [int((train.draw_step(model, jump, task, s, gen, torch.device("cpu")).z[:, :, 0, -1] == 1).sum(1)[0])
              for s in (0, 49, 50, 99)]
    assert counts == [47, 47, 24, 24]              # floor(0.98 * 48) before the jump, half after
    ramp = config.load(E59, ["hyper.sign_share_by_beta=[[1e-3, [[0.2, 0.9], [0.6, 0.5]]]]"]).hyper
    one = torch.tensor([1e-5]).log()
    assert [round(float(plus_share(ramp, p, one)[0]), 6) for p in (0, 0.2, 0.4, 0.6, 1)] == [0.9, 0.9, 0.7, 0.5, 0.5]
    assert plus_share(config.load("configs/e41.toml").hyper, 0.3) == 0.5   # off in E41: sign_plus_share throughout
    cfg = config.load(E59, [*TINY, "optim.steps=10",
                             "hyper.sign_share_by_beta=[[1e-3, [[0, 0.75], [0.5, 0.75], [1, 0.5]]]]"])
    train.train(cfg, tmp_path / "run", progress=False)
    for step, share, plus in ((5, 0.75, 6), (10, 0.5, 4)):   # m = 8
        loaded, _, _ = sample.load_model(tmp_path / "run" / "checkpoints" / f"step_{step:08d}")
        log_beta = torch.tensor([1e-6, 1e-2]).log()
        assert np.allclose(plus_share(cfg.hyper, loaded.stage.progress, log_beta), share)
        drawn = loaded.generate(log_beta, 4, 8, torch.Generator().manual_seed(1))
        same = loaded(loaded.noise(2, 8, 4, torch.Generator().manual_seed(1), share=share), log_beta)
        assert torch.equal(drawn.mu.W, same.mu.W)
        assert ((loaded.noise(3, 8, 4, torch.Generator().manual_seed(1), share=share)[:, :, 0, -1] == 1).sum(1)
                == plus).all()


def test_sign_share_by_beta_gives_each_network_the_share_of_its_beta_along_training(tmp_path):
    """hyper.sign_share_by_beta: a schedule per beta, shares linear in log beta between them, the nearest outside;
    training draws each network's + count from its own beta, and a checkpoint generates with its step's shares."""
    from hyperinterp.generate import train
    from hyperinterp.generate.curriculum import plus_share

    by_beta = ("hyper.sign_share_by_beta=[[1e-4, [[0, 0.9], [0.5, 0.9], [0.5, 0.5]]], "
               "[1e-2, [[0, 0.9], [0.25, 0.9], [0.75, 0.5]]]]")
    cfg = config.load(E59, [*TINY, "task.m=40", "optim.steps=10", by_beta])
    log_beta = torch.tensor([1e-6, 1e-4, 1e-3, 1e-2, 1.0]).log()
    assert np.allclose(plus_share(cfg.hyper, 0.25, log_beta), 0.9)
    assert np.allclose(plus_share(cfg.hyper, 0.5, log_beta), [0.5, 0.5, 0.6, 0.7, 0.7])   # 1e-3: half-way in log
    assert np.allclose(plus_share(cfg.hyper, 1.0, log_beta), 0.5)
    assert plus_share(cfg.hyper, 1.0) == 0.5
    with pytest.raises(ValueError, match="depends on beta"):
        plus_share(cfg.hyper, 0.5)
    own_end = config.load(E59, ["hyper.sign_share_by_beta=[[1e-4, [[0, 0.9], [0.5, 0.5]]], [1e-2, [[0, 0.9]]]]"])
    assert np.allclose(plus_share(own_end.hyper, 1.0, log_beta), [0.5, 0.5, 0.7, 0.9, 0.9])  # each beta its own end
    with pytest.raises(ValueError, match="depends on beta"):
        plus_share(own_end.hyper, 1.0)
    model, gen = train.build_model(cfg), torch.Generator().manual_seed(0)
    z = model.noise(5, 40, 3, gen, share=plus_share(cfg.hyper, 0.5, log_beta))
    assert (z[:, :, 0, -1] == 1).sum(1).tolist() == [20, 20, 24, 28, 28]
    task = train.make_task("l1", "normal")
    d = train.draw_step(model, cfg, task, 5, gen, torch.device("cpu"))   # progress 0.5: the shares of its betas
    expected = np.floor(np.round(plus_share(cfg.hyper, 0.5, d.log_beta) * 40, 6))
    assert (d.z[:, :, 0, -1] == 1).sum(1).tolist() == expected.tolist()
    train.train(cfg, tmp_path / "run", progress=False)
    loaded, _, _ = sample.load_model(tmp_path / "run" / "checkpoints" / "step_00000005")
    assert loaded.stage.progress == 0.5
    drawn = loaded.generate(log_beta, 3, 40, torch.Generator().manual_seed(2))
    same = loaded(loaded.noise(5, 40, 3, torch.Generator().manual_seed(2), share=[0.5, 0.5, 0.6, 0.7, 0.7]), log_beta)
    assert torch.equal(drawn.mu.W, same.mu.W)


@pytest.mark.parametrize("value, match", [
    ("[[1e-3, [[0, 0.9], [1, 0.5]]], [1e-4, [[0, 0.9], [1, 0.5]]]]", "betas must rise"),
    ("[[0, [[0, 0.9], [1, 0.5]]]]", "betas > 0"), ("[[1e-3, 0.5]]", "betas > 0"),
    ("[[1e-3, [[0.5, 0.9], [0.2, 0.5]]]]", "at beta 0.001 must be .* fractions rising"),
    ("[[1e-3, [[0, 1.0], [1, 0.5]]]]", "shares in"), ("[[1e-3, [0.5]]]", "fractions rising")])
def test_a_bad_sign_share_by_beta_is_a_one_line_error(value, match):
    with pytest.raises(UserError, match=match):
        config.load(E59, [f"hyper.sign_share_by_beta={value}"])


def test_a_runaway_log_sigma_is_capped_so_bits_and_draws_stay_finite():
    """E57: at an input it never saw one network's output-weight log sigma reached 46.7, sigma^2 overflowed and the
    run was lost at any learning rate. Every log sigma is capped at LOG_SIGMA_MAX (sigma^2 finite in float32);
    below the cap the generator's outputs are unchanged."""
    from hyperinterp.generate.hypernet import LOG_SIGMA_MAX
    from hyperinterp.generate.train import network_bits

    torch.manual_seed(0)
    model = HyperNetwork(HyperConfig(layers=2, width=8, **E59_GENERATOR))  # as initialised: log sigma ~ -3
    z, log_beta = model.noise(2, 6, 4, torch.Generator().manual_seed(0)), torch.full((2,), -9.0)
    before = model(z, log_beta)
    assert all((t < LOG_SIGMA_MAX).all() for t in before.log_sigma)
    with torch.no_grad():
        model.neuron_head[-1].bias[3] += 60.0   # log sigma of the output weights far past the cap
    after = model(z, log_beta)
    assert torch.equal(after.log_sigma.a, torch.full_like(after.log_sigma.a, LOG_SIGMA_MAX))
    assert torch.equal(after.log_sigma.W, before.log_sigma.W) and torch.equal(after.mu.W, before.mu.W)
    assert torch.isfinite(network_bits(after, "gaussian", 1.0)).all()
    assert all(torch.isfinite(t).all() for t in after.shift(Nets(*(torch.randn_like(m) for m in after.mu))))


def test_sign_split_gives_half_the_neurons_each_sign():
    model = _random_model(3, sign_split=True)
    k, m, n = 5, 9, 4
    z = model.noise(k, m, n, torch.Generator().manual_seed(0))
    sign = z[..., -1]
    assert ((sign == 1).sum((1, 2)) == m // 2 * n).all() and ((sign == -1).sum((1, 2)) == (m - m // 2) * n).all()
    assert (sign == sign[:, :, :1]).all()                       # one sign per neuron, along its row
    assert len({tuple(s[:, 0].tolist()) for s in sign}) > 1     # a fresh split for every network
    with torch.no_grad():
        out = model(z, torch.full((k,), -9.0))
        flipped = model(torch.cat([z[..., :-1], -z[..., -1:]], -1), torch.full((k,), -9.0))
    # the sign multiplies the head's output: flipping every sign is not just a flip of W (the layers see it)
    assert not torch.allclose(flipped.mu.W, -out.mu.W)


def test_sinkhorn_slots_are_balanced_and_equivariant():
    """The slot assignment: every (input, sign) slot receives m / 2n, every neuron about 1; the generator with
    it stays equivariant to input and neuron permutations, for any n and m."""
    from hyperinterp.generate.slots import sinkhorn

    logits = torch.randn(3, 7, 10, generator=torch.Generator().manual_seed(0)) * 3
    p = sinkhorn(logits, 30, math.log(7 / 10)).exp()
    torch.testing.assert_close(p.sum(1), torch.full((3, 10), 0.7))
    torch.testing.assert_close(p.sum(2), torch.ones(3, 7), rtol=1e-3, atol=1e-3)
    models = (_random_model(4, slot_sinkhorn=3), _random_model(4, slot_sinkhorn=3, slot_temperature=0.2),
              _random_model(4, slot_sinkhorn=3, slot_magnitude="input"),
              _random_model(4, slot_sinkhorn=3, sign_split=True, slot_signs="split", slot_magnitude="input"),
              _random_model(4, slot_sinkhorn=3, slot_balance="floor"),
              _random_model(4, slot_sinkhorn=3, sign_split=True, slot_signs="split", slot_balance="floor"))
    for model, (k, m, n) in itertools.product(models, ((2, 7, 5), (1, 12, 3))):
        gen = torch.Generator().manual_seed(k)
        z = model.noise(k, m, n, gen)
        rows, cols = torch.randperm(m, generator=gen), torch.randperm(n, generator=gen)
        with torch.no_grad():
            out = model(z, torch.full((k,), -6.0))
            out_p = model(z[:, rows][:, :, cols], torch.full((k,), -6.0))
        torch.testing.assert_close(out_p.mu.W, out.mu.W[:, rows][:, :, cols], rtol=1e-5, atol=1e-5)
        assert out.mu.W.shape == (k, m, n) and torch.isfinite(out.mu.W).all()
        assert not torch.allclose(out_p.mu.W, out.mu.W)
    # a lower temperature sharpens the same scores' assignment (fewer neurons spread over many slots)
    sharp = sinkhorn(logits / 0.2, 30, math.log(7 / 10)).exp()
    assert (sharp * sharp).sum() > (p * p).sum()


def test_shared_slot_magnitude_weighs_both_signs_of_an_input_alike():
    """slot_magnitude = "input": W[j, i] / (P[j, i, +] - P[j, i, -]) is one number per input, whatever the
    neuron or its sign; "entry" lets it differ from neuron to neuron."""
    from hyperinterp.generate.slots import sinkhorn

    k, m, n = 2, 9, 4
    h = torch.randn(k, m, n, 8, generator=torch.Generator().manual_seed(0))
    ratios = {}
    for where in ("entry", "input"):
        model = _random_model(1, slot_sinkhorn=3, slot_magnitude=where)
        with torch.no_grad():
            w = model.slot_weights(h, torch.ones(k, m))
            scores = model.slot_head(h)[..., :2].reshape(k, m, 2 * n)
            p = sinkhorn(scores, 3, math.log(m / (2 * n))).exp().view(k, m, n, 2)
        ratios[where] = w / (p[..., 0] - p[..., 1])
    shared = ratios["input"]
    torch.testing.assert_close(shared, shared[:, :1].expand_as(shared), rtol=1e-4, atol=0)
    assert (shared > 0).all()
    assert ratios["entry"].std(1).min() > 1e-3  # per (neuron, input): differs along the neurons


def test_magnitude_per_input_and_sign_is_each_signs_mean_written_out():
    """slot_magnitude = "input_sign" (E45): neuron j's weight on input i is P[j, i] times exp of the mean slot-head
    magnitude over the neurons of j's sign, written out neuron by neuron; the two signs of an input differ."""
    from hyperinterp.generate.slots import sinkhorn_split

    model = _random_model(2, **{**E59_GENERATOR, "slot_magnitude": "input_sign"})
    k, m, n = 2, 9, 4
    gen = torch.Generator().manual_seed(3)
    h = torch.randn(k, m, n, model.cfg.width, generator=gen)
    sign = torch.where(torch.rand(k, m, generator=gen).argsort(1) < 4, 1.0, -1.0)
    with torch.no_grad():
        w = model.slot_weights(h, sign)
        s = model.slot_head(h)
        plus = (sign > 0)[:, :, None]
        p = sinkhorn_split(s[..., 0] / model.cfg.slot_temperature, plus, model.cfg.slot_sinkhorn, True,
                           s[..., 3].mean(2, keepdim=True) / model.cfg.slot_temperature).exp()
    def sign_mean(b: int, i: int, sgn: float) -> float:
        same = [r for r in range(m) if sign[b, r] == sgn]
        return sum(float(s[b, r, i, 2]) for r in same) / len(same)

    for b, j, i in itertools.product(range(k), range(m), range(n)):
        sgn = float(sign[b, j])
        magnitude = math.exp(sign_mean(b, i, sgn))
        assert math.isclose(float(w[b, j, i]), float(p[b, j, i]) * magnitude, rel_tol=1e-4, abs_tol=1e-7)
    with pytest.raises(UserError, match="input_sign"):  # a magnitude per sign needs the neurons' own signs
        config.load("configs/plain.toml", ["hyper.slot_sinkhorn=3", "hyper.slot_magnitude=input_sign"])
    ratio = w / p
    first_plus, first_minus = int(plus[0, :, 0].nonzero()[0]), int((~plus[0, :, 0]).nonzero()[0])
    assert (ratio[0, first_plus] - ratio[0, first_minus]).abs().min() > 1e-4
    between_signs = ratio[0, first_plus] / ratio[0, first_minus]
    spread = float(between_signs.max() / between_signs.min())
    assert spread > 1.01


def test_split_slots_balance_each_sign_over_the_inputs_and_keep_the_neurons_sign():
    """slot_signs = "split": within the + neurons and within the - neurons, every input receives the same
    mass (that sign's count / n) and every neuron about 1; each neuron's mean weights have its own sign only."""
    from hyperinterp.generate.slots import sinkhorn_split

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 9, 4, generator=gen) * 3
    plus = (torch.rand(3, 9, generator=gen).argsort(1) < 4)[:, :, None]  # 4 + neurons, 5 - neurons
    p = sinkhorn_split(logits, plus, 40).exp()
    torch.testing.assert_close((p * plus).sum(1), torch.full((3, 4), 4 / 4))
    torch.testing.assert_close((p * ~plus).sum(1), torch.full((3, 4), 5 / 4))
    torch.testing.assert_close(p.sum(2), torch.ones(3, 9), rtol=1e-3, atol=1e-3)
    model = _random_model(2, slot_sinkhorn=5, sign_split=True, slot_signs="split", skip=0.0)
    z = model.noise(2, 10, 6, gen)
    with torch.no_grad():
        w = model(z, torch.full((2,), -6.0)).mu.W
    sign = z[:, :, 0, -1]
    assert (w * sign[:, :, None] > 0).all()
    assert (sign == 1).sum(1).tolist() == [5, 5]


def test_floor_balance_gives_every_slot_at_least_one_neuron_and_keeps_a_sharp_cover():
    """slot_balance = "floor": every slot receives at least min(1, its share) and every neuron about 1; an
    assignment of whole neurons that already covers every slot stays as it is, where the equal balance (share
    1.5 at m = 3n) must split neurons between slots."""
    from hyperinterp.generate.slots import sinkhorn, sinkhorn_split

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 12, 8, generator=gen) * 3                  # 12 neurons, 8 slots: share 1.5
    p = sinkhorn(logits, 60, math.log(12 / 8), floor=True).exp()
    assert (p.sum(1) >= 1 - 1e-4).all() and not torch.allclose(p.sum(1), torch.full((3, 8), 1.5))
    torch.testing.assert_close(p.sum(2), torch.ones(3, 12), rtol=1e-3, atol=1e-3)
    plus = (torch.rand(3, 12, generator=gen).argsort(1) < 6)[:, :, None]  # 6 + neurons over 4 inputs
    q = sinkhorn_split(logits[..., :4], plus, 60, floor=True).exp()
    assert ((q * plus).sum(1) >= 1 - 1e-4).all() and ((q * ~plus).sum(1) >= 1 - 1e-4).all()
    # whole neurons covering every slot (slots 0..7, then 4 spare neurons on slot 0): kept by the floor
    cover = torch.full((1, 12, 8), -30.0)
    cover[0, torch.arange(12), torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0])] = 30.0
    kept = sinkhorn(cover, 20, math.log(12 / 8), floor=True).exp()
    torch.testing.assert_close(kept, cover.softmax(2), atol=1e-4, rtol=0)
    assert (sinkhorn(cover, 20, math.log(12 / 8)).exp() - cover.softmax(2)).abs().max() > 0.1


def test_idle_slot_takes_only_the_spare_mass_and_keeps_the_generator_equivariant():
    """hyper.slot_idle (E29): a column of no input beside the inputs. The floor still gives every input at least
    one whole neuron of each sign; a neuron that prefers the idle column leaves its input weights ~0 (rows sum to
    1 over the inputs and the idle column), and a neuron that does not is unchanged. The generator stays
    equivariant and makes any n, m; without the floor and the split signs the key is an error."""
    from hyperinterp.generate.slots import sinkhorn_split

    gen = torch.Generator().manual_seed(0)
    plus = (torch.rand(3, 12, generator=gen).argsort(1) < 6)[:, :, None]  # 6 + neurons over 4 inputs
    logits = torch.randn(3, 12, 4, generator=gen) * 3
    idle = torch.randn(3, 12, 1, generator=gen) * 3
    q = sinkhorn_split(logits, plus, 60, floor=True, idle=idle).exp()
    assert q.shape == (3, 12, 4)
    assert ((q * plus).sum(1) >= 1 - 1e-4).all() and ((q * ~plus).sum(1) >= 1 - 1e-4).all()
    assert (q.sum(2) <= 1 + 1e-4).all() and q.sum(2).min() < 0.9  # some mass went idle
    # whole neurons: one of each sign per input, the 4 spares preferring the idle column, stay exactly so
    cover = torch.full((1, 12, 4), -30.0)
    cover[0, torch.arange(8), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])] = 30.0
    signs = torch.tensor([True] * 4 + [False] * 4 + [True, False, True, False])[None, :, None]
    spare_idle = torch.where(torch.arange(12) >= 8, 30.0, -30.0)[None, :, None]
    kept = sinkhorn_split(cover, signs, 20, floor=True, idle=spare_idle).exp()
    torch.testing.assert_close(kept, torch.cat([cover, spare_idle], 2).softmax(2)[..., :4], atol=1e-4, rtol=0)
    assert kept[0, 8:].sum() < 1e-6
    model = _random_model(3, **E24_GENERATOR, slot_idle=True)
    for k, m, n in ((2, 7, 5), (1, 12, 3), (1, 48, 16)):
        g = torch.Generator().manual_seed(m)
        z = model.noise(k, m, n, g)
        rows, cols = torch.randperm(m, generator=g), torch.randperm(n, generator=g)
        with torch.no_grad():
            out, out_p = model(z, torch.full((k,), -6.0)), model(z[:, rows][:, :, cols], torch.full((k,), -6.0))
        torch.testing.assert_close(out_p.mu.W, out.mu.W[:, rows][:, :, cols], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_p.mu.a, out.mu.a[:, rows], rtol=1e-5, atol=1e-5)
        assert out.mu.W.shape == (k, m, n) and torch.isfinite(out.mu.W).all()
    with pytest.raises(UserError, match="hyper.slot_idle"):
        config.load(None, ["hyper.slot_idle=true", "hyper.slot_balance=equal"])
    with pytest.raises(UserError, match="hyper.slot_readout"):
        config.load("configs/plain.toml", ["hyper.slot_readout=true"])


def test_idle_plain_adds_the_plain_head_times_each_neurons_idle_mass():
    """hyper.idle_plain (E50): neuron j's mean weight on input i is its sign times (the slot weight + its idle mass
    times the plain head's mean), written out entry by entry with the skip off; a neuron mostly idle gets the plain
    head's weights (free of its sign: a dense part the slots cannot give), a neuron in its slot keeps its weights."""
    model = _random_model(4, **{**E41_GENERATOR, "idle_plain": True})
    with torch.no_grad():
        model.w_head.bias[0] = 0.0  # the plain mean then follows the features, not one random offset
        model.slot_head.bias[3] = 10.0  # the neurons beyond the floor prefer the idle column
        model.slot_head.weight[2] *= 0.1  # slot magnitudes near 1, not the random model's exp(+-10)
    k, m, n = 2, 12, 4
    z = model.noise(k, m, n, torch.Generator().manual_seed(5))
    log_beta = torch.tensor([-9.0, -4.0])
    with torch.no_grad():
        out = model(z, log_beta, skip_scale=0.0)
        h = model.embed(z)
        cond = model.cond(model.conditions(log_beta, n, m))
        for block in model.blocks:
            h = block(h, cond)
        sign = z[:, :, 0, -1]
        p, log_magnitude = model.slot_assignment(h, sign)
        w_plain = model.w_head(h)[..., 0]
    idle = 1 - p.sum(2)
    for b, j, i in itertools.product(range(k), range(m), range(n)):
        magnitude = float(log_magnitude[b, 0, i].exp())  # E41's: one per input, shared by its neurons
        plain = max(float(idle[b, j]), 0.0) * float(w_plain[b, j, i])
        expected = float(sign[b, j]) * (magnitude * float(p[b, j, i]) + plain)
        assert math.isclose(float(out.mu.W[b, j, i]), expected, rel_tol=1e-4, abs_tol=1e-6)
    mostly_idle = idle > 0.9
    assert mostly_idle.any()
    with torch.no_grad():
        without = _random_model(4, **E41_GENERATOR)
        without.w_head.bias[0], without.slot_head.bias[3] = 0.0, 10.0
        without.slot_head.weight[2] *= 0.1
        without = without(z, log_beta, skip_scale=0.0)
    torch.testing.assert_close(out.mu.W[idle < 1e-3], without.mu.W[idle < 1e-3])  # a neuron in its slot: unchanged
    differs = (out.mu.W - without.mu.W).abs() > 1e-3 * without.mu.W.abs().clamp_min(1.0)
    assert differs[mostly_idle].float().mean() > 0.9  # an idle neuron's weights carry the plain head's
    with pytest.raises(UserError, match="hyper.idle_plain"):
        config.load("configs/e24.toml", ["hyper.idle_plain=true"])


def test_a_negative_slot_sinkhorn_is_a_one_line_error():
    with pytest.raises(UserError, match="hyper.slot_sinkhorn"):
        config.load(E59, ["hyper.slot_sinkhorn=-1"])
    with pytest.raises(UserError, match="hyper.slot_temperature"):
        config.load(E59, ["hyper.slot_temperature=0"])
    with pytest.raises(UserError, match="hyper.slot_magnitude"):
        config.load(E59, ["hyper.slot_magnitude=neuron"])
    with pytest.raises(UserError, match="hyper.slot_signs"):
        config.load(E59, ["hyper.sign_split=false"])  # E59's split slots need sign_split
    with pytest.raises(UserError, match="hyper.slot_balance"):
        config.load(E59, ["hyper.slot_balance=ceiling"])
    with pytest.raises(UserError, match="hyper.skip_until"):
        config.load(None, ["hyper.skip_until=-5"])


def test_noise_skip_decays_to_zero_and_a_checkpoint_generates_with_its_steps_share(tmp_path):
    """hyper.skip_until (E24): the mean weights are sign * (head + skip * share * z0), the share falling linearly
    from 1 to 0 over the first skip_until steps; a checkpoint's networks are made with the share of its step."""
    from hyperinterp.generate import train
    from hyperinterp.generate.curriculum import skip_share

    sets = ["hyper.slot_sinkhorn=3", "hyper.sign_split=true", "hyper.slot_signs=split", "hyper.slot_balance=floor",
            NO_BY_BETA]  # one share throughout: model.noise alone draws a checkpoint's signs
    cfg = config.load(None, [*TINY, *sets, "hyper.skip_until=10", "optim.steps=15"])
    assert [skip_share(cfg.hyper, s) for s in (0, 5, 10, 15)] == [1.0, 0.5, 0.0, 0.0]
    assert skip_share(config.load(None, [*TINY, "hyper.skip_until=0"]).hyper, 10**6) == 1.0  # 0: the skip stays
    train.train(cfg, tmp_path / "run", progress=False)
    z = None
    for step, share in ((5, 0.5), (15, 0.0)):
        model, _, meta = sample.load_model(tmp_path / "run" / "checkpoints" / f"step_{step:08d}")
        assert meta["step"] == step and model.stage.skip == share
        z = model.noise(2, 8, 4, torch.Generator().manual_seed(3)) if z is None else z
        log_beta = torch.full((2,), -6.0)
        with torch.no_grad():
            loaded, full = model(z, log_beta).mu.W, model(z, log_beta, skip_scale=1.0).mu.W
        sign = z[:, :, 0, -1:]
        torch.testing.assert_close(full - loaded, sign * (cfg.hyper.skip * (1 - share)) * z[..., 0], rtol=0, atol=1e-5)


def test_the_default_generator_holds_no_l1_device_and_a_stored_configuration_keeps_its_own():
    """configs/default.toml is the default generator (E75's plain head, neuron places and nested cut under the
    Gaussian prior: E76), with none of E59's L1-shaped devices; configs/e59.toml is E59's, and e41/e24/plain are stated
    against it (`base`). A configuration saved before a switch lacks the keys added since, and means the generator it
    was trained with, not today's default."""
    assert config.load("configs/default.toml") == config.Config()
    default = config.Config()
    assert default.hyper == config.DEFAULT_HYPER == HyperConfig(neuron_rank=True, nested=0.25)
    assert (default.budget.prior, default.optim.steps, default.optim.nets_per_step) == ("gaussian", 12000, 16)
    plain = HyperConfig()
    l1_devices = ("sign_split", "sign_share_by_beta", "slot_sinkhorn", "slot_signs", "slot_balance", "slot_idle",
                  "slot_readout", "idle_plain", "slot_magnitude")
    assert all(getattr(default.hyper, k) == getattr(plain, k) for k in l1_devices)
    e59 = config.load("configs/e59.toml")
    assert e59.hyper == config.E59_HYPER and (e59.budget.prior, e59.optim.steps, e59.optim.nets_per_step) == (
        "gaussian", 24000, 8)
    assert config.load("configs/plain.toml").hyper == HyperConfig()  # the ablation: every field default
    assert config.load("configs/plain.toml").budget.prior == "gaussian"
    e41 = config.load("configs/e41.toml").hyper  # the default before E59: E30's generator, one sign share throughout
    assert e41 == dataclasses.replace(config.E59_HYPER, sign_share_by_beta=(), slot_magnitude="input",
                                      idle_plain=False)
    e24 = config.load("configs/e24.toml").hyper  # the default before E30: its read-out keys off, the rest E41's
    assert e24 == dataclasses.replace(e41, out_per_norm=False, c_per_neuron=False, slot_idle=False,
                                      slot_readout=False)
    before_e28 = config.Config(hyper=e24).to_dict()  # an E24 run saved before the read-out keys existed
    for key in ("out_per_norm", "c_per_neuron", "slot_idle", "slot_readout", "neuron_rank", "nested"):
        del before_e28["hyper"][key]
    assert config.from_dict(before_e28, stored=True).hyper == e24
    e59_run = e59.to_dict()  # an E59 run saved before the gates, places and the cut existed
    for key in ("neuron_gate", "gate_decided", "neuron_rank", "nested"):
        del e59_run["hyper"][key]
    assert config.from_dict(e59_run, stored=True) == e59
    old = config.Config(hyper=HyperConfig()).to_dict()
    for key in ("sign_split", "slot_sinkhorn", "slot_temperature", "slot_magnitude", "slot_signs", "slot_balance",
                "skip_until", "out_per_norm", "c_per_neuron", "slot_idle", "slot_readout",
                "sign_share_by_beta", "idle_plain", "neuron_rank", "nested"):
        del old["hyper"][key]
    assert config.from_dict(old, stored=True).hyper == HyperConfig()
    assert config.from_dict(old).hyper == config.DEFAULT_HYPER  # a user's partial file: today's defaults
    new = config.Config().to_dict()  # saved today: every key named, read back the same either way
    assert config.from_dict(new, stored=True) == config.from_dict(new) == config.Config()

    # saved before E64's keys retired: at their inert values they load as before; a run that used one names the tag
    retired = {**new, "hyper": {**new["hyper"], "attention_every": 0, "attention_heads": 2, "marked_neurons": 0,
                                "linear_pair": False, "sign_share_schedule": [], "slot_plain": False,
                                "floor_gate": False}}
    assert config.from_dict(retired, stored=True) == config.Config()
    for key, value in (("linear_pair", True), ("sign_share_schedule", [[0, 0.9], [1, 0.5]]), ("slot_plain", True)):
        with pytest.raises(UserError, match=f"hyper.{key} = .*git checkout residue-e64"):
            config.from_dict({**retired, "hyper": {**retired["hyper"], key: value}}, stored=True)

def test_a_config_file_may_start_from_another(tmp_path):
    """`base = "other.toml"` starts from that file's keys (relative to the file), section by section; a loop or a
    base that is not a file name is one line."""
    (tmp_path / "a.toml").write_text('[hyper]\nlayers = 3\nwidth = 8\n[optim]\nsteps = 7\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\n[hyper]\nwidth = 12\n')
    cfg = config.load(tmp_path / "b.toml", ["optim.lr=1e-3"])
    assert (cfg.hyper.layers, cfg.hyper.width, cfg.optim.steps, cfg.optim.lr) == (3, 12, 7, 1e-3)
    (tmp_path / "c.toml").write_text('base = "d.toml"\n')
    (tmp_path / "d.toml").write_text('base = "c.toml"\n')
    with pytest.raises(UserError, match="loop"):
        config.load(tmp_path / "c.toml")
    (tmp_path / "e.toml").write_text('base = 3\n')
    with pytest.raises(UserError, match="base must be a file name"):
        config.load(tmp_path / "e.toml")


@pytest.mark.parametrize("n,m", [(3, 9), (5, 7), (16, 48), (9, 2)])
def test_the_default_generator_makes_networks_of_any_n_and_m(n, m):
    model = HyperNetwork(config.DEFAULT_HYPER)
    with torch.no_grad():
        out = model(model.noise(2, m, n, torch.Generator().manual_seed(0)), torch.full((2,), -9.0))
    assert out.mu.W.shape == out.log_sigma.W.shape == (2, m, n) and out.mu.a.shape == (2, m)
    assert all(torch.isfinite(t).all() for t in (*out.mu, *out.log_sigma))
