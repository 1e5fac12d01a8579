"""What every fitted regression of the study's equations shares above the result convention.

:class:`RegressionResult` adds the coefficient plot (handed off to
:func:`winback_study.plotting.charts.plot_coefficients`) to
:class:`~winback_study.core.results.FittedResult`; the return, second-lifetime and
second-profit results derive from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from winback_study.core.results import FittedResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["RegressionResult"]


class RegressionResult(FittedResult):
    """A fitted regression: the shared result convention plus its coefficient plot."""

    def plot_coefficients(self, ax: Axes | None = None, terms: Sequence[str] | None = None,
                          ratio: bool = False) -> Axes:
        """Coefficients (or their ratios: odds, hazard, time, margin) with their intervals
        (:func:`winback_study.plotting.charts.plot_coefficients`)."""
        from winback_study.plotting.charts import plot_coefficients

        return plot_coefficients(self, ax=ax, terms=terms, ratio=ratio)
