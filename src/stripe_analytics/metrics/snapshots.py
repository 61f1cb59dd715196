"""Customer MRR at month snapshots (metrics.md "Customer MRR and movements": a customer's MRR in a
currency at t is the sum of its subscriptions' MRR in that currency; "MRR of one subscription":
a subscription never contributes less than 0)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import pyarrow as pa

from ._sql import query

MONTH_LABEL_SQL = "printf('%04d-%02d', CAST({m} // 12 AS INTEGER), CAST({m} % 12 + 1 AS INTEGER))"


def _quoted(values: Iterable) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def mrr_snapshots(components: pa.Table | pd.DataFrame, *, currencies: Iterable[str] | None = None,
                  product_keys: Iterable[int] | None = None, intervals: Iterable[str] | None = None,
                  customer_keys: Iterable[int] | None = None, arrow: bool = False) -> pd.DataFrame | pa.Table:
    """Customer x currency x month snapshot MRR from MRR components (`mrr.mrr_components(...).table`
    at month snapshots), keeping only the components of the given currencies, product keys, price
    intervals and customer keys (None = all).

    Each subscription's selected pieces are summed and floored at 0; a customer's MRR is the sum
    over its subscriptions in that currency, rounded to the nearest minor unit (halves up), so every
    total built from it is exact in minor units.

    Returns columns: currency, customer_key, m (month index = year*12 + month-1), mrr (int, minor
    units). Only customers with MRR > 0 at a snapshot have a row."""
    conds, tables = _conditions(components, currencies, product_keys, intervals, customer_keys)
    return query(f"""
        WITH subs AS (
            SELECT currency, customer_key, sub_key, m, greatest(0, sum(amount)) AS mrr
            FROM comps WHERE {conds} GROUP BY currency, customer_key, sub_key, m),
        cust AS (SELECT currency, customer_key, m, CAST(round(sum(mrr) + 1e-7) AS BIGINT) AS mrr
                 FROM subs GROUP BY currency, customer_key, m)
        SELECT currency, customer_key, CAST(m AS INTEGER) AS m, mrr
        FROM cust WHERE mrr > 0 ORDER BY currency, m, customer_key""", arrow=arrow, **tables)


def mrr_by_product(components: pa.Table | pd.DataFrame, *, currencies: Iterable[str] | None = None,
                   intervals: Iterable[str] | None = None, customer_keys: Iterable[int] | None = None) -> pd.DataFrame:
    """MRR and active customers per product, currency and month, each product counted exactly as
    `mrr_snapshots` with the product filter set to that product alone (per subscription floored at
    0, per customer rounded to the minor unit).

    Returns columns: currency, product_key, m, mrr (int, minor units), active_customers."""
    conds, tables = _conditions(components, currencies, None, intervals, customer_keys)
    return query(f"""
        WITH subs AS (
            SELECT currency, product_key, customer_key, sub_key, m, greatest(0, sum(amount)) AS mrr
            FROM comps WHERE {conds} AND product_key IS NOT NULL
            GROUP BY currency, product_key, customer_key, sub_key, m),
        cust AS (SELECT currency, product_key, customer_key, m, CAST(round(sum(mrr) + 1e-7) AS BIGINT) AS mrr
                 FROM subs GROUP BY currency, product_key, customer_key, m)
        SELECT currency, product_key, CAST(m AS INTEGER) AS m, CAST(sum(mrr) AS BIGINT) AS mrr,
               CAST(count(*) AS BIGINT) AS active_customers
        FROM cust WHERE mrr > 0 GROUP BY currency, product_key, m ORDER BY currency, m, product_key""", **tables)


def _conditions(components, currencies, product_keys, intervals, customer_keys) -> tuple[str, dict]:
    conds = ["true"]
    tables = {"comps": components}
    if currencies is not None:
        conds.append(f"currency IN ({_quoted(currencies) or 'NULL'})")
    if product_keys is not None:
        conds.append(f"product_key IN ({', '.join(str(int(k)) for k in product_keys) or 'NULL'})")
    if intervals is not None:
        conds.append(f"interval IN ({_quoted(intervals) or 'NULL'})")
    if customer_keys is not None:
        tables["wanted"] = pa.table({"customer_key": pa.array(list(customer_keys), pa.int32())})
        conds.append("customer_key IN (SELECT customer_key FROM wanted)")
    return " AND ".join(conds), tables
