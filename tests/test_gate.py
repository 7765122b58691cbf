"""hyper.neuron_gate (E68): each neuron present with a generated probability, the spike-and-slab description length."""

from __future__ import annotations

import math

import numpy as np
import torch
from conftest import TINY

from hyperinterp.generate import batched, complexity, config, sample, train
from hyperinterp.generate.hypernet import HyperConfig, HyperNetwork, NetDistribution, gate_noise
from hyperinterp.generate.target import Nets


def _model(seed: int = 0, **kw) -> HyperNetwork:
    torch.manual_seed(seed)
    model = HyperNetwork(HyperConfig(layers=2, width=8, neuron_gate=True, **kw))
    with torch.no_grad():  # heads start near zero: give them weights so every output depends on its inputs
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def test_gated_generator_is_equivariant_and_generates_any_size():
    model = _model()
    gen = torch.Generator().manual_seed(1)
    log_beta = torch.tensor([-9.0, -5.0, -2.0])
    for m, n in ((7, 5), (3, 11), (40, 2)):
        z = model.noise(3, m, n, gen)
        rows, cols = torch.randperm(m, generator=gen), torch.randperm(n, generator=gen)
        with torch.no_grad():
            out, out_p = model(z, log_beta), model(z[:, rows][:, :, cols], log_beta)
        assert out.gate.shape == (3, m)
        torch.testing.assert_close(out_p.gate, out.gate[:, rows], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_p.mu.W, out.mu.W[:, rows][:, :, cols], rtol=1e-5, atol=1e-5)
        assert out.gate.std() > 1e-3  # not vacuous: neurons get different presence


def _straightforward_bits(dist: NetDistribution, prior: str) -> torch.Tensor:
    """Per network, per neuron in a loop: q_j * (bits of row j, b_j, a_j) + KL(Bern(q_j) || Bern(1/2)), plus c."""
    out = []
    for k in range(dist.gate.shape[0]):
        total = complexity.kl_nats(dist.mu.c[k], dist.log_sigma.c[k], prior).item() / math.log(2)
        for j in range(dist.gate.shape[1]):
            q = 1 / (1 + math.exp(-dist.gate[k, j].item()))
            weights = sum(complexity.kl_nats(getattr(dist.mu, f)[k, j], getattr(dist.log_sigma, f)[k, j],
                                             prior).sum().item() for f in ("W", "b", "a")) / math.log(2)
            total += q * weights + q * math.log2(2 * q) + (1 - q) * math.log2(2 * (1 - q))
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def test_gated_bits_equal_the_straightforward_spike_and_slab_length():
    model = _model()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        dist = model.generate(torch.tensor([-9.0, -4.0]), 6, 9, gen)
    for prior in ("log_uniform", "gaussian"):
        bits = train.network_bits(dist, prior, 1.0).double()
        torch.testing.assert_close(bits, _straightforward_bits(dist, prior), rtol=1e-4, atol=1e-3)
    # a neuron switched off (q -> 0) pays nothing for its weights, whatever they are; on or off, the decision costs
    # one bit a neuron (the m bits that name a subset)
    c_bits = complexity.kl_nats(dist.mu.c, dist.log_sigma.c, "log_uniform") / math.log(2)
    off = dist._replace(gate=torch.full_like(dist.gate, -30.0))
    torch.testing.assert_close(train.network_bits(off, "log_uniform", 1.0), c_bits + 9, rtol=1e-5, atol=1e-4)
    on = dist._replace(gate=torch.full_like(dist.gate, 30.0))
    ungated = train.network_bits(dist._replace(gate=None), "log_uniform", 1.0)
    torch.testing.assert_close(train.network_bits(on, "log_uniform", 1.0), ungated + 9, rtol=1e-5, atol=1e-3)
    assert (ungated > c_bits + 50).all()  # not vacuous: the weights an absent neuron does not pay are many bits


def test_drawn_presence_has_the_generated_probability_and_the_gradient_reaches_the_gate():
    gate = torch.tensor([[-2.0, 0.0, 1.5]]).expand(20000, 3).clone().requires_grad_()
    mu = Nets(torch.zeros(20000, 3, 2), torch.zeros(20000, 3), torch.ones(20000, 3), torch.zeros(20000))
    dist = NetDistribution(mu, Nets(*(torch.full_like(t, -30.0) for t in mu)), gate)
    nets = dist.draw(torch.Generator().manual_seed(0))
    present = (nets.a != 0).double().mean(0)
    np.testing.assert_allclose(present.numpy(), torch.sigmoid(gate[0]).detach().numpy(), atol=0.015)
    assert set(nets.a.detach().unique().tolist()) <= {0.0, 1.0}  # hard draws: the network trained is the one drawn
    nets.a.sum().backward()
    # straight through the relaxed draw: more presence, more output (exactly 0 only where the sigmoid saturates)
    assert (gate.grad >= 0).all() and (gate.grad > 0).float().mean() > 0.9
    mean = train.mean_network(dist, "log_uniform")
    assert mean.a[0].tolist() == [0.0, 0.0, 1.0]  # the mean network keeps the neurons with q > 1/2


def test_gate_noise_is_logistic():
    noise = gate_noise((200000,), torch.Generator().manual_seed(0), "cpu")
    assert abs(noise.mean().item()) < 0.02 and abs(noise.var().item() - math.pi ** 2 / 3) < 0.05


def test_gated_training_is_reproducible_and_its_batched_seeds_match_solo(tmp_path):
    cfg = config.load(None, [*TINY, "hyper.neuron_gate=true"])
    train.train(cfg, tmp_path / "a", progress=False)
    train.train(cfg, tmp_path / "b", progress=False)
    batched.train_batch(cfg, tmp_path / "batch", [cfg.optim.seed, cfg.optim.seed + 1], progress=False)
    kw = {"beta": 1e-3, "n": 4, "m": 8, "count": 6, "seed": 0}
    a, meta = sample.sample_checkpoint(tmp_path / "a", **kw)
    b, _ = sample.sample_checkpoint(tmp_path / "b", **kw)
    c, _ = sample.sample_checkpoint(tmp_path / "batch" / f"seed_{cfg.optim.seed}", **kw)
    assert all(np.array_equal(a[key], b[key]) for key in a)
    np.testing.assert_allclose(c["W"], a["W"], atol=1e-4)
    np.testing.assert_allclose(c["a"], a["a"], atol=1e-4)
    assert (a["a"] == 0).any() or np.isfinite(a["bits"]).all()


def test_neuron_places_are_a_permutation_and_the_ranked_generator_is_equivariant_in_distribution():
    from hyperinterp.generate.hypernet import random_places

    places = random_places(5, 7, torch.Generator().manual_seed(0), "cpu")
    expected = (torch.arange(7) + 0.5) * (2 / 7) - 1
    assert all(torch.allclose(row.sort().values, expected) for row in places)
    assert not torch.equal(places[0], places[1])
    model = _model(neuron_rank=True)
    gen = torch.Generator().manual_seed(3)
    z = model.noise(2, 6, 4, gen)
    assert z.shape[-1] == model.cfg.noise_channels + model.cfg.neuron_noise_channels + 1
    rows, cols = torch.randperm(6, generator=gen), torch.randperm(4, generator=gen)
    with torch.no_grad():  # the places travel with their neurons: permuting the noise permutes the networks
        out, out_p = model(z, torch.tensor([-9.0, -3.0])), model(z[:, rows][:, :, cols], torch.tensor([-9.0, -3.0]))
    torch.testing.assert_close(out_p.mu.W, out.mu.W[:, rows][:, :, cols], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_p.gate, out.gate[:, rows], rtol=1e-5, atol=1e-5)


def test_decided_presence_is_the_logits_sign_and_its_bits_pay_present_neurons_in_full():
    model = _model()
    with torch.no_grad():
        dist = model.generate(torch.tensor([-9.0, -4.0]), 6, 9, torch.Generator().manual_seed(2))
    dist = dist._replace(gate=dist.gate - dist.gate.median())  # a fresh model's neurons all start present
    on = dist.gate > 0
    assert on.any() and (~on).any()  # not vacuous: some neurons of each kind
    for seed in range(3):  # no draw: the same neurons present whatever the generator's state
        nets = dist.draw(torch.Generator().manual_seed(seed), decided=True)
        assert torch.equal(nets.a != 0, on)
    kl = {f: complexity.kl_nats(getattr(dist.mu, f), getattr(dist.log_sigma, f), "log_uniform") / math.log(2)
          for f in ("W", "b", "a", "c")}
    per_neuron = kl["W"].sum(-1) + kl["b"] + kl["a"]
    expected = (per_neuron * on).sum(-1) + 9 + kl["c"]
    torch.testing.assert_close(train.network_bits(dist, "log_uniform", 1.0, decided=True), expected)
    cfg = config.load(None, [*TINY, "hyper.neuron_gate=true", "hyper.gate_decided=true"])
    model = train.build_model(cfg)
    res = train.objective(model, cfg, train.make_task("l1"), 0, torch.Generator().manual_seed(0))
    res.loss.backward()  # the straight-through gradient reaches the presence logits' row of the neuron head
    assert model.neuron_head[-1].weight.grad[-1].abs().sum() > 0


def test_a_decided_gate_needs_the_gate():
    import pytest

    from hyperinterp.errors import UserError

    with pytest.raises(UserError, match="hyper.neuron_gate"):
        config.load(None, ["hyper.gate_decided=true"])


def test_nested_cut_keeps_the_first_places_of_each_network_and_the_places_read_back():
    model = _model(neuron_rank=True)
    gen = torch.Generator().manual_seed(4)
    z = model.noise(400, 9, 3, gen)
    places = model.places(z)
    assert all(torch.equal(row.sort().values, torch.arange(9)) for row in places)  # a permutation per network
    keep = train.nested_keep(places, 0.5, torch.Generator().manual_seed(5))
    kept = keep.sum(1)
    cut = kept < 9
    assert 0.3 < cut.float().mean() < 0.6  # about half cut (k = m leaves a cut network whole: 1/9 of them)
    for row, p, k in zip(keep, places, kept, strict=True):  # the kept neurons are exactly the first k places
        assert torch.equal(row.bool(), p < k)
    assert set(kept[cut].long().tolist()) == set(range(1, 9))  # every k < m occurs
    assert torch.equal(train.nested_keep(places, 0.0, torch.Generator().manual_seed(5)), torch.ones(400, 9))


def test_nested_training_drops_cut_neurons_and_its_batched_seeds_match_solo(tmp_path):
    cfg = config.load(None, [*TINY, "hyper.neuron_rank=true", "hyper.nested=1.0"])
    model = train.build_model(cfg)
    gen = torch.Generator().manual_seed(0)
    d = train.draw_step(model, cfg, train.make_task("l1"), 0, gen, torch.device("cpu"))
    assert d.keep is not None and (d.keep == 0).any()
    dist = model(d.z, d.log_beta)
    whole = d.__class__(**{**d.__dict__, "keep": None})
    _, mse_cut, bits_cut, _ = train.step_loss(dist, d, cfg, 1.0)
    _, mse_whole, bits_whole, _ = train.step_loss(dist, whole, cfg, 1.0)
    torch.testing.assert_close(bits_cut, bits_whole)  # the bits are the whole network's: the cut is training only
    assert not torch.allclose(mse_cut, mse_whole)
    train.train(cfg, tmp_path / "a", progress=False)
    batched.train_batch(cfg, tmp_path / "batch", [cfg.optim.seed, cfg.optim.seed + 1], progress=False)
    kw = {"beta": 1e-3, "n": 4, "m": 8, "count": 6, "seed": 0}
    a, _ = sample.sample_checkpoint(tmp_path / "a", **kw)
    c, _ = sample.sample_checkpoint(tmp_path / "batch" / f"seed_{cfg.optim.seed}", **kw)
    np.testing.assert_allclose(c["W"], a["W"], atol=1e-4)


def test_a_nested_cut_needs_the_places():
    import pytest

    from hyperinterp.errors import UserError

    with pytest.raises(UserError, match="hyper.neuron_rank"):
        config.load(None, ["hyper.neuron_rank=false"])  # the default cuts: it needs the places
    with pytest.raises(UserError, match="hyper.nested"):
        config.load(None, ["hyper.neuron_rank=true", "hyper.nested=1.5"])


def test_the_nested_cut_travels_with_its_neurons_and_any_size_is_cut():
    """Permuting the neurons of the noise permutes which neurons a cut keeps (the places travel with their neurons), so
    the cut generator stays exchangeable in distribution; any (m, n) is generated and cut."""
    model = _model(neuron_rank=True)
    gen = torch.Generator().manual_seed(6)
    for m, n in ((5, 3), (31, 7)):
        z = model.noise(8, m, n, gen)
        rows = torch.randperm(m, generator=gen)
        keep = train.nested_keep(model.places(z), 1.0, torch.Generator().manual_seed(7))
        keep_p = train.nested_keep(model.places(z[:, rows]), 1.0, torch.Generator().manual_seed(7))
        assert torch.equal(keep_p, keep[:, rows])
        assert keep.shape == (8, m) and (keep.sum(1) >= 1).all()  # a cut network keeps its first place at least
