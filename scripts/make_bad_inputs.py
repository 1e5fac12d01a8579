# ruff: noqa: E702  (one broken file per line reads best as a table of cases)
"""Write the bad-input corpus: small lapsed-customer files, each broken in one way.

Run from the repository root: ``.venv/bin/python scripts/make_bad_inputs.py``. Writes
``tests/fixtures/bad_inputs/*`` and ``tests/fixtures/bad_inputs/expected.csv`` (file, column that
the error must name, problem code, whether the error appears when loading or only when
analysing). The tests read the manifest; the files are committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from winback_study import simulate_study

OUT = Path("tests/fixtures/bad_inputs")


def base() -> pd.DataFrame:
    df = simulate_study(40, seed=2024)
    df.attrs = {}
    return df


def csv(df: pd.DataFrame, name: str, **kw) -> None:
    df.to_csv(OUT / name, index=False, **kw)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    back = lambda d: d.index[d["reacquired"] == 1]  # noqa: E731
    gone = lambda d: d.index[d["reacquired"] == 0]  # noqa: E731

    def case(name: str, column: str, problem: str, stage: str = "load"):
        rows.append((name, column, problem, stage))

    d = base().drop(columns="first_tenure_months")
    csv(d, "missing_column.csv"); case("missing_column.csv", "first_tenure_months", "missing_column")
    d = base().rename(columns={"first_tenure_months": "first_tenure_month"})
    csv(d, "misspelled_column.csv"); case("misspelled_column.csv", "first_tenure_months", "missing_column")
    d = base().astype({"referrals": object}); d.loc[4, "referrals"] = "two"
    csv(d, "text_in_numeric.csv"); case("text_in_numeric.csv", "referrals", "not_numeric")
    d = base().astype({"first_tenure_months": int}); d.loc[[2, 9], "first_tenure_months"] = [-3, -1]
    csv(d, "negative_tenure.csv"); case("negative_tenure.csv", "first_tenure_months", "out_of_range")
    d = base(); d.loc[5, "first_tenure_months"] = 0
    csv(d, "zero_tenure.csv"); case("zero_tenure.csv", "first_tenure_months", "out_of_range")
    d = base(); i = gone(d)[0]; d.loc[i, "second_tenure_months"] = 12.0
    csv(d, "second_tenure_without_reacquisition.csv")
    case("second_tenure_without_reacquisition.csv", "second_tenure_months", "second_lifetime_unexpected")
    d = base(); i = back(d)[:1]; d.loc[i, ["second_tenure_months"]] = np.nan
    csv(d, "reacquired_without_second_tenure.csv")
    case("reacquired_without_second_tenure.csv", "second_tenure_months", "second_lifetime_missing")
    d = base(); d.loc[back(d)[:2], "second_churned"] = 2.0
    csv(d, "event_flag_not_01.csv"); case("event_flag_not_01.csv", "second_churned", "not_0_or_1")
    d = base().astype({"reacquired": float}); d.loc[3, "reacquired"] = 0.5
    csv(d, "reacquired_fraction.csv"); case("reacquired_fraction.csv", "reacquired", "not_0_or_1")
    d = base(); d.loc[7, "customer_id"] = d.loc[6, "customer_id"]
    csv(d, "duplicate_ids.csv"); case("duplicate_ids.csv", "customer_id", "duplicate")
    (OUT / "empty.csv").write_bytes(b""); case("empty.csv", "", "empty_file")
    (OUT / "header_only.csv").write_text(",".join(base().columns) + "\n", encoding="utf-8")
    case("header_only.csv", "", "no_rows")
    csv(base(), "semicolon_delimiter.csv", sep=";"); case("semicolon_delimiter.csv", "", "wrong_delimiter")
    csv(base(), "tab_delimiter.csv", sep="\t"); case("tab_delimiter.csv", "", "wrong_delimiter")
    d = base(); d["note"] = "Muñoz"
    d.to_csv(OUT / "latin1.csv", index=False, encoding="latin-1"); case("latin1.csv", "", "bad_encoding")
    d = base().astype({"defection_reason": object}); d.loc[8, "defection_reason"] = "pricing"
    csv(d, "unknown_reason.csv"); case("unknown_reason.csv", "defection_reason", "unknown_level")
    d = base().astype({"offer": object}); d.loc[11, "offer"] = "coupon"
    csv(d, "unknown_offer.csv"); case("unknown_offer.csv", "offer", "unknown_level")
    d = base(); d.loc[[1, 4, 6], "first_monthly_margin"] = np.nan
    csv(d, "nan_in_required.csv"); case("nan_in_required.csv", "first_monthly_margin", "missing_value")
    d = base(); d.loc[0, "first_monthly_margin"] = -12.5
    csv(d, "negative_margin.csv"); case("negative_margin.csv", "first_monthly_margin", "out_of_range")
    d = base(); d.loc[2, "complaints"] = 0; d.loc[2, "complaints_resolved"] = 2
    csv(d, "resolved_exceeds_complaints.csv")
    case("resolved_exceeds_complaints.csv", "complaints_resolved", "resolved_exceeds_complaints")
    d = base(); i = back(d)[0]; d.loc[i, "second_start_month"] = d.loc[i, "defection_month"] - 1
    csv(d, "dates_out_of_order.csv"); case("dates_out_of_order.csv", "second_start_month", "dates_out_of_order")
    d = base(); d.loc[:, "reacquired"] = 0
    for c in ("second_start_month", "second_tenure_months", "second_churned",
              "second_monthly_margin", "slv", "slv_observed"):
        d[c] = np.nan
    csv(d, "no_reacquired.csv"); case("no_reacquired.csv", "reacquired", "no_reacquired", "analyze")
    (OUT / "spreadsheet.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    case("spreadsheet.xlsx", "", "unknown_extension")
    (OUT / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file")
    case("corrupt.parquet", "", "unreadable")
    d = base().astype({"second_churned": object}); d.loc[back(d)[0], "second_churned"] = "yes"
    csv(d, "event_flag_text.csv"); case("event_flag_text.csv", "second_churned", "not_numeric")
    # rows with fewer / more fields than the header; a quoted note holding a comma and a line
    # break (one field, two physical lines) comes first, so line and row numbers differ
    d = base(); d["note"] = ""; d.loc[1, "note"] = 'moved, then\ncame back'
    lines = d.to_csv(index=False, lineterminator="\n").split("\n")
    short = lines[6].split(","); del short[5]; lines[6] = ",".join(short)  # line 7: no referrals
    (OUT / "short_row.csv").write_text("\n".join(lines), encoding="utf-8")
    case("short_row.csv", "", "bad_row_length")
    lines = d.to_csv(index=False, lineterminator="\n").split("\n")
    lines[9] += ",called twice, no answer"  # line 10: an unquoted comma in a note
    (OUT / "long_row.csv").write_text("\n".join(lines), encoding="utf-8")
    case("long_row.csv", "", "bad_row_length")
    d = base().astype({"customer_id": float}); d.loc[5, "customer_id"] = 5.5
    csv(d, "non_integral_id.csv"); case("non_integral_id.csv", "customer_id", "non_integral_id")
    pd.DataFrame(rows, columns=["file", "column", "problem", "stage"]).to_csv(
        OUT / "expected.csv", index=False)
    print(f"wrote {len(rows)} bad inputs to {OUT}")


if __name__ == "__main__":
    main()
