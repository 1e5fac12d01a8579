"""Customer value before and after churn: the one definition of CLV and SLV.

Definition used everywhere in the package (code, data dictionary, reports):

* margins are earned at the **end of each month** a customer is active;
* they are discounted at a monthly rate ``d = (1 + annual_rate) ** (1 / 12) - 1``
  (default annual rate 10%);
* the value of a lifetime of ``T`` months with monthly margin ``m`` is
  ``m * (1 - (1 + d) ** -T) / d`` (``m * T`` when the rate is zero), discounted to the
  month the lifetime starts, with **no horizon cap** (the whole lifetime counts);
* the first-lifetime CLV uses the first-lifetime margin and tenure; the second-lifetime value
  (SLV, Stauss & Friege 1999) uses the second-lifetime margin and tenure and is discounted
  to the month of reacquisition. Offer costs are *not* netted out of SLV: they enter ROI
  as costs (see :mod:`winback_study.offer_experiment`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ANNUAL_DISCOUNT_RATE",
    "monthly_rate",
    "annuity_factor",
    "lifetime_value",
]

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
        raise ValueError(f"annual_rate must be greater than -1, got {annual_rate}")
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
    return -np.expm1(-t * np.log1p(d)) / d


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
    return np.asarray(monthly_margin, dtype=float) * annuity_factor(months, annual_rate)
