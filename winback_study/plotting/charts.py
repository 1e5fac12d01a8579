"""Charts: every figure the package draws, one function each (matplotlib).

Functions take tables or fitted results and return matplotlib Axes or Figures; pyplot is
imported only when a chart is drawn. Result objects' ``plot_*`` methods hand off to these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from winback_study.data.describe import km_curves

__all__ = ["plot_km", "plot_first_vs_second_by"]


def plot_km(
    curves: Mapping[Any, KaplanMeierFitter],
    ax: Any = None,
    colors: Sequence[str] | None = None,
    linestyles: Sequence[str] | None = None,
    ci: bool = True,
    at_risk: bool = True,
    xmax: float | None = 84,
) -> Any:
    """Plot Kaplan-Meier curves with confidence bands and an at-risk table below the axis.

    Parameters
    ----------
    curves : mapping
        Label -> fitted ``KaplanMeierFitter`` (e.g. a selection of :func:`km_curves`).
    ax : matplotlib.axes.Axes, optional
        Target axes (default: current axes).
    colors, linestyles : sequence of str, optional
        One per curve.
    ci : bool
        Draw the 95% confidence bands.
    at_risk : bool
        Add lifelines' at-risk counts under the x axis.
    xmax : float, optional
        Right end of the x axis, months. Ticks (and at-risk counts) are every 12 months.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    fitters = list(curves.values())
    for i, kmf in enumerate(fitters):
        kw: dict[str, Any] = {}
        if colors is not None:
            kw["color"] = colors[i]
        if linestyles is not None:
            kw["linestyle"] = linestyles[i]
        kmf.plot_survival_function(ax=ax, ci_show=ci, **kw)
    if xmax is not None:
        ax.set_xlim(0, xmax)
    ax.set_ylim(0, 1.02)
    ticks = np.arange(0, (xmax or ax.get_xlim()[1]) + 1, 12)
    ax.set_xticks(ticks)
    if at_risk:
        _add_at_risk_counts(fitters, ax, ticks)
    return ax


def plot_first_vs_second_by(
    df: pd.DataFrame,
    by: str,
    order: Sequence[str] | None = None,
    ncols: int | None = None,
    xmax: float = 84,
) -> Any:
    """Small multiples: first vs second lifetime (Kaplan-Meier, 95% bands), one panel per segment.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (first and second lifetimes of the reacquired are compared).
    by : str
        Segment column, e.g. ``defection_reason`` or ``offer``.
    order : sequence of str, optional
        Segments to show, in order (default: those present, in category order).
    ncols : int, optional
        Panels per row (default: all in one row up to 3, else 2 or 3 rows as needed).
    xmax : float
        Right end of each x axis, months.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel is titled with its segment, its customers and the two median lifetimes;
        the at-risk counts are in :func:`km_summary` (``customers``, ``surv_12`` ...).
    """
    import matplotlib.pyplot as plt

    from winback_study.plotting.style import LIFETIME_STYLES

    curves = km_curves(df, by)
    segments = [str(s) for s in (order or dict.fromkeys(seg for seg, _ in curves))]
    segments = [s for s in segments if (s, "first") in curves and (s, "second") in curves]
    if not segments:
        raise ValueError(f"no segment of {by!r} has reacquired customers to compare")
    n = len(segments)
    ncols = ncols or (n if n <= 3 else (2 if n == 4 else 3))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.6, 3.2 * nrows + 0.9),
                             sharex=True, sharey=True, squeeze=False)
    for ax, seg in zip(axes.flat, segments, strict=False):
        plot_km({"first lifetime": curves[(seg, "first")],
                 "second lifetime": curves[(seg, "second")]},
                ax=ax, colors=[LIFETIME_STYLES[k]["color"] for k in ("first", "second")],
                linestyles=[LIFETIME_STYLES[k]["linestyle"] for k in ("first", "second")],
                at_risk=False, xmax=xmax)
        m1, m2 = (curves[(seg, life)].median_survival_time_ for life in ("first", "second"))
        k = int(curves[(seg, "second")].event_observed.size)
        ax.set_title(f"{seg} ({k:,}): median {m1:.0f} → {m2:.0f} mo", fontsize=11)
        ax.set_xlabel("")
        if ax.get_legend():
            ax.get_legend().remove()
    for i, ax in enumerate(axes.flat[n:], start=n):
        ax.remove()
        if i - ncols >= 0:  # the panel above is now the lowest of its column
            axes.flat[i - ncols].xaxis.set_tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel("share still a customer")
    fig.supxlabel("months since the lifetime began")
    handles, _ = axes.flat[0].get_legend_handles_labels()
    axes.flat[0].legend(handles[:2], ["first lifetime", "second lifetime"], loc="upper right",
                        fontsize=10)
    return fig


def _add_at_risk_counts(fitters: list[KaplanMeierFitter], ax: Any, ticks: np.ndarray) -> None:
    from lifelines.plotting import add_at_risk_counts

    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], xticks=ticks)
