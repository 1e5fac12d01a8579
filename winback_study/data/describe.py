"""Describe a study table: return rates by segment and lifetimes by Kaplan-Meier.

Descriptive statistics of the data, no model: observed return rates with Wilson
intervals (:func:`return_rate_table`, by reason, offer, referrals or complaint status),
first and second lifetimes as survival spells, Kaplan-Meier curves and medians
(:func:`km_curves`, :func:`km_summary`) and log-rank tests. The models
(:mod:`winback_study.models`) and analyses build on them; the charts of them are in
:mod:`winback_study.plotting.charts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time
from statsmodels.stats.proportion import proportion_confint

from winback_study.core.checks import require_columns
from winback_study.errors import DataError

#: Observed second-lifetime length (months) and churn indicator in the study table.
DURATION_COL: str = "second_tenure_months"
EVENT_COL: str = "second_churned"

__all__ = [
    "SEGMENTS",
    "complaint_status",
    "referral_band",
    "return_rate_table",
    "curve_median",
    "curve_rmst",
    "lifetime_spells",
    "km_curves",
    "km_summary",
    "first_vs_second_logrank",
    "logrank_by",
]


def complaint_status(df: pd.DataFrame) -> pd.Series:
    """Label each customer ``no complaint``, ``all resolved`` or ``some unresolved``."""
    complaints = df["complaints"].to_numpy()
    codes = np.select([complaints == 0, df["complaints_resolved"].to_numpy() >= complaints],
                      [0, 1], default=2).astype(np.int8)
    # from codes: a text label per customer, then hashed into a categorical, was seconds
    # at millions of customers
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=["no complaint", "all resolved",
                                                     "some unresolved"]),
        index=df.index, name="complaint_status",
    )


def referral_band(df: pd.DataFrame, top: int = 3) -> pd.Series:
    """Referrals made, grouped as ``0``, ``1``, ... ``top+``."""
    labels = [str(i) for i in range(top)] + [f"{top}+"]
    band = np.minimum(df["referrals"].to_numpy(), top)
    return pd.Series(pd.Categorical.from_codes(band, categories=labels), index=df.index,
                     name="referrals_made")


def _referrer(df: pd.DataFrame) -> pd.Series:
    """``referrer`` (at least one referral) or ``no referrals``."""
    codes = (df["referrals"].to_numpy() > 0).astype(np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, categories=["no referrals", "referrer"]),
                     index=df.index, name="referrer")


def _reason_offer(df: pd.DataFrame) -> list[pd.Series]:
    return [df["defection_reason"], df["offer"]]


#: Named segmentations for :meth:`ReturnModel.segment_rates`.
SEGMENTS: dict[str, Callable[[pd.DataFrame], pd.Series | list[pd.Series]]] = {
    "reason_offer": _reason_offer,
    "referrer": _referrer,
    "complaint": complaint_status,
    "referral_band": referral_band,
}


def return_rate_table(
    df: pd.DataFrame,
    by: str | pd.Series | list,
    outcome: str = "reacquired",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Observed return rate by segment with a Wilson confidence interval.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with a 0/1 ``outcome`` column.
    by : str, Series or list
        Column name(s) or aligned Series to group by.
    outcome : str
        The 0/1 column (default ``reacquired``).
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Per segment: ``customers``, ``returned``, ``return_rate``, ``ci_low``, ``ci_high``.
    """
    g = df.groupby(by, observed=True)[outcome]
    table = pd.DataFrame({"customers": g.size(), "returned": g.sum()})
    lo, hi = proportion_confint(table["returned"], table["customers"], alpha=alpha,
                                method="wilson")
    table["return_rate"] = table["returned"] / table["customers"]
    table["ci_low"], table["ci_high"] = lo, hi
    return table


def curve_median(t: np.ndarray, s: np.ndarray) -> float:
    """First time a survival curve ``s(t)`` reaches 0.5 (linear interpolation); inf if it
    never does."""
    below = np.nonzero(s <= 0.5)[0]
    if len(below) == 0:
        return float("inf")
    i = below[0]
    if i == 0:
        return float(t[0])
    return float(np.interp(0.5, [s[i], s[i - 1]], [t[i], t[i - 1]]))


def curve_rmst(t: np.ndarray, s: np.ndarray, horizon: float) -> float:
    """Restricted mean: the area under a survival curve ``s(t)`` from 0 to ``horizon``
    (trapezoids)."""
    keep = t <= horizon
    tt, ss = t[keep], s[keep]
    if tt[-1] < horizon:
        tt = np.append(tt, horizon)
        ss = np.append(ss, np.interp(horizon, t, s))
    return float(np.sum(np.diff(tt) * (ss[1:] + ss[:-1]) / 2))


def lifetime_spells(df: pd.DataFrame, population: str = "reacquired") -> pd.DataFrame:
    """First and second lifetimes stacked as survival spells (one row per spell).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    population : {"reacquired", "all"}
        Whose first lifetimes to include: only the reacquired (the same customers as the
        second lifetimes: a within-customer comparison) or every lapsed customer.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id``, ``lifetime`` (``first`` / ``second``), ``months``,
        ``churned`` (1 = ended, 0 = censored), and the segment columns ``defection_reason``,
        ``offer``, ``offer_received`` when present. First lifetimes are complete
        (``churned = 1``); second lifetimes keep their censoring.
    """
    if population not in ("reacquired", "all"):
        raise DataError(f"population must be 'reacquired' or 'all', got {population!r}")
    require_columns(df, ["first_tenure_months", "reacquired", DURATION_COL, EVENT_COL],
                  "lifetime_spells")
    segs = [c for c in ("customer_id", "defection_reason", "offer", "offer_received")
            if c in df.columns]
    back = df[df["reacquired"] == 1]
    first_src = back if population == "reacquired" else df
    first = first_src[segs].assign(
        lifetime="first", months=first_src["first_tenure_months"].astype(float), churned=1
    )
    second = back[segs].assign(
        lifetime="second", months=back[DURATION_COL].astype(float),
        churned=back[EVENT_COL].astype(int),
    )
    out = pd.concat([first, second], ignore_index=True)
    out["lifetime"] = pd.Categorical(out["lifetime"], categories=["first", "second"])
    return out


def km_curves(
    df: pd.DataFrame,
    by: str | None = None,
    lifetimes: Sequence[str] = ("first", "second"),
    population: str = "reacquired",
) -> dict[tuple[str, str], KaplanMeierFitter]:
    """Kaplan-Meier fits per (segment, lifetime).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    by : str, optional
        Segment column (``defection_reason``, ``offer`` ...); None = everyone (``"all"``).
    lifetimes : sequence of {"first", "second"}
        Which lifetimes to fit.
    population : {"reacquired", "all"}
        See :func:`lifetime_spells`.

    Returns
    -------
    dict
        ``{(segment, lifetime): KaplanMeierFitter}``, labelled ``"<segment>, <lifetime>
        lifetime"`` (just ``"<segment>"`` when one lifetime is asked for).
    """
    spells = lifetime_spells(df, population)
    spells = spells[spells["lifetime"].isin(list(lifetimes))]
    keys = ["lifetime"] if by is None else [by, "lifetime"]
    out: dict[tuple[str, str], KaplanMeierFitter] = {}
    for key, g in spells.groupby(keys, observed=True):
        seg, life = ("all", key[0]) if by is None else (str(key[0]), str(key[1]))
        if by is None:
            label = f"{life} lifetime"
        else:
            label = seg if len(lifetimes) == 1 else f"{seg}, {life} lifetime"
        kmf = KaplanMeierFitter(label=label)
        out[(seg, life)] = kmf.fit(g["months"], g["churned"])
    return out


def km_summary(
    df: pd.DataFrame,
    by: str | None = None,
    horizon: float = 60.0,
    population: str = "reacquired",
) -> pd.DataFrame:
    """Kaplan-Meier medians (with 95% intervals), restricted means and survival at 1-3 years.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    by : str, optional
        Segment column; None = everyone.
    horizon : float
        Months for the restricted mean lifetime (area under the curve up to ``horizon``).
    population : {"reacquired", "all"}
        Whose first lifetimes (see :func:`lifetime_spells`).

    Returns
    -------
    pandas.DataFrame
        Indexed by (segment, lifetime): ``customers``, ``events``, ``censored``,
        ``median``, ``median_lower_95``, ``median_upper_95``, ``rmst``, ``surv_12``,
        ``surv_24``, ``surv_36`` (share still a customer at 12, 24, 36 months).
    """
    rows = []
    for (seg, life), kmf in km_curves(df, by, population=population).items():
        ci = median_survival_times(kmf.confidence_interval_)
        surv = kmf.survival_function_at_times([12, 24, 36]).to_numpy()
        rows.append(
            {
                by or "segment": seg,
                "lifetime": life,
                "customers": int(kmf.event_observed.size),
                "events": int(kmf.event_observed.sum()),
                "censored": int((kmf.event_observed == 0).sum()),
                "median": float(kmf.median_survival_time_),
                "median_lower_95": float(ci.iloc[0, 0]),
                "median_upper_95": float(ci.iloc[0, 1]),
                "rmst": float(restricted_mean_survival_time(kmf, t=horizon)),
                "surv_12": surv[0],
                "surv_24": surv[1],
                "surv_36": surv[2],
            }
        )
    return pd.DataFrame(rows).set_index([by or "segment", "lifetime"])


def first_vs_second_logrank(
    df: pd.DataFrame, by: str | None = None, population: str = "reacquired"
) -> pd.DataFrame:
    """Log-rank test of first against second lifetime, overall or within each segment.

    The two lifetimes of a customer are not independent spells; the log-rank test treats
    them as if they were, so read its p-value as descriptive.

    Returns
    -------
    pandas.DataFrame
        Per segment: ``median_first``, ``median_second`` (Kaplan-Meier, months),
        ``test_statistic``, ``p``.
    """
    spells = lifetime_spells(df, population)
    groups = [("all", spells)] if by is None else list(spells.groupby(by, observed=True))
    rows = []
    for seg, g in groups:
        f = g[g["lifetime"] == "first"]
        s = g[g["lifetime"] == "second"]
        res = logrank_test(f["months"], s["months"], f["churned"], s["churned"])
        rows.append(
            {
                by or "segment": seg,
                "median_first": float(KaplanMeierFitter().fit(f["months"], f["churned"])
                                      .median_survival_time_),
                "median_second": float(KaplanMeierFitter().fit(s["months"], s["churned"])
                                       .median_survival_time_),
                "test_statistic": float(res.test_statistic),
                "p_value": float(res.p_value),
            }
        )
    return pd.DataFrame(rows).set_index(by or "segment")


def logrank_by(
    df: pd.DataFrame, by: str, lifetime: str = "second", population: str = "reacquired"
) -> pd.DataFrame:
    """Log-rank tests across the segments of ``by`` for one lifetime.

    Returns
    -------
    pandas.DataFrame
        One row ``("all", "all")`` with the multivariate log-rank test of equal curves in
        every segment, then one row per pair of segments; columns ``test_statistic``,
        ``df`` (degrees of freedom) and ``p_value``.
    """
    spells = lifetime_spells(df, population)
    s = spells[spells["lifetime"] == lifetime]
    if s[by].nunique() < 2:
        raise DataError(f"log-rank across {by!r} needs at least two segments")
    overall = multivariate_logrank_test(s["months"], s[by].astype(str), s["churned"])
    pair = pairwise_logrank_test(s["months"], s[by].astype(str), s["churned"]).summary
    rows = [{"a": "all", "b": "all", "test_statistic": float(overall.test_statistic),
             "df": int(overall.degrees_of_freedom),
             "p_value": float(overall.p_value)}]
    for (a, b), r in pair.iterrows():
        rows.append({"a": a, "b": b, "test_statistic": float(r["test_statistic"]), "df": 1,
                     "p_value": float(r["p"])})
    return pd.DataFrame(rows).set_index(["a", "b"])
