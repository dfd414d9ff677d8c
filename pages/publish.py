"""Publish (Step 4): what the Review would send (its release, verdict and portal view), the exception, the
bundle or the portal, and the Data Access Plan row. Kept: recipe["exception"], recipe["target"]; reviewer and
results in plain session keys. The report and the bundle are built when the officer downloads them.

A map release (ctopen.geo.map_location: hexagon or area counts, or points) can go to either portal: the CT Open
Data Portal (Socrata) or the CT Geo Data Portal (ArcGIS Online, ctopen.publish.arcgis), chosen with a radio; the
same review and verdict decide for both. The last result per source file is in publish_results (an ArcGIS one
carries "to": "arcgis"); recipe["target"]["arcgis"] = {"portal", "item_id"} remembers the layer for next month."""
import copy

import pandas as pd
import streamlit as st

from ctopen import dap, geo, report, settings
from ctopen.errors import CtopenError
from ctopen.publish import arcgis, bundle, gate, socrata
from ui import layout, masking, state

layout.header("pages/publish.py")
t = state.require_table()
recipe = state.recipe()
target = recipe.setdefault("target", {})


def portal_secrets() -> dict:
    """The app's [socrata] secrets; none without a secrets file (the usual case: credentials in the environment)."""
    return dict(st.secrets.get("socrata", {})) if st.secrets.load_if_toml_exists() else {}


def arcgis_secrets() -> dict:
    """The app's [arcgis] secrets (url, username, password or api_key, group); none without a secrets file."""
    return dict(st.secrets.get("arcgis", {})) if st.secrets.load_if_toml_exists() else {}


try:
    review = state.review()     # the one review: the same release, verdict and portal view as the sidebar and CLI
    applied = review.applied
    verdict = review.gate
    creds = socrata.credentials_from(portal_secrets())
    view = review.portal_view.view
    release = review.portal_view.rows   # exactly what is sent (formula-like cells neutralised)
    located = geo.map_location(release, recipe)   # a map release may go to the Geo Data Portal too
except CtopenError as exc:
    layout.show_error(exc)
    st.stop()
last = (results := st.session_state.setdefault("publish_results", {})).get(t.source.sha256)   # per source file
result = last if last and last.get("to", "socrata") == "socrata" else None        # the Open Data Portal's
geo_result = last if last and last.get("to") == "arcgis" else None               # the Geo Data Portal's
if "pub_new_dataset_id" in st.session_state:   # a dataset just created: this review now updates it
    st.session_state["pub_dataset_id"] = st.session_state.pop("pub_new_dataset_id")
if "pub_new_arcgis_item" in st.session_state:  # a layer just created: this review now updates it
    st.session_state["pub_arcgis_item"] = st.session_state.pop("pub_new_arcgis_item")

st.subheader("1. What will be published")
slot = st.session_state.setdefault("_publish_changes", {})
if slot.get("of") is not applied:   # recomputed only with the release
    slot.update(of=applied, value=report.changes(t.df, applied))
changes, (c1, c2, c3) = slot["value"], st.columns(3)
c1.metric("Cells in the count table" if changes.counts else "Records in the release", f"{len(release):,}", None if changes.counts or len(release) == len(t.df) else f"{len(release) - len(t.df):,} vs the upload")
c2.metric("Columns in the release", len(release.columns))
c3.metric("Cells suppressed", f"{changes.cells_suppressed:,}")
st.markdown("\n".join(f"- {line}" for line in changes.lines()))
preview = masking.mask_frame(release.head(20), masking.release_direct_columns())   # follows renames
# a suppressed count is published empty: shown empty here too, not as "None"
st.dataframe(preview.astype(object).where(preview.notna(), ""), hide_index=True)
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
    return review.report(reviewer=reviewer, published=last)


def bundle_zip() -> bytes:
    return bundle.to_zip(bundle.contents(release, shown, report_html=report_html()))


st.download_button("Download the privacy review report (HTML, printable)", report_html, file_name=f"{stem} - privacy review.html",
                   mime="text/html", icon=":material/description:", on_click="ignore")
PORTAL_CHOICES = {"socrata": "CT Open Data Portal (data.ct.gov): a table",
                  "arcgis": f"CT Geo Data Portal ({settings.GEO_PORTAL_SITE}): a map layer"}
to = "socrata"
if located is not None:   # both portals for a map release; the Geo Data Portal first (a map is the natural release)
    kinds = {"h3": "H3 hexagons", "area": "town or county points", "point": "points", "geometry": "shapes"}
    st.caption(f"This release is a map ({kinds.get(located['kind'], located['kind'])}, {len(release):,} features): "
               "publish it as a table, as a map layer, or both.")
    if "pub_to" not in st.session_state:
        st.session_state["pub_to"] = "socrata" if result and not geo_result else "arcgis"
    to = st.radio("Where to publish", list(PORTAL_CHOICES), format_func=PORTAL_CHOICES.get, horizontal=True, key="pub_to")


def geo_section() -> None:
    """The Geo Data Portal: the layer published privately, reviewed, then shared (everyone + open-data group)."""
    secrets = arcgis_secrets()
    try:
        acreds = arcgis.credentials_from(secrets)
    except CtopenError as err:
        layout.show_error(err)
        return
    if acreds is None:
        st.info("No ArcGIS credentials are set (ARCGIS_USERNAME and ARCGIS_PASSWORD, or ARCGIS_API_KEY, in the environment "
                "or the app's [arcgis] secrets): download the bundle (it holds the layer as GeoJSON, zipped shapefile "
                "and GeoPackage, and the item's metadata) and give it to your GIS administrator.", icon=":material/info:")
        if verdict.passed:
            st.download_button("Download the publication bundle (ZIP)", bundle_zip, file_name=f"{stem} - bundle.zip",
                               mime="application/zip", type="primary", icon=":material/download:", on_click="ignore",
                               key="pub_geo_bundle")
        else:
            st.caption("The bundle can be downloaded once the privacy gate (section 3) passes.")
        return
    saved = target.get("arcgis") if isinstance(target.get("arcgis"), dict) else {}
    fixed = arcgis.setting("url", secrets)      # the organisation set by the administrator: credentials go only there
    if fixed:
        portal = st.text_input("ArcGIS organisation of the Geo Data Portal", value=fixed, disabled=True,
                               key="pub_arcgis_portal_fixed", help="Set by ARCGIS_URL: credentials are sent only there.")
        if saved.get("portal") and not _same(saved["portal"], fixed):
            st.warning(f"The review names the organisation {saved['portal']}; this app publishes to {fixed} "
                       "(ARCGIS_URL). The review's layer id is not used.", icon=":material/warning:")
            saved = {}
    else:   # typed by the officer, never taken from the review (a shared file): credentials go where they type
        portal = st.text_input("ArcGIS organisation of the Geo Data Portal", key="pub_arcgis_portal",
                               placeholder="https://ORG.maps.arcgis.com").strip()
        if saved.get("portal") and not (portal and _same(saved["portal"], portal)):
            st.caption(f"This review's layer is in the organisation {saved['portal']}: type that address above if it "
                       "is yours, to replace the layer's data.")
    st.session_state.setdefault("pub_arcgis_item", saved.get("item_id") or "")
    item = st.text_input("Existing layer's item id, to replace its data (empty: a new layer)", key="pub_arcgis_item",
                         placeholder="32 letters and digits: the id=… in the layer's page address").strip()
    label = "Replace the layer's data" if item else "Publish the layer privately"
    ready = verdict.passed and view.get("name") and portal
    if not portal:
        st.caption("Give the organisation's address (ask your GIS administrator) to publish.")
    if st.button(label, type="secondary" if geo_result else "primary", disabled=not ready, icon=":material/cloud_upload:",
                 key="pub_arcgis_go"):
        bar = st.progress(0.0, text="Starting")
        try:
            res = arcgis.publish_logged(geo.to_geojson(release, located), recipe, portal, acreds, item_id=item or None,
                                        group=arcgis.setting("group", secrets), by=reviewer or None, rows=len(release),
                                        columns=list(release.columns),
                                        progress=lambda share, text: bar.progress(min(max(share, 0.0), 1.0), text=text))
        except CtopenError as err:
            layout.show_error(err)
        else:
            results[t.source.sha256] = {**res.to_dict(), "dataset_id": res.item_id, "to": "arcgis",
                                        "portal": arcgis.portal_url(portal)}
            target["arcgis"] = {"portal": arcgis.portal_url(portal), "item_id": res.item_id}
            st.session_state["pub_new_arcgis_item"] = res.item_id
            st.rerun()
    if geo_result:
        where = "public on the Geo Data Portal" if geo_result["public"] else "private in the Geo Data Portal's organisation"
        st.success(f"Layer {geo_result['item_id']} is {where}: [{geo_result['url']}]({geo_result['url']})",
                   icon=":material/check_circle:")
        st.caption("Shared with: " + (f"everyone and the group “{geo_result.get('group')}”" if geo_result.get("group") else
                                      "everyone" if geo_result["public"] else
                                      "no one yet: only your account sees it until you make it public") +
                   f". {geo_result.get('features', 0):,} features.")
        if not geo_result["public"]:
            reviewed = st.checkbox("The team has reviewed the private layer on the portal", key="pub_arcgis_reviewed")
            if st.button("Make public (share with everyone and the open-data group)", disabled=not (reviewed and verdict.passed),
                         icon=":material/public:", key="pub_arcgis_public"):
                try:
                    done = arcgis.share_public_logged(geo_result["item_id"], geo_result.get("portal") or portal, acreds,
                                                      group=arcgis.setting("group", secrets), by=reviewer or None)
                except CtopenError as err:
                    layout.show_error(err)
                else:
                    results[t.source.sha256] = {**geo_result, "public": True, "status": "public", "group": done.group}
                    st.rerun()


def _same(a: str, b: str) -> bool:
    try:
        return arcgis.same_portal(a, b)
    except CtopenError:
        return False


if to == "arcgis":
    geo_section()
elif creds is None:
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
outcome = (dap.portal_of(last), bool(last["public"])) if last else ("Geo Data" if to == "arcgis" else "Open Data", None)
if st.session_state.get("_pub_dap_for") != outcome:   # a new publish result (or portal choice): the row follows it
    st.session_state["pub_dap_portal"] = outcome[0]
    st.session_state["pub_dap_status"] = "planned" if outcome[1] is None else "public" if outcome[1] else "private"
    st.session_state["_pub_dap_for"] = outcome
kind = (k := st.columns(2))[0].radio("Portal", dap.PORTALS, horizontal=True, key="pub_dap_portal",
                                     format_func=dap.PORTAL_LABELS.get)
done = last if last and dap.portal_of(last) == kind else None   # the result on the portal this row is about
status = k[1].selectbox("Status", dap.STATUSES, key="pub_dap_status")
if st.button("Add or update this dataset's row", icon=":material/table_edit:"):
    try:
        row = dap.row_from_recipe(recipe, status=status, url=(done or {}).get("url", ""), portal=kind)
        st.session_state["dap_result"] = (t.source.sha256, dap.update_plan(plan.getvalue() if plan else None, row))
    except CtopenError as err:
        layout.show_error(err)
if (st.session_state.get("dap_result") or ("",))[0] == t.source.sha256:
    up = st.session_state["dap_result"][1]
    st.success(f"{'Added' if up.added else 'Updated'} row {up.row} of the sheet {up.sheet!r}.", icon=":material/check:")
    st.download_button("Download the Data Access Plan", up.content, file_name="data-access-plan.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/download:")
layout.next_step("pages/publish.py")
