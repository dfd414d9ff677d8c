"""The Identify page with AppTest: empty state, every column listed with its role and masked examples,
changing a role with who/when/why, the free-text findings, the engine in use."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ctopen.load import load
from tests.app.helpers import empty

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/identify.py"
ROWS = [("Ann Lee", "ann.lee@example.com", "34", "F", "Hartford", "flu", "Call Ann at 860-555-0101 after 5 pm today please"),
        ("Bo Chan", "bo.chan@example.com", "34", "F", "Hartford", "flu", "Nothing to add about this visit at all today"),
        ("Cy Diaz", "cy.diaz@example.com", "51", "M", "Avon", "cold", "Reach Cy on 860-555-0199 for the follow up"),
        ("Di Fay", "di.fay@example.com", "51", "M", "Avon", "asthma", "Patient was seen and treated in the clinic today"),
        ("Ed Gold", "ed.gold@example.com", "78", "F", "Canaan", "flu", "Patient was seen and sent home with a plan"),
        ("Flo Hu", "flo.hu@example.com", "62", "M", "Kent", "flu", "Follow up in two weeks with the primary doctor")]
CSV = ("Name,Email,Age,Sex,Town,Diagnosis,Notes\n" + "\n".join(",".join(r) for r in ROWS * 5) + "\n").encode()


def app(data=CSV, name="people.csv", reviewer=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    t = load(data, name=name)
    at.session_state["table"] = t
    at.session_state["recipe"] = {"version": 1, "source": t.source.to_dict(), "roles": {}, "steps": [],
                                  "metadata": {}, "target": {}}
    if reviewer:
        at.session_state["reviewer"] = reviewer
    at.switch_page(PAGE)
    return at.run()


def table_rows(at):
    return at.dataframe[0].value.set_index("Column")


def test_empty_state_without_a_file():
    at = empty(PAGE)
    assert len(at.dataframe) == 0


def test_every_column_listed_with_role_evidence_and_masked_examples():
    at = app()
    assert not at.exception
    df = table_rows(at)
    assert list(df.index) == ["Name", "Email", "Age", "Sex", "Town", "Diagnosis", "Notes"]
    assert df.loc["Name", "Role"] == "Direct identifier" and df.loc["Email", "Role"] == "Direct identifier"
    assert df.loc["Age", "Role"] == "Quasi-identifier" and df.loc["Town", "Role"] == "Quasi-identifier"
    assert df.loc["Diagnosis", "Role"] == "Sensitive attribute"
    assert "sampled values are email address" in df.loc["Email", "Evidence"]
    assert "@" not in df.loc["Email", "Examples"] and "Lee" not in df.loc["Name", "Examples"]
    assert "••••" in df.loc["Email", "Examples"]
    assert "Presidio with no language model" in " ".join(c.value for c in at.caption)
    assert any("point directly at a person" in w.value for w in at.warning)


def test_free_text_findings_are_shown_masked():
    at = app()
    text = " ".join(w.value for w in at.warning)
    assert "Notes" in text and "hold personal data" in text and "phone number" in text
    shown = " ".join(x.value for x in at.text)
    assert "8••••" in shown and "860-555" not in shown


def test_change_needs_a_name_and_a_reason():
    at = app()
    at.multiselect(key="_w_identify_columns").set_value(["Name"])
    at.selectbox(key="_w_identify_role").set_value("other")
    next(b for b in at.button if b.label == "Record the change").click().run()
    assert any("Type your name" in e.value for e in at.error)
    assert at.session_state["recipe"]["roles"] == {}


def test_change_a_role_is_recorded_with_who_when_why_and_kept():
    at = app(reviewer="Pat Officer")
    assert at.text_input(key="_w_reviewer").value == "Pat Officer"
    at.multiselect(key="_w_identify_columns").set_value(["Name"])
    at.selectbox(key="_w_identify_role").set_value("other")
    at.text_input(key="_w_identify_reason").set_value("a public register")
    next(b for b in at.button if b.label == "Record the change").click().run()
    assert not at.exception
    recipe = at.session_state["recipe"]
    assert recipe["roles"] == {"Name": "other"}
    (d,) = recipe["decisions"]
    assert (d["column"], d["role"], d["previous"], d["by"], d["reason"]) == ("Name", "other", "direct", "Pat Officer", "a public register")
    assert d["at"].endswith("+00:00")
    assert table_rows(at).loc["Name", "Role"] == "Other (changed by reviewer)"
    # the names stay masked even though the reviewer calls the column "other"
    assert "Lee" not in table_rows(at).loc["Name", "Examples"]
    # leaving the page and coming back keeps the decision and the reviewer's name
    at.switch_page("pages/risk.py").run()
    at.switch_page(PAGE).run()
    assert table_rows(at).loc["Name", "Role"] == "Other (changed by reviewer)"
    assert at.session_state["reviewer"] == "Pat Officer"
    assert len(at.dataframe[1].value) == 1


def test_raising_a_column_to_direct_masks_its_examples():
    at = app(reviewer="Pat")
    at.multiselect(key="_w_identify_columns").set_value(["Town"])
    at.selectbox(key="_w_identify_role").set_value("direct")
    at.text_input(key="_w_identify_reason").set_value("small towns")
    next(b for b in at.button if b.label == "Record the change").click().run()
    assert "Hartford" not in table_rows(at).loc["Town", "Examples"]
    assert at.session_state["recipe"]["decisions"][0]["previous"] == "quasi"


def test_all_inputs_are_labelled():
    at = app()
    assert all(w.label for w in list(at.selectbox) + list(at.multiselect) + list(at.text_input))


def test_all_the_evidence_for_one_column():
    at = app()
    at.selectbox(key="_w_identify_show").set_value("Email").run()
    text = " ".join(m.value for m in at.markdown)
    assert "**Email**: email address, detected as direct identifier" in text
    assert "sampled values are email addresses" in text


def test_several_columns_change_at_once_with_one_decision_each():
    at = app(reviewer="Pat")
    at.multiselect(key="_w_identify_columns").set_value(["Name", "Email", "Age"])
    at.selectbox(key="_w_identify_role").set_value("other")
    at.text_input(key="_w_identify_reason").set_value("a public register of license holders")
    next(b for b in at.button if b.label == "Record the change").click().run()
    recipe = at.session_state["recipe"]
    assert recipe["roles"] == {"Name": "other", "Email": "other", "Age": "other"}
    assert [(d["column"], d["previous"]) for d in recipe["decisions"]] == [("Name", "direct"), ("Email", "direct"), ("Age", "quasi")]
    assert len({d["at"] for d in recipe["decisions"]}) == 1


def test_nothing_chosen_is_an_error_not_a_change():
    at = app(reviewer="Pat")
    at.text_input(key="_w_identify_reason").set_value("why")
    next(b for b in at.button if b.label == "Record the change").click().run()
    assert any("Pick the column" in e.value for e in at.error)
    assert at.session_state["recipe"]["decisions"] == []


def test_accepting_the_roles_writes_them_into_the_recipe():
    at = app()
    at.session_state["recipe"]["roles"]["Age"] = "other"      # one decision already taken
    at.run()
    accept = next(b for b in at.button if b.label.startswith("Accept the roles shown"))
    assert "other 6 column(s)" in accept.label
    accept.click().run()
    assert not at.exception
    roles = at.session_state["recipe"]["roles"]
    assert roles["Name"] == "direct" and roles["Email"] == "direct" and roles["Age"] == "other"
    assert set(roles) == {"Name", "Email", "Age", "Sex", "Town", "Diagnosis", "Notes"}
    assert not any(b.label.startswith("Accept the roles shown") for b in at.button)
    # a confirmation that stays: after another run and after leaving the page and coming back
    confirmed = "The roles of all 7 columns are accepted and saved in the recipe"
    assert any(confirmed in s.value for s in at.success)
    at.switch_page("pages/evaluate.py").run()
    at.switch_page(PAGE).run()
    assert any(confirmed in s.value for s in at.success)
