"""Stripe Analytics: the dashboard (`streamlit run app.py`, or `make run`).

This script runs on every interaction: it loads the settings, picks the account (the demo
when no Stripe key is set), draws the sidebar filters (kept in the URL), then runs the
chosen page from `pages/`. Pages only compose widgets of `stripe_analytics.ui`. A filter
change runs only the page and the sidebar's parts that show the filters
(`stripe_analytics.ui.filter_runs`).

Page files are named `*_page.py` while their URLs are short (`/mrr`); the small
`pages/<url>.py` files only run this script, so that the first deep link after a server
start is not reported as "Page not found" (see `stripe_analytics.ui.deeplinks`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import streamlit as st

from stripe_analytics.ui import context, filter_runs, first_paint, live, saved_views, signin, theme

_started = time.perf_counter()
# A file of our own: a ":material/…:" or emoji icon makes the browser fetch it from a font host.
st.set_page_config(page_title="Stripe Analytics", page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
                   layout="wide")
theme.apply()

# The default page is served at "/"; its own url_path is never shown, but it must not be the
# name of a file in pages/ ("overview_page"), which Streamlit's legacy lookup would run alone.
OVERVIEW = st.Page("pages/overview_page.py", title="Overview", icon=":material/dashboard:", default=True,
                   url_path="home")


def overview_alias() -> None:
    """`/overview` (the Overview's name, which people type and bookmark): go to "/" with the
    same query (filters), instead of Streamlit's "Page not found"."""
    st.switch_page(OVERVIEW, query_params=st.query_params.to_dict())


PAGES = {
    "Metrics": [
        OVERVIEW,
        st.Page("pages/revenue_page.py", title="Revenue", icon=":material/payments:", url_path="revenue"),
        st.Page("pages/mrr_page.py", title="MRR & growth", icon=":material/trending_up:", url_path="mrr"),
        st.Page("pages/retention_page.py", title="Retention", icon=":material/grid_on:", url_path="retention"),
    ],
    "Browse": [
        st.Page("pages/customers_page.py", title="Customers", icon=":material/group:", url_path="customers"),
        st.Page("pages/payments_page.py", title="Payments", icon=":material/credit_card:", url_path="payments"),
        st.Page("pages/subscriptions_page.py", title="Subscriptions", icon=":material/autorenew:",
                url_path="subscriptions"),
        st.Page("pages/products_page.py", title="Products", icon=":material/inventory_2:", url_path="products"),
        st.Page("pages/explore_page.py", title="Explore", icon=":material/search:", url_path="explore"),
    ],
    "Account": [
        st.Page("pages/data_page.py", title="Data", icon=":material/database:", url_path="data"),
        st.Page("pages/account_page.py", title="Account", icon=":material/account_circle:", url_path="account"),
        st.Page("pages/connect_page.py", title="Connect", icon=":material/link:", url_path="connect"),
    ],
    "": [
        st.Page("pages/customer_page.py", title="Customer", icon=":material/person:", url_path="customer",
                visibility="hidden"),
        st.Page("pages/payment_page.py", title="Payment", icon=":material/receipt_long:", url_path="payment",
                visibility="hidden"),
        # Reached from the sidebar's "Notes" link (a 13th page in the list would fold the Account group).
        st.Page("pages/notes_page.py", title="Notes", icon=":material/sticky_note_2:", url_path="notes",
                visibility="hidden"),
        st.Page(overview_alias, title="Overview", url_path="overview", visibility="hidden"),
    ],
}

PAGES_WITHOUT_FILTERS = {"connect"}  # the filters do nothing there
# A filter change runs these pages with the whole app (`filter_runs`): a click inside a page run
# alone waits for the run in progress to end (Streamlit does not stop a run for a fragment's), and
# the SQL console's *Cancel* must stop the run that waits for the query.
PAGES_RUN_WHOLE = {"explore"}
PAGES_OF_ONE_OBJECT = {"customer", "payment"}  # the pages that show the object of `?id=`
admitted = signin.admission()  # with sign-in configured, nobody unlisted sees even the page list
navigation = st.navigation(PAGES, position="sidebar" if admitted.allowed else "hidden")
if "id" in st.query_params and navigation.url_path not in PAGES_OF_ONE_OBJECT:
    # A drill-down's page switch first writes the object's id on the list's own URL (a history
    # entry of Streamlit's); *back* lands there. Dropped during that run, the browser replaces
    # the entry: back returns to the list's URL as it was.
    del st.query_params["id"]
filter_runs.start()
ctx = context.setup(admitted, filters=navigation.url_path not in PAGES_WITHOUT_FILTERS)

if ctx.fatal:
    st.error("The app's settings are invalid, so nothing can be shown:\n\n" + ctx.fatal, icon=":material/error:")
    st.caption("Fix the setting (environment, .env or .streamlit/secrets.toml) and reload the page.")
    st.stop()

signin.banner(ctx.settings)
theme.sidebar_account(ctx)
if ctx.principal is not None:
    signin.sidebar(ctx.principal)
saved_views.sidebar(ctx, navigation.url_path, {p.url_path: p for group in PAGES.values() for p in group})
live.watch(ctx, navigation.url_path)
if ctx.account is not None and ctx.account.demo:
    st.info(context.DEMO_NOTICE, icon=":material/science:")
if ctx.busy:
    st.info("A sync is updating this account; the figures shown are from before it started and refresh when it "
            "finishes.", icon=":material/sync:")

_whole_run = True  # False once this run is over: a later call of `run_page` is a run of the page alone


def run_page() -> None:
    began = time.perf_counter()
    with first_paint.SecondRun():  # a visit's first run: the tiles first, the charts in a run of their own
        try:
            # Streamlit lets the page of a navigation run once per whole run; a run of this fragment
            # alone runs it again.
            navigation._can_be_called = True
            navigation.run()
        except Exception as error:  # noqa: BLE001 - shown in plain words; the details go to the server log
            logging.getLogger("stripe_analytics.app").exception("the %s page failed", navigation.title)
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            st.error(f"This page could not be shown ({type(error).__name__}: {reason}). The other pages still work; "
                     "the details are in the server log.", icon=":material/error:")
    if not _whole_run:
        timing("page alone", began)


def timing(kind: str, began: float) -> None:
    if os.environ.get("STRIPE_ANALYTICS_TIMING"):  # bench/bench_app.py: one line per script run
        with open(os.environ["STRIPE_ANALYTICS_TIMING"], "a", encoding="utf-8") as out:
            out.write(f"{navigation.url_path or 'overview'}\t{time.perf_counter() - began:.4f}\t{kind}\n")


try:
    if navigation.url_path in PAGES_RUN_WHOLE:
        run_page()
    else:
        filter_runs.part(filter_runs.PAGE)(run_page)()  # a filter change reruns it alone
finally:
    _whole_run = False
timing("whole", _started)
