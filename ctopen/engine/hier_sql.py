"""Generalization hierarchies as SQL expressions (`ctopen sql`), each written to give what ctopen.hierarchies gives.

Every ladder follows the rules of ctopen.hierarchies: a missing value stays missing below the top, the top is "*"
for every record, and a value the ladder cannot read is "*" above level 0 (kept as it is at level 0). Text is
compared as Python does: outer spaces are every Unicode space (str.strip), digits in the number and ZIP readers are
Unicode digits where Python's are.

- table: the analyst's table as a VALUES list joined on the value, then on the value without outer spaces.
- category: COUNT(*) OVER (PARTITION BY the value) below min_count -> "Other".
- ct_town: the town list (ctopen/data) as a VALUES list, joined on the name normalised as normalize_place does.
- zip: ZIP5 read as zip5 does, the 3-digit prefix (restricted prefixes "000"), "CT" / "outside CT".
- age, number: the one number reader (ctopen.values.parse_numbers) in regular expressions, bands by floor();
  options that are not whole numbers (Python's %g formatting) are refused.
- date: the date forms listed in docs/cli.md, read and checked (calendar, time of day, 1677-09-22..2262-04-10) by
  regular expressions and arithmetic; another text becomes "*" (never another date).
- coordinates: refused (Python's decimal rounding of the truncated degrees has no exact SQL counterpart).
"""
from __future__ import annotations

from sqlglot import exp

from ctopen import hierarchies
from ctopen.engine.sqlbuild import (STAR, UnsupportedStep, WS_CLASS, case, cast_text, col, fn, full_match, ident,
                                    lit, regexp_replace_all, strip_ws)

ND = r"\p{Nd}"          # a Unicode decimal digit (Python's \d on text)
STRIPPED = "__ctopen_text"   # the value without outer spaces (an extra column of the step's first CTE)


def _null(e) -> exp.Expression:
    return exp.Is(this=e.copy(), expression=exp.Null())


def _and(*parts) -> exp.Expression:
    return exp.and_(*parts)


def _eq(a, b) -> exp.Expression:
    return exp.EQ(this=a, expression=b)


def _extract(e, pattern: str, group: int) -> exp.Expression:
    return fn("regexp_extract", e.copy(), lit(pattern), lit(group))


def _contains(e, pattern: str, dialect: str) -> exp.Expression:
    if dialect == "duckdb":
        return fn("regexp_matches", e.copy(), lit(pattern))
    if dialect == "spark":
        return exp.RegexpLike(this=e.copy(), expression=lit(pattern))
    return fn("regexp_like", e.copy(), lit(pattern))


def _int(e) -> exp.Expression:
    """Digits as a number (TRY_CAST: the branches of a CASE may be evaluated before their condition)."""
    return exp.TryCast(this=e, to=exp.DataType.build("BIGINT"))


def _double(e) -> exp.Expression:
    return exp.Cast(this=e, to=exp.DataType.build("DOUBLE"))


def _concat(*parts, dialect: str) -> exp.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True) if dialect != "spark" else fn("concat", out, p)
    return out


def _text(e, dialect: str) -> exp.Expression:
    return cast_text(e, dialect)


def _lpad(e, n: int, dialect: str) -> exp.Expression:
    return fn("lpad", e, lit(n), lit("0"))


def _starts(e, prefix: str, dialect: str) -> exp.Expression:
    return _eq(fn("substr", e.copy(), lit(1), lit(len(prefix))), lit(prefix))


def _upper(e) -> exp.Expression:
    return exp.Upper(this=e)


def _values(rows: list[tuple], names: list[str], alias: str) -> exp.Expression:
    """(VALUES (...), ...) AS alias(names), every value a literal."""
    return exp.values([tuple(lit(v) for v in r) for r in rows], alias=alias, columns=names)


# --- the step ------------------------------------------------------------------------------------

def generalize(rel, index: int, step: dict, h, level: int, where: str) -> None:
    """Push the CTE of a generalize step at 0 <= level < top (the builder handles the top and a plain level 0)."""
    d = rel.dialect
    column = step["column"]
    v = col(column, "s")
    joins: list[tuple[exp.Expression, exp.Expression]] = []
    name = h.name
    text = None
    if name in ("zip", "age", "number", "date"):
        # the value without outer spaces, computed once (a CTE of its own) for the many patterns that read it
        text = col(STRIPPED, "s")
        carry = [col(rel.order_by)] if rel.order_by and rel.order_by not in rel.columns else []
        rel.push(exp.select(*[col(c) for c in rel.columns], *carry,
                            exp.alias_(strip_ws(col(column), d), ident(STRIPPED))).from_(rel._from()))
    if name == "table":
        mapped = _table(h, level, v, joins, d)
    elif name == "category":
        if level != 1:
            raise UnsupportedStep(f"{where.capitalize()}: level {level} of the category hierarchy is not known.")
        count = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[v.copy()])
        mapped = case([(exp.LT(this=count, expression=lit(int(h.min_count))), lit("Other"))], v.copy())
    elif name == "zip":
        mapped = _zip(text, level, d)
    elif name == "ct_town":
        mapped = _town(h, level, v, joins, d, step)
    elif name in ("age", "number"):
        mapped = _numbers(h, level, v, d, where, text)
    elif name == "date":
        mapped = _date(text, level, d)
    else:
        raise UnsupportedStep(f"{where.capitalize()} ({name} hierarchy) cannot be written as {d} SQL that gives "
                              f"exactly ctopen's values (Python rounds the truncated degrees to decimal text); "
                              "run it with ctopen's DuckDB engine (ctopen apply --engine duckdb), or generalize "
                              "the column in memory.")
    fallback = lit(STAR) if level > 0 else v.copy()
    value = case([(_null(v), exp.Null())], exp.Coalesce(this=mapped, expressions=[fallback]))
    src = exp.alias_(rel._from(), "s", table=True)
    items = [exp.alias_(value if c == column else col(c, "s"), ident(c)) for c in rel.columns]
    carry = [col(rel.order_by, "s")] if rel.order_by and rel.order_by not in rel.columns else []
    q = exp.select(*items, *carry).from_(src)
    for table, on in joins:
        q = q.join(table, on=on, join_type="left")
    rel.push(q, list(rel.columns))


# --- table ---------------------------------------------------------------------------------------------

def _table(h, level: int, v, joins, d) -> exp.Expression:
    keys = list(h._columns[0].index)
    values = list(h._columns[level - 1].to_numpy())
    exact = _values(list(zip(keys, values)), ["k", "l"], "te")
    joins.append((exact, _eq(v.copy(), col("k", "te"))))
    stripped = [(sk, h._columns[level - 1][orig]) for sk, orig in h._stripped.items()]
    if stripped:
        table = _values(stripped, ["k", "l"], "ts")
        joins.append((table, _eq(strip_ws(v.copy(), d), col("k", "ts"))))
        return exp.Coalesce(this=col("l", "te"), expressions=[col("l", "ts")])
    return col("l", "te")


# --- ZIP -----------------------------------------------------------------------------------------------

def zip_five(s, d) -> exp.Expression:
    """ctopen.hierarchies.zip5 of a value without outer spaces: "06001", "06001-2101", "060012101" -> "06001";
    "6001" -> "06001"; else NULL."""
    pattern = f"({ND}{{4,5}})(?:-?({ND}{{4}}))?"
    return case([
        (full_match(s, f"{ND}{{8}}", d), _concat(lit("0"), fn("substr", s.copy(), lit(1), lit(4)), dialect=d)),
        (full_match(s.copy(), pattern, d), _lpad(_extract(s.copy(), f"^{pattern}$", 1), 5, d)),
    ])


def _zip(v, level: int, d) -> exp.Expression:
    five = zip_five(v, d)
    zip3 = fn("substr", five, lit(1), lit(3))
    if level == 1:
        restricted = sorted(hierarchies.restricted_zip3())
        return case([(exp.In(this=zip3.copy(), expressions=[lit(z) for z in restricted]), lit("000"))], zip3)
    return case([(_null(zip3), exp.Null()), (_starts(zip3.copy(), "06", d), lit("CT"))], lit("outside CT"))


# --- Connecticut towns ---------------------------------------------------------------------------------

def normalize_place(v, d) -> exp.Expression:
    """ctopen.hierarchies.normalize_place in SQL: upper case, outer spaces, ", CT" / "CONN" / "CONNECTICUT" at the
    end, punctuation as spaces, spaces collapsed, N/NO/S/SO/E/W at the start spelled out, SPGS -> SPRINGS."""
    s = strip_ws(_upper(v.copy()), d)
    s = regexp_replace_all(s, f",?{WS_CLASS}*(CT|CONN|CONNECTICUT)\\.?$", "", d)
    s = regexp_replace_all(s, r"[.,\-'/]", " ", d)
    s = strip_ws(regexp_replace_all(s, f"{WS_CLASS}+", " ", d), d)
    for pattern, word in (("^NO? ", "NORTH "), ("^SO? ", "SOUTH "), ("^E ", "EAST "), ("^W ", "WEST ")):
        s = regexp_replace_all(s, pattern, word, d)
    return regexp_replace_all(s, r"\bSPGS\b", "SPRINGS", d)


def _town(h, level: int, v, joins, d, step) -> exp.Expression:
    table = hierarchies.town_table()
    key = normalize_place(v, d)
    if h.aliases:
        key = case([(_eq(key.copy(), lit(a)), lit(t)) for a, t in sorted(h.aliases.items())], key)
    rows = [(k, r) for k, r in zip(table.index, table[h.via]) if r]
    joins.append((_values(rows, ["k", "l"], "towns"), _eq(key, col("k", "towns"))))
    found = col("l", "towns")
    out = found if level == 1 else case([(_null(found), exp.Null())], lit("Connecticut"))
    state = step.get("state_column")
    if state:
        st = regexp_replace_all(_upper(strip_ws(col(state, "s"), d)), r"\.", "", d)
        outside = _and(exp.not_(_null(col(state, "s"))),
                       exp.not_(exp.In(this=st, expressions=[lit(x) for x in ("CT", "CONN", "CONNECTICUT")])))
        out = case([(outside, lit(STAR))], out)
    return out


# --- numbers and ages ------------------------------------------------------------------------------------

def parse_number(u, d) -> exp.Expression:
    """ctopen.values.parse_numbers in SQL of a value without outer spaces (DOUBLE, NULL where the text is no
    number): "$", ",", "(...)" negative; a single space between two digits makes it no number, other spaces go."""
    negative = _and(_starts(u.copy(), "(", d), _eq(fn("substr", u.copy(), exp.Length(this=u.copy()), lit(1)), lit(")")))
    cleaned = regexp_replace_all(u.copy(), r"[,$()]", "", d)
    split = _contains(cleaned.copy(), f"{ND}{WS_CLASS}{ND}", d)
    compact = regexp_replace_all(cleaned.copy(), f"{WS_CLASS}+", "", d)
    number = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
    value = _double(compact.copy())
    return case([(split, exp.Null()),
                 (full_match(compact, number, d),
                  case([(negative, exp.Neg(this=value.copy()))], value))])


def _fmt_int(x, d) -> exp.Expression:
    """Python's str(int(x)) for an integral double; "inf" / "-inf" as f"{x:g}" writes them."""
    inf = exp.Cast(this=lit("Infinity"), to=exp.DataType.build("DOUBLE"))
    whole = _text(exp.Cast(this=x.copy(), to=exp.DataType.build("DECIMAL", expressions=[
        exp.DataTypeParam(this=exp.Literal.number(38)), exp.DataTypeParam(this=exp.Literal.number(0))])), d)
    return case([(_eq(x.copy(), inf.copy()), lit("inf")), (_eq(x.copy(), exp.Neg(this=inf)), lit("-inf"))], whole)


def _whole(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer()


def _numbers(h, level: int, v, d, where: str, text) -> exp.Expression:
    opts = h.options
    if h.name == "age":
        top, bottom = h.top_code, None
        width = hierarchies.AgeHierarchy.WIDTHS.get(level)
    else:
        top, bottom = opts.get("top"), opts.get("bottom")
        width = h.width * 2 ** (level - 1) if level else None
    for what, x in (("top" if h.name == "number" else "top_code", top), ("bottom", bottom), ("width", width)):
        if x is not None and not _whole(x):
            raise UnsupportedStep(f"{where.capitalize()}: the {h.name} hierarchy's {what} {x!r} is not a whole number; "
                                  f"ctopen writes such bands with Python's %g formatting, which {d} SQL does not "
                                  "reproduce exactly. Use whole numbers, or run the step on ctopen's DuckDB engine.")
    x = parse_number(text, d)
    if h.name == "age":
        x = case([(exp.GTE(this=x.copy(), expression=lit(0)), x.copy())])
    tails = []
    if top is not None:
        tails.append((exp.GTE(this=x.copy(), expression=lit(float(top))), lit(f"{int(top)}+")))
    if bottom is not None:
        tails.append((exp.LT(this=x.copy(), expression=lit(float(bottom))), lit(f"<{int(bottom)}")))
    if level == 0:
        body = case([(_null(x.copy()), exp.Null())], v.copy())
    else:
        base = exp.Floor(this=x.copy()) if h.name == "age" else x.copy()
        lo = exp.Mul(this=exp.Floor(this=exp.Div(this=base, expression=lit(float(width)))), expression=lit(float(width)))
        hi = exp.Add(this=lo.copy(), expression=lit(float(width)))
        if bottom is not None:
            lo = exp.Greatest(this=lo, expressions=[lit(float(bottom))])
        if top is not None:
            hi = exp.Least(this=hi, expressions=[lit(float(top))])
        last = exp.Sub(this=hi, expression=lit(1.0))
        label = case([(_eq(last.copy(), lo.copy()), _fmt_int(lo.copy(), d))],
                     _concat(_fmt_int(lo.copy(), d), lit("-"), _fmt_int(last, d), dialect=d))
        body = case([(_null(x.copy()), exp.Null())], label)
    # _tails: the top wins over the bottom when both apply (it is written last in Python)
    whens = list(reversed(tails))
    return case([(_null(x.copy()), exp.Null())] + whens, body) if whens else body


# --- dates ------------------------------------------------------------------------------------------------

# sub-patterns of Python's strptime (ctopen.values uses pandas' copy of them)
_M = r"(1[0-2]|0[1-9]|[1-9])"
_D = r"(3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])"
_H24 = r"(2[0-3]|[0-1][0-9]|[0-9])"
_H12 = r"(1[0-2]|0[1-9]|[1-9])"
_MIN = r"([0-5][0-9]|[0-9])"
_SEC = r"([0-5][0-9]|[0-9])"
_AMPM = r"([AaPp][Mm])"
_SP = f"{WS_CLASS}+"     # a space in a strptime format reads one or more spaces
_OFFSET = rf"(?:{WS_CLASS}*(?:[Zz]|[Uu][Tt][Cc]|[Gg][Mm][Tt]|[+-][0-9]{{2}}(?::?[0-9]{{2}})?))?"
_US_TIME = rf"(?:{_SP}{_H12}:{_MIN}(?::{_SEC})?{WS_CLASS}*{_AMPM}|{_SP}{_H24}:{_MIN}(?::{_SEC})?)?"
# (pattern without anchors, group of year, month, day, how the year is written, midnight on the last day)
_FORMS = [
    (rf"([0-9]{{4}})-([0-9]{{1,2}})-([0-9]{{1,2}})(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])"
     rf"(?:\.[0-9]{{1,9}})?)?{_OFFSET})?", 1, 2, 3, "Y", rf"[0-9-]{{8,10}}(?:[T ]00:00(?::00(?:\.0{{1,9}})?)?{_OFFSET})?"),
    (rf"{_M}/{_D}/([0-9]{{4}}){_US_TIME}", 3, 1, 2, "Y",
     rf"[0-9/ ]+(?:{_SP}12:0?0(?::0?0)?{WS_CLASS}*[Aa][Mm]|{_SP}0?0:0?0(?::0?0)?)?"),
    (rf"{_M}/{_D}/([0-9]{{2}}){_US_TIME}", 3, 1, 2, "y", None),
    (rf"([0-9]{{4}})/{_M}/{_D}", 1, 2, 3, "Y", None),
    (r"([0-9]{4})(1[0-2]|0[1-9])(3[01]|[12][0-9]|0[1-9])", 1, 2, 3, "Y", None),
]
_SERIAL = r"[0-9]{5}(?:\.[0-9]{1,6})?"       # Excel's day number (1900 system): 1927..2173


def _days_in_month(y, m) -> exp.Expression:
    leap = exp.or_(_and(_eq(exp.Mod(this=y.copy(), expression=lit(4)), lit(0)),
                        exp.NEQ(this=exp.Mod(this=y.copy(), expression=lit(100)), expression=lit(0))),
                   _eq(exp.Mod(this=y.copy(), expression=lit(400)), lit(0)))
    return case([(exp.In(this=m.copy(), expressions=[lit(4), lit(6), lit(9), lit(11)]), lit(30)),
                 (_eq(m.copy(), lit(2)), case([(leap, lit(29))], lit(28)))], lit(31))


def _date_parts(s, d) -> tuple[exp.Expression, exp.Expression]:
    """(year, month) of a text without outer spaces as ctopen.values.parse_dates reads it, both NULL when it is no
    date in the range."""
    ys, ms, oks = [], [], []
    for pattern, gy, gm, gd, kind, midnight in _FORMS:
        hit = full_match(s.copy(), pattern, d)
        y = _int(exp.Trim(this=_extract(s.copy(), f"^{pattern}$", gy)))
        if kind == "y":
            y = case([(exp.GTE(this=y.copy(), expression=lit(69)), exp.Add(this=y.copy(), expression=lit(1900)))],
                     exp.Add(this=y.copy(), expression=lit(2000)))
        m = _int(exp.Trim(this=_extract(s.copy(), f"^{pattern}$", gm)))
        day = _int(exp.Trim(this=_extract(s.copy(), f"^{pattern}$", gd)))
        valid = _and(exp.Between(this=m.copy(), low=lit(1), high=lit(12)),
                     exp.Between(this=day.copy(), low=lit(1), high=_days_in_month(y, m)))
        # 1677-09-22 .. 2262-04-10 (a time after midnight on the last day is past the range)
        key = exp.Add(this=exp.Mul(this=y.copy(), expression=lit(10000)),
                      expression=exp.Add(this=exp.Mul(this=m.copy(), expression=lit(100)), expression=day.copy()))
        in_range = exp.Between(this=key, low=lit(16770922), high=lit(22620410))
        if midnight:
            late = _and(_eq(key.copy(), lit(22620410)), exp.not_(full_match(s.copy(), midnight, d)))
            in_range = _and(in_range, exp.not_(late))
        oks.append(_and(hit, valid, in_range))
        ys.append((hit, y))
        ms.append((hit, m))
    # Excel's day numbers: 1899-12-30 plus the whole days
    serial = full_match(s.copy(), _SERIAL, d)
    # INT: Spark's date_add takes no BIGINT (a serial has at most 5 digits)
    day_number = exp.TryCast(this=exp.Floor(this=exp.TryCast(this=s.copy(), to=exp.DataType.build("DOUBLE"))),
                             to=exp.DataType.build("INT"))
    when = exp.DateAdd(this=exp.Cast(this=lit("1899-12-30"), to=exp.DataType.build("DATE")), expression=day_number,
                       unit=exp.Var(this="DAY"))
    oks.append(serial)
    ys.append((serial.copy(), _int(exp.Year(this=when.copy()))))
    ms.append((serial.copy(), _int(exp.Month(this=when))))
    ok = exp.or_(*oks)
    year = case([(exp.not_(ok.copy()), exp.Null())] + ys)
    month = case([(exp.not_(ok.copy()), exp.Null())] + ms)
    return year, month


def _date(v, level: int, d) -> exp.Expression:
    y, m = _date_parts(v, d)
    yt = _text(y.copy(), d)
    if level == 1:
        return _concat(yt, lit("-"), _lpad(_text(m, d), 2, d), dialect=d)
    if level == 2:
        q = exp.Add(this=exp.IntDiv(this=exp.Paren(this=exp.Sub(this=m, expression=lit(1))), expression=lit(3)),
                    expression=lit(1))
        return _concat(yt, lit("-Q"), _text(q, d), dialect=d)
    if level == 3:
        return yt
    start = exp.Mul(this=exp.IntDiv(this=y.copy(), expression=lit(10)), expression=lit(10))
    return _concat(_text(start.copy(), d), lit("-"), _text(exp.Add(this=start, expression=lit(9)), d), dialect=d)
