"""Products: the catalogue with its prices, and the MRR and invoiced revenue each brings."""

from dataclasses import replace

import streamlit as st

from stripe_analytics import charts
from stripe_analytics.ui import data, definitions, forms, page, widgets

ctx = page.context()
f = ctx.filters
cur = f.currency
widgets.page_header("Products", f"{cur.upper()} · MRR now; invoiced revenue {f.start:%b %Y} – {f.end:%b %Y}")
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "product")

catalogue = page.browse(ctx, "products")
if catalogue.empty:
    widgets.empty_state("No products", "This account has no products yet.")
    st.stop()

# MRR per product: each product's MRR as the product filter computes it, current month (one pass).
try:
    mrr = data.mrr_by_product(ctx.key, f.metric_json(dates=False))
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()
invoiced = page.browse(ctx, "invoiced_by_product", replace(f.scope(), product=None))
revenue = dict(zip(invoiced["product"], invoiced["invoiced"]))
table = catalogue.copy()
table.insert(3, "mrr", table["id"].map(mrr).fillna(0).astype("int64"))
table.insert(4, "invoiced", table["id"].map(revenue).fillna(0).astype("int64"))

chart_data = widgets.major(table[table["mrr"] > 0][["name", "mrr"]].sort_values("mrr", ascending=False), ["mrr"], cur)
if not chart_data.empty:
    widgets.chart(charts.bars(chart_data, "name", {"mrr": "MRR"}, currency=cur, horizontal=True, title="MRR by product",
                              height=90 + 34 * len(chart_data)), chart_data, key="prod_mrr", view="mrr_by_product",
                  filters=f, dates_in_name=False)
widgets.table(table, key="prod_table", view="products", filters=f, money=["mrr", "invoiced"], currency=cur,
              columns=["id", "name", "active", "mrr", "invoiced", "active_prices", "description", "created"],
              column_config={"mrr": widgets.money_config("MRR", cur, help=definitions.help_text("mrr")),
                             "invoiced": widgets.money_config("Invoiced", cur,
                                                              help="Paid invoice lines in the date range, before "
                                                                   "tax and after discounts.")})
st.markdown("#### Prices")
prices = page.browse(ctx, "prices")
widgets.table(prices, key="prod_prices", view="prices", money=["unit_amount"],
              columns=["id", "product_name", "nickname", "type", "currency", "unit_amount", "interval",
                       "interval_count", "billing_scheme", "active"])
