"""The fast paths of the large-file analyses against the direct computations they replace.

- the bootstrap of a large arm by sufficient statistics against drawing every resampled
  customer (same distribution, within Monte Carlo error);
- expected SLV of a Weibull model from its parameters against the survival curves;
- the value lookup of :func:`expected_values` by codes against the per-row string index.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import winback_study.analysis.offer_experiment as oe
from winback_study import KUMAR_2015, simulate_study
from winback_study.analysis import customer_value as cv
from winback_study.analysis.targeting import expected_values
from winback_study.design import REASON_COLUMN, RECEIVED_COLUMN, resolve_design


def _arm(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cost = rng.choice([105.0, 120.0, 225.0], size=k, p=[0.3, 0.5, 0.2])
    value = rng.lognormal(7.0, 1.0, k) * np.where(cost == 225.0, 2.0, 1.0)  # skewed
    return value, cost


@pytest.mark.parametrize("per_customer_cost", [False, True])
def test_large_arm_bootstrap_has_the_exact_distribution(monkeypatch, per_customer_cost):
    """Sufficient statistics vs resampling rows: mean, sd, 2.5% and 97.5% quantiles of the
    resampled response, value and cost per returner agree within Monte Carlo error."""
    value, cost = _arm(8_000)
    if per_customer_cost:  # more than 64 cost levels: jointly normal sums
        cost = cost + np.random.default_rng(3).normal(0, 10, len(cost))
    n, boots = 20_000, 6_000
    monkeypatch.setattr(oe, "_MIN_NORMAL_GROUP", 500)
    r1, v1, c1 = oe._bootstrap_sums_large(n, value, cost, boots, np.random.default_rng(1))
    r0, v0, c0 = oe._bootstrap_returner_sums(n, value, cost, boots, np.random.default_rng(2))
    for new, old in ((r1 / n, r0 / n), (v1 / r1, v0 / r0), (c1 / r1, c0 / r0)):
        sd = old.std()
        se = sd / np.sqrt(boots)
        assert abs(new.mean() - old.mean()) < 5 * np.sqrt(2) * se
        assert new.std() == pytest.approx(sd, rel=5 * np.sqrt(2 / boots) * 1.2)
        for q in (0.025, 0.975):
            # a tail quantile's Monte Carlo sd is about 2.5 sd / sqrt(n_boot) here
            assert abs(np.quantile(new, q) - np.quantile(old, q)) < 5 * 2.5 * se
    # the value and cost per returner move together as in the rows (the tailored mix)
    assert np.corrcoef(v1 / r1, c1 / r1)[0, 1] == pytest.approx(
        np.corrcoef(v0 / r0, c0 / r0)[0, 1], abs=0.08)


def test_large_arm_bootstrap_is_seeded_and_used_above_the_threshold(monkeypatch):
    value, cost = _arm(3_000)
    monkeypatch.setattr(oe, "EXACT_MAX_RETURNERS", 1_000)
    a = oe._bootstrap_returner_sums(9_000, value, cost, 200, np.random.default_rng(5))
    b = oe._bootstrap_returner_sums(9_000, value, cost, 200, np.random.default_rng(5))
    c = oe._bootstrap_sums_large(9_000, value, cost, 200, np.random.default_rng(5))
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_offer_experiment_intervals_agree_between_the_paths(monkeypatch):
    df = simulate_study(60_000, seed=4)
    exact = oe.offer_experiment(df, n_boot=2_000, seed=0).arms
    monkeypatch.setattr(oe, "EXACT_MAX_RETURNERS", 500)
    monkeypatch.setattr(oe, "_MIN_NORMAL_GROUP", 200)
    fast = oe.offer_experiment(df, n_boot=2_000, seed=0).arms
    cols = [c for c in exact.columns if not c.startswith("roi_ci")]
    pd.testing.assert_frame_equal(fast[cols], exact[cols])
    width = exact["roi_ci_high"] - exact["roi_ci_low"]
    for c in ("roi_ci_low", "roi_ci_high"):
        assert ((fast[c] - exact[c]).abs() < 0.1 * width).all()


def test_weibull_expected_slv_from_its_parameters_equals_the_curves():
    from winback_study.models.second_lifetime import fit_second_lifetime
    from winback_study.models.selection import fit_selection

    df = simulate_study(30_000, seed=3)
    fit = fit_second_lifetime(df, selection=fit_selection(df), model="weibull")
    back = df[df["reacquired"] == 1]
    margin = SimpleNamespace(predict_margin=lambda d: d["second_monthly_margin"])
    assert cv._weibull_parameters(fit, back) is not None
    fast = cv.expected_slv(back, fit, margin, annual_rate=[0.1, 0.0])

    class Curves:  # the same model seen only through predict_survival: the chunked path
        model, extrapolates = fit.model, True
        predict_survival = staticmethod(fit.predict_survival)

    slow = cv.expected_slv(back, Curves(), margin, annual_rate=[0.1, 0.0], chunk_size=997)
    np.testing.assert_allclose(fast.to_numpy(), slow.to_numpy(), rtol=1e-12)
    pd.testing.assert_index_equal(fast.index, slow.index)


def test_weibull_annuity_with_a_shape_per_customer():
    from winback_study.core.value import expected_annuity

    rng = np.random.default_rng(0)
    scale, shape = rng.uniform(5, 80, 500), rng.uniform(0.6, 2.0, 500)
    t = np.arange(600.0)
    s = np.exp(-(t[:, None] / scale[None, :]) ** shape[None, :])
    got = cv._weibull_annuity(scale, shape, t, 0.1, chunk_size=77)
    np.testing.assert_allclose(got, expected_annuity(s, 0.1), rtol=1e-13)


def _expected_values_by_strings(df, offer, value="slv", by=(REASON_COLUMN,)):
    """The former implementation: one string key per row, a MultiIndex reindex."""
    d = resolve_design(df, None)
    back = df[df["reacquired"] == 1]
    keys = [*by, RECEIVED_COLUMN]
    cell = back.groupby([back[k].astype(str) for k in keys])[value].mean()
    per_offer = back.groupby(back[RECEIVED_COLUMN].astype(str))[value].mean()
    reasons = df[REASON_COLUMN] if REASON_COLUMN in df.columns else None
    received = pd.Series(d.received_for(offer, reasons, n=len(df)), index=df.index)
    idx = pd.MultiIndex.from_arrays([*(df[k].astype(str) for k in by), received])
    out = cell.reindex(idx).to_numpy(dtype=float)
    gap = ~np.isfinite(out)
    if gap.any():
        out[gap] = received[gap].map(per_offer).to_numpy(dtype=float)
    gap = ~np.isfinite(out)
    if gap.any():
        out[gap] = float(back[value].mean())
    return out


@pytest.mark.parametrize("by", [(REASON_COLUMN,), (), (REASON_COLUMN, "plan")])
def test_expected_values_by_codes_equal_the_string_lookup(by):
    df = simulate_study(8_000, seed=2)
    # empty cells: no returner of one reason got the upgrade
    empty = (df["reacquired"] == 1) & (df[REASON_COLUMN] == "service") & (
        df[RECEIVED_COLUMN] == "upgrade")
    df = df[~empty]
    for offer in KUMAR_2015.treatment_arms:
        np.testing.assert_array_equal(expected_values(df, offer, "slv", by),
                                      _expected_values_by_strings(df, offer, "slv", by))
