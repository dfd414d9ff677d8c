"""Files -> Table: CSV/TSV/TXT, XLSX/XLSM, XLS, Parquet, JSON.

Every value is read as text first (so "06810" keeps its zero); each column's type is inferred
afterwards by `ctopen.values.infer_type`. Nothing is guessed silently: the format, encoding,
delimiter, sheet, header row and everything skipped (title rows, footnotes, empty rows and
columns, renamed headers) is recorded in `Table.source` and `Table.warnings`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import LimitError, LoadError
from ctopen.values import infer_type, is_blank

TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt"}
EXCEL_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls"}
OTHER_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".json": "json"}
SUPPORTED = "CSV, TSV/TXT, Excel (.xlsx, .xlsm, .xls), Parquet or JSON"
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
    """Load a file (path, bytes or binary buffer) into a Table. Raises LoadError with one sentence."""
    data, name = _read_bytes(path_or_buffer, name)
    fmt = _format_of(name, data)
    info = SourceInfo(file=name, format=fmt, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    if fmt in ("csv", "tsv", "txt"):
        df = _read_text(data, info)
    elif fmt in ("xlsx", "xlsm", "xls"):
        df = _frame_from_rows(_excel_rows(data, info, sheet), info)
    elif fmt == "parquet":
        df = _clean_frame(_parquet(data), info)
    else:
        df = _clean_frame(_json(data), info)
    if len(df) > settings.MAX_ROWS:
        raise LimitError(f"The file has {len(df):,} data rows; the limit is {settings.MAX_ROWS:,}. Split it or publish it in parts.")
    table = Table(df=df, source=info)
    for column in df.columns:
        kind, formatted = infer_type(df[column])
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
            raise LimitError(f"The file is {path.stat().st_size / 2**20:,.0f} MB; the limit is {settings.MAX_FILE_MB} MB.")
        data = path.read_bytes()
    name = Path(str(name or "upload.csv")).name
    if len(data) > limit:
        raise LimitError(f"The file is {len(data) / 2**20:,.0f} MB; the limit is {settings.MAX_FILE_MB} MB.")
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
        counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
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
    """Small files are parsed by the csv module; large ones by pandas' C parser after the header is found."""
    text = _decode(data, info)
    info.delimiter = _sniff_delimiter(text[:65536], info.format)
    if len(data) <= 2_000_000:
        return _frame_from_rows(list(csv.reader(io.StringIO(text, newline=""), delimiter=info.delimiter)), info)
    return _read_csv_fast(text, data, info)


def _read_csv_fast(text: str, data: bytes, info: SourceInfo) -> pd.DataFrame:
    """Find the header on the first rows, then let pyarrow's multi-threaded CSV reader read every cell as text."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    head_rows = list(csv.reader(io.StringIO(text[:200_000], newline=""), delimiter=info.delimiter))[:HEADER_SCAN_ROWS]
    header_idx = _find_header(head_rows, info)
    raw_bytes = data[3:] if info.encoding == "utf-8-sig" else data if info.encoding == "utf-8" else text.encode("utf-8")
    width = max((len(r) for r in head_rows[header_idx:]), default=1)
    names = [f"c{j}" for j in range(width)]
    try:
        arrow = pcsv.read_csv(
            io.BytesIO(raw_bytes),
            read_options=pcsv.ReadOptions(skip_rows=header_idx, column_names=names, block_size=16 << 20),
            parse_options=pcsv.ParseOptions(delimiter=info.delimiter, newlines_in_values=True,
                                            invalid_row_handler=_ragged_row_handler(info)),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                                quoted_strings_can_be_null=True, null_values=[""]),
        )
    except pa.ArrowInvalid as exc:
        raise LoadError(f"'{info.file}' could not be read as a delimited text table: {str(exc).splitlines()[0]}") from None
    if arrow.num_rows > settings.MAX_ROWS + 1:
        raise LimitError(f"The file has more than {settings.MAX_ROWS:,} rows; split it or publish it in parts.")
    raw = arrow.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    header = ["" if pd.isna(v) else str(v) for v in raw.iloc[0].tolist()] if len(raw) else []
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    return _finish(header, body, info, first_data_row=header_idx + 2)


def _ragged_row_handler(info: SourceInfo):
    """Rows with more cells than the header cannot be placed: refuse the file with the line number."""
    def handler(row) -> str:
        raise LoadError(f"Line {row.number} of '{info.file}' has {row.actual_columns} cells where the header has "
                        f"{row.expected_columns}; fix that line (an unquoted delimiter?) and upload again.")
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
        raise LimitError(f"The file has more than {settings.MAX_ROWS:,} rows; split it or publish it in parts.")
    head = [[_cell_text(v) for v in r] for r in rows[:HEADER_SCAN_ROWS]]
    header_idx = _find_header(head, info)
    header = head[header_idx]
    width = max(len(r) for r in rows[header_idx:])
    body_rows = rows[header_idx + 1:]
    if any(len(r) != width for r in body_rows):
        body_rows = [list(r) + [""] * (width - len(r)) for r in body_rows]
    body = pd.DataFrame(body_rows, columns=range(width), dtype=object) if body_rows else pd.DataFrame(columns=range(width), dtype=object)
    return _finish(header, body, info, first_data_row=header_idx + 2)


def _finish(header: list[str], body: pd.DataFrame, info: SourceInfo, first_data_row: int) -> pd.DataFrame:
    """Drop empty rows/columns and footnotes, make headers unique, turn blanks into NA."""
    header = header + [""] * (body.shape[1] - len(header))
    cols = [_as_text(body[j]) for j in body.columns]
    blank = np.column_stack([c.isna().to_numpy() for c in cols]) if cols else np.zeros((len(body), 0), dtype=bool)
    filled = (~blank).sum(axis=1)
    last = len(filled)
    while last > 0 and filled[last - 1] == 0:
        last -= 1
    notes_end = last
    if body.shape[1] >= 3 and last:
        typical = np.median(filled[:last])
        start = last
        while start > 0 and filled[start - 1] <= 1 and typical >= 3 and last - start < 20:
            start -= 1
        if 0 < start < last:
            texts = [next((str(c.iloc[i]) for c in cols if not pd.isna(c.iloc[i])), "") for i in range(start, last) if filled[i]]
            info.skipped.append({"what": f"{len(texts)} note or footnote row(s) below the data",
                                 "where": f"row(s) {first_data_row + start}-{first_data_row + last - 1}",
                                 "why": "a single cell of text after the table: " + "; ".join(repr(t[:60]) for t in texts[:3])})
            notes_end = start
    keep_rows = np.zeros(len(filled), dtype=bool)
    keep_rows[:notes_end] = filled[:notes_end] > 0
    empty_rows = int((filled[:notes_end] == 0).sum())
    if empty_rows:
        info.skipped.append({"what": f"{empty_rows} empty row(s)", "where": "within the data", "why": "every cell is empty"})
    has_data = (~blank[keep_rows]).any(axis=0) if keep_rows.any() else np.zeros(len(cols), dtype=bool)
    keep_cols = [j for j in range(len(cols)) if has_data[j] or not is_blank(header[j])]
    dropped = [j for j in range(len(cols)) if j not in keep_cols]
    if dropped:
        info.skipped.append({"what": f"{len(dropped)} empty column(s)", "where": "column(s) " + ", ".join(_col_letter(j) for j in dropped),
                             "why": "no header and no values"})
    names = _unique_headers([header[j] for j in keep_cols], keep_cols, info)
    all_rows = bool(keep_rows.all())
    data = {}
    for name, j in zip(names, keep_cols):
        col = cols[j] if all_rows else cols[j][keep_rows]
        data[name] = col.reset_index(drop=True)
    return pd.DataFrame(data, index=pd.RangeIndex(int(keep_rows.sum())))


def _as_text(col: pd.Series) -> pd.Series:
    """A column as pandas "str"; empty and whitespace-only cells become NA (values otherwise kept exactly)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.dtype != "str":
        col = _typed_to_text(col.astype(object)).astype("str")
    arr = pa.array(col, type=pa.string())
    blank = pc.or_(pc.equal(pc.utf8_length(arr), 0), pc.utf8_is_space(arr))
    space = pc.fill_null(blank, False).to_numpy(zero_copy_only=False)
    return col.mask(space) if space.any() else col


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

def _check_zip(data: bytes, info: SourceInfo) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(i.file_size for i in zf.infolist())
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        raise LoadError(f"The file '{info.file}' is not a valid Excel workbook (it is truncated or corrupt).") from None
    if total > settings.MAX_UNCOMPRESSED_MB * 2**20 or total > settings.MAX_UNCOMPRESSED_RATIO * max(len(data), 1):
        raise LimitError(f"The workbook '{info.file}' expands to {total / 2**20:,.0f} MB when opened "
                         f"({total / len(data):,.0f} times its size): refused as a possible decompression bomb.")
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise LoadError(f"The file '{info.file}' is not a valid Excel workbook (no workbook inside the archive).")


def _excel_rows(data: bytes, info: SourceInfo, sheet: str | None) -> list[list]:
    from python_calamine import CalamineWorkbook

    if info.format != "xls":
        _check_zip(data, info)
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        info.sheets = list(wb.sheet_names)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types
        msg = str(exc).lower()
        if "password" in msg or "encrypt" in msg:
            raise LoadError(f"The workbook '{info.file}' is password-protected; remove the password in Excel and upload it again.") from None
        raise LoadError(f"The file '{info.file}' is not a valid Excel workbook (it is truncated or corrupt).") from None
    if sheet is not None and sheet not in info.sheets:
        raise LoadError(f"The workbook has no sheet named '{sheet}'; its sheets are: {', '.join(info.sheets)}.")
    candidates = [sheet] if sheet is not None else info.sheets
    for name in candidates:
        try:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # noqa: BLE001
            raise LoadError(f"Sheet '{name}' of '{info.file}' could not be read (the workbook may be corrupt): {exc}") from None
        if any(any(not is_blank(v) for v in r) for r in rows):
            if sheet is None and name != info.sheets[0]:
                info.skipped.append({"what": "empty sheet(s)", "where": ", ".join(info.sheets[:info.sheets.index(name)]),
                                     "why": "no values; the first sheet with data is used"})
            info.sheet = name
            return rows   # typed cells; turned into text column by column (_typed_to_text)
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

def _parquet(data: bytes) -> pd.DataFrame:
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
        raise LoadError(f"The file is not a valid Parquet file: {str(exc).splitlines()[0]}") from None
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[str(c)] = col.map(lambda v: None if pd.isna(v) else _cell_text(v.to_pydatetime()))
        else:
            out[str(c)] = col.map(lambda v: None if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)) else _cell_text(v))
    return pd.DataFrame(out)


def _json(data: bytes) -> pd.DataFrame:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadError(f"The file is not valid JSON: {exc}") from None
    if isinstance(obj, dict):
        obj = next((v for v in obj.values() if isinstance(v, list)), None)
    if not isinstance(obj, list) or not obj or not all(isinstance(r, dict) for r in obj):
        raise LoadError("The JSON file must be an array of records (objects), as the portal's API returns.")
    columns: dict[str, None] = {}
    for r in obj:
        columns.update(dict.fromkeys(r))
    rows = [[_json_cell(r.get(c)) for c in columns] for r in obj]
    return pd.DataFrame(rows, columns=list(columns), dtype=object)


def _json_cell(v):
    if v is None:
        return None
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return _cell_text(v)


def _clean_frame(df: pd.DataFrame, info: SourceInfo) -> pd.DataFrame:
    info.header_row = 1
    header = [str(c) for c in df.columns]
    body = df.copy()
    body.columns = range(df.shape[1])
    return _finish(header, body, info, first_data_row=2)
