"""`python -m ctopen inventory [--file INVENTORY.xlsx] [--agency NAME] [--json]`: the high-value data
inventory (Step 1) — the CT Data Catalog on the portal (the cached copy when younger than a week, or
when the portal cannot be reached), or an agency's own inventory file."""
from __future__ import annotations

from ctopen import settings
from ctopen.cli import emit
from ctopen.errors import InventoryError
from ctopen.inventory import for_agency, read_catalog, read_inventory_file


def register(sub) -> None:
    p = sub.add_parser("inventory", help="list the datasets of the high-value data inventory (CT Data Catalog or a file)")
    p.add_argument("--file", help="an inventory workbook or CSV (the High Value Data Inventory template) instead of the catalog")
    p.add_argument("--sheet", help="workbook sheet (default: the sheet whose header matches best)")
    p.add_argument("--agency", help="only this agency's datasets (exact name, or part of it)")
    p.add_argument("--portal", default=settings.DEFAULT_PORTAL, help=f"portal to read the catalog from (default {settings.DEFAULT_PORTAL})")
    p.add_argument("--refresh", action="store_true", help="read the catalog from the portal even if a recent copy is cached")
    p.add_argument("--timeout", type=float, default=settings.CATALOG_TIMEOUT, help="seconds to wait for the portal")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.file:
        inv = read_inventory_file(args.file, sheet=args.sheet)
    else:
        inv = read_catalog(args.portal, refresh=args.refresh, timeout=args.timeout)
    if args.agency:
        inv = for_agency(inv, args.agency)
        if inv.df.empty:
            raise InventoryError(inv.warnings[-1])
    result = inv.to_dict()
    emit(result, args.json, _text(result))
    return 0


def _text(r: dict) -> str:
    when = f", read {r['fetched_at']}" + (" (cached copy)" if r["from_cache"] else "") if r["fetched_at"] else ""
    lines = [f"{r['source']}: {r['count']:,} dataset(s){when}"]
    mapped = [f"{f} <- {c!r}" for f, c in r["mapping"].items() if c]
    lines.append("  columns used: " + "; ".join(mapped))
    lines += [f"  ! {w}" for w in r["warnings"]]
    for d in r["datasets"]:
        extra = ", ".join(x for x in [f"published: {d['published']}" if d["published"] else "",
                                      f"updated: {d['update_frequency']}" if d["update_frequency"] else ""] if x)
        lines.append(f"  {(d['agency'] or '(no agency)')[:40]:<40}  {d['dataset'] or '(no name)'}" + (f"  [{extra}]" if extra else ""))
    return "\n".join(lines)
