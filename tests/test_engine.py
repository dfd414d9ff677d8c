"""The review on DuckDB (ctopen.engine.duck) gives what the in-memory path gives: the same table read from the file,
the same risk figures, the same release (summary and CSV bytes), the same recommendation; on real CT files and on
random tables and recipes (hypothesis); under a memory limit far below the table."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ctopen import engine, settings
from ctopen.cli import main
from ctopen.commands.apply import write as write_release
from ctopen.engine import duck
from ctopen.errors import CtopenError
from ctopen.load import load
from ctopen.publish.bundle import csv_bytes
from ctopen.review import Review
from ctopen.risk import assess
from ctopen.search import recommend
from tests.conftest import real_file

DATA = Path(__file__).parent / "data"
KEY = "a long secret key for the engine tests"


def pandas_apply(path: Path, recipe: dict, out: Path) -> dict:
    """What `ctopen apply FILE --out OUT.csv` does on pandas (the summary and the file)."""
    table = load(path)
    review = Review(table.df, recipe, source=table.source.to_dict())
    write_release(review.portal_view.rows, out)
    return {"file": str(path), "out": str(out), "rows_in": int(len(table.df)), **review.applied.to_dict()}


def assert_same_apply(path: Path, recipe: dict, tmp: Path) -> dict:
    a, b = tmp / "pandas.csv", tmp / "duckdb.csv"
    mem = pandas_apply(path, recipe, a)
    got = duck.apply_to(path, recipe, b)
    got.pop("_notes", None)
    mem["out"] = got["out"] = "OUT"
    assert json.dumps(got, default=str) == json.dumps(mem, default=str)
    assert b.read_bytes() == a.read_bytes()
    return got


# --- reading and risk on the real files -----------------------------------------------------------

REAL = [
    ("accidental_drug_deaths_2012_2018.csv", ["Age", "Sex", "Race", "ResidenceCity"], ["MannerofDeath"]),
    ("ct_pretrial_inmates_2018_admissions_derived.csv", ["LATEST ADMISSION DATE", "RACE", "GENDER"], ["OFFENSE"]),
    ("ct_real_estate_sales_2021_listyear.csv", ["Town", "Property Type", "Date Recorded"], ["Sale Amount"]),
    ("ct_state_licenses_credentials_ngch-56tr.csv", ["type", "credentialtype", "status"], ["city"]),
    ("ct_covid19_tests_cases_deaths_by_town.csv", ["Town", "Last update date"], ["Total deaths"]),
]


@pytest.mark.parametrize("name,qi,sens", REAL, ids=[r[0].split(".")[0] for r in REAL])
def test_real_files_read_and_assessed_alike(name, qi, sens):
    path = real_file(name)
    table = load(path)
    with duck.Workspace() as ws:
        src = duck.open_source(ws, path)
        assert src.columns == list(table.df.columns)
        assert src.rows == len(table.df)
        assert src.info.skipped == table.source.skipped
        got = duck.risk_report(src, qi, sens, k=5, population=3_605_944, ws=ws).to_dict()
    assert got == assess(table.df, qi, sens, k=5, population=3_605_944).to_dict()


def test_every_step_and_hierarchy_on_a_real_file(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.PSEUDONYM_KEY_ENV, KEY)
    path = real_file("accidental_drug_deaths_2012_2018.csv")
    recipe = {"version": 1, "steps": [
        {"op": "drop", "column": "ID"},
        {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 2},
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 1, "top_code": 90},
        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1, "state_column": "ResidenceState"},
        {"op": "generalize", "column": "InjuryCity", "hierarchy": "ct_town", "level": 2, "via": "planning_region"},
        {"op": "generalize", "column": "Race", "hierarchy": "category", "level": 1, "min_count": 30},
        {"op": "generalize", "column": "Sex", "hierarchy": "table", "level": 1,
         "table": {"Male": ["M", "*"], "Female": ["F", "*"]}},
        {"op": "generalize", "column": "DeathCityGeo", "hierarchy": "coordinates", "level": 3},
        {"op": "generalize", "column": "ResidenceCityGeo", "hierarchy": "coordinates", "level": 7},
        {"op": "generalize", "column": "COD", "hierarchy": "number", "level": 1, "width": 10},
        {"op": "suppress", "columns": ["Date", "Age", "Sex", "Race", "ResidenceCity"], "k": 5, "max_share": 0.04},
        {"op": "pseudonymize", "column": "DeathCity"},
        {"op": "rename", "column": "Sex", "to": "Gender"},
        {"op": "titlecase", "column": "DeathCounty"},
        {"op": "reorder", "columns": ["Gender", "Age"], "before": "Race"},
    ]}
    got = assert_same_apply(path, recipe, tmp_path)
    assert got["suppressed"] > 0 and got["log"][3]["outside_ct"] > 0      # the cap and the state column were used


def test_zip_and_suppress_by_the_roles_and_aggregate(tmp_path):
    path = DATA / "licenses_zip_300.csv"
    assert_same_apply(path, {"version": 1, "steps": [
        {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 1},
        {"op": "generalize", "column": "issuedate", "hierarchy": "date", "level": 3},
        {"op": "suppress", "k": 3, "max_share": 0.1}]}, tmp_path)       # over the Review's quasi-identifiers
    assert_same_apply(path, {"version": 1, "steps": [
        {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 2},
        {"op": "aggregate", "by": ["zip", "status"], "threshold": 5},
        {"op": "rename", "column": "zip", "to": "area"}]}, tmp_path)


def test_parquet_in_and_out(tmp_path):
    df = pd.DataFrame({"town": ["Hartford", "Hartford", None, "Kent", " "], "n": pd.array([1, 2, 3, None, 5], dtype="Int64"),
                       "flag": [True, False, None, True, True], "age": ["34", "35", "90", "91", "12"]})
    src = tmp_path / "in.parquet"
    df.to_parquet(src, index=False)
    table = load(src)
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "age", "hierarchy": "age", "level": 2}]}
    got = duck.apply_to(src, recipe, tmp_path / "out.parquet")
    release = Review(table.df, recipe).release
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert got["rows"] == len(release) and list(back.columns) == list(release.columns)
    for c in release.columns:
        assert [None if pd.isna(x) else x for x in back[c]] == [None if pd.isna(x) else x for x in release[c]]
    assert duck.risk_report(src, ["town", "n", "flag"]).to_dict() == assess(table.df, ["town", "n", "flag"]).to_dict()
    import pyarrow as pa
    import pyarrow.parquet as pq
    dup = tmp_path / "names.parquet"          # a repeated and a blank name: renamed as the loader renames them
    pq.write_table(pa.table([pa.array(["1", "2"]), pa.array(["x", "y"]), pa.array(["p", None])], names=["a", "a", ""]), dup)
    assert duck.risk_report(dup, ["a_2", "column_3"]).to_dict() == assess(load(dup).df, ["a_2", "column_3"]).to_dict()
    pd.DataFrame({"x": [1.5, 2.5]}).to_parquet(tmp_path / "float.parquet")
    with pytest.raises(CtopenError, match="pandas"):
        duck.risk_report(tmp_path / "float.parquet", ["x"])


# --- the loader's rules ------------------------------------------------------------------------------

MESSY = ("Accidental deaths 2012,,,,,\r\n"
         "Prepared by the office,,,,,\r\n"
         "Age,Sex,,Town,Town, \r\n"
         "34,M,,Hartford,a,\r\n"
         " ,F,, , b,\r\n"
         ",,,,,\r\n"
         "\"4\r\n5\",M,,Kent,c,\r\n"
         "34,\u00a0,,Hartford,d,\r\n"
         "60,F,,\"Kent, CT\",e,\r\n"
         "Source: the office's own extract, run 07/01/2024.,,,,\r\n"
         "Note: counts are preliminary.,,,,,\r\n")


def test_titles_blanks_duplicates_empty_rows_and_notes_read_as_the_loader_reads_them(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.encode("utf-8"))
    table = load(path)
    with duck.Workspace() as ws:
        src = duck.open_source(ws, path)
        assert src.columns == list(table.df.columns)
        assert src.info.skipped == table.source.skipped and src.info.header_row == table.source.header_row
        rows = duck._frame(ws.arrow(f"SELECT * EXCLUDE ({duck.ROW}) FROM {src.name} ORDER BY {duck.ROW}"), src.columns)
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), table.df.reset_index(drop=True), check_dtype=False)
    assert duck.risk_report(path, ["Age", "Sex", "Town"]).to_dict() == assess(table.df, ["Age", "Sex", "Town"]).to_dict()


def test_what_the_engine_cannot_read_is_refused_in_one_sentence(tmp_path):
    cp1252 = tmp_path / "old.csv"
    cp1252.write_bytes("Name,Town\r\nJos\xe9,Hartford\r\n".encode("cp1252"))
    with pytest.raises(CtopenError, match="UTF-8 .*--engine pandas|--engine pandas"):
        duck.risk_report(cp1252, ["Town"])
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(CtopenError, match="CSV and Parquet"):
        duck.risk_report(book, ["Town"])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(CtopenError, match="pandas"):
        duck.risk_report(ragged, ["a"])
    with pytest.raises(CtopenError, match="not in the table"):
        duck.risk_report(DATA / "licenses_zip_300.csv", ["nope"])
    with pytest.raises(CtopenError, match="memory limit"):
        duck.Workspace(memory_limit="lots")


# --- random tables and recipes (hypothesis) ------------------------------------------------------------

POOLS = {
    "age": ["34", "35", "36", "90", "91", " 44 ", "abc", "", " ", "1,200", "(5)", "12.5", "N/A", "0034", "\u0663\u0664"],
    "town": ["Hartford", "hartford, ct", "N Haven", "Kent", "Boston", "", "Stafford Spgs", "WARREN", "O'Brien", "École",
             "NULL", "new haven\u00a0"],
    "state": ["CT", "OH", "", "c.t."],
    "date": ["2013-03-21", "03/21/2013", "3/5/13", "41000", "12/31/9999", "", "abc", "2013-03", "9999-12-31",
             "0001-01-01", "2013-03-21T10:00:00-05:00"],
    "zip": ["06001", "6001", "06001-2101", "03601", "10001", "", "x", "\uff10\uff16\uff10\uff10\uff11", "NA"],
    "kind": ["A", "B", "C", "=1+2", "-5", "@x", "", "\u3000", "+1.5%", "-", "na"],
}
COLUMNS = list(POOLS)


def random_recipe(draw) -> dict:
    steps = []
    choices = [
        {"op": "generalize", "column": "age", "hierarchy": "age", "level": draw(st.integers(0, 4)), "top_code": 90},
        {"op": "generalize", "column": "age", "hierarchy": "number", "level": draw(st.integers(1, 5)), "width": 5},
        {"op": "generalize", "column": "town", "hierarchy": "ct_town", "level": draw(st.integers(0, 3)),
         "state_column": "state"},
        {"op": "generalize", "column": "date", "hierarchy": "date", "level": draw(st.integers(0, 5))},
        {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": draw(st.integers(0, 3))},
        {"op": "generalize", "column": "kind", "hierarchy": "category", "level": draw(st.integers(0, 2)), "min_count": 3},
        {"op": "generalize", "column": "kind", "hierarchy": "table", "level": 1,
         "table": {"A": ["AB"], "B": ["AB"], "=1+2": ["=formula"]}},
        {"op": "suppress", "columns": draw(st.lists(st.sampled_from(COLUMNS[:5]), min_size=1, max_size=3, unique=True)),
         "k": draw(st.integers(2, 4)), "max_share": draw(st.sampled_from([0.0, 0.05, 0.2, 1.0]))},
        {"op": "pseudonymize", "column": "zip"},
        {"op": "drop", "column": "state"},
    ]
    for i in draw(st.lists(st.integers(0, len(choices) - 1), min_size=1, max_size=5, unique=True)):
        steps.append(choices[i])
    # a drop of the state column must come after the town step that reads it
    steps.sort(key=lambda s: s["op"] == "drop")
    return {"version": 1, "steps": steps}


@st.composite
def cases(draw):
    n = draw(st.integers(1, 40))
    data = {c: [draw(st.sampled_from(POOLS[c])) for _ in range(n)] for c in COLUMNS}
    return pd.DataFrame(data), random_recipe(draw)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_random_tables_and_recipes_give_the_same_release_and_figures(tmp_path, monkeypatch, case):
    monkeypatch.setenv(settings.PSEUDONYM_KEY_ENV, KEY)
    df, recipe = case
    path = tmp_path / "random.csv"
    path.write_bytes(csv_bytes(df))
    try:
        load(path)
    except CtopenError:
        return                                   # a table the loader refuses (every cell blank): nothing to compare
    assert_same_apply(path, recipe, tmp_path)
    table = load(path)
    qi = [c for c in ("age", "town", "date") if c in table.df.columns]
    sens = [c for c in ("kind",) if c in table.df.columns]
    assert duck.risk_report(path, qi, sens, k=3).to_dict() == assess(table.df, qi, sens, k=3).to_dict()


@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(), k=st.integers(2, 4))
def test_recommend_on_the_engines_distinct_table_equals_recommend_on_the_records(tmp_path, case, k):
    df, _ = case
    path = tmp_path / "r.csv"
    path.write_bytes(csv_bytes(df))
    try:
        records = load(path).df
    except CtopenError:
        return
    specs = {"age": {"hierarchy": "age", "top_code": 90}, "town": {"hierarchy": "ct_town", "state_column": "state"}}
    qi = [c for c in ("age", "town", "zip") if c in records.columns]

    def outcome(frame, weights):
        try:
            out = recommend(frame, qi, k=k, hierarchies=specs, sensitive="kind", l=2, max_suppression=0.2,
                            counts=weights).to_dict()
        except CtopenError as exc:         # no solution, or a column the file lacks: the same sentence
            return str(exc)
        out.pop("seconds")
        return out
    table, counts = duck.distinct_table(path, qi + ["state"], sensitive="kind")
    assert int(counts.sum()) == len(records)
    assert outcome(table, counts) == outcome(records, None)


# --- the command line -----------------------------------------------------------------------------------

def _json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_commands_give_the_same_json_on_both_engines(tmp_path, capsys, monkeypatch):
    path = str(real_file("accidental_drug_deaths_2012_2018.csv"))
    risk = ["risk", path, "--qi", "Age", "Sex", "Race", "--sensitive", "MannerofDeath", "--population", "3605944", "--json"]
    assert _json(capsys, risk + ["--engine", "duckdb", "--memory-limit", "200MB"]) == _json(capsys, risk + ["--engine", "pandas"])
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2},
        {"op": "suppress", "columns": ["Age", "Sex", "Race"], "k": 5}]}))
    a = _json(capsys, ["apply", path, "--recipe", str(recipe), "--out", str(tmp_path / "a.csv"), "--json", "--engine", "pandas"])
    b = _json(capsys, ["apply", path, "--recipe", str(recipe), "--out", str(tmp_path / "b.csv"), "--json", "--engine", "duckdb",
                       "--temp-dir", str(tmp_path / "work")])
    assert {**a, "out": ""} == {**b, "out": ""}
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert not any((tmp_path / "work").iterdir())          # the engine's work files are gone
    rec = ["recommend", path, "--qi", "Age", "Sex", "Race", "--k", "5", "--json"]
    a, b = _json(capsys, rec + ["--engine", "pandas"]), _json(capsys, rec + ["--engine", "duckdb"])
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    # the automatic choice: a file above ENGINE_AUTO_MB goes to DuckDB
    monkeypatch.setattr(settings, "ENGINE_AUTO_MB", 0)
    assert engine.choose(path) == "duckdb" and engine.choose(path, "pandas") == "pandas"
    monkeypatch.setattr(settings, "ENGINE_AUTO_MB", 10_000)
    assert engine.choose(path) == "pandas"
    assert main(["apply", path, "--recipe", str(recipe), "--out", str(tmp_path / "x.xlsx"), "--engine", "duckdb"]) == 2
    assert ".parquet" in capsys.readouterr().err


def test_a_table_far_larger_than_the_memory_limit(tmp_path):
    """300,000 records x 6 columns (about 90 MB as pandas holds them) under a 24 MB DuckDB limit."""
    rng = np.random.default_rng(7)
    n = 300_000
    df = pd.DataFrame({
        "id": np.arange(n).astype(str),
        "age": rng.integers(0, 100, n).astype(str),
        "sex": rng.choice(["M", "F", "X"], n),
        "zip": rng.choice([f"06{i:03d}" for i in range(0, 900, 7)], n),
        "date": pd.to_datetime(rng.integers(0, 20_000, n), unit="D", origin="1990-01-01").strftime("%m/%d/%Y"),
        "dx": rng.choice(list("ABCDEFGHIJ"), n),
    })
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    table = load(path)
    qi, sens = ["age", "sex", "zip"], ["dx"]
    got = duck.risk_report(path, qi, sens, k=5, memory_limit="24MB", combinations=True)
    assert got.to_dict() == assess(table.df, qi, sens, k=5).to_dict()
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "id"},
                                      {"op": "generalize", "column": "age", "hierarchy": "age", "level": 2},
                                      {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 1},
                                      {"op": "generalize", "column": "date", "hierarchy": "date", "level": 3},
                                      {"op": "suppress", "columns": ["age", "sex", "zip", "date"], "k": 5}]}
    out = duck.apply_to(path, recipe, tmp_path / "big.parquet", memory_limit="24MB")
    release = Review(table.df, recipe).release
    assert out["rows"] == len(release)
    back = pd.read_parquet(tmp_path / "big.parquet")
    assert back["date"].value_counts().to_dict() == release["date"].value_counts().to_dict()


def test_a_suppress_step_without_columns_on_a_file_beyond_detection_is_refused(tmp_path, monkeypatch):
    path = DATA / "licenses_zip_300.csv"
    recipe = {"version": 1, "steps": [{"op": "suppress", "k": 3}]}
    monkeypatch.setattr(settings, "ENGINE_DETECT_ROWS", 100)
    with pytest.raises(CtopenError, match="names no columns"):
        duck.apply_to(path, recipe, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    named = {"version": 1, "steps": [{"op": "suppress", "k": 3, "columns": ["city", "zip"]}]}
    assert_same_apply(path, named, tmp_path)


EDGE = {
    "empty.csv": b"",
    "blank.csv": b" , \r\n , \r\n",
    "header_only.csv": b"a,b,c\r\n",
    "one_column.csv": b"a\r\n1\r\n2\r\n\r\n3\r\n",
    "tabs.tsv": b"a\tb\r\n1\t2\r\n",
    "semicolons.csv": b"a;b;c\n1;2;3\n4;5;6\n",
    "quotes.csv": b'a,b\r\n"x,y","z""q"\r\n"multi\nline",2\r\n',
    "headers.csv": b"a,a,,\n1,2,3,\n",
    "long_cell.csv": b"a,b\n" + b"x" * (settings.MAX_CELL_CHARS + 1) + b",1\n",
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_small_and_odd_files_give_the_same_outcome(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(EDGE[name])

    def outcome(run):
        try:
            return run()
        except CtopenError as exc:      # the same sentence (where a cell lies is said as the large-file reader says it)
            return re.sub(r"\((line \d+|column \w+, row \d+)\)", "(where)", str(exc))
    mem = outcome(lambda: (t := load(path), assess(t.df, list(t.df.columns)[:1]).to_dict())[1])
    got = outcome(lambda: duck.risk_report(path, [c for c in (load(path).df.columns if isinstance(mem, dict) else [])][:1])
                  .to_dict())
    assert got == mem
    if isinstance(mem, dict):
        first = list(load(path).df.columns)[0]
        assert_same_apply(path, {"version": 1, "steps": [{"op": "generalize", "column": first,
                                                          "hierarchy": "category", "level": 1, "min_count": 2}]},
                          tmp_path)


def test_l_diversity_and_disclosing_groups_on_both_paths(tmp_path):
    """Classes all of two records or more (the entropy summed in ctopen.risk's order) and with singletons (the
    shortcut); the groups where everyone shares the sensitive value are counted alike."""
    rows = ["q,s"] + [f"a,{v}" for v in "xxyzz"] + [f"b,{v}" for v in "xxxxx"] + ["c,", "c,", "c,w"] + [f"d,{v}" for v in "uvwuvw"]
    path = tmp_path / "l.csv"
    path.write_text("\n".join(rows) + "\n")
    for extra in ("", "e,x\n"):
        path.write_text("\n".join(rows) + "\n" + extra)
        table = load(path)
        mem = assess(table.df, ["q"], ["s"], k=3)
        got = duck.risk_report(path, ["q"], ["s"], k=3)
        assert got.to_dict() == mem.to_dict()
        assert got.l_diversity["s"] == mem.l_diversity["s"]            # disclosing groups and records too


@pytest.mark.parametrize("data", [
    # found by fuzzing: the loader's parser and DuckDB's split these otherwise (title rows skipped by lines, not rows)
    b'h1,h2,h3\r\n""\n",x y,""1\r\n,""b1 ,\n\r\n""a,""","\r\n1\n\r\n,bx y,,"""";\r\nx y\ta\t,\r\nx y,1\r\n',
    b'h1,h2,h3\r\n\nb\t,",x yx y\r\na""ax y,\n,b\r\na;\r\n\tx y\n,,\n,\t\r\na\r\n,;ax y,\r\n',
    b'h1,h2,h3\n\n,,\n"","""a","\r\n\t"\n"","",",\n"\n',
])
def test_a_file_duckdb_would_read_otherwise_is_refused_never_read_differently(data, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    table = load(path)
    try:
        got = duck.risk_report(path, list(table.df.columns)[:1])
    except CtopenError as exc:
        assert "--engine pandas" in str(exc)
        return
    assert got.to_dict() == assess(table.df, list(table.df.columns)[:1]).to_dict()


def test_a_file_with_more_rows_than_pandas_loads_goes_to_duckdb(tmp_path, monkeypatch):
    path = tmp_path / "narrow.csv"
    path.write_bytes(b"a\n" + b"1\n" * 600_000)                     # 1.2 MB, 600,000 rows
    monkeypatch.setattr(settings, "MAX_ROWS", 500_000)
    assert engine.choose(path) == "duckdb"
    monkeypatch.setattr(settings, "MAX_ROWS", 5_000_000)
    assert engine.choose(path) == "pandas"


# --- second review (R20): what DuckDB reads otherwise than the loader ---------------------------------------

def test_columns_differing_only_by_case_are_refused_never_read_one_for_the_other(tmp_path, capsys):
    # DuckDB matches names without regard to case, even quoted: the risk over "A" was computed over "a" (k 1, 3
    # classes, where "A" has 2 classes) and a pseudonymized "Town" could leave "TOWN" as it is
    path = tmp_path / "case.csv"
    path.write_bytes(b"a,A,Town,TOWN\n1,x,Hartford,Kent\n1,y,Hartford,Kent\n2,x,Kent,Kent\n3,x,Kent,Kent\n")
    with pytest.raises(CtopenError, match="differ only by case"):
        duck.risk_report(path, ["A"])
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "drop", "column": "Town"}]}))
    for argv in (["risk", str(path), "--qi", "A", "--engine", "duckdb"],
                 ["apply", str(path), "--recipe", str(recipe), "--out", str(tmp_path / "o.csv"), "--engine", "duckdb"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "differ only by case" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()
    odd = tmp_path / "own.csv"                      # the engine's own names, in another case
    odd.write_bytes(b"__CTOPEN_ROW,b\n1,2\n")
    with pytest.raises(CtopenError, match="keeps for its own"):
        duck.risk_report(odd, ["b"])


PAD = "h1,h2,h3\n" + "".join(f"{i},p{i % 9},q\n" for i in range(250))     # past the rows compared with the loader


@pytest.mark.parametrize("tail", ['"x" ,2,3\n', ' "x",2,3\n', 'x,2, ""\n', 'x,2, """y"""\n', 'x\t2\t"3" \n'])
def test_spaces_beside_quotes_past_the_first_rows_are_refused(tail, tmp_path):
    # DuckDB drops the spaces between a delimiter and a quote (` "x"` is x to it, ` "x"` to the loader): past the
    # rows compared with the loader, such a record was counted with the x's
    path = tmp_path / "spaced.csv"
    body = PAD.replace(",", "\t") if "\t" in tail else PAD
    path.write_bytes((body + tail).encode())
    load(path)                                   # the loader reads it
    with pytest.raises(CtopenError, match=r"Line 252 .*space beside a quote"):
        duck.risk_report(path, ["h1"])


def test_quoted_text_with_doubled_quotes_is_still_read(tmp_path):
    path = tmp_path / "speech.csv"
    path.write_bytes((PAD + '"He said, ""no"" twice",2,3\n"a "" b",x,y\n').encode())
    table = load(path)
    assert duck.risk_report(path, ["h1", "h2"]).to_dict() == assess(table.df, ["h1", "h2"]).to_dict()
    monkey = duck.SCAN_BYTES
    try:                                         # a pattern cut by the scan's chunks is still found
        duck.SCAN_BYTES = 7
        spaced = tmp_path / "cut.csv"
        spaced.write_bytes(b'a,b\n1,2\nxx,"y"      \n3,4\n')
        with pytest.raises(CtopenError, match="Line 3 "):
            duck._spaced_quotes(spaced, ",")
    finally:
        duck.SCAN_BYTES = monkey


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.sampled_from(['a', ' ', '"', ',', '\n', '\r\n', '\r', 'x y', '""', ' "', '" ', '\t', '1']),
                     min_size=1, max_size=25))
def test_odd_quoting_past_the_first_rows_is_read_as_the_loader_reads_it_or_refused(tmp_path, body):
    path = tmp_path / "odd.csv"
    path.write_bytes((PAD + "".join(body)).encode())
    try:
        table = load(path)
    except CtopenError:
        return
    try:
        with duck.Workspace() as ws:
            src = duck.open_source(ws, path)
            rows = duck._frame(ws.arrow(f"SELECT * EXCLUDE ({duck.ROW}) FROM {src.name} ORDER BY {duck.ROW}"),
                               src.columns)
    except CtopenError as exc:
        assert "--engine pandas" in str(exc)
        return
    assert src.columns == list(table.df.columns)
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), table.df.reset_index(drop=True), check_dtype=False)


def test_an_unusable_temp_dir_or_memory_limit_is_one_sentence(tmp_path, capsys):
    path = DATA / "licenses_zip_300.csv"
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for extra, said in ((["--temp-dir", str(blocker / "sub")], "--temp-dir"), (["--temp-dir", str(blocker)], "--temp-dir"),
                        (["--memory-limit", "0"], "not a size"), (["--memory-limit", "0.0GB"], "not a size")):
        assert main(["risk", str(path), "--qi", "zip", "--engine", "duckdb", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_relative_path_is_the_file_the_loader_reads(tmp_path, monkeypatch):
    # DuckDB reads "~/x.csv" in the home folder; the loader reads the folder named "~" here
    (tmp_path / "~").mkdir()
    (tmp_path / "~" / "x.csv").write_bytes(b"a,b\n1,2\n1,3\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "x.csv").write_bytes(b"a,b\n9,9\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    got = duck.risk_report(Path("~/x.csv"), ["a"])
    assert got.to_dict() == assess(load(Path("~/x.csv")).df, ["a"]).to_dict() and got.rows == 2


def test_signed_numbers_are_not_formulas_and_formulas_are_neutralised_alike(tmp_path):
    from ctopen.checks import PLAIN_NUMBER, is_formula
    values = ["-12", "+3.50", "-0.", "-1e5", "-", "--", "-x", "=1+2", "+A1", "-12 ", " -12", "-١٢", "-1,200", "@sum", "-+1"]
    path = tmp_path / "signs.csv"
    path.write_bytes(csv_bytes(pd.DataFrame({"amount": values, "n": [str(i) for i in range(len(values))]})))
    assert_same_apply(path, {"version": 1, "steps": [{"op": "drop", "column": "n"}]}, tmp_path)
    for v in ("-12", "+3.50", "-0."):          # what the engine's filter leaves in DuckDB is never a formula
        assert re.fullmatch(r"[-+][0-9]+(\.[0-9]*)?", v) and PLAIN_NUMBER.match(v) and not is_formula(v)


def test_empty_lines_are_read_as_the_loader_reads_them_or_refused_with_notes(tmp_path):
    rows = "".join(f"{i},x,y,z\n" for i in range(30))
    for name, text in (("end", "a,b,c,d\n" + rows + "\n\n"), ("head", "a,b,c,d\n\n" + rows), ("crlf", ("a,b,c,d\n" + rows + "\n").replace("\n", "\r\n"))):
        path = tmp_path / f"{name}.csv"                 # a blank line used to refuse the file (DuckDB skips it)
        path.write_bytes(text.encode())
        assert duck.risk_report(path, ["a", "b"]).to_dict() == assess(load(path).df, ["a", "b"]).to_dict()
    # the loader's walk over notes counts empty lines (at most 20 rows) and DuckDB's reader skips them: here the
    # loader keeps 2 of the 12 notes as records and DuckDB took all 12 for notes
    notes = "".join(f"Note {i}: see the text.,,,\n\n" for i in range(12))
    path = tmp_path / "notes.csv"
    path.write_bytes(("a,b,c,d\n" + rows + notes).encode())
    assert len(load(path).df) == 32
    with pytest.raises(CtopenError, match="empty lines"):
        duck.risk_report(path, ["a"])
    path.write_bytes(("a,b,c,d\n" + rows + notes.replace("\n\n", "\n") + "\n\n").encode())    # no empty line among
    assert duck.risk_report(path, ["a"]).to_dict() == assess(load(path).df, ["a"]).to_dict()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_the_scan_finds_spaced_quotes_and_empty_lines_across_its_chunks(size, tmp_path, monkeypatch):
    monkeypatch.setattr(duck, "SCAN_BYTES", size)
    for i, (text, blank) in enumerate([(b"a,b\n1,2\n", False), (b"a,b\n1,2\n\n\n", False), (b"a,b\n\n1,2\n", True),
                                       (b"a,b\r\n1,2\r\n\r\n", False), (b"a,b\r\n\r\n1,2\r\n", True), (b"a,b\r1,2\r\r3,4", True),
                                       (b"a,b\n1,2\n\n\n\n\n\nx,y\n", True), (b"a,b\n1,2\n\r\n3,4", True)]):
        (tmp_path / f"{i}.csv").write_bytes(text)
        assert duck._spaced_quotes(tmp_path / f"{i}.csv", ",") is blank, text
    for i, (text, line) in enumerate([(b'a,b\n1,2\nxx,"y"      \n3,4\n', 3), (b'a,b\n1,2\nxx,   "y"\n', 3),
                                      (b'a,b\r\n1,2\r\n3,4\r\n5,6 "\r\n7, "8"', 5), (b'a,b\n\n\n "x",1\n', 4)]):
        (tmp_path / f"q{i}.csv").write_bytes(text)
        with pytest.raises(CtopenError, match=f"Line {line} "):
            duck._spaced_quotes(tmp_path / f"q{i}.csv", ",")
    (tmp_path / "ok.csv").write_bytes(b'a,b\n1,2\nxx, ""b"" c\n')
    assert duck._spaced_quotes(tmp_path / "ok.csv", ",") is False


def test_an_output_that_cannot_be_written_is_named_as_given(tmp_path, capsys):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "drop", "column": "zip"}]}))
    for out in (tmp_path / "nope" / "x.parquet", tmp_path / "nope" / "x.csv"):
        assert main(["apply", str(DATA / "licenses_zip_300.csv"), "--recipe", str(recipe), "--out", str(out),
                     "--engine", "duckdb"]) == 2
        err = capsys.readouterr().err.strip()
        # the output is named (not its .part file), and the temp dir is not blamed
        assert err.startswith(f"error: The output {out} could not be written") and "--temp-dir" not in err
        assert len(err.splitlines()) == 1
