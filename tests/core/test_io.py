"""``write_table``: large CSVs through pyarrow's writer, the same table read back."""

import numpy as np
import pandas as pd
import pytest

from winback_study.core import io


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "p_return_none": rng.random(n),
        "value_discount": rng.normal(0, 1e4, n) * (rng.random(n) > 0.1),
        "best_arm": pd.Categorical(rng.choice(["none", "discount", "upgrade"], n)),
        "best_value": np.where(rng.random(n) > 0.5, 0.0, 1e-7),
        "note": rng.choice(["a", "b c"], n),
    })


@pytest.mark.parametrize("text", ["plain", 'a "quoted", value'])
def test_fast_csv_reads_back_as_the_pandas_csv(tmp_path, text):
    df = _frame(1_000)
    df.loc[3, "note"] = text
    io.write_table(df, tmp_path / "fast.csv", fast=True)
    io.write_table(df, tmp_path / "pandas.csv", fast=False)
    fast, slow = pd.read_csv(tmp_path / "fast.csv"), pd.read_csv(tmp_path / "pandas.csv")
    pd.testing.assert_frame_equal(fast, slow)
    assert (tmp_path / "fast.csv").read_text().splitlines()[0] == ",".join(df.columns)
    assert not list(tmp_path.glob(".*.tmp"))


def test_small_tables_are_written_by_pandas(tmp_path):
    df = _frame(50)
    io.write_table(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False)


def test_large_tables_go_through_pyarrow(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(io, "write_csv_fast", lambda df, p: called.append(p) or
                        df.to_csv(p, index=False))
    io.write_table(_frame(io.FAST_CSV_ROWS), tmp_path / "t.csv")
    assert called and (tmp_path / "t.csv").exists()


def test_unconvertible_columns_fall_back_to_pandas(tmp_path):
    df = pd.DataFrame({"mixed": [1, "a", 2.5], "x": [1.0, 2.0, 3.0]})
    io.write_table(df, tmp_path / "t.csv", fast=True)
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False)


@pytest.mark.parametrize("text", ["plain", 'a "quoted", value'])
def test_parallel_slices_write_the_same_bytes(tmp_path, monkeypatch, text):
    df = _frame(2_503)
    df.loc[2_000, "note"] = text  # in the last slice: every slice is written quoted
    io.write_csv_fast(df, tmp_path / "one.csv")
    monkeypatch.setattr(io, "PARALLEL_CSV_ROWS", 500)
    monkeypatch.setattr(io, "CSV_PIECE_ROWS", 97)  # 26 pieces, more than 2 a thread wait
    monkeypatch.setattr(io.os, "cpu_count", lambda: 3)
    io.write_csv_fast(df, tmp_path / "three.csv")
    assert (tmp_path / "three.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.csv", "three.csv"]


def test_an_empty_table_is_its_header(tmp_path):
    io.write_csv_fast(_frame(0), tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_text() == ",".join(_frame(0).columns) + "\n"


@pytest.mark.parametrize("split", [1_900, 1_200], ids=["in one piece", "across pieces"])
def test_a_column_pyarrow_cannot_convert_sends_the_whole_table_to_pandas(tmp_path, monkeypatch,
                                                                         split):
    """Mixed types within one piece, or each piece of one type but not the same type
    (1,200: pieces of 300 rows, the change at a piece's edge): pandas writes the table."""
    df = _frame(2_000)
    df["mixed"] = pd.Series([1.5] * split + ["a"] * (2_000 - split), dtype=object)
    monkeypatch.setattr(io, "PARALLEL_CSV_ROWS", 500)
    monkeypatch.setattr(io, "CSV_PIECE_ROWS", 300)
    monkeypatch.setattr(io.os, "cpu_count", lambda: 2)
    io.write_table(df, tmp_path / "t.csv", fast=True)
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False)
