"""The analytic average marginal effects equal statsmodels' numerical ones."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from winback_study.models.marginal_effects import average_marginal_effects, dummy_columns


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    n = 4_000
    df = pd.DataFrame({"x": rng.normal(size=n), "count": rng.poisson(2, n),
                       "flag": rng.integers(0, 2, n),
                       "g": rng.choice(["a", "b", "c"], n)})
    index = -0.3 + 0.6 * df["x"] - 0.2 * df["count"] + 0.5 * df["flag"] + 0.4 * (df["g"] == "b")
    df["y"] = (index + rng.normal(size=n) > 0).astype(int)
    return df


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_equal_to_statsmodels(data, link):
    fit = getattr(smf, link)("y ~ x + count + flag + C(g, Treatment('c'))", data).fit(disp=0)
    ref = fit.get_margeff(at="overall", method="dydx", dummy=True)
    ours = average_marginal_effects(fit.model.exog, fit.params.to_numpy(),
                                    fit.cov_params().to_numpy(), link,
                                    const_idx=fit.model.data.const_idx, chunk_rows=1_500)
    np.testing.assert_allclose(ours.effect, ref.margeff, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.std_err, ref.margeff_se, rtol=1e-5)
    np.testing.assert_allclose(ours.conf_int(0.1), ref.conf_int(0.1), rtol=1e-5)
    assert set(ours.columns[ours.dummy]) == set(np.atleast_1d(ref.dummy_idx))


def test_dummy_columns_need_both_values():
    x = np.array([[1, 0, 0.5, 1], [1, 1, 1.0, 1], [1, 0, 0.0, 1]])
    assert dummy_columns(x).tolist() == [False, True, False, False]
