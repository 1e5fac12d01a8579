"""Every numbered notebook: in sync with its text twin, stored clean, runs top to bottom with
no warning and nothing on stderr, gives the same outputs and byte-identical figures when run
twice, exports no blank figure, and shows the same key numbers as the library.

Each notebook is executed once per session for all the checks (shared between xdist workers
through a file lock), plus once more for the twice-identically check.
"""

import fcntl
import functools
import hashlib
import re
import xml.etree.ElementTree as ET

import jupytext
import nbformat
import numpy as np
import pytest
from PIL import Image

from winback_study.reporting.notebook_runner import execute_notebook, list_notebooks

NOTEBOOKS = list_notebooks()

#: The seed the notebooks are run on (their own default, set explicitly for the kernel).
SEED = 20150701

#: The kernel's environment: warnings are errors (a warning fails its cell), except the
#: one ipykernel itself emits while shutting down, after the notebook has run.
KERNEL_ENV = {
    "WINBACK_SEED": str(SEED),
    "PYTHONWARNINGS": "error,ignore::PendingDeprecationWarning:ipykernel.kernelbase",
}


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("01_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ipynb_matches_its_jupytext_twin_and_has_no_outputs(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} (jupytext twin) is missing"
    nb = nbformat.read(path, as_version=4)
    text = jupytext.read(twin)
    src = [(c.cell_type, c.source.strip()) for c in nb.cells]
    ref = [(c.cell_type, c.source.strip()) for c in text.cells]
    assert src == ref, f"{path.name} differs from {twin.name}: run `make notebooks`"
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{path.name} has stored outputs"


# --- running each notebook once ---------------------------------------------------------

def _run(path, folder):
    """Execute ``path`` into ``folder`` (the notebook and its ``figures/``)."""
    figs = folder / "figures"
    nb = execute_notebook(path, folder / path.name,
                          env={**KERNEL_ENV, "WINBACK_FIGURES_DIR": str(figs)})
    return nb, figs


_RUNS: dict = {}


def executed(path, runs_dir):
    """The notebook run once per session, whichever worker asks first; the others wait."""
    if path.stem not in _RUNS:
        folder = runs_dir / path.stem
        with open(runs_dir / f"{path.stem}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            failed = folder / "FAILED"
            if failed.exists():
                pytest.fail(f"{path.name} failed when run for another test:\n"
                            f"{failed.read_text()[-4000:]}")
            if (folder / path.name).exists():
                nb = nbformat.read(folder / path.name, as_version=4)
            else:
                try:
                    nb, _ = _run(path, folder)
                except Exception as exc:  # a failing cell (a warning is one) fails every check
                    folder.mkdir(parents=True, exist_ok=True)
                    failed.write_text(str(exc))
                    raise
        _RUNS[path.stem] = (nb, folder / "figures")
    return _RUNS[path.stem]


# --- runs top to bottom, twice identically ----------------------------------------------

def _outputs(nb):
    """Every cell's outputs, without kernel timing metadata."""
    return [[{k: v for k, v in o.items() if k != "metadata"} for o in c.get("outputs", [])]
            for c in nb.cells]


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_twice_identically(path, runs_dir, tmp_path):
    nb, figs = executed(path, runs_dir)
    nb2, figs2 = _run(path, tmp_path)

    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "cells ran out of order"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert "winback-study" in str(nb.cells[-1].outputs), "last cell must print the version stamp"
    stems = {p.stem for p in figs.iterdir()}
    assert stems, f"{path.name} exported no figures"
    for stem in stems:
        for ext in ("png", "svg", "pdf"):
            assert (figs / f"{stem}.{ext}").exists(), f"{stem}.{ext} missing"
    assert all(s.startswith(path.stem[:3]) for s in stems), "figure names start with NN_"

    # deterministic: same printed numbers, same inline charts, byte-identical exports
    out1, out2 = _outputs(nb), _outputs(nb2)
    differ = [i for i, (x, y) in enumerate(zip(out1, out2, strict=True)) if x != y]
    assert not differ, (f"{path.name}: outputs of cells {differ} differ between two runs; "
                        f"first: {str(out1[differ[0]])[:600]} ... vs {str(out2[differ[0]])[:600]}"
                        if differ else "")
    da, db = _digests(figs), _digests(figs2)
    assert da == db, f"not byte-stable: {sorted(k for k in da if da[k] != db.get(k))}"


# --- nothing on stderr, no warning ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_writes_nothing_to_stderr_and_raises_no_warning(path, runs_dir):
    """A warning is an error in the kernel (KERNEL_ENV), so it fails the run itself; a
    warning shown some other way, or any other text on stderr, fails here."""
    nb, _ = executed(path, runs_dir)
    stderr = [(i, o.text) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{path.name} wrote to stderr: " + "; ".join(
        f"cell {i}: {t[:400]}" for i, t in stderr)
    shown = [(i, t) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
             for t in [o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))]
             if re.search(r"\w+Warning: ", t)]
    assert not shown, f"{path.name} shows a warning: cell {shown[0][0]}: {shown[0][1][:400]}"


def test_kernel_env_turns_a_warning_into_a_failing_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import warnings\nwarnings.warn('careful', UserWarning)")])
    nbformat.write(nb, tmp_path / "warns.ipynb")
    with pytest.raises(Exception, match="UserWarning"):
        execute_notebook(tmp_path / "warns.ipynb", env=KERNEL_ENV)


# --- no blank figure ----------------------------------------------------------------------

#: Floors for an exported PNG (grey levels 0-255): a blank or near-blank figure is below
#: them; the study's figures are far above (std 38-81, 5-65% of pixels not white).
MIN_PIXEL_STD, MIN_INK = 10.0, 0.01
#: What an axes' SVG group holds when it shows data (besides its background, spines,
#: ticks and text): lines, markers, error bars, areas or an image.
_DATA_IDS = re.compile(r"(line2d|\w*Collection|QuadMesh)_\d+")
_SVG = "{http://www.w3.org/2000/svg}"


def _empty_axes(svg):
    """Ids of the axes in an exported SVG that draw no data."""
    empty = []
    for g in ET.parse(svg).getroot().iter(f"{_SVG}g"):
        if not re.fullmatch(r"axes_\d+", g.get("id", "")):
            continue
        kids = [c.get("id", "") for c in g]
        if all(k.startswith("matplotlib.axis_") for k in kids):
            continue  # a secondary axis (secondary_xaxis): an axis of another axes' data
        patches = sum(k.startswith("patch_") for k in kids)  # background + 4 spines + bars
        if not (any(_DATA_IDS.fullmatch(k) for k in kids) or patches > 5
                or any(True for _ in g.iter(f"{_SVG}image"))):
            empty.append(g.get("id"))
    return empty


def _blank_problems(figs):
    problems = []
    for png in sorted(figs.glob("*.png")):
        grey = np.asarray(Image.open(png).convert("L"), dtype=float)
        std, ink = grey.std(), (grey < 250).mean()
        if std < MIN_PIXEL_STD or ink < MIN_INK:
            problems.append(f"{png.name}: pixel std {std:.1f}, {ink:.1%} not white")
        empty = _empty_axes(png.with_suffix(".svg"))
        if empty:
            problems.append(f"{png.stem}: axes without data {empty}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_exported_figure_is_blank(path, runs_dir):
    _, figs = executed(path, runs_dir)
    assert sorted(figs.glob("*.png")), f"{path.name} exported no PNG"
    assert not _blank_problems(figs)


def test_the_blank_figure_checks_can_fail(tmp_path):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.plot([0, 1], [0, 1])
    ax2.set_title("nothing here")
    for ext in ("png", "svg"):
        fig.savefig(tmp_path / f"half.{ext}")
    plt.close(fig)
    fig = plt.figure()
    for ext in ("png", "svg"):
        fig.savefig(tmp_path / f"blank.{ext}")
    plt.close(fig)
    problems = _blank_problems(tmp_path)
    assert any(p.startswith("blank.png: pixel std 0.0") for p in problems), problems
    assert "half: axes without data ['axes_2']" in problems, problems
    assert not any(p.startswith("half.png") for p in problems), problems


# --- the key numbers each notebook shows equal the library's ----------------------------

def key_numbers(nb):
    """The 'Key numbers' table (one ``value`` column) the notebook shows, as a dict."""
    heads = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "markdown" and c.source.startswith("## Key numbers")]
    assert len(heads) == 1, "the notebook needs one '## Key numbers' section"
    text = nb.cells[heads[0] + 1].outputs[0]["data"]["text/plain"]
    lines = text.splitlines()
    assert lines[0].split() == ["value"] and "..." not in text, text[:400]
    out = {}
    for line in lines[1:]:
        name, value = line.rsplit(None, 1)
        for kind in (int, float, str):
            try:
                out[name.strip()] = kind(value)
                break
            except ValueError:
                continue
    return out


@functools.lru_cache(maxsize=2)
def _population(n, seed, **kwargs):
    from winback_study import simulate_study

    return simulate_study(n, seed=seed, **kwargs)


def _library_01(k):
    from winback_study.data.describe import return_rate_table

    df = _population(k["n_customers"], k["seed"])
    back = df[df["reacquired"] == 1]
    exp = {"seed": SEED, "n_customers": len(df), "reacquired": int(df["reacquired"].sum())}
    exp |= {f"return_rate.reason.{r}": v
            for r, v in return_rate_table(df, "defection_reason")["return_rate"].items()}
    exp |= {f"return_rate.offer.{o}": v
            for o, v in return_rate_table(df, "offer")["return_rate"].items()}
    return exp | {"clv_first_mean": df["clv_first"].mean(), "slv_mean_reacquired":
                  back["slv"].mean(), "slv_observed_mean_reacquired": back["slv_observed"].mean()}


def _library_02(k):
    from winback_study import fit_return_model

    df = _population(k["n_customers"], k["seed"])
    exp = {"seed": SEED, "n_customers": len(df)}
    for link in ("logit", "probit"):
        m = fit_return_model(df, link=link, holdout=0.3, seed=k["seed"])
        exp |= {f"{link}.{term}": v for term, v in m.params.items()}
        exp[f"{link}.holdout_auc"] = m.holdout_evaluation.auc
    return exp


def _sbg_branch(counts):
    from winback_study.models.sbg import SBGBoundaryError, fit_sbg

    try:
        fit = fit_sbg(counts)
        return {"path": "fit", "alpha": fit.alpha, "beta": fit.beta}
    except SBGBoundaryError as exc:
        return {"path": "boundary", "churn": exc.geometric.churn}


def _library_04(k):
    from winback_study.analysis.customer_value import expected_slv
    from winback_study.data.published import FADER_HARDIE_REGULAR
    from winback_study.models.sbg import survivor_counts
    from winback_study.models.second_lifetime import fit_second_lifetime
    from winback_study.models.second_profit import fit_second_profit
    from winback_study.models.selection import fit_selection

    df = _population(k["n_customers"], k["seed"], include_latent=True)
    back = df[df["reacquired"] == 1].copy()
    probit = fit_selection(df)
    back["slv_model"] = expected_slv(
        back, fit_second_lifetime(df, model="weibull", selection=probit),
        fit_second_profit(df, selection=probit))
    exp = {"seed": SEED, "n_customers": len(df), "reacquired": len(back),
           "slv_model_mean": back["slv_model"].mean(), "clv_first_mean": df["clv_first"].mean()}
    for col, label in (("defection_reason", "reason"), ("offer", "offer")):
        exp |= {f"slv_model.{label}.{g}": v for g, v in
                back.groupby(col, observed=True)["slv_model"].mean().items()}
    cohorts = {
        "first": survivor_counts(df["first_tenure_months"], period=12, n_periods=7,
                                 method="complete"),
        "second": survivor_counts(back["second_tenure_months"], back["second_churned"], 12,
                                  method="km"),
        "published": FADER_HARDIE_REGULAR.iloc[:8],
    }
    for short, counts in cohorts.items():
        exp |= {f"sbg.{short}.{f}": v for f, v in _sbg_branch(counts).items()}
    return exp


def _library_05(k):
    from winback_study.analysis.offer_experiment import break_even_cost, offer_experiment

    df = _population(k["n_customers"], k["seed"], n_per_arm=k["n_per_arm"],
                     include_latent=True)
    costs = {c.removeprefix("cost."): v for c, v in k.items() if c.startswith("cost.")}
    res = offer_experiment(df, costs=costs, n_boot=k["n_boot"], seed=k["seed"])
    exp = {"seed": SEED, "n_customers": len(df), "n_per_arm": k["n_per_arm"],
           "n_boot": k["n_boot"]} | {f"cost.{o}": c for o, c in costs.items()}
    exp |= {f"{col}.{arm}": v for col in ("response_rate", "net_profit", "roi")
            for arm, v in res.arms[col].items()}
    return exp | {"top_roi": res.ranking("roi")[0], "top_profit": res.ranking("net_profit")[0],
                  "break_even_upgrade_cost": break_even_cost(res, "upgrade", "discount")}


def _library_06(k):
    import winback_study as wb
    from winback_study.analysis.targeting import best_offer_by_segment, holdout_mask

    df = _population(k["n_customers"], k["seed"])
    costs = {c.removeprefix("cost."): v for c, v in k.items() if c.startswith("cost.")}
    budgets = tuple(v for b, v in k.items() if b.startswith("budget."))
    train = holdout_mask(len(df), share=0.5, seed=k["seed"])
    hold = df[~train]
    scores = wb.score_offers(hold, wb.fit_return_model(df[train], link="probit"), costs=costs)
    policies = wb.policy_table(scores, hold, budgets=budgets, per=k["per"])
    singles = policies.loc[policies["kind"] == "one offer", "profit"]
    exp = {"seed": SEED, "n_customers": len(df), "per": k["per"]}
    exp |= {f"budget.{i}": b for i, b in enumerate(budgets)} | {
        f"cost.{o}": c for o, c in costs.items()}
    exp |= {f"profit.{name}": v for name, v in policies["profit"].items()}
    exp |= {"top_single_offer": singles.idxmax().removeprefix("all "),
            "model_gain_over_top_single":
                policies.loc["model: best offer per customer", "profit"] - singles.max()}
    best = best_offer_by_segment(scores, hold, objective="profit")["best_offer"]
    return exp | {f"segments_led.profit.{o}": n for o, n in best.value_counts().items()}


def _library_03(k):
    from winback_study import fit_joint_model, fit_second_lifetime, fit_second_profit
    from winback_study.models.selection import fit_selection

    df = _population(k["n_customers"], k["seed"], include_latent=True)
    probit = fit_selection(df)
    fits = {"lifetime.naive": fit_second_lifetime(df, model="weibull", selection=None),
            "lifetime.two_step": fit_second_lifetime(df, model="weibull", selection=probit),
            "margin.naive": fit_second_profit(df, selection=None),
            "margin.two_step": fit_second_profit(df, selection=probit)}
    joint = fit_joint_model(df).summary
    offers = [t for t in fits["lifetime.naive"].summary.index
              if t.startswith("offer_received")]
    exp = {"seed": SEED, "n_customers": len(df), "reacquired": int(df["reacquired"].sum())}
    for name, fit in fits.items():
        exp |= {f"{name}.{t}": fit.summary.loc[t, "coef"] for t in offers}
    exp |= {f"lifetime.joint.{t}": joint.loc[("second_lifetime", t), "coef"] for t in offers}
    exp |= {f"margin.joint.{t}": joint.loc[("second_profit", t), "coef"] for t in offers}
    return exp | {f"latent.{t}": v for t, v in joint.loc["latent", "coef"].items()}


LIBRARY = {"01": _library_01, "02": _library_02, "03": _library_03, "04": _library_04,
           "05": _library_05, "06": _library_06}


def _mismatches(shown, expected):
    bad = sorted(set(shown) ^ set(expected))
    bad = [f"{k}: only {'in the notebook' if k in shown else 'from the library'}" for k in bad]
    for k in sorted(set(shown) & set(expected)):
        s, e = shown[k], expected[k]
        if isinstance(e, str) or isinstance(s, str):
            ok = str(s) == str(e)
        else:
            ok = s == pytest.approx(float(e), rel=1e-9, abs=1e-12, nan_ok=True)
        if not ok:
            bad.append(f"{k}: notebook {s!r}, library {e!r}")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] in LIBRARY],
                         ids=lambda p: p.stem)
def test_key_numbers_equal_the_library(path, runs_dir):
    nb, _ = executed(path, runs_dir)
    shown = key_numbers(nb)
    assert shown["seed"] == SEED
    bad = _mismatches(shown, LIBRARY[path.stem[:2]](shown))
    assert not bad, f"{path.name}: " + "; ".join(bad)


@pytest.mark.slow
def test_notebook_04_takes_both_branches_of_the_sbg_fit(runs_dir):
    """The simulated lifetimes hit the sBG boundary (the ``except SBGBoundaryError``
    fallback to the geometric limit), the published cohort fits normally; the notebook
    records which branch each took and draws each with its own label."""
    path = next(p for p in NOTEBOOKS if p.stem.startswith("04_"))
    nb, _ = executed(path, runs_dir)
    shown = key_numbers(nb)
    paths = {c: shown[f"sbg.{c}.path"] for c in ("first", "second", "published")}
    assert paths == {"first": "boundary", "second": "boundary", "published": "fit"}
    # the fit matches Fader & Hardie's published estimates
    from winback_study.data.published import FADER_HARDIE_REGULAR_FIT

    assert shown["sbg.published.alpha"] == pytest.approx(FADER_HARDIE_REGULAR_FIT["alpha"],
                                                         abs=1e-3)
    assert shown["sbg.published.beta"] == pytest.approx(FADER_HARDIE_REGULAR_FIT["beta"],
                                                        abs=1e-3)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "first lifetime: sBG at its boundary; geometric limit" in text
    assert "Fader & Hardie regular cohort (published): sBG alpha 0.70" in text


def test_key_numbers_compare_can_fail():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Key numbers"),
        nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/plain": "               value\nseed        20150701\n"
                                                   "roi.a    1.234567891234\nbest a   discount"},
            execution_count=1)])])
    shown = key_numbers(nb)
    assert shown == {"seed": 20150701, "roi.a": 1.234567891234, "best a": "discount"}
    assert not _mismatches(shown, {"seed": SEED, "roi.a": 1.2345678912341, "best a": "discount"})
    assert _mismatches(shown, {"seed": SEED, "roi.a": 1.2345679, "best a": "upgrade",
                               "extra": 1}) == ["extra: only from the library",
                                                "best a: notebook 'discount', library 'upgrade'",
                                                "roi.a: notebook 1.234567891234, library 1.2345679"]


def test_stream_output_is_one_block_however_the_kernel_flushes(tmp_path):
    """Flush timing varies with machine load; the saved notebook must not."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, time\nprint('a')\nsys.stdout.flush()\ntime.sleep(0.3)\nprint('b')")])
    src = tmp_path / "flush.ipynb"
    nbformat.write(nb, src)
    out = execute_notebook(src)
    streams = [o for o in out.cells[0].outputs if o.output_type == "stream"]
    assert len(streams) == 1 and streams[0].text == "a\nb\n"
