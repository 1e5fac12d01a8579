"""The analyses ``winback-study analyze`` runs on a user's file, one function each.

Each takes a validated study table and returns ``(tables, figures)``: named DataFrames to
write as CSV and named matplotlib figures to export. They call the library's modules; no
modelling is implemented here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

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


def customer_value(df: pd.DataFrame, annual_rate: float | None = None,
                   shared: dict[str, object] | None = None, **_: object) -> Result:
    rate = ANNUAL_DISCOUNT_RATE if annual_rate is None else annual_rate
    back = df[df["reacquired"] == 1]
    first = lifetime_value(df["first_monthly_margin"], df["first_tenure_months"], rate)
    second = lifetime_value(back["second_monthly_margin"], back["second_tenure_months"], rate)
    rows = {
        "first lifetime (all)": (len(df), np.mean(first), np.median(first),
                                 "every first lifetime ended (they all left): exact"),
        "second lifetime, observed (reacquired)": (
            len(back), np.mean(second), np.median(second),
            "lower bound: months after the end of the data are missing"),
    }
    from .customer_value import DEFAULT_HORIZON_MONTHS, expected_slv
    from .second_lifetime import SecondLifetimeError

    try:
        fit = _second_lifetime_fit(df, shared)
    except SecondLifetimeError as exc:
        note = f"not estimated: {exc}"
        rows["second lifetime, Weibull survival x margin (reacquired)"] = (
            len(back), np.nan, np.nan, note)
    else:
        # each returner's own margin (no margin model): an adapter for expected_slv
        observed = SimpleNamespace(predict_margin=lambda d: d["second_monthly_margin"])
        model = expected_slv(back, fit, observed, annual_rate=rate)
        rows["second lifetime, Weibull survival x margin (reacquired)"] = (
            len(back), np.mean(model), np.median(model),
            f"each returner's margin over her expected Weibull survival, "
            f"{DEFAULT_HORIZON_MONTHS} months; extrapolates past the data, not "
            "selection-corrected")
    table = pd.DataFrame.from_dict(
        rows, orient="index",
        columns=["customers", "mean_value_usd", "median_value_usd", "note"])
    table.index.name = "value"
    table["annual_discount_rate"] = rate
    return {"customer_value": table}, {}


def offer_experiment(df: pd.DataFrame, **_: object) -> Result:
    from .offer_experiment import OFFER_ARMS

    table = return_rate_table(df, "offer")
    table = table.reindex([o for o in ("none", *OFFER_ARMS) if o in table.index])
    return {"offer_response": table}, {}


def _terms(df: pd.DataFrame, candidates: dict[str, str]) -> list[str]:
    """Formula terms whose column exists and varies in ``df``."""
    return [term for col, term in candidates.items()
            if col in df and df[col].nunique(dropna=True) > 1]


def _factor(df: pd.DataFrame, col: str, prefer: str | None = None) -> list[str]:
    """``C(col, Treatment(ref))`` over the levels present in ``df``, if two or more are.

    The reference is ``prefer`` when present (``price`` leavers, no offer), else the first
    level present in the study's order, so a file without price leavers or without a
    no-offer group still gets a model (its effects read against that level).
    """
    if col not in df:
        return []
    s = df[col].dropna()
    levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(
        s.astype(str).unique())
    present = [lv for lv in levels if (s == lv).any()]
    if len(present) < 2:
        return []
    ref = prefer if prefer in present else present[0]
    return [f"C({col}, Treatment({ref!r}))"]


def _present_levels_only(df: pd.DataFrame) -> pd.DataFrame:
    """Drop categories nobody in ``df`` has (a file need not contain every study level)."""
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    return df.assign(**{c: df[c].cat.remove_unused_categories() for c in cats}) if cats else df


def return_model(df: pd.DataFrame, **_: object) -> Result:
    from .return_probability import fit_return_model

    df = _present_levels_only(df)
    terms = _terms(df, {
        "referrals": "referrals", "complaints": "complaints",
        "complaints_resolved": "complaints_resolved",
        "first_tenure_months": "first_tenure_months",
        "first_monthly_margin": "first_monthly_margin",
        "months_since_defection": "months_since_defection",
    })
    terms += _factor(df, "defection_reason", "price") + _factor(df, "offer_received", "none")
    model = fit_return_model(df, "reacquired ~ " + (" + ".join(terms) or "1"), link="probit")
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    model.plot_marginal_effects(ax=ax)
    # a file without price leavers or a no-offer group is read against another level: say which
    coefs = model.summary_frame().join(model.terms[["reference"]])
    return {"return_model_coefficients": coefs,
            "return_model_marginal_effects": model.marginal_effects()}, {
            "return_model_marginal_effects": fig}


def _second_lifetime_fit(df: pd.DataFrame, shared: dict[str, object] | None = None):
    """Weibull AFT on the reacquired, with the covariates the file has.

    With ``shared`` (one dict per :func:`~winback_study.user_data.analyze` call) the fit,
    or the error it raised, is kept there for the next analysis that needs it.
    """
    if shared is not None:
        if "weibull" not in shared:
            try:
                shared["weibull"] = _second_lifetime_fit(df)
            except Exception as exc:  # noqa: BLE001 - re-raised below, for every caller
                shared["weibull"] = exc
        if isinstance(shared["weibull"], Exception):
            raise shared["weibull"]
        return shared["weibull"]
    from .second_lifetime import fit_second_lifetime

    back = _present_levels_only(df[df["reacquired"] == 1])
    terms = _terms(back, {
        "referrals": "referrals", "complaints": "complaints",
        "first_tenure_months": "first_tenure_months",
    })
    terms += _factor(back, "defection_reason", "price") + _factor(back, "offer_received", "none")
    return fit_second_lifetime(back, model="weibull", formula=" + ".join(terms) or "1")


def second_lifetime_model(df: pd.DataFrame, shared: dict[str, object] | None = None,
                          **_: object) -> Result:
    return {"second_lifetime_weibull": _second_lifetime_fit(df, shared).summary}, {}


def first_vs_second(df: pd.DataFrame, **_: object) -> Result:
    from .second_lifetime import first_vs_second_logrank, km_curves, km_summary, plot_km

    summary = km_summary(df)
    test = first_vs_second_logrank(df)
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 5))
    curves = km_curves(df)
    plot_km({f"{life} lifetime": k for (_, life), k in curves.items()}, ax=ax)
    med = summary["median"].to_numpy()
    ax.set(xlabel="months since the lifetime began", ylabel="share still a customer",
           title=f"Median lifetime: first {med[0]:.0f} months, second {med[1]:.0f} months")
    return {"lifetimes_kaplan_meier": summary,
            "lifetimes_logrank": pd.DataFrame([test]) if isinstance(test, dict) else test}, {
            "lifetimes_first_vs_second": fig}


#: analysis name (as in :data:`winback_study.user_data.ANALYSES`) -> function
REGISTRY: dict[str, Callable[..., Result]] = {
    "return rates by segment": return_rates,
    "return model": return_model,
    "second-lifetime survival": second_lifetime_model,
    "first vs second lifetime": first_vs_second,
    "customer value": customer_value,
    "offer experiment": offer_experiment,
}


def run(name: str, df: pd.DataFrame, **kw: object) -> Result:
    """Run the analysis ``name`` (one of :data:`REGISTRY`)."""
    return REGISTRY[name](df, **kw)
