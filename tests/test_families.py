"""Fingerprints and families (issue 16): invariances, agreement with the L1 rules on the reference
constructions, the command line, and a user's own task end to end."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
from conftest import tiny_sets
from sklearn.metrics import adjusted_rand_score

from hyperinterp import cli
from hyperinterp.read import classify as C
from hyperinterp.read import families as FA
from hyperinterp.read import fingerprint as F
from hyperinterp.read import references as R


def _shape(words: str) -> str:
    return re.sub(r"[0-9]+(\.[0-9]+)?", "#", words)  # the words without their measured numbers


@pytest.mark.parametrize("name,form", [("double_sided", "bias"), ("pudding_pos", "bias"), ("pudding_pos", "small"),
                                       ("pudding_neg", "bias"), ("pudding_neg", "small")])
def test_fingerprint_invariant_to_permutations_and_scale(name, form):
    base = F.fingerprint(**R.make_reference(name, 12, 30, 5.0, form))
    for k, seed in [(2.0, 1), (20.0, 2), (7.5, 3)]:
        fp = F.fingerprint(**R.permute(R.make_reference(name, 12, 30, k, form), seed=seed))
        assert fp["patterns"] == base["patterns"] and fp["neuron_types"] == base["neuron_types"]
        assert _shape(fp["words"]) == _shape(base["words"])
        v, w = F.vector(fp), F.vector(base)
        assert v.keys() == w.keys() and all(abs(v[key] - w[key]) < 0.02 for key in v)


def test_words_say_what_the_neurons_do():
    ds = F.fingerprint(**R.make_reference("double_sided", 16, 40, 5.0))
    assert ds["words"].startswith("16 inputs each served by a + kink and a − kink; no dense part")
    pud = F.fingerprint(**R.make_reference("pudding_neg", 8, 9, 5.0))
    assert "8 inputs each served by a − kink" in pud["words"] and "linear: +1·Σx" in pud["words"]
    conv = F.fingerprint(**R.make_reference("convexity", 8, 24, 3.0))
    assert conv["words"].startswith("no input served") and "nonlinear" in conv["words"]
    assert conv["neuron_types"]["dense_kink"] > 0
    # sum of squares from ± pairs of tiny weights: (2/ε²)(φ(εx) + φ(-εx)) ≈ x²
    n, eps = 6, 0.1
    W = np.vstack([eps * np.eye(n), -eps * np.eye(n)])
    sq = F.fingerprint(W, np.zeros(2 * n), np.full(2 * n, 2 / eps ** 2), 0.0, task="sum_squares")
    assert sq["patterns"] == {"+q,-q": n} and sq["rel_error_centered"] < 0.05, sq["words"]
    assert "tiny-weight (quadratic)" in sq["words"]


def _spread(n: int, k: float, J: int, sign: int, rng: np.random.Generator) -> dict:
    """A pudding whose linear term ∓Σx is carried jointly by J dense neurons in the linear regime."""
    W = [sign * k * np.eye(n)[i] for i in range(n)]
    b, a = [0.0] * n, [2 / k] * n
    delta = rng.standard_normal((J, n))
    delta -= delta.mean(0)
    for j in range(J):
        W.append(-sign * (1.0 + delta[j]))
        b.append(40.0)
        a.append(1.0 / J)
    return {"W": np.array(W), "b": np.array(b), "a": np.array(a), "c": np.array(-40.0 + n * R.kink_offset(k))}


def _hybrid(pairs: int, pos: int, neg: int, k: float = 5.0) -> dict:
    """pairs inputs double-sided, the others one-sided with their share of a linear term (rules: other)."""
    n = pairs + pos + neg
    W, a, lin = [], [], np.zeros(n)
    for i in range(n):
        signs = (1, -1) if i < pairs else (1,) if i < pairs + pos else (-1,)
        for s in signs:
            W.append(s * k * np.eye(n)[i])
            a.append((1.0 if len(signs) == 2 else 2.0) / k)
        if len(signs) == 1:
            lin[i] = -signs[0]
    W.append(lin)
    a.append(1.0)
    b = np.zeros(len(W))
    b[-1] = 60.0
    return {"W": np.array(W), "b": b, "a": np.array(a), "c": np.array(-60.0)}


def reference_zoo(seed: int = 0) -> tuple[list[dict], list[str]]:
    """The hand-built constructions, varied: permuted, noisy, scale k, both pudding forms, dead neurons (zero and
    silent), the linear term spread over several dense neurons, two sizes; plus hybrids labelled other and
    near-constants (a construction at 5% of its output) labelled constant, as the rules label them."""
    rng = np.random.default_rng(seed)
    nets, labels = [], []
    for n in (8, 16):
        for name in R.ALGORITHMS:
            for v in range(6):
                k = (2.0, 5.0, 12.0)[v % 3]
                form = R.FORMS[v % 2]
                m = R.neurons_needed(name, n) + int(rng.integers(0, 4))
                net = R.make_reference(name, n, m, k if name != "convexity" else 1.0 + v / 3, form, seed=v)
                if name.startswith("pudding") and v == 5:
                    net = _spread(n, k, 5, 1 if name == "pudding_pos" else -1, rng)
                net = R.add_dead_neurons(net, int(rng.integers(0, 5)), rng, dead_kind=("zero", "silent")[v % 2])
                net = R.add_noise(R.permute(net, seed=rng), 0.01, rng)
                nets.append(net)
                labels.append(name)
        for v in range(4):
            nets.append(R.add_noise(R.permute(_hybrid(n - 4 + v % 2, 2, 2 - v % 2), seed=rng), 0.01, rng))
            labels.append("other")
        for v, name in enumerate(R.ALGORITHMS[:3]):
            net = R.make_reference(name, n, None, 5.0, seed=v)
            net["a"] = net["a"] * 0.05
            nets.append(R.add_noise(R.permute(net, seed=rng), 0.01, rng))
            labels.append("constant")
    return nets, labels


def test_families_agree_with_the_rules_on_references():
    nets, labels = reference_zoo()
    fps = [F.fingerprint(**net, n_samples=2048) for net in nets]
    ids = FA.cluster(FA.matrix(fps)[0])
    ari = adjusted_rand_score(labels, ids)
    print(f"\nARI families vs construction labels on {len(nets)} references: {ari:.3f}")
    assert ari >= 0.9
    assert_kinds_apart(ids, labels)
    assert [C.classify(**net)["label"] for net in nets] == labels  # so these are also the rules' labels


def assert_kinds_apart(ids, labels: list[str]) -> None:
    """Hybrids are a family of their own, never merged into a pure one; near-constants are apart from both."""
    hybrid = {ids[i] for i, lab in enumerate(labels) if lab == "other"}
    pure = {ids[i] for i, lab in enumerate(labels) if lab in R.ALGORITHMS}
    constant = {ids[i] for i, lab in enumerate(labels) if lab == "constant"}
    assert not hybrid & pure and not constant & (hybrid | pure)


def test_cluster_is_deterministic_and_ordered_by_size():
    X = np.array([[0.0, 0], [5, 5], [5, 5.1], [0, 0.1], [5, 4.9], [9, 0]])
    ids = FA.cluster(X)
    assert list(ids) == [1, 0, 0, 1, 0, 2]
    assert list(FA.cluster(X)) == list(ids) and list(FA.cluster(X[:1])) == [0]


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue()


def test_families_command(tmp_path):
    a = R.save_references(tmp_path / "a.npz", [R.make_reference("double_sided", 6, 14), R.make_reference(
        "pudding_pos", 6, 14)], ["double_sided", "pudding_pos"])
    b = R.save_references(tmp_path / "b.npz", [R.make_reference("pudding_pos", 6, 14, 3.0),
                                               R.permute(R.make_reference("double_sided", 6, 14, 9.0), seed=0),
                                               R.make_reference("convexity", 6, 14)], ["pudding_pos", "double_sided",
                                                                                       "convexity"])
    code, text = _cli("families", str(a), str(b), "--json")
    assert code == 0
    out = json.loads(text)
    rows = [(net["file"], net["index"]) for net in out["networks"]]
    assert rows == [(str(a), 0), (str(a), 1), (str(b), 0), (str(b), 1), (str(b), 2)]
    fam = [net["family"] for net in out["networks"]]
    assert fam[0] == fam[3] and fam[1] == fam[2] and len(set(fam)) == 3
    assert {f["id"] for f in out["families"]} == set(fam) and sum(f["size"] for f in out["families"]) == 5
    assert "a + kink and a − kink" in out["networks"][0]["fingerprint"]["words"]
    assert _cli("families", str(a), str(b), "--json")[1] == text  # same files, same ids
    for f in out["families"]:  # each representative decoded: the formula's network is the representative's function
        dec = f["decoded"]
        if dec["check"] == "re-encoded":  # double-sided, pudding: the reference's own mechanisms
            assert dec["reencoding_error"] < 1e-3 and dec["formula_error"] < 0.05, (f["name"], dec)
        else:  # convexity has no mechanism to re-encode: a radial fit, said so
            assert "‖x‖₂" in dec["formula"] and 0 < dec["reencoding_error"] < 1, dec
    assert sorted(f["decoded"]["check"] for f in out["families"]) == ["fitted", "re-encoded", "re-encoded"]
    code, text = _cli("families", str(a), str(b))
    assert code == 0 and "3 families among 5 networks" in text and "representative" in text
    # the pictures the report can use (references carry no beta: an empty fractions plot)
    FA.figure_fractions(out).savefig(tmp_path / "f.png")
    FA.figure_representatives(out).savefig(tmp_path / "r.png")
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "r.png").stat().st_size > 0


def _sum_squares_net(n: int, k: float) -> R.Net:
    """Σx² by SiLU's quadratic regime (a·silu(k·x) = (2/k)·x + x² + O(k²x⁴) for a = 4/k²), the linear term
    cancelled by one neuron in the linear regime: the `sum_squares` family the plain generator found (E16)."""
    g = -2.0 / k
    W = np.vstack([k * np.eye(n), np.full((1, n), np.sign(g) / np.sqrt(n))])
    b = np.r_[np.zeros(n), 30.0]
    a = np.r_[np.full(n, 4.0 / k**2), abs(g) * np.sqrt(n)]
    return {"W": W, "b": b, "a": a, "c": np.array(-30.0 * abs(g) * np.sqrt(n))}


def test_families_say_what_a_family_computes_on_another_task(tmp_path):
    rng = np.random.default_rng(0)
    nets = [R.permute(_sum_squares_net(8, k), seed=rng) for k in (0.05, 0.08, 0.1)]
    path = R.save_references(tmp_path / "sq.npz", nets, "quadratic", task="sum_squares")
    code, text = _cli("families", str(path), "--json")
    fams = json.loads(text)["families"]
    assert code == 0 and len(fams) == 1
    dec = fams[0]["decoded"]
    # neurons in SiLU's small-weight regime read as the squares they compute, checked by re-encoding
    coef = re.search(r"y ≈ ([0-9.]+)·Σ_i x_i² ", dec["formula"])
    assert dec["check"] == "re-encoded" and coef and abs(float(coef.group(1)) - 1) < 0.01, dec
    assert dec["reencoding_error"] < 1e-3 and dec["network_error"] < 1e-3 and dec["formula_error"] < 1e-3, dec
    code, text = _cli("families", str(path))
    assert code == 0 and "·Σ_i x_i² " in text and "(re-encoded: the formula misses" in text


def test_families_command_bad_file(tmp_path, capsys):
    (tmp_path / "x.npz").write_text("not a zip")
    assert cli.main(["families", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperinterp: error:") and len(err.splitlines()) == 1


USER_TASK = '''import torch

def soft_count(x):
    return torch.sigmoid(4 * x).sum(-1)

def wrong_shape(x):
    return x

def broken(x):
    raise ValueError("no")
'''


def test_user_task_trains_samples_and_gets_families(tmp_path, monkeypatch):
    (tmp_path / "fam_user_task.py").write_text(USER_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    code, _ = _cli("train", str(run), "--quiet", *tiny_sets('task.name="fam_user_task:soft_count"'))
    assert code == 0
    nets = tmp_path / "nets.npz"
    assert _cli("sample", str(run), "--beta", "1e-4", "--count", "6", "--out", str(nets))[0] == 0
    code, text = _cli("families", str(nets), "--json")
    out = json.loads(text)
    assert code == 0 and len(out["networks"]) == 6 and out["networks"][0]["task"] == "fam_user_task:soft_count"
    assert sum(f["size"] for f in out["families"]) == 6


@pytest.mark.parametrize("name,message", [
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("fam_user_task:missing", "has no function 'missing'"),
    ("fam_user_task:wrong_shape", "must map a (B, n) batch to (B,)"),
    ("fam_user_task:broken", "ValueError: no"),
])
def test_bad_user_task_is_one_line_exit_2(tmp_path, monkeypatch, capsys, name, message):
    (tmp_path / "fam_user_task.py").write_text(USER_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["train", str(tmp_path / "run"), "--quiet", *tiny_sets(f'task.name="{name}"')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperinterp: error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_json_is_strict_with_nan_bits(tmp_path):
    """Plain-Adam networks have bits = NaN: the JSON says null, not NaN."""
    from hyperinterp.generate import netfile

    arrays = R.stack([R.make_reference("double_sided", 4, 8), R.make_reference("pudding_neg", 4, 8)])
    arrays.update(bits=np.array([np.nan, 3.0]), beta=np.array([1e-3, 1e-3]))
    path = netfile.save(tmp_path / "n.npz", arrays, R.reference_meta("mixed", 4, 8))
    code, text = _cli("families", str(path), "--json")

    def no_nan(name):
        raise AssertionError(f"{name} in JSON")

    out = json.loads(text, parse_constant=no_nan)
    assert code == 0 and out["networks"][0]["bits"] is None and out["networks"][1]["bits"] == 3.0
    assert {f["size"] for f in out["families"]} == {1} and out["families"][0]["by_beta"] == {"0.001": 0.5}


def test_task_families_script_end_to_end(tmp_path):
    """experiments/task_families.sh (issue 16's other-task sweep) trains, samples at every β and writes each task's
    families, with what each family computes: at a tiny size, one task, one seed and three betas."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / ".venv/bin/hyperinterp").exists():
        pytest.skip("the script runs the project's .venv (make setup)")
    env = {**os.environ, "TASKS": "sum_squares", "SEEDS": "1", "CONFIG": "configs/plain.toml",
           "BETAS": "1e-6 1e-3 1e-2"}
    done = subprocess.run(["bash", "experiments/task_families.sh", str(tmp_path), "--set", "optim.steps=30",
                           "--set", "hyper.layers=1"], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp_path / "sum_squares/families.json").read_text())
    assert len(out["networks"]) == 3 * 16 and {n["task"] for n in out["networks"]} == {"sum_squares"}
    assert all("formula" in f["decoded"] for f in out["families"])
    assert (tmp_path / "sum_squares/families_beta.png").stat().st_size > 0
    assert "families among 48 networks" in (tmp_path / "sum_squares/families.txt").read_text()


def test_small_weight_networks_read_as_a_quadratic_form(tmp_path):
    """Neurons in SiLU's small-weight regime that also read every other input a little (as the generator's
    `sum_squares` networks do, E40) compute a quadratic form, not one kink per input: the mechanism reading, which
    drops off-axis weights, misses most of such a network, and the family's formula is its quadratic form instead,
    with the numbers of A = Σ_j (a_j/4)·w_j·w_jᵀ (silu(z) ≈ z/2 + z²/4), re-encoded."""
    n, k, eps = 8, 0.1, 0.013  # |w·x| ≲ 0.4: the quartic term (z⁴/48) is under 1% of the square
    W = k * np.eye(n) - eps * (np.ones((n, n)) - np.eye(n))
    a = np.full(n, 4.0 / k**2)
    nets = [{"W": W, "b": np.zeros(n), "a": a, "c": np.array(0.0)}]
    path = R.save_references(tmp_path / "q.npz", nets, "quadratic", task="sum_squares")
    A = (W.T * (a / 4)) @ W
    q, r = np.diag(A).mean(), 2 * A[~np.eye(n, dtype=bool)].mean()
    dec = FA.decoded(path, 0)
    nums = re.search(r"y ≈ ([-0-9.e]+)·Σ_i x_i² ([+−]) ([0-9.e-]+)·Σ_\(i<j\)", dec["formula"])
    assert dec["reading"] == "quadratic form" and dec["check"] == "re-encoded" and nums, dec
    r_read = float(nums.group(3)) * (1 if nums.group(2) == "+" else -1)
    assert abs(float(nums.group(1)) - q) < 0.02 * q and abs(r_read - r) < 0.02 * abs(r), (dec["formula"], q, r)
    assert dec["reencoding_error"] < 0.01, dec


def test_soft_threshold_pairs_read_from_the_fingerprint_slots(tmp_path):
    """A thresholded double-sided network for `linf` (what the default generator builds, E40): every input a ± pair of
    soft kinks at |x_i| = τ. The rules judge sides on L1's scale; the families read it by the fingerprint's slots:
    a pair on every input, kinks at τ, re-encoded."""
    n, k, tau, amp = 8, 2.0, 1.7, 0.5
    W = np.vstack([k * np.eye(n), -k * np.eye(n)])
    nets = [R.permute({"W": W, "b": np.full(2 * n, -k * tau), "a": np.full(2 * n, amp), "c": np.array(2.8)}, seed=s)
            for s in range(3)]
    path = R.save_references(tmp_path / "linf.npz", nets, "threshold", task="linf")
    code, text = _cli("families", str(path), "--json")
    fams = json.loads(text)["families"]
    assert code == 0 and len(fams) == 1
    dec = fams[0]["decoded"]
    pair = re.search(r"Σ_i ([0-9.]+)·\[silu\(([0-9.]+)·x_i − ([0-9.]+)\) \+ silu\(−([0-9.]+)·x_i − ([0-9.]+)\)\]",
                     dec["formula"])
    assert pair and dec["reencoding_error"] < 1e-3, dec
    assert abs(float(pair.group(3)) / float(pair.group(2)) - tau) < 1e-3  # the kinks at |x_i| = τ


def test_families_agreement_script_with_constant_and_groups(tmp_path):
    """scripts/families_agreement.py: the index against the rule labels (with `constant`), against the five labels
    of before (near-constants inside `other`, where the families' separation of them counts as disagreement), and per
    group of files within one clustering."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    n, m = 8, 24

    def padded(net):
        return R.add_dead_neurons(net, m - len(net["a"]), 0)

    for seed in (0, 1):
        nets = [padded(R.make_reference("double_sided", n, 16, 5.0)) for _ in range(3)]
        nets += [padded(_hybrid(5, 2, 1)) for _ in range(3)]
        for _ in range(3):
            net = padded(R.make_reference("double_sided", n, 16, 5.0))
            net["a"] = net["a"] * 0.05
            nets.append(net)
        R.save_references(tmp_path / f"seed_{seed}_beta_1e-6.npz", [R.add_noise(x, 0.01, seed) for x in nets],
                          "mixed")
    files = sorted(str(p) for p in tmp_path.glob("*.npz"))
    done = subprocess.run([sys.executable, "scripts/families_agreement.py", *files, "--json", "--group",
                           "seed_[0-9]+_"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["networks"] == 18 and out["labelled"] == 6
    assert out["ari_labels"] == 1.0 and out["ari_labelled_only"] == 1.0
    assert out["ari_five_labels"] < 0.9  # constant and hybrid networks: one label then, two families
    assert out["ari_by_group"] == {"seed_0_": 1.0, "seed_1_": 1.0}
