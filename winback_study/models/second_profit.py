"""Second-lifetime profitability per month (the study's third equation).

:func:`fit_second_profit` regresses a reacquired customer's monthly margin in the second
lifetime on her first-lifetime behaviour (first-lifetime margin, referrals, complaints),
the reason she left and the offer that brought her back: ordinary least squares
(statsmodels, formula interface) on the log margin (default) or the margin in dollars,
with heteroskedasticity-robust (HC1) standard errors.

Selection correction (default on): the reacquired are a selected sample (see
:mod:`winback_study.models.selection`), so the return probit's inverse Mills ratio enters as the
covariate ``inverse_mills``. Because the equation is linear this is Heckman's (1979)
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
from scipy import stats

from winback_study.data.simulate import StudyParams, study_params
from winback_study.design import KUMAR_2015
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA
from winback_study.models.second_lifetime import _contrast, clean_term
from winback_study.models.selection import (
    CONTROL_COLUMN,
    SelectionModel,
    check_columns,
    fit_selection,
    required_columns,
    two_step_covariance,
)

__all__ = [
    "MARGIN_COL",
    "DEFAULT_PROFIT_FORMULA",
    "SecondProfitResult",
    "fit_second_profit",
    "true_second_profit_effects",
    "margin_findings",
]

#: Monthly margin in the second lifetime (USD per month).
MARGIN_COL: str = "second_monthly_margin"

#: Right-hand side of the default (log) margin equation: first-lifetime behaviour, reason
#: and the concrete offer received.
DEFAULT_PROFIT_FORMULA: str = (
    "np.log(first_monthly_margin) + referrals + complaints"
    " + C(defection_reason, Treatment('price'))"
    " + C(offer_received, Treatment('none'))"
)
_LEVEL_RHS: str = DEFAULT_PROFIT_FORMULA.replace("np.log(first_monthly_margin)",
                                                 "first_monthly_margin")
_Z95 = float(stats.norm.ppf(0.975))


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
class SecondProfitResult:
    """A fitted second-lifetime margin regression (see :func:`fit_second_profit`).

    Attributes
    ----------
    formula : str
        The statsmodels formula fitted (with ``inverse_mills`` when corrected).
    log : bool
        True when the outcome is the log margin.
    ols : statsmodels RegressionResultsWrapper
        The OLS fit (HC1 covariance).
    selection : SelectionModel or None
        The first-step probit when corrected.
    cov : pandas.DataFrame
        Covariance used by :attr:`summary`: the two-step sandwich when corrected, HC1 else.
    data : pandas.DataFrame
        The reacquired customers fitted (control column included).
    """

    formula: str
    log: bool
    ols: object
    selection: SelectionModel | None
    cov: pd.DataFrame
    data: pd.DataFrame = field(repr=False)

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

    @property
    def n_customers(self) -> int:
        """Reacquired customers in the fit."""
        return int(self.ols.nobs)

    @property
    def params_(self) -> pd.Series:
        """Coefficients by readable term."""
        return self.summary["coef"]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Coefficients, standard errors, 95% intervals, z and p; plus ``margin_ratio``.

        ``margin_ratio = exp(coef)`` (log model only): 1.08 = 8% higher monthly margin.
        """
        coef = self.ols.params
        se = np.sqrt(np.diag(self.cov.loc[coef.index, coef.index].to_numpy()))
        out = pd.DataFrame(
            {
                "coef": coef.to_numpy(),
                "se": se,
                "coef_lower_95": coef.to_numpy() - _Z95 * se,
                "coef_upper_95": coef.to_numpy() + _Z95 * se,
            },
            index=[clean_term(str(t)) for t in coef.index],
        )
        out["z"] = out["coef"] / out["se"]
        out["p"] = 2 * stats.norm.sf(out["z"].abs())
        if self.log:
            out["margin_ratio"] = np.exp(out["coef"])
            out["margin_ratio_lower_95"] = np.exp(out["coef_lower_95"])
            out["margin_ratio_upper_95"] = np.exp(out["coef_upper_95"])
        out.index.name = "term"
        return out

    def contrast(self, a: str, b: str | None = None) -> pd.Series:
        """Difference ``coef[a] - coef[b]`` (or ``coef[a]``) with a 95% interval."""
        cov = self.cov.copy()
        names = [clean_term(str(t)) for t in cov.index]
        cov.index, cov.columns = names, names
        return _contrast(self.summary["coef"], cov, a, b)

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
        check_columns(df, required_columns(rhs), "predicting the second-lifetime margin")
        data = self.selection.add_control(df) if self.selection is not None else df
        pred = np.asarray(self.ols.predict(data), dtype=float)
        if self.log:
            pred = np.exp(pred) * self.smearing_
        return pd.Series(pred, index=df.index, name="expected_monthly_margin")

    def __repr__(self) -> str:
        corr = "selection-corrected" if self.corrected else "naive (no selection correction)"
        scale = "log" if self.log else "level"
        return (
            f"SecondProfitResult({scale} margin, {corr}, {self.n_customers:,} reacquired, "
            f"R2 {self.ols.rsquared:.3f})"
        )


def fit_second_profit(
    df: pd.DataFrame,
    formula: str | None = None,
    log: bool = True,
    correct_selection: bool = True,
    *,
    selection_formula: str = DEFAULT_RETURN_FORMULA,
) -> SecondProfitResult:
    """Regress second-lifetime monthly margin on first-lifetime behaviour, reason and offer.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (one row per lapsed customer); rows with ``reacquired == 1`` are
        fitted.
    formula : str, optional
        statsmodels formula. Right-hand side only (the outcome is then
        ``np.log(second_monthly_margin)`` or ``second_monthly_margin`` by ``log``), or a
        full ``outcome ~ covariates`` formula. Default :data:`DEFAULT_PROFIT_FORMULA`
        (with ``first_monthly_margin`` in dollars when ``log=False``).
    log : bool
        Model the log margin (effects are proportional) or the margin in dollars.
    correct_selection : bool
        Add the return probit's inverse Mills ratio (Heckman two-step) and report the
        two-step robust covariance. Needs every lapsed customer in ``df``.
    selection_formula : str
        The return probit's formula.

    Returns
    -------
    SecondProfitResult

    Raises
    ------
    ValueError
        Missing columns, no reacquired customers, missing or (for ``log``) non-positive
        margins, or a full formula whose outcome does not match ``log``.
    """
    if formula is None:
        rhs = DEFAULT_PROFIT_FORMULA if log else _LEVEL_RHS
        full = f"{'np.log(' + MARGIN_COL + ')' if log else MARGIN_COL} ~ {rhs}"
    elif "~" in formula:
        full = formula
        lhs_is_log = formula.split("~", 1)[0].strip().startswith("np.log(")
        if lhs_is_log != log:
            raise ValueError(
                f"the formula's outcome is {'a log' if lhs_is_log else 'in levels'} but "
                f"log={log}; pass log={lhs_is_log} or change the outcome"
            )
    else:
        full = f"{'np.log(' + MARGIN_COL + ')' if log else MARGIN_COL} ~ {formula}"
    check_columns(df, required_columns(full), "fit_second_profit")
    if "reacquired" in df.columns:
        mask = (df["reacquired"] == 1).to_numpy()
    elif correct_selection:
        raise ValueError(
            "correct_selection=True needs every lapsed customer with a 0/1 'reacquired' "
            "column (the probit is fitted on returners and non-returners alike)"
        )
    else:
        mask = df[MARGIN_COL].notna().to_numpy()
    back = df[mask]
    if len(back) == 0:
        raise ValueError("no reacquired customers: there is no second-lifetime margin to model")
    outcome = full.split("~", 1)[0]
    if MARGIN_COL in outcome:
        m = pd.to_numeric(back[MARGIN_COL], errors="coerce")
        if m.isna().any():
            raise ValueError(
                f"{int(m.isna().sum())} reacquired customer(s) have no {MARGIN_COL!r}"
            )
        if log and (m <= 0).any():
            raise ValueError(
                f"{int((m <= 0).sum())} second-lifetime margin(s) are <= 0, so their log is "
                "undefined; fit log=False (margin in dollars) or drop them deliberately"
            )
    selection = None
    if correct_selection:
        if not df.index.is_unique:
            raise ValueError("the selection correction needs a unique index on df")
        selection = fit_selection(df, selection_formula)
        back = selection.add_control(back)
        full = f"{full} + {CONTROL_COLUMN}"
    ols = smf.ols(full, back).fit(cov_type="HC1")
    if correct_selection:
        rows = df.index.get_indexer(ols.model.data.row_labels)
        exog = pd.DataFrame(ols.model.exog, columns=ols.model.exog_names)
        cov = two_step_covariance(
            selection, df, exog, np.asarray(ols.resid), ols.params, rows, CONTROL_COLUMN
        )
    else:
        cov = ols.cov_params()
    return SecondProfitResult(formula=full, log=log, ols=ols, selection=selection, cov=cov,
                              data=back)


def margin_findings(result: SecondProfitResult) -> pd.DataFrame:
    """P8 and P9 as read from a margin regression with price leavers and no offer as references.

    Returns
    -------
    pandas.DataFrame
        One row per comparison (``estimate``, ``lower_95``, ``upper_95``, ``p``) and
        ``holds`` (the sign the published finding needs): P8, service minus price leavers
        (> 0); P9, bundled minus discount and bundled minus upgrade (< 0).
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
    return out[["estimate", "lower_95", "upper_95", "p", "holds"]]
