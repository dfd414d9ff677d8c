"""Risk figures on a generated 1M-row file: 6 quasi-identifiers + 1 sensitive attribute, text columns
as the loader gives them (pandas "str"), with missing values.

Goal (issue 4): the whole report without the QI-combination part <= 0.3 s; the QI-combination part
for 6 QIs <= 1 s. Baseline, measured in the same run: a plain `df.groupby(quasi, dropna=False).size()`
for the report (plus a groupby nunique for l-diversity) and one groupby per QI subset.

    .venv/bin/python -m benchmarks risk      (or: -m benchmarks.bench_risk [--rows N] [--repeat R])
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from itertools import combinations

import numpy as np
import pandas as pd

from benchmarks.common import median_seconds, report
from ctopen.risk import assess

QUASI = ["Age", "Sex", "Race", "Ethnicity", "Town", "Year"]
SENSITIVE = "Cause"


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """Skewed like real records: ages 0-99, sex, race, ethnicity, 169 towns, 12 years, 40 causes."""
    rng = np.random.default_rng(seed)

    def pick(values, p=None):
        return np.asarray(values, dtype=object)[rng.choice(len(values), rows, p=p)]

    def zipf(n):
        w = 1 / np.arange(1, n + 1) ** 0.8
        return w / w.sum()

    age = np.clip(rng.normal(45, 18, rows).round(), 0, 99).astype(int).astype(str).astype(object)
    df = pd.DataFrame({
        "Age": age,
        "Sex": pick(["Male", "Female", "Unknown"], [0.6, 0.39, 0.01]),
        "Race": pick(["White", "Black", "Hispanic, White", "Asian Indian", "Other", "Asian, Other",
                      "Hawaiian", "Native American"], [0.7, 0.12, 0.1, 0.02, 0.03, 0.01, 0.01, 0.01]),
        "Ethnicity": pick(["Not Hispanic", "Hispanic", "Unknown"], [0.8, 0.15, 0.05]),
        "Town": pick([f"TOWN {i:03d}" for i in range(169)], zipf(169)),
        "Year": pick([str(y) for y in range(2012, 2024)]),
        SENSITIVE: pick([f"Cause {i}" for i in range(40)], zipf(40)),
    })
    for col in df.columns:   # about 2% missing in every column
        df.loc[rng.random(rows) < 0.02, col] = None
    return df.astype("str")


def baseline_report(df: pd.DataFrame, quasi: list[str], sensitive: str, k: int = 5) -> dict:
    sizes = df.groupby(quasi, dropna=False).size()
    diversity = df.groupby(quasi, dropna=False)[sensitive].nunique(dropna=False)
    return {"classes": len(sizes), "k_min": int(sizes.min()), "records_at_risk": int(sizes[sizes < k].sum()),
            "uniques": int((sizes == 1).sum()), "distinct_l": int(diversity.min())}


def baseline_combinations(df: pd.DataFrame, quasi: list[str]) -> dict:
    out = {}
    for m in range(1, len(quasi) + 1):
        for sub in combinations(quasi, m):
            sizes = df.groupby(list(sub), dropna=False).size()
            out[sub] = (int((sizes == 1).sum()), int(sizes.min()))
    return out


def released(df: pd.DataFrame) -> pd.DataFrame:
    """A release-like table: ages in 10-year bands, towns in 9 regions, classes of 1 suppressed (k >= 2),
    so l-diversity cannot stop at a class of one record."""
    out = df.copy()
    age = pd.to_numeric(out["Age"])
    out["Age"] = ((age // 10) * 10).map(lambda a: f"{a:.0f}-{a + 9:.0f}", na_action="ignore").astype("str")
    out["Town"] = out["Town"].str.slice(-1).map(lambda d: f"REGION {int(d) % 9}", na_action="ignore").astype("str")
    sizes = out.groupby(QUASI, dropna=False)["Sex"].transform("size")
    return out[sizes.to_numpy() >= 2].reset_index(drop=True)


def cpu_seconds(fn, repeat: int) -> float:
    """Median CPU time of this process (the machine is shared: wall time includes waiting for a core)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main(rows: int = 1_000_000, repeat: int = 5) -> None:
    df = generate(rows)
    print(f"bench_risk: {len(df):,} rows, QIs {', '.join(QUASI)}; sensitive {SENSITIVE}", flush=True)

    t_report = median_seconds(lambda: assess(df, QUASI, [SENSITIVE], k=5, combinations=False), repeat, warmup=1)
    t_full = median_seconds(lambda: assess(df, QUASI, [SENSITIVE], k=5, combinations=True), repeat)
    t_base = median_seconds(lambda: baseline_report(df, QUASI, SENSITIVE), max(1, repeat // 2))
    t_base_comb = median_seconds(lambda: baseline_combinations(df, QUASI), 1)
    t_comb = t_full - t_report

    r, full = assess(df, QUASI, [SENSITIVE], combinations=False), assess(df, QUASI, [SENSITIVE])
    base, base_comb = baseline_report(df, QUASI, SENSITIVE), baseline_combinations(df, QUASI)
    same = (r.classes, r.k_min, r.records_at_risk, r.uniques, r.l_diversity[SENSITIVE].distinct) == tuple(base.values())
    same_comb = all(base_comb[tuple(c.columns)] == (c.uniques, c.k_min) for c in full.qi_combinations)
    print(f"  raw table: classes {r.classes:,}, k {r.k_min}, at risk {r.records_at_risk:,}, uniques {r.uniques:,}, "
          f"{len(full.qi_combinations)} QI combinations; same figures as groupby: {same and same_comb}", flush=True)
    cpu_report = cpu_seconds(lambda: assess(df, QUASI, [SENSITIVE], k=5, combinations=False), repeat)
    cpu_comb = cpu_seconds(lambda: assess(df, QUASI, [SENSITIVE], k=5), repeat) - cpu_report
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU time: report {cpu_report:.3f} s, "
          f"QI-combination part {cpu_comb:.3f} s", flush=True)
    report("  report without combinations", t_report, goal=0.3, baseline=t_base, baseline_name="groupby")
    report(f"  QI-combination part ({len(full.qi_combinations)} subsets)", t_comb, goal=1.0,
           baseline=t_base_comb, baseline_name="groupby per subset")

    rel = released(df)
    t_rel = median_seconds(lambda: assess(rel, QUASI, [SENSITIVE], k=5, combinations=False), repeat, warmup=1)
    t_rel_base = median_seconds(lambda: baseline_report(rel, QUASI, SENSITIVE), max(1, repeat // 2))
    r2 = assess(rel, QUASI, [SENSITIVE], combinations=False)
    same2 = (r2.classes, r2.k_min, r2.records_at_risk, r2.uniques, r2.l_diversity[SENSITIVE].distinct) == \
        tuple(baseline_report(rel, QUASI, SENSITIVE).values())
    print(f"  released table: {len(rel):,} rows, classes {r2.classes:,}, k {r2.k_min}, "
          f"l {r2.l_diversity[SENSITIVE].distinct}; same figures as groupby: {same2}", flush=True)
    report("  report without combinations (k >= 2, full l-diversity)", t_rel, goal=0.3, baseline=t_rel_base,
           baseline_name="groupby")
    if not (same and same_comb and same2):
        raise SystemExit("bench_risk: figures differ from the groupby baseline")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    main(a.rows, a.repeat)
