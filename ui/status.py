"""The sidebar: where the review stands (derived from the review state, never stored), save and open a review."""
from __future__ import annotations

import streamlit as st

from ctopen import review, settings
from ctopen.errors import CtopenError
from ctopen.load import load
from ui import state

ICONS = {review.DONE: ":material/check_circle:", review.TODO: ":material/radio_button_unchecked:",
         review.BLOCKED: ":material/block:"}


def current() -> review.ReviewStatus:
    """The review's status: the session's Review's, the same figures every page shows."""
    t = state.table()
    if t is None:
        return review.status()
    identified = st.session_state.get("detection_for") == t.source.sha256 and "detection" in st.session_state
    return state.review().status(identified=identified,
                                 published=(st.session_state.get("publish_results") or {}).get(t.source.sha256))


def slot():
    """The sidebar place the status is drawn into (twice per run: before and after the page)."""
    with st.sidebar:
        st.markdown("### Review status")
        return st.empty()


def render(place) -> None:
    try:
        now = current()
    except CtopenError as exc:
        place.error(str(exc))
        return
    big = st.session_state.get("large_file") if state.table() is None else None
    with place.container():
        if big:   # a file too large to load (ui.large_file): reviewed on DuckDB from the Load page
            st.markdown(f":material/database: **Load** · On DuckDB: {big['name']} is too large to load here; its "
                        "figures and release are on the Load page.")
            return
        for step in now.steps:
            st.markdown(f"{ICONS[step.state]} **{step.title}** · {step.word}: {step.text}")
        if now.blockers:
            st.caption(f"{len(now.blockers)} thing(s) still block publication.")


def offer_previous() -> None:
    """After a new file was loaded (on the Load page): offer, never impose, the previous review's metadata and
    answers."""
    prev = st.session_state.get("previous_review")
    if not prev or state.table() is None:
        return
    with st.container(border=True):
        st.info(f"This is a new review. The previous one ({prev.get('file')}) had metadata or eligibility answers.",
                icon=":material/history:")
        if st.button("Reuse its metadata and eligibility answers", icon=":material/content_copy:",
                     help="Copies the title, description, agency, tags, dates, eligibility answers and portal of "
                          "the previous review into this one. Roles and steps are not copied: they belong to the "
                          "other file's columns. Check every field: the checklist counts them as answered."):
            copied = state.reuse_previous()
            st.session_state["review_message"] = ("info", "Reused from the previous review: " + ", ".join(copied) + "."
                                                  if copied else "The previous review had nothing to reuse.")
            st.rerun()
        if st.button("Start fresh", icon=":material/close:", key="previous_review_dismiss"):
            st.session_state.pop("previous_review", None)
            st.rerun()


def save_review() -> None:
    t = state.table()
    if t is None:
        return
    identified = st.session_state.get("detection_for") == t.source.sha256 and "detection" in st.session_state
    # once roles are reviewed, the saved review carries every column's role the verdict rests on
    doc = state.review().saved_recipe() if identified else state.recipe()
    with st.sidebar:
        st.download_button("Save this review", review.dumps(doc, st.session_state.get("reviewer")),
                           file_name=f"review-{t.source.file.rsplit('.', 1)[0]}.json", mime="application/json",
                           icon=":material/save:", help="The recipe, roles, decisions, metadata and answers "
                           "(not the data). Open it later with the same file.")


def open_review() -> None:
    with st.sidebar:
        st.divider()
        upload = st.file_uploader("Open a saved review (.json)", type=["json"], key="review_upload")
        if upload is not None and st.session_state.get("review_upload_id") != upload.file_id:
            st.session_state["review_upload_id"] = upload.file_id
            try:
                adopt_file(upload.getvalue(), upload.name)
            except CtopenError as exc:
                st.session_state["review_message"] = ("error", str(exc))
            st.rerun()
        kind, text = st.session_state.get("review_message", (None, None))
        if text:
            (st.error if kind == "error" else st.info)(text)


def adopt_file(data: bytes, name: str) -> None:
    doc = review.loads(data, name=f"The review file {name}")
    t = state.table()
    if t is None and review.fingerprint(doc) == _sample_sha():
        state.set_table(load(settings.SAMPLE_FILE), settings.SAMPLE_FILE.read_bytes())
        t = state.table()
    if t is not None and review.matches(doc, t.source.sha256):
        state.adopt_review(doc)
        st.session_state["review_message"] = ("info", f"Review opened: {review.source_line(doc)}.")
    else:
        st.session_state["pending_review"] = doc
        st.session_state["review_message"] = (
            "info", f"This review was made on {review.source_line(doc)}. Load that file on the Load page: "
                    "the review is applied as soon as its fingerprint matches.")


@st.cache_data
def _sample_sha() -> str:
    return load(settings.SAMPLE_FILE).source.sha256
