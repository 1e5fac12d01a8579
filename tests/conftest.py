import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from winback_study import simulate_study  # noqa: E402

#: Five seeds on which every calibration target must hold (not tuned to any of them).
CALIBRATION_SEEDS = (11, 202, 3_003, 40_004, 500_005)


@pytest.fixture(scope="session", params=CALIBRATION_SEEDS, ids=lambda s: f"seed{s}")
def study(request):
    """A study-sized simulated population, with its latent columns, for each seed."""
    return simulate_study(53_000, seed=request.param, include_latent=True)
