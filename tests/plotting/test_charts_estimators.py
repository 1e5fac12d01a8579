"""plot_estimators_vs_truth: several estimators of the same terms against the truth."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from winback_study.errors import DataError
from winback_study.plotting.charts import ESTIMATOR_STYLES, plot_estimators_vs_truth
from winback_study.plotting.style import save_figure, use_house_style

TERMS = ["offer_received[discount]", "offer_received[upgrade]", "offer_received[bundled]"]


def _table(coef, half=0.05, extra=("Intercept",)):
    idx = [*extra, *TERMS]
    c = np.r_[np.full(len(extra), 3.0), coef]
    return pd.DataFrame({"coef": c, "ci_low": c - half, "ci_high": c + half}, index=idx)


@pytest.fixture
def inputs():
    truth = pd.Series([3.4, 0.20, 0.28, 0.06], index=["Intercept", *TERMS])
    est = {"naive": _table([0.09, 0.16, -0.06]), "two-step": _table([0.15, 0.21, 0.01]),
           "joint": _table([0.18, 0.24, 0.04])}
    return est, truth


def test_draws_each_estimator_per_term_and_the_truth(inputs):
    est, truth = inputs
    use_house_style()
    ax = plot_estimators_vs_truth(est, truth, labels={TERMS[0]: "discount"})
    # default terms: all but the intercept, first term on top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["discount", *TERMS[1:]]
    lo, hi = ax.get_ylim()
    assert lo > hi  # inverted: the first term is drawn at the top
    # one point per estimator and term, at the estimates, offset within the term's row
    lines = [ln for ln in ax.get_lines() if ln.get_marker() in ("s", "^", "o")]
    assert len(lines) == 3
    assert [c.get_label() for c in ax.containers] == list(est)
    for ln, tab in zip(lines, est.values(), strict=True):
        assert np.allclose(ln.get_xdata(), tab.loc[TERMS, "coef"])
        assert np.all(np.abs(ln.get_ydata() - np.arange(3)) < 0.4)
    # the truth: one vertical bar per term, at the true value
    bars = [c for c in ax.collections if c.get_label() == "truth (simulator)"]
    assert len(bars) == 1
    xs = [seg[0][0] for seg in bars[0].get_segments()]
    assert np.allclose(xs, truth[TERMS])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(labels) == {"naive", "two-step", "joint", "truth (simulator)"}
    plt.close(ax.figure)


def test_styles_distinguish_the_estimators():
    colors = [s["color"] for s in ESTIMATOR_STYLES]
    markers = [s["marker"] for s in ESTIMATOR_STYLES]
    assert len(set(colors)) == len(set(markers)) == 3


def test_two_panels_with_one_legend_export(inputs, tmp_path):
    est, truth = inputs
    use_house_style()
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        plot_estimators_vs_truth(est, truth, TERMS, ax=ax, legend=False)
        assert ax.get_legend() is None
    paths = save_figure(fig, "estimators", tmp_path, close=True)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]


def test_refuses_what_it_cannot_draw(inputs):
    est, truth = inputs
    with pytest.raises(DataError, match="no term"):
        plot_estimators_vs_truth(est, truth, ["offer_received[tailored]"])
    with pytest.raises(DataError, match="'truth"):
        plot_estimators_vs_truth(est, truth.drop(TERMS[0]), TERMS)
    with pytest.raises(DataError, match="no estimates"):
        plot_estimators_vs_truth({}, truth)
    many = {f"e{i}": est["joint"] for i in range(4)}
    with pytest.raises(DataError, match="styles"):
        plot_estimators_vs_truth(many, truth)
    plt.close("all")
