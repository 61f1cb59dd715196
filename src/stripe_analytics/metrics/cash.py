"""Cash metrics (metrics.md "Cash (payments)"): per period (day, ISO week or month) of the
object's `created` time in the reporting time zone, per currency of the object.

The rules are written once, in `cash_by_period` (sums and counts) and `cash_rates` (success
rate, average order value); the monthly table (`cash_metrics`, used by `monthly_metrics`) and the
day / week / month views (`cash_periods`, `MetricsEngine.cash`) are both built from them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Iterable, Literal, Sequence

import numpy as np
import pandas as pd

from .filters import MetricFilters
from .load import Calendar, Sources

# metrics.md: balance transaction types that make up net volume.
NET_VOLUME_TYPES = ("charge", "payment", "refund", "payment_refund", "adjustment", "payment_failure_refund")

CASH_COLUMNS = ("gross_volume", "refunds", "fees", "net_volume", "successful_payments", "failed_payments")
CASH_AMOUNT_COLUMNS = ("gross_volume", "refunds", "fees", "net_volume")

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = ("day", "week", "month")

# The first day of the period containing a TIMESTAMPTZ, as a DATE in the connection's time zone
# (the Sources' reporting time zone). Weeks are ISO weeks: Monday to Sunday.
_BUCKET_SQL = {
    "day": "CAST({t} AS DATE)",
    "week": "CAST(date_trunc('week', {t}) AS DATE)",
    "month": "CAST(date_trunc('month', {t}) AS DATE)",
}


def _check_period(period: str) -> str:
    if period not in _BUCKET_SQL:
        raise ValueError(f"{period!r} is not a period (day, week or month)")
    return period


def period_start(day: date, period: Period) -> date:
    """The first day of the period (day, ISO week from Monday, calendar month) containing `day`."""
    _check_period(period)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period_start(start: date, period: Period) -> date:
    if _check_period(period) == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def period_starts(first: date, last: date, period: Period) -> list[date]:
    """Every period from the one containing `first` to the one containing `last`, no gaps."""
    out: list[date] = []
    current, end = period_start(first, period), period_start(last, period)
    while current <= end:
        out.append(current)
        current = next_period_start(current, period)
    return out


def period_label(start: date, period: Period) -> str:
    """'2024-01' for a month, the first day ('2024-01-15', a Monday for a week) otherwise."""
    return f"{start:%Y-%m}" if _check_period(period) == "month" else start.isoformat()


def cash_by_period(src: Sources, as_of: datetime, period: Period = "month",
                   filters: MetricFilters | None = None) -> pd.DataFrame:
    """Per currency and period (rules of metrics.md "Cash (payments)"):

    - gross_volume: sum of `amount_captured` of charges with status `succeeded`;
    - refunds: sum of `amount` of refunds with status `succeeded`;
    - successful_payments / failed_payments: count of charges `succeeded` / `failed`;
    - fees: sum of `fee` of all balance transactions (settlement currency);
    - net_volume: sum of `net` of balance transactions of the types in NET_VOLUME_TYPES.

    Each object counts in the period (day, ISO week starting Monday, or calendar month in the
    connection's time zone) of its `created` time. Only objects created before `as_of` and not
    deleted count. Filters used: currencies, and the customer segment (a charge's customer; a
    refund's or dispute's charge's customer; a balance transaction's source's customer --
    balance transactions with no customer, e.g. payouts, are outside every segment). Product and
    interval filters do not apply to cash (a payment is not tied to one product); the date range
    is applied by the caller.

    Returns columns: currency, start (the period's first day, a date), gross_volume, refunds,
    fees, net_volume (minor units), successful_payments, failed_payments; one row per currency
    and period with any activity, sorted by currency and start."""
    bucket = _BUCKET_SQL[_check_period(period)].format(t="x.created")
    filters = filters or MetricFilters()
    params: list = [as_of]
    currency = ""
    if filters.currencies:
        currency = " AND lower(x.currency) IN (" + ", ".join(f"'{c}'" for c in filters.currencies) + ")"
    segment_cte, seg_charge, seg_refund, seg_bt = "", "", "", ""
    if filters.restricts_customers:
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
        SELECT lower(x.currency) AS currency, {bucket} AS start,
               sum(CASE WHEN x.status = 'succeeded' THEN coalesce(x.amount_captured, 0) ELSE 0 END) AS gross_volume,
               count(*) FILTER (WHERE x.status = 'succeeded') AS successful_payments,
               count(*) FILTER (WHERE x.status = 'failed') AS failed_payments
        FROM charges x WHERE NOT x.deleted AND x.created < (SELECT t FROM cutoff){currency}{seg_charge}
        GROUP BY ALL),
    rf AS (
        SELECT lower(x.currency) AS currency, {bucket} AS start, sum(x.amount) AS refunds
        FROM refunds x WHERE NOT x.deleted AND x.status = 'succeeded'
          AND x.created < (SELECT t FROM cutoff){currency}{seg_refund}
        GROUP BY ALL),
    bt AS (
        SELECT lower(x.currency) AS currency, {bucket} AS start,
               sum(coalesce(x.fee, 0)) AS fees,
               sum(CASE WHEN x.type IN ({net_types}) THEN coalesce(x.net, 0) ELSE 0 END) AS net_volume
        FROM balance_transactions x WHERE NOT x.deleted AND x.created < (SELECT t FROM cutoff){currency}{seg_bt}
        GROUP BY ALL),
    keys AS (SELECT currency, start FROM ch UNION SELECT currency, start FROM rf UNION SELECT currency, start FROM bt)
    SELECT k.currency, k.start,
           CAST(coalesce(ch.gross_volume, 0) AS BIGINT) AS gross_volume,
           CAST(coalesce(rf.refunds, 0) AS BIGINT) AS refunds,
           CAST(coalesce(bt.fees, 0) AS BIGINT) AS fees,
           CAST(coalesce(bt.net_volume, 0) AS BIGINT) AS net_volume,
           CAST(coalesce(ch.successful_payments, 0) AS BIGINT) AS successful_payments,
           CAST(coalesce(ch.failed_payments, 0) AS BIGINT) AS failed_payments
    FROM keys k LEFT JOIN ch USING (currency, start) LEFT JOIN rf USING (currency, start)
    LEFT JOIN bt USING (currency, start)
    ORDER BY k.currency, k.start"""
    frame = src.con.execute(sql, params).df()
    frame["start"] = pd.to_datetime(frame["start"]).dt.date
    return frame


def rebucket(daily: pd.DataFrame, period: Period) -> pd.DataFrame:
    """A daily `cash_by_period` frame summed into weeks or months (the same figures
    `cash_by_period` gives for that period: a local day lies in one local week and month)."""
    frame = daily.copy()
    frame["start"] = [period_start(d, period) for d in frame["start"]]
    out = frame.groupby(["currency", "start"], as_index=False, sort=True)[list(CASH_COLUMNS)].sum()
    for column in CASH_COLUMNS:
        out[column] = out[column].astype("int64")
    return out.reset_index(drop=True)


def cash_metrics(src: Sources, calendar: Calendar, filters: MetricFilters | None = None) -> pd.DataFrame:
    """The monthly cash table: `cash_by_period` with period "month" up to the calendar's as-of.

    Returns columns: currency, m (month index = year*12 + month-1), month ('YYYY-MM'),
    gross_volume, refunds, fees, net_volume (minor units), successful_payments, failed_payments;
    one row per currency and month with any activity."""
    return with_month_index(cash_by_period(src, calendar.as_of, "month", filters))


def with_month_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A monthly `cash_by_period` frame keyed by month index and label instead of its start day."""
    starts = list(frame["start"])
    out = pd.DataFrame({
        "currency": frame["currency"].astype(str),
        "m": pd.Series([d.year * 12 + d.month - 1 for d in starts], dtype="int32", index=frame.index),
        "month": pd.Series([f"{d:%Y-%m}" for d in starts], dtype=object, index=frame.index),
    })
    for column in CASH_COLUMNS:
        out[column] = frame[column]
    return out


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, null (NaN) where the denominator is 0."""
    num = numerator.astype("float64")
    den = denominator.astype("float64")
    return (num / den.where(den != 0)).astype("float64")


def cash_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds (in place, and returns) the rates of metrics.md "Cash (payments)" to a frame with the
    cash columns of one period per row: average_order_value = gross volume / successful payments
    (fractional minor units), payment_success_rate = successful / (successful + failed); NaN
    (null) where undefined."""
    frame["average_order_value"] = ratio(frame["gross_volume"], frame["successful_payments"])
    frame["payment_success_rate"] = ratio(frame["successful_payments"],
                                           frame["successful_payments"] + frame["failed_payments"])
    return frame


def cash_by_currency(cash: pd.DataFrame) -> pd.DataFrame:
    """The cash columns summed per currency over the periods of a `cash_periods` frame, each in
    its own currency (metrics.md "Nothing is added across currencies"); currencies with nothing
    in the range are left out; the busiest (most successful payments) first.

    Returns columns: currency, gross_volume, net_volume, refunds, fees (minor units),
    successful_payments, failed_payments."""
    columns = ["gross_volume", "net_volume", "refunds", "fees", "successful_payments", "failed_payments"]
    active = cash[(cash[list(CASH_COLUMNS)] != 0).any(axis=1)]
    sums = active.groupby("currency", as_index=False, sort=True)[columns].sum()
    for column in columns:
        sums[column] = sums[column].astype("int64")
    return sums.sort_values("successful_payments", ascending=False, kind="stable").reset_index(drop=True)


def cash_periods(cash: pd.DataFrame, currencies: Sequence[str], starts: Iterable[date],
                 period: Period) -> pd.DataFrame:
    """Every period of `starts` for every currency (zeros where nothing happened) from a
    `cash_by_period` frame, with the rates.

    Returns columns: currency, start (date), period (label, see `period_label`), gross_volume,
    refunds, fees, net_volume (minor units), successful_payments, failed_payments,
    average_order_value (fractional minor units), payment_success_rate."""
    starts = list(starts)
    currencies = list(currencies)
    grid = pd.DataFrame({"currency": np.repeat(np.array(currencies, dtype=object), len(starts)),
                         "start": pd.Series(starts * len(currencies), dtype=object)})
    if cash is not None and len(cash):
        frame = grid.merge(cash[["currency", "start", *CASH_COLUMNS]], on=["currency", "start"], how="left")
    else:
        frame = grid
    for column in CASH_COLUMNS:
        frame[column] = (frame[column].fillna(0) if column in frame.columns else 0)
        frame[column] = frame[column].astype("int64")
    frame.insert(2, "period", [period_label(d, period) for d in frame["start"]])
    return cash_rates(frame)


def disputes_on_periods(disputes: pd.DataFrame, periods: Sequence[str], currency: str) -> pd.DataFrame:
    """Disputes opened (`queries.disputes_by_period`: period, disputes, disputed_amount, lost)
    on every period of a cash view, in its order, a period with none at 0, like the cash
    columns of `cash_periods` (metrics.md "Cash (payments)"); `currency` is the one they were
    read in (the reporting currency's own disputes, never converted)."""
    frame = pd.DataFrame({"period": list(periods)}).merge(disputes, on="period", how="left").fillna(0)
    frame["currency"] = currency
    return frame
