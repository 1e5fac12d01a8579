import numpy as np
import pytest

from winback_study.customer_value import annuity_factor, lifetime_value, monthly_rate


def test_monthly_rate_compounds_to_annual():
    assert (1 + monthly_rate(0.10)) ** 12 == pytest.approx(1.10)


def test_annuity_matches_explicit_sum():
    d = monthly_rate(0.10)
    for t in (1, 12, 37):
        direct = sum(1 / (1 + d) ** k for k in range(1, t + 1))
        assert annuity_factor(t) == pytest.approx(direct)


def test_zero_rate_and_zero_length():
    assert annuity_factor(24, annual_rate=0.0) == 24
    assert lifetime_value(50.0, 0) == 0.0


def test_value_rises_with_margin_and_length_and_falls_with_rate():
    assert lifetime_value(60, 24) > lifetime_value(50, 24)
    assert lifetime_value(50, 36) > lifetime_value(50, 24)
    assert lifetime_value(50, 24, 0.2) < lifetime_value(50, 24, 0.1)
    assert np.all(np.diff(annuity_factor(np.arange(100))) > 0)


def test_bad_rate():
    with pytest.raises(ValueError, match="annual_rate"):
        monthly_rate(-1.5)
