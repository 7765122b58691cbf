import numpy as np
import pytest

from hyperinterp.errors import UserError
from hyperinterp.generate import netfile
from hyperinterp.read import references as R


def _rel(net, n, act="silu", seed=0):
    x = np.random.default_rng(seed).standard_normal((4096, n))
    y = np.abs(x).sum(1)
    return float(np.mean((R.forward(net, x, act) - y) ** 2) / y.var())


@pytest.mark.parametrize("n", [2, 7, 32])
@pytest.mark.parametrize("name,form", [("double_sided", "bias"), ("pudding_pos", "bias"), ("pudding_pos", "small"),
                                       ("pudding_neg", "bias"), ("pudding_neg", "small")])
def test_sparse_constructions_compute_l1(name, form, n):
    net = R.make_reference(name, n, None, k=10.0, form=form)
    assert _rel(net, n) < 2e-3
    # k = 2 is a rough but real approximation (t·tanh(t) against |t|), the bias removed by c
    assert _rel(R.make_reference(name, n, None, k=2.0, form=form), n) < 0.03


@pytest.mark.parametrize("n", [2, 16])
def test_convexity_is_rough_with_positive_output_weights(n):
    net = R.make_reference("convexity", n, None, k=4.0, seed=1)
    assert np.all(net["a"] >= 0)
    assert 0.02 < _rel(net, n) < 0.8
    assert np.all(R.participation_ratio(net["W"][net["a"] > 0]) >= R.dense_min_pr(n))


def test_relu_double_sided_is_exact():
    assert _rel(R.make_reference("double_sided", 5, None, 3.0, activation="relu"), 5, "relu") < 1e-20
    assert _rel(R.make_reference("pudding_neg", 5, None, 3.0, activation="relu"), 5, "relu") < 1e-20


@pytest.mark.parametrize("name", R.ALGORITHMS)
def test_unused_neurons_are_inactive(name):
    n = 6
    need = R.neurons_needed(name, n)
    net = R.make_reference(name, n, need + 5, k=5.0)
    assert net["W"].shape == (need + 5, n)
    unused = net["a"] == 0
    assert unused.sum() >= 5
    assert np.all(net["W"][unused] == 0)


def test_bad_arguments_raise_user_error():
    with pytest.raises(UserError, match="needs at least"):
        R.make_reference("double_sided", 8, 10)
    with pytest.raises(UserError, match="unknown reference"):
        R.make_reference("quadratic", 8)
    with pytest.raises(UserError, match="SiLU"):
        R.make_reference("pudding_pos", 8, form="small", activation="relu")
    with pytest.raises(UserError, match="form"):
        R.make_reference("pudding_pos", 8, form="tiny")
    with pytest.raises(UserError, match="positive"):
        R.make_reference("double_sided", 8, k=-1.0)


def test_perturbations():
    net = R.make_reference("pudding_pos", 5, 8, 4.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 5))
    ip, hp = rng.permutation(5), rng.permutation(8)
    p = R.permute(net, ip, hp)
    np.testing.assert_allclose(R.forward(p, x[:, ip]), R.forward(net, x), atol=1e-10)
    d = R.add_dead_neurons(net, 4, seed=1, dead_kind="silent")
    assert d["W"].shape == (12, 5)
    np.testing.assert_allclose(R.forward(d, x), R.forward(net, x), atol=1e-10)
    noisy = R.add_noise(net, 0.01, seed=2)
    assert np.all(noisy["W"] != 0)  # the zeros became small weights
    assert np.abs(noisy["W"] - net["W"]).max() < 0.05 * np.abs(net["W"]).max()


def test_save_and_load_round_trip(tmp_path):
    path = R.write_reference(tmp_path / "ds.npz", "double_sided", 4, 10, k=3.0, count=2)
    arrays, meta = netfile.load(path)
    assert arrays["W"].shape == (2, 10, 4)
    assert meta["source"] == "reference" and meta["algorithm"] == "double_sided"
    assert (meta["n"], meta["m"], meta["task"], meta["activation"]) == (4, 10, "l1", "silu")
    with pytest.raises(UserError, match="share"):
        R.stack([R.make_reference("double_sided", 4), R.make_reference("double_sided", 5)])


def test_kink_offset():
    assert R.kink_offset(3.0, "relu") == 0.0
    assert R.kink_offset(20.0) < R.kink_offset(5.0) < R.kink_offset(2.0) < 0.25


def test_nnls_is_the_exact_non_negative_least_squares_solution():
    """netmath.nnls solves through the small normal-equation factor: same minimiser as SciPy on the tall
    system, duplicated columns included, every coefficient >= 0."""
    import scipy.optimize

    from hyperinterp.read import netmath

    rng = np.random.default_rng(3)
    for m in (5, 40):
        A = np.maximum(rng.standard_normal((2000, m)), 0.0)
        A[:, 1] = A[:, 0]
        y = A[:, :3].sum(1) - A[:, 3] + 0.1 * rng.standard_normal(2000)
        x = netmath.nnls(A, y)
        ref = scipy.optimize.nnls(A, y)[0]
        assert np.all(x >= 0)
        assert np.linalg.norm(A @ x - y) == pytest.approx(np.linalg.norm(A @ ref - y), rel=1e-9)
