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


def test_pdf_fonts_are_subset_from_the_prepared_copy_with_the_same_bytes(tmp_path):
    """save_figure's PDF subsets each font from a copy without layout tables, cut to the
    common glyphs (pdf_fonts.lean_pdf_fonts): the subset is byte for byte the one matplotlib makes
    from the copy itself, for any glyphs, and the PDF embeds every font it uses."""
    import io
    import random
    import re
    import zlib

    from fontTools.ttLib import TTFont
    from matplotlib import font_manager
    from matplotlib.backends import _backend_pdf_ps as pdf_ps

    from winback_study.plotting import pdf_fonts

    path = font_manager.findfont("DejaVu Sans")
    full, common, to_common, mapped = pdf_fonts._lean_fonts(path, 0)
    assert not {"GSUB", "GPOS", "MATH"} & set(TTFont(io.BytesIO(full)).keys())
    rng = random.Random(7)
    sets = [{0}, {1}, {3, 36}] + [set(rng.sample(sorted(to_common), k)) for k in (2, 30, 120)]
    for glyphs in sets:
        with pdf_ps.get_glyphs_subset(pdf_fonts._LeanFontFile(full), glyphs) as res:
            direct = pdf_ps.font_as_file(res.font).getvalue()
            direct_map = {g: res.glyph_index_map[g] for g in glyphs}
        with pdf_fonts.lean_pdf_fonts():
            assert pdf_ps.get_glyphs_subset._winback_original is not None  # in place
            with pdf_ps.get_glyphs_subset(font_manager.FontPath(path, 0), glyphs) as res:
                assert pdf_ps.font_as_file(res.font).getvalue() == direct, sorted(glyphs)
                assert {g: res.glyph_index_map[g] for g in glyphs} == direct_map
    # outside the block (or in another thread) matplotlib's own subset of the file
    stock = pdf_ps.get_glyphs_subset._winback_original
    with pdf_ps.get_glyphs_subset(font_manager.FontPath(path, 0), {36}) as res:
        outside = pdf_ps.font_as_file(res.font).getvalue()
    with stock(font_manager.FontPath(path, 0), {36}) as res:
        assert outside == pdf_ps.font_as_file(res.font).getvalue()
        assert "GSUB" in res.font

    fig = _fig()
    fig.axes[0].set_title("Second lifetimes ≥ first · ρ × λ – “quoted” ₹")  # ₹: not common
    pdf = [p for p in save_figure(fig, "fonts", tmp_path, close=True) if p.suffix == ".pdf"]
    data = pdf[0].read_bytes()
    assert data.count(b"/FontFile2") >= 2 and b"/ToUnicode" in data
    fonts = [TTFont(io.BytesIO(zlib.decompress(m.group(1)))) for m in
             re.finditer(rb"/Length1 \d+.*?stream\r?\n(.*?)endstream", data, re.S)]
    assert len(fonts) >= 2
    assert all("glyf" in f and not {"GSUB", "GPOS"} & set(f.keys()) for f in fonts)


def test_display_pixels_are_the_pngs_and_averaged_as_the_float_mean(tmp_path):
    import io

    from PIL import Image

    from winback_study.plotting import style

    fig = _fig()
    png = [p for p in save_figure(fig, "px", tmp_path) if p.suffix == ".png"][0].read_bytes()
    decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert fig._winback_exported_pixels is not None
    assert np.array_equal(fig._winback_exported_pixels, decoded)
    plt.close(fig)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(41, 37, 4), dtype=np.uint8)
    a[:2, :2] = [[[0, 1, 2, 3]], [[1, 2, 3, 4]]]  # halves: 0.5, 1.5, ... round to even
    for k in (2, 3):
        h, w = 41 // k * k, 37 // k * k
        mean = a[:h, :w].astype(np.float64).reshape(h // k, k, w // k, k, 4).mean(axis=(1, 3))
        got = np.asarray(Image.open(io.BytesIO(style._downsampled(a, k))))
        assert np.array_equal(got, np.rint(mean).astype(np.uint8))
        buf = io.BytesIO()
        Image.fromarray(a, "RGBA").save(buf, format="png")
        assert style._downsampled(buf.getvalue(), k) == style._downsampled(a, k)


def test_common_pdf_glyphs_include_the_ligatures_text_layout_draws():
    """matplotlib's text layout draws "fi" (profit), "ff" (offer) and "ffi" as ligature
    glyphs, and "→" is in the notebooks' titles: without them in the common font, most
    PDFs fell back to subsetting the whole font (0.05 s a font instead of 0.005 s)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from winback_study.plotting import pdf_fonts

    for family in ("DejaVu Sans", {"family": "DejaVu Sans", "weight": "bold"}):
        prop = font_manager.FontProperties(**family) if isinstance(family, dict) else family
        path = font_manager.findfont(prop)
        _, _, to_common, _ = pdf_fonts._lean_fonts(path, 0)
        font = FT2Font(path)
        names = ("f_f", "fi", "uniFB00", "uniFB01", "uniFB03", "arrowright")
        gids = {n: font.get_name_index(n) for n in names}
        present = {n: g for n, g in gids.items() if g}
        assert {"arrowright"} <= present.keys() and len(present) >= 3, gids
        assert all(g in to_common for g in present.values()), (path, present)


def test_png_box_is_measured_at_the_pngs_resolution(tmp_path):
    """A title running past the figure's edge is wider at 200 dpi (hinted glyphs) than at
    the figure's 100: the PNG's tight box is measured at 200 dpi, as savefig's own is, so
    the end of the title is not cut off (it was in 06_best_offer_by_segment and others)."""
    import io
    import struct

    def fig():
        use_house_style()
        f, ax = plt.subplots(figsize=(6, 3))
        ax.plot([0, 1], [0, 1])
        f.suptitle("What to send depends on the goal: the discount for profit, the upgrade "
                   "for ROI; hatched cells are too close to call", x=0.01, ha="left",
                   fontweight="bold")
        return f

    def size(png):
        return struct.unpack(">II", png[16:24])

    ours = [p for p in save_figure(fig(), "wide", tmp_path, close=True) if p.suffix == ".png"]
    f = fig()
    buf = io.BytesIO()
    f.savefig(buf, format="png", dpi=200, bbox_inches="tight")
    plt.close(f)
    (w, h), (w0, h0) = size(ours[0].read_bytes()), size(buf.getvalue())
    assert abs(w - w0) <= 2 and abs(h - h0) <= 2, ((w, h), (w0, h0))
