"""The return model on pattern counts has the row-level fit's estimates, errors and likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from winback_study.errors import DataError, ReturnModelError
from winback_study.models.return_patterns import (
    COUNT_COLUMN,
    fit_return_patterns,
    is_discrete,
    return_patterns,
)
from winback_study.models.return_probability import fit_return_model

DISCRETE = ("reacquired ~ referrals + complaints + complaints_resolved + defection_reason"
            " + offer_received + offer_matches_reason + first_tenure_months"
            " + months_since_defection")


@pytest.fixture(scope="module")
def cells(population):
    return return_patterns(population, DISCRETE)


def test_cells_count_every_customer_once(population, cells):
    assert cells[COUNT_COLUMN].sum() == len(population)
    assert len(cells) < len(population)  # customers share cells (ever more as the base grows)
    assert not cells.drop(columns=COUNT_COLUMN).duplicated().any()
    back = cells.loc[cells["reacquired"] == 1, COUNT_COLUMN].sum()
    assert back == population["reacquired"].sum()


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_equals_the_row_level_fit(population, cells, link):
    rows = fit_return_model(population, DISCRETE, link=link)
    cell = fit_return_patterns(cells, DISCRETE, link=link)
    a, b = rows.results, cell.results
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.bse.to_numpy(), a.bse.to_numpy(), rtol=1e-7)
    assert cell.log_likelihood_ == pytest.approx(rows.log_likelihood_, rel=1e-11)
    assert cell.nobs == len(population) and cell.n_cells == len(cells)
    # the scoring index gives the row-level linear index
    np.testing.assert_allclose(cell.index_(population), rows.index(population).to_numpy(),
                               rtol=0, atol=1e-8)


def test_continuous_columns_are_not_discrete(population):
    assert is_discrete(population["referrals"]) and is_discrete(population["defection_reason"])
    assert not is_discrete(population["first_monthly_margin"])
    assert not is_discrete(population["referrals"].astype(float))


def test_bad_counts_and_outcomes_are_named(cells):
    bad = cells.copy()
    bad.loc[3, COUNT_COLUMN] = 0
    with pytest.raises(DataError, match=COUNT_COLUMN) as info:
        fit_return_patterns(bad, DISCRETE)
    assert info.value.column == COUNT_COLUMN
    bad = cells.copy()
    bad["reacquired"] = bad["reacquired"] * 2
    with pytest.raises(DataError, match="0/1"):
        fit_return_patterns(bad, DISCRETE)
    nobody = cells[cells["reacquired"] == 0]
    with pytest.raises(ReturnModelError, match="nobody returned"):
        fit_return_patterns(nobody, DISCRETE)
    with pytest.raises(ReturnModelError, match="link"):
        fit_return_patterns(cells, DISCRETE, link="cloglog")


def test_a_missing_column_is_named(population):
    with pytest.raises(DataError) as info:
        return_patterns(population.drop(columns="complaints"), DISCRETE)
    assert info.value.column == "complaints"
    assert isinstance(return_patterns(pd.DataFrame({"reacquired": [0, 1], "referrals": [1, 1]}),
                                      "reacquired ~ referrals"), pd.DataFrame)
