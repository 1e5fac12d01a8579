import numpy as np
import pandas as pd
import pytest

from winback_study.analysis.offer_experiment import arm_summary, incremental_roi


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
    with pytest.raises(ValueError, match="no-offer"):
        arm_summary(df)


# --------------------------------------------------------------------------------------
# offer_experiment: the full analysis
# --------------------------------------------------------------------------------------
from scipy import stats  # noqa: E402
from statsmodels.stats import proportion as smprop  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

from winback_study import simulate_study  # noqa: E402
from winback_study.analysis.offer_experiment import (  # noqa: E402
    customer_costs,
    holm,
    horizon_value,
    offer_experiment,
    replicated_exhibit,
    roi_sensitivity,
)
from winback_study.data.published import PUBLISHED  # noqa: E402


def _small_frame() -> pd.DataFrame:
    """None: 1 of 4 back. Discount: 2 of 4 back. Tailored: 3 of 5 back (2 price, 1 service)."""
    return pd.DataFrame({
        "offer": ["none"] * 4 + ["discount"] * 4 + ["tailored"] * 5,
        "offer_received": ["none"] * 4 + ["discount"] * 4
        + ["discount", "discount", "upgrade", "upgrade", "discount"],
        "reacquired": [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0],
        "slv": [900, np.nan, np.nan, np.nan, 1000, 1400, np.nan, np.nan,
                800, 1200, 1000, np.nan, np.nan],
    })


def test_arm_table_by_hand():
    res = offer_experiment(_small_frame(), n_boot=50, seed=1)
    a = res.arms
    assert list(a.index) == ["discount", "tailored"]
    b = 0.25
    d = a.loc["discount"]
    assert (d["offered"], d["reacquired"], d["response_rate"]) == (4, 2, 0.5)
    assert d["cost_per_reacquired"] == 120 and d["total_cost"] == 240
    assert d["value_per_reacquired"] == 1200
    assert d["incremental_reacquired"] == pytest.approx((0.5 - b) * 4)
    assert d["net_profit"] == pytest.approx((0.5 - b) * 4 * 1200 - 240)
    assert d["roi"] == pytest.approx(((0.5 - b) * 1200 - 0.5 * 120) / (0.5 * 120))
    t = a.loc["tailored"]
    # returners: discount, discount, upgrade -> cost (120 + 120 + 105) / 3
    assert t["cost_per_reacquired"] == pytest.approx(345 / 3)
    assert t["total_cost"] == pytest.approx(345)
    assert t["value_per_reacquired"] == pytest.approx(1000)
    assert t["roi"] == pytest.approx(incremental_roi(0.6, b, 1000, 115))
    assert res.baseline_rate == b
    # Wilson interval as scipy computes it
    ci = stats.binomtest(2, 4).proportion_ci(method="wilson")
    assert (d["response_ci_low"], d["response_ci_high"]) == pytest.approx((ci.low, ci.high))


def test_user_costs_and_values():
    df = _small_frame()
    res = offer_experiment(df, costs={"upgrade": 300.0}, value=1000.0, n_boot=20)
    assert res.arms.loc["tailored", "cost_per_reacquired"] == pytest.approx((120 + 120 + 300) / 3)
    assert res.arms.loc["discount", "value_per_reacquired"] == 1000
    res2 = offer_experiment(df, value=lambda d: d["slv"].fillna(0) * 2, n_boot=20)
    assert res2.arms.loc["discount", "value_per_reacquired"] == 2400
    # a cost column instead of the exhibit's
    df["my_cost"] = 50.0
    assert offer_experiment(df, costs="my_cost", n_boot=20).arms["cost_per_reacquired"].eq(50).all()
    with pytest.raises(ValueError, match="no cost"):
        customer_costs(df.assign(offer_received="coupon"))
    with pytest.raises(ValueError, match="no value"):
        offer_experiment(df.assign(slv=np.nan), n_boot=20)


def test_matches_arm_summary_on_the_study():
    df = simulate_study(20_000, seed=5)
    res = offer_experiment(df, n_boot=100, seed=0)
    old = arm_summary(df)
    for col in ("offered", "reacquired", "response_rate", "cost_per_reacquired",
                "value_per_reacquired", "roi"):
        np.testing.assert_allclose(res.arms[col], old[col], rtol=1e-12)


def test_bootstrap_is_seeded():
    df = simulate_study(8_000, seed=3)
    a = offer_experiment(df, n_boot=200, seed=7).roi_replicates
    b = offer_experiment(df, n_boot=200, seed=7).roi_replicates
    c = offer_experiment(df, n_boot=200, seed=8).roi_replicates
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_bootstrap_interval_matches_scipy_percentile():
    """Our exact vectorised resampling against scipy.stats.bootstrap on the same statistic."""
    df = simulate_study(6_000, seed=21, n_per_arm=800)
    res = offer_experiment(df, n_boot=4000, seed=1)
    arm = df[df["offer"] == "discount"]
    y, v = arm["reacquired"].to_numpy(float), arm["slv"].fillna(0).to_numpy()
    c = arm["offer_cost"].to_numpy()
    y0 = df.loc[df["offer"] == "none", "reacquired"].to_numpy(float)

    def roi(idx, yb, axis=-1):
        idx = idx.astype(int)
        yy = y[idx]
        back = yy.sum(axis)
        return incremental_roi(yy.mean(axis), yb.mean(axis), (yy * v[idx]).sum(axis) / back,
                               (yy * c[idx]).sum(axis) / back)

    ref = stats.bootstrap((np.arange(len(arm)), y0), roi, method="percentile", n_resamples=4000,
                          vectorized=True, paired=False, rng=np.random.default_rng(2))
    lo, hi = res.arms.loc["discount", ["roi_ci_low", "roi_ci_high"]]
    width = hi - lo
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.06 * width)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.06 * width)
    assert res.roi_replicates["discount"].std() == pytest.approx(ref.standard_error, rel=0.06)


def test_chi_square_and_pairwise_against_scipy_statsmodels():
    df = simulate_study(12_000, seed=9)
    res = offer_experiment(df, n_boot=1000, seed=0)
    a = res.arms
    table = np.column_stack([a["reacquired"], a["offered"] - a["reacquired"]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    assert res.chi_square["statistic"] == pytest.approx(chi2)
    assert res.chi_square["pvalue"] == pytest.approx(stats.chi2.sf(chi2, 3))
    pr = res.pairwise_response
    assert len(pr) == 6
    k1, n1, k2, n2 = a.loc["discount", "reacquired"], a.loc["discount", "offered"], \
        a.loc["bundled", "reacquired"], a.loc["bundled", "offered"]
    ref = smprop.test_proportions_2indep(k1, n1, k2, n2, method="score")
    assert pr.loc["discount - bundled", "pvalue"] == pytest.approx(ref.pvalue)
    assert pr.loc["discount - bundled", "difference"] == pytest.approx(k1 / n1 - k2 / n2)
    adj, _ = holm(pr["pvalue"])
    np.testing.assert_allclose(pr["pvalue_holm"], adj)
    assert (pr["pvalue_holm"] >= pr["pvalue"]).all()
    roi = res.pairwise_roi
    assert roi.loc["upgrade - bundled", "difference"] == pytest.approx(
        a.loc["upgrade", "roi"] - a.loc["bundled", "roi"])
    assert roi.loc["upgrade - bundled", "significant"]  # 790% vs 280%
    # too few replicates to reach Holm's threshold over six pairs: said in the summary
    few = offer_experiment(df, n_boot=100, seed=0)
    assert not few.pairwise_roi["significant"].any()
    assert "n_boot" in few.summary()


def test_holm_textbook_example():
    # Holm step-down by hand: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> monotone maxima
    adj, rej = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    assert rej.tolist() == [True, False, False, True]
    adj, _ = holm([0.2, np.nan, 0.01])
    assert np.isnan(adj[1]) and adj[2] == pytest.approx(0.02)
    p = np.random.default_rng(0).uniform(0, 0.2, 12)
    ref_reject, ref_adj, _, _ = multipletests(p, alpha=0.05, method="holm")
    adj, rej = holm(p)
    np.testing.assert_allclose(adj, ref_adj)
    assert (rej == ref_reject).all()


def test_user_table_without_offer_received_uses_its_cost_column():
    df = _small_frame().drop(columns="offer_received")
    df["offer_cost"] = np.where(df["offer"] == "none", 0.0, 80.0)
    res = offer_experiment(df, n_boot=10)
    assert (res.arms["cost_per_reacquired"] == 80).all() and res.costs == "offer_cost"
    by_arm = offer_experiment(df, costs={"discount": 60.0, "tailored": 70.0}, n_boot=10)
    assert by_arm.arms["cost_per_reacquired"].tolist() == [60.0, 70.0]


@pytest.mark.parametrize("seed", [11, 202, 3_003])
def test_replicated_exhibit_within_published_tolerances(seed):
    res = offer_experiment(simulate_study(53_000, seed=seed), n_boot=200, seed=seed)
    ex = replicated_exhibit(res)
    assert list(ex.index) == ["discount", "upgrade", "bundled", "tailored"]
    assert (ex["success_published"] == [45, 41, 47, 45]).all()
    assert (ex["roi_published"] == [PUBLISHED[f"P3.{a}.roi"].value for a in ex.index]).all()
    assert (ex["success_status"] == "match").all(), ex
    assert (ex["roi_status"] == "match").all(), ex
    assert res.ranking("roi") == ["upgrade", "discount", "tailored", "bundled"]
    assert res.ranking("response_rate")[0] == "bundled"
    assert "ROI" in res.summary() and "chi2" in repr(res)


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


def test_package_level_call_and_the_design_arms():
    import winback_study as wb

    res = wb.offer_experiment(_small_frame(), n_boot=10)
    assert isinstance(res, wb.OfferExperimentResult)
    assert wb.KUMAR_2015.treatment_arms == ("discount", "upgrade", "bundled", "tailored")
    assert list(res.arms.index) == [a for a in wb.KUMAR_2015.treatment_arms if a in set(res.arms.index)]


def test_break_even_cost_equalises_roi():
    from winback_study.analysis.offer_experiment import break_even_cost

    df = simulate_study(20_000, seed=12)
    res = offer_experiment(df, n_boot=10)
    c = break_even_cost(res, "upgrade", "discount")
    at = offer_experiment(df, costs={"upgrade": c}, n_boot=10).arms
    assert at.loc["upgrade", "roi"] == pytest.approx(at.loc["discount", "roi"])
    assert c > 105  # the upgrade out-earns the discount per dollar at its exhibit cost


def test_single_arm_reports_the_arm_and_warns_there_is_nothing_to_compare():
    one = _small_frame().query("offer != 'tailored'")
    with pytest.warns(UserWarning, match="only one offer arm"):
        res = offer_experiment(one, n_boot=50, seed=1)
    assert list(res.arms.index) == ["discount"]
    assert np.isnan(res.chi_square["pvalue"]) and res.chi_square["dof"] == 0
    assert res.pairwise_response.empty and res.pairwise_roi.empty
    assert "difference" in res.pairwise_roi.columns
    text = res.summary()
    assert "One arm only" in text and "1 arm;" in text


def test_zero_cost_arm_is_left_out_of_the_roi_ranking_and_named():
    df = _small_frame()
    with pytest.warns(RuntimeWarning, match="ROI is undefined"):
        res = offer_experiment(df, costs={"discount": 0.0}, n_boot=50, seed=1)
    assert np.isnan(res.arms.loc["discount", "roi"])
    assert res.ranking("roi") == ["tailored"]
    assert "ROI undefined, zero cost: discount" in res.summary()


def test_tailored_cost_mix_by_hand():
    df = pd.DataFrame({
        "offer": ["tailored"] * 5 + ["discount"],
        "offer_received": ["discount", "discount", "upgrade", "upgrade", "discount", "discount"],
        "reacquired": [1, 1, 1, 0, 0, 1],
    })
    from winback_study.analysis.offer_experiment import tailored_cost_mix

    mix = tailored_cost_mix(df, {"discount": 100.0, "upgrade": 40.0})
    assert mix["returners"].to_dict() == {"discount": 2, "upgrade": 1}
    assert mix["share"].to_dict() == pytest.approx({"discount": 2 / 3, "upgrade": 1 / 3})
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(80.0)  # (100 + 100 + 40) / 3
    with pytest.raises(ValueError, match="nobody in the 'bundled' arm"):
        tailored_cost_mix(df, arm="bundled")


def test_tailored_cost_mix_is_the_arm_cost_per_returner():
    from winback_study.analysis.offer_experiment import tailored_cost_mix

    df = simulate_study(20_000, seed=11)
    mix = tailored_cost_mix(df)
    per = arm_summary(df).loc["tailored", "cost_per_reacquired"]
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(per)
