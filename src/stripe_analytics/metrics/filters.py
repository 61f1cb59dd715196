"""What the user chose to look at: date range, currencies, products, price intervals, a customer
segment (metadata key = value), the time zone months are bucketed in, and the discount policy.

Rule references are to the contract, docs/specs/metrics.md (mirrored for users in
docs/metrics.md).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

Interval = Literal["day", "week", "month", "year"]
_CURRENCY = re.compile(r"^[a-z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class DiscountPolicy(str, Enum):
    """metrics.md "An option lets the user choose the discount policy": `all` (default) or
    `forever_only` (only coupons with duration = forever reduce MRR)."""

    all = "all"
    forever_only = "forever_only"


class MetricFilters(BaseModel):
    """Filters every metric accepts. Empty / None means "no restriction".

    - `date_from` / `date_to`: the months shown (inclusive, by the month containing each date).
      Movements are still computed against the true previous month, so the first month shown
      is not all "new".
    - `currencies`: lower-case ISO codes (input is lower-cased).
    - `products`: product ids (`prod_...`); MRR counts only items / invoice lines of these products.
    - `intervals`: price intervals (`day`, `week`, `month`, `year`).
    - `segment_key` / `segment_value`: only customers whose metadata[key] == value.
    - `country`: only customers of this country (ISO code, upper-cased; address, else card).
    - `plan` / `price` / `billing_interval`: only the customers whose plan (product), price or
      billing interval is this one at each month's snapshot, with their movements attributed by
      metrics.md "Segments" (unlike `products` / `intervals`, which keep only those items' MRR).
    - `timezone`: IANA name used for calendar months (metrics.md "Time": UTC unless the user picks
      another time zone).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    date_from: date | None = None
    date_to: date | None = None
    currencies: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None
    intervals: tuple[Interval, ...] | None = None
    segment_key: str | None = None
    segment_value: str | None = None
    country: str | None = None
    plan: str | None = None
    price: str | None = None
    billing_interval: Interval | None = None
    timezone: str = "UTC"

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value):
        if value is None:
            return None
        code = str(value).strip().upper()
        if not _COUNTRY.match(code):
            raise ValueError(f"{value!r} is not a country code (two letters, e.g. FR)")
        return code

    @field_validator("plan", "price", mode="before")
    @classmethod
    def _object_id(cls, value):
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            raise ValueError("an empty id")
        return text

    @field_validator("currencies", mode="before")
    @classmethod
    def _currencies(cls, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = [v for v in value.split(",")]
        codes = []
        for code in value:
            code = str(code).strip().lower()
            if not _CURRENCY.match(code):
                raise ValueError(f"{code!r} is not a currency code (three letters, e.g. usd)")
            if code not in codes:
                codes.append(code)
        return tuple(codes) or None

    @field_validator("products", mode="before")
    @classmethod
    def _products(cls, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        ids = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
        return ids or None

    @field_validator("intervals", mode="before")
    @classmethod
    def _intervals(cls, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        return tuple(dict.fromkeys(str(v).strip().lower() for v in value if str(v).strip())) or None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name (e.g. UTC, Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "MetricFilters":
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        if (self.segment_key is None) != (self.segment_value is None):
            raise ValueError("a segment needs both a metadata key and a value")
        if self.segment_key is not None and not self.segment_key.strip():
            raise ValueError("the segment key is empty")
        return self

    @property
    def restricts_items(self) -> bool:
        return bool(self.products or self.intervals)

    @property
    def restricts_customers(self) -> bool:
        """A customer-level segment (metadata, country): a fixed set of customers, cash included."""
        return self.segment_key is not None or self.country is not None

    @property
    def plan_segments(self) -> dict[str, str]:
        """The month-by-month segments chosen (metrics.md "Segments"): dimension -> value."""
        chosen = {"plan": self.plan, "price": self.price, "interval": self.billing_interval}
        return {k: v for k, v in chosen.items() if v is not None}


def as_of_instant(as_of: date | datetime | None, tz: str = "UTC") -> datetime:
    """metrics.md "Time": `--as-of YYYY-MM-DD` means the end of that day (the next midnight,
    exclusive) in the reporting time zone; None means now. A datetime is taken as given (naive = UTC)."""
    if as_of is None:
        return datetime.now(timezone.utc)
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    zone = ZoneInfo(tz)
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=zone).astimezone(timezone.utc)


def as_of_date(instant: datetime, tz: str = "UTC") -> date:
    """The calendar day an as-of instant belongs to (the instant is exclusive: midnight belongs to
    the day before)."""
    local = instant.astimezone(ZoneInfo(tz))
    if local.time() == time(0) and local.microsecond == 0:
        return (local - timedelta(days=1)).date()
    return local.date()
