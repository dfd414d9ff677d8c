"""The Evaluate page (Step 2) with AppTest: empty state, answers kept in the recipe, the verdict in words,
the privacy item from the gate."""
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from ctopen import eligibility as el
from ctopen.load import load
from tests.app.helpers import empty

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/evaluate.py"   # run through app.py's navigation: the page links to other pages
CSV = b"Name,Town,Count\nAnn Lee,Hartford,3\nBo Chan,Hartford,4\nCy Diaz,Hartford,5\n"


def app(eligibility=None, roles=None, detection=None, inventory=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    t = load(CSV, name="people.csv")
    at.session_state["table"] = t
    recipe = {"version": 1, "source": t.source.to_dict(), "roles": roles or {}, "steps": [], "metadata": {},
              "target": {}, "eligibility": eligibility or {}}
    if inventory:
        recipe["inventory"] = inventory
    at.session_state["recipe"] = recipe
    if detection is not None:
        at.session_state["detection"] = detection
        at.session_state["detection_for"] = t.source.sha256
    at.switch_page(PAGE)
    return at.run()


def radio(at, key):
    return at.radio(key=f"elig_checklist_{key}")


def answer_all(at, value="yes"):
    for q in el.CHECKLIST:
        radio(at, q.key).set_value(value)
    return at.run()


def test_empty_state_without_a_file():
    at = empty(PAGE)
    assert len(at.radio) == 0


def test_fresh_page_lists_every_question_and_is_not_finished():
    at = app()
    assert not at.exception
    assert len(at.radio) == len(el.CHECKLIST) + len(el.EQUITY)
    assert len(at.checkbox) == len(el.PRIORITY)
    assert all(r.value is None for r in at.radio)
    assert at.info[0].value.startswith("Not finished: 5 of 5")
    # every input is labelled
    assert all(w.label for w in list(at.radio) + list(at.text_input) + list(at.checkbox))


def test_all_yes_is_eligible_and_saved_in_the_recipe():
    at = answer_all(app())
    assert not at.exception
    assert at.success[0].value.startswith("Eligible")
    saved = at.session_state["recipe"]["eligibility"]
    assert all(saved["checklist"][q.key]["answer"] == "yes" for q in el.CHECKLIST)


def test_a_no_blocks_with_the_reason_in_words():
    at = app()
    radio(at, "no_fee").set_value("no")
    at.text_input(key="elig_checklist_no_fee_note").input("sold under a licence")
    at = at.run()
    assert at.error[0].value.startswith("Blocked")
    text = " ".join(m.value for m in at.markdown)
    assert "fee-bearing data is not published" in text and "sold under a licence" in text
    assert at.session_state["recipe"]["eligibility"]["checklist"]["no_fee"] == {"answer": "no", "note": "sold under a licence"}


def test_unsure_points_to_dapa():
    at = answer_all(app())
    radio(at, "owned").set_value("unsure")
    at = at.run()
    assert at.warning[0].value.startswith("Not settled") and "dapa@ct.gov" in at.warning[0].value


def test_answers_come_back_after_leaving_the_page():
    saved = el.empty()
    saved["checklist"]["updates"] = {"answer": "no", "note": "one-off extract"}
    saved["priority"]["foi"] = True
    saved["equity"]["harm"] = {"answer": "unsure", "note": "small towns"}
    at = app(eligibility=saved)
    assert radio(at, "updates").value == "no"
    assert at.text_input(key="elig_checklist_updates_note").value == "one-off extract"
    assert at.checkbox(key="elig_priority_foi").value is True
    assert at.radio(key="elig_equity_harm").value == "unsure"
    assert any("small towns" in m.value for m in at.markdown)       # equity concern needs attention


def test_privacy_answered_from_the_gate_when_identify_has_run():
    detection = SimpleNamespace(columns=[SimpleNamespace(name="Name", role="direct"),
                                         SimpleNamespace(name="Town", role="quasi"),
                                         SimpleNamespace(name="Count", role="other")])
    at = app(roles={"Name": "direct", "Town": "quasi", "Count": "other"}, detection=detection)
    assert not at.exception
    assert radio(at, "privacy").value == "no"
    assert any("privacy gate" in c.value for c in at.caption)
    item = at.session_state["recipe"]["eligibility"]["checklist"]["privacy"]
    assert item["answer"] == "no" and item["auto"] and "Name" in item["evidence"]
    assert at.error[0].value.startswith("Blocked") and "Name" in at.error[0].value
    at.text_input(key="elig_checklist_privacy_note").input("names go before release")
    at.run()
    item = at.session_state["recipe"]["eligibility"]["checklist"]["privacy"]
    assert item["auto"] and item["note"] == "names go before release"       # a note keeps it following the gate
    # answering yes by hand does not loosen a failing gate
    radio(at, "privacy").set_value("yes")
    at = answer_all(at)
    assert at.error[0].value.startswith("Blocked") and "cannot override" in at.error[0].value


def test_without_identify_the_privacy_item_is_answered_by_hand():
    at = app()
    assert radio(at, "privacy").value is None
    assert any("Identify has not run" in c.value for c in at.caption)


def test_inventory_row_is_named():
    at = app(inventory={"dataset": "State Licenses and Credentials", "agency": "Department of Consumer Protection",
                        "source": "CT Data Catalog (rym6-myq3)"})
    assert any("State Licenses and Credentials" in c.value for c in at.caption)


def test_hand_edited_bad_answer_is_a_plain_error():
    at = app(eligibility={"checklist": {"owned": {"answer": "maybe"}}})
    assert not at.exception
    assert "yes, no or unsure" in at.error[0].value
