"""The account's notes: dated remarks shown as markers on every time chart."""

import streamlit as st

from stripe_analytics.ui import notes, page, widgets

ctx = page.context(need_data=False)
widgets.page_header("Notes", "Dated notes on this account (a price change, a launch): each shows as a dotted "
                             "marker on every time chart, and in the charts' data downloads.")
if ctx.account is None or ctx.account.path is None or ctx.account.pending or ctx.error:
    widgets.empty_state("No notes here yet", "Notes are kept in the account's cache: sync this account first, "
                                             "or open the demo account.")
    st.stop()
notes.editor(ctx)
