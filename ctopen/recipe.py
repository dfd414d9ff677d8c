"""The recipe: load, validate, save, and describe its steps in words (docs/recipe.md).

A recipe is a plain dict: {"version": 1, "steps": [...]} at least; "source", "roles", "metadata",
"target" and other keys written by other steps of the review are kept as they are.
"""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

from ctopen import settings
from ctopen.errors import RecipeError

VERSION = 1
PRIVACY_OPS = ("drop", "generalize", "suppress", "pseudonymize", "spatial_k", "aggregate", "spatial_aggregate")
# Steps whose release is a count table (at most one per recipe, the last privacy step): the gate judges its cells.
COUNT_OPS = ("aggregate", "spatial_aggregate")
# Data-preparation fixes (ctopen.checks.FIX_OPS): applied after every privacy step, in their order,
# so that a rename never changes what a privacy step or a role refers to.
FIX_OPS = ("format_number", "rename", "titlecase", "reorder", "escape_formulas", "drop_note_rows", "format_date")
OPS = PRIVACY_OPS + FIX_OPS
COLUMN_OPS = ("drop", "generalize", "pseudonymize")
FIX_COLUMN_OPS = ("format_number", "rename", "titlecase", "escape_formulas", "format_date")


# Every key a step may carry (besides "op"); anything else is refused, with the nearest known key suggested
# ("top_coed": did you mean "top_code"?), so a typo never silently drops a protection.
STEP_SCHEMA = {
    "drop": {"column"},
    "generalize": {"column", "hierarchy", "level", "state_column"},
    "suppress": {"k", "max_share", "columns"},
    "pseudonymize": {"column"},
    "aggregate": {"by", "threshold", "totals", "measures", "seed", "categories"},
    # ctopen.geo: points counted into H3 hexagons (lat + lon, or one point column) or into towns / counties
    "spatial_aggregate": {"lat", "lon", "point", "method", "resolution", "by", "threshold", "town", "county", "seed"},
    "spatial_k": {"lat", "lon", "point", "k", "min_decimals", "max_decimals"},
    "format_number": {"column", "unit", "to"},
    "rename": {"column", "to"},
    "titlecase": {"column"},
    "reorder": {"columns", "before"},
    "escape_formulas": {"column"},
    "drop_note_rows": set(),
    "format_date": {"column"},
}
# a generalize step's options, per hierarchy (ctopen.hierarchies reads these and no others)
HIERARCHY_OPTIONS = {"date": set(), "age": {"top_code"}, "zip": set(), "ct_town": {"via", "aliases"},
                     "number": {"width", "steps", "top", "bottom"}, "category": {"min_count"},
                     "coordinates": {"decimals"}, "table": {"table"}}
MAX_STEPS = 10_000


def strict_json(text: str | bytes, name: str = "The recipe"):
    """JSON as a recipe must be: no key twice in one object (the second would silently win: a "steps" given
    twice loses a step), no NaN or Infinity. RecipeError otherwise."""
    def pairs(items):
        seen = {}
        for key, value in items:
            if key in seen:
                raise RecipeError(f"{name} gives the key {key!r} twice in one object: remove one of them "
                                  "(only one can be meant).")
            seen[key] = value
        return seen

    def constant(word):
        raise RecipeError(f"{name} holds {word}, which is not a number a recipe can use.")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise RecipeError(f"{name} is nested too deeply to be a recipe.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, RecipeError):
            raise
        raise RecipeError(f"{name} is not valid JSON ({exc}).") from None


def _suggest(key: str, known) -> str:
    near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def new(steps: list | None = None) -> dict:
    return {"version": VERSION, "steps": list(steps or [])}


def loads(text: str | bytes, name: str = "The recipe") -> dict:
    """A recipe from JSON text (validated for shape, not against a file)."""
    recipe = strict_json(text, name=name)
    validate(recipe)
    return recipe


def load(path) -> dict:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"The recipe file {path} could not be read ({exc.strerror or exc}).") from exc
    return loads(text, name=f"The recipe file {path.name}")


def dumps(recipe: dict) -> str:
    return json.dumps(recipe, indent=2, ensure_ascii=False, default=str) + "\n"


def save(recipe: dict, path) -> Path:
    validate(recipe)
    path = Path(path)
    path.write_text(dumps(recipe), encoding="utf-8")
    return path


def in_apply_order(steps: list) -> list:
    """The steps in the order apply() runs them: note rows removed from the file first (they are not
    records, and a generalized "*" must never look like a footnote), then the privacy steps (aggregate
    last), then the other fixes."""
    notes = [s for s in steps if s.get("op") == "drop_note_rows"]
    return (notes + [s for s in steps if s.get("op") not in FIX_OPS]
            + [s for s in steps if s.get("op") in FIX_OPS and s.get("op") != "drop_note_rows"])


def count_step(steps) -> dict | None:
    """The recipe's counting step (aggregate or spatial_aggregate), or None: its release is a count table."""
    return next((s for s in steps or [] if isinstance(s, dict) and s.get("op") in COUNT_OPS), None)


def renames(recipe: dict) -> dict[str, str]:
    """{original column: published name} for the columns a fix step renames."""
    out: dict[str, str] = {}
    for step in recipe.get("steps") or []:
        if step.get("op") in ("rename", "format_number") and step.get("to") and step.get("to") != step.get("column"):
            original = next((old for old, new in out.items() if new == step.get("column")), step.get("column"))
            out[original] = step["to"]
    return out


def step_columns(step: dict) -> list[str]:
    """The columns a step reads (for aggregate: its dimensions and measures)."""
    op = step.get("op")
    if op in FIX_COLUMN_OPS:
        return [step.get("column")]
    if op == "reorder":
        return [c for c in step.get("columns") or [] if isinstance(c, str)]
    if op == "generalize" and step.get("state_column"):
        return [step.get("column"), step.get("state_column")]
    if op in COLUMN_OPS:
        return [step.get("column")]
    if op == "suppress":
        return list(step.get("columns") or [])
    if op in ("spatial_aggregate", "spatial_k"):
        from ctopen.geo import step_columns as geo_columns
        return geo_columns(step) if isinstance(step.get("by", []), list) else geo_columns({**step, "by": []})
    if op == "aggregate":
        by = step.get("by") or []
        by = [by] if isinstance(by, str) else [c for c in by if isinstance(c, str)] if isinstance(by, list) else []
        measures = [m.get("column") for m in step.get("measures") or [] if isinstance(m, dict)]
        return by + [m for m in measures if isinstance(m, str) and m]
    return []


def validate(recipe, columns=None) -> dict:
    """Check a recipe's shape (and, given the file's columns, that every column it names exists).

    Raises RecipeError naming every problem found; returns the recipe unchanged."""
    if not isinstance(recipe, dict):
        raise RecipeError("A recipe must be a JSON object with \"version\" and \"steps\".")
    missing = [k for k in ("version", "steps") if k not in recipe]
    if missing:
        raise RecipeError(f"The recipe lacks {' and '.join(repr(m) for m in missing)}: "
                          "every recipe needs \"version\": 1 and a list of \"steps\".")
    if not isinstance(recipe["version"], int) or isinstance(recipe["version"], bool) or recipe["version"] != VERSION:
        raise RecipeError(f"This recipe has version {recipe['version']!r}; this ctopen reads version {VERSION}.")
    steps = recipe["steps"]
    if not isinstance(steps, list):
        raise RecipeError("The recipe's \"steps\" must be a list.")
    if len(steps) > MAX_STEPS:
        raise RecipeError(f"The recipe has {len(steps):,} steps; ctopen reads at most {MAX_STEPS:,}.")
    roles = recipe.get("roles")
    if roles is not None:
        bad = [f"{c!r}: {r!r}" for c, r in (roles.items() if isinstance(roles, dict) else [])
               if r not in ("direct", "quasi", "sensitive", "other")]
        if not isinstance(roles, dict) or bad:
            raise RecipeError("The recipe's \"roles\" must map columns to direct, quasi, sensitive or other"
                              + (f"; not {', '.join(bad)}." if bad else "."))
    problems = _review_key_problems(recipe)
    # the last step that is not a data-preparation fix (an aggregate must be it): one pass, not one per step
    last_privacy = max((i for i, s in enumerate(steps, start=1)
                        if not (isinstance(s, dict) and s.get("op") in FIX_OPS)), default=0)
    for i, step in enumerate(steps, start=1):
        problems += _step_problems(i, step, last=i >= last_privacy)
    if problems:
        raise RecipeError("The recipe has problems: " + "; ".join(problems) + ".")
    if columns is not None:
        check_columns(recipe, columns)
    return recipe


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _review_key_problems(recipe: dict) -> list[str]:
    """The keys the privacy gate reads besides the steps: k, target.k, l, decisions, exception."""
    out = []
    target = recipe.get("target")
    if target is not None and not isinstance(target, dict):
        out.append("\"target\" must be an object")
        target = {}
    for where, value in (("k", recipe.get("k")), ("target.k", (target or {}).get("k"))):
        if value is not None and not (_whole(value) and 2 <= value <= 1000):
            out.append(f"\"{where}\" must be a whole number from 2 to 1000 (not {json.dumps(value, default=str)})")
    l_targets = recipe.get("l")
    if l_targets is not None and not (isinstance(l_targets, dict) and all(
            _is_name(c) and _whole(v) and v >= 2 for c, v in l_targets.items())):
        out.append("\"l\" must map sensitive columns to whole numbers of at least 2")
    if target and "dataset_id" in target and target["dataset_id"] is not None and not isinstance(target["dataset_id"], str):
        out.append("\"target.dataset_id\" must be text such as \"abcd-1234\"")
    elig = recipe.get("eligibility")
    if elig is not None and not (isinstance(elig, dict) and all(
            isinstance(elig.get(g), dict) for g in ("checklist", "equity", "priority") if g in elig)
            and all(isinstance(v, dict) for g in ("checklist", "equity") for v in (elig.get(g) or {}).values())):
        out.append("\"eligibility\" must be an object whose checklist, equity and priority are objects")
    kept = recipe.get("keep_formulas")
    if kept is not None and not (isinstance(kept, list) and all(_is_name(c) for c in kept)):
        out.append("\"keep_formulas\" must be a list of column names")
    decisions = recipe.get("decisions")
    if decisions is not None and not (isinstance(decisions, list) and all(isinstance(d, dict) for d in decisions)):
        out.append("\"decisions\" must be a list of objects")
    exc = recipe.get("exception")
    if exc is not None and not isinstance(exc, dict):
        out.append("\"exception\" must be an object with justification, by, at and covers")
    return out


def check_columns(recipe: dict, columns) -> None:
    """RecipeError naming the columns the steps use that the file lacks (or that an earlier step dropped)."""
    present = list(columns)
    available = set(present)
    absent, dropped, clash = [], [], []
    aggregated = False
    for step in in_apply_order(recipe.get("steps", [])):
        if aggregated and step.get("op") in FIX_OPS:
            continue  # the count table's columns are known only once it is built; the fix step checks then
        aggregated = aggregated or step.get("op") in COUNT_OPS
        if step.get("op") in ("rename", "format_number") and step.get("to") and step.get("column") in available:
            if step["to"] != step.get("column") and step["to"] in available:
                clash.append(f"{step.get('column')!r} to {step['to']!r}")
            available.add(step["to"])
        if step.get("op") == "reorder":
            continue  # reorder moves what it finds and says what it did not
        for col in step_columns(step):
            if col in available:
                continue
            if col in present and step.get("op") == "suppress":
                continue  # dropped earlier; suppress ignores it and says so in the log
            target = dropped if col in present else absent
            if col not in target:
                target.append(col)
        if step.get("op") == "drop" or (step.get("op") in ("rename", "format_number") and step.get("to")
                                        and step.get("to") != step.get("column")):
            available.discard(step.get("column"))   # a renamed column is gone under its old name
    parts = []
    if clash:
        parts.append(f"the recipe renames {', '.join(clash)}, which is already a column: two columns would have "
                     "one name (drop the other column first, or choose another name)")
    if absent:
        parts.append(f"the recipe names {_plural(absent, 'column')} the file does not have: {_names(absent)}")
    if dropped:
        parts.append(f"the recipe uses {_plural(dropped, 'column')} after dropping {_it(dropped)}: {_names(dropped)}")
    if parts:
        text = "; ".join(parts)
        raise RecipeError(text[0].upper() + text[1:] + ".")


def _step_problems(i: int, step, last: bool) -> list[str]:
    where = f"step {i}"
    if not isinstance(step, dict):
        return [f"{where} is not an object"]
    op = step.get("op")
    if op not in OPS:
        return [f"{where} has an unknown op {op!r} (known: {', '.join(OPS)})"]
    out = []
    hname = step.get("hierarchy") if isinstance(step.get("hierarchy"), str) else None   # a list is no name
    known = STEP_SCHEMA[op] | (HIERARCHY_OPTIONS.get(hname, set()) if op == "generalize" else set())
    for key in step:
        if key != "op" and key not in known:
            out.append(f"{where} ({op}) has an unknown key {key!r}{_suggest(key, known)}")
    if op == "generalize":
        level = step.get("level")
        if "level" in step and not (level == "*" or isinstance(level, int) and not isinstance(level, bool)):
            out.append(f"{where} (generalize) needs \"level\" as a whole number (or \"*\")")
        for key in ("width", "top", "bottom", "top_code"):
            if key in step and not _number(step[key]):
                out.append(f"{where} (generalize) needs {key!r} as a finite number")
        for key in ("steps", "min_count", "decimals"):
            if key in step and not _whole(step[key]):
                out.append(f"{where} (generalize) needs {key!r} as a whole number")
        if _number(step.get("top")) and _number(step.get("bottom")) and step["top"] <= step["bottom"]:
            out.append(f"{where} (generalize) needs \"top\" above \"bottom\"")
        if out:
            return out
    if op == "aggregate":
        if "totals" in step and not isinstance(step["totals"], bool):
            out.append(f"{where} (aggregate) needs \"totals\" as true or false")
        for key in ("threshold", "seed"):
            if key in step and not (_whole(step[key]) and step[key] >= 0):
                out.append(f"{where} (aggregate) needs {key!r} as a whole number, 0 or more")
        measures = step.get("measures")
        if measures is not None and not (isinstance(measures, list) and all(
                isinstance(m, dict) and _is_name(m.get("column")) and isinstance(m.get("stat"), str) for m in measures)):
            out.append(f"{where} (aggregate) needs \"measures\" as a list of {{\"column\", \"stat\"}}")
    if op in COLUMN_OPS + FIX_COLUMN_OPS and not _is_name(step.get("column")):
        out.append(f"{where} ({op}) needs a \"column\"")
    if op == "rename" and not _is_name(step.get("to")):
        out.append(f"{where} (rename) needs the new name in \"to\"")
    if op in ("rename", "format_number") and "to" in step and not (
            _is_name(step["to"]) and step["to"] == step["to"].strip()):
        out.append(f"{where} ({op}) needs \"to\" as a column name without spaces around it")
    if op == "format_number" and "unit" in step and not isinstance(step["unit"], str):
        out.append(f"{where} (format_number) needs \"unit\" as text")
    if op == "reorder" and not (isinstance(step.get("columns"), list) and step["columns"]
                                and all(_is_name(c) for c in step["columns"])):
        out.append(f"{where} (reorder) needs \"columns\" as a list of column names")
    if op == "generalize":
        from ctopen import hierarchies
        name = step.get("hierarchy")
        if not isinstance(name, str) or name not in hierarchies.HIERARCHIES:
            out.append(f"{where} names an unknown hierarchy {name!r} (known: {', '.join(hierarchies.HIERARCHIES)})")
        elif "level" not in step:
            out.append(f"{where} (generalize) needs a \"level\"")
        else:
            try:
                hierarchies.get(name, **hierarchy_options(step)).check_level(step["level"])
            except RecipeError as exc:
                out.append(f"{where}: {str(exc).rstrip('.')}")
    if op == "suppress":
        k = step.get("k", settings.DEFAULT_K)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            out.append(f"{where} (suppress) needs \"k\" as a whole number of at least 1")
        share = step.get("max_share", settings.DEFAULT_MAX_SUPPRESSION)
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1:
            out.append(f"{where} (suppress) needs \"max_share\" between 0 and 1")
        cols = step.get("columns")
        if cols is not None and (not isinstance(cols, list) or not all(_is_name(c) for c in cols)):
            out.append(f"{where} (suppress) needs \"columns\" as a list of column names")
    if op in ("spatial_aggregate", "spatial_k"):
        from ctopen.geo import step_problems
        out += step_problems(where, step)
    if op == "spatial_aggregate" and not last:
        out.append(f"{where} (spatial_aggregate) must be the last step (only data-preparation fixes may follow it)")
    if op == "aggregate":
        if not last:
            out.append(f"{where} (aggregate) must be the last step (only data-preparation fixes may follow it)")
        by = step.get("by")
        if not (_is_name(by) or isinstance(by, list) and by and all(_is_name(c) for c in by)):
            out.append(f"{where} (aggregate) needs \"by\" as a list of column names")
    return out


STEP_KEYS = ("op", "column", "hierarchy", "level", "state_column")


def hierarchy_options(step: dict) -> dict:
    """A generalize step's hierarchy options: every key but op, column, hierarchy, level, state_column."""
    return {k: v for k, v in step.items() if k not in STEP_KEYS}


def describe_step(step: dict) -> str:
    """One plain sentence for a step, as the recipe list on the Transform page shows it."""
    op = step.get("op")
    col = step.get("column")
    if op == "drop":
        return f"Remove the column “{col}”."
    if op == "generalize":
        try:
            from ctopen import hierarchies
            h = hierarchies.get(step.get("hierarchy"), **hierarchy_options(step))
            level = h.check_level(step.get("level"))
            label = h.label(level)
        except RecipeError:
            label = f"level {step.get('level')}"
            level = None
        if level == 0:
            extra = " (top-coded)" if step.get("top_code") or step.get("top") or step.get("bottom") else ""
            return f"Keep “{col}” as is{extra}."
        if label == "*":
            return f"Blank out every value of “{col}” (written *)."
        return f"Generalize “{col}” to {label}."
    if op == "suppress":
        cols = ", ".join(step.get("columns") or []) or "the quasi-identifiers"
        share = step.get("max_share", settings.DEFAULT_MAX_SUPPRESSION)
        return (f"Remove the records in groups of fewer than {step.get('k', settings.DEFAULT_K)} over {cols} "
                f"(at most {share:.1%} of the records).")
    if op == "pseudonymize":
        return f"Replace “{col}” with an anonymous ID (keyed hash)."
    if op == "aggregate":
        measures = [f"{m.get('stat', 'sum')} of {m.get('column')}" for m in step.get("measures") or []]
        by = step.get("by") or []
        text = f"Publish counts by {by if isinstance(by, str) else ', '.join(map(str, by))} instead of records"
        text += f", with {', '.join(measures)}" if measures else ""
        return text + f" (counts of {step.get('threshold', 5)} or less suppressed)."
    if op == "spatial_aggregate":
        method = step.get("method", "h3")
        by = step.get("by") or []
        where = (f"H3 hexagons of resolution {step.get('resolution', 7)}" if method == "h3" else
                 f"{'towns' if method == 'town' else 'counties'} ({step.get(method) or step.get('town')})")
        return (f"Publish a map of counts by {where}" + (f" and {', '.join(map(str, by))}" if by else "")
                + f" instead of records (counts of {step.get('threshold', 5)} or less suppressed).")
    if op == "spatial_k":
        cols = step.get("point") or f"{step.get('lat')} and {step.get('lon')}"
        return (f"Coarsen the points of {cols} until each is shared by at least {step.get('k', settings.DEFAULT_K)} "
                f"records (down to {step.get('min_decimals', 1)} decimals; rarer points blanked).")
    if op in FIX_OPS:
        from ctopen.checks import fix_label
        return fix_label(step) + " (a data-preparation fix, applied after the privacy steps)."
    return f"Unknown step {op!r}."


def _is_name(value) -> bool:
    return isinstance(value, str) and value != ""


def _names(cols) -> str:
    return ", ".join(f"“{c}”" for c in cols)


def _plural(cols, word) -> str:
    return f"{'this' if len(cols) == 1 else 'these'} {word}{'' if len(cols) == 1 else 's'}"


def _it(cols) -> str:
    return "it" if len(cols) == 1 else "them"
