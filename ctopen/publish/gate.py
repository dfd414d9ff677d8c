"""The privacy gate: may this release table be published?

It passes when no direct identifier is left in the release table and k (the smallest group over the
quasi-identifiers left) is at or above the threshold — or when the user recorded a written exception
(recipe["exception"] = {"justification", "by", "at"}), as for the State Licenses and Credentials register.
The verdict always lists its reasons, also when an exception lets the release through.

Roles come from the recipe's `roles` (the user's decisions) where it gives them, else from detection run
on the release table itself. A column replaced by an anonymous ID (a `pseudonymize` step) no longer holds
the identifier's values: it is not counted as a direct identifier.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ctopen import settings

MIN_JUSTIFICATION_WORDS = 5
MIN_K = 2   # a threshold of 1 would let every table pass: the gate never accepts less than 2
ROLES = ("direct", "quasi", "sensitive", "other")


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    k: int | None = None              # smallest group size over the quasi-identifiers left (None: no rows)
    threshold: int = settings.DEFAULT_K
    direct: list[str] = field(default_factory=list)    # direct identifiers left in the release
    quasi: list[str] = field(default_factory=list)     # quasi-identifiers left
    sensitive: list[str] = field(default_factory=list)
    exception: dict | None = None     # the accepted written exception, when it is what lets the release through
    roles_from: dict = field(default_factory=dict)     # column -> "recipe" | "detection"
    counts: bool = False              # the release is a count table (an aggregate step), protected by suppression
    eligibility: list[str] = field(default_factory=list)   # "no" answers of the Evaluate checklist that block
    privacy_passed: bool | None = None                      # the verdict on privacy alone

    def summary(self) -> dict:
        """The two keys the CLI prints: {"passed", "reasons"}."""
        return {"passed": self.passed, "reasons": list(self.reasons)}

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_of(recipe: dict) -> int:
    for value in (recipe.get("k"), (recipe.get("target") or {}).get("k")):
        if value not in (None, ""):
            try:
                return max(MIN_K, int(value))
            except (TypeError, ValueError):
                pass
    return settings.DEFAULT_K


def exception_problem(exc) -> str | None:
    """Why a written exception cannot be accepted, or None when it can."""
    if not exc:
        return "no exception was recorded"
    if not isinstance(exc, dict):
        return "the exception is not a justification with a name and date"
    words = str(exc.get("justification") or "").split()
    if len(words) < MIN_JUSTIFICATION_WORDS:
        return f"the exception's justification must say why in at least {MIN_JUSTIFICATION_WORDS} words"
    if not str(exc.get("by") or "").strip():
        return "the exception does not say who made it"
    return None


def record_exception(recipe: dict, justification: str, by: str, at: str | None = None,
                     verdict: "GateResult | None" = None) -> str | None:
    """Record a written exception in the recipe (with today's date), or return why it cannot be accepted.

    Given the gate's current verdict, the exception records what it covers (the direct identifiers and
    quasi-identifiers of this release, and its smallest group): next month's file with a new identifier,
    a new quasi-identifier or smaller groups is not let through by it."""
    from datetime import date

    exc = {"justification": " ".join(str(justification or "").split()), "by": str(by or "").strip(),
           "at": at or date.today().isoformat()}
    if verdict is not None:
        exc["covers"] = {"direct": list(verdict.direct), "quasi": list(verdict.quasi), "k": verdict.k}
    problem = exception_problem(exc)
    if problem is None:
        recipe["exception"] = exc
    return problem


def pseudonymized(recipe: dict) -> set[str]:
    from ctopen.recipe import renames
    renamed = renames(recipe)
    return {renamed.get(s.get("column"), s.get("column")) for s in recipe.get("steps") or [] if s.get("op") == "pseudonymize"}


def release_roles(df: pd.DataFrame, recipe: dict, detection=None) -> tuple[dict[str, str], dict[str, str]]:
    """(roles, where each came from) for the release table's columns."""
    from ctopen.recipe import renames
    renamed = renames(recipe)   # a fix step may have renamed a column: its role follows it
    given = {renamed.get(c, c): r for c, r in (recipe.get("roles") or {}).items()
             if renamed.get(c, c) in df.columns and r in ROLES}   # an unknown role counts as not given
    roles = dict(given)
    source = {c: "recipe" for c in given}
    missing = [c for c in df.columns if c not in given]
    if missing:
        if detection is None:
            from ctopen.detect import detect
            detection = detect(df[missing])
        for col in detection.columns:
            name = renamed.get(col.name, col.name)
            if name in missing:
                roles[name] = col.role
                # free text the detector found nothing in: without a language model names inside text can be
                # missed, so a person must look at it (set its role) before it is published
                source[name] = "detection:free_text" if getattr(col, "entity", None) == "free_text" and col.role == "other" else "detection"
        for col in missing:   # detection said nothing: count it as a quasi-identifier, the careful default
            if col not in roles:
                roles[col] = "quasi"
                source[col] = "default"
    return roles, source


def smallest_group(df: pd.DataFrame, quasi: list[str], sensitive: list[str], k: int) -> int | None:
    if len(df) == 0:
        return None
    if not quasi:
        return len(df)
    try:
        from ctopen.risk import assess
    except ModuleNotFoundError:
        assess = None
    if assess is not None:
        report = assess(df, quasi, sensitive=tuple(sensitive), k=k, combinations=False)
        return int(report.k_min)
    # a missing value is a value of its own (ARX)
    return int(df[quasi].astype(object).fillna("\x00<missing>").groupby(quasi, dropna=False).size().min())


def evaluate(df: pd.DataFrame, recipe: dict, detection=None, k: int | None = None) -> GateResult:
    """The gate's verdict on a release table (the recipe already applied), and on the eligibility answers:
    a "no" on the Evaluate checklist blocks publication whatever the privacy figures (no exception lifts it)."""
    verdict = _privacy(df, recipe, detection, k)
    verdict.privacy_passed = verdict.passed
    from ctopen.eligibility import user_blockers
    blockers = user_blockers(recipe.get("eligibility"))
    verdict.eligibility = blockers
    if blockers:
        verdict.passed = False
        verdict.reasons = blockers + verdict.reasons
    return verdict


def _privacy(df: pd.DataFrame, recipe: dict, detection=None, k: int | None = None) -> GateResult:
    """The privacy part of the gate."""
    threshold = k if k is not None else threshold_of(recipe)
    roles, source = release_roles(df, recipe, detection)
    anonymous_ids = pseudonymized(recipe)
    direct = [c for c in df.columns if roles.get(c) == "direct" and c not in anonymous_ids]
    counts = next((st for st in recipe.get("steps") or [] if st.get("op") == "aggregate"), None)
    if counts is not None:
        return _count_table_verdict(counts, direct, threshold, source, recipe)
    quasi = [c for c in df.columns if roles.get(c) == "quasi"]
    sensitive = [c for c in df.columns if roles.get(c) == "sensitive"]
    kmin = smallest_group(df, quasi, sensitive, threshold)

    problems: list[str] = []
    if direct:
        problems.append(f"Direct identifiers are still in the release: {', '.join(direct)} "
                        "(drop them, replace them with an anonymous ID, or record why they must be published).")
    unread = [c for c in df.columns if source.get(c) == "detection:free_text"]
    if unread:
        problems.append(f"Free text not reviewed: {', '.join(unread)}. Names inside text can be missed by the "
                        "detector; read a sample and set the column's role on Identify (or remove the column).")
    if kmin is not None and kmin < threshold:
        problems.append(f"Over the quasi-identifiers left ({', '.join(quasi)}), the smallest group has "
                        f"{kmin} record{'s' if kmin != 1 else ''}, below the threshold k = {threshold}: "
                        "generalize or suppress until every group has at least that many.")
    notes: list[str] = []
    if not problems:
        notes.append("No direct identifier is left in the release.")
        if kmin is None:
            notes.append("The release has no rows.")
        elif quasi:
            notes.append(f"Every group over the quasi-identifiers left ({', '.join(quasi)}) has at least "
                         f"{kmin} records (threshold k = {threshold}).")
        else:
            notes.append("No quasi-identifier is left in the release.")
        if anonymous_ids & set(df.columns):
            notes.append(f"Replaced by anonymous IDs: {', '.join(sorted(anonymous_ids & set(df.columns)))}.")
        return GateResult(True, notes, kmin, threshold, direct, quasi, sensitive, None, source)

    return _exception_or_block(problems, recipe, kmin, threshold, direct, quasi, sensitive, source)


def exception_scope_problem(exc: dict, recipe: dict, direct: list[str], quasi: list[str], kmin) -> str | None:
    """Why an exception does not cover this release: it covers the identifiers it was recorded for (its
    "covers", or else the columns the recipe's roles name), not columns or smaller groups that came later."""
    covers = exc.get("covers")
    if isinstance(covers, dict):
        known_direct, known_quasi, k_then = set(covers.get("direct") or []), set(covers.get("quasi") or []), covers.get("k")
    else:   # a hand-written exception covers the direct identifiers its roles name (and any quasi-identifier)
        known_direct = {c for c, r in (recipe.get("roles") or {}).items() if r == "direct"}
        known_quasi, k_then = set(quasi), None
    new_direct = [c for c in direct if c not in known_direct]
    new_quasi = [c for c in quasi if c not in known_quasi and c not in known_direct]
    if new_direct or new_quasi:
        return ("it was recorded for other columns; it does not cover " + ", ".join(new_direct + new_quasi)
                + " (review them and record the exception again)")
    if isinstance(k_then, int) and kmin is not None and kmin < k_then:
        return (f"it was recorded when the smallest group had {k_then} records; now it has {kmin} "
                "(review the release and record the exception again)")
    return None


def _exception_or_block(problems, recipe, kmin, threshold, direct, quasi, sensitive, source) -> GateResult:
    exc = recipe.get("exception")
    problem = exception_problem(exc)
    if problem is None:
        problem = exception_scope_problem(exc, recipe, direct, quasi, kmin)
    if problem is None:
        reasons = problems + [f"Published by exception, recorded by {exc.get('by')}"
                              + (f" on {exc.get('at')}" if exc.get("at") else "")
                              + f": {' '.join(str(exc.get('justification')).split())}"]
        return GateResult(True, reasons, kmin, threshold, direct, quasi, sensitive, dict(exc), source)
    if exc:
        problems.append(f"The recorded exception cannot be accepted: {problem}.")
    return GateResult(False, problems, kmin, threshold, direct, quasi, sensitive, None, source)


def _count_table_verdict(step: dict, direct: list[str], threshold: int, source: dict, recipe: dict) -> GateResult:
    """A release of counts (an aggregate step): it passes when no identifier is a dimension and counts small
    enough to single someone out are suppressed (with complementary suppression, CT Open Data Handbook)."""
    small = int(step.get("threshold", 5))
    by = step.get("by") or []
    by = [by] if isinstance(by, str) else list(by)
    problems: list[str] = []
    if direct:
        problems.append(f"Direct identifiers are columns of the count table: {', '.join(direct)} "
                        "(count by coarser dimensions instead).")
    if small + 1 < threshold:
        problems.append(f"Counts of {small + 1} to {threshold - 1} would be published: suppress counts up to at least "
                        f"{threshold - 1} (the state's rule suppresses 1 to 5).")
    if not problems:
        return GateResult(True, [f"The release is a count table by {', '.join(map(str, by))}: counts of 1 to {small} "
                                 "are suppressed, with complementary suppression so that none can be worked out "
                                 "from the totals (the CT Open Data Handbook's rules)."],
                          small + 1, threshold, [], [], [], None, source, counts=True)
    verdict = _exception_or_block(problems, recipe, small + 1, threshold, direct, [], [], source)
    verdict.counts = True
    return verdict
