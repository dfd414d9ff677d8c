"""Evaluate page (placeholder until its issue lands)."""
import streamlit as st

from ui import layout, state

layout.header("pages/evaluate.py")
state.require_table()
st.info("This step is being built. Meanwhile, load a file on the Load page.", icon=":material/construction:")
layout.next_step("pages/evaluate.py")
