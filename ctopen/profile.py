"""A profile of every column: type, counts, most common values, range, examples."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ctopen.load import Table
from ctopen.values import parse_dates, parse_numbers

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
    values = series.dropna()
    counts = values.value_counts(sort=True)
    non_empty = int(len(values))
    prof = ColumnProfile(
        name=str(series.name), type=kind, non_empty=non_empty, distinct=int(len(counts)),
        share_unique=round(len(counts) / non_empty, 4) if non_empty else 0.0,
        top=[{"value": str(v), "count": int(c)} for v, c in counts.head(TOP).items()],
        examples=[str(v) for v in values.drop_duplicates().head(EXAMPLES)],
    )
    if non_empty and kind in ("integer", "decimal"):
        numbers = parse_numbers(pd.Series(counts.index, dtype="str")).dropna()
        if len(numbers):
            prof.min, prof.max = _num(numbers.min()), _num(numbers.max())
    elif non_empty and kind == "date":
        dates = parse_dates(pd.Series(counts.index, dtype="str")).dropna()
        if len(dates):
            prof.min, prof.max = dates.min().date().isoformat(), dates.max().date().isoformat()
    return prof


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def profile(table: Table) -> list[ColumnProfile]:
    return [profile_column(table.df[c], table.types.get(c, "text")) for c in table.df.columns]


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
