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
1. Fit the return probit on **every** lapsed customer (``reacquired ~ x``): :func:`fit_selection`
   is :func:`~winback_study.models.return_probability.fit_return_model` with
   ``link="probit"``, and the :class:`~winback_study.models.return_probability.ReturnModel`
   it returns carries the step's ``index``, ``inverse_mills`` and ``add_control``.
   Because ``u`` is standard normal the probit estimates ``gamma``.
2. For each customer compute the inverse Mills ratio at the fitted index,
   ``lambda_i = phi(x_i'gamma) / Phi(x_i'gamma)``. Under joint normality of ``(L, u)``,
   ``E[L | x, reacquired = 1] = rho * lambda_i`` exactly.
3. Add ``lambda_i`` as a covariate (column ``inverse_mills``) to the second-stage model
   fitted on the reacquired (``selection=`` of
   :func:`~winback_study.models.second_lifetime.fit_second_lifetime` and
   :func:`~winback_study.models.second_profit.fit_second_profit`, by default
   :data:`DEFAULT_SELECTION`: fit the probit on the same frame). Its coefficient estimates
   ``tau * rho`` (duration, AFT scale) or ``kappa * rho`` (log margin), and the other
   coefficients are purged of selection.

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
-------------------------------------------------------------------------
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

import warnings
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from winback_study.design import StudyDesign
from winback_study.errors import DataError, ModelError, ReturnModelError
from winback_study.models.return_probability import (
    CONTROL_COLUMN,
    RETURN_OUTCOME,
    ReturnModel,
    fit_return_model,
    inverse_mills_ratio,
)

__all__ = [
    "CONTROL_COLUMN",
    "DEFAULT_SELECTION",
    "SelectionSample",
    "fit_selection",
    "resolve_selection",
    "selection_sample",
    "inverse_mills_ratio",
    "two_step_covariance",
    "selection_bias_table",
]


class _DefaultSelection:
    """The type of :data:`DEFAULT_SELECTION` (one instance; true, like ``selection=True``)."""

    __slots__ = ()
    _instance: _DefaultSelection | None = None

    def __new__(cls) -> _DefaultSelection:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "DEFAULT_SELECTION"

    def __reduce__(self) -> str:
        return "DEFAULT_SELECTION"  # pickles as this module's constant


#: Default of every second-stage fitter's ``selection=``: fit the study's return probit
#: (:func:`fit_selection`) on the same frame and correct for selection, exactly as
#: ``selection=True``. It is a distinct value so that a fitter can tell the default from
#: an explicit ``selection=True`` (an explicit value always wins, e.g. over the naive
#: default of the deprecated ``fit_second_lifetime(df, "weibull")``). ``None`` or
#: ``False``: the naive fit; a fitted probit :class:`ReturnModel`: that first step.
DEFAULT_SELECTION: Final[_DefaultSelection] = _DefaultSelection()

#: A fitted probit return model, ``True`` or :data:`DEFAULT_SELECTION` (fit the default
#: one), or ``None``/``False`` (no correction).
SelectionArg = ReturnModel | bool | None | _DefaultSelection


def _fits_here(selection: SelectionArg) -> bool:
    """Whether ``selection`` asks to fit the probit on the frame (True or the default)."""
    return selection is True or selection is DEFAULT_SELECTION


#: rows per pass of :func:`two_step_covariance` (bounds its per-row temporaries)
_CHUNK_ROWS = 1_000_000


def _inverse_mills_derivative(index: np.ndarray) -> np.ndarray:
    """``d lambda / dc = -lambda(c) * (c + lambda(c))``."""
    lam = inverse_mills_ratio(index)
    return -lam * (index + lam)


def fit_selection(df: pd.DataFrame, formula: str | None = None, *,
                  alpha: float = 0.05, design: StudyDesign | None = None) -> ReturnModel:
    """Fit the first step: a probit of return on every lapsed customer.

    The same fit as ``fit_return_model(df, formula, link="probit", alpha=alpha,
    design=design)``.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer (returned or not), with the formula's columns.
    formula : str, optional
        ``"reacquired ~ covariates"`` (the outcome may be left out); default
        :data:`~winback_study.models.return_probability.DEFAULT_RETURN_FORMULA`.
    alpha : float
        1 - confidence level of the probit's intervals.
    design : StudyDesign, optional
        The experiment's arms and reasons (reference levels, counterfactual arms); default
        the design of ``df`` (:func:`~winback_study.models.return_probability.model_design`).

    Returns
    -------
    ReturnModel
        With ``link="probit"``: ``index``, ``probability``, ``inverse_mills``,
        ``generalized_residual`` and ``add_control`` give the control function.

    Raises
    ------
    DataError
        A column is missing or the outcome is not 0/1.
    ReturnModelError
        Nobody (or everybody) returned, or the probit cannot be fitted.
    """
    return fit_return_model(df, formula, link="probit", alpha=alpha, design=design)


def _deprecated(selection: SelectionArg, correct_selection: bool | None,
                selection_formula: str | None, error: type[ModelError],
                caller: str) -> SelectionArg:
    """``selection`` with the deprecated keywords applied (each with a DeprecationWarning)."""
    if correct_selection is not None:
        warnings.warn(
            f"{caller}(correct_selection=...) is deprecated and will be removed in the next "
            "release; pass selection=True (the default: fit the return probit), "
            "selection=None (naive) or selection=<a fitted probit ReturnModel>",
            DeprecationWarning, stacklevel=4,
        )
        if selection is not DEFAULT_SELECTION:
            raise error(f"give selection= or the deprecated correct_selection=, not both "
                        f"(got selection={selection!r}, correct_selection={correct_selection!r})")
        selection = bool(correct_selection)
    if selection_formula is not None:
        warnings.warn(
            f"{caller}(selection_formula=...) is deprecated and will be removed in the next "
            "release; pass selection=fit_selection(df, formula)",
            DeprecationWarning, stacklevel=4,
        )
    return selection


def resolve_selection(
    df: pd.DataFrame,
    selection: SelectionArg,
    error: type[ModelError] = ModelError,
    *,
    correct_selection: bool | None = None,
    selection_formula: str | None = None,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
    caller: str = "the fitter",
) -> ReturnModel | None:
    """The first-step probit a second-stage fitter should use, or None for the naive fit.

    Parameters
    ----------
    df : pandas.DataFrame
        Every lapsed customer (``selection=True`` fits the probit on it).
    selection : ReturnModel, bool, DEFAULT_SELECTION or None
        A fitted probit return model; ``True`` or :data:`DEFAULT_SELECTION` to fit
        :func:`fit_selection` on ``df``; ``None`` or ``False`` for no correction.
    error : exception class
        Raised for contradictory arguments (the calling model's error class).
    correct_selection, selection_formula : optional
        The deprecated keywords of the same fitters (a ``DeprecationWarning``):
        ``correct_selection`` replaces ``selection`` (True/False; with an explicit
        ``selection`` as well, ``error``) and ``selection_formula`` is the formula of the
        probit ``selection=True`` fits.
    alpha : float
        1 - confidence level of the probit's intervals when it is fitted here.
    design : StudyDesign, optional
        The design of the probit fitted here (:func:`fit_selection`).
    caller : str
        Name of the fitter, for messages.

    Raises
    ------
    ReturnModelError
        ``selection`` is a return model with another link than the probit.
    TypeError
        ``selection`` is neither a return model, a bool nor None.
    """
    selection = _deprecated(selection, correct_selection, selection_formula, error, caller)
    return _resolve(df, selection, error, selection_formula, alpha, design)


def _resolve(df: pd.DataFrame, selection: SelectionArg, error: type[ModelError],
             selection_formula: str | None, alpha: float,
             design: StudyDesign | None) -> ReturnModel | None:
    """:func:`resolve_selection` once the deprecated keywords are applied."""
    if selection is None or selection is False:
        return None
    if _fits_here(selection):
        return fit_selection(df, selection_formula, alpha=alpha, design=design)
    if not isinstance(selection, ReturnModel):
        raise TypeError(
            "selection must be a fitted probit ReturnModel (fit_selection(df)), True or None, "
            f"got {type(selection).__name__}"
        )
    if selection_formula is not None:
        raise error("give either a fitted selection model or selection_formula, not both")
    if selection.link != "probit":
        raise ReturnModelError(
            f"the selection correction needs a probit return model (a normal return error), "
            f"got the {selection.link} link; fit it with fit_selection(df) or "
            "fit_return_model(df, link='probit')"
        )
    return selection


class SelectionSample(NamedTuple):
    """What :func:`selection_sample` gives a second-stage fitter."""

    #: The reacquired customers the second stage is fitted on (checked).
    rows: pd.DataFrame
    #: The first-step probit, or None for the naive fit.
    first_step: ReturnModel | None
    #: Whether the probit was fitted here, on every row of the frame.
    fitted_here: bool


def selection_sample(
    df: pd.DataFrame,
    selection: SelectionArg,
    error: type[ModelError],
    *,
    outcome: str,
    check: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    unique_index: bool = False,
    correct_selection: bool | None = None,
    selection_formula: str | None = None,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
    caller: str = "the fitter",
) -> SelectionSample:
    """The rows a second-stage model is fitted on and its first step, checked in one place.

    With a ``reacquired`` column the rows are the returners (``reacquired == 1``). Without
    one they are the rows where ``outcome`` is known, which is only possible for the naive
    fit or a given probit: fitting the probit here (``selection=True``, the default) needs
    every lapsed customer with a 0/1 ``reacquired`` column. ``check`` validates the rows
    before the probit is fitted, so a bad outcome is reported without waiting for it.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table, one row per lapsed customer.
    selection, correct_selection, selection_formula, alpha, design, caller
        As :func:`resolve_selection`.
    error : exception class
        The calling model's error class.
    outcome : str
        The second stage's outcome column (the rows where it is known, without a
        ``reacquired`` column).
    check : callable, optional
        ``check(rows) -> rows``: validates (and may convert) the reacquired rows.
    unique_index : bool
        The probit fitted here must be matched to the rows by index label (the two-step
        covariance): refuse a duplicated index.

    Returns
    -------
    SelectionSample
        ``rows``, ``first_step`` (None: naive) and ``fitted_here``.

    Raises
    ------
    DataError
        No ``reacquired`` column when the probit is to be fitted here, or a duplicated
        index with ``unique_index``.
    ReturnModelError
        ``selection`` is not a probit.
    """
    selection = _deprecated(selection, correct_selection, selection_formula, error, caller)
    here = _fits_here(selection)
    if RETURN_OUTCOME in df.columns:
        rows = df[(df[RETURN_OUTCOME] == 1).to_numpy()]
    elif here:
        raise DataError(
            f"selection=True (the default) fits the return probit on every lapsed customer "
            f"and needs a 0/1 {RETURN_OUTCOME!r} column (returners and non-returners alike); "
            "pass selection=None for the naive fit on these rows, or a fitted return model",
            column=RETURN_OUTCOME, problem="missing_column",
        )
    else:
        rows = df[df[outcome].notna().to_numpy()]
    if check is not None:
        rows = check(rows)
    if here and unique_index and not df.index.is_unique:
        raise DataError("the selection correction needs a unique index on df",
                        problem="duplicate_index")
    first_step = _resolve(df, selection, error, selection_formula, alpha, design)
    return SelectionSample(rows, first_step, here)


def two_step_covariance(
    selection: ReturnModel,
    population: pd.DataFrame | None,
    exog: pd.DataFrame,
    resid: np.ndarray,
    params: pd.Series,
    selected: np.ndarray,
    control: str = CONTROL_COLUMN,
    data: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Robust covariance of an OLS second step that uses the probit's Mills ratio.

    Stacks the probit score ``g1_i`` and the OLS moment ``g2_i = d_i w_i (y_i - w_i'b)``
    (``w_i`` includes ``lambda(x_i'gamma)``) and returns the ``b`` block of the sandwich
    ``A^-1 B A^-T / n`` (Newey & McFadden 1994, section 6). It reduces to the HC0
    covariance when the probit is known; an HC1 factor ``m / (m - k)`` is applied
    (``m`` selected rows, ``k`` second-step coefficients).

    Parameters
    ----------
    selection : ReturnModel
        The fitted first step (probit link).
    population : pandas.DataFrame or None
        The frame the probit was fitted on (every lapsed customer); when given, the probit
        must have used every one of its rows.
    exog : pandas.DataFrame
        Second-step design (selected rows only, including the ``control`` column).
    resid : numpy.ndarray
        Second-step residuals, aligned with ``exog``.
    params : pandas.Series
        Second-step coefficients (names = ``exog`` columns).
    selected : numpy.ndarray
        Positions, within the probit's estimation sample, of the rows in ``exog`` (same
        order).
    control : str
        Name of the Mills-ratio column in ``exog``.
    data : pandas.DataFrame, optional
        The selected customers' data, aligned with ``exog``: their rows of the probit's
        design are rebuilt from it when the probit's own data were dropped
        (:meth:`ReturnModel.remove_data`).

    Returns
    -------
    pandas.DataFrame
        Covariance matrix of the second-step coefficients.
    """
    if selection.link != "probit":
        raise ModelError(f"the two-step covariance needs a probit first step, got "
                         f"{selection.link}")
    gamma = np.asarray(selection.results.params, dtype=float)
    n = selection.nobs
    if population is not None and n != len(population):
        raise ModelError(
            "the probit dropped rows with missing values; the two-step covariance needs the "
            "probit fitted on every row of the population frame"
        )
    if selection.data_removed and data is None:
        raise ModelError("the probit's estimation data were removed (remove_data()): pass "
                         "the selected customers' data to rebuild their design rows")
    # the probit's blocks, summed over every customer (kept by remove_data)
    h1, b11 = selection.score_blocks()
    y = selection.outcome_values()
    w = exog.to_numpy(dtype=float)
    m, k2 = w.shape
    k1 = gamma.size
    b = params.to_numpy(dtype=float)
    j = list(exog.columns).index(control)
    resid = np.asarray(resid, dtype=float)
    selected = np.asarray(selected)
    g2 = w * resid[:, None]  # the OLS moments, m x k2
    # the cross blocks over the selected rows, a chunk at a time: the probit's design rows
    # read from its design matrix, or rebuilt from their data once it was removed
    a21 = np.zeros((k2, k1))
    b12 = np.zeros((k1, k2))
    for i in range(0, m, _CHUNK_ROWS):
        rows = selected[i:i + _CHUNK_ROWS]
        xc = (selection.design_matrix(data.iloc[i:i + _CHUNK_ROWS])
              if selection.data_removed else
              np.asarray(selection.results.model.exog[rows], dtype=float))
        xb = xc @ gamma
        q = 2.0 * y[rows] - 1.0
        lam = q * inverse_mills_ratio(q * xb)  # the probit's score: lam_i x_i
        b12 += (xc * lam[:, None]).T @ g2[i:i + _CHUNK_ROWS]
        # d g2_i / d gamma' = dlam_i * (e_j * r_i - w_i * b_j) x_i'
        left = -w[i:i + _CHUNK_ROWS] * b[j]
        left[:, j] += resid[i:i + _CHUNK_ROWS]
        a21 += (left * _inverse_mills_derivative(xb)[:, None]).T @ xc
    a = np.zeros((k1 + k2, k1 + k2))
    a[:k1, :k1] = h1 / n
    a[k1:, :k1] = a21 / n
    a[k1:, k1:] = -(w.T @ w) / n
    bmat = np.zeros((k1 + k2, k1 + k2))
    bmat[:k1, :k1] = b11
    bmat[:k1, k1:] = b12
    bmat[k1:, :k1] = b12.T
    bmat[k1:, k1:] = g2.T @ g2
    bmat /= n
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
        ``summary`` tables of the two fits (columns ``coef``, ``ci_low``, ``ci_high``,
        indexed by term).
    terms : sequence of str, optional
        Terms to show; default every term in ``truth`` that both fits estimated.

    Returns
    -------
    pandas.DataFrame
        Per term: ``truth``; ``naive`` and ``corrected`` estimates; ``naive_bias`` and
        ``corrected_bias`` (estimate minus truth); ``naive_covers`` and
        ``corrected_covers`` (truth inside the fit's interval); ``closer`` (True when the
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
        out[f"{name}_covers"] = (tab["ci_low"] <= out["truth"]) & (out["truth"] <= tab["ci_high"])
    out["closer"] = out["corrected_bias"].abs() < out["naive_bias"].abs()
    out.index.name = "term"
    return out[["truth", "naive", "corrected", "naive_bias", "corrected_bias",
                "naive_covers", "corrected_covers", "closer"]]
