"""Step 2: the eligibility checklist, its verdict, the privacy item from the gate, and the report section."""
import json

import pandas as pd
import pytest

from ctopen import eligibility as el
from ctopen import settings
from ctopen.errors import RecipeError


def answers(**given):
    """Checklist answers: every question "yes" unless given (value "answer" or ("answer", "note"))."""
    data = el.empty()
    for q in el.CHECKLIST:
        value = given.get(q.key, "yes")
        a, note = value if isinstance(value, tuple) else (value, "")
        data["checklist"][q.key] = {"answer": a, "note": note}
    return data


GATE_FAIL = {"passed": False, "reasons": ["Direct identifiers are still in the release: Name (drop them...)."],
             "exception": None}
GATE_PASS = {"passed": True, "reasons": ["No direct identifier is left in the release."], "exception": None}
GATE_EXCEPTION = {"passed": True, "reasons": ["Direct identifiers are still in the release: Name.",
                                              "Published by exception, recorded by J. Smith: a public register of licences."],
                  "exception": {"justification": "a public register of licences serving a clear public good", "by": "J. Smith"}}


def test_checklist_matches_the_guidance():
    assert [q.key for q in el.CHECKLIST] == ["owned", "no_fee", "unrestricted", "updates", "privacy"]
    assert "case by case" in el.CHECKLIST[0].help
    assert len(el.PRIORITY) == 6 and len(el.EQUITY) == 2
    assert all(q.if_no for q in el.CHECKLIST)


def test_all_yes_is_eligible():
    v = el.verdict(answers())
    assert v.status == "eligible" and v.eligible and not v.blocks_publication
    assert v.headline.startswith("Eligible")
    assert v.contact is None


@pytest.mark.parametrize("key", ["owned", "no_fee", "unrestricted", "updates", "privacy"])
def test_any_no_blocks_with_its_reason(key):
    v = el.verdict(answers(**{key: ("no", "see the data-sharing agreement")}))
    assert v.status == "blocked" and v.blocks_publication
    assert v.headline.startswith("Blocked")
    assert [b["key"] for b in v.blockers] == [key]
    assert v.blockers[0]["reason"] == next(q.if_no for q in el.CHECKLIST if q.key == key)
    assert v.blockers[0]["note"] == "see the data-sharing agreement"


def test_no_wins_over_unsure_and_unanswered():
    v = el.verdict(answers(owned="unsure", no_fee=None, unrestricted="no"))
    assert v.status == "blocked" and [u["key"] for u in v.unsure] == ["owned"] and v.unanswered == ["no_fee"]


def test_unsure_points_to_dapa():
    v = el.verdict(answers(owned=("unsure", "DPH and DSS both contribute")))
    assert v.status == "unsure" and not v.blocks_publication
    assert v.contact == settings.DAPA_CONTACT and "dapa@ct.gov" in v.headline


def test_unanswered_is_incomplete_not_eligible():
    v = el.verdict(None)
    assert v.status == "incomplete" and v.unanswered == [q.key for q in el.CHECKLIST]
    assert "5 of 5" in v.headline


def test_privacy_from_failing_gate_is_no_and_blocks():
    data = el.with_privacy(answers(privacy=None), GATE_FAIL)
    assert data["checklist"]["privacy"]["answer"] == "no" and data["checklist"]["privacy"]["auto"]
    v = el.verdict(answers(privacy=None), GATE_FAIL)
    assert v.status == "blocked" and "Direct identifiers" in v.blockers[0]["reason"]
    assert v.headline.startswith("Blocked") and "Name" in v.headline


def test_hand_answer_cannot_loosen_a_failing_gate():
    v = el.verdict(answers(privacy=("yes", "we think it is fine")), GATE_FAIL)
    assert v.status == "blocked"
    assert "cannot override" in v.blockers[0]["reason"] and "Name" in v.blockers[0]["reason"]


def test_hand_answer_can_be_stricter_than_a_passing_gate():
    v = el.verdict(answers(privacy=("unsure", "small towns")), GATE_PASS)
    assert v.status == "unsure"


def test_auto_answer_follows_the_gate_as_it_changes():
    data = el.with_privacy(answers(privacy=None), GATE_FAIL)
    assert el.verdict(data, GATE_FAIL).status == "blocked"
    assert el.with_privacy(data, GATE_PASS)["checklist"]["privacy"]["answer"] == "yes"   # after Transform
    assert el.verdict(data, GATE_PASS).status == "eligible"
    assert el.with_privacy(data, None)["checklist"]["privacy"]["answer"] == "no"           # no gate: last answer kept


def test_exception_passes_but_is_named():
    v = el.verdict(answers(privacy=None), GATE_EXCEPTION)
    assert v.status == "eligible"
    assert any("recorded exception" in a and "J. Smith" in a for a in v.attention)


def test_gate_result_object_is_accepted():
    from ctopen.review import Review
    df = pd.DataFrame({"Name": ["Ann Lee", "Bo Chan"] * 3, "Town": ["Hartford", "Hartford"] * 3})
    result = Review(df, {"version": 1, "steps": [], "roles": {"Name": "direct", "Town": "quasi"}}).gate
    assert el.privacy_suggestion(result)["answer"] == "no"
    passed = Review(df[["Town"]], {"version": 1, "steps": [], "roles": {"Town": "quasi"}}).gate
    assert el.privacy_suggestion(passed)["answer"] == "yes"


def test_update_keeps_auto_only_while_the_answer_is_unchanged():
    data = el.with_privacy(answers(privacy=None), GATE_PASS)
    same = el.update(data, "checklist", "privacy", "yes", "checked with our privacy officer")
    assert same["checklist"]["privacy"]["auto"] and same["checklist"]["privacy"]["evidence"].startswith("The privacy gate passes")
    later = el.with_privacy(same, GATE_FAIL)["checklist"]["privacy"]          # the gate changes: the note stays
    assert later["answer"] == "no" and later["note"] == "checked with our privacy officer"
    changed = el.update(data, "checklist", "privacy", "unsure", "the ZIPs worry me")
    assert not changed["checklist"]["privacy"].get("auto")
    assert el.with_privacy(changed, GATE_PASS)["checklist"]["privacy"]["answer"] == "unsure"   # the user's answer stays
    with pytest.raises(RecipeError):
        el.update(data, "checklist", "nope", "yes")


def test_equity_concerns_need_attention_but_do_not_block():
    data = answers()
    data["equity"]["harm"] = {"answer": "yes", "note": ""}
    data["equity"]["disparate"] = {"answer": "unsure", "note": "small groups in rural towns"}
    v = el.verdict(data)
    assert v.status == "eligible"
    assert len(v.attention) == 2 and "Say in the note" in v.attention[0] and "rural towns" in v.attention[1]


def test_priority_signals_listed():
    data = answers()
    data["priority"]["foi"] = True
    data["priority"]["requested"] = True
    assert el.verdict(data).priority == [el.PRIORITY[0].text, el.PRIORITY[4].text]


def test_normalize_rejects_bad_answers_and_fills_the_shape():
    assert el.normalize({"checklist": {"owned": "YES"}})["checklist"]["owned"]["answer"] == "yes"
    full = el.normalize({"checklist": {"owned": {"answer": "no"}}, "unknown": 1})
    assert set(full) == {"checklist", "priority", "priority_note", "equity"}
    assert full["checklist"]["no_fee"] == {"answer": None, "note": ""}
    with pytest.raises(RecipeError, match="yes, no or unsure"):
        el.normalize({"checklist": {"owned": {"answer": "maybe"}}})
    with pytest.raises(RecipeError):
        el.normalize(["yes"])


def test_verdict_to_dict_is_json():
    d = json.loads(json.dumps(el.verdict(answers(updates="no")).to_dict()))
    assert d["status"] == "blocked" and d["blocks_publication"] is True and d["blockers"][0]["key"] == "updates"


def test_report_section_is_escaped_html_with_everything():
    data = answers(owned=("no", "<script>alert(1)</script> shared with DSS"))
    data["priority"]["foi"] = True
    data["equity"]["harm"] = {"answer": "no", "note": "counts only"}
    out = el.report_section(data)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "Verdict: Blocked" in out and el.CHECKLIST[0].if_no in out
    assert el.PRIORITY[0].text in out and "counts only" in out
    assert "<h2" not in out                                     # the report gives the section its h2


def test_report_section_shows_gate_answer_and_dapa():
    out = el.report_section(answers(privacy=None, owned="unsure"), GATE_PASS)
    assert "(from the privacy gate)" in out and "dapa@ct.gov" in out


def test_report_includes_the_section():
    from ctopen import report
    html_text = report._eligibility_section({"eligibility": answers(updates="no")})
    assert "Verdict: Blocked" in html_text


# --- the real CT files of SCENARIOS.md, through the privacy gate ------------------------------------

def _roles(df, **given):
    return {c: given.get(c, "other") for c in df.columns}


def test_drug_deaths_scenario_is_blocked_until_transformed():
    from tests.conftest import DRUG, real_file
    from ctopen.load import load
    from ctopen.review import Review
    df = load(real_file(DRUG)).df
    roles = {"ID": "direct", "Age": "quasi", "Sex": "quasi", "Race": "quasi", "ResidenceCity": "quasi"}
    review = Review(df, {"version": 1, "steps": [], "roles": roles})
    v = el.verdict(answers(privacy=None), review.gate)
    assert v.status == "blocked" and "ID" in v.headline
    assert "smallest group" in v.headline                       # Age, Sex, Race, town single people out
    # once every direct identifier and quasi-identifier is gone, the privacy question is settled
    drop = [{"op": "drop", "column": c} for c, r in review.roles.items() if r in ("direct", "quasi")]
    released = Review(df, {"version": 1, "steps": drop, "roles": roles})
    assert released.gate.passed and not set(released.release.columns) & set(roles)
    assert el.verdict(answers(privacy=None), released.gate).status == "eligible"


def test_licenses_scenario_passes_by_recorded_exception():
    from tests.conftest import LICENSES, real_file
    from ctopen.load import load
    from ctopen.publish import gate
    from ctopen.review import Review
    df = load(real_file(LICENSES)).df
    recipe = {"version": 1, "steps": [], "roles": {"name": "direct", "address": "direct", "zip": "quasi", "city": "quasi"}}
    review = Review(df, recipe)
    assert not review.gate.passed
    assert gate.record_exception(recipe, "a public register of who holds a state license, which serves a clear "
                                         "public good", "DCP data officer", verdict=review.gate) is None
    v = el.verdict(answers(privacy=None), review.gate)
    assert v.status == "eligible"
    assert any("recorded exception" in a and "public register" in a for a in v.attention)
    assert "recorded exception" in el.report_section(answers(privacy=None), review.gate)
