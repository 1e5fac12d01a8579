"""Sample size and power for the next win-back test.

Customers per arm needed to tell two response rates apart, and the power of a given
design: a normal approximation on Cohen's arcsine effect size (statsmodels
``NormalIndPower`` with ``proportion_effectsize``); several planned comparisons split
``alpha`` Bonferroni-style (the Holm correction of
:func:`~winback_study.analysis.offer_experiment.offer_experiment` is at least as powerful).

Examples
--------
>>> from winback_study.analysis.targeting import sample_size_per_arm
>>> sample_size_per_arm(0.45, 0.47)
9747
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

__all__ = ["sample_size_per_arm", "design_power", "sample_size_table"]


def _alpha(alpha: float, n_comparisons: int) -> float:
    if n_comparisons < 1:
        raise ValueError("n_comparisons must be at least 1")
    return alpha / n_comparisons


def sample_size_per_arm(
    p1: float,
    p2: float,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    n_comparisons: int = 1,
) -> int:
    """Customers per arm needed to detect response rates ``p1`` vs ``p2``.

    Normal approximation on Cohen's arcsine effect size ``h``
    (statsmodels ``NormalIndPower`` with ``proportion_effectsize``).

    Parameters
    ----------
    p1, p2 : float
        Response rates of the two arms (e.g. 0.45 and 0.47).
    power : float
        Chance of detecting the difference when it is real.
    alpha : float
        Type I error (family-wise when ``n_comparisons > 1``).
    alternative : str
        ``two-sided``, ``larger`` or ``smaller``.
    ratio : float
        Size of the second arm relative to the first.
    n_comparisons : int
        Pairwise comparisons planned; ``alpha`` is split Bonferroni-style (the Holm
        correction used in the analysis is at least as powerful).

    Returns
    -------
    int
        Customers in the first arm (rounded up); the second has ``ratio`` times as many.
    """
    h = abs(proportion_effectsize(p2, p1))
    if h == 0:
        raise ValueError("p1 and p2 are equal: no sample size detects a zero difference")
    n = NormalIndPower().solve_power(effect_size=h, alpha=_alpha(alpha, n_comparisons),
                                     power=power, ratio=ratio, alternative=alternative)
    return int(np.ceil(n))


def design_power(
    p1: float,
    p2: float,
    n_per_arm: int = 10_000,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    n_comparisons: int = 1,
) -> float:
    """Power of a design with ``n_per_arm`` customers to detect ``p1`` vs ``p2``.

    Parameters
    ----------
    p1, p2 : float
        Response rates.
    n_per_arm : int
        Customers in the first arm (the study: 10,000).
    alpha, alternative, ratio, n_comparisons
        As in :func:`sample_size_per_arm`.

    Returns
    -------
    float
        Probability of a significant result when the difference is real.
    """
    h = abs(proportion_effectsize(p2, p1))
    return float(NormalIndPower().power(effect_size=h, nobs1=n_per_arm,
                                        alpha=_alpha(alpha, n_comparisons), ratio=ratio,
                                        alternative=alternative))


def sample_size_table(
    p1: float,
    differences: Sequence[float] = (0.01, 0.02, 0.03, 0.04, 0.05),
    powers: Sequence[float] = (0.8, 0.9),
    alpha: float = 0.05,
    n_comparisons: int = 1,
    n_per_arm: int = 10_000,
) -> pd.DataFrame:
    """Sample size per arm for a grid of differences and powers, and the design's power.

    Parameters
    ----------
    p1 : float
        Response rate of the reference arm.
    differences : sequence of float
        Differences in response rate to detect (``p2 = p1 + difference``).
    powers : sequence of float
        Target powers.
    alpha, n_comparisons
        As in :func:`sample_size_per_arm`.
    n_per_arm : int
        The design whose power is reported.

    Returns
    -------
    pandas.DataFrame
        One row per difference: ``p1``, ``p2``, ``n_per_arm_power_<p>`` for each power and
        ``power_at_<n_per_arm>``.
    """
    rows = []
    for d in differences:
        r = {"difference": d, "p1": p1, "p2": p1 + d}
        for pw in powers:
            r[f"n_per_arm_power_{pw:g}"] = sample_size_per_arm(p1, p1 + d, pw, alpha,
                                                                n_comparisons=n_comparisons)
        r[f"power_at_{n_per_arm}"] = design_power(p1, p1 + d, n_per_arm, alpha,
                                                  n_comparisons=n_comparisons)
        rows.append(r)
    return pd.DataFrame(rows).set_index("difference")
