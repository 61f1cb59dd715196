"""One entry point for the dashboard, the CLI and the exports: `compute_metrics` / `MetricsEngine`
compute every table from the cache once, and `metrics_json` renders the contract's JSON object.

The expensive part (subscription MRR components at every month snapshot) depends only on the
data, the as-of instant, the discount policy and the time zone; the engine keeps it, so changing a
filter (currency, product, interval, segment, date range) only re-aggregates."""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Iterator

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..cache import read_meta, with_headroom
from ..money import decimals, to_major_float
from ..queries import customer_names
from .cash import Period, cash_by_period, cash_periods, period_start, period_starts, rebucket, with_month_index
from .cohorts import cohort_retention
from .comparisons import COMPARISON_COLUMNS, COMPARISON_DATE_COLUMNS, comparison_windows, same_days_comparison
from .filters import DiscountPolicy, MetricFilters, as_of_date, as_of_instant
from .load import Calendar, Sources, build_calendar, month_label
from .monthly import AMOUNT_COLUMNS, AVERAGE_AMOUNT_COLUMNS, monthly_metrics
from .movements import movement_customers, mrr_movements
from ._sql import query
from .mrr import Components, mrr_components
from .rates import RateSet
from .recovery import (INVOLUNTARY_COLUMNS, RECOVERY_AMOUNT_COLUMNS, RECOVERY_COLUMNS, failed_invoices,
                       involuntary_churn, involuntary_endings, payment_recovery, recovery_days, subscription_endings)
from .reporting import (Classified, Factor, ReportingInfo, RatesUsed, UnknownReportingCurrencyError, classify,
                        convert_by_month, convert_cash, convert_failed_invoices, convert_windows, converted_movements,
                        converted_snapshots, factors, failed_invoices_without_rate, reporting_monthly, select_customers,
                        snapshot_days)
from .segments import (PLAN_DIMENSIONS, customer_segments, parse_dimension, plan_segments, segment_metrics,
                       select_segment)
from .snapshots import MONTH_LABEL_SQL, mrr_by_product, mrr_snapshots
from .trials import TRIAL_COLUMNS, select_plans, trial_conversion, trial_conversion_by_plan, trial_records
from ..segment_sql import PRICE_NAMES_SQL, customer_values_sql

log = logging.getLogger(__name__)

# The keys of one month in the contract's JSON, in the contract's order.
JSON_MONTH_KEYS = (
    "month", "mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
    "net_new_mrr", "active_customers", "new_customers", "churned_customers", "reactivated_customers",
    "customer_churn_rate", "revenue_churn_rate", "grr", "nrr", "arpa", "quick_ratio", "gross_volume", "refunds",
    "fees", "net_volume", "successful_payments", "failed_payments",
)
# docs/specs/fx.md "Output": a converted month has the same keys plus fx_mrr after net_new_mrr.
REPORTING_MONTH_KEYS = JSON_MONTH_KEYS[:JSON_MONTH_KEYS.index("net_new_mrr") + 1] + ("fx_mrr",) \
    + JSON_MONTH_KEYS[JSON_MONTH_KEYS.index("net_new_mrr") + 1:]
# `metrics --json --by D` (metrics.md "Segments"): the keys of one month of one segment value.
SEGMENT_MONTH_KEYS = (
    "month", "mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "net_new_mrr",
    "moved_in_mrr", "moved_out_mrr", "active_customers", "new_customers", "churned_customers",
    "reactivated_customers", "moved_in_customers", "moved_out_customers", "customer_churn_rate",
    "revenue_churn_rate", "grr", "nrr",
)
_JSON_AMOUNTS = {"mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
                 "net_new_mrr", "fx_mrr", "arpa", "gross_volume", "refunds", "fees", "net_volume", "moved_in_mrr",
                 "moved_out_mrr"}
_JSON_RATES = {"customer_churn_rate", "revenue_churn_rate", "grr", "nrr", "quick_ratio"}
# metrics.md "Trials and trial conversion", "Failed payments and recovery", "Comparing a month to
# date": the keys a month gains when the depth figures are given (`MetricsEngine.depth`).
DEPTH_MONTH_KEYS = TRIAL_COLUMNS + RECOVERY_COLUMNS + INVOLUNTARY_COLUMNS + COMPARISON_COLUMNS
_DEPTH_AMOUNTS = set(RECOVERY_AMOUNT_COLUMNS) | {"involuntary_churned_mrr"} | {
    c for c in COMPARISON_COLUMNS if c.endswith(("gross_volume", "refunds", "fees", "net_volume"))}
_DEPTH_FLOATS = {"trial_conversion_rate", "recovery_rate", "involuntary_churn_share"}
_DEPTH_DAYS = {"median_days_to_convert", "median_days_to_recover"}


class UnknownCurrencyError(ValueError):
    """A currency filter names a currency the account never used."""


class SegmentNeedsCurrencyError(ValueError):
    """A plan, price or billing-interval segment was asked of a converted (all currencies) view:
    those segments are per currency (a customer's plan is per currency, metrics.md "Segments")."""


@dataclass
class MetricsResult:
    """Everything computed for one (data, as-of, discount policy, filters).

    Amount columns of every frame are in the currency's minor unit (use `to_major` or
    `metrics_json` for major units). Frames:

    - `monthly`: `monthly.monthly_metrics` columns, months inside the filter's date range;
    - `cash`: currency, m, month, gross_volume, refunds, fees, net_volume, successful_payments,
      failed_payments (months inside the date range);
    - `snapshots`: currency, customer, m, month, mrr (customers with MRR > 0; every month, since
      movements need the months before the range);
    - `movements`: currency, customer, m, month, previous_mrr, mrr, movement, amount, change;
    - `cohorts`: `cohorts.cohort_retention` columns, months inside the date range.
    The last three are built on first use.

    A converted view (`MetricsEngine.compute(..., reporting_currency=R)`) has the same frames in
    R (currency = R; `monthly` adds `fx_mrr`; movements are constant-currency) and `reporting`
    says how it was converted (docs/specs/fx.md).
    """

    account_id: str | None
    as_of: datetime
    as_of_date: date
    discount_policy: DiscountPolicy
    filters: MetricFilters
    calendar: Calendar
    currencies: list[str]
    monthly: pd.DataFrame
    cash: pd.DataFrame
    snapshots_keyed: pa.Table = field(repr=False)
    movements_keyed: pa.Table = field(repr=False)
    customer_keys: pa.Table = field(repr=False)
    _details: Any = field(default=None, repr=False)
    reporting: ReportingInfo | None = None

    @property
    def months(self) -> list[str]:
        """The months shown ('YYYY-MM')."""
        return [month_label(m) for m in self.calendar.visible(self.filters)]

    def _with_ids(self, table: pa.Table, columns: str) -> pd.DataFrame:
        return query(f"""
            SELECT t.currency, k.customer, t.m, {MONTH_LABEL_SQL.format(m='t.m')} AS month, {columns}
            FROM t JOIN k ON k.customer_key = t.customer_key ORDER BY t.currency, t.m, k.customer""",
                     t=table, k=self.customer_keys)

    @cached_property
    def snapshots(self) -> pd.DataFrame:
        return self._with_ids(self.snapshots_keyed, "t.mrr")

    @cached_property
    def movements(self) -> pd.DataFrame:
        return self._with_ids(self.movements_keyed, "t.previous_mrr, t.mrr, t.movement, t.amount, t.change")

    @cached_property
    def cohorts(self) -> pd.DataFrame:
        frame = cohort_retention(self.snapshots_keyed, self.calendar.months)
        shown = set(self.months)
        return frame[frame["month"].isin(shown)].reset_index(drop=True)

    def customers_for(self, currency: str, month: str, movement: str) -> pd.DataFrame:
        """Who is behind one movement bar: customer, name, email, previous_mrr, mrr, amount
        (minor units), biggest first (see `movements.movement_customers`)."""
        details = None
        if self._details is not None:
            try:
                details = self._details()
            except duckdb.ConnectionException:  # the cache was closed since: ids and amounts only
                log.info("customer names are not shown: the cache was closed after these metrics were computed")
                details = None
        year, number = (int(x) for x in month.split("-"))
        return movement_customers(self.movements_keyed, self.customer_keys, currency, year * 12 + number - 1,
                                  movement, details)

    @cached_property
    def own_snapshots(self) -> pd.DataFrame:
        """A converted view's per-currency customer snapshots (currency, customer, m, month, mrr in
        that currency's minor units): each customer's own currencies beside its converted MRR."""
        if self.reporting is None:
            return self.snapshots
        return self._with_ids(self.reporting.own_snapshots, "t.mrr")

    def monthly_major(self) -> pd.DataFrame:
        """`monthly` with amounts in major units (floats exact to the minor unit)."""
        return to_major(self.monthly)


def to_major(frame: pd.DataFrame) -> pd.DataFrame:
    """Amount columns of a frame with a `currency` column converted from minor to major units;
    averages are rounded to the minor unit first."""
    frame = frame.copy()
    scale = frame["currency"].map(lambda c: 10 ** decimals(c)).astype("float64")
    places = frame["currency"].map(decimals)
    for column in AMOUNT_COLUMNS + AVERAGE_AMOUNT_COLUMNS + ("fx_mrr", "previous_mrr", "amount", "change", "cohort_mrr"):
        if column in frame.columns:
            values = frame[column].astype("float64")
            if column in AVERAGE_AMOUNT_COLUMNS:
                values = values.round()
            frame[column] = [None if pd.isna(v) else round(v / s, p) for v, s, p in zip(values, scale, places)]
    return frame


class _CustomerNames:
    """A result's way to its customers' names (`MetricsResult.customers_for`) that does not keep
    its engine alive: an engine holds its MRR components and kept snapshots (hundreds of MB on a
    large account), and results outlive engines (`compute_metrics`, a dashboard's cached result).
    While the engine lives, its names are used; afterwards the names are read once through the
    source the result was computed from."""

    def __init__(self, engine: "MetricsEngine") -> None:
        self._engine = weakref.ref(engine)
        self._src = engine.src
        self._frame: pd.DataFrame | None = None

    def __call__(self) -> pd.DataFrame:
        engine = self._engine()
        if engine is not None:
            return engine._customers()
        if self._frame is None:
            self._frame = customer_names(self._src.con)
        return self._frame


@dataclass
class _Base:
    calendar: Calendar
    components: Components
    currencies: list[str]
    snapshots: pa.Table
    movements: pa.Table
    rates: RateSet


@dataclass
class _Converted:
    """A converted view over every month (see `MetricsEngine._converted_view`)."""

    monthly: pd.DataFrame
    unconverted: pd.DataFrame
    cash: pd.DataFrame | None
    unconverted_cash: pd.DataFrame
    used: RatesUsed
    own: pa.Table
    snapshots: pa.Table
    movements: pa.Table


def _select(table: pa.Table, currencies: list[str] | None, customer_keys: list[int] | None) -> pa.Table:
    mask = None
    if currencies is not None:
        mask = pc.is_in(table["currency"], value_set=pa.array(currencies, pa.string()))
    if customer_keys is not None:
        keys = pc.is_in(table["customer_key"], value_set=pa.array(customer_keys, pa.int32()))
        mask = keys if mask is None else pc.and_(mask, keys)
    return table if mask is None else table.filter(mask)


class MetricsEngine:
    """Computes metrics from one cache for one as-of instant, discount policy and time zone,
    keeping the expensive parts between filter changes: the subscription MRR components, the
    unfiltered customer snapshots and movements (a currency or segment filter only selects from
    them: a customer's MRR never depends on other customers or currencies), the snapshots of recent
    product / interval filters, and the cash figures per segment.

    `source` is a Cache (read from its file) or a Sources (e.g. `Sources.from_frames`); the engine
    reads through its own cursor of the cache's connection, so keep the cache open while using it.
    When the cache's `data_version` changes (a sync wrote to it), the next `compute` starts afresh
    (and an as-of of "now" moves on). Thread-safe for the dashboard: one computation at a time."""

    ITEM_FILTER_CACHE = 8

    def __init__(self, source, as_of: date | datetime | None = None,
                 discount_policy: DiscountPolicy | str = DiscountPolicy.all, timezone: str = "UTC"):
        self.discount_policy = DiscountPolicy(discount_policy)
        self.timezone = MetricFilters(timezone=timezone).timezone
        self.src = source if isinstance(source, Sources) else Sources.from_cache(source, self.timezone)
        if self.src.timezone != self.timezone:
            self.src.set_timezone(self.timezone)
        self._as_of_arg = as_of
        self.as_of = as_of_instant(as_of, self.timezone)
        self._lock = threading.RLock()
        self._base: _Base | None = None
        self._base_version: str | None = None
        self._customers_frame: pd.DataFrame | None = None
        self._item_filtered: OrderedDict = OrderedDict()
        self._cash: dict = {}
        self._converted: OrderedDict = OrderedDict()
        self._views: OrderedDict = OrderedDict()
        self._month_factors: dict = {}
        self._segments: dict[str, pa.Table] = {}
        self._depth: dict = {}

    def _data_version(self) -> str | None:
        return read_meta(self.src.con, "data_version")

    def _ensure_base(self) -> _Base:
        version = self._data_version()
        if self._base is not None and version != self._base_version:
            # The cache changed (a sync wrote to it): start again; "now" moves on too.
            self._base, self._customers_frame = None, None
            self._item_filtered.clear()
            self._cash.clear()
            self._converted.clear()
            self._views.clear()
            self._month_factors.clear()
            self._segments.clear()
            self._depth.clear()
            self.as_of = as_of_instant(self._as_of_arg, self.timezone)
        if self._base is None:
            self._base_version = version
            calendar = build_calendar(self.src, self.as_of)
            components = with_headroom(self.src.con, lambda: mrr_components(
                self.src, calendar.snapshots(), self.discount_policy, month_snapshots=True))
            snapshots = mrr_snapshots(components.table, arrow=True)
            movements = mrr_movements(snapshots, calendar.last, arrow=True)
            rates = RateSet.from_cache_connection(self.src.con)
            self._base = _Base(calendar, components, self.src.currencies(), snapshots, movements, rates)
        return self._base

    def _customers(self) -> pd.DataFrame:
        with self._lock:
            if self._customers_frame is None:
                self._customers_frame = customer_names(self.src.con)
            return self._customers_frame

    def _for_items(self, base: _Base, filters: MetricFilters) -> tuple[pa.Table, pa.Table]:
        key = (filters.products, filters.intervals)
        if key in self._item_filtered:
            self._item_filtered.move_to_end(key)
            return self._item_filtered[key]
        product_keys = base.components.product_keys(filters.products) if filters.products else None
        snapshots = mrr_snapshots(base.components.table, product_keys=product_keys,
                                  intervals=list(filters.intervals) if filters.intervals else None, arrow=True)
        movements = mrr_movements(snapshots, base.calendar.last, arrow=True)
        self._item_filtered[key] = (snapshots, movements)
        while len(self._item_filtered) > self.ITEM_FILTER_CACHE:
            self._item_filtered.popitem(last=False)
        return snapshots, movements

    def _cash_raw(self, filters: MetricFilters, period: Period) -> pd.DataFrame:
        """`cash.cash_by_period` for the filter's segment (all currencies, every period up to the
        as-of), kept until the data changes. Weeks and months are summed from the days (one scan
        of the payments serves every period and the converted view, whose rates are per day)."""
        key = (filters.segment_key, filters.segment_value, filters.country, period)
        if key not in self._cash:
            if period == "day":
                self._cash[key] = cash_by_period(self.src, self.as_of, period,
                                                 MetricFilters(segment_key=filters.segment_key,
                                                               segment_value=filters.segment_value,
                                                               country=filters.country))
            else:
                self._cash[key] = rebucket(self._cash_raw(filters, "day"), period)
        return self._cash[key]

    def _cash_for(self, base: _Base, filters: MetricFilters) -> pd.DataFrame | None:
        if not base.calendar.months:
            return None
        return with_month_index(self._cash_raw(filters, "month"))

    def _currencies(self, base: _Base, filters: MetricFilters) -> list[str]:
        if not filters.currencies:
            return list(base.currencies)
        unknown = [c for c in filters.currencies if c not in base.currencies]
        if unknown:
            known = ", ".join(base.currencies) or "none"
            raise UnknownCurrencyError(f"no data in {', '.join(unknown)}; the account's currencies are: {known}")
        return [c for c in base.currencies if c in filters.currencies]

    def prepare(self) -> "MetricsEngine":
        """Compute the expensive parts now -- the MRR components, the unfiltered snapshots and
        movements, and the monthly cash figures -- so that the next `compute` only re-aggregates
        (e.g. in a background thread while a page draws its other parts). Returns the engine."""
        with self._lock:
            base = self._ensure_base()
            if base.calendar.months:
                self._cash_raw(MetricFilters(), "month")
        return self

    def compute(self, filters: MetricFilters | None = None, reporting_currency: str | None = None) -> MetricsResult:
        """Every metric under the filters, per currency; or, with `reporting_currency`, every
        currency converted into that one (docs/specs/fx.md; the currency filter then only selects
        which currencies are converted)."""
        filters = filters or MetricFilters()
        if reporting_currency is not None:
            return self._compute_converted(filters, reporting_currency.lower())
        if filters.timezone != self.timezone:
            raise ValueError("the time zone is fixed per engine; create another MetricsEngine")
        with self._lock:
            base = self._ensure_base()
            calendar = base.calendar
            currencies, snapshots, movements = self._selected(base, filters)
            cash = self._cash_for(base, filters)
            monthly = monthly_metrics(snapshots, movements, cash, calendar.months, currencies)
            visible = set(calendar.visible(filters))
            monthly = monthly[monthly["m"].isin(visible)].reset_index(drop=True)
            if cash is not None:
                cash = cash[cash["m"].isin(visible) & cash["currency"].isin(currencies)].reset_index(drop=True)
            else:
                cash = pd.DataFrame(columns=["currency", "m", "month"])
            return MetricsResult(
                account_id=self.src.account_id, as_of=self.as_of, as_of_date=as_of_date(self.as_of, self.timezone),
                discount_policy=self.discount_policy, filters=filters, calendar=calendar, currencies=currencies,
                monthly=monthly, cash=cash, snapshots_keyed=snapshots, movements_keyed=movements,
                customer_keys=base.components.customers, _details=_CustomerNames(self))

    def _selected(self, base: _Base, filters: MetricFilters) -> tuple[list[str], pa.Table, pa.Table]:
        """The currencies, snapshots and movements under every filter but the date range."""
        currencies = self._currencies(base, filters)
        customer_keys = None
        if filters.restricts_customers:
            sql, params = self.src.segment_customers_sql(filters)
            ids = [r[0] for r in self.src.con.execute(sql, params).fetchall()]
            customer_keys = base.components.customer_keys(ids)
        if filters.restricts_items:
            snapshots, movements = self._for_items(base, filters)
        else:
            snapshots, movements = base.snapshots, base.movements
        selected = currencies if filters.currencies else None
        snapshots = _select(snapshots, selected, customer_keys)
        movements = _select(movements, selected, customer_keys)
        for dimension, value in filters.plan_segments.items():
            snapshots, movements = select_segment(snapshots, movements, self._segments_for(base, dimension), value)
        return currencies, snapshots, movements

    def _segments_for(self, base: _Base, dimension: str) -> pa.Table:
        """Each customer's value in a segment dimension (`segments.plan_segments` or
        `segments.customer_segments`), kept until the data changes."""
        if dimension not in self._segments:
            if dimension in PLAN_DIMENSIONS:
                self._segments[dimension] = plan_segments(base.components, dimension)
            else:
                sql, params = customer_values_sql(dimension)
                values = self.src.con.execute(sql, params).df()
                self._segments[dimension] = customer_segments(values, base.components.customers)
        return self._segments[dimension]

    def segment_breakdown(self, filters: MetricFilters | None, by: str) -> pd.DataFrame:
        """MRR, movements and churn per segment value of dimension `by` (plan, price, interval,
        country or metadata:<key>) under the filters, per currency (`segments.segment_metrics`
        columns; months inside the date range). The five movements of a month add up over the
        segments to the monthly table's."""
        filters = filters or MetricFilters()
        by = parse_dimension(by)
        with self._lock:
            base = self._ensure_base()
            currencies, snapshots, movements = self._selected(base, filters)
            frame = segment_metrics(snapshots, movements, self._segments_for(base, by), base.calendar.months,
                                    currencies)
            visible = set(base.calendar.visible(filters))
            return frame[frame["m"].isin(visible)].reset_index(drop=True)

    def segment_names(self, by: str) -> dict[str, str]:
        """Readable names of a dimension's values: product names for plans, "product · nickname"
        (or the price id) for prices; other dimensions are their own names."""
        by = parse_dimension(by)
        if by == "plan":
            rows = self.src.con.execute("SELECT id, coalesce(name, id) FROM products WHERE NOT deleted").fetchall()
        elif by == "price":
            rows = self.src.con.execute(PRICE_NAMES_SQL).fetchall()
        else:
            rows = []
        return {str(k): str(v) for k, v in rows}

    # ------------------------------------------------------------------------- reporting currency

    def rates(self) -> RateSet:
        """The exchange rates in use for this cache (ECB plus the user's)."""
        with self._lock:
            return self._ensure_base().rates

    def _check_reporting(self, base: _Base, currency: str) -> None:
        if currency not in base.rates.currencies():
            raise UnknownReportingCurrencyError(
                f"no exchange rates for {currency.upper()}; pick one of: "
                + ", ".join(c.upper() for c in base.rates.currencies()))

    def _factors_by_month(self, base: _Base, reporting: str) -> dict[tuple[str, int], Factor]:
        """The factor into R of each currency at each month's snapshot day (kept per R; a
        snapshot day is one of the days of `_factors_by_day`)."""
        if reporting not in self._month_factors:
            days = snapshot_days(base.calendar)
            found = self._factors_by_day(base, reporting)
            self._month_factors[reporting] = {(c, m): found[(c, d)] for c in base.currencies
                                              for m, d in days.items() if (c, d) in found}
        return self._month_factors[reporting]

    def _classified(self, base: _Base, filters: MetricFilters, reporting: str,
                    currencies: list[str] | None) -> tuple[Classified, pa.Table]:
        key = (filters.products, filters.intervals, tuple(currencies or ()), reporting)
        if key not in self._converted:
            snapshots = self._for_items(base, filters)[0] if filters.restricts_items else base.snapshots
            snapshots = _select(snapshots, currencies, None)
            self._converted[key] = (classify(snapshots, self._factors_by_month(base, reporting), base.calendar.last),
                                    snapshots)
            while len(self._converted) > self.ITEM_FILTER_CACHE:
                self._converted.popitem(last=False)
        else:
            self._converted.move_to_end(key)
        return self._converted[key]

    def _converted_cash(self, base: _Base, filters: MetricFilters, reporting: str, currencies: list[str],
                        starts: list[date], period: Period, used: RatesUsed):
        daily = self._cash_raw(filters, "day") if starts else None
        if daily is not None:
            daily = daily[daily["currency"].isin(currencies)]
        return convert_cash(daily, self._factors_by_day(base, reporting), reporting, starts, period, used)

    def _factors_by_day(self, base: _Base, reporting: str) -> dict[tuple[str, date], Factor]:
        """The factor into R of each currency on every day from the first reported month to the
        as-of day (kept per R): cash objects are converted at their own day's rate."""
        key = ("day", reporting)
        if key not in self._month_factors:
            calendar = base.calendar
            days: list[date] = []
            if calendar.months:
                day = date(calendar.first // 12, calendar.first % 12 + 1, 1)
                last = as_of_date(calendar.as_of, self.timezone)
                while day <= last:
                    days.append(day)
                    day += timedelta(days=1)
            self._month_factors[key] = factors(base.rates, reporting, [(c, d) for c in base.currencies for d in days])
        return self._month_factors[key]

    def _compute_converted(self, filters: MetricFilters, reporting: str) -> MetricsResult:
        if filters.timezone != self.timezone:
            raise ValueError("the time zone is fixed per engine; create another MetricsEngine")
        if filters.plan_segments:
            raise SegmentNeedsCurrencyError(
                "plan, price and billing-interval segments are per currency: pick one currency to use them")
        with self._lock:
            base = self._ensure_base()
            self._check_reporting(base, reporting)
            calendar = base.calendar
            full = self._converted_view(base, filters, reporting)
            # The date range only selects months: everything above is kept per filter.
            visible = set(calendar.visible(filters))
            monthly = full.monthly[full.monthly["m"].isin(visible)].reset_index(drop=True)
            unconverted = full.unconverted[full.unconverted["m"].isin(visible)].reset_index(drop=True)
            visible_labels = {f"{m // 12:04d}-{m % 12 + 1:02d}" for m in visible}
            unconverted_cash = full.unconverted_cash[full.unconverted_cash["period"].isin(visible_labels)]
            if full.cash is not None:
                cash = full.cash[full.cash["m"].isin(visible)].reset_index(drop=True)
            else:
                cash = pd.DataFrame(columns=["currency", "m", "month"])
            info = ReportingInfo(reporting, full.used, as_of_date(self.as_of, self.timezone), unconverted,
                                 unconverted_cash.reset_index(drop=True), full.own)
            return MetricsResult(
                account_id=self.src.account_id, as_of=self.as_of, as_of_date=info.as_of_day,
                discount_policy=self.discount_policy, filters=filters, calendar=calendar, currencies=[reporting],
                monthly=monthly, cash=cash, snapshots_keyed=full.snapshots, movements_keyed=full.movements,
                customer_keys=base.components.customers, _details=_CustomerNames(self), reporting=info)

    def _converted_view(self, base: _Base, filters: MetricFilters, reporting: str) -> "_Converted":
        """Every month of the converted view under the filters but their date range, kept (a
        few filter combinations) until the data changes."""
        currencies = self._currencies(base, filters)
        selected = currencies if filters.currencies else None
        key = (filters.products, filters.intervals, tuple(selected or ()), filters.segment_key,
               filters.segment_value, filters.country, reporting)
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        classified, own = self._classified(base, filters, reporting, selected)
        customer_keys = None
        if filters.restricts_customers:
            sql, params = self.src.segment_customers_sql(filters)
            ids = [r[0] for r in self.src.con.execute(sql, params).fetchall()]
            customer_keys = base.components.customer_keys(ids)
            own = _select(own, None, customer_keys)
        classified = select_customers(classified, customer_keys)
        used = RatesUsed()
        month_starts = [date(m // 12, m % 12 + 1, 1) for m in base.calendar.months]
        cash, unconverted_cash = self._converted_cash(base, filters, reporting, currencies, month_starts, "month",
                                                      used)
        cash = with_month_index(cash) if len(cash) else None
        monthly, unconverted = reporting_monthly(classified, self._factors_by_month(base, reporting),
                                                 base.calendar.months, reporting, cash, used)
        view = _Converted(monthly, unconverted, cash, unconverted_cash, used, own,
                          converted_snapshots(classified, reporting), converted_movements(classified, reporting))
        self._views[key] = view
        while len(self._views) > 2 * self.ITEM_FILTER_CACHE:
            self._views.popitem(last=False)
        return view

    def cash(self, filters: MetricFilters | None = None, period: Period = "month") -> pd.DataFrame:
        """Cash metrics (metrics.md "Cash (payments)") per currency and period -- `day`, ISO `week`
        (Monday to Sunday) or calendar `month` of the engine's time zone -- with the same rules
        and filters as the monthly table (currencies, segment; product and interval filters do not
        apply to cash). Every period from the one containing the first day of the first reported
        month (or the date range's start) to the one containing the as-of day (or the range's
        end) has a row, zeros where nothing happened; so the periods inside a month add up to that
        month's figures in `compute(...).monthly`.

        Returns the columns of `cash.cash_periods`: currency, start (date), period (label:
        'YYYY-MM' for months, the first day 'YYYY-MM-DD' otherwise), gross_volume, refunds, fees,
        net_volume (minor units), successful_payments, failed_payments, average_order_value
        (fractional minor units), payment_success_rate."""
        filters = filters or MetricFilters()
        with self._lock:
            base = self._ensure_base()
            currencies = self._currencies(base, filters)
            starts = self._period_starts(base, filters, period)
            raw = self._cash_raw(filters, period) if starts else None
            if raw is not None:
                raw = raw[raw["currency"].isin(currencies)]
            return cash_periods(raw, currencies, starts, period)

    def converted_cash(self, filters: MetricFilters | None, period: Period,
                       reporting_currency: str) -> tuple[pd.DataFrame, ReportingInfo]:
        """`cash` with every currency converted into `reporting_currency` at the rate of each
        object's day (docs/specs/fx.md "Converted cash"). Returns (cash, info): cash has the
        columns of `cash` with currency = R; `info.unconverted_cash` lists per period and currency
        the amounts left out for want of a rate."""
        filters = filters or MetricFilters()
        reporting = reporting_currency.lower()
        with self._lock:
            base = self._ensure_base()
            self._check_reporting(base, reporting)
            used = RatesUsed()
            cash, unconverted = self._converted_cash(base, filters, reporting, self._currencies(base, filters),
                                                     self._period_starts(base, filters, period), period, used)
            empty = pd.DataFrame(columns=["m", "month", "currency", "mrr"])
            return cash, ReportingInfo(reporting, used, as_of_date(self.as_of, self.timezone), empty, unconverted,
                                       base.snapshots.slice(0, 0))

    def rates_in_force(self, reporting_currency: str) -> RatesUsed:
        """The rates that convert the account's currencies into `reporting_currency` on the as-of
        day (their sources and last rate date): what a converted view of today is labelled with."""
        reporting = reporting_currency.lower()
        with self._lock:
            base = self._ensure_base()
            self._check_reporting(base, reporting)
            day = as_of_date(self.as_of, self.timezone)
            used = RatesUsed()
            for factor in factors(base.rates, reporting, [(c, day) for c in base.currencies]).values():
                used.add(factor)
            return used

    def converted_mrr_by_product(self, filters: MetricFilters | None, reporting_currency: str) -> pd.DataFrame:
        """`mrr_by_product` with each currency's MRR converted into `reporting_currency` at the
        month's snapshot rate (exact, rounded half-even per product and month); currencies
        without a rate are left out. Columns: currency (= R), product, m, month, mrr."""
        reporting = reporting_currency.lower()
        frame = self.mrr_by_product(filters)
        with self._lock:
            base = self._ensure_base()
            self._check_reporting(base, reporting)
            month_factors = self._factors_by_month(base, reporting)
        return convert_by_month(frame, month_factors, ["product"], reporting)

    def _period_starts(self, base: _Base, filters: MetricFilters, period: Period) -> list[date]:
        calendar = base.calendar
        if not calendar.months:
            return []
        first = date(calendar.first // 12, calendar.first % 12 + 1, 1)
        last = as_of_date(calendar.as_of, self.timezone)
        if filters.date_from:
            first = max(period_start(first, period), period_start(filters.date_from, period))
        if filters.date_to:
            last = min(last, filters.date_to)
        return period_starts(first, last, period) if first <= last else []

    # ------------------------------------------------------------------------- analytics depth

    def _depth_records(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(trial_records, failed_invoices, subscription_endings) of the whole account, every
        currency, kept until the data changes; filters select from them."""
        key = ("records",)
        if key not in self._depth:
            self._depth[key] = (trial_records(self.src, self.as_of), failed_invoices(self.src, self.as_of),
                                subscription_endings(self.src, self.as_of))
        return self._depth[key]

    def _selected_records(self, base: _Base, filters: MetricFilters) -> tuple[pd.DataFrame, pd.DataFrame]:
        trials, failed, _ = self._depth_records()
        currencies = self._currencies(base, filters)
        trials = trials[trials["currency"].isin(currencies)]
        failed = failed[failed["currency"].isin(currencies)]
        if filters.restricts_customers:
            ids = pa.array(self._segment_ids(filters), pa.string())
            trials = trials[pc.is_in(pa.array(trials["customer"], pa.string()), value_set=ids).to_numpy(False)]
            failed = failed[pc.is_in(pa.array(failed["customer"], pa.string()), value_set=ids).to_numpy(False)]
        trials = select_plans(trials, filters.products, filters.intervals)
        # a plan or billing-interval segment selects the trials of that plan (metrics.md "Trials")
        trials = select_plans(trials, [filters.plan] if filters.plan else None,
                              [filters.billing_interval] if filters.billing_interval else None)
        return trials, failed.reset_index(drop=True)

    def _segment_ids(self, filters: MetricFilters) -> list[str]:
        """The ids of the customers in the filter's metadata segment and country (kept until the
        data changes)."""
        key = ("segment", filters.segment_key, filters.segment_value, filters.country)
        if key not in self._depth:
            sql, params = self.src.segment_customers_sql(filters)
            self._depth[key] = [r[0] for r in self.src.con.execute(sql, params).fetchall()]
        return self._depth[key]

    def _churn(self, base: _Base, filters: MetricFilters, reporting: str | None) -> pd.DataFrame:
        """The churn movements under the filters (currency, customer, m, movement, amount), as
        `compute` selects them; constant-currency ones in R with `reporting`."""
        if reporting is not None:
            moves = self._converted_view(base, filters, reporting).movements
        else:
            moves = self._selected(base, filters)[2]
        return query("""SELECT t.currency, k.customer, t.m, t.movement, t.amount
                        FROM t JOIN k ON k.customer_key = t.customer_key WHERE t.movement = 'churn'""",
                     t=moves, k=base.components.customers)

    def depth(self, filters: MetricFilters | None = None, reporting_currency: str | None = None) -> pd.DataFrame:
        """Trial conversion (`trials.trial_conversion`), failed-payment recovery
        (`recovery.payment_recovery`), involuntary churn (`recovery.involuntary_churn`) and the
        same-days comparisons of the cash figures (`comparisons.same_days_comparison`) per
        currency and month inside the date range, under the same filters as `compute` (product
        and interval filters select trials by plan and MRR for churn; recovery and cash follow
        the payments, as cash does). With `reporting_currency`, in that currency (counts added
        up, amounts converted: metrics.md). Columns: currency, m, month and DEPTH_MONTH_KEYS."""
        filters = filters or MetricFilters()
        reporting = reporting_currency.lower() if reporting_currency else None
        with self._lock:
            base = self._ensure_base()
            calendar = base.calendar
            currencies = self._currencies(base, filters)
            trials, failed = self._selected_records(base, filters)
            endings = involuntary_endings(self._depth_records()[2], failed, calendar)
            months = calendar.months
            churn = self._churn(base, filters, reporting)
            if reporting is None:
                parts = [trial_conversion(trials, calendar, currencies),
                         payment_recovery(failed, calendar, currencies),
                         involuntary_churn(churn, endings, months, currencies),
                         self._same_days(base, filters, None)]
            else:
                self._check_reporting(base, reporting)
                day_factors = self._factors_by_day(base, reporting)
                used = RatesUsed()
                parts = [trial_conversion(trials.assign(currency=reporting), calendar, [reporting]),
                         payment_recovery(convert_failed_invoices(failed, day_factors, reporting, self.timezone, used),
                                          calendar, [reporting]),
                         involuntary_churn(churn, endings, months, [reporting], by_currency=False),
                         self._same_days(base, filters, reporting)]
            frame = parts[0]
            for part in parts[1:]:
                frame = frame.merge(part.drop(columns=[c for c in ("month",) if c in part.columns]),
                                    on=["currency", "m"], how="left")
            visible = set(calendar.visible(filters))
            frame = frame[frame["m"].isin(visible)]
            return frame[["currency", "m", "month", *DEPTH_MONTH_KEYS]].reset_index(drop=True)

    def _same_days(self, base: _Base, filters: MetricFilters, reporting: str | None) -> pd.DataFrame:
        calendar = base.calendar
        currencies = self._currencies(base, filters)
        daily = self._cash_raw(filters, "day") if calendar.months else None
        if daily is not None:
            daily = daily[daily["currency"].isin(currencies)]
        windows = comparison_windows(calendar)
        if reporting is None:
            return same_days_comparison(daily, windows, currencies)
        return convert_windows(daily, self._factors_by_day(base, reporting), reporting, windows, RatesUsed())

    def same_days(self, filters: MetricFilters | None = None, reporting_currency: str | None = None) -> pd.DataFrame:
        """Only the same-days comparisons of `depth` (`comparisons.same_days_comparison`): cheap,
        from the kept daily cash figures, for pages that need nothing else of it. Columns:
        currency, m, month and COMPARISON_COLUMNS, months inside the date range."""
        filters = filters or MetricFilters()
        reporting = reporting_currency.lower() if reporting_currency else None
        with self._lock:
            base = self._ensure_base()
            if reporting is not None:
                self._check_reporting(base, reporting)
            frame = self._same_days(base, filters, reporting)
            return frame[frame["m"].isin(set(base.calendar.visible(filters)))].reset_index(drop=True)

    def unconverted_failed_invoices(self, filters: MetricFilters | None = None,
                                    reporting_currency: str | None = None) -> pd.DataFrame:
        """Per currency, the failed invoices of the date range left out of the converted recovery
        figures for want of a rate (docs/specs/fx.md: never converted at a guessed rate): currency,
        failed_invoice_payments, failed_invoice_amount (minor units of that currency). Empty
        without `reporting_currency`."""
        filters = filters or MetricFilters()
        columns = ["currency", "failed_invoice_payments", "failed_invoice_amount"]
        if not reporting_currency:
            return pd.DataFrame(columns=columns)
        reporting = reporting_currency.lower()
        with self._lock:
            base = self._ensure_base()
            self._check_reporting(base, reporting)
            _, failed = self._selected_records(base, filters)
            left = failed_invoices_without_rate(failed, self._factors_by_day(base, reporting), self.timezone)
            if left.empty:
                return pd.DataFrame(columns=columns)
            months = payment_recovery(left, base.calendar, sorted(set(left["currency"])))
            months = months[months["m"].isin(set(base.calendar.visible(filters)))]
            totals = months.groupby("currency", as_index=False)[["failed_invoice_payments",
                                                                  "failed_invoice_amount"]].sum()
            return totals[totals["failed_invoice_payments"] > 0][columns].reset_index(drop=True)

    def trials_by_plan(self, filters: MetricFilters | None = None,
                       reporting_currency: str | None = None) -> pd.DataFrame:
        """`trials.trial_conversion_by_plan` over the months of the date range, per currency
        (or all currencies together, currency = R, with `reporting_currency`)."""
        filters = filters or MetricFilters()
        with self._lock:
            base = self._ensure_base()
            trials, _ = self._selected_records(base, filters)
            if reporting_currency:
                trials = trials.assign(currency=reporting_currency.lower())
            return trial_conversion_by_plan(trials, base.calendar, base.calendar.visible(filters))

    def recovery_days(self, filters: MetricFilters | None = None,
                      reporting_currency: str | None = None) -> pd.DataFrame:
        """`recovery.recovery_days` over the months of the date range (amounts converted at the
        first failure's day with `reporting_currency`)."""
        filters = filters or MetricFilters()
        with self._lock:
            base = self._ensure_base()
            _, failed = self._selected_records(base, filters)
            if reporting_currency:
                reporting = reporting_currency.lower()
                failed = convert_failed_invoices(failed, self._factors_by_day(base, reporting), reporting,
                                                 self.timezone, RatesUsed())
            frame = recovery_days(failed, base.calendar, base.calendar.visible(filters))
            frame["recovered_invoice_amount"] = frame["recovered_invoice_amount"].round().astype("int64")
            return frame

    def mrr_by_product(self, filters: MetricFilters | None = None) -> pd.DataFrame:
        """MRR per product under the filters (their product filter ignored), as if the product
        filter were set to each product alone, in one pass.

        Returns columns: currency, product, m, month, mrr (minor units), active_customers; months
        inside the date range, products with MRR > 0 only."""
        filters = filters or MetricFilters()
        with self._lock:
            base = self._ensure_base()
            customer_keys = None
            if filters.restricts_customers:
                sql, params = self.src.segment_customers_sql(filters)
                customer_keys = base.components.customer_keys(r[0] for r in self.src.con.execute(sql, params).fetchall())
            frame = mrr_by_product(base.components.table, currencies=filters.currencies,
                                   intervals=list(filters.intervals) if filters.intervals else None,
                                   customer_keys=customer_keys)
            visible = set(base.calendar.visible(filters))
            return query(f"""
                SELECT f.currency, p.product, f.m, {MONTH_LABEL_SQL.format(m='f.m')} AS month, f.mrr,
                       f.active_customers
                FROM f JOIN p ON p.product_key = f.product_key
                WHERE f.m IN (SELECT m FROM v) ORDER BY f.currency, f.m, p.product""",
                         f=frame, p=base.components.products,
                         v=pa.table({"m": pa.array(sorted(visible), pa.int32())}))

    @contextlib.contextmanager
    def using(self, source) -> Iterator["MetricsEngine"]:
        """Read through `source` -- a Cache (e.g. a short-lived read-only one) or a Sources --
        for the computations inside the block, then go back to the previous source:

            with Cache.open(path, read_only=True) as cache, engine.using(cache):
                result = engine.compute(filters)

        What the engine keeps in memory (MRR components, snapshots, cash) stays between blocks,
        so a long-lived engine needs no open connection between computations. The block holds
        the engine's lock (other threads wait); a Sources made here from a Cache is closed at its
        end. Materialise lazy results (`result.snapshots`, `.movements`, `.cohorts`) inside the
        block if they may need to read."""
        with self._lock:
            previous = self.src
            src = source if isinstance(source, Sources) else Sources.from_cache(source, self.timezone)
            if src.timezone != self.timezone:
                src.set_timezone(self.timezone)
            self.src = src
            try:
                yield self
            finally:
                self.src = previous
                if src is not source:
                    src.close()

    def close(self) -> None:
        self.src.close()


def compute_metrics(cache, filters: MetricFilters | None = None, as_of: date | datetime | None = None,
                    discount_policy: DiscountPolicy | str = DiscountPolicy.all) -> MetricsResult:
    """Every metric of the contract for one cache (or Sources), as-of instant and discount policy.
    For repeated filter changes keep a `MetricsEngine` instead."""
    filters = filters or MetricFilters()
    engine = MetricsEngine(cache, as_of=as_of, discount_policy=discount_policy, timezone=filters.timezone)
    return engine.compute(filters)


def metrics_json(result: MetricsResult, converted: MetricsResult | None = None, depth: pd.DataFrame | None = None,
                 converted_depth: pd.DataFrame | None = None) -> dict:
    """The contract's JSON object (metrics.md "`stripe-analytics metrics --json`"): account, as_of,
    and per lower-case currency its months, amounts in major units, null where a rate is undefined.
    With a `converted` result (`compute(..., reporting_currency=R)`), the `reporting` key of
    docs/specs/fx.md "Output" is added. With `depth` (and `converted_depth`) frames of
    `MetricsEngine.depth`, each month gains the DEPTH_MONTH_KEYS after its own keys."""
    currencies: dict[str, dict] = {}
    frame = result.monthly
    for currency in result.currencies:
        rows = frame[frame["currency"] == currency]
        months = [_json_month(r, currency, JSON_MONTH_KEYS) for r in rows.to_dict("records")]
        if depth is not None:
            _add_depth(months, depth[depth["currency"] == currency], currency)
        currencies[currency] = {"months": months}
    out = {"account": result.account_id, "as_of": result.as_of_date.isoformat(), "currencies": currencies}
    if converted is not None:
        out["reporting"] = reporting_json(converted)
        if converted_depth is not None:
            _add_depth(out["reporting"]["months"], converted_depth, converted.reporting.currency)
    return out


def segments_json(breakdown: pd.DataFrame, by: str, names: dict[str, str] | None = None) -> dict:
    """The `segments` key of `metrics --json --by D` (metrics.md "Segments"): the dimension, and
    per currency each segment value (its id, a readable name, its months: SEGMENT_MONTH_KEYS,
    amounts in major units), largest MRR in the last month first."""
    names = names or {}
    currencies: dict[str, list] = {}
    for currency, frame in breakdown.groupby("currency", sort=True):
        last = frame[frame["m"] == frame["m"].max()].set_index("segment")["mrr"]
        order = sorted(frame["segment"].unique(), key=lambda s: (-int(last.get(s, 0)), s))
        currencies[currency] = [
            {"segment": segment, "name": names.get(segment, segment),
             "months": [_json_month(r, currency, SEGMENT_MONTH_KEYS)
                        for r in frame[frame["segment"] == segment].to_dict("records")]}
            for segment in order]
    return {"by": by, "currencies": currencies}


def _add_depth(months: list[dict], depth: pd.DataFrame, currency: str) -> None:
    by_month = {r["month"]: r for r in depth.to_dict("records")}
    for month in months:
        record = by_month.get(month["month"])
        for key in DEPTH_MONTH_KEYS:
            value = None if record is None else record[key]
            if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
                month[key] = None
            elif key in COMPARISON_DATE_COLUMNS:
                month[key] = value.isoformat()
            elif key in _DEPTH_AMOUNTS:
                month[key] = _major(int(value), currency)
            elif key in _DEPTH_FLOATS:
                month[key] = float(value)
            elif key in _DEPTH_DAYS:
                month[key] = round(float(value), 2)
            else:
                month[key] = int(value)


def reporting_json(converted: MetricsResult) -> dict:
    """docs/specs/fx.md "Output": the reporting currency, the rates used, what was left out for
    want of a rate, and the months in R (amounts rounded half-even to R's minor unit)."""
    info = converted.reporting
    if info is None:
        raise ValueError("not a converted result: compute it with reporting_currency")
    currency = info.currency
    return {
        "currency": currency,
        "rates": {"source": info.source,
                  "last_rate_date": info.last_rate_date.isoformat() if info.last_rate_date else None},
        "unconverted": [{"month": r["month"], "currency": r["currency"], "mrr": _major(int(r["mrr"]), r["currency"])}
                        for r in info.unconverted.to_dict("records")],
        "months": [_json_month(r, currency, REPORTING_MONTH_KEYS) for r in converted.monthly.to_dict("records")],
    }


def _json_month(record: dict, currency: str, keys: tuple[str, ...]) -> dict:
    out: dict[str, Any] = {}
    for key in keys:
        value = record[key]
        if key == "month":
            out[key] = value
        elif value is None or (isinstance(value, float) and pd.isna(value)):
            out[key] = None
        elif key in _JSON_AMOUNTS:
            minor = round(float(value)) if key == "arpa" else int(value)
            out[key] = _major(minor, currency)
        elif key in _JSON_RATES:
            out[key] = float(value)
        else:
            out[key] = int(value)
    return out


def _major(minor: int, currency: str) -> int | float:
    places = decimals(currency)
    if places == 0:
        return int(minor)
    return to_major_float(minor, currency)
