"""Describe (Step 3): the portal's metadata form with its live checklist, and the data-preparation checks.
Fields are copied into recipe["metadata"] on each run (suggested values pre-filled and marked); a one-click
fix appends a recipe step to recipe["steps"]; the checks run on the release table (the recipe applied)."""
import json

import pandas as pd
import streamlit as st

from ctopen import checks, metadata as md, recipe as recipes
from ctopen.errors import CtopenError
from ui import layout, state

layout.header("pages/describe.py")
t = state.require_table()
recipe = state.recipe()
meta = recipe.setdefault("metadata", {})
SEVERITY = {"error": (":material/error:", "Problem"), "warning": (":material/warning:", "Check"), "info": (":material/info:", "Hint")}


def release():
    """The applied recipe (release table and log); None when Transform cannot apply it (the error is shown)."""
    try:
        return state.release()
    except CtopenError as exc:
        layout.show_error(exc)


def cached(name: str, token, compute):
    """A value kept in session state until its token (file + recipe steps) changes."""
    slot = st.session_state.setdefault(f"_describe_{name}", {})
    if slot.get("token") != token:
        with st.spinner("Checking the table as it would be published..."):
            slot.update(token=token, value=compute())
    return slot["value"]


applied = release()
rdf = applied.df if applied is not None else t.df
token = (t.source.sha256, len(t.df), json.dumps(recipe.get("steps", []), sort_keys=True, default=str))
detection = st.session_state.get("detection") if st.session_state.get("detection_for") == t.source.sha256 else None
found = cached("suggest", token, lambda: {s.key: s for s in md.suggestions(t, detection, applied if applied is not None else rdf)})
findings = cached("checks", token, lambda: checks.run(rdf, types=t.types, source=t.source))
needed, hints = [f for f in findings if f.severity != "info"], [f for f in findings if f.severity == "info"]
if needed:   # the checks are at the bottom of a long form: say so up front
    st.warning(f"{len(needed)} data-preparation problem(s) to fix before publishing, with a one-click fix where it is "
               "safe: see Data preparation at the bottom of this page.", icon=":material/build:")


def field(key: str, widget, options=None, **kw):
    """One metadata field: starts from the recipe (or the suggestion), writes back into recipe["metadata"]."""
    wk = f"md_{key}"
    if wk not in st.session_state:
        value = meta.get(key) or (found[key].value if key in found else None)
        if options is not None:
            value = [v for v in value or [] if v in options] if widget is st.multiselect else (value if value in options else None)
        st.session_state[wk] = value if value is not None else ("" if options is None else None)
    value = widget(*((md.LABELS[key],) if options is None else (md.LABELS[key], options)), key=wk, **kw)
    if value is None and (saved := meta.get(key)) and options is not None and saved not in options:   # keep it, say why
        st.caption(f":material/warning: The recipe holds '{saved}', which is not one of the options: choose one.")
    else:
        meta[key] = value if isinstance(value, list) else (value or "").strip()
    if key in found and meta[key] and meta[key] == found[key].value:
        st.caption(f":material/auto_awesome: Suggested from the data ({found[key].why}): check it.")


form, side = st.columns([3, 2], gap="large")
with form:
    st.subheader("About the dataset")
    field("title", st.text_input, placeholder="e.g. Accidental Drug Related Deaths in Connecticut",
          help="A clear title for non-technical readers: no acronyms, file names or codes.")
    field("description", st.text_area, height=140,
          help="What one row is, what the data contains, where it comes from and how it was created.")
    c1, c2 = st.columns(2)
    with c1:
        field("category", st.selectbox, md.CATEGORIES, placeholder="Choose a category")
        field("agency", st.text_input, placeholder="e.g. Department of Public Health")
        field("data_provided_by", st.text_input, help="Who collected the data (shown as the attribution).")
        field("update_frequency", st.selectbox, md.UPDATE_FREQUENCIES, placeholder="Choose how often")
        field("temporal_coverage", st.text_input, placeholder="2012-01-01 to 2018-12-31")
    with c2:
        field("row_label", st.text_input, placeholder="e.g. Death, Sale, License", help="What one row is.")
        field("contact_email", st.text_input, placeholder="name@ct.gov")
        field("source_link", st.text_input, placeholder="https://portal.ct.gov/...")
        field("geographic_unit", st.selectbox, md.GEOGRAPHIC_UNITS, placeholder="Choose the unit of place")
        field("license", st.selectbox, md.LICENSE_NAMES, placeholder="Choose a public license")
    field("tags", st.multiselect, sorted(set(meta.get("tags") or [])), accept_new_options=True, placeholder="Type a tag and press Enter")
    field("notes", st.text_area, height=90, help="Limitations of use, caveats, known gaps, how counts were made.")

    st.subheader("Column descriptions")
    st.caption("Describe every column that will be published. Text ending in ___ is a suggestion to finish.")
    base = st.session_state.get("_describe_columns_base")
    if "md_columns_editor" not in st.session_state or base is None or list(base["Column"]) != list(map(str, rdf.columns)):
        st.session_state.pop("md_columns_editor", None)   # the published columns changed: start from the recipe
        skeleton, described = (found["columns"].value if "columns" in found else {}), meta.get("columns") or {}
        st.session_state["_describe_columns_base"] = pd.DataFrame(
            {"Column": [str(c) for c in rdf.columns], "Type": [t.types.get(c, "text") for c in rdf.columns],
             "Description": [described.get(str(c)) or skeleton.get(str(c), "") for c in rdf.columns]})
    edited = st.data_editor(st.session_state["_describe_columns_base"], key="md_columns_editor", hide_index=True,
                            disabled=["Column", "Type"], width="stretch",
                            column_config={"Description": st.column_config.TextColumn("Description", width="large")})
    kept = {c: d for c, d in (meta.get("columns") or {}).items() if c not in set(edited["Column"])}
    meta["columns"] = kept | {str(r.Column): str(r.Description).strip() for r in edited.itertuples()
                              if isinstance(r.Description, str) and r.Description.strip()
                              and md.PLACEHOLDER not in r.Description}

result = md.validate(meta, columns=[str(c) for c in rdf.columns])
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
        st.json(md.to_socrata(meta, {str(c): t.types.get(c, "text") for c in rdf.columns}), expanded=False)
        st.json(md.to_dcat(meta), expanded=False)


def add_step(step: dict) -> None:
    if step not in recipe.setdefault("steps", []):
        recipe["steps"].append(dict(step))


def show(found_here: list, start: int = 0) -> None:
    for i, f in enumerate(found_here, start):
        icon, word = SEVERITY.get(f.severity, SEVERITY["info"])
        with st.container(border=True):
            st.markdown(f"{icon} **{word}** · {f.check.replace('_', ' ')}: {f.message}")
            if f.fix and f.fix["op"] in recipes.OPS:
                done = f.fix in recipe.get("steps", [])
                st.button(checks.fix_label(f.fix) if not done else "Fix added to the recipe", key=f"fix_{i}_{f.check}",
                          on_click=add_step, args=(f.fix,), disabled=done, icon=":material/build:")
            else:
                st.caption(f"Suggested fix: {checks.fix_label(f.fix)} (this version cannot apply it yet; fix the file)."
                           if f.fix else "No safe automatic fix: correct it in the source file.")


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
