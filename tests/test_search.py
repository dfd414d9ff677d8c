"""ctopen.search: the recommended levels equal an independent exhaustive search on random tables,
the result is minimal where the loss allows it, and its recipe reproduces the figures."""
from __future__ import annotations

import io
import itertools
import json
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import search
from ctopen.errors import CtopenError, RecipeError
from tests.conftest import DRUG, real_file


class Ladder:
    """A minimal test hierarchy: level 0 as is, levels 1.. from plain dicts, the top "*"."""

    name = "custom"
    options: dict = {}

    def __init__(self, maps: list[dict]):
        self.maps = maps

    @property
    def levels(self) -> int:
        return len(self.maps) + 2

    def generalize(self, series: pd.Series, level: int) -> pd.Series:
        if level == 0:
            return series
        if level == self.levels - 1:
            return pd.Series("*", index=series.index, dtype="str")
        return series.map(self.maps[level - 1]).astype("str")


# --- an independent reference: every node, on the rows, with pandas ---------------------------------

def reference(df, quasi, ladders, k, max_suppression, sensitive=None, l=None, only=None, lost=None, dropped=0):
    """All nodes -> (meets, loss, suppressed, k_min, l_min), computed row by row with groupby.
    only: {column: the one level it may take}; lost: {column: loss forced (a pseudonymized column)};
    dropped: how many other quasi-identifiers are dropped (fully lost, in no group)."""
    only, lost = only or {}, lost or {}
    n = len(df)
    cap = int(np.floor(max_suppression * n + 1e-9))
    heights = [ladders[c].levels for c in quasi]
    gen = {(c, v): ladders[c].generalize(df[c], v) for c in quasi for v in range(ladders[c].levels)}
    col_loss = {}
    for c in quasi:
        top = ladders[c].levels - 1
        values = df[c]
        distinct = values.dropna().unique()
        for v in range(ladders[c].levels):
            if v == top:
                col_loss[c, v] = 1.0
                continue
            if len(distinct) <= 1:
                col_loss[c, v] = 0.0
                continue
            g = pd.Series(gen[c, v].to_numpy(dtype=object), index=df.index)
            pairs = pd.DataFrame({"value": values, "g": g}).dropna(subset=["value"]).drop_duplicates()
            covered = pairs.groupby("g", dropna=False)["value"].transform("size")
            per_value = dict(zip(pairs["value"], ((covered - 1) / (len(distinct) - 1)).where(pairs["g"] != "*", 1.0)))
            nonmissing = values.dropna()
            col_loss[c, v] = float(nonmissing.map(per_value).mean())
    out = {}
    for c, v in lost.items():
        for level in range(ladders[c].levels):
            col_loss[c, level] = v
    ranges = [[only[c]] if c in only else range(h) for c, h in zip(quasi, heights)]
    for node in itertools.product(*ranges):
        g = pd.DataFrame({c: gen[c, v].astype(object) for c, v in zip(quasi, node)})
        size = g.groupby(quasi, dropna=False, sort=False)[quasi[0]].transform("size")
        small = size < k
        suppressed = int(small.sum())
        kept = g[~small.to_numpy()]
        k_min = int(size[~small].min()) if (~small).any() else None
        l_min = None
        if sensitive is not None:
            s = df.loc[~small.to_numpy(), sensitive].astype(object)
            if len(kept):
                l_min = int(kept.assign(_s=s.to_numpy()).groupby(quasi, dropna=False, sort=False)["_s"]
                            .nunique(dropna=False).min())
        meets = suppressed <= cap and (l is None or (l_min is not None and l_min >= l))
        average = (sum(col_loss[c, v] for c, v in zip(quasi, node)) + dropped) / (len(quasi) + dropped)
        loss = average + suppressed / n * (1 - average)
        out[node] = (meets, loss, suppressed, k_min, l_min)
    return out


def _levels(rec, quasi):
    return tuple(rec.levels[c] for c in quasi)


# --- random tables and ladders -----------------------------------------------------------------------

@st.composite
def problems(draw, with_l=False, nested=True):
    n = draw(st.integers(1, 40))
    n_qi = draw(st.integers(1, 3))
    quasi = [f"q{i}" for i in range(n_qi)]
    data, ladders = {}, {}
    for c in quasi:
        alphabet = [f"{c}v{j}" for j in range(draw(st.integers(1, 6)))]
        values = draw(st.lists(st.sampled_from(alphabet + [None]), min_size=n, max_size=n))
        data[c] = pd.Series(values, dtype="str")
        maps, current = [], {v: v for v in alphabet}
        for depth in range(draw(st.integers(0, 2))):
            groups = draw(st.integers(1, 3))
            if nested:
                # coarsen the previous level's groups: each group of the level below goes to one group
                labels = sorted(set(current.values()))
                to = {g: f"{c}L{depth}g{draw(st.integers(0, groups - 1))}" for g in labels}
                current = {v: to[current[v]] for v in alphabet}
            else:
                current = {v: f"{c}L{depth}g{draw(st.integers(0, groups - 1))}" for v in alphabet}
            maps.append(dict(current))
        ladders[c] = Ladder(maps)
    sensitive = None
    if with_l:
        data["s"] = pd.Series(draw(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n)), dtype="str")
        sensitive = "s"
    k = draw(st.integers(1, 5))
    budget = draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))
    l = draw(st.integers(2, 3)) if with_l else None
    return pd.DataFrame(data), quasi, ladders, k, budget, sensitive, l


def _check_against_reference(df, quasi, ladders, k, budget, sensitive, l):
    ref = reference(df, quasi, ladders, k, budget, sensitive, l)
    meeting = {node: v for node, v in ref.items() if v[0]}
    if not meeting:
        with pytest.raises(search.RecommendError):
            search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, sensitive=sensitive, l=l)
        return None
    rec = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, sensitive=sensitive, l=l)
    best = min(v[1] for v in meeting.values())
    node = _levels(rec, quasi)
    assert node in meeting, f"recommended {node} does not meet the target"
    assert rec.loss == pytest.approx(best, abs=1e-9)
    assert ref[node][1] == pytest.approx(rec.loss, abs=1e-9)
    assert rec.suppressed == ref[node][2]
    assert rec.k_min == ref[node][3]
    if l is not None:
        assert rec.l_min == ref[node][4]
    # minimal: lowering one column one level breaks the target, unless that loses more information
    children = [node[:j] + (node[j] - 1,) + node[j + 1:] for j in range(len(node)) if node[j] > 0]
    meeting_children = [c for c in children if c in meeting]
    assert rec.minimal == (not meeting_children)
    for c in meeting_children:
        assert meeting[c][1] > rec.loss + 1e-12
    # the exhaustive mode of the module agrees too
    full = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders,
                            sensitive=sensitive, l=l, exhaustive=True)
    assert full.loss == pytest.approx(rec.loss, abs=1e-12) and full.levels == rec.levels
    return rec


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_same_optimum_as_exhaustive_search(case):
    _check_against_reference(*case)


@SETTINGS
@given(problems(with_l=True))
def test_same_optimum_with_l_diversity(case):
    _check_against_reference(*case)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(nested=False))
def test_same_optimum_when_ladders_are_not_nested(case):
    _check_against_reference(*case)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(nested=False, with_l=True))
def test_same_optimum_with_l_when_ladders_are_not_nested(case):
    _check_against_reference(*case)


class RegisteredLadder(Ladder):
    """The test ladder as a registered hierarchy, so a recipe step can name it (fixed columns)."""
    name = "testladder"

    def __init__(self, maps):
        super().__init__(maps)
        self.options = {"maps": maps}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(with_l=False), st.data())
def test_same_optimum_with_fixed_columns(case, data):
    """Quasi-identifiers kept where the recipe has them (as is, at a level, pseudonymized, dropped)
    form groups and count in the loss as the Transform page measures them."""
    from unittest import mock

    from ctopen import hierarchies

    df, quasi, ladders, k, budget, _, _ = case
    extra = data.draw(st.lists(st.sampled_from(["as is", "level", "pseudonymize", "drop"]), min_size=1, max_size=2))
    fixed, only, lost, dropped = {}, {}, {}, 0
    for j, how in enumerate(extra):
        c = f"f{j}"
        alphabet = [f"{c}v{i}" for i in range(data.draw(st.integers(1, 4)))]
        df[c] = pd.Series(data.draw(st.lists(st.sampled_from(alphabet + [None]), min_size=len(df), max_size=len(df))),
                          dtype="str")
        maps = [{v: f"{c}g{data.draw(st.integers(0, 1))}" for v in alphabet}]
        ladders[c] = RegisteredLadder(maps)
        if how == "as is":
            fixed[c], only[c] = None, 0
        elif how == "level":
            level = data.draw(st.integers(0, 2))
            fixed[c] = {"op": "generalize", "column": c, "hierarchy": "testladder", "maps": maps, "level": level}
            only[c] = level
        elif how == "pseudonymize":
            fixed[c], only[c], lost[c] = {"op": "pseudonymize", "column": c}, 0, 1.0
        else:
            fixed[c] = {"op": "drop", "column": c}
            dropped += 1
    grouped = quasi + [c for c in fixed if c in only]
    with mock.patch.dict(hierarchies.HIERARCHIES, {"testladder": RegisteredLadder}):
        ref = reference(df, grouped, ladders, k, budget, only=only, lost=lost, dropped=dropped)
        meeting = {node: v for node, v in ref.items() if v[0]}
        if not meeting:
            with pytest.raises(search.RecommendError):
                search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, fixed=fixed)
            return
        rec = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, fixed=fixed)
    assert set(rec.levels) == set(quasi)
    node = tuple(rec.levels[c] for c in quasi) + tuple(only[c] for c in grouped[len(quasi):])
    assert node in meeting
    assert rec.loss == pytest.approx(min(v[1] for v in meeting.values()), abs=1e-9)
    assert rec.suppressed == ref[node][2] and rec.k_min == ref[node][3]
    assert rec.recipe["steps"][-1]["columns"] == [c for c in df.columns if c in grouped]


# --- exact small cases -------------------------------------------------------------------------------

def test_l_diversity_is_checked_on_every_node_not_inferred():
    """Two small classes of one sensitive value are suppressed at level 0 (l holds on the rest),
    but merge into a kept class holding one value at level 1: the coarser node fails l."""
    df = pd.DataFrame({
        "q": pd.Series(["a", "a", "b", "b", "c", "c", "c", "c"], dtype="str"),
        "s": pd.Series(["x", "x", "x", "x", "x", "y", "x", "y"], dtype="str"),
    })
    ladders = {"q": Ladder([{"a": "ab", "b": "ab", "c": "c"}])}
    ref = reference(df, ["q"], ladders, k=3, max_suppression=0.5, sensitive="s", l=2)
    assert ref[(0,)][0] and not ref[(1,)][0] and ref[(2,)][0]   # not monotone
    rec = search.recommend(df, ["q"], k=3, max_suppression=0.5, hierarchies=ladders, sensitive="s", l=2)
    assert rec.levels == {"q": 0} and rec.suppressed == 4 and rec.l_min == 2
    # with no room to suppress, level 0 fails k and level 1 fails l: only the top meets the target
    rec = search.recommend(df, ["q"], k=3, max_suppression=0.0, hierarchies=ladders, sensitive="s", l=2)
    assert rec.levels == {"q": 2}


def test_coarser_node_can_lose_less_than_a_minimal_one():
    """Suppressing records can cost more than one more level: the optimum is then not minimal (a
    finer node also meets the target, with more loss), and says so."""
    df = pd.DataFrame({"q": pd.Series(["a"] * 10 + ["b"] * 10 + ["c", "d"], dtype="str")})
    ladders = {"q": Ladder([{"a": "a", "b": "b", "c": "cd", "d": "cd"}, {"a": "ab", "b": "ab", "c": "cd", "d": "cd"}])}
    rec = search.recommend(df, ["q"], k=2, max_suppression=0.2, hierarchies=ladders)
    # level 0 suppresses c and d: 2/22 = 0.091 lost; level 1 keeps them as "cd": 2/22 * 1/3 = 0.030
    assert rec.levels == {"q": 1} and rec.suppressed == 0 and rec.loss == pytest.approx(2 / 22 / 3)
    assert not rec.minimal and rec.notes
    rec = search.recommend(df, ["q"], k=3, max_suppression=0.2, hierarchies=ladders)
    # with k = 3 "cd" is still too small at level 1: level 0 wins (0.091 < 0.030 + 2/22 * (1 - 0.030))
    assert rec.levels == {"q": 0} and rec.suppressed == 2 and rec.minimal
    assert rec.loss == pytest.approx(2 / 22)


def test_alternatives_are_a_trade_off_front():
    df = pd.DataFrame({"q": pd.Series(["a"] * 10 + ["b"] * 10 + ["c", "d", "e"], dtype="str"),
                       "r": pd.Series(list("xy" * 11) + ["x"], dtype="str")})
    ladders = {"q": Ladder([{"a": "ab", "b": "ab", "c": "cde", "d": "cde", "e": "cde"}]),
               "r": Ladder([])}
    rec = search.recommend(df, ["q", "r"], k=2, max_suppression=0.5, hierarchies=ladders)
    alts = rec.alternatives
    assert alts and alts[0].levels == rec.levels and alts[0].loss == pytest.approx(rec.loss)
    assert all(a.loss < b.loss and a.suppressed > b.suppressed for a, b in zip(alts, alts[1:]))


def test_missing_values_are_a_value_of_their_own():
    df = pd.DataFrame({"q": pd.Series(["a", None, None, "a", "b", "b"], dtype="str")})
    rec = search.recommend(df, ["q"], k=2, max_suppression=0.0, hierarchies={"q": Ladder([])})
    assert rec.levels == {"q": 0} and rec.k_min == 2 and rec.suppressed == 0 and rec.loss == 0.0


def test_errors_are_plain_sentences():
    df = pd.DataFrame({"q": pd.Series(["a", "b"], dtype="str"), "s": pd.Series(["x", "x"], dtype="str")})
    with pytest.raises(RecipeError, match="'nope'"):
        search.recommend(df, ["q", "nope"], k=2)
    with pytest.raises(search.RecommendError, match="fewer than k"):
        search.recommend(df, ["q"], k=5, hierarchies={"q": Ladder([])})
    with pytest.raises(search.RecommendError, match="different values"):
        search.recommend(df, ["q"], k=2, sensitive="s", l=2, hierarchies={"q": Ladder([])})
    with pytest.raises(search.RecommendError, match="sensitive attribute"):
        search.recommend(df, ["q"], k=2, l=2)
    with pytest.raises(search.RecommendError, match="at least one"):
        search.recommend(df, [], k=2)
    with pytest.raises(search.RecommendError, match="between 0 and 1"):
        search.recommend(df, ["q"], k=2, max_suppression=5)
    assert issubclass(search.RecommendError, CtopenError)


# --- the real hierarchies and the recipe -------------------------------------------------------------

def _apply_and_measure(df, rec, quasi, sensitive=None):
    from ctopen.risk import assess
    from ctopen.transform import apply, information_loss

    applied = apply(df, rec.recipe)
    report = assess(applied.df, quasi, sensitive=[sensitive] if sensitive else [], k=rec.target["k"],
                    combinations=False)
    loss = information_loss(df, rec.recipe, quasi, applied.suppressed)
    return applied, report, loss


def test_recipe_reproduces_the_figures_on_the_drug_deaths_file(drug_table):
    df = drug_table.df
    quasi = ["Date", "Age", "Sex", "Race", "ResidenceCity"]
    rec = search.recommend(df, quasi, k=5, max_suppression=0.01)
    assert rec.k_min >= 5 and rec.suppressed <= 0.01 * len(df)
    applied, report, loss = _apply_and_measure(df, rec, quasi)
    assert applied.suppressed == rec.suppressed
    assert report.k_min == rec.k_min
    assert loss == pytest.approx(rec.loss, abs=1e-9)
    # every generalize step uses the hierarchy Transform suggests, with its options
    steps = {s["column"]: s for s in rec.recipe["steps"] if s["op"] == "generalize"}
    assert {c for c, v in rec.levels.items() if v > 0} == set(steps)
    if "Age" in steps:
        assert steps["Age"]["hierarchy"] == "age" and steps["Age"]["top_code"] == 90
    assert rec.recipe["steps"][-1] == {"op": "suppress", "k": 5, "columns": quasi, "max_share": 0.01}


def test_recipe_reproduces_l_diversity_on_the_drug_deaths_file(drug_table):
    df = drug_table.df
    quasi = ["Date", "Age", "Sex", "ResidenceCity"]
    rec = search.recommend(df, quasi, k=5, sensitive="COD", l=3, max_suppression=0.02)
    applied, report, loss = _apply_and_measure(df, rec, quasi, sensitive="COD")
    assert applied.suppressed == rec.suppressed and report.k_min == rec.k_min
    assert report.l_diversity["COD"].distinct == rec.l_min >= 3
    assert loss == pytest.approx(rec.loss, abs=1e-9)


def test_real_hierarchies_match_exhaustive_reference_on_a_slice(drug_table):
    from ctopen import hierarchies

    df = drug_table.df.iloc[:400].reset_index(drop=True)
    quasi = ["Date", "Age", "Sex"]
    ladders = {"Date": hierarchies.get("date"), "Age": hierarchies.get("age", top_code=90),
               "Sex": hierarchies.get("category", min_count=5)}
    specs = {"Date": "date", "Age": {"hierarchy": "age", "top_code": 90},
             "Sex": {"hierarchy": "category", "min_count": 5}}
    ref = reference(df, quasi, ladders, k=5, max_suppression=0.02)
    rec = search.recommend(df, quasi, k=5, max_suppression=0.02, hierarchies=specs)
    best = min(v[1] for v in ref.values() if v[0])
    assert rec.loss == pytest.approx(best, abs=1e-9)
    assert ref[_levels(rec, quasi)][0]
    # the per-column loss is the hierarchy's own measure
    p = search._Problem(df, quasi, None, specs)
    for c, col in zip(quasi, p.cols):
        for level in range(col.height):
            assert col.column_loss[level] == pytest.approx(ladders[c].loss(df[c], level), abs=1e-12)


def test_fixed_columns_count_as_on_the_transform_page(drug_table):
    """Quasi-identifiers left where the recipe has them (as is, generalized, dropped) still form the
    groups and count in the loss: applying the printed recipe and measuring over every quasi-identifier
    (as the Transform page does) gives the recommended figures."""
    df = drug_table.df
    searched = ["Date", "Age", "Race"]
    fixed = {"Sex": None,
             "ResidenceCity": {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town",
                               "via": "planning_region", "level": 1},
             "DeathCity": {"op": "drop", "column": "DeathCity"}}
    rec = search.recommend(df, searched, k=5, max_suppression=0.01, fixed=fixed)
    assert set(rec.levels) == set(searched)
    every = searched + list(fixed)
    applied, report, loss = _apply_and_measure(df, rec, [c for c in every if c != "DeathCity"])
    assert applied.suppressed == rec.suppressed and report.k_min == rec.k_min
    from ctopen.transform import information_loss
    assert information_loss(df, rec.recipe, every, applied.suppressed) == pytest.approx(rec.loss, abs=1e-9)
    assert fixed["ResidenceCity"] in rec.recipe["steps"] and fixed["DeathCity"] in rec.recipe["steps"]
    assert rec.recipe["steps"][-1]["columns"] == [c for c in df.columns if c in every and c != "DeathCity"]


def test_specs_from_recipe_keep_the_users_choice():
    recipe = {"version": 1, "steps": [
        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "via": "planning_region", "level": 1},
        {"op": "drop", "column": "ID"}]}
    assert search.specs_from_recipe(recipe) == {"ResidenceCity": {"hierarchy": "ct_town", "via": "planning_region"}}


# --- the command -------------------------------------------------------------------------------------

def _cli(argv):
    from ctopen.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_cli_json_keys_and_apply_round_trip(tmp_path):
    path = real_file(DRUG)
    code, out = _cli(["recommend", str(path), "--qi", "Date", "Age", "Sex", "Race", "ResidenceCity",
                      "--k", "5", "--max-suppression", "0.01", "--json"])
    assert code == 0
    result = json.loads(out)
    for key in ("levels", "k_min", "suppressed", "loss", "nodes_evaluated", "seconds", "recipe"):
        assert key in result
    assert set(result["levels"]) == {"Date", "Age", "Sex", "Race", "ResidenceCity"}
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps(result["recipe"]))
    code, out = _cli(["apply", str(path), "--recipe", str(recipe), "--out", str(tmp_path / "o.csv"), "--json"])
    assert code == 0
    assert json.loads(out)["suppressed"] == result["suppressed"]


def test_cli_text_and_errors(capsys):
    path = real_file(DRUG)
    code, out = _cli(["recommend", str(path), "--qi", "Sex", "Race", "--k", "3"])
    assert code == 0 and "Levels:" in out and "python -m ctopen apply" in out
    code, _ = _cli(["recommend", str(path), "--qi", "Sex", "--l", "2"])
    assert code == 2
    assert "--sensitive" in capsys.readouterr().err
    code, _ = _cli(["recommend", str(path), "--qi", "NoSuchColumn"])
    assert code == 2


def test_repeating_columns_finds_a_county_and_a_location_beside_their_town():
    towns = ["Hartford", "New Haven", "Stamford", "Norwalk"] * 30
    county = {"Hartford": "Hartford", "New Haven": "New Haven", "Stamford": "Fairfield", "Norwalk": "Fairfield"}
    df = pd.DataFrame({
        "Town": towns,
        "County": [county[t] for t in towns],
        "TownGeo": [f"{t.upper()}, CT\n(41.{i % 4}, -72.{i % 4})" for i, t in enumerate(towns)],
        "Age": [str(20 + i % 50) for i in range(len(towns))],
        "Date": [f"2018-01-{1 + i % 28:02d}" for i in range(len(towns))],
    })
    from ctopen.search import repeating_columns
    assert repeating_columns(df, ["Town", "County", "TownGeo", "Age", "Date"]) == {"County": "Town", "TownGeo": "Town"}
    assert repeating_columns(df, ["Age", "Date"]) == {}


# --- weights and limits (issue 18) ---------------------------------------------------------------------

def _column_losses(df, quasi, ladders) -> dict:
    """Each column's loss at each level, by an independent groupby (as in `reference`)."""
    out = {}
    for c in quasi:
        top = ladders[c].levels - 1
        distinct = df[c].dropna().unique()
        for v in range(ladders[c].levels):
            if v == top:
                out[c, v] = 1.0
                continue
            if len(distinct) <= 1:
                out[c, v] = 0.0
                continue
            g = pd.Series(ladders[c].generalize(df[c], v).to_numpy(dtype=object), index=df.index)
            pairs = pd.DataFrame({"value": df[c], "g": g}).dropna(subset=["value"]).drop_duplicates()
            covered = pairs.groupby("g", dropna=False)["value"].transform("size")
            per_value = dict(zip(pairs["value"], ((covered - 1) / (len(distinct) - 1)).where(pairs["g"] != "*", 1.0)))
            out[c, v] = float(df[c].dropna().map(per_value).mean())
    return out


def weighted_reference(df, quasi, ladders, k, budget, weights, limits):
    """Nodes within the limits that meet the target -> the weighted objective (docs/internals.md):
    sum_c w_c loss_c / m + suppressed / n * (1 - mean loss)."""
    ref = reference(df, quasi, ladders, k, budget)
    losses = _column_losses(df, quasi, ladders)
    n, m = len(df), len(quasi)
    out = {}
    for node, (meets, _, suppressed, _, _) in ref.items():
        if not meets or any(v > limits.get(c, v) for c, v in zip(quasi, node)):
            continue
        mean = sum(losses[c, v] for c, v in zip(quasi, node)) / m
        out[node] = sum(weights.get(c, 1.0) * losses[c, v] for c, v in zip(quasi, node)) / m + suppressed / n * (1 - mean)
    return out


WEIGHTS = st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.data())
def test_weights_and_limits_give_the_exhaustive_optimum(case, data):
    df, quasi, ladders, k, budget, _, _ = case
    weights = {c: data.draw(WEIGHTS) for c in quasi}
    limits = {c: data.draw(st.integers(0, ladders[c].levels - 1)) for c in quasi if data.draw(st.booleans())}
    ref = weighted_reference(df, quasi, ladders, k, budget, weights, limits)
    if not ref:
        with pytest.raises(search.RecommendError):
            search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, weights=weights,
                             max_levels=limits)
        return
    rec = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, weights=weights,
                           max_levels=limits)
    node = _levels(rec, quasi)
    assert all(rec.levels[c] <= v for c, v in limits.items())          # every limit respected
    assert node in ref and rec.weighted_loss == pytest.approx(min(ref.values()), abs=1e-9)
    full = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, weights=weights,
                            max_levels=limits, exhaustive=True)
    assert full.levels == rec.levels
    # the loss reported is still the information lost (what the Transform page shows), weights or not
    plain = reference(df, quasi, ladders, k, budget)[node][1]
    assert rec.loss == pytest.approx(plain, abs=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.data())
def test_raising_a_weight_never_makes_that_column_coarser(case, data):
    df, quasi, ladders, k, budget, _, _ = case
    weights = {c: data.draw(WEIGHTS) for c in quasi}
    column = data.draw(st.sampled_from(quasi))
    factor = data.draw(st.sampled_from([1.5, 2.0, 4.0, 16.0]))
    try:
        before = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, weights=weights)
    except search.RecommendError:
        return
    after = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders,
                             weights={**weights, column: weights[column] * factor})
    assert after.levels[column] <= before.levels[column]


def test_unit_weights_are_no_weights(drug_table):
    quasi = ["Age", "Sex", "Race", "ResidenceCounty"]
    plain = search.recommend(drug_table.df, quasi, k=5)
    ones = search.recommend(drug_table.df, quasi, k=5, weights={c: 1 for c in quasi})
    assert ones.levels == plain.levels and ones.loss == plain.loss == ones.weighted_loss
    assert plain.weights == {} and ones.weights == {c: 1.0 for c in quasi}


def test_weights_and_limits_on_the_drug_deaths_file_keep_age_in_bands(drug_table):
    quasi = ["Date", "Age", "Sex", "Race", "ResidenceCity", "DeathCity"]
    plain = search.recommend(drug_table.df, quasi, k=5)
    assert plain.levels["Age"] == 4                                  # the complaint: Age removed (*)
    rec = search.recommend(drug_table.df, quasi, k=5, weights={"Age": 4.0}, max_levels={"Date": 3})
    assert 0 < rec.levels["Age"] < 4 and rec.labels["Age"][rec.levels["Age"]].endswith("bands")
    assert rec.levels["Date"] <= 3
    assert rec.recipe["priorities"] == {"Age": {"weight": 4.0}, "Date": {"max_level": 3}}
    assert any("Never coarser than" in n and "“Date” year" in n for n in rec.notes)


def test_bad_weights_and_limits_are_refused(drug_table):
    df = drug_table.df
    with pytest.raises(search.RecommendError, match="not one of the columns"):
        search.recommend(df, ["Age", "Sex"], k=5, weights={"Race": 2})
    with pytest.raises(search.RecommendError, match="from 0 to"):
        search.recommend(df, ["Age", "Sex"], k=5, weights={"Age": -1})
    with pytest.raises(search.RecommendError, match="whole number"):
        search.recommend(df, ["Age", "Sex"], k=5, max_levels={"Age": 1.5})
    with pytest.raises(RecipeError, match="priorities"):
        search.priorities_from_recipe({"priorities": {"Age": {"wieght": 2}}})


def test_cli_weight_and_max_level(tmp_path, capsys):
    from tests import conftest

    path = conftest.real_file(DRUG)
    argv = ["recommend", str(path), "--qi", "Date", "Age", "Sex", "Race", "ResidenceCity", "DeathCity",
            "--weight", "Age=4", "--max-level", "Date=3", "--json"]
    code, out = _cli(argv)
    assert code == 0
    d = json.loads(out)
    assert d["weights"]["Age"] == 4.0 and d["max_levels"] == {"Date": 3}
    assert d["levels"]["Date"] <= 3 and 0 < d["levels"]["Age"] < 4
    assert d["recipe"]["priorities"] == {"Age": {"weight": 4.0}, "Date": {"max_level": 3}}
    assert {"levels", "k_min", "suppressed", "loss", "nodes_evaluated", "seconds", "recipe"} <= set(d)
    # the saved recipe brings its priorities back (--hierarchies), the flags win
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(d["recipe"]))
    code, out = _cli(["recommend", str(path), "--qi", "Date", "Age", "Sex", "Race", "ResidenceCity", "DeathCity",
                      "--hierarchies", str(saved), "--json"])
    assert code == 0 and json.loads(out)["levels"] == d["levels"]
    code, out = _cli(["recommend", str(path), "--qi", "Age", "Sex", "--weight", "Age=4"])
    assert code == 0 and "Weights: Age 4, Sex 1" in out
    with pytest.raises(SystemExit) as stop:
        _cli(["recommend", str(path), "--qi", "Age", "--weight", "Age"])
    assert stop.value.code == 2 and "COL=NUMBER" in capsys.readouterr().err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(nested=False), st.data())
def test_raising_a_weight_never_makes_that_column_lose_more_when_ladders_are_not_nested(case, data):
    """A ladder that is not nested can lose less at a higher level (level 1 merges everything, level 2
    splits again): there "coarser" is the information lost, and that never grows with the weight."""
    df, quasi, ladders, k, budget, _, _ = case
    weights = {c: data.draw(WEIGHTS) for c in quasi}
    column = data.draw(st.sampled_from(quasi))
    factor = data.draw(st.sampled_from([1.5, 2.0, 4.0, 16.0]))
    try:
        before = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders, weights=weights)
    except search.RecommendError:
        return
    after = search.recommend(df, quasi, k=k, max_suppression=budget, hierarchies=ladders,
                             weights={**weights, column: weights[column] * factor})
    losses = _column_losses(df, quasi, ladders)
    assert losses[column, after.levels[column]] <= losses[column, before.levels[column]] + 1e-12
