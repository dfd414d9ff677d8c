"""`python -m ctopen recommend FILE --qi COL [COL ...] [--k 5] [--sensitive COL --l 2] [--max-suppression 0.01] [--json]`

Proposes the generalization levels that reach k (and l) while losing the least information, and
prints a recipe that `python -m ctopen apply` accepts and that reproduces the figures.
"""
from __future__ import annotations

import json

from ctopen import recipe as recipes
from ctopen import settings
from ctopen.cli import emit
from ctopen.errors import CtopenError
from ctopen.load import load
from ctopen.search import recommend, specs_from_recipe


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
                   help="take each column's hierarchy and options from this recipe's generalize steps")
    p.add_argument("--sheet", help="workbook sheet (default: the first sheet with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.l is not None and not args.sensitive:
        raise CtopenError("--l needs --sensitive COL: the attribute whose values each group must vary in.")
    table = load(args.file, sheet=args.sheet)
    specs = specs_from_recipe(recipes.load(args.hierarchies)) if args.hierarchies else None
    rec = recommend(table.df, args.qi, k=args.k, sensitive=args.sensitive, l=args.l,
                    max_suppression=args.max_suppression, hierarchies=specs)
    emit(rec.to_dict(), args.json, text(rec, table.name))
    return 0


def text(rec, name: str = "") -> str:
    levels = ", ".join(f"{c} level {v}" for c, v in rec.levels.items())
    lines = [
        f"{name + ': ' if name else ''}{rec.rows:,} records; target k = {rec.target.get('k')}"
        + (f", l = {rec.target['l']} on {rec.target['sensitive']}" if "l" in rec.target else "")
        + f", at most {rec.target.get('max_suppression', 0):.1%} suppressed",
        f"  Levels: {levels}",
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
