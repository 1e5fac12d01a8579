"""The one result convention every fitter returns (lifelines' names).

A fitted model is a :class:`FittedResult`:

* ``params_`` (coefficients), ``standard_errors_``, ``confidence_intervals_``;
* ``summary``: a DataFrame indexed by ``term`` with the columns of :data:`SUMMARY_COLUMNS`
  (``coef, std_err, z, p_value, ci_low, ci_high``) and, where the model has a natural
  ratio scale (odds, hazard, time or margin ratios), ``<ratio>, <ratio>_ci_low,
  <ratio>_ci_high``;
* ``print_summary()``: the table with a header of fit statistics;
* ``log_likelihood_``, ``aic_`` (counting ``n_params_``), ``nobs``, ``confidence_level``
  (``1 - alpha``, the ``alpha`` given to the fitter; stored as ``_alpha`` because the sBG
  model has a parameter named alpha).

Intervals and p-values are Wald (normal) ones, ``coef +/- z_{1 - alpha/2} * std_err``, as
in lifelines and statsmodels' discrete and robust-covariance models. A result may name
terms whose interval is computed on another scale (:attr:`FittedResult.interval_scales`):
a positive parameter on the log scale, ``exp(log(coef) -/+ z * std_err / coef)``, and a
probability on the logit scale, ``expit(logit(coef) -/+ z * std_err / (coef (1 - coef)))``
(the delta method), so that neither interval leaves the parameter's range. ``std_err``,
``z`` and ``p_value`` stay on the coefficient's own scale.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import cached_property
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import special, stats

from winback_study.errors import ModelError

__all__ = ["SUMMARY_COLUMNS", "INTERVAL_SCALES", "FittedResult", "check_alpha",
           "coefficient_table"]

#: Columns of every ``summary`` table, in order.
SUMMARY_COLUMNS: tuple[str, ...] = ("coef", "std_err", "z", "p_value", "ci_low", "ci_high")

#: Scales an interval can be computed on: the coefficient's own (``identity``, the default),
#: ``log`` (a positive parameter) or ``logit`` (a probability).
INTERVAL_SCALES: tuple[str, ...] = ("identity", "log", "logit")


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in (0, 1), or :class:`ModelError`."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ModelError(f"alpha must be a number between 0 and 1, got {alpha!r}") from None
    if not 0 < a < 1:
        raise ModelError(f"alpha must be between 0 and 1 (0.05 gives 95% intervals), got {alpha!r}")
    return a


def _interval(c: np.ndarray, se: np.ndarray, q: float, scale: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of ``c``'s interval, computed on ``scale`` and mapped back."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "log":  # d log(c) = dc / c
            half = q * se / c
            return c * np.exp(-half), c * np.exp(half)
        if scale == "logit":  # d logit(c) = dc / (c (1 - c))
            centre, half = special.logit(c), q * se / (c * (1 - c))
            return special.expit(centre - half), special.expit(centre + half)
    return c - q * se, c + q * se


def coefficient_table(coef: pd.Series, std_err: pd.Series, alpha: float = 0.05,
                      ratio: str | None = None,
                      scales: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The summary schema from coefficients and standard errors.

    Parameters
    ----------
    coef, std_err : pandas.Series
        Estimates and their standard errors, same index.
    alpha : float
        1 - confidence level.
    ratio : str, optional
        Name of the exponentiated scale (``odds_ratio``, ``hazard_ratio``, ``time_ratio``,
        ``margin_ratio``); adds ``ratio``, ``ratio_ci_low``, ``ratio_ci_high``.
    scales : mapping of str to str, optional
        Term -> scale of its interval (:data:`INTERVAL_SCALES`): ``log`` for a positive
        parameter, ``logit`` for a probability. Terms not named get the Wald interval on
        the coefficient's own scale; ``z`` and ``p_value`` are always on that scale.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``term``: :data:`SUMMARY_COLUMNS` (plus the ratio columns).
    """
    alpha = check_alpha(alpha)
    c = np.asarray(coef, dtype=float)
    se = np.asarray(std_err, dtype=float)
    q = float(stats.norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = c / se
    low, high = c - q * se, c + q * se
    for term, scale in dict(scales or {}).items():
        if scale not in INTERVAL_SCALES:
            raise ModelError(f"the interval scale of {term!r} must be one of "
                             f"{list(INTERVAL_SCALES)}, got {scale!r}")
        at = np.flatnonzero(np.asarray(coef.index) == term)
        low[at], high[at] = _interval(c[at], se[at], q, scale)
    out = pd.DataFrame(
        {"coef": c, "std_err": se, "z": z, "p_value": 2 * stats.norm.sf(np.abs(z)),
         "ci_low": low, "ci_high": high},
        index=pd.Index(list(coef.index), name="term"),
    )
    if ratio:
        out[ratio] = np.exp(out["coef"])
        out[f"{ratio}_ci_low"] = np.exp(out["ci_low"])
        out[f"{ratio}_ci_high"] = np.exp(out["ci_high"])
    return out


class FittedResult(ABC):
    """Base of every fitted model's result (lifelines' convention).

    Subclasses implement :meth:`_coefficients` (estimates and standard errors by term),
    ``nobs``, ``log_likelihood_`` and ``_header`` lines; the rest is shared.
    """

    #: Which of the study's equations the model estimates (``return``, ``second_lifetime``,
    #: ``second_profit``, ``retention``).
    equation: str = ""
    #: Name of the exponentiated scale, or None.
    ratio_name: str | None = None
    #: Terms whose interval is computed on another scale than the coefficient's:
    #: ``{"alpha": "log"}`` for a positive parameter, ``{"churn": "logit"}`` for a
    #: probability (:data:`INTERVAL_SCALES`, :func:`coefficient_table`). Empty: every
    #: interval is ``coef +/- z * std_err``.
    interval_scales: Mapping[str, str] = MappingProxyType({})
    #: 1 - confidence level of every interval the result reports (the fitter's ``alpha``).
    _alpha: float = 0.05

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        """Coefficients and standard errors, indexed by readable term."""

    @property
    @abstractmethod
    def nobs(self) -> int:
        """Observations (customers) the model was fitted on."""

    @property
    @abstractmethod
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood."""

    def _n_estimated(self) -> int:
        """Parameters counted by the AIC (default: every coefficient)."""
        return len(self.params_)

    def _header(self) -> list[tuple[str, str]]:
        """(label, value) lines printed above the table."""
        return []

    def _footer(self) -> list[str]:
        return []

    # ------------------------------------------------------------------ shared
    @cached_property
    def summary(self) -> pd.DataFrame:
        """Coefficient table: ``coef, std_err, z, p_value, ci_low, ci_high`` (+ ratios)."""
        return self._coefficient_table(self._alpha)

    def _coefficient_table(self, alpha: float) -> pd.DataFrame:
        """The summary table at confidence level ``1 - alpha``."""
        coef, se = self._coefficients()
        return coefficient_table(coef, se, alpha, self.ratio_name, self.interval_scales)

    @property
    def params_(self) -> pd.Series:
        """Coefficients by term."""
        return self.summary["coef"].rename("coef")

    @property
    def standard_errors_(self) -> pd.Series:
        """Standard errors by term."""
        return self.summary["std_err"].rename("std_err")

    @property
    def confidence_level(self) -> float:
        """Level of every interval in :attr:`summary`, ``1 - alpha`` (0.95 by default)."""
        return 1 - self._alpha

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        """``ci_low`` and ``ci_high`` by term, at :attr:`confidence_level`."""
        return self.summary[["ci_low", "ci_high"]]

    @property
    def n_params_(self) -> int:
        """Estimated parameters ``k`` that :attr:`aic_` counts (ancillary ones included)."""
        return int(self._n_estimated())

    @property
    def aic_(self) -> float:
        """Akaike information criterion, ``2k - 2 log L`` (``k`` = :attr:`n_params_`)."""
        return float(2 * self._n_estimated() - 2 * self.log_likelihood_)

    def print_summary(self, decimals: int = 3) -> None:
        """Print the fit statistics and the coefficient table.

        Parameters
        ----------
        decimals : int
            Decimals shown for estimates.
        """
        print(self.summary_text(decimals))

    def summary_text(self, decimals: int = 3) -> str:
        """What :meth:`print_summary` prints, as a string."""
        table = self.summary
        body = table.to_string(float_format=lambda v: f"{v:.{decimals}f}")
        width = max(60, *(len(line) for line in body.splitlines()))
        head = [("model", type(self).__name__), ("equation", self.equation),
                ("observations", f"{self.nobs:,}")]
        head += self._header()
        ll = self.log_likelihood_
        if np.isfinite(ll):
            head += [("log-likelihood", f"{ll:,.2f}"), ("AIC", f"{self.aic_:,.2f}")]
        head.append(("intervals", f"{self.confidence_level:.0%} (Wald{self._scales_note()})"))
        label = max(len(k) for k, _ in head)
        lines = ["=" * width, *[f"{k:<{label}}  {v}" for k, v in head], "-" * width, body]
        foot = self._footer()
        if foot:
            lines += ["-" * width, *foot]
        lines.append("=" * width)
        return "\n".join(lines)

    def _scales_note(self) -> str:
        """``; log scale for alpha, beta`` when some intervals are on another scale."""
        by_scale: dict[str, list[str]] = {}
        for term, scale in self.interval_scales.items():
            if scale != "identity":
                by_scale.setdefault(scale, []).append(term)
        return "".join(f"; {scale} scale for {', '.join(terms)}"
                       for scale, terms in by_scale.items())

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}: {self.equation} equation, nobs={self.nobs:,}, "
                f"{len(self.summary)} terms>")
