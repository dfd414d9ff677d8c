"""Step 2 of the guidance: may this data be published at all, and should it come first?

The checklist, the priority signals and the equity questions are data (``CHECKLIST``, ``PRIORITY``,
``EQUITY``), worded after the CT Open Data Handbook, "1. Identify data to publish". The answers live in
the review's recipe, ``recipe["eligibility"]``::

    {
      "checklist": {"owned": {"answer": "yes" | "no" | "unsure" | null, "note": "..."},
                    "no_fee": {...}, "unrestricted": {...}, "updates": {...},
                    "privacy": {"answer": ..., "note": "...", "auto": true, "evidence": "..."}},
      "priority": {"foi": true, "shared": false, "grants": false, "analysis": false,
                   "requested": false, "high_impact": false},
      "priority_note": "...",
      "equity": {"harm": {"answer": ..., "note": "..."}, "disparate": {...}}
    }

"auto" marks the privacy answer filled from the privacy gate, and "evidence" is the gate's reason for it;
the user's own "note" is kept beside it. Answering by hand ends "auto".

``verdict(answers, gate)``: any "no" blocks publication with its reason; an "unsure" sends the user to
the Data and Policy Analytics team (``settings.DAPA_CONTACT``). The privacy item follows the privacy gate
(``ctopen.publish.gate.evaluate``) when one is given: a failing gate always blocks, whatever was answered
by hand; an answer can be stricter than the gate, never looser.
"""
from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from ctopen import settings
from ctopen.errors import RecipeError

ANSWERS = ("yes", "no", "unsure")
ANSWER_LABELS = {"yes": "Yes", "no": "No", "unsure": "Not sure", None: "Not answered"}


@dataclass(frozen=True)
class Question:
    key: str
    text: str          # asked so that "yes" is the answer that allows publication (checklist)
    help: str = ""
    if_no: str = ""    # the reason publication is blocked when the answer is "no"
    short: str = ""    # a few words naming the question (labels of its note field)


CHECKLIST = [
    Question("owned", "Does the data belong to your agency?",
             "If several departments or agencies contribute to it, decide case by case with each of them "
             "before publishing, and say so in the note.",
             "The data does not belong to the agency: only the agency that owns data publishes it.", "ownership"),
    Question("no_fee", "Can the data be given out with no fee for access, use or adaptation?",
             "Open data is free to get, use and adapt. Data sold or licensed for a fee is not open data.",
             "Access, use or adaptation of the data carries a fee: fee-bearing data is not published as open data.", "fees"),
    Question("unrestricted", "Is the data free from legal, contract or policy restrictions?",
             "Statutes, data-sharing agreements, vendor contracts and agency policy can forbid release; "
             "ask your agency's legal counsel when in doubt.",
             "A legal, contract or policy restriction forbids releasing the data.", "restrictions"),
    Question("updates", "Is there a plan for predictable or regular updates?",
             "Name how often and who updates it. A saved recipe re-applied to each new file "
             "(python -m ctopen apply) makes every update the same.",
             "There is no plan to keep the data updated: publish once a predictable update plan exists.", "updates"),
    Question("privacy", "Can the data be published without violating the privacy of individuals in it?",
             "Answered from the Identify and Risk steps once they have run (the privacy gate); "
             "until then answer it yourself.",
             "Publishing the data as it stands would violate the privacy of individuals in it.", "privacy"),
]
PRIORITY = [
    Question("foi", "Subject to freedom-of-information, right-to-know or public-records requests"),
    Question("shared", "Shared with other agencies for operational purposes"),
    Question("grants", "Used for reports on federal, state or nonprofit grants"),
    Question("analysis", "Used by the agency for trend, statistical or performance analysis"),
    Question("requested", "Frequently requested by the public or other government agencies"),
    Question("high_impact", "High impact and high value, and not yet public in a machine-readable format"),
]
EQUITY = [
    Question("harm", "Could publishing the data have a negative impact on the people represented in it?",
             "Consider the perspectives of the individuals and communities in the data, and the social, "
             "economic and racial context.", short="harm to the people in the data"),
    Question("disparate", "Could publishing it have a disparate impact on certain groups?",
             "For example a group that is small in some towns, or one the data already portrays unevenly.",
             short="disparate impact"),
]
_BY_KEY = {q.key: q for q in CHECKLIST + PRIORITY + EQUITY}


def empty() -> dict:
    return {"checklist": {q.key: {"answer": None, "note": ""} for q in CHECKLIST},
            "priority": {q.key: False for q in PRIORITY}, "priority_note": "",
            "equity": {q.key: {"answer": None, "note": ""} for q in EQUITY}}


def _answer(value, where: str):
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text in ANSWERS:
        return text
    raise RecipeError(f"The eligibility answer to {where!r} is {value!r}; it must be yes, no or unsure.")


def normalize(data: Mapping | None) -> dict:
    """The answers in their full shape (every question present). Unknown keys are dropped; an answer
    other than yes/no/unsure/empty is a RecipeError (a hand-edited recipe)."""
    out = empty()
    data = data or {}
    if not isinstance(data, Mapping):
        raise RecipeError("The recipe's \"eligibility\" must be an object of answers.")
    for group in ("checklist", "equity"):
        given = data.get(group) or {}
        for q in (CHECKLIST if group == "checklist" else EQUITY):
            item = given.get(q.key)
            if item is None:
                continue
            if not isinstance(item, Mapping):
                item = {"answer": item}
            out[group][q.key] = {"answer": _answer(item.get("answer"), q.text),
                                 "note": str(item.get("note") or "").strip()}
            if item.get("auto"):
                out[group][q.key]["auto"] = True
                out[group][q.key]["evidence"] = str(item.get("evidence") or "").strip()
    for q in PRIORITY:
        out["priority"][q.key] = bool((data.get("priority") or {}).get(q.key))
    out["priority_note"] = str(data.get("priority_note") or "").strip()
    return out


# --- the privacy item, from the privacy gate ------------------------------------------------------

def _gate_dict(gate) -> dict | None:
    if gate is None:
        return None
    if hasattr(gate, "to_dict"):
        gate = gate.to_dict()
    if not isinstance(gate, Mapping) or "passed" not in gate:
        return None
    gate = dict(gate)
    if gate.get("eligibility"):   # the gate also carries this checklist's own "no": judge privacy on its own
        gate["passed"] = bool(gate.get("privacy_passed"))
        gate["reasons"] = [r for r in gate.get("reasons") or [] if r not in gate["eligibility"]]
    return gate


def privacy_suggestion(gate) -> dict | None:
    """The privacy answer the gate gives ({"answer", "note"}), or None when there is no gate result.
    ``gate``: a ``GateResult`` or its ``to_dict()`` ({"passed", "reasons", "exception", ...})."""
    g = _gate_dict(gate)
    if g is None:
        return None
    reasons = " ".join(str(r) for r in g.get("reasons") or [])
    if not g["passed"]:
        return {"answer": "no", "note": f"The privacy gate does not pass: {reasons}"}
    if g.get("exception"):
        return {"answer": "yes", "note": f"Identifiers are published on purpose, by a recorded exception. {reasons}"}
    return {"answer": "yes", "note": f"The privacy gate passes. {reasons}"}


def with_privacy(data: Mapping | None, gate) -> dict:
    """The answers with the privacy item filled from the gate — unless the user answered it by hand."""
    out = normalize(data)
    suggestion = privacy_suggestion(gate)
    item = out["checklist"]["privacy"]
    if suggestion is not None and (item["answer"] is None or item.get("auto")):
        out["checklist"]["privacy"] = {"answer": suggestion["answer"], "note": item["note"], "auto": True,
                                       "evidence": suggestion["note"]}
    return out


def update(data: Mapping | None, group: str, key: str, answer=None, note: str | None = None) -> dict:
    """The answers with one item set (as a page does when a widget changes). An item filled from the gate
    stays automatic while its answer is left as it was (a note can be added)."""
    out = normalize(data)
    if group not in ("checklist", "equity") or key not in out[group]:
        raise RecipeError(f"There is no eligibility question {group}/{key}.")
    old = out[group][key]
    new = {"answer": _answer(answer, _BY_KEY[key].text), "note": str(note if note is not None else old["note"]).strip()}
    if old.get("auto") and new["answer"] == old["answer"]:
        new["auto"] = True
        new["evidence"] = old.get("evidence", "")
    out[group][key] = new
    return out


# --- the verdict ----------------------------------------------------------------------------------

@dataclass
class Verdict:
    status: str                  # "blocked" | "unsure" | "incomplete" | "eligible"
    headline: str                # one plain sentence, starting with the status in words
    blockers: list[dict] = field(default_factory=list)     # {key, question, reason, note}
    unsure: list[dict] = field(default_factory=list)       # {key, question, note}
    unanswered: list[str] = field(default_factory=list)    # checklist keys
    attention: list[str] = field(default_factory=list)     # equity concerns, exceptions
    priority: list[str] = field(default_factory=list)      # the priority signals that apply
    contact: str | None = None                             # who to ask when something is unsure

    @property
    def blocks_publication(self) -> bool:
        return self.status == "blocked"

    @property
    def eligible(self) -> bool:
        return self.status == "eligible"

    def to_dict(self) -> dict:
        return {**asdict(self), "blocks_publication": self.blocks_publication}


def verdict(answers: Mapping | None, gate=None) -> Verdict:
    """Any "no" blocks publication, with its reason; a failing privacy gate blocks whatever was answered;
    "unsure" points to the Data and Policy Analytics team; unanswered questions leave it incomplete."""
    data = with_privacy(answers, gate)
    g = _gate_dict(gate)
    blockers, unsure, unanswered, attention = [], [], [], []
    for q in CHECKLIST:
        item = data["checklist"][q.key]
        a, note = item["answer"], item["note"]
        if q.key == "privacy" and g is not None and not g["passed"] and a != "no":
            blockers.append({"key": q.key, "question": q.text, "note": note,
                             "reason": "The privacy gate does not pass (your answer cannot override it): "
                                       + " ".join(g.get("reasons") or [])})
        elif a == "no":
            reason = item.get("evidence") if item.get("auto") and item.get("evidence") else q.if_no
            blockers.append({"key": q.key, "question": q.text, "reason": reason, "note": note})
        elif a == "unsure":
            unsure.append({"key": q.key, "question": q.text, "note": note})
        elif a is None:
            unanswered.append(q.key)
    if g is not None and g.get("passed") and g.get("exception"):
        exc = g["exception"]
        attention.append(f"Identifiers are published by a recorded exception ({exc.get('by', 'unknown')}): "
                         f"{' '.join(str(exc.get('justification', '')).split())}")
    for q in EQUITY:
        item = data["equity"][q.key]
        if item["answer"] in ("yes", "unsure"):
            word = "may" if item["answer"] == "unsure" else "could"
            note = f" Note: {item['note']}" if item["note"] else " Say in the note how this is handled."
            attention.append(f"Equity: publication {word} harm the people in the data ({q.text}).{note}")
    priority = [q.text for q in PRIORITY if data["priority"][q.key]]

    if blockers:
        status = "blocked"
        headline = (f"Blocked: this data may not be published. {blockers[0]['reason']}"
                    + (f" ({len(blockers) - 1} more reason{'s' if len(blockers) > 2 else ''} below.)" if len(blockers) > 1 else ""))
    elif unsure:
        status = "unsure"
        headline = (f"Not settled: {len(unsure)} answer{'s are' if len(unsure) > 1 else ' is'} \"not sure\". "
                    f"Ask {settings.DAPA_CONTACT} before publishing.")
    elif unanswered:
        status = "incomplete"
        headline = f"Not finished: {len(unanswered)} of {len(CHECKLIST)} questions are not answered yet."
    else:
        status = "eligible"
        headline = "Eligible: the data meets every condition for publication as open data."
    return Verdict(status, headline, blockers, unsure, unanswered, attention, priority,
                   settings.DAPA_CONTACT if unsure else None)


# --- the report -------------------------------------------------------------------------------------

def user_blockers(answers: Mapping | None) -> list[str]:
    """The reasons an answered "no" blocks publication, from the user's own answers only (a privacy answer
    that merely followed the gate is left to the gate, which is recomputed on the release)."""
    data = normalize(answers)
    out = []
    for q in CHECKLIST:
        item = data["checklist"][q.key]
        # "auto" is honoured only on the privacy question (it follows the gate); on any other question a "no" blocks
        if item["answer"] == "no" and not (item.get("auto") and q.key == "privacy"):
            out.append(f"Not eligible: {q.text} was answered no ({item['note'] or q.if_no}).")
    return out


def _e(text) -> str:
    return html.escape(str(text if text is not None else ""))


def report_section(answers: Mapping | None, gate=None) -> str:
    """The eligibility part of the privacy review report (an HTML fragment; headings from h3 down)."""
    data = with_privacy(answers, gate)
    v = verdict(data, gate)
    parts = [f'<div class="eligibility eligibility-{v.status}">',
             f"<p><strong>Verdict: {_e(v.headline)}</strong></p>"]
    if v.blockers:
        parts.append("<p>Reasons publication is blocked:</p><ul>"
                     + "".join(f"<li>{_e(b['reason'])}" + (f" Note: {_e(b['note'])}" if b["note"] else "") + "</li>"
                               for b in v.blockers) + "</ul>")
    rows = []
    for q in CHECKLIST:
        item = data["checklist"][q.key]
        how = " (from the privacy gate)" if item.get("auto") else ""
        note = " ".join(x for x in (item.get("evidence") if item.get("auto") else "", item["note"]) if x)
        rows.append(f"<tr><td>{_e(q.text)}</td><td>{_e(ANSWER_LABELS[item['answer']])}{_e(how)}</td>"
                    f"<td>{_e(note)}</td></tr>")
    parts.append('<table><thead><tr><th scope="col">Condition</th><th scope="col">Answer</th>'
                 '<th scope="col">Note</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")
    if v.contact:
        parts.append(f"<p>Questions answered \"not sure\" go to {_e(v.contact)}.</p>")
    parts.append("<h3>Priority</h3>")
    if v.priority:
        parts.append("<p>Reasons to publish this data early:</p><ul>" + "".join(f"<li>{_e(p)}</li>" for p in v.priority) + "</ul>")
    else:
        parts.append("<p>None of the priority signals was marked.</p>")
    if data["priority_note"]:
        parts.append(f"<p>Note: {_e(data['priority_note'])}</p>")
    parts.append("<h3>Equity</h3><ul>")
    for q in EQUITY:
        item = data["equity"][q.key]
        parts.append(f"<li>{_e(q.text)} <strong>{_e(ANSWER_LABELS[item['answer']])}</strong>"
                     + (f". {_e(item['note'])}" if item["note"] else "") + "</li>")
    parts.append("</ul>")
    if v.attention:
        parts.append("<p>Needs attention:</p><ul>" + "".join(f"<li>{_e(a)}</li>" for a in v.attention) + "</ul>")
    parts.append("</div>")
    return "\n".join(parts)
