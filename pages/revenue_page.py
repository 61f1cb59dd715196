"""Revenue: gross and net volume, refunds, fees and disputes over time (by day, ISO week or
month: the sidebar's granularity); payment success rate and average order value; breakdowns by
currency, product and payment method."""

from functools import partial

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.metrics import cash_by_currency, to_major
from stripe_analytics.money import to_major_float
from stripe_analytics.metrics.cash import disputes_on_periods, period_start
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import definitions, page, widgets

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
current = last["start"] == period_start(ctx.today, period)
# A month is compared with the same days of the month before (metrics.md "Comparing a month to date").
same_days = widgets.same_days(page.depth(ctx, "same_days"), last["period"], bool(current)) if period == "month" \
    else None
if same_days is not None:
    prev, vs = same_days.previous, same_days.vs


def p(column):
    return None if prev is None else prev[column]


if same_days is not None:
    st.caption(same_days.caption(current, lambda c: fmt.delta_text(last[c], same_days.last_year[c])
                                 if same_days.last_year is not None else None))
else:
    name = fmt.period_name(last["period"], period)
    st.caption(f"**{name[:1].upper() + name[1:]}**"
               + ((" (today so far)" if period == "day" else f" ({period} to date)") if current else "")
               + (f", compared with {fmt.period_name(prev['period'], period)}" if prev is not None else ""))
with widgets.tile_row(3) as tiles:
    widgets.kpi(tiles[0], "gross_volume", fmt.money(last["gross_volume"], cur),
                delta=fmt.delta_text(last["gross_volume"], p("gross_volume")), trend=major["gross_volume"],
                delta_description=vs, note=fx, chart_type="bar")
    widgets.kpi(tiles[1], "net_volume", fmt.money(last["net_volume"], cur),
                delta=fmt.delta_text(last["net_volume"], p("net_volume")), trend=major["net_volume"],
                delta_description=vs, note=fx, chart_type="bar")
    widgets.kpi(tiles[2], "refunds", fmt.money(last["refunds"], cur),
                delta=fmt.delta_text(last["refunds"], p("refunds")), trend=major["refunds"], inverse=True,
                delta_description=vs, note=fx, chart_type="bar")
with widgets.tile_row(3) as tiles:
    widgets.kpi(tiles[0], "fees", fmt.money(last["fees"], cur), delta=fmt.delta_text(last["fees"], p("fees")),
                trend=major["fees"], inverse=True, delta_description=vs, note=fx, chart_type="bar")
    widgets.kpi(tiles[1], "payment_success_rate", fmt.percent(last["payment_success_rate"]),
                delta=fmt.delta_text(last["payment_success_rate"], p("payment_success_rate"), kind="points"),
                trend=cash["payment_success_rate"], delta_description=vs, note=fx, chart_type="line")
    widgets.kpi(tiles[2], "average_order_value", fmt.money(last["average_order_value"], cur),
                delta=fmt.delta_text(last["average_order_value"], p("average_order_value")),
                trend=major["average_order_value"], delta_description=vs, note=fx, chart_type="line")


def volume_section() -> None:
    volume = charts.bars(major, "period", {"gross_volume": "Gross volume", "net_volume": "Net volume"}, currency=cur,
                         title="Gross and net volume")
    if same_days is not None and same_days.to_date and same_days.previous is not None:
        # the month to date's bar against the gross volume of the same days before
        marks = {same_days.compared_label("previous"): same_days.previous["gross_volume"]}
        if same_days.last_year is not None:
            marks[same_days.compared_label("last_year")] = same_days.last_year["gross_volume"]
        charts.compared_with(volume, last["period"], {k: to_major_float(int(v), cur) for k, v in marks.items()}, currency=cur)
    widgets.chart(volume,
                  major[["period", "currency", "gross_volume", "net_volume"]], note=fx, key="rev_volume", view="volume",
                  filters=f, light=period != "day")  # by day, Plotly: zooming into a year of days
    # The smaller charts with Vega-Lite, about a quarter of Plotly's drawing work in the browser.
    left, right = st.columns(2)
    with left:
        widgets.chart(partial(charts.bars, major, "period", {"refunds": "Refunds", "fees": "Fees"}, currency=cur,
                              title="Refunds and fees", colors=[charts.MOVEMENT_COLORS["churn"], charts.MUTED]),
                      major[["period", "currency", "refunds", "fees"]], note=fx, key="rev_refunds", view="refunds_fees",
                      filters=f, light=True)
    with right:
        disputes = page.browse(ctx, queries.disputes_by_period, f.scope(), period)
        disputes = widgets.major(disputes_on_periods(disputes, cash["period"], cur), ["disputed_amount"], cur)
        widgets.chart(partial(charts.bars, disputes, "period", {"disputed_amount": "Disputed amount"}, currency=cur,
                              title=f"Disputes opened ({cur.upper()} only, not converted)" if f.converted
                              else "Disputes opened", colors=[charts.MOVEMENT_COLORS["contraction"]]),
                      disputes, key="rev_disputes", view="disputes", filters=f, light=True)


def payments_section() -> None:
    left, right = st.columns(2)
    with left:
        widgets.chart(partial(charts.lines, cash, "period", {"payment_success_rate": "Payment success rate"},
                              kind="percent", title="Payment success rate"),
                      cash[["period", "currency", "successful_payments", "failed_payments", "payment_success_rate"]],
                      key="rev_success", view="payment_success_rate", filters=f, light=True)
    with right:
        widgets.chart(partial(charts.lines, major, "period", {"average_order_value": "Average order value"},
                              currency=cur, title="Average order value"),
                      major[["period", "currency", "average_order_value", "successful_payments"]], note=fx, key="rev_aov",
                      view="average_order_value", filters=f, light=True)


def recovery_section() -> None:
    recovery = page.depth(ctx)[["month", "currency", "failed_invoice_payments", "failed_invoice_amount", "recovered_invoice_payments",
                      "recovered_invoice_amount", "recovery_rate", "outstanding_invoice_amount", "median_days_to_recover",
                      "after_trial_failed_payments", "after_trial_failed_amount", "after_trial_recovered_payments",
                      "after_trial_recovered_amount", "involuntary_churned_mrr", "involuntary_churn_share"]]
    if recovery.empty:
        st.info("No months in this range.")
    else:
        st.caption("Invoices by the month of their first failed attempt; recovered = paid after the failure. The first "
                   "invoice after a trial is counted apart. Recent months can still recover (retries are pending)."
                   + (" Each invoice converted at the rate of the day of its first failure." if f.converted else ""),
                   help=definitions.help_text("failed_invoice_payments") or None)
        if f.converted:
            left_out = page.depth(ctx, "unconverted_failed_invoices")
            if len(left_out):
                st.warning("No exchange rate for " + ", ".join(
                    f"{r.currency.upper()} ({r.failed_invoice_payments:,} failed invoices, "
                    f"{fmt.money(r.failed_invoice_amount, r.currency)})" for r in left_out.itertuples())
                    + ": left out of the recovery figures. Add rates on the Data page or with "
                      "`stripe-analytics fx import FILE`.", icon=":material/currency_exchange:")
        money = widgets.major(recovery, ["failed_invoice_amount", "recovered_invoice_amount", "outstanding_invoice_amount",
                                         "after_trial_failed_amount", "after_trial_recovered_amount",
                                         "involuntary_churned_mrr"], cur)
        now, before = recovery.iloc[-1], (recovery.iloc[-2] if len(recovery) > 1 else None)
        r_vs = f"vs {fmt.month_name(before['month'])}" if before is not None else None

        def rp(column):
            return None if before is None else before[column]

        st.caption(f"**{fmt.month_name(now['month'])}**" + (f", compared with {fmt.month_name(before['month'])}"
                                                              if before is not None else ""))
        with widgets.tile_row(4) as tiles:
            widgets.kpi(tiles[0], "failed_invoice_amount", fmt.money(now["failed_invoice_amount"], cur),
                        delta=fmt.delta_text(now["failed_invoice_amount"], rp("failed_invoice_amount")), inverse=True,
                        trend=money["failed_invoice_amount"], delta_description=r_vs, note=fx, chart_type="bar",
                        label=f"Failed payments ({int(now['failed_invoice_payments']):,})")
            widgets.kpi(tiles[1], "recovered_invoice_amount", fmt.money(now["recovered_invoice_amount"], cur),
                        delta=fmt.delta_text(now["recovered_invoice_amount"], rp("recovered_invoice_amount")),
                        trend=money["recovered_invoice_amount"], delta_description=r_vs, note=fx, chart_type="bar",
                        label=f"Recovered ({int(now['recovered_invoice_payments']):,})")
            widgets.kpi(tiles[2], "recovery_rate", fmt.percent(now["recovery_rate"]),
                        delta=fmt.delta_text(now["recovery_rate"], rp("recovery_rate"), kind="points"),
                        trend=recovery["recovery_rate"], delta_description=r_vs, note=fx, chart_type="line")
            widgets.kpi(tiles[3], "outstanding_invoice_amount", fmt.money(now["outstanding_invoice_amount"], cur),
                        delta=fmt.delta_text(now["outstanding_invoice_amount"], rp("outstanding_invoice_amount")),
                        inverse=True, trend=money["outstanding_invoice_amount"], delta_description=r_vs, note=fx,
                        chart_type="bar")
        with widgets.tile_row(3) as tiles:
            widgets.kpi(tiles[0], "median_days_to_recover", fmt.days(now["median_days_to_recover"]),
                        trend=recovery["median_days_to_recover"], chart_type="line")
            widgets.kpi(tiles[1], "after_trial_failed_payments", fmt.count(now["after_trial_failed_payments"]),
                        label="Failed first invoices after a trial",
                        delta=f"{int(now['after_trial_recovered_payments']):,} recovered", delta_description=
                        f"{fmt.money(now['after_trial_recovered_amount'], cur)} of "
                        f"{fmt.money(now['after_trial_failed_amount'], cur)}", partial=True, chart_type="bar",
                        trend=recovery["after_trial_failed_payments"])
            widgets.kpi(tiles[2], "involuntary_churn_share", fmt.percent(now["involuntary_churn_share"]),
                        delta=fmt.delta_text(now["involuntary_churn_share"], rp("involuntary_churn_share"), kind="points"),
                        inverse=True, trend=recovery["involuntary_churn_share"], delta_description=r_vs, note=fx,
                        chart_type="line", label=f"Involuntary churn ({fmt.money(now['involuntary_churned_mrr'], cur)} MRR)")
        left, right = st.columns(2)
        with left:
            widgets.chart(partial(charts.bars, money, "month", {"failed_invoice_amount": "Failed",
                                                   "recovered_invoice_amount": "Recovered",
                                                   "outstanding_invoice_amount": "Outstanding"}, currency=cur,
                                  title="Failed invoice payments and recoveries",
                                  colors=[charts.MOVEMENT_COLORS["churn"], charts.MOVEMENT_COLORS["new"],
                                          charts.MUTED]),
                          money, note=fx, key="rev_recovery", view="payment_recovery", filters=f, light=True)
        with right:
            days = page.depth(ctx, "recovery_days")
            days = widgets.major(days, ["recovered_invoice_amount"], cur)
            widgets.chart(partial(charts.bars, days, "days", {"recovered_invoice_amount": "Recovered"}, currency=cur,
                                  title="Days from the first failure to the payment",
                                  colors=[charts.MOVEMENT_COLORS["new"]]),
                          days, note=fx, key="rev_recovery_days", view="recovery_days", filters=f, light=True)
        with (recovery_box := widgets.expander("Recovery by month", key="rev_recovery_open", icon=":material/table:")):
            if recovery_box.open:
                widgets.table(recovery, key="rev_recovery_table", column_config=widgets.RATE_DAY_COLUMNS, view="payment_recovery", filters=f, search=False,
                              money=["failed_invoice_amount", "recovered_invoice_amount", "outstanding_invoice_amount",
                                     "after_trial_failed_amount", "after_trial_recovered_amount", "involuntary_churned_mrr"],
                              currency=cur)


def breakdown(query, *, amount: str, objects: str, caption: str, draw, chart_key: str, table_key: str,
              view: str) -> None:
    """One breakdown tab: its caption, the top rows as a chart (when there are any) and the table."""
    frame = page.browse(ctx, query, f.scope())
    st.caption(caption + (f"; {objects} in {cur.upper()} only (not converted)." if f.converted else "."))
    if not frame.empty:
        shown = widgets.major(frame, [amount], cur)
        widgets.chart(draw(shown), shown, key=chart_key, view=view, filters=f, light=True)
    widgets.table(frame, key=table_key, view=view, filters=f, money=[amount], currency=cur, search=False)


def breakdowns_section() -> None:
    tab_currency, tab_product, tab_method = widgets.tabs(["By currency", "By product", "By payment method"],
                                                         key="rev_breakdown")
    with tab_currency:
        if tab_currency.open:
            sums = cash_by_currency(page.cash(ctx, "month", currency=False))
            if sums.empty:
                st.info("No payments in this range.")
            else:
                st.caption("Totals over the date range, each in its own currency (nothing is converted).")
                # Money columns of each row's currency: shown as text in that currency, downloaded
                # as numbers (formatted here, a download carried "$1,234.00" as text).
                widgets.table(sums.assign(currency=sums["currency"].str.upper()), key="rev_by_currency",
                              view="volume_by_currency", filters=f, search=False,
                              money=["gross_volume", "net_volume", "refunds", "fees"])
    with tab_product:
        if tab_product.open:
            breakdown(queries.invoiced_by_product, amount="invoiced", objects="invoices",
                      caption="Paid invoice lines per product (before tax, after discounts), by the invoice's paid date",
                      draw=lambda shown: charts.bars(shown.head(12), "name", {"invoiced": "Invoiced"}, currency=cur,
                                                     horizontal=True, height=60 + 34 * min(len(shown), 12)),
                      chart_key="rev_product_chart", table_key="rev_by_product", view="invoiced_by_product")
    with tab_method:
        if tab_method.open:
            breakdown(queries.charges_by_payment_method, amount="captured", objects="charges",
                      caption="Charges per payment method in the date range: successful and failed counts, captured "
                              "amount",
                      draw=lambda shown: charts.donut(shown["payment_method"], shown["captured"], currency=cur,
                                                      title="Captured amount by payment method"),
                      chart_key="rev_method_chart", table_key="rev_by_method", view="captured_by_payment_method")


widgets.sections({"Volume": volume_section, "Payments": payments_section,
                  "Failed payments and recovery": recovery_section, "Breakdowns": breakdowns_section},
                 key="rev_section")

definitions.expander(["gross_volume", "net_volume", "refunds", "fees", "payment_success_rate",
                      "average_order_value", "successful_payments", "failed_payments", "same_days",
                      "failed_invoice_payments", "recovered_invoice_payments", "recovery_rate",
                      "outstanding_invoice_amount", "median_days_to_recover", "after_trial_failed_payments",
                      "involuntary_churned_mrr", "involuntary_churn_share"])
