"""Fair comparisons (metrics.md "Comparing a month to date"): a month is compared with the same
days of the previous month, and of the same month a year earlier, so that a month to date is
never measured against a whole month.

`comparison_windows` decides the days once; `same_days_comparison` adds up the daily cash figures
(`cash.cash_by_period` by day) over them. The converted view sums the same windows in
`reporting.convert_windows`."""

from __future__ import annotations

import calendar as _calendar
from datetime import date
from typing import Sequence

import numpy as np
import pandas as pd

from .cash import CASH_COLUMNS
from .filters import as_of_date
from .load import Calendar, month_label, month_start

WINDOWS = ("previous", "last_year")
COMPARISON_COLUMNS = ("period_days", "previous_start", "previous_end",
                      *(f"previous_{c}" for c in CASH_COLUMNS),
                      "last_year_start", "last_year_end", *(f"last_year_{c}" for c in CASH_COLUMNS))
COMPARISON_DATE_COLUMNS = ("previous_start", "previous_end", "last_year_start", "last_year_end")


def _days_in(m: int) -> int:
    return _calendar.monthrange(m // 12, m % 12 + 1)[1]


def _first(m: int) -> date:
    return date(m // 12, m % 12 + 1, 1)


def comparison_windows(calendar: Calendar) -> pd.DataFrame:
    """For every month of the calendar: period_days (the days of the month that count: all of
    them, or up to the as-of day for the as-of month before its end) and, for the previous month and the same
    month a year earlier, the first and last day (inclusive) compared with it:

    - a whole month is compared with the whole other month;
    - a month to date of d days is compared with the first d days of the other month (all of it
      when it has fewer days: 1-30 Mar against the whole of February).

    A window that starts before the first reported month has no dates (nothing to compare with).
    Returns columns m, month, period_days, current_start, current_end, previous_start,
    previous_end, last_year_start, last_year_end (dates or None)."""
    rows = []
    today = as_of_date(calendar.as_of, calendar.tz)
    for m in calendar.months:
        # the as-of month is whole only when the as-of instant is its end (`--as-of` its last day)
        whole = m != calendar.last or calendar.as_of >= month_start(m + 1, calendar.tz)
        days = _days_in(m) if whole else today.day
        row = {"m": m, "month": month_label(m), "period_days": days, "current_start": _first(m),
               "current_end": _first(m).replace(day=days)}
        for name, other in (("previous", m - 1), ("last_year", m - 12)):
            if calendar.first is None or other < calendar.first:
                row[f"{name}_start"] = row[f"{name}_end"] = None
                continue
            last = _days_in(other) if whole else min(days, _days_in(other))
            row[f"{name}_start"], row[f"{name}_end"] = _first(other), _first(other).replace(day=last)
        rows.append(row)
    return pd.DataFrame(rows, columns=["m", "month", "period_days", "current_start", "current_end", "previous_start",
                                       "previous_end", "last_year_start", "last_year_end"])


def same_days_comparison(daily: pd.DataFrame | None, windows: pd.DataFrame,
                         currencies: Sequence[str]) -> pd.DataFrame:
    """The cash figures of each month's comparison windows (`comparison_windows`): per currency
    and month, previous_<column> and last_year_<column> for every cash column (gross_volume,
    refunds, fees, net_volume in minor units, successful_payments, failed_payments): the sums of
    the daily figures over the window's days; null when the window has no dates.

    `daily` is a `cash.cash_by_period(..., "day")` frame. Returns columns currency, m, month and
    COMPARISON_COLUMNS."""
    day_frame = daily if daily is not None else pd.DataFrame(columns=["currency", "start", *CASH_COLUMNS])
    columns: dict[str, list] = {"currency": [], "m": [], "month": [], "period_days": []}
    blocks: dict[str, list] = {}
    for currency in currencies:
        mine = day_frame[day_frame["currency"] == currency].sort_values("start")
        days = np.array(mine["start"].tolist(), dtype="datetime64[D]")
        # running totals: a window's sum is the total up to its last day minus the total before its first
        totals = np.vstack([np.zeros((1, len(CASH_COLUMNS)), dtype="int64"),
                            np.cumsum(mine[list(CASH_COLUMNS)].to_numpy(dtype="int64"), axis=0).reshape(
                                -1, len(CASH_COLUMNS))])
        columns["currency"] += [currency] * len(windows)
        for name in ("m", "month", "period_days"):
            columns[name] += windows[name].tolist()
        for name in WINDOWS:
            starts, ends = windows[f"{name}_start"].tolist(), windows[f"{name}_end"].tolist()
            known = np.array([d is not None for d in starts], dtype=bool)
            first = np.searchsorted(days, np.array([d or date.min for d in starts], dtype="datetime64[D]"), "left")
            last = np.searchsorted(days, np.array([d or date.min for d in ends], dtype="datetime64[D]"), "right")
            sums = totals[last] - totals[first]
            blocks.setdefault(f"{name}_start", []).extend(starts)
            blocks.setdefault(f"{name}_end", []).extend(ends)
            for i, column in enumerate(CASH_COLUMNS):
                blocks.setdefault(f"{name}_{column}", []).append((sums[:, i], ~known))
    out = pd.DataFrame(columns)
    for key, values in blocks.items():
        if key.endswith(("_start", "_end")):
            out[key] = pd.Series(values, dtype=object)
        else:
            data = np.concatenate([v for v, _ in values]) if values else np.array([], dtype="int64")
            mask = np.concatenate([m for _, m in values]) if values else np.array([], dtype=bool)
            out[key] = pd.arrays.IntegerArray(data.astype("int64"), mask)
    out = out.reindex(columns=["currency", "m", "month", *COMPARISON_COLUMNS])
    out["m"] = out["m"].astype("int32")
    return out
