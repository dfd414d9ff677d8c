"""Recommend the least-loss generalization that reaches a target k (and optionally l).

`recommend(df, quasi, k=5, sensitive=None, l=None, max_suppression=0.01, hierarchies=None)`
searches the lattice of level vectors (one generalization level per quasi-identifier) and
returns a `Recommendation` whose `to_dict()` is the JSON of `python -m ctopen recommend`.

How (docs/recipe.md, "Information loss (recommend)"):
- Work on the table of distinct combinations of the quasi-identifiers (and the sensitive
  attribute, when an l target is set) with their record counts: one grouping of the rows. Each
  column is generalized once per level on its distinct values; a level is then a code map, and a
  node of the lattice is a few array gathers and one count of its equivalence classes.
- Target: after removing the records in classes smaller than k (what the recipe's `suppress`
  step does), at most `max_suppression` of the records are removed and, with an l target, every
  remaining class holds at least l distinct sensitive values (distinct-l; a missing value is a value).
- The k part is monotone (if a node meets it, every coarser node does; if it fails, every finer
  node fails), so one evaluation settles whole up- or down-sets, as ARX's Flash does. The l part is
  NOT monotone once small classes are suppressed (a coarser node can merge two suppressed classes
  of one value into a kept class that fails l), so it is checked on every candidate, never inferred.
- Loss of a node (in [0, 1]), the figure the Transform page shows (transform.information_loss):
  per column, ARX's loss averaged over its non-missing records (a generalized value covering c of
  the column's d distinct values loses (c-1)/(d-1); "*" loses 1); the columns' mean A for the
  records kept, and suppressed records fully lost: loss = A + (suppressed/rows) * (1 - A).
  A alone is monotone up the lattice and never above the loss, so it is a lower bound: nodes are
  visited in the order of that bound and the search stops when it passes the best loss found, so
  the answer is optimal over the whole lattice (tests compare it with exhaustive search).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import CtopenError, RecipeError
from ctopen.risk import encode, group

MAX_NODES = 2_000_000          # lattice size above which recommend asks for fewer quasi-identifiers
EPS = 1e-12
EXTRA_EVALUATIONS = 30   # evaluations spent after the optimum, looking for alternatives


class RecommendError(CtopenError):
    """No generalization meets the target, or the request cannot be searched."""


@dataclass
class Alternative:
    levels: dict[str, int]
    k_min: int | None
    suppressed: int
    loss: float
    l_min: int | None = None
    weighted_loss: float | None = None     # what the search minimised (= loss without weights)

    def to_dict(self) -> dict:
        return {"levels": dict(self.levels), "k_min": self.k_min, "suppressed": self.suppressed,
                "loss": round(self.loss, 6), "l_min": self.l_min,
                "weighted_loss": round(self.loss if self.weighted_loss is None else self.weighted_loss, 6)}


@dataclass
class Recommendation:
    levels: dict[str, int]
    k_min: int | None
    suppressed: int
    loss: float
    nodes_evaluated: int
    seconds: float
    recipe: dict
    rows: int = 0
    l_min: int | None = None
    lattice_size: int = 0
    target: dict = field(default_factory=dict)
    alternatives: list[Alternative] = field(default_factory=list)
    minimal: bool = True          # no single QI one level lower meets the target within the budget
    notes: list[str] = field(default_factory=list)
    hierarchies: dict = field(default_factory=dict)   # column -> {"hierarchy": H, **options} searched
    labels: dict = field(default_factory=dict)        # column -> the name of each level ("year", ...)
    weights: dict = field(default_factory=dict)       # column -> its weight (1 = the default)
    max_levels: dict = field(default_factory=dict)    # column -> the coarsest level allowed
    weighted_loss: float | None = None                # what the search minimised (= loss without weights)
    not_nested: dict = field(default_factory=dict)    # column -> why its ladder is not nested

    def to_dict(self) -> dict:
        return {
            "levels": dict(self.levels),
            "k_min": self.k_min,
            "suppressed": self.suppressed,
            "loss": round(self.loss, 6),
            "nodes_evaluated": self.nodes_evaluated,
            "seconds": round(self.seconds, 3),
            "recipe": self.recipe,
            "rows": self.rows,
            "l_min": self.l_min,
            "lattice_size": self.lattice_size,
            "target": dict(self.target),
            "minimal": self.minimal,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "notes": list(self.notes),
            "hierarchies": {c: dict(h) for c, h in self.hierarchies.items()},
            "labels": {c: list(v) for c, v in self.labels.items()},
            "weights": dict(self.weights),
            "max_levels": dict(self.max_levels),
            "weighted_loss": round(self.loss if self.weighted_loss is None else self.weighted_loss, 6),
            "not_nested": dict(self.not_nested),
        }


# --- hierarchies -----------------------------------------------------------------------------------

def resolve_hierarchy(column: str, series: pd.Series, spec=None):
    """(hierarchy object, step options) for a column: from a spec ("age", {"hierarchy": "age",
    "top_code": 90}, or a hierarchy object), else the hierarchy Transform suggests for it."""
    from ctopen import hierarchies

    if spec is None:
        spec = _suggest(column, series)
    if isinstance(spec, (tuple, list)):       # ("age", {"top_code": 90}), as suggest_hierarchy gives
        spec = {"hierarchy": spec[0], **(spec[1] if len(spec) > 1 and spec[1] else {})}
    if isinstance(spec, str):
        return hierarchies.get(spec), {"hierarchy": spec}
    if isinstance(spec, dict):
        name = spec.get("hierarchy")
        if not name:
            raise RecipeError(f"The hierarchy for column {column!r} has no name.")
        # options as in a recipe step; "state_column" (a town's state, read by apply) is a step setting
        # kept in the spec: the search reads the column the same way (transform.step_distinct)
        options = {k: v for k, v in spec.items() if k not in ("op", "column", "level", "hierarchy", "state_column")}
        state = {"state_column": spec["state_column"]} if spec.get("state_column") and name == "ct_town" else {}
        return hierarchies.get(name, **options), {"hierarchy": name, **options, **state}
    # an object with .levels and .generalize (tests, or a hierarchy built by the caller)
    name = getattr(spec, "name", None) or "custom"
    return spec, {"hierarchy": name, **dict(getattr(spec, "options", {}) or {})}


def _suggest(column: str, series: pd.Series):
    from ctopen.transform import suggest_hierarchy

    found = suggest_hierarchy(column, series)
    if not found:      # an empty column: nothing to generalize but "*"
        return {"hierarchy": "category", "min_count": settings.DEFAULT_K}
    name, options = found
    return {"hierarchy": name, **options}


def specs_from_recipe(recipe: dict | None) -> dict:
    """The hierarchies a recipe's generalize steps chose ({column: {"hierarchy": H, **options}}, with the
    step's "state_column" when it has one)."""
    from ctopen import recipe as recipes

    out = {}
    for step in (recipe or {}).get("steps", []):
        if step.get("op") == "generalize" and step.get("column") and step.get("hierarchy"):
            state = {"state_column": step["state_column"]} if step.get("state_column") else {}
            out[step["column"]] = {"hierarchy": step["hierarchy"], **recipes.hierarchy_options(step), **state}
    return out


# --- the distinct-combination table ---------------------------------------------------------------

@dataclass
class _Column:
    name: str
    step: dict                    # {"hierarchy": H, **options} for the recipe
    height: int                   # number of levels (0 .. height-1)
    codes: list[np.ndarray]       # per level: group code of each distinct value (int32, len M)
    cards: list[int]              # per level: number of groups
    row_values: np.ndarray = None                                # distinct value of each table row
    column_loss: np.ndarray = None                               # per level: the column's loss
    ok: np.ndarray = None                                        # ok[a, b]: level b a function of a
    labels: list = field(default_factory=list)                    # per level: its name ("year")
    nested: bool = True


class _AsIs:
    """A column kept as it is (no generalize step): one level, the values themselves."""
    name = "as is"
    levels = 2

    def generalize(self, series, level):
        return series

    def label(self, level):
        return "as is"


def _column_ladder(name: str, df: pd.DataFrame, hierarchy, step: dict,
                   only: int | None = None, weights: np.ndarray | None = None) -> tuple[_Column, np.ndarray]:
    """Generalize one column at every level (or only at level `only`, for a column whose level is
    fixed); returns the column's ladder and its per-row value codes.

    A registered hierarchy maps the column's distinct values with their record counts exactly as
    apply does (transform.step_distinct and generalize_distinct), and its loss is Hierarchy's; any
    other object with .levels and .generalize is asked for its values on the distinct values."""
    from ctopen import hierarchies
    from ctopen.transform import generalize_distinct, step_distinct

    series = df[name]
    registered = isinstance(hierarchy, hierarchies.Hierarchy)
    if step.get("state_column") and step["state_column"] not in df.columns:
        raise RecipeError(f"The state column {step['state_column']!r} given for {name!r} is not in the file.")
    if registered:
        codes, uniques, records, outside = step_distinct(df, {**step, "column": name}, hierarchy)
    else:
        codes, uniques = pd.factorize(series)
        codes = np.asarray(codes, dtype=np.int64)
        records, outside = np.bincount(codes[codes >= 0], minlength=len(uniques)), None
    if weights is not None:       # a table of distinct rows with the records each stands for
        records = np.bincount(codes[codes >= 0], weights=weights[codes >= 0], minlength=len(uniques)).astype(np.int64)
    # missing values: one distinct value of their own (a group of their own), last
    m = len(uniques)
    value_codes = np.where(codes < 0, m, codes)
    has_na = bool((codes < 0).any())
    if has_na:
        uniques = uniques.insert(m, None) if len(uniques) else pd.Index([None], dtype=object)
        records = np.append(records, int((codes < 0).sum()) if weights is None else int(weights[codes < 0].sum()))
        outside = None if outside is None else np.append(outside, False)
    is_na = np.zeros(len(uniques), dtype=bool)
    is_na[m:] = True
    height = int(hierarchy.levels)
    source = None if registered else pd.Series(pd.array(list(uniques), dtype="str"), name=name)
    codes_by_level, cards, column_loss = [], [], []
    todo = list(range(height)) if only is None else [int(only)]
    for level in todo:
        if registered:
            out = generalize_distinct(hierarchy, uniques, records, level, outside)
        else:
            out = np.asarray(hierarchy.generalize(source, level), dtype=object)
        c, u = pd.factorize(pd.Series(out, dtype=object), use_na_sentinel=False)
        codes_by_level.append(c.astype(np.int32))
        cards.append(len(u))
        # the column's loss at this level (the same figure as transform.information_loss)
        if level == height - 1:
            column_loss.append(1.0)
        elif registered:
            column_loss.append(hierarchy.loss_distinct(uniques, records, level, mapped=out))
        else:
            column_loss.append(hierarchies.distinct_loss(out, records, is_na))
    col = _Column(name=name, step=step, height=len(todo), codes=codes_by_level, cards=cards,
                  column_loss=np.array(column_loss))
    col.nested = _is_nested(col)
    label = getattr(hierarchy, "label", None)
    col.labels = [str(label(v)) if callable(label) else ("*" if v == height - 1 else f"level {v}") for v in todo]
    return col, value_codes


def _fixed_column(name: str, df: pd.DataFrame, step: dict | None, weights: np.ndarray | None = None
                  ) -> tuple[_Column | None, np.ndarray | None]:
    """A quasi-identifier the search leaves where the recipe has it: as is (step None), generalized at
    its level, pseudonymized (the same groups as is, fully lost) or dropped (no column: None)."""
    op = (step or {}).get("op")
    if op == "drop":
        return None, None
    if op == "generalize":
        hierarchy, spec = resolve_hierarchy(name, df[name], step)
        return _column_ladder(name, df, hierarchy, spec, only=hierarchy.check_level(step["level"])
                              if hasattr(hierarchy, "check_level") else int(step["level"]), weights=weights)
    col, codes = _column_ladder(name, df, _AsIs(), {"hierarchy": "as is"}, only=0, weights=weights)
    if op == "pseudonymize":
        col.column_loss = np.array([1.0])
        col.labels = ["anonymous ID"]
    return col, codes


def _is_nested(col: _Column) -> bool:
    """Each level must be a function of the level below it (else monotonicity does not hold)."""
    col.ok = _function_matrix(col)
    return bool(all(col.ok[a, a + 1] for a in range(col.height - 1)))


def _limit(col: _Column, max_level: int) -> None:
    """Keep levels 0..max_level of a column's ladder (a limit such as "never coarser than 10-year bands")."""
    keep = max(1, min(col.height, int(max_level) + 1))
    if keep == col.height:
        return
    col.height = keep
    col.codes, col.cards = col.codes[:keep], col.cards[:keep]
    col.column_loss, col.labels = col.column_loss[:keep], col.labels[:keep]
    col.nested = _is_nested(col)


def _function_matrix(col: _Column) -> np.ndarray:
    """ok[a, b] (a <= b): the groups at level b are unions of the groups at level a (level b is a
    function of level a), so going from a to b can only merge groups. Monotonicity, and rolling a
    group table up from a to b, hold exactly along such steps; the search infers nothing across
    others (e.g. ZIP "000" gathers restricted prefixes of several states, split again by "state")."""
    h = col.height
    ok = np.zeros((h, h), dtype=bool)
    for a in range(h):
        ok[a, a] = True
        for b in range(a + 1, h):
            pairs = np.unique(col.codes[a].astype(np.int64) * (col.cards[b] + 1) + col.codes[b])
            ok[a, b] = len(pairs) == col.cards[a]
    return ok


class _Problem:
    """The distinct-combination table and the per-level code maps, built once."""

    def __init__(self, df: pd.DataFrame, quasi: list[str], sensitive: str | None, specs: dict,
                 fixed: dict | None = None, max_levels: dict | None = None, counts: np.ndarray | None = None):
        weights = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.n = len(df) if weights is None else int(weights.sum())
        self.quasi = quasi
        cols, value_codes = [], []
        self.not_nested: dict[str, str] = {}
        for name in quasi:
            hierarchy, step = resolve_hierarchy(name, df[name], specs.get(name))
            col, vc = _column_ladder(name, df, hierarchy, step, weights=weights)
            if name in (max_levels or {}):
                _limit(col, max_levels[name])
            if not col.nested:
                why = getattr(hierarchy, "not_nested", None)
                self.not_nested[name] = "; ".join(why()) if callable(why) else ""
            cols.append(col)
            value_codes.append(vc)
        self.dropped = 0          # fixed quasi-identifiers that are dropped: fully lost, in no group
        self.fixed = []
        for name, step in (fixed or {}).items():
            col, vc = _fixed_column(name, df, step, weights)
            if col is None:
                self.dropped += 1
                continue
            cols.append(col)
            value_codes.append(vc)
            self.fixed.append(name)
        self.cols = cols
        keys = list(value_codes)
        cards = [len(c.codes[0]) for c in cols]
        self.sens_card = 0
        if sensitive is not None:
            s_codes, s_card = encode(df[sensitive])
            keys.append(s_codes)
            cards.append(s_card)
            self.sens_card = s_card
        ids, _ = group(keys, cards, len(df), dense=False)
        row_ids, first = np.unique(ids, return_index=True)
        inverse = np.searchsorted(row_ids, ids)
        self.count = np.bincount(inverse, weights=weights, minlength=len(row_ids)).astype(np.int64)
        self.rows = len(row_ids)
        self.sens = keys[-1][first] if sensitive is not None else None
        for col, vc in zip(cols, value_codes):
            base = vc[first]
            col.row_values = base
        self.nested = all(c.nested for c in cols)
        # lower bound of the loss (no suppression), per column and level: mean loss over records
        self.level_loss = [c.column_loss for c in cols]


# --- evaluating one node ---------------------------------------------------------------------------

@dataclass
class _Eval:
    suppressed: int
    k_min: int | None
    l_min: int | None
    classes: int


class _Evaluator:
    """Evaluates nodes, rolling each one up from the smallest stored class table below it (ARX's
    "snapshots"): a node's classes are unions of the classes of any finer node, so once a node has
    been counted its table of classes (often far smaller than the distinct combinations) serves
    every coarser node. Needs nested hierarchies; the reference (exhaustive) mode uses the base only."""

    def __init__(self, p: _Problem, k: int, with_l: bool, rollup: bool, cap: int | None = None,
                 budget_rows: int | None = None):
        self.p, self.k, self.with_l, self.rollup = p, k, with_l, rollup
        self.cap = p.n if cap is None else cap   # beyond it the node fails: loss and l are not needed
        # the base table holds each column's distinct values (level -1): every level is a function of them
        base = _Snapshot(tuple(-1 for _ in p.cols), [c.row_values for c in p.cols], p.count, p.sens)
        self.snaps = [base]
        self.snap_levels = np.full((1, len(p.cols)), -1, dtype=np.int16)
        self.snap_rows = np.array([p.rows])
        self.budget = budget_rows if budget_rows is not None else 6 * max(p.rows, 1000)
        self._up: dict[tuple[int, int, int], np.ndarray] = {}

    def _map(self, j: int, a: int, b: int) -> np.ndarray:
        key = (j, a, b)
        if key not in self._up:
            c = self.p.cols[j]
            up = np.zeros(c.cards[a], dtype=np.int32)
            up[c.codes[a]] = c.codes[b]
            self._up[key] = up
        return self._up[key]

    def _source(self, levels) -> _Snapshot:
        if not self.rollup or len(self.snaps) == 1:
            return self.snaps[0]
        ok = np.ones(len(self.snaps), dtype=bool)
        for j, (c, v) in enumerate(zip(self.p.cols, levels)):
            ok[1:] &= c.ok[:, v][self.snap_levels[1:, j]]
        rows = np.where(ok, self.snap_rows, np.iinfo(np.int64).max)
        return self.snaps[int(np.argmin(rows))]

    def __call__(self, levels: tuple[int, ...]) -> _Eval:
        p, k = self.p, self.k
        src = self._source(levels)
        codes = []
        for j, (a, b) in enumerate(zip(src.levels, levels)):
            if a < 0:
                codes.append(p.cols[j].codes[b][src.codes[j]])
            else:
                codes.append(src.codes[j] if a == b else self._map(j, a, b)[src.codes[j]])
        cards = [c.cards[v] for c, v in zip(p.cols, levels)]
        ids, n_ids = group(codes, cards, len(src.count), dense=False)
        sizes = np.bincount(ids, weights=src.count, minlength=n_ids)
        small = (sizes > 0) & (sizes < k)
        suppressed = int(round(sizes[small].sum()))
        kept = sizes >= max(k, 1)
        k_min = int(sizes[kept].min()) if kept.any() else None
        l_min = None
        pair_ids = None
        if self.with_l and (suppressed <= self.cap or self.rollup):
            pair_ids, pairs = pd.factorize(ids * np.int64(p.sens_card) + src.sens)
            if kept.any():
                distinct = np.bincount(pairs // p.sens_card, minlength=n_ids)
                l_min = int(distinct[kept].min())
        classes = int((sizes > 0).sum())
        if self.rollup:
            self._store(levels, codes, ids, n_ids, sizes, src, pair_ids)
        return _Eval(suppressed, k_min, l_min, classes)

    def _store(self, levels, codes, ids, n_ids, sizes, src, pair_ids) -> None:
        if pair_ids is None:
            present = sizes > 0
            n = int(present.sum())
            if n > len(ids) // 2 or n > self.p.rows // 4:
                return   # not worth keeping: rolling up from it would save little
            if n < n_ids:   # make the class ids dense
                ids = (np.cumsum(present) - 1)[ids]
                sizes = sizes[present]
            groups = ids
        else:
            groups = pair_ids
            n = int(pair_ids.max()) + 1 if len(pair_ids) else 0
            if n > len(ids) // 2 or n > self.p.rows // 4:
                return
        first = np.empty(n, dtype=np.int64)
        first[groups[::-1]] = np.arange(len(groups) - 1, -1, -1)
        count = sizes[ids[first]].astype(np.int64) if pair_ids is None else \
            np.bincount(groups, weights=src.count, minlength=n).astype(np.int64)
        snap = _Snapshot(tuple(levels), [c[first] for c in codes], count,
                         None if src.sens is None else src.sens[first])
        self.snaps.append(snap)
        self.snap_levels = np.vstack([self.snap_levels, np.asarray(levels, dtype=np.int16)])
        self.snap_rows = np.append(self.snap_rows, n)
        while self.snap_rows[1:].sum() > self.budget and len(self.snaps) > 1:
            drop = 1 + int(np.argmax(self.snap_rows[1:]))
            del self.snaps[drop]
            self.snap_levels = np.delete(self.snap_levels, drop, axis=0)
            self.snap_rows = np.delete(self.snap_rows, drop)


@dataclass
class _Snapshot:
    levels: tuple
    codes: list            # per column: group code at `levels` of each row
    count: np.ndarray      # records per row
    sens: np.ndarray | None


# --- the search --------------------------------------------------------------------------------------

def recommend(df: pd.DataFrame, quasi, k: int = settings.DEFAULT_K, sensitive: str | None = None,
              l: int | None = None, max_suppression: float = settings.DEFAULT_MAX_SUPPRESSION,
              hierarchies: dict | None = None, alternatives: int = 6, exhaustive: bool = False,
              progress=None, fixed: dict | None = None, weights: dict | None = None,
              max_levels: dict | None = None, counts=None) -> Recommendation:
    """The least-loss level vector that meets k (and l) within the suppression budget.

    hierarchies: {column: "age" | {"hierarchy": "age", "top_code": 90} | hierarchy object}; columns
    not named get Transform's suggestion. exhaustive=True evaluates every node (the reference).
    progress: optional callable(share_done: float) for a progress bar.
    fixed: other quasi-identifiers that stay as the recipe has them, {column: step or None (as is)}:
    they still form the groups (unless dropped) and count in the information lost, as on the
    Transform page; their steps are part of the printed recipe.
    weights: {column: w >= 0} how much losing detail in a column costs (ARX's attribute weights; 1 is the
    default): the search minimises sum_j w_j loss_j / m + suppressed/rows * (1 - the columns' mean loss),
    which is the information lost when every weight is 1; raising a column's weight never makes that
    column coarser in the answer. max_levels: {column: N} the coarsest level a column may take.
    counts: records per row of df when df is a table of distinct rows (the DuckDB engine's distinct QI
    combinations, ctopen.engine.distinct_table): the same recommendation as on the records themselves.
    """
    start = time.perf_counter()
    quasi = list(dict.fromkeys(quasi or []))
    fixed = {c: s for c, s in (fixed or {}).items() if c not in quasi}
    if not quasi:
        raise RecommendError("Choose at least one quasi-identifier to recommend a generalization for.")
    records = len(df) if counts is None else int(np.asarray(counts, dtype=np.int64).sum())
    _check_request(df, quasi + list(fixed), k, sensitive, l, max_suppression, records)
    weights, max_levels = check_priorities(weights, max_levels, quasi, fixed)
    if records < k:
        raise RecommendError(f"The file has {records} records, fewer than k = {k}: no generalization can reach it.")
    with_l = sensitive is not None and l is not None and l > 1
    p = _Problem(df, quasi, sensitive if with_l else None, hierarchies or {}, fixed, max_levels, counts=counts)
    searched = set(quasi)
    heights = [c.height for c in p.cols]
    n_nodes = int(np.prod(heights, dtype=np.int64))
    if n_nodes > MAX_NODES:
        raise RecommendError(
            f"{len(quasi)} columns to generalize give {n_nodes:,} combinations of levels, more than the "
            f"{MAX_NODES:,} that can be searched: leave out columns that repeat another one (a county "
            "beside its town) or that nobody could know about a person.")
    cap = int(np.floor(max_suppression * p.n + 1e-9))
    nq = len(p.cols)
    # every level vector, in mixed-radix order (the last column varies fastest), as in _index
    grid = np.indices(heights, dtype=np.int16).reshape(nq, -1).T
    gcols = [np.ascontiguousarray(grid[:, j]) for j in range(nq)]

    oks = [c.ok for c in p.cols]

    def above(i: int) -> np.ndarray:
        """Mask of the nodes whose groups are unions of node i's groups: on every column a level at
        or above i's that is a function of it (with nested ladders: simply every coarser node)."""
        mask = np.ones(len(grid), dtype=bool)
        for j in range(nq):
            row = oks[j][grid[i, j]]
            if not row.all():
                mask &= row[gcols[j]]
        return mask

    def below(i: int) -> np.ndarray:
        """Mask of the nodes whose groups node i's groups are unions of."""
        mask = np.ones(len(grid), dtype=bool)
        for j in range(nq):
            col = oks[j][:, grid[i, j]]
            if not col.all():
                mask &= col[gcols[j]]
        return mask

    def step_ok(j: int, a: int, b: int) -> bool:
        return bool(oks[j][min(a, b), max(a, b)])
    # the columns' mean loss (no suppression): the information lost by the records kept
    plain = np.full(len(grid), float(p.dropped))    # a dropped quasi-identifier loses everything
    for j, c in enumerate(p.cols):
        plain += p.level_loss[j][grid[:, j]]
    plain /= nq + p.dropped
    # what is minimised: the weighted mean (the plain mean without weights), a lower bound of the objective
    col_weight = [float(weights.get(c.name, 1.0)) for c in p.cols]
    weighted = bool(weights) and any(w != 1.0 for w in col_weight)
    if weighted:
        lb = np.full(len(grid), float(sum(float(weights.get(c, 1.0)) for c, s in fixed.items()
                                            if (s or {}).get("op") == "drop")))
        for j, c in enumerate(p.cols):
            lb += col_weight[j] * p.level_loss[j][grid[:, j]]
        lb /= nq + p.dropped
        p.level_loss = [w * x for w, x in zip(col_weight, p.level_loss)]     # steers the search's walks
    else:
        lb = plain

    def objective(i: int, suppressed: int) -> float:
        if not weighted:
            return _loss(float(plain[i]), suppressed, p.n)
        rows = max(p.n, 1)
        return float(lb[i]) + min(suppressed, rows) / rows * (1.0 - float(plain[i]))
    height_sum = grid.sum(axis=1)
    order = np.lexsort(tuple(grid[:, j] for j in range(nq - 1, -1, -1)) + (height_sum, lb))
    prune = not exhaustive
    status = np.zeros(len(grid), dtype=np.int8)       # k part: 1 meets, -1 fails, 0 unknown
    zero = np.zeros(len(grid), dtype=bool)            # known to suppress nothing
    cache: dict[int, _Eval] = {}
    run = _Evaluator(p, k, with_l, rollup=prune, cap=cap)

    found: dict[int, tuple] = {}      # nodes that meet the target -> (loss, suppressed)
    state = {"best": None, "best_loss": np.inf, "zero_best": np.inf, "evaluated": 0}

    def consider(i: int, e: _Eval | None) -> None:
        """Record node i if it meets the whole target (k within the budget, and l)."""
        if i in found:
            return
        if e is None:                      # inferred: meets k and suppresses nothing
            loss, sup = objective(i, 0), 0
        else:
            if e.suppressed > cap or (with_l and (e.l_min is None or e.l_min < l)):
                return
            loss, sup = objective(i, e.suppressed), e.suppressed
        found[i] = (loss, sup)
        if loss < state["best_loss"] - EPS:
            state["best"], state["best_loss"] = i, loss
        if sup == 0 and loss < state["zero_best"]:
            state["zero_best"] = loss

    def evaluate(i: int) -> _Eval:
        if i not in cache:
            cache[i] = e = run(tuple(int(x) for x in grid[i]))
            state["evaluated"] += 1
            if prune:
                if e.suppressed <= cap:
                    up = above(i)
                    status[up] = 1
                    if e.suppressed == 0:
                        zero[up] = True
                else:
                    status[below(i)] = -1
            else:
                status[i] = 1 if e.suppressed <= cap else -1
            consider(i, e)
            if progress is not None and state["evaluated"] % 8 == 0:
                # settled: known to meet or fail k, or beyond the best loss found
                progress(float(np.mean((status != 0) | (lb > state["best_loss"]))))
        return cache[i]

    def resolve(i: int, limit: float) -> None:
        """Settle the k part of node i. Most nodes below the optimum's bound fail, so first evaluate
        the highest unknown node above i that is still within the bound (if it fails, i and all
        below it fail), then bisect the chain below it (Flash-like)."""
        chain = [i]
        node = grid[i].astype(int).copy()
        while True:     # down: lower the column whose lowering saves the most loss, while unknown
            steps = [(p.level_loss[j][node[j]] - p.level_loss[j][node[j] - 1], j) for j in range(nq) if node[j] > 0]
            nxt = None
            for _, j in sorted(steps, reverse=True):
                if not step_ok(j, node[j] - 1, node[j]):
                    continue
                node[j] -= 1
                idx = _index(node, heights)
                if status[idx] == 0:
                    nxt = idx
                    break
                node[j] += 1
            if nxt is None:
                break
            chain.insert(0, nxt)
        node = grid[i].astype(int).copy()
        while True:     # up: raise the column that costs the least loss, while unknown and in bound
            steps = [(p.level_loss[j][node[j] + 1] - p.level_loss[j][node[j]], j)
                     for j in range(nq) if node[j] < heights[j] - 1]
            nxt = None
            for _, j in sorted(steps):
                if not step_ok(j, node[j], node[j] + 1):
                    continue
                node[j] += 1
                idx = _index(node, heights)
                if status[idx] == 0 and lb[idx] <= limit + 1e-9:
                    nxt = idx
                    break
                node[j] -= 1
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) > 1 and evaluate(chain[-1]).suppressed > cap:
            return
        lo, hi = 0, len(chain) - 1
        while status[i] == 0 and lo <= hi:
            mid = (lo + hi) // 2
            if status[chain[mid]] != 0:
                if status[chain[mid]] > 0:
                    hi = mid - 1
                else:
                    lo = mid + 1
                continue
            if evaluate(chain[mid]).suppressed <= cap:
                hi = mid - 1
            else:
                lo = mid + 1

    extra_budget = None               # evaluations allowed after the optimum is settled (alternatives)
    for i in order:
        if not exhaustive and lb[i] > state["best_loss"] + 1e-9:
            # the optimum is settled; go on a little to find alternatives with fewer records suppressed
            if extra_budget is None:
                extra_budget = state["evaluated"] + EXTRA_EVALUATIONS
                settled = (state["best"], state["best_loss"])
            if lb[i] > state["zero_best"] + 1e-9 or state["evaluated"] >= extra_budget:
                break
        if status[i] == 0:
            if prune:
                limit = state["best_loss"] if extra_budget is None else state["zero_best"]
                resolve(i, limit)
            else:
                evaluate(i)
        if status[i] < 0:
            continue
        if zero[i] and not with_l:
            consider(i, None)
        else:
            evaluate(i)
    best, best_loss = state["best"], state["best_loss"]
    if extra_budget is not None:
        best, best_loss = settled
    evaluated = state["evaluated"]
    if progress is not None:
        progress(1.0)
    if best is None:
        raise RecommendError(_no_solution(p, k, l if with_l else None, max_suppression))
    best = _tie_break(best, best_loss, found, grid)
    e = evaluate(best)
    levels = {c.name: int(v) for c, v in zip(p.cols, grid[best]) if c.name in searched}
    specs = {c.name: dict(c.step) for c in p.cols if c.name in searched}
    groups = [c for c in df.columns if c in searched or (c in fixed and (fixed[c] or {}).get("op") != "drop")]
    rec = Recommendation(
        hierarchies=specs,
        labels={c.name: c.labels for c in p.cols if c.name in searched},
        levels=levels,
        k_min=e.k_min,
        suppressed=e.suppressed,
        loss=_loss(float(plain[best]), e.suppressed, p.n) if weighted else best_loss,
        weighted_loss=best_loss,
        weights={c: float(weights.get(c, 1.0)) for c in quasi} if weights else {},
        max_levels=dict(max_levels),
        not_nested=dict(p.not_nested),
        nodes_evaluated=evaluated,
        seconds=0.0,
        recipe=recipe_for(levels, specs, k, max_suppression, fixed=fixed, columns=groups,
                          priorities=priorities_for(weights, max_levels)),
        rows=p.n,
        l_min=e.l_min if with_l else None,
        lattice_size=n_nodes,
        target={"k": k, "max_suppression": max_suppression,
                **({"sensitive": sensitive, "l": l} if with_l else {})},
    )
    rec.minimal = _is_minimal(best, grid, heights, found, status, evaluate)
    if not rec.minimal:
        rec.notes.append("A column could be one level finer and still meet the target, but that would "
                         "suppress more records and lose more information overall.")
    if not p.nested:
        named = [c for c in p.not_nested]
        rec.notes.append((f"The hierarchy of {', '.join(f'“{c}”' for c in named)} is not nested" if named else
                          "Some hierarchy is not nested")
                         + " (a level is not a function of the one below"
                         + (": " + "; ".join(w for w in p.not_nested.values() if w) if any(p.not_nested.values()) else "")
                         + "): results were inferred only along the levels that are, and every other level was "
                         "evaluated.")
    if max_levels:
        rec.notes.append("Never coarser than: " + ", ".join(
            f"“{c}” {rec.labels[c][min(v, len(rec.labels[c]) - 1)]}" for c, v in max_levels.items() if c in rec.labels) + ".")
    rec.alternatives = _alternatives(found, evaluate, grid, p, alternatives, with_l,
                                     real=(lambda i, sup: _loss(float(plain[i]), sup, p.n)) if weighted else None)
    rec.seconds = time.perf_counter() - start
    return rec


def _loss(average: float, suppressed: int, rows: int) -> float:
    """The columns' average loss for the records kept; suppressed records count as fully lost."""
    from ctopen.transform import combined_loss

    return combined_loss(average, suppressed, rows)


def repeating_columns(df: pd.DataFrame, quasi, share: float = 0.85) -> dict[str, str]:
    """Quasi-identifiers that repeat another one: {column: the column it repeats}.

    B repeats A when A's value gives B's in at least `share` of the records holding both (values compared
    without case or outer spaces), A's groups hold at least 5 records on average (an exact date "gives"
    anything), B is not nearly one value throughout, and B is not finer than A; when each gives the other, the one with the longer values
    repeats (a "HARTFORD, CT (41.76, -72.67)" location beside its town). A county beside its town, a
    state beside its town, a map location beside its town: searching them as well only multiplies the
    combinations of levels."""
    cols = [c for c in dict.fromkeys(quasi or []) if c in df.columns]
    norm = {c: df[c].astype("string").str.strip().str.casefold() for c in cols}
    codes = {c: pd.Series(pd.factorize(norm[c])[0], index=df.index) for c in cols}      # missing -> -1
    distinct = {c: int(norm[c].nunique()) for c in cols}
    length = {c: float(norm[c].str.len().mean() or 0.0) for c in cols}

    def gives(a: str, b: str) -> bool:
        both = (codes[a] >= 0) & (codes[b] >= 0)
        n = int(both.sum())
        if n < 20 or distinct[a] * 5 > n:
            return False
        if float(codes[b][both].value_counts(normalize=True).iloc[0]) >= share:   # nearly one value: anything "gives" it
            return False
        g = pd.DataFrame({"a": codes[a][both], "b": codes[b][both]})
        return float((g.groupby("a")["b"].transform("nunique") <= 1).mean()) >= share

    out: dict[str, str] = {}
    for b in cols:
        for a in cols:
            if a == b or a in out or not gives(a, b):
                continue
            back = gives(b, a)
            if back and (length[b], b) < (length[a], a):
                continue
            if not back and distinct[b] > distinct[a]:
                continue
            out[b] = a
            break
    return out


def lattice_size(df: pd.DataFrame, quasi, hierarchies: dict | None = None, max_levels: dict | None = None) -> int:
    """How many level vectors a search over these columns would have (before any work on rows), with
    the levels above a column's limit (`max_levels`) left out."""
    size = 1
    for c in dict.fromkeys(quasi or []):
        if c not in df.columns:
            raise RecipeError(f"The file has no column named {c!r}.")
        h, _ = resolve_hierarchy(c, df[c], (hierarchies or {}).get(c))
        levels = int(h.levels)
        if c in (max_levels or {}):
            levels = max(1, min(levels, int(max_levels[c]) + 1))
        size *= levels
    return size


def _index(node, heights) -> int:
    idx = 0
    for v, h in zip(node, heights):
        idx = idx * h + int(v)
    return idx


def _tie_break(best, best_loss, found, grid):
    """Among nodes with the same loss: fewer levels in all (so no tied node one level lower is left
    out: the answer stays minimal among equals), then fewer records suppressed, then by column."""
    ties = [i for i, (loss, _) in found.items() if abs(loss - best_loss) <= 1e-12]
    return min(ties, key=lambda i: (int(grid[i].sum()), found[i][1], tuple(int(x) for x in grid[i])))


def _is_minimal(best, grid, heights, found, status, evaluate) -> bool:
    """Does every node one level lower on one column miss the target? (Each is checked: with a
    ladder that is not nested, a lower level can lose more and so was never visited.)"""
    node = grid[best].astype(int)
    for j in range(len(node)):
        if node[j] == 0:
            continue
        lower = node.copy()
        lower[j] -= 1
        idx = _index(lower, heights)
        if idx not in found and status[idx] >= 0:
            evaluate(idx)     # records it in `found` when it meets the whole target
        if idx in found:
            return False
    return True


def _alternatives(found, evaluate, grid, p, limit, with_l, real=None) -> list[Alternative]:
    """A few good alternatives: the Pareto front of (loss, records suppressed) among the nodes seen
    that meet the target, from the least loss to the least suppression, evenly thinned to `limit`."""
    if limit <= 0:
        return []
    rows = sorted((loss, sup, int(grid[i].sum()), i) for i, (loss, sup) in found.items())
    front, least_sup = [], np.inf
    for loss, sup, _, i in rows:
        if sup < least_sup:
            front.append(i)
            least_sup = sup
    if len(front) > limit:
        keep = np.unique(np.linspace(0, len(front) - 1, limit).round().astype(int))
        front = [front[j] for j in keep]
    out = []
    for i in front:
        e = evaluate(i)
        out.append(Alternative(levels={c.name: int(v) for c, v in zip(p.cols, grid[i]) if c.name in p.quasi},
                               k_min=e.k_min, suppressed=e.suppressed,
                               loss=found[i][0] if real is None else real(i, found[i][1]),
                               l_min=e.l_min if with_l else None, weighted_loss=found[i][0]))
    return out


def recipe_for(levels: dict, hierarchies: dict, k: int, max_suppression: float, fixed: dict | None = None,
               columns: list[str] | None = None, priorities: dict | None = None) -> dict:
    """A Transform recipe that applies `levels` ({column: level}) with the searched hierarchies
    ({column: {"hierarchy": H, **options}}) and then suppresses what is left below k over `columns`
    (default: the columns of `levels`). `fixed` steps ({column: step or None}) come first, as given.
    `priorities` ({column: {"weight", "max_level"}}), when given, are kept under the recipe's "priorities"."""
    steps = [dict(s) for s in (fixed or {}).values() if s]
    steps += [generalize_step(c, hierarchies[c], v) for c, v in levels.items() if needs_step(hierarchies[c], v)]
    steps.append(suppress_step(list(columns if columns is not None else levels), k, max_suppression))
    out = {"version": 1, "steps": steps}
    if priorities:
        out["priorities"] = {c: dict(v) for c, v in priorities.items()}
    return out


MAX_WEIGHT = 1000.0
WEIGHT_CHOICES = {"matters most": 4.0, "matters": 1.0, "matters less": 0.25}   # the app's words for weights


def check_priorities(weights: dict | None, max_levels: dict | None, quasi: list[str], fixed: dict | None = None
                     ) -> tuple[dict, dict]:
    """Weights ({column: number from 0 to 1000}) and limits ({column: whole number >= 0}) checked against the
    columns searched (a weight for a column kept as the recipe has it is ignored: its level does not move).
    RecommendError naming what is wrong."""
    out_w, out_m = {}, {}
    for c, w in (weights or {}).items():
        if c not in quasi:
            if c in (fixed or {}):
                continue
            raise RecommendError(f"A weight is given for “{c}”, which is not one of the columns to generalize.")
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not np.isfinite(w) \
                or not 0 <= float(w) <= MAX_WEIGHT:
            raise RecommendError(f"The weight of “{c}” must be a number from 0 to {MAX_WEIGHT:g} (1 is the default), "
                                 f"not {w!r}.")
        out_w[c] = float(w)
    for c, v in (max_levels or {}).items():
        if c not in quasi:
            if c in (fixed or {}):
                continue
            raise RecommendError(f"A level limit is given for “{c}”, which is not one of the columns to generalize.")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise RecommendError(f"The level limit of “{c}” must be a whole number of at least 0, not {v!r}.")
        out_m[c] = int(v)
    return out_w, out_m


def priorities_for(weights: dict | None, max_levels: dict | None) -> dict:
    """The recipe's "priorities" key: {column: {"weight": w, "max_level": n}} (only what was set)."""
    out: dict = {}
    for c, w in (weights or {}).items():
        out.setdefault(c, {})["weight"] = float(w)
    for c, v in (max_levels or {}).items():
        out.setdefault(c, {})["max_level"] = int(v)
    return out


def priorities_from_recipe(recipe: dict | None) -> tuple[dict, dict]:
    """(weights, max_levels) from a recipe's "priorities" key ({} and {} without one)."""
    value = (recipe or {}).get("priorities")
    if value is None:
        return {}, {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise RecipeError("The recipe's \"priorities\" must map columns to {\"weight\": W, \"max_level\": N}.")
    weights = {c: v["weight"] for c, v in value.items() if "weight" in v}
    limits = {c: v["max_level"] for c, v in value.items() if "max_level" in v}
    unknown = sorted({k for v in value.values() for k in v} - {"weight", "max_level"})
    if unknown:
        raise RecipeError(f"The recipe's \"priorities\" has unknown keys: {', '.join(map(repr, unknown))} "
                          "(known: weight, max_level).")
    return weights, limits


def needs_step(spec: dict, level: int) -> bool:
    """Does the recipe need a generalize step for this level? Above 0 always; at 0 only when the
    hierarchy already changes values there (an age top-coded at 90: the search counted "90+")."""
    if int(level) > 0:
        return True
    from ctopen import hierarchies

    options = {k: v for k, v in spec.items() if k not in ("op", "column", "level", "hierarchy", "state_column")}
    try:
        return hierarchies.get(spec.get("hierarchy"), **options).changes_as_is
    except RecipeError:      # a hierarchy object the caller built (not registered): its level 0 is as is
        return False


def generalize_step(column: str, spec: dict, level: int) -> dict:
    return {"op": "generalize", "column": column, **spec, "level": int(level)}


def suppress_step(quasi: list[str], k: int, max_suppression: float) -> dict:
    return {"op": "suppress", "k": int(k), "columns": list(quasi), "max_share": float(max_suppression)}


def _check_request(df, quasi, k, sensitive, l, max_suppression, records: int | None = None) -> None:
    if not quasi:
        raise RecommendError("Choose at least one quasi-identifier to recommend a generalization for.")
    missing = [c for c in quasi + ([sensitive] if sensitive else []) if c not in df.columns]
    if missing:
        raise RecipeError(f"The file has no column named {', '.join(repr(c) for c in missing)}.")
    if sensitive is not None and sensitive in quasi:
        raise RecommendError(f"{sensitive!r} cannot be both a quasi-identifier and the sensitive attribute.")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise RecommendError("The target k must be a whole number of at least 1.")
    if l is not None and (not isinstance(l, (int, np.integer)) or l < 1):
        raise RecommendError("The target l must be a whole number of at least 1.")
    if l is not None and l > 1 and sensitive is None:
        raise RecommendError("An l-diversity target needs a sensitive attribute.")
    if not 0 <= float(max_suppression) <= 1:
        raise RecommendError("The suppression budget must be a share between 0 and 1 (0.01 = 1%).")
    if (len(df) if records is None else records) == 0:
        raise RecommendError("The file has no records.")


def _no_solution(p, k, l, max_suppression) -> str:
    if p.n < k:
        return f"The file has {p.n} records, fewer than k = {k}: no generalization can reach it."
    if p.fixed:
        names = ", ".join(f"“{c}”" for c in p.fixed)
        return (f"Even with the chosen columns fully hidden, the other quasi-identifiers as the recipe has them "
                f"({names}) keep too many records in groups that miss the target: add them to the columns to "
                "generalize, or change them on the Columns tab.")
    if l is not None:
        return (f"No generalization gives every group at least {l} different values of the sensitive "
                f"attribute within a {max_suppression:.1%} suppression budget; lower l or raise the budget.")
    return (f"No generalization reaches k = {k} within a {max_suppression:.1%} suppression budget; "
            "raise the budget or lower k.")
