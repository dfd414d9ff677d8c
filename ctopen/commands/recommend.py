"""`python -m ctopen recommend FILE --qi COL [COL ...] [--k 5] [--sensitive COL --l 2] [--max-suppression 0.01] [--weight COL=W] [--max-level COL=N] [--json]`

Proposes the generalization levels that reach k (and l) while losing the least information, and
prints a recipe that `python -m ctopen apply` accepts and that reproduces the figures.
"""
from __future__ import annotations

import argparse
import json

from ctopen import recipe as recipes
from ctopen import settings
from ctopen.cli import emit
from ctopen.errors import CtopenError
from ctopen.load import load
from ctopen.search import priorities_from_recipe, recommend, specs_from_recipe


def register(sub) -> None:
    p = sub.add_parser("recommend", help="propose the least-loss generalization that reaches k",
                       description=__doc__.splitlines()[2])
    p.add_argument("file", metavar="FILE")
    p.add_argument("--qi", action="extend", nargs="+", required=True, metavar="COL",
                   help="a quasi-identifier column (repeat for each)")
    p.add_argument("--k", type=int, default=settings.DEFAULT_K, help=f"target smallest group (default {settings.DEFAULT_K})")
    p.add_argument("--sensitive", metavar="COL", help="the sensitive attribute for an l-diversity target")
    p.add_argument("--l", type=int, default=None, help="every group must hold at least l distinct sensitive values")
    p.add_argument("--max-suppression", type=float, default=settings.DEFAULT_MAX_SUPPRESSION, metavar="SHARE",
                   help=f"share of records that may be removed (default {settings.DEFAULT_MAX_SUPPRESSION})")
    p.add_argument("--hierarchies", metavar="RECIPE.json",
                   help="take each column's hierarchy and options from this recipe's generalize steps "
                        "(and its \"priorities\": weights and level limits)")
    p.add_argument("--weight", action="append", default=[], metavar="COL=W", type=_pair(float, "a number"),
                   help="how much losing detail in COL costs (1 is the default; 4 matters most, 0.25 matters less); "
                        "repeat for each column")
    p.add_argument("--max-level", action="append", default=[], metavar="COL=N", type=_pair(int, "a whole number"),
                   help="never generalize COL beyond level N (0 keeps it as is); repeat for each column")
    p.add_argument("--sheet", help="workbook sheet (default: the first sheet with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    from ctopen import engine
    engine.add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.l is not None and not args.sensitive:
        raise CtopenError("--l needs --sensitive COL: the attribute whose values each group must vary in.")
    from ctopen import engine
    saved = recipes.load(args.hierarchies) if args.hierarchies else None
    specs = specs_from_recipe(saved) if saved else None
    weights, limits = priorities_from_recipe(saved)
    weights.update(dict(getattr(args, "weight", None) or []))
    limits.update(dict(getattr(args, "max_level", None) or []))
    if engine.selected(args) == "duckdb":
        # the search runs on the distinct combinations of the columns it reads, with their record counts
        from pathlib import Path
        states = [s["state_column"] for s in (specs or {}).values() if isinstance(s, dict) and s.get("state_column")]
        df, counts = engine.distinct_table(args.file, list(args.qi) + states, sensitive=args.sensitive,
                                           **engine.options(args))
        name = Path(args.file).name
    else:
        table = load(args.file, sheet=args.sheet)
        df, counts, name = table.df, None, table.name
    rec = recommend(df, args.qi, k=args.k, sensitive=args.sensitive, l=args.l,
                    max_suppression=args.max_suppression, hierarchies=specs,
                    weights=weights or None, max_levels=limits or None, counts=counts)
    emit(rec.to_dict(), args.json, text(rec, name))
    return 0


def _pair(kind, what: str):
    """argparse type for COL=VALUE (the column name may itself hold "=": the last one splits)."""
    def parse(text: str):
        col, sep, value = str(text).rpartition("=")
        if not sep or not col:
            raise argparse.ArgumentTypeError(f"{text!r} is not COL={what.split()[-1].upper()}")
        try:
            number = kind(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} in {text!r} is not {what}") from None
        return col, number
    return parse


def text(rec, name: str = "") -> str:
    levels = ", ".join(f"{c} level {v}" + (f" ({rec.labels[c][v]})" if c in rec.labels and v < len(rec.labels[c]) else "")
                       for c, v in rec.levels.items())
    lines = [
        f"{name + ': ' if name else ''}{rec.rows:,} records; target k = {rec.target.get('k')}"
        + (f", l = {rec.target['l']} on {rec.target['sensitive']}" if "l" in rec.target else "")
        + f", at most {rec.target.get('max_suppression', 0):.1%} suppressed",
        f"  Levels: {levels}",
        *([f"  Weights: " + ", ".join(f"{c} {w:g}" for c, w in rec.weights.items())] if rec.weights else []),
        f"  Smallest group (k): {rec.k_min}; records suppressed: {rec.suppressed:,}; information lost: {rec.loss:.1%}"
        + (f"; fewest distinct sensitive values in a group (l): {rec.l_min}" if rec.l_min is not None else ""),
        f"  Searched {rec.nodes_evaluated:,} of {rec.lattice_size:,} combinations of levels in {rec.seconds:.2f} s",
    ]
    for note in rec.notes:
        lines.append(f"  Note: {note}")
    if len(rec.alternatives) > 1:
        lines.append("  Alternatives (information lost / records suppressed):")
        for a in rec.alternatives:
            lines.append(f"    {a.loss:6.1%} / {a.suppressed:>7,}  " + ", ".join(f"{c}={v}" for c, v in a.levels.items()))
    lines.append("  Recipe (save it and run `python -m ctopen apply FILE --recipe RECIPE.json --out OUT.csv`):")
    lines.append("  " + json.dumps(rec.recipe, ensure_ascii=False))
    return "\n".join(lines)
