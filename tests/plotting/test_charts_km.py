"""plot_km draws each Kaplan-Meier curve itself (no pandas plot per curve): the same
figure, byte for byte, as lifelines' plot_survival_function did."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest

import winback_study as wb
from winback_study.data.describe import km_curves
from winback_study.plotting.charts import plot_km
from winback_study.plotting.style import use_house_style


@pytest.fixture(scope="module")
def curves():
    return km_curves(wb.simulate_study(6_000, seed=5))


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


@pytest.mark.parametrize("ci", [True, False])
@pytest.mark.parametrize("styled", [True, False])
def test_plot_km_draws_what_lifelines_drew(curves, ci, styled):
    use_house_style()
    colors, styles = (["#000000", "#8C8C8C"], ["-", "--"]) if styled else (None, None)
    fig, ax = plt.subplots()
    plot_km(curves, ax=ax, colors=colors, linestyles=styles, ci=ci, at_risk=False)
    ours = _png(fig)

    fig, ax = plt.subplots()  # the previous implementation, by lifelines (through pandas)
    for i, kmf in enumerate(curves.values()):
        kw = {} if not styled else {"color": colors[i], "linestyle": styles[i]}
        kmf.plot_survival_function(ax=ax, ci_show=ci, **kw)
    ax.set_xlim(0, 84)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(np.arange(0, 85, 12))
    assert ours == _png(fig)


def test_plot_km_draws_two_artists_a_curve(curves):
    fig, ax = plt.subplots()
    plot_km(curves, ax=ax, at_risk=False)
    assert len(ax.lines) == len(curves) and len(ax.collections) == len(curves)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        k._label for k in curves.values()]
    plt.close(fig)
