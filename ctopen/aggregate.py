"""Count tables with the state's small-cell and complementary suppression.

The CT Open Data Handbook ("Data aggregation") takes the State Department of Education's rules as
its model; this module follows them:

1. A count of 1 to `threshold` (5) is suppressed, totals included (primary suppression).
2. Where a line of the table holds exactly one suppressed cell, the next smallest cell of that line is
   suppressed too (complementary suppression; ties broken at random with a fixed seed), repeated over
   every line of every dimension together until nothing changes.
3. Totals are kept wherever possible: a complement is taken from the line's cells, never its total,
   unless the line has no other non-zero cell left (then its total is suppressed).
4. Zeros are not suppressed (and never chosen as complements).
5. Every category appears (the full cross product of the categories), with 0 where there is no data.
6. A statistic (mean, percent) is suppressed when its count is, when its numerator is 5 or less, or
   when its denominator is under 20.

"Rows and columns" for any number of dimensions: the table is a cube with a "Total" position added to
each dimension (all marginal totals). A *line* is every 1-D run of the cube along one dimension with the
other dimensions held fixed (at a category or at Total): its cells plus its total. Each line is one
published equation (cells add up to the total). Rule 2 is applied to every line of every dimension.

Beyond the line rule, two checks make sure no suppressed cell can be worked out exactly:
- bounds: a reader knows a suppressed cell is at least 1 (zeros are shown) and a suppressed total at
  least the sum of its cells' lower bounds; a line whose total is published and whose suppressed cells
  are all at their lower bounds (two 1s under a published total) gets one more complement;
- an exact check of the linear system the published table defines (every line equation, with the
  published values substituted) finds any suppressed cell still determined by combining lines (a
  "bridge" between two protected groups). A cell is determined exactly when every null vector of the
  system is zero on it (`_determined`: dense for small groups of linked cells, conjugate gradients for
  large ones). In a small group the smallest cell on its lines is suppressed and the rules run again;
  in a large group a box of cells around it is suppressed, which frees it without another check. If the
  solver does not converge, `exact_check` (and the notes) say so.

Complementary suppression always runs over the full table with its totals, even when totals are not
published (`totals=False`): totals such as "deaths per year" are often published elsewhere.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ctopen.errors import RecipeError
from ctopen.values import parse_numbers

DEFAULT_THRESHOLD = 5
MIN_DENOMINATOR = 20        # rule 6: a mean or percent needs at least 20 records
MAX_NUMERATOR = 5           # rule 6: ... and a numerator above 5
TOTAL = "Total"
MISSING = "(blank)"
STATS = ("sum", "mean", "percent")
DENSE_MAX = 300            # groups of linked suppressed cells up to this size: dense eigendecomposition
CG_MAX_ITER = 20_000       # larger groups: conjugate gradients, at most this many iterations
MAX_CELLS = 5_000_000       # a table bigger than this is not a count table anyone can review
YES = {"y", "yes", "true", "t", "1", "1.0"}

_NONE = np.iinfo(np.int64).max


@dataclass
class CountTable:
    """The count table that would be published, with why each suppressed value is empty."""

    frame: pd.DataFrame          # as published: dimensions, count, count_suppressed, measures and flags
    by: list[str]
    threshold: int
    totals: bool
    measures: list[dict]
    records: int                 # records counted
    cells: int                   # count cells in the published table
    suppressed: int              # count cells suppressed
    primary: int                 # ... of which suppressed for being 1..threshold
    complementary: int           # ... of which suppressed to protect another cell
    measure_suppressed: dict[str, int] = field(default_factory=dict)
    exact_check: str = "passed"  # "passed", or why the exact check could not finish
    notes: str = ""
    _reasons: object = field(default=None, repr=False, compare=False)

    @property
    def reasons(self) -> pd.DataFrame:
        """Same index as `frame`; one column per published value column: why it is empty ("" if shown)."""
        if callable(self._reasons):
            self._reasons = self._reasons()
        return self._reasons

    def detail(self) -> pd.DataFrame:
        """The published frame with a plain-words "why suppressed" column (for review, not publishing)."""
        out = self.frame.copy()
        why = self.reasons.apply(lambda row: "; ".join(f"{c}: {r}" if c != "count" else r
                                                       for c, r in row.items() if r), axis=1)
        out["why suppressed"] = why
        return out

    def to_dict(self) -> dict:
        return {
            "by": list(self.by),
            "threshold": self.threshold,
            "totals": self.totals,
            "measures": [dict(m) for m in self.measures],
            "records": self.records,
            "cells": self.cells,
            "suppressed": self.suppressed,
            "primary": self.primary,
            "complementary": self.complementary,
            "measure_suppressed": dict(self.measure_suppressed),
            "exact_check": self.exact_check,
            "notes": self.notes,
        }


# --- public entry points ---------------------------------------------------------------------

def aggregate(df: pd.DataFrame, by, threshold: int = DEFAULT_THRESHOLD, totals: bool = True,
              measures=(), seed: int = 0, categories: dict | None = None, weights=None) -> CountTable:
    """Count the records of `df` by the columns `by` and suppress what could identify someone.

    `measures`: [{"column": C, "stat": "sum"|"mean"|"percent"}]. `categories`: {column: [values]} to
    show categories that have no records (they appear with 0). `weights`: records per row of `df` (a table
    already counted by its dimensions, as the DuckDB engine gives it; no measures then).
    """
    by = _check_by(df, by)
    threshold = _check_threshold(threshold)
    measures = _check_measures(df, measures, by)
    categories = categories or {}
    if not isinstance(categories, dict) or not all(isinstance(v, list) for v in categories.values()):
        raise RecipeError("The aggregate step's \"categories\" must map a column to a list of its categories.")

    codes, labels = [], []
    for col in by:
        c, lab = _factorize(df[col], categories.get(col))
        codes.append(c)
        labels.append(lab)
    shape = tuple(len(lab) for lab in labels)
    ncells = int(np.prod([n + 1 for n in shape], dtype=np.int64))
    if ncells > MAX_CELLS:
        raise RecipeError(f"A table by {', '.join(by)} would have {ncells:,} cells: choose fewer or "
                          "coarser dimensions (generalize them first).")
    flat = np.ravel_multi_index(codes, shape) if by else np.zeros(len(df), dtype=np.int64)
    if weights is not None and measures:
        raise RecipeError("Measures need the records themselves, not a table of counts.")
    interior = np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape).astype(np.int64)
    counts = _extend(interior)

    rng = np.random.default_rng(seed)
    tiekey = rng.permutation(counts.size).reshape(counts.shape).astype(np.int64)

    # counts: rules 1-4 and the exact check
    supp = (counts >= 1) & (counts <= threshold)
    why = {int(i): ("primary", int(counts.flat[i]), threshold) for i in np.flatnonzero(supp)}
    primary_mask = supp.copy()
    labeller = _Labeller(by, labels)
    status = _protect(counts, supp, tiekey, why, labeller, ones_rule=True)

    # measures: rule 6, then the same protection on their (additive) sums
    values_out, reasons_out, msupp_count = {}, {}, {}
    for m in measures:
        name = _measure_name(m)
        num, den, value = _measure_cube(df, m, flat, shape, counts)
        msupp = supp.copy()
        mwhy = {i: "count suppressed" for i in why}
        if m["stat"] in ("mean", "percent"):
            small_den = (den < MIN_DENOMINATOR) & (counts > 0) & ~msupp
            for i in np.flatnonzero(small_den):
                mwhy[int(i)] = f"denominator {int(den.flat[i])} < {MIN_DENOMINATOR}"
            msupp |= small_den
            small_num = (num <= MAX_NUMERATOR) & (den > 0) & ~msupp
            if m["stat"] == "percent":  # the share without the attribute is a numerator too
                small_num |= ((den - num) <= MAX_NUMERATOR) & (den - num > 0) & (den > 0) & ~msupp
            for i in np.flatnonzero(small_num):
                mwhy[int(i)] = f"numerator {_fmt(num.flat[i])} <= {MAX_NUMERATOR}" if num.flat[i] <= MAX_NUMERATOR \
                    else f"{int(den.flat[i] - num.flat[i])} of {int(den.flat[i])} records without it <= {MAX_NUMERATOR}"
            msupp |= small_num
            # a mean times its published count is an additive sum: protect it like the counts
            mstatus = _protect(counts, msupp, tiekey, mwhy, labeller, ones_rule=False, selectable=den > 0)
            if mstatus != "passed" and status == "passed":
                status = mstatus
        values_out[name] = (value, msupp)
        reasons_out[name] = mwhy
        msupp_count[name] = msupp

    frame, reasons = _frame(by, labels, counts, supp, why, values_out, reasons_out, totals, labeller)
    keep = _published_mask(counts.shape, totals)
    n_supp = int((supp & keep).sum())
    n_primary = int((primary_mask & keep).sum())
    return CountTable(
        frame=frame, _reasons=reasons, by=list(by), threshold=threshold, totals=bool(totals),
        measures=[dict(m) for m in measures], cells=int(keep.sum()),
        records=int(len(df)) if weights is None else int(np.asarray(weights, dtype=np.int64).sum()),
        suppressed=n_supp, primary=n_primary, complementary=n_supp - n_primary,
        measure_suppressed={k: int((v & keep).sum()) for k, v in msupp_count.items()},
        exact_check=status,
        notes=_notes(by, threshold, totals, measures, status),
    )


def apply_step(df: pd.DataFrame, step: dict) -> tuple[pd.DataFrame, dict]:
    """The recipe step {"op": "aggregate", "by": [...], "threshold": 5, "totals": true, "measures": [...]}.
    A table whose exact check did not pass (a suppressed cell could still be worked out) is refused."""
    if not isinstance(step, dict):
        raise RecipeError("An aggregate step must be an object with \"by\" listing the columns to count by.")
    unknown = set(step) - {"op", "by", "threshold", "totals", "measures", "seed", "categories"}
    if unknown:
        raise RecipeError(f"The aggregate step has unknown keys: {', '.join(sorted(unknown))}.")
    table = aggregate(df, step.get("by"), threshold=step.get("threshold", DEFAULT_THRESHOLD),
                      totals=step.get("totals", True), measures=step.get("measures") or (),
                      seed=step.get("seed", 0), categories=step.get("categories"))
    if table.exact_check != "passed":   # a release whose suppressed cells can be worked out is not protected
        raise RecipeError(f"This count table cannot be published: {table.exact_check}. Count by fewer or coarser "
                          "columns (for example towns grouped into counties).")
    log = {"op": "aggregate", **table.to_dict()}
    log["records_in"] = log.pop("records")
    log["rows_out"] = int(len(table.frame))
    return table.frame, log


# --- validation ------------------------------------------------------------------------------

def _check_by(df, by) -> list[str]:
    if isinstance(by, str):
        by = [by]
    if not by or not isinstance(by, (list, tuple)) or not all(isinstance(c, str) for c in by):
        raise RecipeError("The aggregate step needs \"by\": a list of at least one column to count by.")
    if len(set(by)) != len(by):
        raise RecipeError("The aggregate step lists a column twice in \"by\".")
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise RecipeError(f"The file has no column named {', '.join(repr(c) for c in missing)} to count by.")
    return list(by)


def _check_threshold(threshold) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise RecipeError(f"The suppression threshold must be a whole number of at least 1, not {threshold!r}.")
    return int(threshold)


def _check_measures(df, measures, by) -> list[dict]:
    out = []
    for m in measures or ():
        if not isinstance(m, dict) or "column" not in m or m.get("stat") not in STATS:
            raise RecipeError(f"Each aggregate measure needs a column and a stat ({', '.join(STATS)}); got {m!r}.")
        if m["column"] not in df.columns:
            raise RecipeError(f"The file has no column named {m['column']!r} to {m['stat']}.")
        if m["column"] in by:
            raise RecipeError(f"The column {m['column']!r} is a dimension; it cannot also be a measure.")
        out.append({"column": m["column"], "stat": m["stat"]})
    return out


# --- the cube --------------------------------------------------------------------------------

def _factorize(series: pd.Series, extra) -> tuple[np.ndarray, list[str]]:
    """Codes into the category list: given categories first, then the others sorted; blanks last."""
    codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=True)
    names = [str(u).strip() if u is not None else "" for u in uniques]
    names = [n if n else MISSING for n in names]
    wanted = [str(v) for v in (extra or [])]
    present = set(names) | ({MISSING} if (codes < 0).any() else set())
    order = wanted + sorted((u for u in present if u not in set(wanted)), key=_sort_key)
    if TOTAL in order:
        raise RecipeError(f"The column {series.name!r} has a category named {TOTAL!r}, which would be "
                          "confused with the table's totals: rename it first.")
    pos = {v: i for i, v in enumerate(order)}
    remap = np.array([pos[n] for n in names] + [pos.get(MISSING, -1)], dtype=np.int64)
    return remap[codes], order  # code -1 (missing) picks the last entry: MISSING


def _sort_key(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1 if v != MISSING else 2, 0.0, v.lower())


def _extend(interior: np.ndarray) -> np.ndarray:
    """Add a Total position at the end of every dimension (all marginal totals)."""
    ext = interior
    for ax in range(interior.ndim):
        ext = np.concatenate([ext, ext.sum(axis=ax, keepdims=True)], axis=ax)
    return ext


def _published_mask(shape, totals: bool) -> np.ndarray:
    keep = np.ones(shape, dtype=bool)
    if not totals:
        for ax, n in enumerate(shape):
            idx = [slice(None)] * len(shape)
            idx[ax] = n - 1
            keep[tuple(idx)] = False
    return keep


class _Labeller:
    def __init__(self, by, labels):
        self.by, self.labels = by, labels
        self.shape = tuple(len(lab) + 1 for lab in labels)

    def value(self, ax, i) -> str:
        return self.labels[ax][i] if i < len(self.labels[ax]) else TOTAL

    def cell(self, flat: int) -> str:
        idx = np.unravel_index(flat, self.shape)
        return "(" + ", ".join(f"{c}={self.value(a, int(i))}" for a, (c, i) in enumerate(zip(self.by, idx))) + ")"

    def line(self, flat: int, ax: int) -> str:
        idx = np.unravel_index(flat, self.shape)
        fixed = [f"{c}={self.value(a, int(i))}" for a, (c, i) in enumerate(zip(self.by, idx)) if a != ax]
        where = f" at {', '.join(fixed)}" if fixed else ""
        return f"the line across {self.by[ax]}{where}"


# --- protection ------------------------------------------------------------------------------

def _protect(values, supp, tiekey, why, labeller, ones_rule, selectable=None, max_rounds=200) -> str:
    """Complementary suppression in place on `supp` until no suppressed cell can be worked out."""
    if selectable is None:
        selectable = values > 0
    axes = list(range(values.ndim))
    if values.ndim == 1:  # one dimension: one line; a second axis of size 1 keeps the code 2-D
        values, supp, tiekey, selectable = values[:, None], supp[:, None], tiekey[:, None], selectable[:, None]
    status, proved = "passed", False
    for _ in range(max_rounds):
        changed = _line_rule(values, supp, tiekey, why, labeller, ones_rule, selectable, axes)
        if proved and not changed:
            return status  # only boxes were added since the last check: nothing new can be determined
        determined, large, status = _determined(supp, axes=axes, values=values if ones_rule else None)
        if not len(determined):
            return status
        added = _protect_determined(values, supp, tiekey, why, labeller, selectable, determined[~large], axes)
        boxed = _protect_boxes(values, supp, tiekey, why, selectable, determined[large], axes)
        if not added and not boxed:
            return "some suppressed cells could still be worked out and no cell was left to protect them"
        proved = not added and boxed == int(large.sum())
    return "stopped after too many rounds; suppressed cells may be recoverable"


def _line_rule(values, supp, tiekey, why, labeller, ones_rule, selectable, axes) -> bool:
    N = np.int64(values.size)
    changed, any_change = True, False
    while changed:
        changed = False
        for ax in axes:
            S = np.moveaxis(supp, ax, -1)
            V = np.moveaxis(values, ax, -1)
            n = S.shape[-1] - 1
            s_int = S[..., :n]
            k_int = s_int.sum(-1)
            need = (k_int + S[..., n]) == 1
            if ones_rule:
                # every suppressed cell of the line at its lower bound (1 for a cell, more for a total
                # of suppressed cells): the published total gives them all away
                low = np.moveaxis(_lower_bounds(values, supp, axes), ax, -1)
                ones = (~S[..., n]) & (k_int >= 2) & ((V[..., :n] * s_int).sum(-1) == (low[..., :n] * s_int).sum(-1))
                need |= ones
            if not need.any():
                continue
            lines = np.nonzero(need)
            cand = (~s_int[lines]) & np.moveaxis(selectable, ax, -1)[..., :n][lines]
            key = np.where(cand, V[..., :n][lines] * N + np.moveaxis(tiekey, ax, -1)[..., :n][lines], _NONE)
            j = key.argmin(-1)
            has = key[np.arange(len(j)), j] != _NONE
            # no non-zero cell left in the line: suppress its total (documented decision)
            total_ok = ~S[..., n][lines] & np.moveaxis(selectable, ax, -1)[..., n][lines]
            target = np.where(has, j, n)
            act = has | total_ok
            protected = np.moveaxis(supp, ax, -1)[lines].argmax(-1)  # first suppressed cell in the line
            ones_l = ones[lines] if ones_rule else np.zeros(len(j), dtype=bool)
            for i in np.flatnonzero(act):
                coords = [int(c[i]) for c in lines]
                t = coords.copy()
                t.insert(ax, int(target[i]))
                p = coords.copy()
                p.insert(ax, int(protected[i]))
                tf = int(np.ravel_multi_index(t, supp.shape))
                pf = int(np.ravel_multi_index(p, supp.shape))
                why[tf] = ("ones" if ones_l[i] else "line" if has[i] else "total", ax, pf)
                supp.flat[tf] = True
                changed = any_change = True
    return any_change


def _lower_bounds(values, supp, axes) -> np.ndarray:
    """What a reader can tell each cell is at least: published cells exactly, a suppressed cell 1 (zeros
    are shown), a suppressed total the sum of the lower bounds of its line's cells."""
    low = np.where(supp, 1, values).astype(np.int64)
    for _ in axes:
        for ax in axes:
            L = np.moveaxis(low, ax, -1)
            S = np.moveaxis(supp, ax, -1)
            n = L.shape[-1] - 1
            inner = L[..., :n].sum(-1)
            L[..., n] = np.where(S[..., n], np.maximum(L[..., n], inner), L[..., n])
    return low


def _protect_determined(values, supp, tiekey, why, labeller, selectable, determined, axes) -> int:
    """One more complement next to each suppressed cell the exact check found determined.

    The complement is the smallest non-zero published cell (cells before totals) on the lines through
    the determined cell; when those lines hold nothing but suppressed cells and zeros, the search goes
    on along the lines through the suppressed cells it met (nearest first).
    """
    N = np.int64(values.size)
    touched = set()
    added = 0
    for flat in determined:
        idx = np.unravel_index(int(flat), supp.shape)
        if any((ax, tuple(int(c) for a, c in enumerate(idx) if a != ax)) in touched for ax in axes):
            continue  # a complement was just added on one of its lines: check again next round
        best = _nearest_candidate(int(flat), values, supp, tiekey, selectable, axes, N)
        if best is None:
            continue
        supp.flat[best] = True
        why[best] = ("exact", 0, int(flat))
        tidx = np.unravel_index(best, supp.shape)
        for a in axes:
            touched.add((a, tuple(int(c) for b, c in enumerate(tidx) if b != a)))
        added += 1
    return added


def _protect_boxes(values, supp, tiekey, why, selectable, determined, axes, width: int = 4) -> int:
    """Free each determined cell of a large group by suppressing a box around it.

    A box takes two positions in every dimension (the cell's own and a partner: the smallest
    non-zero or already suppressed cell of its line, cells before totals); its 2^d cells carry a
    solution direction of the equations (+1/-1 alternating, or +1/+1 with a total), so no cell of the
    box can be worked out, and suppressing more never makes a safe cell unsafe. Costlier than one
    complement, but it needs no further check: used where the check is expensive (large groups).
    Returns how many determined cells got a box.
    """
    N = np.int64(values.size)
    done = 0
    for flat in determined:
        idx = [int(c) for c in np.unravel_index(int(flat), supp.shape)]
        options = []
        for ax in axes:
            n = supp.shape[ax] - 1
            cands = []
            for pos in range(n + 1):
                if pos == idx[ax]:
                    continue
                cell = list(idx)
                cell[ax] = pos
                f = int(np.ravel_multi_index(cell, supp.shape))
                if supp.flat[f]:
                    cands.append(((pos == n, -1), pos))
                elif selectable.flat[f]:
                    cands.append(((pos == n, int(values.flat[f]) * N + int(tiekey.flat[f])), pos))
            cands.sort()
            options.append([p for _, p in cands[:width]])
        for combo in sorted(itertools.product(*[range(len(o)) for o in options]), key=sum):
            box = []
            for corner in itertools.product((0, 1), repeat=len(axes)):
                cell = list(idx)
                for k, ax in enumerate(axes):
                    if corner[k]:
                        cell[ax] = options[k][combo[k]]
                box.append(int(np.ravel_multi_index(cell, supp.shape)))
            if all(supp.flat[f] or selectable.flat[f] for f in box):
                for f in box:
                    if not supp.flat[f]:
                        supp.flat[f] = True
                        why[f] = ("exact", 0, int(flat))
                done += 1
                break
    return done


def _nearest_candidate(flat, values, supp, tiekey, selectable, axes, N):
    frontier, seen = [flat], {flat}
    while frontier:
        best, nxt = None, []
        for cell_flat in frontier:
            idx = np.unravel_index(cell_flat, supp.shape)
            for ax in axes:
                n = supp.shape[ax] - 1
                for pos in range(n + 1):
                    cell = list(idx)
                    cell[ax] = pos
                    f = int(np.ravel_multi_index(cell, supp.shape))
                    if supp.flat[f]:
                        if f not in seen:
                            seen.add(f)
                            nxt.append(f)
                        continue
                    if not selectable.flat[f]:
                        continue
                    key = (pos == n, int(values.flat[f]) * N + int(tiekey.flat[f]))
                    if best is None or key < best[0]:
                        best = (key, f)
        if best is not None:
            return best[1]
        frontier = nxt
    return None


def _determined(supp: np.ndarray, axes=None, dense_max: int | None = None, values=None):
    """Suppressed cells whose value the published line equations determine exactly.

    The equations restricted to the suppressed cells form a matrix A (published values move to the
    right-hand side). A cell is determined exactly when its unit vector lies in the row space of A:
    when its leverage is 1, or equally when every null vector of A is zero on it. Computed per group of
    linked suppressed cells (cells that share a line): small groups by a dense eigendecomposition of
    A'A, larger ones by projecting a random vector on the null space of A with conjugate gradients (a
    cell is determined when the projection is zero on it; a non-determined cell is zero only with
    probability 0, and a false alarm only adds a complement).
    """
    dense_max = DENSE_MAX if dense_max is None else dense_max
    cells = np.flatnonzero(supp)
    if not len(cells):
        return cells, np.zeros(0, dtype=bool), "passed"
    shape = supp.shape
    idx = np.unravel_index(cells, shape)
    rows, signs = [], []
    offset = 0
    for ax in (range(len(shape)) if axes is None else axes):
        n = shape[ax]
        other = [idx[a] for a in range(len(shape)) if a != ax]
        oshape = [shape[a] for a in range(len(shape)) if a != ax]
        line = np.ravel_multi_index(other, oshape) if other else np.zeros(len(cells), dtype=np.int64)
        _, inv = np.unique(line, return_inverse=True)
        rows.append(inv + offset)
        signs.append(np.where(idx[ax] == n - 1, -1.0, 1.0))
        offset += int(inv.max()) + 1
    rows = np.stack(rows, axis=1)            # (cells, dims): the line of each cell along each dimension
    signs = np.stack(signs, axis=1)
    comp = _components(rows, offset)
    found, large, unchecked = [], [], 0
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    for group in np.split(order, bounds):
        if len(group) <= dense_max:
            lev, null = _leverage(rows[group], signs[group])
            at_risk = lev > 1 - 1e-6
            if values is not None and null.shape[1] == 1:
                at_risk |= _pinned_on_a_line(null[:, 0], values.reshape(-1)[cells[group]])
            found.append(cells[group[at_risk]])
            large.append(np.zeros(len(found[-1]), dtype=bool))
            continue
        determined = _null_projection(rows[group], signs[group])
        if determined is None:
            unchecked += len(group)
        else:
            found.append(cells[group[determined]])
            large.append(np.ones(len(found[-1]), dtype=bool))
    status = "passed"
    if unchecked:
        status = (f"the exact check did not converge for {unchecked:,} linked suppressed cells; the line rule "
                  "was applied to them")
    if not found:
        return cells[:0], np.zeros(0, dtype=bool), status
    return np.concatenate(found), np.concatenate(large), status


def _null_projection(rows: np.ndarray, signs: np.ndarray, tol: float = 1e-6):
    """Determined cells of a large group (bool array), or None when the solver did not converge.

    v = r - A'y with (AA')y = Ar (conjugate gradients) is the projection of a random r on the null
    space of A. Sums are taken with numpy reductions, not BLAS dot products: on a busy machine BLAS
    threads made each step 10x slower.
    """
    n, d = rows.shape
    _, line = np.unique(rows.reshape(-1), return_inverse=True)
    m = int(line.max()) + 1
    cell = np.repeat(np.arange(n), d)
    sign = signs.reshape(-1)

    def A(x):
        return np.bincount(line, weights=sign * x[cell], minlength=m)

    def At(y):
        return np.bincount(cell, weights=sign * y[line], minlength=n)

    r = np.random.default_rng(20240601).standard_normal(n)
    b = A(r)
    y = np.zeros(m)
    res = b.copy()
    p = res.copy()
    rs = float((res * res).sum())
    stop = (1e-11 * float(np.sqrt((b * b).sum()))) ** 2
    for _ in range(CG_MAX_ITER):
        if rs <= stop:
            break
        q = A(At(p))
        pq = float((p * q).sum())
        if pq <= 0:
            break
        alpha = rs / pq
        y += alpha * p
        res -= alpha * q
        rs_new = float((res * res).sum())
        p = res + (rs_new / rs) * p
        rs = rs_new
    v = r - At(y)
    if float(np.sqrt((A(v) ** 2).sum())) > 1e-8 * float(np.sqrt((r * r).sum())):
        return None
    return np.abs(v) < tol


def _leverage(rows: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Leverage of each cell in the equations of its lines (1 = determined by them)."""
    uniq, inv = np.unique(rows, return_inverse=True)
    A = np.zeros((len(uniq), len(rows)))
    A[inv.reshape(-1), np.repeat(np.arange(len(rows)), rows.shape[1])] = signs.reshape(-1)
    w, V = np.linalg.eigh(A.T @ A)
    nonzero = w > 1e-9 * max(1.0, float(w.max()))
    return (V[:, nonzero] ** 2).sum(axis=1), V[:, ~nonzero]


def _pinned_on_a_line(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """With one degree of freedom, the tables that agree with the published cells are x + t*v. A reader
    knows every suppressed cell is at least 1, so t has a range; when the only whole-number t in it is
    0, every cell that moves with t is given away (for example x3 = 2*x2 - 14 >= 1 and x5 = 9 - x2 >= 1
    leave only x2 = 8). Returns those cells."""
    moving = np.abs(v) > 1e-9
    if not moving.any():
        return moving
    v = v / np.abs(v[moving]).min()
    for scale in range(1, 7):  # make it a whole-number vector (null vectors of these tables are)
        w = v * scale
        if np.allclose(w, np.round(w), atol=1e-6):
            v = np.round(w)
            break
    else:
        return np.zeros(len(v), dtype=bool)  # not recognized: leave it to the other checks
    g = np.gcd.reduce(np.abs(v[moving]).astype(np.int64))
    v = v / g
    up = v > 0
    down = v < 0
    # x + t*v >= 1  <=>  t >= (1 - x)/v where v > 0, t <= (x - 1)/(-v) where v < 0
    lo = np.max(np.ceil((1 - x[up]) / v[up])) if up.any() else -np.inf
    hi = np.min(np.floor((x[down] - 1) / -v[down])) if down.any() else np.inf
    if lo == 0 and hi == 0:
        return moving
    return np.zeros(len(v), dtype=bool)


def _components(rows: np.ndarray, nlines: int) -> np.ndarray:
    """Connected groups of cells that share a line (min-label propagation)."""
    label = np.arange(len(rows))
    while True:
        line_label = np.full(nlines, len(rows))
        np.minimum.at(line_label, rows.reshape(-1), np.repeat(label, rows.shape[1]))
        new = line_label[rows].min(axis=1)
        new = np.minimum(new, label)
        new = new[new]  # pointer jumping speeds up long chains
        if np.array_equal(new, label):
            return label
        label = new


# --- measures --------------------------------------------------------------------------------

def _measure_name(m: dict) -> str:
    return f"{m['stat']}_{m['column']}"


def _measure_cube(df, m, flat, shape, counts):
    """(numerator, denominator, published value) cubes of one measure, with totals."""
    col = df[m["column"]]
    size = int(np.prod(shape))
    if m["stat"] == "percent":
        text = col.astype("str").str.strip().str.lower()
        yes = text.isin(YES).to_numpy(dtype=bool, na_value=False)
        num = _extend(np.bincount(flat, weights=yes.astype(float), minlength=size).reshape(shape))
        den = counts.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.round(np.where(den > 0, 100.0 * num / np.maximum(den, 1), np.nan), 1)
        return num, den, value
    numbers = parse_numbers(col).to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(numbers)
    if not ok.any():
        raise RecipeError(f"The column {m['column']!r} holds no numbers to {m['stat']}.")
    num = _extend(np.bincount(flat[ok], weights=numbers[ok], minlength=size).reshape(shape))
    den = _extend(np.bincount(flat[ok], minlength=size).reshape(shape).astype(float))
    if m["stat"] == "sum":
        return num, den, num
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.round(np.where(den > 0, num / np.maximum(den, 1), np.nan), 2)
    return num, den, value


def _fmt(x) -> str:
    return f"{x:g}"


# --- output ----------------------------------------------------------------------------------

def _frame(by, labels, counts, supp, why, values_out, reasons_out, totals, labeller):
    shape = counts.shape
    grid = np.indices(shape).reshape(len(shape), -1) if by else np.zeros((0, 1), dtype=np.int64)
    data = {}
    for ax, col in enumerate(by):
        names = np.array(list(labels[ax]) + [TOTAL], dtype=object)
        data[col] = pd.array(names[grid[ax]], dtype="str")
    flat_supp = supp.reshape(-1)
    data["count"] = pd.array(np.where(flat_supp, 0, counts.reshape(-1)), dtype="Int64")
    data["count"][flat_supp] = pd.NA
    data["count_suppressed"] = flat_supp.copy()
    for name, (value, msupp) in values_out.items():
        col = pd.array(value.reshape(-1).astype(float), dtype="Float64")
        col[msupp.reshape(-1) | np.isnan(value.reshape(-1))] = pd.NA
        data[name] = col
        data[f"{name}_suppressed"] = msupp.reshape(-1).copy()
    frame = pd.DataFrame(data)
    keep = _published_mask(shape, totals).reshape(-1)
    if not keep.all():
        frame = frame[keep].reset_index(drop=True)

    def reasons() -> pd.DataFrame:  # built when asked: the UI wants it, apply() does not
        cols = {"count": _reason_column(why, counts.size, labeller)}
        for name in values_out:
            cols[name] = _reason_column(reasons_out[name], counts.size, labeller)
        return pd.DataFrame(cols)[keep].reset_index(drop=True)

    return frame, reasons


def _reason_column(why: dict, size: int, labeller) -> np.ndarray:
    out = np.full(size, "", dtype=object)
    for i, r in why.items():
        out[i] = _reason_text(r, labeller)
    return out


def _reason_text(r, labeller) -> str:
    if isinstance(r, str):
        return r
    kind, a, b = r
    if kind == "primary":
        return f"primary: count {a} <= {b}"
    if kind == "exact":
        return (f"complementary: protects cell {labeller.cell(b)}, which could otherwise be worked out from "
                "the published cells and totals")
    line = labeller.line(b, a)
    if kind == "ones":
        return f"complementary: the suppressed cells of {line} would all be at their smallest possible value"
    if kind == "line":
        return f"complementary: protects cell {labeller.cell(b)} in {line}"
    return f"complementary: total suppressed because {line} has no other non-zero cell to protect {labeller.cell(b)}"


def _notes(by, threshold, totals, measures, status) -> str:
    parts = [
        f"Counts of records by {', '.join(by)}. Following the CT Open Data Handbook's data aggregation "
        f"guidance (State Department of Education model): counts of 1 to {threshold} are suppressed, "
        "totals included; where a row or column (any line of the table, with its total) had only one "
        "suppressed cell, the next smallest non-zero cell was suppressed too, repeated until no suppressed "
        "value can be worked out from the published cells and totals; zeros are shown; every category "
        "appears, with 0 where there are no records.",
    ]
    if measures:
        parts.append("Averages and percents are suppressed where the count is, where the numerator is "
                     f"{MAX_NUMERATOR} or less or the denominator is under {MIN_DENOMINATOR}; sums where "
                     "the count is.")
    if not totals:
        parts.append("Totals are not included.")
    parts.append("Suppressed values are empty, with a companion column ending in \"_suppressed\" set to true.")
    if status != "passed":
        parts.append(f"Note: {status}.")
    return " ".join(parts)
