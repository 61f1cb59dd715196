"""Retention: cohort heatmaps (logo and revenue retention) and churn rates over time."""

from functools import partial

import streamlit as st

from stripe_analytics import charts
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, definitions, page, segments, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
bundle = page.metrics(ctx)
monthly = bundle.monthly
widgets.page_header("Retention", f.describe(ctx.product_names) + " · cohorts by the month of first MRR")
fx = page.conversion_note(bundle.result.reporting)
page.stop_without_months(monthly, ctx, mrr_only=True)

compared = widgets.month_comparison(monthly, bundle.result.calendar.last)
last, prev, vs, p = compared.last, compared.prev, compared.vs, compared.previous
with widgets.tile_row(4) as tiles:
    for tile, key in zip(tiles, ["customer_churn_rate", "revenue_churn_rate", "grr", "nrr"]):
        widgets.kpi(tile, key, fmt.percent(last[key]), delta=fmt.delta_text(last[key], p(key), kind="points"),
                    inverse=key.endswith("churn_rate"), trend=monthly[key], delta_description=vs, note=fx,
                    chart_type="line")

try:
    cohorts = data.cohorts(ctx.key, f.metric_json(), reporting=f.reporting_currency)
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()
if not cohorts.empty:
    cohorts = cohorts[(cohorts["currency"] == cur) & (cohorts["cohort"] >= monthly["month"].iloc[0])]

# The horizon slider redraws only the cohorts (a fragment), not the churn charts below.
@st.fragment
def cohort_views() -> None:
    horizon = st.slider("Months since start", 3, int(cohorts["age"].max()) if cohorts["age"].max() > 3 else 3,
                        min(12, max(3, int(cohorts["age"].max()))), key="ret_horizon")
    logo_tab, revenue_tab, table_tab = widgets.tabs(["Logo retention", "Revenue retention", "Table"], key="ret_view")
    with logo_tab:
        if logo_tab.open:
            widgets.chart(partial(charts.cohort_heatmap, cohorts, "logo_retention", max_age=horizon),
                          cohorts[cohorts["age"] <= horizon], key="ret_logo", view="logo_retention", filters=f,
                          light=True)
    with revenue_tab:
        if revenue_tab.open:
            widgets.chart(partial(charts.cohort_heatmap, cohorts, "revenue_retention", max_age=horizon),
                          cohorts[cohorts["age"] <= horizon], note=fx, key="ret_revenue", view="revenue_retention",
                          filters=f, light=True)
    with table_tab:
        if table_tab.open:
            widgets.table(cohorts.drop(columns=["currency"]), key="ret_table", view="cohorts", filters=f,
                          money=["cohort_mrr", "mrr"], currency=cur,
                          column_config={"logo_retention": st.column_config.NumberColumn("Logo retention",
                                                                                         format="percent"),
                                         "revenue_retention": st.column_config.NumberColumn("Revenue retention",
                                                                                            format="percent")})


st.markdown("#### Cohorts")
if cohorts.empty:
    st.info("No cohort starts in this range (a cohort is the month of a customer's first MRR): widen the date "
            "range.")
else:
    cohort_views()

st.markdown("#### Churn over time")
left, right = st.columns(2)
with left:
    widgets.chart(partial(charts.lines, monthly, "month", {"customer_churn_rate": "Customer churn",
                                             "revenue_churn_rate": "Revenue churn"}, kind="percent",
                          title="Churn rates"),
                  monthly[["month", "currency", "churned_customers", "customer_churn_rate", "revenue_churn_rate"]],
                  note=fx, key="ret_churn", view="churn_rates", filters=f, light=True)
with right:
    widgets.chart(partial(charts.lines, monthly, "month", {"grr": "GRR", "nrr": "NRR"}, kind="percent",
                          title="Gross and net revenue retention"),
                  monthly[["month", "currency", "grr", "nrr"]], note=fx, key="ret_grr", view="revenue_retention_rates",
                  filters=f, light=True)

segments.churn_section(ctx)

definitions.expander(["cohort", "logo_retention", "revenue_retention", "customer_churn_rate", "revenue_churn_rate",
                      "grr", "nrr"])
