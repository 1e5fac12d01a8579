"""Past one frame: partitioned datasets simulated, fitted and scored with Dask.

* :mod:`~winback_study.scale.dataset`: :func:`simulate_dataset` (one partition at a time)
  and :func:`read_dataset` (each file through the study-table loader);
* :mod:`~winback_study.scale.fit`: :func:`fit_at_scale`, the return model exactly on
  pattern counts where it can be, the second stage on a seeded sample;
* :mod:`~winback_study.scale.score`: :func:`score_dataset`, the in-memory
  :func:`~winback_study.analysis.scoring.score_customers` mapped over the partitions.

Dask is imported only when a function here runs.
"""

from winback_study.scale.dataset import dataset_info, read_dataset, simulate_dataset
from winback_study.scale.fit import fit_at_scale
from winback_study.scale.score import ScoreSummary, score_dataset

__all__ = ["simulate_dataset", "read_dataset", "dataset_info", "fit_at_scale",
           "score_dataset", "ScoreSummary"]
