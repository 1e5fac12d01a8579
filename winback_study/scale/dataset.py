"""Partitioned Parquet datasets: a customer base simulated, and read, a partition at a time.

A dataset is a folder of ``part-00000.parquet``, ``part-00001.parquet`` ... and a
``_dataset.json`` describing it (what wrote it, the customers, the seed and partition
size, the true parameters and the design). Readers skip files starting with ``_`` or ``.``.

:func:`simulate_dataset` writes one partition at a time, so memory is bounded by the
partition size, not the number of customers. Partition ``k`` is the study simulated with
the seed ``SeedSequence(seed, spawn_key=(k,))`` and customer ids offset by ``k`` times the
partition size: the same seed and partition size give the same data, whatever else runs.

:func:`read_dataset` gives a Dask DataFrame with one partition per file, each read with
the study-table loader (:func:`~winback_study.data.study_table.load_study`), so a bad row is
reported as the loader reports it, naming the file and the row.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.provenance import version_stamp
from winback_study.data.read_file import dataset_files
from winback_study.data.simulate import StudyParams, simulate_study
from winback_study.data.study_table import load_study
from winback_study.design import KUMAR_2015, StudyDesign
from winback_study.errors import DataError

__all__ = ["simulate_dataset", "read_dataset", "dataset_info", "atomic_folder", "partition_layout",
           "DATASET_INFO", "DEFAULT_PARTITION_SIZE"]

#: The description file of a dataset folder.
DATASET_INFO = "_dataset.json"
#: Customers per partition unless told otherwise.
DEFAULT_PARTITION_SIZE = 1_000_000


#: Files that mark a folder as one this package wrote (and may replace).
_MARKERS = (DATASET_INFO, "_models.json")


def _check_replaceable(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise DataError(f"{str(target)!r} is a file; give a folder name for the dataset",
                        problem="not_a_folder")
    if target.is_dir() and any(target.iterdir()) and not any(
            (target / m).exists() for m in _MARKERS):
        raise DataError(f"{str(target)!r} is a folder this package did not write (no "
                        f"{' or '.join(_MARKERS)}): choose a new or empty folder, nothing in "
                        "it is replaced", problem="folder_not_ours")


@contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``target``; on success it replaces ``target``.

    An error or an interruption (Ctrl-C) removes the temporary folder: no partial output is
    left under ``target``'s name, and an existing ``target`` stays as it was until the new
    one is complete. Only an empty folder or one this package wrote (it holds
    ``_dataset.json`` or ``_models.json``) is replaced; any other is refused
    (:class:`~winback_study.errors.DataError`) before anything is written.
    """
    target = Path(target).absolute()
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the old folder back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _partition_sizes(n: int, size: int) -> list[int]:
    full, rest = divmod(n, size)
    return [size] * full + ([rest] if rest else [])


def simulate_dataset(
    out: str | os.PathLike,
    n_customers: int,
    seed: int = 20150701,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    *,
    params: StudyParams | None = None,
    design: StudyDesign = KUMAR_2015,
    progress: Callable[[int], Any] | None = None,
) -> Path:
    """Simulate ``n_customers`` into a partitioned Parquet dataset, one partition at a time.

    Parameters
    ----------
    out : str or os.PathLike
        The dataset folder (written atomically: a complete folder or nothing).
    n_customers : int
        Customers in all.
    seed : int
        Seed; partition ``k`` uses ``SeedSequence(seed, spawn_key=(k,))``.
    partition_size : int
        Customers per partition (the last may be smaller); memory is bounded by it.
    params : StudyParams, optional
        True parameters (default the calibrated ones).
    design : StudyDesign
        The experiment (each partition randomises its customers to the arms in the
        study's proportions).
    progress : callable, optional
        Called with the number of customers written after each partition.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    n, size = int(n_customers), int(partition_size)
    if n < 1:
        raise DataError(f"the number of customers must be at least 1, got {n_customers}")
    if size < 1:
        raise DataError(f"the partition size must be at least 1, got {partition_size}")
    p = params or StudyParams()
    sizes = _partition_sizes(n, size)
    began = time.perf_counter()
    with atomic_folder(out) as tmp:
        for k, n_k in enumerate(sizes):
            stream = np.random.SeedSequence(seed, spawn_key=(k,))
            part = simulate_study(n_k, seed=stream, params=p, design=design)  # type: ignore[arg-type]
            part["customer_id"] += k * size
            part.attrs["seed"] = seed  # with the partition's spawn key: JSON in the file
            part.attrs["partition"] = k
            part.to_parquet(tmp / f"part-{k:05d}.parquet", index=False)
            del part
            if progress is not None:
                progress(n_k)
        info = {
            "format": "winback-study dataset", "customers": n, "seed": seed,
            "partition_size": size, "partitions": len(sizes),
            "seeding": "partition k: numpy SeedSequence(seed, spawn_key=(k,))",
            "params": json.loads(json.dumps(p.to_dict())), "design": design.to_dict(),
            "written_by": version_stamp(), "seconds": round(time.perf_counter() - began, 1),
        }
        (tmp / DATASET_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return Path(out)


def dataset_info(path: str | os.PathLike) -> dict[str, Any]:
    """The dataset's ``_dataset.json`` (empty for a folder of Parquet files without one)."""
    f = Path(path) / DATASET_INFO
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}


def _files(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"no dataset folder {str(path)!r}", problem="file_not_found")
    if path.is_file():
        return [path]
    files = dataset_files(path)
    if not files:
        raise DataError(f"{str(path)!r} holds no Parquet files (part-*.parquet)",
                        problem="unreadable")
    return files


def _load_partition(file: str, columns: tuple[str, ...], design: StudyDesign | None,
                    empty: pd.DataFrame | None = None) -> pd.DataFrame:
    """One file through the study-table loader: its errors name the file and the row. A
    file without rows (normal in a Parquet dataset) gives ``empty``, the frame's layout."""
    if empty is not None and _rows_in(file) == 0:
        return empty.copy()
    return load_study(file, required=columns, design=design, columns=columns)[list(columns)]


def _rows_in(file: str) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file).metadata.num_rows
    except Exception:  # not readable: the loader says so in its own words
        return -1


def partition_layout(files: Sequence[Path], columns: tuple[str, ...],
                     design: StudyDesign | None) -> pd.DataFrame:
    """The validated columns' layout (no rows), from the first file that has rows."""
    first = next((f for f in files if _rows_in(str(f)) != 0), files[0])
    return _load_partition(str(first), columns, design).iloc[:0]


def read_dataset(path: str | os.PathLike, columns: Sequence[str], *,
                 design: StudyDesign | None = None) -> Any:
    """A Dask DataFrame of ``columns``, one partition per file, each validated.

    Parameters
    ----------
    path : str or os.PathLike
        A dataset folder (or one Parquet file).
    columns : sequence of str
        Columns to read: they must be present and valid in every file.
    design : StudyDesign, optional
        The arms and reasons the files may hold (default the study's).

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; computing it raises the loader's :class:`~winback_study.errors.DataError` for
        the first bad file (``part-00003.parquet: column 'referrals' ... data row 17``).
    """
    import dask.dataframe as dd

    files = _files(path)
    cols = tuple(dict.fromkeys(columns))
    meta = partition_layout(files, cols, design)
    load = partial(_load_partition, columns=cols, design=design, empty=meta)
    return dd.from_map(load, [str(f) for f in files], meta=meta, enforce_metadata=False,
                       label="read-study-partition")
