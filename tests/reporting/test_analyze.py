"""``analyze`` on files as they come: the study's three equations on the file's own covariates.

The file built here has every quirk of a real teaching data set: durations in days, a column
called ``offer`` holding dollar amounts that the mapping does not name, a second duration of 0
and a value of -5 for customers who did not return, no censoring flag, ids stored as 1.0, 2.0,
... and covariates of its own. Its return equation is a probit with a known truth, and the
second lifetime is selected on a shared error (so the selection correction has work to do).
"""

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from winback_study import StudyDataError
from winback_study.cli import main
from winback_study.data.user_data import read_user_data
from winback_study.reporting.analyze import analyze

SCHEMA = ["coef", "std_err", "z", "p_value", "ci_low", "ci_high"]
RETURN = "offer + duration_lapse + price_change + gender + age + duration_1"
SECOND = "offer + price_change + gender + age + duration_1"
MAPPING = f"""
[columns]                 # role = "your column"
customer_id = "customer"
reacquired  = "reacquire"
first_tenure = "duration_1"
second_tenure = "duration_2"
second_value = "sclv"

[units]
tenure = "days"

[constants]
second_event = 1          # every second lifetime in this file has ended

[models]
link = "probit"
return = "{RETURN}"
second_lifetime = "{SECOND}"
second_value = "{SECOND}"
"""


def quirky_file(n: int = 600, seed: int = 11) -> pd.DataFrame:
    """Lapsed customers of a subscription service, in the shape the issue describes."""
    rng = np.random.default_rng(seed)
    offer = rng.choice([20, 25, 30], n)
    lapse = rng.integers(10, 200, n)
    price = rng.choice([-5, 0, 5, 10], n)
    age = rng.integers(20, 71, n)
    gender = rng.choice(["F", "M"], n)
    d1 = np.ceil(30 * rng.gamma(2.0, 10.0, n)).astype(int)
    loyalty = rng.standard_normal(n)
    e = 0.5 * loyalty + np.sqrt(0.75) * rng.standard_normal(n)
    index = (-0.3 + 0.05 * (offer - 25) - 0.004 * lapse - 0.03 * price + 0.01 * (age - 45)
             + 0.25 * (gender == "F") + 0.0004 * d1)
    back = (index + e > 0).astype(int)
    log_days = 5.3 + 0.02 * (offer - 25) - 0.01 * price + 0.005 * (age - 45) + 0.5 * loyalty
    d2 = np.maximum(1, np.round(np.exp(log_days - 0.6 * rng.gumbel(size=n))))
    value = np.round(d2 / 30 * (25 + 0.3 * offer) * np.exp(0.2 * loyalty), 2)
    return pd.DataFrame({
        "customer": np.arange(1, n + 1, dtype=float),        # ids stored as floats
        "reacquire": back, "offer": offer, "duration_lapse": lapse, "price_change": price,
        "age": age, "gender": gender, "duration_1": d1,
        "duration_2": np.where(back == 1, d2, 0).astype(int),  # 0: no second lifetime
        "sclv": np.where(back == 1, value, -5.0),              # -5: the failed attempt
    })


@pytest.fixture()
def files(tmp_path):
    src, mapping = tmp_path / "lapsed.csv", tmp_path / "mapping.toml"
    quirky_file().to_csv(src, index=False)
    mapping.write_text(MAPPING, encoding="utf-8")
    return src, mapping


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_validate_accepts_the_file_as_it_comes(files, capsys):
    src, mapping = files
    assert main(["validate", str(src), "--map", str(mapping)]) == 0
    printed = capsys.readouterr().out
    n_back = int(quirky_file()["reacquire"].sum())
    assert f"600 customers, {n_back} reacquired" in printed
    assert f"{600 - n_back} second-lifetime values" in printed  # the -5s, set aside


def test_analyze_fits_the_three_equations_on_the_files_own_covariates(files, tmp_path):
    src, mapping = files
    before = _digest(src)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--map", str(mapping), "--out", str(out),
                 "--quiet"]) == 0
    assert _digest(src) == before  # the input is never written

    # the return model is statsmodels' probit on the same formula and file
    raw = pd.read_csv(src)
    ref = smf.probit(f"reacquire ~ {RETURN}", raw).fit(disp=0)
    ours = pd.read_csv(out / "return_model_coefficients.csv", index_col="term")
    assert list(ours.columns[:6]) == SCHEMA
    expected = ref.params.rename(lambda t: t.replace("[T.", "["))
    assert set(ours.index) == set(expected.index)
    np.testing.assert_allclose(ours["coef"], expected[ours.index], atol=1e-6, rtol=0)
    bse = ref.bse.rename(lambda t: t.replace("[T.", "["))
    np.testing.assert_allclose(ours["std_err"], bse[ours.index], atol=1e-6, rtol=0)

    # the second-lifetime equations: the file's names, the one schema, the correction term
    for name in ("second_lifetime_coefficients", "second_value_coefficients"):
        table = pd.read_csv(out / f"{name}.csv", index_col="term")
        assert list(table.columns[:6]) == SCHEMA
        assert {"offer", "price_change", "gender[M]", "age", "duration_1",
                "inverse_mills"} <= set(table.index), name
        assert table.notna().all().all()
    html = (out / "report.html").read_text(encoding="utf-8")
    n_non = int((raw["reacquire"] == 0).sum())
    assert f"{n_non:,} values held for customers who did not return were set aside" in html
    assert "inverse_mills" in html and "[models]" in html
    for fig in ("return_model_marginal_effects", "second_lifetime_coefficients",
                "second_value_coefficients"):
        for ext in ("png", "svg", "pdf"):
            assert (out / "figures" / f"{fig}.{ext}").stat().st_size > 1000


@pytest.mark.slow
def test_the_correction_moves_the_offer_effect_towards_the_truth():
    """The returners are the loyal (a shared error raises both return and second tenure), so
    the naive duration fit understates what the offer does. Measured on seeds 0-3 (6,000
    customers each): mean bias of the offer effect -0.009 naive, -0.005 corrected (log
    months per dollar); the corrected 95% intervals cover the truth in 12 of 12 cases."""
    from winback_study.models.second_lifetime import fit_second_lifetime

    truth = {"offer": 0.02, "price_change": -0.01, "age": 0.005}
    bias_naive, bias_corrected, covered = [], [], 0
    for seed in range(4):
        df = quirky_file(n=6_000, seed=seed)
        table = analyze(df, _mapping_dict()).tables["second_lifetime_coefficients"]
        frame = read_user_data(df, _mapping_dict()).model_frame(
            ["offer", "price_change", "gender", "age", "duration_1"])
        naive = fit_second_lifetime(frame[frame["reacquired"] == 1],
                                    f"second_tenure_months ~ {SECOND}", model="weibull",
                                    selection=None).summary
        bias_naive.append(naive.loc["offer", "coef"] - truth["offer"])
        bias_corrected.append(table.loc["offer", "coef"] - truth["offer"])
        covered += sum(table.loc[t, "ci_low"] < v < table.loc[t, "ci_high"]
                       for t, v in truth.items())
    assert np.mean(bias_naive) < 0  # the selection's direction
    assert abs(np.mean(bias_corrected)) < 0.75 * abs(np.mean(bias_naive))
    assert covered >= 10  # of 12; below that the intervals would be too narrow


def _mapping_dict():
    import tomllib

    return tomllib.loads(MAPPING)


def test_a_value_for_a_non_returner_is_set_aside_but_a_tenure_is_an_error():
    df = quirky_file()
    user = read_user_data(df, _mapping_dict())
    assert user.set_aside == {"second_value": int((df["reacquire"] == 0).sum())}
    assert user.study.loc[df["reacquire"] == 0, "second_value"].isna().all()
    assert user.study["customer_id"].dtype.kind in "iu"
    bad = df.copy()
    row = int(np.flatnonzero(bad["reacquire"] == 0)[3])
    bad.loc[row, "duration_2"] = 40
    with pytest.raises(StudyDataError, match=r"your column 'duration_2'") as info:
        read_user_data(bad, _mapping_dict())
    assert info.value.rows == [row]


def test_passengers_are_never_checked_against_the_study_vocabulary():
    df = quirky_file().assign(reason="not one of the study's", offer_received=7)
    user = read_user_data(df, _mapping_dict())
    assert "duration_lapse" in user.study.columns  # a passenger, under its own name
    assert "offer_received" not in user.study.columns or (
        user.study["offer_received"] == 7).all()


@pytest.mark.parametrize("change, message", [
    (("return", "offer + pricechange"), r"\[models\] return uses column 'pricechange' "
                                         r"\(found 'price_change': misspelled\?\)"),
    (("link", "probitt"), r"\[models\] link is 'probitt' \(did you mean 'probit'\?\)"),
    (("second_lifetime", "duration_2 ~ age"), r"\[models\] second_lifetime .* has a '~'"),
    (("colour", "red"), r"\[models\] has an unknown key 'colour'"),
])
def test_bad_models_get_one_line_naming_the_key(change, message):
    mapping = _mapping_dict()
    key, value = change
    mapping["models"][key] = value
    with pytest.raises(StudyDataError, match=message) as info:
        analyze(quirky_file(), mapping)
    assert "\n" not in str(info.value)


def test_misspelled_tables_and_constants_get_a_close_match():
    mapping = _mapping_dict()
    mapping["constant"] = mapping.pop("constants")
    with pytest.raises(StudyDataError, match=r"unknown key 'constant' \(did you mean "
                                             r"'constants'\?\)"):
        analyze(quirky_file(), mapping)
    mapping = _mapping_dict()
    mapping["constants"] = {"second_evnt": 1}
    with pytest.raises(StudyDataError, match=r"'second_evnt' \(did you mean 'second_event'"):
        analyze(quirky_file(), mapping)
    mapping = _mapping_dict()
    mapping["constants"] = {"second_tenure": 3}
    with pytest.raises(StudyDataError, match="both a column .* and a constant"):
        analyze(quirky_file(), mapping)


def test_a_list_of_column_names_is_a_formula():
    mapping = _mapping_dict()
    mapping["models"]["second_lifetime"] = ["offer", "age"]
    table = analyze(quirky_file(), mapping).tables["second_lifetime_coefficients"]
    assert {"offer", "age", "inverse_mills"} <= set(table.index)
    assert "price_change" not in table.index


def test_a_logit_return_model_still_corrects_with_a_probit():
    mapping = _mapping_dict()
    mapping["models"]["link"] = "logit"
    res = analyze(quirky_file(), mapping)
    ref = smf.logit(f"reacquire ~ {RETURN}", quirky_file()).fit(disp=0)
    np.testing.assert_allclose(res.tables["return_model_coefficients"].loc["age", "coef"],
                               ref.params["age"], atol=1e-6)
    assert "inverse_mills" in res.tables["second_value_coefficients"].index
    assert any("return probit" in n for n in res.notes["second-lifetime survival"])


def test_progress_bar_goes_to_stderr_only_when_asked(files, tmp_path):
    src, mapping = files
    cmd = [sys.executable, "-m", "winback_study.cli", "analyze", str(src), "--map",
           str(mapping), "--out", str(tmp_path / "o")]
    quiet = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "ran: second-lifetime value model" in quiet.stdout
    assert "it/s" not in quiet.stderr and "step" not in quiet.stderr


def test_progress_bar_on_stderr_names_the_stages(monkeypatch, capsys):
    from winback_study.reporting import analyze as module

    monkeypatch.setattr(module, "PROGRESS_DELAY", 0.0)
    analyze(quirky_file(), _mapping_dict(), progress=True)
    captured = capsys.readouterr()
    assert "second-lifetime value model" in captured.err and captured.out == ""
    analyze(quirky_file(), _mapping_dict(), progress=False)
    assert capsys.readouterr().err == ""


def test_the_joint_model_runs_when_asked_and_recovers_the_loadings():
    from winback_study import simulate_study, true_joint_effects
    from winback_study.reporting.analyze import _identity_mapping

    df = simulate_study(20_000, seed=5)
    columns = _identity_mapping(df)["columns"]
    assert "[models] joint = true" in analyze(df, {"columns": columns}).skipped["joint model"]
    res = analyze(df, {"columns": columns, "models": {"joint": True}})
    table = res.tables["joint_model_coefficients"]
    assert table.index.names == ["equation", "term"]
    assert set(table.index.get_level_values(0)) == {"return", "second_lifetime",
                                                    "second_profit", "latent"}
    truth = true_joint_effects(df)
    for term in ("loading_second_lifetime", "sigma_second_lifetime", "sigma_second_profit"):
        row = table.loc[("latent", term)]
        assert row["ci_low"] < truth.loc[("latent", term)] < row["ci_high"], term


def test_targets_csv_through_pyarrow_reads_back_as_the_targets(tmp_path, monkeypatch):
    """A large targets.csv is written by pyarrow's writer: the same table read back."""
    from winback_study import simulate_study
    from winback_study.core import io

    monkeypatch.setattr(io, "FAST_CSV_ROWS", 1)
    cols = ["customer_id", "reacquired", "first_tenure_months", "first_monthly_margin",
            "second_tenure_months", "second_churned", "second_monthly_margin",
            "defection_reason", "offer", "referrals", "complaints", "complaints_resolved",
            "months_since_defection"]
    src = tmp_path / "lapsed.csv"
    simulate_study(6_000, seed=2)[cols].to_csv(src, index=False)
    res = analyze(src, out=tmp_path / "out", n_boot=50, progress=False)
    back = pd.read_csv(tmp_path / "out" / "targets.csv")
    want = res.targets.reset_index(drop=True)
    assert list(back.columns) == list(want.columns)
    pd.testing.assert_frame_equal(back, want, check_dtype=False)


def test_targets_predicted_in_chunks_are_the_same(tmp_path, monkeypatch):
    from winback_study import simulate_study
    from winback_study.reporting import analyze as an

    df = simulate_study(5_000, seed=4)[["customer_id", "reacquired", "first_tenure_months",
                                        "first_monthly_margin", "second_tenure_months",
                                        "second_churned", "second_monthly_margin",
                                        "defection_reason", "offer", "referrals"]]
    df = df.astype({"defection_reason": str, "offer": str})
    whole = analyze(df, n_boot=20, progress=False).targets
    monkeypatch.setattr(an._ArmPredictor, "chunk_rows", 777)
    chunked = analyze(df, n_boot=20, progress=False).targets
    pd.testing.assert_frame_equal(chunked, whole)


def test_fits_no_later_analysis_reads_are_released():
    from types import SimpleNamespace

    from winback_study.reporting import analyze as an

    run = SimpleNamespace(fits={"return": 1, "selection": 2, "second_lifetime": 3,
                                "second_value": 4, "design": 5})
    an._release_fits(run, ["second-lifetime value model", "customer value", "targets"])
    assert set(run.fits) == {"return", "selection", "second_lifetime", "second_value",
                             "design"}
    an._release_fits(run, ["customer value", "offer experiment", "targets"])
    assert set(run.fits) == {"return", "selection", "second_lifetime", "design"}
    an._release_fits(run, ["offer experiment", "targets"])
    assert set(run.fits) == {"return", "design"}


def test_a_parquet_dataset_folder_is_read_in_the_columns_it_needs(tmp_path):
    """A partitioned dataset gives the analyses of the same rows in one file, and only the
    columns the mapping uses are read (an unmapped column is left on disk)."""
    from winback_study.scale.dataset import simulate_dataset

    folder = simulate_dataset(tmp_path / "base", 9_000, seed=6, partition_size=3_000)
    whole = pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("part-*.parquet"))],
                      ignore_index=True)
    whole.to_parquet(tmp_path / "whole.parquet", index=False)
    a = analyze(folder, seed=1, n_boot=50, progress=False)
    b = analyze(tmp_path / "whole.parquet", seed=1, n_boot=50, progress=False)
    pd.testing.assert_frame_equal(a.tables["return_model_coefficients"],
                                  b.tables["return_model_coefficients"])
    mapping = {"columns": {"customer_id": "customer_id", "reacquired": "reacquired",
                           "first_tenure": "first_tenure_months", "offer": "offer",
                           "reason": "defection_reason"},
               "models": {"return": "first_tenure_months + referrals"}}
    user = read_user_data(folder, mapping)
    assert set(user.raw.columns) == {"customer_id", "reacquired", "first_tenure_months",
                                     "offer", "defection_reason", "referrals"}
    assert len(user.raw) == 9_000


@pytest.mark.parametrize("rhs", ["offer", "bs(first_tenure_months, df=3) + offer + referrals"])
def test_targets_split_index_equals_statsmodels_predict(monkeypatch, rhs):
    """targets predicts each arm from the index's fixed part once plus the arm's terms; a
    formula of arm terms only (the intercept is the fixed part) and one with a stateful
    spline (rebuilt by statsmodels, not from the levels) give statsmodels' predictions."""
    from winback_study import simulate_study
    from winback_study.reporting import analyze as an

    df = simulate_study(5_000, seed=6)[["customer_id", "reacquired", "first_tenure_months",
                                        "first_monthly_margin", "second_tenure_months",
                                        "second_churned", "second_monthly_margin",
                                        "defection_reason", "offer", "referrals"]]
    df = df.astype({"defection_reason": str, "offer": str})
    mapping = {"columns": {r: c for r, c in an.ROLES.items() if c in df.columns},
               "models": {"return": rhs}}
    fast = analyze(df, mapping, n_boot=20, progress=False).targets
    monkeypatch.setattr(an._ArmPredictor, "_split", lambda self, model: None)
    slow = analyze(df, mapping, n_boot=20, progress=False).targets
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-10)
