"""score_customers: the library's win-back value of every arm, for every customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import OWN_DESIGN, OWN_PARAMS
from winback_study.analysis.customer_value import win_back_values
from winback_study.analysis.scoring import fit_scoring_models, score_columns, score_customers
from winback_study.data.simulate import simulate_study
from winback_study.design import KUMAR_2015
from winback_study.errors import DataError, ModelError
from winback_study.models.return_probability import fit_return_model
from winback_study.models.second_lifetime import fit_second_lifetime
from winback_study.models.second_profit import fit_second_profit


@pytest.fixture(scope="module")
def models(population):
    return fit_scoring_models(population)


@pytest.fixture(scope="module")
def scores(population, models):
    return score_customers(population, models)


def test_equals_the_library_value_of_each_arm(population, scores):
    """Against win_back_values: the fitted objects (statsmodels, lifelines), counterfactuals
    by StudyDesign.assign and the survival curve summed month by month."""
    ret = fit_return_model(population, link="probit")
    life = fit_second_lifetime(population, model="weibull", selection=ret)
    prof = fit_second_profit(population, selection=ret)
    ref = win_back_values(population, life, prof, return_model=ret)
    for arm in KUMAR_2015.arms:
        r = ref.xs(arm, level="offer")
        np.testing.assert_allclose(scores[f"p_return_{arm}"], r["p_return"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(scores[f"slv_{arm}"], r["expected_slv"], rtol=1e-10)
        if arm != KUMAR_2015.control:
            np.testing.assert_allclose(scores[f"value_{arm}"], r["incremental_value"],
                                       rtol=1e-10, atol=1e-8)


def test_columns_and_the_best_arm(population, scores):
    d = KUMAR_2015
    assert list(scores.columns) == score_columns(d)
    assert scores.index.equals(population.index)
    assert (scores["customer_id"].to_numpy() == population["customer_id"].to_numpy()).all()
    single = [a for a in d.treatment_arms if a not in d.rules]
    values = scores[[f"value_{a}" for a in single]].to_numpy()
    best = values.max(axis=1)
    np.testing.assert_allclose(scores["best_value"], np.maximum(best, 0.0))
    chosen = np.where(best > 0, np.array(single)[values.argmax(axis=1)], d.control)
    assert (scores["best_arm"].astype(str).to_numpy() == chosen).all()
    for c in scores.columns.drop(["customer_id", "best_arm"]):
        assert np.isfinite(scores[c]).all(), c
    assert ((scores.filter(like="p_return_") > 0) & (scores.filter(like="p_return_") < 1)).all().all()


def test_a_dearer_offer_is_worth_its_cost_less_to_acceptors(population, models, scores):
    dearer = KUMAR_2015.with_costs({"upgrade": KUMAR_2015.offers["upgrade"] + 40.0})
    other = score_customers(population.head(2_000), models, dearer)
    base = scores.head(2_000)
    np.testing.assert_allclose(base["value_upgrade"] - other["value_upgrade"],
                               40.0 * base["p_return_upgrade"], rtol=1e-12)
    pd.testing.assert_series_equal(other["value_discount"], base["value_discount"])


def test_the_arm_columns_of_the_data_are_not_read(population, models, scores):
    bare = population.head(500).drop(columns=["offer", "offer_received",
                                              "offer_matches_reason", "offer_cost"])
    pd.testing.assert_frame_equal(score_customers(bare, models), scores.head(500))


def test_in_chunks_is_the_same(population, models, scores):
    parts = [score_customers(population.iloc[i:i + 10_000], models)
             for i in range(0, len(population), 10_000)]
    pd.testing.assert_frame_equal(pd.concat(parts), scores)


def test_another_design(own_design):
    df = simulate_study(20_000, seed=8, params=OWN_PARAMS, design=OWN_DESIGN)
    m = fit_scoring_models(df, design=own_design)
    s = score_customers(df, m)
    assert list(s.columns) == score_columns(own_design)
    assert set(s["best_arm"].cat.categories) == {"none", "free_month", "points"}
    rates = df.groupby(df["offer"].astype(str), observed=True)["reacquired"].mean()
    for arm, rate in rates.items():
        mine = (df["offer"].astype(str) == arm).to_numpy()
        assert s.loc[mine, f"p_return_{arm}"].mean() == pytest.approx(rate, abs=0.02)


def test_bad_input_is_named(population, models):
    df = population.head(100)
    with pytest.raises(DataError) as info:
        score_customers(df.drop(columns="customer_id"), models)
    assert info.value.column == "customer_id"
    with pytest.raises(DataError) as info:
        score_customers(df.drop(columns="defection_reason"), models)
    assert info.value.column == "defection_reason"
    bad = df.copy()
    bad.loc[bad.index[9], "first_tenure_months"] = np.nan
    with pytest.raises(DataError, match="first_tenure_months") as info:
        score_customers(bad, models)
    assert info.value.rows == [bad.index[9]]
    unknown = KUMAR_2015.with_(offers={**KUMAR_2015.offers, "voucher": 5.0})
    with pytest.raises(ModelError, match="voucher"):
        score_customers(df, models, unknown)
