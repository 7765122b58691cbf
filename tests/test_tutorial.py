"""The tutorial notebook runs top to bottom (nbclient, a real kernel) at a reduced training budget, and its outputs
say what it claims: labels of the shipped generator, families with formulas, a trained run, a user task's families."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"


def test_the_tutorial_runs_and_shows_what_it_says(tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    monkeypatch.setenv("TUTORIAL_STEPS", "20")
    monkeypatch.setenv("TUTORIAL_DIR", str(tmp_path / "tutorial"))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "beta 1e-06: {'pudding_pos': 16}" in text  # the shipped seed 0 at low beta (the README's first look)
    high = ast.literal_eval(text.split("beta 3e-03: ")[1].split("}")[0] + "}")
    assert max(high, key=high.get) == "convexity" and high["convexity"] > 8  # and at high beta, the next family
    assert "F1 (" in text and "effective neurons" in text
    assert "counts:" in text  # the classify table of the small run
    assert "mytask:abs_sum (n = 8, normal inputs): flip_all, permutation" in text
    assert (tmp_path / "tutorial" / "drawings").is_dir()
