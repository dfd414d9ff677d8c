"""Where the review runs: pandas in memory (ordinary files) or DuckDB (files too large for memory), and the
recipe as SQL for a warehouse (issue 20).

API (stable; helpers and the benchmarks build on it):

    choose(path, engine=None) -> "pandas" | "duckdb"
        engine given ("pandas"/"duckdb") wins; else DuckDB for a CSV or Parquet file larger than
        settings.ENGINE_AUTO_MB, pandas otherwise.

    sql_for_recipe(recipe, table, dialect, columns, *, roles=None, order_by=None, pretty=True) -> str
        The query making the release from `table` (whose columns are `columns`) in "duckdb" | "spark" | "trino".
        A step the dialect cannot express exactly raises UnsupportedStep (a RecipeError naming step and dialect).
        A pseudonymize step reads the key from query parameters: pseudonym_params(key, dialect) -> {name: hex}.
        A suppress step needs `order_by`, a column giving the file's row order (its tie-break).

    risk_sql(table, quasi, dialect, sensitive=(), k=5, combinations=True) -> str
        The risk queries (class sizes, l-diversity per sensitive column, QI combinations), ";"-separated.

    risk_report(path, quasi, sensitive=(), k=5, combinations=True, *, population=None, memory_limit=None,
                temp_dir=None, progress=None) -> ctopen.risk.RiskReport
        The `risk` figures of a CSV/Parquet file computed by DuckDB (equal to ctopen.risk.assess on the loaded
        table; `record_class_size` is None).

    apply_to(path, recipe, out, *, key=None, memory_limit=None, temp_dir=None, progress=None) -> dict
        Applies the recipe on DuckDB and streams the release to `out` (.csv: the bytes `ctopen apply` writes;
        .parquet). Returns `ctopen apply`'s JSON summary ({"file", "out", "rows_in", "rows", "columns",
        "suppressed", "log"}), equal to the pandas path's.

    distinct_table(path, columns, *, sensitive=None, memory_limit=None, temp_dir=None) -> (DataFrame, counts)
        The distinct combinations of `columns` (and the sensitive column) with their record counts, in the
        order of their first record in the file: what `recommend` searches on.

    progress: optional callable(phase: str, rows: int | None).
"""
from __future__ import annotations

from pathlib import Path

from ctopen import settings
from ctopen.engine.sqlbuild import (DIALECTS, UnsupportedStep, pseudonym_params, risk_sql,  # noqa: F401
                                    sql_for_recipe)

ENGINES = ("pandas", "duckdb")


def choose(path, engine: str | None = None) -> str:
    """The engine for a file: the one asked for, else DuckDB for a large CSV or Parquet file."""
    from ctopen.errors import CtopenError
    if engine:
        e = str(engine).lower()
        if e not in ENGINES:
            raise CtopenError(f"Unknown engine {engine!r}: use pandas or duckdb.")
        return e
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        return "pandas"          # the loader says why it cannot read it
    kind = p.suffix.lower().lstrip(".")
    if kind in ("csv", "tsv", "txt", "parquet") and size > settings.ENGINE_AUTO_MB * 2**20:
        return "duckdb"
    if kind in ("csv", "tsv", "txt") and size > 2**20 and _rows_estimate(p, size) > settings.MAX_ROWS:
        return "duckdb"          # smaller than ENGINE_AUTO_MB but more rows than the pandas path loads
    return "pandas"


def _rows_estimate(path: Path, size: int) -> float:
    """Rows of a text file, estimated from the line ends of its first megabyte."""
    try:
        with path.open("rb") as f:
            head = f.read(2**20)
    except OSError:
        return 0.0
    lines = head.count(b"\n") or 1
    return size / (len(head) / lines)


def _terminal(path, kwargs: dict) -> dict:
    """Without a progress callback, the terminal's progress line (ctopen.progress; a no-op unless the CLI turned
    it on for a terminal)."""
    from ctopen import progress
    if kwargs.get("progress") is None and progress.active():
        if isinstance(path, (str, Path)):
            progress.phase(f"Reading {Path(path).name}")
        kwargs = {**kwargs, "progress": progress.engine}
    return kwargs


def risk_report(path, quasi, sensitive=(), k: int = settings.DEFAULT_K, combinations: bool = True, **kwargs):
    from ctopen import progress
    from ctopen.engine import duck
    try:
        return duck.risk_report(path, quasi, sensitive, k, combinations, **_terminal(path, kwargs))
    finally:
        progress.done()     # the engine's work is over: its line goes before anything else is printed


def apply_to(path, recipe: dict, out, **kwargs) -> dict:
    from ctopen import progress
    from ctopen.engine import duck
    try:
        return duck.apply_to(path, recipe, out, **_terminal(path, kwargs))
    finally:
        progress.done()


def distinct_table(path, columns, **kwargs):
    from ctopen import progress
    from ctopen.engine import duck
    result = duck.distinct_table(path, columns, **_terminal(path, kwargs))
    progress.phase(f"Searching the generalizations over {len(result[0]):,} distinct combinations")
    return result


# --- the command line's engine options (risk, apply, recommend) ---------------------------------------

def add_arguments(parser) -> None:
    """--engine, --memory-limit and --temp-dir on a command."""
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help=f"where the work runs: pandas (in memory) or duckdb (files larger than memory); default: "
                             f"duckdb for a CSV or Parquet file over {settings.ENGINE_AUTO_MB} MB, else pandas")
    parser.add_argument("--memory-limit", metavar="SIZE", default=None,
                        help=f"DuckDB's memory limit, such as 1GB (default ${settings.ENGINE_MEMORY_ENV} or "
                             f"{settings.ENGINE_MEMORY_LIMIT}); beyond it DuckDB spills to the temp directory")
    parser.add_argument("--temp-dir", metavar="DIR", default=None,
                        help=f"where DuckDB keeps its work and spill files (default ${settings.ENGINE_TEMP_DIR_ENV} "
                             "or the system's temporary directory)")


def selected(args) -> str:
    """The engine a command runs on: --engine, else by the file's size and kind (a workbook sheet: pandas)."""
    if getattr(args, "sheet", None) and not getattr(args, "engine", None):
        return "pandas"
    return choose(args.file, getattr(args, "engine", None))


def options(args) -> dict:
    """The DuckDB settings given on the command line (and the progress callback, when a command sets one)."""
    return {"memory_limit": getattr(args, "memory_limit", None), "temp_dir": getattr(args, "temp_dir", None),
            "progress": getattr(args, "progress", None)}
