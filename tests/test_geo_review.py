"""Second review of issue 19 (the CT Geo Data Portal), attacker's view: each test failed before its fix.
Realistic cases use tests/data/geo/claims_homes.csv; exact cases small inline frames."""
import numpy as np
import pandas as pd
import pytest

from ctopen import geo
from ctopen.review import Review
from tests.conftest import HEX


@pytest.fixture(scope="module")
def claims(claims_homes):
    return claims_homes


@pytest.fixture(scope="module")
def detection(claims_homes_detection):
    return claims_homes_detection


def gate(claims, detection, steps, **extra):
    return Review(claims.df, {"version": 1, "steps": steps, **extra}, detection=detection).gate


def frame(**cols):
    return pd.DataFrame({k: pd.array([None if v is None else str(v) for v in vals], dtype="str")
                         for k, vals in cols.items()})


# --- a map (or a count table) whose cells are nearly one per record lists the records ----------------------

@pytest.mark.parametrize("steps", [
    [{**HEX, "by": ["Sex", "Diagnosis"]}],            # every claim's hexagon, sex and diagnosis, counts all hidden
    [{**HEX, "by": ["ServiceDate"]}],                 # a dot per claim and day
    [{"op": "spatial_aggregate", "method": "town", "town": "ResidenceTown", "by": ["Age", "Sex", "Diagnosis"]}],
    [{"op": "aggregate", "by": ["ResidenceTown", "Age", "Sex", "Diagnosis"]}],   # the same table without a map
], ids=["hexagon-sex-diagnosis", "hexagon-date", "town-map-age-sex-diagnosis", "town-table-age-sex-diagnosis"])
def test_a_count_table_whose_cells_are_nearly_one_per_record_is_blocked(claims, detection, steps):
    # no dimension alone is nearly unique and every shown count is above 5 (most are suppressed): before, it passed
    g = gate(claims, detection, steps)
    assert not g.passed
    assert any("lists the records" in r and "2,000 records" in r for r in g.reasons), g.reasons


def test_coarse_maps_and_tables_still_pass(claims, detection):
    for steps in ([HEX], [{"op": "spatial_aggregate", "method": "town", "town": "ResidenceTown", "by": ["Sex"]}],
                  [{"op": "spatial_aggregate", "method": "county", "town": "ResidenceTown", "by": ["Diagnosis", "Sex"]}],
                  [{"op": "aggregate", "by": ["ResidenceTown", "Sex"]}]):
        g = gate(claims, detection, steps)
        assert g.passed, (steps, g.reasons)
        assert not any("lists the records" in r for r in g.reasons)


# --- spatial_k: two points must never share a group code -----------------------------------------------------

def test_spatial_k_never_merges_two_distinct_precise_points():
    # at 10 decimals the old key (lat * (lon range + 1) + lon, in 64-bit integers) overflowed: these two points,
    # 2**30 units apart in latitude with a longitude range of 2**34 - 1 units, got one code and were published as
    # one point held by 2 records, each being one record's exact home
    df = frame(lat=["41.2000000001", "41.3073741825", "41.5000000000"],
               lon=["-73.5000000002", "-73.5000000002", "-71.7820130819"])
    out, log = geo.spatial_k(df, {"lat": "lat", "lon": "lon", "k": 2})
    assert out["lat"].isna().all() and out["lon"].isna().all() and log["blanked"] == 3
    pairs = np.array([[412000000001, -735000000002], [413073741825, -735000000002], [415000000000, -717820130819]])
    codes = geo._pair_codes(pairs[:, 0] / 1e10, pairs[:, 1] / 1e10, 10)
    assert len(set(codes)) == 3


# --- the map's place is read from the recipe, not guessed from the table -------------------------------------

def test_a_renamed_hexagon_column_is_still_a_map_and_its_count_a_number(claims, tmp_path):
    import geopandas as gpd
    from ctopen.publish import bundle
    recipe = {"version": 1, "steps": [HEX, {"op": "rename", "column": "h3_cell", "to": "Hexagon"},
                                      {"op": "rename", "column": "count", "to": "Claims"}]}
    r = Review(claims.df, recipe)
    rows = r.portal_view.rows
    where = geo.map_location(rows, recipe)
    assert where == {"kind": "h3", "column": "Hexagon", "count": "Claims"}       # before: None (no map at all)
    gj = geo.to_geojson(rows, where)
    assert {f["geometry"]["type"] for f in gj["features"]} == {"Polygon"} and len(gj["features"]) == len(rows)
    files = bundle.contents(rows, recipe)
    assert "map.geojson" in files and json_features(files["map.geojson"]) == gj["features"]
    layer = gpd.read_file(geo.write_map_files(rows, tmp_path, "m", where)["geopackage"])
    assert pd.api.types.is_numeric_dtype(layer["Claims"])                      # a number on the map, not text
    assert "Hexagon" in r.gate.reasons[0]                                       # the gate names the published column


def json_features(data: bytes) -> list:
    import json
    return json.loads(data)["features"]


def test_a_county_map_is_drawn_at_the_counties_even_when_their_names_are_towns(claims):
    # Hartford, New Haven and Fairfield are towns and counties: guessed from the values, the county counts were drawn
    # at the towns of the same name
    towns = geo.town_points()
    keep = claims.df["ResidenceTown"].map(towns["county"]).isin(["Hartford", "New Haven", "Fairfield"])
    df = claims.df[keep].reset_index(drop=True)
    recipe = {"version": 1, "steps": [{"op": "spatial_aggregate", "method": "county", "town": "ResidenceTown"}]}
    rows = Review(df, recipe).portal_view.rows
    where = geo.map_location(rows, recipe)
    assert where["kind"] == "area" and where["level"] == "county"
    counties = geo.county_points()
    for f in geo.to_geojson(rows, where)["features"]:
        name = f["properties"]["ResidenceTown"]
        want = [round(float(counties.loc[name, "lon"]), 6), round(float(counties.loc[name, "lat"]), 6)]
        assert f["geometry"]["coordinates"] == want, name


# --- several claims per member: a home repeats, k counts records -----------------------------------------------

@pytest.fixture(scope="module")
def repeated(claims):
    """300 members, each with 5 to 8 claims at the member's home (claims files hold several claims a member)."""
    from ctopen.detect import detect
    rng = np.random.default_rng(3)
    base = claims.df.head(300).reset_index(drop=True)
    df = base.loc[np.repeat(np.arange(len(base)), rng.integers(5, 9, len(base)))].reset_index(drop=True)
    df["ClaimID"] = pd.array([f"CLM{i:07d}" for i in range(len(df))], dtype="str")
    df["Diagnosis"] = pd.array(rng.choice(["Influenza", "Asthma", "Depression", "Back pain", "HIV"], len(df)), dtype="str")
    return df, detect(df)


DROP = [{"op": "drop", "column": c} for c in ("MemberName", "ClaimID", "ServiceDate", "PaidAmount")]


def test_homes_that_repeat_with_each_members_claims_are_a_households_location(repeated):
    df, detection = repeated
    found = {c.name: c for c in detection.columns}
    for col in ("ResidenceLat", "ResidenceLon"):         # before: quasi ("places such as a town's centre")
        assert found[col].role == "direct" and "household's records" in found[col].evidence[1]
    # before: passed with k = 5 (each group one member's claims), publishing every member's home and diagnoses
    g = Review(df, {"version": 1, "steps": DROP}, detection=detection).gate
    assert not g.passed and {"ResidenceLat", "ResidenceLon"} <= set(g.direct)


def test_spatial_k_keeping_house_precision_leaves_the_points_direct_and_says_why(repeated):
    df, detection = repeated
    step = {"op": "spatial_k", "lat": "ResidenceLat", "lon": "ResidenceLon", "k": 5}
    r = Review(df, {"version": 1, "steps": DROP + [step]}, detection=detection)
    assert r.applied.log[-1]["decimals_out"] == 6            # each home holds 5+ claims: kept as it is
    assert r.release_roles["ResidenceLat"] == "direct" and not r.gate.passed
    assert any("keeps points of ResidenceLat, ResidenceLon at 6 decimals" in x and '"max_decimals": 2' in x
               for x in r.gate.reasons), r.gate.reasons
    capped = Review(df, {"version": 1, "steps": DROP + [{**step, "max_decimals": 2}]}, detection=detection)
    out = capped.release
    assert capped.applied.log[-1]["decimals_out"] <= 2
    assert out["ResidenceLat"].dropna().str.split(".").str[1].str.len().max() <= 2
    assert capped.release_role_table["ResidenceLat"].origin == "coarsened points"


def test_max_decimals_caps_every_published_point_and_is_validated():
    df = frame(lat=["41.123456"] * 6 + ["41.5"] * 5, lon=["-72.654321"] * 6 + ["-72.5"] * 5)
    out, log = geo.spatial_k(df, {"lat": "lat", "lon": "lon", "k": 5, "max_decimals": 2})
    assert set(out["lat"]) == {"41.12", "41.50"} and log["decimals_out"] == 2 and log["decimals_in"] == 6
    assert "no point finer than 2 decimals" in log["message"]
    from ctopen.errors import RecipeError
    with pytest.raises(RecipeError, match="max_decimals"):
        geo.spatial_k(df, {"lat": "lat", "lon": "lon", "k": 5, "min_decimals": 3, "max_decimals": 2})


# --- GeoJSON points are written as shapely writes them, faster ---------------------------------------------------

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=300, deadline=None)
@given(x=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**16, 10**16)),
       y=st.one_of(st.floats(-90, 90), st.integers(-90, 90), st.booleans(), st.none(), st.text(max_size=3)))
def test_a_plain_point_is_written_as_shapely_writes_it_and_reads_back_exactly(x, y):
    import shapely
    from shapely.geometry import shape
    g = {"type": "Point", "coordinates": [x, y]}
    fast = geo._point_wkt(g)
    if fast is None:
        return                                   # left to shapely, as before
    back = shapely.from_wkt(fast)
    assert (back.x, back.y) == (float(x), float(y))                  # the very numbers of the file
    slow = shapely.from_wkt(shapely.to_wkt(shape(g), rounding_precision=-1))
    assert back.equals_exact(slow, 1e-12 * max(1.0, abs(float(x))))   # shapely keeps 16 digits, the same point
    assert fast.startswith("POINT (") and "e" not in fast and ".0 " not in fast + " "


def test_a_feature_collection_of_points_loads_its_points_and_refuses_nothing_valid():
    import io
    import json
    from ctopen.load import load
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-72.9, 41.3]}, "properties": {"a": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-72, 41]}},            # no properties
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-72.9, 41.3, 12.5]}, "properties": None},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["x", 41.3]}, "properties": {"a": 4}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"a": 5}}]}
    t = load(io.BytesIO(json.dumps(doc).encode()), name="p.geojson")
    assert t.df["geometry"].tolist()[:3] == ["POINT (-72.9 41.3)", "POINT (-72 41)", "POINT Z (-72.9 41.3 12.5)"]
    assert pd.isna(t.df["geometry"].iloc[3]) and t.df["geometry"].iloc[4] == "POINT (0 0)"
    assert any("1 unreadable geometry" in w for w in t.warnings)


def test_a_map_of_swapped_points_says_they_are_swapped():
    from ctopen.errors import RecipeError
    df = frame(lat=["-72.9", "-72.8"] * 5, lon=["41.3", "41.4"] * 5)
    with pytest.raises(RecipeError, match="latitude and longitude exchanged") as err:
        geo.spatial_aggregate(df, {"lat": "lat", "lon": "lon"})
    assert "\n" not in str(err.value)
    with pytest.raises(RecipeError, match="minus sign"):
        geo.spatial_aggregate(frame(lat=["41.3"] * 6, lon=["72.9"] * 6), {"lat": "lat", "lon": "lon"})
    with pytest.raises(RecipeError, match="other way round"):
        geo.spatial_aggregate(frame(p=["(-72.9, 41.3)"] * 6), {"point": "p"})


def test_check_on_geojson_geometries_neither_title_cases_them_nor_counts_below_zero():
    import io
    import json
    from ctopen import checks
    from ctopen.load import load
    collection = {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [-72.9, 41.3]}]}
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": collection, "properties": {"a": "x"}}] * 3 + [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-72.8 - i / 100, 41.4]},
         "properties": {"a": "y"}} for i in range(5)]}
    t = load(io.BytesIO(json.dumps(doc).encode()), name="g.geojson")
    found = checks.run(t)
    assert not [f for f in found if f.check == "all_caps" and f.column == "geometry"]     # "Point (...)"? no
    assert all(f.count >= 0 for f in found) and not any("-3" in f.message for f in found)
    report = geo.location_check(t.df)
    assert report["other_geometries"] == 0 and report["unreadable"] == 0 and report["inside"] == 8
