"""Customer-level MRR movements (metrics.md "Customer MRR and movements")."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ._sql import query
from .snapshots import MONTH_LABEL_SQL

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def mrr_movements(snapshots: pa.Table | pd.DataFrame, last_month: int, *, arrow: bool = False) -> pd.DataFrame | pa.Table:
    """Each customer's movement per currency per month, comparing its MRR at consecutive month
    snapshots (previous month P, this month M), per metrics.md:

    - new: P = 0, M > 0, and no MRR > 0 at any earlier snapshot;
    - reactivation: P = 0, M > 0, MRR > 0 at some earlier snapshot;
    - expansion: 0 < P < M (amount M - P); contraction: 0 < M < P (amount P - M);
    - churn: P > 0, M = 0 (amount P).
    The first reported month has P = 0 for everyone (there is no earlier snapshot).

    `snapshots` is the output of `mrr_snapshots`; `last_month` the as-of month index (a churn after
    the last snapshot month is not reported).

    Returns columns: currency, customer, m, month, previous_mrr, mrr, movement, amount (positive, as
    the contract states it), change (mrr - previous_mrr, signed). Customers whose MRR did not change
    have no row."""
    return query(f"""
        WITH s AS (SELECT currency, customer, m, mrr FROM snaps),
        firsts AS (SELECT currency, customer, min(m) AS first_m FROM s GROUP BY currency, customer),
        pairs AS (
            SELECT coalesce(c.currency, p.currency) AS currency, coalesce(c.customer, p.customer) AS customer,
                   coalesce(c.m, p.m + 1) AS m, coalesce(p.mrr, 0) AS previous_mrr, coalesce(c.mrr, 0) AS mrr
            FROM s c FULL OUTER JOIN s p
              ON p.currency = c.currency AND p.customer = c.customer AND p.m = c.m - 1
        ),
        moved AS (
            SELECT pairs.*, CASE
                WHEN previous_mrr = 0 AND mrr > 0 THEN CASE WHEN m = first_m THEN 'new' ELSE 'reactivation' END
                WHEN previous_mrr > 0 AND mrr = 0 THEN 'churn'
                WHEN mrr > previous_mrr THEN 'expansion'
                ELSE 'contraction' END AS movement
            FROM pairs JOIN firsts USING (currency, customer)
            WHERE pairs.m <= {int(last_month)} AND previous_mrr <> mrr
        )
        SELECT currency, customer, CAST(m AS INTEGER) AS m, {MONTH_LABEL_SQL.format(m='m')} AS month,
               previous_mrr, mrr, movement,
               CAST(CASE movement WHEN 'churn' THEN previous_mrr WHEN 'contraction' THEN previous_mrr - mrr
                         ELSE mrr - previous_mrr END AS BIGINT) AS amount,
               CAST(mrr - previous_mrr AS BIGINT) AS change
        FROM moved ORDER BY currency, m, movement, customer""", arrow=arrow, snaps=snapshots)


def movement_customers(movements: pa.Table | pd.DataFrame, currency: str, month: str, movement: str,
                       customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The customers behind one bar of the movements chart: who moved `movement` in `currency` in
    `month` ('YYYY-MM'), biggest amount first.

    Returns columns: customer, name, email (when `customers` with id/name/email is given),
    previous_mrr, mrr, amount (minor units)."""
    if movement not in MOVEMENTS:
        raise ValueError(f"movement must be one of {', '.join(MOVEMENTS)}")
    tables = {"mv": movements}
    if customers is not None:
        tables["cust"] = customers[["id", "name", "email"]]
        select = ("SELECT mv.customer, cust.name, cust.email, previous_mrr, mrr, amount "
                  "FROM mv LEFT JOIN cust ON cust.id = mv.customer")
    else:
        select = "SELECT customer, previous_mrr, mrr, amount FROM mv"
    return query(f"{select} WHERE currency = ? AND month = ? AND movement = ? ORDER BY amount DESC, customer",
                 [currency.lower(), month, movement], **tables)
