"""`python -m ctopen check FILE [--recipe R.json] [--sheet NAME] [--json]`: the data-preparation checks.

With --recipe the checks run on the release table (the recipe applied to FILE), which is what is published.
Prints {"findings": [{"check", "column", "severity", "message", "fix", "count"}]}; "fix" is a recipe step
(or null) to add to the recipe's "steps". Exit 0 whatever is found.
"""
from __future__ import annotations

from ctopen import checks
from ctopen.cli import emit
from ctopen.load import load


def register(sub) -> None:
    p = sub.add_parser("check", help="data-preparation checks (headers, number formats, ALL CAPS, formulas, ...)",
                       description=__doc__.splitlines()[0])
    p.add_argument("file", metavar="FILE", help="the file to check")
    p.add_argument("--recipe", default=None, metavar="R.json", help="check the release table: this recipe applied to FILE")
    p.add_argument("--sheet", default=None, help="sheet of a workbook (default: the first with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def release_findings(table, recipe: dict | None) -> list:
    """Findings on the table as it would be released (the recipe applied), else on the loaded table."""
    if not recipe or not recipe.get("steps"):
        return checks.run(table)
    from ctopen.review import Review
    applied = Review(table.df, recipe, source=table.source.to_dict()).applied
    return checks.run(applied.df, types=table.types, source=table.source)


def run(args) -> int:
    table = load(args.file, sheet=args.sheet)
    recipe = None
    if args.recipe:
        from ctopen import recipe as recipes
        recipe = recipes.load(args.recipe)
    findings = release_findings(table, recipe)
    result = {"findings": [f.to_dict() for f in findings]}
    emit(result, args.json, _text(args.file, findings))
    return 0


def _text(name, findings) -> str:
    if not findings:
        return f"{name}: no data-preparation problems found."
    lines = [f"{name}: {len(findings)} finding(s)"]
    for f in findings:
        fix = f"  [fix: {f.fix}]" if f.fix else ""
        lines.append(f"  {f.severity:<7} {f.check:<20} {f.message}{fix}")
    return "\n".join(lines)
