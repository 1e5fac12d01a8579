"""Targeting: counterfactual scores, realised gain curves, policies, uplift, sample size."""

import functools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import winback_study.analysis.targeting as targeting
from winback_study import (
    KUMAR_2015,
    fit_return_model,
    simulate_study,
    true_return_coefficients,
)
from winback_study.analysis.offer_experiment import offer_experiment
from winback_study.analysis.targeting import (
    budget_policy,
    counterfactual,
    cross_fit_predict,
    design_power,
    evaluate_policy,
    expected_values,
    gain_curve,
    policy_frontier,
    policy_table,
    published_arm_points,
    qini_curve,
    rank_customers,
    sample_size_per_arm,
    sample_size_table,
    score_offers,
    top_fraction_response,
    uplift_by_segment,
)
from winback_study.errors import DataError, DesignError, ModelError
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA


def _probit(d: pd.DataFrame):
    return smf.probit(DEFAULT_RETURN_FORMULA, data=d).fit(disp=0)


@pytest.fixture(scope="module")
def study():
    return simulate_study(53_000, seed=404)


@pytest.fixture(scope="module")
def model(study):
    return _probit(study)


@pytest.fixture(scope="module")
def scores(study, model):
    return score_offers(study, model)


def _true_probability(df: pd.DataFrame, offer: str) -> np.ndarray:
    """P(return | observed covariates, offer) under the simulator's true probit."""
    cf = counterfactual(df, offer)
    beta = true_return_coefficients(df)
    x = beta["Intercept"] + sum(beta[c] * cf[c] for c in (
        "referrals", "complaints", "complaints_resolved", "offer_matches_reason",
        "first_tenure_months", "first_monthly_margin", "months_since_defection"))
    reason = cf["defection_reason"].astype(str)
    received = cf["offer_received"].astype(str)
    x = x + reason.map(lambda r: beta.get(f"defection_reason[{r}]", 0.0)).astype(float)
    x = x + received.map(lambda o: beta.get(f"offer_received[{o}]", 0.0)).astype(float)
    return stats.norm.cdf(x.to_numpy())


def test_counterfactual_rewrites_the_offer():
    df = simulate_study(2_000, seed=1)
    cf = counterfactual(df, "tailored")
    expected = df["defection_reason"].astype(str).map(
        {"price": "discount", "service": "upgrade", "both": "bundled", "other": "discount"})
    assert (cf["offer_received"].astype(str) == expected).all()
    assert (cf.loc[df["defection_reason"] == "price", "offer_matches_reason"] == 1).all()
    assert (cf.loc[df["defection_reason"] == "other", "offer_matches_reason"] == 0).all()
    assert (counterfactual(df, "upgrade", costs={"upgrade": 99})["offer_cost"] == 99).all()
    assert (counterfactual(df, "none")["offer_cost"] == 0).all()
    assert df["offer_received"].astype(str).isin(["none", "discount", "upgrade", "bundled"]).all()
    with pytest.raises(DesignError, match="arm must be one of"):
        counterfactual(df, "coupon")


def test_expected_profit_by_hand(study, scores):
    i = study.index[7]
    p, p0 = scores.probability.loc[i, "discount"], scores.probability.loc[i, "none"]
    v, c = scores.value.loc[i, "discount"], scores.cost.loc[i, "discount"]
    assert c == 120
    assert scores.expected_profit.loc[i, "discount"] == pytest.approx((p - p0) * v - p * c)
    # value = mean SLV of the reacquired with the same reason who got the discount
    back = study[(study["reacquired"] == 1) & (study["offer_received"] == "discount")
                 & (study["defection_reason"] == study.loc[i, "defection_reason"])]
    assert v == pytest.approx(back["slv"].mean())
    gross = score_offers(study.iloc[:500], ConstantModel(0.5), value=1000.0, incremental=False)
    assert np.allclose(gross.expected_profit["bundled"], 0.5 * 1000 - 0.5 * 225)
    ranked = rank_customers(scores, "upgrade")
    assert ranked["expected_profit"].is_monotonic_decreasing
    assert ranked["cumulative_profit"].iloc[-1] == pytest.approx(
        scores.expected_profit["upgrade"].sum())


class ConstantModel:
    """A duck-typed return model predicting the same probability for everyone."""

    def __init__(self, p: float):
        self.p = p

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.full(len(df), self.p)


def test_value_can_be_a_function_of_the_counterfactual():
    df = simulate_study(1_000, seed=2)
    v = expected_values(df, "upgrade", lambda d: (d["offer_received"] == "upgrade") * 500.0)
    assert (v == 500).all()
    with pytest.raises(ModelError, match="probabilities"):
        score_offers(df, ConstantModel(1.5))
    with pytest.raises(ModelError, match="one probability of return per customer"):
        score_offers(df, type("Short", (), {"predict": lambda self, d: np.ones(3)})())


def test_model_targeting_beats_random_under_the_true_probabilities(study, model):
    """Truth known: expected incremental profit of the top 30% by the model vs a random 30%."""
    truth_p = _true_probability(study, "discount")
    truth_p0 = _true_probability(study, "none")
    # the fitted model recovers the true probabilities closely
    fitted = model.predict(counterfactual(study, "discount"))
    assert np.corrcoef(fitted, truth_p)[0, 1] > 0.99
    value, cost = 1_410.0, 120.0
    true_profit = (truth_p - truth_p0) * value - truth_p * cost
    sc = score_offers(study, model, offers=("discount",), value=value)
    k = int(0.3 * len(study))
    top = np.argsort(-sc.expected_profit["discount"].to_numpy())[:k]
    rng = np.random.default_rng(0)
    random_means = [true_profit[rng.choice(len(study), k, replace=False)].mean()
                    for _ in range(20)]
    assert true_profit[top].mean() > max(random_means) + 20  # USD per customer contacted
    oracle = np.sort(true_profit)[::-1][:k].mean()
    assert true_profit[top].mean() > 0.97 * oracle


def test_gain_curve_realised_response_rises_when_targeting(study, scores):
    g = gain_curve(study, scores.probability["discount"], "discount")
    c = g.curve
    everyone = c.iloc[-1]
    arm = study[study["offer"] == "discount"]
    assert everyone["contacted"] == len(arm)
    assert everyone["response_rate"] == pytest.approx(arm["reacquired"].mean())
    res = offer_experiment(study, n_boot=10)
    assert everyone["profit"] == pytest.approx(res.arms.loc["discount", "net_profit"], rel=1e-9)
    top20 = g.at(0.2)
    assert top20["response_rate"] > everyone["response_rate"] + 0.15  # P10
    assert top20["profit"] > top20["random_profit"]
    assert (np.diff(c["reacquired"]) >= 0).all()
    assert "discount arm" in g.summary()
    with pytest.raises(DesignError, match="arm must be one of"):
        gain_curve(study, scores.probability["discount"], "coupon")
    others = (study["offer"] != "discount").to_numpy()
    with pytest.raises(DataError, match="no customers in the 'discount' arm") as info:
        gain_curve(study[others], scores.probability["discount"][others], "discount")
    assert info.value.problem == "empty_arm"
    with pytest.raises(DataError, match="one value per row"):
        gain_curve(study, scores.probability["discount"].iloc[:10], "discount")


def test_gain_curve_by_hand_on_a_tiny_frame():
    df = pd.DataFrame({
        "offer": ["discount"] * 4 + ["none"] * 4,
        "offer_received": ["discount"] * 4 + ["none"] * 4,
        "reacquired": [1, 0, 1, 0, 1, 0, 0, 0],
        "slv": [1000, np.nan, 500, np.nan, 800, np.nan, np.nan, np.nan],
        "s": [0.9, 0.8, 0.1, 0.2, 0.9, 0.5, 0.4, 0.1],
    })
    c = gain_curve(df, "s", "discount", fractions=[0.5]).curve.set_index("share_contacted")
    half = c.loc[0.5]
    # top half of the arm: s 0.9 (back, 1000) and 0.8 (not back); control top half: 1 of 2
    assert half["reacquired"] == 1 and half["response_rate"] == 0.5
    assert half["baseline_rate"] == 0.5 and half["incremental"] == 0
    assert half["profit"] == pytest.approx(0 * 1000 - 120)
    assert half["regained_total"] == pytest.approx(1 + 0.0 * 2)  # control bottom half: 0 back


def test_top_fraction_response_and_cross_fitting(study):
    p = cross_fit_predict(study, _probit, folds=2, seed=1)
    assert p.between(0, 1).all() and p.index.equals(study.index)
    t = top_fraction_response(study, p, fraction=0.2)
    assert t["contacted"] == 8_000 and t["offered"] == 40_000
    assert t["top_ci_low"] > t["response_rate_all"] and t["p_value"] < 1e-10
    lo, hi = stats.binomtest(int(round(t["response_rate_top"] * 8000)), 8000).proportion_ci(
        method="wilson")
    assert (t["top_ci_low"], t["top_ci_high"]) == pytest.approx((lo, hi))


def test_policies_frontier_and_budget(study, scores):
    pol = policy_table(scores, study, budgets=(50_000,))
    assert pol.loc["no offers", "profit"] == 0
    assert pol.loc["no offers", "regained"] == pytest.approx(
        scores.probability["none"].mean() * 10_000)
    best = pol.loc["model: best offer per customer", "profit"]
    assert best >= pol.loc[pol["kind"] == "one offer", "profit"].max() - 1e-6
    budget = pol.loc["model, budget $50,000"]
    assert budget["cost"] <= 50_000 * (1 + 1e-6)
    assert budget["profit"] > pol.loc["random discount, budget $50,000", "profit"]
    a = budget_policy(scores, 1e4)
    assert evaluate_policy(scores, a, per=None)["cost"] <= 1e4 + 1e-6
    fr = policy_frontier(scores, weights=[0, 100, 1_000, 10_000])
    assert fr["profit"].iloc[0] == pytest.approx(best)
    assert fr["regained"].is_monotonic_increasing and fr["profit"].is_monotonic_decreasing
    # each frontier point maximises profit + weight x extra customers over every policy
    for _, f in fr.iterrows():
        objective = pol["profit"] + f["weight"] * pol["incremental"]
        assert f["profit"] + f["weight"] * f["incremental"] >= objective.max() - 1e-6
    pts = published_arm_points(tailored_cost=125.0)
    assert pts.loc["discount", "profit"] == pytest.approx(6.68 * 0.45 * 120 * 10_000)
    assert pts.loc["bundled", "regained"] == pytest.approx(4_700)


def test_uplift_by_segment_against_hand_computation(study):
    u = uplift_by_segment(study, "defection_reason")
    row = u.loc[("service", "upgrade")]
    t = study[(study["defection_reason"] == "service") & (study["offer"] == "upgrade")]
    c = study[(study["defection_reason"] == "service") & (study["offer"] == "none")]
    assert row["uplift"] == pytest.approx(t["reacquired"].mean() - c["reacquired"].mean())
    assert row["ci_low"] < row["uplift"] < row["ci_high"]
    assert list(u.index.get_level_values("arm")[:4]) == ["discount", "upgrade", "bundled",
                                                         "tailored"]


def test_qini_of_the_model_beats_a_random_score(study, scores):
    q = qini_curve(study, scores.uplift["discount"], "discount")
    noise = qini_curve(study, np.random.default_rng(3).random(len(study)), "discount")
    assert q.coefficient > 0.005 > abs(noise.coefficient)
    c = q.curve
    assert c["incremental"].iloc[0] == 0
    arm = study[study["offer"] == "discount"]
    ctrl = study[study["offer"] == "none"]
    total = arm["reacquired"].sum() - ctrl["reacquired"].mean() * len(arm)
    assert c["incremental"].iloc[-1] == pytest.approx(total)


def test_sample_size_against_textbook_values():
    # Cohen (1988), Table 6.4.1: h = 0.20, two-sided alpha 0.05, power 0.80 -> n = 392 per group
    p1 = 0.5
    p2 = np.sin(np.arcsin(np.sqrt(p1)) + 0.1) ** 2  # h = 2 asin(sqrt p2) - 2 asin(sqrt p1) = 0.2
    assert sample_size_per_arm(p1, p2) in (392, 393)
    # closed form: n = 2 (z_{1-a/2} + z_{power})^2 / h^2
    h = 2 * np.arcsin(np.sqrt(0.47)) - 2 * np.arcsin(np.sqrt(0.45))
    n = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 / h**2
    assert sample_size_per_arm(0.45, 0.47) == int(np.ceil(n))
    assert 9_500 < sample_size_per_arm(0.45, 0.47) < 10_000
    power = design_power(0.45, 0.47, 10_000)
    assert power == pytest.approx(stats.norm.cdf(h * np.sqrt(10_000 / 2) - stats.norm.ppf(0.975)),
                                  abs=1e-3)
    assert design_power(0.45, 0.47, 10_000, n_comparisons=6) < power
    t = sample_size_table(0.45, differences=(0.02, 0.05))
    assert t.loc[0.02, "n_per_arm_power_0.8"] == sample_size_per_arm(0.45, 0.47)
    with pytest.raises(ValueError, match="equal"):
        sample_size_per_arm(0.45, 0.45)


def test_best_offer_depends_on_the_objective(study, scores):
    from winback_study.analysis.targeting import best_offer_by_segment

    by_profit = best_offer_by_segment(scores, study)
    assert len(by_profit) == 24 and by_profit["customers"].sum() == len(study)
    assert (by_profit["margin"] >= 0).all()
    seg = by_profit.iloc[0]
    assert seg["best_score"] == pytest.approx(seg[f"profit_{seg['best_offer']}"])
    by_roi = best_offer_by_segment(scores, study, objective="roi")
    by_share = best_offer_by_segment(scores, study, objective="regained")
    # the study's point: the cheapest offer pays best per dollar, the bundle wins back most
    assert (by_roi["best_offer"] == "upgrade").mean() > 0.5
    assert (by_share["best_offer"] == "bundled").mean() > 0.5
    assert by_profit["best_offer"].isin(["discount", "upgrade", "bundled", "none"]).all()


def test_replication_row_p10(study):
    from winback_study.reporting.replication import replication_table

    row = replication_table(study).set_index("id").loc["P10"]
    assert row["status"] == "match"
    assert row["ci_low"] > 50 and "top 20%" in row["test"]


def test_budget_frontier_grows_with_the_budget(scores):
    from winback_study.analysis.targeting import budget_frontier

    bf = budget_frontier(scores, budgets=[0, 10_000, 100_000, 1e9])
    assert bf["profit"].iloc[0] == 0 and bf["contacted"].iloc[0] == 0
    assert bf["profit"].is_monotonic_increasing
    assert (bf["cost"] <= bf["budget"] * (1 + 1e-6)).all()
    assert bf["profit"].iloc[-1] == pytest.approx(
        evaluate_policy(scores, scores.best()["best_offer"])["profit"])


def test_splits_do_not_replay_the_simulators_draws():
    """Seeding a split with the simulation's seed must not select customers by reason."""
    from winback_study.analysis.targeting import holdout_mask

    df = simulate_study(20_000, seed=77)
    naive = np.random.default_rng(77).random(len(df)) < 0.5  # the trap
    assert df.loc[naive, "defection_reason"].nunique() < 4
    mask = holdout_mask(len(df), 0.5, seed=77)
    share = df.groupby(mask)["defection_reason"].value_counts(normalize=True).unstack()
    assert (share.loc[True] - share.loc[False]).abs().max() < 0.03


def test_qini_bootstrap_interval(study, scores):
    kw = {"n_boot": 100, "seed": 5}
    q = qini_curve(study, scores.uplift["discount"], "discount", **kw)
    assert q.n_boot == 100 and q.ci_low < q.coefficient < q.ci_high
    assert q.ci_low > 0  # the model's ranking beats random, beyond resampling noise
    again = qini_curve(study, scores.uplift["discount"], "discount", **kw)
    assert (again.ci_low, again.ci_high) == (q.ci_low, q.ci_high)  # seeded
    plain = qini_curve(study, scores.uplift["discount"], "discount")
    assert plain.coefficient == q.coefficient and np.isnan(plain.ci_low) and plain.n_boot == 0
    # a score unrelated to the outcome: the interval covers 0
    noise = qini_curve(study, np.random.default_rng(3).random(len(study)), "discount", **kw)
    assert noise.ci_low < 0 < noise.ci_high
    # the random line's area is half the arm's total uplift per customer
    c = q.curve
    assert q.random_area == pytest.approx(c["incremental"].iloc[-1] / 2
                                          / c["treated_targeted"].iloc[-1])
    with pytest.raises(ValueError):  # an argument out of range: a plain ValueError
        qini_curve(study, scores.uplift["discount"], "discount", n_boot=-1)
    treated = (study["offer"] != "none").to_numpy()
    with pytest.raises(DataError, match="no-offer") as info:
        qini_curve(study[treated], scores.uplift["discount"][treated], "discount")
    assert info.value.problem == "no_baseline"


def _segment_leads(n: int, seed: int, objectives: tuple[str, ...]):
    """A study, its training half and each objective's best offer by segment on the rest."""
    from winback_study.analysis.targeting import best_offer_by_segment, holdout_mask

    df = simulate_study(n, seed=seed)
    train = holdout_mask(len(df), 0.5, seed=seed)
    hold = df[~train]
    sc = score_offers(hold, _probit(df[train]))
    return df, train, {o: best_offer_by_segment(sc, hold, objective=o) for o in objectives}


def test_segment_margin_se_is_seeded_and_matches_the_segments():
    from winback_study.analysis.targeting import segment_margin_se

    df, train, best = _segment_leads(12_000, 11, ("profit", "regained"))
    se = segment_margin_se(df, train, _probit, best, n_boot=6, seed=2)
    assert list(se.columns) == ["profit", "regained"]
    assert se.index.equals(best["profit"].index)
    assert (se.to_numpy() > 0).all() and np.isfinite(se.to_numpy()).all()
    # a lead in return probability is a few points at most, its SE well under that scale
    assert (se["regained"] < 0.1).all()
    again = segment_margin_se(df, train, _probit, best, n_boot=6, seed=2)
    pd.testing.assert_frame_equal(se, again)
    with pytest.raises(ValueError, match="unknown objective"):
        segment_margin_se(df, train, _probit, {"share": best["profit"]}, n_boot=6)
    with pytest.raises(DataError, match="one entry per row"):
        segment_margin_se(df, train[:10], _probit, best, n_boot=6)


@pytest.mark.slow
def test_segment_margin_se_delta_method_agrees_with_the_refit_bootstrap():
    """The delta method (one fit, the default) against what it replaces: 150 replicates
    that each refit the model and rescore resampled customers. The bootstrap's own Monte
    Carlo error on a standard deviation is about 1/sqrt(2 x 149) = 6%."""
    from winback_study.analysis.targeting import segment_margin_se

    df, train, best = _segment_leads(8_000, 5, ("profit", "roi", "regained"))
    fit = functools.partial(fit_return_model, link="probit")  # the package's own model
    delta = segment_margin_se(df, train, fit, best)
    assert_frame_equal = pd.testing.assert_frame_equal
    assert_frame_equal(segment_margin_se(df, train, _probit, best), delta)  # statsmodels'
    boot = segment_margin_se(df, train, fit, best, method="bootstrap", n_boot=150, seed=9)
    ratio = delta / boot
    assert ratio.median().between(0.85, 1.15).all(), ratio.describe()
    assert ((ratio > 0.65) & (ratio < 1.35)).all().all(), ratio.describe()
    # it is a different estimator, not the bootstrap replayed: a model whose design
    # matrix cannot be read falls back to the bootstrap, seeded
    opaque = lambda d: type("M", (), {"predict": fit(d).predict})()  # noqa: E731
    assert_frame_equal(segment_margin_se(df, train, opaque, best, n_boot=3, seed=9),
                       segment_margin_se(df, train, fit, best, method="bootstrap", n_boot=3,
                                         seed=9))
    with pytest.raises(ValueError, match="method"):
        segment_margin_se(df, train, _probit, best, method="jackknife")


def test_scores_carry_their_design(study, model, scores):
    assert scores.design is KUMAR_2015 and scores.control == "none"
    assert list(scores.probability.columns) == list(KUMAR_2015.arms)
    assert scores.single_offers == list(KUMAR_2015.targetable_offers)  # no rule arm
    part = study.iloc[:300]
    dear = score_offers(part, model, costs={"upgrade": 99.0})
    assert dear.design.costs["upgrade"] == 99.0 and (dear.cost["upgrade"] == 99.0).all()
    # the offer each customer receives under an arm is the design's (received_for): the
    # targeting package has no second copy of it
    assert not hasattr(targeting, "received_offers")
    got = KUMAR_2015.received_for("tailored", part["defection_reason"])
    assert (got == counterfactual(part, "tailored")["offer_received"].astype(str)).all()
    with pytest.raises(TypeError):
        counterfactual(part, "upgrade", None, KUMAR_2015)  # design is keyword-only


# --------------------------------------------------------------------------------------
# another design: the same analyses, other arm names and costs (issue 11)
# --------------------------------------------------------------------------------------
def test_targeting_functions_on_another_design(gifts, gift_design, by_offer):
    df, d = gifts, gift_design
    sc = score_offers(df, by_offer, design=d)
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
    # the rule arm's policy when it was not scored: each reason's offer, from the design
    singles = score_offers(df, by_offer, offers=d.targetable_offers, design=d)
    assert pol.loc["by_reason by reason", "profit"] == pytest.approx(
        policy_table(singles, df).loc["by_reason by reason", "profit"])
    a = budget_policy(sc, 5_000.0)
    assert a.isin(["none", *d.targetable_offers]).all()
    assert evaluate_policy(sc, a, per=None)["cost"] <= 5_000.0 * (1 + 1e-6)
    with pytest.raises(DesignError, match="unknown offers in the assignment"):
        evaluate_policy(sc, "coupon")
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


def test_cell_values_keep_the_cell_of_a_missing_reason():
    """Returners without a reason are a segment of their own (as the text keys made them),
    not folded into the offer's mean."""
    from winback_study.analysis.targeting.scores import expected_values

    df = simulate_study(4_000, seed=3)
    df["defection_reason"] = df["defection_reason"].astype(object)
    df.loc[df.index[:400], "defection_reason"] = np.nan
    df["slv"] = np.where(df["defection_reason"].isna(), 5_000.0, 100.0)
    got = expected_values(df, "discount")
    missing = df["defection_reason"].isna().to_numpy()
    assert np.allclose(got[missing], 5_000.0) and np.allclose(got[~missing], 100.0)
