"""The review held in st.session_state, in plain keys that survive page changes.

Keys (plain session keys, never widget keys, so they survive leaving a page):
  table      ctopen.load.Table            the loaded file
  file_bytes bytes                        the uploaded file, to reload a saved review
  recipe     dict                         the review: version, source, roles, steps, metadata,
                                          target, decisions, eligibility, exception (docs/recipe.md)
  detection  ctopen.detect result         detected roles of the loaded table (Identify)
Derived things (release table, risk report, status) are computed from these, never stored twice.
"""
from __future__ import annotations

import streamlit as st

from ctopen.load import Table


def table() -> Table | None:
    return st.session_state.get("table")


def set_table(t: Table, file_bytes: bytes | None = None) -> None:
    """A new file starts a new review (the recipe keeps metadata and eligibility answers)."""
    st.session_state["table"] = t
    st.session_state["file_bytes"] = file_bytes
    old = st.session_state.get("recipe") or {}
    st.session_state["recipe"] = new_recipe(t, keep=old)
    st.session_state.pop("detection", None)


def new_recipe(t: Table, keep: dict | None = None) -> dict:
    keep = keep or {}
    return {
        "version": 1,
        "source": t.source.to_dict(),
        "roles": {},
        "steps": [],
        "metadata": keep.get("metadata", {}),
        "target": keep.get("target", {}),
        "eligibility": keep.get("eligibility", {}),
    }


def recipe() -> dict:
    if "recipe" not in st.session_state:
        st.session_state["recipe"] = {"version": 1, "roles": {}, "steps": [], "metadata": {}, "target": {}}
    return st.session_state["recipe"]


def require_table() -> Table:
    """The empty state: a page that needs a loaded file says so, links to Load, and stops."""
    t = table()
    if t is None:
        st.info("No file is loaded yet. Load a spreadsheet first (or try the sample).", icon=":material/info:")
        st.page_link("pages/load.py", label="Go to Load", icon=":material/upload_file:")
        st.stop()
    return t
