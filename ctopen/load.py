"""Files -> Table: CSV/TSV/TXT, XLSX/XLSM, XLS, Parquet, JSON.

Every value is read as text first (so "06810" keeps its zero); each column's type is inferred
afterwards by `ctopen.values.infer_type`. Nothing is guessed silently: the format, encoding,
delimiter, sheet, header row and everything skipped (title rows, footnotes, empty rows and
columns, renamed headers) is recorded in `Table.source` and `Table.warnings`.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import struct
import sys
import tempfile
import threading
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import CtopenError, LimitError, LoadError
from ctopen.values import infer_types, is_blank

TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt"}
EXCEL_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls"}
OTHER_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".json": "json", ".geojson": "json"}
SUPPORTED = "CSV, TSV/TXT, Excel (.xlsx, .xlsm, .xls), Parquet, JSON or GeoJSON"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
HEADER_SCAN_ROWS = 30
DELIMITERS = [",", "\t", ";", "|"]


@dataclass
class SourceInfo:
    file: str
    format: str = "csv"
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 1            # 1-based row (line of the file / row of the sheet) holding the header
    size_bytes: int = 0
    sha256: str = ""
    skipped: list[dict] = field(default_factory=list)   # {"what", "where", "why"}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    """The loaded data: every value as text (pandas "str" dtype, missing = NA) plus where it came from."""
    df: pd.DataFrame
    source: SourceInfo
    types: dict[str, str] = field(default_factory=dict)   # column -> text/integer/decimal/date/boolean
    warnings: list[str] = field(default_factory=list)
    formatted_numbers: list[str] = field(default_factory=list)  # numeric columns written "295,000" / "$1,200"

    @property
    def name(self) -> str:
        return self.source.file


# --- entry point -----------------------------------------------------------------------------

def load(path_or_buffer, sheet: str | None = None, name: str | None = None) -> Table:
    """Load a file (path, bytes or binary buffer) into a Table. Raises LoadError with one sentence.

    Hostile input (issue 16) ends in a LoadError too: every reader's exceptions are turned into one
    sentence, and each size that could make the work unbounded (archive members, sheet extent, columns,
    cell length, JSON depth, Parquet data) is checked against a setting before the work is done."""
    data, name = _read_bytes(path_or_buffer, name)
    fmt = _format_of(name, data)
    info = SourceInfo(file=name, format=fmt, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        if fmt in ("csv", "tsv", "txt"):
            df = _read_text(data, info)
        elif fmt in ("xlsx", "xlsm", "xls"):
            df = _frame_from_rows(_excel_rows(data, info, sheet), info)
        elif fmt == "parquet":
            df = _clean_frame(*_parquet(data, info), info)
        else:
            df = _clean_frame(*_json(data, info), info)
    except RecursionError:
        raise LimitError(f"'{name}' is nested too deeply to be read as a table; "
                         f"the limit is {settings.MAX_JSON_DEPTH} levels ({_setting('MAX_JSON_DEPTH')}).") from None
    if len(df) > settings.MAX_ROWS:
        raise LimitError(f"The file has {len(df):,} data rows; the limit is {settings.MAX_ROWS:,} ({_setting('MAX_ROWS')}). "
                         f"Split it or publish it in parts.")
    table = Table(df=df, source=info)
    for column, (kind, formatted) in zip(df.columns, infer_types([df[c] for c in df.columns])):
        table.types[column] = kind
        if formatted:
            table.formatted_numbers.append(column)
            table.warnings.append(f"Column '{column}' holds numbers written with thousands separators or currency "
                                  f"signs (e.g. '{formatted}'); the portal reads them as text. Describe offers a fix.")
    table.warnings[:0] = [_describe_skip(s) for s in info.skipped]
    table.warnings.extend(_row_number_columns(df, info))
    if fmt in ("xlsx", "xlsm", "xls") and len(info.sheets) > 1:
        table.warnings.append(f"The workbook has {len(info.sheets)} sheets; the portal imports only the first tab. "
                              f"Reviewing sheet '{info.sheet}'.")
    return table


def _setting(name: str) -> str:
    """Where a limit is set, for messages: how to raise it."""
    return f"{name} in ctopen/settings.py; raise it there if the file is genuine"


def _row_number_columns(df: pd.DataFrame, info: SourceInfo) -> list[str]:
    """A column that got a made-up name and counts 0..n-1 or 1..n is a row number left by another program."""
    out = []
    for column in df.columns:
        if not column.startswith("column_") or df[column].isna().any() or len(df) == 0:
            continue
        numbers = pd.to_numeric(df[column], errors="coerce")
        if numbers.notna().all() and (numbers.diff().iloc[1:] == 1).all() and numbers.iloc[0] in (0, 1):
            out.append(f"Column '{column}' has no header and counts {int(numbers.iloc[0])}, {int(numbers.iloc[0]) + 1}, ...: "
                       f"it looks like a row number left by the program that wrote the file; drop it if it carries no meaning.")
    return out


def _describe_skip(s: dict) -> str:
    return f"Skipped {s['what']} ({s['where']}): {s['why']}."


# --- bytes, format, limits ---------------------------------------------------------------------

def _read_bytes(path_or_buffer, name: str | None) -> tuple[bytes, str]:
    limit = settings.MAX_FILE_MB * 1024 * 1024
    if isinstance(path_or_buffer, (bytes, bytearray)):
        data = bytes(path_or_buffer)
    elif hasattr(path_or_buffer, "read"):
        name = name or getattr(path_or_buffer, "name", None)
        data = path_or_buffer.read()
    else:
        path = Path(path_or_buffer)
        name = name or path.name
        if not path.is_file():
            raise LoadError(f"There is no file at {path}.")
        if path.stat().st_size > limit:
            raise LimitError(f"The file is {path.stat().st_size / 2**20:,.0f} MB; the limit is {settings.MAX_FILE_MB} MB "
                             f"({_setting('MAX_FILE_MB')}).")
        data = path.read_bytes()
    name = Path(str(name or "upload.csv")).name
    if len(data) > limit:
        raise LimitError(f"The file is {len(data) / 2**20:,.0f} MB; the limit is {settings.MAX_FILE_MB} MB "
                         f"({_setting('MAX_FILE_MB')}).")
    if not data.strip():
        raise LoadError(f"The file '{name}' is empty.")
    return data, name


def _format_of(name: str, data: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if data.startswith(b"PK\x03\x04"):
        return EXCEL_SUFFIXES.get(suffix, "xlsx") if suffix != ".parquet" else "parquet"
    if data.startswith(OLE_MAGIC):
        if ENCRYPTED_STREAM in data:
            raise LoadError(f"The workbook '{name}' is password-protected; remove the password in Excel and upload it again.")
        return "xls"
    if data.startswith(b"PAR1"):
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        raise LoadError(f"The file '{name}' is not a valid Excel workbook (it may be truncated or saved in another format).")
    if suffix in OTHER_SUFFIXES:
        return OTHER_SUFFIXES[suffix]
    if suffix in TEXT_SUFFIXES or suffix == "":
        return TEXT_SUFFIXES.get(suffix, "csv")
    stripped = data.lstrip()[:1]
    if stripped in (b"[", b"{"):
        return "json"
    if suffix in (".pdf", ".doc", ".docx", ".png", ".jpg", ".zip", ".gz"):
        raise LoadError(f"'{name}' is not a spreadsheet; upload {SUPPORTED}.")
    return "csv"


# --- text files -------------------------------------------------------------------------------

def _decode(data: bytes, info: SourceInfo) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        info.encoding = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        info.encoding = "utf-16"
    elif len(data) > 3 and data[1:2] == b"\x00" and data[3:4] == b"\x00":
        info.encoding = "utf-16-le"
    elif len(data) > 3 and data[0:1] == b"\x00" and data[2:3] == b"\x00":
        info.encoding = "utf-16-be"
    else:
        info.encoding = "utf-8"
    try:
        text = data.decode(info.encoding)
    except UnicodeDecodeError:
        if info.encoding.startswith("utf-16"):
            raise LoadError(f"The file '{info.file}' could not be decoded as UTF-16 text; save it again as UTF-8 CSV.") from None
        try:
            text = data.decode("cp1252")
            info.encoding = "windows-1252"
        except UnicodeDecodeError:
            raise LoadError(f"The text of '{info.file}' could not be decoded (not UTF-8, UTF-16 or Windows-1252); "
                            f"save it as UTF-8 CSV.") from None
    if "\x00" in text[:65536]:
        raise LoadError(f"'{info.file}' is not a text spreadsheet (it holds binary data); upload {SUPPORTED}.")
    return text.lstrip("\ufeff")


def _sniff_delimiter(sample: str, fmt: str) -> str:
    lines = [line for line in sample.splitlines()[:HEADER_SCAN_ROWS * 2] if line.strip()]
    best, best_score = ("\t" if fmt == "tsv" else ","), -1.0
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:   # a sample line longer than csv's field limit: that line says nothing about delimiters
            continue
        if not counts:
            continue
        widths = [c for c in counts if c > 1]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        score = widths.count(mode) * np.log2(mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_text(data: bytes, info: SourceInfo) -> pd.DataFrame:
    """Small files are parsed by the csv module; large ones by pyarrow's CSV reader after the header is found."""
    text = _decode(data, info)
    info.delimiter = _sniff_delimiter(text[:65536], info.format)
    if len(data) <= 2_000_000:
        return _frame_from_rows(_csv_rows(text, info), info)
    return _read_csv_fast(text, data, info)


def _csv_rows(text: str, info: SourceInfo, limit_rows: int | None = None) -> list[list[str]]:
    """Rows of delimited text. A cell longer than MAX_CELL_CHARS is refused (csv's own limit is raised to it)."""
    previous = csv.field_size_limit(max(settings.MAX_CELL_CHARS, 1))   # process-wide: put back afterwards
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=info.delimiter)
    try:
        if limit_rows is None:
            return list(reader)
        return [row for row, _ in zip(reader, range(limit_rows))]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _cell_limit_error(info, f"line {reader.line_num}") from None
        raise LoadError(f"'{info.file}' could not be read as delimited text (line {reader.line_num}: {exc}).") from None
    finally:
        csv.field_size_limit(previous)


def _cell_limit_error(info: SourceInfo, where: str) -> LimitError:
    return LimitError(f"A cell of '{info.file}' ({where}) holds more than {settings.MAX_CELL_CHARS:,} characters, the limit "
                      f"for one cell ({_setting('MAX_CELL_CHARS')}); an unclosed quote can also cause this.")


def _columns_limit_error(info: SourceInfo, width: int, where: str = "") -> LimitError:
    return LimitError(f"'{info.file}' has {width:,} columns{where}; the limit is {settings.MAX_COLUMNS:,} "
                      f"({_setting('MAX_COLUMNS')}).")


def _read_csv_fast(text: str, data: bytes, info: SourceInfo) -> pd.DataFrame:
    """Find the header on the first rows, then let pyarrow's multi-threaded CSV reader read every cell as text."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    head_rows = _csv_rows(text[:200_000], info, limit_rows=HEADER_SCAN_ROWS)
    header_idx = _find_header(head_rows, info)
    raw_bytes = data[3:] if info.encoding == "utf-8-sig" else data if info.encoding == "utf-8" else text.encode("utf-8")
    width = max((len(r) for r in head_rows[header_idx:]), default=1)
    if width > settings.MAX_COLUMNS:
        raise _columns_limit_error(info, width)
    names = [f"c{j}" for j in range(width)]
    bad_rows: list = []
    try:
        arrow = pcsv.read_csv(
            io.BytesIO(raw_bytes),
            read_options=pcsv.ReadOptions(skip_rows=header_idx, column_names=names, block_size=16 << 20),
            parse_options=pcsv.ParseOptions(delimiter=info.delimiter, newlines_in_values=True,
                                            invalid_row_handler=_ragged_row_handler(bad_rows)),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                                quoted_strings_can_be_null=True, null_values=[""]),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LoadError(f"'{info.file}' could not be read as a delimited text table: {str(exc).splitlines()[0]}") from None
    if bad_rows:
        row = bad_rows[0]
        where = f"Line {row.number}" if row.number is not None else "A row"
        start = " ".join((row.text or "")[:40].split())
        raise LoadError(f"{where} of '{info.file}' has {row.actual_columns} cells where the header has {row.expected_columns} "
                        f"(it begins '{start}'); fix that line (an unquoted delimiter?) and upload again.")
    if arrow.num_rows > settings.MAX_ROWS + 1:
        raise LimitError(f"The file has more than {settings.MAX_ROWS:,} rows ({_setting('MAX_ROWS')}); "
                         f"split it or publish it in parts.")
    header = ["" if v is None else str(v) for v in (arrow.slice(0, 1).to_pylist()[0].values() if arrow.num_rows else [])]
    body = arrow.slice(1)
    return _finish(header, [c.combine_chunks() for c in body.columns], info, first_data_row=header_idx + 2)


def _ragged_row_handler(bad_rows: list):
    """Rows with another number of cells than the header cannot be placed: note them (the reader skips them) and
    refuse the file once it is read. Raising inside pyarrow's callback would print "Exception ignored" first."""
    def handler(row) -> str:
        if not bad_rows:
            bad_rows.append(row)
        return "skip"
    return handler


def _find_header(rows: list[list[str]], info: SourceInfo) -> int:
    """The header is the first row that fills at least half of the table's width; rows above it are titles."""
    filled = [sum(1 for v in r if not is_blank(v)) for r in rows]
    width = max(filled, default=0)
    if width <= 1:
        return next((i for i, n in enumerate(filled) if n), 0)
    for i, n in enumerate(filled):
        if n >= max(2, width / 2):
            titles = [i2 for i2 in range(i) if filled[i2]]
            if titles:
                info.skipped.append({"what": f"{len(titles)} title row(s) above the header",
                                     "where": f"row(s) {', '.join(str(t + 1) for t in titles)}",
                                     "why": "they hold a title or note, not column names: "
                                            + "; ".join(repr(" ".join(v for v in rows[t] if v.strip())[:60]) for t in titles)})
            info.header_row = i + 1
            return i
    return 0


def _frame_from_rows(rows: list[list], info: SourceInfo) -> pd.DataFrame:
    if not rows or not any(any(not is_blank(v) for v in r) for r in rows):
        raise LoadError(f"The file '{info.file}' has no data (no rows with values).")
    if len(rows) > settings.MAX_ROWS + 50:
        raise LimitError(f"The file has more than {settings.MAX_ROWS:,} rows ({_setting('MAX_ROWS')}); "
                         f"split it or publish it in parts.")
    width = max(map(len, rows))
    if width > settings.MAX_COLUMNS:
        raise _columns_limit_error(info, width)
    head = [[_cell_text(v) for v in r] for r in rows[:HEADER_SCAN_ROWS]]
    header_idx = _find_header(head, info)
    header = head[header_idx]
    body_rows = rows[header_idx + 1:]
    width = max(len(header), max(map(len, body_rows), default=0))
    if body_rows and min(map(len, body_rows)) != width:
        body_rows = [list(r) + [""] * (width - len(r)) for r in body_rows]
    grid = np.array(body_rows, dtype=object) if body_rows else None   # rows -> columns in C
    if grid is not None and grid.shape == (len(body_rows), width):
        columns = [grid[:, j].tolist() for j in range(width)]
    else:
        columns = list(zip(*body_rows)) if body_rows else [()] * width
    return _finish(header, [_text_array(c, info) for c in columns], info, first_data_row=header_idx + 2)


def _text_array(values, info: SourceInfo):
    """One column's cells as a pyarrow string array: text as it is, other cells (numbers, dates, booleans from a
    workbook or Parquet file) as the text a person sees (_typed_to_text)."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
        pass
    except UnicodeEncodeError:
        return pa.array(_repair_surrogates(list(values), info), type=pa.large_string(), from_pandas=True)
    text = _typed_to_text(pd.Series(values if isinstance(values, list) else list(values), dtype=object))
    try:
        return pa.array(text.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    except UnicodeEncodeError:
        return pa.array(_repair_surrogates(list(text), info), type=pa.large_string(), from_pandas=True)


def _repair_surrogates(values: list, info: SourceInfo) -> list:
    """Text holding lone UTF-16 surrogates (possible in JSON, "\\ud800") cannot be written as UTF-8: each becomes U+FFFD."""
    out, bad = [], 0
    for v in values:
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                bad += 1
                v = _fix_text(v)
        out.append(v)
    if bad:
        _note_surrogates(info, bad)
    return out


def _fix_text(v: str) -> str:
    return _SURROGATE.sub("\ufffd", v)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _note_surrogates(info: SourceInfo, n: int) -> None:
    info.skipped.append({"what": f"{n} invalid character(s)", "where": "in the text of the file",
                         "why": "lone UTF-16 surrogates (such as \\ud800) cannot be published; each was replaced by U+FFFD (\ufffd)"})


NOTE_START = re.compile(r"^\s*(sources?|notes?|footnotes?|\*+|†|data (as of|source)|as of|prepared by|counts? (are|is)"
                        r"|preliminary|suppressed|figures|nb\b|n\.b\.)", re.IGNORECASE)


def _note_like(texts: list[str]) -> bool:
    """A row's cells read as a note: they start like one (Source, Note, *, Data as of, Prepared by, Counts are)
    or, joined, make a sentence (six words or more, ending with a full stop)."""
    joined = ", ".join(t.strip() for t in texts if t and t.strip())
    if not joined:
        return False
    return bool(NOTE_START.match(joined)) or (len(joined.split()) >= 6 and joined.rstrip().endswith((".", ".)")))


def _finish(header: list[str], cols: list, info: SourceInfo, first_data_row: int) -> pd.DataFrame:
    """Drop empty rows/columns and footnotes, make headers unique, turn blanks into NA.

    `cols` are pyarrow string arrays of equal length, one per column. The work is done once over all cells
    (one concatenated array), not column by column, so that a file of 10,000 columns costs what its cells cost."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_cols = len(cols)
    n = len(cols[0]) if cols else 0
    if n_cols > settings.MAX_COLUMNS:
        raise _columns_limit_error(info, n_cols)
    header = header + [""] * (n_cols - len(header))
    flat = pa.concat_arrays([c.cast(pa.large_string()) if c.type != pa.large_string() else c for c in cols]) \
        if cols else pa.array([], type=pa.large_string())
    lengths = pc.utf8_length(flat)
    longest = pc.max(lengths).as_py() if len(flat) else None
    if longest is not None and longest > settings.MAX_CELL_CHARS:
        at = int(np.argmax(lengths.to_numpy(zero_copy_only=False)))
        raise _cell_limit_error(info, f"column {_col_letter(at // n)}, row {first_data_row + at % n}")
    blank_flat = pc.fill_null(pc.or_(pc.equal(lengths, 0), pc.utf8_is_space(flat)), True).to_numpy(zero_copy_only=False)
    blank = blank_flat.reshape(n_cols, n).T if n_cols else np.zeros((0, 0), dtype=bool)
    filled = (~blank).sum(axis=1) if n_cols else np.zeros(0, dtype=int)
    last = len(filled)
    while last > 0 and filled[last - 1] == 0:
        last -= 1
    notes_end = last
    if n_cols >= 3 and last:
        typical = np.median(filled[:last])
        start = last

        def cells(i: int) -> list[str]:
            return [str(flat[j * n + i].as_py()) for j in range(n_cols) if not blank[i, j]]

        while start > 0 and typical >= 3 and last - start < 20:
            i = start - 1
            # a single cell of text, or a note spread over a few cells (a comma in "Source: MMIS extract, run
            # 07/01/2024." makes two cells): it must read as a note, or a data row is never taken for one
            if filled[i] <= 1 or (filled[i] < typical and _note_like(cells(i))):
                start -= 1
            else:
                break
        if 0 < start < last:
            texts = [", ".join(cells(i)) for i in range(start, last) if filled[i]]
            info.skipped.append({"what": f"{len(texts)} note or footnote row(s) below the data",
                                 "where": f"row(s) {first_data_row + start}-{first_data_row + last - 1}",
                                 "why": "text after the table, not a record: " + "; ".join(repr(t[:60]) for t in texts[:3])})
            notes_end = start
    keep_rows = np.zeros(len(filled), dtype=bool)
    keep_rows[:notes_end] = filled[:notes_end] > 0
    empty_rows = int((filled[:notes_end] == 0).sum())
    if empty_rows:
        info.skipped.append({"what": f"{empty_rows} empty row(s)", "where": "within the data", "why": "every cell is empty"})
    has_data = (~blank[keep_rows]).any(axis=0) if keep_rows.any() else np.zeros(n_cols, dtype=bool)
    keep_cols = [j for j in range(n_cols) if has_data[j] or not is_blank(header[j])]
    if len(keep_cols) < n_cols:
        kept = set(keep_cols)
        dropped = [j for j in range(n_cols) if j not in kept]
        info.skipped.append({"what": f"{len(dropped)} empty column(s)", "where": "column(s) " + ", ".join(_col_letter(j) for j in dropped),
                             "why": "no header and no values"})
    names = _unique_headers([header[j] for j in keep_cols], keep_cols, info)
    text = pc.if_else(pa.array(blank_flat), pa.scalar(None, type=pa.large_string()), flat)
    rows_out = int(keep_rows.sum())
    if rows_out < n:
        text = text.filter(pa.array(np.tile(keep_rows, n_cols)))
    arrays = [text.slice(j * rows_out, rows_out) for j in keep_cols]
    table = pa.Table.from_arrays(arrays, names=[str(k) for k in range(len(arrays))])
    string = pd.StringDtype("pyarrow", na_value=np.nan)
    df = table.to_pandas(types_mapper={pa.string(): string, pa.large_string(): string}.get)
    df.columns = names
    return df


def _typed_to_text(col: pd.Series) -> pd.Series:
    """Cells of a workbook or Parquet column (str, float, int, bool, datetime, None) as the text a person sees,
    column by column: 6810.0 -> "6810", a midnight datetime -> "2013-03-21"."""
    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind in ("string", "empty"):
        return col
    values = col.where(col.notna() & col.ne(""), None)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    out = np.full(len(values), None, dtype=object)
    if kind in ("floating", "integer", "mixed-integer-float"):
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        filled = ~np.isnan(arr)
        whole = filled & (np.mod(arr, 1) == 0) & (np.abs(arr) < 1e15)
        out[whole] = arr[whole].astype(np.int64).astype(str)
        rest = filled & ~whole
        out[rest] = arr[rest].astype(str)   # numpy writes the shortest round-trip form, as repr does
        return pd.Series(out, index=col.index)
    if kind == "date":
        dates = pd.to_datetime(values, errors="coerce")
        filled = dates.notna().to_numpy()
        out[filled] = dates[filled].dt.strftime("%Y-%m-%d").to_numpy()
        if filled.sum() == values.notna().sum():
            return pd.Series(out, index=col.index)
    if kind in ("datetime", "datetime64"):
        ts = pd.to_datetime(values)
        filled = ts.notna().to_numpy()
        midnight = filled & (ts == ts.dt.normalize()).to_numpy()
        out[midnight] = ts[midnight].dt.strftime("%Y-%m-%d").to_numpy()
        rest = filled & ~midnight
        out[rest] = [v.isoformat(sep=" ") for v in ts[rest].dt.to_pydatetime()]
        return pd.Series(out, index=col.index)
    return values.map(lambda v: None if v is None else _cell_text(v))


def _col_letter(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def _unique_headers(names: list[str], positions: list[int], info: SourceInfo) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for name, pos in zip(names, positions):
        name = "" if name is None else str(name)
        new = name
        if is_blank(name):
            new = f"column_{pos + 1}"
            info.skipped.append({"what": "a blank header", "where": f"column {_col_letter(pos)}",
                                 "why": f"named it '{new}'"})
        if new in seen:
            n = 2
            while f"{new}_{n}" in seen:
                n += 1
            info.skipped.append({"what": "a duplicate header", "where": f"column {_col_letter(pos)} ('{new}')",
                                 "why": f"renamed it '{new}_{n}'"})
            new = f"{new}_{n}"
        seen.add(new)
        out.append(new)
    return out


# --- workbooks --------------------------------------------------------------------------------
#
# calamine (Rust) reads workbooks fast, but some sizes a file declares make it allocate before it reads a
# cell: the rectangle from A1 to the furthest cell (one cell at XFD1048576 = 17 billion cells), the shared
# strings' uniqueCount, an .xls DIMENSIONS record or FAT size, an archive member's inflated size. Rust
# aborts the process when such an allocation fails, so every such size is measured here first, from the
# bytes themselves (declared sizes can lie), and refused above a setting. Its errors and panics (a
# BaseException) become LoadErrors; its panic message, printed by Rust on file descriptor 2, is dropped.

ZIP_CHUNK = 16 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError, OSError,
               struct.error, OverflowError, IndexError, KeyError, zlib.error)
_FD2_LOCK = threading.Lock()


def _not_a_workbook(info: SourceInfo, why: str = "it is truncated or corrupt") -> LoadError:
    return LoadError(f"The file '{info.file}' is not a valid Excel workbook ({why}).")


@dataclass
class _Extent:
    """What a worksheet's XML holds: its furthest row and column (1-based) and its number of cells."""
    rows: int = 0
    cols: int = 0
    cells: int = 0
    sheet_data: bool = False
    implicit: bool = False       # some cells have no reference (r="B2"): their place follows the one before


def _check_zip(data: bytes, info: SourceInfo) -> tuple[dict[str, _Extent], dict[str, str]]:
    """Refuse an archive that is corrupt or would expand past the limits; return each worksheet's extent and the
    sheet name -> archive member map (from xl/workbook.xml and its relationships)."""
    try:
        end = zipfile._EndRecData(io.BytesIO(data))   # the directory's size, read before the directory itself
    except _ZIP_ERRORS:
        end = None
    if end and end[zipfile._ECD_ENTRIES_TOTAL] > settings.MAX_ZIP_MEMBERS:
        raise _members_limit_error(info, end[zipfile._ECD_ENTRIES_TOTAL])
    if end and end[zipfile._ECD_SIZE] > settings.MAX_ZIP_MEMBERS * 1024:   # at most 1 KB of directory per file
        raise _members_limit_error(info, end[zipfile._ECD_SIZE] // 1024, "at least ")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except _ZIP_ERRORS:
        raise _not_a_workbook(info) from None
    if len(infos) > settings.MAX_ZIP_MEMBERS:
        raise _members_limit_error(info, len(infos))
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            raise LoadError(f"'{info.file}' is a binary Excel workbook (.xlsb), which ctopen does not read; "
                            f"save it in Excel as .xlsx and upload it again.")
        raise _not_a_workbook(info, "no workbook inside the archive")
    total = sum(i.file_size for i in infos)
    for i in infos:
        if i.file_size > settings.MAX_ZIP_MEMBER_MB * 2**20:
            raise LimitError(f"A part of the workbook '{info.file}' ({i.filename}) expands to {i.file_size / 2**20:,.0f} MB "
                             f"when opened; the limit is {settings.MAX_ZIP_MEMBER_MB:,} MB per part "
                             f"({_setting('MAX_ZIP_MEMBER_MB')}): refused as a possible decompression bomb.")
    for limit, setting in ((settings.MAX_ZIP_TOTAL_MB, "MAX_ZIP_TOTAL_MB"), (settings.MAX_UNCOMPRESSED_MB, "MAX_UNCOMPRESSED_MB")):
        if total > limit * 2**20:
            raise LimitError(f"The workbook '{info.file}' expands to {total / 2**20:,.0f} MB when opened; the limit is "
                             f"{limit:,} MB ({_setting(setting)}): refused as a possible decompression bomb.")
    if total > settings.MAX_UNCOMPRESSED_RATIO * max(len(data), 1):
        raise LimitError(f"The workbook '{info.file}' expands to {total / 2**20:,.0f} MB when opened "
                         f"({total / len(data):,.0f} times its size; the limit is {settings.MAX_UNCOMPRESSED_RATIO} times, "
                         f"{_setting('MAX_UNCOMPRESSED_RATIO')}): refused as a possible decompression bomb.")
    extents: dict[str, _Extent] = {}
    small: dict[str, bytes] = {}
    for i in infos:
        if i.flag_bits & 0x1:
            raise LoadError(f"The workbook '{info.file}' is encrypted as a zip archive, which Excel never does; "
                            f"open it in Excel, save it as .xlsx without a password and upload it again.")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _not_a_workbook(info, f"a part uses compression method {i.compress_type}, which Excel does not write")
        lower = i.filename.lower()
        keep = lower in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels") and i.file_size <= 16 << 20
        scan = _SheetScan(shared_strings=lower.endswith("sharedstrings.xml")) if lower.endswith(".xml") else None
        parts = []
        for chunk in _member_chunks(data, i, info):
            if scan is not None:
                scan.feed(chunk)
            if keep:
                parts.append(chunk)
        if keep:
            small[lower] = b"".join(parts)
        if scan is not None:
            scan.close()
            if lower.endswith("sharedstrings.xml"):
                _check_shared_strings(max(scan.unique_count or 0, scan.strings), i.file_size, info)
            if scan.extent.sheet_data:
                ext = scan.extent
                if ext.implicit:
                    _check_extent(_Extent(cells=ext.cells), info, "")   # before the slower exact scan
                    slow = _SlowSheetScan(info)
                    for chunk in _member_chunks(data, i, info):
                        slow.feed(chunk)
                    ext = slow.close(ext)
                old = extents.get(lower)
                extents[lower] = ext if old is None else _Extent(max(old.rows, ext.rows), max(old.cols, ext.cols),
                                                                 old.cells + ext.cells, True)
    return extents, _sheet_members(small)


def _members_limit_error(info: SourceInfo, n: int, at_least: str = "") -> LimitError:
    return LimitError(f"The workbook '{info.file}' holds {at_least}{n:,} files in its archive; the limit is "
                      f"{settings.MAX_ZIP_MEMBERS:,} ({_setting('MAX_ZIP_MEMBERS')}).")


def _member_chunks(data: bytes, zi: zipfile.ZipInfo, info: SourceInfo):
    """The inflated bytes of one archive member, in chunks, read from the raw deflate stream (as calamine reads it,
    not as zipfile would: zipfile stops at the declared size). More bytes than declared means a lying header."""
    try:
        off = zi.header_offset
        if data[off:off + 4] != b"PK\x03\x04":
            raise _not_a_workbook(info)
        name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
        start = off + 30 + name_len + extra_len
        end = start + zi.compress_size
        if end > len(data):
            raise _not_a_workbook(info)
        if zi.compress_type == zipfile.ZIP_STORED:
            if zi.compress_size != zi.file_size:
                raise _not_a_workbook(info)
            for k in range(start, end, ZIP_CHUNK):
                yield data[k:min(k + ZIP_CHUNK, end)]
            return
        inflater = zlib.decompressobj(-15)
        view = memoryview(data)[start:end]
        pos = produced = 0
        while not inflater.eof:
            if inflater.unconsumed_tail:
                out = inflater.decompress(inflater.unconsumed_tail, ZIP_CHUNK)
            elif pos < len(view):
                out = inflater.decompress(view[pos:pos + ZIP_CHUNK], ZIP_CHUNK)
                pos += ZIP_CHUNK
            else:
                out = inflater.flush()
                if not out:
                    break
            produced += len(out)
            if produced > zi.file_size:
                raise _not_a_workbook(info, f"a part ({zi.filename}) expands to more than its declared size")
            if out:
                yield out
    except zlib.error:
        raise _not_a_workbook(info) from None
    except struct.error:
        raise _not_a_workbook(info) from None


class _SheetScan:
    """Measures a worksheet's XML chunk by chunk, vectorized: its cell elements and the furthest row and column of
    their references (<c r="XFD1048576" ...>). Chunks are cut before a '<' so that no tag is split. Anything
    unusual (a cell whose r is not its first attribute or is missing, a namespace prefix) marks the extent as
    `implicit`: the exact, slower _SlowSheetScan then measures the member instead."""

    WINDOW = 16
    PAD = WINDOW + 8

    def __init__(self, shared_strings: bool = False):
        self.extent = _Extent()
        self.carry = b""
        self.unique_count: int | None = None
        self.count_strings = shared_strings
        self.strings = 0           # <si> elements of the shared strings, which calamine keeps in memory
        self.first = True

    def feed(self, chunk: bytes) -> None:
        """Scan up to the chunk's last '<' (the rest waits for the next chunk), copying the chunk once."""
        cut = chunk.rfind(b"<")
        if cut < 0 and len(self.carry) + len(chunk) < 4 * ZIP_CHUNK:
            self.carry += chunk
            return
        cut = len(chunk) if cut < 0 else cut
        self._scan(self.carry, chunk, len(self.carry) + cut)
        self.carry = chunk[cut:]

    def close(self) -> None:
        self._scan(self.carry, b"", len(self.carry))
        self.carry = b""

    def _scan(self, carry: bytes, chunk: bytes, n: int) -> None:
        """Scan the first n bytes of carry + chunk (the bytes after them, if any, only pad the lookahead)."""
        from numpy.lib.stride_tricks import sliding_window_view

        if n <= 0:
            return
        ext = self.extent
        if self.first:
            self.first = False
            m = re.search(rb"<(?:[\w.-]+:)?sst\b[^>]*?\suniqueCount\s*=\s*[\"'](\d{1,30})[\"']", (carry + chunk[:65536])[:65536])
            if m:
                self.unique_count = int(m.group(1))
        if not ext.sheet_data and (b"sheetData" in chunk or b"sheetData" in carry):
            ext.sheet_data = True
        a = np.zeros(len(carry) + len(chunk) + self.PAD, dtype=np.uint8)
        a[:len(carry)] = np.frombuffer(carry, dtype=np.uint8)
        a[len(carry):len(carry) + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        ends_name, space, quote = _BYTE_CLASSES
        lt = np.flatnonzero(a[:n] == 60)
        cells = lt[(a[lt + 1] == 99) & ends_name[a[lt + 2]]]
        if self.count_strings:
            self.strings += int(np.count_nonzero((a[lt + 1] == 115) & (a[lt + 2] == 105) & ends_name[a[lt + 3]]))
        colon = np.flatnonzero(a[:n] == 58)
        if len(colon) and (((a[colon + 1] == 99) & ends_name[a[colon + 2]]) | ((a[colon + 1] == 114) & (a[colon + 2] == 111)
                                                                               & (a[colon + 3] == 119))).any():
            ext.implicit = True    # a namespace prefix (<x:c ...>): measured exactly instead
        if not len(cells):
            return
        ext.cells += len(cells)
        first = space[a[cells + 2]] & (a[cells + 3] == 114) & (a[cells + 4] == 61) & quote[a[cells + 5]]
        if not first.all():
            ext.implicit = True    # a cell whose r is not its first attribute, or that has none
        win = sliding_window_view(a, self.WINDOW)[cells[first] + 6]
        positions = np.arange(self.WINDOW)
        n_letters = np.argmin(((win | 32) - 97) < 26, axis=1)
        digits = ((win - 48) < 10) | (positions[None, :] < n_letters[:, None])
        n_digits = np.argmin(digits, axis=1) - n_letters
        ok = (n_letters > 0) & (n_digits > 0)
        if not ok.all():
            ext.implicit = True    # a reference that is not letters then digits within the window
        if not ok.any():
            return
        longest = int(n_letters[ok].max())
        pick = np.flatnonzero(ok & (n_letters == longest))
        col = np.zeros(len(pick), dtype=np.int64)
        for k in range(min(longest, 6)):
            col = col * 26 + ((win[pick, k] | 32).astype(np.int64) - 96)
        ext.cols = max(ext.cols, int(col.max()) if longest <= 6 else 10**12)
        widest = int(n_digits[ok].max())
        pick = np.flatnonzero(ok & (n_digits == widest))
        row = np.zeros(len(pick), dtype=np.int64)
        for k in range(min(widest, 12)):
            row = row * 10 + (win[pick, n_letters[pick] + k].astype(np.int64) - 48)
        ext.rows = max(ext.rows, int(row.max()) if widest <= 12 else 10**12)


def _byte_classes():
    ends_name, space, quote = (np.zeros(256, dtype=bool) for _ in range(3))
    space[[32, 9, 10, 13]] = True
    ends_name[[32, 9, 10, 13, 62, 47]] = True    # what may follow an element name: whitespace, > or />
    quote[[34, 39]] = True
    return ends_name, space, quote


_BYTE_CLASSES = _byte_classes()


class _SlowSheetScan:
    """For sheets whose cells lack references: follow each row and cell as calamine places them (a cell without r
    comes after the one before it; a row without r after the row before it). Python, so only for such sheets."""

    TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.\-]*:)?(row|c)(?=[\s/>])([^>]*)>")
    REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]*)(\d*)["']""")

    def __init__(self, info: SourceInfo):
        self.row = self.col = self.rows = self.cols = self.cells = 0
        self.carry = b""
        self.info = info

    def feed(self, chunk: bytes) -> None:
        buf = self.carry + chunk
        cut = buf.rfind(b"<")
        cut = len(buf) if cut <= 0 and len(buf) >= 4 * ZIP_CHUNK else cut
        if cut <= 0:
            self.carry = buf
            return
        self.carry = buf[cut:]
        self._scan(buf[:cut])

    def close(self, fast: _Extent) -> _Extent:
        self._scan(self.carry)
        return _Extent(max(self.rows, fast.rows), max(self.cols, fast.cols), max(self.cells, fast.cells), True, True)

    def _scan(self, buf: bytes) -> None:
        for closing, kind, attrs in self.TAG.findall(buf):
            if closing:
                continue
            m = self.REF.search(attrs)
            if kind == b"row":
                self.row = _number(m.group(2)) if m and m.group(2) and not m.group(1) else self.row + 1
                self.col = 0
                continue
            self.cells += 1
            if m and m.group(1) and m.group(2):
                self.col = _letters_to_number(m.group(1))
                self.row = max(self.row, _number(m.group(2)))
            else:
                self.col += 1
            self.rows = max(self.rows, self.row)
            self.cols = max(self.cols, self.col)
        _check_extent(_Extent(self.rows, self.cols, self.cells), self.info, "")   # stop as soon as it is too large


def _number(digits: bytes) -> int:
    digits = digits.lstrip(b"0") or b"0"
    return int(digits) if len(digits) <= 18 else 10**18


def _letters_to_number(letters: bytes) -> int:
    if len(letters) > 5:
        return 10**12
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _check_shared_strings(unique_count: int, size: int, info: SourceInfo) -> None:
    """calamine reserves room for uniqueCount strings before reading them, and keeps every string it reads."""
    if unique_count > size // 5 + 1:
        raise _not_a_workbook(info, "its shared strings declare more strings than they hold")
    if unique_count > settings.MAX_SHEET_CELLS:
        raise LimitError(f"The workbook '{info.file}' has {unique_count:,} different texts; the limit is "
                         f"{settings.MAX_SHEET_CELLS:,} ({_setting('MAX_SHEET_CELLS')}).")


def _sheet_members(small: dict[str, bytes]) -> dict[str, str]:
    """Sheet name -> archive member (lower case), from xl/workbook.xml and xl/_rels/workbook.xml.rels."""
    import html
    import posixpath

    attr = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")

    def elements(xml: bytes, tag: bytes):
        for m in re.finditer(rb"<(?:[\w.-]+:)?" + tag + rb"\s([^>]*?)/?>", xml):
            yield {k.split(b":")[-1].lower() if k.lower().endswith(b":id") else k.lower(): (v1 or v2)
                   for k, v1, v2 in attr.findall(m.group(1))}

    targets = {}
    for rel in elements(small.get("xl/_rels/workbook.xml.rels", b""), b"Relationship"):
        target = html.unescape(rel.get(b"target", b"").decode("utf-8", "replace"))
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get(b"id", b"")] = path.lower()
    members = {}
    for sheet in elements(small.get("xl/workbook.xml", b""), b"sheet"):
        name = html.unescape(sheet.get(b"name", b"").decode("utf-8", "replace"))
        if sheet.get(b"id") in targets:
            members[name] = targets[sheet[b"id"]]
    return members


def _check_extent(ext: _Extent | None, info: SourceInfo, sheet: str) -> None:
    if ext is None:
        return
    where = f"Sheet '{sheet}' of '{info.file}'" if sheet else f"A sheet of '{info.file}'"
    if ext.cols > settings.MAX_COLUMNS:
        reach = f"column {_col_letter(ext.cols - 1)}" if ext.cols < 10**6 else "beyond column ZZZZ"
        raise LimitError(f"{where} reaches {reach} ({ext.cols:,} columns); the limit is {settings.MAX_COLUMNS:,} "
                         f"({_setting('MAX_COLUMNS')}).")
    if ext.rows > settings.MAX_ROWS + 50:
        raise LimitError(f"{where} reaches row {ext.rows:,}; the limit is {settings.MAX_ROWS:,} rows "
                         f"({_setting('MAX_ROWS')}).")
    if ext.cells > settings.MAX_SHEET_CELLS:
        raise LimitError(f"{where} holds {ext.cells:,} cells; the limit is {settings.MAX_SHEET_CELLS:,} cells "
                         f"({_setting('MAX_SHEET_CELLS')}).")
    if ext.rows * ext.cols > settings.MAX_SHEET_CELLS:
        raise LimitError(f"{where} spans {ext.rows:,} rows x {ext.cols:,} columns ({ext.rows * ext.cols:,} cells, empty "
                         f"ones included); the limit is {settings.MAX_SHEET_CELLS:,} cells ({_setting('MAX_SHEET_CELLS')}).")


def _extent_of(name: str, extents: dict[str, _Extent], members: dict[str, str]) -> _Extent | None:
    """The extent of the sheet's own member; when it cannot be told, the largest of all (never less)."""
    member = members.get(name)
    if member in extents:
        return extents[member]
    if not extents:
        return None
    return _Extent(max(e.rows for e in extents.values()), max(e.cols for e in extents.values()),
                   max(e.cells for e in extents.values()), True)


# --- .xls: the compound file (CFB) and its BIFF records -----------------------------------------

ENDOFCHAIN, FREESECT, DIFSECT, MAXREGSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFC, 0xFFFFFFFA
BIFF_CELLS = {0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006}   # records calamine turns into cells


def _check_xls(data: bytes, info: SourceInfo) -> None:
    """Walk the compound file as calamine will (header sizes, FAT, directory and stream chains) and refuse what
    would make it allocate without bound or loop forever; then measure every sheet of the Workbook stream."""
    stream = _CompoundFile(data, info).workbook_stream()
    if stream is not None:
        _check_biff(stream, info)


class _CompoundFile:
    def __init__(self, data: bytes, info: SourceInfo):
        self.data, self.info = data, info
        if len(data) < 512:
            raise _not_a_workbook(info)
        shift, mini_shift = struct.unpack_from("<HH", data, 30)
        if shift not in (9, 12) or mini_shift != 6:
            raise _not_a_workbook(info)
        self.size = 1 << shift
        self.maxid = len(data) // self.size
        fat_len, self.dir_start = struct.unpack_from("<II", data, 44)
        self.mini_fat_start, mini_fat_len, difat_start = struct.unpack_from("<III", data, 60)
        calamine_difat_len = struct.unpack_from("<I", data, 62)[0]   # calamine reads these bytes as the DIFAT length
        if fat_len > self.maxid + 1 or mini_fat_len > self.maxid + 1 or calamine_difat_len > (64 << 20):
            raise _not_a_workbook(info)
        self.mini_fat_len = mini_fat_len
        difat = list(struct.unpack_from("<109I", data, 76))
        seen: set[int] = set()
        sector = difat_start
        while sector < MAXREGSECT:
            if sector in seen or len(seen) > self.maxid:
                raise _not_a_workbook(info)
            seen.add(sector)
            entries = list(struct.unpack(f"<{self.size // 4}I", self._sector(sector)))
            difat.extend(entries[:-1])
            sector = entries[-1]
        fat = [self._sector(s) for s in difat if s < DIFSECT]
        self.fat = np.frombuffer(b"".join(fat), dtype="<u4") if fat else np.zeros(0, dtype="<u4")
        directory = self._chain_bytes(self.dir_start, None)
        self.dirs = [self._entry(directory[k:k + 128]) for k in range(0, len(directory), 128)]
        if not self.dirs:
            raise _not_a_workbook(info)

    def _sector(self, sid: int) -> bytes:
        start = (sid + 1) * self.size
        if sid > self.maxid or start + self.size > len(self.data):
            raise _not_a_workbook(self.info)
        return self.data[start:start + self.size]

    def _chain(self, sid: int, fat, limit: int | None, step: int) -> list[int]:
        """Sector ids of a chain, stopping where calamine stops (ENDOFCHAIN, or `limit` bytes); a loop is refused
        (calamine would follow it forever, growing its buffer)."""
        out: list[int] = []
        seen: set[int] = set()
        while sid != ENDOFCHAIN:
            if sid in seen or sid >= len(fat) or len(out) > self.maxid * 8:
                raise _not_a_workbook(self.info)
            seen.add(sid)
            out.append(sid)
            if limit is not None and len(out) * step >= limit:
                break
            sid = int(fat[sid])
        return out

    def _chain_bytes(self, sid: int, limit: int | None) -> bytes:
        out = b"".join(self._sector(s) for s in self._chain(sid, self.fat, limit, self.size))
        return out if limit is None else out[:limit]

    @staticmethod
    def _entry(raw: bytes) -> tuple[str, int, int]:
        raw = raw.ljust(128, b"\0")
        name = raw[:64].decode("utf-16-le", "ignore").split("\0")[0]
        start, size = struct.unpack_from("<IQ", raw, 116)
        return name, start, size

    def workbook_stream(self) -> bytes | None:
        root_start, root_size = self.dirs[0][1], self.dirs[0][2]
        if self.size == 512:
            root_size &= 0xFFFFFFFF
        mini_stream = self._chain_bytes(root_start, root_size) if self.mini_fat_len else b""
        mini_fat = np.frombuffer(self._chain_bytes(self.mini_fat_start, self.mini_fat_len * self.size), dtype="<u4") \
            if self.mini_fat_len else np.zeros(0, dtype="<u4")
        for wanted in ("Workbook", "Book", "WORKBOOK", "BOOK"):
            entry = next((d for d in self.dirs if d[0] == wanted), None)
            if entry is None:
                continue
            _, start, size = entry
            if self.size == 512:
                size &= 0xFFFFFFFF
            if size > len(self.data) * 8:
                raise _not_a_workbook(self.info)
            if size < 4096:
                ids = self._chain(start, mini_fat, size, 64)
                return b"".join(mini_stream[s * 64:(s + 1) * 64] for s in ids)[:size]
            return self._chain_bytes(start, size)
        return None


def _check_biff(stream: bytes, info: SourceInfo) -> None:
    """calamine reads every sheet when it opens an .xls: it reserves a sheet's DIMENSIONS (rows x columns), lays its
    cells out from the first to the furthest, keeps every sheet, and copies the one asked for. All of it is measured
    here, record by record, and counted together against MAX_SHEET_CELLS. Sheets may all start at the same place
    (calamine reads the stream again for each), so the records read in all are counted too."""
    budget = [settings.MAX_SHEET_CELLS + 1_000_000]
    held = biggest = 0
    positions = []
    for typ, at, length in _biff_records(stream, 0, budget, info):
        if typ == 0x0085 and length >= 4:
            positions.append(struct.unpack_from("<I", stream, at)[0])
        elif typ == 0x000A:
            break
    for pos in positions:
        if pos >= len(stream):
            continue   # calamine refuses it
        rows = cols = cells = 0
        depth, seen_bof, reserved = 0, False, 0
        for typ, at, length in _biff_records(stream, pos, budget, info):
            if depth:
                depth += (typ == 0x0809) - (typ == 0x000A)
                continue
            if typ in BIFF_CELLS:
                if length >= 4:
                    r, c = struct.unpack_from("<HH", stream, at)
                    rows, cols, cells = max(rows, r + 1), max(cols, c + 1), cells + 1
            elif typ == 0x00BD:
                if length >= 6:
                    r, first = struct.unpack_from("<HH", stream, at)
                    count = (length - 6) // 6
                    rows, cols, cells = max(rows, r + 1), max(cols, first + count), cells + count
            elif typ == 0x0809:
                if seen_bof:
                    depth += 1
                seen_bof = True
            elif typ == 0x000A:
                break
            elif typ == 0x0200 and length in (10, 14):
                rf, rl, cf, cl = struct.unpack_from("<HHHH" if length == 10 else "<IIHH", stream, at)
                cf = 0 if cf > 0xFF or cl < cf else cf
                end_r, end_c = (rl - 1, cl - 1) if rl >= 1 and cl >= 1 else (rf, cf)
                reserve = ((end_r - rf + 1) & 0xFFFFFFFF) * ((end_c - cf + 1) & 0xFFFFFFFF)
                if reserve > settings.MAX_SHEET_CELLS:
                    raise LimitError(f"A sheet of '{info.file}' declares {reserve:,} cells; the limit is "
                                     f"{settings.MAX_SHEET_CELLS:,} ({_setting('MAX_SHEET_CELLS')}).")
                reserved = max(reserved, reserve)
        _check_extent(_Extent(rows, cols, cells, True), info, "")
        held += rows * cols + reserved
        biggest = max(biggest, rows * cols)
        if held + biggest > settings.MAX_SHEET_CELLS:
            break
    if held + biggest > settings.MAX_SHEET_CELLS:
        raise LimitError(f"The sheets of '{info.file}' span {held + biggest:,} cells, empty ones included (an .xls is read "
                         f"whole: every sheet at once, and a copy of the one reviewed); the limit is "
                         f"{settings.MAX_SHEET_CELLS:,} cells ({_setting('MAX_SHEET_CELLS')}).")


def _biff_records(stream: bytes, pos: int, budget: list[int], info: SourceInfo):
    """(type, start of body, length) of each BIFF record from `pos`, as calamine splits them (CONTINUE records come
    out on their own), counted against `budget`."""
    n = len(stream)
    unpack = struct.Struct("<HH").unpack_from
    while pos + 4 <= n:
        typ, length = unpack(stream, pos)
        if pos + 4 + length > n:
            return
        budget[0] -= 1
        if budget[0] < 0:
            raise LimitError(f"The sheets of '{info.file}' hold too many records to be read; the limit follows "
                             f"{_setting('MAX_SHEET_CELLS')} (cells: {settings.MAX_SHEET_CELLS:,}).")
        yield typ, pos + 4, length
        pos += 4 + length


@contextlib.contextmanager
def _calamine(info: SourceInfo, sheet: str | None = None):
    """Run calamine: its errors and its panics (pyo3's PanicException is a BaseException) become one LoadError, and
    the panic message Rust prints on file descriptor 2 is dropped. KeyboardInterrupt and SystemExit pass."""
    with _quiet_native_stderr() as quiet:
        try:
            yield
        except CtopenError:
            raise
        except Exception as exc:  # noqa: BLE001 - calamine raises its own error types (CalamineError, ...)
            msg = str(exc).lower()
            if "password" in msg or "encrypt" in msg:
                raise LoadError(f"The workbook '{info.file}' is password-protected; remove the password in Excel "
                                f"and upload it again.") from None
            if sheet is not None:
                raise LoadError(f"Sheet '{sheet}' of '{info.file}' could not be read; the workbook may be corrupt "
                                f"({_first_line(exc).rstrip('.')}).") from None
            raise _not_a_workbook(info) from None
        except BaseException as exc:
            if not _is_native_panic(exc):
                raise
            quiet.drop = True
            where = f"sheet '{sheet}' of " if sheet is not None else ""
            raise LoadError(f"The reader stopped on {where}'{info.file}': it is not a valid Excel workbook "
                            f"(it is truncated or corrupt).") from None


def _is_native_panic(exc: BaseException) -> bool:
    """pyo3's PanicException (a Rust panic in a Python extension), told by its type, not caught by a bare except."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ in ("pyo3_runtime", "builtins")


class _Quiet:
    drop = False


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to a temporary file while native code runs; write what it got back unless told to drop
    it (a Rust panic message). One thread at a time: the descriptor is shared by the whole process. The file is
    named ctopen-native-stderr-*: should the process be aborted meanwhile, what Rust printed is left there."""
    quiet = _Quiet()
    with _FD2_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield quiet
            return
        try:
            with tempfile.NamedTemporaryFile(prefix="ctopen-native-stderr-", suffix=".txt") as tmp:
                _flush_stderr()
                os.dup2(tmp.fileno(), 2)
                try:
                    yield quiet
                finally:
                    _flush_stderr()
                    os.dup2(saved, 2)
                    if not quiet.drop:
                        tmp.seek(0)
                        captured = tmp.read()
                        while captured:
                            captured = captured[os.write(2, captured):]
        finally:
            os.close(saved)


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _excel_rows(data: bytes, info: SourceInfo, sheet: str | None) -> list[list]:
    from python_calamine import CalamineWorkbook

    extents: dict[str, _Extent] = {}
    members: dict[str, str] = {}
    if info.format == "xls":
        _check_xls(data, info)
    else:
        extents, members = _check_zip(data, info)
    with _calamine(info):
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        info.sheets = list(wb.sheet_names)
    if sheet is not None and sheet not in info.sheets:
        raise LoadError(f"The workbook has no sheet named '{sheet}'; its sheets are: {', '.join(info.sheets)}.")
    candidates = [sheet] if sheet is not None else info.sheets
    for name in candidates:
        _check_extent(_extent_of(name, extents, members), info, name)
        with _calamine(info, name):
            ws = wb.get_sheet_by_name(name)
            end = ws.end
            if end is not None:   # what calamine built, checked again before it becomes Python lists
                _check_extent(_Extent(end[0] + 1, end[1] + 1), info, name)
            rows = ws.to_python(skip_empty_area=False)
        if any(any(not is_blank(v) for v in r) for r in rows):
            if sheet is None and name != info.sheets[0]:
                info.skipped.append({"what": "empty sheet(s)", "where": ", ".join(info.sheets[:info.sheets.index(name)]),
                                     "why": "no values; the first sheet with data is used"})
            info.sheet = name
            return rows   # typed cells; turned into text column by column (_text_array)
    raise LoadError(f"The workbook '{info.file}' has no data on {'sheet ' + repr(sheet) if sheet else 'any sheet'}.")


def _cell_text(v) -> str:
    """A workbook cell as the text a person sees: 6810.0 -> '6810', dates as ISO."""
    import datetime as dt

    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ") if (v.hour, v.minute, v.second) != (0, 0, 0) else v.date().isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return str(v)


# --- parquet, json ----------------------------------------------------------------------------

def _parquet(data: bytes, info: SourceInfo) -> tuple[list[str], list]:
    """Header and text columns of a Parquet file. Its metadata (columns, rows, data size) is checked against the
    limits before any page is decoded; nested values (lists, structs, maps) become JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        meta = pf.metadata
        n_fields = len(pf.schema_arrow)
        declared = sum(max(meta.row_group(i).total_byte_size, 0) for i in range(meta.num_row_groups))
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise LoadError(f"The file is not a valid Parquet file: {_first_line(exc)}") from None
    if n_fields > settings.MAX_COLUMNS:
        raise _columns_limit_error(info, n_fields)
    if meta.num_rows > settings.MAX_ROWS:
        raise LimitError(f"The file has {meta.num_rows:,} data rows; the limit is {settings.MAX_ROWS:,} "
                         f"({_setting('MAX_ROWS')}). Split it or publish it in parts.")
    if declared > settings.MAX_PARQUET_MB * 2**20:
        raise LimitError(f"The Parquet file '{info.file}' holds {declared / 2**20:,.0f} MB of data once decompressed; "
                         f"the limit is {settings.MAX_PARQUET_MB:,} MB ({_setting('MAX_PARQUET_MB')}).")
    try:
        table = pf.read()
        header = [str(name) for name in table.column_names]
        cols = [_arrow_text(table.column(i), info) for i in range(table.num_columns)]
    except pa.ArrowMemoryError:
        raise LimitError(f"The Parquet file '{info.file}' needs more memory than this machine gives it.") from None
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        raise LoadError(f"The file is not a valid Parquet file: {_first_line(exc)}") from None
    return header, cols


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def _arrow_text(column, info: SourceInfo):
    """A pyarrow column as text: strings and integers by Arrow, other cells as a person reads them (_cell_text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), type=pa.large_string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) \
            or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return arr.cast(pa.large_string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "TRUE", "FALSE").cast(pa.large_string())
    if pa.types.is_floating(t):
        return _text_array(arr.to_numpy(zero_copy_only=False).astype(object), info)
    try:
        values = arr.to_pylist()
    except (ValueError, OverflowError, pa.ArrowException):   # e.g. a timestamp past year 9999
        return arr.cast(pa.large_string())
    nested = pa.types.is_nested(t)
    binary = pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif nested:
            out.append(json.dumps(v, ensure_ascii=False, default=str))
        elif binary:
            out.append(v.decode("utf-8", "replace"))
        else:
            out.append(_cell_text(v))
    return _text_array(out, info)


def _json(data: bytes, info: SourceInfo) -> tuple[list[str], list]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"The file is not valid JSON: it is not UTF-8 text ({exc.reason} at byte {exc.start:,}).") from None
    try:
        obj = json.loads(text, parse_int=_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise LoadError(f"The file is not valid JSON: {exc}") from None
    except RecursionError:
        raise _depth_limit_error(info, None) from None
    except ValueError as exc:
        raise LoadError(f"The file is not valid JSON: {_first_line(exc)}") from None
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        from ctopen.geo import feature_records   # GeoJSON: one row per feature, its geometry as WKT text
        obj, notes = feature_records(obj)
        info.format = "geojson"
        info.skipped.extend(notes)
    elif isinstance(obj, dict):
        obj = next((v for v in obj.values() if isinstance(v, list)), None)
    if not isinstance(obj, list) or not obj or not all(isinstance(r, dict) for r in obj):
        raise LoadError("The JSON file must be an array of records (objects), as the portal's API returns.")
    columns: dict[str, None] = {}
    for r in obj:
        columns.update(dict.fromkeys(r))
        if len(columns) > settings.MAX_COLUMNS:
            raise _columns_limit_error(info, len(columns), " (keys of its records)")
    rows = [[_json_cell(r.get(c), info) for c in columns] for r in obj]
    header = _repair_surrogates(list(columns), info)
    values = list(zip(*rows)) if rows else [()] * len(header)
    return header, [_text_array(v, info) for v in values]


def _json_int(digits: str):
    """Integers as Python reads them; one longer than Python converts (4,300 digits) stays the text it is."""
    try:
        return int(digits)
    except ValueError:
        return digits


def _json_constant(name: str):
    """NaN (not JSON, but written by some programs) is a missing value; Infinity stays a number."""
    return None if name == "NaN" else float(name)


def _depth_limit_error(info: SourceInfo, depth: int | None) -> LimitError:
    found = f"more than {depth - 1:,} levels deep" if depth else "deeper than Python's JSON reader goes"
    return LimitError(f"'{info.file}' nests arrays and objects {found}; the limit is {settings.MAX_JSON_DEPTH} levels "
                      f"({_setting('MAX_JSON_DEPTH')}).")


def _json_cell(v, info: SourceInfo):
    if v is None:
        return None
    if isinstance(v, (dict, list)):
        depth = _json_depth(v, settings.MAX_JSON_DEPTH - 2)   # the file's array and the record are two levels
        if depth + 2 > settings.MAX_JSON_DEPTH:
            raise _depth_limit_error(info, depth + 2)
        return json.dumps(v, ensure_ascii=False)
    return _cell_text(v)


def _json_depth(value, limit: int) -> int:
    """Nesting depth of a parsed JSON value (iterative), stopping once past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((child, d + 1) for child in (v.values() if isinstance(v, dict) else v))
    return deepest


def _clean_frame(header: list[str], cols: list, info: SourceInfo) -> pd.DataFrame:
    info.header_row = 1
    return _finish(header, cols, info, first_data_row=2)
