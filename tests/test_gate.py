"""The privacy gate's edges: an exception covers what it was recorded for, unread free text, unknown roles."""
import pandas as pd
import pytest

from ctopen import recipe as recipes
from ctopen.detect import detect
from ctopen.errors import RecipeError
from ctopen.publish import gate

JUSTIFICATION = "a public register of license holders that serves a clear public good"


def _register(extra: dict | None = None) -> pd.DataFrame:
    data = {"name": [f"Person {i}" for i in range(8)], "town": ["Avon"] * 4 + ["Bethel"] * 4}
    data.update(extra or {})
    return pd.DataFrame(data, dtype="str")


def test_an_exception_covers_the_identifiers_it_was_recorded_for_and_no_new_ones():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"}}
    january = _register()
    first = gate.evaluate(january, recipe)
    assert not first.passed
    assert gate.record_exception(recipe, JUSTIFICATION, "Pat", verdict=first) is None
    assert recipe["exception"]["covers"] == {"direct": ["name"], "quasi": ["town"], "k": 4}
    assert gate.evaluate(january, recipe).passed
    february = _register({"ssn": [f"00{i}-11-2222" for i in range(8)]})
    later = gate.evaluate(february, {**recipe, "roles": {**recipe["roles"], "ssn": "direct"}})
    assert not later.passed and any("does not cover ssn" in r for r in later.reasons)


def test_an_exception_does_not_cover_smaller_groups_than_when_it_was_recorded():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"}}
    gate.record_exception(recipe, JUSTIFICATION, "Pat", verdict=gate.evaluate(_register(), recipe))
    smaller = _register({"town": ["Avon"] * 7 + ["Canaan"]})
    verdict = gate.evaluate(smaller, recipe)
    assert not verdict.passed and any("smallest group had 4 records; now it has 1" in r for r in verdict.reasons)


def test_a_hand_written_exception_covers_the_columns_named_in_the_roles():
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "town": "quasi"},
              "exception": {"justification": JUSTIFICATION, "by": "Pat"}}
    assert gate.evaluate(_register(), recipe).passed
    with_email = _register({"email": [f"p{i}@example.com" for i in range(8)]})
    assert not gate.evaluate(with_email, recipe).passed


def test_free_text_the_detector_found_nothing_in_must_be_read_by_a_person():
    notes = [f"Spoke with neighbor John Smith {i} near the library about the parking rules" for i in range(5)] + \
            [f"Called back on Monday morning {i} to confirm the meeting time with the office" for i in range(5)]
    df = pd.DataFrame({"Sex": ["Male", "Female"] * 5, "Notes": notes}, dtype="str")
    recipe = {"version": 1, "steps": [], "roles": {"Sex": "quasi"}}
    found = detect(df)
    assert {c.name: (c.entity, c.role) for c in found.columns}["Notes"] == ("free_text", "other")
    verdict = gate.evaluate(df, recipe, detection=found)
    assert not verdict.passed and any("Free text not reviewed: Notes" in r for r in verdict.reasons)
    recipe["roles"]["Notes"] = "other"    # the reviewer read it and decided
    assert gate.evaluate(df, recipe, detection=found).passed


@pytest.mark.parametrize("roles", [{"SSN": "Direct"}, {"SSN": None}, {"SSN": "identifier"}])
def test_roles_outside_the_four_words_are_refused_and_never_exempt_a_column(roles):
    df = pd.DataFrame({"SSN": [f"123-45-{i:04d}" for i in range(10)]}, dtype="str")
    recipe = {"version": 1, "steps": [], "roles": roles}
    with pytest.raises(RecipeError, match="roles"):
        recipes.validate(recipe)
    assert not gate.evaluate(df, recipe).passed    # the unknown role counts as not given: detection decides


def test_a_threshold_below_two_is_not_accepted():
    assert gate.threshold_of({"k": 1}) == 2 and gate.threshold_of({"k": 0}) == 2 and gate.threshold_of({}) == 5


def test_an_empty_release_says_so():
    df = pd.DataFrame({"town": pd.Series([], dtype="str")})
    verdict = gate.evaluate(df, {"version": 1, "steps": [], "roles": {"town": "quasi"}})
    assert verdict.passed and "The release has no rows." in verdict.reasons
