"""Incremental return on investment of a win-back offer, and what enters it.

How value and cost enter ROI (the package's reconciliation of the HBR exhibit with the
$1,410 average second-lifetime value; STUDY.md explains the tension):

* **cost** is paid only by customers who accept an offer: the cost per acceptor of the
  offer each reacquired customer of the arm received, read from the study design
  (:attr:`StudyDesign.costs <winback_study.design.StudyDesign.costs>`; in the study:
  discount $120, upgrade $105, bundled $225, and the tailored arm by reason);
* **value** counts only *incremental* reacquisitions: some lapsed customers come back with
  no offer at all, at the rate ``b`` observed in the control (no-offer) group. An arm with
  response rate ``r`` over ``n`` customers gains ``(r - b) * n`` customers it would
  otherwise not have had, each worth the arm's mean second-lifetime value (SLV);
* ``ROI = ((r - b) * n * SLV - r * n * cost) / (r * n * cost)``, i.e. per reacquired
  customer ``((1 - b / r) * SLV - cost) / cost``.

Every function reads the arms, the control arm and the costs from a
:class:`~winback_study.design.StudyDesign` (``design=``; by default
:func:`~winback_study.design.resolve_design` of the data: the study's
:data:`~winback_study.design.KUMAR_2015` when the data's arms are the study's, else the
arms found in the data), so a file whose arms are ``none / free_month / points`` is
analysed with its own arms.

Examples
--------
>>> from winback_study.analysis.roi import incremental_roi
>>> round(incremental_roi(0.45, 0.15, 1400, 120), 3)  # discount-like arm
6.778
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.checks import flagged_rows, numeric_column, require_columns
from winback_study.core.text import text_codes
from winback_study.design import (
    ARM_COLUMN,
    COST_COLUMN,
    REASON_COLUMN,
    RECEIVED_COLUMN,
    StudyDesign,
    design_from_data,
    resolve_design,
)
from winback_study.errors import DataError, DesignError, ModelError, rows_text

__all__ = [
    "ValueSpec",
    "CostSpec",
    "experiment_design",
    "arms_present",
    "baseline_mask",
    "incremental_roi",
    "arm_summary",
    "offer_cost_table",
    "customer_costs",
    "customer_values",
    "tailored_cost_mix",
]

#: What a user may pass as ``value``: a column name, one number for every customer, or a
#: function of the frame returning one value per row.
ValueSpec = str | float | int | Callable[[pd.DataFrame], "np.ndarray | pd.Series"]
#: What a user may pass as ``costs``: ``None`` (the design's costs), a mapping from offer
#: received to USD (changing some of the design's costs), or a column of per-customer costs.
CostSpec = Mapping[str, float] | str | None


# --------------------------------------------------------------------------------------
# the design an analysis reads the data with
# --------------------------------------------------------------------------------------
def _arm_view(df: pd.DataFrame, arm_col: str) -> pd.DataFrame:
    """``df`` with ``arm_col`` read as the design's arm column (``offer``)."""
    if arm_col == ARM_COLUMN or arm_col not in df.columns:
        return df
    cols = {ARM_COLUMN: df[arm_col]}
    for c in (RECEIVED_COLUMN, COST_COLUMN, REASON_COLUMN, "reacquired"):
        if c in df.columns and c != arm_col:
            cols[c] = df[c]
    view = pd.DataFrame(cols, index=df.index)
    view.attrs = dict(df.attrs)  # a design the frame carries
    return view


def experiment_design(
    df: pd.DataFrame,
    design: StudyDesign | None = None,
    *,
    arm_col: str = ARM_COLUMN,
    control: str | None = None,
    costs: CostSpec = None,
    need_costs: bool = True,
) -> StudyDesign:
    """The design to analyse an experiment's frame with, checked against the data.

    :func:`~winback_study.design.resolve_design` reading ``arm_col`` as the arm column
    (``design`` when given, else the design the frame carries, else
    :data:`~winback_study.design.KUMAR_2015` for the study's arms, else the arms read from
    the data). Where the arms read from the data need what only the caller knows, the
    control arm (``control``) or the costs (``costs``, or none at all with
    ``need_costs=False``), :func:`~winback_study.design.design_from_data` is given them. A
    mapping ``costs`` then changes the design's costs of the offers it names
    (:meth:`StudyDesign.with_costs`).

    Parameters
    ----------
    df : pandas.DataFrame
        Customers with an arm column.
    design : StudyDesign, optional
        The experiment's design.
    arm_col : str
        Column naming each customer's arm.
    control : str, optional
        The no-offer arm when it is not the design's control (it must be an arm).
    costs : mapping, str or None
        See :func:`customer_costs`; keys naming a rule arm (``tailored``) are left to it.
    need_costs : bool
        False for analyses that use no costs: arms read from the data then need none.

    Returns
    -------
    StudyDesign

    Raises
    ------
    DesignError
        The data hold an arm the design does not know (the message names the column, the
        arms and the rows), or ``control`` is not an arm of the design.
    """
    view = _arm_view(df, arm_col)
    given = dict(costs) if isinstance(costs, Mapping) else {}
    try:
        d = resolve_design(view, design)
    except DesignError:
        if design is not None:
            raise
        # the arms read from the data lack a control arm or costs: the caller's, if given
        if not need_costs and COST_COLUMN not in view.columns:
            col = RECEIVED_COLUMN if RECEIVED_COLUMN in view.columns else ARM_COLUMN
            given = {**dict.fromkeys(pd.unique(view[col].dropna().astype(str)), 0.0), **given}
        d = design_from_data(view, control=control, costs=given or None)
    d.check_data(view)  # arms read from offer_received may miss a rule arm of offer
    if given:
        d = d.with_costs({k: v for k, v in given.items() if k not in d.rules})
    if control is not None and control not in d.arms:
        raise DesignError(f"the control arm {control!r} is not an arm of the design "
                          f"({d.name}: {list(d.arms)})", column=arm_col,
                          problem="unknown_control")
    return d


def arms_present(design: StudyDesign, labels: Iterable[Any],
                 baseline: str | None = None) -> list[str]:
    """The design's arms found in ``labels``, the baseline left out, in the design's order.

    Parameters
    ----------
    design : StudyDesign
        The experiment's design.
    labels : iterable
        Each customer's arm.
    baseline : str, optional
        The arm left out; default the design's control.

    Returns
    -------
    list of str
    """
    baseline = design.control if baseline is None else baseline
    have = {str(v) for v in pd.unique(np.asarray(labels, dtype=object))}
    return [a for a in design.arms if a != baseline and a in have]


def baseline_mask(labels: np.ndarray, baseline: str, arm_col: str = ARM_COLUMN) -> np.ndarray:
    """Which customers are in the baseline (no-offer) arm.

    Raises
    ------
    DataError
        Nobody is in it: incremental ROI needs a no-offer group.
    """
    base = labels == baseline
    if not base.any():
        raise DataError(
            f"no customers in the baseline arm {baseline!r} of column {arm_col!r}: "
            "incremental ROI needs a no-offer group", column=arm_col, problem="no_baseline")
    return base


# --------------------------------------------------------------------------------------
# ROI
# --------------------------------------------------------------------------------------
def incremental_roi(
    response_rate: float | np.ndarray,
    baseline_rate: float | np.ndarray,
    value_per_customer: float | np.ndarray,
    cost_per_reacquired: float | np.ndarray,
) -> float | np.ndarray:
    """ROI of a win-back offer counting only incremental reacquisitions.

    Parameters
    ----------
    response_rate : float
        Share of offered customers who came back, ``r``.
    baseline_rate : float
        Share who come back with no offer, ``b``.
    value_per_customer : float
        Value of a reacquired customer (mean SLV), USD.
    cost_per_reacquired : float
        Offer cost paid per reacquired customer, USD.

    Returns
    -------
    float
        ``((r - b) * value - r * cost) / (r * cost)``, as a fraction (6.68 = 668%).
        ``nan`` (with the array semantics of numpy) when the cost or response is zero.
    """
    r = np.asarray(response_rate, dtype=float)
    cost = np.asarray(cost_per_reacquired, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((r - baseline_rate) * value_per_customer - r * cost) / (r * cost)
    undefined = np.broadcast_to((r * cost) == 0, np.shape(out))
    if undefined.any():
        warnings.warn(
            "ROI is undefined where the offer cost or the response rate is zero (division by "
            "zero); it is reported as NaN there. Compare net profit instead.",
            RuntimeWarning, stacklevel=2,
        )
        out = np.where(undefined, np.nan, out)
    return out if np.ndim(out) else float(out)


def arm_summary(
    df: pd.DataFrame,
    value_col: str = "slv",
    arm_col: str = ARM_COLUMN,
    baseline_arm: str | None = None,
    *,
    costs: CostSpec = None,
    design: StudyDesign | None = None,
) -> pd.DataFrame:
    """Response rate, cost, value and incremental ROI per treatment arm.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with columns ``arm_col``, ``reacquired`` (0/1),
        ``value_col`` and what the costs need (``offer_received``, or an ``offer_cost``
        column; see :func:`customer_costs`).
    value_col : str
        Column holding each reacquired customer's value (default: true SLV).
    arm_col : str
        Column naming the arm.
    baseline_arm : str, optional
        The no-offer arm whose return rate is the baseline ``b``; default the design's
        control.
    costs : mapping, str or None
        Offer costs (see :func:`customer_costs`); default the design's.
    design : StudyDesign, optional
        Arms and costs; default :func:`experiment_design` of ``df``.

    Returns
    -------
    pandas.DataFrame
        One row per treatment arm present, in the design's order: ``offered``,
        ``reacquired``, ``response_rate``, ``cost_per_reacquired``,
        ``value_per_reacquired``, ``baseline_rate``, ``roi``.

    Raises
    ------
    DesignError
        ``df`` holds an arm ``design`` does not know.
    DataError
        A column it needs is missing, or nobody is in the baseline arm.

    Examples
    --------
    >>> import winback_study as wb
    >>> t = wb.arm_summary(wb.simulate_study(6_000, seed=1, n_per_arm=800))
    >>> list(t.index)
    ['discount', 'upgrade', 'bundled', 'tailored']
    """
    require_columns(df, [arm_col, "reacquired", value_col], "arm_summary")
    d = experiment_design(df, design, arm_col=arm_col, control=baseline_arm, costs=costs)
    baseline = d.control if baseline_arm is None else baseline_arm
    labels = df[arm_col].astype(object).to_numpy()
    base = baseline_mask(labels, baseline, arm_col)
    b = float(df.loc[base, "reacquired"].mean())
    order = arms_present(d, labels, baseline)
    inarm = np.isin(labels, order)
    sub = df[inarm]
    returned = (sub["reacquired"] == 1).to_numpy()
    back = sub[returned]
    cost = pd.Series(customer_costs(df, costs, arm_col, design=d)[inarm][returned],
                     index=back.index)
    by_arm = back.groupby(arm_col, observed=True)
    table = pd.DataFrame(
        {
            "offered": sub.groupby(arm_col, observed=True).size(),
            "reacquired": by_arm.size(),
            "cost_per_reacquired": cost.groupby(back[arm_col], observed=True).mean(),
            "value_per_reacquired": by_arm[value_col].mean(),
        }
    ).reindex(order)
    table.index.name = "offer"
    table["response_rate"] = table["reacquired"] / table["offered"]
    table["baseline_rate"] = b
    table["roi"] = incremental_roi(
        table["response_rate"].to_numpy(),
        b,
        table["value_per_reacquired"].to_numpy(),
        table["cost_per_reacquired"].to_numpy(),
    )
    return table[
        ["offered", "reacquired", "response_rate", "cost_per_reacquired",
         "value_per_reacquired", "baseline_rate", "roi"]
    ]


# --------------------------------------------------------------------------------------
# inputs: costs and values per customer
# --------------------------------------------------------------------------------------
def offer_cost_table(costs: Mapping[str, float] | None = None, *,
                     design: StudyDesign | None = None) -> dict[str, float]:
    """Cost of each concrete offer, USD per accepting customer.

    Parameters
    ----------
    costs : mapping, optional
        Offer received -> cost, changing the design's costs (``{"upgrade": 150}`` changes
        only the upgrade). A key naming a rule arm (``tailored``) adds a cost per acceptor
        for the whole arm, used where the data do not say which offer each customer
        received.
    design : StudyDesign, optional
        Default :data:`~winback_study.design.KUMAR_2015` (the HBR exhibit's costs).

    Returns
    -------
    dict
        Offer -> cost in USD, the control first.
    """
    d = resolve_design(None, design)
    given = dict(costs or {})
    per_arm = {str(k): v for k, v in given.items() if k in d.rules}
    bad = {k: v for k, v in per_arm.items()
           if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v)
           or v < 0}
    if bad:
        raise DesignError(f"offer costs must be finite numbers >= 0 (USD per acceptor); "
                          f"got {bad}")
    table = d.with_costs({k: v for k, v in given.items() if k not in d.rules}).costs
    return {**table, **{k: float(v) for k, v in per_arm.items()}}


def customer_costs(df: pd.DataFrame, costs: CostSpec = None, arm_col: str = ARM_COLUMN, *,
                   design: StudyDesign | None = None) -> np.ndarray:
    """What each customer's offer costs the firm if the customer accepts, USD.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    costs : mapping, str or None
        ``None``: the design's costs by ``offer_received`` (so a rule arm such as
        ``tailored`` costs what each reason's offer costs); if the frame has no
        ``offer_received`` but has ``offer_cost``, that column. A mapping: offer -> USD,
        changing the design's costs (:func:`offer_cost_table`), keyed by
        ``offer_received`` when the frame has it, otherwise by ``arm_col``. A string: a
        column of per-customer costs.
    arm_col : str
        Column naming the arm.
    design : StudyDesign, optional
        Default :func:`experiment_design` of ``df``.

    Returns
    -------
    numpy.ndarray
        One cost per row.

    Raises
    ------
    DesignError
        An offer without a cost (the message names the column, the offers and the rows).
    DataError
        A cost column (``costs=`` or ``offer_cost``) missing or not numeric.
    """
    if isinstance(costs, str):
        return numeric_column(df, costs, "the cost column (costs=)")
    if costs is None and RECEIVED_COLUMN not in df and COST_COLUMN in df:
        return numeric_column(df, COST_COLUMN, "the offer costs")
    key = RECEIVED_COLUMN if RECEIVED_COLUMN in df else arm_col
    require_columns(df, [key], "the offer costs")
    d = experiment_design(df, design, arm_col=arm_col, costs=costs)
    table = offer_cost_table(costs, design=d)
    # per distinct label, not per customer
    codes, labels = text_codes(df[key])
    known = np.array([lab in table for lab in labels], dtype=bool)
    unknown = ~known[codes]
    if unknown.any():
        seen = sorted(set(labels[~known]))  # labels: the values present
        rows, n = flagged_rows(unknown, df.index)
        raise DesignError(
            f"no cost for offer(s) {seen} in column {key!r} (costs known: {table}); "
            f"{rows_text(rows, n)}. Pass costs={{...}} with a cost for each, or "
            "design=StudyDesign(offers={...})",
            column=key, rows=rows, n_rows=n, problem="no_cost")
    return np.array([table.get(lab, np.nan) for lab in labels], dtype=float)[codes]


def customer_values(df: pd.DataFrame, value: ValueSpec = "slv") -> np.ndarray:
    """Value of each customer if reacquired, USD (NaN allowed for those not reacquired).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    value : str, float or callable
        A column name (default ``slv``, the true second-lifetime value of the simulated
        data), one number for everyone, or ``f(df) -> array`` with one value per row
        (for example a fitted value model's ``predict``).

    Returns
    -------
    numpy.ndarray
        One value per row.

    Raises
    ------
    DataError
        The value column is missing or holds text.
    ModelError
        ``value(df)`` does not return one number per row.
    """
    if isinstance(value, str):
        return numeric_column(df, value, "the customers' value (value=)")
    if callable(value):
        out = np.asarray(value(df), dtype=float)
        if out.shape != (len(df),):
            raise ModelError(f"value(df) must return one number per row ({len(df):,}), got "
                             f"shape {out.shape}")
        return out
    return np.full(len(df), float(value))


def tailored_cost_mix(df: pd.DataFrame, costs: CostSpec = None, arm: str | None = None,
                      arm_col: str = ARM_COLUMN, *,
                      design: StudyDesign | None = None) -> pd.DataFrame:
    """What the returners of a mixed (rule) arm received, and what each offer cost.

    A rule arm (the study's ``tailored``) gives each reason its own offer, so its cost per
    reacquired customer is the offers' costs weighted by who comes back:
    ``(share * cost).sum()``.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (``reacquired``, ``offer_received`` and ``arm_col``).
    costs : mapping, str or None
        As in :func:`customer_costs`.
    arm : str, optional
        The arm whose returners are described; default the design's rule arm (when it
        has exactly one).
    arm_col : str
        Column of the experiment arm.
    design : StudyDesign, optional
        Default :func:`experiment_design` of ``df``.

    Returns
    -------
    pandas.DataFrame
        One row per offer received by at least one returner of ``arm``: ``returners``,
        ``share`` of the arm's returners and ``cost`` (USD per returner).
    """
    require_columns(df, [arm_col, "reacquired", RECEIVED_COLUMN], "tailored_cost_mix")
    d = experiment_design(df, design, arm_col=arm_col, costs=costs)
    if arm is None:
        if len(d.rules) != 1:
            raise DesignError(f"the design ({d.name}) has {len(d.rules)} rule arms "
                              f"{list(d.rules)}: say which with arm=")
        arm = next(iter(d.rules))
    elif arm not in d.arms:
        raise DesignError(f"arm must be one of {list(d.arms)} ({d.name}); got {arm!r}")
    back = df[(df[arm_col] == arm) & (df["reacquired"] == 1)]
    if back.empty:
        raise DataError(f"nobody in the {arm!r} arm (column {arm_col!r}) came back "
                        "(column 'reacquired'): there is no cost mix to describe",
                        column="reacquired", problem="no_returners")
    cost = pd.Series(customer_costs(back, costs, arm_col, design=d), index=back.index)
    mix = cost.groupby(back[RECEIVED_COLUMN], observed=True).agg(["size", "mean"])
    return pd.DataFrame({"returners": mix["size"], "share": mix["size"] / len(back),
                         "cost": mix["mean"]})
