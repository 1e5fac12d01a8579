"""The four-offer win-back experiment: response rate against return on investment.

How value and cost enter ROI (the package's reconciliation of the HBR exhibit with the
$1,410 average second-lifetime value; STUDY.md explains the tension):

* **cost** is paid only by customers who accept an offer: the offer's cost
  (discount $120, upgrade $105, bundled $225; tailored by reason) for each reacquired
  customer of the arm;
* **value** counts only *incremental* reacquisitions: some lapsed customers come back with
  no offer at all, at the rate ``b`` observed in the no-offer group. An arm with response
  rate ``r`` over ``n`` customers gains ``(r - b) * n`` customers it would otherwise not
  have had, each worth the arm's mean second-lifetime value (SLV);
* ``ROI = ((r - b) * n * SLV - r * n * cost) / (r * n * cost)``, i.e. per reacquired
  customer ``((1 - b / r) * SLV - cost) / cost``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["OFFER_ARMS", "incremental_roi", "arm_summary"]

#: The four randomised arms, in the order of the HBR exhibit.
OFFER_ARMS: tuple[str, ...] = ("discount", "upgrade", "bundled", "tailored")


def incremental_roi(
    response_rate: float | np.ndarray,
    baseline_rate: float | np.ndarray,
    value_per_customer: float | np.ndarray,
    cost_per_reacquired: float | np.ndarray,
) -> float | np.ndarray:
    """ROI of a win-back offer counting only incremental reacquisitions.

    Parameters
    ----------
    response_rate : float
        Share of offered customers who came back, ``r``.
    baseline_rate : float
        Share who come back with no offer, ``b``.
    value_per_customer : float
        Value of a reacquired customer (mean SLV), USD.
    cost_per_reacquired : float
        Offer cost paid per reacquired customer, USD.

    Returns
    -------
    float
        ``((r - b) * value - r * cost) / (r * cost)``, as a fraction (6.68 = 668%).
        ``nan`` (with the array semantics of numpy) when the cost or response is zero.
    """
    r = np.asarray(response_rate, dtype=float)
    cost = np.asarray(cost_per_reacquired, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((r - baseline_rate) * value_per_customer - r * cost) / (r * cost)
    return out if np.ndim(out) else float(out)


def arm_summary(
    df: pd.DataFrame,
    value_col: str = "slv",
    arm_col: str = "offer",
    baseline_arm: str = "none",
) -> pd.DataFrame:
    """Response rate, cost, value and incremental ROI per offer arm.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with columns ``arm_col``, ``reacquired`` (0/1),
        ``offer_cost`` (USD, paid if the customer accepts) and ``value_col``.
    value_col : str
        Column holding each reacquired customer's value (default: true SLV).
    arm_col : str
        Column naming the arm.
    baseline_arm : str
        The no-offer arm whose return rate is the baseline ``b``.

    Returns
    -------
    pandas.DataFrame
        One row per arm: ``offered``, ``reacquired``, ``response_rate``,
        ``cost_per_reacquired``, ``value_per_reacquired``, ``baseline_rate``, ``roi``.
    """
    base = df.loc[df[arm_col] == baseline_arm, "reacquired"]
    if base.empty:
        raise ValueError(
            f"no customers in the baseline arm {baseline_arm!r} of column {arm_col!r}: "
            "incremental ROI needs a no-offer group"
        )
    b = float(base.mean())
    arms = df[df[arm_col].isin(OFFER_ARMS)]
    back = arms[arms["reacquired"] == 1]
    table = pd.DataFrame(
        {
            "offered": arms.groupby(arm_col, observed=True).size(),
            "reacquired": back.groupby(arm_col, observed=True).size(),
            "cost_per_reacquired": back.groupby(arm_col, observed=True)["offer_cost"].mean(),
            "value_per_reacquired": back.groupby(arm_col, observed=True)[value_col].mean(),
        }
    ).reindex([a for a in OFFER_ARMS if a in set(arms[arm_col])])
    table.index.name = "offer"
    table["response_rate"] = table["reacquired"] / table["offered"]
    table["baseline_rate"] = b
    table["roi"] = incremental_roi(
        table["response_rate"].to_numpy(),
        b,
        table["value_per_reacquired"].to_numpy(),
        table["cost_per_reacquired"].to_numpy(),
    )
    return table[
        ["offered", "reacquired", "response_rate", "cost_per_reacquired",
         "value_per_reacquired", "baseline_rate", "roi"]
    ]
