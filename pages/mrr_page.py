"""MRR & growth: MRR stacked by movement, a movement waterfall for a chosen month, ARR,
growth rates, quick ratio, ARPA, LTV, and the customers behind each movement."""

from functools import partial

import streamlit as st

from stripe_analytics import charts
from stripe_analytics.charts import MOVEMENT_LABELS
from stripe_analytics.metrics import monthly as monthly_view
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, definitions, page, segments, widget_state, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
bundle = page.metrics(ctx)
monthly = bundle.monthly
widgets.page_header("MRR & growth", f.describe(ctx.product_names) + " · MRR at each month's end")
fx = page.conversion_note(bundle.result.reporting)
page.stop_without_months(monthly, ctx, mrr_only=True)
major = bundle.major
months = list(monthly["month"])
MOVEMENT_ORDER = list(monthly_view.MOVEMENT_COLUMNS)

# A click on a movement bar selects that month and movement (before the selectors are drawn);
# a selection is applied once, so the selectors can still be changed by hand afterwards.
state = st.session_state
MOVEMENT_OF_LABEL = {label: movement for movement, label in MOVEMENT_LABELS.items()}
for point in widgets.selected_points(state.get("mrr_moves")):
    movement = MOVEMENT_OF_LABEL.get(point.get("series"))  # the bar's series: "New", "Churn", ...
    month = str(point.get("x") or "")[:7]
    if movement in MOVEMENT_LABELS and month in months:
        if state.get("_mv_clicked") != (month, movement):
            state["mv_month"], state["mv_kind"] = month, movement
            state["_mv_clicked"] = (month, movement)
        break
if state.get("mv_month") not in months:
    state["mv_month"] = months[-1]
widget_state.resend(state, ["mv_month", "mv_kind"])

compared = widgets.month_comparison(monthly, bundle.result.calendar.last)
last, prev, vs, p = compared.last, compared.prev, compared.vs, compared.previous
with widgets.tile_row(3) as tiles:
    widgets.kpi(tiles[0], "mrr", fmt.money(last["mrr"], cur), delta=fmt.delta_text(last["mrr"], p("mrr")),
                trend=major["mrr"], delta_description=vs, note=fx)
    widgets.kpi(tiles[1], "arr", fmt.money(last["arr"], cur), delta=fmt.delta_text(last["arr"], p("arr")),
                trend=major["arr"], delta_description=vs, note=fx)
    widgets.kpi(tiles[2], "net_new_mrr", fmt.money(last["net_new_mrr"], cur),
                delta=fmt.delta_text(last["net_new_mrr"], p("net_new_mrr"), kind="absolute",
                                     currency=cur) if prev is not None else None,
                trend=major["net_new_mrr"], delta_description=vs, note=fx, chart_type="bar")
with widgets.tile_row(4) as tiles:
    widgets.kpi(tiles[0], "mrr_growth_rate", fmt.percent(last["mrr_growth_rate"]),
                delta=fmt.delta_text(last["mrr_growth_rate"], p("mrr_growth_rate"), kind="points"),
                trend=monthly["mrr_growth_rate"], delta_description=vs, note=fx, chart_type="bar")
    widgets.kpi(tiles[1], "quick_ratio", fmt.ratio(last["quick_ratio"]),
                delta=fmt.delta_text(last["quick_ratio"], p("quick_ratio")), trend=monthly["quick_ratio"],
                delta_description=vs, note=fx, chart_type="bar")
    widgets.kpi(tiles[2], "arpa", fmt.money(last["arpa"], cur), delta=fmt.delta_text(last["arpa"], p("arpa")),
                trend=major["arpa"], delta_description=vs, note=fx, chart_type="line")
    widgets.kpi(tiles[3], "ltv", fmt.money(last["ltv"], cur), delta=fmt.delta_text(last["ltv"], p("ltv")),
                trend=major["ltv"], delta_description=vs, note=fx, chart_type="line")

movement_columns = monthly_view.mrr_movement_columns(f.converted)


# Month and movement pickers redraw only this part (a fragment), not the page's other charts.
@st.fragment
def who_moved_and_bridge() -> None:
    left, right = st.columns([1, 1])
    with left:
        st.markdown("#### Who moved")
        pick = st.columns(2)
        pick[0].selectbox("Month", months, key="mv_month")
        pick[1].selectbox("Movement", MOVEMENT_ORDER, key="mv_kind", format_func=MOVEMENT_LABELS.get)
        try:
            people = data.movers(ctx.key, f.metric_json(), cur, state["mv_month"], state.get("mv_kind") or "new",
                                 reporting=f.reporting_currency)
        except data.CacheBusy as error:
            st.info(str(error))
            people = None
        if people is not None:
            # Who and the amount first: in half the page's width the amount must not need scrolling to.
            shown = people.rename(columns={"customer": "id"})
            shown.insert(0, "who", shown["name"].fillna(shown["email"]).fillna(shown["id"]))
            widgets.table(shown, key="mrr_movers", view=f"mrr_{state.get('mv_kind') or 'new'}_{state['mv_month']}",
                          filters=f, money=["previous_mrr", "mrr", "amount"], currency=cur, height=320,
                          columns=["who", "amount", "previous_mrr", "mrr"],
                          column_config={"who": st.column_config.TextColumn("Customer"),
                                         "id": st.column_config.TextColumn("Customer id")},
                          empty="No customer had this movement in this month.")
    with right:
        st.markdown("#### MRR bridge")
        row = major[major["month"] == state["mv_month"]].iloc[0]
        widgets.chart(partial(charts.waterfall, row, cur,
                              title=f"From the start to the end of {fmt.month_name(row['month'])}",
                              height=380),
                      major[major["month"] == state["mv_month"]][movement_columns], note=fx, key="mrr_waterfall",
                      view=f"mrr_bridge_{row['month']}", filters=f, light=True)


def movements_section() -> None:
    st.caption("Gains above the axis, losses below. Click a bar to see the customers behind it.")
    widgets.chart(partial(charts.movements, major, cur, title=None), major[movement_columns], note=fx, key="mrr_moves",
                  view="mrr_movements", filters=f, selectable=True, light=True)
    who_moved_and_bridge()
    segments.movements_section(ctx, months)


def growth_section() -> None:
    left, right = st.columns(2)
    with left:
        widgets.chart(partial(charts.lines, major, "month", {"arr": "ARR"}, currency=cur, title="ARR", area=True),
                      major[["month", "currency", "mrr", "arr"]], note=fx, key="mrr_arr", view="arr", filters=f, light=True)
    with right:
        widgets.chart(partial(charts.bars, monthly, "month", {"mrr_growth_rate": "MRR growth"}, kind="percent",
                              title="MRR growth rate"),
                      monthly[["month", "currency", "mrr_growth_rate"]], note=fx, key="mrr_growth", view="mrr_growth_rate",
                      filters=f, light=True)
    widgets.chart(partial(charts.bars, monthly, "month", {"quick_ratio": "Quick ratio"}, kind="ratio",
                          title="Quick ratio"),
                  monthly[["month", "currency", "quick_ratio"]], note=fx, key="mrr_quick", view="quick_ratio", filters=f,
                  light=True)
    # ARPA and LTV apart: LTV is tens of times ARPA, so on one axis ARPA would read as a flat line.
    left, right = st.columns(2)
    with left:
        widgets.chart(partial(charts.lines, major, "month", {"arpa": "ARPA"}, currency=cur, title="ARPA"),
                      major[["month", "currency", "arpa"]], note=fx, key="mrr_arpa", view="arpa", filters=f, light=True)
    with right:
        widgets.chart(partial(charts.lines, major, "month", {"ltv": "LTV"}, currency=cur, title="LTV"),
                      major[["month", "currency", "ltv"]], note=fx, key="mrr_ltv", view="ltv", filters=f, light=True)


def table_section() -> None:
    table_columns = monthly_view.mrr_table_columns(f.converted)
    pct = st.column_config.NumberColumn("MRR growth", format="percent")
    widgets.table(monthly[table_columns], key="mrr_table", view="mrr_monthly", filters=f,
                  money=monthly_view.money_columns(table_columns),
                  currency=cur, column_config={"mrr_growth_rate": pct, "fx_mrr": widgets.money_config("FX impact", cur),
                                               "quick_ratio": st.column_config.NumberColumn("Quick ratio", format="%.2f")},
                  search=False)


widgets.sections({"MRR movements": movements_section, "Growth": growth_section, "Monthly table": table_section},
                 key="mrr_section")

definitions.expander(["mrr", "arr", "new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr",
                      "net_new_mrr", *(["fx_mrr"] if f.converted else []), "mrr_growth_rate", "quick_ratio", "arpa", "ltv",
                      *(["moved_in_mrr", "moved_out_mrr"] if f.by else [])])
