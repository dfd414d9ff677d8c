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


# --- secrets pasted into the review are never written out ------------------------------------------

def test_a_secret_pasted_into_metadata_is_masked_in_output_bundle_report_and_saved_review(tmp_path, capsys, monkeypatch):
    from ctopen import review as reviews
    secret = "Sup3r-Secret-Portal-Pass"
    monkeypatch.setenv("SOCRATA_PASSWORD", secret)
    monkeypatch.setenv("CTOPEN_PSEUDONYM_KEY", "pseudonym-key-0123456789")
    src = tmp_path / "in.csv"
    pd.DataFrame({"Town": ["Avon"] * 6}).to_csv(src, index=False)
    recipe = {"version": 1, "steps": [], "roles": {"Town": "quasi"},
              "metadata": {"title": "Towns", "description": f"password is {secret} and key pseudonym-key-0123456789"}}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    code = main(["publish", str(src), "--recipe", str(tmp_path / "r.json"), "--bundle", str(tmp_path / "b.zip"), "--json"])
    out = capsys.readouterr()
    assert code == 0 and secret not in out.out + out.err
    with zipfile.ZipFile(tmp_path / "b.zip") as z:
        for name in z.namelist():
            text = z.read(name).decode()
            assert secret not in text and "pseudonym-key-0123456789" not in text, name
        assert "password is ***" in z.read("metadata-socrata.json").decode()
    assert main(["metadata", "socrata", str(tmp_path / "r.json")]) == 0
    assert secret not in capsys.readouterr().out
    saved = reviews.dumps(recipe, reviewer="Pat")
    assert secret not in saved and "password is ***" in saved
    assert secret not in Review(pd.read_csv(src, dtype=str), recipe).report()


def test_a_secret_in_the_data_itself_is_refused_not_silently_changed(tmp_path, capsys, monkeypatch):
    secret = "Sup3r-Secret-Portal-Pass"
    monkeypatch.setenv("SOCRATA_PASSWORD", secret)
    src = tmp_path / "in.csv"
    pd.DataFrame({"Town": ["Avon"] * 5 + [secret]}).to_csv(src, index=False)
    (tmp_path / "r.json").write_text(json.dumps({"version": 1, "steps": [], "roles": {"Town": "other"}, "decisions": [
        {"column": "Town", "role": "other", "by": "Pat", "reason": "office locations, not where people live"}]}))
    code = main(["publish", str(src), "--recipe", str(tmp_path / "r.json"), "--bundle", str(tmp_path / "b.zip"), "--json"])
    out = capsys.readouterr()
    assert code == 2 and "credential" in out.err and secret not in out.out + out.err
