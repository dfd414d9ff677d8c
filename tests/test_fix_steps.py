"""Data-preparation fixes (ctopen.checks) as recipe steps: applied after the privacy steps, roles follow renames."""
import pandas as pd
import pytest

from ctopen import recipe as recipes
from ctopen.errors import RecipeError
from ctopen.load import load
from ctopen.review import Review
from ctopen.transform import apply
from tests.conftest import REAL_ESTATE, real_file


def test_format_number_on_the_real_estate_sales_through_apply():
    t = load(real_file(REAL_ESTATE))
    r = {"version": 1, "steps": [{"op": "format_number", "column": "Sale Amount"}, {"op": "drop", "column": "Address"}]}
    out = apply(t.df, r)
    assert "Address" not in out.df.columns
    assert not out.df["Sale Amount"].str.contains(",").any()
    assert pd.to_numeric(out.df["Sale Amount"]).sum() == pd.to_numeric(t.df["Sale Amount"].str.replace(",", "")).sum()
    assert [e["op"] for e in out.log] == ["drop", "format_number"]   # fixes run after the privacy steps


def test_a_renamed_direct_identifier_is_still_caught_by_the_gate():
    df = pd.DataFrame({"NM": list("ABCDEF"), "town": ["HARTFORD"] * 6}, dtype="str")
    r = {"version": 1, "roles": {"NM": "direct", "town": "quasi"},
         "steps": [{"op": "rename", "column": "NM", "to": "Name"}, {"op": "titlecase", "column": "town"}]}
    out = apply(df, r)
    assert list(out.df.columns) == ["Name", "town"] and out.renamed == {"NM": "Name"} and out.name("NM") == "Name"
    assert set(out.df["town"]) == {"Hartford"}
    verdict = Review(df, r).gate
    assert not verdict.passed and verdict.direct == ["Name"]


def test_a_pseudonymized_then_renamed_column_is_not_direct():
    df = pd.DataFrame({"id": [str(i) for i in range(6)], "town": ["Avon"] * 6}, dtype="str")
    r = {"version": 1, "roles": {"id": "direct", "town": "quasi"},
         "steps": [{"op": "pseudonymize", "column": "id"}, {"op": "rename", "column": "id", "to": "Anonymous ID"}]}
    review = Review(df, r, key=b"k" * 32)
    assert list(review.release.columns) == ["Anonymous ID", "town"]
    assert review.gate.passed and review.release_role_table["Anonymous ID"].origin == "anonymous ID"


@pytest.mark.parametrize("steps, message", [
    ([{"op": "drop", "column": "a"}, {"op": "titlecase", "column": "a"}], "after dropping"),
    ([{"op": "rename", "column": "a"}], "needs the new name"),
    ([{"op": "reorder", "columns": []}], "needs \"columns\""),
    ([{"op": "titlecase", "column": "zzz"}], "does not have"),
])
def test_bad_fix_steps(steps, message):
    df = pd.DataFrame({"a": ["X"], "b": ["Y"]}, dtype="str")
    with pytest.raises(RecipeError, match=message):
        apply(df, {"version": 1, "steps": steps})


def test_fix_steps_may_follow_an_aggregate_but_privacy_steps_may_not():
    ok = {"version": 1, "steps": [{"op": "aggregate", "by": ["a"]}, {"op": "rename", "column": "a", "to": "A"}]}
    recipes.validate(ok)
    bad = {"version": 1, "steps": [{"op": "aggregate", "by": ["a"]}, {"op": "drop", "column": "b"}]}
    with pytest.raises(RecipeError, match="must be the last step"):
        recipes.validate(bad)


# --- a release of counts (an aggregate step) ----------------------------------------------------------

def _drug_counts(threshold=5):
    from tests.conftest import DRUG
    t = load(real_file(DRUG))
    recipe = {"version": 1, "roles": {"ID": "direct", "Sex": "quasi", "ResidenceCity": "quasi"},
              "steps": [{"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1},
                        {"op": "aggregate", "by": ["ResidenceCity", "Sex"], "threshold": threshold}]}
    return t, recipe, apply(t.df, recipe)


def test_a_count_table_with_the_state_rule_passes_the_gate_and_says_why():
    from ctopen import review
    t, recipe, out = _drug_counts()
    verdict = Review(t.df, recipe).gate
    counts = pd.to_numeric(out.df["count"], errors="coerce")
    assert verdict.passed and verdict.counts and verdict.k == int(counts[counts > 0].min()) >= 6
    assert "count table by ResidenceCity, Sex" in verdict.reasons[0] and "1 to 5" in verdict.reasons[0]
    status = review.status(loaded="x", rows=1, identified=True, gate=verdict, steps=recipe["steps"])
    risk = next(s for s in status.steps if s.page == "risk")
    assert risk.state == review.DONE and risk.text == f"Counts: every published count is at least {verdict.k}"


def test_a_count_table_with_a_lower_threshold_is_blocked():
    t, recipe, out = _drug_counts(threshold=2)
    verdict = Review(t.df, recipe).gate
    counts = pd.to_numeric(out.df["count"], errors="coerce")
    small = int(((counts >= 3) & (counts <= 4)).sum())
    assert small and not verdict.passed and verdict.k == 3
    said = f"{small:,} published count{'s are' if small > 1 else ' is'} below 5 (the smallest is 3)"
    assert said in verdict.reasons[0]


def test_the_count_table_method_is_suggested_for_the_metadata_notes():
    from ctopen import metadata
    t, recipe, out = _drug_counts()
    notes = metadata.suggest(t, None, out)["notes"]
    assert notes and "suppress" in notes.lower()


def test_an_eligibility_no_blocks_the_gate_but_an_auto_privacy_answer_does_not():
    df = pd.DataFrame({"age": ["30-39"] * 6}, dtype="str")
    recipe = {"version": 1, "roles": {"age": "quasi"}, "steps": [],
              "eligibility": {"checklist": {"privacy": {"answer": "no", "note": "", "auto": True}}}}
    assert Review(df, recipe).gate.passed                 # a stale answer copied from an earlier gate
    recipe["eligibility"]["checklist"]["no_fee"] = {"answer": "no", "note": "the data is sold"}
    verdict = Review(df, recipe).gate
    assert not verdict.passed and verdict.reasons[0].startswith("Not eligible") and "the data is sold" in verdict.reasons[0]
    recipe["exception"] = {"justification": "a public register that serves a clear public good", "by": "Pat",
                           "at": "2026-11-29T10:00:00+00:00", "covers": {"quasi": ["age"], "k": 6}}
    assert not Review(df, recipe).gate.passed            # an exception is about identifiers, not eligibility


def test_the_evaluate_privacy_item_judges_privacy_alone():
    from ctopen import eligibility
    df = pd.DataFrame({"age": ["30-39"] * 6}, dtype="str")
    recipe = {"version": 1, "roles": {"age": "quasi"}, "steps": [],
              "eligibility": {"checklist": {"no_fee": {"answer": "no", "note": "sold"}}}}
    verdict = Review(df, recipe).gate
    assert not verdict.passed and verdict.privacy_passed
    v = eligibility.verdict(recipe["eligibility"], verdict)
    assert [b["key"] for b in v.blockers] == ["no_fee"]


def test_note_rows_are_found_in_the_file_not_after_generalization():
    df = pd.DataFrame({"Age": ["34", "51", "62", "70", "45", "38"], "Sex": ["M", "F", "M", "F", None, None],
                       "Town": ["Avon", "Avon", "Lyme", "Lyme", None, None]}, dtype="str")
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "Age", "hierarchy": "age", "level": 4},
                                      {"op": "drop_note_rows"}]}
    out = apply(df, recipe)
    assert len(out.df) == 6 and set(out.df["Age"]) == {"*"}     # a "*" never reads as a footnote
    assert [e["op"] for e in out.log] == ["drop_note_rows", "generalize"]


def test_the_publish_preview_counts_cells_of_a_count_table():
    from ctopen import report
    t, recipe, out = _drug_counts()
    changes = report.changes(t.df, out)
    suppressed = int(out.df["count_suppressed"].sum())
    assert changes.counts and changes.cells_suppressed == suppressed > 0 and changes.rows_suppressed == 0
