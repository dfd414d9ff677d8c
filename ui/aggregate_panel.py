"""The "Publish counts instead of records" panel of the Transform page (issue 6).

The user picks the dimensions (each possibly generalized first: town -> county, date -> year), the
threshold, totals and an optional measure, and sees the count table that would be published, with the
suppressed cells marked and why. "Use these counts" writes generalize steps and the aggregate step into
the recipe (the aggregate step is always last).
"""
from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from ctopen.errors import CtopenError
from ctopen.recipe import COUNT_OPS
from ui import layout, state

# hierarchy choices offered per dimension: label -> (hierarchy name, options)
LADDERS = {
    "date": ("date", {}),
    "age": ("age", {}),
    "ZIP code": ("zip", {}),
    "CT town -> county": ("ct_town", {}),
    "CT town -> planning region": ("ct_town", {"via": "planning_region"}),
}
DEFAULT_LEVEL = {"date": 3, "age": 2}   # year; 10-year bands
STATS = {"sum": "Sum", "mean": "Average", "percent": "Percent with a yes value"}
TRIED = "aggregate_tried"


def render() -> None:
    t = state.table()
    if t is None:
        st.caption("Load a file first.")
        return
    st.caption("Publish a table of counts (for example by county, year, sex and race) instead of the records. "
               "Following the CT Open Data Handbook, counts of 1 to 5 are suppressed, and so is the next "
               "smallest cell wherever a suppressed cell could be worked out from a total.")
    recipe = state.recipe()
    steps = recipe.get("steps", [])
    current = next((s for s in steps if s.get("op") == "aggregate"), None) or {}
    roles = state.roles()
    try:
        base = _base(t, steps)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    options = [c for c in base.columns if roles.get(c) != "direct"]
    by = st.multiselect("Count by (the table's dimensions)", options,
                        default=[c for c in current.get("by", []) if c in options],
                        help="Identifiers are not offered: counting by them would publish their values.")
    levels = {}
    for col in by:
        levels[col] = _ladder_widget(col, steps)
    c1, c2 = st.columns(2)
    threshold = c1.number_input("Suppress counts from 1 up to", min_value=1, max_value=100, step=1,
                                value=int(current.get("threshold", 5)))
    totals = c2.checkbox("Include totals", value=bool(current.get("totals", True)))
    m_old = (current.get("measures") or [{}])[0]
    m1, m2 = st.columns(2)
    mcols = ["(none)"] + [c for c in base.columns if c not in by and roles.get(c) != "direct"]
    mcol = m1.selectbox("Also publish a measure of", mcols,
                        index=mcols.index(m_old["column"]) if m_old.get("column") in mcols else 0)
    stat = m2.selectbox("Measure", list(STATS), format_func=STATS.get, disabled=mcol == "(none)",
                        index=list(STATS).index(m_old.get("stat", "sum")) if m_old.get("stat") in STATS else 0)
    measures = [] if mcol == "(none)" else [{"column": mcol, "stat": stat}]
    if not by:
        st.info("Choose at least one column to count by.", icon=":material/info:")
        return
    try:
        table = _table(t, base, by, levels, int(threshold), totals, measures)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    _show(table, by, levels)
    step = {"op": "aggregate", "by": by, "threshold": int(threshold), "totals": bool(totals), "measures": measures}
    a, b = st.columns(2)
    unsafe = table.exact_check != "passed"   # a suppressed cell could be worked out: not a table to publish
    a.button("Use these counts in the recipe", icon=":material/table_chart:", type="primary", disabled=unsafe,
             on_click=_use, args=(step, levels), use_container_width=True,
             help="Not offered: some suppressed cells of this table could still be worked out." if unsafe else None)
    if current:
        b.button("Publish records instead (remove the counts step)", icon=":material/undo:",
                 on_click=_remove, use_container_width=True)
        if {k: current.get(k) for k in step} != step:
            st.caption("The recipe holds a different count table; press \"Use these counts\" to replace it.")


# --- inputs ----------------------------------------------------------------------------------

def _ladder_widget(col: str, steps: list[dict]):
    """(hierarchy label, level) chosen for one dimension, or None to count it as is."""
    existing = next((s for s in steps if s.get("op") == "generalize" and s.get("column") == col), None)
    names = ["as is"] + list(LADDERS)
    default = 0
    if existing:
        for i, (label, (h, opts)) in enumerate(LADDERS.items(), start=1):
            if h == existing.get("hierarchy") and (opts.get("via") or "county") == (existing.get("via") or "county"):
                default = i
    elif any(w in col.lower() for w in ("date",)):
        default = names.index("date")
    elif "town" in col.lower() or "city" in col.lower():
        default = names.index("CT town -> county")
    left, right = st.columns(2)
    choice = left.selectbox(f"{col}: generalize first", names, index=default, key=f"agg_h_{col}")
    if choice == "as is":
        return None
    from ctopen import hierarchies
    name, opts = LADDERS[choice]
    h = hierarchies.get(name, **opts)
    top = h.levels - 2  # the top level ("*") would make the dimension useless
    if existing and existing.get("hierarchy") == name and str(existing.get("level", "")).isdigit():
        level_default = int(existing["level"])
    else:
        level_default = DEFAULT_LEVEL.get(name, 1)
    level = right.select_slider(f"{col}: level", options=list(range(1, top + 1)) or [1],
                                value=min(max(level_default, 1), max(top, 1)), format_func=h.label,
                                key=f"agg_l_{col}_{choice}")
    return choice, int(level)


# --- computing (cached per inputs in session state) -------------------------------------------

def _base(t, steps: list[dict]) -> pd.DataFrame:
    """The table before the count step: the recipe's other steps applied."""
    others = [s for s in steps if s.get("op") not in COUNT_OPS]
    token = (t.source.sha256, len(t.df), json.dumps([others, state.review().roles], sort_keys=True, default=str))
    cache = st.session_state.setdefault("_aggregate_base", {})
    if cache.get("token") != token:
        from ctopen.review import Review
        review = state.review()   # the same roles (a suppress step without columns reads them) and key
        with st.spinner("Applying the recipe's other steps..."):
            cache["value"] = Review(t.df, {**state.recipe(), "steps": others}, source=review.source,
                                    detection=review.detection, key=review.key).release
        cache["token"] = token
    return cache["value"]


def _table(t, base, by, levels, threshold, totals, measures):
    from ctopen.aggregate import aggregate
    key = json.dumps([t.source.sha256, len(base), by, levels, threshold, totals, measures,
                      st.session_state.get("_aggregate_base", {}).get("token", [""])[-1]], default=str)
    cache = st.session_state.setdefault("_aggregate_table", {})
    if cache.get("key") != key:
        df = base.copy()
        generalized = {s.get("column") for s in state.recipe().get("steps", []) if s.get("op") == "generalize"}
        from ctopen.transform import generalize
        for col, choice in levels.items():
            raw = t.df[col].reindex(base.index) if col in t.df.columns else base[col]
            if choice is not None:  # the panel's ladder replaces any generalize step of the column
                step = _generalize_step(t.df, col, choice)
                frame = pd.DataFrame({col: raw})
                if step.get("state_column"):      # the state as loaded, even if the recipe removes it
                    frame[step["state_column"]] = t.df[step["state_column"]].reindex(base.index)
                df[col] = generalize(frame, step)[0][col]
            elif col in generalized:  # "as is" chosen: the recipe's generalize step will be removed
                df[col] = raw
        with st.spinner("Counting and suppressing small cells..."):
            cache["value"] = aggregate(df, by, threshold=threshold, totals=totals, measures=measures)
        cache["key"] = key
        tried = st.session_state.setdefault(TRIED, [])
        row = {"dimensions": ", ".join(f"{c} ({_level_label(levels[c])})" if levels[c] else c for c in by),
               "threshold": threshold, "cells": cache["value"].cells, "suppressed": cache["value"].suppressed,
               "share suppressed": f"{cache['value'].suppressed / max(cache['value'].cells, 1):.0%}",
               "can be published": "yes" if cache["value"].exact_check == "passed" else "no: cells could be worked out"}
        if row not in tried:
            tried.append(row)
            del tried[:-8]
    return cache["value"]


def _level_label(choice) -> str:
    """ "CT town -> county" at level 1 reads "county"; a date at level 3 reads "year"."""
    from ctopen import hierarchies
    name, opts = LADDERS[choice[0]]
    return hierarchies.get(name, **opts).label(choice[1])


# --- output ----------------------------------------------------------------------------------

def _show(table, by, levels) -> None:
    a, b = st.columns(2)        # two by two: four metrics side by side cut their labels in this tab's width
    a.metric("Cells", f"{table.cells:,}")
    b.metric("Suppressed", f"{table.suppressed:,}", help="Empty in the published file, with count_suppressed = true.")
    c, d = st.columns(2)
    c.metric(f"Small counts (1 to {table.threshold})", f"{table.primary:,}")
    d.metric("Suppressed to protect them", f"{table.complementary:,}",
             help="Cells hidden although not small, so that a small count cannot be worked out from a total.")
    if table.exact_check != "passed":
        st.warning(f"This table cannot be published: {table.exact_check}. Use fewer or coarser dimensions "
                   "(for example towns grouped into CT counties, where out-of-state places become *).",
                   icon=":material/warning:")
    shown = table.detail()
    for col in [c for c in shown.columns if c.endswith("_suppressed")]:
        shown[col] = shown[col].map({True: "Suppressed", False: ""})
    st.dataframe(shown, hide_index=True, use_container_width=True,
                 column_config={"why suppressed": st.column_config.TextColumn("Why suppressed", width="large")})
    towns = [c for c, choice in levels.items() if choice and LADDERS[choice[0]][0] == "ct_town"]
    if towns:
        t = state.table()
        read = [f"“{_generalize_step(t.df, c, levels[c])['state_column']}”" for c in towns
                if "state_column" in _generalize_step(t.df, c, levels[c])]
        st.caption("“*” stands for places outside Connecticut or not recognized as a Connecticut town"
                   + (f" (the state is read from {', '.join(read)})." if read else "."))
    st.caption(f"Method (goes into the metadata notes): {table.notes}")
    tried = st.session_state.get(TRIED, [])
    if len(tried) > 1:
        with st.expander("Tables tried (coarser and finer)"):
            st.dataframe(pd.DataFrame(tried), hide_index=True, use_container_width=True)


# --- recipe ----------------------------------------------------------------------------------

def _use(step: dict, levels: dict) -> None:
    recipe = state.recipe()
    steps = [s for s in recipe.get("steps", []) if s.get("op") not in COUNT_OPS   # one count step: this one
             and not (s.get("op") == "generalize" and s.get("column") in levels)]
    t = state.table()
    for col, choice in levels.items():
        if choice is not None:
            steps.append(_generalize_step(t.df, col, choice))
    rank = {"suppress": 1, "aggregate": 2}
    recipe["steps"] = sorted(steps + [step], key=lambda s: rank.get(s.get("op"), 0))


def _generalize_step(df: pd.DataFrame, col: str, choice) -> dict:
    """The generalize step of one dimension; a CT town ladder reads the state beside the town ("WARREN", "ME"
    is not Litchfield County), from a column named like "ResidenceState" for "ResidenceCity", or "State"."""
    name, opts = LADDERS[choice[0]]
    step = {"op": "generalize", "column": col, "hierarchy": name, "level": choice[1], **opts}
    if name == "ct_town":
        base = re.sub(r"(?i)(city|town|municipality)", "", col).strip(" _").lower().replace(" ", "")
        state_col = next((c for c in df.columns if c != col and c.lower().replace("_", "").replace(" ", "")
                          in (f"{base}state", "state")), None)
        dropped = {s.get("column") for s in state.recipe().get("steps", []) if s.get("op") == "drop"}
        if state_col and state_col not in dropped:    # a removed column cannot be read when the recipe runs
            step["state_column"] = state_col
    return step


def _remove() -> None:
    recipe = state.recipe()
    recipe["steps"] = [s for s in recipe.get("steps", []) if s.get("op") != "aggregate"]
