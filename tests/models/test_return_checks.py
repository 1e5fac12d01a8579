"""Around a return-model fit: the design's factor order, the fitted levels, and the checks
and statsmodels failures turned into one plain ReturnModelError each."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import PerfectSeparationError

import winback_study as wb
from winback_study.errors import DataError
from winback_study.models.return_checks import fitted_levels, study_factor_order
from winback_study.models.return_probability import (
    DEFAULT_RETURN_FORMULA,
    ReturnModelError,
    fit_return_model,
)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return wb.simulate_study(6_000, seed=4)


def test_text_factor_columns_get_the_study_reference_levels(population):
    """A CSV round trip leaves reasons and offers as text (or alphabetical categories):
    the fit must still code them against price and none, and leave the input alone."""
    small = population.iloc[:6_000]
    text = small.astype({"defection_reason": str, "offer_received": str, "offer": "category"})
    text["offer"] = text["offer"].cat.reorder_categories(sorted(text["offer"].cat.categories))
    before = text.copy()
    a = fit_return_model(small, link="probit")
    b = fit_return_model(text, link="probit")
    pd.testing.assert_series_equal(a.params, b.params)
    assert b.terms.loc["defection_reason[service]", "reference"] == "price"
    np.testing.assert_allclose(a.predict(small), b.predict(text))
    np.testing.assert_allclose(a.predict(small, offer="tailored"),
                               b.predict(text, offer="tailored"))
    pd.testing.assert_frame_equal(text, before)


def test_unknown_levels_are_left_to_patsy(population):
    small = population.iloc[:6_000].astype({"defection_reason": str})
    small.loc[small["defection_reason"] == "other", "defection_reason"] = "moved away"
    out = study_factor_order(small)
    assert out["defection_reason"].dtype == object  # not forced into the study's levels
    assert study_factor_order(population) is population


def test_the_fitted_levels_of_a_formulaic_spec(small, monkeypatch):
    import statsmodels.formula

    monkeypatch.setattr(statsmodels.formula.options, "formula_engine", "formulaic")
    results = smf.probit(DEFAULT_RETURN_FORMULA, data=small).fit(disp=0)
    assert type(results.model.data.model_spec).__module__.startswith("formulaic")
    assert fitted_levels(results)["offer_received"] == wb.KUMAR_2015.received_offers


def test_missing_columns_named_at_once(small):
    with pytest.raises(DataError, match="'referrals', 'complaints'") as info:
        fit_return_model(small.drop(columns=["referrals", "complaints"]))
    assert info.value.column == "referrals" and info.value.problem == "missing_column"
    with pytest.raises(DataError, match="no column 'reacquired'"):
        fit_return_model(small.drop(columns=["reacquired"]))


def test_level_with_no_returners_is_named(small):
    df = small.copy()
    df.loc[df["defection_reason"] == "both", "reacquired"] = 0
    with pytest.raises(ReturnModelError, match=r"level 'both' of column 'defection_reason' has no "
                                               r"returners \(0 of"):
        fit_return_model(df)
    df = small.copy()
    df.loc[df["offer_received"] == "bundled", "reacquired"] = 1
    with pytest.raises(ReturnModelError, match="'bundled' of column 'offer_received' has only"):
        fit_return_model(df, link="probit")


def test_unused_categories_are_not_levels(small):
    """A category nobody has is dropped before the fit, not reported as a level with no
    returners: without the no-offer arm, the offers are coded against the first one left."""
    model = fit_return_model(small[small["offer"] != "none"])
    assert model.terms.loc["offer_received[upgrade]", "reference"] == "discount"
    assert "offer_received[none]" not in model.params.index


def test_a_level_the_holdout_took_is_named(small):
    from winback_study.core.rng import independent_rng

    df = small[small["offer"].isin(["none", "discount"])].copy()
    held_out = independent_rng(1).permutation(len(df))[0]  # the split fit_return_model draws
    df["few"] = pd.Categorical(np.where(np.arange(len(df)) == held_out, "b", "a"))
    with pytest.raises(ReturnModelError, match="level 'b' of column 'few' has no customers "
                                               "among the rows fitted"):
        fit_return_model(df, "reacquired ~ referrals + few", holdout=0.5, seed=1)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_perfect_separation_gives_a_plain_message(small, link):
    rng = np.random.default_rng(0)
    df = small.assign(score=2.0 * small["reacquired"] - 1 + rng.normal(0, 0.1, len(small)))
    with pytest.raises(ReturnModelError, match=r"perfect separation.*score = .*Fix:"):
        fit_return_model(df, "reacquired ~ referrals + score", link=link)


def test_perfect_separation_error_from_statsmodels(small, monkeypatch):
    def raise_separation(self, *args, **kwargs):
        raise PerfectSeparationError("Perfect separation detected, results not available")

    monkeypatch.setattr("statsmodels.discrete.discrete_model.Logit.fit", raise_separation)
    with pytest.raises(ReturnModelError, match="perfect separation"):
        fit_return_model(small)


def test_singular_design_and_non_convergence(small):
    with pytest.raises(ReturnModelError, match="singular design matrix"):
        fit_return_model(small, "reacquired ~ referrals + I(2 * referrals)")
    with pytest.raises(ReturnModelError, match="did not converge.*maxiter"):
        fit_return_model(small, fit_kwargs={"maxiter": 1})


# ----------------------------------------------------------------- large-file fit paths
@pytest.mark.parametrize("link", ["probit", "logit"])
def test_chunked_likelihood_and_sample_start_give_statsmodels_fit(monkeypatch, link) -> None:
    """On millions of rows the likelihood is summed in chunks and Newton starts from a
    sample's estimate (models/return_checks.py); with both forced on a small file the fit is
    statsmodels' own to rounding, and the model is left as statsmodels made it."""
    from winback_study.data.simulate import simulate_study
    from winback_study.models import return_checks
    from winback_study.models.return_probability import fit_return_model

    df = simulate_study(12_000, seed=8)
    plain = fit_return_model(df, link=link)
    monkeypatch.setattr(return_checks, "CHUNK_ROWS", 1_000)
    monkeypatch.setattr(return_checks, "START_SAMPLE", 2_000)
    fast = fit_return_model(df, link=link)
    assert fast.results.mle_retvals["iterations"] < plain.results.mle_retvals["iterations"]
    np.testing.assert_allclose(fast.params, plain.params, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.bse, plain.bse, rtol=1e-9)
    assert fast.llf == pytest.approx(plain.llf, rel=1e-13)
    assert not {"loglike", "score", "hessian", "_check_perfect_pred"} & set(
        vars(fast.results.model))
    # the results keep Newton's callback: it must not keep the design matrix alive
    callback = fast.results.mle_settings["callback"]
    assert getattr(callback, "__self__", None) is not None and callback.__self__.x is None


def test_design_rank_is_statsmodels_qr_rank() -> None:
    from statsmodels.tools import tools

    from winback_study.models.return_checks import design_rank

    rng = np.random.default_rng(2)
    x = np.column_stack([np.ones(5_000), rng.normal(size=(5_000, 3)), rng.integers(0, 2, 5_000)])
    collinear = np.column_stack([x, x[:, 1] - 2 * x[:, 4]])
    for m in (x, collinear):
        assert design_rank(m, chunk_rows=700) == tools.matrix_rank(m, method="qr")
    assert design_rank(collinear) == 5


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_chunked_likelihood_is_statsmodels_in_one_pass_per_point(monkeypatch, link) -> None:
    """loglike, score and hessian equal statsmodels' own at any point; asked for at the
    same point (as Newton's method does) they come from one pass over the design."""
    import statsmodels.formula.api as smf

    from winback_study.data.simulate import simulate_study
    from winback_study.models import return_checks

    df = simulate_study(5_000, seed=3)
    model = getattr(smf, link)("reacquired ~ referrals + complaints + first_tenure_months",
                               df)
    monkeypatch.setattr(return_checks, "CHUNK_ROWS", 700)
    chunked = return_checks._ChunkedLikelihood(model)
    passes = []
    real = chunked._at.__func__

    def counted(self, params):
        if self._memo is None or not np.array_equal(self._memo[0], params):
            passes.append(1)
        return real(self, params)

    monkeypatch.setattr(return_checks._ChunkedLikelihood, "_at", counted)
    rng = np.random.default_rng(0)
    for _ in range(3):
        b = rng.normal(0, 0.1, 4)
        np.testing.assert_allclose(chunked.hessian(b), model.hessian(b), rtol=1e-12)
        np.testing.assert_allclose(chunked.score(b), model.score(b), rtol=1e-12, atol=1e-9)
        assert chunked.loglike(b) == pytest.approx(model.loglike(b), rel=1e-13)
    assert len(passes) == 3


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_chunked_fit_finds_perfect_separation_as_statsmodels_does(monkeypatch, link) -> None:
    """The separation check statsmodels runs after each Newton step is made from the chunked
    pass: a covariate that predicts return exactly is refused the same way."""
    from winback_study.models import return_checks
    from winback_study.models.return_probability import ReturnModelError, fit_return_model

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 6_000)
    gap = np.where(y == 1, 1, -1) * (1 + rng.random(6_000))  # every fit predicts exactly
    x = rng.normal(size=6_000)
    near = (x > 0).astype(int)  # the fit runs off without predicting every row exactly
    seen = []
    check = return_checks._ChunkedLikelihood.check_perfect_pred
    monkeypatch.setattr(return_checks._ChunkedLikelihood, "check_perfect_pred",
                        lambda self, p, *a: seen.append(self._at(p)[3]) or check(self, p, *a))
    for outcome, covariate in ((y, gap), (near, x)):
        df = pd.DataFrame({"reacquired": outcome, "x": covariate, "z": rng.normal(size=6_000)})
        monkeypatch.setattr(return_checks, "CHUNK_ROWS", 1_000_000)
        with pytest.raises(ReturnModelError) as plain:
            fit_return_model(df, "reacquired ~ x + z", link=link)
        monkeypatch.setattr(return_checks, "CHUNK_ROWS", 1_000)
        with pytest.raises(ReturnModelError) as chunked:
            fit_return_model(df, "reacquired ~ x + z", link=link)
        assert "separation" in str(plain.value)
        assert str(chunked.value) == str(plain.value)
    assert True in seen and False in seen  # the chunked check ran, and found it
