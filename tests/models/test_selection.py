"""The selection correction's first step (probit, inverse Mills ratio), its tools, and how
the second-stage fitters take it (``selection=``)."""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from winback_study import StudyParams, simulate_study, true_return_coefficients
from winback_study.errors import DataError, ReturnModelError, SecondProfitError
from winback_study.models import selection as selection_module
from winback_study.models.return_probability import (
    DEFAULT_RETURN_FORMULA,
    ReturnModel,
    fit_return_model,
)
from winback_study.models.second_lifetime import clean_term, fit_second_lifetime
from winback_study.models.second_profit import fit_second_profit
from winback_study.models.selection import (
    CONTROL_COLUMN,
    DEFAULT_SELECTION,
    fit_selection,
    inverse_mills_ratio,
    resolve_selection,
    selection_bias_table,
    selection_sample,
)


@pytest.fixture(scope="module")
def df53(population) -> pd.DataFrame:
    """The session's study-sized population (tests/conftest.py)."""
    return population


@pytest.fixture(scope="module")
def sel(df53: pd.DataFrame):
    return fit_selection(df53)


def test_inverse_mills_ratio_values_and_stability() -> None:
    c = np.array([-2.0, 0.0, 1.5])
    np.testing.assert_allclose(inverse_mills_ratio(c), stats.norm.pdf(c) / stats.norm.cdf(c))
    # far in the tail the naive ratio is 0/0; the log-scale version tends to -c
    assert inverse_mills_ratio(np.array([-40.0]))[0] == pytest.approx(40.0, rel=1e-3)
    grid = np.linspace(-10, 10, 201)
    assert np.all(np.diff(inverse_mills_ratio(grid)) < 0)


def test_probit_is_statsmodels_and_recovers_return_equation(df53, sel) -> None:
    direct = smf.probit(DEFAULT_RETURN_FORMULA, df53).fit(disp=0)
    np.testing.assert_allclose(sel.results.params, direct.params, rtol=1e-8)
    assert isinstance(sel, ReturnModel) and sel.link == "probit"
    pd.testing.assert_frame_equal(sel.summary, fit_return_model(df53, link="probit").summary)
    est = sel.summary.rename(index=clean_term)
    truth = true_return_coefficients()
    z = (est["coef"].reindex(truth.index) - truth) / est["std_err"].reindex(truth.index)
    assert z.notna().all()
    assert (z.abs() < 3.5).all(), z


def test_mills_ratio_is_the_expected_loyalty_of_returners(df53, sel) -> None:
    # The correction's key assumption, checked where loyalty is known:
    # E[loyalty | x, returned] = rho * lambda(x'gamma).
    back = sel.add_control(df53[df53["reacquired"] == 1])
    fit = smf.ols(f"latent_loyalty ~ {CONTROL_COLUMN}", back).fit()
    rho = StudyParams().loyalty_return
    assert fit.params[CONTROL_COLUMN] == pytest.approx(rho, abs=0.05)
    assert fit.params["Intercept"] == pytest.approx(0.0, abs=0.05)


def test_generalized_residual_sums_to_zero(df53, sel) -> None:
    r = sel.generalized_residual(df53)
    assert abs(r.mean()) < 1e-6  # probit first-order condition for the intercept
    back = df53["reacquired"] == 1
    np.testing.assert_allclose(r[back], sel.inverse_mills(df53)[back])
    assert (r[~back] < 0).all()


def test_probability_and_index_agree(df53, sel) -> None:
    part = df53.head(100)
    np.testing.assert_allclose(sel.probability(part), stats.norm.cdf(sel.index(part)))
    np.testing.assert_allclose(sel.probability(part), sel.results.predict(part))
    np.testing.assert_allclose(sel.probability(part), sel.predict(part))
    assert "ReturnModel(link='probit', nobs=53000" in repr(sel)


def test_errors_are_plain(df53) -> None:
    with pytest.raises(DataError, match="'referrals'"):
        fit_selection(df53.drop(columns="referrals"))
    with pytest.raises(ReturnModelError, match="both returners and non-returners"):
        fit_selection(df53.assign(reacquired=1))
    sel = fit_selection(df53.head(5000))
    with pytest.raises(DataError, match="months_since_defection") as info:
        sel.inverse_mills(df53.drop(columns="months_since_defection"))
    assert info.value.column == "months_since_defection"


def test_formula_outcome_may_be_left_out(df53) -> None:
    part = df53.head(5000)
    full = fit_selection(part, "reacquired ~ referrals + complaints")
    for formula in ("referrals + complaints", "~ referrals + complaints"):
        pd.testing.assert_frame_equal(fit_selection(part, formula).summary, full.summary)


def test_selection_bias_table() -> None:
    truth = pd.Series({"a": 1.0, "b": 0.0})
    naive = pd.DataFrame({"coef": [1.5, 0.1], "ci_low": [1.4, -0.1],
                          "ci_high": [1.6, 0.3]}, index=["a", "b"])
    corrected = pd.DataFrame({"coef": [1.05, 0.2], "ci_low": [0.9, 0.15],
                              "ci_high": [1.2, 0.25]}, index=["a", "b"])
    t = selection_bias_table(truth, naive, corrected)
    assert t.loc["a", "naive_bias"] == pytest.approx(0.5)
    assert t.loc["a", "corrected_covers"] and not t.loc["a", "naive_covers"]
    assert t.loc["a", "closer"] and not t.loc["b", "closer"]
    assert t.loc["b", "naive_covers"] and not t.loc["b", "corrected_covers"]


def _selected_sample(n: int = 20_000, rho: float = 0.9, seed: int = 12, zc: float = 0.8,
                     xc: float = 0.8) -> pd.DataFrame:
    """Strong selection: the return error and the log-margin error correlate at ``rho``,
    and ``z`` (return only) moves the Mills ratio a lot, so the generated regressor's
    sampling error is a large part of the second step's."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    u = rng.normal(size=n)
    e = rho * u + np.sqrt(1 - rho**2) * rng.normal(size=n)
    back = (0.2 + xc * x + zc * z + u > 0).astype(int)
    margin = np.exp(3.0 + 0.3 * x + 0.5 * e)
    return pd.DataFrame({"reacquired": back, "x": x, "z": z,
                         "second_monthly_margin": np.where(back == 1, margin, np.nan)})


def _textbook_two_step_cov(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Newey & McFadden (1994, Thm 6.1), written out independently of the package.

    gamma: probit of reacquired on (1, x, z); b: OLS of log margin on (1, x, lambda) among
    returners. With psi_i = -A11^-1 g1_i the probit's influence and A21 = d mean(g2)/d gamma
    (here by central finite differences, not the package's analytic derivative),
    V(b) = A22^-1 mean[(g2_i + A21 psi_i)(...)'] A22^-1 / n, times m / (m - k2) (HC1).
    Returns (two-step standard errors, HC1 standard errors).
    """
    from statsmodels.discrete.discrete_model import Probit

    y1 = d["reacquired"].to_numpy(float)
    x1 = np.column_stack([np.ones(len(d)), d["x"], d["z"]])
    probit = Probit(y1, x1).fit(disp=0, tol=1e-12, maxiter=200)
    gamma = probit.params
    sel = y1 == 1
    y2 = np.log(d["second_monthly_margin"].to_numpy()[sel])

    def second_step(g):
        c = x1[sel] @ g
        lam = stats.norm.pdf(c) / stats.norm.cdf(c)
        w = np.column_stack([np.ones(sel.sum()), d["x"].to_numpy()[sel], lam])
        return w, np.linalg.lstsq(w, y2, rcond=None)[0]

    w, b = second_step(gamma)
    resid = y2 - w @ b
    n, m, k2 = len(d), len(y2), w.shape[1]

    def mean_g2(g):
        wg, _ = second_step(g)
        out = np.zeros(k2)
        out += (wg * (y2 - wg @ b)[:, None]).sum(axis=0)
        return out / n

    h = 1e-6
    a21 = np.column_stack([(mean_g2(gamma + h * e) - mean_g2(gamma - h * e)) / (2 * h)
                           for e in np.eye(len(gamma))])
    a11 = probit.model.hessian(gamma) / n
    psi = -np.linalg.solve(a11, probit.model.score_obs(gamma).T).T  # n x k1
    g2 = np.zeros((n, k2))
    g2[sel] = w * resid[:, None]
    infl = g2 + psi @ a21.T
    a22inv = np.linalg.inv(-(w.T @ w) / n)
    cov = a22inv @ (infl.T @ infl / n) @ a22inv.T / n * m / (m - k2)
    hc1 = np.linalg.inv(w.T @ w) @ ((w * resid[:, None] ** 2).T @ w) @ np.linalg.inv(
        w.T @ w) * m / (m - k2)
    return np.sqrt(np.diag(cov)), np.sqrt(np.diag(hc1))


def test_two_step_covariance_equals_the_textbook_formula() -> None:
    """On data where the correction is large (the two-step errors exceed HC1 by 12-14%
    here), the package's standard errors equal an independent computation to 1e-4, so
    returning HC1 (or forgetting the probit's sampling error) fails."""
    d = _selected_sample()
    first = fit_selection(d, "reacquired ~ x + z")
    fit = fit_second_profit(d, "np.log(second_monthly_margin) ~ x", selection=first)
    two, hc1 = _textbook_two_step_cov(d)
    ours = fit.summary.loc[["Intercept", "x", CONTROL_COLUMN], "std_err"].to_numpy()
    np.testing.assert_allclose(ours, two, rtol=1e-4)
    assert np.all(two / hc1 > 1.1), two / hc1  # 1.12-1.14: far outside the 1e-4 tolerance
    np.testing.assert_allclose(fit.ols.bse.loc[["Intercept", "x", CONTROL_COLUMN]], hc1,
                               rtol=1e-6)


@pytest.mark.slow
def test_two_step_coverage_over_seeds() -> None:
    """Coverage of the two-step 95% intervals over 24 seeds nobody tuned (1000-1023), 53,000
    customers each, against the simulator's truth.

    Measured on other seeds (300-339): the selection-corrected Weibull AFT covers 90.0% of
    its 12 terms (below nominal: the control function is an approximation for a censored
    Weibull, see fit_joint_model for the exact likelihood), the corrected log-margin OLS
    97.5% of its 11. The pass band is that rate +- 3 binomial standard deviations, with
    the variance doubled for intervals of one seed being correlated. A wish of 95% for the
    Weibull would fail here; the test checks the rate the estimator has.
    """
    from winback_study.models.second_lifetime import true_second_lifetime_effects
    from winback_study.models.second_profit import true_second_profit_effects

    hits = {"weibull": [], "profit": []}
    for seed in range(1000, 1024):
        df = simulate_study(53_000, seed=seed)
        first = fit_selection(df)
        for name, fit, truth in (
            ("weibull", fit_second_lifetime(df, model="weibull", selection=first),
             true_second_lifetime_effects(df)),
            ("profit", fit_second_profit(df, selection=first), true_second_profit_effects(df)),
        ):
            s = fit.summary.loc[truth.index]  # every true term is estimated
            hits[name] += list((s["ci_low"] <= truth) & (truth <= s["ci_high"]))
    for name, rate in (("weibull", 0.900), ("profit", 0.975)):
        n = len(hits[name])
        band = 3 * np.sqrt(2 * rate * (1 - rate) / n)
        assert abs(np.mean(hits[name]) - rate) <= band, (name, np.mean(hits[name]), n)


# ----------------------------------------------------------------- selection= of the fitters
@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_study(8_000, seed=5)


def test_one_default_for_every_second_stage_fitter(small) -> None:
    """The default is its own value (so that an explicit True can be told from it) and
    means what True means: fit the default probit on the frame."""
    assert DEFAULT_SELECTION is not True and bool(DEFAULT_SELECTION)
    assert repr(DEFAULT_SELECTION) == "DEFAULT_SELECTION"
    assert pickle.loads(pickle.dumps(DEFAULT_SELECTION)) is DEFAULT_SELECTION
    assert type(DEFAULT_SELECTION)() is DEFAULT_SELECTION
    for fitter in (fit_second_lifetime, fit_second_profit):
        assert inspect.signature(fitter).parameters["selection"].default is DEFAULT_SELECTION
    assert inspect.signature(fit_second_profit).parameters["selection"].default is \
        selection_module.DEFAULT_SELECTION
    part = small.head(3_000)
    default = resolve_selection(part, DEFAULT_SELECTION)
    pd.testing.assert_frame_equal(default.summary, resolve_selection(part, True).summary)
    pd.testing.assert_frame_equal(default.summary, fit_selection(part).summary)
    assert resolve_selection(part, None) is None and resolve_selection(part, False) is None


def test_a_fitted_probit_is_the_same_as_selection_true(small) -> None:
    probit = fit_selection(small)
    for fitter in (lambda **kw: fit_second_lifetime(small, model="weibull", **kw),
                   lambda **kw: fit_second_profit(small, **kw)):
        default, given = fitter(), fitter(selection=probit)
        assert given.selection is probit and default.corrected
        pd.testing.assert_frame_equal(default.summary, given.summary)
    naive = fit_second_profit(small, selection=None)
    assert not naive.corrected and naive.selection is None
    pd.testing.assert_frame_equal(naive.summary, fit_second_profit(small, selection=False).summary)


def test_a_probit_fitted_on_a_subset_still_gives_the_two_step_covariance(small) -> None:
    """The probit's own sample is the population of the sandwich (it must hold the returners)."""
    probit = fit_selection(small)
    shuffled = small.sample(frac=1.0, random_state=0)
    a = fit_second_profit(shuffled, selection=probit)
    b = fit_second_profit(small, selection=probit)
    pd.testing.assert_frame_equal(a.summary.sort_index(), b.summary.sort_index(),
                                  check_exact=False, rtol=1e-9)
    part = fit_selection(small.iloc[:4_000])
    with pytest.raises(SecondProfitError, match="not in the sample"):
        fit_second_profit(small, selection=part)


def test_the_first_step_must_be_a_probit(small) -> None:
    logit = fit_return_model(small, link="logit")
    for fit in (lambda: fit_second_lifetime(small, model="weibull", selection=logit),
                lambda: fit_second_profit(small, selection=logit)):
        with pytest.raises(ReturnModelError, match="needs a probit return model.*logit link"):
            fit()
    with pytest.raises(TypeError, match="selection must be"):
        fit_second_profit(small, selection="yes")


def test_one_place_selects_the_reacquired_and_the_first_step(small) -> None:
    back, first, here = selection_sample(small, True, SecondProfitError,
                                         outcome="second_monthly_margin")
    assert here and first.link == "probit" and first.nobs == len(small)
    pd.testing.assert_frame_equal(back, small[small["reacquired"] == 1])
    given = fit_selection(small)
    _, first, here = selection_sample(small, given, SecondProfitError, outcome="x")
    assert first is given and not here
    # without a reacquired column: the rows with the outcome, for the naive fit only
    rows = small[small["reacquired"] == 1].drop(columns="reacquired")
    back, first, here = selection_sample(rows, None, SecondProfitError,
                                         outcome="second_monthly_margin")
    assert first is None and not here and len(back) == len(rows)
    with pytest.raises(DataError, match="0/1 'reacquired' column") as info:
        selection_sample(rows, DEFAULT_SELECTION, SecondProfitError, outcome="x")
    assert info.value.column == "reacquired"
    with pytest.raises(DataError, match="unique index"):
        selection_sample(pd.concat([small, small.head(5)]), True, SecondProfitError,
                         outcome="x", unique_index=True)


def test_the_rows_are_checked_before_the_probit_is_fitted(small, monkeypatch) -> None:
    def refuse(rows: pd.DataFrame) -> pd.DataFrame:
        raise SecondProfitError(f"checked {len(rows)} rows")

    def no_probit(*args, **kwargs):
        raise AssertionError("the probit was fitted before the rows were checked")

    monkeypatch.setattr(selection_module, "fit_selection", no_probit)
    with pytest.raises(SecondProfitError, match=f"checked {int(small['reacquired'].sum())} rows"):
        selection_sample(small, True, SecondProfitError, outcome="x", check=refuse)


def test_deprecated_keywords_still_work_for_one_release(small) -> None:
    with pytest.warns(DeprecationWarning, match="correct_selection"):
        old = fit_second_profit(small, correct_selection=False)
    pd.testing.assert_frame_equal(old.summary, fit_second_profit(small, selection=None).summary)
    formula = "reacquired ~ referrals + complaints + offer_received + months_since_defection"
    with pytest.warns(DeprecationWarning, match="selection_formula"):
        old = fit_second_profit(small, selection_formula=formula)
    new = fit_second_profit(small, selection=fit_selection(small, formula))
    pd.testing.assert_frame_equal(old.summary, new.summary)
    # the old positional model name keeps its old (naive) default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = fit_second_lifetime(small, "weibull")
        old_corrected = fit_second_lifetime(small, "weibull", correct_selection=True)
    assert {w.category for w in caught} == {DeprecationWarning} and len(caught) == 3
    assert not old.corrected and old_corrected.corrected
    pd.testing.assert_frame_equal(
        old.summary, fit_second_lifetime(small, model="weibull", selection=None).summary)
    pd.testing.assert_frame_equal(old_corrected.summary,
                                  fit_second_lifetime(small, model="weibull").summary)
    # the warnings point at the caller, and each keyword warns once
    assert {w.filename for w in caught} == {__file__}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_second_profit(small, selection_formula=formula)
    assert len(caught) == 1 and caught[0].filename == __file__


def test_an_explicit_selection_wins_over_the_old_positional_default(small) -> None:
    """``fit_second_lifetime(df, "weibull")`` is naive, as it was; an explicit
    ``selection=`` is what the caller asked for."""
    probit = fit_selection(small)
    with pytest.warns(DeprecationWarning, match="model='weibull'"):
        explicit = fit_second_lifetime(small, "weibull", selection=True)
    with pytest.warns(DeprecationWarning, match="model='weibull'"):
        given = fit_second_lifetime(small, "weibull", selection=probit)
    corrected = fit_second_lifetime(small, model="weibull", selection=probit)
    assert explicit.corrected and given.selection is probit
    pd.testing.assert_frame_equal(explicit.summary, corrected.summary)
    pd.testing.assert_frame_equal(given.summary, corrected.summary)
    with pytest.warns(DeprecationWarning, match="correct_selection"), \
            pytest.raises(SecondProfitError, match="not both"):
        fit_second_profit(small, selection=None, correct_selection=True)




def test_the_design_reaches_the_first_step(own_design, own_params) -> None:
    own = simulate_study(8_000, seed=6, params=own_params, design=own_design)
    text = own.astype({"offer_received": str, "defection_reason": str, "offer": str})
    text.attrs = {}  # a CSV round trip: the design must come from design=
    for fit in (lambda **kw: fit_second_lifetime(text, model="weibull", **kw),
                lambda **kw: fit_second_profit(text, **kw)):
        res = fit(design=own_design)
        assert res.selection.design is own_design
        assert res.selection.terms.loc["offer_received[points]", "reference"] == "none"
        assert {"offer_received[free_month]", "offer_received[points]"} <= set(res.params_.index)
        np.testing.assert_allclose(  # the second stage under another arm of the design
            res.selection.inverse_mills(own_design.assign(text, "by_reason")).to_numpy(),
            fit_selection(text, design=own_design).inverse_mills(own_design.assign(text, "by_reason")))


def test_remove_data_keeps_what_the_model_reports_and_the_two_step_covariance(
        small, monkeypatch) -> None:
    """After remove_data() the probit holds no n-row array, reports the same numbers, and a
    corrected second step gets the same two-step covariance (its design rows rebuilt from
    the customers' data); what needs the estimation data says so."""
    kept = fit_selection(small)
    slim = fit_selection(small)
    before = {"summary": slim.summary.copy(), "margeff": slim.marginal_effects(),
              "n": slim.n_returned, "r2": slim.pseudo_r2}
    assert slim.remove_data() is slim and slim.data_removed and not kept.data_removed
    data = slim.results.model.data
    assert all(a is None for a in (slim.results.model.exog, slim.results.model.endog,
                                   data.orig_exog, data.orig_endog))
    pd.testing.assert_frame_equal(slim.summary, before["summary"])
    pd.testing.assert_frame_equal(slim.marginal_effects(), before["margeff"])
    assert slim.n_returned == before["n"]
    assert slim.pseudo_r2 == pytest.approx(before["r2"], rel=1e-9)  # llnull in closed form
    np.testing.assert_array_equal(slim.predict(small), kept.predict(small))
    for a, b in zip(slim.score_blocks(), kept.score_blocks(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    full = fit_second_profit(small, selection=kept)
    monkeypatch.setattr(selection_module, "_CHUNK_ROWS", 333)  # rows rebuilt chunk by chunk
    light = fit_second_profit(small, selection=slim)
    pd.testing.assert_frame_equal(light.summary, full.summary, check_exact=False, rtol=1e-10)
    with pytest.raises(ReturnModelError, match="remove_data"):
        slim.in_sample_evaluation()


def test_predictions_and_design_rows_in_chunks_are_the_same(small, monkeypatch) -> None:
    from winback_study.models import return_probability as rp

    probit = fit_selection(small)
    whole = probit.inverse_mills(small)
    np.testing.assert_allclose(probit.design_matrix(small), probit.results.model.exog,
                               rtol=0, atol=0)
    monkeypatch.setattr(rp, "CHUNK_ROWS", 777)
    monkeypatch.setattr(selection_module, "_CHUNK_ROWS", 777)
    pd.testing.assert_series_equal(probit.inverse_mills(small), whole)
    a = fit_second_profit(small, selection=probit)
    monkeypatch.undo()
    b = fit_second_profit(small, selection=fit_selection(small))
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=False, rtol=1e-10)


def test_add_control_without_a_copy_leaves_the_frame_alone(small) -> None:
    probit = fit_selection(small)
    rows = small[small["reacquired"] == 1]
    before = rows.copy()
    light = probit.add_control(rows, copy=False)
    pd.testing.assert_frame_equal(light, probit.add_control(rows))
    assert CONTROL_COLUMN not in rows.columns
    pd.testing.assert_frame_equal(rows, before)
    assert np.shares_memory(light["first_tenure_months"].to_numpy(),
                            rows["first_tenure_months"].to_numpy())
