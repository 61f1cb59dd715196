"""Where the metrics read from: a DuckDB connection on which the cache tables are visible under
their own names (a Cache, or DataFrames loaded into an in-memory database with the same schema),
plus the reporting calendar (months and their snapshot instants).

Deleted rows: every metric reads entities (customers, subscriptions, items, invoices, lines,
charges, refunds, balance transactions, discounts in effect) with `NOT deleted`. Definitions looked
up by id from a historical row (the interval of a price billed on an old invoice line, the coupon
behind an old line's discount) are read from every row, because there `deleted` only means the
object was later detached or archived, not that the history is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pyarrow as pa

from .. import schema
from ..cache import read_meta
from ..segment_sql import customers_sql
from .filters import MetricFilters

# Tables whose rows carry a currency a customer-facing metric is reported in.
CURRENCY_TABLES = ("subscriptions", "charges", "refunds", "balance_transactions")


@dataclass
class Sources:
    """A connection where the cache tables (schema.TABLES plus subscription_history and meta) exist.

    The connection is our own (a cursor of the cache's connection, or a private in-memory database),
    so session settings (TimeZone) and temp tables never leak into other users of the cache."""

    con: duckdb.DuckDBPyConnection
    account_id: str | None = None
    data_version: int = 0
    timezone: str = "UTC"

    @classmethod
    def from_cache(cls, cache, timezone_name: str = "UTC") -> "Sources":
        con = cache.con.cursor()
        src = cls(con, account_id=read_meta(con, "account_id"), data_version=int(read_meta(con, "data_version") or 0))
        src.set_timezone(timezone_name)
        return src

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame | pa.Table], account_id: str | None = None,
                    timezone_name: str = "UTC") -> "Sources":
        """DataFrames in: each frame is named by its cache table (`subscriptions`, `invoice_line_items`,
        ...) with the cache's column names; missing tables are empty, missing columns are null
        (`deleted` false)."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in schema.TABLES:
            con.execute(schema.create_table_sql(table))
        for sql in schema.SUPPORT_TABLES_SQL:
            con.execute(sql)
        known = {t.name for t in schema.TABLES} | {"subscription_history", "meta"}
        for name, frame in frames.items():
            if name not in known:
                raise ValueError(f"unknown table {name!r}")
            if frame is None or len(frame) == 0:
                continue
            con.register("_frame", frame)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _frame")
            con.unregister("_frame")
        src = cls(con, account_id=account_id)
        src.set_timezone(timezone_name)
        return src

    def set_timezone(self, name: str) -> None:
        self.con.execute(f"SET TimeZone = '{ZoneInfo(name).key}'")
        self.timezone = name

    def close(self) -> None:
        self.con.close()

    def currencies(self) -> list[str]:
        """metrics.md "`stripe-analytics metrics --json`": a currency appears when any subscription,
        charge, refund or balance transaction uses it."""
        union = " UNION ".join(
            f"SELECT DISTINCT lower(currency) AS c FROM {t} WHERE NOT deleted AND currency IS NOT NULL"
            for t in CURRENCY_TABLES)
        return sorted(r[0] for r in self.con.execute(union).fetchall())

    def first_data_instant(self) -> datetime | None:
        """metrics.md "Time": months run from the first month with any subscription or payment data."""
        row = self.con.execute("""
            SELECT min(t) FROM (
              SELECT min(least(coalesce(start_date, created), coalesce(created, start_date))) AS t
                FROM subscriptions WHERE NOT deleted
              UNION ALL SELECT min(created) FROM charges WHERE NOT deleted
              UNION ALL SELECT min(created) FROM refunds WHERE NOT deleted
              UNION ALL SELECT min(created) FROM balance_transactions WHERE NOT deleted)""").fetchone()
        return row[0] if row else None

    def segment_customers_sql(self, filters: MetricFilters) -> tuple[str, list]:
        """SQL (and parameters) selecting the ids of customers in the filter's customer-level
        segments (metadata key = value, country): `segment_sql.customers_sql`."""
        selected = customers_sql(filters.segment_key, filters.segment_value, filters.country)
        if selected is None:
            raise ValueError("the filters name no customer-level segment")
        return selected

    def frames(self, tables: list[str] | None = None, include_deleted: bool = False) -> dict[str, pd.DataFrame]:
        """The cache tables as DataFrames (deleted rows left out unless asked)."""
        out = {}
        for table in schema.TABLES:
            if tables is not None and table.name not in tables:
                continue
            where = "" if include_deleted else " WHERE NOT deleted"
            out[table.name] = self.con.execute(f"SELECT * FROM {table.name}{where}").df()
        return out


def month_index(moment: datetime | date, tz: str = "UTC") -> int:
    """year * 12 + month - 1 of the calendar month containing `moment` in `tz`."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(ZoneInfo(tz))
    return moment.year * 12 + moment.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(index: int, tz: str = "UTC") -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


@dataclass(frozen=True)
class Calendar:
    """The reported months and their snapshot instants (metrics.md "Time").

    `snapshot_end[m]` is the exclusive end of month m's snapshot: the start of the next month, or the
    as-of instant for the as-of month. A rule "x <= t" at the snapshot is evaluated as "x < end" and
    "t < x" as "end <= x" (t is the last instant before `end`)."""

    first: int | None
    last: int
    as_of: datetime
    tz: str = "UTC"

    @property
    def months(self) -> list[int]:
        return [] if self.first is None else list(range(self.first, self.last + 1))

    def snapshot_end(self, m: int) -> datetime:
        return self.as_of if m == self.last else month_start(m + 1, self.tz)

    def snapshots(self) -> pa.Table:
        months = self.months
        return pa.table({
            "m": pa.array(months, pa.int32()),
            "T": pa.array([self.snapshot_end(m) for m in months], pa.timestamp("us", tz="UTC")),
        })

    def labels(self) -> list[str]:
        return [month_label(m) for m in self.months]

    def visible(self, filters: MetricFilters) -> list[int]:
        """The months shown under the filter's date range."""
        lo = month_index(filters.date_from) if filters.date_from else None
        hi = month_index(filters.date_to) if filters.date_to else None
        return [m for m in self.months if (lo is None or m >= lo) and (hi is None or m <= hi)]


def build_calendar(src: Sources, as_of: datetime) -> Calendar:
    first = src.first_data_instant()
    last = month_index(as_of - timedelta(microseconds=1), src.timezone)
    first_m = month_index(first, src.timezone) if first is not None else None
    if first_m is not None and first_m > last:
        first_m = None
    return Calendar(first_m, last, as_of, src.timezone)
