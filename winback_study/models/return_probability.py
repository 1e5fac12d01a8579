"""Return probability: who comes back after defecting (the study's first equation).

Two views of the same question:

* **descriptive**: observed return rates by segment, with Wilson intervals
  (:func:`return_rate_table`, :func:`complaint_status`, :func:`referral_band`);
* **model**: :func:`fit_return_model` fits a logit or probit of ``reacquired`` on
  first-lifetime behaviour, the reason for defection and the win-back offer through the
  statsmodels formula API, and returns a :class:`ReturnModel` that reads like a statsmodels
  results object (``params``, ``bse``, ``conf_int()``, ``summary()``) with what a win-back
  analysis needs on top: average marginal effects per factor level, P(return) per
  customer (also under a counterfactual offer), predicted against observed rates by
  segment, out-of-sample AUC and a calibration table, and plots.

Failures that statsmodels reports cryptically (a singular matrix, a coefficient running
off to infinity, a factor level where nobody came back) raise :class:`ReturnModelError`
with a plain message that names the culprit and suggests a fix.

Examples
--------
>>> import winback_study as wb
>>> df = wb.simulate_study(20_000, seed=1)
>>> model = wb.fit_return_model(df, link="probit", holdout=0.3, seed=1)
>>> print(model.summary())                      # doctest: +SKIP
>>> model.marginal_effects()                    # doctest: +SKIP
>>> model.segment_rates(df, by="reason_offer")  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import io
import keyword
import math
import re
import textwrap
import tokenize
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from winback_study.data.describe import SEGMENTS, return_rate_table
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import ReturnModelError
from winback_study.plotting.style import METHOD_COLORS

try:  # statsmodels builds formulas with patsy by default (formulaic is the alternative)
    from patsy import PatsyError as _FormulaError
except ImportError:  # pragma: no cover
    _FormulaError = ValueError  # type: ignore[assignment, misc]

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_RETURN_FORMULA",
    "LINKS",
    "ReturnModel",
    "ReturnModelError",
    "ReturnModelEvaluation",
    "auc_score",
    "calibration_table",
    "fit_return_model",
    "formula_columns",
    "study_factor_order",
]

#: The study's return equation (statsmodels/patsy formula). The offer enters as the
#: concrete offer received plus whether it matches the stated reason, which is how the
#: tailored arm works (it gives each reason its matching offer). The two factors are
#: treatment-coded against the first level of the study's order: ``price`` leavers and
#: ``none`` (no offer). The study table stores them as categoricals in that order, and
#: :func:`fit_return_model` puts plain-text columns into it (:func:`study_factor_order`).
#: Spelling the reference out as ``C(defection_reason, Treatment('price'))`` gives the same
#: estimates, but patsy then converts the column value by value in Python, which made
#: fitting 2.4x and predicting 10x slower.
DEFAULT_RETURN_FORMULA: str = (
    "reacquired ~ referrals + complaints + complaints_resolved"
    " + defection_reason + offer_received + offer_matches_reason"
    " + first_tenure_months + first_monthly_margin + months_since_defection"
)

#: The study's factor columns and their levels, reference level first.
STUDY_FACTORS: dict[str, tuple[str, ...]] = KUMAR_2015.factor_levels()


def study_factor_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its study factor columns as categoricals in the study's level order.

    ``defection_reason``, ``offer_received`` and ``offer`` held as text (or as
    categoricals in another order, e.g. alphabetical after ``astype("category")``) are
    converted so that a formula's treatment coding uses the study's reference levels
    (``price``, ``none``) whenever they are present. Text columns get the levels they
    contain, in the study's order; a column with a level the study does not know is left
    as it is (its reference is then its first level in sorted order). ``df`` is returned
    itself when nothing needs converting, otherwise a copy: the input is never modified.
    """
    changes = {}
    for col, levels in STUDY_FACTORS.items():
        if col not in df.columns:
            continue
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            have = set(s.cat.categories)
            if have <= set(levels) and tuple(s.cat.categories) != tuple(
                    lv for lv in levels if lv in have):
                changes[col] = s.cat.reorder_categories([lv for lv in levels if lv in have])
            continue
        values = set(s.dropna().astype(object).unique())
        if all(isinstance(v, str) for v in values) and values <= set(levels):
            changes[col] = pd.Categorical(s.astype(object),
                                          categories=[lv for lv in levels if lv in values])
    return df.assign(**changes) if changes else df


#: Supported links and the statsmodels formula constructor behind each.
LINKS: dict[str, Callable[..., Any]] = {"logit": smf.logit, "probit": smf.probit}


def _fitted_levels(results: Any) -> dict[str, tuple[Any, ...]]:
    """Levels of each plain-named categorical column of a fitted patsy formula."""
    info = getattr(getattr(results.model, "data", None), "design_info", None)
    out: dict[str, tuple[Any, ...]] = {}
    for factor, finfo in getattr(info, "factor_infos", {}).items():
        name = factor.name()
        if finfo.type == "categorical" and name.isidentifier():
            out[name] = tuple(finfo.categories)
    return out


def _align_levels(df: pd.DataFrame, levels: Mapping[str, tuple[Any, ...]]) -> pd.DataFrame:
    """Give ``df``'s factor columns the fitted categories, so patsy codes them exactly as
    in the fit (and fast). Values the fit never saw are left for patsy to report."""
    changes = {}
    for col, cats in levels.items():
        if col not in df.columns:
            continue
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype) and tuple(s.cat.categories) == cats:
            continue
        if set(s.dropna().astype(object).unique()) <= set(cats):
            changes[col] = pd.Categorical(s.astype(object), categories=list(cats))
    return df.assign(**changes) if changes else df














# ---------------------------------------------------------------------------------------
# discrimination and calibration
# ---------------------------------------------------------------------------------------

def auc_score(y: Any, p: Any) -> float:
    """Area under the ROC curve: the chance a returner gets a higher P(return) than a non-returner.

    Computed with the rank (Mann-Whitney) formula, ties counted one half; O(n log n).

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome.
    p : array-like of float
        Predicted probability (or any score).

    Returns
    -------
    float
        AUC in [0, 1]; NaN if ``y`` has only one class.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _auc_se(auc: float, n1: int, n0: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc**2 / (1.0 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return float(np.sqrt(max(var, 0.0)))


def calibration_table(y: Any, p: Any, bins: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Predicted against observed return rate by bin of predicted probability (deciles by default).

    Parameters
    ----------
    y : array-like of 0/1
        Observed outcome.
    p : array-like of float
        Predicted P(return).
    bins : int
        Number of equal-count bins (fewer when many predictions tie).
    alpha : float
        1 - confidence level of the Wilson interval on the observed rate.

    Returns
    -------
    pandas.DataFrame
        One row per bin (index ``bin``, 1 = lowest predictions): ``customers``,
        ``p_min``, ``p_max``, ``predicted`` (mean P(return)), ``observed`` (return rate),
        ``ci_low``, ``ci_high``, ``gap`` (predicted - observed).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    codes = pd.qcut(p, bins, labels=False, duplicates="drop")
    g = pd.DataFrame({"y": y, "p": p}).groupby(codes + 1)
    table = pd.DataFrame(
        {
            "customers": g.size(),
            "p_min": g["p"].min(),
            "p_max": g["p"].max(),
            "predicted": g["p"].mean(),
            "observed": g["y"].mean(),
        }
    )
    table.index.name = "bin"
    lo, hi = proportion_confint(table["observed"] * table["customers"], table["customers"],
                                alpha=alpha, method="wilson")
    table["ci_low"], table["ci_high"] = lo, hi
    table["gap"] = table["predicted"] - table["observed"]
    return table


@dataclass(frozen=True, repr=False)
class ReturnModelEvaluation:
    """How well a return model discriminates and is calibrated on one sample.

    Attributes
    ----------
    sample : str
        ``"holdout"`` (customers not used in the fit) or ``"estimation"`` (in-sample).
    n, n_returned : int
        Customers evaluated and how many of them came back.
    auc, auc_se : float
        Area under the ROC curve and its Hanley-McNeil standard error.
    brier : float
        Mean squared error of P(return).
    log_loss : float
        Mean negative log-likelihood per customer.
    hosmer_lemeshow, hl_df, hl_pvalue : float, int, float
        Hosmer-Lemeshow statistic over the calibration bins, its degrees of freedom
        (bins - 2 in the estimation sample, bins on new data) and p-value.
    calibration : pandas.DataFrame
        :func:`calibration_table` of the sample.
    """

    sample: str
    n: int
    n_returned: int
    auc: float
    auc_se: float
    brier: float
    log_loss: float
    hosmer_lemeshow: float
    hl_df: int
    hl_pvalue: float
    calibration: pd.DataFrame

    @classmethod
    def from_predictions(
        cls, y: Any, p: Any, sample: str = "holdout", bins: int = 10
    ) -> ReturnModelEvaluation:
        """Evaluate predictions ``p`` against outcomes ``y`` (0/1).

        Parameters
        ----------
        y : array-like of 0/1
            Observed outcome.
        p : array-like of float
            Predicted P(return), strictly between 0 and 1.
        sample : str
            ``"holdout"`` or ``"estimation"``; sets the Hosmer-Lemeshow degrees of freedom.
        bins : int
            Calibration bins.

        Returns
        -------
        ReturnModelEvaluation
        """
        y = np.asarray(y, dtype=float)
        p = np.asarray(p, dtype=float)
        n1 = int(y.sum())
        auc = auc_score(y, p)
        table = calibration_table(y, p, bins=bins)
        expected = table["predicted"] * table["customers"]
        observed = table["observed"] * table["customers"]
        with np.errstate(divide="ignore", invalid="ignore"):
            hl = float(((observed - expected) ** 2
                        / (expected * (1 - expected / table["customers"]))).sum())
        hl_df = len(table) - 2 if sample == "estimation" else len(table)
        pc = np.clip(p, 1e-15, 1 - 1e-15)
        return cls(
            sample=sample,
            n=int(y.size),
            n_returned=n1,
            auc=auc,
            auc_se=_auc_se(auc, n1, y.size - n1),
            brier=float(np.mean((p - y) ** 2)),
            log_loss=float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc))),
            hosmer_lemeshow=hl,
            hl_df=hl_df,
            hl_pvalue=float(stats.chi2.sf(hl, hl_df)) if hl_df > 0 else float("nan"),
            calibration=table,
        )

    def auc_ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Normal-approximation confidence interval of the AUC (Hanley-McNeil SE)."""
        z = stats.norm.ppf(1 - alpha / 2)
        return (max(self.auc - z * self.auc_se, 0.0), min(self.auc + z * self.auc_se, 1.0))

    @property
    def max_gap(self) -> float:
        """Largest absolute gap between predicted and observed rate over the bins."""
        return float(self.calibration["gap"].abs().max())

    def summary(self) -> str:
        """One readable paragraph."""
        lo, hi = self.auc_ci()
        return (
            f"{self.sample.capitalize()} sample: {self.n:,} customers, "
            f"{self.n_returned:,} returned ({self.n_returned / self.n:.1%}). "
            f"AUC {self.auc:.3f} (95% CI {lo:.3f}-{hi:.3f}); Brier {self.brier:.4f}; "
            f"log loss {self.log_loss:.4f}; Hosmer-Lemeshow chi2 {self.hosmer_lemeshow:.1f} "
            f"on {self.hl_df} df (p = {self.hl_pvalue:.3f}); largest gap between predicted "
            f"and observed rate in a bin {100 * self.max_gap:.1f} pp."
        )

    def __repr__(self) -> str:
        return (f"ReturnModelEvaluation(sample={self.sample!r}, n={self.n}, "
                f"auc={self.auc:.4f}, brier={self.brier:.4f}, hl_pvalue={self.hl_pvalue:.3f})")


# ---------------------------------------------------------------------------------------
# formula handling
# ---------------------------------------------------------------------------------------

#: Names a formula may use that are functions, contrasts or modules, not data columns.
_FORMULA_VOCABULARY = frozenset(
    {"C", "I", "Q", "Treatment", "Sum", "Poly", "Diff", "Helmert", "center", "standardize",
     "scale", "np", "numpy", "bs", "cr", "cc", "te", "log", "exp", "sqrt"}
    | set(dir(builtins))
)


def _formula_names(text: str) -> list[str]:
    """Bare names in a formula side, in order: not called, not attributes, not keywords."""
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ReturnModelError(f"cannot read the formula part {text.strip()!r}: {exc}") from None
    names: list[str] = []
    for i, tok in enumerate(toks):
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            continue
        prev = toks[i - 1].string if i else ""
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        if prev == "." or nxt in ("(", ".", "="):
            continue
        if tok.string not in names:
            names.append(tok.string)
    return names


def formula_columns(formula: str, columns: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The outcome column and the data columns the right-hand side of a formula uses.

    Parameters
    ----------
    formula : str
        A statsmodels/patsy formula ``"outcome ~ terms"``; the outcome must be a plain
        column name.
    columns : sequence of str, optional
        Columns of the data. Names in the formula that are neither columns nor formula
        functions (``C``, ``np``, ``Treatment`` ...) are reported as missing.

    Returns
    -------
    (str, list of str)
        The outcome and the right-hand-side columns, in order of appearance.

    Raises
    ------
    ReturnModelError
        If the formula has no ``~`` or a plain outcome, or (with ``columns``) uses
        columns the data do not have; one message names every missing column.
    """
    if formula.count("~") != 1:
        raise ReturnModelError(f"a return formula needs exactly one '~', got {formula!r}")
    lhs, rhs = formula.split("~")
    outcome = lhs.strip()
    if not outcome.isidentifier():
        raise ReturnModelError(
            f"the left-hand side of the formula must be the name of a 0/1 column, got {outcome!r}; "
            "create the column first, e.g. df['returned'] = (...).astype(int)"
        )
    names = _formula_names(rhs)
    if columns is None:
        return outcome, [n for n in names if n not in _FORMULA_VOCABULARY]
    have = set(columns)
    missing = [n for n in [outcome, *names] if n not in have and n not in _FORMULA_VOCABULARY]
    if missing:
        raise ReturnModelError(
            f"the data have no column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}, which the formula uses. "
            f"Formula: {formula!r}. Add the column(s) or change the formula; the simulated "
            "columns are listed in data/README.md."
        )
    return outcome, [n for n in names if n in have]


def _factor_columns(formula: str, df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Right-hand-side columns that enter as factors (wrapped in ``C()`` or non-numeric)."""
    wrapped = set(re.findall(r"\bC\(\s*([A-Za-z_]\w*)", formula))
    return [c for c in columns
            if c in wrapped or not pd.api.types.is_numeric_dtype(df[c])
            or pd.api.types.is_bool_dtype(df[c])]


def _check_outcome(df: pd.DataFrame, outcome: str) -> None:
    y = df[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        raise ReturnModelError(
            f"the outcome {outcome!r} must be 0/1 (or True/False), got dtype {y.dtype}"
        )
    values = y.dropna()
    if not values.isin([0, 1]).all():
        bad = ", ".join(repr(v) for v in values[~values.isin([0, 1])].unique()[:5].tolist())
        raise ReturnModelError(
            f"the outcome {outcome!r} must be 0/1, but it contains {bad}; "
            "recode it, e.g. df[outcome] = (df[outcome] > 0).astype(int)"
        )
    returned = int(values.sum())
    if returned == 0 or returned == len(values):
        who = "nobody" if returned == 0 else "everybody"
        raise ReturnModelError(
            f"{who} in the data has {outcome} = {int(returned > 0)} ({len(values):,} rows): "
            "a return model needs both returners and non-returners"
        )


def _check_levels(df: pd.DataFrame, outcome: str, factors: Sequence[str]) -> None:
    """Every factor level must have customers, returners and non-returners (else separation)."""
    problems: list[str] = []
    y = df[outcome].astype(float)
    for col in factors:
        tab = y.groupby(df[col], observed=False).agg(["size", "sum"])
        for level, n, k in zip(tab.index, tab["size"], tab["sum"], strict=True):
            if n == 0:
                problems.append(
                    f"level {level!r} of column {col!r} has no customers (an unused category). "
                    f"Fix: df[{col!r}] = df[{col!r}].cat.remove_unused_categories(), and "
                    "if it was the reference level of Treatment(...), name another one"
                )
            elif k == 0:
                problems.append(
                    f"level {level!r} of column {col!r} has no returners (0 of {int(n):,} "
                    f"customers came back), so its coefficient would run off to minus infinity. "
                    f"Fix: merge {level!r} with a similar level, or drop those customers "
                    f"(df[df[{col!r}] != {level!r}])"
                )
            elif k == n:
                problems.append(
                    f"level {level!r} of column {col!r} has only returners ({int(n):,} of "
                    f"{int(n):,} came back), so its coefficient would run off to plus infinity. "
                    f"Fix: merge {level!r} with a similar level, or drop those customers"
                )
    if problems:
        raise ReturnModelError("cannot fit the return model: " + "; ".join(problems) + ".")


_FACTOR_NAME = re.compile(
    r"^(?:C\(\s*(?P<c>[A-Za-z_]\w*)\s*(?:,.*)?\)|(?P<v>[A-Za-z_]\w*))\[(?:T\.)?(?P<level>.*)\]$"
)
_TREATMENT_REF = re.compile(r"Treatment\(\s*(?:reference\s*=\s*)?['\"]?(?P<ref>[^'\")]+)['\"]?\s*\)")


def _levels_of(s: pd.Series) -> list[Any]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    return sorted(s.dropna().unique().tolist())


def _term_table(raw_names: Sequence[str], df: pd.DataFrame) -> pd.DataFrame:
    """Tidy name, variable, level and reference level of every parameter.

    ``C(defection_reason, Treatment('price'))[T.service]`` becomes
    ``defection_reason[service]`` (the naming of :func:`true_return_coefficients`);
    interaction parts are tidied one by one; anything else keeps its statsmodels name.
    """
    rows = []
    for raw in raw_names:
        parts = []
        term, level, ref = raw, None, None
        for part in raw.split(":"):
            m = _FACTOR_NAME.match(part)
            if m is None:
                parts.append(part)
                continue
            var = m.group("c") or m.group("v")
            parts.append(f"{var}[{m.group('level')}]")
            if ":" not in raw:
                term, level = var, m.group("level")
                t = _TREATMENT_REF.search(part)
                ref = t.group("ref") if t else None
        rows.append({"raw": raw, "tidy": ":".join(parts), "term": term, "level": level,
                     "reference": ref})
    table = pd.DataFrame(rows)
    if table["tidy"].duplicated().any():  # two spellings of one factor: keep raw names
        table["tidy"] = table["raw"]
    # reference levels not spelled out in the formula: the level without a dummy
    for var, g in table[table["level"].notna()].groupby("term"):
        if g["reference"].notna().all() or var not in df.columns:
            continue
        shown = {str(v) for v in g["level"]}
        rest = [lv for lv in _levels_of(df[var]) if str(lv) not in shown]
        table.loc[g.index, "reference"] = str(rest[0]) if rest else None
    return table.set_index("tidy").rename_axis("coefficient")


# ---------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------

def _runaway_terms(results: Any, names: pd.Index, k: int = 3) -> str:
    """The terms with the largest standardised coefficients, for a separation message."""
    exog = np.asarray(results.model.exog)
    size = np.abs(np.asarray(results.params)) * exog.std(axis=0)
    order = [i for i in np.argsort(-size) if exog[:, i].std() > 0][:k]
    return ", ".join(f"{names[i]} = {results.params.iloc[i]:.3g}" for i in order)


def _separation_error(results: Any, names: pd.Index, fraction: float | None) -> ReturnModelError:
    share = "" if fraction is None else f" ({fraction:.1%} of customers are predicted with " \
        "probability 0 or 1 and match their outcome)"
    return ReturnModelError(
        "perfect separation: some combination of predictors predicts return exactly"
        f"{share}, so the maximum-likelihood estimates do not exist. "
        f"Largest coefficients: {_runaway_terms(results, names)}. "
        "Fix: drop or coarsen the variable that separates (a level or range where everybody "
        "or nobody returned), merge sparse factor levels, or use a penalised fit "
        "(statsmodels fit_regularized)."
    )


_SINGULAR_MESSAGE = (
    "singular design matrix: some columns of the formula are exact linear combinations of "
    "others (a duplicated or constant column, a variable entered twice, or a factor together "
    "with all its dummies, e.g. both offer and offer_received for one arm). "
    "Fix: remove the redundant term(s) from the formula. Formula: {formula!r}"
)


def _fit_statsmodels(data: pd.DataFrame, formula: str, link: str,
                     fit_kwargs: dict[str, Any]) -> Any:
    """Call statsmodels exactly as a user would, turning its failures into ReturnModelError."""
    kwargs = {"disp": 0, **fit_kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = LINKS[link](formula, data=data)
        except _FormulaError as exc:
            raise ReturnModelError(f"statsmodels could not build the design matrix: {exc}") from None
        try:
            results = model.fit(**kwargs)
        except PerfectSeparationError:
            raise ReturnModelError(
                "perfect separation: some combination of predictors predicts return exactly, "
                "so the maximum-likelihood estimates do not exist. Fix: drop or coarsen the "
                "variable that separates, merge sparse factor levels, or use a penalised fit."
            ) from None
        except np.linalg.LinAlgError:
            raise ReturnModelError(_SINGULAR_MESSAGE.format(formula=formula)) from None
    names = pd.Index(model.exog_names)
    categories = {w.category for w in caught}
    if any(issubclass(c, PerfectSeparationWarning) for c in categories):
        raise _separation_error(results, names, None)
    converged = bool(results.mle_retvals.get("converged", True))
    if not converged:
        p = np.asarray(results.predict())
        y = np.asarray(model.endog)
        exact = ((p < 1e-6) & (y == 0)) | ((p > 1 - 1e-6) & (y == 1))
        if exact.any():
            raise _separation_error(results, names, float(exact.mean()))
        raise ReturnModelError(
            f"the {link} fit did not converge in {results.mle_retvals.get('iterations')} "
            "iterations. Fix: allow more, e.g. fit_kwargs={'maxiter': 200}, rescale "
            "variables measured in large units, or try fit_kwargs={'method': 'bfgs'}."
        )
    if (any(issubclass(c, HessianInversionWarning) for c in categories)
            or not np.all(np.isfinite(np.asarray(results.bse)))):
        raise ReturnModelError(_SINGULAR_MESSAGE.format(formula=formula))
    for w in caught:  # pass on anything else statsmodels said (none expected)
        if not issubclass(w.category, (ConvergenceWarning, RuntimeWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return results


def fit_return_model(
    df: pd.DataFrame,
    formula: str | None = None,
    link: str = "logit",
    *,
    holdout: float | None = None,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
) -> ReturnModel:
    """Fit the probability of return (reacquisition) with a logit or probit.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer (e.g. :func:`winback_study.simulate_study`).
    formula : str, optional
        statsmodels/patsy formula with a 0/1 outcome; default :data:`DEFAULT_RETURN_FORMULA`.
    link : {"logit", "probit"}
        The simulator's return equation is a probit, so ``"probit"`` recovers its
        coefficients; ``"logit"`` gives odds ratios.
    holdout : float, optional
        Share of customers (0-1) held out at random: the model is fitted on the rest and
        evaluated on them (``holdout_evaluation``: AUC, calibration).
    seed : int, optional
        Seed of the holdout split.
    fit_kwargs : dict, optional
        Passed to statsmodels' ``fit`` (e.g. ``maxiter``, ``method``); ``disp=0`` by default.

    Returns
    -------
    ReturnModel

    Raises
    ------
    ReturnModelError
        Missing columns (all named at once), an outcome that is not 0/1, a factor level
        with no returners (or only returners), perfect separation, a singular design or
        a fit that did not converge; every message says what to change.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    formula = DEFAULT_RETURN_FORMULA if formula is None else formula
    link = str(link).lower()
    if link not in LINKS:
        raise ReturnModelError(f"link must be one of {sorted(LINKS)}, got {link!r}")
    outcome, columns = formula_columns(formula, df.columns)
    _check_outcome(df, outcome)
    df = study_factor_order(df)
    train, test = df, None
    if holdout is not None:
        if not 0 < holdout < 1:
            raise ReturnModelError(f"holdout must be a share between 0 and 1, got {holdout!r}")
        n_test = int(round(holdout * len(df)))
        if n_test < 1 or n_test >= len(df):
            raise ReturnModelError(f"holdout={holdout} leaves no customers to fit or to test")
        is_test = np.zeros(len(df), dtype=bool)
        is_test[np.random.default_rng(seed).permutation(len(df))[:n_test]] = True
        train, test = df[~is_test], df[is_test]
        _check_outcome(train, outcome)
    _check_levels(train, outcome, _factor_columns(formula, train, columns))
    results = _fit_statsmodels(train, formula, link, dict(fit_kwargs or {}))
    model = ReturnModel(results, formula=formula, link=link, outcome=outcome, columns=columns,
                        terms=_term_table(list(results.model.exog_names), train))
    if test is not None:
        model.holdout_evaluation = model.evaluate(test)
    return model


# ---------------------------------------------------------------------------------------
# the results object
# ---------------------------------------------------------------------------------------

_LABELS = {
    "referrals": "referrals made (+1)",
    "complaints": "complaints (+1)",
    "complaints_resolved": "complaints resolved (+1)",
    "offer_matches_reason": "offer matches reason (0 to 1)",
    "first_tenure_months": "first-lifetime tenure (+1 month)",
    "first_monthly_margin": "first-lifetime margin (+$1/month)",
    "months_since_defection": "months since defection (+1)",
    "defection_reason": "reason",
    "offer_received": "offer received",
    "offer": "offer arm",
    "Intercept": "intercept",
}


def _with_offer(df: pd.DataFrame, offer: str, columns: Sequence[str],
                design: StudyDesign) -> pd.DataFrame:
    """``df[columns]`` as if every customer had been sent arm ``offer`` (the design's
    one counterfactual, :meth:`StudyDesign.assign`)."""
    keep = [c for c in columns if c not in ("offer", "offer_received", "offer_matches_reason",
                                            "offer_cost")]
    if "defection_reason" in df.columns and "defection_reason" not in keep:
        keep.append("defection_reason")
    return design.assign(df[keep], offer)


class ReturnModel:
    """A fitted return model: estimates, effects, predictions and checks.

    Create it with :func:`fit_return_model`. Coefficient names are tidy
    (``defection_reason[service]``, ``offer_received[discount]``), the same as
    :func:`winback_study.true_return_coefficients`; ``terms`` maps them to the statsmodels
    names and ``results`` is the statsmodels results object itself.

    Attributes
    ----------
    formula, link, outcome : str
        What was fitted.
    columns : list of str
        Data columns the right-hand side uses (``predict`` needs them).
    terms : pandas.DataFrame
        Per coefficient: statsmodels name (``raw``), variable (``term``), factor ``level``
        and ``reference`` level.
    results : statsmodels BinaryResultsWrapper
        The underlying statsmodels results.
    holdout_evaluation : ReturnModelEvaluation or None
        Out-of-sample AUC and calibration when fitted with ``holdout``.
    """

    def __init__(self, results: Any, *, formula: str, link: str, outcome: str,
                 columns: Sequence[str], terms: pd.DataFrame) -> None:
        self.results = results
        self.formula = formula
        self.link = link
        self.outcome = outcome
        self.columns = list(columns)
        self.terms = terms
        self.holdout_evaluation: ReturnModelEvaluation | None = None
        self.design: StudyDesign = KUMAR_2015
        self._margeff: Any = None

    # ------------------------------------------------------------------ estimates
    def _tidy(self, values: Any, name: str) -> pd.Series:
        return pd.Series(np.asarray(values), index=self.terms.index.copy(), name=name)

    @property
    def params(self) -> pd.Series:
        """Coefficients on the link scale (log-odds for logit, z-scale for probit)."""
        return self._tidy(self.results.params, "coef")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the coefficients (observed information)."""
        return self._tidy(self.results.bse, "std_err")

    @property
    def zvalues(self) -> pd.Series:
        """Wald z statistics."""
        return self._tidy(self.results.tvalues, "z")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the Wald tests."""
        return self._tidy(self.results.pvalues, "p_value")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals of the coefficients.

        Parameters
        ----------
        alpha : float
            1 - confidence level.

        Returns
        -------
        pandas.DataFrame
            Columns ``ci_low``, ``ci_high``, indexed by tidy coefficient name.
        """
        ci = np.asarray(self.results.conf_int(alpha))
        return pd.DataFrame(ci, index=self.terms.index.copy(), columns=["ci_low", "ci_high"])

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients."""
        cov = np.asarray(self.results.cov_params())
        return pd.DataFrame(cov, index=self.terms.index.copy(), columns=self.terms.index.copy())

    def odds_ratios(self, alpha: float = 0.05) -> pd.DataFrame:
        """Odds ratios ``exp(coef)`` with confidence intervals (logit link only).

        Returns
        -------
        pandas.DataFrame
            Columns ``odds_ratio``, ``ci_low``, ``ci_high``.
        """
        if self.link != "logit":
            raise ReturnModelError(
                f"odds ratios are a logit quantity and this model uses the {self.link} link. "
                "Refit with link='logit', or compare effects across links with "
                "marginal_effects()"
            )
        out = np.exp(self.conf_int(alpha))
        out.insert(0, "odds_ratio", np.exp(self.params))
        return out

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table: ``coef``, ``std_err``, ``z``, ``p_value``, ``ci_low``, ``ci_high``
        (and ``odds_ratio`` for the logit)."""
        table = pd.concat([self.params, self.bse, self.zvalues, self.pvalues,
                           self.conf_int(alpha)], axis=1)
        if self.link == "logit":
            table["odds_ratio"] = np.exp(table["coef"])
        return table

    @property
    def nobs(self) -> int:
        """Customers used in the fit."""
        return int(self.results.nobs)

    @property
    def n_returned(self) -> int:
        """Customers in the fit who came back."""
        return int(np.asarray(self.results.model.endog).sum())

    @property
    def llf(self) -> float:
        """Maximised log-likelihood."""
        return float(self.results.llf)

    @property
    def pseudo_r2(self) -> float:
        """McFadden's pseudo R-squared, ``1 - llf / llnull``."""
        return float(self.results.prsquared)

    @property
    def aic(self) -> float:
        """Akaike information criterion."""
        return float(self.results.aic)

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return float(self.results.bic)

    @property
    def converged(self) -> bool:
        """Whether the optimiser converged (always True for a returned model)."""
        return bool(self.results.mle_retvals.get("converged", True))

    def recovery_table(self, truth: pd.Series, alpha: float = 0.05) -> pd.DataFrame:
        """Estimates beside known true coefficients (simulated data).

        Parameters
        ----------
        truth : pandas.Series
            True coefficients by tidy name, e.g. :func:`winback_study.true_return_coefficients`
            (probit scale: compare with a probit fit).
        alpha : float
            1 - confidence level.

        Returns
        -------
        pandas.DataFrame
            ``true``, ``coef``, ``std_err``, ``ci_low``, ``ci_high``, ``covered`` (the interval
            contains the truth), ``z`` ((coef - true) / std_err).
        """
        missing = sorted(set(truth.index) ^ set(self.params.index))
        if missing:
            raise ReturnModelError(
                f"truth and model name different coefficients: {missing}. Fit the formula "
                "whose coefficients `truth` holds (DEFAULT_RETURN_FORMULA for "
                "true_return_coefficients())"
            )
        table = pd.concat([truth.rename("true"), self.params, self.bse, self.conf_int(alpha)],
                          axis=1).loc[self.params.index]
        table["covered"] = (table["ci_low"] <= table["true"]) & (table["true"] <= table["ci_high"])
        table["z"] = (table["coef"] - table["true"]) / table["std_err"]
        return table

    # ------------------------------------------------------------------ marginal effects
    def marginal_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """Average marginal effects on P(return), one row per coefficient.

        From statsmodels ``get_margeff(at="overall", dummy=True)``: for a factor level and a
        0/1 variable the average discrete change in P(return) (level against the reference,
        1 against 0); for a count or amount the average derivative (per unit). Standard
        errors by the delta method.

        Parameters
        ----------
        alpha : float
            1 - confidence level.

        Returns
        -------
        pandas.DataFrame
            Indexed by tidy name: ``term``, ``level``, ``reference``, ``kind``
            (``"vs reference"``, ``"0 to 1"``, ``"per unit"``), ``effect``, ``std_err``, ``z``,
            ``p_value``, ``ci_low``, ``ci_high`` (probability scale, 0.05 = 5 points).
        """
        if self._margeff is None:
            self._margeff = self.results.get_margeff(at="overall", method="dydx", dummy=True)
        me = self._margeff
        const = np.asarray(self.results.model.data.const_idx if
                           self.results.model.data.const_idx is not None else [], dtype=int)
        keep = np.setdiff1d(np.arange(len(self.terms)), const)
        terms = self.terms.iloc[keep]
        dummies = set(np.atleast_1d(me.dummy_idx).tolist()) if me.dummy_idx is not None else set()
        kind = np.where(terms["level"].notna(), "vs reference",
                        np.where(np.isin(keep, list(dummies)), "0 to 1", "per unit"))
        ci = np.asarray(me.conf_int(alpha))
        return pd.DataFrame(
            {
                "term": terms["term"].to_numpy(),
                "level": terms["level"].to_numpy(),
                "reference": terms["reference"].to_numpy(),
                "kind": kind,
                "effect": np.asarray(me.margeff),
                "std_err": np.asarray(me.margeff_se),
                "z": np.asarray(me.tvalues),
                "p_value": np.asarray(me.pvalues),
                "ci_low": ci[:, 0],
                "ci_high": ci[:, 1],
            },
            index=terms.index.copy(),
        )

    def effect_labels(self, index: Sequence[str] | None = None) -> pd.Series:
        """Readable labels for coefficients, e.g. ``reason: service (vs price)``."""
        terms = self.terms if index is None else self.terms.loc[list(index)]
        labels = [
            f"{_LABELS.get(t, t)}: {lv} (vs {ref})" if isinstance(lv, str)
            else _LABELS.get(name, f"{name} (+1)")
            for name, t, lv, ref in zip(terms.index, terms["term"], terms["level"],
                                        terms["reference"], strict=True)
        ]
        return pd.Series(labels, index=terms.index, name="label")

    # ------------------------------------------------------------------ prediction
    def _require(self, df: pd.DataFrame, columns: Sequence[str], purpose: str) -> None:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ReturnModelError(
                f"{purpose} needs the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}, which the data do not have "
                f"(the model uses {self.columns})"
            )

    def predict(self, df: pd.DataFrame, offer: str | None = None) -> pd.Series:
        """P(return) for each customer.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers with the model's columns (``columns``).
        offer : str, optional
            Counterfactual: predict as if every customer were sent this experiment arm
            (``none``, ``discount``, ``upgrade``, ``bundled``, ``tailored``), setting
            ``offer_received`` and ``offer_matches_reason`` the way the experiment does.

        Returns
        -------
        pandas.Series
            ``p_return`` aligned with ``df.index`` (NaN where a used column is missing).
        """
        self._require(df, self.columns, "predict")
        data = df if offer is None else _with_offer(df, offer, self.columns, self.design)
        data = _align_levels(data, _fitted_levels(self.results))
        try:
            p = self.results.predict(data)
        except _FormulaError as exc:
            detail = str(exc).split("returned by patsy is:")[-1].strip().splitlines()[0]
            raise ReturnModelError(
                f"cannot predict for these data: {detail}. Levels of a factor must be "
                "ones the model was fitted on."
            ) from None
        if isinstance(p, pd.Series):
            p = p.reindex(df.index)
        return pd.Series(np.asarray(p, dtype=float), index=df.index, name="p_return")

    def segment_rates(self, df: pd.DataFrame, by: str | pd.Series | list = "reason_offer",
                      alpha: float = 0.05) -> pd.DataFrame:
        """Predicted against observed return rate by segment.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers (with the outcome column for the observed rates).
        by : str, Series or list
            A named segmentation from :data:`SEGMENTS` (``"reason_offer"``, ``"referrer"``,
            ``"complaint"``, ``"referral_band"``), a column name, an aligned Series, or a
            list of these.
        alpha : float
            1 - confidence level of the Wilson interval on the observed rate.

        Returns
        -------
        pandas.DataFrame
            Per segment: ``customers``, ``predicted`` (mean P(return)) and, when the outcome
            is in ``df``, ``returned``, ``observed``, ``ci_low``, ``ci_high``, ``gap``
            (predicted - observed).
        """
        items = by if isinstance(by, list) else [by]
        keys: list[pd.Series] = []
        for item in items:
            if isinstance(item, pd.Series):
                keys.append(item)
            elif isinstance(item, str) and item in SEGMENTS:
                made = SEGMENTS[item](df)
                keys.extend(made if isinstance(made, list) else [made])
            elif isinstance(item, str) and item in df.columns:
                keys.append(df[item])
            else:
                raise ReturnModelError(
                    f"cannot segment by {item!r}: not a column, a Series or one of "
                    f"{sorted(SEGMENTS)}"
                )
        p = self.predict(df)
        pred = p.groupby(keys, observed=True).agg(["size", "mean"])
        pred.columns = ["customers", "predicted"]
        if self.outcome not in df.columns:
            return pred
        obs = return_rate_table(df, keys, outcome=self.outcome, alpha=alpha)
        table = obs.rename(columns={"return_rate": "observed"})
        table["predicted"] = pred["predicted"]
        table["gap"] = table["predicted"] - table["observed"]
        return table[["customers", "returned", "observed", "ci_low", "ci_high", "predicted",
                      "gap"]]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, df: pd.DataFrame, bins: int = 10) -> ReturnModelEvaluation:
        """Out-of-sample discrimination (AUC) and calibration on customers ``df``.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers not used in the fit, with the outcome column.
        bins : int
            Calibration bins (deciles by default).

        Returns
        -------
        ReturnModelEvaluation
        """
        self._require(df, [*self.columns, self.outcome], "evaluate")
        p = self.predict(df).to_numpy()
        y = df[self.outcome].to_numpy(dtype=float)
        ok = np.isfinite(p) & np.isfinite(y)
        return ReturnModelEvaluation.from_predictions(y[ok], p[ok], sample="holdout", bins=bins)

    def in_sample_evaluation(self, bins: int = 10) -> ReturnModelEvaluation:
        """AUC and calibration on the customers the model was fitted on."""
        return ReturnModelEvaluation.from_predictions(
            np.asarray(self.results.model.endog), np.asarray(self.results.predict()),
            sample="estimation", bins=bins,
        )

    # ------------------------------------------------------------------ reporting
    def summary(self, alpha: float = 0.05) -> str:
        """Readable text: fit statistics, the coefficient table and any holdout evaluation."""
        level = f"{1 - alpha:.0%}"
        table = self.summary_frame(alpha).rename(columns={
            "std_err": "std err", "p_value": "P>|z|", "ci_low": f"{level} low",
            "ci_high": f"{level} high", "odds_ratio": "odds ratio"})
        body = table.to_string(float_format=lambda v: f"{v:.4f}")
        width = max(len(line) for line in body.splitlines())
        rule = "=" * width
        n, k = self.nobs, self.n_returned
        lines = [
            rule,
            f"Return model ({self.link} link): P({self.outcome} = 1)",
            rule,
            textwrap.fill(self.formula, width=max(width, 60), initial_indent="Formula:        ",
                          subsequent_indent=" " * 16, break_long_words=False),
            f"Customers:      {n:,} ({k:,} returned, {k / n:.1%})",
            f"Log-likelihood: {self.llf:,.1f}    McFadden pseudo R2: {self.pseudo_r2:.4f}    "
            f"AIC: {self.aic:,.1f}",
            f"Converged:      {'yes' if self.converged else 'no'} "
            f"({self.results.mle_retvals.get('iterations', '?')} iterations)",
            "-" * width,
            body,
            "-" * width,
            "Coefficients are on the " + ("log-odds" if self.link == "logit" else "probit (z)")
            + " scale; marginal_effects() gives changes in P(return).",
        ]
        if self.holdout_evaluation is not None:
            lines.append(self.holdout_evaluation.summary())
        lines.append(rule)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"ReturnModel(link={self.link!r}, nobs={self.nobs}, "
                f"n_params={len(self.terms)}, llf={self.llf:.6g})")

    # ------------------------------------------------------------------ plots
    def plot_marginal_effects(self, ax: Axes | None = None, alpha: float = 0.05) -> Axes:
        """Average marginal effects with confidence intervals, in percentage points.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure otherwise.
        alpha : float
            1 - confidence level of the error bars.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        me = self.marginal_effects(alpha)
        order = sorted(range(len(me)), key=lambda i: (
            self.columns.index(me["term"].iloc[i]) if me["term"].iloc[i] in self.columns
            else len(self.columns), i))
        me = me.iloc[order]
        if ax is None:
            _, ax = plt.subplots(figsize=(8.5, 0.38 * len(me) + 1.6))
        y = np.arange(len(me))[::-1]
        pp = 100 * me[["effect", "ci_low", "ci_high"]].to_numpy()
        ax.errorbar(pp[:, 0], y, xerr=np.vstack([pp[:, 0] - pp[:, 1], pp[:, 2] - pp[:, 0]]),
                    fmt="none", ecolor="#555555", elinewidth=1.2, capsize=3, zorder=2)
        # neutral black (offer colours would read as offers); the labels show the sign
        ax.scatter(pp[:, 0], y, color=METHOD_COLORS[0], s=28, zorder=3)
        for yi, (eff, _, hi) in zip(y, pp, strict=True):
            ax.annotate(f"{eff:+.2f}" if abs(eff) < 1 else f"{eff:+.1f}", (hi, yi), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=8.5, color="#333333")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, self.effect_labels(me.index).to_numpy())
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"average marginal effect on P(return), percentage points "
                      f"({1 - alpha:.0%} CI)")
        ax.set_title(f"What moves the probability of return ({self.link})")
        lo, hi = np.nanmin(pp[:, 1]), np.nanmax(pp[:, 2])
        span = hi - lo
        ax.set_xlim(min(lo, 0) - 0.05 * span, max(hi, 0) + 0.12 * span)
        return ax

    def plot_calibration(self, ax: Axes | None = None,
                         evaluation: ReturnModelEvaluation | None = None) -> Axes:
        """Observed against predicted return rate by decile, with the 45-degree line.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure otherwise.
        evaluation : ReturnModelEvaluation, optional
            What to plot; default the holdout evaluation, else the estimation sample.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        ev = evaluation or self.holdout_evaluation or self.in_sample_evaluation()
        cal = ev.calibration
        if ax is None:
            _, ax = plt.subplots(figsize=(5.6, 5.2))
        top = 100 * math.ceil(max(cal["ci_high"].max(), cal["predicted"].max()) * 10) / 10
        ax.plot([0, top], [0, top], color="#7F7F7F", linestyle="--", linewidth=1,
                label="perfect calibration")
        x, yv = 100 * cal["predicted"], 100 * cal["observed"]
        ax.errorbar(x, yv, yerr=[yv - 100 * cal["ci_low"], 100 * cal["ci_high"] - yv],
                    fmt="o", color=METHOD_COLORS[0], ecolor=METHOD_COLORS[0], capsize=3,
                    markersize=5,
                    label=f"decile of P(return), {ev.sample} data (95% CI)")
        ax.set(xlim=(0, top), ylim=(0, top), xlabel="predicted return rate (%)",
               ylabel="observed return rate (%)")
        ax.set_aspect("equal")
        ax.set_title(f"Calibration, {ev.sample} data (n = {ev.n:,}, AUC {ev.auc:.2f})")
        ax.legend(loc="upper left")
        return ax
