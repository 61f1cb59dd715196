"""Products: the catalogue with its prices, and the MRR and invoiced revenue each brings."""

from functools import partial

from dataclasses import replace

import streamlit as st

from stripe_analytics import charts, queries
from stripe_analytics import formatting as fmt
from stripe_analytics.ui import data, definitions, forms, page, widgets
from stripe_analytics.ui.filters import currency_label

ctx = page.context()
f = ctx.filters
cur = f.currency
widgets.page_header("Products", f"{currency_label(f.picked, cur)} · MRR now; invoiced revenue {f.start:%b %Y} – "
                                f"{f.end:%b %Y}" + (f" (invoices in {cur.upper()})" if f.converted else ""))
fx = page.conversion_note(page.metrics(ctx).result.reporting) if f.converted else None
actions = st.container(horizontal=True, horizontal_alignment="right")
forms.page_actions(actions, ctx, "product")

catalogue = page.browse(ctx, queries.products)
if catalogue.empty:
    widgets.empty_state("No products", "This account has no products yet.")
    st.stop()

# MRR per product: each product's MRR as the product filter computes it, current month (one pass).
try:
    mrr = data.mrr_by_product(ctx.key, f.metric_json(dates=False), reporting=f.reporting_currency)
    own = data.mrr_by_product_own(ctx.key, f.metric_json(dates=False)) if f.converted else None
except data.CacheBusy as error:
    st.info(str(error))
    st.stop()
invoiced = page.browse(ctx, queries.invoiced_by_product, replace(f.scope(), product=None))
revenue = dict(zip(invoiced["product"], invoiced["invoiced"]))
table = catalogue.copy()
table.insert(3, "mrr", table["id"].map(mrr).fillna(0).astype("int64"))
table.insert(4, "invoiced", table["id"].map(revenue).fillna(0).astype("int64"))
if f.converted:  # each product's own currencies beside the converted MRR
    table.insert(3, "own_mrr", table["id"].map(fmt.own_amounts(own, "product")).fillna(""))

chart_data = widgets.major(table[table["mrr"] > 0][["name", "mrr"]].sort_values("mrr", ascending=False), ["mrr"], cur)
if not chart_data.empty:
    widgets.chart(partial(charts.bars, chart_data, "name", {"mrr": "MRR"}, currency=cur, horizontal=True,
                          title="MRR by product",
                          height=90 + 34 * len(chart_data)), chart_data, note=fx, key="prod_mrr",
                  view="mrr_by_product", filters=f, dates_in_name=False, light=True)
widgets.table(table, key="prod_table", view="products", filters=f, money=["mrr", "invoiced"], currency=cur,
              columns=["id", "name", "active", *(["own_mrr"] if f.converted else []), "mrr", "invoiced",
                       "active_prices", "description", "created"],
              column_config={"mrr": widgets.money_config(f"MRR in {cur.upper()}" if f.converted else "MRR", cur,
                                                         help="\n\n".join(t for t in (definitions.help_text("mrr"), fx)
                                                                           if t)),
                             "own_mrr": st.column_config.TextColumn("MRR (own currency)",
                                                                    help="The product's MRR in each currency."),
                             "invoiced": widgets.money_config("Invoiced", cur,
                                                              help="Paid invoice lines in the date range, before "
                                                                   "tax and after discounts.")})
st.markdown("#### Prices")
prices = page.browse(ctx, queries.prices)
widgets.table(prices, key="prod_prices", view="prices", money=["unit_amount"],
              columns=["id", "product_name", "nickname", "type", "currency", "unit_amount", "interval",
                       "interval_count", "billing_scheme", "active"])
