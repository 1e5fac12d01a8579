"""Simulate a lapsed-customer population whose aggregates match the published study.

The data-generating process (DGP) is explicit and every true parameter lives in
:class:`StudyParams`. Time runs in months over an 84-month observation window
(months 0-84). For each customer, in this order:

1. **Defection reason** (price / service / both / other) and **plan** (basic / standard /
   premium, more premium plans among service leavers).
2. **First lifetime**: monthly margin (log-normal around the plan's margin), tenure
   (Weibull, by plan and reason), referrals and complaints (Poisson in the tenure),
   complaints resolved (binomial).
3. **Defection** in month 1-71 of the window; the first lifetime started ``tenure`` months
   earlier (possibly before the window).
4. **Win-back**: contact 1-12 months after defection. ``n_per_arm`` customers per arm are
   randomised to the four offers (discount, upgrade, bundled, tailored); the rest get no
   offer (``none``) and are the no-offer baseline. Tailored gives price leavers the
   discount, service leavers the upgrade, price-and-service leavers the bundle and other
   leavers the discount.
5. **Return** (probit): ``reacquired = 1`` when
   ``x'beta + u > 0``, ``u = rho * loyalty + sqrt(1 - rho**2) * e`` with ``loyalty`` and
   ``e`` independent standard normal. ``u`` is standard normal, so a probit of
   ``reacquired`` on the observed covariates recovers ``beta`` exactly.
6. **Second lifetime** (reacquired only), Weibull AFT conditional on loyalty:
   ``log T2 = z'alpha + tau * loyalty + sigma * log(E)``, ``E ~ Exp(1)``, in months,
   right-censored at month 84. Because loyalty also drives return, the reacquired are a
   selected sample (Thomas, Blattberg & Fox 2004).
7. **Second-lifetime margin**: ``log m2 = phi0 + elasticity * log m1 + phi_reason +
   phi_offer + kappa * loyalty + s * e2``.
8. **Values** (:mod:`winback_study.analysis.customer_value`): ``clv_first`` over the first lifetime,
   ``slv`` over the *complete* second lifetime (known because it is simulated) and
   ``slv_observed`` over the part inside the window.

Loyalty is independent of every observed covariate, so it biases nothing in the return
equation; it only makes second-lifetime outcomes a selected sample.

``StudyParams(loyalty_distribution="skewed")`` replaces the standard-normal loyalty by a
standardised (mean 0, variance 1) right-skewed log-normal built from the same draws, a
misspecification for every model that assumes a normal trait (the two-step correction, the
joint model of :mod:`winback_study.models.joint`); the default ``"normal"`` leaves every
simulated frame as it was.

The calibrated values (margin scales, return intercept and offer effects, second-lifetime
offer effects) were solved once so that the *expected* aggregates hit the published
targets; ``scripts/calibrate_simulator.py`` re-derives them. The tests check the targets on
several seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.value import ANNUAL_DISCOUNT_RATE, lifetime_value
from winback_study.data.study_table import PLANS
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, DesignError

__all__ = [
    "StudyParams",
    "simulate_study",
    "true_return_coefficients",
    "study_params",
]



def _frozen(d: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``d`` (StudyParams is frozen; its mappings are copied, not shared)."""
    return dict(d)


@dataclass(frozen=True)
class StudyParams:
    """True parameters of the simulated study. Every field is documented in ``data/README.md``.

    Categorical effects are mappings from level to effect; the first level of each factor
    (``price``, ``basic``, ``none``) is the reference with effect 0.
    """

    # --- design ---------------------------------------------------------------------------
    window_months: int = 84
    defection_month_max: int = 71
    contact_gap_max: int = 12
    n_per_arm_share: float = 10_000 / 53_000
    annual_discount_rate: float = ANNUAL_DISCOUNT_RATE

    # --- who left, why, on which plan ----------------------------------------------------
    reason_shares: dict = field(
        default_factory=lambda: _frozen({"price": 0.40, "service": 0.30, "both": 0.12, "other": 0.18})
    )
    plan_shares: dict = field(
        default_factory=lambda: {
            "price": (0.50, 0.35, 0.15),
            "service": (0.20, 0.40, 0.40),
            "both": (0.35, 0.40, 0.25),
            "other": (0.35, 0.40, 0.25),
        }
    )

    # --- first lifetime -------------------------------------------------------------------
    plan_margin: dict = field(
        default_factory=lambda: _frozen({"basic": 30.0, "standard": 45.0, "premium": 65.0})
    )
    first_margin_scale: float = 1.1764  # calibrated: mean first-lifetime CLV = $1,262
    first_margin_sigma: float = 0.25
    first_tenure_scale: dict = field(
        default_factory=lambda: _frozen({"basic": 26.0, "standard": 32.0, "premium": 36.0})
    )
    first_tenure_reason: dict = field(
        default_factory=lambda: _frozen({"price": 0.0, "service": -0.10, "both": -0.15, "other": 0.0})
    )
    first_tenure_shape: float = 1.3
    referral_rate_per_year: float = 0.25
    complaint_rate_per_year: dict = field(
        default_factory=lambda: _frozen({"price": 0.25, "service": 0.60, "both": 0.50, "other": 0.30})
    )
    complaint_resolved_prob: float = 0.5

    # --- return (probit) ------------------------------------------------------------------
    return_intercept: float = -1.0049  # calibrated: no-offer return rate = baseline_return_rate
    return_referrals: float = 0.20
    return_complaints: float = -0.15
    return_complaints_resolved: float = 0.20
    return_reason: dict = field(
        default_factory=lambda: _frozen({"price": 0.0, "service": -0.30, "both": -0.70, "other": -0.15})
    )
    return_offer: dict = field(  # calibrated: arm response rates 45/41/47/45 %
        default_factory=lambda: _frozen({"none": 0.0, "discount": 0.9076, "upgrade": 0.8076, "bundled": 0.9846})
    )
    return_offer_matches_reason: float = 0.0675  # calibrated with return_offer
    return_first_tenure: float = 0.008  # per month
    return_first_margin: float = 0.002  # per USD of monthly margin
    return_months_since_defection: float = -0.04  # per month
    loyalty_return: float = 0.5  # rho: correlation of the return error with loyalty
    #: Distribution of the latent loyalty trait: "normal" (standard normal, the default)
    #: or "skewed" (a standardised log-normal, mean 0, variance 1, skewness about 1.75;
    #: the same random draws, transformed), which no normal-factor model assumes.
    loyalty_distribution: str = "normal"

    # --- second lifetime (Weibull AFT on log months) --------------------------------------
    second_intercept: float = 3.40
    second_reason: dict = field(
        default_factory=lambda: _frozen({"price": 0.0, "service": -0.25, "both": -0.40, "other": -0.20})
    )
    second_offer: dict = field(  # calibrated: discount and upgrade ROIs; bundled 0.14 below discount
        default_factory=lambda: _frozen({"none": 0.0, "discount": 0.1999, "upgrade": 0.2789, "bundled": 0.0599})
    )
    second_offer_matches_reason: float = -0.15  # offer addressed the stated reason
    second_referrals: float = 0.05
    second_complaints: float = -0.05
    second_first_tenure: float = 0.004  # per month
    loyalty_second_tenure: float = 0.35  # tau: loyalty's effect on log second tenure
    second_tenure_sigma: float = 0.6  # Weibull shape = 1 / sigma

    # --- second-lifetime monthly margin (log-linear) ---------------------------------------
    second_margin_intercept: float = -0.1657  # calibrated: mean SLV of the reacquired = $1,410
    second_margin_elasticity: float = 1.0
    second_margin_reason: dict = field(
        default_factory=lambda: _frozen({"price": 0.0, "service": 0.08, "both": 0.03, "other": 0.0})
    )
    second_margin_offer: dict = field(
        default_factory=lambda: _frozen({"none": 0.0, "discount": 0.0, "upgrade": -0.02, "bundled": -0.03})
    )
    loyalty_second_margin: float = 0.05
    second_margin_sigma: float = 0.15

    def with_(self, **changes: Any) -> StudyParams:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (mappings as dicts, tuples as lists): JSON-ready."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudyParams:
        """Rebuild from :meth:`to_dict` output (e.g. read back from a Parquet file)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataError(f"unknown StudyParams field(s): {', '.join(unknown)}")
        d = dict(d)
        if "plan_shares" in d:
            d["plan_shares"] = {k: tuple(v) for k, v in d["plan_shares"].items()}
        return cls(**d)


def study_params(data: pd.DataFrame | Mapping[str, Any] | StudyParams | None = None) -> StudyParams:
    """The true simulator parameters behind a simulated frame.

    Parameters
    ----------
    data : DataFrame, mapping or StudyParams, optional
        A frame from :func:`simulate_study` (also after a Parquet round trip, which keeps
        them in the file's metadata), a :meth:`StudyParams.to_dict` mapping, or
        ``None`` for the calibrated defaults.

    Returns
    -------
    StudyParams
    """
    if data is None:
        return StudyParams()
    if isinstance(data, StudyParams):
        return data
    if isinstance(data, pd.DataFrame):
        raw = data.attrs.get("params")
        if raw is None:
            raise DataError(
                "this frame carries no simulator parameters (df.attrs['params']): it was "
                "not made by simulate_study, or it went through CSV, which drops them"
            )
        if isinstance(raw, StudyParams):
            return raw
        return StudyParams.from_dict(json.loads(raw) if isinstance(raw, str) else raw)
    return StudyParams.from_dict(data)


def true_return_coefficients(
    params: StudyParams | pd.DataFrame | Mapping[str, Any] | None = None,
    design: StudyDesign = KUMAR_2015,
) -> pd.Series:
    """The true probit coefficients of the return equation, by covariate.

    Names follow the simulated columns: ``Intercept``, ``referrals``, ``complaints``,
    ``complaints_resolved``, ``defection_reason[service]`` ..., ``offer_received[discount]``
    ..., ``offer_matches_reason``, ``first_tenure_months``, ``first_monthly_margin``,
    ``months_since_defection``.
    """
    p = study_params(params)
    coefs: dict[str, float] = {
        "Intercept": p.return_intercept,
        "referrals": p.return_referrals,
        "complaints": p.return_complaints,
        "complaints_resolved": p.return_complaints_resolved,
    }
    coefs.update({f"defection_reason[{r}]": p.return_reason[r] for r in design.reasons[1:]})
    coefs.update({f"offer_received[{o}]": p.return_offer[o] for o in design.targetable_offers})
    coefs.update(
        {
            "offer_matches_reason": p.return_offer_matches_reason,
            "first_tenure_months": p.return_first_tenure,
            "first_monthly_margin": p.return_first_margin,
            "months_since_defection": p.return_months_since_defection,
        }
    )
    return pd.Series(coefs, name="true_coefficient")


def _lookup(codes: np.ndarray, levels: tuple[str, ...], mapping: Any) -> np.ndarray:
    """Vectorised level -> value lookup for integer-coded categories."""
    table = np.array([mapping.get(level, 0.0) for level in levels], dtype=float)
    return table[codes]


def _linear(intercept: float, *terms: tuple[float | None, np.ndarray]) -> np.ndarray:
    """``intercept + c1 * x1 + c2 * x2 + ...`` summed left to right in one buffer.

    Bitwise the same as writing the expression out, with two arrays allocated instead of
    one per operation (``coef=None`` adds ``x`` as it is).
    """
    n = len(terms[0][1])
    out = np.full(n, intercept, dtype=float)
    tmp = np.empty(n, dtype=float)
    for coef, x in terms:
        if coef is None:
            out += x
        else:
            np.multiply(x, coef, out=tmp)
            out += tmp
    return out


def _check_params_cover(p: StudyParams, design: StudyDesign) -> None:
    """Every offer and reason of the design needs its effects in the parameters."""
    if not design.reasons:
        raise DesignError("the simulator draws defection reasons: the design needs reasons=(...)")
    if set(p.reason_shares) != set(design.reasons):
        raise DesignError(
            f"params.reason_shares has reasons {sorted(p.reason_shares)} but the design "
            f"{sorted(design.reasons)}; give both the same reasons")
    for name in ("plan_shares", "first_tenure_reason", "complaint_rate_per_year",
                 "return_reason", "second_reason", "second_margin_reason"):
        missing = sorted(set(design.reasons) - set(getattr(p, name)))
        if missing:
            raise DesignError(f"params.{name} has no effect for reason(s) {missing}")
    for name in ("return_offer", "second_offer", "second_margin_offer"):
        missing = sorted(set(design.received_offers) - set(getattr(p, name)))
        if missing:
            raise DesignError(
                f"params.{name} has no effect for offer(s) {missing} of the design; "
                f"pass params=StudyParams().with_({name}={{...}})")


#: Log-scale standard deviation of the ``"skewed"`` loyalty trait (skewness about 1.75).
SKEWED_LOYALTY_SIGMA: float = 0.5


def _loyalty(z: np.ndarray, distribution: str) -> np.ndarray:
    """The loyalty trait from standard-normal draws ``z``: ``z`` itself for ``"normal"``; for
    ``"skewed"`` the standardised log-normal ``(exp(d z) - exp(d^2 / 2)) / sqrt(exp(2 d^2) -
    exp(d^2))`` with ``d = SKEWED_LOYALTY_SIGMA`` (mean 0, variance 1, right-skewed)."""
    if distribution == "normal":
        return z
    if distribution == "skewed":
        d = SKEWED_LOYALTY_SIGMA
        out = np.exp(d * z)
        out -= np.exp(d * d / 2)
        out /= np.sqrt(np.exp(2 * d * d) - np.exp(d * d))
        return out
    raise DataError(f'loyalty_distribution must be "normal" or "skewed", got {distribution!r}')


def _params_json(p: StudyParams) -> str:
    """``df.attrs["params"]``: the parameters as JSON text. A normal loyalty trait (the
    default) is left out, so frames simulated before the option existed keep their text."""
    d = asdict(p)
    if d["loyalty_distribution"] == "normal":
        del d["loyalty_distribution"]
    return json.dumps(d, sort_keys=True)


def _categorical(codes: np.ndarray, levels: tuple[str, ...]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(levels))


def simulate_study(
    n_customers: int = 53_000,
    seed: int | None = 20150701,
    params: StudyParams | None = None,
    n_per_arm: int | None = None,
    include_latent: bool = False,
    *,
    design: StudyDesign = KUMAR_2015,
) -> pd.DataFrame:
    """Simulate the lapsed-customer population of the win-back study.

    Parameters
    ----------
    n_customers : int
        Number of lapsed customers (the study had 53,000+).
    seed : int
        Seed of the ``numpy.random.Generator``; the same seed gives the same frame,
        byte for byte.
    params : StudyParams, optional
        True parameters of the DGP; defaults to the calibrated ones.
    n_per_arm : int, optional
        Customers randomised to each treatment arm of the design. Default: the study's
        ratio, 10,000 per arm for 53,000 customers. The rest get the control arm.
    include_latent : bool
        Add the unobserved ``latent_loyalty`` and the complete (uncensored)
        ``latent_second_tenure_months``; never available in real data.
    design : StudyDesign
        Arms, costs, reasons and the tailoring rule (default :data:`KUMAR_2015`). The
        effects in ``params`` are keyed by the design's offers and reasons, so a design
        with other names needs ``params`` with effects for each of them.

    Returns
    -------
    pandas.DataFrame
        One row per lapsed customer; columns are documented in ``data/README.md``.
        The true parameters travel with it as JSON text in ``df.attrs["params"]`` (kept
        by ``to_parquet``); :func:`study_params` turns them back into a
        :class:`StudyParams`.
    """
    p = params or StudyParams()
    n = int(n_customers)
    if n < 1:
        raise DataError(f"n_customers must be at least 1, got {n_customers}")
    _check_params_cover(p, design)
    _loyalty(np.zeros(1), p.loyalty_distribution)  # an unknown distribution fails first
    REASONS, OFFERS, OFFERS_RECEIVED = design.reasons, design.arms, design.received_offers
    k_arms = len(design.treatment_arms)
    if n_per_arm is None:
        n_per_arm = int(round(n * p.n_per_arm_share))
    if not 0 <= k_arms * n_per_arm <= n:
        raise DataError(
            f"n_per_arm={n_per_arm} needs {k_arms * n_per_arm} customers in the experiment, "
            f"more than n_customers={n}"
        )
    rng = np.random.default_rng(seed)

    # 1. reason and plan -------------------------------------------------------------------
    reason_cdf = np.cumsum([p.reason_shares[r] for r in REASONS])
    draw = rng.random(n) * reason_cdf[-1]
    reason = (draw >= reason_cdf[0]).astype(np.int8)
    for edge in reason_cdf[1:-1]:
        reason += draw >= edge
    plan_cdf = np.cumsum(np.array([p.plan_shares[r] for r in REASONS]), axis=1)
    draw = rng.random(n)
    plan = (draw > plan_cdf[reason, 0]).astype(np.int8)
    plan += draw > plan_cdf[reason, 1]
    del draw

    # 2. first lifetime ---------------------------------------------------------------------
    # (in-place steps: bitwise the same as the written-out expressions, fewer 8n-byte arrays)
    m1 = _lookup(plan, PLANS, p.plan_margin)
    m1 *= p.first_margin_scale
    z = rng.standard_normal(n)
    z *= p.first_margin_sigma
    z -= 0.5 * p.first_margin_sigma**2
    m1 *= np.exp(z, out=z)
    np.round(m1, 2, out=m1)
    del z
    log_t1 = np.log(_lookup(plan, PLANS, p.first_tenure_scale))
    log_t1 += _lookup(reason, REASONS, p.first_tenure_reason)
    e = rng.standard_exponential(n)
    np.log(e, out=e)
    e /= p.first_tenure_shape
    log_t1 += e
    del e
    t1 = np.exp(log_t1, out=log_t1)
    np.ceil(t1, out=t1)
    np.maximum(t1, 1.0, out=t1)
    years1 = t1 / 12.0
    referrals = rng.poisson(p.referral_rate_per_year * years1)
    complaints = rng.poisson(_lookup(reason, REASONS, p.complaint_rate_per_year) * years1)
    resolved = rng.binomial(complaints, p.complaint_resolved_prob)

    # 3-4. defection and win-back contact ---------------------------------------------------
    defection_month = rng.integers(1, p.defection_month_max + 1, size=n)
    gap = rng.integers(1, p.contact_gap_max + 1, size=n)
    arm = np.zeros(n, dtype=np.int8)  # 0 = the control arm
    order = rng.permutation(n)[: k_arms * n_per_arm]
    arm[order] = np.repeat(np.arange(1, k_arms + 1, dtype=np.int8), n_per_arm)
    # offer received: an offer arm gives itself (same code); a rule arm, by reason
    received = arm.copy()
    for name, rule in design.rules.items():
        codes = np.array([OFFERS_RECEIVED.index(rule[r]) for r in REASONS], dtype=np.int8)
        is_rule = arm == OFFERS.index(name)
        received[is_rule] = codes[reason[is_rule]]
    matching_codes = np.array(
        [OFFERS_RECEIVED.index(design.matching[r]) if r in design.matching else -1
         for r in REASONS]
    )
    matched = (received == matching_codes[reason]).astype(np.int8)
    cost = _lookup(received, OFFERS_RECEIVED, design.offers)

    # 5. return ------------------------------------------------------------------------------
    loyalty = _loyalty(rng.standard_normal(n), p.loyalty_distribution)
    rho = p.loyalty_return
    u = rho * loyalty + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    index = _linear(
        p.return_intercept,
        (p.return_referrals, referrals),
        (p.return_complaints, complaints),
        (p.return_complaints_resolved, resolved),
        (None, _lookup(reason, REASONS, p.return_reason)),
        (None, _lookup(received, OFFERS_RECEIVED, p.return_offer)),
        (p.return_offer_matches_reason, matched),
        (p.return_first_tenure, t1),
        (p.return_first_margin, m1),
        (p.return_months_since_defection, gap),
    )
    index += u
    back = index > 0
    del index, u

    # 6. second lifetime (drawn for everyone, kept for the reacquired) ---------------------
    log_t2 = _linear(
        p.second_intercept,
        (None, _lookup(reason, REASONS, p.second_reason)),
        (None, _lookup(received, OFFERS_RECEIVED, p.second_offer)),
        (p.second_offer_matches_reason, matched),
        (p.second_referrals, referrals),
        (p.second_complaints, complaints),
        (p.second_first_tenure, t1),
        (p.loyalty_second_tenure, loyalty),
    )
    e = rng.standard_exponential(n)
    np.log(e, out=e)
    e *= p.second_tenure_sigma
    log_t2 += e
    del e
    t2_full = np.exp(log_t2, out=log_t2)
    np.ceil(t2_full, out=t2_full)
    np.maximum(t2_full, 1.0, out=t2_full)
    second_start = defection_month + gap
    room = p.window_months - second_start
    t2_obs = np.minimum(t2_full, room)
    churned2 = (t2_full <= room).astype(float)

    # 7. second-lifetime margin --------------------------------------------------------------
    s2 = p.second_margin_sigma
    m2 = _linear(
        p.second_margin_intercept,
        (p.second_margin_elasticity, np.log(m1)),
        (None, _lookup(reason, REASONS, p.second_margin_reason)),
        (None, _lookup(received, OFFERS_RECEIVED, p.second_margin_offer)),
        (p.loyalty_second_margin, loyalty),
        (s2, rng.standard_normal(n)),
    )
    m2 -= 0.5 * s2**2
    np.round(np.exp(m2, out=m2), 2, out=m2)

    # 8. values -------------------------------------------------------------------------------
    rate = p.annual_discount_rate
    clv_first = lifetime_value(m1, t1, rate)
    slv = lifetime_value(m2, t2_full, rate)
    slv_obs = lifetime_value(m2, t2_obs, rate)

    # second-lifetime columns are NaN for those not reacquired (in place: no new arrays)
    gone = ~back
    second_start = second_start.astype(float)
    for arr in (second_start, t2_obs, churned2, m2, slv, slv_obs):
        arr[gone] = np.nan
    np.round(slv, 2, out=slv)
    np.round(slv_obs, 2, out=slv_obs)
    np.round(clv_first, 2, out=clv_first)

    df = pd.DataFrame(  # copy=False: no block consolidation copy (half the peak memory)
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "plan": _categorical(plan, PLANS),
            "first_start_month": (defection_month - t1).astype(np.int32),
            "first_tenure_months": t1.astype(np.int32),
            "first_monthly_margin": m1,
            "referrals": referrals.astype(np.int32),
            "complaints": complaints.astype(np.int32),
            "complaints_resolved": resolved.astype(np.int32),
            "defection_month": defection_month.astype(np.int32),
            "defection_reason": _categorical(reason, REASONS),
            "months_since_defection": gap.astype(np.int32),
            "offer": _categorical(arm, OFFERS),
            "offer_received": _categorical(received, OFFERS_RECEIVED),
            "offer_matches_reason": matched,
            "offer_cost": cost,
            "reacquired": back.astype(np.int8),
            "second_start_month": second_start,
            "second_tenure_months": t2_obs,
            "second_churned": churned2,
            "second_monthly_margin": m2,
            "clv_first": clv_first,
            "slv": slv,
            "slv_observed": slv_obs,
        },
        copy=False,
    )
    if include_latent:
        df["latent_loyalty"] = loyalty
        df["latent_second_tenure_months"] = np.where(back, t2_full, np.nan)
    # as JSON text: pandas deep-copies attrs on every operation, and copying a nested dict
    # made slicing and selecting columns of a simulated frame 3.5x slower
    df.attrs["params"] = _params_json(p)
    df.attrs["seed"] = seed
    df.attrs["design"] = design.to_json()
    return df
