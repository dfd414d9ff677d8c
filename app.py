"""ctopen: entry point. Page config and navigation only; each step of the flow is a file in pages/."""
import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # presidio must not reach the network

import streamlit as st

from ui import layout, persist, status

st.set_page_config(page_title="ctopen: privacy review for CT open data", page_icon=":material/shield_person:", layout="wide")

nav = st.navigation([st.Page(p.path, title=p.title, url_path=p.url, default=(i == 0)) for i, p in enumerate(layout.PAGES)], position="top")
persist.restore()
# The sidebar's status is drawn before the page (so it shows even when a page stops early) and drawn again
# after it, so it reflects what the page just did; "Save" comes after the page so it saves this run's changes.
status_slot = status.slot()
status.render(status_slot)
status.open_review()
persist.save()
nav.run()
status.render(status_slot)
status.save_review()
persist.save()
