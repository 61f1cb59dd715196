"""Cash metrics (metrics.md "Cash (payments)"): per month of the object's `created` time, per
currency of the object."""

from __future__ import annotations

import pandas as pd

from .filters import MetricFilters
from .load import Calendar, Sources
from .snapshots import MONTH_LABEL_SQL

# metrics.md: balance transaction types that make up net volume.
NET_VOLUME_TYPES = ("charge", "payment", "refund", "payment_refund", "adjustment", "payment_failure_refund")

CASH_COLUMNS = ("gross_volume", "refunds", "fees", "net_volume", "successful_payments", "failed_payments")


def cash_metrics(src: Sources, calendar: Calendar, filters: MetricFilters | None = None) -> pd.DataFrame:
    """Per currency and month (rules of metrics.md "Cash (payments)"):

    - gross_volume: sum of `amount_captured` of charges with status `succeeded`;
    - refunds: sum of `amount` of refunds with status `succeeded`;
    - successful_payments / failed_payments: count of charges `succeeded` / `failed`;
    - fees: sum of `fee` of all balance transactions (settlement currency);
    - net_volume: sum of `net` of balance transactions of the types in NET_VOLUME_TYPES.

    Only objects created before the as-of instant and not deleted count. Filters used: currencies,
    and the customer segment (a charge's customer; a refund's or dispute's charge's customer; a
    balance transaction's source's customer -- balance transactions with no customer, e.g. payouts,
    are outside every segment). Product and interval filters do not apply to cash (a payment is not
    tied to one product); the date range is applied by the caller when showing months.

    Returns columns: currency, m, month, gross_volume, refunds, fees, net_volume (minor units),
    successful_payments, failed_payments; one row per currency and month with any activity."""
    filters = filters or MetricFilters()
    params: list = [calendar.as_of]
    currency = ""
    if filters.currencies:
        currency = " AND lower(x.currency) IN (" + ", ".join(f"'{c}'" for c in filters.currencies) + ")"
    segment_cte, seg_charge, seg_refund, seg_bt = "", "", "", ""
    if filters.segment_key is not None:
        seg_sql, seg_params = src.segment_customers_sql(filters)
        params = seg_params + params
        segment_cte = f"""seg AS ({seg_sql}),
        seg_charges AS (SELECT id FROM charges WHERE NOT deleted AND customer IN (SELECT id FROM seg)),
        seg_sources AS (
            SELECT id FROM seg_charges
            UNION ALL SELECT id FROM refunds WHERE NOT deleted AND charge IN (SELECT id FROM seg_charges)
            UNION ALL SELECT id FROM disputes WHERE NOT deleted AND charge IN (SELECT id FROM seg_charges)),"""
        seg_charge = " AND x.id IN (SELECT id FROM seg_charges)"
        seg_refund = " AND x.charge IN (SELECT id FROM seg_charges)"
        seg_bt = " AND x.source IN (SELECT id FROM seg_sources)"
    net_types = ", ".join(f"'{t}'" for t in NET_VOLUME_TYPES)
    sql = f"""
    WITH {segment_cte}
    cutoff AS (SELECT ?::TIMESTAMPTZ AS t),
    ch AS (
        SELECT lower(x.currency) AS currency, year(x.created) * 12 + month(x.created) - 1 AS m,
               sum(CASE WHEN x.status = 'succeeded' THEN coalesce(x.amount_captured, 0) ELSE 0 END) AS gross_volume,
               count(*) FILTER (WHERE x.status = 'succeeded') AS successful_payments,
               count(*) FILTER (WHERE x.status = 'failed') AS failed_payments
        FROM charges x WHERE NOT x.deleted AND x.created < (SELECT t FROM cutoff){currency}{seg_charge}
        GROUP BY ALL),
    rf AS (
        SELECT lower(x.currency) AS currency, year(x.created) * 12 + month(x.created) - 1 AS m,
               sum(x.amount) AS refunds
        FROM refunds x WHERE NOT x.deleted AND x.status = 'succeeded'
          AND x.created < (SELECT t FROM cutoff){currency}{seg_refund}
        GROUP BY ALL),
    bt AS (
        SELECT lower(x.currency) AS currency, year(x.created) * 12 + month(x.created) - 1 AS m,
               sum(coalesce(x.fee, 0)) AS fees,
               sum(CASE WHEN x.type IN ({net_types}) THEN coalesce(x.net, 0) ELSE 0 END) AS net_volume
        FROM balance_transactions x WHERE NOT x.deleted AND x.created < (SELECT t FROM cutoff){currency}{seg_bt}
        GROUP BY ALL),
    keys AS (SELECT currency, m FROM ch UNION SELECT currency, m FROM rf UNION SELECT currency, m FROM bt)
    SELECT k.currency, CAST(k.m AS INTEGER) AS m, {MONTH_LABEL_SQL.format(m='k.m')} AS month,
           CAST(coalesce(ch.gross_volume, 0) AS BIGINT) AS gross_volume,
           CAST(coalesce(rf.refunds, 0) AS BIGINT) AS refunds,
           CAST(coalesce(bt.fees, 0) AS BIGINT) AS fees,
           CAST(coalesce(bt.net_volume, 0) AS BIGINT) AS net_volume,
           CAST(coalesce(ch.successful_payments, 0) AS BIGINT) AS successful_payments,
           CAST(coalesce(ch.failed_payments, 0) AS BIGINT) AS failed_payments
    FROM keys k LEFT JOIN ch USING (currency, m) LEFT JOIN rf USING (currency, m) LEFT JOIN bt USING (currency, m)
    ORDER BY k.currency, k.m"""
    return src.con.execute(sql, params).df()
