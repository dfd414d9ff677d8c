"""What a column of text values holds: its type, and parsing of numbers and dates written as text.

Types: text, integer, decimal, date, boolean. A code with leading zeros ("06810") stays text.
A number written "295,000" or "$1,200" is a number whose formatting is reported as a problem.
"""
from __future__ import annotations

import re

import pandas as pd

SAMPLE_DISTINCT = 20_000
SAMPLE_ROWS = 200_000   # type inference looks at the distinct values of at most this many rows
BOOLEAN = {"true", "false", "yes", "no", "y", "n", "t", "f"}
INTEGER = re.compile(r"^[+-]?\d+$")
DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
FORMATTED = re.compile(r"^\(?[+-]?\s?\$?\s?[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\)?$")
DATE = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}/\d{1,2}/\d{2,4}( \d{1,2}:\d{2}(:\d{2})?( ?[AaPp][Mm])?)?"
    r"|\d{4}/\d{1,2}/\d{1,2})$"
)


def is_blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and v != v:
        return True
    if v is pd.NA:
        return True
    return isinstance(v, str) and not v.strip()


def distinct_sample(series: pd.Series, n: int = SAMPLE_DISTINCT) -> pd.Series:
    """Distinct non-empty values (as str) of at most SAMPLE_ROWS rows, at most n of them, drawn deterministically."""
    series = series.dropna()
    if len(series) > SAMPLE_ROWS:
        series = series.sample(SAMPLE_ROWS, random_state=0)
    values = series.unique()
    values = pd.Series(values, dtype="str")
    if len(values) > n:
        values = values.sample(n, random_state=0)
    return values


def infer_type(series: pd.Series) -> tuple[str, str | None]:
    """(type, example of a formatted number or None) for a column of text values."""
    values = distinct_sample(series)
    if values.empty:
        return "text", None
    stripped = values.str.strip()
    if stripped.str.lower().isin(BOOLEAN).all():
        return "boolean", None
    if stripped.str.fullmatch(INTEGER.pattern).all():
        digits = stripped.str.lstrip("+-")
        if (digits.str.len().gt(1) & digits.str.startswith("0")).any():
            return "text", None  # a code: leading zeros matter
        return "integer", None
    if stripped.str.fullmatch(DECIMAL.pattern).all():
        return "decimal", None
    if stripped.str.fullmatch(FORMATTED.pattern).all():
        example = next((v for v in values if ("," in v or "$" in v)), None)
        if example is not None:
            plain = stripped.str.replace(r"[,$\s()]", "", regex=True)
            return ("integer" if plain.str.fullmatch(INTEGER.pattern).all() else "decimal"), example
    if stripped.str.fullmatch(DATE.pattern).all() and parse_dates(stripped).notna().all():
        return "date", None
    return "text", None


def parse_numbers(series: pd.Series) -> pd.Series:
    """Numbers from text, accepting thousands separators, currency signs and (negative) parentheses."""
    s = series.astype("str").str.strip()
    negative = s.str.startswith("(") & s.str.endswith(")")
    cleaned = s.str.replace(r"[,$\s()]", "", regex=True)
    out = pd.to_numeric(cleaned, errors="coerce")
    return out.where(~negative.fillna(False), -out)


def parse_dates(series: pd.Series) -> pd.Series:
    """Dates from text: ISO, "03/21/2013 12:00:00 AM", and Excel serial numbers (1900 system)."""
    s = series.astype("str").str.strip()
    uniques = pd.Series(s.dropna().unique(), dtype="str")
    parsed = pd.to_datetime(uniques, errors="coerce", format="mixed")
    serial = uniques.str.fullmatch(r"\d{5}(\.\d+)?").fillna(False)
    if serial.any():
        days = pd.to_numeric(uniques[serial], errors="coerce")
        parsed[serial] = pd.Timestamp("1899-12-30") + pd.to_timedelta(days, unit="D")
    lookup = dict(zip(uniques, parsed))
    return s.map(lookup).astype("datetime64[ns]")
