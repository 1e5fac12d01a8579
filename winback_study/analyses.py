"""The analyses ``winback-study analyze`` runs on a user's file, one function each.

Each takes a validated study table and returns ``(tables, figures)``: named DataFrames to
write as CSV and named matplotlib figures to export. They call the library's modules; no
modelling is implemented here.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .customer_value import ANNUAL_DISCOUNT_RATE, lifetime_value
from .figures import use_house_style
from .return_probability import complaint_status, referral_band, return_rate_table

Result = tuple[dict[str, pd.DataFrame], dict[str, plt.Figure]]


def _bar_with_ci(table: pd.DataFrame, xlabel: str, title: str) -> plt.Figure:
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    yerr = 100 * np.vstack([table["return_rate"] - table["ci_low"],
                            table["ci_high"] - table["return_rate"]])
    ax.bar(table.index.astype(str), 100 * table["return_rate"], yerr=yerr, capsize=4)
    ax.set(xlabel=xlabel, ylabel="reacquired (%), 95% CI", title=title)
    return fig


def return_rates(df: pd.DataFrame, **_: object) -> Result:
    tables, figs = {}, {}
    segments: dict[str, pd.Series | str] = {}
    if "defection_reason" in df:
        segments["reason"] = "defection_reason"
    if "referrals" in df:
        segments["referrals"] = referral_band(df)
    if {"complaints", "complaints_resolved"} <= set(df.columns):
        segments["complaints"] = complaint_status(df)
    if "offer" in df:
        segments["offer"] = "offer"
    labels = {"reason": "stated reason for leaving",
              "referrals": "referrals made in the first lifetime",
              "complaints": "complaints in the first lifetime", "offer": "win-back offer"}
    tables["return_rate_overall"] = return_rate_table(df.assign(all="all customers"), "all")
    for name, by in segments.items():
        t = return_rate_table(df, by)
        tables[f"return_rate_by_{name}"] = t
        top, low = t["return_rate"].idxmax(), t["return_rate"].idxmin()
        figs[f"return_rate_by_{name}"] = _bar_with_ci(
            t, labels[name], f"Return rate by {name}: highest '{top}' "
            f"({t.loc[top, 'return_rate']:.0%}), lowest '{low}' ({t.loc[low, 'return_rate']:.0%})")
    return tables, figs


def customer_value(df: pd.DataFrame, annual_rate: float | None = None, **_: object) -> Result:
    rate = ANNUAL_DISCOUNT_RATE if annual_rate is None else annual_rate
    back = df[df["reacquired"] == 1]
    first = lifetime_value(df["first_monthly_margin"], df["first_tenure_months"], rate)
    second = lifetime_value(back["second_monthly_margin"], back["second_tenure_months"], rate)
    table = pd.DataFrame(
        {
            "customers": [len(df), len(back)],
            "mean_value_usd": [float(np.mean(first)), float(np.mean(second))],
            "median_value_usd": [float(np.median(first)), float(np.median(second))],
        },
        index=pd.Index(["first lifetime (all)", "second lifetime, observed (reacquired)"],
                       name="value"),
    )
    table["annual_discount_rate"] = rate
    return {"customer_value": table}, {}


def offer_experiment(df: pd.DataFrame, **_: object) -> Result:
    from .offer_experiment import OFFER_ARMS

    table = return_rate_table(df, "offer")
    table = table.reindex([o for o in ("none", *OFFER_ARMS) if o in table.index])
    return {"offer_response": table}, {}


#: analysis name (as in :data:`winback_study.user_data.ANALYSES`) -> function
REGISTRY: dict[str, Callable[..., Result]] = {
    "return rates by segment": return_rates,
    "customer value": customer_value,
    "offer experiment": offer_experiment,
}


def run(name: str, df: pd.DataFrame, **kw: object) -> Result:
    """Run the analysis ``name``; analyses not built yet return nothing."""
    fn = REGISTRY.get(name)
    return fn(df, **kw) if fn is not None else ({}, {})
