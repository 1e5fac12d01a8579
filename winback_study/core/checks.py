"""The one input validator of the models and analyses: the columns a function needs, a
numeric column, the 0/1 outcome. (The study-table validator, :mod:`winback_study.data.
study_table`, checks a whole table against the data dictionary.)

Every problem is a :class:`~winback_study.errors.DataError` naming the column (and the
rows, where rows are at fault), so the command line and ``analyze`` report it in one line
instead of a pandas ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from winback_study.errors import MAX_ROWS_SHOWN, DataError, rows_text

__all__ = ["require_columns", "flagged_rows", "numeric_column", "binary_outcome"]

#: Columns listed in a "missing column" message.
_COLUMNS_SHOWN = 15


def require_columns(df: pd.DataFrame, columns: Iterable[Any], purpose: str, *,
                    hint: str | None = None) -> None:
    """Raise :class:`DataError` naming the first of ``columns`` that ``df`` lacks.

    Parameters
    ----------
    df : pandas.DataFrame
        The data.
    columns : iterable
        Column names the analysis reads; ``None`` entries and non-strings (a Series passed
        in a column's place, a callable value) are skipped.
    purpose : str
        What needs them, for the message (``"arm_summary"``).
    hint : str, optional
        Said in brackets after the missing names (default: the columns the data have).

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame.
    DataError
        ``problem="missing_column"``, ``column`` the first missing one.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    wanted = list(dict.fromkeys(c for c in columns if isinstance(c, str)))
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        if hint is None:
            have = [str(c) for c in df.columns[:_COLUMNS_SHOWN]]
            more = " ..." if len(df.columns) > _COLUMNS_SHOWN else ""
            hint = f"columns: {', '.join(have)}{more}"
        raise DataError(
            f"{purpose} needs the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}, which the data do not have ({hint}); "
            "add the column or rename it",
            column=missing[0], problem="missing_column",
        )


def flagged_rows(mask: np.ndarray, index: pd.Index) -> tuple[list, int]:
    """The first :data:`~winback_study.errors.MAX_ROWS_SHOWN` labels where ``mask`` holds,
    and how many rows it flags in all."""
    pos = np.flatnonzero(mask)
    return list(index[pos[:MAX_ROWS_SHOWN]]), len(pos)


def numeric_column(df: pd.DataFrame, column: str, purpose: str) -> np.ndarray:
    """``df[column]`` as floats (missing values stay NaN), or :class:`DataError` naming the
    rows whose entries are not numbers.

    Raises
    ------
    DataError
        The column is missing (``missing_column``), or holds text (``not_numeric``, with the
        rows).
    """
    require_columns(df, [column], purpose)
    try:
        return df[column].to_numpy(dtype=float)
    except (TypeError, ValueError):
        pass
    raw = df[column]
    bad = (pd.to_numeric(raw, errors="coerce").isna() & raw.notna()).to_numpy()
    rows, n = flagged_rows(bad, df.index)
    seen = sorted({str(v) for v in raw[bad].head(50)})[:5]
    raise DataError(
        f"{purpose}: column {column!r} must hold numbers; {rows_text(rows, n)} hold "
        f"{', '.join(repr(v) for v in seen)}",
        column=column, rows=rows, n_rows=n, problem="not_numeric",
    )


def binary_outcome(df: pd.DataFrame, column: str = "reacquired",
                   purpose: str = "the analysis") -> np.ndarray:
    """``df[column]`` as floats 0.0/1.0, or :class:`DataError` naming the rows that are not.

    Raises
    ------
    DataError
        The column is missing (``missing_column``), or holds something other than 0/1: text,
        a missing value, another number (``not_0_or_1``, with the rows).
    """
    require_columns(df, [column], purpose)
    y = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        rows, n = flagged_rows(bad, df.index)
        seen = sorted({str(v) for v in df[column][bad].head(50)})[:5]
        raise DataError(
            f"column {column!r} must be 0 or 1 for every customer (1 = came back); "
            f"{rows_text(rows, n)} hold {', '.join(seen)}",
            column=column, rows=rows, n_rows=n, problem="not_0_or_1",
        )
    return y
