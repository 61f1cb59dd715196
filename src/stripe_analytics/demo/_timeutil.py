"""Integer (unix seconds, UTC) calendar arithmetic, fast and locale independent."""

from __future__ import annotations

import time

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DIM = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in_month(y: int, m: int) -> int:
    return 29 if m == 2 and is_leap(y) else _DIM[m - 1]


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def split(ts: int) -> tuple[int, int, int, int]:
    """(year, month, day, second of day) of a timestamp."""
    g = time.gmtime(ts)
    return g.tm_year, g.tm_mon, g.tm_mday, ts % DAY


def add_months(parts: tuple[int, int, int, int], k: int) -> int:
    """Timestamp ``k`` months after ``parts``, keeping the day (clamped to the month end),
    which is how Stripe moves a monthly billing cycle anchored on e.g. the 31st."""
    y, m, d, sod = parts
    total = y * 12 + (m - 1) + k
    ny, nm0 = divmod(total, 12)
    nm = nm0 + 1
    dd = min(d, days_in_month(ny, nm))
    return days_from_civil(ny, nm, dd) * DAY + sod


def fmt_date(ts: int) -> str:
    g = time.gmtime(ts)
    return f"{g.tm_mday} {MONTH_NAMES[g.tm_mon - 1]} {g.tm_year}"


class Cadence:
    """The billing grid of a recurring price: boundary(k) is the start of period k."""

    __slots__ = ("interval", "count", "anchor", "parts", "months")

    def __init__(self, interval: str, count: int, anchor: int) -> None:
        self.interval = interval
        self.count = count
        self.anchor = anchor
        self.parts = split(anchor)
        if interval == "month":
            self.months = float(count)
        elif interval == "year":
            self.months = 12.0 * count
        elif interval == "week":
            self.months = 7.0 * count / 30.4375
        else:  # day
            self.months = count / 30.4375

    def boundary(self, k: int) -> int:
        iv = self.interval
        if iv == "month":
            return add_months(self.parts, k * self.count)
        if iv == "year":
            return add_months(self.parts, 12 * k * self.count)
        if iv == "week":
            return self.anchor + k * self.count * WEEK
        return self.anchor + k * self.count * DAY
