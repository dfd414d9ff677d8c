"""Generate the claims-like test files of issue 19 (fixed seed: running it again gives the same bytes).

claims_homes.csv: 2,000 made-up health insurance claims with the member's home as coordinates at household
precision (6 decimals). Each member lives in a Connecticut town drawn in proportion to its 2020 population
(ctopen/data/ct_towns.csv); the home is the town's point (ctopen/data/ct_town_points.csv) moved by a normal
offset of about 1 km (sd 0.008 degrees of latitude, 0.011 of longitude, cut at 2.5 sd), so it lies in or next
to the town. Names, IDs and amounts are invented; no real person is in the file.

homes.geojson: the first 300 claims as a GeoJSON FeatureCollection of points (properties without the
coordinates), plus one polygon feature (a service area) that passes through as WKT.

Run from the repository root: python tests/data/geo/make_claims.py
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent
SEED = 19
N = 2000
FIRST = ["Maria", "James", "Linda", "Robert", "Ana", "David", "Susan", "Jose", "Karen", "Michael", "Lisa", "Carlos",
         "Nancy", "John", "Betty", "Luis", "Sandra", "Kevin", "Donna", "Brian"]
LAST = ["Smith", "Rivera", "Johnson", "Garcia", "Brown", "Williams", "Rodriguez", "Jones", "Miller", "Lopez",
        "Davis", "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee"]
DIAGNOSES = ["Hypertension", "Type 2 diabetes", "Asthma", "Back pain", "Depression", "Influenza", "Prenatal care",
             "Fracture", "COPD", "Anxiety"]


def main() -> None:
    rng = np.random.default_rng(SEED)
    towns = pd.read_csv(ROOT / "ctopen" / "data" / "ct_towns.csv", dtype=str)
    points = pd.read_csv(ROOT / "ctopen" / "data" / "ct_town_points.csv").set_index("town")
    pop = towns["pop_2020"].astype(float).to_numpy()
    town = towns["town"].to_numpy()[rng.choice(len(towns), size=N, p=pop / pop.sum())]
    dlat = np.clip(rng.normal(0, 0.008, N), -0.02, 0.02)
    dlon = np.clip(rng.normal(0, 0.011, N), -0.0275, 0.0275)
    lat = points.loc[town, "lat"].to_numpy() + dlat
    lon = points.loc[town, "lon"].to_numpy() + dlon
    age = np.clip(rng.gamma(4.0, 11.0, N).round().astype(int), 0, 99)
    days = rng.integers(0, 365, N)
    df = pd.DataFrame({
        "ClaimID": [f"CLM{2024000000 + i:010d}" for i in rng.permutation(N)],
        "MemberName": [f"{FIRST[a]} {LAST[b]}" for a, b in zip(rng.integers(0, 20, N), rng.integers(0, 20, N))],
        "ServiceDate": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%m/%d/%Y"),
        "Age": age,
        "Sex": rng.choice(["F", "M"], N),
        "Diagnosis": rng.choice(DIAGNOSES, N),
        "ResidenceTown": town,
        "ResidenceLat": [f"{x:.6f}" for x in lat],
        "ResidenceLon": [f"{x:.6f}" for x in lon],
        "PaidAmount": [f"{x:.2f}" for x in rng.gamma(2.0, 180.0, N)],
    })
    df.to_csv(OUT / "claims_homes.csv", index=False, lineterminator="\n")
    head = df.head(300)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.ResidenceLon),
                                                                                    float(r.ResidenceLat)]},
                 "properties": {"ClaimID": r.ClaimID, "Age": int(r.Age), "Sex": r.Sex, "Diagnosis": r.Diagnosis,
                                "ResidenceTown": r.ResidenceTown}} for r in head.itertuples()]
    features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [-72.70, 41.74], [-72.64, 41.74], [-72.64, 41.79], [-72.70, 41.79], [-72.70, 41.74]]]},
        "properties": {"ClaimID": None, "Age": None, "Sex": None, "Diagnosis": "service area",
                       "ResidenceTown": "Hartford"}})
    (OUT / "homes.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1)
                                       + "\n", encoding="utf-8")
    print(f"{len(df)} claims, {len(features)} features written to {OUT}")


if __name__ == "__main__":
    main()
