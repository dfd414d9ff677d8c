"""The privacy gate measures the release a Review gives it, over the roles decided on the source table.

Every bypass found by the adversarial run of issue 14 (item 8) is a test here that must stay blocked, and each
rule of the gate (exceptions cover what they name, a lower k needs one, an l target is enforced, a count table
is judged by its cells) has its own test."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ctopen import recipe as recipes
from ctopen.detect import detect
from ctopen.errors import RecipeError
from ctopen.publish import gate
from ctopen.review import Review
from tests.conftest import ROOT

JUSTIFICATION = "a public register of license holders that serves a clear public good"
AT = "2026-11-29T10:00:00+00:00"


def verdict(df, recipe, detection=None):
    return Review(df, recipe, detection=detection).gate


def _register(extra: dict | None = None) -> pd.DataFrame:
    data = {"name": [f"Person {i}" for i in range(8)], "town": ["Avon"] * 4 + ["Bethel"] * 4}
    data.update(extra or {})
    return pd.DataFrame(data, dtype="str")


def _people(n=60, seed=0) -> pd.DataFrame:
    """Records with a direct identifier (SSN), quasi-identifiers and a free column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "SSN": [f"{rng.integers(100, 899)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "Sex": rng.choice(["Male", "Female"], n), "Town": rng.choice(["Avon", "Bethel", "Canaan"], n),
        "Notes": ["none"] * n}, dtype="str")


# --- exceptions cover what they name, and nothing else -----------------------------------------

def test_an_exception_covers_the_identifiers_it_was_recorded_for_and_no_new_ones():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"}}
    january = _register()
    first = verdict(january, recipe)
    assert not first.passed
    assert gate.record_exception(recipe, JUSTIFICATION, "Pat", verdict=first) is None
    assert recipe["exception"]["covers"]["direct"] == ["name"] and recipe["exception"]["covers"]["k"] == 4
    assert "T" in recipe["exception"]["at"]          # a time, not only a date
    assert verdict(january, recipe).passed
    february = _register({"ssn": [f"00{i}-11-2222" for i in range(8)]})
    later = verdict(february, {**recipe, "roles": {**recipe["roles"], "ssn": "direct"}})
    assert not later.passed and any("does not cover ssn" in r for r in later.reasons)


def test_an_exception_does_not_cover_smaller_groups_than_when_it_was_recorded():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"}}
    gate.record_exception(recipe, JUSTIFICATION, "Pat", verdict=verdict(_register(), recipe))
    smaller = _register({"town": ["Avon"] * 7 + ["Canaan"]})
    v = verdict(smaller, recipe)
    assert not v.passed and any("smallest group had 4 records; now it has 1" in r for r in v.reasons)


def test_an_exception_that_names_some_columns_does_not_cover_the_others():
    df = _register({"email": [f"p{i}@example.com" for i in range(8)]})
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "email": "direct", "town": "quasi"},
              "exception": {"justification": JUSTIFICATION, "by": "Pat", "at": AT,
                            "covers": {"direct": ["name"], "quasi": ["town"], "k": 4}}}
    v = verdict(df, recipe)
    assert not v.passed and any("does not cover email" in r for r in v.reasons)
    recipe["exception"]["covers"]["direct"].append("email")
    assert verdict(df, recipe).passed


def test_a_hand_written_exception_without_covers_covers_nothing():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"},
              "exception": {"justification": JUSTIFICATION, "by": "Pat", "at": AT}}
    v = verdict(_register(), recipe)
    assert not v.passed and any("does not say what it covers" in r for r in v.reasons)


@pytest.mark.parametrize("justification", ["", "   ", "x x x x x", "ok ok ok ok ok ok", "because"])
def test_an_empty_or_filler_justification_is_refused(justification):
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"}}
    problem = gate.record_exception(recipe, justification, "Pat", verdict=verdict(_register(), recipe))
    assert problem and "justification" in problem and "exception" not in recipe
    recipe["exception"] = {"justification": justification, "by": "Pat", "at": AT,
                           "covers": {"direct": ["name"], "quasi": ["town"], "k": 4}}
    assert not verdict(_register(), recipe).passed


@pytest.mark.parametrize("k", ["4", True, 4.5, None, [4]])
def test_covers_k_that_is_not_a_whole_number_does_not_skip_the_k_check(k):
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"},
              "exception": {"justification": JUSTIFICATION, "by": "Pat", "at": AT,
                            "covers": {"direct": ["name"], "quasi": ["town"], "k": k}}}
    assert not verdict(_register(), recipe).passed


# --- the threshold -------------------------------------------------------------------------------

def test_a_lower_k_without_an_exception_does_not_lower_the_threshold():
    df = pd.DataFrame({"Age": ["30"] * 3 + ["40"] * 3}, dtype="str")
    recipe = {"version": 1, "steps": [], "roles": {"Age": "quasi"}, "k": 2}
    v = verdict(df, recipe)
    assert not v.passed and v.threshold == 5 and v.k == 3
    assert any("asks for k = 2, below the state's default of 5" in r for r in v.reasons)
    recipe["exception"] = {"justification": "small counts of a public program that are already published by law",
                           "by": "Pat", "at": AT, "covers": {"quasi": ["Age"], "k": 3}}
    assert verdict(df, recipe).passed
    recipe["exception"]["covers"]["k"] = 4      # it accepts groups of 4, not 3
    assert not verdict(df, recipe).passed


def test_a_higher_k_needs_nothing_and_is_measured():
    df = pd.DataFrame({"Age": ["30"] * 6 + ["40"] * 6}, dtype="str")
    assert verdict(df, {"version": 1, "steps": [], "roles": {"Age": "quasi"}}).passed
    v = verdict(df, {"version": 1, "steps": [], "roles": {"Age": "quasi"}, "k": 10})
    assert not v.passed and v.threshold == 10


@pytest.mark.parametrize("k", [float("inf"), float("nan"), "5", True, 1, 0, -3, 10**9])
def test_a_k_that_is_not_a_sensible_whole_number_is_refused_when_the_recipe_is_read(k):
    with pytest.raises(RecipeError, match="k"):
        recipes.validate({"version": 1, "steps": [], "k": k})
    with pytest.raises(RecipeError, match="k|Infinity|NaN"):     # JSON itself refuses NaN and Infinity
        recipes.loads(json.dumps({"version": 1, "steps": [], "target": {"k": k}}))


# --- roles are decided on the source, and lowering one needs a recorded reason --------------------

def test_lowering_a_detected_direct_identifier_without_a_reason_keeps_the_detected_role():
    df = _people()
    found = detect(df)
    assert found.roles()["SSN"] == "direct"
    recipe = {"version": 1, "steps": [], "roles": {"SSN": "other", "Sex": "quasi", "Town": "quasi"}}
    v = verdict(df, recipe, found)
    assert not v.passed and "SSN" in v.direct
    assert v.roles["SSN"]["from"] == "detection" and "without a recorded reason" in v.roles["SSN"]["note"]
    recipe["decisions"] = [{"column": "SSN", "role": "other", "previous": "direct", "by": "Pat", "at": AT,
                            "reason": "x"}]
    assert not verdict(df, recipe, found).passed            # a reason that says nothing is not a reason
    recipe["decisions"][0]["reason"] = "these are made-up test numbers from the training system"
    v = verdict(df, recipe, found)
    assert "SSN" not in v.direct and v.roles["SSN"]["from"] == "reviewer"


def test_a_rename_of_a_direct_identifier_onto_a_dropped_other_column_keeps_it_direct():
    df = _people()
    recipe = {"version": 1, "roles": {"Notes": "other", "Sex": "quasi", "Town": "quasi"},
              "steps": [{"op": "drop", "column": "Notes"}, {"op": "rename", "column": "SSN", "to": "Notes"}]}
    v = verdict(df, recipe)
    assert not v.passed and v.direct == ["Notes"]      # the release's Notes holds the SSNs


def test_roles_given_under_the_published_name_follow_the_rename_and_cannot_lower_silently():
    df = _people()
    recipe = {"version": 1, "roles": {"Record": "other", "Sex": "quasi", "Town": "quasi"},
              "steps": [{"op": "drop", "column": "Notes"}, {"op": "rename", "column": "SSN", "to": "Record"}]}
    v = verdict(df, recipe)
    assert not v.passed and v.direct == ["Record"]


def test_a_rename_onto_an_existing_column_is_refused_when_the_recipe_is_read():
    df = _people()
    for op in ("rename", "format_number"):
        recipe = {"version": 1, "steps": [{"op": op, "column": "SSN", "to": "Notes"}]}
        with pytest.raises(RecipeError, match="two columns would have one name"):
            Review(df, recipe).gate


def test_a_generalized_quasi_identifier_stays_a_quasi_identifier():
    """Item 1: the gate judged roles on the generalized release and passed k = 1."""
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"Date of Birth": [f"19{rng.integers(40, 99)}-{rng.integers(1, 12):02d}-{rng.integers(1, 28):02d}"
                                         for _ in range(n)],
                       "ZIP": rng.choice(["06010", "06011", "06103", "06105", "06450", "06511", "06810"], n),
                       "Sex": rng.choice(["M", "F"], n)}, dtype="str")
    recipe = {"version": 1, "steps": [
        {"op": "generalize", "column": "Date of Birth", "hierarchy": "date", "level": 4},
        {"op": "generalize", "column": "ZIP", "hierarchy": "zip", "level": 1},
        {"op": "suppress", "columns": ["Sex"], "k": 5}]}
    review = Review(df, recipe)
    assert review.roles["Date of Birth"] == "quasi" and review.roles["ZIP"] == "quasi"
    v = review.gate
    assert set(v.quasi) >= {"Date of Birth", "ZIP"}
    assert v.k == review.risk.k_min
    assert not v.passed or v.k >= 5


# --- free text -------------------------------------------------------------------------------------

def test_free_text_the_detector_found_nothing_in_must_be_read_by_a_person():
    # a name the detector cannot find (lower case: the name lists read Title Case words only)
    notes = [f"Spoke with neighbor john smith {i} near the library about the parking rules" for i in range(5)] + \
            [f"Called back on Monday morning {i} to confirm the meeting time with the office" for i in range(5)]
    df = pd.DataFrame({"Sex": ["Male", "Female"] * 5, "Notes": notes}, dtype="str")
    recipe = {"version": 1, "steps": [], "roles": {"Sex": "quasi"}}
    found = detect(df)
    assert {c.name: (c.entity, c.role) for c in found.columns}["Notes"] == ("free_text", "other")
    v = verdict(df, recipe, found)
    assert not v.passed and any("Free text not reviewed: Notes" in r for r in v.reasons)
    # an exception about identifiers does not cover unread text
    recipe["exception"] = {"justification": JUSTIFICATION, "by": "Pat", "at": AT, "covers": {"quasi": ["Sex"], "k": 5}}
    assert not verdict(df, recipe, found).passed
    recipe.pop("exception")
    recipe["roles"]["Notes"] = "other"    # the reviewer read it and decided
    assert verdict(df, recipe, found).passed


# --- l-diversity ------------------------------------------------------------------------------------

def test_an_l_target_on_a_sensitive_attribute_is_enforced():
    df = pd.DataFrame({"Town": ["Avon"] * 6 + ["Bethel"] * 6,
                       "Diagnosis": ["flu"] * 6 + ["flu", "asthma", "flu", "asthma", "flu", "flu"]}, dtype="str")
    recipe = {"version": 1, "steps": [], "roles": {"Town": "quasi", "Diagnosis": "sensitive"}}
    assert verdict(df, recipe).passed                  # no l target: k = 6 is enough
    recipe["l"] = {"Diagnosis": 2}
    v = verdict(df, recipe)
    assert not v.passed and v.l == {"Diagnosis": (1, 2)}
    assert any("Diagnosis: some group has only 1 distinct value" in r for r in v.reasons)
    recipe["l"] = {"Town": 2}                           # an l target on a column that is not sensitive
    assert not verdict(df, recipe).passed


# --- count tables are judged by their cells ------------------------------------------------------

def _deaths(n=400, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"County": rng.choice(["Hartford", "New Haven", "Fairfield", "Litchfield"], n, p=[.4, .3, .25, .05]),
                         "Sex": rng.choice(["Male", "Female"], n), "Year": rng.choice(["2016", "2017"], n)}, dtype="str")


def test_a_count_table_is_judged_by_its_published_cells():
    df = _deaths()
    recipe = {"version": 1, "roles": {"County": "quasi", "Sex": "quasi", "Year": "quasi"},
              "steps": [{"op": "aggregate", "by": ["County", "Sex", "Year"], "threshold": 5}]}
    review = Review(df, recipe)
    v = review.gate
    counts = pd.to_numeric(review.release["count"], errors="coerce")
    assert v.counts and v.passed and v.k == int(counts[counts > 0].min()) and v.k >= 6


def test_a_count_table_with_small_published_cells_is_blocked():
    df = _deaths()
    recipe = {"version": 1, "roles": {"County": "quasi", "Sex": "quasi", "Year": "quasi"},
              "steps": [{"op": "aggregate", "by": ["County", "Sex", "Year"], "threshold": 1}]}
    review = Review(df, recipe)
    counts = pd.to_numeric(review.release["count"], errors="coerce")
    assert ((counts >= 2) & (counts <= 4)).any()        # the trim has small cells: the test can fail
    v = review.gate
    assert not v.passed and v.k < 5 and any("below 5" in r for r in v.reasons)


def test_a_renamed_count_column_is_still_read():
    df = _deaths()
    recipe = {"version": 1, "roles": {"County": "quasi", "Sex": "quasi", "Year": "quasi"},
              "steps": [{"op": "aggregate", "by": ["County", "Sex", "Year"], "threshold": 1},
                        {"op": "rename", "column": "count", "to": "Deaths"}]}
    review = Review(df, recipe)
    assert "Deaths" in review.release.columns and "count" not in review.release.columns
    v = review.gate
    assert not v.passed and v.k is not None and v.k < 5


def test_a_count_table_by_a_direct_identifier_is_blocked_even_when_called_quasi():
    df = _people(40)
    recipe = {"version": 1, "roles": {"SSN": "quasi"}, "steps": [{"op": "aggregate", "by": ["SSN"]}]}
    v = verdict(df, recipe)
    assert not v.passed and "SSN" in v.direct
    # even with a recorded reason, a dimension whose values are nearly all distinct lists people
    recipe["decisions"] = [{"column": "SSN", "role": "quasi", "by": "Pat", "at": AT,
                            "reason": "internal test numbers, not social security numbers"}]
    v = verdict(df, recipe)
    assert not v.passed and any("lists SSN value by value" in r for r in v.reasons)


def test_a_count_table_whose_suppressed_cell_can_be_worked_out_is_refused(monkeypatch, tmp_path, capsys):
    """The exact check's failure (a suppressed cell recoverable from the totals) stops the review: no verdict,
    no bundle; the CLI says why in one line."""
    import ctopen.aggregate as agg
    from ctopen.cli import main
    why = "some suppressed cells could still be worked out and no cell was left to protect them"
    monkeypatch.setattr(agg, "_protect", lambda *a, **k: why)
    df = _deaths()
    recipe = {"version": 1, "roles": {"County": "quasi", "Sex": "quasi", "Year": "quasi"},
              "steps": [{"op": "aggregate", "by": ["County", "Sex"]}]}
    with pytest.raises(RecipeError, match="cannot be published"):
        Review(df, recipe).gate
    src = tmp_path / "d.csv"
    df.to_csv(src, index=False)
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    code = main(["publish", str(src), "--recipe", str(tmp_path / "r.json"), "--bundle", str(tmp_path / "b.zip")])
    assert code == 2 and "cannot be published" in capsys.readouterr().err and not (tmp_path / "b.zip").exists()


# --- the CLI reads the same Review -----------------------------------------------------------------

def _cli(*args, env=None):
    import os
    return subprocess.run([sys.executable, "-m", "ctopen", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", **(env or {})}, timeout=300)


def test_cli_dry_run_without_roles_judges_the_source_roles(tmp_path):
    rng = np.random.default_rng(5)
    n = 400
    df = pd.DataFrame({"Date of Birth": [f"19{rng.integers(40, 99)}-{rng.integers(1, 12):02d}-{rng.integers(1, 28):02d}"
                                         for _ in range(n)],
                       "ZIP": [f"06{rng.integers(0, 999):03d}" for _ in range(n)],
                       "Town": rng.choice(["Avon", "Bethel"], n), "Gender": rng.choice(["M", "F"], n)})
    src = tmp_path / "clients.csv"
    df.to_csv(src, index=False)
    recipe = {"version": 1, "steps": [
        {"op": "generalize", "column": "Date of Birth", "hierarchy": "date", "level": 4},
        {"op": "generalize", "column": "ZIP", "hierarchy": "zip", "level": 1},
        {"op": "suppress", "columns": ["Town", "Gender"], "k": 5}]}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    out = _cli("publish", str(src), "--recipe", str(tmp_path / "r.json"), "--dry-run", "--json")
    result = json.loads(out.stdout)
    expected = Review(pd.read_csv(src, dtype=str), recipe).gate
    assert result["gate"]["passed"] is expected.passed is False and out.returncode == 3
    assert result["gate"]["k"] == expected.k
    assert result["gate"]["roles"]["Date of Birth"]["role"] == "quasi"
    assert result["gate"]["roles"]["ZIP"] == {"role": "quasi", "from": "detection", "detected": "quasi"}


def test_cli_refuses_infinite_k_with_a_message(tmp_path):
    src = tmp_path / "a.csv"
    pd.DataFrame({"Town": ["Avon"] * 6}).to_csv(src, index=False)
    (tmp_path / "r.json").write_text('{"version": 1, "steps": [], "k": Infinity}')
    out = _cli("publish", str(src), "--recipe", str(tmp_path / "r.json"), "--dry-run", "--json")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "Infinity" in out.stderr


def test_the_bundle_recipe_carries_the_roles_the_verdict_rested_on(tmp_path, capsys):
    """A recipe without roles comes back from the bundle with every column's role, so next month's run starts
    from them."""
    import zipfile
    from ctopen.cli import main
    df = _deaths()
    src = tmp_path / "d.csv"
    df.to_csv(src, index=False)
    recipe = {"version": 1, "steps": [{"op": "aggregate", "by": ["County", "Sex"]}]}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    assert main(["publish", str(src), "--recipe", str(tmp_path / "r.json"), "--bundle", str(tmp_path / "b.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "b.zip") as z:
        saved = json.loads(z.read("recipe.json"))
    assert saved["roles"] == Review(df, recipe).roles and set(saved["roles"]) == set(df.columns)
    assert Review(df, saved).gate.passed == Review(df, recipe).gate.passed


def test_a_population_threshold_the_officer_set_is_enforced():
    """Besides k: the estimated share of the population unique on the release's quasi-identifiers. An exception
    that accepts small groups does not lift it."""
    rng = np.random.default_rng(7)
    n = 2000
    df = pd.DataFrame({"Age": rng.integers(20, 80, n).astype(str), "Sex": rng.choice(["M", "F"], n),
                       "Town": rng.choice([f"Town {i}" for i in range(60)], n)}, dtype="str")
    recipe = {"version": 1, "roles": {"Age": "quasi", "Sex": "quasi", "Town": "quasi"}, "steps": [],
              "exception": {"justification": "ages of a public roster that the statute requires to be published",
                            "by": "Pat", "at": AT, "covers": {"quasi": ["Age", "Sex", "Town"], "k": 1}}}
    review = Review(df, recipe)
    assert review.gate.passed and review.gate.k < 5 and review.risk.uniques > 0
    recipe["population"] = {"size": 5_000, "max_uniques_share": 0.001}
    v = review.gate
    assert not v.passed and any("estimated to be unique" in r for r in v.reasons)
    recipe["population"]["max_uniques_share"] = 1.0
    assert review.gate.passed
    recipe["population"] = {"size": 10, "max_uniques_share": 0.01}          # fewer people than records: refused
    assert not review.gate.passed
