"""Newton's method for the Weibull AFT: lifelines' likelihood, its optimum, its Hessian."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import WeibullAFTFitter

from winback_study.models.second_lifetime import fit_second_lifetime
from winback_study.models.weibull_newton import weibull_newton


@pytest.fixture(scope="module")
def spells() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 6_000
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n),
                       "flag": rng.integers(0, 2, n)})
    log_scale = 2.0 + 0.4 * df["x"] - 0.3 * (df["g"] == "b") + 0.2 * df["flag"]
    t = np.exp(log_scale) * rng.weibull(1.3, n)
    cens = rng.uniform(0, 25, n)
    df["t"], df["e"] = np.minimum(t, cens), (t <= cens).astype(int)
    return df


def _lifelines(df: pd.DataFrame, **kw) -> WeibullAFTFitter:
    return WeibullAFTFitter().fit(df, "t", "e", formula="x + g + flag", **kw)


def test_the_optimum_is_lifelines_run_to_convergence(spells) -> None:
    ours = fit_second_lifetime(spells.assign(reacquired=1), "t ~ x + g + flag",
                               model="weibull", selection=None, event_col="e")
    tight = _lifelines(spells, fit_options={"ftol": 1e-14})
    # lifelines' SLSQP stops within about 1e-8 of the optimum even at ftol=1e-14
    np.testing.assert_allclose(ours.fitter.params_, tight.params_, rtol=1e-6, atol=1e-7)
    assert ours.log_likelihood_ >= tight.log_likelihood_ - 1e-9
    np.testing.assert_allclose(ours.fitter.standard_errors_, tight.standard_errors_, rtol=1e-6)
    # the analytic Hessian is autograd's
    np.testing.assert_allclose(ours.fitter._hessian_, tight._hessian_, rtol=1e-6)
    # at least as high a likelihood as lifelines' default fit, and within its tolerance
    default = _lifelines(spells)
    assert ours.log_likelihood_ >= default.log_likelihood_ - 1e-9
    diff = np.abs(ours.fitter.params_ - default.params_) / default.standard_errors_
    assert diff.max() < 0.01
    # an ordinary lifelines fitter afterwards
    assert type(ours.fitter) is WeibullAFTFitter and "_fit_model" not in vars(ours.fitter)


def test_newton_recovers_known_parameters() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    t = np.exp(x @ [1.5, -0.5]) * rng.weibull(2.0, n)
    b, g, _, hess = weibull_newton(x, np.ones((n, 1)), t, np.ones(n))
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    assert np.all(np.abs(b - [1.5, -0.5]) < 4 * se[:2])
    assert abs(np.exp(g[0]) - 2.0) < 4 * se[2] * 2.0


def test_penalised_and_collinear_fits_use_lifelines_own_step(spells) -> None:
    pen = fit_second_lifetime(spells.assign(reacquired=1), "t ~ x + g + flag",
                              model="weibull", selection=None, event_col="e", penalizer=0.1)
    ref = WeibullAFTFitter(penalizer=0.1).fit(spells, "t", "e", formula="x + g + flag")
    np.testing.assert_allclose(pen.fitter.params_, ref.params_, rtol=1e-6, atol=1e-8)
    with pytest.raises(np.linalg.LinAlgError):
        weibull_newton(np.ones((100, 2)), np.ones((100, 1)), np.arange(1, 101.0), np.ones(100))
