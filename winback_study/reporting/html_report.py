"""The one-page HTML report of ``winback-study analyze``: tables, figures, notes, mapping.

Everything on the page comes from the user's own file (column names, category labels,
values, notes, the mapping text), so every piece of text is HTML-escaped; the page holds
no JavaScript and loads nothing from outside its folder. A Content-Security-Policy that
forbids scripts is added as a second line of defence only.
"""

from __future__ import annotations

import html
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePath
from urllib.parse import quote

import pandas as pd

from winback_study.core.io import atomic_path

__all__ = [
    "CONTENT_SECURITY_POLICY", "ReportSection", "format_value", "table_html", "write_html_report",
]

#: Sent as a ``<meta http-equiv>``: no scripts, no fetches, images only from the page's
#: own folder (``file:`` when opened from disk), styles only inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'"

#: What ``DataFrame.to_html`` may emit; anything else means a label went out unescaped.
_TABLE_TAGS = frozenset({"table", "thead", "tbody", "tr", "th", "td"})
_TABLE_ATTRS = frozenset({"border", "class", "style", "colspan", "rowspan", "halign", "valign"})
#: What the page as a whole may contain (the report's own markup plus the tables).
_PAGE_TAGS = _TABLE_TAGS | frozenset({
    "html", "head", "meta", "title", "style", "body", "header", "nav", "main", "section",
    "footer", "h1", "h2", "h3", "p", "ul", "li", "a", "strong", "code", "pre", "div",
    "figure", "figcaption", "img", "span", "small",
})
_PAGE_ATTRS = _TABLE_ATTRS | frozenset({
    "lang", "charset", "http-equiv", "content", "name", "id", "href", "src", "alt",
})

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.25rem; }
h2 { border-bottom: 2px solid #eee; padding-bottom: 0.2rem; margin-top: 2.5rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.input { color: #555; margin-top: 0; }
.note { white-space: pre-line; max-width: 60rem; }
.skipped li strong, .ran li a { font-weight: 600; }
.count { color: #666; font-size: 0.9rem; }
figure { margin: 1rem 0 1.5rem; }
figcaption { font-size: 0.85rem; color: #444; margin: 0.3rem 0; overflow-wrap: anywhere; }
figure.table > figcaption { font-size: 0.95rem; font-weight: 600; color: #222; }
.scroll { overflow-x: auto; max-width: 100%; }
table.data { border-collapse: collapse; font-size: 0.85rem;
             font-variant-numeric: tabular-nums; }
table.data th, table.data td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem;
                               vertical-align: top; overflow-wrap: anywhere; }
table.data td { text-align: right; }
table.data thead th { border-bottom: 2px solid #bbb; text-align: right; }
table.data tbody th { text-align: left; font-weight: 600; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
        gap: 1rem 1.5rem; }
.figs figure { margin: 0; min-width: 0; }
.figs img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
.missing { color: #D55E00; }
pre.mapping { background: #f7f7f7; border: 1px solid #e5e5e5; padding: 0.75rem;
              overflow-x: auto; white-space: pre; }
footer { margin-top: 3rem; border-top: 1px solid #eee; padding-top: 0.5rem;
         color: #666; font-size: 0.8rem; overflow-wrap: anywhere; }
"""


@dataclass
class ReportSection:
    """One analysis on the report: its title, tables, figures and notes.

    Attributes
    ----------
    title : str
        Heading of the section, e.g. ``"Return model"``.
    tables : dict of str to DataFrame
        Caption -> table, shown in this order.
    figures : dict of str to Path
        Caption -> image file (PNG; SVG works too), shown in this order. The page links
        the image by a path relative to the report's folder.
    notes : list of str
        Plain-text paragraphs, shown before the tables; line breaks are kept.
    """

    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_html_report(
    path: str | os.PathLike,
    *,
    title: str,
    data_name: str,
    sections: Sequence[ReportSection],
    skipped: Mapping[str, str],
    mapping_text: str,
    summary_lines: Sequence[str] = (),
) -> Path:
    """Write the one-page, self-contained HTML report.

    The page holds the title, the input file's name, a list of what ran and what was
    skipped (and why), every section (notes, tables, figures), the mapping used and, last,
    the package's version stamp. All text is HTML-escaped; there is no JavaScript and no
    external resource. The same inputs always give the same bytes.

    Parameters
    ----------
    path : path
        The ``.html`` file to write (its folder is created). Written atomically: a failure
        leaves no partial file (and an existing report untouched).
    title : str
        Heading of the page.
    data_name : str
        Name of the user's input file, shown under the title.
    sections : sequence of ReportSection
        The analyses that ran, in page order.
    skipped : mapping of str to str
        Analysis name -> why it was skipped.
    mapping_text : str
        The column mapping used, shown verbatim in a ``<pre>`` block.
    summary_lines : sequence of str, optional
        Short lines shown at the top (e.g. row counts, period covered).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RuntimeError
        If a table rendered with markup other than plain table tags (a label went out
        unescaped); nothing is written then.
    """
    from winback_study.core.provenance import version_stamp

    target = Path(path)
    page = _render_page(
        base=target.resolve().parent, title=title, data_name=data_name, sections=sections,
        skipped=skipped, mapping_text=mapping_text, summary_lines=summary_lines,
        stamp=version_stamp(),
    )
    _check_markup(page, _PAGE_TAGS, _PAGE_ATTRS, what="the report")
    with atomic_path(target) as tmp:
        tmp.write_bytes(page.encode("utf-8"))
    return target


def format_value(v: object) -> str:
    """A table cell as readable text.

    Floats to 4 significant digits (``0.1235``, ``12.35``), whole numbers from 1,000 on
    without decimals and from 10,000 on with thousands separators (``53,000``); missing
    values (NaN, None, NA, NaT) as an empty cell; dates at midnight without the time.
    """
    if _is_missing(v):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, numbers.Integral):
        i = int(v)
        return f"{i:,d}" if abs(i) >= 10_000 else str(i)
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        if f == 0:
            return "0"
        if 1e3 <= abs(f) < 1e15:
            return format_value(round(f))
        return f"{f:.4g}"
    if isinstance(v, pd.Timestamp) and v.tz is None and v == v.normalize():
        return v.strftime("%Y-%m-%d")
    return str(v)


def _label(v: object) -> str:
    """An index or column label as text: like a cell, but integers without separators."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return str(int(v))
    if isinstance(v, tuple):
        return ", ".join(_label(x) for x in v)
    return format_value(v)


def _is_missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if not pd.api.types.is_scalar(v):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _text_index(index: pd.Index) -> pd.Index:
    names = [None if n is None else _label(n) for n in index.names]
    if isinstance(index, pd.MultiIndex):
        arrays = [[_label(v) for v in index.get_level_values(i)] for i in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(arrays, names=names)
    return pd.Index([_label(v) for v in index], dtype=object, name=names[0], tupleize_cols=False)


def table_html(df: pd.DataFrame) -> str:
    """Render one table: every cell and label turned to text, then escaped by pandas.

    Cells and labels are formatted here (:func:`format_value`), so pandas only ever sees
    strings; ``to_html(escape=True)`` escapes ``&``, ``<`` and ``>`` in every cell, index
    value, column label, index name, column-axis name and MultiIndex level (checked for
    pandas 2.x). The result is then parsed and refused if it holds any tag other than
    table markup, so a pandas that left a label raw cannot put markup on the page.
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    shown = df.map(format_value)
    shown.index = _text_index(df.index)
    shown.columns = _text_index(df.columns)
    # a plain 0..n-1 row number is left out, unless the column axis has a name (pandas
    # shows that name in the index's header cell)
    default_index = (isinstance(df.index, pd.RangeIndex) and df.index.name is None
                     and all(n is None for n in df.columns.names))
    out = shown.to_html(escape=True, index=not default_index, border=0, classes="data",
                        na_rep="", render_links=False)
    _check_markup(out, _TABLE_TAGS, _TABLE_ATTRS, what="a table")
    return out


class _MarkupChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)

    handle_startendtag = handle_starttag


def _check_markup(text: str, tags: frozenset[str], attrs: frozenset[str], what: str) -> None:
    checker = _MarkupChecker()
    checker.feed(text)
    checker.close()
    bad = sorted(checker.tags - tags) + sorted(checker.attrs - attrs)
    if bad:
        raise RuntimeError(f"{what} rendered with unexpected markup {bad}: refusing to write "
                           "a report in which user text might not be escaped")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _image_src(figure: Path, base: Path) -> str:
    """The figure's address as seen from the report's folder (relative, URL-quoted)."""
    resolved = figure.resolve()
    try:
        rel = os.path.relpath(resolved, base)
    except ValueError:  # another drive (Windows): no relative path exists
        return resolved.as_uri()
    return quote(PurePath(rel).as_posix(), safe="/")


def _figure_html(caption: str, figure: Path, base: Path) -> str:
    figure = Path(figure)
    if not figure.is_file():
        return (f'<figure><p class="missing">Figure file not found: '
                f"<code>{_e(figure.name)}</code></p><figcaption>{_e(caption)}</figcaption>"
                "</figure>")
    src = _image_src(figure, base)
    others = [f'<a href="{_e(_image_src(alt, base))}">{alt.suffix[1:].upper()}</a>'
              for alt in (figure.with_suffix(s) for s in (".svg", ".pdf"))
              if alt != figure and alt.is_file()]
    links = (" · " + " · ".join(others)) if others else ""
    return (f'<figure><a href="{_e(src)}"><img src="{_e(src)}" alt="{_e(caption)}"></a>'
            f"<figcaption>{_e(caption)}{links}</figcaption></figure>")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _render_page(
    *, base: Path, title: str, data_name: str, sections: Sequence[ReportSection],
    skipped: Mapping[str, str], mapping_text: str, summary_lines: Sequence[str], stamp: str,
) -> str:
    parts: list[str] = [
        "<!doctype html>",
        '<html lang="en"><head>',
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CONTENT_SECURITY_POLICY)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} – {_e(data_name)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="input">Input file: <code>{_e(data_name)}</code></p></header>',
        '<nav id="overview">',
    ]
    if summary_lines:
        parts.append('<ul class="summary">'
                     + "".join(f"<li>{_e(line)}</li>" for line in summary_lines) + "</ul>")
    parts.append("<h2>What ran</h2>")
    if sections:
        parts.append('<ul class="ran">' + "".join(
            f'<li><a href="#section-{i}">{_e(s.title)}</a> <span class="count">('
            f"{_plural(len(s.tables), 'table')}, {_plural(len(s.figures), 'figure')})</span></li>"
            for i, s in enumerate(sections, 1)) + "</ul>")
    else:
        parts.append("<p>No analysis ran.</p>")
    parts.append("<h2>What was skipped, and why</h2>")
    if skipped:
        parts.append('<ul class="skipped">' + "".join(
            f"<li><strong>{_e(name)}</strong>: {_e(reason)}</li>"
            for name, reason in skipped.items()) + "</ul>")
    else:
        parts.append("<p>Nothing was skipped.</p>")
    parts.append("</nav><main>")
    for i, section in enumerate(sections, 1):
        parts.append(f'<section id="section-{i}"><h2>{_e(section.title)}</h2>')
        parts.extend(f'<p class="note">{_e(note)}</p>' for note in section.notes)
        for caption, table in section.tables.items():
            parts.append(f'<figure class="table"><figcaption>{_e(caption)}</figcaption>'
                         f'<div class="scroll">{table_html(table)}</div></figure>')
        if section.figures:
            parts.append('<div class="figs">' + "".join(
                _figure_html(caption, fig, base) for caption, fig in section.figures.items())
                + "</div>")
        parts.append("</section>")
    parts += [
        '<section id="mapping"><h2>The mapping used</h2>',
        f'<pre class="mapping">{_e(mapping_text)}</pre></section>',
        "</main>",
        f'<footer><p id="version-stamp">{_e(stamp)}</p></footer>',
        "</body></html>",
        "",
    ]
    return "\n".join(parts)
