"""The Describe page in AppTest: empty state, the form writing recipe["metadata"], suggestions marked,
the live checklist, values surviving a page change, and one-click fixes appending recipe steps."""
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ctopen import metadata as md
from ctopen.load import load
from tests.conftest import REAL_ESTATE, ROOT, real_file
from tests.app.helpers import empty

APP = str(ROOT / "app.py")
PAGE = "pages/describe.py"


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    """300 real sales (amounts written "295,000", addresses in ALL CAPS)."""
    df = pd.read_csv(real_file(REAL_ESTATE), dtype=str, keep_default_na=False, na_values=[""]).head(300)
    path = tmp_path_factory.mktemp("d") / "sales.csv"
    df.to_csv(path, index=False)
    return load(path)


def page(table, metadata=None, steps=None):
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(PAGE)
    at.session_state["table"] = table
    at.session_state["recipe"] = {"version": 1, "roles": {}, "steps": list(steps or []),
                                  "metadata": dict(metadata or {}), "target": {}}
    return at


def text(at, label):
    return next(w for w in at.text_input if w.label == label)


def select(at, label):
    return next(w for w in at.selectbox if w.label == label)


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_empty_state_points_to_load():
    at = empty(PAGE)


def test_form_has_the_portal_fields_and_exact_option_lists(sales):
    at = page(sales).run()
    assert not at.exception, at.exception
    assert select(at, "Category").options == md.CATEGORIES
    assert select(at, "Geographic unit").options == md.GEOGRAPHIC_UNITS
    assert select(at, "Update frequency").options == md.UPDATE_FREQUENCIES
    assert select(at, "Public license type").options == md.LICENSE_NAMES
    assert md.UPDATE_FREQUENCIES[0] == "Not updated (historical only)" and "Bi-weekly" in md.UPDATE_FREQUENCIES
    for label in ("Title", "Agency", "Row label", "Source link", "Temporal coverage", "Data provided by", "Contact email"):
        text(at, label)
    assert {a.label for a in at.text_area} == {"Description", "Notes and limitations of use"}
    assert [m.label for m in at.multiselect] == ["Tags"]


def test_suggestions_are_prefilled_marked_and_written_to_the_recipe(sales):
    at = page(sales).run()
    meta = at.session_state["recipe"]["metadata"]
    assert text(at, "Temporal coverage").value == meta["temporal_coverage"]
    assert meta["temporal_coverage"].startswith("2022-")
    assert select(at, "Geographic unit").value == "Street address" == meta["geographic_unit"]
    marks = [c.value for c in at.caption if "Suggested from the data" in c.value]
    assert any("Date Recorded" in m for m in marks) and any("Address" in m for m in marks)
    assert "300 rows" in meta["description"] and md.PLACEHOLDER in meta["description"]
    assert "blank to fill in" in markdown(at)            # the skeleton cannot pass as a real description
    assert meta.get("columns") == {}                     # column skeletons are not taken as descriptions


def test_checklist_is_live_and_flags_acronyms_and_bad_email(sales):
    at = page(sales).run()
    before = at.session_state["recipe"]["metadata"]
    score_before = md.validate(before, columns=list(sales.df.columns)).score
    text(at, "Title").input("OPM Real Estate Sales in CT").run()
    text(at, "Contact email").input("opm.data@ct").run()
    select(at, "Category").set_value("Housing and Development").run()
    assert not at.exception, at.exception
    meta = at.session_state["recipe"]["metadata"]
    assert meta["title"] == "OPM Real Estate Sales in CT" and meta["category"] == "Housing and Development"
    shown = markdown(at)
    assert "Office of Policy and Management" in shown and "'CT'" in shown
    assert "not a valid email address" in shown
    assert md.validate(meta, columns=list(sales.df.columns)).score > score_before
    progress = at.get("progress")[0].proto
    assert progress.text.startswith(f"Completeness: {progress.value}%") and progress.value > 0


def test_values_survive_leaving_the_page(sales):
    at = page(sales).run()
    text(at, "Title").input("Real Estate Sales in Connecticut, 2021 List Year").run()
    select(at, "Update frequency").set_value("Monthly").run()
    at.multiselect[0].set_value(["real estate", "property"]).run()
    at.switch_page("pages/evaluate.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert text(at, "Title").value == "Real Estate Sales in Connecticut, 2021 List Year"
    assert select(at, "Update frequency").value == "Monthly"
    assert at.multiselect[0].value == ["real estate", "property"]
    assert at.session_state["recipe"]["metadata"]["tags"] == ["real estate", "property"]


def test_number_fix_button_appends_the_step_and_the_finding_goes(sales):
    at = page(sales).run()
    assert "Sale Amount" in markdown(at) and "thousands separators" in markdown(at)
    button = next(b for b in at.button if b.label == "Write 'Sale Amount' as plain numbers")
    button.click().run()
    assert at.session_state["recipe"]["steps"] == [{"op": "format_number", "column": "Sale Amount"}]
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "'Sale Amount' are written" not in markdown(at)       # fixed in the release table
    assert any(b.label == "Write 'Assessed Value' as plain numbers" for b in at.button)
    next(b for b in at.button if b.label == "Write 'Address' in Title Case").click().run()
    assert {"op": "titlecase", "column": "Address"} in at.session_state["recipe"]["steps"]
    assert "ALL CAPS" not in markdown(at)


def test_a_saved_value_outside_the_options_is_kept_and_explained(sales):
    at = page(sales, metadata={"category": "Health", "update_frequency": "Monthly"}).run()
    assert not at.exception, at.exception
    assert select(at, "Category").value is None and select(at, "Update frequency").value == "Monthly"
    assert at.session_state["recipe"]["metadata"]["category"] == "Health"
    assert any("'Health', which is not one of the options" in c.value for c in at.caption)
    assert "did you mean 'Health and Human Services'" in markdown(at)
    select(at, "Category").set_value("Health and Human Services").run()
    assert at.session_state["recipe"]["metadata"]["category"] == "Health and Human Services"


# --- the preview is what is sent ---------------------------------------------------------------------

KINDS = pd.DataFrame({
    "Date of death": ["2013-03-21", "2014-12-01", "2015-06-30", "2016-01-02"],        # ISO: a calendar date
    "Date reported": ["03/21/2013", "12/01/2014", "06/30/2015", "01/02/2016"],        # US: sent as text
    "Count": ["3", "12", "7", "1"],                                                  # a number
    "Amount": ["$1,200", "$35", "$9,000", "$10"],                                    # formatted: text
    "Age": ["23", "37", "41", "68"],                                                 # banded below: text
    "Town": ["Hartford", "Avon", "Essex", "Putnam"],
}, dtype="str")
BAND_AGE = {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    path = tmp_path_factory.mktemp("k") / "kinds.csv"
    KINDS.to_csv(path, index=False)
    return load(path)


def portal_preview(at) -> dict:
    import json
    return json.loads(at.json[0].value)


def test_the_preview_types_are_what_the_publisher_sends(kinds):
    from ctopen.publish import socrata
    from ctopen.transform import apply
    steps = [BAND_AGE]
    at = page(kinds, metadata={"title": "Kinds of values"}, steps=steps).run()
    assert not at.exception, at.exception
    preview = {c["name"]: c["dataTypeName"] for c in portal_preview(at)["columns"]}
    release = apply(kinds.df, {"version": 1, "steps": steps}).df
    sent = {c["name"]: c["dataTypeName"]
            for c in socrata.view_payload(at.session_state["recipe"]["metadata"], release)["columns"]}
    assert preview == sent == {"Date of death": "calendar_date", "Date reported": "text", "Count": "number",
                               "Amount": "text", "Age": "text", "Town": "text"}
    assert release["Age"].tolist()[0] == "20-29"
    shown = at.data_editor[0].value
    assert dict(zip(shown["Column"], shown["Portal type"])) == {c: md.PORTAL_TYPE_LABELS[t] for c, t in sent.items()}


def test_a_banded_age_is_no_longer_typed_as_a_number(kinds):
    at = page(kinds).run()
    shown = at.data_editor[0].value
    assert dict(zip(shown["Column"], shown["Portal type"]))["Age"] == "Number"
    at.session_state["recipe"]["steps"] = [BAND_AGE]      # Transform banded it
    at.switch_page("pages/evaluate.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    shown = at.data_editor[0].value
    assert dict(zip(shown["Column"], shown["Portal type"]))["Age"] == "Text"


def test_the_suggested_geographic_unit_follows_the_generalized_towns(kinds):
    at = page(kinds).run()
    assert select(at, "Geographic unit").value == "Municipality"
    for level, unit in ((1, "County or county-equivalent"), (2, "State")):
        at.session_state["recipe"]["steps"] = [{"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": level}]
        at.switch_page("pages/evaluate.py").run()
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        assert select(at, "Geographic unit").value == unit == at.session_state["recipe"]["metadata"]["geographic_unit"]
        assert any("Suggested from the data" in c.value and unit.lower() in c.value for c in at.caption)


def test_a_unit_the_officer_chose_is_not_replaced(kinds):
    at = page(kinds).run()
    select(at, "Geographic unit").set_value("Census tract").run()
    at.session_state["recipe"]["steps"] = [{"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": 2}]
    at.switch_page("pages/evaluate.py").run()
    at.switch_page(PAGE).run()
    assert select(at, "Geographic unit").value == "Census tract" == at.session_state["recipe"]["metadata"]["geographic_unit"]


def test_what_was_typed_is_kept_when_the_officer_leaves_at_once(sales):
    """A value typed and the page left before the page ran again (the next click was on another page's link):
    the field's on_change writes it into the recipe, so it is not lost."""
    at = page(sales).run()
    text(at, "Title").input("Real Estate Sales in Connecticut, 2021 List Year")
    text(at, "Agency").input("Office of Policy and Management")
    select(at, "Update frequency").set_value("Monthly")
    at.switch_page("pages/evaluate.py").run()      # the Describe page does not run again
    meta = at.session_state["recipe"]["metadata"]
    assert meta["title"] == "Real Estate Sales in Connecticut, 2021 List Year"
    assert meta["agency"] == "Office of Policy and Management" and meta["update_frequency"] == "Monthly"


def test_column_descriptions_are_written_from_the_table(sales):
    at = page(sales).run()
    assert at.data_editor[0].value["Description"].eq("").all()      # no "___" skeleton to type around
    at.session_state["md_columns_editor"] = {"edited_rows": {0: {"Description": "The sale's serial number"},
                                                             2: {"Description": "When the sale was recorded"}},
                                             "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    columns = list(sales.df.columns)
    assert at.session_state["recipe"]["metadata"]["columns"] == {columns[0]: "The sale's serial number",
                                                                 columns[2]: "When the sale was recorded"}
