"""Selection correction for second-lifetime outcomes: a two-step control function.

The problem
-----------
Second-lifetime outcomes (how long a reacquired customer stays, what she pays per month)
exist only for customers who came back. If whatever makes a customer come back also makes
her stay longer or pay more, the reacquired are a *selected* sample and a regression fitted
on them alone mixes the effect of a covariate with the effect of who it brings back. In the
simulated study an unobserved trait, loyalty ``L ~ N(0, 1)``, does exactly that
(:mod:`winback_study.data.simulate`)::

    return:          reacquired = 1[x'gamma + u > 0],   u = rho * L + sqrt(1 - rho^2) * e
    second lifetime: log T2 = z'alpha + tau * L + sigma * log(E)
    second margin:   log m2 = w'phi + kappa * L + s * e2

An offer that brings back many customers brings back many *marginal* ones, whose loyalty is
low; among the reacquired, loyalty is therefore lower after a strong offer than after no
offer, and a naive fit credits the offer with less effect on the second lifetime than it has
(Thomas, Blattberg & Fox 2004 make the same point for recaptured customers).

The method (Heckman 1979 two-step, as a control function)
---------------------------------------------------------
1. Fit the return probit on **every** lapsed customer (``reacquired ~ x``; statsmodels).
   Because ``u`` is standard normal the probit estimates ``gamma``.
2. For each customer compute the inverse Mills ratio at the fitted index,
   ``lambda_i = phi(x_i'gamma) / Phi(x_i'gamma)``. Under joint normality of ``(L, u)``,
   ``E[L | x, reacquired = 1] = rho * lambda_i`` exactly.
3. Add ``lambda_i`` as a covariate (column ``inverse_mills``) to the second-stage model
   fitted on the reacquired. Its coefficient estimates ``tau * rho`` (duration, AFT scale)
   or ``kappa * rho`` (log margin), and the other coefficients are purged of selection.

For the **linear** margin equation this is the textbook Heckman estimator and is consistent;
:func:`two_step_covariance` gives the robust sandwich covariance of the stacked
(probit + OLS) estimating equations, which accounts for the first step being estimated.
For the **duration** models it is a control-function approximation: the part of loyalty the
Mills ratio does not capture, ``L - rho * lambda_i``, has mean zero among the reacquired but
remains in the error as frailty. In an AFT model such mean-zero frailty mostly widens the
error distribution (a smaller Weibull shape, lifelines' ``rho_``, and a small shift of the
intercept) and, averaged over samples, leaves the covariate effects nearly unbiased; in a
Cox model it attenuates hazard ratios towards 1. In any *one* sample the control
coefficient is imprecise: ``lambda_i`` varies mostly with the offer, so it is nearly
collinear with the offer dummies, and the offer effects inherit its error. On notebook 03's
sample it comes out well below ``tau * rho`` and about half of the naive bias in the offer
effects remains; on other seeds it lands on either side of the truth.

Assumptions (each one checkable on the simulated data, none on real data)
------------------------------------------------------------------------
* The return error ``u`` and the outcome's unobservable are jointly normal (or at least
  ``E[L | u]`` is linear in ``u``), and both are independent of the covariates.
* The probit is correctly specified (the same covariates as the simulator's return
  equation; :data:`winback_study.models.return_probability.DEFAULT_RETURN_FORMULA`).
* An **exclusion restriction**: some covariates move the return probability but not the
  outcome. Here ``complaints_resolved``, ``first_monthly_margin`` and
  ``months_since_defection`` enter the return equation only; without them the correction
  is identified from the non-linearity of ``lambda`` alone and is fragile.
* Interval estimates of survival models fitted with the control function treat
  ``lambda_i`` as known (they ignore the first step's sampling error). On the simulated
  study that costs little: over 20 seeds the spread of the corrected Weibull estimates
  matched their reported standard errors (0.082 vs 0.081 for the intercept, 0.039 vs 0.039
  for the offers), because the probit on every lapsed customer is precise. What keeps the
  intervals from covering 95% of the time is the approximation bias above (intercept about
  +0.10, offers about -0.035 log-months on average), not the first step. The margin
  model's two-step covariance accounts for the first step exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from formulaic import Formula
from scipy import stats

from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA

__all__ = [
    "CONTROL_COLUMN",
    "SelectionModel",
    "fit_selection",
    "inverse_mills_ratio",
    "two_step_covariance",
    "selection_bias_table",
    "required_columns",
]

#: Name of the control-function column added to second-stage data.
CONTROL_COLUMN: str = "inverse_mills"


def required_columns(formula: str) -> set[str]:
    """Data columns a (patsy/formulaic) formula reads, e.g. ``{"reacquired", "referrals"}``."""
    return {str(v) for v in Formula(formula).required_variables}


def check_columns(df: pd.DataFrame, columns: Sequence[str] | set[str], what: str) -> None:
    """Raise a ``ValueError`` naming every column of ``columns`` missing from ``df``."""
    missing = sorted(set(columns) - set(df.columns))
    if missing:
        raise ValueError(
            f"{what} needs column(s) {', '.join(repr(c) for c in missing)}, which the data "
            f"do not have (see data/README.md for the study table's columns)"
        )


def inverse_mills_ratio(index: np.ndarray | pd.Series) -> np.ndarray:
    """Inverse Mills ratio ``phi(c) / Phi(c)``, computed on the log scale (stable for c << 0).

    Parameters
    ----------
    index : array-like
        Probit index ``c = x'gamma``.

    Returns
    -------
    numpy.ndarray
        ``E[u | u > -c]`` for standard normal ``u``; positive, about ``-c`` for very negative
        ``c`` and tending to 0 for large ``c``.
    """
    c = np.asarray(index, dtype=float)
    return np.exp(stats.norm.logpdf(c) - stats.norm.logcdf(c))


def _inverse_mills_derivative(index: np.ndarray) -> np.ndarray:
    """``d lambda / dc = -lambda(c) * (c + lambda(c))``."""
    lam = inverse_mills_ratio(index)
    return -lam * (index + lam)


@dataclass(frozen=True, repr=False)
class SelectionModel:
    """The first step of the selection correction: a probit of return on every lapsed customer.

    Attributes
    ----------
    formula : str
        The probit's statsmodels formula (outcome ``reacquired``).
    probit : statsmodels.discrete.discrete_model.BinaryResultsWrapper
        The fitted probit (``params``, ``bse``, ``summary()`` ...).
    n_customers : int
        Customers the probit was fitted on.
    outcome : str
        The 0/1 return column.
    """

    formula: str
    probit: object
    n_customers: int
    outcome: str = "reacquired"

    def _check(self, df: pd.DataFrame) -> None:
        rhs = self.formula.split("~", 1)[1]
        check_columns(df, required_columns(rhs), "the return model (selection correction)")

    def index(self, df: pd.DataFrame) -> pd.Series:
        """Fitted probit index ``x'gamma`` for each row of ``df``."""
        self._check(df)
        xb = self.probit.predict(df, which="linear")
        return pd.Series(np.asarray(xb, dtype=float), index=df.index, name="return_index")

    def probability(self, df: pd.DataFrame) -> pd.Series:
        """Probability of return ``Phi(x'gamma)`` for each row of ``df``."""
        return pd.Series(
            stats.norm.cdf(self.index(df)), index=df.index, name="return_probability"
        )

    def inverse_mills(self, df: pd.DataFrame) -> pd.Series:
        """Control function ``lambda = phi(x'gamma) / Phi(x'gamma)`` for each row of ``df``.

        It is the expected return error (hence ``E[L | x, returned] / rho``) *given that the
        customer returns*, so it is the right control both for customers who did return and
        for predictions "if this customer came back" under a counterfactual offer.
        """
        return pd.Series(
            inverse_mills_ratio(self.index(df).to_numpy()), index=df.index, name=CONTROL_COLUMN
        )

    def generalized_residual(self, df: pd.DataFrame) -> pd.Series:
        """Generalized probit residual: ``lambda`` for returners, ``-phi / (1 - Phi)`` otherwise.

        It estimates ``E[u | x, reacquired]`` for the observed outcome and has mean zero over
        the whole population at the probit estimate.
        """
        check_columns(df, [self.outcome], "the generalized residual")
        c = self.index(df).to_numpy()
        back = df[self.outcome].to_numpy() == 1
        stay = -np.exp(stats.norm.logpdf(c) - stats.norm.logsf(c))
        out = np.where(back, inverse_mills_ratio(c), stay)
        return pd.Series(out, index=df.index, name="generalized_residual")

    def add_control(self, df: pd.DataFrame, column: str = CONTROL_COLUMN) -> pd.DataFrame:
        """A copy of ``df`` with the control-function column ``column`` added."""
        out = df.copy()
        out[column] = self.inverse_mills(df).to_numpy()
        return out

    @property
    def summary(self) -> pd.DataFrame:
        """Probit coefficients with standard errors, 95% intervals and p-values."""
        ci = self.probit.conf_int()
        return pd.DataFrame(
            {
                "coef": self.probit.params,
                "se": self.probit.bse,
                "coef_lower_95": ci[0],
                "coef_upper_95": ci[1],
                "p": self.probit.pvalues,
            }
        ).rename_axis("term")

    def __repr__(self) -> str:
        return (
            f"SelectionModel(probit on {self.n_customers:,} customers, "
            f"{len(self.probit.params)} coefficients, formula={self.formula!r})"
        )


def fit_selection(df: pd.DataFrame, formula: str = DEFAULT_RETURN_FORMULA) -> SelectionModel:
    """Fit the first step: a probit of return on every lapsed customer.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer (returned or not), with the formula's columns.
    formula : str
        statsmodels formula of the return probit; default
        :data:`~winback_study.models.return_probability.DEFAULT_RETURN_FORMULA`.

    Returns
    -------
    SelectionModel

    Raises
    ------
    ValueError
        If a column is missing, the outcome is not 0/1, or nobody (everybody) returned.
    """
    if "~" not in formula:
        raise ValueError(f"the return formula needs an outcome, 'reacquired ~ ...'; got {formula!r}")
    outcome = formula.split("~", 1)[0].strip()
    check_columns(df, required_columns(formula), "the return model (selection correction)")
    y = pd.to_numeric(df[outcome], errors="coerce")
    if y.isna().any() or not y.isin([0, 1]).all():
        raise ValueError(f"{outcome!r} must be 0/1 for every lapsed customer")
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError(
            f"the selection correction needs both returners and non-returners; "
            f"{int(y.sum())} of {len(y)} customers have {outcome} = 1"
        )
    probit = smf.probit(formula, df).fit(disp=0, maxiter=200)
    if not probit.mle_retvals.get("converged", True):
        raise RuntimeError(
            "the return probit did not converge; check for covariates that perfectly predict "
            "return (a category where everybody or nobody came back) and drop or merge them"
        )
    return SelectionModel(formula=formula, probit=probit, n_customers=int(probit.nobs),
                          outcome=outcome)


def two_step_covariance(
    selection: SelectionModel,
    population: pd.DataFrame,
    exog: pd.DataFrame,
    resid: np.ndarray,
    params: pd.Series,
    selected: np.ndarray,
    control: str = CONTROL_COLUMN,
) -> pd.DataFrame:
    """Robust covariance of an OLS second step that uses the probit's Mills ratio.

    Stacks the probit score ``g1_i`` and the OLS moment ``g2_i = d_i w_i (y_i - w_i'b)``
    (``w_i`` includes ``lambda(x_i'gamma)``) and returns the ``b`` block of the sandwich
    ``A^-1 B A^-T / n`` (Newey & McFadden 1994, section 6). It reduces to the HC0
    covariance when the probit is known; an HC1 factor ``m / (m - k)`` is applied
    (``m`` selected rows, ``k`` second-step coefficients).

    Parameters
    ----------
    selection : SelectionModel
        The fitted first step.
    population : pandas.DataFrame
        The frame the probit was fitted on (every lapsed customer).
    exog : pandas.DataFrame
        Second-step design (selected rows only, including the ``control`` column).
    resid : numpy.ndarray
        Second-step residuals, aligned with ``exog``.
    params : pandas.Series
        Second-step coefficients (names = ``exog`` columns).
    selected : numpy.ndarray
        Positions, within ``population``, of the rows in ``exog`` (same order).
    control : str
        Name of the Mills-ratio column in ``exog``.

    Returns
    -------
    pandas.DataFrame
        Covariance matrix of the second-step coefficients.
    """
    probit = selection.probit
    model = probit.model
    gamma = probit.params.to_numpy()
    n = model.exog.shape[0]
    if n != len(population):
        raise ValueError(
            "the probit dropped rows with missing values; the two-step covariance needs the "
            "probit fitted on every row of the population frame"
        )
    x = model.exog
    g1 = model.score_obs(gamma)  # n x k1
    h1 = model.hessian(gamma) / n  # k1 x k1 (negative definite)

    w = exog.to_numpy(dtype=float)
    m, k2 = w.shape
    b = params.to_numpy(dtype=float)
    j = list(exog.columns).index(control)
    xs = x[selected]
    c = xs @ gamma
    dlam = _inverse_mills_derivative(c)
    # d g2_i / d gamma' = dlam_i * (e_j * r_i - w_i * b_j) x_i'
    left = -w * b[j]
    left[:, j] += resid
    a21 = (left * dlam[:, None]).T @ xs / n
    a22 = -(w.T @ w) / n
    k1 = x.shape[1]
    a = np.zeros((k1 + k2, k1 + k2))
    a[:k1, :k1] = h1
    a[k1:, :k1] = a21
    a[k1:, k1:] = a22
    g = np.zeros((n, k1 + k2))
    g[:, :k1] = g1
    g[selected, k1:] = w * resid[:, None]
    bmat = g.T @ g / n
    ainv = np.linalg.inv(a)
    cov = ainv @ bmat @ ainv.T / n
    cov_b = cov[k1:, k1:] * m / (m - k2)
    return pd.DataFrame(cov_b, index=exog.columns, columns=exog.columns)


def selection_bias_table(
    truth: pd.Series,
    naive: pd.DataFrame,
    corrected: pd.DataFrame,
    terms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Naive and selection-corrected estimates against the true parameters.

    Parameters
    ----------
    truth : pandas.Series
        True coefficient by term (e.g. from
        :func:`winback_study.models.second_lifetime.true_second_lifetime_effects`).
    naive, corrected : pandas.DataFrame
        ``summary`` tables of the two fits (columns ``coef``, ``coef_lower_95``,
        ``coef_upper_95``, indexed by term).
    terms : sequence of str, optional
        Terms to show; default every term in ``truth`` that both fits estimated.

    Returns
    -------
    pandas.DataFrame
        Per term: ``truth``; ``naive`` and ``corrected`` estimates; ``naive_bias`` and
        ``corrected_bias`` (estimate minus truth); ``naive_covers`` and
        ``corrected_covers`` (truth inside the 95% interval); ``closer`` (True when the
        corrected estimate is nearer the truth).
    """
    if terms is None:
        terms = [t for t in truth.index if t in naive.index and t in corrected.index]
    terms = list(terms)
    out = pd.DataFrame({"truth": truth.reindex(terms)})
    for name, tab in (("naive", naive), ("corrected", corrected)):
        tab = tab.reindex(terms)
        out[name] = tab["coef"]
        out[f"{name}_bias"] = tab["coef"] - out["truth"]
        out[f"{name}_covers"] = (tab["coef_lower_95"] <= out["truth"]) & (
            out["truth"] <= tab["coef_upper_95"]
        )
    out["closer"] = out["corrected_bias"].abs() < out["naive_bias"].abs()
    out.index.name = "term"
    return out[["truth", "naive", "corrected", "naive_bias", "corrected_bias",
                "naive_covers", "corrected_covers", "closer"]]
