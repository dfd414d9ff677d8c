"""Publish (Step 4): what the Review would send (its release, verdict and portal view), the exception, the
bundle or the portal, and the Data Access Plan row. Kept: recipe["exception"], recipe["target"]; reviewer and
results in plain session keys. The report and the bundle are built when the officer downloads them."""
import copy

import pandas as pd
import streamlit as st

from ctopen import dap, report, settings
from ctopen.errors import CtopenError
from ctopen.publish import bundle, gate, socrata
from ui import layout, masking, state

layout.header("pages/publish.py")
t = state.require_table()
recipe = state.recipe()
target = recipe.setdefault("target", {})


def portal_secrets() -> dict:
    """The app's [socrata] secrets; none without a secrets file (the usual case: credentials in the environment)."""
    return dict(st.secrets.get("socrata", {})) if st.secrets.load_if_toml_exists() else {}


try:
    review = state.review()     # the one review: the same release, verdict and portal view as the sidebar and CLI
    applied = review.applied
    verdict = review.gate
    creds = socrata.credentials_from(portal_secrets())
    view = review.portal_view.view
    release = review.portal_view.rows   # exactly what is sent (formula-like cells neutralised)
except CtopenError as exc:
    layout.show_error(exc)
    st.stop()
result = (results := st.session_state.setdefault("publish_results", {})).get(t.source.sha256)   # per source file
if "pub_new_dataset_id" in st.session_state:   # a dataset just created: this review now updates it
    st.session_state["pub_dataset_id"] = st.session_state.pop("pub_new_dataset_id")

st.subheader("1. What will be published")
slot = st.session_state.setdefault("_publish_changes", {})
if slot.get("of") is not applied:   # recomputed only with the release
    slot.update(of=applied, value=report.changes(t.df, applied))
changes, (c1, c2, c3) = slot["value"], st.columns(3)
c1.metric("Cells in the count table" if changes.counts else "Records in the release", f"{len(release):,}", None if changes.counts or len(release) == len(t.df) else f"{len(release) - len(t.df):,} vs the upload")
c2.metric("Columns in the release", len(release.columns))
c3.metric("Cells suppressed", f"{changes.cells_suppressed:,}")
st.markdown("\n".join(f"- {line}" for line in changes.lines()))
st.dataframe(masking.mask_frame(release.head(20), masking.release_direct_columns()), hide_index=True)   # follows renames
st.caption("The first 20 rows. Direct identifiers are masked on screen only.")
st.dataframe(pd.DataFrame(socrata.columns_table(view)), hide_index=True)

st.subheader("2. Metadata as the portal will show it")
if not view.get("name"):
    st.warning("The dataset has no title yet: fill in the metadata on the Describe page.", icon=":material/warning:")
    st.page_link("pages/describe.py", label="Go to Describe", icon=":material/edit_note:")
st.markdown(f"#### {view.get('name') or '(no title)'}\n\n{view.get('description') or '(no description)'}")
st.table(pd.DataFrame(socrata.portal_fields(view) or [("Other fields", "(none yet)")], columns=["Field", "Value"]))

st.subheader("3. Privacy gate")
if verdict.passed and verdict.exception:
    st.warning("Passed by a recorded exception: the release keeps identifiers on purpose.", icon=":material/gavel:")
elif verdict.passed:
    st.success("Passed: no column counted as a direct identifier is left and every group reaches the threshold.", icon=":material/verified_user:")
else:
    st.error("Blocked: this release may not be published as it is.", icon=":material/block:")
st.markdown("\n".join(f"- {r}" for r in verdict.reasons))
if verdict.passed and (lowered := report.lowered_roles(recipe)):   # the verdict rests on the reviewer's decisions
    st.caption("This rests on your decisions on the Identify page (they are in the report): " + "; ".join(lowered))
exc = recipe.get("exception") or {}
with st.expander("Record an exception (publish identifiers on purpose)", expanded=not verdict.passed and bool(verdict.direct)):
    st.caption("As for a public register of license holders: say why publishing them serves a clear public good.")
    why = st.text_area("Why must these identifiers be published?", value=exc.get("justification", ""), key="pub_exc_why")
    who = st.text_input("Your name (recorded with the exception)", value=exc.get("by") or st.session_state.get("reviewer", ""), key="pub_exc_by")
    if (b := st.columns(2))[0].button("Record the exception", icon=":material/gavel:"):
        if problem := gate.record_exception(recipe, why, who, verdict=verdict):
            st.error(f"Not recorded: {problem}.", icon=":material/error:")
        else:   # the one who records the exception is the report's reviewer unless one is named
            st.session_state["reviewer"] = st.session_state["pub_reviewer"] = st.session_state.get("reviewer") or who.strip()
            st.rerun()
    if exc:
        b[1].button("Withdraw the exception", icon=":material/undo:", on_click=recipe.pop, args=("exception", None))

st.subheader("4. Publish")
st.session_state.setdefault("pub_reviewer", st.session_state.get("reviewer", ""))   # a name typed on Identify
reviewer = st.text_input("Reviewer's name (for the report and the publish log)", key="pub_reviewer")
st.session_state["reviewer"] = reviewer
stem = (view.get("name") or t.source.file or "dataset").replace("/", "-")
shown = copy.deepcopy(review.saved_recipe())   # the review as this page shows it, with the roles it rests on


def report_html() -> str:
    """Built when the officer downloads it (the Review caches it until the review changes)."""
    return review.report(reviewer=reviewer, published=result)


def bundle_zip() -> bytes:
    return bundle.to_zip(bundle.contents(release, shown, report_html=report_html()))


st.download_button("Download the privacy review report (HTML, printable)", report_html, file_name=f"{stem} - privacy review.html",
                   mime="text/html", icon=":material/description:", on_click="ignore")
if creds is None:
    st.info("No portal credentials are set (SOCRATA_USERNAME and SOCRATA_PASSWORD, or an API key, in the environment "
            "or the app's secrets): download the bundle and give it to your portal administrator.", icon=":material/info:")
    if todo := report.open_items(recipe, verdict, release.columns):
        st.warning("Before you hand the bundle over: " + "; ".join(todo) + ".", icon=":material/edit_note:")
    if verdict.passed:
        st.download_button("Download the publication bundle (ZIP)", bundle_zip, file_name=f"{stem} - bundle.zip",
                           mime="application/zip", type="primary", icon=":material/download:", on_click="ignore")
    else:
        st.caption("The bundle can be downloaded once the privacy gate (section 3) passes.")
else:
    portal = st.text_input("Portal", value=target.get("portal") or portal_secrets().get("portal") or settings.DEFAULT_PORTAL, key="pub_portal")
    dataset_id = st.text_input("Existing dataset id, to update it (empty: create a new dataset)", value=target.get("dataset_id") or "",
                               key="pub_dataset_id", placeholder="abcd-1234").strip()
    mode = "create"
    if dataset_id:
        mode = st.radio("How to update its rows", ["replace", "upsert"], horizontal=True, key="pub_mode",
                        format_func={"replace": "Replace all rows", "upsert": "Upsert on a row identifier"}.get)
        if mode == "upsert":
            target["row_identifier"] = st.selectbox("Row identifier (unique per row)", list(release.columns), key="pub_row_id")
    target.update(portal=portal, dataset_id=dataset_id or None, mode=mode)
    label = "Update the dataset" if dataset_id else "Publish privately"
    if st.button(label, type="primary", disabled=not (verdict.passed and view.get("name")), icon=":material/cloud_upload:"):
        bar = st.progress(0.0, text="Starting")
        try:
            res = socrata.publish_logged(release, recipe, portal, creds, dataset_id=dataset_id or None, mode=mode,
                                         by=reviewer or None, progress=lambda share, text: bar.progress(min(max(share, 0.0), 1.0), text=text),
                                         api=portal_secrets().get("api"))   # dsmapi (revisions) unless the secrets say soda
        except CtopenError as err:
            layout.show_error(err)
        else:
            result = results[t.source.sha256] = res.to_dict()
            target.update(dataset_id=res.dataset_id, mode="replace" if mode == "create" else mode)
            st.session_state["pub_new_dataset_id"] = res.dataset_id
            st.rerun()
    if result:
        st.success(f"Dataset {result['dataset_id']} is {'public' if result['public'] else 'private'} on the portal: "
                   f"[{result['url']}]({result['url']})", icon=":material/check_circle:")
        if not result["public"]:
            reviewed = st.checkbox("The team has reviewed the private dataset on the portal", key="pub_reviewed")
            if st.button("Make public", disabled=not (reviewed and verdict.passed), icon=":material/public:"):
                try:
                    done = socrata.make_public_logged(result["dataset_id"], portal, creds, by=reviewer or None,
                                                      api=portal_secrets().get("api"))
                except CtopenError as err:
                    layout.show_error(err)
                else:
                    results[t.source.sha256] = {**result, "public": done.public, "status": done.status}
                    st.rerun()

st.subheader("5. Data Access Plan")
plan = st.file_uploader("Your agency's Data Access Plan workbook (.xlsx); leave empty to start a new one", type=["xlsx"], key="pub_dap_file")
kind = (k := st.columns(2))[0].radio("Portal", dap.PORTALS, horizontal=True, key="pub_dap_portal")
default = "public" if result and result["public"] else "private" if result else "planned"
status = k[1].selectbox("Status", dap.STATUSES, index=dap.STATUSES.index(default), key="pub_dap_status")
if st.button("Add or update this dataset's row", icon=":material/table_edit:"):
    try:
        row = dap.row_from_recipe(recipe, status=status, url=(result or {}).get("url", ""), portal=kind)
        st.session_state["dap_result"] = (t.source.sha256, dap.update_plan(plan.getvalue() if plan else None, row))
    except CtopenError as err:
        layout.show_error(err)
if (st.session_state.get("dap_result") or ("",))[0] == t.source.sha256:
    up = st.session_state["dap_result"][1]
    st.success(f"{'Added' if up.added else 'Updated'} row {up.row} of the sheet {up.sheet!r}.", icon=":material/check:")
    st.download_button("Download the Data Access Plan", up.content, file_name="data-access-plan.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/download:")
layout.next_step("pages/publish.py")
