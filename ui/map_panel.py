"""The "Map of counts" panel of the Transform page (issue 19).

Shown when the file has points (a latitude/longitude pair, a "(lat, lon)" or WKT column, a GeoJSON file) or a
town column. The officer picks hexagons (H3, with the hexagon's area in square miles for the resolution), towns or
counties, the other columns to count by and the threshold, and sees the map that would be published (plotly
traces on a blank background with the town points of ctopen/data: no tile server is needed), with its figures:
places, suppressed counts, records covered. "Use this map" writes the spatial_aggregate step (last, replacing
any count step). A second part keeps the records and coarsens their points (spatial_k).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from ctopen import geo
from ctopen.errors import CtopenError
from ctopen.recipe import COUNT_OPS
from ui import layout, state

METHODS = {"h3": "Hexagons", "town": "Towns", "county": "Counties"}
RESOLUTIONS = list(range(4, 11))
COS_CT = float(np.cos(np.radians(41.5)))      # one degree of longitude is this share of a degree of latitude here
BINS = [(6, 10), (11, 25), (26, 50), (51, 100), (101, None)]
COLORS = ["#c6dbef", "#6baed6", "#3182bd", "#08519c", "#08306b"]
SUPPRESSED_COLOR = "#d9d9d9"


def sources(t, roles: dict, entities: dict) -> dict:
    """What the file offers: {"points": {"lat","lon"} | {"point"} | None, "towns": [town columns]}."""
    try:
        points = geo.find_location(t.df)
    except CtopenError:
        points = None
    towns = [c for c in t.df.columns if entities.get(c) in ("town", "ct_town", "location")]
    return {"points": points, "towns": towns}


def available(t, roles: dict, entities: dict) -> bool:
    s = sources(t, roles, entities)
    return bool(s["points"] or s["towns"])


def render(entities: dict) -> None:
    t = state.table()
    roles = state.roles()
    src = sources(t, roles, entities)
    recipe = state.recipe()
    steps = recipe.get("steps", [])
    current = next((s for s in steps if s.get("op") == "spatial_aggregate"), None) or {}
    st.caption("Publish a map layer of counts instead of the records: each record is counted into a hexagon "
               "or its town, counts of 1 to 5 are suppressed (and the next smallest where a total would give "
               "one away), and the map shows the hexagon or the town's point, never a record's own point.")
    methods = (["h3"] if src["points"] else []) + (["town", "county"] if src["towns"] else [])
    method = st.radio("Count into", methods, format_func=METHODS.get, horizontal=True, key="map_method",
                      index=methods.index(current.get("method", "h3")) if current.get("method", "h3") in methods else 0)
    step = {"op": "spatial_aggregate", "method": method}
    if method == "h3":
        step.update(src["points"])
        res = st.select_slider("Hexagon size (H3 resolution)", options=RESOLUTIONS, key="map_resolution",
                               value=int(current.get("resolution", 7)) if current.get("resolution") in RESOLUTIONS else 7,
                               format_func=lambda r: f"{r}: {_area(r)}")
        step["resolution"] = int(res)
        st.markdown(f"Each hexagon covers about **{geo.h3_area_sq_miles(res):,.2f} square miles** "
                    f"({geo.h3_area_sq_miles(res) * geo.SQ_KM_PER_SQ_MILE:,.2f} km²).")
        if res > geo.MAX_PUBLISHED_RESOLUTION:
            st.warning(f"Hexagons this small point at a few houses (a listed hexagon says someone lives there, even "
                       f"with its count suppressed): the privacy gate accepts resolution {geo.MAX_PUBLISHED_RESOLUTION} "
                       "or coarser.", icon=":material/warning:")
    else:
        town = st.selectbox("Town column", src["towns"], key="map_town",
                            index=src["towns"].index(current["town"]) if current.get("town") in src["towns"] else 0)
        step["town"] = town
    place_cols = set(src["points"].values()) if src["points"] else set()
    place_cols |= {step.get("town")} - {None}
    coords = {c for c, e in entities.items() if e == "coordinates"}
    try:
        base = _base(t, steps)
    except CtopenError as exc:        # the recipe's other steps cannot be applied: the Columns tab says why
        layout.show_error(exc)
        return
    options = [c for c in base.columns if roles.get(c) != "direct" and c not in place_cols | coords]
    by = st.multiselect("Also count by", options, default=[c for c in current.get("by", []) if c in options],
                        key="map_by", help="Identifiers and coordinates are not offered. Generalize a column first "
                                           "(Columns tab) to count by its bands.")
    threshold = st.number_input("Suppress counts from 1 up to", min_value=1, max_value=100, step=1, key="map_threshold",
                                value=int(current.get("threshold", 5)))
    step.update(by=by, threshold=int(threshold))
    try:
        out, log = _preview(t, base, step)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    figures(log)
    st.plotly_chart(figure(out, step), use_container_width=True, key="map_chart")
    a, b = st.columns(2)
    a.button("Use this map in the recipe", icon=":material/map:", type="primary", on_click=_use, args=(step,),
             use_container_width=True, key="map_use")
    if current:
        b.button("Publish records instead (remove the map step)", icon=":material/undo:", on_click=_remove,
                 use_container_width=True, key="map_remove")
        if {k: current.get(k) for k in step} != step:
            st.caption("The recipe holds a different map; press \"Use this map\" to replace it.")
    with st.expander("The map's method (goes into the metadata notes)"):
        st.caption(log["notes"])
    if src["points"]:
        _spatial_k(t, src["points"], steps)


def _area(resolution: int) -> str:
    a = geo.h3_area_sq_miles(resolution)
    return f"{a:,.0f} sq mi" if a >= 10 else f"{a:,.1f} sq mi" if a >= 0.1 else f"{a:,.3f} sq mi"


def figures(log: dict) -> None:
    a, b, c = st.columns(3)
    places = {"h3": "Hexagons", "town": "Towns", "county": "Counties"}[log["method"]]
    a.metric(places, f"{log['places']:,}", help="Places with at least one record.")
    b.metric("Suppressed counts", f"{log['suppressed']:,} of {log['cells']:,}",
             help=f"{log['primary']:,} counts of 1 to {log['threshold']}, {log['complementary']:,} more to protect them.")
    c.metric("Records covered", f"{log['records_counted']:,}",
             help=f"Records counted into a place, of {log['records_in']:,}; {log['records_in_shown_cells']:,} of them "
                  "in counts that are shown.")
    left = log["records_outside_ct"] + log["records_without_place"]
    st.caption(f"Of {log['records_in']:,} records: {log['records_counted']:,} counted, "
               f"{log['records_in_shown_cells']:,} in the counts shown"
               + (f"; left out: {log['records_outside_ct']:,} outside Connecticut, {log['records_without_place']:,} "
                  "without a place (the Check findings on Describe list them)" if left else "") + ".")
    from ctopen.publish.gate import nearly_one_per_record
    if nearly_one_per_record(log.get("occupied", 0), log["records_counted"]):
        st.warning(f"This map lists the records: {log['occupied']:,} of its rows hold records, for "
                   f"{log['records_counted']:,} records (a suppressed count still says someone with those values is "
                   "there). The privacy gate blocks it: " + ("use larger hexagons or " if log["method"] == "h3" else "")
                   + "fewer or coarser \"Also count by\" columns.", icon=":material/warning:")
    elif log["cells"] and log["suppressed"] / log["cells"] > 0.5:
        st.info(f"Most counts ({log['suppressed'] / log['cells']:.0%}) are suppressed: "
                + ("larger hexagons (a lower resolution) or fewer \"Also count by\" columns show more."
                   if log["method"] == "h3" else "counties, or fewer \"Also count by\" columns, show more."),
                icon=":material/info:")


# --- computing ------------------------------------------------------------------------------

def _base(t, steps: list[dict]) -> pd.DataFrame:
    """The table before any count step: the recipe's other steps applied."""
    others = [s for s in steps if s.get("op") not in COUNT_OPS]
    review = state.review()
    token = (t.source.sha256, len(t.df), json.dumps([others, review.roles], sort_keys=True, default=str))
    cache = st.session_state.setdefault("_map_base", {})
    if cache.get("token") != token:
        from ctopen.review import Review
        with st.spinner("Applying the recipe's other steps..."):
            cache["value"] = Review(t.df, {**state.recipe(), "steps": others}, source=review.source,
                                    detection=review.detection, key=review.key).release
        cache["token"] = token
    return cache["value"]


def _preview(t, base: pd.DataFrame, step: dict):
    key = json.dumps([t.source.sha256, len(base), step, st.session_state.get("_map_base", {}).get("token", [""])[-1]],
                     default=str)
    cache = st.session_state.setdefault("_map_preview", {})
    if cache.get("key") != key:
        with st.spinner("Counting into places and suppressing small counts..."):
            cache["value"] = geo.spatial_aggregate(base, step)
        cache["key"] = key
    return cache["value"]


# --- drawing --------------------------------------------------------------------------------

def figure(out: pd.DataFrame, step: dict):
    """The layer on a blank background: the towns' points in grey for orientation, then the hexagons (filled,
    one trace per band of counts) or the places' points (sized by their count). Longitude on x, latitude on y,
    scaled so that a square mile looks square."""
    import plotly.graph_objects as go
    fig = go.Figure()
    towns = geo.town_points()
    fig.add_trace(go.Scatter(x=towns["lon"], y=towns["lat"], mode="markers", name="Town centres",
                             marker=dict(size=3, color="#9e9e9e"), text=towns.index, hoverinfo="text"))
    place = geo.area_column(step)
    # per place: its records when every count of it is shown, else None (some count suppressed)
    totals = {name: (None if g.isna().any() else int(g.sum())) for name, g in out.groupby(place, sort=False)["count"]}
    hidden = {name for name, n in totals.items() if n is None}
    if step.get("method", "h3") == "h3":
        by = step.get("by")
        groups = [(f"Some count by {', '.join(by)} suppressed" if by else
                   f"Suppressed (1 to {step.get('threshold', 5)}, or protecting one)", SUPPRESSED_COLOR, sorted(hidden))]
        for (lo, hi), color in zip(BINS, COLORS):
            label = f"{lo}+ records" if hi is None else f"{lo} to {hi}"
            groups.append((label, color, [c for c, n in totals.items() if n is not None and n >= lo
                                          and (hi is None or n <= hi)]))
        for label, color, cells in groups:
            if not cells:
                continue
            xs, ys = [], []
            for cell in cells:
                ring = geo.hexagon(cell)
                xs += [p[0] for p in ring] + [None]
                ys += [p[1] for p in ring] + [None]
            fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", mode="lines", name=label, fillcolor=color,
                                     line=dict(color="#4d4d4d", width=0.5), hoverinfo="skip"))
        import h3
        centres = [h3.cell_to_latlng(c) for c in totals]
        fig.add_trace(go.Scatter(x=[c[1] for c in centres], y=[c[0] for c in centres], mode="markers",
                                 marker=dict(size=6, opacity=0), showlegend=False, hoverinfo="text",
                                 text=[f"{c}: {'suppressed' if n is None else f'{n:,} records'}"
                                       for c, n in totals.items()]))
    else:
        ref = geo.town_points() if step.get("method") == "town" else geo.county_points()
        xs, ys, sizes, colors, text = [], [], [], [], []
        for name, n in totals.items():
            if name not in ref.index:
                continue
            xs.append(ref.loc[name, "lon"])
            ys.append(ref.loc[name, "lat"])
            sizes.append(6 if n is None else 6 + 3 * np.sqrt(n))
            colors.append(SUPPRESSED_COLOR if n is None else COLORS[2])
            text.append(f"{name}: {'suppressed' if n is None else f'{n:,} records'}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="Counts (grey: suppressed)", text=text,
                                 hoverinfo="text", marker=dict(size=sizes, color=colors, line=dict(color="#4d4d4d",
                                                                                                   width=0.5))))
    fig.update_layout(height=520, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="white", paper_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0), dragmode="pan")
    # the map fills the width (constrain="domain": the axes keep Connecticut's extent, the drawing area shrinks
    # to the aspect instead of widening the extent)
    fig.update_xaxes(visible=False, range=[geo.CT_WEST - 0.03, geo.CT_EAST + 0.03], constrain="domain")
    fig.update_yaxes(visible=False, range=[geo.CT_SOUTH - 0.03, geo.CT_NORTH + 0.03], scaleanchor="x",
                     scaleratio=1 / COS_CT, constrain="domain")
    return fig


# --- recipe ---------------------------------------------------------------------------------

def _use(step: dict) -> None:
    recipe = state.recipe()
    steps = [s for s in recipe.get("steps", []) if s.get("op") not in COUNT_OPS]
    recipe["steps"] = steps + [dict(step)]      # the count step is always the last privacy step


def _remove() -> None:
    recipe = state.recipe()
    recipe["steps"] = [s for s in recipe.get("steps", []) if s.get("op") != "spatial_aggregate"]


def _spatial_k(t, points: dict, steps: list[dict]) -> None:
    st.divider()
    st.markdown("**Or keep the records, with coarser points** (spatial k)")
    current = next((s for s in steps if s.get("op") == "spatial_k"), None) or {}
    c1, c2 = st.columns(2)
    k = c1.number_input("Every point shared by at least", min_value=2, max_value=100, step=1, key="map_k",
                        value=int(current.get("k", 5)))
    floor = c2.select_slider("Coarsest precision", options=[0, 1, 2, 3], value=int(current.get("min_decimals", 1)),
                             key="map_floor", format_func=lambda d: {0: "0 decimals (~100 km)", 1: "1 decimal (~10 km)",
                                                                     2: "2 decimals (~1 km)", 3: "3 decimals (~100 m)"}[d])
    # at most 2 decimals (about 1 km): a finer point shared by k records may be one household's k records
    step = {"op": "spatial_k", **points, "k": int(k), "min_decimals": int(floor), **({"max_decimals": 2} if floor <= 2 else {})}
    try:
        _out, log = geo.spatial_k(t.df, step)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    st.caption(log["message"] + f" {log['points_out']:,} distinct points would be published.")
    a, b = st.columns(2)
    a.button("Coarsen the points in the recipe", icon=":material/blur_on:", key="map_k_use",
             on_click=_set_k, args=(step,), use_container_width=True)
    if current:
        b.button("Remove the spatial k step", icon=":material/undo:", key="map_k_remove", on_click=_set_k,
                 args=(None,), use_container_width=True)


def _set_k(step: dict | None) -> None:
    recipe = state.recipe()
    steps = [s for s in recipe.get("steps", []) if s.get("op") != "spatial_k"]
    count = [s for s in steps if s.get("op") in COUNT_OPS]
    steps = [s for s in steps if s.get("op") not in COUNT_OPS]
    recipe["steps"] = steps + ([step] if step else []) + count
