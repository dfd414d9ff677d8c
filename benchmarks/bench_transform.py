"""Live before/after on the Transform page: one edit = apply the whole recipe to the loaded table,
assess the release's risk (without QI combinations) and compute the information lost.

Goal (issue 5): under 1 s per edit on 100k rows. Baseline, measured in the same run: the same
generalizations written the plain pandas way, over every row instead of every distinct value
(`pd.to_datetime` + `strftime` on the column, `pd.cut` for ages, `.str.upper().map` for towns), then a
`groupby(...).size()` for k. Also: one hierarchy over 1M rows.

    .venv/bin/python -m benchmarks transform      (or: -m benchmarks.bench_transform [--rows N] [--repeat R])
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from benchmarks.common import median_seconds, report
from ctopen import hierarchies, settings, transform
from ctopen.risk import assess

QUASI = ["Date", "Age", "Sex", "Race", "ResidenceCity", "Zip"]
KEY = b"benchmark key, not a secret at all"


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """Drug-deaths-like records: unique case IDs, 7 years of dates as the portal writes them, ages,
    sex, race, real CT towns and villages (upper case, a few unknown), real CT ZIPs."""
    rng = np.random.default_rng(seed)
    towns = pd.read_csv(settings.TOWNS_FILE, dtype=str)["town"].str.upper().tolist()
    towns += ["SANDY HOOK", "MYSTIC", "WILLIMANTIC", "N HAVEN", "BRONX", "UNKNOWN"]
    zips = pd.read_csv(settings.ZIP_FILE, dtype=str)["zip"].tolist()
    days = pd.date_range("2012-01-01", "2018-12-31").strftime("%m/%d/%Y 12:00:00 AM").tolist()

    def pick(values, p=None):
        return np.asarray(values, dtype=object)[rng.choice(len(values), rows, p=p)]

    w = 1 / np.arange(1, len(towns) + 1) ** 0.8
    df = pd.DataFrame({
        "ID": [f"{13 + i % 7}-{i:06d}" for i in range(rows)],
        "Date": pick(days),
        "Age": np.clip(rng.normal(42, 13, rows).round(), 14, 97).astype(int).astype(str).astype(object),
        "Sex": pick(["Male", "Female"], [0.74, 0.26]),
        "Race": pick(["White", "Black", "Hispanic, White", "Asian Indian", "Other"], [0.75, 0.1, 0.12, 0.01, 0.02]),
        "ResidenceCity": pick(towns, w / w.sum()),
        "Zip": pick(zips),
        "COD": pick([f"Acute intoxication {i}" for i in range(60)]),
    })
    for col in ["Age", "Sex", "Race", "ResidenceCity"]:
        df.loc[rng.random(rows) < 0.01, col] = None
    return df.astype("str")


EDITS = [
    {"op": "drop", "column": "ID"},
    {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 1},
    {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90},
    {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1, "via": "planning_region"},
    {"op": "generalize", "column": "Zip", "hierarchy": "zip", "level": 1},
    {"op": "pseudonymize", "column": "COD"},
    {"op": "suppress", "k": 5, "columns": QUASI, "max_share": 0.05},
]


def one_edit(df: pd.DataFrame, steps: list[dict]) -> None:
    recipe = {"version": 1, "steps": steps}
    applied = transform.apply(df, recipe, key=KEY)
    present = [c for c in QUASI if c in applied.df.columns]
    assess(applied.df, present, k=5, combinations=False, suppressed=applied.suppressed)
    transform.information_loss(df, recipe, QUASI, applied.suppressed)


def baseline_edit(df: pd.DataFrame) -> None:
    """The full recipe's generalizations, row by row (vectorised pandas, no distinct-value mapping)."""
    table = hierarchies.town_table()
    out = df.drop(columns=["ID"])
    out["Date"] = pd.to_datetime(out["Date"], format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m")
    age = pd.to_numeric(out["Age"])
    out["Age"] = pd.cut(age, bins=list(range(0, 91, 10)) + [200], right=False).astype(str)
    out["ResidenceCity"] = out["ResidenceCity"].str.upper().map(table["planning_region"])
    out["Zip"] = out["Zip"].str[:3]
    sizes = out.groupby(QUASI, dropna=False).size()
    int(sizes.min())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv or [])
    df = generate(args.rows)
    print(f"{args.rows:,} rows x {len(df.columns)} columns; QIs {', '.join(QUASI)}", flush=True)
    baseline = median_seconds(lambda: baseline_edit(df), repeat=args.repeat, warmup=1)
    worst = 0.0
    for i in range(1, len(EDITS) + 1):
        steps = EDITS[:i]
        seconds = median_seconds(lambda: one_edit(df, steps), repeat=args.repeat, warmup=1)
        worst = max(worst, seconds)
        report(f"edit {i} ({steps[-1]['op']} {steps[-1].get('column', '')}): apply + risk + loss", seconds, goal=1.0,
               baseline=baseline, baseline_name="row-wise pandas generalize + groupby")
    report("slowest edit", worst, goal=1.0)
    big = pd.concat([df["Date"]] * max(1, 1_000_000 // len(df)), ignore_index=True)
    date = hierarchies.get("date")
    seconds = median_seconds(lambda: date.generalize(big, 2), repeat=3)
    row_wise = median_seconds(lambda: pd.to_datetime(big, format="%m/%d/%Y %I:%M:%S %p").dt.to_period("Q").astype(str),
                              repeat=3)
    report(f"date -> quarter on {len(big):,} rows", seconds, baseline=row_wise, baseline_name="row-wise to_datetime")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
