"""Second-lifetime duration: how long reacquired customers stay (the study's second equation).

:func:`fit_second_lifetime` fits, on the reacquired customers, a Cox proportional hazards
model or a Weibull / log-logistic accelerated failure time (AFT) model (lifelines), from a
formula ``"duration ~ covariates"``, by default with the selection correction of
:mod:`winback_study.models.selection` (``selection=``). The Kaplan-Meier views of the first
and the second lifetime (curves, medians, log-rank tests) are in
:mod:`winback_study.data.describe` and :func:`winback_study.plotting.charts.plot_km`.
Second lifetimes are right-censored at the end of the 84-month window
(``second_churned = 0``); censored spells count as "still a customer" up to their last
observed month, never as churn.

Reading the coefficients
------------------------
* Cox: ``coef`` is a log hazard ratio; ``hazard_ratio = exp(coef)`` below 1 means a longer
  second lifetime.
* AFT (lifelines' ``lambda_`` / ``alpha_`` parameter): ``coef`` is the effect on log
  duration; ``time_ratio = exp(coef)`` above 1 means a longer second lifetime (1.2 = 20%
  longer at every quantile). The shape parameter is in ``ancillary``.

Against the simulator's truth (``log T2 = z'alpha + tau * L + sigma * log E``): a Weibull
AFT's ``lambda_`` coefficients are ``alpha`` and its shape ``rho_`` is ``1 / sigma``; a
Cox model's log hazard ratios are ``-alpha / sigma``. Both statements hold *conditional on
loyalty* ``L``, which is not observed: :func:`true_second_lifetime_effects` gives the
targets and the notebook ``03_second_lifetime`` shows what the naive and the corrected fits
recover.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter, LogLogisticAFTFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceError as LifelinesConvergenceError
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import restricted_mean_survival_time

from winback_study.core.checks import require_columns
from winback_study.core.formula import required_columns, split_formula
from winback_study.core.results import check_alpha, coefficient_table
from winback_study.data.describe import DURATION_COL, EVENT_COL, curve_median, curve_rmst
from winback_study.data.simulate import StudyParams, study_params
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import (
    DataError,
    ModelError,
    SecondLifetimeConvergenceError,
    SecondLifetimeError,
)
from winback_study.models.base import RegressionResult
from winback_study.models.return_checks import drop_unused_categories
from winback_study.models.return_probability import CONTROL_COLUMN, ReturnModel, model_design
from winback_study.models.selection import DEFAULT_SELECTION, SelectionArg, selection_sample
from winback_study.models.weibull_newton import newton_fit_model

__all__ = [
    "SecondLifetimeError",
    "SecondLifetimeConvergenceError",
    "DURATION_COL",
    "EVENT_COL",
    "DEFAULT_DURATION_FORMULA",
    "MODELS",
    "SecondLifetimeResult",
    "fit_second_lifetime",
    "true_second_lifetime_effects",
    "clean_term",
    "design_references",
]


#: Covariates of the simulator's second-lifetime equation (``z``): the right-hand side of
#: the default formula (the outcome is ``duration_col``). The same treatment coding as the
#: return formula: against the study's reference reason and control arm, which a fit
#: under another design replaces by its own (:func:`design_references`).
DEFAULT_DURATION_FORMULA: str = (
    "referrals + complaints + first_tenure_months"
    " + C(defection_reason, Treatment('price'))"
    " + C(offer_received, Treatment('none')) + offer_matches_reason"
)

#: Supported models: name -> (lifelines fitter, name of the covariate parameter, ratio name).
MODELS: Mapping[str, tuple[type, str | None, str]] = {
    "cox": (CoxPHFitter, None, "hazard_ratio"),
    "weibull": (WeibullAFTFitter, "lambda_", "time_ratio"),
    "loglogistic": (LogLogisticAFTFitter, "alpha_", "time_ratio"),
}

_CATEGORICAL = re.compile(r"^C\((\w+)[^\[]*\)\[(?:T\.)?(.+)\]$")
_PLAIN_CATEGORICAL = re.compile(r"^(\w+)\[T\.(.+)\]$")


def design_references(rhs: str, design: StudyDesign | None) -> str:
    """A default right-hand side with the design's reference levels in its ``Treatment(...)``.

    The default second-stage formulas code the reason against ``'price'`` and the offer
    against ``'none'`` (the study's); under ``design`` they are its first reason and its
    control arm. Unchanged for the study's design, for None and for a design without
    reasons (the reason's reference then stays ``'price'``).
    """
    if design is None:
        return rhs
    out = rhs.replace("Treatment('none')", f"Treatment({design.control!r})")
    if design.reference_reason is not None:
        out = out.replace("Treatment('price')", f"Treatment({design.reference_reason!r})")
    return out


def clean_term(name: str) -> str:
    """Readable term name: ``C(defection_reason, Treatment('price'))[T.service]`` ->
    ``defection_reason[service]``; anything else is returned unchanged."""
    for pattern in (_CATEGORICAL, _PLAIN_CATEGORICAL):
        m = pattern.match(name)
        if m:
            return f"{m.group(1)}[{m.group(2)}]"
    return name


# ----------------------------------------------------------------------------- truth
def true_second_lifetime_effects(
    params: StudyParams | pd.DataFrame | Mapping[str, Any] | None = None,
    model: str = "weibull",
    control: bool = True,
) -> pd.Series:
    """The simulator's true second-lifetime effects, named like a fitted ``summary``.

    Parameters
    ----------
    params : StudyParams, simulated DataFrame or mapping, optional
        True parameters, or a frame from :func:`simulate_study` that carries them
        (default: the calibrated ones).
    model : {"weibull", "cox"}
        ``weibull``: AFT coefficients on log months (``alpha``; ``Intercept`` included),
        directly comparable with lifelines' ``lambda_`` coefficients. ``cox``: log hazard
        ratios ``-alpha / sigma`` (no intercept).
    control : bool
        Include the control-function term ``inverse_mills`` with its true coefficient
        ``tau * rho`` (AFT) or ``-tau * rho / sigma`` (Cox).

    Returns
    -------
    pandas.Series
        True coefficient by term. These are effects *conditional on loyalty*; the shape of
        the Weibull is ``1 / second_tenure_sigma``.
    """
    p = study_params(params)
    coefs: dict[str, float] = {"Intercept": p.second_intercept}
    coefs.update(
        {
            "referrals": p.second_referrals,
            "complaints": p.second_complaints,
            "first_tenure_months": p.second_first_tenure,
        }
    )
    coefs.update({f"defection_reason[{r}]": p.second_reason[r] for r in KUMAR_2015.reasons[1:]})
    coefs.update({f"offer_received[{o}]": p.second_offer[o] for o in KUMAR_2015.targetable_offers})
    coefs["offer_matches_reason"] = p.second_offer_matches_reason
    if control:
        coefs[CONTROL_COLUMN] = p.loyalty_second_tenure * p.loyalty_return
    out = pd.Series(coefs, name="true_coefficient")
    if model == "weibull":
        return out
    if model == "cox":
        return (-out.drop("Intercept") / p.second_tenure_sigma).rename("true_coefficient")
    raise SecondLifetimeError(
        f"the simulator's second lifetime is a Weibull AFT; truth is defined for model="
        f"'weibull' or 'cox', not {model!r}"
    )


# ----------------------------------------------------------------------------- result
def _main_block(model: str, table: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Rows of a lifelines params/summary table that belong to the covariate parameter."""
    param = MODELS[model][1]
    if param is None:
        return table
    return table.xs(param, level=0)


def contrast(coef: pd.Series, cov: pd.DataFrame, a: str, b: str | None, alpha: float = 0.05,
             error: type[ModelError] = ModelError) -> pd.Series:
    """``coef[a] - coef[b]`` (or ``coef[a]``) with its Wald standard error and interval.

    Returns
    -------
    pandas.Series
        ``estimate``, ``std_err``, ``z``, ``p_value``, ``ci_low``, ``ci_high``.
    """
    for t in (a, b):
        if t is not None and t not in coef.index:
            raise error(f"no term {t!r}; terms are: {', '.join(coef.index)}")
    w = pd.Series(0.0, index=coef.index)
    w[a] = 1.0
    if b is not None:
        w[b] -= 1.0
    est = float(w @ coef)
    se = float(np.sqrt(w @ cov.loc[coef.index, coef.index] @ w))
    name = a if b is None else f"{a} - {b}"
    row = coefficient_table(pd.Series([est], index=[name]), pd.Series([se], index=[name]),
                            alpha).iloc[0]
    return row.rename({"coef": "estimate"}).rename(name)


@dataclass(repr=False)
class SecondLifetimeResult(RegressionResult):
    """A fitted second-lifetime duration model (see :func:`fit_second_lifetime`).

    Follows the package's result convention (:class:`~winback_study.core.results.
    FittedResult`): ``summary`` has ``hazard_ratio`` (Cox) or ``time_ratio`` (AFT) columns;
    the AFT shape parameter is in :attr:`ancillary`, same schema. ``aic_`` counts the
    ancillary parameters too (lifelines' ``AIC_``); for Cox it is the partial AIC
    (lifelines' ``AIC_partial_``), comparable only between Cox models.

    Attributes
    ----------
    model : str
        ``cox``, ``weibull`` or ``loglogistic``.
    formula : str
        ``duration ~ covariates`` actually fitted (with ``inverse_mills`` when corrected).
    fitter : lifelines fitter
        The fitted ``CoxPHFitter`` / ``WeibullAFTFitter`` / ``LogLogisticAFTFitter``.
    selection : ReturnModel or None
        The first-step probit when the selection correction was applied.
    data : pandas.DataFrame
        The reacquired customers the model was fitted on (control column included).
    duration_col, event_col : str
        Columns holding months and the churn indicator.
    """

    model: str
    formula: str
    fitter: Any
    selection: ReturnModel | None
    data: pd.DataFrame = field(repr=False)
    duration_col: str = DURATION_COL
    event_col: str = EVENT_COL
    _alpha: float = 0.05

    equation = "second_lifetime"

    # ------------------------------------------------------------------ the convention
    @property
    def ratio_name(self) -> str:  # type: ignore[override]
        """``hazard_ratio`` (Cox) or ``time_ratio`` (AFT)."""
        return MODELS[self.model][2]

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        s = _main_block(self.model, self.fitter.summary)
        index = [clean_term(str(t)) for t in s.index]
        return (pd.Series(s["coef"].to_numpy(), index=index),
                pd.Series(s["se(coef)"].to_numpy(), index=index))

    def _n_estimated(self) -> int:
        return int(len(self.fitter.params_))  # covariate and ancillary parameters

    @property
    def nobs(self) -> int:
        """Reacquired customers in the fit."""
        return len(self.data)

    @property
    def log_likelihood_(self) -> float:
        """Maximised (partial, for Cox) log-likelihood."""
        return float(self.fitter.log_likelihood_)

    @cached_property
    def ancillary(self) -> pd.DataFrame:
        """Shape parameter(s) of an AFT model (log scale), in the summary schema; empty for Cox."""
        if self.model == "cox":
            empty = pd.Series([], dtype=float)
            return coefficient_table(empty, empty, self._alpha)
        param = MODELS[self.model][1]
        rest = self.fitter.summary.drop(index=param, level=0)
        index = [f"{p}[{c}]" for p, c in rest.index]
        return coefficient_table(pd.Series(rest["coef"].to_numpy(), index=index),
                                 pd.Series(rest["se(coef)"].to_numpy(), index=index),
                                 self._alpha)

    # ------------------------------------------------------------------ basics
    @property
    def corrected(self) -> bool:
        """True when the selection correction (control function) was applied."""
        return self.selection is not None

    @property
    def max_observed_months(self) -> float:
        """Longest second lifetime observed in the fit (months)."""
        return float(self.data[self.duration_col].max())

    @property
    def extrapolates(self) -> bool:
        """Whether survival beyond :attr:`max_observed_months` is modelled.

        False for Cox: its baseline survival stops at the last observed time (lifelines
        carries the last value forward), so it cannot value months beyond the window.
        """
        return self.model != "cox"

    @property
    def n_events(self) -> int:
        """Second-lifetime churn events (uncensored spells) in the fit."""
        return int(self.data[self.event_col].sum())

    def _ratios(self) -> pd.DataFrame:
        r = self.ratio_name
        return self.summary[[r, f"{r}_ci_low", f"{r}_ci_high"]]

    @property
    def hazard_ratios(self) -> pd.DataFrame:
        """Hazard ratios with their intervals (Cox only)."""
        if self.model != "cox":
            raise SecondLifetimeError(
                f"a {self.model} AFT model reports time ratios (result.time_ratios); "
                "fit model='cox' for hazard ratios"
            )
        return self._ratios()

    @property
    def time_ratios(self) -> pd.DataFrame:
        """Time ratios (effect on every quantile of duration) with intervals (AFT only)."""
        if self.model == "cox":
            raise SecondLifetimeError(
                "a Cox model reports hazard ratios (result.hazard_ratios); fit "
                "model='weibull' or 'loglogistic' for time ratios"
            )
        return self._ratios()

    @cached_property
    def concordance_(self) -> float:
        """Harrell's concordance index on the fitted data (0.5 = no discrimination)."""
        return float(self.fitter.concordance_index_)

    def contrast(self, a: str, b: str | None = None) -> pd.Series:
        """Difference of two coefficients (or one coefficient) with its interval.

        Parameters
        ----------
        a, b : str
            Terms of :attr:`summary`; the contrast is ``coef[a] - coef[b]`` (``b`` omitted:
            ``coef[a]``).

        Returns
        -------
        pandas.Series
            ``estimate``, ``std_err``, ``z``, ``p_value``, ``ci_low``, ``ci_high`` (at the
            model's confidence level).
        """
        cov = self.fitter.variance_matrix_
        param = MODELS[self.model][1]
        if param is not None:
            cov = cov.loc[param, param]
        cov = cov.copy()
        names = [clean_term(str(t)) for t in cov.index]
        cov.index, cov.columns = names, names
        return contrast(self.params_, cov, a, b, self._alpha, SecondLifetimeError)

    # ------------------------------------------------------------------ diagnostics
    def ph_test(self, time_transform: str = "rank") -> pd.DataFrame:
        """Proportional-hazards test per covariate (scaled Schoenfeld residuals; Cox only).

        Parameters
        ----------
        time_transform : str
            lifelines' transform of time (``rank``, ``km``, ``identity``, ``log``).

        Returns
        -------
        pandas.DataFrame
            Per term: ``test_statistic``, ``p`` and ``violated`` (``p < 0.01``). With tens
            of thousands of customers even tiny departures are "significant": read the
            statistic's size, not only ``p``.
        """
        if self.model != "cox":
            raise SecondLifetimeError(
                "proportional-hazards diagnostics apply to model='cox': a Weibull AFT is "
                "proportional hazards by construction and a log-logistic AFT is not; compare "
                "AFT models with result.aic_ and their fit to the Kaplan-Meier curves"
            )
        res = proportional_hazard_test(self.fitter, self.data, time_transform=time_transform)
        out = res.summary[["test_statistic", "p"]].rename(columns={"p": "p_value"})
        out.index = [clean_term(str(t)) for t in out.index]
        out.index.name = "term"
        out["violated"] = out["p_value"] < 0.01
        return out

    # ------------------------------------------------------------------ prediction
    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        rhs = self.formula.split("~", 1)[1].replace(f" + {CONTROL_COLUMN}", "")
        require_columns(df, required_columns(rhs), "predicting the second lifetime")
        if self.selection is not None:
            return self.selection.add_control(df, copy=False)  # read, never written
        return df

    def predict_survival(
        self, df: pd.DataFrame, times: Sequence[float] | np.ndarray | None = None
    ) -> pd.DataFrame:
        """Probability of still being a customer ``t`` months into the second lifetime.

        With the selection correction, each customer's control ``lambda(x'gamma)`` is
        recomputed from ``df``, so the curve is the one *given that she returns* under the
        offer in ``df`` (change ``offer_received`` for a counterfactual offer).

        Parameters
        ----------
        df : pandas.DataFrame
            Customers with the model's covariates (and, when corrected, the return model's).
        times : array-like, optional
            Months at which to evaluate; default ``0, 1, ..., 120``.

        Returns
        -------
        pandas.DataFrame
            One row per time, one column per customer (``df``'s index), as lifelines.
        """
        t = np.arange(0, 121, dtype=float) if times is None else np.asarray(times, dtype=float)
        design = self._design(df)
        if self.model in _CLOSED_FORM:
            # the AFT survival in closed form, in plain numpy (lifelines evaluates it through
            # autograd: the same numbers, 30x slower on millions of customers)
            scale, shape = (np.asarray(s, dtype=float) for s in
                            self.fitter._prep_inputs_for_prediction_and_return_scores(design, None))
            z = (t[:, None] / scale[None, :]) ** shape[None, :]
            out = pd.DataFrame(_CLOSED_FORM[self.model](z), index=t, columns=df.index)
        else:
            out = self.fitter.predict_survival_function(design, times=t)
            out.columns = df.index
        out.index.name = "months"
        return out

    def predict_median(self, df: pd.DataFrame) -> pd.Series:
        """Predicted median second lifetime in months for each customer of ``df``."""
        med = self.fitter.predict_median(self._design(df))
        return pd.Series(np.asarray(med, dtype=float).ravel(), index=df.index,
                         name="median_months")

    def lifetimes_by_segment(
        self,
        by: str | None = None,
        df: pd.DataFrame | None = None,
        horizon: float = 60.0,
        max_months: int = 600,
    ) -> pd.DataFrame:
        """Median and restricted-mean second lifetime by segment: model and Kaplan-Meier.

        The model columns average the predicted survival curves of the segment's customers
        (standardisation), so they describe the segment's actual mix of covariates.

        Parameters
        ----------
        by : str, optional
            Column to group by (e.g. ``"defection_reason"``, ``"offer"``); None = everyone.
        df : pandas.DataFrame, optional
            Customers to describe; default the fitted (reacquired) customers. The Kaplan-
            Meier columns need ``duration_col`` and ``event_col`` in it.
        horizon : float
            Months for the restricted mean (RMST = area under the curve up to ``horizon``).
        max_months : int
            Months over which the model's curves are evaluated (for the median).

        Returns
        -------
        pandas.DataFrame
            Per segment: ``customers``, ``events``, ``model_median``, ``km_median``,
            ``model_rmst``, ``km_rmst`` (months). A Kaplan-Meier median that the curve
            never reaches is ``inf``.
        """
        data = self.data if df is None else df
        grid = np.arange(0, max_months + 1, dtype=float)
        groups = [("all", data)] if by is None else list(data.groupby(by, observed=True))
        rows = []
        for label, g in groups:
            s = np.zeros(len(grid))
            for start in range(0, len(g), 5000):  # chunks of customers bound the memory
                part = g.iloc[start:start + 5000]
                s += self.predict_survival(part, grid).to_numpy().sum(axis=1)
            s /= len(g)
            row = {
                by or "segment": label,
                "customers": len(g),
                "events": int(g[self.event_col].sum()) if self.event_col in g else np.nan,
                "model_median": curve_median(grid, s),
                "model_rmst": curve_rmst(grid, s, horizon),
            }
            if {self.duration_col, self.event_col} <= set(g.columns):
                kmf = KaplanMeierFitter().fit(g[self.duration_col], g[self.event_col])
                row["km_median"] = float(kmf.median_survival_time_)
                row["km_rmst"] = float(restricted_mean_survival_time(kmf, t=horizon))
            rows.append(row)
        out = pd.DataFrame(rows).set_index(by or "segment")
        cols = ["customers", "events", "model_median", "km_median", "model_rmst", "km_rmst"]
        return out.reindex(columns=cols)

    # ------------------------------------------------------------------ reporting
    def _header(self) -> list[tuple[str, str]]:
        name = {"cox": "Cox proportional hazards", "weibull": "Weibull AFT",
                "loglogistic": "log-logistic AFT"}[self.model]
        corr = ("selection-corrected (control function inverse_mills)" if self.corrected
                else "naive (no selection correction)")
        return [
            ("specification", name), ("selection", corr),
            ("duration, event", f"{self.duration_col}, {self.event_col}"),
            ("churn events", f"{self.n_events:,}"),
            ("concordance", f"{self.concordance_:.3f}"),
        ]

    def _footer(self) -> list[str]:
        lines = [("hazard_ratio below 1 means a longer second lifetime" if self.model == "cox"
                  else "time_ratio above 1 means a longer second lifetime")]
        if len(self.ancillary):
            lines.append("ancillary (shape, log scale): " + ", ".join(
                f"{t} {r.coef:.3f} (std_err {r.std_err:.3f})"
                for t, r in self.ancillary.iterrows()))
        return lines

    def __repr__(self) -> str:
        corr = "selection-corrected" if self.corrected else "naive (no selection correction)"
        return (
            f"SecondLifetimeResult({self.model}, {corr}, {self.nobs:,} reacquired, "
            f"{self.n_events:,} churn events, concordance {self.concordance_:.3f})"
        )


# ----------------------------------------------------------------------------- fitting
def _checked_spells(back: pd.DataFrame, duration_col: str, event_col: str) -> pd.DataFrame:
    """The reacquired customers' spells, checked: positive lengths, 0/1 events, one churn."""
    if len(back) == 0:
        raise SecondLifetimeError("no reacquired customers: there is no second lifetime to model")
    t = pd.to_numeric(back[duration_col], errors="coerce")
    e = pd.to_numeric(back[event_col], errors="coerce")
    for col, values in ((duration_col, t), (event_col, e)):
        bad = values.isna()
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} missing or non-numeric value(s) in {col!r} among "
                f"{len(back):,} reacquired customers; every returner needs a second-lifetime "
                "length and a churn flag (0 = still a customer, censored)",
                column=col, rows=back.index[bad.to_numpy()], problem="missing_value",
            )
    if (t <= 0).any():
        raise DataError(
            f"{int((t <= 0).sum())} second lifetime(s) of length <= 0 in {duration_col!r}; "
            "lengths must be positive (a customer active in her first month has 1)",
            column=duration_col, rows=back.index[(t <= 0).to_numpy()], problem="not_positive",
        )
    if not e.isin([0, 1]).all():
        raise DataError(f"{event_col!r} must be 0 (censored) or 1 (churned)", column=event_col,
                        rows=back.index[~e.isin([0, 1]).to_numpy()], problem="not_0_or_1")
    if e.sum() == 0:
        raise SecondLifetimeError(
            f"all {len(back):,} second lifetimes are censored (no churn event), so the "
            "effects of covariates on churn are not identified; Kaplan-Meier shows the "
            "survival curve up to the longest follow-up, but no regression can be fitted"
        )
    return back


#: AFT survival S(t) from z = (t / scale) ** shape
_CLOSED_FORM = {"weibull": lambda z: np.exp(-z), "loglogistic": lambda z: 1.0 / (1.0 + z)}


def fit_second_lifetime(
    df: pd.DataFrame,
    formula: str | None = None,
    *,
    model: str = "cox",
    selection: SelectionArg = DEFAULT_SELECTION,
    duration_col: str = DURATION_COL,
    event_col: str = EVENT_COL,
    penalizer: float = 0.0,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
    correct_selection: bool | None = None,
    selection_formula: str | None = None,
) -> SecondLifetimeResult:
    """Fit a second-lifetime duration model on the reacquired customers.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table: one row per lapsed customer. Rows with ``reacquired == 1`` are
        fitted (without a ``reacquired`` column: rows with a second-lifetime length).
    formula : str, optional
        ``"duration ~ covariates"`` (formulaic syntax, as lifelines); the left-hand side may
        be left out (``"~ x"`` or ``"x"``) to keep ``duration_col``. Default
        :data:`DEFAULT_DURATION_FORMULA`.
    model : {"cox", "weibull", "loglogistic"}
        Cox proportional hazards (Efron ties) or a Weibull / log-logistic AFT model.
    selection : ReturnModel, True or None
        The selection correction (:mod:`winback_study.models.selection`): a fitted probit
        return model; ``True`` or the default
        :data:`~winback_study.models.selection.DEFAULT_SELECTION` to fit
        :func:`~winback_study.models.selection.fit_selection` on every customer of ``df``
        (which needs a 0/1 ``reacquired`` column); or ``None``/``False`` for the naive fit.
        Its inverse Mills ratio enters as the covariate ``inverse_mills``.
    duration_col, event_col : str
        Second-lifetime months and churn flag (1 = churned, 0 = censored).
    penalizer : float
        L2 penalty passed to lifelines (use a small value, e.g. 0.01, if a fit fails to
        converge because of collinear or near-constant covariates).
    alpha : float
        1 - confidence level of every interval the result reports.
    design : StudyDesign, optional
        The experiment's arms and reasons: the reference levels of the default formula
        (:func:`design_references`) and the design of the probit fitted for the selection
        correction. Default the design of ``df``
        (:func:`~winback_study.models.return_probability.model_design`).
    correct_selection, selection_formula : optional
        Deprecated (``DeprecationWarning``): ``selection=True/None`` and
        ``selection=fit_selection(df, formula)``.

    Returns
    -------
    SecondLifetimeResult

    Raises
    ------
    DataError
        Missing columns, missing or invalid durations or events.
    ReturnModelError
        ``selection`` is a return model with another link than the probit.
    SecondLifetimeError
        Unknown model or a bad formula, no reacquired customer, or no churn event (all
        spells censored).
    SecondLifetimeConvergenceError
        If lifelines does not converge (the message suggests a fix).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    alpha = check_alpha(alpha)
    if isinstance(formula, str) and formula.strip() in MODELS:
        # the old calling convention fit_second_lifetime(df, "weibull"), naive by default
        # (an explicit selection= or correct_selection= is kept)
        warnings.warn(
            f"fit_second_lifetime(df, {formula.strip()!r}) is deprecated: pass "
            f"model={formula.strip()!r}. Note that the selection correction is now on by "
            "default (selection=True); pass selection=None for the naive fit",
            DeprecationWarning, stacklevel=2,
        )
        model, formula = formula.strip(), None
        if correct_selection is None and selection is DEFAULT_SELECTION:
            selection = None
    if model not in MODELS:
        raise SecondLifetimeError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    design = model_design(df, design)
    outcome, rhs = split_formula(formula, design_references(DEFAULT_DURATION_FORMULA, design),
                                 duration_col, SecondLifetimeError)
    if not outcome.isidentifier():
        raise SecondLifetimeError(
            f"the left-hand side of the formula must be the duration column, got {outcome!r}; "
            f"the churn flag is event_col={event_col!r}"
        )
    if outcome != duration_col and duration_col != DURATION_COL:
        raise SecondLifetimeError(
            f"the formula's outcome {outcome!r} and duration_col={duration_col!r} disagree; "
            "give the duration column once"
        )
    duration_col = outcome
    require_columns(df, required_columns(rhs), "the duration formula")
    require_columns(df, [duration_col, event_col], "fit_second_lifetime")
    back, first_step, _ = selection_sample(
        df, selection, SecondLifetimeError, outcome=duration_col,
        check=lambda rows: _checked_spells(rows, duration_col, event_col),
        correct_selection=correct_selection, selection_formula=selection_formula,
        alpha=alpha, design=design, caller="fit_second_lifetime")
    # a category nobody in the fitted rows has is not a level of these data
    back = drop_unused_categories(back, sorted(required_columns(rhs) & set(back.columns)))
    if first_step is not None:
        back = first_step.add_control(back, copy=False)  # back: a row selection of df
        rhs = f"{rhs} + {CONTROL_COLUMN}"
    else:
        back = back.copy()
    back[event_col] = back[event_col].astype(int)
    if not back.index.is_unique:  # lifelines cannot index its predictions by duplicates
        back = back.reset_index(drop=True)
    fitter_cls = MODELS[model][0]
    fitter = fitter_cls(penalizer=penalizer, alpha=alpha)
    if model == "weibull":
        # Newton's method with the analytic Hessian in place of lifelines' SLSQP and
        # autograd Hessian, for this one fit (the same estimates; minutes -> seconds on
        # millions of returners): weibull_newton's module explains. It also gives the
        # predicted medians lifelines would compute again from the formula after the fit.
        fitter._fit_model = partial(newton_fit_model, fitter)
        fitter._FAST_MEDIAN_PREDICT = False
    # lifelines copies the frame and summarises every column of it: only the model's
    needed = [c for c in back.columns if c in required_columns(rhs) | {CONTROL_COLUMN}
              or c in (duration_col, event_col)]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Hessian.*", category=UserWarning)
            fitter.fit(back[needed], duration_col=duration_col, event_col=event_col,
                       formula=rhs)
            if model == "weibull":
                del fitter._FAST_MEDIAN_PREDICT  # the class's (True) again
                median = fitter.__dict__.pop("_newton_median", None)
                fitter._predicted_median = (fitter.predict_median(back[needed])
                                            if median is None else median)
    except (LifelinesConvergenceError, np.linalg.LinAlgError) as exc:
        raise SecondLifetimeConvergenceError(
            f"the {model} model did not converge on {len(back):,} reacquired customers. "
            "Usual causes: a covariate that is constant or nearly so among the reacquired, "
            "two collinear covariates, or a category in which nobody (or everybody) churned. "
            "Drop or merge such covariates, or pass a small penalizer (e.g. penalizer=0.01). "
            f"lifelines said: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        for attr in ("_fit_model", "_FAST_MEDIAN_PREDICT", "_newton_median"):
            fitter.__dict__.pop(attr, None)  # an ordinary (and picklable) fitter again
    return SecondLifetimeResult(
        model=model, formula=f"{duration_col} ~ {rhs}", fitter=fitter, selection=first_step,
        data=back, duration_col=duration_col, event_col=event_col, _alpha=alpha,
    )
