"""The replication table: every published figure beside the replicated one.

One row per published figure (:mod:`winback_study.data.published`) with columns
``id, metric, published, replicated, ci_low, ci_high, tolerance, status, source, test,
estimator``. ``status`` is ``match`` or ``miss`` by the stated tolerance for a finding, and
``input`` for a design input of the simulation (``PublishedFigure.role``: the study size,
the window, the number randomised, the offer costs), which equals the published number
because it was set to it; an input that does not is a ``miss`` (the simulation is not the
study's design). A qualitative finding gets a row with the comparison that decides it
(``test``). ``estimator`` names how a row that rests on second-lifetime outcomes was
estimated: ``naive`` (the returners as observed, no selection correction), ``two-step``
(the inverse-Mills control function) or ``joint`` (:func:`~winback_study.fit_joint_model`);
it is blank for the other rows. Nothing here is tuned to hide a miss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from statsmodels.stats.proportion import proportion_confint

from winback_study.analysis.offer_experiment import offer_experiment
from winback_study.analysis.roi import arm_summary
from winback_study.analysis.targeting import cross_fit_predict, top_fraction_response
from winback_study.data.published import PUBLISHED
from winback_study.design import KUMAR_2015
from winback_study.models.selection import fit_selection

__all__ = ["replication_table", "to_markdown", "format_number", "status_counts"]

COLUMNS = ["id", "metric", "published", "replicated", "ci_low", "ci_high", "tolerance",
           "status", "source", "test", "estimator"]
#: Estimators a second-lifetime row can rest on (the ``estimator`` column).
ESTIMATORS = ("naive", "two-step", "joint")
#: The rows resting on second-lifetime outcomes (P7, P8, P9) compare the returners as
#: observed (Kaplan-Meier curves, mean margins): no model, no selection correction, so an
#: offer's or a reason's comparison mixes its effect with the loyalty of whom it brought
#: back (notebook 03 shows the size of that against the two-step and joint estimators).
_KM_NAIVE = "naive"
_KM_NOTE = ("naive estimator (the returners as observed: Kaplan-Meier, mean margins; no "
            "selection correction); ")


def _mean_ci(x: pd.Series) -> tuple[float, float, float]:
    x = x.dropna().astype(float)
    m = float(x.mean())
    half = 1.96 * float(x.std(ddof=1)) / np.sqrt(len(x)) if len(x) > 1 else np.nan
    return m, m - half, m + half


def _row(fid: str, replicated: float, lo: float = np.nan, hi: float = np.nan,
         holds: bool | None = None, test: str = "", estimator: str = "") -> dict:
    f = PUBLISHED[fid]
    if estimator and estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if holds is None:
        holds = f.within(replicated)
    if f.is_input:
        status = "input" if holds else "miss"
        test = f"design input (the simulation is set to the published value; not a finding): {test}"
    else:
        status = "match" if holds else "miss"
    return {
        "id": fid, "metric": f.metric, "published": f.value, "replicated": replicated,
        "ci_low": lo, "ci_high": hi, "tolerance": f.tolerance_label,
        "status": status, "source": f.source, "test": test, "estimator": estimator,
    }


def status_counts(table: pd.DataFrame) -> str:
    """The table's verdict in words: ``"21 of 21 findings match; 6 inputs"``.

    Findings are the rows that are not design inputs; a design input that does not equal
    its published value is counted as a miss among the inputs.
    """
    inputs = table["id"].map(lambda i: PUBLISHED[i].is_input)
    findings = table.loc[~inputs, "status"]
    n_match = int((findings == "match").sum())
    n_in = int(inputs.sum())
    text = f"{n_match} of {len(findings)} findings match; {n_in} input{'' if n_in == 1 else 's'}"
    bad_inputs = int((table.loc[inputs, "status"] != "input").sum())
    if bad_inputs:
        text += f" ({bad_inputs} not at their published value)"
    return text


def _km_median(t: pd.Series, e: pd.Series) -> float:
    return float(KaplanMeierFitter().fit(t, e).median_survival_time_)


def replication_table(df: pd.DataFrame, window_months: int = 84) -> pd.DataFrame:
    """Compare a (simulated) study table with every published figure.

    Parameters
    ----------
    df : pandas.DataFrame
        A study table as made by :func:`winback_study.simulate_study`.
    window_months : int
        Length of the observation window.

    Returns
    -------
    pandas.DataFrame
        One row per published figure; see the module docstring for the columns.
    """
    rows: list[dict] = []
    n = len(df)
    in_test = df["offer"].isin(KUMAR_2015.treatment_arms)
    rows.append(_row("P1.customers", n, test="rows in the study table"))
    rows.append(_row("P1.window", window_months, test="observation window of the simulation"))
    rows.append(_row("P2", int(in_test.sum()), test="customers randomised to the four offers"))

    arms = arm_summary(df)
    # bootstrap ROI intervals (seeded from the table itself: same data, same interval)
    boot = offer_experiment(df, n_boot=1000, seed=len(df)).arms
    for arm, a in arms.iterrows():
        lo, hi = proportion_confint(a["reacquired"], a["offered"], method="wilson")
        rows.append(_row(f"P3.{arm}.success", 100 * a["response_rate"], 100 * lo, 100 * hi,
                         test="reacquired / offered (Wilson 95% interval)"))
        rows.append(_row(f"P3.{arm}.roi", 100 * a["roi"], 100 * boot.loc[arm, "roi_ci_low"],
                         100 * boot.loc[arm, "roi_ci_high"],
                         test="bootstrap 95% interval; incremental ROI: ((r - b) SLV - r cost) / (r cost), b = no-offer rate"))
        if arm != "tailored":
            rows.append(_row(f"P3.{arm}.cost", a["cost_per_reacquired"],
                             test="mean offer cost of the arm's reacquired"))
    order = ["upgrade", "discount", "tailored", "bundled"]
    roi = arms["roi"].reindex(order)
    ranked = bool(np.all(np.diff(roi.to_numpy()) < 0))
    rows.append(_row("P3.ranking", np.nan, holds=ranked,
                     test="ROI: " + " > ".join(f"{o} {100 * roi[o]:.0f}%" for o in order)))

    m, lo, hi = _mean_ci(df["clv_first"])
    rows.append(_row("P4.clv_first", m, lo, hi, test="mean clv_first over all customers"))
    back = df[df["reacquired"] == 1]
    m, lo, hi = _mean_ci(back["slv"])
    rows.append(_row("P4.slv", m, lo, hi, test="mean slv over the reacquired"))

    # P5: decided by the return model (probit on the study's formula), 95% intervals
    fit = fit_selection(df)
    for fid, term, sign in (("P5.referrals", "referrals", 1), ("P5.complaints", "complaints", -1),
                            ("P5.resolved", "complaints_resolved", 1)):
        est, lo, hi = fit.summary.loc[term, ["coef", "ci_low", "ci_high"]]
        holds = (lo > 0) if sign > 0 else (hi < 0)
        rows.append(_row(fid, est, lo, hi, holds=bool(holds),
                         test=f"probit coefficient of {term} (return model), 95% CI "
                              f"{'above' if sign > 0 else 'below'} 0"))

    by_reason = df.groupby("defection_reason", observed=True)["reacquired"].mean()
    holds = by_reason["price"] > by_reason["service"] > by_reason["both"]
    rows.append(_row("P6", np.nan, holds=bool(holds), test="return rate " + ", ".join(
        f"{r} {100 * by_reason[r]:.1f}%" for r in ("price", "service", "both"))))

    med1 = float(df["first_tenure_months"].median())
    med2 = _km_median(back["second_tenure_months"], back["second_churned"])
    rows.append(_row("P7.longer", med2 - med1, holds=med2 > med1, estimator=_KM_NAIVE,
                     test=_KM_NOTE + f"median months: second lifetime of the returners "
                          f"(Kaplan-Meier) {med2:.0f} vs first lifetime of every lapsed "
                          f"customer {med1:.0f}"))
    med_by_reason = {
        r: _km_median(g["second_tenure_months"], g["second_churned"])
        for r, g in back.groupby("defection_reason", observed=True)
    }
    top = max(med_by_reason, key=med_by_reason.get)
    rows.append(_row("P7.price", np.nan, holds=top == "price", estimator=_KM_NAIVE,
                     test=_KM_NOTE + "KM median second months: "
                     + ", ".join(f"{r} {v:.0f}" for r, v in med_by_reason.items())))

    margin = back.groupby("defection_reason", observed=True)["second_monthly_margin"].mean()
    holds = (by_reason["service"] < by_reason["price"]
             and med_by_reason["service"] < med_by_reason["price"]
             and margin["service"] > margin["price"])
    rows.append(_row("P8", np.nan, holds=bool(holds), estimator=_KM_NAIVE, test=(
        _KM_NOTE + f"service vs price: return {100 * by_reason['service']:.1f}% vs "
        f"{100 * by_reason['price']:.1f}%, KM median {med_by_reason['service']:.0f} vs "
        f"{med_by_reason['price']:.0f} months, margin ${margin['service']:.2f} vs "
        f"${margin['price']:.2f}")))

    rmst = {}
    for arm in ("upgrade", "discount", "bundled"):
        g = back[back["offer"] == arm]
        kmf = KaplanMeierFitter().fit(g["second_tenure_months"], g["second_churned"])
        # restricted mean second lifetime over the first 60 months
        t = kmf.survival_function_.index.to_numpy()
        s = kmf.survival_function_.iloc[:, 0].to_numpy()
        t = np.clip(t, 0, 60)
        rmst[arm] = float(np.sum(np.diff(np.append(t, 60)) * s))
    # "least profitable": lowest second-lifetime margin per month of the three offers,
    # and the lowest ROI of the four arms
    m2 = {arm: float(back.loc[back["offer"] == arm, "second_monthly_margin"].mean())
          for arm in rmst}
    holds = (rmst["upgrade"] > rmst["discount"] > rmst["bundled"]
             and m2["bundled"] == min(m2.values())
             and arms.loc["bundled", "roi"] == arms["roi"].min())
    rows.append(_row("P9", np.nan, holds=bool(holds), estimator=_KM_NAIVE, test=(
        _KM_NOTE + "restricted mean second lifetime (60 months): "
        + ", ".join(f"{a} {v:.1f}" for a, v in rmst.items())
        + "; second-lifetime margin per month: "
        + ", ".join(f"{a} ${v:.2f}" for a, v in m2.items())
        + f"; bundled ROI lowest of the four arms: {arms.loc['bundled', 'roi'] == arms['roi'].min()}")))

    # P10: contact only the top 20% of each arm by predicted return (out-of-fold probit)
    p_back = cross_fit_predict(df, fit_selection, folds=2, seed=0)
    top = top_fraction_response(df, p_back, fraction=0.2)
    rows.append(_row(
        "P10", 100 * top["response_rate_top"], 100 * top["top_ci_low"], 100 * top["top_ci_high"],
        holds=bool(top["top_ci_low"] > top["response_rate_all"]),
        test=(f"response rate, top 20% of each arm by predicted return (2-fold cross-fitted "
              f"probit): {100 * top['response_rate_top']:.1f}% vs everyone "
              f"{100 * top['response_rate_all']:.1f}% ({100 * top['difference']:+.1f} pp)")))
    # P11: churn per customer-month at risk in the reacquired customers' second lifetimes
    events = float(back["second_churned"].sum())
    exposure = float(back["second_tenure_months"].sum())
    monthly = 100 * events / exposure
    rows.append(_row("P11", monthly, test=(
        f"second-lifetime churn: {events:,.0f} departures over {exposure:,.0f} customer-months "
        "at risk; published as an upper bound ('up to 3%')")))
    return pd.DataFrame(rows, columns=COLUMNS)


def format_number(v: object) -> str:
    """Replication-table style: counts without decimals, coefficients to 3, the rest to 1."""
    if not isinstance(v, (float, np.floating)):
        return str(v)
    if np.isnan(v):
        return ""
    if abs(v) < 1:
        return f"{v:.3f}"
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def to_markdown(table: pd.DataFrame) -> str:
    """Render the replication table as a Markdown table (no extra dependency)."""
    fmt = format_number

    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(fmt(r[c]).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines) + "\n"
