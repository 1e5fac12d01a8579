"""Warm kernels (execute_notebooks): a notebook run after another on the same kernel writes
exactly what it writes on a fresh kernel, and sees nothing the other one left behind."""

import nbformat
import pytest

from winback_study.reporting.notebook_runner import execute_notebook, execute_notebooks

#: changes everything a notebook could leave behind in its kernel
DIRTY = [
    "import os, sys, warnings\nimport matplotlib as mpl\nimport matplotlib.pyplot as plt\n"
    "import numpy as np",
    "leftover = 42\nmpl.rcParams['lines.linewidth'] = 9.0\nnp.set_printoptions(precision=1)\n"
    "os.environ['WINBACK_LEFTOVER'] = '1'\nos.chdir('..')\nsys.path.insert(0, '/nowhere')\n"
    "fig = plt.figure()\nwarnings.simplefilter('ignore')",
    "1 + 1",
]

#: reports what it finds; on a fresh kernel: nothing left over
PROBE = [
    "import os, sys, warnings\nimport matplotlib as mpl\nimport matplotlib.pyplot as plt\n"
    "import numpy as np",
    "print('leftover' in globals(), mpl.rcParams['lines.linewidth'],\n"
    "      np.get_printoptions()['precision'], os.environ.get('WINBACK_LEFTOVER'),\n"
    "      os.path.basename(os.getcwd()), '/nowhere' in sys.path, plt.get_fignums())",
    "with warnings.catch_warnings(record=True) as seen:\n    warnings.warn('not ignored')\n"
    "print(len(seen), 'warning recorded')",
    "2 + 2",
]


def _notebook(path, sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_warm_kernel_is_reset_to_a_fresh_one_between_notebooks(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    dirty = _notebook(folder / "01_dirty.ipynb", DIRTY)
    probe = _notebook(folder / "02_probe.ipynb", PROBE)
    seconds = execute_notebooks([dirty, probe], tmp_path / "warm", jobs=1, html=True)
    assert list(seconds) == ["01_dirty", "02_probe"] and all(s > 0 for s in seconds.values())
    execute_notebook(probe, tmp_path / "fresh" / probe.name, html=True)
    warm = (tmp_path / "warm" / probe.name).read_text()
    fresh = (tmp_path / "fresh" / probe.name).read_text()
    assert warm == fresh
    assert ((tmp_path / "warm" / "02_probe.html").read_text()
            == (tmp_path / "fresh" / "02_probe.html").read_text())
    nb = nbformat.read(tmp_path / "warm" / probe.name, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4]
    printed = nb.cells[1].outputs[0]["text"]
    assert printed.split()[0] == "False" and "/nowhere" not in printed
    assert nb.cells[2].outputs[0]["text"] == "1 warning recorded\n"


@pytest.mark.slow
def test_a_failing_notebook_raises_after_the_others(tmp_path):
    from nbclient.exceptions import CellExecutionError

    ok = _notebook(tmp_path / "01_ok.ipynb", ["x = 1"])
    bad = _notebook(tmp_path / "02_bad.ipynb", ["raise ValueError('boom')"])
    with pytest.raises(CellExecutionError, match="boom"):
        execute_notebooks([ok, bad], tmp_path / "out", jobs=2)
    assert (tmp_path / "out" / "01_ok.ipynb").exists()


def test_longest_first_orders_by_cost_unknown_first_ties_in_order(tmp_path):
    from winback_study.reporting.notebook_runner import longest_first

    names = ["01_a", "02_b", "03_c", "04_d", "05_e"]
    paths = [tmp_path / f"{n}.ipynb" for n in names]
    costs = {"01_a": 5.0, "02_b": 9.0, "03_c": 20.0, "04_d": 9.0}
    assert [p.stem for p in longest_first(paths, costs)] == [
        "05_e", "03_c", "02_b", "04_d", "01_a"]
    assert longest_first(paths, {}) == paths
