"""Charts: every figure the package draws, one function each (matplotlib).

Functions take tables or fitted results and return matplotlib Axes or Figures; pyplot is
imported only when a chart is drawn. Result objects' ``plot_*`` methods hand off to these
(the functions read results by their attributes, so this module imports no model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from winback_study.data.describe import km_curves
from winback_study.errors import DataError
from winback_study.plotting.style import METHOD_COLORS

__all__ = ["plot_km", "plot_first_vs_second_by", "plot_marginal_effects", "plot_calibration",
           "plot_coefficients", "plot_retention", "plot_estimators_vs_truth"]

#: Three estimators on one chart (naive, two-step, joint): light to dark grey, with a
#: marker each, so they read as methods and never as an offer or a reason; the truth is
#: black (as in the notebooks' other estimate-vs-truth charts).
ESTIMATOR_STYLES: tuple[dict[str, str], ...] = (
    {"color": "#A6A6A6", "marker": "s"},
    {"color": "#6B6B6B", "marker": "^"},
    {"color": "#2B2B2B", "marker": "o"},
)
TRUTH_COLOR = "#000000"


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
        _draw_survival(kmf, ax, ci, **kw)
    if fitters:
        ax.legend(loc="best")
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
    import matplotlib.ticker as mticker

    from winback_study.plotting.style import LIFETIME_STYLES

    curves = km_curves(df, by)
    segments = [str(s) for s in (order or dict.fromkeys(seg for seg, _ in curves))]
    segments = [s for s in segments if (s, "first") in curves and (s, "second") in curves]
    if not segments:
        raise DataError(f"no segment of {by!r} has reacquired customers to compare")
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
        # unlabelled minor ticks on the shared x axes, as lifelines' plotting through
        # pandas left them (pandas' shared-axes handling) before plot_km drew directly
        ax.xaxis.set_minor_locator(mticker.AutoLocator())
        ax.xaxis.set_minor_formatter(mticker.FormatStrFormatter(""))
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


def _draw_survival(kmf: KaplanMeierFitter, ax: Any, ci: bool, **kw: Any) -> None:
    """One Kaplan-Meier curve and its band, drawn as ``kmf.plot_survival_function`` draws them.

    The same step line (``drawstyle="steps-post"``, the fitter's label) and 95% band
    (``fill_between(step="post")``, alpha 0.25, the line's colour) from the fitter's
    survival table, without lifelines' route through pandas' plotting (a DataFrame plot
    and a legend per curve: 50 ms a curve, most of notebook 03's Kaplan-Meier drawing).
    The caller adds the legend once.
    """
    sf = kmf.survival_function_
    x = sf.index.to_numpy(dtype=float)
    kw.setdefault("color", ax._get_lines.get_next_color())
    ax.plot(x, sf.iloc[:, 0].to_numpy(), drawstyle="steps-post", label=kmf._label, **kw)
    if ci:
        band = kmf.confidence_interval_survival_function_
        ax.fill_between(x, band.iloc[:, 0].to_numpy(), band.iloc[:, 1].to_numpy(), alpha=0.25,
                        color=kw["color"], linewidth=1.0, step="post")
    if sf.index.name is not None:
        ax.set_xlabel(sf.index.name)  # "timeline", as pandas labels it; callers set their own


def _add_at_risk_counts(fitters: list[KaplanMeierFitter], ax: Any, ticks: np.ndarray) -> None:
    from lifelines.plotting import add_at_risk_counts

    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], xticks=ticks)


# ------------------------------------------------------------------ fitted models
def plot_marginal_effects(model: Any, ax: Any = None, alpha: float | None = None) -> Any:
    """Average marginal effects of a return model with confidence intervals, in points.

    Parameters
    ----------
    model : ReturnModel
        A fitted return model (:func:`winback_study.fit_return_model`).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.
    alpha : float, optional
        1 - confidence level of the error bars (default: the model's).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    me = model.marginal_effects(alpha)
    level = model.confidence_level if alpha is None else 1 - alpha
    cols = list(model.columns)
    order = sorted(range(len(me)), key=lambda i: (
        cols.index(me["variable"].iloc[i]) if me["variable"].iloc[i] in cols else len(cols), i))
    me = me.iloc[order]
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 0.38 * len(me) + 1.6))
    y = np.arange(len(me))[::-1]
    pp = 100 * me[["effect", "ci_low", "ci_high"]].to_numpy()
    ax.errorbar(pp[:, 0], y, xerr=np.vstack([pp[:, 0] - pp[:, 1], pp[:, 2] - pp[:, 0]]),
                fmt="none", ecolor="#555555", elinewidth=1.2, capsize=3, zorder=2)
    # neutral black (offer colours would read as offers); the labels show the sign
    ax.scatter(pp[:, 0], y, color=METHOD_COLORS[0], s=28, zorder=3)
    for yi, (eff, _, hi) in zip(y, pp, strict=True):
        ax.annotate(f"{eff:+.2f}" if abs(eff) < 1 else f"{eff:+.1f}", (hi, yi), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8.5, color="#333333")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, model.effect_labels(me.index).to_numpy())
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(f"average marginal effect on P(return), percentage points "
                  f"({level:.0%} CI)")
    ax.set_title(f"What moves the probability of return ({model.link})")
    lo, hi = np.nanmin(pp[:, 1]), np.nanmax(pp[:, 2])
    span = hi - lo
    ax.set_xlim(min(lo, 0) - 0.05 * span, max(hi, 0) + 0.12 * span)
    return ax


def plot_calibration(model: Any, ax: Any = None, evaluation: Any = None) -> Any:
    """Observed against predicted return rate by decile, with the 45-degree line.

    Parameters
    ----------
    model : ReturnModel
        A fitted return model.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.
    evaluation : ReturnModelEvaluation, optional
        What to plot; default the model's holdout evaluation, else its estimation sample.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    ev = evaluation or model.holdout_evaluation or model.in_sample_evaluation()
    cal = ev.calibration
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 5.2))
    top = 100 * math.ceil(max(cal["ci_high"].max(), cal["predicted"].max()) * 10) / 10
    ax.plot([0, top], [0, top], color="#7F7F7F", linestyle="--", linewidth=1,
            label="perfect calibration")
    x, yv = 100 * cal["predicted"], 100 * cal["observed"]
    ax.errorbar(x, yv, yerr=[yv - 100 * cal["ci_low"], 100 * cal["ci_high"] - yv],
                fmt="o", color=METHOD_COLORS[0], ecolor=METHOD_COLORS[0], capsize=3,
                markersize=5,
                label=f"decile of P(return), {ev.sample} data ({1 - ev.alpha:.0%} CI)")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="predicted return rate (%)",
           ylabel="observed return rate (%)")
    ax.set_aspect("equal")
    ax.set_title(f"Calibration, {ev.sample} data (n = {ev.n:,}, AUC {ev.auc:.2f})")
    ax.legend(loc="upper left")
    return ax


def plot_coefficients(result: Any, ax: Any = None, terms: Sequence[str] | None = None,
                      ratio: bool = False) -> Any:
    """Forest plot of a fitted model's ``summary``: estimates with their intervals.

    Parameters
    ----------
    result : FittedResult
        Any fitted model of the package.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.
    terms : sequence of str, optional
        Terms to show, top to bottom; default every term but ``Intercept``.
    ratio : bool
        Draw the ratio scale (``hazard_ratio``, ``time_ratio`` ...) on a log axis instead
        of the coefficients.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    table = result.summary
    if terms is None:
        terms = [t for t in table.index if t != "Intercept"] or list(table.index)
    missing = [t for t in terms if t not in table.index]
    if missing:
        raise DataError(f"no term(s) {', '.join(map(repr, missing))} in the summary; terms "
                        f"are: {', '.join(table.index)}", column=missing[0],
                        problem="unknown_term")
    name = result.ratio_name if ratio else None
    if ratio and name is None:
        raise DataError(f"a {type(result).__name__} has no ratio scale; use ratio=False",
                        problem="no_ratio")
    cols = [name, f"{name}_ci_low", f"{name}_ci_high"] if name else ["coef", "ci_low",
                                                                      "ci_high"]
    est, lo, hi = (table.loc[list(terms), c].to_numpy(dtype=float) for c in cols)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.38 * len(terms) + 1.6))
    y = np.arange(len(terms))[::-1]
    ax.errorbar(est, y, xerr=np.vstack([est - lo, hi - est]), fmt="o",
                color=METHOD_COLORS[0], ecolor="#555555", capsize=3, markersize=5)
    ax.axvline(1.0 if name else 0.0, color="black", linewidth=0.8)
    if name:
        ax.set_xscale("log")
    ax.set_yticks(y, list(terms))
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(f"{(name or 'coefficient').replace('_', ' ')} "
                  f"({result.confidence_level:.0%} CI)")
    ax.set_title(f"{type(result).__name__}: {result.equation.replace('_', ' ')} equation")
    return ax


def plot_retention(result: Any, periods: int | None = None, ax: Any = None) -> Any:
    """Observed survivors against a retention model's expectation, period by period.

    Parameters
    ----------
    result : SBGResult or GeometricResult
        A fitted retention model (it keeps the survivor counts it was fitted on).
    periods : int, optional
        Last period drawn; default the last one observed.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    periods = len(result.survivors) - 1 if periods is None else int(periods)
    proj = result.project(periods)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(proj["period"], proj["expected"], color=METHOD_COLORS[1], label="model")
    ax.scatter(proj["period"], proj["observed"], color=METHOD_COLORS[0], s=22, zorder=3,
               label="observed")
    if 0 < result.n_periods < periods:
        ax.axvline(result.n_periods, color="#7F7F7F", linestyle="--", linewidth=1,
                   label="end of calibration")
    ax.set(xlabel="period", ylabel="customers still active", ylim=(0, None),
           title=f"{type(result).__name__}: survivors by period")
    ax.legend(loc="upper right")
    return ax


def plot_estimators_vs_truth(
    estimates: Mapping[str, pd.DataFrame],
    truth: pd.Series,
    terms: Sequence[str] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    ax: Any = None,
    styles: Sequence[Mapping[str, str]] | None = None,
    truth_label: str = "truth (simulator)",
    legend: bool = True,
) -> Any:
    """Several estimators of the same terms, with their intervals, against the truth.

    One row per term; within it one point and interval per estimator (in the order of
    ``estimates``, top to bottom) and the true value as a vertical bar across the row.

    Parameters
    ----------
    estimates : mapping
        Legend label -> a table indexed by term with ``coef``, ``ci_low`` and ``ci_high``
        (a fitted result's ``summary``, or one equation of a joint model's).
    truth : pandas.Series
        True value by term (e.g. :func:`winback_study.true_second_lifetime_effects`).
    terms : sequence of str, optional
        Terms to show, top to bottom; default the terms of the first table that every
        table and ``truth`` have, but ``Intercept``.
    labels : mapping, optional
        Term -> tick label (default the term).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.
    styles : sequence of mapping, optional
        ``color`` and ``marker`` per estimator; default :data:`ESTIMATOR_STYLES`
        (up to three estimators).
    truth_label : str
        Legend label of the truth.
    legend : bool
        Draw the legend (turn it off to draw one legend for several panels).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not estimates:
        raise DataError("no estimates to plot", problem="empty")
    styles = list(ESTIMATOR_STYLES if styles is None else styles)
    if len(styles) < len(estimates):
        raise DataError(f"{len(estimates)} estimators but {len(styles)} styles; pass styles=",
                        problem="too_few_styles")
    tables = list(estimates.values())
    if terms is None:
        terms = [t for t in tables[0].index if t != "Intercept" and t in truth.index
                 and all(t in tab.index for tab in tables)]
    terms = list(terms)
    for name, tab in [*estimates.items(), (truth_label, truth)]:
        missing = [t for t in terms if t not in tab.index]
        if missing:
            raise DataError(f"{name!r} has no term(s) {', '.join(map(repr, missing))}",
                            column=missing[0], problem="unknown_term")
    if not terms:
        raise DataError("no term common to every estimate and the truth", problem="empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.75 * len(terms) + 1.6))
    y = np.arange(len(terms), dtype=float)
    k = len(estimates)
    half = 0.36  # half the height of a term's row
    offsets = np.linspace(-half + 0.12, half - 0.12, k) if k > 1 else np.zeros(1)
    for off, (label, tab), style in zip(offsets, estimates.items(), styles, strict=False):
        est, lo, hi = (tab.loc[terms, c].to_numpy(dtype=float)
                       for c in ("coef", "ci_low", "ci_high"))
        ax.errorbar(est, y + off, xerr=np.vstack([est - lo, hi - est]), fmt=style["marker"],
                    color=style["color"], ecolor=style["color"], capsize=3, markersize=5.5,
                    elinewidth=1.4, label=label, zorder=3)
    t = truth.reindex(terms).to_numpy(dtype=float)
    ax.vlines(t, y - half, y + half, colors=TRUTH_COLOR, linewidth=3.0, label=truth_label,
              zorder=2)
    ax.axvline(0, color="black", linewidth=0.6, alpha=0.6, zorder=1)
    ax.set_yticks(y, [(labels or {}).get(term, term) for term in terms])
    ax.set_ylim(len(terms) - 0.5, -0.5)  # first term on top
    ax.grid(axis="y", visible=False)
    if legend:
        ax.legend(loc="best", fontsize=9)
    return ax
