"""Second-lifetime duration: Kaplan-Meier views, Cox/AFT fits, and recovery of the truth.

What the tests claim, and why (checked on 20 other seeds, 100-119, before writing them):

* The naive fit on the reacquired is biased: the intercept by about +0.30 log-months and
  the three offer effects by about -0.11 (95% intervals cover the truth in 0-5% of seeds).
* The control-function correction removes most of that bias (about two thirds on average
  over the seeds; more than half of the summed absolute bias here): it was closer to the truth
  than the naive fit in 20 of 20 seeds for the intercept, the offers and the service/both
  reasons; its 95% intervals covered the covariate effects in 85-100% of seeds (the
  intercept in 80%: the control function approximates a non-linear model, and the
  intervals ignore the first step).
* The Weibull shape is *not* recovered by either fit: the loyalty left after the control
  function is unmodelled frailty, which makes the shape about 5% smaller than ``1/sigma``
  in every seed.
* Cox log hazard ratios are ``-alpha / sigma`` only conditional on loyalty; the residual
  frailty attenuates them, so we test "closer than naive", not coverage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter, KaplanMeierFitter, LogLogisticAFTFitter, WeibullAFTFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats

from winback_study import KUMAR_2015, StudyDesign, StudyParams
from winback_study.analysis.customer_value import with_offer
from winback_study.data.describe import (
    first_vs_second_logrank,
    km_curves,
    km_summary,
    lifetime_spells,
    logrank_by,
)
from winback_study.errors import (
    DataError,
    ModelError,
    SecondLifetimeConvergenceError,
    SecondLifetimeError,
)
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA
from winback_study.models.second_lifetime import (
    DEFAULT_DURATION_FORMULA,
    clean_term,
    design_references,
    fit_second_lifetime,
    true_second_lifetime_effects,
)
from winback_study.models.selection import selection_bias_table
from winback_study.plotting.charts import plot_km

T, E = "second_tenure_months", "second_churned"
OFFERS = ["offer_received[discount]", "offer_received[upgrade]", "offer_received[bundled]"]
REASONS = ["defection_reason[service]", "defection_reason[both]", "defection_reason[other]"]


@pytest.fixture(scope="module")
def df53(population) -> pd.DataFrame:
    """The session's study-sized population (tests/conftest.py)."""
    return population


@pytest.fixture(scope="module")
def back(df53: pd.DataFrame) -> pd.DataFrame:
    return df53[df53["reacquired"] == 1]


@pytest.fixture(scope="module")
def weibull(df53):
    """(naive, selection-corrected): the correction is the default."""
    return (fit_second_lifetime(df53, model="weibull", selection=None),
            fit_second_lifetime(df53, model="weibull"))


@pytest.fixture(scope="module")
def cox(df53):
    return (fit_second_lifetime(df53, model="cox", selection=None),
            fit_second_lifetime(df53, model="cox"))


def _mills(df: pd.DataFrame) -> np.ndarray:
    xb = smf.probit(DEFAULT_RETURN_FORMULA, df).fit(disp=0).fittedvalues
    return np.exp(stats.norm.logpdf(xb) - stats.norm.logcdf(xb))


# ----------------------------------------------------------------- same as lifelines
@pytest.mark.parametrize(
    ("model", "fitter", "param"),
    [("cox", CoxPHFitter, None), ("weibull", WeibullAFTFitter, "lambda_"),
     ("loglogistic", LogLogisticAFTFitter, "alpha_")],
)
def test_identical_to_lifelines_directly(df53, back, model, fitter, param) -> None:
    ours = fit_second_lifetime(df53, model=model, selection=None)
    # the Weibull is fitted by Newton's method (models/weibull_newton.py), which converges
    # further than lifelines' SLSQP at its default tolerance: compare with lifelines run to
    # the same optimum (the default-tolerance fit is checked in test_weibull_newton.py)
    tight = {"ftol": 1e-14} if model == "weibull" else None
    direct = fitter().fit(back, T, E, formula=DEFAULT_DURATION_FORMULA, fit_options=tight)
    s = direct.summary if param is None else direct.summary.xs(param, level=0)
    np.testing.assert_allclose(ours.summary["coef"], s["coef"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.summary["std_err"], s["se(coef)"], rtol=1e-6)
    np.testing.assert_allclose(ours.summary["ci_low"], s["coef lower 95%"], rtol=1e-6)
    # a p-value of 1e-50 moves by 1e-6 of itself when z moves by 1e-8 (Newton and SLSQP
    # stop that far apart)
    np.testing.assert_allclose(ours.summary["p_value"], s["p"], rtol=1e-6 if tight is None
                               else 1e-4, atol=1e-300)
    assert ours.aic_ == pytest.approx(direct.AIC_partial_ if model == "cox" else direct.AIC_,
                                      rel=1e-12)
    assert list(ours.summary.index) == [clean_term(c) for c in s.index]
    assert ours.concordance_ == pytest.approx(direct.concordance_index_, rel=1e-9)
    assert ours.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-9)


def test_corrected_is_lifelines_with_the_probit_mills_ratio(df53, weibull) -> None:
    data = df53.assign(inverse_mills=_mills(df53))
    direct = WeibullAFTFitter().fit(data[data["reacquired"] == 1], T, E,
                                    formula=DEFAULT_DURATION_FORMULA + " + inverse_mills",
                                    fit_options={"ftol": 1e-14})
    np.testing.assert_allclose(weibull[1].summary["coef"],
                               direct.summary.xs("lambda_", level=0)["coef"], rtol=1e-6,
                               atol=1e-7)


# ----------------------------------------------------------------- truth: Weibull AFT
def test_naive_weibull_is_biased_by_selection(weibull) -> None:
    table = selection_bias_table(true_second_lifetime_effects(), weibull[0].summary,
                                 weibull[1].summary)
    # loyal customers are over-represented among the reacquired: intercept too high ...
    assert table.loc["Intercept", "naive_bias"] > 0.2
    # ... and most of all after no offer, so every offer looks weaker than it is
    assert (table.loc[OFFERS, "naive_bias"] < -0.05).all()
    assert not table.loc[["Intercept", *OFFERS], "naive_covers"].any()


def test_corrected_weibull_is_closer_to_truth(weibull) -> None:
    table = selection_bias_table(true_second_lifetime_effects(), weibull[0].summary,
                                 weibull[1].summary)
    most_affected = ["Intercept", *OFFERS, "defection_reason[service]", "defection_reason[both]"]
    assert table.loc[most_affected, "closer"].all(), table
    assert (table.loc[most_affected, "corrected_bias"].abs().sum()
            < 0.5 * table.loc[most_affected, "naive_bias"].abs().sum())


# coverage over many seeds: tests/models/test_selection.py::test_two_step_coverage_over_seeds


def test_weibull_shape_is_not_recovered_and_why(weibull) -> None:
    # The residual loyalty L - rho * lambda is frailty the model does not see: it widens the
    # error, so the fitted shape is below 1/sigma. Documented, not hidden.
    true_log_shape = np.log(1 / StudyParams().second_tenure_sigma)
    for fit in weibull:
        log_shape = fit.ancillary.loc["rho_[Intercept]", "coef"]
        assert true_log_shape - 0.1 < log_shape < true_log_shape - 0.02


# ----------------------------------------------------------------- truth: Cox
def test_cox_corrected_closer_to_truth_on_offers_and_reasons(cox) -> None:
    table = selection_bias_table(true_second_lifetime_effects(model="cox"), cox[0].summary,
                                 cox[1].summary)
    assert table.loc[[*OFFERS, *REASONS], "closer"].all(), table
    # the naive offer hazard ratios are off by a lot: longer lifetimes are attributed to
    # the loyalty of no-offer returners
    assert (table.loc[OFFERS, "naive_bias"] > 0.1).all()
    assert fit_hr_direction(cox[1])


def fit_hr_direction(fit) -> bool:
    """Upgrade lowers the hazard most, bundled least (P9's duration half)."""
    hr = fit.hazard_ratios["hazard_ratio"]
    return bool(hr["offer_received[upgrade]"] < hr["offer_received[discount]"]
                < hr["offer_received[bundled]"])


def test_truth_conversion() -> None:
    p = StudyParams()
    aft = true_second_lifetime_effects(p)
    ph = true_second_lifetime_effects(p, model="cox")
    assert "Intercept" not in ph.index
    assert ph["offer_received[upgrade]"] == pytest.approx(
        -p.second_offer["upgrade"] / p.second_tenure_sigma)
    assert aft["inverse_mills"] == pytest.approx(p.loyalty_second_tenure * p.loyalty_return)
    with pytest.raises(SecondLifetimeError, match="Weibull"):
        true_second_lifetime_effects(model="loglogistic")


# ----------------------------------------------------------------- result object
def test_result_tables_and_ratios(weibull, cox) -> None:
    w, c = weibull[1], cox[1]
    assert list(w.time_ratios.columns) == ["time_ratio", "time_ratio_ci_low",
                                           "time_ratio_ci_high"]
    np.testing.assert_allclose(w.time_ratios["time_ratio"], np.exp(w.summary["coef"]))
    np.testing.assert_allclose(c.hazard_ratios["hazard_ratio"], np.exp(c.summary["coef"]))
    np.testing.assert_allclose(c.hazard_ratios["hazard_ratio_ci_low"], np.exp(c.summary["ci_low"]))
    with pytest.raises(SecondLifetimeError, match="time ratios"):
        w.hazard_ratios  # noqa: B018
    with pytest.raises(SecondLifetimeError, match="hazard ratios"):
        c.time_ratios  # noqa: B018
    assert 0.55 < c.concordance_ < 0.7
    assert c.ancillary.empty and list(w.ancillary.index) == ["rho_[Intercept]"]
    assert list(w.ancillary.columns) == list(c.summary.columns[:6])
    assert w.n_params_ == len(w.params_) + 1 and c.n_params_ == len(c.params_)
    assert "selection-corrected" in repr(w) and "churn events" in repr(w)
    assert w.formula == f"{T} ~ {DEFAULT_DURATION_FORMULA} + inverse_mills"
    k = w.contrast("offer_received[upgrade]", "offer_received[bundled]")
    assert k["estimate"] == pytest.approx(
        w.params_["offer_received[upgrade]"] - w.params_["offer_received[bundled]"])
    assert k["ci_low"] < k["estimate"] < k["ci_high"] and k["p_value"] < 0.01
    one = w.contrast("offer_received[upgrade]")
    assert one["estimate"] == w.params_["offer_received[upgrade]"]
    assert one["std_err"] == pytest.approx(w.standard_errors_["offer_received[upgrade]"])
    with pytest.raises(SecondLifetimeError, match="no term"):
        w.contrast("offer_received[gift]")


def test_ph_test_is_a_table(cox, weibull) -> None:
    tab = cox[1].ph_test()
    assert set(tab.columns) == {"test_statistic", "p_value", "violated"}
    assert "inverse_mills" in tab.index and tab["p_value"].between(0, 1).all()
    with pytest.raises(SecondLifetimeError, match="model='cox'"):
        weibull[1].ph_test()


def test_predict_survival_and_counterfactual_offers(weibull, back) -> None:
    fit = weibull[1]
    part = back.head(50)
    s = fit.predict_survival(part, times=[0, 12, 24, 36])
    assert s.shape == (4, 50) and list(s.columns) == list(part.index)
    assert np.all(np.diff(s.to_numpy(), axis=0) <= 0)
    up = fit.predict_median(with_offer(part, "upgrade"))
    bundle = fit.predict_median(with_offer(part, "bundled"))
    assert (up > bundle).all()  # P9: the upgrade brings back the longest-staying customers


def test_lifetimes_by_segment_model_agrees_with_kaplan_meier(weibull) -> None:
    seg = weibull[1].lifetimes_by_segment("defection_reason", horizon=60)
    assert list(seg.columns) == ["customers", "events", "model_median", "km_median",
                                 "model_rmst", "km_rmst"]
    assert (seg["model_rmst"] / seg["km_rmst"] - 1).abs().max() < 0.03
    assert (seg["model_median"] / seg["km_median"] - 1).abs().max() < 0.08
    assert seg["km_median"].idxmax() == "price"  # P7: price leavers stay longest
    overall = weibull[1].lifetimes_by_segment()
    assert overall.index.tolist() == ["all"]


# ----------------------------------------------------------------- errors
def test_formula_forms(back) -> None:
    """``"duration ~ x"``, ``"~ x"`` and ``"x"`` fit the same model on ``duration_col``."""
    part = back.head(2_000)
    fits = [fit_second_lifetime(part, f, model="weibull", selection=None)
            for f in (f"{T} ~ referrals + complaints", "~ referrals + complaints",
                      "referrals + complaints")]
    for fit in fits[1:]:
        pd.testing.assert_frame_equal(fit.summary, fits[0].summary)
        assert fit.formula == fits[0].formula == f"{T} ~ referrals + complaints"
    other = fit_second_lifetime(part.assign(months=part[T]), "months ~ referrals + complaints",
                                model="weibull", selection=None)
    assert other.duration_col == "months"
    pd.testing.assert_frame_equal(other.summary, fits[0].summary)


def test_the_default_formula_takes_the_design_references() -> None:
    assert design_references(DEFAULT_DURATION_FORMULA, KUMAR_2015) == DEFAULT_DURATION_FORMULA
    assert design_references(DEFAULT_DURATION_FORMULA, None) == DEFAULT_DURATION_FORMULA
    mine = StudyDesign(offers={"control": 0, "voucher": 10}, control="control",
                       reasons=("moved", "price"))
    rhs = design_references(DEFAULT_DURATION_FORMULA, mine)
    assert "C(offer_received, Treatment('control'))" in rhs
    assert "C(defection_reason, Treatment('moved'))" in rhs
    no_reasons = StudyDesign(offers={"control": 0, "voucher": 10}, control="control")
    assert "Treatment('price')" in design_references(DEFAULT_DURATION_FORMULA, no_reasons)


def test_aic_is_lifelines(weibull, cox) -> None:
    assert weibull[1].aic_ == pytest.approx(weibull[1].fitter.AIC_, rel=1e-12)
    assert cox[1].aic_ == pytest.approx(cox[1].fitter.AIC_partial_, rel=1e-12)
    assert "aic_" not in vars(type(weibull[1]))  # the convention's, not redefined


def test_plain_errors(df53, back) -> None:
    with pytest.raises(SecondLifetimeError, match="model must be one of"):
        fit_second_lifetime(df53, model="exponential")
    with pytest.raises(DataError, match="'referrals'") as info:
        fit_second_lifetime(df53.drop(columns="referrals"))
    assert info.value.column == "referrals"
    with pytest.raises(SecondLifetimeError, match="left-hand side"):
        fit_second_lifetime(df53, "np.log(second_tenure_months) ~ referrals")
    with pytest.raises(SecondLifetimeError, match="disagree"):
        fit_second_lifetime(df53, "first_tenure_months ~ referrals", duration_col="months")
    with pytest.raises(SecondLifetimeError, match="all 50 second lifetimes are censored"):
        fit_second_lifetime(back.head(50).assign(second_churned=0.0), "referrals",
                            selection=None)
    with pytest.raises(SecondLifetimeError, match="no reacquired customers"):
        fit_second_lifetime(df53.assign(reacquired=0), "referrals", selection=None)
    with pytest.raises(DataError, match="length <= 0") as info:
        fit_second_lifetime(back.head(50).assign(second_tenure_months=0.0), "referrals",
                            selection=None)
    assert info.value.column == T and info.value.n_rows == 50
    with pytest.raises(DataError, match="missing or non-numeric") as info:
        fit_second_lifetime(df53.assign(reacquired=1), "referrals", selection=None)
    assert info.value.column == T
    with pytest.raises(DataError, match="'reacquired' column") as info:
        fit_second_lifetime(back.drop(columns="reacquired"))  # selection=True is the default
    assert info.value.column == "reacquired"
    with pytest.raises(ModelError, match="alpha"):
        fit_second_lifetime(back, alpha=0)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # lifelines, before failing
def test_convergence_failure_suggests_a_fix(back) -> None:
    data = back.head(500).assign(dup=lambda d: d["referrals"] * 2.0)
    with pytest.raises(SecondLifetimeConvergenceError, match="penalizer") as info:
        fit_second_lifetime(data, "referrals + dup", model="cox", selection=None)
    assert isinstance(info.value, RuntimeError)  # callers catching RuntimeError still do


def test_without_reacquired_column_uses_rows_with_a_second_lifetime(back) -> None:
    fit = fit_second_lifetime(back.drop(columns="reacquired"), "referrals", model="cox",
                              selection=None)
    assert fit.nobs == len(back)


# ----------------------------------------------------------------- Kaplan-Meier
def test_spells_keep_censoring(df53, back) -> None:
    spells = lifetime_spells(df53)
    second = spells[spells["lifetime"] == "second"]
    assert len(second) == len(back)
    assert (second["churned"] == 0).sum() == (back[E] == 0).sum()  # censored kept, not churned
    first = spells[spells["lifetime"] == "first"]
    assert len(first) == len(back) and (first["churned"] == 1).all()
    assert len(lifetime_spells(df53, "all").query("lifetime == 'first'")) == len(df53)


def test_km_summary_matches_lifelines(df53, back) -> None:
    tab = km_summary(df53, "defection_reason")
    g = back[back["defection_reason"] == "service"]
    kmf = KaplanMeierFitter().fit(g[T], g[E])
    row = tab.loc[("service", "second")]
    assert row["median"] == kmf.median_survival_time_
    assert row["customers"] == len(g) and row["censored"] == int((g[E] == 0).sum())
    assert row["median_lower_95"] <= row["median"] <= row["median_upper_95"]
    overall = km_summary(df53)
    assert overall.loc[("all", "second"), "median"] > overall.loc[("all", "first"), "median"]


def test_logrank_tests_match_lifelines(df53, back) -> None:
    res = first_vs_second_logrank(df53)
    direct = logrank_test(back["first_tenure_months"], back[T], np.ones(len(back)), back[E])
    assert res.loc["all", "test_statistic"] == pytest.approx(direct.test_statistic)
    assert res.loc["all", "p_value"] == pytest.approx(direct.p_value)
    assert res.loc["all", "median_second"] > res.loc["all", "median_first"]  # P7
    by = logrank_by(df53, "offer")
    multi = multivariate_logrank_test(back[T], back["offer"].astype(str), back[E])
    assert by.loc[("all", "all"), "test_statistic"] == pytest.approx(multi.test_statistic)
    assert by.loc[("all", "all"), "p_value"] == pytest.approx(multi.p_value)
    assert len(by) == 1 + 10  # all, then every pair of 5 arms


def test_plot_km_draws_bands_and_at_risk(df53) -> None:
    curves = km_curves(df53)
    fig, ax = plt.subplots()
    plot_km(curves, ax=ax, colors=["#000000", "#0072B2"])
    assert len(ax.lines) >= 2 and len(ax.collections) >= 2  # curves and confidence bands
    assert len(fig.axes) >= 2  # at-risk table axis
    plt.close(fig)


def test_first_vs_second_small_multiples_have_no_empty_panels(df53) -> None:
    import matplotlib.pyplot as plt

    from winback_study.plotting.charts import plot_first_vs_second_by

    fig = plot_first_vs_second_by(df53, "offer",
                                  order=["none", "discount", "upgrade", "bundled", "tailored"])
    axes = fig.axes
    assert len(axes) == 5  # 2 x 3 grid, the sixth panel removed
    for ax in axes:
        assert len(ax.lines) >= 2 and len(ax.collections) >= 2  # both curves with bands
        title = " ".join(ax.get_title(loc=loc) for loc in ("left", "center", "right"))
        assert "median" in title  # the house style may put titles on the left
    # the panel above the removed one keeps its month labels
    assert any(t.get_text() for t in axes[2].get_xticklabels())
    plt.close(fig)
    with pytest.raises(ValueError, match="no segment"):
        plot_first_vs_second_by(df53, "offer", order=["nonexistent"])


@pytest.mark.parametrize("model", ["weibull", "loglogistic"])
def test_closed_form_survival_equals_lifelines(model):
    from winback_study import simulate_study

    df = simulate_study(4_000, seed=8)
    fit = fit_second_lifetime(df, model=model)
    rows = df.iloc[:300]
    t = np.array([0.0, 1.0, 6.5, 24.0, 120.0])
    ours = fit.predict_survival(rows, t)
    ref = fit.fitter.predict_survival_function(fit._design(rows), times=t)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-10, atol=1e-12)
    assert list(ours.columns) == list(rows.index) and ours.index.name == "months"
