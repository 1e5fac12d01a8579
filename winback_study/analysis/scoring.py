"""Score a customer base: each customer's return probability, second-lifetime value and
the expected incremental value of each arm, and the best arm.

:func:`score_customers` is the one scoring function: in memory on a pandas frame, and
(:mod:`winback_study.scale.score`) on each partition of a Dask dataset, so the two cannot
drift. It applies :class:`~winback_study.models.portable.ScoringModels`, which
:func:`fit_scoring_models` fits with the package's three equations.

For customer ``i`` and arm ``a`` (the design's counterfactual: the offer the arm gives her,
whether it matches her defection reason, its cost ``c_a``)::

    p_ia    = P(return | x_i, a)                               (the return model)
    slv_ia  = E[margin | returns, a] x E[annuity | returns, a] (selection-corrected models)
    value_ia = p_ia (slv_ia - c_a) - p_i0 slv_i0              (win_back_value, incremental
                                                                over the control arm 0)

The best arm maximises ``value_ia`` over the arms that send one offer to everyone (a rule
arm such as ``tailored`` is a mix of them); it is the control when no arm pays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from winback_study.analysis.customer_value import win_back_value
from winback_study.core.checks import flagged_rows, require_columns
from winback_study.core.rng import SeedLike, independent_rng
from winback_study.core.value import weibull_annuity
from winback_study.design import (
    ARM_COLUMN,
    COST_COLUMN,
    MATCH_COLUMN,
    REASON_COLUMN,
    RECEIVED_COLUMN,
    StudyDesign,
)
from winback_study.errors import DataError, DesignError, ModelError, rows_text
from winback_study.models.portable import LinearIndex, ScoringModels
from winback_study.models.return_probability import CONTROL_COLUMN, inverse_mills_ratio

__all__ = ["score_customers", "score_columns", "fit_scoring_models", "ID_COLUMN",
           "ARM_COLUMNS"]

ID_COLUMN = "customer_id"

#: Columns a counterfactual arm rewrites (and the control function computed from them).
ARM_COLUMNS = frozenset({ARM_COLUMN, RECEIVED_COLUMN, MATCH_COLUMN, COST_COLUMN,
                          CONTROL_COLUMN})


def score_columns(design: StudyDesign) -> list[str]:
    """The columns :func:`score_customers` returns, in order, for ``design``."""
    arms = list(design.arms)
    return [ID_COLUMN, *(f"p_return_{a}" for a in arms), *(f"slv_{a}" for a in arms),
            *(f"value_{a}" for a in design.treatment_arms), "best_arm", "best_value"]


def _prepared(df: pd.DataFrame, indexes: Sequence[LinearIndex]) -> dict[str, Any]:
    """The columns the indexes read apart from the arm's, checked, with fitted levels: as
    arrays in a dict, which patsy reads without a DataFrame's block management."""
    cols: dict[str, Any] = {}
    for ix in indexes:
        needed = [c for c in ix.columns if c not in ARM_COLUMNS and c not in cols]
        if needed:
            for name, s in ix.prepare(df, "scoring", columns=needed).items():
                cols[name] = s.array if isinstance(s.dtype, pd.CategoricalDtype) else s.to_numpy()
    return cols


class _ArmFrames:
    """Each arm's counterfactual columns (:meth:`StudyDesign.arm_columns`) in the models'
    fitted levels, with the data checked once for what the design's rules need."""

    def __init__(self, df: pd.DataFrame, design: StudyDesign, levels: dict[str, tuple]) -> None:
        self.df, self.design = df, design
        if (design.rules or design.matching) and REASON_COLUMN in df.columns:
            missing = df[REASON_COLUMN].isna().to_numpy()
            if missing.any():
                rows, k = flagged_rows(missing, df.index)
                raise DataError(f"scoring: column {REASON_COLUMN!r} has missing values; "
                                f"{rows_text(rows, k)}",
                                column=REASON_COLUMN, rows=rows, n_rows=k,
                                problem="missing_value")
        elif design.rules:
            raise DesignError(f"the rule arm(s) {sorted(design.rules)} assign offers by reason: "
                              f"scoring needs a {REASON_COLUMN!r} column",
                              column=REASON_COLUMN, problem="missing_column")
        self.received_levels = list(levels.get(RECEIVED_COLUMN, design.received_offers))
        self.arm_levels = list(levels.get(ARM_COLUMN, design.arms))

    def columns(self, arm: str) -> dict[str, Any]:
        """``offer``, ``offer_received``, ``offer_matches_reason``, ``offer_cost`` under ``arm``."""
        cols = self.design.arm_columns(self.df, arm)
        received = cols[RECEIVED_COLUMN]
        codes = np.unique(received.codes[received.codes >= 0])
        unknown = sorted(set(map(str, received.categories[codes])) - set(self.received_levels))
        if unknown:
            raise ModelError(f"arm {arm!r} sends the offer(s) {unknown}, which the return model "
                             f"was not fitted on (its offers: {self.received_levels}); fit the "
                             "models on customers who received every offer of the design")
        cols[RECEIVED_COLUMN] = received.set_categories(self.received_levels)
        cols[ARM_COLUMN] = (cols[ARM_COLUMN].set_categories(self.arm_levels)
                            if arm in self.arm_levels else pd.Categorical.from_codes(
                                np.zeros(len(self.df), dtype=np.int8), categories=[arm]))
        return cols


def _probability(index: np.ndarray, link: str) -> np.ndarray:
    return special.ndtr(index) if link == "probit" else special.expit(index)


def score_customers(df: pd.DataFrame, models: ScoringModels,
                    design: StudyDesign | None = None) -> pd.DataFrame:
    """Score every customer under every arm of the design.

    Parameters
    ----------
    df : pandas.DataFrame
        Customers with ``customer_id`` and the models' covariates (:attr:`ScoringModels.
        columns`); the arm columns (``offer``, ``offer_received`` ...) are not needed: each
        arm's are set by the design. A rule arm needs ``defection_reason``.
    models : ScoringModels
        Fitted models (:func:`fit_scoring_models`, or :meth:`ScoringModels.load`).
    design : StudyDesign, optional
        Arms and costs to score; default ``models.design``. Its arms must give offers the
        return model was fitted on (costs and the arms mixing them may differ).

    Returns
    -------
    pandas.DataFrame
        :func:`score_columns`: ``customer_id``; ``p_return_<arm>`` and ``slv_<arm>``
        (expected second-lifetime value if she returns under the arm, USD) for every arm;
        ``value_<arm>`` (expected incremental value of contacting her with that arm, USD:
        :func:`~winback_study.analysis.customer_value.win_back_value` against the control)
        for each treatment arm; ``best_arm`` and its ``best_value``. Same index as ``df``.

    Raises
    ------
    DataError
        A column is missing, has missing values or a level the models were not fitted on.
    DesignError, ModelError
        The design's arms need reasons the data lack or offers the models do not know.
    """
    d = design or models.design
    require_columns(df, [ID_COLUMN], "scoring")
    sel = models.selection_index
    same_selection = sel is not None and sel.coef == models.return_index.coef and (
        sel.rhs == models.return_index.rhs)
    indexes = [models.return_index, models.lifetime_index, models.margin_index]
    if sel is not None and not same_selection:
        indexes.append(sel)
    base = _prepared(df, indexes)
    levels: dict[str, tuple] = {}
    for ix in indexes:
        levels.update(ix.levels)
    arms = _ArmFrames(df, d, levels)
    parts = {name: ix.parts(ARM_COLUMNS) for name, ix in
             (("return", models.return_index), ("lifetime", models.lifetime_index),
              ("margin", models.margin_index)) + ((("selection", sel),)
                                                  if sel is not None and not same_selection
                                                  else ())}
    fixed = {name: f(base) for name, (f, _) in parts.items()}
    out: dict[str, Any] = {ID_COLUMN: df[ID_COLUMN].to_numpy()}
    p, slv, cost = {}, {}, {}
    for arm in d.arms:
        frame = {**base, **arms.columns(arm)}
        cost[arm] = frame[COST_COLUMN]
        r = fixed["return"] + parts["return"][1](frame)
        p[arm] = _probability(r, models.link)
        if sel is not None:
            s = r if same_selection else fixed["selection"] + parts["selection"][1](frame)
            frame[CONTROL_COLUMN] = inverse_mills_ratio(np.asarray(s))
        log_scale = fixed["lifetime"] + parts["lifetime"][1](frame)
        m = fixed["margin"] + parts["margin"][1](frame)
        margin = np.exp(m) * models.margin_smearing if models.margin_log else np.asarray(m)
        slv[arm] = margin * weibull_annuity(log_scale, models.lifetime_shape,
                                            models.annual_rate, models.horizon_months)
    for arm in d.arms:
        out[f"p_return_{arm}"] = p[arm]
    for arm in d.arms:
        out[f"slv_{arm}"] = slv[arm]
    value = {arm: win_back_value(p[arm], slv[arm], cost[arm],
                                 p_return_baseline=p[d.control], slv_baseline=slv[d.control])
             for arm in d.treatment_arms}
    for arm in d.treatment_arms:
        out[f"value_{arm}"] = value[arm]
    choices = [a for a in d.treatment_arms if a not in d.rules]
    if choices:
        stack = np.column_stack([value[a] for a in choices])
        j = stack.argmax(axis=1)
        best = stack[np.arange(len(stack)), j]
        codes = np.where(best > 0, j + 1, 0)  # 0 = the control
        best = np.where(best > 0, best, 0.0)
    else:
        codes, best = np.zeros(len(df), dtype=np.int64), np.zeros(len(df))
    labels = [d.control, *choices]
    out["best_arm"] = pd.Categorical.from_codes(codes.astype(np.int8), categories=labels)
    out["best_value"] = best
    cols = score_columns(d)
    return pd.DataFrame({c: out[c] for c in cols}, index=df.index, copy=False)


def fit_scoring_models(df: pd.DataFrame, *, return_formula: str | None = None,
                       lifetime_formula: str | None = None, margin_formula: str | None = None,
                       link: str = "probit", sample: int | None = None, seed: SeedLike = 0,
                       design: StudyDesign | None = None, annual_rate: float | None = None,
                       horizon_months: int | None = None) -> ScoringModels:
    """Fit the three equations for scoring, on ``df`` or a seeded sample of it.

    The return model (``link``), the selection probit (the return model itself when it is a
    probit, else :func:`~winback_study.models.selection.fit_selection`), a Weibull
    second-lifetime model and the log-margin model, both selection-corrected with that
    probit; then :meth:`ScoringModels.from_fits`.

    Parameters
    ----------
    df : pandas.DataFrame
        Lapsed customers, returned or not (the study table's columns).
    return_formula, lifetime_formula, margin_formula : str, optional
        Formulas of the three equations (defaults: the study's).
    link : str
        ``"probit"`` (default) or ``"logit"``.
    sample : int, optional
        Fit on a seeded random sample of customers holding about this many returners
        (every customer when ``None`` or when ``df`` has fewer).
    seed : int, optional
        Seed of the sample.
    design : StudyDesign, optional
        Default: the return model's.
    annual_rate, horizon_months : optional
        Discounting of the second-lifetime value (package defaults).
    """
    from winback_study.core.value import ANNUAL_DISCOUNT_RATE, DEFAULT_HORIZON_MONTHS
    from winback_study.models.return_probability import fit_return_model
    from winback_study.models.second_lifetime import fit_second_lifetime
    from winback_study.models.second_profit import fit_second_profit
    from winback_study.models.selection import fit_selection

    rows = df
    require_columns(df, ["reacquired"], "fit_scoring_models")
    n_back = int((df["reacquired"] == 1).sum())
    if sample is not None and sample < 1:
        raise DataError(f"sample must be a positive number of returners, got {sample}")
    if sample is not None and n_back > sample:
        keep = independent_rng(seed).random(len(df)) < sample / n_back
        rows = df[keep]
    if not rows.index.is_unique:  # e.g. partitions concatenated: each starts at 0
        rows = rows.reset_index(drop=True)
    ret = fit_return_model(rows, return_formula, link=link, design=design)
    sel = ret if link == "probit" else fit_selection(rows, return_formula, design=design)
    life = fit_second_lifetime(rows, lifetime_formula, model="weibull", selection=sel,
                               design=design)
    prof = fit_second_profit(rows, margin_formula, selection=sel, design=design)
    info = {"customers_fitted": len(rows), "returners_fitted": int(rows["reacquired"].sum()),
            "customers": len(df), "sample": sample,
            "seed": seed if seed is None or isinstance(seed, int) else repr(seed),
            "return_model": f"{link}, {'all rows' if len(rows) == len(df) else 'seeded sample'}"}
    return ScoringModels.from_fits(
        ret, life, prof, design=design,
        annual_rate=ANNUAL_DISCOUNT_RATE if annual_rate is None else annual_rate,
        horizon_months=DEFAULT_HORIZON_MONTHS if horizon_months is None else horizon_months,
        info=info)
