"""Loading: a generated 100 MB CSV (goal <= 5 s) and a 20 MB XLSX (goal <= 10 s); medians of 3.

Baselines in the same run: pandas.read_csv(dtype=str) on the CSV (what the loader adds on top of it),
and openpyxl's read-only mode on the workbook (what python-calamine replaces).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.common import cache_dir, median_seconds, report
from ctopen.load import load


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    towns = np.array(["Hartford", "New Haven", "Bridgeport", "Stamford", "Waterbury", "Norwalk", "Danbury", "Sandy Hook"])
    return pd.DataFrame({
        "case_id": [f"{y}-{i:06d}" for y, i in zip(rng.integers(12, 24, rows), range(rows))],
        "date": pd.to_datetime("2012-01-01") + pd.to_timedelta(rng.integers(0, 4000, rows), unit="D"),
        "age": rng.integers(0, 100, rows),
        "sex": rng.choice(["Male", "Female"], rows),
        "race": rng.choice(["White", "Black", "Hispanic, White", "Asian", "Other"], rows),
        "town": rng.choice(towns, rows),
        "zip": [f"0{z:04d}" for z in rng.integers(6001, 6929, rows)],
        "amount": [f"{a:,}" for a in rng.integers(1000, 900000, rows)],
        "note": rng.choice(["", "Acute fentanyl intoxication", "Multiple drug toxicity, \"mixed\"", "line\nbreak"], rows),
        "score": rng.random(rows).round(4),
    })


def _csv(target_mb: int) -> str:
    path = cache_dir() / f"gen_{target_mb}mb.csv"
    if not path.exists():
        df = _frame(10_000)
        per_row = len(df.to_csv(index=False).encode()) / len(df)
        _frame(int(target_mb * 2**20 / per_row), seed=1).to_csv(path, index=False)
    return str(path)


def _xlsx(target_mb: int) -> str:
    path = cache_dir() / f"gen_{target_mb}mb.xlsx"
    if not path.exists():
        rows = int(target_mb * 2**20 / 52)   # about 52 bytes of compressed XML per row of this frame
        _frame(rows, seed=2).to_excel(path, index=False, engine="openpyxl")
    return str(path)


def _openpyxl_read(path: str) -> None:
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    for _ in wb.worksheets[0].iter_rows(values_only=True):
        pass
    wb.close()


def main() -> None:
    csv_path = _csv(100)
    t = median_seconds(lambda: load(csv_path), repeat=3)
    base = median_seconds(lambda: pd.read_csv(csv_path, dtype=str), repeat=3)
    size = pd.io.common.file_exists(csv_path) and __import__("os").path.getsize(csv_path) / 2**20
    report(f"load 100 MB CSV ({size:.0f} MB, {len(load(csv_path).df):,} rows)", t, goal=5, baseline=base,
           baseline_name="bare pandas.read_csv(dtype=str)")
    xlsx_path = _xlsx(20)
    size = __import__("os").path.getsize(xlsx_path) / 2**20
    t = median_seconds(lambda: load(xlsx_path), repeat=3)
    base = median_seconds(lambda: _openpyxl_read(xlsx_path), repeat=1)
    report(f"load 20 MB XLSX ({size:.0f} MB)", t, goal=10, baseline=base, baseline_name="openpyxl read-only iteration")


if __name__ == "__main__":
    main()
