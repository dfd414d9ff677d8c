"""Risk figures rendered for people: headline metrics (also shown by Transform beside its controls),
the group-size chart, the columns that single people out, what-if tables, l-diversity, riskiest records.

Every function takes a `ctopen.risk.RiskReport` (or what ctopen.risk returns) and only renders it.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ctopen.risk import RiskReport, key_combinations, riskiest

EXPLAIN = {
    "k": "The fewest records that share one combination of quasi-identifier values. "
         "k = 1 means someone is alone: anyone who knows their values finds their row.",
    "at_risk": "Records in groups smaller than the threshold: the ones most easily picked out.",
    "uniques": "Records whose quasi-identifier values no other record has.",
    "rows_kept": "Records left in the release after suppression, of the records in the file.",
    "highest": "The chance of picking out a person in the smallest group (1 / k).",
    "average": "The chance of picking out a record, averaged over all records (groups / records).",
    "classes": "How many different combinations of quasi-identifier values the table holds.",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _delta(now: int, then: int | None):
    """A signed, thousands-separated change; 0 (a number) shows grey without an arrow."""
    if then is None:
        return None
    d = int(now) - int(then)
    return 0 if d == 0 else f"{d:+,}"


def metrics(report: RiskReport, before: RiskReport | None = None, before_label: str = "before") -> None:
    """The headline figures (k, records at risk, unique records, rows kept), with their change since
    `before` when given (e.g. the file as loaded vs. the transformed release; `before_label` names it).
    Arrows and signed numbers carry the direction; colour only repeats it (fewer records at risk is green)."""
    r, b = report, before
    since = f"since {before_label}" if b else None
    kept, kept_before = r.rows - r.suppressed, (b.rows - b.suppressed) if b else None
    cols = st.columns(4)
    with cols[0]:
        st.metric("Smallest group (k)", f"{r.k_min:,}" if r.records else "no records",
                  delta=_delta(r.k_min, b.k_min if b else None), help=EXPLAIN["k"], delta_description=since)
        st.caption("1 means someone can be singled out." if r.k_min == 1 else
                   f"Every record shares its values with at least {max(r.k_min - 1, 0):,} other(s).")
    with cols[1]:
        st.metric(f"Records at risk (groups < {r.k_threshold})", f"{r.records_at_risk:,}",
                  delta=_delta(r.records_at_risk, b.records_at_risk if b else None), delta_color="inverse",
                  help=EXPLAIN["at_risk"], delta_description=since)
        st.caption(f"{_pct(r.records_at_risk_share)} of the records released.")
    with cols[2]:
        st.metric("Unique records", f"{r.uniques:,}", delta=_delta(r.uniques, b.uniques if b else None),
                  delta_color="inverse", help=EXPLAIN["uniques"], delta_description=since)
        st.caption(f"{_pct(r.uniques_share)} are alone in their group.")
    with cols[3]:
        st.metric("Rows kept", f"{kept:,}", delta=_delta(kept, kept_before), help=EXPLAIN["rows_kept"], delta_description=since)
        st.caption(f"of {r.rows:,}; {r.suppressed:,} suppressed." if r.suppressed else f"of {r.rows:,}; none suppressed.")


render = metrics   # the placeholder's name, kept for callers written against it


def verdict(report: RiskReport) -> None:
    """One sentence: can someone be picked out at this threshold?"""
    r = report
    if not r.records:
        st.info("No records are left to assess.", icon=":material/info:")
    elif r.records_at_risk:
        st.warning(f"**Someone could be picked out.** {r.records_at_risk:,} of {r.records:,} records "
                   f"({_pct(r.records_at_risk_share)}) sit in groups smaller than {r.k_threshold}; "
                   f"{r.uniques:,} are unique.", icon=":material/warning:")
    else:
        st.success(f"**Every record shares its quasi-identifier values with at least {r.k_threshold - 1} "
                   f"other(s)** (k = {r.k_min:,}).", icon=":material/check_circle:")


def more_figures(report: RiskReport) -> None:
    r = report
    cols = st.columns(3)
    for col, (label, value, key) in zip(cols, [
        ("Highest re-identification risk", _pct(r.highest_risk), "highest"),
        ("Average re-identification risk", _pct(r.average_risk), "average"),
        ("Groups", f"{r.classes:,}", "classes"),
    ]):
        with col:
            st.metric(label, value, help=EXPLAIN[key])
            st.caption(EXPLAIN[key])


def histogram(report: RiskReport) -> None:
    """Records per group size, the sizes below the threshold marked by pattern and legend, not colour alone."""
    r = report
    if not r.histogram:
        return
    rows = []
    for b in r.histogram:
        label = str(b.min_size) if b.min_size == b.max_size else f"{b.min_size}-{b.max_size}"
        status = ("In groups smaller than k (at risk)" if b.max_size < r.k_threshold else
                  "In groups of k or more" if b.min_size >= r.k_threshold else "Partly below k")
        rows.append((label, b.records, b.classes, status))
    fig = go.Figure()
    styles = {"In groups smaller than k (at risk)": ("#b2182b", "/"), "Partly below k": ("#ef8a62", "."),
              "In groups of k or more": ("#2166ac", "")}
    for status, (colour, pattern) in styles.items():
        part = [x for x in rows if x[3] == status]
        if part:
            fig.add_bar(x=[x[0] for x in part], y=[x[1] for x in part], name=status,
                        marker={"color": colour, "pattern": {"shape": pattern}},
                        customdata=[x[2] for x in part], text=[f"{x[1]:,}" for x in part], textposition="outside",
                        hovertemplate="Group size %{x}: %{y:,} records in %{customdata:,} groups<extra></extra>")
    fig.update_layout(title=f"How many records share their values with how many others (threshold k = {r.k_threshold})",
                      xaxis_title="Group size (records with the same quasi-identifier values)",
                      yaxis_title="Records", xaxis={"type": "category", "categoryorder": "array",
                                                    "categoryarray": [x[0] for x in rows]},
                      legend_title_text="", height=380, margin={"t": 60, "b": 40})
    st.plotly_chart(fig, width="stretch")
    st.caption("Each bar counts the records in groups of that size. A group of 1 is a person alone in the file.")


def _cols(columns) -> str:
    return " + ".join(columns)


def combinations_table(report: RiskReport, min_share: float = 0.05) -> None:
    """The smallest QI combinations that already make many records unique, and every combination on demand."""
    r = report
    if not r.qi_combinations:
        return
    keys = key_combinations(r, min_share=min_share)
    st.caption(f"The smallest sets of columns that already make at least {min_share:.0%} of the records unique: "
               "these drive the risk. Coarsening or dropping one of them helps most.")
    if keys:
        st.dataframe(pd.DataFrame([{"Columns": _cols(c.columns), "Unique records": c.uniques,
                                    "Share unique": _pct(c.uniques / r.records), "Smallest group": c.k_min}
                                   for c in keys]), hide_index=True, width="stretch")
    else:
        st.write(f"No combination of these columns makes {min_share:.0%} of the records unique.")
    if r.combinations_note:
        st.caption(r.combinations_note)
    with st.expander(f"Every combination ({len(r.qi_combinations):,})"):
        st.dataframe(pd.DataFrame([{"Columns": _cols(c.columns), "Number of columns": len(c.columns),
                                    "Unique records": c.uniques, "Smallest group": c.k_min,
                                    f"Records in groups < {r.k_threshold}": c.records_at_risk}
                                   for c in r.qi_combinations]), hide_index=True, width="stretch")


def what_if_table(items, report: RiskReport) -> None:
    """What k, records at risk and uniques become if one column is dropped or coarsened one level."""
    if not items:
        return
    r = report
    rows = [{"Change": "None (as now)", "Smallest group (k)": r.k_min,
             f"Records at risk (< {r.k_threshold})": r.records_at_risk, "Unique records": r.uniques}]
    for w in items:
        change = f"Drop {w.column}" if w.change == "dropped" else f"{w.column} to {w.detail or 'one level coarser'}"
        rows.append({"Change": change, "Smallest group (k)": w.k_min,
                     f"Records at risk (< {r.k_threshold})": w.records_at_risk, "Unique records": w.uniques})
    st.caption("What the figures would become with one change at a time (the Transform step makes changes for real).")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def diversity_table(report: RiskReport) -> None:
    """l-diversity per sensitive attribute."""
    r = report
    if not r.l_diversity:
        return
    st.caption("A group of 6 where everyone has the same offense or diagnosis discloses it, even though 6 people "
               "share the group. Distinct-l is the fewest different values any group holds (1 = some group all share "
               "one value); entropy-l is the same idea, weighted by how evenly the values are spread.")
    k = r.k_threshold
    st.dataframe(pd.DataFrame([{"Sensitive attribute": col, "Reading": _diversity_reading(d, k, r.k_min),
                                f"Groups of {k} or more all with one value": d.disclosing_groups,
                                "Records in them": d.disclosing_records,
                                "Fewest distinct values in a group (distinct-l)": d.distinct,
                                "Entropy-l": round(d.entropy, 2)}
                               for col, d in r.l_diversity.items()]), hide_index=True, width="stretch",
                 column_config={"Reading": st.column_config.TextColumn("Reading", width="large")})


def _diversity_reading(d, k: int, k_min: int) -> str:
    groups, records = d.disclosing_groups, d.disclosing_records
    if groups:
        return (f"{groups:,} group(s) of {k} or more disclose it ({records:,} records): anyone known to be in one "
                "learns the value. Generalize it, or coarsen the quasi-identifiers.")
    if d.distinct <= 1:
        return (f"Only groups smaller than {k} (already counted at risk) hold a single value."
                if k_min < k else "Some group discloses its value")
    return f"Every group holds at least {d.distinct} values"


def riskiest_table(df: pd.DataFrame, report: RiskReport, masked=(), n: int = 10) -> None:
    """The records in the smallest groups; direct identifiers masked."""
    top = riskiest(df, report, n=n, masked=masked)
    values = [c for c in top.columns if c != "Group size"]
    top[values] = top[values].astype(object).where(top[values].notna(), "(missing)")
    st.dataframe(top, hide_index=True, width="stretch")
    st.caption("Direct identifiers are masked." if any(c in top.columns for c in masked) else
               "Only the quasi-identifiers and sensitive attributes are shown.")


# --- risk in the population (ctopen.population) ----------------------------------------------------------

MODEL_HELP = ("Estimated from how many groups of 1, 2, 3... records the file holds, with the models of Dankar, "
              "El Emam, Neisa & Roffey (2012), as the ARX tool implements them: Pitman when the file holds at most "
              "10% of the people, else the lower of Zayatz and SNB. docs/internals.md says more.")


def _share(x: float) -> str:
    return f"{100 * x:.2g}%" if 0 < x < 0.001 else _pct(x)


def population(p, limit: float | None = None) -> None:
    """The population figures (a ctopen.population.PopulationRisk), and the officer's limit on population
    uniques when one is set (a share such as 0.001)."""
    cols = st.columns(3)
    with cols[0]:
        st.metric("People unique in the population (estimated)", f"{p.uniques:,.0f}" if p.uniques >= 10 else
                  f"{p.uniques:,.1f}", help=MODEL_HELP)
        st.caption(f"{_share(p.uniques_share)} of the {p.size:,} people.")
    with cols[1]:
        st.metric("File records unique among them (expected)", f"{p.population_unique_records:,.1f}",
                  help="Of the records alone in the file, how many are expected to be alone among all the people "
                       "too: someone who knows such a person is in the file finds their row for sure.")
        st.caption(f"of the {p.sample_uniques:,} records unique in the file.")
    with cols[2]:
        st.metric("Records matched by linking the whole file", _share(p.marketer_risk),
                  help="The expected share of records an intruder matching the whole file against a register of "
                       "all these people would match correctly (marketer risk).")
        st.caption(f"The file holds {_share(p.sampling_fraction)} of the people.")
    st.caption(p.sentence() + (" Model: " + {"pitman": "Pitman", "zayatz": "Zayatz", "snb": "SNB"}[p.model] + "."
                               if p.model in ("pitman", "zayatz", "snb") else ""))
    for note in p.notes:
        st.caption(note)
    if limit is not None:
        if p.uniques_share <= limit:
            st.success(f"Within your limit: at most {_share(limit)} of the people unique "
                       f"(estimated {_share(p.uniques_share)}).", icon=":material/check_circle:")
        else:
            st.warning(f"**Above your limit** of {_share(limit)} population uniques (estimated "
                       f"{_share(p.uniques_share)}): generalize or suppress further.", icon=":material/warning:")
