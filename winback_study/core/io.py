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

__all__ = ["atomic_path", "write_table"]


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


def write_table(df: Any, out: str | os.PathLike) -> None:
    """Write a frame as CSV or Parquet by extension, atomically (no half-written files).

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
        else:
            df.to_csv(tmp, index=False)
