import numpy as np
import pandas as pd
import pytest

from winback_study.offer_experiment import arm_summary, incremental_roi


def test_incremental_roi_by_hand():
    # r = 0.45, b = 0.15, SLV 1,400, cost 120: ((0.30 * 1400) - 0.45 * 120) / (0.45 * 120)
    assert incremental_roi(0.45, 0.15, 1400, 120) == pytest.approx((420 - 54) / 54)


def test_roi_is_invariant_to_currency():
    assert incremental_roi(0.4, 0.1, 1000, 100) == pytest.approx(incremental_roi(0.4, 0.1, 0.9, 0.09))


def test_zero_cost_gives_nan_not_inf():
    assert np.isnan(incremental_roi(0.4, 0.1, 1000, 0.0)) or np.isinf(incremental_roi(0.4, 0.1, 1000, 0.0))


def test_arm_summary_small_frame_by_hand():
    df = pd.DataFrame({
        "offer": ["none"] * 4 + ["discount"] * 4,
        "reacquired": [1, 0, 0, 0, 1, 1, 0, 0],
        "offer_cost": [0, 0, 0, 0, 120, 120, 120, 120],
        "slv": [900, np.nan, np.nan, np.nan, 1000, 1400, np.nan, np.nan],
    })
    t = arm_summary(df)
    row = t.loc["discount"]
    assert row["offered"] == 4 and row["reacquired"] == 2
    assert row["response_rate"] == 0.5 and row["baseline_rate"] == 0.25
    assert row["value_per_reacquired"] == 1200 and row["cost_per_reacquired"] == 120
    assert row["roi"] == pytest.approx(((0.5 - 0.25) * 1200 - 0.5 * 120) / (0.5 * 120))


def test_arm_summary_needs_a_baseline():
    df = pd.DataFrame({"offer": ["discount"], "reacquired": [1], "offer_cost": [120.0], "slv": [1.0]})
    with pytest.raises(ValueError, match="no-offer"):
        arm_summary(df)
