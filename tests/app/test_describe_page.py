"""The Describe page in AppTest: empty state, the form writing recipe["metadata"], suggestions marked,
the live checklist, values surviving a page change, and one-click fixes appending recipe steps."""
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ctopen import metadata as md
from ctopen.load import load
from tests.conftest import REAL_ESTATE, ROOT, shared_file
from tests.app.helpers import empty

APP = str(ROOT / "app.py")
PAGE = "pages/describe.py"


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    """300 real sales (amounts written "295,000", addresses in ALL CAPS)."""
    df = pd.read_csv(shared_file(REAL_ESTATE), dtype=str, keep_default_na=False, na_values=[""]).head(300)
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


@pytest.fixture
def wired(monkeypatch):
    """Transform dispatching ctopen.checks.FIX_OPS: the real wiring when present, else a stand-in that runs
    the recipe's own steps first and the fixes after (what the lead wires into ctopen.transform.apply)."""
    from ctopen import checks, recipe as recipes, transform
    if set(checks.FIX_OPS) <= set(recipes.OPS):
        return
    real = transform.apply
    monkeypatch.setattr(recipes, "OPS", tuple(recipes.OPS) + tuple(checks.FIX_OPS))

    def apply(df, recipe, key=None):
        fixes = [s for s in recipe["steps"] if s["op"] in checks.FIX_OPS]
        out = real(df, {**recipe, "steps": [s for s in recipe["steps"] if s["op"] not in checks.FIX_OPS]}, key=key)
        out.df, log = checks.apply_fixes(out.df, fixes)
        out.log.extend(log)
        return out
    monkeypatch.setattr(transform, "apply", apply)


def test_number_fix_button_appends_the_step_and_the_finding_goes(sales, wired):
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


def test_fixes_wait_for_transform_support(sales, monkeypatch):
    """Until Transform can apply a fix op, the page offers no button that would break the recipe."""
    from ctopen import recipe as recipes
    monkeypatch.setattr(recipes, "OPS", ("drop", "generalize", "suppress", "pseudonymize", "aggregate"))
    at = page(sales).run()
    assert not at.exception, at.exception
    assert all("plain numbers" not in b.label for b in at.button)
    assert any("Suggested fix: Write 'Sale Amount' as plain numbers" in c.value for c in at.caption)


def test_a_saved_value_outside_the_options_is_kept_and_explained(sales):
    at = page(sales, metadata={"category": "Health", "update_frequency": "Monthly"}).run()
    assert not at.exception, at.exception
    assert select(at, "Category").value is None and select(at, "Update frequency").value == "Monthly"
    assert at.session_state["recipe"]["metadata"]["category"] == "Health"
    assert any("'Health', which is not one of the options" in c.value for c in at.caption)
    assert "did you mean 'Health and Human Services'" in markdown(at)
    select(at, "Category").set_value("Health and Human Services").run()
    assert at.session_state["recipe"]["metadata"]["category"] == "Health and Human Services"
