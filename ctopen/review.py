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

    # the same verdict and the same numbers as the Evaluate page (its headline counts every question)
    from ctopen import eligibility as elig
    if eligibility is None:
        eligibility = elig.verdict(None, gate)
    own_blockers = [b for b in eligibility.blockers if b.get("key") != "privacy"]
    total = len(elig.CHECKLIST)
    if own_blockers:
        add("evaluate", "Evaluate", BLOCKED, f"Not eligible: {own_blockers[0]['question']}")
    elif eligibility.unanswered:
        left = len(eligibility.unanswered)
        add("evaluate", "Evaluate", TODO, f"Not finished: {left} of {total} questions not answered")
    elif eligibility.unsure:
        add("evaluate", "Evaluate", TODO, f"{len(eligibility.unsure)} answer(s) unsure: ask the DAPA team")
    elif eligibility.blockers:   # only the privacy question, which follows the gate (Identify, Risk say why)
        add("evaluate", "Evaluate", TODO, "Waits for the privacy gate (see Identify and Risk)")
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
                f"Counts: every published count is at least {gate.k}" if gate.k else "Counts: no count is published")
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
    what = f"{n} step{'s' if n != 1 else ''} in the recipe" if n else "No change made yet"
    if gate_error:
        add("transform", "Transform", BLOCKED, gate_error)
    elif gate is None:
        add("transform", "Transform", TODO, what)
    elif not gate.privacy_passed:   # Transform is done when the release is protected, not when it has steps
        add("transform", "Transform", TODO, f"{what}; the release is not protected yet"
            + (f" (k = {gate.k}, target {gate.threshold})" if gate.k is not None and gate.k < gate.threshold else ""))
    else:
        add("transform", "Transform", DONE, what if n else "No change needed")

    if metadata is None:
        add("describe", "Describe", TODO, "Metadata not started")
    else:
        # the Describe page's own figure (its checklist is weighted: a count of items would disagree with it)
        add("describe", "Describe", DONE if metadata.complete else TODO, f"Metadata {metadata.score}% complete")

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
    from ctopen.publish.bundle import clean_recipe
    from ctopen.publish.socrata import configured_secrets
    doc = clean_recipe(recipe, configured_secrets())    # no key or secret value leaves in a saved review
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


# --- the Review: one path from a loaded table and a recipe to what is published -----------------

ROLES = ("direct", "quasi", "sensitive", "other")
# A reviewer may raise a column's role freely (other -> anything, sensitive -> quasi, anything -> direct).
# Any other change of what detection found lowers the protection the gate gives it (direct -> anything,
# quasi -> sensitive or other, sensitive -> other) and needs a recorded reason, in the app as in the CLI.
_RAISES = {("other", "quasi"), ("other", "sensitive"), ("other", "direct"), ("sensitive", "quasi"),
           ("sensitive", "direct"), ("quasi", "direct")}
MIN_REASON_WORDS = 3


def lowers(detected: str | None, given: str) -> bool:
    """Whether setting a column detected as `detected` to `given` lowers its protection."""
    return detected is not None and detected != given and (detected, given) not in _RAISES


def recorded_reason(recipe: dict, column: str, role: str) -> dict | None:
    """The reviewer's last recorded decision for `column`, when it set `role` with a written reason."""
    last = None
    for d in recipe.get("decisions") or []:
        if isinstance(d, dict) and d.get("column") == column:
            last = d
    if last is None or last.get("role") != role or not str(last.get("by") or "").strip():
        return None
    return last if reason_problem(last.get("reason")) is None else None


def reason_problem(text) -> str | None:
    """Why a reason for lowering a role is not enough (None when it is): it must say why in words."""
    words = [w for w in str(text or "").split() if any(ch.isalpha() for ch in w)]
    real = {w.lower().strip(".,;:!?()\"'") for w in words if sum(ch.isalpha() for ch in w) >= 3}
    if len(words) < MIN_REASON_WORDS or len(real) < 2:
        return f"Give a reason of at least {MIN_REASON_WORDS} words (saying why): it goes into the review report."
    return None


@dataclass
class Role:
    """A source column's effective role and where it came from."""
    role: str
    origin: str            # reviewer | detection | default | detection:free_text | detection (lowering refused)
    detected: str | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return {"role": self.role, "from": self.origin, "detected": self.detected, **({"note": self.note} if self.note else {})}


def decide_roles(columns, detection, recipe: dict) -> dict[str, Role]:
    """The effective role of every source column: detection on the **source** table, overridden by the
    recipe's `roles` (keyed by source name, or by the name a rename gave it), except where the override
    lowers a detected role without a recorded reason. A column detection says nothing about is a
    quasi-identifier (the careful default); free text detection found nothing in waits for a person."""
    found = {c.name: c for c in getattr(detection, "columns", None) or []}
    back = {new: old for old, new in recipes.renames(recipe).items()}
    given: dict[str, str] = {}
    for col, role in (recipe.get("roles") or {}).items():
        source = col if col in columns else back.get(col)
        if source in columns and role in ROLES:
            given[source] = role
    out: dict[str, Role] = {}
    for col in columns:
        det = found.get(col)
        detected = det.role if det is not None else None
        if col in given:
            role = given[col]
            if lowers(detected, role) and recorded_reason(recipe, col, role) is None:
                out[col] = Role(detected, "detection", detected,
                                f"set to {role} without a recorded reason: the detected role counts")
            else:
                out[col] = Role(role, "reviewer", detected)
        elif det is not None:
            free = getattr(det, "entity", None) == "free_text" and det.role == "other"
            out[col] = Role(det.role, "detection:free_text" if free else "detection", detected)
        else:
            out[col] = Role("quasi", "default", None)
    return out


def release_columns(recipe: dict, source_columns, release_columns) -> dict[str, str | None]:
    """{release column: the source column it holds (None for a column a step made, such as a count)},
    following drops and renames in the order apply() runs the steps."""
    current = {c: c for c in source_columns}
    for step in recipes.in_apply_order(recipe.get("steps") or []):
        op = step.get("op")
        if op == "drop":
            current.pop(step.get("column"), None)
        elif op in ("rename", "format_number") and step.get("to") and step.get("to") != step.get("column"):
            if step.get("column") in current:
                current[step["to"]] = current.pop(step["column"])
        elif op == "aggregate":
            by = step.get("by") or []
            by = [by] if isinstance(by, str) else list(by)
            current = {b: current.get(b) for b in by}
        elif op == "spatial_aggregate":
            from ctopen.geo import area_column
            place = area_column(step)
            # the hexagon is made by the step (no column of the file holds it); a town or county keeps its column
            current = {place: None if step.get("method", "h3") == "h3" else current.get(place),
                       **{b: current.get(b) for b in step.get("by") or []}}
    return {c: current.get(c) for c in release_columns}


def _token(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


class Review:
    """One review: a loaded (source) table and its recipe, and everything derived from them, each computed
    once and recomputed only when what it depends on changes:

    roles        effective roles of the source columns (detection on the source + recorded decisions)
    applied      the recipe applied (ctopen.transform.Applied); `release` is its table
    release_roles roles of the release's columns (they follow renames; an anonymous ID is not direct)
    risk         ctopen.risk.RiskReport over the release with those roles
    gate         ctopen.publish.gate.GateResult: the verdict
    portal_view  exactly what would be sent: rows, column names, field names, portal types, metadata
    status(...)  the checklist the sidebar shows
    report(...)  the HTML review report

    The recipe may be changed in place between reads (the app does): every read compares the parts of the
    recipe it depends on. Errors a user can fix (a recipe that cannot be applied) are CtopenErrors."""

    def __init__(self, df, recipe: dict, *, source: dict | None = None, detection=None, detector=None,
                 key: bytes | None = None):
        self.df = df
        self.recipe = recipe
        self.source = dict(source or recipe.get("source") or {})
        self.key = key
        self._detection = detection
        self._detector = detector
        self._cache: dict[str, tuple[str, object]] = {}

    # -- caching ---------------------------------------------------------------------------------
    def _memo(self, name: str, token: str, build):
        hit = self._cache.get(name)
        if hit is not None and hit[0] == token:
            return hit[1]
        value = build()
        self._cache[name] = (token, value)
        return value

    def _key_token(self):
        import hashlib
        return hashlib.sha256(self.key).hexdigest() if self.key else None

    # -- the parts -------------------------------------------------------------------------------
    @property
    def detection(self):
        if self._detection is None:
            if self._detector is not None:
                self._detection = self._detector(self.df)
            else:
                from ctopen.detect import detect
                self._detection = detect(self.df)
        return self._detection

    def _roles_token(self) -> str:
        r = self.recipe
        return _token(r.get("roles"), r.get("decisions"), recipes.renames(r))

    @property
    def role_table(self) -> dict[str, Role]:
        return self._memo("roles", self._roles_token(),
                          lambda: decide_roles(list(self.df.columns), self.detection, self.recipe))

    @property
    def roles(self) -> dict[str, str]:
        """{source column: effective role}."""
        return {c: r.role for c, r in self.role_table.items()}

    def _needs_roles(self) -> bool:
        """Whether applying the steps reads the roles (a suppress step without its own columns)."""
        return any(isinstance(s, dict) and s.get("op") == "suppress" and s.get("columns") is None
                   for s in self.recipe.get("steps") or [])

    def _applied_token(self) -> str:
        return _token(self.recipe.get("steps"), self._roles_token() if self._needs_roles() else None,
                      self._key_token())

    @property
    def applied(self):
        def build():
            from ctopen.transform import apply
            # a suppress step without columns works over the effective quasi-identifiers (not only those the
            # recipe names), so the release is the one the gate judges
            recipe = {**self.recipe, "roles": self.roles} if self._needs_roles() else self.recipe
            return apply(self.df, recipe, key=self.key)
        return self._memo("applied", self._applied_token(), build)

    @property
    def release(self):
        return self.applied.df

    @property
    def lineage(self) -> dict[str, str | None]:
        return self._memo("lineage", _token(self._applied_token()),
                          lambda: release_columns(self.recipe, list(self.df.columns), list(self.release.columns)))

    @property
    def release_role_table(self) -> dict[str, Role]:
        def build():
            table = self.role_table
            anonymous = {s.get("column") for s in self.recipe.get("steps") or [] if s.get("op") == "pseudonymize"}
            out = {}
            counts = recipes.count_step(self.recipe.get("steps")) is not None
            coarsened = self._spatial_k_columns()
            for col, src in self.lineage.items():
                if src is None and counts:
                    out[col] = Role("other", "made by the recipe (a count or a measure)")
                elif src is None:      # fail closed: a column no step accounts for counts as a quasi-identifier
                    out[col] = Role("quasi", "default", None, "not traced to a column of the file")
                elif src in anonymous and table[src].role == "direct" and table[src].detected in ("direct", "other", None):
                    out[col] = Role("other", "anonymous ID", table[src].detected, f"replaced {src} by keyed IDs")
                elif src in anonymous and table[src].role == "direct":
                    # raised to direct by the reviewer, then pseudonymized: keyed IDs keep every group exactly, so
                    # it still counts as what detection found (a quasi-identifier stays one)
                    out[col] = Role(table[src].detected, "detection", table[src].detected,
                                    f"pseudonymized {src} keeps its groups: counted as detected")
                elif src in coarsened and table[src].role == "direct" and table[src].origin != "reviewer":
                    # household points (detected direct) coarsened until every point is shared by k records: they
                    # no longer place one household; they stay a quasi-identifier, measured with the others
                    out[col] = Role("quasi", "coarsened points", table[src].detected,
                                    f"spatial_k: every point of {src} is shared by at least {coarsened[src]} records")
                else:
                    r = table[src]
                    out[col] = Role(r.role, r.origin, r.detected,
                                    (f"from {src}" if src != col else "") + (f"; {r.note}" if r.note else ""))
            return out
        return self._memo("release_roles", _token(self._applied_token(), self._roles_token(), self.threshold), build)

    def _spatial_k_columns(self) -> dict[str, int]:
        """{source column: k} for the coordinate columns a spatial_k step protects at the review's threshold or
        above (a lower k does not make a household's point safe) and publishes at fewer than
        rules.HOME_POINT_DECIMALS decimals: k counts records, and a point at about 100 m or finer shared by k
        records may be one household's k records (five claims of one member), still its home."""
        steps = [s for s in self.recipe.get("steps") or [] if isinstance(s, dict) and s.get("op") == "spatial_k"]
        if not steps:
            return {}
        from ctopen import rules
        found = {c.name: getattr(c, "entity", None) for c in getattr(self.detection, "columns", None) or []}
        logs = [e for e in self.applied.log if e.get("op") == "spatial_k"]
        out = {}
        for step, entry in zip(steps, logs):
            k = step.get("k", 5)
            fine = entry.get("decimals_out")
            if isinstance(k, int) and k >= self.threshold and (fine is None or fine < rules.HOME_POINT_DECIMALS):
                for col in (step.get("lat"), step.get("lon"), step.get("point")):
                    if isinstance(col, str) and found.get(col) == "coordinates":
                        out[col] = k
        return out

    @property
    def release_roles(self) -> dict[str, str]:
        return {c: r.role for c, r in self.release_role_table.items()}

    @property
    def threshold(self) -> int:
        from ctopen.publish.gate import threshold_of
        return threshold_of(self.recipe)

    def _gate_token(self) -> str:
        r = self.recipe
        return _token(self._applied_token(), self._roles_token(), r.get("exception"), r.get("k"),
                      (r.get("target") or {}).get("k"), r.get("l"), r.get("eligibility"), r.get("population"))

    @property
    def risk(self):
        def build():
            from ctopen.risk import assess
            roles = self.release_roles
            quasi = [c for c, r in roles.items() if r == "quasi"]
            sensitive = [c for c, r in roles.items() if r == "sensitive"]
            # the verdict needs the classes, k and l, not every combination of columns (the Risk page asks for
            # those on the analyst's own choice): combinations=False keeps a change live on a wide file
            return assess(self.release, quasi, sensitive=sensitive, k=self.threshold,
                          suppressed=self.applied.suppressed, combinations=False)
        return self._memo("risk", _token(self._applied_token(), self._roles_token(), self.threshold), build)

    @property
    def gate(self):
        def build():
            from ctopen.publish.gate import judge
            return judge(self)
        return self._memo("gate", self._gate_token(), build)

    @property
    def portal_view(self):
        def build():
            from ctopen.publish.socrata import portal_view
            return portal_view(self.release, self.recipe)
        return self._memo("portal_view", _token(self._applied_token(), self.recipe.get("metadata"),
                                                self.recipe.get("keep_formulas")), build)

    def status(self, *, identified: bool = True, published: dict | None = None) -> ReviewStatus:
        """The sidebar's checklist. `identified`: whether roles were reviewed (the app waits for Identify
        before it runs detection; the CLI always has them)."""
        from ctopen import eligibility, metadata
        from ctopen.errors import CtopenError
        gate = gate_error = None
        if identified:
            try:
                gate = self.gate
            except CtopenError as exc:
                gate_error = str(exc)
        columns = list(self.release.columns) if gate is not None else list(self.df.columns)
        return status(
            loaded=self.source.get("file") or "the file", rows=len(self.df),
            eligibility=eligibility.verdict(self.recipe.get("eligibility"), gate), identified=identified, gate=gate,
            gate_error=gate_error, steps=self.recipe.get("steps"),
            metadata=metadata.validate(self.recipe.get("metadata"), columns) if self.recipe.get("metadata") else None,
            published=published)

    def report(self, *, reviewer: str | None = None, date: str | None = None, published: dict | None = None) -> str:
        def build():
            from ctopen.publish.socrata import configured_secrets, scrub
            from ctopen.report import from_review
            return scrub(from_review(self, reviewer=reviewer, date=date, published=published), configured_secrets())
        return self._memo("report", _token(self._gate_token(), self._roles_token(), self.recipe, reviewer, date,
                                           published), build)

    def saved_recipe(self) -> dict:
        """The recipe as it is saved or handed over (a saved review, the bundle's recipe.json): it carries the
        roles the verdict rested on (every source column's effective role), so next month's run starts from
        them; decisions, steps and the rest as they are."""
        return {**self.recipe, "roles": dict(self.roles)}

    def roles_json(self) -> dict:
        """What the verdict rests on: each source column's role and where it came from."""
        return {c: r.to_dict() for c, r in self.role_table.items()}
