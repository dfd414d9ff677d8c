"""Count tables with small-cell and complementary suppression (issue 6).

Hand-worked tables follow the rules in ctopen/aggregate.py; the property test checks on random tables
that no suppressed cell can be worked out from the published cells and totals, by an independent rank
computation of the linear system the published table defines.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctopen.aggregate import TOTAL, aggregate, apply_step
from ctopen.errors import RecipeError
from tests.conftest import DRUG, real_file


# --- helpers ---------------------------------------------------------------------------------

def records(cube: dict[tuple, int], names=("R", "C")) -> pd.DataFrame:
    """One record per unit of count: {(r, c): n} -> a DataFrame of n rows (r, c)."""
    rows = [key for key, n in cube.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=list(names), dtype="str")


def grid(matrix, rows=None, cols=None) -> dict:
    rows = rows or [f"r{i + 1}" for i in range(len(matrix))]
    cols = cols or [f"c{j + 1}" for j in range(len(matrix[0]))]
    return {(r, c): matrix[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}


def hidden(table, dims=("R", "C")) -> set[tuple]:
    f = table.frame
    return set(map(tuple, f.loc[f["count_suppressed"], list(dims)].itertuples(index=False)))


def reason(table, key, dims=("R", "C")) -> str:
    f = table.frame
    mask = np.logical_and.reduce([f[d] == v for d, v in zip(dims, key)])
    return table.reasons.loc[mask, "count"].iloc[0]


def true_cube(df, dims):
    """The full cube with totals, as a dict {labels: count}, computed the slow obvious way."""
    cats = [sorted(df[d].unique()) for d in dims]
    out = {}
    for key in itertools.product(*[c + [TOTAL] for c in cats]):
        mask = np.ones(len(df), dtype=bool)
        for d, v in zip(dims, key):
            if v != TOTAL:
                mask &= (df[d] == v).to_numpy()
        out[key] = int(mask.sum())
    return out


def equations(table, dims):
    """(suppressed cells, matrix of the line equations restricted to them)."""
    f = table.frame
    keys = [tuple(r) for r in f[list(dims)].itertuples(index=False)]
    unknown = [k for k, s in zip(keys, f["count_suppressed"]) if s]
    col = {k: i for i, k in enumerate(unknown)}
    eqs = []
    for ax in range(len(dims)):
        lines = {}
        for k in keys:
            lines.setdefault(k[:ax] + k[ax + 1:], []).append(k)
        for members in lines.values():
            row = np.zeros(len(unknown))
            for k in members:
                if k in col:
                    row[col[k]] = -1.0 if k[ax] == TOTAL else 1.0
            if row.any():
                eqs.append(row)
    return unknown, np.array(eqs)


def nullity(table, dims) -> int:
    unknown, A = equations(table, dims)
    return len(unknown) - (np.linalg.matrix_rank(A) if len(A) else 0)


def recoverable(table, dims) -> list[tuple]:
    """Suppressed cells that the published lines determine exactly (independent rank check).

    Unknowns: the suppressed cells. Equations: every line (cells along one dimension with the others
    fixed, plus its total). A cell is determined iff every vector of the null space is zero on it.
    """
    f = table.frame
    keys = [tuple(r) for r in f[list(dims)].itertuples(index=False)]
    sup = f["count_suppressed"].to_numpy()
    unknown = [k for k, s in zip(keys, sup) if s]
    if not unknown:
        return []
    col = {k: i for i, k in enumerate(unknown)}
    eqs = []
    for ax in range(len(dims)):
        lines = {}
        for k in keys:
            lines.setdefault(k[:ax] + k[ax + 1:], []).append(k)
        for members in lines.values():
            row = np.zeros(len(unknown))
            for k in members:
                if k in col:
                    row[col[k]] = -1.0 if k[ax] == TOTAL else 1.0
            if row.any():
                eqs.append(row)
    A = np.array(eqs)
    # null space of A by SVD: a cell is determined iff every null vector is zero on it
    _, sv, vt = np.linalg.svd(A)
    rank = int((sv > 1e-9 * sv.max()).sum())
    null = vt[rank:]
    return [k for k, i in col.items() if not null.size or np.abs(null[:, i]).max() < 1e-7]


# --- hand-worked tables ----------------------------------------------------------------------

def test_one_small_cell_takes_the_next_smallest_in_its_row_and_column():
    # 3 is primary; its column's next smallest is 12, its row's is 10; row b then needs 15.
    df = records(grid([[3, 10, 20], [12, 15, 30], [40, 50, 60]], rows=["a", "b", "c"], cols=["x", "y", "z"]))
    t = aggregate(df, ["R", "C"])
    assert hidden(t) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}
    assert reason(t, ("a", "x")) == "primary: count 3 <= 5"
    assert reason(t, ("a", "y")).startswith("complementary: protects cell (R=a, C=x)")
    assert (t.suppressed, t.primary, t.complementary) == (4, 1, 3)
    totals = t.frame[(t.frame["R"] == TOTAL) | (t.frame["C"] == TOTAL)]
    assert not totals["count_suppressed"].any()  # rule 3: totals kept
    assert t.frame.loc[(t.frame["R"] == TOTAL) & (t.frame["C"] == TOTAL), "count"].iloc[0] == 240
    assert recoverable(t, ("R", "C")) == []


def test_chain_of_complements_across_rows_and_columns():
    # r1c1=2 is primary. Column c1 -> r2c1 (8); row r1 -> r1c2 (30); row r2 -> r2c4 (12);
    # column c2 -> r3c2 (20); column c4 -> r3c4 (25); row r3 now holds two: stable.
    m = [[2, 30, 40, 50],
         [8, 60, 70, 12],
         [70, 20, 80, 25],
         [80, 90, 100, 110]]
    t = aggregate(records(grid(m)), ["R", "C"])
    assert hidden(t) == {("r1", "c1"), ("r2", "c1"), ("r1", "c2"), ("r2", "c4"), ("r3", "c2"), ("r3", "c4")}
    assert t.primary == 1 and t.complementary == 5
    assert "protects cell (R=r2, C=c4)" in reason(t, ("r3", "c4"))
    assert recoverable(t, ("R", "C")) == []


def test_zeros_are_shown_and_a_total_is_suppressed_when_the_line_has_nothing_else():
    # row r1: 2 is primary, 9 its complement; column c2 is then 9, 0, 0: no non-zero cell left
    # to pair with 9, so the column's total is suppressed (documented decision).
    m = [[2, 9, 50],
         [30, 0, 40],
         [35, 0, 45]]
    t = aggregate(records(grid(m)), ["R", "C"])
    h = hidden(t)
    assert ("r1", "c1") in h and ("r1", "c2") in h
    assert ("r2", "c2") not in h and ("r3", "c2") not in h       # zeros are never suppressed
    assert (TOTAL, "c2") in h
    assert reason(t, (TOTAL, "c2")).startswith("complementary: total suppressed because")
    zeros = t.frame[(t.frame["C"] == "c2") & t.frame["R"].isin(["r2", "r3"])]
    assert zeros["count"].tolist() == [0, 0]
    assert recoverable(t, ("R", "C")) == []


def test_small_totals_are_suppressed_too():
    m = [[1, 2, 0], [40, 50, 60]]
    t = aggregate(records(grid(m)), ["R", "C"])
    assert ("r1", TOTAL) in hidden(t)
    assert reason(t, ("r1", TOTAL)) == "primary: count 3 <= 5"
    assert recoverable(t, ("R", "C")) == []


def test_one_dimension_single_small_cell_and_all_ones():
    df = pd.DataFrame({"R": ["a"] * 3 + ["b"] * 50 + ["c"] * 60}, dtype="str")
    t = aggregate(df, ["R"])
    assert set(t.frame.loc[t.frame["count_suppressed"], "R"]) == {"a", "b"}
    # two suppressed cells of 1 under a published total: both are known to be 1 -> one more
    df = pd.DataFrame({"R": ["a", "b"] + ["c"] * 50 + ["d"] * 60}, dtype="str")
    t = aggregate(df, ["R"])
    assert set(t.frame.loc[t.frame["count_suppressed"], "R"]) == {"a", "b", "c"}
    assert "smallest possible value" in t.reasons.loc[t.frame["R"] == "c", "count"].iloc[0]


@pytest.mark.parametrize("dense_max", [300, 0], ids=["dense", "conjugate-gradients"])
def test_cell_linking_two_protected_blocks_is_found_by_the_exact_check(dense_max, monkeypatch):
    import ctopen.aggregate as agg
    monkeypatch.setattr(agg, "DENSE_MAX", dense_max)
    # Two 2x2 blocks of small cells, and r1c3 (4) linking them: every row and column holds two
    # or more suppressed cells, yet r1c3 = row r1 total - ... is determined. The exact check adds r2c3.
    m = [[2, 3, 4, 50, 60],
         [3, 2, 40, 45, 55],
         [40, 45, 2, 3, 50],
         [60, 55, 3, 2, 45],
         [70, 80, 90, 100, 110]]
    t = aggregate(records(grid(m)), ["R", "C"])
    if dense_max:  # small group: the one smallest cell on its lines
        assert ("r2", "c3") in hidden(t)
        assert "could otherwise be worked out" in reason(t, ("r2", "c3"))
    else:          # large group: a box of 4 cells through r1c3: r1c1 and r3c3 are hidden already, r3c1 joins
        assert {("r1", "c3"), ("r1", "c1"), ("r3", "c3"), ("r3", "c1")} <= hidden(t)
    assert t.reasons["count"].str.contains("protects cell \\(R=r1, C=c3\\), which could otherwise").any()
    assert t.exact_check == "passed"
    assert recoverable(t, ("R", "C")) == []


def test_three_dimensions_lines_along_every_dimension():
    cube = {}
    for r, c, s in itertools.product(["r1", "r2", "r3"], ["c1", "c2"], ["F", "M"]):
        cube[(r, c, s)] = 30 + 7 * len(cube)
    cube[("r1", "c1", "F")] = 2
    t = aggregate(records(cube, names=("R", "C", "S")), ["R", "C", "S"])
    dims = ("R", "C", "S")
    h = hidden(t, dims)
    assert ("r1", "c1", "F") in h
    # along each of the three dimensions the small cell's line has a second suppressed cell
    for ax in range(3):
        line = [k for k in h if all(k[a] == ("r1", "c1", "F")[a] for a in range(3) if a != ax)]
        assert len(line) >= 2
    assert recoverable(t, dims) == []
    assert len(t.frame) == 4 * 3 * 3


def test_every_category_appears_with_zero():
    df = pd.DataFrame({"R": ["a"] * 30 + ["b"] * 40, "C": ["x"] * 30 + ["y"] * 40}, dtype="str")
    t = aggregate(df, ["R", "C"], categories={"R": ["a", "b", "z"]})
    f = t.frame
    assert len(f) == 4 * 3
    cell = f[(f["R"] == "a") & (f["C"] == "y")]
    assert cell["count"].iloc[0] == 0 and not cell["count_suppressed"].iloc[0]
    assert (f.loc[f["R"] == "z", "count"] == 0).all()


def test_blank_values_are_a_category_so_totals_add_up():
    df = pd.DataFrame({"R": ["a"] * 30 + [None] * 10}, dtype="str")
    t = aggregate(df, ["R"])
    assert t.frame["R"].tolist() == ["a", "(blank)", TOTAL]
    assert t.frame["count"].tolist() == [30, 10, 40]


def test_threshold_is_adjustable_and_totals_can_be_left_out():
    m = [[8, 30, 40], [20, 25, 60], [50, 60, 70]]
    df = records(grid(m))
    assert hidden(aggregate(df, ["R", "C"])) == set()
    t = aggregate(df, ["R", "C"], threshold=10)
    assert ("r1", "c1") in hidden(t)
    no_totals = aggregate(df, ["R", "C"], threshold=10, totals=False)
    assert TOTAL not in set(no_totals.frame["R"]) | set(no_totals.frame["C"])
    assert hidden(no_totals) == {k for k in hidden(t) if TOTAL not in k}  # protected as if totals were known
    assert "Totals are not included" in no_totals.notes


def test_notes_state_the_method():
    t = aggregate(records(grid([[3, 10], [12, 15]])), ["R", "C"])
    assert "counts of 1 to 5 are suppressed" in t.notes
    assert "Handbook" in t.notes
    assert t.to_dict()["notes"] == t.notes


# --- measures --------------------------------------------------------------------------------

def test_mean_suppressed_for_small_denominator_and_its_complement():
    # cells: a (30 records, ages 40), b (25 records, ages 50), c (10 records): c's mean needs >= 20
    df = pd.DataFrame({"R": ["a"] * 30 + ["b"] * 25 + ["c"] * 10,
                       "Age": ["40"] * 30 + ["50"] * 25 + ["60"] * 10}, dtype="str")
    t = aggregate(df, ["R"], measures=[{"column": "Age", "stat": "mean"}])
    f = t.frame.set_index("R")
    assert not f.loc["c", "count_suppressed"] and f.loc["c", "count"] == 10
    assert f.loc["c", "mean_Age_suppressed"] and pd.isna(f.loc["c", "mean_Age"])
    # with the total's mean and the counts published, c's mean follows from a and b: one more goes
    assert f.loc["b", "mean_Age_suppressed"]
    assert not f.loc[TOTAL, "mean_Age_suppressed"]
    assert f.loc[TOTAL, "mean_Age"] == round((30 * 40 + 25 * 50 + 10 * 60) / 65, 2)  # 46.92
    assert t.reasons.set_index(t.frame["R"]).loc["c", "mean_Age"] == "denominator 10 < 20"


def test_sum_follows_the_count_and_percent_follows_rule_6():
    df = pd.DataFrame({
        "R": ["a"] * 3 + ["b"] * 40 + ["c"] * 50 + ["d"] * 45,
        "Cost": ["1,000"] * 3 + ["10"] * 40 + ["20"] * 50 + ["5"] * 45,
        "Fentanyl": ["Y"] * 3 + ["Y"] * 4 + [""] * 36 + ["Y"] * 25 + [""] * 25 + ["Y"] * 43 + ["N"] * 2,
    }, dtype="str")
    t = aggregate(df, ["R"], measures=[{"column": "Cost", "stat": "sum"},
                                       {"column": "Fentanyl", "stat": "percent"}])
    f = t.frame.set_index("R")
    assert (f["sum_Cost_suppressed"] == f["count_suppressed"]).all()
    assert f.loc["c", "sum_Cost"] == 1000
    assert f.loc["b", "percent_Fentanyl_suppressed"]            # numerator 4 <= 5
    assert f.loc["d", "percent_Fentanyl_suppressed"]            # only 2 of 45 without it
    assert f.loc["c", "percent_Fentanyl"] == pytest.approx(50.0) or f.loc["c", "percent_Fentanyl_suppressed"]


# --- recipe step -----------------------------------------------------------------------------

def test_apply_step_returns_the_table_and_a_log():
    df = records(grid([[3, 10, 20], [12, 15, 30], [40, 50, 60]]))
    out, log = apply_step(df, {"op": "aggregate", "by": ["R", "C"], "threshold": 5, "totals": True,
                               "measures": []})
    assert list(out.columns) == ["R", "C", "count", "count_suppressed"]
    assert log["op"] == "aggregate" and log["suppressed"] == 4 and log["records_in"] == 240
    assert log["rows_out"] == len(out) == 16
    assert "notes" in log


@pytest.mark.parametrize("step, words", [
    ({"op": "aggregate", "by": ["R", "Nope"]}, "'Nope'"),
    ({"op": "aggregate", "by": []}, "at least one column"),
    ({"op": "aggregate", "by": ["R"], "threshold": 0}, "threshold"),
    ({"op": "aggregate", "by": ["R"], "measures": [{"column": "C", "stat": "median"}]}, "stat"),
    ({"op": "aggregate", "by": ["R"], "measures": [{"column": "Z", "stat": "sum"}]}, "'Z'"),
    ({"op": "aggregate", "by": ["R"], "colour": "red"}, "unknown keys"),
    ({"op": "aggregate", "by": ["R"], "categories": {"R": "a"}}, "categories"),
])
def test_apply_step_errors_name_the_problem(step, words):
    df = records(grid([[30, 10], [12, 15]]))
    with pytest.raises(RecipeError, match=words):
        apply_step(df, step)


def test_category_named_total_is_refused():
    df = pd.DataFrame({"R": ["Total"] * 10 + ["a"] * 10}, dtype="str")
    with pytest.raises(RecipeError, match="Total"):
        aggregate(df, ["R"])


# --- real data -------------------------------------------------------------------------------

def test_drug_deaths_by_county_year_sex():
    from ctopen.load import load
    df = load(real_file(DRUG)).df.copy()
    df["Year"] = df["Date"].str.extract(r"(\d{4})", expand=False)
    t = aggregate(df, ["ResidenceCounty", "Year", "Sex"])
    f = t.frame
    grand = f[(f["ResidenceCounty"] == TOTAL) & (f["Year"] == TOTAL) & (f["Sex"] == TOTAL)]
    assert grand["count"].iloc[0] == len(df) == 5105
    shown = f[~f["count_suppressed"]]
    assert (shown["count"] == 0).sum() > 0                      # empty combinations appear as 0
    small = f["count"].between(1, 5)
    assert not small.any()                                     # no published count is 1-5
    assert t.suppressed > t.primary > 0
    assert t.exact_check == "passed"
    assert recoverable(t, ("ResidenceCounty", "Year", "Sex")) == []


# --- property test ---------------------------------------------------------------------------

small_counts = st.one_of(st.integers(0, 6), st.integers(0, 40))


@st.composite
def tables(draw):
    d = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 4)) for _ in range(d)]
    dims = ["A", "B", "C"][:d]
    cube = {}
    for key in itertools.product(*[[f"{dim.lower()}{i}" for i in range(n)] for dim, n in zip(dims, sizes)]):
        cube[key] = draw(small_counts)
    threshold = draw(st.sampled_from([3, 5]))
    seed = draw(st.integers(0, 3))
    return dims, cube, threshold, seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([300, 0]))
def test_no_suppressed_cell_can_be_recovered(case, dense_max):
    """Both solvers of the exact check: dense (small groups) and conjugate gradients (large ones)."""
    import ctopen.aggregate as agg
    dims, cube, threshold, seed = case
    if sum(cube.values()) == 0:
        return
    df = records(cube, names=dims)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(agg, "DENSE_MAX", dense_max)
        t = aggregate(df, dims, threshold=threshold, seed=seed)
    f = t.frame
    truth = true_cube(df, dims)
    for row in f.itertuples(index=False):
        key = tuple(getattr(row, d) for d in dims)
        n = truth[key]
        if row.count_suppressed:
            assert pd.isna(row.count) and n > 0                  # zeros are never suppressed
        else:
            assert row.count == n and not (1 <= n <= threshold)  # published counts are true and not small
    # every line holding a suppressed cell holds at least two
    keys = [tuple(r) for r in f[dims].itertuples(index=False)]
    sup = dict(zip(keys, f["count_suppressed"]))
    for ax in range(len(dims)):
        lines = {}
        for k in keys:
            lines.setdefault(k[:ax] + k[ax + 1:], []).append(k)
        for members in lines.values():
            hid = [k for k in members if sup[k]]
            assert len(hid) != 1
            inner = [k for k in hid if k[ax] != TOTAL]
            total = next(k for k in members if k[ax] == TOTAL)
            if len(inner) >= 2 and not sup[total]:
                assert sum(truth[k] for k in inner) > len(inner)  # not "all of them are 1"
    # and no combination of lines pins one down
    assert t.exact_check == "passed"
    assert recoverable(t, dims) == []


def test_without_the_exact_check_the_linking_cell_would_be_recoverable(monkeypatch):
    # The same two blocks as above: the line rule alone leaves r1c3 determined (this also shows the
    # test's independent rank check does catch a recoverable cell).
    import ctopen.aggregate as agg
    monkeypatch.setattr(agg, "_determined", lambda supp, **kw: (np.flatnonzero(supp)[:0], np.zeros(0, dtype=bool), "passed"))
    m = [[2, 3, 4, 50, 60],
         [3, 2, 40, 45, 55],
         [40, 45, 2, 3, 50],
         [60, 55, 3, 2, 45],
         [70, 80, 90, 100, 110]]
    t = aggregate(records(grid(m)), ["R", "C"])
    assert ("r1", "c3") in recoverable(t, ("R", "C"))


# --- bounds: a reader also knows every suppressed count is at least 1 -------------------------

@st.composite
def small_grids(draw):
    nr, nc = draw(st.integers(2, 3)), draw(st.integers(2, 3))
    counts = st.one_of(st.integers(0, 6), st.integers(6, 14))
    return [[draw(counts) for _ in range(nc)] for _ in range(nr)]


def feasible_values(t, m):
    """Every interior table of integers that agrees with what is published, with suppressed cells >= 1.

    Returns {cell: set of values it takes}, or None when there are too many candidates to enumerate.
    """
    f = t.frame.set_index(["R", "C"])
    nr, nc = len(m), len(m[0])
    rows, cols = [f"r{i + 1}" for i in range(nr)], [f"c{j + 1}" for j in range(nc)]
    published = {k: int(v) for k, v, s in zip(f.index, f["count"], f["count_suppressed"]) if not s}
    unknown = [(r, c) for r in rows for c in cols if (r, c) not in published]
    grand = published.get((TOTAL, TOTAL))
    if grand is None or not unknown:
        return None
    bounds = [min(x for x in (published.get((r, TOTAL)), published.get((TOTAL, c)), grand) if x is not None)
              for r, c in unknown]
    if np.prod([float(b) for b in bounds]) > 300_000:
        return None
    grids = np.meshgrid(*[np.arange(1, b + 1) for b in bounds], indexing="ij")
    cand = np.stack([g.reshape(-1) for g in grids], axis=1)
    ok = np.ones(len(cand), dtype=bool)
    full = {}
    for r in rows:
        for c in cols:
            full[(r, c)] = cand[:, unknown.index((r, c))] if (r, c) in unknown else np.full(len(cand), published[(r, c)])
    margins = {}
    for r in rows:
        margins[(r, TOTAL)] = sum(full[(r, c)] for c in cols)
    for c in cols:
        margins[(TOTAL, c)] = sum(full[(r, c)] for r in rows)
    margins[(TOTAL, TOTAL)] = sum(margins[(r, TOTAL)] for r in rows)
    for k, v in margins.items():
        ok &= (v == published[k]) if k in published else (v >= 1)
    return {k: set(cand[ok, i].tolist()) for i, k in enumerate(unknown)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_grids(), st.integers(0, 2))
def test_no_suppressed_cell_is_pinned_by_published_values_and_bounds(m, seed):
    cube = grid(m)
    if sum(cube.values()) == 0:
        return
    cats = {"R": [f"r{i + 1}" for i in range(len(m))], "C": [f"c{j + 1}" for j in range(len(m[0]))]}
    t = aggregate(records(cube), ["R", "C"], seed=seed, categories=cats)
    values = feasible_values(t, m)
    if values is None:
        return
    for cell, seen in values.items():
        assert m[int(cell[0][1:]) - 1][int(cell[1][1:]) - 1] in seen   # the truth is among them
        assert len(seen) >= 2, f"{cell} can only be {seen} in {m}"


def test_without_the_all_ones_rule_a_row_of_ones_would_be_pinned(monkeypatch):
    import ctopen.aggregate as agg
    m = [[1, 1, 9], [9, 9, 9]]
    cats = {"R": ["r1", "r2"], "C": ["c1", "c2", "c3"]}
    t = aggregate(records(grid(m)), ["R", "C"], categories=cats)
    assert "smallest possible value" in reason(t, ("r1", "c3"))
    protect = agg._protect
    monkeypatch.setattr(agg, "_protect", lambda *a, **kw: protect(*a, **{**kw, "ones_rule": False}))
    t = aggregate(records(grid(m)), ["R", "C"], categories=cats)
    assert feasible_values(t, m)[("r1", "c1")] == {1}


def feasible_values_nd(t, dims, cats, cap=300_000):
    """n-D version of feasible_values: {cell: values it can take} over interior tables that agree with
    every published count (interior and totals), suppressed interior cells >= 1; None if too many."""
    f = t.frame
    keys = [tuple(r) for r in f[list(dims)].itertuples(index=False)]
    published = {k: int(v) for k, v, s in zip(keys, f["count"], f["count_suppressed"]) if not s}
    interior = list(itertools.product(*[cats[d] for d in dims]))
    unknown = [k for k in interior if k not in published]
    grand = published.get(tuple([TOTAL] * len(dims)))
    if grand is None or not unknown:
        return None

    def covers(total_key, k):
        return all(a == TOTAL or a == b for a, b in zip(total_key, k))

    bounds = []
    for k in unknown:
        tops = [v for tk, v in published.items() if TOTAL in tk and covers(tk, k)]
        bounds.append(min(tops))
    if np.prod([float(b) for b in bounds]) > cap:
        return None
    grids = np.meshgrid(*[np.arange(1, b + 1, dtype=np.int16) for b in bounds], indexing="ij")
    cand = np.stack([g.reshape(-1) for g in grids], axis=1)
    value = {k: (cand[:, unknown.index(k)] if k in unknown else np.full(len(cand), published[k])) for k in interior}
    ok = np.ones(len(cand), dtype=bool)
    for k in keys:
        if TOTAL not in k:
            continue
        total = sum(value[i] for i in interior if covers(k, i))
        ok &= (total == published[k]) if k in published else (total >= 1)
    return {k: set(cand[ok, i].tolist()) for i, k in enumerate(unknown)}


@st.composite
def small_cubes(draw):
    sizes = [draw(st.integers(2, 3)), 2, 2]
    counts = st.one_of(st.integers(0, 3), st.integers(6, 9))
    cats = {d: [f"{d.lower()}{i}" for i in range(n)] for d, n in zip("ABC", sizes)}
    cube = {k: draw(counts) for k in itertools.product(*cats.values())}
    return cube, cats


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cubes(), st.integers(0, 2))
def test_three_way_tables_no_cell_pinned_by_values_and_bounds(case, seed):
    cube, cats = case
    if sum(cube.values()) == 0:
        return
    dims = ["A", "B", "C"]
    t = aggregate(records(cube, names=dims), dims, seed=seed, categories=cats)
    values = feasible_values_nd(t, dims, cats)
    if values is None:
        return
    for cell, seen in values.items():
        assert cube[cell] in seen
        assert len(seen) >= 2, f"{cell} can only be {seen} in {cube}"


def test_three_way_table_where_bounds_alone_would_give_the_cells_away():
    # Found by the test above. With the line rule and the exact check only, the published cells leave one
    # degree of freedom, x2 = x(a0,b1,c1): x3 = 2*x2 - 14 >= 1 and x5 = 9 - x2 >= 1 leave only x2 = 8, which
    # gives away all five suppressed cells. The bounds check suppresses one more cell.
    cube = {("a0", "b0", "c0"): 3, ("a0", "b0", "c1"): 0, ("a0", "b1", "c0"): 0, ("a0", "b1", "c1"): 8,
            ("a1", "b0", "c0"): 2, ("a1", "b0", "c1"): 6, ("a1", "b1", "c0"): 1, ("a1", "b1", "c1"): 7}
    cats = {"A": ["a0", "a1"], "B": ["b0", "b1"], "C": ["c0", "c1"]}
    dims = ["A", "B", "C"]
    t = aggregate(records(cube, names=dims), dims, categories=cats)
    assert ("a1", "b1", "c1") in hidden(t, dims)
    assert "could otherwise be worked out" in reason(t, ("a1", "b1", "c1"), dims)
    assert recoverable(t, dims) == []
    # and the published table now leaves more than one degree of freedom
    assert nullity(t, dims) >= 2


def test_apply_step_refuses_a_table_whose_suppressed_cells_could_be_worked_out(monkeypatch):
    import ctopen.aggregate as agg
    from ctopen.errors import RecipeError
    why = "some suppressed cells could still be worked out and no cell was left to protect them"
    monkeypatch.setattr(agg, "_protect", lambda *a, **k: why)
    df = records(grid([[2, 30], [40, 50]]))
    with pytest.raises(RecipeError, match="cannot be published"):
        apply_step(df, {"op": "aggregate", "by": ["R", "C"]})
    assert aggregate(df, ["R", "C"]).exact_check == why        # the panel still shows the table and why
