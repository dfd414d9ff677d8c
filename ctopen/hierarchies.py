"""Generalization ladders: each turns a column's values into coarser ones, level by level.

`get(name, **options) -> Hierarchy`. Every hierarchy has `levels` (the number of levels, counting
level 0 = the value as is and the top level = "*", fully suppressed), `generalize(series, level)`,
`label(level)`, `loss(series, level)` and `unknown(series)`; underneath them all, `map_distinct(uniques,
level, counts)` and `loss_distinct(uniques, counts, level)` (what the search calls).

Rules shared by every ladder (docs/recipe.md, "Generalization hierarchies"):
- Values are text (pandas "str" dtype). Work is done once per *distinct* value, then broadcast.
- A ladder sees each distinct value with the number of records holding it in its column, whoever
  calls it: "rare values merged" (category) counts the column, never just the values passed.
- Dates and numbers are read by ctopen.values (a sentinel date such as 12/31/9999 is no date).
- A missing value (NA) stays NA at every level below the top; at the top every record is "*".
- A value the ladder cannot read (an unknown town, an unparseable date) is reported by `unknown()`
  and becomes "*" at every level above 0: it is never guessed.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import RecipeError
from ctopen.values import parse_dates, parse_numbers  # the one date and number readers (ctopen.values)

STAR = "*"

# HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(B): the 3-digit ZIP prefixes whose areas held 20,000
# people or fewer in Census 2000, per HHS "Guidance Regarding Methods for De-identification of
# Protected Health Information" (2012), section 3.3. They are written "000". Connecticut's (063) is
# also flagged in ctopen/data/ct_zip3_pop_2020.csv, column hhs_2000_restricted_list.
HHS_RESTRICTED_ZIP3 = frozenset(
    "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split()
)


_MAP_CACHE: OrderedDict = OrderedDict()
_MAP_LOCK = threading.Lock()   # Streamlit serves sessions from several threads
_MAP_CACHE_SIZE = 128
_MAP_CACHE_MAX_VALUES = 200_000


class Hierarchy:
    """A generalization ladder. Subclasses set `name`, `labels` and implement `_map`.

    Every entry point (generalize, generalize_report, unknown, loss, and the search's
    `map_distinct` / `loss_distinct`) works on the column's distinct values with the number of
    records holding each, through `map_distinct`: a ladder whose values depend on those counts
    (`per_value = False`: "rare values merged") therefore gives the same values whoever calls it.
    """

    name = ""
    labels: list[str] = []
    per_value = True   # a value's generalization depends on that value alone (not on its count)

    def __init__(self, **options):
        self.options = options

    # --- public -----------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        """Number of levels, counting 0 (as is) and the top ("*")."""
        return len(self.labels)

    @property
    def top(self) -> int:
        return self.levels - 1

    @property
    def changes_as_is(self) -> bool:
        """Level 0 already changes values (a top code such as "90+"): a step at level 0 is not the
        same as no step, so a recipe must keep it."""
        return self._changes_level0()

    def label(self, level) -> str:
        return self.labels[self._level(level)]

    def check_level(self, level) -> int:
        """The level as an int; "*" means the top. Raises RecipeError when out of range."""
        return self._level(level)

    def generalize(self, series: pd.Series, level, *, within: pd.Series | None = None) -> pd.Series:
        """The values of `series` at `level`. within: the whole column these values come from (a few
        examples of it, say), for a ladder whose values depend on the counts; default: series itself."""
        return self.generalize_report(series, level, within=within)[0]

    def generalize_report(self, series: pd.Series, level, *, within: pd.Series | None = None
                          ) -> tuple[pd.Series, list[str], int]:
        """(generalized series, unknown values, values changed) from one pass over the distinct values.

        Unknown values are listed below the top level (at level 0 they are kept as they are)."""
        level = self._level(level)
        series = pd.Series(series)
        if level == self.top:
            out = pd.Series(STAR, index=series.index, dtype="str", name=series.name)
            return out, [], int((series.isna() | series.ne(STAR)).sum())
        codes, uniques, counts = self._distinct(series, within)
        mapped = self.map_distinct(uniques, level, counts)
        table = pd.array(mapped, dtype="str")
        out = pd.Series(table.take(codes, allow_fill=True), index=series.index, name=series.name)
        differs = mapped != np.asarray(uniques, dtype=object)
        held = counts if within is None else np.bincount(codes[codes >= 0], minlength=len(uniques))
        changed = int(held[differs].sum()) if len(uniques) else 0
        unknown = sorted(str(v) for v in uniques[~self._known(uniques, counts)]) if len(uniques) else []
        return out, unknown, changed

    def unknown(self, series: pd.Series) -> list[str]:
        """Distinct values this ladder cannot read (reported, never guessed)."""
        _, uniques, counts = self._distinct(pd.Series(series))
        if len(uniques) == 0:
            return []
        return sorted(str(v) for v in uniques[~self._known(uniques, counts)])

    def loss(self, series: pd.Series, level) -> float:
        """Information lost at `level`, in [0, 1] (ARX's "loss" measure, on the values present).

        Each distinct value's generalized value covers some share of the column's distinct values;
        a record's loss is (covered - 1) / (distinct - 1); the result is the average over the
        non-missing records. Level 0 is 0 (unless top-coding already merges values), the top is 1,
        and a value the ladder cannot read counts as fully lost above level 0.
        """
        _, uniques, counts = self._distinct(pd.Series(series))
        return self.loss_distinct(uniques, counts, level)

    def map_distinct(self, uniques, level, counts=None) -> np.ndarray:
        """The generalized value (object array) of each distinct value, given how many records of the
        column hold it (`counts`, needed by a ladder that is not per_value). A missing value stays
        missing below the top; at the top everything is "*"; unreadable values are "*" above 0."""
        level = self._level(level)
        uniques = pd.Index(uniques)
        if level == self.top:
            return np.full(len(uniques), STAR, dtype=object)
        missing = np.asarray(pd.isna(uniques), dtype=bool)
        values = uniques[~missing].astype("str") if missing.any() else uniques.astype("str")
        if not self.per_value:
            if counts is None:
                raise ValueError(f"The {self.name} hierarchy needs each value's record count.")
            counts = np.asarray(counts, dtype=np.int64)[~missing] if missing.any() else np.asarray(counts, dtype=np.int64)
        mapped = self._map_uniques(values, level, counts if not self.per_value else None)
        if not missing.any():
            return np.asarray(mapped, dtype=object)
        out = np.full(len(uniques), None, dtype=object)
        out[missing] = uniques[missing].to_numpy(dtype=object) if level == 0 else None
        out[~missing] = mapped
        return out

    def loss_distinct(self, uniques, counts, level, mapped=None) -> float:
        """`loss` from the distinct values and their record counts (the search's figure is this one)."""
        level = self._level(level)
        if level == self.top:
            return 1.0
        uniques = pd.Index(uniques)
        if mapped is None:
            mapped = self.map_distinct(uniques, level, counts)
        return distinct_loss(mapped, counts, np.asarray(pd.isna(uniques), dtype=bool))

    def to_step(self, column: str, level: int) -> dict:
        return {"op": "generalize", "column": column, "hierarchy": self.name, "level": int(level), **self.options}

    # --- for subclasses ---------------------------------------------------------------------
    def _distinct(self, series: pd.Series, within: pd.Series | None = None):
        """(codes per row, -1 for missing; distinct non-missing values in first-appearance order;
        records holding each, in `within` when given, else in series)."""
        codes, uniques = pd.factorize(series)
        if within is None:
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        else:
            held = pd.Series(within).value_counts(dropna=True)
            counts = pd.Series(np.asarray(uniques, dtype=object)).map(held).fillna(0).to_numpy(dtype=np.int64)
        return codes, uniques, counts

    def _level(self, level) -> int:
        if level == STAR:
            return self.top
        try:
            value = int(level)
        except (TypeError, ValueError):
            value = None
        if value is None or value != level or not 0 <= value <= self.top:
            raise RecipeError(
                f"Level {level!r} does not exist for the {self.name} hierarchy: use 0 to {self.top} (or \"*\")."
            )
        return value

    def _map_uniques(self, uniques: pd.Index, level: int, counts=None) -> np.ndarray:
        """Generalized values for distinct non-NA values (object array; unreadable -> "*" above 0).

        Results of per-value ladders are memoised by the exact distinct values, so the live page's
        repeated edits map each column once (the generalization, its unknown values and its loss
        share one mapping)."""
        if level == 0 and not self._changes_level0():
            return np.asarray(uniques, dtype=object)
        key = self._cache_key(uniques, level)
        if key is not None:
            with _MAP_LOCK:
                hit = _MAP_CACHE.get(key)
                if hit is not None:
                    _MAP_CACHE.move_to_end(key)
                    return hit
        out = np.asarray(self._map(uniques.astype("str"), level, counts), dtype=object)
        if level > 0:
            out = np.where(pd.isna(out), STAR, out)
        else:
            out = np.where(pd.isna(out), np.asarray(uniques, dtype=object), out)
        if key is not None:
            out.flags.writeable = False
            with _MAP_LOCK:
                _MAP_CACHE[key] = out
                while len(_MAP_CACHE) > _MAP_CACHE_SIZE:
                    _MAP_CACHE.popitem(last=False)
        return out

    def _cache_key(self, uniques: pd.Index, level: int):
        if not self.per_value or len(uniques) > _MAP_CACHE_MAX_VALUES:
            return None
        digest = hashlib.sha1(pd.util.hash_array(np.asarray(uniques, dtype=object)).tobytes()).hexdigest()
        return (type(self).__name__, json.dumps(self.options, sort_keys=True, default=str), level, len(uniques), digest)

    def _changes_level0(self) -> bool:
        return False

    def _known(self, uniques: pd.Index, counts=None) -> np.ndarray:
        """Which distinct values the ladder can read (unreadable values are "*" at level 1)."""
        if self.top <= 1:
            return np.ones(len(uniques), dtype=bool)
        return np.asarray(self.map_distinct(uniques, 1, counts) != STAR, dtype=bool)

    def _map(self, uniques: pd.Index, level: int, counts=None):
        """Map distinct text values at 0 <= level < top (level 0 only when _changes_level0); None where
        the value cannot be read. counts: records per value (only for a ladder that is not per_value)."""
        raise NotImplementedError


def distinct_loss(mapped, counts, missing) -> float:
    """ARX's loss of a column below the top, from its distinct values: `mapped` (the generalized value
    of each), `counts` (records holding each) and `missing` (which distinct value is NA). A value
    covering c of the d distinct non-missing values loses (c - 1) / (d - 1); "*" loses 1; the average
    over the non-missing records. The one formula: Hierarchy.loss and the search use it."""
    keep = ~np.asarray(missing, dtype=bool)
    mapped = np.asarray(mapped, dtype=object)[keep]
    counts = np.asarray(counts, dtype=float)[keep]
    distinct = len(mapped)
    if distinct <= 1 or counts.sum() == 0:
        return 0.0
    codes, groups = pd.factorize(pd.Series(mapped, dtype=object), use_na_sentinel=False)
    covered = np.bincount(codes, minlength=len(groups)).astype(float)[codes]
    per_value = np.clip((covered - 1) / (distinct - 1), 0.0, 1.0)
    per_value = np.where(np.asarray(pd.Series(mapped, dtype=object).eq(STAR).fillna(False), dtype=bool), 1.0, per_value)
    return float(per_value @ counts / counts.sum())


# --- dates -------------------------------------------------------------------------------------

class DateHierarchy(Hierarchy):
    """Dates (read by ctopen.values.parse_dates: a sentinel such as 12/31/9999 is no date, so "*" above 0)."""
    name = "date"
    labels = ["as is", "month", "quarter", "year", "decade", STAR]

    def _map(self, uniques, level, counts=None):
        d = parse_dates(uniques)
        year = d.dt.year
        if level == 1:
            out = d.dt.strftime("%Y-%m")
        elif level == 2:
            out = year.astype("Int64").astype("str") + "-Q" + d.dt.quarter.astype("Int64").astype("str")
        elif level == 3:
            out = year.astype("Int64").astype("str")
        else:
            start = (year // 10 * 10).astype("Int64")
            out = start.astype("str") + "-" + (start + 9).astype("str")
        return out.astype(object).where(d.notna(), None).to_numpy()


# --- numbers and ages --------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _bands(x: pd.Series, width: float, integral: bool, top=None, bottom=None) -> pd.Series:
    """Band labels "30-39" (integers) or "30-<40" (decimals), aligned to multiples of width."""
    lo = np.floor(x / width) * width
    hi = lo + width
    if bottom is not None:
        lo = np.maximum(lo, bottom)
    if top is not None:
        hi = np.minimum(hi, top)
    out = []
    for a, b, v in zip(lo, hi, x):
        if math.isnan(v):
            out.append(None)
        elif integral:
            out.append(_fmt(a) if b - 1 == a else f"{_fmt(a)}-{_fmt(b - 1)}")
        else:
            out.append(f"{_fmt(a)}-<{_fmt(b)}")
    return pd.Series(out, index=x.index, dtype=object)


def _tails(x: pd.Series, out: pd.Series, top=None, bottom=None) -> pd.Series:
    out = out.copy()
    if top is not None:
        out[x >= top] = f"{_fmt(top)}+"
    if bottom is not None:
        out[x < bottom] = f"<{_fmt(bottom)}"
    return out


class NumberHierarchy(Hierarchy):
    """Bands of `width`, doubling per level (`steps` band levels, default 4), then "*".

    Options: width (required), top (values >= top -> "top+"), bottom (values < bottom -> "<bottom"),
    steps (number of band levels).
    """
    name = "number"

    def __init__(self, **options):
        super().__init__(**options)
        width = options.get("width")
        if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
            raise RecipeError("The number hierarchy needs a positive \"width\" (for example 10 for bands 30-39).")
        steps = options.get("steps", 4)
        if not isinstance(steps, int) or not 1 <= steps <= 12:
            raise RecipeError("The number hierarchy's \"steps\" must be a whole number from 1 to 12.")
        for opt in ("top", "bottom"):
            if opt in options and (not isinstance(options[opt], (int, float)) or isinstance(options[opt], bool)):
                raise RecipeError(f"The number hierarchy's \"{opt}\" must be a number.")
        self.width, self.steps = width, steps
        self.labels = ["as is"] + [f"bands of {_fmt(width * 2 ** i)}" for i in range(steps)] + [STAR]

    def _changes_level0(self):
        return "top" in self.options or "bottom" in self.options

    def _map(self, uniques, level, counts=None):
        x = parse_numbers(uniques)
        top, bottom = self.options.get("top"), self.options.get("bottom")
        if level == 0:
            out = pd.Series(np.asarray(uniques, dtype=object), index=x.index).where(x.notna(), None)
        else:
            width = self.width * 2 ** (level - 1)
            # a whole-number width gives "30-39" bands (39.5 falls in 30-39), whatever the data
            out = _bands(x, width, float(width).is_integer(), top=top, bottom=bottom)
        return _tails(x, out, top, bottom).where(x.notna(), None).to_numpy()


class AgeHierarchy(Hierarchy):
    """Ages: 5-, 10-, 20-year bands; option top_code (e.g. 90: 90 and over -> "90+" below "*")."""
    name = "age"
    labels = ["as is", "5-year bands", "10-year bands", "20-year bands", STAR]
    WIDTHS = {1: 5, 2: 10, 3: 20}

    def __init__(self, **options):
        super().__init__(**options)
        top = options.get("top_code")
        if top is not None and (not isinstance(top, (int, float)) or isinstance(top, bool) or top <= 0):
            raise RecipeError("The age hierarchy's \"top_code\" must be a positive number such as 90.")
        self.top_code = top

    def _changes_level0(self):
        return self.top_code is not None

    def _map(self, uniques, level, counts=None):
        x = parse_numbers(uniques)
        x = x.where(x >= 0)
        if level == 0:
            out = pd.Series(np.asarray(uniques, dtype=object), index=x.index)
        else:
            out = _bands(np.floor(x), self.WIDTHS[level], True, top=self.top_code)
        return _tails(x, out, self.top_code).where(x.notna(), None).to_numpy()


# --- ZIP codes ---------------------------------------------------------------------------------

ZIP = re.compile(r"^(\d{4,5})(?:-?(\d{4}))?$")


@lru_cache(maxsize=1)
def restricted_zip3() -> frozenset:
    table = pd.read_csv(settings.ZIP3_FILE, dtype=str)
    flagged = table.loc[table["hhs_2000_restricted_list"].str.lower() == "true", "zip3"]
    return HHS_RESTRICTED_ZIP3 | frozenset(flagged)


def zip5(values) -> pd.Series:
    """Five-digit ZIPs from text ("06001", "06001-2101", "060012101"; "6001" had its leading zero
    dropped by a spreadsheet and is read as "06001"). Anything else is None."""
    s = pd.Series(values, dtype="str").str.strip()
    parts = s.str.extract(ZIP)
    five = parts[0].str.zfill(5)
    # 4 digits + 4 digits ("60012101") is a 9-digit ZIP that lost its leading zero
    nine = s.str.fullmatch(r"\d{8}").fillna(False).astype(bool)
    five = five.where(~nine, "0" + s.str[:4])
    return five.astype(object).where(five.notna(), None)


class ZipHierarchy(Hierarchy):
    name = "zip"
    labels = ["as is", "3-digit prefix", "state", STAR]

    def _map(self, uniques, level, counts=None):
        five = zip5(uniques)
        zip3 = five.str[:3]
        if level == 1:
            out = zip3.where(~zip3.isin(restricted_zip3()), "000")
        else:
            out = zip3.where(zip3.isna(), np.where(zip3.str.startswith("06"), "CT", "outside CT"))
        return out.astype(object).where(five.notna(), None).to_numpy()


# --- Connecticut towns -------------------------------------------------------------------------

DIRECTIONS = {"N": "NORTH", "NO": "NORTH", "S": "SOUTH", "SO": "SOUTH", "E": "EAST", "W": "WEST"}


def normalize_place(values) -> pd.Series:
    """Upper case, punctuation and ", CT" removed, spaces collapsed, "N HAVEN" -> "NORTH HAVEN",
    "STAFFORD SPGS" -> "STAFFORD SPRINGS". Spelling mistakes are not corrected."""
    s = pd.Series(values, dtype="str").str.upper().str.strip()
    s = s.str.replace(r",?\s*(CT|CONN|CONNECTICUT)\.?$", "", regex=True)
    s = s.str.replace(r"[.,\-'/]", " ", regex=True).str.split().str.join(" ")
    s = s.str.replace(r"^(N|NO|S|SO|E|W) (?=\S)", lambda m: DIRECTIONS[m.group(1)] + " ", regex=True)
    s = s.str.replace(r"\bSPGS\b", "SPRINGS", regex=True)
    return s


@lru_cache(maxsize=1)
def town_table() -> pd.DataFrame:
    """Every town's county and planning region, keyed by normalized town and village names.

    Index: normalized name. Columns: town, county, planning_region ("" where a village spans towns
    in different counties or regions: it is then not mapped at that level)."""
    towns = pd.read_csv(settings.TOWNS_FILE, dtype=str)
    rows = {}
    for t in towns.itertuples():
        rows[normalize_place([t.town])[0]] = (t.town, t.county_legacy, t.planning_region)
    by_town = {t.town: t for t in towns.itertuples()}
    villages_file = settings.DATA_DIR / "ct_villages.csv"
    if villages_file.exists():
        villages = pd.read_csv(villages_file, dtype=str)
        for v in villages.itertuples():
            key = normalize_place([v.village])[0]
            if key in rows:
                continue  # a town's own name wins
            members = [by_town[x] for x in v.towns.split(";")]
            county = {m.county_legacy for m in members}
            region = {m.planning_region for m in members}
            rows[key] = (v.towns.replace(";", " or "),
                         county.pop() if len(county) == 1 else "",
                         region.pop() if len(region) == 1 else "")
    return pd.DataFrame.from_dict(rows, orient="index", columns=["town", "county", "planning_region"])


class TownHierarchy(Hierarchy):
    """CT town -> county (8, default) or planning region (9, option via="planning_region") ->
    "Connecticut" -> "*". Option aliases: {"WATERBRUY": "Waterbury"} fixes names the user knows."""
    name = "ct_town"
    VIA = {"county": "county", "planning_region": "planning_region"}

    def __init__(self, **options):
        super().__init__(**options)
        via = options.get("via", "county")
        if via not in self.VIA:
            raise RecipeError("The ct_town hierarchy's \"via\" must be \"county\" or \"planning_region\".")
        aliases = options.get("aliases", {})
        if not isinstance(aliases, dict):
            raise RecipeError("The ct_town hierarchy's \"aliases\" must map names to Connecticut towns.")
        table = town_table()
        self.aliases = {}
        for alias, town in aliases.items():
            key = normalize_place([town])[0]
            if key not in table.index:
                raise RecipeError(f"The alias {alias!r} points to {town!r}, which is not a Connecticut town.")
            self.aliases[normalize_place([alias])[0]] = key
        self.via = via
        self.labels = ["as is", "county" if via == "county" else "planning region", "state", STAR]

    def _map(self, uniques, level, counts=None):
        table = town_table()
        keys = normalize_place(uniques)
        keys = keys.map(lambda k: self.aliases.get(k, k))
        found = keys.map(table[self.via]).where(lambda s: s != "")
        if level == 1:
            out = found
        else:
            out = found.where(found.isna(), "Connecticut")
        return out.astype(object).where(found.notna(), None).to_numpy()


# --- categories and coordinates ----------------------------------------------------------------

class CategoryHierarchy(Hierarchy):
    """Level 1: values held by fewer than min_count records (default 5) become "Other"; 2: "*".

    "Rare" is counted in the column the values come from: every entry point passes those counts
    (see Hierarchy), so a value held by min_count records or more is always kept."""
    name = "category"
    labels = ["as is", "rare values merged", STAR]
    per_value = False   # "rare" depends on the counts in this column

    def __init__(self, **options):
        super().__init__(**options)
        m = options.get("min_count", settings.DEFAULT_K)
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise RecipeError("The category hierarchy's \"min_count\" must be a whole number of at least 1.")
        self.min_count = m

    def _known(self, uniques, counts=None):
        return np.ones(len(uniques), dtype=bool)

    def _map(self, uniques, level, counts=None):
        return np.where(np.asarray(counts) < self.min_count, "Other", np.asarray(uniques, dtype=object))


NUM = r"[+-]?\d+(?:\.\d+)?"
PAREN = re.compile(rf"\(\s*({NUM})\s*,\s*({NUM})\s*\)")
WKT = re.compile(rf"POINT\s*\(\s*({NUM})\s+({NUM})\s*\)", re.IGNORECASE)
PAIR = re.compile(rf"^\s*({NUM})\s*,\s*({NUM})\s*$")


class CoordinatesHierarchy(Hierarchy):
    """Points as "(lat, lon)" (text around it, such as a town name, is dropped), "POINT (lon lat)"
    or "lat, lon". Level N keeps `decimals - N` decimals (truncated; default decimals 6), then "*"."""
    name = "coordinates"

    def __init__(self, **options):
        super().__init__(**options)
        d = options.get("decimals", 6)
        if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 10:
            raise RecipeError("The coordinates hierarchy's \"decimals\" must be a whole number from 1 to 10.")
        self.decimals = d
        self.labels = ["as is"] + [f"{d - n} decimals" for n in range(1, d + 1)] + [STAR]

    def _map(self, uniques, level, counts=None):
        keep = self.decimals - level
        out = []
        for v in uniques:
            if m := WKT.search(v):
                a, b, fmt = m.group(1), m.group(2), "POINT ({} {})"
            elif m := PAREN.search(v):
                a, b, fmt = m.group(1), m.group(2), "({}, {})"
            elif m := PAIR.match(v):
                a, b, fmt = m.group(1), m.group(2), "{}, {}"
            else:
                out.append(None)
                continue
            out.append(fmt.format(_trunc(float(a), keep), _trunc(float(b), keep)))
        return out


def _trunc(x: float, decimals: int) -> str:
    scale = 10 ** decimals
    value = math.trunc(round(x * scale, 6)) / scale
    return f"{value:.{decimals}f}"


# --- the analyst's own table ------------------------------------------------------------------

class TableHierarchy(Hierarchy):
    """An analyst's own ladder carried in the recipe: option `table` = {VALUE: [LEVEL1, ..., LEVELm]}, every
    value with the same number of levels (ARX's hierarchy CSV: `value;level1;...;*`, one line per value).

    Levels: 0 (as is), then the table's m columns; when the last column is "*" for every value it is the
    top, else a top level "*" is added. A value not in the table is reported (`unknown`) and written "*"
    above level 0: never guessed. A value matches exactly, or else with outer spaces removed on both sides.
    """
    name = "table"
    MAX_VALUES = 1_000_000
    MAX_LEVELS = 50

    def __init__(self, **options):
        super().__init__(**options)
        table = options.get("table")
        if not isinstance(table, dict) or not table:
            raise RecipeError("The table hierarchy needs \"table\": {VALUE: [LEVEL1, LEVEL2, ...]} with at least "
                              "one value (ctopen hierarchy import FILE.csv --column C writes one from ARX's CSV).")
        if len(table) > self.MAX_VALUES:
            raise RecipeError(f"The table hierarchy has {len(table):,} values; ctopen reads at most {self.MAX_VALUES:,}.")
        widths = set()
        bad = []
        for value, ladder in table.items():
            if not isinstance(ladder, list) or not ladder or not all(isinstance(x, str) for x in ladder):
                bad.append(value)
                continue
            widths.add(len(ladder))
        if bad:
            shown = ", ".join(repr(v) for v in bad[:3]) + (", ..." if len(bad) > 3 else "")
            raise RecipeError(f"In the table hierarchy, each value needs a list of its levels as text; not so for "
                              f"{shown}.")
        if len(widths) != 1:
            raise RecipeError(f"In the table hierarchy, every value must list the same number of levels (found "
                              f"{', '.join(map(str, sorted(widths)))}).")
        m = widths.pop()
        if m > self.MAX_LEVELS:
            raise RecipeError(f"The table hierarchy has {m} levels; ctopen reads at most {self.MAX_LEVELS}.")
        self.depth = m
        self.top_given = all(ladder[-1] == STAR for ladder in table.values())
        shown_levels = m - 1 if self.top_given else m
        self.labels = ["as is"] + [f"level {i}" for i in range(1, shown_levels + 1)] + [STAR]
        keys = list(table)
        self._columns = [pd.Series([table[k][i] for k in keys], index=pd.Index(keys, dtype=object), dtype=object)
                         for i in range(m)]
        stripped: dict[str, str] = {}
        clash = set()
        for k in keys:
            key = k.strip()
            if key in stripped and stripped[key] != k:
                clash.add(key)
            stripped.setdefault(key, k)
        self._stripped = {k: v for k, v in stripped.items() if k not in clash}
        self._digest = hashlib.sha1(json.dumps(table, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def _keys(self, uniques) -> pd.Series:
        """Each distinct value's key in the table (itself, or itself without outer spaces), None if absent."""
        s = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
        known = s.isin(self._columns[0].index)
        out = s.where(known, None)
        if not known.all():
            retry = s[~known].map(lambda v: self._stripped.get(str(v).strip()))
            out[~known] = retry
        return out

    def _known(self, uniques, counts=None):
        return np.asarray(self._keys(pd.Index(uniques).astype("str")).notna(), dtype=bool)

    def _map(self, uniques, level, counts=None):
        keys = self._keys(uniques)
        return keys.map(self._columns[level - 1]).where(keys.notna(), None).to_numpy(dtype=object)

    def _cache_key(self, uniques, level):
        if len(uniques) > _MAP_CACHE_MAX_VALUES:
            return None
        digest = hashlib.sha1(pd.util.hash_array(np.asarray(uniques, dtype=object)).tobytes()).hexdigest()
        return ("table", self._digest, level, len(uniques), digest)

    def not_nested(self) -> list[str]:
        """Where a level is not a function of the level below it (a value of level i going to two different
        values at level i + 1): one sentence per such step, [] for a nested ladder."""
        out = []
        for i in range(1, self.depth):
            below, above = self._columns[i - 1], self._columns[i]
            pairs = pd.DataFrame({"b": below.to_numpy(), "a": above.to_numpy()}).drop_duplicates()
            split = pairs.groupby("b")["a"].nunique()
            split = split[split > 1]
            if len(split):
                example = split.index[0]
                targets = sorted(pairs.loc[pairs["b"] == example, "a"])
                out.append(f"level {i} \u201c{example}\u201d goes to {' and '.join(repr(t) for t in targets[:3])} at "
                           f"level {i + 1}" + (f" ({len(split) - 1} more like it)" if len(split) > 1 else ""))
        return out


def read_arx_csv(data, delimiter: str | None = None, name: str = "The hierarchy file") -> dict[str, list[str]]:
    """{value: [level1, ...]} from ARX's hierarchy CSV (one line per value: `value;level1;level2;...;*`).

    data: bytes, text or a path. delimiter: None finds it (";" as ARX writes, else "," or tab). Read as
    UTF-8 (a BOM is dropped), else Windows-1252. Blank lines are skipped; a line with another number of
    fields than the first, a value given twice with different levels, or a file of one column is refused
    with the line named. Values and levels are kept exactly as written (no spaces removed)."""
    import csv
    import io
    from pathlib import Path

    if isinstance(data, (str, Path)) and not (isinstance(data, str) and "\n" in data):
        try:
            data = Path(data).read_bytes()
        except OSError as exc:
            raise RecipeError(f"{name} could not be read ({exc.strerror or exc}).") from None
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    else:
        text = str(data).lstrip("\ufeff")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise RecipeError(f"{name} is empty.")
    if delimiter is None:
        first = lines[0]
        delimiter = next((d for d in (";", ",", "\t", "|") if d in first), ";")
    if len(delimiter) != 1:
        raise RecipeError("The delimiter must be one character, such as ';'.")
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    width = len(rows[0])
    if width < 2:
        raise RecipeError(f"{name} has one column only: ARX's format is one line per value, the value then its "
                          f"levels, separated by {delimiter!r} (use --delimiter if it is another character).")
    table: dict[str, list[str]] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise RecipeError(f"{name}, line {number}, has {len(row)} fields where the first line has {width}: every "
                              "value must list the same number of levels.")
        value, ladder = row[0], row[1:]
        if value in table and table[value] != ladder:
            raise RecipeError(f"{name} gives the value {value!r} twice with different levels (line {number}).")
        table[value] = ladder
    return table


# --- registry ----------------------------------------------------------------------------------

HIERARCHIES = {
    "date": DateHierarchy,
    "age": AgeHierarchy,
    "zip": ZipHierarchy,
    "ct_town": TownHierarchy,
    "number": NumberHierarchy,
    "category": CategoryHierarchy,
    "coordinates": CoordinatesHierarchy,
    "table": TableHierarchy,
}


def get(name: str, **options) -> Hierarchy:
    """The hierarchy called `name` with its options (RecipeError for an unknown name or option)."""
    cls = HIERARCHIES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise RecipeError(f"There is no hierarchy called {name!r}; use one of: {', '.join(HIERARCHIES)}.")
    return cls(**options)
