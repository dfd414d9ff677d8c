"""Formulas and CSV: what is published never runs in a spreadsheet, and a carriage return never adds a row."""
import csv
import io
import json
import zipfile

import pandas as pd

from ctopen import checks
from ctopen.cli import main
from ctopen.review import Review


def _df():
    return pd.DataFrame({"Note": ["=HYPERLINK(\"http://x.example\",\"click\")", "-5", "+15", "plain", "@SUM(A1)",
                                  "\r=1+1"],
                         "=cmd|' /C calc'!A0": ["a", "b", "c", "d", "e", "f"],
                         "Amount": ["-12", "3", "4", "5", "6", "7"]}, dtype="str")


def test_formula_cells_and_headers_are_neutralised_in_what_is_published_and_numbers_stay_numbers():
    review = Review(_df(), {"version": 1, "steps": [], "roles": {c: "other" for c in _df().columns}})
    view = review.portal_view
    rows = view.rows
    assert list(rows.columns)[1] == "'=cmd|' /C calc'!A0" and view.formula_headers == ["=cmd|' /C calc'!A0"]
    assert rows["Note"].tolist() == ["'=HYPERLINK(\"http://x.example\",\"click\")", "-5", "+15", "plain",
                                     "'@SUM(A1)", "'\r=1+1"]
    assert view.formulas == {"Note": 3}
    assert rows["Amount"].tolist() == _df()["Amount"].tolist()      # negative numbers stay numbers
    assert review.release["Note"].tolist() == _df()["Note"].tolist()   # the figures are about the data itself
    html = review.report()
    assert "leading apostrophe: Note (3)" in html


def test_a_recorded_choice_keeps_a_column_as_it_is_and_the_report_says_so():
    recipe = {"version": 1, "steps": [], "roles": {c: "other" for c in _df().columns}, "keep_formulas": ["Note"]}
    review = Review(_df(), recipe)
    assert review.portal_view.rows["Note"].tolist() == _df()["Note"].tolist()
    assert "Kept as they are on purpose" in review.report() and "Note" in review.portal_view.formulas_kept


def test_check_flags_a_formula_header():
    found = [f for f in checks.check_formula_injection(_df(), None) if f.column == "=cmd|' /C calc'!A0"]
    assert found and found[0].fix["op"] == "rename"


def test_the_bundle_csv_quotes_carriage_returns_and_reads_back_the_same(tmp_path, capsys):
    src = tmp_path / "in.csv"
    _df().to_csv(src, index=False, lineterminator="\r\n")
    (tmp_path / "r.json").write_text(json.dumps({"version": 1, "steps": [],
                                                 "roles": {c: "other" for c in _df().columns}}))
    code = main(["publish", str(src), "--recipe", str(tmp_path / "r.json"), "--bundle", str(tmp_path / "b.zip"), "--json"])
    assert code == 0, capsys.readouterr()
    with zipfile.ZipFile(tmp_path / "b.zip") as z:
        data = z.read("data.csv").decode()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert len(rows) == 1 + len(_df())                  # no extra row from the carriage return
    assert rows[6][0] == "'\r=1+1" and rows[1][0].startswith("'=HYPERLINK")
    # apply --out writes the same neutralised CSV
    assert main(["apply", str(src), "--recipe", str(tmp_path / "r.json"), "--out", str(tmp_path / "o.csv")]) == 0
    back = list(csv.reader(io.StringIO((tmp_path / "o.csv").read_bytes().decode(), newline="")))
    assert back == rows
