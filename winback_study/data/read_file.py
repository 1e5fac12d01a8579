"""Read a lapsed-customer file: CSV (parsed with pyarrow) or Parquet, file checks only.

:func:`read_table` makes every check a file needs before its columns can be looked at: the
file exists and has a known extension, is not empty, is UTF-8 text, is comma-separated, and
every line has as many fields as the header (a short or long row is named by its line
number). It validates no column: that is :func:`winback_study.data.study_table.validate_study`,
and :func:`~winback_study.data.study_table.load_study` does both. Values are read as pandas
would read them (the same NA strings, number parsing and column names), only faster.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as arrow
import pyarrow.compute as arrow_pc
import pyarrow.csv as arrow_csv

from winback_study.errors import MAX_ROWS_SHOWN, StudyDataError

__all__ = ["read_table", "dataset_files", "parquet_columns", "is_parquet"]


_NA_STRINGS = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
]


#: floats hold every integer up to 2**53 exactly
_MAX_EXACT_INT = 2.0**53
_CSV_EXTENSIONS = (".csv",)
_PARQUET_EXTENSIONS = (".parquet", ".pq")


def _file_error(path: Path, text: str, problem: str) -> StudyDataError:
    return StudyDataError(f"{path.name}: {text}", problem=problem)


_SCAN_CHUNK = 1 << 24  # bytes per read of the streaming pre-scan


_BLOCK_SIZE = 1 << 24  # bytes per pyarrow parse block (larger blocks parse faster)


_HEAD_LIMIT = 1 << 22  # at most this much of the file is kept to find the header line


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


_TRUE_VALUES = ["True", "TRUE", "true"]  # pandas' spellings of booleans (pyarrow's include 1/0)


_FALSE_VALUES = ["False", "FALSE", "false"]


_INT_TEXT = r"^\s*[+-]?[0-9]+\s*$"


_HEX_TEXT = r"^\s*[+-]?0[xX][0-9a-fA-F]+\s*$"


def _decode(path: Path, raw: bytes) -> str:
    bom = b"\xef\xbb\xbf"
    start = len(bom) if raw.startswith(bom) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = start + err.start
        bad = raw[offset]
        line = raw.count(b"\n", 0, offset) + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            guess, codec = "UTF-16", "utf-16"
        else:
            try:
                raw.decode("cp1252")
                guess, codec = "Windows-1252 (cp1252)", "cp1252"
            except UnicodeDecodeError:
                guess, codec = "Latin-1 (ISO-8859-1)", "latin-1"
        line_start = raw.rfind(b"\n", 0, offset) + 1
        line_end = raw.find(b"\n", offset)
        line_end = len(raw) if line_end < 0 else line_end
        snippet = raw[max(line_start, offset - 20) : min(line_end, offset + 20)]
        near = snippet.decode(codec, errors="replace").strip()
        raise _file_error(
            path,
            f"not UTF-8 text: byte 0x{bad:02x} at byte offset {offset} (line {line}, near "
            f"{near!r}) is not valid UTF-8; the file looks like {guess}. Expected UTF-8: "
            f"re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel) or convert it, e.g. "
            f"`iconv -f {codec} -t utf-8`",
            "bad_encoding",
        ) from None


@dataclass
class _Scan:
    """What one streaming pass over a CSV file found (see :func:`_scan`)."""

    header: str | None = None  # the first non-blank line; None: only blank lines
    lines_before_header: int = 0  # blank lines above the header
    quotes: bool = False  # a '"' occurs: quoted fields may hold line breaks
    hex_like: bool = False  # '0x' occurs: pyarrow reads 0x10 as 16, pandas as text
    plus: bool = False  # '+' occurs: pyarrow reads +5 as a float, pandas as an int
    names: list[str] | None = None  # pandas' column names, when the header's differ


def _find_header(head: bytes, complete: bool) -> tuple[str, int] | None:
    """The first non-blank line of ``head`` and the number of lines above it (None: not yet
    known, more of the file is needed)."""
    text = head.decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")
    lines = _LINE_BREAK.split(text)
    for i, line in enumerate(lines):
        if line.strip():
            if i == len(lines) - 1 and not complete:
                return None  # the line may go on in the next chunk
            return line, i
    return None


def _scan(path: Path) -> _Scan:
    """Check that the file is UTF-8 and find its header, reading it in chunks (the whole file
    is never held in memory)."""
    found = _Scan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = b""
    last = b""
    content = False  # any byte that is not white space
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_SCAN_CHUNK):
                if decoder.getstate()[0] or not chunk.isascii():
                    decoder.decode(chunk)
                edge = last + chunk[:1]
                last = chunk[-1:]
                found.quotes = found.quotes or b'"' in chunk
                found.plus = found.plus or b"+" in chunk
                if not found.hex_like and (b"x" in chunk or b"X" in chunk):  # memchr: fast
                    found.hex_like = (b"0x" in chunk or b"0X" in chunk
                                      or edge in (b"0x", b"0X"))
                content = content or not chunk.isspace()
                if found.header is None and len(head) < _HEAD_LIMIT:
                    head += chunk
                    header = _find_header(head, complete=len(head) >= _HEAD_LIMIT)
                    if header is not None:
                        found.header, found.lines_before_header = header
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _decode(path, path.read_bytes())  # raises the detailed message
        raise _file_error(path, "not UTF-8 text; expected UTF-8", "bad_encoding") from None
    if found.header is None and content:  # the header is further down than _HEAD_LIMIT
        header = _find_header(path.read_bytes(), complete=True)
        if header is not None:
            found.header, found.lines_before_header = header
    return found


def _lines_text(lines: list[int], n_total: int) -> str:
    """``"lines 3, 17 (2 lines)"``, as :func:`winback_study.errors.rows_text` lists rows."""
    shown = ", ".join(str(v) for v in lines[:MAX_ROWS_SHOWN])
    more = " ..." if n_total > MAX_ROWS_SHOWN else ""
    return f"lines {shown}{more} ({n_total:,} lines)"


def _row_length_error(path: Path, bad: list[tuple[int, int]], n_total: int,
                      expected: int) -> StudyDataError:
    """One error for the lines (``(line, fields)``, in file order) whose field count is not
    the header's."""
    fields = [n for _, n in bad]
    if not bad:  # defensive: pyarrow saw bad rows but the second pass could not place them
        where = f"{n_total:,} row{'s' if n_total != 1 else ''} {'has' if n_total == 1 else 'have'}"
        what = "a different number of fields"
        kinds = ""
    elif n_total == 1:
        where, what = f"line {bad[0][0]} has", f"{fields[0]} field{'s' if fields[0] != 1 else ''}"
        kinds = " (a short row)" if fields[0] < expected else " (a long row)"
    else:
        where = f"{_lines_text([line for line, _ in bad], n_total)} have"
        what = ", ".join(map(str, fields[:MAX_ROWS_SHOWN]))
        what += (" ..." if n_total > MAX_ROWS_SHOWN else "") + " fields"
        short, long = any(n < expected for n in fields), any(n > expected for n in fields)
        kinds = (" (short and long rows)" if short and long
                 else " (short rows)" if short else " (long rows)")
    return _file_error(
        path,
        f"{where} {what} but the header has {expected}{kinds}; expected the same number of "
        f"comma-separated fields on every line (check for a missing field, an unquoted comma "
        f"or an unclosed quote)",
        "bad_row_length",
    )


def _bad_lines(path: Path, expected: int, want: int) -> list[tuple[int, int]]:
    """The first ``want`` records (physical line where each starts, 1-based, and its number
    of fields) whose field count is not ``expected``.

    A second, slower pass made only when pyarrow found such records (its row numbers skip
    blank lines and line breaks inside quoted fields). Python's csv module splits fields and
    records as pyarrow does: a quote opens a quoted field only at the start of a field,
    ``""`` inside one is a quote, and quoted commas and line breaks are part of the field.
    """
    out: list[tuple[int, int]] = []
    header_seen = False
    raw: list[str] = []  # the lines of the current record, as in the file

    def lines(handle: Any) -> Any:
        for line in handle:
            raw.append(line)
            yield line

    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(lines(handle))
        consumed = 0
        try:
            for record in reader:
                start, consumed = consumed + 1, reader.line_num
                text = "".join(raw)
                raw.clear()
                if not text.strip():
                    continue  # a blank line (white space only): not a row, as for pyarrow
                if not header_seen:
                    header_seen = True
                elif len(record) != expected:
                    out.append((start, len(record)))
                    if len(out) >= want:
                        break
        except csv.Error:  # e.g. a field longer than the csv module allows: stop here
            pass
    return out


def _arrow_options(bad: list[tuple[int, int]], scan: _Scan,
                   column_types: dict[str, Any] | None = None,
                   include: list[str] | None = None) -> dict[str, Any]:
    """pyarrow's options with today's (pandas') meaning of missing values and booleans;
    rows with the wrong number of fields are skipped and counted in ``bad``."""

    def handler(row: Any) -> str:
        if row.text.strip():  # pandas skips lines holding only white space: so do we
            bad.append((row.expected_columns, row.actual_columns))
        return "skip"

    names = scan.names or []  # given names replace the header line, which is skipped
    return {
        "read_options": arrow_csv.ReadOptions(
            use_threads=True, block_size=_BLOCK_SIZE, column_names=names,
            skip_rows=scan.lines_before_header + (1 if names else 0),
        ),
        "parse_options": arrow_csv.ParseOptions(
            delimiter=",", quote_char='"', double_quote=True, escape_char=False,
            newlines_in_values=scan.quotes,  # a line break can only be inside quotes
            ignore_empty_lines=True, invalid_row_handler=handler,
        ),
        "convert_options": arrow_csv.ConvertOptions(
            check_utf8=False,  # the pre-scan checked the whole file
            null_values=_NA_STRINGS, strings_can_be_null=True, quoted_strings_can_be_null=True,
            true_values=_TRUE_VALUES, false_values=_FALSE_VALUES,
            column_types=column_types or {}, include_columns=include or [],
        ),
        "memory_pool": _memory_pool(),
    }


def _memory_pool() -> arrow.MemoryPool:
    """jemalloc where pyarrow has it: with the default (mimalloc) parsing a large file spends
    about as long in the kernel as in the parser, and peaks higher."""
    try:
        return arrow.jemalloc_memory_pool()
    except (NotImplementedError, arrow.ArrowNotImplementedError):  # not in this build
        return arrow.default_memory_pool()


def _arrow_table(path: Path, scan: _Scan) -> arrow.Table:
    """Parse the file with pyarrow, types inferred as pandas would have (dates stay text).

    Types are inferred from the first block and then imposed on the whole file, which is
    much faster than inferring every block; when a later block does not fit (say text in a
    column of numbers), the file is read again with inference throughout, so the result is
    always what whole-file inference gives.
    """
    source = str(path)
    with arrow_csv.open_csv(source, **_arrow_options([], scan)) as reader:
        first = reader.schema
    names = _mangle(first.names)
    scan.names = names if names != first.names else None
    types = {name: (arrow.string() if arrow.types.is_temporal(f.type) else f.type)
             for name, f in zip(names, first, strict=True) if not arrow.types.is_null(f.type)}
    bad: list[tuple[int, int]] = []
    try:
        table = arrow_csv.read_csv(source, **_arrow_options(bad, scan, types))
    except arrow.ArrowInvalid:  # a later block does not fit the first block's types
        bad.clear()
        table = arrow_csv.read_csv(source, **_arrow_options(bad, scan))
    if bad:
        expected = bad[0][0]
        lines = _bad_lines(path, expected, MAX_ROWS_SHOWN)
        raise _row_length_error(path, lines, len(bad), expected)
    temporal = [f.name for f in table.schema if arrow.types.is_temporal(f.type)]
    if temporal:  # inferred only in a later block: read those columns again as text
        again = arrow_csv.read_csv(source, **_arrow_options(
            [], scan, dict.fromkeys(temporal, arrow.string()), include=temporal))
        for name in temporal:
            table = table.set_column(table.column_names.index(name), name, again[name])
    return table


def _suspect_numbers(table: arrow.Table, scan: _Scan) -> list[int]:
    """Numeric columns pyarrow may have read differently from pandas: integers beyond
    2**53 (pyarrow: floats; pandas: int64, uint64 or text), hex such as 0x10 (pyarrow: 16;
    pandas: text) and +5 (pyarrow: a float; pandas: an int)."""
    out = []
    for i, f in enumerate(table.schema):
        kind = f.type
        if not (arrow.types.is_integer(kind) or arrow.types.is_floating(kind)):
            continue
        if scan.hex_like:
            out.append(i)
            continue
        if not arrow.types.is_floating(kind):
            continue
        column = table.column(i)
        big = arrow_pc.and_(arrow_pc.is_finite(column),
                            arrow_pc.greater_equal(arrow_pc.abs(column), _MAX_EXACT_INT))
        whole = arrow_pc.equal(column, arrow_pc.floor(column))
        if arrow_pc.any(big).as_py() or (scan.plus and arrow_pc.all(whole).as_py()):
            out.append(i)
    return out


def _as_pandas_number(text: arrow.ChunkedArray, kind: Any) -> np.ndarray | None:
    """What pandas makes of a numeric column (pyarrow type ``kind``) written as ``text``;
    None: what pyarrow read (see :func:`_suspect_numbers`)."""
    if arrow_pc.sum(arrow_pc.match_substring_regex(text, _HEX_TEXT)).as_py():
        return _text_column(text)  # pandas does not read hex: the column stays text
    n_present = len(text) - text.null_count
    if arrow.types.is_integer(kind) or (
        arrow_pc.sum(arrow_pc.match_substring_regex(text, _INT_TEXT)).as_py() or 0
    ) != n_present:
        return None  # pyarrow's integers, or floats that are not all integers: as pandas
    plain = arrow_pc.replace_substring_regex(arrow_pc.utf8_trim_whitespace(text), r"^\+", "")
    for target in (arrow.int64(), arrow.uint64()):
        try:
            numbers = arrow_pc.cast(plain, target)
        except arrow.ArrowInvalid:  # beyond the type's range
            continue
        if text.null_count:  # with gaps pandas reads int64 integers as floats, others as text
            return None if target == arrow.int64() else _text_column(text)
        return numbers.to_numpy()
    return _text_column(text)  # integers beyond 64 bits: pandas keeps the text


def _text_column(column: arrow.ChunkedArray) -> np.ndarray:
    values = column.to_pandas().to_numpy(dtype=object, copy=True)
    values[np.asarray(column.is_null())] = np.nan
    return values


def _mangle(names: list[str]) -> list[str]:
    """Column names as pandas gives them: 'Unnamed: 3' for an empty name, 'x.1' for the
    second 'x'."""
    counts: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"Unnamed: {i}"
        count = counts.get(name, 0)
        while count > 0:
            counts[name] = count + 1
            name = f"{name}.{count}"
            count = counts.get(name, 0)
        out.append(name)
        counts[name] = count + 1
    return out


def _to_pandas(table: arrow.Table, scan: _Scan, path: Path) -> pd.DataFrame:
    """The frame ``pd.read_csv(keep_default_na=False, na_values=_NA_STRINGS)`` gives: text
    and booleans with gaps as objects with NaN, empty columns as NaN floats."""
    fixes: dict[int, np.ndarray] = {}
    suspect = _suspect_numbers(table, scan)
    if suspect:
        names = [table.column_names[i] for i in suspect]
        text = arrow_csv.read_csv(str(path), **_arrow_options(
            [], scan, dict.fromkeys(names, arrow.string()), include=names))
        for i, name in zip(suspect, names, strict=True):
            fixed = _as_pandas_number(text[name], table.schema.field(i).type)
            if fixed is not None:
                fixes[i] = fixed
    n = table.num_rows
    gaps: dict[int, np.ndarray] = {}
    for i, f in enumerate(table.schema):
        if i in fixes:
            table = table.set_column(i, f.name, arrow.nulls(n))  # replaced below
        elif arrow.types.is_null(f.type):
            table = table.set_column(i, f.name, arrow.nulls(n, arrow.float64()))
        elif (arrow.types.is_string(f.type) or arrow.types.is_large_string(f.type)
              or arrow.types.is_boolean(f.type)) and table.column(i).null_count:
            gaps[i] = np.asarray(table.column(i).is_null())
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for i, missing in gaps.items():
        values = frame.iloc[:, i].to_numpy(dtype=object, copy=True)
        values[missing] = np.nan
        fixes[i] = values
    for i, values in fixes.items():
        frame.isetitem(i, values)
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    scan = _scan(path)
    header = scan.header
    if header is None:
        raise _file_error(path, "the file holds only blank lines; expected a header and rows",
                          "empty_file")
    if "," not in header:
        for delimiter, name in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter in header:
                raise _file_error(
                    path,
                    f"the delimiter looks wrong: the header {header[:80]!r} has no commas but "
                    f"contains {name}; expected a comma-separated file (re-save it with ',' "
                    f"as the delimiter)",
                    "wrong_delimiter",
                )
    try:
        table = _arrow_table(path, scan)
        df = _to_pandas(table, scan, path)
    except arrow.ArrowInvalid as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unknown problem"
        if first.startswith("Empty CSV file"):
            raise _file_error(path, "no header found; expected a header and rows",
                              "empty_file") from None
        raise _file_error(path, f"could not parse the CSV file ({first})",
                          "unreadable") from None
    if df.shape[1] == 1:
        only = str(df.columns[0])
        for delimiter in (";", "\t"):
            if delimiter in only:
                raise _file_error(
                    path,
                    f"the delimiter looks wrong: the file parsed into a single column "
                    f"{only[:80]!r} containing {delimiter!r}; expected a comma-separated file",
                    "wrong_delimiter",
                )
    return df


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Parquet file or a folder of Parquet files (by name)."""
    path = Path(os.fspath(path))
    if path.is_dir():
        return bool(dataset_files(path))
    return path.suffix.lower() in _PARQUET_EXTENSIONS


def dataset_files(path: Path) -> list[Path]:
    """The Parquet files of a dataset folder, in order (names starting with ``_`` or ``.``,
    such as ``_metadata`` or a hidden temporary file, are not data)."""
    return sorted(f for f in path.rglob("*") if f.is_file()
                  and f.suffix.lower() in _PARQUET_EXTENSIONS
                  and not any(part.startswith(("_", ".")) for part in f.relative_to(path).parts))


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file or dataset folder (its first file), unread."""
    import pyarrow.parquet as pq

    first = path if path.is_file() else dataset_files(path)[0]
    return list(pq.read_schema(first).names)


def _present(path: Path, columns: list[str] | None) -> list[str] | None:
    """``columns`` to read from a Parquet file or folder; ``None`` (every column) when it
    lacks one of them, so that the message naming the missing column lists all it has."""
    if columns is None:
        return None
    have = set(parquet_columns(path))
    wanted = list(dict.fromkeys(columns))
    return wanted if all(c in have for c in wanted) else None


def _read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        if path.is_dir():
            import pyarrow.parquet as pq

            files = dataset_files(path)
            table = pq.read_table([str(f) for f in files], columns=_present(path, columns))
            return table.to_pandas()
        return pd.read_parquet(path, columns=_present(path, columns))
    except ImportError:
        raise _file_error(path, "reading Parquet needs pyarrow (pip install pyarrow)",
                          "unreadable") from None
    except Exception as err:  # any reader failure becomes one plain message
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _file_error(
            path, f"not a readable Parquet file ({reason}); expected a Parquet table",
            "unreadable",
        ) from None


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV (``.csv``, UTF-8, comma-separated) or Parquet (``.parquet``/``.pq``) file,
    or a folder of Parquet files (a partitioned dataset), with every file-level check of
    :func:`load_study` and no check of the columns.

    Missing values are the empty cell and the usual spellings (``NA``, ``NULL``, ``nan``
    ...; not ``None``, a level of ``offer``); column types are inferred as
    :func:`pandas.read_csv` infers them. The file is only read, never modified.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or a folder of Parquet files (read in name order).
    columns : list of str, optional
        Read only these columns of a Parquet file or folder (the ones it has); a CSV is
        read whole.

    Returns
    -------
    pandas.DataFrame
        The table as stored, on a 0-based index.

    Raises
    ------
    StudyDataError
        File not found, a directory, unknown extension, empty file, header without rows,
        a wrong delimiter, text that is not UTF-8, lines with more or fewer fields than the
        header (``problem='bad_row_length'``, naming the lines) or an unparsable file.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise StudyDataError(f"file not found: '{path}'", problem="file_not_found")
    if path.is_dir():
        if not dataset_files(path):
            raise _file_error(path, f"'{path}' is a folder without Parquet files; expected a "
                              ".csv or .parquet file or a folder of .parquet files",
                              "unreadable")
        return _read_parquet(path, columns)
    suffix = path.suffix.lower()
    if suffix not in _CSV_EXTENSIONS + _PARQUET_EXTENSIONS:
        hint = " (save spreadsheets as CSV UTF-8)" if suffix in (".xls", ".xlsx", ".ods") else ""
        raise _file_error(
            path,
            f"unknown file extension '{path.suffix}'; expected .csv, .parquet or .pq{hint}",
            "unknown_extension",
        )
    try:
        size = path.stat().st_size
        if size == 0:
            raise _file_error(path, "the file is empty (0 bytes); expected a header and rows",
                              "empty_file")
        df = (_read_csv(path) if suffix in _CSV_EXTENSIONS
              else _read_parquet(path, columns))
    except OSError as err:
        raise _file_error(path, f"cannot read the file ({err.strerror or err})",
                          "unreadable") from None
    if df.shape[1] == 0:
        raise _file_error(path, "the file has no columns; expected a study table", "empty_file")
    if len(df) == 0:
        raise _file_error(path, "the file has a header but no data rows; expected one row per "
                          "lapsed customer", "no_rows")
    return df
