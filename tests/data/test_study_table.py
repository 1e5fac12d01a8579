"""Tests of the study-table loader / validator (winback_study.data.study_table)."""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winback_study.data import read_file
from winback_study.data.simulate import simulate_study
from winback_study.data.study_table import (
    _NA_STRINGS,
    COLUMN_SPECS,
    PLANS,
    REQUIRED_COLUMNS,
    SECOND_LIFETIME_COLUMNS,
    StudyDataError,
    load_study,
    read_table,
    validate_study,
)
from winback_study.design import KUMAR_2015


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate_study(2000, seed=1)


@pytest.fixture
def df(sim: pd.DataFrame) -> pd.DataFrame:
    """A fresh copy to break."""
    return sim.copy()


def frame_digest(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(repr(list(frame.columns)).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def where(rows: list, word: str = "row") -> str:
    """The row part of a message, e.g. 'rows 3, 17 (2 rows)'."""
    if len(rows) == 1:
        return f"{word} {rows[0]}"
    return f"{word}s {', '.join(map(str, rows))} ({len(rows)} rows)"


def assert_plain(err: StudyDataError) -> None:
    """No pandera / pandas internals, no chained traceback."""
    message = str(err)
    assert "Traceback" not in message
    assert "pandera" not in message.lower()
    assert "SchemaError" not in message
    assert err.__context__ is None or err.__suppress_context__
    assert err.__cause__ is None
    shown = "".join(traceback.format_exception(err))
    assert "During handling of the above exception" not in shown
    assert "/pandera/" not in shown and "pandera.errors" not in shown
    assert "site-packages" not in shown


def reacquired_rows(frame: pd.DataFrame, k: int) -> list[int]:
    return list(frame.index[frame["reacquired"] == 1][:k])


def lost_rows(frame: pd.DataFrame, k: int) -> list[int]:
    return list(frame.index[frame["reacquired"] == 0][:k])


def set_values(frame: pd.DataFrame, column: str, rows: list, values: list) -> list:
    """Put ``values`` in ``rows`` of ``column`` (widening its dtype); return ``rows``."""
    if not all(isinstance(v, int | float) for v in values):
        frame[column] = frame[column].astype(object)
    elif any(isinstance(v, float) for v in values):
        frame[column] = frame[column].astype(float)
    elif pd.api.types.is_integer_dtype(frame[column]):
        frame[column] = frame[column].astype(np.int64)
    frame.loc[rows, column] = values
    return rows


def duplicate_id(frame: pd.DataFrame) -> list:
    set_values(frame, "customer_id", [9], [int(frame.loc[4, "customer_id"])])
    return [4, 9]


# --------------------------------------------------------------------------------------------
# the clean case
# --------------------------------------------------------------------------------------------


def test_simulated_frame_validates(sim: pd.DataFrame) -> None:
    before = frame_digest(sim)
    out = validate_study(sim)
    assert frame_digest(sim) == before
    assert out is not sim
    assert list(out.columns) == list(sim.columns)
    assert out.index.equals(sim.index)
    for name, levels in [
        ("plan", PLANS),
        ("defection_reason", KUMAR_2015.reasons),
        ("offer", KUMAR_2015.arms),
        ("offer_received", KUMAR_2015.received_offers),
    ]:
        assert isinstance(out[name].dtype, pd.CategoricalDtype)
        assert list(out[name].cat.categories) == list(levels)
        assert (out[name].astype(str) == sim[name].astype(str)).all()
    for name in ["customer_id", "first_tenure_months", "referrals", "reacquired"]:
        assert out[name].dtype == np.int64
    for name in SECOND_LIFETIME_COLUMNS:
        assert out[name].dtype == np.float64
    numeric = [c for c, spec in COLUMN_SPECS.items() if spec.kind != "category"]
    np.testing.assert_array_equal(out[numeric].to_numpy(float), sim[numeric].to_numpy(float))


def test_validated_output_is_independent_of_input(sim: pd.DataFrame) -> None:
    out = validate_study(sim)
    out.loc[out.index[0], "referrals"] = 99
    assert sim.loc[sim.index[0], "referrals"] != 99


def test_minimal_required_columns_suffice(sim: pd.DataFrame) -> None:
    out = validate_study(sim[list(REQUIRED_COLUMNS)])
    assert list(out.columns) == list(REQUIRED_COLUMNS)


def test_text_numbers_and_blank_strings_are_coerced(df: pd.DataFrame) -> None:
    df["referrals"] = df["referrals"].astype(str)
    df["second_churned"] = df["second_churned"].astype(object).where(df["reacquired"] == 1, "")
    out = validate_study(df)
    assert out["referrals"].dtype == np.int64
    assert out["second_churned"].isna().sum() == (df["reacquired"] == 0).sum()


def test_extra_columns_pass_through(df: pd.DataFrame) -> None:
    df["region"] = "north"
    out = validate_study(df)
    assert (out["region"] == "north").all()


def test_custom_required_columns(df: pd.DataFrame) -> None:
    minimal = [c for c in REQUIRED_COLUMNS if c not in SECOND_LIFETIME_COLUMNS]
    validate_study(df.drop(columns=list(SECOND_LIFETIME_COLUMNS)), required=minimal)
    with pytest.raises(StudyDataError, match="missing required column 'region'"):
        validate_study(df, required=[*REQUIRED_COLUMNS, "region"])
    df["region"] = "north"
    df.loc[[7], "region"] = None
    with pytest.raises(StudyDataError) as info:
        validate_study(df, required=[*REQUIRED_COLUMNS, "region"])
    assert info.value.column == "region" and info.value.rows == [7]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_through_files(sim: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"study{suffix}"
    plain = sim.copy()
    if suffix == ".csv":
        plain.to_csv(path, index=False)
    else:
        plain.to_parquet(path, index=False)
    before = file_digest(path)
    loaded = load_study(path)
    assert file_digest(path) == before
    pd.testing.assert_frame_equal(loaded, validate_study(sim))


def test_validate_rejects_non_frames() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        validate_study({"customer_id": [1]})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# bad frames: one case per check
# --------------------------------------------------------------------------------------------

Breaker = Callable[[pd.DataFrame], list]

BAD_FRAMES: list[tuple[str, Breaker, str, str, str]] = [
    # (id, breaker returning the bad row labels, column, problem, text in the message)
    ("text_in_numeric", lambda d: set_values(d, "referrals", [3, 17], ["two", "3 kids"]),
     "referrals", "not_numeric", "hold text 'two', '3 kids'; expected a whole number >= 0"),
    ("text_in_flag", lambda d: set_values(d, "reacquired", [4], ["yes"]),
     "reacquired", "not_numeric", "holds text 'yes'; expected 0 or 1"),
    ("nan_in_required", lambda d: set_values(d, "complaints", [5, 6], [np.nan, np.nan]),
     "complaints", "missing_value", "are empty; expected a value in every row"),
    ("blank_in_required_category", lambda d: set_values(d, "defection_reason", [9], ["  "]),
     "defection_reason", "missing_value", "is empty"),
    ("zero_and_negative_tenure", lambda d: set_values(d, "first_tenure_months", [2, 8], [0, -3]),
     "first_tenure_months", "out_of_range", "hold 0, -3; expected a whole number of months >= 1"),
    ("zero_second_tenure",
     lambda d: set_values(d, "second_tenure_months", reacquired_rows(d, 1), [0.0]),
     "second_tenure_months", "out_of_range", "holds 0; expected a number of months > 0"),
    ("negative_count", lambda d: set_values(d, "referrals", [11], [-1]),
     "referrals", "out_of_range", "holds -1; expected a whole number >= 0 (a count)"),
    ("empty_id", lambda d: set_values(d, "customer_id", [8], [np.nan]),
     "customer_id", "missing_value", "is empty"),
    ("fractional_count", lambda d: set_values(d, "complaints", [12], [1.5]),
     "complaints", "not_whole", "holds 1.5; expected a whole number >= 0"),
    ("negative_margin", lambda d: set_values(d, "first_monthly_margin", [12, 13], [-5.0, -0.5]),
     "first_monthly_margin", "out_of_range", "hold -5, -0.5; expected a number >= 0"),
    ("negative_second_margin",
     lambda d: set_values(d, "second_monthly_margin", reacquired_rows(d, 2), [-1.0, -2.0]),
     "second_monthly_margin", "out_of_range", "hold -1, -2; expected a number >= 0"),
    ("infinite_value", lambda d: set_values(d, "clv_first", [14], [np.inf]),
     "clv_first", "not_finite", "holds inf; expected a finite number"),
    ("resolved_exceeds_complaints",
     lambda d: set_values(d, "complaints_resolved", [15], [int(d.loc[15, "complaints"]) + 1]),
     "complaints_resolved", "resolved_exceeds_complaints", "expected complaints_resolved <= "),
    ("second_churned_not_flag",
     lambda d: set_values(d, "second_churned", reacquired_rows(d, 2), [2.0, 5.0]),
     "second_churned", "not_0_or_1", "hold 2, 5; expected 0 or 1 (1 = churned, 0 = censored)"),
    ("reacquired_not_flag", lambda d: set_values(d, "reacquired", [0], [3]),
     "reacquired", "not_0_or_1", "holds 3; expected 0 or 1 (1 = reacquired"),
    ("optional_flag", lambda d: set_values(d, "offer_matches_reason", [1], [-1]),
     "offer_matches_reason", "not_0_or_1", "holds -1; expected 0 or 1"),
    ("duplicate_customer_id",
     duplicate_id,
     "customer_id", "duplicate", "expected each customer_id only once"),
    ("unknown_reason", lambda d: set_values(d, "defection_reason", [7], ["cost"]),
     "defection_reason", "unknown_level",
     "holds 'cost'; expected one of 'price', 'service', 'both', 'other'"),
    ("unknown_offer", lambda d: set_values(d, "offer", [3, 5], ["coupon", "Discount"]),
     "offer", "unknown_level",
     "hold 'coupon', 'Discount'; expected one of 'none', 'discount', 'upgrade', 'bundled', "
     "'tailored'"),
    ("unknown_plan_optional", lambda d: set_values(d, "plan", [6], ["gold"]),
     "plan", "unknown_level", "expected one of 'basic', 'standard', 'premium'"),
    ("unknown_offer_received_optional", lambda d: set_values(d, "offer_received", [6], ["tailored"]),
     "offer_received", "unknown_level", "holds 'tailored'"),
    ("negative_optional_cost", lambda d: set_values(d, "offer_cost", [10], [-120.0]),
     "offer_cost", "out_of_range", "holds -120"),
    ("negative_optional_gap", lambda d: set_values(d, "months_since_defection", [10], [-1]),
     "months_since_defection", "out_of_range", "holds -1"),
    ("second_values_for_not_reacquired",
     lambda d: set_values(d, "second_tenure_months", lost_rows(d, 2), [12.0, 3.0]),
     "second_tenure_months", "second_lifetime_unexpected", "hold 12, 3 but reacquired is 0"),
    ("second_values_missing_for_reacquired",
     lambda d: set_values(d, "second_monthly_margin", reacquired_rows(d, 1), [np.nan]),
     "second_monthly_margin", "second_lifetime_missing",
     "is empty but reacquired is 1; expected a value for every reacquired customer"),
    ("optional_second_values_for_not_reacquired",
     lambda d: set_values(d, "slv", lost_rows(d, 1), [100.0]),
     "slv", "second_lifetime_unexpected", "but reacquired is 0"),
    ("dates_out_of_order",
     lambda d: set_values(
         d, "second_start_month", reacquired_rows(d, 1),
         [float(d.loc[reacquired_rows(d, 1)[0], "defection_month"])],
     ),
     "second_start_month", "dates_out_of_order", "dates out of order"),
    ("first_lifetime_does_not_end_at_defection",
     lambda d: set_values(
         d, "first_tenure_months", lost_rows(d, 1),
         [int(d.loc[lost_rows(d, 1)[0], "first_tenure_months"]) + 2],
     ),
     "defection_month", "tenure_mismatch",
     "expected defection_month = first_start_month + first_tenure_months"),
]


def _raise(frame: pd.DataFrame, **kwargs) -> StudyDataError:
    with pytest.raises(StudyDataError) as info:
        validate_study(frame, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("breaker", "column", "problem", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FRAMES],
)
def test_bad_frame(
    df: pd.DataFrame, breaker: Breaker, column: str, problem: str, fragment: str
) -> None:
    rows = breaker(df)
    before = frame_digest(df)
    err = _raise(df)
    assert frame_digest(df) == before  # input untouched, also on failure
    message = str(err)
    assert message.startswith(f"column '{column}': {where(rows)} "), message
    assert fragment in message, message
    assert err.column == column
    assert err.rows == rows
    assert err.n_rows == len(rows)
    assert err.problem == problem
    assert isinstance(err, ValueError)
    assert_plain(err)


def test_message_format_matches_the_documented_example(df: pd.DataFrame) -> None:
    df.index = df.index + 1  # index labels are what a frame reports
    first, second = reacquired_rows(df, 2)
    df.loc[[first, second], "second_churned"] = [2.0, 5.0]
    assert str(_raise(df)) == (
        f"column 'second_churned': rows {first}, {second} (2 rows) hold 2, 5; "
        "expected 0 or 1 (1 = churned, 0 = censored)"
    )


def test_index_labels_are_reported(df: pd.DataFrame) -> None:
    df.index = [f"c{i}" for i in df["customer_id"]]
    df.loc[["c5"], "referrals"] = -4
    err = _raise(df)
    assert err.rows == ["c5"]
    assert "column 'referrals': row c5 holds -4" in str(err)


def test_at_most_ten_rows_are_listed(df: pd.DataFrame) -> None:
    bad = list(range(0, 50, 2))
    df.loc[bad, "complaints"] = -1
    err = _raise(df)
    assert err.rows == bad[:10]
    assert err.n_rows == 25
    assert str(err).startswith(
        "column 'complaints': rows 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, ... (25 rows) hold "
        "-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, ...; expected"
    )


def test_first_problem_in_column_order_is_reported(df: pd.DataFrame) -> None:
    df.loc[[3], "complaints"] = -1
    df.loc[[2], "referrals"] = -1
    df.loc[[1], "offer_cost"] = -1.0
    assert _raise(df).column == "referrals"


@pytest.mark.parametrize(
    ("rename", "fragment"),
    [
        ({}, "missing required column 'first_tenure_months'; expected the columns customer_id"),
        ({"first_tenure_months": "first_tenure_month"},
         "missing required column 'first_tenure_months' (found 'first_tenure_month': misspelled?)"),
        ({"offer": " Offer"}, "missing required column 'offer' (found ' Offer': misspelled?)"),
        ({"reacquired": "reaquired", "complaints": "Complaints"},
         "missing required columns 'complaints' (found 'Complaints': misspelled?), "
         "'reacquired' (found 'reaquired': misspelled?)"),
    ],
)
def test_missing_columns(df: pd.DataFrame, rename: dict, fragment: str) -> None:
    frame = df.rename(columns=rename) if rename else df.drop(columns="first_tenure_months")
    err = _raise(frame)
    assert fragment in str(err)
    assert err.problem == "missing_column"
    assert err.column == (min(rename, key=REQUIRED_COLUMNS.index) if rename
                          else "first_tenure_months")
    assert err.rows == []
    assert_plain(err)


def test_duplicate_column_names(df: pd.DataFrame) -> None:
    frame = pd.concat([df, df[["referrals"]]], axis=1)
    err = _raise(frame)
    assert str(err) == "column 'referrals' appears 2 times; expected each column once"


def test_empty_frame(sim: pd.DataFrame) -> None:
    err = _raise(sim.iloc[:0])
    assert err.problem == "no_rows" and "no rows" in str(err)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = {}
    return out


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        _plain(frame).to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_rows_are_one_based_data_rows(df: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    positions = np.flatnonzero(df["reacquired"] == 1)[:2]
    df.loc[df.index[positions], "second_churned"] = [2.0, 5.0]
    path = _write(df, tmp_path / f"study{suffix}")
    before = file_digest(path)
    with pytest.raises(StudyDataError) as info:
        load_study(path)
    assert file_digest(path) == before
    rows = [int(p) + 1 for p in positions]
    assert str(info.value) == (
        f"study{suffix}: column 'second_churned': data rows {rows[0]}, {rows[1]} (2 rows) "
        "hold 2, 5; expected 0 or 1 (1 = churned, 0 = censored)"
    )
    assert info.value.rows == rows
    assert_plain(info.value)


def _latin1(sim: pd.DataFrame, path: Path) -> Path:
    frame = sim.head(5).copy()
    frame["surname"] = "Mu\u00f1oz"
    frame.to_csv(path, index=False, encoding="latin-1")
    return path


def _utf16(sim: pd.DataFrame, path: Path) -> Path:
    sim.head(5).to_csv(path, index=False, encoding="utf-16")
    return path


def _ragged(sim: pd.DataFrame, path: Path) -> Path:
    lines = sim.head(5).to_csv(index=False).splitlines()
    lines[3] += ",extra"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bytes(data: bytes) -> Callable[[pd.DataFrame, Path], Path]:
    def write(sim: pd.DataFrame, path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def _directory(sim: pd.DataFrame, path: Path) -> Path:
    path.mkdir()
    return path


BAD_FILES = [
    # (id, file name, writer or None for "does not exist", problem, text in the message)
    ("not_found", "missing.csv", None, "file_not_found", "file not found"),
    ("directory", "folder.csv", _directory, "unreadable", "is a folder without Parquet files"),
    ("empty_csv", "empty.csv", _bytes(b""), "empty_file", "empty.csv: the file is empty (0 bytes)"),
    ("empty_parquet", "empty.parquet", _bytes(b""), "empty_file", "(0 bytes)"),
    ("blank_lines", "blank.csv", _bytes(b"\n  \n\n"), "empty_file", "only blank lines"),
    ("header_only_csv", "header.csv", lambda s, p: _write(s.head(0), p), "no_rows",
     "header.csv: the file has a header but no data rows"),
    ("header_only_parquet", "header.parquet", lambda s, p: _write(s.head(0), p), "no_rows",
     "no data rows"),
    ("unknown_extension", "study.xlsx", _bytes(b"PK\x03\x04"), "unknown_extension",
     "unknown file extension '.xlsx'; expected .csv, .parquet or .pq"),
    ("semicolon_delimiter", "semi.csv", lambda s, p: s.head(5).to_csv(p, index=False, sep=";"),
     "wrong_delimiter", "the delimiter looks wrong"),
    ("tab_delimiter", "tab.csv", lambda s, p: s.head(5).to_csv(p, index=False, sep="\t"),
     "wrong_delimiter", "contains a tab"),
    ("single_column_with_semicolon", "one.csv", _bytes(b'"id,x;y"\n1\n'), "wrong_delimiter",
     "single column 'id,x;y'"),
    ("latin1", "latin.csv", _latin1, "bad_encoding", "is not valid UTF-8"),
    ("utf16", "utf16.csv", _utf16, "bad_encoding", "byte 0xff at byte offset 0 (line 1"),
    ("ragged_rows", "ragged.csv", _ragged, "bad_row_length",
     "line 4 has 24 fields but the header has 23 (a long row)"),
    ("corrupt_parquet", "broken.parquet", _bytes(b"this is not parquet"), "unreadable",
     "not a readable Parquet file"),
]


@pytest.mark.parametrize(
    ("name", "writer", "problem", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES],
)
def test_bad_file(
    sim: pd.DataFrame, tmp_path: Path, name: str, writer, problem: str, fragment: str
) -> None:
    path = tmp_path / name
    if writer is not None:
        writer(sim, path)
    before = file_digest(path) if path.is_file() else None
    with pytest.raises(StudyDataError) as info:
        load_study(str(path))
    err = info.value
    assert fragment in str(err), str(err)
    assert err.problem == problem
    assert err.column is None and err.rows == []
    if before is not None:
        assert file_digest(path) == before
    assert_plain(err)


def test_encoding_message_names_offset_and_encoding(sim: pd.DataFrame, tmp_path: Path) -> None:
    path = _latin1(sim, tmp_path / "latin.csv")
    raw = path.read_bytes()
    offset = raw.index(b"\xf1")
    with pytest.raises(StudyDataError) as info:
        load_study(path)
    message = str(info.value)
    assert f"byte 0xf1 at byte offset {offset} (line 2" in message
    assert "Windows-1252" in message and "UTF-8" in message


def test_utf8_bom_is_accepted(sim: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    sim.head(50).to_csv(path, index=False, encoding="utf-8-sig")
    assert len(load_study(path)) == 50


def test_load_reports_validation_problems_with_file_name(df: pd.DataFrame, tmp_path: Path) -> None:
    path = _write(df.rename(columns={"second_churned": "second_churn"}), tmp_path / "mine.csv")
    with pytest.raises(StudyDataError, match=r"^mine\.csv: missing required column "
                       r"'second_churned' \(found 'second_churn': misspelled\?\)"):
        load_study(path)


# --------------------------------------------------------------------------------------------
# no internals leak
# --------------------------------------------------------------------------------------------


def test_no_message_mentions_traceback_or_pandera(sim: pd.DataFrame, tmp_path: Path) -> None:
    errors: list[StudyDataError] = []
    for _, breaker, *_ in BAD_FRAMES:
        frame = sim.copy()
        breaker(frame)
        with pytest.raises(StudyDataError) as info:
            validate_study(frame)
        errors.append(info.value)
    for i, (_, name, writer, *_) in enumerate(BAD_FILES):
        path = tmp_path / str(i) / name
        path.parent.mkdir()
        if writer is not None:
            writer(sim, path)
        with pytest.raises(StudyDataError) as info:
            load_study(path)
        errors.append(info.value)
    assert len(errors) == len(BAD_FRAMES) + len(BAD_FILES)
    for err in errors:
        assert "Traceback" not in str(err)
        assert "pandera" not in str(err).lower()
        assert_plain(err)


@pytest.fixture(scope="module")
def small(sim: pd.DataFrame) -> pd.DataFrame:
    return sim.head(40).copy()


#: columns whose values take part in no check across columns (or across rows)
_FREE = ("plan", "first_monthly_margin", "referrals", "clv_first", "offer_cost",
         "months_since_defection", "second_tenure_months", "second_monthly_margin", "slv",
         "slv_observed")
_MISSING = (None, np.nan, "", "NA", " ")

cell = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=6),
    st.sampled_from(["price", "basic", "none", "NA", "", " 1 ", "1e0", "inf", "-inf", "2.5"]),
)


def _number(value):
    """The number a cell holds as the validator reads it (None: missing, str: text)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        if value.strip() in read_file._NA_STRINGS:  # the documented spellings of "missing"
            return None
        try:
            return float(value.strip())
        except ValueError:
            return value
    return float(value)


def _oracle(frame: pd.DataFrame, column: str, position: int, value) -> bool | None:
    """Written apart from the validator: True (accept), False (reject), None (the answer
    depends on a check across columns this oracle does not model)."""
    spec = COLUMN_SPECS[column]
    back = frame["reacquired"].iloc[position] == 1
    x = _number(value)
    if spec.second and not back:
        return x is None  # a second-lifetime field of a non-returner must be empty
    if x is None:
        required = column in REQUIRED_COLUMNS or spec.second or spec.unique
        return None if not required and column != "plan" else not required
    if spec.kind == "category":
        if not isinstance(value, str) or value not in spec.levels:
            return False
        return True if column == "plan" else None
    if isinstance(x, str) or not np.isfinite(x):
        return False  # text or an infinity where a number belongs
    if spec.kind in ("int", "flag") and (x != int(x) or abs(x) > 2.0**53):
        return False  # not whole, or a whole number a float cannot hold exactly
    if spec.kind == "flag" and x not in (0.0, 1.0):
        return False
    if spec.minimum is not None and (x < spec.minimum or (spec.strict_minimum
                                                          and x == spec.minimum)):
        return False
    return True if column in _FREE else None


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    column=st.sampled_from([c for c in COLUMN_SPECS if c != "customer_id"]),
    position=st.integers(0, 39),
    value=cell,
)
def test_a_single_changed_cell_is_rejected_exactly_when_it_is_invalid(
    small: pd.DataFrame, column: str, position: int, value
) -> None:
    frame = small.copy()
    frame[column] = frame[column].astype(object)
    frame.iloc[position, frame.columns.get_loc(column)] = value
    before = frame_digest(frame)
    verdict = _oracle(frame, column, position, value)
    try:
        validate_study(frame)
    except StudyDataError as err:
        assert verdict is not True, f"{column}={value!r} is valid but was refused: {err}"
        assert err.column is not None
        if verdict is False:  # refused for the right reason: this column, this row
            assert err.column == column and frame.index[position] in err.rows, err
        assert_plain(err)
    else:
        assert verdict is not False, f"{column}={value!r} at row {position} was accepted"
    assert frame_digest(frame) == before


def test_text_ids_are_accepted_and_kept(sim: pd.DataFrame) -> None:
    frame = sim.copy()
    frame["customer_id"] = "C" + frame["customer_id"].astype(str).str.zfill(6)
    out = validate_study(frame)
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()


# --- levels come from the design --------------------------------------------------------------
def test_offer_levels_come_from_the_design():
    from winback_study.design import StudyDesign

    df = simulate_study(400, seed=8)
    own = df.assign(offer=df["offer"].astype(str).replace({"discount": "free_month"}),
                    offer_received=df["offer_received"].astype(str).replace(
                        {"discount": "free_month"}))
    with pytest.raises(StudyDataError, match=r"'free_month'.*pass design=StudyDesign") as info:
        validate_study(own)
    assert info.value.column == "offer" and info.value.problem == "unknown_level"
    design = StudyDesign(
        offers={"none": 0, "free_month": 30, "upgrade": 105, "bundled": 225},
        rules={"tailored": {"price": "free_month", "service": "upgrade", "both": "bundled",
                            "other": "free_month"}},
        reasons=KUMAR_2015.reasons)
    out = validate_study(own, design=design)
    assert list(out["offer"].cat.categories) == list(design.arms)
    assert list(out["offer_received"].cat.categories) == list(design.received_offers)
    # a design without reasons accepts any reason, in sorted order
    free = StudyDesign(offers={"none": 0, "free_month": 30, "upgrade": 1, "bundled": 2,
                               "tailored": 3})
    odd = own.assign(defection_reason=own["defection_reason"].astype(str).replace(
        {"other": "moved away"}), offer_received=own["offer"])
    out = validate_study(odd, design=free)
    assert "moved away" in out["defection_reason"].cat.categories
    with pytest.raises(StudyDataError, match="'moved away'"):
        validate_study(odd.assign(offer=df["offer"], offer_received=df["offer_received"]))


def test_offers_received_and_match_flags_must_be_what_the_design_assigns():
    df = simulate_study(400, seed=8)
    disc = np.flatnonzero((df["offer"] == "discount").to_numpy())[:3]
    bad = df.copy()
    bad.loc[bad.index[disc], "offer_received"] = "upgrade"
    with pytest.raises(StudyDataError, match=r"column 'offer_received'.*'upgrade'.*offer: "
                                             r"'discount'") as info:
        validate_study(bad)
    assert info.value.problem == "received_not_assigned"
    assert info.value.rows == list(bad.index[disc])
    flag = df.copy()
    flag["offer_matches_reason"] = 1
    with pytest.raises(StudyDataError, match="column 'offer_matches_reason'") as info:
        validate_study(flag)
    assert info.value.problem == "match_flag_wrong"
    validate_study(df)  # the simulated table is consistent with its design


# --- read_table: file checks only, pyarrow parsing -------------------------------------------


def _pandas_read(path: Path) -> pd.DataFrame:
    """What the loader used to do (pandas' parser)."""
    return pd.read_csv(path, low_memory=False, keep_default_na=False, na_values=_NA_STRINGS)


def test_read_table_does_not_validate_study_columns(tmp_path: Path) -> None:
    path = tmp_path / "passengers.csv"
    path.write_text("name,offer,fare\nAnn,20,9.5\nBo,25,\nCy,30,12\n", encoding="utf-8")
    out = read_table(path)
    assert out["offer"].tolist() == [20, 25, 30] and out["offer"].dtype == np.int64
    assert out["name"].tolist() == ["Ann", "Bo", "Cy"] and pd.isna(out["fare"][1])
    with pytest.raises(StudyDataError) as info:  # load_study does check them
        load_study(path, required=())
    assert info.value.column == "offer" and info.value.problem == "unknown_level"


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("e.csv", b"", "empty_file"),
    ("b.csv", b"\n \n", "empty_file"),
    ("h.csv", b"a,b\n\n", "no_rows"),
    ("s.csv", b"a;b\n1;2\n", "wrong_delimiter"),
    ("l.csv", "a\nMu\u00f1oz\n".encode("latin-1"), "bad_encoding"),
    ("x.xlsx", b"PK", "unknown_extension"),
])
def test_read_table_keeps_every_file_check(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(StudyDataError) as info:
        read_table(tmp_path / name)
    assert info.value.problem == problem


def _lines(text: str, path: Path) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _row_length_error(path: Path) -> StudyDataError:
    with pytest.raises(StudyDataError) as info:
        read_table(path)
    err = info.value
    assert err.problem == "bad_row_length" and err.column is None
    assert_plain(err)
    with pytest.raises(StudyDataError) as again:  # load_study stops at the same place
        load_study(path)
    assert str(again.value) == str(err)
    return err


def test_short_row_names_its_line(tmp_path: Path) -> None:
    path = _lines("a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n\n\n", tmp_path / "short.csv")
    assert str(_row_length_error(path)) == (
        "short.csv: line 4 has 2 fields but the header has 3 (a short row); expected the same "
        "number of comma-separated fields on every line (check for a missing field, an "
        "unquoted comma or an unclosed quote)"
    )


def test_long_row_names_its_line(tmp_path: Path) -> None:
    path = _lines("a,b,c\n1,2,3\n4,5,6,7\n", tmp_path / "long.csv")
    assert str(_row_length_error(path)).startswith(
        "long.csv: line 3 has 4 fields but the header has 3 (a long row); expected")


def test_quoted_commas_and_line_breaks_are_one_field(tmp_path: Path) -> None:
    # line 3 opens a quoted field holding a comma and a line break (lines 3-4: one row), a
    # blank line and a line of spaces follow; the short row is data row 4, physical line 8
    text = 'id,note,n\n1,plain,2\n2,"moved, then\ncame ""back""",3\n\n   \n3,x,4\n4,y\n5,z,6\n'
    path = _lines(text, tmp_path / "quoted.csv")
    err = _row_length_error(path)
    assert str(err).startswith("quoted.csv: line 8 has 2 fields but the header has 3 (a short "
                               "row)"), str(err)
    fine = _lines(text.replace("4,y\n", "4,y,5\n"), tmp_path / "fine.csv")
    out = read_table(fine)
    assert out["note"].tolist() == ["plain", 'moved, then\ncame "back"', "x", "y", "z"]
    pd.testing.assert_frame_equal(out, _pandas_read(fine))


def test_many_bad_rows_are_listed_like_rows(tmp_path: Path) -> None:
    rows = [f"{i},{i}" if i % 2 else f"{i},{i},{i}" for i in range(30)]  # odd i: short
    path = _lines("a,b,c\n" + "\n".join(rows) + "\n", tmp_path / "many.csv")
    err = _row_length_error(path)
    short = [i + 2 for i in range(30) if i % 2]  # data row i is line i + 2
    assert str(err).startswith(
        f"many.csv: lines {', '.join(map(str, short[:10]))} ... (15 lines) have "
        "2, 2, 2, 2, 2, 2, 2, 2, 2, 2 ... fields but the header has 3 (short rows)"), str(err)
    mixed = _lines("a,b\n1,2\n3\n4,5,6\n", tmp_path / "mixed.csv")
    assert "lines 3, 4 (2 lines) have 1, 3 fields but the header has 2 (short and long rows)" in (
        str(_row_length_error(mixed)))


def test_blank_and_white_space_lines_are_not_rows(tmp_path: Path) -> None:
    path = _lines("\n\na,b\n1,2\n\n  \n3,4\r\n\n\n  \n", tmp_path / "blank.csv")
    out = read_table(path)
    assert out.to_dict("list") == {"a": [1, 3], "b": [2, 4]}


MIXED = (
    "id,code,n,x,big,text,flag,when,empty,offer,,n\n"
    "A00001,0001,1,1.5,12345678901234567890,hello,True,2020-01-01,,none,u,1\n"
    "A00002,0002,2,NA,1,\"a, b\",False,2020-01-02,NULL,discount,v,2\n"
    "A00003,0003,,-inf, 2,,,not a date,,\"none\",,3\n"
    "A00004,0x10,4,1e5,3,nan,True,2020-01-04,n/a,tailored,w,4\n"
    "A00005,+5,5,.5,4,None,False,,,N/A,x,5\n"
)


def test_pyarrow_reads_what_pandas_read(tmp_path: Path) -> None:
    path = _lines(MIXED, tmp_path / "mixed.csv")
    out = read_table(path)
    pd.testing.assert_frame_equal(out, _pandas_read(path), check_exact=True)
    assert out["id"].tolist()[0] == "A00001"  # text ids stay text
    assert out["code"].dtype == object  # 0x10 is not a number for pandas
    assert out["offer"].tolist()[:2] == ["none", "discount"]  # 'None'/'none' are levels
    assert out["text"].tolist()[4] == "None" and pd.isna(out["text"][3])
    assert out["big"].dtype == np.uint64 and out["when"].dtype == object
    assert list(out.columns)[-2:] == ["Unnamed: 10", "n.1"]
    ints = _lines("id,n\n0001,3\n0002,+4\n", tmp_path / "ints.csv")
    assert read_table(ints).dtypes.tolist() == [np.int64, np.int64]
    pd.testing.assert_frame_equal(read_table(ints), _pandas_read(ints), check_exact=True)


def test_types_from_the_first_block_are_checked_against_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_file, "_BLOCK_SIZE", 256)  # many blocks in a small file
    rows = [f"{i},{i * 1.5},,x{i}" for i in range(200)]
    rows[150] = "150,oops,2021-03-04,x150"  # text among numbers, a date in an empty column
    path = _lines("n,v,d,s\n" + "\n".join(rows) + "\n", tmp_path / "blocks.csv")
    out = read_table(path)
    pd.testing.assert_frame_equal(out, _pandas_read(path), check_exact=True)
    assert out["v"].dtype == object and out["d"].tolist()[150] == "2021-03-04"


def test_study_file_reads_as_pandas_read_it(sim: pd.DataFrame, tmp_path: Path) -> None:
    path = _write(sim, tmp_path / "study.csv")
    pd.testing.assert_frame_equal(read_table(path), _pandas_read(path), check_exact=True)


# --- ids stored as floats ---------------------------------------------------------------------
def test_whole_float_ids_pass_and_become_int64(df: pd.DataFrame, tmp_path: Path) -> None:
    df["customer_id"] = df["customer_id"].astype(float)
    out = validate_study(df)
    assert out["customer_id"].dtype == np.int64
    assert out["customer_id"].tolist() == df["customer_id"].astype(int).tolist()
    assert df["customer_id"].dtype == np.float64  # the input is untouched
    path = _write(df, tmp_path / "float_ids.csv")
    assert path.read_text().splitlines()[1].startswith("1.0,")
    assert load_study(path)["customer_id"].dtype == np.int64


def test_non_integral_ids_name_the_rows(df: pd.DataFrame, tmp_path: Path) -> None:
    set_values(df, "customer_id", [3, 8], [3.5, np.inf])
    err = _raise(df)
    assert err.column == "customer_id" and err.problem == "non_integral_id"
    assert err.rows == [3, 8] and err.n_rows == 2
    assert str(err).startswith("column 'customer_id': rows 3, 8 (2 rows) hold 3.5, inf; "
                               "expected a whole number"), str(err)
    assert_plain(err)
    with pytest.raises(StudyDataError) as info:
        load_study(_write(df, tmp_path / "ids.csv"))
    assert info.value.rows == [4, 9] and info.value.problem == "non_integral_id"


@pytest.mark.parametrize(("values", "problem", "rows"), [
    ([np.nan], "missing_value", [6]),
    ([5.0], "duplicate", [4, 6]),  # id 5 is row 4's
])
def test_float_ids_keep_the_missing_and_duplicate_errors(
    df: pd.DataFrame, values: list, problem: str, rows: list
) -> None:
    df["customer_id"] = df["customer_id"].astype(float)
    set_values(df, "customer_id", [6], values)
    err = _raise(df)
    assert (err.column, err.problem, err.rows) == ("customer_id", problem, rows)
