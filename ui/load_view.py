"""How the Load page shows a loaded table: what was inferred, a preview, the column profile."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ctopen.load import Table
from ctopen.profile import profile
from ui import masking


def summary(table: Table) -> None:
    src = table.source
    st.subheader(f"{src.file}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows", f"{len(table.df):,}", help="Data rows only: the header, titles and footnotes are not counted.")
    c2.metric("Columns", f"{table.df.shape[1]:,}")
    c3.metric("Format", src.format.upper() + (f" · sheet '{src.sheet}'" if src.sheet else ""))
    inferred = {
        "Format": src.format.upper(),
        "Encoding": src.encoding or "(binary format)",
        "Delimiter": {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}.get(src.delimiter, src.delimiter) or "(not a text file)",
        "Header row": f"row {src.header_row}",
        "Sheet": f"{src.sheet} (of {len(src.sheets)}: {', '.join(src.sheets)})" if src.sheet else "(not a workbook)",
        "Size": f"{src.size_bytes / 1024:,.0f} KB",
        "Fingerprint (SHA-256)": src.sha256[:16] + "…",
    }
    with st.expander("What the loader inferred", expanded=bool(table.warnings)):
        st.table(pd.DataFrame({"": list(inferred.keys()), "Read as": list(inferred.values())}).set_index(""))
        if not src.skipped:
            st.write("Nothing was skipped: every row and column of the file is in the table.")
    for w in table.warnings:
        st.warning(w, icon=":material/warning:")


def preview(table: Table, rows: int = 50) -> None:
    st.subheader("Preview")
    shown = masking.mask_frame(table.df.head(rows))
    st.caption(f"The first {min(rows, len(table.df))} of {len(table.df):,} rows"
               + (" (values of columns marked as direct identifiers are masked)." if masking.direct_columns() else "."))
    st.dataframe(shown, hide_index=True, width="stretch")


def column_profile(table: Table) -> None:
    st.subheader("Column profile")
    direct = masking.direct_columns()
    rows = []
    for p in profile(table):
        hide = p.name in direct
        rows.append({
            "Column": p.name, "Type": p.type, "Filled": p.non_empty, "Distinct": p.distinct,
            "Unique share": p.share_unique, "Min": p.min, "Max": p.max,
            "Most common": ", ".join(f"{masking.mask(t['value']) if hide else t['value']} ({t['count']:,})" for t in p.top[:3]),
            "Examples": ", ".join(masking.mask(e) if hide else e for e in p.examples),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"Unique share": st.column_config.ProgressColumn("Unique share", format="percent", min_value=0, max_value=1)})
