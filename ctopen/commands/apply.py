"""`python -m ctopen apply FILE --recipe RECIPE.json --out OUT.csv|OUT.xlsx|OUT.geojson|OUT.gpkg|OUT.shp.zip [--sheet NAME] [--log LOG.json] [--json]`

Re-applies a saved recipe to a file (for example next month's update) and writes the release table, or, for a
release with a location (a spatial_aggregate map of counts, or points), the map layer: GeoJSON (RFC 7946), a
GeoPackage or a zipped shapefile (ctopen.geo.write_map_files).
A pseudonymize step reads its key from the environment variable CTOPEN_PSEUDONYM_KEY.
"""
from __future__ import annotations

import json
from pathlib import Path

from ctopen import recipe as recipes
from ctopen.cli import emit
from ctopen.errors import CtopenError
from ctopen.load import load
from ctopen.transform import apply

EXCEL_MAX_ROWS = 1_048_575  # plus the header row


def register(sub) -> None:
    p = sub.add_parser("apply", help="apply a saved recipe to a file and write the release table",
                       description=__doc__.splitlines()[0])
    p.add_argument("file", metavar="FILE", help="the file to transform")
    p.add_argument("--recipe", required=True, metavar="RECIPE.json", help="the saved recipe")
    p.add_argument("--out", required=True, metavar="OUT.csv|OUT.xlsx|OUT.geojson|OUT.gpkg|OUT.shp.zip",
                   help="where to write the release table (or its map layer)")
    p.add_argument("--sheet", default=None, help="sheet of a workbook (default: the first with data)")
    p.add_argument("--log", default=None, metavar="LOG.json", help="also write what each step did as JSON")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    from ctopen import engine
    engine.add_arguments(p)     # --engine duckdb: files larger than memory, written to .csv or .parquet
    p.set_defaults(func=run)


def run(args) -> int:
    from ctopen import engine
    if engine.selected(args) == "duckdb":
        return _run_duckdb(args)
    out = Path(args.out)
    kind = map_kind(out)
    if out.suffix.lower() not in (".csv", ".xlsx") and kind is None:
        raise CtopenError(f"The output {out.name} must end in .csv or .xlsx (a table), or .geojson, .gpkg or .shp.zip (a map).")
    recipe = recipes.load(args.recipe)
    table = load(args.file, sheet=args.sheet)
    # the same release as `publish` and the app: a suppress step without columns works over the effective
    # quasi-identifiers (detection on this file and the recipe's recorded decisions)
    from ctopen.review import Review
    review = Review(table.df, recipe, source=table.source.to_dict())
    result = review.applied
    # what is written is what would be published: formula-like cells and headers neutralised (unless the recipe's
    # keep_formulas keeps a column as it is)
    if kind is not None:
        from ctopen.geo import map_location     # the place as the recipe's spatial_aggregate names it
        write_map(review.portal_view.rows, out, kind, map_location(review.portal_view.rows, recipe))
    else:
        write(review.portal_view.rows if out.suffix.lower() == ".csv" else result.df, out)
    summary = {"file": str(args.file), "out": str(out), "rows_in": int(len(table.df)), **result.to_dict()}
    return _report(args, summary)


def _report(args, summary: dict) -> int:
    """The summary in the --log file (when asked) and on the output, whichever engine made the release."""
    if args.log:
        try:
            Path(args.log).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
        except OSError as exc:
            raise CtopenError(f"The log {args.log} could not be written ({exc.strerror or exc}).") from exc
    emit(summary, args.json, _text(summary))
    return 0


MAP_SUFFIXES = {".geojson": "geojson", ".gpkg": "geopackage", ".shp.zip": "shapefile"}


def map_kind(out: Path) -> str | None:
    name = out.name.lower()
    return next((kind for suffix, kind in MAP_SUFFIXES.items() if name.endswith(suffix)), None)


def write_map(df, out: Path, kind: str, where: dict | None = None) -> None:
    """The release as a map layer (GeoError when it has no location: no hexagon, town, county or point)."""
    import shutil
    import tempfile
    from ctopen import geo
    stem = out.name[: -len(next(s for s, k in MAP_SUFFIXES.items() if k == kind))] or "map"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = geo.write_map_files(df, tmp, stem, where) if kind != "geojson" else None
            if kind == "geojson":
                out.write_text(json.dumps(geo.to_geojson(df, where), ensure_ascii=False), encoding="utf-8")
            else:
                shutil.copyfile(paths[kind], out)
    except OSError as exc:
        raise CtopenError(f"The output {out} could not be written ({exc.strerror or exc}).") from exc


def _run_duckdb(args) -> int:
    """The same summary (and, for .csv, the same bytes) from the DuckDB engine (ctopen.engine.duck.apply_to)."""
    import sys

    from ctopen import engine
    summary = engine.apply_to(args.file, recipes.load(args.recipe), args.out, **engine.options(args))
    for note in summary.pop("_notes", []):
        print(f"note: {note}", file=sys.stderr)
    return _report(args, summary)


def write(df, out: Path) -> None:
    """CSV (UTF-8) or XLSX with every value written as text (leading zeros kept, nothing run as a formula)."""
    try:
        if out.suffix.lower() == ".csv":
            from ctopen.publish.bundle import csv_bytes
            out.write_bytes(csv_bytes(df))
            return
        if len(df) > EXCEL_MAX_ROWS:
            raise CtopenError(f"The release has {len(df):,} rows, more than an Excel sheet holds: write a .csv.")
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("release")
        ws.append([str(c) for c in df.columns])
        for row in df.itertuples(index=False, name=None):
            cells = []
            for v in row:
                if v is None or v != v:  # NA / NaN
                    cells.append(None)
                    continue
                cell = WriteOnlyCell(ws, value=str(v))
                cell.data_type = "s"
                cells.append(cell)
            ws.append(cells)
        wb.save(out)
    except OSError as exc:
        raise CtopenError(f"The output {out} could not be written ({exc.strerror or exc}).") from exc


def _text(s: dict) -> str:
    lines = [f"{s['file']}: {s['rows_in']:,} rows in, {s['rows']:,} rows out "
             f"({s['suppressed']:,} records suppressed) -> {s['out']}"]
    lines += [f"  {i}. {e.get('message', e.get('op'))}" for i, e in enumerate(s["log"], start=1)]
    return "\n".join(lines)
