"""Customer MRR at month snapshots (metrics.md "Customer MRR and movements": a customer's MRR in a
currency at t is the sum of its subscriptions' MRR in that currency; "MRR of one subscription":
a subscription never contributes less than 0)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import pyarrow as pa

from ._sql import query
from .filters import MetricFilters

MONTH_LABEL_SQL = "printf('%04d-%02d', CAST({m} // 12 AS INTEGER), CAST({m} % 12 + 1 AS INTEGER))"


def component_filter_sql(filters: MetricFilters | None, segment: bool) -> str:
    """The WHERE clause selecting MRR components under the filters (currency, product, price
    interval, customer segment). The date range selects months later, never components."""
    conds = ["true"]
    if filters is not None:
        if filters.currencies:
            conds.append("currency IN (" + ", ".join(f"'{c}'" for c in filters.currencies) + ")")
        if filters.products:
            conds.append("product IN (" + ", ".join("'" + p.replace("'", "''") + "'" for p in filters.products) + ")")
        if filters.intervals:
            conds.append("interval IN (" + ", ".join(f"'{i}'" for i in filters.intervals) + ")")
    if segment:
        conds.append("customer IN (SELECT id FROM segment)")
    return " AND ".join(conds)


def mrr_snapshots(components: pa.Table | pd.DataFrame, filters: MetricFilters | None = None,
                  segment_customers: Iterable[str] | None = None, *, arrow: bool = False) -> pd.DataFrame | pa.Table:
    """Customer x currency x month snapshot MRR from `mrr.mrr_components` (month snapshots).

    Each subscription's pieces (after the filters) are summed and floored at 0; a customer's MRR is
    the sum over its subscriptions in that currency, rounded to the nearest minor unit (halves up),
    so every total built from it is exact in minor units.

    Returns columns: currency, customer, m (month index = year*12 + month-1), month ('YYYY-MM'),
    mrr (int, minor units). Only customers with MRR > 0 at a snapshot have a row."""
    segment = segment_customers is not None
    tables = {"comps": components}
    if segment:
        tables["segment"] = pa.table({"id": pa.array(list(segment_customers), pa.string())})
    where = component_filter_sql(filters, segment)
    return query(f"""
        WITH c AS (SELECT * FROM comps WHERE {where}),
        subs AS (SELECT currency, customer, subscription, m, greatest(0, sum(amount)) AS mrr
                 FROM c GROUP BY currency, customer, subscription, m),
        cust AS (SELECT currency, customer, m, CAST(round(sum(mrr) + 1e-7) AS BIGINT) AS mrr
                 FROM subs GROUP BY currency, customer, m)
        SELECT currency, customer, CAST(m AS INTEGER) AS m, {MONTH_LABEL_SQL.format(m='m')} AS month, mrr
        FROM cust WHERE mrr > 0 ORDER BY currency, m, customer""", arrow=arrow, **tables)
