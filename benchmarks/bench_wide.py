"""Wide files (issue 16): 10,000 columns x 1 row, `load` + `profile` (goal <= 5 s); medians of 3.

Columns cycle through integer, decimal, date and text values, so every inference and range path runs. Baseline in
the same run: bare pandas.read_csv(dtype=str) of the same file. The 2,500-column run shows the work is linear
(4x the columns should cost about 4x, not 16x).
"""
from __future__ import annotations

from benchmarks.common import cache_dir, median_seconds, report
from ctopen.load import load
from ctopen.profile import profile_dict


def _wide(n: int) -> str:
    path = cache_dir() / f"wide_{n}.csv"
    if not path.exists():
        cells = [str(i) if i % 4 == 0 else f"{i}.5" if i % 4 == 1 else f"2020-01-{i % 28 + 1:02d}" if i % 4 == 2
                 else f"x{i}" for i in range(n)]
        path.write_text(",".join(f"col_{i}" for i in range(n)) + "\n" + ",".join(cells) + "\n")
    return str(path)


def main() -> None:
    import pandas as pd
    timings = {}
    for n in (2_500, 10_000):
        path = _wide(n)
        timings[n] = median_seconds(lambda: profile_dict(load(path)), repeat=3)
    base = median_seconds(lambda: pd.read_csv(_wide(10_000), dtype=str), repeat=3)
    report("load + profile, 10,000 columns x 1 row", timings[10_000], goal=5, baseline=base,
           baseline_name="bare pandas.read_csv(dtype=str)")
    print(f"2,500 columns: {timings[2_500]:.3f} s; 4x the columns cost {timings[10_000] / timings[2_500]:.1f}x "
          f"({timings[10_000] / 10_000 * 1e3:.3f} ms per column)", flush=True)


if __name__ == "__main__":
    main()
