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

from ctopen import progress as terminal
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
        limit = memory_limit or os.environ.get(settings.ENGINE_MEMORY_ENV) or settings.ENGINE_MEMORY_LIMIT
        limit_text = _size_text(limit)         # a bad size is refused before anything is made
        self.dir = None
        try:
            if base:
                Path(base).mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix="ctopen-duckdb-", dir=base))
            self.con = duckdb.connect(str(self.dir / "work.duckdb"))
        except Exception as exc:   # OSError, duckdb.IOException: a folder that cannot be made or written
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
            raise EngineError(f"The DuckDB engine cannot work in {base or tempfile.gettempdir()} ({reason}): give "
                              f"--temp-dir (or ${settings.ENGINE_TEMP_DIR_ENV}) a folder it can write to.") from None
        try:
            self.con.execute(f"SET memory_limit = '{limit_text}'")
            self.con.execute(f"SET temp_directory = '{_quote_path(self.dir / 'spill')}'")
            self.con.execute("SET preserve_insertion_order = true")
            self.con.execute("SET autoinstall_known_extensions = false")   # never a download from the network
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
            cur = self.con.cursor()         # one cursor per query: DuckDB refuses new work while a result is unread
            with terminal.watching(cur):    # the query's own progress on a terminal (ctopen.progress)
                return cur.execute(text, params or {})
        except Exception as exc:
            self._explain(exc)
            raise

    def _explain(self, exc: BaseException) -> None:
        """A DuckDB failure a user can act on (memory, disk) as one sentence; anything else is a bug and goes on."""
        kind = type(exc).__name__
        if kind == "OutOfMemoryException":
            raise EngineError(f"DuckDB ran out of its memory limit ({self.memory_limit}): raise --memory-limit, or give "
                              "--temp-dir a disk with more free space.") from None
        if kind == "IOException":
            raise EngineError(f"DuckDB could not read or write its work files in {self.dir.parent} "
                              f"({_first_line(exc)}): give --temp-dir a folder on a disk with free space.") from None
        if kind == "InterruptException":
            raise KeyboardInterrupt from None

    def arrow(self, query: str):
        """A query's result as an Arrow table (DuckDB's relation API: no extra copy)."""
        try:
            return self.con.cursor().sql(query).to_arrow_table()
        except Exception as exc:
            self._explain(exc)
            raise

    def table_from(self, df: pd.DataFrame, prefix: str) -> str:
        """A pandas frame stored as a table of the workspace; returns its name."""
        name = self.name(prefix)
        cur = self.con.cursor()
        cur.register("__ctopen_frame", df)
        try:
            cur.execute(f"CREATE TABLE {name} AS SELECT * FROM __ctopen_frame")
        finally:
            cur.unregister("__ctopen_frame")
        return name

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
    if not re.fullmatch(r"\d+(\.\d+)?(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?", text) or not float(re.match(r"[\d.]+", text)[0]):
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
    if any(c in str(path) for c in "*?[]{}"):
        # DuckDB reads such a path as a pattern: "a*.csv" would also read ab.csv beside it (other records counted)
        raise EngineError(f"DuckDB reads a path with * ? [ ] {{ }} as a pattern that can match other files: rename "
                          f"'{path}' without them, or use --engine pandas.")
    # DuckDB reads "~/x.csv" in the home folder and "s3://..." over the network: it is given the absolute path of
    # the file the loader would read
    path = Path(os.path.abspath(path))
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise LoadError(f"The file {path} could not be read ({exc.strerror or exc}).") from None
    if size <= len(head) and not head.strip():
        raise LoadError(f"The file '{path.name}' is empty.")
    fmt = _format_of(path.name, head)
    info = SourceInfo(file=path.name, format=fmt, size_bytes=size)
    if fmt in CSV_FORMATS:
        raw, header, body_start, blank_lines = _read_csv(ws, path, head, size, info)
    elif fmt == "parquet":
        raw, header, body_start = _read_parquet(ws, path, info)
        blank_lines = False
    else:
        raise EngineError(f"The DuckDB engine reads CSV and Parquet files; '{path.name}' is {fmt.upper()}: use "
                          "--engine pandas (or save it as CSV).")
    if progress:
        progress("read", None)
    src = _finish(ws, raw, header, body_start, info, blank_lines)
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
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    delim = info.delimiter.replace("'", "''")
    query = (f"SELECT * FROM read_csv('{_quote_path(path)}', "
             f"delim = '{delim}', quote = '\"', escape = '\"', header = false, skip = {header_idx}, "
             f"columns = {columns}, auto_detect = false, null_padding = false, encoding = 'utf-8', "
             f"max_line_size = {4 * settings.MAX_CELL_CHARS + 1024}, strict_mode = true)")
    _same_head(ws, query, text, size > len(head), info, header_idx, path)
    blank_lines = _spaced_quotes(path, info.delimiter)
    return query, header, 2, blank_lines          # row 1 is the header row


SCAN_BYTES = 16 << 20


def _spaced_quotes(path: Path, delimiter: str) -> bool:
    """DuckDB's CSV reader drops spaces between a delimiter (or a line's start) and an opening quote, and between a
    closing quote and the next delimiter (or the line's end): ` "x"` and `"x" ` are x to it, but ` "x"` and `x `
    to the loader (Python's csv), so records could be counted in other groups than the loader's. The whole file is
    scanned (a quick byte search; the pattern only where a space touches a quote) and such a file is refused. Inside
    a quoted text, `"" ,` looks the same and is refused too (fail closed); `, ""a` is not (DuckDB refuses it
    outside a quoted text, so it cannot be read otherwise unnoticed).

    Returns whether the file has an empty line before its last line (in the same pass: see _finish's notes)."""
    import re
    d = re.escape(delimiter.encode("utf-8"))
    # ` ""a` (a doubled quote inside a quoted text after ", ") is an error to DuckDB outside a quoted text: not a match.
    # Two patterns, each beginning with a byte class (Python's re scans for it quickly), each run only where its
    # pair of bytes occurs (465 MB: 2.4 s without quotes, 474 MB of quoted text everywhere: 4.3 s, on a loaded machine).
    opening = re.compile(rb'[\r\n' + d + rb'] +"(?!"[^"\r\n' + d + rb'])')
    closing = re.compile(rb'" +[\r\n' + d + rb']')
    carry, offset, blank = b"\n", -1, False  # the file's start is a line's start (a virtual line end before it)
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(SCAN_BYTES)
                last = not chunk
                buf = carry + chunk + (b"\n" if last else b"")    # the file's end is a line's end
                # a match lies within one line and its line ends: search up to the last line end, keep the rest
                cut = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
                if cut <= 0 and not last:
                    # no line end yet: the line is kept whole up to DuckDB's max_line_size (a longer one is refused by
                    # DuckDB itself)
                    longest = 4 * settings.MAX_CELL_CHARS + 1024
                    keep_from = 0 if len(buf) <= longest + 8 else len(buf) - 8
                    offset += keep_from
                    carry = (b"" if keep_from == 0 else b"\n") + buf[keep_from:]
                    offset -= 0 if keep_from == 0 else 1
                    continue
                end = len(buf) if last else cut + 1
                hits = [m for m in ((opening.search(buf, 0, end) if buf.find(b' "', 0, end) != -1 else None),
                                    (closing.search(buf, 0, end) if buf.find(b'" ', 0, end) != -1 else None)) if m]
                if hits:
                    at = _line_of(path, offset + min(m.start() for m in hits) + 1)
                    raise EngineError(
                        f"Line {at:,} of '{path.name}' has a space beside a quote (` \"` or `\" ` around a "
                        "value), which DuckDB reads otherwise than the loader (it drops those spaces); remove the "
                        "spaces in the file, or use --engine pandas.")
                run = len(buf.rstrip(b"\r\n"))       # where the line ends at the end of buf begin
                if not blank:
                    # two line ends in a row before that run ("\n\r" is followed there by a line end or text: both
                    # are an empty line); empty lines at the end of buf (of the file) are counted once text follows
                    blank = (buf.find(b"\n\n", 0, run) != -1 or buf.find(b"\r\r", 0, run) != -1
                             or buf.find(b"\n\r", 0, run) != -1)
                if last:
                    return blank
                # the next round starts at the last line end; when buf ends with line ends, at their run (its last 4
                # bytes: they hold two line ends, an empty line, whenever the run is longer)
                keep_from = max(run, len(buf) - 4) if run < len(buf) else cut
                offset += keep_from
                carry = buf[keep_from:]
    except OSError as exc:
        raise LoadError(f"The file {path} could not be read ({exc.strerror or exc}).") from None


def _line_of(path: Path, at: int) -> int:
    """The line number of the byte at offset `at` of the file (for a message: read again, line ends counted)."""
    n, done = 1, 0
    with path.open("rb") as f:
        while done < at:
            block = f.read(min(SCAN_BYTES, at - done))
            if not block:
                break
            n += block.count(b"\n")
            done += len(block)
    return n


HEAD_CHECK_ROWS = 200


def _same_head(ws: Workspace, query: str, text: str, cut: bool, info, header_idx: int, path: Path) -> None:
    """DuckDB's CSV reader and Python's (the loader's) must read the same cells: the header row and the first
    HEAD_CHECK_ROWS rows are compared, and a difference (a quote or line break read another way, title rows
    skipped elsewhere) refuses the file rather than review other records than the loader would."""
    from ctopen.load import _csv_rows
    sample = text[:200_000]
    rows = _csv_rows(sample, info, limit_rows=header_idx + 1 + HEAD_CHECK_ROWS)[header_idx:]
    if (cut or len(text) > len(sample)) and rows:
        rows = rows[:-1]                  # the last row read from a cut text may be cut itself
    # an empty line is a row of no cells to Python's reader and, in a file of several columns, no row to DuckDB's
    # (anywhere in the file; in a file of one column, a row with a missing value): neither makes a record (the
    # loader drops empty rows), so a file ending with a blank line is not refused for it
    if max((len(r) for r in rows), default=0) > 1:
        rows = [r for r in rows if r]
    try:
        got = ws.sql(f"SELECT * FROM ({query}) LIMIT {len(rows)}").fetchall() if rows else []
    except Exception as exc:
        if isinstance(exc, CtopenError):
            raise
        raise EngineError(f"DuckDB could not read '{path.name}' as the loader does ({_first_line(exc)}); use "
                          "--engine pandas for this file.") from None
    theirs = [["" if v is None else v for v in r] for r in got]
    ours = [list(r) + [""] * (len(theirs[0]) - len(r)) if theirs else list(r) for r in rows]
    if theirs != ours:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        raise EngineError(f"DuckDB reads row {header_idx + at + 1} of '{path.name}' otherwise than the loader (quotes or "
                          "line breaks in a cell, or rows of another length); use --engine pandas for this file.")


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
            e = sqlbuild.case([(c, lit("TRUE")), (sqlbuild.exp.not_(c.copy()), lit("FALSE"))])
        else:
            raise EngineError(f"The Parquet column {name!r} is {kind}; the DuckDB engine reads text, whole-number and "
                              "true/false columns as the loader shows them, not this type: use --engine pandas, or "
                              "store the column as text.")
        items.append(f"{sqlbuild.render(e, 'duckdb', False)} AS c{j}")
    query = f"SELECT {', '.join(items) or '1 AS c_none'} FROM read_parquet('{_quote_path(path)}')"
    info.header_row = 1
    # the names as the file writes them (DuckDB renames a repeated or blank name; the loader's rule does that here)
    try:
        import pyarrow.parquet as pq
        names = [str(n) for n in pq.read_schema(path).names]
    except Exception as exc:   # pyarrow's errors: a file DuckDB read but pyarrow cannot describe
        raise LoadError(f"The file is not a valid Parquet file: {_first_line(exc)}") from None
    if len(names) != len(schema):
        raise EngineError(f"'{path.name}' has nested columns the DuckDB engine does not read as the loader does; use "
                          "--engine pandas.")
    return query, names, 1


def _finish(ws: Workspace, query: str, header: list[str], body_start: int, info, blank_lines: bool = False) -> Source:
    """ctopen.load._finish in SQL: the cell limit, blanks, trailing notes, empty rows and columns, unique headers.

    One pass over the file writes the body: each record's row number, its cells with blanks as missing, how many
    cells are filled and its longest cell; the table the review reads is a view on it (kept rows, kept columns)."""
    from ctopen.load import _cell_limit_error, _col_letter, _note_like, _unique_headers
    from ctopen.values import is_blank

    n_cols = len(header)
    cs = [f"c{j}" for j in range(n_cols)]
    blank = {c: sqlbuild.render(_blank(col(c)), "duckdb", False) for c in cs}
    cleaned = ", ".join(f"CASE WHEN {blank[c]} THEN NULL ELSE {c} END AS {c}" for c in cs)
    filled = " + ".join(f"(CASE WHEN {c} IS NULL THEN 0 ELSE 1 END)" for c in cs) or "0"
    longest = "greatest(" + ", ".join(f"coalesce(length({c}), 0)" for c in cs) + ", 0)" if cs else "0"
    body = ws.name("body")
    try:
        ws.sql(f"CREATE TABLE {body} AS SELECT *, {filled} AS __ctopen_filled FROM ("
               f"SELECT __ctopen_r - {body_start - 1} AS {ROW}, {cleaned + ',' if cs else ''} {longest} AS __ctopen_long "
               f"FROM (SELECT row_number() OVER () AS __ctopen_r, * FROM ({query})) WHERE __ctopen_r >= {body_start})")
    except Exception as exc:
        if isinstance(exc, CtopenError):
            raise
        raise EngineError(f"DuckDB could not read '{info.file}' as the loader does ({_first_line(exc)}); use "
                          "--engine pandas for this file.") from None
    stats = ws.sql(f"SELECT count(*), max({ROW}) FILTER (WHERE __ctopen_filled > 0), max(__ctopen_long) "
                   f"FROM {body}").fetchall()[0]
    n, last = int(stats[0]), int(stats[1] or 0)
    if int(stats[2] or 0) > settings.MAX_CELL_CHARS:
        # where, as the loader says it: the longest cell, the first such in column order (a second read, rare)
        top = int(stats[2])
        lengths = ", ".join(f"min(__ctopen_r) FILTER (WHERE length({c}) = {top})" for c in cs)
        found = ws.sql(f"SELECT {lengths} FROM (SELECT row_number() OVER () AS __ctopen_r, * FROM ({query})) "
                       f"WHERE __ctopen_r >= {body_start}").fetchall()[0]
        j = next(i for i, r in enumerate(found) if r is not None)
        raise _cell_limit_error(info, f"column {_col_letter(j)}, row {int(found[j]) - body_start + 1 + (info.header_row or 1)}")
    first_data_row = (info.header_row or 1) + 1
    notes_end = last                                   # rows 1..notes_end may be data
    if n_cols >= 3 and last:
        typical = ws.sql(f"SELECT quantile_cont(__ctopen_filled, 0.5) FROM {body} WHERE {ROW} <= {last}").fetchone()[0]
        typical = float(typical)
        if typical >= 3:
            tail = ws.sql(f"SELECT {ROW}, __ctopen_filled, {', '.join(cs)} FROM {body} WHERE {ROW} > {max(0, last - 25)} "
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
            if 0 < start < last and blank_lines:
                # the loader's walk over the notes (at most 20 rows) and its typical row count both count empty
                # lines, which DuckDB's reader skips: with notes found, they could take other rows for notes
                raise EngineError(f"'{info.file}' has note rows below the table and empty lines, which the loader "
                                  "counts as rows and DuckDB's reader skips, so the two could take other rows for "
                                  "notes: delete the empty lines (or the notes), or use --engine pandas.")
            if 0 < start < last:
                texts = [", ".join(cells(i)) for i in range(start + 1, last + 1) if by_row[i][1]]
                info.skipped.append({"what": f"{len(texts)} note or footnote row(s) below the data",
                                     "where": f"row(s) {first_data_row + start}-{first_data_row + last - 1}",
                                     "why": "text after the table, not a record: " + "; ".join(repr(t[:60]) for t in texts[:3])})
                notes_end = start
    kept_where = f"{ROW} <= {notes_end} AND __ctopen_filled > 0"
    counts = ws.sql(f"SELECT count(*) FILTER (WHERE __ctopen_filled = 0 AND {ROW} <= {notes_end}), "
                    + (", ".join(f"count(*) FILTER (WHERE {kept_where} AND {c} IS NOT NULL)" for c in cs) or "0")
                    + f" FROM {body}").fetchone()
    if not any(int(x) for x in counts[1:1 + n_cols]) and all(is_blank(h) for h in header):
        raise LoadError(f"The file '{info.file}' has no data (no rows with values).")
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
    own = [n for n in names if sqlbuild.is_internal(n)]
    if own:
        raise EngineError(f"The column {own[0]!r} has a name the DuckDB engine keeps for its own work (beginning "
                          f"{sqlbuild.INTERNAL!r}): rename it, or use --engine pandas.")
    twins = sqlbuild.case_clash(names)
    if twins:
        # DuckDB matches names without regard to case, even quoted: "A" would read the column a
        raise EngineError(f"The columns {twins[0]!r} and {twins[1]!r} of '{info.file}' differ only by case, which "
                          "DuckDB does not tell apart (it would read one for the other): rename one of them, or use "
                          "--engine pandas.")
    items = [f"c{j} AS {sqlbuild.render(ident(nm), 'duckdb')}" for j, nm in zip(keep_cols, names)]
    table = ws.name("src")
    # the record's order is its row number in the file (gaps where rows were skipped: only the order matters)
    ws.sql(f"CREATE VIEW {table} AS SELECT {ROW}"
           f"{', ' + ', '.join(items) if items else ''} FROM {body} WHERE {kept_where}")
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
        progress("classes", n)
    if quasi:
        ws.sql(f"CREATE TABLE {classes} AS SELECT {qi}, count(*) AS __ctopen_size, min({ROW}) AS __ctopen_first "
               f"FROM {table} GROUP BY ALL")
    else:
        ws.sql(f"CREATE TABLE {classes} AS SELECT count(*) AS __ctopen_size, min({ROW}) AS __ctopen_first FROM {table} "
               f"HAVING count(*) > 0")
    # one entry per class (the figures do not depend on their order; l-diversity's sums fetch theirs in order)
    sizes = ws.sql(f"SELECT __ctopen_size FROM {classes}").fetchnumpy()["__ctopen_size"]
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
    if sizes.min() == 1:
        # a class of one record holds one value: l is 1 (ctopen.risk's shortcut); the groups of k or more where
        # everyone shares one value are counted by DuckDB, nothing per class leaves it
        groups, records = ws.sql(
            f"WITH per AS (SELECT {qi + ', ' if qi else ''}count(DISTINCT {sv}) + max(CASE WHEN {sv} IS NULL THEN 1 "
            f"ELSE 0 END) AS __ctopen_d, count(*) AS __ctopen_n FROM {table} GROUP BY ALL) "
            f"SELECT count(*) FILTER (WHERE __ctopen_d = 1 AND __ctopen_n >= {max(int(k), 2)}), "
            f"coalesce(sum(__ctopen_n) FILTER (WHERE __ctopen_d = 1 AND __ctopen_n >= {max(int(k), 2)}), 0) "
            f"FROM per").fetchall()[0]
        return Diversity(1, 1.0, int(groups), int(records))
    s_card = int(ws.sql(f"SELECT count(DISTINCT {sv}) + max(CASE WHEN {sv} IS NULL THEN 1 ELSE 0 END) "
                        f"FROM {table}").fetchone()[0] or 0)
    dense = len(sizes) * s_card <= _dense_cap(n)
    # the order pandas sums in: by class, then by the value's code (first appearance in the file, missing last),
    # or, on the hashed path, by the pair's first appearance
    got = ws.sql(
        f"WITH sfirst AS (SELECT {sv} AS __ctopen_v, min({ROW}) AS __ctopen_sf FROM {table} GROUP BY ALL), "
        f"pairs AS (SELECT {qi + ', ' if qi else ''}{sv} AS __ctopen_v, count(*) AS __ctopen_n, min({ROW}) AS __ctopen_pf FROM {table} GROUP BY ALL) "
        f"SELECT c.__ctopen_first AS cls, p.__ctopen_n AS cnt, coalesce(f.__ctopen_sf, 9223372036854775807) AS sf, p.__ctopen_pf AS pf "
        f"FROM pairs p JOIN {classes} c ON {on} JOIN sfirst f ON p.__ctopen_v IS NOT DISTINCT FROM f.__ctopen_v "
        + ("ORDER BY cls, sf" if dense else "ORDER BY pf")).fetchnumpy()
    sizes = np.asarray(ws.sql(f"SELECT __ctopen_size FROM {classes} ORDER BY __ctopen_first").fetchnumpy()["__ctopen_size"],
                       dtype=np.int64)                 # in the classes' order (first record), as pair_class counts
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
    """ctopen.risk's QI combinations, counted by DuckDB (whole numbers: exact; memory bounded by DuckDB's limit).

    Each QI of the class table is first numbered (a missing value is one value of its own), then every subset
    ctopen.risk assesses is one GROUP BY over those numbers: its groups' sizes give uniques, k_min and the records
    at risk; the order of the list is ctopen.risk's (size, most uniques first, column order)."""
    from ctopen.risk import MAX_ALL_COMBINATIONS, MAX_SUBSET_SIZE_BEYOND, Combination
    m = len(quasi)
    joins, picks, tables = [], [], []
    for j, q in enumerate(quasi):
        d = ws.name("codes")
        tables.append(d)
        ws.sql(f"CREATE TABLE {d} AS SELECT v, CAST(row_number() OVER () - 1 AS INTEGER) AS code "
               f"FROM (SELECT DISTINCT {_q(q)} AS v FROM {classes})")
        joins.append(f"JOIN {d} AS d{j} ON c.{_q(q)} IS NOT DISTINCT FROM d{j}.v")
        picks.append(f"d{j}.code AS k{j}")
    coded = ws.name("coded")
    ws.sql(f"CREATE TABLE {coded} AS SELECT {', '.join(picks)}, c.__ctopen_size AS n FROM {classes} AS c "
           f"{' '.join(joins)}")
    for d in tables:
        ws.sql(f"DROP TABLE {d}")
    found = {}
    for subset in sqlbuild.subsets(m):
        by = ", ".join(f"k{i}" for i in subset)
        uniques, k_min, at_risk = ws.sql(
            f"SELECT count(*) FILTER (WHERE g = 1), coalesce(min(g), 0), coalesce(sum(g) FILTER (WHERE g < {int(k)}), 0) "
            f"FROM (SELECT sum(n) AS g FROM {coded} GROUP BY {by})").fetchall()[0]
        found[subset] = Combination([quasi[i] for i in subset], int(uniques), int(k_min), int(at_risk))
    ws.sql(f"DROP TABLE {coded}")
    note = None
    if m > MAX_ALL_COMBINATIONS:
        note = (f"With {m} quasi-identifiers only the combinations of up to {MAX_SUBSET_SIZE_BEYOND} columns "
                f"and all {m} together are assessed (every subset is assessed up to {MAX_ALL_COMBINATIONS}).")
    ordered = sorted(found.items(), key=lambda kv: (len(kv[0]), -kv[1].uniques, kv[0]))
    return [c for _, c in ordered], note


# --- roles ----------------------------------------------------------------------------------------

def engine_roles(ws: Workspace, src: Source, recipe: dict) -> tuple[dict[str, str], str]:
    """The effective roles as the Review decides them (`review.decide_roles`: the recipe's recorded roles and
    decisions over detection on the source table), for a suppress step that names no columns.

    Detection reads the whole table, as the pandas path does, up to settings.ENGINE_DETECT_ROWS rows (the same
    rows in the same order: the same roles). Above that, detection on a sample could propose other roles than on
    the whole file (a sample makes values look more unique), and the groups the step suppresses over would follow:
    the engine refuses rather than guess, and asks for the step's columns (fail closed)."""
    from ctopen.detect import detect
    from ctopen.review import decide_roles

    limit = int(settings.ENGINE_DETECT_ROWS)
    if src.rows > limit:
        raise EngineError(f"The recipe's suppress step names no columns, so its groups would come from the roles "
                          f"detection proposes; on a file of {src.rows:,} rows (more than {limit:,}) the DuckDB engine "
                          "does not guess them from a sample. List the quasi-identifiers in the step "
                          "(\"columns\": [...], as `ctopen recommend` writes it).")
    cols = ", ".join(sqlbuild.render(ident(c), "duckdb") for c in src.columns)
    df = _frame(ws.arrow(f"SELECT {cols} FROM {src.name} ORDER BY {ROW}"), src.columns)
    roles = decide_roles(src.columns, detect(df), recipe)
    return {c: r.role for c, r in roles.items()}, f"detection read all {src.rows:,} rows"


def _frame(table, columns: list[str]) -> pd.DataFrame:
    """A DuckDB/Arrow result as the loader's frame: every column text (pandas "str", missing NA)."""
    import pyarrow as pa
    if hasattr(table, "read_all"):
        table = table.read_all()
    string = pd.StringDtype("pyarrow", na_value=np.nan)
    df = table.to_pandas(types_mapper={pa.string(): string, pa.large_string(): string}.get)
    df.columns = list(columns)
    return df


# --- apply ----------------------------------------------------------------------------------------

@dataclass
class _State:
    table: str
    columns: list[str]
    rows: int
    frame: pd.DataFrame | None = None     # after an aggregate: the (small) count table, in memory


def apply_to(path, recipe: dict, out, *, key: bytes | str | None = None, memory_limit=None, temp_dir=None,
             progress=None, ws: Workspace | None = None) -> dict:
    """`ctopen apply` on DuckDB: the release written to `out` (.csv: byte for byte what the pandas path writes;
    .parquet: the release table, every column text), and the same summary."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".csv", ".parquet"):
        raise EngineError(f"The output {out.name} must end in .csv or .parquet on the DuckDB engine.")
    own = ws is None
    ws = ws or Workspace(memory_limit, temp_dir)
    try:
        src = open_source(ws, path, progress)
        recipes.validate(recipe, columns=src.columns)
        state, log, suppressed, notes = run_recipe(ws, src, recipe, key=key, progress=progress)
        if progress:
            progress("write", state.rows)
        part = out.with_name(out.name + ".part")      # the release appears whole, or not at all
        try:
            columns = write(ws, state, recipe, part)
            os.replace(part, out)
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        summary = {"file": str(path), "out": str(out), "rows_in": int(src.rows), "rows": int(state.rows),
                   "columns": columns, "suppressed": int(suppressed), "log": log}
        if notes:
            summary["_notes"] = notes       # not part of the JSON (the command prints them apart)
        return summary
    finally:
        if own:
            ws.close()


def run_recipe(ws: Workspace, src: Source, recipe: dict, *, key=None, progress=None):
    """Every step in apply order, each materialised as a table (or, after an aggregate, in memory).
    Returns (final state, log, records suppressed, notes)."""
    from ctopen import transform
    roles = None
    notes: list[str] = []
    if any(s.get("op") == "suppress" and s.get("columns") is None for s in recipe["steps"]):
        roles, said = engine_roles(ws, src, recipe)
        notes.append(f"Roles for the suppress step: {said}.")
    state = _State(src.name, list(src.columns), src.rows)
    log, suppressed = [], 0
    steps = list(recipes.in_apply_order(recipe["steps"]))
    for i, step in enumerate(steps):
        op = step["op"]
        if progress:
            progress(f"step {i + 1} of {len(steps)}: {op}", state.rows)
        if state.frame is not None:          # after the aggregate: the count table is small, in memory
            from ctopen.checks import FIX_OPS
            state.frame, entry = FIX_OPS[op](state.frame, step)
            state.columns, state.rows = list(state.frame.columns), len(state.frame)
        elif op == "aggregate":
            entry = _aggregate(ws, state, step)
        elif op in ("titlecase", "escape_formulas", "format_date"):
            entry = _per_value_fix(ws, state, step)
        elif op in ("rename", "reorder"):
            from ctopen.checks import FIX_OPS
            _, entry = FIX_OPS[op](pd.DataFrame(columns=state.columns), step)
            _run_step(ws, state, recipe, step, i, roles)
        elif op == "drop":
            changed = _count(ws, state.table, step["column"])
            _, entry = transform.drop(pd.DataFrame(columns=state.columns), step)
            entry["values_changed"] = changed
            _run_step(ws, state, recipe, step, i, roles)
        elif op == "generalize":
            entry = _generalize(ws, state, recipe, step, i)
        elif op == "suppress":
            entry = _suppress(ws, state, recipe, step, i, roles)
            suppressed += int(entry.get("records_removed", 0))
        elif op == "pseudonymize":
            entry = _pseudonymize(ws, state, recipe, step, i, key)
        else:
            raise EngineError(f"The recipe's {op} step runs in memory only (it reads the whole table at once): use "
                              "--engine pandas for this recipe.")
        log.append(entry)
    return state, log, suppressed, notes


def _q(name: str) -> str:
    return sqlbuild.render(ident(name), "duckdb")


def _count(ws: Workspace, table: str, column: str) -> int:
    return int(ws.sql(f"SELECT count({_q(column)}) FROM {table}").fetchone()[0])


def _run_step(ws: Workspace, state: _State, recipe: dict, step: dict, index: int, roles, mapping=None,
              params=None) -> sqlbuild.Release:
    """Materialise one step's SQL (sqlbuild.Release on the current table) as the next table."""
    rel = sqlbuild.Release(recipe, state.table, state.columns, "duckdb", roles=roles, mapping=mapping, order_by=ROW,
                           keep_order_column=True, steps=[step], first_index=index)
    rel.build()
    table = ws.name("t")
    # no ORDER BY: every later step reads the order from ROW (the release is written in that order)
    ws.sql(f"CREATE TABLE {table} AS {sqlbuild.render(rel.query(final=False), 'duckdb', False)}", params)
    state.table, state.columns = table, list(rel.columns)
    state.rows = int(ws.sql(f"SELECT count(*) FROM {table}").fetchone()[0])
    return rel


def _generalize(ws: Workspace, state: _State, recipe: dict, step: dict, index: int) -> dict:
    """transform.generalize on DuckDB: the distinct values (with the state column's verdict) mapped by ctopen."""
    from ctopen import hierarchies
    from ctopen.transform import _entry, _outside_ct, generalize_distinct, generalize_message

    h = hierarchies.get(step["hierarchy"], **recipes.hierarchy_options(step))
    level = h.check_level(step["level"])
    column = step["column"]
    state_col = step.get("state_column") if h.name == "ct_town" else None
    keys = [column] + ([state_col] if state_col else [])
    got = ws.arrow(f"SELECT {', '.join(_q(k) for k in keys)}, count(*) AS __ctopen_n FROM {state.table} GROUP BY ALL")
    d = _frame(got, keys + ["__ctopen_n"])
    counts_all = d["__ctopen_n"].astype("int64").to_numpy()
    values = d[column]
    present = values.notna().to_numpy()
    outside = _outside_ct(d, state_col) if state_col else None
    outside_rows = outside if outside is not None else np.zeros(len(d), dtype=bool)
    # the distinct values apply maps: pairs (value, outside) when a row is outside Connecticut, else values
    pair_key = pd.DataFrame({"v": values[present].to_numpy(dtype=object),
                             "o": outside_rows[present] if (outside is not None and outside_rows[present].any())
                             else np.zeros(int(present.sum()), dtype=bool)})
    codes, pairs = pd.factorize(pd.MultiIndex.from_frame(pair_key)) if len(pair_key) else (np.zeros(0, dtype=np.int64), None)
    counts = np.bincount(codes, weights=counts_all[present], minlength=len(pairs) if pairs is not None else 0
                         ).astype(np.int64) if len(pair_key) else np.zeros(0, dtype=np.int64)
    uniques = pd.Index(pairs.get_level_values(0), dtype=object) if pairs is not None else pd.Index([], dtype=object)
    flags = np.asarray(pairs.get_level_values(1), dtype=bool) if pairs is not None else np.zeros(0, dtype=bool)
    use_flags = outside is not None and flags.any()
    n_rows = int(counts_all.sum())
    if level == h.top:
        mapped = np.full(len(uniques), hierarchies.STAR, dtype=object)
        changed = n_rows - int(counts_all[present & (values.fillna("").to_numpy() == hierarchies.STAR)].sum())
        unknown, in_ct_unknown_records = [], 0
    else:
        mapped = generalize_distinct(h, uniques, counts, level, flags if use_flags else None)
        differs = np.asarray(mapped, dtype=object) != np.asarray(uniques, dtype=object)
        changed = int(counts[differs].sum())
        # unknown values: read among the rows inside Connecticut (all rows without a state column)
        inside = ~flags if (outside is not None and 0 < level < h.top) else np.ones(len(uniques), dtype=bool)
        u_in = pd.Index(uniques[inside], dtype=object)
        c_in = counts[inside]
        if len(u_in) and u_in.has_duplicates:
            agg = pd.Series(c_in, index=u_in).groupby(level=0, sort=False).sum()
            u_in, c_in = pd.Index(agg.index, dtype=object), agg.to_numpy()
        known = h._known(u_in.astype("str"), c_in) if len(u_in) else np.zeros(0, dtype=bool)
        unknown = sorted(str(v) for v in u_in[~known]) if len(u_in) else []
        in_ct_unknown_records = int(c_in[~known].sum()) if len(u_in) else 0
    # the table the join reads: every distinct (value[, state]) with its generalized value
    if level != h.top and not (level == 0 and not h.changes_as_is):
        per_row = np.full(len(d), None, dtype=object)
        idx = np.flatnonzero(present)
        per_row[idx] = np.asarray(mapped, dtype=object)[codes]
        mdf = pd.DataFrame({"v": values.astype(object).where(values.notna(), None).to_numpy(dtype=object)})
        if state_col:
            mdf["st"] = d[state_col].astype(object).where(d[state_col].notna(), None).to_numpy(dtype=object)
        mdf["mapped"] = pd.array(per_row, dtype="str")
        mdf = mdf[present]
        mdf["v"] = pd.array(mdf["v"], dtype="str")
        if state_col:
            mdf["st"] = pd.array(mdf["st"], dtype="str")
        name = ws.table_from(mdf, "map")
        join_keys = [(column, "v")] + ([(state_col, "st")] if state_col else [])
        _run_step(ws, state, recipe, step, index, None, mapping=lambda rel, i, s: (name, join_keys))
        ws.sql(f"DROP TABLE {name}")
    else:
        _run_step(ws, state, recipe, step, index, None)
    n_outside = int(counts_all[present & outside_rows].sum()) if outside is not None and 0 < level < h.top else 0
    message = generalize_message(column, h, level, changed, unknown, in_ct_unknown_records if unknown else 0,
                                 n_outside, step.get("state_column"))
    entry = _entry("generalize", column, changed, 0, message)
    entry.update(hierarchy=h.name, level=level, label=h.label(level), unknown=unknown[:50],
                 unknown_count=len(unknown), outside_ct=n_outside)
    return entry


def _suppress(ws: Workspace, state: _State, recipe: dict, step: dict, index: int, roles) -> dict:
    """transform.suppress on DuckDB (the SQL of sqlbuild; the figures for the log from the same groups)."""
    from ctopen.transform import suppress_outcome, suppress_plan
    n = state.rows
    k, columns, ignored, entry = suppress_plan(step, roles, set(state.columns), n)
    if not columns:
        return entry
    cap = entry["cap"]
    qi = ", ".join(_q(c) for c in columns)
    at_risk, removed, taken = ws.sql(
        f"WITH g AS (SELECT count(*) AS sz, min({ROW}) AS first FROM {state.table} GROUP BY {qi}), "
        f"s AS (SELECT sz, sum(sz) OVER (ORDER BY sz, first ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run "
        f"FROM g WHERE sz < {k}) "
        f"SELECT coalesce(sum(sz), 0), coalesce(sum(sz) FILTER (WHERE run <= {cap}), 0), "
        f"count(*) FILTER (WHERE run <= {cap}) FROM s").fetchone()
    at_risk, removed, taken = int(at_risk), int(removed), int(taken)
    _run_step(ws, state, recipe, {**step, "columns": columns} if step.get("columns") is None else step, index, roles)
    if state.rows != n - removed:      # the SQL and the figures must agree, or nothing is written
        raise EngineError("The suppress step removed another number of records than its groups add up to; "
                          "nothing was written (please report this).")
    return suppress_outcome(entry, n, at_risk, removed, taken, ignored)


def _pseudonymize(ws: Workspace, state: _State, recipe: dict, step: dict, index: int, key) -> dict:
    from ctopen.transform import MIN_KEY_BYTES, PSEUDONYM_HEX_CHARS, _entry, resolve_key

    column = step["column"]
    key = resolve_key(key, column)
    changed = _count(ws, state.table, column)
    distinct = int(ws.sql(f"SELECT count(DISTINCT {_q(column)}) FROM {state.table}").fetchone()[0])
    _run_step(ws, state, recipe, step, index, None, params=sqlbuild.pseudonym_params(key, "duckdb"))
    ids = int(ws.sql(f"SELECT count(DISTINCT {_q(column)}) FROM {state.table}").fetchone()[0])
    message = (f"Replaced “{column}” with anonymous IDs ({PSEUDONYM_HEX_CHARS} hex characters of "
               f"HMAC-SHA-256 under the secret key): {distinct:,} distinct values.")
    if ids < distinct:
        message += " Two different values received the same ID (a chance collision): check before publishing."
    if len(key) < MIN_KEY_BYTES:
        message += f" The key is shorter than {MIN_KEY_BYTES} characters: use a long random key."
    return _entry("pseudonymize", column, changed, 0, message)


def _per_value_fix(ws: Workspace, state: _State, step: dict) -> dict:
    """A fix that maps each value on its own (titlecase, escape_formulas, format_date): run by ctopen.checks on the
    distinct values, joined back; the log counts records."""
    from ctopen.checks import FIX_OPS
    column = step.get("column")
    if column not in state.columns:
        FIX_OPS[step["op"]](pd.DataFrame(columns=state.columns), step)   # the op's own error
    from ctopen.checks import _non_iso_dates, is_formula
    got = _frame(ws.arrow(f"SELECT {_q(column)}, count(*) FROM {state.table} GROUP BY ALL"), [column, "__ctopen_n"])
    distinct = pd.DataFrame({column: pd.array(got[column], dtype="str")})
    fixed, entry = FIX_OPS[step["op"]](distinct, step)
    new = fixed[column].reset_index(drop=True)
    old = distinct[column].reset_index(drop=True)
    # which records the op counts, by its own rule (titlecase counts a missing value too: NaN != NaN)
    if step["op"] == "titlecase":
        hit = (new != old).fillna(False)
    elif step["op"] == "escape_formulas":
        hit = old.map(is_formula, na_action="ignore").fillna(False)
    else:
        hit = old.isin(list(_non_iso_dates(old)))
    hit = np.asarray(hit, dtype=bool)
    if int(hit.sum()) != int(entry.get("values_changed", -1)):
        raise EngineError(f"The {step['op']} step could not be counted record by record on DuckDB; use --engine pandas.")
    differs = hit & old.notna().to_numpy()
    changed = int(got["__ctopen_n"].astype("int64").to_numpy()[hit].sum())
    shown = int(entry.get("values_changed", 0))
    entry["values_changed"] = changed
    entry["message"] = str(entry.get("message", "")).replace(f"{shown:,}", f"{changed:,}", 1)
    mdf = pd.DataFrame({"v": old[differs].to_numpy(dtype=object), "mapped": pd.array(new[differs], dtype="str")})
    mdf["v"] = pd.array(mdf["v"], dtype="str")
    name = ws.table_from(mdf, "fix")
    items = ", ".join(f"CASE WHEN m.v IS NOT NULL THEN m.mapped ELSE s.{_q(c)} END AS {_q(c)}" if c == column
                      else f"s.{_q(c)}" for c in state.columns)
    table = ws.name("t")
    ws.sql(f"CREATE TABLE {table} AS SELECT {items}, s.{ROW} FROM {state.table} s LEFT JOIN {name} m "
           f"ON s.{_q(column)} = m.v")
    state.table = table
    return entry


def _aggregate(ws: Workspace, state: _State, step: dict) -> dict:
    """The count table: DuckDB counts the records per combination; ctopen.aggregate suppresses small cells and
    their complements on that (small) table in memory, exactly as on the records."""
    from ctopen import aggregate as A
    if step.get("measures"):
        raise EngineError("An aggregate step with measures (sum, mean, percent) runs in memory only: use "
                          "--engine pandas, or count by the dimensions alone.")
    by = step["by"] if isinstance(step["by"], list) else [step["by"]]
    A._check_by(pd.DataFrame(columns=state.columns), by)
    grouped = _frame(ws.arrow(f"SELECT {', '.join(_q(b) for b in by)}, count(*) AS __ctopen_n FROM {state.table} "
                            f"GROUP BY ALL ORDER BY min({ROW})"), by + ["__ctopen_n"])
    weights = grouped.pop("__ctopen_n").astype("int64").to_numpy()
    table = A.aggregate(grouped, by, threshold=step.get("threshold", A.DEFAULT_THRESHOLD),
                        totals=step.get("totals", True), measures=(), seed=step.get("seed", 0),
                        categories=step.get("categories"), weights=weights)
    if table.exact_check != "passed":
        raise RecipeError(f"This count table cannot be published: {table.exact_check}. Count by fewer or coarser "
                          "columns (for example towns grouped into counties).")
    log = {"op": "aggregate", **table.to_dict()}
    log["records_in"] = log.pop("records")
    log["rows_out"] = int(len(table.frame))
    entry = {"op": "aggregate", "values_changed": 0, "records_removed": 0, **log}
    entry.setdefault("message", recipes.describe_step(step))
    state.frame = table.frame
    state.columns, state.rows = list(table.frame.columns), len(table.frame)
    return entry


# --- writing ----------------------------------------------------------------------------------------

def write(ws: Workspace, state: _State, recipe: dict, out: Path) -> list[str]:
    """The release to `out`. CSV: what is published (formula-like cells and headers neutralised as
    ctopen.checks.neutralise_formulas does, `keep_formulas` kept), by the one CSV writer, in batches. Parquet:
    the release table as it is (as `apply` writes a workbook). Returns the release's column names."""
    from ctopen.checks import is_formula
    from ctopen.publish.bundle import csv_bytes

    if state.frame is not None:
        from ctopen.publish.socrata import portal_view
        frame = state.frame
        try:
            if out.name.lower().removesuffix(".part").endswith(".csv"):
                out.write_bytes(csv_bytes(portal_view(frame, recipe).rows))
            else:
                frame.to_parquet(out, index=False)
        except OSError as exc:
            raise CtopenError(f"The output {_shown(out)} could not be written ({exc.strerror or exc}).") from exc
        return list(frame.columns)
    columns = list(state.columns)
    try:
        if out.name.lower().removesuffix(".part").endswith(".parquet"):
            cols = ", ".join(_q(c) for c in columns) or "NULL AS __ctopen_empty"
            try:
                cur = ws.con.cursor()
                with terminal.watching(cur):
                    cur.execute(f"COPY (SELECT {cols} FROM {state.table} ORDER BY {ROW}) TO '{_quote_path(out)}' "
                                "(FORMAT parquet)")
            except Exception as exc:    # duckdb.IOException: the output's folder, not the work files
                if type(exc).__name__ != "IOException":
                    ws._explain(exc)
                    raise
                raise CtopenError(f"The output {_shown(out)} could not be written ({_first_line(exc)}).") from None
            return columns
        keep = set(c for c in recipe.get("keep_formulas") or [] if c in columns)
        items = []
        for c in columns:
            if c in keep:
                items.append(_q(c))
                continue
            # signed whole or decimal numbers (-12, +3.50: checks.PLAIN_NUMBER, never formulas) stay in DuckDB: a column
            # of millions of negative amounts is not fetched into memory to be told apart
            starts = [r[0] for r in ws.sql(f"SELECT DISTINCT {_q(c)} FROM {state.table} WHERE "
                                            f"regexp_matches({_q(c)}, '^[=+\\-@\\t\\r]') AND NOT "
                                            f"regexp_full_match({_q(c)}, '[-+][0-9]+(\\.[0-9]*)?')").fetchall()]
            bad = [v for v in starts if is_formula(v)]
            if bad:
                name = ws.table_from(pd.DataFrame({"v": pd.array(bad, dtype="str")}), "formulas")
                items.append(f"CASE WHEN {_q(c)} IN (SELECT v FROM {name}) THEN '''' || {_q(c)} ELSE {_q(c)} END "
                             f"AS {_q(c)}")
            else:
                items.append(_q(c))
        headers = ["'" + c if c not in keep and is_formula(c) else c for c in columns]
        reader = ws.con.cursor().sql(f"SELECT {', '.join(items) or 'NULL AS __ctopen_empty'} FROM {state.table} ORDER BY {ROW}"
                            ).to_arrow_reader(BATCH_ROWS)
        with out.open("wb") as f:
            f.write(csv_bytes(pd.DataFrame({h: pd.array([], dtype="str") for h in headers}) if columns else
                              pd.DataFrame()))
            if columns:
                for batch in reader:
                    import pyarrow as pa
                    df = _frame(pa.Table.from_batches([batch]), headers)
                    f.write(df.to_csv(index=False, header=False, lineterminator="\r\n").encode("utf-8"))
    except OSError as exc:
        raise CtopenError(f"The output {_shown(out)} could not be written ({exc.strerror or exc}).") from exc
    return columns


def _shown(out: Path) -> Path:
    """The output as the user named it (the release is written beside it as NAME.part first)."""
    return out.with_name(out.name[:-len(".part")]) if out.name.endswith(".part") else out


# --- the distinct table for recommend ---------------------------------------------------------------

def distinct_table(path_or_source, columns, *, sensitive: str | None = None, ws: Workspace | None = None,
                   memory_limit=None, temp_dir=None, progress=None):
    """(DataFrame of the distinct combinations of `columns` [+ sensitive], record counts), in the order of each
    combination's first record in the file, every value as the loader gives it.

    Each column comes as a pandas Categorical (its distinct values once, a whole number per row), built from codes
    DuckDB gives: the table of combinations of a file of tens of millions of records stays a few bytes per cell."""
    own = ws is None
    ws = ws or Workspace(memory_limit, temp_dir)
    try:
        src = path_or_source if isinstance(path_or_source, Source) else open_source(ws, path_or_source, progress)
        wanted = set(columns) | ({sensitive} if sensitive else set())
        # the file's order (a recipe lists the columns so); a column the file lacks is left for the caller to name
        wanted = [c for c in src.columns if c in wanted]
        combos = ws.name("combos")
        ws.sql(f"CREATE TABLE {combos} AS SELECT {''.join(_q(c) + ', ' for c in wanted)}count(*) AS __ctopen_n, "
               f"min({ROW}) AS __ctopen_first FROM {src.name} GROUP BY ALL")
        joins, picks, categories = [], [], []
        for j, c in enumerate(wanted):
            d = ws.name("values")
            ws.sql(f"CREATE TABLE {d} AS SELECT v, CAST(row_number() OVER () - 1 AS INTEGER) AS code "
                   f"FROM (SELECT DISTINCT {_q(c)} AS v FROM {combos} WHERE {_q(c)} IS NOT NULL)")
            values = _frame(ws.arrow(f"SELECT v FROM {d} ORDER BY code"), ["v"])["v"]
            categories.append(pd.Index(values.to_numpy(dtype=object), dtype=object))
            joins.append(f"LEFT JOIN {d} AS d{j} ON c.{_q(c)} = d{j}.v")
            picks.append(f"coalesce(d{j}.code, -1) AS k{j}")
        got = ws.sql(f"SELECT {''.join(p + ', ' for p in picks)}c.__ctopen_n FROM {combos} AS c {' '.join(joins)} "
                     f"ORDER BY c.__ctopen_first").fetchnumpy()
        df = pd.DataFrame({c: pd.Categorical.from_codes(np.asarray(got[f"k{j}"], dtype=np.int32), categories=cats)
                           for j, (c, cats) in enumerate(zip(wanted, categories))})
        if not wanted:
            df = pd.DataFrame(index=range(len(got["__ctopen_n"])))
        counts = np.asarray(got["__ctopen_n"], dtype=np.int64)
        return df, counts
    finally:
        if own:
            ws.close()
