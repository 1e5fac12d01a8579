"""Every numbered notebook: in sync with its text twin, stored clean, runs top to bottom,
and gives the same outputs and byte-identical figures when run twice."""

import hashlib

import jupytext
import nbformat
import pytest

from winback_study.reporting.notebook_runner import execute_notebook, list_notebooks

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


def _outputs(nb):
    """Every cell's outputs, without kernel timing metadata."""
    return [[{k: v for k, v in o.items() if k != "metadata"} for o in c.get("outputs", [])]
            for c in nb.cells]


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_twice_identically(path, tmp_path, monkeypatch):
    runs = []
    for name in ("a", "b"):
        figs = tmp_path / name / "figures"
        monkeypatch.setenv("WINBACK_FIGURES_DIR", str(figs))
        runs.append((execute_notebook(path, tmp_path / name / path.name), figs))
    (nb, figs), (nb2, figs2) = runs

    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "cells ran out of order"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert "winback-study" in str(nb.cells[-1].outputs), "last cell must print the version stamp"
    stems = {p.stem for p in figs.iterdir()}
    assert stems, f"{path.name} exported no figures"
    for stem in stems:
        for ext in ("png", "svg", "pdf"):
            assert (figs / f"{stem}.{ext}").exists(), f"{stem}.{ext} missing"
    assert all(s.startswith(path.stem[:3]) for s in stems), "figure names start with NN_"

    # deterministic: same printed numbers, same inline charts, byte-identical exports
    out1, out2 = _outputs(nb), _outputs(nb2)
    differ = [i for i, (x, y) in enumerate(zip(out1, out2, strict=True)) if x != y]
    assert not differ, (f"{path.name}: outputs of cells {differ} differ between two runs; "
                        f"first: {str(out1[differ[0]])[:600]} ... vs {str(out2[differ[0]])[:600]}"
                        if differ else "")
    da, db = _digests(figs), _digests(figs2)
    assert da == db, f"not byte-stable: {sorted(k for k in da if da[k] != db.get(k))}"


def test_stream_output_is_one_block_however_the_kernel_flushes(tmp_path):
    """Flush timing varies with machine load; the saved notebook must not."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, time\nprint('a')\nsys.stdout.flush()\ntime.sleep(0.3)\nprint('b')")])
    src = tmp_path / "flush.ipynb"
    nbformat.write(nb, src)
    out = execute_notebook(src)
    streams = [o for o in out.cells[0].outputs if o.output_type == "stream"]
    assert len(streams) == 1 and streams[0].text == "a\nb\n"
