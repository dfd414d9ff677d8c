"""Build ctopen/data/ct_town_points.csv: one point per Connecticut town (a town's centre, for maps).

Sources, in order:
1. the data.ct.gov geocoder's town points as published in "Accidental Drug Related Deaths 2012-2018"
   (ctopen/data/sample, columns DeathCityGeo / ResidenceCityGeo / InjuryCityGeo: "Town, CT\n(lat, lon)");
   162 of the 169 towns appear there, each with one point;
2. for the 7 others, the point of the town's own ZIP code in the PyPI package `zipcodes` 3.0.0 (MIT)
   (Colebrook 06021, Cornwall 06753, Hartland 06027, Lyme 06439, Roxbury 06783, Scotland 06264);
3. Union has no ZIP code of its own: its town centre's coordinates as given by the US Geological Survey's
   GNIS entry for the town (41 deg 59' 27" N, 72 deg 9' 26" W).

Run: python scripts/build_ct_town_points.py [path to an unpacked zipcodes 3.0.0]
"""
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "ctopen" / "data"
OWN_ZIP = {"Colebrook": "06021", "Cornwall": "06753", "Hartland": "06027", "Lyme": "06439", "Roxbury": "06783",
           "Scotland": "06264"}
GNIS = {"Union": (41.990833, -72.157222)}


def main() -> None:
    towns = pd.read_csv(DATA / "ct_towns.csv", dtype=str)["town"].tolist()
    upper = {t.upper(): t for t in towns}
    deaths = pd.read_csv(DATA / "sample" / "accidental_drug_deaths_2012_2018.csv", dtype=str)
    found: dict[str, set] = {}
    for col in ("DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo"):
        for v in deaths[col].dropna():
            m = re.match(r"(.*), CT\n\(([-\d.]+), ([-\d.]+)\)", v)
            if m and m.group(1).upper() in upper:
                found.setdefault(upper[m.group(1).upper()], set()).add((float(m.group(2)), float(m.group(3))))
    rows = []
    for town, points in found.items():
        assert len(points) == 1, town
        lat, lon = points.pop()
        rows.append((town, lat, lon, "data.ct.gov geocoder (rybz-nyjw)"))
    if len(sys.argv) > 1:
        sys.path.insert(0, sys.argv[1])
    import zipcodes
    for town, z in OWN_ZIP.items():
        r = zipcodes.matching(z)[0]
        rows.append((town, float(r["lat"]), float(r["long"]), f"zipcodes 3.0.0, ZIP {z}"))
    for town, (lat, lon) in GNIS.items():
        rows.append((town, lat, lon, "USGS GNIS"))
    out = pd.DataFrame(rows, columns=["town", "lat", "lon", "source"]).sort_values("town")
    assert sorted(out["town"]) == sorted(towns), set(towns) ^ set(out["town"])
    out.to_csv(DATA / "ct_town_points.csv", index=False)
    print(f"{len(out)} towns written")


if __name__ == "__main__":
    main()
