"""A profile of every column: type, counts, most common values, range, examples."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ctopen.load import Table
from ctopen.values import SMALL, is_missing, parse_dates, parse_numbers

EXAMPLES = 3
TOP = 5


@dataclass
class ColumnProfile:
    name: str
    type: str
    non_empty: int
    distinct: int
    share_unique: float          # distinct / non-empty
    top: list[dict] = field(default_factory=list)   # [{"value", "count"}]
    min: str | None = None
    max: str | None = None
    examples: list[str] = field(default_factory=list)  # exactly as in the file

    def to_dict(self) -> dict:
        return asdict(self)


def profile_column(series: pd.Series, kind: str) -> ColumnProfile:
    return profile_columns([series], [kind])[0]


def profile(table: Table) -> list[ColumnProfile]:
    columns = list(table.df.columns)
    return profile_columns([table.df[c] for c in columns], [table.types.get(c, "text") for c in columns])


def profile_columns(columns: list[pd.Series], kinds: list[str]) -> list[ColumnProfile]:
    """Profiles of many columns; the ranges of all numeric (and all date) columns are read in one pass, so a file of
    10,000 columns costs a few vectorised operations, not 10,000 of each."""
    out, numeric, dated = [], [], []
    for i, (series, kind) in enumerate(zip(columns, kinds)):
        counts, non_empty, examples = _counts(series)
        out.append(ColumnProfile(
            name=str(series.name), type=kind, non_empty=non_empty, distinct=len(counts),
            share_unique=round(len(counts) / non_empty, 4) if non_empty else 0.0,
            top=[{"value": str(v), "count": int(c)} for v, c in counts[:TOP]],
            examples=examples,
        ))
        if non_empty and kind in ("integer", "decimal"):
            numeric.append((i, [str(v) for v, _ in counts]))
        elif non_empty and kind == "date":
            dated.append((i, [str(v) for v, _ in counts]))
    for i, (low, high) in _ranges(numeric, parse_numbers).items():
        out[i].min, out[i].max = _num(low), _num(high)
    for i, (low, high) in _ranges(dated, parse_dates).items():
        out[i].min, out[i].max = low.date().isoformat(), high.date().isoformat()
    return out


def _counts(series: pd.Series) -> tuple[list[tuple[object, int]], int, list[str]]:
    """(distinct values with their counts, most common first, ties in order of first appearance; non-empty count;
    the first EXAMPLES distinct values exactly as in the file)."""
    if len(series) <= SMALL:   # plain Python: a wide file has thousands of short columns
        values = [v for v in series.tolist() if not is_missing(v)]
        counts = sorted(Counter(values).items(), key=lambda kv: -kv[1])   # stable: ties keep first appearance
        return counts, len(values), [str(v) for v in list(dict.fromkeys(values))[:EXAMPLES]]
    values = series.dropna()
    counts = values.value_counts(sort=True)
    return (list(zip(counts.index.tolist(), counts.tolist())), int(len(values)),
            [str(v) for v in values.drop_duplicates().head(EXAMPLES)])


def _ranges(columns: list[tuple[int, list[str]]], parse) -> dict[int, tuple]:
    """{column: (min, max)} of the values `parse` reads, every column's distinct values parsed in one call."""
    if not columns:
        return {}
    owner = np.repeat([i for i, _ in columns], [len(v) for _, v in columns])
    parsed = parse(pd.Series([v for _, values in columns for v in values], dtype="str"))
    frame = pd.DataFrame({"owner": owner, "value": parsed.to_numpy()}).dropna()
    if frame.empty:
        return {}
    grouped = frame.groupby("owner")["value"].agg(["min", "max"])
    return {int(i): (row["min"], row["max"]) for i, row in grouped.iterrows()}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def profile_dict(table: Table) -> dict:
    """The `profile --json` object (a public interface: keep the keys)."""
    src = table.source
    return {
        "file": src.file,
        "format": src.format,
        "sheet": src.sheet,
        "sheets": src.sheets,
        "encoding": src.encoding,
        "delimiter": src.delimiter,
        "header_row": src.header_row,
        "rows": int(len(table.df)),
        "columns": [c.to_dict() for c in profile(table)],
        "warnings": list(table.warnings),
        "skipped": src.skipped,
        "sha256": src.sha256,
        # the table's points checked against Connecticut (ctopen.geo.location_check), or null without points
        "location": _location(table),
    }


def _location(table: Table) -> dict | None:
    from ctopen import geo
    try:
        return geo.location_check(table.df)
    except geo.GeoError:
        return None
