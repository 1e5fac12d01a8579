"""Frames, a second design and stand-in models shared by the analysis tests.

* ``small_frame``: thirteen customers whose arm tables can be worked out by hand;
* ``own_arms``: a user's file with arms of its own (``none / free_month / points``);
* ``gift_design`` and ``gifts``: another design (other arm names and costs, a rule arm
  called ``by_reason``) and a population simulated under it, for "the same analyses on
  another design";
* ``by_offer``: a return model whose P(return) depends only on the offer received;
  ``known_lifetime``: duration and margin models by which every returner stays 24 months
  at $50 a month.
"""

import numpy as np
import pandas as pd
import pytest

from winback_study import StudyDesign, StudyParams, simulate_study

GIFTS = StudyDesign(
    offers={"none": 0, "free_month": 30, "points": 12, "both_gifts": 42},
    rules={"by_reason": {"price": "free_month", "service": "points", "both": "both_gifts",
                         "other": "points"}},
    reasons=("price", "service", "both", "other"),
    matching={"price": "free_month", "service": "points", "both": "both_gifts"},
    name="gift offers",
)
GIFT_PARAMS = StudyParams().with_(
    return_offer={"none": 0.0, "free_month": 0.5, "points": 0.3, "both_gifts": 0.7},
    second_offer={"none": 0.0, "free_month": 0.1, "points": 0.2, "both_gifts": 0.05},
    second_margin_offer={"none": 0.0, "free_month": 0.0, "points": -0.01, "both_gifts": -0.02},
)


@pytest.fixture
def small_frame() -> pd.DataFrame:
    """None: 1 of 4 back. Discount: 2 of 4 back. Tailored: 3 of 5 back (2 price, 1 service)."""
    return pd.DataFrame({
        "offer": ["none"] * 4 + ["discount"] * 4 + ["tailored"] * 5,
        "offer_received": ["none"] * 4 + ["discount"] * 4
        + ["discount", "discount", "upgrade", "upgrade", "discount"],
        "reacquired": [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0],
        "slv": [900, np.nan, np.nan, np.nan, 1000, 1400, np.nan, np.nan,
                800, 1200, 1000, np.nan, np.nan],
    })


@pytest.fixture
def own_arms() -> pd.DataFrame:
    """A user's file whose arms are none / free_month / points, with a cost column."""
    return pd.DataFrame({
        "offer": ["none"] * 4 + ["free_month"] * 4 + ["points"] * 4,
        "reacquired": [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0],
        "offer_cost": [0.0] * 4 + [30.0] * 4 + [12.0] * 4,
        "slv": [900, np.nan, np.nan, np.nan, 1000, 1400, np.nan, np.nan,
                800, 1200, 1000, np.nan],
    })


@pytest.fixture(scope="session")
def gift_design() -> StudyDesign:
    return GIFTS


@pytest.fixture(scope="session")
def gifts() -> pd.DataFrame:
    """12,000 customers under the gift design, 1,500 per arm (read-only: copy to change)."""
    df = simulate_study(12_000, seed=8, design=GIFTS, params=GIFT_PARAMS, n_per_arm=1_500,
                        include_latent=True)
    before = int(pd.util.hash_pandas_object(df, index=True).sum())
    yield df
    assert int(pd.util.hash_pandas_object(df, index=True).sum()) == before, (
        "a test modified the shared `gifts` frame")


class ByOffer:
    """A duck-typed return model: P(return) by the offer received, nothing else."""

    p = {"none": 0.1, "free_month": 0.3, "points": 0.2, "both_gifts": 0.4,
         "discount": 0.3, "upgrade": 0.25, "bundled": 0.35}

    def probability(self, df: pd.DataFrame) -> pd.Series:
        return pd.Series(df["offer_received"].astype(str).map(self.p).to_numpy(float),
                         index=df.index)

    predict = probability


@pytest.fixture(scope="session")
def by_offer() -> ByOffer:
    return ByOffer()


class KnownLifetime:
    """A stand-in model: everyone stays exactly 24 months and earns $50."""

    model = "weibull"
    extrapolates = True

    def predict_survival(self, df, times):
        return pd.DataFrame(np.repeat((np.asarray(times) < 24)[:, None], len(df), axis=1)
                            .astype(float), index=times, columns=df.index)

    def predict_margin(self, df):
        return pd.Series(50.0, index=df.index)


@pytest.fixture(scope="session")
def known_lifetime() -> KnownLifetime:
    return KnownLifetime()
