"""Fit the scoring models on a partitioned dataset too large for one frame.

* The **return model** is fitted exactly on every customer when its covariates are all
  discrete: Dask counts the customers of each (covariate pattern, outcome) cell over the
  partitions and :func:`~winback_study.models.return_patterns.fit_return_patterns` fits the
  frequency-weighted GLM, which has the row-level estimates. Otherwise (a continuous
  covariate such as the first-lifetime margin) it is fitted on the seeded sample below.
* The **selection probit, the second-lifetime and the margin models** are fitted on a
  seeded sample of customers holding about ``sample`` returners (with the non-returners
  drawn at the same rate, which the selection probit needs):
  :func:`~winback_study.analysis.scoring.fit_scoring_models`. Customer ``i`` of partition
  ``k`` is in the sample when the ``i``-th draw of ``SeedSequence(seed, spawn_key=(k,))``
  is below the sampling rate: the same seed and data give the same sample.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from winback_study.analysis.scoring import fit_scoring_models
from winback_study.data.study_table import REQUIRED_COLUMNS
from winback_study.design import KUMAR_2015, RECEIVED_COLUMN, StudyDesign
from winback_study.errors import DataError
from winback_study.models.portable import ScoringModels
from winback_study.models.return_patterns import (
    COUNT_COLUMN,
    fit_return_patterns,
    is_discrete,
    pattern_columns,
)
from winback_study.models.return_probability import DEFAULT_RETURN_FORMULA
from winback_study.scale.dataset import (
    _files,
    _load_partition,
    dataset_info,
    partition_layout,
    read_dataset,
)

__all__ = ["fit_at_scale", "DEFAULT_SAMPLE", "MAX_PATTERN_CELLS"]

#: Returners in the sample the second-lifetime models are fitted on, unless told otherwise.
DEFAULT_SAMPLE = 200_000
#: Above this many (pattern, outcome) cells the exact return fit gives way to the sample.
MAX_PATTERN_CELLS = 2_000_000

#: Columns the study's three equations read (outcomes included).
_FIT_COLUMNS = (*REQUIRED_COLUMNS, RECEIVED_COLUMN, "offer_matches_reason",
                "months_since_defection")


def _sampled(file_k: tuple[int, str], columns: tuple[str, ...], rate: float, seed: int,
             design: StudyDesign | None, empty: pd.DataFrame) -> pd.DataFrame:
    k, file = file_k
    df = _load_partition(file, columns, design, empty)
    if rate >= 1:
        return df
    keep = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,))).random(len(df))
    return df[keep < rate]


def _design(path: str | os.PathLike, design: StudyDesign | None) -> StudyDesign:
    if design is not None:
        return design
    d = dataset_info(path).get("design")
    return StudyDesign.from_dict(d) if d else KUMAR_2015


def fit_at_scale(
    path: str | os.PathLike,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    link: str = "probit",
    return_formula: str | None = None,
    exact: bool | None = None,
    design: StudyDesign | None = None,
    max_cells: int = MAX_PATTERN_CELLS,
) -> ScoringModels:
    """Fit the scoring models on a partitioned dataset (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A dataset folder (:func:`~winback_study.scale.dataset.simulate_dataset`, or any
        folder of Parquet files in the study's columns).
    sample : int
        Returners in the seeded sample of the second-stage models (and of the return model
        when it cannot be fitted exactly).
    seed : int
        Seed of the sample.
    link : str
        Link of the return model, ``"probit"`` or ``"logit"``.
    return_formula : str, optional
        The return model's formula (default the study's).
    exact : bool, optional
        Fit the return model on pattern counts over every customer: ``None`` (default)
        when its covariates are all discrete and the cells number at most ``max_cells``;
        ``True`` insists (a :class:`DataError` naming a continuous covariate otherwise);
        ``False`` uses the sample.
    design : StudyDesign, optional
        Default: the dataset's (``_dataset.json``), else the study's.
    max_cells : int
        See ``exact``.

    Returns
    -------
    ScoringModels
        ``info`` records how each model was fitted.
    """
    import dask

    if sample < 1:
        raise DataError(f"sample must be a positive number of returners, got {sample}")
    files = _files(path)
    d = _design(path, design)
    formula = return_formula or DEFAULT_RETURN_FORMULA
    outcome, covariates = pattern_columns(formula)
    columns = tuple(dict.fromkeys([*_FIT_COLUMNS, outcome, *covariates]))
    counts = read_dataset(path, [outcome], design=d)[outcome]
    n, n_back = dask.compute(counts.size, counts.sum())
    n, n_back = int(n), int(n_back)
    if n_back == 0:
        raise DataError("nobody in the dataset returned: there is no second lifetime to model",
                        column=outcome, problem="no_returners")
    rate = min(1.0, sample / n_back)
    import dask.dataframe as dd

    meta = partition_layout(files, columns, d)
    load = partial(_sampled, columns=columns, rate=rate, seed=seed, design=d, empty=meta)
    rows = dd.from_map(load, list(enumerate(str(f) for f in files)), meta=meta,
                       enforce_metadata=False, label="sample-study-partition").compute()
    models = fit_scoring_models(rows, return_formula=formula, link=link, design=d)
    info: dict[str, Any] = {
        "dataset": str(Path(path)), "customers": n, "returners": n_back,
        "sample_rate": rate, "sample_customers": len(rows),
        "sample_returners": int(rows[outcome].sum()), "seed": seed,
        "return_model": f"{link} on the seeded sample",
        "second_stage": "Weibull lifetime and log margin on the seeded sample, "
                        "selection-corrected with the sample's probit",
    }
    continuous = [c for c in covariates if not is_discrete(rows[c])]
    if exact and continuous:
        raise DataError(f"the return model cannot be fitted exactly on pattern counts: "
                        f"{continuous} {'is' if len(continuous) == 1 else 'are'} continuous "
                        "(fit it on the sample: exact=False)", column=continuous[0],
                        problem="continuous_covariate")
    if exact is None or exact:
        if not continuous:
            full = read_dataset(path, [*covariates, outcome], design=d)
            cells = (full.groupby([*covariates, outcome], observed=True).size()
                     .rename(COUNT_COLUMN).compute().reset_index())
            if exact or len(cells) <= max_cells:
                ret = fit_return_patterns(cells, formula, link=link, design=d)
                models = replace(models, return_index=ret.index_)
                info["return_model"] = (f"{link} on all {n:,} customers, exactly "
                                        f"({len(cells):,} pattern x outcome cells)")
            else:
                info["return_model"] += (f" ({len(cells):,} pattern cells, more than "
                                         f"{max_cells:,})")
        else:
            info["return_model"] += f" (continuous covariates: {', '.join(continuous)})"
    return replace(models, info=info | {"fitted": dict(models.info)})
