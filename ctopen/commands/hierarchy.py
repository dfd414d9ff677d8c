"""`python -m ctopen hierarchy import FILE.csv --column C [--delimiter ';'] [--json]`

Reads a generalization hierarchy kept in ARX's CSV format (one line per value: `value;level1;level2;...;*`)
and prints the recipe step that carries it inline (`"hierarchy": "table"`, level 0): paste it into a
recipe's steps and raise its level, or let `recommend --hierarchies` search it.
"""
from __future__ import annotations

import json

from ctopen import hierarchies
from ctopen.cli import emit


def register(sub) -> None:
    p = sub.add_parser("hierarchy", help="import an analyst's own hierarchy (ARX's CSV format) as a recipe step",
                       description=__doc__.splitlines()[0])
    inner = p.add_subparsers(dest="hierarchy_command", required=True, metavar="import")
    imp = inner.add_parser("import", help="read ARX's hierarchy CSV and print the generalize step (level 0)",
                           description="Reads ARX's hierarchy CSV (value;level1;...;*, one line per value) and "
                                       "prints the generalize step that carries it.")
    imp.add_argument("file", metavar="FILE.csv", help="the hierarchy, one line per value")
    imp.add_argument("--column", required=True, metavar="C", help="the column of the data file it generalizes")
    imp.add_argument("--delimiter", default=None, metavar="CHAR",
                     help="the field separator (default: ';' as ARX writes; ',' or tab when the first line has no ';')")
    imp.add_argument("--json", action="store_true", help="print the step as one JSON object")
    imp.set_defaults(func=run)


def step_from_csv(data, column: str, delimiter: str | None = None, name: str = "The hierarchy file") -> dict:
    """The generalize step (level 0) carrying the hierarchy read from ARX's CSV; RecipeError when it is not one."""
    table = hierarchies.read_arx_csv(data, delimiter=delimiter, name=name)
    hierarchies.get("table", table=table)          # checked as apply will check it
    return {"op": "generalize", "column": column, "hierarchy": "table", "table": table, "level": 0}


def run(args) -> int:
    delimiter = args.delimiter
    if delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    step = step_from_csv(args.file, args.column, delimiter=delimiter)
    emit(step, args.json, text(step))
    return 0


def text(step: dict) -> str:
    h = hierarchies.get("table", table=step["table"])
    lines = [f"{len(step['table']):,} values of “{step['column']}”, {h.levels} levels: "
             + ", ".join(f"{i} {h.label(i)}" for i in range(h.levels))
             + ("" if h.top_given else " (the top level * was added)")]
    split = h.not_nested()
    if split:
        lines.append("  Not nested (a level is not a function of the one below it; recommend still searches it, "
                     "inferring nothing across those levels): " + "; ".join(split) + ".")
    lines.append("  Step (paste it into the recipe's steps, then set its level):")
    lines.append("  " + json.dumps(step, ensure_ascii=False))
    return "\n".join(lines)
