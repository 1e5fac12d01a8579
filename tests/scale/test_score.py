"""Scoring a partitioned base with Dask: the in-memory scorer on every partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import winback_study.scale.score as score_module
from winback_study.analysis.scoring import score_columns, score_customers
from winback_study.cli import main
from winback_study.errors import DataError
from winback_study.models.portable import ScoringModels
from winback_study.models.return_patterns import fit_return_patterns, return_patterns
from winback_study.models.return_probability import fit_return_model
from winback_study.scale.dataset import simulate_dataset
from winback_study.scale.fit import fit_at_scale
from winback_study.scale.score import MODELS_FILE, score_dataset

DISCRETE = ("reacquired ~ referrals + complaints + complaints_resolved + defection_reason"
            " + offer_received + offer_matches_reason + first_tenure_months"
            " + months_since_defection")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return simulate_dataset(tmp_path_factory.mktemp("base") / "base", 60_000, seed=21,
                            partition_size=15_000)


@pytest.fixture(scope="module")
def frame(base):
    return pd.concat([pd.read_parquet(f) for f in sorted(base.glob("part-*.parquet"))],
                     ignore_index=True)


@pytest.fixture(scope="module")
def models(base):
    return fit_at_scale(base, sample=8_000, seed=1)


def _scores(path):
    return pd.concat([pd.read_parquet(f) for f in sorted(path.glob("part-*.parquet"))],
                     ignore_index=True)


def test_fit_at_scale_is_the_in_memory_fit_of_its_sample(base, frame, models):
    assert models.info["customers"] == len(frame)
    assert 7_000 < models.info["sample_returners"] < 9_000
    again = fit_at_scale(base, sample=8_000, seed=1)
    assert again.to_dict() == models.to_dict()  # seeded
    other = fit_at_scale(base, sample=8_000, seed=2)
    assert other.lifetime_index.coef != models.lifetime_index.coef
    assert "continuous covariates: first_monthly_margin" in models.info["return_model"]


def test_the_exact_return_fit_equals_the_row_level_fit(base, frame):
    m = fit_at_scale(base, sample=8_000, seed=1, return_formula=DISCRETE)
    assert "exactly" in m.info["return_model"]
    rows = fit_return_model(frame, DISCRETE, link="probit")
    np.testing.assert_allclose(m.return_index(frame), rows.index(frame).to_numpy(),
                               rtol=0, atol=1e-8)
    cells = fit_return_patterns(return_patterns(frame, DISCRETE), DISCRETE)
    assert m.return_index.coef == pytest.approx(cells.index_.coef, abs=1e-10)
    with pytest.raises(DataError, match="first_monthly_margin") as info:
        fit_at_scale(base, sample=8_000, exact=True)
    assert info.value.problem == "continuous_covariate"


@pytest.mark.slow
def test_a_local_cluster_scores_as_the_in_memory_function(base, frame, models, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        summary = score_dataset(base, tmp_path / "scores", models,
                                scheduler=cluster.scheduler_address, progress=False)
    got = _scores(tmp_path / "scores")
    want = score_customers(frame, models)
    assert list(got.columns) == score_columns(models.design)
    num = [c for c in want.columns if c != "best_arm"]
    np.testing.assert_allclose(got[num].to_numpy(), want[num].to_numpy(), rtol=1e-12, atol=0)
    assert (got["best_arm"].astype(str) == want["best_arm"].astype(str)).all()
    assert summary.customers == len(frame) and summary.partitions == 4
    assert summary.total_value == pytest.approx(want["best_value"].sum(), rel=1e-12)
    per_arm = want.groupby("best_arm", observed=False).size()
    assert summary.by_best_arm["customers"].to_dict() == per_arm.to_dict()
    assert ScoringModels.load(tmp_path / "scores" / MODELS_FILE).to_dict() == models.to_dict()


def test_local_threads_score_as_the_in_memory_function(base, frame, models, tmp_path):
    summary = score_dataset(base, tmp_path / "scores", models, progress=False)
    got, want = _scores(tmp_path / "scores"), score_customers(frame, models)
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_exact=True,
                                  check_categorical=False)
    # the mean predicted return of each arm's customers is its response rate
    calib = summary.calibration
    assert set(calib.index) == set(models.design.arms)
    assert (calib["difference_pp"].abs() < 1.0).all(), calib
    assert "scored 60,000 customers in 4 partitions" in summary.summary()


def test_a_bad_row_is_named_and_nothing_is_written(base, models, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in sorted(base.glob("part-*.parquet")):
        df = pd.read_parquet(f)
        if f.name == "part-00002.parquet":
            df.loc[41, "first_tenure_months"] = -5
        df.to_parquet(bad / f.name, index=False)
    with pytest.raises(DataError) as info:
        score_dataset(bad, tmp_path / "out", models, progress=False, scheduler="synchronous")
    assert "part-00002.parquet" in str(info.value) and info.value.rows == [42]
    assert info.value.column == "first_tenure_months"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # no partial output


def test_an_interrupted_score_leaves_no_output(base, models, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = score_module.score_customers

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(score_module, "score_customers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_dataset(base, tmp_path / "out", models, progress=False, scheduler="synchronous")
    assert calls["n"] == 3
    assert list(tmp_path.iterdir()) == []


def test_the_command_line(tmp_path, capsys):
    assert main(["simulate", "--customers", "30000", "--seed", "3", "--partition-size",
                 "10000", "--out", str(tmp_path / "base")]) == 0
    assert "in 3 partitions" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "base"), "--out", str(tmp_path / "scores"),
                 "--sample", "4000", "--model", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "scored 30,000 customers" in out and "customers by best arm" in out
    assert (tmp_path / "m.json").exists()
    first = _scores(tmp_path / "scores")
    # the saved models are read back: the same scores
    assert main(["score", str(tmp_path / "base"), "--out", str(tmp_path / "again"),
                 "--model", str(tmp_path / "m.json")]) == 0
    assert "models read from" in capsys.readouterr().out
    pd.testing.assert_frame_equal(_scores(tmp_path / "again"), first)
    # a bad input is one line and exit status 2
    assert main(["score", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nowhere" in err and "\n" not in err


def test_an_output_folder_it_did_not_write_is_refused(base, models, tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.txt").write_text("keep me")
    with pytest.raises(DataError, match="did not write") as info:
        score_dataset(base, mine, models, progress=False)
    assert info.value.problem == "folder_not_ours"
    assert (mine / "chapter1.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="did not write"):
        simulate_dataset(mine, 100)
    for out in (base, base / "scores"):
        with pytest.raises(DataError, match="overlap"):
            score_dataset(base, out, models, progress=False)
    # a folder it wrote is replaced
    score_dataset(base, tmp_path / "scores", models, progress=False, scheduler="synchronous")
    score_dataset(base, tmp_path / "scores", models, progress=False, scheduler="synchronous")
    assert len(list((tmp_path / "scores").glob("part-*.parquet"))) == 4


def test_text_ids_are_kept(base, models, tmp_path):
    text = tmp_path / "text"
    text.mkdir()
    for f in sorted(base.glob("part-*.parquet"))[:2]:
        df = pd.read_parquet(f)
        df["customer_id"] = "c" + df["customer_id"].astype(str)
        df.to_parquet(text / f.name, index=False)
    score_dataset(text, tmp_path / "scores", models, progress=False)
    got = _scores(tmp_path / "scores")
    assert got["customer_id"].iloc[0] == "c1" and len(got) == 30_000


def test_an_unreachable_scheduler_is_one_error(base, models, tmp_path, monkeypatch):
    monkeypatch.setattr(score_module, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(DataError, match="cannot reach the dask scheduler"):
        score_dataset(base, tmp_path / "s", models, progress=False,
                      scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "s").exists()
