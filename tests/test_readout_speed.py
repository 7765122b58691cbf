"""The batched read-out (measure.py: a file's networks evaluated together) gives the labels and fingerprints of the
per-network read-out it replaced: held to tests/data/readout_golden.*, 216 draws of the demo's shipped models made by
the code before it (scripts/make_readout_golden.py), and to itself one network at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyperinterp.read import classify, directions, fingerprint, readout

GOLDEN = Path(__file__).parent / "data" / "readout_golden"


def _groups():
    record = json.loads(GOLDEN.with_suffix(".json").read_text())
    store = np.load(GOLDEN.with_suffix(".npz"))
    for g in record:
        yield g, {k: store[f"{g['group']}/{k}"] for k in ("W", "b", "a", "c")}


GROUPS = list(_groups())


def _opts(g: dict) -> dict:
    return {"activation": g["activation"], "task": g["task"], "input_dist": g["input_dist"]}


def test_the_golden_sample_spans_every_label():
    labels = {lab["label"] for g, _ in GROUPS for lab in g["labels"]}
    assert {"double_sided", "pudding_pos", "convexity", "constant", "other"} <= labels
    assert {arrays["W"].shape[2] for _, arrays in GROUPS} >= {8, 16, 29}


@pytest.mark.parametrize("block", [1, 2048], ids=["one_network_a_block", "default_block"])
def test_labels_and_evidence_equal_the_per_network_readout(block):
    for g, arrays in GROUPS:
        got = classify.classify_many(*arrays.values(), **_opts(g), block=block)
        for want, res in zip(g["labels"], got, strict=True):
            assert res["label"] == want["label"] and res["reason"] == want["reason"], g["source"]
            assert res["composition"] == want["composition"] and res["n_active"] == want["n_active"]
            np.testing.assert_allclose(res["rel_error"], want["rel_error"], rtol=1e-9)
            if want["random_ridge_rel_error"] is not None:  # the best of the draws that decided the rule
                assert res["random_ridge_draws"] == 8 or res["label"] == "convexity"
                got, full = res["random_ridge_rel_error"], want["random_ridge_rel_error"]
                assert got >= full * (1 - 1e-9) and (res["random_ridge_draws"] < 8 or got == pytest.approx(full))
            np.testing.assert_allclose(res["dense_part"]["coef"], want["dense_part"]["coef"], rtol=1e-7, atol=1e-12)


def test_fingerprints_equal_the_per_network_readout():
    for g, arrays in GROUPS:
        got = fingerprint.fingerprint_many(*arrays.values(), **_opts(g))
        for want, fp in zip(g["fingerprints"], got, strict=True):
            assert fp["words"] == want["words"] and fp["neuron_types"] == want["neuron_types"], g["source"]
            vec = fingerprint.vector(fp)
            assert vec.keys() == want["vector"].keys()
            np.testing.assert_allclose(list(vec.values()), list(want["vector"].values()), rtol=1e-9, atol=1e-12)


def test_one_network_reads_as_in_its_file():
    g, arrays = GROUPS[0]
    many = classify.classify_many(*arrays.values(), **_opts(g))
    one = classify.classify(*(v[1] for v in arrays.values()), **_opts(g))
    assert json.dumps(one) == json.dumps(many[1])


def test_one_measurement_gives_both_labels_and_fingerprints():
    """readout.read (what the sweep keeps beside each file) equals classify_arrays, fingerprint_arrays and
    directions.read_many apart."""
    g, arrays = GROUPS[3]
    meta = _opts(g)
    arrays = {**arrays, "beta": np.full(len(arrays["W"]), 1e-3), "bits": np.arange(len(arrays["W"]), dtype=float)}
    labels, fps, dirs = readout.read(arrays, meta)
    assert json.dumps(dirs) == json.dumps(directions.read_many(*(arrays[k] for k in "Wbac"), **meta))
    assert json.dumps(labels) == json.dumps(classify.classify_arrays(arrays, meta))
    assert json.dumps(fps) == json.dumps(readout.fingerprint_arrays(arrays, meta))
    assert [r["index"] for r in labels] == list(range(len(arrays["W"]))) and labels[2]["bits"] == 2.0


def test_the_reference_formulation_gives_the_same_labels():
    """What the benchmark times as "before" (one network at a time, SiLU's tanh form, every yardstick draw) labels
    the golden draws as the batched read-out does, and its yardstick is the full one the golden file recorded."""
    convexity = [(g, a) for g, a in GROUPS if any(lab["random_ridge_rel_error"] is not None for lab in g["labels"])]
    assert len(convexity) >= 3
    for g, arrays in convexity[:3] + GROUPS[::9]:
        ref = classify.classify_many(*arrays.values(), **_opts(g), block=1, reference=True)
        for want, res in zip(g["labels"], ref, strict=True):
            assert res["label"] == want["label"] and res["reason"] == want["reason"]
            if want["random_ridge_rel_error"] is not None:
                assert res["random_ridge_draws"] == 8
                assert res["random_ridge_rel_error"] == pytest.approx(want["random_ridge_rel_error"], rel=1e-9)
