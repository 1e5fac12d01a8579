"""``analyze``: the study's analyses on a user's lapsed-customer file.

:func:`analyze` reads and checks the file (:mod:`winback_study.data.user_data`), then runs
each analysis the mapping supports, one function each below.

Each takes a validated study table and returns ``(tables, figures)``: named DataFrames to
write as CSV and named matplotlib figures to export. They call the library's modules; no
modelling is implemented here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from winback_study.core.value import ANNUAL_DISCOUNT_RATE, lifetime_value
from winback_study.data.describe import complaint_status, referral_band, return_rate_table
from winback_study.data.study_table import StudyDataError
from winback_study.data.user_data import (
    ROLES,
    ColumnMapping,
    _read_raw,
    available_analyses,
    prepare_user_data,
    read_mapping,
)
from winback_study.design import StudyDesign, resolve_design
from winback_study.errors import DesignError, ModelError
from winback_study.plotting.style import use_house_style

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
                   shared: dict[str, object] | None = None, design: StudyDesign | None = None,
                   **_: object) -> Result:
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
    from winback_study.analysis.customer_value import expected_slv
    from winback_study.core.value import DEFAULT_HORIZON_MONTHS
    from winback_study.models.second_lifetime import SecondLifetimeError

    try:
        fit = _second_lifetime_fit(df, shared, design)
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


def offer_experiment(df: pd.DataFrame, design: StudyDesign | None = None,
                     **_: object) -> Result:
    """Return rate per arm, in the design's order (the mapping's ``[design]`` or the study's)."""
    d = _fit_design(df, design)
    table = return_rate_table(df, "offer")
    if d is not None:
        table = table.reindex([o for o in d.arms if o in table.index])
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


def _fit_design(df: pd.DataFrame, design: StudyDesign | None) -> StudyDesign | None:
    """The design to fit with: the mapping's, else the one the data imply (None if they
    imply none, e.g. no control arm: the model then fits without counterfactual arms)."""
    try:
        return resolve_design(df, design)
    except DesignError:
        return None


def _references(df: pd.DataFrame, design: StudyDesign | None) -> list[str]:
    """The reason and offer factors, against the design's reference reason and control."""
    d = _fit_design(df, design)
    return (_factor(df, "defection_reason", d.reference_reason if d else None)
            + _factor(df, "offer_received", d.control if d else None))


def return_model(df: pd.DataFrame, design: StudyDesign | None = None, **_: object) -> Result:
    from winback_study.models.return_probability import fit_return_model

    df = _present_levels_only(df)
    terms = _terms(df, {
        "referrals": "referrals", "complaints": "complaints",
        "complaints_resolved": "complaints_resolved",
        "first_tenure_months": "first_tenure_months",
        "first_monthly_margin": "first_monthly_margin",
        "months_since_defection": "months_since_defection",
    })
    terms += _references(df, design)
    model = fit_return_model(df, " + ".join(terms) or "1", link="probit",
                             design=_fit_design(df, design))
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    model.plot_marginal_effects(ax=ax)
    # a file without price leavers or a no-offer group is read against another level: say which
    coefs = model.summary.join(model.terms[["reference"]])
    return {"return_model_coefficients": coefs,
            "return_model_marginal_effects": model.marginal_effects()}, {
            "return_model_marginal_effects": fig}


def _second_lifetime_fit(df: pd.DataFrame, shared: dict[str, object] | None = None,
                         design: StudyDesign | None = None):
    """Weibull AFT on the reacquired, with the covariates the file has.

    With ``shared`` (one dict per :func:`~winback_study.reporting.analyze.analyze` call) the fit,
    or the error it raised, is kept there for the next analysis that needs it.
    """
    if shared is not None:
        if "weibull" not in shared:
            try:
                shared["weibull"] = _second_lifetime_fit(df, design=design)
            except Exception as exc:  # noqa: BLE001 - re-raised below, for every caller
                shared["weibull"] = exc
        if isinstance(shared["weibull"], Exception):
            raise shared["weibull"]
        return shared["weibull"]
    from winback_study.models.second_lifetime import fit_second_lifetime

    back = _present_levels_only(df[df["reacquired"] == 1])
    terms = _terms(back, {
        "referrals": "referrals", "complaints": "complaints",
        "first_tenure_months": "first_tenure_months",
    })
    terms += _references(back, design)
    return fit_second_lifetime(back, " + ".join(terms) or "1", model="weibull", selection=None)


def second_lifetime_model(df: pd.DataFrame, shared: dict[str, object] | None = None,
                          design: StudyDesign | None = None, **_: object) -> Result:
    return {"second_lifetime_weibull": _second_lifetime_fit(df, shared, design).summary}, {}


def first_vs_second(df: pd.DataFrame, **_: object) -> Result:
    from winback_study.data.describe import first_vs_second_logrank, km_curves, km_summary
    from winback_study.plotting.charts import plot_km

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


#: analysis name (as in :data:`winback_study.data.user_data.ANALYSES`) -> function
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


@dataclass
class AnalysisResult:
    """What :func:`analyze` computed: tables by name, files written, analyses skipped."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{len(self.tables)} tables, {len(self.files)} files"]
        lines += [f"  ran: {name}" for name in self.tables]
        lines += [f"  skipped: {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _identity_mapping(df: pd.DataFrame) -> dict[str, Any]:
    """The mapping of a file that already uses the study's column names."""
    return {"columns": {role: col for role, col in ROLES.items() if col in df.columns}}


def analyze(
    data: str | os.PathLike | pd.DataFrame,
    mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping | None = None,
    out: str | os.PathLike | None = None,
    annual_rate: float | None = None,
) -> AnalysisResult:
    """Run the study's analyses on a user's lapsed-customer file.

    Parameters
    ----------
    data : path or DataFrame
        CSV or Parquet (read, never modified) or a DataFrame.
    mapping : path, dict or ColumnMapping, optional
        Which column plays which role (module docstring). Default: the file already uses
        the study's column names.
    out : path, optional
        Folder for the summaries (CSV) and figures (PNG, SVG, PDF).
    annual_rate : float, optional
        Discount rate for the value calculations (default 10%).

    Returns
    -------
    AnalysisResult

    Analyses the data cannot support (a reason nobody came back from, every second
    lifetime censored, perfect separation) are skipped with the model's explanation in
    ``result.skipped``; the others still run.

    Raises
    ------
    StudyDataError
        Bad input, with one message naming the column and rows.
    """
    import matplotlib.pyplot as plt

    if mapping is None:
        raw, _ = _read_raw(data)
        mapping = _identity_mapping(raw)
        data = raw
    m = read_mapping(mapping)
    df = prepare_user_data(data, m)
    if int(df["reacquired"].sum()) == 0 and any(
        r in m.columns for r in ("second_tenure", "second_event")
    ):
        raise StudyDataError(
            "column 'reacquired': no customer in the file was reacquired (all rows are 0); "
            "expected at least one returner for the second-lifetime analyses",
            column="reacquired", problem="no_reacquired",
        )
    result = AnalysisResult()
    outdir = Path(out) if out is not None else None
    shared: dict[str, object] = {}  # fits more than one analysis uses (the Weibull model)
    for name, why in available_analyses(m).items():
        if why is not None:
            result.skipped[name] = why
            continue
        try:
            tables, figures = run(name, df, annual_rate=annual_rate, shared=shared,
                                  design=m.design)
        except ModelError as exc:
            # the data cannot support this model (separation, a level nobody left, every
            # spell censored, ...): say why and go on with the other analyses
            result.skipped[name] = str(exc)
            continue
        result.tables.update(tables)
        if outdir is not None:
            from winback_study.core.io import atomic_path
            from winback_study.plotting.style import save_figure

            for tname, table in tables.items():
                with atomic_path(outdir / f"{tname}.csv") as tmp:
                    table.to_csv(tmp)
                result.files.append(outdir / f"{tname}.csv")
            for fname, fig in figures.items():
                result.files += save_figure(fig, fname, outdir / "figures")
        for fig in figures.values():  # written or not wanted: do not keep them open
            plt.close(fig)
    return result
