"""Trial conversion (metrics.md "Trials and trial conversion"): trials started, trials that
ended, the share of them that became paying, active trials at each snapshot and the median
days to convert; per currency and month, and per plan over a range of months.

`trial_records` reads one row per trial from the cache; `trial_conversion` and
`trial_conversion_by_plan` are pure functions over those rows."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd

from .cash import ratio
from .load import Calendar, Sources, month_label

TRIAL_COLUMNS = ("trials_started", "trials_ended", "trials_converted", "trial_conversion_rate", "active_trials",
                 "median_days_to_convert")
_DAY = pd.Timedelta(days=1)


def trial_records(src: Sources, as_of: datetime) -> pd.DataFrame:
    """One row per subscription that had a trial (`trial_start` and `trial_end` set, `trial_end`
    after `trial_start`, the trial started before `as_of`), with:

    subscription, customer, currency (lower case), products and intervals (the sorted products
    and price intervals of the subscription's licensed items: its plan),
    trial_start, trial_end, ended_at (the subscription's end, null while it runs), and
    converted_at: the `paid_at` of the subscription's first paid invoice with `amount_paid` > 0
    paid at or after the trial's start and before `as_of` (null: not paying yet).

    Every currency and customer: `MetricsEngine` selects them, and the plans (`select_plans`),
    for its filters."""
    return src.con.execute("""
        WITH plan AS (
            SELECT subscription, list(DISTINCT product ORDER BY product) AS products,
                   list(DISTINCT "interval" ORDER BY "interval") AS intervals
            FROM subscription_items
            WHERE NOT deleted AND coalesce(usage_type, 'licensed') <> 'metered' AND product IS NOT NULL
            GROUP BY subscription),
        paid AS (
            SELECT i.subscription, min(i.paid_at) AS converted_at
            FROM invoices i JOIN subscriptions s ON s.id = i.subscription
            WHERE NOT i.deleted AND i.status = 'paid' AND coalesce(i.amount_paid, 0) > 0
              AND i.paid_at >= s.trial_start AND i.paid_at < ?::TIMESTAMPTZ
            GROUP BY i.subscription)
        SELECT s.id AS subscription, s.customer, lower(s.currency) AS currency, plan.products, plan.intervals,
               s.trial_start, s.trial_end, s.ended_at, paid.converted_at
        FROM subscriptions s LEFT JOIN plan ON plan.subscription = s.id LEFT JOIN paid ON paid.subscription = s.id
        WHERE NOT s.deleted AND s.trial_start IS NOT NULL AND s.trial_end > s.trial_start
          AND s.trial_start < ?::TIMESTAMPTZ
        ORDER BY s.id""", [as_of, as_of]).df()


def select_plans(records: pd.DataFrame, products=None, intervals=None) -> pd.DataFrame:
    """The trials with an item of one of `products` and of one of `intervals` (None: any)."""
    keep = pd.Series(True, index=records.index)
    for column, wanted in (("products", products), ("intervals", intervals)):
        if wanted:
            wanted = set(wanted)
            keep &= records[column].map(lambda values: values is not None and bool(wanted & set(values)))
    return records[keep].reset_index(drop=True)


def _month(values: pd.Series, tz: str) -> pd.Series:
    local = pd.to_datetime(values, utc=True).dt.tz_convert(tz)
    return (local.dt.year * 12 + local.dt.month - 1).astype("float64")


def _ns(values):
    """Nanoseconds since the epoch of a UTC timestamp or series (NaT: any value, masked by callers)."""
    if isinstance(values, pd.Timestamp):
        return values.tz_convert("UTC").as_unit("ns").value
    return np.asarray(values.dt.tz_convert(None).dt.as_unit("ns").to_numpy(), dtype="datetime64[ns]").view("int64")


def _classified(records: pd.DataFrame, as_of: datetime, tz: str) -> pd.DataFrame:
    """Each trial with its start month, the instant and month it ended (null while it runs at
    `as_of`), whether it converted by `as_of`, and its days to convert."""
    frame = records.copy()
    for column in ("trial_start", "trial_end", "ended_at", "converted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    cutoff = pd.Timestamp(as_of).tz_convert("UTC")
    # A trial ends at its trial_end, or earlier when the subscription ended during it.
    ends = frame["trial_end"].where(frame["ended_at"].isna() | (frame["ended_at"] >= frame["trial_end"]),
                                    frame["ended_at"])
    frame["trial_ended_at"] = ends.where(ends < cutoff)
    frame["start_m"] = _month(frame["trial_start"], tz)
    frame["end_m"] = _month(frame["trial_ended_at"], tz)
    frame["converted"] = frame["trial_ended_at"].notna() & frame["converted_at"].notna() \
        & (frame["converted_at"] < cutoff)
    frame["days_to_convert"] = ((frame["converted_at"] - frame["trial_start"]) / _DAY).where(frame["converted"])
    return frame


def _summary(group: pd.DataFrame, by: list[str], ended: pd.DataFrame, started: pd.DataFrame) -> pd.DataFrame:
    out = group
    counts = [
        started.groupby(by).size().rename("trials_started"),
        ended.groupby(by).size().rename("trials_ended"),
        ended.groupby(by)["converted"].sum().rename("trials_converted"),
        ended.groupby(by)["days_to_convert"].median().rename("median_days_to_convert"),
    ]
    for series in counts:
        out = out.merge(series.reset_index(), on=by, how="left") if len(series) else out.assign(**{series.name: np.nan})
    for column in ("trials_started", "trials_ended", "trials_converted"):
        out[column] = out[column].fillna(0).astype("int64")
    out["median_days_to_convert"] = out["median_days_to_convert"].astype("float64")
    out["trial_conversion_rate"] = ratio(out["trials_converted"], out["trials_ended"])
    return out


def trial_conversion(records: pd.DataFrame, calendar: Calendar, currencies: Sequence[str]) -> pd.DataFrame:
    """metrics.md "Trials and trial conversion", per currency and month of the calendar (every
    month, zeros where nothing happened):

    - trials_started: trials whose `trial_start` falls in the month;
    - trials_ended: trials that ended in the month (at `trial_end`, or at `ended_at` when the
      subscription ended during the trial), before the as-of instant;
    - trials_converted: of those, the trials whose subscription has a paid invoice (amount paid
      > 0) paid after the trial started and before the as-of instant;
    - trial_conversion_rate = trials_converted / trials_ended (NaN when no trial ended);
    - active_trials: trials running at the month's snapshot (`trial_start <= t < trial_end` and
      the subscription not ended at t);
    - median_days_to_convert: median days from trial start to that first payment, over the
      converted trials of the month (NaN when none).

    `records` are `trial_records`. Returns columns currency, m, month and TRIAL_COLUMNS."""
    months = calendar.months
    grid = pd.DataFrame({"currency": [c for c in currencies for _ in months],
                         "m": [float(m) for _ in currencies for m in months]})
    frame = _classified(records, calendar.as_of, calendar.tz)
    started = frame.rename(columns={"start_m": "m"})
    ended = frame[frame["trial_ended_at"].notna()].rename(columns={"end_m": "m"})
    out = _summary(grid, ["currency", "m"], ended, started)
    # active at each snapshot: trial_start <= t < trial_end and t < ended_at ("<= t" is "< end")
    ends = np.array([_ns(pd.Timestamp(calendar.snapshot_end(int(m)))) for m in out["m"]], dtype="int64")
    never = np.iinfo("int64").max
    active = np.zeros(len(out), dtype="int64")
    for currency in set(out["currency"]):
        rows = frame[frame["currency"] == currency]
        if not len(rows):
            continue
        at = (out["currency"] == currency).to_numpy()
        start = _ns(rows["trial_start"])[:, None]
        trial_end = _ns(rows["trial_end"])[:, None]
        ended = np.where(rows["ended_at"].notna().to_numpy(), _ns(rows["ended_at"]), never)[:, None]
        t = ends[at][None, :]
        active[at] = ((start < t) & (trial_end >= t) & (ended >= t)).sum(axis=0)
    out["active_trials"] = active
    out["m"] = out["m"].astype("int32")
    out.insert(2, "month", [month_label(int(m)) for m in out["m"]])
    return out[["currency", "m", "month", *TRIAL_COLUMNS]].sort_values(["currency", "m"]).reset_index(drop=True)


def trial_conversion_by_plan(records: pd.DataFrame, calendar: Calendar, months: Sequence[int]) -> pd.DataFrame:
    """The same rules per product and currency, over the given months taken together (trials
    started in, and trials ended in, any of them); active trials at the as-of instant. A trial
    counts for each product of its plan (a trial of a base plan with an add-on is in both rows),
    as the product filter selects it. Returns columns currency, product, trials_started,
    trials_ended, trials_converted, trial_conversion_rate, median_days_to_convert,
    active_trials; products with any trial, most trials ended first."""
    frame = _classified(records, calendar.as_of, calendar.tz)
    frame["product"] = frame["products"].map(lambda values: list(values) if values is not None and len(values)
                                             else [""])
    frame = frame.explode("product")
    wanted = set(float(m) for m in months)
    started = frame[frame["start_m"].isin(wanted)]
    ended = frame[frame["trial_ended_at"].notna() & frame["end_m"].isin(wanted)]
    cutoff = pd.Timestamp(calendar.as_of).tz_convert("UTC")
    running = frame[(frame["trial_start"] < cutoff) & (frame["trial_end"] >= cutoff)
                    & (frame["ended_at"].isna() | (frame["ended_at"] >= cutoff))]
    keys = pd.concat([started, ended, running])[["currency", "product"]].drop_duplicates()
    out = _summary(keys, ["currency", "product"], ended, started)
    active = running.groupby(["currency", "product"]).size().rename("active_trials").reset_index()
    out = out.merge(active, on=["currency", "product"], how="left")
    out["active_trials"] = out["active_trials"].fillna(0).astype("int64")
    columns = ["currency", "product", "trials_started", "trials_ended", "trials_converted", "trial_conversion_rate",
               "median_days_to_convert", "active_trials"]
    return out[columns].sort_values(["currency", "trials_ended", "trials_started", "product"],
                                    ascending=[True, False, False, True]).reset_index(drop=True)
