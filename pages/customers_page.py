"""Customers: a searchable, filterable table (email, name, id, metadata, country, status,
MRR, lifetime paid); selecting a row opens the customer's page."""

import streamlit as st

from stripe_analytics import queries
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import definitions, filters, forms, page, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
widgets.page_header("Customers", f"{f.describe(ctx.product_names)} · MRR is the current month's; "
                                  + (f"MRR in {cur.upper()}, lifetime paid" if f.converted else "MRR and lifetime paid")
                                  + " in each customer's own currency")
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "customer")

bar = st.columns([3, 2], vertical_alignment="bottom")
search = widgets.search_box(bar[0], "Search customers", key="cust_q",
                            placeholder="Email, name, id, phone or metadata…", icon=":material/search:")
statuses = bar[1].multiselect("Status", ["active", "trialing", "past_due", "unpaid/paused", "churned",
                                         "no subscription"], key="cust_status", placeholder="Any status")

frame = page.browse(ctx, queries.customers, f.scope(dates=False), search=search or None, status=statuses or None)
if f.converted:  # every currency converted into the reporting one, each customer's own beside it
    bundle = page.metrics(ctx)
    fx = page.conversion_note(bundle.result.reporting)
    snap = bundle.result.snapshots
    current = snap[(snap["currency"] == cur) & (snap["m"] == bundle.result.calendar.last)]
    frame = frame.copy()
    frame.insert(5, "mrr", frame["id"].map(dict(zip(current["customer"], current["mrr"]))).fillna(0).astype("int64"))
    own = bundle.result.own_snapshots
    frame.insert(5, "own_mrr", frame["id"].map(fmt.own_amounts(own[own["m"] == bundle.result.calendar.last],
                                                                  "customer")).fillna(""))
    money, money_currency = ["mrr"], cur
    frame["lifetime_paid"] = [fmt.money(v, c) for v, c in zip(frame["lifetime_paid"], frame["currency"])]
else:  # each customer's MRR and lifetime paid in their own currency
    fx = None
    bundle = page.metrics(ctx, currency=False)
    snap = bundle.result.snapshots
    current = snap[snap["m"] == bundle.result.calendar.last]
    mrr = dict(zip(zip(current["customer"], current["currency"]), current["mrr"]))
    frame = frame.copy()
    frame.insert(5, "mrr", [int(mrr.get((c, cur_), 0)) for c, cur_ in zip(frame["id"], frame["currency"])])
    money, money_currency = ["mrr", "lifetime_paid"], None

if search and len(frame) == 1:
    only = frame.iloc[0]
    st.page_link("pages/customer_page.py", label=f"Open {only['name'] or only['email'] or only['id']}",
                 icon=":material/person:", query_params=filters.link_params(id=only["id"]))
picked = widgets.table(
    frame, key="cust_table", view="customers", filters=f, money=money, currency=money_currency,
    columns=["id", "email", "name", "country", "status", "currency", *(["own_mrr"] if f.converted else []), "mrr",
             "lifetime_paid", "payments", "created", "metadata"],
    column_config={"mrr": widgets.money_config(f"MRR in {cur.upper()}" if f.converted else "MRR", money_currency,
                                               help="\n\n".join(t for t in (definitions.help_text("mrr"), fx) if t)),
                   "own_mrr": st.column_config.TextColumn("MRR (own currency)",
                                                          help="The customer's MRR in each currency it pays in."),
                   "lifetime_paid": widgets.money_config("Lifetime paid", None,
                                                         help="Captured minus refunded, successful charges in the "
                                                              "customer's currency."),
                   "currency": st.column_config.TextColumn("Currency"),
                   "id": st.column_config.TextColumn("Customer")},
    selectable=True, truncated_at=10_000, dates_in_name=False, search=False)
if picked is not None:
    st.switch_page("pages/customer_page.py", query_params=filters.link_params(id=picked["id"]))
