"""AppTest of the Transform page's "Map of counts" panel (ui/map_panel.py, issue 19) on the claims-like file."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"


def _panel():
    from ui import map_panel, state
    found = state.detection()
    map_panel.render({c.name: c.entity for c in found.columns})


@pytest.fixture(scope="module")
def claims():
    from ctopen.detect import detect
    from ctopen.load import load
    t = load(CLAIMS)
    return t, detect(t.df)


def _at(claims, steps=None):
    t, found = claims
    at = AppTest.from_function(_panel, default_timeout=90)
    at.session_state["table"] = t
    at.session_state["detection"] = found
    at.session_state["detection_for"] = t.source.sha256
    at.session_state["recipe"] = {"version": 1, "steps": steps or []}
    return at


def test_the_panel_shows_the_hexagon_map_its_area_and_figures_and_writes_the_step(claims):
    at = _at(claims).run()
    assert not at.exception
    assert at.radio(key="map_method").options == ["Hexagons", "Towns", "Counties"]
    assert any("1.99 square miles" in m.value for m in at.markdown)          # resolution 7 by default
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Records covered"] == "2,000"
    places = int(metrics["Hexagons"].replace(",", ""))
    assert places > 100 and " of " in metrics["Suppressed counts"]
    chart = at.get("plotly_chart")[0]
    assert '"fill":"toself"' in chart.proto.spec.replace(" ", "")               # hexagons drawn as polygons
    at.select_slider(key="map_resolution").set_value(6).run()
    assert any("13.95 square miles" in m.value for m in at.markdown)
    assert int({m.label: m.value for m in at.metric}["Hexagons"].replace(",", "")) < places
    at.button(key="map_use").click().run()
    steps = at.session_state["recipe"]["steps"]
    assert steps == [{"op": "spatial_aggregate", "method": "h3", "lat": "ResidenceLat", "lon": "ResidenceLon",
                      "resolution": 6, "by": [], "threshold": 5}]
    assert not at.exception


def test_coordinates_and_identifiers_are_not_offered_as_dimensions(claims):
    at = _at(claims).run()
    offered = at.multiselect(key="map_by").options
    assert "Sex" in offered and "Age" in offered
    assert not {"ResidenceLat", "ResidenceLon", "MemberName", "ClaimID"} & set(offered)


def test_towns_and_the_spatial_k_step(claims):
    at = _at(claims, steps=[{"op": "aggregate", "by": ["Sex"]}]).run()
    at.radio(key="map_method").set_value("town").run()
    assert not at.exception and at.selectbox(key="map_town").value == "ResidenceTown"
    at.button(key="map_use").click().run()
    steps = at.session_state["recipe"]["steps"]
    assert [s["op"] for s in steps] == ["spatial_aggregate"]       # one count step: the map replaced the table
    assert steps[0]["town"] == "ResidenceTown"
    at.button(key="map_k_use").click().run()
    assert [s["op"] for s in at.session_state["recipe"]["steps"]] == ["spatial_k", "spatial_aggregate"]
    assert at.session_state["recipe"]["steps"][0]["max_decimals"] == 2     # no point at a house's precision
    assert not at.exception


def test_a_map_that_lists_the_records_is_flagged_before_it_is_used(claims):
    at = _at(claims).run()
    assert not any("lists the records" in w.value for w in at.warning)
    at.multiselect(key="map_by").set_value(["Sex", "Diagnosis"]).run()
    assert not at.exception
    assert any("This map lists the records" in w.value and "gate blocks it" in w.value for w in at.warning)
