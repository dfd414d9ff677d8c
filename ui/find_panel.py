"""Find (Step 1): pick a dataset from the high-value data inventory and start a review from it.

The CT Data Catalog comes from the copy saved at the last fetch (no network on page load); a button reads
it again from data.ct.gov. Offline, or for an agency's own list, the inventory workbook can be uploaded.
Plain session keys (survive page changes): find_inventory (ctopen.inventory.Inventory), find_agency.
"""
from __future__ import annotations

import streamlit as st

from ctopen import inventory, settings
from ctopen.errors import CtopenError
from ui import layout, state

ALL = "All agencies"
PUBLISHED = {"Any": None, "Not yet published": "no", "Published": "yes", "Partly published": "partly",
             "Not recorded": "unknown"}
SHOWN = ["agency", "dataset", "description", "published", "update_frequency", "url", "source"]
CONFIG = {"agency": "Agency", "dataset": "Dataset", "description": "Description", "published": "Published?",
          "update_frequency": "Update frequency", "source": "Inventory"}


def _inventory() -> inventory.Inventory | None:
    inv = st.session_state.get("find_inventory")
    if inv is None:
        inv = inventory.cached_catalog()
        st.session_state["find_inventory"] = inv
    return inv


def _get_catalog() -> None:
    try:
        with st.spinner(f"Reading the CT Data Catalog from {settings.DEFAULT_PORTAL}..."):
            st.session_state["find_inventory"] = inventory.read_catalog(refresh=True)
        st.session_state.pop("find_error", None)
    except CtopenError as exc:
        st.session_state["find_error"] = exc


def _upload() -> None:
    up = st.file_uploader("Your agency's inventory file (the High Value Data Inventory workbook, or a CSV)",
                          type=["xlsx", "xlsm", "xls", "csv"], key="find_upload",
                          help="Columns are matched by name: agency, dataset name, description, published, "
                               "update frequency, link. Whatever is not matched is shown as it is.")
    if up is not None and st.session_state.get("find_upload_id") != up.file_id:
        st.session_state["find_upload_id"] = up.file_id
        try:
            with st.spinner(f"Reading {up.name}..."):
                st.session_state["find_inventory"] = inventory.read_inventory_file(up.getvalue(), name=up.name)
            st.session_state.pop("find_error", None)
        except CtopenError as exc:
            st.session_state["find_error"] = exc


def _about(inv: inventory.Inventory) -> None:
    if inv.origin == "catalog":
        st.caption(f"CT Data Catalog, {len(inv.df):,} datasets, read from {settings.DEFAULT_PORTAL} on "
                   f"{(inv.fetched_at or '')[:16].replace('T', ' ')} UTC" + (" (saved copy)." if inv.from_cache else "."))
    else:
        used = ", ".join(f"{inventory.FIELDS[f]['label']} ← '{c}'" for f, c in inv.mapping.items() if c)
        st.caption(f"{inv.source}: {len(inv.df):,} datasets. Columns used: {used}.")
    for w in inv.warnings:
        st.warning(w, icon=":material/warning:")


def _start(row: dict) -> None:
    recipe = state.recipe()
    meta = recipe.setdefault("metadata", {})
    for key, field in (("title", "dataset"), ("agency", "agency"), ("description", "description")):
        if row.get(field):
            meta[key] = row[field]
    recipe["inventory"] = row
    st.session_state["find_started"] = row.get("dataset") or "the dataset"


def render() -> None:
    st.markdown("Start from your agency's **high-value data inventory**: the datasets it recorded as "
                "critical to its work. Pick one to fill in its name, agency and description for the review.")
    c1, c2 = st.columns(2)
    if c1.button("Get the CT Data Catalog from data.ct.gov", icon=":material/cloud_download:"):
        _get_catalog()
    with c2.expander("Offline? Upload your inventory file instead"):
        _upload()
    if st.session_state.get("find_error"):
        layout.show_error(st.session_state["find_error"])
    inv = _inventory()
    if inv is None:
        if not st.session_state.get("find_error"):   # after a failed fetch the error already says what to do
            st.info("No copy of the CT Data Catalog is saved yet: get it from the portal, or upload your "
                    "inventory file.", icon=":material/info:")
        return
    _about(inv)
    agencies = [ALL] + inv.agencies()
    saved = st.session_state.get("find_agency", ALL)
    agency = st.selectbox("Agency", agencies, index=agencies.index(saved) if saved in agencies else 0)
    st.session_state["find_agency"] = agency
    s1, s2 = st.columns([2, 1])
    text = s1.text_input("Search dataset names and descriptions", placeholder="e.g. licenses")
    published = s2.selectbox("Published on the portal?", list(PUBLISHED))
    view = inventory.for_agency(inv, agency) if agency != ALL else inv
    view = inventory.search(view, text, PUBLISHED[published])
    st.caption(f"{len(view.df):,} of {len(inv.df):,} datasets shown. Select a row to start a review from it.")
    event = st.dataframe(view.df[SHOWN], hide_index=True, on_select="rerun", selection_mode="single-row",
                         key="find_table",
                         column_config={**CONFIG, "url": st.column_config.LinkColumn("Link")})
    rows = [i for i in (event.selection.rows if event is not None else []) if i < len(view.df)]
    names = view.df["dataset"].fillna("(no name)") + " — " + view.df["agency"].fillna("(no agency)")
    pick = st.selectbox("Dataset to start a review from", range(len(view.df)), index=rows[0] if rows else None,
                        format_func=lambda i: names.iloc[i], placeholder="Select a row in the table, or choose here")
    row = view.row(pick) if pick is not None and pick < len(view.df) else None
    label = f"Start a review from “{row['dataset']}”" if row else "Start a review from this dataset"
    if st.button(label, type="primary", disabled=row is None, icon=":material/play_arrow:"):
        _start(row)
    if st.session_state.get("find_started"):
        st.success(f"Review started from “{st.session_state['find_started']}”: its name, agency and description "
                   "are in the review's metadata. Now upload the file you would publish (first tab).",
                   icon=":material/check_circle:")
