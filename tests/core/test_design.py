"""The study design: validation, the one counterfactual (assign), the study's values,
designs read from data and the design an analysis resolves."""

import numpy as np
import pandas as pd
import pytest

from winback_study import simulate_study
from winback_study.data.published import OFFER_EXHIBIT
from winback_study.design import KUMAR_2015, StudyDesign, design_from_data, resolve_design
from winback_study.errors import DesignError, WinbackError

REASONS = ("price", "service", "both", "other")


def _gifts(**changes) -> StudyDesign:
    kw = dict(offers={"none": 0, "free_month": 30, "points": 12, "both_gifts": 42},
              rules={"by_reason": {"price": "free_month", "service": "points",
                                   "both": "both_gifts", "other": "points"}},
              reasons=REASONS,
              matching={"price": "free_month", "service": "points", "both": "both_gifts"},
              name="gifts")
    kw.update(changes)
    return StudyDesign(**kw)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("changes, match", [
    ({"offers": {"none": 0, "a": -5}}, "finite numbers >= 0"),
    ({"offers": {"none": 0, "a": float("nan")}}, "finite numbers >= 0"),
    ({"offers": {"none": 0, "a": "120"}}, "finite numbers >= 0"),
    ({"offers": {"none": 0}}, "at least one offer besides the control"),
    ({"reasons": ("price", "price", "both", "other")}, "distinct"),
    ({"rules": {"points": {r: "points" for r in REASONS}}}, "has the name of an offer"),
    ({"rules": {"mix": {r: "coupon" for r in REASONS}}}, r"offer\(s\) \['coupon'\]"),
    ({"rules": {"mix": {"price": "points"}}}, r"says nothing for reason\(s\)"),
    ({"rules": {"mix": {"price": "points"}}, "reasons": (), "matching": {}}, "needs reasons"),
    ({"matching": {"price": "coupon"}}, r"matching names offer\(s\) \['coupon'\]"),
    ({"matching": {"boredom": "points"}}, r"matching names reason\(s\) \['boredom'\]"),
])
def test_inconsistent_designs_are_refused(changes, match):
    with pytest.raises(DesignError, match=match) as info:
        _gifts(**changes)
    assert isinstance(info.value, WinbackError) and isinstance(info.value, ValueError)


def test_the_control_comes_first_and_costs_nothing_unless_given():
    d = StudyDesign(offers={"a": 10, "b": 5.5}, control="ctrl")
    assert d.arms == ("ctrl", "a", "b") and d.costs == {"ctrl": 0.0, "a": 10.0, "b": 5.5}
    d = StudyDesign(offers={"a": 10, "none": 0})
    assert d.received_offers == ("none", "a") and d.treatment_arms == ("a",)
    g = _gifts()
    assert g.arms == ("none", "free_month", "points", "both_gifts", "by_reason")
    assert g.treatment_arms == ("free_month", "points", "both_gifts", "by_reason")
    assert g.targetable_offers == ("free_month", "points", "both_gifts")
    assert g.cost_of("by_reason") == {"price": 30.0, "service": 12.0, "both": 42.0,
                                      "other": 12.0}


def test_with_costs_changes_only_the_named_offers():
    g = _gifts().with_costs({"points": 20})
    assert g.costs == {"none": 0.0, "free_month": 30.0, "points": 20.0, "both_gifts": 42.0}
    assert _gifts().with_costs(None) == _gifts()
    with pytest.raises(DesignError, match=r"no offer named \['coupon'\]"):
        _gifts().with_costs({"coupon": 1.0})
    with pytest.raises(DesignError, match="finite numbers >= 0"):
        _gifts().with_costs({"points": -1.0})


# ------------------------------------------------------------------ assign: the counterfactual
def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "defection_reason": ["price", "service", "both", "other", "price"],
        "offer": ["none"] * 5, "offer_received": ["none"] * 5,
        "offer_matches_reason": 0, "offer_cost": 0.0, "x": range(5),
    }, index=[10, 11, 12, 13, 14])


def test_assign_an_offer_arm():
    df = _customers()
    cf = _gifts().assign(df, "points")
    assert (cf["offer"] == "points").all() and (cf["offer_received"] == "points").all()
    assert (cf["offer_cost"] == 12.0).all()
    assert cf["offer_matches_reason"].tolist() == [0, 1, 0, 0, 0]  # points addresses service
    assert list(cf["offer"].cat.categories) == list(_gifts().arms)
    assert list(cf["offer_received"].cat.categories) == list(_gifts().received_offers)
    assert cf["x"].tolist() == list(range(5)) and cf.index.equals(df.index)
    assert (df["offer"] == "none").all() and (df["offer_cost"] == 0).all()  # df untouched


def test_assign_a_rule_arm_gives_each_reason_its_offer():
    cf = _gifts().assign(_customers(), "by_reason")
    assert (cf["offer"] == "by_reason").all()
    assert cf["offer_received"].astype(str).tolist() == [
        "free_month", "points", "both_gifts", "points", "free_month"]
    assert cf["offer_cost"].tolist() == [30.0, 12.0, 42.0, 12.0, 30.0]
    assert cf["offer_matches_reason"].tolist() == [1, 1, 1, 0, 1]  # 'other' has no match
    none = _gifts().assign(_customers(), "none")
    assert (none["offer_cost"] == 0).all() and (none["offer_matches_reason"] == 0).all()


def test_assign_is_the_simulators_assignment():
    df = simulate_study(3_000, seed=2)
    for arm in KUMAR_2015.treatment_arms:
        got = df[df["offer"] == arm]
        cf = KUMAR_2015.assign(got, arm)
        for col in ("offer_received", "offer_matches_reason", "offer_cost"):
            np.testing.assert_array_equal(cf[col].astype(str), got[col].astype(str), err_msg=col)


def test_an_unknown_reason_names_the_reason_and_the_rows():
    df = _customers()
    df.loc[[11, 13], "defection_reason"] = "moved away"
    with pytest.raises(DesignError, match=r"reason\(s\) \['moved away'\].*rows 11, 13 \(2 rows\)"):
        _gifts().assign(df, "by_reason")
    assert (_gifts().assign(df, "points")["offer_cost"] == 12).all()  # an offer arm needs no rule
    with pytest.raises(DesignError, match="arm must be one of"):
        _gifts().assign(df, "coupon")
    with pytest.raises(DesignError, match="defection_reason"):
        _gifts().assign(df.drop(columns="defection_reason"), "by_reason")
    with pytest.raises(TypeError):
        _gifts().assign(df.to_dict(), "points")


# ------------------------------------------------------------------ the study's design
def test_kumar_2015_is_the_published_design():
    k = KUMAR_2015
    assert k.arms == ("none", "discount", "upgrade", "bundled", "tailored")
    assert k.control == "none" and k.treatment_arms == ("discount", "upgrade", "bundled",
                                                        "tailored")
    assert k.targetable_offers == ("discount", "upgrade", "bundled")
    assert k.costs == {"none": 0.0, "discount": 120.0, "upgrade": 105.0, "bundled": 225.0}
    for offer in k.targetable_offers:  # the HBR exhibit's cost per reacquired customer
        assert k.costs[offer] == OFFER_EXHIBIT.loc[offer, "cost_per_reacquired"]
    assert dict(k.rules["tailored"]) == {"price": "discount", "service": "upgrade",
                                         "both": "bundled", "other": "discount"}
    assert k.reasons == REASONS and k.reference_reason == "price"
    assert dict(k.matching) == {"price": "discount", "service": "upgrade", "both": "bundled"}
    assert k.factor_levels()["offer_received"] == ("none", "discount", "upgrade", "bundled")
    table = k.describe()
    assert list(table.index) == list(k.arms) and table.loc["none", "control"]
    assert table.loc["tailored", "cost_per_acceptor"].startswith("price: $120")


# ------------------------------------------------------------------ designs read from data
def _file() -> pd.DataFrame:
    return pd.DataFrame({
        "offer": ["none", "none", "free_month", "free_month", "points", "points"],
        "offer_cost": [0.0, 0.0, 30.0, 30.0, 12.0, 12.0],
        "defection_reason": ["price", "other", "price", "service", "other", "price"],
    })


def test_design_from_data_reads_arms_costs_and_reasons():
    d = design_from_data(_file())
    assert d.arms == ("none", "free_month", "points") and d.control == "none"
    assert d.costs == {"none": 0.0, "free_month": 30.0, "points": 12.0}
    assert d.reasons == ("other", "price", "service") and not d.rules
    assert design_from_data(_file(), costs={"points": 15.0}).costs["points"] == 15.0
    d = design_from_data(_file().replace({"none": "ctrl"}), control="ctrl")
    assert d.control == "ctrl" and d.treatment_arms == ("free_month", "points")


def test_design_from_data_says_what_is_missing():
    with pytest.raises(DesignError, match="no 'none' arm"):
        design_from_data(_file().replace({"none": "ctrl"}))
    with pytest.raises(DesignError, match=r"no cost for arm\(s\) \['free_month', 'points'\]"):
        design_from_data(_file().drop(columns="offer_cost"))
    assert design_from_data(_file().drop(columns="offer_cost"),
                            costs={"free_month": 1, "points": 2}).costs["points"] == 2
    with pytest.raises(DesignError, match="no 'offer' column"):
        design_from_data(_file().drop(columns="offer"))


def test_resolve_design():
    study = simulate_study(1_000, seed=4)
    assert resolve_design(study) is KUMAR_2015
    assert resolve_design(None) is KUMAR_2015 and resolve_design(None, _gifts()) == _gifts()
    assert resolve_design(study.drop(columns="offer")) is KUMAR_2015
    mine = resolve_design(_file())  # other arms: read from the data, never the study's
    assert mine.arms == ("none", "free_month", "points")
    assert resolve_design(_file(), _gifts()) == _gifts()  # the data fit it
    with pytest.raises(DesignError) as info:
        resolve_design(_file(), KUMAR_2015)
    msg = str(info.value)
    assert "column 'offer'" in msg and "['free_month', 'points']" in msg
    assert "rows 2, 3, 4, 5 (4 rows)" in msg and "design=" in msg
    with pytest.raises(TypeError, match="StudyDesign"):
        resolve_design(_file(), {"none": 0})


def test_check_data_on_the_offers_received():
    df = _file().assign(offer_received=lambda d: d["offer"])
    _gifts().check_data(df, "offer_received")
    with pytest.raises(DesignError, match=r"column 'offer_received'.*\['free_month', 'points'\]"):
        KUMAR_2015.check_data(df, "offer_received")
    KUMAR_2015.check_data(df.drop(columns="offer_received"), "offer_received")  # no column


def test_design_from_data_averages_the_cost_over_those_who_accepted():
    # a file recording cost 0 for customers who did not come back: the cost per acceptor
    # is what the returners paid (30), not the mean over everyone offered
    df = pd.DataFrame({"offer": ["none", "free_month", "free_month", "free_month", "free_month"],
                       "reacquired": [0, 1, 0, 0, 0],
                       "offer_cost": [0.0, 30.0, 0.0, 0.0, 0.0]})
    assert design_from_data(df).costs == {"none": 0.0, "free_month": 30.0}


def test_designs_are_values():
    same = KUMAR_2015.with_costs({"upgrade": 105.0})
    assert same == KUMAR_2015 and hash(same) == hash(KUMAR_2015)
    assert KUMAR_2015.with_costs({"upgrade": 150.0}) != KUMAR_2015
    assert len({KUMAR_2015, same}) == 1


def test_a_simulated_frame_carries_its_design_and_its_costs():
    dearer = KUMAR_2015.with_costs({"upgrade": 150.0})
    assert dearer.name != KUMAR_2015.name and "upgrade $150" in dearer.name
    df = simulate_study(2_000, seed=6, design=dearer)
    assert resolve_design(df) == dearer
    assert resolve_design(df[df["reacquired"] == 1]) == dearer  # through pandas operations
    # without the attrs, the frame's own offer_cost still says what the upgrade cost
    plain = df.copy()
    plain.attrs = {}
    assert resolve_design(plain).costs["upgrade"] == 150.0
    assert resolve_design(simulate_study(500, seed=6)) is KUMAR_2015
    # a carried design the data no longer fit is not used
    relabelled = df.assign(offer=df["offer"].astype(str).replace({"discount": "free_month"}),
                           offer_received=df["offer_received"].astype(str).replace(
                               {"discount": "free_month"}))
    assert "free_month" in resolve_design(relabelled).received_offers


def test_design_round_trips_through_json_in_order():
    d = StudyDesign.from_json(KUMAR_2015.to_json())
    assert d == KUMAR_2015 and d.arms == KUMAR_2015.arms


@pytest.mark.parametrize("kwargs, match", [
    ({"offers": {"none": 5, "gift": 1}}, "control arm 'none' gives no offer"),
    ({"offers": {"none": 0, "gift": True}}, "finite numbers"),
    ({"offers": {"none": 0, "gift": 1}, "reasons": "ps"}, "sequence of reason names"),
    ({"offers": {"none": 0, "gift": 1}, "matching": {"price": "gift"}}, "needs reasons"),
    ({"offers": {"none": 0, "gift": 1}, "control": None}, "name of the no-offer arm"),
])
def test_more_inconsistent_designs_are_refused(kwargs, match):
    with pytest.raises(DesignError, match=match):
        StudyDesign(**kwargs)


def test_assign_refuses_an_unknown_arm_even_without_reasons():
    df = simulate_study(200, seed=2).drop(columns="defection_reason")
    with pytest.raises(DesignError, match="arm must be one of"):
        KUMAR_2015.assign(df, "nope")
    with pytest.raises(DesignError, match="pass reasons= or n="):
        KUMAR_2015.received_for("discount")


def test_complete_fills_what_the_design_implies():
    df = simulate_study(3_000, seed=9)
    bare = df[["customer_id", "defection_reason", "offer", "reacquired"]]
    done = KUMAR_2015.complete(bare)
    for col in ("offer_received", "offer_matches_reason", "offer_cost"):
        assert (done[col].astype(str) if col == "offer_received" else done[col]).equals(
            df[col].astype(str) if col == "offer_received" else df[col].astype(done[col].dtype)
        ), col
    assert "offer_received" not in bare.columns  # not modified
    with pytest.raises(DesignError, match="column 'defection_reason'") as info:
        KUMAR_2015.complete(bare.assign(defection_reason=bare["defection_reason"].astype(str)
                                        .replace({"other": "moved"})))
    assert info.value.column == "defection_reason" and info.value.rows
