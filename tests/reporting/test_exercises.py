"""Every exercise's worked solution, checked: each notebook's ``## Exercises`` section puts
its answers in ``answer_N_k`` variables and prints them (a hidden cell tagged ``solution``
and ``remove-cell``) as one JSON line; the notebook is run once per session (shared with
``test_notebooks.py``), and each answer is recomputed here with the library on the same
simulated population, or checked against what it claims (a break-even cost is one: the
lead changes hands just above it). Also: the structure every exercise follows, the
student copies without solutions, and the what-if sliders of notebook 05.
"""

import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from test_notebooks import NOTEBOOKS, SEED, _population, executed

import winback_study as wb

ROOT = Path(__file__).resolve().parents[2]
BY_NUMBER = {p.stem[:2]: p for p in NOTEBOOKS}
N = 53_000
EXERCISE = re.compile(r"^### Exercise (\d)\.(\d) \((warm-up|core|extension)\): \S")


def answers(nb) -> dict:
    """The answers a notebook's solutions computed (its ``answers {...}`` line)."""
    lines = [o["text"] for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream"
             and o["text"].startswith("answers ")]
    assert len(lines) == 1, "the notebook must print its answers once"
    return json.loads(lines[0].removeprefix("answers "))


def frame(d: dict) -> pd.DataFrame:
    return pd.DataFrame(d["data"], index=d["index"], columns=d["columns"])


def assert_table(got: dict, expected: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Shape, labels and every value of an answer table against the library's."""
    g = frame(got)
    assert g.shape == expected.shape
    assert [str(i) for i in g.index] == [str(i) for i in expected.index]
    assert [str(c) for c in g.columns] == [str(c) for c in expected.columns]
    for col in expected.columns:
        e = expected[col]
        if pd.api.types.is_numeric_dtype(e):
            np.testing.assert_allclose(g[col].to_numpy(float), e.to_numpy(float), rtol=rtol,
                                       err_msg=str(col))
        else:
            assert list(g[col]) == [str(v) for v in e], col


# --- the shape every exercise follows, and the student copies ----------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_three_exercises_with_hand_in_and_a_folded_solution(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    heads = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
             and c.source.startswith("### Exercise")]
    assert len(heads) >= 3, f"{path.name}: {len(heads)} exercises"
    levels = []
    for k, i in enumerate(heads, start=1):
        m = EXERCISE.match(cells[i].source)
        assert m, cells[i].source.splitlines()[0]
        assert (m[1], m[2]) == (path.stem[1], str(k)), "exercises numbered N.1, N.2, ..."
        levels.append(m[3])
        src = cells[i].source
        assert "**Hand in:**" in src and "{exercise-start}" in src and "{exercise-end}" in src
        assert f":label: ex-{m[1]}-{m[2]}" in src
        opening = cells[i + 1]
        assert "solution" in opening.metadata.get("tags", [])
        assert f"{{solution-start}} ex-{m[1]}-{m[2]}" in opening.source
        assert ":class: dropdown" in opening.source  # folded by default
        end = next(j for j in range(i + 1, len(cells)) if "{solution-end}" in cells[j].source)
        block = cells[i + 1:end + 1]
        assert all("solution" in c.metadata.get("tags", []) for c in block)
        code = "\n".join(c.source for c in block if c.cell_type == "code")
        assert f"answer_{m[1]}_{m[2]} =" in code, f"exercise {m[1]}.{m[2]} sets no answer"
    assert levels[0] == "warm-up" and levels[-1] == "extension" and "core" in levels
    # the section sits before the key numbers and the version stamp
    keys = next(i for i, c in enumerate(cells) if c.source.startswith("## Key numbers"))
    assert max(heads) < keys


def _student_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "student_notebooks", ROOT / "scripts" / "student_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_student_copies_keep_the_exercises_and_drop_every_solution(tmp_path):
    written = _student_module().write_student_notebooks(tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for path, original in zip(written, NOTEBOOKS, strict=True):
        nb = nbformat.read(path, as_version=4)
        src = nbformat.read(original, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert "{solution-start}" not in text and "answer_" not in "\n".join(
            c.source for c in nb.cells if c.cell_type == "code")
        assert text.count("### Exercise") == "\n".join(
            c.source for c in src.cells).count("### Exercise") >= 3
        kept = [c.source for c in src.cells if "solution" not in c.metadata.get("tags", [])]
        assert [c.source for c in nb.cells] == kept  # nothing else removed
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_the_strip_removes_only_what_is_tagged(tmp_path):
    strip = _student_module().strip_solutions
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("### Exercise 1.1 (warm-up): x"),
        nbformat.v4.new_code_cell("answer_1_1 = 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["hide-input"]})])
    out = strip(nb)
    assert [c.source for c in out.cells] == ["### Exercise 1.1 (warm-up): x", "y = 2"]


# --- every solution's answer, recomputed -------------------------------------------------

@pytest.mark.slow
def test_exercises_01(runs_dir):
    from winback_study.data.describe import complaint_status, referral_band, return_rate_table

    a = answers(executed(BY_NUMBER["01"], runs_dir)[0])
    df = _population(N, SEED)
    rate = df.groupby("offer", observed=True)["reacquired"].mean()  # plain pandas
    assert a["answer_1_1"] == pytest.approx(100 * (rate["bundled"] - rate["none"]), abs=1e-9)
    none = df[df["offer"] == "none"]
    expected = return_rate_table(none, "defection_reason")
    assert_table(a["answer_1_2"], expected)
    by_reason = none.groupby("defection_reason", observed=True)["reacquired"].mean()
    assert a["answer_1_2_top"] == by_reason.idxmax() == "price"
    rates = return_rate_table(df, [referral_band(df), complaint_status(df)])[
        "return_rate"].unstack()
    assert_table(a["answer_1_3"], rates)
    assert frame(a["answer_1_3"]).shape == (4, 3)
    # what the figure's title states: more referrals, more returns in every complaint group
    assert (np.diff(frame(a["answer_1_3"]).to_numpy(float), axis=0) > 0).all()


@pytest.mark.slow
def test_exercises_02(runs_dir):
    a = answers(executed(BY_NUMBER["02"], runs_dir)[0])
    df = _population(N, SEED)
    logit = wb.fit_return_model(df, link="logit", holdout=0.3, seed=SEED)
    b = logit.params["referrals"]
    assert a["answer_2_1"]["odds_ratio"] == pytest.approx(math.exp(b), rel=1e-9)
    assert a["answer_2_1"]["three_referrals_change"] == pytest.approx(math.exp(3 * b) - 1,
                                                                      rel=1e-9)
    formula = (wb.models.return_probability.DEFAULT_RETURN_FORMULA
               + " + referrals:complaints_resolved")
    with_term = wb.fit_return_model(df, formula, link="logit")
    term = with_term.summary.loc["referrals:complaints_resolved"]
    got = a["answer_2_2"]
    for k in ("coef", "ci_low", "ci_high", "p_value"):
        assert got[k] == pytest.approx(term[k], rel=1e-6, abs=1e-9), k
    assert got["aic_change"] == pytest.approx(
        with_term.aic - wb.fit_return_model(df, link="logit").aic, abs=1e-6)
    # the solution's conclusion: no evidence (the simulator has no such term)
    assert got["ci_low"] < 0 < got["ci_high"] and got["p_value"] > 0.05
    customer = df[df["customer_id"] == a["answer_2_3_customer"]]
    first = df[(df["defection_reason"] == "service") & (df["referrals"] == 2)
               & (df["complaints"] > df["complaints_resolved"])].iloc[0]
    assert first["customer_id"] == a["answer_2_3_customer"]
    arms = list(wb.KUMAR_2015.arms)
    expected = pd.DataFrame({"p_return": [float(logit.predict(customer, offer=arm).iloc[0])
                                          for arm in arms]}, index=arms)
    assert_table(a["answer_2_3"], expected, rtol=1e-7)


@pytest.mark.slow
def test_exercises_03(runs_dir):
    from winback_study.data.describe import km_summary
    from winback_study.models.second_lifetime import (
        fit_second_lifetime,
        true_second_lifetime_effects,
    )
    from winback_study.models.selection import fit_selection, selection_bias_table

    a = answers(executed(BY_NUMBER["03"], runs_dir)[0])
    df = _population(N, SEED, include_latent=True)
    km = km_summary(df, "offer").xs("second", level="lifetime")
    assert a["answer_3_1"] == pytest.approx(km.loc["upgrade", "median"]
                                            - km.loc["bundled", "median"])
    weib = fit_second_lifetime(df, model="weibull", selection=fit_selection(df))
    customer = df[df["customer_id"] == a["answer_3_2"]["customer_id"]]
    assert customer[["reacquired", "referrals"]].iloc[0].tolist() == [1, 2]
    assert customer["offer"].iloc[0] == "bundled"
    assert customer["defection_reason"].iloc[0] == "service"
    for offer in ("bundled", "upgrade"):
        expected = weib.predict_median(wb.KUMAR_2015.assign(customer, offer)).iloc[0]
        assert a["answer_3_2"][offer] == pytest.approx(expected, rel=1e-6), offer
    naive = fit_second_lifetime(df, model="weibull", selection=None)
    bias = selection_bias_table(true_second_lifetime_effects(df), naive.summary, weib.summary)
    offers = ["discount", "upgrade", "bundled"]
    rows = bias.loc[[f"offer_received[{o}]" for o in offers]]
    expected = pd.DataFrame({
        "truth": rows["truth"].to_numpy(), "naive": rows["naive"].to_numpy(),
        "corrected": rows["corrected"].to_numpy(),
        "share_removed": 1 - (np.abs(rows["corrected"] - rows["truth"])
                              / np.abs(rows["naive"] - rows["truth"])).to_numpy()},
        index=offers)
    assert_table(a["answer_3_3"], expected, rtol=1e-6)
    assert (frame(a["answer_3_3"])["share_removed"] > 0).all()  # the correction helps


@pytest.mark.slow
def test_exercises_04(runs_dir):
    from winback_study.analysis.customer_value import (
        expected_slv,
        slv_discount_sensitivity,
        win_back_values,
    )
    from winback_study.data.published import get
    from winback_study.models.second_lifetime import fit_second_lifetime
    from winback_study.models.second_profit import fit_second_profit
    from winback_study.models.selection import fit_selection

    a = answers(executed(BY_NUMBER["04"], runs_dir)[0])
    df = _population(N, SEED, include_latent=True)
    probit = fit_selection(df)
    lifetime = fit_second_lifetime(df, model="weibull", selection=probit)
    profit = fit_second_profit(df, selection=probit)
    back = df[df["reacquired"] == 1]
    slv = expected_slv(back, lifetime, profit)
    assert a["answer_4_1"] == pytest.approx(100 * (np.mean(slv) / back["clv_first"].mean() - 1),
                                            rel=1e-6)
    # at the rate handed in, the model's mean SLV is the published one (up to interpolation)
    at_rate = slv_discount_sensitivity(df, lifetime, profit, rates=(a["answer_4_2"],))
    assert at_rate["expected_slv"].iloc[0] == pytest.approx(get("P4.slv").value, abs=3.0)
    rng = np.random.default_rng(SEED)
    sample = df.iloc[np.sort(rng.choice(len(df), 8000, replace=False))]
    attempts = win_back_values(sample, lifetime, profit)
    reason = sample["defection_reason"].reindex(attempts.index.get_level_values(0)).to_numpy()
    inc = (attempts["incremental_value"].groupby(
        [reason, attempts.index.get_level_values("offer")]).mean().unstack())
    rows = []
    for r, o in wb.KUMAR_2015.matching.items():
        values = inc.loc[r, ["discount", "upgrade", "bundled", "tailored"]]
        rows.append({"best_offer": values.idxmax(), "best_value": values.max(),
                     "matching_offer": o, "matching_value": values[o],
                     "gap": values.max() - values[o]})
    expected = pd.DataFrame(rows, index=list(wb.KUMAR_2015.matching))
    assert_table(a["answer_4_3"], expected, rtol=1e-6)


@pytest.mark.slow
def test_exercises_05(runs_dir):
    nb, figs = executed(BY_NUMBER["05"], runs_dir)
    a = answers(nb)
    df = _population(N, SEED, n_per_arm=10_000, include_latent=True)
    t = wb.arm_summary(df)
    n = t["offered"]
    net = ((t["response_rate"] - t["baseline_rate"]) * n * t["value_per_reacquired"]
           - t["response_rate"] * n * t["cost_per_reacquired"])  # from its definition
    assert a["answer_5_1"]["by_profit"] == list(net.sort_values(ascending=False).index)
    assert a["answer_5_1"]["top_net_profit"] == pytest.approx(net.max(), rel=1e-9)
    assert a["answer_5_1"]["by_roi"] == list(t["roi"].sort_values(ascending=False).index)
    # the break-even cost: the upgrade leads just below it, the rival just above
    limit, rival = a["answer_5_2"]["break_even_cost"], a["answer_5_2"]["next_best"]
    assert wb.arm_summary(df, costs={"upgrade": limit - 0.5})["roi"].idxmax() == "upgrade"
    assert wb.arm_summary(df, costs={"upgrade": limit + 0.5})["roi"].idxmax() == rival
    # at the baseline handed in, the upgrade's ROI is zero; below it, positive
    up = t.loc["upgrade"]
    args = (up["value_per_reacquired"], up["cost_per_reacquired"])
    assert wb.incremental_roi(up["response_rate"], a["answer_5_3"] / 100, *args) == \
        pytest.approx(0, abs=1e-9)
    assert wb.incremental_roi(up["response_rate"], a["answer_5_3"] / 100 - 0.01, *args) > 0
    # the what-if view is drawn as a normal output (the static site shows it) and exported
    assert (figs / "05_what_if_costs_and_baseline.png").exists()
    what_if = next(c for c in nb.cells if c.cell_type == "code" and "interactive(" in c.source)
    assert any("image/png" in o.get("data", {}) for o in what_if.outputs)
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in what_if.outputs)  # a batch run shows no dead widget


@pytest.mark.slow
def test_exercises_06(runs_dir):
    from winback_study.analysis.targeting import holdout_mask

    a = answers(executed(BY_NUMBER["06"], runs_dir)[0])

    def power(p1, p2, n, alpha):  # two-sided normal power on Cohen's h, by hand
        h = abs(2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1)))
        z = norm.ppf(1 - alpha / 2)
        return norm.cdf(h * math.sqrt(n / 2) - z) + norm.cdf(-h * math.sqrt(n / 2) - z)

    got = a["answer_6_1"]
    n = got["n_per_arm"]
    assert power(0.45, 0.48, n, 0.05) >= 0.8 > power(0.45, 0.48, n - 1, 0.05)
    assert got["power_at_10000"] == pytest.approx(100 * power(0.45, 0.48, 10_000, 0.05),
                                                  rel=1e-6)
    got = a["answer_6_2"]
    assert got["n_comparisons"] == math.comb(5, 2)
    n = got["n_per_arm"]
    assert power(0.45, 0.47, n, 0.05 / 10) >= 0.8 > power(0.45, 0.47, n - 1, 0.05 / 10)
    assert got["total"] == 5 * n
    assert got["power_at_10000"] == pytest.approx(100 * power(0.45, 0.47, 10_000, 0.005),
                                                  rel=1e-6)
    df = _population(N, SEED)
    train = holdout_mask(len(df), share=0.5, seed=SEED)
    hold = df[~train]
    scores = wb.score_offers(hold, wb.fit_return_model(df[train], link="probit"))
    gain = wb.gain_curve(hold, scores.probability["discount"], "discount")
    cols = ["contacted", "response_rate", "incremental", "profit"]
    expected = pd.DataFrame({f"top {s:.0%}": gain.at(s)[cols] for s in (0.3, 1.0)}).T
    expected["profit_per_contacted"] = expected["profit"] / expected["contacted"]
    assert_table(a["answer_6_3"], expected, rtol=1e-7)


# --- the sliders of notebook 05, live ----------------------------------------------------

@pytest.mark.slow
def test_notebook_05_sliders_redraw_with_the_library_roi(tmp_path, monkeypatch):
    """The experiment's cells and the what-if section of notebook 05 run as in JupyterLab
    (no WINBACK_FIGURES_DIR): the sliders exist, and moving two of them redraws the chart
    with the ROI the library computes for those costs and baseline.

    The cells run in this process, where ipywidgets work without a front end (setting a
    slider's value calls the redraw, as a browser's change does): a kernel round trip of
    widget messages through nbclient hung now and then under pytest."""
    import ipywidgets
    import matplotlib.pyplot as plt

    src = nbformat.read(BY_NUMBER["05"], as_version=4)
    cells = src.cells
    starts = {c.source.splitlines()[0]: i for i, c in enumerate(cells)
              if c.cell_type == "markdown" and c.source.startswith("## ")}
    headline = next(i for h, i in starts.items() if h.startswith("## The headline picture"))
    what_if = next(i for h, i in starts.items() if h.startswith("## What if?"))
    end = next(i for h, i in starts.items() if i > what_if)
    monkeypatch.delenv("WINBACK_FIGURES_DIR", raising=False)
    monkeypatch.setenv("WINBACK_SEED", str(SEED))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
    ns: dict = {"__name__": "notebook05"}
    for cell in cells[:headline] + cells[what_if:end]:
        if cell.cell_type == "code":
            exec(compile(cell.source, "05_offer_experiment", "exec"), ns)
    sliders = ns["sliders"]
    assert isinstance(sliders, ipywidgets.Box)
    names = [w.description for w in sliders.children[:-1]]
    sliders.children[1].value = 160.0
    sliders.children[3].value = 25.0
    view = ns["WHAT_IF"]
    assert names == ["discount (USD)", "upgrade (USD)", "bundled (USD)", "no offer (%)"]
    assert view["costs"] == {"discount": 120.0, "upgrade": 160.0, "bundled": 225.0}
    assert view["baseline"] == pytest.approx(0.25)
    df = _population(N, SEED, n_per_arm=10_000, include_latent=True)
    t = wb.arm_summary(df, costs=view["costs"])
    expected = wb.incremental_roi(t["response_rate"].to_numpy(), 0.25,
                                  t["value_per_reacquired"].to_numpy(),
                                  t["cost_per_reacquired"].to_numpy())
    np.testing.assert_allclose(view["roi"][t.index].to_numpy(), expected, rtol=1e-9)
    # the sliders' view differs from the default one: the chart moved
    assert view["roi"]["upgrade"] < wb.arm_summary(df)["roi"]["upgrade"]
    assert not list(tmp_path.iterdir()), "a slider move must not export files"
