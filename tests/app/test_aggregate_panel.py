"""AppTest of the "Publish counts instead of records" panel (ui/aggregate_panel.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest


def _panel():
    from ui import aggregate_panel
    aggregate_panel.render()


def _at(table=None, steps=None):
    at = AppTest.from_function(_panel, default_timeout=60)
    if table is not None:
        at.session_state["table"] = table
        at.session_state["detection"] = SimpleNamespace(columns=[])
        at.session_state["detection_for"] = table.source.sha256
        at.session_state["recipe"] = {"version": 1, "roles": {"Name": "direct"}, "steps": steps or []}
    return at


@pytest.fixture
def table(tmp_path):
    from ctopen.load import load
    rows = ["Name,Town,Year,Sex"]
    rows += [f"P{i},Hartford,2015,F" for i in range(30)]
    rows += [f"Q{i},Hartford,2016,M" for i in range(25)]
    rows += [f"R{i},Andover,2015,F" for i in range(3)]
    rows += [f"S{i},Andover,2016,M" for i in range(40)]
    rows += [f"T{i},New Haven,2016,F" for i in range(50)]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(rows) + "\n")
    return load(path)


def test_empty_state():
    at = _at()
    at.run()
    assert not at.exception
    assert "Load a file first" in at.caption[0].value


def test_count_table_shows_suppressed_cells_and_writes_the_recipe(table):
    at = _at(table)
    at.run()
    assert not at.exception
    by = at.multiselect[0]
    assert "Name" not in by.options              # identifiers are not offered
    by.set_value(["Town", "Year"]).run()
    assert not at.exception
    at.selectbox(key="agg_h_Town").set_value("as is").run()
    frame = at.dataframe[0].value
    small = frame[(frame["Town"] == "Andover") & (frame["Year"] == "2015")]
    assert small["count_suppressed"].iloc[0] == "Suppressed"
    assert small["why suppressed"].iloc[0] == "primary: count 3 <= 5"
    assert any("Suppressed" == m.label for m in at.metric)
    at.button[0].click().run()
    steps = at.session_state["recipe"]["steps"]
    assert steps[-1] == {"op": "aggregate", "by": ["Town", "Year"], "threshold": 5, "totals": True, "measures": []}


def test_town_generalized_to_county_first(table):
    at = _at(table)
    at.run()
    at.multiselect[0].set_value(["Town", "Sex"]).run()
    assert at.selectbox(key="agg_h_Town").value == "CT town -> county"
    frame = at.dataframe[0].value
    assert {"Hartford", "Tolland", "New Haven", "Total"} <= set(frame["Town"])
    at.button[0].click().run()
    steps = at.session_state["recipe"]["steps"]
    assert steps[0] == {"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": 1}
    assert steps[-1]["op"] == "aggregate"


def test_panel_starts_from_the_recipe(table):
    steps = [{"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": 1, "via": "county"},
             {"op": "aggregate", "by": ["Town", "Sex"], "threshold": 3, "totals": False, "measures": []}]
    at = _at(table, steps)
    at.run()
    assert not at.exception
    assert at.multiselect[0].value == ["Town", "Sex"]
    assert at.selectbox(key="agg_h_Town").value == "CT town -> county"
    assert at.number_input[0].value == 3
    assert at.checkbox[0].value is False
    frame = at.dataframe[0].value
    assert "Total" not in set(frame["Town"])
    assert any("Publish records instead" in b.label for b in at.button)
