"""The win-back offer experiment: response rate against return on investment, arm by arm.

:func:`offer_experiment` analyses a randomised win-back experiment: per-arm response rates
with Wilson intervals, costs, values, net profit and incremental ROI (the package's one
definition, :mod:`winback_study.analysis.roi`) with a bootstrap interval; an overall
chi-square test and pairwise comparisons (response rate and ROI) with a Holm correction;
the exhibit replicated beside the published one (:func:`replicated_exhibit`); and the
cost at which one arm's ROI falls to another's (:func:`break_even_cost`). How ROI and the
ranking of the arms move with the assumptions is :mod:`winback_study.analysis.sensitivity`.

Arms, the control arm and costs come from the design (``design=``, by default
:func:`~winback_study.analysis.roi.experiment_design` of the data): the study's four
offers and its no-offer group for the study's data, a user's own arms otherwise. Every
p-value column is ``p_value`` (``p_value_holm`` after Holm's correction), as in the
model summaries.

The bootstrap resamples customers within each arm, independently across arms (the arms
were randomised separately), and is exact and vectorised: in a resample of ``n``
customers of an arm the number who came back is ``Binomial(n, k / n)`` and, given that
number, they are drawn uniformly with replacement from the arm's ``k`` returners. Only
the returners' values and costs are drawn, summed per replicate with ``numpy.bincount``.
An arm of :data:`EXACT_MAX_RETURNERS` (20,000) returners or more is resampled by
sufficient statistics instead (exact counts per cost level, the value sums by their
skew-corrected normal limit; see :func:`_bootstrap_sums_large`): seconds instead of
minutes on millions of customers, the same distribution to far below Monte Carlo error.

Examples
--------
>>> import winback_study as wb
>>> res = wb.offer_experiment(wb.simulate_study(6_000, seed=1, n_per_arm=800), n_boot=50)
>>> res.ranking("roi")[0] in wb.KUMAR_2015.treatment_arms
True
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from winback_study.analysis.roi import (
    CostSpec,
    ValueSpec,
    arms_present,
    baseline_mask,
    customer_costs,
    customer_values,
    experiment_design,
    incremental_roi,
    offer_cost_table,
)
from winback_study.core.checks import binary_outcome, flagged_rows, require_columns
from winback_study.core.rng import SeedLike, independent_rng
from winback_study.core.text import text_values
from winback_study.data.published import PUBLISHED
from winback_study.design import ARM_COLUMN, COST_COLUMN, RECEIVED_COLUMN, StudyDesign
from winback_study.errors import DataError, DesignError, rows_text

__all__ = [
    "bootstrap_roi",
    "holm",
    "OfferExperimentResult",
    "offer_experiment",
    "replicated_exhibit",
    "break_even_cost",
]


# --------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------
#: an arm with at least this many returners is resampled by sufficient statistics
#: (:func:`_bootstrap_sums_large`); smaller arms draw every resampled customer
EXACT_MAX_RETURNERS = 20_000
#: a cost level with fewer returners than this is drawn customer by customer even in a
#: large arm (the normal sum needs many draws)
_MIN_NORMAL_GROUP = 2_000


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
    ``max_draws`` draws (memory), each block fully vectorised. An arm of
    :data:`EXACT_MAX_RETURNERS` returners or more goes to :func:`_bootstrap_sums_large`
    (``O(levels x n_boot)`` instead of ``O(k x n_boot)``).
    """
    k = len(returner_values)
    if n == 0 or k == 0:
        zeros = np.zeros(n_boot)
        return zeros, zeros.copy(), zeros.copy()
    if k >= EXACT_MAX_RETURNERS:
        return _bootstrap_sums_large(n, returner_values, returner_costs, n_boot, rng,
                                     max_draws)
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


def _exact_sums(counts: np.ndarray, values: np.ndarray, costs: np.ndarray,
                rng: np.random.Generator, max_draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``counts[b]`` uniform draws with replacement from the rows (values, costs)."""
    n_boot = len(counts)
    vsum, csum = np.zeros(n_boot), np.zeros(n_boot)
    start = 0
    while start < n_boot:
        # as many replicates as fit in max_draws draws (at least one)
        cum = np.cumsum(counts[start:])
        stop = start + max(1, int(np.searchsorted(cum, max_draws, side="right")))
        block = counts[start:stop]
        idx = rng.integers(0, len(values), size=int(block.sum()))
        rep = np.repeat(np.arange(len(block)), block)
        vsum[start:stop] = np.bincount(rep, values[idx], len(block))
        csum[start:stop] = np.bincount(rep, costs[idx], len(block))
        start = stop
    return vsum, csum


def _bootstrap_sums_large(
    n: int, values: np.ndarray, costs: np.ndarray, n_boot: int, rng: np.random.Generator,
    max_draws: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_bootstrap_returner_sums` of a large arm, by sufficient statistics.

    The same resampling scheme, drawn in three exact steps and one limit: the number of
    returners in a resample is ``Binomial(n, k / n)``; how many of them come from each cost
    level is ``Multinomial`` over the levels' shares (exact: a resampled returner is a
    uniform draw, so its level is drawn with the level's share); the cost sum is then
    exact (count x cost). The value sum of ``c`` uniform draws from a level's ``s``
    returners has mean ``c mu``, variance ``c sigma**2`` and skewness ``g / sqrt(c)``
    (``mu``, ``sigma``, ``g``: the level's mean, sd and skewness); it is drawn from the
    normal with that mean and variance, skew-corrected (Cornish-Fisher, first order), and
    the error of that limit is ``O(1 / c)`` in the distribution: with ``c`` in the
    thousands or more it is far below the Monte Carlo error of any number of replicates
    one would run. A level with fewer than ``_MIN_NORMAL_GROUP`` returners is resampled
    customer by customer. With more than 64 cost levels (a per-customer cost column),
    the arm is one level and (value sum, cost sum) are drawn jointly normal, with their
    covariance.
    """
    k = len(values)
    counts = rng.binomial(n, k / n, size=n_boot)
    levels, inverse = np.unique(costs, return_inverse=True)
    if len(levels) > 64:
        groups = [np.arange(k)]
    else:
        order = np.argsort(inverse, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(levels)))[:-1])
    sizes = np.array([len(g) for g in groups], dtype=float)
    per_group = (counts[:, None] if len(groups) == 1 else
                 rng.multinomial(counts, sizes / sizes.sum()))
    vsum, csum = np.zeros(n_boot), np.zeros(n_boot)
    for j, g in enumerate(groups):
        c = per_group[:, j]
        v, cost = values[g], costs[g]
        if len(g) < _MIN_NORMAL_GROUP:
            dv, dc = _exact_sums(c, v, cost, rng, max_draws)
            vsum += dv
            csum += dc
            continue
        mu, sd = float(v.mean()), float(v.std())
        skew = float(np.mean(((v - mu) / sd) ** 3)) if sd > 0 else 0.0
        z = rng.standard_normal(n_boot)
        sq = np.sqrt(c)
        gam = np.divide(skew, sq, out=np.zeros(n_boot), where=sq > 0)
        # Cornish-Fisher: skewness gam, mean and variance kept exactly
        zs = (z + gam * (z * z - 1) / 6) / np.sqrt(1 + gam * gam / 18)
        vsum += c * mu + sq * sd * zs
        cmu, csd = float(cost.mean()), float(cost.std())
        if csd == 0:
            csum += c * cmu
        else:
            cov = float(np.mean((v - mu) * (cost - cmu)))
            beta = cov / sd ** 2 if sd > 0 else 0.0
            rest = np.sqrt(max(csd ** 2 - beta ** 2 * sd ** 2, 0.0))
            csum += c * cmu + sq * (beta * sd * z + rest * rng.standard_normal(n_boot))
    return counts.astype(float), vsum, csum


def bootstrap_roi(
    df: pd.DataFrame,
    costs: CostSpec = None,
    value: ValueSpec = "slv",
    *,
    arm_col: str = ARM_COLUMN,
    baseline_arm: str | None = None,
    n_boot: int = 2000,
    seed: SeedLike = 0,
    design: StudyDesign | None = None,
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
        See :func:`~winback_study.analysis.roi.customer_costs` and
        :func:`~winback_study.analysis.roi.customer_values`.
    arm_col : str
        Arm column.
    baseline_arm : str, optional
        The no-offer arm; default the design's control.
    n_boot : int
        Number of replicates.
    seed : int or numpy.random.Generator
        Seed (or generator) of the resampling.
    design : StudyDesign, optional
        Arms and costs; default :func:`~winback_study.analysis.roi.experiment_design`.

    Returns
    -------
    pandas.DataFrame
        ``n_boot`` rows (replicates), one column per arm, ROI as a fraction.
    """
    require_columns(df, ["reacquired", arm_col, value], "bootstrap_roi")
    d = experiment_design(df, design, arm_col=arm_col, control=baseline_arm, costs=costs)
    baseline = d.control if baseline_arm is None else baseline_arm
    y = binary_outcome(df, "reacquired", "bootstrap_roi").astype(bool)
    arm = text_values(df[arm_col])  # per category, not per row
    c = customer_costs(df, costs, arm_col, design=d)
    v = customer_values(df, value)
    return _bootstrap_roi(y, arm, c, v, arms_present(d, arm, baseline), baseline, n_boot,
                          independent_rng(seed))


def _bootstrap_roi(y: np.ndarray, arm: np.ndarray, c: np.ndarray, v: np.ndarray,
                   arms: Sequence[str], baseline_arm: str, n_boot: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    base = baseline_mask(arm, baseline_arm)
    n0 = int(base.sum())
    b = rng.binomial(n0, y[base].mean(), size=n_boot) / n0
    out = {}
    for a in arms:
        m = arm == a
        back = m & y
        r, vs, cs = _bootstrap_returner_sums(int(m.sum()), v[back], c[back], n_boot, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[a] = incremental_roi(r / m.sum(), b, vs / r, cs / r)
    return pd.DataFrame(out, index=pd.RangeIndex(n_boot, name="replicate"))


def _bootstrap_p_value(diff: np.ndarray) -> float:
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


def _level(alpha: float) -> str:
    """The confidence level ``1 - alpha`` in percent (``95%``)."""
    return f"{100 * (1 - alpha):.3g}%"


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
        ``p_value``.
    pairwise_response, pairwise_roi : pandas.DataFrame
        One row per pair of arms (``"a - b"``): ``difference`` (first minus second),
        ``ci_low`` and ``ci_high`` (its ``1 - alpha`` interval: Newcombe for rates,
        bootstrap percentile for ROI), ``p_value`` (unadjusted), ``p_value_holm``
        (Holm-adjusted) and ``significant`` at ``alpha`` after adjustment.
    roi_replicates : pandas.DataFrame
        The bootstrap replicates of each arm's ROI.
    costs : dict or str
        The costs used (offer -> USD, or the name of a cost column).
    n_boot : int
        Bootstrap replicates.
    alpha : float
        1 - confidence level of every interval, and the Holm family-wise error rate.
    design : StudyDesign or None
        The design the data were analysed with (arms, control, costs).
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
    design: StudyDesign | None = None

    @property
    def baseline_rate(self) -> float:
        """Return rate of the no-offer group, ``b``."""
        return float(self.baseline["response_rate"])

    def exhibit(self) -> pd.DataFrame:
        """The published exhibit replicated: see :func:`replicated_exhibit`."""
        return replicated_exhibit(self)

    def ranking(self, by: str = "roi") -> list[str]:
        """Arms from best to worst by ``roi``, ``response_rate`` or ``net_profit``.

        Arms where the measure is undefined (ROI of a zero-cost offer) are left out.
        """
        return list(self.arms[by].dropna().sort_values(ascending=False).index)

    def summary(self) -> str:
        """A plain-text report: arms, tests, rankings."""
        a = self.arms
        ci = f"{_level(self.alpha)} CI"
        lines = [
            f"Win-back offer experiment: {int(a['offered'].sum()):,} customers in "
            f"{len(a)} arm{'s' if len(a) != 1 else ''}; no-offer baseline {int(self.baseline['offered']):,} customers, "
            f"return rate {_fmt_pct(self.baseline_rate)} "
            f"[{_fmt_pct(self.baseline['response_ci_low'])}, "
            f"{_fmt_pct(self.baseline['response_ci_high'])}]",
            f"value: {self.value}; costs: {self.costs}; bootstrap: {self.n_boot} replicates, "
            f"seed {self.seed}",
            "",
            f"{'arm':<10}{'offered':>9}{'back':>7}{f'response [{ci}]':>24}"
            f"{'cost/back':>11}{'value/back':>12}{'net profit':>13}{f'ROI [{ci}]':>24}",
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
                         f"dof = {int(cs['dof'])}, p = {cs['p_value']:.2g}")
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
    return pd.DataFrame(columns=["difference", "ci_low", "ci_high", "p_value",
                                 "p_value_holm", "significant"],
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
        {"difference": k1 / n1 - k2 / n2, "ci_low": lo, "ci_high": hi, "p_value": p,
         "p_value_holm": adj, "significant": rej},
        index=pd.Index([f"{a} - {b}" for a, b in pairs], name="pair"),
    )


def _pairwise_roi(arms: pd.DataFrame, reps: pd.DataFrame, alpha: float) -> pd.DataFrame:
    rows = {}
    for a, b in itertools.combinations(arms.index, 2):
        d = (reps[a] - reps[b]).to_numpy()
        lo, hi = np.nanquantile(d, [alpha / 2, 1 - alpha / 2]) if np.isfinite(d).any() else (
            np.nan, np.nan)
        rows[f"{a} - {b}"] = {"difference": arms.loc[a, "roi"] - arms.loc[b, "roi"],
                              "ci_low": lo, "ci_high": hi, "p_value": _bootstrap_p_value(d)}
    if not rows:
        return _no_pairs()
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "pair"
    out["p_value_holm"], out["significant"] = holm(out["p_value"].to_numpy(), alpha)
    return out


def offer_experiment(
    df: pd.DataFrame,
    costs: CostSpec = None,
    value: ValueSpec = "slv",
    *,
    arm_col: str = ARM_COLUMN,
    baseline_arm: str | None = None,
    n_boot: int = 2000,
    seed: SeedLike = 0,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
) -> OfferExperimentResult:
    """Analyse the win-back offer experiment: one row per arm, tests between arms.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer with ``arm_col``, ``reacquired`` (0/1) and what
        ``costs`` and ``value`` need (by default ``offer_received`` and ``slv``).
    costs : mapping, str or None
        Offer costs paid by each accepting customer. ``None``: the design's (the study's:
        discount $120, upgrade $105, bundled $225; the tailored arm pays the cost of the
        offer each reason receives). A mapping ``{"upgrade": 150.0}`` changes some offers
        (keyed by offer received); a string names a per-customer cost column
        (:func:`~winback_study.analysis.roi.customer_costs`).
    value : str, float or callable
        Value of a reacquired customer: a column (default true ``slv``), a number, or
        ``f(df) -> array``.
    arm_col : str
        Column naming the arm.
    baseline_arm : str, optional
        The no-offer arm (the baseline return rate ``b`` of incremental ROI); default the
        design's control.
    n_boot : int
        Bootstrap replicates for the ROI intervals and ROI tests.
    seed : int or numpy.random.Generator
        Seed of the bootstrap; the same seed gives the same intervals.
    alpha : float
        1 - confidence level, and the family-wise error rate of the Holm correction.
    design : StudyDesign, optional
        Arms, control and costs; default
        :func:`~winback_study.analysis.roi.experiment_design` of ``df`` (the study's
        design for the study's arms, else the arms found in the data).

    Returns
    -------
    OfferExperimentResult
        ``.arms``, ``.baseline``, ``.chi_square``, ``.pairwise_response``,
        ``.pairwise_roi``, ``.roi_replicates``; ``.summary()`` prints them,
        ``.exhibit()`` sets them beside the published exhibit.

    Notes
    -----
    ROI follows :func:`~winback_study.analysis.roi.incremental_roi`: net profit of an arm
    is ``(r - b) * n * value_per_reacquired - r * n * cost_per_reacquired``.

    Raises
    ------
    DesignError
        ``df`` holds an arm ``design`` does not know, or an offer without a cost.
    DataError
        A column it needs is missing; ``reacquired`` is not 0/1; a reacquired customer has
        no value; no customer is in an offer arm, or none in the baseline arm (the message
        names the column and, where rows are at fault, the rows).
    """
    require_columns(df, ["reacquired", arm_col, value], "offer_experiment")
    d = experiment_design(df, design, arm_col=arm_col, control=baseline_arm, costs=costs)
    baseline_arm = d.control if baseline_arm is None else baseline_arm
    y = binary_outcome(df, "reacquired", "offer_experiment").astype(bool)
    arm = text_values(df[arm_col])  # per category, not per row
    c = customer_costs(df, costs, arm_col, design=d)
    v = customer_values(df, value)
    missing = y & ~np.isfinite(v)
    if missing.any():
        rows, n = flagged_rows(missing, df.index)
        raise DataError(
            f"{n:,} reacquired customers have no value"
            + (f" in column {value!r}" if isinstance(value, str) else "")
            + f" ({rows_text(rows, n)}); pass value= a column, number or function that "
            "values every reacquired customer",
            column=value if isinstance(value, str) else None, rows=rows, n_rows=n,
            problem="missing_value",
        )
    arms = arms_present(d, arm, baseline_arm)
    if not arms:
        raise DataError(f"no customers in an offer arm besides {baseline_arm!r} in column "
                        f"{arm_col!r} (the design's arms: {list(d.treatment_arms)})",
                        column=arm_col, problem="no_offer_arm")
    base = baseline_mask(arm, baseline_arm, arm_col)

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
    rng = independent_rng(seed)
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
    chi = pd.Series({"statistic": float(stat), "dof": int(dof), "p_value": float(pval)},
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
    elif costs is None and RECEIVED_COLUMN not in df and COST_COLUMN in df:
        used_costs = COST_COLUMN
    else:
        used_costs = offer_cost_table(costs, design=d)
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
        design=d,
    )


def replicated_exhibit(result: OfferExperimentResult | pd.DataFrame, *,
                       design: StudyDesign | None = None) -> pd.DataFrame:
    """The HBR offer exhibit: published success rate and ROI beside the replicated ones.

    Published values and tolerances are read from :mod:`winback_study.data.published`
    (ids ``P3.<arm>.success`` and ``P3.<arm>.roi``).

    Parameters
    ----------
    result : OfferExperimentResult or pandas.DataFrame
        An analysed experiment, or a study table (analysed with the defaults).
    design : StudyDesign, optional
        The design of a study table passed as ``result``. Only arms with a published
        figure get a row.

    Returns
    -------
    pandas.DataFrame
        One row per published arm, in percent: ``success_published``,
        ``success_replicated``, ``success_ci_low``, ``success_ci_high``,
        ``success_tolerance``, ``success_status`` (``match``/``miss``), and the same six
        for ``roi_``.
    """
    if isinstance(result, pd.DataFrame):
        result = offer_experiment(result, design=design)
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

    Raises
    ------
    DesignError
        ``arm`` or ``rival`` is not an analysed arm of ``result``.
    """
    unknown = [x for x in (arm, rival) if x not in result.arms.index]
    if unknown:
        raise DesignError(f"no analysed arm named {', '.join(repr(x) for x in unknown)} "
                          f"(the experiment's arms: {list(result.arms.index)})",
                          problem="unknown_arm")
    a, r = result.arms.loc[arm], result.arms.loc[rival]
    b = result.baseline_rate
    return float((a["response_rate"] - b) * a["value_per_reacquired"]
                 / (a["response_rate"] * (1 + r["roi"])))

