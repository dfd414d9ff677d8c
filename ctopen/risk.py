"""Re-identification risk of a table over its quasi-identifiers, with ARX's definitions.

- Equivalence class ("group"): the records with equal values on every quasi-identifier (QI). A missing
  value is a value of its own: it never drops a record. Values are compared as loaded, so the text
  "06810" and "6810" are different values. Records a transformation suppressed are not in the table
  assessed; the caller passes how many there were (`suppressed=`) and they are counted separately.
- k (`k_min`) = size of the smallest class. Records at risk = records in classes smaller than the
  threshold `k`. Uniques = records in classes of size 1. Highest risk = 1 / k_min (prosecutor model).
  Average risk = classes / records.
- Histogram, in the style of Google DLP's k-anonymity histogram: for each range of class sizes
  (1, 2, ..., 10, 11-20, 21-50, 51-100, 101-1000, then by powers of ten), how many classes and how many
  records. Only ranges holding at least one class are listed.
- l-diversity per sensitive attribute: distinct-l = the fewest distinct sensitive values in any class;
  entropy-l = exp of the smallest Shannon entropy (natural log) of the sensitive values in a class.
  A missing sensitive value counts as a value. Beside them (not in JSON): `disclosing_groups` and
  `disclosing_records`, the classes of at least the threshold k whose records all share one sensitive
  value, and their records: a group of 6 all charged with the same offense discloses it although k = 6.
- QI combinations (ARX's attribute risk): for every non-empty subset of the QIs, how many records are
  unique and the smallest class size over just those columns. With more than 12 QIs (4,095 subsets)
  only the subsets of up to 3 columns and the full set are computed (`RiskReport.combinations_note`).

How it is fast: each column is factorized once to integer codes; the codes of several columns are
combined into one integer key by mixed radix, renumbered densely (a boolean "seen" table) while the key
range stays small, else by hashing. QI combinations are computed on the table of distinct classes with
their counts. Up to 8 QIs each subset comes from a parent one column larger (its table shrinks as
columns are removed); with more QIs, from a parent one column smaller, carrying only the records not yet
alone in their class (a record alone stays alone when a column is added).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ctopen.errors import CtopenError
from ctopen.settings import DEFAULT_K

MAX_ALL_COMBINATIONS = 12      # up to this many QIs every subset is assessed
MAX_SUBSET_SIZE_BEYOND = 3     # beyond it, subsets of at most this many columns (and the full set)
TOP_DOWN_MAX_QIS = 8           # up to this many QIs, combinations top-down; more, bottom-up


class RiskError(CtopenError):
    """The risk assessment was asked for columns or a threshold that do not fit the table."""


# --- report ------------------------------------------------------------------------------------

@dataclass
class Bucket:
    """A range of class sizes: how many classes have a size in [min_size, max_size], and their records."""
    min_size: int
    max_size: int
    classes: int
    records: int

    def to_dict(self) -> dict:
        return {"min_size": self.min_size, "max_size": self.max_size, "classes": self.classes, "records": self.records}


@dataclass
class Diversity:
    """l-diversity of one sensitive attribute: distinct-l and entropy-l (both 0 on an empty table).
    `disclosing_groups` / `disclosing_records`: groups of k or more where everyone shares one value (extra, not in JSON)."""
    distinct: int
    entropy: float
    disclosing_groups: int = 0
    disclosing_records: int = 0

    def to_dict(self) -> dict:
        return {"distinct": self.distinct, "entropy": self.entropy}


@dataclass
class Combination:
    """Risk over a subset of the QIs. `records_at_risk` (below the report's threshold) is extra, not in JSON."""
    columns: list[str]
    uniques: int
    k_min: int
    records_at_risk: int = 0

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "uniques": self.uniques, "k_min": self.k_min}


@dataclass
class RiskReport:
    rows: int                      # records in the table before suppression (assessed + suppressed)
    suppressed: int                # records removed by the transformation, not assessed
    classes: int
    k_min: int                     # 0 when no record is left
    k_threshold: int
    records_at_risk: int           # records in classes smaller than k_threshold
    records_at_risk_share: float   # of the records assessed (rows - suppressed)
    uniques: int
    highest_risk: float
    average_risk: float
    histogram: list[Bucket] = field(default_factory=list)
    l_diversity: dict[str, Diversity] = field(default_factory=dict)
    qi_combinations: list[Combination] = field(default_factory=list)
    # Not part of the JSON: what was assessed, and each record's class size (same order as the table).
    quasi: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    combinations_note: str | None = None
    record_class_size: np.ndarray | None = field(default=None, repr=False, compare=False)
    # Risk in the population (ctopen.population.PopulationRisk) when a population size was given.
    population: Any = None

    @property
    def records(self) -> int:
        """Records assessed (the release table's rows)."""
        return self.rows - self.suppressed

    @property
    def uniques_share(self) -> float:
        return self.uniques / self.records if self.records else 0.0

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "suppressed": self.suppressed,
            "classes": self.classes,
            "k_min": self.k_min,
            "k_threshold": self.k_threshold,
            "records_at_risk": self.records_at_risk,
            "records_at_risk_share": self.records_at_risk_share,
            "uniques": self.uniques,
            "highest_risk": self.highest_risk,
            "average_risk": self.average_risk,
            "histogram": [b.to_dict() for b in self.histogram],
            "l_diversity": {c: d.to_dict() for c, d in self.l_diversity.items()},
            "qi_combinations": [c.to_dict() for c in self.qi_combinations],
            **({"population": self.population.to_dict()} if self.population is not None else {}),
        }


@dataclass
class WhatIf:
    """What the figures become if one QI is dropped or replaced by a coarser version."""
    column: str
    change: str          # "dropped" | "coarsened"
    classes: int
    k_min: int
    records_at_risk: int
    uniques: int
    detail: str = ""     # for "coarsened": to what, e.g. "5-year band"

    def to_dict(self) -> dict:
        return {"column": self.column, "change": self.change, "detail": self.detail, "classes": self.classes,
                "k_min": self.k_min, "records_at_risk": self.records_at_risk, "uniques": self.uniques}


# --- encoding and grouping (also useful to other modules: search, aggregate) ----------------------

def encode(values: Any) -> tuple[np.ndarray, int]:
    """Integer codes (0..n-1, int64) of a column's values, and n. Every missing value (None, NaN, NA,
    NaT) gets one code of its own; other values are compared exactly as they are (no parsing)."""
    if getattr(values, "dtype", None) is not None and values.dtype != object:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)   # one missing marker per dtype
        return np.asarray(codes, dtype=np.int64), len(uniques)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)        # None, NaN, NA... may all occur
    codes = np.asarray(codes, dtype=np.int64)
    card = len(uniques)
    missing = codes < 0
    if missing.any():
        codes[missing] = card
        card += 1
    return codes, card


def _dense_cap(n: int) -> int:
    return max(1 << 16, 4 * n)


def _renumber(key: np.ndarray, span: int) -> tuple[np.ndarray, int]:
    """Map the values of key (all in [0, span)) to 0..groups-1; returns (ids, groups)."""
    n = len(key)
    if span <= _dense_cap(n):
        seen = np.zeros(span, dtype=bool)
        seen[key] = True
        lookup = np.cumsum(seen, dtype=np.int64)
        groups = int(lookup[-1]) if span else 0
        lookup -= 1
        return lookup[key], groups
    ids, uniques = pd.factorize(key)
    return np.asarray(ids, dtype=np.int64), len(uniques)


def group(codes: Sequence[np.ndarray], cards: Sequence[int], n: int, dense: bool = True) -> tuple[np.ndarray, int]:
    """Group ids of n rows by the combination of several coded columns: (ids, groups). The one grouping
    of records into classes (risk, suppress, the gate through assess, the search).

    dense=True: ids are 0..groups-1 and every id has rows (groups = the number of classes).
    dense=False: ids may leave gaps (ids < groups, some with no rows) when that saves a renumbering;
    for counting with np.bincount. The codes are combined into one mixed-radix key, column by column;
    while the key's range is within _dense_cap(n) it is renumbered by a "seen" table when the next
    column would take it past the cap; a range past the cap is hashed once, at the end (or earlier
    only if it would overflow int64)."""
    if not len(codes):
        return np.zeros(n, dtype=np.int64), (1 if n else 0)
    cap = _dense_cap(n)
    key, span = None, 1
    for c, card in zip(codes, cards):
        card = max(int(card), 1)
        if card == 1:
            continue
        if key is None:
            key, span = np.array(c, dtype=np.int64), card
            continue
        if span * card > cap and span <= cap:     # renumber cheaply while the range is small
            key, span = _renumber(key, span)
        if span * card >= 2 ** 62:                 # would overflow: renumber (hash) now
            key, span = _renumber(key, span)
        key *= card
        key += c
        span *= card
    if key is None:
        return np.zeros(n, dtype=np.int64), (1 if n else 0)
    if not dense and span <= cap:
        return key, span
    return _renumber(key, span)


def classes(df: pd.DataFrame, quasi: Sequence[str]) -> tuple[np.ndarray, int]:
    """(class id of each record over the quasi-identifiers, number of classes); a missing value is a value."""
    quasi = _columns(df, quasi, "quasi-identifier")
    enc = [encode(df[c]) for c in quasi]
    return group([e[0] for e in enc], [e[1] for e in enc], len(df))


def class_sizes(df: pd.DataFrame, quasi: Sequence[str]) -> np.ndarray:
    """Each record's class size over the quasi-identifiers (same order as df)."""
    ids, groups = classes(df, quasi)
    return np.bincount(ids, minlength=groups)[ids]


# --- the assessment --------------------------------------------------------------------------

def assess(df: pd.DataFrame, quasi: Sequence[str], sensitive: Sequence[str] = (), k: int = DEFAULT_K,
           combinations: bool = True, *, suppressed: int = 0, population: int | None = None) -> RiskReport:
    """Risk figures of df (the table as it would be released) over the quasi-identifiers.

    suppressed: records the transformation removed before df (reported, counted in `rows`, not assessed).
    combinations: False skips the QI-combination part (then `qi_combinations` is empty).
    population: the number of people the records could be about (N >= the records assessed): adds
    `population` (ctopen.population.PopulationRisk), the estimated uniques among them.
    """
    quasi = _columns(df, quasi, "quasi-identifier")
    sensitive = _columns(df, sensitive, "sensitive attribute")
    both = [c for c in sensitive if c in quasi]
    if both:
        raise RiskError(f"Column {both[0]!r} is chosen both as a quasi-identifier and as a sensitive attribute; "
                        "choose one role for it.")
    k = _threshold(k)
    suppressed = int(suppressed or 0)
    if suppressed < 0:
        raise RiskError("The number of suppressed records cannot be negative.")
    n = len(df)
    enc = [encode(df[c]) for c in quasi]
    codes, cards = [e[0] for e in enc], [e[1] for e in enc]
    ids, n_classes = group(codes, cards, n)
    sizes = np.bincount(ids, minlength=n_classes)

    k_min, at_risk, uniques = _stats(sizes, k)
    report = RiskReport(
        rows=n + suppressed, suppressed=suppressed, classes=n_classes, k_min=k_min, k_threshold=k,
        records_at_risk=at_risk, records_at_risk_share=(at_risk / n if n else 0.0), uniques=uniques,
        highest_risk=(1.0 / k_min if k_min else 0.0), average_risk=(n_classes / n if n else 0.0),
        histogram=_histogram(sizes), quasi=list(quasi), sensitive=list(sensitive),
        record_class_size=sizes[ids],
    )
    for col in sensitive:
        report.l_diversity[col] = _diversity(ids, n_classes, sizes, df[col], k)
    if combinations and quasi:
        table = [_scatter(c, ids, n_classes) for c in codes]
        report.qi_combinations, report.combinations_note = _combinations(table, cards, sizes, list(quasi), k)
    if population is not None:
        from ctopen.population import estimate
        report.population = estimate(sizes, population, k=k)
    return report


def _stats(sizes: np.ndarray, k: int) -> tuple[int, int, int]:
    """(k_min, records at risk, uniques) from class sizes (integers or exact floats)."""
    if not len(sizes):
        return 0, 0, 0
    small = sizes < k
    return int(sizes.min()), int(sizes[small].sum()), int(np.count_nonzero(sizes == 1))


def _bucket_ranges(largest: int) -> list[tuple[int, int]]:
    ranges = [(i, i) for i in range(1, 11)] + [(11, 20), (21, 50), (51, 100)]
    hi = 100
    while hi < largest:
        ranges.append((hi + 1, hi * 10))
        hi *= 10
    return ranges


def _histogram(sizes: np.ndarray) -> list[Bucket]:
    if not len(sizes):
        return []
    per_size = np.bincount(sizes)                       # classes per exact size
    cum_classes = np.cumsum(per_size)
    cum_records = np.cumsum(per_size * np.arange(len(per_size), dtype=np.int64))
    top = len(per_size) - 1
    out = []
    for lo, hi in _bucket_ranges(top):
        if lo > top:
            break
        h = min(hi, top)
        classes = int(cum_classes[h] - cum_classes[lo - 1])
        if classes:
            out.append(Bucket(lo, hi, classes, int(cum_records[h] - cum_records[lo - 1])))
    return out


def _diversity(ids: np.ndarray, n_classes: int, sizes: np.ndarray, values: pd.Series, k: int = 2) -> Diversity:
    if not n_classes:
        return Diversity(0, 0.0)
    s_codes, s_card = encode(values)
    span = n_classes * s_card
    if span <= _dense_cap(len(ids)):        # count every (class, value) pair in place
        pair_count = np.bincount(ids * s_card + s_codes, minlength=span)
        present = np.flatnonzero(pair_count)
        pair_class, pair_count = present // s_card, pair_count[present]
    else:
        pair, n_pairs = group([ids, s_codes], [n_classes, s_card], len(ids))
        pair_class = _scatter(ids, pair, n_pairs)
        pair_count = np.bincount(pair, minlength=n_pairs)
    distinct = np.bincount(pair_class, minlength=n_classes)
    disclosing = (distinct == 1) & (sizes >= max(int(k), 2))
    n_groups, n_records = int(np.count_nonzero(disclosing)), int(sizes[disclosing].sum())
    if sizes.min() == 1:        # a class of one record holds one value: l is 1 whatever the others hold
        return Diversity(1, 1.0, n_groups, n_records)
    p = pair_count / sizes[pair_class]
    entropy = -np.bincount(pair_class, weights=p * np.log(p), minlength=n_classes)
    return Diversity(int(distinct.min()), float(math.exp(max(float(entropy.min()), 0.0))), n_groups, n_records)


def _scatter(values: np.ndarray, ids: np.ndarray, groups: int) -> np.ndarray:
    """Per group, the value its rows share (values constant within each group)."""
    out = np.empty(groups, dtype=values.dtype)
    out[ids] = values
    return out


def _combinations(table: list[np.ndarray], cards: list[int], counts: np.ndarray, names: list[str],
                  k: int) -> tuple[list[Combination], str | None]:
    """Risk of every subset of the QIs, on the table of distinct classes (codes per column + counts).
    Up to TOP_DOWN_MAX_QIS columns top-down (fast when small subsets have few combinations), above that
    bottom-up (fast when large subsets make most records unique: the number of large subsets explodes)."""
    m = len(names)
    note = None
    if m <= TOP_DOWN_MAX_QIS:
        found = _combinations_top_down(table, cards, counts, names, k)
    else:
        limit = m if m <= MAX_ALL_COMBINATIONS else MAX_SUBSET_SIZE_BEYOND
        found = _combinations_bottom_up(table, cards, counts, names, k, limit)
        if m > MAX_ALL_COMBINATIONS:
            k_min, at_risk, uniques = _stats(counts, k)
            found[tuple(range(m))] = Combination(list(names), uniques, k_min, at_risk)
            note = (f"With {m} quasi-identifiers only the combinations of up to {MAX_SUBSET_SIZE_BEYOND} columns "
                    f"and all {m} together are assessed (every subset is assessed up to {MAX_ALL_COMBINATIONS}).")
    ordered = sorted(found.items(), key=lambda kv: (len(kv[0]), -kv[1].uniques, kv[0]))
    return [c for _, c in ordered], note


def _combinations_top_down(table: list[np.ndarray], cards: list[int], counts: np.ndarray, names: list[str],
                             k: int) -> dict[tuple[int, ...], Combination]:
    """Every subset, top-down: each from the distinct table of a parent one column larger. Tables shrink
    as columns are removed, so this is fast when small subsets have few distinct combinations."""
    m = len(names)
    found: dict[tuple[int, ...], Combination] = {}

    def record(subset: tuple[int, ...], sizes: np.ndarray) -> None:
        k_min, at_risk, uniques = _stats(sizes, k)
        found[subset] = Combination([names[i] for i in subset], uniques, k_min, at_risk)

    def sizes_of(subset, codes_of, weights) -> tuple[np.ndarray, np.ndarray, int]:
        ids, g = group([codes_of[i] for i in subset], [cards[i] for i in subset], len(weights))
        return np.rint(np.bincount(ids, weights=weights, minlength=g)).astype(np.int64), ids, g

    full = tuple(range(m))
    record(full, counts)

    # Set-enumeration tree: the children of S are S minus x for each x in S above the largest column
    # missing from S, so every subset is reached once, from a parent one column larger.
    def visit(subset: tuple[int, ...], codes_of: dict[int, np.ndarray], weights: np.ndarray) -> None:
        missing_max = max((i for i in full if i not in subset), default=-1)
        for x in subset:
            if x <= missing_max:
                continue
            child = tuple(i for i in subset if i != x)
            if not child:
                continue
            sizes, ids, g = sizes_of(child, codes_of, weights)
            record(child, sizes)
            if len(child) > 1 and max(child) > x:      # the child has children of its own
                visit(child, {i: _scatter(codes_of[i], ids, g) for i in child}, sizes.astype(np.float64))

    visit(full, dict(enumerate(table)), counts.astype(np.float64))
    return found


def _combinations_bottom_up(table: list[np.ndarray], cards: list[int], counts: np.ndarray, names: list[str],
                              k: int, limit: int) -> dict[tuple[int, ...], Combination]:
    """Every subset of up to `limit` columns, bottom-up, in a set-enumeration tree (T's parent is T
    without its last column): each subset once, from a parent one column smaller. Adding a column only
    splits classes, so a record
    alone in its class stays alone, and a class smaller than k stays smaller: only the rows of classes
    of 2 or more are carried down and split again. Near-unique data thus shrinks fast as columns add up.
    """
    m = len(names)
    n = int(counts.sum())
    weights = counts.astype(np.float64)
    found: dict[tuple[int, ...], Combination] = {}

    def visit(subset: tuple[int, ...], rows: np.ndarray, ids: np.ndarray, groups: int, alone: int) -> None:
        # rows: distinct-table rows in classes of 2+ records over `subset`; ids: their class (0..groups-1);
        # alone: records in classes of one record over `subset`.
        for x in range((subset[-1] + 1) if subset else 0, m):
            child = subset + (x,)
            sub_ids, g = group([ids, table[x][rows]], [groups, cards[x]], len(rows))
            sizes = np.rint(np.bincount(sub_ids, weights=weights[rows], minlength=g)).astype(np.int64)
            singles = int(np.count_nonzero(sizes == 1))
            uniques = alone + singles
            k_min = 1 if uniques else (int(sizes.min()) if len(sizes) else 0)
            at_risk = (alone if k > 1 else 0) + int(sizes[sizes < k].sum())
            found[child] = Combination([names[i] for i in child], uniques, k_min, at_risk)
            if x < m - 1 and len(child) < limit:
                keep = sizes[sub_ids] >= 2
                if singles and keep.any():
                    kept_ids, kept_groups = _renumber(sub_ids[keep], g)
                    visit(child, rows[keep], kept_ids, kept_groups, uniques)
                elif keep.any():
                    visit(child, rows, sub_ids, g, uniques)
                else:
                    visit(child, rows[:0], sub_ids[:0], 0, uniques)

    if n >= 2:
        visit((), np.arange(len(counts)), np.zeros(len(counts), dtype=np.int64), 1, 0)
    else:                                    # 0 records: every figure is 0; 1 record: it is alone everywhere
        visit((), np.arange(0), np.zeros(0, dtype=np.int64), 0, n)
    return found


# --- what the page needs beyond the report ------------------------------------------------------

def what_if(df: pd.DataFrame, quasi: Sequence[str], k: int = DEFAULT_K,
            coarsened: Mapping[str, Any] | None = None, details: Mapping[str, str] | None = None) -> list[WhatIf]:
    """The figures if each QI were dropped (one at a time), and if a QI were replaced by a coarser version.

    coarsened: {column: values} where values (a Series or array, one per record, in df's row order,
    e.g. `ctopen.hierarchies.get("age").generalize(df["Age"], 1)`) replace that column's values;
    details: {column: what it was coarsened to}, copied into the result. See `one_level_coarser`.
    """
    quasi = _columns(df, quasi, "quasi-identifier")
    k = _threshold(k)
    n = len(df)
    enc = [encode(df[c]) for c in quasi]
    codes, cards = [e[0] for e in enc], [e[1] for e in enc]
    ids, n_classes = group(codes, cards, n)
    counts = np.bincount(ids, minlength=n_classes).astype(np.float64)
    table = [_scatter(c, ids, n_classes) for c in codes]
    out = []
    for j, col in enumerate(quasi):
        rest = [i for i in range(len(quasi)) if i != j]
        g_ids, g = group([table[i] for i in rest], [cards[i] for i in rest], n_classes)
        sizes = np.rint(np.bincount(g_ids, weights=counts, minlength=g)).astype(np.int64)
        out.append(WhatIf(col, "dropped", g, *_stats(sizes, k)))
    for col, values in (coarsened or {}).items():
        if col not in quasi:
            raise RiskError(f"Column {col!r} is not one of the quasi-identifiers assessed, so it cannot be coarsened here.")
        if len(values) != n:
            raise RiskError(f"The coarsened values of {col!r} have {len(values):,} rows; the table has {n:,}.")
        j = quasi.index(col)
        c_codes, c_card = encode(values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values, dtype=object))
        g_ids, g = group(codes[:j] + [c_codes] + codes[j + 1:], cards[:j] + [c_card] + cards[j + 1:], n)
        out.append(WhatIf(col, "coarsened", g, *_stats(np.bincount(g_ids, minlength=g), k),
                          detail=(details or {}).get(col, "")))
    return out


def one_level_coarser(df: pd.DataFrame, quasi: Sequence[str], entities: Mapping[str, str] | None = None
                      ) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """For each QI, its values one level up the generalization ladder the Transform step would suggest
    for it (ctopen.transform.suggest_hierarchy): the first level that merges some values (a column already
    at month goes to the next level up), and that level's name: the `coarsened` and `details` arguments of `what_if`. Columns without a usable ladder are left out; without ctopen.transform, none."""
    try:
        from ctopen import hierarchies
        from ctopen.transform import suggest_hierarchy
    except ImportError:
        return {}, {}
    values, details = {}, {}
    for col in _columns(df, quasi, "quasi-identifier"):
        try:
            found = suggest_hierarchy(col, df[col], (entities or {}).get(col))
            if not found:
                continue
            ladder = hierarchies.get(found[0], **found[1])
            if ladder.top < 2:       # level 1 would already be "*": that is dropping, shown apart
                continue
            # the first level that changes something: a released "2018-01" is already at month, so "to year"
            distinct = df[col].nunique()
            for level in range(1, ladder.top):
                coarser = ladder.generalize(df[col], level)
                if coarser.nunique() < distinct:
                    values[col] = coarser
                    details[col] = f"{ladder.label(level)} ({found[0].replace('_', ' ')})"
                    break
        except CtopenError:
            continue
    return values, details


def key_combinations(report: RiskReport, min_share: float = 0.05, limit: int = 10) -> list[Combination]:
    """The smallest QI combinations that already make at least `min_share` of the records unique:
    a combination is listed only if none of its own subsets reaches that share. Most uniques first
    within each size; smallest combinations first."""
    records = report.records
    if not records:
        return []
    need = max(1, math.ceil(min_share * records))
    hits = [c for c in report.qi_combinations if c.uniques >= need]
    minimal = [c for c in hits if not any(set(o.columns) < set(c.columns) for o in hits)]
    return sorted(minimal, key=lambda c: (len(c.columns), -c.uniques))[:limit]


def riskiest(df: pd.DataFrame, report: RiskReport, n: int = 10, masked: Iterable[str] = ()) -> pd.DataFrame:
    """The n records in the smallest classes (ties in table order): class size, the QIs, the sensitive
    attributes and the `masked` columns (direct identifiers), whose values are masked."""
    sizes = report.record_class_size
    if sizes is None or len(sizes) != len(df):
        raise RiskError("The risk figures were computed on a different table; assess this table first.")
    order = np.argsort(sizes, kind="stable")[:max(int(n), 0)]
    masked = [c for c in masked if c in df.columns and c not in report.quasi and c not in report.sensitive]
    cols = list(report.quasi) + list(report.sensitive) + masked
    out = df.iloc[order][cols].copy()
    for c in masked:
        out[c] = mask_values(out[c])
    out.insert(0, "Group size", sizes[order])
    return out


def mask_values(values: pd.Series) -> pd.Series:
    """Direct-identifier values masked for display (ctopen.detect.mask when present, else a local mask)."""
    masker = _local_mask
    try:
        from ctopen.detect import mask as detect_mask  # built by the Identify issue; optional here
        masker = detect_mask
    except ImportError:
        pass
    out = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(v)
            continue
        try:
            out.append(str(masker(str(v))))
        except Exception:  # noqa: BLE001 - a masker with another signature must never reveal a value
            out.append(_local_mask(str(v)))
    return pd.Series(out, index=values.index, dtype=object)


def _local_mask(value: str) -> str:
    """Used only without ctopen.detect: the first character, then a fixed run of bullets (length hidden)."""
    text = str(value).strip()
    return "••••" if len(text) <= 2 else text[0] + "••••"


# --- checks ------------------------------------------------------------------------------------

def _columns(df: pd.DataFrame, columns: Sequence[str] | str, what: str) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    out: list[str] = []
    for c in columns or ():
        if c not in df.columns:
            raise RiskError(f"The {what} column {c!r} is not in the table; "
                            f"check its spelling against the file's header.")
        if isinstance(df[c], pd.DataFrame):
            raise RiskError(f"The file has more than one column named {c!r}; rename one of them first.")
        if c not in out:
            out.append(c)
    return out


def _threshold(k: Any) -> int:
    try:
        value = int(k)
    except (TypeError, ValueError):
        raise RiskError(f"The group-size threshold k must be a whole number, not {k!r}.") from None
    if value < 1 or value != k:
        raise RiskError(f"The group-size threshold k must be a whole number of at least 1, not {k!r}.")
    return value
