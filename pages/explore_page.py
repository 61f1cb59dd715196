"""Explore: one search box across customers, payments, invoices, subscriptions and products,
and a read-only SQL console on this account's cache with its schema beside it."""

import pandas as pd

import streamlit as st

from stripe_analytics import queries
from stripe_analytics import formatting as fmt
from stripe_analytics.sql_console import ConsoleError, SqlConsole
from stripe_analytics.ui import console as query_run, data, filters, page, widgets

ctx = page.context()
f = ctx.filters
widgets.page_header("Explore", "Search everything, or ask the cache in SQL")

search_tab, sql_tab = st.tabs(["Search", "SQL console"])
with search_tab:
    text = widgets.search_box(st, "Search", key="ex_q",
                              placeholder="An id (cus_, ch_, pi_, in_, sub_, prod_…), an email, a name, a description "
                                          "or a metadata value", icon=":material/search:", label_visibility="collapsed")
    if text and len(text.strip()) >= 2:
        hits = page.browse(ctx, queries.search, text)
        if hits.empty:
            st.info(f"Nothing matches “{text}”.")
        else:
            shown = hits.drop(columns=["exact"]).copy()
            shown["amount"] = [fmt.money(int(a), c) if isinstance(c, str) and c and pd.notna(a) else ""
                               for a, c in zip(hits["amount"], hits["currency"])]
            shown["currency"] = shown["currency"].fillna("").str.upper()
            picked = widgets.table(shown, key="ex_hits", view="search", selectable=True, search=False)
            if picked is not None:
                kind, object_id = picked["kind"], picked["id"]
                if kind == "customer":
                    st.switch_page("pages/customer_page.py", query_params=filters.link_params(id=object_id))
                if kind in ("charge", "payment_intent"):
                    st.switch_page("pages/payment_page.py", query_params=filters.link_params(id=object_id))
                stored = page.browse(ctx, queries.stored_object, kind, object_id)
                with st.container(border=True):
                    st.markdown(f"**{kind.replace('_', ' ').capitalize()} `{object_id}`**")
                    if stored is not None:
                        st.json(stored, expanded=1)
    else:
        st.caption("Type at least two characters. Exact id matches come first.")

with sql_tab:
    console = SqlConsole(ctx.key.path)
    query_col, schema_col = st.columns([3, 1.2])
    with schema_col:
        st.markdown("**Schema**")
        try:
            schema = data.console_schema(ctx.key)
        except ConsoleError as error:  # the cache cannot be opened for the console: said plainly
            schema = None
            st.caption(str(error))
        if schema is not None:
            with st.container(height=520, border=False):
                for table_name, columns in schema.groupby("table", sort=True):
                    with st.expander(table_name):
                        st.markdown("\n".join(f"- `{c}` {t.lower()}" for c, t in zip(columns["column"],
                                                                                      columns["type"])))
    with query_col:
        examples = {
            "Customers by country": "SELECT country, count(*) AS customers\nFROM customers WHERE NOT deleted\n"
                                    "GROUP BY country ORDER BY customers DESC",
            "Largest payments": "SELECT id, customer, amount, currency, created\nFROM charges\n"
                                "WHERE status = 'succeeded'\nORDER BY amount DESC LIMIT 20",
            "Subscriptions by status": "SELECT status, count(*) AS subscriptions\nFROM subscriptions\n"
                                       "GROUP BY status ORDER BY subscriptions DESC",
        }

        def use_example() -> None:
            choice = st.session_state.get("sql_example")
            if choice:
                st.session_state["sql_text"] = examples[choice]
            st.session_state["sql_example"] = None

        st.selectbox("Examples", list(examples), index=None, key="sql_example", placeholder="Start from an example…",
                     on_change=use_example, label_visibility="collapsed")
        with st.form("sql_form", border=False):
            sql = st.text_area("SQL", key="sql_text", height=160, placeholder="SELECT * FROM customers LIMIT 10",
                               label_visibility="collapsed")
            run = st.form_submit_button("Run query", icon=":material/play_arrow:", type="primary")
        st.caption(f"Read-only: SELECT only, this account's cache only, {console.time_limit:g} s and "
                   f"{console.max_rows:,} rows at most. Amounts are stored in minor units (cents); amount "
                   "columns next to a `currency` column are shown in that currency (downloads keep the numbers).")
        if run:
            st.session_state["sql_result"] = (sql, query_run.run_query(console, sql))
        cancelled = query_run.cancelled_result()
        if cancelled:
            st.session_state["sql_result"] = cancelled
        last = st.session_state.get("sql_result")
        if last:
            ran, result = last
            if result.cancelled:
                st.warning(result.error, icon=":material/stop_circle:")
            elif result.error:
                st.error(result.error, icon=":material/block:")
            else:
                note = f"{len(result.frame):,} rows in {result.seconds:.2f} s"
                if result.truncated:
                    note += f" — only the first {result.max_rows:,} are shown"
                st.caption(note)
                widgets.table(result.frame, key="sql_rows", view="query", search=False,
                              money=widgets.minor_unit_columns(result.frame))
