"""The simulator: structure, reproducibility, and calibration to the published figures."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from lifelines import KaplanMeierFitter

from winback_study import (
    StudyParams,
    arm_summary,
    simulate_study,
    study_params,
    true_return_coefficients,
)
from winback_study.core.value import lifetime_value
from winback_study.data.published import OFFER_EXHIBIT, get
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, DesignError


def frame_hash(df: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(df, index=True).sum())


# --- structure --------------------------------------------------------------------------

REQUIRED = [
    "customer_id", "first_tenure_months", "first_monthly_margin", "referrals", "complaints",
    "complaints_resolved", "defection_reason", "offer", "reacquired", "second_tenure_months",
    "second_churned", "second_monthly_margin", "clv_first", "slv",
]


def test_columns_and_design(population):
    df = population
    assert set(REQUIRED) <= set(df.columns)
    assert len(df) == 53_000 and df["customer_id"].is_unique
    counts = df["offer"].value_counts()
    assert all(counts[a] == 10_000 for a in KUMAR_2015.treatment_arms)
    assert counts[KUMAR_2015.control] == 13_000
    assert "latent_loyalty" not in simulate_study(100, seed=1).columns


def test_tailored_arm_gives_each_reason_its_offer():
    df = simulate_study(20_000, seed=2)
    t = df[df["offer"] == "tailored"]
    got = t.groupby("defection_reason", observed=True)["offer_received"].agg(lambda s: set(s))
    for reason, offers in got.items():
        assert offers == {KUMAR_2015.rules["tailored"][reason]}
    cost = df["offer_received"].map(dict(KUMAR_2015.costs)).astype(float)
    assert np.allclose(df["offer_cost"], cost)


def test_lifetimes_are_consistent_and_censored_at_window_end():
    df = simulate_study(30_000, seed=3, include_latent=True)
    assert (df["first_tenure_months"] >= 1).all()
    assert (df["complaints_resolved"] <= df["complaints"]).all()
    assert (df["first_start_month"] + df["first_tenure_months"] == df["defection_month"]).all()
    back = df[df["reacquired"] == 1]
    gone = df[df["reacquired"] == 0]
    second = ["second_start_month", "second_tenure_months", "second_churned",
              "second_monthly_margin", "slv", "slv_observed"]
    assert back[second].notna().all().all() and gone[second].isna().all().all()
    end = back["second_start_month"] + back["second_tenure_months"]
    assert (end <= 84).all() and (back["second_tenure_months"] >= 1).all()
    assert set(back["second_churned"].unique()) == {0.0, 1.0}
    censored = back["second_churned"] == 0
    assert (end[censored] == 84).all()
    assert (back.loc[censored, "latent_second_tenure_months"]
            >= back.loc[censored, "second_tenure_months"]).all()
    assert (back.loc[~censored, "latent_second_tenure_months"]
            == back.loc[~censored, "second_tenure_months"]).all()
    assert 0.2 < censored.mean() < 0.6


def test_values_follow_the_one_definition():
    df = simulate_study(5_000, seed=4, include_latent=True)
    assert np.allclose(
        df["clv_first"], lifetime_value(df["first_monthly_margin"], df["first_tenure_months"]),
        atol=0.01,
    )
    back = df[df["reacquired"] == 1]
    assert np.allclose(
        back["slv"],
        lifetime_value(back["second_monthly_margin"], back["latent_second_tenure_months"]),
        atol=0.01,
    )
    assert (back["slv_observed"] <= back["slv"] + 1e-9).all()


def test_same_seed_same_frame_byte_for_byte():
    a, b = simulate_study(10_000, seed=99), simulate_study(10_000, seed=99)
    pd.testing.assert_frame_equal(a, b)
    assert frame_hash(a) == frame_hash(b)
    assert frame_hash(simulate_study(10_000, seed=100)) != frame_hash(a)


def test_params_survive_a_parquet_round_trip(tmp_path):
    params = StudyParams().with_(loyalty_return=0.3)
    df = simulate_study(500, seed=3, params=params)
    path = tmp_path / "study.parquet"
    df.to_parquet(path)  # attrs are JSON-ready, so a plain to_parquet works
    back = pd.read_parquet(path)
    assert study_params(back) == params
    assert back.attrs["seed"] == 3
    pd.testing.assert_series_equal(true_return_coefficients(back), true_return_coefficients(params))


def test_study_params_explains_a_frame_without_them():
    df = simulate_study(100, seed=3)
    df.attrs = {}
    with pytest.raises(ValueError, match="carries no simulator parameters"):
        study_params(df)
    with pytest.raises(ValueError, match="unknown StudyParams field"):
        StudyParams.from_dict({"loyalty": 0.1})


def test_params_are_exposed_and_change_the_data():
    df = simulate_study(2_000, seed=5)
    assert study_params(df) == StudyParams()
    coefs = true_return_coefficients()
    assert coefs["referrals"] > 0 and coefs["complaints"] < 0
    assert coefs["complaints_resolved"] > 0
    no_loyalty = StudyParams().with_(loyalty_return=0.0)
    assert simulate_study(2_000, seed=5, params=no_loyalty)["reacquired"].sum() != df[
        "reacquired"
    ].sum()


@pytest.mark.parametrize("n, per_arm", [(0, None), (100, 30)])
def test_bad_sizes_raise(n, per_arm):
    with pytest.raises(ValueError, match="n_customers|n_per_arm"):
        simulate_study(n, seed=1, n_per_arm=per_arm)


def test_small_populations_scale_the_arms():
    df = simulate_study(5_300, seed=6)
    assert (df["offer"].value_counts()[["discount", "upgrade", "bundled", "tailored"]] == 1_000).all()


def test_loyalty_makes_second_lifetimes_a_selected_sample():
    df = simulate_study(53_000, seed=7, include_latent=True)
    back = df["reacquired"] == 1
    assert df.loc[back, "latent_loyalty"].mean() > 0.2 > df.loc[~back, "latent_loyalty"].mean()
    # loyalty is unrelated to anything observed before the return decision
    for col in ("referrals", "complaints", "first_tenure_months", "first_monthly_margin"):
        assert abs(np.corrcoef(df["latent_loyalty"], df[col])[0, 1]) < 0.02


# --- calibration: every target on five seeds ----------------------------------------------

def test_response_rate_per_arm_within_1_5_points(study):
    rates = arm_summary(study)["response_rate"] * 100
    for arm, published in OFFER_EXHIBIT["success_rate_pct"].items():
        assert abs(rates[arm] - published) <= 1.5, (arm, rates[arm])


def test_mean_clv_and_slv_within_3_percent(study):
    assert get("P4.clv_first").within(study["clv_first"].mean())
    assert get("P4.slv").within(study.loc[study["reacquired"] == 1, "slv"].mean())


def test_roi_order_and_tolerance(study):
    roi = arm_summary(study)["roi"] * 100
    assert roi["upgrade"] > roi["discount"] > roi["tailored"] > roi["bundled"]
    for arm, published in OFFER_EXHIBIT["roi_pct"].items():
        assert abs(roi[arm] - published) <= 0.15 * published, (arm, roi[arm])


def test_p5_return_rises_with_referrals_and_resolution(study):
    rate = study.groupby(np.minimum(study["referrals"], 3))["reacquired"].mean()
    assert rate.is_monotonic_increasing
    complainers = study[study["complaints"] > 0]
    unresolved = complainers["complaints"] - complainers["complaints_resolved"]
    by_unresolved = complainers.groupby(np.minimum(unresolved, 2))["reacquired"].mean()
    assert by_unresolved.is_monotonic_decreasing
    # same number of complaints (1): resolved beats unresolved
    one = study[study["complaints"] == 1]
    r = one.groupby("complaints_resolved")["reacquired"].mean()
    assert r[1] > r[0]


def test_p6_price_service_both(study):
    r = study.groupby("defection_reason", observed=True)["reacquired"].mean()
    assert r["price"] > r["service"] > r["both"]


def _km_median(g):
    return KaplanMeierFitter().fit(g["second_tenure_months"], g["second_churned"]).median_survival_time_


def test_p7_second_lifetimes_longer_longest_for_price_leavers(study):
    back = study[study["reacquired"] == 1]
    assert _km_median(back) > study["first_tenure_months"].median()
    assert back["latent_second_tenure_months"].mean() > study["first_tenure_months"].mean()
    by_reason = back.groupby("defection_reason", observed=True)
    latent = by_reason["latent_second_tenure_months"].mean()
    assert latent.idxmax() == "price"
    km = by_reason.apply(_km_median, include_groups=False)
    assert km.idxmax() == "price"


def test_p8_service_leavers_return_less_stay_shorter_spend_more(study):
    back = study[study["reacquired"] == 1]
    r = study.groupby("defection_reason", observed=True)["reacquired"].mean()
    t = back.groupby("defection_reason", observed=True)["latent_second_tenure_months"].mean()
    m = back.groupby("defection_reason", observed=True)["second_monthly_margin"].mean()
    assert r["service"] < r["price"] and t["service"] < t["price"]
    assert m["service"] > m["price"]


def test_p9_upgrade_longest_bundled_shortest(study):
    back = study[study["reacquired"] == 1]
    t = back.groupby("offer", observed=True)["latent_second_tenure_months"].mean()
    assert t["upgrade"] > t["discount"] > t["bundled"]
    # monthly margin, holding the first-lifetime margin and reason fixed: bundled lowest
    fit = smf.ols(
        "np.log(second_monthly_margin) ~ np.log(first_monthly_margin) + C(defection_reason)"
        " + C(offer_received)", data=back,
    ).fit()
    offer = fit.params.filter(like="offer_received")
    assert offer.idxmin() == "C(offer_received)[T.bundled]" and offer.min() < 0


# --- the simulator takes a design -----------------------------------------------------------


def test_the_study_design_is_the_default_and_changes_nothing():
    a = simulate_study(5_000, seed=3)
    b = simulate_study(5_000, seed=3, design=KUMAR_2015)
    pd.testing.assert_frame_equal(a, b)


def test_a_design_with_other_arms_and_costs_drives_the_simulation(own_design, own_params):
    df = simulate_study(6_000, seed=4, params=own_params, n_per_arm=1_000, design=own_design)
    assert list(df["offer"].cat.categories) == ["none", "free_month", "points", "by_reason"]
    assert df["offer"].value_counts().loc[["free_month", "points", "by_reason"]].eq(1_000).all()
    rule = df[df["offer"] == "by_reason"]
    expected = rule["defection_reason"].astype(str).map(own_design.rules["by_reason"])
    assert (rule["offer_received"].astype(str) == expected).all()
    cost = df["offer_received"].astype(str).map(own_design.costs)
    assert np.allclose(df["offer_cost"], cost)
    matched = (df["offer_received"].astype(str)
               == df["defection_reason"].astype(str).map(own_design.matching)).astype(int)
    assert (df["offer_matches_reason"] == matched).all()
    # the offer effects act: free_month (0.6 on the probit scale) beats points (0.3)
    rate = df.groupby("offer", observed=True)["reacquired"].mean()
    assert rate["free_month"] > rate["points"] > rate["none"]


def test_a_design_whose_offers_have_no_effects_is_refused(own_design, own_params):
    with pytest.raises(DesignError, match=r"params.return_offer has no effect for offer\(s\) "
                                          r"\['free_month', 'points'\]"):
        simulate_study(1_000, seed=1, design=own_design)
    with pytest.raises(DesignError, match="needs reasons"):
        simulate_study(1_000, seed=1, params=own_params,
                       design=StudyDesign(offers={"none": 0, "free_month": 30, "points": 12}))


# --- a non-normal loyalty trait (the joint model's misspecification check) -------------

#: ``pd.util.hash_pandas_object(simulate_study(53_000, seed=20150701)).sum()`` before the
#: ``loyalty_distribution`` option existed (with and without the latent columns).
HASH_BEFORE_LOYALTY_OPTION = 3878384994922261096
HASH_BEFORE_LOYALTY_OPTION_LATENT = 6121567258170371153


def test_normal_loyalty_is_the_default_and_changes_nothing(population):
    assert StudyParams().loyalty_distribution == "normal"
    assert frame_hash(simulate_study(53_000, seed=20150701)) == HASH_BEFORE_LOYALTY_OPTION
    assert frame_hash(population) == HASH_BEFORE_LOYALTY_OPTION_LATENT
    assert "loyalty_distribution" not in population.attrs["params"]  # the text is as before
    assert study_params(population).loyalty_distribution == "normal"


def test_skewed_loyalty_is_standardised_and_skewed():
    skewed = StudyParams(loyalty_distribution="skewed")
    a = simulate_study(100_000, seed=9, include_latent=True)
    b = simulate_study(100_000, seed=9, params=skewed, include_latent=True)
    trait = b["latent_loyalty"]
    assert abs(trait.mean()) < 0.01 and abs(trait.std() - 1) < 0.01
    assert 1.5 < trait.skew() < 2.0  # a standardised log-normal with log-sd 0.5: 1.75
    assert trait.min() > -2.2  # bounded below: no very disloyal tail
    # the same draws, transformed: a monotone function of the normal trait
    assert np.corrcoef(a["latent_loyalty"].rank(), trait.rank())[0, 1] == pytest.approx(1.0)
    before = ["first_tenure_months", "first_monthly_margin", "offer", "months_since_defection"]
    pd.testing.assert_frame_equal(a[before], b[before])
    assert not a["reacquired"].equals(b["reacquired"])
    assert study_params(b).loyalty_distribution == "skewed"  # travels with the frame


def test_an_unknown_loyalty_distribution_is_refused():
    with pytest.raises(DataError, match="loyalty_distribution"):
        simulate_study(100, seed=1, params=StudyParams(loyalty_distribution="uniform"))
