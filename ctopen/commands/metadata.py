"""`python -m ctopen metadata validate|socrata|dcat R.json [--file FILE] [--json]`: the recipe's metadata.

validate prints {"complete", "score", "findings": [{"check", "field", "severity", "message", "suggestion"}],
"checklist"}; with --strict it exits 1 when the metadata is not complete. With --file, the column
descriptions are checked against the columns that would be published (the recipe applied to FILE).
socrata prints the Socrata view payload; dcat prints the DCAT-US 1.1 dataset record.
"""
from __future__ import annotations

from pathlib import Path

from ctopen import metadata as md
from ctopen.cli import emit
from ctopen.errors import RecipeError


def register(sub) -> None:
    p = sub.add_parser("metadata", help="validate or render a recipe's metadata", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["validate", "socrata", "dcat"])
    p.add_argument("recipe", metavar="R.json", help="a saved recipe (its \"metadata\"), or a metadata JSON object")
    p.add_argument("--file", default=None, help="the data file, to check column descriptions against what is published")
    p.add_argument("--sheet", default=None, help="sheet of a workbook")
    p.add_argument("--strict", action="store_true", help="validate: exit 1 when the metadata is not complete")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def read_metadata(path) -> tuple[dict, dict]:
    """(metadata, whole recipe) from a recipe file; a bare metadata object is accepted too."""
    from ctopen.recipe import strict_json
    path = Path(path)
    try:
        data = strict_json(path.read_bytes(), name=f"The recipe file {path.name}")
    except OSError as exc:
        raise RecipeError(f"The recipe file {path} could not be read ({exc.strerror or exc}).") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"The recipe file {path.name} must hold a JSON object.")
    if "metadata" in data:
        if not isinstance(data["metadata"], dict):
            raise RecipeError(f"The \"metadata\" in {path.name} must be a JSON object.")
        return data["metadata"], data
    if set(data) & set(md.KEYS):
        return data, {}
    return {}, data


def _review(args, meta: dict, recipe: dict):
    """With --file: the Review of FILE and the recipe (the release and the portal view the app would send)."""
    if not args.file:
        return None
    from ctopen.load import load
    from ctopen.review import Review
    table = load(args.file, sheet=args.sheet)
    return Review(table.df, {"version": 1, "steps": [], **recipe, "metadata": meta}, source=table.source.to_dict())


def run(args) -> int:
    meta, recipe = read_metadata(args.recipe)
    review = _review(args, meta, recipe)
    columns = [str(c) for c in review.release.columns] if review is not None else None
    if args.action == "socrata":   # with --file: exactly the view publish sends (columns typed as sent)
        emit(review.portal_view.view if review is not None else md.to_socrata(meta), args.json)
        return 0
    if args.action == "dcat":
        emit(md.to_dcat(meta), args.json)
        return 0
    result = md.validate(meta, columns=columns)
    emit(result.to_dict(), args.json, _text(result))
    return 1 if args.strict and not result.complete else 0


def _text(v) -> str:
    lines = [f"Metadata {'complete' if v.complete else 'incomplete'}: {v.score}% of the checklist done."]
    lines += [f"  [{'x' if c.ok else ' '}] {c.label}" for c in v.checklist]
    lines += [f"  {f.severity:<7} {f.message}" for f in v.findings]
    return "\n".join(lines)
