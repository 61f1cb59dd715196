"""Every read the app makes, behind Streamlit caches keyed by the cache file and its data
version, so a rerun does no repeated work and a sync (which bumps the data version)
invalidates what it changed.

DuckDB rules this layer follows:
- the app only ever opens a cache read-only, with a connection that lives for one function
  call, so the sync child process can take the file for writing between reads;
- while a sync holds the file, `cache_key` returns the last version seen and every cached
  result keeps being served; only a view never computed before says "being updated";
- the metrics engine keeps its expensive base (MRR components) in memory between filter
  changes, and is handed a fresh short-lived connection for each computation
  (`MetricsEngine.using`); it is built once per cache state in a background thread started as
  soon as the account is known (`warm_metrics`), so the first page draws its sidebar meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import types
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import streamlit as st

from .. import queries
from ..cache import Cache, CacheError, CacheInUseError, read_meta



class CacheBusy(CacheError):
    """A sync is writing the cache and this view was never computed before."""


@contextlib.contextmanager
def quiet_streamlit():
    """Cached functions called outside a script run log "missing ScriptRunContext" once per
    call; that is expected here."""
    noisy = [logging.getLogger(name) for name in (
        "streamlit.runtime.scriptrunner_utils.script_run_context", "streamlit.runtime.caching.cache_data_api",
        "streamlit.runtime.caching.cache_resource_api")]
    levels = [logger.level for logger in noisy]
    for logger in noisy:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(noisy, levels):
            logger.setLevel(level)


@dataclass(frozen=True)
class CacheKey:
    """Identifies one state of one cache file: every cached read is keyed by it."""

    path: str
    version: int
    inode: int

    @property
    def name(self) -> str:
        return Path(self.path).stem


@dataclass
class _Seen:
    signature: tuple
    key: CacheKey


_SEEN: dict[str, _Seen] = {}
_SEEN_LOCK = threading.Lock()


def _signature(path: Path) -> tuple:
    stat = path.stat()
    wal = Path(str(path) + ".wal")
    wal_sig = (wal.stat().st_mtime_ns, wal.stat().st_size) if wal.exists() else None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size, wal_sig


def cache_key(path: str | Path) -> tuple[CacheKey, bool]:
    """(key, busy) of a cache file. The data version is read only when the file changed on
    disk (a stat per rerun otherwise). busy=True means a sync holds the file and the key is
    the last one seen. Raises CacheError (plain message) when the file cannot be used."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise CacheError(f"No cache at {path}: sync an account or open the demo.")
    signature = _signature(path)
    with _SEEN_LOCK:
        seen = _SEEN.get(name)
        if seen and seen.signature == signature:
            return seen.key, False
    try:
        # Read completely once per change of the file, so a damaged cache says so (with the
        # way to recover) before any page computes from it.
        cache = Cache.open(path, read_only=True, verify=True)
    except CacheInUseError:
        if seen is not None:
            return seen.key, True
        raise
    try:
        version = cache.data_version
    finally:
        cache.close()
    key = CacheKey(name, version, signature[0])
    with _SEEN_LOCK:
        # The signature taken before the read: a write that came in after it makes the next
        # call read again (one taken now could already be the write's, and hide it for good).
        _SEEN[name] = _Seen(signature, key)
    return key, False


@contextlib.contextmanager
def open_cache(key: CacheKey) -> Iterator[Cache]:
    """A short-lived read-only Cache on the file; CacheBusy while a sync writes it."""
    try:
        cache = Cache.open(key.path, read_only=True)
    except CacheInUseError:
        raise CacheBusy("The cache is being updated by a sync; this view appears when it finishes "
                        "(the other pages keep their last results).") from None
    try:
        yield cache
    finally:
        cache.close()


@contextlib.contextmanager
def cursor(key: CacheKey) -> Iterator[Any]:
    """A DuckDB cursor on the cache in UTC (browse queries bucket and show times in UTC)."""
    with open_cache(key) as cache:
        cur = cache.con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            yield cur
        finally:
            cur.close()


def _read(key: CacheKey, fn: Callable, *args, **kwargs):
    with cursor(key) as cur:
        return fn(cur, *args, **kwargs)


# ----------------------------------------------------------------------------- browse reads

@st.cache_data(show_spinner=False, max_entries=64)
def filter_options(key: CacheKey) -> queries.FilterOptions:
    """What the sidebar filters offer, with the currencies of the rates the user imported (a
    converted view can report in them too)."""
    return _read(key, _filter_options)


def _filter_options(con) -> queries.FilterOptions:
    from dataclasses import replace

    from ..metrics.rates import user_rates

    options = queries.filter_options(con)
    return replace(options, imported_rate_currencies=sorted(set(user_rates(con).column("currency").to_pylist())))


@st.cache_data(show_spinner=False, max_entries=16)
def account_info(key: CacheKey) -> dict:
    with cursor(key) as cur:
        return {
            "profile": queries.account_profile(cur),
            "account_id": read_meta(cur, "account_id"),
            "demo": read_meta(cur, "demo"),
            "last_synced_at": queries.last_synced_at(cur),
            "counts": queries.row_counts(cur),
        }


def function_name(function: Callable) -> str:
    """A module's function as a cache key (`hash_funcs`): its module and name, which say what it
    computes (Streamlit cannot hash a function itself)."""
    return f"{function.__module__}.{function.__qualname__}"


@st.cache_data(show_spinner="Reading this account's cache…", max_entries=256,
               hash_funcs={types.FunctionType: function_name})
def browse(key: CacheKey, query: Callable, *args, **kwargs) -> Any:
    """A function of `queries` (it takes a cursor first), cached by cache state, the function and
    the arguments."""
    return _read(key, query, *args, **kwargs)


@st.cache_data(show_spinner=False, max_entries=16)
def customers_lookup(key: CacheKey) -> pd.DataFrame:
    return _read(key, queries.customer_names)


@st.cache_data(show_spinner=False, max_entries=16)
def data_status(key: CacheKey) -> dict:
    """What the Data page shows: per resource rows, last sync, next sync kind, skipped
    reasons; sync runs; last errors."""
    from ..sync import next_sync_plan, status

    with open_cache(key) as cache:
        rows = status(cache)
        plan = next_sync_plan(cache)
        cur = cache.con.cursor()
        try:
            runs = queries.sync_runs(cur)
            errors = queries.sync_errors(cur)
            audit = queries.audit_log(cur)
        finally:
            cur.close()
    return {"resources": pd.DataFrame(rows), "plan": plan, "runs": runs, "errors": errors, "audit": audit}


# ----------------------------------------------------------------------------- metrics

def _build_engine(key: CacheKey, policy: str):
    from ..metrics import MetricsEngine

    with open_cache(key) as cache:
        engine = MetricsEngine(cache, discount_policy=policy)
        try:
            engine.prepare()  # the expensive base, computed once
        finally:
            engine.close()
    return engine


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine_job(key: CacheKey, day: date, policy: str) -> Future:
    """The metrics engine of one cache state, day and discount policy, built once per server
    process in a background thread (so the first page can draw its sidebar and header while
    DuckDB computes the MRR components)."""
    job: Future = Future()

    def build() -> None:
        try:
            job.set_result(_build_engine(key, policy))
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the engine
            job.set_exception(error)

    threading.Thread(target=build, name=f"metrics-engine-{key.name}", daemon=True).start()
    return job


def warm_metrics(key: CacheKey, policy: str = "all") -> None:
    """Start building today's metrics engine of this cache state in the background, if not
    started yet; returns at once (app start: the first page's metrics are then ready sooner)."""
    _engine_job(key, datetime.now(timezone.utc).date(), policy)


def _engine(key: CacheKey, day: date, policy: str):
    """One metrics engine per cache state, day and discount policy, with its expensive base
    (MRR components) computed. It holds no connection: each computation reads through a fresh
    short-lived one (`MetricsEngine.using`), so a sync can take the file between reads. A
    failed build (e.g. the cache was busy) is forgotten, so the next read tries again."""
    job = _engine_job(key, day, policy)
    try:
        return job.result()
    except BaseException:
        _engine_job.clear(key, day, policy)
        raise


@contextlib.contextmanager
def _engine_reading(key: CacheKey, policy: str, day: date | None = None) -> Iterator[Any]:
    """The day's (today's) engine of this cache state, reading through a fresh read-only
    connection for the block (one computation at a time per engine)."""
    engine = _engine(key, day or datetime.now(timezone.utc).date(), policy)
    with open_cache(key) as cache, engine.using(cache):
        yield engine


@dataclass
class MetricBundle:
    """What pages read from one metrics computation (amounts in minor units)."""

    result: Any  # metrics.MetricsResult (frames: monthly, cash, snapshots, movements, cohorts)
    key: CacheKey

    @property
    def customers(self) -> pd.DataFrame:
        """id, name, email of the account's customers (read on first use, then cached)."""
        return customers_lookup(self.key)

    @property
    def monthly(self) -> pd.DataFrame:
        return self.result.monthly

    @cached_property
    def major(self) -> pd.DataFrame:
        """`monthly` with its amounts in major units (`metrics.to_major`), made once per bundle
        instead of on every run of a page: shared and read-only too."""
        from ..metrics import to_major

        return to_major(self.result.monthly)

    @property
    def as_of(self) -> datetime:
        return self.result.as_of


def metrics_bundle(key: CacheKey, filters_json: str, policy: str = "all",
                   reporting: str | None = None) -> MetricBundle:
    """Every metric for one set of filters (a `MetricFilters` as JSON), as of now (the engine
    is renewed each UTC day); with `reporting`, every currency converted into that one
    (docs/specs/fx.md). Shared and read-only: never modify its frames."""
    return _metrics_bundle(key, filters_json, policy, datetime.now(timezone.utc).date(), reporting)


@st.cache_resource(show_spinner="Computing the metrics for these filters…", max_entries=64)
def _metrics_bundle(key: CacheKey, filters_json: str, policy: str, day: date,
                    reporting: str | None = None) -> MetricBundle:
    from ..metrics import MetricFilters

    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy, day) as engine:
        # snapshots, movements and cohorts are built from memory on first use
        return MetricBundle(engine.compute(filters, reporting_currency=reporting), key)


@st.cache_data(show_spinner="Adding up the payments for these filters…", max_entries=64)
def cash(key: CacheKey, filters_json: str, period: str = "month", policy: str = "all",
         reporting: str | None = None) -> pd.DataFrame:
    """Cash metrics per currency and day / week / month under the filters
    (`MetricsEngine.cash`): every period of the date range, zeros included, with the rates;
    with `reporting`, converted into that currency (see `converted_cash`)."""
    if reporting is not None:
        return converted_cash(key, filters_json, period, policy, reporting)[0]
    from ..metrics import MetricFilters

    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy) as engine:
        return engine.cash(filters, period)


@st.cache_data(show_spinner="Computing MRR per product…", max_entries=64)
def converted_cash(key: CacheKey, filters_json: str, period: str, policy: str, reporting: str) -> tuple:
    """(cash, ReportingInfo): `MetricsEngine.converted_cash`, every currency in `reporting`."""
    from ..metrics import MetricFilters

    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy) as engine:
        return engine.converted_cash(filters, period, reporting)


# The engine's frames beyond the monthly table: trials, recovery and same-days comparisons.
DEPTH_VIEWS = ("depth", "same_days", "trials_by_plan", "recovery_days", "unconverted_failed_invoices")


@st.cache_data(show_spinner="Computing trials, payment recovery and comparisons…", max_entries=128)
def depth(key: CacheKey, filters_json: str, view: str = "depth", policy: str = "all",
          reporting: str | None = None) -> pd.DataFrame:
    """One of the engine's DEPTH_VIEWS under the filters (`MetricsEngine.depth`: trial
    conversion, failed-payment recovery, involuntary churn and same-days comparisons per month;
    `same_days` only the comparisons; `trials_by_plan`; `recovery_days`), converted into
    `reporting` when given."""
    from ..metrics import MetricFilters

    if view not in DEPTH_VIEWS:
        raise ValueError(f"unknown view {view!r}")
    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy) as engine:
        return getattr(engine, view)(filters, reporting_currency=reporting)


def filtered_metrics(key: CacheKey, filters, *, dates: bool = True, currency: bool = True) -> MetricBundle:
    """`metrics_bundle` under the sidebar's filters (a `filters.Filters`; `dates`/`currency`
    False: over every date / currency), converted in the all-currencies view: the one call the
    pages and the warm-up make, so they fill and read one cache entry."""
    return metrics_bundle(key, filters.metric_json(dates=dates, currency=currency),
                          reporting=filters.reporting_currency)


def filtered_depth(key: CacheKey, filters, view: str = "depth") -> pd.DataFrame:
    """`depth` under the sidebar's filters (a `filters.Filters`), converted in the all-currencies
    view: the one call the pages and the warm-up make, so they fill and read one cache entry."""
    return depth(key, filters.metric_json(), view, reporting=filters.reporting_currency)


@st.cache_data(show_spinner=False, max_entries=16)
def rates_date(key: CacheKey, reporting: str, policy: str = "all") -> date | None:
    """The last rate date a converted view of today uses (`MetricsEngine.rates_in_force`)."""
    with _engine_reading(key, policy) as engine:
        return engine.rates_in_force(reporting).last_rate_date


@st.cache_data(show_spinner=False, max_entries=64)
def mrr_by_product(key: CacheKey, filters_json: str, policy: str = "all",
                   reporting: str | None = None) -> dict[str, int]:
    """{product id: MRR at the as-of month} under the filters (their product filter and date
    range ignored): each product's MRR as the product filter alone would compute it, in one
    pass (`MetricsEngine.mrr_by_product`). Products without MRR are absent. Amounts are summed
    over the filter's currencies: give one currency, or a `reporting` currency to convert
    every currency into."""
    frame = _products_now(key, filters_json, policy, reporting)
    return {product: int(mrr) for product, mrr in frame.groupby("product")["mrr"].sum().items()}


@st.cache_data(show_spinner=False, max_entries=64)
def mrr_by_product_own(key: CacheKey, filters_json: str, policy: str = "all") -> pd.DataFrame:
    """product, currency, mrr: each product's MRR at the as-of month in each currency's own
    minor units (`MetricsEngine.mrr_by_product`)."""
    return _products_now(key, filters_json, policy, None)[["product", "currency", "mrr"]]


def _products_now(key: CacheKey, filters_json: str, policy: str, reporting: str | None) -> pd.DataFrame:
    from ..metrics import MetricFilters
    from ..metrics.filters import as_of_date

    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy) as engine:
        today = as_of_date(engine.as_of, engine.timezone)  # the as-of month only
        now = filters.model_copy(update={"products": None, "date_from": today, "date_to": today})
        if reporting is not None:
            return engine.converted_mrr_by_product(now, reporting)
        return engine.mrr_by_product(now)


@st.cache_data(show_spinner="Building the retention cohorts…", max_entries=64)
def cohorts(key: CacheKey, filters_json: str, policy: str = "all", reporting: str | None = None) -> pd.DataFrame:
    return metrics_bundle(key, filters_json, policy, reporting).result.cohorts


@st.cache_data(show_spinner="Finding the customers behind this movement…", max_entries=256)
def movers(key: CacheKey, filters_json: str, currency: str, month: str, movement: str,
           policy: str = "all", reporting: str | None = None) -> pd.DataFrame:
    """The customers behind one movement bar (`MetricsResult.customers_for`), with their name
    and email: customer, name, email, previous_mrr, mrr, amount (minor units); in a converted
    view (`reporting`), constant-currency amounts in that currency."""
    bundle = metrics_bundle(key, filters_json, policy, reporting)
    frame = bundle.result.customers_for(currency, month, movement)
    frame = frame.drop(columns=[c for c in ("name", "email") if c in frame.columns])
    names = bundle.customers.rename(columns={"id": "customer"})
    frame = frame.merge(names, on="customer", how="left")
    first = ["customer", "name", "email"]
    return frame[first + [c for c in frame.columns if c not in first]]


@st.cache_data(show_spinner="Breaking the figures down by segment…", max_entries=64)
def segment_breakdown(key: CacheKey, filters_json: str, by: str, policy: str = "all") -> tuple[pd.DataFrame, dict]:
    """(breakdown, names): MRR, movements and churn per segment value of `by` under the filters
    (`MetricsEngine.segment_breakdown`), and readable names of the values."""
    from ..metrics import MetricFilters

    filters = MetricFilters.model_validate_json(filters_json)
    with _engine_reading(key, policy) as engine:
        return engine.segment_breakdown(filters, by), engine.segment_names(by)


@st.cache_data(show_spinner=False, max_entries=16)
def exchange_rates(key: CacheKey) -> pd.DataFrame:
    """The rates in use for this cache (ECB plus the user's), per currency: currency,
    first_date, last_date, rates, user_rates, last_per_eur (`RateSet.summary`)."""
    from ..metrics import RateSet

    with cursor(key) as cur:
        return pd.DataFrame(RateSet.from_cache_connection(cur).summary())


@st.cache_data(show_spinner=False, max_entries=16)
def console_schema(key: CacheKey) -> pd.DataFrame:
    """Tables and columns for the SQL console's schema browser (read through the sandbox)."""
    from ..sql_console import SqlConsole

    return SqlConsole(key.path).schema()


def clear_all() -> None:
    """Forget every cached read (after the demo is rebuilt, for instance)."""
    with _SEEN_LOCK:
        _SEEN.clear()
    st.cache_data.clear()
    st.cache_resource.clear()


def file_size(path: str | Path) -> int:
    path = Path(path)
    total = 0
    for candidate in (path, Path(str(path) + ".wal")):
        with contextlib.suppress(OSError):
            total += os.path.getsize(candidate)
    return total
