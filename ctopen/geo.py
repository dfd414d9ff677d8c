"""Locations as data, and making them safe to map (issue 19).

Reading points: a latitude/longitude pair of columns, one column of "(lat, lon)" / "lat, lon" / WKT
"POINT (lon lat)" text (text around it, such as "Norwalk, CT\\n(41.1, -73.4)", is ignored), or a GeoJSON file
loaded as a table (ctopen.load: its geometry becomes a WKT column named "geometry").

Making them safe (recipe steps, docs/recipe.md):
- `spatial_aggregate`: records counted into H3 hexagons (the `h3` package) or into their town / county, with
  the state's small-cell rule and complementary suppression over the other `by` columns, by the one count
  table implementation (`ctopen.aggregate.aggregate`). The published geometry is the hexagon or the area's
  point (ctopen/data/ct_town_points.csv), never a record's point.
- `spatial_k`: every published point shared by at least k records; a point held by fewer is coarsened one
  decimal at a time (truncated), and a point still held by fewer than k at `min_decimals` is blanked.

Writing map files: `to_geojson(df)` (RFC 7946, WGS84) and `write_map_files(df, directory, stem)` (GeoJSON, a
zipped shapefile and a GeoPackage, through geopandas + pyogrio + shapely: one well-kept stack for all three
formats, with manylinux wheels that need no system GDAL, and the same stack reads them back in the tests).
"""
from __future__ import annotations

import json
import math
import re
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import CtopenError, RecipeError

# Connecticut's bounding box (Census TIGER state extent, rounded outwards by about 1 km)
CT_SOUTH, CT_NORTH, CT_WEST, CT_EAST = 40.94, 42.06, -73.74, -71.78
H3_CELL = "h3_cell"
METHODS = ("h3", "town", "county")
MIN_RESOLUTION, MAX_RESOLUTION = 0, 15
SQ_KM_PER_SQ_MILE = 2.589988110336
NO_AREA = "(not a Connecticut town)"

_NUM = r"[+-]?\d+(?:\.\d+)?"
_WKT_POINT = re.compile(rf"POINT\s*Z?\s*\(\s*({_NUM})\s+({_NUM})(?:\s+{_NUM})?\s*\)", re.IGNORECASE)
_PAREN = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")
_PAIR = re.compile(rf"^\s*({_NUM})\s*,\s*({_NUM})\s*$")
_WKT_ANY = re.compile(r"^\s*(MULTI)?(POINT|LINESTRING|POLYGON)\b|^\s*GEOMETRYCOLLECTION\b", re.IGNORECASE)
LAT_WORDS = {"lat", "latitude", "y", "ycoord"}
LON_WORDS = {"lon", "lng", "long", "longitude", "x", "xcoord"}


class GeoError(CtopenError):
    """A location cannot be read or written."""


# --- reading points ----------------------------------------------------------------------------

def parse_points(values) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) floats per value of a point column (NaN where no point can be read). "(lat, lon)" and
    "lat, lon" are latitude first; WKT "POINT (x y)" is longitude first."""
    s = pd.Series(values, dtype="str")
    codes, uniques = pd.factorize(s)
    lat = np.full(len(uniques) + 1, np.nan)
    lon = np.full(len(uniques) + 1, np.nan)
    for i, v in enumerate(uniques):
        if m := _WKT_POINT.search(v):
            lon[i], lat[i] = float(m.group(1)), float(m.group(2))
        elif m := _PAREN.search(v):
            lat[i], lon[i] = float(m.group(1)), float(m.group(2))
        elif m := _PAIR.match(v):
            lat[i], lon[i] = float(m.group(1)), float(m.group(2))
    return lat[codes], lon[codes]     # code -1 (missing) picks the NaN at the end


def parse_numbers(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype="str").str.strip(), errors="coerce").to_numpy(dtype=float,
                                                                                               na_value=np.nan)


def read_points(df: pd.DataFrame, lat: str | None = None, lon: str | None = None,
                point: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The records' points from a lat/lon pair of columns or one point column (GeoError otherwise)."""
    if point is not None:
        if point not in df.columns:
            raise GeoError(f"The file has no column named {point!r} holding points.")
        return parse_points(df[point])
    if lat is None or lon is None:
        raise GeoError("Say where the points are: \"lat\" and \"lon\" columns, or one \"point\" column.")
    for c in (lat, lon):
        if c not in df.columns:
            raise GeoError(f"The file has no column named {c!r} holding coordinates.")
    return parse_numbers(df[lat]), parse_numbers(df[lon])


def _looks_like_axis(series: pd.Series, low: float, high: float) -> bool:
    x = parse_numbers(series.dropna().head(200))
    return len(x) > 0 and np.isfinite(x).mean() >= 0.9 and \
        bool(((np.abs(x) >= low) & (np.abs(x) <= high)).mean() >= 0.9)


def _words(header: str) -> list[str]:
    """A header's words: "ResidenceLat" -> ["residence", "lat"], "home_longitude" -> ["home", "longitude"]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(header))
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _plausible(df: pd.DataFrame, lat: str, lon: str) -> bool:
    """A pair named only x / y (chart data, a grid) must look like Connecticut: half its points in the state's
    box, as written or with latitude and longitude exchanged. A pair named lat / lon is believed (points outside
    Connecticut are what the check reports)."""
    if set(_words(lat)) & (LAT_WORDS - {"y"}) or set(_words(lon)) & (LON_WORDS - {"x"}):
        return True
    a = parse_numbers(df[lat].head(500))
    b = parse_numbers(df[lon].head(500))
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return False
    inside = ~outside_ct(a[ok], b[ok]) | ~outside_ct(b[ok], a[ok])
    return bool(inside.mean() >= 0.5)


def find_location(df: pd.DataFrame) -> dict | None:
    """Where a table's points are: {"lat": C, "lon": C}, {"point": C} or None. Read from the headers (a word
    lat/latitude/y and lon/lng/long/longitude/x) and checked on the values (latitudes within 90, longitudes
    within 180, or points readable in one column)."""
    cols = [str(c) for c in df.columns]
    lats = [c for c in cols if set(_words(c)) & LAT_WORDS and _looks_like_axis(df[c], 0, 90)]
    lons = [c for c in cols if set(_words(c)) & LON_WORDS and c not in lats and _looks_like_axis(df[c], 0, 180)]
    if lats and lons:
        def stem(c, axis):
            return [w for w in _words(c) if w not in axis]
        pairs = [(a, b) for a in lats for b in lons if stem(b, LON_WORDS) == stem(a, LAT_WORDS)]
        if not pairs and len(lats) == len(lons) == 1:
            pairs = [(lats[0], lons[0])]
        for a, b in pairs:
            if _plausible(df, a, b):
                return {"lat": a, "lon": b}
    head = df.head(200).to_numpy(dtype=object, na_value=None)
    for j, c in enumerate(cols):
        values = [v for v in head[:, j] if isinstance(v, str)]
        # cheap first look (a wide file has thousands of columns): a point holds a comma or POINT
        if not values or not any("," in v or "POINT" in v or "point" in v for v in values[:20]):
            continue
        la, lo = parse_points(values)
        if np.isfinite(la).mean() >= 0.9:
            return {"point": c}
    return None


def outside_ct(lat, lon) -> np.ndarray:
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    with np.errstate(invalid="ignore"):
        inside = (lat >= CT_SOUTH) & (lat <= CT_NORTH) & (lon >= CT_WEST) & (lon <= CT_EAST)
    return np.isfinite(lat) & np.isfinite(lon) & ~inside


def bounds_report(lat, lon) -> dict:
    """How many points lie in Connecticut's bounding box, outside it, swapped (lat and lon exchanged, or a
    longitude without its minus sign) or unreadable."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    readable = np.isfinite(lat) & np.isfinite(lon)
    out = outside_ct(lat, lon)
    swapped = out & ~outside_ct(lon, lat)
    unsigned = out & ~swapped & ~outside_ct(lat, -lon)
    return {"points": int(readable.sum()), "inside": int((readable & ~out).sum()), "outside": int(out.sum()),
            "swapped": int(swapped.sum()), "lost_minus": int(unsigned.sum()),
            "unreadable": int((~readable).sum())}


def location_check(df: pd.DataFrame) -> dict | None:
    """The table's points checked against Connecticut: {"location", "points", "inside", "outside", "swapped",
    "lost_minus", "unreadable", "examples": [row numbers, 1-based, of points outside]}; None without points."""
    where = find_location(df)
    if where is None:
        return None
    lat, lon = read_points(df, **where)
    report = bounds_report(lat, lon)
    blank = pd.Series(df[where.get("point") or where["lat"]]).isna().to_numpy()
    report["unreadable"] -= int(blank.sum())          # an empty cell is a missing point, not an unreadable one
    report["missing"] = int(blank.sum())
    other = pd.Series(df[where.get("point") or where["lat"]], dtype="str").str.match(_WKT_ANY, na=False) & \
        ~pd.Series(df[where.get("point") or where["lat"]], dtype="str").str.match(r"\s*POINT", case=False, na=False)
    other &= ~(np.isfinite(lat) & np.isfinite(lon))     # a collection holding a point is read as that point
    report["other_geometries"] = int(other.sum())      # polygons passed through from a GeoJSON file
    report["unreadable"] -= report["other_geometries"]
    report["location"] = where
    report["examples"] = [int(i) + 1 for i in np.flatnonzero(outside_ct(lat, lon))[:5]]
    return report


def feature_records(collection: dict) -> tuple[list[dict], list[dict]]:
    """A GeoJSON FeatureCollection as records: each feature's properties, and its geometry as WKT text in a
    column "geometry" ("geometry (WKT)" when a property already has that name). Points become
    "POINT (lon lat)", which every reader of points here understands; polygons and lines pass through.
    Returns (records, skipped notes for ctopen.load: {"what", "where", "why"})."""
    import shapely
    from shapely.geometry import shape
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        raise GeoError("The GeoJSON file has no features to read as rows.")
    names = {k for f in features if isinstance(f, dict) and isinstance(f.get("properties"), dict)
             for k in f["properties"]}
    column = "geometry" if "geometry" not in names else "geometry (WKT)"
    records, bad, not_features = [], [], 0
    for i, f in enumerate(features, start=1):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            not_features += 1
            continue
        row = dict(f.get("properties") or {}) if isinstance(f.get("properties"), dict) else {}
        g = f.get("geometry")
        wkt = _point_wkt(g)      # a plain point written directly: a million of them load in seconds, not a minute
        if wkt is None and g is not None:
            try:
                wkt = shapely.to_wkt(shape(g), rounding_precision=-1)
            except Exception:   # shapely raises several kinds of error on a malformed geometry
                bad.append(i)
        row[column] = wkt
        records.append(row)
    if not records:
        raise GeoError("The GeoJSON file holds no Feature objects to read as rows.")
    notes = []
    if bad:
        notes.append({"what": f"{len(bad)} unreadable geometr{'y' if len(bad) == 1 else 'ies'}",
                      "where": "feature" + ("s " if len(bad) > 1 else " ") + ", ".join(map(str, bad[:5]))
                      + (", ..." if len(bad) > 5 else ""), "why": f"not a valid GeoJSON geometry; its {column} is empty"})
    if not_features:
        notes.append({"what": f"{not_features} member(s) of \"features\"", "where": "the FeatureCollection",
                      "why": "not a GeoJSON Feature"})
    return records, notes


def _plain_number(v) -> str | None:
    """A coordinate as shapely's WKT writer puts it (shortest round-trip digits, no trailing ".0"), or None for
    what it writes otherwise (exponents, zero, not a finite number): those go through shapely."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return str(v) if v and abs(v) < 10 ** 15 else None
    if not (1e-4 <= abs(v) < 1e15):
        return None
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text


def _point_wkt(g) -> str | None:
    """The WKT of a GeoJSON Point with two plain numbers, written as shapely writes it; None otherwise."""
    if not isinstance(g, dict) or g.get("type") != "Point":
        return None
    c = g.get("coordinates")
    if not isinstance(c, list) or len(c) != 2:
        return None
    x, y = _plain_number(c[0]), _plain_number(c[1])
    return f"POINT ({x} {y})" if x is not None and y is not None else None


# --- reference places --------------------------------------------------------------------------

@lru_cache(maxsize=1)
def town_points() -> pd.DataFrame:
    """One point per Connecticut town (ctopen/data/ct_town_points.csv) with its county and population."""
    pts = pd.read_csv(settings.DATA_DIR / "ct_town_points.csv", dtype={"town": str})
    towns = pd.read_csv(settings.TOWNS_FILE, dtype=str)[["town", "county_legacy", "pop_2020"]]
    out = pts.merge(towns, on="town", how="left").rename(columns={"county_legacy": "county"})
    out["pop_2020"] = pd.to_numeric(out["pop_2020"], errors="coerce").fillna(0)
    return out.set_index("town")


@lru_cache(maxsize=1)
def county_points() -> pd.DataFrame:
    """One point per legacy county: the population-weighted mean of its towns' points."""
    t = town_points().reset_index()
    w = t["pop_2020"].clip(lower=1)
    g = t.assign(wlat=t["lat"] * w, wlon=t["lon"] * w, w=w).groupby("county")
    return pd.DataFrame({"lat": g["wlat"].sum() / g["w"].sum(), "lon": g["wlon"].sum() / g["w"].sum()}).round(6)


def to_town(values) -> pd.Series:
    """Each value's Connecticut town (names normalized; a village in one town maps to it), else NA."""
    from ctopen.hierarchies import normalize_place, town_table
    table = town_table()
    known = set(town_points().index)
    s = pd.Series(values, dtype="str")
    codes, uniques = pd.factorize(s)
    mapped = []
    for key in normalize_place(list(uniques)):
        town = table["town"].get(key) if isinstance(key, str) else None
        mapped.append(town if town in known else None)
    arr = pd.array(mapped + [None], dtype="str")
    return pd.Series(arr.take(np.where(codes < 0, len(mapped), codes)), index=s.index)


def to_county(values) -> pd.Series:
    """Each value's Connecticut county: a county name ("Fairfield", "FAIRFIELD COUNTY"), or a town's county."""
    counties = {c.upper(): c for c in county_points().index}
    s = pd.Series(values, dtype="str")
    key = s.str.upper().str.replace(r"\s+COUNTY\s*$", "", regex=True).str.strip()
    direct = key.map(counties)
    via_town = to_town(s).map(town_points()["county"])
    return direct.where(direct.notna(), via_town).astype("str")


# --- H3 --------------------------------------------------------------------------------------

def h3_area_sq_miles(resolution: int) -> float:
    """The average area of an H3 hexagon at this resolution, in square miles."""
    import h3
    return h3.average_hexagon_area(int(resolution), unit="km^2") / SQ_KM_PER_SQ_MILE


def h3_cells(lat, lon, resolution: int) -> np.ndarray:
    """Each point's H3 cell (text) at `resolution`; None where the point is missing."""
    import h3
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    out = np.full(len(lat), None, dtype=object)
    ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if not len(ok):
        return out
    pairs = pd.DataFrame({"a": lat[ok], "b": lon[ok]})
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs))
    cells = np.array([h3.latlng_to_cell(a, b, int(resolution)) for a, b in uniq], dtype=object)
    out[ok] = cells[codes]
    return out


def hexagon(cell: str) -> list[list[float]]:
    """The closed ring of an H3 cell as [lon, lat] pairs, counterclockwise (RFC 7946's right-hand rule)."""
    import h3
    ring = [[round(lon, 7), round(lat, 7)] for lat, lon in h3.cell_to_boundary(cell)]
    if _signed_area(ring) < 0:
        ring.reverse()
    return ring + [ring[0]]


def _signed_area(ring) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1])) / 2


# --- the recipe steps --------------------------------------------------------------------------

SPATIAL_AGGREGATE_KEYS = {"lat", "lon", "point", "method", "resolution", "by", "threshold", "town", "county", "seed"}
SPATIAL_K_KEYS = {"lat", "lon", "point", "k", "min_decimals", "max_decimals"}
DEFAULT_RESOLUTION = 7
# The finest hexagons a map may publish: a listed hexagon says that 1 or more records lie in it even when its count
# is suppressed, so at resolution 9 (about 0.04 sq mi, a few blocks) a suppressed cell points at a few houses.
# Resolution 8 (about 0.28 sq mi) is the finest the gate accepts (ctopen.publish.gate).
MAX_PUBLISHED_RESOLUTION = 8


def step_problems(where: str, step: dict) -> list[str]:
    """Shape problems of a spatial_aggregate or spatial_k step (recipe validation; STEP_SCHEMA checks keys)."""
    op = step.get("op")
    out = []
    name = lambda v: isinstance(v, str) and v != ""  # noqa: E731
    has_pair = name(step.get("lat")) and name(step.get("lon"))
    if op == "spatial_aggregate":
        method = step.get("method", "h3")
        if method not in METHODS:
            return [f"{where} (spatial_aggregate) needs \"method\": one of {', '.join(METHODS)} (not {method!r})"]
        if method == "h3":
            if not has_pair and not name(step.get("point")):
                out.append(f"{where} (spatial_aggregate) needs \"lat\" and \"lon\" (or one \"point\" column)")
            if ("lat" in step or "lon" in step) and "point" in step:
                out.append(f"{where} (spatial_aggregate) takes \"lat\" and \"lon\", or \"point\", not both")
            r = step.get("resolution", DEFAULT_RESOLUTION)
            if not (isinstance(r, int) and not isinstance(r, bool) and MIN_RESOLUTION <= r <= MAX_RESOLUTION):
                out.append(f"{where} (spatial_aggregate) needs \"resolution\" as a whole number from "
                           f"{MIN_RESOLUTION} to {MAX_RESOLUTION}")
            for key in ("town", "county"):
                if key in step:
                    out.append(f"{where} (spatial_aggregate) with method h3 takes no {key!r}")
        else:
            if method == "town" and not name(step.get("town")):
                out.append(f"{where} (spatial_aggregate) with method town needs \"town\": the town column")
            if method == "county" and not (name(step.get("county")) or name(step.get("town"))):
                out.append(f"{where} (spatial_aggregate) with method county needs \"county\" (or \"town\") column")
            for key in ("lat", "lon", "point", "resolution"):
                if key in step:
                    out.append(f"{where} (spatial_aggregate) with method {method} takes no {key!r}")
            if method == "town" and "county" in step:
                out.append(f"{where} (spatial_aggregate) with method town takes no \"county\"")
        by = step.get("by", [])
        if not (isinstance(by, list) and all(name(c) for c in by)) or len(set(by if isinstance(by, list) else [])) \
                != len(by if isinstance(by, list) else []):
            out.append(f"{where} (spatial_aggregate) needs \"by\" as a list of distinct column names (it may be empty)")
        for key in ("threshold", "seed"):
            if key in step and not (isinstance(step[key], int) and not isinstance(step[key], bool) and step[key] >= 1
                                    if key == "threshold" else isinstance(step[key], int) and step[key] >= 0):
                out.append(f"{where} (spatial_aggregate) needs {key!r} as a whole number"
                           + (" of at least 1" if key == "threshold" else ", 0 or more"))
    elif op == "spatial_k":
        if not has_pair and not name(step.get("point")):
            out.append(f"{where} (spatial_k) needs \"lat\" and \"lon\" (or one \"point\" column)")
        if ("lat" in step or "lon" in step) and "point" in step:
            out.append(f"{where} (spatial_k) takes \"lat\" and \"lon\", or \"point\", not both")
        k = step.get("k", settings.DEFAULT_K)
        if not (isinstance(k, int) and not isinstance(k, bool) and k >= 2):
            out.append(f"{where} (spatial_k) needs \"k\" as a whole number of at least 2")
        d = step.get("min_decimals", 1)
        if not (isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6):
            out.append(f"{where} (spatial_k) needs \"min_decimals\" as a whole number from 0 to 6")
        top = step.get("max_decimals")
        if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and 0 <= top <= 10
                                    and (not isinstance(d, int) or top >= d)):
            out.append(f"{where} (spatial_k) needs \"max_decimals\" as a whole number from 0 to 10, at least "
                       "\"min_decimals\"")
    return out


def step_columns(step: dict) -> list[str]:
    """The columns a spatial step reads."""
    cols = [step.get(k) for k in ("lat", "lon", "point", "town", "county")]
    if step.get("op") == "spatial_aggregate":
        cols += list(step.get("by") or [])
    return [c for c in cols if isinstance(c, str) and c]


def area_column(step: dict) -> str:
    """The name of the column that holds the place in a spatial_aggregate release."""
    method = step.get("method", "h3")
    if method == "h3":
        return H3_CELL
    return step.get(method) or step.get("town")


def spatial_aggregate(df: pd.DataFrame, step: dict) -> tuple[pd.DataFrame, dict]:
    """The recipe step spatial_aggregate: one row per place and `by` combination, with the place (column
    `h3_cell`, or the town / county column), the `by` columns and `count` (empty when suppressed).
    Suppression is `ctopen.aggregate.aggregate` over the place and the `by` columns (totals kept in the
    protection, not published: a total has no place on a map). Records without a place (no point, a
    point outside Connecticut, a town that is not one) are left out and counted in the log."""
    from ctopen import aggregate
    problems = step_problems("the step", {**step, "op": "spatial_aggregate"})
    if problems:
        raise RecipeError("The spatial_aggregate step has problems: " + "; ".join(problems) + ".")
    method = step.get("method", "h3")
    by = list(step.get("by") or [])
    missing = [c for c in step_columns({**step, "op": "spatial_aggregate"}) if c not in df.columns]
    if missing:
        raise RecipeError(f"The file has no column named {', '.join(repr(c) for c in missing)} (spatial_aggregate).")
    place = area_column(step)
    if place in by:
        raise RecipeError(f"The spatial_aggregate step counts by {place!r} as its place: leave it out of \"by\".")
    outside = unreadable = 0
    if method == "h3":
        lat, lon = read_points(df, step.get("lat"), step.get("lon"), step.get("point"))
        unreadable = int((~(np.isfinite(lat) & np.isfinite(lon))).sum())
        out_mask = outside_ct(lat, lon)
        outside = int(out_mask.sum())
        lat = np.where(out_mask, np.nan, lat)
        cells = h3_cells(lat, lon, step.get("resolution", DEFAULT_RESOLUTION))
        keep = pd.notna(cells)
        values = pd.Series(pd.array(cells[keep], dtype="str"))
    else:
        values = (to_town(df[step["town"]]) if method == "town" else
                  to_county(df[step["county"]] if step.get("county") else df[step["town"]]))
        keep = values.notna().to_numpy()
        unreadable = int((~keep).sum())
        values = values[keep].reset_index(drop=True)
    records = df.loc[keep, by].reset_index(drop=True) if by else pd.DataFrame(index=range(int(keep.sum())))
    if place in records.columns:
        records = records.drop(columns=[place])
    records.insert(0, place, values.to_numpy())
    if not len(records):
        hint = ""
        if method == "h3":
            found = bounds_report(*read_points(df, step.get("lat"), step.get("lon"), step.get("point")))
            if found["swapped"] * 2 > found["points"] > 0:
                hint = (" They fall in Connecticut with latitude and longitude exchanged: give the latitude column as "
                        "\"lat\" and the longitude column as \"lon\"." if "lat" in step else
                        " They fall in Connecticut read the other way round (a \"(lat, lon)\" text holding longitude "
                        "first?).")
            elif found["lost_minus"] * 2 > found["points"] > 0:
                hint = " They fall in Connecticut with a minus sign before the longitude (west): the file lost it."
        raise RecipeError("No record has a place to count: "
                          + ("no point could be read in Connecticut." + hint if method == "h3" else
                             f"no value of {step.get('town') or step.get('county')!r} is a Connecticut "
                             f"{'town' if method == 'town' else 'county'}."))
    threshold = step.get("threshold", aggregate.DEFAULT_THRESHOLD)
    table = aggregate.aggregate(records, [place] + by, threshold=threshold, totals=False, seed=step.get("seed", 0))
    if table.exact_check != "passed":
        raise RecipeError(f"This map cannot be published: {table.exact_check}. Use larger hexagons (a lower "
                          "resolution) or fewer \"by\" columns.")
    frame = table.frame[[place] + by + ["count"]].reset_index(drop=True)
    info = table.to_dict()
    shown = frame["count"].dropna()
    entry = {
        "op": "spatial_aggregate", "method": method, "column": place, "by": by, "threshold": table.threshold,
        "resolution": step.get("resolution", DEFAULT_RESOLUTION) if method == "h3" else None,
        "records_in": int(len(df)), "records_counted": int(table.records),
        "records_outside_ct": outside, "records_without_place": unreadable,
        "places": int(frame[place].nunique()), "rows_out": int(len(frame)), "cells": info["cells"],
        "suppressed": info["suppressed"], "primary": info["primary"], "complementary": info["complementary"],
        "records_in_shown_cells": int(shown.sum()), "exact_check": info["exact_check"],
        # rows that say records are there (a count above 0, or suppressed): nearly one per record lists them
        "occupied": int((frame["count"].isna() | (frame["count"] > 0)).sum()),
        "values_changed": 0, "records_removed": 0,
        "notes": _map_note(method, step) + " " + info["notes"].replace("Suppressed values are empty, with a companion column ending in "
                                       "\"_suppressed\" set to true.", "Suppressed counts are empty."),
    }
    if method == "h3":
        entry["area_sq_miles"] = round(h3_area_sq_miles(entry["resolution"]), 4)
    what = {"h3": f"H3 hexagons of resolution {entry['resolution']} (about {entry.get('area_sq_miles', 0):,.2f} "
                  "square miles each)", "town": "towns", "county": "counties"}[method]
    left = []
    if outside:
        left.append(f"{outside:,} outside Connecticut")
    if unreadable:
        left.append(f"{unreadable:,} without a {'point' if method == 'h3' else 'Connecticut ' + method}")
    entry["message"] = (f"Counted {table.records:,} records into {entry['places']:,} {what}"
                        + (f" by {', '.join(by)}" if by else "") + f": {table.suppressed:,} of {table.cells:,} "
                        f"counts suppressed ({table.primary:,} of 1 to {table.threshold}, {table.complementary:,} "
                        "to protect them)." + (f" Left out: {'; '.join(left)}." if left else ""))
    return frame, entry


def _map_note(method: str, step: dict) -> str:
    if method == "h3":
        r = step.get("resolution", DEFAULT_RESOLUTION)
        return (f"A map of counts: each record's point was counted into the H3 hexagon (resolution {r}, about "
                f"{h3_area_sq_miles(r):,.2f} square miles) that holds it; the published shape is the hexagon, never a "
                "record's point; points outside Connecticut were left out.")
    return (f"A map of counts: each record was counted in its {'town' if method == 'town' else 'county'}; the "
            f"published point is the {'town' if method == 'town' else 'county'}'s centre, never a record's point.")


def _pair_codes(a: np.ndarray, b: np.ndarray, decimals: int) -> np.ndarray:
    """One code per distinct (a, b) pair of values truncated to `decimals` (whole numbers at that precision:
    exact, unlike comparing floats)."""
    scale = 10.0 ** decimals
    ia = np.round(a * scale).astype(np.int64)
    ib = np.round(b * scale).astype(np.int64)
    if not len(ia):
        return np.zeros(0, dtype=np.int64)
    # each value's rank among its axis' distinct values, then one key per pair of ranks: exact whatever the decimals
    # (a key made of the scaled values themselves overflows at 9 decimals or more, and two points would then share
    # a code and pass as one point held by k records)
    ca, ua = pd.factorize(ia)
    cb, ub = pd.factorize(ib)
    return pd.factorize(ca.astype(np.int64) * len(ub) + cb)[0]


def _truncate(x: np.ndarray, decimals: int) -> np.ndarray:
    scale = 10.0 ** decimals
    return np.trunc(np.round(x * scale, 6)) / scale


def _decimals_of(values) -> int:
    found = [len(m.group(1)) for v in pd.Series(values).dropna().head(500).astype(str)
             for m in re.finditer(r"-?\d{1,3}\.(\d+)", v)]
    return int(max(found)) if found else 0


def spatial_k(df: pd.DataFrame, step: dict) -> tuple[pd.DataFrame, dict]:
    """The recipe step spatial_k: every published point is shared by at least k records. Points held by fewer
    are truncated one decimal further at a time (only those: shared points keep their precision), grouped again
    with the others coarsened to the same decimals; a point still held by fewer than k at `min_decimals` is
    blanked (the record stays, without a point). Points outside Connecticut or unreadable are blanked too."""
    problems = step_problems("the step", {**step, "op": "spatial_k"})
    if problems:
        raise RecipeError("The spatial_k step has problems: " + "; ".join(problems) + ".")
    k = int(step.get("k", settings.DEFAULT_K))
    floor = int(step.get("min_decimals", 1))
    cols = [c for c in (step.get("point"),) if c] or [step["lat"], step["lon"]]
    for c in cols:
        if c not in df.columns:
            raise RecipeError(f"The file has no column named {c!r} (spatial_k).")
    lat, lon = read_points(df, step.get("lat"), step.get("lon"), step.get("point"))
    present = pd.Series(df[cols[0]]).notna().to_numpy()
    bad = present & (~(np.isfinite(lat) & np.isfinite(lon)) | outside_ct(lat, lon))
    ok = np.isfinite(lat) & np.isfinite(lon) & ~bad
    start = max(_decimals_of(df[cols[0]]), floor)
    if len(cols) == 2:
        start = max(start, _decimals_of(df[cols[1]]))
    written = start                               # the file's own precision
    if step.get("max_decimals") is not None:       # no point published finer than this
        start = max(min(start, int(step["max_decimals"])), floor)
    level = np.full(len(df), -1)                 # decimals each record's point is published at (-1: blanked)
    pending = ok.copy()
    for d in range(start, floor - 1, -1):
        if not pending.any():
            break
        a, b = _truncate(lat, d), _truncate(lon, d)
        # a group is formed by the records still pending and coarsened to d decimals
        idx = np.flatnonzero(pending)
        codes = _pair_codes(a[idx], b[idx], d)
        sizes = np.bincount(codes)
        settled = idx[sizes[codes] >= k]
        level[settled] = d
        pending[settled] = False
    blanked = ok & (level < 0)
    out = df.copy()
    new_lat = np.full(len(df), None, dtype=object)
    new_lon = np.full(len(df), None, dtype=object)
    for d in np.unique(level[level >= 0]):          # one vectorized formatting per number of decimals
        m = level == d
        new_lat[m] = np.char.mod(f"%.{int(d)}f", _truncate(lat[m], int(d)))
        new_lon[m] = np.char.mod(f"%.{int(d)}f", _truncate(lon[m], int(d)))
    if len(cols) == 2:
        out[cols[0]] = pd.array(new_lat, dtype="str")
        out[cols[1]] = pd.array(new_lon, dtype="str")
    else:
        wkt = pd.Series(df[cols[0]], dtype="str").str.contains("POINT", case=False, na=False).to_numpy()
        text = [None if la is None else (f"POINT ({lo} {la})" if w else f"({la}, {lo})")
                for la, lo, w in zip(new_lat, new_lon, wkt)]
        out[cols[0]] = pd.array(text, dtype="str")
    coarser = int(((level >= 0) & (level < written)).sum())
    changed = int((level >= 0).sum())
    entry = {"op": "spatial_k", "columns": cols, "k": k, "min_decimals": floor, "decimals_in": written,
             "values_changed": changed, "records_removed": 0, "coarsened_further": coarser,
             "blanked": int(blanked.sum()), "blanked_outside_or_unreadable": int(bad.sum()),
             "points_out": int(len(set(zip(new_lat[level >= 0], new_lon[level >= 0])))),
             # the finest precision published: at 3 decimals (about 100 m) or more a point shared by k records may
             # still be one household's records (ctopen.review keeps such points direct)
             "decimals_out": int(level.max()) if (level >= 0).any() else None}
    entry["message"] = (f"Every published point of {' and '.join(cols)} is shared by at least {k} records: "
                        + (f"no point finer than {start} decimals; " if start < written else "")
                        + f"{coarser:,} points were coarsened below {written} decimals, "
                        f"{int(blanked.sum()):,} still held by fewer than {k} at {floor} decimal"
                        f"{'s' if floor != 1 else ''} were blanked"
                        + (f", and {int(bad.sum()):,} outside Connecticut or unreadable were blanked" if bad.any()
                           else "") + ".")
    return out, entry


# --- the release as a map ----------------------------------------------------------------------

def _is_area(series: pd.Series, kind: str) -> bool:
    values = series.head(2000).dropna()
    values = values[values.astype(str).str.strip() != ""]
    if not len(values):
        return False
    known = to_town(values) if kind == "town" else values.astype(str).str.upper().isin(
        {c.upper() for c in county_points().index})
    share = known.notna().mean() if kind == "town" else known.mean()
    return bool(share >= 0.9)


def release_location(df: pd.DataFrame) -> dict | None:
    """Where a release table's places are: {"kind": "h3", "column": "h3_cell"} | {"kind": "area", "column": C,
    "level": "town"|"county"} | {"kind": "point", "lat": C, "lon": C} | {"kind": "point", "column": C} (one
    "(lat, lon)" or WKT point column) | {"kind": "geometry", "column": C} (WKT polygons, passed through from a
    GeoJSON file) | None when the table has no location."""
    if H3_CELL in df.columns:
        return {"kind": "h3", "column": H3_CELL}
    where = find_location(df)
    if where is not None and "lat" in where:
        return {"kind": "point", "lat": where["lat"], "lon": where["lon"]}
    for c in df.columns:
        sample = df[c].head(500).dropna().astype(str).head(50)
        if len(sample) and sample.str.match(_WKT_ANY).mean() >= 0.9 and not sample.str.match(
                r"^\s*POINT", case=False).all():
            return {"kind": "geometry", "column": str(c)}
    if where is not None:
        return {"kind": "point", "column": where["point"]}
    for level in ("town", "county"):
        for c in df.columns:
            if re.search(level, str(c), re.IGNORECASE) and _is_area(df[c], level):
                return {"kind": "area", "column": str(c), "level": level}
    for level in ("town", "county"):
        for c in df.columns:
            if _is_area(df[c], level):
                return {"kind": "area", "column": str(c), "level": level}
    return None


def _geometries(df: pd.DataFrame, where: dict) -> list[dict | None]:
    kind = where["kind"]
    if kind == "h3":
        import h3
        out = []
        for cell in df[where.get("column", H3_CELL)]:
            out.append({"type": "Polygon", "coordinates": [hexagon(cell)]}
                       if isinstance(cell, str) and h3.is_valid_cell(cell) else None)
        return out
    if kind == "area":
        ref = town_points() if where["level"] == "town" else county_points()
        names = to_town(df[where["column"]]) if where["level"] == "town" else to_county(df[where["column"]])
        return [{"type": "Point", "coordinates": [round(float(ref.loc[n, "lon"]), 6), round(float(ref.loc[n, "lat"]), 6)]}
                if isinstance(n, str) and n in ref.index else None for n in names]
    if kind == "geometry":
        import shapely
        from shapely.geometry import mapping
        out = []
        for v in df[where["column"]]:
            try:
                g = shapely.from_wkt(v) if isinstance(v, str) and v.strip() else None
            except Exception:       # shapely raises its own GEOSException on text that is not WKT
                g = None
            out.append(json.loads(json.dumps(mapping(shapely.geometry.polygon.orient(g) if g is not None and
                                                     g.geom_type == "Polygon" else g))) if g is not None else None)
        return out
    lat, lon = read_points(df, where.get("lat"), where.get("lon"), where.get("column"))
    return [{"type": "Point", "coordinates": [float(b), float(a)]} if math.isfinite(a) and math.isfinite(b) else None
            for a, b in zip(lat, lon)]


def _properties(df: pd.DataFrame, drop: list[str]) -> list[dict]:
    cols = [c for c in df.columns if c not in drop]
    out = []
    for row in df[cols].itertuples(index=False, name=None):
        props = {}
        for c, v in zip(cols, row):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                props[str(c)] = None
            elif isinstance(v, (np.integer,)):
                props[str(c)] = int(v)
            elif isinstance(v, (np.floating, float)):
                props[str(c)] = float(v)
            elif isinstance(v, (np.bool_, bool)):
                props[str(c)] = bool(v)
            else:
                props[str(c)] = v if isinstance(v, (int, str)) else str(v)
        out.append(props)
    return out


def to_geojson(df: pd.DataFrame, where: dict | None = None) -> dict:
    """The release as an RFC 7946 FeatureCollection (WGS84 longitude/latitude; polygons counterclockwise).
    Rows whose place has no geometry get a null geometry. `where`: the release's location as `map_location` reads
    it from the recipe (else `release_location` guesses it from the table). GeoError when the table has none."""
    where = where or release_location(df)
    if where is None:
        raise GeoError("This release has no location to map (no hexagon, town, county or point column).")
    geoms = _geometries(df, where)
    drop = [where["column"]] if where["kind"] in ("geometry",) else \
        [where["lat"], where["lon"]] if where["kind"] == "point" and "lat" in where else \
        [where["column"]] if where["kind"] == "point" else []
    props = _properties(df, drop)
    features = [{"type": "Feature", "geometry": g, "properties": p} for g, p in zip(geoms, props)]
    return {"type": "FeatureCollection", "features": features}


def to_geodataframe(df: pd.DataFrame, where: dict | None = None):
    import geopandas as gpd
    from shapely.geometry import shape
    gj = to_geojson(df, where)
    count = (where or {}).get("count", "count")
    geoms = [shape(f["geometry"]) if f["geometry"] is not None else None for f in gj["features"]]
    props = pd.DataFrame([f["properties"] for f in gj["features"]], columns=list(gj["features"][0]["properties"])
                         if gj["features"] else [c for c in df.columns])
    for c in props.columns:
        if c in (count, "count") or str(c).startswith(("count", "sum_", "mean_", "percent_")):
            props[c] = pd.to_numeric(props[c], errors="coerce").astype("Int64" if c in (count, "count") else "Float64")
    return gpd.GeoDataFrame(props, geometry=geoms, crs="EPSG:4326")


SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def write_map_files(df: pd.DataFrame, directory, stem: str, where: dict | None = None) -> dict[str, Path]:
    """The release written as `stem.geojson`, `stem.shp.zip` (a zipped shapefile) and `stem.gpkg` in
    `directory`: {"geojson": path, "shapefile": path, "geopackage": path}. GeoError without a location."""
    import tempfile
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gj = to_geojson(df, where)
    paths = {"geojson": directory / f"{stem}.geojson", "shapefile": directory / f"{stem}.shp.zip",
             "geopackage": directory / f"{stem}.gpkg"}
    paths["geojson"].write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    gdf = to_geodataframe(df, where)
    if paths["geopackage"].exists():
        paths["geopackage"].unlink()
    gdf.to_file(paths["geopackage"], driver="GPKG", layer=stem, engine="pyogrio")
    names = shapefile_names([c for c in gdf.columns if c != "geometry"])
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        gdf.rename(columns=names).to_file(shp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        with zipfile.ZipFile(paths["shapefile"], "w", zipfile.ZIP_DEFLATED) as z:
            for part in SHAPEFILE_PARTS:
                p = shp.with_suffix(part)
                if p.exists():
                    z.write(p, arcname=p.name)
            if any(k != v for k, v in names.items()):   # a shapefile's field names hold 10 characters at most
                z.writestr(f"{stem}.fields.csv", "field,column\r\n" + "".join(
                    f"{v},\"{k.replace(chr(34), chr(34) * 2)}\"\r\n" for k, v in names.items()))
    return paths


def shapefile_names(columns) -> dict[str, str]:
    """{column: its shapefile field name}: at most 10 characters (dBase), distinct whatever the case; a shortened
    name ends in _1, _2... when two would be the same. The zipped shapefile lists them in STEM.fields.csv."""
    out, seen = {}, set()
    for c in columns:
        base = re.sub(r"[^A-Za-z0-9_]", "_", str(c))[:10] or "field"
        name, i = base, 1
        while name.lower() in seen:
            tail = f"_{i}"
            name, i = base[: 10 - len(tail)] + tail, i + 1
        seen.add(name.lower())
        out[c] = name
    return out


def map_location(df: pd.DataFrame, recipe: dict | None) -> dict | None:
    """The location of a **map release**, or None: a spatial_aggregate release (hexagons or areas: read from the
    step, its place column followed through the renames after it, with the count column's published name), or a
    release that publishes points or geometries (a town column alone does not make a record release a map)."""
    steps = (recipe or {}).get("steps") or []
    step = next((s for s in steps if isinstance(s, dict) and s.get("op") == "spatial_aggregate"), None)
    spatial = step is not None
    if step is not None:
        from ctopen.recipe import renames
        names = renames(recipe)
        method = step.get("method", "h3")
        place = names.get(area_column(step), area_column(step))
        if place in df.columns and method in METHODS:
            return {"kind": "h3", "column": place, "count": names.get("count", "count")} if method == "h3" else \
                {"kind": "area", "column": place, "level": method, "count": names.get("count", "count")}
    where = release_location(df)
    if where is None or (where["kind"] == "area" and not spatial):
        return None
    return where


MAP_FILES = {"geojson": "map.geojson", "shapefile": "map.shp.zip", "geopackage": "map.gpkg"}


def map_file_bytes(df: pd.DataFrame, stem: str = "map", where: dict | None = None) -> dict[str, bytes]:
    """The three map files as {file name: bytes} (for a bundle or a download)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_map_files(df, tmp, stem, where)
        return {p.name: p.read_bytes() for p in paths.values()}
