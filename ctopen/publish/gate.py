"""The privacy gate: may this release be published? It measures the release a `ctopen.review.Review` gives
it, with the roles that Review decided on the **source** table (they follow renames; a generalized column
keeps its role), and never detects anything itself.

It passes when, in the release:
- no direct identifier is left (a column replaced by keyed anonymous IDs no longer holds one);
- no free text is left that detection found nothing in and no person has read (set a role for it);
- every group over the quasi-identifiers has at least k records, k being the review's threshold (the
  recipe's `k` or `target.k`, default 5; a higher k needs nothing, a lower one needs an exception);
- every sensitive attribute with an l target (recipe `l`: {column: l}) has at least l distinct values in
  every group;
- a count table (an `aggregate` step, or a `spatial_aggregate` map of counts) is judged by its cells: no published
  count below the threshold, no direct identifier and no nearly-unique column among its dimensions (a hexagon
  per record is one), no combination of dimensions nearly unique (cells holding records nearly as many as the
  records: a suppressed cell still says someone with those values is there), no map dimension holding the
  records' coordinates, and no sensitive dimension disclosed for a whole group (every record of a combination of
  the other dimensions in one category of it, the others 0: zeros are not suppressed; an exception must cover
  l = 1 for that column);
- and no answer on the Evaluate checklist is "no" (no exception lifts that).

Anything else blocks unless a recorded exception (recipe["exception"] = {"justification", "by", "at",
"covers"}) covers it: `covers` names exactly what it lets through: `direct` (columns), `quasi` (columns),
`k` (the smallest group accepted), `free_text` (columns) and `l` ({column: l}). It never covers what it does
not name; a justification must say why in words (empty or filler text is refused).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

from ctopen import settings

MIN_JUSTIFICATION_WORDS = 5
MIN_DISTINCT_WORDS = 4
MIN_K = 2      # a threshold of 1 would let every table pass
MAX_K = 1000
NEARLY_UNIQUE = 0.8   # a count table's dimension whose distinct values are this share of the records lists people
NEARLY_UNIQUE_MIN = 10


def nearly_one_per_record(n: int, records: int) -> bool:
    """Are n distinct values (or cells holding records) nearly one per record? Then a count table lists them."""
    return bool(records) and n >= NEARLY_UNIQUE_MIN and n >= NEARLY_UNIQUE * records
ROLES = ("direct", "quasi", "sensitive", "other")


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    k: int | None = None              # smallest group (or smallest published count) in the release; None: no rows
    threshold: int = settings.DEFAULT_K
    direct: list[str] = field(default_factory=list)    # direct identifiers left in the release
    quasi: list[str] = field(default_factory=list)     # quasi-identifiers left
    sensitive: list[str] = field(default_factory=list)
    exception: dict | None = None     # the accepted written exception, when it is what lets the release through
    roles_from: dict = field(default_factory=dict)     # release column -> where its role came from
    counts: bool = False              # the release is a count table (an aggregate step)
    eligibility: list[str] = field(default_factory=list)   # "no" answers of the Evaluate checklist that block
    privacy_passed: bool | None = None                      # the verdict on privacy alone
    unread: list[str] = field(default_factory=list)         # free text no person has read
    l: dict = field(default_factory=dict)                   # {sensitive column: (measured l, target l)}
    roles: dict = field(default_factory=dict)               # source column -> {"role", "from", "detected"}

    def summary(self) -> dict:
        """The keys the CLI prints: {"passed", "reasons", "k", "threshold", "roles"}."""
        return {"passed": self.passed, "reasons": list(self.reasons), "k": self.k, "threshold": self.threshold,
                "roles": dict(self.roles)}

    def to_dict(self) -> dict:
        return asdict(self)


def _whole(value) -> int | None:
    """A whole number given as a JSON number (not a bool, not text, not NaN or infinite), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def requested_k(recipe: dict) -> int | None:
    """The k the recipe asks for (`k`, else `target.k`), or None when it names none."""
    for value in (recipe.get("k"), (recipe.get("target") or {}).get("k")):
        if value is not None and value != "":
            return _whole(value) if _whole(value) is not None else -1   # -1: given but not a whole number
    return None


def threshold_of(recipe: dict) -> int:
    """The review's threshold: the recipe's k when it is the default or higher. A lower k is not a threshold:
    it needs a recorded exception (which names the k it accepts), so the gate keeps measuring against the
    default and says so."""
    asked = requested_k(recipe)
    if asked is None or asked < settings.DEFAULT_K:
        return settings.DEFAULT_K
    return min(asked, MAX_K)


def exception_problem(exc) -> str | None:
    """Why a written exception cannot be accepted at all (before looking at what it covers), or None."""
    if not exc:
        return "no exception was recorded"
    if not isinstance(exc, dict):
        return "the exception is not a justification with a name and date"
    text = " ".join(str(exc.get("justification") or "").split())
    words = text.split()
    real = {w.lower().strip(".,;:!?()\"'") for w in words if sum(ch.isalpha() for ch in w) >= 3}
    if len(words) < MIN_JUSTIFICATION_WORDS or len(real) < MIN_DISTINCT_WORDS:
        return (f"the exception's justification must say why in at least {MIN_JUSTIFICATION_WORDS} words "
                f"({MIN_DISTINCT_WORDS} different ones)")
    if not str(exc.get("by") or "").strip():
        return "the exception does not say who made it"
    if not str(exc.get("at") or "").strip():
        return "the exception does not say when it was made"
    covers = exc.get("covers")
    if not isinstance(covers, dict):
        return "the exception does not say what it covers (\"covers\": the columns and the k it accepts)"
    for key in ("direct", "quasi", "free_text"):
        if key in covers and not (isinstance(covers[key], list) and all(isinstance(c, str) for c in covers[key])):
            return f"the exception's covers.{key} must be a list of column names"
    if "k" in covers and covers["k"] is not None and (_whole(covers["k"]) is None or _whole(covers["k"]) < 1):
        return "the exception's covers.k must be a whole number of at least 1"
    l_cov = covers.get("l")
    if l_cov is not None and not (isinstance(l_cov, dict) and all(_whole(v) is not None for v in l_cov.values())):
        return "the exception's covers.l must map sensitive columns to whole numbers"
    return None


def record_exception(recipe: dict, justification: str, by: str, at: str | None = None,
                     verdict: "GateResult | None" = None) -> str | None:
    """Record a written exception in the recipe, or return why it cannot be accepted.

    It covers exactly what the gate's current verdict found: the direct identifiers and quasi-identifiers of
    this release, its smallest group, the unread free text and the l figures below target. Next month's file
    with a new identifier, a new quasi-identifier or smaller groups is not let through by it."""
    exc = {"justification": " ".join(str(justification or "").split()), "by": str(by or "").strip(),
           "at": at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if verdict is not None:
        exc["covers"] = {"direct": list(verdict.direct), "quasi": list(verdict.quasi), "k": verdict.k,
                         "free_text": list(verdict.unread),
                         "l": {c: int(m) for c, (m, _t) in verdict.l.items() if m is not None and m < _t}}
    problem = exception_problem(exc)
    if problem is None:
        recipe["exception"] = exc
    return problem


def _names(cols) -> str:
    return ", ".join(map(str, cols))


def judge(review) -> GateResult:
    """The verdict on a Review's release: privacy (measured), then the Evaluate answers."""
    verdict = _privacy(review)
    verdict.privacy_passed = verdict.passed
    verdict.roles = review.roles_json()
    from ctopen.eligibility import user_blockers
    blockers = user_blockers(review.recipe.get("eligibility"))
    verdict.eligibility = blockers
    if blockers:
        verdict.passed = False
        verdict.reasons = blockers + verdict.reasons
    return verdict


def _privacy(review) -> GateResult:
    recipe = review.recipe
    df = review.release
    table = review.release_role_table
    threshold = threshold_of(recipe)
    asked = requested_k(recipe)
    source = {c: r.origin for c, r in table.items()}
    direct = [c for c in df.columns if table[c].role == "direct"]
    quasi = [c for c in df.columns if table[c].role == "quasi"]
    sensitive = [c for c in df.columns if table[c].role == "sensitive"]
    unread = [c for c in df.columns if table[c].origin == "detection:free_text"]
    ignored = [f"{c}: {r.note}" for c, r in review.role_table.items() if r.note]

    problems: list[dict] = []     # {"text", "needs": what an exception must cover}
    if asked == -1:
        problems.append({"text": "The recipe's k is not a whole number: the default k = "
                                 f"{settings.DEFAULT_K} is used.", "needs": None})
    for line in ignored:
        problems.append({"text": f"A role was lowered without a recorded reason ({line}). Record why on the "
                                 "Identify page, or in the recipe's decisions.", "needs": None, "note": True})
    from ctopen.recipe import count_step
    agg = count_step(recipe.get("steps"))     # an aggregate or a spatial_aggregate: the release is a count table
    if agg is not None:
        if _l_targets(recipe):
            problems.append({"text": "An l target cannot be judged on a count table (its groups are the cells): publish "
                                     "records to check it, or remove the l target on purpose.", "needs": None})
        if unread:
            problems.append({"text": f"Free text not reviewed is a dimension of the count table: {_names(unread)}. "
                                     "Read a sample and set the column's role on Identify.", "needs": ("free_text", unread)})
        return _count_table(review, agg, direct, threshold, asked, source, problems)

    if direct:
        problems.append({"text": f"Direct identifiers are still in the release: {_names(direct)} (drop them, "
                                 "replace them with an anonymous ID, or record why they must be published)."
                                 + _fine_points(review, direct), "needs": ("direct", direct)})
    if unread:
        problems.append({"text": f"Free text not reviewed: {_names(unread)}. Names inside text can be missed by "
                                 "the detector; read a sample and set the column's role on Identify (or remove "
                                 "the column).", "needs": ("free_text", unread)})
    risk = review.risk
    kmin = None if len(df) == 0 else (int(risk.k_min) if quasi else len(df))
    if kmin is not None and kmin < threshold:
        lower = (f" The recipe asks for k = {asked}, below the state's default of {settings.DEFAULT_K}: that needs "
                 "a recorded exception naming that k." if asked is not None and 0 < asked < settings.DEFAULT_K else "")
        problems.append({"text": f"Over the quasi-identifiers left ({_names(quasi)}), the smallest group has "
                                 f"{kmin} record{'s' if kmin != 1 else ''}, below the threshold k = {threshold}: "
                                 "generalize or suppress until every group has at least that many." + lower,
                         "needs": ("k", kmin, quasi)})
    # the officer's population threshold (ctopen.population): estimated population uniques / N, in addition to k.
    # An exception does not lift it: the officer who set the limit lowers or removes it on the Risk page.
    from ctopen.population import population_problem
    if kmin is not None and quasi and (text := population_problem(review)):
        problems.append({"text": text, "needs": None})
    l_figures = {}
    for col, target in _l_targets(recipe).items():
        if col not in df.columns:
            problems.append({"text": f"The l target names {col}, which is not a column of the release.", "needs": None})
            continue
        if table[col].role != "sensitive":
            problems.append({"text": f"The l target names {col}, which is not a sensitive attribute here "
                                     f"(its role is {table[col].role}).", "needs": None})
            continue
        d = risk.l_diversity.get(col)
        measured = int(d.distinct) if d is not None and len(df) else None
        l_figures[col] = (measured, target)
        if measured is not None and measured < target:
            problems.append({"text": f"{col}: some group has only {measured} distinct value"
                                     f"{'s' if measured != 1 else ''}, below the l target of {target}: people in "
                                     "that group share what is sensitive about them.", "needs": ("l", col, measured)})
    return _decide(recipe, problems, GateResult(False, [], kmin, threshold, direct, quasi, sensitive, None, source,
                                                unread=unread, l=l_figures), _notes_ok(df, direct, quasi, kmin,
                                                                                       threshold, review))


def _fine_points(review, direct: list[str]) -> str:
    """Why coordinates a spatial_k step coarsened are still direct: it publishes points at 3 decimals or more."""
    from ctopen import rules
    for entry in review.applied.log:
        fine = entry.get("decimals_out") if entry.get("op") == "spatial_k" else None
        cols = [c for c in direct if review.lineage.get(c, c) in (entry.get("columns") or [])]
        if fine is not None and fine >= rules.HOME_POINT_DECIMALS and cols:
            return (f" The spatial_k step keeps points of {_names(cols)} at {fine} decimals: k counts records, and "
                    f"at {rules.HOME_POINT_DECIMALS} decimals (about 100 m) or more the records sharing a point may be "
                    "one household's (several claims of one member); give it \"max_decimals\": 2 (about 1 km).")
    return ""


def _l_targets(recipe: dict) -> dict[str, int]:
    out = {}
    for col, value in (recipe.get("l") or {}).items() if isinstance(recipe.get("l"), dict) else []:
        n = _whole(value)
        if n is not None and n >= 2:
            out[str(col)] = n
    return out


def _notes_ok(df, direct, quasi, kmin, threshold, review) -> list[str]:
    notes = ["No direct identifier is left in the release." if not direct else
             f"Direct identifiers published: {_names(direct)}."]
    if kmin is None:
        notes.append("The release has no rows.")
    elif quasi:
        notes.append(f"Every group over the quasi-identifiers left ({_names(quasi)}) has at least {kmin} records "
                     f"(threshold k = {threshold}).")
    else:
        notes.append("No quasi-identifier is left in the release.")
    anonymous = [c for c, r in review.release_role_table.items() if r.origin == "anonymous ID"]
    if anonymous:
        notes.append(f"Replaced by anonymous IDs: {_names(sorted(anonymous))}.")
    return notes


def _covered(covers: dict, need) -> str | None:
    """Why `covers` does not cover one problem, or None when it does."""
    kind = need[0]
    if kind in ("direct", "free_text"):
        missing = [c for c in need[1] if c not in (covers.get(kind) or [])]
        return f"it does not cover {_names(missing)}" if missing else None
    if kind == "k":
        _k, kmin, quasi = need
        known = set(covers.get("quasi") or []) | set(covers.get("direct") or [])
        missing = [c for c in quasi if c not in known]
        if missing:
            return f"it does not cover {_names(missing)}"
        accepted = _whole(covers.get("k"))
        if accepted is None:
            return "it does not name the k it accepts"
        if kmin < accepted:
            return (f"it was recorded when the smallest group had {accepted} records; now it has {kmin} "
                    "(review the release and record the exception again)")
        return None
    if kind == "l":
        _l, col, measured = need
        accepted = _whole((covers.get("l") or {}).get(col))
        if accepted is None:
            return f"it does not cover the l target of {col}"
        if measured < accepted:
            return f"it accepts l = {accepted} on {col}; now it is {measured}"
        return None
    return "it cannot cover this"


def _decide(recipe: dict, problems: list[dict], result: GateResult, ok_notes: list[str]) -> GateResult:
    blocking = [p for p in problems if p.get("needs") is not None]
    plain = [p for p in problems if p.get("needs") is None and not p.get("note")]
    notes = [p["text"] for p in problems if p.get("note")]
    if not blocking and not plain:
        result.passed = True
        result.reasons = ok_notes + notes
        return result
    reasons = [p["text"] for p in problems]
    exc = recipe.get("exception")
    if plain or not exc:
        result.reasons = reasons
        if exc and not plain:
            result.reasons.append("The recorded exception cannot be accepted: " + (exception_problem(exc) or "") + ".")
        return result
    problem = exception_problem(exc)
    if problem is None:
        why = [w for w in (_covered(exc["covers"], p["needs"]) for p in blocking) if w]
        if why:
            problem = "; ".join(why) + " (review them and record the exception again)" \
                if not any("record the exception again" in w for w in why) else "; ".join(why)
    if problem is not None:
        result.reasons = reasons + [f"The recorded exception cannot be accepted: {problem}."]
        return result
    result.passed = True
    result.exception = dict(exc)
    result.reasons = reasons + [f"Published by exception, recorded by {exc.get('by')}"
                                + (f" on {exc.get('at')}" if exc.get("at") else "")
                                + f": {' '.join(str(exc.get('justification')).split())}"]
    return result


def _published_name(recipe: dict, column: str) -> str:
    """The name a column made by the aggregate step has after the fix steps that follow it (renames)."""
    from ctopen.recipe import in_apply_order
    steps = in_apply_order(recipe.get("steps") or [])
    from ctopen.recipe import COUNT_OPS
    after = steps[next((i for i, s in enumerate(steps) if s.get("op") in COUNT_OPS), len(steps)) + 1:]
    for step in after:
        if step.get("op") in ("rename", "format_number") and step.get("column") == column and step.get("to"):
            column = step["to"]
    return column


def _occupied_cells(df, dims: list[str], count: str) -> int | None:
    """The interior cells of a count table that hold records (a count above 0, or suppressed), totals left out;
    None when a dimension or the count cannot be found."""
    import pandas as pd
    from ctopen.aggregate import TOTAL

    if count not in df.columns or any(c not in df.columns for c in dims):
        return None
    interior = pd.Series(True, index=df.index)
    for c in dims:
        interior &= df[c].astype("str").ne(TOTAL).fillna(True)
    counts = pd.to_numeric(df[count], errors="coerce")
    return int((interior & (counts.isna() | (counts > 0))).sum())


def _one_value_groups(df, dims: list[str], count: str, sensitive: list[str]) -> list[tuple[str, int, int]]:
    """For each sensitive dimension of a count table: (column, groups of the other dimensions whose records all
    have one value of it, groups holding records), when there are such groups. Interior cells only (totals left
    out); a suppressed count holds records (1 or more), a published 0 holds none."""
    import pandas as pd
    from ctopen.aggregate import TOTAL

    if count not in df.columns or any(c not in df.columns for c in dims):
        return []
    interior = pd.Series(True, index=df.index)
    for c in dims:
        interior &= df[c].astype("str").ne(TOTAL).fillna(True)
    counts = pd.to_numeric(df[count], errors="coerce")
    holding = df[interior & (counts.isna() | (counts > 0))]
    out = []
    for col in sensitive:
        others = [c for c in dims if c != col]
        if not others or holding[col].nunique(dropna=False) < 2:
            continue      # no other dimension, or one value in the whole table: no group stands out
        kinds = holding.groupby(others, dropna=False, observed=True)[col].nunique(dropna=False)
        if int((kinds == 1).sum()):
            out.append((col, int((kinds == 1).sum()), len(kinds)))
    return out


def _count_table(review, step: dict, direct: list[str], threshold: int, asked, source: dict,
                 problems: list[dict]) -> GateResult:
    """A release of counts: judged by its published cells."""
    import pandas as pd

    df = review.release
    recipe = review.recipe
    by = step.get("by") or []
    by = [by] if isinstance(by, str) else list(by)
    spatial = step.get("op") == "spatial_aggregate"
    entry = next((e for e in review.applied.log if e.get("op") == step.get("op")), {})
    records = int(entry.get("records_counted" if spatial else "records_in") or 0)
    if spatial:
        from ctopen.geo import area_column
        by = [area_column(step)] + by
        # a map publishes the hexagon or the area's point, never a record's point: a dimension holding the
        # records' coordinates (even coarsened) would put them back on the map, cell by cell
        found = {c.name: getattr(c, "entity", None) for c in getattr(review.detection, "columns", None) or []}
        own = {step.get("lat"), step.get("lon"), step.get("point")} - {None}
        pointy = [c for c in by[1:] if review.lineage.get(_published_name(recipe, c), c) in own
                  or found.get(review.lineage.get(_published_name(recipe, c), c)) == "coordinates"]
        from ctopen.geo import MAX_PUBLISHED_RESOLUTION, h3_area_sq_miles
        res = step.get("resolution", 7)
        if step.get("method", "h3") == "h3" and isinstance(res, int) and res > MAX_PUBLISHED_RESOLUTION:
            # not coverable by an exception: a listed hexagon this small shows where a record lies, count or not
            problems.append({"text": f"The map's hexagons (resolution {res}, about {h3_area_sq_miles(res):,.3f} square "
                                     "miles) are small enough to point at a few houses: every listed hexagon says a "
                                     "record lies in it, even with its count suppressed. Use resolution "
                                     f"{MAX_PUBLISHED_RESOLUTION} (about {h3_area_sq_miles(MAX_PUBLISHED_RESOLUTION):,.2f} "
                                     "square miles) or coarser.", "needs": None})
        if pointy:
            problems.append({"text": f"The map's dimensions hold the records' coordinates: {_names(pointy)} (remove "
                                     "them from \"by\": the hexagon or the town is the place).",
                             "needs": ("direct", pointy)})
    if direct:
        problems.append({"text": f"Direct identifiers are dimensions of the count table: {_names(direct)} "
                                 "(count by coarser dimensions instead).", "needs": ("direct", direct)})
    shown_by = [_published_name(recipe, c) for c in by]     # the dimensions as the release names them
    listing = []
    from ctopen.aggregate import TOTAL
    for col in by:
        col = _published_name(recipe, col)      # a dimension renamed after counting is followed
        if col in direct:
            continue
        if col not in df.columns:
            problems.append({"text": f"The count table's dimension {col} cannot be found in the release.", "needs": None})
            continue
        values = df[col][df[col] != TOTAL].dropna().nunique()
        if nearly_one_per_record(values, records):
            listing.append(col)
    roles = review.role_table
    for m in step.get("measures") or []:
        if isinstance(m, dict) and m.get("stat") == "sum" and roles.get(m.get("column")) is not None \
                and roles[m["column"]].role in ("direct", "sensitive"):
            problems.append({"text": f"The count table sums {m['column']}, a {roles[m['column']].role} attribute: a sum "
                                     "in a small cell can be one person's value (sums have no small-numerator rule). "
                                     "Publish its mean or percent, which are protected, or leave it out.", "needs": None})
    if listing:
        problems.append({"text": f"The count table lists {_names(listing)} value by value: its values are nearly "
                                 f"all distinct ({', '.join(str(df[c].nunique()) for c in listing)} values for "
                                 f"{records:,} records), so the table publishes them (count by a coarser column).",
                         "needs": ("direct", listing)})
    elif (cells := _occupied_cells(df, shown_by,
                                   _published_name(recipe, "count"))) is not None \
            and nearly_one_per_record(cells, records):
        # each dimension alone repeats, but together they are nearly one per record: every listed cell (its count
        # suppressed or not) says that a record with those values is there, so the table lists the records (a
        # hexagon by date, or a town by age, sex and diagnosis: a line per claim, with its diagnosis)
        what = ((f"its places and {_names(shown_by[1:])} combinations" if by[1:] else "its places") if spatial else
                f"its {_names(shown_by)} combinations")
        problems.append({"text": f"The {'map' if spatial else 'count table'} lists the records: {cells:,} of {what} "
                                 f"hold records, for {records:,} records, so nearly every listed cell is one record (a "
                                 "suppressed count still says someone with those values is there). Count by fewer or "
                                 "coarser columns" + (", or into larger places." if spatial else "."),
                         "needs": ("direct", shown_by)})
    name = _published_name(recipe, "count")     # a fix step may rename the count column: follow it
    release_roles = review.release_role_table
    disclosed = {}
    for col, groups, of in _one_value_groups(df, shown_by, name, [c for c in shown_by if c in release_roles
                                                                  and release_roles[c].role == "sensitive"]):
        # the small-cell rule hides small counts, not zeros: a group whose records all fall in one category of a
        # sensitive column (every other category 0) tells that category of everyone counted there
        problems.append({"text": f"The {'map' if spatial else 'count table'} discloses {col} for whole groups: in "
                                 f"{groups:,} of its {of:,} {_names([c for c in shown_by if c != col])} combinations "
                                 f"that hold records, every record has the same {col} (its other categories are 0), "
                                 f"so anyone known to be counted there has it, whether or not the count is "
                                 f"suppressed. Count {col} in broader categories, count by fewer or coarser columns, "
                                 "or record an exception covering l = 1 for it.", "needs": ("l", col, 1)})
        disclosed[col] = (1, 2)       # measured l = 1 where a group is one category; any two would do
    if name not in df.columns:
        problems.append({"text": "The count table has no count column the gate can read (it was renamed or "
                                 "removed after counting).", "needs": None})
    counts = pd.to_numeric(df[name], errors="coerce") if name in df.columns else pd.Series(dtype=float)
    shown = counts.dropna()
    shown = shown[shown > 0]
    kmin = int(shown.min()) if len(shown) else None
    if kmin is not None and kmin < threshold:
        small = int((shown < threshold).sum())
        problems.append({"text": f"{small:,} published count{'s are' if small != 1 else ' is'} below {threshold} "
                                 f"(the smallest is {kmin}): suppress counts up to at least {threshold - 1} (the "
                                 "state's rule suppresses 1 to 5).", "needs": ("k", kmin, [])})
    if spatial:
        where = ("H3 hexagons" if step.get("method", "h3") == "h3" else
                 "towns' points" if step.get("method") == "town" else "counties' points")
        ok_intro = (f"The release is a map of counts by {_names(shown_by)} (the published places are {where}, no record's "
                    "point)")
    else:
        ok_intro = f"The release is a count table by {_names(shown_by)}"
    ok = [f"{ok_intro}: every published count is at least "
          f"{kmin if kmin is not None else threshold} (threshold {threshold}); counts of 1 to "
          f"{entry.get('threshold', step.get('threshold', 5))} are suppressed, with complementary suppression so "
          "that none can be worked out from the totals (the CT Open Data Handbook's rules)."]
    result = GateResult(False, [], kmin, threshold, direct, [], [], None, source, counts=True, l=disclosed)
    return _decide(recipe, problems, result, ok)
