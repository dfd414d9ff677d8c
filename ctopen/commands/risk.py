"""`python -m ctopen risk FILE --qi COL [--qi COL ...] [--sensitive COL ...] [--k 5] [--population N] [--sheet NAME] [--json]`:
could someone be picked out of this file? k-anonymity and re-identification figures over the QIs; with
--population, the people estimated unique among the N the records could be about (ctopen.population)."""
from __future__ import annotations

import argparse

from ctopen import engine
from ctopen.cli import emit
from ctopen.load import load
from ctopen.population import _pct as pct
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
    p.add_argument("--population", metavar="N", type=_population,
                   help="how many people the records could be about (3605944 for Connecticut, a town's or county's "
                        "population): adds the estimated uniques in that population")
    p.add_argument("--sheet", help="workbook sheet (default: the first sheet with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    engine.add_arguments(p)
    p.set_defaults(func=run)


def _population(text: str) -> int:
    """N as typed: "3605944", "3,605,944" or "3605944.0"."""
    cleaned = str(text).replace(",", "").replace("_", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of people") from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of people")
    return int(value)


def run(args) -> int:
    if engine.selected(args) == "duckdb":
        from pathlib import Path
        report = engine.risk_report(args.file, args.qi, args.sensitive, k=args.k, combinations=True,
                                    population=getattr(args, "population", None), **engine.options(args))
        emit(report.to_dict(), args.json, text(report, Path(args.file).name))
        return 0
    table = load(args.file, sheet=args.sheet)
    report = assess(table.df, args.qi, args.sensitive, k=args.k, combinations=True,
                    population=getattr(args, "population", None))
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
    if r.population is not None:
        p = r.population
        lines.append(f"  In a population of {p.size:,} people (sampling fraction {p.sampling_fraction:.4g}):")
        lines.append(f"    {p.sentence()}")
        lines.append(f"    Records whose group among them is smaller than {r.k_threshold}: about "
                     f"{p.journalist_records_at_risk:,.1f} (journalist); records an intruder linking the whole file "
                     f"would match correctly: {pct(p.marketer_risk)} (marketer)")
        for m, e in p.estimates.items():
            lines.append(f"    {m}: " + (f"{e.uniques:,.1f} population uniques" if e.uniques is not None
                                           else f"did not converge ({e.detail})"))
        for note in p.notes:
            lines.append(f"    Note: {note}")
    return "\n".join(lines)
