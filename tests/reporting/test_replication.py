from winback_study import simulate_study
from winback_study.data.published import PUBLISHED
from winback_study.reporting.replication import COLUMNS, replication_table, to_markdown


def test_table_has_a_row_per_published_figure():
    t = replication_table(simulate_study(53_000, seed=8))
    assert list(t.columns) == COLUMNS
    assert set(t["id"]) == set(PUBLISHED)
    calibrated = t[t["id"].str.match(r"P[2-9]")]
    assert (calibrated["status"] == "match").all(), calibrated[calibrated["status"] != "match"]
    assert "| id |" in to_markdown(t)


def test_format_number_keeps_coefficients_and_counts_readable():
    from winback_study.reporting.replication import format_number

    assert format_number(53000.0) == "53,000"
    assert format_number(0.1923) == "0.192" and format_number(-0.136) == "-0.136"
    assert format_number(673.24) == "673.2" and format_number(float("nan")) == ""
    assert format_number("match") == "match"
