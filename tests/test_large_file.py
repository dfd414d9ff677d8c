"""A file larger than the memory the command is given (issue 20): `ctopen risk` and `ctopen apply` on DuckDB run
in a child process whose address space is capped (RLIMIT_AS, 1,000 MB: Python and its libraries included) below
what the in-memory path needs for the same file (2 million claim lines x 9 columns: the pandas path peaks at about
1,270 MB resident for `risk` and for `apply`, and cannot run under the cap: tested; DuckDB's peak is about 420 MB),
and their figures are exact: the risk figures of the large file equal an independent count of its classes (numpy
over the integer codes the file was made from), the release's groups reach k when its log says so, and on a sample
small enough for memory the DuckDB path gives exactly the pandas path's JSON and release bytes.

Not timed (the benchmark measures: python -m benchmarks engine); the sizes keep the test to about 30 s."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv as pcsv
import pytest

from tests.conftest import ROOT

ROWS = 2_000_000
CAP_MB = 1000                   # the child's whole address space: Python, pandas, pyarrow, DuckDB and the work
ENGINE_MEMORY = "128MB"         # DuckDB's own limit inside it (it spills to its temp directory beyond it)
QUASI = ["Age", "Sex", "Race", "Town"]
SENSITIVE = "Diagnosis"
TOWNS = [f"Town {i:03d}" for i in range(169)]
RACES = ["White", "Black", "Hispanic", "Asian", "Native American", "Pacific Islander", "Two or more", "Other"]
DIAGNOSES = [f"Group {i:02d}" for i in range(40)]
# the child: fewer malloc arenas and one BLAS thread, so that its address space is what it uses
CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
             "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_NO_PROGRESS": "1"}
RECIPE = {"version": 1, "roles": {**{q: "quasi" for q in QUASI}, SENSITIVE: "sensitive", "ClaimID": "direct"},
          "steps": [
              {"op": "drop", "column": "ClaimID"},
              {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 90},
              {"op": "generalize", "column": "Town", "hierarchy": "table", "level": 1,
               "table": {t: [f"Region {i % 9}"] for i, t in enumerate(TOWNS)}},
              {"op": "rename", "column": "Town", "to": "Region"},
              {"op": "suppress", "k": 11, "columns": QUASI, "max_share": 0.01},
          ]}


def _codes(rows: int, seed: int) -> dict[str, np.ndarray]:
    """Integer codes per column, -1 for a missing value (about 1% in every column)."""
    rng = np.random.default_rng(seed)
    zipf = 1 / np.arange(1, 170) ** 0.9
    out = {
        "Age": np.clip(rng.normal(44, 21, rows).round(), 0, 104).astype(np.int16),
        "Sex": rng.choice(3, rows, p=[0.52, 0.47, 0.01]).astype(np.int16),
        "Race": rng.choice(8, rows, p=[0.62, 0.12, 0.17, 0.045, 0.005, 0.002, 0.03, 0.008]).astype(np.int16),
        "Town": rng.choice(169, rows, p=zipf / zipf.sum()).astype(np.int16),
        SENSITIVE: rng.integers(0, 40, rows).astype(np.int16),
    }
    for codes in out.values():
        codes[rng.random(rows) < 0.01] = -1
    return out


def _text(codes: np.ndarray, values: list[str]) -> pa.Array:
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(values))
    return dictionary.cast(pa.string())


PROVIDERS = [f"Provider {i:04d} Health Services" for i in range(2000)]
PROCEDURES = [f"{i:05d}" for i in range(10000, 10500)]


def _table(codes: dict[str, np.ndarray], first: int = 0) -> pa.Table:
    """The claim lines: the quasi-identifiers and the sensitive attribute from the codes, and the columns an
    extract carries along (a unique claim number, the provider, the procedure code, the amount paid)."""
    n = len(codes["Age"])
    index = np.arange(first, first + n)
    return pa.table({"ClaimID": pa.array(np.char.add("CL", index.astype("U10")).astype(object), pa.string()),
                     "Age": _text(codes["Age"], [str(a) for a in range(105)]),
                     "Sex": _text(codes["Sex"], ["F", "M", "U"]),
                     "Race": _text(codes["Race"], RACES),
                     "Town": _text(codes["Town"], TOWNS),
                     "Provider": _text(index * 7919 % len(PROVIDERS), PROVIDERS),
                     "Procedure": _text(index * 104729 % len(PROCEDURES), PROCEDURES),
                     "Paid": pa.array([f"{(i * 7727) % 250000 / 100:.2f}" for i in index], pa.string()),
                     SENSITIVE: _text(codes[SENSITIVE], DIAGNOSES)})


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """The large file (Parquet, written in slices) and the codes it was made from."""
    folder = tmp_path_factory.mktemp("large")
    codes = _codes(ROWS, seed=7)
    path = folder / "claims.parquet"
    with pq.ParquetWriter(path, _table({c: v[:10] for c, v in codes.items()}).schema) as writer:
        for start in range(0, ROWS, 1_000_000):
            writer.write_table(_table({c: v[start:start + 1_000_000] for c, v in codes.items()}, start),
                               row_group_size=250_000)
    return path, codes


def _child(args: list[str], cap_mb: int | None = CAP_MB) -> tuple[int, str, str, int]:
    """`python -m ctopen ARGS` in a child whose address space is capped: (exit code, stdout, stderr, peak RSS MB)."""
    def limit():
        if cap_mb:
            resource.setrlimit(resource.RLIMIT_AS, (cap_mb * 2**20, cap_mb * 2**20))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, "-m", "ctopen", *args], cwd=ROOT, stdout=out, stderr=err,
                                 stdin=subprocess.DEVNULL, preexec_fn=limit, env={**os.environ, **CHILD_ENV})
        _, status, usage = os.wait4(child.pid, 0)          # this child's own peak, not every child's
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss // 1024


def _expected_risk(codes: dict[str, np.ndarray], k: int = 5) -> dict:
    """Classes over the quasi-identifiers counted independently: numpy over the integer codes (missing = a value)."""
    key = np.zeros(len(codes["Age"]), dtype=np.int64)
    for q in QUASI:
        key = key * 200 + (codes[q].astype(np.int64) + 1)
    classes, ids, sizes = np.unique(key, return_inverse=True, return_counts=True)
    pairs = np.unique(ids.astype(np.int64) * 64 + codes[SENSITIVE] + 1)
    distinct = np.bincount(pairs // 64, minlength=len(classes))
    return {"records": int(sizes.sum()), "classes": int(len(classes)), "k_min": int(sizes.min()),
            "uniques": int((sizes == 1).sum()), "records_at_risk": int(sizes[sizes < k].sum()),
            "distinct_l": int(distinct.min())}


def test_risk_of_a_file_larger_than_its_memory_cap_is_exact(large):
    path, codes = large
    code, out, err, _ = _child(["risk", str(path), "--qi", *QUASI, "--sensitive", SENSITIVE, "--engine", "duckdb",
                                "--memory-limit", ENGINE_MEMORY, "--json"])
    assert code == 0, err[-2000:]
    got = json.loads(out)
    want = _expected_risk(codes)
    assert got["rows"] == ROWS and got["suppressed"] == 0
    assert {k: got[k] for k in ("classes", "k_min", "uniques", "records_at_risk")} == {
        k: want[k] for k in ("classes", "k_min", "uniques", "records_at_risk")}
    assert got["l_diversity"][SENSITIVE]["distinct"] == want["distinct_l"]
    assert sum(b["records"] for b in got["histogram"]) == ROWS


def test_apply_of_a_file_larger_than_its_memory_cap_streams_the_release(large, tmp_path):
    path, codes = large
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE), encoding="utf-8")
    out = tmp_path / "release.parquet"
    code, stdout, err, _ = _child(["apply", str(path), "--recipe", str(recipe), "--out", str(out), "--engine",
                                   "duckdb", "--memory-limit", ENGINE_MEMORY, "--json"])
    assert code == 0, err[-2000:]
    summary = json.loads(stdout)
    release = pq.ParquetFile(out)
    assert release.metadata.num_rows == summary["rows"] == ROWS - summary["suppressed"]
    assert release.schema_arrow.names == ["Age", "Sex", "Race", "Region", "Provider", "Procedure", "Paid", SENSITIVE]
    suppress = next(e for e in summary["log"] if e["op"] == "suppress")
    assert suppress["records_removed"] == summary["suppressed"] > 0
    # the release's groups, counted here: k reached when the log says so
    groups = release.read(columns=["Age", "Sex", "Race", "Region"]).group_by(
        ["Age", "Sex", "Race", "Region"]).aggregate([([], "count_all")])
    assert (min(groups.column("count_all").to_pylist()) >= 11) == suppress["k_reached"]


def test_the_cap_is_real_the_pandas_path_cannot_run_under_it(large):
    """The same command on the pandas path, under the same cap, does not get through (the loader's row limit is
    raised for it in the child, so that memory is what stops it)."""
    path, _ = large
    child = subprocess.run(
        [sys.executable, "-c", "import sys, ctopen.settings as s; s.MAX_ROWS = 10**8; from ctopen.cli import main; "
                               "raise SystemExit(main(sys.argv[1:]))",
         "risk", str(path), "--qi", *QUASI, "--engine", "pandas", "--json"],
        cwd=ROOT, capture_output=True, env={**os.environ, **CHILD_ENV}, timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (CAP_MB * 2**20, CAP_MB * 2**20)))
    assert child.returncode != 0
    assert child.returncode < 0 or "memory" in child.stderr.decode().lower()     # stopped by memory, nothing else


def test_on_a_sample_the_duckdb_path_equals_the_pandas_path(large, tmp_path, capsys):
    from ctopen.cli import main
    path, _ = large
    sample = tmp_path / "sample.csv"
    pcsv.write_csv(pq.ParquetFile(path).read_row_group(0).slice(0, 30_000), sample)
    args = ["risk", str(sample), "--qi", *QUASI, "--sensitive", SENSITIVE, "--json"]
    risks = {}
    for e in ("pandas", "duckdb"):
        assert main(args + ["--engine", e]) == 0
        risks[e] = json.loads(capsys.readouterr().out)
    assert risks["pandas"] == risks["duckdb"]
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE), encoding="utf-8")
    outs = {e: tmp_path / f"{e}.csv" for e in ("pandas", "duckdb")}
    for e, o in outs.items():
        assert main(["apply", str(sample), "--recipe", str(recipe), "--out", str(o), "--engine", e, "--json"]) == 0
    assert outs["pandas"].read_bytes() == outs["duckdb"].read_bytes()


def test_a_path_duckdb_would_read_as_a_pattern_is_refused(tmp_path, capsys):
    """'a*.csv' is a pattern to DuckDB: it would also read ab.csv beside it, and count other records. Refused."""
    from ctopen.cli import main
    (tmp_path / "a*.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "ab.csv").write_text("x\n2\n3\n", encoding="utf-8")
    assert main(["risk", str(tmp_path / "a*.csv"), "--qi", "x", "--engine", "duckdb", "--json"]) == 2
    assert "pattern" in capsys.readouterr().err
    assert main(["risk", str(tmp_path / "ab.csv"), "--qi", "x", "--engine", "duckdb", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2
