"""Bring a user's own lapsed-customer file into the study's shape.

A **mapping** says which of the user's columns play which role and in which units. It is a
TOML (or JSON) file, or a dict with the same keys::

    [columns]                      # role = "your column name"
    customer_id = "cust_no"
    reacquired = "came_back"       # 0/1
    first_tenure = "tenure1_days"
    second_tenure = "tenure2_days"
    second_event = "left_again"    # 0/1, 0 = still a customer (censored)
    first_margin = "arpu1"
    second_margin = "arpu2"
    reason = "why_left"
    offer = "winback_offer"
    referrals = "refs"
    complaints = "n_complaints"
    complaints_resolved = "n_resolved"
    months_since_defection = "gap_months"

    [units]
    tenure = "days"                # days, weeks, months or years (default months); converted
                                   # to months and rounded up (a started month is billed)
    margin = "month"               # margin per day, week, month or year (default month)

    [levels]                       # optional: your labels -> the study's
    reason = { "Too expensive" = "price", "Bad network" = "service" }
    offer = { "20-off" = "discount" }

    [design]                       # optional: your own arms (default: the study's, KUMAR_2015)
    control = "none"               # the no-offer arm
    offers = { none = 0, free_month = 30, points = 12 }   # USD per accepting customer
    reasons = ["price", "service", "other"]               # optional; reference level first
    rules = { by_reason = { price = "free_month", service = "points", other = "points" } }
    matching = { price = "free_month", service = "points" }  # offer addressing each reason

Only ``customer_id`` and ``reacquired`` are required; an omitted role switches off the
analyses that need it (:func:`available_analyses` says which, and why). The input file is
read, never written.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from winback_study.data.study_table import StudyDataError, load_study, validate_study
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, DesignError

__all__ = [
    "ROLES",
    "ANALYSES",
    "ColumnMapping",
    "read_mapping",
    "prepare_user_data",
    "available_analyses",
]

#: role -> the study column it becomes.
ROLES: dict[str, str] = {
    "customer_id": "customer_id",
    "reacquired": "reacquired",
    "first_tenure": "first_tenure_months",
    "second_tenure": "second_tenure_months",
    "second_event": "second_churned",
    "first_margin": "first_monthly_margin",
    "second_margin": "second_monthly_margin",
    "reason": "defection_reason",
    "offer": "offer",
    "offer_received": "offer_received",
    "offer_cost": "offer_cost",
    "referrals": "referrals",
    "complaints": "complaints",
    "complaints_resolved": "complaints_resolved",
    "months_since_defection": "months_since_defection",
}
REQUIRED_ROLES = ("customer_id", "reacquired")

#: analysis -> roles it needs.
ANALYSES: dict[str, tuple[str, ...]] = {
    "return rates by segment": ("reacquired",),
    "return model": ("reacquired", "referrals", "complaints", "complaints_resolved", "reason"),
    "second-lifetime survival": ("reacquired", "second_tenure", "second_event"),
    "first vs second lifetime": ("reacquired", "first_tenure", "second_tenure", "second_event"),
    "customer value": ("first_tenure", "first_margin", "second_tenure", "second_event",
                       "second_margin"),
    "offer experiment": ("reacquired", "offer"),
}

_MONTHS_PER = {"days": 12 / 365.25, "weeks": 12 / 52.1775, "months": 1.0, "years": 12.0}
_MARGIN_TO_MONTH = {"day": 365.25 / 12, "week": 52.1775 / 12, "month": 1.0, "year": 1 / 12}


@dataclass(frozen=True)
class ColumnMapping:
    """Which user column plays which role, in which units."""

    columns: dict[str, str]
    tenure_unit: str = "months"
    margin_period: str = "month"
    levels: dict[str, dict[str, str]] = field(default_factory=dict)
    design: StudyDesign = KUMAR_2015

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(ROLES))
        if unknown:
            raise StudyDataError(
                f"mapping: unknown role(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(ROLES)}", problem="bad_mapping",
            )
        missing = [r for r in REQUIRED_ROLES if r not in self.columns]
        if missing:
            raise StudyDataError(
                f"mapping: the role(s) {', '.join(map(repr, missing))} must name a column",
                problem="bad_mapping",
            )
        if self.tenure_unit not in _MONTHS_PER:
            raise StudyDataError(
                f"mapping: units.tenure is {self.tenure_unit!r}; expected one of "
                f"{', '.join(_MONTHS_PER)}", problem="bad_mapping",
            )
        if self.margin_period not in _MARGIN_TO_MONTH:
            raise StudyDataError(
                f"mapping: units.margin is {self.margin_period!r}; expected one of "
                f"{', '.join(_MARGIN_TO_MONTH)}", problem="bad_mapping",
            )
        dup = pd.Series(list(self.columns.values()))
        dup = dup[dup.duplicated()].tolist()
        if dup:
            raise StudyDataError(
                f"mapping: column {dup[0]!r} is given to more than one role",
                problem="bad_mapping",
            )


def read_mapping(mapping: str | os.PathLike | Mapping[str, Any]) -> ColumnMapping:
    """Read a mapping from a TOML/JSON file or a dict (see the module docstring)."""
    if isinstance(mapping, ColumnMapping):
        return mapping
    if not isinstance(mapping, Mapping):
        path = Path(mapping)
        if not path.is_file():
            raise StudyDataError(f"mapping file {str(path)!r} not found", problem="file_not_found")
        text = path.read_text(encoding="utf-8")
        try:
            mapping = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
            raise StudyDataError(f"{path.name}: not valid {path.suffix[1:].upper()}: {err}",
                                 problem="bad_mapping") from None
    columns = dict(mapping.get("columns", {}))
    units = dict(mapping.get("units", {}))
    return ColumnMapping(
        columns=columns,
        tenure_unit=units.get("tenure", "months"),
        margin_period=units.get("margin", "month"),
        levels={k: dict(v) for k, v in dict(mapping.get("levels", {})).items()},
        design=_read_design(mapping.get("design")),
    )


_DESIGN_KEYS = ("control", "offers", "reasons", "rules", "matching", "name")


def _read_design(spec: Any) -> StudyDesign:
    """The mapping's ``[design]`` table as a :class:`StudyDesign` (default: the study's)."""
    if spec is None:
        return KUMAR_2015
    if isinstance(spec, StudyDesign):
        return spec
    if not isinstance(spec, Mapping):
        raise StudyDataError("mapping: [design] must be a table (control, offers, reasons, "
                             "rules, matching)", problem="bad_mapping")
    unknown = sorted(set(spec) - set(_DESIGN_KEYS))
    if unknown:
        raise StudyDataError(f"mapping: [design] has unknown key(s) {unknown}; expected some "
                             f"of {', '.join(_DESIGN_KEYS)}", problem="bad_mapping")
    if "offers" not in spec:
        raise StudyDataError("mapping: [design] needs offers = { arm = cost per accepting "
                             "customer in USD, ... }", problem="bad_mapping")
    try:
        return StudyDesign(
            offers=dict(spec["offers"]), control=str(spec.get("control", "none")),
            rules={k: dict(v) for k, v in dict(spec.get("rules", {})).items()},
            reasons=tuple(spec.get("reasons", ())), matching=dict(spec.get("matching", {})),
            name=str(spec.get("name", "design from the mapping")),
        )
    except DesignError as err:
        raise StudyDataError(f"mapping: [design]: {err}", problem="bad_mapping") from None


def available_analyses(mapping: ColumnMapping) -> dict[str, str | None]:
    """Each analysis -> ``None`` when it can run, else the reason it is switched off."""
    out: dict[str, str | None] = {}
    for name, roles in ANALYSES.items():
        missing = [r for r in roles if r not in mapping.columns]
        out[name] = None if not missing else (
            f"switched off: the mapping gives no column for {', '.join(missing)}"
        )
    return out


def _read_raw(data: str | os.PathLike | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data.copy(), "the table"
    # load_study does every file-level check (encoding, delimiter, empty ...) without
    # requiring the study's column names
    return load_study(data, required=()), Path(data).name


def prepare_user_data(
    data: str | os.PathLike | pd.DataFrame,
    mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping,
) -> pd.DataFrame:
    """Rename, convert units, relabel levels, and validate a user's file.

    Parameters
    ----------
    data : path or DataFrame
        CSV or Parquet file (read, never modified) or a DataFrame (not modified).
    mapping : path, dict or ColumnMapping
        Which user column plays which role; see the module docstring.

    Returns
    -------
    pandas.DataFrame
        A validated study table (study column names, months, USD per month). Columns the
        mapping does not name are dropped.

    Raises
    ------
    StudyDataError
        One clear message naming the column and the rows.
    """
    m = read_mapping(mapping)
    raw, name = _read_raw(data)
    absent = [c for c in m.columns.values() if c not in raw.columns]
    if absent:
        import difflib

        hints = []
        for col in absent:
            close = difflib.get_close_matches(col, [str(c) for c in raw.columns], n=1)
            hints.append(f"{col!r}" + (f" (found {close[0]!r}: misspelled?)" if close else ""))
        raise StudyDataError(
            f"{name}: the mapping names column(s) {', '.join(hints)} that the file does not "
            f"have; it has {', '.join(map(repr, map(str, raw.columns)))}",
            column=absent[0], problem="missing_column",
        )
    df = pd.DataFrame({ROLES[role]: raw[col].to_numpy() for role, col in m.columns.items()},
                      index=raw.index)
    for role, labels in m.levels.items():
        if role not in ("reason", "offer", "offer_received"):
            raise StudyDataError(f"mapping: levels can be given for reason and offer, not "
                                 f"{role!r}", problem="bad_mapping")
        col = ROLES[role]
        if col in df:
            df[col] = df[col].map(lambda v, _lab=labels: _lab.get(v, v))
    design = m.design
    factor = _MONTHS_PER[m.tenure_unit]
    for col in ("first_tenure_months", "second_tenure_months"):
        if col in df and factor != 1.0:
            df[col] = _scaled(df[col], factor, ceil=True)
    per = _MARGIN_TO_MONTH[m.margin_period]
    for col in ("first_monthly_margin", "second_monthly_margin"):
        if col in df and per != 1.0:
            df[col] = _scaled(df[col], per)
    required = tuple(ROLES[r] for r in m.columns)
    try:
        valid = validate_study(df, required=tuple(c for c in required if not c.startswith("second")),
                               design=design)
        # what the design implies from the observed arm: the offer each rule arm gave,
        # whether it matched the reason, its cost (columns the file has are kept)
        return design.complete(valid)
    except DataError as err:
        back = {ROLES[r]: (r, c) for r, c in m.columns.items()}
        if err.column in back and back[err.column][1] != err.column:
            role, col = back[err.column]
            raise StudyDataError(
                f"{name}: your column {col!r} (role {role!r}): "
                + err.message.split(": ", 1)[-1],
                column=col, rows=err.rows, problem=err.problem, n_rows=err.n_rows,
            ) from None
        raise


def _scaled(s: pd.Series, factor: float, ceil: bool = False) -> pd.Series:
    """Numbers times ``factor`` (rounded up when ``ceil``: a started month is a billed
    month); text is left as is so that validation can name it."""
    num = pd.to_numeric(s, errors="coerce")
    scaled = num.mul(factor)
    if ceil:
        scaled = np.ceil(scaled.round(9))
    return scaled.astype(object).where(num.notna(), s)
