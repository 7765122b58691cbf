import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperinterp.errors import UserError
from hyperinterp.generate import netfile
from hyperinterp.generate.target import Nets, forward
from hyperinterp.generate.tasks import make_task
from hyperinterp.read import classify as C
from hyperinterp.read import references as R

ALGORITHM_LABELS = set(R.ALGORITHMS)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _perturbed(name, n, k, form, extra, seed, act="silu"):
    rng = np.random.default_rng(seed)
    m = R.neurons_needed(name, n) + int(rng.integers(0, 4))
    net = R.make_reference(name, n, m, k, form, seed, act)
    net = R.add_dead_neurons(net, extra, rng, dead_kind="silent" if seed % 2 else "zero")
    net = R.permute(net, seed=rng)
    return R.add_noise(net, 0.01, rng)


@SETTINGS
@given(name=st.sampled_from(R.ALGORITHMS), n=st.one_of(st.sampled_from([2, 64]), st.integers(2, 64)),
       k=st.floats(2.0, 20.0), form=st.sampled_from(R.FORMS), extra=st.integers(0, 6), seed=st.integers(0, 10_000))
def test_references_labelled_correctly(name, n, k, form, extra, seed):
    net = _perturbed(name, n, k, form, extra, seed)
    res = C.classify(**net, n_samples=2048, seed=seed % 7)
    assert res["label"] == name, res["reason"]


@pytest.mark.parametrize("name", R.ALGORITHMS)
def test_relu_references(name):
    net = _perturbed(name, 9, 6.0, "bias", 3, 1, act="relu")
    assert C.classify(**net, activation="relu")["label"] == name


@pytest.mark.parametrize("name", ["double_sided", "pudding_pos", "pudding_neg"])
def test_invariant_to_permutation_and_scale(name):
    base = C.classify(**R.make_reference(name, 12, 30, 5.0))
    for k, seed in [(2.0, 1), (20.0, 2), (7.5, 3)]:
        res = C.classify(**R.permute(R.make_reference(name, 12, 30, k), seed=seed))
        assert res["label"] == base["label"] == name
        assert {key: res["composition"][key] for key in ("pair", "pos_only", "neg_only", "none")} == \
               {key: base["composition"][key] for key in ("pair", "pos_only", "neg_only", "none")}
        assert res["n_active"] == base["n_active"]


def test_evidence_is_plain_json():
    res = C.classify(**R.add_noise(R.make_reference("pudding_neg", 6, 10, 4.0), 0.01, 0))
    text = json.dumps(res, allow_nan=False)
    back = json.loads(text)
    assert back["composition"]["neg_only"] == 6
    assert back["dense_part"]["r2"] > 0.99 and back["dense_part"]["coef_cv"] < 0.1
    sparse = [nrn for nrn in back["neurons"] if nrn["kind"] == "kink"]
    assert sorted(nrn["input"] for nrn in sparse) == list(range(6))
    assert {nrn["sign"] for nrn in sparse} == {-1}
    assert all(nrn["pr"] < 1.5 for nrn in sparse)


def test_split_sparse_neurons_and_spread_dense_part_still_pudding():
    """Each one-input neuron split in three, the linear term spread over 20 dense neurons."""
    n, k = 16, 4.0
    rng = np.random.default_rng(0)
    rows, bs, As = [], [], []
    for i in range(n):
        for share in (0.5, 0.3, 0.2):
            w = np.zeros(n)
            w[i] = k * (1 + 0.1 * rng.standard_normal())
            rows.append(w)
            bs.append(0.0)
            As.append(share * 2 / abs(w[i]))
    J = 20
    delta = rng.standard_normal((J, n))
    delta -= delta.mean(0)  # directions differ, but the sum of the dense part is -Σx exactly
    big = 40.0
    for j in range(J):
        rows.append(-(1.0 + delta[j]))
        bs.append(big)
        As.append(1.0 / J)
    net = {"W": np.array(rows), "b": np.array(bs), "a": np.array(As), "c": np.array(-big + n * R.kink_offset(k))}
    res = C.classify(**net)
    assert res["label"] == "pudding_pos", res["reason"]
    assert res["composition"]["pos_only"] == n and res["n_dense"] == J


def _hybrid(pairs, pos, neg, k=5.0):
    """pairs inputs double-sided, pos/neg inputs one-sided with their linear term."""
    n = pairs + pos + neg
    W, a = [], []
    lin = np.zeros(n)
    for i in range(n):
        signs = (1, -1) if i < pairs else (1,) if i < pairs + pos else (-1,)
        for s in signs:
            w = np.zeros(n)
            w[i] = s * k
            W.append(w)
            a.append((1.0 if len(signs) == 2 else 2.0) / k)
        if len(signs) == 1:
            lin[i] = -signs[0]
    big = 60.0
    W.append(lin)
    a.append(1.0)
    b = np.zeros(len(W))
    b[-1] = big
    return {"W": np.array(W), "b": b, "a": np.array(a), "c": np.array(-big)}


def test_hybrids_are_other_with_composition():
    res = C.classify(**_hybrid(12, 2, 2))
    assert res["label"] == "other" and "hybrid" in res["reason"]
    assert (res["composition"]["pair"], res["composition"]["pos_only"], res["composition"]["neg_only"]) == (12, 2, 2)
    res = C.classify(**_hybrid(15, 1, 0))  # near-double-sided: one input with one side and a linear term
    assert res["label"] == "other"
    # a broken pudding: positive sides, but the linear term missing on 2 of 8 inputs (on half, the
    # network is further from y than a constant is: `constant`)
    net = R.make_reference("pudding_pos", 8, 9, 5.0)
    net["W"][8, :2] = 0.0
    res = C.classify(**net)
    assert res["label"] == "other" and "not uniform" in res["reason"]
    net["W"][8, :4] = 0.0
    assert C.classify(**net)["label"] == "constant"


def test_near_constant_is_constant_never_convexity():
    net = R.make_reference("convexity", 8, 24, 3.0)
    net["a"] = net["a"] * 0.05
    res = C.classify(**net)
    assert res["label"] == "constant" and "near-constant" in res["reason"]
    flat = {"W": np.zeros((5, 4)), "b": np.zeros(5), "a": np.zeros(5), "c": np.array(2.8)}
    assert C.classify(**flat)["label"] == "constant"


def test_convexity_needs_one_sign_and_a_nonlinear_dense_part():
    net = R.make_reference("convexity", 8, 24, 3.0)
    j = int(np.argsort(net["a"])[-6])  # a mid-sized one: flipping the largest leaves a near-constant
    net["a"][j] = -net["a"][j]
    res = C.classify(**net)
    assert res["label"] == "other" and "both signs" in res["reason"]


def _random_nets(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, m = int(rng.integers(2, 33)), int(rng.integers(2, 65))
        scale = np.exp(rng.uniform(-1.5, 1.5))
        yield {"W": rng.standard_normal((m, n)) * scale / np.sqrt(n), "b": rng.standard_normal(m) * rng.uniform(0, 1),
               "a": rng.standard_normal(m) * np.exp(rng.uniform(-2, 1)) / np.sqrt(m), "c": np.array(rng.normal(0, 3))}


def test_random_networks_get_no_algorithm_label():
    labels = [C.classify(**net, n_samples=1024)["label"] for net in _random_nets(300, 0)]
    rate = np.mean([lab in ALGORITHM_LABELS for lab in labels])
    print(f"\nrandom networks given an algorithm label: {rate:.1%} of {len(labels)}")
    assert rate <= 0.05


@pytest.fixture(scope="module")
def adam_networks():
    """20 networks, n = 16, m = 48, SiLU, trained on L1 with plain Adam (no budget), in one batch."""
    torch.manual_seed(0)
    K, n, m = 20, 16, 48
    task = make_task("l1")
    W = (torch.randn(K, m, n) / n ** 0.5).requires_grad_()
    b = torch.zeros(K, m, requires_grad=True)
    a = (torch.randn(K, m) / m ** 0.5).requires_grad_()
    c = torch.zeros(K, requires_grad=True)
    opt = torch.optim.Adam([W, b, a, c], lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    for _ in range(1500):
        x = task.sample_x(256, n, generator=gen)
        loss = ((forward(Nets(W, b, a, c), x) - task.target(x)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [{"W": W[i].detach().numpy(), "b": b[i].detach().numpy(), "a": a[i].detach().numpy(),
             "c": c[i].detach().numpy()} for i in range(K)]


def test_adam_trained_networks_get_no_algorithm_label(adam_networks):
    results = [C.classify(**net) for net in adam_networks]
    assert np.median([r["rel_error"] for r in results]) < 0.2  # they did learn the target
    rate = np.mean([r["label"] in ALGORITHM_LABELS for r in results])
    print(f"\nAdam-trained networks given an algorithm label: {rate:.1%} of {len(results)}\n"
          + C.format_table(results))
    assert rate <= 0.05


def test_classify_file_and_table(tmp_path):
    nets = [R.make_reference(name, 5, 12, 4.0) for name in R.ALGORITHMS]
    path = R.save_references(tmp_path / "refs.npz", nets, list(R.ALGORITHMS))
    results = C.classify_file(path)
    assert [r["label"] for r in results] == list(R.ALGORITHMS)
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    table = C.format_table(results)
    assert "counts:" in table and "double_sided 1" in table and "other 0" in table


def test_bad_files_raise_user_error(tmp_path):
    missing = tmp_path / "missing.npz"
    np.savez(missing, W=np.zeros((1, 3, 2), np.float32), b=np.zeros((1, 3), np.float32))
    with pytest.raises(UserError, match="missing"):
        C.classify_file(missing)
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, W=np.zeros((1, 3, 2)), b=np.zeros((1, 4)), a=np.zeros((1, 3)), c=np.zeros(1))
    with pytest.raises(UserError, match="shape"):
        C.classify_file(shapes)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(UserError, match="not a readable"):
        C.classify_file(junk)
    with pytest.raises(UserError, match="not found"):
        C.classify_file(tmp_path / "nothing.npz")
    # a truncated real file
    good = R.write_reference(tmp_path / "good.npz", "double_sided", 3)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(UserError):
        C.classify_file(cut)
    assert netfile.load(good)[0]["W"].shape == (1, 6, 3)


def test_noise_weight_convexity_like_the_gaussian_prior_phase():
    """DESIGN §4: dense weights that are prior noise (σ ≈ 0.9), every output weight positive, relative
    error ≈ 0.7. Output weights here are random positive numbers with one fitted scale (not optimised)."""
    rng = np.random.default_rng(0)
    fitted = 0
    for _ in range(8):
        n, m = 16, 48
        W, b, a = rng.standard_normal((m, n)) * 0.9, rng.standard_normal(m) * 0.9, np.abs(rng.standard_normal(m))
        x, y = C.sample_inputs(n, 4096, 99)
        H = R.phi(x @ W.T + b) @ a
        scale = np.cov(H, y)[0, 1] / H.var()
        res = C.classify(W, b, a * scale, y.mean() - scale * H.mean())
        if res["rel_error_centered"] < C.CONSTANT_REL:  # the rest are near-constants
            fitted += 1
            assert res["label"] == "convexity", res["reason"]
        else:
            assert res["label"] == "constant"
    assert fitted >= 4


def test_classify_piped_into_a_reader_that_stops_ends_quietly(tmp_path):
    """`hyperinterp classify FILE | head`: the reader closes the pipe before the table is written; the command ends
    without a traceback (exit 141, as a shell reports a tool stopped by SIGPIPE)."""
    import os
    import subprocess
    import sys

    nets = [R.make_reference(name, 5, 12, 4.0) for name in R.ALGORITHMS]
    path = R.save_references(tmp_path / "refs.npz", nets, list(R.ALGORITHMS))
    for unbuffered in ("1", ""):  # stdout written at once, or held in Python's buffer until the end
        env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
        proc = subprocess.Popen([sys.executable, "-m", "hyperinterp.cli", "classify", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # before the command has written anything
        err = proc.stderr.read().decode()
        assert proc.wait() == 141 and err == "", (unbuffered, err)


def test_effective_neurons_count_what_a_network_needs_not_what_it_spreads_over():
    """n_effective (measure.counts_of, the sweep table's effective_median): the fewest neurons that reproduce
    95% of the output's variance with refitted output weights: 2n for double-sided, n + 1 for pudding, and 2 for |Σx|
    whether two neurons or 46 carry it."""
    assert C.classify(**R.make_reference("double_sided", 8))["n_effective"] == 16
    assert C.classify(**R.make_reference("pudding_pos", 8))["n_effective"] == 9
    spread = C.classify(**R.make_mechanism("abs_sum_spread", 8, 46, 5.0, seed=0))
    assert spread["n_active"] == 46 and spread["n_effective"] == 2
    # n_carrying: the fewest of its own neurons, unchanged, that do: the spread is visible there
    two = C.classify(**R.make_mechanism("abs_sum", 8, None, 5.0, seed=0))
    assert spread["n_carrying"] >= 30 and two["n_carrying"] == two["n_effective"] == 2


def test_carrying_neurons_from_the_covariance_equal_the_straightforward_sum():
    """measure.neuron_counts computes carrying neurons from prefix sums of the contributions' covariance; the same
    count as subtracting the largest neurons' contributions from f one by one on the data."""
    from hyperinterp.read import measure

    rng = np.random.default_rng(0)
    for trial in range(20):
        H = rng.standard_normal((512, 12)) * rng.uniform(0.1, 3.0, 12) + rng.standard_normal(12)
        f = H.sum(1) + 0.3 * rng.standard_normal(512) * (trial % 2)
        order = np.argsort(-H.var(0), kind="stable")
        left = (f[:, None] - np.cumsum(H[:, order], 1)).var(0)
        want = int(np.argmax(left <= 0.05 * f.var())) + 1 if (left <= 0.05 * f.var()).any() else 12
        assert measure.neuron_counts(H, f)[1] == want, trial
