"""Issue 19 in a real browser: a claims file with the members' home coordinates goes from Load to a map bundle.

Upload tests/data/geo/claims_homes.csv (2,000 made-up claims, homes at 6 decimals); Identify finds the
coordinates are a household's location (direct); on Transform, the "Map of counts" tab counts the claims into
hexagons of about 2 square miles, draws them (no tile server) with the figures, and puts the step in the recipe;
the gate passes the hexagon layer; the bundle downloaded on Publish holds the layer as GeoJSON, a zipped shapefile
and a GeoPackage, with no count of 1 to 5 and no record's point.
"""
import io
import json
import re
import zipfile

import geopandas as gpd
import pandas as pd
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.conftest import describe_required, download_bundle, go, no_exception, shot, upload, visible, wait_idle

CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"


def test_home_coordinates_to_a_hexagon_map_bundle(page, tmp_path):
    upload(page, "Spreadsheet to review", CLAIMS)
    page.get_by_text("2,000", exact=True).first.wait_for()
    wait_idle(page)
    no_exception(page)
    go(page, "Identify")
    page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
    wait_idle(page)

    go(page, "Risk")
    expect(page.get_by_text("are a household's location", exact=False).first).to_be_visible()

    go(page, "Transform")
    page.get_by_role("tab", name="Map of counts").click()
    wait_idle(page, timeout=120)
    expect(visible(page.get_by_text("1.99 square miles", exact=False))).to_be_visible()
    hexes = visible(page.get_by_test_id("stMetric").filter(has_text="Hexagons")).get_by_test_id("stMetricValue")
    expect(hexes).to_have_text(re.compile(r"^\d[\d,]*$"))
    expect(visible(page.get_by_test_id("stMetric").filter(has_text="Records covered"))).to_contain_text("2,000")
    chart = visible(page.get_by_test_id("stPlotlyChart"))
    chart.scroll_into_view_if_needed()
    expect(chart.locator("path.js-fill").first).to_be_attached(timeout=30_000)   # hexagons drawn as filled shapes
    no_exception(page)
    shot(page, "map-1-transform")
    visible(page.get_by_role("button", name="Use this map in the recipe")).click()
    wait_idle(page, timeout=120)
    expect(page.get_by_text("Publish a map of counts by H3 hexagons of resolution 7", exact=False).first).to_be_visible()
    no_exception(page)

    go(page, "Describe")
    describe_required(page, "Health Claims by Member Home Hexagon 2024",
                      "Counts of 2024 health insurance claims by the hexagon (about two square miles) where the member "
                      "lives; counts of 1 to 5 are suppressed.",
                      "Office of Health Strategy", "ohs.data@ct.gov", "Health and Human Services", "Annually")

    go(page, "Publish")
    expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
    shot(page, "map-2-publish")
    path = download_bundle(page, tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        read = {n.rsplit("/", 1)[-1]: zf.read(n) for n in names}
    assert {"map.geojson", "map.shp.zip", "map.gpkg", "arcgis_item.json", "data.csv"} <= set(read), names
    table = pd.read_csv(io.BytesIO(read["data.csv"]), dtype=str, keep_default_na=False)
    assert list(table.columns) == ["h3_cell", "count"]
    shown = pd.to_numeric(table.loc[table["count"] != "", "count"])
    assert len(shown) and not shown.between(1, 5).any()
    gj = json.loads(read["map.geojson"])
    assert {f["geometry"]["type"] for f in gj["features"]} == {"Polygon"} and len(gj["features"]) == len(table)
    homes = pd.read_csv(CLAIMS, dtype=str)
    points = set(zip(homes["ResidenceLon"].astype(float), homes["ResidenceLat"].astype(float)))
    assert not any(tuple(p) in points for f in gj["features"] for p in f["geometry"]["coordinates"][0])
    for name in ("map.shp.zip", "map.gpkg"):
        (tmp_path / name).write_bytes(read[name])
        layer = gpd.read_file(f"zip://{tmp_path / name}" if name.endswith(".zip") else tmp_path / name)
        assert len(layer) == len(table) and layer.crs.to_epsg() == 4326
    assert json.loads(read["arcgis_item.json"])["title"] == "Health Claims by Member Home Hexagon 2024"
