"""The privacy review report: one self-contained, printable HTML page.

What it holds (in this order): the source file and its sha256 fingerprint; the eligibility answers (when
the Evaluate step recorded them); each column's role with the detector's evidence and the user's
overrides; the re-identification risk before and after; each recipe step and what it did; the privacy
gate's verdict or the justified exception; the metadata; the reviewer's name and the date.

`build(...)` computes what is missing (detection, risk, the release, the gate) from the source table and
the recipe; `render(...)` only lays out what it is given. No data values are shown, only column names and
figures, so the report can be shared. It never contains credentials.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date as _date
from typing import Any, Mapping

import pandas as pd

from ctopen import settings
from ctopen.rules import ROLE_LABELS

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:1px solid #999;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}.verdict{font-weight:bold;font-size:1.1rem;padding:.5rem;border:2px solid #111}
.muted{color:#444;font-size:.9rem}code{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,tr{break-inside:avoid}a{color:#000}}
"""


@dataclass
class RiskFigures:
    rows: int
    quasi: list[str]
    k_min: int | None
    records_at_risk: int | None
    uniques: int | None
    threshold: int

    @classmethod
    def of(cls, df: pd.DataFrame, quasi: list[str], sensitive: list[str], k: int) -> "RiskFigures":
        quasi = [c for c in quasi if c in df.columns]
        sensitive = [c for c in sensitive if c in df.columns]
        if len(df) == 0:
            return cls(0, quasi, None, 0, 0, k)
        if not quasi:
            return cls(len(df), quasi, len(df), 0, 0, k)
        from ctopen.risk import assess
        d = assess(df, quasi, sensitive=tuple(sensitive), k=k, combinations=False).to_dict()
        return cls(int(d.get("rows", len(df))), quasi, d.get("k_min"), d.get("records_at_risk"), d.get("uniques"), k)


@dataclass
class ReportParts:
    source: dict
    recipe: dict
    roles: list[dict] = field(default_factory=list)    # {column, role, from, evidence, override}
    risk_before: RiskFigures | None = None
    risk_after: RiskFigures | None = None
    steps: list[dict] = field(default_factory=list)    # Applied.log
    suppressed: int = 0
    gate: Any = None                                  # ctopen.publish.gate.GateResult
    reviewer: str = ""
    date: str = ""
    published: dict | None = None                     # {status, dataset_id, url} when known
    formulas: dict = field(default_factory=dict)      # {"cells": {col: n}, "headers": [...], "kept": [...]}
    risk_detected: RiskFigures | None = None          # the uploaded file over the detector's quasi-identifiers,
                                                      # when the reviewer's decisions changed them


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th scope='col'>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plain(value) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def describe_step(step: Mapping) -> str:
    """One line for a recipe step: the recipe's own wording (ctopen.recipe.describe_step), as Transform shows it."""
    from ctopen import recipe as recipes
    return recipes.describe_step(dict(step)).rstrip(".")


def deidentification_summary(recipe: Mapping) -> str:
    """A short sentence for the Data Access Plan's de-identification column."""
    parts = [describe_step(s) for s in recipe.get("steps") or []]
    if recipe.get("exception"):
        parts.append("published with identifiers by a recorded exception")
    return "; ".join(parts) or "none"


def _roles_section(parts: ReportParts) -> str:
    if not parts.roles:
        return "<p>No roles were recorded.</p>"
    rows = [[r["column"], r["role"], r.get("from", ""), "; ".join(r.get("evidence") or []), r.get("override") or ""]
            for r in parts.roles]
    return _table(["Column", "Role", "Decided by", "Evidence", "Override and reason"], rows)


def _risk_section(parts: ReportParts) -> str:
    def fig(r: RiskFigures | None, attr):
        if r is None:
            return "not computed"
        v = getattr(r, attr)
        if attr == "quasi":
            return ", ".join(v) or "none"
        return "n/a" if v is None else f"{v:,}" if isinstance(v, int) else v
    labels = [("rows", "Records"), ("quasi", "Quasi-identifiers"), ("k_min", "Smallest group (k)"),
              ("records_at_risk", "Records in groups smaller than the threshold"),
              ("uniques", "Records unique on the quasi-identifiers")]
    shown = [parts.risk_before, parts.risk_after] + ([parts.risk_detected] if parts.risk_detected else [])
    rows = [[label] + [fig(r, a) for r in shown] for a, label in labels]
    threshold = (parts.risk_after or parts.risk_before).threshold if (parts.risk_after or parts.risk_before) else settings.DEFAULT_K
    head = ["Figure", "Uploaded file", "Release"] + (["Uploaded file, roles as detected"] if parts.risk_detected else [])
    note = (" The last column counts the quasi-identifiers the detector found, before the reviewer's decisions "
            "(section 6 lists them)." if parts.risk_detected else "")
    return (f"<p>Threshold k = {threshold}. A group is the set of records sharing the same values on every "
            f"quasi-identifier; a record in a small group can be picked out by someone who knows those facts.{note}</p>"
            + _table(head, rows))


def _steps_section(parts: ReportParts) -> str:
    steps = parts.recipe.get("steps") or []
    if not steps:
        return "<p>No transformation: the release is the uploaded file as it is.</p>" + _formulas_note(parts)
    rows = []
    for i, step in enumerate(steps):
        did = parts.steps[i] if i < len(parts.steps) else {}
        what = did.get("message") or did.get("what") or _plain({k: v for k, v in did.items() if k not in ("op", "column", "columns")})
        rows.append([i + 1, describe_step(step), what])
    tail = f"<p>Records removed in total: {parts.suppressed:,}.</p>" if parts.suppressed else ""
    return _table(["#", "Step", "What it did"], rows) + tail + _formulas_note(parts)


def _formulas_note(parts: "ReportParts") -> str:
    f = parts.formulas or {}
    lines = []
    if f.get("cells"):
        lines.append("Cells a spreadsheet would run as formulas were published with a leading apostrophe: "
                     + ", ".join(f"{c} ({n:,})" for c, n in f["cells"].items()) + ".")
    if f.get("headers"):
        lines.append("Headers written with a leading apostrophe (they began like a formula): " + ", ".join(f["headers"]) + ".")
    if f.get("kept"):
        lines.append("Kept as they are on purpose (the reviewer's recorded choice, keep_formulas): " + ", ".join(f["kept"]) + ".")
    return "".join(f"<p>{_e(line)}</p>" for line in lines)


def _gate_section(parts: ReportParts) -> str:
    g = parts.gate
    if g is None:
        return "<p>The privacy gate was not run.</p>"
    exc = getattr(g, "exception", None)
    if not g.passed:
        verdict = "BLOCKED: the release may not be published as it is."
    elif exc:
        verdict = "PASSED BY EXCEPTION: the release keeps identifiers for the reason recorded below."
    else:
        verdict = "PASSED: no column counted as a direct identifier is left and every group reaches the threshold."
    out = f"<p class='verdict'>{_e(verdict)}</p><ul>" + "".join(f"<li>{_e(r)}</li>" for r in g.reasons) + "</ul>"
    lowered = lowered_roles(parts.recipe)
    if g.passed and lowered:
        out += ("<p>The verdict relies on these decisions of the reviewer, who gave columns a lower role than "
                "the detector:</p><ul>" + "".join(f"<li>{_e(line)}</li>" for line in lowered) + "</ul>")
    if exc:
        out += ("<h3>Exception</h3>" + _table(["Justification", "Recorded by", "On"],
                                            [[exc.get("justification"), exc.get("by"), exc.get("at", "")]]))
    return out


RANK = {"direct": 3, "quasi": 2, "sensitive": 2, "other": 0}


def lowered_roles(recipe: Mapping) -> list[str]:
    """One line per reviewer decision that made a column count for less than detected (direct -> other, ...),
    the last decision per column, when the recipe still holds that role."""
    roles = recipe.get("roles") or {}
    last = {}
    for d in recipe.get("decisions") or []:
        if isinstance(d, Mapping) and d.get("column"):
            last[d["column"]] = d
    out = []
    for col, d in last.items():
        new, old = d.get("role"), d.get("previous")
        if roles.get(col, new) == new and RANK.get(new, 0) < RANK.get(old, 0):
            label = {r: text.lower() for r, text in ROLE_LABELS.items()}
            out.append(f"{col}: {label.get(old, old)} → {label.get(new, new)}, by {d.get('by') or 'an unnamed reviewer'}"
                       + (f" on {str(d['at'])[:10]}" if d.get("at") else "") + f": {d.get('reason') or 'no reason given'}")
    return out


def open_items(recipe: Mapping, gate=None, columns=()) -> list[str]:
    """What is still to do before a release is handed over: incomplete metadata, unfinished eligibility answers."""
    from ctopen import eligibility, metadata
    out = []
    done = metadata.validate(dict(recipe.get("metadata") or {}), columns=[str(c) for c in columns])
    if not done.complete:
        out.append(f"the metadata is {done.score}% complete (Describe page)")
    verdict = eligibility.verdict(recipe.get("eligibility"), gate)
    if verdict.status != "eligible":
        out.append(f"eligibility: {verdict.headline.rstrip('.')} (Evaluate page)")
    return out


def _eligibility_section(recipe: Mapping, gate=None) -> str:
    answers = recipe.get("eligibility") or {}
    if not answers:
        return "<p>The eligibility questions (Evaluate step) were not answered in this review.</p>"
    from ctopen import eligibility
    text = eligibility.report_section(answers, gate)
    if isinstance(text, str) and text.strip():
        return text
    if isinstance(answers, Mapping):
        rows = [[q, _plain(a)] for q, a in answers.items()]
    else:
        rows = [[i + 1, _plain(a)] for i, a in enumerate(answers)]
    return _table(["Question", "Answer"], rows)


def _metadata_section(recipe: Mapping) -> str:
    md = dict(recipe.get("metadata") or {})
    if not md:
        return "<p>No metadata was entered.</p>"
    cols = md.pop("columns", None) or {}
    out = _table(["Field", "Value"], [[k.replace("_", " ").capitalize(), _plain(v)] for k, v in md.items()])
    if cols:
        out += "<h3>Column descriptions</h3>" + _table(["Column", "Description"], [[c, d] for c, d in cols.items()])
    return out


def render(parts: ReportParts) -> str:
    src = parts.source or {}
    title = (parts.recipe.get("metadata") or {}).get("title") or src.get("file") or "dataset"
    published = ""
    if parts.published:
        p = parts.published
        head, row = ["Status", "Dataset id", "Address"], [p.get("status"), p.get("dataset_id") or "", p.get("url") or ""]
        if p.get("revision_id") or p.get("job"):      # published through a DSMAPI revision: which, and how it ended
            head += ["Revision", "Job"]
            row += [p.get("revision_id") or "", _plain(p.get("job")) if p.get("job") else ""]
        published = "<h2>Publication</h2>" + _table(head, [row])
    source_rows = [["File", src.get("file", "")], ["Format", src.get("format", "")],
                   ["Sheet", src.get("sheet") or "(not a workbook)"], ["SHA-256 fingerprint", src.get("sha256") or "not recorded"]]
    skipped = src.get("skipped") or []
    if skipped:
        source_rows.append(["Skipped when loading", _plain(skipped)])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Privacy review: {_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>Privacy review: {_e(title)}</h1>
<p class="muted">Reviewed by {_e(parts.reviewer or "(no reviewer named)")} on {_e(parts.date)}. Written by ctopen, following the
CT Open Data Handbook: publish privately, review, then make public.</p>
<h2>1. Source file</h2>{_table(["Item", "Value"], source_rows)}
<h2>2. Eligibility</h2>{_eligibility_section(parts.recipe, parts.gate)}
<h2>3. Column roles</h2>
<p>Direct identifiers single a person out by themselves; quasi-identifiers do in combination; sensitive attributes are what must not be disclosed about a person.</p>
{_roles_section(parts)}
<h2>4. Re-identification risk, before and after</h2>{_risk_section(parts)}
<h2>5. Steps applied</h2>{_steps_section(parts)}
<h2>6. Privacy gate</h2>{_gate_section(parts)}
<h2>7. Metadata</h2>{_metadata_section(parts.recipe)}
{published}
<h2>Sign-off</h2>{_table(["Reviewer", "Date"], [[parts.reviewer or "", parts.date]])}
</body></html>
"""


def _when(at) -> str:
    """'2026-11-24T14:45:52+00:00' as '2026-11-24 14:45 UTC' (anything else as it is)."""
    text = str(at)
    if len(text) >= 16 and text[10] == "T" and text.endswith("+00:00"):
        return f"{text[:10]} {text[11:16]} UTC"
    return text


def _roles(review) -> list[dict]:
    """One row per source column: the role the verdict rests on, where it came from, the evidence."""
    found = {c.name: c for c in getattr(review.detection, "columns", None) or []}
    decisions = {d.get("column"): d for d in review.recipe.get("decisions") or []
                 if isinstance(d, Mapping) and d.get("column")}
    out = []
    for col, r in review.role_table.items():
        det = found.get(col)
        override = ""
        given = (review.recipe.get("roles") or {}).get(col)
        if r.origin == "reviewer" and r.detected is not None and r.detected != r.role:
            override = f"set to {r.role} (detected: {r.detected})"
        elif r.note:
            override = f"{given}: refused, {r.note}" if given else r.note
        note = decisions.get(col)
        if isinstance(note, Mapping) and r.origin == "reviewer":
            who = " ".join(x for x in (f"by {note['by']}" if note.get("by") else "",
                                       f"on {_when(note['at'])}" if note.get("at") else "") if x)
            override = (override + "; " if override else "") + (f"{who}: " if who else "") + str(note.get("reason") or "")
        out.append({"column": col, "role": r.role, "from": {"reviewer": "reviewer", "default": "default (not recognised)"}
                    .get(r.origin, r.origin), "evidence": list(getattr(det, "evidence", []) or []), "override": override})
    return out


def from_review(review, *, reviewer: str | None = None, date: str | None = None,
                published: Mapping | None = None) -> str:
    """The report of a ctopen.review.Review: its roles, risk, steps and verdict, nothing computed again."""
    recipe = dict(review.recipe)
    gate = review.gate
    k = gate.threshold
    roles = review.roles
    quasi = [c for c, r in roles.items() if r == "quasi"]
    sensitive = [c for c, r in roles.items() if r == "sensitive"]
    before = RiskFigures.of(review.df, quasi, sensitive, k)
    found = [c.name for c in getattr(review.detection, "columns", None) or [] if c.role == "quasi"]
    as_detected = (RiskFigures.of(review.df, found, [], k) if found and set(found) != set(quasi) and lowered_roles(recipe)
                   else None)
    risk = review.risk
    if gate.counts:   # a count table: its smallest published count, not records
        after = RiskFigures(len(review.release), [], gate.k, None, None, k)
    else:
        q = bool(risk.quasi)
        after = RiskFigures(risk.records, list(risk.quasi), gate.k, risk.records_at_risk if q else 0,
                            risk.uniques if q else 0, k)
    parts = ReportParts(
        source=dict(review.source or recipe.get("source") or {}), recipe=recipe, roles=_roles(review),
        risk_before=before, risk_after=after, steps=list(review.applied.log or []),
        suppressed=int(review.applied.suppressed or 0), gate=gate,
        reviewer=reviewer or recipe.get("reviewer") or "", date=date or _date.today().isoformat(),
        published=dict(published) if published else None, risk_detected=as_detected)
    view = review.portal_view
    parts.formulas = {"cells": dict(view.formulas), "headers": list(view.formula_headers), "kept": list(view.formulas_kept)}
    return render(parts)


def build(df: pd.DataFrame, recipe: Mapping, *, source: Mapping | None = None, detection=None,
          reviewer: str | None = None, date: str | None = None, key: bytes | None = None,
          published: Mapping | None = None) -> str:
    """The report for a source table (as loaded) and its recipe, through a Review."""
    from ctopen.review import Review
    review = Review(df, dict(recipe), source=dict(source) if source else None, detection=detection, key=key)
    return from_review(review, reviewer=reviewer, date=date, published=published)


@dataclass
class Changes:
    """What the release changes against the uploaded file (for the Publish page's preview)."""
    dropped: list[str]
    changed: dict[str, int]          # column -> values changed (generalized, pseudonymized)
    added: list[str]
    rows_before: int
    rows_after: int
    rows_suppressed: int
    cells_suppressed: int            # values turned into "*" or emptied in kept rows
    counts: bool = False             # the release is a count table: rows are cells, suppressed cells are counts

    def to_dict(self) -> dict:
        from dataclasses import asdict
        return asdict(self)

    def lines(self) -> list[str]:
        out = []
        if self.dropped:
            out.append(f"Columns dropped: {', '.join(self.dropped)}.")
        for col, n in self.changed.items():
            out.append(f"{col}: {n:,} values changed.")
        if self.added:
            out.append(f"Columns added: {', '.join(self.added)}.")
        if self.rows_suppressed:
            out.append(f"Records removed: {self.rows_suppressed:,} of {self.rows_before:,}.")
        if self.cells_suppressed:
            out.append(f"Cells suppressed (shown as * or left empty): {self.cells_suppressed:,}.")
        return out or ["Nothing changed: the release is the uploaded file as it is."]


def changes(df: pd.DataFrame, applied) -> Changes:
    """Compare the release (`applied.df`, whose index keeps the source rows' labels) with the source."""
    release = applied.df
    dropped = [c for c in df.columns if c not in release.columns]
    added = [c for c in release.columns if c not in df.columns]
    changed: dict[str, int] = {}
    cells = 0
    common = [c for c in release.columns if c in df.columns]
    same_index = release.index.isin(df.index).all()
    for entry in getattr(applied, "log", None) or []:
        col = entry.get("column")
        if col in common and entry.get("values_changed"):
            changed[col] = changed.get(col, 0) + int(entry["values_changed"])
    if same_index and len(release):
        before = df.loc[release.index, common]
        after = release[common]
        star = after.eq("*").fillna(False) & before.ne("*").fillna(True)
        emptied = after.isna() & before.notna()
        cells = int(star.to_numpy().sum() + emptied.to_numpy().sum())
        for col in common:
            if col not in changed:
                n = int((before[col].astype(object).fillna("\x00") != after[col].astype(object).fillna("\x00")).sum())
                if n:
                    changed[col] = n
    table = next((e for e in getattr(applied, "log", None) or [] if e.get("op") in ("aggregate", "spatial_aggregate")), None)
    if table is not None:   # a count table: its rows are cells; what it hides are the suppressed counts
        return Changes(dropped, {c: n for c, n in changed.items() if c not in table.get("by", [])}, added, len(df),
                       len(release), 0, int(table.get("suppressed", 0)), counts=True)
    removed = int(getattr(applied, "suppressed", 0) or 0) if not hasattr(getattr(applied, "suppressed", 0), "__len__") \
        else len(applied.suppressed)
    return Changes(dropped, changed, added, len(df), len(release), max(removed, len(df) - len(release)), cells)
