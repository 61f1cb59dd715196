"""Subscriptions: by status, price and interval; upcoming renewals; scheduled cancellations;
trials ending soon."""

from datetime import datetime, timezone

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.queries import SUBSCRIPTION_STATUSES, upcoming
from stripe_analytics.ui import forms, page, widgets

ctx = page.context()
f = ctx.filters
widgets.page_header("Subscriptions", f.describe(ctx.product_names))
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "subscription")

everything = page.browse(ctx, queries.subscriptions, f.scope(dates=False))
now = datetime.now(timezone.utc)
counts = everything["status"].value_counts() if not everything.empty else {}
tiles = st.columns(4)
for tile, status in zip(tiles, ["active", "trialing", "past_due", "canceled"]):
    tile.metric(status.replace("_", " ").capitalize(), f"{int(counts.get(status, 0)):,}", border=True,
                help="Subscriptions in this currency (and product / segment) with this status now.")

all_tab, renew_tab, cancel_tab, trial_tab = st.tabs(["All", "Upcoming renewals", "Scheduled cancellations",
                                                     "Trials ending soon"])
with all_tab:
    bar = st.columns([2, 1, 1], vertical_alignment="bottom")
    statuses = bar[0].multiselect("Status", SUBSCRIPTION_STATUSES, key="sub_status", placeholder="Any status",
                                  format_func=lambda s: s.replace("_", " "))
    prices = sorted(p for p in everything["prices"].dropna().str.split(", ").explode().unique()) \
        if not everything.empty else []
    price = bar[1].selectbox("Price", [""] + prices, key="sub_price", format_func=lambda p: p or "Any price")
    interval = bar[2].selectbox("Interval", ["", "day", "week", "month", "year"], key="sub_interval",
                                format_func=lambda i: i or "Any interval")
    frame = page.browse(ctx, queries.subscriptions, f.scope(dates=False), statuses=statuses or None, price=price or None,
                        interval=interval or None)
    if not frame.empty:
        by_status = frame["status"].value_counts().rename_axis("status").reset_index(name="subscriptions")
        widgets.chart(charts.bars(by_status, "status", {"subscriptions": "Subscriptions"}, kind="count",
                                  horizontal=True, height=60 + 34 * len(by_status)),
                      by_status, key="sub_status_chart", view="subscriptions_by_status", filters=f, dates_in_name=False)
    widgets.table(frame, key="sub_table", view="subscriptions", filters=f, dates_in_name=False, truncated_at=20_000,
                  columns=["id", "status", "customer_email", "items", "intervals", "created", "current_period_end",
                           "cancel_at_period_end", "trial_end", "ended_at"])
with renew_tab:
    days = st.select_slider("Within the next", [7, 14, 30, 60, 90], value=30, key="sub_renew_days",
                            format_func=lambda d: f"{d} days")
    widgets.table(upcoming(everything, "renewals", now, days), key="sub_renewals", view=f"renewals_{days}d",
                  filters=f, dates_in_name=False,
                  columns=["id", "customer_email", "items", "intervals", "current_period_end", "status"],
                  empty="No renewals in this window.")
with cancel_tab:
    widgets.table(upcoming(everything, "cancellations", now, 3650), key="sub_cancels", view="scheduled_cancellations",
                  filters=f, dates_in_name=False,
                  columns=["id", "customer_email", "items", "ends_at", "cancel_at_period_end", "status"],
                  empty="No cancellations are scheduled.")
with trial_tab:
    days = st.select_slider("Ending within", [3, 7, 14, 30], value=14, key="sub_trial_days",
                            format_func=lambda d: f"{d} days")
    widgets.table(upcoming(everything, "trials", now, days), key="sub_trials", view=f"trials_ending_{days}d",
                  filters=f, dates_in_name=False, columns=["id", "customer_email", "items", "trial_end", "status"],
                  empty="No trials end in this window.")
