"""Recommend (a tab of the Transform page): the least-loss generalization that reaches a target k
(and optionally l for one sensitive attribute) within a suppression budget, and a few alternatives
on a chart (information lost vs. records suppressed), each applied to the recipe with one click.

Session keys: recommend_result ({"token", "result": Recommendation.to_dict()}) survives page changes.
Priorities ("matters most / matters / matters less" = ctopen.search.WEIGHT_CHOICES, and "never coarser
than ...") are widgets `_w_rec_weight_<column>` / `_w_rec_limit_<column>`, kept in the recipe's "priorities".
"""
from __future__ import annotations

import json

import plotly.graph_objects as go
import streamlit as st

from ctopen import search, settings
from ctopen.errors import CtopenError
from ui import layout, state

RESULT = "recommend_result"
NONE = "(no l-diversity target)"


def render() -> None:
    t = state.table()
    if t is None:
        st.caption("Load a file first.")
        return
    recipe = state.recipe()
    steps = recipe.get("steps", [])
    removed = {s.get("column") for s in steps if s.get("op") in ("drop", "pseudonymize")}
    roles = state.roles()
    columns = [c for c in t.df.columns if c not in removed]
    default_qi = [c for c in columns if roles.get(c) == "quasi"]
    stored = _stored(t)
    saved = (stored or {}).get("inputs", {})
    st.caption("Finds the generalization levels that reach your target while losing the least information. "
               "Nothing changes until you apply a proposal; you can still adjust it column by column.")
    qi = st.multiselect("Quasi-identifiers to generalize", columns,
                        default=[c for c in saved.get("qi", default_qi) if c in columns],
                        help="The columns someone could know about a person (dates, age, sex, race, town, ZIP).")
    if not qi:
        st.info("Choose the quasi-identifiers to generalize: the columns someone could already know about a person. "
                "The Identify page proposes them.", icon=":material/info:")
    a, b = st.columns(2)
    k = int(a.number_input("Target k (smallest group allowed)", 2, 100, int(saved.get("k", _suppress_k(steps))),
                           help="Every combination of the quasi-identifiers' values must be shared by at least k records."))
    budget = b.number_input("At most this % of records may be removed", 0.0, 100.0,
                            100 * float(saved.get("max_suppression", settings.DEFAULT_MAX_SUPPRESSION)), step=0.5,
                            help="Records still in groups smaller than k are removed, up to this share.") / 100
    # a quasi-identifier (searched or kept as the recipe has it) cannot also be the sensitive attribute
    sens_options = [NONE] + [c for c in columns if c not in qi and roles.get(c) == "sensitive"] + \
        [c for c in columns if c not in qi and roles.get(c) not in ("sensitive", "quasi", "direct")]
    c1, c2 = st.columns(2)
    sensitive = c1.selectbox("Sensitive attribute (optional)", sens_options,
                             index=sens_options.index(saved["sensitive"]) if saved.get("sensitive") in sens_options else 0,
                             help="With a target l, every group must hold at least l different values of it: "
                                  "a group of 6 where everyone has the same cause of death discloses it.")
    sensitive = None if sensitive == NONE else sensitive
    l_value = int(c2.number_input("Target l (different sensitive values per group)", 2, 20, int(saved.get("l") or 2),
                                  disabled=sensitive is None))
    weights, limits = _priorities(t, qi, recipe)
    inputs = {"qi": list(qi), "k": k, "max_suppression": round(budget, 6), "sensitive": sensitive,
              "l": l_value if sensitive else None, "weights": weights, "max_levels": limits}
    fixed = _fixed(t, qi, roles, steps)
    kept = [c for c, s in fixed.items() if (s or {}).get("op") not in ("drop", "pseudonymize")]
    if kept:
        st.caption("The other quasi-identifiers (" + ", ".join(f"“{c}”" for c in kept) + ") stay as the recipe has "
                   "them and still count: the proposal reaches the target with them, as the figures above measure it.")
    token = json.dumps([t.source.sha256, len(t.df), inputs, fixed], sort_keys=True, default=str)
    size = _lattice(t, qi, recipe, limits)
    too_big = size is not None and size > search.MAX_NODES
    if size is not None:
        (st.warning if too_big else st.caption)(
            f"{size:,} combinations of levels to search"
            + (f": more than the {search.MAX_NODES:,} that can be searched. Leave out columns that repeat "
               "another one (a county beside its town) or that nobody could know about a person." if too_big else "."))
    if too_big:
        _offer_repeats(t, qi)
    if st.button("Recommend", type="primary", icon=":material/auto_fix_high:", disabled=not qi or too_big):
        _run(t, inputs, token, recipe, fixed)
    stored = st.session_state.get(RESULT)
    if not stored or not qi:
        return
    if stored["token"] != token or _hierarchies_changed(stored["result"], recipe):
        st.caption("The settings changed since the last recommendation: press Recommend again to update it.")
        return
    _show(stored["result"])


WORDS = {v: k for k, v in search.WEIGHT_CHOICES.items()}     # 4.0 -> "matters most"
NO_LIMIT = "no limit"


def _ladder_labels(t, column: str, recipe: dict) -> list[str]:
    """The names of a column's levels, with the hierarchy the search would use (kept per file and spec)."""
    spec = search.specs_from_recipe(recipe).get(column)
    key = json.dumps([t.source.sha256, len(t.df), column, spec], sort_keys=True, default=str)
    cache = st.session_state.setdefault("_recommend_labels", {})
    if key not in cache:
        try:
            h, _ = search.resolve_hierarchy(column, t.df[column], spec)
            cache[key] = [str(h.label(v)) for v in range(int(h.levels))]
        except CtopenError:
            cache[key] = []
    return cache[key]


def _priorities(t, qi: list[str], recipe: dict) -> tuple[dict, dict]:
    """Per column: how much it matters (a weight) and the coarsest level allowed, chosen here and kept in the
    recipe's "priorities" (ARX's attribute weights). Returns ({column: weight} for weights other than 1,
    {column: level})."""
    try:
        saved_w, saved_l = search.priorities_from_recipe(recipe)
    except CtopenError:
        saved_w, saved_l = {}, {}
    weights, limits = {}, {}
    with st.expander("What matters most (optional)", expanded=bool(saved_w or saved_l),
                     icon=":material/tune:"):
        st.caption("Say which columns people need most: the proposal then loses detail in the others first. "
                   "“Never coarser than” rules out the levels above the one chosen.")
        for c in qi:
            labels = _ladder_labels(t, c, recipe)
            a, b, d = st.columns([2, 2, 3])
            a.markdown(f"**{c}**")
            wkey, lkey = f"_w_rec_weight_{c}", f"_w_rec_limit_{c}"
            if wkey not in st.session_state:
                st.session_state[wkey] = WORDS.get(float(saved_w.get(c, 1.0)), "matters")
            word = b.selectbox(f"How much “{c}” matters", list(search.WEIGHT_CHOICES), key=wkey,
                               label_visibility="collapsed")
            options = [NO_LIMIT] + [f"never coarser than {x}" for x in labels[:-1]]
            if lkey not in st.session_state or st.session_state[lkey] not in options:
                level = saved_l.get(c)
                st.session_state[lkey] = options[level + 1] if level is not None and level + 1 < len(options) else NO_LIMIT
            limit = d.selectbox(f"Coarsest level of “{c}”", options, key=lkey, label_visibility="collapsed")
            if search.WEIGHT_CHOICES[word] != 1.0:
                weights[c] = search.WEIGHT_CHOICES[word]
            if limit != NO_LIMIT:
                limits[c] = options.index(limit) - 1
    kept = search.priorities_for(weights, limits)
    others = {c: v for c, v in (recipe.get("priorities") or {}).items() if c not in qi} \
        if isinstance(recipe.get("priorities"), dict) else {}
    wanted = {**others, **kept}
    if wanted != (recipe.get("priorities") or {}):
        if wanted:
            recipe["priorities"] = wanted
        else:
            recipe.pop("priorities", None)
    return weights, limits


def _describe_priorities(r: dict) -> str:
    parts = [f"“{c}” {WORDS.get(float(w), f'weight {w:g}')}" for c, w in (r.get("weights") or {}).items() if w != 1.0]
    labels = r.get("labels", {})
    parts += [f"“{c}” never coarser than {labels[c][v] if c in labels and v < len(labels[c]) else f'level {v}'}"
              for c, v in (r.get("max_levels") or {}).items()]
    return "; ".join(parts)


def _stored(t) -> dict | None:
    """The last recommendation, if it was made for this file (one for another file is forgotten)."""
    stored = st.session_state.get(RESULT)
    if stored and json.loads(stored["token"])[:2] != [t.source.sha256, len(t.df)]:
        st.session_state.pop(RESULT, None)
        return None
    return stored


def _fixed(t, qi: list[str], roles: dict, steps: list[dict]) -> dict:
    """The page's other quasi-identifiers, with the step the recipe has for each (None: as is)."""
    column_steps = {s.get("column"): s for s in steps if s.get("op") in ("drop", "generalize", "pseudonymize")}
    return {c: column_steps.get(c) for c in t.df.columns if roles.get(c) == "quasi" and c not in qi}


def _offer_repeats(t, qi: list[str]) -> None:
    """Name the quasi-identifiers that repeat another one (a county beside its town) and offer to remove them."""
    key = json.dumps([t.source.sha256, len(t.df), qi])
    cache = st.session_state.setdefault("_recommend_repeats", {})
    if key not in cache:
        with st.spinner("Looking for columns that repeat another one..."):
            cache.clear()
            cache[key] = search.repeating_columns(t.df, qi)
    repeats = cache[key]
    if not repeats:
        return
    st.markdown("These columns repeat another one: " + "; ".join(f"“{b}” repeats “{a}”" for b, a in repeats.items())
                + ". Removing them from the release shrinks the search, and the other column still holds what they say "
                "(the Information lost figure counts each removed column as fully lost). A column only taken out of "
                "the list above stays in the release as it is and still counts.")
    st.button(f"Remove these {len(repeats)} columns from the release", icon=":material/playlist_remove:",
              on_click=_drop_columns, args=(list(repeats),),
              help="Adds a \"remove the column\" step for each to the recipe; Undo takes it back.")


def _drop_columns(columns: list[str]) -> None:
    recipe = state.recipe()
    steps = [s for s in recipe.get("steps", []) if not (s.get("op") in ("drop", "generalize", "pseudonymize")
                                                       and s.get("column") in columns)]
    rank = {"suppress": 1, "aggregate": 2}
    recipe["steps"] = sorted(steps + [{"op": "drop", "column": c} for c in columns], key=lambda s: rank.get(s.get("op"), 0))
    st.toast(f"Removed from the release: {', '.join(columns)}.", icon=":material/playlist_remove:")


def _hierarchies_changed(result: dict, recipe: dict) -> bool:
    """A column's hierarchy was changed on the Columns tab since the search (not just its level)."""
    specs = search.specs_from_recipe(recipe)
    return any(c in specs and specs[c] != h for c, h in result.get("hierarchies", {}).items())


def _lattice(t, qi: list[str], recipe: dict, limits: dict | None = None) -> int | None:
    """The number of level vectors for these columns within their limits (kept per file, columns and
    limits in session state)."""
    if not qi:
        return None
    specs = search.specs_from_recipe(recipe)
    key = json.dumps([t.source.sha256, len(t.df), qi, specs, limits or {}], sort_keys=True, default=str)
    cache = st.session_state.setdefault("_recommend_lattice", {})
    if key not in cache:
        try:
            cache[key] = search.lattice_size(t.df, qi, specs, max_levels=limits)
        except CtopenError as exc:
            layout.show_error(exc)
            return None
    return cache[key]


def _suppress_k(steps) -> int:
    step = next((s for s in steps if s.get("op") == "suppress"), None)
    return int((step or {}).get("k", settings.DEFAULT_K))


def _run(t, inputs: dict, token: str, recipe: dict, fixed: dict) -> None:
    error = None
    with st.status("Searching the combinations of levels...", expanded=True) as status:
        bar = st.progress(0.0, text="Combinations of levels checked")
        try:
            rec = search.recommend(t.df, inputs["qi"], k=inputs["k"], sensitive=inputs["sensitive"], l=inputs["l"],
                                   max_suppression=inputs["max_suppression"],
                                   hierarchies=search.specs_from_recipe(recipe), fixed=fixed,
                                   weights=inputs.get("weights") or None, max_levels=inputs.get("max_levels") or None,
                                   progress=lambda share: bar.progress(min(1.0, share), text="Combinations of levels checked"))
        except CtopenError as exc:
            error = exc
            status.update(label="No recommendation", state="error", expanded=False)
    if error is not None:
        st.session_state.pop(RESULT, None)
        layout.show_error(error)
        return
    status.update(label=f"Done: {rec.nodes_evaluated:,} of {rec.lattice_size:,} combinations evaluated "
                        f"in {rec.seconds:.1f} s", state="complete", expanded=False)
    st.session_state[RESULT] = {"token": token, "inputs": inputs, "result": rec.to_dict()}


def _label(labels: dict, column: str, level: int) -> str:
    name = labels[column][level]
    return "blanked out" if name == "*" else name


def _describe(levels: dict, labels: dict) -> str:
    parts = [f"{c}: {_label(labels, c, v)}" for c, v in levels.items() if v > 0]
    return "; ".join(parts) if parts else "every column as is"


def _show(r: dict) -> None:
    labels = r["labels"]
    st.subheader("Proposal")
    st.markdown(_describe(r["levels"], labels))
    chosen = _describe_priorities(r)
    if chosen:
        st.caption(f"With your priorities: {chosen}. The proposal loses the least detail in what matters, as "
                   "weighted; the information lost below is the plain figure, the same as beside the recipe.")
    m1, m2, m3 = st.columns(3)
    m1.metric("Smallest group (k)", r["k_min"], help="After the suppression below.")
    m2.metric("Records removed", f"{r['suppressed']:,}", help=f"of {r['rows']:,} records")
    m3.metric("Information lost", f"{r['loss']:.1%}",
              help="The share of detail removed from the quasi-identifiers; removed records count as fully lost "
                   "(the same measure as beside the recipe; docs/recipe.md).")
    if r.get("l_min") is not None:
        st.caption(f"Every group keeps at least {r['l_min']} different values of “{r['target']['sensitive']}”.")
    fixed = [c for c in r["recipe"]["steps"][-1].get("columns", []) if c not in r["levels"]]
    if fixed:
        st.caption("k, records removed and information lost count the other quasi-identifiers too: "
                   + ", ".join(f"“{c}”" for c in fixed) + ".")
    for note in r.get("notes", []):
        st.caption(note)
    st.table({"Column": list(r["levels"]), "Level": [_label(labels, c, v) for c, v in r["levels"].items()]}, hide_index=True)
    st.button("Apply this proposal to the recipe", key="rec_apply_0", icon=":material/playlist_add_check:",
              on_click=apply_levels, args=(r, r["levels"]))
    alts = r.get("alternatives", [])
    if len(alts) > 1:
        st.subheader("Other good options")
        st.caption("Each point is a combination of levels that reaches the target. Further left removes fewer "
                   "records; lower loses less detail. None is better on both counts than another.")
        st.plotly_chart(_chart(alts, labels), alt=_chart_text(alts, labels))
        for i, alt in enumerate(alts[1:], start=2):
            st.button(f"Apply option {i}: {_describe(alt['levels'], labels)} — {alt['loss']:.1%} lost, "
                      f"{alt['suppressed']:,} removed", key=f"rec_apply_{i}", on_click=apply_levels, args=(r, alt["levels"]))


def _chart(alts: list[dict], labels: dict) -> go.Figure:
    names = ["1 (proposal)"] + [str(i) for i in range(2, len(alts) + 1)]
    fig = go.Figure(go.Scatter(
        x=[a["suppressed"] for a in alts], y=[100 * a["loss"] for a in alts],
        mode="markers+text+lines", text=[f"option {n}" for n in names], textposition="top right",
        marker=dict(size=[16] + [11] * (len(alts) - 1), symbol=["star"] + ["circle"] * (len(alts) - 1)),
        line=dict(dash="dot", width=1),
        hovertext=[_describe(a["levels"], labels) for a in alts], hoverinfo="text+x+y",
    ))
    most = max(a["suppressed"] for a in alts) or 1
    fig.update_xaxes(range=[-0.06 * most, 1.22 * most])
    fig.update_yaxes(range=[0, 112])
    fig.update_layout(xaxis_title="Records removed", yaxis_title="Information lost (%)", height=340,
                      margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


def _chart_text(alts: list[dict], labels: dict) -> str:
    return "Options: " + "; ".join(f"option {i}: {a['loss']:.1%} lost, {a['suppressed']:,} removed"
                                   for i, a in enumerate(alts, start=1))


def apply_levels(result: dict, levels: dict) -> None:
    """Write the levels into the recipe: replace the generalize steps of those columns (a level 0
    removes it), and replace the suppress step with one for the target k and budget."""
    recipe = state.recipe()
    target = result["target"]
    cols = set(levels)
    kept = [s for s in recipe.get("steps", [])
            if not (s.get("op") == "generalize" and s.get("column") in cols) and s.get("op") != "suppress"]
    before = {s.get("column"): s for s in recipe.get("steps", []) if s.get("op") == "generalize"}
    new = []
    for c, v in levels.items():
        if search.needs_step(result["hierarchies"][c], v):
            step = search.generalize_step(c, result["hierarchies"][c], v)
            old = before.get(c) or {}
            if old.get("state_column") and old.get("hierarchy") == step.get("hierarchy"):
                step["state_column"] = old["state_column"]      # keep "the state is in ResidenceState"
            new.append(step)
    columns = result["recipe"]["steps"][-1].get("columns", list(levels))
    new.append(search.suppress_step(columns, target["k"], target["max_suppression"]))
    if result["recipe"].get("priorities"):                 # the priorities the proposal was made with
        recipe["priorities"] = {**(recipe.get("priorities") or {}), **result["recipe"]["priorities"]}
    rank = {"suppress": 1, "aggregate": 2}
    recipe["steps"] = sorted(kept + new, key=lambda s: rank.get(s.get("op"), 0))
    st.toast("Added to the recipe: " + _describe(levels, result["labels"]) + f", then remove groups smaller than {target['k']}.",
             icon=":material/playlist_add_check:")
