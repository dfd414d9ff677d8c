"""Files -> Table. (First cut: CSV only; the full loader replaces this.)"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ctopen.errors import LoadError


@dataclass
class SourceInfo:
    file: str
    format: str = "csv"
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    encoding: str | None = "utf-8"
    delimiter: str | None = ","
    header_row: int = 1
    size_bytes: int = 0
    sha256: str = ""
    skipped: list[dict] = field(default_factory=list)   # what was dropped, where, why

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    """The loaded data: every value as text (pandas "str" dtype, missing = NA) plus where it came from."""
    df: pd.DataFrame
    source: SourceInfo
    types: dict[str, str] = field(default_factory=dict)   # column -> text/integer/decimal/date/boolean
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.file


def load(path, sheet: str | None = None, name: str | None = None) -> Table:
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # noqa: BLE001 (first cut)
        raise LoadError(f"The file could not be read: {exc}") from exc
    return Table(df=df, source=SourceInfo(file=name or path.name))
