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


#: rows per slice above which :func:`write_csv_fast` writes slices in parallel
PARALLEL_CSV_ROWS = 1_000_000


def _write_slices(slices: list[Any], options: Any, header: str, path: Path) -> None:
    """Each slice to its own part file on its own thread, then the header and the parts
    joined into ``path`` in order; the part files are removed whatever happens."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.csv as pv

    names = [path.with_name(f"{path.name}.part{i}") for i in range(len(slices))]
    try:
        with ThreadPoolExecutor(len(slices)) as pool:
            for done in [pool.submit(pv.write_csv, part, str(name), options)
                         for part, name in zip(slices, names, strict=True)]:
                done.result()  # re-raises a slice's error (text needing quotes ...)
        with open(path, "wb") as fh:
            fh.write(header.encode("utf-8"))
            for name in names:
                with open(name, "rb") as src:
                    shutil.copyfileobj(src, fh, 16 * 2**20)
    finally:
        for name in names:
            name.unlink(missing_ok=True)


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

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        df.to_csv(path, index=False)
        return
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in df.columns])
    # pyarrow formats the rows on one thread: large tables are written in slices, one per
    # core, each to a part file, then joined in order
    parts = max(1, min(os.cpu_count() or 1, table.num_rows // PARALLEL_CSV_ROWS))
    step = -(-table.num_rows // parts)
    slices = ([table.slice(i, step) for i in range(0, table.num_rows, step)]
              if parts > 1 else [table])
    for quoting in ("none", "needed"):
        options = pv.WriteOptions(include_header=False, quoting_style=quoting)
        try:
            if len(slices) == 1:
                with open(path, "wb") as fh:
                    fh.write(header.getvalue().encode("utf-8"))
                    pv.write_csv(table, fh, options)
            else:
                _write_slices(slices, options, header.getvalue(), Path(path))
            return
        except pa.ArrowInvalid:
            if quoting == "needed":
                raise
