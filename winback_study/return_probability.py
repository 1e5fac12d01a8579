"""Return probability: who comes back after defecting (the study's first equation).

This module starts with the descriptive view (observed return rates by segment, with
Wilson intervals); the probit/logit return model builds on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

__all__ = ["DEFAULT_RETURN_FORMULA", "return_rate_table", "complaint_status", "referral_band"]

#: The study's return equation (statsmodels/patsy formula). The offer enters as the
#: concrete offer received plus whether it matches the stated reason, which is how the
#: tailored arm works (it gives each reason its matching offer).
DEFAULT_RETURN_FORMULA: str = (
    "reacquired ~ referrals + complaints + complaints_resolved"
    " + C(defection_reason, Treatment('price'))"
    " + C(offer_received, Treatment('none')) + offer_matches_reason"
    " + first_tenure_months + first_monthly_margin + months_since_defection"
)


def complaint_status(df: pd.DataFrame) -> pd.Series:
    """Label each customer ``no complaint``, ``all resolved`` or ``some unresolved``."""
    status = np.select(
        [df["complaints"] == 0, df["complaints_resolved"] >= df["complaints"]],
        ["no complaint", "all resolved"],
        default="some unresolved",
    )
    return pd.Series(
        pd.Categorical(status, categories=["no complaint", "all resolved", "some unresolved"]),
        index=df.index, name="complaint_status",
    )


def referral_band(df: pd.DataFrame, top: int = 3) -> pd.Series:
    """Referrals made, grouped as ``0``, ``1``, ... ``top+``."""
    labels = [str(i) for i in range(top)] + [f"{top}+"]
    band = np.minimum(df["referrals"].to_numpy(), top)
    return pd.Series(pd.Categorical.from_codes(band, categories=labels), index=df.index,
                     name="referrals_made")


def return_rate_table(
    df: pd.DataFrame,
    by: str | pd.Series | list,
    outcome: str = "reacquired",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Observed return rate by segment with a Wilson confidence interval.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with a 0/1 ``outcome`` column.
    by : str, Series or list
        Column name(s) or aligned Series to group by.
    outcome : str
        The 0/1 column (default ``reacquired``).
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Per segment: ``customers``, ``returned``, ``return_rate``, ``ci_low``, ``ci_high``.
    """
    g = df.groupby(by, observed=True)[outcome]
    table = pd.DataFrame({"customers": g.size(), "returned": g.sum()})
    lo, hi = proportion_confint(table["returned"], table["customers"], alpha=alpha,
                                method="wilson")
    table["return_rate"] = table["returned"] / table["customers"]
    table["ci_low"], table["ci_high"] = lo, hi
    return table
