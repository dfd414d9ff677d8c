"""The review beyond memory (issue 20): the risk report and `apply` of a 5-step recipe on a generated file of
10M rows x 6 quasi-identifiers + 1 sensitive attribute, on DuckDB against pandas, in the same run.

Each measurement is one `python -m ctopen ...` command in a child process (the path a data officer runs), timed
from start to exit; its peak memory is the child's maximum resident set size (`os.wait4`'s rusage, so one
child's figure never mixes with another's). Medians of `--repeat` runs (3 by default). The pandas path is the
same command with `--engine pandas` and the loader's limits (ctopen.settings.MAX_ROWS, 5M rows; MAX_FILE_MB, 200 MB)
raised for the child, so that it is measured "where pandas fits at all". Every DuckDB result is checked against pandas's (the
risk JSON equal, the release equal as a multiset of rows) before its figures are printed.

Targets (issue 20): DuckDB's peak memory under 1.5 GB; its time within 2x of pandas's.

    .venv/bin/python -m benchmarks engine                 (10M rows, Parquet and CSV, 3 runs)
    .venv/bin/python -m benchmarks.bench_engine --rows 2000000 --repeat 1 --formats parquet

The generated files are kept under var/bench-engine/ (not committed) and reused while their size and seed match.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "ctopen" / "data"
QUASI = ["Age", "Sex", "Race", "Zip", "ProviderTown", "ServiceDate"]
SENSITIVE = "Diagnosis"
COLUMNS = QUASI + [SENSITIVE]
TARGET_PEAK_MB = 1536      # 1.5 GB
TARGET_RATIO = 2.0         # DuckDB within 2x of pandas


def recipe() -> dict:
    """The 5-step recipe of the apply benchmark: four hierarchies (age, ZIP, town, date) and a suppression."""
    return {
        "version": 1,
        "roles": {**{c: "quasi" for c in QUASI}, SENSITIVE: "sensitive"},
        "steps": [
            {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90},
            {"op": "generalize", "column": "Zip", "hierarchy": "zip", "level": 1},
            {"op": "generalize", "column": "ProviderTown", "hierarchy": "ct_town", "level": 1},
            {"op": "generalize", "column": "ServiceDate", "hierarchy": "date", "level": 3},
            {"op": "suppress", "k": 5, "columns": QUASI, "max_share": 0.05},
        ],
    }


# --- the generated file --------------------------------------------------------------------------------------

def _weighted(path: Path, value: str, weight: str) -> tuple[list[str], np.ndarray]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(weight, "").strip()]
    values = [r[value] for r in rows]
    w = np.array([max(float(r[weight]), 1.0) for r in rows])
    return values, w / w.sum()


def generate_table(rows: int, seed: int = 20) -> pa.Table:
    """Claim lines as an extract would hold them: age (skewed, 0-104), sex, race, a Connecticut ZIP code and the
    provider's town (both by 2020 population), a service date over ten years (2014-2023) and a diagnosis
    group (40, Zipf-skewed); about 1% missing in every column. All text, as the loader reads it."""
    rng = np.random.default_rng(seed)

    def column(values: list[str], codes: np.ndarray) -> pa.Array:
        codes = codes.astype(np.int32)
        mask = rng.random(rows) < 0.01
        dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), pa.array(values, pa.string()))
        return dictionary.cast(pa.string())

    def choice(values, p=None) -> pa.Array:
        return column(list(values), rng.choice(len(values), rows, p=p))

    zips, zip_p = _weighted(DATA / "ct_zip_to_town.csv", "zip", "zcta_pop_2020")
    towns, town_p = _weighted(DATA / "ct_towns.csv", "town", "pop_2020")
    ages = [str(a) for a in range(105)]
    age_codes = np.clip(rng.normal(44, 21, rows).round(), 0, 104)
    start = np.datetime64("2014-01-01")
    days = int((np.datetime64("2024-01-01") - start).astype(int))
    dates = [str(start + np.timedelta64(d, "D")) for d in range(days)]
    zipf = 1 / np.arange(1, 41) ** 0.9
    return pa.table({
        "Age": column(ages, age_codes),
        "Sex": choice(["F", "M", "U"], [0.52, 0.47, 0.01]),
        "Race": choice(["White", "Black or African American", "Hispanic or Latino", "Asian",
                        "American Indian or Alaska Native", "Native Hawaiian or Pacific Islander", "Two or more races",
                        "Other"], [0.62, 0.12, 0.17, 0.045, 0.005, 0.002, 0.03, 0.008]),
        "Zip": choice(zips, zip_p),
        "ProviderTown": choice(towns, town_p),
        "ServiceDate": column(dates, rng.integers(0, days, rows)),
        SENSITIVE: choice([f"Diagnosis group {i:02d}" for i in range(1, 41)], zipf / zipf.sum()),
    })


def generate(folder: Path, rows: int, seed: int = 20, formats=("parquet", "csv")) -> dict[str, Path]:
    """The file as Parquet and/or CSV in `folder` (reused when already there), written in slices of a million
    rows so that making a 10M-row file never holds more than one slice."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"claims_{rows}_{seed}.{fmt}" for fmt in formats}
    missing = [fmt for fmt, p in paths.items() if not p.exists()]
    if not missing:
        return paths
    part = {fmt: paths[fmt].with_name(paths[fmt].name + f".{os.getpid()}.part") for fmt in missing}
    writers = {}
    try:
        from pyarrow import csv as pcsv
        done = 0
        while done < rows:
            n = min(1_000_000, rows - done)
            table = generate_table(n, seed=seed * 1_000_003 + done)
            if "parquet" in part:
                if "parquet" not in writers:
                    writers["parquet"] = pq.ParquetWriter(part["parquet"], table.schema, compression="zstd")
                writers["parquet"].write_table(table, row_group_size=250_000)
            if "csv" in part:
                if "csv" not in writers:
                    writers["csv"] = pcsv.CSVWriter(str(part["csv"]), table.schema,
                                                    write_options=pcsv.WriteOptions(quoting_style="needed"))
                writers["csv"].write_table(table)
            done += n
    finally:
        for w in writers.values():
            w.close()
    for fmt in missing:
        os.replace(part[fmt], paths[fmt])
    return paths


# --- one measured command ----------------------------------------------------------------------------------------

# The child: the CLI with the loader's row and size limits raised (the pandas path refuses more than MAX_ROWS rows
# and files over MAX_FILE_MB; the benchmark measures it where memory allows; DuckDB never reads through that loader).
CHILD = ("import sys, os; os.environ.setdefault('TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS', ''); "
         "import ctopen.settings as s; s.MAX_ROWS = int(sys.argv[1]); s.MAX_FILE_MB = 100_000; "
         "from ctopen.cli import main; raise SystemExit(main(sys.argv[2:]))")


def run_child(argv: list[str], max_rows: int, env: dict | None = None) -> tuple[float, float, str]:
    """Run `python -m ctopen ARGV` in a child process: (seconds, peak RSS in MB, stdout). Fails loudly."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(max_rows), *argv], cwd=ROOT, stdout=out,
                                 stderr=err, env={**os.environ, "CTOPEN_NO_PROGRESS": "1", **(env or {})})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        if child.returncode != 0:
            raise RuntimeError(f"`ctopen {' '.join(argv)}` exited {child.returncode}: "
                               f"{err.read().decode('utf-8', 'replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text    # ru_maxrss is in KiB on Linux


def measure(argv: list[str], repeat: int, max_rows: int, env: dict | None = None) -> dict:
    runs = [run_child(argv, max_rows, env) for _ in range(repeat)]
    return {"seconds": statistics.median(r[0] for r in runs), "peak_mb": statistics.median(r[1] for r in runs),
            "max_peak_mb": max(r[1] for r in runs), "stdout": runs[-1][2], "runs": len(runs)}


def _digest(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_release(a: Path, b: Path) -> tuple[bool, int, int]:
    """The two release files hold the same rows (as a multiset; the order of rows is not a property of a
    release): checked by DuckDB with EXCEPT ALL both ways, every value compared as text."""
    import duckdb

    def scan(p: Path) -> str:
        path = str(p).replace("'", "''")
        return (f"read_parquet('{path}')" if p.suffix == ".parquet"
                else f"read_csv('{path}', all_varchar=true, header=true)")

    con = duckdb.connect()
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan(a)}").fetchall()]
        cast = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in cols)
        left = f"SELECT {cast} FROM {scan(a)}"
        right = f"SELECT {cast} FROM {scan(b)}"
        extra_a = con.execute(f"SELECT count(*) FROM ({left} EXCEPT ALL {right})").fetchone()[0]
        extra_b = con.execute(f"SELECT count(*) FROM ({right} EXCEPT ALL {left})").fetchone()[0]
        rows = con.execute(f"SELECT count(*) FROM {scan(a)}").fetchone()[0]
    finally:
        con.close()
    return extra_a == 0 and extra_b == 0, rows, extra_a + extra_b


# --- the benchmark -------------------------------------------------------------------------------------------------

def _row(task: str, fmt: str, engine: str, m: dict, pandas: dict | None) -> str:
    ratio = f"{m['seconds'] / pandas['seconds']:.2f}x" if pandas else "-"
    return (f"| {task} | {fmt} | {engine} | {m['seconds']:.1f} | {m['peak_mb']:,.0f} | {ratio} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pandas-repeat", type=int, default=None,
                    help="runs of the pandas path (default: --repeat; a 10M-row pandas run takes minutes)")
    ap.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    ap.add_argument("--no-pandas", action="store_true", help="DuckDB only (pandas needs several GB at 10M rows)")
    ap.add_argument("--folder", type=Path, default=ROOT / "var" / "bench-engine")
    args = ap.parse_args([] if argv is None else argv)   # `python -m benchmarks engine`: the defaults

    start = time.perf_counter()
    paths = generate(args.folder, args.rows, formats=args.formats)
    print(f"{args.rows:,} rows x {len(QUASI)} quasi-identifiers + 1 sensitive: "
          + ", ".join(f"{p.name} {p.stat().st_size / 2**20:,.0f} MB" for p in paths.values())
          + f" (made or found in {time.perf_counter() - start:.0f} s)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ctopen-bench-engine-"))
    recipe_path = work / "recipe.json"
    recipe_path.write_text(json.dumps(recipe()), encoding="utf-8")
    engines = ["duckdb"] if args.no_pandas else ["pandas", "duckdb"]
    repeats = {"duckdb": args.repeat, "pandas": args.pandas_repeat or args.repeat}
    max_rows = args.rows + 10
    lines = ["| task | file | engine | seconds (median) | peak RSS MB (median) | time vs pandas |",
             "|---|---|---|---|---|---|"]
    verdicts = []
    for fmt, path in paths.items():
        risk_args = ["risk", str(path), "--qi", *QUASI, "--sensitive", SENSITIVE, "--json"]
        found = {}
        for engine in engines:
            found[engine] = measure(risk_args + ["--engine", engine], repeats[engine], max_rows)
            print(f"  risk {fmt} {engine}: {found[engine]['seconds']:.1f} s, {found[engine]['peak_mb']:,.0f} MB",
                  flush=True)
        if "pandas" in found:
            equal = json.loads(found["pandas"]["stdout"]) == json.loads(found["duckdb"]["stdout"])
            verdicts.append(f"risk {fmt}: DuckDB's JSON {'equals' if equal else 'DIFFERS from'} pandas's")
            print("  " + verdicts[-1], flush=True)
        for engine in engines:
            lines.append(_row("risk report", fmt, engine, found[engine], found.get("pandas") if engine != "pandas"
                              else None))
        # apply: pandas writes CSV (its release formats are CSV and XLSX); DuckDB streams Parquet, and CSV to compare
        outs, applied = {}, {}
        runs = [("pandas", ".csv")] if not args.no_pandas else []
        runs += [("duckdb", ".parquet"), ("duckdb", ".csv")]
        for engine, suffix in runs:
            label = f"{engine}{suffix}"
            outs[label] = work / f"release_{fmt}_{engine}{suffix}"
            apply_args = ["apply", str(path), "--recipe", str(recipe_path), "--out", str(outs[label]), "--json",
                          "--engine", engine]
            applied[label] = measure(apply_args, repeats[engine], max_rows)
            print(f"  apply {fmt} -> {suffix} {engine}: {applied[label]['seconds']:.1f} s, "
                  f"{applied[label]['peak_mb']:,.0f} MB", flush=True)
        if "pandas.csv" in outs:
            same = _digest(outs["pandas.csv"]) == _digest(outs["duckdb.csv"])
            verdicts.append(f"apply {fmt}: DuckDB's CSV is {'byte for byte' if same else 'NOT'} the pandas path's")
            summaries = {k: json.loads(v["stdout"]) for k, v in applied.items()}
            keep = lambda d: {k: v for k, v in d.items() if k != "out"}  # noqa: E731
            verdicts.append(f"apply {fmt}: the JSON summaries are "
                            f"{'equal' if keep(summaries['pandas.csv']) == keep(summaries['duckdb.csv']) else 'NOT equal'}")
            print("  " + "\n  ".join(verdicts[-2:]), flush=True)
        equal, rows, differing = same_release(outs["duckdb.parquet"], outs["duckdb.csv"])
        verdicts.append(f"apply {fmt}: DuckDB's Parquet release holds the CSV's rows "
                        f"({'equal' if equal else 'NOT equal'}; {rows:,} rows, {differing:,} differ)")
        for label, m in applied.items():
            engine, suffix = label.split(".")
            lines.append(_row(f"apply, 5 steps, to {suffix.upper()}", fmt, engine, m,
                              applied.get("pandas.csv") if engine != "pandas" else None))
        for o in outs.values():
            o.unlink(missing_ok=True)
    print("\n" + "\n".join(lines))
    for v in verdicts:
        print(v)
    duck = [line for line in lines[2:] if "| duckdb |" in line]
    peak = max(float(line.split("|")[5].replace(",", "")) for line in duck)
    print(f"DuckDB's largest median peak: {peak:,.0f} MB (target < {TARGET_PEAK_MB:,} MB: "
          f"{'met' if peak < TARGET_PEAK_MB else 'NOT met'})")
    if not args.no_pandas:
        ratios = [float(line.split("|")[6].strip().rstrip("x")) for line in duck]
        print(f"DuckDB's time against pandas: {min(ratios):.2f}x to {max(ratios):.2f}x "
              f"(target <= {TARGET_RATIO:g}x: {'met' if max(ratios) <= TARGET_RATIO else 'NOT met'})")
    print(f"Reproduce: .venv/bin/python -m benchmarks.bench_engine --rows {args.rows} --repeat {args.repeat} "
          + (f"--pandas-repeat {args.pandas_repeat} " if args.pandas_repeat else "")
          + f"--formats {' '.join(args.formats)}")
    print(f"Runs: DuckDB {repeats['duckdb']}, pandas {repeats['pandas']} per measurement (medians).")


if __name__ == "__main__":
    main(sys.argv[1:])
