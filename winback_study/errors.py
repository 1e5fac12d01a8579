"""The package's one error tree.

Every problem the package reports about data or models is a :class:`WinbackError`, so a
caller (the command line, ``analyze``, a notebook) can catch the root and show the message::

    WinbackError
    ├── DataError            bad input: a missing column, a value out of range, a bad file
    │   └── StudyDataError   a study table that does not meet the data dictionary
    │   └── DesignError      a study design that is inconsistent, or data that do not fit
    │                        the design (an arm with no cost, an unknown arm or reason)
    └── ModelError           what the data cannot support: separation, no events, a boundary
        ├── ReturnModelError         the return equation
        ├── SecondLifetimeError      the second-lifetime duration equation
        ├── SecondProfitError        the second-lifetime margin equation
        ├── SBGBoundaryError         an sBG fit at its geometric boundary
        └── ConvergenceError         an optimiser that did not converge
            └── SecondLifetimeConvergenceError

``DataError`` and ``ModelError`` also derive from :class:`ValueError` (and
``ConvergenceError`` from :class:`RuntimeError`), so code written against the built-in
exceptions keeps working. Messages say what is wrong and what to do; a ``DataError``
carries the offending ``column``, up to 10 ``rows`` and a stable ``problem`` code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_ROWS_SHOWN",
    "rows_text",
    "WinbackError",
    "DataError",
    "StudyDataError",
    "DesignError",
    "ModelError",
    "ReturnModelError",
    "SecondLifetimeError",
    "SecondProfitError",
    "SBGBoundaryError",
    "ConvergenceError",
    "SecondLifetimeConvergenceError",
]

#: Rows listed in a message (and in :attr:`DataError.rows`).
MAX_ROWS_SHOWN = 10


def rows_text(labels: Any, n_total: int | None = None) -> str:
    """``"rows 3, 17, 20 (3 rows)"``: up to :data:`MAX_ROWS_SHOWN` row labels and the count."""
    labels = list(labels)
    n = len(labels) if n_total is None else int(n_total)
    shown = ", ".join(str(v) for v in labels[:MAX_ROWS_SHOWN])
    more = " ..." if n > MAX_ROWS_SHOWN else ""
    return f"row{'s' if n != 1 else ''} {shown}{more} ({n:,} row{'s' if n != 1 else ''})"


class WinbackError(Exception):
    """Root of every error the package raises about data, designs and models."""


class DataError(WinbackError, ValueError):
    """Bad input data.

    Attributes
    ----------
    column : str or None
        The offending column (``None`` for file-level problems).
    rows : list
        Up to 10 offending rows: index labels (frames) or 1-based data-row numbers (files).
    n_rows : int
        How many rows are affected in all.
    problem : str
        A short, stable code for the kind of problem, e.g. ``'not_0_or_1'``,
        ``'missing_column'``, ``'wrong_delimiter'``.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Iterable[Any] = (),
        problem: str = "invalid",
        n_rows: int | None = None,
    ) -> None:
        super().__init__(message)
        rows = list(rows)
        self.message = message
        self.column = column
        self.rows = rows[:MAX_ROWS_SHOWN]
        self.n_rows = len(rows) if n_rows is None else int(n_rows)
        self.problem = problem

    def __str__(self) -> str:
        return self.message


class StudyDataError(DataError):
    """A study table does not meet the data dictionary (``data/README.md``)."""


class DesignError(DataError):
    """A study design is inconsistent, or the data do not fit it (``column`` and ``rows``
    name the offending cells when the data are at fault)."""


class ModelError(WinbackError, ValueError):
    """A model cannot be fitted or used as asked; the message says why and what to do."""


class ReturnModelError(ModelError):
    """The return equation cannot be fitted or used as asked."""


class SecondLifetimeError(ModelError):
    """The data cannot support a second-lifetime duration model."""


class SecondProfitError(ModelError):
    """The data cannot support a second-lifetime margin model."""


class SBGBoundaryError(ModelError, RuntimeError):
    """The sBG likelihood is maximised at its boundary, the geometric (no-heterogeneity) limit.

    Attributes
    ----------
    geometric : GeometricResult
        The limiting model fitted to the same counts.
    """

    def __init__(self, message: str, geometric: Any) -> None:
        super().__init__(message)
        self.geometric = geometric


class ConvergenceError(ModelError, RuntimeError):
    """An optimiser did not converge (the message names the usual causes and fixes)."""


class SecondLifetimeConvergenceError(ConvergenceError, SecondLifetimeError):
    """A lifelines fit of the second-lifetime model did not converge."""
