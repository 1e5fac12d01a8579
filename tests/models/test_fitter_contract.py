"""One contract for every fitter of ``winback_study.models``: the same assertions on each.

Every ``fit_*`` has the same signature (the data first, ``formula`` second where it takes a
frame, or one formula per equation for the joint model, every option keyword-only,
``alpha=0.05``), reads a formula the same way (``"y ~ x"``,
``"~ x"`` and ``"x"``), returns a :class:`~winback_study.core.results.FittedResult` with the
same names and the same ``summary`` schema, takes ``alpha=`` for every interval, and reports
bad input as a :class:`~winback_study.errors.WinbackError` that names the problem.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from scipy import special, stats

from winback_study.core.results import INTERVAL_SCALES, SUMMARY_COLUMNS, FittedResult
from winback_study.errors import DataError, ModelError, WinbackError
from winback_study.models.joint import fit_joint_model
from winback_study.models.return_patterns import fit_return_patterns, return_patterns
from winback_study.models.return_probability import fit_return_model
from winback_study.models.sbg import fit_geometric, fit_sbg
from winback_study.models.second_lifetime import fit_second_lifetime
from winback_study.models.second_profit import fit_second_profit
from winback_study.models.selection import fit_selection

#: Fader & Hardie's (2007) "regular" cohort, years 0-7 (the sBG models take counts).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
RATIOS = {"odds_ratio", "hazard_ratio", "time_ratio", "margin_ratio"}
#: Covariates of the formula-forms test (columns every frame fitter can use).
COVARIATES = "referrals + complaints"

#: Every public fitter, and whether it takes a customer frame (else survivor counts).
FITTERS: dict[str, tuple[Callable[..., FittedResult], bool]] = {
    "fit_return_model": (fit_return_model, True),
    "fit_selection": (fit_selection, True),
    "fit_return_patterns": (fit_return_patterns, True),
    "fit_second_lifetime": (fit_second_lifetime, True),
    "fit_second_profit": (fit_second_profit, True),
    "fit_joint_model": (fit_joint_model, True),
    "fit_sbg": (fit_sbg, False),
    "fit_geometric": (fit_geometric, False),
}
#: The formula arguments of a frame fitter: one ``formula``, except the joint model's one
#: per equation (each positional-or-keyword, default None, right after the data).
FORMULA_ARGS: dict[str, tuple[str, ...]] = {
    "fit_joint_model": ("return_formula", "lifetime_formula", "profit_formula"),
}


@dataclass(frozen=True)
class Case:
    """How to fit one model, what its result must say, and how to feed it bad input."""

    fit: Callable[..., FittedResult]  # fit(df, alpha=...)
    equation: str
    ratio: str | None
    #: A column the fit reads, dropped to test the missing-column error (None: counts).
    needs: str | None
    #: The library's own AIC, where the model has one to compare with.
    native_aic: Callable[[FittedResult], float] | None = None
    #: The formula's left-hand side (None: the fitter takes counts, not a formula).
    outcome: str | None = None
    #: The argument that takes the formula, and how to read the fitted formula back.
    formula_arg: str = "formula"
    fitted_formula: Callable[[FittedResult], str] = lambda r: r.formula
    #: Names of the summary's index levels (the joint model's is ``(equation, term)``).
    index_names: tuple[str, ...] = ("term",)


def _counts(fitter: Callable[..., FittedResult]) -> Callable[..., FittedResult]:
    return lambda df, survivors=REGULAR, **kw: fitter(survivors, **kw)


CASES: dict[str, Case] = {
    "return-logit": Case(lambda df, **kw: fit_return_model(df, link="logit", **kw), "return",
                         "odds_ratio", "referrals", lambda r: r.results.aic, "reacquired"),
    "return-probit": Case(lambda df, **kw: fit_return_model(df, link="probit", **kw), "return",
                          None, "complaints", lambda r: r.results.aic, "reacquired"),
    "selection": Case(fit_selection, "return", None, "months_since_defection",
                      lambda r: r.results.aic, "reacquired"),
    # the frame's (covariate pattern, outcome) cells, counted, then fitted
    "return-patterns": Case(lambda df, formula=None, **kw: fit_return_patterns(
        return_patterns(df, formula), formula, **kw), "return", None, "referrals",
        lambda r: r.results.aic, "reacquired"),
    **{
        f"lifetime-{model}-{'corrected' if corr else 'naive'}": Case(
            (lambda m, c: lambda df, **kw: fit_second_lifetime(
                df, model=m, selection=True if c else None, **kw))(model, corr),
            "second_lifetime", "hazard_ratio" if model == "cox" else "time_ratio",
            # the corrected fit also needs the probit's columns
            "months_since_defection" if corr else "complaints",
            (lambda r: r.fitter.AIC_partial_) if model == "cox" else (lambda r: r.fitter.AIC_),
            "second_tenure_months",
        )
        for model in ("cox", "weibull", "loglogistic") for corr in (False, True)
    },
    "profit-log": Case(lambda df, **kw: fit_second_profit(df, **kw), "second_profit",
                       "margin_ratio", "months_since_defection", lambda r: r.ols.aic,
                       "np.log(second_monthly_margin)"),
    "profit-level": Case(lambda df, **kw: fit_second_profit(df, log=False, **kw),
                         "second_profit", None, "referrals", lambda r: r.ols.aic,
                         "second_monthly_margin"),
    # the joint model: its formula forms are checked on the duration equation
    "joint": Case(lambda df, **kw: fit_joint_model(df, n_nodes=8, **kw), "joint", None,
                  "months_since_defection", None, "second_tenure_months",
                  formula_arg="lifetime_formula",
                  fitted_formula=lambda r: r.formulas["second_lifetime"],
                  index_names=("equation", "term")),
    "sbg": Case(_counts(fit_sbg), "retention", None, None),
    "geometric": Case(_counts(fit_geometric), "retention", None, None),
}


@pytest.fixture(scope="module")
def fits(small_population):
    """Fitted results by (case, alpha), each fitted once."""
    cache: dict[tuple[str, float], FittedResult] = {}

    def get(name: str, alpha: float = 0.05) -> FittedResult:
        if (name, alpha) not in cache:
            cache[(name, alpha)] = CASES[name].fit(small_population, alpha=alpha)
        return cache[(name, alpha)]

    return get


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def fitted_model(request, fits):
    """(case name, case, result at the default alpha) for every fitter."""
    return request.param, CASES[request.param], fits(request.param)


# ---------------------------------------------------------------------------- the call
@pytest.mark.parametrize("name", list(FITTERS))
def test_one_signature(name):
    """The data first, then the formula (frame fitters), then keyword-only options."""
    fitter, takes_frame = FITTERS[name]
    params = list(inspect.signature(fitter).parameters.values())
    first = params[0]
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, first
    assert first.default is inspect.Parameter.empty, first
    assert first.name == ("df" if takes_frame else "survivors")
    rest = params[1:]
    if takes_frame:
        names = FORMULA_ARGS.get(name, ("formula",))
        formulas, rest = params[1:1 + len(names)], params[1 + len(names):]
        assert tuple(f.name for f in formulas) == names, formulas
        for formula in formulas:
            assert formula.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, formula
            assert formula.default is None
    else:
        assert "formula" not in inspect.signature(fitter).parameters
    assert rest, "every fitter has options"
    positional = [p.name for p in rest if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert not positional, f"{name}: {positional} must be keyword-only"
    options = {p.name: p for p in rest}
    assert "alpha" in options and options["alpha"].default == 0.05
    if takes_frame:  # the experiment's arms and reasons, resolved from the data by default
        assert "design" in options and options["design"].default is None


def test_the_formula_forms_are_one_fit(fitted_model, small_population):
    """``"outcome ~ x"``, ``"~ x"`` and ``"x"`` fit the same model (the fitter's outcome)."""
    _, case, _ = fitted_model
    if case.outcome is None:  # counts: no formula
        return
    fits = [case.fit(small_population, **{case.formula_arg: f})
            for f in (f"{case.outcome} ~ {COVARIATES}", f"~ {COVARIATES}", COVARIATES)]
    for fit in fits:
        assert case.fitted_formula(fit).split("~")[0].strip() == case.outcome
        terms = set(fit.params_.index.get_level_values(-1))
        assert {"referrals", "complaints"} <= terms
    for fit in fits[1:]:
        assert fit.formula == fits[0].formula
        pd.testing.assert_frame_equal(fit.summary, fits[0].summary)


# ---------------------------------------------------------------------------- the result
def test_is_a_fitted_result_of_its_equation(fitted_model):
    _, case, res = fitted_model
    assert isinstance(res, FittedResult)
    assert res.equation == case.equation
    assert res.ratio_name == case.ratio
    assert res.confidence_level == pytest.approx(0.95)


def test_summary_schema(fitted_model):
    _, case, res = fitted_model
    table = res.summary
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    assert tuple(table.index.names) == case.index_names
    assert tuple(table.columns[:6]) == SUMMARY_COLUMNS
    extra = list(table.columns[6:])
    if case.ratio is None:
        assert extra == []
    else:
        assert case.ratio in RATIOS
        assert extra == [case.ratio, f"{case.ratio}_ci_low", f"{case.ratio}_ci_high"]
        np.testing.assert_allclose(table[case.ratio], np.exp(table["coef"]))
        np.testing.assert_allclose(table[f"{case.ratio}_ci_low"], np.exp(table["ci_low"]))
    assert table.notna().all().all()
    assert res.summary is table  # computed once
    assert set(res.interval_scales) <= set(table.index)
    assert set(res.interval_scales.values()) <= set(INTERVAL_SCALES)


def test_attributes_are_the_summary_columns(fitted_model):
    _, _, res = fitted_model
    table = res.summary
    pd.testing.assert_series_equal(res.params_, table["coef"], check_names=False)
    pd.testing.assert_series_equal(res.standard_errors_, table["std_err"], check_names=False)
    pd.testing.assert_frame_equal(res.confidence_intervals_, table[["ci_low", "ci_high"]])
    np.testing.assert_allclose(table["z"], table["coef"] / table["std_err"])
    np.testing.assert_allclose(table["p_value"], 2 * stats.norm.sf(table["z"].abs()))


def test_intervals_contain_the_estimate(fitted_model):
    _, _, res = fitted_model
    t = res.summary
    assert (t["ci_low"] < t["coef"]).all() and (t["coef"] < t["ci_high"]).all()


def _on_interval_scale(res: FittedResult, values: pd.Series) -> pd.Series:
    """``values`` (by term) on the scale each term's interval is computed on."""
    out = values.astype(float).copy()
    for term, scale in res.interval_scales.items():
        out[term] = {"identity": lambda v: v, "log": np.log,
                     "logit": special.logit}[scale](out[term])
    return out


def test_alpha_sets_every_interval(fitted_model, fits):
    """Wald intervals: the half-width scales with z_{1 - alpha/2}, exactly, on the scale the
    interval is computed on (the coefficient's, or the log / logit of a positive parameter
    or a probability, where the interval is symmetric around the estimate)."""
    name, _, res = fitted_model
    other = fits(name, 0.10)
    assert other.confidence_level == pytest.approx(0.90)
    a, b = res.summary, other.summary
    pd.testing.assert_series_equal(a["coef"], b["coef"])
    pd.testing.assert_series_equal(a["std_err"], b["std_err"])
    centre = _on_interval_scale(res, a["coef"])
    for t in (a, b):
        np.testing.assert_allclose(_on_interval_scale(res, t["ci_high"]) - centre,
                                   centre - _on_interval_scale(res, t["ci_low"]), rtol=1e-9)
    half_95 = (_on_interval_scale(res, a["ci_high"]) - _on_interval_scale(res, a["ci_low"])) / 2
    half_90 = (_on_interval_scale(res, b["ci_high"]) - _on_interval_scale(res, b["ci_low"])) / 2
    assert (half_90 < half_95).all()
    np.testing.assert_allclose(half_90 / half_95, stats.norm.ppf(0.95) / stats.norm.ppf(0.975),
                               rtol=1e-9)


def test_print_summary_shows_every_term(fitted_model, capsys):
    _, _, res = fitted_model
    res.print_summary()
    out = capsys.readouterr().out
    for term in res.summary.index:
        for part in term if isinstance(term, tuple) else (term,):
            assert part in out
    assert "90%" not in out and "95%" in out
    assert out.strip() == res.summary_text()


def test_fit_statistics(fitted_model):
    _, case, res = fitted_model
    ll = res.log_likelihood_
    assert isinstance(ll, float) and np.isfinite(ll)
    k = res.n_params_
    assert isinstance(k, int) and k >= len(res.params_)
    assert res.aic_ == pytest.approx(2 * k - 2 * ll, rel=1e-12)
    if case.native_aic is not None:
        assert res.aic_ == pytest.approx(case.native_aic(res), rel=1e-10)
    assert isinstance(res.nobs, int) and res.nobs > 0
    assert type(res).__name__ in repr(res)


def test_plots_return_axes(fitted_model):
    _, _, res = fitted_model
    methods = [m for m in dir(res) if m.startswith("plot_") and callable(getattr(res, m))]
    assert methods, "every result draws something"
    for m in methods:
        ax = getattr(res, m)()
        assert isinstance(ax, Axes), m
        fig, given = plt.subplots()
        assert getattr(res, m)(ax=given) is given, m
    plt.close("all")


# ---------------------------------------------------------------------------- bad input
def test_a_missing_column_is_a_data_error_that_names_it(fitted_model, small_population):
    _, case, _ = fitted_model
    if case.needs is None:  # counts, not a frame: a bad count is named by its position
        with pytest.raises(DataError, match="position 2.*negative"):
            case.fit(small_population, survivors=[1000, 631, -1, 300])
        return
    with pytest.raises(DataError) as info:
        case.fit(small_population.drop(columns=case.needs))
    assert isinstance(info.value, WinbackError)
    assert info.value.column == case.needs and repr(case.needs) in str(info.value)


@pytest.mark.parametrize("alpha", [1.5, 0, "wide"])
def test_a_bad_alpha_is_a_model_error(fitted_model, small_population, alpha):
    _, case, _ = fitted_model
    with pytest.raises(ModelError, match="alpha"):
        case.fit(small_population, alpha=alpha)
