"""One masking of direct-identifier values wherever the app shows them (ctopen.detect.mask).

Which columns are direct identifiers is the Review's answer (ctopen.review): for the loaded table its roles,
for the release its release roles, which follow a rename ("SSN" renamed "Id" is still masked).
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from ctopen.detect import mask
from ctopen.review import decide_roles
from ui import state

__all__ = ["mask", "direct_columns", "release_direct_columns", "mask_frame"]


def direct_columns() -> set[str]:
    """Columns of the loaded table whose effective role is `direct`. Detection is not started here (the Load
    page shows the table before Identify): until it ran, only the reviewer's recorded roles count."""
    t = state.table()
    if t is None:
        return set()
    if st.session_state.get("detection_for") == t.source.sha256 and "detection" in st.session_state:
        roles = state.review().roles
    else:
        roles = {c: r.role for c, r in decide_roles(list(t.df.columns), None, state.recipe()).items()
                 if r.origin == "reviewer"}
    return {c for c, r in roles.items() if r == "direct"}


def release_direct_columns() -> set[str]:
    """Columns of the release table that hold a direct identifier, under their published names."""
    return {c for c, r in state.review().release_roles.items() if r == "direct"}


def mask_frame(df: pd.DataFrame, direct: Iterable[str] | None = None) -> pd.DataFrame:
    """`df` with the values of its direct-identifier columns masked (`direct`: those columns; by default the
    loaded table's)."""
    direct = set(direct_columns() if direct is None else direct)
    cols = [c for c in df.columns if c in direct]
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(lambda v: v if pd.isna(v) else mask(v))
    return out
