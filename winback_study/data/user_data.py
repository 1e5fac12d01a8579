"""Bring a user's own lapsed-customer file into the study's shape.

A **mapping** says which of the user's columns play which role, in which units, and which
models to fit on which of the file's own columns. It is a TOML (or JSON) file, or a dict with
the same keys::

    [columns]                      # role = "your column name"
    customer_id = "cust_no"        # text or whole numbers (1.0, 2.0 ... are fine)
    reacquired = "came_back"       # 0/1
    first_tenure = "tenure1_days"
    second_tenure = "tenure2_days" # blank or 0 for a customer who did not return
    second_event = "left_again"    # 0/1, 0 = still a customer (censored)
    first_margin = "arpu1"
    second_margin = "arpu2"
    second_value = "sclv"          # observed second-lifetime value, USD
    reason = "why_left"
    offer = "winback_offer"        # the arm of the win-back experiment
    referrals = "refs"
    complaints = "n_complaints"
    complaints_resolved = "n_resolved"
    months_since_defection = "gap_months"

    [units]
    tenure = "days"                # days, weeks, months or years (default months); converted
                                   # to months and rounded up (a started month is billed)
    margin = "month"               # margin per day, week, month or year (default month)

    [constants]                    # a role the file has no column for: one value for all rows
    second_event = 1               # (second-lifetime roles: for every returner)

    [levels]                       # optional: your labels -> the study's
    reason = { "Too expensive" = "price", "Bad network" = "service" }
    offer = { "20-off" = "discount" }

    [design]                       # optional: your own arms (default: the study's, KUMAR_2015)
    control = "none"               # the no-offer arm
    offers = { none = 0, free_month = 30, points = 12 }   # USD per accepting customer
    reasons = ["price", "service", "other"]               # optional; reference level first
    rules = { by_reason = { price = "free_month", service = "points", other = "points" } }
    matching = { price = "free_month", service = "points" }  # offer addressing each reason

    [models]                       # right-hand sides in the file's own column names, as they
    link = "probit"                # are in the file (no unit conversion); formula syntax
    return = "offer + lapse_days + C(gender) + age"          # (C(x), np.log(x), a:b)
    second_lifetime = ["offer", "age"]                       # or a list of column names
    second_value = "offer + age"
    second_lifetime_model = "weibull"                        # weibull, loglogistic or cox
    joint = true                   # also the three equations jointly (fit_joint_model)

Only ``customer_id`` and ``reacquired`` are required; an omitted role switches off the
analyses that need it (:func:`available_analyses` says which, and why). A model left out of
``[models]`` falls back to the study's covariates the file has.

Rules for real files:

- Columns the mapping does not name are **passengers**: kept under their own names, usable
  in ``[models]`` formulas, never checked against the study's vocabulary.
- For a customer who did not return, second-lifetime fields that are blank or 0 mean "no
  second lifetime"; a ``second_value`` held for them (e.g. the cost of a failed attempt) is
  set aside and counted (:attr:`UserData.set_aside`). A positive second tenure for a
  non-returner stays an error.

The input file is read, never written.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.formula import FORMULA_VOCABULARY, formula_names
from winback_study.data.read_file import read_table
from winback_study.data.study_table import StudyDataError, validate_study
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError, DesignError, WinbackError

__all__ = [
    "ROLES",
    "ANALYSES",
    "MODEL_OUTCOMES",
    "ColumnMapping",
    "ModelSpec",
    "UserData",
    "read_mapping",
    "read_user_data",
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
    "second_value": "second_value",
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
#: roles that describe the second lifetime: known only for customers who returned
SECOND_ROLES = ("second_tenure", "second_event", "second_margin", "second_value")
#: study columns that are a model's outcome: in a model frame they always hold the
#: validated values, whatever a passenger column of the same name holds
MODEL_OUTCOMES = ("reacquired", "second_tenure_months", "second_churned",
                  "second_monthly_margin", "second_value")

#: analysis -> roles it needs (a role given by a column or a constant).
ANALYSES: dict[str, tuple[str, ...]] = {
    "return rates by segment": ("reacquired",),
    "return model": ("reacquired",),
    "second-lifetime survival": ("reacquired", "second_tenure", "second_event"),
    "second-lifetime value model": ("reacquired",),
    "first vs second lifetime": ("reacquired", "first_tenure", "second_tenure", "second_event"),
    "customer value": ("first_tenure", "first_margin", "second_tenure", "second_event",
                       "second_margin"),
    "offer experiment": ("reacquired", "offer"),
    "targets": ("reacquired", "offer"),
    "joint model": ("reacquired", "second_tenure", "second_event", "second_margin"),
}

_MONTHS_PER = {"days": 12 / 365.25, "weeks": 12 / 52.1775, "months": 1.0, "years": 12.0}
_MARGIN_TO_MONTH = {"day": 365.25 / 12, "week": 52.1775 / 12, "month": 1.0, "year": 1 / 12}
_TABLES = ("columns", "units", "constants", "levels", "design", "models")
_UNIT_KEYS = ("tenure", "margin")
_MODEL_KEYS = ("link", "return", "second_lifetime", "second_value", "second_lifetime_model",
               "joint")
_LINKS = ("probit", "logit")
_LIFETIME_MODELS = ("weibull", "loglogistic", "cox")
_DESIGN_KEYS = ("control", "offers", "reasons", "rules", "matching", "name")


def _bad(message: str) -> StudyDataError:
    return StudyDataError(f"mapping: {message}", problem="bad_mapping")


def _close(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or nothing."""
    found = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def _unknown_keys(keys: Iterable[str], allowed: Sequence[str], where: str) -> None:
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        k = unknown[0]
        raise _bad(f"{where} has an unknown key {k!r}{_close(k, allowed)}; expected some of "
                   f"{', '.join(allowed)}")


def _rhs(value: Any, key: str) -> str | None:
    """A ``[models]`` entry as a formula right-hand side (a string, or a list of names)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise _bad(f"[models] {key} is a list; expected column names, e.g. "
                       f'{key} = ["age", "offer"]')
        return " + ".join(v.strip() for v in value)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"[models] {key} must be a right-hand side such as \"age + C(gender)\" "
                   f"or a list of column names; got {value!r}")
    if "~" in value:
        raise _bad(f"[models] {key} = {value!r} has a '~': give the right-hand side only "
                   "(the outcome is the role's column)")
    return value.strip()


@dataclass(frozen=True)
class ModelSpec:
    """The mapping's ``[models]``: which covariates each of the study's equations uses.

    Formulas are right-hand sides in the file's own column names (``None``: the study's
    covariates the file has).
    """

    link: str = "probit"
    return_formula: str | None = None
    lifetime_formula: str | None = None
    value_formula: str | None = None
    lifetime_model: str = "weibull"
    joint: bool = False

    @classmethod
    def from_mapping(cls, spec: Any) -> ModelSpec:
        """``[models]`` (a table) as a :class:`ModelSpec`."""
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise _bad("[models] must be a table (link, return, second_lifetime, "
                       "second_value, second_lifetime_model)")
        _unknown_keys(spec, _MODEL_KEYS, "[models]")
        link = str(spec.get("link", "probit")).lower()
        if link not in _LINKS:
            raise _bad(f"[models] link is {spec.get('link')!r}{_close(link, _LINKS)}; "
                       f"expected one of {', '.join(_LINKS)}")
        kind = str(spec.get("second_lifetime_model", "weibull")).lower()
        if kind not in _LIFETIME_MODELS:
            raise _bad(f"[models] second_lifetime_model is {kind!r}{_close(kind, _LIFETIME_MODELS)}; "
                       f"expected one of {', '.join(_LIFETIME_MODELS)}")
        joint = spec.get("joint", False)
        if not isinstance(joint, bool):
            raise _bad(f"[models] joint must be true or false, got {joint!r}")
        return cls(link=link, return_formula=_rhs(spec.get("return"), "return"),
                   joint=joint,
                   lifetime_formula=_rhs(spec.get("second_lifetime"), "second_lifetime"),
                   value_formula=_rhs(spec.get("second_value"), "second_value"),
                   lifetime_model=kind)

    def formulas(self) -> dict[str, str]:
        """``[models]`` key -> right-hand side, for the equations given."""
        out = {"return": self.return_formula, "second_lifetime": self.lifetime_formula,
               "second_value": self.value_formula}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class ColumnMapping:
    """Which user column plays which role, in which units, and the models to fit."""

    columns: dict[str, str]
    tenure_unit: str = "months"
    margin_period: str = "month"
    levels: dict[str, dict[str, str]] = field(default_factory=dict)
    design: StudyDesign = KUMAR_2015
    constants: dict[str, Any] = field(default_factory=dict)
    models: ModelSpec = field(default_factory=ModelSpec)
    text: str = ""

    def __post_init__(self) -> None:
        for table, keys in (("[columns]", self.columns), ("[constants]", self.constants)):
            unknown = [k for k in keys if k not in ROLES]
            if unknown:
                k = unknown[0]
                raise _bad(f"{table} has an unknown role {k!r}{_close(k, ROLES)}; expected "
                           f"some of {', '.join(ROLES)}")
        for role, col in self.columns.items():
            if not isinstance(col, str) or not col:
                raise _bad(f"[columns] {role} must be the name of one of your columns, "
                           f"got {col!r}")
        missing = [r for r in REQUIRED_ROLES if r not in self.columns]
        if missing:
            how = (" (it cannot be a constant)" if any(r in self.constants for r in missing)
                   else "")
            raise _bad(f"the role(s) {', '.join(map(repr, missing))} must name a column{how}")
        both = [r for r in self.constants if r in self.columns]
        if both:
            raise _bad(f"role {both[0]!r} is given both a column ([columns]) and a constant "
                       "([constants]); keep one")
        for role, value in self.constants.items():
            if not isinstance(value, (int, float, str)) or isinstance(value, float) and not (
                    np.isfinite(value)):
                raise _bad(f"[constants] {role} must be one number or label, got {value!r}")
        if self.tenure_unit not in _MONTHS_PER:
            raise _bad(f"units.tenure is {self.tenure_unit!r}{_close(self.tenure_unit, _MONTHS_PER)}; "
                       f"expected one of {', '.join(_MONTHS_PER)}")
        if self.margin_period not in _MARGIN_TO_MONTH:
            raise _bad(f"units.margin is {self.margin_period!r}"
                       f"{_close(self.margin_period, _MARGIN_TO_MONTH)}; expected one of "
                       f"{', '.join(_MARGIN_TO_MONTH)}")
        dup = pd.Series(list(self.columns.values()))
        dup = dup[dup.duplicated()].tolist()
        if dup:
            raise _bad(f"column {dup[0]!r} is given to more than one role")
        for role in self.levels:
            if role not in ("reason", "offer", "offer_received"):
                raise _bad(f"levels can be given for reason and offer, not {role!r}")

    @property
    def roles(self) -> set[str]:
        """Roles the file gives, by a column or a constant."""
        return set(self.columns) | set(self.constants)


def read_mapping(mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping
                 ) -> ColumnMapping:
    """Read a mapping from a TOML/JSON file or a dict (see the module docstring).

    Raises
    ------
    StudyDataError
        ``problem="bad_mapping"``: one line naming the key (with a close match when there
        is one), or the file cannot be read.
    """
    if isinstance(mapping, ColumnMapping):
        return mapping
    text = ""
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
    else:
        text = json.dumps(mapping, indent=2, default=str, ensure_ascii=False)
    _unknown_keys(mapping, _TABLES, "the mapping")
    tables = {}
    for key in ("columns", "units", "constants", "levels"):
        value = mapping.get(key, {})
        if not isinstance(value, Mapping):
            raise _bad(f"[{key}] must be a table of key = value lines, got {value!r}")
        tables[key] = dict(value)
    _unknown_keys(tables["units"], _UNIT_KEYS, "[units]")
    return ColumnMapping(
        columns=tables["columns"],
        tenure_unit=tables["units"].get("tenure", "months"),
        margin_period=tables["units"].get("margin", "month"),
        levels={k: dict(v) for k, v in tables["levels"].items()},
        design=_read_design(mapping.get("design")),
        constants=tables["constants"],
        models=ModelSpec.from_mapping(mapping.get("models")),
        text=text,
    )


def _read_design(spec: Any) -> StudyDesign:
    """The mapping's ``[design]`` table as a :class:`StudyDesign` (default: the study's)."""
    if spec is None:
        return KUMAR_2015
    if isinstance(spec, StudyDesign):
        return spec
    if not isinstance(spec, Mapping):
        raise _bad("[design] must be a table (control, offers, reasons, rules, matching)")
    unknown = sorted(set(spec) - set(_DESIGN_KEYS))
    if unknown:
        raise _bad(f"[design] has unknown key(s) {unknown}{_close(unknown[0], _DESIGN_KEYS)}; "
                   f"expected some of {', '.join(_DESIGN_KEYS)}")
    if "offers" not in spec:
        raise _bad("[design] needs offers = { arm = cost per accepting customer in USD, ... }")
    try:
        return StudyDesign(
            offers={str(k): v for k, v in dict(spec["offers"]).items()},
            control=str(spec.get("control", "none")),
            rules={k: dict(v) for k, v in dict(spec.get("rules", {})).items()},
            reasons=tuple(spec.get("reasons", ())), matching=dict(spec.get("matching", {})),
            name=str(spec.get("name", "design from the mapping")),
        )
    except DesignError as err:
        raise _bad(f"[design]: {err}") from None


def available_analyses(mapping: ColumnMapping) -> dict[str, str | None]:
    """Each analysis -> ``None`` when the mapping supports it, else why it is switched off."""
    out: dict[str, str | None] = {}
    roles = mapping.roles
    for name, needs in ANALYSES.items():
        missing = [r for r in needs if r not in roles]
        if name == "second-lifetime value model" and not roles & {"second_value",
                                                                   "second_margin"}:
            missing.append("second_value (or second_margin)")
        if name == "joint model" and not mapping.models.joint:
            out[name] = ("not asked for: the joint (full-information) model of the three "
                         "equations runs with [models] joint = true")
            continue
        out[name] = None if not missing else (
            f"switched off: the mapping gives no column for {', '.join(missing)}")
    return out


@dataclass
class UserData:
    """A user's file brought into the study's shape (:func:`read_user_data`).

    Attributes
    ----------
    study : pandas.DataFrame
        The validated study table (study column names, months, USD per month), with the
        passenger columns whose names are not study columns.
    raw : pandas.DataFrame
        The file as read (the input itself is never written).
    mapping : ColumnMapping
        The mapping used.
    name : str
        The file name (or "the table").
    set_aside : dict
        Role -> how many values were set aside (a second-lifetime value held for a customer
        who did not return).
    notes : list of str
        What was read differently from the file, in words (for the report).
    """

    study: pd.DataFrame
    raw: pd.DataFrame
    mapping: ColumnMapping
    name: str = "the table"
    set_aside: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def model_frame(self, user_columns: Iterable[str] = (),
                    study_columns: Iterable[str] = ()) -> pd.DataFrame:
        """The columns the models read, one frame, no more.

        ``user_columns`` (named in ``[models]``) come from the file as they are in it;
        ``study_columns`` (the study's covariates, for models left out of ``[models]``)
        from the study table. A model's outcome always holds its validated values.
        """
        data: dict[str, Any] = {}
        for name in MODEL_OUTCOMES:
            if name in self.study.columns:
                data[name] = self.study[name]
        for name in study_columns:
            if name not in data and name in self.study.columns:
                data[name] = self.study[name]
        for name in user_columns:
            if name in MODEL_OUTCOMES and name in data:
                continue
            data[name] = self.raw[name] if name in self.raw.columns else self.study[name]
        # the columns themselves, not copies (the models never write into their data)
        frame = pd.DataFrame(data, index=self.study.index, copy=False)
        frame.attrs = dict(self.study.attrs)
        return frame


def _read_raw(data: str | os.PathLike | pd.DataFrame, columns: list[str] | None = None
              ) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data, "the table"
    # every file-level check (encoding, delimiter, row lengths, empty ...); no column is
    # checked against the study's vocabulary here. A Parquet file or folder is read in the
    # columns the mapping uses only.
    return read_table(data, columns), Path(data).name


def mapped_columns(m: ColumnMapping) -> list[str]:
    """The file's columns a mapping reads: its roles' and its ``[models]`` formulas'."""
    cols = list(m.columns.values())
    study_names = {ROLES[r] for r in m.roles}  # a formula may read the study's own names
    for key, rhs in m.models.formulas().items():
        cols += [c for c in formula_columns_of(rhs, key) if c not in study_names]
    return list(dict.fromkeys(cols))


def _check_named_columns(m: ColumnMapping, raw: pd.DataFrame, name: str) -> None:
    """Every column the mapping names (roles and formulas) is in the file."""
    have = [str(c) for c in raw.columns]
    absent = [c for c in m.columns.values() if c not in raw.columns]
    if absent:
        hints = []
        for col in absent:
            close = difflib.get_close_matches(col, have, n=1)
            hints.append(f"{col!r}" + (f" (found {close[0]!r}: misspelled?)" if close else ""))
        raise StudyDataError(
            f"{name}: the mapping names column(s) {', '.join(hints)} that the file does not "
            f"have; it has {', '.join(map(repr, have))}",
            column=absent[0], problem="missing_column",
        )
    known = set(have) | {ROLES[r] for r in m.roles}
    for key, rhs in m.models.formulas().items():
        for col in formula_columns_of(rhs, key):
            if col not in known:
                close = difflib.get_close_matches(col, sorted(known), n=1)
                hint = f" (found {close[0]!r}: misspelled?)" if close else ""
                raise StudyDataError(
                    f"mapping: [models] {key} uses column {col!r}{hint}, which {name} does "
                    f"not have; it has {', '.join(map(repr, have))}",
                    column=col, problem="bad_mapping",
                )


def formula_columns_of(rhs: str, key: str = "formula") -> list[str]:
    """The data columns a ``[models]`` right-hand side reads (``Q("odd name")`` included)."""
    quoted = [m.group(2) for m in re.finditer(r"""\bQ\(\s*(['"])(.*?)\1\s*\)""", rhs)]
    bare = re.sub(r"""\bQ\(\s*(['"])(.*?)\1\s*\)""", "1", rhs)
    try:
        names = formula_names(bare, StudyDataError)
    except StudyDataError as err:
        raise _bad(f"[models] {key}: {err.message}") from None
    return [n for n in names if n not in FORMULA_VOCABULARY] + quoted


def _second_lifetime_fields(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """Non-returners' second-lifetime fields: blank or 0 mean none; a value is set aside."""
    set_aside: dict[str, int] = {}
    notes: list[str] = []
    back = pd.to_numeric(df["reacquired"], errors="coerce").to_numpy(dtype=float,
                                                                    na_value=np.nan)
    non = back == 0
    if not non.any():
        return df, set_aside, notes
    for role in SECOND_ROLES:
        col = ROLES[role]
        if col not in df.columns:
            continue
        present = df[col].notna().to_numpy()
        if role == "second_value":
            drop = non & present
            if drop.any():
                set_aside[role] = int(drop.sum())
                notes.append(f"{int(drop.sum()):,} second-lifetime values held for customers "
                             "who did not return were set aside (the second-lifetime models "
                             "use returners only)")
        else:
            num = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float,
                                                                   na_value=np.nan)
            drop = non & (num == 0)
            if drop.any():
                notes.append(f"{role}: 0 for {int(drop.sum()):,} customers who did not return "
                             "read as no second lifetime")
        if drop.any():
            df[col] = df[col].mask(drop)
    return df, set_aside, notes


def _apply_constants(df: pd.DataFrame, m: ColumnMapping) -> pd.DataFrame:
    """``[constants]``: one value for every row (second-lifetime roles: every returner)."""
    if not m.constants:
        return df
    back = pd.to_numeric(df["reacquired"], errors="coerce").to_numpy(dtype=float,
                                                                    na_value=np.nan) == 1
    for role, value in m.constants.items():
        if role in SECOND_ROLES:
            df[ROLES[role]] = pd.Series(value, index=df.index).where(back)
        else:
            df[ROLES[role]] = value
    return df


def _check_second_value(df: pd.DataFrame, name: str) -> None:
    """``second_value``: a number for every returner (the study table does not know it)."""
    if "second_value" not in df.columns:
        return
    from winback_study.core.checks import flagged_rows
    from winback_study.errors import rows_text

    num = pd.to_numeric(df["second_value"], errors="coerce")
    back = df["reacquired"].to_numpy() == 1
    for mask, what in ((df["second_value"].notna().to_numpy() & num.isna().to_numpy(),
                        "is not a number"),
                       (back & df["second_value"].isna().to_numpy(),
                        "is empty but reacquired is 1"),
                       (~np.isfinite(num.to_numpy(dtype=float, na_value=0.0)), "is not finite")):
        if mask.any():
            rows, n = flagged_rows(mask, df.index)
            raise StudyDataError(
                f"{name}: column 'second_value': {rows_text(rows, n)} {what}; expected the "
                "second-lifetime value in USD for every reacquired customer",
                column="second_value", rows=rows, n_rows=n, problem="not_numeric",
            )
    df["second_value"] = num.to_numpy(dtype=float, na_value=np.nan)


def read_user_data(
    data: str | os.PathLike | pd.DataFrame,
    mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping,
    *,
    copy: bool = True,
) -> UserData:
    """Read, rename, convert and validate a user's file (see the module docstring).

    Parameters
    ----------
    data : path or DataFrame
        CSV or Parquet file (read, never modified) or a DataFrame (not modified).
    mapping : path, dict or ColumnMapping
        Which user column plays which role; see the module docstring.
    copy : bool
        False: the study table shares with ``raw`` the columns read from the file that need
        no conversion instead of copying them (a gigabyte less at 10 million rows; how
        ``analyze`` reads); such columns are then read-only, as Arrow read them: copy the
        frame before writing into it. A DataFrame passed in is copied either way.

    Returns
    -------
    UserData
        The study table, the file as read, and what was set aside.

    Raises
    ------
    StudyDataError
        One clear message naming the column (in your names) and the rows.
    """
    m = read_mapping(mapping)
    raw, name = _read_raw(data, mapped_columns(m))
    return _from_raw(raw, name, m, owned=not isinstance(data, pd.DataFrame), share=not copy)


def _from_raw(raw: pd.DataFrame, name: str, m: ColumnMapping, *, owned: bool,
              share: bool = False) -> UserData:
    """:func:`read_user_data` of a table already read; ``owned``: read from a file here
    (a caller's DataFrame is copied, never shared); ``share``: the study table may share
    the columns of a file read here with ``raw`` (``read_user_data(copy=False)``)."""
    _check_named_columns(m, raw, name)
    df = pd.DataFrame({ROLES[role]: raw[col] for role, col in m.columns.items()},
                      index=raw.index, copy=not owned)
    df = _apply_constants(df, m)
    df, set_aside, notes = _second_lifetime_fields(df)
    for role, labels in m.levels.items():
        col = ROLES[role]
        if col in df:
            df[col] = df[col].map(lambda v, _lab=labels: _lab.get(v, _lab.get(str(v), v)))
    factor = _MONTHS_PER[m.tenure_unit]
    for col in ("first_tenure_months", "second_tenure_months"):
        if col in df and factor != 1.0:
            df[col] = _scaled(df[col], factor, ceil=True)
    per = _MARGIN_TO_MONTH[m.margin_period]
    for col in ("first_monthly_margin", "second_monthly_margin"):
        if col in df and per != 1.0:
            df[col] = _scaled(df[col], per)
    required = tuple(ROLES[r] for r in m.roles)
    try:
        # df holds copies of a caller's columns (nothing to copy again), or the columns of
        # the file read here, which the study table shares with raw only when asked to
        valid = validate_study(
            df, required=tuple(c for c in required if not c.startswith("second")),
            design=m.design, copy=owned and not share)
        _check_second_value(valid, name)
        # what the design implies from the observed arm: the offer each rule arm gave,
        # whether it matched the reason, its cost (columns the file has are kept)
        study = valid  # validate_study's own new frame: the columns added, not copied again
        for col, values in m.design.implied_columns(valid).items():
            study[col] = values
        study.attrs["design"] = m.design.to_json()
    except DataError as err:
        raise _in_user_names(err, m, name) from None
    passengers = [c for c in raw.columns if c not in m.columns.values()]
    clash = [c for c in passengers if c in study.columns or c in ROLES.values()]
    for c in passengers:
        if c not in clash:
            study[c] = raw[c]
    if clash:
        notes.append(
            f"column(s) {', '.join(map(repr, clash))} of the file are not mapped to a role: "
            "they are usable in [models] formulas under their own names and are not read as "
            "the study's columns of the same name")
    return UserData(study=study, raw=raw, mapping=m, name=name, set_aside=set_aside,
                    notes=notes)


def _in_user_names(err: DataError, m: ColumnMapping, name: str) -> WinbackError:
    """A validation error about a study column, told in the user's column name."""
    back = {ROLES[r]: (r, c) for r, c in m.columns.items()}
    if err.column in back and back[err.column][1] != err.column:
        role, col = back[err.column]
        return StudyDataError(
            f"{name}: your column {col!r} (role {role!r}): " + err.message.split(": ", 1)[-1],
            column=col, rows=err.rows, problem=err.problem, n_rows=err.n_rows,
        )
    if err.column in {ROLES[r] for r in m.constants}:
        role = next(r for r in m.constants if ROLES[r] == err.column)
        return StudyDataError(
            f"mapping: [constants] {role} = {m.constants[role]!r}: "
            + err.message.split(": ", 1)[-1], column=err.column, rows=err.rows,
            problem=err.problem, n_rows=err.n_rows,
        )
    return err


def prepare_user_data(
    data: str | os.PathLike | pd.DataFrame,
    mapping: str | os.PathLike | Mapping[str, Any] | ColumnMapping,
) -> pd.DataFrame:
    """Rename, convert units, relabel levels, and validate a user's file.

    :func:`read_user_data` without the file as read: the validated study table (study
    column names, months, USD per month) with the passenger columns whose names are not
    study columns.

    Raises
    ------
    StudyDataError
        One clear message naming the column and the rows.
    """
    return read_user_data(data, mapping).study


def _scaled(s: pd.Series, factor: float, ceil: bool = False) -> pd.Series:
    """Numbers times ``factor`` (rounded up when ``ceil``: a started month is a billed
    month); text is left as is so that validation can name it."""
    num = pd.to_numeric(s, errors="coerce")
    scaled = num.mul(factor)
    if ceil:
        scaled = np.ceil(scaled.round(9))
    if num.notna().sum() == s.notna().sum():
        return scaled
    return scaled.astype(object).where(num.notna(), s)
