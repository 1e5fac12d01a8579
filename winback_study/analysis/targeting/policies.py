"""Targeting policies, valued under the model: which offer for whom, on what budget.

A policy gives each lapsed customer one offer or none. Its expected outcome under the
model's probabilities (:func:`evaluate_policy`) follows the package's ROI definition:
customers regained, contacted or not (the market-share view), the incremental ones, the
expected offer cost (paid by acceptors), value and profit. The best offer per segment
(:func:`best_offer_by_segment`, with the bootstrap noise of each segment's lead:
:func:`segment_margin_se`), the best assignment under a budget (:func:`budget_policy`,
:func:`budget_frontier`), the frontier between customers regained and profit
(:func:`policy_frontier`), the standard policies side by side (:func:`policy_table`) and
the published arms as points on that map (:func:`published_arm_points`).

Offers, the control and the rule arms (the study's ``tailored``) come from the design the
scores were made with (:attr:`~winback_study.analysis.targeting.scores.OfferScores.design`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from winback_study.analysis.roi import ValueSpec
from winback_study.analysis.targeting.scores import (
    OfferScores,
    ProbabilityModel,
    score_offers,
)
from winback_study.core.checks import require_columns
from winback_study.core.rng import independent_rng
from winback_study.data.describe import complaint_status
from winback_study.data.published import OFFER_EXHIBIT
from winback_study.design import (
    COST_COLUMN,
    REASON_COLUMN,
    RECEIVED_COLUMN,
    StudyDesign,
    resolve_design,
)
from winback_study.errors import DataError, DesignError

__all__ = [
    "behaviour_segment",
    "best_offer_by_segment",
    "segment_margin_se",
    "evaluate_policy",
    "budget_policy",
    "budget_frontier",
    "policy_table",
    "policy_frontier",
    "published_arm_points",
]


#: Columns :func:`behaviour_segment` reads.
_BEHAVIOUR_COLUMNS = ("complaints", "complaints_resolved", "referrals")


def behaviour_segment(df: pd.DataFrame) -> pd.Series:
    """First-lifetime behaviour: complaint status x referrer (six levels).

    Complaint status is ``no complaint``, ``all resolved`` or ``some unresolved``
    (:func:`~winback_study.data.describe.complaint_status`); a referrer made at least one
    referral.

    Raises
    ------
    DataError
        ``complaints``, ``complaints_resolved`` or ``referrals`` is missing.
    """
    require_columns(df, _BEHAVIOUR_COLUMNS, "behaviour_segment")
    status = complaint_status(df).astype(str)
    ref = np.where(df["referrals"].to_numpy() > 0, "referrer", "no referral")
    cats = [f"{s}, {r}" for s in ("no complaint", "all resolved", "some unresolved")
            for r in ("referrer", "no referral")]
    return pd.Series(pd.Categorical(status + ", " + ref, categories=cats), index=df.index,
                     name="behaviour")


def best_offer_by_segment(
    scores: OfferScores,
    df: pd.DataFrame,
    by: Sequence[str | pd.Series] | None = None,
    offers: Sequence[str] | None = None,
    objective: str = "profit",
    allow_none: bool = True,
) -> pd.DataFrame:
    """The best offer in each segment, for a chosen objective.

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers` on ``df``.
    df : pandas.DataFrame
        The same customers.
    by : sequence of column names or Series, optional
        Segments; default defection reason x :func:`behaviour_segment`.
    offers : sequence of str, optional
        Offers to choose from (default ``scores.single_offers``: the scored ones except
        rule arms such as ``tailored``).
    objective : str
        ``profit`` (expected win-back profit per customer), ``roi`` (expected profit per
        dollar of expected offer cost) or ``regained`` (uplift: extra customers back).
    allow_none : bool
        With ``objective="profit"``, recommend no offer (the design's control) where
        every offer loses money.

    Returns
    -------
    pandas.DataFrame
        One row per segment: ``customers``; per offer the mean expected ``profit_<offer>``
        (USD per customer), ``roi_<offer>`` and ``uplift_<offer>``; ``best_offer``,
        ``best_score`` (the objective's value), ``runner_up`` and ``margin`` (best minus
        runner-up, in the objective's unit), and the chosen offer's ``p_return``,
        ``uplift`` and ``profit`` per customer.
    """
    if objective not in ("profit", "roi", "regained"):
        raise ValueError("objective must be 'profit', 'roi' or 'regained'")
    offers = list(offers or scores.single_offers)
    require_columns(df, [REASON_COLUMN] if by is None else by, "best_offer_by_segment")
    if by is None:
        by = [df[REASON_COLUMN], behaviour_segment(df)]
    keys = [df[b] if isinstance(b, str) else b for b in by]

    def seg(frame: pd.DataFrame, how: str = "mean") -> pd.DataFrame:
        return frame[offers].groupby(keys, observed=True).agg(how)

    profit = seg(scores.expected_profit)
    uplift = seg(scores.uplift)
    prob = seg(scores.probability)
    roi = seg(scores.expected_profit, "sum") / seg(scores.expected_cost, "sum")
    t = pd.concat([profit.add_prefix("profit_"), roi.add_prefix("roi_"),
                   uplift.add_prefix("uplift_")], axis=1)
    t.insert(0, "customers", scores.probability.groupby(keys, observed=True).size())
    score = {"profit": profit, "roi": roi, "regained": uplift}[objective].to_numpy()
    order = np.argsort(-score, axis=1, kind="stable")
    rows = np.arange(len(t))
    j, j2 = order[:, 0], order[:, 1] if len(offers) > 1 else order[:, 0]
    best = score[rows, j]
    names = np.array(offers, dtype=object)
    choice = names[j]
    if objective == "profit" and allow_none:
        choice = np.where(best > 0, choice, scores.control)
    none = choice == scores.control
    t["best_offer"] = choice
    t["best_score"] = np.where(none, 0.0, best)
    t["runner_up"] = names[j2]
    t["margin"] = best - score[rows, j2]
    p0 = scores.probability[scores.control].groupby(keys, observed=True).mean().to_numpy()
    t["p_return"] = np.where(none, p0, prob.to_numpy()[rows, j])
    t["uplift"] = np.where(none, 0.0, uplift.to_numpy()[rows, j])
    t["profit"] = np.where(none, 0.0, profit.to_numpy()[rows, j])
    return t


_OBJECTIVE_PREFIX = {"profit": "profit_", "roi": "roi_", "regained": "uplift_"}


def segment_margin_se(
    df: pd.DataFrame,
    train: np.ndarray,
    fit: Callable[[pd.DataFrame], ProbabilityModel],
    best: Mapping[str, pd.DataFrame],
    *,
    offers: Sequence[str] | None = None,
    value: ValueSpec = "slv",
    costs: Mapping[str, float] | None = None,
    n_boot: int = 50,
    seed: int | np.random.Generator | None = 0,
    design: StudyDesign | None = None,
    method: str = "delta",
) -> pd.DataFrame:
    """Standard error of each segment's lead of the best offer over the runner-up.

    The lead (``margin`` of :func:`best_offer_by_segment`) is the difference between the
    segment's scores of the two offers that ``best`` names as best and runner-up. Its
    standard error covers both the return model's estimation error (the model is fitted on
    the training rows) and the sampling error of the evaluated rows: the segment means and
    the values (mean SLV of the evaluated returners per reason and offer).

    ``method="bootstrap"`` measures it by brute force: each of ``n_boot`` replicates
    resamples the training rows (with replacement) and refits the model with ``fit``,
    resamples the evaluation rows, rescores them (:func:`score_offers`) and recomputes the
    lead; the standard error is the standard deviation over the replicates.

    ``method="delta"`` (the default) gives what that bootstrap estimates, without the
    refits: the delta method, with one fit. A segment's score is a smooth function of the
    model's coefficients (through P(return | offer) of each evaluated customer) and of
    means over the evaluated rows, and the two sources are independent, so the variance of
    the lead is the sum of ``g' V g`` (``g`` its gradient in the coefficients, ``V`` their
    robust, sandwich covariance: what resampling the training rows and refitting
    estimates) and the sum over evaluated customers of their squared influence on it (what
    resampling the evaluated rows estimates). It needs a model fitted by
    :func:`~winback_study.models.return_probability.fit_return_model` (its design matrix,
    link and scores) and a column or constant ``value``; with anything else it falls back
    to the bootstrap. ``tests/analysis/test_targeting.py`` checks it against a
    400-replicate bootstrap.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (training and evaluation rows).
    train : numpy.ndarray
        Boolean mask of the training rows (the rest are evaluated), e.g. from
        :func:`holdout_mask`.
    fit : callable
        ``fit(train_df) -> model`` with ``predict``.
    best : mapping of objective to DataFrame
        Tables from :func:`best_offer_by_segment` on the evaluation rows with the default
        segments (reason x behaviour), keyed by their objective (``profit``, ``roi``,
        ``regained``).
    offers : sequence of str, optional
        Offers scored (those :func:`best_offer_by_segment` chose between); default the
        design's concrete offers (``design.targetable_offers``).
    value, costs
        As in :func:`~winback_study.analysis.targeting.scores.score_offers`.
    n_boot : int
        Replicates of the bootstrap (``method="bootstrap"`` or its fallback).
    seed : int or Generator, optional
        Seed of the bootstrap's resampling (an independent stream, see
        :func:`~winback_study.core.rng.independent_rng`); the delta method draws nothing.
    design : StudyDesign, optional
        Default :func:`~winback_study.design.resolve_design` of ``df``.
    method : {"delta", "bootstrap"}
        The delta method (one fit; exact up to linearisation, no Monte Carlo error) or
        the refit bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per segment (the index of the ``best`` tables), one column per objective:
        the standard error of ``margin`` in that objective's unit.
    """
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")
    if n_boot < 2:
        raise ValueError("n_boot must be at least 2")
    unknown = sorted(set(best) - set(_OBJECTIVE_PREFIX))
    if unknown:
        raise ValueError(f"unknown objective(s) {unknown}; use {sorted(_OBJECTIVE_PREFIX)}")
    train = np.asarray(train, dtype=bool)
    if train.shape != (len(df),):
        raise DataError(f"train must be a boolean mask with one entry per row of df "
                        f"({len(df):,}), got shape {train.shape}", problem="wrong_length")
    require_columns(df, [REASON_COLUMN, *_BEHAVIOUR_COLUMNS], "segment_margin_se")
    d = resolve_design(df, design).with_costs(costs)
    offers = list(d.targetable_offers if offers is None else offers)
    # the two offers compared in each segment: the top-scoring one (also where no offer is
    # recommended because every offer loses money) and the runner-up
    pairs = {}
    for obj, t in best.items():
        cols = [_OBJECTIVE_PREFIX[obj] + o for o in offers]
        top = t[cols].to_numpy().argmax(axis=1)
        second = pd.Index(offers).get_indexer(t["runner_up"].astype(str))
        if (second < 0).any():
            raise DesignError(f"runner-up offers of the {obj!r} table are not among {offers}",
                              problem="unknown_offer")
        pairs[obj] = (cols, top, second)
    index = next(iter(best.values())).index
    if method == "delta":
        se = _delta_margin_se(df, train, fit, best, pairs, offers, value, d)
        if se is not None:
            return pd.DataFrame(se, index=index)
    rng = independent_rng(seed)
    tr, ev = np.flatnonzero(train), np.flatnonzero(~train)
    draws: dict[str, list[np.ndarray]] = {obj: [] for obj in best}
    for _ in range(n_boot):
        d_tr = df.iloc[rng.choice(tr, len(tr))].reset_index(drop=True)
        d_ev = df.iloc[rng.choice(ev, len(ev))].reset_index(drop=True)
        sc = score_offers(d_ev, fit(d_tr), offers=offers, value=value, design=d)
        seg = best_offer_by_segment(sc, d_ev, offers=offers)
        for obj, t in best.items():
            cols, top, second = pairs[obj]
            cells = seg.reindex(t.index)[cols].to_numpy()
            rows = np.arange(len(t))
            draws[obj].append(cells[rows, top] - cells[rows, second])
    return pd.DataFrame({obj: np.std(np.vstack(v), axis=0, ddof=1) for obj, v in draws.items()},
                        index=index)


def _design_matrix(results: object, frame: pd.DataFrame) -> np.ndarray | None:
    """The fitted formula's design matrix for ``frame`` (the columns of ``params``), or None
    when the model does not expose its formula (patsy ``DesignInfo`` or formulaic
    ``ModelSpec``)."""
    from winback_study.models.return_checks import align_levels, fitted_levels

    data = getattr(getattr(results, "model", None), "data", None)
    spec = getattr(data, "model_spec", None) or getattr(data, "design_info", None)
    if spec is None:
        return None
    frame = align_levels(frame, fitted_levels(results))
    if hasattr(spec, "get_model_matrix"):  # formulaic
        return np.asarray(spec.get_model_matrix(frame), dtype=float)
    import patsy

    return np.asarray(patsy.build_design_matrices([spec], frame)[0], dtype=float)


def _delta_margin_se(df, train, fit, best, pairs, offers, value, design):
    """:func:`segment_margin_se` by the delta method; None where it does not apply."""
    from scipy import stats

    if callable(value):
        return None
    model = fit(df[train])
    # the package's ReturnModel keeps statsmodels' results in .results; a statsmodels
    # formula fit is its own results
    results = getattr(model, "results", model)
    sm_model = getattr(results, "model", None)
    link = getattr(model, "link", type(sm_model).__name__.lower())
    if link not in ("probit", "logit") or not all(
            hasattr(sm_model, a) for a in ("hessian", "score_obs")):
        return None
    ev = df[~train]
    params = np.asarray(results.params, dtype=float)
    arms = [design.control, *offers]
    X, P, dens, cost = {}, {}, {}, {}
    for o in arms:
        frame = design.assign(ev, o)
        x = _design_matrix(results, frame)
        if x is None or x.shape != (len(ev), len(params)):
            return None
        eta = x @ params
        p = stats.norm.cdf(eta) if link == "probit" else 1 / (1 + np.exp(-eta))
        if not np.allclose(p, np.asarray(model.predict(frame), dtype=float), rtol=0,
                           atol=1e-9):
            return None  # the matrix does not reproduce the model's own predictions
        X[o], P[o] = x, p
        dens[o] = stats.norm.pdf(eta) if link == "probit" else p * (1 - p)
        cost[o] = frame[COST_COLUMN].to_numpy(dtype=float) if o != design.control else None
    # the coefficients' robust (sandwich) covariance: what refitting on resampled
    # training rows estimates, whether or not the model is right
    h = np.asarray(results.model.hessian(params), dtype=float)
    score = np.asarray(results.model.score_obs(params), dtype=float)
    h_inv = np.linalg.inv(h)
    cov = h_inv @ (score.T @ score) @ h_inv
    # segments (reason x behaviour, as the best tables) and the value cells (reason x offer)
    index = next(iter(best.values())).index
    reasons = ev[REASON_COLUMN].astype(str).to_numpy()
    index_reasons = np.asarray(index.get_level_values(0).astype(str))
    labels = pd.MultiIndex.from_arrays([index_reasons,
                                        np.asarray(index.get_level_values(1).astype(str))])
    seg = labels.get_indexer(pd.MultiIndex.from_arrays(
        [reasons, behaviour_segment(ev).astype(str).to_numpy()]))
    n_seg = len(index)
    member = seg[:, None] == np.arange(n_seg)[None, :]  # rows x segments
    n_s = member.sum(axis=0)
    if (n_s == 0).any():
        return None
    mean = member / n_s  # segment means as a matrix product
    back = ev["reacquired"].to_numpy() == 1
    received = ev[RECEIVED_COLUMN].astype(str).to_numpy()
    if isinstance(value, str):
        require_columns(ev, [value, "reacquired", RECEIVED_COLUMN], "segment_margin_se")
        v_col = ev[value].to_numpy(dtype=float)
    else:
        v_col = None
    V, V_inf = {}, {}  # per offer: the value of each segment's reason, its influence
    for o in offers:
        V[o] = np.empty(n_seg)
        V_inf[o] = np.zeros((len(ev), n_seg))
        for r in np.unique(index_reasons):
            cols = index_reasons == r
            if v_col is None:
                V[o][cols] = float(value)
                continue
            cell = back & (reasons == r) & (received == o)
            if not cell.any():
                return None  # an empty cell takes expected_values' fallback: bootstrap it
            v = v_col[cell].mean()
            V[o][cols] = v
            V_inf[o][np.ix_(cell, cols)] = ((v_col[cell] - v) / cell.sum())[:, None]
    up = {o: P[o] - P[design.control] for o in offers}
    ec = {o: P[o] * cost[o] for o in offers}
    U = {o: up[o] @ mean for o in offers}
    C = {o: ec[o] @ mean for o in offers}
    dU = {o: mean.T @ (dens[o][:, None] * X[o] - dens[design.control][:, None]
                       * X[design.control]) for o in offers}  # segments x coefficients
    dC = {o: mean.T @ ((cost[o] * dens[o])[:, None] * X[o]) for o in offers}
    out = {}
    for obj, (_, top, second) in pairs.items():
        grad = np.zeros((n_seg, len(params)))
        infl = np.zeros((len(ev), n_seg))
        for sign, pick in ((1.0, top), (-1.0, second)):
            for k, o in enumerate(offers):
                s = pick == k
                if not s.any():
                    continue
                u, c, v = U[o][s], C[o][s], V[o][s]
                if obj == "profit":
                    g_u, g_c, g_v = v, -np.ones_like(u), u
                elif obj == "roi":
                    g_u, g_c, g_v = v / c, -v * u / c**2, u / c
                else:  # regained: the uplift
                    g_u, g_c, g_v = np.ones_like(u), np.zeros_like(u), np.zeros_like(u)
                grad[s] += sign * (g_u[:, None] * dU[o][s] + g_c[:, None] * dC[o][s])
                # each evaluated row's influence: through the segment means it belongs to
                # and through the value cell it is a returner of
                infl[:, s] += sign * (mean[:, s] * (g_u * (up[o][:, None] - u)
                                                    + g_c * (ec[o][:, None] - c))
                                      + g_v * V_inf[o][:, s])
        var = np.einsum("sk,kl,sl->s", grad, cov, grad) + (infl**2).sum(axis=0)
        out[obj] = np.sqrt(var)
    return out


def evaluate_policy(scores: OfferScores, assignment: pd.Series | np.ndarray | str,
                    per: float | None = 10_000) -> pd.Series:
    """Expected outcome of giving each customer one offer (or ``none``).

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    assignment : Series, array or str
        The offer per customer (names among the scored ones, or the control arm); a
        single name gives everyone that offer.
    per : float, optional
        Scale totals to this many lapsed customers (default 10,000); ``None`` = totals.

    Returns
    -------
    pandas.Series
        ``contacted`` (customers sent an offer), ``regained`` (expected returns, contacted
        or not: the market-share view), ``incremental`` (returns over the no-offer
        policy), ``cost`` (expected, paid by acceptors), ``value`` (incremental value, or
        gross when ``scores.incremental`` is False), ``profit`` = value - cost, ``roi`` =
        profit / cost.
    """
    n = len(scores.probability)
    if isinstance(assignment, str):
        assignment = pd.Series(assignment, index=scores.probability.index)
    a = pd.Series(np.asarray(assignment, dtype=object), index=scores.probability.index)
    d = scores._describe(a)
    contacted = a.to_numpy() != scores.control
    regained = np.where(contacted, d["p_return"], scores.probability[scores.control]).sum()
    cost = d["expected_cost"].sum()
    profit = d["expected_profit"].sum()
    k = 1.0 if per is None else per / n
    return pd.Series({
        "contacted": contacted.sum() * k,
        "regained": regained * k,
        "incremental": d["uplift"].sum() * k,
        "cost": cost * k,
        "value": (profit + cost) * k,
        "profit": profit * k,
        "roi": profit / cost if cost > 0 else np.nan,
    })


def budget_policy(
    scores: OfferScores,
    budget: float,
    offers: Sequence[str] | None = None,
    tol: float = 1e-6,
) -> pd.Series:
    """The most profitable assignment whose expected offer cost stays within ``budget``.

    Each customer gets the offer maximising ``profit - mu * expected_cost`` (or none when
    that is negative); ``mu >= 0`` is found by bisection so the total expected cost meets
    the budget (a Lagrangian relaxation: optimal up to one customer at the margin).

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    budget : float
        Total expected offer spend over the scored customers, USD.
    offers : sequence of str, optional
        Offers to choose from (default ``scores.single_offers``).
    tol : float
        Relative tolerance of the bisection on ``mu``.

    Returns
    -------
    pandas.Series
        The offer per customer (the control arm for those not contacted); ``attrs["mu"]``
        is the shadow price of a budget dollar.
    """
    offers = list(offers or scores.single_offers)
    prof = scores.expected_profit[offers].to_numpy()
    ecost = scores.expected_cost[offers].to_numpy()
    names = np.array([scores.control, *offers], dtype=object)

    def assign(mu: float) -> tuple[np.ndarray, float]:
        obj = np.column_stack([np.zeros(len(prof)), prof - mu * ecost])
        j = obj.argmax(axis=1)
        spent = float(np.where(j > 0, ecost[np.arange(len(j)), np.maximum(j - 1, 0)], 0).sum())
        return j, spent

    j, spent = assign(0.0)
    mu = 0.0
    if spent > budget:
        lo, hi = 0.0, 1.0
        while assign(hi)[1] > budget:
            hi *= 2
            if hi > 1e12:
                break
        while hi - lo > tol * max(1.0, hi):
            mid = 0.5 * (lo + hi)
            if assign(mid)[1] > budget:
                lo = mid
            else:
                hi = mid
        mu = hi
        j, spent = assign(mu)
    out = pd.Series(names[j], index=scores.probability.index, name="offer")
    out.attrs["mu"] = mu
    out.attrs["expected_cost"] = spent
    return out


def budget_frontier(
    scores: OfferScores,
    budgets: Sequence[float] | np.ndarray | None = None,
    offers: Sequence[str] | None = None,
    per: float | None = 10_000,
) -> pd.DataFrame:
    """Expected outcome of the best assignment under each of a range of budgets.

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    budgets : sequence of float, optional
        Budgets on expected offer spend, USD per ``per`` customers; default 12 steps from
        0 to the spend of the unconstrained most profitable policy.
    offers : sequence of str, optional
        Offers to choose from.
    per : float, optional
        Scale to this many lapsed customers.

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``budget`` and the columns of :func:`evaluate_policy`.
    """
    scale = 1.0 if per is None else len(scores.probability) / per
    if budgets is None:
        full = evaluate_policy(scores, budget_policy(scores, np.inf, offers), per)["cost"]
        budgets = np.linspace(0, full, 12)
    rows = []
    for b in budgets:
        r = evaluate_policy(scores, budget_policy(scores, float(b) * scale, offers), per)
        r["budget"] = float(b)
        rows.append(r)
    out = pd.DataFrame(rows)
    return out[["budget", *[c for c in out.columns if c != "budget"]]]


def policy_table(
    scores: OfferScores,
    df: pd.DataFrame,
    budgets: Sequence[float] = (),
    per: float | None = 10_000,
) -> pd.DataFrame:
    """Expected market share and profit of the standard win-back policies.

    Policies: no offers; every customer one offer (each of the scored single offers); each
    rule arm of the design (the study's tailored arm: "tailored by reason"); the best offer
    per segment (reason x behaviour); the model's best offer per customer; the model's best
    assignment under each expected-spend budget in ``budgets`` (USD per ``per``
    customers) and, for comparison, the same budget spent on a random share of customers
    all given the most profitable single offer.

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers` on ``df``.
    df : pandas.DataFrame
        The same customers (for reasons and segments).
    budgets : sequence of float
        Budgets on expected offer spend, USD per ``per`` customers.
    per : float, optional
        Scale to this many lapsed customers.

    Returns
    -------
    pandas.DataFrame
        One row per policy with the columns of :func:`evaluate_policy` and ``kind``
        (``baseline``, ``one offer``, the rule arm's name, ``segment-targeted``,
        ``model-targeted``, ``budget``, ``random, budget``).
    """
    idx = scores.probability.index
    design = scores.design
    pol: dict[str, tuple[str, pd.Series | str]] = {"no offers": ("baseline", scores.control)}
    for o in scores.single_offers:
        pol[f"all {o}"] = ("one offer", o)
    reasons = df[REASON_COLUMN] if REASON_COLUMN in df.columns else None
    for rule in design.rules:
        pol[f"{rule} by reason"] = (rule, rule if rule in scores.offers else pd.Series(
            design.received_for(rule, reasons, n=len(df)), index=idx))
    seg = best_offer_by_segment(scores, df)
    keys = pd.MultiIndex.from_arrays([df[REASON_COLUMN], behaviour_segment(df)])
    pol["best offer per segment"] = ("segment-targeted",
                                     pd.Series(seg["best_offer"].reindex(keys).to_numpy(),
                                               index=idx))
    pol["model: best offer per customer"] = ("model-targeted",
                                             scores.best()["best_offer"])
    n = len(idx)
    scale = 1.0 if per is None else n / per
    for b in budgets:
        pol[f"model, budget ${b:,.0f}"] = ("budget", budget_policy(scores, b * scale))
    rows = {}
    for name, (kind, a) in pol.items():
        r = evaluate_policy(scores, a, per)
        r["kind"] = kind
        rows[name] = r
    # the same budgets spent on a random share of customers, all given the best single offer
    singles = {k: v for k, v in rows.items() if v["kind"] == "one offer"}
    if budgets and singles:
        top = max(singles, key=lambda k: singles[k]["profit"])
        full, none = rows[top], rows["no offers"]
        for b in budgets:
            share = min(1.0, b / full["cost"]) if full["cost"] > 0 else 0.0
            r = none.copy()
            for col in ("contacted", "incremental", "cost", "value", "profit"):
                r[col] = share * full[col]
            r["regained"] = none["regained"] + share * (full["regained"] - none["regained"])
            r["roi"] = full["roi"]
            r["kind"] = "random, budget"
            rows[f"random {top.removeprefix('all ')}, budget ${b:,.0f}"] = r
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "policy"
    return out


def policy_frontier(
    scores: OfferScores,
    weights: Sequence[float] | np.ndarray | None = None,
    offers: Sequence[str] | None = None,
    per: float | None = 10_000,
) -> pd.DataFrame:
    """The efficient frontier between customers regained and profit.

    For a weight ``lam`` (USD placed on each extra customer regained, on top of its
    value), every customer gets the offer maximising ``profit + lam * uplift`` (or none):
    ``lam = 0`` is the most profitable policy, a large ``lam`` the one that regains the
    most customers. No policy regains more customers at a higher profit than a frontier
    point (for the model's probabilities).

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    weights : sequence of float, optional
        Values of ``lam``, USD per customer; default 0 and a geometric grid to 20,000.
    offers : sequence of str, optional
        Offers to choose from (default ``scores.single_offers``).
    per : float, optional
        Scale to this many lapsed customers.

    Returns
    -------
    pandas.DataFrame
        One row per weight: ``weight`` and the columns of :func:`evaluate_policy`, plus the
        share of customers given each offer (``share_<offer>``).
    """
    offers = list(offers or scores.single_offers)
    if weights is None:
        weights = np.concatenate([[0.0], np.geomspace(1, 20_000, 60)])
    prof = scores.expected_profit[offers].to_numpy()
    up = scores.uplift[offers].to_numpy()
    names = np.array([scores.control, *offers], dtype=object)
    rows = []
    for lam in weights:
        obj = np.column_stack([np.zeros(len(prof)), prof + lam * up])
        choice = pd.Series(names[obj.argmax(axis=1)], index=scores.probability.index)
        r = evaluate_policy(scores, choice, per)
        r["weight"] = lam
        for o in offers:
            r[f"share_{o}"] = float((choice == o).mean())
        rows.append(r)
    out = pd.DataFrame(rows)
    return out[["weight", *[c for c in out.columns if c != "weight"]]]


def published_arm_points(per: float = 10_000, tailored_cost: float | None = None
                         ) -> pd.DataFrame:
    """The HBR exhibit's arms as (customers regained, profit) per ``per`` customers offered.

    ROI is profit per dollar of offer cost and the cost is paid by the ``r`` who accept, so
    the exhibit implies a profit per customer offered of ``ROI x r x cost``.

    Parameters
    ----------
    per : float
        Customers offered.
    tailored_cost : float, optional
        Cost per reacquired customer of the tailored arm, the one arm whose cost the
        exhibit leaves out (it depends on the mix of reasons:
        :func:`~winback_study.analysis.roi.tailored_cost_mix`); without it that row has NaN
        profit.

    Returns
    -------
    pandas.DataFrame
        One row per arm: ``success_rate``, ``roi`` (fractions), ``cost_per_reacquired``,
        ``regained`` and ``profit`` per ``per`` customers offered.
    """
    ex = OFFER_EXHIBIT.copy()
    cost = ex["cost_per_reacquired"].copy()
    if tailored_cost is not None:
        cost = cost.fillna(float(tailored_cost))
    r = ex["success_rate_pct"] / 100
    roi = ex["roi_pct"] / 100
    return pd.DataFrame({"success_rate": r, "roi": roi, "cost_per_reacquired": cost,
                         "regained": r * per, "profit": roi * r * cost * per})


