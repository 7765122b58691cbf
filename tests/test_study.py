"""Studies are data: a TOML file of named trainings runs as a sweep, continuations included; the default
sweep and the demo are study files; a bad study file is one line and exit 2."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import run_cli

from hyperinterp import cli
from hyperinterp.errors import UserError
from hyperinterp.experiments import demo, study, sweep
from hyperinterp.generate import checkpoint, config

STUDIES = Path(__file__).resolve().parents[1] / "configs" / "studies"
MULTI_N_SIZES = [6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]  # what the sweep mode multi_n trained over
TINY_SET = ["hyper.layers=1", "hyper.width=8", "optim.nets_per_step=4", "optim.inputs_per_step=32",
            "optim.checkpoint_every=10", "optim.log_every=10", "task.n=4", "task.m=12", "optim.steps=20"]

TINY_STUDY = f"""
description = "tiny: a variant and its continuation"
set = {json.dumps(TINY_SET)}

[sweep]
modes = []
betas = [1e-5, 1e-3]
count = 3
generalization_sizes = [3, 6]
generalization_betas = [1e-5]

[[training]]
name = "variant"
seeds = [0, 1]
set = {{ "hyper.sign_split" = true }}
generalization = true

[[training]]
name = "continued"
seeds = [1]
init_from = "variant"
set = {{ "task.m" = 16, "optim.lr" = 1e-3 }}
"""


def test_the_default_sweep_is_a_study_file():
    spec, base, _ = study.load(STUDIES / "default.toml")
    args = cli.parser().parse_args(["sweep", "out", "--seeds", "4", "--per-beta-seeds", "1",
                                    "--per-beta-steps", "4000"])
    assert spec == cli._sweep_spec(args) and base == config.Config()


def test_the_demo_runs_its_study_file():
    """`hyperinterp demo` reads configs/studies/demo.toml (no second copy in the code), and the file states what the
    shipped runs were trained as: the default generator's 16 range seeds compiled, per_beta seed 0, E24's generator
    over sizes (its own base config, configs/e24.toml, read into explicit overrides), and the default's range seed 0
    continued over sizes (E79), then over a wider range (E81), each found finished in shipped/."""
    assert demo.DEMO_STUDY == STUDIES / "demo.toml"
    spec, base = demo.DEMO_SPEC, demo.DEMO_BASE
    assert spec.modes == ("range", "per_beta", "direct", "adam") and spec.seeds == tuple(range(16))
    assert spec.per_beta_seeds == 1 and spec.betas == sweep.DEFAULT_BETAS and base.optim.compile
    assert base == dataclasses.replace(config.Config(), optim=dataclasses.replace(config.Config().optim, compile=True))
    baselines = [j for j in sweep.plan(spec) if j.mode in ("direct", "adam")]  # direct_seeds = 1: both on seed 0
    assert {j.seed for j in baselines} == {0} and sum(j.mode == "adam" for j in baselines) == 1
    e24, sizes, grown = spec.trainings
    assert e24["name"] == "multi_n_e24" and e24["seeds"] == [0] and e24["generalization"] and "config" not in e24
    assert e24["set"]["task.train_sizes"] == MULTI_N_SIZES and e24["set"]["optim.compile"] is False
    e24_config = sweep.job_config(base, spec, sweep.Job("multi_n_e24", 0, extra=e24))
    expected = config.load("configs/e24.toml", ["optim.seed=0", "optim.threads=1", "task.train_sizes=" +
                                                str(MULTI_N_SIZES)])
    assert e24_config == expected
    assert sizes["name"] == "sizes_cont" and sizes["init_from"] == "range" and not sizes["generalization"]
    sizes_config = sweep.job_config(base, spec, sweep.Job("sizes_cont", 0, extra=sizes))
    assert sizes_config.optim.init_from == "train/range/seed_0" and sizes_config.hyper == config.DEFAULT_HYPER
    assert sizes_config.task.train_sizes == tuple(range(8, 25, 2)) and sizes_config.optim.steps == 4000
    assert grown["name"] == "sizes_grown" and grown["init_from"] == "sizes_cont" and grown["generalization"]
    grown_config = sweep.job_config(base, spec, sweep.Job("sizes_grown", 0, extra=grown))
    assert grown_config.optim.init_from == "train/sizes_cont/seed_0" and grown_config.hyper == config.DEFAULT_HYPER
    assert grown_config.task.train_sizes == tuple(range(3, 49, 3)) and grown_config.optim.lr == 5e-4
    for name, cfg in (("sizes_cont", sizes_config), ("sizes_grown", grown_config)):  # the demo trains neither
        assert sweep._trained(cfg, demo.SHIPPED / "train" / name / "seed_0") is True


def _old_mode_config(base: config.Config, seed: int, wide: bool) -> config.Config:
    """The configuration the sweep modes multi_n and wide built (sweep.job_config before they became a study)."""
    d = base.to_dict()
    d["optim"].update(seed=seed, threads=1)
    d["task"]["train_sizes"] = MULTI_N_SIZES
    if wide:
        d["task"]["m_per_n"] = 7.0
        d["optim"].update(steps=12000, lr=base.optim.lr / 2, init_from=f"train/multi_n/seed_{seed}")
        if base.hyper.skip_until:  # its start ended with the noise skip decayed: kept off
            d["hyper"]["skip"] = 0.0
    return config.from_dict(d)


def test_the_multi_n_study_trains_what_the_modes_multi_n_and_wide_did():
    """configs/studies/multi_n.toml is `sweep --modes multi_n,wide` with the default configuration (one seed, the
    default grid): the same jobs, run folders and configurations, the continuation a wave after its start; the plain
    generator's pair in plain.toml likewise."""
    spec, base, _ = study.load(STUDIES / "multi_n.toml")
    assert base == config.Config() and spec.modes == () and spec == sweep.SweepSpec(modes=(), trainings=spec.trainings)
    jobs = sweep.plan(spec)
    assert [[j.name for j in w] for w in sweep.waves(jobs)] == [["multi_n_seed0"], ["wide_seed0"]]
    assert [sweep.run_folder(Path("out"), j) for j in jobs] == [Path("out/train/multi_n/seed_0"),
                                                                Path("out/train/wide/seed_0")]
    multi_n, wide = (sweep.job_config(base, spec, j) for j in jobs)
    assert multi_n == _old_mode_config(base, 0, wide=False) and wide == _old_mode_config(base, 0, wide=True)
    assert multi_n.task.train_sizes == tuple(MULTI_N_SIZES) and multi_n.task.m_per_n == 3.0
    assert wide.task.train_sizes == tuple(MULTI_N_SIZES) and wide.task.m_per_n == 7.0 and wide.hyper.skip == 0.5
    assert wide.optim.steps == 12000 and wide.optim.lr == base.optim.lr / 2 == 1e-3
    assert wide.optim.init_from == "train/multi_n/seed_0"
    assert all(t["generalization"] and not t["phases"] for t in spec.trainings)
    plain_spec, plain_base, _ = study.load(STUDIES / "plain.toml")
    plain = {t["name"]: t for t in plain_spec.trainings}
    for name, is_wide in (("multi_n", False), ("wide", True)):
        job = sweep.Job(name, 0, extra=plain[name])
        assert sweep.job_config(plain_base, plain_spec, job) == _old_mode_config(plain_base, 0, wide=is_wide)


def test_a_new_sweep_asking_for_a_retired_mode_is_told_the_study_file(tmp_path, capsys):
    for mode in ("multi_n", "wide"):
        with pytest.raises(UserError, match="study configs/studies/multi_n.toml"):
            sweep.SweepSpec(modes=("range", mode)).validate()
        code = cli.main(["sweep", str(tmp_path / "out"), "--modes", f"range,{mode}"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.splitlines()) == 1 and "configs/studies/multi_n.toml" in err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in STUDIES.glob("*.toml")
                                         if "tag" not in config.read_toml(p)))
def test_every_shipped_study_file_loads(name):
    spec, _, description = study.load(STUDIES / name)
    assert description and sweep.plan(spec)


def test_a_study_trains_its_variants_and_continuations(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_STUDY)
    spec, base, _ = study.load(path)
    jobs = sweep.plan(spec)
    assert [j.name for j in jobs] == ["variant_seed0", "variant_seed1", "continued_seed1"]
    assert [[j.name for j in w] for w in sweep.waves(jobs)] == [["variant_seed0", "variant_seed1"],
                                                                ["continued_seed1"]]
    out = tmp_path / "out"
    proc = run_cli("study", str(path), str(out), "--workers", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "variant (majority label" in proc.stdout and "seed 1" in proc.stdout  # the per-seed grid

    rows = json.loads((out / "table.json").read_text())
    final = {(r["mode"], r["seed"], r["beta"]) for r in rows if r["kind"] == "sweep"}
    assert final == {(m, s, b) for m, s in (("variant", 0), ("variant", 1), ("continued", 1)) for b in (1e-5, 1e-3)}
    assert {(r["mode"], r["n"]) for r in rows if r["kind"] == "generalization"} == {("variant", 3), ("variant", 6)}
    # each training ran its own configuration; the continuation started from the variant's run of its seed
    meta = json.loads((checkpoint.list_steps(out / "train" / "continued" / "seed_1")[-1] / "meta.json").read_text())
    assert meta["config"]["hyper"]["sign_split"] and meta["config"]["task"]["m"] == 16
    assert meta["config"]["optim"]["init_from"] == "train/variant/seed_1" and meta["config"]["optim"]["lr"] == 1e-3
    assert all(r["m"] == 16 for r in rows if r["mode"] == "continued")
    # rerun: every job is found finished, the same table
    before = (out / "table.csv").read_bytes()
    again = run_cli("study", str(path), str(out), "--workers", "1", timeout=120)
    assert again.returncode == 0 and (out / "table.csv").read_bytes() == before


@pytest.mark.parametrize("text, words", [
    ("[sweep]\nmodez = []\n", "unknown sweep key 'modez'"),
    ("[swept]\n", "unknown key 'swept'"),
    ("[[training]]\nname = 'a'\n", "needs a name and seeds"),
    ("[[training]]\nname = 'range'\nseeds = [0]\n", "must be a new identifier"),
    ("[[training]]\nname = 'a'\nseeds = [0]\ninit_from = 'b'\n", "init_from 'b'"),
    ("[[training]]\nname = 'a'\nseeds = [0]\ninit_from = 'a'\n", "init_from 'a'"),
    ("[[training]]\nname = 'a'\nseeds = [0]\nset = { \"hyper.widht\" = 3 }\n", "hyper.widht"),
    ("[[training]]\nname = 'a'\nseeds = [0]\nset = { widht = 3 }\n", "section.key"),
    ("[[training]]\nname = 'a'\nseeds = [-1]\n", "seeds"),
    ("[[training]]\nname = 'a'\nseeds = [0]\ncolour = 1\n", "unknown training key 'colour'"),
    ("[sweep]\nbetas = ['x']\n", "wrong type"),
    ("[sweep]\nmodes = ['multi_n']\n", "hyperinterp study configs/studies/multi_n.toml"),
    ("[sweep]\nwide_steps = 12000\n", "see configs/studies/multi_n.toml"),
    ("[sweep\n", "not valid TOML"),
])
def test_a_bad_study_file_is_one_line(tmp_path, capsys, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=None) as e:
        study.load(path)
    assert words in str(e.value) and "\n" not in str(e.value)
    code = cli.main(["study", str(path), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("hyperinterp: error: ")
    assert not (tmp_path / "out").exists()


def test_every_study_file_runs_here_or_names_the_tag_it_runs_at():
    """configs/studies/: each file loads on this code, or is marked with the git tag where it still runs (its keys
    retired since): loading it then says so in one line, and the tag is the one the retired keys name."""
    runnable, tagged = 0, 0
    for path in sorted(STUDIES.glob("*.toml")):
        tag = config.read_toml(path).get("tag")
        if tag is None:
            study.load(path)
            runnable += 1
            continue
        assert tag == config.RETIRED_TAG, path
        with pytest.raises(UserError, match=f"runs at git tag {tag}"):
            study.load(path)
        tagged += 1
    assert runnable >= 20 and tagged == 10
