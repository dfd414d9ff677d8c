"""Risk: could someone be picked out of this file? k-anonymity and re-identification figures on the table
as it would be released, recomputed on every change.

Plain session keys (they survive leaving the page): `risk_choice` ({"based_on", "quasi", "sensitive"}:
the columns chosen here, reset when the roles from Identify change), `risk_k` (the threshold),
`_risk_cache` (the last report, kept while the release table, the columns and the threshold are the same).
"""
import streamlit as st

from ctopen import risk
from ctopen.errors import CtopenError
from ctopen.settings import DEFAULT_K
from ui import layout, state
from ui import risk_panel as panel

layout.header("pages/risk.py")
t = state.require_table()
recipe = state.recipe()
review = state.review()          # roles decided on the loaded file; the release and its roles (renames followed)
source_roles = review.roles
found = state.detection()
entities = {c.name: c.entity for c in found.columns}

df, suppressed, released, roles, lineage = t.df, 0, False, source_roles, {c: c for c in t.df.columns}
if any(step.get("op") == "aggregate" for step in recipe.get("steps", [])):
    st.info("The recipe publishes counts instead of records: the figures below are for the records the counts "
            "are made from. The count table's own protection (small-cell suppression) is on the Transform page.",
            icon=":material/table_chart:")
elif recipe.get("steps"):
    try:
        applied = review.applied
        df, suppressed, released = applied.df, applied.suppressed, True
        roles, lineage = review.release_roles, review.lineage
    except CtopenError as exc:   # the recipe cannot be applied (Transform says how to fix it): the file as loaded
        layout.show_error(exc)
st.caption(f"Computed on the release table: the recipe's {len(recipe['steps'])} step(s) applied"
           + (f", {suppressed:,} record(s) suppressed." if suppressed else ".") if released
           else "Computed on the file as loaded, before the recipe's steps (they could not be applied)."
           if recipe.get("steps") and not any(s.get("op") == "aggregate" for s in recipe["steps"])
           else "Computed on the file as loaded (no transformation yet).")

columns = list(df.columns)
default_quasi = [c for c in columns if roles.get(c) == "quasi"]
default_sens = [c for c in columns if roles.get(c) == "sensitive"]
based_on = [default_quasi, default_sens]
choice = st.session_state.get("risk_choice")
if not choice or choice.get("based_on") != based_on:      # the roles changed: start from them again
    choice = {"based_on": based_on, "quasi": default_quasi, "sensitive": default_sens}
for key, name in (("_w_risk_quasi", "quasi"), ("_w_risk_sensitive", "sensitive")):
    if key not in st.session_state:
        st.session_state[key] = [c for c in choice[name] if c in columns]
# the threshold is the review's k (recipe "k"): the gate, the sidebar, the report and the CLI judge by it
from ctopen.publish.gate import requested_k  # noqa: E402
asked = requested_k(state.recipe())
review_k = asked if asked is not None and 2 <= asked <= 25 else DEFAULT_K
if "_w_risk_k" not in st.session_state or (st.session_state["_w_risk_k"] != review_k
                                            and st.session_state.get("_risk_k_seen") != review_k):
    st.session_state["_w_risk_k"] = review_k     # first visit, or the recipe's k changed elsewhere: follow it
st.session_state["_risk_k_seen"] = review_k

left, right = st.columns([3, 1])
quasi = left.multiselect("Quasi-identifiers: columns someone could already know about a person (age, sex, town, dates...)",
                         columns, key="_w_risk_quasi")
sensitive = left.multiselect("Sensitive attributes: what a group could disclose (diagnosis, offense...)",
                             [c for c in columns if c not in quasi], key="_w_risk_sensitive")
k = right.slider("Threshold k: smallest group size you accept", 2, 25, key="_w_risk_k",
                 help="The review's k: records in groups smaller than this are counted as at risk, and the privacy "
                      f"gate blocks them. {DEFAULT_K} is the state's minimum: a lower k needs a recorded exception.")
if k != review_k:     # the officer set the review's threshold here: the recipe holds it
    if k == DEFAULT_K:
        state.recipe().pop("k", None)
    else:
        state.recipe()["k"] = int(k)
    st.session_state["_risk_k_seen"] = k
if k < DEFAULT_K:
    right.warning(f"Below the state's minimum of {DEFAULT_K}: the privacy gate still blocks groups smaller than "
                  f"{DEFAULT_K} unless an exception recorded on Publish accepts k = {k}.", icon=":material/gavel:")
st.session_state["risk_choice"] = {"based_on": based_on, "quasi": quasi, "sensitive": sensitive}
st.session_state["risk_k"] = k
kept = {src for src in lineage.values() if src is not None}
gone = [c for c in t.df.columns if source_roles.get(c) == "quasi" and c not in kept]
if gone:
    st.caption(f"Not in the release (dropped by the recipe): {', '.join(gone)}.")
if not quasi:
    st.info("Choose at least one quasi-identifier to see the risk. The Identify step proposes them.", icon=":material/info:")
    layout.next_step("pages/risk.py")
    st.stop()

heavy = len(df) * 2 ** len(quasi) > 2e8       # every QI combination would take more than a few seconds
combos = not heavy or st.session_state.get("_risk_combos_for") == tuple(quasi)
token = (tuple(quasi), tuple(sensitive), k, combos)
cache = st.session_state.setdefault("_risk_cache", {})
if cache.get("of") is not df or cache.get("token") != token:     # the release is recomputed only when the recipe changed
    try:
        with st.spinner("Computing the risk figures..."):
            report = risk.assess(df, quasi, sensitive, k=k, combinations=combos, suppressed=suppressed)
            sources = [lineage.get(c) for c in quasi if lineage.get(c)] + gone
            before = risk.assess(t.df, [c for c in t.df.columns if c in sources], [], k=k, combinations=False) if released else None
            coarser, details = risk.one_level_coarser(df, quasi, {c: entities.get(lineage.get(c)) for c in quasi})
            changes = risk.what_if(df, quasi, k=k, coarsened=coarser, details=details)
    except CtopenError as exc:
        layout.show_error(exc)
        st.stop()
    cache.update(of=df, token=token, report=report, before=before, changes=changes)
report, before, changes = cache["report"], cache["before"], cache["changes"]

panel.verdict(report)
panel.metrics(report, before=before, before_label="the file as loaded")
panel.more_figures(report)
panel.histogram(report)

st.subheader("Which columns single people out")
panel.combinations_table(report)
if not combos and st.button(f"Assess all {2 ** len(quasi) - 1:,} combinations of these {len(quasi)} columns (slow on a "
                            f"file this large)", key="_w_risk_combos"):
    st.session_state["_risk_combos_for"] = tuple(quasi)
    st.rerun()
st.markdown("**If one column changed**")
panel.what_if_table(changes, report)

st.subheader("Sensitive attributes (l-diversity)")
if sensitive:
    panel.diversity_table(report)
else:
    st.caption("Choose sensitive attributes above to see whether a group discloses them.")

st.subheader("The riskiest records")
if st.toggle("Show the 10 records in the smallest groups", key="_w_risk_show_records"):
    panel.riskiest_table(df, report, masked=[c for c in columns if roles.get(c) == "direct"])

layout.next_step("pages/risk.py")
