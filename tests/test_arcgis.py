"""Publishing a map release to ArcGIS Online with the real client (ctopen.publish.arcgis) against the local HTTPS
stand-in (tests/arcgis_emulator.py), whose test certificate is trusted through REQUESTS_CA_BUNDLE. End states on
the 'portal': items, their access and groups, the layer's features, what every request carried."""
from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pytest

from ctopen.errors import ConfigError, CtopenError, PublishError
from ctopen.publish import arcgis
from tests.arcgis_emulator import ArcgisEmulator, make_certificate

USER = "publisher_ctgeo"
PASSWORD = "Geo-Tr0ub4dor&3"
API_KEY = "AAPK-test-key-4f9a2b7c1d"
OPEN_GROUP = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

META = {"title": "Medicaid claims by hexagon", "description": "Claims counted into H3 cells. Cells of 1-5 are suppressed.",
        "tags": ["health", "claims"], "category": "Health and Human Services", "license": "Public Domain",
        "agency": "Department of Social Services", "notes": "Counts of 1 to 5 are left empty.",
        "columns": {"count": "Claims in the cell", "h3_cell": "H3 cell id (resolution 7)"}}


def hexagons(n: int = 6, shift: float = 0.0) -> dict:
    """A small hexagon count layer, as a map release's GeoJSON (RFC 7946: lon, lat; rings closed)."""
    features = []
    for i in range(n):
        lon, lat = -72.9 + 0.05 * i + shift, 41.6 + 0.03 * (i % 3)
        ring = [[lon, lat], [lon + 0.02, lat], [lon + 0.03, lat + 0.02], [lon + 0.02, lat + 0.04], [lon, lat + 0.04],
                [lon - 0.01, lat + 0.02], [lon, lat]]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"h3_cell": f"872a1{i:04x}ffffff", "year": "2024",
                                        "count": None if i == 2 else 6 + i}})
    return {"type": "FeatureCollection", "features": features}


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("arcgis-tls"))


@pytest.fixture(autouse=True)
def trust(tls, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls[0])
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))
    for name in ("ARCGIS_URL", "ARCGIS_USERNAME", "ARCGIS_PASSWORD", "ARCGIS_API_KEY", "ARCGIS_GROUP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu(tls):
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD, api_key=API_KEY) as e:
        yield e


@pytest.fixture
def creds():
    return arcgis.Credentials(USER, PASSWORD)


def client(emu, creds, **kw):
    kw.setdefault("backoff", 0)
    kw.setdefault("poll", 0.01)
    kw.setdefault("timeout", 5)
    return arcgis.Client(emu.url, creds, **kw)


def props(columns=("h3_cell", "year", "count")):
    return arcgis.item_properties(META, list(columns))


def published(emu, layer_id) -> list[dict]:
    """The layer's features as the portal serves them, without the OBJECTID it adds."""
    out = []
    for f in emu.features(layer_id):
        p = {k: v for k, v in f["properties"].items() if k != "OBJECTID"}
        out.append({"type": "Feature", "geometry": f["geometry"], "properties": p})
    return out


def everything_sent(emu) -> str:
    return "\n".join(f"{r['method']} {r['path']} {json.dumps(r['headers'])} {r['body'].decode('utf-8', 'replace')}"
                     for r in emu.requests)


# --- the happy path -----------------------------------------------------------------------------

def test_private_first_then_shared_with_everyone_and_the_open_data_group(emu, creds):
    release = hexagons()
    with client(emu, creds) as c:
        result = arcgis.publish(release, props(), None, creds, client=c)
        assert result.status == "private" and not result.public
        layer, source = result.item_id, result.source_item_id
        # private until shared: both items, no group, and the layer's features need a token
        assert emu.shared(layer) == {"access": "private", "everyone": False, "org": False, "groups": []}
        assert emu.shared(source)["access"] == "private"
        assert emu.public_ids() == []
        # the features in the layer equal the release
        assert published(emu, layer) == release["features"]
        assert result.features == 6 and result.url == f"{emu.url}/home/item.html?id={layer}"
        assert result.layer_url.endswith("/FeatureServer") and result.job == "completed"
        # the layer carries the review's metadata
        item = emu.items[layer]
        assert item["title"] == META["title"] and item["snippet"] == "Claims counted into H3 cells."
        assert item["tags"] == ["health", "claims", "Health and Human Services"]
        assert "Public Domain" in item["licenseInfo"] and item["accessInformation"] == META["agency"]
        assert "Counts of 1 to 5 are left empty." in item["description"]

        shared = arcgis.share_public(layer, None, creds, client=c)
    assert shared.public and shared.group == "CT Geo Data Portal content"
    assert emu.shared(layer) == {"access": "public", "everyone": True, "org": True, "groups": [OPEN_GROUP]}
    assert emu.shared(source)["access"] == "private"          # the file item is never shared
    assert emu.public_ids() == [layer]


def test_the_token_travels_only_in_a_header_and_the_password_only_to_generate_token(emu, creds):
    with client(emu, creds) as c:
        result = arcgis.publish(hexagons(), props(), None, creds, make_public=True, client=c)
    assert result.status == "public" and emu.public_ids() == [result.item_id]
    token = next(iter(emu.tokens))
    for r in emu.requests:
        text = unquote_plus(r["path"] + r["body"].decode("utf-8", "replace"))
        assert token not in r["path"]                      # never in an address (proxies log them)
        if r["path"].endswith("/generateToken"):
            assert PASSWORD in text and "client=referer" in text
        else:
            assert PASSWORD not in text and r["headers"]["X-Esri-Authorization"] == f"Bearer {token}"
    assert all(r["path"].startswith("/sharing/rest/") for r in emu.requests)   # nothing to the feature service


def test_an_api_key_is_used_as_the_token_without_signing_in(emu):
    key = arcgis.Credentials(api_key=API_KEY)
    with client(emu, key) as c:
        result = arcgis.publish(hexagons(3), props(), None, key, client=c)
    assert emu.items[result.item_id]["access"] == "private"
    assert not any(r["path"].endswith("generateToken") for r in emu.requests)
    assert repr(key).count(API_KEY) == 0 and key.secrets() == [API_KEY]


def test_an_expired_token_is_renewed_once(emu, creds):
    with client(emu, creds) as c:
        c.user()
        emu.expire_tokens()
        result = arcgis.publish(hexagons(2), props(), None, creds, client=c)
    assert result.status == "private"
    assert sum(r["path"].endswith("generateToken") for r in emu.requests) == 2


def test_wrong_credentials_are_one_clear_line_without_the_password(emu):
    bad = arcgis.Credentials(USER, "not-the-Pa55word")
    with pytest.raises(PublishError) as info:
        arcgis.publish(hexagons(2), props(), emu.url, bad)
    text = str(info.value)
    assert "did not accept the credentials" in text and "ARCGIS_PASSWORD" in text and "\n" not in text
    assert "not-the-Pa55word" not in text and emu.items == {}


# --- faults: nothing is ever shared -------------------------------------------------------------

FAULTS = [
    ("addItem refused", dict(kind=500, path="/addItem", times=10)),
    ("addItem rate limited for good", dict(kind=429, path="/addItem", times=10)),
    ("publish error in a 200", dict(kind="error:500", path="/publish", times=10)),
    ("publish forbidden", dict(kind=403, path="/publish")),
    ("status keeps failing", dict(kind=502, path="/status", times=10)),
    ("metadata update refused", dict(kind="error:400", path="/update")),
    ("item read times out", dict(kind="timeout", path="/content/items/", times=10, delay=0.3)),
]


@pytest.mark.parametrize("name,fault", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_at_any_step_leaves_nothing_shared_and_cleans_up(emu, creds, name, fault):
    emu.fail(**fault)
    # a short time-out only where the fault is a slow answer (a loaded machine may take longer than 0.2 s to sign in)
    with client(emu, creds, timeout=0.2 if fault.get("kind") == "timeout" else 5, retries=1) as c:
        with pytest.raises(CtopenError) as info:
            arcgis.publish(hexagons(), props(), None, creds, make_public=True, client=c)
    text = str(info.value)
    assert "\n" not in text and PASSWORD not in text and not any(t in text for t in emu.tokens)
    assert emu.public_ids() == []                                   # nothing shared, whatever failed
    assert "Nothing was shared" in text or "could not be removed" in text or "Nothing was created or shared" in text \
        or "did not accept" in text or "Nothing was sent" in text, text
    if "could not be removed" not in text:                          # what it created is gone
        assert emu.layer_ids() == [] and [i for i in emu.items.values() if i["type"] == "GeoJson"] == []


def test_a_sign_in_that_fails_says_nothing_was_sent(emu, creds):
    emu.fail(503, path="/generateToken", times=10)
    with client(emu, creds, retries=1) as c, pytest.raises(PublishError) as info:
        arcgis.publish(hexagons(), props(), None, creds, make_public=True, client=c)
    text = str(info.value)
    assert "while signing in" in text and "Nothing was sent or shared." in text and "\n" not in text
    assert emu.items == {} and PASSWORD not in text


def test_a_failed_publish_job_removes_the_private_items(emu, creds):
    emu.fail_job()
    with client(emu, creds) as c, pytest.raises(PublishError, match="publish job failed.*Nothing was shared.*removed"):
        arcgis.publish(hexagons(), props(), None, creds, make_public=True, client=c)
    assert emu.items == {} and emu.public_ids() == []


def test_a_429_on_add_item_is_retried_but_a_time_out_is_not_repeated(emu, creds):
    emu.fail(429, path="/addItem", times=2)
    with client(emu, creds) as c:
        assert arcgis.publish(hexagons(2), props(), None, creds, client=c).status == "private"
    adds = [r for r in emu.requests if r["path"].endswith("/addItem")]
    assert len(adds) == 3
    emu.requests.clear()
    emu.fail("timeout", path="/addItem", processed=True, delay=0.4)
    with client(emu, creds, timeout=0.2) as c, pytest.raises(PublishError, match="may have been added anyway"):
        arcgis.publish(hexagons(2), props(), None, creds, client=c)
    assert len([r for r in emu.requests if r["path"].endswith("/addItem")]) == 1   # never sent twice
    assert emu.public_ids() == []


def test_a_share_that_fails_or_is_not_confirmed_is_undone(emu, creds):
    with client(emu, creds) as c:
        layer = arcgis.publish(hexagons(2), props(), None, creds, client=c).item_id
        emu.fail("error:500", path="/share", times=10)
        with pytest.raises(PublishError, match="set back to private") as info:
            arcgis.share_public(layer, None, creds, client=c)
        assert "\n" not in str(info.value)
        assert emu.shared(layer)["access"] == "private" and emu.shared(layer)["groups"] == []
        emu.faults.clear()
        emu.ignore_share = True          # the portal says "done" but does nothing: not confirmed, undone
        with pytest.raises(PublishError, match="did not confirm"):
            arcgis.share_public(layer, None, creds, client=c)
        assert emu.public_ids() == []


def test_share_half_done_then_failure_is_rolled_back(emu, creds):
    """The share went through but its answer was lost (time-out after the work): the layer is set private again."""
    with client(emu, creds, timeout=0.2, retries=0) as c:
        layer = arcgis.publish(hexagons(2), props(), None, creds, client=c).item_id
        emu.fail("timeout", path="/share", processed=True, delay=0.4)
        with pytest.raises(PublishError, match="set back to private"):
            arcgis.share_public(layer, None, creds, client=c)
    assert emu.shared(layer) == {"access": "private", "everyone": False, "org": False, "groups": []}


def test_making_public_needs_the_open_data_group_before_anything_is_shared(emu, creds):
    for g in emu.groups.values():
        g["isOpenData"] = False
    with client(emu, creds) as c:
        layer = arcgis.publish(hexagons(2), props(), None, creds, client=c).item_id
        with pytest.raises(ConfigError, match="ARCGIS_GROUP"):
            arcgis.share_public(layer, None, creds, client=c)
        with pytest.raises(ConfigError, match="not a member of the group 'Somebody else'"):
            arcgis.share_public(layer, None, creds, group="Somebody else", client=c)
        assert not any(r["path"].endswith("/share") for r in emu.requests)
        done = arcgis.share_public(layer, None, creds, group="ct geo data portal CONTENT", client=c)   # by title
    assert done.group == "CT Geo Data Portal content" and emu.shared(layer)["groups"] == [OPEN_GROUP]


# --- regular updates: overwrite -----------------------------------------------------------------

def test_an_update_overwrites_the_layer_in_place_and_keeps_its_sharing(emu, creds):
    layer = emu.add_layer("Medicaid claims by hexagon", hexagons(4), public=True)
    before = dict(emu.items[layer])
    new = hexagons(5, shift=0.01)
    with client(emu, creds) as c:
        result = arcgis.publish(new, props(), None, creds, item_id=layer, client=c)
    assert result.status == "updated" and result.item_id == layer and result.public
    assert published(emu, layer) == new["features"]
    assert emu.layer_ids() == [layer] and emu.items[layer]["url"] == before["url"]
    assert emu.shared(layer)["access"] == "public"
    overwrite = [r for r in emu.requests if r["path"].endswith("/publish")]
    assert len(overwrite) == 1 and b"overwrite=true" in overwrite[0]["body"]


def test_an_update_whose_job_fails_keeps_the_previous_features(emu, creds):
    old = hexagons(4)
    layer = emu.add_layer("Medicaid claims by hexagon", old, public=True)
    emu.fail_job()
    with client(emu, creds) as c, pytest.raises(PublishError, match="keeps its previous data and stays public"):
        arcgis.publish(hexagons(5, shift=0.01), props(), None, creds, item_id=layer, client=c)
    assert published(emu, layer) == old["features"]


def test_an_update_refuses_what_is_not_a_layer_published_from_geojson(emu, creds):
    layer = emu.add_layer("Medicaid claims by hexagon", hexagons(2), public=False)
    source = emu.layers[layer]["source"]
    with client(emu, creds) as c:
        with pytest.raises(ConfigError, match="not a hosted feature layer"):
            arcgis.publish(hexagons(2), props(), None, creds, item_id=source, client=c)
        emu.layers[layer]["source"] = "0" * 32          # its file item is gone
        with pytest.raises(ConfigError, match="not published from a GeoJSON item"):
            arcgis.publish(hexagons(2), props(), None, creds, item_id=layer, client=c)
        with pytest.raises(ConfigError, match="not an ArcGIS item id"):
            arcgis.publish(hexagons(2), props(), None, creds, item_id="abcd-1234", client=c)


# --- addresses, credentials, metadata ------------------------------------------------------------

@pytest.mark.parametrize("given,expected", [
    ("myorg.maps.arcgis.com", ("https", "myorg.maps.arcgis.com", "")),
    ("https://myorg.maps.arcgis.com/home/", ("https", "myorg.maps.arcgis.com", "")),
    ("https://gis.ct.gov/portal/sharing/rest", ("https", "gis.ct.gov", "/portal")),
    ("http://127.0.0.1:8123", ("http", "127.0.0.1:8123", "")),
])
def test_portal_addresses(given, expected):
    assert arcgis.portal_parts(given) == expected


@pytest.mark.parametrize("given,words", [
    ("http://myorg.maps.arcgis.com", "in clear"), ("https://user:pw@myorg.maps.arcgis.com", "credentials"),
    ("ftp://x.org", "not a web address"), ("", "No ArcGIS portal"), ("https://a.org/?token=x", "without"),
])
def test_bad_portal_addresses_are_refused(given, words):
    with pytest.raises(ConfigError, match=words):
        arcgis.portal_parts(given)


def test_credentials_from_the_environment_or_secrets(monkeypatch):
    assert arcgis.credentials_from({}, {}) is None
    env = {"ARCGIS_USERNAME": "u", "ARCGIS_PASSWORD": "p4ssword"}
    assert arcgis.credentials_from({"api_key": "k"}, env).kind == "password"      # the environment wins
    assert arcgis.credentials_from({"api_key": "key-123456"}, {}).kind == "api_key"
    with pytest.raises(ConfigError, match="incomplete"):
        arcgis.credentials_from(None, {"ARCGIS_USERNAME": "u"})
    from ctopen.publish.socrata import configured_secrets
    assert set(configured_secrets({"ARCGIS_PASSWORD": "p4ssword", "ARCGIS_API_KEY": "key-123456"})) == {
        "p4ssword", "key-123456"}


def test_item_properties_escape_html_and_keep_only_released_columns():
    meta = {**META, "description": "Counts <script>x</script> by cell.\n\nSecond paragraph.",
            "tags": ["a,b", "health"], "columns": {"count": "n", "Name": "dropped before release"}}
    p = arcgis.item_properties(meta, ["h3_cell", "count"])
    assert "<script>" not in p["description"] and "&lt;script&gt;" in p["description"]
    assert "Second paragraph." in p["description"] and "dropped before release" not in p["description"]
    assert p["tags"] == ["a b", "health", "Health and Human Services"]
    assert p["snippet"] == "Counts <script>x</script> by cell." and p["type"] == "GeoJson"
    assert arcgis.service_name("2024 claims: by cell!", "0123456789abcdef" * 2) == "layer_2024_claims_by_cell_01234567"


def test_the_data_access_plan_row_names_the_portal_the_release_went_to():
    from ctopen import dap
    assert dap.portal_of({"to": "arcgis", "status": "public"}) == "Geo Data"
    assert dap.portal_of({"status": "private", "dataset_id": "abcd-1234"}) == dap.portal_of(None) == "Open Data"
    assert dap.PORTAL_SITES["Geo Data"] == "geodata.ct.gov" and "geodata.ct.gov" in dap.PORTAL_LABELS["Geo Data"]
    row = dap.row_from_recipe({"metadata": META}, status="public", portal=dap.portal_of({"to": "arcgis"}),
                              url="https://ctgeo.maps.arcgis.com/home/item.html?id=" + "c" * 32, on="2026-11-29")
    assert row.portal == "Geo Data" and row.url.endswith("c" * 32)
    plan = dap.update_plan(None, row)
    assert plan.added and plan.row == 2


def test_ids_the_portal_returns_are_checked_before_they_go_into_an_address():
    with pytest.raises(PublishError, match="not an item id"):
        arcgis._portal_id("../../community/self", "a layer id", "https://x.org")
    assert arcgis._portal_id("ABCDEF0123456789abcdef0123456789", "a layer id", "https://x.org") == "abcdef0123456789" * 2


def test_make_public_checks_the_group_before_creating_anything_and_a_failed_share_names_the_private_layer(emu, creds):
    for g in emu.groups.values():
        g["isOpenData"] = False
    with client(emu, creds) as c:
        with pytest.raises(ConfigError, match="ARCGIS_GROUP"):
            arcgis.publish(hexagons(2), props(), None, creds, make_public=True, client=c)
        assert emu.items == {}                                      # nothing created for a run that cannot finish
        emu.fail("error:403", path="/share", times=10)
        with pytest.raises(PublishError) as info:
            arcgis.publish(hexagons(2), props(), None, creds, make_public=True, group=OPEN_GROUP, client=c)
    (layer,) = emu.layer_ids()
    text = str(info.value)
    assert f"The layer {layer} was published privately" in text and "--make-public" in text and "\n" not in text
    assert emu.public_ids() == [] and info.value.dataset_id == layer


def test_the_item_metadata_the_portal_stores_is_item_properties_for_any_metadata(tls):
    """What reaches the portal (a form, or a multipart upload with the file) equals item_properties(meta), the
    rendering a map bundle's arcgis_item.json holds: any text, any tags."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
    metadata = st.fixed_dictionaries({"title": text, "description": text, "notes": text, "agency": text,
                                      "tags": st.lists(st.text(max_size=20), max_size=5),
                                      "license": st.sampled_from(["", "Public Domain", "Other <b>terms</b>"])})
    creds = arcgis.Credentials(USER, PASSWORD)
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD) as emu, client(emu, creds) as c:
        ident = emu.add_layer("x", hexagons(1), public=False)
        source = emu.layers[ident]["source"]

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(meta=metadata, with_file=st.booleans())
        def check(meta, with_file):
            props = arcgis.item_properties(meta)
            c.update_item(source, {k: v for k, v in props.items() if k != "type"},
                          b'{"type": "FeatureCollection", "features": []}' if with_file else None)
            stored = emu.items[source]
            assert {k: stored[k] for k in props if k != "type"} == {k: v for k, v in props.items() if k != "type"}

        check()


def test_a_redirect_is_never_followed_with_credentials(emu, creds):
    emu.fail(302, path="/generateToken")
    with client(emu, creds) as c, pytest.raises(PublishError, match="redirect"):
        arcgis.publish(hexagons(2), props(), None, creds, client=c)
    assert len(emu.requests) == 1 and emu.items == {}


def test_a_job_that_never_finishes_is_given_up_and_cleaned_up(tls, creds):
    with ArcgisEmulator(*tls, username=USER, password=PASSWORD, job_polls=10 ** 6) as emu:
        with client(emu, creds, job_timeout=0.3) as c, pytest.raises(PublishError, match="did not finish within") as info:
            arcgis.publish(hexagons(2), props(), None, creds, make_public=True, client=c)
        assert "removed" in str(info.value) and emu.items == {} and emu.public_ids() == []


def test_the_public_sees_the_layer_only_once_it_is_shared(emu, creds, tls):
    """The feature service's query, anonymously (as a visitor of the Hub site would read it)."""
    import requests

    with client(emu, creds) as c:
        result = arcgis.publish(hexagons(3), props(), None, creds, client=c)

        def anonymous():
            return requests.get(result.layer_url + "/0/query", params={"where": "1=1", "outFields": "*",
                                                                       "f": "geojson"}, verify=tls[0], timeout=5).json()

        assert anonymous()["error"]["code"] == 499
        arcgis.share_public(result.item_id, None, creds, client=c)
    shown = anonymous()
    assert shown["type"] == "FeatureCollection" and len(shown["features"]) == 3
    assert [f["properties"]["count"] for f in shown["features"]] == [6, 7, None]
