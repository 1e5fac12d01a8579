"""Discounting: the one definition of a lifetime's value (CLV and SLV).

* margins are earned at the **end of each month** a customer is active;
* they are discounted at a monthly rate ``d = (1 + annual_rate) ** (1 / 12) - 1``
  (default annual rate 10%);
* the value of a lifetime of ``T`` months with monthly margin ``m`` is
  ``m * (1 - (1 + d) ** -T) / d`` (``m * T`` when the rate is zero), discounted to the
  month the lifetime starts, with **no horizon cap**;
* from a survival curve ``S``: ``E[value] = m * sum_{t >= 1} S(t - 1) / (1 + d) ** t``
  (:func:`expected_lifetime_value`), equal to :func:`lifetime_value` for a known ``T``.

The simulator and the value analyses (:mod:`winback_study.analysis.customer_value`) both
use these functions, so there is one definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from winback_study.errors import DataError

__all__ = [
    "ANNUAL_DISCOUNT_RATE",
    "DEFAULT_HORIZON_MONTHS",
    "monthly_rate",
    "annuity_factor",
    "lifetime_value",
    "expected_annuity",
    "expected_lifetime_value",
]

#: Months over which expected values are summed from a survival curve (50 years).
DEFAULT_HORIZON_MONTHS: int = 600

#: Default annual discount rate for every value in the package.
ANNUAL_DISCOUNT_RATE: float = 0.10


def monthly_rate(annual_rate: float = ANNUAL_DISCOUNT_RATE) -> float:
    """Monthly discount rate equivalent to ``annual_rate`` (compounded monthly).

    Parameters
    ----------
    annual_rate : float
        Annual discount rate, e.g. ``0.10`` for 10%. Must be greater than -1.
    """
    if not annual_rate > -1:
        raise DataError(f"annual_rate must be greater than -1, got {annual_rate}")
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


def annuity_factor(months: ArrayLike, annual_rate: float = ANNUAL_DISCOUNT_RATE) -> np.ndarray:
    """Present value of $1 earned at the end of each of ``months`` months.

    Parameters
    ----------
    months : array-like
        Lifetime length in months (non-negative; fractions allowed).
    annual_rate : float
        Annual discount rate.

    Returns
    -------
    numpy.ndarray
        ``(1 - (1 + d) ** -months) / d``, or ``months`` when the rate is zero.
    """
    t = np.asarray(months, dtype=float)
    d = monthly_rate(annual_rate)
    if d == 0.0:
        return t.copy()
    # -expm1(-t * log1p(d)) / d, computed in one buffer (bitwise the same)
    out = np.multiply(t, -np.log1p(d), out=np.empty_like(t))
    np.expm1(out, out=out)
    out /= -d
    return out if out.ndim else out[()]


def lifetime_value(
    monthly_margin: ArrayLike,
    months: ArrayLike,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
) -> np.ndarray:
    """Discounted value of a lifetime: ``monthly_margin * annuity_factor(months)``.

    This is CLV for a first lifetime and SLV for a second one (see the module docstring).

    Parameters
    ----------
    monthly_margin : array-like
        Margin per month, USD.
    months : array-like
        Lifetime length, months.
    annual_rate : float
        Annual discount rate.

    Returns
    -------
    numpy.ndarray
        Present value in USD at the start of the lifetime.
    """
    factor = annuity_factor(months, annual_rate)
    margin = np.asarray(monthly_margin, dtype=float)
    if isinstance(factor, np.ndarray) and factor.shape == np.broadcast_shapes(factor.shape,
                                                                               margin.shape):
        factor *= margin  # in place: the factor is a fresh array
        return factor
    return margin * factor


# ----------------------------------------------------------------------------- expected values
def _discount_factors(n_months: int, annual_rate: float) -> np.ndarray:
    """``1 / (1 + d) ** t`` for ``t = 1..n_months``."""
    d = monthly_rate(annual_rate)
    return np.exp(-np.arange(1, n_months + 1) * np.log1p(d))


def expected_annuity(survival: ArrayLike | pd.DataFrame, annual_rate: float = ANNUAL_DISCOUNT_RATE
                     ) -> float | np.ndarray:
    """Expected present value of $1 a month over a lifetime described by its survival curve.

    Parameters
    ----------
    survival : array-like or pandas.DataFrame
        ``S(0), S(1), ..., S(K)``: share still a customer 0, 1, ..., K whole months into the
        lifetime (``S(0) = 1``), shape ``(K + 1,)`` or ``(K + 1, n_customers)`` (a lifelines
        ``predict_survival_function`` frame evaluated at months ``0..K``).
    annual_rate : float
        Annual discount rate.

    Returns
    -------
    float or numpy.ndarray
        ``sum_{k=0..K} S(k) / (1 + d) ** (k + 1)`` (one value per customer): margins at the
        end of months ``1..K+1``, month ``k + 1`` reached with probability ``S(k)``.
    """
    s = np.asarray(survival, dtype=float)
    if s.ndim not in (1, 2) or s.shape[0] == 0:
        raise DataError("survival must be a curve S(0..K) (1-D) or one column per customer (2-D)")
    if not np.all(np.isfinite(s)) or np.any(s < -1e-12) or np.any(s > 1 + 1e-12):
        raise DataError("survival probabilities must be finite and between 0 and 1")
    v = _discount_factors(s.shape[0], annual_rate)
    out = v @ s
    return float(out) if np.ndim(out) == 0 else out


def expected_lifetime_value(
    survival: ArrayLike | pd.DataFrame,
    monthly_margin: ArrayLike,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
) -> float | np.ndarray:
    """Expected lifetime value from a survival curve and a monthly margin.

    ``monthly_margin * expected_annuity(survival, annual_rate)``; see the module docstring.
    For a known lifetime of ``T`` months (``S(k) = 1`` for ``k < T``, else 0) it equals
    :func:`lifetime_value`.

    Parameters
    ----------
    survival : array-like or pandas.DataFrame
        ``S(0..K)``, 1-D or one column per customer.
    monthly_margin : float or array-like
        Margin per month, USD (one per customer for 2-D ``survival``).
    annual_rate : float
        Annual discount rate.

    Returns
    -------
    float or numpy.ndarray
        Expected discounted value, USD, at the start of the lifetime.
    """
    out = np.asarray(monthly_margin, dtype=float) * expected_annuity(survival, annual_rate)
    return float(out) if np.ndim(out) == 0 else out
