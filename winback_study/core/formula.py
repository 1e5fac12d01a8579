"""Formulas, written the same way for every fitter: ``"outcome ~ covariates"``.

Every ``fit_*`` takes ``formula=None`` (the study's equation) or a statsmodels/patsy-style
formula. The left-hand side names the outcome (for the duration models, the duration
column; the event flag is ``event_col=``); it may be left out (``"~ x + y"`` or just
``"x + y"``) to keep the fitter's default outcome. These helpers read a formula without
building a design matrix, so missing columns are reported all at once and by name.
"""

from __future__ import annotations

import builtins
import io
import keyword
import tokenize
from collections.abc import Sequence

from winback_study.errors import DataError, ModelError, WinbackError

__all__ = ["FORMULA_VOCABULARY", "formula_names", "formula_columns", "split_formula",
           "required_columns"]

#: Names a formula may use that are functions, contrasts or modules, not data columns.
FORMULA_VOCABULARY = frozenset(
    {"C", "I", "Q", "Treatment", "Sum", "Poly", "Diff", "Helmert", "center", "standardize",
     "scale", "np", "numpy", "bs", "cr", "cc", "te", "log", "exp", "sqrt"}
    | set(dir(builtins))
)


def formula_names(text: str, error: type[WinbackError] = ModelError) -> list[str]:
    """Bare names in a formula side, in order: not called, not attributes, not keywords."""
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise error(f"cannot read the formula part {text.strip()!r}: {exc}") from None
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


def split_formula(formula: str | None, default_rhs: str, default_outcome: str,
                  error: type[WinbackError] = ModelError) -> tuple[str, str]:
    """``(outcome, right-hand side)`` of a formula, with the fitter's defaults filled in.

    Parameters
    ----------
    formula : str or None
        ``"outcome ~ rhs"``, ``"~ rhs"``, ``"rhs"`` or None (the default equation).
    default_rhs, default_outcome : str
        What None and a missing left-hand side mean.
    error : exception class
        Raised for a formula with more than one ``~`` or an empty side.
    """
    if formula is None:
        return default_outcome, default_rhs
    if not isinstance(formula, str):
        raise error(f"formula must be a string like 'outcome ~ x + y', got {type(formula).__name__}")
    if formula.count("~") > 1:
        raise error(f"a formula has at most one '~', got {formula!r}")
    if "~" in formula:
        lhs, rhs = (part.strip() for part in formula.split("~"))
    else:
        lhs, rhs = "", formula.strip()
    if not rhs:
        raise error(f"the formula {formula!r} has no covariates; write '... ~ 1' for none")
    return (lhs or default_outcome), rhs


def formula_columns(formula: str, columns: Sequence[str] | None = None,
                    error: type[WinbackError] = ModelError) -> tuple[str, list[str]]:
    """The outcome column and the data columns the right-hand side of a formula uses.

    Parameters
    ----------
    formula : str
        ``"outcome ~ terms"``; the outcome must be a plain column name.
    columns : sequence of str, optional
        Columns of the data. Names in the formula that are neither columns nor formula
        functions (``C``, ``np``, ``Treatment`` ...) are reported as missing.
    error : exception class
        What to raise for a formula that cannot be read (the calling model's error class).

    Returns
    -------
    (str, list of str)
        The outcome and the right-hand-side columns, in order of appearance.

    Raises
    ------
    DataError
        With ``columns``: the data lack columns the formula uses (all named at once;
        ``.column`` is the first).
    """
    if formula.count("~") != 1:
        raise error(f"a formula needs exactly one '~', got {formula!r}")
    lhs, rhs = formula.split("~")
    outcome = lhs.strip()
    if not outcome.isidentifier():
        raise error(
            f"the left-hand side of the formula must be the name of a column, got {outcome!r}; "
            "create the column first, e.g. df['returned'] = (...).astype(int)"
        )
    names = formula_names(rhs, error)
    if columns is None:
        return outcome, [n for n in names if n not in FORMULA_VOCABULARY]
    have = set(columns)
    missing = [n for n in [outcome, *names] if n not in have and n not in FORMULA_VOCABULARY]
    if missing:
        raise DataError(
            f"the data have no column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}, which the formula uses. "
            f"Formula: {formula!r}. Add the column(s) or change the formula; the simulated "
            "columns are listed in data/README.md.",
            column=missing[0], problem="missing_column",
        )
    return outcome, [n for n in names if n in have]


def required_columns(formula: str) -> set[str]:
    """Data columns a formula (either side) reads, e.g. ``{"reacquired", "referrals"}``."""
    out: set[str] = set()
    for part in formula.split("~"):
        out |= {n for n in formula_names(part) if n not in FORMULA_VOCABULARY}
    return out
