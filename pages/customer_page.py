"""One customer: profile, MRR history, subscriptions, invoices and payments."""

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics.metrics import MetricFilters, to_major
from stripe_analytics.ui import data, filters, format as fmt, page, widgets

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

title = customer.get("name") or customer.get("email") or customer["id"]
widgets.page_header(title, " · ".join(x for x in [customer.get("email"), customer["id"],
                                                   customer.get("country")] if x))
if customer.get("deleted"):
    st.warning("This customer was deleted in Stripe; it is kept here for history.")

try:
    bundle = data.metrics_bundle(ctx.key, MetricFilters().model_dump_json())
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()
history = bundle.result.snapshots
history = history[history["customer"] == customer_id]
subs = page.browse(ctx, queries.customer_subscriptions, customer_id)
invoices = page.browse(ctx, queries.customer_invoices, customer_id)
payments = page.browse(ctx, queries.customer_charges, customer_id)

currency = (history["currency"].iloc[-1] if not history.empty else customer.get("currency")) or f.currency
current = history[(history["m"] == bundle.result.calendar.last) & (history["currency"] == currency)]
lifetime = page.browse(ctx, queries.customer_lifetime_paid, customer_id)
tiles = st.columns(4)
widgets.kpi(tiles[0], "mrr", fmt.money(int(current["mrr"].sum()) if not current.empty else 0, currency),
            label=f"MRR ({currency.upper()})")
tiles[1].metric("Lifetime paid", fmt.money(int(lifetime.loc[lifetime["currency"] == currency, "lifetime_paid"].sum()),
                                           currency),
                help="Captured minus refunded, successful charges in this currency.", border=True)
tiles[2].metric("Subscriptions", f"{len(subs):,}", border=True, delta_arrow="off", delta_color="off",
                delta=f"{int(subs['status'].isin(['active', 'trialing', 'past_due']).sum())} open")
tiles[3].metric("Customer since", f"{customer['created']:%d %b %Y}" if customer.get("created") else "—", border=True)

if not history.empty:
    hist = to_major(history.assign(month=history["month"]))
    widgets.chart(charts.lines(hist, "month", {"mrr": "MRR"}, currency=currency, title="MRR history", area=True,
                               height=280), hist[["month", "currency", "mrr"]], key="cust_mrr",
                  view=f"mrr_{customer_id}", dates_in_name=False)
else:
    st.caption("No MRR at any month end (no active paid subscription at a snapshot).")

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
