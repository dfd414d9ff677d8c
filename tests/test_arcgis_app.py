"""The Publish page (AppTest) with a map release: both portals offered, the layer published privately to the ArcGIS
stand-in, made public only after the team's review, the Data Access Plan row naming the Geo Data Portal."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest

from ctopen import dap
from ctopen.detect import detect
from ctopen.load import load
from ctopen.publish import log as plog
from tests.arcgis_emulator import ArcgisEmulator, make_certificate
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "publish.py")
CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"
USER, PASSWORD = "publisher_ctgeo", "page-Geo-Secret-77"
HEX = {"op": "spatial_aggregate", "lat": "ResidenceLat", "lon": "ResidenceLon", "method": "h3", "resolution": 7,
       "by": [], "threshold": 5}
ENV = ("ARCGIS_URL", "ARCGIS_USERNAME", "ARCGIS_PASSWORD", "ARCGIS_API_KEY", "ARCGIS_GROUP", "SOCRATA_USERNAME",
       "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN")


@pytest.fixture(scope="module")
def claims():
    t = load(CLAIMS)
    return t, detect(t.df)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("arcgis-app-tls"))


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path, tls):
    for v in ENV:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls[0])
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))


def app(claims, steps, target=None) -> AppTest:
    t, detection = claims
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["table"] = t
    at.session_state["detection"] = detection
    at.session_state["detection_for"] = t.source.sha256
    at.session_state["recipe"] = {
        "version": 1, "source": t.source.to_dict(), "roles": {}, "steps": steps, "target": target or {},
        "metadata": {"title": "Medicaid claims by hexagon", "description": "Claims counted into H3 cells.",
                     "category": "Health and Human Services", "tags": ["claims"], "license": "Public Domain"}}
    return at.run()


def button(at, label):
    return next(b for b in at.button if b.label == label)


def test_a_map_release_goes_to_the_geo_data_portal_private_then_public(claims, tls, monkeypatch):
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as emu:
        monkeypatch.setenv("ARCGIS_USERNAME", USER)
        monkeypatch.setenv("ARCGIS_PASSWORD", PASSWORD)
        monkeypatch.setenv("ARCGIS_URL", emu.url)
        at = app(claims, [HEX])
        assert not at.exception and not at.error
        assert at.radio(key="pub_to").value == "arcgis"            # both offered, the map layer first
        assert at.radio(key="pub_to").options == ["CT Open Data Portal (data.ct.gov): a table",
                                                  "CT Geo Data Portal (geodata.ct.gov): a map layer"]
        at.text_input(key="pub_reviewer").set_value("Jane Reviewer")
        button(at, "Publish the layer privately").click()
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        (layer,) = emu.layer_ids()
        assert emu.public_ids() == [] and len(emu.features(layer)) > 100
        assert any(f"Layer {layer} is private" in m.value for m in at.success)
        assert any("no one yet" in c.value for c in at.caption)
        assert at.session_state["recipe"]["target"]["arcgis"] == {"portal": emu.url, "item_id": layer}
        assert at.text_input(key="pub_arcgis_item").value == layer     # the next click replaces this layer's data
        make = button(at, "Make public (share with everyone and the open-data group)")
        assert make.disabled                                            # only after the team's review
        at.checkbox(key="pub_arcgis_reviewed").check()
        at.run()
        button(at, "Make public (share with everyone and the open-data group)").click()
        at.run()
        assert not at.error and emu.public_ids() == [layer]
        assert any(f"Layer {layer} is public on the Geo Data Portal" in m.value for m in at.success)
        assert any("everyone and the group “CT Geo Data Portal content”" in c.value for c in at.caption)
        assert [e.status for e in plog.entries()][:2] == ["public", "private"] and plog.entries()[0].api == "arcgis"

        # the Data Access Plan row names the Geo Data Portal and links the layer
        assert at.radio(key="pub_dap_portal").value == "Geo Data"
        button(at, "Add or update this dataset's row").click()
        at.run()
        result = at.session_state["dap_result"][1]
        ws = load_workbook(io.BytesIO(result.content))[result.sheet]
        row = dict(zip(dap.COLUMNS, [c.value for c in ws[2]]))
        assert row["Portal"] == "Geo Data" and row["Status"] == "public"
        assert row["URL"] == f"{emu.url}/home/item.html?id={layer}"
        shown = " ".join(str(e.value) for e in list(at.markdown) + list(at.success) + list(at.caption) + list(at.info))
        assert PASSWORD not in shown and not any(t in shown for t in emu.tokens)


def test_a_failure_on_the_page_is_one_line_and_nothing_is_shared(claims, tls, monkeypatch):
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as emu:
        monkeypatch.setenv("ARCGIS_USERNAME", USER)
        monkeypatch.setenv("ARCGIS_PASSWORD", PASSWORD)
        monkeypatch.setenv("ARCGIS_URL", emu.url)
        emu.fail_job()
        at = app(claims, [HEX])
        button(at, "Publish the layer privately").click()
        at.run()
        assert not at.exception and "Nothing was shared" in at.error[0].value and "\n" not in at.error[0].value
        assert emu.items == {} and emu.public_ids() == []


def test_the_portal_is_fixed_by_the_setting_and_a_review_naming_another_is_not_used(claims, tls, monkeypatch):
    monkeypatch.setenv("ARCGIS_USERNAME", USER)
    monkeypatch.setenv("ARCGIS_PASSWORD", PASSWORD)
    monkeypatch.setenv("ARCGIS_URL", "https://ctgeo.maps.arcgis.com")
    at = app(claims, [HEX], target={"arcgis": {"portal": "https://elsewhere.example.org", "item_id": "b" * 32}})
    assert at.text_input(key="pub_arcgis_portal_fixed").disabled
    assert at.text_input(key="pub_arcgis_portal_fixed").value == "https://ctgeo.maps.arcgis.com"
    assert any("names the organisation https://elsewhere.example.org" in w.value for w in at.warning)
    assert at.text_input(key="pub_arcgis_item").value == ""         # the other organisation's layer id is not used


def test_without_arcgis_credentials_the_map_bundle_is_offered(claims):
    at = app(claims, [HEX])
    assert not at.exception
    assert any("No ArcGIS credentials" in i.value for i in at.info)
    assert "Download the publication bundle (ZIP)" in [d.label for d in at.download_button]


def test_a_release_without_a_location_offers_only_the_open_data_portal(claims):
    steps = [{"op": "aggregate", "by": ["Diagnosis", "Sex"], "threshold": 5}]
    at = app(claims, steps)
    assert not at.exception and not [r for r in at.radio if r.key == "pub_to"]
    assert at.radio(key="pub_dap_portal").value == "Open Data"


def test_without_the_setting_the_officer_types_the_portal_a_review_never_fills_it(claims, monkeypatch):
    monkeypatch.setenv("ARCGIS_USERNAME", USER)
    monkeypatch.setenv("ARCGIS_PASSWORD", PASSWORD)
    at = app(claims, [HEX], target={"arcgis": {"portal": "https://elsewhere.example.org", "item_id": "b" * 32}})
    assert at.text_input(key="pub_arcgis_portal").value == ""
    assert any("organisation https://elsewhere.example.org: type that address" in c.value for c in at.caption)
    assert button(at, "Replace the layer's data").disabled           # nothing goes anywhere until a portal is typed
