"""The review on DuckDB: a file read where it lies (CSV or Parquet, never loaded whole into pandas), its risk
figures, a recipe applied and streamed to CSV or Parquet, and the distinct QI combinations for `recommend`.

Equal to the in-memory path by construction, not by approximation:
- the table is the one `ctopen.load` makes: the header found by the loader's own functions on the first rows
  (title rows skipped), blank cells (empty or only spaces) missing, empty rows, trailing note rows and empty
  unnamed columns dropped, duplicate and blank headers renamed as the loader does;
- every figure comes from the same formulas (ctopen.risk's `_stats`, `_histogram`, the l-diversity sums in the
  same order), fed with counts DuckDB computed;
- every generalize step maps the column's distinct values (with their counts) with ctopen.hierarchies itself
  (`transform.generalize_distinct`), joined back: exact for every hierarchy; suppress, drop, pseudonymize and
  aggregate are the SQL of ctopen.engine.sqlbuild; the release is written by the same CSV writer.

The work happens in a DuckDB database file in a temporary directory (`temp_dir`), under `memory_limit`: DuckDB
spills to that directory what does not fit.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ctopen import recipe as recipes
from ctopen import settings
from ctopen.engine import sqlbuild
from ctopen.engine.sqlbuild import ROW_ORDER, WS_CLASS, col, ident, lit
from ctopen.errors import CtopenError, LoadError, RecipeError

ROW = ROW_ORDER
HEAD_BYTES = 1 << 20
CSV_FORMATS = ("csv", "tsv", "txt")
BATCH_ROWS = 200_000


class EngineError(CtopenError):
    """The DuckDB engine cannot read this file or run this request (the message says what to do)."""


# --- the workspace -----------------------------------------------------------------------------

class Workspace:
    """A DuckDB database in a temporary directory, with the memory limit and spill directory set."""

    def __init__(self, memory_limit: str | None = None, temp_dir: str | None = None, threads: int | None = None):
        import duckdb

        base = temp_dir or os.environ.get(settings.ENGINE_TEMP_DIR_ENV) or None
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="ctopen-duckdb-", dir=base))
        self.con = duckdb.connect(str(self.dir / "work.duckdb"))
        limit = memory_limit or os.environ.get(settings.ENGINE_MEMORY_ENV) or settings.ENGINE_MEMORY_LIMIT
        try:
            self.con.execute(f"SET memory_limit = '{_size_text(limit)}'")
            self.con.execute(f"SET temp_directory = '{_quote_path(self.dir / 'spill')}'")
            self.con.execute("SET preserve_insertion_order = true")
            if threads:
                self.con.execute(f"SET threads = {int(threads)}")
        except Exception as exc:   # duckdb.Error: an unusable setting
            self.close()
            raise EngineError(f"The DuckDB engine's settings were refused ({_first_line(exc)}).") from None
        self.memory_limit = limit
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    def sql(self, query, params=None):
        text = query if isinstance(query, str) else sqlbuild.render(query, "duckdb", pretty=False)
        try:
            return self.con.execute(text, params or {})
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryException":
                raise EngineError(f"DuckDB ran out of its memory limit ({self.memory_limit}): raise "
                                  f"--memory-limit, or give --temp-dir a disk with more free space.") from None
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _size_text(limit) -> str:
    text = str(limit).strip().upper().replace(" ", "")
    import re
    if not re.fullmatch(r"\d+(\.\d+)?(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?", text):
        raise EngineError(f"The memory limit {limit!r} is not a size such as 2GB or 512MB.")
    return text if not text[-1].isdigit() else text + "B"


def _quote_path(p) -> str:
    return str(p).replace("'", "''")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


# --- reading a file as ctopen.load reads it -------------------------------------------------------

@dataclass
class Source:
    """A file read into the workspace: table `name` with ROW (the record's order in the file) and `columns`."""
    path: Path
    format: str
    name: str
    columns: list[str]
    rows: int
    info: object = None                 # ctopen.load.SourceInfo (encoding, delimiter, header row, skipped)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _blank(e) -> sqlbuild.exp.Expression:
    """A cell the loader reads as missing: none, empty, or only spaces (pyarrow's utf8_is_space = str.isspace)."""
    from sqlglot import exp
    return exp.or_(exp.Is(this=e.copy(), expression=exp.Null()),
                   sqlbuild.full_match(e.copy(), f"{WS_CLASS}*", "duckdb"))


def open_source(ws: Workspace, path, progress=None) -> Source:
    """The file as ctopen.load would give it, as a DuckDB table. CSV (UTF-8) and Parquet; anything else is refused
    with a sentence saying to use the pandas engine."""
    from ctopen.load import SourceInfo, _format_of

    start = time.perf_counter()
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise LoadError(f"The file {path} could not be read ({exc.strerror or exc}).") from None
    fmt = _format_of(path.name, head)
    info = SourceInfo(file=path.name, format=fmt, size_bytes=size)
    if fmt in CSV_FORMATS:
        raw, header, body_start = _read_csv(ws, path, head, size, info)
    elif fmt == "parquet":
        raw, header, body_start = _read_parquet(ws, path, info)
    else:
        raise EngineError(f"The DuckDB engine reads CSV and Parquet files; '{path.name}' is {fmt.upper()}: use "
                          "--engine pandas (or save it as CSV).")
    if progress:
        progress("read", None)
    src = _finish(ws, raw, header, body_start, info)
    src.path, src.format, src.seconds = path, fmt, time.perf_counter() - start
    return src


def _read_csv(ws: Workspace, path: Path, head: bytes, size: int, info):
    from ctopen.load import HEADER_SCAN_ROWS, _csv_rows, _decode, _find_header, _sniff_delimiter

    if size > len(head):            # a cut multi-byte character at the end of the head is not a decoding error
        for cut in range(4):
            try:
                (head[:len(head) - cut] if cut else head).decode("utf-8")
                head = head[:len(head) - cut] if cut else head
                break
            except UnicodeDecodeError:
                continue
    text = _decode(head, info)
    if info.encoding not in ("utf-8", "utf-8-sig"):
        raise EngineError(f"'{path.name}' is {info.encoding} text; the DuckDB engine reads UTF-8 only: save it as UTF-8 "
                          "CSV, or use --engine pandas.")
    info.delimiter = _sniff_delimiter(text[:65536], info.format)
    head_rows = _csv_rows(text[:200_000], info, limit_rows=HEADER_SCAN_ROWS)
    header_idx = _find_header(head_rows, info)
    width = max((len(r) for r in head_rows[header_idx:]), default=1)
    if width > settings.MAX_COLUMNS:
        from ctopen.load import _columns_limit_error
        raise _columns_limit_error(info, width)
    header = list(head_rows[header_idx]) if header_idx < len(head_rows) else []
    header += [""] * (width - len(header))
    names = [f"c{j}" for j in range(width)]
    raw = ws.name("raw")
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    delim = info.delimiter.replace("'", "''")
    try:
        ws.sql(f"CREATE TABLE {raw} AS SELECT row_number() OVER () AS {ROW}, * FROM read_csv('{_quote_path(path)}', "
               f"delim = '{delim}', quote = '\"', escape = '\"', header = false, skip = {header_idx}, "
               f"columns = {columns}, auto_detect = false, null_padding = false, encoding = 'utf-8', "
               f"max_line_size = {4 * settings.MAX_CELL_CHARS + 1024}, strict_mode = true)")
    except Exception as exc:
        raise EngineError(f"DuckDB could not read '{path.name}' as the loader does ({_first_line(exc)}); use "
                          "--engine pandas for this file.") from None
    return raw, header, 2          # row 1 is the header row


def _read_parquet(ws: Workspace, path: Path, info):
    try:
        schema = ws.sql(f"DESCRIBE SELECT * FROM read_parquet('{_quote_path(path)}')").fetchall()
    except Exception as exc:
        raise LoadError(f"The file is not a valid Parquet file: {_first_line(exc)}") from None
    if len(schema) > settings.MAX_COLUMNS:
        from ctopen.load import _columns_limit_error
        raise _columns_limit_error(info, len(schema))
    items = []
    for j, (name, kind, *_rest) in enumerate(schema):
        c = col(name)
        kind = str(kind).upper()
        if kind in ("VARCHAR",) or kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                            "USMALLINT", "UINTEGER", "UBIGINT"):
            e = sqlbuild.exp.Cast(this=c, to=sqlbuild.exp.DataType.build("VARCHAR"))
        elif kind == "BOOLEAN":
            e = sqlbuild.case([(c, lit("TRUE")), (sqlbuild.exp.Not(this=c.copy()), lit("FALSE"))])
        else:
            raise EngineError(f"The Parquet column {name!r} is {kind}; the DuckDB engine reads text, whole-number and "
                              "true/false columns as the loader shows them, not this type: use --engine pandas, or "
                              "store the column as text.")
        items.append(f"{sqlbuild.render(e, 'duckdb', False)} AS c{j}")
    raw = ws.name("raw")
    ws.sql(f"CREATE TABLE {raw} AS SELECT row_number() OVER () AS {ROW}, {', '.join(items) or '1 AS c_none'} "
           f"FROM read_parquet('{_quote_path(path)}')")
    info.header_row = 1
    return raw, [str(s[0]) for s in schema], 1


def _finish(ws: Workspace, raw: str, header: list[str], body_start: int, info) -> Source:
    """ctopen.load._finish in SQL: the cell limit, blanks, trailing notes, empty rows and columns, unique headers."""
    from ctopen.load import _cell_limit_error, _col_letter, _note_like, _unique_headers
    from ctopen.values import is_blank

    n_cols = len(header)
    cs = [f"c{j}" for j in range(n_cols)]
    blank = {c: sqlbuild.render(_blank(col(c)), "duckdb", False) for c in cs}
    filled = " + ".join(f"(CASE WHEN {blank[c]} THEN 0 ELSE 1 END)" for c in cs) or "0"
    body = ws.name("body")
    ws.sql(f"CREATE TABLE {body} AS SELECT {ROW} - {body_start - 1} AS {ROW}, {', '.join(cs) + ',' if cs else ''} "
           f"{filled} AS __filled FROM {raw} WHERE {ROW} >= {body_start}")
    ws.sql(f"DROP TABLE {raw}")
    longest = ", ".join(f"max(length({c}))" for c in cs) or "NULL"
    stats = ws.sql(f"SELECT count(*), max({ROW}) FILTER (WHERE __filled > 0), {longest} FROM {body}").fetchone()
    n, last = int(stats[0]), int(stats[1] or 0)
    lengths = [int(x or 0) for x in stats[2:2 + n_cols]]
    if lengths and max(lengths) > settings.MAX_CELL_CHARS:
        j = int(np.argmax(lengths))
        row = ws.sql(f"SELECT min({ROW}) FROM {body} WHERE length(c{j}) > {settings.MAX_CELL_CHARS}").fetchone()[0]
        raise _cell_limit_error(info, f"column {_col_letter(j)}, row {int(row) + (info.header_row or 1)}")
    first_data_row = (info.header_row or 1) + 1
    notes_end = last                                   # rows 1..notes_end may be data
    if n_cols >= 3 and last:
        typical = ws.sql(f"SELECT quantile_cont(__filled, 0.5) FROM {body} WHERE {ROW} <= {last}").fetchone()[0]
        typical = float(typical)
        if typical >= 3:
            tail = ws.sql(f"SELECT {ROW}, __filled, {', '.join(cs)} FROM {body} WHERE {ROW} > {max(0, last - 25)} "
                          f"AND {ROW} <= {last} ORDER BY {ROW}").fetchall()
            by_row = {int(r[0]): r for r in tail}
            start = last

            def cells(i: int) -> list[str]:
                r = by_row[i]
                return [str(v) for v in r[2:] if not is_blank(v)]
            while start > 0 and last - start < 20 and start in by_row:
                filled_i = int(by_row[start][1])
                if filled_i <= 1 or (filled_i < typical and _note_like(cells(start))):
                    start -= 1
                else:
                    break
            if 0 < start < last:
                texts = [", ".join(cells(i)) for i in range(start + 1, last + 1) if by_row[i][1]]
                info.skipped.append({"what": f"{len(texts)} note or footnote row(s) below the data",
                                     "where": f"row(s) {first_data_row + start}-{first_data_row + last - 1}",
                                     "why": "text after the table, not a record: " + "; ".join(repr(t[:60]) for t in texts[:3])})
                notes_end = start
    kept_where = f"{ROW} <= {notes_end} AND __filled > 0"
    counts = ws.sql(f"SELECT count(*) FILTER (WHERE __filled = 0 AND {ROW} <= {notes_end}), "
                    + (", ".join(f"count(*) FILTER (WHERE {kept_where} AND NOT ({blank[c]}))" for c in cs) or "0")
                    + f" FROM {body}").fetchone()
    empty_rows = int(counts[0])
    if empty_rows:
        info.skipped.append({"what": f"{empty_rows} empty row(s)", "where": "within the data", "why": "every cell is empty"})
    has_data = [int(x) > 0 for x in counts[1:1 + n_cols]]
    keep_cols = [j for j in range(n_cols) if has_data[j] or not is_blank(header[j])]
    if len(keep_cols) < n_cols:
        kept = set(keep_cols)
        dropped = [j for j in range(n_cols) if j not in kept]
        info.skipped.append({"what": f"{len(dropped)} empty column(s)",
                             "where": "column(s) " + ", ".join(_col_letter(j) for j in dropped),
                             "why": "no header and no values"})
    names = _unique_headers([header[j] for j in keep_cols], keep_cols, info)
    items = [f"CASE WHEN {blank[f'c{j}']} THEN NULL ELSE c{j} END AS {sqlbuild.render(ident(nm), 'duckdb')}"
             for j, nm in zip(keep_cols, names)]
    table = ws.name("src")
    ws.sql(f"CREATE TABLE {table} AS SELECT row_number() OVER (ORDER BY {ROW}) AS {ROW}"
           f"{', ' + ', '.join(items) if items else ''} FROM {body} WHERE {kept_where} ORDER BY {ROW}")
    ws.sql(f"DROP TABLE {body}")
    rows = int(ws.sql(f"SELECT count(*) FROM {table}").fetchone()[0])
    return Source(path=Path(), format="", name=table, columns=names, rows=rows, info=info)


# --- risk ----------------------------------------------------------------------------------------

def risk_report(path_or_source, quasi, sensitive=(), k: int = settings.DEFAULT_K, combinations: bool = True, *,
                population: int | None = None, ws: Workspace | None = None, memory_limit=None, temp_dir=None,
                progress=None, suppressed: int = 0):
    """ctopen.risk.assess over a file (or a Source in `ws`), computed by DuckDB: the same RiskReport, except
    `record_class_size` (one entry per record) which is not kept."""
    own = ws is None
    ws = ws or Workspace(memory_limit, temp_dir)
    try:
        src = path_or_source if isinstance(path_or_source, Source) else open_source(ws, path_or_source, progress)
        return _risk(ws, src.name, src.columns, src.rows, quasi, sensitive, k, combinations, population, progress,
                     suppressed)
    finally:
        if own:
            ws.close()


def _risk(ws: Workspace, table: str, columns: list[str], n: int, quasi, sensitive, k, combinations, population,
          progress=None, suppressed: int = 0):
    from ctopen import risk as R

    frame = pd.DataFrame(columns=columns)
    quasi = R._columns(frame, quasi, "quasi-identifier")
    sensitive = R._columns(frame, sensitive, "sensitive attribute")
    both = [c for c in sensitive if c in quasi]
    if both:
        raise R.RiskError(f"Column {both[0]!r} is chosen both as a quasi-identifier and as a sensitive attribute; "
                          "choose one role for it.")
    k = R._threshold(k)
    qi = ", ".join(sqlbuild.render(ident(q), "duckdb") for q in quasi)
    classes = ws.name("classes")
    if progress:
        progress("classes", None)
    if quasi:
        ws.sql(f"CREATE TEMP TABLE {classes} AS SELECT {qi}, count(*) AS __size, min({ROW}) AS __first "
               f"FROM {table} GROUP BY ALL")
    else:
        ws.sql(f"CREATE TEMP TABLE {classes} AS SELECT count(*) AS __size, min({ROW}) AS __first FROM {table} "
               f"HAVING count(*) > 0")
    sizes = ws.sql(f"SELECT __size FROM {classes} ORDER BY __first").fetchnumpy()["__size"]
    sizes = np.asarray(sizes, dtype=np.int64)
    n_classes = len(sizes)
    k_min, at_risk, uniques = R._stats(sizes, k)
    report = R.RiskReport(
        rows=n + suppressed, suppressed=suppressed, classes=n_classes, k_min=k_min, k_threshold=k,
        records_at_risk=at_risk, records_at_risk_share=(at_risk / n if n else 0.0), uniques=uniques,
        highest_risk=(1.0 / k_min if k_min else 0.0), average_risk=(n_classes / n if n else 0.0),
        histogram=R._histogram(sizes), quasi=list(quasi), sensitive=list(sensitive), record_class_size=None)
    for s in sensitive:
        if progress:
            progress(f"l-diversity {s}", None)
        report.l_diversity[s] = _diversity(ws, table, classes, quasi, s, sizes, n, k)
    if combinations and quasi:
        if progress:
            progress("combinations", None)
        report.qi_combinations, report.combinations_note = _combinations(ws, classes, list(quasi), sizes, k)
    if population is not None:
        from ctopen.population import estimate
        report.population = estimate(sizes, population, k=k)
    ws.sql(f"DROP TABLE {classes}")
    return report


def _diversity(ws: Workspace, table: str, classes: str, quasi, s: str, sizes: np.ndarray, n: int, k: int):
    """ctopen.risk._diversity with DuckDB's counts, summed in the same order (the float result is the same)."""
    import math

    from ctopen.risk import Diversity, _dense_cap
    if not len(sizes):
        return Diversity(0, 0.0)
    sv = sqlbuild.render(ident(s), "duckdb")
    on = " AND ".join(f"p.{q} IS NOT DISTINCT FROM c.{q}" for q in
                      (sqlbuild.render(ident(x), "duckdb") for x in quasi)) or "true"
    qi = ", ".join(f"{sqlbuild.render(ident(q), 'duckdb')}" for q in quasi)
    s_card = int(ws.sql(f"SELECT count(DISTINCT {sv}) + max(CASE WHEN {sv} IS NULL THEN 1 ELSE 0 END) "
                        f"FROM {table}").fetchone()[0] or 0)
    dense = len(sizes) * s_card <= _dense_cap(n)
    # the order pandas sums in: by class, then by the value's code (first appearance in the file, missing last),
    # or, on the hashed path, by the pair's first appearance
    got = ws.sql(
        f"WITH sfirst AS (SELECT {sv} AS __v, min({ROW}) AS __sf FROM {table} GROUP BY ALL), "
        f"pairs AS (SELECT {qi + ', ' if qi else ''}{sv} AS __v, count(*) AS __n, min({ROW}) AS __pf FROM {table} GROUP BY ALL) "
        f"SELECT c.__first AS cls, p.__n AS cnt, coalesce(f.__sf, 9223372036854775807) AS sf, p.__pf AS pf "
        f"FROM pairs p JOIN {classes} c ON {on} JOIN sfirst f ON p.__v IS NOT DISTINCT FROM f.__v "
        + ("ORDER BY cls, sf" if dense else "ORDER BY pf")).fetchnumpy()
    cls_first = np.asarray(got["cls"], dtype=np.int64)
    pair_count = np.asarray(got["cnt"], dtype=np.int64)
    order = np.unique(cls_first)                       # classes in first-appearance order (= sizes' order)
    pair_class = np.searchsorted(order, cls_first)
    n_classes = len(order)
    distinct = np.bincount(pair_class, minlength=n_classes)
    disclosing = (distinct == 1) & (sizes >= max(int(k), 2))
    n_groups, n_records = int(np.count_nonzero(disclosing)), int(sizes[disclosing].sum())
    if sizes.min() == 1:
        return Diversity(1, 1.0, n_groups, n_records)
    p = pair_count / sizes[pair_class]
    entropy = -np.bincount(pair_class, weights=p * np.log(p), minlength=n_classes)
    return Diversity(int(distinct.min()), float(math.exp(max(float(entropy.min()), 0.0))), n_groups, n_records)


def _combinations(ws: Workspace, classes: str, quasi: list[str], sizes: np.ndarray, k: int):
    """ctopen.risk's QI combinations from GROUPING SETS over the class table (integers: exact)."""
    from ctopen.risk import MAX_ALL_COMBINATIONS, MAX_SUBSET_SIZE_BEYOND, Combination
    m = len(quasi)
    if m > 62:
        raise EngineError("The DuckDB engine assesses combinations of at most 62 quasi-identifiers.")
    wanted = sqlbuild.subsets(m)
    q = sqlbuild.combinations_query(sqlbuild.exp.Table(this=ident(classes)), quasi, k, size="__size")
    sql = sqlbuild.render(q, "duckdb", False)
    found = {}
    got = {int(r[0]): r[1:] for r in ws.sql(sql).fetchall()}
    for subset in wanted:
        gid = sum(1 << (m - 1 - i) for i in range(m) if i not in subset)
        if gid in got:
            uniques, k_min, at_risk = (int(x) for x in got[gid])
        else:                       # no records: every figure is 0
            uniques, k_min, at_risk = 0, 0, 0
        found[subset] = Combination([quasi[i] for i in subset], uniques, k_min, at_risk)
    note = None
    if m > MAX_ALL_COMBINATIONS:
        note = (f"With {m} quasi-identifiers only the combinations of up to {MAX_SUBSET_SIZE_BEYOND} columns "
                f"and all {m} together are assessed (every subset is assessed up to {MAX_ALL_COMBINATIONS}).")
    ordered = sorted(found.items(), key=lambda kv: (len(kv[0]), -kv[1].uniques, kv[0]))
    return [c for _, c in ordered], note
