import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from winback_study.errors import DataError
from winback_study.plotting.style import save_figure, table, use_house_style


def _fig():
    use_house_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [3, 1, 2])
    ax.set(title="A finding", xlabel="months", ylabel="customers")
    return fig


def test_exports_three_formats_byte_stable(tmp_path):
    paths = save_figure(_fig(), "demo", tmp_path / "a", close=True)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]
    again = save_figure(_fig(), "demo", tmp_path / "b", close=True)
    for p, q in zip(paths, again, strict=True):
        assert p.read_bytes() == q.read_bytes(), p.name
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_bad_name(tmp_path):
    with pytest.raises(ValueError, match="file stem"):
        save_figure(_fig(), "a b", tmp_path)


def test_table_renders_identically_and_formats_numbers():
    df = pd.DataFrame({"rate": [0.4567, np.nan], "cost": [1234.5, 99.0], "n": [3, 4]},
                      index=["a", "b"])

    def render():
        t = table(df, {"rate": "{:.1%}", "cost": "${:,.0f}"}, name="arms")
        return t._repr_html_(), repr(t)

    (html, text), (html2, text2) = render(), render()
    assert html == html2 and text == text2  # no random id, no memory address
    assert 'id="T_arms"' in html and "45.7%" in html and "$1,234" in html
    assert "45.7%" in text and "$1,234" in text and "–" in text
    # one format for every float column; the numbers stay available
    t = table(df, "{:.2f}")
    assert set(t.formats) == {"rate", "cost"} and t.data is df
    with pytest.raises(DataError, match="not in the table"):
        table(df, {"missing": "{:.1f}"})


def test_figures_dir_from_the_notebooks_folder_is_the_checkouts_reports(tmp_path, monkeypatch):
    from winback_study.plotting.style import figures_dir

    monkeypatch.delenv("WINBACK_FIGURES_DIR", raising=False)
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert figures_dir() == tmp_path / "reports" / "figures"
    monkeypatch.chdir(tmp_path)
    assert figures_dir() == tmp_path / "reports" / "figures"
    monkeypatch.setenv("WINBACK_FIGURES_DIR", str(tmp_path / "x"))
    assert figures_dir() == tmp_path / "x"
