"""Newton's method for lifelines' Weibull AFT likelihood, with its analytic Hessian.

lifelines fits a :class:`~lifelines.WeibullAFTFitter` by SLSQP on an autograd gradient and
then differentiates the gradient again with autograd for the Hessian: about 30 likelihood
evaluations and a Hessian as costly as a dozen more, which on millions of returners is
most of a minute. The Weibull log-likelihood has a closed-form gradient and Hessian, so
Newton's method converges in a handful of passes over the rows.

:func:`newton_fit_model` replaces one fitter's ``_fit_model`` (the step between lifelines'
preparation of the design and its bookkeeping of the results) for one ``fit`` call:
lifelines still builds the design from the formula, normalises it, computes the variance
matrix, the standard errors, the intervals and the summary from what this step returns,
so the fitter is an ordinary ``WeibullAFTFitter`` afterwards. For right-censored spells,
no penalty and no entry times; otherwise lifelines' own step runs.

With ``eta = X_lambda b`` (log scale), ``s = X_rho g`` (log shape), ``rho = exp(s)`` and
``z = rho (log t - eta)``, a spell's log-likelihood is ``E (s + z - log t) - exp(z)``
(lifelines' ``log h - H``), whose derivatives are

- ``d/d eta = -rho (E - e^z)``, ``d2/d eta2 = -rho^2 e^z``,
- ``d/ds = E (1 + z) - z e^z``, ``d2/ds2 = E z - z (1 + z) e^z``,
- ``d2/(d eta ds) = -rho (E - e^z - z e^z)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["weibull_newton", "newton_fit_model"]

#: rows per pass over the design (bounds the memory of the per-row terms)
CHUNK_ROWS = 1_000_000


def _terms(xl: np.ndarray, xr: np.ndarray, logt: np.ndarray, e: np.ndarray, w: np.ndarray,
           b: np.ndarray, g: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, Any]:
    """Log-likelihood, gradient and (optionally) Hessian, summed over the rows."""
    kl, kr = xl.shape[1], xr.shape[1]
    ll, grad = 0.0, np.zeros(kl + kr)
    hess = np.zeros((kl + kr, kl + kr)) if hessian else None
    for i in range(0, len(logt), CHUNK_ROWS):
        sl = slice(i, i + CHUNK_ROWS)
        xlc, xrc, lt, ec, wc = xl[sl], xr[sl], logt[sl], e[sl], w[sl]
        s = xrc @ g
        rho = np.exp(s)
        z = rho * (lt - xlc @ b)
        ez = np.exp(np.minimum(z, 700.0))
        ll += float(wc @ (ec * (s + z - lt) - ez))
        grad[:kl] += xlc.T @ (wc * -rho * (ec - ez))
        grad[kl:] += xrc.T @ (wc * (ec * (1.0 + z) - z * ez))
        if hessian:
            a = wc * -(rho ** 2) * ez
            c = wc * -rho * (ec - ez - z * ez)
            d = wc * (ec * z - z * (1.0 + z) * ez)
            hess[:kl, :kl] += xlc.T @ (xlc * a[:, None])
            hess[:kl, kl:] += xlc.T @ (xrc * c[:, None])
            hess[kl:, kl:] += xrc.T @ (xrc * d[:, None])
    if hessian:
        hess[kl:, :kl] = hess[:kl, kl:].T
    return ll, grad, hess


def weibull_newton(xl: np.ndarray, xr: np.ndarray, t: np.ndarray, e: np.ndarray,
                   w: np.ndarray | None = None, *, tol: float = 1e-10,
                   max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Maximum likelihood of a right-censored Weibull AFT model by Newton's method.

    Parameters
    ----------
    xl, xr : ndarray, shape (n, kl) and (n, kr)
        Designs of the log scale (``lambda_``) and of the log shape (``rho_``).
    t, e : ndarray
        Durations (> 0) and event flags (1 = ended, 0 = censored).
    w : ndarray, optional
        Case weights (default 1).
    tol : float
        Stop when the largest Newton step is below ``tol``.
    max_iter : int
        Newton steps at most.

    Returns
    -------
    b, g : ndarray
        Coefficients of the log scale and the log shape.
    loglik : float
        The maximised log-likelihood (weighted sum).
    hessian : ndarray
        Its Hessian at the maximum, ``(kl + kr)`` square (negative definite).

    Raises
    ------
    numpy.linalg.LinAlgError
        A singular Hessian (collinear covariates), or no convergence in ``max_iter`` steps.
    """
    xl, xr = np.asarray(xl, dtype=float), np.asarray(xr, dtype=float)
    t, e = np.asarray(t, dtype=float), np.asarray(e, dtype=float)
    w = np.ones(len(t)) if w is None else np.asarray(w, dtype=float)
    logt = np.log(np.clip(t, 1e-100, np.inf))
    kl = xl.shape[1]
    # start: least squares of log t on the scale's design, shape 1 (an exponential)
    b = np.linalg.lstsq(xl[:CHUNK_ROWS], logt[:CHUNK_ROWS], rcond=None)[0]
    g = np.zeros(xr.shape[1])
    ll, grad, hess = _terms(xl, xr, logt, e, w, b, g, True)
    for _ in range(max_iter):
        step = np.linalg.solve(hess, -grad)
        if not np.all(np.isfinite(step)):
            raise np.linalg.LinAlgError("the Weibull Hessian is singular")
        if grad @ step <= 0:  # not an ascent direction: a gradient step instead
            step = grad / max(np.abs(np.diag(hess)).max(), 1.0)
        scale = 1.0
        for _ in range(60):  # step halving until the likelihood does not fall
            nb, ng = b + scale * step[:kl], g + scale * step[kl:]
            new = _terms(xl, xr, logt, e, w, nb, ng, False)[0]
            if np.isfinite(new) and new >= ll - 1e-12 * abs(ll):
                break
            scale /= 2
        else:
            raise np.linalg.LinAlgError("Newton's method found no ascent step")
        b, g = nb, ng
        ll, grad, hess = _terms(xl, xr, logt, e, w, b, g, True)
        if np.abs(scale * step).max() < tol:
            return b, g, ll, hess
    raise np.linalg.LinAlgError(f"Newton's method did not converge in {max_iter} steps")


def _applies(fitter: Any, likelihood: Any, ts: Any, entries: np.ndarray) -> bool:
    """Right-censored spells (lifelines' ``(T, None)``), no penalty, no entry times."""
    right_censored = likelihood == fitter._log_likelihood_right_censoring and ts[1] is None
    penalised = np.any(np.asarray(fitter.penalizer) > 0)
    return right_censored and not penalised and not np.any(np.asarray(entries) > 0)


def newton_fit_model(fitter: Any, likelihood: Any, Ts: Any, Xs: Any, E: np.ndarray,  # noqa: N803
                     weights: np.ndarray, entries: np.ndarray, fit_options: dict,
                     show_progress: bool = False, user_supplied_initial_point: Any = None
                     ) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """lifelines' ``ParametricRegressionFitter._fit_model`` for a Weibull AFT, by Newton.

    The same inputs (the normalised design ``Xs``, with its ``lambda_`` and ``rho_``
    column blocks) and outputs (the parameters by block, the log-likelihood and the
    Hessian of the negative log-likelihood) as lifelines' step, which it falls back to
    when the spells are not plainly right-censored, a penalty is set, an initial point is
    given, or Newton's method fails.
    """
    from lifelines.fitters import ParametricRegressionFitter

    def lifelines_step() -> tuple[dict[str, np.ndarray], float, np.ndarray]:
        return ParametricRegressionFitter._fit_model(
            fitter, likelihood, Ts, Xs, E, weights, entries, fit_options,
            show_progress=show_progress, user_supplied_initial_point=user_supplied_initial_point)

    names = list(fitter._fitted_parameter_names)
    if (names != ["lambda_", "rho_"] or user_supplied_initial_point is not None
            or not _applies(fitter, likelihood, Ts, entries)):
        return lifelines_step()
    t = np.asarray(Ts[0], dtype=float)
    xl, xr = Xs["lambda_"].to_numpy(dtype=float), Xs["rho_"].to_numpy(dtype=float)
    try:
        b, g, ll, hess = weibull_newton(xl, xr, t, np.asarray(E, dtype=float),
                                        np.asarray(weights, dtype=float))
    except np.linalg.LinAlgError:
        return lifelines_step()
    params = {"lambda_": b, "rho_": g}
    # each spell's predicted median, exp(eta) * log(2) ** (1 / rho) (lifelines'
    # predict_median, for the concordance index), from the design already built
    fitter._newton_median = pd.Series(np.exp(xl @ b) * np.log(2.0) ** (1.0 / np.exp(xr @ g)),
                                      index=Xs.index)
    # what lifelines' step leaves on the fitter for later use (score, robust errors)
    fitter._initial_point_dicts = [{k: np.zeros_like(v) for k, v in params.items()}]
    fitter._neg_likelihood_with_penalty_function = partial(
        fitter._create_neg_likelihood_with_penalty_function, likelihood=likelihood,
        penalty=fitter._add_penalty)
    fitter._neg_likelihood = partial(fitter._create_neg_likelihood_with_penalty_function,
                                     likelihood=likelihood)
    # lifelines returns the Hessian of the summed negative log-likelihood
    return params, ll, -hess
