"""Evaluate (Step 2): may this data be published as open data, and should it come first?

Every answer is copied into the review (recipe["eligibility"]) on each change, so it survives leaving the
page. The privacy question is answered from the privacy gate once Identify has run.
"""
import streamlit as st

from ctopen import eligibility as el
from ctopen.errors import CtopenError
from ui import layout, state

layout.header("pages/evaluate.py")
t = state.require_table()
recipe = state.recipe()
VERDICT = {"blocked": (st.error, ":material/block:"), "unsure": (st.warning, ":material/help:"),
           "incomplete": (st.info, ":material/pending:"), "eligible": (st.success, ":material/check_circle:")}


def privacy_gate():
    """The gate on the release table, only when Identify's detection for this file already exists
    (this page never starts detection). None when Identify, Transform or the gate are not there yet."""
    if st.session_state.get("detection") is None or st.session_state.get("detection_for") != t.source.sha256:
        return None
    try:
        return state.gate()
    except CtopenError:       # the recipe cannot be applied: Transform says why
        return None


def answer_widgets(group: str, q, item: dict, data: dict) -> dict:
    answer = st.radio(q.text, el.ANSWERS, index=el.ANSWERS.index(item["answer"]) if item["answer"] else None,
                      format_func=el.ANSWER_LABELS.get, horizontal=True, key=f"elig_{group}_{q.key}", help=q.help or None)
    if item.get("auto"):
        st.caption("Filled in from the privacy gate (Identify, Risk and Transform); it follows the gate until "
                   f"you change the answer. {item.get('evidence', '')}")
    note = st.text_input(f"Note on {q.short or 'this answer'}", value=item["note"], key=f"elig_{group}_{q.key}_note",
                         placeholder="Who decided, on what basis, and anything a reviewer should know")
    return el.update(data, group, q.key, answer, note)


inv = recipe.get("inventory") or {}
if inv.get("dataset"):
    st.caption(f"Reviewing “{inv['dataset']}” ({inv.get('agency') or 'agency not recorded'}) from "
               f"{inv.get('source') or 'the inventory'}.")
try:
    data = el.normalize(recipe.get("eligibility"))
except CtopenError as exc:
    layout.show_error(exc)
    st.button("Start the answers again", on_click=lambda: recipe.update(eligibility=el.empty()))
    st.stop()
gate = privacy_gate()
data = el.with_privacy(data, gate)
verdict_box = st.container()

st.subheader("Conditions for open data")
st.caption("Every condition must hold. Answer “Not sure” when you cannot tell: the Data and Policy Analytics "
           "team helps decide.")
for q in el.CHECKLIST:
    with st.container(border=True):
        data = answer_widgets("checklist", q, data["checklist"][q.key], data)
        if q.key == "privacy" and gate is None:
            st.caption("Identify has not run on this file yet: answer this yourself for now; it is filled in "
                       "from the privacy gate after Identify.")

st.subheader("Priority")
st.caption("Publish first the data that is:")
for q in el.PRIORITY:
    data["priority"][q.key] = st.checkbox(q.text, value=data["priority"][q.key], key=f"elig_priority_{q.key}")
data["priority_note"] = st.text_input("Note on priority", value=data["priority_note"], key="elig_priority_note").strip()

st.subheader("Equity")
st.caption("Consider the people and communities represented in the data, and the social, economic and "
           "racial context of publishing it.")
for q in el.EQUITY:
    with st.container(border=True):
        data = answer_widgets("equity", q, data["equity"][q.key], data)

recipe["eligibility"] = data
v = el.verdict(data, gate)
with verdict_box:
    show, icon = VERDICT[v.status]
    show(v.headline, icon=icon)
    for b in v.blockers:
        st.markdown(f"- **Blocked:** {b['reason']}" + (f" _Note: {b['note']}_" if b["note"] else ""))
    if any(b.get("key") == "privacy" for b in v.blockers):
        st.caption("Privacy is settled on the Identify, Risk and Transform pages or, for identifiers published "
                   "on purpose (a public register), by recording an exception on the Publish page.")
    for u in v.unsure:
        st.markdown(f"- **Not sure:** {u['question']}" + (f" _Note: {u['note']}_" if u["note"] else ""))
    if v.contact:
        st.markdown(f"Ask {v.contact} about the answers marked “Not sure”.")
    for a in v.attention:
        st.markdown(f"- **Needs attention:** {a}")
    if v.priority:
        st.caption("Priority: " + "; ".join(v.priority) + ".")

layout.next_step("pages/evaluate.py")
