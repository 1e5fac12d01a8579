from winback_study import simulate_study
from winback_study.published import PUBLISHED
from winback_study.replication import COLUMNS, replication_table, to_markdown


def test_table_has_a_row_per_published_figure():
    t = replication_table(simulate_study(53_000, seed=8))
    assert list(t.columns) == COLUMNS
    assert set(t["id"]) == set(PUBLISHED)
    calibrated = t[t["id"].str.match(r"P[2-9]")]
    assert (calibrated["status"] == "match").all(), calibrated[calibrated["status"] != "match"]
    assert "| id |" in to_markdown(t)
