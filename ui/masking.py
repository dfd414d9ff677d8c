"""Consistent masking of direct-identifier values wherever the app shows them."""
from __future__ import annotations

import pandas as pd
import streamlit as st


def mask(value) -> str:
    try:
        from ctopen.detect import mask as core_mask
    except ImportError:  # detect not built yet
        s = "" if value is None else str(value)
        return s[:1] + "•" * max(len(s) - 1, 0)
    return core_mask(value)


def direct_columns() -> set[str]:
    """Columns whose effective role is `direct` (only once detection or the user has said so)."""
    recipe = st.session_state.get("recipe") or {}
    detected = st.session_state.get("detection")
    roles = {c.name: c.role for c in detected.columns} if detected is not None else {}
    roles.update(recipe.get("roles", {}))
    return {c for c, r in roles.items() if r == "direct"}


def mask_frame(df: pd.DataFrame) -> pd.DataFrame:
    direct = [c for c in df.columns if c in direct_columns()]
    if not direct:
        return df
    out = df.copy()
    for c in direct:
        out[c] = out[c].map(lambda v: v if pd.isna(v) else mask(v))
    return out
