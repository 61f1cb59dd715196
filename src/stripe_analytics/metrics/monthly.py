"""The monthly metrics table (metrics.md "Customer MRR and movements", "Customer counts and
rates", "Cash (payments)")."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ._sql import query
from .cash import CASH_COLUMNS, cash_rates
from .cash import ratio as _ratio
from .snapshots import MONTH_LABEL_SQL

AMOUNT_COLUMNS = ("mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
                  "net_new_mrr", "gross_volume", "refunds", "fees", "net_volume")
# Amounts that are averages (fractional minor units in the frame; rounded to the minor unit on output).
AVERAGE_AMOUNT_COLUMNS = ("arpa", "ltv", "average_order_value")
FX_COLUMN = "fx_mrr"  # a converted table's exchange-rate moves (fx.md "Output")
# Each movement's MRR column, in the order the movements chart and the bridge draw them.
MOVEMENT_COLUMNS = {"new": "new_mrr", "reactivation": "reactivation_mrr", "expansion": "expansion_mrr",
                    "contraction": "contraction_mrr", "churn": "churned_mrr"}
_MOVEMENTS = [*MOVEMENT_COLUMNS.values(), "net_new_mrr"]


def mrr_movement_columns(converted: bool) -> list[str]:
    """A month's MRR and its movements, in the order the movements chart and the bridge draw
    them (metrics.md "Customer MRR and movements"), FX impact last when converted."""
    return ["month", "currency", "mrr", *_MOVEMENTS, *([FX_COLUMN] if converted else [])]


def mrr_table_columns(converted: bool) -> list[str]:
    """The MRR page's monthly table: MRR, ARR and the movements (FX impact when converted), the
    customer counts, then growth, quick ratio, ARPA and LTV (metrics.md "Customer MRR and
    movements", "Customer counts and rates")."""
    return ["month", "mrr", "arr", *_MOVEMENTS, *([FX_COLUMN] if converted else []), "active_customers",
            "new_customers", "reactivated_customers", "churned_customers", "mrr_growth_rate", "quick_ratio", "arpa",
            "ltv"]


def money_columns(columns: Sequence[str]) -> list[str]:
    """Those of `columns` that are amounts of money."""
    return [c for c in columns if c in AMOUNT_COLUMNS or c in AVERAGE_AMOUNT_COLUMNS or c == FX_COLUMN]


# Per group of a movements table: the MRR and the number of customers of each movement
# (metrics.md "Customer MRR and movements"); the monthly table's and each segment's.
MOVEMENT_SUMS_SQL = """
    sum(amount) FILTER (WHERE movement = 'new') AS new_mrr,
    sum(amount) FILTER (WHERE movement = 'expansion') AS expansion_mrr,
    sum(amount) FILTER (WHERE movement = 'contraction') AS contraction_mrr,
    sum(amount) FILTER (WHERE movement = 'churn') AS churned_mrr,
    sum(amount) FILTER (WHERE movement = 'reactivation') AS reactivation_mrr,
    count(*) FILTER (WHERE movement = 'new') AS new_customers,
    count(*) FILTER (WHERE movement = 'churn') AS churned_customers,
    count(*) FILTER (WHERE movement = 'reactivation') AS reactivated_customers,
    count(*) FILTER (WHERE movement = 'expansion') AS expansion_customers,
    count(*) FILTER (WHERE movement = 'contraction') AS contraction_customers"""


def monthly_metrics(snapshots: pa.Table | pd.DataFrame, movements: pa.Table | pd.DataFrame,
                    cash: pd.DataFrame | None, months: Sequence[int], currencies: Sequence[str]) -> pd.DataFrame:
    """One row per currency and month over `months` (every month, none skipped), all currencies in
    `currencies`, with:

    - amounts in integer minor units: mrr, arr (= 12 x mrr), new_mrr, expansion_mrr,
      contraction_mrr, churned_mrr, reactivation_mrr, net_new_mrr (= new + reactivation +
      expansion - contraction - churned = mrr - previous mrr), gross_volume, refunds, fees,
      net_volume;
    - counts: active_customers, new_customers, churned_customers, reactivated_customers,
      expansion_customers, contraction_customers, successful_payments, failed_payments;
    - rates (fractions, NaN = null as the contract says): customer_churn_rate, revenue_churn_rate,
      grr, nrr, quick_ratio, mrr_growth_rate, payment_success_rate;
    - averages in fractional minor units (NaN = null): arpa, ltv, average_order_value.

    Columns also: currency, m (month index), month ('YYYY-MM'). Rates of a month use the previous
    month of the full range, so compute over all months and slice afterwards."""
    months = list(months)
    currencies = list(currencies)
    grid = pa.table({
        "currency": pa.array([c for c in currencies for _ in months], pa.string()),
        "m": pa.array([m for _ in currencies for m in months], pa.int32()),
    })
    cash_frame = cash if cash is not None and len(cash) else pd.DataFrame(
        {"currency": pd.Series([], dtype="str"), "m": pd.Series([], dtype="int32"),
         **{c: pd.Series([], dtype="int64") for c in CASH_COLUMNS}})
    frame = query(f"""
        WITH snap AS (SELECT currency, m, sum(mrr) AS mrr, count(*) AS active_customers
                      FROM snaps GROUP BY currency, m),
        mv AS (SELECT currency, m,
{MOVEMENT_SUMS_SQL}
               FROM moves GROUP BY currency, m)
        SELECT g.currency, g.m, {MONTH_LABEL_SQL.format(m='g.m')} AS month,
               CAST(coalesce(snap.mrr, 0) AS BIGINT) AS mrr,
               CAST(12 * coalesce(snap.mrr, 0) AS BIGINT) AS arr,
               CAST(coalesce(new_mrr, 0) AS BIGINT) AS new_mrr,
               CAST(coalesce(expansion_mrr, 0) AS BIGINT) AS expansion_mrr,
               CAST(coalesce(contraction_mrr, 0) AS BIGINT) AS contraction_mrr,
               CAST(coalesce(churned_mrr, 0) AS BIGINT) AS churned_mrr,
               CAST(coalesce(reactivation_mrr, 0) AS BIGINT) AS reactivation_mrr,
               CAST(coalesce(new_mrr, 0) + coalesce(reactivation_mrr, 0) + coalesce(expansion_mrr, 0)
                    - coalesce(contraction_mrr, 0) - coalesce(churned_mrr, 0) AS BIGINT) AS net_new_mrr,
               CAST(coalesce(snap.active_customers, 0) AS BIGINT) AS active_customers,
               CAST(coalesce(new_customers, 0) AS BIGINT) AS new_customers,
               CAST(coalesce(churned_customers, 0) AS BIGINT) AS churned_customers,
               CAST(coalesce(reactivated_customers, 0) AS BIGINT) AS reactivated_customers,
               CAST(coalesce(expansion_customers, 0) AS BIGINT) AS expansion_customers,
               CAST(coalesce(contraction_customers, 0) AS BIGINT) AS contraction_customers,
               {", ".join(f"CAST(coalesce(cash.{c}, 0) AS BIGINT) AS {c}" for c in CASH_COLUMNS)}
        FROM grid g
        LEFT JOIN snap ON snap.currency = g.currency AND snap.m = g.m
        LEFT JOIN mv ON mv.currency = g.currency AND mv.m = g.m
        LEFT JOIN cash ON cash.currency = g.currency AND cash.m = g.m
        ORDER BY g.currency, g.m""", grid=grid, snaps=snapshots, moves=movements, cash=cash_frame)
    return add_rates(frame)


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """metrics.md "Customer counts and rates", on a frame with consecutive months per currency."""
    return cash_rates(movement_rates(frame))  # average order value, payment success rate (metrics.md "Cash (payments)")


def movement_rates(frame: pd.DataFrame, keys: Sequence[str] = ("currency",)) -> pd.DataFrame:
    """The MRR rates of metrics.md "Customer counts and rates" (churn rates, GRR, NRR, ARPA, quick
    ratio, MRR growth, LTV) on a frame with consecutive months per `keys` (e.g. currency, or
    currency and segment)."""
    frame = frame.copy()
    keys = list(keys)
    by_currency = frame.groupby(keys, sort=False)
    prev_mrr = by_currency["mrr"].shift(1).fillna(0)            # first month: P = 0
    prev_active = by_currency["active_customers"].shift(1).fillna(0)
    lost = frame["churned_mrr"] + frame["contraction_mrr"]
    frame["customer_churn_rate"] = _ratio(frame["churned_customers"], prev_active)
    frame["revenue_churn_rate"] = _ratio(lost, prev_mrr)
    frame["grr"] = _ratio(prev_mrr - lost, prev_mrr)
    frame["nrr"] = _ratio(prev_mrr - lost + frame["expansion_mrr"], prev_mrr)
    frame["arpa"] = _ratio(frame["mrr"], frame["active_customers"])
    frame["quick_ratio"] = _ratio(frame["new_mrr"] + frame["reactivation_mrr"] + frame["expansion_mrr"], lost)
    frame["mrr_growth_rate"] = _ratio(frame["mrr"], prev_mrr) - 1.0
    # ltv = arpa / mean(customer churn rate of the last 3 months with a rate, up to this month)
    mean_churn = pd.Series(np.nan, index=frame.index, dtype="float64")
    for _, group in frame.groupby(keys, sort=False):
        rated = group["customer_churn_rate"].dropna()
        rolling = rated.rolling(3, min_periods=1).mean()
        mean_churn.loc[group.index] = rolling.reindex(group.index).ffill()
    frame["ltv"] = _ratio(frame["arpa"].fillna(0), mean_churn.fillna(0)).where(frame["arpa"].notna())
    return frame
