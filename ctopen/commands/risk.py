"""`python -m ctopen risk FILE --qi COL [--qi COL ...] [--sensitive COL ...] [--k 5] [--sheet NAME] [--json]`:
could someone be picked out of this file? k-anonymity and re-identification figures over the QIs."""
from __future__ import annotations

from ctopen.cli import emit
from ctopen.load import load
from ctopen.risk import RiskReport, assess, key_combinations
from ctopen.settings import DEFAULT_K


def register(sub) -> None:
    p = sub.add_parser("risk", help="k-anonymity and re-identification risk over the quasi-identifiers",
                       description="Group sizes (k), records at risk, uniques, l-diversity and the columns that "
                                   "single people out, computed on the values as loaded.")
    p.add_argument("file")
    p.add_argument("--qi", action="extend", nargs="+", required=True, metavar="COL",
                   help="a quasi-identifier column (repeat for each)")
    p.add_argument("--sensitive", action="extend", nargs="+", default=[], metavar="COL",
                   help="a sensitive attribute column, for l-diversity (repeat for each)")
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"group-size threshold (default {DEFAULT_K})")
    p.add_argument("--sheet", help="workbook sheet (default: the first sheet with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    table = load(args.file, sheet=args.sheet)
    report = assess(table.df, args.qi, args.sensitive, k=args.k, combinations=True)
    emit(report.to_dict(), args.json, text(report, table.name))
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def text(r: RiskReport, name: str = "") -> str:
    """The report as a few readable lines."""
    n = r.records
    lines = [f"{name + ': ' if name else ''}{n:,} records over {', '.join(r.quasi)}"
             + (f" ({r.suppressed:,} suppressed)" if r.suppressed else "")]
    if not n:
        lines.append("  No records to assess.")
        return "\n".join(lines)
    lines += [
        f"  Smallest group (k): {r.k_min:,}"
        + ("  (someone is alone in a group: they can be picked out)" if r.k_min == 1 else ""),
        f"  Records in groups smaller than {r.k_threshold}: {r.records_at_risk:,} ({_pct(r.records_at_risk_share)})",
        f"  Unique records: {r.uniques:,} ({_pct(r.uniques_share)})",
        f"  Groups: {r.classes:,}; highest re-identification risk {_pct(r.highest_risk)}, average {_pct(r.average_risk)}",
        "  Group sizes:",
    ]
    for b in r.histogram:
        size = f"{b.min_size}" if b.min_size == b.max_size else f"{b.min_size}-{b.max_size}"
        lines.append(f"    {size:>12}: {b.classes:>9,} groups {b.records:>11,} records")
    for col, d in r.l_diversity.items():
        lines.append(f"  {col}: every group holds at least {d.distinct} distinct value(s) (entropy-l {d.entropy:.2f})")
    keys = key_combinations(r)
    if keys:
        lines.append("  Smallest combinations that make at least 5% of records unique:")
        for c in keys:
            lines.append(f"    {' + '.join(c.columns)}: {c.uniques:,} unique records (k = {c.k_min})")
    if r.combinations_note:
        lines.append(f"  Note: {r.combinations_note}")
    return "\n".join(lines)
