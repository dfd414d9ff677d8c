"""ctopen.load: real CT files, generated workbooks, encodings, and every kind of bad input."""
import io
import json
import subprocess
import sys
import zipfile

import openpyxl
import pandas as pd
import pytest

from ctopen import settings
from ctopen.errors import CtopenError, LimitError, LoadError
from ctopen.load import load
from ctopen.profile import profile_dict
from tests.conftest import COVID, DRUG, LICENSES, PRETRIAL, REAL_ESTATE, ROOT, real_file


# --- the real files --------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [
    (DRUG, (5105, 41)), (LICENSES, (1000, 21)), (REAL_ESTATE, (40946, 8)), (COVID, (39884, 16)), (PRETRIAL, (16134, 7)),
])
def test_real_files_load_with_the_right_shape(name, shape):
    table = load(real_file(name))
    assert table.df.shape == shape
    assert table.source.format == "csv" and table.source.delimiter == "," and table.source.header_row == 1


def test_drug_deaths_keeps_line_breaks_inside_quoted_geo_cells():
    table = load(real_file(DRUG))
    geo = table.df["DeathCityGeo"].dropna()
    assert geo.str.contains("\n").any()
    assert table.types["Date"] == "date" and table.types["Age"] == "integer"


def test_licenses_zip_keeps_leading_zeros_as_text():
    table = load(real_file(LICENSES))
    assert "060012101" in set(table.df["zip"])
    assert table.types["zip"] == "text"


def test_real_estate_sale_amount_is_a_formatted_number():
    table = load(real_file(REAL_ESTATE))
    assert table.types["Sale Amount"] == "integer"
    assert "Sale Amount" in table.formatted_numbers
    assert any("Sale Amount" in w and "295,000" in w for w in table.warnings)
    assert "295,000" in set(table.df["Sale Amount"])  # the value itself is kept exactly


def test_pretrial_unnamed_first_column_is_reported():
    table = load(real_file(PRETRIAL))
    first = table.df.columns[0]
    assert first == "column_1"
    assert any("blank header" in w for w in table.warnings)
    assert any("row number" in w for w in table.warnings)


def test_covid_header_trailing_space_is_kept():
    table = load(real_file(COVID))
    assert "Total cases " in table.df.columns


# --- generated workbooks ---------------------------------------------------------------------

def _workbook(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_workbook_with_title_rows_footnote_leading_zero_zips_and_dates(tmp_path):
    import datetime as dt
    rows = [["Deaths by town, 2019"], ["Prepared by the agency"], [],
            ["Town", "ZIP", "Date", "Count"],
            ["Andover", "06232", dt.datetime(2019, 3, 21), 4],
            ["Ansonia", "06401", dt.datetime(2019, 4, 2), 12],
            ["Avon", "06001", dt.datetime(2019, 5, 30), 7],
            [],
            ["Note: counts under 5 are suppressed in the published table."]]
    path = _workbook(tmp_path / "deaths.xlsx", {"Data": rows, "Notes": [["about"], ["text"]]})
    table = load(path)
    assert list(table.df.columns) == ["Town", "ZIP", "Date", "Count"]
    assert len(table.df) == 3
    assert table.source.header_row == 4 and table.source.sheet == "Data" and table.source.sheets == ["Data", "Notes"]
    assert list(table.df["ZIP"]) == ["06232", "06401", "06001"]
    assert table.types == {"Town": "text", "ZIP": "text", "Date": "date", "Count": "integer"}
    assert list(table.df["Date"]) == ["2019-03-21", "2019-04-02", "2019-05-30"]
    what = " | ".join(s["what"] for s in table.source.skipped)
    assert "title row" in what and "footnote" in what
    assert any("only the first tab" in w for w in table.warnings)


def test_workbook_second_sheet_and_first_non_empty_default(tmp_path):
    path = _workbook(tmp_path / "two.xlsx", {"Empty": [], "People": [["name", "age"], ["A", 1], ["B", 2]]})
    table = load(path)
    assert table.source.sheet == "People" and len(table.df) == 2
    other = _workbook(tmp_path / "three.xlsx", {"A": [["x"], ["1"]], "B": [["y", "z"], ["2", "3"], ["4", "5"]]})
    assert load(other, sheet="B").df.shape == (2, 2)
    with pytest.raises(LoadError, match="no sheet named 'C'"):
        load(other, sheet="C")


def test_xls_workbook(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("S")
    for i, row in enumerate([["name", "zip"], ["Ann", "06810"], ["Bo", "06811"]]):
        for j, v in enumerate(row):
            ws.write(i, j, v)
    wb.save(str(tmp_path / "old.xls"))
    table = load(tmp_path / "old.xls")
    assert table.source.format == "xls" and list(table.df["zip"]) == ["06810", "06811"]


def test_duplicate_and_blank_headers_are_made_unique_and_reported():
    table = load(b"a,a,,b\n1,2,3,4\n5,6,7,8\n", name="d.csv")
    assert list(table.df.columns) == ["a", "a_2", "column_3", "b"]
    assert sum("header" in s["what"] for s in table.source.skipped) == 2


def test_empty_rows_and_columns_are_dropped_and_reported():
    table = load(b"a,,b\n1,,2\n,,\n3,,4\n", name="e.csv")
    assert list(table.df.columns) == ["a", "b"] and len(table.df) == 2
    what = " | ".join(s["what"] for s in table.source.skipped)
    assert "empty row" in what and "empty column" in what


@pytest.mark.parametrize("encoding, expect", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("cp1252", "windows-1252")])
def test_encodings(encoding, expect):
    text = "town,name\r\nNorwalk,José Muñoz\r\nDanbury,Zoë\r\n"
    table = load(text.encode(encoding), name="enc.csv")
    assert table.source.encoding == expect
    assert list(table.df["name"]) == ["José Muñoz", "Zoë"]


@pytest.mark.parametrize("delim, name", [("\t", "x.tsv"), (";", "x.csv"), ("|", "x.txt"), ("\t", "x.txt")])
def test_delimiter_is_sniffed(delim, name):
    data = delim.join(["id", "town", "zip"]) + "\n" + "\n".join(delim.join([str(i), "Avon", "06001"]) for i in range(5))
    table = load(data.encode(), name=name)
    assert table.source.delimiter == delim and table.df.shape == (5, 3)


def test_large_csv_uses_fast_path_with_the_same_result(tmp_path):
    rows = "\n".join(f"{i},06{i % 1000:03d},\"line\nbreak\",\"1,{i % 1000:03d}\"" for i in range(70_000))
    data = ("Report title\n\nid,zip,note,amount\n" + rows + "\n").encode()
    assert len(data) > 2_000_000
    table = load(data, name="big.csv")
    assert table.df.shape == (70_000, 4) and table.source.header_row == 3
    assert table.df["zip"].iloc[1] == "06001" and table.df["note"].iloc[0] == "line\nbreak"
    assert table.types["amount"] == "integer" and "amount" in table.formatted_numbers


def test_parquet_and_json(tmp_path):
    df = pd.DataFrame({"zip": ["06810", None], "n": [1, 2], "when": pd.to_datetime(["2020-01-02", "2021-03-04"])})
    df.to_parquet(tmp_path / "p.parquet")
    t = load(tmp_path / "p.parquet")
    assert t.source.format == "parquet" and list(t.df["n"]) == ["1", "2"] and t.df["zip"].isna().sum() == 1
    assert t.types["when"] == "date"
    records = [{"town": "Avon", "count": 3, "location": {"latitude": "41.8"}}, {"town": "Bethel", "count": 12}]
    t = load(json.dumps(records).encode(), name="api.json")
    assert t.source.format == "json" and t.df.shape == (2, 3) and t.types["count"] == "integer"


# --- bad input: one clear sentence, never a traceback ----------------------------------------

def _xlsx_bytes(tmp_path) -> bytes:
    return _workbook(tmp_path / "ok.xlsx", {"S": [["a", "b"], [1, 2]]}).read_bytes()


def test_bad_inputs(tmp_path):
    cases = {
        "empty": (b"", "x.csv", "empty"),
        "blank": (b"\n\n  \n", "x.csv", "empty"),
        "not a spreadsheet": (b"%PDF-1.4 binary", "report.pdf", "not a spreadsheet"),
        "binary as csv": (b"\x00\x01\x02\x03" * 100, "x.csv", "binary"),
        "truncated workbook": (_xlsx_bytes(tmp_path)[:300], "x.xlsx", "not a valid Excel workbook"),
        "garbage workbook": (b"this is not excel", "x.xlsx", "not a valid Excel workbook"),
        "undecodable": (b"a,b\n\x81\x8d,\x90\x9d\n", "x.csv", "could not be decoded"),
        "bad json": (b"{not json", "x.json", "not valid JSON"),
        "json not records": (b"[1, 2, 3]", "x.json", "array of records"),
        "bad parquet": (b"PAR1 broken", "x.parquet", "not a valid Parquet"),
    }
    for label, (data, name, message) in cases.items():
        with pytest.raises(LoadError) as info:
            load(data, name=name)
        assert message in str(info.value), label
        assert "\n" not in str(info.value)


def test_password_protected_workbook(tmp_path):
    msoffcrypto = pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO(_xlsx_bytes(tmp_path))
    out = io.BytesIO()
    OOXMLFile(plain).encrypt("secret", out)
    with pytest.raises(LoadError, match="password-protected"):
        load(out.getvalue(), name="locked.xlsx")


def test_decompression_bomb(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * 60_000_000)
    with pytest.raises(LimitError, match="decompression bomb"):
        load(buf.getvalue(), name="bomb.xlsx")


def test_size_and_row_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "MAX_FILE_MB", 1)
    with pytest.raises(LimitError, match="limit is 1 MB"):
        load(b"a\n" + b"1\n" * 600_000, name="big.csv")
    path = tmp_path / "big.csv"
    path.write_bytes(b"a\n" + b"1\n" * 600_000)
    with pytest.raises(LimitError):
        load(path)
    monkeypatch.setattr(settings, "MAX_FILE_MB", 200)
    monkeypatch.setattr(settings, "MAX_ROWS", 10)
    with pytest.raises(LimitError, match="limit is 10"):
        load(b"a\n" + b"1\n" * 11, name="rows.csv")


def test_missing_path():
    with pytest.raises(CtopenError, match="no file"):
        load("/nonexistent/file.csv")


# --- profile and CLI -------------------------------------------------------------------------

def test_profile_of_a_small_frame():
    t = load(b"zip,amount,when\n06810,\"1,200\",2020-01-05\n06810,300,2021-02-01\n06811,,2019-12-31\n", name="p.csv")
    d = profile_dict(t)
    cols = {c["name"]: c for c in d["columns"]}
    assert d["rows"] == 3
    assert cols["zip"]["distinct"] == 2 and cols["zip"]["top"][0] == {"value": "06810", "count": 2}
    assert cols["amount"]["non_empty"] == 2 and cols["amount"]["min"] == "300" and cols["amount"]["max"] == "1200"
    assert cols["amount"]["examples"] == ["1,200", "300"]
    assert (cols["when"]["min"], cols["when"]["max"]) == ("2019-12-31", "2021-02-01")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ctopen", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_cli_profile_json_keys_and_user_errors(tmp_path):
    p = _cli("profile", real_file(LICENSES), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert {"file", "format", "sheet", "sheets", "encoding", "delimiter", "header_row", "rows", "columns", "warnings"} <= set(d)
    assert {"name", "type", "non_empty", "distinct", "examples"} <= set(d["columns"][0])
    assert d["rows"] == 1000
    zip_col = next(c for c in d["columns"] if c["name"] == "zip")
    assert all(e.startswith("0") for e in zip_col["examples"])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    p = _cli("profile", empty, "--json")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
