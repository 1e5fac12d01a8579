import pytest

from winback_study.data.published import (
    FADER_HARDIE_REGULAR,
    FADER_HARDIE_REGULAR_FIT,
    OFFER_EXHIBIT,
    PUBLISHED,
    PublishedFigure,
    get,
    published_table,
)
from winback_study.errors import DataError


def test_every_study_target_is_there_with_a_source():
    ids = {fid.split(".")[0] for fid in PUBLISHED}
    assert ids == {f"P{i}" for i in range(1, 12)}
    assert all(f.source for f in PUBLISHED.values())
    assert len(published_table()) == len(PUBLISHED)


def test_exhibit_values_as_published():
    """The numbers below are typed a second time from their source, the HBR 2016 exhibit
    (via ../shared/STUDY.md), not read from the module: a typo in either copy fails here."""
    assert OFFER_EXHIBIT["cost_per_reacquired"].iloc[:3].tolist() == [120, 105, 225]
    assert OFFER_EXHIBIT["success_rate_pct"].tolist() == [45, 41, 47, 45]
    assert OFFER_EXHIBIT["roi_pct"].tolist() == [668, 793, 302, 596]
    assert list(OFFER_EXHIBIT.index) == ["discount", "upgrade", "bundled", "tailored"]
    # the published figures read from the exhibit, not typed again in the module
    assert [get(f"P3.{o}.roi").value for o in OFFER_EXHIBIT.index] == [668, 793, 302, 596]


def test_headline_figures_as_published():
    """Typed a second time from HBR 2016 (via ../shared/STUDY.md)."""
    assert get("P4.slv").value == 1410 and get("P4.clv_first").value == 1262
    assert get("P1.customers").value == 53_000 and get("P1.window").value == 84
    assert get("P2").value == 40_000 and get("P11").value == 3


def test_fader_hardie_table_as_published():
    """Typed a second time from Fader & Hardie (2007), 'regular' cohort, via STUDY.md."""
    assert FADER_HARDIE_REGULAR.tolist() == [1000, 631, 468, 382, 326, 289, 262, 241, 223,
                                             207, 194, 183, 173]
    assert FADER_HARDIE_REGULAR_FIT == {"alpha": 0.704, "beta": 1.182}


def test_design_inputs_are_marked_and_only_they():
    inputs = {f.id for f in PUBLISHED.values() if f.is_input}
    assert inputs == {"P1.customers", "P1.window", "P2", "P3.discount.cost",
                      "P3.upgrade.cost", "P3.bundled.cost"}
    roles = published_table()["role"]
    assert set(roles[roles == "input"].index) == inputs
    assert (roles.drop(index=list(inputs)) == "finding").all()
    with pytest.raises(DataError, match="role must be one of"):
        PublishedFigure("PX", "x", 1.0, "USD", "nowhere", 0.0, "absolute", role="calibrated")


def test_tolerances():
    assert get("P4.slv").within(1410 * 1.029) and not get("P4.slv").within(1410 * 1.031)
    assert get("P3.discount.success").within(46.4) and not get("P3.discount.success").within(46.6)
    with pytest.raises(ValueError, match="qualitative"):
        get("P6").within(1.0)
    with pytest.raises(DataError, match="known ids"):
        get("P99")


def test_tolerance_labels_and_upper_bound():
    assert PUBLISHED["P3.bundled.success"].tolerance_label == "±1.5 pp"  # percentage points
    assert PUBLISHED["P3.bundled.roi"].tolerance_label == "±15%"
    p11 = PUBLISHED["P11"]
    assert p11.tolerance_label == "upper bound"
    assert p11.within(2.9) and p11.within(0.5) and not p11.within(3.1)
