"""Incremental ROI and what enters it: the design an analysis reads, costs, values, arm tables."""

import numpy as np
import pandas as pd
import pytest

from winback_study import KUMAR_2015, StudyDesign, simulate_study
from winback_study.analysis.offer_experiment import offer_experiment
from winback_study.analysis.roi import (
    arm_summary,
    customer_costs,
    customer_values,
    experiment_design,
    incremental_roi,
    offer_cost_table,
    tailored_cost_mix,
)
from winback_study.errors import DataError, DesignError, ModelError


def test_incremental_roi_by_hand():
    # r = 0.45, b = 0.15, SLV 1,400, cost 120: ((0.30 * 1400) - 0.45 * 120) / (0.45 * 120)
    assert incremental_roi(0.45, 0.15, 1400, 120) == pytest.approx((420 - 54) / 54)


def test_roi_is_invariant_to_currency():
    assert incremental_roi(0.4, 0.1, 1000, 100) == pytest.approx(incremental_roi(0.4, 0.1, 0.9, 0.09))


def test_zero_cost_gives_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="ROI is undefined"):
        assert np.isnan(incremental_roi(0.4, 0.1, 1000, 0.0))


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
    with pytest.raises(DataError, match="no-offer") as info:
        arm_summary(df)
    assert info.value.column == "offer" and info.value.problem == "no_baseline"


def test_a_missing_value_column_is_named_not_a_pandas_key_error(small_frame):
    """Regression: ``arm_summary(df.drop(columns="slv"))`` raised KeyError 'Column not found'."""
    with pytest.raises(DataError, match="'slv'") as info:
        arm_summary(small_frame.drop(columns="slv"))
    assert (info.value.column, info.value.problem) == ("slv", "missing_column")
    with pytest.raises(DataError, match="'my_value'"):
        customer_values(small_frame, "my_value")


def test_customer_costs_name_the_offers_without_a_cost_and_their_rows(small_frame):
    with pytest.raises(DesignError, match="no cost") as info:
        customer_costs(small_frame.assign(offer_received="coupon"))
    err = info.value
    assert err.column == "offer_received" and err.problem == "no_cost"
    assert err.n_rows == 13 and err.rows == list(range(10))
    assert "rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ... (13 rows)" in str(err)
    # a cost column that is not one, or holds text: the column and rows are named
    with pytest.raises(DataError, match="'my_cost'"):
        customer_costs(small_frame, "my_cost")
    text = small_frame.assign(my_cost=["50"] * 12 + ["fifty"])
    with pytest.raises(DataError, match="row 12") as info:
        customer_costs(text, "my_cost")
    assert info.value.problem == "not_numeric" and info.value.rows == [12]


def test_customer_values_checks_a_value_function(small_frame):
    np.testing.assert_array_equal(customer_values(small_frame, 5.0), np.full(13, 5.0))
    with pytest.raises(ModelError, match="one number per row"):
        customer_values(small_frame, lambda d: np.ones(3))
    with pytest.raises(DataError, match="must hold numbers"):
        customer_values(small_frame.assign(slv="a lot"), "slv")


def test_tailored_cost_mix_by_hand():
    df = pd.DataFrame({
        "offer": ["tailored"] * 5 + ["discount"],
        "offer_received": ["discount", "discount", "upgrade", "upgrade", "discount", "discount"],
        "reacquired": [1, 1, 1, 0, 0, 1],
    })
    mix = tailored_cost_mix(df, {"discount": 100.0, "upgrade": 40.0})
    assert mix["returners"].to_dict() == {"discount": 2, "upgrade": 1}
    assert mix["share"].to_dict() == pytest.approx({"discount": 2 / 3, "upgrade": 1 / 3})
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(80.0)  # (100 + 100 + 40) / 3
    with pytest.raises(DataError, match="nobody in the 'bundled' arm") as info:
        tailored_cost_mix(df, arm="bundled")
    assert info.value.problem == "no_returners"


def test_tailored_cost_mix_is_the_arm_cost_per_returner():
    df = simulate_study(20_000, seed=11)
    mix = tailored_cost_mix(df)
    per = arm_summary(df).loc["tailored", "cost_per_reacquired"]
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(per)


# --------------------------------------------------------------------------------------
# the design an analysis reads the data with
# --------------------------------------------------------------------------------------
def test_experiment_design_is_resolve_design_of_the_arm_column(small_frame, own_arms):
    assert experiment_design(small_frame) is KUMAR_2015
    # another arm column is read as the arms
    grouped = small_frame.rename(columns={"offer": "group"})
    assert experiment_design(grouped, arm_col="group") is KUMAR_2015
    mine = experiment_design(own_arms)
    assert mine.arms == ("none", "free_month", "points")
    assert mine.costs == {"none": 0.0, "free_month": 30.0, "points": 12.0}  # offer_cost
    # what only the caller knows: costs, or none at all, for arms read from the data
    bare = own_arms.drop(columns="offer_cost")
    with pytest.raises(DesignError, match="no cost"):
        experiment_design(bare)
    assert experiment_design(bare, costs={"free_month": 25.0, "points": 10.0}).costs == {
        "none": 0.0, "free_month": 25.0, "points": 10.0}
    assert experiment_design(bare, need_costs=False).costs == {
        "none": 0.0, "free_month": 0.0, "points": 0.0}
    # ... or the control arm, when the data have no 'none'
    ctrl = own_arms.replace({"offer": {"none": "ctrl"}})
    assert experiment_design(ctrl, control="ctrl").control == "ctrl"
    with pytest.raises(DesignError, match="not an arm of the design"):
        experiment_design(small_frame, control="nobody")
    with pytest.raises(DesignError, match="no offer named"):
        experiment_design(small_frame, costs={"upgarde": 150.0})  # a misspelt offer


def test_arm_summary_on_another_design_by_hand(gifts, gift_design):
    df, d = gifts, gift_design
    t = arm_summary(df, design=d)
    assert list(t.index) == list(d.treatment_arms)
    b = df.loc[df["offer"] == "none", "reacquired"].mean()
    for arm, row in t.iterrows():
        g = df[df["offer"] == arm]
        back = g[g["reacquired"] == 1]
        cost = back["offer_received"].astype(str).map(d.costs).mean()  # the design's costs
        assert (row["offered"], row["reacquired"]) == (len(g), len(back))
        assert row["baseline_rate"] == pytest.approx(b)
        assert row["cost_per_reacquired"] == pytest.approx(cost)
        assert row["value_per_reacquired"] == pytest.approx(back["slv"].mean())
        assert row["roi"] == pytest.approx(
            incremental_roi(len(back) / len(g), b, back["slv"].mean(), cost))
    assert t.loc[["free_month", "points", "both_gifts"], "cost_per_reacquired"].tolist() == [
        30.0, 12.0, 42.0]
    mix = tailored_cost_mix(df, design=d)  # the design's one rule arm
    assert set(mix.index) == {"free_month", "points", "both_gifts"}
    assert mix.loc["points", "cost"] == 12.0
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(
        t.loc["by_reason", "cost_per_reacquired"])
    # costs are the design's, not an offer_cost column nor the exhibit's; costs= changes them
    pd.testing.assert_frame_equal(arm_summary(df.assign(offer_cost=999.0), design=d), t)
    dear = arm_summary(df, costs={"points": 20.0}, design=d)
    assert dear.loc["points", "cost_per_reacquired"] == 20.0
    assert dear.loc["by_reason", "cost_per_reacquired"] > t.loc["by_reason", "cost_per_reacquired"]
    assert offer_cost_table({"points": 20.0}, design=d) == {
        "none": 0.0, "free_month": 30.0, "points": 20.0, "both_gifts": 42.0}


def test_an_arm_the_design_does_not_know_is_named(gifts, gift_design):
    with pytest.raises(DesignError) as info:
        arm_summary(gifts, design=KUMAR_2015)
    msg = str(info.value)
    assert "column 'offer'" in msg and "['both_gifts', 'by_reason', 'free_month', 'points']" in msg
    assert "rows" in msg and "design=" in msg
    # a simulated frame carries its design; a file without it has its arms read from
    # offer_received, which has no rule arm: said so
    assert arm_summary(gifts).index.tolist() == list(gift_design.treatment_arms)
    plain = gifts.copy()
    plain.attrs = {}
    with pytest.raises(DesignError, match=r"\['by_reason'\]"):
        offer_experiment(plain, n_boot=10)
    with pytest.raises(DesignError, match="arm must be one of"):
        tailored_cost_mix(gifts, arm="tailored", design=gift_design)


@pytest.mark.parametrize("with_received", [False, True])
def test_arm_summary_on_a_file_with_its_own_arms(with_received, own_arms):
    """Regression: arm_summary returned an empty table on arms other than the study's."""
    df = own_arms
    if with_received:
        df["offer_received"] = df["offer"]
    t = arm_summary(df)
    assert list(t.index) == ["free_month", "points"]
    p = t.loc["points"]
    assert (p["offered"], p["reacquired"], p["response_rate"]) == (4, 3, 0.75)
    assert (p["cost_per_reacquired"], p["value_per_reacquired"]) == (12.0, 1000.0)
    assert p["roi"] == pytest.approx(((0.75 - 0.25) * 1000 - 0.75 * 12) / (0.75 * 12))
    res = offer_experiment(df, n_boot=20)
    np.testing.assert_allclose(res.arms["roi"], t["roi"], rtol=1e-12)
    with pytest.raises(DesignError) as info:
        arm_summary(df, design=KUMAR_2015)
    msg = str(info.value)
    assert "column 'offer'" in msg and "['free_month', 'points']" in msg
    assert "rows 4, 5, 6, 7, 8, 9, 10, 11 (8 rows)" in msg
    own = StudyDesign(offers={"none": 0, "free_month": 25, "points": 12})
    if with_received:  # the design's costs by offer received, not the file's column
        assert arm_summary(df, design=own).loc["free_month", "cost_per_reacquired"] == 25.0
