"""The sweep: every job once, a tidy table, reproducible, resumable; and its report in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hyperinterp import config, executor, report, sweep
from hyperinterp.classify import LABELS
from hyperinterp.errors import UserError

TINY = ["hyper.layers=1", "hyper.width=8", "optim.nets_per_step=4", "optim.inputs_per_step=32",
        "optim.checkpoint_every=10", "optim.log_every=10", "task.n=4", "task.m=12"]
SPEC = sweep.SweepSpec(betas=(1e-5, 1e-3), seeds=(0, 1), count=4, steps=20, per_beta_steps=10, direct_steps=20,
                       wide_steps=20, generalization_sizes=(3, 6), generalization_betas=(1e-5,), per_beta_seeds=1)


def run_tiny(out: Path, spec: sweep.SweepSpec = SPEC) -> list[dict]:
    base = config.load(None, TINY)
    sweep.prepare(out, spec, base)
    for wave in sweep.waves(sweep.plan(spec)):
        assert executor.run_local(out, spec, base, wave, workers=2, retries=0, progress=False) == {}
    return sweep.collect(out, spec)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweeps") / "a"
    run_tiny(out)
    return out


def test_plan_has_every_cell_once():
    jobs = sweep.plan(SPEC)
    names = [j.name for j in jobs]
    assert len(names) == len(set(names))
    # range 2 seeds, per_beta 2 betas x 1 seed, multi_n 1, wide 1, direct 2 betas x 2 seeds, adam 2 seeds
    assert len(jobs) == 2 + 2 + 1 + 1 + 4 + 2
    assert [j.mode for j in sweep.waves(jobs)[1]] == ["wide"]  # after the multi_n run it continues


def test_table_is_tidy_and_complete(tiny_sweep: Path):
    rows = json.loads((tiny_sweep / "table.json").read_text())
    final = [r for r in rows if r["kind"] == "sweep"]
    cells = {(r["mode"], r["seed"], r["beta"]) for r in final}
    assert len(cells) == len(final)  # every (mode, seed, beta) cell exactly once
    assert {(s, b) for m, s, b in cells if m == "range"} == {(s, b) for s in (0, 1) for b in SPEC.betas}
    assert {(s, b) for m, s, b in cells if m == "per_beta"} == {(0, b) for b in SPEC.betas}
    for r in rows:
        assert abs(sum(r[f"frac_{lab}"] for lab in LABELS) - 1) < 1e-9
        assert r["count"] == SPEC.count and r["majority"] in LABELS
    gen = [r for r in rows if r["kind"] == "generalization"]
    assert {(r["mode"], r["n"]) for r in gen} == {(m, n) for m in ("range", "multi_n", "wide") for n in (3, 6)}
    assert all(r["m"] == (sweep.WIDE_M_PER_N if r["mode"] == "wide" else 3) * r["n"] for r in gen)
    assert any(r["kind"] == "phase" for r in rows)  # earlier checkpoints of the range runs
    header = (tiny_sweep / "table.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == sweep.COLUMNS
    assert len((tiny_sweep / "table.csv").read_text().splitlines()) == len(rows) + 1


def test_same_command_same_table(tiny_sweep: Path, tmp_path: Path):
    run_tiny(tmp_path / "b")
    assert (tmp_path / "b" / "table.csv").read_bytes() == (tiny_sweep / "table.csv").read_bytes()


def test_rerun_skips_finished_and_redoes_missing(tiny_sweep: Path, tmp_path: Path):
    out = tmp_path / "c"
    shutil.copytree(tiny_sweep, out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    (out / "cells" / "direct_seed1_beta1e-03.json").unlink()  # an unfinished job
    run_tiny(out)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert set(after) == set(before)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"direct_seed1_beta1e-03.json"}
    assert (out / "table.csv").read_bytes() == (tiny_sweep / "table.csv").read_bytes()


def test_other_settings_in_same_folder_refused(tiny_sweep: Path):
    other = sweep.SweepSpec(**{**SPEC.__dict__, "count": 5})
    with pytest.raises(UserError, match="other settings"):
        sweep.prepare(tiny_sweep, other, config.load(None, TINY))


def test_bad_spec_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="beta"):
        sweep.prepare(tmp_path / "x", sweep.SweepSpec(betas=(0.0,)), config.Config())
    with pytest.raises(UserError, match="mode"):
        sweep.prepare(tmp_path / "y", sweep.SweepSpec(modes=("nope",)), config.Config())


def test_failed_job_is_reported_not_dropped(tmp_path: Path):
    base = config.load(None, TINY)
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=("range",), steps=10)
    out = tmp_path / "f"
    sweep.prepare(out, spec, base)
    (out / "train" / "range").mkdir(parents=True)
    (out / "train" / "range" / "seed_0").write_text("not a folder")  # the job cannot train here
    failures = executor.run_local(out, spec, base, sweep.plan(spec), workers=1, retries=1, progress=False)
    assert list(failures) == ["range_seed0"]


def test_report_lists_every_figure(tiny_sweep: Path):
    index = report.write_report(tiny_sweep)
    page = index.read_text()
    for fig in ("phase_diagram.png", "fractions.png", "frontier.png", "generalization.png", "baselines.png"):
        assert f'src="{fig}"' in page and (index.parent / fig).stat().st_size > 1000
    summary = json.loads((index.parent / "summary.json").read_text())
    assert {"order", "examples", "by_mode_beta", "generalization"} <= set(summary)


def _chromium() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_report_loads_in_headless_chromium(tiny_sweep: Path):
    found = _chromium()
    assert found, "chromium and chromedriver are missing: run scripts/install_browser.sh (make setup does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    index = report.write_report(tiny_sweep)
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    try:
        driver.get(index.resolve().as_uri())
        assert "hyperinterp report" in driver.title
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])")
        assert len(images) >= 5
        assert all(ok for _, ok in images), [src for src, ok in images if not ok]
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
    finally:
        driver.quit()


def test_cli_sweep_bad_input_one_line(tmp_path: Path):
    exe = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hyperinterp"
    cmd = [str(exe) if exe.exists() else "hyperinterp", "sweep", str(tmp_path / "missing" / "s"), "--seeds", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("hyperinterp: error:")
    res = subprocess.run(cmd[:2] + [str(tmp_path / "s"), "--betas", "1e-3,-1"], capture_output=True, text=True)
    assert res.returncode == 2 and "beta" in res.stderr and res.stderr.count("\n") == 1


def test_wide_mode_continues_the_multi_n_run_with_wider_targets(tiny_sweep: Path):
    from hyperinterp import checkpoint

    wide, parent = tiny_sweep / "train" / "wide" / "seed_0", tiny_sweep / "train" / "multi_n" / "seed_0"
    first, _, meta = checkpoint.load(checkpoint.list_steps(wide)[0])
    final, _, _ = checkpoint.load(checkpoint.list_steps(parent)[-1])
    assert meta["step"] == 0 and all(first[k].equal(final[k]) for k in final)  # starts where multi_n ended
    cfg = config.from_dict(meta["config"])
    base = config.load(None, TINY)
    assert cfg.task.m_per_n == sweep.WIDE_M_PER_N and cfg.task.train_sizes == sweep.MULTI_N_SIZES
    assert cfg.optim.lr == base.optim.lr / 2 and cfg.optim.steps == SPEC.wide_steps
    assert cfg.optim.init_from == "train/multi_n/seed_0"  # relative: the same record in any sweep folder
    rows = [r for r in json.loads((tiny_sweep / "table.json").read_text()) if r["mode"] == "wide"]
    assert {r["m"] for r in rows if r["kind"] == "sweep"} == {round(sweep.WIDE_M_PER_N * 4)}
