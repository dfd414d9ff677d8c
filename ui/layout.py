"""The flow's pages, in the order of the state's guidance, and the parts every page shares."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ctopen.errors import CtopenError


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    url: str
    why: str   # one line, in the guidance's own terms


PAGES = [
    PageInfo("pages/load.py", "Load", "load",
             "Step 1: start from a dataset in your agency's high-value data inventory and load the file you would publish."),
    PageInfo("pages/evaluate.py", "Evaluate", "evaluate",
             "Step 2: only data the agency owns, free of fees and legal restrictions, regularly updated and respecting privacy may be published."),
    PageInfo("pages/identify.py", "Identify", "identify",
             "Unique identifiers, quasi-identifiers and sensitive attributes must be removed or aggregated before release."),
    PageInfo("pages/risk.py", "Risk", "risk",
             "Even without names, a rare combination of age, sex, race and town can single out a resident."),
    PageInfo("pages/transform.py", "Transform", "transform",
             "Aggregate, generalize or remove identifiers until no one can be picked out of the release."),
    PageInfo("pages/describe.py", "Describe", "describe",
             "Step 3: clear titles without jargon, complete metadata and an update frequency make data usable."),
    PageInfo("pages/publish.py", "Publish", "publish",
             "Step 4: publish privately on the CT Open Data Portal, review, then make public and update the Data Access Plan."),
]


def page(path: str) -> PageInfo:
    return next(p for p in PAGES if p.path == path)


def page_by_url(url: str) -> PageInfo:
    return next(p for p in PAGES if p.url == url)


def header(path: str) -> None:
    """Title and the one-line why of a page."""
    info = page(path)
    st.title(info.title)
    st.caption(info.why)


def next_step(path: str, label: str | None = None) -> None:
    """The "Next" action at the bottom of a page."""
    i = [p.path for p in PAGES].index(path)
    if i + 1 < len(PAGES):
        nxt = PAGES[i + 1]
        st.divider()
        st.page_link(nxt.path, label=label or f"Next: {nxt.title}", icon=":material/arrow_forward:")


def show_error(exc: CtopenError) -> None:
    st.error(str(exc))
