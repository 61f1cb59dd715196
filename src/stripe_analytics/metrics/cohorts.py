"""Cohorts (metrics.md "Cohorts")."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import pyarrow as pa

from ._sql import query
from .snapshots import MONTH_LABEL_SQL


def cohort_retention(snapshots: pa.Table | pd.DataFrame, months: Sequence[int]) -> pd.DataFrame:
    """Logo and revenue retention per cohort (metrics.md "Cohorts"): a customer's cohort is the
    month of its first snapshot with MRR > 0 (per currency); logo retention of cohort C in month M is
    the share of C's customers with MRR > 0 at M; revenue retention is the cohort's MRR at M divided
    by its MRR in month C.

    Returns columns: currency, cohort ('YYYY-MM'), month ('YYYY-MM'), age (months since the cohort
    month, 0 = the cohort month), cohort_customers, retained_customers, logo_retention,
    cohort_mrr (minor units at C), mrr (the cohort's minor units at M), revenue_retention.
    One row per cohort and month from C to the last month."""
    month_table = pa.table({"m": pa.array(list(months), pa.int32())})
    return query(f"""
        WITH s AS (SELECT currency, customer_key, m, mrr FROM snaps),
        firsts AS (SELECT currency, customer_key, min(m) AS c FROM s GROUP BY currency, customer_key),
        base AS (
            SELECT f.currency, f.c, count(*) AS cohort_customers, sum(s.mrr) AS cohort_mrr
            FROM firsts f JOIN s ON s.currency = f.currency AND s.customer_key = f.customer_key AND s.m = f.c
            GROUP BY f.currency, f.c),
        active AS (
            SELECT f.currency, f.c, s.m, count(*) AS retained_customers, sum(s.mrr) AS mrr
            FROM firsts f JOIN s ON s.currency = f.currency AND s.customer_key = f.customer_key
            GROUP BY f.currency, f.c, s.m)
        SELECT b.currency, {MONTH_LABEL_SQL.format(m='b.c')} AS cohort, {MONTH_LABEL_SQL.format(m='mo.m')} AS month,
               CAST(mo.m - b.c AS INTEGER) AS age, b.cohort_customers,
               CAST(coalesce(a.retained_customers, 0) AS BIGINT) AS retained_customers,
               coalesce(a.retained_customers, 0) / b.cohort_customers AS logo_retention,
               CAST(b.cohort_mrr AS BIGINT) AS cohort_mrr, CAST(coalesce(a.mrr, 0) AS BIGINT) AS mrr,
               coalesce(a.mrr, 0) / b.cohort_mrr AS revenue_retention
        FROM base b JOIN months mo ON mo.m >= b.c
        LEFT JOIN active a ON a.currency = b.currency AND a.c = b.c AND a.m = mo.m
        ORDER BY b.currency, b.c, mo.m""", snaps=snapshots, months=month_table)
