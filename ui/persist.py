"""Keep the review across a browser reload: the session's plain keys, held on the server under an id in the URL.

A reload starts a new Streamlit session; the `?review=ID` query parameter survives it, and the review
(file, recipe, detection, answers) is restored from this server-side store. It lives as long as the
server process (a restart forgets it: save the review as a file to keep it longer).
"""
from __future__ import annotations

import uuid

import streamlit as st

KEYS = ("table", "file_bytes", "recipe", "detection", "detection_for", "reviewer", "publish_results", "dap_result",
        "transform_history", "transform_pos", "risk_k", "risk_choice", "find_inventory", "find_agency", "find_started",
        "uploaded_id", "pending_review")
MAX_REVIEWS = 50


_REVIEWS: dict = {}   # review id -> the session's plain keys; one per server process


def _store() -> dict:
    return _REVIEWS


def restore() -> None:
    """At the top of every run: restore a reloaded review, or give this session its review id."""
    rid = st.session_state.get("_review_id")
    if rid is None:
        wanted = st.query_params.get("review")
        store = _store()
        if wanted and wanted in store:
            for key, value in store[wanted].items():
                st.session_state[key] = value
            rid = wanted
        else:
            rid = uuid.uuid4().hex[:16]
        st.session_state["_review_id"] = rid
    if st.query_params.get("review") != rid:
        st.query_params["review"] = rid


def save() -> None:
    """At the end of every run: remember the review's plain keys under its id."""
    rid = st.session_state.get("_review_id")
    if rid is None or st.session_state.get("table") is None:
        return
    store = _store()
    store[rid] = {k: st.session_state[k] for k in KEYS if k in st.session_state}
    while len(store) > MAX_REVIEWS:
        store.pop(next(iter(store)))
