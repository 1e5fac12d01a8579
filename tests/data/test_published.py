import pytest

from winback_study.data.published import OFFER_EXHIBIT, PUBLISHED, get, published_table
from winback_study.errors import DataError


def test_every_study_target_is_there_with_a_source():
    ids = {fid.split(".")[0] for fid in PUBLISHED}
    assert ids == {f"P{i}" for i in range(1, 12)}
    assert all(f.source for f in PUBLISHED.values())
    assert len(published_table()) == len(PUBLISHED)


def test_exhibit_values():
    assert OFFER_EXHIBIT.loc["upgrade", "roi_pct"] == 793
    assert OFFER_EXHIBIT.loc["bundled", "success_rate_pct"] == 47
    assert get("P4.slv").value == 1410 and get("P4.clv_first").value == 1262


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
