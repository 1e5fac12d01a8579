"""Fitted models as plain numbers: what scoring a customer base needs, saved as JSON.

A fitted :class:`~winback_study.models.return_probability.ReturnModel`,
:class:`~winback_study.models.second_lifetime.SecondLifetimeResult` (Weibull) and
:class:`~winback_study.models.second_profit.SecondProfitResult` carry their statsmodels
and lifelines objects and the data they were fitted on. Scoring needs none of that: a
linear index per equation (a right-hand side, its coefficients and the levels of its
factors), the Weibull shape, the margin's smearing factor, the discounting and the study
design. :class:`ScoringModels` holds exactly that, is written to and read from a small
JSON file (:meth:`ScoringModels.save`, :meth:`ScoringModels.load`), and is what
:func:`winback_study.analysis.scoring.score_customers` applies to each customer, in
memory or partition by partition.

A :class:`LinearIndex` rebuilds the formula's design matrix with patsy from its levels
alone (no training data), so it gives the fitted model's linear index to rounding; the
columns that depend on the offer sent (the counterfactual) are built separately
(:meth:`LinearIndex.parts`), so scoring several arms builds the rest once.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import patsy

from winback_study.core.checks import flagged_rows
from winback_study.core.formula import FORMULA_VOCABULARY, formula_names
from winback_study.core.io import atomic_path
from winback_study.core.patsy_fastpath import install as _install_patsy_fastpath
from winback_study.core.value import ANNUAL_DISCOUNT_RATE, DEFAULT_HORIZON_MONTHS
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, ModelError, rows_text
from winback_study.models.return_checks import _factor_column, fitted_levels

__all__ = ["LinearIndex", "ScoringModels", "FORMAT_VERSION"]

_install_patsy_fastpath()  # C(x, Treatment(...)) on a categorical by its codes

#: Version of the JSON layout written by :meth:`ScoringModels.save`.
FORMAT_VERSION: int = 1

#: Transforms whose result depends on the training data (not reproducible from levels).
#: patsy's stateful transforms: they remember the training data (means, knots), which the
#: levels alone cannot rebuild
_STATEFUL = re.compile(r"\b(center|standardize|scale|bs|cr|cc|te)\s*\(")


def _columns_of(rhs: str) -> list[str]:
    return [n for n in dict.fromkeys(formula_names(rhs)) if n not in FORMULA_VOCABULARY]


@dataclass(frozen=True, eq=False)
class LinearIndex:
    """``x'beta`` of one equation: a patsy right-hand side and its coefficients.

    Parameters
    ----------
    rhs : str
        Right-hand side in patsy syntax, as fitted (``"referrals + C(offer_received,
        Treatment('none'))"``).
    coef : mapping
        Design-matrix column name -> coefficient, in the fitted order (patsy's names).
    levels : mapping
        Factor column -> its levels, in the fitted order: what the design matrix needs to
        code the factor exactly as in the fit.
    """

    rhs: str
    coef: Mapping[str, float]
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if _STATEFUL.search(self.rhs):
            raise ModelError(f"cannot save a model whose formula transforms with the training "
                             f"data ({self.rhs!r}): center(), standardize() and scale() need "
                             "it; transform the column before fitting")
        object.__setattr__(self, "coef", {str(k): float(v) for k, v in self.coef.items()})
        object.__setattr__(self, "levels", {str(k): tuple(str(x) for x in v)
                                            for k, v in self.levels.items()})

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_design_info(cls, design_info: Any, params: pd.Series) -> LinearIndex:
        """From a fitted patsy ``DesignInfo`` and the coefficients (its column names)."""
        levels: dict[str, tuple[str, ...]] = {}
        for factor, info in design_info.factor_infos.items():
            if info.type == "categorical":
                col = _factor_column(factor.name())
                if col is None:
                    raise ModelError(f"cannot save the factor {factor.name()!r}: a factor must "
                                     "be a column (x) or C(x, ...) of one")
                levels[col] = tuple(str(c) for c in info.categories)
        names = ["1" if not t.factors else t.name() for t in design_info.terms]
        rhs = " + ".join(names if "1" in names else ["0", *names])
        coef = params.reindex(design_info.column_names)
        if coef.isna().any():
            raise ModelError(f"coefficients missing for {list(coef.index[coef.isna()])}")
        return cls(rhs, coef.to_dict(), levels)

    @classmethod
    def from_results(cls, results: Any) -> LinearIndex:
        """From a statsmodels formula fit (its patsy design and coefficients)."""
        return cls.from_design_info(_spec(results), results.params)

    @property
    def columns(self) -> list[str]:
        """Data columns the index reads."""
        return _columns_of(self.rhs)

    @cached_property
    def design_info(self) -> Any:
        """The patsy ``DesignInfo``, rebuilt from the levels (no training data)."""
        info = _design_info(self.rhs, self.columns, self.levels)
        if list(info.column_names) != list(self.coef):
            raise ModelError(f"the formula {self.rhs!r} gives the columns "
                             f"{list(info.column_names)}, the coefficients are for "
                             f"{list(self.coef)}: the saved model is inconsistent")
        return info

    def _varying_terms(self, varying: frozenset[str]) -> tuple[list[Any], list[Any]]:
        fixed, moving = [], []
        for term in self.design_info.terms:
            used = {n for f in term.factors for n in formula_names(f.name())}
            (moving if used & varying else fixed).append(term)
        return fixed, moving

    def _beta(self, info: Any) -> np.ndarray:
        return np.array([self.coef[c] for c in info.column_names], dtype=float)

    def _matrix(self, info: Any, df: Any) -> np.ndarray:
        try:
            (x,) = patsy.build_design_matrices([info], df, NA_action="raise",
                                               return_type="matrix")
        except patsy.PatsyError as exc:
            raise ModelError(f"cannot build the design matrix of {self.rhs!r}: "
                             f"{str(exc).splitlines()[0]}") from None
        return np.asarray(x)

    # ------------------------------------------------------------------ evaluation
    def prepare(self, df: pd.DataFrame, purpose: str,
                columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The columns the index reads (or ``columns`` of them), checked (present, no
        missing values, known levels) and with the fitted categories (so patsy codes them
        fast and as fitted)."""
        out = {}
        for col in (self.columns if columns is None else columns):
            if col not in df.columns:
                raise DataError(f"{purpose} needs the column {col!r}, which the data do not "
                                "have", column=col, problem="missing_column")
            s = df[col]
            missing = s.isna().to_numpy()
            if missing.any():
                rows, n = flagged_rows(missing, df.index)
                raise DataError(f"{purpose}: column {col!r} has missing values; "
                                f"{rows_text(rows, n)}", column=col, rows=rows, n_rows=n,
                                problem="missing_value")
            if col in self.levels:
                cats = list(self.levels[col])
                if not (isinstance(s.dtype, pd.CategoricalDtype)
                        and list(s.cat.categories) == cats):
                    if isinstance(s.dtype, pd.CategoricalDtype) and all(
                            isinstance(c, str) for c in s.cat.categories):
                        s = s.cat.set_categories(cats).array  # recoded, not a string per row
                    else:
                        s = pd.Categorical(s.astype(str), categories=cats)
                    unseen = np.asarray(s.codes) < 0
                    if unseen.any():
                        rows, n = flagged_rows(unseen, df.index)
                        seen = sorted(set(df[col].astype(str)[unseen]))[:5]
                        raise DataError(f"{purpose}: column {col!r} has level(s) {seen} the "
                                        f"model was not fitted on (its levels: {cats}); "
                                        f"{rows_text(rows, n)}", column=col, rows=rows,
                                        n_rows=n, problem="unknown_level")
            out[col] = s
        return pd.DataFrame(out, index=df.index)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        """``x'beta`` for each row of ``df`` (a prepared or a raw frame)."""
        x = self._matrix(self.design_info, self.prepare(df, f"the index {self.rhs!r}"))
        return x @ self._beta(self.design_info)

    def parts(self, varying: Iterable[str]) -> tuple[Any, Any]:
        """Split into the terms that read none of ``varying`` and those that do.

        Returns two callables ``fixed(df)`` and ``moving(df)`` whose sum is the index:
        scoring arms computes ``fixed`` once and ``moving`` once per arm.
        """
        fixed, moving = self._varying_terms(frozenset(varying))
        return _Part(self, fixed), _Part(self, moving)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``rhs``, ``coef`` (name -> value, ordered), ``levels``."""
        return {"rhs": self.rhs, "coef": dict(self.coef),
                "levels": {k: list(v) for k, v in self.levels.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinearIndex:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["rhs"]), dict(d["coef"]), dict(d.get("levels", {})))


class _Part:
    """Some terms of a :class:`LinearIndex`: their design matrix times their coefficients."""

    def __init__(self, index: LinearIndex, terms: list[Any]) -> None:
        self.index = index
        self.info = index.design_info.subset(terms) if terms else None
        self.beta = index._beta(self.info) if terms else np.zeros(0)
        names = {n for t in terms for f in t.factors for n in formula_names(f.name())}
        #: the data columns these terms read
        self.columns = [c for c in index.columns if c in names]

    def __call__(self, df: Any) -> np.ndarray | float:
        """The terms' part of the index for ``df`` (a DataFrame or a dict of columns)."""
        if self.info is None:
            return 0.0
        return self.index._matrix(self.info, df) @ self.beta


def _design_info(rhs: str, columns: list[str], levels: Mapping[str, tuple[str, ...]]) -> Any:
    """patsy's ``DesignInfo`` of ``rhs`` from a few prototype rows: each factor with its
    levels, every other column numeric."""
    n = max([len(v) for v in levels.values()] + [1])
    proto = {}
    for col in columns:
        if col in levels:
            lv = list(levels[col])
            proto[col] = pd.Categorical([lv[i % len(lv)] for i in range(n)], categories=lv)
        else:
            proto[col] = np.ones(n)
    try:
        return patsy.dmatrix(rhs, pd.DataFrame(proto), return_type="dataframe").design_info
    except patsy.PatsyError as exc:
        raise ModelError(f"cannot rebuild the formula {rhs!r}: {exc}") from None


def _rhs(formula: str) -> str:
    return formula.split("~", 1)[1].strip() if "~" in formula else formula.strip()


@dataclass(frozen=True, eq=False)
class ScoringModels:
    """The three fitted equations, as numbers, and how to value a second lifetime.

    Attributes
    ----------
    return_index : LinearIndex
        The return model's linear index (``P(return) = link^-1(index)``).
    link : str
        ``"probit"`` or ``"logit"``.
    lifetime_index : LinearIndex
        The Weibull AFT model's ``log(scale)`` of the second lifetime (months), with the
        ``inverse_mills`` control when selection-corrected.
    lifetime_shape : float
        The Weibull shape ``rho``.
    margin_index : LinearIndex
        The second-lifetime monthly margin model (of ``log(margin)`` when ``margin_log``).
    margin_log : bool
        Whether ``margin_index`` is of the log margin.
    margin_smearing : float
        Duan's smearing factor of the log model (1 for the level model).
    selection_index : LinearIndex or None
        The probit whose inverse Mills ratio is the ``inverse_mills`` control; ``None``:
        the second-stage models are not corrected.
    design : StudyDesign
        Arms, costs and the control.
    annual_rate : float
        Annual discount rate of the second-lifetime value.
    horizon_months : int
        Months summed for the expected second-lifetime value.
    info : mapping
        How the models were fitted (rows, sample, seed, method), for the record.
    """

    return_index: LinearIndex
    link: str
    lifetime_index: LinearIndex
    lifetime_shape: float
    margin_index: LinearIndex
    margin_log: bool = True
    margin_smearing: float = 1.0
    selection_index: LinearIndex | None = None
    design: StudyDesign = KUMAR_2015
    annual_rate: float = ANNUAL_DISCOUNT_RATE
    horizon_months: int = DEFAULT_HORIZON_MONTHS
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.link not in ("probit", "logit"):
            raise ModelError(f"link must be 'probit' or 'logit', got {self.link!r}")
        if not (math.isfinite(self.lifetime_shape) and self.lifetime_shape > 0):
            raise ModelError(f"the Weibull shape must be positive, got {self.lifetime_shape}")
        seen: dict[str, tuple[str, tuple[str, ...]]] = {}
        for eq, ix in (("return", self.return_index), ("selection", self.selection_index),
                       ("second lifetime", self.lifetime_index),
                       ("second margin", self.margin_index)):
            for col, levels in ({} if ix is None else ix.levels).items():
                other = seen.setdefault(col, (eq, levels))
                if set(other[1]) != set(levels):
                    raise ModelError(
                        f"column {col!r} has the levels {list(other[1])} in the {other[0]} "
                        f"model but {list(levels)} in the {eq} model: fit every equation on "
                        "customers of every level (a sample that misses one cannot score it)")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_fits(cls, return_model: Any, lifetime: Any, profit: Any, *,
                  design: StudyDesign | None = None,
                  annual_rate: float = ANNUAL_DISCOUNT_RATE,
                  horizon_months: int = DEFAULT_HORIZON_MONTHS,
                  info: Mapping[str, Any] | None = None) -> ScoringModels:
        """From the package's fitted models.

        Parameters
        ----------
        return_model : ReturnModel
            From :func:`~winback_study.models.return_probability.fit_return_model`.
        lifetime : SecondLifetimeResult
            A Weibull fit of :func:`~winback_study.models.second_lifetime.
            fit_second_lifetime` (its ``selection`` probit gives the control).
        profit : SecondProfitResult
            From :func:`~winback_study.models.second_profit.fit_second_profit`, with the
            same selection probit as ``lifetime`` (or both uncorrected).
        design : StudyDesign, optional
            Default: the return model's design.
        """
        if getattr(lifetime, "model", None) != "weibull":
            raise ModelError("scoring values the second lifetime with a Weibull model: fit "
                             f"it with model='weibull' (got {getattr(lifetime, 'model', None)!r})")
        ret = LinearIndex.from_design_info(_spec(return_model.results),
                                           return_model.results.params)
        params = lifetime.fitter.params_
        if set(params.index.get_level_values(0)) - {"lambda_", "rho_"} or list(
                params.loc["rho_"].index) != ["Intercept"]:
            raise ModelError("scoring needs a Weibull model with covariates in its scale only "
                             "(no ancillary covariates of the shape)")
        lam = params.loc["lambda_"]
        levels = _fitted_levels([return_model, profit])
        life = _aligned(_rhs(lifetime.formula), lam, levels, "the second-lifetime model")
        pm = LinearIndex.from_design_info(_spec(profit.ols), profit.ols.params)
        sel_l, sel_p = lifetime.selection, profit.selection
        if (sel_l is None) != (sel_p is None):
            raise ModelError("the lifetime and margin models must both be selection-corrected "
                             "or both not")
        selection = None
        if sel_l is not None:
            selection = LinearIndex.from_design_info(_spec(sel_l.results),
                                                     sel_l.results.params)
            other = LinearIndex.from_design_info(_spec(sel_p.results),
                                                 sel_p.results.params)
            if other.coef != selection.coef:
                raise ModelError("the lifetime and margin models were corrected with different "
                                 "selection probits; fit both with the same selection=")
        return cls(
            return_index=ret, link=return_model.link, lifetime_index=life,
            lifetime_shape=float(np.exp(params.loc[("rho_", "Intercept")])),
            margin_index=pm, margin_log=bool(profit.log),
            margin_smearing=float(profit.smearing_), selection_index=selection,
            design=design or getattr(return_model, "design", None) or KUMAR_2015,
            annual_rate=float(annual_rate), horizon_months=int(horizon_months),
            info=dict(info or {}),
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (see :meth:`save`)."""
        return {
            "format": "winback-study scoring models", "format_version": FORMAT_VERSION,
            "return": {"link": self.link, **self.return_index.to_dict()},
            "selection": None if self.selection_index is None else self.selection_index.to_dict(),
            "second_lifetime": {"model": "weibull", "shape": self.lifetime_shape,
                                **self.lifetime_index.to_dict()},
            "second_margin": {"log": self.margin_log, "smearing": self.margin_smearing,
                              **self.margin_index.to_dict()},
            "value": {"annual_rate": self.annual_rate, "horizon_months": self.horizon_months},
            "design": self.design.to_dict(),
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoringModels:
        """Inverse of :meth:`to_dict`."""
        if d.get("format") != "winback-study scoring models":
            raise DataError("not a winback-study scoring-models file (no 'format' key of that "
                            "name)", problem="bad_model_file")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise DataError(f"the models file has format version {d['format_version']}; this "
                            f"package reads up to {FORMAT_VERSION}: upgrade winback-study",
                            problem="bad_model_file")
        try:
            sel = d.get("selection")
            return cls(
                return_index=LinearIndex.from_dict(d["return"]), link=d["return"]["link"],
                lifetime_index=LinearIndex.from_dict(d["second_lifetime"]),
                lifetime_shape=float(d["second_lifetime"]["shape"]),
                margin_index=LinearIndex.from_dict(d["second_margin"]),
                margin_log=bool(d["second_margin"]["log"]),
                margin_smearing=float(d["second_margin"]["smearing"]),
                selection_index=None if sel is None else LinearIndex.from_dict(sel),
                design=StudyDesign.from_dict(d["design"]),
                annual_rate=float(d["value"]["annual_rate"]),
                horizon_months=int(d["value"]["horizon_months"]),
                info=dict(d.get("info", {})),
            )
        except KeyError as exc:
            raise DataError(f"the models file lacks the key {exc.args[0]!r}",
                            problem="bad_model_file") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the models as JSON (atomically) and return the path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ScoringModels:
        """Read models written by :meth:`save`."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"no models file {str(path)!r}", problem="missing_file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{str(path)!r} is not a JSON models file: {exc}",
                            problem="bad_model_file") from None
        return cls.from_dict(d)

    # ------------------------------------------------------------------ reporting
    @property
    def columns(self) -> list[str]:
        """Data columns scoring reads (besides ``customer_id``)."""
        idx = [self.return_index, self.lifetime_index, self.margin_index]
        if self.selection_index is not None:
            idx.append(self.selection_index)
        return list(dict.fromkeys(c for i in idx for c in i.columns if c != "inverse_mills"))

    @property
    def summary(self) -> pd.DataFrame:
        """Every coefficient: ``equation``, ``term``, ``coef``."""
        rows = [(eq, t, v) for eq, ix in (("return", self.return_index),
                                          ("selection", self.selection_index),
                                          ("second_lifetime", self.lifetime_index),
                                          ("second_margin", self.margin_index))
                if ix is not None for t, v in ix.coef.items()]
        rows.append(("second_lifetime", "shape (rho)", self.lifetime_shape))
        return pd.DataFrame(rows, columns=["equation", "term", "coef"]).set_index(
            ["equation", "term"])

    def print_summary(self) -> None:
        """Print the coefficients and how the models were fitted."""
        print(f"Scoring models ({self.link} return model, Weibull second lifetime, "
              f"{'log ' if self.margin_log else ''}margin; "
              f"{'selection-corrected' if self.selection_index is not None else 'naive'})")
        for k, v in self.info.items():
            print(f"  {k}: {v}")
        print(self.summary.round(6).to_string())


def _spec(results: Any) -> Any:
    """The patsy ``DesignInfo`` of a statsmodels formula fit (``model_spec`` since 0.15)."""
    data = results.model.data
    spec = getattr(data, "model_spec", None) or getattr(data, "design_info", None)
    if spec is None or not hasattr(spec, "factor_infos"):
        raise ModelError("scoring models are saved from patsy formula fits; this fit has no "
                         "patsy design (was it fitted from arrays, or with formulaic?)")
    return spec


def _fitted_levels(fits: list[Any]) -> dict[str, tuple[str, ...]]:
    """Factor levels recorded by statsmodels fits (patsy), for a formula fitted by lifelines
    (formulaic) on the same columns."""
    out: dict[str, tuple[str, ...]] = {}
    for fit in fits:
        res = getattr(fit, "results", None) or getattr(fit, "ols", None)
        for col, levels in fitted_levels(res).items():
            out.setdefault(col, tuple(str(c) for c in levels))
    return out


def _aligned(rhs: str, coef: pd.Series, levels: dict[str, tuple[str, ...]],
             what: str) -> LinearIndex:
    """A LinearIndex of ``rhs`` whose patsy columns carry ``coef`` (matched by name)."""
    cols = _columns_of(rhs)
    kept = {k: v for k, v in levels.items() if k in cols}
    names = list(_design_info(rhs, cols, kept).column_names)
    missing = [n for n in names if n not in coef.index]
    if missing or len(names) != len(coef):
        raise ModelError(f"{what}: the formula's columns {names} do not match its "
                         f"coefficients {list(coef.index)}")
    return LinearIndex(rhs, {n: float(coef[n]) for n in names}, kept)
