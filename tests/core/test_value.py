"""The Weibull expected annuity: interpolated on a grid, checked against the explicit sum."""

from __future__ import annotations

import numpy as np
import pytest

from winback_study.core.value import expected_annuity, weibull_annuity
from winback_study.errors import DataError


def _explicit(log_scale: np.ndarray, shape: float, rate: float, horizon: int) -> np.ndarray:
    """expected_annuity of S(t) = exp(-(t / scale) ** shape) at t = 0..horizon-1, built as a
    survival matrix (one column per customer): no grid, no shortcut."""
    t = np.arange(horizon, dtype=float)[:, None]
    s = np.exp(-(t / np.exp(log_scale)[None, :]) ** shape)
    return np.asarray(expected_annuity(s, rate))


@pytest.mark.parametrize("shape", [0.45, 1.0, 1.57, 3.2])
@pytest.mark.parametrize("rate,horizon", [(0.10, 600), (0.0, 120), (0.25, 37)])
def test_equals_the_explicit_sum(shape, rate, horizon):
    rng = np.random.default_rng(int(shape * 100) + horizon)
    log_scale = rng.normal(3.0, 2.0, 3_000)  # scales from days to centuries
    got = weibull_annuity(log_scale, shape, rate, horizon)
    want = _explicit(log_scale, shape, rate, horizon)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_customers_off_the_grid_get_the_exact_sum():
    log_scale = np.array([-30.0, -5.0, 40.0, 60.0])  # u = -shape * log_scale beyond [-60, 10]
    got = weibull_annuity(log_scale, 2.0, 0.1, 600)
    np.testing.assert_allclose(got, _explicit(log_scale, 2.0, 0.1, 600), rtol=1e-14)
    assert np.isnan(weibull_annuity(np.array([np.nan]), 2.0)[0])


def test_bounds_a_lifetime_between_one_month_and_the_horizon():
    got = weibull_annuity(np.linspace(-10, 30, 200), 1.3, 0.1, 600)
    top = float(expected_annuity(np.ones(600), 0.1))
    assert np.all(np.diff(got) >= -1e-12)  # a longer scale is worth no less
    assert got.min() >= float(expected_annuity(np.array([1.0]), 0.1)) - 1e-12
    assert got.max() <= top + 1e-12


@pytest.mark.parametrize("shape", [0.0, -1.0, np.nan])
def test_a_bad_shape_is_a_data_error(shape):
    with pytest.raises(DataError, match="shape"):
        weibull_annuity(np.zeros(3), shape)
