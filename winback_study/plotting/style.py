"""The house chart style and the one export routine every figure goes through.

``use_house_style()`` sets a colour-blind-safe palette (Okabe-Ito), fonts readable on a
slide and on A4, and light grids. ``save_figure(fig, name)`` writes PNG (200 dpi), SVG and
PDF with fixed metadata (no creation date, fixed SVG ids), so a rerun with the same data
gives byte-identical files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from winback_study.core.io import atomic_path
from winback_study.errors import DataError

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
    """
    if not name or any(c in name for c in "/\\ "):
        raise DataError(f"figure name must be a plain file stem without spaces, got {name!r}")
    out = Path(outdir) if outdir is not None else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise DataError(f"unknown format {fmt!r}; choose from {FORMATS}")
        target = out / f"{name}.{fmt}"
        metadata = {"png": {"Software": None}, "svg": {"Date": None},
                    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None}}[fmt]
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None,
                        metadata=metadata)
        written.append(target)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return written


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
