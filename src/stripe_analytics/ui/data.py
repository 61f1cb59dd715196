"""Every read the app makes, behind Streamlit caches keyed by the cache file and its data
version, so a rerun does no repeated work and a sync (which bumps the data version)
invalidates what it changed.

DuckDB rules this layer follows:
- the app only ever opens a cache read-only, with a connection that lives for one function
  call, so the sync child process can take the file for writing between reads;
- while a sync holds the file, `cache_key` returns the last version seen and every cached
  result keeps being served; only a view never computed before says "being updated";
- the metrics engine keeps its expensive base (MRR components) in memory between filter
  changes, and is handed a fresh short-lived connection for each computation.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import streamlit as st

from .. import queries
from ..cache import Cache, CacheError



class CacheBusy(CacheError):
    """A sync is writing the cache and this view was never computed before."""


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
        cache = Cache.open(path, read_only=True)
    except CacheError as error:
        if "in use" in str(error) and seen is not None:
            return seen.key, True
        raise
    try:
        version = cache.data_version
    finally:
        cache.close()
    key = CacheKey(name, version, signature[0])
    with _SEEN_LOCK:
        _SEEN[name] = _Seen(_signature(path), key)
    return key, False


@contextlib.contextmanager
def open_cache(key: CacheKey) -> Iterator[Cache]:
    """A short-lived read-only Cache on the file; CacheBusy while a sync writes it."""
    try:
        cache = Cache.open(key.path, read_only=True)
    except CacheError as error:
        if "in use" in str(error):
            raise CacheBusy("The cache is being updated by a sync; this view appears when it finishes "
                            "(the other pages keep their last results).") from None
        raise
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
    return _read(key, queries.filter_options)


@st.cache_data(show_spinner=False, max_entries=16)
def account_info(key: CacheKey) -> dict:
    with cursor(key) as cur:
        return {
            "profile": queries.account_profile(cur),
            "account_id": queries.meta(cur, "account_id"),
            "demo": queries.meta(cur, "demo"),
            "last_synced_at": queries.last_synced_at(cur),
            "counts": queries.row_counts(cur),
        }


@st.cache_data(show_spinner=False, max_entries=256)
def browse(key: CacheKey, name: str, *args, **kwargs) -> Any:
    """Any function of `queries` by name, cached by cache state and arguments."""
    fn = getattr(queries, name)
    return _read(key, fn, *args, **kwargs)


@st.cache_data(show_spinner=False, max_entries=16)
def customers_lookup(key: CacheKey) -> pd.DataFrame:
    return _read(key, lambda cur: cur.execute("SELECT id, name, email FROM customers WHERE NOT deleted").df())


@st.cache_data(show_spinner=False, max_entries=16)
def data_status(key: CacheKey) -> dict:
    """What the Data page shows: per resource rows, last sync, next sync kind, skipped
    reasons; sync runs; last errors."""
    from ..sync import next_sync_plan, status

    with open_cache(key) as cache:
        rows = status(cache)
        kind, reason = next_sync_plan(cache)
        cur = cache.con.cursor()
        try:
            runs = queries.sync_runs(cur)
            errors = queries.sync_errors(cur)
            audit = queries.audit_log(cur)
            event_cursor = queries.meta(cur, "event_cursor")
        finally:
            cur.close()
    return {"resources": pd.DataFrame(rows), "next_kind": kind, "next_reason": reason, "runs": runs,
            "errors": errors, "audit": audit, "event_cursor": event_cursor}


# ----------------------------------------------------------------------------- metrics

@dataclass
class _EngineSlot:
    engine: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine(key: CacheKey, day: date, policy: str) -> _EngineSlot:
    """One metrics engine per cache state, day and discount policy. Its connection is closed
    right after each computation; the MRR components it computed stay in memory."""
    from ..metrics import MetricsEngine, Sources

    with open_cache(key) as cache:
        src = Sources.from_cache(cache)
        try:
            engine = MetricsEngine(src, discount_policy=policy)
            engine.compute()  # the expensive base, computed once
        finally:
            src.close()
    return _EngineSlot(engine)


@dataclass
class MetricBundle:
    """What pages read from one metrics computation (amounts in minor units)."""

    result: Any  # metrics.MetricsResult (frames: monthly, cash, snapshots, movements, cohorts)
    customers: pd.DataFrame

    @property
    def monthly(self) -> pd.DataFrame:
        return self.result.monthly

    @property
    def as_of(self) -> datetime:
        return self.result.as_of


def metrics_bundle(key: CacheKey, filters_json: str, policy: str = "all") -> MetricBundle:
    """Every metric for one set of filters (a `MetricFilters` as JSON), as of now (the engine
    is renewed each UTC day). Shared and read-only: never modify its frames."""
    return _metrics_bundle(key, filters_json, policy, datetime.now(timezone.utc).date())


@st.cache_resource(show_spinner=False, max_entries=64)
def _metrics_bundle(key: CacheKey, filters_json: str, policy: str, day: date) -> MetricBundle:
    from ..metrics import MetricFilters, Sources

    filters = MetricFilters.model_validate_json(filters_json)
    slot = _engine(key, day, policy)
    with slot.lock, open_cache(key) as cache:
        src = Sources.from_cache(cache, slot.engine.timezone)
        slot.engine.src = src
        try:
            result = slot.engine.compute(filters)
            result.snapshots, result.movements  # materialise while connected
            customers = src.con.execute("SELECT id, name, email FROM customers WHERE NOT deleted").df()
        finally:
            src.close()
    return MetricBundle(result, customers)


@st.cache_data(show_spinner=False, max_entries=64)
def mrr_by_product(key: CacheKey, filters_json: str, products: tuple[str, ...], policy: str = "all") -> dict[str, int]:
    """{product id: MRR at the as-of snapshot} under the filters: for each product, the
    metrics engine's MRR with the product filter set to that product alone (one connection
    for all of them)."""
    from ..metrics import MetricFilters, Sources

    filters = MetricFilters.model_validate_json(filters_json)
    slot = _engine(key, datetime.now(timezone.utc).date(), policy)
    out: dict[str, int] = {}
    with slot.lock, open_cache(key) as cache:
        src = Sources.from_cache(cache, slot.engine.timezone)
        slot.engine.src = src
        try:
            for product in products:
                one = filters.model_copy(update={"products": (product,), "date_from": None, "date_to": None})
                monthly = slot.engine.compute(one).monthly
                out[product] = int(monthly["mrr"].iloc[-1]) if not monthly.empty else 0
        finally:
            src.close()
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def cohorts(key: CacheKey, filters_json: str, policy: str = "all") -> pd.DataFrame:
    return metrics_bundle(key, filters_json, policy).result.cohorts


@st.cache_data(show_spinner=False, max_entries=256)
def movers(key: CacheKey, filters_json: str, currency: str, month: str, movement: str,
           policy: str = "all") -> pd.DataFrame:
    """The customers behind one movement bar (`MetricsResult.customers_for`), with their name
    and email: customer, name, email, previous_mrr, mrr, amount (minor units)."""
    bundle = metrics_bundle(key, filters_json, policy)
    frame = bundle.result.customers_for(currency, month, movement)
    frame = frame.drop(columns=[c for c in ("name", "email") if c in frame.columns])
    names = bundle.customers.rename(columns={"id": "customer"})
    frame = frame.merge(names, on="customer", how="left")
    first = ["customer", "name", "email"]
    return frame[first + [c for c in frame.columns if c not in first]]


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
