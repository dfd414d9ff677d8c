"""A new file starts a new review: nothing of the previous file's review shows or counts, unless the officer
asks to reuse its metadata and answers (issue 14, item 3)."""
import io

from tests.app.helpers import errors, loaded

CSV_B = ("Member ID,Claim Year,Town,Paid\n" + "".join(f"M{i:04d},2024,Hartford,{i * 3}\n" for i in range(40))).encode()


def _review_of_a(at):
    recipe = at.session_state["recipe"]
    recipe["metadata"] = {"title": "Accidental drug related deaths", "agency": "Office of the Chief Medical Examiner",
                          "tags": ["overdose"], "temporal_coverage": "2012-2018"}
    recipe["eligibility"] = {"owned": {"answer": "yes", "note": "OCME owns it"}}
    recipe["steps"] = [{"op": "drop", "column": "ID"}]
    recipe["roles"] = {"Age": "other"}
    at.session_state["risk_k"] = 11
    at.session_state["_w_risk_k"] = 11
    return at.run()


def _load_b(at):
    at.switch_page("pages/load.py").run()
    at.file_uploader[0].upload("claims_2024.csv", io.BytesIO(CSV_B).getvalue(), "text/csv").run()
    assert not errors(at)
    return at


def test_a_new_file_carries_nothing_of_the_previous_review():
    at = _load_b(_review_of_a(loaded()))
    recipe = at.session_state["recipe"]
    assert recipe["source"]["file"] == "claims_2024.csv"
    assert recipe["metadata"] == {} and recipe["eligibility"] == {}
    assert recipe["steps"] == [] and recipe["roles"] == {}
    for key in ("risk_k", "_w_risk_k", "detection", "detection_for"):
        assert key not in at.session_state
    # the offer to reuse is there, and nothing was reused without asking
    assert any(b.label == "Reuse its metadata and eligibility answers" for b in at.button)


def test_reuse_copies_metadata_and_answers_but_not_roles_or_steps():
    at = _load_b(_review_of_a(loaded()))
    next(b for b in at.button if b.label == "Reuse its metadata and eligibility answers").click().run()
    assert not errors(at)
    recipe = at.session_state["recipe"]
    assert recipe["metadata"]["title"] == "Accidental drug related deaths"
    assert recipe["eligibility"]["owned"]["answer"] == "yes"
    assert recipe["steps"] == [] and recipe["roles"] == {}
    assert not any(b.label == "Reuse its metadata and eligibility answers" for b in at.button)


def test_start_fresh_dismisses_the_offer():
    at = _load_b(_review_of_a(loaded()))
    next(b for b in at.button if b.label == "Start fresh").click().run()
    assert "previous_review" not in at.session_state
    assert at.session_state["recipe"]["metadata"] == {}
