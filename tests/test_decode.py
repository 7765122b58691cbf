import numpy as np
import pytest

from hyperinterp.read import classify as C
from hyperinterp.read import decode as D
from hyperinterp.read import references as R

CASES = [(name, form) for name in R.ALGORITHMS for form in (R.FORMS if name.startswith("pudding") else ("bias",))]


@pytest.mark.parametrize("name,form", [c for c in CASES if c[0] != "convexity"])
@pytest.mark.parametrize("n,k", [(2, 2.0), (9, 7.3), (64, 20.0)])
def test_decoded_formula_matches_reference(name, form, n, k):
    net = R.permute(R.make_reference(name, n, R.neurons_needed(name, n) + 3, k, form, seed=n), seed=1)
    res = C.classify(**net)
    out = D.decode(**net, result=res)
    assert out["label"] == name and out["check"] == "re-encoded"
    assert out["rel_error"] <= 1e-3, out["formula"]
    assert out["per_input"]["rel_error"] <= 1e-3
    # the ideal is a network of the same family, and computes what the formula says
    x = np.random.default_rng(5).standard_normal((512, n))
    f, g = R.forward(net, x), R.forward(out["ideal"], x)
    assert np.mean((f - g) ** 2) <= 1e-3 * f.var()
    # the formula is as good at the task as the network it decodes
    assert abs(out["target_error"] - out["network_error"]) <= 1e-2 * max(out["network_error"], 1e-2)
    formula = out["formula"]
    assert formula.startswith("y ≈ ")
    assert f"silu({'−' if name == 'pudding_neg' else ''}{k:g}·x_i)" in formula
    assert ("Σ_i x_i" in formula) == name.startswith("pudding")
    mech = out["params"]["mechanisms"]
    assert abs(next(iter(mech.values()))["k"] - k) < 1e-3 * k


@pytest.mark.parametrize("n", [2, 9, 16])
def test_convexity_is_summarised_by_a_fit_not_verified_by_itself(n):
    """Convexity has no mechanism to re-encode: its formula is the best radial fit, whose errors
    against the network and the target are measured, never a copy of the network."""
    m = R.neurons_needed("convexity", n) + 3
    net = R.permute(R.make_reference("convexity", n, m, 2.0, seed=n), seed=1)
    out = D.decode(**net)
    assert out["label"] == "convexity" and out["check"] == "fitted" and out["ideal"] is None
    alpha, gamma = out["params"]["alpha"], out["params"]["gamma"]
    assert out["formula"] == f"y ≈ {alpha:g}·‖x‖₂ {'+' if gamma >= 0 else '−'} {abs(gamma):g}"
    # the fit is the best of its form: the radial function re-computed here has the reported error
    x, y = C.sample_inputs(n, out["n_samples"], out["seed"])
    f = R.forward(net, x)
    r = alpha * np.linalg.norm(x, axis=1) + gamma
    assert np.isclose(out["rel_error"], np.mean((f - r) ** 2) / f.var(), rtol=1e-6)
    assert np.isclose(out["target_error"], np.mean((r - y) ** 2) / y.var(), rtol=1e-6)
    assert 0 < out["rel_error"] < 1  # a summary: it explains part of the network, not all of it
    for shifted in (alpha * 1.1, alpha * 0.9):  # and no other slope explains more
        assert np.mean((f - shifted * np.linalg.norm(x, axis=1) - gamma) ** 2) > np.mean((f - r) ** 2)
    ridges = out["params"]["ridges"]
    active = m - len(C.classify(**net)["inactive"])
    assert ridges["ridges"] == active and 1 <= ridges["effective"] <= active
    assert f"{active} ridges" in out["description"]


def test_formula_reads_as_expected():
    out = D.decode(**R.make_reference("pudding_pos", 16, None, 3.1))
    assert out["formula"].startswith("y ≈ Σ_i 2·silu(3.1·x_i)/3.1 − 1·Σ_i x_i + ")
    out = D.decode(**R.make_reference("double_sided", 4, None, 5.0, activation="relu"), activation="relu")
    assert out["formula"].startswith("y ≈ Σ_i 1·[relu(5·x_i) + relu(−5·x_i)]/5")
    assert out["rel_error"] < 1e-9


def test_noisy_reference_decodes_closely():
    net = R.add_noise(R.make_reference("pudding_neg", 12, 20, 5.0), 0.01, seed=3)
    out = D.decode(**net)
    assert out["label"] == "pudding_neg"
    assert out["per_input"]["rel_error"] < 0.05 and out["rel_error"] < 0.05


def test_hybrid_and_constant_are_described_honestly():
    n, k = 6, 5.0
    net = R.make_reference("double_sided", n, None, k)
    # remove the negative side of input 0 and add the linear term that pudding would use there
    j = int(np.flatnonzero(net["W"][:, 0] < 0)[0])
    net["W"][j] = 0.0
    net["W"][j, 0] = -1.0
    net["b"][j] = 30.0
    net["a"][j] = 1.0
    net["c"] = net["c"] - 30.0
    net["a"][int(np.flatnonzero(net["W"][:, 0] > 0)[0])] = 2 / k
    out = D.decode(**net)
    assert out["label"] == "other" and out["formula"].startswith("[other: hybrid")
    assert out["per_input"]["rel_error"] < 1e-3
    flat = {"W": np.zeros((3, 2)), "b": np.zeros(3), "a": np.zeros(3), "c": np.array(1.5)}
    out = D.decode(**flat)
    assert out["label"] == "constant" and out["formula"].startswith("[constant: near-constant")
    assert "y ≈ 1.5" in out["formula"] and out["rel_error"] == 0.0
