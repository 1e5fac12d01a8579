"""Load and validate study tables: one row per lapsed customer.

Researchers bring their own files; :func:`read_table` reads a CSV (with pyarrow) or Parquet
file with the file-level checks only (encoding, delimiter, rows of the wrong length ...),
:func:`validate_study` checks a frame against the study's data dictionary (the columns
:func:`winback_study.data.simulate.simulate_study` produces) and :func:`load_study` does
both. Each returns a *new* frame or raises exactly one :class:`StudyDataError` with a plain
message such as::

    column 'second_churned': rows 3, 17 (2 rows) hold 2, 5; expected 0 or 1 (1 = churned, 0 = censored)

Row numbers are the frame's index labels for :func:`validate_study` and 1-based data rows
(1 = the first row after the header) for :func:`load_study`; problems with the file itself
name physical lines (1 = the header's line, counting blank lines and line breaks inside
quoted fields). At most 10 rows are listed; the count in parentheses is the total.

Checks, in the order they are made (the first failure is reported):

1. required columns present (a close, probably misspelled, name is suggested);
2. at least one row;
3. no text in numeric columns; ``customer_id`` stored as decimal numbers holds whole ones
   (1.0, 2.0, ... become ``int64``);
4. per column (pandera): no empty cells in required columns, finite numbers, whole numbers
   where the column counts something, tenures > 0, counts / margins / costs >= 0, flags 0 or
   1, categorical levels known, ``customer_id`` unique;
5. across columns: ``complaints_resolved <= complaints``; second-lifetime columns empty
   exactly when ``reacquired == 0``; ``second_start_month > defection_month``;
   ``first_start_month + first_tenure_months == defection_month``;
6. the design: ``offer_received`` and ``offer_matches_reason`` as the design assigns them.

Optional columns (those of the data dictionary not in ``required``) are checked when present
and may have empty cells; columns outside the dictionary are passed through untouched.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import config_context
from pandera.errors import SchemaError, SchemaErrors

from winback_study.data.read_file import _MAX_EXACT_INT, _NA_STRINGS, read_table
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
    "read_table",
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
_SUGGESTION_CUTOFF = 0.8


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


@dataclass(frozen=True)
class _Factors:
    """An object column factorised: ``codes`` (-1 where missing) into ``uniques`` (its
    distinct values; NaN for the 'missing' spellings). Checks and conversions then look at
    each distinct value once instead of at every cell."""

    codes: np.ndarray
    uniques: np.ndarray


def _fill_nan(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    if not missing.any():
        return values
    values = values.copy()
    values[missing] = np.nan
    return values


def _as_object(column: pd.Series) -> tuple[np.ndarray, _Factors | None]:
    """Objects with NaN in the missing cells, and the factorisation (None: unhashable cells).

    The objects may share memory with ``column``; they are never written to.
    """
    values = column.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists ...): look at every cell
        return _fill_nan(values, _blank(pd.Series(values, dtype=object))), None
    uniques = np.asarray(uniques, dtype=object)
    if len(uniques) < 2**31 - 1:
        codes = codes.astype(np.int32)  # half the memory
    missing = codes < 0
    blank_uniques = _blank(pd.Series(uniques, dtype=object))
    if blank_uniques.any():
        missing |= blank_uniques[np.where(missing, 0, codes)]
        codes = np.where(missing, -1, codes)
        uniques = _fill_nan(uniques, blank_uniques)
    return _fill_nan(values, missing), _Factors(codes, uniques)


def _plain_number(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _coerce_numeric(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, original values, positions holding text that is not a number).

    Numbers are float64, or the integers given (up to 2**53); they may share memory with
    ``column`` and are never written to.
    """
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        values = column.to_numpy()
        return values, values, np.empty(0, dtype=np.intp)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":  # checked as they are, unless
        values = column.to_numpy()  # beyond 2**53, where floats (the checks' view) differ
        if len(values) and max(abs(int(values.min())), abs(int(values.max()))) > _MAX_EXACT_INT:
            values = values.astype("float64")
        return values, values, np.empty(0, dtype=np.intp)
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    ):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return values, values, np.empty(0, dtype=np.intp)
    original, _ = _as_object(column)
    missing = pd.isna(original)
    numbers = pd.to_numeric(pd.Series(original, dtype=object), errors="coerce")
    numbers = np.asarray(numbers)
    if np.iscomplexobj(numbers):  # complex numbers count only when real
        numbers = np.where(numbers.imag == 0, numbers.real, np.nan)
    values = numbers.astype("float64")
    text = np.flatnonzero(np.isnan(values) & ~missing)
    return values, original, text


_ID_EXPECTED = ("a whole number (ids stored as decimal numbers, e.g. 12.0, must be whole "
                "numbers of at most 2**53)")


def _numeric_ids(name: str, column: pd.Series, ctx: _Context) -> np.ndarray:
    """Ids stored as numbers; floats must be whole (1.0, 2.0, ...: they become int64)."""
    values = column.to_numpy()
    if values.dtype.kind == "f":
        whole = (np.floor(values) == values) & (np.abs(values) <= _MAX_EXACT_INT)
        rows = np.flatnonzero(~whole & ~np.isnan(values))
        if len(rows):
            raise _row_error(ctx, name, rows, "non_integral_id", "{hold} {values}",
                             _ID_EXPECTED, values=values[rows])
    return values


def _prepare(
    df: pd.DataFrame, required: tuple[str, ...], ctx: _Context
) -> tuple[pd.DataFrame, dict[str, _Factors]]:
    """Working frame on a 0..n-1 index: numbers as float64 (integers and ids stored as
    numbers as they are), categories as objects; and the factorised object columns."""
    work: dict[str, np.ndarray] = {}
    factors: dict[str, _Factors] = {}

    def as_object(name: str) -> None:
        work[name], found = _as_object(df[name])
        if found is not None:
            factors[name] = found

    for name, spec in ctx.specs.items():
        if name not in df.columns:
            continue
        if spec.kind == "id" and _plain_number(df[name].dtype):
            work[name] = _numeric_ids(name, df[name], ctx)
            continue
        if spec.kind in ("category", "id"):
            as_object(name)
            continue
        values, original, text = _coerce_numeric(df[name])
        if len(text):
            raise _row_error(
                ctx, name, text, "not_numeric", "{hold} text {values}", spec.expected,
                values=original[text],
            )
        work[name] = values
    for name in required:
        if name not in work:
            as_object(name)
    # copy=False: the columns stay separate arrays (no copy into 2-D blocks)
    return pd.DataFrame(work, index=pd.RangeIndex(len(df)), copy=False), factors


def _may_fail(name: str, values: np.ndarray, spec: ColumnSpec | None,
              required: tuple[str, ...], factors: _Factors | None) -> bool:
    """Whether pandera's checks of one column can fail.

    A vectorised pre-check that never misses a failure (it may flag a column that then
    passes), so pandera, which words the messages, runs only on the columns that need it:
    on a large, valid table it would dominate the time spent validating.
    """
    nullable = spec is not None and (spec.second or name not in required)
    if values.dtype == object:
        if factors is None:
            return True
        missing = factors.codes < 0
        if not nullable and missing.any():
            return True
        if spec is None:
            return False
        present = factors.uniques[~pd.isna(factors.uniques)]
        if spec.kind == "category" and spec.levels:
            allowed = set(spec.levels)
            if any(value not in allowed for value in present):
                return True
        if spec.unique:
            return len(present) < int((~missing).sum()) or int(missing.sum()) > 1
        return False
    nan = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    if not nullable and nan.any():
        return True
    if spec is None:
        return False
    if spec.unique:
        if len(values) > 1 and bool((values[1:] > values[:-1]).all()):
            return False  # increasing: unique (the usual case, and cheap to see)
        return len(pd.unique(values)) < len(values)
    if spec.kind == "flag":
        return bool(((values != 0) & (values != 1) & ~nan).any())
    if spec.kind in ("float", "int"):
        if np.isinf(values).any():
            return True
        if spec.kind == "int" and (((np.floor(values) != values) & ~nan).any()
                                   or (np.abs(values) > _MAX_EXACT_INT).any()):
            return True
        if spec.minimum is not None:
            low = values <= spec.minimum if spec.strict_minimum else values < spec.minimum
            return bool(low.any())
        return False
    return True  # a kind this pre-check does not know: let pandera look


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
            schema.validate(work, lazy=True, inplace=True)  # coerce=False: nothing changes
        except SchemaErrors as err:
            return err.failure_cases
        except SchemaError:  # not expected with lazy=True; still never let it reach the user
            return pd.DataFrame({"column": [None], "check": [None], "check_number": [None],
                                 "index": [None]})
    return None


def _schema_error(
    work: pd.DataFrame, required: tuple[str, ...], ctx: _Context,
    factors: dict[str, _Factors] | None = None,
) -> StudyDataError | None:
    """Run the per-column pandera checks; the first failing column as a StudyDataError.

    Only the columns :func:`_may_fail` flags are given to pandera.
    """
    factors = factors or {}
    flagged = [name for name in work.columns
               if _may_fail(name, work[name].to_numpy(), ctx.specs.get(name), required,
                            factors.get(name))]
    if not flagged:
        return None
    subset = work[flagged]
    schema, codes = _schema(subset, required, ctx.specs)
    cases = _failure_cases(subset, schema)
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


def _design_masks(work: pd.DataFrame, d: StudyDesign) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows whose offer received is not the one the design assigns, and rows whose
    matched-reason flag is wrong (None: not checked)."""
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
    received = known & (got != expected)
    if "offer_matches_reason" in work.columns and reasons is not None and d.matching:
        flag = work["offer_matches_reason"].to_numpy()
        want = d.matches(got, reasons).astype(float)
        ok = pd.notna(got) & reasons.notna().to_numpy() & ~np.isnan(flag)
        return received, ok & (flag != want)
    return received, None


def _groups(work: pd.DataFrame, names: list[str],
            factors: dict[str, _Factors]) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's combination of values in ``names`` (a group id) and one row of each group;
    None when a column cannot be factorised."""
    key = np.zeros(len(work), dtype=np.int64)
    size = 1
    for name in names:
        if name in factors:
            codes, k = factors[name].codes, len(factors[name].uniques)
        else:
            values = work[name].to_numpy()
            if values.dtype == object:
                return None
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            k = len(uniques)
        if size * (k + 1) >= 2**62:  # keep the combined key in int64
            key, seen = pd.factorize(key)
            size = len(seen)
        key = key * (k + 1) + (codes + 1)
        size *= k + 1
    ids, seen = pd.factorize(key)
    first = np.empty(len(seen), dtype=np.intp)
    first[ids] = np.arange(len(ids))  # any row of a group stands for all of it
    return ids, first


def _design_error(work: pd.DataFrame, ctx: _Context,
                  factors: dict[str, _Factors] | None = None) -> StudyDataError | None:
    """The offers received and the matched-reason flags must be what the design assigns.

    ``offer_cost`` is not compared with the design's costs: a file may record what each
    customer's offer really cost. The checks are made once per distinct combination of
    offer, offer received, reason and flag (the same values give the same verdict).
    """
    d = ctx.design
    if not {"offer", "offer_received"} <= set(work.columns):
        return None
    names = [name for name in ("offer", "offer_received", "defection_reason",
                               "offer_matches_reason") if name in work.columns]
    groups = _groups(work, names, factors or {})
    if groups is None:
        received, flag = _design_masks(work, d)
    else:
        ids, first = groups
        distinct = pd.DataFrame({name: work[name].to_numpy()[first] for name in names})
        received, flag = _design_masks(distinct, d)
        received = received[ids]
        flag = None if flag is None else flag[ids]
    arm = work["offer"].to_numpy(dtype=object)
    got = work["offer_received"].to_numpy(dtype=object)
    rows = np.flatnonzero(received)
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
    if flag is not None:
        rows = np.flatnonzero(flag)
        if len(rows):
            reasons = work["defection_reason"].to_numpy(dtype=object)
            return _row_error(
                ctx, "offer_matches_reason", rows, "match_flag_wrong",
                "{hold} {values} (offer_received: {offers}, defection_reason: {why})",
                "1 exactly where the offer received is the one the design matches to the "
                "reason (" + ", ".join(f"{r} -> {o}" for r, o in d.matching.items()) + ")",
                values=work["offer_matches_reason"].to_numpy()[rows], offers=got[rows],
                why=reasons[rows],
            )
    return None


def _categorical(values: np.ndarray, levels: list[str],
                 factors: _Factors | None) -> pd.Categorical:
    if factors is None:
        return pd.Categorical(values, categories=levels)
    per_unique = pd.Categorical(factors.uniques, categories=levels).codes
    if not len(per_unique):
        return pd.Categorical.from_codes(np.full(len(values), -1, np.int8), categories=levels)
    codes = np.where(factors.codes < 0, -1, per_unique[np.maximum(factors.codes, 0)])
    return pd.Categorical.from_codes(codes.astype(per_unique.dtype), categories=levels)


def _finish(df: pd.DataFrame, work: pd.DataFrame, specs: dict[str, ColumnSpec],
            factors: dict[str, _Factors], copy: bool = True) -> pd.DataFrame:
    """``df`` with the dictionary's columns in their canonical dtypes: a deep copy, or with
    ``copy=False`` a new frame sharing the columns that need no conversion (``df`` itself
    is never modified).

    Categories get the study's levels (in the study's order). Whole-number columns become
    ``int64``, unless they may be empty (second-lifetime columns, optional columns with gaps),
    which stay ``float64`` with NaN, as in :func:`simulate_study`. Ids are kept as given
    (numbers or text), except whole floats (1.0, 2.0, ...) with no gaps, which become
    ``int64``. Columns already in their dtype are left as they are.
    """
    new: dict[int, Any] = {}  # position -> converted column
    for name, spec in specs.items():
        if name not in work.columns:
            continue
        values = work[name].to_numpy()
        dtype = df[name].dtype
        at = df.columns.get_loc(name)
        if spec.kind == "id":
            if values.dtype.kind == "f" and not np.isnan(values).any():
                new[at] = values.astype(np.int64)
        elif spec.kind == "category":
            levels = list(spec.levels) or sorted(
                pd.Series(values, dtype=object).dropna().astype(str).unique())
            new[at] = _categorical(values, levels, factors.get(name))
        elif spec.kind in ("int", "flag") and not spec.second and not np.isnan(values).any():
            if dtype != np.int64:
                new[at] = values.astype(np.int64)
        elif dtype != np.float64:
            new[at] = np.array(values, dtype="float64")
    out = df.copy(deep=False)  # then columns replaced: converted, or copied one by one
    for at in range(df.shape[1]):  # (a deep copy of the frame would also merge its blocks)
        if at in new:
            out.isetitem(at, new[at])
        elif copy:
            out.isetitem(at, df.iloc[:, at].copy(deep=True))
    return out


def _validate(df: pd.DataFrame, required: Iterable[str] | str, ctx: _Context,
              copy: bool = True) -> pd.DataFrame:
    required = _normalise_required(required)
    _check_columns(df, required, ctx)
    if len(df) == 0:
        raise StudyDataError(
            f"{ctx.prefix}the table has no rows; expected one row per lapsed customer",
            problem="no_rows",
        )
    work, factors = _prepare(df, required, ctx)
    error = (_schema_error(work, required, ctx, factors) or _cross_error(work, ctx)
             or _design_error(work, ctx, factors))
    if error is not None:
        raise error
    return _finish(df, work, ctx.specs, factors, copy=copy)


def validate_study(df: pd.DataFrame, *, required: Iterable[str] = REQUIRED_COLUMNS,
                   design: StudyDesign | None = None, copy: bool = True) -> pd.DataFrame:
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
    copy : bool
        False: the frame returned shares the columns of ``df`` that need no conversion
        instead of copying them (a gigabyte at 10 million rows); ``df`` is not modified.

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
                                            design=design or KUMAR_2015), copy=copy)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------







































def load_study(
    path: str | os.PathLike[str], *, required: Iterable[str] = REQUIRED_COLUMNS,
    design: StudyDesign | None = None, columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read a study table with :func:`read_table` and validate it with :func:`validate_study`.

    CSV (``.csv``, UTF-8, comma-separated), Parquet (``.parquet``/``.pq``) or a folder of
    Parquet files; ``columns`` reads only those of a Parquet file or folder (the
    ``required`` ones among them). The file is only read, never modified. Rows in error messages are 1-based data rows (1 = the first
    row after the header); the returned frame has the usual 0-based index.

    Raises
    ------
    StudyDataError
        Any problem :func:`read_table` reports (file not found, unknown extension, empty
        file, header without rows, a wrong delimiter, text that is not UTF-8, lines with
        the wrong number of fields, an unparsable file) or any validation problem.
    """
    df = read_table(path, None if columns is None else list(columns))
    name = Path(os.fspath(path)).name
    ctx = _Context(labels=pd.RangeIndex(1, len(df) + 1), row_word="data row",
                   prefix=f"{name}: ", specs=column_specs(design),
                   design=design or KUMAR_2015)
    return _validate(df, required, ctx, copy=False)  # the frame read is ours to convert
