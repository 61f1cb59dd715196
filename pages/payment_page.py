"""One payment (charge or payment intent): amounts, status, customer, fees, refunds,
disputes and the receipt link."""

import json

import streamlit as st

from stripe_analytics import queries
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import filters, page, widgets

ctx = page.context()
payment_id = st.query_params.get("id", "")
st.page_link("pages/payments_page.py", label="All payments", icon=":material/arrow_back:",
             query_params=filters.link_params())
found = page.browse(ctx, queries.payment, payment_id) if payment_id else None
if not found:
    widgets.empty_state("Payment not found", f"No charge or payment intent with id `{payment_id or '—'}` in this "
                                             "account. Search for it on the Payments page.")
    st.stop()

charge, intent = found["charge"], found["payment_intent"]
main = charge or intent
cur = main["currency"]
status = main["status"]
colors = {"succeeded": "green", "failed": "red", "pending": "orange", "canceled": "gray"}
widgets.page_header(fmt.money(main["amount"], cur) + f" {cur.upper()}",
                    f"{main['id']} · created {main['created']:%d %b %Y %H:%M} UTC")
badges = st.container(horizontal=True)
badges.badge(status.replace("_", " "), color=colors.get(status, "blue"))
if charge and charge.get("amount_refunded"):
    badges.badge("refunded" if charge["amount_refunded"] >= charge["amount"] else "partially refunded",
                 color="orange")
if charge and charge.get("disputed"):
    badges.badge("disputed", color="red")

with widgets.tile_row(4) as tiles:
    widgets.tile(tiles[0], "Amount", fmt.money(main["amount"], cur))
    if charge:
        widgets.tile(tiles[1], "Refunded", fmt.money(charge["amount_refunded"] or 0, cur))
        settle = charge.get("settlement_currency") or cur
        widgets.tile(tiles[2], "Fee", fmt.money(charge["fee"], settle) if charge.get("fee") is not None else "—")
        widgets.tile(tiles[3], "Net", fmt.money(charge["net"], settle) if charge.get("net") is not None else "—")

left, right = st.columns(2)
with left:
    st.markdown("**Details**")
    customer = (charge or {}).get("customer") or (intent or {}).get("customer")
    rows = {
        "Customer": ((charge or {}).get("customer_email") or customer or "—"),
        "Payment method": (charge or {}).get("payment_method_type") or "—",
        "Description": main.get("description") or "—",
        "Payment intent": (charge or {}).get("payment_intent") or (intent or {}).get("id") or "—",
        "Charge": (charge or {}).get("id") or "—",
    }
    if charge and charge.get("failure_message"):
        rows["Failure"] = f"{charge['failure_message']} ({charge.get('failure_code') or 'no code'})"
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows.items()))
    if customer:
        st.page_link("pages/customer_page.py", label="Open the customer", icon=":material/person:",
                     query_params=filters.link_params(id=customer))
    if charge and charge.get("receipt_url"):
        st.link_button("Receipt", charge["receipt_url"], icon=":material/receipt:")
with right:
    st.markdown("**Refunds**")
    widgets.table(found["refunds"], key="pay_refunds", view=f"refunds_{main['id']}", money=["amount"], search=False,
                  empty="No refunds.")
    st.markdown("**Disputes**")
    widgets.table(found["disputes"], key="pay_disputes", view=f"disputes_{main['id']}", money=["amount"],
                  search=False, empty="No disputes.")

with st.expander("Everything Stripe sent (raw)"):
    try:
        st.json(json.loads(main.get("raw") or "{}"), expanded=False)
    except ValueError:
        st.code(main.get("raw") or "")
