import matplotlib.pyplot as plt
import pytest

from winback_study.figures import save_figure, use_house_style


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
