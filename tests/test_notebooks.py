"""Every numbered notebook: in sync with its text twin, stored clean, runs top to bottom."""

import os

import jupytext
import nbformat
import pytest

from winback_study.notebook_runner import execute_notebook, list_notebooks

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("01_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ipynb_matches_its_jupytext_twin_and_has_no_outputs(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} (jupytext twin) is missing"
    nb = nbformat.read(path, as_version=4)
    text = jupytext.read(twin)
    src = [(c.cell_type, c.source.strip()) for c in nb.cells]
    ref = [(c.cell_type, c.source.strip()) for c in text.cells]
    assert src == ref, f"{path.name} differs from {twin.name}: run `make notebooks`"
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{path.name} has stored outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    figs = tmp_path / "figures"
    monkeypatch.setenv("WINBACK_FIGURES_DIR", str(figs))
    nb = execute_notebook(path, tmp_path / path.name)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "cells ran out of order"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert "winback-study" in str(nb.cells[-1].outputs), "last cell must print the version stamp"
    stems = {p.stem for p in figs.iterdir()} if figs.exists() else set()
    for stem in stems:
        for ext in ("png", "svg", "pdf"):
            assert (figs / f"{stem}.{ext}").exists(), f"{stem}.{ext} missing"
    assert all(s.startswith(path.stem[:3]) for s in stems), "figure names start with NN_"
    assert os.environ.get("WINBACK_FIGURES_DIR") == str(figs)
