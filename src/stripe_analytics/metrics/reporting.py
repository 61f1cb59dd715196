"""The reporting currency (docs/specs/fx.md): one conversion step on top of the per-currency
engine. It takes the engine's customer x currency x month snapshots and its per-day cash figures
and returns the same monthly table in one currency R, plus `fx_mrr`.

How exactness is kept: every per-currency input is an integer of minor units, and every
converted figure is a sum of `integer x rate` terms, so the step first sums integers per
(month, currency, movement) in DuckDB and then multiplies by the rates in `Decimal` (60 digits;
rates are the ECB's decimal text), rounding half-even to R's minor unit only at the end. Only
the *classification* of each customer's movement (which compares two converted sums) runs in
DuckDB in floating point, with a relative tolerance of 1e-9 for "equal".

Rules, each written once here (docs/specs/fx.md "Converted subscription metrics"):
- rate day of a month's snapshot (last day of the month; the as-of day for the as-of month) -> `snapshot_days`
- constant-currency classification (prev restated at M's rates)           -> `_CLASSIFY_SQL`
- the monthly amounts, `fx_mrr`, counts and rates                          -> `reporting_monthly`
- cash converted at the rate of each object's day                          -> `convert_cash`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..money import decimals
from ._sql import query
from .cash import CASH_AMOUNT_COLUMNS, CASH_COLUMNS, cash_rates, period_label, period_start
from .load import Calendar, month_label
from .monthly import MOVEMENT_COLUMNS, add_rates
from .movements import amount_sql, movement_sql
from .rates import STALE_AFTER_DAYS, RateSet, describe_sources

_CTX = Context(prec=60)
_ONE = Decimal(1)
# Two converted sums closer than this (relative) are "equal": no movement.
_TOLERANCE = 1e-9



class UnknownReportingCurrencyError(ValueError):
    """The reporting currency has no exchange rates."""


@dataclass(frozen=True)
class Factor:
    """Multiplier from minor units of a currency to minor units of R on a day, exact, with the
    rate dates and sources it used (none when the currency is R or EUR on both sides)."""

    value: Decimal
    days: tuple[date, ...] = ()
    sources: tuple[str, ...] = ()


def factors(rates: RateSet, reporting: str, pairs: Iterable[tuple[str, date]]) -> dict[tuple[str, date], Factor]:
    """{(currency, day): Factor} into `reporting` for each pair that has a rate on that day
    (docs/specs/fx.md: `per_eur(R, day) / per_eur(A, day)`, each the latest rate strictly before
    the day); pairs without a rate are absent (never converted at a guessed rate)."""
    reporting = reporting.lower()
    pairs = sorted(set((c.lower(), d) for c, d in pairs))
    looked = rates.lookup([(c, d) for c, d in pairs if c != reporting] + [(reporting, d) for _, d in pairs])
    out: dict[tuple[str, date], Factor] = {}
    for currency, day in pairs:
        if currency == reporting:
            out[(currency, day)] = Factor(_ONE)
            continue
        source, target = looked.get((currency, day)), looked.get((reporting, day))
        if source is None or target is None:
            continue
        scale = Decimal(10) ** (decimals(reporting) - decimals(currency))
        value = _CTX.multiply(_CTX.divide(target.per_eur, source.per_eur), scale)
        days = tuple(d for d in (source.day, target.day) if d is not None)
        sources = tuple(s for s in (source.source, target.source) if s is not None)
        out[(currency, day)] = Factor(value, days, sources)
    return out


def snapshot_days(calendar: Calendar) -> dict[int, date]:
    """The rate day D of each month's MRR snapshot: the month's last day, the as-of day for the
    as-of month (docs/specs/fx.md "Which day D")."""
    from .filters import as_of_date

    out = {}
    for m in calendar.months:
        if m == calendar.last:
            out[m] = as_of_date(calendar.as_of, calendar.tz)
        else:
            nxt = m + 1
            out[m] = date(nxt // 12, nxt % 12 + 1, 1) - timedelta(days=1)
    return out


def exact_round(value: Decimal) -> int:
    """Half-even to the minor unit (docs/specs/fx.md "Output")."""
    return int(value.quantize(_ONE, rounding=ROUND_HALF_EVEN))


# ----------------------------------------------------------------------------- MRR

# Per customer and month: reporting MRR at M (rep), MRR at P restated at M's rates (prev_at_m),
# MRR at P at P's rates (rep_prev), and the movement by the rules of metrics.md applied to
# prev_at_m -> rep; "had MRR > 0 at an earlier snapshot" is judged on rep. A currency without a
# rate contributes nothing (its factor is null).
_CLASSIFY_SQL = """
WITH pairs AS (
    SELECT coalesce(c.currency, p.currency) AS currency, coalesce(c.customer_key, p.customer_key) AS customer_key,
           CAST(coalesce(c.m, p.m + 1) AS INTEGER) AS m, coalesce(c.mrr, 0) AS cur, coalesce(p.mrr, 0) AS prev
    FROM snaps c FULL OUTER JOIN snaps p
      ON p.currency = c.currency AND p.customer_key = c.customer_key AND p.m = c.m - 1
    WHERE coalesce(c.m, p.m + 1) <= {last}
),
cust AS (
    SELECT pairs.customer_key, pairs.m, coalesce(sum(cur * r.f), 0) AS rep, coalesce(sum(prev * r.f), 0) AS prev_at_m,
           coalesce(sum(prev * rp.f), 0) AS rep_prev
    FROM pairs
    LEFT JOIN rates r ON r.currency = pairs.currency AND r.m = pairs.m
    LEFT JOIN rates rp ON rp.currency = pairs.currency AND rp.m = pairs.m - 1
    GROUP BY pairs.customer_key, pairs.m
),
firsts AS (SELECT customer_key, min(m) AS first_m FROM cust WHERE rep > 0 GROUP BY customer_key)
SELECT cust.*, {movement} AS movement
FROM cust LEFT JOIN firsts USING (customer_key)
"""

# Per month, currency and movement: the integer sums of the customers' MRR in that currency at
# M (cur) and at P (prev), for the exact conversion. Every (customer, M) with MRR at M or P has
# a classified row, so every snapshot is counted once as `cur` and once as `prev` of the month
# after.
_SUMS_SQL = """
SELECT m, currency, movement, CAST(sum(cur) AS BIGINT) AS cur, CAST(sum(prev) AS BIGINT) AS prev FROM (
    SELECT c.m, s.currency, c.movement, s.mrr AS cur, 0 AS prev
    FROM c JOIN snaps s ON s.customer_key = c.customer_key AND s.m = c.m
    UNION ALL
    SELECT c.m, s.currency, c.movement, 0 AS cur, s.mrr AS prev
    FROM c JOIN snaps s ON s.customer_key = c.customer_key AND s.m = c.m - 1
) GROUP BY ALL
"""


@dataclass
class Classified:
    """Each customer's constant-currency movement per month, kept by the engine between filter
    changes (a customer's classification never depends on other customers).

    `snapshots`: the per-currency snapshots classified (currency, customer_key, m, mrr);
    `customers`: customer_key, m, rep (MRR at M in R), prev_at_m (MRR at P restated at M's
    rates), rep_prev (MRR at P at P's rates), movement (null = none); floats in R's minor units,
    for classification and display (the monthly amounts are exact, from `snapshots`)."""

    snapshots: pa.Table
    customers: pa.Table


def classify(snapshots: pa.Table, month_factors: dict[tuple[str, int], Factor], last_month: int) -> Classified:
    """The constant-currency movement of every customer in every month (docs/specs/fx.md
    "Constant-currency movements"): the customer's MRR at P restated at M's rates is compared with
    its MRR at M, with the rules of metrics.md; "had MRR before" is judged in R."""
    rates = pa.table({
        "currency": pa.array([c for c, _ in month_factors], pa.string()),
        "m": pa.array([m for _, m in month_factors], pa.int32()),
        "f": pa.array([float(f.value) for f in month_factors.values()], pa.float64()),
    })
    movement = movement_sql("prev_at_m", "rep", "m = first_m",
                            unchanged=f"abs(rep - prev_at_m) <= {_TOLERANCE} * greatest(rep, prev_at_m)")
    customers = query(_CLASSIFY_SQL.format(last=int(last_month), movement=movement), arrow=True, snaps=snapshots,
                      rates=rates)
    return Classified(snapshots, customers)


def select_customers(classified: Classified, customer_keys: Sequence[int] | None) -> Classified:
    if customer_keys is None:
        return classified
    keys = pa.array(list(customer_keys), pa.int32())
    return Classified(classified.snapshots.filter(pc.is_in(classified.snapshots["customer_key"], value_set=keys)),
                      classified.customers.filter(pc.is_in(classified.customers["customer_key"], value_set=keys)))


@dataclass
class RatesUsed:
    """Which rates a converted view used: their sources and the latest rate date."""

    sources: set = field(default_factory=set)
    last_rate_date: date | None = None

    def add(self, factor: Factor) -> None:
        self.sources.update(factor.sources)
        for day in factor.days:
            if self.last_rate_date is None or day > self.last_rate_date:
                self.last_rate_date = day

    @property
    def source(self) -> str:
        return describe_sources(self.sources)

    def stale_on(self, day: date) -> bool:
        """True when the last rate used is more than STALE_AFTER_DAYS before `day`."""
        return self.last_rate_date is not None and (day - self.last_rate_date).days > STALE_AFTER_DAYS


def reporting_monthly(classified: Classified, month_factors: dict[tuple[str, int], Factor], months: Sequence[int],
                      reporting: str, cash: pd.DataFrame | None, used: RatesUsed) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The monthly table in R (docs/specs/fx.md "Converted subscription metrics"), one row per
    month of `months`, with the columns of `monthly.monthly_metrics` (currency = R, amounts in
    R's minor units rounded half-even from exact values) plus `fx_mrr`; `cash` is the converted
    monthly cash (`convert_cash`, keyed by m) or None.

    Returns (monthly, unconverted): unconverted has month, m, currency, mrr (minor units of that
    currency) for each month and currency whose MRR had no rate."""
    sums = query(_SUMS_SQL, c=classified.customers, snaps=classified.snapshots)
    counts = query("""
        SELECT m, count(*) FILTER (WHERE rep > 0) AS active_customers,
               count(*) FILTER (WHERE movement = 'new') AS new_customers,
               count(*) FILTER (WHERE movement = 'churn') AS churned_customers,
               count(*) FILTER (WHERE movement = 'reactivation') AS reactivated_customers,
               count(*) FILTER (WHERE movement = 'expansion') AS expansion_customers,
               count(*) FILTER (WHERE movement = 'contraction') AS contraction_customers
        FROM c GROUP BY m""", c=classified.customers)
    count_columns = [c for c in counts.columns if c != "m"]
    count_rows = {int(r["m"]): r for r in counts.to_dict("records")}
    zero = Decimal(0)
    totals: dict[int, dict[str, Decimal]] = {m: {} for m in months}
    unconverted: list[dict] = []
    for m, currency, movement, cur, prev in sums.itertuples(index=False):
        m = int(m)
        if m not in totals:
            continue
        factor = month_factors.get((currency, m))
        cur, prev = int(cur), int(prev)
        if factor is None:
            continue
        t = totals[m]
        f = factor.value
        t["mrr"] = t.get("mrr", zero) + _CTX.multiply(f, cur)
        t["base"] = t.get("base", zero) + _CTX.multiply(f, prev)
        if movement is None or movement != movement:
            continue
        if movement in ("new", "reactivation"):
            amount = cur
        elif movement == "expansion":
            amount = cur - prev
        elif movement == "contraction":
            amount = prev - cur
        else:
            amount = prev
        column = MOVEMENT_COLUMNS[movement]
        t[column] = t.get(column, zero) + _CTX.multiply(f, amount)
    # MRR per currency that had no rate (listed, never converted); a month's MRR per currency is
    # the sum of `cur` over its rows.
    per_currency = sums.groupby(["m", "currency"], as_index=False)["cur"].sum()
    for m, currency, cur in per_currency.itertuples(index=False):
        m = int(m)
        if m in totals and int(cur) > 0:
            factor = month_factors.get((currency, m))
            if factor is None:
                unconverted.append({"m": m, "month": month_label(m), "currency": currency, "mrr": int(cur)})
            elif int(cur) > 0:
                used.add(factor)
    records = []
    previous_mrr = zero
    first = months[0] if months else None
    for m in months:
        t = totals[m]
        mrr = t.get("mrr", zero)
        base = t.get("base", zero) if m != first else zero
        moves = {c: t.get(c, zero) for c in MOVEMENT_COLUMNS.values()}
        net_new = moves["new_mrr"] + moves["reactivation_mrr"] + moves["expansion_mrr"] - moves["contraction_mrr"] \
            - moves["churned_mrr"]
        fx = base - previous_mrr if m != first else zero
        lost = moves["churned_mrr"] + moves["contraction_mrr"]
        row = {"currency": reporting, "m": m, "month": month_label(m), "mrr": exact_round(mrr),
               "arr": exact_round(12 * mrr), **{c: exact_round(v) for c, v in moves.items()},
               "net_new_mrr": exact_round(net_new), "fx_mrr": exact_round(fx),
               "_base": base, "_lost": lost, "_exp": moves["expansion_mrr"],
               "_gain": moves["new_mrr"] + moves["reactivation_mrr"] + moves["expansion_mrr"], "_mrr": mrr}
        for column in count_columns:
            row[column] = int(count_rows[m][column]) if m in count_rows else 0
        records.append(row)
        previous_mrr = mrr
    frame = pd.DataFrame.from_records(records, columns=[
        "currency", "m", "month", "mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr",
        "reactivation_mrr", "net_new_mrr", "fx_mrr", "_base", "_lost", "_exp", "_gain", "_mrr", *count_columns])
    for column in CASH_COLUMNS:
        frame[column] = 0
    if cash is not None and len(cash) and len(frame):
        by_m = cash.set_index("m")
        for column in CASH_COLUMNS:
            frame[column] = [int(by_m.at[m, column]) if m in by_m.index else 0 for m in frame["m"]]
    for column in ("m",):
        frame[column] = frame[column].astype("int32")
    for column in ("mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
                   "net_new_mrr", "fx_mrr", *count_columns, *CASH_COLUMNS):
        frame[column] = frame[column].astype("int64")
    frame = add_rates(frame)
    # The contract's rates use the constant-currency base (MRR(P) at M's rates) and exact amounts.
    frame["revenue_churn_rate"] = [_div(lost, base) for lost, base in zip(frame["_lost"], frame["_base"])]
    frame["grr"] = [_div(base - lost, base) for lost, base in zip(frame["_lost"], frame["_base"])]
    frame["nrr"] = [_div(base - lost + exp, base) for lost, base, exp in zip(frame["_lost"], frame["_base"],
                                                                            frame["_exp"])]
    frame["quick_ratio"] = [_div(gain, lost) for gain, lost in zip(frame["_gain"], frame["_lost"])]
    frame["arpa"] = [_div(mrr, Decimal(n)) for mrr, n in zip(frame["_mrr"], frame["active_customers"])]
    for column in ("revenue_churn_rate", "grr", "nrr", "quick_ratio", "arpa"):
        frame[column] = frame[column].astype("float64")
    frame = frame.drop(columns=["_base", "_lost", "_exp", "_gain", "_mrr"])
    missing = pd.DataFrame(unconverted, columns=["m", "month", "currency", "mrr"])
    return frame, missing


def _div(numerator: Decimal, denominator: Decimal) -> float:
    if denominator == 0:
        return np.nan
    return float(_CTX.divide(numerator, denominator))


def convert_by_month(frame: pd.DataFrame, month_factors: dict[tuple[str, int], Factor], keys: Sequence[str],
                     reporting: str) -> pd.DataFrame:
    """Per-currency monthly MRR rows (currency, *keys, m, mrr) summed into R per (*keys, m) at
    each month's snapshot factor, exact then rounded half-even; rows without a rate are left out.
    Returns columns: currency (= R), *keys, m, month, mrr."""
    totals: dict[tuple, Decimal] = {}
    for record in frame.to_dict("records"):
        factor = month_factors.get((record["currency"], int(record["m"])))
        if factor is None:
            continue
        key = (*(record[k] for k in keys), int(record["m"]))
        totals[key] = totals.get(key, Decimal(0)) + _CTX.multiply(factor.value, int(record["mrr"]))
    rows = [{"currency": reporting, **dict(zip(keys, key[:-1])), "m": key[-1], "month": month_label(key[-1]),
             "mrr": exact_round(value)} for key, value in sorted(totals.items())]
    return pd.DataFrame(rows, columns=["currency", *keys, "m", "month", "mrr"])


# ----------------------------------------------------------------------------- cash

def convert_cash(daily: pd.DataFrame | None, day_factors: dict[tuple[str, date], Factor], reporting: str,
                 starts: Sequence[date], period: str, used: RatesUsed) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cash figures in R per period (docs/specs/fx.md "Converted cash"): each day's per-currency
    sums (`cash.cash_by_period` by day: every object of a day shares that day's rate) converted
    at the rate for that day (`day_factors`, see `factors`), summed per period exactly, rounded
    half-even; counts summed over currencies.

    Returns (cash, unconverted): cash has the columns of `cash.cash_periods` (currency = R) for
    every period of `starts`; unconverted has start, period, currency and the cash amounts
    (minor units of that currency) left out for want of a rate."""
    totals = {s: [Decimal(0)] * len(CASH_AMOUNT_COLUMNS) for s in starts}
    count_totals = {s: [0, 0] for s in starts}
    missing: dict[tuple[date, str], list[int]] = {}
    if daily is not None and len(daily):
        columns = [daily[c].tolist() for c in ("currency", "start", *CASH_AMOUNT_COLUMNS, "successful_payments",
                                                "failed_payments")]
        for currency, day, *values in zip(*columns):
            start = period_start(day, period)
            if start not in totals:
                continue
            amounts, counts = values[:len(CASH_AMOUNT_COLUMNS)], values[len(CASH_AMOUNT_COLUMNS):]
            count_totals[start] = [a + int(b) for a, b in zip(count_totals[start], counts)]
            if not any(amounts):
                continue
            factor = day_factors.get((currency, day))
            if factor is None:
                bucket = missing.setdefault((start, currency), [0] * len(CASH_AMOUNT_COLUMNS))
                missing[(start, currency)] = [a + int(b) for a, b in zip(bucket, amounts)]
                continue
            used.add(factor)
            totals[start] = [t + _CTX.multiply(factor.value, int(v)) if v else t
                             for t, v in zip(totals[start], amounts)]
    frame = pd.DataFrame({
        "currency": [reporting] * len(starts), "start": pd.Series(list(starts), dtype=object),
        "period": [period_label(s, period) for s in starts],
        **{c: pd.Series([exact_round(totals[s][i]) for s in starts], dtype="int64")
           for i, c in enumerate(CASH_AMOUNT_COLUMNS)},
        **{c: pd.Series([count_totals[s][i] for s in starts], dtype="int64")
           for i, c in enumerate(("successful_payments", "failed_payments"))},
    })
    frame = cash_rates(frame[["currency", "start", "period", *CASH_COLUMNS]])
    unconverted = pd.DataFrame(
        [{"start": s, "period": period_label(s, period), "currency": c, **dict(zip(CASH_AMOUNT_COLUMNS, v))}
         for (s, c), v in sorted(missing.items())],
        columns=["start", "period", "currency", *CASH_AMOUNT_COLUMNS])
    return frame, unconverted


# ----------------------------------------------------------------------------- per customer, for pages

def converted_snapshots(classified: Classified, reporting: str) -> pa.Table:
    """Customer x month MRR in R (rounded half-even to R's minor unit), shaped like
    `snapshots.mrr_snapshots` (currency = R): for cohorts and per-customer tables."""
    return query(f"""
        SELECT '{reporting}' AS currency, customer_key, CAST(m AS INTEGER) AS m,
               CAST(round_even(rep, 0) AS BIGINT) AS mrr
        FROM c WHERE rep > 0 ORDER BY m, customer_key""", arrow=True, c=classified.customers)


def converted_movements(classified: Classified, reporting: str) -> pa.Table:
    """Each customer's constant-currency movement in R, shaped like `movements.mrr_movements`
    (previous_mrr is the MRR at P restated at M's rates), rounded half-even for display."""
    return query(f"""
        WITH c AS (SELECT customer_key, m, round_even(prev_at_m, 0) AS previous_mrr, round_even(rep, 0) AS mrr,
                          movement, rep - prev_at_m AS delta, prev_at_m AS p, rep AS r
                   FROM c WHERE movement IS NOT NULL)
        SELECT '{reporting}' AS currency, customer_key, CAST(m AS INTEGER) AS m,
               CAST(previous_mrr AS BIGINT) AS previous_mrr, CAST(mrr AS BIGINT) AS mrr, movement,
               CAST(round_even({amount_sql("movement", "p", "r")}, 0) AS BIGINT) AS amount,
               CAST(round_even(delta, 0) AS BIGINT) AS change
        FROM c ORDER BY m, movement, customer_key""", arrow=True, c=classified.customers)


@dataclass
class ReportingInfo:
    """What a converted view says about its conversion: the reporting currency, the rates used
    (source, last rate date, stale or not), and what could not be converted.

    `unconverted`: month, m, currency, mrr (minor units of that currency), months shown only;
    `unconverted_cash`: start, period, currency, gross_volume, refunds, fees, net_volume;
    `own_snapshots`: the per-currency customer snapshots behind the converted figures (currency,
    customer_key, m, mrr), for tables that show each row's own currency next to R."""

    currency: str
    used: RatesUsed
    as_of_day: date
    unconverted: pd.DataFrame
    unconverted_cash: pd.DataFrame
    own_snapshots: pa.Table = field(repr=False)

    @property
    def source(self) -> str:
        return self.used.source

    @property
    def last_rate_date(self) -> date | None:
        return self.used.last_rate_date

    @property
    def stale(self) -> bool:
        return self.used.stale_on(self.as_of_day)

    def label(self, *, staleness: bool = True) -> str:
        """'Converted to USD at ECB reference rates as of 2026-10-30' (+ ' (the rate table is out
        of date)' when it is and `staleness`)."""
        when = f" as of {self.last_rate_date.isoformat()}" if self.last_rate_date else ""
        return (f"Converted to {self.currency.upper()} at {self.source}{when}"
                + (" (the rate table is out of date)" if staleness and self.stale else ""))


# ----------------------------------------------------------------------------- analytics depth

def convert_windows(daily: pd.DataFrame | None, day_factors: dict[tuple[str, date], Factor], reporting: str,
                    windows: pd.DataFrame, used: RatesUsed) -> pd.DataFrame:
    """`comparisons.same_days_comparison` in R: each comparison window's days converted at each
    day's rate (as `convert_cash`), summed exactly, rounded half-even; counts summed over
    currencies. Returns the columns of `same_days_comparison` (currency = R)."""
    from .comparisons import COMPARISON_COLUMNS, WINDOWS

    rows = []
    for window in windows.to_dict("records"):
        row = {"currency": reporting, "m": window["m"], "month": window["month"],
               "period_days": window["period_days"]}
        for name in WINDOWS:
            start, end = window[f"{name}_start"], window[f"{name}_end"]
            row[f"{name}_start"], row[f"{name}_end"] = start, end
            if start is None:
                row.update({f"{name}_{c}": None for c in CASH_COLUMNS})
                continue
            inside = daily[(daily["start"] >= start) & (daily["start"] <= end)] if daily is not None else None
            # One period holding exactly the window's days: its total is the window's, exact.
            cash, _ = convert_cash(inside, day_factors, reporting, [period_start(start, "month")], "month", used)
            row.update({f"{name}_{c}": int(cash.iloc[0][c]) for c in CASH_COLUMNS})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["currency", "m", "month", *COMPARISON_COLUMNS])
    for name in WINDOWS:
        for column in CASH_COLUMNS:
            frame[f"{name}_{column}"] = frame[f"{name}_{column}"].astype("Int64")
    frame["m"] = frame["m"].astype("int32")
    return frame


def failed_invoices_without_rate(failed: pd.DataFrame, day_factors: dict[tuple[str, date], Factor],
                                 tz: str) -> pd.DataFrame:
    """The `recovery.failed_invoices` rows that `convert_failed_invoices` leaves out: no rate
    into R on the day of their first failure (listed on the page, never converted at 0)."""
    days = pd.to_datetime(failed["first_failed_at"], utc=True).dt.tz_convert(tz).dt.date
    missing = [(currency, day) not in day_factors for currency, day in zip(failed["currency"], days)]
    return failed[missing].reset_index(drop=True)


def convert_failed_invoices(failed: pd.DataFrame, day_factors: dict[tuple[str, date], Factor], reporting: str,
                            tz: str, used: RatesUsed) -> pd.DataFrame:
    """`recovery.failed_invoices` rows in R: each invoice's amount converted at the rate of the
    day of its first failed attempt (so its failed, recovered and outstanding amounts share one
    rate and the recovery rate is free of exchange-rate moves), kept exact as a float of R's
    minor units until the sums are rounded; currency = R. Invoices of a currency without a rate
    that day are left out."""
    if not len(failed):
        return failed.assign(currency=reporting)
    days = pd.to_datetime(failed["first_failed_at"], utc=True).dt.tz_convert(tz).dt.date
    amounts, keep = [], []
    for currency, day, amount in zip(failed["currency"], days, failed["amount"]):
        factor = day_factors.get((currency, day))
        keep.append(factor is not None)
        if factor is not None:
            used.add(factor)
            amounts.append(float(_CTX.multiply(factor.value, int(amount))))
    out = failed[keep].copy()
    out["amount"] = pd.Series(amounts, index=out.index, dtype="float64")
    out["currency"] = reporting
    return out
