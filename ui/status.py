"""The sidebar's review status: what is done and what still blocks publication (derived, never stored)."""
from __future__ import annotations

import streamlit as st

from ui import state


def render() -> None:
    with st.sidebar:
        st.markdown("**Review status**")
        table = state.table()
        if table is None:
            st.write("No file loaded yet.")
            return
        st.write(f"File: {table.source.file} ({len(table.df):,} rows)")
