"""The Transform page's parts: one editor per column, the suppress step, live figures, the recipe list,
undo/redo and recipe upload. Steps live in the recipe (`state.recipe()["steps"]`); widgets only edit it.

Session keys: transform_history (list of step lists), transform_pos (where undo/redo stand),
transform_upload (the last uploaded recipe file applied, so it is applied once).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from ctopen import hierarchies, settings
from ctopen import recipe as recipes
from ctopen import transform
from ctopen.errors import CtopenError
from ctopen.risk import assess
from ui import layout, masking, risk_panel, state

ACTIONS = {"keep": "Keep as is", "generalize": "Generalize", "drop": "Remove the column",
           "pseudonymize": "Replace with an anonymous ID"}
H_NAMES = {"date": "date", "age": "age", "zip": "ZIP code", "ct_town": "CT town", "number": "number",
           "category": "category", "coordinates": "coordinates", "table": "my own groups (a hierarchy file)"}


# --- steps and history ---------------------------------------------------------------------------

def _steps() -> list[dict]:
    return state.recipe().setdefault("steps", [])


def _key() -> str:
    """Widget keys change whenever the steps change, so widgets always start from the recipe."""
    return hashlib.sha1(json.dumps(_steps(), sort_keys=True, default=str).encode()).hexdigest()[:10]


def sync_history() -> None:
    hist = st.session_state.setdefault("transform_history", [copy.deepcopy(_steps())])
    pos = st.session_state.setdefault("transform_pos", 0)
    if hist[pos] != _steps():  # changed elsewhere (Recommend, Aggregate, a new file)
        _push(_steps())


def _push(steps: list[dict]) -> None:
    hist = st.session_state["transform_history"][: st.session_state["transform_pos"] + 1]
    hist.append(copy.deepcopy(steps))
    st.session_state["transform_history"] = hist[-50:]
    st.session_state["transform_pos"] = len(st.session_state["transform_history"]) - 1


def _set_steps(steps: list[dict]) -> None:
    state.recipe()["steps"] = order_steps(steps)
    _push(state.recipe()["steps"])


def order_steps(steps: list[dict]) -> list[dict]:
    """Column steps first (in the order chosen), then suppress, then aggregate (always last)."""
    rank = {"suppress": 1, "aggregate": 2, "spatial_aggregate": 2}
    return sorted(steps, key=lambda s: rank.get(s.get("op"), 0))


def set_column_step(column: str, step: dict | None) -> None:
    st.session_state["transform_last"] = column
    steps = [s for s in _steps() if not (s.get("op") in recipes.COLUMN_OPS and s.get("column") == column)]
    _set_steps(steps + ([step] if step else []))


def set_drops(columns: list[str], removed: list[str]) -> None:
    """Drop exactly `removed` among `columns` (other steps unchanged)."""
    steps = [s for s in _steps() if not (s.get("op") == "drop" and s.get("column") in columns)]
    _set_steps(steps + [{"op": "drop", "column": c} for c in columns if c in removed])


def set_suppress(step: dict | None) -> None:
    st.session_state["transform_last"] = "__suppress__"
    _set_steps([s for s in _steps() if s.get("op") != "suppress"] + ([step] if step else []))


def move(delta: int) -> None:
    hist, pos = st.session_state["transform_history"], st.session_state["transform_pos"] + delta
    if 0 <= pos < len(hist):
        st.session_state["transform_pos"] = pos
        state.recipe()["steps"] = copy.deepcopy(hist[pos])


def undo_redo() -> None:
    pos, n = st.session_state["transform_pos"], len(st.session_state["transform_history"])
    a, b = st.columns(2)
    a.button("Undo", icon=":material/undo:", on_click=move, args=(-1,), disabled=pos == 0, use_container_width=True)
    b.button("Redo", icon=":material/redo:", on_click=move, args=(1,), disabled=pos >= n - 1, use_container_width=True)


# --- one column ----------------------------------------------------------------------------------

def current_step(column: str) -> dict | None:
    return next((s for s in _steps() if s.get("op") in recipes.COLUMN_OPS and s.get("column") == column), None)


@st.cache_data(show_spinner=False, max_entries=256)
def _suggest(column: str, token: str, _series: pd.Series, entity: str | None):
    return transform.suggest_hierarchy(column, _series, entity=entity)


def column_editor(df: pd.DataFrame, column: str, role: str, entity: str | None, token: str, figs=None) -> None:
    """Drop / keep / pseudonymize / generalize along the ladder, with examples and the figures changing."""
    _column_editor(df, column, role, entity, token)
    summary_here(column, figs)


def _column_editor(df: pd.DataFrame, column: str, role: str, entity: str | None, token: str) -> None:
    step = current_step(column)
    action = step["op"] if step else "keep"
    choices = ["keep", "drop", "pseudonymize"] if role == "direct" else ["keep", "generalize", "drop"]
    if action not in choices:
        choices.append(action)
    k = f"tf_{_key()}_{column}"
    picked = st.radio(f"What to do with “{column}” ({role})", choices, index=choices.index(action),
                      format_func=ACTIONS.get, horizontal=True, key=k + "_action")
    if picked != "generalize":
        if picked != action:
            set_column_step(column, None if picked == "keep" else {"op": picked, "column": column})
            st.rerun()
        if picked == "keep":
            _examples(df[column], None, masked=role == "direct")
        elif picked == "drop":
            st.caption("The column is left out of the release.")
        else:
            _pseudonym_note(column)
        return
    suggested = _suggest(column, token, df[column], entity) or ("category", {"min_count": settings.DEFAULT_K})
    name = step.get("hierarchy") if step and step["op"] == "generalize" else suggested[0]
    options = recipes.hierarchy_options(step) if step and step["op"] == "generalize" else suggested[1]
    name = st.selectbox("Kind of values", list(H_NAMES), index=list(H_NAMES).index(name), format_func=H_NAMES.get,
                        key=k + "_h")
    if name != (step or {}).get("hierarchy"):
        options = suggested[1] if name == suggested[0] else _default_options(name, df[column])
    options = _options_widgets(name, options, k)
    if name == "table" and not options.get("table"):
        st.info("Upload the hierarchy file to generalize with your own groups.", icon=":material/upload_file:")
        return
    try:
        h = hierarchies.get(name, **options)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    level = step.get("level", 1) if step and step["op"] == "generalize" and step.get("hierarchy") == name else 1
    level = h.check_level(min(h.top, level if level != "*" else h.top))
    level = st.select_slider("Level", options=list(range(h.levels)), value=level, format_func=h.label, key=k + "_lv")
    new = h.to_step(column, level)
    state_col = _state_column_widget(df, column, step, k) if name == "ct_town" else None
    if state_col:
        new["state_column"] = state_col
    if new != step:
        set_column_step(column, new)
        st.rerun()
    # the examples as they are in their column (a category's rare values depend on the whole column's counts)
    _examples(df[column], lambda s: h.generalize(s, level, within=df[column]), masked=role == "direct")
    outside = transform._outside_ct(df, state_col)
    unknown = h.unknown(df[column] if outside is None else df[column][~outside]) if 0 < level < h.top else []
    if unknown:
        st.caption(f"{len(unknown):,} values " + ("are not in your hierarchy file" if name == "table" else
                                                  f"could not be read as {H_NAMES[name]}") + " and become *: "
                   + ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else ""))


def _pseudonym_note(column: str) -> None:
    """What a keyed anonymous ID keeps (linkage across updates) and what it needs (the secret key)."""
    st.caption(f"Each value becomes a {transform.PSEUDONYM_HEX_CHARS}-character anonymous ID made with a secret key: "
               "the same value always gets the same ID, in this file and in every update made with the same key. "
               "So a person's records can still be followed across rows and across daily or monthly files; "
               "anyone who learns one of them (a date, an offense) can find the others. If no user needs to link "
               "records, remove the column instead.")
    if state.pseudonym_key() is None:
        st.warning(f"No secret key is set ({settings.PSEUDONYM_KEY_ENV}), so the release cannot be made yet: "
                   "set it as the message above says and restart the app, or remove the column instead.",
                   icon=":material/key:")


def _state_column_widget(df: pd.DataFrame, column: str, step: dict | None, k: str) -> str | None:
    """A column holding the state, so "WARREN" in Ohio is not put in Litchfield County."""
    others = [c for c in df.columns if c != column]
    if step and step.get("op") == "generalize" and step.get("hierarchy") == "ct_town":
        default = step.get("state_column")
    else:  # first time: propose "ResidenceState" for "ResidenceCity", or a column called "state"
        base = re.sub(r"(?i)(city|town|municipality)", "", column).strip(" _").lower()
        default = next((c for c in others if c.lower().replace("_", "").replace(" ", "") in
                        (f"{base}state".replace(" ", ""), "state")), None)
    choices = [None] + others
    return st.selectbox("Column holding the state (towns in other states become *)", choices,
                        index=choices.index(default) if default in choices else 0,
                        format_func=lambda c: "none" if c is None else c, key=k + "_state")


def _default_options(name: str, series: pd.Series) -> dict:
    if name == "number":
        x = hierarchies.parse_numbers(series.dropna().unique()[:5000]).dropna()
        return {"width": transform.nice_width(x) if len(x) else 10}
    return {"age": {"top_code": 90}, "ct_town": {"via": "county"}, "category": {"min_count": settings.DEFAULT_K}}.get(name, {})


def _options_widgets(name: str, options: dict, k: str) -> dict:
    options = dict(options)
    if name == "ct_town":
        via = st.radio("Group towns by", ["county", "planning_region"], horizontal=True, key=k + "_via",
                       index=0 if options.get("via", "county") == "county" else 1,
                       format_func=lambda v: "county (8)" if v == "county" else "planning region (9)")
        options["via"] = via
    elif name == "age":
        if st.checkbox("Write 90 and over as “90+” (HIPAA Safe Harbor)", value="top_code" in options, key=k + "_top"):
            options["top_code"] = options.get("top_code", 90)
        else:
            options.pop("top_code", None)
    elif name == "number":
        options["width"] = st.number_input("Band width", min_value=0.001, value=float(options.get("width", 10)),
                                           key=k + "_w")
        if float(options["width"]).is_integer():
            options["width"] = int(options["width"])
    elif name == "category":
        options["min_count"] = int(st.number_input("Merge values held by fewer records than", min_value=1, step=1,
                                                   value=int(options.get("min_count", settings.DEFAULT_K)), key=k + "_m"))
    elif name == "table":
        options = _table_upload(options, k)
    return options


def _table_upload(options: dict, k: str) -> dict:
    """An analyst's own hierarchy for this column: ARX's CSV (one line per value: value;level1;...;*), carried
    in the recipe step (`"hierarchy": "table"`), so a saved recipe is self-contained."""
    up = st.file_uploader("Hierarchy file (ARX's CSV: one line per value, value;level 1;level 2;...;*)",
                          type=["csv", "txt"], key=k + "_table",
                          help="The format ARX saves hierarchies in. Every value lists the same number of levels; "
                               "a value the file does not list is written * (never guessed) and named below.")
    if up is not None:
        try:
            uploaded = {"table": hierarchies.read_arx_csv(up.getvalue(), name=f"The hierarchy file {up.name}")}
            hierarchies.get("table", **uploaded)
            options = uploaded
        except CtopenError as exc:        # the step keeps the table it had (if any)
            layout.show_error(exc)
    table = options.get("table")
    if table:
        try:
            h = hierarchies.get("table", table=table)
        except CtopenError as exc:
            layout.show_error(exc)
            return {}
        split = h.not_nested()
        st.caption(f"Your hierarchy: {len(table):,} values, {h.levels - 2} level(s) between as is and *"
                   + ("" if not split else "; not nested (" + "; ".join(split) + "): Recommend still searches it")
                   + ".")
    return options


def _examples(series: pd.Series, fn, masked: bool, n: int = 4) -> None:
    """A few distinct values before -> after (identifier values masked); fn None shows them as they are."""
    values = pd.Series(series.dropna().unique()[:n], dtype="str")
    if values.empty:
        return
    after = list(fn(values)) if fn is not None else None
    if masked:
        values = values.map(masking.mask)
    if after is None:
        st.caption("Examples: " + " · ".join(values))
    else:
        st.caption("Examples: " + " · ".join(f"{a} → {b}" for a, b in zip(values, after)))


# --- suppress, figures, the recipe ---------------------------------------------------------------

def suppress_editor(qi: list[str], figs=None) -> int:
    """The suppress step over the quasi-identifiers; returns the target k."""
    step = next((s for s in _steps() if s.get("op") == "suppress"), None)
    k = f"tf_{_key()}_suppress"
    on = st.toggle("Remove the records still in groups smaller than k", value=step is not None, key=k + "_on")
    a, b = st.columns(2)
    k_now = min(100, max(2, int((step or {}).get("k", settings.DEFAULT_K))))
    share_now = min(100.0, max(0.0, 100 * float((step or {}).get("max_share", settings.DEFAULT_MAX_SUPPRESSION))))
    target = int(a.number_input("k (smallest group allowed)", 2, 100, k_now, key=k + "_k"))
    share = b.number_input("At most this % of records", 0.0, 100.0, share_now, step=0.5, key=k + "_s") / 100
    new = {"op": "suppress", "k": target, "columns": list(qi), "max_share": round(share, 6)} if on and qi else None
    if new != step:
        set_suppress(new)
        st.rerun()
    summary_here("__suppress__", figs)
    return target


@dataclass
class Figures:
    """The price of the current recipe: the release's risk report (None when unavailable), rows, loss."""
    report: object
    before: object
    rows: int
    total: int
    loss: float
    qi_left: int
    counts: bool = False   # the release is a count table (an aggregate step)

    def line(self) -> str:
        """One line for the card just edited: the figures next to the control that moved them."""
        parts = []
        if self.report is not None:
            parts += [f"smallest group k = {self.report.k_min:,}", f"{self.report.records_at_risk:,} records at risk"]
        parts += [f"{self.rows:,} of {self.total:,} rows kept", f"{self.loss:.1%} information lost"]
        return "Now: " + " · ".join(parts) + "."


def target_k() -> int:
    step = next((s for s in _steps() if s.get("op") == "suppress"), None)
    return int((step or {}).get("k", settings.DEFAULT_K))


def figures(t, qi: list[str], k: int) -> Figures | None:
    """The release's figures: the Review's release (recomputed only when the recipe changed) assessed over the
    quasi-identifiers; kept until the release, the columns or k change (a rerun that changes nothing is free)."""
    try:
        applied = state.release()
    except CtopenError as exc:
        layout.show_error(exc)
        return None
    present = [applied.name(c) for c in qi if applied.name(c) in applied.df.columns]
    if recipes.count_step(state.recipe().get("steps")) is not None:   # aggregate or spatial_aggregate
        # a count table: group sizes of records do not apply; its cells are protected by small-cell suppression
        return Figures(None, None, len(applied.df), len(t.df), 0.0, 0, counts=True)
    slot = st.session_state.setdefault("_transform_figures", {})
    if slot.get("of") is not applied or slot.get("token") != (tuple(qi), k):
        try:
            loss = transform.information_loss(t.df, state.recipe(), qi, applied.suppressed)
            report = assess(applied.df, present, k=k, combinations=False, suppressed=applied.suppressed)
            before = _before(t, tuple(qi), k)
        except CtopenError as exc:
            layout.show_error(exc)
            return None
        slot.update(of=applied, token=(tuple(qi), k),
                    value=Figures(report, before, len(applied.df), len(t.df), loss, len(present)))
    return slot["value"]


def show_figures(f: Figures | None, k: int) -> None:
    """The Risk page's headline figures for the release (ui.risk_panel), with the information lost."""
    if f is None:
        return
    if f.counts:
        st.info(f"The release is a count table of {f.rows:,} cells, not records: k-anonymity of records does not "
                "apply. Small counts and the cells that would give them away are suppressed (see the tab "
                "“Publish counts instead of records”).", icon=":material/table_chart:")
        return
    risk_panel.metrics(f.report, before=f.before, before_label="the file as loaded")
    risk_panel.verdict(f.report)
    st.metric("Information lost", f"{f.loss:.1%}",
              help="The share of detail removed from the quasi-identifiers; suppressed records count as fully lost "
                   "(docs/recipe.md).")
    if not f.qi_left:
        st.caption("Every quasi-identifier is removed: no record can be singled out by them.")


def summary_here(target: str, f: Figures | None) -> None:
    """The figures' one-line summary inside the card the user just changed."""
    if f is not None and st.session_state.get("transform_last") == target:
        st.markdown(f"**{f.line()}**")


def _before(t, qi: tuple, k: int):
    cache = st.session_state.setdefault("_transform_before", {})
    token = (t.source.sha256, len(t.df), qi, k)
    if token not in cache:
        cache.clear()
        cache[token] = assess(t.df, list(qi), k=k, combinations=False)
    return cache[token]


def recipe_list() -> None:
    steps = _steps()
    if not steps:
        st.caption("No steps yet: the file would be published as it is.")
    for i, s in enumerate(steps, start=1):
        st.markdown(f"{i}. {recipes.describe_step(s)}")


def upload_recipe(t) -> None:
    up = st.file_uploader("Upload a saved recipe (JSON)", type=["json"], key="transform_recipe_file")
    if up is None or st.session_state.get("transform_upload") == up.file_id:
        return
    st.session_state["transform_upload"] = up.file_id
    try:
        loaded = recipes.loads(up.getvalue(), name=f"The recipe {up.name}")
        recipes.check_columns(loaded, t.df.columns)
    except CtopenError as exc:
        layout.show_error(exc)
        return
    rec = state.recipe()
    for key in ("roles", "metadata", "target"):
        if loaded.get(key):
            rec[key] = loaded[key]
    _set_steps(loaded["steps"])
    st.success(f"Recipe {up.name} loaded: {len(loaded['steps'])} steps.")
    st.rerun()
