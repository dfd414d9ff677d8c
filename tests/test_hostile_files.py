"""Hostile input (issue 16): every file ends in a Table or in one LoadError line, quickly and in bounded memory.

The files are built in memory by tests/fuzz/corpus.py (a few MB at most: what they claim is hostile, not
their size). scripts/fuzz runs a larger corpus of the same kind and prints the issue's table.
"""
import functools
import io
import os
import random
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ctopen import settings
from ctopen.errors import LimitError, LoadError
from ctopen.load import load
from tests.conftest import ROOT
from tests.fuzz import corpus
from tests.fuzz.run import run_all, write_cases

# name -> None when the file loads, else a piece of its one-line message (a limit names its setting)
EXPECTED = {
    "cell_200k.csv": None,
    "cell_over_limit.csv": "MAX_CELL_CHARS",
    "cell_quoted_huge.csv": None,
    "ragged_large.csv": "has 5 cells where the header has 3",
    "wide_20000.csv": "MAX_COLUMNS",
    "nul.csv": "binary data",
    "lone_cr.csv": None,
    "bom_only.csv": "no data",
    "utf16_odd.csv": "UTF-16",
    "truncated.xls": "not a valid Excel workbook",
    "far_cell.xls": "MAX_SHEET_CELLS",
    "one_sheet_5000_times.xls": "MAX_SHEET_CELLS",
    "zip_version_99.xlsx": "not a valid Excel workbook",
    "zip_method_99.xlsx": "compression method 99",
    "zip_bad_utf8_name.xlsx": "not a valid Excel workbook",
    "dimension_zzzz.xlsx": "MAX_COLUMNS",
    "dimension_declared.xlsx": None,
    "cell_xfd1048576.xlsx": "MAX_SHEET_CELLS",
    "cell_row_overflow.xlsx": "MAX_ROWS",
    "wide_norefs.xlsx": "MAX_COLUMNS",
    "padded_bomb.xlsx": "MAX_ZIP_MEMBER_MB",
    "lying_size.xlsx": "more than its declared size",
    "many_members.xlsx": "MAX_ZIP_MEMBERS",
    "xlsb_inside.xlsx": ".xlsb",
    "moved_sheet.xlsx": "MAX_SHEET_CELLS",
    "billion_laughs.xlsx": "could not be read",
    "deep_995.json": "MAX_JSON_DEPTH",
    "deep_100k.json": "MAX_JSON_DEPTH",
    "deep_150.json": "MAX_JSON_DEPTH",
    "int_5000_digits.json": None,
    "surrogate_value.json": None,
    "surrogate_key.json": None,
    "nan.json": None,
    "huge_float.json": None,
    "list_column.parquet": None,
    "nested.parquet": None,
    "times.parquet": None,
    "decimal_dict.parquet": None,
    "corrupt_pages.parquet": "not a valid Parquet file",
    "rows_6m.parquet": "MAX_ROWS",
    "wide_20000.parquet": "MAX_COLUMNS",
}


@functools.cache
def hostile() -> dict[str, corpus.Case]:
    return {c.name: c for c in corpus.hostile_cases()}


@functools.cache
def seeds() -> dict[str, corpus.Case]:
    return {c.name: c for c in corpus.seed_files()}


def _outcome(name: str):
    case = hostile()[name]
    try:
        return load(case.data, name=case.name)
    except LoadError as exc:
        return exc


def test_every_named_case_has_an_expectation():
    assert set(EXPECTED) == set(hostile())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_hostile_file_loads_or_is_refused_in_one_sentence(name):
    started = time.monotonic()
    result = _outcome(name)
    assert time.monotonic() - started < 30
    expected = EXPECTED[name]
    if expected is None:
        assert not isinstance(result, Exception), f"{name}: {result}"
        assert isinstance(result.df, pd.DataFrame) and result.df.shape[1] >= 1
    else:
        assert isinstance(result, LoadError), f"{name} loaded: {result.df.shape}"
        message = str(result)
        assert expected in message and "\n" not in message and message.endswith((".", ")"))
        if expected.startswith("MAX_"):
            assert isinstance(result, LimitError) and "ctopen/settings.py" in message


def test_what_the_odd_files_load_as():
    assert len(_outcome("cell_200k.csv").df["text"].iloc[0]) == 200_000
    assert len(_outcome("int_5000_digits.json").df["a"].iloc[0]) == 5000
    surrogate = _outcome("surrogate_value.json")
    assert surrogate.df["a"].tolist() == ["x\ufffdy", "ok"]
    assert any("invalid character" in w for w in surrogate.warnings)
    assert list(_outcome("surrogate_key.json").df.columns) == ["\ufffd"]
    assert pd.isna(_outcome("nan.json").df["a"].iloc[0])   # NaN is a missing value
    assert _outcome("list_column.parquet").df["a"].tolist() == ["[1, 2]", "[3]"]
    nested = _outcome("nested.parquet").df
    assert nested["s"].iloc[0] == '{"x": 1, "y": [1, 2]}' and nested["m"].iloc[0] == '[["k", 1]]'
    assert nested["b"].iloc[1] == "ok"
    times = _outcome("times.parquet").df
    assert times["y3000"].tolist() == ["3000-01-01", "9999-12-31"] and times["d"].tolist() == ["9999-12-31", "0001-01-01"]


# --- each limit is a setting, named in its message ---------------------------------------------

def test_cell_length_limit_in_every_reader(monkeypatch):
    monkeypatch.setattr(settings, "MAX_CELL_CHARS", 50)
    for data, name in [(b"a,b\n1," + b"x" * 60 + b"\n", "c.csv"),
                       (b'[{"a": "' + b"y" * 60 + b'"}]', "c.json"),
                       (corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["z" * 60]])), "c.xlsx")]:
        with pytest.raises(LimitError, match="MAX_CELL_CHARS") as info:
            load(data, name=name)
        assert "more than 50 characters" in str(info.value)
    monkeypatch.setattr(settings, "MAX_CELL_CHARS", 1_000_000)
    assert load(b"a,b\n1," + b"x" * 140_000 + b"\n", name="ok.csv").df.shape == (1, 2)


def test_column_limit_in_every_reader(monkeypatch):
    import pyarrow as pa

    monkeypatch.setattr(settings, "MAX_COLUMNS", 5)
    wide = [[f"h{i}" for i in range(6)], [str(i) for i in range(6)]]
    files = [(corpus._csv_text(wide).encode(), "w.csv"),
             (("\n".join(",".join(r) for r in wide * 40_000)).encode(), "w_fast.csv"),
             (corpus.xlsx(corpus.sheet_xml(rows=wide)), "w.xlsx"),
             (b'[{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}]', "w.json"),
             (corpus.parquet_bytes(pa.table({f"c{i}": [i] for i in range(6)})), "w.parquet")]
    for data, name in files:
        with pytest.raises(LimitError, match="MAX_COLUMNS"):
            load(data, name=name)


def test_sheet_cells_limit_before_calamine_reads_the_sheet(monkeypatch):
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 30)
    rows = [[f"c{j}" for j in range(6)]] + [[str(i * j) for j in range(6)] for i in range(6)]   # 7 x 6 = 42 cells
    with pytest.raises(LimitError, match="MAX_SHEET_CELLS"):
        load(corpus.xlsx(corpus.sheet_xml(rows=rows)), name="cells.xlsx")
    with pytest.raises(LimitError, match="MAX_SHEET_CELLS"):   # the same without cell references (exact, slower scan)
        load(corpus.xlsx(corpus.sheet_xml(rows=rows, refs=False)), name="cells.xlsx")
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 42)
    assert load(corpus.xlsx(corpus.sheet_xml(rows=rows)), name="cells.xlsx").df.shape == (6, 6)


def test_only_the_sheet_read_is_measured(monkeypatch):
    """A second sheet past the limits does not block a workbook whose first sheet is fine (calamine reads one)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Data"
    wb["Data"].append(["a", "b"])
    wb["Data"].append([1, 2])
    wb.create_sheet("Far")["XFD100"] = "far"
    buf = io.BytesIO()
    wb.save(buf)
    assert load(buf.getvalue(), name="two.xlsx").df.shape == (1, 2)
    with pytest.raises(LimitError, match="Sheet 'Far'.*MAX_SHEET_CELLS"):
        monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 1_000_000)
        load(buf.getvalue(), name="two.xlsx", sheet="Far")


def test_archive_limits_are_sums_members_and_counts_not_a_ratio(monkeypatch):
    payload = random.Random(3).randbytes(700_000)                      # incompressible: the ratio stays near 1
    data = corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]]), extra={"xl/media/a.bin": payload, "xl/media/b.bin": payload})
    assert load(data, name="pad.xlsx").df.shape == (1, 1)
    monkeypatch.setattr(settings, "MAX_ZIP_TOTAL_MB", 1)
    with pytest.raises(LimitError, match="MAX_ZIP_TOTAL_MB"):
        load(data, name="pad.xlsx")
    monkeypatch.setattr(settings, "MAX_ZIP_TOTAL_MB", 1500)
    monkeypatch.setattr(settings, "MAX_ZIP_MEMBER_MB", 0)
    with pytest.raises(LimitError, match="MAX_ZIP_MEMBER_MB"):
        load(data, name="pad.xlsx")
    monkeypatch.setattr(settings, "MAX_ZIP_MEMBER_MB", 1000)
    monkeypatch.setattr(settings, "MAX_ZIP_MEMBERS", 4)
    with pytest.raises(LimitError, match="MAX_ZIP_MEMBERS"):
        load(data, name="pad.xlsx")


def test_shared_strings_count_is_checked_before_calamine_reserves_it():
    sst = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
           'count="4000000000" uniqueCount="4000000000"><si><t>a</t></si></sst>')
    data = corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]]), extra={"xl/sharedStrings.xml": sst})
    with pytest.raises(LoadError, match="shared strings"):
        load(data, name="sst.xlsx")


def test_shared_strings_are_counted_not_only_declared(monkeypatch):
    sst = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           + "<si><t/></si>" * 50 + "</sst>")
    data = corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]]), extra={"xl/sharedStrings.xml": sst})
    assert load(data, name="sst.xlsx").df.shape == (1, 1)
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 40)
    with pytest.raises(LimitError, match="50 different texts.*MAX_SHEET_CELLS"):
        load(data, name="sst.xlsx")


def test_cells_without_references_are_placed_as_calamine_places_them(monkeypatch):
    rows = [["a", "b", "c"]] + [[str(i), str(i * 2), str(i * 3)] for i in range(50)]
    data = corpus.xlsx(corpus.sheet_xml(rows=rows, refs=False))
    table = load(data, name="norefs.xlsx")
    assert table.df.shape == (50, 3) and table.df["c"].iloc[-1] == "147"
    monkeypatch.setattr(settings, "MAX_COLUMNS", 2)
    with pytest.raises(LimitError, match="column C.*MAX_COLUMNS"):
        load(data, name="norefs.xlsx")


def test_json_depth_and_parquet_size_limits(monkeypatch):
    import pyarrow as pa

    monkeypatch.setattr(settings, "MAX_JSON_DEPTH", 4)
    assert load(b'[{"a": [[1]]}]', name="d.json").df["a"].iloc[0] == "[[1]]"
    with pytest.raises(LimitError, match="MAX_JSON_DEPTH"):
        load(b'[{"a": [[[1]]]}]', name="d.json")
    monkeypatch.setattr(settings, "MAX_PARQUET_MB", 0)
    with pytest.raises(LimitError, match="MAX_PARQUET_MB"):
        load(corpus.parquet_bytes(pa.table({"a": ["x" * 1000] * 1000})), name="p.parquet")


def test_xls_declared_dimensions_and_cells_are_measured(monkeypatch):
    xls = seeds().get("seed.xls")
    if xls is None:
        pytest.skip("xlwt is not installed")
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 100)   # the seed has 26 rows x 8 columns
    with pytest.raises(LimitError, match="MAX_SHEET_CELLS"):
        load(xls.data, name="seed.xls")
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 12_000_000)
    assert load(xls.data, name="seed.xls").df.shape == (25, 8)


def test_xls_sheets_read_again_and_again_are_counted(monkeypatch):
    """calamine reads a sheet once per sheet entry, even when they all point at the same place."""
    data = corpus.biff_workbook(400, [(0, 0, 1.0)], filler=3000)
    if not data:
        pytest.skip("xlwt is not installed")
    monkeypatch.setattr(settings, "MAX_SHEET_CELLS", 1000)   # records read in all: at most 1,001,000
    with pytest.raises(LimitError, match="too many records.*MAX_SHEET_CELLS"):
        load(data, name="again.xls")
    small = corpus.biff_workbook(3, [(0, 0, 1.0), (0, 1, 2.0), (1, 0, 3.0), (1, 1, 4.0)])
    table = load(small, name="small.xls")
    assert table.source.sheets == ["S0", "S1", "S2"] and table.df.shape == (1, 2)


# --- calamine's panics -------------------------------------------------------------------------

def _fake_calamine(monkeypatch, exc: BaseException):
    import python_calamine

    class Fake:
        @classmethod
        def from_filelike(cls, _):
            raise exc
    monkeypatch.setattr(python_calamine, "CalamineWorkbook", Fake)


def test_a_panic_is_a_load_error_and_its_message_is_dropped(capfd):
    with pytest.raises(LoadError, match="not a valid Excel workbook"):
        load(hostile()["truncated.xls"].data, name="truncated.xls")
    out, err = capfd.readouterr()
    assert "panicked" not in err and "stack backtrace" not in err


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_interrupts_and_exits_are_never_swallowed(monkeypatch, exc):
    _fake_calamine(monkeypatch, exc)
    with pytest.raises(type(exc)):
        load(corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]])), name="x.xlsx")


def test_a_panic_is_told_by_its_type(monkeypatch):
    panic = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})
    _fake_calamine(monkeypatch, panic("index out of bounds"))
    with pytest.raises(LoadError, match="not a valid Excel workbook"):
        load(corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]])), name="x.xlsx")
    other = type("PanicException", (BaseException,), {"__module__": "somewhere_else"})
    _fake_calamine(monkeypatch, other("not ours"))
    with pytest.raises(other):
        load(corpus.xlsx(corpus.sheet_xml(rows=[["a"], ["1"]])), name="x.xlsx")


# --- wide files --------------------------------------------------------------------------------
# 10,000 columns x 1 row: the number of passes is tested in tests/test_values_batch.py; the time is measured by
# `python -m benchmarks wide` (speed is measured in benchmarks, not in timed tests).


# --- the command line, under a memory cap and a time limit --------------------------------------

def test_cli_on_every_named_case_and_odd_file_name(tmp_path):
    """`python -m ctopen profile FILE` with RLIMIT_AS = 2 GB and 120 s: exit 0, or exit 2 with one line on stderr
    (no traceback, no Rust panic message, no 'Exception ignored'); stdout is strict UTF-8."""
    cases = [("named", c.name, c.name.encode(), c.data) for c in hostile().values()]
    cases += [("names", repr(name), name, data) for name, data in corpus.odd_names()]
    results = run_all(write_cases(cases, tmp_path), jobs=2, timeout=120, memory_mb=2048, use_subprocess=True, progress=False)
    bad = [f"{r.label}: {r.outcome} (exit {r.rc}): {r.stderr.strip()[-300:]}" for r in results if r.outcome != "clean"]
    assert not bad, "\n".join(bad)
    by_label = {r.label: r for r in results}
    assert by_label["truncated.xls"].rc == 2 and by_label["cell_200k.csv"].rc == 0
    latin1 = next(r for r in results if r.path.endswith(b"caf\xe9.csv"))
    with open(os.path.join(os.path.dirname(latin1.path), b"stdout"), "rb") as f:
        assert b"caf\\udce9.csv" in f.read()


def test_cli_prints_no_exception_ignored_for_a_ragged_large_csv(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(hostile()["ragged_large.csv"].data)
    p = subprocess.run([sys.executable, "-m", "ctopen", "profile", str(path)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Exception ignored" not in p.stderr


# --- fuzz: mutated valid files -----------------------------------------------------------------

FUZZ_SEEDS = ["seed.csv", "seed.tsv", "seed_title.csv", "seed.xlsx", "seed_norefs.xlsx", "seed_openpyxl.xlsx",
              "seed.xls", "seed.json", "seed_wrapped.json", "seed.parquet"]


@st.composite
def mutated_files(draw):
    name = draw(st.sampled_from(FUZZ_SEEDS))
    case = seeds().get(name) or seeds()["seed.csv"]
    data = bytearray(case.data)
    if case.area in ("xlsx", "json", "csv") and draw(st.booleans()):   # structure-aware, driven by a drawn seed
        data = bytearray(corpus.MUTATORS[case.area](bytes(data), random.Random(draw(st.integers(0, 2**32)))))
    edits = draw(st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "replace", "truncate", "repeat"]),
                                    st.floats(0, 1), st.one_of(st.binary(max_size=8), st.sampled_from(corpus.INTERESTING)),
                                    st.integers(1, 64)), max_size=4))
    for op, where, chunk, k in edits:
        i = int(where * len(data))
        if op == "flip" and data:
            data[min(i, len(data) - 1)] ^= 1 << (k % 8)
        elif op == "insert":
            data[i:i] = chunk * k
        elif op == "delete":
            del data[i:i + k]
        elif op == "replace":
            data[i:i + len(chunk)] = chunk
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = bytes(data[i:i + 16]) * k
    return case.name, bytes(data)


@given(mutated_files())
@hsettings(max_examples=200, deadline=None, database=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
def test_fuzz_a_mutated_file_loads_or_is_refused_in_one_sentence(named):
    name, data = named
    try:
        table = load(data, name=name)
    except LoadError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(table.df, pd.DataFrame)
        assert all(isinstance(c, str) for c in table.df.columns)


def test_fuzz_corpus_is_deterministic():
    a = [c.data for c in corpus.mutated(5, 2)]
    b = [c.data for c in corpus.mutated(5, 2)]
    assert a == b and len(a) == 2 * len(corpus.seed_files())
    assert zipfile.is_zipfile(io.BytesIO(seeds()["seed.xlsx"].data))
