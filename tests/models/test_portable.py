"""Fitted models as numbers: the same predictions as the fitted objects, through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from winback_study.analysis.scoring import fit_scoring_models
from winback_study.errors import DataError, ModelError
from winback_study.models.portable import LinearIndex, ScoringModels
from winback_study.models.return_probability import fit_return_model
from winback_study.models.second_lifetime import fit_second_lifetime
from winback_study.models.second_profit import fit_second_profit


@pytest.fixture(scope="module")
def fits(small_population):
    ret = fit_return_model(small_population, link="probit")
    life = fit_second_lifetime(small_population, model="weibull", selection=ret)
    prof = fit_second_profit(small_population, selection=ret)
    return ret, life, prof


def test_each_index_equals_the_fitted_model(small_population, fits):
    ret, life, prof = fits
    m = ScoringModels.from_fits(ret, life, prof)
    df = small_population
    np.testing.assert_allclose(m.return_index(df), ret.index(df).to_numpy(), rtol=0, atol=1e-12)
    back = ret.add_control(df)
    scale, shape = life.fitter._prep_inputs_for_prediction_and_return_scores(back, None)
    np.testing.assert_allclose(m.lifetime_index(back), np.log(np.asarray(scale)), atol=1e-12)
    assert m.lifetime_shape == pytest.approx(float(np.asarray(shape).ravel()[0]), rel=1e-14)
    margin = np.exp(m.margin_index(back)) * m.margin_smearing
    np.testing.assert_allclose(margin, prof.predict_margin(df).to_numpy(), rtol=1e-12)
    assert m.selection_index is not None and m.selection_index.coef == m.return_index.coef


def test_json_round_trip_is_exact(tmp_path, small_population, fits):
    m = ScoringModels.from_fits(*fits, info={"note": "test"})
    path = m.save(tmp_path / "models.json")
    back = ScoringModels.load(path)
    assert back.to_dict() == m.to_dict()
    assert json.loads(path.read_text())["format_version"] == 1
    df = small_population
    np.testing.assert_array_equal(back.return_index(df), m.return_index(df))
    assert back.summary.equals(m.summary)


def test_a_factor_level_the_model_never_saw_is_named(small_population, fits):
    m = ScoringModels.from_fits(*fits)
    df = small_population.head(50).copy()
    df["defection_reason"] = df["defection_reason"].astype(str)
    df.loc[df.index[7], "defection_reason"] = "moved abroad"
    with pytest.raises(DataError, match="moved abroad") as info:
        m.return_index(df)
    assert info.value.column == "defection_reason" and info.value.rows == [df.index[7]]


def test_a_missing_value_or_column_is_named(small_population, fits):
    m = ScoringModels.from_fits(*fits)
    df = small_population.head(30).copy()
    df.loc[df.index[4], "referrals"] = np.nan
    with pytest.raises(DataError, match="referrals") as info:
        m.return_index(df)
    assert info.value.rows == [df.index[4]]
    with pytest.raises(DataError, match="complaints") as info:
        m.return_index(small_population.drop(columns="complaints"))
    assert info.value.problem == "missing_column"


@pytest.mark.parametrize("text,problem", [
    ("{not json", "bad_model_file"),
    ('{"format": "something else"}', "bad_model_file"),
    ('{"format": "winback-study scoring models", "format_version": 99}', "bad_model_file"),
    ('{"format": "winback-study scoring models", "format_version": 1}', "bad_model_file"),
])
def test_a_bad_models_file_is_one_error(tmp_path, text, problem):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        ScoringModels.load(path)
    assert info.value.problem == problem
    with pytest.raises(DataError, match="no models file"):
        ScoringModels.load(tmp_path / "absent.json")


def test_formulas_that_need_the_training_data_are_refused():
    with pytest.raises(ModelError, match="center"):
        LinearIndex("center(referrals)", {"Intercept": 0.0, "center(referrals)": 1.0})
    with pytest.raises(ModelError, match="inconsistent"):
        _ = LinearIndex("referrals", {"Intercept": 1.0, "complaints": 2.0}).design_info


def test_only_a_weibull_lifetime_can_be_saved(small_population, fits):
    ret, _, prof = fits
    cox = fit_second_lifetime(small_population, model="cox", selection=ret)
    with pytest.raises(ModelError, match="Weibull"):
        ScoringModels.from_fits(ret, cox, prof)


def test_fit_scoring_models_samples_by_seed(small_population):
    a = fit_scoring_models(small_population, sample=1_000, seed=3)
    b = fit_scoring_models(small_population, sample=1_000, seed=3)
    c = fit_scoring_models(small_population, sample=1_000, seed=4)
    assert a.to_dict() == b.to_dict()
    assert a.return_index.coef != c.return_index.coef
    assert 850 < a.info["returners_fitted"] < 1_150
    with pytest.raises(DataError, match="sample"):
        fit_scoring_models(small_population, sample=0)


def test_equations_must_agree_on_a_factors_levels(fits):
    from dataclasses import replace

    m = ScoringModels.from_fits(*fits)
    levels = dict(m.margin_index.levels)
    levels["defection_reason"] = levels["defection_reason"][:-1]
    with pytest.raises(ModelError, match="defection_reason"):
        replace(m, margin_index=LinearIndex(m.margin_index.rhs, m.margin_index.coef, levels))
