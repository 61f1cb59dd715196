"""Formatting of numbers and times for the app's tiles, tables and captions (plain text: the
pages and `ui/` widgets show it)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from .money import SYMBOLS, format_amount, format_major

__all__ = ["money", "money_major", "compact_money", "percent", "count", "ratio", "delta_text", "ago",
           "is_missing", "format_amount"]


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(minor, currency: str) -> str:
    """Minor units → '$1,234.50' with the currency's own decimals."""
    return "—" if is_missing(minor) else format_amount(minor, currency)


def own_amounts(frame, key: str, amount: str = "mrr") -> dict:
    """{key: '€100.00 + $5.00'}: each key's amounts in their own currencies (a frame with `key`,
    currency and `amount` in minor units), biggest first."""
    out: dict = {}
    for name, rows in frame.sort_values(amount, ascending=False).groupby(key, sort=False):
        out[name] = " + ".join(money(v, c) for v, c in zip(rows[amount], rows["currency"]) if v)
    return out


def money_major(major, currency: str) -> str:
    return "—" if is_missing(major) else format_major(major, currency)


def compact_money(major, currency: str) -> str:
    """Major units, shortened for tiles: '$12.3k', '¥4.5M' (exact below 10,000)."""
    if is_missing(major):
        return "—"
    value = float(major)
    symbol = SYMBOLS.get(currency.lower(), currency.upper() + " ")
    sign = "-" if value < 0 else ""
    for threshold, unit, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{sign}{symbol}{abs(value) / unit:,.1f}{suffix}"
    return format_major(value, currency)


def percent(fraction, places: int = 1) -> str:
    return "—" if is_missing(fraction) else f"{float(fraction) * 100:.{places}f}%"


def count(value) -> str:
    return "—" if is_missing(value) else f"{int(value):,}"


def days(value) -> str:
    """A duration in days with one decimal: '3.1 days'."""
    return "—" if is_missing(value) else f"{float(value):.1f} days"


def ratio(value, places: int = 2) -> str:
    return "—" if is_missing(value) else f"{float(value):.{places}f}"


class Delta(str):
    """A delta's text; `flat` when it rounds to nothing ('0.0 pp'), which is neither good nor bad."""

    flat: bool = False


def _delta(text: str, shown_change: float) -> Delta:
    out = Delta(text.lstrip("+-") if shown_change == 0 else text)
    out.flat = shown_change == 0
    return out


def delta_text(current, previous, *, kind: str = "relative", currency: str | None = None) -> Delta | None:
    """Text of a month-over-month delta for st.metric: relative change ('+4.2%') for
    amounts and counts, percentage points ('-0.8 pp') for rates. None when unknown; a change
    that rounds to zero is unsigned and `flat` ('0.0 pp')."""
    if is_missing(current) or is_missing(previous):
        return None
    current, previous = float(current), float(previous)
    if kind == "points":
        change = round((current - previous) * 100, 1)
        return _delta(f"{(current - previous) * 100:+.1f} pp", change)
    if kind == "absolute":  # amounts in minor units when a currency is given
        diff = current - previous
        if currency:
            return _delta(("+" if diff >= 0 else "-") + format_amount(abs(diff), currency), round(diff))
        return _delta(f"{diff:+,.0f}", round(diff))
    if previous == 0:
        return None if current == 0 else Delta("new")
    change = round((current / previous - 1) * 100, 1)
    return _delta(f"{(current / previous - 1) * 100:+.1f}%", change)


def month_name(label: str) -> str:
    """'2026-11' -> 'Nov 2026'."""
    try:
        year, month = label.split("-")[:2]
        return f"{_MONTHS[int(month) - 1]} {year}"
    except (ValueError, IndexError, AttributeError):
        return str(label)


def period_name(label: str, period: str) -> str:
    """A period's label in words: '2026-11' (month) -> 'Nov 2026', '2026-11-03' (week) ->
    'week of 3 Nov 2026', '2026-11-05' (day) -> '5 Nov 2026'."""
    if period == "month":
        return month_name(label)
    try:
        year, month, day = (int(x) for x in str(label).split("-"))
        text = f"{day} {_MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return str(label)
    return f"week of {text}" if period == "week" else text


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_range(start, end, *, year: bool = False) -> str:
    """'1–29 Nov' (with `year`: '1–29 Nov 2025'); one day: '1 Nov'."""
    days = f"{start.day}" if start == end else f"{start.day}–{end.day}"
    return f"{days} {_MONTHS[start.month - 1]}" + (f" {start.year}" if year else "")


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'5 minutes ago', 'yesterday', '3 days ago'."""
    if when is None or when != when:  # None, NaT
        return "never"
    now = now or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "just now"
    for limit, size, unit in ((60, 1, "second"), (3600, 60, "minute"), (86400, 3600, "hour"),
                              (86400 * 60, 86400, "day"), (86400 * 730, 86400 * 30, "month")):
        if seconds < limit:
            n = int(seconds // size)
            if unit == "second":
                return "just now"
            if unit == "day" and n == 1:
                return "yesterday"
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{int(seconds // (86400 * 365))} years ago"


def sync_resources(resources, *, generated_at=None):
    """The Data page's per-resource table: "5 minutes ago" / "never" for the last sync; for
    a generated account (`generated_at`: the demo's build time) when it was generated, without
    the columns that only apply to syncs."""
    out = resources.copy()
    if generated_at is not None:
        out = out.drop(columns=["next", "skipped"], errors="ignore")
        out["last_sync_at"] = f"generated {ago(generated_at)}"
    else:
        out["last_sync_at"] = out["last_sync_at"].map(lambda t: ago(t) if t is not None else "never")
    return out
