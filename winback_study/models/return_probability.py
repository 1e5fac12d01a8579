"""Return probability: who comes back after defecting (the study's first equation).

:func:`fit_return_model` fits a logit or probit of ``reacquired`` on first-lifetime
behaviour, the reason for defection and the win-back offer through the statsmodels formula
API. The :class:`ReturnModel` it returns follows the package's result convention
(:class:`~winback_study.core.results.FittedResult`: ``params_``, ``summary``,
``print_summary()`` ...), keeps statsmodels' names as aliases (``params``, ``bse``, ``llf``,
``conf_int()``, ``summary_frame()``), and adds what a win-back analysis needs: average
marginal effects per factor level, P(return) per customer (also under a counterfactual
offer), predicted against observed rates by segment, out-of-sample AUC and calibration
(:mod:`winback_study.models.evaluation`) and plots (:mod:`winback_study.plotting.charts`).

A probit return model is also the first step of the selection correction
(:mod:`winback_study.models.selection`): its linear ``index``, ``inverse_mills`` ratio,
``generalized_residual`` and ``add_control`` are defined for the probit link only.

Failures that statsmodels reports cryptically (a singular matrix, a coefficient running
off to infinity, a factor level where nobody came back) raise :class:`ReturnModelError`
with a plain message that names the culprit and suggests a fix; missing columns and an
outcome that is not 0/1 raise :class:`~winback_study.errors.DataError`.

Examples
--------
>>> import winback_study as wb
>>> df = wb.simulate_study(20_000, seed=1)
>>> model = wb.fit_return_model(df, link="probit", holdout=0.3, seed=1)
>>> model.print_summary()                       # doctest: +SKIP
>>> model.marginal_effects()                    # doctest: +SKIP
>>> model.segment_rates(df, by="reason_offer")  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from winback_study.core.checks import require_columns
from winback_study.core.formula import formula_columns, split_formula
from winback_study.core.results import check_alpha
from winback_study.core.rng import SeedLike, independent_rng
from winback_study.data.describe import SEGMENTS, return_rate_table
from winback_study.design import StudyDesign
from winback_study.errors import DataError, ReturnModelError
from winback_study.models.base import RegressionResult
from winback_study.models.evaluation import ReturnModelEvaluation
from winback_study.models.marginal_effects import average_marginal_effects
from winback_study.models.return_checks import (
    LINKS,
    FormulaError,
    align_levels,
    check_fitted_levels,
    check_levels,
    check_outcome,
    design_or_reason,
    drop_unused_categories,
    factor_columns,
    fit_statsmodels,
    fitted_levels,
    model_design,
    order_factors,
    study_factor_order,
    term_table,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CONTROL_COLUMN",
    "DEFAULT_RETURN_FORMULA",
    "LINKS",
    "ReturnModel",
    "ReturnModelError",
    "fit_return_model",
    "inverse_mills_ratio",
    "model_design",
    "probit_score_blocks",
    "study_factor_order",
]

#: The study's return equation (statsmodels/patsy formula). The offer enters as the
#: concrete offer received plus whether it matches the stated reason, which is how the
#: tailored arm works (it gives each reason its matching offer). The two factors are
#: treatment-coded against the first level of the design's order
#: (:meth:`~winback_study.design.StudyDesign.factor_levels`): in the study, ``price``
#: leavers and ``none`` (no offer). The study table stores them as categoricals in that
#: order, and :func:`fit_return_model` puts plain-text columns into it
#: (:func:`study_factor_order`). Spelling the reference out as
#: ``C(defection_reason, Treatment('price'))`` gives the same estimates, but patsy then
#: converts the column value by value in Python, which made fitting 2.4x and predicting
#: 10x slower.
DEFAULT_RETURN_FORMULA: str = (
    "reacquired ~ referrals + complaints + complaints_resolved"
    " + defection_reason + offer_received + offer_matches_reason"
    " + first_tenure_months + first_monthly_margin + months_since_defection"
)

#: The return equation's default outcome (a 0/1 column).
RETURN_OUTCOME: str = "reacquired"

#: Name of the control-function column :meth:`ReturnModel.add_control` adds.
CONTROL_COLUMN: str = "inverse_mills"




















_LOG_SQRT_2PI = float(np.log(np.sqrt(2 * np.pi)))


def inverse_mills_ratio(index: np.ndarray | pd.Series) -> np.ndarray:
    """Inverse Mills ratio ``phi(c) / Phi(c)``, computed on the log scale (stable for c << 0).

    Parameters
    ----------
    index : array-like
        Probit index ``c = x'gamma``.

    Returns
    -------
    numpy.ndarray
        ``E[u | u > -c]`` for standard normal ``u``; positive, about ``-c`` for very negative
        ``c`` and tending to 0 for large ``c``.
    """
    c = np.asarray(index, dtype=float)
    # scipy.stats.norm.logpdf(c) - norm.logcdf(c), operation for operation, without the
    # distribution machinery's argument checks (a third of the time on millions of rows)
    log_pdf = -c**2 / 2.0 - _LOG_SQRT_2PI
    return np.exp(log_pdf - special.log_ndtr(c))


#: rows per pass when a model's design is read or rebuilt a chunk at a time (bounds the
#: per-row temporaries at millions of customers)
CHUNK_ROWS: int = 1_000_000


def probit_score_blocks(exog: np.ndarray, endog: np.ndarray, params: np.ndarray,
                        chunk_rows: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The probit's Hessian and the outer product of its scores, summed over the rows.

    ``H = -sum_i lambda_i (lambda_i + x_i'g) x_i x_i'`` and ``B = sum_i g_i g_i'`` with
    ``g_i = lambda_i x_i`` (statsmodels' ``Probit.hessian`` and ``score_obs``; ``lambda_i =
    q_i phi(q_i x_i'g) / Phi(q_i x_i'g)``, ``q_i = 2 y_i - 1``), a chunk of rows at a time:
    the first step's blocks of the two-step sandwich
    (:func:`~winback_study.models.selection.two_step_covariance`).
    """
    x = np.asarray(exog)
    y = np.asarray(endog, dtype=float)
    g = np.asarray(params, dtype=float)
    k = x.shape[1]
    hessian, outer = np.zeros((k, k)), np.zeros((k, k))
    for i in range(0, x.shape[0], chunk_rows):
        xc = np.asarray(x[i:i + chunk_rows], dtype=float)
        xb = xc @ g
        q = 2.0 * y[i:i + chunk_rows] - 1.0
        lam = q * inverse_mills_ratio(q * xb)
        hessian -= xc.T @ (xc * (lam * (lam + xb))[:, None])
        score = xc * lam[:, None]
        outer += score.T @ score
    return hessian, outer


def _return_formula(formula: str | None) -> str:
    """The full return formula: ``None`` is the study's; a missing outcome is ``reacquired``."""
    if formula is None:
        return DEFAULT_RETURN_FORMULA
    default_rhs = DEFAULT_RETURN_FORMULA.split("~", 1)[1].strip()
    outcome, rhs = split_formula(formula, default_rhs, RETURN_OUTCOME, ReturnModelError)
    return f"{outcome} ~ {rhs}"


# ---------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------













# ---------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------









def fit_return_model(
    df: pd.DataFrame,
    formula: str | None = None,
    *,
    link: str = "logit",
    holdout: float | None = None,
    seed: SeedLike = 0,
    fit_kwargs: dict[str, Any] | None = None,
    alpha: float = 0.05,
    design: StudyDesign | None = None,
) -> ReturnModel:
    """Fit the probability of return (reacquisition) with a logit or probit.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer (e.g. :func:`winback_study.simulate_study`).
    formula : str, optional
        ``"outcome ~ covariates"`` (statsmodels/patsy) with a 0/1 outcome; the outcome may
        be left out (``"~ x + y"`` or ``"x + y"``) to keep ``reacquired``. Default
        :data:`DEFAULT_RETURN_FORMULA`.
    link : {"logit", "probit"}
        The simulator's return equation is a probit, so ``"probit"`` recovers its
        coefficients; ``"logit"`` gives odds ratios.
    holdout : float, optional
        Share of customers (0-1) held out at random: the model is fitted on the rest and
        evaluated on them (``holdout_evaluation``: AUC, calibration).
    seed : int or numpy.random.Generator, optional
        Seed of the holdout split (an independent stream,
        :func:`~winback_study.core.rng.independent_rng`: it never replays the simulator's
        draws for the same seed).
    fit_kwargs : dict, optional
        Passed to statsmodels' ``fit`` (e.g. ``maxiter``, ``method``); ``disp=0`` by default.
    alpha : float
        1 - confidence level of every interval the model reports (0.05: 95%).
    design : StudyDesign, optional
        The experiment's arms and reasons (:mod:`winback_study.design`). Its factor levels
        set the treatment coding (references: its first reason and its control arm) and
        its arms are what ``predict(df, offer=...)`` can assign. Default
        :func:`model_design` of ``df``: the study's design for the study's arms, else the
        design the frame carries or the arms read from it. Stored as ``model.design``.

    Returns
    -------
    ReturnModel

    Raises
    ------
    DataError
        Missing columns (all named at once) or an outcome that is not 0/1.
    DesignError
        ``design`` is given and the data have arms it does not know.
    ReturnModelError
        A bad formula or link, a factor level with no returners (or only returners),
        perfect separation, a singular design or a fit that did not converge; every
        message says what to change.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    alpha = check_alpha(alpha)
    link = str(link).lower()
    if link not in LINKS:
        raise ReturnModelError(f"link must be one of {sorted(LINKS)}, got {link!r}")
    formula = _return_formula(formula)
    outcome, columns = formula_columns(formula, df.columns, ReturnModelError)
    check_outcome(df, outcome)
    design, no_design = design_or_reason(df, design)
    if design is not None:
        df = order_factors(df, design.factor_levels())
    df = drop_unused_categories(df, factor_columns(formula, df, columns))
    train, test = df, None
    if holdout is not None:
        if not 0 < holdout < 1:
            raise ReturnModelError(f"holdout must be a share between 0 and 1, got {holdout!r}")
        n_test = int(round(holdout * len(df)))
        if n_test < 1 or n_test >= len(df):
            raise ReturnModelError(f"holdout={holdout} leaves no customers to fit or to test")
        is_test = np.zeros(len(df), dtype=bool)
        is_test[independent_rng(seed).permutation(len(df))[:n_test]] = True
        train, test = df[~is_test], df[is_test]
        check_outcome(train, outcome)
    check_levels(train, outcome, factor_columns(formula, train, columns))
    results = fit_statsmodels(train, formula, link, dict(fit_kwargs or {}))
    model = ReturnModel(results, formula=formula, link=link, outcome=outcome, columns=columns,
                        terms=term_table(list(results.model.exog_names), train), alpha=alpha,
                        design=design)
    model._no_design = no_design
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


def _numeric_label(name: str) -> str:
    """The label of a numeric term: the study's where it names its unit (a file's own
    numeric ``offer`` column, say, is not the study's offer arm)."""
    label = _LABELS.get(name)
    if name == "Intercept" or (label is not None and "(" in label):
        return label or name
    return f"{name} (+1)"


def _with_offer(df: pd.DataFrame, offer: str, columns: Sequence[str],
                design: StudyDesign | None, no_design: str | None = None) -> pd.DataFrame:
    """``df[columns]`` as if every customer had been sent arm ``offer`` (the design's
    one counterfactual, :meth:`StudyDesign.assign`)."""
    if design is None:
        raise ReturnModelError(
            f"cannot predict under arm {offer!r}: the model has no study design to assign "
            f"it with ({no_design or 'none was resolved'}). Refit with "
            "fit_return_model(df, ..., design=StudyDesign(offers={...}))")
    keep = [c for c in columns if c not in ("offer", "offer_received", "offer_matches_reason",
                                            "offer_cost")]
    if "defection_reason" in df.columns and "defection_reason" not in keep:
        keep.append("defection_reason")
    return design.assign(df[keep], offer)


class ReturnModel(RegressionResult):
    """A fitted return model: estimates, effects, predictions, checks and the selection step.

    Create it with :func:`fit_return_model` (or
    :func:`~winback_study.models.selection.fit_selection`, the probit of the selection
    correction). Coefficient names are tidy
    (``defection_reason[service]``, ``offer_received[discount]``), the same as
    :func:`winback_study.true_return_coefficients`; ``terms`` maps them to the statsmodels
    names and ``results`` is the statsmodels results object itself.

    The package's result convention (``params_``, ``standard_errors_``,
    ``confidence_intervals_``, the ``summary`` table, ``print_summary()``,
    ``log_likelihood_``, ``aic_``, ``nobs``) comes with statsmodels-style aliases:
    ``params``, ``bse``, ``zvalues``, ``pvalues``, ``llf``, ``aic``, ``conf_int()``,
    ``summary_frame()``.

    Attributes
    ----------
    formula, link, outcome : str
        What was fitted (``formula`` is the full ``outcome ~ covariates``).
    columns : list of str
        Data columns the right-hand side uses (``predict`` needs them).
    terms : pandas.DataFrame
        Indexed by ``term`` (the tidy coefficient name, as :attr:`summary`): statsmodels
        name (``raw``), the data column it belongs to (``variable``), factor ``level`` and
        ``reference`` level.
    design : StudyDesign or None
        The design the model was fitted under (``design=`` of :func:`fit_return_model`):
        its factor levels set the treatment coding, and ``predict(df, offer=...)`` assigns
        its arms. None when the data's arms could not be read into a design.
    results : statsmodels BinaryResultsWrapper
        The underlying statsmodels results.
    holdout_evaluation : ReturnModelEvaluation or None
        Out-of-sample AUC and calibration when fitted with ``holdout``.
    """

    equation = "return"

    def __init__(self, results: Any, *, formula: str, link: str, outcome: str,
                 columns: Sequence[str], terms: pd.DataFrame, alpha: float = 0.05,
                 design: StudyDesign | None = None) -> None:
        self.results = results
        self.formula = formula
        self.link = link
        self.outcome = outcome
        self.columns = list(columns)
        self.terms = terms
        self.holdout_evaluation: ReturnModelEvaluation | None = None
        self.design: StudyDesign | None = design
        self._no_design: str | None = None
        self._alpha = check_alpha(alpha)
        self._margeff: Any = None
        #: what remove_data() kept of the estimation data (None: the data are there)
        self._kept: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the convention
    @property
    def ratio_name(self) -> str | None:  # type: ignore[override]
        """``odds_ratio`` for the logit link; None for the probit."""
        return "odds_ratio" if self.link == "logit" else None

    def _coefficients(self) -> tuple[pd.Series, pd.Series]:
        index = self.terms.index.copy()
        return (pd.Series(np.asarray(self.results.params), index=index),
                pd.Series(np.asarray(self.results.bse), index=index))

    @property
    def nobs(self) -> int:
        """Customers used in the fit."""
        return int(self.results.nobs)

    @property
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood."""
        return float(self.results.llf)

    def _alpha_or_default(self, alpha: float | None) -> float:
        return self._alpha if alpha is None else check_alpha(alpha)

    # ------------------------------------------------------------------ statsmodels names
    @property
    def params(self) -> pd.Series:
        """Coefficients on the link scale (log-odds for logit, z-scale for probit); ``params_``."""
        return self.params_

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the coefficients (observed information); ``standard_errors_``."""
        return self.standard_errors_

    @property
    def zvalues(self) -> pd.Series:
        """Wald z statistics."""
        return self.summary["z"].rename("z")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the Wald tests."""
        return self.summary["p_value"].rename("p_value")

    @property
    def llf(self) -> float:
        """Maximised log-likelihood; ``log_likelihood_``."""
        return self.log_likelihood_

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Wald confidence intervals of the coefficients.

        Parameters
        ----------
        alpha : float, optional
            1 - confidence level; default the model's (``confidence_intervals_``).

        Returns
        -------
        pandas.DataFrame
            Columns ``ci_low``, ``ci_high``, indexed by tidy coefficient name.
        """
        return self.summary_frame(alpha)[["ci_low", "ci_high"]]

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """The ``summary`` table, at another confidence level if ``alpha`` is given."""
        if alpha is None:
            return self.summary.copy()
        return self._coefficient_table(check_alpha(alpha))

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients."""
        cov = np.asarray(self.results.cov_params())
        return pd.DataFrame(cov, index=self.terms.index.copy(), columns=self.terms.index.copy())

    def odds_ratios(self, alpha: float | None = None) -> pd.DataFrame:
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
        table = self.summary_frame(alpha)
        return table[["odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high"]].rename(
            columns={"odds_ratio_ci_low": "ci_low", "odds_ratio_ci_high": "ci_high"})

    @property
    def n_returned(self) -> int:
        """Customers in the fit who came back."""
        if self.data_removed:
            return int(self._kept["n_returned"])
        return int(np.asarray(self.results.model.endog).sum())

    @property
    def pseudo_r2(self) -> float:
        """McFadden's pseudo R-squared, ``1 - llf / llnull``."""
        if self.data_removed:
            return float(self._kept["pseudo_r2"])
        return float(self.results.prsquared)

    @property
    def aic(self) -> float:
        """Akaike information criterion (statsmodels'; equals ``aic_``)."""
        return float(self.results.aic)

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return float(self.results.bic)

    @property
    def converged(self) -> bool:
        """Whether the optimiser converged (always True for a returned model)."""
        return bool(self.results.mle_retvals.get("converged", True))

    def recovery_table(self, truth: pd.Series, alpha: float | None = None) -> pd.DataFrame:
        """Estimates beside known true coefficients (simulated data).

        Parameters
        ----------
        truth : pandas.Series
            True coefficients by tidy name, e.g. :func:`winback_study.true_return_coefficients`
            (probit scale: compare with a probit fit).
        alpha : float, optional
            1 - confidence level; default the model's.

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
        table = self.summary_frame(alpha)
        table = pd.concat([truth.rename("true"), table[["coef", "std_err", "ci_low", "ci_high"]]],
                          axis=1).loc[table.index]
        table["covered"] = (table["ci_low"] <= table["true"]) & (table["true"] <= table["ci_high"])
        table["z"] = (table["coef"] - table["true"]) / table["std_err"]
        return table

    # ------------------------------------------------------------------ marginal effects
    def marginal_effects(self, alpha: float | None = None) -> pd.DataFrame:
        """Average marginal effects on P(return), one row per coefficient.

        As statsmodels' ``get_margeff(at="overall", dummy=True)``: for a factor level and a
        0/1 variable the average discrete change in P(return) (level against the reference,
        1 against 0); for a count or amount the average derivative (per unit). Standard
        errors by the delta method, with the analytic gradient
        (:mod:`~winback_study.models.marginal_effects`: seconds, not minutes, at millions
        of customers).

        Parameters
        ----------
        alpha : float, optional
            1 - confidence level; default the model's.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``term`` (tidy name): ``variable``, ``level``, ``reference``, ``kind``
            (``"vs reference"``, ``"0 to 1"``, ``"per unit"``), ``effect``, ``std_err``, ``z``,
            ``p_value``, ``ci_low``, ``ci_high`` (probability scale, 0.05 = 5 points).
        """
        alpha = self._alpha_or_default(alpha)
        if self._margeff is None:
            self._require_data("marginal_effects()")
            model = self.results.model
            self._margeff = average_marginal_effects(
                model.exog, np.asarray(self.results.params), np.asarray(
                    self.results.cov_params()), self.link, const_idx=model.data.const_idx)
        me = self._margeff
        keep = me.columns
        terms = self.terms.iloc[keep]
        kind = np.where(terms["level"].notna(), "vs reference",
                        np.where(me.dummy, "0 to 1", "per unit"))
        ci = me.conf_int(alpha)
        z = me.effect / me.std_err
        return pd.DataFrame(
            {
                "variable": terms["variable"].to_numpy(),
                "level": terms["level"].to_numpy(),
                "reference": terms["reference"].to_numpy(),
                "kind": kind,
                "effect": me.effect,
                "std_err": me.std_err,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
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
            else _numeric_label(name)
            for name, t, lv, ref in zip(terms.index, terms["variable"], terms["level"],
                                        terms["reference"], strict=True)
        ]
        return pd.Series(labels, index=terms.index, name="label")

    # ------------------------------------------------------------------ prediction
    def _require(self, df: pd.DataFrame, columns: Sequence[str], purpose: str) -> None:
        require_columns(df, columns, purpose, hint=f"the model uses {self.columns}")

    def _model_data(self, df: pd.DataFrame, offer: str | None, purpose: str) -> pd.DataFrame:
        """``df`` (under ``offer``) with its factors in the fitted levels, checked."""
        self._require(df, self.columns, purpose)
        data = (df if offer is None
                else _with_offer(df, offer, self.columns, self.design, self._no_design))
        levels = fitted_levels(self.results)
        check_fitted_levels(data, levels, offer)
        return align_levels(data, levels)

    def _predict(self, df: pd.DataFrame, offer: str | None, which: str, purpose: str
                 ) -> np.ndarray:
        """statsmodels' prediction (``which="mean"`` or ``"linear"``) aligned with ``df``."""
        data = self._model_data(df, offer, purpose)
        # a chunk of rows at a time: statsmodels builds the design matrix of all the rows
        # it predicts (0.5 GB for 4 million customers)
        return np.concatenate([self._predict_rows(data.iloc[i:i + CHUNK_ROWS], which)
                               for i in range(0, len(data), CHUNK_ROWS)] or [np.zeros(0)])

    def _predict_rows(self, data: pd.DataFrame, which: str) -> np.ndarray:
        try:
            p = self.results.predict(data, which=which)
        except FormulaError as exc:
            detail = str(exc).split("returned by patsy is:")[-1].strip().splitlines()[0]
            raise ReturnModelError(
                f"cannot predict for these data: {detail}. Levels of a factor must be "
                "ones the model was fitted on."
            ) from None
        if isinstance(p, pd.Series):
            p = p.reindex(data.index)
        return np.asarray(p, dtype=float)

    def design_matrix(self, df: pd.DataFrame) -> np.ndarray:
        """The model's design matrix for the rows of ``df`` (``len(df) x k``), as statsmodels
        builds it to predict; a row with a missing value raises ReturnModelError."""
        import patsy

        data = self._model_data(df, None, "the design matrix")
        spec = (getattr(self.results.model.data, "model_spec", None)
                or getattr(self.results.model.data, "design_info", None))
        if not isinstance(spec, patsy.DesignInfo):
            raise ReturnModelError("the design matrix is rebuilt from a patsy formula fit; "
                                   "this model was fitted from arrays or with formulaic")
        x = np.asarray(patsy.dmatrix(spec, data, return_type="matrix"), dtype=float)
        if x.shape[0] != len(df):
            raise ReturnModelError(
                f"{len(df) - x.shape[0]:,} row(s) have a missing value in the model's "
                f"columns {self.columns}: the design matrix needs every row")
        return x

    def predict(self, df: pd.DataFrame, offer: str | None = None) -> pd.Series:
        """P(return) for each customer.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers with the model's columns (``columns``).
        offer : str, optional
            Counterfactual: predict as if every customer were sent this arm of the model's
            :attr:`design` (in the study ``none``, ``discount``, ``upgrade``, ``bundled``,
            ``tailored``), setting ``offer_received`` and ``offer_matches_reason`` the way
            the experiment does (:meth:`StudyDesign.assign`). The arm must give offers
            the model was fitted on.

        Returns
        -------
        pandas.Series
            ``p_return`` aligned with ``df.index`` (NaN where a used column is missing).
        """
        return pd.Series(self._predict(df, offer, "mean", "predict"), index=df.index,
                         name="p_return")

    # ------------------------------------------------------------------ estimation data
    def _require_data(self, what: str) -> None:
        if self.data_removed:
            raise ReturnModelError(
                f"{what} reads the customers the model was fitted on, and remove_data() has "
                "dropped them; call it before remove_data(), or fit the model again")

    @property
    def data_removed(self) -> bool:
        """Whether :meth:`remove_data` has dropped the estimation data."""
        # getattr: a model pickled before remove_data existed has no _kept
        return getattr(self, "_kept", None) is not None

    def outcome_values(self) -> np.ndarray:
        """The outcome (0/1) of each customer in the fit, in the estimation order (kept by
        :meth:`remove_data`)."""
        if self.data_removed:
            return self._kept["outcome"].astype(float)
        return np.asarray(self.results.model.endog, dtype=float)

    def score_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The probit's Hessian and the outer product of its scores, summed over the
        customers in the fit (:func:`probit_score_blocks`; kept by :meth:`remove_data`):
        what the two-step covariance needs of the first step's estimation data."""
        self._require_probit("the probit's score blocks")
        if self.data_removed:
            return self._kept["score_blocks"]
        model = self.results.model
        return probit_score_blocks(model.exog, model.endog, np.asarray(self.results.params))

    def remove_data(self) -> ReturnModel:
        """Drop the estimation data statsmodels keeps (its ``remove_data``): the design
        matrix and the outcome, 1.2 GB at 10 million customers.

        What the model reports is computed first and kept: estimates, ``summary``, the
        marginal effects, ``n_returned``, ``pseudo_r2``, the outcome
        (:meth:`outcome_values`) and, for a probit, the :meth:`score_blocks` that a
        selection-corrected second step's two-step covariance needs. Predictions on data
        (``predict``, ``index``, ``inverse_mills`` ...) work as before;
        ``in_sample_evaluation()`` raises ReturnModelError. Returns the model.
        """
        if self.data_removed:
            return self
        self.marginal_effects()
        n, k = self.nobs, self.n_returned
        # the intercept-only model's likelihood in closed form (it fits the share who came
        # back, whatever the link): statsmodels' llnull refits it by Nelder-Mead, 30 passes
        # over the rows (half a minute at 10 million customers)
        share = k / n
        llnull = k * np.log(share) + (n - k) * np.log1p(-share) if 0 < k < n else 0.0
        kept = {"n_returned": k, "pseudo_r2": 1.0 - self.llf / llnull if llnull else np.nan,
                "outcome": np.asarray(self.results.model.endog, dtype=np.int8)}
        if self.link == "probit":
            kept["score_blocks"] = self.score_blocks()
        # computed while the data are there (row_labels: the two-step covariance's rows)
        _ = self.summary, self.results.bse, self.results.model.data.row_labels
        # statsmodels lists the pandas originals of a formula fit's design and outcome only
        # for models given the formula at construction (from_formula sets it afterwards)
        attrs = self.results.model._data_attr
        attrs += [a for a in ("data.orig_exog", "data.orig_endog") if a not in attrs]
        self.results.remove_data()
        self._kept = kept
        return self

    # ------------------------------------------------------------------ selection step
    def _require_probit(self, what: str) -> None:
        if self.link != "probit":
            raise ReturnModelError(
                f"{what} is defined for a probit return model (a normal return error), and "
                f"this model uses the {self.link} link. Fit the first step with "
                "fit_selection(df) or fit_return_model(df, link='probit')"
            )

    def index(self, df: pd.DataFrame) -> pd.Series:
        """Fitted linear index ``x'gamma`` for each row of ``df`` (either link)."""
        xb = self._predict(df, None, "linear", "the return index")
        return pd.Series(xb, index=df.index, name="return_index")

    def probability(self, df: pd.DataFrame) -> pd.Series:
        """Probability of return for each row of ``df`` (``Phi(x'gamma)`` for the probit)."""
        if self.link == "probit":
            p = stats.norm.cdf(self.index(df))
        else:
            p = self._predict(df, None, "mean", "the return probability")
        return pd.Series(np.asarray(p, dtype=float), index=df.index, name="return_probability")

    def inverse_mills(self, df: pd.DataFrame) -> pd.Series:
        """Control function ``lambda = phi(x'gamma) / Phi(x'gamma)`` for each row (probit only).

        It is the expected return error (hence ``E[L | x, returned] / rho``) *given that the
        customer returns*, so it is the right control both for customers who did return and
        for predictions "if this customer came back" under a counterfactual offer.
        """
        self._require_probit("the inverse Mills ratio")
        return pd.Series(inverse_mills_ratio(self.index(df).to_numpy()), index=df.index,
                         name=CONTROL_COLUMN)

    def generalized_residual(self, df: pd.DataFrame) -> pd.Series:
        """Generalized probit residual: ``lambda`` for returners, ``-phi / (1 - Phi)`` otherwise.

        It estimates ``E[u | x, outcome]`` for the observed outcome and has mean zero over
        the whole population at the probit estimate (probit only).
        """
        self._require_probit("the generalized residual")
        self._require(df, [self.outcome], "the generalized residual")
        c = self.index(df).to_numpy()
        back = df[self.outcome].to_numpy() == 1
        stay = -np.exp(stats.norm.logpdf(c) - stats.norm.logsf(c))
        out = np.where(back, inverse_mills_ratio(c), stay)
        return pd.Series(out, index=df.index, name="generalized_residual")

    def add_control(self, df: pd.DataFrame, column: str = CONTROL_COLUMN, *,
                    copy: bool = True) -> pd.DataFrame:
        """A copy of ``df`` with the control-function column ``column`` added (probit only).

        ``copy=False``: a new frame that shares ``df``'s columns instead of copying them
        (``df`` itself is not changed); for a frame of one's own, such as a row selection.
        """
        out = df.copy(deep=copy)
        out[column] = self.inverse_mills(df).to_numpy()
        return out

    # ------------------------------------------------------------------ segments
    def segment_rates(self, df: pd.DataFrame, by: str | pd.Series | list = "reason_offer",
                      alpha: float | None = None) -> pd.DataFrame:
        """Predicted against observed return rate by segment.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers (with the outcome column for the observed rates).
        by : str, Series or list
            A named segmentation from :data:`SEGMENTS` (``"reason_offer"``, ``"referrer"``,
            ``"complaint"``, ``"referral_band"``), a column name, an aligned Series, or a
            list of these.
        alpha : float, optional
            1 - confidence level of the Wilson interval on the observed rate; default the
            model's.

        Returns
        -------
        pandas.DataFrame
            Per segment: ``customers``, ``predicted`` (mean P(return)) and, when the outcome
            is in ``df``, ``returned``, ``observed``, ``ci_low``, ``ci_high``, ``gap``
            (predicted - observed).
        """
        alpha = self._alpha_or_default(alpha)
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
                raise DataError(
                    f"cannot segment by {item!r}: not a column, a Series or one of "
                    f"{sorted(SEGMENTS)}",
                    column=item if isinstance(item, str) else None, problem="missing_column",
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
        return ReturnModelEvaluation.from_predictions(y[ok], p[ok], sample="holdout", bins=bins,
                                                      alpha=self._alpha)

    def in_sample_evaluation(self, bins: int = 10) -> ReturnModelEvaluation:
        """AUC and calibration on the customers the model was fitted on."""
        self._require_data("in_sample_evaluation()")
        return ReturnModelEvaluation.from_predictions(
            np.asarray(self.results.model.endog), np.asarray(self.results.predict()),
            sample="estimation", bins=bins, alpha=self._alpha,
        )

    # ------------------------------------------------------------------ reporting
    def _header(self) -> list[tuple[str, str]]:
        n, k = self.nobs, self.n_returned
        formula = textwrap.wrap(self.formula, width=72, break_long_words=False) or [""]
        iterations = self.results.mle_retvals.get("iterations", "?")
        return [
            ("outcome", f"P({self.outcome} = 1), {self.link} link"),
            ("formula", formula[0]), *[("", line) for line in formula[1:]],
            ("returned", f"{k:,} ({k / n:.1%})"),
            ("pseudo R2", f"{self.pseudo_r2:.4f} (McFadden)"),
            ("converged", f"{'yes' if self.converged else 'no'} ({iterations} iterations)"),
        ]

    def _footer(self) -> list[str]:
        scale = "log-odds" if self.link == "logit" else "probit (z)"
        lines = [f"Coefficients are on the {scale} scale; marginal_effects() gives changes "
                 "in P(return)."]
        if self.holdout_evaluation is not None:
            lines += textwrap.wrap(self.holdout_evaluation.summary(), width=88)
        return lines

    def __str__(self) -> str:
        return self.summary_text()

    def __repr__(self) -> str:
        return (f"ReturnModel(link={self.link!r}, nobs={self.nobs}, "
                f"n_params={len(self.terms)}, llf={self.llf:.6g})")

    # ------------------------------------------------------------------ plots
    def plot_marginal_effects(self, ax: Axes | None = None, alpha: float | None = None) -> Axes:
        """Average marginal effects with confidence intervals, in percentage points
        (:func:`winback_study.plotting.charts.plot_marginal_effects`)."""
        from winback_study.plotting.charts import plot_marginal_effects

        return plot_marginal_effects(self, ax=ax, alpha=alpha)

    def plot_calibration(self, ax: Axes | None = None,
                         evaluation: ReturnModelEvaluation | None = None) -> Axes:
        """Observed against predicted return rate by decile, default on the holdout
        (:func:`winback_study.plotting.charts.plot_calibration`)."""
        from winback_study.plotting.charts import plot_calibration

        return plot_calibration(self, ax=ax, evaluation=evaluation)

