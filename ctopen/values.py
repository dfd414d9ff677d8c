"""What a column of text values holds: its type, and parsing of numbers and dates written as text.

Types: text, integer, decimal, date, boolean. A code with leading zeros ("06810") stays text.
A number written "295,000" or "$1,200" is a number whose formatting is reported as a problem.
"""
from __future__ import annotations

import re

import numpy as np
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


SMALL = 1_000   # a column of at most this many rows is sampled in plain Python (wide files: thousands of them)


def distinct_sample(series: pd.Series, n: int = SAMPLE_DISTINCT) -> list[str]:
    """Distinct non-empty values (as str) of at most SAMPLE_ROWS rows, at most n of them, drawn deterministically,
    in the order they first appear (when not sampled)."""
    if len(series) <= SMALL and n >= SMALL:
        return [str(v) for v in dict.fromkeys(series.tolist()) if not is_missing(v)]
    series = series.dropna()
    if len(series) > SAMPLE_ROWS:
        series = series.sample(SAMPLE_ROWS, random_state=0)
    values = pd.Series(series.unique(), dtype="str")
    if len(values) > n:
        values = values.sample(n, random_state=0)
    return values.tolist()


def is_missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def infer_type(series: pd.Series) -> tuple[str, str | None]:
    """(type, example of a formatted number or None) for a column of text values."""
    return infer_types([series])[0]


def infer_types(columns) -> list[tuple[str, str | None]]:
    """`infer_type` of many columns at once (the one implementation): every column's distinct sample is tested in
    one pass over all of them, so a file of 10,000 columns costs a few vectorised operations, not 10,000 of each.
    The tests, in order, the first that holds for every value of a column deciding: boolean, integer (a code
    with leading zeros stays text), decimal, formatted number (thousands separators, currency), date (a "no end
    date" sentinel such as 12/31/9999 still counts as a date), else text."""
    samples = [distinct_sample(c) for c in columns]
    out: list[tuple[str, str | None]] = [("text", None)] * len(samples)
    sizes = np.fromiter((len(v) for v in samples), dtype=np.int64, count=len(samples))
    if not sizes.sum():
        return out
    owner = np.repeat(np.arange(len(samples)), sizes)
    values = pd.Series([v for sample in samples for v in sample], dtype="str")
    stripped = values.str.strip()
    n = len(samples)

    def every(flag) -> np.ndarray:
        """Per column: does `flag` hold for all of its values (and it has some)?"""
        bad = np.bincount(owner[~np.asarray(flag, dtype=bool)], minlength=n)
        return (bad == 0) & (sizes > 0)

    decided = sizes == 0
    kinds = np.array(["text"] * n, dtype=object)

    def settle(mask: np.ndarray, kind: str) -> None:
        nonlocal decided
        kinds[mask & ~decided] = kind
        decided = decided | mask

    settle(every(stripped.str.lower().isin(BOOLEAN)), "boolean")
    integer = stripped.str.fullmatch(INTEGER.pattern).fillna(False).to_numpy(dtype=bool)
    digits = stripped.str.lstrip("+-")
    code = (digits.str.len().gt(1) & digits.str.startswith("0")).fillna(False).to_numpy(dtype=bool)
    all_int = every(integer)
    has_code = np.bincount(owner[code], minlength=n) > 0
    settle(all_int & has_code, "text")     # a code: leading zeros matter
    settle(all_int, "integer")
    settle(every(stripped.str.fullmatch(DECIMAL.pattern).fillna(False)), "decimal")
    formatted = every(stripped.str.fullmatch(FORMATTED.pattern).fillna(False)) & ~decided
    examples: dict[int, str] = {}
    if formatted.any():
        plain = stripped.str.replace(r"[,$\s()]", "", regex=True).str.fullmatch(INTEGER.pattern).fillna(False)
        plain_int = every(plain)
        for i in np.flatnonzero(formatted):
            example = next((v for v in samples[i] if ("," in v or "$" in v)), None)
            if example is not None:
                examples[i] = example
                settle(np.arange(n) == i, "integer" if plain_int[i] else "decimal")
    dated = every(stripped.str.fullmatch(DATE.pattern).fillna(False)) & ~decided
    if dated.any():
        rows = dated[owner]
        dates, outside = _read_dates(stripped[rows])
        ok = np.ones(len(values), dtype=bool)
        ok[np.flatnonzero(rows)] = dates.notna().to_numpy() | outside
        settle(dated & every(ok), "date")
    return [(str(kinds[i]), examples.get(i)) for i in range(n)]


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_numbers(values) -> pd.Series:
    """Numbers from text (float; NaN where the text is not a number). The one number reader.

    Accepts plain numbers ("34", "-34.5", "1e3"), thousands separators ("295,000"), a currency sign
    ("$1,200") and parentheses for a negative ("(1,200)"). Words, "inf" and "nan" are not numbers.
    Works once per distinct value; the result keeps the index of a Series given."""
    s = pd.Series(values, dtype="str")
    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype="str").str.strip()
    negative = (u.str.startswith("(") & u.str.endswith(")")).fillna(False).to_numpy(dtype=bool)
    # spaces go unless they sit between two digits ("$ 1,200" is a number, "3 4" is not)
    cleaned = u.str.replace(r"[,$()]", "", regex=True)
    spaced = cleaned.str.contains(r"\s").fillna(False).astype(bool)
    if spaced.any():
        cleaned = cleaned.where(~spaced, cleaned[spaced].str.replace(r"\s+(?!\d)|(?<!\d)\s+", "", regex=True))
    ok = cleaned.str.fullmatch(NUMBER.pattern).fillna(False).astype(bool)
    numbers = pd.to_numeric(cleaned.where(ok), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    numbers = np.where(negative, -numbers, numbers)
    out = np.append(numbers, np.nan)[codes]           # code -1 (missing) -> the NaN appended
    return pd.Series(out, index=s.index, name=s.name, dtype=float)


# --- dates -------------------------------------------------------------------------------------

US_DATES = ["%m/%d/%Y", "%m/%d/%y"]
US_TIMES = [" %I:%M:%S %p", " %H:%M:%S", " %I:%M %p", " %H:%M", " %I:%M:%S%p", " %I:%M%p", ""]
OTHER_DATES = ["%Y/%m/%d", "%Y%m%d"]
EXCEL_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")   # 10000..99999 = 1927-05-18 .. 2173-10-14
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# An ISO time's offset ("Z", "+02:00", "-0500", " UTC"): the date and time are read as written (the
# record's own wall clock), the offset is dropped, never converted.
OFFSET = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$",
                    re.IGNORECASE)
# Dates a nanosecond timestamp can hold. A date written outside it (the "no end date" sentinels
# 12/31/9999 and 0001-01-01, a year 3000) is no date: NA where a date is needed, never an error.
FIRST_DATE = pd.Timestamp("1677-09-22")
LAST_DATE = pd.Timestamp("2262-04-10")


def parse_dates(values) -> pd.Series:
    """Dates from text (datetime64[ns]; NaT where the text is not a date). The one date reader.

    Explicit formats only, never dateutil's guesses: ISO 8601 ("2013-03-21", "2013-3-5",
    "2013-03-21T10:00:00.000", with an offset "2013-03-21T10:00:00Z" or "+02:00", read as written),
    US "03/21/2013", "3/21/13", "03/21/2013 12:00:00 AM", "03/21/2013 22:15", "2013/03/21",
    "20130321", and Excel serial day numbers (1900 system, five digits). Connecticut files write the
    month first, so "04/03/2013" is April 3 and a day-first "21/03/2013" is not a date.
    A date outside FIRST_DATE..LAST_DATE (a sentinel such as 12/31/9999) is NaT.
    Works once per distinct value; the result keeps the index of a Series given."""
    return _read_dates(values)[0]


def _read_dates(values) -> tuple[pd.Series, np.ndarray]:
    """(dates as parse_dates gives them, per value: written as a date but outside the range)."""
    s = pd.Series(values, dtype="str")
    codes, uniques = pd.factorize(s)
    parsed = _parse_distinct(pd.Series(uniques, dtype="str"))
    outside = parsed.notna() & ((parsed < FIRST_DATE) | (parsed > LAST_DATE))
    inside = parsed.where(~outside).astype("datetime64[ns]").to_numpy()
    dates = np.append(inside, np.datetime64("NaT", "ns"))[codes]
    flags = np.append(outside.to_numpy(dtype=bool), False)[codes]
    return pd.Series(dates, index=s.index, name=s.name), flags


def _parse_distinct(u: pd.Series) -> pd.Series:
    """Distinct texts -> datetime64[us] (wide enough for year 1 to 9999), NaT where not a date."""
    u = u.str.strip()
    offset = u.str.contains(r"(?i)\d:\d\d.*(?:Z|UTC|GMT|[+-]\d\d:?\d\d|[+-]\d\d)$").fillna(False).astype(bool)
    if offset.any():
        u = u.where(~offset, u[offset].str.replace(OFFSET, r"\1", regex=True))
    out = pd.Series(pd.NaT, index=u.index, dtype="datetime64[us]")
    if not len(u):
        return out

    def attempt(mask: pd.Series, fmt: str) -> None:
        todo = mask & out.isna()
        if todo.any():
            got = pd.to_datetime(u[todo], format=fmt, errors="coerce")
            out[todo] = got.astype("datetime64[us]")

    iso = u.str.match(r"\d{4}-").fillna(False).astype(bool)
    attempt(iso, "ISO8601")
    slash = u.str.match(r"\d{1,2}/\d{1,2}/\d").fillna(False).astype(bool)
    if slash.any():
        long_year = slash & u.str.match(r"\d{1,2}/\d{1,2}/\d{4}").fillna(False).astype(bool)
        for date in US_DATES:
            part = long_year if date.endswith("Y") else slash & ~long_year
            for time in US_TIMES:
                attempt(part, date + time)
    attempt(u.str.match(r"\d{4}/").fillna(False).astype(bool), OTHER_DATES[0])
    attempt(u.str.fullmatch(r"\d{8}").fillna(False).astype(bool), OTHER_DATES[1])
    serial = out.isna() & u.str.fullmatch(EXCEL_SERIAL.pattern).fillna(False).astype(bool)
    if serial.any():
        days = pd.to_numeric(u[serial], errors="coerce")
        out[serial] = (EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).astype("datetime64[us]")
    return out
