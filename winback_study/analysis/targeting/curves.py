"""Realised gain from targeting, on the experiment: gain and Qini curves, uplift by segment.

Within a randomised arm, contact only the customers a score ranks highest; the control
(no-offer) group, ranked by the same score, gives the return rate those customers would
have had anyway (:func:`gain_curve`, :func:`qini_curve`, :func:`top_fraction_response`).
:func:`uplift_by_segment` compares each arm with the control group within segments.
Arms and the control come from the design (``design=``, default
:func:`~winback_study.analysis.roi.experiment_design` of the data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from winback_study.analysis.roi import (
    CostSpec,
    ValueSpec,
    baseline_mask,
    customer_costs,
    customer_values,
    experiment_design,
)
from winback_study.core.checks import binary_outcome, numeric_column, require_columns
from winback_study.core.rng import independent_rng
from winback_study.design import ARM_COLUMN, REASON_COLUMN, StudyDesign
from winback_study.errors import DataError, DesignError

__all__ = [
    "DEFAULT_FRACTIONS",
    "GainCurve",
    "gain_curve",
    "top_fraction_response",
    "uplift_by_segment",
    "QiniCurve",
    "qini_curve",
]

#: Default grid of shares of customers contacted for the gain and Qini curves.
DEFAULT_FRACTIONS: np.ndarray = np.round(np.linspace(0.05, 1.0, 20), 4)


def _as_series(score: pd.Series | np.ndarray | str, df: pd.DataFrame) -> np.ndarray:
    if isinstance(score, str):
        return numeric_column(df, score, "the score (score=)")
    s = np.asarray(score, dtype=float).reshape(-1)
    if s.shape != (len(df),):
        raise DataError(f"score must have one value per row ({len(df):,}), got shape "
                        f"{s.shape}", problem="wrong_length")
    return s


def _arm_and_control(labels: np.ndarray, arm: str, control: str, design: StudyDesign,
                     arm_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Who is in ``arm`` and who in ``control``; an error if either is unknown or empty."""
    if arm not in design.arms:
        raise DesignError(f"arm must be one of {list(design.arms)} ({design.name}); got "
                          f"{arm!r}", problem="unknown_arm")
    t = labels == arm
    if not t.any():
        raise DataError(f"no customers in the {arm!r} arm of column {arm_col!r}: nothing to "
                        "evaluate", column=arm_col, problem="empty_arm")
    return t, baseline_mask(labels, control, arm_col)


def _order(score: np.ndarray) -> np.ndarray:
    """Indices from highest to lowest score; ties keep row order (stable)."""
    return np.argsort(-score, kind="stable")


def _fractions(fractions: Sequence[float] | np.ndarray | None) -> np.ndarray:
    f = DEFAULT_FRACTIONS if fractions is None else np.asarray(fractions, dtype=float)
    if np.any((f <= 0) | (f > 1)):
        raise ValueError("fractions must be in (0, 1]")
    return np.unique(np.append(f, 1.0))


@dataclass(repr=False)
class GainCurve:
    """What contacting only the top-scored share of an arm would have achieved.

    Attributes
    ----------
    curve : pandas.DataFrame
        One row per share contacted: ``share_contacted``, ``contacted``, ``reacquired``,
        ``response_rate`` (among the contacted), ``lift`` (over contacting everyone),
        ``baseline_rate`` (the same top share of the no-offer group), ``incremental``
        (returns over that baseline), ``regained_total`` (contacted returners plus the
        no-offer return of those not contacted: the market-share view), ``cost``,
        ``profit`` (USD, package ROI definition), ``random_profit`` and
        ``random_regained`` (contacting a random share), all for the arm's size.
    arm : str
        The arm evaluated.
    """

    curve: pd.DataFrame
    arm: str

    def at(self, share: float) -> pd.Series:
        """The row nearest to ``share`` contacted."""
        i = int(np.argmin(np.abs(self.curve["share_contacted"].to_numpy() - share)))
        return self.curve.iloc[i]

    @property
    def best_share(self) -> float:
        """Share contacted with the highest realised profit."""
        return float(self.curve.loc[self.curve["profit"].idxmax(), "share_contacted"])

    def summary(self) -> str:
        """Top 20% / 40% / best share against everyone, in words."""
        c = self.curve
        everyone = c.iloc[-1]
        lines = [f"Gain from targeting, {self.arm} arm ({int(everyone['contacted']):,} customers):",
                 f"{'share':>7}{'response':>10}{'lift':>6}{'regained':>10}{'profit $':>13}"
                 f"{'random $':>13}"]
        for s in sorted({0.2, 0.4, self.best_share, 1.0}):
            r = self.at(s)
            lines.append(f"{r['share_contacted']:>7.0%}{r['response_rate']:>10.1%}"
                         f"{r['lift']:>6.2f}{r['regained_total']:>10,.0f}{r['profit']:>13,.0f}"
                         f"{r['random_profit']:>13,.0f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def gain_curve(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    arm: str,
    *,
    control: str | None = None,
    arm_col: str = ARM_COLUMN,
    value: ValueSpec = "slv",
    costs: CostSpec = None,
    fractions: Sequence[float] | None = None,
    incremental: bool = True,
    design: StudyDesign | None = None,
) -> GainCurve:
    """Realised gain from contacting only the top-scored share of an experiment arm.

    Customers of ``arm`` are sorted by ``score`` (highest first); contacting the top share
    ``q`` yields their realised returns, costs and values. The no-offer group, sorted by
    the same score, gives what the same kind of customers do without an offer (the arms
    were randomised, so the top ``q`` of each are comparable).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        One score per row of ``df``, computed as if the customer got ``arm``'s offer
        (for example ``scores.probability[arm]`` or ``scores.expected_profit[arm]``).
    arm : str
        The arm to evaluate.
    control : str, optional
        The no-offer arm; default the design's control.
    arm_col : str
        The arm column.
    value, costs
        Realised value of a reacquired customer and the offer costs
        (see :func:`~winback_study.analysis.offer_experiment.offer_experiment`).
    fractions : sequence of float, optional
        Shares contacted (1.0 is always added).
    incremental : bool
        Profit counts only returns over the baseline (package definition).
    design : StudyDesign, optional
        Arms, control and costs; default
        :func:`~winback_study.analysis.roi.experiment_design` of ``df``.

    Returns
    -------
    GainCurve
    """
    require_columns(df, [arm_col, "reacquired", score, value], "gain_curve")
    d = experiment_design(df, design, arm_col=arm_col, control=control, costs=costs)
    control = d.control if control is None else control
    s = _as_series(score, df)
    labels = df[arm_col].astype(str).to_numpy()
    y = binary_outcome(df, "reacquired", "gain_curve")
    v = np.nan_to_num(customer_values(df, value)) * y
    c = customer_costs(df, costs, arm_col, design=d) * y
    t, k = _arm_and_control(labels, arm, control, d, arm_col)
    ot, oc = np.flatnonzero(t)[_order(s[t])], np.flatnonzero(k)[_order(s[k])]
    f = _fractions(fractions)
    nt, nc = len(ot), len(oc)
    kt = np.maximum(1, np.round(f * nt).astype(int))
    kc = np.maximum(1, np.round(f * nc).astype(int))
    cy, cv, cc = (np.cumsum(a[ot])[kt - 1] for a in (y, v, c))
    cy0 = np.cumsum(y[oc])[kc - 1]
    b_top = cy0 / kc
    rest = nc - kc
    with np.errstate(divide="ignore", invalid="ignore"):
        b_rest = np.where(rest > 0, (y[oc].sum() - cy0) / np.maximum(rest, 1), 0.0)
        vbar = np.where(cy > 0, cv / cy, 0.0)
    incr = cy - b_top * kt
    gain = incr * vbar if incremental else cv
    profit = gain - cc
    r_all = cy[-1] / nt
    curve = pd.DataFrame({
        "share_contacted": f,
        "contacted": kt,
        "reacquired": cy,
        "response_rate": cy / kt,
        "lift": (cy / kt) / r_all,
        "baseline_rate": b_top,
        "incremental": incr,
        "regained_total": cy + b_rest * (nt - kt),
        "cost": cc,
        "profit": profit,
        "random_profit": f * profit[-1],
        "random_regained": f * cy[-1] + (1 - f) * nt * (y[oc].mean()),
    })
    return GainCurve(curve=curve, arm=arm)


def top_fraction_response(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    fraction: float = 0.2,
    arms: Sequence[str] | None = None,
    arm_col: str = ARM_COLUMN,
    alpha: float = 0.05,
    *,
    design: StudyDesign | None = None,
) -> pd.Series:
    """Response rate when contacting only the top ``fraction`` of each arm (study's P10).

    Within each arm the customers with the highest ``score`` (for example the predicted
    probability of return under the offer they got) are "contacted"; the pooled response
    rate of those is compared with everyone's.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        One score per row.
    fraction : float
        Share of each arm contacted.
    arms : sequence of str, optional
        Arms pooled; default every treatment arm of the design.
    arm_col : str
        The arm column.
    alpha : float
        1 - confidence level of the Wilson intervals.
    design : StudyDesign, optional
        Default :func:`~winback_study.analysis.roi.experiment_design` of ``df``.

    Returns
    -------
    pandas.Series
        ``fraction``, ``contacted``, ``response_rate_top`` with Wilson ``top_ci_low``/
        ``top_ci_high``, ``offered``, ``response_rate_all`` with its interval,
        ``difference`` (top minus all), ``rest_rate`` and ``p_value`` (top against the rest,
        score test).
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    require_columns(df, [arm_col, "reacquired", score], "top_fraction_response")
    d = experiment_design(df, design, arm_col=arm_col, need_costs=False)
    arms = d.treatment_arms if arms is None else arms
    s = _as_series(score, df)
    inarm = df[arm_col].astype(str).isin(arms).to_numpy()
    if not inarm.any():
        raise DataError(f"no customers in the arms {list(arms)} of column {arm_col!r}",
                        column=arm_col, problem="empty_arm")
    sub = pd.DataFrame({"arm": df[arm_col].astype(str).to_numpy()[inarm], "s": s[inarm],
                        "y": binary_outcome(df, "reacquired", "top_fraction_response")[inarm]})
    rank = sub.groupby("arm")["s"].rank(ascending=False, method="first")
    size = sub.groupby("arm")["s"].transform("size")
    top = (rank <= np.maximum(1, np.round(fraction * size))).to_numpy()
    kt, nt = sub["y"][top].sum(), int(top.sum())
    ka, na = sub["y"].sum(), len(sub)
    tl, th = proportion_confint(kt, nt, alpha=alpha, method="wilson")
    al, ah = proportion_confint(ka, na, alpha=alpha, method="wilson")
    nr, kr = na - nt, ka - kt
    p = test_proportions_2indep(kt, nt, kr, nr, method="score").pvalue if nr > 0 else np.nan
    return pd.Series({
        "fraction": fraction, "contacted": nt, "response_rate_top": kt / nt,
        "top_ci_low": tl, "top_ci_high": th, "offered": na, "response_rate_all": ka / na,
        "all_ci_low": al, "all_ci_high": ah, "difference": kt / nt - ka / na,
        "rest_rate": kr / nr if nr else np.nan, "p_value": float(p),
    })


def uplift_by_segment(
    df: pd.DataFrame,
    by: str | Sequence[str | pd.Series] = REASON_COLUMN,
    arms: Sequence[str] | None = None,
    control: str | None = None,
    arm_col: str = ARM_COLUMN,
    alpha: float = 0.05,
    *,
    design: StudyDesign | None = None,
) -> pd.DataFrame:
    """Observed response gain of each offer over the no-offer group, by segment.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    by : str or sequence
        Segment column(s) or aligned Series.
    arms : sequence of str, optional
        Offer arms; default every treatment arm of the design.
    control : str, optional
        The no-offer arm; default the design's control.
    arm_col : str
        The arm column.
    alpha : float
        1 - confidence level of the Newcombe interval of each difference.
    design : StudyDesign, optional
        Default :func:`~winback_study.analysis.roi.experiment_design` of ``df``.

    Returns
    -------
    pandas.DataFrame
        One row per segment and arm: ``treated``, ``treated_rate``, ``control``,
        ``control_rate``, ``uplift`` (difference of rates), ``ci_low``, ``ci_high``.
    """
    keys = [by] if isinstance(by, str | pd.Series) else list(by)
    require_columns(df, [arm_col, "reacquired", *keys], "uplift_by_segment")
    d = experiment_design(df, design, arm_col=arm_col, control=control, need_costs=False)
    control = d.control if control is None else control
    arms = [a for a in d.treatment_arms if a != control] if arms is None else list(arms)
    keys = [df[k] if isinstance(k, str) else k for k in keys]
    arm = df[arm_col].astype(str).rename("arm")
    baseline_mask(arm.to_numpy(), control, arm_col)
    g = df["reacquired"].groupby([*keys, arm], observed=True).agg(["size", "sum"])
    names = list(g.index.names[:-1])
    ctrl = g.xs(control, level="arm")
    rows = g[g.index.get_level_values("arm").isin(arms)]
    seg_idx = rows.index.droplevel("arm")
    c = ctrl.reindex(seg_idx)
    n1, k1 = rows["size"].to_numpy(float), rows["sum"].to_numpy(float)
    n0, k0 = c["size"].to_numpy(float), c["sum"].to_numpy(float)
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", alpha=alpha)
    out = pd.DataFrame({
        "treated": n1.astype(int), "treated_rate": k1 / n1, "control": n0.astype(int),
        "control_rate": k0 / n0, "uplift": k1 / n1 - k0 / n0, "ci_low": lo, "ci_high": hi,
    }, index=rows.index)
    out.index.names = [*names, "arm"]
    out = out.reset_index()
    out["arm"] = pd.Categorical(out["arm"], categories=list(arms))
    return out.sort_values([*names, "arm"], kind="stable").set_index([*names, "arm"])


@dataclass(repr=False)
class QiniCurve:
    """Qini curve of an uplift score on one arm against the no-offer group.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``share_targeted``, ``treated_targeted``, ``control_targeted``, ``incremental``
        (Qini: treated returners minus control returners scaled to the treated count, in
        customers of the arm), ``random`` (the same for random targeting).
    coefficient : float
        Area between the curve and the random line, per customer of the arm (share of the
        arm x share targeted): the extra returns per customer of the arm that ranking adds
        over random targeting, averaged over all shares targeted; 0 = no better than random.
    arm : str
        The arm.
    ci_low, ci_high : float
        Percentile bootstrap interval of the coefficient (NaN unless ``n_boot`` was given):
        treated and control customers resampled separately, the score held fixed.
    n_boot : int
        Bootstrap replicates behind the interval (0 = none).
    """

    curve: pd.DataFrame
    coefficient: float
    arm: str
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n_boot: int = 0

    @property
    def random_area(self) -> float:
        """Area under the random line per customer of the arm: half the arm's total uplift.

        The scale for :attr:`coefficient`: ranking adds ``coefficient / random_area`` to
        what random targeting gains, averaged over all shares targeted.
        """
        c = self.curve
        n = float(c["treated_targeted"].iloc[-1])
        return float(np.trapezoid(c["random"], c["share_targeted"]) / n) if n else np.nan

    def summary(self) -> str:
        """The coefficient and the incremental returns at 20/50/100% targeted."""
        c = self.curve.set_index("share_targeted")["incremental"]
        pts = ", ".join(f"{s:.0%}: {c.iloc[np.argmin(np.abs(c.index - s))]:,.0f}"
                        for s in (0.2, 0.5, 1.0))
        ci = (f" (bootstrap interval {self.ci_low:.4f} to {self.ci_high:.4f}, "
              f"{self.n_boot} replicates)" if self.n_boot else "")
        return (f"Qini curve, {self.arm} vs no offer: coefficient {self.coefficient:.4f}{ci}; "
                f"incremental returns when targeting {pts}")

    def __repr__(self) -> str:
        return self.summary()


def qini_curve(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    arm: str,
    *,
    control: str | None = None,
    arm_col: str = ARM_COLUMN,
    fractions: Sequence[float] | None = None,
    n_boot: int = 0,
    seed: int | np.random.Generator | None = 0,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
) -> QiniCurve:
    """Qini curve (Radcliffe 2007) of an uplift ``score`` on one arm.

    Treated (``arm``) and control customers are each sorted by ``score``; at a share ``q``
    the Qini value is ``Y_t(q) - Y_c(q) * N_t(q) / N_c(q)``: returns among the targeted
    treated over what the same share of the control group returned, scaled to the treated
    count.

    With ``n_boot`` replicates, treated and control customers are resampled with
    replacement (separately, so each replicate keeps both group sizes) and the coefficient
    recomputed with the score held fixed; the percentile interval measures how much the
    coefficient would move on another evaluation sample of the same size.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        Uplift score per row (for example ``scores.uplift[arm]``).
    arm : str
        The offer arm.
    control : str, optional
        The no-offer arm; default the design's control.
    arm_col : str
        The arm column.
    fractions : sequence of float, optional
        Shares targeted (1.0 is always added).
    n_boot : int
        Bootstrap replicates for the interval of the coefficient (0 = no interval).
    seed : int or Generator, optional
        Seed of the resampling (an independent stream, see
        :func:`~winback_study.core.rng.independent_rng`).
    alpha : float
        1 - confidence level of the percentile interval.
    design : StudyDesign, optional
        Default :func:`~winback_study.analysis.roi.experiment_design` of ``df``.

    Returns
    -------
    QiniCurve
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be 0 or more, got {n_boot}")
    require_columns(df, [arm_col, "reacquired", score], "qini_curve")
    d = experiment_design(df, design, arm_col=arm_col, control=control, need_costs=False)
    control = d.control if control is None else control
    s = _as_series(score, df)
    labels = df[arm_col].astype(str).to_numpy()
    y = binary_outcome(df, "reacquired", "qini_curve")
    t, k = _arm_and_control(labels, arm, control, d, arm_col)
    yt, yc = y[np.flatnonzero(t)[_order(s[t])]], y[np.flatnonzero(k)[_order(s[k])]]
    f = np.unique(np.concatenate([[0.0], _fractions(fractions)]))
    q, nt, nc = _qini_values(yt, yc, f)
    rand = f * q[-1]
    coef = _qini_coefficient(q, f, len(yt))
    curve = pd.DataFrame({"share_targeted": f, "treated_targeted": nt, "control_targeted": nc,
                          "incremental": q, "random": rand})
    lo = hi = float("nan")
    if n_boot:
        rng = independent_rng(seed)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            # resampled positions in score order, sorted: the resample in score order
            pt = np.sort(rng.integers(0, len(yt), len(yt)))
            pc = np.sort(rng.integers(0, len(yc), len(yc)))
            qb, _, _ = _qini_values(yt[pt], yc[pc], f)
            boot[b] = _qini_coefficient(qb, f, len(yt))
        lo, hi = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    return QiniCurve(curve=curve, coefficient=coef, arm=arm, ci_low=lo, ci_high=hi,
                     n_boot=int(n_boot))


def _qini_coefficient(q: np.ndarray, f: np.ndarray, n_treated: int) -> float:
    """Area between the Qini curve and the random line, per treated customer."""
    return float(np.trapezoid(q - f * q[-1], f) / n_treated)


def _qini_values(yt: np.ndarray, yc: np.ndarray, f: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Qini values at shares ``f`` of outcomes already sorted by score (treated, control)."""
    nt = np.round(f * len(yt)).astype(int)
    nc = np.round(f * len(yc)).astype(int)
    ct = np.concatenate([[0.0], np.cumsum(yt)])[nt]
    cc = np.concatenate([[0.0], np.cumsum(yc)])[nc]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(nc > 0, ct - cc * nt / np.maximum(nc, 1), 0.0)
    return q, nt, nc


