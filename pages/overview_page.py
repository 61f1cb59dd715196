"""Overview: the KPI tiles with month-over-month deltas, small trends, and freshness."""

from functools import partial

import streamlit as st

from stripe_analytics import charts
from stripe_analytics.ui import data, definitions, overview, page, widgets

ctx = page.context()
f = ctx.filters
bundle = page.metrics(ctx)
monthly = bundle.monthly
cur = f.currency

info = data.account_info(ctx.key)
widgets.page_header("Overview", overview.subtitle(f, ctx.product_names, bundle.result.as_of_date, ctx.account.demo,
                                                  info["last_synced_at"]))

fx = page.conversion_note(bundle.result.reporting)
page.stop_without_months(monthly, ctx)

major = bundle.major
compared = widgets.month_comparison(monthly, bundle.result.calendar.last)
# Payments but no MRR (a product filter: payments are not tied to a product): say so, and which
# filter brings MRR back, in place of the MRR charts (flat lines on a meaningless axis).
mrr_matches = page.has_mrr(monthly)
if not mrr_matches:
    page.no_mrr_note(ctx)
for row in overview.kpi_rows(bundle, compared, lambda: page.depth(ctx, "same_days"), cur, fx):
    with widgets.tile_row(overview.TILES_PER_ROW) as cells:
        for cell, kpi in zip(cells, row):
            widgets.kpi(cell, kpi.key, kpi.value, **kpi.options)

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
