"""How the offers' ROI and their ranking move with the assumptions behind them.

The exhibit's ROIs rest on assumptions it does not state: how much of the second lifetime
counts (the value horizon), the discount rate, and the offers' costs. :func:`horizon_value`
recomputes each returner's second-lifetime value under a horizon and a rate (the package's
one value definition, :func:`~winback_study.core.value.lifetime_value`);
:func:`roi_sensitivity` reruns the incremental ROI of every arm
(:func:`~winback_study.analysis.roi.incremental_roi`) over a grid of horizons, rates and
cost multipliers, and says which assumptions reorder the arms (:class:`SensitivityResult`).

Examples
--------
>>> import winback_study as wb
>>> df = wb.simulate_study(6_000, seed=1, n_per_arm=800, include_latent=True)
>>> sens = wb.roi_sensitivity(df, horizons=(24, None), annual_rates=(0.1,),
...                           cost_multipliers=(1.0,))
>>> len(sens.scenarios)
2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback_study.analysis.roi import (
    arms_present,
    baseline_mask,
    customer_costs,
    experiment_design,
    incremental_roi,
    offer_cost_table,
)
from winback_study.core.checks import binary_outcome, require_columns
from winback_study.core.value import ANNUAL_DISCOUNT_RATE, lifetime_value
from winback_study.design import ARM_COLUMN, RECEIVED_COLUMN, StudyDesign
from winback_study.errors import DesignError

__all__ = ["horizon_value", "SensitivityResult", "roi_sensitivity"]


def _tenure_column(df: pd.DataFrame, tenure_col: str | None) -> str:
    """``tenure_col``, else the complete latent second tenure when the frame has it, else
    the observed one."""
    if tenure_col is not None:
        return tenure_col
    return ("latent_second_tenure_months" if "latent_second_tenure_months" in df
            else "second_tenure_months")


def horizon_value(
    df: pd.DataFrame,
    horizon_months: float | None = None,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
    tenure_col: str | None = None,
    margin_col: str = "second_monthly_margin",
) -> np.ndarray:
    """Second-lifetime value with the lifetime capped at ``horizon_months``.

    ``lifetime_value(margin, min(tenure, H), annual_rate)``
    (:func:`~winback_study.core.value.lifetime_value`); with ``H=None`` and the default
    rate it equals ``slv`` (complete tenure) or ``slv_observed`` (observed tenure).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    horizon_months : float, optional
        Cap on the months of second lifetime that count; ``None`` = no cap.
    annual_rate : float
        Annual discount rate.
    tenure_col : str, optional
        Second-lifetime months: default the complete ``latent_second_tenure_months``
        when the frame has it (simulated with ``include_latent=True``), else the observed,
        right-censored ``second_tenure_months`` (a lower bound).
    margin_col : str
        Second-lifetime monthly margin.

    Returns
    -------
    numpy.ndarray
        One value per row (NaN for customers who did not come back).

    Raises
    ------
    DataError
        The tenure or margin column is missing.
    """
    tenure_col = _tenure_column(df, tenure_col)
    require_columns(df, [tenure_col, margin_col], "horizon_value")
    t = df[tenure_col].to_numpy(dtype=float)
    if horizon_months is not None:
        t = np.minimum(t, float(horizon_months))
    return lifetime_value(df[margin_col].to_numpy(dtype=float), t, annual_rate)


def _ranking(values: pd.Series) -> str:
    return " > ".join(values.sort_values(ascending=False).index)


@dataclass(repr=False)
class SensitivityResult:
    """ROI and ranking of the arms over a grid of assumptions (see :func:`roi_sensitivity`).

    Attributes
    ----------
    table : pandas.DataFrame
        Long format, one row per scenario and arm: ``horizon_months`` (``inf`` = no cap),
        ``annual_rate``, ``cost_multiplier``, ``arm``, ``response_rate``,
        ``value_per_reacquired``, ``cost_per_reacquired``, ``roi``,
        ``net_profit_per_offered`` (USD per customer offered), ``roi_rank``,
        ``profit_rank`` (1 = best).
    scenarios : pandas.DataFrame
        One row per scenario: ``roi_ranking``, ``profit_ranking``, ``top_roi``,
        ``top_profit``, ``roi_lead`` and ``profit_lead`` (top arm minus runner-up), ``roi_ranking_changed``, ``profit_ranking_changed``,
        ``top_roi_changed``, ``top_profit_changed`` (against the base scenario).
    base : dict
        The base scenario (no horizon cap, the package's discount rate, costs as given).
    scaled_offers : tuple of str
        The offers whose cost the multiplier scales.
    """

    table: pd.DataFrame
    scenarios: pd.DataFrame
    base: dict
    scaled_offers: tuple[str, ...]

    @property
    def base_roi_ranking(self) -> str:
        """Arms from best to worst ROI in the base scenario."""
        return str(self.scenarios.loc[tuple(self.base.values()), "roi_ranking"])

    def flips(self, by: str = "roi") -> pd.DataFrame:
        """Scenarios whose ranking by ``roi`` or ``profit`` differs from the base one."""
        return self.scenarios[self.scenarios[f"{by}_ranking_changed"]]

    def pivot(self, arm: str, metric: str = "roi", cost_multiplier: float = 1.0) -> pd.DataFrame:
        """``metric`` of one arm as a horizon x discount-rate grid (for a heatmap)."""
        t = self.table[(self.table["arm"] == arm)
                       & np.isclose(self.table["cost_multiplier"], cost_multiplier)]
        return t.pivot(index="horizon_months", columns="annual_rate", values=metric)

    def one_at_a_time(self) -> pd.DataFrame:
        """Vary one assumption at a time, the others at their base value.

        Returns
        -------
        pandas.DataFrame
            One row per (factor, value): ``roi_ranking``, ``profit_ranking``, ``top_roi``,
            ``top_profit`` and whether each ranking differs from the base scenario.
        """
        s = self.scenarios
        keys = list(self.base)
        rows = []
        for factor in keys:
            others = [k for k in keys if k != factor]
            mask = np.ones(len(s), dtype=bool)
            for k in others:
                mask &= np.isclose(s.index.get_level_values(k), self.base[k])
            sub = s[mask]
            for idx, r in sub.iterrows():
                rows.append({"factor": factor, "value": idx[keys.index(factor)], **r.to_dict()})
        return pd.DataFrame(rows).set_index(["factor", "value"])

    def summary(self) -> str:
        """Which assumptions flip the ranking of the arms, in words."""
        s = self.scenarios
        base = self.scenarios.loc[tuple(self.base.values())]
        lines = [
            f"ROI sensitivity: {len(s)} scenarios (value horizon x discount rate x cost "
            f"multiplier of {', '.join(self.scaled_offers)})",
            f"base {self.base}:",
            f"  ROI ranking    {base['roi_ranking']}",
            f"  profit ranking {base['profit_ranking']}",
        ]
        for by in ("roi", "profit"):
            label = "ROI" if by == "roi" else "profit"
            lines.append(
                f"{label} ranking differs from the base in {int(s[f'{by}_ranking_changed'].sum())}"
                f" of {len(s)} scenarios; the top arm changes in "
                f"{int(s[f'top_{by}_changed'].sum())}"
                + (" (new top: " + ", ".join(
                    f"{a} {n}x" for a, n in
                    s.loc[s[f"top_{by}_changed"], f"top_{by}"].value_counts().items()) + ")"
                   if s[f"top_{by}_changed"].any() else ""))
        oat = self.one_at_a_time()
        changed = oat[oat["roi_ranking_changed"] | oat["profit_ranking_changed"]]
        lines.append("One assumption at a time (others at base):"
                     + ("" if len(changed) else " no ranking changes"))
        for (factor, value), r in changed.iterrows():
            what = []
            if r["roi_ranking_changed"]:
                what.append(f"ROI {r['roi_ranking']}")
            if r["profit_ranking_changed"]:
                what.append(f"profit {r['profit_ranking']}")
            lines.append(f"  {factor} = {value:g}: " + "; ".join(what))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def roi_sensitivity(
    df: pd.DataFrame,
    horizons: Sequence[float | None] = (12, 24, 36, 60, None),
    annual_rates: Sequence[float] = (0.0, 0.05, 0.10, 0.15, 0.20),
    cost_multipliers: Sequence[float] = (0.5, 1.0, 1.5, 2.0, 3.0),
    scaled_offers: str | Sequence[str] | None = None,
    costs: Mapping[str, float] | None = None,
    *,
    arm_col: str = ARM_COLUMN,
    baseline_arm: str | None = None,
    tenure_col: str | None = None,
    design: StudyDesign | None = None,
) -> SensitivityResult:
    """How each arm's ROI and the ranking of the arms move with the assumptions.

    Every combination of value horizon, discount rate and offer-cost multiplier is one
    scenario. Value per reacquired customer is recomputed with :func:`horizon_value`;
    response rates and the no-offer baseline are the data's and do not change.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table with ``offer_received``, ``second_monthly_margin`` and a second
        tenure column (see :func:`horizon_value`).
    horizons : sequence of float or None
        Months of second lifetime that count; ``None`` = no cap.
    annual_rates : sequence of float
        Annual discount rates.
    cost_multipliers : sequence of float
        Factors applied to the costs of ``scaled_offers``.
    scaled_offers : str or sequence of str, optional
        Which offers' costs the multiplier scales; default every offer of the design.
        Scaling every cost by ``k`` divides ``1 + ROI`` of every arm by ``k`` and so never
        reorders ROI (it can reorder net profit); scale one offer (``"upgrade"``) to find
        the cost at which it loses its place.
    costs : mapping, optional
        Base costs by offer received, changing the design's
        (:func:`~winback_study.analysis.roi.offer_cost_table`).
    arm_col : str
        Arm column.
    baseline_arm : str, optional
        The no-offer arm; default the design's control.
    tenure_col : str, optional
        Second-lifetime months (see :func:`horizon_value`).
    design : StudyDesign, optional
        Arms, control and costs; default
        :func:`~winback_study.analysis.roi.experiment_design` of ``df``.

    Returns
    -------
    SensitivityResult
        ``.table`` (long), ``.scenarios``, ``.flips()``, ``.pivot()``, ``.summary()``.

    Raises
    ------
    DesignError
        An offer to scale that the design does not have, or an arm it does not know.
    DataError
        A column it needs is missing, or ``reacquired`` is not 0/1.
    """
    tenure_col = _tenure_column(df, tenure_col)
    require_columns(df, [arm_col, "reacquired", "second_monthly_margin", tenure_col],
                    "roi_sensitivity")
    d = experiment_design(df, design, arm_col=arm_col, control=baseline_arm, costs=costs)
    baseline_arm = d.control if baseline_arm is None else baseline_arm
    table = offer_cost_table(costs, design=d)
    received = [o for o in table if o != d.control]
    if scaled_offers is None:
        scaled = tuple(received)
    else:
        scaled = (scaled_offers,) if isinstance(scaled_offers, str) else tuple(scaled_offers)
    unknown = set(scaled) - set(table)
    if unknown:
        raise DesignError(f"unknown offers to scale: {sorted(unknown)} (offers of the design "
                          f"{d.name}: {received})", problem="unknown_offer")
    arm = df[arm_col].astype(str).to_numpy()
    arms = arms_present(d, arm, baseline_arm)
    y = binary_outcome(df, "reacquired", "roi_sensitivity").astype(bool)
    codes = pd.Categorical(arm, categories=arms).codes
    k = len(arms)
    inarm = codes >= 0
    ret = inarm & y
    offered = np.bincount(codes[inarm], minlength=k).astype(float)
    back = np.bincount(codes[ret], minlength=k).astype(float)
    b = float(y[baseline_mask(arm, baseline_arm, arm_col)].mean())
    c = customer_costs(df, table, arm_col, design=d)
    is_scaled = df[RECEIVED_COLUMN if RECEIVED_COLUMN in df else arm_col].astype(str).isin(
        scaled).to_numpy()
    c_fixed = np.bincount(codes[ret], weights=(c * ~is_scaled)[ret], minlength=k)
    c_scaled = np.bincount(codes[ret], weights=(c * is_scaled)[ret], minlength=k)
    r = back / offered

    rows = []
    for h in horizons:
        for rate in annual_rates:
            v = horizon_value(df, h, rate, tenure_col)
            vbar = np.bincount(codes[ret], weights=v[ret], minlength=k) / back
            for mult in cost_multipliers:
                cbar = (c_fixed + mult * c_scaled) / back
                roi = incremental_roi(r, b, vbar, cbar)
                profit = (r - b) * vbar - r * cbar
                for j, a in enumerate(arms):
                    rows.append((np.inf if h is None else float(h), float(rate), float(mult),
                                 a, r[j], vbar[j], cbar[j], roi[j], profit[j]))
    long = pd.DataFrame(rows, columns=["horizon_months", "annual_rate", "cost_multiplier",
                                       "arm", "response_rate", "value_per_reacquired",
                                       "cost_per_reacquired", "roi", "net_profit_per_offered"])
    keys = ["horizon_months", "annual_rate", "cost_multiplier"]
    g = long.groupby(keys, sort=False)
    long["roi_rank"] = g["roi"].rank(ascending=False, method="min").astype(int)
    long["profit_rank"] = g["net_profit_per_offered"].rank(ascending=False,
                                                           method="min").astype(int)
    wide_roi = long.pivot_table(index=keys, columns="arm", values="roi", sort=False)[arms]
    wide_profit = long.pivot_table(index=keys, columns="arm", values="net_profit_per_offered",
                                   sort=False)[arms]
    scen = pd.DataFrame(index=wide_roi.index)
    scen["roi_ranking"] = [_ranking(row) for _, row in wide_roi.iterrows()]
    scen["profit_ranking"] = [_ranking(row) for _, row in wide_profit.iterrows()]
    scen["top_roi"] = wide_roi.idxmax(axis=1)
    scen["top_profit"] = wide_profit.idxmax(axis=1)
    if k >= 2:
        for name, wide in (("roi", wide_roi), ("profit", wide_profit)):
            two = -np.sort(-wide.to_numpy(), axis=1)[:, :2]
            scen[f"{name}_lead"] = two[:, 0] - two[:, 1]
    base = {"horizon_months": np.inf, "annual_rate": ANNUAL_DISCOUNT_RATE, "cost_multiplier": 1.0}
    if tuple(base.values()) not in scen.index:
        first = scen.index[0]
        base = dict(zip(keys, first, strict=True))
    ref = scen.loc[tuple(base.values())]
    scen["roi_ranking_changed"] = scen["roi_ranking"] != ref["roi_ranking"]
    scen["profit_ranking_changed"] = scen["profit_ranking"] != ref["profit_ranking"]
    scen["top_roi_changed"] = scen["top_roi"] != ref["top_roi"]
    scen["top_profit_changed"] = scen["top_profit"] != ref["top_profit"]
    return SensitivityResult(table=long, scenarios=scen, base=base, scaled_offers=scaled)

