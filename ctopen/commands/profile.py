"""`python -m ctopen profile FILE [--sheet NAME] [--json]`: what the loader read, and every column's profile."""
from __future__ import annotations

from ctopen.cli import emit
from ctopen.load import load
from ctopen.profile import profile_dict


def register(sub) -> None:
    p = sub.add_parser("profile", help="load a file and profile its columns")
    p.add_argument("file")
    p.add_argument("--sheet", help="workbook sheet (default: the first sheet with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    result = profile_dict(load(args.file, sheet=args.sheet))
    emit(result, args.json, _text(result))
    return 0


def _text(r: dict) -> str:
    lines = [f"{r['file']}: {r['rows']:,} rows x {len(r['columns'])} columns "
             f"({r['format']}{', sheet ' + repr(r['sheet']) if r['sheet'] else ''}"
             f"{', ' + r['encoding'] if r['encoding'] else ''}"
             f"{', delimiter ' + repr(r['delimiter']) if r['delimiter'] else ''}, header on row {r['header_row']})"]
    lines += [f"  ! {w}" for w in r["warnings"]]
    for c in r["columns"]:
        rng = f"  [{c['min']} .. {c['max']}]" if c["min"] is not None else ""
        lines.append(f"  {c['name']:<28} {c['type']:<8} {c['non_empty']:>9,} filled {c['distinct']:>9,} distinct{rng}"
                     f"  e.g. {', '.join(c['examples'])[:60]}")
    return "\n".join(lines)
