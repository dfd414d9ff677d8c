"""The Transform page in AppTest: empty state, per-column editors writing the recipe, live figures, undo/redo."""
from types import SimpleNamespace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ctopen.detect import ColumnRole
from ctopen.load import load
from tests.conftest import DRUG, ROOT, real_file
from tests.app.helpers import empty

APP = str(ROOT / "app.py")
PAGE = "pages/transform.py"


@pytest.fixture(scope="module")
def drug_slice(tmp_path_factory):
    df = pd.read_csv(real_file(DRUG), dtype=str, keep_default_na=False, na_values=[""]).head(800)
    path = tmp_path_factory.mktemp("t") / "drug.csv"
    df.to_csv(path, index=False)
    return load(path)


def page(table, roles, steps=None):
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(PAGE)
    at.session_state["table"] = table
    # detection as the reviewer saw it: the roles given, every other column "other" (a column detection says
    # nothing about would count as a quasi-identifier)
    at.session_state["detection"] = SimpleNamespace(columns=[ColumnRole(c, roles.get(c, "other"), "NONE", 0.5, [])
                                                             for c in table.df.columns])
    at.session_state["detection_for"] = table.source.sha256
    # detection is empty here: every column gets a role (one without counts as a quasi-identifier, as in the gate)
    roles = {c: roles.get(c, "other") for c in table.df.columns}
    at.session_state["recipe"] = {"version": 1, "roles": roles, "steps": list(steps or []), "metadata": {}, "target": {}}
    return at


def radio(at, column):
    return next(r for r in at.radio if r.label.startswith(f"What to do with “{column}”"))


def test_empty_state_points_to_load():
    at = empty(PAGE)


ROLES = {"ID": "direct", "Date": "quasi", "Age": "quasi", "Sex": "quasi", "Race": "quasi", "ResidenceCity": "quasi"}


def test_editing_a_column_writes_the_recipe_and_updates_the_figures(drug_slice):
    at = page(drug_slice, ROLES).run()
    assert not at.exception, at.exception
    assert [r.label.split("“")[1].split("”")[0] for r in at.radio if r.label.startswith("What")] == [
        "ID", "Date", "Age", "Sex", "Race", "ResidenceCity"]
    rows_before = next(m for m in at.metric if m.label == "Rows kept").value
    assert rows_before.startswith("800")

    radio(at, "Age").set_value("generalize").run()
    assert not at.exception, at.exception
    step = at.session_state["recipe"]["steps"][0]
    assert step == {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 1, "top_code": 90}
    assert any("Generalize “Age” to 5-year bands" in m.value for m in at.markdown)
    assert any("→" in c.value and "-" in c.value for c in at.caption)   # examples "34 → 30-34"

    slider = next(s for s in at.select_slider if s.label == "Level")
    slider.set_value(2).run()
    assert at.session_state["recipe"]["steps"][0]["level"] == 2

    radio(at, "ID").set_value("drop").run()
    assert {"op": "drop", "column": "ID"} in at.session_state["recipe"]["steps"]
    info = next(m for m in at.metric if m.label == "Information lost")
    assert info.value not in ("0%", "0.0%")

    undo = next(b for b in at.button if b.label == "Undo")
    undo.click().run()
    assert {"op": "drop", "column": "ID"} not in at.session_state["recipe"]["steps"]
    assert at.session_state["recipe"]["steps"][0]["level"] == 2
    next(b for b in at.button if b.label == "Redo").click().run()
    assert {"op": "drop", "column": "ID"} in at.session_state["recipe"]["steps"]


def test_suppress_toggle_adds_a_suppress_step_over_the_quasi_identifiers(drug_slice):
    steps = [{"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90}]
    at = page(drug_slice, ROLES, steps).run()
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    supp = at.session_state["recipe"]["steps"][-1]
    assert supp["op"] == "suppress" and supp["k"] == 5 and supp["columns"] == list(ROLES)[1:]
    kept = next(m for m in at.metric if m.label == "Rows kept").value
    assert not kept.startswith("800")
    assert any("Remove the records in groups of fewer than 5" in m.value for m in at.markdown)


def test_a_recipe_naming_missing_columns_is_explained_not_a_traceback(drug_slice):
    at = page(drug_slice, ROLES, [{"op": "drop", "column": "NoSuchColumn"}]).run()
    assert not at.exception
    assert any("NoSuchColumn" in e.value for e in at.error)


def test_pseudonymize_without_a_key_is_a_clear_error(drug_slice, monkeypatch):
    monkeypatch.delenv("CTOPEN_PSEUDONYM_KEY", raising=False)
    at = page(drug_slice, ROLES).run()
    radio(at, "ID").set_value("pseudonymize").run()
    assert not at.exception
    assert any("CTOPEN_PSEUDONYM_KEY" in e.value for e in at.error)


def test_the_figures_show_next_to_the_card_just_changed_and_identifiers_stay_masked(drug_slice):
    at = page(drug_slice, ROLES).run()
    examples = [c.value for c in at.caption if c.value.startswith("Examples:")]
    assert "14-0273" not in examples[0] and "•" in examples[0]          # ID masked
    radio(at, "Date").set_value("generalize").run()
    assert not at.exception, at.exception
    now = [m.value for m in at.markdown if m.value.startswith("**Now:")]
    assert len(now) == 1 and "smallest group k =" in now[0] and "information lost" in now[0]


def test_towns_propose_the_state_column_so_namesakes_elsewhere_are_not_in_connecticut(drug_slice):
    at = page(drug_slice, ROLES).run()
    radio(at, "ResidenceCity").set_value("generalize").run()
    assert not at.exception, at.exception
    step = next(s for s in at.session_state["recipe"]["steps"] if s.get("column") == "ResidenceCity")
    assert step["hierarchy"] == "ct_town" and step["state_column"] == "ResidenceState" and step["level"] == 1
    next(r for r in at.radio if r.label == "Group towns by").set_value("planning_region").run()
    step = next(s for s in at.session_state["recipe"]["steps"] if s.get("column") == "ResidenceCity")
    assert step["via"] == "planning_region" and step["state_column"] == "ResidenceState"


def test_uploading_a_recipe_replaces_the_steps_or_names_missing_columns(drug_slice):
    at = page(drug_slice, ROLES).run()
    good = b'{"version": 1, "steps": [{"op": "drop", "column": "ID"}, {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 3}]}'
    at.file_uploader(key="transform_recipe_file").upload("saved.json", good, "application/json").run()
    assert not at.exception, at.exception
    assert at.session_state["recipe"]["steps"][1]["level"] == 3
    assert any("Generalize “Date” to year" in m.value for m in at.markdown)
    bad = b'{"version": 1, "steps": [{"op": "drop", "column": "Name"}, {"op": "drop", "column": "SSN"}]}'
    at.file_uploader(key="transform_recipe_file").upload("old.json", bad, "application/json").run()
    assert not at.exception
    assert any("“Name”, “SSN”" in e.value for e in at.error)
    assert at.session_state["recipe"]["steps"][1]["level"] == 3    # unchanged


def test_rare_values_merged_examples_keep_common_values():
    """The examples of a category step are generalized within their column: White (hundreds of records) stays
    White at "rare values merged"; only values held by fewer than min_count records become Other."""
    t = load(ROOT / "tests" / "data" / "drug_deaths_600.csv")
    step = {"op": "generalize", "column": "Race", "hierarchy": "category", "level": 1, "min_count": 5}
    at = page(t, {"Race": "quasi", "Age": "quasi", "Sex": "quasi"}, steps=[step]).run()
    assert not at.exception
    shown = [c.value for c in at.caption if c.value.startswith("Examples: ") and "→" in c.value]
    assert any("White → White" in c for c in shown), shown
    counts = t.df["Race"].value_counts()
    for pair in (p for c in shown for p in c[len("Examples: "):].split(" · ")):
        before, after = pair.split(" → ")
        if before in counts.index and before in set(t.df["Race"]):
            assert after == (before if counts[before] >= 5 else "Other"), pair
