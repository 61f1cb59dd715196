"""Customer-level MRR movements (metrics.md "Customer MRR and movements")."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ._sql import query

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def movement_sql(previous: str, current: str, first: str, unchanged: str | None = None) -> str:
    """The movement rule of metrics.md as a SQL CASE over a customer's MRR at P (`previous`) and
    at M (`current`); `first` is true when M is the customer's first month with MRR > 0, and
    `unchanged` (optional) a condition under which there is no movement (NULL). Written once, for
    the per-currency movements and the reporting currency's constant-currency ones
    (docs/specs/fx.md): new, reactivation, churn, expansion, contraction."""
    same = f"WHEN {unchanged} THEN NULL" if unchanged else ""
    return f"""CASE
        WHEN {previous} = 0 AND {current} > 0 THEN CASE WHEN {first} THEN 'new' ELSE 'reactivation' END
        WHEN {previous} > 0 AND {current} = 0 THEN 'churn'
        {same}
        WHEN {current} > {previous} THEN 'expansion'
        ELSE 'contraction' END"""


def amount_sql(movement: str, previous: str, current: str) -> str:
    """A movement's amount, positive as the contract states it: churn P, contraction P - M, the
    others M - P."""
    return (f"CASE {movement} WHEN 'churn' THEN {previous} WHEN 'contraction' THEN {previous} - {current} "
            f"ELSE {current} - {previous} END")


def mrr_movements(snapshots: pa.Table | pd.DataFrame, last_month: int, *, arrow: bool = False) -> pd.DataFrame | pa.Table:
    """Each customer's movement per currency per month, comparing its MRR at consecutive month
    snapshots (previous month P, this month M), per metrics.md:

    - new: P = 0, M > 0, and no MRR > 0 at any earlier snapshot;
    - reactivation: P = 0, M > 0, MRR > 0 at some earlier snapshot;
    - expansion: 0 < P < M (amount M - P); contraction: 0 < M < P (amount P - M);
    - churn: P > 0, M = 0 (amount P).
    The first reported month has P = 0 for everyone (there is no earlier snapshot).

    `snapshots` is the output of `mrr_snapshots` (currency, customer_key, m, mrr; any customer
    column type works); `last_month` the as-of month index (a churn after the last snapshot month
    is not reported).

    Returns columns: currency, customer_key, m, previous_mrr, mrr, movement, amount (positive, as
    the contract states it), change (mrr - previous_mrr, signed). Customers whose MRR did not change
    have no row."""
    return query(f"""
        WITH s AS (SELECT currency, customer_key, m, mrr FROM snaps),
        firsts AS (SELECT currency, customer_key, min(m) AS first_m FROM s GROUP BY currency, customer_key),
        pairs AS (
            SELECT coalesce(c.currency, p.currency) AS currency,
                   coalesce(c.customer_key, p.customer_key) AS customer_key,
                   coalesce(c.m, p.m + 1) AS m, coalesce(p.mrr, 0) AS previous_mrr, coalesce(c.mrr, 0) AS mrr
            FROM s c FULL OUTER JOIN s p
              ON p.currency = c.currency AND p.customer_key = c.customer_key AND p.m = c.m - 1
        ),
        moved AS (
            SELECT pairs.*, {movement_sql("previous_mrr", "mrr", "m = first_m")} AS movement
            FROM pairs JOIN firsts USING (currency, customer_key)
            WHERE pairs.m <= {int(last_month)} AND previous_mrr <> mrr
        )
        SELECT currency, customer_key, CAST(m AS INTEGER) AS m, previous_mrr, mrr, movement,
               CAST({amount_sql("movement", "previous_mrr", "mrr")} AS BIGINT) AS amount,
               CAST(mrr - previous_mrr AS BIGINT) AS change
        FROM moved ORDER BY currency, m, movement, customer_key""", arrow=arrow, snaps=snapshots)


def movement_customers(movements: pa.Table | pd.DataFrame, customers: pa.Table | pd.DataFrame, currency: str,
                       month: int, movement: str, details: pd.DataFrame | None = None) -> pd.DataFrame:
    """The customers behind one bar of the movements chart: who moved `movement` in `currency` in
    month index `month`, biggest amount first. `customers` maps customer_key to customer (the
    `customers` dictionary of the MRR components); `details` optionally adds name and email (a frame
    with id, name, email).

    Returns columns: customer, [name, email,] previous_mrr, mrr, amount (minor units)."""
    if movement not in MOVEMENTS:
        raise ValueError(f"movement must be one of {', '.join(MOVEMENTS)}")
    tables = {"mv": movements, "keys": customers}
    select = "SELECT k.customer, mv.previous_mrr, mv.mrr, mv.amount"
    join = ""
    if details is not None:
        tables["det"] = details[["id", "name", "email"]]
        select = "SELECT k.customer, det.name, det.email, mv.previous_mrr, mv.mrr, mv.amount"
        join = "LEFT JOIN det ON det.id = k.customer"
    return query(f"""{select} FROM mv JOIN keys k ON k.customer_key = mv.customer_key {join}
        WHERE mv.currency = ? AND mv.m = ? AND mv.movement = ? ORDER BY mv.amount DESC, k.customer""",
                 [currency.lower(), int(month), movement], **tables)
