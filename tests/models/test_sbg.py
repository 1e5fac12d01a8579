"""Tests for the shifted-beta-geometric retention model (winback_study.models.sbg).

Golden values: the "regular" cohort of Fader & Hardie (2007), fitted on years 1-7, gives
alpha = 0.704 and beta = 1.182, and projects the holdout years 8-12 closely.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from winback_study.core.results import FittedResult
from winback_study.errors import ConvergenceError, DataError, ModelError
from winback_study.models.sbg import GeometricResult, SBGResult, fit_geometric, fit_sbg, sbg_clv

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
CALIBRATION_YEARS = 7


@pytest.fixture(scope="module")
def regular_fit() -> SBGResult:
    return fit_sbg(REGULAR[: CALIBRATION_YEARS + 1])


# ---------------------------------------------------------------- published values
def test_reproduces_published_parameters(regular_fit: SBGResult) -> None:
    assert round(regular_fit.alpha, 3) == 0.704
    assert round(regular_fit.beta, 3) == 1.182
    assert regular_fit.n_periods == CALIBRATION_YEARS


def test_periods_argument_equals_truncating_the_data(regular_fit: SBGResult) -> None:
    fit = fit_sbg(pd.Series(REGULAR), periods=CALIBRATION_YEARS)
    assert fit.alpha == pytest.approx(regular_fit.alpha, rel=1e-8)
    assert fit.beta == pytest.approx(regular_fit.beta, rel=1e-8)
    assert fit.log_likelihood == pytest.approx(regular_fit.log_likelihood, rel=1e-10)
    assert fit.log_likelihood_ == fit.log_likelihood
    assert fit.n_periods == CALIBRATION_YEARS
    assert fit.survivors.tolist() == REGULAR  # holdout kept for comparison


def test_holdout_projection_within_five_percent(regular_fit: SBGResult) -> None:
    proj = regular_fit.project(12).set_index("period")
    holdout = pd.Series(REGULAR[8:], index=range(8, 13), dtype=float)
    rel_err = (proj.loc[8:12, "expected"] - holdout).abs() / holdout
    assert (rel_err < 0.05).all(), rel_err
    assert proj.loc[12, "expected"] == pytest.approx(173, rel=0.05)


def test_maximum_is_a_maximum(regular_fit: SBGResult) -> None:
    counts = np.array(REGULAR[: CALIBRATION_YEARS + 1], dtype=float)
    lost = counts[:-1] - counts[1:]
    t = np.arange(1, CALIBRATION_YEARS + 1)

    def ll(a: float, b: float) -> float:
        r = SBGResult(alpha=a, beta=b)
        return float(
            np.dot(lost, np.log(r.probability_churn(t)))
            + counts[-1] * np.log(r.survival(CALIBRATION_YEARS))
        )

    a, b = regular_fit.alpha, regular_fit.beta
    best = ll(a, b)
    assert best == pytest.approx(regular_fit.log_likelihood, rel=1e-12)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3), (-1e-3, 1e-3)]:
        assert ll(a + da, b + db) < best


def test_summary_standard_errors_match_numerical_hessian(regular_fit: SBGResult) -> None:
    counts = np.array(REGULAR[: CALIBRATION_YEARS + 1], dtype=float)
    lost = counts[:-1] - counts[1:]
    t = np.arange(1, CALIBRATION_YEARS + 1)

    def ll(p: np.ndarray) -> float:
        a, b = p
        lb = special.betaln(a, b)
        return float(
            np.dot(lost, special.betaln(a + 1, b + t - 1) - lb)
            + counts[-1] * (special.betaln(a, b + CALIBRATION_YEARS) - lb)
        )

    x = np.array([regular_fit.alpha, regular_fit.beta])
    h = 1e-4
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hess[i, j] = (ll(x + ei + ej) - ll(x + ei - ej) - ll(x - ei + ej) + ll(x - ei - ej)) / (
                4 * h * h
            )
    se_numeric = np.sqrt(np.diag(np.linalg.inv(-hess)))

    summary = regular_fit.summary
    assert list(summary.index) == ["alpha", "beta"]
    np.testing.assert_allclose(summary["coef"], [regular_fit.alpha, regular_fit.beta])
    np.testing.assert_allclose(summary["std_err"].to_numpy(), se_numeric, rtol=1e-4)
    assert (summary["ci_low"] < summary["coef"]).all()
    assert (summary["coef"] < summary["ci_high"]).all()


def test_result_convention(regular_fit: SBGResult, capsys) -> None:
    """The interval level is ``alpha=`` of the fitter; the model's alpha is a parameter."""
    assert isinstance(regular_fit, FittedResult) and regular_fit.equation == "retention"
    assert regular_fit.nobs == 1000 and regular_fit.n_params_ == 2
    assert regular_fit.aic_ == pytest.approx(4 - 2 * regular_fit.log_likelihood)
    narrow = fit_sbg(REGULAR[: CALIBRATION_YEARS + 1], alpha=0.2)
    assert narrow.alpha == regular_fit.alpha and narrow.confidence_level == pytest.approx(0.8)
    assert (narrow.summary["ci_high"] < regular_fit.summary["ci_high"]).all()
    regular_fit.print_summary()
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "1,000" in out
    unfitted = SBGResult(alpha=0.704, beta=1.182)
    assert unfitted.summary["std_err"].isna().all() and unfitted.nobs == 0
    g = fit_geometric(REGULAR, alpha=0.1)
    assert isinstance(g, GeometricResult) and list(g.summary.index) == ["churn"]
    assert g.summary.loc["churn", "coef"] == g.churn and g.n_params_ == 1


def test_intervals_stay_in_the_parameter_space() -> None:
    """alpha and beta are positive and churn is a probability: a Wald interval on the
    natural scale of a small cohort goes below zero, one on the log (logit) scale cannot."""
    small = fit_sbg([40, 25, 18, 15])
    t = small.summary
    q = stats.norm.ppf(0.975)
    assert ((t["coef"] - q * t["std_err"]) < 0).all()  # what the natural scale would say
    assert (t["ci_low"] > 0).all() and (t["ci_low"] < t["coef"]).all()
    np.testing.assert_allclose(np.log(t["ci_high"]) - np.log(t["coef"]),
                               q * t["std_err"] / t["coef"], rtol=1e-12)
    np.testing.assert_allclose(t["ci_low"] * t["ci_high"], t["coef"] ** 2, rtol=1e-12)
    np.testing.assert_allclose(t["z"], t["coef"] / t["std_err"])  # z stays on the natural scale
    assert dict(small.interval_scales) == {"alpha": "log", "beta": "log"}
    assert "log scale for alpha, beta" in small.summary_text()
    g = fit_geometric([20, 1, 0]).summary.loc["churn"]
    assert 0 < g["ci_low"] < g["coef"] < g["ci_high"] < 1
    assert g["coef"] + q * g["std_err"] > 1  # the natural scale would leave [0, 1]
    np.testing.assert_allclose(special.logit(g["ci_high"]) - special.logit(g["coef"]),
                               q * g["std_err"] / (g["coef"] * (1 - g["coef"])), rtol=1e-12)


# ---------------------------------------------------------------- model identities
def test_survival_non_increasing_and_starts_at_one(regular_fit: SBGResult) -> None:
    s = regular_fit.survival(np.arange(0, 200))
    assert s[0] == 1.0
    assert np.all(np.diff(s) <= 0)
    assert np.all(s > 0)


def test_retention_formula_matches_survival_ratio(regular_fit: SBGResult) -> None:
    t = np.arange(1, 50)
    np.testing.assert_allclose(
        regular_fit.retention(t),
        regular_fit.survival(t) / regular_fit.survival(t - 1),
        rtol=1e-12,
    )
    a, b = regular_fit.alpha, regular_fit.beta
    np.testing.assert_allclose(regular_fit.retention(t), (b + t - 1) / (a + b + t - 1))
    assert np.all(np.diff(regular_fit.retention(t)) > 0)  # retention rises with tenure


def test_churn_probabilities_are_survival_differences(regular_fit: SBGResult) -> None:
    t = np.arange(1, 50)
    np.testing.assert_allclose(
        regular_fit.probability_churn(t),
        regular_fit.survival(t - 1) - regular_fit.survival(t),
        rtol=1e-10,
    )
    assert regular_fit.probability_churn(1) == pytest.approx(
        regular_fit.alpha / (regular_fit.alpha + regular_fit.beta)
    )


def test_scalar_in_scalar_out(regular_fit: SBGResult) -> None:
    assert isinstance(regular_fit.survival(3), float)
    assert isinstance(regular_fit.retention(3), float)
    assert isinstance(regular_fit.probability_churn(3), float)
    assert isinstance(regular_fit.derl(0.1), float)
    assert regular_fit.survival([[1, 2], [3, 4]]).shape == (2, 2)


def test_project_frame(regular_fit: SBGResult) -> None:
    proj = regular_fit.project(10)
    assert list(proj.columns) == ["period", "observed", "expected", "retention"]
    assert proj["period"].tolist() == list(range(11))
    assert proj["observed"].iloc[:8].tolist() == REGULAR[:8]
    assert proj["observed"].iloc[8:].isna().all()  # beyond the data given to fit_sbg
    assert proj["expected"].iloc[0] == 1000
    assert np.isnan(proj["retention"].iloc[0])


# ---------------------------------------------------------------- DERL (F&H 2010)
def _derl_direct(r: SBGResult, d: float, renewals: int, horizon: int = 4000) -> float:
    """sum_{t >= n} S(t) / S(n-1) / (1 + d) ** (t - n), with n - 1 = renewals."""
    n = renewals + 1
    t = np.arange(n, n + horizon)
    return float(np.sum(r.survival(t) / r.survival(n - 1) * (1.0 / (1.0 + d)) ** (t - n)))


@pytest.mark.parametrize("renewals", [0, 1, 4, 10])
@pytest.mark.parametrize("d", [0.05, 0.10, 0.25])
def test_derl_closed_form_equals_direct_sum(
    regular_fit: SBGResult, d: float, renewals: int
) -> None:
    assert regular_fit.derl(d, renewals) == pytest.approx(
        _derl_direct(regular_fit, d, renewals), rel=1e-9
    )


def test_derl_timing_relative_to_discounted_expected_lifetime(regular_fit: SBGResult) -> None:
    # A just-acquired customer's discounted expected lifetime, acquisition payment included,
    # valued at time 0: DEL = sum_{t>=0} S(t) / (1+d)^t = 2F1(1, beta; alpha+beta; 1/(1+d)).
    # DERL(renewals=0) excludes the acquisition payment and is valued one period later.
    d = 0.1
    a, b = regular_fit.alpha, regular_fit.beta
    t = np.arange(0, 4000)
    del_direct = float(np.sum(regular_fit.survival(t) * (1 / (1 + d)) ** t))
    assert del_direct == pytest.approx(special.hyp2f1(1, b, a + b, 1 / (1 + d)), rel=1e-9)
    assert regular_fit.derl(d, 0) == pytest.approx((1 + d) * (del_direct - 1), rel=1e-9)


def test_derl_rises_with_renewals_and_falls_with_discount(regular_fit: SBGResult) -> None:
    values = regular_fit.derl(0.1, np.arange(0, 30))
    assert np.all(np.diff(values) > 0)
    rates = regular_fit.derl(np.array([0.05, 0.1, 0.2]), 3)
    assert np.all(np.diff(rates) < 0)


def test_derl_without_discounting_is_infinite_when_alpha_at_most_one() -> None:
    assert np.isinf(SBGResult(alpha=0.7, beta=1.2).derl(0.0))
    # alpha > 1: expected number of further payments is finite, (beta+n-1)/(alpha-1)
    assert SBGResult(alpha=3.0, beta=2.0).derl(0.0, 2) == pytest.approx(4.0 / 2.0)


def test_sbg_clv_is_margin_times_derl(regular_fit: SBGResult) -> None:
    assert sbg_clv(regular_fit, 100.0, 0.1, renewals=2) == pytest.approx(
        100.0 * regular_fit.derl(0.1, 2)
    )
    np.testing.assert_allclose(
        sbg_clv(regular_fit, [50.0, 100.0], 0.1), np.array([50.0, 100.0]) * regular_fit.derl(0.1)
    )


# ---------------------------------------------------------------- input validation
@pytest.mark.parametrize(
    ("survivors", "pattern"),
    [
        ([1000, 631, 700, 382], r"non-increasing.*position 2"),
        ([1000, 631, -1, -2], r"position 2.*negative"),
        ([1000, 631.5, 468], r"position 1.*whole number"),
        ([1000, 631, float("nan")], r"position 2.*not finite"),
        ([1000, "x", 468], r"position 1.*not a number"),
        ([0, 0, 0], r"position 0.*greater than 0"),
        ([1000, 631], r"at least 3 periods"),
        ([[1000, 631, 468]], r"one-dimensional"),
        (1000, r"sequence"),
    ],
)
def test_invalid_survivors_raise_data_error(survivors: object, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        fit_sbg(survivors)


def test_series_error_names_index_label() -> None:
    s = pd.Series([1000, 631, 700], index=["y0", "y1", "y2"])
    with pytest.raises(DataError, match=r"position 2 \(index label 'y2'"):
        fit_sbg(s)


@pytest.mark.parametrize("periods", [1, 13, 2.5])
def test_invalid_periods_raise_data_error(periods: object) -> None:
    with pytest.raises(DataError, match="periods"):
        fit_sbg(REGULAR, periods=periods)


def test_no_churn_raises_model_error() -> None:
    with pytest.raises(ModelError, match="no customer churned") as info:
        fit_sbg([100, 100, 100, 100])
    assert not isinstance(info.value, ConvergenceError)
    with pytest.raises(ModelError, match="nobody or everybody"):
        fit_geometric([100, 100, 100, 100])


def test_invalid_model_arguments(regular_fit: SBGResult) -> None:
    with pytest.raises(ModelError, match="alpha"):
        SBGResult(alpha=-1.0, beta=1.0)
    with pytest.raises(ModelError, match="alpha"):
        fit_sbg(REGULAR, alpha=1.5)
    with pytest.raises(DataError, match="t must be >= 1"):
        regular_fit.retention(0)
    with pytest.raises(DataError, match="whole numbers"):
        regular_fit.survival(1.5)
    with pytest.raises(DataError, match="discount_rate"):
        regular_fit.derl(-0.1)
    with pytest.raises(DataError, match="renewals"):
        regular_fit.derl(0.1, renewals=-1)
    with pytest.raises(ModelError, match="cohort size"):
        SBGResult(alpha=1.0, beta=1.0).project(5)


def test_repr_is_readable(regular_fit: SBGResult) -> None:
    text = repr(regular_fit)
    assert text.startswith("SBGResult(alpha=0.704")
    assert "beta=1.182" in text and "n_periods=7" in text and "cohort_size=1000" in text


# ---------------------------------------------------------------- property test
@settings(max_examples=200, deadline=None)
@given(
    alpha=st.floats(min_value=1e-3, max_value=1e3),
    beta=st.floats(min_value=1e-3, max_value=1e3),
)
def test_survival_non_increasing_property(alpha: float, beta: float) -> None:
    model = SBGResult(alpha=alpha, beta=beta)
    s = model.survival(np.arange(0, 300))
    assert s[0] == 1.0
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s) <= 1e-12)
    r = model.retention(np.arange(1, 300))
    assert np.all((r > 0) & (r < 1))
