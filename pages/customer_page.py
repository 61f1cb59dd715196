"""One customer's story: what happened to them (MRR movements, subscriptions, trials, plan
changes, invoices, payments with failures and recoveries, refunds, disputes) in one ordered
list, their MRR over time and what they paid; then their subscriptions, invoices and payments."""

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.dashboard_links import dashboard_url
from stripe_analytics.metrics import to_major
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, filters, page, story, widgets

# The timeline's kinds of event, grouped as the analyst filters them.
KIND_GROUPS = {
    "MRR movements": ("mrr",),
    "Subscriptions, trials and plans": ("subscription", "trial", "plan_change", "cancellation"),
    "Invoices": ("invoice",),
    "Payments": ("payment", "payment_failed", "payment_recovered"),
    "Refunds and disputes": ("refund", "dispute"),
}

ctx = page.context()
f = ctx.filters
customer_id = st.query_params.get("id", "")
st.page_link("pages/customers_page.py", label="All customers", icon=":material/arrow_back:",
             query_params=filters.link_params())
customer = page.browse(ctx, queries.customer, customer_id) if customer_id else None
if not customer:
    widgets.empty_state("Customer not found", f"No customer with id `{customer_id or '—'}` in this account. "
                                              "Search for it on the Customers page.")
    st.stop()

demo = bool(ctx.account and ctx.account.demo)
livemode = bool((customer.get("raw") or {}).get("livemode", ctx.mode == "live"))
account_id = ctx.account.id if ctx.account else None
title = customer.get("name") or customer.get("email") or customer["id"]
widgets.page_header(title, " · ".join(x for x in [customer.get("email"), customer["id"],
                                                   customer.get("country")] if x))
link = dashboard_url("customer", customer["id"], livemode=livemode, account_id=account_id, demo=demo)
if link:
    st.link_button("Open in Stripe's Dashboard", link, icon=":material/open_in_new:", type="tertiary")
if customer.get("deleted"):
    st.warning("This customer was deleted in Stripe; it is kept here for history.")

try:
    told = story.customer_story(ctx.key, customer_id, livemode, account_id, demo)
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()
subs = page.browse(ctx, queries.customer_subscriptions, customer_id)
invoices = page.browse(ctx, queries.customer_invoices, customer_id)
payments = page.browse(ctx, queries.customer_charges, customer_id)

history = told.history
currency = (history["currency"].iloc[-1] if not history.empty else customer.get("currency")) or f.currency
current = told.current_mrr[told.current_mrr["currency"] == currency]
lifetime = told.lifetime
with widgets.tile_row(4) as tiles:
    widgets.kpi(tiles[0], "mrr", fmt.money(int(current["mrr"].sum()) if not current.empty else 0, currency),
                label=f"MRR ({currency.upper()})")
    paid = " + ".join(fmt.money(int(v), c) for c, v in zip(lifetime["currency"], lifetime["lifetime_paid"])) or \
        fmt.money(0, currency)
    widgets.tile(tiles[1], "Lifetime paid", paid,
                 help="Captured minus refunded, successful charges, in each currency the customer paid in.")
    widgets.tile(tiles[2], "Subscriptions", f"{len(subs):,}", arrow=False, delta_color="off",
                 delta=f"{int(subs['status'].isin(['active', 'trialing', 'past_due']).sum())} open")
    widgets.tile(tiles[3], "Customer since", f"{customer['created']:%d %b %Y}" if customer.get("created") else "—")

if not history.empty:
    for own in sorted(history["currency"].unique(), key=lambda c: c != currency):
        hist = to_major(history[history["currency"] == own])
        widgets.chart(charts.lines(hist, "month", {"mrr": "MRR"}, currency=own,
                                   title=f"MRR history ({own.upper()})", area=True, height=280),
                      hist[["month", "currency", "mrr"]], key=f"cust_mrr_{own}", view=f"mrr_{customer_id}_{own}",
                      dates_in_name=False)
else:
    st.caption("No MRR at any month end (no active paid subscription at a snapshot).")

st.markdown("#### Timeline")
events = told.events
shown_groups = st.pills("Show", list(KIND_GROUPS), default=list(KIND_GROUPS), selection_mode="multi",
                        key="cust_kinds", label_visibility="collapsed")
oldest_first = st.toggle("Oldest first", key="cust_oldest_first")
kinds = {k for group in (shown_groups or []) for k in KIND_GROUPS[group]}
listed = events[events["kind"].isin(kinds)]
listed = listed if oldest_first else listed.iloc[::-1]
widgets.table(listed[["at", "event", "amount", "currency", "mrr", "status", "detail", "dashboard_url", "object_id"]],
              key="cust_timeline", view=f"timeline_{customer_id}", money=["amount", "mrr"], search=True,
              columns=["at", "event", "amount", "mrr", "status", "detail"] + ([] if demo else ["dashboard_url"]),
              column_config={"dashboard_url": st.column_config.LinkColumn("Stripe", display_text="Open ↗"),
                             "at": st.column_config.DatetimeColumn("Date (UTC)", format="YYYY-MM-DD HH:mm")},
              empty="Nothing of these kinds happened to this customer.", dates_in_name=False)
st.caption("Amounts as Stripe states them; for an MRR movement, the change of MRR at its month-end snapshot "
           "(negative for contraction and churn) and the MRR after it. "
           + ("The demo account exists only here, so it has no Dashboard links." if demo else
              "Links open the same object in Stripe's Dashboard."))

subs_tab, inv_tab, pay_tab, meta_tab = st.tabs([f"Subscriptions ({len(subs)})", f"Invoices ({len(invoices)})",
                                                 f"Payments ({len(payments)})", "Details"])
with subs_tab:
    widgets.table(subs, key="cust_subs", view=f"subscriptions_{customer_id}", search=False,
                  empty="No subscriptions.")
with inv_tab:
    widgets.table(invoices, key="cust_invoices", view=f"invoices_{customer_id}",
                  money=["total", "amount_paid", "amount_remaining"], search=False, empty="No invoices.")
with pay_tab:
    picked = widgets.table(payments, key="cust_payments", view=f"payments_{customer_id}",
                           money=["amount", "amount_refunded"], selectable=True, search=False, empty="No payments.")
    if picked is not None:
        st.switch_page("pages/payment_page.py", query_params=filters.link_params(id=picked["id"]))
with meta_tab:
    left, right = st.columns(2)
    left.markdown("**Profile**")
    left.json({k: customer.get(k) for k in ("id", "email", "name", "phone", "description", "country", "currency",
                                            "delinquent", "balance")}, expanded=True)
    right.markdown("**Metadata**")
    right.json(customer.get("metadata") or {}, expanded=True)
