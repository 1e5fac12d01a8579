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

from functools import lru_cache

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
    "weibull_annuity",
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


# ------------------------------------------------------------------- Weibull expected annuity
#: Grid of ``u = -shape * log(scale)`` on which :func:`weibull_annuity` interpolates: from
#: ``S(t) = 1`` over the whole horizon (``u`` very negative) to ``S(t) = 0`` after month 0.
_U_RANGE: tuple[float, float] = (-60.0, 10.0)
#: Grid step: cubic Hermite interpolation with exact derivatives is then within 1e-11 of
#: the exact sum, relative (tested in ``tests/core/test_value.py``).
_U_STEP: float = 1.0 / 256.0


def _weibull_terms(u: np.ndarray, shape: float, weights: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``g(u) = sum_k w_k exp(-e^u k^shape)`` and ``g'(u)``, exactly, in row blocks."""
    kr = np.arange(len(weights), dtype=float) ** shape
    g, dg = np.empty(len(u)), np.empty(len(u))
    for s in range(0, len(u), 2048):
        z = np.exp(u[s:s + 2048])[:, None] * kr[None, :]
        e = np.exp(-z)
        g[s:s + 2048] = e @ weights
        z *= e
        dg[s:s + 2048] = -(z @ weights)
    return g, dg


@lru_cache(maxsize=16)
def _weibull_grid(shape: float, annual_rate: float, horizon_months: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(_U_RANGE[0], _U_RANGE[1] + _U_STEP / 2, _U_STEP)
    g, dg = _weibull_terms(u, shape, _discount_factors(horizon_months, annual_rate))
    g.setflags(write=False)
    dg.setflags(write=False)
    return g, dg


def weibull_annuity(log_scale: ArrayLike, shape: float,
                    annual_rate: float = ANNUAL_DISCOUNT_RATE,
                    horizon_months: int = DEFAULT_HORIZON_MONTHS) -> np.ndarray:
    """Expected annuity of a Weibull lifetime, ``sum_{k<H} S(k) / (1 + d) ** (k + 1)``.

    ``S(t) = exp(-(t / scale) ** shape)`` (a Weibull AFT model's survival, one shape for
    every customer): :func:`expected_annuity` of that curve at months ``0..H-1``, without
    evaluating ``H`` survival probabilities per customer. The sum is a smooth function of
    ``u = -shape * log(scale)`` alone, so it is computed exactly once on a fine grid of
    ``u`` (cached per shape, rate and horizon) and interpolated by cubic Hermite
    polynomials with exact derivatives: within about 1e-11 of the exact sum, relative, at
    a cost independent of ``H``. Customers off the grid get the exact sum.

    Parameters
    ----------
    log_scale : array-like
        ``log(scale)`` per customer, scale in months (a Weibull AFT model's linear index).
    shape : float
        Weibull shape (lifelines' ``rho_``), positive.
    annual_rate : float
        Annual discount rate.
    horizon_months : int
        Months summed.

    Returns
    -------
    numpy.ndarray
        One annuity per customer (multiply by the monthly margin for the expected value).
    """
    shape = float(shape)
    if not (np.isfinite(shape) and shape > 0):
        raise DataError(f"the Weibull shape must be a positive number, got {shape}")
    x = np.multiply(np.asarray(log_scale, dtype=float), -shape)
    g, dg = _weibull_grid(shape, float(annual_rate), int(horizon_months))
    pos = (x - _U_RANGE[0]) / _U_STEP
    inside = (pos >= 0) & (pos < len(g) - 1)
    i = np.floor(np.where(inside, pos, 0.0)).astype(np.int64)
    s = np.where(inside, pos, 0.0) - i
    s2 = s * s
    s3 = s2 * s
    h = _U_STEP
    out = ((2 * s3 - 3 * s2 + 1) * g[i] + (s3 - 2 * s2 + s) * h * dg[i]
           + (3 * s2 - 2 * s3) * g[i + 1] + (s3 - s2) * h * dg[i + 1])
    off = ~inside
    if off.any():  # beyond the grid (or NaN): the exact sum
        w = _discount_factors(int(horizon_months), float(annual_rate))
        out[off] = _weibull_terms(x[off], shape, w)[0]
    return out
