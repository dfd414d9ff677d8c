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


# Session keys that belong to the session or the officer, not to one file's review: a new file keeps them.
KEEP_ON_NEW_FILE = ("table", "file_bytes", "recipe", "reviewer", "_w_reviewer", "uploaded_id", "load_error",
                    "pending_review", "review_upload", "review_upload_id", "review_message", "publish_results",
                    "previous_review", "find_inventory", "find_agency", "find_started", "find_error", "find_upload",
                    "find_upload_id", "find_table")


def set_table(t: Table, file_bytes: bytes | None = None) -> None:
    """A new file starts a new review: nothing of the previous one (answers, metadata, roles, steps, the
    recommender's and the pages' settings) is carried over. The previous review is kept aside, so the officer
    can ask to reuse its metadata and answers (`reuse_previous`); a saved review waiting for this file is
    adopted. A review started on Find before any file was loaded keeps its inventory row and metadata.
    Re-reading the same file (another sheet, the same bytes) is a new review too."""
    old = st.session_state.get("recipe") or {}
    old_table = st.session_state.get("table")
    if old_table is not None and (old.get("metadata") or old.get("eligibility")):
        st.session_state["previous_review"] = {"file": old_table.source.file, "recipe": old}
    for key in [k for k in list(st.session_state) if k not in KEEP_ON_NEW_FILE and not str(k).startswith("$$")]:
        st.session_state.pop(key, None)   # every derived cache and every page's widget state
    st.session_state["table"] = t
    st.session_state["file_bytes"] = file_bytes
    st.session_state["recipe"] = new_recipe(t)
    if old_table is None and old.get("inventory"):
        # the review was started on Find (an inventory row, before any file): this file is its data
        st.session_state["recipe"].update({k: old[k] for k in ("inventory", "metadata") if old.get(k)})
    pending = st.session_state.get("pending_review")
    if pending is not None and (pending.get("source") or {}).get("sha256") == t.source.sha256:
        adopt_review(pending)


REUSABLE = ("metadata", "eligibility", "inventory", "target")


def reuse_previous() -> list[str]:
    """Copy the previous review's metadata, eligibility answers, inventory row and portal (not the dataset
    id, roles or steps: those are about the old file's columns) into this review, on the officer's request.
    Returns what was copied."""
    prev = (st.session_state.pop("previous_review", None) or {}).get("recipe") or {}
    r = recipe()
    copied = []
    for key in REUSABLE:
        value = prev.get(key)
        if key == "target" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "dataset_id"}
        if key == "metadata" and isinstance(value, dict) and isinstance(value.get("columns"), dict):
            columns = set(table().df.columns) if table() is not None else set()
            value = {**value, "columns": {c: d for c, d in value["columns"].items() if c in columns}}
        if value:
            r[key] = value
            copied.append(key)
    return copied


def adopt_review(doc: dict) -> None:
    """Continue a saved review on the loaded table (its fingerprint already checked by the caller)."""
    t = table()
    doc = dict(doc)
    doc.pop("review", None)
    doc["source"] = t.source.to_dict()
    st.session_state["recipe"] = doc
    st.session_state.pop("pending_review", None)
    for key in ("transform_history", "transform_pos"):
        st.session_state.pop(key, None)


def new_recipe(t: Table) -> dict:
    return {"version": 1, "source": t.source.to_dict(), "roles": {}, "steps": [], "metadata": {}, "target": {},
            "eligibility": {}}


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


# --- derived state -------------------------------------------------------------------------

@st.cache_resource(show_spinner="Preparing the identifier detector (once per server)...")
def analyzer_engine():
    """The Presidio engine, built once per server process."""
    from ctopen.detect import build_engine
    return build_engine()


def detection():
    """Detected roles of the loaded table (computed once per file, kept in session state)."""
    t = table()
    if t is None:
        return None
    if st.session_state.get("detection_for") != t.source.sha256 or "detection" not in st.session_state:
        from ctopen.detect import detect
        with st.spinner("Looking for identifiers in every column..."):
            st.session_state["detection"] = detect(t.df, engine=analyzer_engine())
        st.session_state["detection_for"] = t.source.sha256
    return st.session_state["detection"]


def review():
    """The session's one Review of the loaded table and its recipe (ctopen.review.Review): pages, the sidebar,
    the report and the bundle read it; it recomputes a part only when what that part depends on changed."""
    t = table()
    if t is None:
        return None
    from ctopen.review import Review
    key = pseudonym_key()
    rv = st.session_state.get("_review_obj")
    if rv is None or rv.df is not t.df or rv.key != key:
        rv = Review(t.df, recipe(), source=t.source.to_dict(), detector=lambda _df: detection(), key=key)
        st.session_state["_review_obj"] = rv
    rv.recipe = recipe()
    return rv


def roles() -> dict[str, str]:
    """Effective roles (the Review's: detection on the loaded table and the recorded decisions), also under
    the name a rename gives a column."""
    r = review()
    if r is None:
        return {}
    out = dict(r.roles)
    from ctopen.recipe import renames
    for old, new in renames(recipe()).items():   # a renamed column keeps its role under its published name
        if old in out:
            out.setdefault(new, out[old])
    return out


def pseudonym_key() -> bytes | None:
    import os

    from ctopen.settings import PSEUDONYM_KEY_ENV
    value = os.environ.get(PSEUDONYM_KEY_ENV)
    if not value and st.secrets.load_if_toml_exists():   # no secrets file at all is the usual case
        value = st.secrets.get("ctopen", {}).get("pseudonym_key")
    return value.encode() if value else None


def gate():
    """The privacy gate's verdict on the release (the Review's)."""
    return review().gate


def release():
    """The table as it would be released (the Review's `applied`: .df, .log, .suppressed)."""
    return review().applied
