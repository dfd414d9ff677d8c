"""A recipe as SQL: sqlglot expressions, never pasted strings (docs/cli.md, `ctopen sql`).

`Release(recipe, table, columns, dialect)` builds the query that turns a table into the release, step by
step (one CTE per step, in `recipe.in_apply_order`). Values from the recipe (a table hierarchy's entries, a
town list) are sqlglot literals, quoted by sqlglot for the dialect; column names are quoted identifiers; the
pseudonym key is never in the text: it is a query parameter (`pseudonym_params` gives its values).

A step that a dialect cannot express exactly as ctopen's in-memory path computes it is refused with an
`UnsupportedStep` naming the step and the dialect: a query that would give another release is never emitted.

The DuckDB engine (ctopen.engine.duck) drives the same builder with `mapping=`: each generalize step is then a
join with the table of the column's distinct values mapped by ctopen.hierarchies itself (exact for every
hierarchy, whatever the dialect could express), and a row-order column keeps the file's order.
"""
from __future__ import annotations

import hashlib
import sys
from typing import Callable

import sqlglot
from sqlglot import exp

from ctopen import hierarchies, settings
from ctopen import recipe as recipes
from ctopen.errors import RecipeError

DIALECTS = ("duckdb", "spark", "trino")
STAR = hierarchies.STAR
PSEUDONYM_CHARS = 16          # ctopen.transform.PSEUDONYM_HEX_CHARS (checked by a test)
ROW_ORDER = "__ctopen_row"    # the engine's row-order column (the file's row number)
INTERNAL = "__ctopen_"        # the prefix of every name the queries make beside the table's own columns

# Python's str.strip() removes these (str.isspace); SQL's trim() removes spaces only.
_WS = "".join(chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace())
WS_CLASS = "[" + "".join(f"\\x{{{ord(c):04x}}}" for c in _WS) + "]"


class UnsupportedStep(RecipeError):
    """A recipe step a dialect cannot express exactly (the message names the step and the dialect)."""


def same_name(a: str, b: str) -> bool:
    """Whether two column names are one name to SQL: DuckDB, Spark and Trino match identifiers without regard to
    case, even quoted ("A" finds a column named a)."""
    a, b = str(a), str(b)
    return a != b and (a.lower() == b.lower() or a.casefold() == b.casefold())


def case_clash(names) -> tuple[str, str] | None:
    """The first two names that SQL takes for one (see same_name), or None."""
    seen: dict[str, str] = {}
    for n in map(str, names):
        for key in (n.lower(), n.casefold()):
            if key in seen and seen[key] != n:
                return seen[key], n
        seen.setdefault(n.lower(), n)
        seen.setdefault(n.casefold(), n)
    return None


def is_internal(name: str) -> bool:
    """A name beginning like the queries' own names (in any case: SQL does not tell __CTOPEN_ROW from __ctopen_row)."""
    return str(name).lower().startswith(INTERNAL) or str(name).casefold().startswith(INTERNAL)


def table_name(text: str) -> exp.Table:
    """A table named catalog.schema.table (one to three parts of letters, digits and _): anything else is refused,
    so a name never carries SQL of its own."""
    import re
    parts = str(text).split(".")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in parts):
        raise RecipeError(f"The table name {text!r} is not one ctopen writes into SQL: give it as table, "
                          "schema.table or catalog.schema.table, each part letters, digits and _.")
    names = [exp.to_identifier(p) for p in parts]
    return exp.Table(this=names[-1], db=names[-2] if len(names) > 1 else None,
                     catalog=names[-3] if len(names) > 2 else None)


def check_dialect(dialect: str) -> str:
    d = str(dialect or "").lower()
    if d not in DIALECTS:
        raise RecipeError(f"Unknown SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}.")
    return d


# --- small builders -----------------------------------------------------------------------------

def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(str(name), quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def lit(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def fn(name: str, *args) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def cast_text(e: exp.Expression, dialect: str) -> exp.Expression:
    return exp.Cast(this=e, to=exp.DataType.build("VARCHAR" if dialect != "spark" else "STRING"))


def case(whens: list[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None) -> exp.Case:
    c = exp.Case()
    for cond, value in whens:
        c = c.when(cond, value)
    return c.else_(default) if default is not None else c


def regexp_replace_all(e, pattern: str, replacement: str, dialect: str) -> exp.Expression:
    if dialect == "duckdb":
        return fn("regexp_replace", e, lit(pattern), lit(replacement), lit("g"))
    return fn("regexp_replace", e, lit(pattern), lit(replacement))


def strip_ws(e, dialect: str) -> exp.Expression:
    """Python's str.strip(): every Unicode space at both ends (SQL's trim removes only ' ')."""
    return regexp_replace_all(e, f"^{WS_CLASS}+|{WS_CLASS}+$", "", dialect)


def full_match(e, pattern: str, dialect: str) -> exp.Expression:
    """Whether the whole text matches (pattern without anchors)."""
    if dialect == "duckdb":
        return fn("regexp_full_match", e, lit(pattern))
    if dialect == "spark":
        return exp.RegexpLike(this=e, expression=lit(f"^(?:{pattern})$"))
    return fn("regexp_like", e, lit(f"^(?:{pattern})$"))


def render(e: exp.Expression, dialect: str, pretty: bool = True) -> str:
    return e.sql(dialect=dialect, pretty=pretty)


# --- the pseudonym key as parameters --------------------------------------------------------------

def pseudonym_params(key: bytes, dialect: str) -> dict[str, str]:
    """The query parameters a pseudonymize step's SQL reads (hex text), from the key: HMAC-SHA-256's inner and
    outer padded keys (DuckDB, Spark: SHA-256 of concatenated bytes) or the key itself (Trino's hmac_sha256).
    Pass them with the query (DuckDB `execute(sql, params)`, Spark `spark.sql(sql, args=...)`, Trino
    `EXECUTE ... USING`); they never appear in the SQL text."""
    dialect = check_dialect(dialect)
    key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if dialect == "trino":
        return {"pseudonym_key": key.hex()}
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\x00")
    return {"pseudonym_ikey": bytes(b ^ 0x36 for b in block).hex(),
            "pseudonym_okey": bytes(b ^ 0x5C for b in block).hex()}


def _param(name: str, dialect: str) -> exp.Expression:
    if dialect == "trino":
        return exp.Placeholder()                       # ?  (EXECUTE ... USING the key)
    if dialect == "duckdb":
        return exp.Parameter(this=exp.Var(this=name))  # $name
    return exp.Placeholder(this=name)                  # :name (spark.sql(query, args=...))


def pseudonym_expr(value: exp.Expression, dialect: str) -> exp.Expression:
    """HMAC-SHA-256(key, value stripped of outer spaces), its first 16 hex characters (ctopen.transform.pseudonym)."""
    text = strip_ws(value, dialect)
    if dialect == "duckdb":
        unhex = lambda e: fn("unhex", e)  # noqa: E731
        inner = fn("sha256", exp.DPipe(this=unhex(_param("pseudonym_ikey", dialect)), expression=fn("encode", text)))
        outer = fn("sha256", exp.DPipe(this=unhex(_param("pseudonym_okey", dialect)), expression=unhex(inner)))
        digest = outer
    elif dialect == "spark":
        inner = fn("sha2", fn("concat", fn("unhex", _param("pseudonym_ikey", dialect)), fn("encode", text, lit("UTF-8"))),
                   lit(256))
        digest = fn("sha2", fn("concat", fn("unhex", _param("pseudonym_okey", dialect)), fn("unhex", inner)), lit(256))
    else:
        digest = fn("lower", fn("to_hex", fn("hmac_sha256", fn("to_utf8", text), fn("from_hex", _param("pseudonym_key", dialect)))))
    return exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(),
                  false=fn("substr", digest, lit(1), lit(PSEUDONYM_CHARS)))


# --- the release query ----------------------------------------------------------------------------

class Release:
    """The query from `table` (its `columns`) to the release, one CTE per step.

    mapping: for the engine, `mapping(release, index, step) -> (table name, key columns)` returning a table
    (value [, state], mapped) of the column's distinct values at this step, generalized by ctopen itself.
    order_by: a column giving the file's row order (the engine's row number, or a column the user names): the
    suppress step's tie-break (the first record of a group in the file) and the order of the release.
    roles: {column: role} for a suppress step without columns (its quasi-identifiers)."""

    def __init__(self, recipe: dict, table, columns: list[str], dialect: str, *, roles: dict | None = None,
                 mapping: Callable | None = None, order_by: str | None = None, keep_order_column: bool = False,
                 steps: list | None = None, first_index: int = 0):
        self.dialect = check_dialect(dialect)
        clash = [c for c in columns if is_internal(c) and c != order_by]
        if clash:
            raise RecipeError(f"The column {clash[0]!r} has a name ctopen keeps for its own queries (they begin "
                              f"{INTERNAL!r}): rename it first.")
        twins = case_clash(columns)
        if twins:
            raise RecipeError(f"The columns {twins[0]!r} and {twins[1]!r} differ only by case, and {self.dialect} SQL "
                              "does not tell them apart (a query would read one for the other): rename one of them "
                              "first, or use --engine pandas.")
        if steps is None:
            recipes.validate(recipe, columns=list(columns))
        self.recipe = recipe
        self.source = table_name(table) if isinstance(table, str) else table
        self.columns = list(columns)
        self.roles_given = roles is not None
        self.roles = roles if roles is not None else (recipe.get("roles") or {})
        self.source_columns = list(columns)
        self.mapping = mapping
        self.order_by = order_by
        self.keep_order_column = keep_order_column
        self.ctes: list[tuple[str, exp.Select]] = []
        self.current: exp.Expression = self.source
        self.aggregate_step: dict | None = None
        self.log: list[dict] = []            # per step: what the engine needs to know (filled by callers)
        self.params: set[str] = set()
        self._steps = list(recipes.in_apply_order(recipe["steps"])) if steps is None else list(steps)
        self._done = 0
        self._first = first_index

    # -- plumbing --
    def _from(self) -> exp.Expression:
        return self.current.copy()

    def _carry(self) -> list[exp.Expression]:
        return [col(self.order_by)] if self.order_by and self.order_by not in self.columns else []

    def push(self, select: exp.Select, columns: list[str] | None = None) -> str:
        name = f"step{len(self.ctes) + 1}"
        self.ctes.append((name, select))
        self.current = exp.Table(this=ident(name))
        if columns is not None:
            self.columns = list(columns)
        return name

    def query(self, final: bool = True) -> exp.Select:
        """The query so far: WITH the steps, SELECT the columns (in the file's order when an order column is known)."""
        projections = [col(c) for c in self.columns]
        if self.keep_order_column or not final:
            projections += self._carry()
        q = exp.select(*projections).from_(self._from())
        if final and self.order_by:
            q = q.order_by(exp.Ordered(this=col(self.order_by)))
        for name, select in self.ctes:
            q = q.with_(ident(name), as_=select.copy())
        return q

    def sql(self, pretty: bool = True) -> str:
        return render(self.query(), self.dialect, pretty)

    def build(self) -> "Release":
        """Every step (the engine calls `step()` itself to run queries between steps)."""
        while self.step():
            pass
        return self

    def step(self) -> bool:
        """Add the next step; False when there is none left."""
        if self._done >= len(self._steps):
            return False
        step = self._steps[self._done]
        index = self._first + self._done      # 0-based position in the recipe's apply order
        self._done += 1
        op = step["op"]
        number = next((i for i, s in enumerate(self.recipe.get("steps") or [], start=1) if s is step), index + 1)
        where = f"step {number} ({op})"
        if op == "drop":
            self._select({c: col(c) for c in self.columns if c != step["column"]})
        elif op == "generalize":
            self._generalize(index, step, where)
        elif op == "suppress":
            self._suppress(step, where)
        elif op == "pseudonymize":
            self._replace(step["column"], pseudonym_expr(col(step["column"]), self.dialect))
            self.params |= set(pseudonym_params(b"x" * 16, self.dialect))
        elif op == "aggregate":
            self._aggregate(step, where)
        elif op == "rename":
            twin = next((c for c in self.columns if c != step["column"] and
                         (c == step["to"] or same_name(c, step["to"]))), None)
            if is_internal(step["to"]):
                raise UnsupportedStep(f"{where.capitalize()} renames “{step['column']}” to “{step['to']}”, a name "
                                      f"ctopen keeps for its own queries (they begin {INTERNAL!r}): choose another name.")
            if twin is not None:
                raise UnsupportedStep(f"{where.capitalize()} renames “{step['column']}” to “{step['to']}”, which "
                                      f"{self.dialect} SQL does not tell apart from the column “{twin}” (names are "
                                      "matched without regard to case): choose another name.")
            self._select({(step["to"] if c == step["column"] else c): col(c) for c in self.columns})
        elif op == "reorder":
            wanted = [c for c in step["columns"] if c in self.columns]
            rest = [c for c in self.columns if c not in wanted]
            before = step.get("before")
            if before and before in rest:
                at = rest.index(before)
                order = rest[:at] + wanted + rest[at:]
            else:
                order = wanted + rest
            self._select({c: col(c) for c in order})
        else:
            raise UnsupportedStep(f"{where.capitalize()} cannot be written as {self.dialect} SQL by ctopen: it is a "
                                  "data-preparation fix computed in memory; run it with --engine pandas, or remove "
                                  "it from the recipe for the SQL.")
        return True

    def _select(self, projections: dict[str, exp.Expression], where=None, from_=None) -> str:
        items = [exp.alias_(e, ident(name)) if not (isinstance(e, exp.Column) and e.name == name) else e
                 for name, e in projections.items()]
        # the order column rides along when it is not (or no longer) one of the table's columns
        carry = [col(self.order_by)] if self.order_by and self.order_by not in projections else []
        q = exp.select(*items, *carry).from_(from_ if from_ is not None else self._from())
        if where is not None:
            q = q.where(where)
        return self.push(q, list(projections))

    def _replace(self, column: str, value: exp.Expression, from_=None, where=None) -> str:
        return self._select({c: (value if c == column else col(c)) for c in self.columns}, where=where, from_=from_)

    # -- generalize --
    def _generalize(self, index: int, step: dict, where: str) -> None:
        h = hierarchies.get(step["hierarchy"], **recipes.hierarchy_options(step))
        level = h.check_level(step["level"])
        column = step["column"]
        if level == h.top:
            self._replace(column, lit(STAR))
            return
        if level == 0 and not h.changes_as_is:
            self._select({c: col(c) for c in self.columns})
            return
        if self.mapping is not None:
            table, keys = self.mapping(self, index, step)
            m = f"m{index + 1}"
            src = "s"
            on = [exp.NullSafeEQ(this=col(k, src), expression=col(mk, m)) for k, mk in keys]
            projections = {c: (col("mapped", m) if c == column else col(c, src)) for c in self.columns}
            items = [exp.alias_(e, ident(n)) for n, e in projections.items()]
            carry = [col(self.order_by, src)] if self.order_by and self.order_by not in self.columns else []
            q = exp.select(*items, *carry).from_(exp.alias_(self._from(), src, table=True)).join(
                exp.alias_(exp.to_table(table), m, table=True), on=exp.and_(*on), join_type="left")
            self.push(q, list(projections))
            return
        from ctopen.engine import hier_sql
        hier_sql.generalize(self, index, step, h, level, where)

    # -- suppress --
    def _suppress(self, step: dict, where: str) -> None:
        k = int(step.get("k", settings.DEFAULT_K))
        share = float(step.get("max_share", settings.DEFAULT_MAX_SUPPRESSION))
        wanted = step.get("columns")
        if wanted is None:
            # the groups come from the reviewed roles: a saved review records every column's role; anything less
            # would suppress over fewer columns than `apply` (which detects the rest on the file)
            missing = [c for c in self.source_columns if c != self.order_by and c not in (self.roles or {})]
            if not self.roles_given and missing:
                raise UnsupportedStep(
                    f"{where.capitalize()} names no columns, so its groups come from the reviewed roles, and the "
                    f"recipe gives none for {recipes._names(missing[:3])}{' and more' if len(missing) > 3 else ''}: "
                    f"the {self.dialect} SQL would suppress over other columns than apply. List the quasi-identifiers "
                    "in the step (\"columns\": [...]), or use a review saved by the app (it records every role).")
            wanted = [c for c, r in (self.roles or {}).items() if r == "quasi"]
        qis = [c for c in wanted if c in self.columns]
        if not qis:
            return
        if not self.order_by:
            raise UnsupportedStep(
                f"{where.capitalize()} cannot be written as {self.dialect} SQL without the file's row order: when the "
                "suppression cap is reached, ctopen removes the smallest groups first and, among groups of one size, "
                "those that come first in the file. Name a column numbering the records in file order "
                "(ctopen sql --order-by COL).")
        src, cls = "s", "c"
        # groups over the quasi-identifiers (a missing value is a value), their size and first record
        groups = (exp.select(*[col(q) for q in qis],
                             exp.alias_(exp.Count(this=exp.Star()), INTERNAL + "size"),
                             exp.alias_(exp.Min(this=col(self.order_by)), INTERNAL + "first"))
                  .from_(self._from()).group_by(*[col(q) for q in qis]))
        total = exp.select(exp.alias_(exp.Count(this=exp.Star()), INTERNAL + "n")).from_(self._from())
        double = exp.DataType.build("DOUBLE")
        cap = exp.Floor(this=exp.Add(this=exp.Mul(this=exp.Cast(this=lit(share), to=double),
                                                  expression=exp.Cast(this=exp.Subquery(this=total), to=double)),
                                     expression=exp.Cast(this=lit("1e-9"), to=double)))
        running = exp.Window(this=exp.Sum(this=col(INTERNAL + "size")),
                             order=exp.Order(expressions=[exp.Ordered(this=col(INTERNAL + "size")),
                                                          exp.Ordered(this=col(INTERNAL + "first"))]),
                             spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                                 end="CURRENT ROW"))
        small = (exp.select(*[col(q) for q in qis], exp.alias_(running, INTERNAL + "running"))
                 .from_(exp.Subquery(this=groups, alias=exp.TableAlias(this=ident("g"))))
                 .where(exp.LT(this=col(INTERNAL + "size"), expression=lit(k))))
        removed = (exp.select(*[col(q) for q in qis])
                   .from_(exp.Subquery(this=small, alias=exp.TableAlias(this=ident("r"))))
                   .where(exp.LTE(this=col(INTERNAL + "running"), expression=cap)))
        prev = self._from()
        name = self.push(removed)             # the groups removed (a CTE of its own)
        on = exp.and_(*[exp.NullSafeEQ(this=col(q, src), expression=col(q, cls)) for q in qis])
        keep = exp.not_(exp.Exists(this=exp.select(lit(1)).from_(exp.alias_(exp.Table(this=ident(name)), cls, table=True))
                                        .where(on)))
        projections = [col(c, src) for c in self.columns] + (
            [col(self.order_by, src)] if self.order_by not in self.columns else [])
        self.push(exp.select(*projections).from_(exp.alias_(prev, src, table=True)).where(keep))
        self.suppress_groups = name

    # -- aggregate --
    def _aggregate(self, step: dict, where: str) -> None:
        by = step["by"] if isinstance(step["by"], list) else [step["by"]]
        if step.get("measures"):
            raise UnsupportedStep(f"{where.capitalize()} with measures cannot be written as {self.dialect} SQL by "
                                  "ctopen (numbers are read by ctopen's own reader): count by the dimensions only, or "
                                  "run it with --engine pandas.")
        if any(str(b).lower() == "count" for b in by):
            raise UnsupportedStep(f"{where.capitalize()} counts by a column named “count”, the name of the count "
                                  "column: rename it first.")
        q = (exp.select(*[col(b) for b in by], exp.alias_(exp.Count(this=exp.Star()), "count"))
             .from_(self._from()).group_by(*[col(b) for b in by]))
        self.aggregate_step = step
        self.order_by_saved, self.order_by = self.order_by, None
        self.push(q, list(by) + ["count"])


def sql_for_recipe(recipe: dict, table: str, dialect: str, columns: list[str], *, roles: dict | None = None,
                   order_by: str | None = None, pretty: bool = True) -> str:
    """The SQL that makes the release of `recipe` from `table` (with `columns`) in `dialect`."""
    return Release(recipe, table, columns, dialect, roles=roles, order_by=order_by).build().sql(pretty)


# --- risk ------------------------------------------------------------------------------------------

def risk_queries(table, quasi: list[str], dialect: str, sensitive: list[str] = (), k: int = settings.DEFAULT_K,
                 combinations: bool = True) -> dict[str, exp.Select]:
    """The queries giving the risk figures over `quasi` (ctopen.risk's definitions; a missing value is a value):

    class_sizes: (group_size, classes) - classes, k, records at risk, uniques and the histogram follow;
    l_<column>: per sensitive column (distinct_l, min_entropy): distinct-l, and entropy-l = exp(min_entropy)
      (1 when a group has one record); qi_combinations: per subset of the quasi-identifiers (its columns as a
      grouping id, uniques, k_min, records_at_risk)."""
    dialect = check_dialect(dialect)
    src = table_name(table) if isinstance(table, str) else table
    twins = case_clash(list(quasi) + list(sensitive))
    own = [c for c in list(quasi) + list(sensitive) if is_internal(c)]
    if twins or own:
        raise RecipeError(f"The columns {twins[0]!r} and {twins[1]!r} differ only by case, and {dialect} SQL does not "
                          "tell them apart: rename one of them first." if twins else
                          f"The column {own[0]!r} has a name ctopen keeps for its own queries (they begin "
                          f"{INTERNAL!r}): rename it first.")
    qis = [col(q) for q in quasi]
    groups = exp.select(*qis, exp.alias_(exp.Count(this=exp.Star()), INTERNAL + "size")).from_(src.copy())
    if qis:
        groups = groups.group_by(*[q.copy() for q in qis])
    out = {"class_sizes": exp.select(exp.alias_(col(INTERNAL + "size"), "group_size"), exp.alias_(exp.Count(this=exp.Star()), "classes"))
           .from_(exp.Subquery(this=groups, alias=exp.TableAlias(this=ident("g"))))
           .group_by(col(INTERNAL + "size")).order_by(col(INTERNAL + "size"))}
    for s in sensitive:
        pairs = (exp.select(*[q.copy() for q in qis], col(s), exp.alias_(exp.Count(this=exp.Star()), INTERNAL + "n"))
                 .from_(src.copy()).group_by(*[q.copy() for q in qis], col(s)))
        share = exp.Div(this=exp.Cast(this=col(INTERNAL + "n"), to=exp.DataType.build("DOUBLE")),
                        expression=exp.Window(this=exp.Sum(this=col(INTERNAL + "n")),
                                              partition_by=[q.copy() for q in qis] or None))
        p = exp.select(*[q.copy() for q in qis], exp.alias_(share, INTERNAL + "p")).from_(
            exp.Subquery(this=pairs, alias=exp.TableAlias(this=ident("sv"))))
        per = exp.select(exp.alias_(exp.Count(this=exp.Star()), INTERNAL + "d"),
                         exp.alias_(exp.Neg(this=exp.Sum(this=exp.Mul(this=col(INTERNAL + "p"), expression=exp.Ln(this=col(INTERNAL + "p"))))), INTERNAL + "e")
                         ).from_(exp.Subquery(this=p, alias=exp.TableAlias(this=ident("ps"))))
        if qis:
            per = per.group_by(*[q.copy() for q in qis])
        out[f"l_{s}"] = exp.select(exp.alias_(exp.Min(this=col(INTERNAL + "d")), "distinct_l"),
                                   exp.alias_(exp.Min(this=col(INTERNAL + "e")), "min_entropy")).from_(
            exp.Subquery(this=per, alias=exp.TableAlias(this=ident("pc"))))
    if combinations and qis:
        out["qi_combinations"] = combinations_query(exp.Subquery(this=groups, alias=exp.TableAlias(this=ident("g"))),
                                                    quasi, k, dialect=dialect)
    return out


def subsets(m: int) -> list[tuple[int, ...]]:
    """The subsets ctopen.risk assesses: all of them up to 12 columns, else those of up to 3 columns and the full set."""
    from itertools import combinations as comb

    from ctopen.risk import MAX_ALL_COMBINATIONS, MAX_SUBSET_SIZE_BEYOND
    limit = m if m <= MAX_ALL_COMBINATIONS else MAX_SUBSET_SIZE_BEYOND
    out = [s for r in range(1, limit + 1) for s in comb(range(m), r)]
    if m > MAX_ALL_COMBINATIONS:
        out.append(tuple(range(m)))
    return out


def combinations_query(groups: exp.Expression, quasi: list[str], k: int, size: str | None = None,
                       dialect: str = "duckdb") -> exp.Select:
    """Per subset of the quasi-identifiers: uniques (records alone), k_min and records at risk, from the table of
    groups (one row per class, group_size) with GROUPING SETS; the subset is `grouping_id` (bit i set = column i
    left out, column 0 the highest bit)."""
    m = len(quasi)
    size = size or INTERNAL + "size"
    sets = [exp.Tuple(expressions=[col(quasi[i]) for i in s]) for s in subsets(m)]
    # Spark's GROUPING takes one column; its GROUPING_ID(c1, ..., cn) is the same bit vector (c1 the highest bit)
    gid = exp.Anonymous(this="GROUPING_ID" if dialect == "spark" else "GROUPING", expressions=[col(q) for q in quasi])
    by_subset = (exp.select(exp.alias_(gid, INTERNAL + "subset"), exp.alias_(exp.Sum(this=col(size)), INTERNAL + "subset_size"))
                 .from_(groups).group_by(exp.GroupingSets(expressions=sets)))
    uniques = exp.Sum(this=case([(exp.EQ(this=col(INTERNAL + "subset_size"), expression=lit(1)), lit(1))], lit(0)))
    at_risk = exp.Sum(this=case([(exp.LT(this=col(INTERNAL + "subset_size"), expression=lit(int(k))), col(INTERNAL + "subset_size"))], lit(0)))
    return (exp.select(exp.alias_(col(INTERNAL + "subset"), "grouping_id"), exp.alias_(uniques, "uniques"),
                       exp.alias_(exp.Min(this=col(INTERNAL + "subset_size")), "k_min"),
                       exp.alias_(at_risk, "records_at_risk"))
            .from_(exp.Subquery(this=by_subset, alias=exp.TableAlias(this=ident("subsets"))))
            .group_by(col(INTERNAL + "subset")).order_by(col(INTERNAL + "subset")))


def risk_sql(table: str, quasi: list[str], dialect: str, sensitive: list[str] = (), k: int = settings.DEFAULT_K,
             combinations: bool = True, pretty: bool = True) -> str:
    """The risk queries as one text, each preceded by a comment naming what it gives."""
    parts = []
    for name, q in risk_queries(table, quasi, dialect, sensitive, k, combinations).items():
        parts.append(f"-- {name}\n{render(q, dialect, pretty)};")
    return "\n\n".join(parts)


def parse_check(sql: str, dialect: str) -> None:
    """The emitted text parses back in its dialect (a guard used by the tests)."""
    sqlglot.parse(sql, read=dialect)
