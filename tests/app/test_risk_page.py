"""The Risk page with AppTest: empty state, defaults from the roles, figures that match ctopen.risk, the
threshold slider, the release table after a recipe, masked identifiers, choices kept across pages."""
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ctopen.load import load
from ctopen.risk import assess
from tests.conftest import DRUG, real_file
from tests.app.helpers import empty

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/risk.py"
CSV = ("Name,Age,Sex,Town,Diagnosis\n"
       "Ann Lee,34,F,Hartford,flu\nBo Chan,34,F,Hartford,flu\nCy Diaz,34,F,Hartford,cold\n"
       "Di Fay,51,M,Avon,flu\nEd Gold,51,M,Avon,asthma\nFlo Hu,78,F,Canaan,flu\n").encode()
ROLES = {"Name": "direct", "Age": "quasi", "Sex": "quasi", "Town": "quasi", "Diagnosis": "sensitive"}


def app(data=CSV, name="people.csv", roles=ROLES, steps=(), table=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    t = table or load(data, name=name)
    at.session_state["table"] = t
    at.session_state["recipe"] = {"version": 1, "source": t.source.to_dict(), "roles": dict(roles),
                                  "steps": list(steps), "metadata": {}, "target": {}}
    at.session_state["detection"] = SimpleNamespace(columns=[])   # roles come from the recipe only
    at.session_state["detection_for"] = t.source.sha256
    at.switch_page(PAGE)
    return at.run()


def metric(at, label_start):
    return next(m for m in at.metric if m.label.startswith(label_start))


def test_empty_state_without_a_file():
    at = empty(PAGE)
    assert len(at.multiselect) == 0


def test_defaults_come_from_the_roles_and_figures_match_the_core():
    at = app()
    assert not at.exception
    assert at.multiselect(key="_w_risk_quasi").value == ["Age", "Sex", "Town"]
    assert at.multiselect(key="_w_risk_sensitive").value == ["Diagnosis"]
    assert at.slider(key="_w_risk_k").value == 5
    # classes: (34,F,Hartford) x3, (51,M,Avon) x2, (78,F,Canaan) x1
    assert metric(at, "Smallest group").value == "1"
    assert metric(at, "Records at risk").value == "6"
    assert metric(at, "Unique records").value == "1"
    assert metric(at, "Rows kept").value == "6"
    assert "Someone could be picked out" in at.warning[0].value
    assert all(w.label for w in list(at.multiselect) + list(at.slider) + list(at.toggle))
    assert len(at.get("plotly_chart")) == 1
    frames = [d.value for d in at.dataframe]
    div = next(f for f in frames if "Sensitive attribute" in f.columns)
    assert div.iloc[0]["Fewest distinct values in a group (distinct-l)"] == 1


def test_threshold_slider_changes_records_at_risk():
    at = app()
    at.slider(key="_w_risk_k").set_value(2).run()
    assert not at.exception
    assert metric(at, "Records at risk").value == "1"
    assert st_value(at, "risk_k") == 2


def st_value(at, key):
    return at.session_state[key]


def test_no_quasi_identifier_selected_says_what_to_do():
    # every column given a role (detection is empty here: a column with no role counts as quasi, as in the gate)
    at = app(roles={"Name": "direct", "Age": "other", "Sex": "other", "Town": "other", "Diagnosis": "other"})
    assert not at.exception
    assert any("Choose at least one quasi-identifier" in i.value for i in at.info)
    assert len(at.metric) == 0


def test_riskiest_records_mask_direct_identifiers():
    at = app()
    at.toggle(key="_w_risk_show_records").set_value(True).run()
    assert not at.exception
    top = at.dataframe[-1].value
    assert list(top.columns[:4]) == ["Group size", "Age", "Sex", "Town"]
    assert top.iloc[0]["Group size"] == 1 and top.iloc[0]["Town"] == "Canaan"
    names = set(load(CSV, name="people.csv").df["Name"])
    assert not names & set(top["Name"])


def test_release_table_after_a_recipe_is_assessed_with_before_deltas():
    pytest.importorskip("ctopen.transform")
    steps = [{"op": "drop", "column": "Town"}]
    at = app(steps=steps)
    assert not at.exception, at.exception
    assert "release table" in " ".join(c.value for c in at.caption)
    assert at.multiselect(key="_w_risk_quasi").value == ["Age", "Sex"]
    assert metric(at, "Unique records").value == "1"
    assert any("Town" in c.value for c in at.caption)   # dropped QI is named


def test_choices_survive_leaving_the_page():
    at = app()
    at.multiselect(key="_w_risk_quasi").set_value(["Age"]).run()
    at.slider(key="_w_risk_k").set_value(3).run()
    at.switch_page("pages/transform.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.multiselect(key="_w_risk_quasi").value == ["Age"]
    assert at.slider(key="_w_risk_k").value == 3


def test_real_file_page_agrees_with_assess():
    t = load(real_file(DRUG))
    roles = {"Age": "quasi", "Sex": "quasi", "Race": "quasi", "ResidenceCity": "quasi", "COD": "sensitive", "ID": "direct"}
    roles = {c: roles.get(c, "other") for c in t.df.columns}    # detection is empty here: every role is given
    at = app(table=t, roles=roles)
    assert not at.exception
    r = assess(t.df, ["Age", "Sex", "Race", "ResidenceCity"], ["COD"])
    assert metric(at, "Unique records").value == f"{r.uniques:,}" == "3,031"
    assert metric(at, "Records at risk").value == "4,881"
    combos = next(d.value for d in at.dataframe if "Share unique" in d.value.columns)
    assert combos.iloc[0]["Columns"] == "Age + ResidenceCity"


def test_a_sensitive_column_moved_to_the_quasi_identifiers_leaves_the_sensitive_list():
    at = app()
    at.multiselect(key="_w_risk_quasi").set_value(["Age", "Sex", "Town", "Diagnosis"]).run()
    assert not at.exception, at.exception
    assert "Diagnosis" not in at.multiselect(key="_w_risk_sensitive").value
    assert "Diagnosis" not in at.multiselect(key="_w_risk_sensitive").options


def test_many_quasi_identifiers_on_a_large_table_assess_combinations_on_request():
    import numpy as np
    rng = np.random.default_rng(0)
    cols = [f"Q{i}" for i in range(22)]
    df = pd.DataFrame({c: rng.integers(0, 3, 100).astype(str) for c in cols})
    at = app(data=df.to_csv(index=False).encode(), name="wide.csv", roles={c: "quasi" for c in cols})
    assert not at.exception
    assert not any("Every combination" in e.label for e in at.expander)
    at.button(key="_w_risk_combos").click().run()
    assert not at.exception
    assert any("Every combination" in e.label for e in at.expander)
    assert any("22 quasi-identifiers" in c.value for c in at.caption)


def test_a_renamed_quasi_identifier_keeps_its_role_and_is_not_called_dropped():
    at = app(steps=[{"op": "rename", "column": "Town", "to": "Town of residence"}, {"op": "drop", "column": "Name"}])
    assert not at.exception, at.exception
    assert at.multiselect(key="_w_risk_quasi").value == ["Age", "Sex", "Town of residence"]
    assert not any("Not in the release" in c.value and "Town" in c.value for c in at.caption)
    assert metric(at, "Smallest group").value == "1"


def test_the_threshold_is_the_reviews_k():
    """The slider shows the recipe's k, and moving it writes the recipe's k: the gate judges by the same k."""
    at = app()
    assert at.slider(key="_w_risk_k").value == 5 and "k" not in at.session_state["recipe"]
    at.slider(key="_w_risk_k").set_value(8).run()
    assert not at.exception
    assert at.session_state["recipe"]["k"] == 8 and at.session_state["_review_obj"].gate.threshold == 8
    at.slider(key="_w_risk_k").set_value(3).run()
    assert at.session_state["recipe"]["k"] == 3
    assert at.session_state["_review_obj"].gate.threshold == 5          # lower: only by an exception
    assert any("Below the state's minimum of 5" in w.value for w in at.warning)
    at.slider(key="_w_risk_k").set_value(5).run()
    assert "k" not in at.session_state["recipe"]


def test_a_recipe_k_shows_on_the_slider():
    at = AppTest.from_file(APP, default_timeout=120)
    t = load(CSV, name="people.csv")
    at.session_state["table"] = t
    at.session_state["recipe"] = {"version": 1, "source": t.source.to_dict(), "roles": dict(ROLES), "steps": [],
                                  "metadata": {}, "target": {}, "k": 7}
    at.session_state["detection"] = SimpleNamespace(columns=[])
    at.session_state["detection_for"] = t.source.sha256
    at.switch_page(PAGE)
    at.run()
    assert at.slider(key="_w_risk_k").value == 7


# --- in the population (issue 18) ------------------------------------------------------------------------

def test_population_choice_shows_the_estimate_and_is_kept_in_the_recipe():
    at = app()
    choice = at.selectbox(key="_w_risk_pop")
    assert choice.value.startswith("Not set") and "population" not in at.session_state["recipe"]
    connecticut = next(o for o in choice.options if o.startswith("Connecticut: 3,605,944"))
    assert any(o.startswith("Hartford County (county)") for o in choice.options)
    assert any(o.startswith("Canaan (town)") for o in choice.options)
    choice.set_value(connecticut).run()
    assert not at.exception
    assert at.session_state["recipe"]["population"] == {"size": 3_605_944, "place": "Connecticut"}
    table = load(CSV, name="people.csv")
    expected = assess(table.df, ["Age", "Sex", "Town"], k=5, combinations=False, population=3_605_944).population
    assert metric(at, "People unique in the population").value == f"{expected.uniques:,.0f}"
    # a limit on population uniques: kept in the recipe for the gate, judged here
    at.checkbox(key="_w_risk_pop_limit_on").check().run()
    assert at.session_state["recipe"]["population"]["max_uniques_share"] == 0.001
    assert any("Above your limit" in w.value for w in at.warning)
    at.number_input(key="_w_risk_pop_limit").set_value(90.0).run()
    assert any("Within your limit" in s.value for s in at.success)
    assert at.session_state["recipe"]["population"]["max_uniques_share"] == 0.9
    # N = n: the file's own figures
    at.selectbox(key="_w_risk_pop").set_value("A number I type").run()
    at.number_input(key="_w_risk_pop_n").set_value(6).run()
    assert metric(at, "People unique in the population").value == "1.0"
    assert any("whole population" in c.value for c in at.caption)
    # fewer people than records: one sentence, no traceback
    at.number_input(key="_w_risk_pop_n").set_value(3).run()
    assert not at.exception and any("cannot be smaller" in e.value for e in at.error)
    at.selectbox(key="_w_risk_pop").set_value(at.selectbox(key="_w_risk_pop").options[0]).run()
    assert "population" not in at.session_state["recipe"]


def test_the_one_town_a_file_covers_is_offered_and_a_saved_population_comes_back():
    one_town = ("Age,Sex,Town\n" + "".join(f"{30 + i % 3},{'MF'[i % 2]},Hartford\n" for i in range(12))).encode()
    at = app(data=one_town, roles={"Age": "quasi", "Sex": "quasi", "Town": "quasi"})
    options = at.selectbox(key="_w_risk_pop").options
    assert options[2].startswith("Hartford, where the file's records lie: 121,054 people")
    saved = {"size": 250_000, "place": "Hartford County adults", "max_uniques_share": 0.002}
    at = AppTest.from_file(APP, default_timeout=120)
    t = load(CSV, name="people.csv")
    at.session_state["table"] = t
    at.session_state["recipe"] = {"version": 1, "source": t.source.to_dict(), "roles": dict(ROLES), "steps": [],
                                  "metadata": {}, "target": {}, "population": dict(saved)}
    at.session_state["detection"] = SimpleNamespace(columns=[])
    at.session_state["detection_for"] = t.source.sha256
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.selectbox(key="_w_risk_pop").value == "A number I type"
    assert at.number_input(key="_w_risk_pop_n").value == 250_000
    assert at.checkbox(key="_w_risk_pop_limit_on").value
    assert at.session_state["recipe"]["population"] == saved
