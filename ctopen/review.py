"""The review as a whole: where it stands (what is done, what still blocks publication), and its file.

A saved review is a recipe (docs/recipe.md) with one more key, `review` (who saved it, when, with which
ctopen): the file reference (`source`, with the file's SHA-256), roles, decisions, steps, metadata,
eligibility answers, exception and target are all already in the recipe. The data itself is never saved
in a review: re-opening one asks for the same file (checked by its fingerprint).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from ctopen import __version__, recipe as recipes
from ctopen.errors import RecipeError

DONE, TODO, BLOCKED = "done", "todo", "blocked"
WORDS = {DONE: "Done", TODO: "To do", BLOCKED: "Blocks publication"}


@dataclass
class StepState:
    page: str        # url of the page: load, evaluate, identify, risk, transform, describe, publish
    title: str
    state: str       # done | todo | blocked
    text: str        # one short line: "2 direct identifiers remain", "k = 1 (target 5)"

    @property
    def word(self) -> str:
        return WORDS[self.state]


@dataclass
class ReviewStatus:
    steps: list[StepState] = field(default_factory=list)

    @property
    def blockers(self) -> list[StepState]:
        return [s for s in self.steps if s.state == BLOCKED]

    @property
    def next(self) -> StepState | None:
        """The first step that is not done."""
        return next((s for s in self.steps if s.state != DONE), None)

    def to_dict(self) -> dict:
        return {"steps": [asdict(s) for s in self.steps], "blockers": [s.text for s in self.blockers]}


def status(*, loaded: str | None = None, rows: int | None = None, eligibility=None, identified: bool = False,
           gate=None, gate_error: str | None = None, steps: list | None = None, metadata=None,
           published: dict | None = None) -> ReviewStatus:
    """Where the review stands, derived from its parts (each may be None: not reached yet).

    eligibility: ctopen.eligibility.Verdict; gate: ctopen.publish.gate.GateResult on the release table;
    metadata: ctopen.metadata.Validation; published: the last publish result ({"status", "url", ...})."""
    out = ReviewStatus()
    add = lambda page, title, state, text: out.steps.append(StepState(page, title, state, text))  # noqa: E731
    if loaded is None:
        add("load", "Load", TODO, "No file loaded yet")
        return out
    add("load", "Load", DONE, f"{loaded} ({rows:,} rows)" if rows is not None else loaded)

    # the privacy question follows the gate, which Identify and Risk already report: not counted twice here
    own_blockers = [b for b in (eligibility.blockers if eligibility is not None else []) if b.get("key") != "privacy"]
    unanswered = [k for k in (eligibility.unanswered if eligibility is not None else ["?"] * 4) if k != "privacy"]
    if own_blockers:
        add("evaluate", "Evaluate", BLOCKED, f"Not eligible: {own_blockers[0]['question']}")
    elif eligibility is None or unanswered:
        left = len(unanswered)
        add("evaluate", "Evaluate", TODO, f"{left} eligibility question{'s' if left != 1 else ''} unanswered")
    elif eligibility.status == "unsure":
        add("evaluate", "Evaluate", TODO, f"{len(eligibility.unsure)} answer(s) unsure: ask the DAPA team")
    else:
        add("evaluate", "Evaluate", DONE, "Eligible")

    if gate_error:   # the recipe cannot be applied (a missing key, a column gone): Transform says what to do
        add("identify", "Identify", TODO, "Waiting for the recipe to apply (see Transform)")
    elif not identified or gate is None:
        add("identify", "Identify", TODO, "Identifiers not reviewed yet")
    elif gate.direct and not gate.passed:
        n = len(gate.direct)
        add("identify", "Identify", BLOCKED, f"{n} direct identifier{'s' if n != 1 else ''} remain{'s' if n == 1 else ''}")
    elif gate.direct:
        add("identify", "Identify", DONE, f"{len(gate.direct)} identifier(s) kept by a recorded exception")
    else:
        add("identify", "Identify", DONE, "No direct identifier left")

    if identified and gate is not None and not gate_error:
        k = "no rows" if gate.k is None else f"k = {gate.k}"
        if getattr(gate, "counts", False):
            add("risk", "Risk", DONE if gate.passed else BLOCKED,
                f"Counts: cells of 1 to {gate.k - 1} suppressed" if gate.k else "Counts instead of records")
        elif not gate.quasi:
            add("risk", "Risk", DONE, "No quasi-identifier left")
        elif gate.k is not None and gate.k >= gate.threshold:
            add("risk", "Risk", DONE, f"{k} (target {gate.threshold})")
        elif gate.passed:
            add("risk", "Risk", DONE, f"{k} (target {gate.threshold}), by a recorded exception")
        else:
            add("risk", "Risk", BLOCKED, f"{k} (target {gate.threshold})")
    else:
        add("risk", "Risk", TODO, "Risk not measured yet")

    n = sum(1 for st in steps or [] if st.get("op") in recipes.PRIVACY_OPS)   # Describe's format fixes are not privacy
    if gate_error:
        add("transform", "Transform", BLOCKED, gate_error)
    else:
        add("transform", "Transform", DONE if n else TODO,
            f"{n} step{'s' if n != 1 else ''} in the recipe" if n else "No change made yet")

    if metadata is None:
        add("describe", "Describe", TODO, "Metadata not started")
    else:
        done = sum(1 for c in metadata.checklist if c.ok)
        total = len(metadata.checklist)
        add("describe", "Describe", DONE if metadata.complete else TODO, f"Metadata {done}/{total} fields")

    if published:
        add("publish", "Publish", DONE, f"Published: {published.get('status')}")
    elif any(s.state == BLOCKED for s in out.steps):
        add("publish", "Publish", TODO, "Resolve what blocks publication first")
    elif gate is None:
        add("publish", "Publish", TODO, "Review the identifiers and the risk first")
    else:
        add("publish", "Publish", TODO, "Ready to preview and publish")
    return out


# --- the review file ----------------------------------------------------------------------------

def dumps(recipe: dict, reviewer: str | None = None) -> str:
    """The review as a JSON file: the recipe plus who saved it and when."""
    doc = dict(recipe)
    doc["review"] = {"saved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "reviewer": reviewer or "", "ctopen": __version__}
    return recipes.dumps(doc)


def loads(data: bytes | str, name: str = "The review file") -> dict:
    """A saved review (or a plain recipe), validated; RecipeError with one sentence otherwise."""
    doc = recipes.loads(data, name=name)
    for key, kind in (("roles", dict), ("metadata", dict), ("eligibility", dict), ("source", dict), ("target", dict)):
        if key in doc and not isinstance(doc[key], kind):
            raise RecipeError(f"{name} is damaged: its \"{key}\" is not an object.")
    doc.setdefault("roles", {})
    doc.setdefault("metadata", {})
    return doc


def fingerprint(doc: dict) -> str | None:
    return (doc.get("source") or {}).get("sha256") or None


def matches(doc: dict, sha256: str | None) -> bool:
    """Whether a review was made on the file with this fingerprint (a review without one fits any file)."""
    want = fingerprint(doc)
    return want is None or want == sha256


def source_line(doc: dict) -> str:
    src = doc.get("source") or {}
    name = src.get("file") or "an unnamed file"
    sha = fingerprint(doc)
    return f"{name} (fingerprint {sha[:12]}…)" if sha else name


def to_json_safe(doc: dict) -> dict:
    return json.loads(recipes.dumps(doc))
