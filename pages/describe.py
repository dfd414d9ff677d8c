"""Describe (Step 3): the portal's metadata form with its live checklist, and the data-preparation checks.

Every field writes into recipe["metadata"] from its on_change callback, so what was typed is kept even when
the officer leaves the page before the page runs again. Values suggested from the release table are pre-filled
and marked; a suggestion the officer kept as it is follows the data when the recipe changes (towns generalized
to counties: the geographic unit becomes the county). Column types are the ones the portal will receive
(ctopen.metadata.portal_type, through the Review's portal view); a one-click fix appends a recipe step.

Plain session key: `describe_suggested` ({field: the suggested value the field holds}).
"""
import pandas as pd
import streamlit as st

from ctopen import checks, metadata as md
from ctopen.errors import CtopenError
from ui import layout, state

layout.header("pages/describe.py")
t = state.require_table()
recipe = state.recipe()
meta = recipe.setdefault("metadata", {})
review = state.review()
SEVERITY = {"error": (":material/error:", "Problem"), "warning": (":material/warning:", "Check"), "info": (":material/info:", "Hint")}
OPTIONS = {"category": md.CATEGORIES, "update_frequency": md.UPDATE_FREQUENCIES, "geographic_unit": md.GEOGRAPHIC_UNITS,
           "license": md.LICENSE_NAMES}
EDITOR = "md_columns_editor"

try:
    applied = review.applied
except CtopenError as exc:   # the recipe cannot be applied: Transform says how to fix it; describe the file as loaded
    layout.show_error(exc)
    applied = None
rdf = applied.df if applied is not None else t.df


def cached(name: str, compute):
    """A value kept until the release is recomputed (the Review recomputes it only when the recipe changed)."""
    slot = st.session_state.setdefault(f"_describe_{name}", {})
    if slot.get("of") is not applied or slot.get("table") is not t.df:
        with st.spinner("Checking the table as it would be published..."):
            slot.update(of=applied, table=t.df, value=compute())
    return slot["value"]


detection = st.session_state.get("detection") if st.session_state.get("detection_for") == t.source.sha256 else None
found = cached("suggest", lambda: {s.key: s for s in md.suggestions(t, detection, applied if applied is not None else rdf)})
findings = cached("checks", lambda: checks.run(rdf, types=t.types, source=t.source))
sent_as = (review.portal_view.types() if applied is not None else md.portal_types(rdf))   # what the portal receives
needed, hints = [f for f in findings if f.severity != "info"], [f for f in findings if f.severity == "info"]
if needed:   # the checks are at the bottom of a long form: say so up front
    st.warning(f"{len(needed)} data-preparation problem(s) to fix before publishing, with a one-click fix where it is "
               "safe: see Data preparation at the bottom of this page.", icon=":material/build:")


def keep(key: str) -> None:
    """Copy a field's widget value into the recipe (its on_change, and once per run)."""
    m = state.recipe().setdefault("metadata", {})
    value = st.session_state.get(f"md_{key}")
    if value is None and key in OPTIONS and (saved := m.get(key)) and saved not in OPTIONS[key]:
        return   # a saved value outside the options stays until one is chosen (said under the field)
    m[key] = value if isinstance(value, list) else (value or "").strip()


def field(key: str, widget, **kw):
    """One metadata field: starts from the recipe (or the suggestion) and writes back into recipe["metadata"]."""
    wk, options = f"md_{key}", OPTIONS.get(key)
    suggested = st.session_state.setdefault("describe_suggested", {})
    now = found[key].value if key in found else None
    # a suggestion the officer kept unchanged follows the data: the recipe changed what the release holds
    stale = key in suggested and meta.get(key) == suggested[key] and now != suggested[key]
    if wk not in st.session_state or stale:
        value = (now if stale else meta.get(key) or now)
        if key == "tags":
            value = list(value or [])
        elif options is not None:
            value = value if value in options else None
        st.session_state[wk] = value if value is not None else ("" if options is None else None)
    if key == "tags":
        widget(md.LABELS[key], sorted(set(st.session_state[wk] or [])), key=wk, on_change=keep, args=(key,), **kw)
    else:
        widget(*((md.LABELS[key],) if options is None else (md.LABELS[key], options)), key=wk, on_change=keep,
               args=(key,), **kw)
    keep(key)
    if st.session_state[wk] is None and (saved := meta.get(key)) and options is not None and saved not in options:
        st.caption(f":material/warning: The recipe holds '{saved}', which is not one of the options: choose one.")
    if now is not None and meta.get(key) and meta[key] == now:
        suggested[key] = now
        st.caption(f":material/auto_awesome: Suggested from the data ({found[key].why}): check it.")
    else:
        suggested.pop(key, None)


def keep_columns() -> None:
    """Copy the column descriptions typed in the table into the recipe (the editor's on_change, and once per run)."""
    base = st.session_state.get("_describe_columns_base")
    edits = (st.session_state.get(EDITOR) or {}).get("edited_rows") or {}
    if base is None:
        return
    m = state.recipe().setdefault("metadata", {})
    columns = dict(m.get("columns") or {})
    for row, change in edits.items():
        if "Description" in change:
            name, text = str(base["Column"].iloc[int(row)]), str(change["Description"] or "").strip()
            if text:
                columns[name] = text
            else:
                columns.pop(name, None)
    m["columns"] = columns


form, side = st.columns([3, 2], gap="large")
with form:
    st.subheader("About the dataset")
    field("title", st.text_input, placeholder="e.g. Accidental Drug Related Deaths in Connecticut",
          help="A clear title for non-technical readers: no acronyms, file names or codes.")
    field("description", st.text_area, height=140,
          help="What one row is, what the data contains, where it comes from and how it was created.")
    c1, c2 = st.columns(2)
    with c1:
        field("category", st.selectbox, placeholder="Choose a category")
        field("agency", st.text_input, placeholder="e.g. Department of Public Health")
        field("data_provided_by", st.text_input, help="Who collected the data (shown as the attribution).")
        field("update_frequency", st.selectbox, placeholder="Choose how often")
        field("temporal_coverage", st.text_input, placeholder="2012-01-01 to 2018-12-31")
    with c2:
        field("row_label", st.text_input, placeholder="e.g. Death, Sale, License", help="What one row is.")
        field("contact_email", st.text_input, placeholder="name@ct.gov")
        field("source_link", st.text_input, placeholder="https://portal.ct.gov/...")
        field("geographic_unit", st.selectbox, placeholder="Choose the unit of place")
        field("license", st.selectbox, placeholder="Choose a public license")
    field("tags", st.multiselect, accept_new_options=True, placeholder="Type a tag and press Enter")
    field("notes", st.text_area, height=90, help="Limitations of use, caveats, known gaps, how counts were made.")

    st.subheader("Column descriptions")
    st.caption("Describe every column that will be published: what it holds, its unit, the codes it uses. "
               "“Portal type” is how the portal will read the column as it is in the release: a date not written "
               "YYYY-MM-DD, or a number with commas or a $ sign, is read as text (see Data preparation below).")
    names = [str(c) for c in rdf.columns]
    types = [md.PORTAL_TYPE_LABELS[sent_as[c]] for c in names]
    base = st.session_state.get("_describe_columns_base")
    if EDITOR not in st.session_state or base is None or list(base["Column"]) != names or list(base["Portal type"]) != types:
        st.session_state.pop(EDITOR, None)   # the published columns changed: start again from the recipe
        described = meta.get("columns") or {}
        st.session_state["_describe_columns_base"] = pd.DataFrame(
            {"Column": names, "Portal type": types, "Description": [described.get(c, "") for c in names]})
    st.data_editor(st.session_state["_describe_columns_base"], key=EDITOR, hide_index=True, on_change=keep_columns,
                   disabled=["Column", "Portal type"], width="stretch",
                   column_config={"Description": st.column_config.TextColumn("Description", width="large")})
    keep_columns()

result = md.validate(meta, columns=names)
with side:
    st.subheader("Metadata checklist")
    st.progress(result.score / 100, text=f"Completeness: {result.score}% ({'complete' if result.complete else 'not complete yet'})")
    for item in result.checklist:
        st.markdown(f"{':material/check_box:' if item.ok else ':material/check_box_outline_blank:'} "
                    f"{'Done' if item.ok else 'To do'}: {item.label}")
    for f in result.findings:
        icon, word = SEVERITY.get(f.severity, SEVERITY["info"])
        st.markdown(f"{icon} **{word}:** {f.message}")
    with st.expander("What the portal will receive"):
        st.caption("The dataset's view as the Publish page sends it: its metadata, and each column with its "
                   "field name and type.")
        st.json(review.portal_view.view if applied is not None else md.to_socrata(meta, rdf), expanded=2)
        st.caption("The same metadata as a DCAT-US (data.json) record:")
        st.json(md.to_dcat(meta), expanded=False)


def add_step(step: dict) -> None:
    if step not in recipe.setdefault("steps", []):
        recipe["steps"].append(dict(step))


def show(found_here: list, start: int = 0) -> None:
    for i, f in enumerate(found_here, start):
        icon, word = SEVERITY.get(f.severity, SEVERITY["info"])
        with st.container(border=True):
            st.markdown(f"{icon} **{word}** · {f.check.replace('_', ' ')}: {f.message}")
            if f.fix:
                done = f.fix in recipe.get("steps", [])
                st.button(checks.fix_label(f.fix) if not done else "Fix added to the recipe", key=f"fix_{i}_{f.check}",
                          on_click=add_step, args=(f.fix,), disabled=done, icon=":material/build:")
            else:
                st.caption("No safe automatic fix: correct it in the source file.")


st.subheader("Data preparation")
st.caption(f"Checked on the table as it would be published ({len(rdf):,} rows, {rdf.shape[1]} columns). "
           "A fix adds a step to the recipe, so next month's file gets the same fix.")
if not needed:
    st.success("No formatting problems found.", icon=":material/check_circle:")
show(needed)
if hints:   # style only: ALL CAPS names or run-together headers are normal in many state files
    with st.expander(f"{len(hints)} optional hint(s) on style (headers, ALL CAPS text): nothing here blocks publishing"):
        show(hints, len(needed))

layout.next_step("pages/describe.py")
