"""Evaluation of a return model: AUC against its textbook definitions, calibration by hand."""

import numpy as np
import pytest
from scipy import stats

from winback_study.models.evaluation import ReturnModelEvaluation, auc_score, calibration_table


def test_auc_matches_pairwise_count_and_mann_whitney():
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.4
    p = np.round(rng.random(400) * 0.5 + 0.3 * y, 2)  # rounded: many ties
    diff = p[y][:, None] - p[~y][None, :]
    pairwise = ((diff > 0) + 0.5 * (diff == 0)).mean()
    assert auc_score(y, p) == pytest.approx(pairwise, abs=1e-12)
    u = stats.mannwhitneyu(p[y], p[~y]).statistic
    assert auc_score(y, p) == pytest.approx(u / (y.sum() * (~y).sum()))
    assert np.isnan(auc_score(np.ones(5), np.linspace(0, 1, 5)))


def test_calibration_table_and_evaluation_by_hand():
    rng = np.random.default_rng(1)
    p = rng.random(10_000)
    y = rng.random(10_000) < p  # perfectly calibrated
    table = calibration_table(y, p, bins=10)
    assert len(table) == 10 and table["customers"].sum() == 10_000
    assert ((table["p_min"] <= table["predicted"]) & (table["predicted"] <= table["p_max"])).all()
    assert (table["gap"].abs() < 0.05).all()
    ev = ReturnModelEvaluation.from_predictions(y, p)
    assert ev.brier == pytest.approx(np.mean((p - y) ** 2))
    assert ev.hl_pvalue > 0.001 and 0.8 < ev.auc < 0.87
