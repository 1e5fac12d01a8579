import numpy as np
import pandas as pd
import pytest

from winback_study import simulate_study
from winback_study.analysis.customer_value import (
    expected_slv,
    slv_discount_sensitivity,
    value_routes,
    win_back_value,
    win_back_values,
    with_offer,
)
from winback_study.core.value import (
    annuity_factor,
    expected_annuity,
    expected_lifetime_value,
    lifetime_value,
    monthly_rate,
)
from winback_study.errors import DataError, DesignError, ModelError
from winback_study.models.sbg import (
    GeometricResult,
    SBGBoundaryError,
    SBGResult,
    fit_geometric,
    fit_sbg,
    monthly_survival,
    survivor_counts,
)
from winback_study.models.second_lifetime import fit_second_lifetime
from winback_study.models.second_profit import fit_second_profit


def test_monthly_rate_compounds_to_annual():
    assert (1 + monthly_rate(0.10)) ** 12 == pytest.approx(1.10)


def test_annuity_matches_explicit_sum():
    d = monthly_rate(0.10)
    for t in (1, 12, 37):
        direct = sum(1 / (1 + d) ** k for k in range(1, t + 1))
        assert annuity_factor(t) == pytest.approx(direct)


def test_zero_rate_and_zero_length():
    assert annuity_factor(24, annual_rate=0.0) == 24
    assert lifetime_value(50.0, 0) == 0.0


def test_value_rises_with_margin_and_length_and_falls_with_rate():
    assert lifetime_value(60, 24) > lifetime_value(50, 24)
    assert lifetime_value(50, 36) > lifetime_value(50, 24)
    assert lifetime_value(50, 24, 0.2) < lifetime_value(50, 24, 0.1)
    assert np.all(np.diff(annuity_factor(np.arange(100))) > 0)


def test_bad_rate():
    with pytest.raises(DataError, match="annual_rate"):
        monthly_rate(-1.5)


# =============================================================================== expected values
# Value from survival curves and margins, win-back attempts, routes to value; the sBG
# extensions (boundary, geometric limit, survivor counts from censored data) are tested here
# because the value routes are what use them.


@pytest.mark.parametrize("rate", [0.0, 0.10, 0.25])
def test_expected_annuity_of_a_known_lifetime_is_the_annuity(rate):
    for t in (1, 7, 60):
        step = (np.arange(100) < t).astype(float)  # S(k) = 1 while k < T
        assert expected_annuity(step, rate) == pytest.approx(annuity_factor(t, rate))
        assert expected_lifetime_value(step, 40.0, rate) == pytest.approx(
            lifetime_value(40.0, t, rate))


def test_expected_annuity_geometric_closed_form_and_columns():
    p, v = 0.03, 1 / (1 + monthly_rate(0.10))
    s = (1 - p) ** np.arange(5000)
    assert expected_annuity(s) == pytest.approx(v / (1 - (1 - p) * v), rel=1e-9)
    two = np.column_stack([s, np.ones(5000)])
    out = expected_annuity(two)
    assert out.shape == (2,) and out[1] > out[0]
    assert expected_annuity(s, 0.0) == pytest.approx(1 / p, rel=1e-6)  # expected months


def test_expected_annuity_rejects_non_probabilities():
    with pytest.raises(DataError, match="between 0 and 1"):
        expected_annuity([1.0, 1.2])


def test_expected_slv_uses_the_one_value_definition(known_lifetime):
    df = pd.DataFrame({"x": range(7)})
    m = known_lifetime
    got = expected_slv(df, m, m, chunk_size=3)
    np.testing.assert_allclose(got, lifetime_value(50.0, 24))
    many = expected_slv(df, m, m, annual_rate=[0.0, 0.1])
    assert list(many.columns) == [0.0, 0.1]
    np.testing.assert_allclose(many[0.0], 50.0 * 24)


def test_win_back_value_formula():
    assert win_back_value(0.4, 1400.0, 120.0) == pytest.approx(0.4 * 1280.0)
    assert win_back_value(0.4, 1400.0, 120.0, contact_cost=5.0,
                          p_return_baseline=0.16, slv_baseline=1500.0) == pytest.approx(
        0.4 * 1280.0 - 5.0 - 0.16 * 1500.0)
    np.testing.assert_allclose(win_back_value([0.1, 0.5], [1000, 1000], 100), [90.0, 450.0])
    with pytest.raises(DataError, match="probability") as info:
        win_back_value([0.5, 1.2], 1000.0, 100.0)
    assert info.value.problem == "not_a_probability" and "1 value is not (e.g. 1.2)" in str(
        info.value)
    with pytest.raises(ValueError, match="both"):  # how it is called: a plain ValueError
        win_back_value(0.5, 1000.0, 100.0, p_return_baseline=0.1)


def test_with_offer_is_consistent_with_the_study_design():
    df = simulate_study(2000, seed=3)
    t = with_offer(df, "tailored")
    mapping = {"price": "discount", "service": "upgrade", "both": "bundled", "other": "discount"}
    assert (t["offer_received"].astype(str) == t["defection_reason"].astype(str).map(mapping)).all()
    assert (t.loc[t["defection_reason"] != "other", "offer_matches_reason"] == 1).all()
    assert (t.loc[t["defection_reason"] == "other", "offer_matches_reason"] == 0).all()
    n = with_offer(df, "none")
    assert (n["offer_cost"] == 0).all() and (n["offer_matches_reason"] == 0).all()
    b = with_offer(df, "bundled")
    assert (b["offer_cost"] == 225.0).all()
    assert (b["offer_matches_reason"] == (b["defection_reason"] == "both")).all()
    with pytest.raises(DesignError, match="arm must be one of"):
        with_offer(df, "gift")


# ------------------------------------------------------------------ sBG extensions
def test_sbg_boundary_gives_the_geometric_limit():
    falling = [10000, 7000, 4700, 3000, 1850]  # retention 0.70, 0.67, 0.64, 0.62
    with pytest.raises(SBGBoundaryError, match="retention does not rise") as info:
        fit_sbg(falling)
    geo = info.value.geometric
    lost, exposure = 10000 - 1850, 10000 + 7000 + 4700 + 3000
    assert geo.churn == pytest.approx(lost / exposure)
    assert geo.churn == pytest.approx(fit_geometric(falling).churn)
    assert isinstance(info.value, RuntimeError)  # callers catching RuntimeError still do


def test_geometric_result_behaves_like_sbg():
    g = fit_geometric([1000, 800, 640, 512])
    assert g.churn == pytest.approx(0.2)
    assert g.survival(3) == pytest.approx(0.512)
    assert g.retention(5) == pytest.approx(0.8)
    assert g.project(5)["expected"].iloc[4] == pytest.approx(1000 * 0.8**4)
    d = 0.1
    direct = sum(0.8 ** (k + 1) / (1 + d) ** k for k in range(2000))
    assert g.derl(d, renewals=3) == pytest.approx(direct)
    assert g.summary.loc["churn", "std_err"] > 0
    with pytest.raises(ModelError, match="churn"):
        GeometricResult(churn=1.5)


def test_survivor_counts_never_count_censoring_as_churn():
    # four customers, yearly periods: churned at 10 and 30 months, censored at 26 and 40
    t = np.array([10, 30, 26, 40])
    e = np.array([1, 1, 0, 0])
    fu = np.array([60, 60, 26, 40])  # follow-up ends where the censored spells end
    full = survivor_counts(t, e, 12, 2, "complete", fu)
    # cohort = follow-up >= 24 months: all four; the one censored at 26 is alive at 24
    assert full.tolist() == [4, 3, 3]
    km = survivor_counts(t, e, 12, 2, "km")
    assert km.tolist() == [4, 3, 3]
    with pytest.raises(DataError, match="follow_up"):
        survivor_counts(t, e, 12, 2, "complete")
    with pytest.raises(DataError, match="beyond the longest"):
        survivor_counts(t, e, 12, 4, "km")
    complete = survivor_counts([5, 13, 25, 40], period=12, method="complete")
    assert complete.tolist() == [4, 3, 2, 1]


def test_monthly_survival_interpolates_within_periods():
    r = SBGResult(alpha=0.704, beta=1.182)
    m = monthly_survival(r, [0, 12, 24, 18])
    np.testing.assert_allclose(m[:3], r.survival([0, 1, 2]))
    assert m[3] == pytest.approx(r.survival(1) * r.retention(2) ** 0.5)


# ------------------------------------------------------------------ on the simulated study
@pytest.fixture(scope="module")
def value_models(population):
    df = population
    w = fit_second_lifetime(df, model="weibull", selection=True)
    return df, w, fit_second_profit(df)


def test_model_slv_is_close_to_the_simulated_truth(value_models):
    df, w, pm = value_models
    back = df[df["reacquired"] == 1]
    est = expected_slv(back, w, pm).mean()
    # the fitted Weibull's shape is too small (residual loyalty), so its tail is a
    # little off; 5% is the honest tolerance, and the estimate beats the in-window bound
    assert est == pytest.approx(back["slv"].mean(), rel=0.05)
    assert est > back["slv_observed"].mean()


def test_cox_cannot_value_beyond_the_window(value_models):
    df, _, pm = value_models
    cox = fit_second_lifetime(df, model="cox", selection=True)
    back = df[df["reacquired"] == 1].head(10)
    with pytest.raises(ModelError, match="model='weibull'"):
        expected_slv(back, cox, pm)
    assert (expected_slv(back, cox, pm, horizon_months=60) > 0).all()


def test_value_routes_table(value_models):
    df, w, pm = value_models
    tab = value_routes(df, w, pm)
    first, second = tab.loc["first"], tab.loc["second"]
    # each lifetime is set beside its own published figure, typed here a second time from
    # HBR 2016 ($1,262 first, $1,410 second; the module's constants are checked against the
    # source in tests/data/test_published.py), and vs_published is the relative gap to it
    assert (first["published"] == 1262).all() and (second["published"] == 1410).all()
    assert np.allclose(first["vs_published"], first["value"] / 1262 - 1)
    assert np.allclose(second["vs_published"], second["value"] / 1410 - 1)
    assert abs(first.loc["observed (complete lifetimes)", "vs_published"]) < 0.03
    km = first.loc["Kaplan-Meier x margin, by plan", "value"]
    assert km == pytest.approx(first.loc["observed (complete lifetimes)", "value"], rel=0.01)
    sbg_rows = [r for r in tab.index if r[1].startswith("sBG")]
    assert len(sbg_rows) == 3
    assert all("geometric limit" in tab.loc[r, "note"] for r in sbg_rows)


def test_slv_sensitivity_falls_with_the_rate(value_models):
    df, w, pm = value_models
    sens = slv_discount_sensitivity(df, w, pm, rates=(0.0, 0.1, 0.2))
    assert list(sens.columns) == ["expected_slv", "simulated_slv", "observed_slv"]
    assert sens["expected_slv"].is_monotonic_decreasing
    assert sens.loc[0.1, "simulated_slv"] == pytest.approx(
        df.loc[df["reacquired"] == 1, "slv"].mean(), rel=1e-4)


def test_win_back_values_by_offer(value_models):
    df, w, pm = value_models
    part = df.head(400)
    v = win_back_values(part, w, pm)
    assert v.index.nlevels == 2 and len(v) == 5 * 400
    none = v.xs("none", level="offer")
    assert (none["incremental_value"] == 0).all() and (none["cost_if_accepted"] == 0).all()
    np.testing.assert_allclose(
        v["value"], v["p_return"] * (v["expected_slv"] - v["cost_if_accepted"]))
    mean = v.groupby(level="offer").mean()
    assert mean.loc["bundled", "p_return"] > mean.loc["upgrade", "p_return"]
    assert mean.loc["upgrade", "expected_slv"] > mean.loc["bundled", "expected_slv"]
    with pytest.raises(ModelError, match="return model"):
        win_back_values(part, fit_second_lifetime(df, model="weibull", selection=None), pm)


def test_lifetime_value_leaves_its_inputs_alone_and_broadcasts():
    months = np.array([12.0, 24.0])
    margin = np.array([[1.0], [2.0]])
    value = lifetime_value(margin, months)
    assert value.shape == (2, 2) and months.tolist() == [12.0, 24.0]
    assert lifetime_value(margin[0, 0], months[0]) == pytest.approx(value[0, 0])
    assert isinstance(lifetime_value(50.0, 12), float)  # scalar in, scalar out


# ------------------------------------------------------------------ another design (issue 11)
def test_value_functions_on_another_design(gifts, gift_design, by_offer, known_lifetime):
    part = gifts.head(200)
    cf = with_offer(part, "by_reason", design=gift_design)
    want = part["defection_reason"].astype(str).map(dict(gift_design.rules["by_reason"]))
    assert (cf["offer_received"].astype(str) == want).all()
    assert (cf["offer_cost"] == want.map(gift_design.costs)).all()
    known = known_lifetime
    v = win_back_values(part, known, known, return_model=by_offer, contact_cost=1.0,
                        design=gift_design)
    assert len(v) == 5 * len(part)
    assert list(v.index.get_level_values("offer").unique()) == list(gift_design.arms)
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
