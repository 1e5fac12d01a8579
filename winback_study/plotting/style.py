"""The house chart style and the one export routine every figure goes through.

``use_house_style()`` sets a colour-blind-safe palette (Okabe-Ito), fonts readable on a
slide and on A4, and light grids. ``save_figure(fig, name)`` writes PNG (200 dpi), SVG and
PDF with fixed metadata (no creation date, fixed SVG ids), so a rerun with the same data
gives byte-identical files.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from winback_study.core.io import atomic_path
from winback_study.errors import DataError
from winback_study.plotting.pdf_fonts import lean_pdf_fonts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "REASON_COLORS", "OFFER_COLORS", "LIFETIME_STYLES", "METHOD_COLORS",
           "use_house_style", "save_figure",
           "figures_dir", "Table", "table"]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)
#: One colour per offer arm, used for offers in every chart (Okabe-Ito blue, green,
#: vermillion, reddish purple; grey for no offer).
OFFER_COLORS = {
    "none": "#7F7F7F", "discount": "#0072B2", "upgrade": "#009E73", "bundled": "#D55E00",
    "tailored": "#CC79A7",
}
#: Reasons for leaving get colours no offer uses (orange, sky blue, black; light grey for
#: the residual "other"), so a reason is never read as an offer on a slide.
REASON_COLORS = {"price": "#E69F00", "service": "#56B4E9", "both": "#000000", "other": "#AAAAAA"}
#: First vs second lifetime: grey dashed vs black solid (no offer or reason colour).
LIFETIME_STYLES = {"first": {"color": "#8C8C8C", "linestyle": "--"},
                   "second": {"color": "#000000", "linestyle": "-"}}
#: Two methods compared on one chart (logit vs probit, naive vs corrected, 80% vs 90%):
#: neutral black and grey, never an offer or reason colour.
METHOD_COLORS: tuple[str, str] = ("#000000", "#8C8C8C")
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
PNG_DPI = 200


def use_house_style() -> None:
    """Apply the package's chart style to matplotlib (and seaborn, which reads it)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (8.0, 4.8),
            "figure.dpi": 100,
            "figure.constrained_layout.use": True,
            "font.size": 11,
            "axes.titlesize": 12.5,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.labelsize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "grid.linewidth": 0.6,
            "legend.frameon": False,
            "legend.fontsize": 10,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO)),
            "savefig.bbox": "tight",
            "svg.hashsalt": "winback-study",  # stable ids in SVG output
            "svg.fonttype": "path",
            "pdf.fonttype": 42,
        }
    )


def figures_dir(default: str | os.PathLike = "reports/figures") -> Path:
    """Where figures go: ``$WINBACK_FIGURES_DIR`` if set, else ``default``.

    A relative ``default`` is taken from the working directory, except in the
    ``notebooks/`` folder of a checkout (where JupyterLab runs the notebooks): there it is
    taken from the checkout, so ``make lab`` and ``make reproduce`` fill the same
    ``reports/figures``.
    """
    env = os.environ.get("WINBACK_FIGURES_DIR")
    if env:
        return Path(env)
    base = Path.cwd()
    if base.name == "notebooks" and (base.parent / "pyproject.toml").exists():
        base = base.parent
    return base / default


def save_figure(
    fig: Figure,
    name: str,
    outdir: str | os.PathLike | None = None,
    formats: tuple[str, ...] = FORMATS,
    close: bool = False,
) -> list[Path]:
    """Export ``fig`` as ``<outdir>/<name>.png`` (200 dpi), ``.svg`` and ``.pdf``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
    name : str
        File stem naming the content, e.g. ``"return_rate_by_reason"``.
    outdir : path, optional
        Target folder (created if missing); default :func:`figures_dir`.
    formats : tuple of str
        Any of ``png``, ``svg``, ``pdf``.
    close : bool
        Close the figure after saving.

    Returns
    -------
    list of pathlib.Path
        The written files. Each is written to a temporary name and renamed, so an
        interrupted export never leaves a half-written file.

    Notes
    -----
    The figure is laid out (constrained layout) and its tight box measured once for all
    formats, not once per format, at the PNG's 200 dpi (see ``_laid_out_once``). The PDF embeds each font as a subset of the glyphs it
    uses, without the font's layout tables
    (:func:`~winback_study.plotting.pdf_fonts.lean_pdf_fonts`). In a notebook, showing the
    figure afterwards
    (``plt.show()``) displays the exported PNG at screen resolution instead of drawing
    it again, unless the figure changed since (see ``_show_as_exported``).
    """
    if not name or any(c in name for c in "/\\ "):
        raise DataError(f"figure name must be a plain file stem without spaces, got {name!r}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise DataError(f"unknown format {unknown[0]!r}; choose from {FORMATS}")
    out = Path(outdir) if outdir is not None else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    png = pixels = None
    with _laid_out_once(fig) as bbox:
        for fmt in formats:
            target = out / f"{name}.{fmt}"
            buf = io.BytesIO()
            with lean_pdf_fonts() if fmt == "pdf" else nullcontext():
                fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else None,
                            metadata=_METADATA[fmt], bbox_inches=bbox)
            with atomic_path(target) as tmp:
                tmp.write_bytes(buf.getvalue())
            written.append(target)
            if fmt == "png":
                png = buf.getvalue()
                pixels = _rendered_pixels(fig, png)
    if png is not None:
        _show_as_exported(fig, png, pixels)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return written


#: metadata that would change between runs (dates, versions), left out of every file
_METADATA = {"png": {"Software": None}, "svg": {"Date": None},
             "pdf": {"CreationDate": None, "ModDate": None, "Producer": None}}


@contextmanager
def _laid_out_once(fig: Figure) -> Iterator[object]:
    """Lay ``fig`` out and measure its tight bounding box once, for every format.

    ``savefig`` on its own draws the figure twice per format: once to run the layout
    engine (constrained layout here) and measure the tight box, once to render. Here the
    layout runs once, without rendering; its positions are kept while the formats render
    (the layout engine is detached, so no format re-runs it) and the engine is put back
    afterwards. Yields the padded tight box in inches (``savefig.bbox = "tight"``), or the
    rcParam's value otherwise.
    """
    import matplotlib as mpl

    bbox = mpl.rcParams["savefig.bbox"]
    engine = fig.get_layout_engine()
    # at the PNG's resolution, as savefig itself lays out and measures a PNG: the Agg
    # renderer hints glyphs to the pixel grid, so text is wider at 200 dpi than at the
    # figure's 100 (a long title by up to 3%), and a box measured at 100 dpi cut the end
    # of such titles off the PNG. The vector formats measure text unhinted, a little
    # narrower than at 200 dpi: the PNG's box holds them too.
    dpi = fig.dpi
    fig.dpi = PNG_DPI
    try:
        fig.draw_without_rendering()  # runs the layout engine: positions are now final
        if bbox == "tight":
            pad = mpl.rcParams["savefig.pad_inches"]
            bbox = fig.get_tightbbox().padded(pad)
    finally:
        fig.dpi = dpi
    # set_layout_engine(None) removes the engine only while no rcParam asks for one, and
    # savefig restores "no engine" the same way after each format
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
        try:
            yield bbox
        finally:
            if engine is not None:
                fig.set_layout_engine(engine)


def _rendered_pixels(fig: Figure, png: bytes) -> object | None:
    """The RGBA pixels just encoded into ``png``, from the figure's Agg canvas, or None.

    ``savefig(format="png")`` renders into the canvas' Agg buffer and encodes that buffer;
    the buffer is still there afterwards. A copy of it saves decoding the PNG again to
    display it (``_downsampled``). None when the figure has no Agg canvas of the PNG's
    size (the PNG is decoded then).
    """
    import struct

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg) or getattr(canvas, "renderer", None) is None:
        return None
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    pixels = np.asarray(canvas.buffer_rgba())
    if pixels.shape != (height, width, 4) or pixels.dtype != np.uint8:
        return None
    return pixels.copy()


def _show_as_exported(fig: Figure, png: bytes, pixels: object | None = None) -> None:
    """In a notebook, let displaying ``fig`` show the exported PNG instead of drawing again.

    IPython's inline backend draws a figure once more to display it (at the figure's
    dpi, tight box, like the export). While ``fig`` is unchanged since the export
    (``fig.stale`` is False: any change to the figure or an artist in it sets it), the
    notebook's PNG formatter shows the exported 200 dpi PNG averaged down to the
    figure's dpi instead (2x2 pixels into one at 100 dpi). Changed figures, other dpis
    and other display formats (retina, SVG) are drawn as usual. ``pixels`` are the PNG's
    RGBA pixels when known (``_rendered_pixels``): averaged without decoding the PNG,
    once; the displayed image is kept for a later display and the pixels dropped.
    """
    import sys

    fig._winback_exported_png = png
    fig._winback_exported_pixels = pixels
    fig._winback_shown = {}
    fig.stale = False  # just drawn: every format was rendered from its current state
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", {})
    png_formatter = formatters.get("image/png")
    if png_formatter is None:
        return
    from matplotlib.figure import Figure

    current = png_formatter.lookup_by_type(Figure) if Figure in png_formatter else None
    if current is None or getattr(current, "_winback", False):
        return
    if getattr(current, "keywords", {}).get("fmt") != "png":  # retina, or not the inline
        return

    def show(f: Figure, _drawn=current) -> object:
        data = getattr(f, "_winback_exported_png", None)
        factor = PNG_DPI / f.dpi
        if data is None or f.stale or factor != int(factor) or factor < 1:
            return _drawn(f)
        key = (int(factor), bool(_drawn.keywords.get("base64", False)))
        shown = f.__dict__.setdefault("_winback_shown", {})
        if key not in shown:
            pixels = getattr(f, "_winback_exported_pixels", None)
            shown[key] = _downsampled(data if pixels is None else pixels, *key)
            f._winback_exported_pixels = None  # the displayed image is kept instead
        return shown[key]

    show._winback = True
    png_formatter.for_type(Figure, show)


def _downsampled(png: bytes | object, factor: int, base64: bool = False) -> bytes | str:
    """``png`` with every ``factor x factor`` block of pixels averaged into one.

    ``png`` is the PNG file, or its pixels (an ``(h, w, 4)`` uint8 array). Each average is
    rounded to the nearest integer, halves to even (``np.rint`` of the mean); the sums are
    exact integers, so this equals rounding the float64 mean of each block.
    """
    import binascii

    import numpy as np
    from PIL import Image

    if isinstance(png, bytes | bytearray):
        with Image.open(io.BytesIO(png)) as im:
            a = np.asarray(im.convert("RGBA"))
    else:
        a = np.asarray(png)
    h, w = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    a = a[:h, :w]
    # strided slices: no float copy of the full-size image; k*k*255 fits in 16 bits up to
    # k = 16
    total = np.zeros((h // factor, w // factor, a.shape[2]),
                     dtype=np.uint16 if factor <= 16 else np.uint32)
    for i in range(factor):
        for j in range(factor):
            total += a[i::factor, j::factor]
    if factor == 2:  # the usual case (200 dpi shown at 100): rint(total / 4) in integers
        q, r = total >> 2, total & 3
        mean = (q + ((r > 2) | ((r == 2) & (q & 1).astype(bool)))).astype(np.uint8)
    else:
        mean = np.rint(total / (factor * factor)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(mean, "RGBA").save(buf, format="png")
    data = buf.getvalue()
    return binascii.b2a_base64(data, newline=False).decode("ascii") if base64 else data


class Table:
    """A DataFrame with number formats, shown the same way on every run.

    ``DataFrame.style`` gives each rendering a random id and a memory address, so an
    executed notebook would differ between two runs with the same numbers. A ``Table``
    renders HTML with an id derived from its name and a plain-text view with the same
    formats, so notebooks and their HTML exports are byte-stable.

    Attributes
    ----------
    data : pandas.DataFrame
        The unformatted numbers.
    """

    def __init__(self, data: pd.DataFrame, formats: Mapping[str, str], name: str,
                 na_rep: str = "–") -> None:
        self.data = data
        self.formats = dict(formats)
        self.name = name
        self.na_rep = na_rep

    def _styler(self):
        return self.data.style.set_uuid(self.name).format(self.formats, na_rep=self.na_rep)

    def _repr_html_(self) -> str:
        return self._styler().to_html()

    def to_text(self) -> pd.DataFrame:
        """The table as formatted strings (what is displayed)."""
        out = self.data.copy()
        for col, fmt in self.formats.items():
            out[col] = [self.na_rep if pd.isna(v) else fmt.format(v) for v in self.data[col]]
        return out

    def __repr__(self) -> str:
        return self.to_text().to_string()


def table(data: pd.DataFrame, formats: Mapping[str, str] | str | None = None,
          name: str | None = None, na_rep: str = "–") -> Table:
    """Show ``data`` with number formats, identically on every run (see :class:`Table`).

    Parameters
    ----------
    data : pandas.DataFrame
        The table.
    formats : mapping or str, optional
        Column -> format string (``"{:.1%}"``, ``"${:,.0f}"``), or one format for every
        float column. Columns without a format are shown as pandas shows them.
    name : str, optional
        Stable id for the HTML (letters, digits, ``_``); default from the column names.
    na_rep : str
        Shown for missing values.

    Returns
    -------
    Table
        Displays as a formatted table in a notebook; ``.data`` holds the numbers.
    """
    if isinstance(formats, str):
        formats = {c: formats for c in data.columns if data[c].dtype.kind == "f"}
    formats = dict(formats or {})
    unknown = [c for c in formats if c not in data.columns]
    if unknown:
        raise DataError(f"formats name columns not in the table: {unknown}")
    if name is None:
        name = "_".join(str(c) for c in data.columns)[:40]
    name = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return Table(data, formats, name, na_rep)
