"""apply(): each step, the log, determinism, pseudonyms, recipe validation, the apply CLI."""
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ctopen import recipe as recipes
from ctopen import transform
from ctopen.cli import main
from ctopen.errors import ConfigError, RecipeError
from ctopen.load import load
from tests.conftest import DRUG, LICENSES, real_file

KEY = b"a test key that is long enough"


def frame(**cols):
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in cols.items()})


@pytest.fixture(scope="module")
def drug():
    return load(real_file(DRUG)).df


# --- steps and log ---------------------------------------------------------------------------

def test_a_hand_written_recipe_with_only_version_and_steps_works():
    df = frame(name=["Ann", "Bob"], zip=["06001", "06390"], age=["34", "91"])
    recipe = {"version": 1, "steps": [
        {"op": "drop", "column": "name"},
        {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 1},
        {"op": "generalize", "column": "age", "hierarchy": "age", "level": 2, "top_code": 90},
    ]}
    out = transform.apply(df, recipe)
    assert out.df.to_dict("list") == {"zip": ["060", "000"], "age": ["30-39", "90+"]}
    assert [e["op"] for e in out.log] == ["drop", "generalize", "generalize"]
    assert [e["values_changed"] for e in out.log] == [2, 2, 2]
    assert all(e["records_removed"] == 0 and e["message"] for e in out.log)
    assert out.suppressed == 0
    assert df.columns.tolist() == ["name", "zip", "age"]  # the input is not changed


def test_generalize_log_reports_unknown_values():
    df = frame(town=["Avon", "BRONX", "Avon", None])
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "generalize", "column": "town", "hierarchy": "ct_town", "level": 1}]})
    entry = out.log[0]
    assert out.df["town"].tolist()[:3] == ["Hartford", "*", "Hartford"]
    assert entry["unknown"] == ["BRONX"] and entry["unknown_count"] == 1
    assert "'BRONX'" in entry["message"] and "1 records" in entry["message"]
    assert entry["values_changed"] == 3


def test_state_column_keeps_out_of_state_namesakes_out_of_connecticut():
    df = frame(city=["WARREN", "WARREN", "AVON"], state=["CT", "OH", None])
    step = {"op": "generalize", "column": "city", "hierarchy": "ct_town", "level": 1, "state_column": "state"}
    out = transform.apply(df, {"version": 1, "steps": [step]})
    assert out.df["city"].tolist() == ["Litchfield", "*", "Hartford"]
    assert out.log[0]["outside_ct"] == 1 and "not Connecticut" in out.log[0]["message"]


def test_suppress_removes_small_classes_and_reaches_k():
    df = frame(sex=list("MMMFFF" + "FM" + "F"), race=list("WWWWWW" + "BB" + "A"))
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "suppress", "k": 3, "columns": ["sex", "race"], "max_share": 0.5}]})
    e = out.log[0]
    assert out.suppressed == 3 == e["records_removed"] and e["k_reached"] is True
    assert e["classes_removed"] == 3 and e["records_at_risk"] == 3
    assert out.df.groupby(["sex", "race"]).size().min() >= 3
    assert "every remaining group has at least 3" in e["message"]


def test_suppress_cap_stops_it_and_says_k_was_not_reached():
    df = frame(a=list("xxxxxxxxxx" + "yy" + "z"))
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "suppress", "k": 5, "columns": ["a"], "max_share": 0.1}]})  # cap: 1 of 13
    e = out.log[0]
    assert e["cap"] == 1 and e["records_removed"] == 1 and e["k_reached"] is False
    assert out.df["a"].tolist() == list("xxxxxxxxxx" + "yy")   # the smallest group went first
    assert "NOT reached" in e["message"]


def test_suppress_treats_missing_as_a_value_and_ignores_dropped_columns():
    df = frame(a=["1", None, None, None, "1", "1"], b=list("pqrstu"))
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "drop", "column": "b"},
        {"op": "suppress", "k": 3, "columns": ["a", "b"], "max_share": 1}]})
    e = out.log[1]
    assert e["records_removed"] == 0 and e["k_reached"] and e["ignored"] == ["b"]
    assert "dropped earlier" in e["message"]


def test_suppress_without_columns_uses_the_recipes_quasi_roles():
    df = frame(a=list("xxxy"), b=list("1234"))
    out = transform.apply(df, {"version": 1, "roles": {"a": "quasi", "b": "sensitive"},
                               "steps": [{"op": "suppress", "k": 2, "max_share": 1}]})
    assert out.df["a"].tolist() == list("xxx") and out.log[0]["columns"] == ["a"]


def test_apply_is_deterministic(drug):
    recipe = {"version": 1, "steps": [
        {"op": "drop", "column": "ID"},
        {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 3},
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90},
        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1},
        {"op": "suppress", "k": 5, "columns": ["Date", "Age", "Sex", "Race", "ResidenceCity"], "max_share": 0.2},
        {"op": "pseudonymize", "column": "DeathCity"},
    ]}
    a = transform.apply(drug, recipe, key=KEY)
    b = transform.apply(drug.sample(frac=1, random_state=1).sort_index(), recipe, key=KEY)
    assert a.df.equals(b.df) and a.log == b.log
    assert a.suppressed == a.log[4]["records_removed"] > 0
    assert json.loads(json.dumps(a.to_dict()))["suppressed"] == a.suppressed


# --- the property: suppress says "k reached" -> the release has k >= K ----------------------

def _k_min(df, qi, k):
    try:
        from ctopen.risk import assess
    except ModuleNotFoundError:
        return int(df.groupby(qi, dropna=False).size().min()) if len(df) else 0
    return assess(df, qi, k=k, combinations=False).k_min


@hsettings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["M", "F", None]), st.sampled_from(["W", "B", "A", "H"]),
                               st.integers(0, 6).map(str)), min_size=1, max_size=120),
       k=st.integers(2, 6), share=st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0]))
def test_when_suppress_reports_k_reached_the_release_is_k_anonymous(rows, k, share):
    df = pd.DataFrame(rows, columns=["sex", "race", "age"]).astype("str")
    qi = ["sex", "race", "age"]
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "generalize", "column": "age", "hierarchy": "number", "width": 2, "level": 1},
        {"op": "suppress", "k": k, "columns": qi, "max_share": share}]})
    e = out.log[-1]
    assert e["records_removed"] <= e["cap"] == int(np.floor(share * len(df) + 1e-9))
    assert len(out.df) == len(df) - out.suppressed
    if e["k_reached"]:
        assert len(out.df) == 0 or _k_min(out.df, qi, k) >= k
    else:
        assert _k_min(out.df, qi, k) < k


# --- pseudonyms --------------------------------------------------------------------------------

def test_pseudonyms_are_keyed_short_and_stable_across_files():
    march = frame(case=["14-0273", "16-0165", None, "14-0273"])
    april = frame(case=["16-0165", "17-0001", " 14-0273 "])
    step = {"version": 1, "steps": [{"op": "pseudonymize", "column": "case"}]}
    a = transform.apply(march, step, key=KEY).df["case"]
    b = transform.apply(april, step, key=KEY).df["case"]
    assert a[0] == a[3] == b[2] and a[1] == b[0] and a[0] != a[1]
    assert pd.isna(a[2])
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in a.dropna())
    other = transform.apply(march, step, key=b"another key, just as long").df["case"]
    assert other[0] != a[0]
    import hashlib
    import hmac
    assert a[0] == hmac.new(KEY, b"14-0273", hashlib.sha256).hexdigest()[:16]


def test_pseudonymize_reads_the_key_from_the_environment(monkeypatch):
    df = frame(id=["x"])
    step = {"version": 1, "steps": [{"op": "pseudonymize", "column": "id"}]}
    monkeypatch.setenv("CTOPEN_PSEUDONYM_KEY", KEY.decode())
    assert transform.apply(df, step).df["id"][0] == transform.apply(df, step, key=KEY).df["id"][0]
    monkeypatch.delenv("CTOPEN_PSEUDONYM_KEY")
    with pytest.raises(ConfigError, match="CTOPEN_PSEUDONYM_KEY"):
        transform.apply(df, step)


def test_a_short_key_is_refused():
    """A key shorter than 16 characters can be found by trying them all, and every ID turned back (issue 14's
    adversarial review recovered 200 names from a one-byte key)."""
    from ctopen.errors import ConfigError
    with pytest.raises(ConfigError, match="shorter than 16"):
        transform.apply(frame(id=["x"]), {"version": 1, "steps": [{"op": "pseudonymize", "column": "id"}]}, key=b"k")


# --- recipe validation -------------------------------------------------------------------------

def test_missing_columns_are_named():
    df = frame(Age=["1"])
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Name"},
                                      {"op": "suppress", "k": 2, "columns": ["Age", "Sex"]}]}
    with pytest.raises(RecipeError) as exc:
        transform.apply(df, recipe)
    assert "“Name”, “Sex”" in str(exc.value) and "does not have" in str(exc.value)


def test_column_used_after_it_was_dropped_is_an_error():
    df = frame(Age=["1"])
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Age"},
                                      {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 1}]}
    with pytest.raises(RecipeError, match="after dropping it: “Age”"):
        transform.apply(df, recipe)


@pytest.mark.parametrize("recipe, message", [
    ({"steps": []}, "lacks 'version'"),
    ({"version": 1}, "lacks 'steps'"),
    ({"version": 2, "steps": []}, "version 2"),
    ({"version": 1, "steps": [{"op": "shuffle"}]}, "unknown op 'shuffle'"),
    ({"version": 1, "steps": [{"op": "generalize", "column": "a", "hierarchy": "age", "level": 9}]}, "Level 9"),
    ({"version": 1, "steps": [{"op": "generalize", "column": "a", "hierarchy": "shoe", "level": 1}]}, "unknown hierarchy"),
    ({"version": 1, "steps": [{"op": "suppress", "k": 0}]}, "k"),
    ({"version": 1, "steps": [{"op": "aggregate", "by": ["a"]}, {"op": "drop", "column": "a"}]}, "must be the last"),
    ([], "JSON object"),
])
def test_malformed_recipes_are_explained(recipe, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        recipes.validate(recipe)


def test_recipe_save_and_load_round_trip(tmp_path):
    recipe = {"version": 1, "source": {"file": "x.csv"}, "roles": {"a": "quasi"}, "metadata": {"title": "T"},
              "steps": [{"op": "generalize", "column": "a", "hierarchy": "date", "level": "*"}]}
    path = recipes.save(recipe, tmp_path / "r.json")
    assert recipes.load(path) == recipe
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        recipes.load(tmp_path / "bad.json")


@pytest.mark.parametrize("step, words", [
    ({"op": "drop", "column": "ID"}, "Remove the column “ID”"),
    ({"op": "generalize", "column": "Date", "hierarchy": "date", "level": 1}, "Generalize “Date” to month"),
    ({"op": "generalize", "column": "Age", "hierarchy": "age", "level": 0, "top_code": 90}, "as is (top-coded)"),
    ({"op": "generalize", "column": "Age", "hierarchy": "age", "level": 4}, "Blank out every value"),
    ({"op": "suppress", "k": 5, "columns": ["Age", "Sex"], "max_share": 0.01},
     "groups of fewer than 5 over Age, Sex (at most 1.0%"),
    ({"op": "pseudonymize", "column": "ID"}, "anonymous ID"),
    ({"op": "aggregate", "by": ["Town", "Year"]}, "counts by Town, Year"),
])
def test_describe_step_in_words(step, words):
    assert words in recipes.describe_step(step)


def test_aggregate_is_dispatched_to_the_aggregate_module():
    pytest.importorskip("ctopen.aggregate")
    df = frame(town=["A"] * 7 + ["B"] * 2, sex=list("MMMMFFFMF"))
    out = transform.apply(df, {"version": 1, "steps": [{"op": "aggregate", "by": ["town", "sex"]}]})
    assert out.log[-1]["op"] == "aggregate" and "count" in out.df.columns
    assert out.df["count"].iloc[-1] == "9" or out.df["count"].astype("Int64").iloc[-1] == 9
    assert "counts by town, sex" in out.log[-1]["message"]


# --- suggesting a ladder -----------------------------------------------------------------------

def test_suggest_hierarchy_on_real_columns(drug):
    lic = load(real_file(LICENSES)).df
    assert transform.suggest_hierarchy("Date", drug["Date"]) == ("date", {})
    assert transform.suggest_hierarchy("Age", drug["Age"]) == ("age", {"top_code": 90})
    assert transform.suggest_hierarchy("ResidenceCity", drug["ResidenceCity"]) == ("ct_town", {"via": "county"})
    assert transform.suggest_hierarchy("ResidenceCityGeo", drug["ResidenceCityGeo"]) == ("coordinates", {})
    assert transform.suggest_hierarchy("Sex", drug["Sex"]) == ("category", {"min_count": 5})
    assert transform.suggest_hierarchy("zip", lic["zip"]) == ("zip", {})
    assert transform.suggest_hierarchy("issuedate", lic["issuedate"]) == ("date", {})
    assert transform.suggest_hierarchy("Agency", frame(a=["DPH", "DSS"])["a"]) == ("category", {"min_count": 5})
    assert transform.suggest_hierarchy("x", frame(a=[str(i * 37) for i in range(100)])["a"]) == ("number", {"width": 500})
    assert transform.suggest_hierarchy("x", frame(a=[None, None])["a"]) is None


# --- the CLI ------------------------------------------------------------------------------------

def test_apply_cli_writes_csv_xlsx_and_log(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.csv"
    src.write_text("name,zip,age\nAnn,06001,34\nBob,06390,91\n")
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [
        {"op": "pseudonymize", "column": "name"}, {"op": "generalize", "column": "age", "hierarchy": "age",
                                                   "level": 0, "top_code": 90}]}))
    monkeypatch.setenv("CTOPEN_PSEUDONYM_KEY", KEY.decode())
    assert main(["apply", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "o.csv"),
                 "--log", str(tmp_path / "log.json")]) == 0
    out = pd.read_csv(tmp_path / "o.csv", dtype=str)
    assert out["zip"].tolist() == ["06001", "06390"] and out["age"].tolist() == ["34", "90+"]
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["rows"] == 2 and [e["op"] for e in log["log"]] == ["pseudonymize", "generalize"]
    assert "2 rows out" in capsys.readouterr().out
    assert main(["apply", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "o.xlsx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2
    from openpyxl import load_workbook
    ws = load_workbook(tmp_path / "o.xlsx").active
    assert [c.value for c in ws[2]][1:] == ["06001", "34"] and ws["B2"].data_type == "s"
    assert [c.value for c in ws[1]] == ["name", "zip", "age"]


def test_apply_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CTOPEN_PSEUDONYM_KEY", raising=False)
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "drop", "column": "Name"}]}))
    assert main(["apply", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "“Name”" in err
    assert main(["apply", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "o.txt")]) == 2
    assert ".csv or .xlsx" in capsys.readouterr().err
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "pseudonymize", "column": "a"}]}))
    assert main(["apply", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "o.csv")]) == 2
    assert "CTOPEN_PSEUDONYM_KEY" in capsys.readouterr().err


# --- dates that crashed every command (issue 16) ---------------------------------------------

DATES_CSV = ("ID,Start,End,Stamp,Age\n"
             "1,03/21/2013,12/31/9999,2013-03-21T10:00:00Z,34\n"
             "2,04/02/2014,12/31/9999,2013-03-22T11:00:00+02:00,35\n"
             "3,0001-01-01,01/05/2015,2014-01-01T00:00:00Z,40\n"
             "4,05/05/2015,02/02/2016,2014-05-01T00:00:00-05:00,41\n"
             "5,06/06/2016,12/31/9999,2015-05-01 00:00:00+00:00,50\n")


def test_sentinel_and_offset_dates_do_not_crash_profile_detect_risk_apply(tmp_path, capsys):
    path = tmp_path / "dates.csv"
    path.write_text(DATES_CSV)
    assert main(["profile", str(path), "--json"]) == 0
    columns = {c["name"]: c for c in json.loads(capsys.readouterr().out)["columns"]}
    assert [columns[c]["type"] for c in ("Start", "End", "Stamp")] == ["date"] * 3
    assert (columns["End"]["min"], columns["End"]["max"]) == ("2015-01-05", "2016-02-02")   # 9999 is no date
    assert columns["Start"]["min"] == "2013-03-21"
    assert main(["detect", str(path), "--json"]) == 0
    capsys.readouterr()
    assert main(["risk", str(path), "--qi", "Start", "End", "Stamp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 5
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [
        {"op": "generalize", "column": "End", "hierarchy": "date", "level": 3},
        {"op": "generalize", "column": "Start", "hierarchy": "date", "level": 1},
        {"op": "generalize", "column": "Stamp", "hierarchy": "date", "level": 2}]}))
    out = tmp_path / "o.csv"
    assert main(["apply", str(path), "--recipe", str(recipe), "--out", str(out)]) == 0
    released = pd.read_csv(out, dtype=str)
    assert released["End"].tolist() == ["*", "*", "2015", "2016", "*"]
    assert "12/31/9999" in capsys.readouterr().out          # the log names the sentinel it wrote *
    assert released["Start"].tolist() == ["2013-03", "2014-04", "*", "2015-05", "2016-06"]
    assert released["Stamp"].tolist() == ["2013-Q1", "2013-Q1", "2014-Q1", "2014-Q2", "2015-Q2"]


def test_suppress_removes_equal_groups_in_order_of_first_appearance():
    """Two groups of 2 records, room for one: the one seen first in the file goes (one grouping, ctopen.risk)."""
    df = frame(a=["y", "x", "x", "y"] + ["z"] * 6)
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "suppress", "k": 3, "columns": ["a"], "max_share": 0.2}]})
    assert out.df["a"].tolist() == ["x", "x"] + ["z"] * 6 and out.suppressed == 2
    df = frame(a=["x", "y", "y", "x"] + ["z"] * 6)
    out = transform.apply(df, {"version": 1, "steps": [
        {"op": "suppress", "k": 3, "columns": ["a"], "max_share": 0.2}]})
    assert out.df["a"].tolist() == ["y", "y"] + ["z"] * 6
    assert not hasattr(transform, "class_sizes")      # one grouping: ctopen.risk.group
