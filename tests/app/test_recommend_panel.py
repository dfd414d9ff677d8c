"""The Recommend tab of the Transform page in AppTest: the search runs from the button, the proposal
and its alternatives show, and one click writes the levels and a suppress step into the recipe."""
from types import SimpleNamespace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ctopen.load import load
from tests.conftest import DRUG, ROOT, real_file
from tests.app.helpers import empty

APP = str(ROOT / "app.py")
PAGE = "pages/transform.py"
ROLES = {"ID": "direct", "Date": "quasi", "Age": "quasi", "Sex": "quasi", "Race": "quasi",
         "ResidenceCity": "quasi", "COD": "sensitive"}


@pytest.fixture(scope="module")
def drug_slice(tmp_path_factory):
    df = pd.read_csv(real_file(DRUG), dtype=str, keep_default_na=False, na_values=[""]).head(800)
    path = tmp_path_factory.mktemp("r") / "drug.csv"
    df.to_csv(path, index=False)
    return load(path)


def page(table, steps=None):
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page(PAGE)
    at.session_state["table"] = table
    at.session_state["detection"] = SimpleNamespace(columns=[])
    at.session_state["detection_for"] = table.source.sha256
    # detection is empty here: every column gets a role (one without counts as a quasi-identifier, as in the gate)
    roles = {c: ROLES.get(c, "other") for c in table.df.columns}
    at.session_state["recipe"] = {"version": 1, "roles": roles, "steps": list(steps or []),
                                  "metadata": {}, "target": {}}
    return at


def button(at, label):
    return next(b for b in at.button if b.label.startswith(label))


def test_empty_state_points_to_load():
    at = empty(PAGE)


def test_recommend_then_apply_writes_the_recipe(drug_slice):
    at = page(drug_slice, steps=[{"op": "drop", "column": "ID"}]).run()
    assert not at.exception, at.exception
    qi = next(m for m in at.multiselect if m.label == "Quasi-identifiers to generalize")
    assert qi.value == ["Date", "Age", "Sex", "Race", "ResidenceCity"]
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    result = at.session_state["recommend_result"]["result"]
    assert result["k_min"] >= 5 and result["suppressed"] <= 8
    labels = {m.label: m.value for m in at.metric}
    assert labels["Records removed"] == f"{result['suppressed']:,}"
    assert len(at.get("plotly_chart")) >= 1 or len(result["alternatives"]) <= 1
    button(at, "Apply this proposal").click().run()
    assert not at.exception, at.exception
    steps = at.session_state["recipe"]["steps"]
    assert steps[0] == {"op": "drop", "column": "ID"}
    gen = {s["column"]: s["level"] for s in steps if s["op"] == "generalize"}
    assert gen == {c: v for c, v in result["levels"].items() if v > 0}
    assert steps[-1] == {"op": "suppress", "k": 5, "columns": ["Date", "Age", "Sex", "Race", "ResidenceCity"],
                         "max_share": 0.01}
    # the page's figures now show the release: the information lost equals the proposal's
    shown = [float(m.value.rstrip("%")) for m in at.metric if m.label == "Information lost"]
    assert any(abs(v - 100 * result["loss"]) < 0.51 for v in shown), (shown, result["loss"])


def test_an_alternative_replaces_earlier_generalize_steps(drug_slice):
    old = {"op": "generalize", "column": "Age", "hierarchy": "age", "top_code": 90, "level": 1}
    at = page(drug_slice, steps=[old]).run()
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    result = at.session_state["recommend_result"]["result"]
    alts = result["alternatives"]
    if len(alts) < 2:
        pytest.skip("only one option on this slice")
    button(at, "Apply option 2").click().run()
    assert not at.exception, at.exception
    steps = at.session_state["recipe"]["steps"]
    gen = {s["column"]: s["level"] for s in steps if s["op"] == "generalize"}
    assert gen == {c: v for c, v in alts[1]["levels"].items() if v > 0}
    assert sum(1 for s in steps if s["op"] == "suppress") == 1


def test_an_impossible_target_is_a_plain_error(drug_slice):
    at = page(drug_slice).run()
    sens = next(s for s in at.selectbox if s.label == "Sensitive attribute (optional)")
    sens.set_value("MannerofDeath").run()   # a few distinct values: no group can hold 20
    next(n for n in at.number_input if n.label.startswith("Target l")).set_value(20).run()
    next(n for n in at.number_input if n.label.startswith("At most this %")).set_value(0.0).run()
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    assert any("different values" in e.value for e in at.error)


def test_too_many_columns_are_refused_before_searching(drug_slice, monkeypatch):
    at = page(drug_slice).run()
    qi = next(m for m in at.multiselect if m.label == "Quasi-identifiers to generalize")
    qi.set_value(["Date", "Age", "Sex", "Race", "ResidenceCity", "ResidenceCounty", "ResidenceState", "DeathCity",
                  "DeathCounty", "InjuryCity", "InjuryCounty", "InjuryState", "Location"]).run()
    assert not at.exception, at.exception
    assert any("more than the" in w.value for w in at.warning)
    assert button(at, "Recommend").disabled


def test_other_quasi_identifiers_still_count(drug_slice):
    """A quasi-identifier left out of the search stays as the recipe has it (here generalized to
    county) and is part of the suppress step, so the page's figures agree with the proposal."""
    town = {"op": "generalize", "column": "DeathCity", "hierarchy": "ct_town", "via": "county", "level": 1}
    at = page(drug_slice, steps=[town])
    at.session_state["recipe"]["roles"]["DeathCity"] = "quasi"
    at.run()
    assert not at.exception, at.exception
    qi = next(m for m in at.multiselect if m.label == "Quasi-identifiers to generalize")
    assert "DeathCity" in qi.value
    qi.set_value(["Date", "Age", "Sex", "Race", "ResidenceCity"]).run()
    assert any("stay as the recipe has them" in c.value for c in at.caption)
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    result = at.session_state["recommend_result"]["result"]
    assert "DeathCity" not in result["levels"]
    assert "DeathCity" in result["recipe"]["steps"][-1]["columns"]
    button(at, "Apply this proposal").click().run()
    assert not at.exception, at.exception
    steps = at.session_state["recipe"]["steps"]
    assert town in steps
    suppress = [s for s in steps if s["op"] == "suppress"]
    assert len(suppress) == 1 and suppress[0]["columns"] == ["Date", "Age", "Sex", "Race", "ResidenceCity", "DeathCity"]
    k_shown = next(m for m in at.metric if m.label.startswith("Smallest group")).value
    assert int(str(k_shown).replace(",", "")) >= 5


def test_apply_keeps_the_state_column_of_a_town_step(monkeypatch):
    from ui import recommend_panel, state
    town = {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "via": "county", "level": 2,
            "state_column": "ResidenceState"}
    recipe = {"steps": [{"op": "drop", "column": "ID"}, town]}
    monkeypatch.setattr(state, "recipe", lambda: recipe)
    monkeypatch.setattr(recommend_panel.st, "toast", lambda *a, **k: None)
    result = {"target": {"k": 5, "max_suppression": 0.01}, "labels": {"ResidenceCity": ["town", "county", "state", "*"],
                                                                       "Age": ["as is", "5", "10", "*"]},
              "hierarchies": {"ResidenceCity": {"hierarchy": "ct_town", "via": "county"}, "Age": {"hierarchy": "age"}},
              "recipe": {"steps": [{"op": "suppress", "columns": ["ResidenceCity", "Age"]}]}}
    recommend_panel.apply_levels(result, {"ResidenceCity": 1, "Age": 1})
    steps = {s.get("column"): s for s in recipe["steps"]}
    assert steps["ResidenceCity"] == {**town, "level": 1}           # the state is still read from ResidenceState
    assert "state_column" not in steps["Age"] and recipe["steps"][-1]["op"] == "suppress"


def test_too_many_combinations_offers_to_remove_repeating_columns():
    at = page(load(real_file(DRUG)), steps=[{"op": "drop", "column": "ID"}]).run()
    qi = next(m for m in at.multiselect if m.label == "Quasi-identifiers to generalize")
    qi.set_value(["Date", "Age", "Sex", "Race", "ResidenceCity", "ResidenceCounty", "DeathCity", "DeathCounty",
                  "InjuryCity", "InjuryCounty", "DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo"]).run()
    assert not at.exception, at.exception
    assert button(at, "Recommend").disabled
    text = " ".join(m.value for m in at.markdown)
    assert "“ResidenceCityGeo” repeats “ResidenceCity”" in text and "“ResidenceCounty” repeats “ResidenceCity”" in text
    button(at, "Remove these").click().run()
    assert not at.exception, at.exception
    drops = {s["column"] for s in at.session_state["recipe"]["steps"] if s["op"] == "drop"}
    assert {"ID", "ResidenceCityGeo", "ResidenceCounty"} <= drops and "ResidenceCity" not in drops


def _qi(at):
    return next(m for m in at.multiselect if m.label == "Quasi-identifiers to generalize")


def test_a_recommendation_for_another_file_is_forgotten(drug_slice):
    """After a file switch the list is this file's quasi-identifiers, not the last file's (filtered to nothing),
    and nothing says "the settings changed"."""
    import json
    at = page(drug_slice)
    other = {"qi": ["Member Town", "Claim Year"], "k": 5, "max_suppression": 0.01, "sensitive": None, "l": None}
    at.session_state["recommend_result"] = {"token": json.dumps(["0" * 64, 40, other, {}]), "inputs": other,
                                            "result": {}}
    at.run()
    assert not at.exception, at.exception
    assert _qi(at).value == ["Date", "Age", "Sex", "Race", "ResidenceCity"]
    assert not any("settings changed" in c.value for c in at.caption)
    assert "recommend_result" not in at.session_state


def test_an_empty_list_asks_for_quasi_identifiers(drug_slice):
    at = page(drug_slice, steps=[{"op": "drop", "column": "ID"}]).run()
    button(at, "Recommend").click().run()
    assert "recommend_result" in at.session_state
    _qi(at).set_value([]).run()
    assert not at.exception, at.exception
    assert not any("settings changed" in c.value for c in at.caption)
    assert any("Choose the quasi-identifiers to generalize" in i.value for i in at.info)


# --- priorities and the analyst's own hierarchy (issue 18) ---------------------------------------------------

def test_priorities_are_offered_shown_in_the_proposal_and_kept_in_the_recipe(drug_slice):
    from ctopen import search

    at = page(drug_slice, steps=[{"op": "drop", "column": "ID"}]).run()
    assert at.selectbox(key="_w_rec_weight_Age").options == ["matters most", "matters", "matters less"]
    assert at.selectbox(key="_w_rec_limit_Date").options[:5] == [
        "no limit", "never coarser than as is", "never coarser than month", "never coarser than quarter",
        "never coarser than year"]
    at.selectbox(key="_w_rec_weight_Age").set_value("matters most").run()
    at.selectbox(key="_w_rec_weight_ResidenceCity").set_value("matters less").run()
    at.selectbox(key="_w_rec_limit_Date").set_value("never coarser than year").run()
    assert not at.exception, at.exception
    kept = {"Age": {"weight": 4.0}, "ResidenceCity": {"weight": 0.25}, "Date": {"max_level": 3}}
    assert at.session_state["recipe"]["priorities"] == kept
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    result = at.session_state["recommend_result"]["result"]
    assert result["max_levels"] == {"Date": 3} and result["levels"]["Date"] <= 3
    assert result["weights"]["Age"] == 4.0 and result["weights"]["ResidenceCity"] == 0.25
    expected = search.recommend(drug_slice.df, ["Date", "Age", "Sex", "Race", "ResidenceCity"], k=5,
                                weights={"Age": 4.0, "ResidenceCity": 0.25}, max_levels={"Date": 3})
    assert result["levels"] == expected.levels
    shown = [c.value for c in at.caption if c.value.startswith("With your priorities")]
    assert shown and "“Age” matters most" in shown[0] and "“Date” never coarser than year" in shown[0]
    button(at, "Apply this proposal").click().run()
    assert not at.exception, at.exception
    assert at.session_state["recipe"]["priorities"] == kept
    # a new visit starts from the recipe's priorities
    again = page(drug_slice, steps=[{"op": "drop", "column": "ID"}])
    again.session_state["recipe"]["priorities"] = kept
    again.run()
    assert again.selectbox(key="_w_rec_weight_Age").value == "matters most"
    assert again.selectbox(key="_w_rec_limit_Date").value == "never coarser than year"


def test_an_uploaded_hierarchy_file_is_used_by_the_column_and_by_recommend(drug_slice):
    from tests.conftest import ROOT as root

    at = page(drug_slice, steps=[{"op": "drop", "column": "ID"}]).run()
    race = next(r for r in at.radio if r.label.startswith("What to do with “Race”"))
    race.set_value("generalize").run()
    kind = next(s for s in at.selectbox if s.label == "Kind of values" and s.key.endswith("_Race_h"))
    assert "my own groups (a hierarchy file)" in kind.options
    kind.set_value("table").run()
    assert not at.exception, at.exception
    assert any("Upload the hierarchy file" in i.value for i in at.info)
    uploader = next(u for u in at.get("file_uploader") if u.key.endswith("_Race_table"))
    data = (root / "tests" / "data" / "hierarchy_race_arx.csv").read_bytes()
    at.file_uploader(key=uploader.key).upload("race.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    step = next(s for s in at.session_state["recipe"]["steps"] if s.get("column") == "Race")
    assert step["hierarchy"] == "table" and step["level"] == 1 and len(step["table"]) == 11
    assert step["table"]["Hispanic, White"] == ["Hispanic", "Black or Hispanic", "*"]
    assert any(c.value.startswith("Your hierarchy: 11 values, 2 level(s)") for c in at.caption)
    level = next(s for s in at.select_slider if s.key.endswith("_Race_lv"))
    level.set_value(2).run()
    assert not at.exception, at.exception
    assert next(s for s in at.session_state["recipe"]["steps"] if s.get("column") == "Race")["level"] == 2
    # the release groups Race as the file says
    from ctopen.transform import apply
    release = apply(drug_slice.df, at.session_state["recipe"]).df
    assert set(release["Race"].dropna()) <= {"White or other", "Black or Hispanic", "Unknown"}
    # Recommend searches the uploaded ladder and writes it back into the recipe
    button(at, "Recommend").click().run()
    assert not at.exception, at.exception
    result = at.session_state["recommend_result"]["result"]
    assert result["hierarchies"]["Race"]["hierarchy"] == "table"
    assert result["labels"]["Race"] == ["as is", "level 1", "level 2", "*"]
    button(at, "Apply this proposal").click().run()
    assert not at.exception, at.exception
    if result["levels"]["Race"] > 0:
        step = next(s for s in at.session_state["recipe"]["steps"] if s.get("column") == "Race")
        assert step["hierarchy"] == "table" and step["level"] == result["levels"]["Race"]
