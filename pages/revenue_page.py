"""Revenue: gross and net volume, refunds, fees and disputes over time (by day, ISO week or
month: the sidebar's granularity); payment success rate and average order value; breakdowns by
currency, product and payment method."""

import pandas as pd
import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.metrics import to_major
from stripe_analytics.metrics.cash import period_start
from stripe_analytics.ui import definitions, format as fmt, page, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
period = f.granularity  # day, week or month: the sidebar's granularity
cash = page.cash(ctx, period)
widgets.page_header("Revenue", f.describe(ctx.product_names) + f" · payments by the {period} they were created"
                    + (" (weeks start on Monday)" if period == "week" else ""))
if f.product:
    st.caption(":material/info: Payments are not tied to one product, so the volumes below ignore the product "
               "filter; the product breakdown uses invoice lines.")
fx = page.conversion_note(page.cash_conversion(ctx, period), cash=True)
if cash.empty:
    widgets.empty_state(f"No {period}s in this range", "Widen the date range in the sidebar.")
    st.stop()
if not page.has_activity(cash):
    page.stop_nothing_matches(ctx)

major = to_major(cash)
last = cash.iloc[-1]
prev = cash.iloc[-2] if len(cash) > 1 else None
vs = f"vs {fmt.period_name(prev['period'], period)}" if prev is not None else None


def p(column):
    return None if prev is None else prev[column]


current = last["start"] == period_start(ctx.today, period)
name = fmt.period_name(last["period"], period)
st.caption(f"**{name[:1].upper() + name[1:]}**"
           + ((" (today so far)" if period == "day" else f" ({period} to date)") if current else "")
           + (f", compared with {fmt.period_name(prev['period'], period)}" if prev is not None else ""))
tiles = st.columns(3)
widgets.kpi(tiles[0], "gross_volume", fmt.money(last["gross_volume"], cur),
            delta=fmt.delta_text(last["gross_volume"], p("gross_volume")), trend=major["gross_volume"],
            delta_description=vs, note=fx, chart_type="bar")
widgets.kpi(tiles[1], "net_volume", fmt.money(last["net_volume"], cur),
            delta=fmt.delta_text(last["net_volume"], p("net_volume")), trend=major["net_volume"],
            delta_description=vs, note=fx, chart_type="bar")
widgets.kpi(tiles[2], "refunds", fmt.money(last["refunds"], cur),
            delta=fmt.delta_text(last["refunds"], p("refunds")), trend=major["refunds"], inverse=True,
            delta_description=vs, note=fx, chart_type="bar")
tiles = st.columns(3)
widgets.kpi(tiles[0], "fees", fmt.money(last["fees"], cur), delta=fmt.delta_text(last["fees"], p("fees")),
            trend=major["fees"], inverse=True, delta_description=vs, note=fx, chart_type="bar")
widgets.kpi(tiles[1], "payment_success_rate", fmt.percent(last["payment_success_rate"]),
            delta=fmt.delta_text(last["payment_success_rate"], p("payment_success_rate"), kind="points"),
            trend=cash["payment_success_rate"], delta_description=vs, note=fx, chart_type="line")
widgets.kpi(tiles[2], "average_order_value", fmt.money(last["average_order_value"], cur),
            delta=fmt.delta_text(last["average_order_value"], p("average_order_value")),
            trend=major["average_order_value"], delta_description=vs, note=fx, chart_type="line")

widgets.chart(charts.bars(major, "period", {"gross_volume": "Gross volume", "net_volume": "Net volume"},
                          currency=cur, title="Gross and net volume"),
              major[["period", "currency", "gross_volume", "net_volume"]], key="rev_volume", view="volume",
              filters=f)
left, right = st.columns(2)
with left:
    widgets.chart(charts.bars(major, "period", {"refunds": "Refunds", "fees": "Fees"}, currency=cur,
                              title="Refunds and fees", colors=[charts.MOVEMENT_COLORS["churn"], charts.MUTED]),
                  major[["period", "currency", "refunds", "fees"]], key="rev_refunds", view="refunds_fees",
                  filters=f)
with right:
    disputes = page.browse(ctx, queries.disputes_by_period, f.scope(), period)
    periods = pd.DataFrame({"period": cash["period"]})
    disputes = periods.merge(disputes, on="period", how="left").fillna(0)
    disputes["currency"] = cur
    disputes = widgets.major(disputes, ["disputed_amount"], cur)
    widgets.chart(charts.bars(disputes, "period", {"disputed_amount": "Disputed amount"}, currency=cur,
                              title="Disputes opened", colors=[charts.MOVEMENT_COLORS["contraction"]]),
                  disputes, key="rev_disputes", view="disputes", filters=f)
left, right = st.columns(2)
with left:
    widgets.chart(charts.lines(cash, "period", {"payment_success_rate": "Payment success rate"}, kind="percent",
                               title="Payment success rate"),
                  cash[["period", "currency", "successful_payments", "failed_payments", "payment_success_rate"]],
                  key="rev_success", view="payment_success_rate", filters=f)
with right:
    widgets.chart(charts.lines(major, "period", {"average_order_value": "Average order value"}, currency=cur,
                               title="Average order value"),
                  major[["period", "currency", "average_order_value", "successful_payments"]], key="rev_aov",
                  view="average_order_value", filters=f)

st.markdown("#### Breakdowns")
tab_currency, tab_product, tab_method = st.tabs(["By currency", "By product", "By payment method"])
with tab_currency:
    every = page.cash(ctx, "month", currency=False)
    every = every[(every[["gross_volume", "refunds", "fees", "net_volume", "successful_payments",
                          "failed_payments"]] != 0).any(axis=1)]
    if every.empty:
        st.info("No payments in this range.")
    else:
        sums = every.groupby("currency", as_index=False)[["gross_volume", "net_volume", "refunds", "fees",
                                                           "successful_payments", "failed_payments"]].sum()
        sums = sums.sort_values("successful_payments", ascending=False)
        st.caption("Totals over the date range, each in its own currency (nothing is converted).")
        shown = sums.copy()
        for column in ("gross_volume", "net_volume", "refunds", "fees"):
            shown[column] = [fmt.money(v, c) for v, c in zip(sums[column], sums["currency"])]
        shown["currency"] = shown["currency"].str.upper()
        widgets.table(shown, key="rev_by_currency", view="volume_by_currency", filters=f, search=False)
with tab_product:
    by_product = page.browse(ctx, queries.invoiced_by_product, f.scope())
    st.caption("Paid invoice lines per product (before tax, after discounts), by the invoice's paid date"
               + (f"; invoices in {cur.upper()} only (not converted)." if f.converted else "."))
    if not by_product.empty:
        shown = widgets.major(by_product, ["invoiced"], cur)
        widgets.chart(charts.bars(shown.head(12), "name", {"invoiced": "Invoiced"}, currency=cur, horizontal=True,
                                  height=60 + 34 * min(len(shown), 12)),
                      shown, key="rev_product_chart", view="invoiced_by_product", filters=f)
    widgets.table(by_product, key="rev_by_product", view="invoiced_by_product", filters=f, money=["invoiced"],
                  currency=cur, search=False)
with tab_method:
    by_method = page.browse(ctx, queries.charges_by_payment_method, f.scope())
    st.caption("Charges per payment method in the date range: successful and failed counts, captured amount"
               + (f"; charges in {cur.upper()} only (not converted)." if f.converted else "."))
    if not by_method.empty:
        shown = widgets.major(by_method, ["captured"], cur)
        widgets.chart(charts.donut(shown["payment_method"], shown["captured"], currency=cur,
                                   title="Captured amount by payment method"),
                      shown, key="rev_method_chart", view="captured_by_payment_method", filters=f)
    widgets.table(by_method, key="rev_by_method", view="charges_by_payment_method", filters=f, money=["captured"],
                  currency=cur, search=False)

definitions.expander(["gross_volume", "net_volume", "refunds", "fees", "payment_success_rate",
                      "average_order_value", "successful_payments", "failed_payments"])
