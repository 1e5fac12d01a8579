"""Counterfactual scores: each customer's return probability, value and cost under each offer.

Everything here works with **any fitted return model that has a ``predict(df)`` method
returning P(return) per row** (a statsmodels formula result, the package's
``fit_return_model``, a scikit-learn wrapper ...). The offer enters the model through the
columns ``offer_received`` and ``offer_matches_reason``; :func:`counterfactual` rewrites
them (:meth:`StudyDesign.assign <winback_study.design.StudyDesign.assign>`, the package's
one counterfactual) so the model can answer "what if this customer got that offer?".

Expected win-back profit of offering ``o`` to customer ``i`` uses the package's ROI
definition (:mod:`winback_study.analysis.roi`): cost is paid only by acceptors and value
counts only the *incremental* return over the no-offer baseline::

    profit_io = (P_i(o) - P_i(control)) * V_io - P_i(o) * c_o        (incremental=True)
    profit_io = P_i(o) * V_io - P_i(o) * c_o                         (incremental=False)

``V_io`` is the value of the customer if reacquired with offer ``o``. With the default
``value="slv"`` it is the mean second-lifetime value of the reacquired customers of the
same defection reason who received ``o`` (the true SLV is known only for those who came
back, so a per-customer SLV cannot be used for ranking without leaking the outcome); a
number or a function of the (counterfactual) frame replaces it, e.g. a fitted value
model's ``predict``. Offers, their costs and the control arm come from the design
(``design=``, default :func:`~winback_study.design.resolve_design` of the data); the
scores carry it (:attr:`OfferScores.design`) to the policies built on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from winback_study.analysis.roi import ValueSpec, customer_values
from winback_study.core.checks import require_columns
from winback_study.core.rng import independent_rng
from winback_study.design import (
    COST_COLUMN,
    KUMAR_2015,
    REASON_COLUMN,
    RECEIVED_COLUMN,
    StudyDesign,
    resolve_design,
)
from winback_study.errors import DesignError, ModelError

__all__ = [
    "ProbabilityModel",
    "counterfactual",
    "expected_values",
    "OfferScores",
    "score_offers",
    "rank_customers",
    "cross_fit_predict",
    "holdout_mask",
]


class ProbabilityModel(Protocol):
    """Anything with ``predict(df) -> P(return)`` per row."""

    def predict(self, df: pd.DataFrame) -> Any: ...


def counterfactual(df: pd.DataFrame, offer: str, costs: Mapping[str, float] | None = None, *,
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


def _predict(model: ProbabilityModel, frame: pd.DataFrame) -> np.ndarray:
    """``model.predict(frame)`` checked: one probability per row, or :class:`ModelError`."""
    p = np.asarray(model.predict(frame), dtype=float).reshape(-1)
    if p.shape != (len(frame),):
        raise ModelError(f"model.predict returned shape {p.shape} for {len(frame):,} rows: "
                         "it must give one probability of return per customer")
    bad = (p < 0) | (p > 1)
    if np.any(bad):
        raise ModelError(f"model.predict must return probabilities in [0, 1]; "
                         f"{int(bad.sum()):,} of {len(p):,} are not (e.g. {p[bad][0]:g}): "
                         "predict the probability (the mean), not the linear index")
    return p


def _mean_by(rows: pd.DataFrame, keys: list[str], value: str) -> pd.Series:
    """Mean of ``value`` by ``keys``, indexed by the keys' values as text.

    Grouped on the columns themselves (a categorical by its codes), then the few group
    labels turned to text: not every row's value, as ``astype(str)`` of the keys did.
    """
    # dropna=False: a missing key is a group of its own ("nan"), as the text keys made it
    means = rows.groupby([rows[k] for k in keys], observed=True, sort=False,
                         dropna=False)[value].mean()
    if isinstance(means.index, pd.MultiIndex):
        means.index = pd.MultiIndex.from_arrays(
            [means.index.get_level_values(i).astype(str) for i in range(len(keys))])
    else:
        means.index = means.index.astype(str)
    if not means.index.is_unique:  # values that read the same as text (1 and "1"): one group
        means = rows.groupby([rows[k].astype(str) for k in keys])[value].mean()
    return means


def expected_values(
    df: pd.DataFrame,
    offer: str,
    value: ValueSpec = "slv",
    by: Sequence[str] = (REASON_COLUMN,),
    *,
    design: StudyDesign | None = None,
) -> np.ndarray:
    """Value of each customer if reacquired with ``offer``, USD.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    offer : str
        An arm of the design (a rule arm such as ``tailored`` maps by reason).
    value : str, float or callable
        A column (default ``slv``): the mean of that column over the *reacquired*
        customers with the same ``by`` values who received the same offer (falling back
        to the offer's mean, then the overall mean, for empty cells). A number: that value
        for everyone. A callable: ``value(counterfactual(df, offer))``.
    by : sequence of str
        Segments for the column means.
    design : StudyDesign, optional
        Default :func:`~winback_study.design.resolve_design` of ``df``.

    Returns
    -------
    numpy.ndarray
        One value per row.

    Raises
    ------
    DataError
        A column it needs is missing (the value column, ``reacquired``,
        ``offer_received``, the ``by`` segments).
    DesignError
        An arm the design does not have, or a rule arm without ``defection_reason``.
    """
    d = resolve_design(df, design)
    if callable(value):
        return customer_values(d.assign(df, offer), value)
    if not isinstance(value, str):
        return np.full(len(df), float(value))
    return CellValues(df, value, by, design=d)(offer)


class CellValues:
    """Each customer's value if reacquired under an arm: the mean of ``value`` over the
    returners of her ``by`` segment who received the arm's offer (:func:`expected_values`).

    The returners' means are computed once, and each arm is a lookup by codes: scoring
    several arms does not group the returners again for each.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table with ``value``, ``reacquired``, ``offer_received`` and ``by``.
    value : str
        The value column.
    by : sequence of str
        Segments.
    design : StudyDesign, optional
        Default :func:`~winback_study.design.resolve_design` of ``df``.
    """

    def __init__(self, df: pd.DataFrame, value: str, by: Sequence[str] = (REASON_COLUMN,), *,
                 design: StudyDesign | None = None) -> None:
        require_columns(df, [value, "reacquired", RECEIVED_COLUMN, *by], "expected_values")
        self.df, self.by, self.design = df, list(by), resolve_design(df, design)
        back = df[df["reacquired"] == 1]
        self.cell = _mean_by(back, [*self.by, RECEIVED_COLUMN], value)
        self.per_offer = _mean_by(back, [RECEIVED_COLUMN], value)
        self.overall = float(back[value].mean())
        self.codes, self.labels = [], []
        for k in self.by:
            c, u = pd.factorize(df[k], use_na_sentinel=False)
            self.codes.append(c)
            self.labels.append(pd.Index(u).astype(str))

    def __call__(self, offer: str, received: Any = None) -> np.ndarray:
        """One value per row under arm ``offer`` (``received``: its ``offer_received``
        column, when the caller has it already)."""
        df = self.df
        if received is None:
            received = self.design.arm_columns(df, offer)[RECEIVED_COLUMN]
        # a categorical: factorised by its codes, not a string per row
        c, u = pd.factorize(pd.Series(received, index=df.index), use_na_sentinel=False)
        codes, labels = [*self.codes, c], [*self.labels, pd.Index(u).astype(str)]
        # each row's cell, looked up by the codes of its distinct keys
        grid = pd.MultiIndex.from_product(labels)
        table = self.cell.reindex(grid).to_numpy(dtype=float).reshape(
            [len(v) for v in labels])
        out = table[tuple(codes)]
        gap = ~np.isfinite(out)
        if gap.any():
            rec = self.per_offer.reindex(labels[-1]).to_numpy(dtype=float)
            out[gap] = rec[codes[-1][gap]]
        gap = ~np.isfinite(out)
        if gap.any():
            out[gap] = self.overall
        return out


@dataclass(repr=False)
class OfferScores:
    """Per-customer return probabilities, values and costs under each offer.

    Attributes
    ----------
    probability : pandas.DataFrame
        P(return | offer), columns the control arm (``none`` in the study) and each
        scored offer, one row per customer.
    value : pandas.DataFrame
        Value if reacquired under each offer, USD.
    cost : pandas.DataFrame
        Offer cost paid if the customer accepts, USD.
    incremental : bool
        Whether value counts only the return over the no-offer baseline.
    design : StudyDesign
        The design the offers were scored under (control arm, rule arms, costs).
    """

    probability: pd.DataFrame
    value: pd.DataFrame
    cost: pd.DataFrame
    incremental: bool = True
    design: StudyDesign = KUMAR_2015

    @property
    def control(self) -> str:
        """The no-offer arm."""
        return self.design.control

    @property
    def offers(self) -> list[str]:
        """The scored offers (the control left out)."""
        return [c for c in self.probability.columns if c != self.control]

    @property
    def single_offers(self) -> list[str]:
        """The scored offers that give everyone the same offer (rule arms left out).

        What a policy chooses between customer by customer: a rule arm such as
        ``tailored`` gives each customer one of these anyway.
        """
        return [o for o in self.offers if o not in self.design.rules]

    @property
    def uplift(self) -> pd.DataFrame:
        """P(return | offer) - P(return | no offer)."""
        return self.probability[self.offers].sub(self.probability[self.control], axis=0)

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
            Offers to choose from (default :attr:`single_offers`: the scored ones except
            rule arms such as ``tailored``).
        allow_none : bool
            Choose the control (no offer) when every offer's expected profit is negative.

        Returns
        -------
        pandas.DataFrame
            ``best_offer``, ``expected_profit``, ``p_return``, ``uplift``, ``value``,
            ``expected_cost`` per customer.
        """
        offers = list(offers or self.single_offers)
        prof = self.expected_profit[offers].to_numpy()
        j = prof.argmax(axis=1)
        best = np.take_along_axis(prof, j[:, None], axis=1)[:, 0]
        choice = np.array(offers, dtype=object)[j]
        if allow_none:
            choice = np.where(best > 0, choice, self.control)
        return self._describe(pd.Series(choice, index=self.probability.index))

    def _describe(self, choice: pd.Series) -> pd.DataFrame:
        cols = list(self.probability.columns)
        j = pd.Index(cols).get_indexer(choice.astype(str))
        if (j < 0).any():
            raise DesignError(f"unknown offers in the assignment: "
                              f"{sorted(set(choice[j < 0].astype(str)))} (scored: {cols})",
                              problem="unknown_offer")
        rows = np.arange(len(choice))
        p = self.probability.to_numpy()[rows, j]
        p0 = self.probability[self.control].to_numpy()
        zero = np.zeros(len(self.probability))
        full = self.probability.columns
        v = self.value.reindex(columns=full).fillna(0).to_numpy()[rows, j]
        c = self.cost.reindex(columns=full).fillna(0).to_numpy()[rows, j]
        none = choice.to_numpy() == self.control
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
    model: ProbabilityModel,
    offers: Sequence[str] | None = None,
    value: ValueSpec = "slv",
    costs: Mapping[str, float] | None = None,
    incremental: bool = True,
    value_by: Sequence[str] = (REASON_COLUMN,),
    *,
    design: StudyDesign | None = None,
) -> OfferScores:
    """Score every customer under every offer with a fitted return model.

    Parameters
    ----------
    df : pandas.DataFrame
        Lapsed customers (the study table, or your own with the model's columns).
    model : object with ``predict(df)``
        Fitted return model giving P(return) per row.
    offers : sequence of str, optional
        Arms to score; default every treatment arm of the design (the control is always
        scored as the baseline).
    value : str, float or callable
        See :func:`expected_values`.
    costs : mapping, optional
        Offer costs, USD per accepting customer, changing the design's
        (:meth:`StudyDesign.with_costs <winback_study.design.StudyDesign.with_costs>`).
    incremental : bool
        Count only the return over the no-offer baseline (the package's ROI definition).
    value_by : sequence of str
        Segments for column-mean values (see :func:`expected_values`).
    design : StudyDesign, optional
        Arms, costs and the control; default :func:`~winback_study.design.resolve_design`
        of ``df``.

    Returns
    -------
    OfferScores
        Carrying the design (with ``costs`` applied) for the policies built on it.
    """
    d = resolve_design(df, design).with_costs(costs)
    offers = d.treatment_arms if offers is None else offers
    allo = [d.control, *[o for o in offers if o != d.control]]
    prob, val, cost = {}, {}, {}
    cells = CellValues(df, value, value_by, design=d) if isinstance(value, str) else None
    for o in allo:
        # df with the arm's four columns: a shallow copy (assign copies every column of
        # the table, for each arm) that only the model's predict reads
        frame = df.copy(deep=False)
        for name, column in d.arm_columns(df, o).items():
            frame[name] = column
        prob[o] = _predict(model, frame)
        if o == d.control:
            cost[o], val[o] = np.zeros(len(df)), np.full(len(df), np.nan)
        else:
            cost[o] = frame[COST_COLUMN].to_numpy(dtype=float)
            val[o] = (cells(o, frame[RECEIVED_COLUMN]) if cells is not None
                      else expected_values(df, o, value, value_by, design=d))
    idx = df.index
    return OfferScores(pd.DataFrame(prob, index=idx), pd.DataFrame(val, index=idx),
                       pd.DataFrame(cost, index=idx), incremental, design=d)


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
    fit: Callable[[pd.DataFrame], ProbabilityModel],
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
        :func:`~winback_study.core.rng.independent_rng`).
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

    Uses :func:`~winback_study.core.rng.independent_rng`, so the split is independent of
    a study simulated with the same seed.

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


