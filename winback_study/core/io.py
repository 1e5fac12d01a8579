"""Atomic file output: write to a hidden temporary name beside the target, then rename.

An interrupted write (error, Ctrl-C) never leaves a half-written file under the final
name, and the temporary file is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from winback_study.errors import DataError

__all__ = ["atomic_path", "write_table", "write_csv_fast"]


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: rows from which a CSV is written by pyarrow's writer (pandas formats each float in Python:
#: about 20 s per million rows of a dozen columns); smaller tables go through pandas
FAST_CSV_ROWS = 50_000


def write_table(df: Any, out: str | os.PathLike, *, fast: bool | None = None) -> None:
    """Write a frame as CSV or Parquet by extension, atomically (no half-written files).

    A CSV of ``FAST_CSV_ROWS`` rows or more (or ``fast=True``) is written by pyarrow's CSV
    writer (:func:`write_csv_fast`): the same columns and values, each float in its
    shortest round-trip form as pandas writes it (``0.00001`` for ``1e-05``, ``3`` for
    ``3.0``), booleans as ``true``/``false``; ``fast=False`` always uses pandas.

    Raises
    ------
    DataError
        If ``out`` does not end in ``.parquet`` or ``.csv``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataError(f"an output table must end in .parquet or .csv, got {out.name!r}",
                        problem="bad_extension")
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            # the true parameters (df.attrs, JSON-ready) travel in the file's metadata
            df.to_parquet(tmp, index=False)
        elif fast or (fast is None and len(df) >= FAST_CSV_ROWS):
            write_csv_fast(df, tmp)
        else:
            df.to_csv(tmp, index=False)


#: rows from which :func:`write_csv_fast` formats the table on one thread per core
PARALLEL_CSV_ROWS = 1_000_000
#: rows each thread formats at a time (about 50 MB of text for a dozen columns)
CSV_PIECE_ROWS = 200_000


class _Unconvertible(Exception):
    """A frame (or a piece of it) pyarrow cannot convert: pandas writes it instead."""


def _arrow_table(df: Any, schema: Any = None) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _Unconvertible(str(exc)) from None


def _arrow_schema(df: Any) -> Any:
    """The Arrow types of the whole frame (every value of an object column inspected): a
    column of mixed types is unconvertible even when each piece of it is not."""
    import pyarrow as pa

    try:
        return pa.Schema.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _Unconvertible(str(exc)) from None


def _write_pieces(df: Any, options: Any, fh: Any) -> None:
    """``df`` converted and formatted :data:`CSV_PIECE_ROWS` rows at a time, one piece per
    thread in memory, each written to ``fh`` in order as it is ready (at most two pieces
    per core wait: neither the whole table in Arrow's format nor its text is ever in
    memory, and no part files are written and joined)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.csv as pv

    schema = _arrow_schema(df)  # every piece in the types of the whole

    def piece(start: int) -> Any:
        sink = pa.BufferOutputStream()
        pv.write_csv(_arrow_table(df.iloc[start:start + CSV_PIECE_ROWS], schema), sink,
                     options)
        return sink.getvalue()

    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:
        waiting: deque[Any] = deque()
        try:
            for start in range(0, len(df), CSV_PIECE_ROWS):
                waiting.append(pool.submit(piece, start))
                if len(waiting) >= 2 * workers:
                    fh.write(waiting.popleft().result())
            while waiting:
                fh.write(waiting.popleft().result())  # re-raises a piece's error
        except BaseException:
            for future in waiting:
                future.cancel()
            raise


def write_csv_fast(df: Any, path: str | os.PathLike) -> None:
    """``df.to_csv(path, index=False)`` through pyarrow's CSV writer (C++, chunked).

    The header is written as pandas writes it; values are quoted only when they must be
    (a text value holding a comma, quote or line break quotes every text value of the
    file). A frame pyarrow cannot convert (mixed-type object columns) goes through pandas.
    """
    import csv
    import io

    import pyarrow as pa
    import pyarrow.csv as pv

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in df.columns])
    # pyarrow formats the rows on one thread: a large table is converted and formatted in
    # pieces on one thread per core and written in order
    parallel = len(df) >= PARALLEL_CSV_ROWS and (os.cpu_count() or 1) > 1
    for quoting in ("none", "needed"):
        options = pv.WriteOptions(include_header=False, quoting_style=quoting)
        try:
            with open(path, "wb") as fh:  # a second attempt starts the file again
                fh.write(header.getvalue().encode("utf-8"))
                if parallel:
                    _write_pieces(df, options, fh)
                else:
                    pv.write_csv(_arrow_table(df), fh, options)
            return
        except _Unconvertible:
            df.to_csv(path, index=False)
            return
        except pa.ArrowInvalid:
            if quoting == "needed":
                raise
