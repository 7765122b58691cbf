"""The sweep: every job once, a tidy table, reproducible, resumable; and its report in a real browser."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hyperinterp.errors import UserError
from hyperinterp.experiments import executor, sweep
from hyperinterp.generate import checkpoint, config, netfile
from hyperinterp.read import classify
from hyperinterp.read.classify import ALGORITHMS, LABELS
from hyperinterp.report import build as report

STUDIES = Path(__file__).resolve().parents[1] / "configs" / "studies"
TINY = ["hyper.layers=1", "hyper.width=8", "optim.nets_per_step=4", "optim.inputs_per_step=32",
        "optim.checkpoint_every=10", "optim.log_every=10", "task.n=4", "task.m=12"]
# configs/studies/multi_n.toml in small (once the modes multi_n and wide): a training over several sizes, evaluated at
# the generalization sizes, and its continuation at m = 7n at half the learning rate with the noise skip off
MULTI_N = {"name": "multi_n", "seeds": [0], "set": {"task.train_sizes": [4, 6, 8], "optim.steps": 20}, "init_from": "",
           "phases": False, "generalization": True}
WIDE = {"name": "wide", "seeds": [0], "init_from": "multi_n", "phases": False, "generalization": True,
        "set": {"task.m_per_n": 7.0, "optim.steps": 20, "optim.lr": config.Config().optim.lr / 2, "hyper.skip": 0.0}}
SPEC = sweep.SweepSpec(betas=(1e-5, 1e-3), seeds=(0, 1), count=4, steps=20, per_beta_steps=10, direct_steps=20,
                       generalization_sizes=(3, 6), generalization_betas=(1e-5,), per_beta_seeds=1,
                       trainings=(MULTI_N, WIDE))


# The tiny sweep's direct baselines train for 2,000 steps (one tiny network: seconds) so that some draws take a label
# (double-sided, pudding at n = 4): the examples and the report need one, and 20 hypernetwork steps give only `other`.
LABELLED = dataclasses.replace(SPEC, direct_steps=2000)


def run_tiny(out: Path, spec: sweep.SweepSpec = LABELLED) -> list[dict]:
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
    # range 2 seeds, per_beta 2 betas x 1 seed, direct 2 betas x 2 seeds, adam 2 seeds; trainings multi_n 1, wide 1
    assert len(jobs) == 2 + 2 + 4 + 2 + 1 + 1
    assert [j.mode for j in sweep.waves(jobs)[1]] == ["wide"]  # after the multi_n run it continues


def test_betas_that_one_digit_would_merge_get_distinct_names_and_the_grid_keeps_its_own():
    """Folders, network files and report pages are named by β: 1.2e-3 must not land on 1e-3's, while the values of
    the default grid keep the one-digit names that shipped/ and existing sweep folders have."""
    from hyperinterp.report.stats import Cell

    assert sweep.beta_name(1e-3) == "1e-03" and sweep.beta_name(1.2e-3) == "1.2e-03"
    assert [sweep.beta_name(b) for b in sweep.DEFAULT_BETAS] == [f"{b:.0e}" for b in sweep.DEFAULT_BETAS]
    out = Path("sweep")
    jobs = [sweep.Job("per_beta", 0, b) for b in (1e-3, 1.2e-3)]
    assert [j.name for j in jobs] == ["per_beta_seed0_beta1e-03", "per_beta_seed0_beta1.2e-03"]
    assert [sweep.run_folder(out, j).name for j in jobs] == ["beta_1e-03_seed_0", "beta_1.2e-03_seed_0"]
    pages = [Cell("range", 0, b, out / "networks" / "range_seed0" / "x.npz", {}, {}, []).page for b in (1e-3, 1.2e-3)]
    assert pages == ["range_seed0_beta1e-03.html", "range_seed0_beta1.2e-03.html"]


def test_table_is_tidy_and_complete(tiny_sweep: Path):
    rows = json.loads((tiny_sweep / "table.json").read_text())
    final = [r for r in rows if r["kind"] == "sweep"]
    cells = {(r["mode"], r["seed"], r["beta"]) for r in final}
    assert len(cells) == len(final)  # every (mode, seed, beta) cell exactly once
    assert {(s, b) for m, s, b in cells if m == "range"} == {(s, b) for s in (0, 1) for b in SPEC.betas}
    assert {(s, b) for m, s, b in cells if m == "per_beta"} == {(0, b) for b in SPEC.betas}
    for r in rows:
        assert abs(sum(r[f"frac_{lab}"] for lab in LABELS) - 1) < 1e-9
        # L1 has named labels: its final cells are read by direction too, its phase and generalization cells by them
        assert r["task"] == "l1" and (r["mechanism"] is not None) == (r["kind"] == "sweep")
        assert r["count"] == SPEC.count and r["majority"] in LABELS
    gen = [r for r in rows if r["kind"] == "generalization"]
    assert {(r["mode"], r["n"]) for r in gen} == {(m, n) for m in ("range", "multi_n", "wide") for n in (3, 6)}
    assert all(r["m"] == (7 if r["mode"] == "wide" else 3) * r["n"] for r in gen)
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


@pytest.fixture(scope="module")
def tiny_report(tiny_sweep: Path) -> Path:
    return report.write_report(tiny_sweep, workers=2)  # the worker pool, as a real sweep uses it


def test_report_lists_every_figure(tiny_report: Path):
    page = tiny_report.read_text()
    for fig in ("phase_portraits.png", "fractions.png", "composition.png", "frontier.png", "generalization.png",
                "baselines.png"):
        assert f'src="{fig}"' in page and (tiny_report.parent / fig).stat().st_size > 1000
    summary = json.loads((tiny_report.parent / "summary.json").read_text())
    assert {"rules", "sentences", "order", "examples", "cells", "by_mode_beta", "generalization"} <= set(summary)
    assert all(f"<b>{rule}</b>" in page for rule in summary["rules"])


def test_report_says_per_seed_what_the_table_says(tiny_sweep: Path, tiny_report: Path):
    """Every seed's sentence names each of its cells' majority label with its count; the grid links every
    final cell to its own page, and every page lists that cell's draws with the table's labels."""
    rows = [r for r in json.loads((tiny_sweep / "table.json").read_text()) if r["kind"] == "sweep"]
    summary = json.loads((tiny_report.parent / "summary.json").read_text())
    pages = {(c["mode"], c["seed"], c["beta"]): c for c in summary["cells"]}
    assert set(pages) == {(r["mode"], r["seed"], r["beta"]) for r in rows}
    index = tiny_report.read_text()
    for r in rows:
        count = round(r[f"frac_{r['majority']}"] * r["count"])
        cell = pages[(r["mode"], r["seed"], r["beta"])]
        assert cell["counts"][r["majority"]] == count  # the page's networks are the table's
        assert f"href='{cell['page']}'" in index  # linked from the seed x beta grid
        html_page = (tiny_report.parent / cell["page"]).read_text()
        assert html_page.count("<tr>") == r["count"] + 1  # header + one row per draw
        if r["mode"] == "adam":
            continue
        said = " ".join(s for s in summary["sentences"][r["mode"]] if s.startswith(f"{r['mode']}, seed {r['seed']}:"))
        assert f"{r['majority']} at β" in said and f"/{r['count']}" in said


def test_pooled_interval_widens_when_seeds_disagree():
    from hyperinterp.report.stats import pooled

    agree = pooled([0.5, 0.5], 16)
    split = pooled([1.0, 0.0], 16)
    assert agree[0] == split[0] == 0.5
    assert split[3] == 1.0 and agree[3] == 32  # effective draws: 1 when seeds are opposite, all 32 when equal
    assert split[2] - split[1] > 0.8 > 0.4 > agree[2] - agree[1]
    one = pooled([1.0], 16)  # one seed: the binomial interval of its draws
    assert one[2] == 1.0 and 0.75 < one[1] < 0.85
    for n_seeds in range(1, 40):  # every seed at 1 (or 0): the interval still holds p, past rounding (the demo's
        for p in (0.0, 1.0):      # 16 seeds all constant at beta = 1e-2 once gave hi = 1 - 1e-16 < p)
            mean, lo, hi, _ = pooled([p] * n_seeds, 16)
            assert lo <= mean <= hi


def test_examples_follow_the_stated_rule(tiny_sweep: Path, tiny_report: Path):
    """Each example is in the cell where its label has the most draws, nearest that label's median error;
    and every (mode, algorithm) found among the final cells has one."""
    from hyperinterp.generate import netfile

    summary = json.loads((tiny_report.parent / "summary.json").read_text())
    counts = {(c["mode"], c["seed"], c["beta"]): c["counts"] for c in summary["cells"]}
    found = {(mode, lab) for (mode, _, _), cs in counts.items() for lab in cs if lab in ALGORITHMS}
    assert found and {(e["mode"], e["label"]) for e in summary["examples"]} == found
    for e in summary["examples"]:
        best = max(cs.get(e["label"], 0) for (mode, _, _), cs in counts.items() if mode == e["mode"])
        assert e["count_in_cell"] == best
        arrays, meta = netfile.load(tiny_sweep / e["file"])
        labels = [r["label"] for r in classify.classify_arrays(arrays, meta)]
        errs = np.array([arrays["rel_mse"][k] for k, lab in enumerate(labels) if lab == e["label"]])
        assert labels[e["index"]] == e["label"]
        # float32 ties (two draws either side of their median) are equally near: a relative tolerance
        distance = np.abs(errs - np.median(errs))
        assert abs(arrays["rel_mse"][e["index"]] - np.median(errs)) <= distance.min() * (1 + 1e-5) + 1e-12


def _chromium() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_report_loads_in_headless_chromium(tiny_report: Path):
    """What a reader sees: every image loads and has a caption, no plotted series is empty or NaN, each
    label found has its example, and a cell page linked from the seed x beta grid loads."""
    found = _chromium()
    assert found, "chromium and chromedriver are missing: run scripts/install_browser.sh (make setup does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    def no_nan(text: str):
        raise ValueError(f"not a number in a plotted series: {text}")

    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    summary = json.loads((tiny_report.parent / "summary.json").read_text())
    try:
        driver.get(tiny_report.resolve().as_uri())
        assert "hyperinterp report" in driver.title
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0, "
            "i.closest('figure') ? i.closest('figure').querySelector('figcaption').textContent.trim() : ''])")
        assert len(images) >= 6
        assert all(ok for _, ok, _ in images), [src for src, ok, _ in images if not ok]
        assert all(len(caption) > 40 for _, _, caption in images), [src for src, _, cap in images if len(cap) <= 40]
        plotted = driver.execute_script(
            "return Array.from(document.querySelectorAll('figure[data-series]')).map(f => f.dataset.series)")
        series = [json.loads(text, parse_constant=no_nan) for text in plotted]
        assert sum(len(s) for s in series) >= 6
        for s in series:
            for name, values in s.items():
                assert values and None not in values and all(np.isfinite(values)), name
        assert summary["examples"]
        for e in summary["examples"]:  # each label found has its example on the page
            assert driver.find_element(By.ID, f"example-{e['mode']}-{e['label']}").is_displayed()
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        link = driver.find_element(By.CSS_SELECTOR, "table.grid a")
        expected = link.get_attribute("href")
        link.click()
        assert driver.current_url == expected and "hyperinterp cell" in driver.title
        assert driver.execute_script("return document.querySelectorAll('tbody tr').length") == SPEC.count
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, "
            "i.closest('figure').querySelector('figcaption').textContent.trim().length])")
        assert images and all(ok and caption > 40 for ok, caption in images)
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


def test_a_training_continues_the_multi_n_run_with_wider_targets(tiny_sweep: Path):
    """What the mode `wide` did, as a named training: it starts where the multi_n training of its seed ended, keeps its
    sizes, and trains at m = 7n with its own steps and learning rate."""
    from hyperinterp.generate import checkpoint

    wide, parent = tiny_sweep / "train" / "wide" / "seed_0", tiny_sweep / "train" / "multi_n" / "seed_0"
    first, _, meta = checkpoint.load(checkpoint.list_steps(wide)[0])
    final, _, _ = checkpoint.load(checkpoint.list_steps(parent)[-1])
    assert meta["step"] == 0 and all(first[k].equal(final[k]) for k in final)  # starts where multi_n ended
    cfg = config.from_dict(meta["config"])
    base = config.load(None, TINY)
    assert cfg.task.m_per_n == 7.0 and cfg.task.train_sizes == (4, 6, 8) and cfg.hyper.skip == 0.0
    assert cfg.optim.lr == base.optim.lr / 2 and cfg.optim.steps == 20
    assert cfg.optim.init_from == "train/multi_n/seed_0"  # relative: the same record in any sweep folder
    rows = [r for r in json.loads((tiny_sweep / "table.json").read_text()) if r["mode"] == "wide"]
    assert {r["m"] for r in rows if r["kind"] == "sweep"} == {7 * 4}


def test_a_sweep_saved_with_the_retired_modes_still_reports(tiny_sweep: Path, tmp_path: Path):
    """A sweep folder saved while multi_n and wide were modes (its spec names them and has multi_n_seeds, wide_steps;
    its rows say mode multi_n and wide): the report reads it and shows them; continuing it is refused, its table
    untouched."""
    out = tmp_path / "old"
    shutil.copytree(tiny_sweep, out, ignore=shutil.ignore_patterns("report"))
    record = json.loads((out / "sweep.json").read_text())
    record["spec"].update(modes=["range", "per_beta", "multi_n", "wide", "direct", "adam"], multi_n_seeds=1,
                          wide_steps=20, trainings=[])
    (out / "sweep.json").write_text(json.dumps(record))
    spec, _ = sweep.load_spec(out)
    assert spec.modes == ("range", "per_beta", "multi_n", "wide", "direct", "adam") and not spec.trainings
    index = report.write_report(out, workers=1)
    summary = json.loads((index.parent / "summary.json").read_text())
    assert {"multi_n", "wide"} <= {c["mode"] for c in summary["cells"]} & set(summary["sentences"])
    assert {r["mode"] for r in summary["generalization"]} == {"range", "multi_n", "wide"}
    table = (out / "table.csv").read_bytes()
    with pytest.raises(UserError, match="other settings"):
        sweep.prepare(out, dataclasses.replace(SPEC, trainings=()), config.load(None, TINY))
    assert (out / "table.csv").read_bytes() == table


def test_report_shows_a_studys_named_training_per_seed(tmp_path: Path):
    """A study's named training is a mode of its own: in the grid (linked to its cell pages), in the
    sentences, in the phase portraits when evaluated along training, and in the generalization figure."""
    training = {"name": "variant", "seeds": [0], "set": {"hyper.width": 6, "optim.steps": 20}, "init_from": "",
                "phases": True, "generalization": True}
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=(), steps=20, generalization_sizes=(3,),
                           generalization_betas=(1e-3,), trainings=(training,))
    out = tmp_path / "study"
    run_tiny(out, spec)
    index = report.write_report(out)
    summary = json.loads((index.parent / "summary.json").read_text())
    assert [c["mode"] for c in summary["cells"]] == ["variant"]
    assert summary["sentences"]["variant"][0].startswith("variant, seed 0: ")
    page = index.read_text()
    assert f"href='{summary['cells'][0]['page']}'" in page
    series = {name for fig in page.split("data-series=")[1:] for name in json.loads(html.unescape(fig.split('"')[1]))}
    assert "variant seed 0: majority count" in series  # phase portrait
    assert "variant seed 0 beta 1e-03: median relative MSE" in series  # generalization


def test_report_figures_fonts_are_at_least_9pt(tiny_sweep: Path, tmp_path: Path, monkeypatch):
    from matplotlib.text import Text

    from hyperinterp.report import figures as report_figures

    sizes: dict[str, float] = {}
    save = report_figures._save

    def spy(fig, path):
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        sizes[path.name] = min(t.get_fontsize() for t in texts)
        return save(fig, path)

    monkeypatch.setattr(report_figures, "_save", spy)
    report.write_report(tiny_sweep, tmp_path / "r", workers=1)
    assert len(sizes) == 7 and min(sizes.values()) >= 9, sizes


def test_sweep_saves_a_readout_reused_only_for_the_same_file_and_code(tiny_sweep: Path, tmp_path: Path):
    """Every saved cell has its labels and fingerprints beside it, equal to computing them afresh from the
    file; the report's loader and `families` take them while they belong to the file and the code, and
    recompute once the file's bytes or the code's hash change."""
    from hyperinterp.read import families, readout
    from hyperinterp.report.stats import load_cell

    files = sorted((tiny_sweep / "networks").glob("*/beta_*.npz"))
    assert files and all(readout.path(f).is_file() for f in files)
    f = files[0]
    arrays, meta = netfile.load(f)
    assert readout.saved(f, "labels") == json.loads(json.dumps(classify.classify_arrays(arrays, meta)))
    assert readout.saved(f, "fingerprints") == json.loads(json.dumps(readout.fingerprint_arrays(arrays, meta)))

    copy = tmp_path / "cell" / f.name
    copy.parent.mkdir()
    shutil.copy(f, copy)
    record = json.loads(readout.path(f).read_text())
    record["labels"]["items"][0]["label"] = "marker"  # only a reused read-out can show these
    record["fingerprints"]["items"][0]["words"] = "marker words"
    readout.path(copy).write_text(json.dumps(record))
    assert load_cell(copy, SPEC.betas).results[0]["label"] == "marker"
    assert families.summarise([copy])["networks"][0]["fingerprint"]["words"] == "marker words"
    record["labels"]["code"] = "another classifier"
    readout.path(copy).write_text(json.dumps(record))
    assert load_cell(copy, SPEC.betas).results[0]["label"] in LABELS
    assert readout.saved(copy, "fingerprints") is not None  # each part is checked on its own
    arrays["c"] = arrays["c"] + 1.0  # other bytes: the saved read-out no longer describes the file
    netfile.save(copy, arrays, meta)
    assert readout.saved(copy, "fingerprints") is None
    assert families.summarise([copy])["networks"][0]["fingerprint"]["words"] != "marker words"


def test_report_families_section_per_seed_with_links_and_agreement(tiny_sweep: Path, tiny_report: Path):
    """The families section: a (mode, seed) x beta grid of majority families whose counts are the cell files'
    own family counts, every cell linked to an existing page that lists each draw's family; each family with
    its representative and, on L1, its agreement with the rule labels; the figures captioned."""
    from collections import Counter

    page = tiny_report.read_text()
    summary = json.loads((tiny_report.parent / "summary.json").read_text())
    fam = summary["families"]
    assert fam["families"] and 0.0 <= fam["families"][0]["fraction"] <= 1.0
    # the agreement pairs each network's family with that same network's rule label
    from hyperinterp.read import families, readout
    from hyperinterp.report.stats import cell_files

    files = cell_files(tiny_sweep)
    clustered = families.summarise(files)
    labels = [r["label"] for f in files for r in readout.saved(f, "labels")]
    expected = families.agreement(clustered, labels)
    assert fam["agreement_with_rules"]["table"] == expected["table"]
    assert fam["agreement_with_rules"]["ari"] == pytest.approx(expected["ari"])
    section = page[page.index('<h2 id="families">'):page.index('<h2 id="generalization">')]
    assert "families_representatives.png" in section and "families_fractions.png" in section
    assert section.count("<figcaption>") == 3 and "families_directions.png" in section
    # the grid's first cell: its majority family and count recomputed from the clustering itself
    nets = clustered["networks"]
    link = section.split("<a href='cells/")[1].split("'")[0]
    text = section.split(f"<a href='cells/{link}'>")[1].split("</a>")[0]
    cell_page = (tiny_report.parent / "cells" / link).read_text()
    src = [f for f in files if f"networks/{f.parent.name}/{f.name}" in cell_page][0]
    (fid, count), *_ = Counter(n["family"] for n in nets if n["file"] == str(src)).most_common(1)
    assert text == f"{fid} {count}/{SPEC.count}"
    assert "<th>family</th>" in cell_page and f"<td>{fid}</td>" in cell_page


def test_packed_sweep_trains_seeds_together_and_gives_the_same_networks(tmp_path: Path):
    """--pack 2: the seeds of a training are trained two at a time as one batched computation (a continuation
    included), the third alone in its job; each run equals the unpacked sweep's up to rounding, the table says
    the same, and a rerun finds everything done."""
    from test_batched import TOLERANCE, _final, _max_relative_difference

    first = {"name": "first", "seeds": (0, 1, 2), "set": {"optim.steps": 20}, "init_from": "", "phases": False,
             "generalization": False}
    continued = {**first, "name": "continued", "set": {"optim.lr": 1e-3}, "init_from": "first"}
    spec = sweep.SweepSpec(betas=(1e-3,), seeds=(0,), count=2, modes=(), trainings=(first, continued))
    base = config.load(None, TINY)
    alone, packed = tmp_path / "alone", tmp_path / "packed"
    executor.run_sweep(alone, spec, base, workers=2, retries=0, progress=False)
    executor.run_sweep(packed, spec, base, workers=2, retries=0, progress=False, pack=2)
    for mode in ("first", "continued"):
        for seed in (0, 1, 2):
            run = Path("train") / mode / f"seed_{seed}"
            meta = json.loads((sorted((packed / run).glob("checkpoints/step_*"))[-1] / "meta.json").read_text())
            assert meta["command"] == ("hyperinterp sweep --pack" if seed < 2 else "hyperinterp sweep"), (mode, seed)
            a, p = _final(alone / run), _final(packed / run)
            assert _max_relative_difference(a[0], p[0]) < TOLERANCE, (mode, seed)
            assert (a[1]["rng"] == p[1]["rng"]).all()  # the same random numbers
    key = ("kind", "mode", "seed", "beta", "n", "majority", *(f"frac_{lab}" for lab in LABELS))
    rows_a, rows_p = (json.loads((o / "table.json").read_text()) for o in (alone, packed))
    assert [[r[k] for k in key] for r in rows_a] == [[r[k] for k in key] for r in rows_p]
    np.testing.assert_allclose([r["rel_mse_median"] for r in rows_a], [r["rel_mse_median"] for r in rows_p],
                               rtol=1e-3)
    before = {p.name: p.stat().st_mtime_ns for p in (packed / "cells").iterdir()}
    executor.run_sweep(packed, spec, base, workers=2, retries=0, progress=False, pack=2)
    assert {p.name: p.stat().st_mtime_ns for p in (packed / "cells").iterdir()} == before


def test_a_run_folder_is_trained_by_one_worker_at_a_time(tmp_path: Path):
    """Two workers may train the same folder (a retried job beside an attempt still running; once the wide mode's
    start beside the multi_n job): the second waits for the first and then finds the run trained, instead of
    replacing its checkpoints under a reader (CI once read a multi_n cell at step 10 of 20 that way)."""
    import threading

    from hyperinterp.generate import checkpoint
    from hyperinterp.generate.train import train

    cfg = sweep.job_config(config.load(None, TINY), SPEC, sweep.Job("range", 0))
    run_dir = tmp_path / "train" / "range" / "seed_0"
    waiter = threading.Thread(target=sweep._train, args=(cfg, run_dir))
    with sweep._training_lock(run_dir):
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not checkpoint.list_steps(run_dir)  # it waits; it writes nothing
        train(cfg, run_dir, progress=False)
        written = {p.name: p.stat().st_mtime_ns for p in checkpoint.list_steps(run_dir)}
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert written and {p.name: p.stat().st_mtime_ns for p in checkpoint.list_steps(run_dir)} == written


def test_a_mode_decays_the_noise_skip_over_the_same_share_of_its_own_steps():
    """E59's generator's skip is gone by half-way: a per_beta run (4,000 steps) decays it over 2,000; today's default
    keeps its skip throughout (skip_until = 0), its wide continuation (configs/studies/multi_n.toml) too; the plain
    generator is untouched, its wide continuation (configs/studies/plain.toml) included."""
    from hyperinterp.experiments import study

    base, spec = config.load("configs/e59.toml"), sweep.SweepSpec(per_beta_steps=4000)
    assert base.hyper.skip_until * 2 == base.optim.steps
    per_beta = sweep.job_config(base, spec, sweep.Job("per_beta", 0, 1e-3))
    assert per_beta.optim.steps == 4000 and per_beta.hyper.skip_until == 2000 and per_beta.hyper.skip == 0.5
    assert sweep.job_config(base, spec, sweep.Job("range", 0)).hyper == base.hyper
    default = config.Config()
    assert sweep.job_config(default, spec, sweep.Job("per_beta", 0, 1e-3)).hyper == default.hyper
    wide_spec, wide_base, _ = study.load(STUDIES / "multi_n.toml")
    wide = sweep.job_config(wide_base, wide_spec, sweep.Job("wide", 0, extra=wide_spec.trainings[1]))
    assert wide.hyper == default.hyper
    plain = config.load("configs/plain.toml")
    assert sweep.job_config(plain, spec, sweep.Job("per_beta", 0, 1e-3)).hyper == plain.hyper
    plain_spec, plain_base, _ = study.load(STUDIES / "plain.toml")
    assert plain_base == plain and plain_spec.trainings[1]["name"] == "wide"
    assert sweep.job_config(plain, plain_spec, sweep.Job("wide", 0, extra=plain_spec.trainings[1])).hyper == plain.hyper


def test_a_named_training_with_its_own_steps_decays_the_skip_over_the_same_share():
    """As a mode's: a study's training of 12,000 steps on E59's generator decays the skip over 6,000 (E32 set that
    by hand); a training that names skip_until keeps it, one that keeps the steps keeps the base's."""
    base = config.load("configs/e59.toml")
    extra = {"name": "short", "seeds": (0,), "set": {"optim.steps": 12000}, "init_from": "", "phases": False,
             "generalization": False}
    named = {**extra, "name": "named", "set": {"optim.steps": 12000, "hyper.skip_until": 9000}}
    same = {**extra, "name": "same", "set": {"optim.lr": 1e-3}}
    spec = sweep.SweepSpec(modes=(), trainings=(extra, named, same))
    short = sweep.job_config(base, spec, sweep.Job("short", 0, extra=extra))
    assert short.optim.steps == 12000 and short.hyper.skip_until == 6000
    assert sweep.job_config(base, spec, sweep.Job("named", 0, extra=named)).hyper.skip_until == 9000
    assert sweep.job_config(base, spec, sweep.Job("same", 0, extra=same)).hyper.skip_until == base.hyper.skip_until


def test_a_task_without_labels_gets_mechanism_columns_and_a_report(tmp_path: Path):
    """A task the L1 rules do not name (|Σx|) is read by direction: every cell names its majority mechanism and its
    share, and leaves the L1 label columns empty; the seed grid (text and report) shows the mechanism."""
    training = {"name": "abs", "seeds": [0], "set": {"task.name": "abs_sum", "optim.steps": 20}, "init_from": "",
                "phases": True, "generalization": True}
    spec = sweep.SweepSpec(betas=(1e-5, 1e-3), seeds=(0,), count=3, modes=("direct",), direct_steps=300,
                           direct_seeds=1, generalization_sizes=(3,), generalization_betas=(1e-5,),
                           trainings=(training,))
    out = tmp_path / "study"
    rows = run_tiny(out, spec)
    abs_rows = [r for r in rows if r["mode"] == "abs"]
    assert {r["kind"] for r in abs_rows} == {"sweep", "phase", "generalization"}
    for r in abs_rows:
        assert r["task"] == "abs_sum" and r["majority"] is None and r["frac_double_sided"] is None
        assert r["mechanism"] and 0 < r["frac_mechanism"] <= 1 and round(r["frac_mechanism"] * r["count"]) >= 1
    for r in (r for r in rows if r["mode"] == "direct"):  # the base task (L1) keeps its named labels
        assert r["task"] == "l1" and r["majority"] in LABELS and r["mechanism"]
    grid = sweep.seed_grid(rows)
    assert next(r["mechanism"] for r in abs_rows if r["kind"] == "sweep")[:12] in grid.split("abs (")[1]
    index = report.write_report(out)
    page = index.read_text()
    assert next(r["mechanism"] for r in abs_rows if r["kind"] == "sweep") in page
    cell_page = next((index.parent / "cells").glob("abs_*.html")).read_text()  # each draw's mechanism in words
    assert "<th>mechanism (by direction)</th>" in cell_page


def test_a_sweep_of_a_task_without_labels_gets_every_figure_it_can(tmp_path: Path):
    """A sweep whose only task has no named labels (|Σx|, two seeds) gets its frontier, its concentration along beta,
    its phase portraits and its generalization figure, coloured by majority mechanism, and a pooled table with each
    (mode, beta)'s seeds' mechanisms and empty label columns; only the label-only figures are absent."""
    training = {"name": "abs", "seeds": [0, 1], "set": {"task.name": "abs_sum", "optim.steps": 20},
                "init_from": "", "phases": True, "generalization": True}
    spec = sweep.SweepSpec(betas=(1e-5, 1e-3), seeds=(0,), count=3, modes=(), generalization_sizes=(3,),
                           generalization_betas=(1e-5,), trainings=(training,))
    out = tmp_path / "abs"
    rows = run_tiny(out, spec)
    index = report.write_report(out, workers=1)
    page = index.read_text()
    summary = json.loads((index.parent / "summary.json").read_text())
    assert set(summary["figures"]) == {"phase", "frontier", "concentration", "generalization", "composition"}
    series = {name: v for fig in page.split("data-series=")[1:]
              for name, v in json.loads(html.unescape(fig.split('"')[1])).items()}
    final = sorted((r for r in rows if r["kind"] == "sweep" and r["seed"] == 1), key=lambda r: r["beta"])
    assert series["abs seed 1: carrying_median"] == [r["carrying_median"] for r in final]
    assert series["abs seed 1: effective_median"] == [r["effective_median"] for r in final]
    assert series["abs seed 0 beta 1e-05: median relative MSE"]  # generalization
    assert "abs seed 1: majority count" in series  # phase portrait, by mechanism
    pooled = page[page.index('<h2 id="tables">'):]
    mechanisms = [r["mechanism"] for r in rows if r["kind"] == "sweep" and r["beta"] == 1e-5]
    top = max(set(mechanisms), key=mechanisms.count)
    assert f"{top} ×{mechanisms.count(top)}" in pooled and "<th>double_sided</th>" in pooled


@pytest.mark.parametrize("points, expected", [(1, [12000]), (3, [1000, 3000, 12000]),
                                              (20, list(range(1000, 13000, 1000)))])
def test_phase_steps_end_on_the_final_checkpoint(tmp_path: Path, points: int, expected: list[int]):
    """The checkpoints evaluated along training: spread geometrically, from the first after step 0, always ending on
    the final one (its cells are the sweep's); one point is the final checkpoint alone."""
    for step in range(0, 13000, 1000):
        checkpoint.step_path(tmp_path, step).mkdir(parents=True)
    assert sweep._phase_steps(tmp_path, points) == expected
