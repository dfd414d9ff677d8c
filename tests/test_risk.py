"""ctopen.risk: exact figures on small frames, properties against a brute-force reference, real files
against a plain groupby, and the `risk` CLI command."""
from __future__ import annotations

import json
import math
from collections import Counter
from itertools import combinations
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import risk
from ctopen.cli import main
from ctopen.risk import RiskError, assess, key_combinations, riskiest, what_if
from tests.conftest import DRUG, LICENSES, PRETRIAL, REAL_ESTATE, real_file


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in cols.items()})


# --- exact figures ------------------------------------------------------------------------------

SMALL = frame(
    age=["30", "30", "30", "40", "40", "50", None, None],
    sex=["F", "F", "F", "M", "M", "F", "M", "M"],
    dx=["flu", "flu", "cold", "flu", "flu", "flu", None, "flu"],
)


def test_small_frame_figures_follow_arx_definitions():
    r = assess(SMALL, ["age", "sex"], ["dx"], k=3)
    # classes: (30,F)x3, (40,M)x2, (50,F)x1, (NA,M)x2 -- the missing age is a value of its own
    assert (r.rows, r.suppressed, r.classes, r.k_min, r.k_threshold) == (8, 0, 4, 1, 3)
    assert r.records_at_risk == 5 and r.records_at_risk_share == pytest.approx(5 / 8)
    assert r.uniques == 1
    assert r.highest_risk == 1.0 and r.average_risk == pytest.approx(4 / 8)
    assert [b.to_dict() for b in r.histogram] == [
        {"min_size": 1, "max_size": 1, "classes": 1, "records": 1},
        {"min_size": 2, "max_size": 2, "classes": 2, "records": 4},
        {"min_size": 3, "max_size": 3, "classes": 1, "records": 3},
    ]
    # dx per class: {flu,flu,cold} {flu,flu} {flu} {NA,flu}: distinct-l 1; the smallest entropy is 0
    assert r.l_diversity["dx"].distinct == 1 and r.l_diversity["dx"].entropy == pytest.approx(1.0)
    assert list(r.record_class_size) == [3, 3, 3, 2, 2, 1, 2, 2]


def test_entropy_l_is_exp_of_the_smallest_class_entropy_with_missing_as_a_value():
    df = frame(q=["a", "a", "b", "b", "b", "b"], s=["x", None, "x", "y", "z", "z"])
    d = assess(df, ["q"], ["s"]).l_diversity["s"]
    # class a: {x, NA} -> ln 2; class b: {x, y, z, z} -> 1.5 ln 2 ; the smallest is ln 2
    assert d.distinct == 2
    assert d.entropy == pytest.approx(2.0)


def test_values_are_compared_as_loaded():
    df = frame(zip=["06810", "6810", "06810"])
    r = assess(df, ["zip"], k=2)
    assert r.classes == 2 and r.uniques == 1 and r.k_min == 1


def test_every_kind_of_missing_value_is_one_value():
    df = pd.DataFrame({"q": pd.Series(["a", None, np.nan, pd.NA, "a"], dtype=object)})
    r = assess(df, ["q"], k=2)
    assert r.classes == 2 and r.k_min == 2 and r.uniques == 0


def test_suppressed_records_are_counted_apart():
    r = assess(SMALL, ["age", "sex"], k=3, suppressed=5)
    assert r.rows == 13 and r.suppressed == 5 and r.records == 8
    assert sum(b.records for b in r.histogram) == r.rows - r.suppressed
    assert r.records_at_risk_share == pytest.approx(5 / 8)   # share of the records released


def test_large_class_sizes_fall_in_wide_buckets():
    df = frame(q=["a"] * 150 + ["b"] * 12 + ["c"])
    r = assess(df, ["q"], combinations=False)
    assert [(b.min_size, b.max_size, b.classes, b.records) for b in r.histogram] == [
        (1, 1, 1, 1), (11, 20, 1, 12), (101, 1000, 1, 150)]


def test_empty_table_gives_zero_figures():
    r = assess(frame(a=[], s=[]), ["a"], ["s"])
    assert (r.rows, r.classes, r.k_min, r.records_at_risk, r.uniques, r.highest_risk, r.average_risk) == (0, 0, 0, 0, 0, 0.0, 0.0)
    assert r.histogram == [] and r.l_diversity["s"].distinct == 0
    assert r.qi_combinations[0].to_dict() == {"columns": ["a"], "uniques": 0, "k_min": 0}


def test_to_dict_has_exactly_the_public_keys():
    d = assess(SMALL, ["age", "sex"], ["dx"]).to_dict()
    assert list(d) == ["rows", "suppressed", "classes", "k_min", "k_threshold", "records_at_risk",
                       "records_at_risk_share", "uniques", "highest_risk", "average_risk", "histogram",
                       "l_diversity", "qi_combinations"]
    assert set(d["l_diversity"]["dx"]) == {"distinct", "entropy"}
    assert set(d["qi_combinations"][0]) == {"columns", "uniques", "k_min"}
    json.dumps(d)   # plain JSON types only


@pytest.mark.parametrize("call, words", [
    (lambda: assess(SMALL, ["age", "nope"]), "'nope'"),
    (lambda: assess(SMALL, ["age"], ["missing_col"]), "'missing_col'"),
    (lambda: assess(SMALL, ["age", "dx"], ["dx"]), "both"),
    (lambda: assess(SMALL, ["age"], k=0), "at least 1"),
    (lambda: assess(SMALL, ["age"], k=2.5), "whole number"),
    (lambda: assess(SMALL, ["age"], suppressed=-1), "negative"),
    (lambda: what_if(SMALL, ["age"], coarsened={"sex": SMALL["sex"]}), "'sex'"),
    (lambda: what_if(SMALL, ["age"], coarsened={"age": SMALL["age"][:3]}), "rows"),
])
def test_bad_requests_raise_one_plain_sentence(call, words):
    with pytest.raises(RiskError) as exc:
        call()
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_combinations_cover_every_subset_and_can_be_skipped():
    df = frame(a=list("aabbc"), b=list("xyxyx"), c=list("11112"), d=list("pppqq"))
    r = assess(df, ["a", "b", "c", "d"])
    assert len(r.qi_combinations) == 15
    sizes = [len(c.columns) for c in r.qi_combinations]
    assert sizes == sorted(sizes)
    full = [c for c in r.qi_combinations if len(c.columns) == 4][0]
    assert (full.uniques, full.k_min) == (r.uniques, r.k_min)
    assert assess(df, ["a", "b", "c", "d"], combinations=False).qi_combinations == []


def test_beyond_twelve_qis_only_small_subsets_are_assessed():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({f"q{i}": rng.integers(0, 3, 50).astype(str) for i in range(13)}).astype("str")
    r = assess(df, list(df.columns))
    assert len(r.qi_combinations) == 13 + 78 + 286 + 1
    assert "13 quasi-identifiers" in r.combinations_note
    assert max(len(c.columns) for c in r.qi_combinations) == 13
    for c in r.qi_combinations[::37]:
        sizes = df.groupby(c.columns).size()
        assert (c.uniques, c.k_min) == (int((sizes == 1).sum()), int(sizes.min()))


@pytest.mark.parametrize("m", [9, 12])
def test_many_qis_every_subset_matches_groupby(m):
    rng = np.random.default_rng(m)
    df = pd.DataFrame({f"q{i}": rng.integers(0, 2 + i % 4, 300).astype(str) for i in range(m)}).astype("str")
    df.iloc[::7, 0] = None
    r = assess(df, list(df.columns), k=3)
    assert len(r.qi_combinations) == 2 ** m - 1 and r.combinations_note is None
    for c in r.qi_combinations[:: max(1, len(r.qi_combinations) // 40)]:
        sizes = df.groupby(c.columns, dropna=False).size()
        assert (c.uniques, c.k_min, c.records_at_risk) == (int((sizes == 1).sum()), int(sizes.min()), int(sizes[sizes < 3].sum()))


def test_key_combinations_are_minimal():
    df = frame(a=list("abcdefgh"), b=list("xxxxyyyy"), c=list("11223344"))
    r = assess(df, ["a", "b", "c"])
    keys = key_combinations(r, min_share=0.5)
    assert [c.columns for c in keys] == [["a"]]      # a alone makes everyone unique; no superset listed
    keys = key_combinations(r, min_share=0.0001)
    assert all(not (set(o.columns) < set(c.columns)) for c in keys for o in keys)


def test_what_if_drop_and_coarsen():
    df = frame(age=["31", "32", "33", "34"], sex=["F", "F", "M", "M"])
    out = {(w.column, w.change): w for w in what_if(df, ["age", "sex"], k=2,
                                                      coarsened={"age": ["30-39"] * 4}, details={"age": "10-year bands"})}
    assert (out["age", "dropped"].k_min, out["age", "dropped"].uniques) == (2, 0)
    assert (out["sex", "dropped"].k_min, out["sex", "dropped"].uniques) == (1, 4)
    assert out["age", "coarsened"].k_min == 2 and out["age", "coarsened"].detail == "10-year bands"


def test_riskiest_records_come_first_and_direct_identifiers_are_masked():
    df = SMALL.assign(name=["Ann Lee", "Bo Ray", "Cy Oz", "Di Fa", "Ed Go", "Flo Hu", "Gus Ip", "Hal Jo"])
    r = assess(df, ["age", "sex"], ["dx"])
    top = riskiest(df, r, n=3, masked=["name"])
    assert list(top.columns) == ["Group size", "age", "sex", "dx", "name"]
    assert list(top["Group size"]) == [1, 2, 2]
    assert top.iloc[0]["age"] == "50"
    assert not set(top["name"]) & set(df["name"])
    with pytest.raises(RiskError):
        riskiest(df.iloc[:3], r)


def test_masking_hides_values_and_their_length(monkeypatch):
    values = pd.Series(["John Smith", "14-0273", "ab", None], dtype=object)
    assert list(risk.mask_values(values))[:3] == ["J••••", "1••••", "••••"]
    assert risk._local_mask("John Smith") == "J••••" and risk._local_mask("ab") == "••••"
    import sys
    monkeypatch.setitem(sys.modules, "ctopen.detect", None)          # without the detector: the local mask
    assert list(risk.mask_values(values))[:2] == ["J••••", "1••••"]


# --- properties against a brute-force reference ------------------------------------------------

def reference(rows: list[tuple], sens: list, k: int) -> dict:
    """Straight from the definitions: a dict of classes keyed by QI tuples (None is a value)."""
    sizes = Counter(rows)
    n = len(rows)
    out = {
        "classes": len(sizes),
        "k_min": min(sizes.values(), default=0),
        "records_at_risk": sum(s for s in sizes.values() if s < k),
        "uniques": sum(1 for s in sizes.values() if s == 1),
        "average_risk": len(sizes) / n if n else 0.0,
    }
    groups: dict[tuple, list] = {}
    for key, s in zip(rows, sens):
        groups.setdefault(key, []).append(s)
    ent = [-sum(c / len(v) * math.log(c / len(v)) for c in Counter(v).values()) for v in groups.values()]
    out["distinct"] = min((len(set(v)) for v in groups.values()), default=0)
    out["entropy"] = math.exp(min(ent)) if ent else 0.0
    return out


values = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "06810", "6810", ""]))


@st.composite
def frames(draw):
    n_q = draw(st.integers(1, 4))
    n = draw(st.integers(0, 40))
    cols = {f"q{i}": draw(st.lists(values, min_size=n, max_size=n)) for i in range(n_q)}
    cols["s"] = draw(st.lists(values, min_size=n, max_size=n))
    return pd.DataFrame({c: pd.Series(v, dtype="str") for c, v in cols.items()}), [f"q{i}" for i in range(n_q)]


def _norm(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.integers(1, 6))
def test_assess_matches_brute_force(case, k):
    check_against_brute_force(*case, k)
    with mock.patch.object(risk, "TOP_DOWN_MAX_QIS", 0):      # the bottom-up path for many QIs
        check_against_brute_force(*case, k)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.integers(1, 6))
def test_assess_matches_brute_force_when_keys_are_hashed(case, k):
    """Large tables renumber keys by hashing instead of a dense table: force that path on small frames."""
    with mock.patch.object(risk, "_dense_cap", lambda n: 2):
        check_against_brute_force(*case, k)
        with mock.patch.object(risk, "TOP_DOWN_MAX_QIS", 0):
            check_against_brute_force(*case, k)


def check_against_brute_force(df, quasi, k):
    rows = [tuple(_norm(v) for v in r) for r in df[quasi].itertuples(index=False, name=None)]
    sens = [_norm(v) for v in df["s"].tolist()]
    ref = reference(rows, sens, k)
    r = assess(df, quasi, ["s"], k=k)
    assert (r.classes, r.k_min, r.records_at_risk, r.uniques) == (ref["classes"], ref["k_min"], ref["records_at_risk"], ref["uniques"])
    assert r.average_risk == pytest.approx(ref["average_risk"])
    assert r.l_diversity["s"].distinct == ref["distinct"]
    assert r.l_diversity["s"].entropy == pytest.approx(ref["entropy"])
    assert sum(b.records for b in r.histogram) == len(df)
    assert sum(b.classes for b in r.histogram) == r.classes
    sizes = Counter(rows)
    assert list(r.record_class_size) == [sizes[t] for t in rows]
    # every subset, against the same reference on the projected rows
    got = {tuple(c.columns): (c.uniques, c.k_min, c.records_at_risk) for c in r.qi_combinations}
    assert len(got) == 2 ** len(quasi) - 1
    for m in range(1, len(quasi) + 1):
        for sub in combinations(range(len(quasi)), m):
            proj = reference([tuple(t[i] for i in sub) for t in rows], sens, k)
            assert got[tuple(quasi[i] for i in sub)] == (proj["uniques"], proj["k_min"], proj["records_at_risk"])
    # drop-one agrees with the subsets
    for w in what_if(df, quasi, k):
        rest = tuple(q for q in quasi if q != w.column)
        if rest:
            assert (w.uniques, w.k_min, w.records_at_risk) == got[rest]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(1, 400))
def test_grouping_is_exact_when_keys_overflow_the_dense_range(cards, n):
    """Many wide columns force the key to be renumbered (and hashed) part-way: groups must still match."""
    rng = np.random.default_rng(n)
    card = [10 ** (c + 1) for c in cards]
    codes = [rng.integers(0, c, n) for c in card]
    ids, groups = risk.group(codes, card, n)
    tuples = list(zip(*[c.tolist() for c in codes]))
    assert groups == len(set(tuples))
    first: dict = {}
    for t, i in zip(tuples, ids.tolist()):
        assert first.setdefault(t, i) == i
    assert len(set(first.values())) == groups


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(1, 400))
def test_sparse_grouping_splits_rows_as_the_dense_one(cards, n):
    """group(dense=False) (the search's counting) may leave unused ids but splits the rows the same way."""
    rng = np.random.default_rng(n)
    card = [10 ** (c + 1) for c in cards]
    codes = [rng.integers(0, c, n) for c in card]
    dense, groups = risk.group(codes, card, n)
    sparse, span = risk.group(codes, card, n, dense=False)
    assert span >= groups and sparse.max() < span
    pairs = set(zip(dense.tolist(), sparse.tolist()))
    assert len(pairs) == groups == len(set(sparse.tolist()))


def test_one_grouping_for_risk_suppress_and_search():
    from ctopen import search, transform
    assert search.group is risk.group and search.encode is risk.encode
    assert not hasattr(search, "_group") and not hasattr(transform, "class_sizes")


# --- real files against a plain groupby ---------------------------------------------------------

def groupby_figures(df, quasi, sensitive, k):
    sizes = df.groupby(quasi, dropna=False).size()
    out = {"classes": len(sizes), "k_min": int(sizes.min()), "records_at_risk": int(sizes[sizes < k].sum()),
           "uniques": int((sizes == 1).sum())}
    for s in sensitive:
        out[s] = int(df.groupby(quasi, dropna=False)[s].nunique(dropna=False).min())
    return out


@pytest.mark.parametrize("name, quasi, sensitive", [
    (DRUG, ["Age", "Sex", "Race", "ResidenceCity"], ["COD"]),
    (DRUG, ["Date", "Age", "Sex", "Race", "ResidenceCity", "DeathCity"], ["COD", "MannerofDeath"]),
    (PRETRIAL, ["LATEST ADMISSION DATE", "RACE", "GENDER"], ["OFFENSE"]),
    (LICENSES, ["city", "zip", "type"], ["status"]),
    (REAL_ESTATE, ["Town", "Date Recorded", "Property Type"], ["Sale Amount"]),
])
def test_real_files_match_a_plain_groupby(name, quasi, sensitive):
    from ctopen.load import load
    df = load(real_file(name)).df
    r = assess(df, quasi, sensitive, k=5)
    ref = groupby_figures(df, quasi, sensitive, 5)
    assert (r.classes, r.k_min, r.records_at_risk, r.uniques) == (ref["classes"], ref["k_min"], ref["records_at_risk"], ref["uniques"])
    for s in sensitive:
        assert r.l_diversity[s].distinct == ref[s]
    for c in r.qi_combinations[:: max(1, len(r.qi_combinations) // 8)]:
        sub = groupby_figures(df, c.columns, [], 5)
        assert (c.uniques, c.k_min) == (sub["uniques"], sub["k_min"])


def test_drug_deaths_scenario_figures(drug_table):
    """SCENARIOS.md, case 1: over Age, Sex, Race and ResidenceCity 3,031 of 5,105 records are unique and
    4,881 sit in groups smaller than 5."""
    r = assess(drug_table.df, ["Age", "Sex", "Race", "ResidenceCity"], ["COD"])
    assert (r.rows, r.uniques, r.records_at_risk, r.k_min) == (5105, 3031, 4881, 1)


# --- CLI ----------------------------------------------------------------------------------------

def test_cli_json_equals_to_dict(capsys, drug_table):
    path = real_file(DRUG)
    assert main(["risk", str(path), "--qi", "Age", "--qi", "Sex", "--qi", "Race", "--sensitive", "COD", "--k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads(json.dumps(assess(drug_table.df, ["Age", "Sex", "Race"], ["COD"], k=3).to_dict()))
    assert out["k_threshold"] == 3


def test_cli_text_summary_and_unknown_column(capsys):
    path = real_file(DRUG)
    assert main(["risk", str(path), "--qi", "Age", "Sex", "Race", "ResidenceCity"]) == 0
    text = capsys.readouterr().out
    assert "Unique records: 3,031 (59.4%)" in text and "Records in groups smaller than 5: 4,881" in text
    assert main(["risk", str(path), "--qi", "Age", "--qi", "Agee"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "'Agee'" in err and len(err.strip().splitlines()) == 1


def test_groups_of_k_or_more_that_all_share_one_sensitive_value_are_counted():
    # class a: 6 records, all "theft" (k = 6, yet it discloses the offense); class b: 5 with two values; c: 1
    df = frame(q=["a"] * 6 + ["b"] * 5 + ["c"], s=["theft"] * 6 + ["theft", "dui", "dui", "dui", "dui"] + ["dui"])
    d = assess(df, ["q"], ["s"], k=5).l_diversity["s"]
    assert d.distinct == 1 and (d.disclosing_groups, d.disclosing_records) == (1, 6)
    assert set(d.to_dict()) == {"distinct", "entropy"}
    assert assess(df, ["q"], ["s"], k=7).l_diversity["s"].disclosing_groups == 0   # under k: already at risk


def test_one_level_coarser_skips_a_level_the_values_are_already_at():
    from ctopen.risk import one_level_coarser
    months = pd.DataFrame({"when": [f"2018-{m:02d}" for m in range(1, 13)] * 3})
    values, details = one_level_coarser(months, ["when"])
    assert "month" not in details["when"] and values["when"].nunique() < 12
