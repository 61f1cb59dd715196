"""Account: the Stripe account's profile, its balance when known, and the mode badge."""

from datetime import datetime, timezone

import streamlit as st

from stripe_analytics import queries
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, page, widgets

ctx = page.context(need_data=False)
account = ctx.account
widgets.page_header("Account")
if ctx.error or ctx.key is None:
    widgets.empty_state("Nothing to show yet", "This account's cache is not available: "
                        + (ctx.error or "it has not been synced yet.") + " See the Data page.")
    st.stop()

info = data.account_info(ctx.key)
profile = info.get("profile") or {}
business = profile.get("business_profile") or {}
settings = profile.get("settings") or {}
name = business.get("name") or (settings.get("dashboard") or {}).get("display_name") or profile.get("email") \
    or info.get("account_id") or "Unknown account"

badges = st.container(horizontal=True, vertical_alignment="center")
badges.markdown(f"### {name}")
if account.demo:
    badges.badge("Demo · test data", icon=":material/science:", color="violet")
elif ctx.mode == "live":
    badges.badge("Live mode", icon=":material/bolt:", color="green")
else:
    badges.badge("Test mode", icon=":material/construction:", color="orange")

rows = {
    "Account id": info.get("account_id") or profile.get("id"),
    "Email": profile.get("email"),
    "Country": profile.get("country"),
    "Default currency": (profile.get("default_currency") or "").upper() or None,
    "Website": business.get("url"),
    "Support email": business.get("support_email"),
    "Created": fmt.ago(None) if not profile.get("created") else None,
}
if profile.get("created"):
    rows["Created"] = f"{datetime.fromtimestamp(profile['created'], timezone.utc):%d %b %Y}"
left, right = st.columns(2)
with left:
    st.markdown("#### Profile")
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows.items() if v))
    st.caption(f"{'Generated' if account.demo else 'Synced'} {fmt.ago(info.get('last_synced_at'))}.")
with right:
    st.markdown("#### Balance")
    balance = data.browse(ctx.key, queries.balance)
    if balance:
        for kind in ("available", "pending"):
            st.markdown(f"**{kind.capitalize()}**")
            for item in balance.get(kind) or []:
                st.markdown(f"- {fmt.money(item.get('amount'), item.get('currency', 'usd'))} "
                            f"{str(item.get('currency', '')).upper()}")
        if balance.get("retrieved_at"):
            when = datetime.fromtimestamp(balance["retrieved_at"], timezone.utc)
            st.caption(f"As of {when:%d %b %Y %H:%M} UTC ({'generated' if account.demo else 'read at the last sync'}). "
                       "Pending funds become available for payout on their available date.")
    else:
        st.info("The balance is not in the local cache: the sync copies balance transactions, not the live "
                "balance. Stripe's Dashboard (Balances) shows the available and pending amounts.",
                icon=":material/account_balance:")

st.markdown("#### Contents")
counts = info.get("counts") or {}
with widgets.tile_row(4) as grid:
    for i, (table_name, n) in enumerate(counts.items()):
        widgets.tile(grid[i % 4], table_name.replace("_", " ").capitalize(), f"{n:,}")
with st.expander("The account object Stripe returned"):
    st.json(profile, expanded=False)
