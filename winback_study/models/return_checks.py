"""Around a return-model fit: factor levels, the checks that name the culprit, and
statsmodels' failures in plain words.

:func:`~winback_study.models.return_probability.fit_return_model` calls these before and
after statsmodels: the design's factor order (:func:`study_factor_order`), the levels a
fitted model knows (so counterfactual arms are coded as in the fit), an outcome that is
not 0/1 or has no returners, a factor level with no returners (its coefficient would run off
to infinity), and statsmodels' separation, singular-design and convergence failures, each
turned into a :class:`~winback_study.errors.ReturnModelError` that says what to change.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.discrete.discrete_model import FLOAT_EPS, Logit, Probit
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from winback_study.core import patsy_fastpath
from winback_study.design import StudyDesign, resolve_design
from winback_study.errors import DataError, DesignError, ReturnModelError

patsy_fastpath.install()  # C(x) on a categorical coded by its codes (pydata/patsy#97)

try:  # statsmodels builds formulas with patsy by default (formulaic is the alternative)
    from patsy import PatsyError as FormulaError
except ImportError:  # pragma: no cover
    FormulaError = ValueError  # type: ignore[assignment, misc]

__all__ = [
    "LINKS", "FormulaError", "align_levels", "check_fitted_levels", "check_levels",
    "check_outcome", "design_or_reason", "drop_unused_categories", "factor_columns",
    "fit_statsmodels", "fitted_levels", "model_design", "order_factors", "study_factor_order",
    "term_table",
]


def design_or_reason(df: pd.DataFrame, design: StudyDesign | None
                      ) -> tuple[StudyDesign | None, str | None]:
    """:func:`model_design`, and why there is none when there is none."""
    if design is not None:
        return resolve_design(df, design), None
    try:
        return resolve_design(df), None
    except DesignError as exc:
        return None, str(exc)


def model_design(df: pd.DataFrame, design: StudyDesign | None = None) -> StudyDesign | None:
    """The design a model of ``df`` is fitted under.

    :func:`~winback_study.design.resolve_design` of ``df``: ``design`` when given (the
    data must fit it, else :class:`~winback_study.errors.DesignError`), else the design the
    frame carries, the study's :data:`~winback_study.design.KUMAR_2015` for the study's
    arms, or the arms read from the data. A model needs the arms and their order, not what
    they cost, so when ``design`` is not given and the data's arms cannot be read into a
    design (no ``none`` arm, no costs), this is None: the factors keep the data's own
    order and counterfactual predictions ask for ``design=``.
    """
    return design_or_reason(df, design)[0]


def order_factors(df: pd.DataFrame, levels: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """``df`` with the columns of ``levels`` as categoricals in that order (see
    :func:`study_factor_order`); ``df`` itself when nothing needs converting."""
    changes = {}
    for col, order in levels.items():
        if col not in df.columns:
            continue
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            have = set(s.cat.categories)
            if have <= set(order) and tuple(s.cat.categories) != tuple(
                    lv for lv in order if lv in have):
                changes[col] = s.cat.reorder_categories([lv for lv in order if lv in have])
            continue
        values = set(s.dropna().astype(object).unique())
        if all(isinstance(v, str) for v in values) and values <= set(order):
            changes[col] = pd.Categorical(s.astype(object),
                                          categories=[lv for lv in order if lv in values])
    return df.assign(**changes) if changes else df


def study_factor_order(df: pd.DataFrame, design: StudyDesign | None = None) -> pd.DataFrame:
    """``df`` with its design's factor columns as categoricals in the design's level order.

    ``defection_reason``, ``offer_received`` and ``offer`` held as text (or as
    categoricals in another order, e.g. alphabetical after ``astype("category")``) are
    converted so that a formula's treatment coding uses the design's reference levels
    (its first reason and its control arm: ``price`` and ``none`` in the study) whenever
    they are present. Text columns get the levels they contain, in the design's order; a
    column with a level the design does not know is left as it is (its reference is then
    its first level in sorted order). ``df`` is returned itself when nothing needs
    converting, otherwise a copy: the input is never modified.

    Parameters
    ----------
    df : pandas.DataFrame
        Customers.
    design : StudyDesign, optional
        Default :func:`model_design` of ``df`` (the study's design for the study's arms);
        when the data's arms cannot be read into a design, ``df`` is returned as it is.
    """
    d = model_design(df, design)
    return df if d is None else order_factors(df, d.factor_levels())


def drop_unused_categories(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``df`` without the categories of ``columns`` that no row has (an unused category is
    not a level with no returners: it is not a level of these data at all)."""
    changes = {c: df[c].cat.remove_unused_categories() for c in columns
               if isinstance(df[c].dtype, pd.CategoricalDtype)
               and len(df[c].cat.categories) != df[c].nunique(dropna=True)}
    return df.assign(**changes) if changes else df


#: Supported links and the statsmodels formula constructor behind each.
LINKS: dict[str, Callable[..., Any]] = {"logit": smf.logit, "probit": smf.probit}


def fitted_levels(results: Any) -> dict[str, tuple[Any, ...]]:
    """Levels of each plain-named categorical column of a fitted formula.

    statsmodels keeps the formula's specification as ``model.data.model_spec`` (0.15; a
    patsy ``DesignInfo`` or a formulaic ``ModelSpec``, whichever engine built it) and as
    ``model.data.design_info`` before (0.14, patsy).
    """
    data = getattr(results.model, "data", None)
    spec = getattr(data, "model_spec", None)
    if spec is None:
        spec = getattr(data, "design_info", None)
    out: dict[str, tuple[Any, ...]] = {}
    for factor, finfo in (getattr(spec, "factor_infos", None) or {}).items():  # patsy
        name = _factor_column(factor.name())
        if finfo.type == "categorical" and name is not None:
            out[name] = tuple(finfo.categories)
    for name, (kind, state) in (getattr(spec, "encoder_state", None) or {}).items():  # formulaic
        col = _factor_column(str(name))
        if getattr(kind, "value", kind) == "categorical" and col is not None:
            out[col] = tuple(state.get("categories", ()))
    return out


def _factor_column(name: str) -> str | None:
    """The data column behind a factor: ``x`` for ``x`` and ``C(x, Treatment('a'))``."""
    if name.isidentifier():
        return name
    found = re.fullmatch(r"C\(\s*([A-Za-z_]\w*)\s*(?:,.*)?\)", name.strip(), re.S)
    return found.group(1) if found else None


def align_levels(df: pd.DataFrame, levels: Mapping[str, tuple[Any, ...]]) -> pd.DataFrame:
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


def check_fitted_levels(df: pd.DataFrame, levels: Mapping[str, tuple[Any, ...]],
                         offer: str | None) -> None:
    """Raise :class:`ReturnModelError` naming the factor levels the model was not fitted on."""
    problems = []
    for col, cats in levels.items():
        if col not in df.columns:
            continue
        values = df[col].dropna().astype(object)
        unseen = sorted({str(v) for v in values[~values.isin(cats)].unique()})
        if unseen:
            problems.append(f"column {col!r} has level{'s' if len(unseen) > 1 else ''} "
                            f"{', '.join(repr(u) for u in unseen)}, which the model was not "
                            f"fitted on (its levels: {', '.join(repr(str(c)) for c in cats)})")
    if problems:
        under = f" under arm {offer!r}" if offer is not None else ""
        raise ReturnModelError(
            f"cannot predict for these data{under}: " + "; ".join(problems) + ". A model "
            "fitted on customers of some levels only (some arms, some reasons) can predict "
            "for those levels only; fit it on customers of every level you want to predict for")


def factor_columns(formula: str, df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Right-hand-side columns that enter as factors (wrapped in ``C()`` or non-numeric)."""
    wrapped = set(re.findall(r"\bC\(\s*([A-Za-z_]\w*)", formula))
    return [c for c in columns
            if c in wrapped or not pd.api.types.is_numeric_dtype(df[c])
            or pd.api.types.is_bool_dtype(df[c])]


def check_outcome(df: pd.DataFrame, outcome: str) -> None:
    y = df[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        raise DataError(
            f"the outcome {outcome!r} must be 0/1 (or True/False), got dtype {y.dtype}",
            column=outcome, problem="not_0_or_1",
        )
    values = y.dropna()
    if not values.isin([0, 1]).all():
        wrong = ~values.isin([0, 1])
        bad = ", ".join(repr(v) for v in values[wrong].unique()[:5].tolist())
        raise DataError(
            f"the outcome {outcome!r} must be 0/1, but it contains {bad}; "
            "recode it, e.g. df[outcome] = (df[outcome] > 0).astype(int)",
            column=outcome, rows=values.index[wrong], problem="not_0_or_1",
        )
    returned = int(values.sum())
    if returned == 0 or returned == len(values):
        who = "nobody" if returned == 0 else "everybody"
        raise ReturnModelError(
            f"{who} in the data has {outcome} = {int(returned > 0)} ({len(values):,} rows): "
            "a return model needs both returners and non-returners"
        )


def check_levels(df: pd.DataFrame, outcome: str, factors: Sequence[str]) -> None:
    """Every factor level must have customers, returners and non-returners (else separation).

    Unused categories are dropped before (:func:`fit_return_model`), so a level without
    customers here is one the holdout split took every customer of.
    """
    problems: list[str] = []
    y = df[outcome].astype(float)
    for col in factors:
        tab = y.groupby(df[col], observed=False).agg(["size", "sum"])
        for level, n, k in zip(tab.index, tab["size"], tab["sum"], strict=True):
            if n == 0:
                problems.append(
                    f"level {level!r} of column {col!r} has no customers among the rows "
                    "fitted (the holdout took all of them). Fix: a smaller holdout, another "
                    f"seed, or merge {level!r} with a similar level"
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


def term_table(raw_names: Sequence[str], df: pd.DataFrame) -> pd.DataFrame:
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
        rows.append({"raw": raw, "tidy": ":".join(parts), "variable": term, "level": level,
                     "reference": ref})
    table = pd.DataFrame(rows)
    if table["tidy"].duplicated().any():  # two spellings of one factor: keep raw names
        table["tidy"] = table["raw"]
    # reference levels not spelled out in the formula: the level without a dummy
    for var, g in table[table["level"].notna()].groupby("variable"):
        if g["reference"].notna().all() or var not in df.columns:
            continue
        shown = {str(v) for v in g["level"]}
        rest = [lv for lv in _levels_of(df[var]) if str(lv) not in shown]
        table.loc[g.index, "reference"] = str(rest[0]) if rest else None
    return table.set_index("tidy").rename_axis("term")


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


def design_rank(exog: np.ndarray, chunk_rows: int = 1_000_000) -> int:
    """The column rank of a design matrix, as statsmodels' ``matrix_rank(method="qr")``.

    From the eigenvalues of ``X'X`` (summed a chunk of rows at a time); only when that
    finds a deficiency, which squaring the condition number could exaggerate, is the QR
    decomposition of ``X`` itself consulted.
    """
    from statsmodels.tools import tools

    x = np.asarray(exog)
    n, k = x.shape
    gram = np.zeros((k, k))
    for i in range(0, n, chunk_rows):
        xc = np.asarray(x[i:i + chunk_rows], dtype=float)
        gram += xc.T @ xc
    if np.linalg.matrix_rank(gram, hermitian=True) == k:
        return k
    return int(tools.matrix_rank(x, method="qr"))


#: customers above which the fit starts from the estimate on a sample of this many
START_SAMPLE = 250_000


def _sample_start(model: Any) -> np.ndarray | None:
    """The same model's estimate on a fixed random sample of :data:`START_SAMPLE` rows, as
    Newton's starting point on millions (two or three passes over every row instead of six
    or seven; the optimum is the same), or None (few rows, or the sample fit failed)."""
    n = model.exog.shape[0]
    if n <= 4 * START_SAMPLE:
        return None
    rows = np.sort(np.random.default_rng(0).choice(n, START_SAMPLE, replace=False))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            small = type(model)(model.endog[rows], model.exog[rows], check_rank=False)
            res = small.fit(disp=0)
    except (np.linalg.LinAlgError, PerfectSeparationError, ValueError):
        return None
    start = np.asarray(res.params, dtype=float)
    # a level that separates in the sample only (or any trouble): the usual start
    troubled = any(issubclass(w.category, (PerfectSeparationWarning, HessianInversionWarning,
                                           ConvergenceWarning)) for w in caught)
    converged = bool(res.mle_retvals.get("converged", False))
    return start if converged and not troubled and np.all(np.isfinite(start)) else None


#: rows above which the binary likelihood is evaluated a chunk of rows at a time
CHUNK_ROWS = 1_000_000


class _ChunkedLikelihood:
    """statsmodels' Probit / Logit ``loglike``, ``score`` and ``hessian``, the same
    expressions summed :data:`CHUNK_ROWS` rows at a time, all three in one pass.

    statsmodels evaluates each on the whole design at once: the Hessian's ``k x n``
    temporary is a gigabyte at 10 million customers, written and read every Newton step,
    which made the fit a minute. Newton's method asks for the Hessian and the score at the
    same point (and, at the end, the likelihood twice): one pass over the design gives all
    three, kept for that point. Set on one model instance for its fit, then removed.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.x = model.exog
        self.q = 2.0 * np.asarray(model.endog, dtype=float) - 1.0
        self.y = np.asarray(model.endog, dtype=float)
        self.probit = isinstance(model, Probit)
        self._memo: tuple[np.ndarray, tuple[float, np.ndarray, np.ndarray, bool]] | None = None

    def _at(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, bool]:
        """``(loglike, score, hessian, perfect)`` at ``params``, in one pass over the rows
        (``perfect``: every fitted probability within 1e-8 of the outcome)."""
        b = np.array(params, dtype=float)
        if self._memo is not None and np.array_equal(self._memo[0], b):
            return self._memo[1]
        m, k = self.model, self.x.shape[1]
        total, score, hessian = 0.0, np.zeros(k), np.zeros((k, k))
        perfect = True  # statsmodels' _check_perfect_pred, until a chunk says otherwise
        for i in range(0, len(self.q), CHUNK_ROWS):
            x = self.x[i:i + CHUNK_ROWS]
            xb = x @ b
            q = self.q[i:i + CHUNK_ROWS]
            if self.probit:
                z = q * xb
                c, d = m.cdf(z), m.pdf(z)
                total += float(np.sum(np.log(np.clip(c, FLOAT_EPS, 1))))
                score += (q * d / np.clip(c, FLOAT_EPS, 1 - FLOAT_EPS)) @ x
                lam = q * d / c
                w = lam * (lam + xb)
            else:
                y = self.y[i:i + CHUNK_ROWS]
                total += float(np.sum(np.log(m.cdf(q * xb))))
                p = m.cdf(xb)
                score += (y - p) @ x
                w = p * (1 - p)
            hessian -= (x * w[:, None]).T @ x
            if perfect:  # np.allclose(predict(params) - endog, 0), as statsmodels checks
                perfect = bool(np.allclose(m.cdf(xb) - self.y[i:i + CHUNK_ROWS], 0))
        self._memo = (b, (total, score, hessian, perfect))
        return self._memo[1]

    def check_perfect_pred(self, params: np.ndarray, *args: Any) -> None:
        """statsmodels' ``_check_perfect_pred`` (Newton's callback after each step) from the
        pass at the new point, which the next step reads anyway (statsmodels predicted
        every row once more a step)."""
        if self._at(params)[3]:
            if self.model.raise_on_perfect_prediction:
                raise PerfectSeparationError("Perfect separation detected, results not available")
            warnings.warn("Perfect separation or prediction detected, parameter may not be "
                          "identified", PerfectSeparationWarning, stacklevel=2)

    def release(self) -> None:
        """Drop the references to the model's data (the fit is over)."""
        self.x = self.q = self.y = None
        self._memo = None

    def loglike(self, params: np.ndarray) -> float:
        return self._at(params)[0]

    def score(self, params: np.ndarray) -> np.ndarray:
        return self._at(params)[1].copy()

    def hessian(self, params: np.ndarray) -> np.ndarray:
        return self._at(params)[2].copy()


@contextlib.contextmanager
def _chunked_likelihood(model: Any) -> Any:
    """The model's likelihood evaluated in chunks (:class:`_ChunkedLikelihood`) inside the
    block, for a large model without offsets; unchanged otherwise."""
    plain = (getattr(model, "offset", None) is None and getattr(model, "exposure", None) is None
             and isinstance(model, Probit | Logit))
    if not plain or model.exog.shape[0] <= CHUNK_ROWS:
        yield
        return
    chunked = _ChunkedLikelihood(model)
    names = ("loglike", "score", "hessian", "_check_perfect_pred")
    for name in names:
        setattr(model, name, getattr(chunked, name.lstrip("_")))
    try:
        yield
    finally:
        for name in names:
            model.__dict__.pop(name, None)
        # the results keep Newton's callback (mle_settings): let it hold no data (it held
        # the design matrix past remove_data)
        chunked.release()


def fit_statsmodels(data: pd.DataFrame, formula: str, link: str,
                     fit_kwargs: dict[str, Any]) -> Any:
    """Call statsmodels exactly as a user would, turning its failures into ReturnModelError."""
    kwargs = {"disp": 0, **fit_kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # the rank below, from the k x k cross-product: statsmodels' own check is a QR
            # decomposition of the whole n x k design (13 s at 10 million customers)
            model = LINKS[link](formula, data=data, check_rank=False)
        except FormulaError as exc:
            raise ReturnModelError(f"statsmodels could not build the design matrix: {exc}") from None
        rank = design_rank(model.exog)
        model.df_model, model.df_resid = float(rank - 1), float(model.exog.shape[0] - rank)
        if "start_params" not in kwargs and rank == model.exog.shape[1]:
            start = _sample_start(model)
            if start is not None:
                kwargs["start_params"] = start
        try:
            with _chunked_likelihood(model):
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
