"""The return model: recovery of the simulator's truth, published directions, statsmodels
parity, evaluation helpers, the selection step and clear errors."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import winback_study as wb
from winback_study.core.formula import formula_columns
from winback_study.core.results import SUMMARY_COLUMNS
from winback_study.data.describe import return_rate_table
from winback_study.errors import DataError
from winback_study.models.return_checks import fitted_levels, study_factor_order
from winback_study.models.return_probability import (
    DEFAULT_RETURN_FORMULA,
    ReturnModel,
    ReturnModelError,
    fit_return_model,
)

TRUTH = wb.true_return_coefficients()


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return wb.simulate_study(53_000, seed=31)


@pytest.fixture(scope="module")
def probit(study) -> ReturnModel:
    return fit_return_model(study, link="probit")


@pytest.fixture(scope="module")
def logit(study) -> ReturnModel:
    return fit_return_model(study, link="logit")


# --- recovery of the simulator's true coefficients (the DGP is a probit) ------------------

def test_tidy_names_are_the_true_coefficient_names(probit):
    assert list(probit.params.index) == list(probit.terms.index)
    assert probit.terms.index.name == probit.summary.index.name == "term"
    assert list(probit.terms.columns) == ["raw", "variable", "level", "reference"]
    assert set(probit.params.index) == set(TRUTH.index)
    assert probit.terms.loc["defection_reason[both]", "reference"] == "price"
    assert probit.terms.loc["offer_received[upgrade]", "raw"] == "offer_received[T.upgrade]"
    assert probit.terms.loc["offer_received[upgrade]", "reference"] == "none"






def test_probit_recovers_the_true_coefficients():
    df = wb.simulate_study(200_000, seed=5)
    table = fit_return_model(df, link="probit").recovery_table(TRUTH)
    assert (table["z"].abs() < 4).all(), table
    big = table["true"].abs() >= 0.1  # reason, offer, behaviour effects and the intercept
    assert ((table.loc[big, "coef"] / table.loc[big, "true"] - 1).abs() < 0.1).all(), table


def test_single_seed_interval_coverage(probit):
    """Fast version of the coverage study: of 14 intervals, P(<= 10 cover) is about 0.4%."""
    table = probit.recovery_table(TRUTH)
    assert table["covered"].sum() >= 11, table


def _coverage(seeds, n_customers: int) -> pd.DataFrame:
    rows = {}
    for seed in seeds:
        df = wb.simulate_study(n_customers, seed=seed)
        rows[seed] = fit_return_model(df, link="probit").recovery_table(TRUTH)["covered"]
    return pd.DataFrame(rows).T


@pytest.mark.slow
def test_interval_coverage_over_200_seeds():
    """95% Wald intervals cover the truth in 90-99% of 200 simulated studies (10,000 each)."""
    covered = _coverage(range(1000, 1200), 10_000)
    per_coef = covered.mean()
    pooled = covered.to_numpy().mean()
    assert 0.93 <= pooled <= 0.97, per_coef  # 2,800 intervals: sd of the share ~0.4 pp
    assert per_coef.between(0.90, 0.99).all(), per_coef


# --- published directions (P5, P6) -------------------------------------------------------

@pytest.mark.parametrize("link", ["probit", "logit"])
def test_signs_agree_with_published_findings(study, link, probit, logit):
    model = {"probit": probit, "logit": logit}[link]
    ci = model.conf_int()
    me = model.marginal_effects()
    # P5: referrals +, complaints -, a resolved complaint +; all clearly away from zero
    for name, sign in [("referrals", 1), ("complaints", -1), ("complaints_resolved", 1)]:
        assert (np.sign(ci.loc[name]) == sign).all(), name
        assert np.sign(me.loc[name, "effect"]) == sign
    # P6: service and both below price, both the lowest
    assert ci.loc["defection_reason[service]", "ci_high"] < 0
    assert ci.loc["defection_reason[both]", "ci_high"] < 0
    assert model.params["defection_reason[both]"] < model.params["defection_reason[service]"]
    assert me.loc["defection_reason[both]", "effect"] < me.loc["defection_reason[service]",
                                                               "effect"] < 0


# --- the wrapper adds nothing to statsmodels ---------------------------------------------

@pytest.mark.parametrize("link", ["probit", "logit"])
def test_identical_to_statsmodels(study, link, probit, logit):
    model = {"probit": probit, "logit": logit}[link]
    direct = getattr(smf, link)(DEFAULT_RETURN_FORMULA, data=study).fit(disp=0)
    assert list(model.terms["raw"]) == list(direct.params.index)
    np.testing.assert_array_equal(model.params.to_numpy(), direct.params.to_numpy())
    np.testing.assert_array_equal(model.bse.to_numpy(), direct.bse.to_numpy())
    np.testing.assert_array_equal(model.conf_int().to_numpy(), direct.conf_int().to_numpy())
    assert model.llf == direct.llf and model.nobs == direct.nobs
    me = direct.get_margeff(at="overall", dummy=True).summary_frame()
    ours = model.marginal_effects()
    np.testing.assert_allclose(ours["effect"], me["dy/dx"], rtol=1e-12)
    np.testing.assert_allclose(ours["std_err"], me["Std. Err."], rtol=1e-12)
    np.testing.assert_allclose(model.predict(study.head(500)), direct.predict(study.head(500)),
                               rtol=1e-14)


def test_custom_formula(study):
    model = fit_return_model(study, "reacquired ~ np.log1p(referrals) + C(plan) + defection_reason")
    assert {"plan[standard]", "plan[premium]", "defection_reason[both]",
            "np.log1p(referrals)"} <= set(model.params.index)
    assert model.terms.loc["plan[premium]", "reference"] == "basic"
    assert model.terms.loc["defection_reason[other]", "reference"] == "price"
    assert formula_columns(model.formula) == ("reacquired", ["referrals", "plan",
                                                             "defection_reason"])


def test_formula_without_outcome_keeps_reacquired(study):
    """``"~ x"`` and ``"x"`` mean ``"reacquired ~ x"``, as in every fitter of the package."""
    small = study.iloc[:6_000]
    full = fit_return_model(small, "reacquired ~ referrals + complaints")
    for formula in ("~ referrals + complaints", "referrals + complaints"):
        other = fit_return_model(small, formula)
        assert other.formula == full.formula and other.outcome == "reacquired"
        pd.testing.assert_frame_equal(other.summary, full.summary)
    with pytest.raises(ReturnModelError, match="at most one"):
        fit_return_model(small, "reacquired ~ referrals ~ complaints")


def test_odds_ratios_and_summary(logit, probit, capsys):
    ors = logit.odds_ratios()
    np.testing.assert_allclose(ors["odds_ratio"], np.exp(logit.params))
    assert (ors["ci_low"] < ors["odds_ratio"]).all() and (ors["odds_ratio"] < ors["ci_high"]).all()
    np.testing.assert_array_equal(ors["ci_low"], logit.summary["odds_ratio_ci_low"])
    text = logit.summary_text()
    for piece in ("logit link", "odds_ratio", "defection_reason[both]", "53,000", "converged"):
        assert piece in text
    logit.print_summary()
    assert capsys.readouterr().out.strip() == text
    assert str(logit) == text
    assert "odds_ratio" not in probit.summary_text()
    assert "ReturnModel(link='probit'" in repr(probit)
    assert list(probit.summary.columns) == list(SUMMARY_COLUMNS)
    assert list(logit.summary.columns) == [*SUMMARY_COLUMNS, "odds_ratio", "odds_ratio_ci_low",
                                           "odds_ratio_ci_high"]
    # the statsmodels-style aliases read the same table
    pd.testing.assert_frame_equal(probit.summary_frame(), probit.summary)
    pd.testing.assert_series_equal(probit.params, probit.params_)
    pd.testing.assert_series_equal(probit.bse, probit.standard_errors_)
    pd.testing.assert_frame_equal(probit.conf_int(), probit.confidence_intervals_)
    assert probit.llf == probit.log_likelihood_ and probit.aic == pytest.approx(probit.aic_)
    wide = probit.summary_frame(alpha=0.01)
    assert (wide["ci_low"] < probit.summary["ci_low"]).all()
    np.testing.assert_array_equal(wide["coef"], probit.summary["coef"])


def test_marginal_effects_report_each_level(probit):
    me = probit.marginal_effects()
    assert me.index.name == "term"
    reason = me[me["variable"] == "defection_reason"]
    assert list(reason["level"]) == ["service", "both", "other"]
    assert set(reason["reference"]) == {"price"} and set(reason["kind"]) == {"vs reference"}
    assert me.loc["offer_matches_reason", "kind"] == "0 to 1"
    assert me.loc["referrals", "kind"] == "per unit"
    assert "Intercept" not in me.index
    assert (me["ci_low"] < me["effect"]).all() and (me["effect"] < me["ci_high"]).all()


# --- prediction, segments, evaluation ----------------------------------------------------

def test_predict_and_counterfactual_offer(study, probit):
    p = probit.predict(study)
    assert p.index.equals(study.index) and p.between(0, 1).all()
    price = study[study["defection_reason"] == "price"].head(2_000)
    # tailored gives price leavers the (matching) discount
    manual = price.assign(offer_received=pd.Categorical(
        ["discount"] * len(price), categories=list(wb.KUMAR_2015.received_offers)),
        offer_matches_reason=np.int8(1))
    np.testing.assert_allclose(probit.predict(price, offer="tailored"), probit.predict(manual))
    np.testing.assert_array_equal(probit.predict(price, offer="tailored"),
                                  probit.predict(price, offer="discount"))
    # service leavers: tailored = upgrade, which matches their reason; a discount does not
    service = study[study["defection_reason"] == "service"].head(2_000)
    cf = probit.predict(service.assign(offer_received=pd.Categorical(
        ["upgrade"] * len(service), categories=list(wb.KUMAR_2015.received_offers)),
        offer_matches_reason=np.int8(1)))
    np.testing.assert_allclose(probit.predict(service, offer="tailored"), cf)
    assert (probit.predict(service, offer="none") < probit.predict(service, offer="upgrade")).all()


def test_segment_rates(study, probit):
    table = probit.segment_rates(study, by="reason_offer")
    assert len(table) == 20 and table["customers"].sum() == len(study)
    observed = return_rate_table(study, ["defection_reason", "offer"])
    np.testing.assert_allclose(table["observed"], observed["return_rate"])
    assert (table["gap"].abs() < 0.04).all(), table  # the model reproduces every cell
    for by in ("referrer", "complaint", "referral_band", "plan"):
        t = probit.segment_rates(study, by=by)
        assert t["customers"].sum() == len(study)
        assert (t["gap"].abs() < 0.02).all(), t
    ref = probit.segment_rates(study, by="referrer")
    assert ref.loc["referrer", "predicted"] > ref.loc["no referrals", "predicted"]
    no_outcome = probit.segment_rates(study.drop(columns="reacquired"), by="complaint")
    assert list(no_outcome.columns) == ["customers", "predicted"]


def test_holdout_evaluation():
    df = wb.simulate_study(40_000, seed=8)
    model = fit_return_model(df, link="logit", holdout=0.3, seed=2)
    ev = model.holdout_evaluation
    assert model.nobs == 28_000 and ev.n == 12_000 and ev.sample == "holdout"
    assert 0.68 < ev.auc < 0.76 and 0 < ev.auc_se < 0.01
    assert len(ev.calibration) == 10 and ev.calibration["customers"].sum() == 12_000
    assert ev.max_gap < 0.04 and ev.hl_df == 10 and ev.hl_pvalue > 0.001
    assert "Holdout sample: 12,000 customers" in model.summary_text()
    same = model.evaluate(df.loc[~df.index.isin(model.results.model.data.row_labels)])
    assert same.auc == pytest.approx(ev.auc)
    assert model.in_sample_evaluation().hl_df == 8



def test_plots_return_axes(probit, tmp_path):
    ax = probit.plot_marginal_effects()
    assert ax.get_xlabel().startswith("average marginal effect")
    assert len(ax.get_yticklabels()) == 13
    assert "reason: both (vs price)" in [t.get_text() for t in ax.get_yticklabels()]
    fig, ax2 = plt.subplots()
    assert probit.plot_calibration(ax=ax2) is ax2
    assert ax2.get_xlabel() == "predicted return rate (%)" and "estimation" in (ax2.get_title() + ax2.get_title(loc="left"))
    fig.savefig(tmp_path / "c.png")
    plt.close("all")


# --- a model of some arms, and of another design ---------------------------------------------

def test_the_fitted_levels_are_read_from_the_model_spec(probit):
    """statsmodels 0.15 keeps the formula as ``model.data.model_spec`` (0.14: design_info)."""
    levels = fitted_levels(probit.results)
    assert levels == {"defection_reason": wb.KUMAR_2015.reasons,
                      "offer_received": wb.KUMAR_2015.received_offers}

    class Old:  # statsmodels 0.14: the same patsy DesignInfo under its old name
        class model:
            class data:
                design_info = probit.results.model.data.model_spec

    assert fitted_levels(Old) == levels




@pytest.fixture(scope="module")
def two_arms(small) -> pd.DataFrame:
    """Customers of the no-offer and the discount arm only (categories of every arm kept)."""
    return small[small["offer"].isin(["none", "discount"])]


def test_a_model_of_two_arms_scores_its_arms(two_arms):
    model = fit_return_model(two_arms, link="probit")
    assert model.design == wb.KUMAR_2015
    assert [t for t in model.params.index if t.startswith("offer_received")] == [
        "offer_received[discount]"]
    # the counterfactual frame carries every category of the design; the model codes it
    # with the levels it was fitted on
    assert list(wb.KUMAR_2015.assign(two_arms, "discount")["offer_received"].cat.categories) \
        == list(wb.KUMAR_2015.received_offers)
    p_discount = model.predict(two_arms, offer="discount")
    p_none = model.predict(two_arms, offer="none")
    assert (p_discount > p_none).all()
    treated = two_arms["offer"] == "discount"
    np.testing.assert_allclose(p_discount[treated], model.predict(two_arms)[treated])
    scores = wb.score_offers(two_arms, model, offers=["discount"])
    np.testing.assert_allclose(scores.probability["discount"], p_discount)


@pytest.mark.parametrize("arm", ["upgrade", "tailored"])
def test_an_arm_outside_the_fitted_levels_is_named(two_arms, arm):
    model = fit_return_model(two_arms, link="probit")
    with pytest.raises(ReturnModelError, match=rf"under arm '{arm}': column 'offer_received' "
                                               r"has levels? .*'upgrade'.*not fitted on \(its "
                                               r"levels: 'none', 'discount'\)"):
        model.predict(two_arms, offer=arm)
    with pytest.raises(ReturnModelError, match="'upgrade'"):
        wb.score_offers(two_arms, model, offers=["upgrade"])




@pytest.fixture(scope="module")
def own(own_design, own_params) -> pd.DataFrame:
    return wb.simulate_study(8_000, seed=6, params=own_params, design=own_design)


def test_a_model_of_another_design(own, own_design):
    model = fit_return_model(own, link="probit", design=own_design)
    assert model.design is own_design
    offers = model.terms[model.terms["variable"] == "offer_received"]
    assert list(offers["level"]) == ["free_month", "points"]
    assert set(offers["reference"]) == {"none"}
    assert set(model.terms.loc[model.terms["variable"] == "defection_reason",
                               "reference"]) == {"price"}
    p = {arm: model.predict(own, offer=arm) for arm in own_design.arms}
    assert p["free_month"].mean() > p["points"].mean() > p["none"].mean()
    price = own["defection_reason"] == "price"
    np.testing.assert_allclose(p["by_reason"][price], p["free_month"][price])
    with pytest.raises(wb.DesignError, match="arm must be one of"):
        model.predict(own, offer="discount")
    # the same design read from the frame (simulate_study writes it), or the text columns
    # of a CSV round trip against the design given
    pd.testing.assert_frame_equal(fit_return_model(own, link="probit").summary, model.summary)
    text = own.astype({"offer_received": str, "defection_reason": str, "offer": str})
    text.attrs = {}
    again = fit_return_model(text, link="probit", design=own_design)
    pd.testing.assert_frame_equal(again.summary, model.summary)
    assert list(study_factor_order(text, own_design)["offer_received"].cat.categories) == [
        "none", "free_month", "points"]


def test_the_design_must_fit_the_data(own, small):
    with pytest.raises(wb.DesignError, match="not arms of the design"):
        fit_return_model(own, design=wb.KUMAR_2015)
    assert fit_return_model(small, design=wb.KUMAR_2015).design is wb.KUMAR_2015


def test_arms_that_make_no_design_fit_without_one(own):
    """Arms without costs (and not the study's) make no design: the model still fits, and
    only a counterfactual arm asks for one."""
    text = own.drop(columns="offer_cost").astype({"offer_received": str, "offer": str})
    text.attrs = {}
    model = fit_return_model(text, link="probit")
    assert model.design is None
    assert model.predict(text).between(0, 1).all()
    with pytest.raises(ReturnModelError, match=r"no study design.*no cost for arm.*design="):
        model.predict(text, offer="points")


# --- clear errors --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return wb.simulate_study(6_000, seed=4)
















def test_bad_arguments(small, probit):
    with pytest.raises(ReturnModelError, match="link must be one of"):
        fit_return_model(small, link="cloglog")
    with pytest.raises(DataError, match="must be 0/1") as info:
        fit_return_model(small.assign(reacquired=2))
    assert info.value.column == "reacquired"
    with pytest.raises(ReturnModelError, match="nobody"):
        fit_return_model(small.assign(reacquired=0))
    with pytest.raises(ReturnModelError, match="left-hand side"):
        fit_return_model(small, "I(reacquired > 0) ~ referrals")
    with pytest.raises(ReturnModelError, match="holdout"):
        fit_return_model(small, holdout=1.5)
    with pytest.raises(ReturnModelError, match="logit quantity"):
        probit.odds_ratios()
    with pytest.raises(DataError, match="predict needs the column 'complaints'"):
        probit.predict(small.drop(columns="complaints"))
    odd = small.head(3).assign(defection_reason=["price", "boredom", "both"])
    with pytest.raises(ReturnModelError, match="'boredom'"):
        probit.predict(odd)
    with pytest.raises(DataError, match="cannot segment by"):
        probit.segment_rates(small, by="star_sign")
    with pytest.raises(wb.DesignError, match="arm must be one of"):
        probit.predict(small, offer="free phone")
    with pytest.raises(ReturnModelError, match="different coefficients"):
        probit.recovery_table(TRUTH.drop("referrals"))
    with pytest.raises(TypeError):
        fit_return_model(small.to_numpy())
    with pytest.raises(TypeError):  # link is keyword-only, as every fitter's options
        fit_return_model(small, None, "probit")
    with pytest.raises(wb.ModelError, match="alpha"):
        fit_return_model(small, alpha=1.5)


def test_the_selection_step_is_for_the_probit_only(small):
    logit = fit_return_model(small.iloc[:3_000])
    part = small.head(20)
    np.testing.assert_allclose(logit.probability(part), logit.predict(part))
    np.testing.assert_allclose(logit.index(part), stats.logistic.ppf(logit.predict(part)))
    for method in ("inverse_mills", "generalized_residual", "add_control"):
        with pytest.raises(ReturnModelError, match="probit"):
            getattr(logit, method)(part)


def test_holdout_split_never_replays_the_simulators_draws():
    """seed=s must not split by the simulator's own first draws for seed s."""
    df = wb.simulate_study(4_000, seed=3)
    model = fit_return_model(df, holdout=0.5, seed=3)
    replayed = np.random.default_rng(3).permutation(len(df))[:2_000]
    fitted = df.index.get_indexer(model.results.model.data.row_labels)
    assert not np.array_equal(np.sort(np.setdiff1d(np.arange(len(df)), fitted)),
                              np.sort(replayed))
    again = fit_return_model(df, holdout=0.5, seed=3)
    np.testing.assert_array_equal(again.params, model.params)
