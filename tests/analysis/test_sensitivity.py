"""How ROI and the ranking of the arms move with the value horizon, the rate and the costs."""

import numpy as np
import pytest

from winback_study import simulate_study
from winback_study.analysis.offer_experiment import offer_experiment
from winback_study.analysis.roi import arm_summary
from winback_study.analysis.sensitivity import SensitivityResult, horizon_value, roi_sensitivity
from winback_study.errors import DesignError


def test_sensitivity_base_scenario_reproduces_the_experiment():
    df = simulate_study(20_000, seed=4, include_latent=True)
    res = offer_experiment(df, n_boot=20)
    np.testing.assert_allclose(horizon_value(df)[df["reacquired"] == 1],
                               df.loc[df["reacquired"] == 1, "slv"], atol=0.006)
    sens = roi_sensitivity(df, horizons=(6, 24, None), annual_rates=(0.0, 0.1),
                           cost_multipliers=(0.5, 1.0, 2.0))
    base = sens.table[np.isinf(sens.table["horizon_months"]) & (sens.table["annual_rate"] == 0.1)
                      & (sens.table["cost_multiplier"] == 1.0)].set_index("arm")
    np.testing.assert_allclose(base["roi"], res.arms["roi"], rtol=1e-5)
    assert len(sens.scenarios) == 3 * 2 * 3
    # scaling every cost by k divides 1 + ROI by k: the ROI ranking never moves
    assert not sens.scenarios["roi_ranking_changed"].any()
    # a shorter horizon or a higher rate lowers every arm's value
    v = sens.table.pivot_table(index=["horizon_months", "annual_rate"], columns="arm",
                               values="value_per_reacquired")
    assert (v.loc[(6.0, 0.1)] < v.loc[(24.0, 0.1)]).all()
    assert (v.loc[(np.inf, 0.1)] < v.loc[(np.inf, 0.0)]).all()
    # raising the upgrade's cost far enough costs it the top ROI
    up = roi_sensitivity(df, horizons=(None,), annual_rates=(0.1,),
                         cost_multipliers=(1.0, 3.0), scaled_offers="upgrade")
    assert up.scenarios["top_roi"].tolist() == ["upgrade", "discount"]
    assert len(up.flips()) == 1 and "upgrade" in up.summary()
    with pytest.raises(DesignError, match="unknown offers to scale") as info:
        roi_sensitivity(df, horizons=(None,), scaled_offers="tailored")  # a rule arm
    assert info.value.problem == "unknown_offer"


def test_horizon_value_reads_the_observed_tenure_without_latent_columns():
    df = simulate_study(4_000, seed=2, include_latent=True)
    back = df["reacquired"] == 1
    observed = horizon_value(df.drop(columns="latent_second_tenure_months"))
    np.testing.assert_allclose(observed[back], df.loc[back, "slv_observed"], atol=0.006)
    capped = horizon_value(df, horizon_months=12, tenure_col="second_tenure_months")
    assert (capped[back] <= observed[back] + 1e-9).all()


def test_sensitivity_on_another_design(gifts, gift_design):
    sens = roi_sensitivity(gifts, horizons=(None,), annual_rates=(0.1,),
                           cost_multipliers=(1.0,), design=gift_design)
    assert isinstance(sens, SensitivityResult)
    assert sens.scaled_offers == gift_design.targetable_offers
    t = arm_summary(gifts, design=gift_design)
    np.testing.assert_allclose(sens.table.set_index("arm")["roi"], t["roi"], rtol=1e-5)
