"""Round trip: what Recommend promises is what apply delivers.

For every hierarchy and every level, the recipe `ctopen.search.recommend` returns (and `ctopen recommend
--json` prints), applied with `ctopen.transform.apply` and assessed with `ctopen.risk.assess` over the same
quasi-identifiers, gives exactly the k, the records suppressed and the information lost it printed. And
"rare values merged" keeps every value held by at least `min_count` records.

Data: trimmed copies of real CT files in tests/data (see its README) and inline frames.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import hierarchies, risk, search, transform
from ctopen.cli import main
from ctopen.load import load
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"
DRUG = DATA / "drug_deaths_roundtrip_400.csv"
LICENSES = DATA / "licenses_zip_300.csv"
KEY = b"a round-trip test key, long enough"


@pytest.fixture(scope="module")
def drug():
    return load(DRUG).df


@pytest.fixture(scope="module")
def licenses():
    return load(LICENSES).df


def check(df: pd.DataFrame, rec: search.Recommendation, quasi: list[str], sensitive: str | None = None) -> dict:
    """Apply the printed recipe, assess the release over the same quasi-identifiers: the same figures."""
    printed = json.loads(json.dumps(rec.to_dict()))          # exactly what `recommend --json` prints
    applied = transform.apply(df, printed["recipe"], key=KEY)
    present = [applied.name(c) for c in quasi if applied.name(c) in applied.df.columns]
    report = risk.assess(applied.df, present, sensitive=[sensitive] if sensitive else [],
                         k=printed["target"]["k"], combinations=False, suppressed=applied.suppressed)
    assert applied.suppressed == printed["suppressed"] == report.suppressed
    assert report.k_min == (printed["k_min"] if printed["k_min"] is not None else 0)
    loss = transform.information_loss(df, printed["recipe"], quasi, applied.suppressed)
    assert round(loss, 6) == printed["loss"]
    assert loss == pytest.approx(rec.loss, abs=1e-12)
    if sensitive is not None and printed["l_min"] is not None:
        assert report.l_diversity[sensitive].distinct == printed["l_min"]
    # and the release keeps the promise: every group left has at least k records
    assert report.records == 0 or report.k_min >= printed["target"]["k"]
    return printed


# --- every hierarchy, every level -----------------------------------------------------------------

# (file, column, hierarchy spec, another quasi-identifier the search works on)
LADDERS = [
    ("drug", "Date", {"hierarchy": "date"}, "Sex"),
    ("drug", "Age", {"hierarchy": "age", "top_code": 90}, "Sex"),
    ("drug", "Age", {"hierarchy": "age"}, "Sex"),
    ("drug", "Age", {"hierarchy": "number", "width": 5, "top": 60, "bottom": 20}, "Sex"),   # level 0 top-codes
    ("drug", "Race", {"hierarchy": "category", "min_count": 5}, "Sex"),
    ("drug", "DeathCity", {"hierarchy": "category", "min_count": 3}, "Sex"),
    ("drug", "ResidenceCity", {"hierarchy": "ct_town", "via": "county", "state_column": "ResidenceState"}, "Sex"),
    ("drug", "DeathCity", {"hierarchy": "ct_town", "via": "planning_region"}, "Sex"),
    ("drug", "DeathCityGeo", {"hierarchy": "coordinates", "decimals": 4}, "Sex"),
    ("licenses", "zip", {"hierarchy": "zip"}, "status"),
    ("licenses", "issuedate", {"hierarchy": "date"}, "status"),
    ("licenses", "city", {"hierarchy": "ct_town", "state_column": "state"}, "status"),
]
CASES = [(f, c, spec, other, level)
         for f, c, spec, other in LADDERS
         for level in range(hierarchies.get(spec["hierarchy"], **{k: v for k, v in spec.items()
                                                                   if k not in ("hierarchy", "state_column")}).levels)]


@pytest.mark.parametrize("name, column, spec, other, level", CASES,
                         ids=[f"{c}-{s['hierarchy']}-{lv}" for _, c, s, _, lv in CASES])
def test_every_hierarchy_and_level_round_trips(request, name, column, spec, other, level):
    """The column is held at each level (a fixed step, as the Recommend tab passes the recipe's), the search
    works on another quasi-identifier; the printed recipe carries the step and reproduces the figures."""
    df = request.getfixturevalue(name)
    step = {"op": "generalize", "column": column, **spec, "level": level}
    rec = search.recommend(df, [other], k=2, max_suppression=1.0, fixed={column: step})
    assert step in rec.recipe["steps"]
    check(df, rec, [other, column])


@pytest.mark.parametrize("name, column, spec, other", LADDERS, ids=[f"{c}-{s['hierarchy']}" for _, c, s, _ in LADDERS])
def test_every_hierarchy_searched_round_trips(request, name, column, spec, other):
    """The same hierarchies searched, at a few targets: whatever levels the search picks, apply agrees."""
    df = request.getfixturevalue(name)
    for k, budget in ((2, 0.0), (3, 0.05), (5, 0.02), (10, 0.2)):
        try:
            rec = search.recommend(df, [column, other], k=k, max_suppression=budget, hierarchies={column: spec})
        except search.RecommendError:
            continue
        printed = check(df, rec, [column, other])
        for c, v in printed["levels"].items():
            if c == column and search.needs_step(printed["hierarchies"][c], v):
                assert {"op": "generalize", "column": c, **printed["hierarchies"][c], "level": v} in printed["recipe"]["steps"]


# --- random targets on the real trims -------------------------------------------------------------

DRUG_QI = {"Date": [{"hierarchy": "date"}],
           "Age": [{"hierarchy": "age", "top_code": 90}, {"hierarchy": "number", "width": 10, "top": 70}],
           "Sex": [{"hierarchy": "category", "min_count": 5}],
           "Race": [{"hierarchy": "category", "min_count": 5}, {"hierarchy": "category", "min_count": 20}],
           "ResidenceCity": [{"hierarchy": "ct_town", "state_column": "ResidenceState"},
                             {"hierarchy": "ct_town", "via": "planning_region"}],
           "DeathCity": [{"hierarchy": "ct_town"}, {"hierarchy": "category", "min_count": 10}],
           "DeathCityGeo": [{"hierarchy": "coordinates", "decimals": 3}]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_recommendations_round_trip_on_the_drug_deaths_trim(drug, data):
    quasi = data.draw(st.lists(st.sampled_from(sorted(DRUG_QI)), min_size=1, max_size=4, unique=True))
    specs = {c: data.draw(st.sampled_from(DRUG_QI[c])) for c in quasi}
    k = data.draw(st.integers(2, 10))
    budget = data.draw(st.sampled_from([0.0, 0.01, 0.05, 0.2]))
    sensitive, l = None, None
    if data.draw(st.booleans()):
        sensitive, l = "COD", data.draw(st.integers(2, 3))
    others = [c for c in DRUG_QI if c not in quasi]
    fixed = {}
    for c in data.draw(st.lists(st.sampled_from(others), max_size=1, unique=True)) if others else []:
        how = data.draw(st.sampled_from(["as is", "level", "pseudonymize", "drop"]))
        spec = DRUG_QI[c][0]
        top = hierarchies.get(spec["hierarchy"], **{k_: v for k_, v in spec.items()
                                                    if k_ not in ("hierarchy", "state_column")}).top
        fixed[c] = {"as is": None, "drop": {"op": "drop", "column": c},
                    "pseudonymize": {"op": "pseudonymize", "column": c},
                    "level": {"op": "generalize", "column": c, **spec, "level": data.draw(st.integers(0, top))}}[how]
    try:
        rec = search.recommend(drug, quasi, k=k, max_suppression=budget, hierarchies=specs, sensitive=sensitive, l=l,
                               fixed=fixed)
    except search.RecommendError:
        return
    check(drug, rec, quasi + list(fixed), sensitive)
    for alt in rec.alternatives:          # each alternative's recipe too, as the Recommend tab applies it
        recipe = search.recipe_for(alt.levels, rec.hierarchies, k, budget, fixed=fixed,
                                   columns=rec.recipe["steps"][-1]["columns"])
        applied = transform.apply(drug, recipe, key=KEY)
        assert applied.suppressed == alt.suppressed
        assert transform.information_loss(drug, recipe, quasi + list(fixed), applied.suppressed) == \
            pytest.approx(alt.loss, abs=1e-12)


# --- the command line -------------------------------------------------------------------------------

def test_cli_recommend_json_then_apply_and_risk_give_the_printed_figures(tmp_path, capsys):
    """`recommend --json` (hierarchies from a recipe: category, a town with its state column), its recipe
    through `apply`, the release through `risk`: the same suppressed count and k; the loss from the recipe."""
    hier = tmp_path / "h.json"
    hier.write_text(json.dumps({"version": 1, "steps": [
        {"op": "generalize", "column": "Race", "hierarchy": "category", "min_count": 5, "level": 1},
        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "state_column": "ResidenceState",
         "level": 1},
        {"op": "generalize", "column": "Age", "hierarchy": "age", "top_code": 90, "level": 1}]}))
    quasi = ["Age", "Sex", "Race", "ResidenceCity"]
    assert main(["recommend", str(DRUG), "--qi", *quasi, "--k", "5", "--max-suppression", "0.05",
                 "--hierarchies", str(hier), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["hierarchies"]["ResidenceCity"]["state_column"] == "ResidenceState"
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps(printed["recipe"]))
    out = tmp_path / "release.csv"
    assert main(["apply", str(DRUG), "--recipe", str(recipe), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suppressed"] == printed["suppressed"]
    assert main(["risk", str(out), "--qi", *quasi, "--k", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["k_min"] == printed["k_min"]
    df = load(DRUG).df
    assert round(transform.information_loss(df, printed["recipe"], quasi, printed["suppressed"]), 6) == printed["loss"]


# --- "rare values merged" keeps what is not rare ----------------------------------------------------

def _race_frame() -> pd.DataFrame:
    counts = {"White": 4004, "Hispanic, White": 561, "Black": 433, "Hispanic, Black": 24, "Unknown": 23,
              "Asian, Other": 4, "Asian Indian": 3, "Chinese": 2, "Hawaiian": 1}
    race = [v for v, n in counts.items() for _ in range(n)]
    rng = np.random.default_rng(14)
    df = pd.DataFrame({"Race": race, "Sex": rng.choice(["Male", "Female"], len(race), p=[0.7, 0.3])})
    return df.sample(frac=1, random_state=14).reset_index(drop=True).astype("str")


def test_rare_values_merged_keeps_white_through_recommend_and_apply():
    """The case of issue 14: Race merged at "rare values merged" must keep White (4,004 records), and the
    proposal's records removed is what apply removes."""
    df = _race_frame()
    rec = search.recommend(df, ["Race"], k=5, max_suppression=0.0,
                           hierarchies={"Race": {"hierarchy": "category", "min_count": 5}})
    assert rec.levels["Race"] == 1 and rec.suppressed == 0
    check(df, rec, ["Race"])
    with_sex = search.recommend(df, ["Race", "Sex"], k=5, max_suppression=0.01,
                                hierarchies={"Race": {"hierarchy": "category", "min_count": 5}})
    check(df, with_sex, ["Race", "Sex"])
    released = transform.apply(df, rec.recipe).df["Race"].value_counts()
    assert released["White"] == 4004 and released["Hispanic, White"] == 561 and released["Black"] == 433
    assert released["Other"] == 10 and set(released.index) == {
        "White", "Hispanic, White", "Black", "Hispanic, Black", "Unknown", "Other"}


@settings(max_examples=60, deadline=None)
@given(counts=st.dictionaries(st.sampled_from(["White", "Black", "Asian", "Other", "Unknown", "Hispanic", "x", ""]),
                              st.integers(1, 40), min_size=1),
       missing=st.integers(0, 5), min_count=st.integers(1, 12), seed=st.integers(0, 1000))
def test_rare_values_merged_keeps_every_value_held_by_min_count_records(counts, missing, min_count, seed):
    values = [v for v, n in counts.items() for _ in range(n)] + [None] * missing
    s = pd.Series(np.random.default_rng(seed).permutation(np.array(values, dtype=object)), dtype="str")
    df = pd.DataFrame({"c": s})
    step = {"op": "generalize", "column": "c", "hierarchy": "category", "min_count": min_count, "level": 1}
    out = transform.apply(df, {"version": 1, "steps": [step]}).df["c"]
    held = s.value_counts()
    for value, n in held.items():
        rows = (s == value).fillna(False).to_numpy()
        assert (out[rows] == (value if n >= min_count else "Other")).all()
    assert out[s.isna().to_numpy()].isna().all()
    # the same values from the hierarchy and from the search's ladder
    h = hierarchies.get("category", min_count=min_count)
    assert h.generalize(s, 1).equals(out)
    col, codes = search._column_ladder("c", df, h, {"hierarchy": "category", "min_count": min_count})
    pairs = pd.DataFrame({"code": col.codes[1][codes], "value": out.fillna("\x00").to_numpy()}).drop_duplicates()
    assert len(pairs) == pairs["code"].nunique() == pairs["value"].nunique()
