"""`python -m ctopen sql --recipe RECIPE.json --table T --dialect duckdb|spark|trino [--columns C ...] [--order-by COL]`
`python -m ctopen sql --risk --qi COL [COL ...] --table T --dialect D [--sensitive COL] [--recipe RECIPE.json]`

Prints the SQL that makes the release of a saved recipe from a table T where the data lives (DuckDB, Spark,
Trino), or the queries giving its risk figures, built with sqlglot. A step the dialect cannot express exactly is
refused with a message naming the step and the dialect. The pseudonym key is never in the text: it is passed as
query parameters (see docs/cli.md).
"""
from __future__ import annotations

from ctopen import recipe as recipes
from ctopen.cli import emit
from ctopen.errors import CtopenError
from ctopen.settings import DEFAULT_K


def register(sub) -> None:
    from ctopen.engine.sqlbuild import DIALECTS
    p = sub.add_parser("sql", help="print the SQL that makes a recipe's release (or its risk figures) in a warehouse",
                       description=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("--recipe", metavar="RECIPE.json", help="the saved recipe (or review)")
    p.add_argument("--table", required=True, metavar="T", help="the table holding the records (db.schema.table)")
    p.add_argument("--dialect", required=True, choices=DIALECTS, help="the SQL engine that runs the query")
    p.add_argument("--columns", action="extend", nargs="+", default=None, metavar="COL",
                   help="the table's columns in order (default: the columns a saved review lists in its roles)")
    p.add_argument("--order-by", metavar="COL", default=None,
                   help="a column numbering the records in the file's order: needed by a suppress step (which "
                        "groups go first when the cap is reached) and gives the release that order")
    p.add_argument("--risk", action="store_true", help="print the risk queries instead (over the release when "
                                                       "--recipe is given, else over the table as it is)")
    p.add_argument("--qi", action="extend", nargs="+", default=[], metavar="COL", help="a quasi-identifier (for --risk)")
    p.add_argument("--sensitive", action="extend", nargs="+", default=[], metavar="COL",
                   help="a sensitive attribute, for l-diversity (for --risk)")
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"group-size threshold for --risk (default {DEFAULT_K})")
    p.add_argument("--json", action="store_true", help="print one JSON object: dialect, table, sql, parameters")
    p.set_defaults(func=run)


def columns_of(recipe: dict | None, given) -> list[str]:
    """The table's columns: as given, else the saved review's roles (every source column, in the file's order)."""
    if given:
        return [c for part in given for c in str(part).split(",") if c != ""] if any("," in g for g in given) \
            else list(given)
    roles = (recipe or {}).get("roles")
    if isinstance(roles, dict) and roles:
        return list(roles)
    raise CtopenError("Name the table's columns with --columns (in order): the recipe does not list them "
                      "(a review saved by the app does, in its roles).")


def run(args) -> int:
    from sqlglot import exp

    from ctopen.engine import sqlbuild
    recipe = recipes.load(args.recipe) if args.recipe else None
    if not args.risk and recipe is None:
        raise CtopenError("Give --recipe RECIPE.json (the release's SQL), or --risk --qi COL ... (the risk queries).")
    params: list[str] = []
    if recipe is not None:
        columns = columns_of(recipe, args.columns)
        release = sqlbuild.Release(recipe, args.table, columns, args.dialect, order_by=args.order_by).build()
        params = sorted(release.params)
    if args.risk:
        if not args.qi:
            raise CtopenError("--risk needs the quasi-identifiers: --qi COL [COL ...].")
        if recipe is not None:
            missing = [c for c in args.qi + args.sensitive if c not in release.columns]
            if missing:
                raise CtopenError(f"The release has no column {', '.join(repr(c) for c in missing)} (the recipe drops, "
                                  "renames or aggregates it).")
            table = exp.Subquery(this=release.query(final=False), alias=exp.TableAlias(this=sqlbuild.ident("release")))
        else:
            table = args.table
        text = sqlbuild.risk_sql(table, args.qi, args.dialect, args.sensitive, k=args.k)
    else:
        text = release.sql() + ";"
    emit({"dialect": args.dialect, "table": args.table, "sql": text, "parameters": params}, args.json,
         text + (f"\n-- parameters: {', '.join(params)} (the pseudonym key, as hex: see docs/cli.md)" if params else ""))
    return 0
