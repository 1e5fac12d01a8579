"""Customer value before and after churn, from the fitted models: expected SLV, the value
of a win-back attempt under each offer, and CLV and SLV by several routes.

The definition of a lifetime's value (CLV and SLV) is :mod:`winback_study.core.value`'s,
the package's one: margins earned at the end of each month, discounted at the monthly
equivalent of an annual rate (10% by default), no horizon cap. This module applies it:
the first-lifetime CLV to the first-lifetime margin and tenure, the second-lifetime value
(SLV, Stauss & Friege 1999) to the second-lifetime margin and tenure, discounted to the
month of reacquisition. Offer costs are *not* netted out of SLV: they enter ROI as costs
(see :mod:`winback_study.analysis.roi`).

Expected values from a survival curve
-------------------------------------
When a lifetime is not (fully) observed, its value is estimated from a survival curve
``S(t)`` (share still a customer ``t`` months in) and a monthly margin ``m``. With the
definition above a customer whose lifetime is ``T`` whole months earns ``m`` at the end of
months ``1..T``, and ``P(T >= t) = S(t - 1)``, so::

    E[value] = m * sum_{t >= 1} S(t - 1) / (1 + d) ** t          (expected_lifetime_value)

which equals :func:`~winback_study.core.value.lifetime_value` exactly when ``S`` is the
step function of a known ``T``. Per customer, margin and survival come from the second-lifetime models
(:func:`expected_slv`); treating them as independent *given the covariates* ignores the
small residual correlation through loyalty. The sum runs to a horizon (600 months by
default), after which the remaining value is below ``S(600) / (1.1 ** 50)`` of a year's
margin and negligible.

The value of a win-back attempt on a customer with offer ``o`` (:func:`win_back_value`)::

    P(return | customer, o) * (E[SLV | customer, o, returned] - cost_o) - contact cost

(the offer cost is paid only by those who accept, as in the HBR exhibit). Its incremental
version subtracts what the customer would bring with no offer,
``P(return | none) * E[SLV | customer, none, returned]``. The offers, their costs and the
no-offer arm come from the study design (``design=``, default
:func:`~winback_study.design.resolve_design` of the data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from winback_study.core.checks import require_columns
from winback_study.core.value import (
    ANNUAL_DISCOUNT_RATE,
    DEFAULT_HORIZON_MONTHS,
    expected_annuity,
    expected_lifetime_value,
    lifetime_value,
)
from winback_study.design import COST_COLUMN, StudyDesign, resolve_design
from winback_study.errors import DataError, ModelError

__all__ = [
    "expected_slv",
    "with_offer",
    "win_back_value",
    "win_back_values",
    "slv_discount_sensitivity",
    "retention_model_value",
    "value_routes",
]

def expected_slv(
    df: pd.DataFrame,
    lifetime: Any,
    profit: Any,
    annual_rate: float | Sequence[float] = ANNUAL_DISCOUNT_RATE,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    chunk_size: int = 5000,
) -> pd.Series | pd.DataFrame:
    """Expected second-lifetime value of each customer *if she returns*, from fitted models.

    Parameters
    ----------
    df : pandas.DataFrame
        Customers (reacquired or not) with the models' covariates; change ``offer_received``
        (:func:`with_offer`) for a counterfactual offer.
    lifetime : SecondLifetimeResult
        Fitted duration model (anything with ``predict_survival(df, times)``). It must
        extrapolate beyond the window (Weibull, log-logistic), unless ``horizon_months``
        stays inside the observed follow-up.
    profit : SecondProfitResult
        Fitted margin model (anything with ``predict_margin(df)``).
    annual_rate : float or sequence of float
        Annual discount rate(s).
    horizon_months : int
        Months summed (the survival curve is evaluated at ``0..horizon_months - 1``).
    chunk_size : int
        Customers per batch (bounds memory: ``chunk_size * horizon_months`` floats).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        Expected SLV in USD per customer (a column per rate when ``annual_rate`` is a
        sequence).

    Raises
    ------
    ModelError
        The duration model cannot value months past the longest observed lifetime (Cox,
        Kaplan-Meier) and ``horizon_months`` goes beyond them.
    """
    if not getattr(lifetime, "extrapolates", True) and horizon_months - 1 > (
        lifetime.max_observed_months
    ):
        raise ModelError(
            f"a {lifetime.model} model's survival curve stops at the longest observed second "
            f"lifetime ({lifetime.max_observed_months:g} months) and cannot value the months "
            "after it; use a parametric model (model='weibull') for SLV, or pass "
            f"horizon_months <= {int(lifetime.max_observed_months) + 1} for a lower bound"
        )
    rates = [annual_rate] if np.ndim(annual_rate) == 0 else list(annual_rate)  # type: ignore[arg-type]
    times = np.arange(horizon_months, dtype=float)
    out = np.empty((len(df), len(rates)))
    params = _weibull_parameters(lifetime, df)
    if params is not None:
        margin = np.asarray(profit.predict_margin(df), dtype=float)
        for j, r in enumerate(rates):
            out[:, j] = margin * _weibull_annuity(*params, times, r)
        if np.ndim(annual_rate) == 0:
            return pd.Series(out[:, 0], index=df.index, name="expected_slv")
        return pd.DataFrame(out, index=df.index, columns=pd.Index(rates, name="annual_rate"))
    for start in range(0, len(df), chunk_size):
        part = df.iloc[start:start + chunk_size]
        s = lifetime.predict_survival(part, times).to_numpy()
        m = profit.predict_margin(part).to_numpy()
        for j, r in enumerate(rates):
            out[start:start + len(part), j] = m * expected_annuity(s, r)
    if np.ndim(annual_rate) == 0:
        return pd.Series(out[:, 0], index=df.index, name="expected_slv")
    return pd.DataFrame(out, index=df.index, columns=pd.Index(rates, name="annual_rate"))


def _weibull_parameters(lifetime: Any, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """``(scale, shape)`` of each customer's Weibull AFT survival, or None for another model.

    The same parameters :meth:`SecondLifetimeResult.predict_survival` evaluates
    ``S(t) = exp(-(t / scale) ** shape)`` with, computed once for all rows.
    """
    fitter = getattr(lifetime, "fitter", None)
    prep = getattr(fitter, "_prep_inputs_for_prediction_and_return_scores", None)
    if getattr(lifetime, "model", None) != "weibull" or prep is None or not hasattr(
            lifetime, "_design"):
        return None
    scale, shape = (np.asarray(a, dtype=float).reshape(-1)
                    for a in prep(lifetime._design(df), None))
    if len(scale) != len(df):
        return None
    return scale, np.broadcast_to(shape, scale.shape)


def _weibull_annuity(scale: np.ndarray, shape: np.ndarray, times: np.ndarray,
                     annual_rate: float, chunk_size: int = 20_000) -> np.ndarray:
    """``expected_annuity`` of ``S(t) = exp(-(t / scale) ** shape)`` at ``times``, per row.

    One reused ``chunk_size x len(times)`` buffer, no temporaries. With one shape for every
    row (the AFT model without ancillary covariates) ``(t / scale) ** shape`` is
    ``t ** shape * scale ** -shape``: an outer product instead of a power per element.
    """
    from winback_study.core.value import _discount_factors, weibull_annuity

    n = len(scale)
    if n > 0 and bool(np.all(shape == shape[0])) and np.array_equal(
            times, np.arange(len(times), dtype=float)):
        # one shape, months 0..H-1: the interpolated sum, within 1e-10 of this one and a
        # cost independent of the horizon (600 exponentials per customer otherwise)
        return weibull_annuity(np.log(scale), float(shape[0]), annual_rate, len(times))
    v = _discount_factors(len(times), annual_rate)
    out = np.empty(n)
    buf = np.empty((min(chunk_size, max(n, 1)), len(times)))
    common = n > 0 and bool(np.all(shape == shape[0]))
    if common:
        rho = float(shape[0])
        t_rho = times ** rho
        a = scale ** -rho
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        b = buf[:stop - start]
        if common:
            np.multiply(a[start:stop, None], t_rho[None, :], out=b)
        else:
            np.divide(times[None, :], scale[start:stop, None], out=b)
            np.power(b, shape[start:stop, None], out=b)
        np.negative(b, out=b)
        np.exp(b, out=b)
        np.matmul(b, v, out=out[start:stop])
    return out


def with_offer(df: pd.DataFrame, offer: str, *,
               design: StudyDesign | None = None) -> pd.DataFrame:
    """The same customers as if they had been assigned arm ``offer`` (a counterfactual).

    The package's one counterfactual, :meth:`StudyDesign.assign`: sets ``offer``,
    ``offer_received`` (a rule arm such as ``tailored``: by defection reason),
    ``offer_matches_reason`` and ``offer_cost`` consistently.

    Parameters
    ----------
    df : pandas.DataFrame
        Study table (a rule arm needs ``defection_reason``).
    offer : str
        The arm to assign, one of ``design.arms``.
    design : StudyDesign, optional
        Arms, costs and rules; default :func:`~winback_study.design.resolve_design` of
        ``df`` (:data:`~winback_study.design.KUMAR_2015` for the study's arms).

    Returns
    -------
    pandas.DataFrame
        A modified copy.

    Examples
    --------
    >>> import winback_study as wb
    >>> df = wb.simulate_study(1_000, seed=1)
    >>> sorted(wb.with_offer(df, "tailored")["offer_received"].astype(str).unique())
    ['bundled', 'discount', 'upgrade']
    """
    return resolve_design(df, design).assign(df, offer)


def win_back_value(
    p_return: ArrayLike,
    slv: ArrayLike,
    cost_if_accepted: ArrayLike,
    contact_cost: float = 0.0,
    p_return_baseline: ArrayLike | None = None,
    slv_baseline: ArrayLike | None = None,
) -> float | np.ndarray:
    """Expected value of one win-back attempt.

    ``p_return * (slv - cost_if_accepted) - contact_cost``, minus
    ``p_return_baseline * slv_baseline`` when a no-offer baseline is given (the incremental
    value: what the offer adds over leaving the customer alone).

    Parameters
    ----------
    p_return : float or array-like
        Probability that the customer returns with the offer.
    slv : float or array-like
        Expected second-lifetime value if she returns with the offer, USD.
    cost_if_accepted : float or array-like
        Offer cost, paid only if she returns (USD).
    contact_cost : float
        Cost of making the attempt, paid whatever the outcome (USD).
    p_return_baseline, slv_baseline : float or array-like, optional
        Return probability and SLV without an offer.

    Returns
    -------
    float or numpy.ndarray
        Expected value in USD.

    Raises
    ------
    DataError
        ``p_return`` is not a probability.
    """
    p = np.asarray(p_return, dtype=float)
    bad = (p < 0) | (p > 1)
    if np.any(bad):
        n = int(np.sum(bad))
        raise DataError(f"p_return must be a probability between 0 and 1; {n:,} value"
                        f"{'s are' if n != 1 else ' is'} not (e.g. {p[bad].flat[0]:g})",
                        problem="not_a_probability", n_rows=n)
    out = p * (np.asarray(slv, dtype=float) - np.asarray(cost_if_accepted, dtype=float))
    out = out - contact_cost
    if (p_return_baseline is None) != (slv_baseline is None):
        raise ValueError("give both p_return_baseline and slv_baseline, or neither")
    if p_return_baseline is not None:
        out = out - np.asarray(p_return_baseline, dtype=float) * np.asarray(slv_baseline, dtype=float)
    return float(out) if np.ndim(out) == 0 else out


def win_back_values(
    df: pd.DataFrame,
    lifetime: Any,
    profit: Any,
    offers: Sequence[str] | None = None,
    return_model: Any = None,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
    contact_cost: float = 0.0,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    *,
    design: StudyDesign | None = None,
) -> pd.DataFrame:
    """Expected value of a win-back attempt for every customer under every offer.

    Parameters
    ----------
    df : pandas.DataFrame
        Lapsed customers (study table).
    lifetime, profit : fitted second-lifetime models
        Selection-corrected, so that their predictions are "given that she returns" under
        each counterfactual offer (:func:`expected_slv`).
    offers : sequence of str, optional
        Arms to evaluate; default every arm of the design (the control is needed for the
        incremental value).
    return_model : ReturnModel, optional
        Return probit giving ``P(return | customer, offer)``; default the probit inside
        ``lifetime`` (``lifetime.selection``).
    annual_rate : float
        Annual discount rate.
    contact_cost : float
        Cost per attempt (USD), charged to every arm except the control.
    horizon_months : int
        Months summed for SLV.
    design : StudyDesign, optional
        Arms, costs and the control; default :func:`~winback_study.design.resolve_design`
        of ``df``.

    Returns
    -------
    pandas.DataFrame
        Long table indexed by (customer index, offer): ``p_return``, ``expected_slv``,
        ``cost_if_accepted``, ``value`` and, when the control is among the offers,
        ``incremental_value`` (value minus the no-offer value).

    Raises
    ------
    ModelError
        No return model: ``lifetime`` was fitted without selection and ``return_model``
        is not given.
    DesignError
        An arm the design does not have, or a rule arm without ``defection_reason``.
    """
    model = return_model if return_model is not None else getattr(lifetime, "selection", None)
    if model is None:
        raise ModelError(
            "no return model: fit the lifetime model with selection=True (the default) or pass "
            "return_model (a probit ReturnModel, fit_selection(df))"
        )
    d = resolve_design(df, design)
    offers = d.arms if offers is None else tuple(offers)
    frames = []
    for offer in offers:
        cf = d.assign(df, offer)
        p = model.probability(cf).to_numpy()
        slv = expected_slv(cf, lifetime, profit, annual_rate, horizon_months).to_numpy()
        cost = cf[COST_COLUMN].to_numpy(dtype=float)
        value = win_back_value(p, slv, cost, contact_cost if offer != d.control else 0.0)
        frames.append(pd.DataFrame(
            {"offer": offer, "p_return": p, "expected_slv": slv, "cost_if_accepted": cost,
             "value": value}, index=df.index))
    out = pd.concat(frames)
    out = out.set_index("offer", append=True)
    if d.control in offers:
        base = out.xs(d.control, level="offer")["value"]
        out["incremental_value"] = out["value"] - base.reindex(
            out.index.get_level_values(0)).to_numpy()
    return out


def slv_discount_sensitivity(
    df: pd.DataFrame,
    lifetime: Any,
    profit: Any,
    rates: Sequence[float] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25),
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
) -> pd.DataFrame:
    """Mean expected SLV of the customers in ``df`` at several annual discount rates.

    Where ``df`` has the simulator's complete second lifetimes
    (``latent_second_tenure_months``), the true mean SLV at each rate is shown beside it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``annual_rate``: ``expected_slv`` (models) and, when available,
        ``simulated_slv`` (complete simulated lifetimes) and ``observed_slv`` (inside the
        window: a lower bound).
    """
    back = df[df["reacquired"] == 1] if "reacquired" in df.columns else df
    est = expected_slv(back, lifetime, profit, list(rates), horizon_months).mean()
    out = pd.DataFrame({"expected_slv": est.to_numpy()},
                       index=pd.Index(list(rates), name="annual_rate"))
    if {"latent_second_tenure_months", "second_monthly_margin"} <= set(back.columns):
        out["simulated_slv"] = [
            float(lifetime_value(back["second_monthly_margin"],
                                 back["latent_second_tenure_months"], r).mean())
            for r in rates
        ]
    if {"second_tenure_months", "second_monthly_margin"} <= set(back.columns):
        out["observed_slv"] = [
            float(lifetime_value(back["second_monthly_margin"], back["second_tenure_months"],
                                 r).mean())
            for r in rates
        ]
    return out


# ----------------------------------------------------------------------------- value routes
def retention_model_value(
    result: Any,
    monthly_margin: float,
    period_months: float = 12.0,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
) -> float:
    """Expected lifetime value implied by a per-period retention model (sBG or geometric).

    The model's survival is spread evenly over the months of each period
    (:func:`winback_study.models.sbg.monthly_survival`) and valued with the package's one
    definition (:func:`expected_lifetime_value`).

    Parameters
    ----------
    result : SBGResult or GeometricResult
        Fitted on survivor counts per ``period_months``.
    monthly_margin : float
        Margin per month, USD.
    period_months : float
        Months per period of ``result``.
    annual_rate : float
        Annual discount rate.
    horizon_months : int
        Months summed.

    Returns
    -------
    float
        Expected value at the start of the lifetime, USD.
    """
    from winback_study.models.sbg import monthly_survival

    s = monthly_survival(result, np.arange(horizon_months), period_months)
    return float(expected_lifetime_value(s, monthly_margin, annual_rate))


def _fit_retention(counts: pd.Series) -> tuple[Any, str]:
    """sBG fit, or its geometric limit when the sBG estimate is on the boundary."""
    from winback_study.models.sbg import SBGBoundaryError, fit_sbg

    try:
        fit = fit_sbg(counts)
        return fit, f"sBG alpha={fit.alpha:.3f}, beta={fit.beta:.3f}"
    except SBGBoundaryError as exc:
        g = exc.geometric
        return g, (f"sBG at its boundary (retention falls with tenure): geometric limit, "
                   f"churn {g.churn:.3f}/year")


def value_routes(
    df: pd.DataFrame,
    lifetime: Any = None,
    profit: Any = None,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
    sbg_years: int = 7,
    complete_years: int = 3,
    window_months: int = 84,
) -> pd.DataFrame:
    """First- and second-lifetime value by several routes, beside the published figures.

    Routes (rows), for the first lifetime (all lapsed customers):

    * ``observed``: mean ``clv_first``; every first lifetime is complete, so exact.
    * ``Kaplan-Meier x margin, by plan``: survival and mean margin per plan.
    * ``sBG, yearly survivors``: :func:`~winback_study.models.sbg.fit_sbg` on the survivors at
      each anniversary (years ``0..sbg_years``), times the mean margin.

    and for the second lifetime (the reacquired):

    * ``simulated truth``: mean ``slv`` over the complete simulated lifetimes (not
      available in real data);
    * ``observed inside the window``: mean ``slv_observed``, a lower bound;
    * ``survival and margin models``: mean :func:`expected_slv` (needs ``lifetime`` and
      ``profit``);
    * ``sBG, cohort with full follow-up``: reacquired customers with at least
      ``complete_years`` years to the end of the window, exact yearly counts;
    * ``sBG, Kaplan-Meier survivors``: every reacquired customer, yearly counts from the
      Kaplan-Meier curve (as many years as the window allows).

    Returns
    -------
    pandas.DataFrame
        Indexed by (lifetime, route): ``value`` (USD), ``published``, ``vs_published``
        (relative difference) and ``note``. Published values come from
        :mod:`winback_study.data.published`.

    Raises
    ------
    DataError
        A column it needs is missing (the lifetimes, margins, ``reacquired``, the
        second-lifetime follow-up).
    """
    require_columns(df, ["clv_first", "first_tenure_months", "first_monthly_margin",
                         "reacquired", "second_tenure_months", "second_churned",
                         "second_monthly_margin", "second_start_month"], "value_routes")
    from lifelines import KaplanMeierFitter

    from winback_study.data.published import get
    from winback_study.models.sbg import survivor_counts

    rows: list[dict[str, Any]] = []
    pub1, pub2 = get("P4.clv_first").value, get("P4.slv").value

    def add(life: str, route: str, value: float, note: str = "") -> None:
        pub = pub1 if life == "first" else pub2
        rows.append({"lifetime": life, "route": route, "value": value, "published": pub,
                     "vs_published": value / pub - 1, "note": note})

    # first lifetime --------------------------------------------------------------------
    add("first", "observed (complete lifetimes)", float(df["clv_first"].mean()),
        "mean clv_first of all lapsed customers")
    if "plan" in df.columns:
        total = 0.0
        for _, g in df.groupby("plan", observed=True):
            kmf = KaplanMeierFitter().fit(g["first_tenure_months"])
            s = kmf.survival_function_at_times(np.arange(int(g["first_tenure_months"].max()) + 1))
            total += len(g) * float(expected_lifetime_value(
                s.to_numpy(), g["first_monthly_margin"].mean(), annual_rate))
        add("first", "Kaplan-Meier x margin, by plan", total / len(df),
            "survival and mean margin within each plan")
    counts = survivor_counts(df["first_tenure_months"], period=12, n_periods=sbg_years,
                             method="complete")
    fit, note = _fit_retention(counts)
    add("first", f"sBG, yearly survivors (years 0-{sbg_years})",
        retention_model_value(fit, float(df["first_monthly_margin"].mean()), 12, annual_rate),
        note)

    # second lifetime -------------------------------------------------------------------
    back = df[df["reacquired"] == 1]
    if "slv" in back.columns:
        add("second", "simulated truth (complete lifetimes)", float(back["slv"].mean()),
            "known only because the data are simulated")
    if "slv_observed" in back.columns:
        add("second", "observed inside the window", float(back["slv_observed"].mean()),
            "lower bound: months after the window are missing")
    if lifetime is not None and profit is not None:
        add("second", "survival and margin models", float(
            expected_slv(back, lifetime, profit, annual_rate).mean()),
            f"{lifetime.model} duration model x margin model"
            + (", selection-corrected" if getattr(lifetime, "corrected", False) else ""))
    margin2 = float(back["second_monthly_margin"].mean())
    follow = window_months - back["second_start_month"]
    counts = survivor_counts(back["second_tenure_months"], back["second_churned"], 12,
                             complete_years, "complete", follow)
    cohort = follow >= 12 * complete_years
    fit, note = _fit_retention(counts)
    add("second", f"sBG, cohort with full follow-up (years 0-{complete_years})",
        retention_model_value(fit, float(back.loc[cohort, "second_monthly_margin"].mean()), 12,
                              annual_rate),
        f"{int(cohort.sum()):,} customers; {note}")
    counts = survivor_counts(back["second_tenure_months"], back["second_churned"], 12,
                             method="km")
    fit, note = _fit_retention(counts)
    add("second", f"sBG, Kaplan-Meier survivors (years 0-{len(counts) - 1})",
        retention_model_value(fit, margin2, 12, annual_rate), note)
    return pd.DataFrame(rows).set_index(["lifetime", "route"])
