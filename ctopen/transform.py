"""Apply a recipe's steps to a table: drop, generalize, suppress, pseudonymize, spatial_k (and aggregate or
spatial_aggregate, ctopen.geo).

`apply(df, recipe, key=None) -> Applied`. Deterministic: the same table, recipe and key give the same
release table and log. Steps run in order; each adds one entry to the log:
{"op", "column" or "columns", "values_changed", "records_removed", "message", ...}.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ctopen import aggregate, hierarchies, risk, settings
from ctopen import recipe as recipes
from ctopen.errors import ConfigError, RecipeError
from ctopen.values import parse_dates, parse_numbers

# 16 hex characters = 64 bits of the HMAC-SHA-256. Two different values get the same ID with
# probability about n^2 / 2^65: 3 in 100 million for a million distinct values, 3 in 10,000 for a
# hundred million. 12 characters (48 bits) would already give 1 in 600 at a million values.
PSEUDONYM_HEX_CHARS = 16
MIN_KEY_BYTES = 16


@dataclass
class Applied:
    df: pd.DataFrame
    log: list[dict] = field(default_factory=list)
    suppressed: int = 0
    renamed: dict = field(default_factory=dict)   # original column -> its name in the release (fix steps)

    def name(self, column: str) -> str:
        """A column's name in the release table."""
        return self.renamed.get(column, column)

    def to_dict(self) -> dict:
        return {"rows": int(len(self.df)), "columns": list(self.df.columns), "suppressed": int(self.suppressed),
                "log": self.log}


def apply(df: pd.DataFrame, recipe: dict, key: bytes | None = None) -> Applied:
    """The release table: the recipe's privacy steps applied in order to a copy of df (an aggregate last),
    then its data-preparation fixes (ctopen.checks) in their order, so a rename never changes what a
    privacy step or a role refers to. `Applied.renamed` maps original column names to published ones."""
    recipes.validate(recipe, columns=list(df.columns))
    out = df.copy()
    log: list[dict] = []
    suppressed = 0
    for step in recipes.in_apply_order(recipe["steps"]):
        op = step["op"]
        if op == "drop":
            out, entry = drop(out, step)
        elif op == "generalize":
            out, entry = generalize(out, step)
        elif op == "suppress":
            out, entry = suppress(out, step, roles=recipe.get("roles") or {})
        elif op == "pseudonymize":
            out, entry = pseudonymize(out, step, key=key)
        elif op in recipes.FIX_OPS:
            from ctopen.checks import FIX_OPS
            out, entry = FIX_OPS[op](out, step)
        elif op == "spatial_k":
            from ctopen.geo import spatial_k
            out, entry = spatial_k(out, step)
        elif op == "spatial_aggregate":   # a map of counts: the last privacy step (validated)
            from ctopen.geo import spatial_aggregate
            out, entry = spatial_aggregate(out, step)
        else:  # aggregate: the last privacy step (validated)
            out, entry = aggregate.apply_step(out, step)
            entry = {"op": "aggregate", "values_changed": 0, "records_removed": 0, **entry}
            entry.setdefault("message", recipes.describe_step(step))
        suppressed += int(entry.get("records_removed", 0)) if op == "suppress" else 0
        log.append(entry)
    return Applied(df=out, log=log, suppressed=suppressed, renamed=recipes.renames(recipe))


# --- the steps ---------------------------------------------------------------------------------

def drop(df: pd.DataFrame, step: dict):
    col = step["column"]
    changed = int(df[col].notna().sum())
    return df.drop(columns=[col]), _entry("drop", col, changed, 0, f"Removed the column “{col}”.")


def generalize_message(col: str, h, level: int, changed: int, unknown: list, unknown_records: int, outside: int,
                       state_column: str | None) -> str:
    """What a generalize step did, in words (the log's message; the DuckDB engine writes the same)."""
    message = (f"Generalized “{col}” to {h.label(level)}: {changed:,} values changed." if level else
               f"Kept “{col}” as is: {changed:,} values changed.")
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (", and more" if len(unknown) > 5 else "")
        what = ("could not be read as a date (a date before 1677 or after 2262, such as the \"no end date\" "
                "12/31/9999, counts as none)" if h.name == "date" else
                "are not in the hierarchy's table (never guessed)" if h.name == "table" else
                f"could not be read as {h.name}")
        message += (f" {len(unknown):,} distinct values ({unknown_records:,} records) {what}"
                    f"{' and were written * at this level' if level else ' (they are written * at higher levels)'}"
                    f": {shown}.")
    if outside:
        message += f" {outside:,} records whose “{state_column}” is not Connecticut were written *."
    return message


def generalize(df: pd.DataFrame, step: dict):
    col = step["column"]
    h = hierarchies.get(step["hierarchy"], **recipes.hierarchy_options(step))
    level = h.check_level(step["level"])
    before = df[col]
    after, unknown, changed = h.generalize_report(before, level)
    outside = _outside_ct(df, step.get("state_column")) if h.name == "ct_town" else None
    in_ct = before
    if outside is not None and 0 < level < h.top:
        # a town of the same name in another state ("WARREN", state "OH") is not a Connecticut town
        codes, uniques, counts, flags = step_distinct(df, step, h)
        mapped = generalize_distinct(h, uniques, counts, level, flags)
        after = pd.Series(pd.array(mapped, dtype="str").take(codes, allow_fill=True), index=before.index, name=col)
        changed = int((before.fillna("\x00") != after.fillna("\x00")).sum())
        in_ct = before[~outside]
        unknown = h.unknown(in_ct)
    out = _replace(df, col, after)
    n = int(in_ct.isin(unknown).sum()) if unknown else 0
    n_outside = int((outside & before.notna()).sum()) if outside is not None and 0 < level < h.top else 0
    message = generalize_message(col, h, level, changed, unknown, n, n_outside, step.get("state_column"))
    entry = _entry("generalize", col, changed, 0, message)
    entry.update(hierarchy=h.name, level=level, label=h.label(level), unknown=unknown[:50],
                 unknown_count=len(unknown), outside_ct=n_outside)
    return out, entry


def step_distinct(df: pd.DataFrame, step: dict, h=None):
    """The distinct values a generalize step maps: (codes per row, -1 for missing; distinct values;
    records holding each; per distinct value, whether its state column names another state, or None).

    With a state column (ct_town), a town name found both in and outside Connecticut is two distinct
    values. Apply, the information lost and the search all read a step's column through this."""
    h = h or hierarchies.get(step["hierarchy"], **recipes.hierarchy_options(step))
    codes, uniques = pd.factorize(df[step["column"]])
    codes = np.asarray(codes, dtype=np.int64)
    outside = _outside_ct(df, step.get("state_column")) if h.name == "ct_town" else None
    if outside is None or not outside.any():
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        return codes, uniques, counts, None
    ok = codes >= 0
    pair_codes = np.full(len(codes), -1, dtype=np.int64)
    found, pairs = pd.factorize(codes[ok] * 2 + outside[ok])
    pair_codes[ok] = found
    counts = np.bincount(found, minlength=len(pairs))
    return pair_codes, uniques[pairs // 2], counts, (pairs % 2).astype(bool)


def generalize_distinct(h, uniques, counts, level, outside=None) -> np.ndarray:
    """Each distinct value's generalized value: the hierarchy's (it sees the records holding each), and
    a town whose state column names another state (`outside`, per distinct value) written * at the
    levels between as is and the top. The one rule for apply, the information lost and the search."""
    level = h.check_level(level)
    mapped = h.map_distinct(uniques, level, counts)
    if outside is not None and 0 < level < h.top:
        mapped = np.where(np.asarray(outside, dtype=bool) & ~np.asarray(pd.isna(pd.Index(uniques)), dtype=bool),
                          hierarchies.STAR, mapped)
    return mapped


def suppress_plan(step: dict, roles: dict | None, present, n: int) -> tuple[int, list, list, dict]:
    """What a suppress step asks, read once for both engines: (k, the columns to group over, those not in the
    table at this step, the log entry so far; it is complete, nothing removed, when there are no columns)."""
    k = int(step.get("k", settings.DEFAULT_K))
    share = float(step.get("max_share", settings.DEFAULT_MAX_SUPPRESSION))
    wanted = step.get("columns")
    if wanted is None:
        wanted = [c for c, r in (roles or {}).items() if r == "quasi"]
    columns = [c for c in wanted if c in present]
    ignored = [c for c in wanted if c not in present]
    cap = int(np.floor(share * n + 1e-9))
    entry = {"op": "suppress", "columns": columns, "k": k, "max_share": share, "cap": cap}
    if not columns:
        entry.update(values_changed=0, records_removed=0, k_reached=False, classes_removed=0,
                     records_at_risk=0,
                     message="No quasi-identifier columns to suppress over: nothing was removed.")
    return k, columns, ignored, entry


def suppress_outcome(entry: dict, n: int, at_risk: int, removed: int, taken: int, ignored: list) -> dict:
    """The suppress step's log entry, from what it removed (both engines)."""
    k, cap, share = entry["k"], entry["cap"], entry["max_share"]
    reached = removed == at_risk
    if reached:
        message = (f"Removed {removed:,} records in {taken:,} groups smaller than {k}: "
                   f"every remaining group has at least {k} records." if removed else
                   f"Every group already has at least {k} records: nothing was removed.")
    else:
        message = (f"{at_risk:,} records sit in groups smaller than {k}, more than the cap of {cap:,} "
                   f"({share:.1%} of {n:,}); removed {removed:,} (the smallest groups): k = {k} was NOT reached.")
    if ignored:
        message += f" Ignored {recipes._names(ignored)}: not in the table at this step (dropped earlier)."
    entry.update(values_changed=0, records_removed=removed, k_reached=bool(reached), classes_removed=int(taken),
                 records_at_risk=at_risk, message=message, ignored=ignored)
    return entry


def suppress(df: pd.DataFrame, step: dict, roles: dict | None = None):
    """Remove whole equivalence classes smaller than k, smallest first, up to max_share of the rows."""
    n = len(df)
    k, columns, ignored, entry = suppress_plan(step, roles, set(df.columns), n)
    if not columns:
        return df, entry
    codes, groups = risk.classes(df, columns)
    sizes = np.bincount(codes, minlength=groups)
    small = np.flatnonzero(sizes < k)
    at_risk = int(sizes[small].sum())
    # smallest classes first; ties by first appearance in the file
    order = small[np.lexsort((_first_row(codes, groups, sizes < k)[small], sizes[small]))]
    cum = np.cumsum(sizes[order])
    take = order[cum <= entry["cap"]]
    removed_mask = np.isin(codes, take)
    removed = int(removed_mask.sum())
    return df.loc[~removed_mask], suppress_outcome(entry, n, at_risk, removed, len(take), ignored)


CT_STATE = {"CT", "CONN", "CONNECTICUT"}


def _outside_ct(df: pd.DataFrame, state_column: str | None):
    """Rows whose state column names a state other than Connecticut (blank counts as Connecticut)."""
    if not state_column:
        return None
    state = df[state_column].str.strip().str.upper().str.replace(".", "", regex=False)
    return (state.notna() & ~state.isin(CT_STATE)).to_numpy()


def _first_row(ids: np.ndarray, groups: int, wanted: np.ndarray) -> np.ndarray:
    """The first row of each class in `wanted` (a mask over the class ids of ctopen.risk.group)."""
    rows = np.flatnonzero(wanted[ids])
    first = np.full(groups, len(ids), dtype=np.int64)
    np.minimum.at(first, ids[rows], rows)
    return first


def _replace(df: pd.DataFrame, col: str, values: pd.Series) -> pd.DataFrame:
    out = df.copy(deep=False)
    out[col] = values
    return out


def pseudonymize(df: pd.DataFrame, step: dict, key: bytes | None = None):
    col = step["column"]
    key = resolve_key(key, col)
    codes, uniques = pd.factorize(df[col])
    ids = np.array([pseudonym(v, key) for v in uniques] + [None], dtype=object)
    table = pd.array(ids[:-1], dtype="str")
    out = _replace(df, col, pd.Series(table.take(codes, allow_fill=True), index=df.index))
    changed = int(df[col].notna().sum())
    message = (f"Replaced “{col}” with anonymous IDs ({PSEUDONYM_HEX_CHARS} hex characters of "
               f"HMAC-SHA-256 under the secret key): {len(uniques):,} distinct values.")
    if len(set(ids[:-1])) < len(uniques):
        message += " Two different values received the same ID (a chance collision): check before publishing."
    if len(key) < MIN_KEY_BYTES:
        message += f" The key is shorter than {MIN_KEY_BYTES} characters: use a long random key."
    return out, _entry("pseudonymize", col, changed, 0, message)


def pseudonym(value: str, key: bytes) -> str:
    """The anonymous ID of one value: HMAC-SHA-256(key, value stripped of outer spaces), shortened."""
    digest = hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def resolve_key(key: bytes | str | None, column: str = "") -> bytes:
    if not key:
        key = os.environ.get(settings.PSEUDONYM_KEY_ENV) or None
    if not key:
        what = f"“{column}”" if column else "a column"
        raise ConfigError(
            f"Replacing {what} with anonymous IDs needs a secret key: set the environment variable "
            f"{settings.PSEUDONYM_KEY_ENV} (or pseudonym_key under [ctopen] in the app's secrets) to a long "
            "random text and keep it the same for every update.")
    key = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(key) < MIN_KEY_BYTES:   # a short key can be found by trying them all: the IDs would be reversible
        raise ConfigError(f"The secret key for anonymous IDs ({settings.PSEUDONYM_KEY_ENV}) is shorter than "
                          f"{MIN_KEY_BYTES} characters: use a long random text (a short one can be guessed, and every "
                          "ID turned back into its value).")
    return key


def _entry(op, column, changed, removed, message) -> dict:
    return {"op": op, "column": column, "values_changed": int(changed), "records_removed": int(removed),
            "message": message}


# --- proposing a ladder for a column -----------------------------------------------------------

WORDS = {
    "date": re.compile(r"date|dob|birth|_dt$|^dt_|day|admit|admission|death|died|time", re.I),
    "age": re.compile(r"(?<![A-Za-z])[Aa](ge|GE)(?![a-z])|years?_old"),
    "zip": re.compile(r"zip|postal|post_?code", re.I),
    "ct_town": re.compile(r"town|city|municipal|residence|place", re.I),
    "coordinates": re.compile(r"geo|lat|lon|coord|location|point", re.I),
}
# detected entities (ctopen.rules codes, and Presidio's) -> the ladder to try first
ENTITIES = {"date": "date", "date_of_birth": "date", "record_date": "date", "date_time": "date", "age": "age",
            "zip": "zip", "town": "ct_town", "ct_town": "ct_town", "location": "ct_town",
            "coordinates": "coordinates"}
SAMPLE = 2000


def suggest_hierarchy(column_name: str, series: pd.Series, entity: str | None = None):
    """(hierarchy name, options) to propose for a column, or None for an empty column.

    The header words and the detected entity say what to try; the values must agree (most distinct
    values readable by that ladder). Otherwise numbers get "number", anything else "category"."""
    values = pd.Series(pd.Series(series).dropna().unique(), dtype="str")
    if values.empty:
        return None
    if len(values) > SAMPLE:
        values = values.sample(SAMPLE, random_state=0)
    name = str(column_name)
    hint = ENTITIES.get(str(entity or "").lower())
    candidates = ([hint] if hint else []) + [h for h, rx in WORDS.items() if rx.search(name) and h != hint]
    for h in candidates:
        options = _default_options(h, series)
        readable = 1 - len(hierarchies.get(h, **options).unknown(values)) / len(values)
        if readable >= (0.5 if h == "ct_town" else 0.8):
            return h, options
    numbers = parse_numbers(values)
    if numbers.notna().mean() >= 0.95 and numbers.nunique() > 20:
        return "number", {"width": nice_width(numbers.dropna())}
    if parse_dates(values).notna().mean() >= 0.95:
        return "date", {}
    return "category", {"min_count": settings.DEFAULT_K}


def _default_options(name: str, series) -> dict:
    if name == "age":
        return {"top_code": 90}
    if name == "ct_town":
        return {"via": "county"}
    return {}


def nice_width(x: pd.Series) -> float:
    """A round band width giving about 10 bands over the values' range (1, 2 or 5 times a power of 10)."""
    span = float(x.max() - x.min())
    if span <= 0:
        return 1
    raw = span / 10
    power = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            w = m * power
            return int(w) if float(w).is_integer() else float(w)
    return int(10 * power)


# --- the price of a recipe ---------------------------------------------------------------------

def information_loss(df: pd.DataFrame, recipe: dict, columns: list[str], suppressed: int = 0) -> float:
    """Information lost over `columns` (the quasi-identifiers), in [0, 1] (docs/recipe.md).

    Per column: the hierarchy's loss at the recipe's level (ARX's share-of-domain measure), 1 for a
    dropped or pseudonymized column, 0 for one left as is. The columns' average, for the records kept;
    suppressed records count as fully lost: loss = kept/total * average + suppressed/total."""
    columns = [c for c in columns if c in df.columns]
    if not columns or not len(df):
        return 0.0
    per_column = dict.fromkeys(columns, 0.0)
    for step in recipe.get("steps", []):
        col = step.get("column")
        if col not in per_column:
            continue
        if step["op"] in ("drop", "pseudonymize"):
            per_column[col] = 1.0
        elif step["op"] == "generalize":
            per_column[col] = step_loss(df, step)
    return combined_loss(sum(per_column.values()) / len(per_column), suppressed, len(df))


def combined_loss(average: float, suppressed: int, rows: int) -> float:
    """The loss of a release: the columns' average loss for the records kept, suppressed records fully
    lost (kept/rows * average + suppressed/rows). The one formula (the search calls it too)."""
    if not rows:
        return 0.0
    suppressed = min(int(suppressed), rows)
    return (rows - suppressed) / rows * average + suppressed / rows


def step_loss(df: pd.DataFrame, step: dict) -> float:
    """Information lost by one generalize step on its column (the hierarchy's loss over the values the
    step maps, towns of other states written * included), in [0, 1]."""
    h = hierarchies.get(step["hierarchy"], **recipes.hierarchy_options(step))
    level = h.check_level(step["level"])
    _, uniques, counts, outside = step_distinct(df, step, h)
    mapped = generalize_distinct(h, uniques, counts, level, outside)
    return h.loss_distinct(uniques, counts, level, mapped=mapped)
