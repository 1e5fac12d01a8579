"""Score every customer of a partitioned dataset with Dask: the in-memory scorer per partition.

:func:`score_dataset` maps :func:`~winback_study.analysis.scoring.score_customers` over the
partitions (``map_partitions``), so a partition's scores are exactly what the in-memory
function gives for its rows. It writes a partitioned Parquet dataset (``customer_id``,
``p_return_<arm>``, ``slv_<arm>``, ``value_<arm>``, ``best_arm``, ``best_value``) with the
models beside it (``_models.json``), atomically: into a hidden temporary folder renamed
when complete, removed on an error or an interruption. It runs on Dask's local threads, or
on a ``distributed`` cluster given its scheduler's address.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from winback_study.analysis.scoring import (
    ARM_COLUMNS,
    ID_COLUMN,
    score_columns,
    score_customers,
)
from winback_study.data.read_file import parquet_columns
from winback_study.design import ARM_COLUMN, REASON_COLUMN, StudyDesign
from winback_study.errors import DataError
from winback_study.models.portable import ScoringModels
from winback_study.scale.dataset import _files, atomic_folder, read_dataset

__all__ = ["score_dataset", "ScoreSummary", "MODELS_FILE"]

#: The models file written inside a scores dataset.
MODELS_FILE = "_models.json"
#: How long to try to reach a ``distributed`` scheduler before giving up.
CONNECT_TIMEOUT = "10s"

@dataclass
class ScoreSummary:
    """What :func:`score_dataset` wrote, and the base's scores in totals.

    Attributes
    ----------
    out : pathlib.Path
        The scores dataset.
    by_best_arm : pandas.DataFrame
        Per best arm: ``customers`` and ``expected_incremental_value_usd``.
    calibration : pandas.DataFrame or None
        Per arm of the data's experiment (when the data have ``offer`` and ``reacquired``):
        ``customers``, ``response_rate`` and ``mean_predicted`` (mean ``p_return`` of the
        arm's own customers), in percent.
    seconds : float
        Wall time of the scoring pass.
    """

    out: Path
    by_best_arm: pd.DataFrame
    calibration: pd.DataFrame | None
    seconds: float
    partitions: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def customers(self) -> int:
        return int(self.by_best_arm["customers"].sum())

    @property
    def total_value(self) -> float:
        """Expected incremental value of sending every customer her best arm, USD."""
        return float(self.by_best_arm["expected_incremental_value_usd"].sum())

    def summary(self) -> str:
        """The totals as text."""
        t = self.by_best_arm.copy()
        t["share_%"] = 100 * t["customers"] / max(self.customers, 1)
        lines = [f"scored {self.customers:,} customers in {self.partitions:,} partitions in "
                 f"{self.seconds:.1f} s; written to {self.out}",
                 f"expected incremental value of each customer's best arm: "
                 f"${self.total_value:,.0f} in all", "", "customers by best arm:",
                 t.to_string(float_format=lambda v: f"{v:,.1f}")]
        if self.calibration is not None:
            lines += ["", "predicted against observed return per arm of the data (%):",
                      self.calibration.to_string(float_format=lambda v: f"{v:,.2f}")]
        return "\n".join(lines)


def _with_observed(df: pd.DataFrame, models: ScoringModels, design: StudyDesign,
                   observed: bool) -> pd.DataFrame:
    out = score_customers(df, models, design)
    if observed:
        out["observed_arm"] = df[ARM_COLUMN].astype(str).to_numpy()
        out["observed_return"] = df["reacquired"].to_numpy(dtype=np.int8)
    return out


def _partition_totals(scores: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Sums of one partition: customers and value per best arm, and per observed arm."""
    best = scores.groupby("best_arm", observed=False).agg(
        customers=("best_value", "size"), value=("best_value", "sum"))
    rows = [("best", str(a), float(r.customers), float(r.value), 0.0) for a, r in best.iterrows()]
    if "observed_arm" in scores.columns:
        for a in arms:
            mine = scores["observed_arm"].to_numpy() == a
            rows.append(("observed", a, float(mine.sum()),
                         float(scores["observed_return"].to_numpy()[mine].sum()),
                         float(scores[f"p_return_{a}"].to_numpy()[mine].sum())))
    return pd.DataFrame(rows, columns=["kind", "arm", "customers", "value", "predicted"])


def _meta(design: StudyDesign, observed: bool, id_dtype: Any = "int64") -> pd.DataFrame:
    cols: dict[str, Any] = {}
    choices = [a for a in design.treatment_arms if a not in design.rules]
    for c in score_columns(design):
        if c == ID_COLUMN:
            cols[c] = pd.Series([], dtype=id_dtype)
        elif c == "best_arm":
            cols[c] = pd.Series(pd.Categorical([], categories=[design.control, *choices]))
        else:
            cols[c] = pd.Series([], dtype="float64")
    if observed:
        cols["observed_arm"] = pd.Series([], dtype=object)
        cols["observed_return"] = pd.Series([], dtype="int8")
    return pd.DataFrame(cols)


def _client(scheduler: str | None) -> Any:
    if scheduler is None or scheduler in ("threads", "processes", "synchronous"):
        return nullcontext(None)
    from distributed import Client

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise DataError(f"cannot reach the dask scheduler at {scheduler!r}: {exc}",
                        problem="no_scheduler") from None


def score_dataset(
    path: str | os.PathLike,
    out: str | os.PathLike,
    models: ScoringModels,
    *,
    design: StudyDesign | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Score every customer of a dataset and write the scores as a partitioned dataset.

    Parameters
    ----------
    path : str or os.PathLike
        The customers: a dataset folder (or a Parquet file) with ``customer_id`` and the
        models' covariates (:attr:`ScoringModels.columns`).
    out : str or os.PathLike
        The scores' dataset folder (replaced atomically when complete).
    models : ScoringModels
        From :func:`~winback_study.scale.fit.fit_at_scale` or :meth:`ScoringModels.load`;
        saved into ``out`` as ``_models.json``.
    design : StudyDesign, optional
        Arms and costs to score; default ``models.design``.
    scheduler : str, optional
        ``None`` or ``"threads"`` (Dask's local threads), ``"processes"``,
        ``"synchronous"``, or the address of a ``distributed`` scheduler
        (``"tcp://10.0.0.5:8786"``).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ScoreSummary
    """
    import dask

    began = time.perf_counter()
    d = design or models.design
    files = _files(path)
    source, target = Path(path).absolute(), Path(out).absolute()
    if target == source or source in target.parents or target in source.parents:
        raise DataError(f"the output {str(out)!r} and the input {str(path)!r} overlap: write "
                        "the scores to a folder outside the customers' dataset",
                        problem="output_overlaps_input")
    have = set(parquet_columns(files[0]))
    needed = [ID_COLUMN, *(c for c in models.columns if c not in ARM_COLUMNS)]
    if d.rules or d.matching:
        needed.append(REASON_COLUMN)
    observed = ARM_COLUMN in have and "reacquired" in have
    if observed:
        needed += [ARM_COLUMN, "reacquired"]
    ddf = read_dataset(path, list(dict.fromkeys(needed)), design=models.design)
    meta = _meta(d, observed, ddf._meta[ID_COLUMN].dtype)
    scored = ddf.map_partitions(_with_observed, models, d, observed, meta=meta,
                                enforce_metadata=False)
    arms = list(d.arms)
    totals = scored.map_partitions(_partition_totals, arms, meta=_partition_totals(meta, arms))
    # absolute: a cluster's workers write the partitions (a filesystem they share)
    with atomic_folder(target) as tmp, _client(scheduler) as client:
        write = scored[score_columns(d)].to_parquet(
            tmp, write_index=False, compute=False,
            name_function=lambda i: f"part-{i:05d}.parquet")
        if client is not None:
            futures = client.compute([write, totals])
            try:
                if progress:
                    from distributed import progress as show

                    show(futures)
                _, parts = client.gather(futures)
            except BaseException:
                client.cancel(futures)  # no worker writes into the folder being removed
                raise
        else:
            bar = _progress_bar() if progress else nullcontext()
            with bar, dask.config.set(scheduler=scheduler or "threads"):
                _, parts = dask.compute(write, totals)
        models.save(tmp / MODELS_FILE)
    seconds = time.perf_counter() - began
    parts = parts.groupby(["kind", "arm"], sort=False)[["customers", "value", "predicted"]].sum()
    best = parts.xs("best").rename(columns={"value": "expected_incremental_value_usd"})[
        ["customers", "expected_incremental_value_usd"]]
    best.index.name = "best_arm"
    best["customers"] = best["customers"].astype(np.int64)
    calib = None
    if observed:
        o = parts.xs("observed")
        o = o[o["customers"] > 0]
        calib = pd.DataFrame({"customers": o["customers"].astype(np.int64),
                              "response_rate": 100 * o["value"] / o["customers"],
                              "mean_predicted": 100 * o["predicted"] / o["customers"]})
        calib["difference_pp"] = calib["mean_predicted"] - calib["response_rate"]
        calib.index.name = "arm"
    return ScoreSummary(Path(out), best, calib, seconds, len(files))


def _progress_bar() -> Any:
    """Dask's local-scheduler callback drawing a tqdm bar over the tasks."""
    from dask.callbacks import Callback
    from tqdm.auto import tqdm

    class _Bar(Callback):
        def _start_state(self, dsk: Any, state: Any) -> None:
            self._bar = tqdm(total=sum(len(state[k]) for k in ("ready", "waiting", "running")),
                             desc="scoring", unit="task", leave=False)

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any
                      ) -> None:
            self._bar.update(1)

        def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
            self._bar.close()

    return _Bar()
