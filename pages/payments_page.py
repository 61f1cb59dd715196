"""Payments: charges and payment intents with status, amount range, currency, date filters
and search; selecting a row opens the payment's page (refunds, receipt)."""

import streamlit as st

from stripe_analytics import queries
from stripe_analytics.money import to_minor
from stripe_analytics.queries import CHARGE_STATUSES, PAYMENT_INTENT_STATUSES
from stripe_analytics.ui import filters, forms, page, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
own = None if f.converted else cur  # the converted view lists every currency's, each in its own
widgets.page_header("Payments", f.describe(ctx.product_names) + " · by creation date")
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "payment")
if f.product:
    st.caption(":material/info: Payments are not tied to a product; the product filter does not apply here.")
if f.converted:
    st.caption(":material/currency_exchange: Every currency's payments, each in its own currency (a list is not "
               "converted). To filter by amount, pick one currency in the sidebar.")

bar = st.columns([3, 1, 1], vertical_alignment="bottom")
search = widgets.search_box(bar[0], "Search payments", key="pay_q",
                            placeholder="Id, customer email or name, description…", icon=":material/search:")
# Bounds are in one currency: amounts of several currencies are not comparable unconverted.
bounds = {"disabled": not own, "help": None if own else "Amounts of several currencies: pick one currency to filter "
                                                      "by amount."}
low = bar[1].text_input(f"Min amount ({(own or cur).upper()})", key="pay_min", placeholder="any", **bounds)
high = bar[2].text_input(f"Max amount ({(own or cur).upper()})", key="pay_max", placeholder="any", **bounds)


def amount(text):
    if not own or not text.strip():
        return None
    try:
        return to_minor(text.replace(",", ""), own)
    except ValueError as error:
        st.warning(f"Amount {text!r} {error}; it is ignored.")
        return None


low_minor, high_minor = amount(low), amount(high)
charges_tab, intents_tab = st.tabs(["Charges", "Payment intents"])
with charges_tab:
    statuses = st.pills("Status", CHARGE_STATUSES, selection_mode="multi", key="pay_status")
    frame = page.browse(ctx, queries.charges, f.scope(listing=True), statuses=statuses or None,
                        amount_min=low_minor, amount_max=high_minor, search=search or None)
    picked = widgets.table(frame, key="pay_charges", view="charges", filters=f, money=["amount", "amount_refunded"],
                           currency=own, selectable=True, truncated_at=20_000,
                           columns=["id", "created", "status", *([] if own else ["currency"]), "amount",
                                    "amount_refunded", "customer_email",
                                    "payment_method_type", "description", "failure_code"], search=False)
    if picked is not None:
        st.switch_page("pages/payment_page.py", query_params=filters.link_params(id=picked["id"]))
with intents_tab:
    statuses = st.pills("Status", PAYMENT_INTENT_STATUSES, selection_mode="multi", key="pi_status",
                        format_func=lambda s: s.replace("_", " "))
    frame = page.browse(ctx, queries.payment_intents, f.scope(listing=True), statuses=statuses or None,
                        amount_min=low_minor, amount_max=high_minor, search=search or None)
    picked = widgets.table(frame, key="pay_intents", view="payment_intents", filters=f,
                           money=["amount", "amount_received"], currency=own, selectable=True, truncated_at=20_000,
                           search=False)
    if picked is not None:
        st.switch_page("pages/payment_page.py", query_params=filters.link_params(id=picked["id"]))
