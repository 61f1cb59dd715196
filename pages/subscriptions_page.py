"""Subscriptions: by status, price and interval; upcoming renewals; scheduled cancellations;
trials (conversion per month and per plan, trials ending soon)."""

from functools import partial

from datetime import datetime, timezone

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.queries import SUBSCRIPTION_STATUSES, upcoming
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import definitions, forms, page, widgets

ctx = page.context()
f = ctx.filters
widgets.page_header("Subscriptions", f.describe(ctx.product_names))
if f.converted:
    st.caption(":material/currency_exchange: Every currency's subscriptions.")
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "subscription")

everything = page.browse(ctx, queries.subscriptions, f.scope(dates=False, listing=True))
now = datetime.now(timezone.utc)
counts = everything["status"].value_counts() if not everything.empty else {}
with widgets.tile_row(4) as tiles:
    for tile, status in zip(tiles, ["active", "trialing", "past_due", "canceled"]):
        widgets.tile(tile, status.replace("_", " ").capitalize(), f"{int(counts.get(status, 0)):,}",
                     help=f"Subscriptions in {'every currency' if f.converted else 'this currency'} (and product / "
                          "segment) with this status now.")

# Only the open tab is drawn, and "All"; a click on another tab reruns the page. (A closed tab's
# keyed pickers keep their values: tests/test_browser_depth.py.)
all_tab, renew_tab, cancel_tab, trial_tab = widgets.tabs(["All", "Upcoming renewals", "Scheduled cancellations",
                                                          "Trials"], key="sub_tab")
with all_tab:
    bar = st.columns([2, 1, 1], vertical_alignment="bottom")
    statuses = bar[0].multiselect("Status", SUBSCRIPTION_STATUSES, key="sub_status", placeholder="Any status",
                                  format_func=lambda s: s.replace("_", " "))
    prices = sorted(p for p in everything["prices"].dropna().str.split(", ").explode().unique()) \
        if not everything.empty else []
    price = bar[1].selectbox("Price", [""] + prices, key="sub_price", format_func=lambda p: p or "Any price")
    interval = bar[2].selectbox("Interval", ["", "day", "week", "month", "year"], key="sub_interval",
                                format_func=lambda i: i or "Any interval")
    frame = page.browse(ctx, queries.subscriptions, f.scope(dates=False, listing=True), statuses=statuses or None,
                        price=price or None, interval=interval or None)
    if not frame.empty:
        by_status = frame["status"].value_counts().rename_axis("status").reset_index(name="subscriptions")
        widgets.chart(partial(charts.bars, by_status, "status", {"subscriptions": "Subscriptions"}, kind="count",
                              horizontal=True, height=60 + 34 * len(by_status)),
                      by_status, key="sub_status_chart", view="subscriptions_by_status", filters=f, dates_in_name=False,
                      light=True)
    widgets.table(frame, key="sub_table", view="subscriptions", filters=f, dates_in_name=False, truncated_at=20_000,
                  columns=["id", "status", "customer_email", *(["currency"] if f.converted else []), "items",
                           "intervals", "created", "current_period_end", "cancel_at_period_end", "trial_end",
                           "ended_at"])
with renew_tab:
    if renew_tab.open:
        days = st.select_slider("Within the next", [7, 14, 30, 60, 90], value=30, key="sub_renew_days",
                                format_func=lambda d: f"{d} days")
        widgets.table(upcoming(everything, "renewals", now, days), key="sub_renewals", view=f"renewals_{days}d",
                      filters=f, dates_in_name=False,
                      columns=["id", "customer_email", "items", "intervals", "current_period_end", "status"],
                      empty="No renewals in this window.")
with cancel_tab:
    if cancel_tab.open:
        widgets.table(upcoming(everything, "cancellations", now, 3650), key="sub_cancels", view="scheduled_cancellations",
                      filters=f, dates_in_name=False,
                      columns=["id", "customer_email", "items", "ends_at", "cancel_at_period_end", "status"],
                      empty="No cancellations are scheduled.")
with trial_tab:
    if trial_tab.open:
        trials = page.depth(ctx)[["month", "currency", "trials_started", "trials_ended", "trials_converted",
                                  "trial_conversion_rate", "active_trials", "median_days_to_convert"]]
        if trials.empty:
            st.info("No months in this range.")
        else:
            last, before = trials.iloc[-1], (trials.iloc[-2] if len(trials) > 1 else None)
            vs = f"vs {fmt.month_name(before['month'])}" if before is not None else None

            def prev(column):
                return None if before is None else before[column]

            st.caption(f"**{fmt.month_name(last['month'])}**" + (f", compared with {fmt.month_name(before['month'])}"
                                                                  if before is not None else "")
                       + " · a trial counts in the month it ended; it converts with its first paid invoice.")
            with widgets.tile_row(4) as tiles:
                widgets.kpi(tiles[0], "trial_conversion_rate", fmt.percent(last["trial_conversion_rate"]),
                            delta=fmt.delta_text(last["trial_conversion_rate"], prev("trial_conversion_rate"), kind="points"),
                            trend=trials["trial_conversion_rate"], delta_description=vs, chart_type="line",
                            label=f"Trial conversion ({int(last['trials_converted']):,} of {int(last['trials_ended']):,})")
                widgets.kpi(tiles[1], "trials_started", fmt.count(last["trials_started"]),
                            delta=fmt.delta_text(last["trials_started"], prev("trials_started")),
                            trend=trials["trials_started"], delta_description=vs, chart_type="bar")
                widgets.kpi(tiles[2], "active_trials", fmt.count(last["active_trials"]),
                            delta=fmt.delta_text(last["active_trials"], prev("active_trials")),
                            trend=trials["active_trials"], delta_description=vs)
                widgets.kpi(tiles[3], "median_days_to_convert", fmt.days(last["median_days_to_convert"]),
                            trend=trials["median_days_to_convert"], chart_type="line")
            left, right = st.columns(2)
            with left:
                widgets.chart(partial(charts.bars, trials, "month",
                                      {"trials_started": "Started", "trials_ended": "Ended",
                                       "trials_converted": "Converted"}, kind="count",
                                      title="Trials per month"),
                              trials, key="sub_trials_chart", view="trials", filters=f, light=True)
            with right:
                widgets.chart(partial(charts.lines, trials, "month", {"trial_conversion_rate": "Trial conversion"},
                                      kind="percent", title="Trial conversion rate"),
                              trials[["month", "currency", "trials_ended", "trials_converted", "trial_conversion_rate"]],
                              key="sub_trial_rate", view="trial_conversion", filters=f, light=True)
            st.markdown("##### By plan")
            st.caption("Trials over the date range per product: a trial counts for each product on its subscription.")
            plans = page.depth(ctx, "trials_by_plan")
            plans.insert(1, "plan", [ctx.product_names.get(p, p) or "(no product)" for p in plans["product"]])
            widgets.table(plans, key="sub_trials_by_plan", column_config=widgets.RATE_DAY_COLUMNS, view="trials_by_plan", filters=f, search=False,
                          columns=["plan", "trials_started", "trials_ended", "trials_converted", "trial_conversion_rate",
                                   "median_days_to_convert", "active_trials", "product"],
                          empty="No trials in this range.")
        st.markdown("##### Trials ending soon")
        days = st.select_slider("Ending within", [3, 7, 14, 30], value=14, key="sub_trial_days",
                                format_func=lambda d: f"{d} days")
        widgets.table(upcoming(everything, "trials", now, days), key="sub_trials", view=f"trials_ending_{days}d",
                      filters=f, dates_in_name=False, columns=["id", "customer_email", "items", "trial_end", "status"],
                      empty="No trials end in this window.")
        definitions.expander(["trial_conversion_rate", "trials_started", "trials_ended", "trials_converted",
                              "active_trials", "median_days_to_convert"])
