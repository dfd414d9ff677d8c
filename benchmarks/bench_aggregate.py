"""Aggregate: 1M records into a 169-town x 10-year x 3-sex x 6-race count table, suppressed.

`python -m benchmarks.bench_aggregate` (or `python -m benchmarks`). Prints the median of a few runs of
`ctopen.aggregate.aggregate` and of a naive baseline measured in the same run: the textbook way
(pandas groupby counts, then the same primary and line-rule complementary suppression in plain
Python over a dict of cells, without the exact check). The issue's bar: under 2 s.
"""
from __future__ import annotations

import statistics
import time
from itertools import product

import numpy as np
import pandas as pd

from ctopen.aggregate import aggregate
from ctopen.settings import TOWNS_FILE

RECORDS = 1_000_000
YEARS = [str(y) for y in range(2012, 2022)]
SEXES = ["Female", "Male", "Unknown"]
SEX_P = [0.49, 0.49, 0.02]
RACES = ["White", "Black", "Hispanic", "Asian", "Other", "Unknown"]
RACE_P = [0.62, 0.11, 0.17, 0.05, 0.03, 0.02]
BY = ["town", "year", "sex", "race"]


def records(n: int = RECORDS, seed: int = 1) -> pd.DataFrame:
    """Synthetic person records: towns drawn by 2020 population, so small towns have small cells."""
    towns = pd.read_csv(TOWNS_FILE, dtype=str)
    pop = towns["pop_2020"].astype(float).to_numpy()
    rng = np.random.default_rng(seed)
    cols = {
        "town": np.array(towns["town"])[rng.choice(len(pop), n, p=pop / pop.sum())],
        "year": np.array(YEARS)[rng.integers(0, len(YEARS), n)],
        "sex": np.array(SEXES)[rng.choice(3, n, p=SEX_P)],
        "race": np.array(RACES)[rng.choice(6, n, p=RACE_P)],
    }
    return pd.DataFrame({k: pd.array(v, dtype="str") for k, v in cols.items()})


def naive(df: pd.DataFrame, threshold: int = 5) -> int:
    """Baseline: groupby counts with margins, primary + line-rule complements in plain Python."""
    cats = [sorted(df[c].unique()) + ["Total"] for c in BY]
    counts = {}
    grouped = df.groupby(BY).size()
    for key, n in grouped.items():
        counts[key] = int(n)
    cells = {key: counts.get(key, 0) for key in product(*[c[:-1] for c in cats])}
    for ax in range(len(BY)):  # margins, one dimension at a time
        for key, n in list(cells.items()):
            tkey = key[:ax] + ("Total",) + key[ax + 1:]
            if key[ax] != "Total":
                cells[tkey] = cells.get(tkey, 0) + n
    supp = {k for k, v in cells.items() if 1 <= v <= threshold}
    changed = True
    while changed:
        changed = False
        for ax in range(len(BY)):
            lines = {}
            for key in cells:
                lines.setdefault(key[:ax] + key[ax + 1:], []).append(key)
            for members in lines.values():
                hidden = [k for k in members if k in supp]
                if len(hidden) != 1:
                    continue
                options = [k for k in members if k not in supp and cells[k] > 0 and k[ax] != "Total"]
                if not options:
                    options = [k for k in members if k not in supp and cells[k] > 0]
                if options:
                    supp.add(min(options, key=lambda k: cells[k]))
                    changed = True
    return len(supp)


def _median(fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(repeat: int = 3) -> None:
    df = records()
    fast, table = _median(lambda: aggregate(df, BY), repeat)
    slow, n_naive = _median(lambda: naive(df), 1)
    print(f"aggregate: {RECORDS:,} records -> {table.cells:,} cells "
          f"({len(YEARS)} years x 3 sexes x 6 races x 169 towns, with totals)")
    print(f"  ctopen.aggregate median of {repeat}: {fast:.3f} s  (bar: < 2 s)"
          f"  suppressed {table.suppressed:,} cells ({table.primary:,} primary, "
          f"{table.complementary:,} complementary), exact check: {table.exact_check}")
    print(f"  naive baseline (groupby + python line rule, no exact check), 1 run: {slow:.3f} s"
          f"  suppressed {n_naive:,} cells")
    print(f"  ratio naive / ctopen: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
