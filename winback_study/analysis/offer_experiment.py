"""The four-offer win-back experiment: response rate against return on investment.

How value and cost enter ROI (the package's reconciliation of the HBR exhibit with the
$1,410 average second-lifetime value; STUDY.md explains the tension):

* **cost** is paid only by customers who accept an offer: the offer's cost
  (discount $120, upgrade $105, bundled $225; tailored by reason) for each reacquired
  customer of the arm;
* **value** counts only *incremental* reacquisitions: some lapsed customers come back with
  no offer at all, at the rate ``b`` observed in the no-offer group. An arm with response
  rate ``r`` over ``n`` customers gains ``(r - b) * n`` customers it would otherwise not
  have had, each worth the arm's mean second-lifetime value (SLV);
* ``ROI = ((r - b) * n * SLV - r * n * cost) / (r * n * cost)``, i.e. per reacquired
  customer ``((1 - b / r) * SLV - cost) / cost``.

On top of that definition the module gives the full experiment analysis
(:func:`offer_experiment`): per-arm response rates with Wilson intervals, costs, values,
net profit and ROI with a bootstrap interval; an overall chi-square test and pairwise
comparisons (response rate and ROI) with a Holm correction; the exhibit replicated beside
the published one (:func:`replicated_exhibit`); and how ROI and the ranking of the arms
move with the offer cost, the value horizon and the discount rate
(:func:`roi_sensitivity`).

The bootstrap resamples customers within each arm, independently across arms (the arms
were randomised separately), and is exact and vectorised: in a resample of ``n``
customers of an arm the number who came back is ``Binomial(n, k / n)`` and, given that
number, they are drawn uniformly with replacement from the arm's ``k`` returners. Only
the returners' values and costs are drawn, summed per replicate with ``numpy.bincount``.

The module is callable: ``winback_study.analysis.offer_experiment(df, ...)`` is
:func:`offer_experiment`, and ``winback_study.analysis.offer_experiment.OFFER_ARMS`` still names the
module's constant.
"""

from __future__ import annotations

import itertools
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from winback_study.analysis.customer_value import ANNUAL_DISCOUNT_RATE, lifetime_value
from winback_study.core.rng import SeedLike, independent_rng
from winback_study.data.published import PUBLISHED
from winback_study.design import KUMAR_2015

__all__ = [
    "OFFER_ARMS",
    "incremental_roi",
    "arm_summary",
    "offer_cost_table",
    "customer_costs",
    "tailored_cost_mix",
    "customer_values",
    "bootstrap_roi",
    "independent_rng",
    "holm",
    "OfferExperimentResult",
    "offer_experiment",
    "replicated_exhibit",
    "break_even_cost",
    "horizon_value",
    "SensitivityResult",
    "roi_sensitivity",
]

#: The study's four randomised arms, in the order of the HBR exhibit.
OFFER_ARMS: tuple[str, ...] = KUMAR_2015.treatment_arms

#: What a user may pass as ``value``: a column name, one number for every customer, or a
#: function of the frame returning one value per row.
ValueSpec = str | float | int | Callable[[pd.DataFrame], "np.ndarray | pd.Series"]
#: What a user may pass as ``costs``: ``None`` (the HBR exhibit), a mapping from offer
#: received to USD (merged over the exhibit's), or a column name of per-customer costs.
CostSpec = Mapping[str, float] | str | None


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
    arm_col: str = "offer",
    baseline_arm: str = "none",
) -> pd.DataFrame:
    """Response rate, cost, value and incremental ROI per offer arm.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with columns ``arm_col``, ``reacquired`` (0/1),
        ``offer_cost`` (USD, paid if the customer accepts) and ``value_col``.
    value_col : str
        Column holding each reacquired customer's value (default: true SLV).
    arm_col : str
        Column naming the arm.
    baseline_arm : str
        The no-offer arm whose return rate is the baseline ``b``.

    Returns
    -------
    pandas.DataFrame
        One row per arm: ``offered``, ``reacquired``, ``response_rate``,
        ``cost_per_reacquired``, ``value_per_reacquired``, ``baseline_rate``, ``roi``.
    """
    base = df.loc[df[arm_col] == baseline_arm, "reacquired"]
    if base.empty:
        raise ValueError(
            f"no customers in the baseline arm {baseline_arm!r} of column {arm_col!r}: "
            "incremental ROI needs a no-offer group"
        )
    b = float(base.mean())
    arms = df[df[arm_col].isin(OFFER_ARMS)]
    back = arms[arms["reacquired"] == 1]
    table = pd.DataFrame(
        {
            "offered": arms.groupby(arm_col, observed=True).size(),
            "reacquired": back.groupby(arm_col, observed=True).size(),
            "cost_per_reacquired": back.groupby(arm_col, observed=True)["offer_cost"].mean(),
            "value_per_reacquired": back.groupby(arm_col, observed=True)[value_col].mean(),
        }
    ).reindex([a for a in OFFER_ARMS if a in set(arms[arm_col])])
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
def offer_cost_table(costs: Mapping[str, float] | None = None) -> dict[str, float]:
    """Cost of each concrete offer, USD per accepting customer.

    Parameters
    ----------
    costs : mapping, optional
        Offer received -> cost; merged over the HBR exhibit's costs
        (:data:`winback_study.data.simulate.OFFER_COSTS`), so ``{"upgrade": 150}``
        changes only the upgrade. ``none`` always costs 0 unless given.

    Returns
    -------
    dict
        Offer -> cost in USD.
    """
    table = KUMAR_2015.costs
    if costs is not None:
        bad = {k: v for k, v in costs.items() if not np.isfinite(v) or v < 0}
        if bad:
            raise ValueError(f"offer costs must be finite and non-negative, got {bad}")
        table.update({str(k): float(v) for k, v in costs.items()})
    return table


def customer_costs(df: pd.DataFrame, costs: CostSpec = None, arm_col: str = "offer") -> np.ndarray:
    """What each customer's offer costs the firm if the customer accepts, USD.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table.
    costs : mapping, str or None
        ``None``: the HBR exhibit's costs by ``offer_received`` (so the tailored arm costs
        what each reason's offer costs); if the frame has no ``offer_received`` but has
        ``offer_cost``, that column. A mapping: offer -> USD, merged over the exhibit's,
        keyed by ``offer_received`` when the frame has it, otherwise by ``arm_col``.
        A string: a column of per-customer costs.

    Returns
    -------
    numpy.ndarray
        One cost per row.
    """
    if isinstance(costs, str):
        return df[costs].to_numpy(dtype=float)
    key = "offer_received" if "offer_received" in df else arm_col
    if costs is None and "offer_received" not in df and "offer_cost" in df:
        return df["offer_cost"].to_numpy(dtype=float)
    table = offer_cost_table(costs)
    labels = df[key].astype(str)
    unknown = sorted(set(labels.unique()) - set(table))
    if unknown:
        raise ValueError(
            f"no cost for offer(s) {unknown} in column {key!r}; pass costs={{...}} with "
            f"a cost for each (known: {sorted(table)})"
        )
    return labels.map(table).to_numpy(dtype=float)


def tailored_cost_mix(df: pd.DataFrame, costs: CostSpec = None, arm: str = "tailored",
                      arm_col: str = "offer") -> pd.DataFrame:
    """What the returners of a mixed arm received, and what each offer cost.

    The tailored arm gives each reason its own offer, so its cost per reacquired customer
    is the offers' costs weighted by who comes back: ``(share * cost).sum()``.

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (``reacquired``, ``offer_received`` and ``arm_col``).
    costs : mapping, str or None
        As in :func:`customer_costs`.
    arm : str
        The arm whose returners are described.
    arm_col : str
        Column of the experiment arm.

    Returns
    -------
    pandas.DataFrame
        One row per offer received by at least one returner of ``arm``: ``returners``,
        ``share`` of the arm's returners and ``cost`` (USD per returner).
    """
    back = df[(df[arm_col] == arm) & (df["reacquired"] == 1)]
    if back.empty:
        raise ValueError(f"nobody in the {arm!r} arm came back")
    cost = pd.Series(customer_costs(back, costs, arm_col), index=back.index)
    mix = cost.groupby(back["offer_received"], observed=True).agg(["size", "mean"])
    return pd.DataFrame({"returners": mix["size"], "share": mix["size"] / len(back),
                         "cost": mix["mean"]})


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
    """
    if isinstance(value, str):
        if value not in df:
            raise KeyError(f"value column {value!r} is not in the frame")
        return df[value].to_numpy(dtype=float)
    if callable(value):
        out = np.asarray(value(df), dtype=float)
        if out.shape != (len(df),):
            raise ValueError(f"value(df) must return one number per row, got shape {out.shape}")
        return out
    return np.full(len(df), float(value))


def _arms_in(df: pd.DataFrame, arm_col: str, baseline_arm: str) -> list[str]:
    present = [str(a) for a in pd.unique(df[arm_col].astype(str))]
    known = [a for a in OFFER_ARMS if a in present]
    return known + sorted(a for a in present if a not in known and a != baseline_arm)


_rng = independent_rng


# --------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------
def _bootstrap_returner_sums(
    n: int,
    returner_values: np.ndarray,
    returner_costs: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    max_draws: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled (returners, value sum, cost sum) of one arm, ``n_boot`` replicates each.

    Exact nonparametric bootstrap of ``n`` customers of whom ``k`` returned: the number of
    returners in a resample is ``Binomial(n, k/n)``; given it, they are uniform draws with
    replacement from the ``k`` returners. Replicates are processed in blocks of at most
    ``max_draws`` draws (memory), each block fully vectorised.
    """
    k = len(returner_values)
    if n == 0 or k == 0:
        zeros = np.zeros(n_boot)
        return zeros, zeros.copy(), zeros.copy()
    counts = rng.binomial(n, k / n, size=n_boot)
    vsum = np.empty(n_boot)
    csum = np.empty(n_boot)
    per_block = max(1, int(max_draws // max(1, n)))
    for start in range(0, n_boot, per_block):
        block = counts[start:start + per_block]
        idx = rng.integers(0, k, size=int(block.sum()))
        rep = np.repeat(np.arange(len(block)), block)
        vsum[start:start + len(block)] = np.bincount(rep, returner_values[idx], len(block))
        csum[start:start + len(block)] = np.bincount(rep, returner_costs[idx], len(block))
    return counts.astype(float), vsum, csum


def bootstrap_roi(
    df: pd.DataFrame,
    costs: CostSpec = None,
    value: ValueSpec = "slv",
    *,
    arm_col: str = "offer",
    baseline_arm: str = "none",
    n_boot: int = 2000,
    seed: SeedLike = 0,
) -> pd.DataFrame:
    """Bootstrap replicates of each arm's incremental ROI.

    Customers are resampled with replacement within each arm (the no-offer baseline
    included, once per replicate and shared by all arms, so differences between arms
    carry the right correlation).

    Parameters
    ----------
    df : pandas.DataFrame
        The study table (``arm_col``, ``reacquired`` and what ``costs``/``value`` need).
    costs, value
        See :func:`customer_costs` and :func:`customer_values`.
    arm_col, baseline_arm : str
        Arm column and the no-offer arm.
    n_boot : int
        Number of replicates.
    seed : int or numpy.random.Generator
        Seed (or generator) of the resampling.

    Returns
    -------
    pandas.DataFrame
        ``n_boot`` rows (replicates), one column per arm, ROI as a fraction.
    """
    y = df["reacquired"].to_numpy(dtype=bool)
    arm = df[arm_col].astype(str).to_numpy()
    c = customer_costs(df, costs, arm_col)
    v = customer_values(df, value)
    return _bootstrap_roi(y, arm, c, v, _arms_in(df, arm_col, baseline_arm), baseline_arm,
                          n_boot, _rng(seed))


def _bootstrap_roi(y: np.ndarray, arm: np.ndarray, c: np.ndarray, v: np.ndarray,
                   arms: Sequence[str], baseline_arm: str, n_boot: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    base = arm == baseline_arm
    n0 = int(base.sum())
    if n0 == 0:
        raise ValueError(f"no customers in the baseline arm {baseline_arm!r}: "
                         "incremental ROI needs a no-offer group")
    b = rng.binomial(n0, y[base].mean(), size=n_boot) / n0
    out = {}
    for a in arms:
        m = arm == a
        back = m & y
        r, vs, cs = _bootstrap_returner_sums(int(m.sum()), v[back], c[back], n_boot, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[a] = incremental_roi(r / m.sum(), b, vs / r, cs / r)
    return pd.DataFrame(out, index=pd.RangeIndex(n_boot, name="replicate"))


def _bootstrap_pvalue(diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``H0: difference = 0`` from its replicates."""
    d = diff[np.isfinite(diff)]
    if d.size == 0:
        return np.nan
    lo = (np.sum(d <= 0) + 1) / (d.size + 1)
    hi = (np.sum(d >= 0) + 1) / (d.size + 1)
    return float(min(1.0, 2 * min(lo, hi)))


def holm(pvalues: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm (1979) step-down adjustment (statsmodels ``multipletests(method="holm")``).

    Parameters
    ----------
    pvalues : array-like
        Unadjusted p-values; NaN entries are left NaN and not counted.
    alpha : float
        Family-wise error rate.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Adjusted p-values and whether each hypothesis is rejected.
    """
    p = np.asarray(pvalues, dtype=float)
    adj = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    ok = np.isfinite(p)
    if ok.any():
        reject[ok], adj[ok], _, _ = multipletests(p[ok], alpha=alpha, method="holm")
    return adj, reject


# --------------------------------------------------------------------------------------
# the experiment
# --------------------------------------------------------------------------------------
def _fmt_pct(x: float, digits: int = 1) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


@dataclass(repr=False)
class OfferExperimentResult:
    """The analysed four-offer experiment (see :func:`offer_experiment`).

    Attributes
    ----------
    arms : pandas.DataFrame
        One row per arm: ``offered``, ``reacquired``, ``response_rate``, ``response_ci_low``,
        ``response_ci_high`` (Wilson), ``incremental_reacquired`` (``(r - b) n``),
        ``cost_per_reacquired``, ``total_cost``, ``value_per_reacquired``,
        ``incremental_value``, ``net_profit`` (incremental value - total cost), ``roi``,
        ``roi_ci_low``, ``roi_ci_high`` (bootstrap percentile). Money in USD, rates and ROI
        as fractions.
    baseline : pandas.Series
        The no-offer group: ``offered``, ``reacquired``, ``response_rate`` and its interval.
    chi_square : pandas.Series
        Overall test that the arms' response rates are equal: ``statistic``, ``dof``,
        ``pvalue``.
    pairwise_response, pairwise_roi : pandas.DataFrame
        One row per pair of arms: the difference (first minus second), its 95% interval
        (Newcombe for rates, bootstrap percentile for ROI), the unadjusted p-value, the
        Holm-adjusted p-value and ``significant`` at ``alpha`` after adjustment.
    roi_replicates : pandas.DataFrame
        The bootstrap replicates of each arm's ROI.
    costs : dict or str
        The costs used (offer -> USD, or the name of a cost column).
    """

    arms: pd.DataFrame
    baseline: pd.Series
    chi_square: pd.Series
    pairwise_response: pd.DataFrame
    pairwise_roi: pd.DataFrame
    roi_replicates: pd.DataFrame
    costs: dict[str, float] | str
    n_boot: int
    alpha: float
    seed: object = None
    value: str = "slv"
    notes: list[str] = field(default_factory=list)

    @property
    def baseline_rate(self) -> float:
        """Return rate of the no-offer group, ``b``."""
        return float(self.baseline["response_rate"])

    def exhibit(self) -> pd.DataFrame:
        """The HBR exhibit replicated: see :func:`replicated_exhibit`."""
        return replicated_exhibit(self)

    def ranking(self, by: str = "roi") -> list[str]:
        """Arms from best to worst by ``roi``, ``response_rate`` or ``net_profit``.

        Arms where the measure is undefined (ROI of a zero-cost offer) are left out.
        """
        return list(self.arms[by].dropna().sort_values(ascending=False).index)

    def summary(self) -> str:
        """A plain-text report: arms, tests, rankings."""
        a = self.arms
        lines = [
            f"Win-back offer experiment: {int(a['offered'].sum()):,} customers in "
            f"{len(a)} arm{'s' if len(a) != 1 else ''}; no-offer baseline {int(self.baseline['offered']):,} customers, "
            f"return rate {_fmt_pct(self.baseline_rate)} "
            f"[{_fmt_pct(self.baseline['response_ci_low'])}, "
            f"{_fmt_pct(self.baseline['response_ci_high'])}]",
            f"value: {self.value}; costs: {self.costs}; bootstrap: {self.n_boot} replicates, "
            f"seed {self.seed}",
            "",
            f"{'arm':<10}{'offered':>9}{'back':>7}{'response [95% CI]':>24}"
            f"{'cost/back':>11}{'value/back':>12}{'net profit':>13}{'ROI [95% CI]':>24}",
        ]
        for arm, r in a.iterrows():
            lines.append(
                f"{arm:<10}{int(r['offered']):>9,}{int(r['reacquired']):>7,}"
                f"{_fmt_pct(r['response_rate']):>8} [{_fmt_pct(r['response_ci_low'])}, "
                f"{_fmt_pct(r['response_ci_high'])}]"
                f"{r['cost_per_reacquired']:>11,.0f}{r['value_per_reacquired']:>12,.0f}"
                f"{r['net_profit']:>13,.0f}"
                f"{_fmt_pct(r['roi'], 0):>8} [{_fmt_pct(r['roi_ci_low'], 0)}, "
                f"{_fmt_pct(r['roi_ci_high'], 0)}]"
            )
        cs = self.chi_square
        undefined = [str(i) for i in a.index[a["roi"].isna()]]
        lines.append("")
        if len(a) < 2:
            lines.append("One arm only: no comparison between arms (chi-square and pairwise "
                         "tests need two or more).")
        else:
            lines.append(f"Equal response rates across arms: chi2 = {cs['statistic']:.1f}, "
                         f"dof = {int(cs['dof'])}, p = {cs['pvalue']:.2g}")
        lines += [
            "Ranking by response rate: " + " > ".join(self.ranking("response_rate")),
            "Ranking by ROI:           " + " > ".join(self.ranking("roi"))
            + (f" (ROI undefined, zero cost: {', '.join(undefined)})" if undefined else ""),
        ]
        if len(a) >= 2:
            lines.append(f"Pairwise differences significant after Holm (alpha = {self.alpha:g}):")
            for name, tab, scale in (("response", self.pairwise_response, "pp"),
                                     ("ROI", self.pairwise_roi, "pp")):
                sig = tab[tab["significant"].astype(bool)]
                items = [f"{i} {100 * d:+.1f} {scale}" for i, d in sig["difference"].items()]
                lines.append(f"  {name}: " + (", ".join(items) if items else "none"))
        lines += self.notes
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _no_pairs() -> pd.DataFrame:
    """The pairwise table of an experiment with fewer than two arms: no rows."""
    return pd.DataFrame(columns=["difference", "ci_low", "ci_high", "pvalue",
                                 "pvalue_holm", "significant"],
                        index=pd.Index([], name="pair"))


def _pairwise_response(arms: pd.DataFrame, alpha: float) -> pd.DataFrame:
    pairs = list(itertools.combinations(arms.index, 2))
    if not pairs:
        return _no_pairs()
    i, j = (list(x) for x in zip(*pairs, strict=True))
    k1, n1 = arms.loc[i, "reacquired"].to_numpy(), arms.loc[i, "offered"].to_numpy()
    k2, n2 = arms.loc[j, "reacquired"].to_numpy(), arms.loc[j, "offered"].to_numpy()
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", alpha=alpha)
    p = test_proportions_2indep(k1, n1, k2, n2, method="score").pvalue
    adj, rej = holm(p, alpha)
    return pd.DataFrame(
        {"difference": k1 / n1 - k2 / n2, "ci_low": lo, "ci_high": hi, "pvalue": p,
         "pvalue_holm": adj, "significant": rej},
        index=pd.Index([f"{a} - {b}" for a, b in pairs], name="pair"),
    )


def _pairwise_roi(arms: pd.DataFrame, reps: pd.DataFrame, alpha: float) -> pd.DataFrame:
    rows = {}
    for a, b in itertools.combinations(arms.index, 2):
        d = (reps[a] - reps[b]).to_numpy()
        lo, hi = np.nanquantile(d, [alpha / 2, 1 - alpha / 2]) if np.isfinite(d).any() else (
            np.nan, np.nan)
        rows[f"{a} - {b}"] = {"difference": arms.loc[a, "roi"] - arms.loc[b, "roi"],
                              "ci_low": lo, "ci_high": hi, "pvalue": _bootstrap_pvalue(d)}
    if not rows:
        return _no_pairs()
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "pair"
    out["pvalue_holm"], out["significant"] = holm(out["pvalue"].to_numpy(), alpha)
    return out


def offer_experiment(
    df: pd.DataFrame,
    costs: CostSpec = None,
    value: ValueSpec = "slv",
    *,
    arm_col: str = "offer",
    baseline_arm: str = "none",
    n_boot: int = 2000,
    seed: SeedLike = 0,
    alpha: float = 0.05,
) -> OfferExperimentResult:
    """Analyse the win-back offer experiment: one row per arm, tests between arms.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with ``arm_col``, ``reacquired`` (0/1) and what
        ``costs`` and ``value`` need (by default ``offer_received`` and ``slv``).
    costs : mapping, str or None
        Offer costs paid by each accepting customer. ``None``: the HBR exhibit
        (discount $120, upgrade $105, bundled $225; the tailored arm pays the cost of the
        offer each reason receives). A mapping ``{"upgrade": 150.0}`` changes some offers
        (keyed by offer received); a string names a per-customer cost column.
    value : str, float or callable
        Value of a reacquired customer: a column (default true ``slv``), a number, or
        ``f(df) -> array``.
    arm_col : str
        Column naming the arm.
    baseline_arm : str
        The no-offer arm (the baseline return rate ``b`` of incremental ROI).
    n_boot : int
        Bootstrap replicates for the ROI intervals and ROI tests.
    seed : int or numpy.random.Generator
        Seed of the bootstrap; the same seed gives the same intervals.
    alpha : float
        1 - confidence level, and the family-wise error rate of the Holm correction.

    Returns
    -------
    OfferExperimentResult
        ``.arms``, ``.baseline``, ``.chi_square``, ``.pairwise_response``,
        ``.pairwise_roi``, ``.roi_replicates``; ``.summary()`` prints them,
        ``.exhibit()`` sets them beside the published exhibit.

    Notes
    -----
    ROI follows :func:`incremental_roi`: net profit of an arm is
    ``(r - b) * n * value_per_reacquired - r * n * cost_per_reacquired``.
    """
    if "reacquired" not in df or arm_col not in df:
        raise KeyError(f"the frame needs columns 'reacquired' and {arm_col!r}")
    y = df["reacquired"].to_numpy(dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("'reacquired' must be 0/1 for every customer")
    y = y.astype(bool)
    arm = df[arm_col].astype(str).to_numpy()
    c = customer_costs(df, costs, arm_col)
    v = customer_values(df, value)
    missing = y & ~np.isfinite(v)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} reacquired customers have no value; pass value= a "
            "column, number or function that values every reacquired customer"
        )
    arms = _arms_in(df, arm_col, baseline_arm)
    if not arms:
        raise ValueError(f"no offer arms besides {baseline_arm!r} in column {arm_col!r}")
    base = arm == baseline_arm
    if not base.any():
        raise ValueError(f"no customers in the baseline arm {baseline_arm!r} of column "
                         f"{arm_col!r}: incremental ROI needs a no-offer group")

    # per arm sums (a loop over arms, never over customers)
    codes = pd.Categorical(arm, categories=arms).codes
    inarm = codes >= 0
    k = len(arms)
    offered = np.bincount(codes[inarm], minlength=k)
    back = np.bincount(codes[inarm], weights=y[inarm], minlength=k)
    vsum = np.bincount(codes[inarm & y], weights=v[inarm & y], minlength=k)
    csum = np.bincount(codes[inarm & y], weights=c[inarm & y], minlength=k)
    n0, k0 = int(base.sum()), int(y[base].sum())
    b = k0 / n0

    lo, hi = proportion_confint(back, offered, alpha=alpha, method="wilson")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = back / offered
        vbar = vsum / back
        cbar = csum / back
    incr = (r - b) * offered
    table = pd.DataFrame(
        {
            "offered": offered.astype(int),
            "reacquired": back.astype(int),
            "response_rate": r,
            "response_ci_low": lo,
            "response_ci_high": hi,
            "incremental_reacquired": incr,
            "cost_per_reacquired": cbar,
            "total_cost": csum,
            "value_per_reacquired": vbar,
            "incremental_value": incr * vbar,
            "net_profit": incr * vbar - csum,
            "roi": incremental_roi(r, b, vbar, cbar),
        },
        index=pd.Index(arms, name="offer"),
    )
    rng = _rng(seed)
    reps = _bootstrap_roi(y, arm, c, v, arms, baseline_arm, n_boot, rng)
    q = reps.quantile([alpha / 2, 1 - alpha / 2]).T
    table["roi_ci_low"], table["roi_ci_high"] = q.iloc[:, 0].to_numpy(), q.iloc[:, 1].to_numpy()

    blo, bhi = proportion_confint(k0, n0, alpha=alpha, method="wilson")
    baseline = pd.Series({"offered": n0, "reacquired": k0, "response_rate": b,
                          "response_ci_low": blo, "response_ci_high": bhi}, name=baseline_arm)
    contingency = np.column_stack([back, offered - back])
    if k >= 2:
        stat, pval, dof, _ = chi2_contingency(contingency, correction=False)
    else:
        warnings.warn(
            f"only one offer arm ({table.index[0]!r}): its response rate, cost and ROI are "
            "reported, but there is nothing to compare it with, so the chi-square and "
            "pairwise tests are undefined (NaN, dof 0)", UserWarning, stacklevel=2)
        stat, pval, dof = np.nan, np.nan, 0
    chi = pd.Series({"statistic": float(stat), "dof": int(dof), "pvalue": float(pval)},
                    name="chi_square")
    pairwise_roi = _pairwise_roi(table, reps, alpha)
    notes = []
    n_pairs = len(pairwise_roi)
    if n_pairs and 2 / (n_boot + 1) * n_pairs > alpha:
        notes.append(
            f"note: with n_boot={n_boot} the smallest bootstrap p-value is "
            f"{2 / (n_boot + 1):.2g}, too large for Holm over {n_pairs} pairs to reject at "
            f"alpha={alpha:g}; use n_boot >= {int(np.ceil(2 * n_pairs / alpha))}"
        )
    used_costs: dict[str, float] | str
    if isinstance(costs, str):
        used_costs = costs
    elif costs is None and "offer_received" not in df and "offer_cost" in df:
        used_costs = "offer_cost"
    else:
        used_costs = offer_cost_table(costs)
    return OfferExperimentResult(
        arms=table,
        baseline=baseline,
        chi_square=chi,
        pairwise_response=_pairwise_response(table, alpha),
        pairwise_roi=pairwise_roi,
        roi_replicates=reps,
        costs=used_costs,
        n_boot=n_boot,
        alpha=alpha,
        seed=seed if not isinstance(seed, np.random.Generator) else "Generator",
        value=value if isinstance(value, str) else ("callable" if callable(value)
                                                    else f"{float(value):g} USD"),
        notes=notes,
    )


def replicated_exhibit(result: OfferExperimentResult | pd.DataFrame) -> pd.DataFrame:
    """The HBR offer exhibit: published success rate and ROI beside the replicated ones.

    Published values and tolerances are read from :mod:`winback_study.data.published`
    (ids ``P3.<arm>.success`` and ``P3.<arm>.roi``).

    Parameters
    ----------
    result : OfferExperimentResult or pandas.DataFrame
        An analysed experiment, or a study table (analysed with the defaults).

    Returns
    -------
    pandas.DataFrame
        One row per published arm, in percent: ``success_published``,
        ``success_replicated``, ``success_ci_low``, ``success_ci_high``,
        ``success_tolerance``, ``success_status`` (``match``/``miss``), and the same six
        for ``roi_``.
    """
    if isinstance(result, pd.DataFrame):
        result = offer_experiment(result)
    a = result.arms
    rows = {}
    for arm in a.index:
        if f"P3.{arm}.success" not in PUBLISHED:
            continue
        row: dict[str, object] = {}
        for metric, col in (("success", "response"), ("roi", "roi")):
            fig = PUBLISHED[f"P3.{arm}.{metric}"]
            est = 100 * a.loc[arm, "response_rate" if metric == "success" else "roi"]
            row[f"{metric}_published"] = fig.value
            row[f"{metric}_replicated"] = est
            row[f"{metric}_ci_low"] = 100 * a.loc[arm, f"{col}_ci_low"]
            row[f"{metric}_ci_high"] = 100 * a.loc[arm, f"{col}_ci_high"]
            row[f"{metric}_tolerance"] = fig.tolerance_label
            row[f"{metric}_status"] = "match" if np.isfinite(est) and fig.within(est) else "miss"
        rows[arm] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "offer"
    return out


# --------------------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------------------
def break_even_cost(result: OfferExperimentResult, arm: str, rival: str) -> float:
    """Cost per reacquired customer at which ``arm``'s ROI falls to ``rival``'s.

    With response rate ``r``, baseline ``b`` and value ``V`` of ``arm`` unchanged,
    ``ROI(c) = (r - b) V / (r c) - 1``; solving ``ROI(c) = ROI_rival`` gives
    ``c = (r - b) V / (r (1 + ROI_rival))``. Above that cost the rival pays better.

    Parameters
    ----------
    result : OfferExperimentResult
        An analysed experiment.
    arm, rival : str
        The two arms.

    Returns
    -------
    float
        USD per reacquired customer of ``arm``.
    """
    a, r = result.arms.loc[arm], result.arms.loc[rival]
    b = result.baseline_rate
    return float((a["response_rate"] - b) * a["value_per_reacquired"]
                 / (a["response_rate"] * (1 + r["roi"])))


def horizon_value(
    df: pd.DataFrame,
    horizon_months: float | None = None,
    annual_rate: float = ANNUAL_DISCOUNT_RATE,
    tenure_col: str | None = None,
    margin_col: str = "second_monthly_margin",
) -> np.ndarray:
    """Second-lifetime value with the lifetime capped at ``horizon_months``.

    ``lifetime_value(margin, min(tenure, H), annual_rate)`` from
    :mod:`winback_study.analysis.customer_value`; with ``H=None`` and the default rate it equals
    ``slv`` (complete tenure) or ``slv_observed`` (observed tenure).

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
    """
    if tenure_col is None:
        tenure_col = ("latent_second_tenure_months" if "latent_second_tenure_months" in df
                      else "second_tenure_months")
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
    arm_col: str = "offer",
    baseline_arm: str = "none",
    tenure_col: str | None = None,
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
        Which offers' costs the multiplier scales; default all. Scaling every cost by
        ``k`` divides ``1 + ROI`` of every arm by ``k`` and so never reorders ROI (it can
        reorder net profit); scale one offer (``"upgrade"``) to find the cost at which it
        loses its place.
    costs : mapping, optional
        Base costs by offer received (merged over the HBR exhibit's).
    arm_col, baseline_arm : str
        Arm column and the no-offer arm.
    tenure_col : str, optional
        Second-lifetime months (see :func:`horizon_value`).

    Returns
    -------
    SensitivityResult
        ``.table`` (long), ``.scenarios``, ``.flips()``, ``.pivot()``, ``.summary()``.
    """
    table = offer_cost_table(costs)
    received = [o for o in table if o != "none"]
    if scaled_offers is None:
        scaled = tuple(received)
    else:
        scaled = (scaled_offers,) if isinstance(scaled_offers, str) else tuple(scaled_offers)
    unknown = set(scaled) - set(table)
    if unknown:
        raise ValueError(f"unknown offers to scale: {sorted(unknown)}")
    arms = _arms_in(df, arm_col, baseline_arm)
    arm = df[arm_col].astype(str).to_numpy()
    y = df["reacquired"].to_numpy(dtype=bool)
    codes = pd.Categorical(arm, categories=arms).codes
    k = len(arms)
    inarm = codes >= 0
    ret = inarm & y
    offered = np.bincount(codes[inarm], minlength=k).astype(float)
    back = np.bincount(codes[ret], minlength=k).astype(float)
    base_mask = arm == baseline_arm
    if not base_mask.any():
        raise ValueError(f"no customers in the baseline arm {baseline_arm!r}")
    b = float(y[base_mask].mean())
    c = customer_costs(df, table, arm_col)
    is_scaled = df["offer_received" if "offer_received" in df else arm_col].astype(str).isin(
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


class _CallableModule(types.ModuleType):
    """Lets ``winback_study.analysis.offer_experiment(df, ...)`` run the analysis while
    ``winback_study.analysis.offer_experiment.OFFER_ARMS`` etc. keep naming the module's contents."""

    def __call__(self, *args: Any, **kwargs: Any) -> OfferExperimentResult:
        return offer_experiment(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
