"""Load and validate study tables: one row per lapsed customer.

Researchers bring their own files; :func:`load_study` reads a CSV or Parquet file and
:func:`validate_study` checks a frame against the study's data dictionary (the columns
:func:`winback_study.data.simulate.simulate_study` produces). Either returns a *new*
validated frame or raises exactly one :class:`StudyDataError` with a plain message such as::

    column 'second_churned': rows 3, 17 (2 rows) hold 2, 5; expected 0 or 1 (1 = churned, 0 = censored)

Row numbers are the frame's index labels for :func:`validate_study` and 1-based data rows
(1 = the first row after the header) for :func:`load_study`. At most 10 rows are listed;
the count in parentheses is the total.

Checks, in the order they are made (the first failure is reported):

1. required columns present (a close, probably misspelled, name is suggested);
2. at least one row;
3. no text in numeric columns;
4. per column (pandera): no empty cells in required columns, finite numbers, whole numbers
   where the column counts something, tenures > 0, counts / margins / costs >= 0, flags 0 or
   1, categorical levels known, ``customer_id`` unique;
5. across columns: ``complaints_resolved <= complaints``; second-lifetime columns empty
   exactly when ``reacquired == 0``; ``second_start_month > defection_month``;
   ``first_start_month + first_tenure_months == defection_month``.

Optional columns (those of the data dictionary not in ``required``) are checked when present
and may have empty cells; columns outside the dictionary are passed through untouched.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import config_context
from pandera.errors import SchemaError, SchemaErrors

from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import MAX_ROWS_SHOWN, StudyDataError

#: Plans of the simulated first lifetime.
PLANS: tuple[str, ...] = ("basic", "standard", "premium")

__all__ = [
    "COLUMN_SPECS",
    "PLANS",
    "column_specs",
    "REQUIRED_COLUMNS",
    "SECOND_LIFETIME_COLUMNS",
    "StudyDataError",
    "load_study",
    "validate_study",
]

@dataclass(frozen=True)
class ColumnSpec:
    """One column of the data dictionary.

    ``kind`` is ``'id'`` (any unique value), ``'int'`` (whole numbers), ``'float'``,
    ``'flag'`` (0/1) or ``'category'``.
    ``second`` marks second-lifetime columns: empty exactly when ``reacquired == 0``.
    """

    kind: str
    expected: str
    levels: tuple[str, ...] = ()
    minimum: float | None = None
    strict_minimum: bool = False
    second: bool = False
    unique: bool = False


def _levels(levels: tuple[str, ...]) -> str:
    return "one of " + ", ".join(repr(level) for level in levels)


_COUNT = "a whole number >= 0 (a count)"
_MONTH = "a whole month number"
_USD = "a finite number (USD)"
_OWN_ARMS = (" (the study's arms; for your own, give the mapping a [design] table or pass "
             "design=StudyDesign(...))")

#: The data dictionary, in the order columns are checked.
COLUMN_SPECS: dict[str, ColumnSpec] = {
    "customer_id": ColumnSpec("id", "a unique, non-empty customer id (number or text)",
                              unique=True),
    "plan": ColumnSpec("category", _levels(PLANS), levels=PLANS),
    "first_start_month": ColumnSpec(
        "int", "a whole month number (negative = before the observation window)"
    ),
    "first_tenure_months": ColumnSpec(
        "int", "a whole number of months >= 1 (tenure must be positive)", minimum=0,
        strict_minimum=True,
    ),
    "first_monthly_margin": ColumnSpec("float", "a number >= 0 (monthly margin, USD)", minimum=0),
    "referrals": ColumnSpec("int", _COUNT, minimum=0),
    "complaints": ColumnSpec("int", _COUNT, minimum=0),
    "complaints_resolved": ColumnSpec("int", _COUNT, minimum=0),
    "defection_month": ColumnSpec("int", _MONTH),
    "defection_reason": ColumnSpec("category", _levels(KUMAR_2015.reasons),
                                   levels=KUMAR_2015.reasons),
    "months_since_defection": ColumnSpec("int", "a whole number of months >= 0", minimum=0),
    "offer": ColumnSpec("category", _levels(KUMAR_2015.arms) + _OWN_ARMS,
                        levels=KUMAR_2015.arms),
    "offer_received": ColumnSpec("category", _levels(KUMAR_2015.received_offers) + _OWN_ARMS,
                                 levels=KUMAR_2015.received_offers),
    "offer_matches_reason": ColumnSpec(
        "flag", "0 or 1 (1 = the offer addresses the defection reason)"
    ),
    "offer_cost": ColumnSpec("float", "a number >= 0 (offer cost, USD)", minimum=0),
    "reacquired": ColumnSpec("flag", "0 or 1 (1 = reacquired, 0 = not reacquired)"),
    "second_start_month": ColumnSpec("int", _MONTH, second=True),
    "second_tenure_months": ColumnSpec(
        "float", "a number of months > 0 (tenure must be positive)", minimum=0,
        strict_minimum=True, second=True,
    ),
    "second_churned": ColumnSpec("flag", "0 or 1 (1 = churned, 0 = censored)", second=True),
    "second_monthly_margin": ColumnSpec(
        "float", "a number >= 0 (monthly margin, USD)", minimum=0, second=True
    ),
    "clv_first": ColumnSpec("float", _USD),
    "slv": ColumnSpec("float", _USD, second=True),
    "slv_observed": ColumnSpec("float", _USD, second=True),
}

def column_specs(design: StudyDesign | None = None) -> dict[str, ColumnSpec]:
    """The data dictionary with the design's levels for ``offer``, ``offer_received`` and
    ``defection_reason`` (default :data:`~winback_study.design.KUMAR_2015`, the study's).

    A design without reasons accepts any defection reason.
    """
    if design is None or design is KUMAR_2015:
        return COLUMN_SPECS
    if not isinstance(design, StudyDesign):
        raise TypeError(f"design must be a StudyDesign, got {type(design).__name__}")
    levels = {"offer": design.arms, "offer_received": design.received_offers,
              "defection_reason": design.reasons}
    out = dict(COLUMN_SPECS)
    for name, lv in levels.items():
        out[name] = ColumnSpec("category", _levels(lv) if lv else "a reason for leaving (text)",
                               levels=lv)
    return out


#: Columns a user's table needs; every other column of :data:`COLUMN_SPECS` is optional.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "first_tenure_months",
    "first_monthly_margin",
    "referrals",
    "complaints",
    "complaints_resolved",
    "defection_reason",
    "offer",
    "reacquired",
    "second_tenure_months",
    "second_churned",
    "second_monthly_margin",
)

#: Columns that describe the second lifetime (empty exactly when ``reacquired == 0``).
SECOND_LIFETIME_COLUMNS: tuple[str, ...] = tuple(
    name for name, spec in COLUMN_SPECS.items() if spec.second
)

# Spellings of "missing" (pandas' defaults without "None": ``offer`` has a level "none").
_NA_STRINGS = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
]
_CSV_EXTENSIONS = (".csv",)
_PARQUET_EXTENSIONS = (".parquet", ".pq")
_SUGGESTION_CUTOFF = 0.8
_MAX_EXACT_INT = 2.0**53


# --------------------------------------------------------------------------------------------
# message helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Where rows come from: labels to report, the word for a row, a prefix (file name)."""

    labels: pd.Index
    row_word: str = "row"
    prefix: str = ""
    specs: dict[str, ColumnSpec] = field(default_factory=lambda: COLUMN_SPECS)
    design: StudyDesign = KUMAR_2015


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _fmt_value(value: Any) -> str:
    value = _py(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        if np.isfinite(value) and value.is_integer() and abs(value) <= _MAX_EXACT_INT:
            return str(int(value))
        return repr(value)
    return str(value)


def _fmt_values(values: Any, n_total: int) -> str:
    shown = ", ".join(_fmt_value(v) for v in list(values)[:MAX_ROWS_SHOWN])
    return shown + (", ..." if n_total > MAX_ROWS_SHOWN else "")


def _row_error(
    ctx: _Context,
    column: str,
    positions: np.ndarray,
    problem: str,
    template: str,
    expected: str,
    **value_lists: Any,
) -> StudyDataError:
    """Build the error for ``column`` at row ``positions`` (0-based positions in the frame).

    ``template`` may use ``{hold}``/``{are}`` (number agreement) and one ``{name}`` per
    entry of ``value_lists`` (arrays aligned with ``positions``).
    """
    positions = np.asarray(positions, dtype=np.intp)
    n = len(positions)
    if n == 0:  # a failure not tied to rows (defensive; the checks here always give rows)
        return StudyDataError(
            f"{ctx.prefix}column '{column}': expected {expected}", column=column, problem=problem
        )
    labels = [_py(label) for label in ctx.labels[positions[:MAX_ROWS_SHOWN]]]
    shown = ", ".join(str(label) for label in labels)
    if n == 1:
        where = f"{ctx.row_word} {shown}"
    else:
        more = ", ..." if n > MAX_ROWS_SHOWN else ""
        where = f"{ctx.row_word}s {shown}{more} ({n} rows)"
    words = {"hold": "holds" if n == 1 else "hold", "are": "is" if n == 1 else "are"}
    fields = {key: _fmt_values(vals, n) for key, vals in value_lists.items()}
    detail = template.format(**words, **fields)
    message = f"{ctx.prefix}column '{column}': {where} {detail}; expected {expected}"
    return StudyDataError(message, column=column, rows=labels, problem=problem, n_rows=n)


def _file_error(path: Path, text: str, problem: str) -> StudyDataError:
    return StudyDataError(f"{path.name}: {text}", problem=problem)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _normalise_required(required: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(required, str):
        required = (required,)
    return tuple(dict.fromkeys(required))


def _suggest(missing: str, candidates: list[Any]) -> str | None:
    """A present column whose name looks like a misspelling of ``missing``."""
    keys = {str(c).strip().lower(): c for c in candidates}
    match = difflib.get_close_matches(missing.lower(), list(keys), n=1, cutoff=_SUGGESTION_CUTOFF)
    return str(keys[match[0]]) if match else None


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], ctx: _Context) -> None:
    checked = [c for c in df.columns if c in ctx.specs or c in required]
    duplicated = pd.Index(checked)[pd.Index(checked).duplicated()].unique()
    if len(duplicated):
        name = duplicated[0]
        count = int((df.columns == name).sum())
        raise StudyDataError(
            f"{ctx.prefix}column '{name}' appears {count} times; expected each column once",
            column=str(name),
            problem="duplicate_column",
        )
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    candidates = [c for c in df.columns if c not in ctx.specs and c not in required]
    parts = []
    for name in missing:
        guess = _suggest(name, candidates)
        parts.append(f"'{name}'" + (f" (found '{guess}': misspelled?)" if guess else ""))
    plural = "s" if len(missing) > 1 else ""
    raise StudyDataError(
        f"{ctx.prefix}missing required column{plural} {', '.join(parts)}; "
        f"expected the columns {', '.join(required)}",
        column=missing[0],
        problem="missing_column",
    )


def _blank(values: pd.Series) -> np.ndarray:
    """Cells that are missing: NA or a 'missing' spelling such as '' or 'NA' (vectorised)."""
    na = values.isna().to_numpy()
    try:
        stripped = values.str.strip()  # non-strings become NaN
    except AttributeError:  # no strings at all
        return na
    return na | stripped.isin(_NA_STRINGS).to_numpy()


def _as_object(column: pd.Series) -> pd.Series:
    values = column.reset_index(drop=True).astype(object)
    return values.where(~_blank(values), np.nan)


def _coerce_numeric(column: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """(float values, original values, positions holding text that is not a number)."""
    column = column.reset_index(drop=True)
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        values = pd.Series(column.to_numpy(dtype="float64", na_value=np.nan))
        return values, column, np.empty(0, dtype=np.intp)
    original = _as_object(column)
    missing = original.isna().to_numpy()
    numbers = pd.to_numeric(original, errors="coerce")
    numbers = np.asarray(numbers)
    if np.iscomplexobj(numbers):  # complex numbers count only when real
        numbers = np.where(numbers.imag == 0, numbers.real, np.nan)
    values = pd.Series(numbers.astype("float64"))
    text = np.flatnonzero(values.isna().to_numpy() & ~missing)
    return values, original, text


def _prepare(df: pd.DataFrame, required: tuple[str, ...], ctx: _Context) -> pd.DataFrame:
    """Working frame on a 0..n-1 index: numbers as float64, categories as objects."""
    work: dict[str, pd.Series] = {}
    for name, spec in ctx.specs.items():
        if name not in df.columns:
            continue
        if spec.kind in ("category", "id"):
            work[name] = _as_object(df[name])
            continue
        values, original, text = _coerce_numeric(df[name])
        if len(text):
            raise _row_error(
                ctx, name, text, "not_numeric", "{hold} text {values}", spec.expected,
                values=original.to_numpy()[text],
            )
        work[name] = values
    for name in required:
        if name not in work:
            work[name] = _as_object(df[name])
    return pd.DataFrame(work, index=pd.RangeIndex(len(df)))


def _checks(spec: ColumnSpec) -> list[tuple[pa.Check, str]]:
    """pandera checks of one column with the problem code each one reports."""
    if spec.kind == "category":
        if not spec.levels:  # a design without reasons: any text
            return []
        return [(pa.Check.isin(list(spec.levels), error="unknown_level"), "unknown_level")]
    if spec.kind == "id":
        return []
    if spec.kind == "flag":
        return [(pa.Check.isin([0.0, 1.0], error="not_0_or_1"), "not_0_or_1")]
    checks = [(pa.Check(np.isfinite, error="not_finite"), "not_finite")]
    if spec.kind == "int":
        checks.append((pa.Check(lambda s: np.floor(s) == s, error="not_whole"), "not_whole"))
        # beyond 2**53 floats are no longer exact integers (and int64 may overflow)
        checks.append((pa.Check(lambda s: np.abs(s) <= _MAX_EXACT_INT, error="too_large"),
                       "out_of_range"))
    if spec.minimum is not None:
        bound = pa.Check.gt if spec.strict_minimum else pa.Check.ge
        checks.append((bound(spec.minimum, error="out_of_range"), "out_of_range"))
    return checks


def _schema(
    work: pd.DataFrame, required: tuple[str, ...], specs: dict[str, ColumnSpec]
) -> tuple[pa.DataFrameSchema, dict[str, list[str]]]:
    columns: dict[str, pa.Column] = {}
    codes: dict[str, list[str]] = {}
    for name in work.columns:
        spec = specs.get(name)
        if spec is None:  # a required column outside the data dictionary: must be filled
            columns[name] = pa.Column(nullable=False)
            codes[name] = []
            continue
        checks = _checks(spec)
        columns[name] = pa.Column(
            checks=[check for check, _ in checks],
            nullable=spec.second or name not in required,
            unique=spec.unique,
        )
        codes[name] = [code for _, code in checks]
    return pa.DataFrameSchema(columns, strict=False, coerce=False), codes


def _failure_cases(work: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame | None:
    with config_context(validation_enabled=True, validation_depth="SCHEMA_AND_DATA"):
        try:
            schema.validate(work, lazy=True)
        except SchemaErrors as err:
            return err.failure_cases
        except SchemaError:  # not expected with lazy=True; still never let it reach the user
            return pd.DataFrame({"column": [None], "check": [None], "check_number": [None],
                                 "index": [None]})
    return None


def _schema_error(
    work: pd.DataFrame, required: tuple[str, ...], ctx: _Context
) -> StudyDataError | None:
    """Run the per-column pandera checks; the first failing column as a StudyDataError."""
    schema, codes = _schema(work, required, ctx.specs)
    cases = _failure_cases(work, schema)
    if cases is None or cases.empty:
        return None
    cases = cases[cases["column"].isin(list(work.columns))]
    if cases.empty:  # a failure pandera could not pin on a column
        return StudyDataError(f"{ctx.prefix}the table does not meet the data dictionary")
    order = {name: i for i, name in enumerate(work.columns)}
    column = min(cases["column"].unique(), key=order.__getitem__)
    cases = cases[cases["column"] == column]
    check = cases["check"].astype(str)
    number = pd.to_numeric(cases["check_number"], errors="coerce")

    def positions(mask: pd.Series) -> np.ndarray:
        return np.unique(cases.loc[mask, "index"].dropna().to_numpy(np.intp))

    spec = ctx.specs.get(column)
    values = work[column].to_numpy()

    if (check == "not_nullable").any():
        rows = positions(check == "not_nullable")
        why = "a value in every row (required column)"
        return _row_error(ctx, column, rows, "missing_value", "{are} empty", why)
    if number.notna().any():
        rows = positions(number.notna())
        problem = codes[column][int(number.min())]
        return _row_error(
            ctx, column, rows, problem, "{hold} {values}", spec.expected, values=values[rows]
        )
    if (check == "field_uniqueness").any():
        rows = positions(check == "field_uniqueness")
        why = f"each {column} only once (one row per customer)"
        return _row_error(
            ctx, column, rows, "duplicate", "{hold} {values}", why, values=values[rows]
        )
    rows = positions(cases["index"].notna())
    expected = spec.expected if spec else "a valid value"
    return _row_error(ctx, column, rows, "invalid", "{hold} {values}", expected, values=values[rows])


def _cross_error(work: pd.DataFrame, ctx: _Context) -> StudyDataError | None:
    """Checks across columns (all vectorised; NaN never counts as a violation here)."""
    has = set(work.columns).issuperset

    if has({"complaints", "complaints_resolved"}):
        complaints = work["complaints"].to_numpy()
        resolved = work["complaints_resolved"].to_numpy()
        rows = np.flatnonzero(resolved > complaints)
        if len(rows):
            return _row_error(
                ctx, "complaints_resolved", rows, "resolved_exceeds_complaints",
                "{hold} {values} (complaints: {complaints})",
                "complaints_resolved <= complaints",
                values=resolved[rows], complaints=complaints[rows],
            )

    if "reacquired" in work.columns:
        reacquired = work["reacquired"].to_numpy()
        for name in SECOND_LIFETIME_COLUMNS:
            if name not in work.columns:
                continue
            present = work[name].notna().to_numpy()
            rows = np.flatnonzero((reacquired == 0) & present)
            if len(rows):
                return _row_error(
                    ctx, name, rows, "second_lifetime_unexpected",
                    "{hold} {values} but reacquired is 0",
                    "no value (empty) for a customer who was not reacquired",
                    values=work[name].to_numpy()[rows],
                )
            rows = np.flatnonzero((reacquired == 1) & ~present)
            if len(rows):
                return _row_error(
                    ctx, name, rows, "second_lifetime_missing",
                    "{are} empty but reacquired is 1",
                    "a value for every reacquired customer",
                )

    if has({"second_start_month", "defection_month"}):
        start = work["second_start_month"].to_numpy()
        defection = work["defection_month"].to_numpy()
        rows = np.flatnonzero(start <= defection)
        if len(rows):
            return _row_error(
                ctx, "second_start_month", rows, "dates_out_of_order",
                "{hold} {values} (defection_month: {defection})",
                "second_start_month > defection_month (dates out of order: "
                "the second lifetime starts after the defection)",
                values=start[rows], defection=defection[rows],
            )

    if has({"first_start_month", "first_tenure_months", "defection_month"}):
        end = work["first_start_month"].to_numpy() + work["first_tenure_months"].to_numpy()
        defection = work["defection_month"].to_numpy()
        rows = np.flatnonzero(np.abs(end - defection) > 1e-9)
        if len(rows):
            return _row_error(
                ctx, "defection_month", rows, "tenure_mismatch",
                "{hold} {values} (first_start_month + first_tenure_months: {end})",
                "defection_month = first_start_month + first_tenure_months",
                values=defection[rows], end=end[rows],
            )
    return None


def _design_error(work: pd.DataFrame, ctx: _Context) -> StudyDataError | None:
    """The offers received and the matched-reason flags must be what the design assigns.

    ``offer_cost`` is not compared with the design's costs: a file may record what each
    customer's offer really cost.
    """
    d = ctx.design
    if not {"offer", "offer_received"} <= set(work.columns):
        return None
    arm = work["offer"].to_numpy(dtype=object)
    got = work["offer_received"].to_numpy(dtype=object)
    expected = arm.copy()  # an offer arm gives itself
    reasons = work["defection_reason"] if "defection_reason" in work.columns else None
    for name, rule in d.rules.items():
        mask = arm == name
        if mask.any():
            if reasons is None:
                expected[mask] = None  # cannot tell without reasons
            else:
                expected[mask] = reasons[mask].map(dict(rule)).to_numpy(dtype=object)
    known = pd.notna(arm) & pd.notna(got) & pd.notna(expected)
    rows = np.flatnonzero(known & (got != expected))
    if len(rows):
        return _row_error(
            ctx, "offer_received", rows, "received_not_assigned",
            "{hold} {values} (offer: {arms})",
            f"the offer the design gives each arm ({d.name}: an offer arm gives itself"
            + (", " + "; ".join(f"{a} by reason: " + ", ".join(f"{r} -> {o}"
                                                             for r, o in rule.items())
                                for a, rule in d.rules.items()) if d.rules else "") + ")",
            values=got[rows], arms=arm[rows],
        )
    if "offer_matches_reason" in work.columns and reasons is not None and d.matching:
        flag = work["offer_matches_reason"].to_numpy()
        want = d.matches(got, reasons).astype(float)
        ok = pd.notna(got) & reasons.notna().to_numpy() & ~np.isnan(flag)
        rows = np.flatnonzero(ok & (flag != want))
        if len(rows):
            return _row_error(
                ctx, "offer_matches_reason", rows, "match_flag_wrong",
                "{hold} {values} (offer_received: {offers}, defection_reason: {why})",
                "1 exactly where the offer received is the one the design matches to the "
                "reason (" + ", ".join(f"{r} -> {o}" for r, o in d.matching.items()) + ")",
                values=flag[rows], offers=got[rows], why=reasons.to_numpy(dtype=object)[rows],
            )
    return None


def _finish(df: pd.DataFrame, work: pd.DataFrame, specs: dict[str, ColumnSpec]) -> pd.DataFrame:
    """A deep copy of ``df`` with the dictionary's columns in their canonical dtypes.

    Categories get the study's levels (in the study's order). Whole-number columns become
    ``int64``, unless they may be empty (second-lifetime columns, optional columns with gaps),
    which stay ``float64`` with NaN, as in :func:`simulate_study`.
    """
    out = df.copy(deep=True)
    for name, spec in specs.items():
        if name not in work.columns:
            continue
        values = work[name]
        if spec.kind == "id":
            continue  # ids are kept as given (numbers or text)
        if spec.kind == "category":
            levels = list(spec.levels) or sorted(values.dropna().astype(str).unique())
            out[name] = pd.Categorical(values.to_numpy(object), categories=levels)
        elif spec.kind in ("int", "flag") and not spec.second and not values.isna().any():
            out[name] = values.to_numpy().astype(np.int64)
        else:
            out[name] = values.to_numpy(dtype="float64")
    return out


def _validate(df: pd.DataFrame, required: Iterable[str] | str, ctx: _Context) -> pd.DataFrame:
    required = _normalise_required(required)
    _check_columns(df, required, ctx)
    if len(df) == 0:
        raise StudyDataError(
            f"{ctx.prefix}the table has no rows; expected one row per lapsed customer",
            problem="no_rows",
        )
    work = _prepare(df, required, ctx)
    error = (_schema_error(work, required, ctx) or _cross_error(work, ctx)
             or _design_error(work, ctx))
    if error is not None:
        raise error
    return _finish(df, work, ctx.specs)


def validate_study(df: pd.DataFrame, *, required: Iterable[str] = REQUIRED_COLUMNS,
                   design: StudyDesign | None = None) -> pd.DataFrame:
    """Validate a study table; return a new frame with canonical dtypes.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per lapsed customer. Never modified.
    required : iterable of str
        Columns that must be present and filled (second-lifetime columns: filled exactly for
        the reacquired). Defaults to :data:`REQUIRED_COLUMNS`. Other columns of
        :data:`COLUMN_SPECS` are checked when present; unknown columns are passed through.
    design : StudyDesign, optional
        The arms and reasons ``offer``, ``offer_received`` and ``defection_reason`` may hold
        (default :data:`~winback_study.design.KUMAR_2015`): a file with other arms passes
        its own design.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` (same index and column order) in which ``plan``,
        ``defection_reason``, ``offer`` and ``offer_received`` are categoricals with the
        study's levels and numeric columns are ``int64`` / ``float64``.

    Raises
    ------
    StudyDataError
        The first problem found; rows are reported by index label.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_study expects a pandas DataFrame, got {type(df).__name__}")
    return _validate(df, required, _Context(labels=df.index, specs=column_specs(design),
                                            design=design or KUMAR_2015))


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _decode(path: Path, raw: bytes) -> str:
    bom = b"\xef\xbb\xbf"
    start = len(bom) if raw.startswith(bom) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = start + err.start
        bad = raw[offset]
        line = raw.count(b"\n", 0, offset) + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            guess, codec = "UTF-16", "utf-16"
        else:
            try:
                raw.decode("cp1252")
                guess, codec = "Windows-1252 (cp1252)", "cp1252"
            except UnicodeDecodeError:
                guess, codec = "Latin-1 (ISO-8859-1)", "latin-1"
        line_start = raw.rfind(b"\n", 0, offset) + 1
        line_end = raw.find(b"\n", offset)
        line_end = len(raw) if line_end < 0 else line_end
        snippet = raw[max(line_start, offset - 20) : min(line_end, offset + 20)]
        near = snippet.decode(codec, errors="replace").strip()
        raise _file_error(
            path,
            f"not UTF-8 text: byte 0x{bad:02x} at byte offset {offset} (line {line}, near "
            f"{near!r}) is not valid UTF-8; the file looks like {guess}. Expected UTF-8: "
            f"re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel) or convert it, e.g. "
            f"`iconv -f {codec} -t utf-8`",
            "bad_encoding",
        ) from None


def _parse_error_text(message: str) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = found.groups()
        return (
            f"line {line} has {saw} fields but the header has {expected}; expected the same "
            f"number of comma-separated fields on every line (check for unquoted commas)"
        )
    first = message.strip().splitlines()[0] if message.strip() else "unknown problem"
    return f"could not parse the CSV file ({first.replace('C error: ', '')})"


def _read_csv(path: Path) -> pd.DataFrame:
    text = _decode(path, path.read_bytes())
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), None)
    if header is None:
        raise _file_error(path, "the file holds only blank lines; expected a header and rows",
                          "empty_file")
    if "," not in header:
        for delimiter, name in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter in header:
                raise _file_error(
                    path,
                    f"the delimiter looks wrong: the header {header[:80]!r} has no commas but "
                    f"contains {name}; expected a comma-separated file (re-save it with ',' "
                    f"as the delimiter)",
                    "wrong_delimiter",
                )
    try:
        df = pd.read_csv(
            io.StringIO(text), low_memory=False, keep_default_na=False, na_values=_NA_STRINGS
        )
    except pd.errors.EmptyDataError:
        raise _file_error(path, "no header found; expected a header and rows",
                          "empty_file") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise _file_error(path, _parse_error_text(str(err)), "unreadable") from None
    if df.shape[1] == 1:
        only = str(df.columns[0])
        for delimiter in (";", "\t"):
            if delimiter in only:
                raise _file_error(
                    path,
                    f"the delimiter looks wrong: the file parsed into a single column "
                    f"{only[:80]!r} containing {delimiter!r}; expected a comma-separated file",
                    "wrong_delimiter",
                )
    return df


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise _file_error(path, "reading Parquet needs pyarrow (pip install pyarrow)",
                          "unreadable") from None
    except Exception as err:  # any reader failure becomes one plain message
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _file_error(
            path, f"not a readable Parquet file ({reason}); expected a Parquet table",
            "unreadable",
        ) from None


def load_study(
    path: str | os.PathLike[str], *, required: Iterable[str] = REQUIRED_COLUMNS,
    design: StudyDesign | None = None,
) -> pd.DataFrame:
    """Read a study table from CSV (``.csv``, UTF-8, comma-separated) or Parquet
    (``.parquet``/``.pq``) and validate it with :func:`validate_study`.

    The file is only read, never modified. Rows in error messages are 1-based data rows
    (1 = the first row after the header); the returned frame has the usual 0-based index.

    Raises
    ------
    StudyDataError
        File not found, unknown extension, empty file, header without rows, a wrong
        delimiter, text that is not UTF-8, an unparsable file, or any validation problem.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise StudyDataError(f"file not found: '{path}'", problem="file_not_found")
    if path.is_dir():
        raise _file_error(path, f"'{path}' is a directory; expected a .csv or .parquet file",
                          "unreadable")
    suffix = path.suffix.lower()
    if suffix not in _CSV_EXTENSIONS + _PARQUET_EXTENSIONS:
        hint = " (save spreadsheets as CSV UTF-8)" if suffix in (".xls", ".xlsx", ".ods") else ""
        raise _file_error(
            path,
            f"unknown file extension '{path.suffix}'; expected .csv, .parquet or .pq{hint}",
            "unknown_extension",
        )
    try:
        size = path.stat().st_size
        if size == 0:
            raise _file_error(path, "the file is empty (0 bytes); expected a header and rows",
                              "empty_file")
        df = _read_csv(path) if suffix in _CSV_EXTENSIONS else _read_parquet(path)
    except OSError as err:
        raise _file_error(path, f"cannot read the file ({err.strerror or err})",
                          "unreadable") from None
    if df.shape[1] == 0:
        raise _file_error(path, "the file has no columns; expected a study table", "empty_file")
    if len(df) == 0:
        raise _file_error(path, "the file has a header but no data rows; expected one row per "
                          "lapsed customer", "no_rows")
    ctx = _Context(labels=pd.RangeIndex(1, len(df) + 1), row_word="data row",
                   prefix=f"{path.name}: ", specs=column_specs(design),
                   design=design or KUMAR_2015)
    return _validate(df, required, ctx)
