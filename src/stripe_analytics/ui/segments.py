"""The breakdown by segment of the MRR and Retention pages (docs/metrics.md "Segments"):
movements by segment value for a month, churn by segment value over time. The dimension is the
sidebar's *Break down by* (URL `by`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import charts
from ..metrics import to_major
from . import page, widgets
from .context import AppContext
from ..metrics.segments import NO_SEGMENT
from .filters import by_label, show_only

# The segments drawn one by one at most (the largest by MRR); the tables list them all.
MAX_LINES = 8


def _breakdown(ctx: AppContext, heading: str) -> tuple[pd.DataFrame, str] | None:
    """This view's breakdown (in the sidebar's currency), with a `name` column, under the heading
    "<heading> by <dimension>"; None (and a hint) when no breakdown is chosen or the view converts
    every currency."""
    f = ctx.filters
    if not f.by:
        st.caption(":material/splitscreen: Pick **Break down by** in the sidebar to see these figures per plan, "
                   "price, billing interval, country or metadata value.")
        return None
    label = by_label(f.by)
    if f.converted:
        st.info(f"The breakdown by {label.lower()} is per currency: pick one currency in the sidebar.",
                icon=":material/splitscreen:")
        return None
    frame, names = page.segment_breakdown(ctx)
    frame = frame[frame["currency"] == f.currency].copy()
    frame["name"] = [names.get(v, v) for v in frame["segment"]]
    st.markdown(f"#### {heading} by {label.lower()}")
    return frame, label


def movements_section(ctx: AppContext, months: list[str]) -> None:
    """MRR page: one month's new, expansion, contraction, churn, reactivation and moves per value."""
    found = _breakdown(ctx, "MRR movements")
    if found is None:
        return
    (frame, label), f = found, ctx.filters
    _mrr_over_time(frame, label, f)
    if st.session_state.get("seg_month") not in months:
        st.session_state["seg_month"] = months[-1]
    month = st.selectbox("Month", months, key="seg_month")
    rows = frame[frame["month"] == month]
    rows = rows[(rows[["mrr", "net_new_mrr", "moved_in_mrr", "moved_out_mrr", "churned_mrr"]] != 0).any(axis=1)]
    rows = rows.sort_values(["mrr", "name"], ascending=[False, True])
    st.caption("Gains (new, reactivation, expansion) count in a customer's segment after the movement, losses "
               "(contraction, churn) in the one before; a customer who changes segment moves its MRR from one to "
               "the other (moved in / out). See Definitions.")
    columns = ["name", "segment", "mrr", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr",
               "churned_mrr", "moved_in_mrr", "moved_out_mrr", "net_new_mrr", "active_customers", "new_customers",
               "churned_customers", "customer_churn_rate"]
    widgets.chart(charts.segment_movements(to_major(rows), f.currency), to_major(rows)[columns], key="seg_moves",
                  view=f"mrr_movements_by_{f.by}_{month}", filters=f)
    picked = widgets.table(rows[columns], key="seg_moves_table", view=f"mrr_movements_by_{f.by}_{month}", filters=f,
                           money=[c for c in columns if c.endswith("_mrr") or c == "mrr"], currency=f.currency,
                           search=False,
                           column_config={"name": st.column_config.TextColumn(label),
                                          "segment": st.column_config.TextColumn("Id"),
                                          "customer_churn_rate": st.column_config.NumberColumn("Customer churn",
                                                                                               format="percent")},
                           empty=f"No MRR by {label.lower()} in {month}.", selectable=True)
    if picked is not None and picked["segment"] != NO_SEGMENT:
        st.button(f"Show only {label.lower()} {picked['name']}", icon=":material/filter_alt:", key="seg_only",
                  on_click=show_only, args=(st.session_state, f.by, picked["segment"]),
                  help="Filter every page by this segment (kept in the URL; Reset filters to undo).")


def _largest(frame: pd.DataFrame) -> list[str]:
    """The segment values drawn one by one (the largest by MRR in the last month); the others
    are drawn together as "Others"."""
    last = frame[frame["m"] == frame["m"].max()].sort_values(["mrr", "segment"], ascending=[False, True])
    return list(last["segment"].head(MAX_LINES))


def _per_month(frame: pd.DataFrame, values: str) -> pd.DataFrame:
    """`values` with a column per segment value and a row per month. The columns are named
    `segment:<value>` (`_series`): a value may itself be "month" (the billing interval)."""
    wide = frame.pivot(index="month", columns="segment", values=values)
    wide.columns = [f"segment:{value}" for value in wide.columns]
    return wide.reset_index()


def _series(wide: pd.DataFrame, names: dict) -> dict[str, str]:
    """The chart's series of a `_per_month` frame: its columns, named as the segment values."""
    return {f"segment:{value}": name for value, name in names.items() if f"segment:{value}" in wide.columns}


def _mrr_over_time(frame: pd.DataFrame, label: str, f) -> None:
    """MRR per segment value at each month's end, stacked, so the total is the account's MRR."""
    largest = _largest(frame)
    names = dict(zip(frame["segment"], frame["name"]))
    shown = frame.assign(segment=frame["segment"].where(frame["segment"].isin(largest), "_others"))
    wide = _per_month(to_major(shown.groupby(["currency", "month", "segment"], as_index=False)["mrr"].sum()),
                      "mrr").fillna(0)
    series = _series(wide, {**{s: names[s] for s in largest}, "_others": "Others"})
    widgets.chart(charts.bars(wide, "month", series, currency=f.currency, stacked=True,
                              title=f"MRR by {label.lower()}"),
                  to_major(frame[["month", "currency", "segment", "name", "mrr", "active_customers"]]),
                  key="seg_mrr", view=f"mrr_by_{f.by}", filters=f)


def churn_section(ctx: AppContext) -> None:
    """Retention page: customer and revenue churn per value over time, and the last month's table."""
    found = _breakdown(ctx, "Churn")
    if found is None:
        return
    (frame, label), f = found, ctx.filters
    largest = _largest(frame)
    names = dict(zip(frame["segment"], frame["name"]))
    wide = _per_month(frame[frame["segment"].isin(largest)], "customer_churn_rate")
    title = f"Customer churn rate by {label.lower()}" + (
        f" (the {MAX_LINES} largest)" if frame["segment"].nunique() > MAX_LINES else "")
    widgets.chart(charts.lines(wide, "month", _series(wide, {s: names[s] for s in largest}), kind="percent",
                               title=title),
                  frame[["month", "segment", "name", "active_customers", "churned_customers", "customer_churn_rate"]],
                  key="seg_churn", view=f"churn_by_{f.by}", filters=f)
    last = frame[frame["month"] == frame["month"].max()].sort_values(["mrr", "name"], ascending=[False, True])
    st.caption(f"{last['month'].iloc[0] if len(last) else ''}: churn counts in the segment a customer was in the "
               "month before; rates divide by that segment's customers and MRR of the month before.")
    pct = {c: st.column_config.NumberColumn(t, format="percent") for c, t in (
        ("customer_churn_rate", "Customer churn"), ("revenue_churn_rate", "Revenue churn"), ("grr", "GRR"),
        ("nrr", "NRR"))}
    widgets.table(last[["name", "segment", "active_customers", "churned_customers", "churned_mrr", "contraction_mrr",
                        "customer_churn_rate", "revenue_churn_rate", "grr", "nrr"]],
                  key="seg_churn_table", view=f"churn_by_{f.by}", filters=f,
                  money=["churned_mrr", "contraction_mrr"], currency=f.currency, search=False,
                  column_config={"name": st.column_config.TextColumn(label),
                                 "segment": st.column_config.TextColumn("Id"), **pct})
