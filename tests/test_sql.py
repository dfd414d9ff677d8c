"""The recipe as SQL (ctopen.engine.sqlbuild, hier_sql, `ctopen sql`): the emitted DuckDB SQL, run on DuckDB, gives
what ctopen's in-memory apply gives; what a dialect cannot express is refused naming step and dialect; the pseudonym
key is never in the text."""
from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import hierarchies
from ctopen.cli import main
from ctopen.errors import CtopenError
from ctopen.engine import pseudonym_params, risk_sql, sql_for_recipe
from ctopen.engine import sqlbuild
from ctopen.engine.sqlbuild import UnsupportedStep
from ctopen.risk import assess
from ctopen.transform import PSEUDONYM_HEX_CHARS, apply

KEY = b"a long secret key for the tests 0123456789"


def _none(x):
    return None if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else x


def run_sql(df: pd.DataFrame, recipe: dict, key: bytes | None = None, order_by: str | None = "row") -> pd.DataFrame:
    """The recipe's SQL for DuckDB, executed on DuckDB over df (plus a row-order column)."""
    con = duckdb.connect()
    data = df.copy()
    data["row"] = np.arange(len(df))
    con.register("t", data)
    q = sql_for_recipe(recipe, "t", "duckdb", list(data.columns), order_by=order_by)
    params = pseudonym_params(key, "duckdb") if key and "pseudonym" in q else None
    out = con.execute(q, params).df() if params else con.sql(q).df()
    return out.drop(columns=["row"], errors="ignore")


def in_memory(df: pd.DataFrame, recipe: dict, key: bytes | None = None) -> pd.DataFrame:
    return apply(df, recipe, key=key).df


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        assert [_none(x) for x in a[c].tolist()] == [_none(x) for x in b[c].tolist()], c


def one_step(values, step, states=None):
    df = pd.DataFrame({"v": pd.array(values, dtype="str")})
    if states is not None:
        df["st"] = pd.array(states, dtype="str")
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "v", **step}]}
    return [_none(x) for x in in_memory(df, recipe)["v"]], [_none(x) for x in run_sql(df, recipe)["v"]]


# --- every hierarchy: crafted values ---------------------------------------------------------------

CRAFTED = {
    "zip": ["06001", "6001", "06001-2101", "060012101", "60012101", " 06101 ", "0610", "abc", None, "03601", "10001",
            "\u0660\u0666\u0660\u0660\u0661", "06001-", "06001 2101", "123456", "\u00a006103\u3000"],
    "age": ["34", "34.5", " 90", "95", "-3", "(12)", "(-5)", "1,200", "$5", "1 2", "1  2", "abc", None, "1e400", "12.",
            ".5", "+7", "0", "-0", "89.99", "1e20", "\u0661\u0662", "4 5 6"],
    "number": ["34", "34.5", "-3", "(12)", "1,200", "abc", None, "1e400", "-1e400", "250", "-250", "99", "100", "5.5",
               "$ 1,200", "7e3", "-0.5"],
    "ct_town": ["Hartford", "hartford, ct", "N Haven", "NO. HAVEN", "Stafford Spgs", "West Hartford", "Boston", None,
                "  new   haven ", "W. Hartford", "Windsor Locks", "Ridgefield", "Storrs", "Waterbruy", "E Hartford",
                "S. Windsor", "Hartford, Connecticut.", "O'Hara"],
    "date": ["2013-03-21", "2013-3-5", "03/21/2013", "3/5/13", "03/21/2013 12:00:00 AM", "03/21/2013 22:15", "2013/03/21",
             "20130321", "41000", "41000.5", "12/31/9999", "0001-01-01", "2013-03-21T10:00:00Z", "2013-03-21T10:00:00.000",
             "2013-03-21 10:00", "02/29/2013", "02/29/2012", "13/01/2013", "2262-04-10", "2262-04-10 00:00:01",
             "1677-09-22", "1677-09-21", None, "abc", "3/5/2013  10:00 pm", "3/5/2013 10:00PM", " 3/5/2013 ",
             "03/21/2013 00:00", "2013-03-21T10:00:00+02:00", "1/1/69", "1/1/68", "04/31/2013", "2013-02-30", "99999"],
}
STEPS = {
    "zip": [{"hierarchy": "zip", "level": lv} for lv in (1, 2)],
    "age": [{"hierarchy": "age", "level": lv, **o} for lv in (1, 2, 3) for o in ({}, {"top_code": 90})]
    + [{"hierarchy": "age", "level": 0, "top_code": 90}],
    "number": [{"hierarchy": "number", "level": lv, "width": 10, **o} for lv in (1, 2, 3)
               for o in ({}, {"top": 200}, {"bottom": 0}, {"top": 100, "bottom": -10})]
    + [{"hierarchy": "number", "level": 0, "width": 5, "top": 100, "bottom": -10}],
    "ct_town": [{"hierarchy": "ct_town", "level": lv, **o} for lv in (1, 2)
                for o in ({}, {"via": "planning_region"}, {"aliases": {"WATERBRUY": "Waterbury"}})],
    "date": [{"hierarchy": "date", "level": lv} for lv in (1, 2, 3, 4)],
}
# text ctopen reads as a date but the SQL does not (it is written "*" there: never another date)
DATE_ONLY_IN_MEMORY = {"2013-03"}


@pytest.mark.parametrize("name,step", [(n, s) for n, ss in STEPS.items() for s in ss],
                         ids=lambda x: x if isinstance(x, str) else json.dumps(x, sort_keys=True))
def test_every_hierarchy_in_sql_gives_ctopens_values(name, step):
    mem, sql = one_step(CRAFTED[name], step)
    for value, a, b in zip(CRAFTED[name], mem, sql):
        if name == "date" and value in DATE_ONLY_IN_MEMORY:
            assert b == "*", value
            continue
        assert a == b, (value, a, b)


def test_table_category_and_state_column_in_sql():
    table = {"White": ["W", "*"], " Black": ["B", "*"], "Asian ": ["A", "*"], "O'Neil": ["O", "*"]}
    values = ["White", " White ", "Black", " Black", "Asian", "Other", None, "O'Neil", "white"]
    mem, sql = one_step(values, {"hierarchy": "table", "level": 1, "table": table})
    assert mem == sql == ["W", "W", "B", "B", "A", "*", None, "O", "*"]
    mem, sql = one_step(list("aabcccccd") + [None], {"hierarchy": "category", "level": 1, "min_count": 3})
    assert mem == sql
    assert sql.count("Other") == 4
    mem, sql = one_step(["Hartford", "Warren", "Warren", None, "Boston", "Kent"], {"hierarchy": "ct_town", "level": 1,
                                                                            "state_column": "st"},
                        states=["CT", "OH", "c.t. ", "NY", None, " Conn."])
    assert mem == sql
    assert sql[1] == "*" and sql[3] is None and sql[4] == "*"            # Warren, Ohio; a missing town; Boston
    assert sql[2] == sql[5] == mem[2] != "*"                              # "c.t. " and " Conn." are Connecticut


# --- every hierarchy: random values (hypothesis) ------------------------------------------------------

PIECES = ["0", "1", "2", "3", "6", "9", "06", "12", "31", "59", "2013", "1969", "/", "-", ".", ",", "$", "(", ")", " ",
          "  ", "\t", "\u00a0", "\u2003", "e", "E", "+", "T", ":", "AM", "pm", "Z", "N", "NO", "W", "E ", "Haven",
          "Hartford", "SPGS", "CT", "\u0663", "x", "*"]
texts = st.lists(st.sampled_from(PIECES), min_size=0, max_size=7).map("".join)
columns = st.lists(st.one_of(st.none(), texts, st.sampled_from(sum(CRAFTED.values(), []))), min_size=1, max_size=25)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=columns, name=st.sampled_from(sorted(STEPS)), pick=st.integers(0, 100))
def test_sql_hierarchies_equal_ctopen_on_random_text(values, name, pick):
    step = STEPS[name][pick % len(STEPS[name])]
    mem, sql = one_step(values, step)
    for value, a, b in zip(values, mem, sql):
        if name == "date" and a != b:
            # the SQL reads fewer date forms than ctopen: such a text is "*" there, never another date
            assert b == "*" and a is not None, (value, a, b)
        else:
            assert a == b, (step, value, a, b)


# --- whole recipes -------------------------------------------------------------------------------------

def deaths_600(real_file=None):
    from pathlib import Path
    from ctopen.load import load
    return load(Path(__file__).parent / "data" / "drug_deaths_600.csv").df


def test_a_recipe_with_every_sql_step_equals_apply():
    df = deaths_600()
    recipe = {"version": 1, "steps": [
        {"op": "drop", "column": "ID"},
        {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 3},
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90},
        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1, "state_column": "ResidenceState"},
        {"op": "generalize", "column": "Race", "hierarchy": "category", "level": 1, "min_count": 20},
        {"op": "generalize", "column": "Sex", "hierarchy": "table", "level": 1, "table": {"Male": ["M"], "Female": ["F"]}},
        {"op": "suppress", "columns": ["Date", "Age", "Sex", "Race", "ResidenceCity"], "k": 3, "max_share": 0.05},
        {"op": "pseudonymize", "column": "DeathCity"},
        {"op": "rename", "column": "Sex", "to": "Gender"},
        {"op": "reorder", "columns": ["Gender", "Age"]},
    ]}
    same_table(in_memory(df, recipe, key=KEY), run_sql(df, recipe, key=KEY))


def test_suppress_in_sql_takes_the_smallest_groups_first_in_file_order():
    # groups of 1 and 2 records; a cap of 3 removes the three singletons first ("c" comes before "d"), then no pair
    df = pd.DataFrame({"q": pd.array(list("aabbccddefg") + [None] * 4, dtype="str")})
    for share in (0.0, 0.2, 0.5, 1.0):
        recipe = {"version": 1, "steps": [{"op": "suppress", "columns": ["q"], "k": 3, "max_share": share}]}
        same_table(in_memory(df, recipe), run_sql(df, recipe))


def test_pseudonym_in_sql_is_ctopens_keyed_hash():
    values = ["abc", " abc ", "\u00a0abc\u3000", "Émile", "", None, "a\tb", "x" * 300, "\U0001F600"]
    df = pd.DataFrame({"v": pd.array(values, dtype="str")})
    recipe = {"version": 1, "steps": [{"op": "pseudonymize", "column": "v"}]}
    for key in (KEY, b"k" * 100, b"sixteen-chars-ok"):
        mem, sql = in_memory(df, recipe, key=key), run_sql(df, recipe, key=key)
        same_table(mem, sql)
        assert all(len(x) == PSEUDONYM_HEX_CHARS for x in sql["v"] if _none(x) is not None)


def test_aggregate_counts_in_sql():
    df = deaths_600()
    recipe = {"version": 1, "steps": [{"op": "aggregate", "by": ["Sex", "Race"]}]}
    con = duckdb.connect()
    con.register("t", df)
    got = con.sql(sql_for_recipe(recipe, "t", "duckdb", list(df.columns))).df()
    counts = df.groupby(["Sex", "Race"], dropna=False).size()
    assert int(got["count"].sum()) == len(df)
    assert sorted(got["count"].tolist()) == sorted(counts.tolist())


# --- the key is never in the text; refusals name step and dialect --------------------------------------

@pytest.mark.parametrize("dialect", ["duckdb", "spark", "trino"])
def test_the_key_never_appears_and_the_sql_parses_back(dialect, monkeypatch):
    monkeypatch.setenv("CTOPEN_PSEUDONYM_KEY", KEY.decode())
    recipe = {"version": 1, "steps": [{"op": "pseudonymize", "column": "name"},
                                      {"op": "generalize", "column": "age", "hierarchy": "age", "level": 1},
                                      {"op": "generalize", "column": "town", "hierarchy": "ct_town", "level": 1},
                                      {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 1},
                                      {"op": "generalize", "column": "d", "hierarchy": "date", "level": 2},
                                      {"op": "suppress", "columns": ["age", "town"], "k": 5}]}
    text = sql_for_recipe(recipe, "db.people", dialect, ["name", "age", "town", "zip", "d", "id"], order_by="id")
    params = pseudonym_params(KEY, dialect)
    for secret in [KEY.decode(), KEY.hex(), *params.values()]:
        assert secret.lower() not in text.lower()
    assert ("from_hex(?)" in text.lower()) if dialect == "trino" else ("pseudonym_ikey" in text)
    sqlglot.parse(text, read=dialect)


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "trino"])
def test_refusals_name_the_step_and_the_dialect(dialect):
    cols = ["a", "b", "id"]
    cases = [
        ({"op": "generalize", "column": "a", "hierarchy": "coordinates", "level": 1}, "coordinates"),
        ({"op": "generalize", "column": "a", "hierarchy": "number", "level": 1, "width": 2.5}, "width"),
        ({"op": "generalize", "column": "a", "hierarchy": "age", "level": 1, "top_code": 89.5}, "top_code"),
        ({"op": "aggregate", "by": ["a"], "measures": [{"column": "b", "stat": "sum"}]}, "measures"),
        ({"op": "titlecase", "column": "a"}, "titlecase"),
    ]
    for step, word in cases:
        with pytest.raises(UnsupportedStep) as info:
            sql_for_recipe({"version": 1, "steps": [step]}, "t", dialect, cols, order_by="id")
        message = str(info.value)
        assert "step 1" in message.lower() and dialect in message and word in message, message
    with pytest.raises(UnsupportedStep, match="order"):
        sql_for_recipe({"version": 1, "steps": [{"op": "suppress", "columns": ["a"]}]}, "t", dialect, cols)


# --- risk as SQL ---------------------------------------------------------------------------------------

def test_risk_queries_on_duckdb_give_ctopens_figures():
    df = deaths_600()
    qi, sens = ["Age", "Sex", "Race"], ["ResidenceCity"]
    r = assess(df, qi, sens, k=5)
    con = duckdb.connect()
    con.register("t", df)
    queries = sqlbuild.risk_queries("t", qi, "duckdb", sens, k=5)
    sizes = con.sql(sqlbuild.render(queries["class_sizes"], "duckdb")).fetchall()
    assert sum(c for _, c in sizes) == r.classes
    assert min(s for s, _ in sizes) == r.k_min
    assert sum(s * c for s, c in sizes if s < 5) == r.records_at_risk
    d, e = con.execute(sqlbuild.render(queries["l_ResidenceCity"], "duckdb")).fetchall()[0]
    assert d == r.l_diversity["ResidenceCity"].distinct
    combos = {row[0]: row[1:] for row in con.sql(sqlbuild.render(queries["qi_combinations"], "duckdb")).fetchall()}
    for c in r.qi_combinations:
        gid = sum(1 << (len(qi) - 1 - i) for i, q in enumerate(qi) if q not in c.columns)
        assert combos[gid][:2] == (c.uniques, c.k_min)
    for dialect in ("spark", "trino"):
        for part in risk_sql("db.t", qi, dialect, sens).split(";"):
            if part.strip():
                sqlglot.parse(part, read=dialect)


# --- the command ---------------------------------------------------------------------------------------

def test_sql_command_prints_the_query_and_its_parameters(tmp_path, capsys):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "pseudonymize", "column": "Name"},
                                                          {"op": "drop", "column": "Age"}]}))
    assert main(["sql", "--recipe", str(recipe), "--table", "db.t", "--dialect", "trino", "--columns", "Name", "Age",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dialect"] == "trino" and out["parameters"] == ["pseudonym_key"]
    assert "hmac_sha256" in out["sql"].lower()
    assert '"age"' not in out["sql"].lower().rsplit("select", 1)[1]      # dropped from the release
    assert main(["sql", "--risk", "--qi", "Age", "--table", "db.t", "--dialect", "spark"]) == 0
    assert "GROUPING SETS" in capsys.readouterr().out.upper()
    # no columns named anywhere: one clear sentence, exit 2
    assert main(["sql", "--recipe", str(recipe), "--table", "t", "--dialect", "duckdb"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--columns" in err and "Traceback" not in err
    # a step the dialect cannot express
    recipe.write_text(json.dumps({"version": 1, "steps": [{"op": "generalize", "column": "Age",
                                                          "hierarchy": "coordinates", "level": 2}]}))
    assert main(["sql", "--recipe", str(recipe), "--table", "t", "--dialect", "spark", "--columns", "Age"]) == 2
    err = capsys.readouterr().err
    assert "step 1" in err.lower() and "spark" in err and len(err.strip().splitlines()) == 1


def test_sql_command_reads_the_columns_of_a_saved_review(tmp_path, capsys):
    recipe = tmp_path / "review.json"
    recipe.write_text(json.dumps({"version": 1, "roles": {"Age": "quasi", "Sex": "quasi", "Name": "direct"},
                                  "steps": [{"op": "drop", "column": "Name"}]}))
    assert main(["sql", "--recipe", str(recipe), "--table", "t", "--dialect", "duckdb"]) == 0
    out = capsys.readouterr().out
    assert re.search(r'"Age"', out) and re.search(r'"Sex"', out)


# --- names never carry SQL ------------------------------------------------------------------------------

def test_hostile_names_are_quoted_or_refused():
    evil = 'a"; DROP TABLE t; --'
    df = pd.DataFrame({evil: pd.array(["1", "2", "2"], dtype="str"), "b`x": pd.array(["x", "y", "y"], dtype="str")})
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": evil, "hierarchy": "table", "level": 1,
                                       "table": {"1": ["one'); DROP TABLE t; --"], "2": ["two"]}},
                                      {"op": "rename", "column": "b`x", "to": "c'; --"}]}
    same_table(in_memory(df, recipe), run_sql(df, recipe))
    for dialect in ("duckdb", "spark", "trino"):
        text = sql_for_recipe(recipe, "db.t", dialect, [evil, "b`x"])
        assert len(sqlglot.parse(text, read=dialect)) == 1        # one statement, whatever the names hold
    for table in ("db.t; DROP TABLE x", "t--x", "a.b.c.d", "", "t x"):
        with pytest.raises(CtopenError, match="table name"):
            sql_for_recipe({"version": 1, "steps": []}, table, "duckdb", ["a"])
    with pytest.raises(CtopenError, match="keeps for its own"):
        sql_for_recipe({"version": 1, "steps": []}, "t", "duckdb", ["__ctopen_size"])


def test_a_suppress_step_without_columns_needs_every_role():
    cols = ["a", "b", "id"]
    step = {"op": "suppress", "k": 2}
    with pytest.raises(UnsupportedStep, match="names no columns") as info:
        sql_for_recipe({"version": 1, "roles": {"a": "quasi"}, "steps": [step]}, "t", "trino", cols, order_by="id")
    assert "“b”" in str(info.value) and "trino" in str(info.value)
    # a saved review names every column: its quasi-identifiers are the groups, as apply's
    df = pd.DataFrame({"a": pd.array(list("xxyz"), dtype="str"), "b": pd.array(list("1122"), dtype="str")})
    recipe = {"version": 1, "roles": {"a": "quasi", "b": "other"}, "steps": [step]}
    same_table(in_memory(df, {**recipe, "steps": [{**step, "columns": ["a"]}]}),
               run_sql(df, {**recipe, "roles": {**recipe["roles"], "row": "other"}}))


def test_names_sql_takes_for_one_are_refused():
    # DuckDB, Spark and Trino match identifiers without regard to case: two such columns, or a rename onto one,
    # would make a query read one column for the other
    for dialect in ("duckdb", "spark", "trino"):
        with pytest.raises(CtopenError, match="differ only by case"):
            sql_for_recipe({"version": 1, "steps": []}, "t", dialect, ["Zip", "ZIP"])
        with pytest.raises(UnsupportedStep, match="Sex"):
            sql_for_recipe({"version": 1, "steps": [{"op": "rename", "column": "Gender", "to": "SEX"}]}, "t", dialect,
                           ["Gender", "Sex", "Age"])
        with pytest.raises(UnsupportedStep, match="keeps for its own"):
            sql_for_recipe({"version": 1, "steps": [{"op": "rename", "column": "Age", "to": "__CTOPEN_row"}]}, "t",
                           dialect, ["Age"])
        with pytest.raises(UnsupportedStep, match="count"):
            sql_for_recipe({"version": 1, "steps": [{"op": "aggregate", "by": ["Count"]}]}, "t", dialect, ["Count"])
        with pytest.raises(CtopenError, match="keeps for its own"):
            sql_for_recipe({"version": 1, "steps": []}, "t", dialect, ["__Ctopen_size"])
    with pytest.raises(CtopenError, match="differ only by case"):
        risk_sql("t", ["Town", "town"], "trino")
    with pytest.raises(CtopenError, match="keeps for its own"):
        risk_sql("t", ["Town"], "spark", sensitive=["__ctopen_size"])
    # a rename that changes only the case of its own column is fine
    assert '"SEX"' in sql_for_recipe({"version": 1, "steps": [{"op": "rename", "column": "Sex", "to": "SEX"}]}, "t",
                                     "duckdb", ["Sex"])
