import numpy as np
import pandas as pd
import pytest

from winback_study.analysis.roi import arm_summary, incremental_roi


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
    bootstrap_roi,
    holm,
    offer_experiment,
    replicated_exhibit,
)
from winback_study.analysis.roi import customer_costs, tailored_cost_mix  # noqa: E402
from winback_study.analysis.sensitivity import horizon_value, roi_sensitivity  # noqa: E402
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
    import sys

    import winback_study as wb

    res = wb.offer_experiment(_small_frame(), n_boot=10)
    assert isinstance(res, wb.OfferExperimentResult)
    # the function is the package's name; the module is a plain module (no callable hack)
    module = sys.modules["winback_study.analysis.offer_experiment"]
    assert not callable(module) and module.offer_experiment is wb.offer_experiment
    assert module.OFFER_ARMS == wb.KUMAR_2015.treatment_arms
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
    mix = tailored_cost_mix(df, {"discount": 100.0, "upgrade": 40.0})
    assert mix["returners"].to_dict() == {"discount": 2, "upgrade": 1}
    assert mix["share"].to_dict() == pytest.approx({"discount": 2 / 3, "upgrade": 1 / 3})
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(80.0)  # (100 + 100 + 40) / 3
    with pytest.raises(ValueError, match="nobody in the 'bundled' arm"):
        tailored_cost_mix(df, arm="bundled")


def test_tailored_cost_mix_is_the_arm_cost_per_returner():
    df = simulate_study(20_000, seed=11)
    mix = tailored_cost_mix(df)
    per = arm_summary(df).loc["tailored", "cost_per_reacquired"]
    assert (mix["share"] * mix["cost"]).sum() == pytest.approx(per)


# --------------------------------------------------------------------------------------
# another design: the same analyses, other arm names and costs (issue 11)
# --------------------------------------------------------------------------------------
from winback_study import KUMAR_2015, StudyDesign, StudyParams  # noqa: E402
from winback_study.analysis.customer_value import win_back_values, with_offer  # noqa: E402
from winback_study.analysis.roi import offer_cost_table  # noqa: E402
from winback_study.analysis.sensitivity import SensitivityResult  # noqa: E402
from winback_study.analysis.targeting import (  # noqa: E402
    budget_policy,
    design_power,
    evaluate_policy,
    gain_curve,
    policy_table,
    qini_curve,
    sample_size_per_arm,
    score_offers,
    top_fraction_response,
    uplift_by_segment,
)
from winback_study.core.value import lifetime_value  # noqa: E402
from winback_study.errors import DesignError  # noqa: E402

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


@pytest.fixture(scope="module")
def gifts() -> pd.DataFrame:
    return simulate_study(12_000, seed=8, design=GIFTS, params=GIFT_PARAMS, n_per_arm=1_500,
                          include_latent=True)


class _ByOffer:
    """A duck-typed return model: P(return) by the offer received, nothing else."""

    p = {"none": 0.1, "free_month": 0.3, "points": 0.2, "both_gifts": 0.4}

    def probability(self, df: pd.DataFrame) -> pd.Series:
        return pd.Series(df["offer_received"].astype(str).map(self.p).to_numpy(float),
                         index=df.index)

    predict = probability


class _TwoYears:
    """Duration and margin models: every returner stays 24 months at $50 a month."""

    def predict_survival(self, df, times):
        return pd.DataFrame(np.repeat((np.asarray(times) < 24)[:, None], len(df), axis=1)
                            .astype(float), index=times, columns=df.index)

    def predict_margin(self, df):
        return pd.Series(50.0, index=df.index)


def test_arm_summary_on_another_design_by_hand(gifts):
    df, d = gifts, GIFTS
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


def test_an_arm_the_design_does_not_know_is_named(gifts):
    with pytest.raises(DesignError) as info:
        arm_summary(gifts, design=KUMAR_2015)
    msg = str(info.value)
    assert "column 'offer'" in msg and "['both_gifts', 'by_reason', 'free_month', 'points']" in msg
    assert "rows" in msg and "design=" in msg
    # without a design the arms are read from offer_received, which has no rule arm: said so
    with pytest.raises(DesignError, match=r"\['by_reason'\]"):
        offer_experiment(gifts, n_boot=10)
    with pytest.raises(DesignError, match="arm must be one of"):
        tailored_cost_mix(gifts, arm="tailored", design=GIFTS)


def test_offer_experiment_on_another_design(gifts):
    df, d = gifts, GIFTS
    res = offer_experiment(df, design=d, n_boot=200, seed=1)
    t = arm_summary(df, design=d)
    assert list(res.arms.index) == list(d.treatment_arms) and res.design == d
    assert res.costs == d.costs and res.baseline.name == "none"
    for col in ("offered", "reacquired", "response_rate", "cost_per_reacquired",
                "value_per_reacquired", "roi"):
        np.testing.assert_allclose(res.arms[col], t[col], rtol=1e-12)
    a, b = res.arms.loc["free_month"], res.baseline_rate
    assert a["net_profit"] == pytest.approx(
        (a["response_rate"] - b) * a["offered"] * a["value_per_reacquired"]
        - a["reacquired"] * 30.0)
    assert len(res.pairwise_response) == 6 and "points - by_reason" in res.pairwise_roi.index
    assert "by_reason" in res.summary() and "95% CI" in res.summary()
    wide = offer_experiment(df, design=d, n_boot=200, seed=1, alpha=0.1)
    assert "90% CI" in wide.summary() and "95%" not in wide.summary()
    assert (wide.arms["response_ci_high"] - wide.arms["response_ci_low"]
            < res.arms["response_ci_high"] - res.arms["response_ci_low"]).all()
    assert replicated_exhibit(res).empty  # no published figure for these arms
    reps = bootstrap_roi(df, design=d, n_boot=50, seed=2)
    assert list(reps.columns) == list(d.treatment_arms)
    sens = roi_sensitivity(df, horizons=(None,), annual_rates=(0.1,), cost_multipliers=(1.0,),
                           design=d)
    assert isinstance(sens, SensitivityResult) and sens.scaled_offers == d.targetable_offers
    np.testing.assert_allclose(sens.table.set_index("arm")["roi"], t["roi"], rtol=1e-5)


def test_value_functions_on_another_design(gifts):
    part = gifts.head(200)
    cf = with_offer(part, "by_reason", design=GIFTS)
    want = part["defection_reason"].astype(str).map(dict(GIFTS.rules["by_reason"]))
    assert (cf["offer_received"].astype(str) == want).all()
    assert (cf["offer_cost"] == want.map(GIFTS.costs)).all()
    v = win_back_values(part, _TwoYears(), _TwoYears(), return_model=_ByOffer(),
                        contact_cost=1.0, design=GIFTS)
    assert len(v) == 5 * len(part)
    assert list(v.index.get_level_values("offer").unique()) == list(GIFTS.arms)
    slv = lifetime_value(50.0, 24)
    price = part.index[(part["defection_reason"] == "price").to_numpy()][0]
    row = v.loc[(price, "by_reason")]  # a price leaver under by_reason gets the free month
    assert (row["p_return"], row["cost_if_accepted"]) == (0.3, 30.0)
    assert row["expected_slv"] == pytest.approx(slv)
    assert row["value"] == pytest.approx(0.3 * (slv - 30.0) - 1.0)
    assert row["incremental_value"] == pytest.approx(0.3 * (slv - 30.0) - 1.0 - 0.1 * slv)
    none = v.xs("none", level="offer")
    assert (none["incremental_value"] == 0).all() and (none["cost_if_accepted"] == 0).all()
    assert none["value"].to_numpy() == pytest.approx(0.1 * slv)  # no contact cost for none


def test_targeting_functions_on_another_design(gifts):
    df, d = gifts, GIFTS
    sc = score_offers(df, _ByOffer(), design=d)
    assert list(sc.probability.columns) == list(d.arms) and sc.design == d
    assert sc.control == "none" and sc.single_offers == list(d.targetable_offers)
    i = df.index[(df["defection_reason"] == "price").to_numpy()][0]
    back = df[(df["reacquired"] == 1) & (df["offer_received"] == "free_month")
              & (df["defection_reason"] == "price")]
    value = back["slv"].mean()
    assert sc.value.loc[i, "free_month"] == pytest.approx(value)
    assert sc.cost.loc[i, "free_month"] == 30.0 and sc.cost.loc[i, "by_reason"] == 30.0
    assert sc.expected_profit.loc[i, "free_month"] == pytest.approx((0.3 - 0.1) * value - 0.3 * 30)
    assert sc.expected_profit.loc[i, "by_reason"] == pytest.approx(
        sc.expected_profit.loc[i, "free_month"])
    assert sc.best()["best_offer"].isin(["none", *d.targetable_offers]).all()
    # realised gain on the experiment: contacting everyone is the arm's net profit
    res = offer_experiment(df, design=d, n_boot=10)
    g = gain_curve(df, sc.probability["points"], "points", design=d)
    assert g.curve["profit"].iloc[-1] == pytest.approx(res.arms.loc["points", "net_profit"])
    assert g.curve["contacted"].iloc[-1] == 1_500
    # policies: the rule arm is a policy of its own, every policy valued with the design's costs
    pol = policy_table(sc, df, budgets=(20_000,))
    assert {"no offers", "all free_month", "all points", "all both_gifts",
            "by_reason by reason", "model, budget $20,000"} <= set(pol.index)
    assert pol.loc["by_reason by reason", "kind"] == "by_reason"
    assert pol.loc["no offers", "profit"] == 0
    assert pol.loc["no offers", "regained"] == pytest.approx(0.1 * 10_000)
    assert pol.loc["all points", "cost"] == pytest.approx(0.2 * 12.0 * 10_000)
    assert pol.loc["by_reason by reason", "profit"] == pytest.approx(
        sc.expected_profit["by_reason"].mean() * 10_000)
    a = budget_policy(sc, 5_000.0)
    assert a.isin(["none", *d.targetable_offers]).all()
    assert evaluate_policy(sc, a, per=None)["cost"] <= 5_000.0 * (1 + 1e-6)
    # the experiment's other analyses take the design's arms
    u = uplift_by_segment(df, design=d)
    assert list(u.index.get_level_values("arm").categories) == list(d.treatment_arms)
    top = top_fraction_response(df, sc.probability["points"], design=d)
    assert top["offered"] == 4 * 1_500
    q = qini_curve(df, sc.uplift["points"], "points", design=d)
    assert q.curve["treated_targeted"].iloc[-1] == 1_500
    # and sample size for the next test of these arms: the textbook formula
    p0, p1 = (df.loc[df["offer"] == arm, "reacquired"].mean() for arm in ("none", "points"))
    h = abs(2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p0)))
    n = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 / h**2
    assert sample_size_per_arm(p0, p1) == int(np.ceil(n))
    assert design_power(p0, p1, 1_500) == pytest.approx(
        stats.norm.cdf(h * np.sqrt(1_500 / 2) - stats.norm.ppf(0.975)), abs=1e-3)


def _own_arms(**extra) -> pd.DataFrame:
    """A user's file whose arms are none / free_month / points."""
    return pd.DataFrame({
        "offer": ["none"] * 4 + ["free_month"] * 4 + ["points"] * 4,
        "reacquired": [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0],
        "offer_cost": [0.0] * 4 + [30.0] * 4 + [12.0] * 4,
        "slv": [900, np.nan, np.nan, np.nan, 1000, 1400, np.nan, np.nan,
                800, 1200, 1000, np.nan],
        **extra,
    })


@pytest.mark.parametrize("with_received", [False, True])
def test_arm_summary_on_a_file_with_its_own_arms(with_received):
    """Regression: arm_summary returned an empty table on arms other than the study's."""
    df = _own_arms()
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
