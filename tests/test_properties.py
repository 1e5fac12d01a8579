"""Property tests (hypothesis) on the value and ROI functions."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from winback_study.analysis.roi import incremental_roi
from winback_study.core.value import annuity_factor, expected_lifetime_value, lifetime_value

margins = st.floats(min_value=0.01, max_value=1e4, allow_nan=False)
months = st.floats(min_value=0.0, max_value=600.0, allow_nan=False)
rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
probs = st.floats(min_value=0.01, max_value=0.99, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(margins, margins, months, rates)
def test_value_rises_with_margin(m1, m2, t, r):
    lo, hi = sorted((m1, m2))
    assert lifetime_value(lo, t, r) <= lifetime_value(hi, t, r) + 1e-9


@settings(max_examples=200, deadline=None)
@given(margins, months, months, rates)
def test_value_rises_with_survival(m, t1, t2, r):
    lo, hi = sorted((t1, t2))
    assert lifetime_value(m, lo, r) <= lifetime_value(m, hi, r) + 1e-9


@settings(max_examples=200, deadline=None)
@given(margins, st.floats(min_value=1.0, max_value=600.0), rates, rates)
def test_value_falls_with_discount_rate(m, t, r1, r2):
    lo, hi = sorted((r1, r2))
    assert lifetime_value(m, t, hi) <= lifetime_value(m, t, lo) * (1 + 1e-12) + 1e-9


@given(margins, rates)
def test_zero_length_lifetime_is_worth_nothing(m, r):
    assert lifetime_value(m, 0.0, r) == 0.0


@given(months)
def test_zero_rate_is_undiscounted(t):
    assert np.isclose(annuity_factor(t, 0.0), t)


@settings(max_examples=200, deadline=None)
@given(probs, probs, margins, margins, st.floats(min_value=1e-3, max_value=1e3))
def test_roi_is_invariant_to_the_currency_unit(r, b, value, cost, fx):
    a = incremental_roi(r, b, value, cost)
    c = incremental_roi(r, b, value * fx, cost * fx)
    assert np.isclose(a, c, rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(probs, margins, margins)
def test_roi_without_incremental_customers_loses_the_whole_cost(r, value, cost):
    assert np.isclose(incremental_roi(r, r, value, cost), -1.0)


# survival curves: S(0) = 1, non-increasing, in [0, 1]
def _curve(drops):
    return np.concatenate([[1.0], np.cumprod(1.0 - np.asarray(drops))])


hazards = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(hazards, st.data(), margins, rates)
def test_expected_value_rises_with_the_survival_curve(drops, data, m, r):
    """A curve that lies everywhere at or above another is worth at least as much."""
    low = _curve(drops)
    lift = np.asarray(data.draw(st.lists(st.floats(min_value=0.0, max_value=1.0),
                                         min_size=len(low), max_size=len(low))))
    high = np.maximum(low, np.minimum(1.0, low + lift * (1.0 - low)))
    high = np.minimum.accumulate(high)  # still non-increasing
    assert np.all(high >= low - 1e-15)
    assert expected_lifetime_value(low, m, r) <= expected_lifetime_value(high, m, r) + 1e-9


@settings(max_examples=200, deadline=None)
@given(hazards, margins, rates, rates)
def test_expected_value_falls_with_the_discount_rate(drops, m, r1, r2):
    lo, hi = sorted((r1, r2))
    s = _curve(drops)
    assert expected_lifetime_value(s, m, hi) <= expected_lifetime_value(s, m, lo) * (1 + 1e-12) + 1e-9
