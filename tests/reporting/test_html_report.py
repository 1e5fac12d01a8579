"""The analyze command's one-page HTML report: user text is shown, never run.

Every check here reads the written bytes (or parses them); none relies on the page's
Content-Security-Policy, which is only a second line of defence.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest

from winback_study.core.provenance import version_stamp
from winback_study.reporting import html_report
from winback_study.reporting.html_report import (
    CONTENT_SECURITY_POLICY,
    ReportSection,
    table_html,
    write_html_report,
)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ENTITY = "&lt;b&gt;"  # a label that merely looks escaped must still show as typed
CAPTION = 'Return "rate" & <b>odds</b>'
NOTE = "Fitted on 3 arms.</p><script>alert(2)</script>\nSecond line & more"
MAPPING = "customer_id: id\nsegment: seg </pre><script>alert(3)</script>\n"
FIG_NAME = "return model #1 100%.png"

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr"}
#: Every tag the report may contain: anything else (script, svg, iframe...) is a failure.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "main", "section",
    "footer", "h1", "h2", "h3", "p", "ul", "li", "a", "strong", "code", "pre", "div",
    "figure", "figcaption", "img", "span", "small", "table", "thead", "tbody", "tr", "th",
    "td",
}


class Page(HTMLParser):
    """Tags, attributes, text (with its enclosing tags) and nesting errors of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[tuple[tuple[str, ...], str]] = []
        self.errors: list[str] = []
        self.stack: list[str] = []
        self.doctype = False
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        if data.strip():
            self.text.append((tuple(self.stack), data))

    def texts_in(self, tag: str) -> list[str]:
        return [t for where, t in self.text if tag in where]

    def attr(self, tag: str, name: str) -> list[str | None]:
        return [v for t, k, v in self.attrs if t == tag and k == name]


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)  # existence is all these tests need
    return path


def _hostile_sections(fig: Path) -> list[ReportSection]:
    table = pd.DataFrame(
        {"segment": [SCRIPT, "plain", ENTITY], IMG: [0.123456, 53000.0, np.nan],
         "n": [3, 12, 40_000]},
        index=pd.Index([IMG, "b", "Café – €"], name="<b>arm</b>"),
    )
    wide = pd.DataFrame(
        [[1.5, 2.0], [3.25, 4.0]],
        index=pd.MultiIndex.from_tuples([(SCRIPT, "x"), ("y", IMG)], names=[IMG, SCRIPT]),
        columns=pd.MultiIndex.from_tuples([(IMG, "a"), ("g", SCRIPT)], names=[SCRIPT, IMG]),
    )
    return [
        ReportSection(title="Return model " + SCRIPT, tables={CAPTION: table, "wide": wide},
                      figures={CAPTION: fig}, notes=[NOTE]),
        ReportSection(title="Second lifetime", notes=["Nothing to see & <i>here</i>"]),
    ]


def _write(path: Path, fig: Path) -> Path:
    return write_html_report(
        path, title="Win-back " + SCRIPT, data_name="lapsed <svg onload=alert(4)>.csv",
        sections=_hostile_sections(fig), skipped={"Offer targeting " + IMG: "no column " + SCRIPT},
        mapping_text=MAPPING, summary_lines=["12 rows & 3 arms " + IMG],
    )


@pytest.fixture
def report(tmp_path) -> Path:
    fig = _png(tmp_path / "out" / "figures" / FIG_NAME)
    return _write(tmp_path / "out" / "report.html", fig)


def test_no_user_text_becomes_markup(report):
    raw = report.read_text(encoding="utf-8")
    low = raw.lower()
    assert "<script" not in low
    assert "<img src=x" not in low
    assert "<svg" not in low and "<i>" not in low and "<b>" not in low
    page = Page(raw)
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    assert not [a for a in page.attrs if a[1].startswith("on")]
    assert page.tags.count("img") == 1  # the figure, and nothing a label smuggled in
    # nothing is loaded or linked from outside the report's folder
    for tag, name, value in page.attrs:
        if name in ("src", "href"):
            assert not urlparse(value).scheme and not value.startswith("/"), (tag, value)
    assert not {"link", "script", "iframe", "object", "embed", "base"} & set(page.tags)


def test_user_text_is_shown_exactly_as_typed(report):
    raw = report.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw
    assert "&amp;lt;b&amp;gt;" in raw
    page = Page(raw)
    cells = page.texts_in("td")
    heads = page.texts_in("th")
    assert SCRIPT in cells and ENTITY in cells
    assert IMG in heads and "<b>arm</b>" in heads and SCRIPT in heads
    assert page.texts_in("pre") == [MAPPING]
    assert NOTE in page.texts_in("p")
    assert CAPTION in page.texts_in("figcaption")
    assert "Win-back " + SCRIPT in page.texts_in("title")[0]
    assert "lapsed <svg onload=alert(4)>.csv" in page.texts_in("code")
    assert ": no column " + SCRIPT in page.texts_in("li")
    assert "12 rows & 3 arms " + IMG in page.texts_in("li")
    assert page.attr("img", "alt") == [CAPTION]


@pytest.mark.parametrize("where", [
    "cell", "index value", "index name", "column label", "column-axis name",
    "row level", "row level name", "column level", "column level name",
])
def test_every_table_label_is_escaped(where):
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"]})
    if where == "cell":
        df.loc[0, "b"] = IMG
    elif where == "index value":
        df.index = [IMG, "r"]
    elif where == "index name":
        df.index.name = IMG
    elif where == "column label":
        df.columns = ["a", IMG]
    elif where == "column-axis name":
        df.columns.name = IMG
    elif where.startswith("row level"):
        df.index = pd.MultiIndex.from_tuples(
            [(IMG if where == "row level" else "p", "q"), ("r", "s")],
            names=[IMG if where == "row level name" else "l0", "l1"])
    else:
        df.columns = pd.MultiIndex.from_tuples(
            [(IMG if where == "column level" else "p", "q"), ("r", "s")],
            names=[IMG if where == "column level name" else "c0", "c1"])
    out = table_html(df)
    page = Page(out)
    assert set(page.tags) <= {"table", "thead", "tbody", "tr", "th", "td"}
    assert "<img" not in out.lower()
    assert IMG in [t for _, t in page.text]


def test_numbers_are_formatted_readably():
    df = pd.DataFrame({"x": [0.123456, 12.3456, 53000.0, np.nan, 1e-6],
                       "n": [3, 12, 40_000, 7, 2015]})
    cells = [t for where, t in Page(table_html(df)).text if "td" in where]
    assert cells == ["0.1235", "3", "12.35", "12", "53,000", "40,000", "7", "1e-06", "2015"]


def test_a_table_pandas_left_unescaped_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_html",
                        lambda self, *a, **k: f"<table><tr><td>{SCRIPT}</td></tr></table>")
    with pytest.raises(RuntimeError, match="unexpected markup"):
        write_html_report(tmp_path / "r.html", title="t", data_name="d.csv",
                          sections=[ReportSection("s", tables={"c": pd.DataFrame({"a": [1]})})],
                          skipped={}, mapping_text="")
    assert not list(tmp_path.iterdir())


def test_the_figure_is_linked_relative_to_the_report(report):
    page = Page(report.read_text(encoding="utf-8"))
    (src,) = page.attr("img", "src")
    assert not urlparse(src).scheme and not Path(src).is_absolute()
    assert src == "figures/return%20model%20%231%20100%25.png"  # URL-quoted, # and % too
    assert (report.parent / unquote(src)).is_file()


def test_a_figure_outside_the_report_folder_is_still_relative(tmp_path):
    fig = _png(tmp_path / "elsewhere" / "f.png")
    out = write_html_report(tmp_path / "out" / "r.html", title="t", data_name="d.csv",
                            sections=[ReportSection("s", figures={"c": fig})],
                            skipped={}, mapping_text="")
    (src,) = Page(out.read_text(encoding="utf-8")).attr("img", "src")
    assert src == "../elsewhere/f.png"
    assert (out.parent / src).resolve() == fig.resolve()


def test_a_missing_figure_is_named_not_shown_broken(tmp_path):
    out = write_html_report(tmp_path / "r.html", title="t", data_name="d.csv",
                            sections=[ReportSection("s", figures={"c": tmp_path / "gone.png"})],
                            skipped={}, mapping_text="")
    page = Page(out.read_text(encoding="utf-8"))
    assert "img" not in page.tags
    assert "gone.png" in page.texts_in("code")


def test_the_version_stamp_ends_the_page(report):
    raw = report.read_text(encoding="utf-8")
    stamp = html.escape(version_stamp())
    assert stamp and raw.count(stamp) == 1
    tail = raw[raw.index(stamp) + len(stamp):]
    assert re.fullmatch(r"(\s*</\w+>)*\s*", tail), tail
    assert Page(raw).text[-1][1] == version_stamp()


def test_the_page_parses_cleanly_and_is_self_contained(report):
    raw = report.read_bytes().decode("utf-8")  # UTF-8, or this raises
    page = Page(raw)
    assert page.doctype
    assert not page.errors, page.errors
    assert [page.tags.count(t) for t in ("html", "head", "body", "title")] == [1, 1, 1, 1]
    assert page.tags[:3] == ["html", "head", "meta"] and page.attr("meta", "charset") == ["utf-8"]
    assert page.attr("meta", "http-equiv") == ["Content-Security-Policy"]
    assert page.attr("meta", "content")[0] == CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    assert "script-src" not in CONTENT_SECURITY_POLICY  # so scripts fall to 'none'
    assert "Café – €" in page.texts_in("th")
    assert "&lt;b&gt;arm&lt;/b&gt;" in raw


def test_the_overview_lists_what_ran_and_what_was_skipped(report, tmp_path):
    page = Page(report.read_text(encoding="utf-8"))
    links = page.attr("a", "href")
    assert "#section-1" in links and "#section-2" in links
    assert "Return model " + SCRIPT in page.texts_in("a")
    assert "Offer targeting " + IMG in page.texts_in("strong")
    empty = write_html_report(tmp_path / "e.html", title="t", data_name="d.csv", sections=[],
                              skipped={}, mapping_text="")
    text = [t for _, t in Page(empty.read_text(encoding="utf-8")).text]
    assert "No analysis ran." in text and "Nothing was skipped." in text


def test_writing_twice_gives_identical_bytes(report):
    first = report.read_bytes()
    fig = report.parent / "figures" / FIG_NAME
    _write(report, fig)
    assert report.read_bytes() == first


def _boom(*args, **kwargs):
    raise ValueError("to_html failed")


def test_a_failed_render_leaves_no_file_and_keeps_the_old_one(tmp_path, report, monkeypatch):
    target = tmp_path / "new" / "report.html"
    before = report.read_bytes()
    monkeypatch.setattr(pd.DataFrame, "to_html", _boom)
    fig = report.parent / "figures" / FIG_NAME
    with pytest.raises(ValueError, match="to_html failed"):
        _write(target, fig)
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))
    with pytest.raises(ValueError, match="to_html failed"):
        _write(report, fig)
    assert report.read_bytes() == before
    assert sorted(p.name for p in report.parent.iterdir()) == ["figures", "report.html"]


def test_a_write_failing_halfway_leaves_no_partial_file(tmp_path, monkeypatch):
    fig = _png(tmp_path / "figures" / "f.png")
    target = tmp_path / "report.html"
    real = Path.write_bytes

    def half_then_fail(self, data):
        real(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(html_report.Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        _write(target, fig)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures"]
