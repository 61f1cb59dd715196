"""Overview: the KPI tiles with month-over-month deltas, small trends, and freshness."""

from functools import partial

import streamlit as st

from stripe_analytics import charts
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, definitions, page, widgets

ctx = page.context()
f = ctx.filters
bundle = page.metrics(ctx)
monthly = bundle.monthly
cur = f.currency

info = data.account_info(ctx.key)
widgets.page_header("Overview", f"{f.describe(ctx.product_names)} · as of {bundle.result.as_of_date:%d %b %Y} · "
                                 f"{'generated' if ctx.account.demo else 'synced'} {fmt.ago(info['last_synced_at'])}")

fx = page.conversion_note(bundle.result.reporting)
page.stop_without_months(monthly, ctx)

major = bundle.major
compared = widgets.month_comparison(monthly, bundle.result.calendar.last)
last, prev, vs, p = compared.last, compared.prev, compared.vs, compared.previous
# Payments but no MRR (a product filter: payments are not tied to a product): say so, and which
# filter brings MRR back, in place of the MRR charts (flat lines on a meaningless axis).
mrr_matches = page.has_mrr(monthly)
if not mrr_matches:
    page.no_mrr_note(ctx)
tiles = st.columns(4)
widgets.kpi(tiles[0], "mrr", fmt.money(last["mrr"], cur), delta=fmt.delta_text(last["mrr"], p("mrr")),
            trend=major["mrr"], delta_description=vs, note=fx)
widgets.kpi(tiles[1], "arr", fmt.money(last["arr"], cur), delta=fmt.delta_text(last["arr"], p("arr")),
            trend=major["arr"], delta_description=vs, note=fx)
widgets.kpi(tiles[2], "active_customers", fmt.count(last["active_customers"]),
            delta=fmt.delta_text(last["active_customers"], p("active_customers")),
            trend=monthly["active_customers"], delta_description=vs, note=fx)
widgets.kpi(tiles[3], "customer_churn_rate", fmt.percent(last["customer_churn_rate"]),
            delta=fmt.delta_text(last["customer_churn_rate"], p("customer_churn_rate"), kind="points"),
            inverse=True, trend=monthly["customer_churn_rate"], delta_description=vs, note=fx,
            chart_type="bar")
tiles = st.columns(4)
widgets.kpi(tiles[0], "nrr", fmt.percent(last["nrr"]),
            delta=fmt.delta_text(last["nrr"], p("nrr"), kind="points"), trend=monthly["nrr"],
            delta_description=vs, note=fx, chart_type="line")
# Volumes are flows: a month to date is compared with the same days of the month before
# (metrics.md "Comparing a month to date"), in grey: the month is not over, so it is no verdict yet.
same_days = widgets.same_days(page.depth(ctx, "same_days"), last["month"], True) if compared.to_date else None
if same_days is not None and same_days.previous is not None:
    flow_vs, flow_prev = f"{same_days.vs} (month to date)", same_days.previous.get
else:
    flow_vs, flow_prev = (f"{vs} (month to date)" if vs and compared.to_date else vs), p
widgets.kpi(tiles[1], "gross_volume", fmt.money(last["gross_volume"], cur),
            delta=fmt.delta_text(last["gross_volume"], flow_prev("gross_volume")), trend=major["gross_volume"],
            delta_description=flow_vs, note=fx, chart_type="bar", partial=compared.to_date)
widgets.kpi(tiles[2], "net_volume", fmt.money(last["net_volume"], cur),
            delta=fmt.delta_text(last["net_volume"], flow_prev("net_volume")), trend=major["net_volume"],
            delta_description=flow_vs, note=fx, chart_type="bar", partial=compared.to_date)
widgets.kpi(tiles[3], "arpa", fmt.money(last["arpa"], cur), delta=fmt.delta_text(last["arpa"], p("arpa")),
            trend=major["arpa"], delta_description=vs, note=fx, chart_type="line")

if mrr_matches:
    left, right = st.columns(2)
    with left:
        widgets.chart(partial(charts.lines, major, "month", {"mrr": "MRR"}, currency=cur, title="MRR", area=True,
                              height=300),
                      major[["month", "currency", "mrr"]], note=fx, key="ov_mrr", view="mrr", filters=f, light=True)
    with right:
        widgets.chart(partial(charts.movements, major, cur, title="MRR movements", height=300),
                      major[["month", "currency", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr",
                             "churned_mrr", "net_new_mrr", *(["fx_mrr"] if f.converted else [])]], note=fx,
                      key="ov_moves", view="mrr_movements", filters=f, light=True)
left, right = st.columns(2)
with left:
    widgets.chart(partial(charts.bars, major, "month", {"gross_volume": "Gross volume", "net_volume": "Net volume"},
                          currency=cur, title="Gross and net volume", height=300),
                  major[["month", "currency", "gross_volume", "net_volume"]], note=fx, key="ov_volume", view="volume",
                  filters=f, light=True)
if mrr_matches:
    with right:
        widgets.chart(partial(charts.lines, monthly, "month", {"active_customers": "Active customers"}, kind="count",
                              title="Active customers", height=300),
                      monthly[["month", "currency", "active_customers"]], key="ov_customers", view="active_customers",
                      filters=f, light=True)

definitions.expander(["mrr", "arr", "active_customers", "customer_churn_rate", "nrr", "gross_volume", "net_volume",
                      "arpa", "net_new_mrr"])
