"""Second-lifetime profitability per month (the study's third equation).

:func:`fit_second_profit` regresses a reacquired customer's monthly margin in the second
lifetime on her first-lifetime behaviour (first-lifetime margin, referrals, complaints),
the reason she left and the offer that brought her back: ordinary least squares
(statsmodels, formula interface) on the log margin (default) or the margin in dollars,
with heteroskedasticity-robust (HC1) standard errors.

Selection correction (default on, ``selection=True``): the reacquired are a selected sample
(see :mod:`winback_study.models.selection`), so the return probit's inverse Mills ratio
enters as the covariate ``inverse_mills``. Because the equation is linear this is Heckman's (1979)
two-step estimator, consistent under joint normality; the reported covariance is the robust
sandwich of the stacked probit and OLS estimating equations
(:func:`~winback_study.models.selection.two_step_covariance`), which accounts for the estimated
first step.

Against the simulator's truth (``log m2 = phi0 + elasticity * log m1 + phi_reason +
phi_offer + kappa * L + s * e2 - s^2 / 2``): the log model's coefficients estimate
``second_margin_*`` (intercept ``phi0 - s^2 / 2``), and ``inverse_mills`` estimates
``kappa * rho``; :func:`true_second_profit_effects` lists them.

Reading P8 and P9 from the estimates (:func:`margin_findings`): P8, service leavers spend
more per month, is ``defection_reason[service] > 0`` (price leavers are the reference);
P9, the bundle is the least profitable offer, is ``offer_received[bundled]`` below the
discount's and the upgrade's coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from winback_study.core.checks import require_columns
from winback_study.core.formula import required_columns, split_formula
from winback_study.core.results import check_alpha
from winback_study.data.simulate import StudyParams, study_params
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, SecondProfitError
from winback_study.models.base import RegressionResult
from winback_study.models.return_checks import drop_unused_categories
from winback_study.models.return_probability import CONTROL_COLUMN, ReturnModel, model_design
from winback_study.models.second_lifetime import clean_term, contrast, design_references
from winback_study.models.selection import (
    DEFAULT_SELECTION,
    SelectionArg,
    selection_sample,
    two_step_covariance,
)

__all__ = [
    "MARGIN_COL",
    "DEFAULT_PROFIT_FORMULA",
    "SecondProfitError",
    "SecondProfitResult",
    "fit_second_profit",
    "true_second_profit_effects",
    "margin_findings",
]

#: Monthly margin in the second lifetime (USD per month).
MARGIN_COL: str = "second_monthly_margin"

#: Right-hand side of the default (log) margin equation: first-lifetime behaviour, reason
#: and the concrete offer received (against the study's reference reason and control arm;
#: a fit under another design uses its own, :func:`~winback_study.models.second_lifetime.
#: design_references`). The outcome is ``np.log(second_monthly_margin)``
#: (``second_monthly_margin`` with ``log=False``, which also puts ``first_monthly_margin``
#: in dollars).
DEFAULT_PROFIT_FORMULA: str = (
    "np.log(first_monthly_margin) + referrals + complaints"
    " + C(defection_reason, Treatment('price'))"
    " + C(offer_received, Treatment('none'))"
)
_LEVEL_RHS: str = DEFAULT_PROFIT_FORMULA.replace("np.log(first_monthly_margin)",
                                                 "first_monthly_margin")


def true_second_profit_effects(
    params: StudyParams | pd.DataFrame | Mapping[str, Any] | None = None,
    control: bool = True,
) -> pd.Series:
    """The simulator's true log-margin coefficients, named like a fitted ``summary``.

    Parameters
    ----------
    params : StudyParams, simulated DataFrame or mapping, optional
        True parameters, or a frame from :func:`simulate_study` that carries them
        (default: the calibrated ones).
    control : bool
        Include ``inverse_mills`` with its true coefficient ``kappa * rho``.

    Returns
    -------
    pandas.Series
        True coefficient by term of the default log formula; ``Intercept`` is
        ``second_margin_intercept - second_margin_sigma ** 2 / 2`` (the simulator centres
        the log-normal error), ``referrals`` and ``complaints`` are 0.
    """
    p = study_params(params)
    coefs: dict[str, float] = {
        "Intercept": p.second_margin_intercept - 0.5 * p.second_margin_sigma**2,
        "np.log(first_monthly_margin)": p.second_margin_elasticity,
        "referrals": 0.0,
        "complaints": 0.0,
    }
    coefs.update({f"defection_reason[{r}]": p.second_margin_reason[r] for r in KUMAR_2015.reasons[1:]})
    coefs.update(
        {f"offer_received[{o}]": p.second_margin_offer[o] for o in KUMAR_2015.targetable_offers}
    )
    if control:
        coefs[CONTROL_COLUMN] = p.loyalty_second_margin * p.loyalty_return
    return pd.Series(coefs, name="true_coefficient")


@dataclass(repr=False)
class SecondProfitResult(RegressionResult):
    """A fitted second-lifetime margin regression (see :func:`fit_second_profit`).

    Follows the package's result convention (:class:`~winback_study.core.results.
    FittedResult`); the log model's ``summary`` adds ``margin_ratio = exp(coef)`` (1.08 =
    8% higher monthly margin).

    Attributes
    ----------
    formula : str
        The statsmodels formula fitted (with ``inverse_mills`` when corrected).
    log : bool
        True when the outcome is the log margin.
    ols : statsmodels RegressionResultsWrapper
        The OLS fit (HC1 covariance).
    selection : ReturnModel or None
        The first-step probit when corrected.
    cov : pandas.DataFrame
        Covariance used by :attr:`summary`: the two-step sandwich when corrected, HC1 else.
    data : pandas.DataFrame
        The reacquired customers fitted (control column included).
    """

    formula: str
    log: bool
    ols: Any
    selection: ReturnModel | None
    cov: pd.DataFrame
    data: pd.DataFrame = field(repr=False)
    _alpha: float = 0.05

    equation = "second_profit"

    # ------------------------------------------------------------------ the convention
    @property
    def ratio_name(self) -> str | None:  # type: ignore[override]
        """``margin_ratio`` for the log model; None in dollars."""
        return "margin_ratio" if self.log else None

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        coef = self.ols.params
        se = np.sqrt(np.diag(self.cov.loc[coef.index, coef.index].to_numpy()))
        index = [clean_term(str(t)) for t in coef.index]
        return pd.Series(coef.to_numpy(), index=index), pd.Series(se, index=index)

    @property
    def nobs(self) -> int:
        """Reacquired customers in the fit."""
        return int(self.ols.nobs)

    @property
    def log_likelihood_(self) -> float:
        """Gaussian log-likelihood of the OLS fit."""
        return float(self.ols.llf)

    # ------------------------------------------------------------------ basics
    @property
    def corrected(self) -> bool:
        """True when the selection correction was applied."""
        return self.selection is not None

    @property
    def se_type(self) -> str:
        """How the standard errors were computed."""
        if self.corrected:
            return "two-step robust sandwich (probit + OLS), HC1-scaled"
        return "HC1 (heteroskedasticity-robust)"

    def contrast(self, a: str, b: str | None = None) -> pd.Series:
        """Difference ``coef[a] - coef[b]`` (or ``coef[a]``) with its interval.

        Returns
        -------
        pandas.Series
            ``estimate``, ``std_err``, ``z``, ``p_value``, ``ci_low``, ``ci_high`` (at the
            model's confidence level).
        """
        cov = self.cov.copy()
        names = [clean_term(str(t)) for t in cov.index]
        cov.index, cov.columns = names, names
        return contrast(self.params_, cov, a, b, self._alpha, SecondProfitError)

    @cached_property
    def smearing_(self) -> float:
        """Duan's (1983) smearing factor ``mean(exp(residual))`` (log model), else 1."""
        if not self.log:
            return 1.0
        return float(np.mean(np.exp(self.ols.resid)))

    def predict_margin(self, df: pd.DataFrame) -> pd.Series:
        """Expected second-lifetime monthly margin (USD) for each customer of ``df``.

        For the log model, ``exp(prediction) * smearing_`` (Duan 1983), which does not
        assume normal errors. With the selection correction, the control is recomputed from
        ``df``: the margin expected *if the customer returns* under the offer in ``df``.
        """
        rhs = self.formula.split("~", 1)[1].replace(f" + {CONTROL_COLUMN}", "")
        require_columns(df, required_columns(rhs), "predicting the second-lifetime margin")
        data = (self.selection.add_control(df, copy=False) if self.selection is not None
                else df)  # read, never written
        pred = np.asarray(self.ols.predict(data), dtype=float)
        if self.log:
            pred = np.exp(pred) * self.smearing_
        return pd.Series(pred, index=df.index, name="expected_monthly_margin")

    # ------------------------------------------------------------------ reporting
    def _header(self) -> list[tuple[str, str]]:
        outcome = self.formula.split("~", 1)[0].strip()
        corr = ("selection-corrected (Heckman two-step, inverse_mills)" if self.corrected
                else "naive (no selection correction)")
        return [("outcome", f"{outcome} (OLS)"), ("selection", corr),
                ("standard errors", self.se_type), ("R2", f"{self.ols.rsquared:.4f}")]

    def _footer(self) -> list[str]:
        if self.log:
            return ["margin_ratio = exp(coef): 1.08 is an 8% higher monthly margin; "
                    f"smearing factor {self.smearing_:.4f}"]
        return ["coefficients are dollars of monthly margin"]

    def __repr__(self) -> str:
        corr = "selection-corrected" if self.corrected else "naive (no selection correction)"
        scale = "log" if self.log else "level"
        return (
            f"SecondProfitResult({scale} margin, {corr}, {self.nobs:,} reacquired, "
            f"R2 {self.ols.rsquared:.3f})"
        )


def _checked_margins(back: pd.DataFrame, outcome: str, log: bool) -> pd.DataFrame:
    """The reacquired customers, checked: a margin for each, positive for the log model."""
    if len(back) == 0:
        raise SecondProfitError("no reacquired customers: there is no second-lifetime margin "
                                "to model")
    if MARGIN_COL in outcome:
        m = pd.to_numeric(back[MARGIN_COL], errors="coerce")
        if m.isna().any():
            raise DataError(
                f"{int(m.isna().sum())} reacquired customer(s) have no {MARGIN_COL!r}",
                column=MARGIN_COL, rows=back.index[m.isna().to_numpy()], problem="missing_value",
            )
        if log and (m <= 0).any():
            raise DataError(
                f"{int((m <= 0).sum())} second-lifetime margin(s) are <= 0, so their log is "
                "undefined; fit log=False (margin in dollars) or drop them deliberately",
                column=MARGIN_COL, rows=back.index[(m <= 0).to_numpy()], problem="not_positive",
            )
    return back


def _outcome_and_log(formula: str | None, log: bool | None, design: StudyDesign | None
                     ) -> tuple[str, str, bool]:
    """The formula's outcome and right-hand side, and whether the outcome is the log margin:
    ``log`` when given (it must agree with a left-hand side), else read from the left-hand
    side (``np.log(...)``), else True."""
    lhs, rhs = split_formula(formula, "", "", SecondProfitError)
    lhs_is_log = lhs.replace(" ", "").startswith("np.log(")
    if log is None:
        log = lhs_is_log if lhs else True
    elif lhs and lhs_is_log != bool(log):
        raise SecondProfitError(
            f"the formula's outcome {lhs!r} is {'a log' if lhs_is_log else 'in levels'} but "
            f"log={log}; pass log={lhs_is_log} (or leave log out) or change the outcome"
        )
    log = bool(log)
    outcome = lhs or (f"np.log({MARGIN_COL})" if log else MARGIN_COL)
    rhs = rhs or design_references(DEFAULT_PROFIT_FORMULA if log else _LEVEL_RHS, design)
    return outcome, rhs, log


def fit_second_profit(
    df: pd.DataFrame,
    formula: str | None = None,
    *,
    log: bool | None = None,
    selection: SelectionArg = DEFAULT_SELECTION,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
    correct_selection: bool | None = None,
    selection_formula: str | None = None,
) -> SecondProfitResult:
    """Regress second-lifetime monthly margin on first-lifetime behaviour, reason and offer.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (one row per lapsed customer); rows with ``reacquired == 1`` are
        fitted.
    formula : str, optional
        ``"outcome ~ covariates"`` (statsmodels); the outcome may be left out (``"~ x"`` or
        ``"x"``) to keep ``np.log(second_monthly_margin)`` (``second_monthly_margin`` when
        ``log=False``). Default :data:`DEFAULT_PROFIT_FORMULA` (with
        ``first_monthly_margin`` in dollars when ``log=False``).
    log : bool, optional
        Model the log margin (effects are proportional) or the margin in dollars. Default:
        what the formula's outcome says (``np.log(...)`` or not), and the log margin when
        the formula has no outcome. Given together with an outcome, the two must agree.
    selection : ReturnModel, True or None
        The selection correction: a fitted probit return model; ``True`` or the default
        :data:`~winback_study.models.selection.DEFAULT_SELECTION` to fit
        :func:`~winback_study.models.selection.fit_selection` on every customer of ``df``
        (which needs a 0/1 ``reacquired`` column); or ``None``/``False`` for the naive fit.
        When corrected, the reported covariance is the two-step robust sandwich.
    alpha : float
        1 - confidence level of every interval the result reports.
    design : StudyDesign, optional
        The experiment's arms and reasons: the reference levels of the default formula
        and the design of the probit fitted for the selection correction. Default the
        design of ``df`` (:func:`~winback_study.models.return_probability.model_design`).
    correct_selection, selection_formula : optional
        Deprecated (``DeprecationWarning``): ``selection=True/None`` and
        ``selection=fit_selection(df, formula)``.

    Returns
    -------
    SecondProfitResult

    Raises
    ------
    DataError
        Missing columns, missing or (for ``log``) non-positive margins.
    ReturnModelError
        ``selection`` is a return model with another link than the probit.
    SecondProfitError
        No reacquired customers, a formula whose outcome contradicts ``log``, or a
        selection model fitted on other customers.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    alpha = check_alpha(alpha)
    design = model_design(df, design)
    outcome, rhs, log = _outcome_and_log(formula, log, design)
    full = f"{outcome} ~ {rhs}"
    require_columns(df, required_columns(full), "fit_second_profit")
    back, first_step, fit_here = selection_sample(
        df, selection, SecondProfitError, outcome=MARGIN_COL,
        check=lambda rows: _checked_margins(rows, outcome, log), unique_index=True,
        correct_selection=correct_selection, selection_formula=selection_formula,
        alpha=alpha, design=design, caller="fit_second_profit")
    # a category nobody in the fitted rows has is not a level of these data
    back = drop_unused_categories(back, sorted(required_columns(full) & set(back.columns)))
    if first_step is not None:
        back = first_step.add_control(back, copy=False)  # back: a row selection of df
        full = f"{full} + {CONTROL_COLUMN}"
    ols = smf.ols(full, back).fit(cov_type="HC1")
    if ols.model.rank < ols.model.exog.shape[1]:
        raise SecondProfitError(
            f"the covariates of {full!r} are collinear among the {len(back):,} reacquired "
            f"customers (rank {ols.model.rank} of {ols.model.exog.shape[1]} columns): a "
            "covariate constant among them, two that carry the same information, or the "
            "selection control inverse_mills explained by the others (give the return model "
            "a covariate the margin model does not have). Drop or merge covariates")
    if first_step is not None:
        population = pd.Index(first_step.results.model.data.row_labels)
        if not population.is_unique:
            raise SecondProfitError("the selection model was fitted on a frame with a "
                                    "duplicated index; the two-step covariance needs unique rows")
        rows = population.get_indexer(ols.model.data.row_labels)
        if (rows < 0).any():
            raise SecondProfitError(
                f"{int((rows < 0).sum())} reacquired customer(s) are not in the sample the "
                "selection model was fitted on, so the two-step covariance cannot be "
                "computed; fit it on every lapsed customer of df (selection=True)"
            )
        exog = pd.DataFrame(ols.model.exog, columns=ols.model.exog_names, copy=False)
        # the customers' own data, for a probit whose estimation data were removed
        data = None
        if first_step.data_removed:
            data = back if len(back) == len(rows) else back.loc[ols.model.data.row_labels]
        cov = two_step_covariance(first_step, df if fit_here else None, exog,
                                  np.asarray(ols.resid), ols.params, rows, CONTROL_COLUMN,
                                  data=data)
    else:
        cov = ols.cov_params()
    return SecondProfitResult(formula=full, log=log, ols=ols, selection=first_step, cov=cov,
                              data=back, _alpha=alpha)


def margin_findings(result: SecondProfitResult) -> pd.DataFrame:
    """P8 and P9 as read from a margin regression with price leavers and no offer as references.

    Returns
    -------
    pandas.DataFrame
        One row per comparison (``estimate``, ``std_err``, ``ci_low``, ``ci_high``,
        ``p_value``, at the result's confidence level) and ``holds`` (the sign the
        published finding needs): P8, service minus price leavers (> 0); P9, bundled minus
        discount and bundled minus upgrade (< 0).
    """
    rows = {
        "P8: service - price leavers": (result.contrast("defection_reason[service]"), 1),
        "P9: bundled - discount": (
            result.contrast("offer_received[bundled]", "offer_received[discount]"), -1),
        "P9: bundled - upgrade": (
            result.contrast("offer_received[bundled]", "offer_received[upgrade]"), -1),
    }
    out = pd.DataFrame({k: v[0] for k, v in rows.items()}).T
    out["holds"] = [np.sign(v[0]["estimate"]) == v[1] for v in rows.values()]
    out.index.name = "finding"
    return out[["estimate", "std_err", "ci_low", "ci_high", "p_value", "holds"]]
