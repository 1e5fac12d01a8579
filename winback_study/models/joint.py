"""The joint model: return, second lifetime and second-lifetime margin by full-information ML.

The two-step correction (:mod:`winback_study.models.selection`) plugs the return probit's
inverse Mills ratio into each outcome equation. For the linear margin equation that is
consistent; for the duration model it is an approximation, and the part of loyalty the
ratio does not capture stays in the error (about 40% of the naive bias in the offer
effects remains on the simulated study). :func:`fit_joint_model` estimates the three
equations together, by maximum likelihood, with one shared latent trait.

The model
---------
Every lapsed customer ``i`` has an unobserved standard-normal factor ``f_i`` (loyalty).
Conditional on it the three equations are independent:

* **return** (every customer), a probit normalised so that its coefficients are the
  marginal probit's (the same scale as :func:`~winback_study.models.selection.fit_selection`)::

      reacquired = 1[x'beta + rho * f + sqrt(1 - rho^2) * e > 0],   e ~ N(0, 1)
      P(return | f) = Phi((x'beta + rho * f) / sqrt(1 - rho^2))

  estimated as ``rho = tanh(a)``, so that the index is ``cosh(a) x'beta + sinh(a) f``;
* **second lifetime** (returners), an accelerated failure time model in months::

      log T = z'alpha + tau * f + sigma * W

  with ``W`` standard minimum-extreme-value (``lifetime_model="weibull"``: ``T`` is
  Weibull with shape ``1 / sigma``) or standard normal (``"lognormal"``);
* **log second-lifetime monthly margin** (returners)::

      log m2 = w'gamma + kappa * f + s * e2,   e2 ~ N(0, 1).

The likelihood of what the data record
--------------------------------------
The simulator (:func:`~winback_study.data.simulate.simulate_study`) and the study table
count whole months: a second lifetime ``T`` is recorded as ``k = max(ceil(T), 1)``
months, a month begun being a month counted. It is then cut at the end of the window:
with ``room = window_months - second_start_month`` months left, ``second_tenure_months =
min(k, room)`` and ``second_churned = 1[k <= room]``. So

* a churned spell recorded as ``k`` months ended in ``(k - 1, k]``:
  ``P = S(k - 1 | f) - S(k | f)`` (``S(0) = 1``), interval-censored;
* a censored spell recorded as ``k`` months (``k = room``, the churn came after ``room``)
  lasted more than ``k``: ``P = S(k | f)``.

No continuous density is evaluated at rounded months (that is the misspecification the
package's lifelines AFT fits make, with the spell taken as lasting exactly ``k``). The
margin is recorded to the cent; rounding ``m2`` of 30-65 USD to 0.01 moves ``log m2`` by at
most 2e-4, against ``s = 0.15``, so the normal density of ``log m2`` is exact to about
1e-7 relative and is used as it is. A customer's likelihood is

    L_i = Phi(-x_i'beta)                                          (did not return)
    L_i = int Phi(c_i(f)) P_i(T | f) phi_s(log m2_i - w_i'gamma - kappa f) phi(f) df

(the non-returners' integral is closed form, because the normalisation makes the return
error standard normal marginally). The returners' integral is Gauss-Hermite quadrature
(:func:`numpy.polynomial.hermite.hermgauss`, ``n_nodes`` nodes ``x_q``, ``f_q = sqrt(2)
x_q``, weights ``pi_q = w_q / sqrt(pi)``), written as the exact ``Phi(x_i'beta)`` times the
quadrature's average of the outcome densities over the factor *given return*::

    L_i = Phi(x_i'beta) * sum_q pi_q Phi(c_iq) g_iq / sum_q pi_q Phi(c_iq)

(``g_iq`` the duration and margin likelihoods at node ``q``). Exact integration gives the
same value; the normalisation keeps the two kinds of customer consistent when the
quadrature is coarse, where plain quadrature of the returners next to the closed form of
the non-returners rewarded ``rho`` running to +-1 on small samples (a spurious maximum).
The gradient is analytic and vectorised (a loop over the nodes only): at each node the
derivatives of the three log densities with respect to their linear indices, weighted by
the node's posterior weight, give every customer's score. The optimiser
(:func:`scipy.optimize.minimize`, L-BFGS-B with ``jac=True``) starts from the two-step
estimates (:func:`~winback_study.models.selection.fit_selection`, then
:func:`~winback_study.models.second_lifetime.fit_second_lifetime` with ``model="weibull"``
and :func:`~winback_study.models.second_profit.fit_second_profit` with its control
function: their coefficients, and the loadings ``tau = c_T / rho``, ``kappa = c_m / rho``
from the control coefficients at the best ``rho`` of a short grid) and works in
coordinates whitened by the outer product of the scores, where the Hessian is close to the
identity; if it stops short, it restarts whitened by the Hessian. Convergence is a Newton
decrement below 0.01 standard errors. The Hessian is numerical differences of the analytic
derivatives: each customer's likelihood depends on the parameters through eight
quantities (three indices, five scalars), so 16 evaluations give every customer's 8 x 8
Hessian and the full one is assembled from the covariates. Standard errors are the
inverse Hessian's; ``robust=True`` gives the sandwich ``H^-1 (sum_i s_i s_i') H^-1``.

Parametrisation of the result (the ``latent`` equation of the summary)
----------------------------------------------------------------------
``loading_return`` is ``rho`` (the correlation of the return error with loyalty; its sign
is normalised to be non-negative, as the likelihood is unchanged when every loading changes
sign), ``loading_second_lifetime`` is ``tau`` (log months per unit of loyalty),
``loading_second_profit`` is ``kappa``; ``sigma_second_lifetime`` is ``sigma`` (the AFT
scale of ``log T``; the Weibull shape is ``1 / sigma``) and ``sigma_second_profit`` is
``s``. Their intervals are computed on the log scale. Against the simulator
(:func:`true_joint_effects`) these are ``loyalty_return``, ``loyalty_second_tenure``,
``second_tenure_sigma``, ``loyalty_second_margin`` and ``second_margin_sigma``; the outcome
coefficients are the simulator's ``second_*`` and ``second_margin_*`` (the margin intercept
less ``s^2 / 2``) and the return coefficients its ``return_*``.

Identification
--------------
Three sources pin down the loadings. (1) Exclusion restrictions: variables that move the
return probability but not the outcomes. In the study's equations ``months_since_defection``
(the contact gap, 1-12 months at random) and ``complaints_resolved`` enter the return
equation only, and ``first_monthly_margin`` (in dollars) the return equation but neither
the duration nor (in dollars) the margin equation. They change *who* returns without changing
what a returner does, so the way returners' outcomes vary with them identifies ``rho * tau``
and ``rho * kappa``. The randomised offer arm moves return strongly (0.8-1.0 probit units)
and is independent of loyalty by design, so its effect on return is identified without any
distributional assumption; but because the offer also enters both outcome equations, it
cannot by itself separate a direct effect on the outcome from the loyalty of the customers
it brings back. (2) The covariance of the two outcomes among returners identifies
``tau * kappa``. (3) The normal factor and the probit's non-linearity. Without an
exclusion restriction only (2) and (3) remain: the selection terms are then identified by
functional form alone, nearly collinear with the offer effects, imprecise, and biased as
soon as the factor is not normal (``StudyParams(loyalty_distribution="skewed")`` simulates
that case).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from numpy.polynomial.hermite import hermgauss
from scipy import linalg, optimize, special

from winback_study.core.checks import binary_outcome, require_columns
from winback_study.core.formula import required_columns, split_formula
from winback_study.core.results import check_alpha, coefficient_table
from winback_study.data.describe import DURATION_COL, EVENT_COL
from winback_study.data.simulate import StudyParams, study_params, true_return_coefficients
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import (
    ConvergenceError,
    DataError,
    ModelError,
    SecondLifetimeError,
    SecondProfitError,
)
from winback_study.models.base import RegressionResult
from winback_study.models.return_checks import drop_unused_categories, order_factors
from winback_study.models.return_probability import (
    CONTROL_COLUMN,
    DEFAULT_RETURN_FORMULA,
    RETURN_OUTCOME,
    model_design,
)
from winback_study.models.second_lifetime import (
    DEFAULT_DURATION_FORMULA,
    _checked_spells,
    clean_term,
    design_references,
    fit_second_lifetime,
    true_second_lifetime_effects,
)
from winback_study.models.second_profit import (
    DEFAULT_PROFIT_FORMULA,
    MARGIN_COL,
    _checked_margins,
    fit_second_profit,
    true_second_profit_effects,
)
from winback_study.models.selection import fit_selection

__all__ = [
    "LIFETIME_MODELS",
    "DEFAULT_NODES",
    "EQUATIONS",
    "JointModelResult",
    "fit_joint_model",
    "true_joint_effects",
]

#: Distributions of the second lifetime's AFT error ``W``.
LIFETIME_MODELS: tuple[str, ...] = ("weibull", "lognormal")
#: Gauss-Hermite nodes by default (on the study-sized simulated sample the log-likelihood
#: at the estimate is within 1e-5 of 60 nodes, and 12 nodes move no estimate by 1e-4 SE).
DEFAULT_NODES: int = 16
#: Equations of the summary's first index level, in order.
EQUATIONS: tuple[str, ...] = ("return", "second_lifetime", "second_profit", "latent")
#: Terms of the ``latent`` equation, in order.
LATENT_TERMS: tuple[str, ...] = (
    "loading_return", "loading_second_lifetime", "loading_second_profit",
    "sigma_second_lifetime", "sigma_second_profit",
)
#: Log of "month 0", the start of a spell that churned in its first month: ``S = 1`` there
#: to machine precision for any sensible scale (an exact zero would give ``0 * inf``).
_LOG_MONTH_0 = -1_000.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_EULER = 0.5772156649015329


# ----------------------------------------------------------------------------- the problem
@dataclass
class _Problem:
    """Design matrices and outcomes, ready for the likelihood.

    The returners are stored churned spells first (``n_events`` of them), so that the two
    kinds of spell are slices, not masks, in the inner loop.
    """

    Xr: np.ndarray          # (n, pr) return covariates, every customer
    rows: np.ndarray        # (nb,) positions of the returners in Xr, churned first
    out_rows: np.ndarray    # positions of the customers who did not return
    Xt: np.ndarray          # (nb, pt) duration covariates, returners
    log_hi: np.ndarray      # (nb,) log of the recorded months k
    log_lo: np.ndarray      # (n_events,) log(k - 1) of the churned (log 0 = _LOG_MONTH_0)
    n_events: int
    Xm: np.ndarray          # (nb, pm) margin covariates, returners
    ym: np.ndarray          # (nb,) log margin
    lifetime_model: str
    nodes: np.ndarray       # factor values sqrt(2) x_q
    log_w: np.ndarray       # log(w_q / sqrt(pi))

    @cached_property
    def Xr_back(self) -> np.ndarray:
        return self.Xr[self.rows]

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.Xr.shape[1], self.Xt.shape[1], self.Xm.shape[1]

    @property
    def n_params(self) -> int:
        pr, pt, pm = self.sizes
        return pr + pt + pm + 5

    def unpack(self, theta: np.ndarray) -> tuple:
        pr, pt, pm = self.sizes
        br = theta[:pr]
        a = theta[pr]
        bt = theta[pr + 1:pr + 1 + pt]
        tau, lsig = theta[pr + 1 + pt], theta[pr + 2 + pt]
        bm = theta[pr + 3 + pt:pr + 3 + pt + pm]
        kap, ls = theta[pr + 3 + pt + pm], theta[pr + 4 + pt + pm]
        return br, a, bt, tau, lsig, bm, kap, ls

    def blocks(self) -> list[np.ndarray | None]:
        """Covariates of the eight per-returner quantities the likelihood depends on
        (``eta, a, mu, tau, log sigma, eta_m, kappa, log s``); None for a scalar."""
        return [self.Xr_back, None, self.Xt, None, None, self.Xm, None, None]


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _interval_weibull(za: np.ndarray, zb: np.ndarray) -> tuple[np.ndarray, ...]:
    """``log(S(za) - S(zb))`` and ``g(za) / P``, ``g(zb) / P`` for ``S(z) = exp(-e^z)``."""
    ha, hb = np.exp(za), np.exp(zb)
    d = hb - ha
    den = np.maximum(-np.expm1(-d), 1e-300)
    logp = np.log(den) - ha
    ra = ha / den
    rb = hb * np.exp(-d) / den
    return logp, ra, rb


def _interval_lognormal(za: np.ndarray, zb: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same for ``S(z) = Phi(-z)``, from the tail where it is accurate."""
    upper = za > 0
    sa, sb = special.log_ndtr(-za), special.log_ndtr(-zb)
    fa, fb = special.log_ndtr(za), special.log_ndtr(zb)
    logp = np.where(upper, sa + _log1mexp(np.minimum(sb - sa, -1e-300)),
                    fb + _log1mexp(np.minimum(fa - fb, -1e-300)))
    ra = np.exp(-0.5 * za * za - _HALF_LOG_2PI - logp)
    rb = np.exp(-0.5 * zb * zb - _HALF_LOG_2PI - logp)
    return logp, ra, rb


def _survival(z: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """``log S(z)`` and ``g(z) / S(z)`` (``g = -dS/dz``)."""
    if model == "weibull":
        h = np.exp(z)
        return -h, h
    logs = special.log_ndtr(-z)
    return logs, np.exp(-0.5 * z * z - _HALF_LOG_2PI - logs)


def _returners(P: _Problem, eta1: np.ndarray, a: float, mu: np.ndarray, tau: float,
               lsig: float, em0: np.ndarray, kap: float, ls: float
               ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The returners' log-likelihoods and their derivatives with respect to the eight
    quantities ``eta, a, mu, tau, log sigma, eta_m, kappa, log s`` (``em0 = log m2 - eta_m``).

    Vectorised over customers; the only loop is over the quadrature nodes. At each node the
    three log densities and their derivatives by their indices; the node's posterior weight
    ``pi_q L_iq / L_i`` averages them into the derivative of ``log L_i``.
    """
    ch, sh = math.cosh(a), math.sinh(a)
    sig, s = math.exp(lsig), math.exp(ls)
    ne = P.n_events
    base_c = ch * eta1
    zb0 = (P.log_hi - mu) / sig
    za0 = (P.log_lo - mu[:ne]) / sig
    Q, nb = len(P.nodes), len(eta1)
    LL = np.empty((Q, nb))
    LR = np.empty((Q, nb))
    Dc = np.empty((Q, nb))
    Dmu = np.empty((Q, nb))
    Dls = np.empty((Q, nb))
    shift = tau / sig
    const_m = -_HALF_LOG_2PI - ls
    interval = _interval_weibull if P.lifetime_model == "weibull" else _interval_lognormal
    with np.errstate(all="ignore"):
        for q, f in enumerate(P.nodes):
            c = base_c + sh * f
            lr = special.log_ndtr(c)
            Dc[q] = np.exp(-0.5 * c * c - _HALF_LOG_2PI - lr)
            zb = zb0 - shift * f
            za = za0 - shift * f
            row = LL[q]
            # churned: interval (k - 1, k]
            lp, ra, rb = interval(za, zb[:ne])
            row[:ne] = lp
            Dmu[q, :ne] = (ra - rb) / sig
            Dls[q, :ne] = ra * za - rb * zb[:ne]
            # censored: beyond k
            logs, r = _survival(zb[ne:], P.lifetime_model)
            row[ne:] = logs
            Dmu[q, ne:] = r / sig
            Dls[q, ne:] = r * zb[ne:]
            e = em0 - kap * f
            e /= s
            e *= e
            lr += P.log_w[q]
            LR[q] = lr
            row += lr
            row += const_m - 0.5 * e
        ll1 = _normalise(LL) - _normalise(LR) + special.log_ndtr(eta1)
        W, V = LL, LR
    nodes = P.nodes
    V -= W
    V *= Dc  # (v_q - w_q) * lambda(c_q)
    Gc = -V.sum(axis=0)
    Gcf = -(nodes @ V)
    del V
    Dmu *= W
    Gmu = Dmu.sum(axis=0)
    Gmuf = nodes @ Dmu
    Gls = np.einsum("qi,qi->i", W, Dls)
    fbar = nodes @ W
    f2bar = (nodes ** 2) @ W
    s2 = s * s
    Ge = (em0 - kap * fbar) / s2
    Gef = (em0 * fbar - kap * f2bar) / s2
    Ge2 = (em0 * em0 - 2 * kap * em0 * fbar + kap * kap * f2bar) / s2 - 1.0
    with np.errstate(all="ignore"):
        lam1 = np.exp(-0.5 * eta1 * eta1 - _HALF_LOG_2PI - special.log_ndtr(eta1))
    d_eta = lam1 + ch * Gc
    d_a = sh * eta1 * Gc + ch * Gcf
    return ll1, [d_eta, d_a, Gmu, Gmuf, Gls, Ge, Gef, Ge2]


def _normalise(L: np.ndarray) -> np.ndarray:
    """``log sum_q exp(L_q)`` by column; ``L`` becomes the weights ``exp(L_q) / sum``."""
    top = L.max(axis=0)
    L -= top
    np.exp(L, out=L)
    tot = L.sum(axis=0)
    L /= tot
    return top + np.log(tot)


def _stayed_away(eta0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-returners: ``log Phi(-eta)`` (closed form: the return error is standard normal
    marginally), its first and second derivative in ``eta``."""
    ll0 = special.log_ndtr(-eta0)
    lam = np.exp(-0.5 * eta0 * eta0 - _HALF_LOG_2PI - ll0)  # phi(eta) / Phi(-eta)
    return ll0, -lam, -lam * (lam - eta0)


def _quantities(theta: np.ndarray, P: _Problem) -> tuple:
    br, a, bt, tau, lsig, bm, kap, ls = P.unpack(theta)
    eta = P.Xr @ br
    return (eta[P.out_rows], eta[P.rows], float(a), P.Xt @ bt, float(tau), float(lsig),
            P.ym - P.Xm @ bm, float(kap), float(ls))


def _evaluate(theta: np.ndarray, P: _Problem, scores: bool = False
              ) -> tuple[float, np.ndarray]:
    """Log-likelihood and its gradient (or, with ``scores``, the (n, k) per-customer scores)."""
    eta0, *q = _quantities(theta, P)
    ll0, d0, _ = _stayed_away(eta0)
    ll1, d = _returners(P, *q)
    ll = float(ll0.sum() + ll1.sum())
    if not scores:
        g_eta = np.empty(P.Xr.shape[0])
        g_eta[P.out_rows] = d0
        g_eta[P.rows] = d[0]
        grad = np.concatenate([
            P.Xr.T @ g_eta, [d[1].sum()],
            P.Xt.T @ d[2], [d[3].sum(), d[4].sum()],
            P.Xm.T @ d[5], [d[6].sum(), d[7].sum()],
        ])
        return ll, grad
    S = np.zeros((P.Xr.shape[0], P.n_params))
    pr = P.sizes[0]
    S[P.out_rows, :pr] = d0[:, None] * P.Xr[P.out_rows]
    j = 0
    for block, di in zip(P.blocks(), d, strict=True):
        width = 1 if block is None else block.shape[1]
        S[P.rows, j:j + width] = di[:, None] if block is None else di[:, None] * block
        j += width
    return ll, S


def _loglik(theta: np.ndarray, P: _Problem) -> float:
    return _evaluate(theta, P)[0]


#: Step of the central differences of the per-customer derivatives in each of the eight
#: quantities (indices and scalars of order one).
_INDEX_STEP = 1e-4


def _hessian(theta: np.ndarray, P: _Problem) -> np.ndarray:
    """Hessian of ``-log L`` in ``theta``.

    Each customer's likelihood depends on ``theta`` only through eight quantities (her
    return, duration and margin indices and five scalars), so central differences of the
    analytic derivatives in those eight, shifted for every customer at once (16 evaluations
    whatever the number of covariates), give each customer's 8 x 8 Hessian ``M_i``; the
    Hessian is ``sum_i A_i' M_i A_i`` with ``A_i`` her covariates.
    """
    eta0, *q = _quantities(theta, P)
    _, _, h0 = _stayed_away(eta0)
    signs = [1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0]  # em0 = log m2 - eta_m
    k = 8
    M = np.empty((k, k, len(q[0])))
    for j in range(k):
        shifted = []
        for sgn in (1.0, -1.0):
            qq = list(q)
            qq[j] = qq[j] + sgn * signs[j] * _INDEX_STEP
            shifted.append(_returners(P, *qq)[1])
        for i in range(k):
            M[i, j] = (shifted[0][i] - shifted[1][i]) / (2 * _INDEX_STEP)
    blocks = P.blocks()
    widths = [1 if b is None else b.shape[1] for b in blocks]
    starts = np.concatenate([[0], np.cumsum(widths)])
    H = np.zeros((P.n_params, P.n_params))
    for i in range(k):
        for j in range(i, k):
            w = 0.5 * (M[i, j] + M[j, i])
            left = blocks[i] if blocks[i] is not None else np.ones((len(w), 1))
            right = blocks[j] if blocks[j] is not None else np.ones((len(w), 1))
            block = left.T @ (w[:, None] * right)
            H[starts[i]:starts[i + 1], starts[j]:starts[j + 1]] = block
            H[starts[j]:starts[j + 1], starts[i]:starts[i + 1]] = block.T
    pr = P.sizes[0]
    X0 = P.Xr[P.out_rows]
    H[:pr, :pr] += X0.T @ (h0[:, None] * X0)
    return -H


# ----------------------------------------------------------------------------- truth
def true_joint_effects(
    df_or_params: pd.DataFrame | StudyParams | Mapping[str, Any] | None = None,
    lifetime_model: str = "weibull",
    design: StudyDesign = KUMAR_2015,
) -> pd.Series:
    """The simulator's true parameters in the joint model's parametrisation.

    Parameters
    ----------
    df_or_params : DataFrame, StudyParams or mapping, optional
        A frame from :func:`~winback_study.data.simulate.simulate_study` (it carries its
        parameters in ``df.attrs["params"]``), the parameters themselves, or None for the
        calibrated defaults.
    lifetime_model : {"weibull"}
        The simulator's second lifetime is a Weibull AFT; truth is defined for it only (a
        log-normal fit is misspecified on simulated data).
    design : StudyDesign
        The design whose offers and reasons name the return terms.

    Returns
    -------
    pandas.Series
        ``true_coefficient`` indexed like :attr:`JointModelResult.summary`, by
        ``(equation, term)`` for the default formulas of the three equations: ``return``
        (``return_*``; the probit is normalised to the marginal scale, so these are the
        simulator's coefficients as they are), ``second_lifetime`` (AFT log-month
        coefficients ``second_*``, conditional on loyalty), ``second_profit``
        (``second_margin_*``, the intercept less ``s^2 / 2``; ``referrals`` and
        ``complaints`` 0) and ``latent`` (``loading_return = loyalty_return``,
        ``loading_second_lifetime = loyalty_second_tenure``, ``loading_second_profit =
        loyalty_second_margin``, ``sigma_second_lifetime = second_tenure_sigma``, i.e.
        the Weibull shape is its inverse, and ``sigma_second_profit =
        second_margin_sigma``). Loyalty is standardised (mean 0, variance 1) under either
        ``loyalty_distribution``, so the loadings mean the same under a skewed trait.
    """
    if lifetime_model != "weibull":
        raise ModelError(
            f"the simulator's second lifetime is a Weibull AFT, so the truth is defined for "
            f"lifetime_model='weibull' only, not {lifetime_model!r}")
    p = study_params(df_or_params)
    parts = {
        "return": true_return_coefficients(p, design),
        "second_lifetime": true_second_lifetime_effects(p, "weibull", control=False),
        "second_profit": true_second_profit_effects(p, control=False),
        "latent": pd.Series(
            [p.loyalty_return, p.loyalty_second_tenure, p.loyalty_second_margin,
             p.second_tenure_sigma, p.second_margin_sigma], index=list(LATENT_TERMS)),
    }
    values = np.concatenate([s.to_numpy(dtype=float) for s in parts.values()])
    index = pd.MultiIndex.from_tuples(
        [(eq, str(t)) for eq, s in parts.items() for t in s.index], names=["equation", "term"])
    return pd.Series(values, index=index, name="true_coefficient")


# ----------------------------------------------------------------------------- result
def _flat(index: pd.MultiIndex) -> list[str]:
    return [f"{eq}: {term}" for eq, term in index]


@dataclass(repr=False)
class JointModelResult(RegressionResult):
    """A fitted joint model (see :func:`fit_joint_model`).

    Follows the package's result convention (:class:`~winback_study.core.results.
    FittedResult`), with ``summary`` indexed by ``(equation, term)``: the equations
    ``return``, ``second_lifetime``, ``second_profit`` and ``latent`` (loadings and
    scales). Select one with ``result.summary.loc["second_lifetime"]``.

    Attributes
    ----------
    coef : pandas.Series
        Estimates by ``(equation, term)``.
    cov : pandas.DataFrame
        Their covariance (inverse Hessian, or the sandwich when ``robust``), delta method
        for ``rho = tanh(a)`` and the log-scale sigmas.
    start : pandas.Series
        The two-step estimates the optimiser started from (same index; the loadings and
        sigmas derived from the control-function coefficients).
    lifetime_model : str
        ``weibull`` or ``lognormal``.
    formulas : dict
        The formula of each equation.
    robust : bool
        Whether ``cov`` is the sandwich.
    n_nodes : int
        Gauss-Hermite nodes.
    n_returners, n_events : int
        Returners (outcome equations) and churned spells among them.
    n_iterations : int
        Optimiser iterations.
    """

    coef: pd.Series
    cov: pd.DataFrame
    start: pd.Series
    lifetime_model: str
    formulas: dict[str, str]
    robust: bool
    n_nodes: int
    n_customers: int
    n_returners: int
    n_events: int
    n_iterations: int
    loglik: float
    _alpha: float = 0.05
    _flags: dict = field(default_factory=dict, repr=False)

    equation = "joint"
    ratio_name = None

    @property
    def interval_scales(self) -> Mapping[Any, str]:  # type: ignore[override]
        """The two sigmas' intervals are on the log scale."""
        return MappingProxyType({("latent", "sigma_second_lifetime"): "log",
                                 ("latent", "sigma_second_profit"): "log"})

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        se = np.sqrt(np.diag(self.cov.to_numpy()))
        return self.coef, pd.Series(se, index=self.coef.index)

    def _coefficient_table(self, alpha: float) -> pd.DataFrame:
        coef, se = self._coefficients()
        flat = _flat(coef.index)
        scales = {f"{eq}: {t}": v for (eq, t), v in self.interval_scales.items()}
        table = coefficient_table(pd.Series(coef.to_numpy(), index=flat),
                                  pd.Series(se.to_numpy(), index=flat), alpha, None, scales)
        table.index = coef.index.copy()
        return table

    def _scales_note(self) -> str:
        terms = [f"{eq}: {t}" for (eq, t), v in self.interval_scales.items() if v == "log"]
        return f"; log scale for {', '.join(terms)}" if terms else ""

    @property
    def nobs(self) -> int:
        """Lapsed customers in the fit (returners and not)."""
        return int(self.n_customers)

    @property
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood (the whole sample, all three equations)."""
        return float(self.loglik)

    @property
    def formula(self) -> str:
        """The three formulas, one per line."""
        return "\n".join(f"{eq}: {f}" for eq, f in self.formulas.items())

    @cached_property
    def shape_(self) -> float:
        """The Weibull shape ``1 / sigma`` (``lifetime_model="weibull"``)."""
        return float(1.0 / self.coef[("latent", "sigma_second_lifetime")])

    def equation_summary(self, equation: str) -> pd.DataFrame:
        """The summary rows of one equation, indexed by ``term``."""
        if equation not in EQUATIONS:
            raise ModelError(f"equation must be one of {', '.join(EQUATIONS)}, got {equation!r}")
        return self.summary.loc[equation]

    def compare(self, truth: pd.Series | None = None) -> pd.DataFrame:
        """Estimates beside the two-step start (and ``truth``, e.g. :func:`true_joint_effects`),
        with the difference in standard errors."""
        out = self.summary[["coef", "std_err", "ci_low", "ci_high"]].copy()
        out["two_step"] = self.start.reindex(out.index)
        if truth is not None:
            out["truth"] = truth.reindex(out.index)
            out["z_vs_truth"] = (out["coef"] - out["truth"]) / out["std_err"]
            out["covers"] = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
        return out

    def plot_coefficients(self, ax: Any = None, terms: Sequence[str] | None = None,
                          ratio: bool = False) -> Any:
        """Forest plot of every estimate but the intercepts, labelled ``equation: term``
        (:func:`winback_study.plotting.charts.plot_coefficients`)."""
        from types import SimpleNamespace

        from winback_study.plotting.charts import plot_coefficients

        flat = self.summary.copy()
        flat.index = pd.Index(_flat(flat.index), name="term")
        if terms is None:
            terms = [t for t in flat.index if not t.endswith(": Intercept")]
        proxy = SimpleNamespace(summary=flat, ratio_name=None, equation=self.equation,
                                confidence_level=self.confidence_level)
        return plot_coefficients(proxy, ax=ax, terms=terms, ratio=ratio)

    def _n_estimated(self) -> int:
        return len(self.coef)

    def _header(self) -> list[tuple[str, str]]:
        dist = {"weibull": "Weibull AFT", "lognormal": "log-normal AFT"}[self.lifetime_model]
        return [
            ("specification", f"return probit + {dist} (interval-censored months) + "
                              "log-normal margin, one normal factor"),
            ("returners", f"{self.n_returners:,} ({self.n_events:,} churned)"),
            ("quadrature", f"Gauss-Hermite, {self.n_nodes} nodes"),
            ("standard errors", "sandwich (robust)" if self.robust else "inverse Hessian"),
            ("iterations", f"{self.n_iterations}"),
        ]

    def _footer(self) -> list[str]:
        return [f"{eq}: {f}" for eq, f in self.formulas.items()]

    def __repr__(self) -> str:
        return (f"JointModelResult({self.lifetime_model}, {self.n_customers:,} customers, "
                f"{self.n_returners:,} returners, log-likelihood {self.loglik:,.2f})")


# ----------------------------------------------------------------------------- fitting
def _design_matrix(formula: str, data: pd.DataFrame, error: type[ModelError]
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Outcome, covariates and clean term names of ``formula`` on ``data`` (statsmodels'
    formula engine, as the package's fitters)."""
    try:
        model = smf.ols(formula, data, missing="raise")
    except Exception as exc:  # noqa: BLE001 - formula engines raise many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"cannot build the design matrix of {formula!r}: {first}") from None
    names = [clean_term(str(t)) for t in model.exog_names]
    return (np.asarray(model.endog, dtype=float), np.ascontiguousarray(model.exog, dtype=float),
            names)


def _check_identified(X: np.ndarray, names: list[str], n: int, equation: str,
                      error: type[ModelError], argument: str) -> None:
    """Every covariate varies among the returners and none is a combination of others."""
    for j, name in enumerate(names):
        if name == "Intercept":
            continue
        col = X[:, j]
        if col.size == 0 or np.ptp(col) == 0:
            raise error(
                f"the covariate {name!r} is constant among the {n:,} reacquired customers "
                f"(value {col[0] if col.size else 'none'}), so its effect on the {equation} is not "
                f"identified; drop it from {argument} or merge its levels with others")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise error(
            f"the covariates of the {equation} equation are collinear among the {n:,} "
            f"reacquired customers (rank {rank} of {X.shape[1]} columns: {', '.join(names)}); "
            f"drop or merge covariates in {argument}")


def _missing_values(data: pd.DataFrame, columns: set[str], who: str) -> None:
    for col in sorted(columns):
        bad = data[col].isna().to_numpy()
        if bad.any():
            raise DataError(
                f"{int(bad.sum()):,} missing value(s) in {col!r} among {who}; the joint model "
                "needs every covariate for every customer it fits (drop or impute them)",
                column=col, rows=data.index[bad], problem="missing_value")


def _start_values(data: pd.DataFrame, formulas: dict[str, str], names: dict[str, list[str]],
                  lifetime_model: str, design: StudyDesign | None
                  ) -> tuple[np.ndarray, float, float, np.ndarray, np.ndarray, float, float]:
    """The two-step estimates: probit, Weibull AFT and log-margin OLS with the control."""
    sel = fit_selection(data, formulas["return"], design=design)
    life = fit_second_lifetime(data, formulas["second_lifetime"], model="weibull",
                               selection=sel, design=design)
    prof = fit_second_profit(data, formulas["second_profit"], selection=sel, design=design)

    def pick(params: pd.Series, wanted: list[str]) -> np.ndarray:
        return np.array([float(params.get(t, 0.0)) for t in wanted])

    br = pick(sel.params_, names["return"])
    bt = pick(life.params_, names["second_lifetime"])
    c_t = float(life.params_.get(CONTROL_COLUMN, 0.0))
    sig_w = float(np.exp(-life.ancillary["coef"].iloc[0]))
    if lifetime_model == "lognormal":  # same mean log time, Gumbel's variance
        if "Intercept" in names["second_lifetime"]:
            bt[names["second_lifetime"].index("Intercept")] -= _EULER * sig_w
        sig_w *= math.pi / math.sqrt(6.0)
    bm = pick(prof.params_, names["second_profit"])
    c_m = float(prof.params_.get(CONTROL_COLUMN, 0.0))
    s_ols = float(np.sqrt(prof.ols.scale))
    return br, c_t, sig_w, bt, bm, c_m, s_ols


def _theta(br: np.ndarray, rho: float, bt: np.ndarray, tau: float, sig: float,
           bm: np.ndarray, kap: float, s: float) -> np.ndarray:
    return np.concatenate([br, [np.arctanh(rho)], bt, [tau, np.log(sig)], bm,
                           [kap, np.log(s)]])


def _initial(P: _Problem, start: tuple) -> np.ndarray:
    """The starting point: the two-step coefficients, and the loadings implied by the
    control-function coefficients ``rho * tau`` and ``rho * kappa`` at the best ``rho`` of a
    short grid."""
    br, c_t, sig_w, bt, bm, c_m, s_ols = start
    w_var = math.pi ** 2 / 6 if P.lifetime_model == "weibull" else 1.0
    best, best_ll = None, -np.inf
    for rho in (0.15, 0.3, 0.5, 0.7, 0.85):
        tau, kap = c_t / rho, c_m / rho
        tau = float(np.clip(tau, -2.0, 2.0))
        kap = float(np.clip(kap, -2.0, 2.0))
        sig = math.sqrt(max(sig_w ** 2 - tau ** 2 / w_var, 0.25 * sig_w ** 2))
        s = math.sqrt(max(s_ols ** 2 - kap ** 2, 0.25 * s_ols ** 2))
        theta = _theta(br, rho, bt, tau, sig, bm, kap, s)
        with np.errstate(all="ignore"):
            ll = _loglik(theta, P)
        if np.isfinite(ll) and ll > best_ll:
            best, best_ll = theta, ll
    if best is None:
        raise ConvergenceError(
            "the joint likelihood is not finite at any starting value derived from the "
            "two-step estimates; check the outcome columns (months, margins) for extreme values")
    return best


def _names(P: _Problem, terms: dict[str, list[str]]) -> pd.MultiIndex:
    tuples = ([("return", t) for t in terms["return"]] + [("latent", "loading_return")]
              + [("second_lifetime", t) for t in terms["second_lifetime"]]
              + [("latent", "loading_second_lifetime"), ("latent", "sigma_second_lifetime")]
              + [("second_profit", t) for t in terms["second_profit"]]
              + [("latent", "loading_second_profit"), ("latent", "sigma_second_profit")])
    return pd.MultiIndex.from_tuples(tuples, names=["equation", "term"])


def _reported(P: _Problem, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reported parameters (``rho = tanh(a)``, sigmas) and the Jacobian's diagonal."""
    pr, pt, pm = P.sizes
    out = theta.copy()
    jac = np.ones_like(theta)
    ia, isig, isd = pr, pr + 1 + pt + 1, pr + 1 + pt + 2 + pm + 1
    out[ia] = math.tanh(theta[ia])
    jac[ia] = 1.0 - out[ia] ** 2
    for i in (isig, isd):
        out[i] = math.exp(theta[i])
        jac[i] = out[i]
    return out, jac


def _order(index: pd.MultiIndex) -> np.ndarray:
    """Positions that put the parameters in the summary's order: equations, then latent."""
    rank = {eq: k for k, eq in enumerate(EQUATIONS)}
    latent = {t: k for k, t in enumerate(LATENT_TERMS)}
    keys = [(rank[eq], latent.get(t, 0) if eq == "latent" else 0, i)
            for i, (eq, t) in enumerate(index)]
    return np.array([k[2] for k in sorted(keys)])


def _setup(df: pd.DataFrame, return_formula: str | None, lifetime_formula: str | None,
           profit_formula: str | None, lifetime_model: str, n_nodes: int,
           design: StudyDesign | None) -> tuple:
    """Check the data and build the likelihood's problem: ``(problem, data, formulas,
    terms, design)``."""
    design = model_design(df, design)
    out_r, rhs_r = split_formula(return_formula, DEFAULT_RETURN_FORMULA.split("~", 1)[1].strip(),
                                 RETURN_OUTCOME, ModelError)
    out_t, rhs_t = split_formula(lifetime_formula, design_references(DEFAULT_DURATION_FORMULA,
                                                                     design),
                                 DURATION_COL, SecondLifetimeError)
    out_m, rhs_m = split_formula(profit_formula, design_references(DEFAULT_PROFIT_FORMULA, design),
                                 f"np.log({MARGIN_COL})", SecondProfitError)
    if not out_m.replace(" ", "").startswith("np.log("):
        raise SecondProfitError(
            f"the joint model's margin equation is normal on the log margin; the outcome "
            f"{out_m!r} is not a log. Write 'np.log({MARGIN_COL}) ~ ...'")
    formulas = {"return": f"{out_r} ~ {rhs_r}", "second_lifetime": f"{out_t} ~ {rhs_t}",
                "second_profit": f"{out_m} ~ {rhs_m}"}
    cols = {eq: required_columns(f) for eq, f in formulas.items()}
    require_columns(df, sorted(cols["return"] | cols["second_lifetime"] | cols["second_profit"])
                    + [EVENT_COL], "fit_joint_model")
    data = order_factors(df, design.factor_levels()) if design is not None else df
    y = binary_outcome(data, out_r, "fit_joint_model")
    rhs_cols = {eq: required_columns(f.split("~", 1)[1]) for eq, f in formulas.items()}
    _missing_values(data, rhs_cols["return"], f"the {len(data):,} lapsed customers")
    data = drop_unused_categories(data, sorted(rhs_cols["return"]))
    back_mask = y == 1
    back = data[back_mask]
    if len(back) == 0:
        raise SecondLifetimeError(
            f"no reacquired customers among the {len(data):,} in the data ({out_r} is 0 for "
            "everyone): the second-lifetime and margin equations have nothing to fit. Fit "
            "the return model alone (fit_return_model), or check the outcome column")
    back = _checked_spells(back, out_t, EVENT_COL)
    back = _checked_margins(back, MARGIN_COL if MARGIN_COL in out_m else out_m, True)
    _missing_values(back, rhs_cols["second_lifetime"] | rhs_cols["second_profit"],
                    f"the {len(back):,} reacquired customers")
    months = back[out_t].to_numpy(dtype=float)
    frac = np.abs(months - np.round(months)) > 1e-9
    if frac.any():
        raise DataError(
            f"{int(frac.sum()):,} second lifetime(s) in {out_t!r} are not whole months; the "
            "joint model's likelihood reads a recorded k months as churn in (k - 1, k] (a "
            "month begun is a month counted). Round them up to whole months",
            column=out_t, rows=back.index[frac], problem="not_whole_months")
    n_b = len(back)
    _, Xr, names_r = _design_matrix(formulas["return"], data, ModelError)
    back_t = drop_unused_categories(back, sorted(rhs_cols["second_lifetime"]))
    _, Xt, names_t = _design_matrix(formulas["second_lifetime"], back_t, SecondLifetimeError)
    back_m = drop_unused_categories(back, sorted(rhs_cols["second_profit"]))
    ym, Xm, names_m = _design_matrix(formulas["second_profit"], back_m, SecondProfitError)
    _check_identified(Xt, names_t, n_b, "second lifetime", SecondLifetimeError,
                      "lifetime_formula")
    _check_identified(Xm, names_m, n_b, "second-lifetime margin", SecondProfitError,
                      "profit_formula")
    event = back[EVENT_COL].to_numpy(dtype=float) == 1
    order = np.argsort(~event, kind="stable")  # churned spells first
    months, event = months[order], event[order]
    n_ev = int(event.sum())
    x_nodes, w_nodes = hermgauss(int(n_nodes))
    P = _Problem(Xr=Xr, rows=np.flatnonzero(back_mask)[order],
                 out_rows=np.flatnonzero(~back_mask), Xt=Xt[order], log_hi=np.log(months),
                 log_lo=np.log(np.maximum(months[:n_ev] - 1.0, 1.0)), n_events=n_ev,
                 Xm=Xm[order], ym=ym[order], lifetime_model=lifetime_model,
                 nodes=math.sqrt(2.0) * x_nodes, log_w=np.log(w_nodes / math.sqrt(math.pi)))
    P.log_lo[months[:n_ev] <= 1] = _LOG_MONTH_0
    terms = {"return": names_r, "second_lifetime": names_t, "second_profit": names_m}
    return P, data, formulas, terms, design


def fit_joint_model(
    df: pd.DataFrame,
    return_formula: str | None = None,
    lifetime_formula: str | None = None,
    profit_formula: str | None = None,
    *,
    lifetime_model: str = "weibull",
    robust: bool = False,
    n_nodes: int = DEFAULT_NODES,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
    maxiter: int = 500,
) -> JointModelResult:
    """Fit return, second lifetime and log second-lifetime margin jointly by maximum likelihood.

    One latent standard-normal factor (loyalty) enters each equation with its own loading;
    conditional on it the equations are independent, and it is integrated out by
    Gauss-Hermite quadrature. Second lifetimes are interval-censored whole months (see the
    module docstring for the likelihood and for identification).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table, one row per lapsed customer (returned or not).
    return_formula : str, optional
        ``"reacquired ~ covariates"`` (the outcome may be left out); default the study's
        (:data:`~winback_study.models.return_probability.DEFAULT_RETURN_FORMULA`).
    lifetime_formula : str, optional
        ``"second_tenure_months ~ covariates"``; the churn flag is ``second_churned``.
        Default :data:`~winback_study.models.second_lifetime.DEFAULT_DURATION_FORMULA`.
    profit_formula : str, optional
        ``"np.log(second_monthly_margin) ~ covariates"``; default
        :data:`~winback_study.models.second_profit.DEFAULT_PROFIT_FORMULA` (the margin
        equation is normal on the log margin; an outcome in dollars is refused).
    lifetime_model : {"weibull", "lognormal"}
        Distribution of the AFT error of the second lifetime.
    robust : bool
        Sandwich standard errors (outer product of the per-customer scores between two
        inverse Hessians) instead of the inverse Hessian.
    n_nodes : int
        Gauss-Hermite nodes for the factor (default :data:`DEFAULT_NODES`).
    alpha : float
        1 - confidence level of every interval the result reports.
    design : StudyDesign, optional
        The experiment's arms and reasons (reference levels of the default formulas);
        default the design of ``df``.
    maxiter : int
        Iterations allowed to the optimiser.

    Returns
    -------
    JointModelResult

    Raises
    ------
    DataError
        A missing column, an outcome that is not 0/1, missing or invalid months or
        margins, months that are not whole numbers.
    ReturnModelError
        The return probit (the starting values) cannot be fitted.
    SecondLifetimeError
        No reacquired customer, every second lifetime censored, a duration covariate
        constant among the returners (or collinear), an unknown ``lifetime_model``.
    SecondProfitError
        A margin covariate constant among the returners (or collinear), a margin equation
        in dollars.
    ConvergenceError
        The optimiser did not converge, or the Hessian is not invertible.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    alpha = check_alpha(alpha)
    if lifetime_model not in LIFETIME_MODELS:
        raise SecondLifetimeError(f"lifetime_model must be one of {', '.join(LIFETIME_MODELS)}, "
                                  f"got {lifetime_model!r}")
    if not isinstance(n_nodes, (int, np.integer)) or not 3 <= n_nodes <= 200:
        raise ModelError(f"n_nodes must be a whole number of quadrature nodes between 3 and 200, "
                         f"got {n_nodes!r} (20 is plenty for the study)")
    P, data, formulas, terms, design = _setup(df, return_formula, lifetime_formula,
                                              profit_formula, lifetime_model, n_nodes, design)
    n_b, n_ev = len(P.rows), P.n_events
    start = _start_values(data, formulas, terms, lifetime_model, design)
    theta0 = _initial(P, start)
    theta, H, n_iter = _maximise(P, theta0, int(maxiter))
    ll, S = _evaluate(theta, P, scores=True) if robust else (_loglik(theta, P), None)
    try:
        cov_t = linalg.inv(H)
        cov_t = 0.5 * (cov_t + cov_t.T)
    except (linalg.LinAlgError, ValueError):
        cov_t = None
    if cov_t is None or not np.all(np.isfinite(cov_t)) or np.any(np.diag(cov_t) <= 0):
        raise ConvergenceError(
            "the Hessian of the joint likelihood is not invertible at the estimate, so the "
            "loadings are not identified from these data: usually no covariate of the return "
            "equation is left out of the outcome equations (an exclusion restriction such as "
            "months_since_defection), or very few returners churned. Add an exclusion "
            "restriction, or fit the two-step models")
    if robust:
        B = S.T @ S
        cov_t = cov_t @ B @ cov_t
    # the likelihood is unchanged when every loading changes sign: report rho >= 0
    pr, pt, pm = P.sizes
    i_load = [pr, pr + 1 + pt, pr + 1 + pt + 2 + pm]
    if theta[pr] < 0:
        flip = np.ones_like(theta)
        flip[i_load] = -1.0
        theta = theta * flip
        cov_t = cov_t * np.outer(flip, flip)
    values, jac = _reported(P, theta)
    cov = cov_t * np.outer(jac, jac)
    s0 = _reported(P, theta0)[0]  # the two-step start, reported as the estimates are
    index = _names(P, terms)
    order = _order(index)
    index = index[order]
    coef = pd.Series(values[order], index=index, name="coef")
    cov_df = pd.DataFrame(cov[np.ix_(order, order)], index=index, columns=index)
    start_s = pd.Series(s0[order], index=index, name="two_step")
    return JointModelResult(
        coef=coef, cov=cov_df, start=start_s, lifetime_model=lifetime_model,
        formulas=formulas, robust=bool(robust), n_nodes=int(n_nodes), n_customers=len(data),
        n_returners=n_b, n_events=n_ev, n_iterations=n_iter, loglik=ll,
        _alpha=alpha)


def _scalar_positions(P: _Problem) -> list[int]:
    """Positions of ``a, tau, log sigma, kappa, log s`` in ``theta``."""
    pr, pt, pm = P.sizes
    return [pr, pr + 1 + pt, pr + 2 + pt, pr + 3 + pt + pm, pr + 4 + pt + pm]


def _whitening(theta: np.ndarray, P: _Problem, hessian: bool) -> np.ndarray | None:
    """Upper-triangular ``R`` with ``R'R`` close to the curvature of ``-log L`` at ``theta``:
    the Hessian when asked and positive definite, else the outer product of the scores with
    a floor on the scalars' curvature (at a start where the loadings of the outcomes are
    near zero, the return loading has almost no score and would otherwise take giant steps).
    None when neither can be factored."""
    if hessian:
        H = _hessian(theta, P)
        d = np.sqrt(np.abs(np.diag(H))) + 1e-300
        try:
            return linalg.cholesky(H / np.outer(d, d), lower=False) * d[None, :]
        except linalg.LinAlgError:
            pass
    with np.errstate(all="ignore"):
        _, S = _evaluate(theta, P, scores=True)
    B = S.T @ S
    del S
    at = _scalar_positions(P)
    B[at, at] = np.maximum(B[at, at], 0.05 * len(P.rows))
    d = np.sqrt(np.maximum(np.diag(B), 1e-300))
    try:
        return linalg.cholesky(B / np.outer(d, d) + 1e-8 * np.eye(len(B)), lower=False) * d[None, :]
    except linalg.LinAlgError:
        return None


def _maximise(P: _Problem, theta0: np.ndarray, maxiter: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """L-BFGS-B in whitened coordinates; the estimate, the Hessian of ``-log L`` and the
    iterations used.

    A first round is whitened by the scores at the start; if it stops short of the maximum,
    the next rounds restart from where it stopped, whitened by the Hessian there. Converged
    means a Newton decrement ``sqrt(g' H^-1 g)`` below 0.01 (the estimate is within 1% of
    a standard error of the maximum).
    """
    theta, used, message = theta0, 0, "no iteration allowed"
    H = None
    for round_ in range(4):
        if used >= maxiter:
            break
        R = _whitening(theta, P, hessian=round_ > 0)
        if R is None:
            raise ConvergenceError(
                "the scores of the joint likelihood are linearly dependent, so some "
                "parameters are not identified: look for a covariate that is a combination "
                "of others, or an outcome equation whose covariates explain the return index "
                "entirely. Drop or merge covariates")
        origin = theta

        def to_theta(phi: np.ndarray, R: np.ndarray = R, origin: np.ndarray = origin
                     ) -> np.ndarray:
            return origin + linalg.solve_triangular(R, phi, lower=False)

        def objective(phi: np.ndarray, R: np.ndarray = R, to_theta=to_theta
                      ) -> tuple[float, np.ndarray]:
            with np.errstate(all="ignore"):
                ll, g = _evaluate(to_theta(phi), P)
            if not np.isfinite(ll) or not np.all(np.isfinite(g)):
                return 1e300, np.zeros_like(phi)
            return -ll, -linalg.solve_triangular(R, g, trans="T", lower=False)

        try:
            res = optimize.minimize(objective, np.zeros(len(theta)), jac=True,
                                    method="L-BFGS-B",
                                    options={"maxiter": maxiter - used, "ftol": 1e-14,
                                             "gtol": 1e-6, "maxcor": 30})
        except (ValueError, FloatingPointError, linalg.LinAlgError) as exc:
            raise ConvergenceError(
                "the optimiser of the joint likelihood failed "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); try "
                "more quadrature nodes (n_nodes=40), or simpler formulas") from None
        used += int(res.nit)
        message = res.message
        if np.isfinite(res.fun) and res.fun < 1e300:
            theta = to_theta(res.x)
        H = _hessian(theta, P)
        decrement = _decrement(theta, P, H)
        if decrement < 1e-2:
            return theta, H, used
    decrement = _decrement(theta, P, H) if H is not None else np.inf
    raise ConvergenceError(
        f"the joint model did not converge in {used} iteration(s) (Newton decrement "
        f"{decrement:.2g} standard errors; the optimiser said: {message}). Usual causes: too "
        "few returners or churn events for the loadings, a covariate nearly constant among "
        "the returners, or maxiter too small. Allow more iterations (maxiter=2000), "
        "simplify the formulas, or fit the two-step models")


def _decrement(theta: np.ndarray, P: _Problem, H: np.ndarray) -> float:
    """``sqrt(g' H^-1 g)`` at ``theta`` (inf where ``H`` is not positive definite)."""
    with np.errstate(all="ignore"):
        _, g = _evaluate(theta, P)
    try:
        c = linalg.cho_factor(H)
    except (linalg.LinAlgError, ValueError):
        return np.inf
    val = float(g @ linalg.cho_solve(c, g))
    return math.sqrt(val) if np.isfinite(val) and val >= 0 else np.inf
