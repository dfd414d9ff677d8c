"""Transform: drop, generalize, suppress or pseudonymize, count into a table or a map (hexagons, towns), and see the
price live. The steps are the recipe."""
import streamlit as st

from ctopen import recipe as recipes
from ui import aggregate_panel, layout, map_panel, recommend_panel, state
from ui import transform_widgets as w

layout.header("pages/transform.py")
t = state.require_table()
w.sync_history()
roles = state.roles()
found = state.detection()
entities = {c.name: c.entity for c in found.columns}
direct = [c for c in t.df.columns if roles.get(c) == "direct"]
qi = [c for c in t.df.columns if roles.get(c) == "quasi"]
token = f"{t.source.sha256}:{len(t.df)}"

st.subheader("The release, with this recipe")
with st.spinner("Applying the recipe and measuring the risk..."):
    figs = w.figures(t, qi, w.target_k())
w.show_figures(figs, w.target_k())

controls, side = st.columns([3, 2], gap="large")
with controls:
    has_map = map_panel.available(t, roles, entities)
    tabs = st.tabs(["Columns", "Recommend", "Publish counts instead of records"] + (["Map of counts"] if has_map else []))
    columns_tab, recommend_tab, counts_tab = tabs[:3]
    with columns_tab:
        if not direct and not qi:
            st.info("No column is marked as an identifier or quasi-identifier. Mark them on the Identify page; "
                    "you can still remove other columns below.", icon=":material/info:")
        for role, cols, title in (("direct", direct, "Identifiers"), ("quasi", qi, "Quasi-identifiers")):
            if cols:
                st.subheader(title)
            for col in cols:
                with st.container(border=True):
                    w.column_editor(t.df, col, role, entities.get(col), token, figs)
        others = [c for c in t.df.columns if c not in direct + qi]
        dropped = [s["column"] for s in state.recipe().get("steps", []) if s.get("op") == "drop"]
        with st.expander("Other columns"):
            keep_out = st.multiselect("Remove these columns too", others, default=[c for c in others if c in dropped],
                                      key=f"tf_{w._key()}_others")
            if set(keep_out) != {c for c in others if c in dropped}:
                w.set_drops(others, keep_out)
                st.rerun()
        st.subheader("Small groups")
        with st.container(border=True):
            w.suppress_editor([c for c in qi if c not in dropped], figs)
    with recommend_tab:
        recommend_panel.render()
    with counts_tab:
        aggregate_panel.render()
    if has_map:
        with tabs[3]:
            map_panel.render(entities)

with side:
    st.subheader("The recipe")
    w.undo_redo()
    w.recipe_list()
    st.download_button("Download the recipe (JSON)", recipes.dumps(state.recipe()), mime="application/json",
                       file_name=f"{t.source.file.rsplit('.', 1)[0]}.recipe.json", icon=":material/download:",
                       use_container_width=True)
    w.upload_recipe(t)
    st.caption("Re-apply it to next month's file: `python -m ctopen apply FILE --recipe RECIPE.json --out OUT.csv`")

layout.next_step("pages/transform.py")
