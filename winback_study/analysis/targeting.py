"""Whom to win back, with what: targeting lapsed customers by expected win-back profit.

Everything here works with **any fitted return model that has a ``predict(df)`` method
returning P(return) per row** (a statsmodels formula result, the package's
``fit_return_model``, a scikit-learn wrapper ...). The offer enters the model through the
columns ``offer_received`` and ``offer_matches_reason``; :func:`counterfactual` rewrites
them so the model can answer "what if this customer got that offer?".

Expected win-back profit of offering ``o`` to customer ``i`` uses the package's ROI
definition (:mod:`winback_study.analysis.offer_experiment`): cost is paid only by acceptors and
value counts only the *incremental* return over the no-offer baseline::

    profit_io = (P_i(o) - P_i(none)) * V_io - P_i(o) * c_o          (incremental=True)
    profit_io = P_i(o) * V_io - P_i(o) * c_o                         (incremental=False)

``V_io`` is the value of the customer if reacquired with offer ``o``. With the default
``value="slv"`` it is the mean second-lifetime value of the reacquired customers of the
same defection reason who received ``o`` (the true SLV is known only for those who came
back, so a per-customer SLV cannot be used for ranking without leaking the outcome); a
number or a function of the (counterfactual) frame replaces it, e.g. a fitted value
model's ``predict``.

Two kinds of evaluation:

* **realised, on the experiment** (:func:`gain_curve`, :func:`qini_curve`,
  :func:`top_fraction_response`): within a randomised arm, contact only the customers a
  score ranks highest; the no-offer group, ranked by the same score, gives the return rate
  those customers would have had anyway;
* **expected, under the model** (:func:`evaluate_policy`, :func:`policy_table`,
  :func:`policy_frontier`, :func:`budget_policy`): policies that give each customer one
  offer (or none), valued with the model's probabilities.

Sample size and power for a new test: :func:`sample_size_per_arm`, :func:`design_power`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    test_proportions_2indep,
)

from winback_study.analysis.offer_experiment import (
    OFFER_ARMS,
    CostSpec,
    ValueSpec,
    customer_costs,
    customer_values,
    independent_rng,
)
from winback_study.data.describe import complaint_status
from winback_study.data.published import OFFER_EXHIBIT
from winback_study.design import StudyDesign, resolve_design

__all__ = [
    "TARGET_OFFERS",
    "ReturnModel",
    "counterfactual",
    "expected_values",
    "OfferScores",
    "score_offers",
    "rank_customers",
    "cross_fit_predict",
    "holdout_mask",
    "GainCurve",
    "gain_curve",
    "top_fraction_response",
    "behaviour_segment",
    "best_offer_by_segment",
    "segment_margin_se",
    "evaluate_policy",
    "policy_table",
    "policy_frontier",
    "budget_policy",
    "budget_frontier",
    "published_arm_points",
    "uplift_by_segment",
    "QiniCurve",
    "qini_curve",
    "sample_size_per_arm",
    "design_power",
    "sample_size_table",
]

#: The concrete offers a targeting policy can choose between (besides no offer).
TARGET_OFFERS: tuple[str, ...] = ("discount", "upgrade", "bundled")
#: Default grid of shares of customers contacted for the gain and Qini curves.
DEFAULT_FRACTIONS: np.ndarray = np.round(np.linspace(0.05, 1.0, 20), 4)


class ReturnModel(Protocol):
    """Anything with ``predict(df) -> P(return)`` per row."""

    def predict(self, df: pd.DataFrame) -> Any: ...


# --------------------------------------------------------------------------------------
# counterfactual offers and scores
# --------------------------------------------------------------------------------------
def counterfactual(df: pd.DataFrame, offer: str, costs: Mapping[str, float] | None = None,
                   design: StudyDesign | None = None) -> pd.DataFrame:
    """A copy of ``df`` as if every customer had been sent arm ``offer``.

    :meth:`StudyDesign.assign` with the design's costs (changed by ``costs``).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (a rule arm such as ``tailored`` needs ``defection_reason``).
    offer : str
        An arm of the design.
    costs : mapping, optional
        Offer -> cost per acceptor (USD), changing the design's costs.
    design : StudyDesign, optional
        Default: :func:`~winback_study.design.resolve_design` of ``df``.

    Returns
    -------
    pandas.DataFrame
        ``offer``, ``offer_received``, ``offer_matches_reason`` and ``offer_cost`` rewritten;
        everything else unchanged.
    """
    return resolve_design(df, design).with_costs(costs).assign(df, offer)


def _received_for(df: pd.DataFrame, offer: str, design: StudyDesign | None = None) -> pd.Series:
    """The concrete offer each customer receives under arm ``offer``."""
    d = resolve_design(df, design)
    reasons = df["defection_reason"] if "defection_reason" in df.columns else None
    if reasons is None:
        return pd.Series(d.received_for(offer, pd.Series(index=df.index, dtype=object)) if
                         offer not in d.rules else d.received_for(offer, None), index=df.index)
    return pd.Series(d.received_for(offer, reasons), index=df.index)


def _predict(model: ReturnModel, frame: pd.DataFrame) -> np.ndarray:
    p = np.asarray(model.predict(frame), dtype=float).reshape(-1)
    if p.shape != (len(frame),):
        raise ValueError(f"model.predict returned shape {p.shape} for {len(frame)} rows")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("model.predict must return probabilities in [0, 1]")
    return p


def expected_values(
    df: pd.DataFrame,
    offer: str,
    value: ValueSpec = "slv",
    by: Sequence[str] = ("defection_reason",),
) -> np.ndarray:
    """Value of each customer if reacquired with ``offer``, USD.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    offer : str
        Offer (``tailored`` maps by reason).
    value : str, float or callable
        A column (default ``slv``): the mean of that column over the *reacquired*
        customers with the same ``by`` values who received the same offer (falling back
        to the offer's mean, then the overall mean, for empty cells). A number: that value
        for everyone. A callable: ``value(counterfactual(df, offer))``.
    by : sequence of str
        Segments for the column means.

    Returns
    -------
    numpy.ndarray
        One value per row.
    """
    if callable(value):
        return customer_values(counterfactual(df, offer), value)
    if not isinstance(value, str):
        return np.full(len(df), float(value))
    back = df[df["reacquired"] == 1]
    keys = [*by, "offer_received"]
    cell = back.groupby([back[k].astype(str) for k in keys])[value].mean()
    per_offer = back.groupby(back["offer_received"].astype(str))[value].mean()
    received = _received_for(df, offer)
    idx = pd.MultiIndex.from_arrays([*(df[k].astype(str) for k in by), received])
    out = cell.reindex(idx).to_numpy(dtype=float)
    gap = ~np.isfinite(out)
    if gap.any():
        out[gap] = received[gap].map(per_offer).to_numpy(dtype=float)
    gap = ~np.isfinite(out)
    if gap.any():
        out[gap] = float(back[value].mean())
    return out


@dataclass(repr=False)
class OfferScores:
    """Per-customer return probabilities, values and costs under each offer.

    Attributes
    ----------
    probability : pandas.DataFrame
        P(return | offer), columns ``none`` and each scored offer, one row per customer.
    value : pandas.DataFrame
        Value if reacquired under each offer, USD.
    cost : pandas.DataFrame
        Offer cost paid if the customer accepts, USD.
    incremental : bool
        Whether value counts only the return over the no-offer baseline.
    """

    probability: pd.DataFrame
    value: pd.DataFrame
    cost: pd.DataFrame
    incremental: bool = True

    @property
    def offers(self) -> list[str]:
        """The scored offers (no ``none``)."""
        return [c for c in self.probability.columns if c != "none"]

    @property
    def uplift(self) -> pd.DataFrame:
        """P(return | offer) - P(return | no offer)."""
        return self.probability[self.offers].sub(self.probability["none"], axis=0)

    @property
    def expected_cost(self) -> pd.DataFrame:
        """P(return | offer) x cost: the cost is paid only by acceptors."""
        return self.probability[self.offers] * self.cost[self.offers]

    @property
    def expected_profit(self) -> pd.DataFrame:
        """Expected win-back profit of each offer, USD per customer."""
        gain = self.uplift if self.incremental else self.probability[self.offers]
        return gain * self.value[self.offers] - self.expected_cost

    def best(self, offers: Sequence[str] | None = None, allow_none: bool = True) -> pd.DataFrame:
        """The most profitable offer for each customer.

        Parameters
        ----------
        offers : sequence of str, optional
            Offers to choose from (default the scored ones except ``tailored``).
        allow_none : bool
            Choose ``none`` when every offer's expected profit is negative.

        Returns
        -------
        pandas.DataFrame
            ``best_offer``, ``expected_profit``, ``p_return``, ``uplift``, ``value``,
            ``expected_cost`` per customer.
        """
        offers = list(offers or [o for o in self.offers if o != "tailored"])
        prof = self.expected_profit[offers].to_numpy()
        j = prof.argmax(axis=1)
        best = np.take_along_axis(prof, j[:, None], axis=1)[:, 0]
        choice = np.array(offers, dtype=object)[j]
        if allow_none:
            choice = np.where(best > 0, choice, "none")
        return self._describe(pd.Series(choice, index=self.probability.index))

    def _describe(self, choice: pd.Series) -> pd.DataFrame:
        cols = list(self.probability.columns)
        j = pd.Index(cols).get_indexer(choice.astype(str))
        if (j < 0).any():
            raise ValueError(f"unknown offers in the assignment: "
                             f"{sorted(set(choice[j < 0].astype(str)))}")
        rows = np.arange(len(choice))
        p = self.probability.to_numpy()[rows, j]
        p0 = self.probability["none"].to_numpy()
        zero = np.zeros(len(self.probability))
        full = self.probability.columns
        v = self.value.reindex(columns=full).fillna(0).to_numpy()[rows, j]
        c = self.cost.reindex(columns=full).fillna(0).to_numpy()[rows, j]
        none = choice.to_numpy() == "none"
        uplift = np.where(none, zero, p - p0)
        ecost = np.where(none, zero, p * c)
        gain = uplift if self.incremental else np.where(none, zero, p)
        return pd.DataFrame(
            {"best_offer": choice.to_numpy(), "expected_profit": gain * v - ecost,
             "p_return": p, "uplift": uplift, "value": v, "expected_cost": ecost},
            index=self.probability.index,
        )

    def summary(self) -> str:
        """Mean probability, uplift, value and expected profit per offer."""
        t = pd.DataFrame({
            "P(return)": self.probability.mean(),
            "uplift": self.uplift.mean(),
            "value": self.value.mean(),
            "cost": self.cost.mean(),
            "expected profit": self.expected_profit.mean(),
        })
        head = (f"Offer scores for {len(self.probability):,} customers "
                f"({'incremental' if self.incremental else 'gross'} value), means per customer:")
        return head + "\n" + t.round(3).to_string()

    def __repr__(self) -> str:
        return self.summary()


def score_offers(
    df: pd.DataFrame,
    model: ReturnModel,
    offers: Sequence[str] = (*TARGET_OFFERS, "tailored"),
    value: ValueSpec = "slv",
    costs: Mapping[str, float] | None = None,
    incremental: bool = True,
    value_by: Sequence[str] = ("defection_reason",),
) -> OfferScores:
    """Score every customer under every offer with a fitted return model.

    Parameters
    ----------
    df : pandas.DataFrame
        Lapsed customers (the study table, or your own with the model's columns).
    model : object with ``predict(df)``
        Fitted return model giving P(return) per row.
    offers : sequence of str
        Offers to score (``none`` is always scored as the baseline).
    value : str, float or callable
        See :func:`expected_values`.
    costs : mapping, optional
        Offer costs, USD per accepting customer (merged over the HBR exhibit's).
    incremental : bool
        Count only the return over the no-offer baseline (the package's ROI definition).
    value_by : sequence of str
        Segments for column-mean values (see :func:`expected_values`).

    Returns
    -------
    OfferScores
    """
    allo = ["none", *[o for o in offers if o != "none"]]
    prob, val, cost = {}, {}, {}
    for o in allo:
        frame = counterfactual(df, o, costs)
        prob[o] = _predict(model, frame)
        cost[o] = frame["offer_cost"].to_numpy(dtype=float) if o != "none" else np.zeros(len(df))
        val[o] = expected_values(df, o, value, value_by) if o != "none" else np.full(len(df), np.nan)
    idx = df.index
    return OfferScores(pd.DataFrame(prob, index=idx), pd.DataFrame(val, index=idx),
                       pd.DataFrame(cost, index=idx), incremental)


def rank_customers(scores: OfferScores, offer: str | None = None) -> pd.DataFrame:
    """Customers from the most to the least profitable to contact.

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    offer : str, optional
        Rank by this offer's expected profit; default each customer's best offer.

    Returns
    -------
    pandas.DataFrame
        Sorted descending by ``expected_profit``: ``offer``, ``expected_profit``,
        ``p_return``, ``uplift``, ``value``, ``expected_cost``, ``rank`` (1 = first),
        ``share_contacted`` and ``cumulative_profit`` when contacting down to that row.
    """
    if offer is None:
        t = scores.best(allow_none=False)
    else:
        t = scores._describe(pd.Series(offer, index=scores.probability.index))
    t = t.rename(columns={"best_offer": "offer"})
    t = t.iloc[np.argsort(-t["expected_profit"].to_numpy(), kind="stable")]
    t["rank"] = np.arange(1, len(t) + 1)
    t["share_contacted"] = t["rank"] / len(t)
    t["cumulative_profit"] = t["expected_profit"].cumsum()
    return t


def cross_fit_predict(
    df: pd.DataFrame,
    fit: Callable[[pd.DataFrame], ReturnModel],
    folds: int = 2,
    seed: int | None = 0,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.Series:
    """Out-of-fold predictions: each customer scored by a model that did not see them.

    Parameters
    ----------
    df : pandas.DataFrame
        Customers.
    fit : callable
        ``fit(train_df) -> model`` with ``predict``.
    folds : int
        Number of folds (random, by customer).
    seed : int, optional
        Seed of the fold assignment (an independent stream, see
        :func:`~winback_study.analysis.offer_experiment.independent_rng`).
    transform : callable, optional
        Applied to the held-out rows before predicting (e.g. ``lambda d:
        counterfactual(d, "discount")``).

    Returns
    -------
    pandas.Series
        One prediction per row of ``df``.
    """
    if folds < 2:
        raise ValueError("folds must be at least 2")
    fold = independent_rng(seed).permutation(len(df)) % folds
    out = np.empty(len(df))
    for k in range(folds):
        test = fold == k
        model = fit(df[~test])
        held = df[test] if transform is None else transform(df[test])
        out[test] = _predict(model, held)
    return pd.Series(out, index=df.index, name="p_return")


def holdout_mask(n: int, share: float = 0.5, seed: int | None = 0) -> np.ndarray:
    """Random boolean mask marking about ``share`` of ``n`` rows (e.g. a training half).

    Uses :func:`~winback_study.analysis.offer_experiment.independent_rng`, so the split is
    independent of a study simulated with the same seed.

    Parameters
    ----------
    n : int
        Number of rows.
    share : float
        Expected share of rows marked True.
    seed : int, optional
        Seed.

    Returns
    -------
    numpy.ndarray
        Boolean mask of length ``n``.
    """
    if not 0 < share < 1:
        raise ValueError("share must be between 0 and 1")
    return independent_rng(seed).random(n) < share


# --------------------------------------------------------------------------------------
# realised evaluation on the experiment
# --------------------------------------------------------------------------------------
def _as_series(score: pd.Series | np.ndarray | str, df: pd.DataFrame) -> np.ndarray:
    if isinstance(score, str):
        return df[score].to_numpy(dtype=float)
    s = np.asarray(score, dtype=float).reshape(-1)
    if s.shape != (len(df),):
        raise ValueError(f"score must have one value per row ({len(df)}), got {s.shape}")
    return s


def _order(score: np.ndarray) -> np.ndarray:
    """Indices from highest to lowest score; ties keep row order (stable)."""
    return np.argsort(-score, kind="stable")


def _fractions(fractions: Sequence[float] | np.ndarray | None) -> np.ndarray:
    f = DEFAULT_FRACTIONS if fractions is None else np.asarray(fractions, dtype=float)
    if np.any((f <= 0) | (f > 1)):
        raise ValueError("fractions must be in (0, 1]")
    return np.unique(np.append(f, 1.0))


@dataclass(repr=False)
class GainCurve:
    """What contacting only the top-scored share of an arm would have achieved.

    Attributes
    ----------
    curve : pandas.DataFrame
        One row per share contacted: ``share_contacted``, ``contacted``, ``reacquired``,
        ``response_rate`` (among the contacted), ``lift`` (over contacting everyone),
        ``baseline_rate`` (the same top share of the no-offer group), ``incremental``
        (returns over that baseline), ``regained_total`` (contacted returners plus the
        no-offer return of those not contacted: the market-share view), ``cost``,
        ``profit`` (USD, package ROI definition), ``random_profit`` and
        ``random_regained`` (contacting a random share), all for the arm's size.
    arm : str
        The arm evaluated.
    """

    curve: pd.DataFrame
    arm: str

    def at(self, share: float) -> pd.Series:
        """The row nearest to ``share`` contacted."""
        i = int(np.argmin(np.abs(self.curve["share_contacted"].to_numpy() - share)))
        return self.curve.iloc[i]

    @property
    def best_share(self) -> float:
        """Share contacted with the highest realised profit."""
        return float(self.curve.loc[self.curve["profit"].idxmax(), "share_contacted"])

    def summary(self) -> str:
        """Top 20% / 40% / best share against everyone, in words."""
        c = self.curve
        everyone = c.iloc[-1]
        lines = [f"Gain from targeting, {self.arm} arm ({int(everyone['contacted']):,} customers):",
                 f"{'share':>7}{'response':>10}{'lift':>6}{'regained':>10}{'profit $':>13}"
                 f"{'random $':>13}"]
        for s in sorted({0.2, 0.4, self.best_share, 1.0}):
            r = self.at(s)
            lines.append(f"{r['share_contacted']:>7.0%}{r['response_rate']:>10.1%}"
                         f"{r['lift']:>6.2f}{r['regained_total']:>10,.0f}{r['profit']:>13,.0f}"
                         f"{r['random_profit']:>13,.0f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def gain_curve(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    arm: str,
    *,
    control: str = "none",
    arm_col: str = "offer",
    value: ValueSpec = "slv",
    costs: CostSpec = None,
    fractions: Sequence[float] | None = None,
    incremental: bool = True,
) -> GainCurve:
    """Realised gain from contacting only the top-scored share of an experiment arm.

    Customers of ``arm`` are sorted by ``score`` (highest first); contacting the top share
    ``q`` yields their realised returns, costs and values. The no-offer group, sorted by
    the same score, gives what the same kind of customers do without an offer (the arms
    were randomised, so the top ``q`` of each are comparable).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        One score per row of ``df``, computed as if the customer got ``arm``'s offer
        (for example ``scores.probability[arm]`` or ``scores.expected_profit[arm]``).
    arm : str
        The arm to evaluate.
    control, arm_col : str
        The no-offer arm and the arm column.
    value, costs
        Realised value of a reacquired customer and the offer costs
        (see :func:`~winback_study.analysis.offer_experiment.offer_experiment`).
    fractions : sequence of float, optional
        Shares contacted (1.0 is always added).
    incremental : bool
        Profit counts only returns over the baseline (package definition).

    Returns
    -------
    GainCurve
    """
    s = _as_series(score, df)
    labels = df[arm_col].astype(str).to_numpy()
    y = df["reacquired"].to_numpy(dtype=float)
    v = np.nan_to_num(customer_values(df, value)) * y
    c = customer_costs(df, costs, arm_col) * y
    t, k = labels == arm, labels == control
    if not t.any() or not k.any():
        raise ValueError(f"need customers in both {arm!r} and {control!r}")
    ot, oc = np.flatnonzero(t)[_order(s[t])], np.flatnonzero(k)[_order(s[k])]
    f = _fractions(fractions)
    nt, nc = len(ot), len(oc)
    kt = np.maximum(1, np.round(f * nt).astype(int))
    kc = np.maximum(1, np.round(f * nc).astype(int))
    cy, cv, cc = (np.cumsum(a[ot])[kt - 1] for a in (y, v, c))
    cy0 = np.cumsum(y[oc])[kc - 1]
    b_top = cy0 / kc
    rest = nc - kc
    with np.errstate(divide="ignore", invalid="ignore"):
        b_rest = np.where(rest > 0, (y[oc].sum() - cy0) / np.maximum(rest, 1), 0.0)
        vbar = np.where(cy > 0, cv / cy, 0.0)
    incr = cy - b_top * kt
    gain = incr * vbar if incremental else cv
    profit = gain - cc
    r_all = cy[-1] / nt
    curve = pd.DataFrame({
        "share_contacted": f,
        "contacted": kt,
        "reacquired": cy,
        "response_rate": cy / kt,
        "lift": (cy / kt) / r_all,
        "baseline_rate": b_top,
        "incremental": incr,
        "regained_total": cy + b_rest * (nt - kt),
        "cost": cc,
        "profit": profit,
        "random_profit": f * profit[-1],
        "random_regained": f * cy[-1] + (1 - f) * nt * (y[oc].mean()),
    })
    return GainCurve(curve=curve, arm=arm)


def top_fraction_response(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    fraction: float = 0.2,
    arms: Sequence[str] = OFFER_ARMS,
    arm_col: str = "offer",
    alpha: float = 0.05,
) -> pd.Series:
    """Response rate when contacting only the top ``fraction`` of each arm (study's P10).

    Within each arm the customers with the highest ``score`` (for example the predicted
    probability of return under the offer they got) are "contacted"; the pooled response
    rate of those is compared with everyone's.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        One score per row.
    fraction : float
        Share of each arm contacted.
    arms : sequence of str
        Arms pooled.
    arm_col : str
        The arm column.
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.Series
        ``fraction``, ``contacted``, ``response_rate_top`` with Wilson ``top_ci_low``/
        ``top_ci_high``, ``offered``, ``response_rate_all`` with its interval,
        ``difference`` (top minus all), ``rest_rate`` and ``pvalue`` (top against the rest,
        score test).
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    s = _as_series(score, df)
    inarm = df[arm_col].astype(str).isin(arms).to_numpy()
    sub = pd.DataFrame({"arm": df[arm_col].astype(str).to_numpy()[inarm], "s": s[inarm],
                        "y": df["reacquired"].to_numpy(dtype=float)[inarm]})
    rank = sub.groupby("arm")["s"].rank(ascending=False, method="first")
    size = sub.groupby("arm")["s"].transform("size")
    top = (rank <= np.maximum(1, np.round(fraction * size))).to_numpy()
    kt, nt = sub["y"][top].sum(), int(top.sum())
    ka, na = sub["y"].sum(), len(sub)
    tl, th = proportion_confint(kt, nt, alpha=alpha, method="wilson")
    al, ah = proportion_confint(ka, na, alpha=alpha, method="wilson")
    nr, kr = na - nt, ka - kt
    p = test_proportions_2indep(kt, nt, kr, nr, method="score").pvalue if nr > 0 else np.nan
    return pd.Series({
        "fraction": fraction, "contacted": nt, "response_rate_top": kt / nt,
        "top_ci_low": tl, "top_ci_high": th, "offered": na, "response_rate_all": ka / na,
        "all_ci_low": al, "all_ci_high": ah, "difference": kt / nt - ka / na,
        "rest_rate": kr / nr if nr else np.nan, "pvalue": float(p),
    })


# --------------------------------------------------------------------------------------
# segments and policies (expected, under the model)
# --------------------------------------------------------------------------------------
def behaviour_segment(df: pd.DataFrame) -> pd.Series:
    """First-lifetime behaviour: complaint status x referrer (six levels).

    Complaint status is ``no complaint``, ``all resolved`` or ``some unresolved``
    (:func:`~winback_study.models.return_probability.complaint_status`); a referrer made at least
    one referral.
    """
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
        Offers to choose from (default the scored ones except ``tailored``).
    objective : str
        ``profit`` (expected win-back profit per customer), ``roi`` (expected profit per
        dollar of expected offer cost) or ``regained`` (uplift: extra customers back).
    allow_none : bool
        With ``objective="profit"``, recommend no offer where every offer loses money.

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
    offers = list(offers or [o for o in scores.offers if o != "tailored"])
    if by is None:
        by = [df["defection_reason"], behaviour_segment(df)]
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
        choice = np.where(best > 0, choice, "none")
    none = choice == "none"
    t["best_offer"] = choice
    t["best_score"] = np.where(none, 0.0, best)
    t["runner_up"] = names[j2]
    t["margin"] = best - score[rows, j2]
    p0 = scores.probability["none"].groupby(keys, observed=True).mean().to_numpy()
    t["p_return"] = np.where(none, p0, prob.to_numpy()[rows, j])
    t["uplift"] = np.where(none, 0.0, uplift.to_numpy()[rows, j])
    t["profit"] = np.where(none, 0.0, profit.to_numpy()[rows, j])
    return t


_OBJECTIVE_PREFIX = {"profit": "profit_", "roi": "roi_", "regained": "uplift_"}


def segment_margin_se(
    df: pd.DataFrame,
    train: np.ndarray,
    fit: Callable[[pd.DataFrame], ReturnModel],
    best: Mapping[str, pd.DataFrame],
    *,
    offers: Sequence[str] = TARGET_OFFERS,
    value: ValueSpec = "slv",
    costs: Mapping[str, float] | None = None,
    n_boot: int = 50,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Bootstrap standard error of each segment's lead of the best offer over the runner-up.

    Each replicate resamples the training rows (with replacement) and refits the return
    model with ``fit``, resamples the evaluation rows, rescores them
    (:func:`score_offers`) and recomputes every segment's score of the two offers that
    ``best`` names as best and runner-up. The standard deviation of their difference over
    the replicates is the standard error of the lead (``margin``) shown by
    :func:`best_offer_by_segment`: it covers both the model's estimation error and the
    sampling error of the values and segment means.

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
    offers : sequence of str
        Offers scored (those :func:`best_offer_by_segment` chose between).
    value, costs
        As in :func:`score_offers`.
    n_boot : int
        Replicates.
    seed : int or Generator, optional
        Seed of the resampling (an independent stream, see
        :func:`~winback_study.analysis.offer_experiment.independent_rng`).

    Returns
    -------
    pandas.DataFrame
        One row per segment (the index of the ``best`` tables), one column per objective:
        the standard error of ``margin`` in that objective's unit.
    """
    if n_boot < 2:
        raise ValueError("n_boot must be at least 2")
    unknown = sorted(set(best) - set(_OBJECTIVE_PREFIX))
    if unknown:
        raise ValueError(f"unknown objective(s) {unknown}; use {sorted(_OBJECTIVE_PREFIX)}")
    train = np.asarray(train, dtype=bool)
    if train.shape != (len(df),):
        raise ValueError(f"train must be a boolean mask with one entry per row ({len(df)})")
    offers = list(offers)
    # the two offers compared in each segment: the top-scoring one (also where "none" is
    # recommended because every offer loses money) and the runner-up
    pairs = {}
    for obj, t in best.items():
        cols = [_OBJECTIVE_PREFIX[obj] + o for o in offers]
        top = t[cols].to_numpy().argmax(axis=1)
        second = pd.Index(offers).get_indexer(t["runner_up"].astype(str))
        if (second < 0).any():
            raise ValueError(f"runner-up offers of the {obj!r} table are not among {offers}")
        pairs[obj] = (cols, top, second)
    rng = independent_rng(seed)
    tr, ev = np.flatnonzero(train), np.flatnonzero(~train)
    draws: dict[str, list[np.ndarray]] = {obj: [] for obj in best}
    for _ in range(n_boot):
        d_tr = df.iloc[rng.choice(tr, len(tr))].reset_index(drop=True)
        d_ev = df.iloc[rng.choice(ev, len(ev))].reset_index(drop=True)
        sc = score_offers(d_ev, fit(d_tr), offers=offers, value=value, costs=costs)
        seg = best_offer_by_segment(sc, d_ev, offers=offers)
        for obj, t in best.items():
            cols, top, second = pairs[obj]
            cells = seg.reindex(t.index)[cols].to_numpy()
            rows = np.arange(len(t))
            draws[obj].append(cells[rows, top] - cells[rows, second])
    index = next(iter(best.values())).index
    return pd.DataFrame({obj: np.std(np.vstack(v), axis=0, ddof=1) for obj, v in draws.items()},
                        index=index)


def evaluate_policy(scores: OfferScores, assignment: pd.Series | np.ndarray | str,
                    per: float | None = 10_000) -> pd.Series:
    """Expected outcome of giving each customer one offer (or ``none``).

    Parameters
    ----------
    scores : OfferScores
        From :func:`score_offers`.
    assignment : Series, array or str
        The offer per customer (names among the scored ones, or ``none``); a single name
        gives everyone that offer.
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
    contacted = a.to_numpy() != "none"
    regained = np.where(contacted, d["p_return"], scores.probability["none"]).sum()
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
        Offers to choose from (default the scored ones except ``tailored``).
    tol : float
        Relative tolerance of the bisection on ``mu``.

    Returns
    -------
    pandas.Series
        The offer per customer (``none`` for those not contacted); ``attrs["mu"]`` is the
        shadow price of a budget dollar.
    """
    offers = list(offers or [o for o in scores.offers if o != "tailored"])
    prof = scores.expected_profit[offers].to_numpy()
    ecost = scores.expected_cost[offers].to_numpy()
    names = np.array(["none", *offers], dtype=object)

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

    Policies: no offers; every customer one offer (each of the scored offers); tailored by
    reason; the best offer per segment (reason x behaviour); the model's best offer per
    customer; the model's best assignment under each expected-spend budget in
    ``budgets`` (USD per ``per`` customers) and, for comparison, the same budget spent on
    a random share of customers all given the most profitable single offer.

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
        One row per policy with the columns of :func:`evaluate_policy` and ``kind``.
    """
    idx = scores.probability.index
    pol: dict[str, tuple[str, pd.Series | str]] = {"no offers": ("baseline", "none")}
    for o in scores.offers:
        if o != "tailored":
            pol[f"all {o}"] = ("one offer", o)
    pol["tailored by reason"] = ("tailored", "tailored" if "tailored" in scores.offers else
                                 _received_for(df, "tailored"))
    seg = best_offer_by_segment(scores, df)
    keys = pd.MultiIndex.from_arrays([df["defection_reason"], behaviour_segment(df)])
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
        Offers to choose from (default the scored ones except ``tailored``).
    per : float, optional
        Scale to this many lapsed customers.

    Returns
    -------
    pandas.DataFrame
        One row per weight: ``weight`` and the columns of :func:`evaluate_policy`, plus the
        share of customers given each offer (``share_<offer>``).
    """
    offers = list(offers or [o for o in scores.offers if o != "tailored"])
    if weights is None:
        weights = np.concatenate([[0.0], np.geomspace(1, 20_000, 60)])
    prof = scores.expected_profit[offers].to_numpy()
    up = scores.uplift[offers].to_numpy()
    names = np.array(["none", *offers], dtype=object)
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
        Cost per reacquired customer of the tailored arm, which the exhibit leaves out
        (it depends on the mix of reasons); without it the tailored row has NaN profit.

    Returns
    -------
    pandas.DataFrame
        One row per arm: ``success_rate``, ``roi`` (fractions), ``cost_per_reacquired``,
        ``regained`` and ``profit`` per ``per`` customers offered.
    """
    ex = OFFER_EXHIBIT.copy()
    cost = ex["cost_per_reacquired"].copy()
    if tailored_cost is not None:
        cost["tailored"] = tailored_cost
    r = ex["success_rate_pct"] / 100
    roi = ex["roi_pct"] / 100
    return pd.DataFrame({"success_rate": r, "roi": roi, "cost_per_reacquired": cost,
                         "regained": r * per, "profit": roi * r * cost * per})


# --------------------------------------------------------------------------------------
# uplift
# --------------------------------------------------------------------------------------
def uplift_by_segment(
    df: pd.DataFrame,
    by: str | Sequence[str | pd.Series] = "defection_reason",
    arms: Sequence[str] = OFFER_ARMS,
    control: str = "none",
    arm_col: str = "offer",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Observed response gain of each offer over the no-offer group, by segment.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    by : str or sequence
        Segment column(s) or aligned Series.
    arms : sequence of str
        Offer arms.
    control, arm_col : str
        The no-offer arm and the arm column.
    alpha : float
        1 - confidence level of the Newcombe interval of each difference.

    Returns
    -------
    pandas.DataFrame
        One row per segment and arm: ``treated``, ``treated_rate``, ``control``,
        ``control_rate``, ``uplift`` (difference of rates), ``ci_low``, ``ci_high``.
    """
    keys = [by] if isinstance(by, str | pd.Series) else list(by)
    keys = [df[k] if isinstance(k, str) else k for k in keys]
    arm = df[arm_col].astype(str).rename("arm")
    g = df["reacquired"].groupby([*keys, arm], observed=True).agg(["size", "sum"])
    names = list(g.index.names[:-1])
    ctrl = g.xs(control, level="arm")
    rows = g[g.index.get_level_values("arm").isin(arms)]
    seg_idx = rows.index.droplevel("arm")
    c = ctrl.reindex(seg_idx)
    n1, k1 = rows["size"].to_numpy(float), rows["sum"].to_numpy(float)
    n0, k0 = c["size"].to_numpy(float), c["sum"].to_numpy(float)
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", alpha=alpha)
    out = pd.DataFrame({
        "treated": n1.astype(int), "treated_rate": k1 / n1, "control": n0.astype(int),
        "control_rate": k0 / n0, "uplift": k1 / n1 - k0 / n0, "ci_low": lo, "ci_high": hi,
    }, index=rows.index)
    out.index.names = [*names, "arm"]
    out = out.reset_index()
    out["arm"] = pd.Categorical(out["arm"], categories=list(arms))
    return out.sort_values([*names, "arm"], kind="stable").set_index([*names, "arm"])


@dataclass(repr=False)
class QiniCurve:
    """Qini curve of an uplift score on one arm against the no-offer group.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``share_targeted``, ``treated_targeted``, ``control_targeted``, ``incremental``
        (Qini: treated returners minus control returners scaled to the treated count, in
        customers of the arm), ``random`` (the same for random targeting).
    coefficient : float
        Area between the curve and the random line, per customer of the arm (share of the
        arm x share targeted): the extra returns per customer of the arm that ranking adds
        over random targeting, averaged over all shares targeted; 0 = no better than random.
    arm : str
        The arm.
    ci_low, ci_high : float
        Percentile bootstrap interval of the coefficient (NaN unless ``n_boot`` was given):
        treated and control customers resampled separately, the score held fixed.
    n_boot : int
        Bootstrap replicates behind the interval (0 = none).
    """

    curve: pd.DataFrame
    coefficient: float
    arm: str
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n_boot: int = 0

    @property
    def random_area(self) -> float:
        """Area under the random line per customer of the arm: half the arm's total uplift.

        The scale for :attr:`coefficient`: ranking adds ``coefficient / random_area`` to
        what random targeting gains, averaged over all shares targeted.
        """
        c = self.curve
        n = float(c["treated_targeted"].iloc[-1])
        return float(np.trapezoid(c["random"], c["share_targeted"]) / n) if n else np.nan

    def summary(self) -> str:
        """The coefficient and the incremental returns at 20/50/100% targeted."""
        c = self.curve.set_index("share_targeted")["incremental"]
        pts = ", ".join(f"{s:.0%}: {c.iloc[np.argmin(np.abs(c.index - s))]:,.0f}"
                        for s in (0.2, 0.5, 1.0))
        ci = (f" (bootstrap interval {self.ci_low:.4f} to {self.ci_high:.4f}, "
              f"{self.n_boot} replicates)" if self.n_boot else "")
        return (f"Qini curve, {self.arm} vs no offer: coefficient {self.coefficient:.4f}{ci}; "
                f"incremental returns when targeting {pts}")

    def __repr__(self) -> str:
        return self.summary()


def qini_curve(
    df: pd.DataFrame,
    score: pd.Series | np.ndarray | str,
    arm: str,
    *,
    control: str = "none",
    arm_col: str = "offer",
    fractions: Sequence[float] | None = None,
    n_boot: int = 0,
    seed: int | np.random.Generator | None = 0,
    alpha: float = 0.05,
) -> QiniCurve:
    """Qini curve (Radcliffe 2007) of an uplift ``score`` on one arm.

    Treated (``arm``) and control customers are each sorted by ``score``; at a share ``q``
    the Qini value is ``Y_t(q) - Y_c(q) * N_t(q) / N_c(q)``: returns among the targeted
    treated over what the same share of the control group returned, scaled to the treated
    count.

    With ``n_boot`` replicates, treated and control customers are resampled with
    replacement (separately, so each replicate keeps both group sizes) and the coefficient
    recomputed with the score held fixed; the percentile interval measures how much the
    coefficient would move on another evaluation sample of the same size.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    score : Series, array or column name
        Uplift score per row (for example ``scores.uplift[arm]``).
    arm, control, arm_col : str
        The offer arm, the no-offer arm and the arm column.
    fractions : sequence of float, optional
        Shares targeted (1.0 is always added).
    n_boot : int
        Bootstrap replicates for the interval of the coefficient (0 = no interval).
    seed : int or Generator, optional
        Seed of the resampling (an independent stream, see
        :func:`~winback_study.analysis.offer_experiment.independent_rng`).
    alpha : float
        1 - confidence level of the percentile interval.

    Returns
    -------
    QiniCurve
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be 0 or more, got {n_boot}")
    s = _as_series(score, df)
    labels = df[arm_col].astype(str).to_numpy()
    y = df["reacquired"].to_numpy(dtype=float)
    t, k = labels == arm, labels == control
    if not t.any() or not k.any():
        raise ValueError(f"need customers in both {arm!r} and {control!r}")
    yt, yc = y[np.flatnonzero(t)[_order(s[t])]], y[np.flatnonzero(k)[_order(s[k])]]
    f = np.unique(np.concatenate([[0.0], _fractions(fractions)]))
    q, nt, nc = _qini_values(yt, yc, f)
    rand = f * q[-1]
    coef = _qini_coefficient(q, f, len(yt))
    curve = pd.DataFrame({"share_targeted": f, "treated_targeted": nt, "control_targeted": nc,
                          "incremental": q, "random": rand})
    lo = hi = float("nan")
    if n_boot:
        rng = independent_rng(seed)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            # resampled positions in score order, sorted: the resample in score order
            pt = np.sort(rng.integers(0, len(yt), len(yt)))
            pc = np.sort(rng.integers(0, len(yc), len(yc)))
            qb, _, _ = _qini_values(yt[pt], yc[pc], f)
            boot[b] = _qini_coefficient(qb, f, len(yt))
        lo, hi = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    return QiniCurve(curve=curve, coefficient=coef, arm=arm, ci_low=lo, ci_high=hi,
                     n_boot=int(n_boot))


def _qini_coefficient(q: np.ndarray, f: np.ndarray, n_treated: int) -> float:
    """Area between the Qini curve and the random line, per treated customer."""
    return float(np.trapezoid(q - f * q[-1], f) / n_treated)


def _qini_values(yt: np.ndarray, yc: np.ndarray, f: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Qini values at shares ``f`` of outcomes already sorted by score (treated, control)."""
    nt = np.round(f * len(yt)).astype(int)
    nc = np.round(f * len(yc)).astype(int)
    ct = np.concatenate([[0.0], np.cumsum(yt)])[nt]
    cc = np.concatenate([[0.0], np.cumsum(yc)])[nc]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(nc > 0, ct - cc * nt / np.maximum(nc, 1), 0.0)
    return q, nt, nc


# --------------------------------------------------------------------------------------
# sample size and power
# --------------------------------------------------------------------------------------
def _alpha(alpha: float, n_comparisons: int) -> float:
    if n_comparisons < 1:
        raise ValueError("n_comparisons must be at least 1")
    return alpha / n_comparisons


def sample_size_per_arm(
    p1: float,
    p2: float,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    n_comparisons: int = 1,
) -> int:
    """Customers per arm needed to detect response rates ``p1`` vs ``p2``.

    Normal approximation on Cohen's arcsine effect size ``h``
    (statsmodels ``NormalIndPower`` with ``proportion_effectsize``).

    Parameters
    ----------
    p1, p2 : float
        Response rates of the two arms (e.g. 0.45 and 0.47).
    power : float
        Chance of detecting the difference when it is real.
    alpha : float
        Type I error (family-wise when ``n_comparisons > 1``).
    alternative : str
        ``two-sided``, ``larger`` or ``smaller``.
    ratio : float
        Size of the second arm relative to the first.
    n_comparisons : int
        Pairwise comparisons planned; ``alpha`` is split Bonferroni-style (the Holm
        correction used in the analysis is at least as powerful).

    Returns
    -------
    int
        Customers in the first arm (rounded up); the second has ``ratio`` times as many.
    """
    h = abs(proportion_effectsize(p2, p1))
    if h == 0:
        raise ValueError("p1 and p2 are equal: no sample size detects a zero difference")
    n = NormalIndPower().solve_power(effect_size=h, alpha=_alpha(alpha, n_comparisons),
                                     power=power, ratio=ratio, alternative=alternative)
    return int(np.ceil(n))


def design_power(
    p1: float,
    p2: float,
    n_per_arm: int = 10_000,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    ratio: float = 1.0,
    n_comparisons: int = 1,
) -> float:
    """Power of a design with ``n_per_arm`` customers to detect ``p1`` vs ``p2``.

    Parameters
    ----------
    p1, p2 : float
        Response rates.
    n_per_arm : int
        Customers in the first arm (the study: 10,000).
    alpha, alternative, ratio, n_comparisons
        As in :func:`sample_size_per_arm`.

    Returns
    -------
    float
        Probability of a significant result when the difference is real.
    """
    h = abs(proportion_effectsize(p2, p1))
    return float(NormalIndPower().power(effect_size=h, nobs1=n_per_arm,
                                        alpha=_alpha(alpha, n_comparisons), ratio=ratio,
                                        alternative=alternative))


def sample_size_table(
    p1: float,
    differences: Sequence[float] = (0.01, 0.02, 0.03, 0.04, 0.05),
    powers: Sequence[float] = (0.8, 0.9),
    alpha: float = 0.05,
    n_comparisons: int = 1,
    n_per_arm: int = 10_000,
) -> pd.DataFrame:
    """Sample size per arm for a grid of differences and powers, and the design's power.

    Parameters
    ----------
    p1 : float
        Response rate of the reference arm.
    differences : sequence of float
        Differences in response rate to detect (``p2 = p1 + difference``).
    powers : sequence of float
        Target powers.
    alpha, n_comparisons
        As in :func:`sample_size_per_arm`.
    n_per_arm : int
        The design whose power is reported.

    Returns
    -------
    pandas.DataFrame
        One row per difference: ``p1``, ``p2``, ``n_per_arm_power_<p>`` for each power and
        ``power_at_<n_per_arm>``.
    """
    rows = []
    for d in differences:
        r = {"difference": d, "p1": p1, "p2": p1 + d}
        for pw in powers:
            r[f"n_per_arm_power_{pw:g}"] = sample_size_per_arm(p1, p1 + d, pw, alpha,
                                                                n_comparisons=n_comparisons)
        r[f"power_at_{n_per_arm}"] = design_power(p1, p1 + d, n_per_arm, alpha,
                                                  n_comparisons=n_comparisons)
        rows.append(r)
    return pd.DataFrame(rows).set_index("difference")
