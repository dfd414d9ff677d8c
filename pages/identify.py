"""Identify: every column's role (direct, quasi, sensitive, other) with its evidence; the reviewer can change
any role with a reason, recorded with who and when in the recipe's decisions."""
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from ctopen import review, rules
from ctopen.detect import mask
from ctopen.errors import CtopenError
from ui import layout, state

layout.header("pages/identify.py")
t = state.require_table()
try:
    found = state.detection()
except CtopenError as exc:
    layout.show_error(exc)
    st.stop()

recipe = state.recipe()
recipe.setdefault("roles", {})
recipe.setdefault("decisions", [])
detected = {c.name: c for c in found.columns}
roles = state.roles()

st.caption(f"Detector: {found.engine}. Checked a sample of each column in {found.seconds:.1f} s.")

counts = {r: sum(1 for c in detected if roles.get(c) == r) for r in rules.ROLES}
for box, role in zip(st.columns(4), rules.ROLES):
    box.metric(rules.ROLE_LABELS[role] + "s" if role != "other" else "Other columns", counts[role],
               help=rules.ROLE_HELP[role])

if counts["direct"]:
    names = ", ".join(c for c in detected if roles.get(c) == "direct")
    st.warning(f"{counts['direct']} column(s) point directly at a person or household: {names}. Remove them or "
               "replace them with an anonymous ID on the Transform page. If they are published on purpose (a public "
               "register), keep their role here and record the exception and why on the Publish page.",
               icon=":material/person_alert:")
else:
    st.success("No direct identifier is left among the columns.", icon=":material/check_circle:")

# --- the table of every column -------------------------------------------------------------------------
rows = []
for name, c in detected.items():
    role = roles.get(name, c.role)
    changed = name in recipe["roles"] and recipe["roles"][name] != c.role
    examples = [mask(v) for v in c.examples] if role == "direct" else list(c.examples)
    rows.append({
        "Column": name,
        "Role": rules.ROLE_LABELS[role] + (" (changed by reviewer)" if changed else ""),
        "Kind of data": rules.label_of(c.entity),
        "Confidence": c.confidence,
        "Evidence": "; ".join(c.evidence),
        "Examples": " | ".join(str(e).replace("\n", " ") for e in examples[:3]),
        "Detected as": rules.ROLE_LABELS[c.role],
    })
st.subheader("Every column")
st.dataframe(
    pd.DataFrame(rows), hide_index=True, width="stretch", height=min(35 * (len(rows) + 1) + 3, 740),
    column_config={
        "Confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent",
                                                       help="How sure the detector is of the kind of data"),
        "Evidence": st.column_config.TextColumn("Evidence", width="large"),
        "Examples": st.column_config.TextColumn("Examples", help="Values of direct identifiers are masked"),
    },
)

shown = st.selectbox("Show all the evidence for a column", list(detected), key="_w_identify_show")
c = detected[shown]
st.markdown(f"**{shown}**: {rules.label_of(c.entity)}, detected as {rules.ROLE_LABELS[c.role].lower()} "
            f"({c.confidence:.0%} sure)\n" + "\n".join(f"- {line}" for line in c.evidence))
if c.text_scan is not None:
    st.caption(f"Inside the text: {c.text_scan.summary}")

# --- change a role ----------------------------------------------------------------------------------------
st.subheader("Change a role")
st.caption("Your decision wins over the detector for the rest of the review and is saved in the recipe, "
           "with your name, the time and your reason. A column you set to Other gets no protection: the privacy "
           "gate does not count it, and the report names the decision.")
if "_w_reviewer" not in st.session_state:
    st.session_state["_w_reviewer"] = st.session_state.get("reviewer", "")
reviewer = st.text_input("Your name (recorded with each change)", key="_w_reviewer")
st.session_state["reviewer"] = reviewer

def accept(columns: list[str]) -> None:
    """Write the roles shown for `columns` into the recipe (the button's on_click)."""
    shown = state.roles()
    state.recipe()["roles"].update({c: shown.get(c, detected[c].role) for c in columns})


pending = [c for c in detected if c not in recipe["roles"]]
if pending:
    st.button(f"Accept the roles shown for the other {len(pending)} column(s)", icon=":material/done_all:",
              on_click=accept, args=(pending,),
              help="Writes them into the recipe, so next month's run and the privacy gate use the roles "
                   "you reviewed, not a new detection.")
else:   # says so as long as it holds, not only right after the click
    st.success(f"The roles of all {len(detected)} columns are accepted and saved in the recipe: the privacy gate, the "
               "report and next month's run use them. You can still change any of them below.",
               icon=":material/done_all:")
with st.form("change_role", clear_on_submit=True, border=True):
    left, right = st.columns(2)
    chosen = left.multiselect("Columns", list(detected), key="_w_identify_columns",
                              help="Pick one or more columns that get the same new role for the same reason")
    new_role = right.selectbox("New role", list(rules.ROLES), format_func=lambda r: f"{rules.ROLE_LABELS[r]}: {rules.ROLE_HELP[r]}",
                               key="_w_identify_role")
    reason = st.text_input("Reason for the change", key="_w_identify_reason",
                           placeholder="e.g. the names are of businesses, not people")
    submitted = st.form_submit_button("Record the change", icon=":material/edit:")
if submitted:
    changed = [c for c in chosen if roles.get(c, detected[c].role) != new_role]
    if not chosen:
        st.error("Pick the column(s) to change.", icon=":material/table_rows:")
    elif not reviewer.strip():
        st.error("Type your name above so the change is recorded with who made it.", icon=":material/badge:")
    elif review.reason_problem(reason) and any(review.lowers(detected[c].role, new_role) for c in chosen):
        # lowering what detection found needs a reason the gate accepts (ctopen.review: the same rule for the CLI)
        st.error(review.reason_problem(reason), icon=":material/edit_note:")
    elif not reason.strip():
        st.error("Give a reason for the change: it goes into the review report.", icon=":material/edit_note:")
    elif not changed:
        st.info(f"Already a {rules.ROLE_LABELS[new_role].lower()}: {', '.join(chosen)}. Nothing changed.",
                icon=":material/info:")
    else:
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for column in changed:
            recipe["decisions"].append({"column": column, "role": new_role, "previous": roles.get(column, detected[column].role),
                                        "by": reviewer.strip(), "at": at, "reason": reason.strip()})
            recipe["roles"][column] = new_role
        st.rerun()

if recipe["decisions"]:
    st.markdown("**Decisions recorded**")
    st.dataframe(pd.DataFrame([{
        "Column": d.get("column"), "From": rules.ROLE_LABELS.get(d.get("previous"), d.get("previous")),
        "To": rules.ROLE_LABELS.get(d.get("role"), d.get("role")), "By": d.get("by"), "When (UTC)": str(d.get("at") or "")[:16].replace("T", " "),
        "Reason": d.get("reason"),
    } for d in recipe["decisions"] if "column" in d]), hide_index=True, width="stretch")

# --- personal data inside free text ---------------------------------------------------------------------------
st.subheader("Personal data inside free text")
scanned = found.text_findings
hits = [c for c in scanned if c.text_scan.cells_with_pii]
if not scanned:
    st.caption("No column holds free text.")
elif not hits:
    st.success(f"No names, emails, phone numbers or SSNs found inside the {len(scanned)} text column(s) scanned: "
               + ", ".join(c.name for c in scanned) + ".", icon=":material/check_circle:")
for c in hits:
    st.warning(f"**{c.name}**: {c.text_scan.summary}", icon=":material/warning:")
    for example in c.text_scan.examples:
        st.text(example)
if scanned and not found.engine.startswith("Presidio with spaCy"):
    st.caption("Without a language model, names inside free text are found after a title (Mr., Dr.) or as a listed "
               "given name and surname in Title Case (Maria Lopez); names in capitals or lower case, and rare names, "
               "can be missed: read a few cells yourself before you publish a text column.")

layout.next_step("pages/identify.py", "Next: Risk of re-identification")
