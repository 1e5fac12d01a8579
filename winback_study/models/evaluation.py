"""How well a return model discriminates and is calibrated: AUC, calibration, Hosmer-Lemeshow.

These work on any 0/1 outcome and predicted probabilities;
:meth:`~winback_study.models.return_probability.ReturnModel.evaluate` applies them to a
fitted return model on new customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from winback_study.core.results import check_alpha

__all__ = ["ReturnModelEvaluation", "auc_score", "calibration_table"]


def auc_score(y: Any, p: Any) -> float:
    """Area under the ROC curve: the chance a returner gets a higher P(return) than a non-returner.

    Computed with the rank (Mann-Whitney) formula, ties counted one half; O(n log n).

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome.
    p : array-like of float
        Predicted probability (or any score).

    Returns
    -------
    float
        AUC in [0, 1]; NaN if ``y`` has only one class.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _auc_se(auc: float, n1: int, n0: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc**2 / (1.0 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return float(np.sqrt(max(var, 0.0)))


def calibration_table(y: Any, p: Any, bins: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Predicted against observed return rate by bin of predicted probability (deciles by default).

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome.
    p : array-like of float
        Predicted P(return).
    bins : int
        Number of equal-count bins (fewer when many predictions tie).
    alpha : float
        1 - confidence level of the Wilson interval on the observed rate.

    Returns
    -------
    pandas.DataFrame
        One row per bin (index ``bin``, 1 = lowest predictions): ``customers``,
        ``p_min``, ``p_max``, ``predicted`` (mean P(return)), ``observed`` (return rate),
        ``ci_low``, ``ci_high``, ``gap`` (predicted - observed).
    """
    alpha = check_alpha(alpha)
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    codes = pd.qcut(p, bins, labels=False, duplicates="drop")
    g = pd.DataFrame({"y": y, "p": p}).groupby(codes + 1)
    table = pd.DataFrame(
        {
            "customers": g.size(),
            "p_min": g["p"].min(),
            "p_max": g["p"].max(),
            "predicted": g["p"].mean(),
            "observed": g["y"].mean(),
        }
    )
    table.index.name = "bin"
    lo, hi = proportion_confint(table["observed"] * table["customers"], table["customers"],
                                alpha=alpha, method="wilson")
    table["ci_low"], table["ci_high"] = lo, hi
    table["gap"] = table["predicted"] - table["observed"]
    return table


@dataclass(frozen=True, repr=False)
class ReturnModelEvaluation:
    """How well a return model discriminates and is calibrated on one sample.

    Attributes
    ----------
    sample : str
        ``"holdout"`` (customers not used in the fit) or ``"estimation"`` (in-sample).
    n, n_returned : int
        Customers evaluated and how many of them came back.
    auc, auc_se : float
        Area under the ROC curve and its Hanley-McNeil standard error.
    brier : float
        Mean squared error of P(return).
    log_loss : float
        Mean negative log-likelihood per customer.
    hosmer_lemeshow, hl_df, hl_pvalue : float, int, float
        Hosmer-Lemeshow statistic over the calibration bins, its degrees of freedom
        (bins - 2 in the estimation sample, bins on new data) and p-value.
    calibration : pandas.DataFrame
        :func:`calibration_table` of the sample.
    alpha : float
        1 - confidence level of the calibration bins' and the AUC's intervals.
    """

    sample: str
    n: int
    n_returned: int
    auc: float
    auc_se: float
    brier: float
    log_loss: float
    hosmer_lemeshow: float
    hl_df: int
    hl_pvalue: float
    calibration: pd.DataFrame
    alpha: float = 0.05

    @classmethod
    def from_predictions(
        cls, y: Any, p: Any, sample: str = "holdout", bins: int = 10, alpha: float = 0.05
    ) -> ReturnModelEvaluation:
        """Evaluate predictions ``p`` against outcomes ``y`` (0/1).

        Parameters
        ----------
        y : array-like of 0/1
            Observed outcome.
        p : array-like of float
            Predicted P(return), strictly between 0 and 1.
        sample : str
            ``"holdout"`` or ``"estimation"``; sets the Hosmer-Lemeshow degrees of freedom.
        bins : int
            Calibration bins.
        alpha : float
            1 - confidence level of the intervals.

        Returns
        -------
        ReturnModelEvaluation
        """
        y = np.asarray(y, dtype=float)
        p = np.asarray(p, dtype=float)
        n1 = int(y.sum())
        auc = auc_score(y, p)
        table = calibration_table(y, p, bins=bins, alpha=alpha)
        expected = table["predicted"] * table["customers"]
        observed = table["observed"] * table["customers"]
        with np.errstate(divide="ignore", invalid="ignore"):
            hl = float(((observed - expected) ** 2
                        / (expected * (1 - expected / table["customers"]))).sum())
        hl_df = len(table) - 2 if sample == "estimation" else len(table)
        pc = np.clip(p, 1e-15, 1 - 1e-15)
        return cls(
            sample=sample,
            n=int(y.size),
            n_returned=n1,
            auc=auc,
            auc_se=_auc_se(auc, n1, y.size - n1),
            brier=float(np.mean((p - y) ** 2)),
            log_loss=float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc))),
            hosmer_lemeshow=hl,
            hl_df=hl_df,
            hl_pvalue=float(stats.chi2.sf(hl, hl_df)) if hl_df > 0 else float("nan"),
            calibration=table,
            alpha=check_alpha(alpha),
        )

    def auc_ci(self, alpha: float | None = None) -> tuple[float, float]:
        """Normal-approximation confidence interval of the AUC (Hanley-McNeil SE).

        ``alpha`` defaults to the evaluation's own.
        """
        z = stats.norm.ppf(1 - check_alpha(self.alpha if alpha is None else alpha) / 2)
        return (max(self.auc - z * self.auc_se, 0.0), min(self.auc + z * self.auc_se, 1.0))

    @property
    def max_gap(self) -> float:
        """Largest absolute gap between predicted and observed rate over the bins."""
        return float(self.calibration["gap"].abs().max())

    def summary(self, alpha: float | None = None) -> str:
        """One readable paragraph (the AUC with a ``1 - alpha`` interval)."""
        alpha = self.alpha if alpha is None else alpha
        lo, hi = self.auc_ci(alpha)
        return (
            f"{self.sample.capitalize()} sample: {self.n:,} customers, "
            f"{self.n_returned:,} returned ({self.n_returned / self.n:.1%}). "
            f"AUC {self.auc:.3f} ({1 - alpha:.0%} CI {lo:.3f}-{hi:.3f}); Brier {self.brier:.4f}; "
            f"log loss {self.log_loss:.4f}; Hosmer-Lemeshow chi2 {self.hosmer_lemeshow:.1f} "
            f"on {self.hl_df} df (p = {self.hl_pvalue:.3f}); largest gap between predicted "
            f"and observed rate in a bin {100 * self.max_gap:.1f} pp."
        )

    def __repr__(self) -> str:
        return (f"ReturnModelEvaluation(sample={self.sample!r}, n={self.n}, "
                f"auc={self.auc:.4f}, brier={self.brier:.4f}, hl_pvalue={self.hl_pvalue:.3f})")
