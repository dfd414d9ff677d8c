"""Publishing a map release to the Geo Data Portal from the app in a real browser (issue 19): the claims-like file
with residence coordinates, its review (H3 hexagon counts) opened from a saved review, published privately to the
HTTPS ArcGIS stand-in, then made public (shared with everyone and the open-data group). Its own app server: the
shared one strips portal credentials."""
from __future__ import annotations

import json

from ctopen.publish import socrata
from tests.arcgis_emulator import ArcgisEmulator, make_certificate
from tests.conftest import ROOT

CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"
USER, PASSWORD = "publisher_ctgeo", "Br0wser-Geo-Secret-5"
HEX = {"op": "spatial_aggregate", "lat": "ResidenceLat", "lon": "ResidenceLon", "method": "h3", "resolution": 7,
       "by": [], "threshold": 5}


def test_a_hexagon_layer_is_published_private_then_shared_from_the_browser(browser, tmp_path_factory, tmp_path):
    import os
    import re

    from playwright.sync_api import expect

    from ctopen import review
    from ctopen.load import load
    from tests.e2e.conftest import go, no_exception, serve_app, shot, upload, wait_idle

    tls = make_certificate(tmp_path_factory.mktemp("arcgis-e2e-tls"))
    saved = tmp_path / "review-claims.json"
    saved.write_text(review.dumps({
        "version": 1, "source": load(CLAIMS).source.to_dict(), "steps": [HEX],
        "metadata": {"title": "Medicaid claims by hexagon", "description": "Claims counted into H3 cells of about two "
                     "square miles; counts of 1 to 5 are suppressed.", "category": "Health and Human Services",
                     "agency": "Department of Social Services", "tags": ["claims", "health"],
                     "license": "Public Domain"}}))
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as emu:
        env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_STATE_DIR": str(tmp_path / "state"),
               "ARCGIS_USERNAME": USER, "ARCGIS_PASSWORD": PASSWORD, "ARCGIS_URL": emu.url,
               "REQUESTS_CA_BUNDLE": tls[0]}
        for k in ("SOCRATA_USERNAME", "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN",
                  "SOCRATA_DOMAIN", "ARCGIS_API_KEY", "ARCGIS_GROUP", socrata.API_ENV):
            env.pop(k, None)
        with serve_app(env, tmp_path / "streamlit.log") as url:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            try:
                page.goto(url)
                page.get_by_text("Load", exact=True).first.wait_for()
                upload(page, "Spreadsheet to review", CLAIMS)
                page.get_by_text("2,000", exact=False).first.wait_for()
                wait_idle(page)
                upload(page, "Open a saved review", saved)
                page.get_by_text("Review opened").first.wait_for()
                wait_idle(page)
                go(page, "Identify")
                page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
                wait_idle(page, timeout=120)
                go(page, "Publish")
                expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
                expect(page.get_by_text("CT Geo Data Portal (geodata.ct.gov): a map layer")).to_be_visible()
                reviewer = page.get_by_label("Reviewer's name (for the report and the publish log)", exact=True)
                reviewer.fill("Jane Reviewer")
                reviewer.press("Tab")
                wait_idle(page)
                page.get_by_role("button", name=re.compile("Publish the layer privately")).click()
                expect(page.get_by_text(re.compile(r"is private in the Geo Data Portal's organisation")).first
                       ).to_be_visible(timeout=120_000)
                wait_idle(page)
                no_exception(page)
                (layer,) = emu.layer_ids()
                assert emu.public_ids() == [] and len(emu.features(layer)) > 100
                assert all(f["geometry"]["type"] == "Polygon" for f in emu.features(layer))
                shot(page, "arcgis-publish-private")
                page.get_by_text("The team has reviewed the private layer on the portal").click()
                wait_idle(page)
                page.get_by_role("button", name=re.compile("Make public")).click()
                expect(page.get_by_text(re.compile(rf"Layer {layer} is public on the Geo Data Portal")).first
                       ).to_be_visible(timeout=120_000)
                no_exception(page)
                shot(page, "arcgis-publish-public")
                assert emu.public_ids() == [layer]
                assert emu.shared(layer)["groups"] == ["0a1b2c3d4e5f60718293a4b5c6d7e8f9"]
                assert emu.shared(emu.layers[layer]["source"])["access"] == "private"
                content = page.content()
                assert PASSWORD not in content and not any(t in content for t in emu.tokens)
                assert json.dumps(HEX["op"])
            except BaseException:
                shot(page, "FAILED-arcgis-browser")
                raise
            finally:
                context.close()
