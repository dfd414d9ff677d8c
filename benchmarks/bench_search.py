"""Recommend: the least-loss generalization for k = 5 (1% suppression budget); medians of 3.

1. Generated 100k rows x 6 quasi-identifiers (date of death 2012-2018, age, ZIP weighted by 2020
   population, the ZIP's town, sex, race; realistic mixes): goal <= 2 s.
1b. The same with an l-diversity target: l = 3 distinct causes of death (8 causes, skewed) per group.
2. The real drug-deaths file (5,105 rows) with Date, Age, Sex, Race, ResidenceCity, DeathCity.

Baseline in the same run: exhaustive search (every node of the lattice evaluated on the same
distinct-combination table, no pruning, no bound) — the reference the search must equal; the answer
(levels and loss) is checked to be the same. For the real file a row-level baseline is also run:
each node generalized on the rows with pandas and grouped (what a script would do), on a sample of
nodes, extrapolated to the lattice.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.common import median_seconds, report
from ctopen import settings
from ctopen.search import recommend

HIERARCHIES = {"date": "date", "age": {"hierarchy": "age", "top_code": 90}, "zip": "zip",
               "town": "ct_town", "sex": "category", "race": "category"}


def generated(rows: int = 100_000, seed: int = 7) -> pd.DataFrame:
    """Deaths-like records: ZIPs drawn by 2020 population, town = the ZIP's main town (5% another
    town it reaches, as residence and mailing town differ), ages 15-95 peaking in the 30s-50s."""
    rng = np.random.default_rng(seed)
    zips = pd.read_csv(settings.ZIP_FILE, dtype=str)
    zips = zips[zips["zcta_pop_2020"].notna() & zips["main_town"].notna()]
    pop = zips["zcta_pop_2020"].astype(float).to_numpy()
    pick = rng.choice(len(zips), rows, p=pop / pop.sum())
    zip_codes = zips["zip"].to_numpy()[pick]
    towns = zips["main_town"].to_numpy()[pick].astype(object)
    all_towns = pd.read_csv(settings.TOWNS_FILE, dtype=str)["town"].to_numpy()
    other = rng.random(rows) < 0.05
    towns[other] = rng.choice(all_towns, other.sum())
    days = pd.Timestamp("2012-01-01") + pd.to_timedelta(rng.integers(0, 7 * 365, rows), unit="D")
    age = np.clip(rng.normal(43, 13, rows).round(), 15, 95).astype(int)
    sex = rng.choice(["Male", "Female"], rows, p=[0.73, 0.27])
    race = rng.choice(["White", "Hispanic, White", "Black", "Hispanic, Black", "Asian, Other", "Unknown", "Other"],
                      rows, p=[0.78, 0.11, 0.085, 0.01, 0.006, 0.005, 0.004])
    return pd.DataFrame({
        "date": pd.Series(days.strftime("%m/%d/%Y 12:00:00 AM"), dtype="str"),
        "age": pd.Series(age.astype(str), dtype="str"),
        "zip": pd.Series(zip_codes, dtype="str"),
        "town": pd.Series(towns, dtype="str"),
        "sex": pd.Series(sex, dtype="str"),
        "race": pd.Series(race, dtype="str"),
    })


def _same(a, b) -> str:
    return "same answer" if a.levels == b.levels and abs(a.loss - b.loss) < 1e-9 else "DIFFERENT ANSWER"


def _case(name: str, df: pd.DataFrame, specs: dict, goal: float | None, repeat: int = 3, **target) -> None:
    quasi = list(specs)
    fast = recommend(df, quasi, k=5, hierarchies=specs, **target)
    slow = recommend(df, quasi, k=5, hierarchies=specs, exhaustive=True, **target)
    t_fast = median_seconds(lambda: recommend(df, quasi, k=5, hierarchies=specs, **target), repeat=repeat)
    t_slow = median_seconds(lambda: recommend(df, quasi, k=5, hierarchies=specs, exhaustive=True, **target), repeat=1)
    print(f"{name}: {len(df):,} rows, lattice {fast.lattice_size} nodes; search evaluated {fast.nodes_evaluated}, "
          f"exhaustive {slow.nodes_evaluated}; {_same(fast, slow)}; levels {fast.levels}, loss {fast.loss:.4f}, "
          f"suppressed {fast.suppressed}, k_min {fast.k_min}", flush=True)
    report(f"{name} recommend", t_fast, goal=goal, baseline=t_slow, baseline_name="exhaustive search")


def _row_level(df: pd.DataFrame, specs: dict, nodes: int = 20) -> float:
    """Seconds per node when each node is generalized on the rows with pandas and grouped."""
    from ctopen import hierarchies

    hs = {c: (hierarchies.get(s) if isinstance(s, str) else hierarchies.get(s["hierarchy"], **{k: v for k, v in s.items() if k != "hierarchy"}))
          for c, s in specs.items()}
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(nodes):
        out = pd.DataFrame({c: h.generalize(df[c], int(rng.integers(0, h.levels))) for c, h in hs.items()})
        sizes = out.groupby(list(hs), dropna=False, sort=False).size()
        int(sizes[sizes < 5].sum())
    return (time.perf_counter() - start) / nodes


def main() -> None:
    import os
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(the machine is shared: times scale with it)", flush=True)
    df = generated()
    _case("100k x 6 generated", df, HIERARCHIES, goal=2.0)
    rng = np.random.default_rng(3)
    causes = ["fentanyl", "heroin", "cocaine", "ethanol", "benzodiazepine", "oxycodone", "methadone", "mixed"]
    df["cause"] = pd.Series(rng.choice(causes, len(df), p=[.4, .2, .12, .1, .08, .05, .03, .02]), dtype="str")
    _case("100k x 6 generated, l = 3 on cause", df, HIERARCHIES, goal=None, sensitive="cause", l=3)
    from tests.conftest import DRUG, real_file
    path = real_file(DRUG)
    if not path.exists():
        print("drug deaths file not available: skipped")
        return
    from ctopen.load import load
    drug = load(path).df
    specs = {"Date": "date", "Age": {"hierarchy": "age", "top_code": 90}, "Sex": "category",
             "Race": "category", "ResidenceCity": "ct_town", "DeathCity": "ct_town"}
    _case("drug deaths (real)", drug, specs, goal=None)
    fast = recommend(drug, list(specs), k=5, hierarchies=specs)
    per_node = _row_level(drug, specs)
    t_fast = median_seconds(lambda: recommend(drug, list(specs), k=5, hierarchies=specs), repeat=3)
    print(f"load average at end: {os.getloadavg()[0]:.1f}", flush=True)
    report("drug deaths recommend", t_fast, baseline=per_node * fast.lattice_size,
           baseline_name=f"row-level exhaustive ({per_node * 1000:.0f} ms/node x {fast.lattice_size} nodes, extrapolated)")


if __name__ == "__main__":
    main()
