"""The return model on unique covariate patterns: a whole customer base fitted exactly.

When every covariate of the return model is discrete (counts, months, factors), millions
of customers share a few thousand covariate patterns. The probit (or logit) likelihood
depends on the data only through the number of customers of each pattern who returned
and who did not, so a binomial GLM on the ``(pattern, outcome)`` cells with those counts as
frequency weights has the same maximum, the same log-likelihood and the same standard
errors as the fit on every row (:func:`~winback_study.models.return_probability.
fit_return_model`), from a table a thousand times smaller. :func:`return_patterns` counts
the cells of a frame; :mod:`winback_study.scale.fit` counts them over a partitioned dataset
with Dask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from winback_study.core.formula import FORMULA_VOCABULARY, formula_names
from winback_study.core.results import check_alpha
from winback_study.design import StudyDesign
from winback_study.errors import DataError, ReturnModelError
from winback_study.models.base import RegressionResult
from winback_study.models.portable import LinearIndex, _spec
from winback_study.models.return_checks import study_factor_order  # (installs patsy's fast path)
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA, RETURN_OUTCOME

__all__ = ["return_patterns", "fit_return_patterns", "ReturnPatternsResult",
           "pattern_columns", "COUNT_COLUMN"]

#: Column of :func:`return_patterns` holding how many customers share the cell.
COUNT_COLUMN = "n_customers"

_LINKS = {"probit": sm.families.links.Probit, "logit": sm.families.links.Logit}


def pattern_columns(formula: str | None = None) -> tuple[str, list[str]]:
    """The outcome and the covariate columns of a return formula."""
    formula = formula or DEFAULT_RETURN_FORMULA
    if "~" not in formula:
        formula = f"{RETURN_OUTCOME} ~ {formula}"
    lhs, rhs = formula.split("~", 1)
    cols = [n for n in dict.fromkeys(formula_names(rhs)) if n not in FORMULA_VOCABULARY]
    return lhs.strip() or RETURN_OUTCOME, cols


def is_discrete(s: pd.Series) -> bool:
    """Whether a column takes few enough kinds of values to count patterns of (integers,
    booleans, factors); floats never are, even when whole."""
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_integer_dtype(s) or pd.api.types.is_object_dtype(s)
            or pd.api.types.is_string_dtype(s))


def return_patterns(df: pd.DataFrame, formula: str | None = None) -> pd.DataFrame:
    """Count the customers of each (covariate pattern, outcome) cell.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per customer, with the formula's columns.
    formula : str, optional
        ``"reacquired ~ covariates"``; default the study's return formula.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the covariates, the outcome and :data:`COUNT_COLUMN`.
    """
    outcome, cols = pattern_columns(formula)
    missing = [c for c in [outcome, *cols] if c not in df.columns]
    if missing:
        raise DataError(f"return_patterns needs the column(s) {missing}", column=missing[0],
                        problem="missing_column")
    return (df.groupby([*cols, outcome], observed=True, sort=True).size()
            .rename(COUNT_COLUMN).reset_index())


class ReturnPatternsResult(RegressionResult):
    """A return model fitted on pattern counts (:func:`fit_return_patterns`).

    The package's result convention: ``params_``, ``standard_errors_``, the ``summary``
    table, ``print_summary()``, ``log_likelihood_``, ``nobs`` (customers, not cells);
    ``index_`` is the fitted linear index for scoring, ``results`` the statsmodels GLM.
    """

    equation = "return"

    def __init__(self, results: Any, *, formula: str, link: str, n_cells: int,
                 alpha: float = 0.05) -> None:
        self.results, self.formula, self.link, self.n_cells = results, formula, link, n_cells
        self._alpha = check_alpha(alpha)

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        return self.results.params, self.results.bse

    @property
    def nobs(self) -> int:
        return int(round(float(np.sum(self.results.model.freq_weights))))

    @property
    def log_likelihood_(self) -> float:
        return float(self.results.llf)

    @property
    def index_(self) -> LinearIndex:
        """The linear index as a :class:`~winback_study.models.portable.LinearIndex`."""
        return LinearIndex.from_design_info(_spec(self.results), self.results.params)

    def _header(self) -> list[tuple[str, str]]:
        return [("model", f"{self.link} on covariate patterns (frequency-weighted GLM)"),
                ("formula", self.formula),
                ("customers", f"{self.nobs:,}"), ("patterns x outcome cells", f"{self.n_cells:,}")]


def fit_return_patterns(df: pd.DataFrame, formula: str | None = None, *,
                        link: str = "probit", count: str = COUNT_COLUMN,
                        alpha: float = 0.05, design: StudyDesign | None = None
                        ) -> ReturnPatternsResult:
    """Fit the return model on (pattern, outcome) counts: the row-level estimates.

    Parameters
    ----------
    df : pandas.DataFrame
        The cells: from :func:`return_patterns` (or a Dask ``groupby(...).size()``), the
        covariates, the 0/1 outcome and the count of customers of each cell.
    formula : str, optional
        ``"reacquired ~ covariates"``; default the study's return formula.
    link : str
        ``"probit"`` (default) or ``"logit"``.
    count : str
        The count column.
    alpha : float
        1 - confidence level of the intervals.
    design : StudyDesign, optional
        The experiment's arms and reasons: their first levels are the references, as in
        :func:`~winback_study.models.return_probability.fit_return_model`.

    Returns
    -------
    ReturnPatternsResult

    Raises
    ------
    DataError
        A column is missing, the outcome is not 0/1 or a count is not a positive number.
    ReturnModelError
        Nobody (or everybody) returned, or the GLM does not converge.
    """
    alpha = check_alpha(alpha)
    if link not in _LINKS:
        raise ReturnModelError(f"link must be one of {sorted(_LINKS)}, got {link!r}")
    outcome, cols = pattern_columns(formula)
    patterns = df
    missing = [c for c in [outcome, *cols, count] if c not in patterns.columns]
    if missing:
        raise DataError(f"fit_return_patterns needs the column(s) {missing}",
                        column=missing[0], problem="missing_column")
    y = pd.to_numeric(patterns[outcome], errors="coerce")
    if not y.isin([0, 1]).all():
        raise DataError(f"column {outcome!r} must be 0/1", column=outcome, problem="not_0_or_1")
    w = pd.to_numeric(patterns[count], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(w) & (w > 0)):
        raise DataError(f"column {count!r} must hold positive counts", column=count,
                        problem="not_positive")
    back = float(w[y.to_numpy() == 1].sum())
    if back == 0 or back == w.sum():
        raise ReturnModelError(f"{'nobody' if back == 0 else 'everybody'} returned: the "
                               "return model needs both outcomes")
    patterns = study_factor_order(patterns[[*cols, outcome, count]], design)
    rhs = (formula or DEFAULT_RETURN_FORMULA).split("~", 1)[-1].strip()
    full = f"{outcome} ~ {rhs}"
    model = smf.glm(full, data=patterns, family=sm.families.Binomial(link=_LINKS[link]()),
                    freq_weights=w)
    start = model.fit(tol=1e-10, maxiter=100)  # IRLS: robust and fast to the maximum
    # one Newton polish: the observed information, as the row-level probit reports it
    # (IRLS's expected information differs from it for the probit's non-canonical link)
    res = model.fit(method="newton", start_params=start.params, tol=1e-12, maxiter=20,
                    disp=False) if start.converged else start
    if not (start.converged and res.mle_retvals.get("converged", True)):
        raise ReturnModelError("the return model on covariate patterns did not converge in "
                               "100 iterations; look for a covariate that separates returners")
    return ReturnPatternsResult(res, formula=full, link=link, n_cells=len(patterns),
                                alpha=alpha)
