"""ctopen.review: the review's status derived from its parts, and the saved review file."""
import json

import pandas as pd
import pytest

from ctopen import eligibility, metadata, review
from ctopen.errors import RecipeError
from ctopen.review import Review


def _by_page(st):
    return {s.page: s for s in st.steps}


def test_nothing_loaded():
    st = review.status()
    assert [s.page for s in st.steps] == ["load"] and st.next.page == "load"


def test_status_of_a_raw_record_file_blocks_on_identifiers_and_k():
    df = pd.DataFrame({"name": ["Ann", "Bo", "Cy"], "age": ["31", "40", "52"], "town": ["Avon", "Avon", "Bethel"]})
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "age": "quasi", "town": "quasi"}}
    g = Review(df, recipe).gate
    st = review.status(loaded="x.csv", rows=3, eligibility=eligibility.verdict({}, g), identified=True, gate=g,
                       steps=[], metadata=metadata.validate({"title": "Deaths"}, list(df.columns)))
    pages = _by_page(st)
    assert pages["identify"].state == review.BLOCKED and pages["identify"].text == "1 direct identifier remains"
    assert pages["risk"].state == review.BLOCKED and pages["risk"].text == "k = 1 (target 5)"
    assert pages["evaluate"].state == review.TODO      # the privacy answer follows the gate: not blocked twice
    assert pages["describe"].text == f"Metadata {metadata.validate({'title': 'Deaths'}, list(df.columns)).score}% complete"
    assert [b.page for b in st.blockers] == ["identify", "risk"]
    assert st.next.page == "evaluate"


def test_status_when_the_release_is_safe_and_a_no_blocks():
    df = pd.DataFrame({"name": [f"P{i}" for i in range(6)], "age": ["30-39"] * 6, "town": ["Avon"] * 6})
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "name"}], "roles": {"age": "quasi", "town": "quasi"}}
    g = Review(df, recipe).gate
    answers = {"checklist": {"owned": {"answer": "no", "note": "another agency's data"}}}
    st = review.status(loaded="x.csv", rows=6, eligibility=eligibility.verdict(answers, g), identified=True, gate=g,
                       steps=recipe["steps"])
    pages = _by_page(st)
    assert pages["identify"].state == review.DONE and pages["risk"].text == "k = 6 (target 5)"
    assert pages["transform"].text == "1 step in the recipe"
    assert pages["evaluate"].state == review.BLOCKED and pages["evaluate"].text.startswith("Not eligible")
    assert pages["publish"].text == "Resolve what blocks publication first"


def test_review_file_round_trip_and_fingerprint():
    recipe = {"version": 1, "source": {"file": "a.csv", "sha256": "ab" * 32}, "roles": {"x": "quasi"},
              "steps": [{"op": "drop", "column": "x"}], "metadata": {"title": "T"}, "eligibility": {"checklist": {}}}
    text = review.dumps(recipe, reviewer="Pat")
    doc = review.loads(text)
    assert doc["review"]["reviewer"] == "Pat" and doc["roles"] == {"x": "quasi"} and doc["metadata"] == {"title": "T"}
    assert review.matches(doc, "ab" * 32) and not review.matches(doc, "cd" * 32)
    assert review.matches({"version": 1, "steps": []}, "anything")   # a hand-written recipe fits any file
    assert "a.csv" in review.source_line(doc)


@pytest.mark.parametrize("text, message", [
    ("not json", "not valid JSON"),
    (json.dumps({"steps": []}), "lacks 'version'"),
    (json.dumps({"version": 1, "steps": [], "roles": []}), "roles"),
])
def test_bad_review_files(text, message):
    with pytest.raises(RecipeError, match=message):
        review.loads(text)


def test_publish_is_not_called_ready_before_the_identifiers_are_reviewed():
    st = review.status(loaded="x.csv", rows=3)
    assert _by_page(st)["publish"].text == "Review the identifiers and the risk first"


def test_format_fixes_alone_do_not_count_as_a_transformation():
    st = review.status(loaded="x.csv", rows=3, steps=[{"op": "format_number", "column": "a"}])
    assert _by_page(st)["transform"].text == "No change made yet"


def test_a_recipe_that_cannot_be_applied_blocks_at_transform():
    st = review.status(loaded="x.csv", rows=3, identified=True, gate_error="No key for anonymous IDs.",
                       steps=[{"op": "pseudonymize", "column": "id"}])
    pages = _by_page(st)
    assert pages["transform"].state == review.BLOCKED and pages["transform"].text == "No key for anonymous IDs."
    assert pages["identify"].state == review.TODO
