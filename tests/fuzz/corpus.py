"""Odd and hostile input files for the loader (issue 16), built in memory: valid seeds, named hostile cases,
and seeded mutations of the seeds. Used by tests/test_hostile_files.py (small) and scripts/fuzz (large).

Every generator is deterministic for a given seed, and every file stays small (a few MB at most) so that
a run fits in CI: what the files claim (sizes, ranges, depths) is hostile, not their own size.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the real CT files in the repository (tests/data/real, gzipped; the drug-deaths file is the app's sample)
REAL_FILES = sorted((ROOT / "tests" / "data" / "real").glob("*.csv.gz")) + sorted((ROOT / "ctopen" / "data" / "sample").glob("*.csv"))


@dataclass
class Case:
    area: str          # csv, xlsx, xls, json, parquet, name
    name: str          # file name given to the loader (its suffix matters)
    data: bytes
    note: str = ""


# --- a minimal workbook written by hand, so that every part of it can be made hostile ------------

_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
       '</Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Target="xl/workbook.xml" '
         'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
         '</Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
       '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="{target}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
            '</Relationships>')


def col_letters(j: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def sheet_xml(cells: list[tuple[str | None, str]] | None = None, rows: list[list[str]] | None = None,
              dimension: str | None = None, refs: bool = True) -> str:
    """A worksheet: either explicit (ref, text) cells, or rows of text (with or without r attributes)."""
    parts = []
    if cells is not None:
        by_row: dict[int, list] = {}
        for ref, text in cells:
            by_row.setdefault(int("".join(ch for ch in ref if ch.isdigit())), []).append((ref, text))
        for r in sorted(by_row):
            parts.append(f'<row r="{r}">' + "".join(
                f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in by_row[r]) + "</row>")
    for i, row in enumerate(rows or []):
        row_attr = f' r="{i + 1}"' if refs else ""
        parts.append(f"<row{row_attr}>" + "".join(
            (f'<c r="{col_letters(j)}{i + 1}" t="inlineStr">' if refs else '<c t="inlineStr">') + f"<is><t>{v}</t></is></c>"
            for j, v in enumerate(row)) + "</row>")
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'{dim}<sheetData>{"".join(parts)}</sheetData></worksheet>')


def _member(name: str) -> zipfile.ZipInfo:
    """A member stamped 2020-01-01, so that the same input gives the same bytes (the corpus is reproducible)."""
    return zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))


def xlsx(sheet: str, extra: dict[str, bytes | str] | None = None, target: str = "worksheets/sheet1.xml",
         sheet_member: str = "xl/worksheets/sheet1.xml", compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr(_member("[Content_Types].xml"), _CT, compression)
        z.writestr(_member("_rels/.rels"), _RELS, compression)
        z.writestr(_member("xl/workbook.xml"), _WB, compression)
        z.writestr(_member("xl/_rels/workbook.xml.rels"), _WB_RELS.format(target=target), compression)
        z.writestr(_member(sheet_member), sheet, compression)
        for name, content in (extra or {}).items():
            z.writestr(_member(name), content, compression)
    return buf.getvalue()


def rezip(data: bytes, change) -> bytes:
    """The same archive with each member's bytes passed through change(name, bytes) -> bytes | None (drop)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            new = change(info.filename, src.read(info))
            if new is not None:
                z.writestr(_member(info.filename), new, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def patch_central_directory(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field (at `offset` inside every central-directory entry) of a zip archive."""
    out = bytearray(data)
    i = out.find(b"PK\x01\x02")
    while i >= 0:
        struct.pack_into(fmt, out, i + offset, value)
        i = out.find(b"PK\x01\x02", i + 4)
    return bytes(out)


def deflate_member_lying_about_size(name: str, payload: bytes, declared: int) -> bytes:
    """A one-member zip whose headers declare `declared` bytes uncompressed while the stream inflates to more."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = comp.compress(payload) + comp.flush()
    crc = zlib.crc32(payload[:declared])
    fname = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), declared, len(fname), 0) + fname
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), declared,
                          len(fname), 0, 0, 0, 0, 0, 0) + fname
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(raw), 0)
    return local + raw + central + end


# --- seeds --------------------------------------------------------------------------------------

def _rows(n: int = 25, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    towns = ["Hartford", "New Haven", "Bridgeport", "Stamford", "Sandy Hook", "Norwalk"]
    out = [["case_id", "date", "age", "sex", "town", "zip", "amount", "note"]]
    for i in range(n):
        out.append([f"{rng.randint(12, 23)}-{i:06d}", f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/20{rng.randint(12, 23)}",
                    str(rng.randint(0, 99)), rng.choice(["Male", "Female"]), rng.choice(towns),
                    f"0{rng.randint(6001, 6928)}", f"{rng.randint(1000, 900000):,}",
                    rng.choice(["", "Acute fentanyl intoxication", 'said "no"', "line\nbreak", "José Muñoz"])])
    return out


def _csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    import csv
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def seed_files() -> list[Case]:
    """Valid files of every format (each should load)."""
    rows = _rows()
    seeds = [
        Case("csv", "seed.csv", _csv_text(rows).encode()),
        Case("csv", "seed.tsv", _csv_text(rows, "\t").encode("utf-16")),
        Case("csv", "seed_title.csv", ("Deaths by town\n\n" + _csv_text(rows) + "\nSource: agency\n").encode("cp1252", "replace")),
    ]
    for path in sorted(REAL_FILES, key=lambda p: p.name.removesuffix(".gz")):
        import gzip
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            head = b"".join(f.readline() for _ in range(40))
        seeds.append(Case("csv", path.name.removesuffix(".gz"), head))
    seeds.append(Case("xlsx", "seed.xlsx", xlsx(sheet_xml(rows=rows))))
    seeds.append(Case("xlsx", "seed_norefs.xlsx", xlsx(sheet_xml(rows=rows, refs=False))))
    seeds.append(Case("xlsx", "seed_openpyxl.xlsx", _openpyxl_workbook(rows)))
    xls = _xls_workbook(rows)
    if xls:
        seeds.append(Case("xls", "seed.xls", xls))
    records = [dict(zip(rows[0], r)) for r in rows[1:]]
    records[0]["location"] = {"latitude": "41.76", "longitude": "-72.67", "human_address": {"city": "Hartford"}}
    records[1]["count"] = 12
    seeds.append(Case("json", "seed.json", json.dumps(records, ensure_ascii=False).encode()))
    seeds.append(Case("json", "seed_wrapped.json", json.dumps({"meta": {"n": 25}, "data": records}).encode()))
    seeds.append(Case("parquet", "seed.parquet", _parquet(rows)))
    return seeds


def _openpyxl_workbook(rows) -> bytes:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Report title"])
    for r in rows:
        ws.append(r)
    ws.append(["Note: counts under 5 are suppressed."])
    ws["B3"] = dt.datetime(2019, 3, 21)
    ws["C3"] = 42.5
    buf = io.BytesIO()
    wb.save(buf)
    import re   # openpyxl stamps the time of saving: fixed, for a reproducible corpus
    return rezip(buf.getvalue(), lambda name, b: re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2020-01-01T00:00:00Z", b)
                 if name == "docProps/core.xml" else b)


def _xls_workbook(rows) -> bytes | None:
    try:
        import xlwt
    except ImportError:
        return None
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Data")
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            ws.write(i, j, float(v) if v.isdigit() and not v.startswith("0") else v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xls_far_cell() -> bytes:
    try:
        import xlwt
    except ImportError:
        return b""
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Data")
    for i, row in enumerate(_rows(3)):
        for j, v in enumerate(row):
            ws.write(i, j, v)
    ws.write(65535, 255, "far")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def biff_workbook(n_sheets: int, cells: list[tuple[int, int, float]], filler: int = 0) -> bytes:
    """An .xls written record by record: `n_sheets` sheet entries that all point at one sheet holding `cells`
    (row, column, number) and `filler` ROW records. calamine reads the sheet once per entry."""
    try:
        from xlwt.CompoundDoc import XlsDoc
    except ImportError:
        return b""

    def record(typ: int, body: bytes) -> bytes:
        return struct.pack("<HH", typ, len(body)) + body

    def bof(kind: int) -> bytes:
        return record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 1996, 0, 0x0006))

    names = [f"S{i}".encode() for i in range(n_sheets)]
    bound_len = sum(4 + 6 + 2 + len(n) for n in names)
    sheet_at = len(bof(0x0005)) + bound_len + 4
    globals_ = bof(0x0005) + b"".join(record(0x0085, struct.pack("<IBB", sheet_at, 0, 0) + bytes([len(n), 0]) + n)
                                      for n in names) + record(0x000A, b"")
    rows = max((r for r, _, _ in cells), default=0) + 1
    cols = max((c for _, c, _ in cells), default=0) + 1
    sheet = bof(0x0010) + record(0x0200, struct.pack("<IIHHH", 0, rows, 0, cols, 0))
    sheet += record(0x0208, bytes(16)) * filler
    sheet += b"".join(record(0x0203, struct.pack("<HHHd", r, c, 0, v)) for r, c, v in cells) + record(0x000A, b"")
    assert len(globals_) == sheet_at
    buf = io.BytesIO()
    XlsDoc().save(buf, globals_ + sheet)
    return buf.getvalue()


def _parquet(rows, **tables) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    cols = list(zip(*rows[1:]))
    table = pa.table({name: list(values) for name, values in zip(rows[0], cols)})
    table = table.append_column("n", pa.array(range(len(rows) - 1)))
    table = table.append_column("when", pa.array([dt.datetime(2020, 1, 2) + dt.timedelta(days=i) for i in range(len(rows) - 1)]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def parquet_bytes(table, **kwargs) -> bytes:
    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    return buf.getvalue()


# --- named hostile cases (the regression list of issue 16 and what the fuzz run found) -----------

def hostile_cases() -> list[Case]:
    """Each: a file the loader must either read or refuse with one LoadError line, quickly, in bounded memory."""
    import numpy as np
    import pyarrow as pa

    rows = _rows(5)
    cases = [
        Case("csv", "cell_200k.csv", b"id,text\n1," + b"x" * 200_000 + b"\n2,short\n", "a cell over csv's 131,072 default"),
        Case("csv", "cell_over_limit.csv", b"id,text\n1," + b"x" * 1_100_000 + b"\n", "a cell over MAX_CELL_CHARS"),
        Case("csv", "cell_quoted_huge.csv", b'id,text\n1,"' + b"y" * 300_000, "an unterminated quote swallowing the file"),
        Case("csv", "ragged_large.csv", _ragged_large_csv(), "a large (fast path) CSV with a row wider than the header"),
        Case("csv", "wide_20000.csv", _wide_csv(20_000), "more columns than MAX_COLUMNS"),
        Case("csv", "nul.csv", b"a,b\n1,\x002\n", "a NUL byte in a cell"),
        Case("csv", "lone_cr.csv", b"a,b\r1,2\r3,\"4\r5\"\r", "old Mac line ends and a CR inside quotes"),
        Case("csv", "bom_only.csv", b"\xef\xbb\xbf", "a byte-order mark and nothing else"),
        Case("csv", "utf16_odd.csv", "a,b\n1,2\n".encode("utf-16-le") + b"\x00", "UTF-16 with an odd number of bytes"),
        Case("xls", "truncated.xls", (_xls_workbook(_rows(200)) or b"")[:30_108], "calamine panics (a BaseException)"),
        Case("xls", "far_cell.xls", _xls_far_cell(), "one cell at IV65536, the last cell of an .xls (16.7 million laid out)"),
        Case("xls", "one_sheet_5000_times.xls", biff_workbook(5000, [(0, c, float(c)) for c in range(250)] +
                                                              [(r, 0, 1.0) for r in range(1, 4000)]),
             "5,000 sheet entries pointing at the same sheet (read 5,000 times)"),
        Case("xlsx", "zip_version_99.xlsx", patch_central_directory(xlsx(sheet_xml(rows=rows)), 6, "<H", 99),
             "zipfile raises NotImplementedError"),
        Case("xlsx", "zip_method_99.xlsx", patch_central_directory(xlsx(sheet_xml(rows=rows)), 10, "<H", 99),
             "an unknown compression method"),
        Case("xlsx", "zip_bad_utf8_name.xlsx", _zip_bad_utf8_name(), "a member name flagged UTF-8 that is not"),
        Case("xlsx", "dimension_zzzz.xlsx", xlsx(sheet_xml([("A1", "a"), ("B1", "b"), ("A2", "1"), ("ZZZZ2", "2")])),
             "a used range reaching ZZZZ2"),
        Case("xlsx", "dimension_declared.xlsx", xlsx(sheet_xml([("A1", "a"), ("A2", "1")], dimension="A1:ZZZZ1048576")),
             "a declared dimension far beyond the cells"),
        Case("xlsx", "cell_xfd1048576.xlsx", xlsx(sheet_xml([("A1", "a"), ("A2", "1"), ("XFD1048576", "x")])),
             "one cell at Excel's last cell (a dense range of 17 billion cells)"),
        Case("xlsx", "cell_row_overflow.xlsx", xlsx(sheet_xml([("A1", "a"), ("A2", "1"), ("C99999999999", "x")])),
             "a row number beyond u32"),
        Case("xlsx", "wide_norefs.xlsx", xlsx(sheet_xml(rows=[["h"] * 3, _random_numbers(20_000)],
                                                        refs=False)), "a row of 20,000 cells without references"),
        Case("xlsx", "padded_bomb.xlsx", _padded_bomb(), "a deflate bomb hidden by an incompressible member"),
        Case("xlsx", "lying_size.xlsx", _lying_size_workbook(), "a member that inflates to more than it declares"),
        Case("xlsx", "many_members.xlsx", xlsx(sheet_xml(rows=rows), extra={f"x/{i}.xml": "" for i in range(12_000)}),
             "more archive members than MAX_ZIP_MEMBERS"),
        Case("xlsx", "xlsb_inside.xlsx", _xlsb_like(), "a binary workbook (xlsb) under an .xlsx name"),
        Case("xlsx", "moved_sheet.xlsx", xlsx(sheet_xml([("A1", "a"), ("A2", "1"), ("XFD1048576", "x")]),
                                               target="/xl/data/s.xml", sheet_member="xl/data/s.xml"),
             "a hostile sheet stored outside xl/worksheets"),
        Case("xlsx", "billion_laughs.xlsx", xlsx(_billion_laughs()), "XML entity expansion"),
        Case("json", "deep_995.json", b'[{"a": ' + b"[" * 995 + b"]" * 995 + b"}]", "RecursionError in json"),
        Case("json", "deep_100k.json", b'[{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]", "very deep nesting"),
        Case("json", "deep_150.json", b'[{"a": ' + b"[" * 150 + b"]" * 150 + b"}]", "deeper than MAX_JSON_DEPTH"),
        Case("json", "int_5000_digits.json", b'[{"a": ' + b"9" * 5000 + b"}]", "an integer over 4,300 digits"),
        Case("json", "surrogate_value.json", b'[{"a": "x\\ud800y"}, {"a": "ok"}]', "a lone surrogate in a value"),
        Case("json", "surrogate_key.json", b'[{"\\udfff": "x"}]', "a lone surrogate in a key"),
        Case("json", "nan.json", b'[{"a": NaN, "b": Infinity}, {"a": -Infinity, "b": 1}]', "NaN and Infinity"),
        Case("json", "huge_float.json", b'[{"a": 1e999999}]', "a float beyond double"),
        Case("parquet", "list_column.parquet", parquet_bytes(pa.table({"a": [[1, 2], [3]], "b": ["x", "y"]})), "a list column"),
        Case("parquet", "nested.parquet", parquet_bytes(pa.table({
            "s": [{"x": 1, "y": [1, 2]}, None], "m": pa.array([[("k", 1)], []], type=pa.map_(pa.string(), pa.int64())),
            "b": [b"\xff\xfe", b"ok"]})), "struct, map and binary columns"),
        Case("parquet", "times.parquet", parquet_bytes(pa.table({
            "tz": pa.array([dt.datetime(2020, 1, 1, 5, tzinfo=dt.timezone.utc), None], type=pa.timestamp("us", tz="America/New_York")),
            "y3000": pa.array([dt.datetime(3000, 1, 1), dt.datetime(9999, 12, 31)], type=pa.timestamp("ms")),
            "d": pa.array([dt.date(9999, 12, 31), dt.date(1, 1, 1)], type=pa.date32()),
            "dur": pa.array([dt.timedelta(days=1), None], type=pa.duration("s")),
            "t": pa.array([dt.time(12, 30), None], type=pa.time64("us"))})), "out-of-range and zoned times"),
        Case("parquet", "decimal_dict.parquet", parquet_bytes(pa.table({
            "dec": pa.array([1, None], type=pa.decimal128(38, 10)),
            "cat": pa.array(["a", "b"]).dictionary_encode(), "nul": pa.nulls(2)})), "decimal, dictionary, null columns"),
        Case("parquet", "corrupt_pages.parquet", _corrupt_parquet(), "corruption raised lazily while decoding"),
        Case("parquet", "rows_6m.parquet", parquet_bytes(pa.table({"z": pa.array(np.zeros(6_000_000, dtype=np.int8))}),
                                                         compression="zstd"), "6 million rows in a few KB"),
        Case("parquet", "wide_20000.parquet", parquet_bytes(pa.table({f"c{i}": [i] for i in range(20_000)})),
             "more columns than MAX_COLUMNS"),
    ]
    return cases


def _random_numbers(n: int) -> list[str]:
    rng = random.Random(2)
    return [str(rng.randrange(10**9)) for _ in range(n)]


def _ragged_large_csv() -> bytes:
    lines = ["a,b,c"] + [f"{i},x,y" for i in range(250_000)]
    lines[200_000] = "1,2,3,4,5"
    return ("\n".join(lines) + "\n").encode()


def _wide_csv(n: int) -> bytes:
    return (",".join(f"c{i}" for i in range(n)) + "\n" + ",".join(str(i) for i in range(n)) + "\n").encode()


def _zip_bad_utf8_name() -> bytes:
    data = bytearray(xlsx(sheet_xml(rows=_rows(3)), extra={"docProps/abc.xml": "<x/>"}))
    data = bytearray(patch_central_directory(bytes(data), 8, "<H", 0x800))   # the UTF-8 name flag on every member
    i = data.find(b"PK\x01\x02docProps/abc.xml"[:4])
    j = data.rfind(b"docProps/abc.xml")
    data[j:j + 3] = b"\xff\xfe\xfd"
    return bytes(data)


def _padded_bomb() -> bytes:
    """A workbook whose sheet inflates about 1,000 times, padded with incompressible bytes so the overall ratio looks
    modest (the ratio-only check let this through). Sized for CI: 2.3 MB on disk, 1.3 GB once inflated."""
    row = b'<row r="2"><c r="A2"><v>1</v></c></row>'
    head = sheet_xml(rows=[["a"]]).encode().replace(b"</sheetData></worksheet>", b"")
    tail = b"</sheetData></worksheet>"
    filler = row * (1 << 20)                     # 40 MB of the same row
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    chunk = comp.compress(filler) + comp.flush(zlib.Z_FULL_FLUSH)   # after a full flush the same input deflates the same
    raw = start + chunk * 32 + comp.compress(tail) + comp.flush()
    size = len(head) + len(filler) * 32 + len(tail)
    base = xlsx(sheet_xml(rows=[["a"], ["1"]]), extra={"xl/media/padding.bin": random.Random(1).randbytes(1_000_000)},
                compression=zipfile.ZIP_STORED)
    return _replace_member(base, "xl/worksheets/sheet1.xml", raw, size, 0)


def _replace_member(archive: bytes, name: str, raw: bytes, size: int, crc: int) -> bytes:
    """Rebuild a zip with one member's deflate stream replaced (declared size `size`)."""
    src = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    entries = []
    for info in src.infolist():
        fname = info.filename.encode()
        if info.filename == name:
            payload, method, usize, ucrc = raw, 8, size, crc
        else:
            payload, method, usize, ucrc = src.read(info), 0, info.file_size, info.CRC
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, ucrc, len(payload), usize, len(fname), 0))
        out.write(fname)
        out.write(payload)
        entries.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, ucrc, len(payload), usize,
                                   len(fname), 0, 0, 0, 0, 0, offset) + fname)
    cd_start = out.tell()
    for e in entries:
        out.write(e)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), out.tell() - cd_start, cd_start, 0))
    return out.getvalue()


def _lying_size_workbook() -> bytes:
    row = b'<row><c><v>1</v></c></row>'
    xml = sheet_xml(rows=[["a"]]).encode().replace(b"</sheetData>", row * 400_000 + b"</sheetData>")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = comp.compress(xml) + comp.flush()
    return _replace_member(xlsx(sheet_xml(rows=[["a"]])), "xl/worksheets/sheet1.xml", raw, 2_000, zlib.crc32(xml[:2_000]))


def _xlsb_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(_member("[Content_Types].xml"), _CT)
        z.writestr(_member("xl/workbook.bin"), b"\x83\x01\x00")
    return buf.getvalue()


def _billion_laughs() -> str:
    ents = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE worksheet [{ents}]>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>&a9;</t></is></c></row></sheetData></worksheet>')


def _corrupt_parquet() -> bytes:
    import pyarrow as pa
    data = bytearray(parquet_bytes(pa.table({"a": list(range(2000)), "b": [f"s{i}" for i in range(2000)]})))
    for i in range(200, min(len(data) - 200, 4000), 7):
        data[i] ^= 0xFF
    return bytes(data)


# --- mutations --------------------------------------------------------------------------------

INTERESTING = [b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b'"', b",", b"\n", b"\r", b"\r\n", b"\t", b";", b"|",
               b"<", b">", b"&", b"[", b"{", b"}", b"]", b"\\", b"\\ud800", b"\xed\xa0\x80", b"\xc3", b"\x80",
               b"9" * 40, b"-1", b"1e308", b"NaN", b"=1+1", b"\x1a"]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to four random byte-level mutations."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(out)
        if n == 0:
            out += rng.choice(INTERESTING)
            continue
        i = rng.randrange(n)
        if op == 0:                       # flip bits
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1:                     # overwrite with random bytes
            k = rng.randint(1, 16)
            out[i:i + k] = rng.randbytes(k)
        elif op == 2:                     # truncate
            del out[i:]
        elif op == 3:                     # delete a range
            del out[i:i + rng.randint(1, max(1, n // 8))]
        elif op == 4:                     # duplicate a range (a few times)
            j = min(n, i + rng.randint(1, 256))
            out[j:j] = bytes(out[i:j]) * rng.randint(1, 64)
        elif op == 5:                     # insert an interesting token
            out[i:i] = rng.choice(INTERESTING) * rng.choice([1, 1, 2, 100])
        elif op == 6:                     # overwrite a byte with a boundary value
            out[i] = rng.choice([0, 1, 0x7F, 0x80, 0xFE, 0xFF])
        else:                             # change a 16 or 32-bit field to an extreme
            fmt = rng.choice(["<H", "<I"])
            if i + struct.calcsize(fmt) <= n:
                struct.pack_into(fmt, out, i, rng.choice([0, 0xFFFF, 0x7FFF, 0xFFFFFFFF if fmt == "<I" else 0xFFFE]))
    return bytes(out)


def mutate_text(text: str, rng: random.Random) -> str:
    """Structure-aware text edits: spreadsheet XML refs and sizes, delimiters, quotes, nesting."""
    import re
    op = rng.randrange(9)
    if op == 0:                           # a cell reference far out
        refs = list(re.finditer(r'r="([A-Z]+)(\d+)"', text))
        if refs:
            m = rng.choice(refs)
            new = rng.choice(["XFD1048576", "ZZZZ2", "A1048576", "XFD1", "AAAAA1", "A4294967296", "ZZ99999", "B0", "A-1"])
            return text[:m.start()] + f'r="{new}"' + text[m.end():]
    if op == 1:                           # a dimension
        return text.replace("<sheetData>", f'<dimension ref="A1:{rng.choice(["XFD1048576", "ZZZZ2", "B2"])}"/><sheetData>', 1)
    if op == 2:                           # repeat a row many times
        m = re.search(r"<row[ >].*?</row>", text)
        if m:
            return text[:m.end()] + m.group(0) * rng.choice([10, 1000, 20_000]) + text[m.end():]
    if op == 3:                           # drop the r attributes
        return re.sub(r' r="[A-Z]*\d+"', "", text)
    if op == 4:                           # an unclosed quote or tag
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(['"', "<", "<c>", "</row>", "&", "&#0;", "&#xD800;", "]]>"]) + text[i:]
    if op == 5:                           # very long cell text
        return text.replace("<t>", "<t>" + "x" * rng.choice([40_000, 140_000]), 1)
    if op == 6:                           # nesting
        i = rng.randrange(len(text) + 1)
        return text[:i] + "<a>" * 3000 + "</a>" * 3000 + text[i:]
    if op == 7:                           # delimiters and line breaks in odd places
        chars = list(text)
        for _ in range(rng.randint(1, 10)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice([",", '"', "\n", "\r", "\t", ";", "\x00"]))
        return "".join(chars)
    return text.replace(">", ">" + "\u2028\ud800"[rng.randrange(2)], 1) if rng.random() < 0.3 else text


def mutate_json(data: bytes, rng: random.Random) -> bytes:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):      # an earlier mutation made it invalid, or deeper than json reads
        return mutate_bytes(data, rng)
    if isinstance(obj, dict):
        obj = next((v for v in obj.values() if isinstance(v, list)), [])
    records = [r for r in obj if isinstance(r, dict)] if isinstance(obj, list) else []
    op = rng.randrange(8)
    if op == 0 and records:
        depth = rng.choice([50, 99, 101, 500, 990, 2000])
        text = json.dumps(records[:3])
        return text.replace('"case_id": ', '"case_id": ' + "[" * depth, 1).replace(", \"date\"", "]" * depth + ', "date"', 1).encode()
    if op == 1:
        return data.replace(b'"age": "', b'"age": ' + b"7" * rng.choice([100, 4300, 4400]) + b', "x": "', 1)
    if op == 2:
        return data.replace(b'"town": "', b'"town": "\\ud800' + rng.choice([b"", b"\\udc00", b"\\uffff", b"\\u0000"]), 1)
    if op == 3:
        return data.replace(b'"age": "', b'"age": ' + rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"true", b"null"]) + b', "x": "', 1)
    if op == 4:
        return json.dumps(rng.choice([records[:1] * 3 + [1], {"a": 1}, [[1, 2]], [], [{}], "x", 1, None,
                                      [{"a": {"b": [1] * 10}}] * 2])).encode()
    if op == 5 and records:
        wide = {f"k{i}": i for i in range(rng.choice([100, 20_000]))}
        return json.dumps([wide, records[0]]).encode()
    if op == 6:
        return data.replace(b"{", b'{"case_id": 1, ', 1)          # a duplicate key
    return mutate_bytes(data, rng)


def mutate_xlsx(data: bytes, rng: random.Random) -> bytes:
    """Mutate the XML inside the archive (structure-aware), or the archive's own bytes."""
    if rng.random() < 0.35:
        return mutate_bytes(data, rng)
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except Exception:  # noqa: BLE001 - a mutated seed may no longer be a zip
        return mutate_bytes(data, rng)
    sheets = [n for n in names if "worksheets/" in n or "sharedStrings" in n]
    target = rng.choice(sheets if sheets and rng.random() < 0.75 else names)

    def change(name, content):
        if name != target:
            return content
        if rng.random() < 0.1:
            return None                    # drop the member
        if rng.random() < 0.2:
            return mutate_bytes(content, rng)
        return mutate_text(content.decode("utf-8", "replace"), rng).encode("utf-8", "surrogatepass")
    try:
        return rezip(data, change)
    except Exception:  # noqa: BLE001 - an earlier mutation broke the archive: mutate its bytes instead
        return mutate_bytes(data, rng)


def mutate_csv(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return mutate_bytes(data, rng)
    text = data.decode("utf-8", "replace")
    op = rng.randrange(6)
    lines = text.split("\n")
    if op == 0:
        i = rng.randrange(len(lines))
        lines[i] = lines[i] + "," * rng.choice([1, 5, 500, 20_000])
    elif op == 1:
        i = rng.randrange(len(lines))
        lines[i] = '"' + lines[i]
    elif op == 2:
        lines.insert(rng.randrange(len(lines) + 1), "x" * rng.choice([131_071, 131_073, 200_000]))
    elif op == 3:
        lines = lines * rng.choice([2, 50, 2000])
    elif op == 4:
        return mutate_text(text, rng).encode("utf-8", "surrogatepass")
    else:
        return text.encode(rng.choice(["utf-16", "utf-16-be", "utf-32", "cp1252", "latin-1"]), "replace")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def mutate_xls(data: bytes, rng: random.Random) -> bytes:
    """The compound file's header fields, a BIFF DIMENSIONS record, cell positions, or plain bytes."""
    out = bytearray(data)
    op = rng.randrange(5)
    if op == 0 and len(out) >= 512:           # header: FAT length, directory start, mini FAT, DIFAT
        offset = rng.choice([44, 48, 60, 64, 68, 72, 76, 80])
        struct.pack_into("<I", out, offset, rng.choice([0, 1, 2, 0x7FFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFA, 0xFFFFFFFE, 0xFFFFFFFF]))
        return bytes(out)
    if op == 1:                                # DIMENSIONS (0x0200, 14 bytes): first/last row, first/last column
        i = out.find(b"\x00\x02\x0e\x00")
        if i >= 0:
            struct.pack_into("<IIHH", out, i + 4, rng.choice([0, 1, 70000]), rng.choice([0, 1, 65536, 0xFFFFFFFF]),
                             rng.choice([0, 255, 300]), rng.choice([0, 1, 256, 0xFFFF]))
            return bytes(out)
    if op == 2:                                # cell records: row and column to extremes
        for marker in (b"\xfd\x00\x0a\x00", b"\x03\x02\x0e\x00", b"\x7e\x02\x0a\x00"):
            i = out.find(marker, rng.randrange(max(1, len(out))))
            if i >= 0:
                struct.pack_into("<HH", out, i + 4, rng.choice([0, 1000, 65535]), rng.choice([0, 255, 16384, 65535]))
                return bytes(out)
    if op == 3 and len(out) >= 1024:           # a FAT entry pointing back at itself (a loop)
        k = rng.randrange(512, len(out) - 4, 4)
        struct.pack_into("<I", out, k, (k - 512) // 512)
        return bytes(out)
    return mutate_bytes(data, rng)


MUTATORS = {"csv": mutate_csv, "xlsx": mutate_xlsx, "xls": mutate_xls, "json": mutate_json, "parquet": mutate_bytes}


def iter_mutated(seed: int, per_seed: int):
    """per_seed mutations of every seed file, deterministic for `seed`, one at a time."""
    rng = random.Random(seed)
    for base in seed_files():
        for k in range(per_seed):
            data = MUTATORS[base.area](base.data, rng)
            if rng.random() < 0.15:
                data = MUTATORS[base.area](data, rng)
            yield Case(base.area, base.name, data, f"mutation {k} of {base.name}")


def mutated(seed: int, per_seed: int) -> list[Case]:
    return list(iter_mutated(seed, per_seed))


def odd_names() -> list[tuple[bytes, bytes]]:
    """(file name as bytes, content): names that are not UTF-8, or odd in other ways."""
    body = b"a,b\n1,2\n"
    return [(b"caf\xe9.csv", body), (b"\xff\xfe.csv", body), (b"line\nbreak.csv", body), (b"-dash.csv", body),
            (b"\xe2\x80\xae.csv", body), (b"x" * 200 + b".csv", body), (b"emoji\xf0\x9f\x98\x80.csv", body),
            (b"\xed\xa0\x80.csv", body), (b"no_suffix", body), (b"tab\tname.xlsx", b"not a workbook")]
