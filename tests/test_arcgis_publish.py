"""`ctopen publish FILE --recipe R --to arcgis`: the real command, the same Review and gate as --to socrata, the map
release (the claims-like file counted into H3 hexagons) sent to the ArcGIS stand-in (tests/arcgis_emulator.py)."""
from __future__ import annotations

import json

import pytest

from ctopen import geo
from ctopen.cli import main
from ctopen.load import load
from ctopen.publish import log as plog
from ctopen.review import Review
from tests.arcgis_emulator import ArcgisEmulator, make_certificate
from tests.conftest import ROOT

CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"
USER = "publisher_ctgeo"
PASSWORD = "Geo-Tr0ub4dor&3-cli"
HEX = {"op": "spatial_aggregate", "lat": "ResidenceLat", "lon": "ResidenceLon", "method": "h3", "resolution": 7,
       "by": [], "threshold": 5}
META = {"title": "Medicaid claims by hexagon", "description": "Claims counted into H3 cells of about 2 square miles.",
        "tags": ["health", "claims"], "license": "Public Domain", "agency": "Department of Social Services"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("arcgis-cli-tls"))


@pytest.fixture(autouse=True)
def env(tls, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls[0])
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))
    for name in ("CURL_CA_BUNDLE", "ARCGIS_URL", "ARCGIS_API_KEY", "ARCGIS_GROUP", "SOCRATA_USERNAME",
                 "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARCGIS_USERNAME", USER)
    monkeypatch.setenv("ARCGIS_PASSWORD", PASSWORD)


@pytest.fixture
def emu(tls):
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as e:
        yield e


@pytest.fixture
def other(tls):
    """Another host, as a shared recipe or a portal's answer could name it: it must never hear from us."""
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as e:
        yield e


def recipe_file(tmp_path, steps=(HEX,), **extra) -> str:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"version": 1, "steps": list(steps), "metadata": META, **extra}))
    return str(path)


def cli(capsys, *argv):
    code = main(["publish", str(CLAIMS), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_claims_go_out_as_a_private_hexagon_layer_then_public(tmp_path, emu, capsys):
    recipe = recipe_file(tmp_path)
    code, out, err = cli(capsys, "--recipe", recipe, "--to", "arcgis", "--portal", emu.url, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"status", "dataset_id", "url", "rows", "public", "gate"} <= set(res)
    assert res["status"] == "private" and res["public"] is False and res["to"] == "arcgis" and res["gate"]["passed"]
    layer = res["dataset_id"]
    assert emu.layer_ids() == [layer] and emu.public_ids() == []
    # the features in the layer are the release the gate judged, as GeoJSON
    review = Review(load(CLAIMS).df, json.loads(open(recipe).read()))
    expected = geo.to_geojson(review.portal_view.rows)["features"]
    got = [{"type": "Feature", "geometry": f["geometry"],
            "properties": {k: v for k, v in f["properties"].items() if k != "OBJECTID"}} for f in emu.features(layer)]
    assert got == expected and res["rows"] == len(expected) == res["features"]
    shown = [f["properties"]["count"] for f in expected if f["properties"]["count"] is not None]
    assert shown and min(shown) > 5                       # no published cell of 1-5
    records = {(round(float(a), 6), round(float(b), 6)) for a, b in
               zip(load(CLAIMS).df["ResidenceLon"], load(CLAIMS).df["ResidenceLat"])}
    assert all(f["geometry"]["type"] == "Polygon" for f in got)
    assert not records & {tuple(p) for f in got for p in f["geometry"]["coordinates"][0]}   # no record's point

    # the bundle of the same review holds the same layer and the same item metadata (one rendering of each)
    code, _, err = cli(capsys, "--recipe", recipe, "--to", "arcgis", "--bundle", tmp_path / "bundle")
    assert code == 0, err
    assert json.loads((tmp_path / "bundle" / "map.geojson").read_text())["features"] == got
    item, sent = json.loads((tmp_path / "bundle" / "arcgis_item.json").read_text()), emu.items[layer]
    assert {k: sent[k] for k in item if k != "type"} == {k: v for k, v in item.items() if k != "type"}

    # the explicit step after the review: same layer, data replaced, shared with everyone and the open-data group
    code, out, err = cli(capsys, "--recipe", recipe, "--to", "arcgis", "--portal", emu.url, "--dataset-id", layer,
                         "--make-public", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["status"] == "updated" and res["public"] is True and res["dataset_id"] == layer
    assert res["group"] == "CT Geo Data Portal content"
    assert emu.public_ids() == [layer] and emu.layer_ids() == [layer]
    everything = out + err + json.dumps([e.to_dict() for e in plog.entries()])
    assert PASSWORD not in everything and not any(t in everything for t in emu.tokens)
    assert [e.status for e in plog.entries()][:2] == ["updated", "started"] and plog.entries()[0].api == "arcgis"


def test_the_text_output_says_where_it_is_and_who_sees_it(tmp_path, emu, capsys):
    code, out, _ = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--portal", emu.url)
    assert code == 0
    assert "status: private" in out and "shared: no one (private)" in out and "/home/item.html?id=" in out
    assert "privacy gate: passed" in out


def test_a_blocked_release_exits_3_and_sends_nothing(tmp_path, emu, capsys):
    # the records themselves, homes included: direct identifiers left
    code, out, _ = cli(capsys, "--recipe", recipe_file(tmp_path, steps=[]), "--to", "arcgis", "--portal", emu.url,
                       "--json")
    assert code == 3 and json.loads(out)["status"] == "blocked"
    assert emu.requests == []


def test_a_release_without_a_location_is_refused_for_arcgis(tmp_path, emu, capsys):
    steps = [{"op": "aggregate", "by": ["Diagnosis", "Sex"], "threshold": 5}]
    code, _, err = cli(capsys, "--recipe", recipe_file(tmp_path, steps=steps), "--to", "arcgis", "--portal", emu.url)
    assert code == 2 and "no location to put on a map" in err and "--to socrata" in err
    assert err.count("\n") == 1 and emu.requests == []


def test_a_recipe_naming_another_host_never_receives_credentials(tmp_path, emu, other, capsys, monkeypatch):
    recipe = recipe_file(tmp_path, target={"arcgis": {"portal": other.url, "item_id": "a" * 32}})
    monkeypatch.setenv("ARCGIS_URL", emu.url)
    code, _, err = cli(capsys, "--recipe", recipe, "--to", "arcgis", "--json")
    assert code == 2 and f"names the ArcGIS portal {other.url}" in err and "--portal" in err
    assert other.requests == [] and emu.requests == []
    # a feature service on another host, as the portal names it: the token never goes there either
    emu.service_host = other.url
    code, out, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--json")
    assert code == 0, err
    assert json.loads(out)["layer_url"].startswith(other.url)
    assert other.requests == [] and all(r["path"].startswith("/sharing/rest/") for r in emu.requests)


@pytest.mark.parametrize("argv,words", [
    (["--api", "soda"], "does not apply to --to arcgis"),
    (["--mode", "upsert", "--dataset-id", "a" * 32], "for the Open Data Portal"),
    (["--mode", "replace"], "give its item id"),
    (["--dataset-id", "abcd-1234"], "not an ArcGIS item id"),
    (["--portal", "http://gis.example.org"], "in clear"),
])
def test_options_that_do_not_fit_arcgis_are_one_line_errors(tmp_path, emu, capsys, argv, words):
    code, _, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", *argv)
    assert code == 2 and words in err and err.count("\n") == 1 and emu.requests == []


def test_without_portal_or_credentials_it_fails_before_any_work(tmp_path, emu, capsys, monkeypatch):
    code, _, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis")
    assert code == 2 and "No ArcGIS portal is set" in err and "ARCGIS_URL" in err
    monkeypatch.delenv("ARCGIS_PASSWORD")
    code, _, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--portal", emu.url)
    assert code == 2 and "incomplete" in err
    monkeypatch.delenv("ARCGIS_USERNAME")
    code, _, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--portal", emu.url)
    assert code == 2 and "No ArcGIS credentials" in err and "--bundle" in err
    code, out, _ = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["status"] == "dry-run" and json.loads(out)["features"] > 100
    assert emu.requests == []


def test_a_portal_fault_is_one_line_and_leaves_nothing_shared(tmp_path, emu, capsys):
    emu.fail_job()
    code, out, err = cli(capsys, "--recipe", recipe_file(tmp_path), "--to", "arcgis", "--portal", emu.url,
                         "--make-public")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Nothing was shared" in err
    assert PASSWORD not in err and emu.public_ids() == [] and emu.items == {}
    assert plog.entries()[0].status == "failed" and plog.entries()[0].api == "arcgis"
