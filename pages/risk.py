"""Risk: could someone be picked out of this file? k-anonymity and re-identification figures on the table
as it would be released, recomputed on every change.

Plain session keys (they survive leaving the page): `risk_choice` ({"based_on", "quasi", "sensitive"}:
the columns chosen here, reset when the roles from Identify change), `risk_k` (the threshold),
`_risk_cache` (the last report, kept while the release table, the columns and the threshold are the same).
"""
import streamlit as st

from ctopen import population as pop
from ctopen import recipe as recipes
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
if recipes.count_step(recipe.get("steps")) is not None:    # aggregate, or spatial_aggregate (a map of counts)
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
           if recipe.get("steps") and recipes.count_step(recipe["steps"]) is None
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
# map points are columns like any other: quasi-identifiers, or direct when they place one household each
points = [c for c in columns if entities.get(lineage.get(c)) == "coordinates"]
if points:
    table = review.release_role_table if released else review.role_table
    home = [c for c in points if roles.get(c) == "direct"]
    coarse = [c for c in points if getattr(table.get(c), "origin", "") == "coarsened points"]
    if home:
        st.warning(f"Map points {', '.join(home)} are a household's location (about one point per record, or per "
                   "person when each holds a few records): they count as direct identifiers, outside the groups "
                   "below. On Transform, publish a map of counts (hexagons or towns), or coarsen the points to at most "
                   "2 decimals (about 1 km) until each is shared by at least k records.",
                   icon=":material/home_pin:")
    if coarse:
        st.caption(f"Map points {', '.join(coarse)}: coarsened so that every point is shared by at least k records "
                   "(spatial k); they count as quasi-identifiers, with the others.")
    elif [c for c in points if c not in home]:
        st.caption(f"Map points {', '.join(c for c in points if c not in home)} count as quasi-identifiers.")
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

# --- in the population: the people the records could be about (ctopen.population; recipe "population") ---
st.subheader("How many people could be in this file?")
st.caption("The figures above are about the file alone: a record alone in the file may share its values with "
           "hundreds of residents. Say how many people the records could be about (for records about Connecticut "
           "residents, the state; for one town's or county's records, its population) to estimate how many of them "
           "are unique on these columns.")
NOT_SET, TYPED = "Not set: figures about the file only", "A number I type"
covered_cache = st.session_state.setdefault("_risk_pop_covered", {})
if t.source.sha256 not in covered_cache:
    covered_cache.clear()
    covered_cache[t.source.sha256] = pop.covered_place(t.df)
covered = covered_cache[t.source.sha256]
choices = {NOT_SET: None}
ct_total = pop.ct_population()
choices[f"Connecticut: {ct_total:,} people (2020 Census)"] = (ct_total, "Connecticut")
if covered:
    choices[f"{covered[0]}, where the file's records lie: {covered[1]:,} people"] = (covered[1], covered[0])
for row in pop.places().itertuples():
    if row.kind != "state":
        choices.setdefault(f"{row.name} ({row.kind}): {row.population:,} people", (int(row.population), row.name))
choices[TYPED] = None
saved_pop = recipe.get("population") if isinstance(recipe.get("population"), dict) else {}
if "_w_risk_pop" not in st.session_state:        # first visit: start from the recipe
    found_label = next((label for label, v in choices.items()
                        if v and saved_pop.get("place") == v[1] and saved_pop.get("size") == v[0]), None)
    st.session_state["_w_risk_pop"] = found_label or (TYPED if saved_pop.get("size") else NOT_SET)
    st.session_state["_w_risk_pop_n"] = int(saved_pop.get("size") or max(len(df), 1))
    share_saved = saved_pop.get("max_uniques_share")
    st.session_state["_w_risk_pop_limit_on"] = share_saved is not None
    st.session_state["_w_risk_pop_limit"] = 100 * float(share_saved if share_saved is not None else 0.001)
pa, pb = st.columns([3, 2])
picked = pa.selectbox("How many people could the records be about?", list(choices), key="_w_risk_pop",
                      help="The number of people the file's records are drawn from (N). The records are then a sample "
                           "of N; at N = the number of records the figures are the file's own.")
size, place = (choices[picked] or (None, None)) if picked != TYPED else (None, None)
if picked == TYPED:
    size = int(pa.number_input("Number of people", min_value=1, step=1000, key="_w_risk_pop_n"))
    place = saved_pop.get("place") if saved_pop.get("size") == size and not choices.get(picked) else None
limit_on = pb.checkbox("Set a limit on people unique in the population", key="_w_risk_pop_limit_on",
                       disabled=size is None,
                       help="Kept in the recipe (population.max_uniques_share) for the privacy gate, beside k.")
limit_pct = pb.number_input("At most this % of the people unique", min_value=0.0, max_value=100.0, step=0.01,
                            format="%.3f", key="_w_risk_pop_limit", disabled=size is None or not limit_on)
limit = round(float(limit_pct) / 100, 8) if size is not None and limit_on else None
wanted = None if size is None else {"size": int(size), **({"place": place} if place else {}),
                                    **({"max_uniques_share": limit} if limit is not None else {})}
if wanted != (recipe.get("population") or None):   # the officer's answer is the review's: the recipe holds it
    if wanted is None:
        state.recipe().pop("population", None)
    else:
        state.recipe()["population"] = wanted
if size is not None:
    try:
        if cache.get("population_of") is not report or cache.get("population_size") != int(size):
            cache.update(population_of=report, population_size=int(size), population=pop.from_report(report, int(size)))
        panel.population(cache["population"], limit=limit)
    except CtopenError as exc:
        layout.show_error(exc)

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
