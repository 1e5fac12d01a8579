"""``analyze``: the study's analyses on a user's lapsed-customer file.

:func:`analyze` reads and checks the file (:func:`~winback_study.data.user_data.read_user_data`),
then runs each analysis the mapping supports, one function each below:

- return rates by segment, and the **return model** (probit or logit) on the ``[models]``
  covariates, in the file's own column names;
- the **second-lifetime duration** (Weibull, log-logistic or Cox) and **second-lifetime
  value** models on the returners, each with the selection correction (the return probit's
  inverse Mills ratio, the term ``inverse_mills``);
- Kaplan-Meier first vs second lifetimes, customer value, the offer experiment (response,
  incremental ROI against the control arm, bootstrap intervals) and per-customer targets
  (expected incremental value of each arm, and the best arm).

Each analysis takes the run's shared state and returns an :class:`Output`: named tables (CSV),
named figures (PNG, SVG, PDF) and notes. They call the library's modules; no modelling is
implemented here. With ``out=`` everything is written atomically, with ``report.html``: one
page of every table and figure, what ran, what was skipped and why, and the mapping used.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.text import text_codes
from winback_study.core.value import ANNUAL_DISCOUNT_RATE, lifetime_value
from winback_study.data.describe import complaint_status, referral_band, return_rate_table
from winback_study.data.read_file import is_parquet, parquet_columns
from winback_study.data.study_table import StudyDataError
from winback_study.data.user_data import (
    ROLES,
    ColumnMapping,
    UserData,
    _from_raw,
    _read_raw,
    available_analyses,
    formula_columns_of,
    read_mapping,
    read_user_data,
)
from winback_study.design import (
    ARM_COLUMN,
    COST_COLUMN,
    MATCH_COLUMN,
    REASON_COLUMN,
    RECEIVED_COLUMN,
    StudyDesign,
    resolve_design,
)
from winback_study.errors import DataError, DesignError, ModelError

__all__ = ["Output", "AnalysisResult", "analyze", "REGISTRY"]

#: the outcome of each second-lifetime model, as the report names it
VALUE_OUTCOMES = {"second_value": "second-lifetime value (USD)",
                  "second_monthly_margin": "second-lifetime monthly margin (USD)"}


@dataclass
class Output:
    """What one analysis made: tables (CSV), figures and notes for the report."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """One :func:`analyze` call's shared state: the data and the fits later analyses reuse."""

    user: UserData
    annual_rate: float
    seed: int
    n_boot: int
    fits: dict[Any, Any] = field(default_factory=dict)
    _frame: pd.DataFrame | None = None

    @property
    def study(self) -> pd.DataFrame:
        return self.user.study

    @property
    def mapping(self) -> ColumnMapping:
        return self.user.mapping

    @property
    def design(self) -> StudyDesign | None:
        """The design of the data (the mapping's, else the one the arms imply), or None."""
        if "design" not in self.fits:
            try:
                self.fits["design"] = resolve_design(self.study, self.mapping.design)
            except DesignError:
                self.fits["design"] = None
        return self.fits["design"]

    def formula(self, key: str) -> tuple[str, bool]:
        """``(right-hand side, from [models]?)`` of the equation ``key``."""
        given = self.mapping.models.formulas().get(key)
        if given is not None:
            return given, True
        if ("formula", key) not in self.fits:  # once: it reads the whole table
            self.fits[("formula", key)] = _FALLBACKS[key](self)
        return self.fits[("formula", key)], False

    @property
    def frame(self) -> pd.DataFrame:
        """One model frame for the three equations: every column any of them reads."""
        if self._frame is None:
            user_cols: list[str] = []
            study_cols: list[str] = list(_DESIGN_COLUMNS)
            for key in ("return", "second_lifetime", "second_value"):
                rhs, given = self.formula(key)
                (user_cols if given else study_cols).extend(formula_columns_of(rhs, key))
            self.fits["file_columns"] = set(user_cols) & set(self.user.raw.columns)
            self._frame = _present_levels_only(self.user.model_frame(
                dict.fromkeys(user_cols), dict.fromkeys(study_cols)))
        return self._frame

    def shared(self, name: str, fit: Callable[[], Any]) -> Any:
        """``fit()`` once per run; its result, or the error it raised, for every caller."""
        if name not in self.fits:
            try:
                self.fits[name] = fit()
            except Exception as exc:  # noqa: BLE001 - re-raised below, for every caller
                self.fits[name] = exc
        if isinstance(self.fits[name], Exception):
            raise self.fits[name]
        return self.fits[name]


_MODEL_NAMES = {"weibull": "Weibull", "loglogistic": "log-logistic", "cox": "Cox"}
_DESIGN_COLUMNS = (ARM_COLUMN, RECEIVED_COLUMN, MATCH_COLUMN, COST_COLUMN, REASON_COLUMN)


# --------------------------------------------------------------------------------------
# the study's covariates, for an equation the mapping's [models] leaves out
# --------------------------------------------------------------------------------------

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


def _references(df: pd.DataFrame, design: StudyDesign | None) -> list[str]:
    """The reason and offer factors, against the design's reference reason and control."""
    return (_factor(df, REASON_COLUMN, design.reference_reason if design else None)
            + _factor(df, RECEIVED_COLUMN, design.control if design else None))


def _returners(df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The reacquired customers of ``df`` (in ``columns``, default all): ``df`` itself
    when it holds only them (a fit's returner frame), not a copy."""
    back = df["reacquired"].to_numpy() == 1
    frame = df if columns is None else df[columns]
    return frame if back.all() else frame[back]


def _fallback_return(run: _Run) -> str:
    terms = _terms(run.study, {
        "referrals": "referrals", "complaints": "complaints",
        "complaints_resolved": "complaints_resolved",
        "first_tenure_months": "first_tenure_months",
        "first_monthly_margin": "first_monthly_margin",
        "months_since_defection": "months_since_defection",
        MATCH_COLUMN: MATCH_COLUMN,
    }) + _references(_present_levels_only(run.study), run.design)
    return " + ".join(terms) or "1"


def _fallback_second(run: _Run) -> str:
    back = _present_levels_only(_returners(run.study))
    terms = _terms(back, {"referrals": "referrals", "complaints": "complaints",
                          "first_tenure_months": "first_tenure_months",
                          MATCH_COLUMN: MATCH_COLUMN})
    return " + ".join(terms + _references(back, run.design)) or "1"


def _fallback_value(run: _Run) -> str:
    """The study's margin equation: log first-lifetime margin (when positive), referrals,
    complaints, reason and offer."""
    back = _present_levels_only(_returners(run.study))
    first = back["first_monthly_margin"] if "first_monthly_margin" in back else None
    log_first = first is not None and bool((first > 0).all()) and first.nunique() > 1
    terms = (["np.log(first_monthly_margin)"] if log_first else
             _terms(back, {"first_monthly_margin": "first_monthly_margin"}))
    terms += _terms(back, {"referrals": "referrals", "complaints": "complaints"})
    return " + ".join(terms + _references(back, run.design)) or "1"


_FALLBACKS: dict[str, Callable[[_Run], str]] = {
    "return": _fallback_return, "second_lifetime": _fallback_second,
    "second_value": _fallback_value,
}


def _present_levels_only(df: pd.DataFrame) -> pd.DataFrame:
    """Drop categories nobody in ``df`` has (a file need not contain every study level).

    A shallow copy with the categorical columns that have unused levels replaced (the
    other columns are shared with ``df``, not copied: ``assign`` copied the whole frame).
    """
    changed = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories))
            if not used.all():
                changed[c] = s.cat.remove_unused_categories()
    if not changed:
        return df
    out = df.copy(deep=False)
    for c, values in changed.items():
        out[c] = values
    return out


def _term_index(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out.index.name = "term"
    return out


def _source(given: bool, rhs: str) -> str:
    return (f"covariates from the mapping's [models], in the file's own columns: {rhs}"
            if given else f"the study's covariates the file has: {rhs}")


# --------------------------------------------------------------------------------------
# the analyses
# --------------------------------------------------------------------------------------

def _bar_with_ci(table: pd.DataFrame, xlabel: str, title: str) -> Any:
    import matplotlib.pyplot as plt

    from winback_study.plotting.style import use_house_style

    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    yerr = 100 * np.vstack([table["return_rate"] - table["ci_low"],
                            table["ci_high"] - table["return_rate"]])
    ax.bar(table.index.astype(str), 100 * table["return_rate"], yerr=yerr, capsize=4)
    ax.set(xlabel=xlabel, ylabel="reacquired (%), 95% CI", title=title)
    return fig


def return_rates(run: _Run) -> Output:
    """Return rate overall and by each segment the file has, with Wilson intervals."""
    df = run.study
    out = Output()
    segments: dict[str, pd.Series | str] = {}
    if REASON_COLUMN in df:
        segments["reason"] = REASON_COLUMN
    if "referrals" in df:
        segments["referrals"] = referral_band(df)
    if {"complaints", "complaints_resolved"} <= set(df.columns):
        segments["complaints"] = complaint_status(df)
    if ARM_COLUMN in df:
        segments["offer"] = ARM_COLUMN
    labels = {"reason": "stated reason for leaving",
              "referrals": "referrals made in the first lifetime",
              "complaints": "complaints in the first lifetime", "offer": "win-back offer"}
    out.tables["return_rate_overall"] = return_rate_table(
        pd.DataFrame({"reacquired": df["reacquired"], "all": "all customers"}), "all")
    for name, by in segments.items():
        t = return_rate_table(df, by)
        out.tables[f"return_rate_by_{name}"] = t
        top, low = t["return_rate"].idxmax(), t["return_rate"].idxmin()
        out.figures[f"return_rate_by_{name}"] = _bar_with_ci(
            t, labels[name], f"Return rate by {name}: highest '{top}' "
            f"({t.loc[top, 'return_rate']:.0%}), lowest '{low}' ({t.loc[low, 'return_rate']:.0%})")
    return out


def _return_fit(run: _Run) -> Any:
    from winback_study.models.return_probability import fit_return_model

    rhs, given = run.formula("return")
    frame = run.frame
    design = None if run.fits["file_columns"] & set(_DESIGN_COLUMNS) else run.design
    return fit_return_model(frame, rhs, link=run.mapping.models.link,
                            design=design)


def return_model(run: _Run) -> Output:
    """The return equation: probit (or logit) of reacquisition on the file's covariates."""
    import matplotlib.pyplot as plt

    from winback_study.plotting.style import use_house_style

    model = run.shared("return", lambda: _return_fit(run))
    rhs, given = run.formula("return")
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(model.params_) - 1, 1) + 2.2))
    model.plot_marginal_effects(ax=ax)
    tables = {"return_model_coefficients": _term_index(model.summary),
              "return_model_marginal_effects": model.marginal_effects(),
              "return_model_terms": model.terms}
    # the later analyses predict from the model and read its score blocks, never its design
    # matrix: dropped (1.2 GB at 10 million customers, the run's peak otherwise)
    model.remove_data()
    # a file without price leavers or a no-offer group is read against another level: say which
    return Output(
        tables=tables, figures={"return_model_marginal_effects": fig},
        notes=[f"{model.link} of reacquired on {len(run.frame):,} customers; "
               + _source(given, rhs)],
    )


def _selection(run: _Run) -> tuple[Any, str]:
    """The first-step probit of the selection correction, and what it is, in words.

    The return model when it is a probit; else a probit on the return model's covariates.
    """
    from winback_study.models.selection import fit_selection

    rhs, _ = run.formula("return")

    def fit() -> Any:
        model = run.shared("return", lambda: _return_fit(run))
        if model.link == "probit":
            return model
        return fit_selection(run.frame, rhs)

    probit = run.shared("selection", fit)
    return probit, ("selection-corrected: the inverse Mills ratio of the return probit "
                    f"({rhs}) enters as the term inverse_mills")


def _lifetime_fit(run: _Run) -> Any:
    from winback_study.models.second_lifetime import fit_second_lifetime

    def fit() -> Any:
        rhs, _ = run.formula("second_lifetime")
        try:
            probit, _ = _selection(run)
        except ModelError as exc:
            run.fits["lifetime_note"] = (f"naive (no selection correction): the return probit "
                                         f"could not be fitted ({exc})")
            probit = None
        # the fitter takes the returners itself and drops the levels none of them has
        return fit_second_lifetime(run.frame, f"second_tenure_months ~ {rhs}",
                                   model=run.mapping.models.lifetime_model,
                                   selection=probit, design=None)

    return run.shared("second_lifetime", fit)


def _coefficient_figure(result: Any, title: str, xlabel: str) -> Any:
    import matplotlib.pyplot as plt

    from winback_study.plotting.charts import plot_coefficients
    from winback_study.plotting.style import use_house_style

    use_house_style()
    terms = [t for t in result.summary.index if t != "Intercept" and not str(t).startswith(
        ("log(sigma", "rho_", "lambda_", "Log(scale"))]
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(terms), 1) + 2.0))
    plot_coefficients(result, ax=ax, terms=terms)
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set(xlabel=xlabel, title=title)
    return fig


def _strongest(summary: pd.DataFrame) -> str:
    table = summary.drop(index=[t for t in summary.index if t == "Intercept"], errors="ignore")
    sig = table[table["p_value"] < 0.05]
    if sig.empty:
        return "no covariate is significant at 5%"
    t = sig["z"].abs().idxmax()
    return f"strongest: {t} ({sig.loc[t, 'coef']:+.3g})"


def second_lifetime_model(run: _Run) -> Output:
    """The duration equation on the returners, selection-corrected."""
    fit = _lifetime_fit(run)
    rhs, given = run.formula("second_lifetime")
    corr = run.fits.get("lifetime_note") or _selection(run)[1]
    name = _MODEL_NAMES[run.mapping.models.lifetime_model]
    table = _term_index(fit.summary)
    kind = "log hazard ratio" if name == "Cox" else "log time ratio (AFT)"
    fig = _coefficient_figure(fit, f"Second lifetime ({name}): {_strongest(fit.summary)}",
                              f"{kind}, 95% CI")
    return Output(
        tables={"second_lifetime_coefficients": table}, figures={
            "second_lifetime_coefficients": fig},
        notes=[f"{name} model of the second-lifetime months on "
               f"{int((run.frame['reacquired'] == 1).sum()):,} returners; "
               + _source(given, rhs), corr])


def _value_outcome(run: _Run) -> tuple[str, bool]:
    """``(column, log?)``: the value column when mapped, else the monthly margin; in logs
    when every returner's value is positive (effects are then proportional)."""
    col = "second_value" if "second_value" in run.study.columns else "second_monthly_margin"
    if col not in run.study.columns:
        raise DataError("the value model needs second_value or second_margin",
                        column="second_value", problem="missing_column")
    y = _returners(run.study, [col])[col].to_numpy(dtype=float)
    return col, bool(len(y) and np.all(y > 0))


def second_value_model(run: _Run) -> Output:
    """The value equation on the returners (log value when positive), selection-corrected."""
    from winback_study.models.second_profit import fit_second_profit

    rhs, given = run.formula("second_value")
    col, log = _value_outcome(run)
    notes = [f"{'log ' if log else ''}{VALUE_OUTCOMES[col]} on "
             f"{int((run.study['reacquired'] == 1).sum()):,} returners; " + _source(given, rhs)]
    try:
        probit, corr = _selection(run)
    except ModelError as exc:
        probit, corr = None, f"naive (no selection correction): {exc}"
    notes.append(corr + ("; standard errors: the two-step sandwich" if probit else ""))
    outcome = f"np.log({col})" if log else col
    fit = run.shared("second_value", lambda: fit_second_profit(
        run.frame, f"{outcome} ~ {rhs}", log=log, selection=probit, design=None))
    if run.user.set_aside.get("second_value"):
        notes.append(f"{run.user.set_aside['second_value']:,} values held for customers who "
                     "did not return were set aside")
    scale = "change in log value" if log else "change in USD"
    fig = _coefficient_figure(fit, f"Second-lifetime value: {_strongest(fit.summary)}",
                              f"{scale}, 95% CI")
    return Output(tables={"second_value_coefficients": _term_index(fit.summary)},
                  figures={"second_value_coefficients": fig}, notes=notes)


def first_vs_second(run: _Run) -> Output:
    """Kaplan-Meier curves of the first and second lifetimes, and their log-rank test."""
    import matplotlib.pyplot as plt

    from winback_study.data.describe import first_vs_second_logrank, km_curves, km_summary
    from winback_study.plotting.charts import plot_km
    from winback_study.plotting.style import use_house_style

    df = run.study
    summary = km_summary(df)
    test = first_vs_second_logrank(df)
    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 5))
    curves = km_curves(df)
    plot_km({f"{life} lifetime": k for (_, life), k in curves.items()}, ax=ax)
    med = summary["median"].to_numpy()
    ax.set(xlabel="months since the lifetime began", ylabel="share still a customer",
           title=f"Median lifetime: first {med[0]:.0f} months, second {med[1]:.0f} months")
    return Output(tables={"lifetimes_kaplan_meier": summary,
                          "lifetimes_logrank": pd.DataFrame([test]) if isinstance(test, dict)
                          else test},
                  figures={"lifetimes_first_vs_second": fig})


def customer_value(run: _Run) -> Output:
    """First- and second-lifetime value: observed, and extrapolated by the duration model."""
    from winback_study.analysis.customer_value import expected_slv
    from winback_study.core.value import DEFAULT_HORIZON_MONTHS

    df, rate = run.study, run.annual_rate
    back = _returners(df, ["second_monthly_margin", "second_tenure_months"])
    first = lifetime_value(df["first_monthly_margin"], df["first_tenure_months"], rate)
    second = lifetime_value(back["second_monthly_margin"], back["second_tenure_months"], rate)
    rows = {
        "first lifetime (all)": (len(df), np.mean(first), np.median(first),
                                 "every first lifetime ended (they all left): exact"),
        "second lifetime, observed (reacquired)": (
            len(back), np.mean(second), np.median(second),
            "lower bound: months after the end of the data are missing"),
    }
    name = _MODEL_NAMES[run.mapping.models.lifetime_model]
    label = f"second lifetime, {name} survival x margin (reacquired)"
    try:
        fit = _lifetime_fit(run)
        if not getattr(fit, "extrapolates", True):
            raise ModelError(f"a {name} model does not extrapolate past the data; use "
                             "second_lifetime_model = \"weibull\" in [models]")
    except ModelError as exc:
        rows[label] = (len(back), np.nan, np.nan, f"not estimated: {exc}")
    else:
        # each returner's own margin (no margin model): an adapter for expected_slv
        observed = SimpleNamespace(predict_margin=lambda d: d["second_monthly_margin"])
        rows_back = _returners(fit.data if fit.corrected else run.frame)
        model = expected_slv(rows_back, fit, observed, annual_rate=rate, chunk_size=25_000)
        how = "selection-corrected" if fit.corrected else "not selection-corrected"
        rows[label] = (
            len(back), np.mean(model), np.median(model),
            f"each returner's margin over her expected {name} survival, "
            f"{DEFAULT_HORIZON_MONTHS} months; extrapolates past the data, {how}")
    table = pd.DataFrame.from_dict(
        rows, orient="index",
        columns=["customers", "mean_value_usd", "median_value_usd", "note"])
    table.index.name = "value"
    table["annual_discount_rate"] = rate
    return Output(tables={"customer_value": table})


def _value_column(run: _Run) -> tuple[np.ndarray | None, str]:
    """Each returner's second-lifetime value, USD (NaN for the others), and its source."""
    df = run.study
    back = df["reacquired"].to_numpy() == 1
    if "second_value" in df.columns:
        return np.where(back, df["second_value"].to_numpy(dtype=float), np.nan), (
            "the file's second-lifetime value")
    if {"second_monthly_margin", "second_tenure_months"} <= set(df.columns):
        v = lifetime_value(df["second_monthly_margin"].fillna(0),
                           df["second_tenure_months"].fillna(0), run.annual_rate)
        return np.where(back, v, np.nan), (
            f"observed SLV: second margin x second tenure, discounted at {run.annual_rate:.0%} "
            "a year (a lower bound: months past the data are missing)")
    return None, "no second-lifetime value or margin in the file"


def _with_values(run: _Run, values: np.ndarray) -> pd.DataFrame:
    """The study columns the offer analyses read, and ``slv``: no copy of the whole table.

    ``run.study.assign(slv=values)`` copied every column (passengers included) for two
    analyses that read the arm, the outcome, the reason, the id and the value.
    """
    cols = ["customer_id", "reacquired", *_DESIGN_COLUMNS]
    df = run.study
    frame = pd.DataFrame({c: df[c] for c in cols if c in df.columns}, index=df.index,
                         copy=False)
    frame["slv"] = values
    frame.attrs = dict(df.attrs)
    return frame


def offer_experiment(run: _Run) -> Output:
    """Response rate and incremental ROI of each arm against the control (bootstrap CIs)."""
    from winback_study.analysis.offer_experiment import offer_experiment as experiment

    d = run.design
    table = return_rate_table(run.study, ARM_COLUMN)
    if d is None:
        return Output(tables={"offer_response": table}, notes=[
            "response rates only: the arms have no design (no control arm or costs); give "
            "one in the mapping's [design]"])
    table = table.reindex([o for o in d.arms if o in table.index])
    out = Output(tables={"offer_response": table})
    values, source = _value_column(run)
    if values is None or d.control not in table.index:
        out.notes.append("response rates only: " + (source if values is None else
                         f"no customer is in the control arm {d.control!r}"))
        return out
    res = experiment(_with_values(run, values), value="slv", design=d, n_boot=run.n_boot,
                     seed=run.seed)
    out.tables["offer_experiment"] = res.arms
    out.tables["offer_experiment_pairwise_roi"] = res.pairwise_roi
    out.notes += [f"incremental ROI against the control arm {d.control!r} "
                  f"(return rate {res.baseline_rate:.1%}); value per returner: {source}; "
                  f"costs per accepting customer: {d.costs}; {run.n_boot} bootstrap "
                  f"replicates, seed {run.seed}",
                  "ranking by response rate: " + " > ".join(res.ranking("response_rate")),
                  "ranking by ROI: " + " > ".join(res.ranking("roi"))]
    out.figures["offer_response_vs_roi"] = _response_vs_roi(res.arms)
    return out


def _response_vs_roi(arms: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    from winback_study.plotting.style import use_house_style

    use_house_style()
    fig, ax = plt.subplots(figsize=(8, 5))
    x, y = 100 * arms["response_rate"], 100 * arms["roi"]
    ax.errorbar(x, y, yerr=np.vstack([y - 100 * arms["roi_ci_low"],
                                      100 * arms["roi_ci_high"] - y]), fmt="o", capsize=4)
    for arm, xi, yi in zip(arms.index, x, y, strict=True):
        ax.annotate(str(arm), (xi, yi), textcoords="offset points", xytext=(6, 4))
    best_r, best_roi = arms["response_rate"].idxmax(), arms["roi"].idxmax()
    verdict = ("the best response is also the best ROI" if best_r == best_roi else
               f"best response '{best_r}', best ROI '{best_roi}'")
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set(xlabel="response rate (% reacquired)", ylabel="incremental ROI (%), 95% CI",
           title=f"Offers: {verdict}")
    return fig


class _ArmPredictor:
    """The return model under a counterfactual arm, whatever the file calls its columns.

    :meth:`StudyDesign.assign` writes the study's arm columns; a model fitted on the file's
    own offer column reads that column, so it is rewritten from the assigned arm (in the
    file's labels) before predicting.
    """

    def __init__(self, model: Any, frame: pd.DataFrame, mapping: ColumnMapping,
                 file_columns: set[str]) -> None:
        self.model, self.frame = model, frame
        # the columns an arm rewrites (the reason stays the customer's own)
        self.study_cols = [c for c in _DESIGN_COLUMNS if c in frame.columns
                           and c not in file_columns and c != REASON_COLUMN]
        self.file_cols: dict[str, tuple[str, dict[Any, Any]]] = {}
        for role in ("offer", "offer_received"):
            col = mapping.columns.get(role)
            if col is not None and col in file_columns:
                back = {v: k for k, v in mapping.levels.get(role, {}).items()}
                self.file_cols[col] = (ROLES[role], back)

        self._fast = self._split(model)
        self._fixed: np.ndarray | None = None

    #: rows predicted at a time: the design matrix of a chunk, not of the whole file
    chunk_rows = 1_000_000

    def _fast_predict(self, df: pd.DataFrame) -> np.ndarray:
        from scipy import special

        ix, _, moving, _ = self._fast
        if moving.info is None:
            index = self._fixed_index()
        else:
            x = ix.prepare(self._arm_frame(df, moving.columns), "targets",
                           columns=moving.columns)
            index = self._fixed_index() + np.asarray(moving(x), dtype=float)
        return special.ndtr(index) if self.model.link == "probit" else special.expit(index)

    def _split(self, model: Any) -> Any:
        """The model's index split into the terms no arm changes and those it does, or
        None (a formula that cannot be rebuilt from its levels: statsmodels predicts)."""
        from winback_study.models.portable import LinearIndex

        try:
            ix = LinearIndex.from_results(model.results)
            fixed, moving = ix.parts([*self.study_cols, *self.file_cols])
            # the other columns the moving terms read (an interaction with the reason, say)
            others = [c for c in moving.columns if c not in self.study_cols
                      and c not in self.file_cols]
            return ix, fixed, moving, ix.prepare(self.frame, "targets", columns=[
                *fixed.columns, *[c for c in others if c not in fixed.columns]])
        except (ModelError, DataError):  # a stateful transform, a missing value ...
            return None

    def _fixed_index(self) -> np.ndarray:
        """The fixed terms' part of the index, once, a chunk's design matrix at a time."""
        if self._fixed is None:
            _, fixed, _, base = self._fast
            n, step = len(base), self.chunk_rows
            if fixed.info is None:  # every term moves with the arm
                self._fixed = np.zeros(n)
            elif not fixed.columns:  # the intercept alone
                self._fixed = np.full(n, float(fixed.beta.sum()))
            else:
                cols = {c: base[c].array for c in fixed.columns}
                self._fixed = np.concatenate(
                    [np.asarray(fixed({c: v[i:i + step] for c, v in cols.items()}), dtype=float)
                     for i in range(0, n, step)] or [np.zeros(0)])
        return self._fixed

    def _arm_frame(self, df: pd.DataFrame, columns: list[str] | None) -> pd.DataFrame:
        """The model's columns with the arm's (``df``'s) in place of the observed ones."""
        x = self.frame.copy(deep=False) if columns is None else pd.DataFrame(
            {c: self._fast[3][c] for c in columns if c in self._fast[3].columns},
            index=self.frame.index)
        for c in self.study_cols:
            x[c] = df[c].values  # a categorical stays one (patsy codes it fast)
        for col, (study_col, back) in self.file_cols.items():
            arm = df[study_col].astype(object)
            x[col] = arm.map(lambda v, _b=back: _b.get(v, v)).to_numpy()
        return x

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        if self._fast is not None:
            try:
                return self._fast_predict(df)
            except (ModelError, DataError):  # what the split cannot rebuild: statsmodels
                self._fast = None
        x = self._arm_frame(df, None)
        if len(x) <= self.chunk_rows:
            return np.asarray(self.model.predict(x), dtype=float)
        # row by row the same prediction, one chunk's design matrix in memory at a time
        return np.concatenate([
            np.asarray(self.model.predict(x.iloc[i:i + self.chunk_rows]), dtype=float)
            for i in range(0, len(x), self.chunk_rows)])


def targets(run: _Run) -> Output:
    """Each customer's expected incremental value of each arm, and the best arm."""
    from winback_study.analysis.targeting.scores import CellValues

    d = run.design
    if d is None:
        raise DesignError("per-customer targets need the arms' design (a control arm and "
                          "costs): give one in the mapping's [design]", problem="no_design")
    values, source = _value_column(run)
    if values is None:
        raise DataError(f"per-customer targets need a value per returner: {source}",
                        column="second_value", problem="missing_column")
    model = run.shared("return", lambda: _return_fit(run))
    predictor = _ArmPredictor(model, run.frame, run.mapping, run.fits["file_columns"])
    study = _with_values(run, values)
    by = (REASON_COLUMN,) if REASON_COLUMN in study.columns else ()
    # the arms the file has: the model knows nothing of the others
    seen = set(text_codes(study[ARM_COLUMN])[1])
    offers = [a for a in d.treatment_arms if a in seen and a != d.control]
    # score_offers' numbers (OfferScores.expected_profit and best), on arrays: at millions
    # of customers its frames of probabilities, values and costs were a third of the time
    cells = CellValues(study, "slv", by, design=d)
    prob, profit = {}, {}
    for arm in [d.control, *offers]:
        cols = d.arm_columns(study, arm)
        prob[arm] = predictor.predict(pd.DataFrame(cols, index=study.index, copy=False))
        if arm != d.control:
            v = cells(arm, cols[RECEIVED_COLUMN])
            p = prob[arm]
            # incremental: (P(arm) - P(control)) x value - P(arm) x cost
            profit[arm] = (p - prob[d.control]) * v - p * cols[COST_COLUMN]
    table = pd.DataFrame({"customer_id": study["customer_id"].to_numpy()}, index=study.index)
    for arm, p in prob.items():
        table[f"p_return_{arm}"] = p
    for arm, v in profit.items():
        table[f"value_{arm}"] = v
    singles = [a for a in offers if a not in d.rules]
    labels = sorted({d.control, *singles})
    if singles:
        stack = np.column_stack([profit[a] for a in singles])
        j = stack.argmax(axis=1)
        best = stack[np.arange(len(stack)), j]
        order = np.array([labels.index(a) for a in singles])
        codes = np.where(best > 0, order[j], labels.index(d.control))
        best = np.where(best > 0, best, 0.0)
    else:
        codes, best = np.full(len(study), labels.index(d.control)), np.zeros(len(study))
    table["best_arm"] = np.array(labels, dtype=object)[codes]
    table["best_value"] = best
    per_arm = table.groupby("best_arm", observed=True).agg(
        customers=("customer_id", "size"), expected_incremental_value_usd=("best_value", "sum"))
    per_arm.index.name = "best_arm"
    run.fits["targets"] = table
    return Output(tables={"targets_by_best_arm": per_arm}, notes=[
        "value_<arm>: expected incremental value of contacting the customer with that arm, "
        "USD: (P(return | arm) - P(return | control)) x value if reacquired - P(return | arm) "
        f"x cost; value if reacquired: {source}, mean over returners of the same "
        f"{'reason and ' if by else ''}offer received; best_arm is the control when no arm "
        "pays. Written to targets.csv, one row per customer"])


def joint_model(run: _Run) -> Output:
    """The three equations jointly, one shared loyalty factor (:func:`fit_joint_model`)."""
    from winback_study.models.joint import fit_joint_model

    r_rhs, _ = run.formula("return")
    l_rhs, _ = run.formula("second_lifetime")
    v_rhs, given = run.formula("second_value")
    fit = fit_joint_model(run.frame, f"reacquired ~ {r_rhs}", f"second_tenure_months ~ {l_rhs}",
                          f"np.log(second_monthly_margin) ~ {v_rhs}", design=None)
    latent = fit.summary.loc["latent"]
    return Output(tables={"joint_model_coefficients": fit.summary}, notes=[
        "full-information maximum likelihood of the return probit, the interval-censored "
        "Weibull second lifetime (whole months) and the log second-lifetime monthly margin, "
        "linked by one shared latent factor (loyalty) integrated out by Gauss-Hermite "
        "quadrature; identified by what enters the return equation only",
        "loadings: " + ", ".join(f"{t} {latent.loc[t, 'coef']:+.3f}" for t in latent.index
                                 if str(t).startswith("loading"))])


#: the large shared fits each analysis may read (a fit no analysis still to run reads is
#: released: the duration and value fits hold copies of the model frame)
_FITS_READ: dict[str, set[str]] = {
    "second-lifetime survival": {"selection", "second_lifetime"},
    "second-lifetime value model": {"selection", "second_value"},
    "customer value": {"selection", "second_lifetime"},
}
_RELEASABLE = ("selection", "second_lifetime", "second_value")


def _release_fits(run: _Run, still_to_run: list[str]) -> None:
    """Drop the shared fits none of ``still_to_run`` reads (memory; nothing returned
    holds them)."""
    import gc

    wanted = set().union(*(_FITS_READ.get(name, set()) for name in still_to_run))
    dropped = [k for k in _RELEASABLE if k in run.fits and k not in wanted]
    for k in dropped:
        del run.fits[k]
    if dropped:
        gc.collect()


#: analysis name (as in :data:`winback_study.data.user_data.ANALYSES`) -> function
REGISTRY: dict[str, Callable[[_Run], Output]] = {
    "return rates by segment": return_rates,
    "return model": return_model,
    "second-lifetime survival": second_lifetime_model,
    "second-lifetime value model": second_value_model,
    "first vs second lifetime": first_vs_second,
    "customer value": customer_value,
    "offer experiment": offer_experiment,
    "targets": targets,
    "joint model": joint_model,
}


@dataclass
class AnalysisResult:
    """What :func:`analyze` computed: tables and notes by analysis, files written, skips."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    table_names: dict[str, list[str]] = field(default_factory=dict)
    targets: pd.DataFrame | None = None
    data_notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """What ran, what was skipped and why, in plain text."""
        lines = [f"{len(self.tables)} tables, {len(self.files)} files, {self.seconds:.1f} s"]
        lines += [f"  note: {n}" for n in self.data_notes]
        lines += [f"  ran: {name}" for name in self.ran]
        lines += [f"  skipped: {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _identity_mapping(df: pd.DataFrame) -> dict[str, Any]:
    """The mapping of a file that already uses the study's column names."""
    return {"columns": {role: col for role, col in ROLES.items() if col in df.columns}}


#: seconds before the progress bar shows (none for a quick run)
PROGRESS_DELAY = 3.0


def _progress(enabled: bool | None, total: int) -> Any:
    from tqdm.auto import tqdm

    # delay: a bar only for runs longer than a few seconds; stderr, never stdout
    if enabled is None:  # on a terminal only: a log or a pipe gets no control characters
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc="analyze", unit="step", delay=PROGRESS_DELAY, leave=False,
                disable=not enabled, file=sys.stderr)


def analyze(
    data: str | os.PathLike | pd.DataFrame,
    mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping | None = None,
    out: str | os.PathLike | None = None,
    annual_rate: float | None = None,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool | None = None,
) -> AnalysisResult:
    """Run the study's analyses on a user's lapsed-customer file.

    Parameters
    ----------
    data : path or DataFrame
        CSV or Parquet file, or a folder of Parquet files (a partitioned dataset, read in
        the columns the mapping uses only), never modified; or a DataFrame.
    mapping : path, dict or ColumnMapping, optional
        Which column plays which role, and ``[models]``
        (:mod:`winback_study.data.user_data`). Default: the file already uses the study's
        column names.
    out : path, optional
        Folder for the tables (CSV), figures (PNG, SVG, PDF in ``figures/``),
        ``targets.csv`` and ``report.html``.
    annual_rate : float, optional
        Discount rate for the value calculations (default 10%).
    seed : int
        Seed of the offer experiment's bootstrap.
    n_boot : int
        Bootstrap replicates of the ROI intervals.
    progress : bool, optional
        A progress bar on stderr for runs longer than a few seconds (default: when stderr
        is a terminal).

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

    start = time.perf_counter()
    if mapping is None and not isinstance(data, pd.DataFrame) and is_parquet(data):
        # the study's columns of a Parquet file or folder, read without the others
        mapping = _identity_mapping(pd.DataFrame(columns=parquet_columns(Path(data))))
    elif mapping is None:
        raw, name = _read_raw(data)
        mapping = _identity_mapping(raw)
        data = (raw, name, not isinstance(data, pd.DataFrame))  # read once, named as it is
    m = read_mapping(mapping)
    plan = available_analyses(m)
    bar = _progress(progress, 2 + sum(why is None for why in plan.values()))
    bar.set_description("reading the file")
    if isinstance(data, tuple):
        # the study table shares the file's columns (read-only; nothing here writes them)
        user = _from_raw(data[0], data[1], m, owned=data[2], share=True)
    else:
        user = read_user_data(data, m, copy=False)
    result = AnalysisResult(data_notes=list(user.notes))
    result.timings["read and validate"] = time.perf_counter() - start
    bar.update()
    df = user.study
    if int(df["reacquired"].sum()) == 0 and m.roles & {"second_tenure", "second_event"}:
        raise StudyDataError(
            "column 'reacquired': no customer in the file was reacquired (all rows are 0); "
            "expected at least one returner for the second-lifetime analyses",
            column="reacquired", problem="no_reacquired",
        )
    run = _Run(user=user, annual_rate=ANNUAL_DISCOUNT_RATE if annual_rate is None
               else annual_rate, seed=seed, n_boot=n_boot)
    outdir = Path(out) if out is not None else None
    figures_written: dict[str, dict[str, Path]] = {}
    planned = [name for name, why in plan.items() if why is None]
    for name, why in plan.items():
        if why is not None:
            result.skipped[name] = why
            continue
        _release_fits(run, planned[planned.index(name):])
        bar.set_description(name)
        began = time.perf_counter()
        try:
            output = REGISTRY[name](run)
        except (ModelError, DesignError) as exc:
            # the data cannot support this model (separation, a level nobody left, every
            # spell censored, no design for targets ...): say why, go on with the others
            result.skipped[name] = str(exc)
            bar.update()
            continue
        except DataError as exc:
            if exc.problem != "missing_column":
                raise
            result.skipped[name] = str(exc)
            bar.update()
            continue
        result.ran.append(name)
        result.tables.update(output.tables)
        result.notes[name] = output.notes
        result.table_names[name] = list(output.tables)
        if outdir is not None:
            figures_written[name] = _write(output, outdir, result)
        for fig in output.figures.values():  # written or not wanted: do not keep them open
            plt.close(fig)
        result.timings[name] = time.perf_counter() - began
        bar.update()
    result.targets = run.fits.get("targets")
    if outdir is not None:
        from winback_study.core.io import write_table

        began = time.perf_counter()
        if result.targets is not None:
            write_table(result.targets, outdir / "targets.csv")
            result.files.append(outdir / "targets.csv")
        result.seconds = time.perf_counter() - start
        result.files.append(_report(result, user, figures_written, outdir))
        result.timings["targets.csv and report.html"] = time.perf_counter() - began
    bar.update()
    bar.close()
    result.seconds = time.perf_counter() - start
    return result


def _write(output: Output, outdir: Path, result: AnalysisResult) -> dict[str, Path]:
    """The analysis's tables as CSV and figures as PNG, SVG and PDF, each atomically."""
    from winback_study.core.io import atomic_path
    from winback_study.plotting.style import save_figure

    for tname, table in output.tables.items():
        with atomic_path(outdir / f"{tname}.csv") as tmp:
            table.to_csv(tmp)
        result.files.append(outdir / f"{tname}.csv")
    pngs = {}
    for fname, fig in output.figures.items():
        paths = save_figure(fig, fname, outdir / "figures")
        result.files += paths
        pngs[fname] = next(p for p in paths if str(p).endswith(".png"))
    return pngs


def _report(result: AnalysisResult, user: UserData, figures: dict[str, dict[str, Path]],
            outdir: Path) -> Path:
    """``report.html``: every table and figure, what ran and was skipped, the mapping."""
    from winback_study.reporting.html_report import ReportSection, write_html_report

    sections = [ReportSection(
        title=name, tables={t: result.tables[t] for t in result.table_names.get(name, [])},
        figures=figures.get(name, {}), notes=result.notes.get(name, []))
        for name in result.ran]
    return write_html_report(
        outdir / "report.html", title=f"Win-back analysis of {user.name}", data_name=user.name,
        sections=sections, skipped=result.skipped, mapping_text=user.mapping.text,
        summary_lines=result.data_notes + [
            f"{len(user.study):,} customers, {int(user.study['reacquired'].sum()):,} "
            f"reacquired; {result.seconds:.1f} s"])

