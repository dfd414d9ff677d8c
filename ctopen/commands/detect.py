"""`python -m ctopen detect FILE [--sheet NAME] [--json]`

Proposes a role for every column (direct identifier, quasi-identifier, sensitive attribute, other) with
the kind of data, a confidence and the evidence. --json prints
{"file", "rows", "engine", "columns": [{"name", "role", "entity", "confidence", "evidence": [...]}]}.
"""
from __future__ import annotations

from ctopen.cli import emit
from ctopen.load import load


def register(sub) -> None:
    p = sub.add_parser("detect", help="find identifiers, quasi-identifiers and sensitive attributes in every column",
                       description=__doc__.splitlines()[0])
    p.add_argument("file", metavar="FILE", help="the file to review (CSV, TSV, XLSX, XLS, Parquet, JSON)")
    p.add_argument("--sheet", default=None, help="sheet of a workbook (default: the first with data)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def result(file: str, detection) -> dict:
    """The public JSON shape (keys are a contract: file, rows, engine, columns[name, role, entity, confidence, evidence])."""
    return {
        "file": file,
        "rows": int(detection.rows),
        "engine": detection.engine,
        "columns": [{"name": c.name, "role": c.role, "entity": c.entity, "confidence": c.confidence,
                     "evidence": list(c.evidence)} for c in detection.columns],
    }


def _text(out: dict, detection) -> str:
    lines = [f"{out['file']}: {out['rows']:,} rows, {len(out['columns'])} columns", f"engine: {out['engine']}", ""]
    width = max((len(c["name"]) for c in out["columns"]), default=4)
    for c in out["columns"]:
        lines.append(f"{c['name']:<{width}}  {c['role']:<9}  {c['entity']:<16}  {c['confidence']:.0%}  "
                     f"{c['evidence'][0] if c['evidence'] else ''}")
    for c in detection.text_findings:
        if c.text_scan.cells_with_pii:
            lines.append(f"free text in {c.name}: {c.text_scan.summary}")
    return "\n".join(lines)


def run(args) -> int:
    from ctopen.detect import detect

    table = load(args.file, sheet=args.sheet)
    detection = detect(table.df)
    out = result(str(args.file), detection)
    emit(out, args.json, _text(out, detection))
    return 0
