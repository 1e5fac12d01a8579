"""Second-lifetime duration: how long reacquired customers stay (the study's second equation).

Two views, both built on lifelines:

* **Kaplan-Meier** curves of the first and the second lifetime, overall, by defection
  reason and by offer, with Greenwood confidence bands, at-risk counts and log-rank tests
  (:func:`km_summary`, :func:`first_vs_second_logrank`, :func:`logrank_by`,
  :func:`plot_km`). Second lifetimes are right-censored at the end of the 84-month window
  (``second_churned = 0``); censored spells are kept and count as "still a customer" up to
  their last observed month, never as churn. First lifetimes are complete (every customer in
  the study has left once), so their curve has no censoring.
* **Regression** on the reacquired with :func:`fit_second_lifetime`: a Cox proportional
  hazards model or a Weibull / log-logistic accelerated failure time (AFT) model, from a
  formula, optionally with the selection correction of :mod:`winback_study.models.selection`.

Reading the coefficients
------------------------
* Cox: ``coef`` is a log hazard ratio; ``hazard_ratio = exp(coef)`` below 1 means a longer
  second lifetime.
* AFT (lifelines' ``lambda_`` / ``alpha_`` parameter): ``coef`` is the effect on log
  duration; ``time_ratio = exp(coef)`` above 1 means a longer second lifetime (1.2 = 20%
  longer at every quantile).

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
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter, LogLogisticAFTFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import (
    proportional_hazard_test,
)
from lifelines.utils import restricted_mean_survival_time
from scipy import stats

from winback_study.data.describe import DURATION_COL, EVENT_COL, _curve_median, _curve_rmst
from winback_study.data.simulate import StudyParams, study_params
from winback_study.design import KUMAR_2015
from winback_study.errors import SecondLifetimeConvergenceError, SecondLifetimeError
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA
from winback_study.models.selection import (
    CONTROL_COLUMN,
    SelectionModel,
    check_columns,
    fit_selection,
    required_columns,
)

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
]




#: Covariates of the simulator's second-lifetime equation (``z``), as a formulaic formula
#: (right-hand side only). The same treatment coding as the return formula.
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

_Z95 = float(stats.norm.ppf(0.975))
_CATEGORICAL = re.compile(r"^C\((\w+)[^\[]*\)\[(?:T\.)?(.+)\]$")
_PLAIN_CATEGORICAL = re.compile(r"^(\w+)\[T\.(.+)\]$")


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
    raise ValueError(
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


@dataclass(repr=False)
class SecondLifetimeResult:
    """A fitted second-lifetime duration model (see :func:`fit_second_lifetime`).

    Attributes
    ----------
    model : str
        ``cox``, ``weibull`` or ``loglogistic``.
    formula : str
        Right-hand side actually fitted (with ``inverse_mills`` when corrected).
    fitter : lifelines fitter
        The fitted ``CoxPHFitter`` / ``WeibullAFTFitter`` / ``LogLogisticAFTFitter``.
    selection : SelectionModel or None
        The first-step probit when the selection correction was applied.
    data : pandas.DataFrame
        The reacquired customers the model was fitted on (control column included).
    duration_col, event_col : str
        Columns holding months and the churn indicator.
    """

    model: str
    formula: str
    fitter: Any
    selection: SelectionModel | None
    data: pd.DataFrame = field(repr=False)
    duration_col: str = DURATION_COL
    event_col: str = EVENT_COL

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
    def ratio_name(self) -> str:
        """``hazard_ratio`` (Cox) or ``time_ratio`` (AFT)."""
        return MODELS[self.model][2]

    @property
    def n_customers(self) -> int:
        """Reacquired customers in the fit."""
        return len(self.data)

    @property
    def n_events(self) -> int:
        """Second-lifetime churn events (uncensored spells) in the fit."""
        return int(self.data[self.event_col].sum())

    @property
    def params_(self) -> pd.Series:
        """Covariate coefficients by readable term (log hazard ratios or log time ratios)."""
        return self.summary["coef"]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Coefficients with standard errors, 95% intervals, p-values and ratios.

        Columns: ``coef``, ``se``, ``coef_lower_95``, ``coef_upper_95``, ``z``, ``p``, then
        ``hazard_ratio`` (Cox) or ``time_ratio`` (AFT) with ``*_lower_95`` and
        ``*_upper_95``. Indexed by readable term (:func:`clean_term`); the shape parameter
        of an AFT model is in :attr:`ancillary`.
        """
        return self._table(_main_block(self.model, self.fitter.summary))

    @cached_property
    def ancillary(self) -> pd.DataFrame:
        """Shape parameter(s) of an AFT model (log scale), same columns; empty for Cox."""
        if self.model == "cox":
            return self._table(self.fitter.summary.iloc[:0])
        param = MODELS[self.model][1]
        rest = self.fitter.summary.drop(index=param, level=0)
        rest.index = [f"{p}[{c}]" for p, c in rest.index]
        return self._table(rest, clean=False)

    def _table(self, s: pd.DataFrame, clean: bool = True) -> pd.DataFrame:
        ratio = self.ratio_name
        out = pd.DataFrame(
            {
                "coef": s["coef"],
                "se": s["se(coef)"],
                "coef_lower_95": s["coef lower 95%"],
                "coef_upper_95": s["coef upper 95%"],
                "z": s["z"],
                "p": s["p"],
                ratio: s["exp(coef)"],
                f"{ratio}_lower_95": s["exp(coef) lower 95%"],
                f"{ratio}_upper_95": s["exp(coef) upper 95%"],
            }
        )
        if clean:
            out.index = [clean_term(str(t)) for t in out.index]
        out.index.name = "term"
        return out

    @property
    def hazard_ratios(self) -> pd.DataFrame:
        """Hazard ratios with 95% intervals (Cox only)."""
        if self.model != "cox":
            raise ValueError(
                f"a {self.model} AFT model reports time ratios (result.time_ratios); "
                "fit model='cox' for hazard ratios"
            )
        return self.summary[["hazard_ratio", "hazard_ratio_lower_95", "hazard_ratio_upper_95"]]

    @property
    def time_ratios(self) -> pd.DataFrame:
        """Time ratios (effect on every quantile of duration) with 95% intervals (AFT only)."""
        if self.model == "cox":
            raise ValueError(
                "a Cox model reports hazard ratios (result.hazard_ratios); fit "
                "model='weibull' or 'loglogistic' for time ratios"
            )
        return self.summary[["time_ratio", "time_ratio_lower_95", "time_ratio_upper_95"]]

    @cached_property
    def concordance_(self) -> float:
        """Harrell's concordance index on the fitted data (0.5 = no discrimination)."""
        return float(self.fitter.concordance_index_)

    @property
    def log_likelihood_(self) -> float:
        """Maximised (partial, for Cox) log-likelihood."""
        return float(self.fitter.log_likelihood_)

    @property
    def aic_(self) -> float:
        """AIC (partial AIC for Cox, which is comparable only between Cox models)."""
        if self.model == "cox":
            return float(self.fitter.AIC_partial_)
        return float(self.fitter.AIC_)

    def contrast(self, a: str, b: str | None = None) -> pd.Series:
        """Difference of two coefficients (or one coefficient) with a 95% interval.

        Parameters
        ----------
        a, b : str
            Terms of :attr:`summary`; the contrast is ``coef[a] - coef[b]`` (``b`` omitted:
            ``coef[a]``).

        Returns
        -------
        pandas.Series
            ``estimate``, ``se``, ``lower_95``, ``upper_95``, ``p``.
        """
        cov = _main_block_cov(self.model, self.fitter.variance_matrix_)
        return _contrast(self.summary["coef"], cov, a, b)

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
            raise ValueError(
                "proportional-hazards diagnostics apply to model='cox': a Weibull AFT is "
                "proportional hazards by construction and a log-logistic AFT is not; compare "
                "AFT models with result.aic_ and their fit to the Kaplan-Meier curves"
            )
        res = proportional_hazard_test(self.fitter, self.data, time_transform=time_transform)
        out = res.summary[["test_statistic", "p"]].copy()
        out.index = [clean_term(str(t)) for t in out.index]
        out.index.name = "term"
        out["violated"] = out["p"] < 0.01
        return out

    # ------------------------------------------------------------------ prediction
    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        rhs = self.formula.replace(f" + {CONTROL_COLUMN}", "")
        check_columns(df, required_columns(rhs), "predicting the second lifetime")
        if self.selection is not None:
            return self.selection.add_control(df)
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
        out = self.fitter.predict_survival_function(self._design(df), times=t)
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
                "model_median": _curve_median(grid, s),
                "model_rmst": _curve_rmst(grid, s, horizon),
            }
            if {self.duration_col, self.event_col} <= set(g.columns):
                kmf = KaplanMeierFitter().fit(g[self.duration_col], g[self.event_col])
                row["km_median"] = float(kmf.median_survival_time_)
                row["km_rmst"] = float(restricted_mean_survival_time(kmf, t=horizon))
            rows.append(row)
        out = pd.DataFrame(rows).set_index(by or "segment")
        cols = ["customers", "events", "model_median", "km_median", "model_rmst", "km_rmst"]
        return out.reindex(columns=cols)

    def __repr__(self) -> str:
        corr = "selection-corrected" if self.corrected else "naive (no selection correction)"
        return (
            f"SecondLifetimeResult({self.model}, {corr}, {self.n_customers:,} reacquired, "
            f"{self.n_events:,} churn events, concordance {self.concordance_:.3f})"
        )


def _main_block_cov(model: str, cov: pd.DataFrame) -> pd.DataFrame:
    param = MODELS[model][1]
    if param is not None:
        cov = cov.loc[param, param]
    cov = cov.copy()
    names = [clean_term(str(t)) for t in cov.index]
    cov.index, cov.columns = names, names
    return cov


def _contrast(coef: pd.Series, cov: pd.DataFrame, a: str, b: str | None) -> pd.Series:
    for t in (a, b):
        if t is not None and t not in coef.index:
            raise KeyError(f"no term {t!r}; terms are: {', '.join(coef.index)}")
    w = pd.Series(0.0, index=coef.index)
    w[a] = 1.0
    if b is not None:
        w[b] -= 1.0
    est = float(w @ coef)
    se = float(np.sqrt(w @ cov.loc[coef.index, coef.index] @ w))
    z = est / se if se > 0 else np.nan
    return pd.Series(
        {
            "estimate": est,
            "se": se,
            "lower_95": est - _Z95 * se,
            "upper_95": est + _Z95 * se,
            "p": float(2 * stats.norm.sf(abs(z))),
        },
        name=a if b is None else f"{a} - {b}",
    )






# ----------------------------------------------------------------------------- fitting
def _reacquired_rows(
    df: pd.DataFrame, duration_col: str, event_col: str, correct_selection: bool
) -> pd.DataFrame:
    """The reacquired customers, with checked durations and events."""
    check_columns(df, [duration_col, event_col], "fit_second_lifetime")
    if "reacquired" in df.columns:
        back = df[df["reacquired"] == 1]
    elif correct_selection:
        raise SecondLifetimeError(
            "correct_selection=True needs every lapsed customer with a 0/1 'reacquired' "
            "column (the probit is fitted on returners and non-returners alike)"
        )
    else:
        back = df[df[duration_col].notna()]
    if len(back) == 0:
        raise SecondLifetimeError("no reacquired customers: there is no second lifetime to model")
    t = pd.to_numeric(back[duration_col], errors="coerce")
    e = pd.to_numeric(back[event_col], errors="coerce")
    bad = int(t.isna().sum() + e.isna().sum())
    if bad:
        raise SecondLifetimeError(
            f"{bad} missing or non-numeric value(s) in {duration_col!r}/{event_col!r} among "
            f"{len(back):,} reacquired customers; every returner needs a second-lifetime "
            "length and a churn flag (0 = still a customer, censored)"
        )
    if (t <= 0).any():
        raise SecondLifetimeError(
            f"{int((t <= 0).sum())} second lifetime(s) of length <= 0 in {duration_col!r}; "
            "lengths must be positive (a customer active in her first month has 1)"
        )
    if not e.isin([0, 1]).all():
        raise SecondLifetimeError(f"{event_col!r} must be 0 (censored) or 1 (churned)")
    if e.sum() == 0:
        raise SecondLifetimeError(
            f"all {len(back):,} second lifetimes are censored (no churn event), so the "
            "effects of covariates on churn are not identified; Kaplan-Meier shows the "
            "survival curve up to the longest follow-up, but no regression can be fitted"
        )
    return back


def fit_second_lifetime(
    df: pd.DataFrame,
    model: str = "cox",
    formula: str | None = None,
    correct_selection: bool = False,
    *,
    selection_formula: str = DEFAULT_RETURN_FORMULA,
    duration_col: str = DURATION_COL,
    event_col: str = EVENT_COL,
    penalizer: float = 0.0,
) -> SecondLifetimeResult:
    """Fit a second-lifetime duration model on the reacquired customers.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table: one row per lapsed customer. Rows with ``reacquired == 1`` are
        fitted (without a ``reacquired`` column: rows with a second-lifetime length).
    model : {"cox", "weibull", "loglogistic"}
        Cox proportional hazards (Efron ties) or a Weibull / log-logistic AFT model.
    formula : str, optional
        Right-hand side (formulaic syntax, as lifelines), default
        :data:`DEFAULT_DURATION_FORMULA`.
    correct_selection : bool
        Apply the control-function correction (:mod:`winback_study.models.selection`): fit the
        return probit on every customer of ``df`` and add its inverse Mills ratio as the
        covariate ``inverse_mills``.
    selection_formula : str
        The probit's formula (default: the study's return equation).
    duration_col, event_col : str
        Second-lifetime months and churn flag (1 = churned, 0 = censored).
    penalizer : float
        L2 penalty passed to lifelines (use a small value, e.g. 0.01, if a fit fails to
        converge because of collinear or near-constant covariates).

    Returns
    -------
    SecondLifetimeResult

    Raises
    ------
    ValueError
        Unknown model, missing columns, invalid durations or events, no reacquired
        customer, or no churn event (all spells censored).
    RuntimeError
        If lifelines does not converge (the message suggests a fix).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    rhs = DEFAULT_DURATION_FORMULA if formula is None else formula
    if "~" in rhs:
        raise ValueError(
            "give only the right-hand side of the formula (covariates); the outcome is "
            f"{duration_col!r} with churn flag {event_col!r}"
        )
    check_columns(df, required_columns(rhs), "the duration formula")
    back = _reacquired_rows(df, duration_col, event_col, correct_selection)
    selection = None
    if correct_selection:
        selection = fit_selection(df, selection_formula)
        back = selection.add_control(back)
        rhs = f"{rhs} + {CONTROL_COLUMN}"
    else:
        back = back.copy()
    back[event_col] = back[event_col].astype(int)
    fitter_cls = MODELS[model][0]
    fitter = fitter_cls(penalizer=penalizer)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Hessian.*", category=UserWarning)
            fitter.fit(back, duration_col=duration_col, event_col=event_col, formula=rhs)
    except (ConvergenceError, np.linalg.LinAlgError) as exc:
        raise SecondLifetimeConvergenceError(
            f"the {model} model did not converge on {len(back):,} reacquired customers. "
            "Usual causes: a covariate that is constant or nearly so among the reacquired, "
            "two collinear covariates, or a category in which nobody (or everybody) churned. "
            "Drop or merge such covariates, or pass a small penalizer (e.g. penalizer=0.01). "
            f"lifelines said: {str(exc).splitlines()[0]}"
        ) from None
    return SecondLifetimeResult(
        model=model, formula=rhs, fitter=fitter, selection=selection, data=back,
        duration_col=duration_col, event_col=event_col,
    )


# ----------------------------------------------------------------------------- Kaplan-Meier














