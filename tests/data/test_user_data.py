"""A user's own file: mapping, units, levels, errors in the user's column names."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from winback_study import StudyDataError, simulate_study
from winback_study.cli import main
from winback_study.data.user_data import (
    available_analyses,
    prepare_user_data,
    read_mapping,
    read_user_data,
)
from winback_study.reporting.analyze import analyze

MAPPING = {
    "columns": {
        "customer_id": "cust_no", "reacquired": "came_back", "first_tenure": "tenure1_days",
        "second_tenure": "tenure2_days", "second_event": "left_again", "first_margin": "arpu1",
        "second_margin": "arpu2", "reason": "why_left", "offer": "offer", "referrals": "refs",
        "complaints": "n_complaints", "complaints_resolved": "n_resolved",
    },
    "units": {"tenure": "days"},
    "levels": {"reason": {"Too expensive": "price"}},
}


@pytest.fixture(scope="module")
def sim():
    return simulate_study(3_000, seed=21)


@pytest.fixture()
def user(sim):
    return pd.DataFrame({
        "cust_no": "C" + sim["customer_id"].astype(str),
        "came_back": sim["reacquired"],
        "tenure1_days": sim["first_tenure_months"] * 30.4,
        "tenure2_days": sim["second_tenure_months"] * 30.4,
        "left_again": sim["second_churned"],
        "arpu1": sim["first_monthly_margin"], "arpu2": sim["second_monthly_margin"],
        "why_left": sim["defection_reason"].astype(str).replace({"price": "Too expensive"}),
        "offer": sim["offer"].astype(str), "refs": sim["referrals"],
        "n_complaints": sim["complaints"], "n_resolved": sim["complaints_resolved"],
    })


def test_mapping_units_and_levels(sim, user):
    df = prepare_user_data(user, MAPPING)
    assert (df["first_tenure_months"] == sim["first_tenure_months"]).all()
    assert (df["defection_reason"].astype(str) == sim["defection_reason"].astype(str)).all()
    assert (df["offer_received"].astype(str) == sim["offer_received"].astype(str)).all()
    assert df["customer_id"].iloc[0] == "C1"


def test_errors_name_the_users_column(user):
    user.loc[user["came_back"] == 1, "left_again"] = user.loc[
        user["came_back"] == 1, "left_again"].where(lambda s: s.index % 7 != 0, 3)
    with pytest.raises(StudyDataError, match="your column 'left_again' .role 'second_event'."):
        prepare_user_data(user, MAPPING)


def test_mapping_naming_absent_column(user):
    bad = {**MAPPING, "columns": {**MAPPING["columns"], "referrals": "referals"}}
    # the one right message: the missing name and the close match found in the file
    with pytest.raises(StudyDataError, match=r"'referals' \(found 'refs': misspelled\?\)"):
        prepare_user_data(user, bad)


@pytest.mark.parametrize("bad, msg", [
    ({"columns": {"customer_id": "a"}}, "'reacquired' must name a column"),
    ({"columns": {"customer_id": "a", "reacquired": "b", "colour": "c"}}, "unknown role"),
    ({"columns": {"customer_id": "a", "reacquired": "b"}, "units": {"tenure": "fortnights"}},
     "units.tenure"),
    ({"columns": {"customer_id": "a", "reacquired": "b"}, "design": {"control": "none"}},
     r"\[design\] needs offers"),
    ({"columns": {"customer_id": "a", "reacquired": "b"},
      "design": {"offers": {"none": 0, "gift": -5}}}, "costs must be finite numbers >= 0"),
    ({"columns": {"customer_id": "a", "reacquired": "b"},
      "design": {"offers": {"none": 0, "gift": 5}, "colour": "red"}}, "unknown key"),
])
def test_bad_mappings(bad, msg):
    with pytest.raises(StudyDataError, match=msg):
        read_mapping(bad)


def test_omitted_role_switches_off_only_what_needs_it():
    cols = {k: v for k, v in MAPPING["columns"].items() if k != "second_margin"}
    avail = available_analyses(read_mapping({"columns": cols}))
    assert "second_margin" in avail["customer value"]
    assert avail["return rates by segment"] is None


def test_analyze_file_writes_outputs_and_leaves_input_alone(user, tmp_path):
    src = tmp_path / "mine.csv"
    user.to_csv(src, index=False)
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        "[columns]\n" + "".join(f'{k} = "{v}"\n' for k, v in MAPPING["columns"].items())
        + '[units]\ntenure = "days"\n[levels.reason]\n"Too expensive" = "price"\n',
        encoding="utf-8",
    )
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--map", str(mapping), "--out", str(out)]) == 0
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert (out / "return_rate_by_reason.csv").exists()
    assert (out / "figures" / "return_rate_by_reason.png").exists()
    res = analyze(src, mapping)
    assert np.isclose(res.tables["return_rate_overall"]["return_rate"].iloc[0],
                      user["came_back"].mean())


# A user's file need not look like the study: fewer arms, a reason nobody came back from,
# no churn yet. Each gets a model where one is identified and a stated reason where not.

def test_file_with_only_some_offers_and_no_price_leavers_still_gets_its_models(user):
    part = user[user["offer"].isin(["none", "discount"])
                & (user["why_left"] != "Too expensive")].copy()
    res = analyze(part, MAPPING)
    assert set(res.skipped) == {"joint model"}  # not asked for: [models] joint = true
    terms = res.tables["return_model_coefficients"].index.astype(str)
    assert any("discount" in t for t in terms)
    assert not any("upgrade" in t or "bundled" in t for t in terms)
    # reasons are read against the first reason present (service), not a missing 'price'
    assert any("both" in t for t in terms) and not any("[service]" in t for t in terms)
    ref = res.tables["return_model_terms"]["reference"]
    assert ref["defection_reason[both]"] == "service" and ref["offer_received[discount]"] == "none"


def test_reason_nobody_came_back_from_skips_only_the_return_model(user, tmp_path, capsys):
    user.loc[user["why_left"] == "both", ["came_back", "tenure2_days", "left_again", "arpu2"]] = (
        0, np.nan, np.nan, np.nan)
    res = analyze(user, MAPPING)
    assert "return model" in res.skipped
    assert "'both'" in res.skipped["return model"] and "no returners" in res.skipped["return model"]
    assert "second_lifetime_coefficients" in res.tables and "return_rate_by_reason" in res.tables
    src = tmp_path / "mine.parquet"
    user.to_parquet(src)
    assert main(["analyze", str(src), "--out", str(tmp_path / "out"), "--map",
                 str(_toml(tmp_path))]) == 0
    printed = capsys.readouterr()
    assert "skipped: return model" in printed.out and "Traceback" not in printed.err


def test_all_second_lifetimes_censored_skips_only_the_duration_model(user):
    user.loc[user["came_back"] == 1, "left_again"] = 0
    res = analyze(user, MAPPING)
    assert "all" in res.skipped["second-lifetime survival"]
    assert "censored" in res.skipped["second-lifetime survival"]
    assert "lifetimes_kaplan_meier" in res.tables and "return_model_coefficients" in res.tables


def _toml(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(
        "[columns]\n" + "".join(f'{k} = "{v}"\n' for k, v in MAPPING["columns"].items())
        + '[units]\ntenure = "days"\n[levels.reason]\n"Too expensive" = "price"\n',
        encoding="utf-8",
    )
    return path


def test_value_of_second_lifetimes_extrapolates_past_the_window(sim):
    """Observed SLV is a lower bound; the Weibull route recovers the complete-lifetime truth."""
    table = analyze(sim).tables["customer_value"]["mean_value_usd"]
    back = sim[sim["reacquired"] == 1]
    observed = table["second lifetime, observed (reacquired)"]
    model = table["second lifetime, Weibull survival x margin (reacquired)"]
    assert observed == pytest.approx(back["slv_observed"].mean(), rel=1e-6)
    assert observed < model
    assert model == pytest.approx(back["slv"].mean(), rel=0.06)


def test_value_table_says_why_when_the_duration_model_cannot_be_fitted(user):
    user.loc[user["came_back"] == 1, "left_again"] = 0
    table = analyze(user, MAPPING).tables["customer_value"]
    row = table.loc["second lifetime, Weibull survival x margin (reacquired)"]
    assert np.isnan(row["mean_value_usd"]) and "censored" in row["note"]


def test_the_weibull_model_is_fitted_once_for_both_analyses_that_use_it(sim, monkeypatch):
    from winback_study.models import second_lifetime

    calls = []
    fit = second_lifetime.fit_second_lifetime

    def counting(*args, **kwargs):
        calls.append(kwargs.get("model"))
        return fit(*args, **kwargs)

    monkeypatch.setattr(second_lifetime, "fit_second_lifetime", counting)
    res = analyze(sim.iloc[:8_000])
    assert {"second_lifetime_coefficients", "customer_value"} <= set(res.tables)
    assert calls == ["weibull"]


# --- a file with its own arms: the mapping's [design] -------------------------------------------
OWN_ARMS = {"discount": "free_month", "upgrade": "points", "bundled": "points",
            "tailored": "by_reason"}
DESIGN = {"control": "none", "offers": {"none": 0, "free_month": 30, "points": 12},
          "reasons": ["price", "service", "both", "other"],
          "rules": {"by_reason": {"price": "free_month", "service": "points",
                                  "both": "points", "other": "free_month"}},
          "matching": {"price": "free_month", "service": "points"}}


def test_a_file_with_its_own_arms_needs_its_design_and_gets_it(user):
    own = user.assign(offer=user["offer"].replace(OWN_ARMS),
                      why_left=user["why_left"].replace({"Too expensive": "price"}))
    cols = {k: v for k, v in MAPPING["columns"].items()}
    with pytest.raises(StudyDataError, match=r"column 'offer'.*'free_month'.*\[design\]"):
        prepare_user_data(own, {"columns": cols, "units": {"tenure": "days"}})
    df = prepare_user_data(own, {"columns": cols, "units": {"tenure": "days"}, "design": DESIGN})
    assert list(df["offer"].cat.categories) == ["none", "free_month", "points", "by_reason"]
    rule = df["offer"] == "by_reason"
    expected = df.loc[rule, "defection_reason"].astype(str).map(DESIGN["rules"]["by_reason"])
    assert (df.loc[rule, "offer_received"].astype(str) == expected).all()
    assert set(df["offer_received"].astype(str)) == {"none", "free_month", "points"}


def test_the_study_table_shares_the_file_only_when_asked(tmp_path, user):
    """By default the study table owns its columns (writable, not the file frame's);
    copy=False shares the columns read with ``raw`` (read-only, as Arrow read them)."""
    src = tmp_path / "lapsed.csv"
    user.to_csv(src, index=False)
    own = read_user_data(src, MAPPING)
    before = own.raw["refs"].copy()
    own.study.loc[0, "referrals"] = 7  # a copy of its own: writable, the file frame untouched
    pd.testing.assert_series_equal(own.raw["refs"], before)
    assert not np.shares_memory(own.study["referrals"].to_numpy(), own.raw["refs"].to_numpy())
    shared = read_user_data(src, MAPPING, copy=False)
    assert np.shares_memory(shared.study["referrals"].to_numpy(),
                            shared.raw["refs"].to_numpy())
    pd.testing.assert_frame_equal(shared.study, read_user_data(src, MAPPING).study)
