"""Load: upload a spreadsheet (or try the sample) and see exactly what was read."""
import streamlit as st

from ctopen import settings
from ctopen.errors import CtopenError
from ctopen.load import load
from ui import find_panel, large_file, layout, load_view, state, status

layout.header("pages/load.py")


def _load(data: bytes, name: str, sheet: str | None = None) -> None:
    try:
        with st.spinner(f"Reading {name}..."):
            table = load(data, name=name, sheet=sheet)
    except CtopenError as exc:
        st.session_state["load_error"] = str(exc)
        return
    st.session_state.pop("load_error", None)
    large_file.forget_upload()      # a large upload's disk copy goes with its review
    state.set_table(table, data)


upload_tab, find_tab = st.tabs(["Upload a file", "Find in the high-value data inventory"])
with upload_tab:
    uploaded = st.file_uploader(
        "Spreadsheet to review (CSV, TSV, TXT, Excel .xlsx/.xlsm/.xls, Parquet, JSON or GeoJSON)",
        type=["csv", "tsv", "txt", "tab", "xlsx", "xlsm", "xls", "parquet", "json", "geojson"],
        help=f"Up to {settings.MAX_FILE_MB} MB. Nothing leaves this computer until you publish.",
    )
    if uploaded is not None and st.session_state.get("uploaded_id") != uploaded.file_id:
        st.session_state["uploaded_id"] = uploaded.file_id
        if large_file.too_large(uploaded.name, uploaded.size):
            # too large to load in memory: copied to the disk and reviewed on DuckDB, never parsed into a table
            large_file.open_large(large_file.save_upload(uploaded), uploaded.name, uploaded=True)
        else:
            _load(uploaded.getvalue(), uploaded.name)
    if st.button("Try a sample: Accidental Drug Related Deaths 2012-2018", icon=":material/science:"):
        _load(settings.SAMPLE_FILE.read_bytes(), settings.SAMPLE_FILE.name)
    with st.expander("A file too large to upload? Open it by its path on this computer"):
        st.caption(f"CSV or Parquet files over {settings.ENGINE_AUTO_MB:g} MB are reviewed on DuckDB without loading "
                   "them into the app (docs/large-files.md). The app opens paths only inside the folders its server "
                   f"allows: {'; '.join(str(f) for f in large_file.allowed_folders())}.")
        typed = st.text_input("Full path of the file", key="large_path", placeholder="/data/extracts/claims_2024.csv")
        if st.button("Open this file", icon=":material/folder_open:"):
            try:
                path = large_file.check_path(typed)
                if large_file.too_large(path.name, path.stat().st_size):
                    large_file.open_large(path, path.name, uploaded=False)
                    st.session_state.pop("load_error", None)
                else:
                    _load(path.read_bytes(), path.name)
            except CtopenError as exc:
                st.session_state["load_error"] = str(exc)
with find_tab:
    find_panel.render()

if st.session_state.get("load_error"):
    st.error(st.session_state["load_error"], icon=":material/error:")

def _ordinary(table) -> None:
    src = table.source
    if len(src.sheets) > 1:
        choice = st.selectbox("Sheet to review (the portal imports only the first tab)", src.sheets,
                              index=src.sheets.index(src.sheet))
        if choice != src.sheet and st.session_state.get("file_bytes"):
            _load(st.session_state["file_bytes"], src.file, sheet=choice)
            st.rerun()
    status.offer_previous()
    load_view.summary(table)
    load_view.preview(table)
    load_view.column_profile(table)
    layout.next_step("pages/load.py", "Next: Evaluate whether this dataset may be published")


big = large_file.current()
table = state.table()
if big is not None:
    large_file.render(big)      # no st.stop(): the sidebar is drawn again after the page (it names the file)
elif table is None:
    st.info("Upload a file or try the sample to begin. The review follows the state's open data guidance, "
            "one step per tab at the top.", icon=":material/info:")
    st.stop()
else:
    _ordinary(table)
