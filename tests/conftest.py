import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from winback_study import StudyDesign, StudyParams, simulate_study  # noqa: E402

#: The shipped default seed (the one ``make reproduce`` uses).
DEFAULT_SEED = 20150701

#: Five seeds on which every calibration target must hold (not tuned to any of them).
CALIBRATION_SEEDS = (11, 202, 3_003, 40_004, 500_005)


@pytest.fixture(scope="session")
def population():
    """The study-sized population on the default seed, latent columns included.

    Simulated once per test session (per xdist worker) and shared by every test that only
    reads it; a test that changes data works on ``population.copy()``. The session fails if
    a test modified it.
    """
    df = simulate_study(53_000, seed=DEFAULT_SEED, include_latent=True)
    before = _fingerprint(df)
    yield df
    assert _fingerprint(df) == before, "a test modified the shared `population` frame"


@pytest.fixture(scope="session")
def small_population():
    """A 8,000-customer population (seed 5) for fast model and contract tests."""
    df = simulate_study(8_000, seed=5, include_latent=True)
    before = _fingerprint(df)
    yield df
    assert _fingerprint(df) == before, "a test modified the shared `small_population` frame"


def _fingerprint(df: pd.DataFrame) -> tuple:
    return (tuple(df.columns), int(pd.util.hash_pandas_object(df, index=True).sum()))


@pytest.fixture(scope="session", params=CALIBRATION_SEEDS, ids=lambda s: f"seed{s}")
def study(request):
    """A study-sized simulated population, with its latent columns, for each seed."""
    return simulate_study(53_000, seed=request.param, include_latent=True)


#: A design with other arm names and costs than the study's, and simulator effects for its
#: offers: two offers, a rule arm by reason, matching offers.
OWN_DESIGN = StudyDesign(
    offers={"none": 0.0, "free_month": 30.0, "points": 12.0},
    rules={"by_reason": {"price": "free_month", "service": "points", "both": "points",
                         "other": "free_month"}},
    reasons=("price", "service", "both", "other"),
    matching={"price": "free_month", "service": "points"},
    name="three arms",
)
OWN_PARAMS = StudyParams().with_(
    return_offer={"none": 0.0, "free_month": 0.6, "points": 0.3},
    second_offer={"none": 0.0, "free_month": 0.1, "points": 0.2},
    second_margin_offer={"none": 0.0, "free_month": -0.02, "points": 0.0},
)


@pytest.fixture(scope="session")
def own_design() -> StudyDesign:
    """:data:`OWN_DESIGN`: arms none, free_month, points and a by_reason rule arm."""
    return OWN_DESIGN


@pytest.fixture(scope="session")
def own_params() -> StudyParams:
    """Simulator parameters with effects for :data:`OWN_DESIGN`'s offers."""
    return OWN_PARAMS
