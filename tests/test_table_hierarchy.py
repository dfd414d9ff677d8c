"""Table hierarchies (an analyst's own ladder carried in the recipe): ARX's CSV imported by
`ctopen hierarchy import`, applied at each level equals the CSV's columns, unknown values reported and
never guessed, bad files and tables refused in one sentence, and the table used by risk, the gate and
recommend (against exhaustive search, nested or not)."""
from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import hierarchies, search
from ctopen import recipe as recipes
from ctopen.errors import RecipeError
from ctopen.load import load
from ctopen.transform import apply, information_loss
from tests.test_search import reference  # an independent groupby over every node

DATA = Path(__file__).resolve().parent / "data"
RACE_CSV = DATA / "hierarchy_race_arx.csv"          # drug deaths' Race -> group -> two groups -> *
OFFENSE_CSV = DATA / "hierarchy_offense_arx.csv"    # pretrial OFFENSE -> class -> felony/misdemeanor -> *


def _cli(argv):
    from ctopen.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


def _rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.reader(f, delimiter=";") if r]


def _import(path, column) -> dict:
    code, out = _cli(["hierarchy", "import", str(path), "--column", column, "--json"])
    assert code == 0
    return json.loads(out)


# --- import ------------------------------------------------------------------------------------------

def test_import_prints_the_generalize_step_at_level_0():
    step = _import(RACE_CSV, "Race")
    rows = _rows(RACE_CSV)
    assert step == {"op": "generalize", "column": "Race", "hierarchy": "table",
                    "table": {r[0]: r[1:] for r in rows}, "level": 0}
    recipes.validate({"version": 1, "steps": [step]})                # a recipe apply accepts
    code, out = _cli(["hierarchy", "import", str(RACE_CSV), "--column", "Race"])
    assert code == 0 and "11 values" in out and "4 levels" in out and '"hierarchy": "table"' in out


@pytest.mark.parametrize("path,column,data", [(RACE_CSV, "Race", "drug_deaths_600.csv"),
                                              (OFFENSE_CSV, "OFFENSE", "pretrial_head_400.csv")])
def test_apply_at_each_level_equals_the_csvs_columns(path, column, data):
    step = _import(path, column)
    rows = _rows(path)
    h = hierarchies.get("table", table=step["table"])
    assert h.levels == len(rows[0])              # as is + the CSV's level columns, the last of which is "*"
    # every value of the CSV once: level i is the CSV's column i
    values = pd.DataFrame({column: pd.Series([r[0] for r in rows], dtype="str")})
    for level in range(h.levels):
        out = apply(values, {"version": 1, "steps": [{**step, "level": level}]}).df[column]
        assert list(out) == [r[level] for r in rows]
    # the real trim: each record's value at level i is its row's column i; a blank stays blank below the top
    real = load(DATA / data).df
    lookup = {r[0]: r for r in rows}
    assert set(real[column].dropna()) <= set(lookup)
    for level in range(h.levels):
        applied = apply(real, {"version": 1, "steps": [{**step, "level": level}]})
        out = applied.df[column]
        expected = real[column].map(lambda v: lookup[v][level] if isinstance(v, str) else v)
        if level == h.top:
            expected = pd.Series("*", index=real.index)
        assert out.fillna("<NA>").tolist() == expected.fillna("<NA>").tolist()
        assert applied.log[0]["unknown"] == []


def test_a_csv_without_a_star_gets_a_top_level_and_other_delimiters_are_read(tmp_path):
    path = tmp_path / "zip.csv"
    path.write_text("06103,061,Hartford County\n06511,065,New Haven County\n", encoding="utf-8")
    step = _import(path, "zip")                                   # "," found when the line has no ";"
    h = hierarchies.get("table", table=step["table"])
    assert h.levels == 4 and h.labels == ["as is", "level 1", "level 2", "*"] and not h.top_given
    tab = tmp_path / "zip.tsv"
    tab.write_text("06103\t061\n", encoding="utf-8")
    code, out = _cli(["hierarchy", "import", str(tab), "--column", "zip", "--delimiter", "\\t", "--json"])
    assert code == 0 and json.loads(out)["table"] == {"06103": ["061"]}
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffWhite;W;*\r\nBlack;B;*\r\n".encode("utf-8"))
    assert _import(bom, "Race")["table"] == {"White": ["W", "*"], "Black": ["B", "*"]}


@pytest.mark.parametrize("text,words", [
    ("a;x;*\nb;y\n", "line 2, has 2 fields"),
    ("a;x;*\na;y;*\n", "twice with different levels"),
    ("a\nb\n", "one column only"),
    ("\n\n", "is empty"),
])
def test_bad_hierarchy_files_are_refused_in_one_sentence(tmp_path, capsys, text, words):
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    code, _ = _cli(["hierarchy", "import", str(path), "--column", "C"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.startswith("error:") and err.count("\n") == 1


@pytest.mark.parametrize("table,words", [
    ({}, "at least one value"),
    ({"a": "x"}, "list of its levels as text"),
    ({"a": ["x", "*"], "b": ["y"]}, "same number of levels"),
    ({"a": [1, "*"]}, "list of its levels as text"),
])
def test_bad_tables_in_a_recipe_are_refused(table, words):
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "C", "hierarchy": "table", "table": table,
                                       "level": 1}]}
    with pytest.raises(RecipeError, match=words):
        recipes.validate(recipe)


def test_a_typo_in_the_tables_key_is_refused_with_a_suggestion():
    step = {"op": "generalize", "column": "C", "hierarchy": "table", "tabel": {"a": ["*"]}, "level": 0}
    with pytest.raises(RecipeError, match="did you mean 'table'"):
        recipes.validate({"version": 1, "steps": [step]})


# --- unknown values: reported, never guessed ----------------------------------------------------------

def test_an_unknown_value_is_reported_and_written_star():
    step = _import(RACE_CSV, "Race")
    del step["table"]["Chinese"]
    del step["table"]["Hawaiian"]
    df = pd.DataFrame({"Race": pd.Series(["White", "Chinese", " White ", "Hawaiian", None, "Chinese"], dtype="str")})
    kept = apply(df, {"version": 1, "steps": [{**step, "level": 0}]})
    assert kept.df["Race"].fillna("<NA>").tolist() == ["White", "Chinese", " White ", "Hawaiian", "<NA>", "Chinese"]
    out = apply(df, {"version": 1, "steps": [{**step, "level": 1}]})
    assert out.df["Race"].fillna("<NA>").tolist() == ["White", "*", "White", "*", "<NA>", "*"]
    entry = out.log[0]
    assert entry["unknown"] == ["Chinese", "Hawaiian"] and entry["unknown_count"] == 2
    assert "not in the hierarchy's table" in entry["message"] and "(3 records)" in entry["message"]
    h = hierarchies.get("table", table=step["table"])
    assert h.unknown(df["Race"]) == ["Chinese", "Hawaiian"]        # outer spaces are not "unknown", nothing else is guessed


# --- nested or not -------------------------------------------------------------------------------------

NOT_NESTED = {"a": ["x", "P", "*"], "b": ["x", "Q", "*"], "c": ["y", "Q", "*"]}


def test_a_ladder_that_is_not_nested_is_named(tmp_path):
    assert hierarchies.get("table", table=NOT_NESTED).not_nested()
    assert hierarchies.get("table", table=_import(RACE_CSV, "Race")["table"]).not_nested() == []
    path = tmp_path / "h.csv"
    path.write_text("".join(f"{k};{';'.join(v)}\n" for k, v in NOT_NESTED.items()), encoding="utf-8")
    code, out = _cli(["hierarchy", "import", str(path), "--column", "C"])
    assert code == 0 and "Not nested" in out and "“x”" in out
    df = pd.DataFrame({"C": pd.Series(list("aabbccabca" * 3), dtype="str"),
                       "D": pd.Series(list("mnmnmnmnmn" * 3), dtype="str")})
    rec = search.recommend(df, ["C", "D"], k=4, max_suppression=0.0,
                           hierarchies={"C": {"hierarchy": "table", "table": NOT_NESTED}})
    assert any("“C”" in note and "not nested" in note for note in rec.notes)
    assert rec.not_nested and "C" in rec.not_nested


# --- recommend with table hierarchies against exhaustive search ------------------------------------------

@st.composite
def table_problems(draw, nested=True):
    n = draw(st.integers(1, 40))
    quasi = [f"q{i}" for i in range(draw(st.integers(1, 3)))]
    data, tables = {}, {}
    for c in quasi:
        alphabet = [f"{c}v{j}" for j in range(draw(st.integers(1, 6)))]
        data[c] = pd.Series(draw(st.lists(st.sampled_from(alphabet + [None]), min_size=n, max_size=n)), dtype="str")
        depth = draw(st.integers(1, 3))
        ladders = {v: [] for v in alphabet}
        current = {v: v for v in alphabet}
        for level in range(depth):
            groups = draw(st.integers(1, 3))
            if nested:
                labels = sorted(set(current.values()))
                to = {g: f"{c}L{level}g{draw(st.integers(0, groups - 1))}" for g in labels}
                current = {v: to[current[v]] for v in alphabet}
            else:
                current = {v: f"{c}L{level}g{draw(st.integers(0, groups - 1))}" for v in alphabet}
            for v in alphabet:
                ladders[v].append(current[v])
        if draw(st.booleans()):
            for v in alphabet:
                ladders[v].append("*")
        tables[c] = ladders
    k = draw(st.integers(1, 5))
    budget = draw(st.sampled_from([0.0, 0.05, 0.2]))
    return pd.DataFrame(data), quasi, tables, k, budget


def _check(case):
    df, quasi, tables, k, budget = case
    specs = {c: {"hierarchy": "table", "table": t} for c, t in tables.items()}
    ladders = {c: hierarchies.get("table", table=t) for c, t in tables.items()}
    ref = reference(df, quasi, ladders, k, budget)
    meeting = {node: v for node, v in ref.items() if v[0]}
    if not meeting:
        with pytest.raises(search.RecommendError):
            search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=specs)
        return
    rec = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=specs)
    full = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=specs, exhaustive=True)
    node = tuple(rec.levels[c] for c in quasi)
    assert node in meeting
    assert rec.loss == pytest.approx(min(v[1] for v in meeting.values()), abs=1e-9)
    assert full.loss == pytest.approx(rec.loss, abs=1e-12) and full.levels == rec.levels
    # the recipe carries the tables and reproduces the figures
    applied = apply(df, rec.recipe)
    assert applied.suppressed == rec.suppressed
    assert information_loss(df, rec.recipe, quasi, applied.suppressed) == pytest.approx(rec.loss, abs=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_problems())
def test_recommend_with_nested_tables_equals_exhaustive_search(case):
    _check(case)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_problems(nested=False))
def test_recommend_with_tables_that_are_not_nested_equals_exhaustive_search(case):
    _check(case)


def test_recommend_on_the_drug_deaths_trim_with_the_imported_race_table():
    df = load(DATA / "drug_deaths_600.csv").df
    race = _import(RACE_CSV, "Race")
    specs = {"Race": {"hierarchy": "table", "table": race["table"]}}
    quasi = ["Age", "Sex", "Race", "ResidenceCounty"]
    rec = search.recommend(df, quasi, k=5, hierarchies=specs)
    full = search.recommend(df, quasi, k=5, hierarchies=specs, exhaustive=True)
    assert full.levels == rec.levels and full.loss == pytest.approx(rec.loss, abs=1e-12)
    assert rec.hierarchies["Race"] == {"hierarchy": "table", "table": race["table"]}
    assert rec.labels["Race"] == ["as is", "level 1", "level 2", "*"]
    step = next(s for s in rec.recipe["steps"] if s.get("column") == "Race") if rec.levels["Race"] else None
    assert step is None or step["table"] == race["table"]
    # saved and read back, the recipe gives the same release
    again = recipes.loads(recipes.dumps(rec.recipe))
    assert apply(df, again).df.equals(apply(df, rec.recipe).df)


# --- risk and the gate read the release a table step makes --------------------------------------------

def test_risk_and_gate_on_a_release_with_a_table_step():
    from ctopen.detect import Detection
    from ctopen.review import Review
    from ctopen.risk import assess

    df = load(DATA / "drug_deaths_600.csv").df
    race = _import(RACE_CSV, "Race")
    roles = {c: "other" for c in df.columns}
    roles.update({"Age": "quasi", "Sex": "quasi", "Race": "quasi"})
    recipe = {"version": 1, "roles": roles,
              "steps": [{**race, "level": 2}, {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 3},
                        {"op": "suppress", "k": 5, "columns": ["Age", "Sex", "Race"], "max_share": 0.05}]}
    review = Review(df, recipe, detector=lambda d: Detection(rows=len(d), engine="none", columns=[]))
    release = review.release
    assert set(release["Race"].dropna()) <= {"White or other", "Black or Hispanic", "Unknown"}
    expected = assess(release, ["Age", "Sex", "Race"], k=5, combinations=False, suppressed=review.applied.suppressed)
    assert review.risk.k_min == expected.k_min and review.risk.uniques == expected.uniques
    gate = review.gate
    assert gate.k == expected.k_min and gate.k >= 5 and gate.privacy_passed
