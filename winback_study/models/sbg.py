"""Shifted-beta-geometric (sBG) model of contractual retention.

Implements the model of Fader & Hardie (2007), "How to Project Customer Retention",
*Journal of Interactive Marketing* 21(1), 76-90, and the discounted expected residual
lifetime (DERL) of Fader & Hardie (2010), "Customer-Base Valuation in a Contractual
Setting: The Perils of Ignoring Heterogeneity", *Marketing Science* 29(1), 85-93.

Model
-----
Each customer renews at the end of every period with her own probability ``1 - theta``
until she churns, so her lifetime ``T`` (the period in which she is lost) is geometric given
``theta``. Across customers ``theta ~ Beta(alpha, beta)``. With ``B`` the beta function:

* ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``, ``t = 1, 2, ...``;
* ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)``, ``t = 0, 1, ...``;
* retention ``r_t = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)``, which
  rises with tenure because the customers most likely to churn leave first.

Data are the survivors ``n_0, n_1, ..., n_T`` of one cohort at the start of periods
``0..T``. The ``n_{t-1} - n_t`` customers lost in period ``t`` contribute ``P(T = t)`` to
the likelihood and the ``n_T`` still active contribute ``S(T)``.

Examples
--------
>>> from winback_study.models.sbg import fit_sbg
>>> regular = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
>>> fit = fit_sbg(regular, periods=7)   # calibrate on years 1-7, keep 8-12 as holdout
>>> round(fit.alpha, 3), round(fit.beta, 3)
(0.704, 1.182)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special

from winback_study.core.results import FittedResult, check_alpha
from winback_study.errors import ConvergenceError, DataError, ModelError, SBGBoundaryError

__all__ = [
    "SBGResult",
    "SBGBoundaryError",
    "GeometricResult",
    "fit_sbg",
    "fit_geometric",
    "sbg_clv",
    "survivor_counts",
    "monthly_survival",
]

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Bounds on log(alpha) and log(beta) during the search. An estimate that ends on one of
# them means the maximum-likelihood estimate does not exist (e.g. nobody ever churns).
_LOG_BOUND = 15.0


def _position_label(index: pd.Index, i: int) -> str:
    """Describe position ``i`` of ``index`` for error messages."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return f"position {i} (period {i})"
    return f"position {i} (index label {index[i]!r}, period {i})"


def _validate_survivors(survivors: Any) -> pd.Series:
    """Check survivor counts and return them as an int64 Series indexed by period."""
    if isinstance(survivors, pd.DataFrame):
        raise DataError(
            "survivors must be one-dimensional (a list, array or Series), got a DataFrame"
        )
    try:
        ndim = np.ndim(survivors)
    except ValueError:  # ragged nested sequences
        ndim = -1
    if ndim == -1:
        raise DataError("survivors must be a flat, one-dimensional sequence of counts")
    if isinstance(survivors, (str, bytes)) or ndim == 0:
        raise DataError(
            "survivors must be a sequence of survivor counts for periods 0..T, "
            f"got {type(survivors).__name__}"
        )
    if isinstance(survivors, pd.Series):
        index = survivors.index
        values = list(survivors.to_numpy(dtype=object))
    else:
        arr = np.asarray(survivors, dtype=object)
        if arr.ndim != 1:
            raise DataError(
                f"survivors must be one-dimensional, got an array of shape {arr.shape}"
            )
        values = list(arr)
        index = pd.RangeIndex(len(values))

    if len(values) < 3:
        raise DataError(
            "survivors needs counts for at least 3 periods (0, 1 and 2), "
            f"got {len(values)} value(s)"
        )

    counts: list[int] = []
    for i, v in enumerate(values):
        where = _position_label(index, i)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (Real, np.number)):
            raise DataError(f"survivors at {where} is not a number: {v!r}")
        x = float(v)
        if not math.isfinite(x):
            raise DataError(f"survivors at {where} is not finite: {v!r}")
        if x < 0:
            raise DataError(f"survivors at {where} is negative: {v!r}")
        if x != math.floor(x):
            raise DataError(f"survivors at {where} is not a whole number: {v!r}")
        counts.append(int(x))

    if counts[0] <= 0:
        raise DataError(
            f"survivors at {_position_label(index, 0)} is the cohort size and must be "
            f"greater than 0, got {counts[0]}"
        )
    for i in range(1, len(counts)):
        if counts[i] > counts[i - 1]:
            raise DataError(
                f"survivors must be non-increasing, but the value at {_position_label(index, i)} "
                f"({counts[i]}) is larger than the value before it ({counts[i - 1]})"
            )
    return pd.Series(
        np.asarray(counts, dtype=np.int64),
        index=pd.RangeIndex(len(counts), name="period"),
        name="survivors",
    )


def _as_periods(t: ArrayLike, minimum: int, name: str = "t") -> np.ndarray:
    """Integer-valued periods ``>= minimum`` as a float array (any shape)."""
    arr = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} must be finite")
    if np.any(arr != np.floor(arr)):
        raise DataError(f"{name} must be whole numbers of periods")
    if np.any(arr < minimum):
        raise DataError(f"{name} must be >= {minimum}, got minimum {arr.min():g}")
    return arr


def _scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    return float(x) if x.ndim == 0 else x


def _neg_log_likelihood(
    log_params: np.ndarray, lost: np.ndarray, n_active: int, n_periods: int
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and its gradient in (log alpha, log beta)."""
    a, b = np.exp(log_params)
    t = np.arange(1, n_periods + 1, dtype=float)
    lb0 = special.betaln(a, b)
    log_p = special.betaln(a + 1.0, b + t - 1.0) - lb0
    log_s = special.betaln(a, b + n_periods) - lb0
    ll = float(np.dot(lost, log_p) + n_active * log_s)

    # d/dx betaln(x, y) = psi(x) - psi(x + y); d/dy betaln(x, y) = psi(y) - psi(x + y)
    psi_ab = special.digamma(a + b)
    d0a = special.digamma(a) - psi_ab
    d0b = special.digamma(b) - psi_ab
    psi_p = special.digamma(a + b + t)
    dpa = special.digamma(a + 1.0) - psi_p - d0a
    dpb = special.digamma(b + t - 1.0) - psi_p - d0b
    psi_s = special.digamma(a + b + n_periods)
    dsa = special.digamma(a) - psi_s - d0a
    dsb = special.digamma(b + n_periods) - psi_s - d0b
    grad_a = float(np.dot(lost, dpa) + n_active * dsa)
    grad_b = float(np.dot(lost, dpb) + n_active * dsb)
    # chain rule for the log parameterisation
    return -ll, -np.array([grad_a * a, grad_b * b])


def _hessian(a: float, b: float, lost: np.ndarray, n_active: int, n_periods: int) -> np.ndarray:
    """Hessian of the log-likelihood in (alpha, beta)."""
    t = np.arange(1, n_periods + 1, dtype=float)

    def betaln_hess(x: Any, y: Any) -> tuple[Any, Any, Any]:
        c = special.polygamma(1, x + y)
        return special.polygamma(1, x) - c, -c, special.polygamma(1, y) - c

    h0 = betaln_hess(a, b)
    hp = betaln_hess(a + 1.0, b + t - 1.0)
    hs = betaln_hess(a, b + n_periods)
    total = float(lost.sum() + n_active)
    parts = [
        float(np.dot(lost, hp[k])) + n_active * float(hs[k]) - total * float(h0[k])
        for k in range(3)
    ]
    return np.array([[parts[0], parts[1]], [parts[1], parts[2]]])


class _CohortResult(FittedResult):
    """What a retention model fitted to one cohort's survivor counts reports."""

    survivors: pd.Series
    log_likelihood: float

    @property
    def nobs(self) -> int:
        """Customers in the cohort (the first survivor count; 0 if not fitted)."""
        return int(self.survivors.iloc[0]) if len(self.survivors) else 0

    @property
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood on the calibration periods (NaN if not fitted)."""
        return float(self.log_likelihood)

    def plot_projection(self, periods: int | None = None, ax: Axes | None = None) -> Axes:
        """Observed and expected survivors by period
        (:func:`winback_study.plotting.charts.plot_retention`)."""
        from winback_study.plotting.charts import plot_retention

        return plot_retention(self, periods=periods, ax=ax)


@dataclass(frozen=True, repr=False)
class SBGResult(_CohortResult):
    """A fitted (or specified) shifted-beta-geometric retention model.

    Usually created by :func:`fit_sbg`; it can also be built directly from published
    parameters, e.g. ``SBGResult(alpha=0.704, beta=1.182)``, to project or value a cohort.
    Follows the package's result convention (:class:`~winback_study.core.results.
    FittedResult`): ``summary`` has one row per model parameter, ``alpha`` and ``beta``
    (standard errors from the observed information; Wald intervals on the log scale, so
    they stay above zero; NaN for a result that was not fitted). The model's ``alpha`` is
    not the interval level: that is ``confidence_level``.

    Attributes
    ----------
    alpha, beta : float
        Parameters of the beta distribution of the per-period churn probability.
    log_likelihood : float
        Maximised log-likelihood on the calibration periods (NaN if not fitted); also
        ``log_likelihood_``.
    n_periods : int
        Number of calibration periods ``T`` (survivor counts for periods ``0..T`` were used).
    survivors : pandas.Series
        The survivor counts given to :func:`fit_sbg`, indexed by period, including any
        holdout periods beyond ``n_periods``.
    """

    alpha: float
    beta: float
    log_likelihood: float = float("nan")
    n_periods: int = 0
    survivors: pd.Series = field(
        compare=False,
        default_factory=lambda: pd.Series(
            [], dtype=np.int64, index=pd.RangeIndex(0, name="period"), name="survivors"
        ),
    )
    _covariance: np.ndarray | None = field(default=None, compare=False)
    _alpha: float = field(default=0.05, compare=False)

    equation = "retention"
    #: Both parameters are positive: their intervals are Wald intervals of log(alpha), log(beta).
    interval_scales = MappingProxyType({"alpha": "log", "beta": "log"})

    def __post_init__(self) -> None:
        check_alpha(self._alpha)
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not (isinstance(value, (Real, np.number)) and math.isfinite(value) and value > 0):
                raise ModelError(f"{name} must be a finite number greater than 0, got {value!r}")

    # ------------------------------------------------------------------ model quantities
    def survival(self, t: ArrayLike) -> float | np.ndarray:
        """Probability of still being a customer at the start of period ``t``, ``S(t)``.

        Parameters
        ----------
        t : int or array-like of int
            Period(s), ``t >= 0``. ``S(0) = 1``.

        Returns
        -------
        float or numpy.ndarray
            ``B(alpha, beta + t) / B(alpha, beta)``, same shape as ``t``.
        """
        tt = _as_periods(t, 0)
        out = np.exp(
            special.betaln(self.alpha, self.beta + tt) - special.betaln(self.alpha, self.beta)
        )
        return _scalar_or_array(np.where(tt == 0, 1.0, out))

    def probability_churn(self, t: ArrayLike) -> float | np.ndarray:
        """Probability that a new customer is lost in period ``t``, ``P(T = t)``.

        Parameters
        ----------
        t : int or array-like of int
            Period(s), ``t >= 1``.

        Returns
        -------
        float or numpy.ndarray
            ``B(alpha + 1, beta + t - 1) / B(alpha, beta)``, same shape as ``t``.
        """
        tt = _as_periods(t, 1)
        out = np.exp(
            special.betaln(self.alpha + 1.0, self.beta + tt - 1.0)
            - special.betaln(self.alpha, self.beta)
        )
        return _scalar_or_array(out)

    def retention(self, t: ArrayLike) -> float | np.ndarray:
        """Retention rate in period ``t``, ``r_t = S(t) / S(t - 1)``.

        Parameters
        ----------
        t : int or array-like of int
            Period(s), ``t >= 1``.

        Returns
        -------
        float or numpy.ndarray
            ``(beta + t - 1) / (alpha + beta + t - 1)``, same shape as ``t``.
        """
        tt = _as_periods(t, 1)
        return _scalar_or_array((self.beta + tt - 1.0) / (self.alpha + self.beta + tt - 1.0))

    def project(self, periods: int) -> pd.DataFrame:
        """Expected survivors and retention for periods ``0..periods``.

        Parameters
        ----------
        periods : int
            Last period to project (``>= 1``).

        Returns
        -------
        pandas.DataFrame
            Columns ``period``; ``observed`` (the survivor counts given to :func:`fit_sbg`,
            holdout included, NaN beyond the data); ``expected`` (cohort size times
            ``S(t)``); ``retention`` (``r_t``, NaN for period 0).
        """
        if isinstance(periods, (bool, np.bool_)) or not isinstance(periods, (Integral, np.integer)):
            raise DataError(f"periods must be an integer, got {periods!r}")
        if periods < 1:
            raise DataError(f"periods must be >= 1, got {periods}")
        if len(self.survivors) == 0:
            raise ModelError(
                "project needs the cohort size, but this result has no survivor counts; "
                "fit it with fit_sbg or pass survivors when building SBGResult"
            )
        t = np.arange(int(periods) + 1)
        observed = self.survivors.reindex(t).to_numpy(dtype=float)
        retention = np.full(t.shape, np.nan)
        retention[1:] = self.retention(t[1:])
        return pd.DataFrame(
            {
                "period": t,
                "observed": observed,
                "expected": float(self.survivors.iloc[0]) * self.survival(t),
                "retention": retention,
            }
        )

    def derl(self, discount_rate: ArrayLike, renewals: ArrayLike = 0) -> float | np.ndarray:
        """Discounted expected residual lifetime (Fader & Hardie 2010).

        Follows the paper's timing exactly. Payments are made at the start of each period
        (at acquisition, then at each renewal). We value a customer who has made
        ``renewals = n - 1`` renewals, standing at the end of her ``n``-th period, just
        before her ``n``-th renewal decision. DERL is the expected discounted number of her
        *future* payments, the first of which (the ``n``-th renewal, made with probability
        ``S(n) / S(n - 1)``) is not discounted::

            DERL = sum_{t >= n} [S(t) / S(n - 1)] / (1 + d) ** (t - n)
                 = (beta + n - 1) / (alpha + beta + n - 1)
                   * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))

        So ``renewals=0`` is a customer one period after acquisition, about to decide on
        her first renewal; the acquisition payment is already received and not counted.

        Parameters
        ----------
        discount_rate : float or array-like
            Per-period discount rate ``d >= 0``. With ``d = 0`` the result is the expected
            number of further payments, which is infinite when ``alpha <= 1``.
        renewals : int or array-like of int
            Number of renewals already made, ``n - 1 >= 0``.

        Returns
        -------
        float or numpy.ndarray
            DERL, broadcast over ``discount_rate`` and ``renewals``.
        """
        d = np.asarray(discount_rate, dtype=float)
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise DataError("discount_rate must be finite and >= 0")
        n = _as_periods(renewals, 0, "renewals") + 1.0
        a, b = self.alpha, self.beta
        out = (
            (b + n - 1.0)
            / (a + b + n - 1.0)
            * special.hyp2f1(1.0, b + n, a + b + n, 1.0 / (1.0 + d))
        )
        return _scalar_or_array(np.asarray(out, dtype=float))

    # ------------------------------------------------------------------ the convention
    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        """Estimates and standard errors from the observed information (inverse Hessian)."""
        if self._covariance is not None:
            se = np.sqrt(np.clip(np.diag(self._covariance), 0.0, None))
        else:
            se = np.full(2, np.nan)
        index = ["alpha", "beta"]
        return pd.Series([self.alpha, self.beta], index=index), pd.Series(se, index=index)

    def _header(self) -> list[tuple[str, str]]:
        return [("specification", "shifted-beta-geometric (Fader & Hardie 2007)"),
                ("calibration periods", f"1..{self.n_periods}")]

    def _footer(self) -> list[str]:
        return [f"churn probability ~ Beta(alpha, beta); mean churn in period 1: "
                f"{self.alpha / (self.alpha + self.beta):.4f}"]

    def __repr__(self) -> str:
        cohort = int(self.survivors.iloc[0]) if len(self.survivors) else None
        return (
            f"SBGResult(alpha={self.alpha:.4g}, beta={self.beta:.4g}, "
            f"log_likelihood={self.log_likelihood:.6g}, n_periods={self.n_periods}, "
            f"cohort_size={cohort})"
        )


def fit_sbg(survivors: ArrayLike | pd.Series, *, periods: int | None = None,
            alpha: float = 0.05) -> SBGResult:
    """Fit the sBG model to one cohort's survivor counts by maximum likelihood.

    Unlike the package's regression fitters this takes counts, not a customer frame: build
    them from individual lifetimes with :func:`survivor_counts`.

    Parameters
    ----------
    survivors : array-like or pandas.Series
        Number of customers still active at the start of periods ``0, 1, ..., T``; the
        first value is the cohort size. Must be whole, non-negative, non-increasing
        numbers, at least 3 of them, with a positive first value.
    periods : int, optional
        Calibrate on periods ``1..periods`` only (survivor counts ``0..periods``); later
        counts are kept as a holdout and appear in :meth:`SBGResult.project`. Default: all.
    alpha : float
        1 - confidence level of the intervals in ``summary`` (not the model's ``alpha``).

    Returns
    -------
    SBGResult

    Raises
    ------
    DataError
        If the counts or ``periods`` are invalid; the message names the offending position.
    ModelError
        If the maximum-likelihood estimate does not exist because no customer churned.
    SBGBoundaryError
        If the likelihood is maximised at the geometric limit (``.geometric`` holds it).
    ConvergenceError
        If the optimiser fails or runs to the edge of the parameter space.
    """
    alpha = check_alpha(alpha)
    series = _validate_survivors(survivors)
    n_available = len(series) - 1
    if periods is None:
        n_periods = n_available
    else:
        if isinstance(periods, (bool, np.bool_)) or not isinstance(periods, (Integral, np.integer)):
            raise DataError(f"periods must be an integer, got {periods!r}")
        if not 2 <= periods <= n_available:
            raise DataError(
                f"periods must be between 2 and {n_available} (the last period in survivors), "
                f"got {periods}"
            )
        n_periods = int(periods)

    counts = series.to_numpy(dtype=float)[: n_periods + 1]
    lost = counts[:-1] - counts[1:]
    n_active = float(counts[-1])
    if lost.sum() == 0:
        raise ModelError(
            "cannot fit the sBG model: no customer churned in the calibration periods, "
            "so the maximum-likelihood estimate does not exist"
        )

    try:
        res = optimize.minimize(
            _neg_log_likelihood,
            x0=np.zeros(2),
            args=(lost, n_active, n_periods),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 2,
            options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000},
        )
    except (FloatingPointError, ValueError, OverflowError) as exc:  # pragma: no cover
        raise ConvergenceError(f"sBG optimisation failed: {exc}") from None
    failed = not res.success or not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun)
    at_edge = not failed and bool(np.any(np.abs(res.x) >= _LOG_BOUND - 1e-6))
    # alpha + beta this large is the geometric limit in all but name
    near_limit = not failed and float(np.sum(np.exp(res.x))) > 1e5
    if failed or at_edge or near_limit:
        _raise_if_geometric_limit(counts, res, alpha)
    if failed:
        raise ConvergenceError(f"sBG optimisation did not converge: {res.message}")
    if at_edge:
        raise ConvergenceError(
            "sBG optimisation ran to the edge of the parameter space (alpha or beta near 0 or "
            "infinity); the maximum-likelihood estimate does not exist for these data"
        )

    a, b = (float(v) for v in np.exp(res.x))
    covariance: np.ndarray | None
    try:
        covariance = np.linalg.inv(-_hessian(a, b, lost, n_active, n_periods))
    except np.linalg.LinAlgError:
        covariance = None
    return SBGResult(
        alpha=a,
        beta=b,
        log_likelihood=-float(res.fun),
        n_periods=n_periods,
        survivors=series,
        _covariance=covariance,
        _alpha=alpha,
    )


def sbg_clv(
    result: SBGResult, margin: ArrayLike, discount_rate: ArrayLike, renewals: ArrayLike = 0
) -> float | np.ndarray:
    """Expected residual lifetime value, ``margin * DERL`` (Fader & Hardie 2010).

    Parameters
    ----------
    result : SBGResult
        Fitted or specified sBG model.
    margin : float or array-like
        Net cash flow per payment (per period).
    discount_rate : float or array-like
        Per-period discount rate ``d >= 0``.
    renewals : int or array-like of int
        Renewals already made (``n - 1``); see :meth:`SBGResult.derl` for the timing.

    Returns
    -------
    float or numpy.ndarray
        Value of the customer's future payments, at the time of her next renewal decision.
    """
    m = np.asarray(margin, dtype=float)
    out = m * np.asarray(result.derl(discount_rate, renewals), dtype=float)
    return _scalar_or_array(np.asarray(out))


# ---------------------------------------------------------------------- boundary: geometric
@dataclass(frozen=True, repr=False)
class GeometricResult(_CohortResult):
    """Constant-churn (geometric) retention: the sBG model's no-heterogeneity limit.

    As ``alpha, beta -> infinity`` with ``alpha / (alpha + beta) = p`` fixed, the sBG model
    becomes a geometric lifetime with the same churn probability ``p`` every period. When
    observed retention does not rise with tenure, the sBG likelihood is maximised in this
    limit (:class:`SBGBoundaryError`). Same interface as :class:`SBGResult`.

    Attributes
    ----------
    churn : float
        Churn probability per period, ``0 < churn < 1``.
    log_likelihood : float
        Maximised log-likelihood on the calibration periods (NaN if not fitted).
    n_periods : int
        Calibration periods.
    survivors : pandas.Series
        Survivor counts given to :func:`fit_geometric`.
    exposure : float
        Customer-periods at risk in the calibration periods (for the standard error).

    ``summary`` has one row, ``churn``, with its binomial standard error and a Wald interval
    on the logit scale (it stays between 0 and 1).
    """

    churn: float
    log_likelihood: float = float("nan")
    n_periods: int = 0
    survivors: pd.Series = field(
        compare=False,
        default_factory=lambda: pd.Series(
            [], dtype=np.int64, index=pd.RangeIndex(0, name="period"), name="survivors"
        ),
    )
    exposure: float = float("nan")
    _alpha: float = field(default=0.05, compare=False)

    equation = "retention"
    #: A probability: its interval is the Wald interval of logit(churn).
    interval_scales = MappingProxyType({"churn": "logit"})

    def __post_init__(self) -> None:
        check_alpha(self._alpha)
        p = self.churn
        if not (isinstance(p, (Real, np.number)) and 0 < p < 1):
            raise ModelError(f"churn must be a number strictly between 0 and 1, got {p!r}")

    def survival(self, t: ArrayLike) -> float | np.ndarray:
        """``S(t) = (1 - churn) ** t``, ``t >= 0``."""
        return _scalar_or_array((1.0 - self.churn) ** _as_periods(t, 0))

    def probability_churn(self, t: ArrayLike) -> float | np.ndarray:
        """``P(T = t) = churn * (1 - churn) ** (t - 1)``, ``t >= 1``."""
        tt = _as_periods(t, 1)
        return _scalar_or_array(self.churn * (1.0 - self.churn) ** (tt - 1.0))

    def retention(self, t: ArrayLike) -> float | np.ndarray:
        """Constant retention ``1 - churn``, ``t >= 1``."""
        tt = _as_periods(t, 1)
        return _scalar_or_array(np.full(tt.shape, 1.0 - self.churn))

    def project(self, periods: int) -> pd.DataFrame:
        """Expected survivors and retention for periods ``0..periods`` (as :class:`SBGResult`)."""
        return SBGResult.project(self, periods)  # type: ignore[arg-type]

    def derl(self, discount_rate: ArrayLike, renewals: ArrayLike = 0) -> float | np.ndarray:
        """Discounted expected residual lifetime, same timing as :meth:`SBGResult.derl`.

        ``sum_{t >= n} (1 - p) ** (t - n + 1) / (1 + d) ** (t - n) = (1 - p)(1 + d) / (d + p)``,
        the same for every ``renewals`` (no heterogeneity, so no sorting with tenure).
        """
        d = np.asarray(discount_rate, dtype=float)
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise DataError("discount_rate must be finite and >= 0")
        n = _as_periods(renewals, 0, "renewals")
        p = self.churn
        out = (1.0 - p) * (1.0 + d) / (d + p) + 0.0 * n
        return _scalar_or_array(np.asarray(out, dtype=float))

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        p = self.churn
        se = math.sqrt(p * (1 - p) / self.exposure) if self.exposure > 0 else float("nan")
        return pd.Series([p], index=["churn"]), pd.Series([se], index=["churn"])

    def _header(self) -> list[tuple[str, str]]:
        return [("specification", "geometric (constant churn)"),
                ("calibration periods", f"1..{self.n_periods}")]

    def __repr__(self) -> str:
        cohort = int(self.survivors.iloc[0]) if len(self.survivors) else None
        return (
            f"GeometricResult(churn={self.churn:.4g}, log_likelihood="
            f"{self.log_likelihood:.6g}, n_periods={self.n_periods}, cohort_size={cohort})"
        )


def _geometric_fit(counts: np.ndarray) -> tuple[float, float, float]:
    """Geometric MLE on survivor counts: (churn, log-likelihood, exposure)."""
    lost = counts[:-1] - counts[1:]
    exposure = float(counts[:-1].sum())
    d = float(lost.sum())
    p = d / exposure
    if p <= 0 or p >= 1:
        return p, float("-inf"), exposure
    ll = d * math.log(p) + (exposure - d) * math.log1p(-p)
    return p, ll, exposure


def _raise_if_geometric_limit(counts: np.ndarray, res: optimize.OptimizeResult,
                              alpha: float = 0.05) -> None:
    """Raise :class:`SBGBoundaryError` when the geometric limit fits at least as well."""
    p, ll_geo, exposure = _geometric_fit(counts)
    ll_sbg = -float(res.fun) if np.isfinite(res.fun) else float("-inf")
    if not np.isfinite(ll_geo) or ll_sbg > ll_geo + 1e-7 * abs(ll_geo):
        return
    retention = counts[1:] / counts[:-1]
    shown = ", ".join(f"{r:.2f}" for r in retention[:8]) + (" ..." if len(retention) > 8 else "")
    geometric = GeometricResult(
        churn=p, log_likelihood=ll_geo, n_periods=len(counts) - 1,
        survivors=pd.Series(counts.astype(np.int64), index=pd.RangeIndex(len(counts),
                            name="period"), name="survivors"),
        exposure=exposure, _alpha=alpha,
    )
    raise SBGBoundaryError(
        "sBG optimisation ran to the edge of the parameter space: the likelihood is maximised "
        "as alpha and beta go to infinity, the model's no-heterogeneity limit. Observed "
        f"retention does not rise with tenure (r_1, r_2, ... = {shown}), and the sBG model can "
        "only make retention rise (heterogeneous customers, the riskiest leaving first). Its "
        f"limit is a geometric model with constant churn {p:.4f} per period (this error's "
        "`.geometric`, or fit_geometric); a survival model whose hazard can rise with tenure "
        "(e.g. Weibull) describes such data better.",
        geometric,
    )


def fit_geometric(survivors: ArrayLike | pd.Series, *, periods: int | None = None,
                  alpha: float = 0.05) -> GeometricResult:
    """Fit the constant-churn (geometric) model to survivor counts by maximum likelihood.

    Takes counts, not a customer frame (as :func:`fit_sbg`).

    Parameters
    ----------
    survivors : array-like or pandas.Series
        Survivor counts for periods ``0..T`` (validated as in :func:`fit_sbg`).
    periods : int, optional
        Calibrate on periods ``1..periods`` only.
    alpha : float
        1 - confidence level of the interval in ``summary``.

    Returns
    -------
    GeometricResult
        ``churn = customers lost / customer-periods at risk``.

    Raises
    ------
    DataError
        Invalid counts or ``periods``.
    ModelError
        Nobody (or everybody) churned in the calibration periods.
    """
    alpha = check_alpha(alpha)
    series = _validate_survivors(survivors)
    n_available = len(series) - 1
    n_periods = n_available if periods is None else int(periods)
    if not 1 <= n_periods <= n_available:
        raise DataError(f"periods must be between 1 and {n_available}, got {periods}")
    counts = series.to_numpy(dtype=float)[: n_periods + 1]
    p, ll, exposure = _geometric_fit(counts)
    if not 0 < p < 1:
        raise ModelError(
            f"cannot fit a geometric model: the churn estimate is {p:g} (nobody or everybody "
            "churned in the calibration periods)"
        )
    return GeometricResult(churn=p, log_likelihood=ll, n_periods=n_periods, survivors=series,
                           exposure=exposure, _alpha=alpha)


# ---------------------------------------------------------------------- from censored data
def survivor_counts(
    durations: ArrayLike,
    events: ArrayLike | None = None,
    period: float = 12.0,
    n_periods: int | None = None,
    method: str = "km",
    follow_up: ArrayLike | None = None,
) -> pd.Series:
    """Survivor counts per period from individual (possibly censored) lifetimes.

    A customer is a survivor at the start of period ``k`` when she is still a customer
    ``k * period`` months after joining (``duration > k * period`` for a churned spell).
    Censored spells must never be counted as churn, so two honest constructions are offered:

    * ``method="complete"``: only customers whose possible follow-up covers all
      ``n_periods`` periods (``follow_up >= n_periods * period``) form the cohort; for them
      nobody's status is unknown. Exact counts, a smaller (and earlier-starting) cohort.
    * ``method="km"``: every spell; the cohort size times the Kaplan-Meier survival at
      ``k * period``, rounded. Uses all data, but the counts are estimates that the sBG
      likelihood treats as exact (its standard errors are then a little too small).

    Parameters
    ----------
    durations : array-like
        Observed lifetime lengths (months), > 0.
    events : array-like, optional
        1 = churned, 0 = censored; default all 1 (complete lifetimes).
    period : float
        Period length in the units of ``durations`` (12 = years from months).
    n_periods : int, optional
        Number of periods. Default: as many full periods as the data cover (the longest
        follow-up for ``complete``; the longest observed spell for ``km``).
    method : {"km", "complete"}
        See above.
    follow_up : array-like, optional
        For ``complete`` with censoring: the longest each customer could have been observed
        (e.g. months from reacquisition to the end of the window).

    Returns
    -------
    pandas.Series
        Non-increasing integer survivor counts indexed by period ``0..n_periods``, ready
        for :func:`fit_sbg`.
    """
    t = np.asarray(durations, dtype=float)
    e = np.ones_like(t) if events is None else np.asarray(events, dtype=float)
    if t.ndim != 1 or e.shape != t.shape:
        raise DataError("durations and events must be one-dimensional and of equal length")
    if len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise DataError("durations must be a non-empty array of positive, finite numbers")
    if not np.all(np.isin(e, (0.0, 1.0))):
        raise DataError("events must be 0 (censored) or 1 (churned)")
    if period <= 0:
        raise DataError(f"period must be positive, got {period}")
    censored = e == 0
    if method == "complete":
        if follow_up is None:
            if censored.any():
                raise DataError(
                    "method='complete' with censored spells needs follow_up (how long each "
                    "customer could have been observed)"
                )
            fu = np.full_like(t, np.inf)
        else:
            fu = np.asarray(follow_up, dtype=float)
            if fu.shape != t.shape:
                raise DataError("follow_up must have the same length as durations")
        if n_periods is None:
            longest = float(np.max(np.where(np.isfinite(fu), fu, t)))
            n_periods = int(longest // period)
        keep = fu >= n_periods * period
        if keep.sum() == 0:
            raise DataError(f"no customer has {n_periods} full periods of follow-up")
        if np.any(censored[keep] & (t[keep] < n_periods * period)):
            raise DataError(
                "a spell censored before the end of its follow-up: follow_up does not match "
                "the censoring times"
            )
        tk, ck = t[keep], censored[keep]
        edges = np.arange(n_periods + 1) * period
        # churned: still a customer at k * period if duration > k * period;
        # censored at c >= horizon: a customer through c, so at every edge <= c.
        alive = np.where(ck[:, None], tk[:, None] >= edges, tk[:, None] > edges)
        counts = alive.sum(axis=0)
    elif method == "km":
        from lifelines import KaplanMeierFitter

        if n_periods is None:
            n_periods = int(np.max(t) // period)
        if n_periods < 1:
            raise DataError("the spells do not cover one full period")
        kmf = KaplanMeierFitter().fit(t, e)
        edges = np.arange(n_periods + 1) * period
        if edges[-1] > np.max(t):
            raise DataError(
                f"n_periods={n_periods} reaches beyond the longest observed spell "
                f"({np.max(t):g}); Kaplan-Meier is not defined there"
            )
        s = kmf.survival_function_at_times(edges).to_numpy()
        counts = np.round(len(t) * s)
    else:
        raise ModelError(f"method must be 'km' or 'complete', got {method!r}")
    return pd.Series(np.asarray(counts, dtype=np.int64),
                     index=pd.RangeIndex(n_periods + 1, name="period"), name="survivors")


def monthly_survival(
    result: SBGResult | GeometricResult, months: ArrayLike, period_months: float = 12.0
) -> np.ndarray:
    """Survival at any month from a per-period retention model (constant hazard within a period).

    ``S(m) = S(k) * r_{k+1} ** f`` for ``m = (k + f) * period_months``, ``0 <= f < 1``: the
    period's retention is spread evenly (geometrically) over its months.

    Parameters
    ----------
    result : SBGResult or GeometricResult
        A fitted retention model in periods of ``period_months`` months.
    months : array-like
        Months (>= 0; fractions allowed).
    period_months : float
        Months per period of ``result``.

    Returns
    -------
    numpy.ndarray
        ``S(months)``, same shape as ``months``.
    """
    m = np.asarray(months, dtype=float)
    if np.any(m < 0) or not np.all(np.isfinite(m)):
        raise DataError("months must be finite and >= 0")
    k = np.floor(m / period_months)
    f = m / period_months - k
    return np.asarray(result.survival(k), dtype=float) * np.asarray(
        result.retention(k + 1), dtype=float
    ) ** f
