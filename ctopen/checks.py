"""Data-preparation checks from the CT Open Data Handbook ("Data preparation and formatting").

Each check is a small function `(df, ctx) -> list[Finding]` over the release table. A finding names
the check, the column (or None for the whole table), a severity (error / warning / info), a plain
message and, when a fix is safe, a recipe step (`fix`) that `ctopen.transform.apply` runs through
`FIX_OPS` below. Messages never quote cell values of text columns (they may be names): numbers and
headers only.

    findings = run(table_or_df)                 # all checks
    [f.to_dict() for f in findings]             # {"check","column","severity","message","fix","count"}
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from ctopen.values import DATE, SMALL, is_missing, parse_dates
from ctopen.errors import RecipeError

SEVERITIES = ("error", "warning", "info")
MAX_HEADER = 60            # characters; longer headers are hard to read on the portal
NUMERIC_SHARE = 0.95       # a column is numeric when this share of its values parse as numbers
CAPS_SHARE = 0.5           # a text column is "ALL CAPS" when this share of its values are

# --- findings ---------------------------------------------------------------------------------

@dataclass
class Finding:
    check: str
    column: str | None
    severity: str
    message: str
    fix: dict | None = None
    count: int = 0          # cells or rows affected (0 when not countable)

    def to_dict(self) -> dict:
        return {"check": self.check, "column": self.column, "severity": self.severity,
                "message": self.message, "fix": self.fix, "count": self.count}


@dataclass
class Context:
    types: dict[str, str] = field(default_factory=dict)   # column -> text/integer/decimal/date/boolean
    roles: dict[str, str] = field(default_factory=dict)   # column -> direct/quasi/sensitive/other
    source: object = None                                 # ctopen.load.SourceInfo or None
    cache: dict = field(default_factory=dict)             # column -> (parsed values, counts), computed once


# --- value parsing ----------------------------------------------------------------------------

CURRENCY = r"US\$|\$|€|£"
SCALES = {"thousand": 3, "k": 3, "million": 6, "mil": 6, "mln": 6, "m": 6, "billion": 9, "bn": 9, "b": 9, "trillion": 12}
UNITS = ["%", "lbs", "lb", "pounds", "kg", "g", "mg", "oz", "tons", "mi", "miles", "km", "ft", "feet", "sq ft", "sqft",
         "acres", "in", "inches", "gal", "gallons", "hrs", "hr", "hours", "min", "mins", "minutes", "days", "yrs", "years",
         "mph", "°f", "°c"]
_UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_NUM_RE = re.compile(
    rf"^(?P<neg>-)?\s*(?P<open>\()?\s*(?P<neg2>-)?\s*(?P<cur>{CURRENCY})?\s*(?P<neg3>-)?"
    rf"(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    rf"(?:\s*(?P<scale>thousand|million|billion|trillion|mil|mln|bn|[kmb])\b)?"
    rf"(?:\s*(?P<unit>{_UNIT_RE})(?![a-z]))?\s*(?P<close>\))?$", re.IGNORECASE)
PLAIN_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class Parsed:
    value: Decimal
    commas: bool = False
    currency: bool = False
    parens: bool = False
    scale: str | None = None
    unit: str | None = None

    @property
    def formatted(self) -> bool:
        return self.commas or self.currency or self.parens or bool(self.unit)


def parse_number(text: str) -> Parsed | None:
    """A number written with commas, currency, accounting parentheses, a unit or a scale word; else None."""
    if text is None:
        return None
    m = _NUM_RE.match(str(text).strip())
    if not m or bool(m["open"]) != bool(m["close"]):
        return None
    scale = (m["scale"] or "").lower() or None
    if scale in ("k", "m", "b") and not m["cur"]:
        return None  # "12 m" is metres, "12 b" unclear: a bare letter counts as a scale only after a currency sign
    try:
        value = Decimal(m["num"].replace(",", ""))
    except InvalidOperation:
        return None
    if scale:
        value = value.scaleb(SCALES[scale])
    negative = bool(m["neg"] or m["neg2"] or m["neg3"] or m["open"])
    return Parsed(-value if negative else value, commas="," in m["num"], currency=bool(m["cur"]),
                  parens=bool(m["open"]), scale=scale, unit=(m["unit"] or "").lower() or None)


def plain(value: Decimal) -> str:
    """A Decimal as plain text, no exponent, no trailing zeros after scaling ("1200000", "12.5")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


SMALL_DISTINCT = 5_000


def _counts(series: pd.Series) -> pd.Series:
    """Distinct non-empty values with how often each occurs, in order of first appearance. A short column is
    counted in plain Python (a wide file has thousands of them; pandas costs a fixed 0.1 ms or more per call)."""
    if len(series) <= SMALL:
        values = [t for t in (str(v) for v in series.tolist() if not is_missing(v)) if t.strip()]
        counts = Counter(values)
        return pd.Series(list(counts.values()), index=pd.Index(list(counts), dtype=object), dtype="int64")
    s = series.dropna()
    s = s[s.astype("str").str.strip() != ""]
    return s.astype("str").value_counts(sort=False)


def _texts(counts: pd.Series) -> pd.Series:
    """The distinct values of `_counts` as a Series of text (indexed by themselves) for the .str methods: Python
    strings when there are few (pandas' Arrow strings parse every regular expression anew, about 0.3 ms a call,
    which a file of 10,000 columns pays tens of thousands of times), Arrow strings when there are many."""
    index = counts.index.to_series(index=counts.index)
    return index.astype(object if len(index) <= SMALL_DISTINCT else "str")


@dataclass
class Distinct:
    """Every column's distinct non-empty values (`_counts`) laid end to end, column after column, so that a check
    tests all of them with one vectorised operation instead of one per column (issue 16: 10,000 columns)."""
    names: list
    values: list[str]           # the distinct values, exactly as in the file
    texts: pd.Series            # the same as a Series of text (positions 0..n-1) for the .str methods
    counts: np.ndarray          # rows holding each value
    owner: np.ndarray           # the column position of each value
    starts: np.ndarray          # values of column i are at starts[i]:starts[i+1]

    @classmethod
    def of(cls, df: pd.DataFrame, ctx: "Context | None" = None) -> "Distinct":
        key = ("__distinct__", id(df))
        if ctx is not None and key in ctx.cache and ctx.cache[key][0] is df:
            return ctx.cache[key][1]
        values, counts, sizes = [], [], []
        for name in df.columns:
            c = _counts(df[name])
            values.extend(c.index.tolist())
            counts.extend(c.tolist())
            sizes.append(len(c))
        texts = pd.Series(values, dtype=object if len(values) <= SMALL_DISTINCT else "str")
        out = cls(list(df.columns), values, texts, np.asarray(counts, dtype=np.int64),
                  np.repeat(np.arange(len(sizes)), sizes), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        if ctx is not None:
            ctx.cache[key] = (df, out)     # the frame is held, so its id cannot be reused while cached
        return out

    def span(self, i: int) -> slice:
        return slice(int(self.starts[i]), int(self.starts[i + 1]))

    def flag(self, mask) -> np.ndarray:
        """A boolean per value (NA -> False)."""
        return pd.Series(mask).fillna(False).to_numpy(dtype=bool) if not isinstance(mask, np.ndarray) else mask

    def rows_where(self, mask) -> np.ndarray:
        """Per column: the rows whose value satisfies `mask`."""
        return np.bincount(self.owner, weights=np.where(self.flag(mask), self.counts, 0),
                           minlength=len(self.names)).astype(np.int64)


@dataclass
class Numbers:
    """A column's distinct values read as numbers: plain ones in bulk, formatted ones one by one."""
    rows: dict[str, int]                   # distinct value -> rows
    plain: dict[str, float]                # distinct value -> float, for plain numbers ("12", "-3.5")
    special: dict[str, Parsed]             # distinct value -> Parsed, for formatted numbers ("1,200", "$5", "12 lbs")

    @property
    def numeric(self) -> bool:
        total = sum(self.rows.values())
        ok = sum(self.rows[v] for v in self.plain) + sum(self.rows[v] for v in self.special)
        return bool(total) and ok / total >= NUMERIC_SHARE

    def weighted(self) -> list[tuple[float, int]]:
        """(value, rows) for every numeric distinct value."""
        out = [(float(x), int(self.rows[v])) for v, x in self.plain.items()]
        return out + [(float(p.value), self.rows[v]) for v, p in self.special.items()]


def _numbers(series: pd.Series, ctx: "Context | None" = None) -> Numbers:
    if ctx is not None and series.name in ctx.cache:
        return ctx.cache[series.name]
    nums = _all_numbers(series.to_frame(), None)[0]
    if ctx is not None:
        ctx.cache[series.name] = nums
    return nums


def _all_numbers(df: pd.DataFrame, ctx: "Context | None") -> list[Numbers]:
    """Numbers of every column of df, every column's distinct values read in one pass (cached in ctx by name)."""
    d = Distinct.of(df, ctx)
    stripped = d.texts.str.strip()
    is_plain = d.flag(stripped.str.fullmatch(PLAIN_NUMBER.pattern))
    numbers = pd.to_numeric(stripped.where(is_plain), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    is_plain = is_plain & ~np.isnan(numbers)
    rest = ~d.flag(stripped.str.fullmatch(PLAIN_NUMBER.pattern)) & d.flag(stripped.str.contains(r"\d", regex=True))
    commas = rest & d.flag(stripped.str.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"))
    out = []
    for i, name in enumerate(d.names):
        span = d.span(i)
        values = d.values[span]
        plain_i, rest_i, commas_i = is_plain[span], rest[span], commas[span]
        special: dict[str, Parsed] = {}
        for j in np.flatnonzero(rest_i):       # the common "295,000" in bulk; the rest one by one
            v = values[j]
            if commas_i[j]:
                special[v] = Parsed(Decimal(v.strip().replace(",", "")), commas=True)
        for j in np.flatnonzero(rest_i & ~commas_i):
            p = parse_number(values[j])
            if p is not None:
                special[values[j]] = p
        nums = Numbers(dict(zip(values, d.counts[span].tolist())),
                       {values[j]: float(numbers[span][j]) for j in np.flatnonzero(plain_i)}, special)
        if ctx is not None:
            ctx.cache[name] = nums
        out.append(nums)
    return out


def _numbers_of(df: pd.DataFrame, ctx: Context) -> dict:
    """{column: Numbers} for every column, computed once per run."""
    if any(name not in ctx.cache for name in df.columns):
        _all_numbers(df, ctx)
    return {name: ctx.cache[name] for name in df.columns}


# --- header checks ------------------------------------------------------------------------------

BLANK_HEADER = re.compile(r"^(column_\d+|Unnamed: \d+|\s*)$")
COMMON_WORDS = {"SEX", "AGE", "RACE", "NAME", "CITY", "TOWN", "DATE", "TIME", "YEAR", "TYPE", "KEY", "CODE", "AREA",
                "SITE", "UNIT", "RATE", "COST", "DAY", "MONTH", "STATE", "ZONE", "COUNT", "TOTAL", "NOTES", "CLASS"}
KNOWN_SHORT = {"ID", "ZIP", "FIPS", "GEOID", "URL", "GPS", "EIN", "NAICS", "SIC", "PIN", "AM", "PM", "CT", "US", "USA"}
CONCAT_SUFFIXES = ("id", "date", "name", "number", "code", "type", "reason", "category", "amount", "count", "status", "desc")


def _words_of(header: str) -> str | None:
    """A readable form of a camelCase / snake_case / ALL CAPS header, or None when it is already readable."""
    h = header.strip()
    if re.search(r"[a-z][A-Z]", h) or "_" in h:
        text = re.sub(r"(?<=[a-z])(of|if|and|or|by|for|the|in|per|to)(?=[A-Z])", r" \1", h.replace("_", " "))
        text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
        text = re.sub(r"\s+", " ", text).strip()
        return text[:1].upper() + text[1:] if text else None
    if h.isupper() and (" " in h or len(h) > 5 or h in COMMON_WORDS):
        return titlecase(h) if " " in h else h.capitalize()
    return None


def check_headers(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    names = [str(c) for c in df.columns]
    renamed = {}
    if ctx.source is not None:
        for s in getattr(ctx.source, "skipped", []) or []:
            if s.get("what") == "a duplicate header":
                new = str(s.get("why", "")).rsplit("'", 2)
                if len(new) == 3:
                    renamed[new[1]] = str(s.get("where", ""))
    seen: dict[str, str] = {}
    for name in names:
        key = " ".join(name.lower().split())
        if key in seen:
            out.append(Finding("header_duplicate", name, "warning",
                               f"'{name}' repeats the header '{seen[key]}': give each column its own clear name."))
        else:
            seen[key] = name
        base = re.sub(r"_\d+$", "", name)
        guessed = ctx.source is None and base != name and base in names and not BLANK_HEADER.match(name)
        if name in renamed or guessed:   # the loader renamed a repeated header "X" to "X_2"
            out.append(Finding("header_duplicate", name, "warning",
                               f"The file had two columns headed '{base}' (the second was named '{name}'): "
                               "give each column its own clear name."))
    for name in names:
        values = df[name]
        if BLANK_HEADER.match(name):
            fix = {"op": "drop", "column": name} if _is_row_number(values) else None
            what = "counts 0, 1, 2, ...: a row number left by another program" if fix else "add a header that says what it holds"
            out.append(Finding("header_unclear", name, "warning", f"Column '{name}' has no header; it {what}.", fix))
            continue
        if name != name.strip() or "  " in name:
            clean = " ".join(name.split())
            out.append(Finding("header_unclear", name, "warning",
                               f"The header '{name}' has extra spaces; the portal keeps them and users must type them.",
                               {"op": "rename", "column": name, "to": clean}))
            continue
        if len(name) > MAX_HEADER:
            out.append(Finding("header_too_long", name, "warning",
                               f"The header '{name[:40]}...' is {len(name)} characters; keep headers under {MAX_HEADER} "
                               "and put the detail in the column description."))
            continue
        readable = _words_of(name)
        if readable and readable != name and readable not in names:
            out.append(Finding("header_unclear", name, "info",
                               f"The header '{name}' reads like a database field; '{readable}' is clearer.",
                               {"op": "rename", "column": name, "to": readable}))
        elif not re.search(r"[A-Za-z]", name):
            out.append(Finding("header_unclear", name, "warning", f"The header '{name}' has no words; say what the column holds."))
        elif re.fullmatch(r"[A-Z]{2,5}", name) and name not in KNOWN_SHORT:
            out.append(Finding("header_unclear", name, "warning",
                               f"The header '{name}' is an abbreviation; spell it out (and explain it in the column description)."))
        elif re.fullmatch(r"[a-z]+", name) and len(name) >= 9 and any(
                name.endswith(s) and len(name) - len(s) >= 3 for s in CONCAT_SUFFIXES):
            out.append(Finding("header_unclear", name, "info",
                               f"The header '{name}' runs words together; separate them with spaces (e.g. 'Issue Date')."))
    return out


def _is_row_number(series: pd.Series) -> bool:
    if len(series) == 0 or series.isna().any():
        return False
    numbers = pd.to_numeric(series, errors="coerce")
    return bool(numbers.notna().all() and numbers.iloc[0] in (0, 1) and (numbers.diff().iloc[1:] == 1).all())


# --- rows ----------------------------------------------------------------------------------------

NOTE_START = re.compile(r"^\s*(\*|†|‡|source\b|sources\b|note\b|notes\b|footnote|data as of|as of\b|prepared by|"
                        r"updated\b|last updated|disclaimer|suppressed|n/a\s*=|\(\d\)|\[\d\])", re.IGNORECASE)


def note_rows(df: pd.DataFrame) -> list[int]:
    """Positions of rows that hold a note instead of data: one filled cell with a note-like or sentence-like text."""
    if df.shape[1] < 3 or df.empty:
        return []
    rows = np.flatnonzero(_filled(df.iloc[:, 0]))      # notes are typed in column A ...
    for c in range(1, df.shape[1]):                    # ... and every other cell of their row is empty
        if not len(rows):
            return []
        rows = rows[~_filled(df.iloc[rows, c])]
    out = []
    for pos in rows.tolist():
        text = str(df.iloc[pos, 0])
        if NOTE_START.match(text) or (len(text.split()) >= 6 and text.rstrip().endswith((".", ":"))):
            out.append(pos)
    return out


def _filled(column: pd.Series) -> np.ndarray:
    return (column.notna() & (column.astype("str").str.strip() != "")).to_numpy(dtype=bool)


def check_note_rows(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    rows = note_rows(df)
    if not rows:
        return []
    where = ", ".join(str(r + 1) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
    return [Finding("note_rows", None, "warning",
                    f"{len(rows)} row(s) hold a note, source or footnote instead of data (data rows {where}); "
                    "move that text into the description or notes.", {"op": "drop_note_rows"}, len(rows))]


# --- values ---------------------------------------------------------------------------------------

def _caps(value: str) -> bool:
    letters = [ch for ch in value if ch.isalpha()]
    return len(letters) >= 2 and value == value.upper() and value != value.lower() and bool(re.search(r"[A-Z]{3}", value))


def _caps_mask(values: pd.Series) -> pd.Series:
    v = values if values.dtype == object else values.astype("str")
    return ((v.str.upper() == v) & (v.str.lower() != v) & v.str.contains(r"[A-Z]{3}", regex=True)).fillna(False).astype(bool)


def check_all_caps(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    d = Distinct.of(df, ctx)
    total = d.rows_where(d.texts.str.contains(r"[A-Za-z]", regex=True))
    in_caps = d.rows_where(_caps_mask(d.texts).to_numpy())
    out = []
    for i, name in enumerate(d.names):
        if ctx.types.get(name, "text") != "text" or not total[i] or in_caps[i] / total[i] < CAPS_SHARE:
            continue
        span = d.span(i)
        counts = pd.Series(d.counts[span], index=pd.Index(d.values[span], dtype=object))
        index = _texts(counts)
        caps_mask = _caps_mask(index).to_numpy()
        caps = counts[caps_mask]
        n = int(caps.sum())
        ci = index[caps_mask].str.strip()
        spaced = ci.str.contains(" ", regex=False).to_numpy()
        wordy = spaced | ((ci.str.len() >= 5) & ~ci.str.contains(r"\d", regex=True)).to_numpy()
        if int(caps[wordy].sum()) / n < 0.5:
            continue  # short codes ("CT", "M", "CSP"): upper case is their normal form
        if int(caps[~spaced].sum()) / n >= 0.8 and len(counts) / max(int(counts.sum()), 1) > 0.5:
            continue  # mostly-unique single tokens: identifiers, whose case may matter
        from ctopen.geo import _WKT_ANY
        if int(caps[ci.str.match(_WKT_ANY).to_numpy()].sum()) / n >= 0.5:
            continue  # map geometries as WKT ("POINT (-72.9 41.3)"): their keywords are upper case
        out.append(Finding("all_caps", name, "info",
                           f"{n:,} value(s) in '{name}' are written in ALL CAPS; Title Case is easier to read.",
                           {"op": "titlecase", "column": name}, n))
    return out


def check_number_format(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    out = []
    for name, nums in _numbers_of(df, ctx).items():
        formatted = {v: p for v, p in nums.special.items() if p.formatted}
        if not formatted or not nums.numeric:
            continue
        if not formatted:
            continue
        units = {p.unit for p in formatted.values() if p.unit}
        n = sum(nums.rows[v] for v in formatted)
        examples = ", ".join(repr(v) for v in list(formatted)[:2])
        kinds = [k for k, flag in (("thousands separators", any(p.commas for p in formatted.values())),
                                   ("currency signs", any(p.currency for p in formatted.values())),
                                   ("accounting parentheses", any(p.parens for p in formatted.values())),
                                   ("units", bool(units))) if flag]
        if len(units) > 1:
            out.append(Finding("number_format", name, "warning",
                               f"'{name}' mixes units ({', '.join(sorted(units))}); convert to one unit and name it in the header.",
                               None, n))
            continue
        if units == {"%"} and (len(nums.plain) or any(not p.unit for p in nums.special.values())):
            continue  # some with %, some without: check_percentages reports it
        fix = {"op": "format_number", "column": name}
        note = ""
        if units:
            unit = units.pop()
            fix.update({"unit": unit, "to": f"{name} ({unit})"})
            note = f" and name the unit in the header ('{name} ({unit})')"
        out.append(Finding("number_format", name, "warning",
                           f"{n:,} number(s) in '{name}' are written with {' and '.join(kinds)} (e.g. {examples}); "
                           f"the portal reads them as text. Write plain numbers{note}.", fix, n))
    return out


def check_number_words(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    out = []
    for name, nums in _numbers_of(df, ctx).items():
        scaled = [v for v, p in nums.special.items() if p.scale]
        if not scaled or not nums.numeric:
            continue
        n = sum(nums.rows[v] for v in scaled)
        out.append(Finding("number_words", name, "warning",
                           f"{n:,} number(s) in '{name}' are written with a word for the scale (e.g. {scaled[0]!r}); "
                           f"write the whole number ({plain(nums.special[scaled[0]].value)}).",
                           {"op": "format_number", "column": name}, n))
    return out


PERCENT_HEADER = re.compile(r"percent|pct|%|percentage|proportion", re.IGNORECASE)


def check_percentages(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    out = []
    for name, nums in _numbers_of(df, ctx).items():
        with_sign = [v for v, p in nums.special.items() if p.unit == "%"]
        if not (with_sign or PERCENT_HEADER.search(str(name))) or not nums.numeric:
            continue
        bare = [v for v, x in nums.plain.items() if x != 0] + [v for v, p in nums.special.items() if not p.unit and p.value != 0]
        if with_sign and bare:
            n = sum(nums.rows[v] for v in bare)
            out.append(Finding("percent_inconsistent", name, "warning",
                               f"'{name}' mixes values with a % sign and {n:,} without one; write every value the same "
                               "way (plain numbers from 0 to 100, with '(%)' in the header).", None, n))
            continue
        if with_sign or not PERCENT_HEADER.search(name):
            continue
        values = nums.weighted()
        total = sum(c for _, c in values) or 1
        fraction = sum(c for x, c in values if 0 < x < 1)
        whole = sum(c for x, c in values if x > 1)
        if any(x > 100 for x, _ in values):
            out.append(Finding("percent_inconsistent", name, "warning",
                               f"'{name}' is headed as a percentage but has values over 100; check the scale."))
        elif fraction / total >= 0.1 and whole / total >= 0.1:
            out.append(Finding("percent_inconsistent", name, "warning",
                               f"'{name}' has {fraction:,} value(s) between 0 and 1 and {whole:,} above 1: some look like "
                               "fractions (0.45) and others like percentages (45). Use one scale.", None, fraction))
    return out


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula(value) -> bool:
    """True for a cell a spreadsheet would run as a formula; numbers like "-5" or "+1.5%" are not."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    if PLAIN_NUMBER.match(value.strip()) or parse_number(value) is not None:
        return False
    return not re.fullmatch(r"[-+\s]*", value)  # "-" or "--" alone is a placeholder, not a formula


def neutralise_formulas(df: pd.DataFrame, keep=()) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """What is published: cells and headers a spreadsheet would run as formulas get an apostrophe before them,
    except in the columns the officer keeps on purpose (recipe `keep_formulas`). Numbers such as "-5" stay
    numbers. Returns (table, {column: cells changed}, [headers changed])."""
    keep = set(keep or ())
    out, changed, headers = df, {}, []
    for name in df.columns:
        if name in keep:
            continue
        s = df[name]
        values = pd.Series(s.dropna().unique()).astype("str")
        bad = [v for v in values[values.str.match(r"[=+\-@\t\r]").fillna(False).astype(bool)].tolist() if is_formula(v)]
        if bad:
            hit = s.isin(bad)
            if out is df:
                out = df.copy()
            out[name] = s.where(~hit, "'" + s.astype("str"))
            changed[str(name)] = int(hit.sum())
    renamed = {c: "'" + str(c) for c in out.columns if c not in keep and is_formula(str(c))}
    if renamed:
        out = out.rename(columns=renamed)
        headers = [str(c) for c in renamed]
    return out, changed, headers


def check_formula_injection(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    d = Distinct.of(df, ctx)
    maybe = d.flag(d.texts.str.match(r"[=+\-@\t\r]"))
    out = []
    for i, name in enumerate(d.names):
        if is_formula(str(name)):
            out.append(Finding("formula_injection", name, "error",
                               f"The header '{name}' begins with =, +, - or @: a spreadsheet opening the published "
                               "CSV would run it as a formula. Rename the column (ctopen puts an apostrophe before it "
                               "when publishing).", {"op": "rename", "column": name, "to": "'" + str(name)}, 1))
        span = d.span(i)
        bad = [j for j in np.flatnonzero(maybe[span]) if is_formula(d.values[span.start + j])]
        if bad:
            n = int(d.counts[span][bad].sum())
            out.append(Finding("formula_injection", name, "error",
                               f"{n:,} cell(s) in '{name}' begin with =, +, - or @: a spreadsheet opening the published "
                               "CSV would run them as formulas. Escape them (a leading apostrophe).",
                               {"op": "escape_formulas", "column": name}, n))
    return out


# --- column order -----------------------------------------------------------------------------------

ID_SUFFIXES = ("id", "identifier", "number", "serialnumber", "recordnumber", "caseno", "casenumber", "key")
NOT_MEASURE = re.compile(r"(\bid|identifier|number|\bno\.?|code|zip|fips|year|latitude|longitude|\blat\b|\blon)$", re.IGNORECASE)


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def identifier_columns(df: pd.DataFrame, ctx: Context) -> list[str]:
    """Columns that identify a row: an ID-like header and (almost) all values distinct and filled."""
    if "__ids__" in ctx.cache:
        return ctx.cache["__ids__"]
    out = []
    for name in df.columns:
        c = _compact(str(name))
        if not c.endswith(ID_SUFFIXES) or c in ("paid", "void"):
            continue
        s = df[name]
        if len(s) and s.notna().mean() >= 0.99 and s.nunique() / len(s) >= 0.95:
            out.append(name)
    ctx.cache["__ids__"] = out
    return out


def check_identifier_position(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    ids = identifier_columns(df, ctx)
    if not ids or df.columns[0] in ids:
        return []
    first = sorted(ids, key=lambda c: 0 if _compact(str(c)).endswith(("id", "identifier")) else 1)[0]
    return [Finding("identifier_position", first, "info",
                    f"The identifier column '{first}' is not the left-most column; put it first so each row is easy to cite.",
                    {"op": "reorder", "columns": [first]})]


def _is_date(df: pd.DataFrame, name: str, ctx: Context) -> bool:
    if ctx.types.get(name) == "date":
        return True
    if ctx.types:
        return False
    s = _counts(df[name]).index.to_series().head(200)
    return bool(len(s)) and s.str.strip().str.fullmatch(DATE.pattern).all() and parse_dates(s).notna().all()


def _is_measure(df: pd.DataFrame, name: str, ctx: Context) -> bool:
    if ctx.types and ctx.types.get(name) not in ("integer", "decimal"):
        return False
    if NOT_MEASURE.search(str(name).strip()) or BLANK_HEADER.match(str(name)) or name in identifier_columns(df, ctx):
        return False
    nums = _numbers(df[name], ctx)
    if len(nums.rows) <= 2 or not nums.numeric:
        return False  # 0/1 flags are not measures
    return not all(float(v).is_integer() and 1900 <= v <= 2100 for v, _ in nums.weighted())  # years are time, not measures


def check_date_position(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    columns = list(df.columns)
    dates = [c for c in columns if _is_date(df, c, ctx)]
    if not dates:
        return []
    measures = [c for c in columns if c not in dates and _is_measure(df, c, ctx)]
    if not measures:
        return []
    first = columns.index(measures[0])
    late = [d for d in dates if columns.index(d) > first]
    if not late:
        return []
    return [Finding("date_position", d, "info",
                    f"The date column '{d}' is to the right of the measure '{measures[0]}'; put dates and times "
                    "before the measures they describe.", {"op": "reorder", "columns": late, "before": measures[0]})
            for d in late[:1]]


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$")   # what the portal reads as a date


def _non_iso_dates(series: pd.Series) -> list[str]:
    """The full dates of a column not written the ISO way ("1/3/2022", "03/21/2013 12:00:00 AM", "2022-1-3").
    Years, months and quarters of a generalized date ("2014", "2014-03", "2014-Q1") are not full dates."""
    return _all_non_iso_dates(series.to_frame(), [series.name], None)[series.name]


def _all_non_iso_dates(df: pd.DataFrame, names: list, ctx: "Context | None") -> dict:
    """{column: its non-ISO full dates, in order of first appearance} for the named columns, in one pass."""
    d = Distinct.of(df, ctx)
    names_set = set(names)
    wanted = np.isin(d.owner, [i for i, name in enumerate(d.names) if name in names_set])
    texts = d.texts[wanted]
    odd = d.flag(texts.str.strip().str.fullmatch(DATE.pattern)) & ~d.flag(texts.str.fullmatch(ISO_DATE.pattern))
    where = np.flatnonzero(wanted)[odd]
    dated = where[parse_dates(d.texts[where]).notna().to_numpy()]
    out = {name: [] for name in names}
    for j in dated:
        out[d.names[d.owner[j]]].append(d.values[j])
    return out


def check_date_format(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    names = [name for name in df.columns if _is_date(df, name, ctx)]
    out = []
    for name, odd in _all_non_iso_dates(df, names, ctx).items():
        if odd:
            n = int(df[name].isin(odd).sum())
            out.append(Finding("date_format", name, "warning",
                               f"Dates in '{name}' are written like '{odd[0]}' ({n:,} cells); the portal reads only "
                               "ISO dates (2022-01-03) as dates, so this column would be published as text that "
                               "cannot be sorted or filtered by date.", {"op": "format_date", "column": name}, n))
    return out


def check_sheets(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    sheets = list(getattr(ctx.source, "sheets", None) or [])
    if len(sheets) <= 1:
        return []
    used = getattr(ctx.source, "sheet", None) or sheets[0]
    others = [s for s in sheets if s != used]
    return [Finding("extra_sheets", None, "warning",
                    f"The workbook has {len(sheets)} sheets; the portal imports only the first tab. Reviewing '{used}'; "
                    f"publish {', '.join(repr(s) for s in others[:5])} as separate datasets or leave them out.")]


def check_locations(df: pd.DataFrame, ctx: Context) -> list[Finding]:
    """Points outside Connecticut's bounding box (ctopen.geo), with the likely cause: latitude and longitude
    swapped, or a longitude without its minus sign."""
    from ctopen import geo
    try:
        report = geo.location_check(df)
    except geo.GeoError:
        return []
    if report is None:
        return []
    where = report["location"]
    column = where.get("point") or where["lat"]
    named = f"“{where['point']}”" if "point" in where else f"“{where['lat']}” and “{where['lon']}”"
    out = []
    if report["outside"]:
        n = report["outside"]
        causes = []
        if report["swapped"]:
            causes.append(f"{report['swapped']:,} fall in Connecticut with latitude and longitude exchanged")
        if report["lost_minus"]:
            causes.append(f"{report['lost_minus']:,} fall in Connecticut with a minus sign before the longitude")
        rows = ", ".join(map(str, report["examples"]))
        out.append(Finding("locations", column, "warning",
                           f"{n:,} of {report['points']:,} points in {named} lie outside Connecticut's bounding box "
                           f"(rows {rows}{', ...' if n > len(report['examples']) else ''})"
                           + (f": {'; '.join(causes)}" if causes else "") + ". Correct them in the source, or a map "
                           "of the release leaves them out.", count=n))
    if report["unreadable"]:
        out.append(Finding("locations", column, "info",
                           f"{report['unreadable']:,} values of {named} are not points (map steps leave them out).",
                           count=report["unreadable"]))
    return out


CHECKS = {
    "headers": check_headers,
    "note_rows": check_note_rows,
    "all_caps": check_all_caps,
    "number_format": check_number_format,
    "number_words": check_number_words,
    "percentages": check_percentages,
    "identifier_position": check_identifier_position,
    "date_position": check_date_position,
    "date_format": check_date_format,
    "sheets": check_sheets,
    "formula_injection": check_formula_injection,
    "locations": check_locations,
}


def run(data, types: dict | None = None, roles: dict | None = None, source=None,
        only: list[str] | None = None) -> list[Finding]:
    """Every check (or `only` those named) over a Table or DataFrame; findings errors first."""
    df = getattr(data, "df", data)
    types = {c: t for c, t in (types if types is not None else getattr(data, "types", None) or {}).items()
             if c in df.columns}
    if types and set(types) != set(df.columns):   # a release table with new or renamed columns: infer theirs
        from ctopen.values import infer_types
        new = [c for c in df.columns if c not in types]
        types.update({c: kind for c, (kind, _) in zip(new, infer_types([df[c] for c in new]))})
    ctx = Context(types=types or {}, roles=roles or {}, source=source or getattr(data, "source", None))
    out: list[Finding] = []
    for name, fn in CHECKS.items():
        if only and name not in only:
            continue
        out.extend(fn(df, ctx))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda f: order.get(f.severity, 9))


# --- fix operations (recipe steps) ------------------------------------------------------------------

SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to"}
KEEP_UPPER = {"CT", "USA", "US", "LLC", "LLP", "LP", "INC", "PC", "PLLC", "DBA", "II", "III", "IV", "VI", "PO", "NE",
              "NW", "SE", "SW", "N/A", "MD", "DDS", "DMD", "RN", "LPN", "APRN", "CPA", "DVM", "PA", "NA", "YMCA", "UCONN"}


def titlecase(text):
    """ALL CAPS text in Title Case, keeping known abbreviations ("LLC", "CT") and ordinals ("1st") right."""
    if not isinstance(text, str) or not _caps(text):
        return text

    def word(w: str, first: bool, initial: bool = False) -> str:
        core = w.strip("().,;:'\"")
        if core.upper() in KEEP_UPPER or initial:
            return w
        lower = w.lower()
        if re.search(r"\d", core):
            return lower if re.fullmatch(r"\d+(st|nd|rd|th)", core.lower()) else w   # "1st", but "2B", "A1"
        if not first and core.lower() in SMALL_WORDS:
            return lower
        out = re.sub(r"(^|[-/(\"])([a-z])", lambda m: m[1] + m[2].upper(), lower)
        out = re.sub(r"^([od]')([a-z])", lambda m: m[1].upper() + m[2].upper(), out, flags=re.IGNORECASE)
        out = re.sub(r"^mc([a-z])", lambda m: "Mc" + m[1].upper(), out, flags=re.IGNORECASE)
        return out

    parts = re.split(r"(\s+)", text)
    words = [i for i, p in enumerate(parts) if p and not p.isspace()]

    def is_initial(i: int) -> bool:
        """A one-letter word that is a person's initial: "A." or the middle of "JOHN A SMITH" (not "a" in a phrase)."""
        return len(parts[i].rstrip(".")) == 1 and (parts[i].endswith(".") or (len(words) >= 3 and i == words[-2]))

    return "".join(p if p.isspace() or not p else word(p, i == words[0], is_initial(i)) for i, p in enumerate(parts))


def _need(df: pd.DataFrame, step: dict) -> str:
    from ctopen.errors import RecipeError
    column = step.get("column")
    if column not in df.columns:
        raise RecipeError(f"The recipe step '{step.get('op')}' names the column '{column}', which is not in the file.")
    return column


def op_format_number(df: pd.DataFrame, step: dict):
    column = _need(df, step)
    unit = (step.get("unit") or "").lower() or None
    s = df[column]
    changed = 0
    left = 0
    mapping = {}
    counts = _counts(s)
    for v in counts.index:
        p = parse_number(v)
        if p is None or (p.unit and p.unit != unit):
            if p is None and not PLAIN_NUMBER.match(v.strip()):
                left += int(counts[v])
            continue
        new = plain(p.value)
        if new != v:
            mapping[v] = new
    if mapping:
        hit = s.isin(list(mapping))
        changed = int(hit.sum())
        df = df.copy()
        df[column] = s.where(~hit, s.map(mapping)).astype(s.dtype)
    to = step.get("to")
    if to and to != column and to in df.columns:
        raise RecipeError(f"The recipe step 'format_number' would rename '{column}' to '{to}', which is already a "
                          "column: two columns would have one name.")
    if to and to != column:
        df = df.rename(columns={column: to})
    entry = {"op": "format_number", "column": column, "values_changed": changed, "records_removed": 0,
             "message": f"Wrote {changed:,} value(s) of '{column}' as plain numbers"
                    + (f"; {left:,} value(s) that are not numbers left as they were" if left else "")
                    + (f"; renamed the column '{to}'" if to and to != column else "")}
    return df, entry


def op_rename(df: pd.DataFrame, step: dict):
    column = _need(df, step)
    to = str(step.get("to") or "").strip()
    from ctopen.errors import RecipeError
    if not to:
        raise RecipeError(f"The recipe step 'rename' for '{column}' has no new name ('to').")
    if to in df.columns and to != column:
        raise RecipeError(f"The recipe step 'rename' would give '{column}' the name '{to}', which another column has.")
    return df.rename(columns={column: to}), {"op": "rename", "column": column, "to": to, "values_changed": 0,
                                              "records_removed": 0, "message": f"Renamed '{column}' to '{to}'"}


def op_titlecase(df: pd.DataFrame, step: dict):
    column = _need(df, step)
    s = df[column]
    new = s.map(titlecase, na_action="ignore").astype(s.dtype)
    changed = int((new != s).fillna(False).sum())
    df = df.copy()
    df[column] = new
    return df, {"op": "titlecase", "column": column, "values_changed": changed, "records_removed": 0,
                "message": f"Wrote {changed:,} ALL CAPS value(s) of '{column}' in Title Case"}


def op_reorder(df: pd.DataFrame, step: dict):
    wanted = [c for c in step.get("columns", []) if c in df.columns]
    missing = [c for c in step.get("columns", []) if c not in df.columns]
    rest = [c for c in df.columns if c not in wanted]
    before = step.get("before")
    if before in rest:
        i = rest.index(before)
        order = rest[:i] + wanted + rest[i:]
    else:
        order = wanted + rest
    did = f"Moved {', '.join(repr(c) for c in wanted)} " + (f"before '{before}'" if before in rest else "to the left")
    if missing:
        did += f" (not in the file: {', '.join(repr(c) for c in missing)})"
    return df[order], {"op": "reorder", "columns": wanted, "values_changed": 0, "records_removed": 0, "message": did}


def op_escape_formulas(df: pd.DataFrame, step: dict):
    column = _need(df, step)
    s = df[column]
    hit = s.map(is_formula, na_action="ignore").fillna(False).astype(bool)
    df = df.copy()
    df[column] = s.where(~hit, "'" + s.astype("str"))
    n = int(hit.sum())
    return df, {"op": "escape_formulas", "column": column, "values_changed": n, "records_removed": 0,
                "message": f"Put an apostrophe before {n:,} cell(s) of '{column}' that a spreadsheet would run as formulas"}


def op_drop_note_rows(df: pd.DataFrame, step: dict):
    rows = note_rows(df)
    gone = set(rows)
    keep = [i for i in range(len(df)) if i not in gone]
    out = df.iloc[keep]   # the index keeps the source rows' labels (the report matches rows by them)
    return out, {"op": "drop_note_rows", "column": None, "values_changed": 0, "records_removed": len(rows),
                 "message": f"Removed {len(rows)} note or footnote row(s) (they are not records)"}


def op_format_date(df: pd.DataFrame, step: dict):
    column = _need(df, step)
    odd = _non_iso_dates(df[column])
    parsed = parse_dates(odd)
    iso = parsed.dt.strftime("%Y-%m-%d").where(parsed == parsed.dt.normalize(), parsed.dt.strftime("%Y-%m-%dT%H:%M:%S"))
    mapping = dict(zip(odd, iso))
    s = df[column]
    hit = s.isin(list(mapping))
    df = df.copy()
    df[column] = s.where(~hit, s.map(mapping)).astype(s.dtype)
    changed = int(hit.sum())
    return df, {"op": "format_date", "column": column, "values_changed": changed, "records_removed": 0,
                "message": f"Wrote {changed:,} date(s) of '{column}' the ISO way (YYYY-MM-DD)"}


FIX_OPS = {
    "format_number": op_format_number,
    "rename": op_rename,
    "titlecase": op_titlecase,
    "reorder": op_reorder,
    "escape_formulas": op_escape_formulas,
    "format_date": op_format_date,
    "drop_note_rows": op_drop_note_rows,
}


def apply_fixes(df: pd.DataFrame, steps: list[dict]) -> tuple[pd.DataFrame, list[dict]]:
    """Run fix steps alone (for tests and for a transform module that dispatches unknown ops here)."""
    log = []
    for step in steps:
        df, entry = FIX_OPS[step["op"]](df, step)
        log.append(entry)
    return df, log


def fix_label(step: dict | None) -> str:
    """The words on a one-click fix button."""
    if not step:
        return ""
    op, col = step.get("op"), step.get("column")
    return {
        "format_number": f"Write '{col}' as plain numbers" + (f" (header '{step['to']}')" if step.get("to") else ""),
        "rename": f"Rename '{col}' to '{step.get('to')}'",
        "titlecase": f"Write '{col}' in Title Case",
        "reorder": f"Move {', '.join(repr(c) for c in step.get('columns', []))} "
                   + (f"before '{step['before']}'" if step.get("before") else "to the left"),
        "escape_formulas": f"Escape formula-like cells in '{col}'",
        "format_date": f"Write the dates of '{col}' as YYYY-MM-DD",
        "drop_note_rows": "Remove the note rows",
        "drop": f"Drop the column '{col}'",
    }.get(op, f"Add the step {op!r}")
